//! Prometheus metrics of the backends, in one registry that `/metrics` renders.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// Labels of a store request: which `Table` operation.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StoreOp {
    /// The operation (`batch_get`, `query`, `put`, …).
    pub op: &'static str,
}

/// Labels of a cache lookup: which tier, and whether it had the entry.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CacheOutcome {
    /// `l1` (in-process) or `l2` (Redis).
    pub tier: &'static str,
    /// `hit` or `miss`.
    pub result: &'static str,
}

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

/// Every metric of the gateway's backends.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Store requests by operation: one per `Table` call (a batch is one request).
    pub store_requests: Family<StoreOp, Counter>,
    /// Cache lookups by tier and outcome.
    pub cache_requests: Family<CacheOutcome, Counter>,
    /// Customer-identity operations by outcome (spikes of `rejected` or `throttled` sign-ins
    /// are what credential stuffing looks like).
    pub identity_operations: Family<IdentityOutcome, Counter>,
    /// Access tokens checked, by result.
    pub token_checks: Family<TokenCheck, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with every metric registered, all at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("storefront");
        let store_requests = Family::<StoreOp, Counter>::default();
        registry.register(
            "store_requests",
            "Requests to the store, by Table operation",
            store_requests.clone(),
        );
        let cache_requests = Family::<CacheOutcome, Counter>::default();
        registry.register(
            "cache_requests",
            "Cache lookups, by tier (l1 in-process, l2 Redis) and result",
            cache_requests.clone(),
        );
        let identity_operations = Family::<IdentityOutcome, Counter>::default();
        registry.register(
            "identity_operations",
            "Customer identity operations, by operation and outcome",
            identity_operations.clone(),
        );
        let token_checks = Family::<TokenCheck, Counter>::default();
        registry.register(
            "token_checks",
            "Access tokens checked, by result",
            token_checks.clone(),
        );
        Self {
            registry,
            store_requests,
            cache_requests,
            identity_operations,
            token_checks,
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }

    /// The current count of cache lookups of one tier and result.
    pub fn cache_count(&self, tier: &'static str, result: &'static str) -> u64 {
        self.cache_requests
            .get_or_create(&CacheOutcome { tier, result })
            .get()
    }

    /// Counts an identity operation's outcome.
    pub fn identity(&self, operation: &'static str, outcome: &'static str) {
        self.identity_operations
            .get_or_create(&IdentityOutcome { operation, outcome })
            .inc();
    }

    /// The current count of one identity operation's outcome.
    pub fn identity_count(&self, operation: &'static str, outcome: &'static str) -> u64 {
        self.identity_operations
            .get_or_create(&IdentityOutcome { operation, outcome })
            .get()
    }

    /// Counts an access-token check.
    pub fn token_check(&self, result: &'static str) {
        self.token_checks
            .get_or_create(&TokenCheck { result })
            .inc();
    }

    /// The current count of token checks with one result.
    pub fn token_check_count(&self, result: &'static str) -> u64 {
        self.token_checks
            .get_or_create(&TokenCheck { result })
            .get()
    }

    /// The current count of store requests of one operation.
    pub fn store_request_count(&self, op: &'static str) -> u64 {
        self.store_requests.get_or_create(&StoreOp { op }).get()
    }
}
