//! `storefront-gateway feed publish FEED FILE`: writes a JSON Lines feed to its topic, one
//! message a line keyed by the entity's id, for tests and demos (the PIM, the supply chain and
//! the OMS publish their own feeds in production).

use std::io::BufRead;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use futures::StreamExt as _;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};
use serde_json::Value;

use super::client::{self, FeedContext};
use super::records::feed_record;
use super::status::FeedStatus;
use crate::config::KafkaConfig;

/// The most messages sent and not yet acknowledged.
const IN_FLIGHT: usize = 256;

/// What one publish did.
#[derive(Debug, Default)]
pub struct Published {
    /// The topic written.
    pub topic: String,
    /// Messages the broker acknowledged.
    pub published: usize,
    /// Lines not published, by line number, with the reason.
    pub failures: Vec<(usize, String)>,
}

/// The message key of a record: the values of the feed's key fields joined by `/`.
fn record_key(fields: &[&str], record: &serde_json::Map<String, Value>) -> Result<String, String> {
    let mut parts = Vec::with_capacity(fields.len());
    for field in fields {
        match record.get(*field) {
            Some(Value::String(text)) if !text.is_empty() => parts.push(text.as_str()),
            _ => return Err(format!("the record has no `{field}` (a non-empty string)")),
        }
    }
    Ok(parts.join("/"))
}

/// One line as a message: `(key, compact JSON value)`, or why it cannot be one.
fn message(fields: &[&str], line: &str) -> Result<(String, String), String> {
    let record = feed_record(line.as_bytes())?;
    let key = record_key(fields, &record)?;
    Ok((key, Value::Object(record).to_string()))
}

/// Writes the lines of `feed` to its topic (`feeds.kafka.topics`), in order, each
/// acknowledged by every in-sync replica.
pub async fn publish(
    config: &KafkaConfig,
    aws_region: Option<String>,
    feed: &str,
    lines: impl BufRead,
) -> anyhow::Result<Published> {
    let domain = storefront_schema::feed_domain(feed)?;
    let topic = config
        .topics
        .get(feed)
        .with_context(|| format!("feed `{feed}` has no topic (setting `feeds.kafka.topics`)"))?
        .clone();
    let fields = domain.feed_key(feed);
    anyhow::ensure!(!fields.is_empty(), "feed `{feed}` names no key field");
    let producer: FutureProducer<FeedContext> = client::publisher_config(config)
        .create_with_context(FeedContext {
            status: Arc::new(FeedStatus::registered(&storefront_loaders::Metrics::new())),
            signer: super::signer(config, aws_region).await?,
            consumer: false,
        })
        .context("cannot create the Kafka producer (settings under `[feeds.kafka]`)")?;
    // A topic that is not there would fail each line after the send timeout: say so first.
    let (asked, named) = (producer.clone(), topic.clone());
    let known = tokio::task::spawn_blocking(move || {
        let metadata = asked
            .client()
            .fetch_metadata(Some(&named), Duration::from_secs(15))?;
        Ok::<_, rdkafka::error::KafkaError>(
            metadata
                .topics()
                .iter()
                .any(|t| t.error().is_none() && !t.partitions().is_empty()),
        )
    })
    .await
    .context("the metadata request did not finish")?
    .with_context(|| format!("cannot reach the brokers {}", config.brokers))?;
    anyhow::ensure!(
        known,
        "the topic `{topic}` does not exist (create it, or let the brokers create topics)"
    );
    let mut report = Published {
        topic: topic.clone(),
        ..Published::default()
    };
    let (producer, topic) = (&producer, topic.as_str());
    // Read as they are sent (a feed file may be large), sent in line order so that one key's
    // records keep theirs, many in flight.
    let mut sends = futures::stream::iter(lines.lines().enumerate())
        .map(|(index, line)| async move {
            let line = match line {
                Ok(line) if line.trim().is_empty() => return (index + 1, None),
                Ok(line) => line,
                Err(e) => return (index + 1, Some(Err(format!("cannot read the line: {e}")))),
            };
            let result = match message(fields, &line) {
                Err(reason) => Err(reason),
                Ok((key, value)) => producer
                    .send(
                        FutureRecord::to(topic).key(&key).payload(&value),
                        Duration::from_secs(30),
                    )
                    .await
                    .map(|_| ())
                    .map_err(|(e, _)| format!("not acknowledged: {e}")),
            };
            (index + 1, Some(result))
        })
        .buffered(IN_FLIGHT);
    while let Some((number, result)) = sends.next().await {
        match result {
            None => {}
            Some(Ok(())) => report.published += 1,
            Some(Err(reason)) => report.failures.push((number, reason)),
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feeds::records::MAX_RECORD_BYTES;

    #[test]
    fn a_message_is_keyed_by_the_feeds_key_fields() {
        assert_eq!(
            message(&["sku"], r#"{ "sku": "TEE-M", "quantity": 3 }"#),
            Ok(("TEE-M".into(), r#"{"quantity":3,"sku":"TEE-M"}"#.into()))
        );
        assert_eq!(
            message(
                &["location", "sku"],
                r#"{"sku":"TEE-M","location":"boston","quantity":1}"#
            )
            .map(|(key, _)| key),
            Ok("boston/TEE-M".into())
        );
    }

    #[test]
    fn a_line_without_its_key_or_not_an_object_is_not_published() {
        let refused = |line: &str| message(&["sku"], line).expect_err("refused");
        assert!(refused(r#"{"quantity":3}"#).contains("no `sku`"));
        assert!(refused(r#"{"sku":"","quantity":3}"#).contains("no `sku`"));
        assert!(refused(r#"{"sku":7}"#).contains("no `sku`"));
        assert!(refused("[1]").contains("not a JSON object"));
        assert!(refused("{").contains("not JSON"));
        let long = format!(r#"{{"sku":"{}"}}"#, "x".repeat(MAX_RECORD_BYTES));
        assert!(refused(&long).contains("bytes"));
    }
}
