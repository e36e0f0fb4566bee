//! The request deadline: once it has passed, no further field resolves; each answers
//! `TIMEOUT` instead, so that work stops even when it never waits on anything (a deep tree of
//! fields computed in memory), and the HTTP layer answers with one `TIMEOUT` error.

use std::time::Instant;

use async_graphql::{ErrorExtensionValues, ServerError, ServerResult};
use storefront_resolvers::ErrorCode;

/// When the request's time is up (request data).
#[derive(Debug, Clone, Copy)]
pub struct Deadline(pub Instant);

/// The error of a field that was not resolved because the deadline passed.
pub fn timeout_error() -> ServerError {
    let mut error = ServerError::new("the request took longer than the gateway allows", None);
    let mut extensions = ErrorExtensionValues::default();
    extensions.set("code", ErrorCode::Timeout.as_str());
    error.extensions = Some(extensions);
    error
}

/// Refuses to start a field once the request's deadline (`None`: it has none) has passed.
/// Called by [`crate::guard::Guard`] for each field.
pub fn check(deadline: Option<&Deadline>) -> ServerResult<()> {
    match deadline {
        Some(Deadline(at)) if Instant::now() >= *at => Err(timeout_error()),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::{EmptyMutation, EmptySubscription, Object, Request, Schema, Value};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    static RESOLVED: AtomicUsize = AtomicUsize::new(0);

    struct Query;

    #[Object]
    impl Query {
        async fn slow(&self) -> Vec<Item> {
            std::thread::sleep(Duration::from_millis(30));
            (0..1000).map(|_| Item).collect()
        }
    }

    struct Item;

    #[Object]
    impl Item {
        async fn value(&self) -> i32 {
            RESOLVED.fetch_add(1, Ordering::Relaxed);
            1
        }
    }

    #[tokio::test]
    async fn fields_after_the_deadline_are_not_resolved() {
        let schema = Schema::build(Query, EmptyMutation, EmptySubscription)
            .extension(crate::guard::Guard {
                deadline: true,
                ..Default::default()
            })
            .finish();
        let request = Request::new("{ slow { value } }")
            .data(Deadline(Instant::now() + Duration::from_millis(10)));
        let response = schema.execute(request).await;
        assert_eq!(RESOLVED.load(Ordering::Relaxed), 0, "no item resolved");
        let codes: Vec<_> = response
            .errors
            .iter()
            .filter_map(|e| e.extensions.as_ref()?.get("code").cloned())
            .collect();
        assert!(!codes.is_empty());
        assert!(codes.iter().all(|c| *c == Value::from("TIMEOUT")));
    }
}
