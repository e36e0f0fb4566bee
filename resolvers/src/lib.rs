//! GraphQL types and resolvers of Storefront Gateway, one folder per domain. Resolvers reach
//! data only through the services and loaders found in the GraphQL context. The domains are
//! registered once, with [`domains!`], in the schema crate.

pub mod cart;
pub mod catalog;
pub mod chat;
pub mod checkout;
pub mod connection;
pub mod context;
pub mod customer;
pub mod error;
pub mod events;
pub mod fraud;
pub mod ids;
pub mod location;
pub mod marketing;
pub mod recommend;
pub mod registry;
pub mod scalars;
pub mod search;
pub mod shop;

pub use error::{ApiError, ErrorCode};
