//! Logs and traces: logs to stderr as text or JSON lines (`STOREFRONT_LOG_FORMAT`), filtered
//! by `STOREFRONT_LOG`; and, when OpenTelemetry's standard `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, traces exported over OTLP/HTTP: a span per
//! HTTP request (a child of the caller's W3C `traceparent`), per GraphQL operation and per
//! store call. The `OTEL_*` variables (`OTEL_SERVICE_NAME`, `OTEL_BSP_SCHEDULE_DELAY`, …) work
//! as the SDK documents them.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// What must be flushed before the process exits.
pub struct Telemetry {
    traces: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Sends the spans still buffered (at exit).
    pub fn shutdown(self) {
        if let Some(provider) = self.traces
            && let Err(e) = provider.shutdown()
        {
            eprintln!("the last traces could not be sent: {e}");
        }
    }
}

fn exporting() -> bool {
    [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ]
    .iter()
    .any(|name| std::env::var(name).is_ok_and(|v| !v.is_empty()))
}

/// Installs logging (and tracing, when an OTLP endpoint is set) for the process.
pub fn init() -> Telemetry {
    let filter = EnvFilter::try_from_env("STOREFRONT_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,tower_http=warn"));
    let json = std::env::var("STOREFRONT_LOG_FORMAT").is_ok_and(|f| f == "json");
    let text_logs = (!json).then(|| tracing_subscriber::fmt::layer().with_writer(std::io::stderr));
    // Each line carries the fields of the span it was written in (the request's id among them).
    let json_logs = json.then(|| {
        tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(std::io::stderr)
    });
    let (provider, traces) = match exporting().then(exporter).flatten() {
        Some(provider) => {
            let tracer = provider.tracer("storefront-gateway");
            opentelemetry::global::set_text_map_propagator(
                opentelemetry_sdk::propagation::TraceContextPropagator::new(),
            );
            (
                Some(provider),
                Some(tracing_opentelemetry::layer().with_tracer(tracer)),
            )
        }
        None => (None, None),
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(text_logs)
        .with(json_logs)
        .with(traces)
        .init();
    Telemetry { traces: provider }
}

fn exporter() -> Option<SdkTracerProvider> {
    let exporter = match opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()
    {
        Ok(exporter) => exporter,
        Err(e) => {
            eprintln!("traces are off: the OTLP exporter cannot be built: {e}");
            return None;
        }
    };
    let service =
        std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| "storefront-gateway".into());
    Some(
        SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(
                opentelemetry_sdk::Resource::builder()
                    .with_service_name(service)
                    .build(),
            )
            .build(),
    )
}

/// Reads W3C trace context from HTTP headers.
struct Headers<'a>(&'a http::HeaderMap);

impl opentelemetry::propagation::Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

/// Makes `span` a child of the caller's `traceparent`, when it sent one (and tracing is on).
pub fn continue_trace(span: &tracing::Span, headers: &http::HeaderMap) {
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    if headers.contains_key("traceparent") {
        let parent =
            opentelemetry::global::get_text_map_propagator(|p| p.extract(&Headers(headers)));
        let _ = span.set_parent(parent);
    }
}
