//! The outbox relay: delivers an outbox's messages, oldest first and in order per group, to
//! its sinks. A message is claimed with a conditional lease before it is sent and deleted
//! only after every sink took it, so several replicas relay without sending a message twice,
//! and a sink that is down delays messages without losing any.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use serde_json::Value;

use super::message::{self, OutboxMessage};
use super::metrics::OutboxMetrics;
use crate::codec::from_item;
use crate::store::{Condition, Index, Item, Query, StoreError, Table, Update};

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

/// How long a relay owns a message it claimed.
const LEASE: Duration = Duration::from_secs(30);

/// Moves one outbox's messages to its sinks.
pub struct Relay {
    table: Arc<dyn Table>,
    pending: &'static str,
    sinks: Vec<Arc<dyn OutboxSink>>,
    id: String,
    metrics: OutboxMetrics,
}

impl Relay {
    /// A relay from the outbox listed in the `pending` partition of `table` to `sinks`.
    pub fn new(
        table: Arc<dyn Table>,
        pending: &'static str,
        sinks: Vec<Arc<dyn OutboxSink>>,
        metrics: OutboxMetrics,
    ) -> Self {
        Self {
            table,
            pending,
            sinks,
            id: uuid::Uuid::new_v4().simple().to_string(),
            metrics,
        }
    }

    /// One pass over up to `limit` waiting messages; returns how many it delivered.
    pub async fn pass(&self, limit: usize) -> Result<usize, StoreError> {
        let items = self
            .table
            .query(&Query::partition(Index::Gsi1, self.pending, limit))
            .await?
            .items;
        self.observe(&items);
        let mut delivered = 0;
        // A group whose earlier message is not through yet waits: in order per group.
        let mut held: BTreeSet<String> = BTreeSet::new();
        for item in items {
            let message: OutboxMessage = from_item(&item)?;
            if held.contains(&message.group) {
                continue;
            }
            if !self.claim(&message).await? {
                held.insert(message.group.clone());
                continue;
            }
            match self.deliver(&message).await {
                Ok(()) => {
                    self.table
                        .delete(
                            &message::key(&message.id),
                            Some(Condition::equals("lease_owner", self.id.clone())),
                        )
                        .await
                        .or_else(|e| match e {
                            // Our lease ran out and another relay took over; it deletes it.
                            StoreError::ConditionFailed => Ok(()),
                            e => Err(e),
                        })?;
                    self.metrics.delivered.inc();
                    delivered += 1;
                }
                Err(e) => {
                    tracing::warn!(error = %e, message = %message.id, "outbox message not delivered; retried later");
                    held.insert(message.group.clone());
                    self.release(&message).await?;
                }
            }
        }
        Ok(delivered)
    }

    /// Passes until nothing is left to deliver (or a pass delivers nothing more: a sink is
    /// down, or other relays hold the rest); returns how many it delivered.
    pub async fn drain(&self) -> Result<usize, StoreError> {
        let mut delivered = 0;
        loop {
            match self.pass(100).await? {
                0 => return Ok(delivered),
                n => delivered += n,
            }
        }
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
                &message::key(&message.id),
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
                &message::key(&message.id),
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
            .depth
            .set(i64::try_from(waiting.len()).unwrap_or(i64::MAX));
        let oldest = waiting
            .first()
            .and_then(|i| i.get("created_at"))
            .and_then(Value::as_str)
            .and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok())
            .map_or(0, |at| {
                (Utc::now() - at.with_timezone(&Utc)).num_seconds().max(0)
            });
        self.metrics.oldest_seconds.set(oldest);
    }
}
