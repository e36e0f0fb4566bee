//! Storefront web sessions: an opaque id (only its digest is stored), the shopper's cart,
//! recently viewed products and consent, held in the table with a sliding TTL, so that a web
//! tier of several replicas keeps a shopper's state without sticky routing.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::codec::{from_item, to_item};
use crate::identity::GuestToken;
use crate::store::{Condition, Key, StoreError, TTL_ATTRIBUTE, Table, expiry_after, has_expired};

/// The most recently viewed products a session keeps.
pub const RECENT: usize = 20;

/// What the shopper agreed to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionConsent {
    /// Analytics cookies and events.
    pub analytics: bool,
    /// Marketing and advertising.
    pub marketing: bool,
    /// Personalized recommendations.
    pub personalization: bool,
}

/// A session as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// The shopper's cart (its id, the key to a guest cart).
    pub cart_id: Option<String>,
    /// Product ids, newest first, at most [`RECENT`].
    pub recently_viewed: Vec<String>,
    /// Consent given.
    pub consent: SessionConsent,
    /// When it started.
    pub created_at: DateTime<Utc>,
    /// Bumped by every write (the condition of the next).
    pub version: u64,
}

/// A change to a session.
#[derive(Debug, Clone, Default)]
pub struct SessionChange {
    /// A new cart id (`Some(None)` forgets it).
    pub cart_id: Option<Option<String>>,
    /// A product just viewed.
    pub viewed: Option<String>,
    /// New consent.
    pub consent: Option<SessionConsent>,
}

/// The sessions in the table.
#[derive(Clone)]
pub struct Sessions {
    table: Arc<dyn Table>,
    ttl: Duration,
}

fn key(token: &GuestToken) -> Key {
    Key::new(format!("SESSION#{}", token.digest()), "SESSION")
}

impl Sessions {
    /// Sessions in `table` that end `ttl` after their last write.
    pub fn new(table: Arc<dyn Table>, ttl: Duration) -> Self {
        Self { table, ttl }
    }

    /// Starts a session; its token is the only way back to it.
    pub async fn start(&self) -> Result<(GuestToken, SessionRecord), StoreError> {
        let token = GuestToken::generate();
        let record = SessionRecord {
            cart_id: None,
            recently_viewed: Vec::new(),
            consent: SessionConsent::default(),
            created_at: Utc::now(),
            version: 0,
        };
        self.write(&token, &record, Condition::ItemNotExists)
            .await?;
        Ok((token, record))
    }

    /// The session, unless it is unknown or over.
    pub async fn get(&self, token: &GuestToken) -> Result<Option<SessionRecord>, StoreError> {
        match self.table.get(&key(token)).await? {
            Some(item) if !has_expired(&item) => Ok(Some(from_item(&item)?)),
            _ => Ok(None),
        }
    }

    /// Applies a change (conditional on the version read, retried against concurrent ones),
    /// and extends the session; `None` when it is unknown or over.
    pub async fn update(
        &self,
        token: &GuestToken,
        change: &SessionChange,
    ) -> Result<Option<SessionRecord>, StoreError> {
        for attempt in 0..10 {
            let Some(mut record) = self.get(token).await? else {
                return Ok(None);
            };
            let read = record.version;
            if let Some(cart) = &change.cart_id {
                record.cart_id.clone_from(cart);
            }
            if let Some(product) = &change.viewed {
                record.recently_viewed.retain(|p| p != product);
                record.recently_viewed.insert(0, product.clone());
                record.recently_viewed.truncate(RECENT);
            }
            if let Some(consent) = change.consent {
                record.consent = consent;
            }
            record.version += 1;
            match self
                .write(token, &record, Condition::equals("version", read))
                .await
            {
                Ok(()) => return Ok(Some(record)),
                Err(StoreError::ConditionFailed) => crate::store::backoff(attempt).await,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::ConditionFailed)
    }

    async fn write(
        &self,
        token: &GuestToken,
        record: &SessionRecord,
        condition: Condition,
    ) -> Result<(), StoreError> {
        let item = to_item(
            &key(token),
            record,
            &[(TTL_ATTRIBUTE, expiry_after(self.ttl))],
        )?;
        self.table.put(item, Some(condition)).await
    }
}
