//! Product listings: one entry per product and scope (all, category, vendor), indexed by each
//! sort order, so that every `products(...)` page is one query of one index partition.

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde_json::{Value, json};

use super::records::{ProductRecord, keys};
use crate::store::{Condition, Index, Item, StoreError};

/// Orders a product listing can be read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProductSort {
    /// By title, A to Z.
    Title,
    /// By lowest variant price, cheapest first.
    Price,
    /// By creation time, oldest first.
    CreatedAt,
    /// By units sold, best first.
    BestSelling,
}

impl ProductSort {
    /// The index that holds this order.
    pub fn index(self) -> Index {
        match self {
            ProductSort::Title => Index::ListByTitle,
            ProductSort::Price => Index::ListByPrice,
            ProductSort::CreatedAt => Index::ListByCreated,
            ProductSort::BestSelling => Index::ListBySales,
        }
    }
}

/// Which products a listing holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Every product.
    All,
    /// Products filed under a category or any of its descendants.
    Category(String),
    /// Products of one vendor (compared case-insensitively).
    Vendor(String),
}

impl Scope {
    /// The scope's name inside listing keys.
    pub fn name(&self) -> String {
        match self {
            Scope::All => "ALL".into(),
            Scope::Category(id) => format!("CATEGORY#{id}"),
            Scope::Vendor(v) => format!("VENDOR#{}", vendor_key(v)),
        }
    }

    /// The index partition holding the scope's entries.
    pub fn partition(&self) -> String {
        format!("{}{}", keys::LISTING_PARTITION_PREFIX, self.name())
    }
}

/// The case-insensitive form of a vendor name used in keys and filters.
pub fn vendor_key(vendor: &str) -> String {
    vendor.trim().to_lowercase()
}

/// Optional narrowing of a listing beyond its scope.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListingFilter {
    /// Only this vendor.
    pub vendor: Option<String>,
    /// Only products that can (true) or cannot (false) be bought now.
    pub available: Option<bool>,
}

impl ListingFilter {
    /// The store filter, if any narrowing is asked for.
    pub fn condition(&self) -> Option<Condition> {
        let mut all = vec![];
        if let Some(v) = &self.vendor {
            all.push(Condition::equals("vendor_key", vendor_key(v)));
        }
        if let Some(a) = self.available {
            all.push(Condition::equals("available", a));
        }
        match all.len() {
            0 => None,
            1 => all.pop(),
            _ => Some(Condition::And(all)),
        }
    }
}

fn price_key(price: Decimal) -> String {
    // Cents, zero-padded so that string order is numeric order.
    let cents = (price * Decimal::ONE_HUNDRED).trunc();
    format!("{:015}", cents.to_i128().unwrap_or(0).max(0))
}

/// The listing entries of a product: one per scope, carrying every sort key.
pub fn listing_items(
    product: &ProductRecord,
    scopes: &[Scope],
    available: bool,
) -> Result<Vec<Item>, StoreError> {
    let id = &product.id;
    let title = format!("{}#{id}", product.title.to_lowercase());
    let price = format!("{}#{id}", price_key(product.min_price));
    let created = format!(
        "{}#{id}",
        product.created_at.format("%Y-%m-%dT%H:%M:%S%.6fZ")
    );
    let sales = format!("{:020}#{id}", u64::MAX - product.sales);
    scopes
        .iter()
        .map(|scope| {
            let key = keys::listing(id, &scope.name());
            crate::codec::to_item(
                &key,
                &json!({
                    "product_id": id,
                    "vendor_key": vendor_key(&product.vendor),
                    "available": available,
                }),
                &[
                    ("lpk", Value::String(scope.partition())),
                    ("ls_title", Value::String(title.clone())),
                    ("ls_price", Value::String(price.clone())),
                    ("ls_created", Value::String(created.clone())),
                    ("ls_sales", Value::String(sales.clone())),
                ],
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn price_keys_sort_numerically() {
        let a = price_key(Decimal::new(999, 2));
        let b = price_key(Decimal::new(1000, 2));
        let c = price_key(Decimal::new(12050, 2));
        assert!(a < b && b < c, "{a} {b} {c}");
    }

    #[test]
    fn filters_combine_vendor_and_availability() {
        let f = ListingFilter {
            vendor: Some(" Acme ".into()),
            available: Some(true),
        };
        assert_eq!(
            f.condition(),
            Some(Condition::And(vec![
                Condition::equals("vendor_key", "acme"),
                Condition::equals("available", true)
            ]))
        );
        assert_eq!(ListingFilter::default().condition(), None);
    }
}
