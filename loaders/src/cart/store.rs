//! Carts and discount codes in the table: reads that treat an expired cart as gone, and
//! changes that are conditional on the version they read (retried), so that concurrent edits
//! of one cart never lose a line.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::Value;

use super::records::{CartRecord, DiscountRecord, keys};
use crate::codec::{from_item, to_item};
use crate::identity::Owner;
use crate::store::{Condition, StoreError, TTL_ATTRIBUTE, Table, expiry_after, has_expired};

/// How often a change is tried against concurrent ones before giving up.
const ATTEMPTS: u32 = 20;

/// Why a cart change did not happen.
#[derive(Debug, thiserror::Error)]
pub enum CartChangeError<E> {
    /// There is no such cart (or it expired).
    #[error("no such cart")]
    NotFound,
    /// The change itself refused (the caller's reason).
    #[error("the change was refused")]
    Refused(E),
    /// The store failed, or the cart kept changing under us.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Reads and writes carts.
#[derive(Clone)]
pub struct CartStore {
    table: Arc<dyn Table>,
}

impl CartStore {
    /// Carts in `table`.
    pub fn new(table: Arc<dyn Table>) -> Self {
        Self { table }
    }

    /// The table (for the checkout's transaction).
    pub fn table(&self) -> &Arc<dyn Table> {
        &self.table
    }

    fn item(
        digest: &str,
        cart: &CartRecord,
        ttl: Duration,
    ) -> Result<crate::store::Item, StoreError> {
        let owner = match &cart.owner {
            Owner::Customer(sub) => Value::from(sub.clone()),
            Owner::Guest(_) => Value::Null,
        };
        let mut extra = vec![(TTL_ATTRIBUTE, expiry_after(ttl)), ("customer", owner)];
        extra.extend(super::abandoned::listing(digest, cart));
        to_item(&keys::cart(digest), cart, &extra)
    }

    /// Stores a new cart under `digest`, living `ttl` from its last change.
    pub async fn create(
        &self,
        digest: &str,
        cart: &CartRecord,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        self.table
            .put(
                Self::item(digest, cart, ttl)?,
                Some(Condition::ItemNotExists),
            )
            .await
    }

    /// The cart stored under `digest`; none when missing or expired.
    pub async fn get(&self, digest: &str) -> Result<Option<CartRecord>, StoreError> {
        match self.table.get(&keys::cart(digest)).await? {
            Some(item) if !has_expired(&item) => Ok(Some(from_item(&item)?)),
            _ => Ok(None),
        }
    }

    /// Applies `change` to the cart under `digest` and stores it, conditional on the version
    /// read; reads again and retries when another change came first.
    pub async fn modify<T, E>(
        &self,
        digest: &str,
        ttl: Duration,
        mut change: impl FnMut(&mut CartRecord) -> Result<T, E> + Send,
    ) -> Result<(CartRecord, T), CartChangeError<E>> {
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                crate::store::backoff(attempt).await;
            }
            let Some(mut cart) = self.get(digest).await? else {
                return Err(CartChangeError::NotFound);
            };
            let read = cart.version;
            let outcome = change(&mut cart).map_err(CartChangeError::Refused)?;
            cart.version = read + 1;
            cart.updated_at = Utc::now();
            match self
                .table
                .put(
                    Self::item(digest, &cart, ttl)?,
                    Some(Condition::equals("version", read)),
                )
                .await
            {
                Ok(()) => return Ok((cart, outcome)),
                Err(StoreError::ConditionFailed) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Backend("the cart keeps changing; try again".into()).into())
    }

    /// The discounts of these codes that exist.
    pub async fn discounts(&self, codes: &[String]) -> Result<Vec<DiscountRecord>, StoreError> {
        if codes.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<_> = codes.iter().map(|c| keys::discount(c)).collect();
        self.table
            .batch_get(&keys)
            .await?
            .iter()
            .map(from_item)
            .collect()
    }

    /// Writes a discount code (demo data, admin tools), keeping its usage count.
    pub async fn put_discount(&self, discount: &DiscountRecord) -> Result<(), StoreError> {
        self.table
            .put(
                to_item(&keys::discount(&discount.code), discount, &[])?,
                None,
            )
            .await
    }
}
