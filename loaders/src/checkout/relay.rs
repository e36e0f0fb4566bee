//! Where the checkout's outbox goes: the order-management system's SQS FIFO queue
//! (`MessageGroupId` = the order, `MessageDeduplicationId` = the message), or the embedded
//! durable queue that a local consumer reads. The relay itself is [`crate::outbox::Relay`].

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::codec::{from_item, to_item};
use crate::store::{Condition, Index, Key, Query, StoreError, Table};

pub use crate::outbox::{OutboxMessage, OutboxSink, Relay, SinkError};

/// GSI1 partition listing the checkout's undelivered messages, oldest first.
pub const PENDING: &str = "OUTBOX";

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
            .message_group_id(&message.group)
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
            order_id: message.group.clone(),
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
