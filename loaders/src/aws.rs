//! The AWS SDK configuration every AWS engine starts from: the standard chain (credentials,
//! region), with the region and endpoint the gateway's settings give.

/// The shared SDK configuration; `None` when no region is set anywhere (setting, `AWS_REGION`
/// or profile), which every AWS engine needs.
pub async fn sdk_config(
    region: Option<&str>,
    endpoint_url: Option<&str>,
) -> Option<aws_config::SdkConfig> {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(region) = region {
        loader = loader.region(aws_config::Region::new(region.to_owned()));
    }
    if let Some(url) = endpoint_url {
        loader = loader.endpoint_url(url);
    }
    let shared = loader.load().await;
    shared.region().is_some().then_some(shared)
}

/// The shared SDK configuration for `what` (an engine, named as its setting is), or the error
/// that says it needs a region.
pub async fn engine_config(
    what: &str,
    region: Option<&str>,
    endpoint_url: Option<&str>,
) -> Result<aws_config::SdkConfig, crate::domain::OpenError> {
    sdk_config(region, endpoint_url).await.ok_or_else(|| {
        crate::domain::OpenError::new(format!(
            "{what} needs an AWS region (`aws.region` or AWS_REGION)"
        ))
    })
}

/// The interceptor every AWS client of the gateway carries: it counts each call by service,
/// operation and result with its latency (`storefront_backend_calls_total`,
/// `storefront_backend_seconds`), sends the request's trace context (`traceparent`), so that a
/// trace goes on into the service, and keeps the client's circuit breaker: after consecutive
/// calls that could not reach the service (timeouts, connection failures, 5xx, calls the
/// gateway's own deadline cut), calls fail at once until a probe gets through.
#[derive(Debug, Clone)]
pub struct Observed {
    metrics: std::sync::Arc<crate::Metrics>,
    breaker: std::sync::Arc<crate::breaker::Breaker>,
}

impl Observed {
    /// Counting into `metrics`, with the breaker of the service `name` (`pinpoint`).
    pub fn new(metrics: &std::sync::Arc<crate::Metrics>, name: &str) -> Self {
        let label = crate::metrics::BackendName {
            backend: name.to_owned(),
        };
        let breaker = crate::breaker::Breaker::new(
            name,
            crate::breaker::BreakerSettings::default(),
            metrics.backend_circuit_open.get_or_create(&label).clone(),
            metrics
                .backend_circuit_refused
                .get_or_create(&label)
                .clone(),
        );
        Self {
            metrics: std::sync::Arc::clone(metrics),
            breaker: std::sync::Arc::new(breaker),
        }
    }
}

/// A call under way, kept in its config bag: counted when it ends, or, when the caller's own
/// deadline drops it first, counted as failed when the bag goes.
#[derive(Debug)]
struct Started {
    at: std::time::Instant,
    /// The service and operation, once the SDK has said them (before the first attempt).
    names: std::sync::Mutex<Option<(String, String)>>,
    metrics: std::sync::Arc<crate::Metrics>,
    counted: std::sync::atomic::AtomicBool,
    breaker: std::sync::Arc<crate::breaker::Breaker>,
    ticket: crate::breaker::Ticket,
}

impl Started {
    fn name(&self, cfg: &aws_smithy_types::config_bag::ConfigBag) {
        if let Some(m) = cfg.load::<aws_smithy_runtime_api::client::orchestrator::Metadata>() {
            *crate::sync::lock(&self.names) = Some((m.service().to_owned(), m.name().to_owned()));
        }
    }

    /// Counts the call once: whether it succeeded, and whether the service was out of reach.
    fn count(&self, ok: bool, unreachable: bool) {
        if !self.counted.swap(true, std::sync::atomic::Ordering::SeqCst) {
            let names = crate::sync::lock(&self.names).clone();
            let (service, operation) = names.unwrap_or_else(|| ("aws".into(), "unknown".into()));
            self.metrics
                .backend_call(&service, &operation, ok, self.at.elapsed());
            self.breaker.settle(self.ticket, unreachable);
        }
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        self.count(false, true);
    }
}

impl aws_smithy_types::config_bag::Storable for Started {
    type Storer = aws_smithy_types::config_bag::StoreReplace<Self>;
}

impl aws_smithy_runtime_api::client::interceptors::Intercept for Observed {
    fn name(&self) -> &'static str {
        "Observed"
    }

    fn read_before_execution(
        &self,
        _context: &aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        let Some(ticket) = self.breaker.admit() else {
            return Err(
                "the service did not answer lately (its circuit is open); retry shortly".into(),
            );
        };
        let started = Started {
            at: std::time::Instant::now(),
            names: std::sync::Mutex::new(None),
            metrics: std::sync::Arc::clone(&self.metrics),
            counted: std::sync::atomic::AtomicBool::new(false),
            breaker: std::sync::Arc::clone(&self.breaker),
            ticket,
        };
        cfg.interceptor_state().store_put(started);
        Ok(())
    }

    fn modify_before_signing(
        &self,
        context: &mut aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut<'_>,
        _components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        use tracing_opentelemetry::OpenTelemetrySpanExt as _;
        if let Some(started) = cfg.load::<Started>() {
            started.name(cfg);
        }
        let trace = tracing::Span::current().context();
        let mut carried = std::collections::HashMap::new();
        opentelemetry::global::get_text_map_propagator(|p| p.inject_context(&trace, &mut carried));
        let headers = context.request_mut().headers_mut();
        for (name, value) in carried {
            headers.insert(name, value);
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextRef<'_>,
        _components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        if let Some(started) = cfg.load::<Started>() {
            started.name(cfg);
            // A modelled error (not found, throttled, invalid) is the service answering.
            let (ok, unreachable) = match context.output_or_error() {
                Some(Ok(_)) => (true, false),
                Some(Err(e)) => (false, !e.is_operation_error()),
                None => (false, true),
            };
            started.count(ok, unreachable);
        }
        Ok(())
    }
}

/// A client of the AWS service `$sdk` (a crate) from the shared config `$shared`, carrying
/// [`Observed`] with the metrics `$metrics`.
#[macro_export]
macro_rules! observed_client {
    ($sdk:ident, $shared:expr, $metrics:expr) => {
        $sdk::Client::from_conf(
            $sdk::config::Builder::from($shared)
                .interceptor($crate::aws::Observed::new(
                    $metrics,
                    stringify!($sdk).trim_start_matches("aws_sdk_"),
                ))
                .build(),
        )
    };
}
