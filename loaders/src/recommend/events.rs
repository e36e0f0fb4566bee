//! Shopper interactions and their log in the store: each accepted batch is one item in the
//! partition of its day, kept for the retention period (TTL), and replayed at start so that a
//! restart keeps what the recommender learnt.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::codec::to_item;
use crate::store::{Condition, Index, Key, Query, StoreError, TTL_ATTRIBUTE, Table};

/// What a shopper did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventKind {
    /// Looked at a product.
    View,
    /// Put a product in the cart.
    AddToCart,
    /// Bought a product.
    Purchase,
    /// Searched.
    Search,
}

/// One interaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interaction {
    /// What happened.
    pub kind: EventKind,
    /// The product (all but searches).
    pub product_id: Option<String>,
    /// The query (searches).
    pub query: Option<String>,
    /// Who: a customer (`customer:<sub>`) or a guest session (`session:<id>`); none for an
    /// anonymous event that only counts towards popularity.
    pub subject: Option<String>,
    /// The product's traits at the time (`category:<id>`, `vendor:<name>`), for affinity.
    pub traits: Vec<String>,
    /// When.
    pub at: DateTime<Utc>,
}

/// The log of interactions in the store.
pub struct EventLog {
    retention_days: i64,
}

fn partition(day: DateTime<Utc>) -> String {
    format!("RECO_EVENTS#{}", day.format("%Y-%m-%d"))
}

impl EventLog {
    /// A log that keeps interactions `retention_days` days.
    pub fn new(retention_days: u32) -> Self {
        Self {
            retention_days: i64::from(retention_days.max(1)),
        }
    }

    fn item(&self, sk: String, events: &[Interaction], at: DateTime<Utc>) -> crate::store::Item {
        let expires = (at + Duration::days(self.retention_days)).timestamp();
        to_item(
            &Key::new(partition(at), sk),
            &json!({ "events": events }),
            &[(TTL_ATTRIBUTE, json!(expires))],
        )
        .expect("events serialise")
    }

    /// Appends a batch.
    pub async fn append(
        &self,
        table: &dyn Table,
        events: &[Interaction],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let sk = format!(
            "{:013}#{}",
            at.timestamp_millis(),
            uuid::Uuid::new_v4().simple()
        );
        table.put(self.item(sk, events, at), None).await
    }

    /// Appends a batch once per `id` (an order's purchases): false when it was logged before.
    pub async fn append_once(
        &self,
        table: &dyn Table,
        id: &str,
        events: &[Interaction],
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let item = self.item(format!("{:013}#{id}", 0), events, at);
        match table.put(item, Some(Condition::ItemNotExists)).await {
            Ok(()) => Ok(true),
            Err(StoreError::ConditionFailed) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Every logged interaction of the retention period, oldest day first, at most `limit`
    /// (the newest days are kept when there are more).
    pub async fn replay(
        &self,
        table: &dyn Table,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Interaction>, StoreError> {
        let mut days: Vec<Vec<Interaction>> = Vec::new();
        let mut total = 0;
        for back in 0..=self.retention_days {
            if total >= limit {
                break;
            }
            let day = now - Duration::days(back);
            let mut events = Vec::new();
            let mut start = None;
            loop {
                let mut query = Query::partition(Index::Primary, partition(day), 500);
                query.start = start;
                let page = table.query(&query).await?;
                for item in &page.items {
                    let expired = item
                        .get(TTL_ATTRIBUTE)
                        .and_then(Value::as_i64)
                        .is_some_and(|t| t <= now.timestamp());
                    if expired {
                        continue;
                    }
                    if let Some(list) = item.get("events") {
                        let batch: Vec<Interaction> = serde_json::from_value(list.clone())
                            .map_err(|e| StoreError::Corrupt(format!("logged events: {e}")))?;
                        events.extend(batch);
                    }
                }
                match page.next {
                    Some(next) => start = Some(next),
                    None => break,
                }
            }
            total += events.len();
            days.push(events);
        }
        let mut all: Vec<Interaction> = days.into_iter().rev().flatten().collect();
        let extra = all.len().saturating_sub(limit);
        all.drain(..extra);
        Ok(all)
    }
}
