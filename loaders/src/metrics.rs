//! Prometheus metrics of the backends, in one registry that `/metrics` renders.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
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

/// Labels of a response-cache decision.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResponseCacheOutcome {
    /// `hit_l1`, `hit_l2`, `miss`, `bypass`, `stored`, `uncacheable`, `stale` or `too_large`.
    pub outcome: &'static str,
}

/// Labels of a call to a backend service.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BackendCall {
    /// The backend (`store`, or an AWS service: `Pinpoint`, `SQS`, …).
    pub backend: String,
    /// The operation (`batch_get`, `SendMessages`, …).
    pub operation: String,
    /// `ok` or `error`.
    pub result: &'static str,
}

/// Labels of a backend's latency.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BackendName {
    /// As in [`BackendCall`].
    pub backend: String,
}

fn backend_latency() -> Histogram {
    Histogram::new([
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ])
}

/// Every metric of the gateway's backends.
#[derive(Debug)]
pub struct Metrics {
    registry: std::sync::Mutex<Registry>,
    /// Store requests by operation: one per `Table` call (a batch is one request).
    pub store_requests: Family<StoreOp, Counter>,
    /// Cache lookups by tier and outcome.
    pub cache_requests: Family<CacheOutcome, Counter>,
    /// Response-cache lookups and fills, by outcome.
    pub response_cache: Family<ResponseCacheOutcome, Counter>,
    /// Rate-limit decisions taken in-process because Redis failed: while these grow, each
    /// replica counts alone and a client may spend its budget once per replica.
    pub rate_limit_fallbacks: Counter,
    /// Calls to backends (the store, each AWS service), by operation and result.
    pub backend_calls: Family<BackendCall, Counter>,
    /// Their latency, by backend.
    pub backend_seconds: Family<BackendName, Histogram>,
    /// Keys per batched store read (a DataLoader's batch is one read).
    pub store_batch_keys: Histogram,
    /// Whether each AWS service's circuit is open (1) or not.
    pub backend_circuit_open: Family<BackendName, Gauge>,
    /// Calls failed at once by an open circuit, by AWS service.
    pub backend_circuit_refused: Family<BackendName, Counter>,
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
        let response_cache = Family::<ResponseCacheOutcome, Counter>::default();
        registry.register(
            "response_cache",
            "Response-cache lookups (hit_l1, hit_l2, miss, bypass) and fills (stored, uncacheable, stale, too_large)",
            response_cache.clone(),
        );
        let rate_limit_fallbacks = Counter::default();
        registry.register(
            "rate_limit_fallbacks",
            "Rate-limit decisions counted in-process because Redis failed",
            rate_limit_fallbacks.clone(),
        );
        let backend_calls = Family::<BackendCall, Counter>::default();
        registry.register(
            "backend_calls",
            "Calls to the store and to each AWS service, by operation and result",
            backend_calls.clone(),
        );
        let backend_seconds =
            Family::<BackendName, Histogram>::new_with_constructor(backend_latency as fn() -> _);
        registry.register(
            "backend_seconds",
            "Latency of calls to the store and to each AWS service",
            backend_seconds.clone(),
        );
        let store_batch_keys = Histogram::new([1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0]);
        registry.register(
            "store_batch_keys",
            "Keys per batched store read (a loader's batch is one read)",
            store_batch_keys.clone(),
        );
        let backend_circuit_open = Family::<BackendName, Gauge>::default();
        registry.register(
            "backend_circuit_open",
            "Whether an AWS service's circuit is open (its calls fail at once)",
            backend_circuit_open.clone(),
        );
        let backend_circuit_refused = Family::<BackendName, Counter>::default();
        registry.register(
            "backend_circuit_refused",
            "AWS calls failed at once by the service's open circuit",
            backend_circuit_refused.clone(),
        );
        Self {
            registry: std::sync::Mutex::new(registry),
            backend_circuit_open,
            backend_circuit_refused,
            store_batch_keys,
            store_requests,
            cache_requests,
            response_cache,
            rate_limit_fallbacks,
            backend_calls,
            backend_seconds,
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &crate::sync::lock(&self.registry))
            .expect("writing to a String cannot fail");
        out
    }

    /// Counts one response-cache decision.
    pub fn response_cache(&self, outcome: &'static str) {
        self.response_cache
            .get_or_create(&ResponseCacheOutcome { outcome })
            .inc();
    }

    /// The current count of cache lookups of one tier and result.
    pub fn cache_count(&self, tier: &'static str, result: &'static str) -> u64 {
        self.cache_requests
            .get_or_create(&CacheOutcome { tier, result })
            .get()
    }

    /// Counts one call to `backend` that took `took`.
    pub fn backend_call(
        &self,
        backend: &str,
        operation: &str,
        ok: bool,
        took: std::time::Duration,
    ) {
        self.backend_calls
            .get_or_create(&BackendCall {
                backend: backend.to_owned(),
                operation: operation.to_owned(),
                result: if ok { "ok" } else { "error" },
            })
            .inc();
        self.backend_seconds
            .get_or_create(&BackendName {
                backend: backend.to_owned(),
            })
            .observe(took.as_secs_f64());
    }

    /// Registers a domain's metric (a name without the `storefront_` prefix).
    pub fn register(
        &self,
        name: &str,
        help: &str,
        metric: impl prometheus_client::registry::Metric,
    ) {
        crate::sync::lock(&self.registry).register(name, help, metric);
    }

    /// The value of one sample in the text exposition (`storefront_x_total`, with exactly
    /// these labels), 0 when absent: for tests and tools that read metrics as Prometheus does.
    pub fn sample(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        let wanted = if labels.is_empty() {
            name.to_owned()
        } else {
            format!("{name}{{{}}}", labels.join(","))
        };
        self.render()
            .lines()
            .filter_map(|line| line.rsplit_once(' '))
            .find(|(series, _)| *series == wanted)
            .and_then(|(_, value)| value.parse().ok())
            .unwrap_or(0.0)
    }

    /// The current count of store requests of one operation.
    pub fn store_request_count(&self, op: &'static str) -> u64 {
        self.store_requests.get_or_create(&StoreOp { op }).get()
    }
}
