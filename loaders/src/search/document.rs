//! The search document of a product: what search matches, filters, counts and sorts by,
//! read from the catalog's records (product, variants, stock, categories with their
//! ancestors).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::{Deserialize, Serialize};

use super::request::CategoryHit;
use super::text::words;
use crate::catalog::{
    Catalog, CategoryRecord, InventoryRecord, ListingRequest, ProductRecord, ProductSort, Scope,
    VariantRecord, keys,
};
use crate::codec::from_item;
use crate::store::{Key, StoreError, Table};

/// A product as search sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchDocument {
    /// The product id.
    pub id: String,
    /// Its handle.
    pub handle: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Vendor.
    pub vendor: String,
    /// Product type.
    pub product_type: String,
    /// Tags.
    pub tags: Vec<String>,
    /// The categories it is filed under and all their ancestors.
    pub categories: Vec<CategoryHit>,
    /// `(option name, value)` of every variant.
    pub options: Vec<(String, String)>,
    /// Lowest variant price, in cents.
    pub min_price: i64,
    /// Highest variant price, in cents.
    pub max_price: i64,
    /// Currency of the prices.
    pub currency: String,
    /// Some variant is in stock.
    pub available: bool,
    /// Creation time, epoch seconds.
    pub created_at: i64,
    /// Units sold.
    pub sales: u64,
}

impl SearchDocument {
    /// The words of the document that name it (title, vendor, type, tags, categories,
    /// option values): what suggestions and completions are made of.
    pub fn name_words(&self) -> Vec<String> {
        let mut all = words(&self.title);
        all.extend(words(&self.meta_text()));
        all
    }

    /// Vendor, product type, tags, categories and option values as one text.
    pub fn meta_text(&self) -> String {
        let mut parts: Vec<&str> = vec![&self.vendor, &self.product_type];
        parts.extend(self.tags.iter().map(String::as_str));
        parts.extend(self.categories.iter().map(|c| c.title.as_str()));
        parts.extend(self.options.iter().map(|(_, v)| v.as_str()));
        parts.join(" ")
    }
}

/// Cents of a price (whole cents; prices have at most two decimals).
pub fn cents(price: Decimal) -> i64 {
    (price * Decimal::ONE_HUNDRED)
        .trunc()
        .to_i64()
        .unwrap_or(i64::MAX)
}

/// Reads search documents from the store.
pub struct DocumentSource {
    table: Arc<dyn Table>,
    catalog: Catalog,
    categories: HashMap<String, CategoryRecord>,
}

impl DocumentSource {
    /// Reads from `table` (which should not be cached: the index must see every write).
    pub fn new(table: Arc<dyn Table>) -> Self {
        Self {
            catalog: Catalog::new(Arc::clone(&table)),
            table,
            categories: HashMap::new(),
        }
    }

    /// Reads the category tree again.
    pub async fn refresh_categories(&mut self) -> Result<(), StoreError> {
        let mut all = HashMap::new();
        let mut start = None;
        loop {
            let page = self.catalog.list_categories(true, 500, start).await?;
            let last = page.entries.last().map(|(_, k)| k.clone());
            for (record, _) in page.entries {
                all.insert(record.id.clone(), record);
            }
            if !page.has_more {
                break;
            }
            start = last;
        }
        self.categories = all;
        Ok(())
    }

    /// Every product id in the catalog, a page at a time.
    pub async fn product_ids(
        &self,
        mut each_page: impl FnMut(Vec<String>),
    ) -> Result<(), StoreError> {
        let mut start = None;
        loop {
            let page = self
                .catalog
                .list_products(&ListingRequest {
                    scope: Scope::All,
                    sort: ProductSort::CreatedAt,
                    forward: true,
                    limit: 500,
                    start,
                    filter: Default::default(),
                })
                .await?;
            start = page.entries.last().map(|e| e.position.clone());
            each_page(page.entries.into_iter().map(|e| e.product_id).collect());
            if !page.has_more {
                return Ok(());
            }
        }
    }

    /// The products the keys of written items belong to (a variant's or its stock's product
    /// is read from the variant).
    pub async fn products_of(&self, written: &[Key]) -> Result<BTreeSet<String>, StoreError> {
        let mut products = BTreeSet::new();
        let mut variants = BTreeSet::new();
        for key in written {
            if let Some(id) = key.pk.strip_prefix("PRODUCT#") {
                products.insert(id.to_owned());
            } else if let Some(id) = key.pk.strip_prefix("VARIANT#") {
                variants.insert(keys::variant(id));
            }
        }
        if !variants.is_empty() {
            let keys: Vec<Key> = variants.into_iter().collect();
            for item in self.table.batch_get(&keys).await? {
                let variant: VariantRecord = from_item(&item)?;
                products.insert(variant.product_id);
            }
        }
        Ok(products)
    }

    /// Whether a written key changes the category tree.
    pub fn is_category_key(key: &Key) -> bool {
        key.pk.starts_with("CATEGORY#")
    }

    /// The documents of `ids`; ids of products that no longer exist are returned apart.
    pub async fn documents(
        &self,
        ids: &[String],
    ) -> Result<(Vec<SearchDocument>, Vec<String>), StoreError> {
        let product_keys: Vec<Key> = ids.iter().map(|id| keys::product(id)).collect();
        let mut products: HashMap<String, ProductRecord> = HashMap::new();
        for item in self.table.batch_get(&product_keys).await? {
            let record: ProductRecord = from_item(&item)?;
            products.insert(record.id.clone(), record);
        }
        let variant_ids: Vec<&String> = products.values().flat_map(|p| &p.variant_ids).collect();
        let mut variant_keys: Vec<Key> = variant_ids.iter().map(|v| keys::variant(v)).collect();
        variant_keys.extend(variant_ids.iter().map(|v| keys::inventory(v)));
        let mut variants: HashMap<String, VariantRecord> = HashMap::new();
        let mut stock: HashMap<String, i64> = HashMap::new();
        for item in self.table.batch_get(&variant_keys).await? {
            if item.get("sk").and_then(|v| v.as_str()) == Some("INVENTORY") {
                let record: InventoryRecord = from_item(&item)?;
                stock.insert(record.variant_id, record.quantity);
            } else {
                let record: VariantRecord = from_item(&item)?;
                variants.insert(record.id.clone(), record);
            }
        }
        let mut documents = Vec::with_capacity(products.len());
        let mut gone = Vec::new();
        for id in ids {
            match products.get(id) {
                Some(product) => documents.push(self.document(product, &variants, &stock)),
                None => gone.push(id.clone()),
            }
        }
        Ok((documents, gone))
    }

    fn document(
        &self,
        product: &ProductRecord,
        variants: &HashMap<String, VariantRecord>,
        stock: &HashMap<String, i64>,
    ) -> SearchDocument {
        let mut categories: Vec<CategoryHit> = Vec::new();
        for id in &product.category_ids {
            let mut next = Some(id.clone());
            // The tree is shallow; the bound guards against a cycle in bad data.
            for _ in 0..16 {
                let Some(category) = next.as_ref().and_then(|id| self.categories.get(id)) else {
                    break;
                };
                if !categories.iter().any(|c| c.id == category.id) {
                    categories.push(CategoryHit {
                        id: category.id.clone(),
                        handle: category.handle.clone(),
                        title: category.title.clone(),
                    });
                }
                next = category.parent_id.clone();
            }
        }
        let mut options: BTreeSet<(String, String)> = BTreeSet::new();
        let mut available = false;
        for variant_id in &product.variant_ids {
            if let Some(variant) = variants.get(variant_id) {
                for selected in &variant.selected_options {
                    options.insert((selected.name.clone(), selected.value.clone()));
                }
            }
            available |= stock.get(variant_id).is_some_and(|q| *q > 0);
        }
        SearchDocument {
            id: product.id.clone(),
            handle: product.handle.clone(),
            title: product.title.clone(),
            description: product.description.clone(),
            vendor: product.vendor.clone(),
            product_type: product.product_type.clone(),
            tags: product.tags.clone(),
            categories,
            options: options.into_iter().collect(),
            min_price: cents(product.min_price),
            max_price: cents(product.max_price),
            currency: product.currency.clone(),
            available,
            created_at: product.created_at.timestamp(),
            sales: product.sales,
        }
    }
}
