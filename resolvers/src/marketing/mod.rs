//! Marketing consent and push devices of the signed-in customer
//! (`customerConsentUpdate`, `registerPushDevice`, `unregisterPushDevice`, `marketingConsent`,
//! `pushDevices`), and the embedded push engine's messages for operators (`pushMessages`).

use async_graphql::{Context, Enum, InputObject, Object, SimpleObject};
use storefront_loaders::marketing::{
    ConsentChange, ConsentRecord, DeviceError, DeviceRecord, Marketing, Platform, SentPush,
    topic_name_ok,
};

use crate::checkout::operator;
use crate::context::service;
use crate::customer::{signed_in, viewer};
use crate::error::{ApiError, ApiResult};
use crate::scalars::DateTime;

/// A customer's marketing consent.
#[derive(SimpleObject)]
pub struct MarketingConsent {
    /// Marketing email.
    pub email: bool,
    /// Marketing SMS.
    pub sms: bool,
    /// Push notifications, order updates among them.
    pub push: bool,
    /// The topics subscribed to.
    pub topics: Vec<String>,
    /// Where the last change came from; null before any.
    pub source: Option<ConsentSource>,
    /// When it last changed; null before any change.
    pub updated_at: Option<DateTime>,
}

impl From<ConsentRecord> for MarketingConsent {
    fn from(r: ConsentRecord) -> Self {
        Self {
            email: r.email,
            sms: r.sms,
            push: r.push,
            topics: r.topics,
            source: r.source.as_deref().and_then(ConsentSource::parse),
            updated_at: r.updated_at.map(DateTime),
        }
    }
}

/// Where a consent change was given.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentSource {
    /// The customer's account pages.
    Account,
    /// The checkout.
    Checkout,
    /// Sign-up.
    SignUp,
    /// The mobile app.
    MobileApp,
    /// A preference centre linked from a message.
    PreferenceCenter,
    /// Customer service, on the customer's behalf.
    Support,
}

impl ConsentSource {
    fn as_str(self) -> &'static str {
        match self {
            Self::Account => "account",
            Self::Checkout => "checkout",
            Self::SignUp => "sign_up",
            Self::MobileApp => "mobile_app",
            Self::PreferenceCenter => "preference_center",
            Self::Support => "support",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [
            Self::Account,
            Self::Checkout,
            Self::SignUp,
            Self::MobileApp,
            Self::PreferenceCenter,
            Self::Support,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// Channels to consent to or withdraw from; a channel left out stays as it is.
#[derive(InputObject, Default)]
pub struct MarketingConsentInput {
    /// Marketing email.
    pub email: Option<bool>,
    /// Marketing SMS.
    pub sms: Option<bool>,
    /// Push notifications.
    pub push: Option<bool>,
}

/// A push service.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushPlatform {
    /// Apple Push Notification service (a hex device token).
    Apns,
    /// Firebase Cloud Messaging (a registration token).
    Fcm,
}

impl From<PushPlatform> for Platform {
    fn from(p: PushPlatform) -> Self {
        match p {
            PushPlatform::Apns => Platform::Apns,
            PushPlatform::Fcm => Platform::Fcm,
        }
    }
}

impl From<Platform> for PushPlatform {
    fn from(p: Platform) -> Self {
        match p {
            Platform::Apns => PushPlatform::Apns,
            Platform::Fcm => PushPlatform::Fcm,
        }
    }
}

/// A device that receives the customer's push notifications.
#[derive(SimpleObject)]
pub struct PushDevice {
    /// Its id (derived from its token; the token itself is never shown).
    pub id: String,
    /// Its push service.
    pub platform: PushPlatform,
    /// When it last registered (a device is forgotten months after that).
    pub registered_at: DateTime,
}

impl From<DeviceRecord> for PushDevice {
    fn from(d: DeviceRecord) -> Self {
        Self {
            id: d.id,
            platform: d.platform.into(),
            registered_at: DateTime(d.registered_at),
        }
    }
}

/// What went wrong with a marketing mutation's input.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarketingErrorCode {
    /// A value is malformed.
    Invalid,
    /// A topic is not one of the shop's.
    UnknownTopic,
    /// The customer has as many push devices as one may.
    TooManyDevices,
    /// The push service did not take the change; nothing changed: try again later.
    PushUnavailable,
}

/// An expected failure of a marketing mutation.
#[derive(SimpleObject, Debug, Clone, PartialEq, Eq)]
pub struct MarketingUserError {
    /// The path to the argument at fault.
    pub field: Vec<String>,
    /// What is wrong, for people.
    pub message: String,
    /// What is wrong, for programs.
    pub code: MarketingErrorCode,
}

fn user_error(field: &str, code: MarketingErrorCode, message: String) -> MarketingUserError {
    MarketingUserError {
        field: vec![field.to_owned()],
        message,
        code,
    }
}

/// The result of `customerConsentUpdate`.
#[derive(SimpleObject)]
pub struct CustomerConsentUpdatePayload {
    /// The consent after the change (as it was, when the change was refused).
    pub consent: Option<MarketingConsent>,
    /// What was wrong.
    pub user_errors: Vec<MarketingUserError>,
}

/// The result of `registerPushDevice`.
#[derive(SimpleObject)]
pub struct RegisterPushDevicePayload {
    /// The device registered.
    pub device: Option<PushDevice>,
    /// What was wrong.
    pub user_errors: Vec<MarketingUserError>,
}

/// The result of `unregisterPushDevice`.
#[derive(SimpleObject)]
pub struct UnregisterPushDevicePayload {
    /// Whether a device was removed.
    pub removed: bool,
    /// What was wrong.
    pub user_errors: Vec<MarketingUserError>,
}

/// A notification the embedded push engine "sent".
#[derive(SimpleObject)]
pub struct SentPushMessage {
    /// The customer's id.
    pub customer_id: String,
    /// The devices it went to.
    pub device_ids: Vec<String>,
    /// Its title.
    pub title: String,
    /// Its text.
    pub body: String,
    /// What it is about (`order:<id>`).
    pub about: String,
    /// When.
    pub sent_at: DateTime,
}

impl From<SentPush> for SentPushMessage {
    fn from(s: SentPush) -> Self {
        Self {
            customer_id: s.customer_id,
            device_ids: s.device_ids,
            title: s.message.title,
            body: s.message.body,
            about: s.message.about,
            sent_at: DateTime(s.sent_at),
        }
    }
}

/// The most topics one change may name (the shop's list is at most 50).
const MAX_TOPICS: usize = 50;

/// Marketing queries.
#[derive(Default)]
pub struct MarketingQuery;

/// Marketing queries.
#[Object]
impl MarketingQuery {
    /// The signed-in customer's marketing consent.
    #[graphql(guard = "signed_in")]
    async fn marketing_consent(&self, ctx: &Context<'_>) -> ApiResult<MarketingConsent> {
        let sub = viewer(ctx)?.sub();
        Ok(service::<Marketing>(ctx)?.consents.get(sub).await?.into())
    }

    /// The signed-in customer's push devices.
    #[graphql(guard = "signed_in")]
    async fn push_devices(&self, ctx: &Context<'_>) -> ApiResult<Vec<PushDevice>> {
        let sub = viewer(ctx)?.sub();
        Ok(service::<Marketing>(ctx)?
            .devices
            .list(sub)
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// The newest notifications the embedded push engine "sent" (at most `first`, 1–100),
    /// newest first; empty with another engine. Needs an admin API key.
    #[graphql(guard = "operator")]
    async fn push_messages(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "How many, 1–100.", default = 20)] first: i32,
    ) -> ApiResult<Vec<SentPushMessage>> {
        let first = usize::try_from(first)
            .ok()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| ApiError::bad_input("`first` is 1 to 100"))?;
        let Some(embedded) = &service::<Marketing>(ctx)?.embedded else {
            return Ok(Vec::new());
        };
        Ok(embedded
            .sent(first)
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }
}

/// Marketing mutations.
#[derive(Default)]
pub struct MarketingMutation;

/// Marketing mutations.
#[Object]
impl MarketingMutation {
    /// Gives or withdraws the signed-in customer's marketing consent, by channel and topic;
    /// the change is stored with its time and source and announced to other systems
    /// (`CustomerConsentChanged`). A change that changes nothing is not announced.
    #[graphql(guard = "signed_in")]
    async fn customer_consent_update(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The channels that change.")] marketing: MarketingConsentInput,
        #[graphql(desc = "The whole new list of topics (left as it is when absent).")]
        topics: Option<Vec<String>>,
        #[graphql(desc = "Where the customer gave it (`ACCOUNT` when absent).")] source: Option<
            ConsentSource,
        >,
    ) -> ApiResult<CustomerConsentUpdatePayload> {
        let sub = viewer(ctx)?.sub().to_owned();
        let marketing_service = service::<Marketing>(ctx)?;
        let refused = |error| CustomerConsentUpdatePayload {
            consent: None,
            user_errors: vec![error],
        };
        let topics = match topics {
            Some(topics) if topics.len() > MAX_TOPICS => {
                return Ok(refused(user_error(
                    "topics",
                    MarketingErrorCode::Invalid,
                    format!("at most {MAX_TOPICS} topics"),
                )));
            }
            Some(topics) => {
                let mut unique: Vec<String> = Vec::new();
                for topic in topics {
                    if !topic_name_ok(&topic) || !marketing_service.config.topics.contains(&topic) {
                        let shown: String = topic.chars().take(64).collect();
                        return Ok(refused(user_error(
                            "topics",
                            MarketingErrorCode::UnknownTopic,
                            format!(
                                "`{shown}` is not a topic of this shop ({})",
                                marketing_service.config.topics.join(", ")
                            ),
                        )));
                    }
                    if !unique.contains(&topic) {
                        unique.push(topic);
                    }
                }
                Some(unique)
            }
            None => None,
        };
        let change = ConsentChange {
            email: marketing.email,
            sms: marketing.sms,
            push: marketing.push,
            topics,
        };
        let (consent, _) = marketing_service
            .consents
            .update(
                &sub,
                &change,
                source.unwrap_or(ConsentSource::Account).as_str(),
            )
            .await?;
        Ok(CustomerConsentUpdatePayload {
            consent: Some(consent.into()),
            user_errors: Vec::new(),
        })
    }

    /// Registers a device of the signed-in customer for push notifications (again: refreshes
    /// it). It receives them only while the customer consents to push.
    #[graphql(guard = "signed_in")]
    async fn register_push_device(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The push service's token for the device.")] token: String,
        #[graphql(desc = "The push service.")] platform: PushPlatform,
    ) -> ApiResult<RegisterPushDevicePayload> {
        let sub = viewer(ctx)?.sub().to_owned();
        let refused = |code, message| RegisterPushDevicePayload {
            device: None,
            user_errors: vec![user_error("token", code, message)],
        };
        match service::<Marketing>(ctx)?
            .register_device(&sub, &token, platform.into())
            .await
        {
            Ok((device, _)) => Ok(RegisterPushDevicePayload {
                device: Some(device.into()),
                user_errors: Vec::new(),
            }),
            Err(e) => device_refusal(e).map(|(code, message)| refused(code, message)),
        }
    }

    /// Stops push notifications to a device of the signed-in customer.
    #[graphql(guard = "signed_in")]
    async fn unregister_push_device(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The device's token, as registered.")] token: String,
    ) -> ApiResult<UnregisterPushDevicePayload> {
        let sub = viewer(ctx)?.sub().to_owned();
        if token.is_empty() || token.len() > 4096 {
            return Ok(UnregisterPushDevicePayload {
                removed: false,
                user_errors: vec![user_error(
                    "token",
                    MarketingErrorCode::Invalid,
                    "not a device token".into(),
                )],
            });
        }
        match service::<Marketing>(ctx)?
            .unregister_device(&sub, &token)
            .await
        {
            Ok(removed) => Ok(UnregisterPushDevicePayload {
                removed,
                user_errors: Vec::new(),
            }),
            Err(e) => device_refusal(e).map(|(code, message)| UnregisterPushDevicePayload {
                removed: false,
                user_errors: vec![user_error("token", code, message)],
            }),
        }
    }
}

/// The user error of a device change that was refused, or the GraphQL error of a fault.
fn device_refusal(e: DeviceError) -> ApiResult<(MarketingErrorCode, String)> {
    match e {
        DeviceError::Invalid(why) => Ok((MarketingErrorCode::Invalid, why.to_owned())),
        DeviceError::TooMany(why) => Ok((MarketingErrorCode::TooManyDevices, why.to_string())),
        DeviceError::Unavailable(why) => {
            tracing::warn!(error = %why, "the push service refused a device change");
            Ok((
                MarketingErrorCode::PushUnavailable,
                "the push service is unavailable; nothing changed: try again later".into(),
            ))
        }
        DeviceError::Store(e) => Err(ApiError::from(e)),
    }
}

/// The domain's queries, as the registry names them.
pub type Query = MarketingQuery;
/// The domain's mutations, as the registry names them.
pub type Mutation = MarketingMutation;
