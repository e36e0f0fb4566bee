//! Catalog reads that are not plain key lookups: handles, listings, the category list.

use std::sync::Arc;

use serde_json::Value;

use super::listing::{ListingFilter, ProductSort, Scope};
use super::records::{CategoryRecord, keys};
use crate::codec::from_item;
use crate::store::{Index, Item, Query, StartKey, StoreError, Table, start_key_of};

/// One product of a listing page, with the position to continue from after it.
#[derive(Debug, Clone, PartialEq)]
pub struct ListingEntry {
    /// The product.
    pub product_id: String,
    /// Where a page continuing after this product starts.
    pub position: StartKey,
}

/// A page of entries in index order, and whether more follow in that direction.
#[derive(Debug, Clone, PartialEq)]
pub struct Slice<T> {
    /// The entries.
    pub entries: Vec<T>,
    /// More entries follow the last one.
    pub has_more: bool,
}

/// What to read of a listing.
#[derive(Debug, Clone)]
pub struct ListingRequest {
    /// Which products.
    pub scope: Scope,
    /// In which order.
    pub sort: ProductSort,
    /// Ascending in `sort` when true.
    pub forward: bool,
    /// How many at most.
    pub limit: usize,
    /// Continue after this position.
    pub start: Option<StartKey>,
    /// Extra narrowing.
    pub filter: ListingFilter,
}

/// The catalog's queries over the store.
#[derive(Clone)]
pub struct Catalog {
    table: Arc<dyn Table>,
}

impl Catalog {
    /// The catalog stored in `table`.
    pub fn new(table: Arc<dyn Table>) -> Self {
        Self { table }
    }

    /// The underlying store.
    pub fn table(&self) -> &Arc<dyn Table> {
        &self.table
    }

    /// The id of the product with this handle.
    pub async fn product_id_by_handle(&self, handle: &str) -> Result<Option<String>, StoreError> {
        self.reference(&keys::product_handle(handle), "product_id")
            .await
    }

    /// The id of the category with this handle.
    pub async fn category_id_by_handle(&self, handle: &str) -> Result<Option<String>, StoreError> {
        self.reference(&keys::category_handle(handle), "category_id")
            .await
    }

    async fn reference(
        &self,
        key: &crate::store::Key,
        attribute: &str,
    ) -> Result<Option<String>, StoreError> {
        Ok(self.table.get(key).await?.and_then(|item| {
            item.get(attribute)
                .and_then(Value::as_str)
                .map(str::to_owned)
        }))
    }

    /// One page of a product listing.
    pub async fn list_products(
        &self,
        request: &ListingRequest,
    ) -> Result<Slice<ListingEntry>, StoreError> {
        let index = request.sort.index();
        let mut query = Query::partition(index, request.scope.partition(), request.limit + 1);
        query.forward = request.forward;
        query.start = request.start.clone();
        query.filter = request.filter.condition();
        let (items, has_more) = self.slice(&query, request.limit).await?;
        let entries = items
            .iter()
            .map(|item| {
                let product_id = item
                    .get("product_id")
                    .and_then(Value::as_str)
                    .ok_or_else(|| StoreError::Corrupt("listing entry without product_id".into()))?
                    .to_owned();
                Ok(ListingEntry {
                    product_id,
                    position: start_key_of(index, item),
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(Slice { entries, has_more })
    }

    /// Whether `start` (from a cursor) points into the category list.
    pub fn is_category_position(start: &StartKey) -> bool {
        let (partition, _) = Index::Gsi1.key_attributes();
        start.get(partition).map(String::as_str) == Some(keys::CATEGORIES)
    }

    /// One page of the category list, in display order.
    pub async fn list_categories(
        &self,
        forward: bool,
        limit: usize,
        start: Option<StartKey>,
    ) -> Result<Slice<(CategoryRecord, StartKey)>, StoreError> {
        let mut query = Query::partition(Index::Gsi1, keys::CATEGORIES, limit + 1);
        query.forward = forward;
        query.start = start;
        let (items, has_more) = self.slice(&query, limit).await?;
        let entries = items
            .iter()
            .map(|item| Ok((from_item(item)?, start_key_of(Index::Gsi1, item))))
            .collect::<Result<_, StoreError>>()?;
        Ok(Slice { entries, has_more })
    }

    /// Reads up to `limit` items (the query asks for one more to learn whether more follow).
    async fn slice(&self, query: &Query, limit: usize) -> Result<(Vec<Item>, bool), StoreError> {
        let mut page = self.table.query(query).await?;
        let has_more = page.items.len() > limit;
        page.items.truncate(limit);
        Ok((page.items, has_more))
    }

    /// How many imports and seeds the catalog has had (0 for none).
    pub async fn revision(&self) -> Result<u64, StoreError> {
        Ok(self
            .table
            .get(&keys::revision())
            .await?
            .and_then(|item| item.get("revision").and_then(Value::as_u64))
            .unwrap_or(0))
    }

    /// Counts one more import or seed.
    pub async fn bump_revision(&self) -> Result<u64, StoreError> {
        let item = self
            .table
            .update(
                &keys::revision(),
                &crate::store::Update::add("revision", 1),
                None,
            )
            .await?;
        Ok(item.get("revision").and_then(Value::as_u64).unwrap_or(0))
    }

    /// Whether the store holds a catalog already (seeded or imported).
    pub async fn is_seeded(&self) -> Result<bool, StoreError> {
        Ok(self.table.get(&keys::seed_marker()).await?.is_some())
    }
}
