//! Health for load balancers: `/healthz` says the process is alive; `/readyz` says every
//! configured backend (the store, Redis, the Kafka brokers) answers within a short deadline, and names any that
//! does not.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use storefront_loaders::store::Key;

use crate::app::App;

/// How long a backend may take to answer the readiness probe.
const READY_DEADLINE: Duration = Duration::from_secs(2);

async fn probe<T, E: std::fmt::Display>(
    answer: impl std::future::Future<Output = Result<T, E>>,
) -> String {
    match tokio::time::timeout(READY_DEADLINE, answer).await {
        Ok(Ok(_)) => "ok".to_owned(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "a readiness check failed");
            e.to_string()
        }
        Err(_) => {
            tracing::warn!("a readiness check did not answer in time");
            format!("no answer within {} ms", READY_DEADLINE.as_millis())
        }
    }
}

/// `GET /readyz`: `200` when every configured backend answers, else `503`; the body names
/// each check and its result (in production only `ok` or `failing`; the reason is logged).
pub async fn readyz(State(app): State<App>) -> Response {
    let mut checks: BTreeMap<&str, String> = BTreeMap::new();
    // A read of a key nobody writes: it exercises the whole path to the store (the embedded
    // store answers as soon as it is open).
    let key = Key::new("READINESS#probe", "PROBE");
    checks.insert("store", probe(app.table.get(&key)).await);
    if let Some(redis) = &app.redis {
        checks.insert("redis", probe(redis.get("readiness-probe")).await);
    }
    if let Some(feeds) = &app.feeds {
        checks.insert("kafka", feeds.status.readiness());
    }
    let ready = checks.values().all(|c| c == "ok");
    // The public port shows what failed, not why: error texts name infrastructure.
    if app.config.mode == crate::config::Mode::Production {
        for result in checks.values_mut() {
            if result != "ok" {
                *result = "failing".to_owned();
            }
        }
    }
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if ready { "ready" } else { "unavailable" },
        "checks": checks,
    });
    (status, axum::Json(body)).into_response()
}
