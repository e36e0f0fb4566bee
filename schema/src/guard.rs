//! The schema's one extension: the query limits and the rate limit at validation, the
//! deadline and read-own-writes at every field, in a single layer.
//!
//! async-graphql passes every field through each installed extension's `resolve` hook (a boxed
//! future per extension per field, even for an extension that only hooks validation), so four
//! extensions made four layers around each of the ~900 fields of a products page. One
//! extension doing the four jobs costs one.

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextResolve, NextValidation, ResolveInfo,
};
use async_graphql::{ServerError, ServerResult, ValidationResult, Value};
use storefront_loaders::rate_limit::{Budget, ClientId, RateLimiter};

use crate::operation_limits::{self, BatchCost, QueryLimit};
use crate::{deadline, own_writes};

/// What the extension enforces; each part is off when not given.
#[derive(Default, Clone)]
pub struct Guard {
    /// Depth and cost limits, checked after validation.
    pub limits: Option<QueryLimit>,
    /// Spends each operation's cost from its client's budget, after the limits passed.
    pub rate_limit: Option<Arc<RateLimiter>>,
    /// The mutation root type's name: its fields make the request's loader forget what it read
    /// (see [`own_writes`]).
    pub read_own_writes: Option<&'static str>,
    /// Stops resolving fields once the request's [`deadline::Deadline`] has passed.
    pub deadline: bool,
}

impl ExtensionFactory for Guard {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(self.clone())
    }
}

#[async_trait::async_trait]
impl Extension for Guard {
    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = next.run(ctx).await?;
        if let Some(limits) = &self.limits {
            limits.check(&result, ctx.data_opt::<Arc<BatchCost>>())?;
        }
        // Only operations within the limits are charged.
        if let Some(limiter) = &self.rate_limit
            && let Some(client) = ctx.data_opt::<ClientId>()
        {
            let budget = ctx.data_opt::<Budget>().map(|b| b.0);
            operation_limits::charge(limiter, client, budget, result.complexity).await?;
        }
        Ok(result)
    }

    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        if self.deadline {
            deadline::check(ctx.data_opt::<deadline::Deadline>())?;
        }
        let loader = self
            .read_own_writes
            .and_then(|mutation_type| own_writes::loader_to_reset(ctx, &info, mutation_type));
        if let Some(loader) = loader {
            loader.forget_all();
        }
        let result = next.run(ctx, info).await;
        if let Some(loader) = loader {
            loader.forget_all();
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::{EmptyMutation, EmptySubscription, Object, Request, Schema};
    use std::time::Duration;
    use storefront_loaders::rate_limit::RateLimitSettings;

    struct Query;

    #[Object]
    impl Query {
        async fn items(&self, #[graphql(default = 1)] n: i32) -> Vec<i32> {
            (0..n).collect()
        }
    }

    #[tokio::test]
    async fn operations_over_the_limits_are_refused_without_spending_the_budget() {
        let limiter = Arc::new(RateLimiter::new(
            RateLimitSettings {
                budget: 3,
                window: Duration::from_secs(60),
            },
            None,
            "guard-test:",
        ));
        let schema = Schema::build(Query, EmptyMutation, EmptySubscription)
            .extension(Guard {
                limits: Some(QueryLimit {
                    max_depth: 5,
                    max_complexity: 1,
                }),
                rate_limit: Some(limiter),
                ..Default::default()
            })
            .finish();
        let ask = |document: &'static str| {
            let schema = schema.clone();
            async move {
                schema
                    .execute(Request::new(document).data(ClientId("client".into())))
                    .await
            }
        };
        let code = |response: &async_graphql::Response| {
            response.errors.first().and_then(|e| {
                e.extensions
                    .as_ref()?
                    .get("code")
                    .map(|c| c.to_string().trim_matches('"').to_owned())
            })
        };
        // Refused by the limits, concurrently and many times over: none of it is charged.
        let mut over = tokio::task::JoinSet::new();
        for _ in 0..10 {
            over.spawn(ask("{ items a: items }"));
        }
        while let Some(response) = over.join_next().await {
            let response = response.expect("the operation ran");
            assert_eq!(code(&response).as_deref(), Some("QUERY_TOO_COMPLEX"));
        }
        // So the whole budget of 3 is still there, and a fourth is refused by the rate limit.
        for _ in 0..3 {
            let ok = ask("{ items }").await;
            assert!(ok.errors.is_empty(), "{:?}", ok.errors);
        }
        assert_eq!(
            code(&ask("{ items }").await).as_deref(),
            Some("RATE_LIMITED")
        );
    }
}
