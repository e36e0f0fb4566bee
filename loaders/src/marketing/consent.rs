//! Marketing consent: per customer, which channels (email, SMS, push) and topics they agreed
//! to, when and from where; a change is stored and announced (`CustomerConsentChanged`) in
//! one transaction, conditional on the version read.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::codec::{from_item, to_item};
use crate::events::{Event, Source, kinds};
use crate::store::{Condition, Key, StoreError, Table, WriteOp};

/// A customer's marketing consent, as stored; by default (never given) nothing is agreed to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentRecord {
    /// Marketing email.
    pub email: bool,
    /// Marketing SMS.
    pub sms: bool,
    /// Push notifications (also order updates on the customer's devices).
    pub push: bool,
    /// The topics agreed to, from the shop's list.
    pub topics: Vec<String>,
    /// Where the last change came from (`account`, `checkout`, …); none before any.
    pub source: Option<String>,
    /// When it last changed; none before any change.
    pub updated_at: Option<DateTime<Utc>>,
    /// Bumped by every change (the condition of the next).
    pub version: u64,
}

/// A change of consent: `None` leaves a channel (or the topics) as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsentChange {
    /// Marketing email.
    pub email: Option<bool>,
    /// Marketing SMS.
    pub sms: Option<bool>,
    /// Push notifications.
    pub push: Option<bool>,
    /// The whole new list of topics (already checked against the shop's).
    pub topics: Option<Vec<String>>,
}

fn key(sub: &str) -> Key {
    Key::new(format!("CONSENT#{sub}"), "MARKETING")
}

/// Consent in the table.
#[derive(Clone)]
pub struct Consents {
    table: Arc<dyn Table>,
}

impl Consents {
    /// Consent in `table`.
    pub fn new(table: Arc<dyn Table>) -> Self {
        Self { table }
    }

    /// The customer's consent (nothing agreed to when never given).
    pub async fn get(&self, sub: &str) -> Result<ConsentRecord, StoreError> {
        Ok(match self.table.get(&key(sub)).await? {
            Some(item) => from_item(&item)?,
            None => ConsentRecord::default(),
        })
    }

    /// Applies `change` from `source`; a change that changes nothing writes and announces
    /// nothing. Returns the consent after it and whether it changed.
    pub async fn update(
        &self,
        sub: &str,
        change: &ConsentChange,
        source: &str,
    ) -> Result<(ConsentRecord, bool), StoreError> {
        for attempt in 0..10 {
            let before = self.get(sub).await?;
            let mut after = before.clone();
            after.email = change.email.unwrap_or(before.email);
            after.sms = change.sms.unwrap_or(before.sms);
            after.push = change.push.unwrap_or(before.push);
            if let Some(topics) = &change.topics {
                after.topics.clone_from(topics);
            }
            if (after.email, after.sms, after.push, &after.topics)
                == (before.email, before.sms, before.push, &before.topics)
            {
                return Ok((before, false));
            }
            after.source = Some(source.to_owned());
            after.updated_at = Some(Utc::now());
            after.version = before.version + 1;
            let condition = if before.version == 0 {
                Condition::ItemNotExists
            } else {
                Condition::equals("version", before.version)
            };
            let ops = vec![
                WriteOp::Put {
                    item: to_item(&key(sub), &after, &[])?,
                    condition: Some(condition),
                },
                changed_event(sub, &before, &after).write()?,
            ];
            match self.table.transact_write(ops).await {
                Ok(()) => return Ok((after, true)),
                Err(StoreError::TransactionCanceled { .. }) => {
                    crate::store::backoff(attempt + 1).await;
                }
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Backend(
            "the consent keeps changing; try again".into(),
        ))
    }
}

fn changed_event(sub: &str, before: &ConsentRecord, after: &ConsentRecord) -> Event {
    let channels = |c: &ConsentRecord| json!({"email": c.email, "sms": c.sms, "push": c.push, "topics": c.topics});
    Event::new(
        Source::Customers,
        kinds::CUSTOMER_CONSENT_CHANGED,
        sub,
        json!({
            "customerId": sub,
            "marketing": channels(after),
            "previous": channels(before),
            "source": after.source,
            "changedAt": after.updated_at.map(|at| at.to_rfc3339()),
        }),
    )
}
