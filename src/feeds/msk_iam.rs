//! MSK IAM authentication: the SASL OAUTHBEARER token Amazon MSK accepts is a SigV4
//! presigned `kafka-cluster:Connect` URL, base64url-encoded. Credentials come from the
//! process's AWS credential chain and are kept fresh by a task of their own, because
//! librdkafka asks for a token from a synchronous callback.

use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SignatureLocation, SigningSettings};
use aws_sigv4::sign::v4;
use base64::Engine as _;

/// How long a token is valid (MSK's signer uses the same).
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(900);
/// How often the credentials are fetched again (a provider caches them until near expiry).
const CREDENTIALS_REFRESH: Duration = Duration::from_secs(60);
/// Sent as the token's `User-Agent` parameter, as the AWS signers do.
const USER_AGENT: &str = concat!("storefront-gateway/", env!("CARGO_PKG_VERSION"));

/// A signed token and when it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The token (base64url, no padding).
    pub value: String,
    /// Its expiry, in milliseconds since the Unix epoch.
    pub expires_ms: i64,
}

/// Signs MSK IAM tokens for one region with the latest credentials.
#[derive(Clone)]
pub struct MskIamSigner {
    region: String,
    credentials: Arc<RwLock<Option<Credentials>>>,
}

impl MskIamSigner {
    /// A signer for `region`, with credentials fetched now and then every minute from the
    /// process's AWS credential chain (until the process ends).
    pub async fn from_environment(region: String) -> Result<Self, String> {
        let config = aws_config::from_env()
            .region(aws_config::Region::new(region.clone()))
            .load()
            .await;
        let provider = config
            .credentials_provider()
            .ok_or("no AWS credential provider is configured")?;
        let signer = Self {
            region,
            credentials: Arc::default(),
        };
        signer.refresh(&provider).await?;
        let refreshing = signer.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(CREDENTIALS_REFRESH).await;
                if let Err(e) = refreshing.refresh(&provider).await {
                    tracing::warn!(error = %e, "cannot refresh the AWS credentials for MSK IAM");
                }
            }
        });
        Ok(signer)
    }

    /// A signer with fixed credentials (tests).
    pub fn with_credentials(region: &str, credentials: Credentials) -> Self {
        Self {
            region: region.to_owned(),
            credentials: Arc::new(RwLock::new(Some(credentials))),
        }
    }

    async fn refresh(&self, provider: &SharedCredentialsProvider) -> Result<(), String> {
        let fresh = provider
            .provide_credentials()
            .await
            .map_err(|e| format!("no AWS credentials: {e}"))?;
        *self.credentials.write().unwrap_or_else(|e| e.into_inner()) = Some(fresh);
        Ok(())
    }

    /// A token signed now.
    pub fn token(&self) -> Result<Token, String> {
        self.token_at(SystemTime::now())
    }

    /// A token signed at `now`.
    pub fn token_at(&self, now: SystemTime) -> Result<Token, String> {
        let credentials = self
            .credentials
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or("no AWS credentials yet")?;
        let identity = credentials.into();
        let mut settings = SigningSettings::default();
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(TOKEN_LIFETIME);
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("kafka-cluster")
            .time(now)
            .settings(settings)
            .build()
            .map_err(|e| e.to_string())?
            .into();
        let endpoint = format!("https://kafka.{}.amazonaws.com/", self.region);
        let url = format!("{endpoint}?Action=kafka-cluster%3AConnect");
        let host = endpoint_host(&self.region);
        let signable = SignableRequest::new(
            "GET",
            &url,
            std::iter::once(("host", host.as_str())),
            SignableBody::Bytes(&[]),
        )
        .map_err(|e| e.to_string())?;
        let (instructions, _) = aws_sigv4::http_request::sign(signable, &params)
            .map_err(|e| e.to_string())?
            .into_parts();
        let mut request = http::Request::builder()
            .uri(&url)
            .body(())
            .map_err(|e| e.to_string())?;
        instructions.apply_to_request_http1x(&mut request);
        // The agent is added after signing, as MSK's own signers do.
        let signed = format!(
            "{}&User-Agent={}",
            request.uri(),
            USER_AGENT.replace('/', "%2F")
        );
        let expires = now + TOKEN_LIFETIME;
        Ok(Token {
            value: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(signed.as_bytes()),
            expires_ms: i64::try_from(
                expires
                    .duration_since(UNIX_EPOCH)
                    .map_err(|e| e.to_string())?
                    .as_millis(),
            )
            .map_err(|e| e.to_string())?,
        })
    }
}

fn endpoint_host(region: &str) -> String {
    format!("kafka.{region}.amazonaws.com")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_a_presigned_connect_url_valid_for_fifteen_minutes() {
        let signer = MskIamSigner::with_credentials(
            "eu-west-1",
            Credentials::new(
                "AKIDEXAMPLE",
                "secret",
                Some("session".into()),
                None,
                "test",
            ),
        );
        let at = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let token = signer.token_at(at).expect("signed");
        assert_eq!(token.expires_ms, 1_800_000_900_000);
        assert!(!token.value.contains('='), "no padding");
        let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&token.value)
            .expect("base64url");
        let url = reqwest::Url::parse(std::str::from_utf8(&decoded).expect("UTF-8")).expect("URL");
        assert_eq!(url.host_str(), Some("kafka.eu-west-1.amazonaws.com"));
        let params: std::collections::HashMap<String, String> =
            url.query_pairs().into_owned().collect();
        assert_eq!(params["Action"], "kafka-cluster:Connect");
        assert_eq!(params["X-Amz-Algorithm"], "AWS4-HMAC-SHA256");
        assert_eq!(
            params["X-Amz-Credential"],
            "AKIDEXAMPLE/20270115/eu-west-1/kafka-cluster/aws4_request"
        );
        assert_eq!(params["X-Amz-Date"], "20270115T080000Z");
        assert_eq!(params["X-Amz-Expires"], "900");
        assert_eq!(params["X-Amz-SignedHeaders"], "host");
        assert_eq!(params["X-Amz-Security-Token"], "session");
        assert_eq!(params["X-Amz-Signature"].len(), 64);
        assert!(params["User-Agent"].starts_with("storefront-gateway/"));
        let again = signer.token_at(at).expect("signed");
        assert_eq!(again, token, "signing is deterministic for one instant");
    }

    #[test]
    fn no_credentials_is_an_error_not_a_token() {
        let signer = MskIamSigner {
            region: "eu-west-1".into(),
            credentials: Arc::default(),
        };
        assert!(signer.token().is_err());
    }
}
