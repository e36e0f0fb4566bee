//! An outbox message: written in the same transaction as the change it announces, listed
//! oldest first in its outbox's pending partition for the relay.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::codec::to_item;
use crate::store::{Item, Key, StoreError};

/// A message waiting to be delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxMessage {
    /// Unique id (SQS FIFO's deduplication id, an event's id).
    pub id: String,
    /// What it is about (an order, a customer): messages of one group are delivered in order
    /// (SQS FIFO's message group).
    #[serde(alias = "order_id")]
    pub group: String,
    /// `OrderPlaced`, `OrderStatusChanged`, `CustomerSignedUp`, …
    pub kind: String,
    /// The message body.
    pub body: Value,
    /// When it was written.
    pub created_at: DateTime<Utc>,
}

/// The key of a message (in any outbox: ids are unique).
pub fn key(id: &str) -> Key {
    Key::new(format!("OUTBOX#{id}"), "MESSAGE")
}

impl OutboxMessage {
    /// A new message about `group`.
    pub fn new(group: &str, kind: &str, body: Value) -> Self {
        Self::with_id(uuid::Uuid::new_v4().simple().to_string(), group, kind, body)
    }

    /// A new message with an id of the caller's (an event's, so that both agree).
    pub fn with_id(id: String, group: &str, kind: &str, body: Value) -> Self {
        Self {
            id,
            group: group.to_owned(),
            kind: kind.to_owned(),
            body,
            created_at: Utc::now(),
        }
    }

    /// The message as an item, listed in the outbox whose pending partition is `pending`.
    pub fn item(&self, pending: &str) -> Result<Item, StoreError> {
        to_item(
            &key(&self.id),
            self,
            &[
                ("gsi1pk", pending.into()),
                (
                    "gsi1sk",
                    format!("{}#{}", self.created_at.to_rfc3339(), self.id).into(),
                ),
            ],
        )
    }
}
