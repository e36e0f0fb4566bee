//! The checks that run after validation and before any resolver (from [`crate::guard`]): the
//! query limits (depth and cost, of each operation and of a batch's operations together) and
//! the rate limit, which spends the operation's cost from its client's budget.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_graphql::{ErrorExtensionValues, ServerError, ValidationResult};
use storefront_loaders::rate_limit::{ClientId, RateLimiter};
use storefront_resolvers::ErrorCode;

/// A refusal of the whole operation (no location: it is about the request, not a place in it).
fn refusal(code: ErrorCode, message: String, retry_after: Option<u64>) -> Vec<ServerError> {
    let mut error = ServerError::new(message, None);
    let mut extensions = ErrorExtensionValues::default();
    extensions.set("code", code.as_str());
    if let Some(seconds) = retry_after {
        extensions.set("retryAfter", seconds);
    }
    error.extensions = Some(extensions);
    vec![error]
}

/// The cost of the operations of one HTTP request so far: a batch may not cost more than one
/// operation may.
#[derive(Debug, Default)]
pub struct BatchCost(AtomicUsize);

impl BatchCost {
    /// The cost of the operations so far.
    pub fn total(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }

    /// Adds an operation's cost; returns the batch's total with it.
    fn add(&self, cost: usize) -> usize {
        self.0
            .fetch_add(cost, Ordering::AcqRel)
            .saturating_add(cost)
    }
}

/// Refuses operations nested deeper or costing more than allowed, with their own codes.
#[derive(Debug, Clone)]
pub struct QueryLimit {
    /// The deepest selection nesting allowed.
    pub max_depth: usize,
    /// The highest cost allowed.
    pub max_complexity: usize,
}

impl QueryLimit {
    /// Checks a validated operation, and adds its cost to its batch's (`batch`).
    pub fn check(
        &self,
        result: &ValidationResult,
        batch: Option<&Arc<BatchCost>>,
    ) -> Result<(), Vec<ServerError>> {
        if result.depth > self.max_depth {
            return Err(refusal(
                ErrorCode::QueryTooDeep,
                format!(
                    "the query is nested {} levels deep; at most {} are allowed",
                    result.depth, self.max_depth
                ),
                None,
            ));
        }
        if result.complexity > self.max_complexity {
            return Err(refusal(
                ErrorCode::QueryTooComplex,
                format!(
                    "the query costs {}; at most {} is allowed",
                    result.complexity, self.max_complexity
                ),
                None,
            ));
        }
        // Counted, not checked then counted: the operations of a batch validate concurrently.
        if let Some(batch) = batch {
            let total = batch.add(result.complexity);
            if total > self.max_complexity {
                return Err(refusal(
                    ErrorCode::QueryTooComplex,
                    format!(
                        "the batch's operations cost {total} together; at most {} is allowed",
                        self.max_complexity
                    ),
                    None,
                ));
            }
        }
        Ok(())
    }
}

/// Spends an operation's cost (`complexity`) from its client's budget (`budget`, or the
/// limiter's own); refuses it with `RATE_LIMITED` and when to retry once the budget is spent.
pub async fn charge(
    limiter: &RateLimiter,
    client: &ClientId,
    budget: Option<u64>,
    complexity: usize,
) -> Result<(), Vec<ServerError>> {
    // Every operation costs at least 1, so that cheap floods are counted too.
    let cost = u64::try_from(complexity.max(1)).unwrap_or(u64::MAX);
    let spent = match budget {
        Some(budget) => limiter.spend_within(client, cost, budget).await,
        None => limiter.spend(client, cost).await,
    };
    spent.map_err(|limited| {
        refusal(
            ErrorCode::RateLimited,
            format!("rate limit exceeded: retry in {} s", limited.retry_after),
            Some(limited.retry_after),
        )
    })
}
