//! Builds the Storefront Gateway GraphQL schema: the registered domains' merged resolvers,
//! the operation limits and extensions, and the services every request shares; exports the
//! SDL.

// The merged roots of every domain nest deeply in the types async-graphql derives.
#![recursion_limit = "256"]

pub mod deadline;
pub mod documents;
pub mod domains;
pub mod guard;
pub mod limits;
pub mod operation_limits;
pub mod own_writes;
pub mod persisted;
mod validate_only;

use async_graphql::{Schema, SchemaBuilder};
use storefront_loaders::domain::Services;

pub use domains::{
    DOMAINS, MutationRoot, Node, QueryRoot, RESPONSE_TAGS, SubscriptionRoot, UnknownFeed,
    cacheable, feed_domain, feed_names,
};

/// The gateway's schema type.
pub type StorefrontSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// The name of the mutation root type in the schema.
const MUTATION_TYPE: &str = "MutationRoot";

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

fn builder() -> SchemaBuilder<QueryRoot, MutationRoot, SubscriptionRoot> {
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        SubscriptionRoot::default(),
    )
}

/// The schema with the domains' services and the limits, rate-limited when a limiter is
/// given.
pub fn build(
    services: Services,
    limits: &QueryLimits,
    rate_limiter: Option<std::sync::Arc<storefront_loaders::rate_limit::RateLimiter>>,
) -> StorefrontSchema {
    let recommendations = storefront_resolvers::recommend::loader_for(&services);
    let sightings = storefront_resolvers::location::loader_for(&services);
    let mut schema = builder().data(services).data(recommendations);
    if let Some(sightings) = sightings {
        schema = schema.data(sightings);
    }
    let mut schema = schema.extension(guard::Guard {
        limits: Some(operation_limits::QueryLimit {
            max_depth: limits.max_depth,
            max_complexity: limits.max_complexity,
        }),
        rate_limit: rate_limiter,
        read_own_writes: Some(MUTATION_TYPE),
        deadline: true,
    });
    if !limits.introspection {
        schema = schema.disable_introspection();
    }
    schema.finish()
}

/// The schema with no backends, which validates documents and runs none of them: for checking
/// documents.
pub fn bare() -> StorefrontSchema {
    builder().extension(validate_only::ValidateOnly).finish()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_document_is_checked_without_running_it() {
        assert_eq!(
            validate("mutation { customerSignOut { signedOut } }").await,
            Vec::<String>::new()
        );
        let errors = validate("{ shop { nameX } }").await;
        assert!(errors.iter().any(|e| e.contains("nameX")), "{errors:?}");
    }

    #[test]
    fn the_mutation_root_has_the_name_the_own_writes_rule_looks_for() {
        assert!(sdl().contains(&format!("type {MUTATION_TYPE} {{")));
    }
}
