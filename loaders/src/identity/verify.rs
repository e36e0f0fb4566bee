//! Access-token verification: RS256 only, keys from a JWKS (the embedded provider's own, or
//! fetched and cached, refetched on an unknown `kid` at most once an interval), issuer,
//! client, `token_use` and lifetime checked. Keys are decoded once per key set, and a token
//! that verified is remembered for a minute (by its hash), since clients send the same token
//! with every request.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use futures::FutureExt as _;
use futures::future::BoxFuture;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// How long a verified token is remembered (its `exp` is still checked on every use).
const VERIFIED_TTL: Duration = Duration::from_secs(60);
/// How many verified tokens are remembered.
const VERIFIED_CAPACITY: u64 = 100_000;

/// The claims of an access token the gateway accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// The identity's stable subject.
    pub sub: String,
    /// The issuer.
    pub iss: String,
    /// Expiry (seconds since the epoch).
    pub exp: u64,
    /// Issued at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    /// Not valid before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// `access` for access tokens (Cognito's claim).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_use: Option<String>,
    /// The app client the token was issued to (Cognito access tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The audience (other issuers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<Audience>,
    /// The provider's user name (Cognito: the sign-in name or the sub).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The email, when the provider puts it in access tokens (the embedded one does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The embedded provider's session id, which sign-out revokes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// The token's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
}

/// An `aud` claim: one audience or several.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// One audience.
    One(String),
    /// Several.
    Many(Vec<String>),
}

impl Audience {
    fn contains(&self, expected: &str) -> bool {
        match self {
            Audience::One(a) => a == expected,
            Audience::Many(all) => all.iter().any(|a| a == expected),
        }
    }
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a JWT.
    #[error("the access token is malformed")]
    Malformed,
    /// Signed with another algorithm than RS256 (or not at all).
    #[error("the access token must be signed with RS256")]
    UnsupportedAlgorithm,
    /// Its key is not in the issuer's key set.
    #[error("the access token's signing key is unknown")]
    UnknownKey,
    /// The signature does not verify.
    #[error("the access token's signature is invalid")]
    BadSignature,
    /// Past its expiry.
    #[error("the access token has expired")]
    Expired,
    /// Before its `nbf`.
    #[error("the access token is not valid yet")]
    NotYetValid,
    /// Another issuer.
    #[error("the access token is from another issuer")]
    WrongIssuer,
    /// Issued to another client.
    #[error("the access token is for another client")]
    WrongAudience,
    /// An ID or other token, not an access token.
    #[error("the token is not an access token")]
    NotAnAccessToken,
    /// Claims missing or of the wrong type.
    #[error("the access token's claims are invalid")]
    InvalidClaims,
    /// The key set cannot be fetched, so no token can be checked.
    #[error("the token signing keys cannot be fetched: {0}")]
    KeysUnavailable(String),
}

/// The RS256 keys of a JWKS by `kid`, decoded once (keys of other types are left out).
#[derive(Clone, Default)]
pub struct KeySet(HashMap<String, Arc<DecodingKey>>);

impl KeySet {
    /// The usable keys of `set`.
    pub fn from_jwks(set: &JwkSet) -> Self {
        Self(
            set.keys
                .iter()
                .filter(|jwk| is_rs256_key(jwk))
                .filter_map(|jwk| {
                    let kid = jwk.common.key_id.clone()?;
                    let key = DecodingKey::from_jwk(jwk).ok()?;
                    Some((kid, Arc::new(key)))
                })
                .collect(),
        )
    }

    fn get(&self, kid: &str) -> Option<Arc<DecodingKey>> {
        self.0.get(kid).cloned()
    }
}

fn is_rs256_key(jwk: &Jwk) -> bool {
    matches!(jwk.algorithm, AlgorithmParameters::RSA(_))
        && jwk
            .common
            .key_algorithm
            .is_none_or(|alg| alg == KeyAlgorithm::RS256)
}

type FetchKeys = Arc<dyn Fn() -> BoxFuture<'static, Result<JwkSet, String>> + Send + Sync>;

/// A JWKS fetched from a URL and cached; an unknown `kid` triggers a refetch (key rotation),
/// but at most once per interval so forged `kid`s cannot make the gateway hammer the issuer.
pub struct JwksCache {
    fetch: FetchKeys,
    min_interval: Duration,
    keys: RwLock<Option<Arc<KeySet>>>,
    last_fetch: tokio::sync::Mutex<Option<Instant>>,
    fetches: AtomicU64,
}

impl JwksCache {
    /// A cache of the key set at `url`.
    pub fn http(url: &str, min_interval: Duration) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
        let url = url.to_owned();
        Ok(Self::new(
            Arc::new(move || {
                let client = client.clone();
                let url = url.clone();
                async move {
                    let response = client
                        .get(&url)
                        .send()
                        .await
                        .map_err(|e| format!("GET {url}: {e}"))?;
                    if !response.status().is_success() {
                        return Err(format!("GET {url}: status {}", response.status()));
                    }
                    response
                        .json::<JwkSet>()
                        .await
                        .map_err(|e| format!("GET {url}: not a JWKS: {e}"))
                }
                .boxed()
            }),
            min_interval,
        ))
    }

    /// A cache over any fetch function.
    pub fn new(fetch: FetchKeys, min_interval: Duration) -> Self {
        Self {
            fetch,
            min_interval,
            keys: RwLock::new(None),
            last_fetch: tokio::sync::Mutex::new(None),
            fetches: AtomicU64::new(0),
        }
    }

    /// How many times the key set was fetched.
    pub fn fetch_count(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    fn cached(&self, kid: &str) -> (bool, Option<Arc<DecodingKey>>) {
        let keys = crate::sync::read(&self.keys);
        (keys.is_some(), keys.as_ref().and_then(|set| set.get(kid)))
    }

    async fn key(&self, kid: &str) -> Result<Arc<DecodingKey>, TokenError> {
        if let (_, Some(key)) = self.cached(kid) {
            return Ok(key);
        }
        // One fetch at a time; those who waited look again before fetching themselves.
        let mut last = self.last_fetch.lock().await;
        let (loaded, key) = self.cached(kid);
        if let Some(key) = key {
            return Ok(key);
        }
        if last.is_some_and(|at| at.elapsed() < self.min_interval) {
            return Err(if loaded {
                TokenError::UnknownKey
            } else {
                TokenError::KeysUnavailable("the last fetch failed".into())
            });
        }
        *last = Some(Instant::now());
        self.fetches.fetch_add(1, Ordering::Relaxed);
        match (self.fetch)().await {
            Ok(set) => {
                *crate::sync::write(&self.keys) = Some(Arc::new(KeySet::from_jwks(&set)));
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot fetch the token signing keys");
                if !loaded {
                    return Err(TokenError::KeysUnavailable(e));
                }
            }
        }
        self.cached(kid).1.ok_or(TokenError::UnknownKey)
    }
}

/// Where verification keys come from.
pub enum KeySource {
    /// A key set known in-process (the embedded provider's).
    Fixed(KeySet),
    /// A remote key set.
    Remote(JwksCache),
}

impl KeySource {
    /// The keys of a JWKS known in-process.
    pub fn fixed(set: &JwkSet) -> Self {
        KeySource::Fixed(KeySet::from_jwks(set))
    }

    async fn key(&self, kid: &str) -> Result<Arc<DecodingKey>, TokenError> {
        match self {
            KeySource::Fixed(set) => set.get(kid).ok_or(TokenError::UnknownKey),
            KeySource::Remote(cache) => cache.key(kid).await,
        }
    }
}

/// What a valid token must say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierSettings {
    /// The exact `iss`.
    pub issuer: String,
    /// The app client: `client_id` or one of `aud`.
    pub audience: String,
    /// Clock skew allowed on `exp` and `nbf`.
    pub leeway: Duration,
}

/// Verifies access tokens.
pub struct TokenVerifier {
    settings: VerifierSettings,
    keys: KeySource,
    validation: Validation,
    verified: moka::future::Cache<[u8; 32], Arc<AccessClaims>>,
}

impl TokenVerifier {
    /// A verifier of tokens matching `settings`, signed by a key of `keys`.
    pub fn new(settings: VerifierSettings, keys: KeySource) -> Self {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.leeway = settings.leeway.as_secs();
        validation.validate_nbf = true;
        validation.validate_aud = false;
        validation.set_issuer(&[&settings.issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        Self {
            settings,
            keys,
            validation,
            verified: moka::future::Cache::builder()
                .max_capacity(VERIFIED_CAPACITY)
                .time_to_live(VERIFIED_TTL)
                .build(),
        }
    }

    /// The key source (to read its fetch count).
    pub fn keys(&self) -> &KeySource {
        &self.keys
    }

    /// The claims of `token`, when it is a valid access token for this gateway.
    pub async fn verify(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(claims) = self.verified.get(&digest).await {
            // Verified before; only time can have made it invalid since.
            let now = jsonwebtoken::get_current_timestamp();
            let leeway = self.validation.leeway;
            if claims.exp.saturating_add(leeway) < now {
                return Err(TokenError::Expired);
            }
            if claims
                .nbf
                .is_some_and(|nbf| nbf > now.saturating_add(leeway))
            {
                return Err(TokenError::NotYetValid);
            }
            return Ok(claims.as_ref().clone());
        }
        let claims = self.verify_fully(token).await?;
        self.verified.insert(digest, Arc::new(claims.clone())).await;
        Ok(claims)
    }

    async fn verify_fully(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| match e.kind() {
            ErrorKind::InvalidAlgorithmName | ErrorKind::UnsupportedAlgorithm => {
                TokenError::UnsupportedAlgorithm
            }
            _ => TokenError::Malformed,
        })?;
        if header.alg != Algorithm::RS256 {
            return Err(TokenError::UnsupportedAlgorithm);
        }
        let kid = header.kid.ok_or(TokenError::UnknownKey)?;
        let key = self.keys.key(&kid).await?;
        let claims = jsonwebtoken::decode::<AccessClaims>(token, &key, &self.validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                ErrorKind::ImmatureSignature => TokenError::NotYetValid,
                ErrorKind::InvalidIssuer => TokenError::WrongIssuer,
                ErrorKind::InvalidSignature => TokenError::BadSignature,
                ErrorKind::InvalidAlgorithm => TokenError::UnsupportedAlgorithm,
                ErrorKind::MissingRequiredClaim(_)
                | ErrorKind::InvalidClaimFormat(_)
                | ErrorKind::Json(_) => TokenError::InvalidClaims,
                _ => TokenError::Malformed,
            })?
            .claims;
        if claims.token_use.as_deref() != Some("access") {
            return Err(TokenError::NotAnAccessToken);
        }
        let audience = &self.settings.audience;
        let for_us = claims.client_id.as_deref() == Some(audience.as_str())
            || claims
                .aud
                .as_ref()
                .is_some_and(|aud| aud.contains(audience));
        if !for_us {
            return Err(TokenError::WrongAudience);
        }
        if claims.sub.is_empty() {
            return Err(TokenError::InvalidClaims);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::SigningKey;

    type Change = Box<dyn FnOnce(&mut serde_json::Value)>;

    fn now() -> u64 {
        jsonwebtoken::get_current_timestamp()
    }

    fn claims() -> serde_json::Value {
        serde_json::json!({
            "sub": "user-1", "iss": "https://issuer.test", "exp": now() + 600,
            "iat": now(), "token_use": "access", "client_id": "shop",
        })
    }

    fn settings() -> VerifierSettings {
        VerifierSettings {
            issuer: "https://issuer.test".into(),
            audience: "shop".into(),
            leeway: Duration::from_secs(30),
        }
    }

    fn test_key() -> &'static SigningKey {
        static KEY: std::sync::OnceLock<SigningKey> = std::sync::OnceLock::new();
        KEY.get_or_init(|| SigningKey::generate().expect("key").0)
    }

    fn fixed() -> TokenVerifier {
        TokenVerifier::new(settings(), KeySource::fixed(test_key().jwks()))
    }

    fn with(change: impl FnOnce(&mut serde_json::Value)) -> String {
        let mut c = claims();
        change(&mut c);
        test_key().sign(&c).expect("signed")
    }

    #[tokio::test]
    async fn a_valid_access_token_yields_its_claims() {
        let verified = fixed().verify(&with(|_| {})).await.expect("valid");
        assert_eq!(verified.sub, "user-1");
    }

    #[tokio::test]
    async fn each_wrong_claim_is_refused_for_its_reason() {
        let verifier = fixed();
        let cases: [(&str, Change, TokenError); 7] = [
            (
                "issuer",
                Box::new(|c| c["iss"] = "https://evil.test".into()),
                TokenError::WrongIssuer,
            ),
            (
                "client",
                Box::new(|c| c["client_id"] = "other".into()),
                TokenError::WrongAudience,
            ),
            (
                "id token",
                Box::new(|c| c["token_use"] = "id".into()),
                TokenError::NotAnAccessToken,
            ),
            (
                "expired",
                Box::new(|c| c["exp"] = (now() - 120).into()),
                TokenError::Expired,
            ),
            (
                "future",
                Box::new(|c| c["nbf"] = (now() + 600).into()),
                TokenError::NotYetValid,
            ),
            (
                "no sub",
                Box::new(|c| {
                    c.as_object_mut().expect("object").remove("sub");
                }),
                TokenError::InvalidClaims,
            ),
            (
                "no token_use",
                Box::new(|c| {
                    c.as_object_mut().expect("object").remove("token_use");
                }),
                TokenError::NotAnAccessToken,
            ),
        ];
        for (name, change, expected) in cases {
            assert_eq!(
                verifier.verify(&with(change)).await,
                Err(expected),
                "{name}"
            );
        }
        // Within the leeway an expired token still passes.
        let recent = with(|c| c["exp"] = (now() - 10).into());
        assert!(verifier.verify(&recent).await.is_ok());
        // An `aud` naming the client is as good as `client_id`.
        let aud = with(|c| {
            c.as_object_mut().expect("object").remove("client_id");
            c["aud"] = serde_json::json!(["x", "shop"]);
        });
        assert!(verifier.verify(&aud).await.is_ok());
    }

    #[tokio::test]
    async fn unknown_kids_refetch_the_key_set_at_most_once_an_interval() {
        let set = test_key().jwks().clone();
        let cache = JwksCache::new(
            Arc::new(move || {
                let set = set.clone();
                async move { Ok(set) }.boxed()
            }),
            Duration::from_secs(3600),
        );
        let verifier = TokenVerifier::new(settings(), KeySource::Remote(cache));
        let good = with(|_| {});
        assert!(verifier.verify(&good).await.is_ok());
        assert!(verifier.verify(&good).await.is_ok());
        let KeySource::Remote(cache) = verifier.keys() else {
            unreachable!()
        };
        assert_eq!(cache.fetch_count(), 1, "known keys are cached");
        let other = SigningKey::generate().expect("key").0;
        let forged = other.sign(&claims()).expect("signed");
        for _ in 0..5 {
            assert_eq!(verifier.verify(&forged).await, Err(TokenError::UnknownKey));
        }
        assert_eq!(
            cache.fetch_count(),
            1,
            "the first fetch is too recent to repeat"
        );
    }

    #[tokio::test]
    async fn a_remembered_token_still_expires() {
        let verifier = TokenVerifier::new(
            VerifierSettings {
                leeway: Duration::ZERO,
                ..settings()
            },
            KeySource::fixed(test_key().jwks()),
        );
        let token = with(|c| c["exp"] = (now() + 1).into());
        assert!(verifier.verify(&token).await.is_ok());
        assert!(verifier.verify(&token).await.is_ok(), "remembered");
        // Waits for the clock to pass `exp`, however the seconds fall.
        let mut expired = false;
        for _ in 0..60 {
            if verifier.verify(&token).await == Err(TokenError::Expired) {
                expired = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(expired, "the remembered token expired with its `exp`");
    }

    #[tokio::test]
    async fn a_key_set_that_cannot_be_fetched_is_unavailable_not_anonymous() {
        let cache = JwksCache::new(
            Arc::new(|| async { Err("down".to_owned()) }.boxed()),
            Duration::from_secs(3600),
        );
        let verifier = TokenVerifier::new(settings(), KeySource::Remote(cache));
        assert!(matches!(
            verifier.verify(&with(|_| {})).await,
            Err(TokenError::KeysUnavailable(_))
        ));
    }
}
