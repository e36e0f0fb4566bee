//! Chat sessions in the table: each written whole, conditional on the version read (so two
//! messages sent at once to one session are never lost), living a set time after its last
//! change; and the hand-offs to people, each kept for the agents a set number of days.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use super::records::{HandoffRecord, SessionRecord, keys};
use crate::codec::{from_item, to_item};
use crate::store::{
    Condition, Index, Query, StoreError, TTL_ATTRIBUTE, Table, expiry_after, has_expired,
};

/// How often a change is tried against concurrent ones before giving up.
const ATTEMPTS: u32 = 20;

/// Chat sessions and hand-offs.
#[derive(Clone)]
pub struct ChatStore {
    table: Arc<dyn Table>,
}

impl ChatStore {
    /// Sessions in `table`.
    pub fn new(table: Arc<dyn Table>) -> Self {
        Self { table }
    }

    /// Stores a new session under `digest`, living `ttl`.
    pub async fn create(
        &self,
        digest: &str,
        session: &SessionRecord,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let item = to_item(
            &keys::session(digest),
            session,
            &[(TTL_ATTRIBUTE, expiry_after(ttl))],
        )?;
        self.table.put(item, Some(Condition::ItemNotExists)).await
    }

    /// The session under `digest`, unless it expired.
    pub async fn get(&self, digest: &str) -> Result<Option<SessionRecord>, StoreError> {
        match self.table.get(&keys::session(digest)).await? {
            Some(item) if !has_expired(&item) => Ok(Some(from_item(&item)?)),
            _ => Ok(None),
        }
    }

    /// Changes the session with `change` (given the session as it is; `Err` refuses and
    /// writes nothing), keeping the last `keep` messages and `ttl` more to live; retried
    /// against concurrent changes. `None`: no such session.
    pub async fn change<T, E>(
        &self,
        digest: &str,
        keep: usize,
        ttl: Duration,
        mut change: impl FnMut(&mut SessionRecord) -> Result<T, E>,
    ) -> Result<Option<Result<(SessionRecord, T), E>>, StoreError> {
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                crate::store::backoff(attempt.min(6)).await;
            }
            let Some(mut session) = self.get(digest).await? else {
                return Ok(None);
            };
            let read = session.version;
            let outcome = match change(&mut session) {
                Ok(outcome) => outcome,
                Err(e) => return Ok(Some(Err(e))),
            };
            let excess = session.messages.len().saturating_sub(keep);
            session.messages.drain(..excess);
            session.version += 1;
            session.updated_at = Utc::now();
            let item = to_item(
                &keys::session(digest),
                &session,
                &[(TTL_ATTRIBUTE, expiry_after(ttl))],
            )?;
            match self
                .table
                .put(item, Some(Condition::equals("version", read)))
                .await
            {
                Ok(()) => return Ok(Some(Ok((session, outcome)))),
                Err(StoreError::ConditionFailed) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Backend(
            "the chat session kept changing; try again".into(),
        ))
    }

    /// Keeps a hand-off for `ttl`.
    pub async fn record_handoff(
        &self,
        handoff: &HandoffRecord,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let item = to_item(
            &keys::handoff(handoff.at.timestamp_millis(), &handoff.reference),
            handoff,
            &[(TTL_ATTRIBUTE, expiry_after(ttl))],
        )?;
        self.table.put(item, None).await
    }

    /// The latest hand-offs, newest first, at most `limit`.
    pub async fn handoffs(&self, limit: usize) -> Result<Vec<HandoffRecord>, StoreError> {
        let mut query = Query::partition(Index::Primary, keys::HANDOFFS, limit);
        query.forward = false;
        let page = self.table.query(&query).await?;
        page.items
            .iter()
            .filter(|item| !has_expired(item))
            .map(from_item)
            .collect()
    }
}
