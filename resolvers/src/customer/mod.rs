//! Customers: sign-up, sign-in and sessions through the configured identity provider, the
//! signed-in customer's profile, and the guard that keeps customer data to its owner.

mod guard;
mod inputs;
mod mutation;
mod nodes;
mod query;
mod types;
mod user_errors;

pub use guard::{signed_in, viewer, viewer_opt};
pub use inputs::{Checks, MailingAddressInput};
pub use mutation::CustomerMutation;
pub use nodes::{Node, resolve_nodes};
pub use query::{CustomerQuery, own_customer};
pub use types::{Customer, MailingAddress};
pub use user_errors::{CustomerErrorCode, CustomerUserError};

/// The customer's queries.
pub type Query = CustomerQuery;
/// The customer's mutations.
pub type Mutation = CustomerMutation;
