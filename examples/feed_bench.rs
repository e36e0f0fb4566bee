//! The feed benchmark: inventory records through Kafka into the store, as the gateway's
//! consumer applies them (batches, key groups at once, versions checked in conditional
//! writes); reports records per second from the first record to the last one applied. The
//! records are produced before the consumer starts, so only consuming and applying is timed.
//! Run by hand, with a broker (`scripts/local-aws start` prints `LOCAL_AWS_KAFKA_BROKERS`):
//!
//! ```sh
//! KAFKA_BROKERS=127.0.0.1:9092 cargo run --release --example feed_bench     # embedded store
//! STORE=dynamodb DYNAMODB_URL=http://127.0.0.1:8000 KAFKA_BROKERS=… cargo run --release --example feed_bench
//! ```
//! Settings (environment): `RECORDS` (20000), `SKUS` (1000), `PARTITIONS` (3),
//! `BATCH_SIZE` (500), `CONCURRENCY` (8).
// The schema's merged roots nest their resolvers' futures deeper than the compiler's default
// limit allows when it lays them out in an optimised build (as in `storefront-schema`).
#![recursion_limit = "256"]

#[allow(
    dead_code,
    reason = "this benchmark needs only some of the shared helpers"
)]
mod support;

use std::collections::BTreeMap;
use std::io::Cursor;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::{StreamExt as _, TryStreamExt as _};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::json;
use storefront_gateway::App;
use storefront_gateway::config::{Config, StoreEngine};
use storefront_loaders::store::Table;
use support::setting;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let records = setting("RECORDS", 20_000);
    let skus = setting("SKUS", 1_000).max(5);
    let partitions = i32::try_from(setting("PARTITIONS", 3))?;
    let brokers = std::env::var("KAFKA_BROKERS").context("KAFKA_BROKERS (host:port)")?;
    let id = uuid::Uuid::new_v4().simple().to_string();
    let (topic, dead) = (format!("bench-inventory-{id}"), format!("bench-dead-{id}"));

    let admin: AdminClient<_> = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()?;
    for created in admin
        .create_topics(
            &[
                NewTopic::new(&topic, partitions, TopicReplication::Fixed(1)),
                NewTopic::new(&dead, 1, TopicReplication::Fixed(1)),
            ],
            &AdminOptions::new(),
        )
        .await?
    {
        created.map_err(|(topic, e)| anyhow::anyhow!("cannot create {topic}: {e}"))?;
    }

    let mut config = Config::default();
    config.set("catalog", "demo_products", 10);
    config.set("checkout", "outbox.relay_millis", 0);
    let (engine, store): (Arc<dyn Table>, &str) = match std::env::var("STORE").as_deref() {
        Ok("dynamodb") => {
            config.store = StoreEngine::Aws;
            let url = std::env::var("DYNAMODB_URL").context("DYNAMODB_URL")?;
            (
                Arc::new(support::fresh_dynamo_table(url, "feed-bench").await?),
                "DynamoDB Local",
            )
        }
        _ => {
            config.store = StoreEngine::Memory;
            (
                storefront_gateway::app::open_store(&config).await?,
                "embedded (redb in memory)",
            )
        }
    };
    // The catalog the levels are for: products of five sizes.
    let products = skus / 5;
    let catalog: String = (0..products)
        .map(|p| {
            let sizes = ["XS", "S", "M", "L", "XL"];
            let variants: Vec<_> = sizes
                .iter()
                .map(|s| json!({"sku": format!("B-{p}-{s}"), "options": {"Size": s}, "price": "10.00"}))
                .collect();
            format!(
                "{}\n",
                json!({"handle": format!("bench-{p}"), "title": format!("Bench {p}"),
                    "options": [{"name": "Size", "values": sizes}], "variants": variants})
            )
        })
        .collect();
    // Each process has local state of its own (the search index), as replicas do.
    let local = |name: &str| std::env::temp_dir().join(format!("feed-bench-{id}-{name}"));
    config.data_dir = local("writer");
    let writer = App::with_store(config.clone().validated()?, Arc::clone(&engine)).await?;
    writer.start().await?;
    let catalog_domain = storefront_schema::feed_domain("catalog")?;
    let report = catalog_domain
        .import(&writer.services, "catalog", Box::new(Cursor::new(catalog)))
        .await?;
    anyhow::ensure!(report.failures.is_empty(), "catalog: {:?}", report.failures);

    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("linger.ms", "0")
        .set("batch.num.messages", "1")
        .create()?;
    let produced = Instant::now();
    let sends = (0..records).map(|i| {
        let (p, s) = ((i / 5) % products, ["XS", "S", "M", "L", "XL"][i % 5]);
        let sku = format!("B-{p}-{s}");
        let version = i / (products * 5) + 1;
        let quantity = i % 1000;
        let value = json!({"sku": sku, "quantity": quantity, "version": version}).to_string();
        let producer = producer.clone();
        let topic = topic.clone();
        async move {
            producer
                .send(
                    FutureRecord::to(&topic).key(&sku).payload(&value),
                    Duration::from_secs(30),
                )
                .await
                .map_err(|(e, _)| anyhow::anyhow!("produce: {e}"))
        }
    });
    // In order (a key's records keep theirs), many in flight.
    futures::stream::iter(sends)
        .buffered(256)
        .try_for_each(|_| async { Ok(()) })
        .await?;
    let produce_seconds = produced.elapsed().as_secs_f64();

    config.data_dir = local("consumer");
    config.feeds.kafka.enabled = true;
    config.feeds.kafka.brokers = brokers;
    config.feeds.kafka.group_id = format!("bench-{id}");
    config.feeds.kafka.topics = BTreeMap::from([("inventory".to_owned(), topic)]);
    config.feeds.kafka.dead_letter_topic = dead;
    config.feeds.kafka.batch_size = setting("BATCH_SIZE", 500);
    config.feeds.kafka.concurrency = setting("CONCURRENCY", 8);
    let consumer = App::with_store(config.validated()?, engine).await?;
    let started = Instant::now();
    consumer.start().await?;
    let done = |outcome: &str| {
        consumer.metrics.sample(
            "storefront_feed_records_total",
            &[("feed", "inventory"), ("outcome", outcome)],
        )
    };
    while done("applied") + done("rejected") < records as f64 {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(1800),
            "not done in 30 minutes: {} applied",
            done("applied")
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    consumer.stop(Duration::from_secs(10)).await;
    println!(
        "| store | records | SKUs | partitions | produced in s | applied in s | records/s | rejected |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    println!(
        "| {store} | {records} | {} | {partitions} | {produce_seconds:.1} | {seconds:.1} | {:.0} | {} |",
        products * 5,
        records as f64 / seconds,
        done("rejected")
    );
    Ok(())
}
