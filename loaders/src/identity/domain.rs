//! The identity domain's registration: its `[identity]` section, how it picks and opens its
//! provider (embedded or Cognito), and the bearer-token check it gives the HTTP layer.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{
    CodeDelivery, CognitoIdentity, CognitoSettings, EmbeddedIdentity, EmbeddedSettings, Identity,
    IdentityMetrics, IdentityProvider, JwksCache, KeySource, LogDelivery, ProfileStore,
    SignInThrottle, SigningKey, ThrottleSettings, TokenError, TokenVerifier, VerifierSettings,
    Viewer,
};
use crate::domain::{
    Authenticator, Domain, DomainConfig, OpenError, Principal, PublicDocuments, Refusal, Services,
    SettingError, Shared, SharedSettings, ValueKind, Variable, parse_section,
};
use crate::store::StoreEngine;

/// Which identity provider signs customers in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum IdentityEngine {
    /// The gateway's own provider: accounts in the store, tokens signed with its own key.
    #[default]
    Embedded,
    /// A Cognito user pool (settings under `[identity.cognito]`).
    Cognito,
}

/// The Cognito user pool.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CognitoConfig {
    /// Region of the pool; defaults to `aws.region`.
    pub region: Option<String>,
    /// The pool id, such as `eu-west-1_AbCdEf123`.
    pub user_pool_id: String,
    /// The app client id (it must allow USER_PASSWORD_AUTH and REFRESH_TOKEN_AUTH).
    pub client_id: String,
    /// The app client secret, when the client has one (better set by
    /// `STOREFRONT_COGNITO_CLIENT_SECRET` than in a file).
    pub client_secret: Option<String>,
    /// Endpoint override (moto, LocalStack).
    pub endpoint_url: Option<String>,
}

/// Customer identity: the provider and how access tokens are checked (`[identity]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdentityConfig {
    /// `embedded` or `cognito`.
    pub engine: IdentityEngine,
    /// The `iss` tokens must carry. Default: `storefront-gateway` (embedded), the pool's
    /// `https://cognito-idp.<region>.amazonaws.com/<pool>` (Cognito).
    pub issuer: Option<String>,
    /// Where the signing keys are published (Cognito). Default: `<issuer>/.well-known/jwks.json`.
    pub jwks_url: Option<String>,
    /// The client tokens must be issued to (`client_id` or `aud`). Default: `storefront`
    /// (embedded), the app client id (Cognito).
    pub audience: Option<String>,
    /// Clock skew allowed on `exp` and `nbf`, in seconds.
    pub leeway_seconds: u64,
    /// The least time between two key-set fetches for unknown key ids, in seconds.
    pub jwks_refetch_seconds: u64,
    /// Access-token lifetime of the embedded provider, in seconds.
    pub access_token_ttl_seconds: u64,
    /// Refresh-token lifetime of the embedded provider, in days.
    pub refresh_token_ttl_days: u64,
    /// Embedded provider: accounts need no confirmation code.
    pub auto_confirm: bool,
    /// Embedded provider: the RS256 signing key (PKCS#8 PEM), created when missing. Default:
    /// `<data_dir>/identity-signing-key.pem` for the embedded store, a key kept in the table
    /// for DynamoDB (so every replica signs alike), a fresh key for the memory store.
    pub key_file: Option<std::path::PathBuf>,
    /// Failed sign-ins (or codes) allowed per email and per address in one window.
    pub max_failed_attempts: u64,
    /// The failure-counting window, in seconds.
    pub failed_attempts_window_seconds: u64,
    /// The Cognito user pool.
    pub cognito: CognitoConfig,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        Self {
            engine: IdentityEngine::Embedded,
            issuer: None,
            jwks_url: None,
            audience: None,
            leeway_seconds: 60,
            jwks_refetch_seconds: 60,
            access_token_ttl_seconds: 3600,
            refresh_token_ttl_days: 30,
            auto_confirm: false,
            key_file: None,
            max_failed_attempts: 5,
            failed_attempts_window_seconds: 900,
            cognito: CognitoConfig::default(),
        }
    }
}

impl IdentityConfig {
    /// The Cognito pool's region: its own setting, else the shared AWS one.
    pub fn cognito_region(&self, shared: &SharedSettings) -> Option<String> {
        self.cognito
            .region
            .clone()
            .or_else(|| shared.aws_region.clone())
            .filter(|r| !r.trim().is_empty())
    }

    /// The issuer access tokens must carry.
    pub fn token_issuer(&self, shared: &SharedSettings) -> String {
        if let Some(issuer) = &self.issuer {
            return issuer.clone();
        }
        match self.engine {
            IdentityEngine::Embedded => "storefront-gateway".into(),
            IdentityEngine::Cognito => format!(
                "https://cognito-idp.{}.amazonaws.com/{}",
                self.cognito_region(shared).unwrap_or_default(),
                self.cognito.user_pool_id
            ),
        }
    }

    /// The client access tokens must be issued to.
    pub fn token_audience(&self) -> String {
        if let Some(audience) = &self.audience {
            return audience.clone();
        }
        match self.engine {
            IdentityEngine::Embedded => "storefront".into(),
            IdentityEngine::Cognito => self.cognito.client_id.clone(),
        }
    }
}

impl DomainConfig for IdentityConfig {
    fn validate(&self, section: &str, shared: &SharedSettings) -> Result<(), SettingError> {
        let invalid =
            |key: &str, reason: &str| SettingError::new(format!("{section}.{key}"), reason);
        for (key, value) in [
            ("jwks_refetch_seconds", self.jwks_refetch_seconds),
            ("access_token_ttl_seconds", self.access_token_ttl_seconds),
            ("refresh_token_ttl_days", self.refresh_token_ttl_days),
            ("max_failed_attempts", self.max_failed_attempts),
            (
                "failed_attempts_window_seconds",
                self.failed_attempts_window_seconds,
            ),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be at least 1"));
            }
        }
        if self.leeway_seconds > 600 {
            return Err(invalid("leeway_seconds", "must be at most 600"));
        }
        if self.refresh_token_ttl_days > 3650 || self.access_token_ttl_seconds > 86_400 {
            return Err(invalid(
                "access_token_ttl_seconds",
                "access tokens live at most a day and refresh tokens at most 3650 days",
            ));
        }
        if let Some(url) = &self.jwks_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(invalid("jwks_url", "must be an http(s) URL"));
        }
        if self.engine == IdentityEngine::Cognito {
            if self.cognito.user_pool_id.trim().is_empty() {
                return Err(invalid(
                    "cognito.user_pool_id",
                    "the Cognito engine needs the user pool id (STOREFRONT_COGNITO_USER_POOL_ID)",
                ));
            }
            if self.cognito.client_id.trim().is_empty() {
                return Err(invalid(
                    "cognito.client_id",
                    "the Cognito engine needs the app client id (STOREFRONT_COGNITO_CLIENT_ID)",
                ));
            }
            if self.cognito_region(shared).is_none() {
                return Err(invalid(
                    "cognito.region",
                    "the Cognito engine needs a region (this or `aws.region`)",
                ));
            }
        }
        Ok(())
    }
}

/// The identity domain.
pub struct IdentityDomain;

/// The identity domain, as registered in the schema crate.
pub static DOMAIN: IdentityDomain = IdentityDomain;

const VARIABLES: &[Variable] = &[
    Variable {
        name: "STOREFRONT_IDENTITY_ENGINE",
        key: "engine",
        kind: ValueKind::Text,
    },
    Variable {
        name: "STOREFRONT_IDENTITY_ISSUER",
        key: "issuer",
        kind: ValueKind::Text,
    },
    Variable {
        name: "STOREFRONT_IDENTITY_JWKS_URL",
        key: "jwks_url",
        kind: ValueKind::Text,
    },
    Variable {
        name: "STOREFRONT_IDENTITY_AUTO_CONFIRM",
        key: "auto_confirm",
        kind: ValueKind::Bool,
    },
    Variable {
        name: "STOREFRONT_COGNITO_USER_POOL_ID",
        key: "cognito.user_pool_id",
        kind: ValueKind::Text,
    },
    Variable {
        name: "STOREFRONT_COGNITO_CLIENT_ID",
        key: "cognito.client_id",
        kind: ValueKind::Text,
    },
    Variable {
        name: "STOREFRONT_COGNITO_CLIENT_SECRET",
        key: "cognito.client_secret",
        kind: ValueKind::Text,
    },
    Variable {
        name: "STOREFRONT_COGNITO_ENDPOINT_URL",
        key: "cognito.endpoint_url",
        kind: ValueKind::Text,
    },
];

/// The embedded provider's signing key: the configured file, else one per store engine.
async fn signing_key(config: &IdentityConfig, shared: &Shared) -> Result<SigningKey, OpenError> {
    let settings = &shared.settings;
    let key = match (&config.key_file, settings.store) {
        (Some(path), _) => SigningKey::load_or_create(path),
        (None, StoreEngine::Embedded) => {
            SigningKey::load_or_create(&settings.data_dir.join("identity-signing-key.pem"))
        }
        (None, StoreEngine::Memory) => SigningKey::generate().map(|(key, _)| key),
        (None, StoreEngine::Aws) => SigningKey::load_or_create_in(&shared.table).await,
    };
    key.map_err(|e| {
        OpenError::new(format!(
            "cannot load the token signing key (setting `identity.key_file`): {e}"
        ))
    })
}

/// Checks bearer tokens for the HTTP layer, counting each check.
struct BearerCheck(Identity);

#[async_trait::async_trait]
impl Authenticator for BearerCheck {
    async fn authenticate(&self, token: &str) -> Result<Principal, Refusal> {
        let metrics = &self.0.metrics;
        match self.0.verifier.verify(token).await {
            Ok(claims) => {
                metrics.token_check("valid");
                let expires = claims.exp;
                Ok(Principal::new(Viewer {
                    claims,
                    access_token: token.to_owned(),
                })
                .expiring_at(expires))
            }
            Err(e @ TokenError::KeysUnavailable(_)) => {
                metrics.token_check("unavailable");
                tracing::error!(error = %e, "cannot verify access tokens");
                Err(Refusal::Unavailable(
                    "access tokens cannot be checked right now; retry shortly".into(),
                ))
            }
            Err(e) => {
                metrics.token_check("invalid");
                Err(Refusal::Unauthenticated(e.to_string()))
            }
        }
    }

    fn malformed(&self) {
        self.0.metrics.token_check("invalid");
    }
}

#[async_trait::async_trait]
impl Domain for IdentityDomain {
    fn name(&self) -> &'static str {
        "identity"
    }

    fn variables(&self) -> &'static [Variable] {
        VARIABLES
    }

    fn check(&self, section: &toml::Table, shared: &SharedSettings) -> Result<(), SettingError> {
        parse_section::<IdentityConfig>(self.name(), section, shared).map(drop)
    }

    async fn open(
        &self,
        section: &toml::Table,
        shared: &Shared,
        services: &mut Services,
    ) -> Result<(), OpenError> {
        let config: IdentityConfig = parse_section(self.name(), section, &shared.settings)?;
        let settings = &shared.settings;
        let issuer = config.token_issuer(settings);
        let audience = config.token_audience();
        let verifier_settings = VerifierSettings {
            issuer: issuer.clone(),
            audience: audience.clone(),
            leeway: Duration::from_secs(config.leeway_seconds),
        };
        let delivery: Arc<dyn CodeDelivery> = shared
            .plugged
            .get::<Arc<dyn CodeDelivery>>()
            .cloned()
            .unwrap_or_else(|| Arc::new(LogDelivery));
        let (provider, verifier): (Arc<dyn IdentityProvider>, _) = match config.engine {
            IdentityEngine::Embedded => {
                let key = Arc::new(signing_key(&config, shared).await?);
                let jwks = serde_json::to_value(key.jwks())
                    .map_err(|e| OpenError::new(format!("cannot encode the JWKS: {e}")))?;
                let mut documents = services
                    .get::<PublicDocuments>()
                    .cloned()
                    .unwrap_or_default();
                documents.insert("jwks.json", jwks);
                services.insert(documents);
                let verifier = TokenVerifier::new(verifier_settings, KeySource::fixed(key.jwks()));
                let provider = EmbeddedIdentity::new(
                    Arc::clone(&shared.table),
                    key,
                    EmbeddedSettings {
                        issuer,
                        audience,
                        access_ttl: Duration::from_secs(config.access_token_ttl_seconds),
                        refresh_ttl: Duration::from_secs(config.refresh_token_ttl_days * 86_400),
                        auto_confirm: config.auto_confirm,
                    },
                    delivery,
                );
                (Arc::new(provider) as _, verifier)
            }
            IdentityEngine::Cognito => {
                let cognito = &config.cognito;
                let provider = CognitoIdentity::connect(
                    CognitoSettings {
                        region: config.cognito_region(settings),
                        user_pool_id: cognito.user_pool_id.clone(),
                        client_id: cognito.client_id.clone(),
                        client_secret: cognito.client_secret.clone(),
                        endpoint_url: cognito.endpoint_url.clone(),
                    },
                    &shared.metrics,
                )
                .await
                .map_err(|e| {
                    OpenError::new(format!(
                        "cannot configure Cognito (settings under `[identity.cognito]`): {e}"
                    ))
                })?;
                let url = config
                    .jwks_url
                    .clone()
                    .unwrap_or_else(|| format!("{issuer}/.well-known/jwks.json"));
                let keys = JwksCache::http(&url, Duration::from_secs(config.jwks_refetch_seconds))
                    .map_err(OpenError::new)?;
                let verifier = TokenVerifier::new(verifier_settings, KeySource::Remote(keys));
                (Arc::new(provider) as _, verifier)
            }
        };
        let throttle = SignInThrottle::new(
            ThrottleSettings {
                max_failures: config.max_failed_attempts,
                window: Duration::from_secs(config.failed_attempts_window_seconds),
            },
            shared.redis.clone(),
            &settings.namespace,
        );
        let identity = Identity {
            mailer: super::CodeMailer::start(Arc::clone(&provider)),
            provider,
            verifier: Arc::new(verifier),
            throttle: Arc::new(throttle),
            profiles: ProfileStore::new(Arc::clone(&shared.table)),
            metrics: Arc::new(IdentityMetrics::registered(&shared.metrics)),
        };
        services.insert(Arc::new(BearerCheck(identity.clone())) as Arc<dyn Authenticator>);
        services.insert(identity);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared() -> SharedSettings {
        SharedSettings {
            store: StoreEngine::Memory,
            data_dir: "./data".into(),
            aws_region: None,
            namespace: "t:".into(),
        }
    }

    #[test]
    fn unknown_and_impossible_settings_name_the_setting() {
        let section: toml::Table = toml::from_str("max_faild_attempts = 3").expect("toml");
        let err = DOMAIN.check(&section, &shared()).expect_err("unknown key");
        assert!(err.to_string().contains("max_faild_attempts"), "{err}");
        let section: toml::Table = toml::from_str(
            "engine = \"cognito\"\n[cognito]\nuser_pool_id = \"p\"\nclient_id = \"c\"",
        )
        .expect("toml");
        let err = DOMAIN.check(&section, &shared()).expect_err("no region");
        assert_eq!(err.setting, "identity.cognito.region");
    }

    #[test]
    fn the_cognito_issuer_is_the_pools_url() {
        let config = IdentityConfig {
            engine: IdentityEngine::Cognito,
            cognito: CognitoConfig {
                region: Some("eu-west-1".into()),
                user_pool_id: "eu-west-1_Abc".into(),
                ..CognitoConfig::default()
            },
            ..IdentityConfig::default()
        };
        assert_eq!(
            config.token_issuer(&shared()),
            "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Abc"
        );
    }
}
