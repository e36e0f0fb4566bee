//! Builds the Storefront Gateway GraphQL schema: the merged resolvers, limits and the data
//! every request shares; exports the SDL.

pub mod limits;
pub mod own_writes;
pub mod persisted;
pub mod rate_limit;

use async_graphql::{EmptySubscription, Schema, SchemaBuilder};
use storefront_loaders::catalog::Catalog;
use storefront_loaders::identity::Identity;
use storefront_resolvers::{MutationRoot, QueryRoot};

/// The gateway's schema type.
pub type StorefrontSchema = Schema<QueryRoot, MutationRoot, EmptySubscription>;

/// Query limits enforced on every operation before it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryLimits {
    /// The deepest selection nesting allowed.
    pub max_depth: usize,
    /// The highest complexity allowed; connection fields multiply by their page size.
    pub max_complexity: usize,
    /// Whether introspection queries are answered.
    pub introspection: bool,
}

impl Default for QueryLimits {
    fn default() -> Self {
        Self {
            max_depth: 15,
            max_complexity: 25_000,
            introspection: true,
        }
    }
}

fn builder() -> SchemaBuilder<QueryRoot, MutationRoot, EmptySubscription> {
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        EmptySubscription,
    )
}

/// The schema with its shared data and limits, rate-limited when a limiter is given.
pub fn build(
    catalog: Catalog,
    identity: Identity,
    limits: &QueryLimits,
    rate_limiter: Option<std::sync::Arc<storefront_loaders::rate_limit::RateLimiter>>,
) -> StorefrontSchema {
    let mut schema = builder()
        .data(catalog)
        .data(identity)
        .limit_depth(limits.max_depth)
        .limit_complexity(limits.max_complexity);
    if !limits.introspection {
        schema = schema.disable_introspection();
    }
    if let Some(limiter) = rate_limiter {
        schema = schema.extension(rate_limit::RateLimit(limiter));
    }
    schema.finish()
}

/// The schema with no backends: for checking documents (validation errors are reported before
/// any resolver runs, and resolvers find no data to act on).
pub fn bare() -> StorefrontSchema {
    builder().finish()
}

/// Checks a document against the schema; returns the validation errors (none: valid).
/// Variables the document needs are not required for the check.
pub async fn validate(document: &str) -> Vec<String> {
    let response = bare().execute(document).await;
    response
        .errors
        .into_iter()
        .filter(|e| e.path.is_empty())
        .map(|e| e.message)
        .filter(|m| !(m.starts_with("Variable ") && m.contains("was not provided")))
        .collect()
}

/// The public contract in SDL, as committed in `schema.graphql`.
pub fn sdl() -> String {
    builder().finish().sdl()
}
