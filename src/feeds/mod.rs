//! Feeds over Kafka (Amazon MSK): the catalog, inventory, order-status and store-stock feeds
//! consumed by a consumer group the replicas share, applied through the domains' own import
//! code, at least once and idempotent in effect.

mod client;
mod consumer;
pub mod msk_iam;
mod publish;
pub mod records;
mod status;

pub use publish::{Published, publish};
pub use status::FeedStatus;

use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use rdkafka::consumer::StreamConsumer;
use rdkafka::producer::FutureProducer;
use storefront_loaders::domain::Services;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::{KafkaConfig, KafkaSasl};
use client::{FeedContext, OffThread};
use consumer::{Consumer, Route};

/// The feed consumers of one process: started with the app, stopped with it.
pub struct Feeds {
    config: KafkaConfig,
    aws_region: Option<String>,
    /// What they are doing.
    pub status: Arc<FeedStatus>,
    stop: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Feeds {
    /// The consumers of `config` (not yet connected), their metrics in `metrics`.
    pub fn new(
        config: &KafkaConfig,
        aws_region: Option<String>,
        metrics: &storefront_loaders::Metrics,
    ) -> Self {
        Self {
            config: config.clone(),
            aws_region,
            status: Arc::new(FeedStatus::registered(metrics)),
            stop: watch::Sender::new(false),
            task: Mutex::new(None),
        }
    }

    /// Joins the consumer group and starts applying records.
    pub async fn start(&self, services: &Services) -> anyhow::Result<String> {
        let mut routes = Vec::new();
        for (feed, topic) in &self.config.topics {
            let domain =
                storefront_schema::feed_domain(feed).context("setting `feeds.kafka.topics`")?;
            routes.push(Route {
                topic: topic.clone(),
                feed: feed.clone(),
                domain,
            });
        }
        let signer = signer(&self.config, self.aws_region.clone()).await?;
        let context = |consumer| FeedContext {
            status: Arc::clone(&self.status),
            signer: signer.clone(),
            consumer,
        };
        let consumer: StreamConsumer<FeedContext> = client::consumer_config(&self.config)
            .create_with_context(context(true))
            .context("cannot create the Kafka consumer (settings under `[feeds.kafka]`)")?;
        let producer: FutureProducer<FeedContext> = client::producer_config(&self.config)
            .create_with_context(context(false))
            .context("cannot create the dead-letter producer (settings under `[feeds.kafka]`)")?;
        let summary = format!(
            "consuming {} from {} as group `{}`",
            routes
                .iter()
                .map(|r| format!("{} ({})", r.feed, r.topic))
                .collect::<Vec<_>>()
                .join(", "),
            self.config.brokers,
            self.config.group_id
        );
        let consumer = Consumer {
            consumer: OffThread::new(consumer),
            producer: OffThread::new(producer),
            routes,
            services: services.clone(),
            status: Arc::clone(&self.status),
            dead_letter_topic: self.config.dead_letter_topic.clone(),
            batch_size: self.config.batch_size,
            concurrency: self.config.concurrency,
        };
        let task = tokio::spawn(consumer.run(self.stop.subscribe()));
        *self.task.lock().unwrap_or_else(|e| e.into_inner()) = Some(task);
        Ok(summary)
    }

    /// Stops taking records, finishes the batch in hand, commits and leaves the group.
    pub async fn stop(&self) -> Option<String> {
        self.stop.send_replace(true);
        let task = self.task.lock().unwrap_or_else(|e| e.into_inner()).take()?;
        match task.await {
            Ok(()) => Some("feed consumers stopped".into()),
            Err(e) => Some(format!("the feed consumer ended badly: {e}")),
        }
    }
}

/// The MSK IAM token signer, when that is the mechanism.
async fn signer(
    config: &KafkaConfig,
    aws_region: Option<String>,
) -> anyhow::Result<Option<msk_iam::MskIamSigner>> {
    if config.sasl_mechanism != KafkaSasl::AwsMskIam {
        return Ok(None);
    }
    let region = config
        .aws_region
        .clone()
        .or(aws_region)
        .context("MSK IAM needs a region (`feeds.kafka.aws_region` or `aws.region`)")?;
    Ok(Some(
        msk_iam::MskIamSigner::from_environment(region)
            .await
            .map_err(anyhow::Error::msg)
            .context("cannot sign MSK IAM tokens")?,
    ))
}
