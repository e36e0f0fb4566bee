//! Carts: lines of variants, discount codes, the buyer, and what it all costs (tax and
//! shipping from config, discounts from the table). A cart's id is an unguessable token; the
//! store keeps only its digest.

pub mod abandoned;
pub mod merge;
pub mod pricing;
pub mod records;
pub mod store;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

pub use abandoned::AbandonedCarts;
pub use merge::{MergeChange, MergeKind, Merged};
pub use pricing::{
    CartCost, LineInput, PricedLine, ShippingMethod, TaxRate, cents, price, tax_rate,
};
pub use records::{
    AttributeRecord, BuyerRecord, CartLineRecord, CartRecord, DiscountRecord, DiscountValue, keys,
};
pub use store::{CartChangeError, CartStore};

use crate::domain::{
    Domain, DomainConfig, OpenError, Services, SettingError, Shared, SharedSettings, ValueKind,
    Variable, parse_section,
};

/// What happens to a guest's cart when the guest signs in and already has a customer cart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MergePolicy {
    /// Both carts' lines together; quantities of one variant add up (clipped to stock).
    #[default]
    Merge,
    /// The newer cart wins.
    KeepNewest,
    /// The customer's cart wins.
    KeepCustomer,
}

/// The cart domain's settings (`[cart]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CartConfig {
    /// The most lines one cart may hold.
    pub max_lines: usize,
    /// The most units of one line.
    pub max_quantity: u32,
    /// Days a guest cart lives after its last change.
    pub guest_cart_days: u64,
    /// Days a customer's cart lives after its last change.
    pub customer_cart_days: u64,
    /// Guest carts at sign-in.
    pub merge: MergePolicy,
    /// Tax rates by country and region.
    pub tax_rates: Vec<TaxRate>,
    /// Shipping methods.
    pub shipping_methods: Vec<ShippingMethod>,
    /// Minutes an open cart with lines stays untouched before it counts as abandoned (one
    /// `CartAbandoned` event).
    pub abandoned_after_minutes: u64,
    /// Seconds between sweeps for abandoned carts (0: no sweeper on this replica).
    pub abandoned_sweep_seconds: u64,
    /// Write the demo discount codes when there are none.
    pub seed_demo: bool,
}

fn decimal(text: &str) -> Decimal {
    Decimal::from_str(text).expect("a literal decimal")
}

impl Default for CartConfig {
    fn default() -> Self {
        let rate = |country: &str, region: Option<&str>, rate: &str, inclusive| TaxRate {
            country: country.into(),
            region: region.map(str::to_owned),
            rate: decimal(rate),
            inclusive,
        };
        Self {
            max_lines: 50,
            max_quantity: 999,
            guest_cart_days: 14,
            customer_cart_days: 90,
            merge: MergePolicy::Merge,
            tax_rates: vec![
                rate("US", Some("CA"), "0.0725", false),
                rate("US", Some("NY"), "0.04", false),
                rate("US", None, "0", false),
                rate("CA", None, "0.05", false),
                rate("GB", None, "0.2", true),
                rate("DE", None, "0.19", true),
                rate("FR", None, "0.2", true),
            ],
            shipping_methods: vec![
                ShippingMethod {
                    handle: "standard".into(),
                    title: "Standard (3–5 days)".into(),
                    price: decimal("4.99"),
                    free_over: Some(decimal("75")),
                },
                ShippingMethod {
                    handle: "express".into(),
                    title: "Express (next day)".into(),
                    price: decimal("14.99"),
                    free_over: None,
                },
            ],
            abandoned_after_minutes: 60,
            abandoned_sweep_seconds: 60,
            seed_demo: true,
        }
    }
}

impl DomainConfig for CartConfig {
    fn validate(&self, section: &str, _shared: &SharedSettings) -> Result<(), SettingError> {
        let bad =
            |key: &str, reason: &str| Err(SettingError::new(format!("{section}.{key}"), reason));
        // A checkout writes each line's stock, the order, its outbox message, the idempotency
        // record, the cart and up to 5 discount usages in one transaction of at most 100.
        if !(1..=80).contains(&self.max_lines) {
            return bad(
                "max_lines",
                "must be 1 to 80 (a checkout is one transaction)",
            );
        }
        if self.abandoned_after_minutes == 0 {
            return bad("abandoned_after_minutes", "must be at least 1");
        }
        if self.max_quantity == 0 {
            return bad("max_quantity", "must be at least 1");
        }
        if self.guest_cart_days == 0 || self.customer_cart_days == 0 {
            return bad("guest_cart_days", "cart lifetimes must be at least 1 day");
        }
        if self
            .tax_rates
            .iter()
            .any(|r| r.rate < Decimal::ZERO || r.rate >= Decimal::ONE || r.country.len() != 2)
        {
            return bad(
                "tax_rates",
                "every rate needs a 2-letter country and a rate from 0 to below 1",
            );
        }
        let mut handles = std::collections::BTreeSet::new();
        for method in &self.shipping_methods {
            if method.price < Decimal::ZERO || !handles.insert(method.handle.as_str()) {
                return bad(
                    "shipping_methods",
                    "every method needs a handle of its own and a price of at least 0",
                );
            }
        }
        Ok(())
    }
}

impl CartConfig {
    /// How long a cart lives after its last change.
    pub fn ttl(&self, guest: bool) -> Duration {
        let days = if guest {
            self.guest_cart_days
        } else {
            self.customer_cart_days
        };
        Duration::from_secs(days * 24 * 3600)
    }

    /// The shipping method with this handle.
    pub fn shipping_method(&self, handle: &str) -> Option<&ShippingMethod> {
        self.shipping_methods.iter().find(|m| m.handle == handle)
    }
}

/// The cart domain's service: the store and the settings.
#[derive(Clone)]
pub struct Carts {
    /// Carts and discount codes.
    pub store: CartStore,
    /// The `[cart]` settings.
    pub config: Arc<CartConfig>,
}

/// Demo discount codes: 10 % off, 5 off from 50, free shipping, and one with a usage limit.
pub fn demo_discounts() -> Vec<DiscountRecord> {
    let code = |code: &str, value, minimum: Option<&str>, limit| DiscountRecord {
        code: code.into(),
        value,
        minimum_subtotal: minimum.map(decimal),
        starts_at: None,
        ends_at: None,
        usage_limit: limit,
        per_customer_limit: Some(1),
        used: 0,
    };
    vec![
        code(
            "WELCOME10",
            DiscountValue::Percentage(decimal("10")),
            None,
            None,
        ),
        code(
            "FIVEOFF50",
            DiscountValue::FixedAmount(decimal("5")),
            Some("50"),
            None,
        ),
        code("FREESHIP", DiscountValue::FreeShipping, None, None),
        code(
            "FIRST100",
            DiscountValue::Percentage(decimal("20")),
            None,
            Some(100),
        ),
    ]
}

/// The cart domain.
pub struct CartDomain;

/// The cart domain, as registered in the schema crate.
pub static DOMAIN: CartDomain = CartDomain;

#[async_trait::async_trait]
impl Domain for CartDomain {
    fn name(&self) -> &'static str {
        "cart"
    }

    fn variables(&self) -> &'static [Variable] {
        &[Variable {
            name: "STOREFRONT_CART_MAX_LINES",
            key: "max_lines",
            kind: ValueKind::Integer,
        }]
    }

    fn check(&self, section: &toml::Table, shared: &SharedSettings) -> Result<(), SettingError> {
        parse_section::<CartConfig>(self.name(), section, shared).map(drop)
    }

    async fn open(
        &self,
        section: &toml::Table,
        shared: &Shared,
        services: &mut Services,
    ) -> Result<(), OpenError> {
        let config = parse_section::<CartConfig>(self.name(), section, &shared.settings)?;
        services.insert(Carts {
            store: CartStore::new(Arc::clone(&shared.table)),
            config: Arc::new(config),
        });
        services.insert(AbandonedCarts::new(Arc::clone(&shared.table)));
        Ok(())
    }

    async fn start(
        &self,
        _section: &toml::Table,
        services: &Services,
    ) -> Result<Option<String>, OpenError> {
        let sweeper = services
            .get::<Carts>()
            .zip(services.get::<AbandonedCarts>());
        let sweeping = match sweeper.filter(|(c, _)| c.config.abandoned_sweep_seconds > 0) {
            Some((carts, sweeper)) => {
                let sweeper = sweeper.clone();
                let idle = Duration::from_secs(carts.config.abandoned_after_minutes * 60);
                let every = Duration::from_secs(carts.config.abandoned_sweep_seconds);
                crate::periodic::every(every, crate::periodic::First::AfterAPeriod, move || {
                    let sweeper = sweeper.clone();
                    async move {
                        match sweeper.sweep(idle).await {
                            Ok(0) => {}
                            Ok(n) => tracing::info!(announced = n, "abandoned carts announced"),
                            Err(e) => tracing::warn!(error = %e, "the abandoned-cart sweep failed"),
                        }
                    }
                });
                Some(format!(
                    "abandoned-cart sweeper every {} s",
                    carts.config.abandoned_sweep_seconds
                ))
            }
            None => None,
        };
        let Some(carts) = services.get::<Carts>().filter(|c| c.config.seed_demo) else {
            return Ok(sweeping);
        };
        let codes: Vec<String> = demo_discounts().into_iter().map(|d| d.code).collect();
        let found = carts
            .store
            .discounts(&codes)
            .await
            .map_err(|e| OpenError::new(format!("cannot read the store: {e}")))?;
        if !found.is_empty() {
            return Ok(sweeping);
        }
        let seeded = self.seed(services, 0).await?;
        Ok(match (seeded, sweeping) {
            (Some(a), Some(b)) => Some(format!("{a}, {b}")),
            (a, b) => a.or(b),
        })
    }

    async fn seed(&self, services: &Services, _size: usize) -> Result<Option<String>, OpenError> {
        let Some(carts) = services.get::<Carts>() else {
            return Ok(None);
        };
        let discounts = demo_discounts();
        for discount in &discounts {
            carts
                .store
                .put_discount(discount)
                .await
                .map_err(|e| OpenError::new(format!("cannot write the demo discounts: {e}")))?;
        }
        Ok(Some(format!("{} discount codes", discounts.len())))
    }
}
