//! The shop's configuration and feature flags, and web sessions: `shop`, `featureFlag`,
//! `session`, the admin mutations that set flags, and `sessionStart` / `sessionUpdate`.

use std::sync::Arc;

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use storefront_loaders::identity::GuestToken;
use storefront_loaders::shop::{
    Evaluation, FlagError, FlagRecord, FlagViewer, Flags, SessionChange, SessionConsent,
    SessionRecord, Sessions, ShopConfig, Targeting, Variant,
};

use crate::checkout::operator;
use crate::context::service;
use crate::customer::viewer_opt;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::ids;
use crate::scalars::DateTime;

/// How the shop takes payment.
#[derive(SimpleObject)]
pub struct PaymentSettings {
    /// The card brands checkout takes (`VISA`, `MASTERCARD`, …).
    pub accepted_card_brands: Vec<String>,
}

/// A feature flag's answer for the viewer.
#[derive(SimpleObject, Debug, Clone, PartialEq, Eq)]
pub struct FeatureFlag {
    /// The flag's key.
    pub key: String,
    /// Whether it is on for the viewer.
    pub enabled: bool,
    /// The viewer's variant, for a variant flag that is on.
    pub variant: Option<String>,
}

impl From<Evaluation> for FeatureFlag {
    fn from(e: Evaluation) -> Self {
        Self {
            key: e.key,
            enabled: e.enabled,
            variant: e.variant,
        }
    }
}

/// Who the flags are evaluated for, beside the signed-in customer (whose id buckets them).
#[derive(InputObject, Default)]
pub struct FlagContextInput {
    /// The web session's id (`sessionStart`): a guest's stable bucket.
    pub session_id: Option<String>,
    /// The viewer's country (ISO 3166-1 alpha-2).
    pub country: Option<String>,
    /// The viewer's segments, as the storefront knows them.
    pub segments: Option<Vec<String>>,
}

/// The viewer of a flag: the customer's id when signed in, else the session's.
fn flag_viewer(ctx: &Context<'_>, context: Option<FlagContextInput>) -> FlagViewer {
    let context = context.unwrap_or_default();
    let customer = viewer_opt(ctx).map(|v| v.sub().to_owned());
    FlagViewer {
        signed_in: customer.is_some(),
        id: customer.or_else(|| {
            context
                .session_id
                .filter(|s| !s.is_empty() && s.len() <= 128)
                .map(|s| format!("session:{s}"))
        }),
        country: context.country.filter(|c| c.len() == 2),
        segments: context
            .segments
            .unwrap_or_default()
            .into_iter()
            .take(20)
            .collect(),
    }
}

/// The shop.
pub struct Shop(Arc<ShopConfig>);

/// The shop.
#[Object]
impl Shop {
    /// Its name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// Its currency (ISO 4217).
    async fn currency_code(&self) -> &str {
        &self.0.currency_code
    }

    /// How it takes payment.
    async fn payment_settings(&self) -> PaymentSettings {
        PaymentSettings {
            accepted_card_brands: self.0.accepted_card_brands.clone(),
        }
    }

    /// Every feature flag, evaluated for the viewer (the same viewer always gets the same
    /// answer), by key.
    async fn feature_flags(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Who else the viewer is.")] context: Option<FlagContextInput>,
    ) -> ApiResult<Vec<FeatureFlag>> {
        let viewer = flag_viewer(ctx, context);
        Ok(service::<Flags>(ctx)?
            .all()
            .values()
            .map(|f| f.evaluate(&viewer).into())
            .collect())
    }
}

/// A storefront web session.
pub struct Session(SessionRecord);

/// A storefront web session.
#[Object]
impl Session {
    /// The shopper's cart.
    async fn cart_id(&self) -> Option<ID> {
        self.0.cart_id.clone().map(ID)
    }

    /// Products viewed, newest first (at most 20).
    async fn recently_viewed(&self) -> Vec<ID> {
        self.0
            .recently_viewed
            .iter()
            .map(|p| ids::encode("Product", p))
            .collect()
    }

    /// What the shopper consented to.
    async fn consent(&self) -> SessionConsentValue {
        self.0.consent.into()
    }

    /// When it started.
    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }
}

/// What a shopper consented to in a session.
#[derive(SimpleObject)]
#[graphql(name = "SessionConsent")]
pub struct SessionConsentValue {
    /// Analytics cookies and events.
    pub analytics: bool,
    /// Marketing and advertising.
    pub marketing: bool,
    /// Personalized recommendations.
    pub personalization: bool,
}

impl From<SessionConsent> for SessionConsentValue {
    fn from(c: SessionConsent) -> Self {
        Self {
            analytics: c.analytics,
            marketing: c.marketing,
            personalization: c.personalization,
        }
    }
}

/// Consent to record in a session.
#[derive(InputObject)]
pub struct SessionConsentInput {
    /// Analytics cookies and events.
    pub analytics: bool,
    /// Marketing and advertising.
    pub marketing: bool,
    /// Personalized recommendations.
    pub personalization: bool,
}

/// A change to a session.
#[derive(InputObject, Default)]
pub struct SessionUpdateInput {
    /// The shopper's cart (an empty string forgets it).
    pub cart_id: Option<ID>,
    /// A product just viewed (kept among the 20 most recent).
    pub viewed_product_id: Option<ID>,
    /// New consent.
    pub consent: Option<SessionConsentInput>,
}

/// The result of `sessionStart` and `sessionUpdate`.
#[derive(SimpleObject)]
pub struct SessionPayload {
    /// The session's id: opaque, and the only key to it (keep it like a cookie).
    pub session_id: Option<String>,
    /// The session after the change.
    pub session: Option<Session>,
}

/// A variant of a variant flag.
#[derive(InputObject)]
pub struct FeatureFlagVariantInput {
    /// Its name (1–64 characters).
    pub name: String,
    /// Its weight among the variants (at least 1).
    pub weight: i32,
}

/// A feature flag to create or replace.
#[derive(InputObject)]
pub struct FeatureFlagInput {
    /// Its key: 1–64 of a–z, 0–9, `-`, `_` and `.`.
    pub key: String,
    /// Off for everyone when false.
    #[graphql(default = true)]
    pub enabled: bool,
    /// The share of targeted viewers it is on for, 0–100.
    #[graphql(default = 100)]
    pub rollout_percentage: i32,
    /// Variants (none: a boolean flag).
    #[graphql(default)]
    pub variants: Vec<FeatureFlagVariantInput>,
    /// Only viewers in these countries (none: anywhere).
    #[graphql(default)]
    pub countries: Vec<String>,
    /// Only signed-in viewers (true) or guests (false); null: both.
    pub signed_in: Option<bool>,
    /// Only viewers in these segments (none: any).
    #[graphql(default)]
    pub segments: Vec<String>,
}

/// The result of `featureFlagSet`.
#[derive(SimpleObject)]
pub struct FeatureFlagSetPayload {
    /// The flag's key, when it was set.
    pub key: Option<String>,
    /// What was wrong.
    pub user_errors: Vec<FlagUserError>,
}

/// What was wrong with a flag.
#[derive(SimpleObject, Debug, Clone, PartialEq, Eq)]
pub struct FlagUserError {
    /// The path to the input field at fault.
    pub field: Vec<String>,
    /// What is wrong, for people.
    pub message: String,
}

fn user_error(field: &str, message: String) -> FlagUserError {
    FlagUserError {
        field: vec!["input".into(), field.into()],
        message,
    }
}

/// Shop queries.
#[derive(Default)]
pub struct ShopQuery;

/// Shop queries.
#[Object]
impl ShopQuery {
    /// The shop: its name, currency, payment settings and feature flags.
    async fn shop(&self, ctx: &Context<'_>) -> ApiResult<Shop> {
        Ok(Shop(Arc::clone(service::<Arc<ShopConfig>>(ctx)?)))
    }

    /// One feature flag evaluated for the viewer; null for a key no flag has.
    async fn feature_flag(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The flag's key.")] key: String,
        #[graphql(desc = "Who else the viewer is.")] context: Option<FlagContextInput>,
    ) -> ApiResult<Option<FeatureFlag>> {
        let viewer = flag_viewer(ctx, context);
        Ok(service::<Flags>(ctx)?
            .get(&key)
            .map(|f| f.evaluate(&viewer).into()))
    }

    /// A web session by its id; null when it is unknown or over.
    async fn session(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The id `sessionStart` gave.")] id: String,
    ) -> ApiResult<Option<Session>> {
        let Some(token) = GuestToken::parse(&id) else {
            return Ok(None);
        };
        Ok(service::<Sessions>(ctx)?.get(&token).await?.map(Session))
    }
}

/// Shop mutations.
#[derive(Default)]
pub struct ShopMutation;

/// Shop mutations.
#[Object]
impl ShopMutation {
    /// Starts a web session, held by the gateway for `shop.session_ttl_hours` after its last
    /// change, so that any replica serves it.
    async fn session_start(&self, ctx: &Context<'_>) -> ApiResult<SessionPayload> {
        let (token, record) = service::<Sessions>(ctx)?.start().await?;
        Ok(SessionPayload {
            session_id: Some(token.as_str().to_owned()),
            session: Some(Session(record)),
        })
    }

    /// Changes a session (and extends it); `NOT_FOUND` when it is unknown or over.
    async fn session_update(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The session's id.")] id: String,
        #[graphql(desc = "What changes.")] input: SessionUpdateInput,
    ) -> ApiResult<SessionPayload> {
        let not_found = || ApiError::new(ErrorCode::NotFound, "no such session: start a new one");
        let token = GuestToken::parse(&id).ok_or_else(not_found)?;
        let viewed = match input.viewed_product_id {
            Some(id) => Some(ids::decode_as(&id, "Product").map_err(|_| {
                ApiError::new(
                    ErrorCode::InvalidId,
                    "`viewedProductId` is not a Product id",
                )
            })?),
            None => None,
        };
        let cart_id = match input.cart_id {
            Some(id) if id.is_empty() => Some(None),
            Some(id) if id.len() <= 256 => Some(Some(id.to_string())),
            Some(_) => {
                return Err(ApiError::new(ErrorCode::BadRequest, "`cartId` is too long"));
            }
            None => None,
        };
        let change = SessionChange {
            cart_id,
            viewed,
            consent: input.consent.map(|c| SessionConsent {
                analytics: c.analytics,
                marketing: c.marketing,
                personalization: c.personalization,
            }),
        };
        let record = service::<Sessions>(ctx)?
            .update(&token, &change)
            .await?
            .ok_or_else(not_found)?;
        Ok(SessionPayload {
            session_id: Some(id),
            session: Some(Session(record)),
        })
    }

    /// Creates or replaces a feature flag; every replica sees it within a second. Needs an
    /// admin API key.
    #[graphql(guard = "operator")]
    async fn feature_flag_set(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The flag.")] input: FeatureFlagInput,
    ) -> ApiResult<FeatureFlagSetPayload> {
        let (Ok(rollout), Ok(weights)) = (
            u32::try_from(input.rollout_percentage),
            input
                .variants
                .iter()
                .map(|v| u32::try_from(v.weight))
                .collect::<Result<Vec<u32>, _>>(),
        ) else {
            return Ok(FeatureFlagSetPayload {
                key: None,
                user_errors: vec![user_error(
                    "rolloutPercentage",
                    "percentages and weights are not negative".into(),
                )],
            });
        };
        let record = FlagRecord {
            key: input.key,
            enabled: input.enabled,
            rollout_percentage: rollout,
            variants: input
                .variants
                .into_iter()
                .zip(weights)
                .map(|(v, weight)| Variant {
                    name: v.name,
                    weight,
                })
                .collect(),
            targeting: Targeting {
                countries: input.countries,
                signed_in: input.signed_in,
                segments: input.segments,
            },
            updated_at: chrono::Utc::now(),
        };
        match service::<Flags>(ctx)?.set(record).await {
            Ok(flag) => Ok(FeatureFlagSetPayload {
                key: Some(flag.key),
                user_errors: Vec::new(),
            }),
            Err(FlagError::Invalid(why)) => Ok(FeatureFlagSetPayload {
                key: None,
                user_errors: vec![user_error("key", why)],
            }),
            Err(FlagError::Store(e)) => Err(e.into()),
        }
    }

    /// Removes a feature flag; whether there was one. Needs an admin API key.
    #[graphql(guard = "operator")]
    async fn feature_flag_delete(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The flag's key.")] key: String,
    ) -> ApiResult<bool> {
        Ok(service::<Flags>(ctx)?.delete(&key).await?)
    }
}

/// The domain's queries, as the registry names them.
pub type Query = ShopQuery;
/// The domain's mutations, as the registry names them.
pub type Mutation = ShopMutation;
