//! Checkout and orders: a cart becomes an order in one conditional transaction (stock,
//! discount usage, the order, its outbox message, the idempotency record), the payment is
//! taken through a `PaymentProvider`, checkouts are scored by a `FraudScorer`, and a sweeper
//! finishes what interrupted checkouts left.

pub mod fraud;
pub mod metrics;
pub mod orders;
pub mod outbox;
pub mod payment;
pub mod place;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use fraud::{FraudRules, FraudScorer, RuleScorer, Verdict};
pub use metrics::CheckoutMetrics;
pub use orders::{
    OrderLineRecord, OrderRecord, OrderStatus, OrderStore, PaymentRecord, PaymentState,
    StatusChange,
};
pub use payment::{EmbeddedPayments, PaymentProvider};
pub use place::{Checkout, CheckoutRequest, Placed, Refusal, Refused};

use crate::cart::Carts;
use crate::domain::{
    Domain, DomainConfig, OpenError, Services, SettingError, Shared, SharedSettings, parse_section,
};
use crate::rate_limit::{RateLimitSettings, RateLimiter};

/// The checkout domain's settings (`[checkout]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CheckoutConfig {
    /// The fraud rules.
    pub fraud: FraudRules,
    /// Seconds between sweeps for interrupted checkouts (0: no sweeper).
    pub sweep_seconds: u64,
    /// Seconds an order may stay pending before the sweeper settles it.
    pub settle_after_seconds: u64,
}

impl Default for CheckoutConfig {
    fn default() -> Self {
        Self {
            fraud: FraudRules::default(),
            sweep_seconds: 30,
            settle_after_seconds: 120,
        }
    }
}

impl DomainConfig for CheckoutConfig {
    fn validate(&self, section: &str, _shared: &SharedSettings) -> Result<(), SettingError> {
        if self.fraud.orders_per_hour == 0 || self.fraud.review_over > self.fraud.block_over {
            return Err(SettingError::new(
                format!("{section}.fraud"),
                "orders_per_hour must be at least 1, and review_over at most block_over",
            ));
        }
        Ok(())
    }
}

/// The checkout domain.
pub struct CheckoutDomain;

/// The checkout domain, as registered in the schema crate.
pub static DOMAIN: CheckoutDomain = CheckoutDomain;

#[async_trait::async_trait]
impl Domain for CheckoutDomain {
    fn name(&self) -> &'static str {
        "checkout"
    }

    fn check(&self, section: &toml::Table, shared: &SharedSettings) -> Result<(), SettingError> {
        parse_section::<CheckoutConfig>(self.name(), section, shared).map(drop)
    }

    async fn open(
        &self,
        section: &toml::Table,
        shared: &Shared,
        services: &mut Services,
    ) -> Result<(), OpenError> {
        let config = parse_section::<CheckoutConfig>(self.name(), section, &shared.settings)?;
        let carts = services.get::<Carts>().cloned().ok_or_else(|| {
            OpenError::new("checkout needs the cart domain, registered before it")
        })?;
        let payments = shared
            .plugged
            .get::<Arc<dyn PaymentProvider>>()
            .cloned()
            .unwrap_or_else(|| Arc::new(EmbeddedPayments::new(Arc::clone(&shared.table))));
        let velocity = RateLimiter::new(
            RateLimitSettings {
                budget: config.fraud.orders_per_hour,
                window: Duration::from_secs(3600),
            },
            shared.redis.clone(),
            &format!("{}fraud:", shared.settings.namespace),
        );
        let checkout = Checkout {
            table: Arc::clone(&shared.table),
            orders: OrderStore::new(Arc::clone(&shared.table)),
            carts,
            payments,
            fraud: Arc::new(RuleScorer::new(config.fraud.clone(), velocity)),
            metrics: CheckoutMetrics::registered(&shared.metrics),
        };
        services.insert(Arc::new(checkout));
        services.insert(Arc::new(config));
        Ok(())
    }

    async fn start(
        &self,
        _section: &toml::Table,
        services: &Services,
    ) -> Result<Option<String>, OpenError> {
        let (Some(checkout), Some(config)) = (
            services.get::<Arc<Checkout>>().cloned(),
            services.get::<Arc<CheckoutConfig>>().cloned(),
        ) else {
            return Ok(None);
        };
        if config.sweep_seconds == 0 {
            return Ok(None);
        }
        let every = Duration::from_secs(config.sweep_seconds);
        let older_than = chrono::Duration::seconds(
            i64::try_from(config.settle_after_seconds).unwrap_or(i64::MAX),
        );
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            // The first tick is immediate; the first sweep waits a whole period.
            ticks.tick().await;
            loop {
                ticks.tick().await;
                match checkout.sweep(older_than).await {
                    Ok(0) => {}
                    Ok(settled) => {
                        tracing::info!(settled, "the sweeper settled interrupted checkouts")
                    }
                    Err(e) => tracing::warn!(error = %e, "the checkout sweep failed"),
                }
            }
        });
        Ok(Some(format!(
            "checkout sweeper every {} s",
            config.sweep_seconds
        )))
    }
}
