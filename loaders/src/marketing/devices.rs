//! A customer's push devices: at most `max_devices`, each forgotten `device_days` after it
//! last registered, all in one item changed conditionally on its version, so registrations
//! racing on several replicas never pass the bound.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::codec::{from_item, to_item};
use crate::hash::sha256_hex;
use crate::store::{Condition, Key, StoreError, TTL_ATTRIBUTE, Table, expiry_after, has_expired};

/// A push service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Platform {
    /// Apple Push Notification service.
    Apns,
    /// Firebase Cloud Messaging.
    Fcm,
}

/// One device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRecord {
    /// Its id (and Pinpoint endpoint id): derived from the token, never the token.
    pub id: String,
    /// The push service's token for the device.
    pub token: String,
    /// The push service.
    pub platform: Platform,
    /// When it last registered.
    pub registered_at: DateTime<Utc>,
}

/// The device id of a token.
pub fn device_id(token: &str) -> String {
    sha256_hex(token.as_bytes())[..32].to_owned()
}

/// Why a device token is refused.
pub fn check_token(token: &str, platform: Platform) -> Result<(), &'static str> {
    let fits = match platform {
        // APNs tokens are hex (32 bytes today; Apple says not to assume the length).
        Platform::Apns => {
            (32..=400).contains(&token.len()) && token.bytes().all(|b| b.is_ascii_hexdigit())
        }
        // FCM registration tokens: URL-safe characters and `:`.
        Platform::Fcm => {
            (32..=4096).contains(&token.len())
                && token
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_:.".contains(&b))
        }
    };
    if fits {
        Ok(())
    } else {
        Err("not a device token of that platform")
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct DevicesRecord {
    devices: Vec<DeviceRecord>,
    version: u64,
}

/// Why a registration did not happen.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// The customer has as many devices as one may.
    #[error("at most {0} devices may receive push notifications; unregister one first")]
    TooMany(usize),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn key(sub: &str) -> Key {
    Key::new(format!("PUSH#{sub}"), "DEVICES")
}

/// Devices in the table.
#[derive(Clone)]
pub struct Devices {
    table: Arc<dyn Table>,
    max: usize,
    lifetime: Duration,
}

impl Devices {
    /// Devices in `table`: at most `max` a customer, each kept `lifetime`.
    pub fn new(table: Arc<dyn Table>, max: usize, lifetime: Duration) -> Self {
        Self {
            table,
            max,
            lifetime,
        }
    }

    async fn read(&self, sub: &str) -> Result<DevicesRecord, StoreError> {
        let mut record: DevicesRecord = match self.table.get(&key(sub)).await? {
            Some(item) if !has_expired(&item) => from_item(&item)?,
            _ => DevicesRecord::default(),
        };
        let oldest =
            Utc::now() - chrono::Duration::from_std(self.lifetime).unwrap_or(chrono::Duration::MAX);
        record.devices.retain(|d| d.registered_at > oldest);
        Ok(record)
    }

    /// The customer's devices.
    pub async fn list(&self, sub: &str) -> Result<Vec<DeviceRecord>, StoreError> {
        Ok(self.read(sub).await?.devices)
    }

    /// Changes the list with `change` (which says whether it changed anything), conditional
    /// on the version read, retried against concurrent changes.
    async fn modify<T, E: From<StoreError>>(
        &self,
        sub: &str,
        mut change: impl FnMut(&mut Vec<DeviceRecord>) -> Result<(bool, T), E>,
    ) -> Result<T, E> {
        for attempt in 0..10 {
            let mut record = self.read(sub).await?;
            let read = record.version;
            let (changed, outcome) = change(&mut record.devices)?;
            if !changed {
                return Ok(outcome);
            }
            record.version = read + 1;
            let condition = Condition::Or(vec![
                Condition::equals("version", read),
                // A first write, or over an expired item.
                Condition::ItemNotExists,
                Condition::Not(Box::new(Condition::AtLeast(
                    TTL_ATTRIBUTE.into(),
                    Utc::now().timestamp(),
                ))),
            ]);
            let item = to_item(
                &key(sub),
                &record,
                &[(TTL_ATTRIBUTE, expiry_after(self.lifetime))],
            )?;
            match self.table.put(item, Some(condition)).await {
                Ok(()) => return Ok(outcome),
                Err(StoreError::ConditionFailed) => crate::store::backoff(attempt + 1).await,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Backend("the devices keep changing; try again".into()).into())
    }

    /// Registers (or refreshes) a device; returns it and whether it is new.
    pub async fn register(
        &self,
        sub: &str,
        token: &str,
        platform: Platform,
    ) -> Result<(DeviceRecord, bool), RegisterError> {
        let max = self.max;
        let device = DeviceRecord {
            id: device_id(token),
            token: token.to_owned(),
            platform,
            registered_at: Utc::now(),
        };
        self.modify(sub, |devices| {
            let new = !devices.iter().any(|d| d.id == device.id);
            if new && devices.len() >= max {
                return Err(RegisterError::TooMany(max));
            }
            devices.retain(|d| d.id != device.id);
            devices.push(device.clone());
            Ok((true, (device.clone(), new)))
        })
        .await
    }

    /// Forgets the device with this token; the device it was, when there was one.
    pub async fn unregister(
        &self,
        sub: &str,
        token: &str,
    ) -> Result<Option<DeviceRecord>, StoreError> {
        let id = device_id(token);
        self.modify(sub, |devices| {
            let found = devices.iter().position(|d| d.id == id);
            Ok::<_, StoreError>((found.is_some(), found.map(|i| devices.remove(i))))
        })
        .await
    }
}
