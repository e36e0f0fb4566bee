//! The transactional outbox: messages for the order-management system, written in the same
//! transaction as the change they announce, and listed oldest first for the relay.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::codec::to_item;
use crate::store::{Item, Key, StoreError};

/// A message waiting to be delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxMessage {
    /// Unique id (SQS FIFO's deduplication id).
    pub id: String,
    /// The order it is about (SQS FIFO's message group: in order per order).
    pub order_id: String,
    /// `OrderPlaced` or `OrderStatusChanged`.
    pub kind: String,
    /// The message body.
    pub body: Value,
    /// When it was written.
    pub created_at: DateTime<Utc>,
}

/// GSI1 partition listing undelivered messages, oldest first.
pub const PENDING: &str = "OUTBOX";

/// The key of a message.
pub fn key(id: &str) -> Key {
    Key::new(format!("OUTBOX#{id}"), "MESSAGE")
}

impl OutboxMessage {
    /// A new message about `order_id`.
    pub fn new(order_id: &str, kind: &str, body: Value) -> Self {
        Self {
            id: uuid::Uuid::new_v4().simple().to_string(),
            order_id: order_id.to_owned(),
            kind: kind.to_owned(),
            body,
            created_at: Utc::now(),
        }
    }

    /// The message as an item, listed for the relay.
    pub fn item(&self) -> Result<Item, StoreError> {
        to_item(
            &key(&self.id),
            self,
            &[
                ("gsi1pk", PENDING.into()),
                (
                    "gsi1sk",
                    format!("{}#{}", self.created_at.to_rfc3339(), self.id).into(),
                ),
            ],
        )
    }
}
