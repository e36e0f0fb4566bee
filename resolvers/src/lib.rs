//! GraphQL types and resolvers of Storefront Gateway, one module per domain. Resolvers reach
//! data only through the loaders and backends found in the GraphQL context.

pub mod catalog;
pub mod connection;
pub mod context;
pub mod customer;
pub mod error;
pub mod ids;
pub mod node;
pub mod scalars;

use async_graphql::MergedObject;

pub use error::{ApiError, ErrorCode};

/// The storefront's queries.
#[derive(MergedObject, Default)]
pub struct QueryRoot(
    catalog::CatalogQuery,
    customer::CustomerQuery,
    node::NodeQuery,
);

/// The storefront's mutations.
#[derive(MergedObject, Default)]
pub struct MutationRoot(customer::CustomerMutation);
