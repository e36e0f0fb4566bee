//! The per-request DataLoader over the store: every key asked for in one tick of a request
//! becomes one batch get, and every key is read at most once per request.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};

use crate::store::{Item, Key, StoreError, Table};

/// Loads items by key through `Table::batch_get`.
pub struct ItemLoader {
    table: Arc<dyn Table>,
}

/// The DataLoader type resolvers find in the request context.
pub type StoreLoader = DataLoader<ItemLoader, HashMapCache>;

impl ItemLoader {
    /// A fresh DataLoader for one request.
    pub fn for_request(table: Arc<dyn Table>) -> StoreLoader {
        DataLoader::with_cache(Self { table }, tokio::spawn, HashMapCache::default())
    }
}

impl Loader<Key> for ItemLoader {
    type Value = Item;
    type Error = Arc<StoreError>;

    async fn load(&self, keys: &[Key]) -> Result<HashMap<Key, Item>, Self::Error> {
        let items = self.table.batch_get(keys).await.map_err(Arc::new)?;
        Ok(items
            .into_iter()
            .filter_map(|item| Some((Key::of(&item)?, item)))
            .collect())
    }
}
