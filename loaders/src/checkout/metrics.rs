//! The checkout domain's metrics: checkouts by outcome, payment calls by operation and result
//! with their latency, and the outbox's depth and the age of its oldest message.

use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;

use crate::Metrics;
use crate::outbox::OutboxMetrics;

/// How a checkout ended.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CheckoutOutcome {
    /// `paid`, `on_hold`, `pending`, `declined`, `payment_failed`, `blocked`,
    /// `out_of_stock`, `refused` or `error`.
    pub outcome: &'static str,
}

/// A payment call.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PaymentCall {
    /// `charge` (authorize and capture), `authorize`, `capture`, `void`, `refund` or `lookup`.
    pub op: &'static str,
    /// `ok` or `error` (a decline counts as `error`).
    pub result: &'static str,
}

/// The checkout domain's metrics, registered in the gateway's registry.
#[derive(Debug, Clone)]
pub struct CheckoutMetrics {
    /// Checkouts by outcome.
    pub checkouts: Family<CheckoutOutcome, Counter>,
    /// Payment calls by operation and result.
    pub payment_calls: Family<PaymentCall, Counter>,
    /// Payment call latency, by operation.
    pub payment_seconds: Family<PaymentCall, Histogram>,
    /// The order hand-off's outbox.
    pub outbox: OutboxMetrics,
}

fn latency() -> Histogram {
    Histogram::new([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0])
}

impl Default for CheckoutMetrics {
    fn default() -> Self {
        Self {
            checkouts: Family::default(),
            payment_calls: Family::default(),
            payment_seconds: Family::new_with_constructor(latency),
            outbox: OutboxMetrics::default(),
        }
    }
}

impl CheckoutMetrics {
    /// The metrics, registered in `metrics`.
    pub fn registered(metrics: &Metrics) -> Self {
        let own = Self {
            outbox: OutboxMetrics::registered(metrics, "outbox"),
            ..Self::default()
        };
        metrics.register("checkouts", "Checkouts, by outcome", own.checkouts.clone());
        metrics.register(
            "payment_calls",
            "Payment provider calls, by operation and result",
            own.payment_calls.clone(),
        );
        metrics.register(
            "payment_seconds",
            "Payment provider call latency",
            own.payment_seconds.clone(),
        );
        own
    }

    /// Counts a checkout.
    pub fn checkout(&self, outcome: &'static str) {
        self.checkouts
            .get_or_create(&CheckoutOutcome { outcome })
            .inc();
    }

    /// Counts a payment call that started at `started`.
    pub fn payment_call<E>(&self, op: &'static str, result: Result<(), &E>, started: Instant) {
        let call = PaymentCall {
            op,
            result: if result.is_ok() { "ok" } else { "error" },
        };
        self.payment_calls.get_or_create(&call).inc();
        self.payment_seconds
            .get_or_create(&call)
            .observe(started.elapsed().as_secs_f64());
    }
}
