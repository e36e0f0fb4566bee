//! The identity domain's metrics: operations by outcome and access-token checks by result.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use crate::Metrics;

/// Labels of a customer-identity operation: which, and how it ended.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct IdentityOutcome {
    /// `sign_up`, `confirm_sign_up`, `sign_in`, `token_refresh`, `sign_out`, `code_request`,
    /// `password_reset`.
    pub operation: &'static str,
    /// `ok`, `rejected` (a user error), `throttled` or `error`.
    pub outcome: &'static str,
}

/// Labels of an access-token check.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TokenCheck {
    /// `valid`, `invalid` or `unavailable` (the keys could not be fetched).
    pub result: &'static str,
}

/// The identity domain's counters, registered in the gateway's registry.
#[derive(Debug, Clone, Default)]
pub struct IdentityMetrics {
    /// Customer-identity operations by outcome (spikes of `rejected` or `throttled` sign-ins
    /// are what credential stuffing looks like).
    pub operations: Family<IdentityOutcome, Counter>,
    /// Access tokens checked, by result.
    pub token_checks: Family<TokenCheck, Counter>,
}

impl IdentityMetrics {
    /// The counters, registered in `metrics`.
    pub fn registered(metrics: &Metrics) -> Self {
        let own = Self::default();
        metrics.register(
            "identity_operations",
            "Customer identity operations, by operation and outcome",
            own.operations.clone(),
        );
        metrics.register(
            "token_checks",
            "Access tokens checked, by result",
            own.token_checks.clone(),
        );
        own
    }

    /// Counts an identity operation's outcome.
    pub fn identity(&self, operation: &'static str, outcome: &'static str) {
        self.operations
            .get_or_create(&IdentityOutcome { operation, outcome })
            .inc();
    }

    /// Counts an access-token check.
    pub fn token_check(&self, result: &'static str) {
        self.token_checks
            .get_or_create(&TokenCheck { result })
            .inc();
    }
}
