//! Catalog writes: idempotent product upserts by handle and stock updates by SKU, each one
//! transaction of conditional writes so that handles and SKUs stay unique.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::listing::{Scope, listing_items};
use super::records::{
    CategoryRecord, ImageRecord, InventoryRecord, OptionRecord, ProductRecord,
    SelectedOptionRecord, VariantRecord, keys,
};
use super::repo::Catalog;
use crate::codec::{from_item, to_item};
use crate::store::{
    Condition, Item, Key, Query, StoreError, TRANSACTION_MAX, Table, Update, WriteOp,
};

/// The most variants one product may have.
pub const MAX_VARIANTS: usize = 30;
/// The most categories one product may be filed under directly.
pub const MAX_CATEGORIES: usize = 5;
/// The most images one product may have.
pub const MAX_IMAGES: usize = 20;
/// The most options (size, colour, …) one product may have.
pub const MAX_OPTIONS: usize = 3;
/// The most values one option may have.
pub const MAX_OPTION_VALUES: usize = 100;
/// The most tags one product may have.
pub const MAX_TAGS: usize = 50;

/// A product as a feed describes it, before it is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ProductDraft {
    /// URL slug: lowercase letters, digits and hyphens.
    pub handle: String,
    /// Display name.
    pub title: String,
    /// Plain-text description.
    pub description: String,
    /// Brand or maker.
    pub vendor: String,
    /// Kind of product.
    pub product_type: String,
    /// Labels.
    pub tags: Vec<String>,
    /// Handles of the categories the product is filed under.
    pub category_handles: Vec<String>,
    /// Pictures.
    pub images: Vec<ImageRecord>,
    /// Options the variants differ by.
    pub options: Vec<OptionRecord>,
    /// Variants, at least one.
    pub variants: Vec<VariantDraft>,
    /// The PIM's version of this product, when its feed gives one: a draft older than (or as
    /// old as) the stored product's version is not applied.
    pub version: Option<i64>,
}

/// A variant as a feed describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct VariantDraft {
    /// Stock keeping unit, unique among all variants.
    pub sku: String,
    /// Display name; derived from the option values when absent.
    pub title: Option<String>,
    /// Option values; one per product option.
    pub selected_options: Vec<SelectedOptionRecord>,
    /// Price in USD.
    pub price: Decimal,
    /// Former price.
    pub compare_at_price: Option<Decimal>,
}

/// What an upsert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// A new entity was stored.
    Created,
    /// An existing entity changed.
    Updated,
    /// The entity was stored already exactly so; nothing was written.
    Unchanged,
    /// The change is older (by its feed version) than what is stored; nothing was written.
    Stale,
}

/// Why a catalog write was refused.
#[derive(Debug, thiserror::Error)]
pub enum CatalogWriteError {
    /// The input breaks a rule; the message says which.
    #[error("{0}")]
    Invalid(String),
    /// A category handle names no category.
    #[error("unknown category handle `{0}`")]
    UnknownCategory(String),
    /// A SKU is used by another product.
    #[error("SKU `{sku}` belongs to another product")]
    SkuTaken {
        /// The SKU.
        sku: String,
    },
    /// No variant has this SKU.
    #[error("unknown SKU `{0}`")]
    UnknownSku(String),
    /// Another writer changed the same product at the same time.
    #[error("the product changed while it was being written; retry")]
    Conflict,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Whether `handle` is a valid URL slug.
pub fn is_valid_handle(handle: &str) -> bool {
    !handle.is_empty()
        && handle.len() <= 255
        && handle
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !handle.starts_with('-')
        && !handle.ends_with('-')
}

/// How often a stock update is computed again after a concurrent change cancelled it.
const MAX_INVENTORY_ATTEMPTS: u32 = 20;

fn invalid(message: impl Into<String>) -> CatalogWriteError {
    CatalogWriteError::Invalid(message.into())
}

fn check_price(what: &str, price: Decimal) -> Result<(), CatalogWriteError> {
    if price.is_sign_negative() {
        return Err(invalid(format!("{what} must not be negative")));
    }
    if price.normalize().scale() > 2 {
        return Err(invalid(format!("{what} has more than 2 decimal places")));
    }
    if price > Decimal::new(1_000_000_000, 0) {
        return Err(invalid(format!("{what} is too large")));
    }
    Ok(())
}

impl ProductDraft {
    /// Checks every rule that needs no store lookup.
    pub fn validate(&self) -> Result<(), CatalogWriteError> {
        if !is_valid_handle(&self.handle) {
            return Err(invalid(format!(
                "handle `{}` must be 1-255 lowercase letters, digits and inner hyphens",
                self.handle
            )));
        }
        if self.title.trim().is_empty() {
            return Err(invalid("title must not be empty"));
        }
        if self.variants.is_empty() || self.variants.len() > MAX_VARIANTS {
            return Err(invalid(format!(
                "a product has 1 to {MAX_VARIANTS} variants, not {}",
                self.variants.len()
            )));
        }
        if self.category_handles.len() > MAX_CATEGORIES {
            return Err(invalid(format!(
                "a product is filed under at most {MAX_CATEGORIES} categories"
            )));
        }
        if self.images.len() > MAX_IMAGES {
            return Err(invalid(format!(
                "a product has at most {MAX_IMAGES} images"
            )));
        }
        if self.tags.len() > MAX_TAGS {
            return Err(invalid(format!("a product has at most {MAX_TAGS} tags")));
        }
        if self.options.len() > MAX_OPTIONS {
            return Err(invalid(format!(
                "a product has at most {MAX_OPTIONS} options"
            )));
        }
        let mut option_names = BTreeSet::new();
        for option in &self.options {
            if option.values.len() > MAX_OPTION_VALUES {
                return Err(invalid(format!(
                    "option `{}` has more than {MAX_OPTION_VALUES} values",
                    option.name
                )));
            }
            if option.name.trim().is_empty() || option.values.is_empty() {
                return Err(invalid("every option needs a name and at least one value"));
            }
            if !option_names.insert(option.name.as_str()) {
                return Err(invalid(format!("option `{}` is listed twice", option.name)));
            }
        }
        let mut skus = BTreeSet::new();
        let mut combinations = BTreeSet::new();
        for (i, variant) in self.variants.iter().enumerate() {
            let at = format!("variants[{i}]");
            if variant.sku.trim().is_empty() || variant.sku.len() > 128 {
                return Err(invalid(format!("{at}.sku must be 1-128 characters")));
            }
            if !skus.insert(variant.sku.as_str()) {
                return Err(invalid(format!("SKU `{}` appears twice", variant.sku)));
            }
            check_price(&format!("{at}.price"), variant.price)?;
            if let Some(compare) = variant.compare_at_price {
                check_price(&format!("{at}.compareAtPrice"), compare)?;
            }
            if variant.selected_options.len() != self.options.len() {
                return Err(invalid(format!(
                    "{at} must select exactly one value of each option"
                )));
            }
            for selected in &variant.selected_options {
                let Some(option) = self.options.iter().find(|o| o.name == selected.name) else {
                    return Err(invalid(format!(
                        "{at} selects unknown option `{}`",
                        selected.name
                    )));
                };
                if !option.values.contains(&selected.value) {
                    return Err(invalid(format!(
                        "{at} selects `{}` for `{}`, which is not one of its values",
                        selected.value, selected.name
                    )));
                }
            }
            let combination: Vec<&str> = variant
                .selected_options
                .iter()
                .map(|s| s.value.as_str())
                .collect();
            if !combination.is_empty() && !combinations.insert(combination) {
                return Err(invalid(format!("{at} repeats another variant's options")));
            }
        }
        Ok(())
    }
}

/// The title of a variant: its own, or its option values joined ("M / Blue").
pub fn variant_title(draft: &VariantDraft) -> String {
    match &draft.title {
        Some(t) if !t.trim().is_empty() => t.clone(),
        _ if draft.selected_options.is_empty() => "Default".into(),
        _ => draft
            .selected_options
            .iter()
            .map(|s| s.value.as_str())
            .collect::<Vec<_>>()
            .join(" / "),
    }
}

/// The listing scopes of a product filed under `category_ids` (ancestors included).
pub fn scopes_of(category_ids: &BTreeSet<String>, vendor: &str) -> Vec<Scope> {
    let mut scopes = vec![Scope::All];
    scopes.extend(category_ids.iter().cloned().map(Scope::Category));
    if !vendor.trim().is_empty() {
        scopes.push(Scope::Vendor(vendor.to_owned()));
    }
    scopes
}

/// Every item of a product as stored: the product, its handle reservation, variants, SKU
/// reservations and listing entries (not stock).
pub fn product_items(
    product: &ProductRecord,
    variants: &[VariantRecord],
    scopes: &[Scope],
    available: bool,
) -> Result<Vec<Item>, StoreError> {
    let mut items = vec![
        to_item(&keys::product(&product.id), product, &[])?,
        to_item(
            &keys::product_handle(&product.handle),
            &json!({"product_id": product.id}),
            &[],
        )?,
    ];
    for variant in variants {
        items.push(to_item(&keys::variant(&variant.id), variant, &[])?);
        items.push(sku_item(variant)?);
    }
    items.extend(listing_items(product, scopes, available)?);
    Ok(items)
}

fn sku_item(variant: &VariantRecord) -> Result<Item, StoreError> {
    to_item(
        &keys::sku(&variant.sku),
        &json!({"sku": variant.sku, "variant_id": variant.id, "product_id": variant.product_id}),
        &[],
    )
}

/// The stock item of a variant.
pub fn inventory_item(record: &InventoryRecord) -> Result<Item, StoreError> {
    to_item(&keys::inventory(&record.variant_id), record, &[])
}

/// Writes the catalog: the counterpart of [`Catalog`]'s reads.
#[derive(Clone)]
pub struct CatalogWriter {
    /// Reads, for the decisions writes are conditional on.
    catalog: Catalog,
    /// Writes.
    writes: Arc<dyn Table>,
}

struct Existing {
    product: ProductRecord,
    variants: Vec<VariantRecord>,
    listing_keys: Vec<Key>,
}

impl CatalogWriter {
    /// A writer over `table`.
    pub fn new(table: Arc<dyn Table>) -> Self {
        Self {
            catalog: Catalog::new(Arc::clone(&table)),
            writes: table,
        }
    }

    /// The writer, reading what its writes are conditional on from `fresh` (the store without
    /// the item cache): a cached copy another replica's write made stale would fail every
    /// conditional write made from it until its invalidation arrives.
    pub fn reading_from(mut self, fresh: Arc<dyn Table>) -> Self {
        self.catalog = Catalog::new(fresh);
        self
    }

    /// The table it writes to.
    pub fn table(&self) -> &Arc<dyn Table> {
        &self.writes
    }

    /// The table it reads from.
    fn reads(&self) -> &Arc<dyn Table> {
        self.catalog.table()
    }

    /// The ids of `category_ids` and all their ancestors.
    async fn with_ancestors(
        &self,
        category_ids: Vec<String>,
    ) -> Result<BTreeSet<String>, StoreError> {
        let mut all = BTreeSet::new();
        let mut next = category_ids;
        while !next.is_empty() {
            let keys: Vec<Key> = next.iter().map(|id| keys::category(id)).collect();
            all.extend(next.drain(..));
            for item in self.reads().batch_get(&keys).await? {
                let category: CategoryRecord = from_item(&item)?;
                if let Some(parent) = category.parent_id
                    && !all.contains(&parent)
                {
                    next.push(parent);
                }
            }
        }
        Ok(all)
    }

    async fn existing(&self, handle: &str) -> Result<Option<Existing>, StoreError> {
        let Some(id) = self.catalog.product_id_by_handle(handle).await? else {
            return Ok(None);
        };
        let Some(item) = self.reads().get(&keys::product(&id)).await? else {
            return Err(StoreError::Corrupt(format!(
                "handle `{handle}` points at missing product {id}"
            )));
        };
        let product: ProductRecord = from_item(&item)?;
        let variant_keys: Vec<Key> = product
            .variant_ids
            .iter()
            .map(|v| keys::variant(v))
            .collect();
        let by_id: HashMap<String, VariantRecord> = self
            .reads()
            .batch_get(&variant_keys)
            .await?
            .iter()
            .map(|i| from_item::<VariantRecord>(i).map(|v| (v.id.clone(), v)))
            .collect::<Result<_, _>>()?;
        let variants = product
            .variant_ids
            .iter()
            .filter_map(|id| by_id.get(id).cloned())
            .collect();
        let listing_keys = self.listing_keys(&id).await?;
        Ok(Some(Existing {
            product,
            variants,
            listing_keys,
        }))
    }

    async fn listing_keys(&self, product_id: &str) -> Result<Vec<Key>, StoreError> {
        let partition = keys::product(product_id).pk;
        let query = Query::partition(crate::store::Index::Primary, partition, 100)
            .begins_with(keys::LISTING_PREFIX);
        let page = self.reads().query(&query).await?;
        Ok(page.items.iter().filter_map(Key::of).collect())
    }

    async fn availability(&self, variant_ids: &[String]) -> Result<bool, StoreError> {
        let keys: Vec<Key> = variant_ids.iter().map(|v| keys::inventory(v)).collect();
        for item in self.reads().batch_get(&keys).await? {
            let stock: InventoryRecord = from_item(&item)?;
            if stock.quantity > 0 {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Creates or updates the product with the draft's handle. Writing the same draft twice
    /// changes nothing the second time.
    pub async fn upsert_product(
        &self,
        draft: &ProductDraft,
        now: DateTime<Utc>,
    ) -> Result<WriteOutcome, CatalogWriteError> {
        draft.validate()?;
        let mut direct_categories = Vec::with_capacity(draft.category_handles.len());
        for handle in &draft.category_handles {
            let id = self
                .catalog
                .category_id_by_handle(handle)
                .await?
                .ok_or_else(|| CatalogWriteError::UnknownCategory(handle.clone()))?;
            if !direct_categories.contains(&id) {
                direct_categories.push(id);
            }
        }
        let scopes = scopes_of(
            &self.with_ancestors(direct_categories.clone()).await?,
            &draft.vendor,
        );
        let existing = self.existing(&draft.handle).await?;
        let stored_version = existing.as_ref().and_then(|e| e.product.feed_version);
        if let (Some(new), Some(stored)) = (draft.version, stored_version)
            && new <= stored
        {
            // The product put below is conditional on the `updated_at` read with this
            // version, so a newer version written meanwhile cancels it rather than losing.
            return Ok(if new == stored {
                WriteOutcome::Unchanged
            } else {
                WriteOutcome::Stale
            });
        }
        let product_id = existing
            .as_ref()
            .map(|e| e.product.id.clone())
            .unwrap_or_else(new_id);

        let sku_keys: Vec<Key> = draft.variants.iter().map(|v| keys::sku(&v.sku)).collect();
        let mut owners = HashMap::new();
        for item in self.reads().batch_get(&sku_keys).await? {
            let field = |name: &str| {
                item.get(name)
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned()
            };
            owners.insert(field("sku"), (field("variant_id"), field("product_id")));
        }

        let mut variants = Vec::with_capacity(draft.variants.len());
        let mut new_skus = Vec::new();
        for v in &draft.variants {
            let id = match owners.get(&v.sku) {
                Some((variant_id, owner)) if *owner == product_id => variant_id.clone(),
                Some(_) => return Err(CatalogWriteError::SkuTaken { sku: v.sku.clone() }),
                None => {
                    new_skus.push(v.sku.clone());
                    new_id()
                }
            };
            variants.push(VariantRecord {
                id,
                product_id: product_id.clone(),
                sku: v.sku.clone(),
                title: variant_title(v),
                selected_options: v.selected_options.clone(),
                price: v.price,
                compare_at_price: v.compare_at_price,
            });
        }
        let prices = variants.iter().map(|v| v.price);
        let min_price = prices.clone().min().unwrap_or_default();
        let max_price = prices.max().unwrap_or_default();
        let variant_ids: Vec<String> = variants.iter().map(|v| v.id.clone()).collect();
        let product = ProductRecord {
            id: product_id.clone(),
            handle: draft.handle.clone(),
            title: draft.title.trim().to_owned(),
            description: draft.description.clone(),
            vendor: draft.vendor.trim().to_owned(),
            product_type: draft.product_type.clone(),
            tags: draft.tags.clone(),
            category_ids: direct_categories,
            images: draft.images.clone(),
            options: draft.options.clone(),
            variant_ids: variant_ids.clone(),
            currency: "USD".into(),
            min_price,
            max_price,
            sales: existing.as_ref().map_or(0, |e| e.product.sales),
            created_at: existing.as_ref().map_or(now, |e| e.product.created_at),
            updated_at: existing.as_ref().map_or(now, |e| e.product.updated_at),
            feed_version: draft.version.or(stored_version),
        };
        let available = self.availability(&variant_ids).await?;
        let listing = listing_items(&product, &scopes, available)?;
        let listing_keys: BTreeSet<Key> = listing.iter().filter_map(Key::of).collect();

        if let Some(old) = &existing {
            let same_listing =
                old.listing_keys.iter().cloned().collect::<BTreeSet<_>>() == listing_keys;
            if old.product == product && old.variants == variants && same_listing {
                return Ok(WriteOutcome::Unchanged);
            }
        }
        let product = ProductRecord {
            updated_at: now,
            ..product
        };

        let mut ops = Vec::new();
        ops.push(WriteOp::Put {
            item: to_item(&keys::product(&product.id), &product, &[])?,
            condition: Some(match &existing {
                None => Condition::ItemNotExists,
                Some(old) => Condition::equals(
                    "updated_at",
                    serde_json::to_value(old.product.updated_at)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                ),
            }),
        });
        if existing.is_none() {
            ops.push(WriteOp::Put {
                item: to_item(
                    &keys::product_handle(&product.handle),
                    &json!({"product_id": product.id}),
                    &[],
                )?,
                condition: Some(Condition::ItemNotExists),
            });
        }
        for variant in &variants {
            ops.push(WriteOp::Put {
                item: to_item(&keys::variant(&variant.id), variant, &[])?,
                condition: None,
            });
            if new_skus.contains(&variant.sku) {
                ops.push(WriteOp::Put {
                    item: sku_item(variant)?,
                    condition: Some(Condition::ItemNotExists),
                });
            }
        }
        if let Some(old) = &existing {
            for gone in old.variants.iter().filter(|v| !variant_ids.contains(&v.id)) {
                for key in [
                    keys::variant(&gone.id),
                    keys::sku(&gone.sku),
                    keys::inventory(&gone.id),
                ] {
                    ops.push(WriteOp::Delete {
                        key,
                        condition: None,
                    });
                }
            }
            for key in old
                .listing_keys
                .iter()
                .filter(|k| !listing_keys.contains(k))
            {
                ops.push(WriteOp::Delete {
                    key: key.clone(),
                    condition: None,
                });
            }
        }
        // Listing entries carry the sort keys, so every change of the product rewrites them
        // (they do not depend on `updated_at`, so the entries built above serve).
        ops.extend(listing.into_iter().map(|item| WriteOp::Put {
            item,
            condition: None,
        }));
        if ops.len() > TRANSACTION_MAX {
            return Err(invalid(format!(
                "this change needs {} writes; one product change may need at most {TRANSACTION_MAX}",
                ops.len()
            )));
        }
        match self.table().transact_write(ops).await {
            Ok(()) => Ok(if existing.is_some() {
                WriteOutcome::Updated
            } else {
                WriteOutcome::Created
            }),
            Err(StoreError::TransactionCanceled { .. }) => Err(CatalogWriteError::Conflict),
            Err(e) => Err(e.into()),
        }
    }

    /// Sets the stock of the variant with `sku`, and the availability of its product's
    /// listings with it, in one transaction.
    ///
    /// Availability depends on every variant's stock, so the transaction requires each stock
    /// it read to be unchanged; a concurrent change of a sibling variant cancels it, and it is
    /// computed again from fresh reads. Two stock updates can therefore never leave the
    /// listings disagreeing with the stock.
    pub async fn set_inventory(
        &self,
        sku: &str,
        quantity: i64,
    ) -> Result<WriteOutcome, CatalogWriteError> {
        self.set_inventory_version(sku, quantity, None).await
    }

    /// [`CatalogWriter::set_inventory`] from a feed that versions its levels: a level whose
    /// `version` is not newer than the stored one is not applied ([`WriteOutcome::Stale`]),
    /// checked in the conditional write itself.
    pub async fn set_inventory_version(
        &self,
        sku: &str,
        quantity: i64,
        version: Option<i64>,
    ) -> Result<WriteOutcome, CatalogWriteError> {
        if version.is_some_and(|v| v < 0) {
            return Err(invalid("version must be a whole number of at least 0"));
        }
        if !(0..=1_000_000_000).contains(&quantity) {
            return Err(invalid(
                "quantity must be a whole number from 0 to 1000000000",
            ));
        }
        for attempt in 0..MAX_INVENTORY_ATTEMPTS {
            if attempt > 0 {
                crate::store::backoff(attempt).await;
            }
            match self.try_set_inventory(sku, quantity, version).await {
                Err(CatalogWriteError::Conflict) => continue,
                other => return other,
            }
        }
        Err(CatalogWriteError::Conflict)
    }

    async fn try_set_inventory(
        &self,
        sku: &str,
        quantity: i64,
        version: Option<i64>,
    ) -> Result<WriteOutcome, CatalogWriteError> {
        let owner = self
            .reads()
            .get(&keys::sku(sku))
            .await?
            .ok_or_else(|| CatalogWriteError::UnknownSku(sku.to_owned()))?;
        let field = |name: &str| {
            owner
                .get(name)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        let (variant_id, product_id) = (field("variant_id"), field("product_id"));
        self.write_stock(&product_id, Some((variant_id, quantity, version)))
            .await
    }

    /// Makes the listings of a product agree with its variants' stock as it is now (after a
    /// checkout changed it), conditional on the stock read; retried on conflict.
    pub async fn refresh_availability(
        &self,
        product_id: &str,
    ) -> Result<WriteOutcome, CatalogWriteError> {
        for attempt in 0..MAX_INVENTORY_ATTEMPTS {
            if attempt > 0 {
                crate::store::backoff(attempt).await;
            }
            match self.write_stock(product_id, None).await {
                Err(CatalogWriteError::Conflict) => continue,
                other => return other,
            }
        }
        Err(CatalogWriteError::Conflict)
    }

    /// Sets one variant's stock (when `change` says so) and makes the product's listings
    /// agree with the stock, in one transaction conditional on every stock it read.
    async fn write_stock(
        &self,
        product_id: &str,
        change: Option<(String, i64, Option<i64>)>,
    ) -> Result<WriteOutcome, CatalogWriteError> {
        let product: ProductRecord = from_item(
            &self
                .reads()
                .get(&keys::product(product_id))
                .await?
                .ok_or_else(|| {
                    StoreError::Corrupt(format!("stock of a missing product `{product_id}`"))
                })?,
        )?;
        let stock_keys: Vec<Key> = product
            .variant_ids
            .iter()
            .map(|v| keys::inventory(v))
            .collect();
        let mut read: BTreeMap<String, i64> = BTreeMap::new();
        let mut versions: BTreeMap<String, i64> = BTreeMap::new();
        for item in self.reads().batch_get(&stock_keys).await? {
            let record: InventoryRecord = from_item(&item)?;
            if let Some(version) = record.feed_version {
                versions.insert(record.variant_id.clone(), version);
            }
            read.insert(record.variant_id, record.quantity);
        }
        if let Some((variant, _, Some(new))) = &change
            && versions.get(variant).is_some_and(|stored| stored >= new)
        {
            return Ok(if versions.get(variant) == Some(new) {
                WriteOutcome::Unchanged
            } else {
                WriteOutcome::Stale
            });
        }
        let mut stock = read.clone();
        let previous = change.as_ref().and_then(|(v, _, _)| read.get(v).copied());
        if let Some((variant, quantity, _)) = &change {
            stock.insert(variant.clone(), *quantity);
        }
        let available = stock.values().any(|q| *q > 0);

        let partition = keys::product(product_id).pk;
        let query = Query::partition(crate::store::Index::Primary, partition, 100)
            .begins_with(keys::LISTING_PREFIX);
        let listings = self.reads().query(&query).await?.items;
        let stale: Vec<Key> = listings
            .iter()
            .filter(|i| i.get("available").and_then(Value::as_bool) != Some(available))
            .filter_map(Key::of)
            .collect();
        let new_version = change
            .as_ref()
            .and_then(|(v, _, version)| version.filter(|n| versions.get(v) != Some(n)));
        let unchanged_stock = match &change {
            Some((_, quantity, _)) => previous == Some(*quantity) && new_version.is_none(),
            None => true,
        };
        if unchanged_stock && stale.is_empty() {
            return Ok(WriteOutcome::Unchanged);
        }
        // The stock this decision was made from, as a condition per variant.
        let unchanged = |variant: &str| match read.get(variant) {
            Some(q) => Condition::equals("quantity", *q),
            None => Condition::ItemNotExists,
        };
        let mut ops = Vec::new();
        if let Some((variant, quantity, version)) = &change {
            // Never over a newer level: the version read must still be the stored one.
            let same_version = Condition::as_read("feed_version", versions.get(variant).copied());
            ops.push(WriteOp::Put {
                item: inventory_item(&InventoryRecord {
                    variant_id: variant.clone(),
                    quantity: *quantity,
                    feed_version: version.or(versions.get(variant).copied()),
                })?,
                condition: Some(Condition::And(vec![unchanged(variant), same_version])),
            });
        }
        let changed = change.as_ref().map(|(v, _, _)| v.as_str());
        ops.extend(
            product
                .variant_ids
                .iter()
                .filter(|v| Some(v.as_str()) != changed)
                .map(|v| WriteOp::ConditionCheck {
                    key: keys::inventory(v),
                    condition: unchanged(v),
                }),
        );
        ops.extend(stale.into_iter().map(|key| WriteOp::Update {
            key,
            update: Update::set("available", available),
            condition: Some(Condition::ItemExists),
        }));
        match self.table().transact_write(ops).await {
            Ok(()) => Ok(if previous.is_some() || change.is_none() {
                WriteOutcome::Updated
            } else {
                WriteOutcome::Created
            }),
            Err(StoreError::TransactionCanceled { .. }) => Err(CatalogWriteError::Conflict),
            Err(e) => Err(e.into()),
        }
    }
}

/// A new random entity id.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}
