//! Push engines: Amazon Pinpoint (an endpoint per device, `UpdateEndpoint` with the customer
//! as its user and opt-out following consent, `DeleteEndpoint`, `SendMessages`), or the
//! embedded engine, whose "sent" messages are kept in the store (and appended to a JSON Lines
//! file when one is configured) for a developer to read.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;

use super::devices::{DeviceRecord, Platform};
use crate::codec::{from_item, to_item};
use crate::store::{Index, Key, Query, StoreError, TTL_ATTRIBUTE, Table, expiry_after};

/// A notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushMessage {
    /// Its title.
    pub title: String,
    /// Its text.
    pub body: String,
    /// What it is about (`order:<id>`), for the app to open.
    pub about: String,
}

/// Why a push call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PushError(pub String);

/// A push service.
#[async_trait]
pub trait PushEngine: Send + Sync {
    /// Its name, for logs and metrics.
    fn name(&self) -> &'static str;
    /// Creates or updates the endpoint of `device`, owned by `customer`; opted out of every
    /// message unless `opted_in`.
    async fn update_endpoint(
        &self,
        customer: &str,
        device: &DeviceRecord,
        opted_in: bool,
    ) -> Result<(), PushError>;
    /// Removes a device's endpoint.
    async fn delete_endpoint(&self, device_id: &str) -> Result<(), PushError>;
    /// Sends `message` to `devices` of `customer`.
    async fn send(
        &self,
        customer: &str,
        devices: &[DeviceRecord],
        message: &PushMessage,
    ) -> Result<(), PushError>;
}

/// A message the embedded engine "sent".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentPush {
    /// The customer.
    pub customer_id: String,
    /// The devices it went to.
    pub device_ids: Vec<String>,
    /// The message.
    pub message: PushMessage,
    /// When.
    pub sent_at: DateTime<Utc>,
}

/// The partition of the embedded engine's messages.
const SENT: &str = "PUSHLOG";
/// How long the embedded engine keeps a message.
const SENT_KEPT: Duration = Duration::from_secs(7 * 86_400);

/// The embedded engine: endpoints are the devices in the store; messages are kept for a
/// week in the store, newest last, and appended to `file` when set.
pub struct EmbeddedPush {
    table: Arc<dyn Table>,
    file: Option<PathBuf>,
}

impl EmbeddedPush {
    /// The engine over `table`, also writing messages to `file`.
    pub fn new(table: Arc<dyn Table>, file: Option<PathBuf>) -> Self {
        Self { table, file }
    }

    /// The newest `limit` messages "sent", newest first.
    pub async fn sent(&self, limit: usize) -> Result<Vec<SentPush>, StoreError> {
        let mut query = Query::partition(Index::Primary, SENT, limit);
        query.forward = false;
        let page = self.table.query(&query).await?;
        page.items
            .iter()
            .filter(|i| !crate::store::has_expired(i))
            .map(from_item)
            .collect()
    }
}

#[async_trait]
impl PushEngine for EmbeddedPush {
    fn name(&self) -> &'static str {
        "embedded"
    }

    async fn update_endpoint(&self, _: &str, _: &DeviceRecord, _: bool) -> Result<(), PushError> {
        Ok(())
    }

    async fn delete_endpoint(&self, _: &str) -> Result<(), PushError> {
        Ok(())
    }

    async fn send(
        &self,
        customer: &str,
        devices: &[DeviceRecord],
        message: &PushMessage,
    ) -> Result<(), PushError> {
        let sent = SentPush {
            customer_id: customer.to_owned(),
            device_ids: devices.iter().map(|d| d.id.clone()).collect(),
            message: message.clone(),
            sent_at: Utc::now(),
        };
        let position = format!(
            "{:013}#{}",
            sent.sent_at.timestamp_millis().max(0),
            uuid::Uuid::new_v4().simple()
        );
        let item = to_item(
            &Key::new(SENT, position),
            &sent,
            &[(TTL_ATTRIBUTE, expiry_after(SENT_KEPT))],
        )
        .map_err(|e| PushError(e.to_string()))?;
        self.table
            .put(item, None)
            .await
            .map_err(|e| PushError(e.to_string()))?;
        if let Some(path) = &self.file {
            let mut line = serde_json::to_string(&sent).map_err(|e| PushError(e.to_string()))?;
            line.push('\n');
            let mut file = tokio::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .await
                .map_err(|e| PushError(format!("{}: {e}", path.display())))?;
            file.write_all(line.as_bytes())
                .await
                .map_err(|e| PushError(format!("{}: {e}", path.display())))?;
        }
        Ok(())
    }
}

/// Amazon Pinpoint.
pub struct PinpointPush {
    client: aws_sdk_pinpoint::Client,
    application_id: String,
    deadline: Duration,
}

fn sdk_error<E: std::error::Error + 'static>(e: E) -> PushError {
    PushError(aws_smithy_types::error::display::DisplayErrorContext(e).to_string())
}

impl PinpointPush {
    /// The engine of the Pinpoint project `application_id`, each call within `deadline`.
    pub fn new(
        client: aws_sdk_pinpoint::Client,
        application_id: String,
        deadline: Duration,
    ) -> Self {
        Self {
            client,
            application_id,
            deadline,
        }
    }

    async fn within<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, PushError>>,
    ) -> Result<T, PushError> {
        tokio::time::timeout(self.deadline, call)
            .await
            .map_err(|_| {
                PushError(format!(
                    "Pinpoint did not answer within {:?}",
                    self.deadline
                ))
            })?
    }
}

#[async_trait]
impl PushEngine for PinpointPush {
    fn name(&self) -> &'static str {
        "pinpoint"
    }

    async fn update_endpoint(
        &self,
        customer: &str,
        device: &DeviceRecord,
        opted_in: bool,
    ) -> Result<(), PushError> {
        use aws_sdk_pinpoint::types::{ChannelType, EndpointRequest, EndpointUser};
        let request = EndpointRequest::builder()
            .address(&device.token)
            .channel_type(match device.platform {
                Platform::Apns => ChannelType::Apns,
                Platform::Fcm => ChannelType::Gcm,
            })
            .opt_out(if opted_in { "NONE" } else { "ALL" })
            .effective_date(device.registered_at.to_rfc3339())
            .user(EndpointUser::builder().user_id(customer).build())
            .build();
        self.within(async {
            self.client
                .update_endpoint()
                .application_id(&self.application_id)
                .endpoint_id(&device.id)
                .endpoint_request(request)
                .send()
                .await
                .map(drop)
                .map_err(sdk_error)
        })
        .await
    }

    async fn delete_endpoint(&self, device_id: &str) -> Result<(), PushError> {
        self.within(async {
            match self
                .client
                .delete_endpoint()
                .application_id(&self.application_id)
                .endpoint_id(device_id)
                .send()
                .await
            {
                Ok(_) => Ok(()),
                // Gone already: what unregistering wants.
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_not_found_exception()) =>
                {
                    Ok(())
                }
                Err(e) => Err(sdk_error(e)),
            }
        })
        .await
    }

    async fn send(
        &self,
        _customer: &str,
        devices: &[DeviceRecord],
        message: &PushMessage,
    ) -> Result<(), PushError> {
        use aws_sdk_pinpoint::types::{
            Action, ApnsMessage, DirectMessageConfiguration, EndpointSendConfiguration, GcmMessage,
            MessageRequest,
        };
        let mut request = MessageRequest::builder().message_configuration(
            DirectMessageConfiguration::builder()
                .apns_message(
                    ApnsMessage::builder()
                        .title(&message.title)
                        .body(&message.body)
                        .action(Action::OpenApp)
                        .data("about", &message.about)
                        .build(),
                )
                .gcm_message(
                    GcmMessage::builder()
                        .title(&message.title)
                        .body(&message.body)
                        .action(Action::OpenApp)
                        .data("about", &message.about)
                        .build(),
                )
                .build(),
        );
        for device in devices {
            request = request.endpoints(&device.id, EndpointSendConfiguration::builder().build());
        }
        let answer = self
            .within(async {
                self.client
                    .send_messages()
                    .application_id(&self.application_id)
                    .message_request(request.build())
                    .send()
                    .await
                    .map_err(sdk_error)
            })
            .await?;
        // Sending again would repeat the message on every device it reached; a device it
        // did not reach is logged instead.
        for (endpoint, result) in answer
            .message_response()
            .and_then(|r| r.endpoint_result())
            .into_iter()
            .flatten()
            .filter(|(_, r)| {
                r.delivery_status() != Some(&aws_sdk_pinpoint::types::DeliveryStatus::Successful)
            })
        {
            tracing::warn!(
                endpoint = %endpoint,
                status = ?result.delivery_status(),
                reason = result.status_message().unwrap_or(""),
                "a push notification was not delivered"
            );
        }
        Ok(())
    }
}
