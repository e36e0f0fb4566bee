//! Feature flags: stored one item each (boolean or variant, a rollout percentage, targeting
//! by country, signed-in or not, and customer segment), held in memory on every replica and
//! refreshed from the change feed, which carries flag writes of every replica through the
//! cache's invalidation channel; evaluated per viewer by a stable hash, so the same viewer
//! always gets the same answer.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::broadcast::error::RecvError;

use crate::codec::{from_item, to_item};
use crate::store::{Change, Changes, Index, Key, Query, StoreError, Table};

/// The most flags a shop keeps.
pub const MAX_FLAGS: usize = 500;

/// GSI1 partition listing every flag.
const ALL: &str = "FLAGS";

/// One variant of a variant flag, with its share of the rolled-out viewers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    /// Its name.
    pub name: String,
    /// Its weight among the variants (any positive whole numbers).
    pub weight: u32,
}

/// Who a flag applies to; an empty list means everyone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Targeting {
    /// ISO country codes.
    pub countries: Vec<String>,
    /// Only signed-in viewers (`true`), only guests (`false`), or both.
    pub signed_in: Option<bool>,
    /// Customer segments.
    pub segments: Vec<String>,
}

/// A flag as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FlagRecord {
    /// Its key (`new-checkout`): 1–64 of a–z, 0–9, `-`, `_`, `.`.
    pub key: String,
    /// Off for everyone when false.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The share of targeted viewers it is on for, 0–100.
    #[serde(default = "hundred")]
    pub rollout_percentage: u32,
    /// Variants (empty: a boolean flag).
    #[serde(default)]
    pub variants: Vec<Variant>,
    /// Who it applies to.
    #[serde(default)]
    pub targeting: Targeting,
    /// When it last changed.
    #[serde(default = "Utc::now")]
    pub updated_at: DateTime<Utc>,
}

fn yes() -> bool {
    true
}

fn hundred() -> u32 {
    100
}

/// The fields a flag file may give.
const FIELDS: &[&str] = &[
    "key",
    "enabled",
    "rolloutPercentage",
    "variants",
    "targeting",
];

impl FlagRecord {
    /// A flag from a flag file's JSON, refusing fields it does not know (a typo in a flag
    /// file must not pass silently).
    pub fn from_json(value: serde_json::Value) -> Result<Self, String> {
        if let Some(unknown) = value
            .as_object()
            .and_then(|o| o.keys().find(|k| !FIELDS.contains(&k.as_str())))
        {
            return Err(format!(
                "unknown field `{unknown}`, expected one of {FIELDS:?}"
            ));
        }
        serde_json::from_value(value).map_err(|e| e.to_string())
    }

    /// What is wrong with the flag, if anything.
    pub fn problem(&self) -> Option<String> {
        let key_ok = (1..=64).contains(&self.key.len())
            && self
                .key
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b));
        if !key_ok {
            return Some("a key is 1–64 of a–z, 0–9, `-`, `_` and `.`".into());
        }
        if self.rollout_percentage > 100 {
            return Some("the rollout percentage is 0–100".into());
        }
        if self.variants.len() > 20
            || self
                .variants
                .iter()
                .any(|v| v.weight == 0 || v.name.is_empty() || v.name.len() > 64)
        {
            return Some(
                "at most 20 variants, each named (1–64) with a weight of at least 1".into(),
            );
        }
        if self.targeting.countries.len() > 250 || self.targeting.segments.len() > 50 {
            return Some("at most 250 countries and 50 segments".into());
        }
        None
    }
}

/// Who is asking, for targeting and bucketing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlagViewer {
    /// The stable id buckets are drawn from: the customer's, else the session's.
    pub id: Option<String>,
    /// Whether the viewer is signed in.
    pub signed_in: bool,
    /// The viewer's country.
    pub country: Option<String>,
    /// The viewer's segments.
    pub segments: Vec<String>,
}

/// A flag's answer for one viewer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    /// The flag's key.
    pub key: String,
    /// Whether it is on for the viewer.
    pub enabled: bool,
    /// The viewer's variant, for a variant flag that is on.
    pub variant: Option<String>,
}

/// Where the viewer falls in 0..10,000 for this flag and purpose: the same viewer always
/// falls in the same place, and flags are independent of each other.
pub fn bucket(flag: &str, purpose: &str, viewer: &str) -> u32 {
    let digest = Sha256::digest(format!("{flag}\u{1f}{purpose}\u{1f}{viewer}").as_bytes());
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % 10_000
}

impl FlagRecord {
    /// The flag's answer for `viewer`. A viewer with no id (a guest without a session) is
    /// in a partial rollout only when it is at 100%.
    pub fn evaluate(&self, viewer: &FlagViewer) -> Evaluation {
        let off = Evaluation {
            key: self.key.clone(),
            enabled: false,
            variant: None,
        };
        let t = &self.targeting;
        let targeted = (t.countries.is_empty()
            || viewer
                .country
                .as_deref()
                .is_some_and(|c| t.countries.iter().any(|x| x.eq_ignore_ascii_case(c))))
            && t.signed_in.is_none_or(|s| s == viewer.signed_in)
            && (t.segments.is_empty() || viewer.segments.iter().any(|s| t.segments.contains(s)));
        if !self.enabled || !targeted {
            return off;
        }
        let rolled_out = match (&viewer.id, self.rollout_percentage) {
            (_, 100) => true,
            (None, _) => false,
            (Some(id), percent) => bucket(&self.key, "rollout", id) < percent * 100,
        };
        if !rolled_out {
            return off;
        }
        let total: u32 = self.variants.iter().map(|v| v.weight).sum();
        let variant = (total > 0).then(|| {
            let mut at = viewer
                .id
                .as_deref()
                .map_or(0, |id| bucket(&self.key, "variant", id))
                % total;
            self.variants
                .iter()
                .find(|v| {
                    if at < v.weight {
                        true
                    } else {
                        at -= v.weight;
                        false
                    }
                })
                .map(|v| v.name.clone())
                .unwrap_or_default()
        });
        Evaluation {
            key: self.key.clone(),
            enabled: true,
            variant,
        }
    }
}

/// The key of a flag's item.
pub fn key(flag: &str) -> Key {
    Key::new(format!("FLAG#{flag}"), "FLAG")
}

/// The flags, in memory, kept in step with the store.
#[derive(Clone)]
pub struct Flags {
    table: Arc<dyn Table>,
    uncached: Arc<dyn Table>,
    held: Arc<RwLock<Arc<BTreeMap<String, FlagRecord>>>>,
}

/// Why a flag was not set.
#[derive(Debug, thiserror::Error)]
pub enum FlagError {
    /// The flag is not valid; the message says why.
    #[error("{0}")]
    Invalid(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Flags {
    /// Flags written through `table` and read back through `uncached`.
    pub fn new(table: Arc<dyn Table>, uncached: Arc<dyn Table>) -> Self {
        Self {
            table,
            uncached,
            held: Arc::default(),
        }
    }

    /// Every flag, by key.
    pub fn all(&self) -> Arc<BTreeMap<String, FlagRecord>> {
        Arc::clone(&self.held.read().expect("the flags lock is never poisoned"))
    }

    /// One flag.
    pub fn get(&self, key: &str) -> Option<FlagRecord> {
        self.all().get(key).cloned()
    }

    /// Reads every flag from the store.
    pub async fn reload(&self) -> Result<usize, StoreError> {
        let page = self
            .uncached
            .query(&Query::partition(Index::Gsi1, ALL, MAX_FLAGS))
            .await?;
        let flags: BTreeMap<String, FlagRecord> = page
            .items
            .iter()
            .map(from_item::<FlagRecord>)
            .map(|f| f.map(|f| (f.key.clone(), f)))
            .collect::<Result<_, _>>()?;
        let count = flags.len();
        *self.held.write().expect("the flags lock is never poisoned") = Arc::new(flags);
        Ok(count)
    }

    /// Reads one flag again (a change the feed announced).
    async fn refresh(&self, flag: &str) -> Result<(), StoreError> {
        let found = self.uncached.get(&key(flag)).await?;
        let mut flags = BTreeMap::clone(&self.all());
        match found {
            Some(item) => {
                let record: FlagRecord = from_item(&item)?;
                flags.insert(record.key.clone(), record);
            }
            None => {
                flags.remove(flag);
            }
        }
        *self.held.write().expect("the flags lock is never poisoned") = Arc::new(flags);
        Ok(())
    }

    /// Creates or replaces a flag.
    pub async fn set(&self, mut flag: FlagRecord) -> Result<FlagRecord, FlagError> {
        if let Some(problem) = flag.problem() {
            return Err(FlagError::Invalid(problem));
        }
        if !self.all().contains_key(&flag.key) && self.all().len() >= MAX_FLAGS {
            return Err(FlagError::Invalid(format!(
                "a shop keeps at most {MAX_FLAGS} flags"
            )));
        }
        flag.updated_at = Utc::now();
        let item = to_item(
            &key(&flag.key),
            &flag,
            &[("gsi1pk", ALL.into()), ("gsi1sk", flag.key.clone().into())],
        )?;
        self.table.put(item, None).await?;
        self.refresh(&flag.key).await?;
        Ok(flag)
    }

    /// Removes a flag; whether it existed.
    pub async fn delete(&self, flag: &str) -> Result<bool, StoreError> {
        let existed = self.all().contains_key(flag);
        self.table.delete(&key(flag), None).await?;
        self.refresh(flag).await?;
        Ok(existed)
    }

    /// Keeps the flags in step with the change feed (this replica's writes and, through
    /// Redis, every other's) until the feed closes.
    pub fn follow(&self, changes: &Changes) {
        let mut feed = changes.subscribe();
        let flags = self.clone();
        tokio::spawn(async move {
            loop {
                let result = match feed.recv().await {
                    Ok(Change::Keys(keys)) => {
                        let mut result = Ok(());
                        for key in keys.iter() {
                            if let Some(flag) = key.pk.strip_prefix("FLAG#") {
                                result = result.and(flags.refresh(flag).await);
                            }
                        }
                        result
                    }
                    Ok(Change::Unknown) | Err(RecvError::Lagged(_)) => {
                        flags.reload().await.map(drop)
                    }
                    Err(RecvError::Closed) => return,
                };
                if let Err(e) = result {
                    tracing::warn!(error = %e, "the feature flags could not be refreshed");
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flag(rollout: u32) -> FlagRecord {
        FlagRecord {
            key: "new-checkout".into(),
            enabled: true,
            rollout_percentage: rollout,
            variants: Vec::new(),
            targeting: Targeting::default(),
            updated_at: Utc::now(),
        }
    }

    fn viewer(n: usize) -> FlagViewer {
        FlagViewer {
            id: Some(format!("customer-{n}")),
            ..FlagViewer::default()
        }
    }

    #[test]
    fn a_30_percent_rollout_reaches_30_percent_of_10000_viewers_each_always_the_same() {
        let flag = flag(30);
        let on = (0..10_000)
            .filter(|n| flag.evaluate(&viewer(*n)).enabled)
            .count();
        assert!((2_700..=3_300).contains(&on), "{on} of 10,000");
        for n in 0..1_000 {
            assert_eq!(
                flag.evaluate(&viewer(n)),
                flag.evaluate(&viewer(n)),
                "viewer {n} is stable"
            );
        }
        // Widening the rollout keeps everyone who had it.
        let wider = FlagRecord {
            rollout_percentage: 50,
            ..flag.clone()
        };
        assert!(
            (0..10_000)
                .all(|n| !flag.evaluate(&viewer(n)).enabled || wider.evaluate(&viewer(n)).enabled)
        );
    }

    #[test]
    fn variants_split_by_weight_and_targeting_narrows_who_gets_the_flag() {
        let mut flag = flag(100);
        flag.variants = vec![
            Variant {
                name: "a".into(),
                weight: 1,
            },
            Variant {
                name: "b".into(),
                weight: 3,
            },
        ];
        let b = (0..10_000)
            .filter(|n| flag.evaluate(&viewer(*n)).variant.as_deref() == Some("b"))
            .count();
        assert!((7_200..=7_800).contains(&b), "{b}");
        flag.targeting = Targeting {
            countries: vec!["DE".into()],
            signed_in: Some(true),
            segments: Vec::new(),
        };
        let mut german = viewer(1);
        german.country = Some("de".into());
        assert!(!flag.evaluate(&german).enabled, "not signed in");
        german.signed_in = true;
        assert!(flag.evaluate(&german).enabled);
        german.country = Some("FR".into());
        assert!(!flag.evaluate(&german).enabled);
    }

    #[test]
    fn bad_flags_are_refused_with_the_reason() {
        let mut bad = flag(101);
        assert!(bad.problem().expect("problem").contains("0–100"));
        bad.rollout_percentage = 10;
        bad.key = "Has Space".into();
        assert!(bad.problem().expect("problem").contains("a key"));
    }
}
