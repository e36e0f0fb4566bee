//! The feeds' admin routes, for operators with an admin `x-api-key`: the consumers' state
//! (`GET /admin/feeds`) and the pause switch (`POST /admin/feeds/pause`, `/resume`).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::app::App;

/// The consumers' status, when the caller is an operator and the feeds are on.
fn status<'a>(
    app: &'a App,
    headers: &HeaderMap,
) -> Result<(&'a crate::feeds::FeedStatus, String), Refused> {
    let Some(operator) = app.clients.operator(headers) else {
        return Err(Refused(
            StatusCode::UNAUTHORIZED,
            "an admin `x-api-key` is required",
        ));
    };
    match &app.feeds {
        Some(feeds) => Ok((&feeds.status, operator)),
        None => Err(Refused(
            StatusCode::NOT_FOUND,
            "no feed consumers run here (`feeds.kafka.enabled`)",
        )),
    }
}

/// Why an admin request is refused.
struct Refused(StatusCode, &'static str);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        (self.0, axum::Json(json!({"error": self.1}))).into_response()
    }
}

/// `GET /admin/feeds`: paused or not, the brokers' state, lag per topic and partition.
pub async fn show(State(app): State<App>, headers: HeaderMap) -> Response {
    match status(&app, &headers) {
        Ok((status, _)) => axum::Json(status.report()).into_response(),
        Err(refused) => refused.into_response(),
    }
}

/// `POST /admin/feeds/pause`: this process stops applying records (its partitions stay
/// assigned to it, so their records wait rather than move to another replica).
pub async fn pause(State(app): State<App>, headers: HeaderMap) -> Response {
    switch(&app, &headers, true)
}

/// `POST /admin/feeds/resume`: applies records again, from where it paused.
pub async fn resume(State(app): State<App>, headers: HeaderMap) -> Response {
    switch(&app, &headers, false)
}

fn switch(app: &App, headers: &HeaderMap, paused: bool) -> Response {
    match status(app, headers) {
        Ok((status, operator)) => {
            status.set_paused(paused);
            tracing::info!(operator, paused, "feed consumers switched");
            axum::Json(status.report()).into_response()
        }
        Err(refused) => refused.into_response(),
    }
}
