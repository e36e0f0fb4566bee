//! The operation extensions that run after validation and before any resolver: the query
//! limits (depth and cost, of each operation and of a batch's operations together) and the
//! rate limit, which spends the operation's cost from its client's budget.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextValidation};
use async_graphql::{ErrorExtensionValues, ServerError, ValidationResult};
use storefront_loaders::rate_limit::{Budget, ClientId, RateLimiter};
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
pub struct QueryLimit {
    /// The deepest selection nesting allowed.
    pub max_depth: usize,
    /// The highest cost allowed.
    pub max_complexity: usize,
}

impl ExtensionFactory for QueryLimit {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(QueryLimitExtension {
            max_depth: self.max_depth,
            max_complexity: self.max_complexity,
        })
    }
}

struct QueryLimitExtension {
    max_depth: usize,
    max_complexity: usize,
}

#[async_trait::async_trait]
impl Extension for QueryLimitExtension {
    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = next.run(ctx).await?;
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
        if let Some(batch) = ctx.data_opt::<Arc<BatchCost>>() {
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
        Ok(result)
    }
}

/// Installs the limiter into a schema.
pub struct RateLimit(pub Arc<RateLimiter>);

impl ExtensionFactory for RateLimit {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(RateLimitExtension(Arc::clone(&self.0)))
    }
}

struct RateLimitExtension(Arc<RateLimiter>);

#[async_trait::async_trait]
impl Extension for RateLimitExtension {
    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = next.run(ctx).await?;
        let Some(client) = ctx.data_opt::<ClientId>() else {
            return Ok(result);
        };
        // Every operation costs at least 1, so that cheap floods are counted too.
        let cost = u64::try_from(result.complexity.max(1)).unwrap_or(u64::MAX);
        let spent = match ctx.data_opt::<Budget>() {
            Some(Budget(budget)) => self.0.spend_within(client, cost, *budget).await,
            None => self.0.spend(client, cost).await,
        };
        match spent {
            Ok(()) => Ok(result),
            Err(limited) => Err(refusal(
                ErrorCode::RateLimited,
                format!("rate limit exceeded: retry in {} s", limited.retry_after),
                Some(limited.retry_after),
            )),
        }
    }
}
