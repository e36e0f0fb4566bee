//! What cart mutations take, and the user errors they answer with.

use async_graphql::{Enum, ID, InputObject, SimpleObject};

/// A key and a value.
#[derive(InputObject, Debug, Clone)]
pub struct AttributeInput {
    /// The key (1–100 characters).
    pub key: String,
    /// The value (at most 1,000 characters).
    pub value: String,
}

/// A line to add.
#[derive(InputObject, Debug, Clone)]
pub struct CartLineInput {
    /// The `ProductVariant` to buy.
    pub merchandise_id: ID,
    /// How many (default 1).
    #[graphql(default = 1)]
    pub quantity: i32,
    /// The line's attributes.
    #[graphql(default)]
    pub attributes: Vec<AttributeInput>,
}

/// A change to a line.
#[derive(InputObject, Debug, Clone)]
pub struct CartLineUpdateInput {
    /// The line.
    pub id: ID,
    /// Its new quantity (0 removes it).
    pub quantity: Option<i32>,
    /// Its new attributes.
    pub attributes: Option<Vec<AttributeInput>>,
}

/// Who is buying.
#[derive(InputObject, Debug, Clone, Default)]
pub struct CartBuyerIdentityInput {
    /// The buyer's email.
    pub email: Option<String>,
    /// ISO 3166 country code.
    pub country_code: Option<String>,
    /// Region (state, province) code.
    pub province_code: Option<String>,
}

/// A new cart.
#[derive(InputObject, Debug, Clone, Default)]
pub struct CartInput {
    /// Its first lines.
    #[graphql(default)]
    pub lines: Vec<CartLineInput>,
    /// Who is buying.
    pub buyer_identity: Option<CartBuyerIdentityInput>,
    /// Discount codes.
    #[graphql(default)]
    pub discount_codes: Vec<String>,
    /// A note to the merchant.
    pub note: Option<String>,
    /// The cart's attributes.
    #[graphql(default)]
    pub attributes: Vec<AttributeInput>,
}

/// What went wrong with a cart mutation, for programs.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum CartErrorCode {
    /// A value is malformed.
    Invalid,
    /// A value is too long.
    TooLong,
    /// A quantity is below 1 (or 0 where only removal is meant) or above the limit.
    InvalidQuantity,
    /// The variant does not exist.
    MerchandiseNotFound,
    /// More than is in stock; `quantityAvailable` says how many are.
    InsufficientStock,
    /// No such cart (or it expired, or it is someone else's).
    CartNotFound,
    /// No such line in the cart.
    LineNotFound,
    /// The cart would hold more lines than allowed.
    TooManyLines,
    /// The discount code does not exist or does not apply.
    InvalidDiscountCode,
    /// The cart was checked out; it no longer changes.
    AlreadyCheckedOut,
}

/// An expected failure of a cart mutation.
#[derive(SimpleObject, Debug, Clone, PartialEq, Eq)]
pub struct CartUserError {
    /// The path to the input at fault, when one is.
    pub field: Option<Vec<String>>,
    /// What is wrong, for people.
    pub message: String,
    /// What is wrong, for programs.
    pub code: CartErrorCode,
    /// With `INSUFFICIENT_STOCK`: how many are in stock.
    pub quantity_available: Option<i64>,
}

impl CartUserError {
    /// An error about the input at `field`.
    pub fn new(field: &[String], code: CartErrorCode, message: impl Into<String>) -> Self {
        Self {
            field: (!field.is_empty()).then(|| field.to_vec()),
            message: message.into(),
            code,
            quantity_available: None,
        }
    }
}

/// A path into the input: `["lines", "0", "quantity"]`.
pub fn path(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|p| (*p).to_owned()).collect()
}
