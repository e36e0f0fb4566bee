//! The HTTP surface: routes, and the middleware every route shares.

mod cors;
mod feeds;
mod graphiql;
mod graphql;
mod health;

pub use graphql::{Clients, OperationMetrics, Sockets};

use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::app::App;

/// The header carrying each request's id (set when the client sends none).
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The gateway's routes with the shared middleware. GraphiQL is served when the config says
/// so (development mode by default), `/metrics` only in development mode without a metrics
/// address of its own ([`metrics_router`] serves them there).
pub fn router(app: App) -> Router {
    let config = app.config.clone();
    let mut routes = Router::new()
        .route("/graphql", get(graphql::get).post(graphql::post))
        .route("/.well-known/{document}", get(well_known))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(health::readyz))
        .route("/admin/feeds", get(feeds::show))
        .route("/admin/feeds/pause", axum::routing::post(feeds::pause))
        .route("/admin/feeds/resume", axum::routing::post(feeds::resume));
    if config.graphiql() {
        routes = routes
            .route("/", get(|| async { Redirect::temporary("/graphiql") }))
            .route("/graphiql", get(graphiql::page))
            .route("/graphiql/assets/{file}", get(graphiql::asset));
    }
    if config.public_metrics() {
        routes = routes.route("/metrics", get(metrics));
    }
    let routes = routes
        .with_state(app)
        // axum's limit (not tower-http's) so that the handler answers an oversized body with
        // a GraphQL error rather than a plain-text 413.
        .layer(DefaultBodyLimit::max(config.limits.max_body_bytes));
    layered(routes, &config)
}

/// `/metrics` alone, for the metrics address of its own (`http.metrics_listen`), which is
/// meant to be reachable by the scraper only.
pub fn metrics_router(app: App) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(app)
}

/// Wraps routes in the middleware every response goes through: request ids, tracing, CORS.
/// The benchmark's ceiling server uses it too, so that it measures the same HTTP stack.
pub fn layered(routes: Router, config: &crate::config::Config) -> Router {
    routes
        .layer(cors::layer(config))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
                let id = request
                    .headers()
                    .get(REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                let span = tracing::info_span!("request", otel.name = %format!("{} {}", request.method(), request.uri().path()), method = %request.method(), path = %request.uri().path(), request_id = %id);
                crate::telemetry::continue_trace(&span, request.headers());
                span
            }),
        )
        // No page of ours may be framed (clickjacking), nor any answer sniffed into another
        // type.
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("frame-ancestors 'none'"),
        ))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        // The backstop behind the request deadline (`limits.request_timeout_ms`), which
        // stops the GraphQL work itself.
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::GATEWAY_TIMEOUT,
            Duration::from_millis(config.limits.request_timeout_ms) + Duration::from_secs(5),
        ))
}

/// The JSON documents domains publish (the embedded identity provider's `jwks.json`).
async fn well_known(
    State(app): State<App>,
    axum::extract::Path(document): axum::extract::Path<String>,
) -> axum::response::Response {
    let published = app
        .services
        .get::<storefront_loaders::domain::PublicDocuments>()
        .and_then(|documents| documents.0.get(document.as_str()));
    match published {
        Some(json) => (
            [(header::CACHE_CONTROL, "public, max-age=300")],
            axum::Json(json.as_ref().clone()),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such document").into_response(),
    }
}

async fn metrics(State(app): State<App>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        app.metrics.render(),
    )
}
