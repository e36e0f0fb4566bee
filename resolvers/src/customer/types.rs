//! The customer's profile as GraphQL objects.

use async_graphql::{ID, Object};
use storefront_loaders::identity::{Address, CustomerProfile};

use crate::ids;
use crate::scalars::DateTime;

/// A signed-in customer's account: only ever shown to that customer.
#[derive(Clone)]
pub struct Customer(pub CustomerProfile);

/// A signed-in customer's account: only ever shown to that customer.
#[Object]
impl Customer {
    /// Globally unique, opaque ID.
    pub async fn id(&self) -> ID {
        ids::encode("Customer", &self.0.sub)
    }

    /// The email the customer signs in with.
    async fn email(&self) -> Option<&str> {
        self.0.email.as_deref()
    }

    /// Given name.
    async fn first_name(&self) -> Option<&str> {
        self.0.first_name.as_deref()
    }

    /// Family name.
    async fn last_name(&self) -> Option<&str> {
        self.0.last_name.as_deref()
    }

    /// The name to greet the customer with: their full name, else their email.
    async fn display_name(&self) -> String {
        let p = &self.0;
        let name = [p.first_name.as_deref(), p.last_name.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        if name.is_empty() {
            p.email.clone().unwrap_or_default()
        } else {
            name
        }
    }

    /// Whether the customer agreed to marketing email.
    async fn accepts_marketing(&self) -> bool {
        self.0.accepts_marketing
    }

    /// The customer's current cart: the last one created signed in, or brought along at
    /// sign-in.
    async fn cart(
        &self,
        ctx: &async_graphql::Context<'_>,
    ) -> crate::error::ApiResult<Option<crate::cart::Cart>> {
        crate::cart::current_cart(ctx, &self.0.sub).await
    }

    /// The customer's orders, newest first.
    #[graphql(complexity = "crate::connection::complexity(Some(first), None, child_complexity)")]
    async fn orders(
        &self,
        ctx: &async_graphql::Context<'_>,
        #[graphql(desc = "How many (1–100).", default = 20)] first: i32,
        #[graphql(desc = "Continue after this cursor.")] after: Option<String>,
    ) -> crate::error::ApiResult<crate::checkout::OrderConnection> {
        let first = usize::try_from(first.clamp(1, 100)).unwrap_or(20);
        crate::checkout::customer_orders(ctx, &self.0.sub, first, after.as_deref()).await
    }

    /// Saved addresses (at most 10); the first is the default.
    #[graphql(
        complexity = "crate::connection::list_complexity(super::inputs::MAX_ADDRESSES, child_complexity)"
    )]
    async fn addresses(&self) -> Vec<MailingAddress> {
        self.0
            .addresses
            .iter()
            .cloned()
            .map(MailingAddress)
            .collect()
    }

    /// The default address (the first saved one).
    async fn default_address(&self) -> Option<MailingAddress> {
        self.0.addresses.first().cloned().map(MailingAddress)
    }

    /// When the account's profile was created.
    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }

    /// When the profile last changed.
    async fn updated_at(&self) -> DateTime {
        DateTime(self.0.updated_at)
    }
}

/// A postal address.
#[derive(Clone)]
pub struct MailingAddress(pub Address);

/// A postal address.
#[Object]
impl MailingAddress {
    /// Recipient's given name.
    async fn first_name(&self) -> Option<&str> {
        self.0.first_name.as_deref()
    }

    /// Recipient's family name.
    async fn last_name(&self) -> Option<&str> {
        self.0.last_name.as_deref()
    }

    /// Company.
    async fn company(&self) -> Option<&str> {
        self.0.company.as_deref()
    }

    /// Street and number.
    async fn address1(&self) -> &str {
        &self.0.address1
    }

    /// Apartment, suite, floor.
    async fn address2(&self) -> Option<&str> {
        self.0.address2.as_deref()
    }

    /// City.
    async fn city(&self) -> &str {
        &self.0.city
    }

    /// State, province or region.
    async fn province(&self) -> Option<&str> {
        self.0.province.as_deref()
    }

    /// Postal code.
    async fn zip(&self) -> Option<&str> {
        self.0.zip.as_deref()
    }

    /// ISO 3166-1 alpha-2 country code, such as "US".
    async fn country_code(&self) -> &str {
        &self.0.country_code
    }

    /// Phone number.
    async fn phone(&self) -> Option<&str> {
        self.0.phone.as_deref()
    }
}
