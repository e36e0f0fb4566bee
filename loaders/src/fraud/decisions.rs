//! Every fraud decision, stored with its reasons for the admins who review them: one item
//! under the email's partition and, for a checkout, one under the order's, newest first,
//! each expiring after the retention period.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::event::{FraudEventKind, Verdict};
use crate::codec::{from_item, to_item};
use crate::store::{Index, Key, Query, StoreError, TTL_ATTRIBUTE, Table, expiry_after};

/// A decision as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FraudDecision {
    /// Its id.
    pub id: String,
    /// What was checked.
    pub kind: FraudEventKind,
    /// The engine that answered (`rules`, `frauddetector`), or `fallback` when it did not.
    pub engine: String,
    /// The verdict acted on.
    pub verdict: Verdict,
    /// The risk score, 0–1000.
    pub score: u32,
    /// Why.
    pub reasons: Vec<String>,
    /// The email checked.
    pub email: String,
    /// The customer, when signed in.
    pub customer_id: Option<String>,
    /// The order, for a checkout.
    pub order_id: Option<String>,
    /// The client's address.
    pub ip: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

/// The most decisions a look-up returns.
pub const MOST: usize = 100;

/// Where decisions are kept.
#[derive(Clone)]
pub struct DecisionStore {
    table: Arc<dyn Table>,
    retention: Duration,
}

fn email_partition(email: &str) -> String {
    format!("FRAUD#email#{}", email.trim().to_ascii_lowercase())
}

fn order_partition(order_id: &str) -> String {
    format!("FRAUD#order#{order_id}")
}

impl DecisionStore {
    /// Decisions in `table`, kept for `retention`.
    pub fn new(table: Arc<dyn Table>, retention: Duration) -> Self {
        Self { table, retention }
    }

    /// Stores a decision (under its email, and its order when it has one).
    pub async fn record(&self, decision: &FraudDecision) -> Result<(), StoreError> {
        let sort = format!("{}#{}", decision.at.to_rfc3339(), decision.id);
        let mut partitions = vec![email_partition(&decision.email)];
        partitions.extend(decision.order_id.as_deref().map(order_partition));
        let expires = expiry_after(self.retention);
        let items = partitions
            .into_iter()
            .map(|pk| {
                to_item(
                    &Key::new(pk, sort.clone()),
                    decision,
                    &[(TTL_ATTRIBUTE, expires.clone())],
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.table.batch_put(items).await
    }

    /// The newest decisions about an order.
    pub async fn for_order(&self, order_id: &str) -> Result<Vec<FraudDecision>, StoreError> {
        self.list(order_partition(order_id)).await
    }

    /// The newest decisions about an email.
    pub async fn for_email(&self, email: &str) -> Result<Vec<FraudDecision>, StoreError> {
        self.list(email_partition(email)).await
    }

    async fn list(&self, partition: String) -> Result<Vec<FraudDecision>, StoreError> {
        let mut query = Query::partition(Index::Primary, partition, MOST);
        query.forward = false;
        let page = self.table.query(&query).await?;
        page.items
            .iter()
            .filter(|item| !crate::store::has_expired(item))
            .map(from_item)
            .collect()
    }
}
