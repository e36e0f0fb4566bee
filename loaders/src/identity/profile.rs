//! Customer profiles: name, email, marketing consent and addresses, in the store under the
//! identity's `sub` (so they are the same whichever provider signed the customer in).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::codec::{from_item, to_item};
use crate::events::{Event, Source, kinds};
use crate::store::{Condition, Key, StoreError, Table, WriteOp};

/// A postal address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    /// Recipient's given name.
    pub first_name: Option<String>,
    /// Recipient's family name.
    pub last_name: Option<String>,
    /// Company.
    pub company: Option<String>,
    /// Street and number.
    pub address1: String,
    /// Apartment, suite, floor.
    pub address2: Option<String>,
    /// City.
    pub city: String,
    /// State, province or region.
    pub province: Option<String>,
    /// Postal code.
    pub zip: Option<String>,
    /// ISO 3166-1 alpha-2 country code.
    pub country_code: String,
    /// Phone number.
    pub phone: Option<String>,
}

/// A customer's profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerProfile {
    /// The identity's subject.
    pub sub: String,
    /// Email, when known.
    pub email: Option<String>,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// Consent to marketing email.
    pub accepts_marketing: bool,
    /// Saved addresses, the default first.
    pub addresses: Vec<Address>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl CustomerProfile {
    /// A new profile.
    pub fn new(sub: &str, email: Option<String>) -> Self {
        let now = Utc::now();
        Self {
            sub: sub.to_owned(),
            email,
            first_name: None,
            last_name: None,
            accepts_marketing: false,
            addresses: Vec::new(),
            created_at: now,
            updated_at: now,
        }
    }

    /// A profile that is shown but never stored: for an answer that must look like a new
    /// account's without creating one (a sign-up with an email that has an account).
    pub fn unsaved(email: Option<String>, changes: &ProfileChanges) -> Self {
        let mut profile = Self::new(&uuid::Uuid::new_v4().to_string(), email);
        changes.apply(&mut profile);
        profile.created_at = profile.updated_at;
        profile
    }
}

/// Changes to a profile: `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileChanges {
    /// New given name (empty clears it).
    pub first_name: Option<String>,
    /// New family name (empty clears it).
    pub last_name: Option<String>,
    /// New marketing consent.
    pub accepts_marketing: Option<bool>,
    /// The new address list, replacing the old.
    pub addresses: Option<Vec<Address>>,
}

impl ProfileChanges {
    fn apply(&self, profile: &mut CustomerProfile) {
        let name = |v: &String| Some(v.trim().to_owned()).filter(|v| !v.is_empty());
        if let Some(v) = &self.first_name {
            profile.first_name = name(v);
        }
        if let Some(v) = &self.last_name {
            profile.last_name = name(v);
        }
        if let Some(v) = self.accepts_marketing {
            profile.accepts_marketing = v;
        }
        if let Some(v) = &self.addresses {
            profile.addresses.clone_from(v);
        }
        profile.updated_at = Utc::now();
    }
}

/// Reads and writes profiles.
#[derive(Clone)]
pub struct ProfileStore {
    table: Arc<dyn Table>,
}

const WRITE_ATTEMPTS: usize = 5;

fn key(sub: &str) -> Key {
    Key::new(format!("CUSTOMER#{sub}"), "PROFILE")
}

impl ProfileStore {
    /// Profiles in `table`.
    pub fn new(table: Arc<dyn Table>) -> Self {
        Self { table }
    }

    /// The profile of `sub`, if it has one.
    pub async fn get(&self, sub: &str) -> Result<Option<CustomerProfile>, StoreError> {
        self.table
            .get(&key(sub))
            .await?
            .map(|item| from_item(&item))
            .transpose()
    }

    /// The profile of `sub` through one request's loader (batched with the request's other
    /// reads, and read again after a mutation of the request wrote it); created when missing.
    pub async fn load_or_create(
        &self,
        loader: &Arc<crate::StoreLoader>,
        sub: &str,
        email: Option<&str>,
    ) -> Result<CustomerProfile, StoreError> {
        let loaded = loader
            .load_one(key(sub))
            .await
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        match loaded {
            Some(item) => Ok(item.record::<CustomerProfile>()?.as_ref().clone()),
            None => self.ensure(sub, email, &ProfileChanges::default()).await,
        }
    }

    /// The profile of `sub`, created from `initial` (with its `changes`) when missing.
    pub async fn ensure(
        &self,
        sub: &str,
        email: Option<&str>,
        changes: &ProfileChanges,
    ) -> Result<CustomerProfile, StoreError> {
        for _ in 0..WRITE_ATTEMPTS {
            if let Some(profile) = self.get(sub).await? {
                return Ok(profile);
            }
            let mut profile = CustomerProfile::new(sub, email.map(str::to_owned));
            changes.apply(&mut profile);
            profile.created_at = profile.updated_at;
            // The first sight of a customer announces them, once: in the same transaction.
            let signed_up = Event::new(
                Source::Customers,
                kinds::CUSTOMER_SIGNED_UP,
                sub,
                json!({
                    "customerId": sub,
                    "email": profile.email,
                    "firstName": profile.first_name,
                    "acceptsMarketing": profile.accepts_marketing,
                    "createdAt": profile.created_at.to_rfc3339(),
                }),
            );
            let ops = vec![
                WriteOp::Put {
                    item: to_item(&key(sub), &profile, &[])?,
                    condition: Some(Condition::ItemNotExists),
                },
                signed_up.write()?,
            ];
            match self.table.transact_write(ops).await {
                Ok(()) => return Ok(profile),
                // Created meanwhile (a second device signing in): read that one.
                Err(StoreError::TransactionCanceled { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Backend(format!(
            "the profile of {sub} keeps changing; try again"
        )))
    }

    /// Applies `changes` to the profile of `sub` (creating it when missing).
    pub async fn update(
        &self,
        sub: &str,
        email: Option<&str>,
        changes: &ProfileChanges,
    ) -> Result<CustomerProfile, StoreError> {
        for _ in 0..WRITE_ATTEMPTS {
            let mut profile = self.ensure(sub, email, &ProfileChanges::default()).await?;
            let before = serde_json::to_value(profile.updated_at)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            changes.apply(&mut profile);
            // Optimistic: the write holds only if nobody changed the profile since the read.
            match self
                .table
                .put(
                    to_item(&key(sub), &profile, &[])?,
                    Some(Condition::equals("updated_at", before)),
                )
                .await
            {
                Ok(()) => return Ok(profile),
                Err(StoreError::ConditionFailed) => {}
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Backend(format!(
            "the profile of {sub} keeps changing; try again"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::RedbTable;

    fn store() -> ProfileStore {
        ProfileStore::new(Arc::new(RedbTable::in_memory().expect("memory store")))
    }

    #[tokio::test]
    async fn a_profile_is_created_once_and_then_updated() {
        let profiles = store();
        assert_eq!(profiles.get("s1").await.expect("read"), None);
        let first = ProfileChanges {
            first_name: Some("Ada".into()),
            ..ProfileChanges::default()
        };
        let created = profiles
            .ensure("s1", Some("ada@example.com"), &first)
            .await
            .expect("created");
        assert_eq!(created.first_name.as_deref(), Some("Ada"));
        let again = ProfileChanges {
            first_name: Some("Someone else".into()),
            ..ProfileChanges::default()
        };
        let kept = profiles.ensure("s1", None, &again).await.expect("read");
        assert_eq!(kept, created, "ensure never overwrites");
        let updated = profiles
            .update(
                "s1",
                None,
                &ProfileChanges {
                    last_name: Some("Lovelace".into()),
                    first_name: Some(" ".into()),
                    accepts_marketing: Some(true),
                    addresses: None,
                },
            )
            .await
            .expect("updated");
        assert_eq!(updated.first_name, None);
        assert_eq!(updated.last_name.as_deref(), Some("Lovelace"));
        assert!(updated.accepts_marketing);
        assert_eq!(profiles.get("s1").await.expect("read"), Some(updated));
    }
}
