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
}

impl std::fmt::Debug for StoredItem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.item.fmt(f)
    }
}

impl StoredItem {
    /// An item not decoded yet.
    pub fn new(item: Item) -> Self {
        Self {
            item,
            decoded: OnceLock::new(),
        }
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
}
