//! Which requests the response cache answers, under which key, and the answers it gives.
//!
//! Only a single query from nobody in particular is cached: no `Authorization` or cookie, no
//! operator key, not batched. Its key is the resolved document (the same for its text, its
//! APQ hash and its trusted id), the operation and the variables; nothing else a client sends
//! changes a public answer, so nothing else is in the key, and headers cannot poison it.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue};
use serde_json::Value;
use storefront_loaders::ReadSet;
use storefront_loaders::cache::{Answer, ResponseCache, ResponseKey, Ticket};

/// The request header that skips the lookup (the answer is computed afresh and then kept).
pub(super) const BYPASS_HEADER: &str = "x-response-cache";
/// The response header that tells what the cache did: `hit`, `miss` or `bypass`.
pub(super) const OUTCOME_HEADER: &str = "x-response-cache";

/// Whether the client asked to skip the lookup.
pub(super) fn bypassed(headers: &HeaderMap) -> bool {
    headers
        .get(BYPASS_HEADER)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"bypass"))
}

/// The key of one query: its document, operation and variables.
pub(super) fn key(
    document: &str,
    operation: Option<&str>,
    variables: &Option<Value>,
) -> ResponseKey {
    // No variables, null and `{}` are one request.
    let variables = match variables {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(map)) if map.is_empty() => Vec::new(),
        Some(v) => serde_json::to_vec(v).expect("JSON values serialise"),
    };
    ResponseKey::of(&[
        document.as_bytes(),
        operation.unwrap_or_default().as_bytes(),
        &variables,
    ])
}

/// A miss being answered: what to keep the answer under, and the reads it makes.
pub(super) struct Pending {
    pub(super) cache: Arc<ResponseCache>,
    pub(super) key: ResponseKey,
    pub(super) ticket: Ticket,
    pub(super) reads: Arc<ReadSet>,
    pub(super) outcome: &'static str,
}

impl Pending {
    /// Keeps the answer, which cost `cost`, for `max_age`, if the cache takes it.
    pub(super) async fn keep(
        self,
        body: &axum::body::Bytes,
        cache_control: &HeaderValue,
        cost: usize,
        max_age: Duration,
    ) {
        let Ok(cache_control) = cache_control.to_str() else {
            return;
        };
        let answer = Answer {
            body: body.clone(),
            cache_control: cache_control.to_owned(),
            cost: u64::try_from(cost).unwrap_or(u64::MAX),
        };
        self.cache
            .fill(self.ticket, self.key, &self.reads, answer, max_age)
            .await;
    }
}

/// The seconds a response may be kept for, from the schema's hints: only public answers
/// without errors, with a max-age.
pub(super) fn max_age(response: &async_graphql::Response) -> Option<Duration> {
    let hints = &response.cache_control;
    (response.errors.is_empty() && hints.public && hints.max_age > 0)
        .then(|| Duration::from_secs(u64::try_from(hints.max_age).unwrap_or(0)))
}

/// Charges a cached answer's cost to the caller's rate limit, as running it would; false when
/// the budget is spent (the request then runs, and the limit refuses it as usual).
pub(super) async fn charge(
    app: &crate::app::App,
    caller: &super::caller::Caller,
    cost: u64,
) -> bool {
    let Some(limiter) = &app.limiter else {
        return true;
    };
    // Every operation costs at least 1, as in the schema's own charge.
    let cost = cost.max(1);
    match caller.budget {
        Some(storefront_loaders::rate_limit::Budget(budget)) => limiter
            .spend_within(&caller.client, cost, budget)
            .await
            .is_ok(),
        None => limiter.spend(&caller.client, cost).await.is_ok(),
    }
}
