//! An outbox's metrics: messages waiting, the age of the oldest, and deliveries.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;

use crate::Metrics;

/// One outbox's metrics.
#[derive(Debug, Clone, Default)]
pub struct OutboxMetrics {
    /// Messages waiting.
    pub depth: Gauge,
    /// Age of the oldest waiting message, in seconds.
    pub oldest_seconds: Gauge,
    /// Messages delivered.
    pub delivered: Counter,
}

impl OutboxMetrics {
    /// The metrics of the outbox named `name` (`outbox`, `events_outbox`), registered in
    /// `metrics` as `storefront_{name}_depth` and so on.
    pub fn registered(metrics: &Metrics, name: &str) -> Self {
        let own = Self::default();
        metrics.register(
            &format!("{name}_depth"),
            "Outbox messages waiting for delivery",
            own.depth.clone(),
        );
        metrics.register(
            &format!("{name}_oldest_seconds"),
            "Age of the oldest waiting outbox message",
            own.oldest_seconds.clone(),
        );
        metrics.register(
            &format!("{name}_delivered"),
            "Outbox messages delivered",
            own.delivered.clone(),
        );
        own
    }
}
