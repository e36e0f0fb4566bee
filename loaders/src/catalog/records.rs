//! The stored shape of catalog entities, and how each maps to an item of the single table.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// A product: what the storefront shows on a product page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductRecord {
    /// Stable internal id.
    pub id: String,
    /// URL slug, unique among products.
    pub handle: String,
    /// Display name.
    pub title: String,
    /// Plain-text description.
    pub description: String,
    /// Brand or maker.
    pub vendor: String,
    /// Kind of product ("T-Shirt").
    pub product_type: String,
    /// Free-form labels.
    pub tags: Vec<String>,
    /// Categories the product is filed under directly (leaf first).
    pub category_ids: Vec<String>,
    /// Pictures, first is the featured one.
    pub images: Vec<ImageRecord>,
    /// Options the variants differ by.
    pub options: Vec<OptionRecord>,
    /// Variants, in display order.
    pub variant_ids: Vec<String>,
    /// ISO 4217 currency of every price of the product.
    pub currency: String,
    /// Lowest variant price.
    pub min_price: Decimal,
    /// Highest variant price.
    pub max_price: Decimal,
    /// Units sold, for BEST_SELLING.
    pub sales: u64,
    /// When the product was first stored.
    pub created_at: DateTime<Utc>,
    /// When the product last changed.
    pub updated_at: DateTime<Utc>,
    /// The PIM's version of the product when a feed gave one: an older line never
    /// overwrites it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feed_version: Option<i64>,
}

/// A product picture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// Absolute URL under the asset base URL.
    pub url: String,
    /// Text alternative.
    pub alt_text: Option<String>,
    /// Pixels.
    pub width: Option<u32>,
    /// Pixels.
    pub height: Option<u32>,
}

/// A product option and its values ("Size": S, M, L).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OptionRecord {
    /// Option name.
    pub name: String,
    /// Possible values, in display order.
    pub values: Vec<String>,
}

/// One option value a variant has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelectedOptionRecord {
    /// Option name.
    pub name: String,
    /// The value.
    pub value: String,
}

/// A purchasable variant of a product.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VariantRecord {
    /// Stable internal id.
    pub id: String,
    /// The product it belongs to.
    pub product_id: String,
    /// Stock keeping unit, unique among variants.
    pub sku: String,
    /// Display name ("M / Blue").
    pub title: String,
    /// Option values of this variant.
    pub selected_options: Vec<SelectedOptionRecord>,
    /// Price in the product's currency.
    pub price: Decimal,
    /// Former price, shown struck through.
    pub compare_at_price: Option<Decimal>,
}

/// Stock of one variant, kept apart from the variant so that stock changes never rewrite it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryRecord {
    /// The variant.
    pub variant_id: String,
    /// Units available to sell.
    pub quantity: i64,
    /// The supply chain's version of the level when a feed gave one: an older level never
    /// overwrites it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feed_version: Option<i64>,
}

/// A node of the category tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoryRecord {
    /// Stable internal id.
    pub id: String,
    /// URL slug, unique among categories.
    pub handle: String,
    /// Display name.
    pub title: String,
    /// Plain-text description.
    pub description: String,
    /// Parent category, none for a top-level one.
    pub parent_id: Option<String>,
    /// Child categories in display order.
    pub child_ids: Vec<String>,
    /// Display order among all categories.
    pub position: u32,
}

/// Item keys and partition names of the catalog.
pub mod keys {
    use crate::store::Key;

    /// The product item.
    pub fn product(id: &str) -> Key {
        Key::new(format!("PRODUCT#{id}"), "PRODUCT")
    }
    /// The item reserving a product handle.
    pub fn product_handle(handle: &str) -> Key {
        Key::new(format!("PRODUCT_HANDLE#{handle}"), "PRODUCT_HANDLE")
    }
    /// Sort-key prefix of a product's listing entries (within the product's partition).
    pub const LISTING_PREFIX: &str = "LIST#";
    /// A product's entry in one listing scope.
    pub fn listing(product_id: &str, scope: &str) -> Key {
        Key::new(format!("PRODUCT#{product_id}"), format!("LIST#{scope}"))
    }
    /// The variant item.
    pub fn variant(id: &str) -> Key {
        Key::new(format!("VARIANT#{id}"), "VARIANT")
    }
    /// The stock item of a variant.
    pub fn inventory(variant_id: &str) -> Key {
        Key::new(format!("VARIANT#{variant_id}"), "INVENTORY")
    }
    /// The item reserving a SKU.
    pub fn sku(sku: &str) -> Key {
        Key::new(format!("SKU#{sku}"), "SKU")
    }
    /// The category item.
    pub fn category(id: &str) -> Key {
        Key::new(format!("CATEGORY#{id}"), "CATEGORY")
    }
    /// The item reserving a category handle.
    pub fn category_handle(handle: &str) -> Key {
        Key::new(format!("CATEGORY_HANDLE#{handle}"), "CATEGORY_HANDLE")
    }
    /// GSI1 partition listing every category.
    pub const CATEGORIES: &str = "CATEGORIES";
    /// Whether an item belongs to the catalog (and so may be cached and shared).
    pub fn is_catalog_key(key: &Key) -> bool {
        const PREFIXES: [&str; 6] = [
            "PRODUCT#",
            "PRODUCT_HANDLE#",
            "VARIANT#",
            "SKU#",
            "CATEGORY#",
            "CATEGORY_HANDLE#",
        ];
        PREFIXES.iter().any(|p| key.pk.starts_with(p))
    }

    /// Whether a secondary-index partition is one of the catalog's listings: a scope's
    /// products (`PRODUCTS#…`, in every sort index) or the categories.
    pub fn is_listing_partition(partition: &str) -> bool {
        partition == CATEGORIES || partition.starts_with(LISTING_PARTITION_PREFIX)
    }

    /// Prefix of the index partitions of product listings (see `Scope::partition`).
    pub const LISTING_PARTITION_PREFIX: &str = "PRODUCTS#";

    /// The listing partitions an item with this key is listed in: a listing entry in its
    /// scope's, a category in the categories'.
    pub fn listed_in(key: &Key) -> Vec<String> {
        if let Some(scope) = key.sk.strip_prefix(LISTING_PREFIX)
            && key.pk.starts_with("PRODUCT#")
        {
            vec![format!("{LISTING_PARTITION_PREFIX}{scope}")]
        } else if key.pk.starts_with("CATEGORY#") && key.sk == "CATEGORY" {
            vec![CATEGORIES.to_owned()]
        } else {
            vec![]
        }
    }

    /// The item counting catalog imports and seeds: a copy of the catalog kept elsewhere (the
    /// search index) that was made at another count may have missed writes.
    pub fn revision() -> Key {
        Key::new("META", "CATALOG_REVISION")
    }

    /// The item recording that the demo catalog was seeded.
    pub fn seed_marker() -> Key {
        Key::new("META", "CATALOG_SEED")
    }
}
