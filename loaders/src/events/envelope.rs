//! The event envelope every published event carries: an id (consumers deduplicate by it), a
//! schema version, its source and subject, and data that never holds a secret.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::outbox::OutboxMessage;
use crate::store::{StoreError, Table, WriteOp};

/// The version of the envelope and of the data of every event type; a consumer that sees a
/// higher one than it knows should leave the event alone.
pub const SCHEMA_VERSION: u32 = 1;

/// GSI1 partition listing events waiting for the events relay.
pub const PENDING: &str = "EVENTS";

/// The event types the gateway publishes.
pub mod kinds {
    /// A customer's account was made (the gateway saw the customer for the first time).
    pub const CUSTOMER_SIGNED_UP: &str = "CustomerSignedUp";
    /// A customer changed their marketing consent.
    pub const CUSTOMER_CONSENT_CHANGED: &str = "CustomerConsentChanged";
    /// A cart with lines went untouched for the configured time.
    pub const CART_ABANDONED: &str = "CartAbandoned";
    /// An order was placed.
    pub const ORDER_PLACED: &str = "OrderPlaced";
    /// An order moved to another status.
    pub const ORDER_STATUS_CHANGED: &str = "OrderStatusChanged";
}

/// Where an event comes from (EventBridge's `source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Accounts and consent.
    Customers,
    /// Carts.
    Carts,
    /// Orders.
    Orders,
}

impl Source {
    /// The source's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Customers => "storefront.customers",
            Self::Carts => "storefront.carts",
            Self::Orders => "storefront.orders",
        }
    }
}

/// An event, as published.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// Unique; a consumer that sees an id twice has seen the event before.
    pub id: String,
    /// Its type (see [`kinds`]).
    #[serde(rename = "type")]
    pub kind: String,
    /// The schema version of the envelope and the data.
    pub version: u32,
    /// Where it comes from (`storefront.customers`, …).
    pub source: String,
    /// What it is about: a customer's id, an order's id, a cart's reference.
    pub subject: String,
    /// When it happened.
    pub time: DateTime<Utc>,
    /// The type's own data, without secrets.
    pub data: Value,
}

// Attribute names that carry a credential somewhere in the gateway: a guest's cart id is the
// key to the cart, a token or password is one. Events go to other systems; these never do.
const SECRET_NAMES: [&str; 5] = ["token", "password", "secret", "cartid", "sessionid"];

/// `data` without any attribute whose name says it holds a credential (at any depth).
pub fn without_secrets(data: Value) -> Value {
    match data {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(name, _)| {
                    let name = name.to_ascii_lowercase().replace(['_', '-'], "");
                    !SECRET_NAMES.iter().any(|secret| name.contains(secret))
                })
                .map(|(name, value)| (name, without_secrets(value)))
                .collect(),
        ),
        Value::Array(values) => Value::Array(values.into_iter().map(without_secrets).collect()),
        other => other,
    }
}

impl Event {
    /// A new event of `kind` about `subject`.
    pub fn new(source: Source, kind: &str, subject: &str, data: Value) -> Self {
        Self {
            id: uuid::Uuid::new_v4().simple().to_string(),
            kind: kind.to_owned(),
            version: SCHEMA_VERSION,
            source: source.as_str().to_owned(),
            subject: subject.to_owned(),
            time: Utc::now(),
            data: without_secrets(data),
        }
    }

    /// The event as a message of the events outbox (in order per subject).
    pub fn message(&self) -> Result<OutboxMessage, StoreError> {
        let body = serde_json::to_value(self).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(OutboxMessage::with_id(
            self.id.clone(),
            &self.subject,
            &self.kind,
            body,
        ))
    }

    /// The write that publishes the event, for the transaction of the change it announces.
    pub fn write(&self) -> Result<WriteOp, StoreError> {
        Ok(WriteOp::Put {
            item: self.message()?.item(PENDING)?,
            condition: None,
        })
    }

    /// Publishes the event on its own (when the change it announces was not a write of ours).
    pub async fn publish(&self, table: &dyn Table) -> Result<(), StoreError> {
        table.put(self.message()?.item(PENDING)?, None).await
    }

    /// The event an outbox message carries.
    pub fn of(message: &OutboxMessage) -> Result<Self, StoreError> {
        serde_json::from_value(message.body.clone()).map_err(|e| StoreError::Corrupt(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_never_carry_credentials_at_any_depth() {
        let event = Event::new(
            Source::Carts,
            kinds::CART_ABANDONED,
            "ref",
            json!({"cartId": "gid://secret", "lines": [{"sku": "A", "accessToken": "x"}],
                   "buyer": {"email": "a@b.c", "session_id": "s", "Password": "p"}, "total": "9.99"}),
        );
        assert_eq!(
            event.data,
            json!({"lines": [{"sku": "A"}], "buyer": {"email": "a@b.c"}, "total": "9.99"})
        );
        assert_eq!(event.version, SCHEMA_VERSION);
        assert_eq!(event.source, "storefront.carts");
        let body = serde_json::to_value(&event).expect("json");
        assert_eq!(body["type"], "CartAbandoned");
        assert_eq!(
            Event::of(&event.message().expect("message")).expect("back"),
            event
        );
    }
}
