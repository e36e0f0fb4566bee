//! Marketing: customers' consent (channels and topics, announced to other systems as
//! `CustomerConsentChanged`), their push devices (Amazon Pinpoint endpoints, or the embedded
//! engine), and notifications of order changes to the devices of customers who opted in,
//! sent by a consumer of the event log.

pub mod consent;
pub mod devices;
pub mod push;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use consent::{ConsentChange, ConsentRecord, Consents};
pub use devices::{DeviceRecord, Devices, Platform, RegisterError, check_token};
pub use push::{EmbeddedPush, PinpointPush, PushEngine, PushError, PushMessage, SentPush};

use crate::domain::{
    Domain, DomainConfig, OpenError, Services, SettingError, Shared, SharedSettings, parse_section,
};
use crate::events::{Event, kinds};
use crate::store::{Condition, Key, StoreError, TTL_ATTRIBUTE, Table, expiry_after};

/// Which push engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PushEngineKind {
    /// Messages kept in the store (and a file) for a developer to read.
    #[default]
    Embedded,
    /// Amazon Pinpoint.
    Pinpoint,
}

/// Push notifications (`[marketing.push]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PushConfig {
    /// `embedded` or `pinpoint`.
    pub engine: PushEngineKind,
    /// The Pinpoint project's id (engine `pinpoint`).
    pub application_id: Option<String>,
    /// Endpoint override for Pinpoint (a test fake).
    pub endpoint_url: Option<String>,
    /// Milliseconds a Pinpoint call may take.
    pub deadline_millis: u64,
    /// A JSON Lines file the embedded engine appends every message to.
    pub log_file: Option<PathBuf>,
    /// The most devices one customer may register.
    pub max_devices: usize,
    /// Days a device is kept after it last registered.
    pub device_days: u64,
}

impl Default for PushConfig {
    fn default() -> Self {
        Self {
            engine: PushEngineKind::Embedded,
            application_id: None,
            endpoint_url: None,
            deadline_millis: 3_000,
            log_file: None,
            max_devices: 10,
            device_days: 180,
        }
    }
}

/// The marketing domain's settings (`[marketing]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MarketingConfig {
    /// The topics a customer may subscribe to.
    pub topics: Vec<String>,
    /// Push notifications.
    pub push: PushConfig,
}

impl Default for MarketingConfig {
    fn default() -> Self {
        Self {
            topics: ["newsletter", "offers", "new-arrivals", "back-in-stock"]
                .map(str::to_owned)
                .to_vec(),
            push: PushConfig::default(),
        }
    }
}

/// Whether `topic` is a well-formed topic name (1–64 of a–z, 0–9 and `-`).
pub fn topic_name_ok(topic: &str) -> bool {
    (1..=64).contains(&topic.len())
        && topic
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

impl DomainConfig for MarketingConfig {
    fn validate(&self, section: &str, _shared: &SharedSettings) -> Result<(), SettingError> {
        if self.topics.len() > 50 || !self.topics.iter().all(|t| topic_name_ok(t)) {
            return Err(SettingError::new(
                format!("{section}.topics"),
                "at most 50 topics, each 1–64 of a–z, 0–9 and `-`",
            ));
        }
        if !(1..=50).contains(&self.push.max_devices) || self.push.device_days == 0 {
            return Err(SettingError::new(
                format!("{section}.push"),
                "max_devices is 1 to 50 and device_days at least 1",
            ));
        }
        if self.push.engine == PushEngineKind::Pinpoint
            && (self
                .push
                .application_id
                .as_deref()
                .is_none_or(str::is_empty)
                || self.push.deadline_millis == 0)
        {
            return Err(SettingError::new(
                format!("{section}.push.application_id"),
                "the `pinpoint` engine needs the project's id and a deadline of at least 1 ms",
            ));
        }
        Ok(())
    }
}

/// Why a device change did not happen.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// The token is not one of the platform's.
    #[error("{0}")]
    Invalid(&'static str),
    /// The customer has as many devices as one may.
    #[error(transparent)]
    TooMany(RegisterError),
    /// The push service did not take the change; nothing changed.
    #[error("the push service is unavailable: {0}")]
    Unavailable(PushError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The marketing domain's service.
#[derive(Clone)]
pub struct Marketing {
    /// Consent.
    pub consents: Consents,
    /// Push devices.
    pub devices: Devices,
    /// The push engine.
    pub engine: Arc<dyn PushEngine>,
    /// The embedded engine, when that is the one (its messages can be read).
    pub embedded: Option<Arc<EmbeddedPush>>,
    /// The settings.
    pub config: Arc<MarketingConfig>,
    table: Arc<dyn Table>,
    metrics: Family<PushLabels, Counter>,
}

/// A push notification's series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PushLabels {
    /// The push engine.
    pub engine: &'static str,
    /// `sent` or `failed`.
    pub result: &'static str,
}

/// How long a sent notification is remembered, so that an event offered again is not
/// announced twice.
const SENT_REMEMBERED: Duration = Duration::from_secs(2 * 86_400);

/// The name of the domain's consumer of the event log.
pub const CONSUMER: &str = "marketing-push";

impl Marketing {
    /// Registers a device for `sub` and its endpoint at the push service (opted out unless
    /// the customer consented to push); returns it and whether it is new.
    pub async fn register_device(
        &self,
        sub: &str,
        token: &str,
        platform: Platform,
    ) -> Result<(DeviceRecord, bool), DeviceError> {
        check_token(token, platform).map_err(DeviceError::Invalid)?;
        // The slot is taken first, so that concurrent registrations cannot pass the bound.
        let (device, new) =
            self.devices
                .register(sub, token, platform)
                .await
                .map_err(|e| match e {
                    RegisterError::Store(e) => DeviceError::Store(e),
                    too_many => DeviceError::TooMany(too_many),
                })?;
        let opted_in = self.consents.get(sub).await?.push;
        if let Err(e) = self.engine.update_endpoint(sub, &device, opted_in).await {
            if new {
                self.devices.unregister(sub, token).await?;
            }
            return Err(DeviceError::Unavailable(e));
        }
        Ok((device, new))
    }

    /// Removes a device and its endpoint; whether there was one.
    pub async fn unregister_device(&self, sub: &str, token: &str) -> Result<bool, DeviceError> {
        let id = devices::device_id(token);
        if !self.devices.list(sub).await?.iter().any(|d| d.id == id) {
            return Ok(false);
        }
        self.engine
            .delete_endpoint(&id)
            .await
            .map_err(DeviceError::Unavailable)?;
        Ok(self.devices.unregister(sub, token).await?.is_some())
    }

    /// Handles one event of the log: consent changes move the devices' opt-out, order
    /// changes notify the customer's devices when they opted in to push.
    pub async fn handle(&self, event: Event) -> Result<(), String> {
        let customer = event.data.get("customerId").and_then(Value::as_str);
        match (event.kind.as_str(), customer) {
            (kinds::CUSTOMER_CONSENT_CHANGED, Some(sub)) => {
                let push = |side: &str| event.data[side]["push"].as_bool();
                if push("marketing") == push("previous") {
                    return Ok(());
                }
                let opted_in = self
                    .consents
                    .get(sub)
                    .await
                    .map_err(|e| e.to_string())?
                    .push;
                for device in self.devices.list(sub).await.map_err(|e| e.to_string())? {
                    self.engine
                        .update_endpoint(sub, &device, opted_in)
                        .await
                        .map_err(|e| e.to_string())?;
                }
                Ok(())
            }
            (kinds::ORDER_STATUS_CHANGED, Some(sub)) => {
                let Some(message) = order_message(&event.data) else {
                    return Ok(());
                };
                if !self
                    .consents
                    .get(sub)
                    .await
                    .map_err(|e| e.to_string())?
                    .push
                {
                    return Ok(());
                }
                let devices = self.devices.list(sub).await.map_err(|e| e.to_string())?;
                if devices.is_empty() {
                    return Ok(());
                }
                self.send_once(&event.id, sub, &devices, &message).await
            }
            _ => Ok(()),
        }
    }

    /// Sends `message` for the event `event_id` unless it was sent for it before.
    async fn send_once(
        &self,
        event_id: &str,
        sub: &str,
        devices: &[DeviceRecord],
        message: &PushMessage,
    ) -> Result<(), String> {
        let marker = Key::new(format!("PUSHSENT#{event_id}"), "SENT");
        let mut item = marker.to_item();
        item.insert(TTL_ATTRIBUTE.into(), expiry_after(SENT_REMEMBERED));
        match self.table.put(item, Some(Condition::ItemNotExists)).await {
            Ok(()) => {}
            Err(StoreError::ConditionFailed) => return Ok(()),
            Err(e) => return Err(e.to_string()),
        }
        let sent = self.engine.send(sub, devices, message).await;
        self.metrics
            .get_or_create(&PushLabels {
                engine: self.engine.name(),
                result: if sent.is_ok() { "sent" } else { "failed" },
            })
            .inc();
        if let Err(e) = sent {
            // Not sent: the event is offered again, and may be sent then.
            let _ = self.table.delete(&marker, None).await;
            return Err(e.to_string());
        }
        Ok(())
    }
}

/// The notification of an order's new status; none for a status a shopper need not hear of.
fn order_message(data: &Value) -> Option<PushMessage> {
    let order = data.get("orderId")?.as_str()?;
    let number = data
        .get("number")
        .and_then(Value::as_str)
        .map_or_else(String::new, |n| format!(" {n}"));
    let news = match data.get("status")?.as_str()? {
        "PAID" => "is confirmed",
        "SHIPPED" => "is on its way",
        "DELIVERED" => "was delivered",
        "CANCELLED" => "was cancelled",
        "REFUNDED" => "was refunded",
        _ => return None,
    };
    Some(PushMessage {
        title: format!("Order{number}"),
        body: format!("Your order{number} {news}."),
        about: format!("order:{order}"),
    })
}

/// The marketing domain.
pub struct MarketingDomain;

/// The marketing domain, as registered in the schema crate.
pub static DOMAIN: MarketingDomain = MarketingDomain;

#[async_trait::async_trait]
impl Domain for MarketingDomain {
    fn name(&self) -> &'static str {
        "marketing"
    }

    fn variables(&self) -> &'static [crate::domain::Variable] {
        &[
            crate::domain::Variable {
                name: "STOREFRONT_PUSH_ENGINE",
                key: "push.engine",
                kind: crate::domain::ValueKind::Text,
            },
            crate::domain::Variable {
                name: "STOREFRONT_PINPOINT_APPLICATION_ID",
                key: "push.application_id",
                kind: crate::domain::ValueKind::Text,
            },
        ]
    }

    fn check(&self, section: &toml::Table, shared: &SharedSettings) -> Result<(), SettingError> {
        parse_section::<MarketingConfig>(self.name(), section, shared).map(drop)
    }

    async fn open(
        &self,
        section: &toml::Table,
        shared: &Shared,
        services: &mut Services,
    ) -> Result<(), OpenError> {
        let config = parse_section::<MarketingConfig>(self.name(), section, &shared.settings)?;
        let (engine, embedded): (Arc<dyn PushEngine>, _) = match config.push.engine {
            PushEngineKind::Embedded => {
                let embedded = Arc::new(EmbeddedPush::new(
                    Arc::clone(&shared.table),
                    config.push.log_file.clone(),
                ));
                (Arc::clone(&embedded) as Arc<dyn PushEngine>, Some(embedded))
            }
            PushEngineKind::Pinpoint => {
                let sdk = crate::aws::engine_config(
                    "the `pinpoint` push engine",
                    shared.settings.aws_region.as_deref(),
                    config.push.endpoint_url.as_deref(),
                )
                .await?;
                let engine = PinpointPush::new(
                    crate::observed_client!(aws_sdk_pinpoint, &sdk, &shared.metrics),
                    config.push.application_id.clone().unwrap_or_default(),
                    Duration::from_millis(config.push.deadline_millis),
                );
                (Arc::new(engine) as Arc<dyn PushEngine>, None)
            }
        };
        let metrics = Family::<PushLabels, Counter>::default();
        shared.metrics.register(
            "push_notifications",
            "Push notifications of order changes, by engine and result",
            metrics.clone(),
        );
        services.insert(Marketing {
            consents: Consents::new(Arc::clone(&shared.table)),
            devices: Devices::new(
                Arc::clone(&shared.table),
                config.push.max_devices,
                Duration::from_secs(config.push.device_days * 86_400),
            ),
            engine,
            embedded,
            config: Arc::new(config),
            table: Arc::clone(&shared.table),
            metrics,
        });
        Ok(())
    }

    async fn start(
        &self,
        _section: &toml::Table,
        services: &Services,
    ) -> Result<Option<String>, OpenError> {
        let Some(marketing) = services.get::<Marketing>().cloned() else {
            return Ok(None);
        };
        Ok(crate::events::spawn_consumer(
            services,
            CONSUMER,
            move |event| {
                let marketing = marketing.clone();
                async move { marketing.handle(event).await }
            },
        ))
    }
}
