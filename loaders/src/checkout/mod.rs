//! Checkout and orders: a cart becomes an order in one conditional transaction (stock,
//! discount usage, the order, its outbox message, the idempotency record), the payment is
//! taken through a `PaymentProvider`, checkouts are scored by the fraud domain's check, and a
//! sweeper finishes what interrupted checkouts left.

pub mod metrics;
pub mod orders;
pub mod payment;
pub mod place;
pub mod relay;
pub mod status;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use metrics::CheckoutMetrics;
pub use orders::{
    OrderLineRecord, OrderRecord, OrderStatus, OrderStore, PaymentRecord, PaymentState,
    StatusChange,
};
pub use payment::{EmbeddedPayments, PaymentProvider};
pub use place::{Checkout, CheckoutRequest, Fulfilment, PICKUP, Placed, Refusal, Refused};
pub use status::{StatusError, StatusLine};

use crate::cart::Carts;
use crate::domain::{
    Domain, DomainConfig, OpenError, Services, SettingError, Shared, SharedSettings, parse_section,
};
use crate::fraud::Fraud;
use crate::periodic::{self, First};

/// The payment processor (`[checkout.payments]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PaymentsConfig {
    /// `embedded` (the test processor, with its test tokens) or `http`.
    pub engine: PaymentsEngine,
    /// The HTTP processor's base URL.
    pub url: Option<String>,
    /// The HTTP processor's API key (prefer `STOREFRONT_PAYMENTS_API_KEY`).
    pub api_key: Option<String>,
    /// Milliseconds a processor call may take before it counts as unanswered.
    pub timeout_ms: u64,
}

/// Which payment processor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PaymentsEngine {
    /// The embedded test processor.
    #[default]
    Embedded,
    /// A processor over HTTP ([`payment::HttpPayments`]).
    Http,
}

impl Default for PaymentsConfig {
    fn default() -> Self {
        Self {
            engine: PaymentsEngine::Embedded,
            url: None,
            api_key: None,
            timeout_ms: 10_000,
        }
    }
}

/// Where the outbox goes (`[checkout.outbox]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboxConfig {
    /// `embedded` (the durable queue in the store) or `sqs` (an SQS FIFO queue).
    pub engine: OutboxEngine,
    /// The FIFO queue's URL (engine `sqs`).
    pub sqs_queue_url: Option<String>,
    /// Endpoint override for SQS (moto, LocalStack).
    pub endpoint_url: Option<String>,
    /// Milliseconds between relay passes (0: no relay on this replica).
    pub relay_millis: u64,
}

/// Where outbox messages are delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutboxEngine {
    /// The durable queue in the store, read with its consumer API.
    #[default]
    Embedded,
    /// Amazon SQS FIFO.
    Sqs,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        Self {
            engine: OutboxEngine::Embedded,
            sqs_queue_url: None,
            endpoint_url: None,
            relay_millis: 500,
        }
    }
}

/// The checkout domain's settings (`[checkout]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CheckoutConfig {
    /// Seconds between sweeps for interrupted checkouts (0: no sweeper).
    pub sweep_seconds: u64,
    /// Seconds an order may stay pending before the sweeper settles it.
    pub settle_after_seconds: u64,
    /// The outbox's destination.
    pub outbox: OutboxConfig,
    /// The payment processor.
    pub payments: PaymentsConfig,
}

impl Default for CheckoutConfig {
    fn default() -> Self {
        Self {
            sweep_seconds: 30,
            settle_after_seconds: 120,
            outbox: OutboxConfig::default(),
            payments: PaymentsConfig::default(),
        }
    }
}

impl DomainConfig for CheckoutConfig {
    fn validate(&self, section: &str, _shared: &SharedSettings) -> Result<(), SettingError> {
        if self.outbox.engine == OutboxEngine::Sqs
            && !self
                .outbox
                .sqs_queue_url
                .as_deref()
                .is_some_and(|u| u.starts_with("http") && u.ends_with(".fifo"))
        {
            return Err(SettingError::new(
                format!("{section}.outbox.sqs_queue_url"),
                "the `sqs` outbox needs the URL of a FIFO queue (ending in .fifo)",
            ));
        }
        if self.payments.engine == PaymentsEngine::Http
            && (!self
                .payments
                .url
                .as_deref()
                .is_some_and(|u| u.starts_with("http://") || u.starts_with("https://"))
                || self.payments.api_key.as_deref().is_none_or(str::is_empty)
                || self.payments.timeout_ms == 0)
        {
            return Err(SettingError::new(
                format!("{section}.payments"),
                "the `http` processor needs `url` (http or https), `api_key` and a timeout of at least 1 ms",
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

    fn variables(&self) -> &'static [crate::domain::Variable] {
        &[
            crate::domain::Variable {
                name: "STOREFRONT_PAYMENTS_URL",
                key: "payments.url",
                kind: crate::domain::ValueKind::Text,
            },
            crate::domain::Variable {
                name: "STOREFRONT_PAYMENTS_API_KEY",
                key: "payments.api_key",
                kind: crate::domain::ValueKind::Text,
            },
            crate::domain::Variable {
                name: "STOREFRONT_OUTBOX_ENGINE",
                key: "outbox.engine",
                kind: crate::domain::ValueKind::Text,
            },
            crate::domain::Variable {
                name: "STOREFRONT_OUTBOX_SQS_QUEUE_URL",
                key: "outbox.sqs_queue_url",
                kind: crate::domain::ValueKind::Text,
            },
        ]
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
        let payments: Arc<dyn PaymentProvider> = match (
            shared.plugged.get::<Arc<dyn PaymentProvider>>(),
            config.payments.engine,
        ) {
            (Some(plugged), _) => Arc::clone(plugged),
            (None, PaymentsEngine::Embedded) => {
                Arc::new(EmbeddedPayments::new(test_processor_records(shared)?))
            }
            (None, PaymentsEngine::Http) => Arc::new(
                payment::HttpPayments::new(
                    config.payments.url.as_deref().unwrap_or_default(),
                    config.payments.api_key.clone().unwrap_or_default(),
                    Duration::from_millis(config.payments.timeout_ms),
                )
                .map_err(|e| OpenError::new(format!("cannot set up the payment processor: {e}")))?,
            ),
        };
        let fraud = services.get::<Arc<Fraud>>().cloned().ok_or_else(|| {
            OpenError::new("checkout needs the fraud domain, registered before it")
        })?;
        let metrics = CheckoutMetrics::registered(&shared.metrics);
        let queue = relay::LocalQueue::new(Arc::clone(&shared.table));
        let sinks = sinks(&config.outbox, shared, &queue).await?;
        services.insert(Arc::new(relay::Relay::new(
            Arc::clone(&shared.table),
            relay::PENDING,
            sinks,
            metrics.outbox.clone(),
        )));
        services.insert(queue);
        let checkout = Checkout {
            table: Arc::clone(&shared.table),
            fresh: Arc::clone(&shared.uncached),
            orders: OrderStore::new(Arc::clone(&shared.table)),
            carts,
            payments,
            fraud,
            metrics,
        };
        services.insert(Arc::new(checkout));
        services.insert(Arc::new(config));
        Ok(())
    }

    fn feeds(&self) -> &'static [&'static str] {
        &["order-status"]
    }

    fn feed_key(&self, feed: &str) -> &'static [&'static str] {
        if feed == "order-status" {
            &["orderId"]
        } else {
            &[]
        }
    }

    // A replica that relays hands over what is waiting before it exits.
    async fn stop(&self, _section: &toml::Table, services: &Services) -> Option<String> {
        let config = services.get::<Arc<CheckoutConfig>>()?;
        let relay = services.get::<Arc<relay::Relay>>()?;
        if config.outbox.relay_millis == 0 {
            return None;
        }
        Some(match relay.drain().await {
            Ok(n) => format!("the order outbox relayed its last {n} messages"),
            Err(e) => format!("the order outbox's last pass failed: {e}"),
        })
    }

    async fn import(
        &self,
        services: &Services,
        feed: &str,
        lines: Box<dyn std::io::BufRead + Send>,
    ) -> Result<crate::domain::FeedReport, OpenError> {
        if feed != "order-status" {
            return Err(OpenError::new(format!("checkout has no feed `{feed}`")));
        }
        let checkout = services
            .get::<Arc<Checkout>>()
            .ok_or_else(|| OpenError::new("checkout is not open"))?;
        let mut report = crate::domain::FeedReport::default();
        let (mut applied, mut passed) = (0, 0);
        for (number, line) in std::io::BufRead::lines(lines).enumerate() {
            let number = number + 1;
            let line = match line {
                Ok(line) if line.trim().is_empty() => continue,
                Ok(line) => line,
                Err(e) => {
                    report.failures.push((number, e.to_string()));
                    continue;
                }
            };
            let update: StatusLine = match serde_json::from_str(&line) {
                Ok(update) => update,
                Err(e) => {
                    report.failures.push((number, e.to_string()));
                    continue;
                }
            };
            match checkout
                .update_status(&update.order_id, update.status, update.note)
                .await
            {
                Ok(_) => applied += 1,
                // Redelivered or replayed: the order is there or past it already.
                Err(StatusError::Illegal { from, .. })
                    if OrderStatus::named(from).is_some_and(|at| at.has_passed(update.status)) =>
                {
                    passed += 1;
                }
                Err(e) => {
                    // A store that failed reads as a conflict: both may pass on a retry.
                    if matches!(e, StatusError::Conflict) {
                        report.retry.push(number);
                    }
                    report
                        .failures
                        .push((number, format!("order `{}`: {e}", update.order_id)));
                }
            }
        }
        report.summary = format!(
            "{applied} status updates applied, {passed} already reached, {} refused",
            report.failures.len()
        );
        Ok(report)
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
        let mut started = Vec::new();
        if let Some(relay) = services
            .get::<Arc<relay::Relay>>()
            .cloned()
            .filter(|_| config.outbox.relay_millis > 0)
        {
            let every = Duration::from_millis(config.outbox.relay_millis);
            periodic::every(every, First::Now, move || {
                let relay = Arc::clone(&relay);
                async move {
                    if let Err(e) = relay.pass(100).await {
                        tracing::warn!(error = %e, "the outbox relay pass failed");
                    }
                }
            });
            started.push(format!(
                "outbox relay every {} ms",
                config.outbox.relay_millis
            ));
        }
        if config.sweep_seconds == 0 {
            return Ok((!started.is_empty()).then(|| started.join(", ")));
        }
        let every = Duration::from_secs(config.sweep_seconds);
        let older_than = Duration::from_secs(config.settle_after_seconds);
        periodic::every(every, First::AfterAPeriod, move || {
            let checkout = Arc::clone(&checkout);
            async move {
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

/// The sinks the outbox configuration names.
async fn sinks(
    config: &OutboxConfig,
    shared: &Shared,
    queue: &relay::LocalQueue,
) -> Result<Vec<Arc<dyn relay::OutboxSink>>, OpenError> {
    if let Some(plugged) = shared.plugged.get::<relay::OutboxSinks>() {
        return Ok(plugged.0.clone());
    }
    let mut sinks: Vec<Arc<dyn relay::OutboxSink>> = Vec::new();
    match config.engine {
        OutboxEngine::Embedded => sinks.push(Arc::new(queue.clone())),
        OutboxEngine::Sqs => {
            let sdk = crate::aws::engine_config(
                "the SQS outbox",
                shared.settings.aws_region.as_deref(),
                config.endpoint_url.as_deref(),
            )
            .await?;
            let url = config.sqs_queue_url.clone().unwrap_or_default();
            sinks.push(Arc::new(relay::SqsFifo::new(
                crate::observed_client!(aws_sdk_sqs, &sdk, &shared.metrics),
                url,
            )));
        }
    }
    Ok(sinks)
}

/// Where the embedded test processor keeps its records: the shared table when replicas share
/// it (DynamoDB), so that every replica's lookups agree; otherwise a memory of its own, as a
/// real processor keeps its records apart from the gateway's store (and off its commits). A
/// restart forgets them, which for a test processor means nothing was charged: the sweeper
/// then undoes what was pending.
fn test_processor_records(shared: &Shared) -> Result<Arc<dyn crate::store::Table>, OpenError> {
    Ok(match shared.settings.store {
        crate::store::StoreEngine::Aws => Arc::clone(&shared.table),
        _ => Arc::new(crate::store::RedbTable::in_memory().map_err(|e| {
            OpenError::new(format!("cannot open the test processor's records: {e}"))
        })?),
    })
}
