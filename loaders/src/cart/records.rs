//! What a cart is, as stored: one item per cart (lines inside), keyed by the digest of its
//! unguessable id; and the discount codes shoppers may apply.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::identity::Owner;

/// A custom key/value pair on a cart or a line (gift messages, delivery notes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributeRecord {
    /// The attribute's key.
    pub key: String,
    /// Its value.
    pub value: String,
}

/// One line of a cart: a variant and how many.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartLineRecord {
    /// Stable id of the line within its cart.
    pub id: String,
    /// The variant.
    pub variant_id: String,
    /// How many, at least 1.
    pub quantity: u32,
    /// The line's attributes.
    #[serde(default)]
    pub attributes: Vec<AttributeRecord>,
}

/// Who is buying: where taxes and shipping are computed for, and where the receipt goes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuyerRecord {
    /// The buyer's email.
    pub email: Option<String>,
    /// ISO 3166 country code.
    pub country_code: Option<String>,
    /// Region (state, province) code.
    pub province_code: Option<String>,
}

/// A cart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartRecord {
    /// Who may read and change it.
    pub owner: Owner,
    /// Its lines, in the order they were added.
    pub lines: Vec<CartLineRecord>,
    /// Discount codes entered, upper-cased, in the order entered.
    pub discount_codes: Vec<String>,
    /// A note to the merchant.
    pub note: String,
    /// The cart's attributes.
    pub attributes: Vec<AttributeRecord>,
    /// The buyer.
    pub buyer: BuyerRecord,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Bumped by every change: writes are conditional on the version they read.
    pub version: u64,
    /// The order it became, once checked out (a checked-out cart no longer changes).
    pub order_id: Option<String>,
}

/// What a discount code takes off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum DiscountValue {
    /// A percentage of the merchandise (`10` is 10 %).
    Percentage(Decimal),
    /// A fixed amount off the merchandise, never more than it.
    FixedAmount(Decimal),
    /// Shipping is free.
    FreeShipping,
}

/// A discount code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscountRecord {
    /// The code, upper-case.
    pub code: String,
    /// What it takes off.
    pub value: DiscountValue,
    /// The merchandise subtotal it needs.
    pub minimum_subtotal: Option<Decimal>,
    /// Valid from.
    pub starts_at: Option<DateTime<Utc>>,
    /// Valid until.
    pub ends_at: Option<DateTime<Utc>>,
    /// How many orders may use it in all.
    pub usage_limit: Option<u64>,
    /// How many orders one customer (or email) may use it for.
    pub per_customer_limit: Option<u64>,
    /// How many orders used it (kept on the item; checkouts add to it atomically).
    #[serde(default)]
    pub used: u64,
}

/// Item keys of the cart domain.
pub mod keys {
    use crate::store::Key;

    /// A cart, by the digest of its id.
    pub fn cart(digest: &str) -> Key {
        Key::new(format!("CART#{digest}"), "CART")
    }

    /// A discount code.
    pub fn discount(code: &str) -> Key {
        Key::new(format!("DISCOUNT#{code}"), "DISCOUNT")
    }

    /// How often one buyer used a discount code.
    pub fn discount_use(code: &str, buyer: &str) -> Key {
        Key::new(format!("DISCOUNT#{code}"), format!("USE#{buyer}"))
    }
}
