//! What a cart costs: exact decimal arithmetic, each amount rounded half-even to the cent
//! per line; discounts, then tax (inclusive or exclusive, per country and region), then
//! shipping.

use chrono::{DateTime, Utc};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use super::records::{DiscountRecord, DiscountValue};

/// Rounds to the cent, half to even.
pub fn cents(amount: Decimal) -> Decimal {
    let mut rounded = amount.round_dp_with_strategy(2, RoundingStrategy::MidpointNearestEven);
    rounded.rescale(2);
    rounded
}

/// A tax rate of a country (and, optionally, one of its regions).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaxRate {
    /// ISO 3166 country code.
    pub country: String,
    /// Region code; none: the whole country.
    pub region: Option<String>,
    /// The rate, `0.2` for 20 %.
    pub rate: Decimal,
    /// Prices already include the tax (EU style) rather than adding it (US style).
    #[serde(default)]
    pub inclusive: bool,
}

/// A way to ship, with its price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShippingMethod {
    /// Its handle (`standard`, `express`).
    pub handle: String,
    /// Display name.
    pub title: String,
    /// The price.
    pub price: Decimal,
    /// Free from this merchandise subtotal up.
    pub free_over: Option<Decimal>,
}

/// The rate for a country and region: the region's, else the country's, else none.
pub fn tax_rate<'a>(
    rates: &'a [TaxRate],
    country: Option<&str>,
    region: Option<&str>,
) -> Option<&'a TaxRate> {
    let country = country?;
    let of_country = |r: &&TaxRate| r.country.eq_ignore_ascii_case(country);
    rates
        .iter()
        .filter(of_country)
        .find(|r| {
            r.region
                .as_deref()
                .zip(region)
                .is_some_and(|(a, b)| a.eq_ignore_ascii_case(b))
        })
        .or_else(|| rates.iter().filter(of_country).find(|r| r.region.is_none()))
}

/// A line to price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineInput {
    /// The line's id.
    pub line_id: String,
    /// The unit price.
    pub unit_price: Decimal,
    /// How many.
    pub quantity: u32,
}

/// A priced line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricedLine {
    /// The line's id.
    pub line_id: String,
    /// The unit price.
    pub unit_price: Decimal,
    /// Unit price × quantity.
    pub subtotal: Decimal,
    /// What discounts take off the line.
    pub discount: Decimal,
    /// Subtotal less discount.
    pub total: Decimal,
    /// The tax in (inclusive) or on (exclusive) the line's total.
    pub tax: Decimal,
}

/// Whether an entered code applies, and why not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedCode {
    /// The code as entered (upper-case).
    pub code: String,
    /// Whether it takes anything off.
    pub applicable: bool,
    /// Why it does not, when it does not.
    pub reason: Option<String>,
}

/// What a cart costs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CartCost {
    /// Per line.
    pub lines: Vec<PricedLine>,
    /// Sum of line subtotals.
    pub subtotal: Decimal,
    /// Sum of line discounts.
    pub discount_total: Decimal,
    /// Tax (included in `total` either way).
    pub tax_total: Decimal,
    /// Shipping, when a method is chosen.
    pub shipping: Decimal,
    /// What the buyer pays.
    pub total: Decimal,
    /// The entered codes and whether each applies.
    pub codes: Vec<AppliedCode>,
}

/// Why a discount does not apply now, if it does not.
pub fn discount_refusal(
    discount: &DiscountRecord,
    subtotal: Decimal,
    now: DateTime<Utc>,
) -> Option<String> {
    if discount.starts_at.is_some_and(|at| now < at) {
        return Some("the code is not valid yet".into());
    }
    if discount.ends_at.is_some_and(|at| now >= at) {
        return Some("the code has expired".into());
    }
    if discount
        .usage_limit
        .is_some_and(|limit| discount.used >= limit)
    {
        return Some("the code has been used up".into());
    }
    if let Some(minimum) = discount.minimum_subtotal
        && subtotal < minimum
    {
        return Some(format!("the code needs a subtotal of at least {minimum}"));
    }
    None
}

/// Prices `lines` with the entered `codes` (`found`: the discount of each code that exists),
/// the tax `rate` and the shipping `method`.
pub fn price(
    lines: &[LineInput],
    codes: &[String],
    found: &[DiscountRecord],
    rate: Option<&TaxRate>,
    method: Option<&ShippingMethod>,
    now: DateTime<Utc>,
) -> CartCost {
    let subtotals: Vec<Decimal> = lines
        .iter()
        .map(|l| cents(l.unit_price * Decimal::from(l.quantity)))
        .collect();
    let subtotal: Decimal = subtotals.iter().sum();
    let mut discounts = vec![Decimal::ZERO; lines.len()];
    let mut free_shipping = false;
    let mut applied = Vec::new();
    for code in codes {
        let Some(discount) = found.iter().find(|d| &d.code == code) else {
            applied.push(AppliedCode {
                code: code.clone(),
                applicable: false,
                reason: Some("no such code".into()),
            });
            continue;
        };
        if let Some(reason) = discount_refusal(discount, subtotal, now) {
            applied.push(AppliedCode {
                code: code.clone(),
                applicable: false,
                reason: Some(reason),
            });
            continue;
        }
        match &discount.value {
            DiscountValue::Percentage(percent) => {
                for (i, line) in subtotals.iter().enumerate() {
                    let left = *line - discounts[i];
                    discounts[i] += cents(left * *percent / Decimal::from(100)).min(left);
                }
            }
            DiscountValue::FixedAmount(amount) => {
                // Spread over the lines by their share of what is left; the last line takes
                // the rounding remainder.
                let left: Vec<Decimal> = subtotals
                    .iter()
                    .zip(&discounts)
                    .map(|(s, d)| *s - *d)
                    .collect();
                let remaining: Decimal = left.iter().sum();
                let off = (*amount).min(remaining);
                if remaining > Decimal::ZERO {
                    let mut given = Decimal::ZERO;
                    let last = left.iter().rposition(|l| *l > Decimal::ZERO).unwrap_or(0);
                    for (i, l) in left.iter().enumerate() {
                        let share = if i == last {
                            off - given
                        } else {
                            cents(off * *l / remaining)
                        };
                        let share = share.min(*l).max(Decimal::ZERO);
                        discounts[i] += share;
                        given += share;
                    }
                }
            }
            DiscountValue::FreeShipping => free_shipping = true,
        }
        applied.push(AppliedCode {
            code: code.clone(),
            applicable: true,
            reason: None,
        });
    }
    let mut priced = Vec::with_capacity(lines.len());
    let (mut discount_total, mut tax_total, mut merchandise) =
        (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
    for (i, line) in lines.iter().enumerate() {
        let total = subtotals[i] - discounts[i];
        let tax = match rate {
            Some(r) if r.inclusive => total - cents(total / (Decimal::ONE + r.rate)),
            Some(r) => cents(total * r.rate),
            None => Decimal::ZERO,
        };
        discount_total += discounts[i];
        tax_total += tax;
        merchandise += total;
        priced.push(PricedLine {
            line_id: line.line_id.clone(),
            unit_price: line.unit_price,
            subtotal: subtotals[i],
            discount: discounts[i],
            total,
            tax,
        });
    }
    let shipping = match method {
        Some(m) if !free_shipping && m.free_over.is_none_or(|over| subtotal < over) => m.price,
        _ => Decimal::ZERO,
    };
    let exclusive_tax = if rate.is_some_and(|r| !r.inclusive) {
        tax_total
    } else {
        Decimal::ZERO
    };
    CartCost {
        lines: priced,
        subtotal: cents(subtotal),
        discount_total: cents(discount_total),
        tax_total: cents(tax_total),
        shipping: cents(shipping),
        total: cents(merchandise + exclusive_tax + shipping),
        codes: applied,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).expect("decimal")
    }

    fn line(id: &str, price: &str, quantity: u32) -> LineInput {
        LineInput {
            line_id: id.into(),
            unit_price: d(price),
            quantity,
        }
    }

    fn discount(code: &str, value: DiscountValue) -> DiscountRecord {
        DiscountRecord {
            code: code.into(),
            value,
            minimum_subtotal: None,
            starts_at: None,
            ends_at: None,
            usage_limit: None,
            per_customer_limit: None,
            used: 0,
        }
    }

    #[test]
    fn rounding_is_half_even_to_the_cent() {
        assert_eq!(cents(d("0.125")), d("0.12"));
        assert_eq!(cents(d("0.135")), d("0.14"));
        assert_eq!(cents(d("2")).to_string(), "2.00");
    }

    #[test]
    fn a_percentage_then_exclusive_tax_then_shipping() {
        let rate = TaxRate {
            country: "US".into(),
            region: Some("CA".into()),
            rate: d("0.0725"),
            inclusive: false,
        };
        let method = ShippingMethod {
            handle: "standard".into(),
            title: "Standard".into(),
            price: d("4.99"),
            free_over: None,
        };
        let cost = price(
            &[line("a", "19.99", 3), line("b", "5.00", 1)],
            &["TEN".into(), "NOPE".into()],
            &[discount("TEN", DiscountValue::Percentage(d("10")))],
            Some(&rate),
            Some(&method),
            Utc::now(),
        );
        assert_eq!(cost.subtotal, d("64.97"));
        // 59.97 → 6.00 off (5.997 rounds to 6.00); 5.00 → 0.50.
        assert_eq!(cost.discount_total, d("6.50"));
        // 53.97 × 0.0725 = 3.912825 → 3.91; 4.50 × 0.0725 = 0.32625 → 0.33.
        assert_eq!(cost.tax_total, d("4.24"));
        assert_eq!(cost.total, d("58.47") + d("4.24") + d("4.99"));
        assert!(!cost.codes[1].applicable);
    }

    #[test]
    fn inclusive_tax_is_part_of_the_price_and_fixed_amounts_split_exactly() {
        let rate = TaxRate {
            country: "DE".into(),
            region: None,
            rate: d("0.19"),
            inclusive: true,
        };
        let cost = price(
            &[line("a", "10.00", 1), line("b", "20.00", 1)],
            &["FIVE".into()],
            &[discount("FIVE", DiscountValue::FixedAmount(d("5.00")))],
            Some(&rate),
            None,
            Utc::now(),
        );
        let lines: Vec<Decimal> = cost.lines.iter().map(|l| l.discount).collect();
        assert_eq!(lines, [d("1.67"), d("3.33")]);
        assert_eq!(cost.total, d("25.00"), "inclusive tax adds nothing");
        assert_eq!(cost.tax_total, d("3.99"));
    }

    #[test]
    fn a_fixed_amount_never_exceeds_the_merchandise_and_codes_have_conditions() {
        let mut big = discount("BIG", DiscountValue::FixedAmount(d("100")));
        big.minimum_subtotal = Some(d("5"));
        let mut used_up = discount("GONE", DiscountValue::Percentage(d("50")));
        used_up.usage_limit = Some(1);
        used_up.used = 1;
        let cost = price(
            &[line("a", "10.00", 1)],
            &["BIG".into(), "GONE".into()],
            &[big, used_up],
            None,
            None,
            Utc::now(),
        );
        assert_eq!(cost.total, d("0.00"));
        assert_eq!(
            cost.codes[1].reason.as_deref(),
            Some("the code has been used up")
        );
    }
}
