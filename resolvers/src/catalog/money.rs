//! Money: exact decimal amounts with their currency.

use async_graphql::{Enum, SimpleObject};
use rust_decimal::Decimal as Exact;

use crate::scalars::Decimal;

/// ISO 4217 currency codes the catalog prices in.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum CurrencyCode {
    /// United States dollar.
    Usd,
    /// Euro.
    Eur,
    /// Pound sterling.
    Gbp,
    /// Canadian dollar.
    Cad,
}

impl CurrencyCode {
    /// The currency of an ISO code as stored.
    pub fn parse(code: &str) -> Option<Self> {
        match code {
            "USD" => Some(Self::Usd),
            "EUR" => Some(Self::Eur),
            "GBP" => Some(Self::Gbp),
            "CAD" => Some(Self::Cad),
            _ => None,
        }
    }
}

/// An amount of money: an exact decimal (as a string, e.g. "19.99") and its currency.
#[derive(SimpleObject, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Money {
    /// Exact decimal amount with two decimal places.
    pub amount: Decimal,
    /// The currency.
    pub currency_code: CurrencyCode,
}

impl Money {
    /// An amount in a currency given by its stored ISO code (unknown codes are read as USD,
    /// the only currency the feeds accept).
    pub fn new(amount: Exact, currency: &str) -> Self {
        let mut amount = amount.round_dp(2);
        amount.rescale(2);
        Self {
            amount: Decimal(amount),
            currency_code: CurrencyCode::parse(currency).unwrap_or(CurrencyCode::Usd),
        }
    }
}

/// The lowest and highest price of a product's variants.
#[derive(SimpleObject, Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProductPriceRange {
    /// The lowest variant price.
    pub min_variant_price: Money,
    /// The highest variant price.
    pub max_variant_price: Money,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_always_carry_two_decimal_places() {
        assert_eq!(
            Money::new(Exact::new(125, 1), "USD").amount.0.to_string(),
            "12.50"
        );
        assert_eq!(
            Money::new(Exact::new(10, 0), "USD").amount.0.to_string(),
            "10.00"
        );
        assert_eq!(
            Money::new(Exact::new(19999, 3), "EUR").amount.0.to_string(),
            "20.00"
        );
    }
}
