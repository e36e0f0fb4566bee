//! Items as the store hands them out: shared, with the record decoded from them on first use
//! and kept for as long as the item is (a cached item is decoded once, not once per request).

use std::any::Any;
use std::sync::{Arc, OnceLock};

use serde::de::DeserializeOwned;

use crate::store::{Item, StoreError};

/// A read item and its decoded record.
pub struct StoredItem {
    item: Item,
    decoded: OnceLock<Arc<dyn Any + Send + Sync>>,
    weight: u32,
}

impl std::fmt::Debug for StoredItem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.item.fmt(f)
    }
}

impl StoredItem {
    /// An item not decoded yet.
    pub fn new(item: Item) -> Self {
        // Twice the attributes: the record decoded from them holds about as much again.
        let weight = u32::try_from(2 * (ITEM_OVERHEAD + map_bytes(&item))).unwrap_or(u32::MAX);
        Self {
            item,
            decoded: OnceLock::new(),
            weight,
        }
    }

    /// About how many bytes of memory the item and its decoded record take, for caches
    /// bounded in bytes.
    pub fn weight(&self) -> u32 {
        self.weight
    }

    /// The item's attributes.
    pub fn item(&self) -> &Item {
        &self.item
    }

    /// The item's attributes, owned.
    pub fn into_item(self) -> Item {
        self.item
    }

    /// The record the item holds, decoded once per item: later calls for the same type share
    /// the first decoding.
    pub fn record<T: DeserializeOwned + Send + Sync + 'static>(
        &self,
    ) -> Result<Arc<T>, StoreError> {
        if let Some(decoded) = self.decoded.get()
            && let Ok(record) = Arc::clone(decoded).downcast::<T>()
        {
            return Ok(record);
        }
        let record = Arc::new(crate::codec::from_item::<T>(&self.item)?);
        // A key always holds one kind of record; should two types ever be asked of one item,
        // the first stays and the other is decoded each time.
        let _ = self
            .decoded
            .set(Arc::clone(&record) as Arc<dyn Any + Send + Sync>);
        Ok(record)
    }
}

/// Bytes of an item beyond its attributes (the `Arc`, the map, the cache's own entry).
const ITEM_OVERHEAD: usize = 160;

fn map_bytes(map: &serde_json::Map<String, serde_json::Value>) -> usize {
    map.iter()
        .map(|(name, value)| 48 + name.len() + value_bytes(value))
        .sum()
}

/// About how much memory a JSON value takes: its heap data and its own slot.
fn value_bytes(value: &serde_json::Value) -> usize {
    use serde_json::Value;
    32 + match value {
        Value::Null | Value::Bool(_) | Value::Number(_) => 0,
        Value::String(s) => s.len(),
        Value::Array(values) => values.iter().map(value_bytes).sum(),
        Value::Object(map) => map_bytes(map),
    }
}

/// A shared stored item.
pub type SharedItem = Arc<StoredItem>;

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct Thing {
        n: i64,
    }

    #[test]
    fn a_record_is_decoded_once_and_shared() {
        let item = serde_json::json!({"pk": "a", "sk": "b", "n": 7})
            .as_object()
            .expect("object")
            .clone();
        let stored = StoredItem::new(item);
        let first = stored.record::<Thing>().expect("decodes");
        let second = stored.record::<Thing>().expect("decodes");
        assert_eq!(first.n, 7);
        assert!(Arc::ptr_eq(&first, &second));
    }

    #[test]
    fn an_item_weighs_more_the_more_it_holds() {
        let small = StoredItem::new(
            serde_json::json!({"pk": "a", "sk": "b"})
                .as_object()
                .expect("object")
                .clone(),
        );
        let text = "x".repeat(10_000);
        let big = StoredItem::new(
            serde_json::json!({"pk": "a", "sk": "b", "description": text, "tags": ["a", "b"]})
                .as_object()
                .expect("object")
                .clone(),
        );
        assert!(
            small.weight() >= 160 && small.weight() < 1_000,
            "{}",
            small.weight()
        );
        assert!(big.weight() > 20_000, "{}", big.weight());
    }
}
