//! The Kafka clients' settings from `[feeds.kafka]` (brokers, TLS, SASL/SCRAM, MSK IAM), and
//! the context that feeds librdkafka's callbacks into the status: statistics, errors,
//! rebalances and OAUTHBEARER tokens.

use std::sync::Arc;

use rdkafka::ClientConfig;
use rdkafka::client::{ClientContext, OAuthToken};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::statistics::Statistics;

use super::msk_iam::MskIamSigner;
use super::status::FeedStatus;
use crate::config::{KafkaConfig, KafkaSasl, KafkaSecurity};

/// The settings every client of the feeds shares.
pub fn client_config(config: &KafkaConfig) -> ClientConfig {
    let mut client = ClientConfig::new();
    client
        .set("bootstrap.servers", &config.brokers)
        .set("client.id", "storefront-gateway")
        .set("statistics.interval.ms", "1000")
        .set(
            "security.protocol",
            match config.security_protocol {
                KafkaSecurity::Plaintext => "plaintext",
                KafkaSecurity::Ssl => "ssl",
                KafkaSecurity::SaslPlaintext => "sasl_plaintext",
                KafkaSecurity::SaslSsl => "sasl_ssl",
            },
        );
    if let Some(ca) = &config.ca_location {
        client.set("ssl.ca.location", ca.display().to_string());
    }
    match config.sasl_mechanism {
        KafkaSasl::None => {}
        KafkaSasl::ScramSha256 | KafkaSasl::ScramSha512 => {
            let mechanism = if config.sasl_mechanism == KafkaSasl::ScramSha256 {
                "SCRAM-SHA-256"
            } else {
                "SCRAM-SHA-512"
            };
            client
                .set("sasl.mechanism", mechanism)
                .set(
                    "sasl.username",
                    config.sasl_username.clone().unwrap_or_default(),
                )
                .set(
                    "sasl.password",
                    config.sasl_password.clone().unwrap_or_default(),
                );
        }
        KafkaSasl::AwsMskIam => {
            client.set("sasl.mechanism", "OAUTHBEARER");
        }
    }
    client
}

/// The consumer's settings: the group, and offsets stored only by the code once records are
/// applied (librdkafka commits what is stored every second and at every rebalance).
pub fn consumer_config(config: &KafkaConfig) -> ClientConfig {
    let mut client = client_config(config);
    client
        .set("group.id", &config.group_id)
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "1000")
        .set("enable.auto.offset.store", "false")
        .set("session.timeout.ms", config.session_timeout_ms.to_string())
        .set("auto.offset.reset", &config.start_from);
    client
}

/// The dead-letter producer's settings: acknowledged by every in-sync replica, never
/// duplicated by its own retries.
pub fn producer_config(config: &KafkaConfig) -> ClientConfig {
    let mut client = client_config(config);
    client
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("message.timeout.ms", "30000");
    client
}

/// The settings of `feed publish`: the dead-letter producer's, with each message its own
/// batch. tansu 0.6.0 (the local broker) answers a fetch that starts inside a batch of several
/// messages with nothing; publishing is for tests and demos, so it trades throughput for
/// working with it.
pub fn publisher_config(config: &KafkaConfig) -> ClientConfig {
    let mut client = producer_config(config);
    client.set("linger.ms", "0").set("batch.num.messages", "1");
    client
}

/// A Kafka client closed on a thread of its own: librdkafka's close waits for the brokers
/// (leaving the group, flushing), which must never block the async runtime, nor hold the
/// process at exit when no broker can be reached.
pub struct OffThread<T: Send + 'static>(Option<T>);

impl<T: Send + 'static> OffThread<T> {
    /// Holds `client`.
    pub fn new(client: T) -> Self {
        Self(Some(client))
    }

    /// Closes the client and waits for it (callers bound the wait: the app's stop deadline).
    pub async fn close(mut self) {
        let Some(client) = self.0.take() else {
            return;
        };
        let (closed, done) = tokio::sync::oneshot::channel();
        let spawned = std::thread::Builder::new()
            .name("kafka-close".into())
            .spawn(move || {
                drop(client);
                let _ = closed.send(());
            });
        if spawned.is_ok() {
            let _ = done.await;
        }
    }
}

impl<T: Send + 'static> std::ops::Deref for OffThread<T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.0.as_ref().expect("held until closed or dropped")
    }
}

impl<T: Send + 'static> Drop for OffThread<T> {
    fn drop(&mut self) {
        if let Some(client) = self.0.take() {
            // Detached: the process may exit before a close that waits on absent brokers.
            let _ = std::thread::Builder::new()
                .name("kafka-close".into())
                .spawn(move || drop(client));
        }
    }
}

/// librdkafka's callbacks, into the feeds' status.
pub struct FeedContext {
    /// Where statistics and broker state go.
    pub status: Arc<FeedStatus>,
    /// Signs MSK IAM tokens, when that is the mechanism.
    pub signer: Option<MskIamSigner>,
    /// Whether this is the consumer's context (its statistics say the assignment and lag).
    pub consumer: bool,
}

impl ClientContext for FeedContext {
    // Only asked for when the mechanism is OAUTHBEARER (MSK IAM).
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

    fn stats(&self, statistics: Statistics) {
        // The consumer's connections decide readiness: the producer connects only to send.
        if self.consumer {
            self.status.observe_brokers(&statistics);
            self.status.observe_assignment(&statistics);
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        if self.consumer {
            match error.rdkafka_error_code() {
                Some(RDKafkaErrorCode::AllBrokersDown) => self.status.brokers_down(),
                Some(RDKafkaErrorCode::Authentication | RDKafkaErrorCode::SSL) => {
                    self.status.refused();
                }
                _ => {}
            }
        }
        tracing::warn!(error = %error, reason, "Kafka client error");
    }

    fn generate_oauth_token(
        &self,
        _oauthbearer_config: Option<&str>,
    ) -> Result<OAuthToken, Box<dyn std::error::Error>> {
        let signer = self
            .signer
            .as_ref()
            .ok_or("OAUTHBEARER without `sasl_mechanism = \"aws-msk-iam\"`")?;
        let token = signer.token()?;
        Ok(OAuthToken {
            token: token.value,
            principal_name: "storefront-gateway".into(),
            lifetime_ms: token.expires_ms,
        })
    }
}

impl ConsumerContext for FeedContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(partitions) = rebalance {
            // Records are applied between polls, so none is in flight here: what is stored
            // is done, and is committed before another replica takes the partitions.
            match consumer.commit_consumer_state(CommitMode::Sync) {
                Ok(()) => {}
                Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
                Err(e) => tracing::warn!(error = %e, "cannot commit before a rebalance"),
            }
            tracing::info!(partitions = partitions.count(), "feed partitions revoked");
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(partitions) = rebalance {
            tracing::info!(partitions = partitions.count(), "feed partitions assigned");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scram_over_tls_sets_the_mechanism_and_the_secret() {
        let config = KafkaConfig {
            security_protocol: KafkaSecurity::SaslSsl,
            sasl_mechanism: KafkaSasl::ScramSha512,
            sasl_username: Some("gateway".into()),
            sasl_password: Some("secret".into()),
            ca_location: Some("/etc/ssl/msk.pem".into()),
            ..KafkaConfig::default()
        };
        let client = consumer_config(&config);
        assert_eq!(client.get("security.protocol"), Some("sasl_ssl"));
        assert_eq!(client.get("sasl.mechanism"), Some("SCRAM-SHA-512"));
        assert_eq!(client.get("sasl.username"), Some("gateway"));
        assert_eq!(client.get("sasl.password"), Some("secret"));
        assert_eq!(client.get("ssl.ca.location"), Some("/etc/ssl/msk.pem"));
        assert_eq!(client.get("enable.auto.offset.store"), Some("false"));
    }

    #[test]
    fn msk_iam_is_oauthbearer_over_tls() {
        let config = KafkaConfig {
            security_protocol: KafkaSecurity::SaslSsl,
            sasl_mechanism: KafkaSasl::AwsMskIam,
            ..KafkaConfig::default()
        };
        let client = producer_config(&config);
        assert_eq!(client.get("sasl.mechanism"), Some("OAUTHBEARER"));
        assert_eq!(client.get("security.protocol"), Some("sasl_ssl"));
        assert_eq!(client.get("sasl.username"), None);
    }
}
