//! Items that expire: the TTL attribute a write sets, and the check a read makes (DynamoDB
//! deletes expired items only eventually, and the embedded store on its sweep, so a read
//! must not trust an item whose time has passed).

use std::time::Duration;

use chrono::Utc;
use serde_json::Value;

use super::{Item, TTL_ATTRIBUTE};

/// The TTL attribute's value (epoch seconds) for an item that lives `ttl` from now.
pub fn expiry_after(ttl: Duration) -> Value {
    (Utc::now().timestamp() + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 4)).into()
}

/// Whether the item's time is up (an item without a TTL never expires).
pub fn has_expired(item: &Item) -> bool {
    item.get(TTL_ATTRIBUTE)
        .and_then(Value::as_i64)
        .is_some_and(|at| at <= Utc::now().timestamp())
}
