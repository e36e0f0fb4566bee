//! The outbox relay: delivers outbox messages, oldest first and in order per order, to SQS
//! FIFO (`MessageGroupId` = the order, `MessageDeduplicationId` = the message) or to the
//! embedded durable queue, and to EventBridge when configured. A message is claimed with a
//! conditional lease before it is sent and deleted only after every sink took it, so several
//! replicas relay without sending a message twice, and a sink that is down delays messages
//! without losing any.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::metrics::CheckoutMetrics;
use super::outbox::{self, OutboxMessage};
use crate::codec::{from_item, to_item};
use crate::store::{Condition, Index, Item, Key, Query, StoreError, Table, Update};

/// Why a sink did not take a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SinkError(pub String);

/// Somewhere outbox messages go.
#[async_trait]
pub trait OutboxSink: Send + Sync {
    /// Its name, for logs.
    fn name(&self) -> &'static str;
    /// Delivers one message; delivering the same message again must be harmless.
    async fn deliver(&self, message: &OutboxMessage) -> Result<(), SinkError>;
}

/// SQS FIFO: in order per order, deduplicated by message id.
pub struct SqsFifo {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsFifo {
    /// A sink to the FIFO queue at `queue_url`.
    pub fn new(client: aws_sdk_sqs::Client, queue_url: String) -> Self {
        Self { client, queue_url }
    }
}

#[async_trait]
impl OutboxSink for SqsFifo {
    fn name(&self) -> &'static str {
        "sqs"
    }

    async fn deliver(&self, message: &OutboxMessage) -> Result<(), SinkError> {
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_group_id(&message.order_id)
            .message_deduplication_id(&message.id)
            .message_body(message.body.to_string())
            .send()
            .await
            .map(drop)
            .map_err(|e| {
                SinkError(aws_smithy_types::error::display::DisplayErrorContext(e).to_string())
            })
    }
}

/// EventBridge: each message as an event of source `storefront.orders`.
pub struct EventBus {
    client: aws_sdk_eventbridge::Client,
    bus: String,
}

impl EventBus {
    /// A sink to the event bus named `bus`.
    pub fn new(client: aws_sdk_eventbridge::Client, bus: String) -> Self {
        Self { client, bus }
    }
}

#[async_trait]
impl OutboxSink for EventBus {
    fn name(&self) -> &'static str {
        "eventbridge"
    }

    async fn deliver(&self, message: &OutboxMessage) -> Result<(), SinkError> {
        let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source("storefront.orders")
            .detail_type(&message.kind)
            .detail(message.body.to_string())
            .build();
        let answer = self
            .client
            .put_events()
            .entries(entry)
            .send()
            .await
            .map_err(|e| {
                SinkError(aws_smithy_types::error::display::DisplayErrorContext(e).to_string())
            })?;
        if answer.failed_entry_count() > 0 {
            return Err(SinkError("EventBridge refused the event".into()));
        }
        Ok(())
    }
}

/// A message in the embedded durable queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedMessage {
    /// Its place in the queue (acknowledge with it).
    pub position: String,
    /// The outbox message's id.
    pub id: String,
    /// The order it is about.
    pub order_id: String,
    /// `OrderPlaced` or `OrderStatusChanged`.
    pub kind: String,
    /// The body.
    pub body: Value,
}

/// The embedded durable queue (in the table), for deployments without SQS: the relay puts
/// messages in, deduplicated by id; a consumer reads them in order and acknowledges them.
#[derive(Clone)]
pub struct LocalQueue {
    table: Arc<dyn Table>,
}

const QUEUE: &str = "QUEUE#orders";

impl LocalQueue {
    /// The queue in `table`.
    pub fn new(table: Arc<dyn Table>) -> Self {
        Self { table }
    }

    /// Up to `limit` messages, oldest first.
    pub async fn receive(&self, limit: usize) -> Result<Vec<QueuedMessage>, StoreError> {
        let items = self
            .table
            .query(&Query::partition(Index::Primary, QUEUE, limit))
            .await?
            .items;
        items.iter().map(from_item).collect()
    }

    /// Removes a message the consumer handled.
    pub async fn ack(&self, message: &QueuedMessage) -> Result<(), StoreError> {
        self.table
            .delete(&Key::new(QUEUE, message.position.clone()), None)
            .await
    }
}

#[async_trait]
impl OutboxSink for LocalQueue {
    fn name(&self) -> &'static str {
        "local"
    }

    async fn deliver(&self, message: &OutboxMessage) -> Result<(), SinkError> {
        let position = format!("{}#{}", message.created_at.to_rfc3339(), message.id);
        let queued = QueuedMessage {
            position: position.clone(),
            id: message.id.clone(),
            order_id: message.order_id.clone(),
            kind: message.kind.clone(),
            body: message.body.clone(),
        };
        let key = Key::new(QUEUE, position);
        let item = to_item(&key, &queued, &[]).map_err(|e| SinkError(e.to_string()))?;
        match self.table.put(item, Some(Condition::ItemNotExists)).await {
            // Delivered before (a relay that stopped between delivering and deleting).
            Ok(()) | Err(StoreError::ConditionFailed) => Ok(()),
            Err(e) => Err(SinkError(e.to_string())),
        }
    }
}

/// Sinks plugged in place of the configured ones (tests with their own clients).
#[derive(Clone)]
pub struct OutboxSinks(pub Vec<Arc<dyn OutboxSink>>);

/// How long a relay owns a message it claimed.
const LEASE: Duration = Duration::from_secs(30);

/// Moves outbox messages to the sinks.
pub struct Relay {
    table: Arc<dyn Table>,
    sinks: Vec<Arc<dyn OutboxSink>>,
    id: String,
    metrics: CheckoutMetrics,
}

impl Relay {
    /// A relay from the outbox in `table` to `sinks`.
    pub fn new(
        table: Arc<dyn Table>,
        sinks: Vec<Arc<dyn OutboxSink>>,
        metrics: CheckoutMetrics,
    ) -> Self {
        Self {
            table,
            sinks,
            id: uuid::Uuid::new_v4().simple().to_string(),
            metrics,
        }
    }

    /// One pass over up to `limit` waiting messages; returns how many it delivered.
    pub async fn pass(&self, limit: usize) -> Result<usize, StoreError> {
        let items = self
            .table
            .query(&Query::partition(Index::Gsi1, outbox::PENDING, limit))
            .await?
            .items;
        self.observe(&items);
        let mut delivered = 0;
        // An order whose earlier message is not through yet waits: in order per order.
        let mut held: BTreeSet<String> = BTreeSet::new();
        for item in items {
            let message: OutboxMessage = from_item(&item)?;
            if held.contains(&message.order_id) {
                continue;
            }
            if !self.claim(&message).await? {
                held.insert(message.order_id.clone());
                continue;
            }
            match self.deliver(&message).await {
                Ok(()) => {
                    self.table
                        .delete(
                            &outbox::key(&message.id),
                            Some(Condition::equals("lease_owner", self.id.clone())),
                        )
                        .await
                        .or_else(|e| match e {
                            // Our lease ran out and another relay took over; it deletes it.
                            StoreError::ConditionFailed => Ok(()),
                            e => Err(e),
                        })?;
                    self.metrics.outbox_delivered.inc();
                    delivered += 1;
                }
                Err(e) => {
                    tracing::warn!(error = %e, message = %message.id, "outbox message not delivered; retried later");
                    held.insert(message.order_id.clone());
                    self.release(&message).await?;
                }
            }
        }
        Ok(delivered)
    }

    /// Takes the message for `LEASE`, unless another relay holds it.
    async fn claim(&self, message: &OutboxMessage) -> Result<bool, StoreError> {
        let now = Utc::now().timestamp_millis();
        let until = now + i64::try_from(LEASE.as_millis()).unwrap_or(30_000);
        let free = Condition::And(vec![
            Condition::ItemExists,
            Condition::Not(Box::new(Condition::AtLeast("lease_until".into(), now))),
        ]);
        match self
            .table
            .update(
                &outbox::key(&message.id),
                &Update::set("lease_until", until).and_set("lease_owner", self.id.clone()),
                Some(free),
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(StoreError::ConditionFailed) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Gives up a claim, so that the next pass (of any relay) tries the message again.
    async fn release(&self, message: &OutboxMessage) -> Result<(), StoreError> {
        match self
            .table
            .update(
                &outbox::key(&message.id),
                &Update::set("lease_until", 0),
                Some(Condition::equals("lease_owner", self.id.clone())),
            )
            .await
        {
            Ok(_) | Err(StoreError::ConditionFailed) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn deliver(&self, message: &OutboxMessage) -> Result<(), SinkError> {
        for sink in &self.sinks {
            sink.deliver(message)
                .await
                .map_err(|e| SinkError(format!("{}: {e}", sink.name())))?;
        }
        Ok(())
    }

    fn observe(&self, waiting: &[Item]) {
        self.metrics
            .outbox_depth
            .set(i64::try_from(waiting.len()).unwrap_or(i64::MAX));
        let oldest = waiting
            .first()
            .and_then(|i| i.get("created_at"))
            .and_then(Value::as_str)
            .and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok())
            .map_or(0, |at| {
                (Utc::now() - at.with_timezone(&Utc)).num_seconds().max(0)
            });
        self.metrics.outbox_oldest_seconds.set(oldest);
    }
}
