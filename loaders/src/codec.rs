//! The generic item codec: a record (any serde type) as an item of the single table, and back.

use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;

use crate::store::{Item, Key, StoreError};

/// Encodes a record as a table item under `key`, with extra (index) attributes.
pub fn to_item<T: Serialize>(
    key: &Key,
    record: &T,
    extra: &[(&str, Value)],
) -> Result<Item, StoreError> {
    let mut item = match serde_json::to_value(record) {
        Ok(Value::Object(map)) => map,
        Ok(_) => {
            return Err(StoreError::Corrupt(
                "a record must encode as an object".into(),
            ));
        }
        Err(e) => return Err(StoreError::Corrupt(e.to_string())),
    };
    item.extend(key.to_item());
    for (name, value) in extra {
        item.insert((*name).to_owned(), value.clone());
    }
    Ok(item)
}

/// Decodes a record from a table item (key and index attributes are ignored).
pub fn from_item<T: DeserializeOwned>(item: &Item) -> Result<T, StoreError> {
    T::deserialize(item).map_err(|e| {
        StoreError::Corrupt(format!(
            "item {}/{}: {e}",
            item.get("pk").and_then(Value::as_str).unwrap_or("?"),
            item.get("sk").and_then(Value::as_str).unwrap_or("?")
        ))
    })
}
