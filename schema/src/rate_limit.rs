//! The rate-limit extension: after validation, before any resolver runs, spends the
//! operation's complexity from its client's budget.

use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextValidation};
use async_graphql::{ErrorExtensionValues, ServerError, ValidationResult};
use storefront_loaders::rate_limit::{ClientId, RateLimiter};

/// The error code of a refused operation; its `extensions.retryAfter` holds seconds.
pub const RATE_LIMITED: &str = "RATE_LIMITED";

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
        match self.0.spend(client, cost).await {
            Ok(()) => Ok(result),
            Err(limited) => {
                // No location: the refusal is about the whole request, not a place in it.
                let mut error = ServerError::new(
                    format!("rate limit exceeded: retry in {} s", limited.retry_after),
                    None,
                );
                let mut extensions = ErrorExtensionValues::default();
                extensions.set("code", RATE_LIMITED);
                extensions.set("retryAfter", limited.retry_after);
                error.extensions = Some(extensions);
                Err(vec![error])
            }
        }
    }
}
