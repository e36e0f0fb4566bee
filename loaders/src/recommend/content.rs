//! Content similarity, for products nobody has interacted with yet (cold start): related
//! products share the category, vendor, tags and price band; complementary ones are other
//! kinds of product from the same department at a similar price.

use std::collections::HashMap;
use std::sync::Arc;

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use super::Intent;
use crate::catalog::{
    Catalog, CategoryRecord, ListingRequest, ProductRecord, ProductSort, Scope, keys,
};
use crate::codec::from_item;
use crate::store::{Key, StoreError, Table};

/// How many best sellers of a category are considered.
const CANDIDATES: usize = 60;

/// Reads candidates from the catalog and scores them against a product.
pub struct Content {
    table: Arc<dyn Table>,
    catalog: Catalog,
}

fn price_band(price: Decimal) -> i64 {
    // Bands a factor of 1.5 wide: 10, 15, 22.5, …
    let value = price.to_f64().unwrap_or(0.0).max(1.0);
    (value.ln() / 1.5f64.ln()).floor() as i64
}

fn score(of: &ProductRecord, candidate: &ProductRecord, intent: Intent) -> f64 {
    let same_vendor = f64::from(u8::from(of.vendor == candidate.vendor));
    let band = (price_band(of.min_price) - price_band(candidate.min_price)).abs() as f64;
    match intent {
        Intent::Related => {
            let shared_tags = of
                .tags
                .iter()
                .filter(|t| candidate.tags.contains(t))
                .count() as f64;
            let same_category = of
                .category_ids
                .iter()
                .filter(|c| candidate.category_ids.contains(c))
                .count() as f64;
            3.0 * same_category + 2.0 * same_vendor + shared_tags + 1.0 / (1.0 + band)
        }
        Intent::Complementary => same_vendor + 2.0 / (1.0 + band),
    }
}

impl Content {
    /// Reads the catalog in `table`.
    pub fn new(table: Arc<dyn Table>) -> Self {
        Self {
            catalog: Catalog::new(Arc::clone(&table)),
            table,
        }
    }

    async fn products(&self, ids: &[String]) -> Result<Vec<ProductRecord>, StoreError> {
        let keys: Vec<Key> = ids.iter().map(|id| keys::product(id)).collect();
        self.table
            .batch_get(&keys)
            .await?
            .iter()
            .map(from_item)
            .collect()
    }

    async fn best_sellers(&self, scope: Scope) -> Result<Vec<String>, StoreError> {
        Ok(self
            .catalog
            .list_products(&ListingRequest {
                scope,
                sort: ProductSort::BestSelling,
                forward: true,
                limit: CANDIDATES,
                start: None,
                filter: Default::default(),
            })
            .await?
            .entries
            .into_iter()
            .map(|e| e.product_id)
            .collect())
    }

    async fn department(&self, category: &str) -> Result<String, StoreError> {
        let mut current = category.to_owned();
        for _ in 0..16 {
            let Some(item) = self.table.get(&keys::category(&current)).await? else {
                break;
            };
            let record: CategoryRecord = from_item(&item)?;
            match record.parent_id {
                Some(parent) => current = parent,
                None => break,
            }
        }
        Ok(current)
    }

    /// The products most like each of `products` for `intent`, best first, at most `limit`
    /// each; products that do not exist get nothing.
    pub async fn similar(
        &self,
        products: &[String],
        intent: Intent,
        limit: usize,
    ) -> Result<HashMap<String, Vec<String>>, StoreError> {
        let records = self.products(products).await?;
        let mut found = HashMap::new();
        let mut pools: HashMap<Scope, Vec<ProductRecord>> = HashMap::new();
        for record in records {
            // Widening pools: the category (related) or department (complementary), then
            // the whole catalog, until there are enough candidates.
            let mut scopes = Vec::new();
            if let Some(category) = record.category_ids.first() {
                if intent == Intent::Related {
                    scopes.push(Scope::Category(category.clone()));
                }
                scopes.push(Scope::Category(self.department(category).await?));
            }
            scopes.push(Scope::All);
            let mut list: Vec<String> = Vec::new();
            for scope in scopes {
                if list.len() >= limit {
                    break;
                }
                if !pools.contains_key(&scope) {
                    let ids = self.best_sellers(scope.clone()).await?;
                    pools.insert(scope.clone(), self.products(&ids).await?);
                }
                let mut ranked: Vec<(f64, &ProductRecord)> = pools[&scope]
                    .iter()
                    .filter(|c| c.id != record.id && !list.contains(&c.id))
                    .filter(|c| intent == Intent::Related || c.product_type != record.product_type)
                    .map(|c| (score(&record, c, intent), c))
                    .collect();
                ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.id.cmp(&b.1.id)));
                let room = limit - list.len();
                list.extend(ranked.into_iter().take(room).map(|(_, c)| c.id.clone()));
            }
            found.insert(record.id.clone(), list);
        }
        Ok(found)
    }

    /// The traits of products that affinity is learnt from (`category:<id>`, `vendor:<name>`).
    pub async fn traits(
        &self,
        products: &[String],
    ) -> Result<HashMap<String, Vec<String>>, StoreError> {
        Ok(self
            .products(products)
            .await?
            .into_iter()
            .map(|p| (p.id.clone(), traits_of(&p)))
            .collect())
    }
}

/// The traits of one product.
pub fn traits_of(product: &ProductRecord) -> Vec<String> {
    let mut traits: Vec<String> = product
        .category_ids
        .iter()
        .map(|c| format!("category:{c}"))
        .collect();
    traits.push(format!("vendor:{}", product.vendor.to_lowercase()));
    traits
}
