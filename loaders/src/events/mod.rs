//! Events: what happens in the shop, published once in effect to other systems. Domains write
//! an [`Event`] in the same transaction as the change it announces (its own outbox); the
//! events relay delivers it to the embedded event log, which local consumers read with
//! offsets of their own, and to an Amazon EventBridge bus when one is configured.

pub mod bridge;
pub mod envelope;
pub mod log;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use envelope::{Event, PENDING, SCHEMA_VERSION, Source, kinds, without_secrets};
pub use log::{Consumer, EventLog, Logged, Pass};

use crate::domain::{
    Domain, DomainConfig, OpenError, Services, SettingError, Shared, SharedSettings, parse_section,
};
use crate::outbox::{OutboxMetrics, OutboxSink, Relay};
use crate::periodic::{self, First};

/// The events domain's settings (`[events]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventsConfig {
    /// An EventBridge bus that gets every event.
    pub eventbridge_bus: Option<String>,
    /// Endpoint override for EventBridge (moto, LocalStack).
    pub endpoint_url: Option<String>,
    /// Milliseconds between relay passes (0: no relay on this replica).
    pub relay_millis: u64,
    /// Milliseconds between passes of each local consumer (0: none on this replica).
    pub consumer_millis: u64,
    /// Days the event log keeps an event.
    pub retention_days: u64,
    /// Milliseconds an event waits in the log before consumers read it: more than the
    /// replicas' clocks may differ by, and than an append may take.
    pub settle_millis: u64,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            eventbridge_bus: None,
            endpoint_url: None,
            relay_millis: 500,
            consumer_millis: 1_000,
            retention_days: 7,
            settle_millis: 2_000,
        }
    }
}

impl DomainConfig for EventsConfig {
    fn validate(&self, section: &str, _shared: &SharedSettings) -> Result<(), SettingError> {
        if self.retention_days == 0 {
            return Err(SettingError::new(
                format!("{section}.retention_days"),
                "the log keeps events at least 1 day",
            ));
        }
        if self.eventbridge_bus.as_deref().is_some_and(|b| {
            b.is_empty()
                || b.len() > 256
                || !b
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || b"._-/:".contains(&c))
        }) {
            return Err(SettingError::new(
                format!("{section}.eventbridge_bus"),
                "a bus name or ARN (letters, digits, `.`, `_`, `-`, `/`, `:`)",
            ));
        }
        Ok(())
    }
}

/// The events relay (a service of its own type beside the checkout's relay).
#[derive(Clone)]
pub struct EventRelay(pub Arc<Relay>);

/// An EventBridge client plugged in place of the one the config would build (tests).
#[derive(Clone)]
pub struct EventBridgeClient(pub aws_sdk_eventbridge::Client);

/// The events domain.
pub struct EventsDomain;

/// The events domain, as registered in the schema crate.
pub static DOMAIN: EventsDomain = EventsDomain;

#[async_trait::async_trait]
impl Domain for EventsDomain {
    fn name(&self) -> &'static str {
        "events"
    }

    fn variables(&self) -> &'static [crate::domain::Variable] {
        &[crate::domain::Variable {
            name: "STOREFRONT_EVENTBRIDGE_BUS",
            key: "eventbridge_bus",
            kind: crate::domain::ValueKind::Text,
        }]
    }

    fn check(&self, section: &toml::Table, shared: &SharedSettings) -> Result<(), SettingError> {
        parse_section::<EventsConfig>(self.name(), section, shared).map(drop)
    }

    async fn open(
        &self,
        section: &toml::Table,
        shared: &Shared,
        services: &mut Services,
    ) -> Result<(), OpenError> {
        let config = parse_section::<EventsConfig>(self.name(), section, &shared.settings)?;
        let log = EventLog::new(
            Arc::clone(&shared.table),
            Duration::from_secs(config.retention_days * 86_400),
            Duration::from_millis(config.settle_millis),
        )
        .with_metrics(log::ConsumerMetrics::registered(&shared.metrics));
        let mut sinks: Vec<Arc<dyn OutboxSink>> = vec![Arc::new(log.clone())];
        if let Some(bus) = &config.eventbridge_bus {
            let client = match shared.plugged.get::<EventBridgeClient>() {
                Some(plugged) => plugged.0.clone(),
                None => {
                    let sdk = crate::aws::engine_config(
                        "`events.eventbridge_bus`",
                        shared.settings.aws_region.as_deref(),
                        config.endpoint_url.as_deref(),
                    )
                    .await?;
                    crate::observed_client!(aws_sdk_eventbridge, &sdk, &shared.metrics)
                }
            };
            sinks.push(Arc::new(bridge::EventBus::new(client, bus.clone())));
        }
        let metrics = OutboxMetrics::registered(&shared.metrics, "events_outbox");
        services.insert(EventRelay(Arc::new(Relay::new(
            Arc::clone(&shared.table),
            PENDING,
            sinks,
            metrics,
        ))));
        services.insert(log);
        services.insert(Arc::new(config));
        Ok(())
    }

    async fn start(
        &self,
        _section: &toml::Table,
        services: &Services,
    ) -> Result<Option<String>, OpenError> {
        let (Some(relay), Some(config)) = (
            services.get::<EventRelay>().cloned(),
            services.get::<Arc<EventsConfig>>().cloned(),
        ) else {
            return Ok(None);
        };
        if config.relay_millis == 0 {
            return Ok(None);
        }
        periodic::every(
            Duration::from_millis(config.relay_millis),
            First::Now,
            move || {
                let relay = Arc::clone(&relay.0);
                async move {
                    if let Err(e) = relay.pass(100).await {
                        tracing::warn!(error = %e, "the events relay pass failed");
                    }
                }
            },
        );
        Ok(Some(format!(
            "events relay every {} ms",
            config.relay_millis
        )))
    }

    // A replica that relays hands over what is waiting before it exits.
    async fn stop(&self, _section: &toml::Table, services: &Services) -> Option<String> {
        let config = services.get::<Arc<EventsConfig>>()?;
        let relay = services.get::<EventRelay>()?;
        if config.relay_millis == 0 {
            return None;
        }
        Some(match relay.0.drain().await {
            Ok(n) => format!("the events relay delivered its last {n} events"),
            Err(e) => format!("the events relay's last pass failed: {e}"),
        })
    }
}

/// Runs the consumer `name` of the log on every `[events] consumer_millis` (when not 0),
/// handing each event to `handle`; for domains' `start`.
pub fn spawn_consumer<F, Fut>(services: &Services, name: &str, handle: F) -> Option<String>
where
    F: Fn(Event) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let log = services.get::<EventLog>()?;
    let config = services.get::<Arc<EventsConfig>>()?;
    if config.consumer_millis == 0 {
        return None;
    }
    let consumer = Arc::new(log.consumer(name));
    periodic::every(
        Duration::from_millis(config.consumer_millis),
        First::Now,
        move || {
            let (consumer, handle) = (Arc::clone(&consumer), handle.clone());
            async move {
                if let Err(e) = consumer.pass(100, handle).await {
                    tracing::warn!(consumer = %consumer.name(), error = %e, "an event consumer pass failed");
                }
            }
        },
    );
    Some(format!(
        "event consumer `{name}` every {} ms",
        config.consumer_millis
    ))
}
