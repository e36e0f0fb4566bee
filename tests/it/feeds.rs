//! Feeds over Kafka against a real broker (tansu, from `scripts/local-aws`): records applied
//! once in effect, in order per key, shared by the replicas of a consumer group, bad records in
//! the dead-letter topic, nothing lost when a consumer is killed, readiness and pause.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::Message as _;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::ClientContext;
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::message::Headers as _;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{Value, json};
use storefront_gateway::config::{Config, StoreEngine};
use storefront_loaders::catalog::records::keys;
use storefront_loaders::store::Table;

use crate::support::{
    TestApp, free_port, gateway_command, local_aws, spawn_app_with, spawn_with_store, test_config,
    with_admin_key,
};

const ADMIN: &str = "feeds-admin-secret";

/// The consumers' session timeout: the shortest the gateway accepts, so that a killed
/// member's partitions move soon.
const SESSION_TIMEOUT_MS: u64 = 6_000;

/// Messages to produce: `(key, value)`.
pub(crate) type Messages = Vec<(Option<String>, String)>;

/// Creates topics of their own for one test: `(inventory, dead letters)`.
async fn topics(partitions: i32) -> (String, String) {
    let admin: AdminClient<_> = plain().create().expect("admin client");
    create_topics(&admin, partitions).await
}

/// The settings of a client of the suite's broker.
fn plain() -> ClientConfig {
    let mut client = ClientConfig::new();
    client.set("bootstrap.servers", local_aws().kafka_brokers);
    client
}

/// Creates topics of their own for one test through `admin`: `(inventory, dead letters)`.
pub(crate) async fn create_topics<C: ClientContext + 'static>(
    admin: &AdminClient<C>,
    partitions: i32,
) -> (String, String) {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let (feed, dead) = (format!("inventory-{id}"), format!("dead-{id}"));
    let created = admin
        .create_topics(
            &[
                NewTopic::new(&feed, partitions, TopicReplication::Fixed(1)),
                NewTopic::new(&dead, 1, TopicReplication::Fixed(1)),
            ],
            &AdminOptions::new(),
        )
        .await
        .expect("create topics");
    for result in created {
        result.expect("topic created");
    }
    (feed, dead)
}

/// Produces `(key, value)` records, in order, to `topic`.
async fn produce(topic: &str, records: &[(Option<String>, String)]) {
    produce_with(plain(), topic, records).await;
}

/// Produces `(key, value)` records, in order, to `topic` with a client of these settings.
pub(crate) async fn produce_with(
    mut client: ClientConfig,
    topic: &str,
    records: &[(Option<String>, String)],
) {
    let producer: FutureProducer = client
        .set("linger.ms", "0")
        .set("batch.num.messages", "1")
        .set("max.in.flight.requests.per.connection", "1")
        .create()
        .expect("producer");
    for (key, value) in records {
        let mut record = FutureRecord::<str, str>::to(topic).payload(value);
        if let Some(key) = key {
            record = record.key(key);
        }
        producer
            .send(record, Duration::from_secs(10))
            .await
            .expect("delivered");
    }
}

/// Runs `storefront-gateway feed publish FEED FILE` with `lines` as the file, the feed's topic
/// set to `topic`; its output.
fn publish(feed: &str, topic: &str, lines: &str) -> std::process::Output {
    let dir = tempfile::tempdir().expect("temp dir");
    let (config_file, file) = (
        dir.path().join("gateway.toml"),
        dir.path().join("feed.jsonl"),
    );
    std::fs::write(
        &config_file,
        format!(
            "[feeds.kafka]\nbrokers = \"{}\"\n[feeds.kafka.topics]\n{feed} = \"{topic}\"\n",
            local_aws().kafka_brokers
        ),
    )
    .expect("config written");
    std::fs::write(&file, lines).expect("feed written");
    gateway_command()
        .arg("--config")
        .arg(&config_file)
        .args(["feed", "publish", feed])
        .arg(&file)
        .output()
        .expect("feed publish runs")
}

/// A gateway config that consumes the inventory feed from `topic`.
pub(crate) fn consuming(mut config: Config, topic: &str, dead: &str, group: &str) -> Config {
    let kafka = &mut config.feeds.kafka;
    kafka.enabled = true;
    kafka.brokers = local_aws().kafka_brokers;
    kafka.group_id = group.into();
    kafka.topics = BTreeMap::from([("inventory".to_owned(), topic.to_owned())]);
    kafka.dead_letter_topic = dead.into();
    kafka.batch_size = 200;
    kafka.session_timeout_ms = u32::try_from(SESSION_TIMEOUT_MS).expect("small");
    with_admin_key(&mut config, "ops", ADMIN);
    config
}

/// The catalog lines of `products` products with three sizes each; their SKUs.
pub(crate) fn catalog(prefix: &str, products: usize) -> (String, Vec<String>) {
    let mut lines = Vec::new();
    let mut skus = Vec::new();
    for p in 0..products {
        let variants: Vec<Value> = ["S", "M", "L"]
            .iter()
            .map(|size| {
                let sku = format!("{prefix}-{p}-{size}");
                skus.push(sku.clone());
                json!({"sku": sku, "options": {"Size": size}, "price": "10.00"})
            })
            .collect();
        lines.push(
            json!({
                "handle": format!("{}-{p}", prefix.to_lowercase()),
                "title": format!("Feed product {p}"),
                "vendor": "Feedco",
                "categories": ["men-t-shirts"],
                "options": [{"name": "Size", "values": ["S", "M", "L"]}],
                "variants": variants,
            })
            .to_string(),
        );
    }
    (lines.join("\n"), skus)
}

/// The stored stock of `sku` (`None` before any level is stored).
async fn stock(table: &Arc<dyn Table>, sku: &str) -> Option<i64> {
    let owner = table.get(&keys::sku(sku)).await.expect("read")?;
    let variant = owner.get("variant_id")?.as_str()?.to_owned();
    let item = table.get(&keys::inventory(&variant)).await.expect("read")?;
    item.get("quantity")?.as_i64()
}

/// Waits (up to a minute) until `check` holds.
pub(crate) async fn until<F: std::future::Future<Output = bool>>(
    what: &str,
    mut check: impl FnMut() -> F,
) {
    let started = Instant::now();
    while !check().await {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "gave up waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Until every SKU holds its expected level.
pub(crate) async fn until_levels(table: &Arc<dyn Table>, expected: &BTreeMap<String, i64>) {
    until("every level applied", || async {
        for (sku, quantity) in expected {
            if stock(table, sku).await != Some(*quantity) {
                return false;
            }
        }
        true
    })
    .await;
}

pub(crate) fn applied(app: &TestApp, outcome: &str) -> f64 {
    app.app.metrics.sample(
        "storefront_feed_records_total",
        &[("feed", "inventory"), ("outcome", outcome)],
    )
}

/// `versions` levels per SKU, interleaved across SKUs, each keyed by its SKU; the last level
/// of each SKU.
pub(crate) fn levels(skus: &[String], versions: i64) -> (Messages, BTreeMap<String, i64>) {
    let mut records = Vec::new();
    let mut last = BTreeMap::new();
    for version in 1..=versions {
        for (i, sku) in skus.iter().enumerate() {
            let quantity = version * 10 + i64::try_from(i % 7).expect("small");
            records.push((
                Some(sku.clone()),
                json!({"sku": sku, "quantity": quantity, "version": version}).to_string(),
            ));
            last.insert(sku.clone(), quantity);
        }
    }
    (records, last)
}

async fn admin(app: &TestApp, method: reqwest::Method, path: &str) -> (u16, Value) {
    let response = app
        .client
        .request(method, app.url(path))
        .header("x-api-key", ADMIN)
        .send()
        .await
        .expect("admin route answers");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON"))
}

#[tokio::test]
async fn inventory_records_apply_in_order_once_in_effect_and_the_lag_drains_to_zero() {
    let (topic, dead) = topics(3).await;
    let group = format!("group-{topic}");
    let app = spawn_app_with(consuming(test_config(), &topic, &dead, &group)).await;
    let (catalog, skus) = catalog("LVL", 67);
    assert!(app.import("catalog", &catalog).await.failures.is_empty());
    // 200 SKUs, 50 versions each: 10,000 records over 3 partitions, written by `feed publish`.
    let (records, last) = levels(&skus[..200], 50);
    let file: Vec<&str> = records.iter().map(|(_, value)| value.as_str()).collect();
    let published = publish("inventory", &topic, &file.join("\n"));
    assert!(
        published.status.success(),
        "{}",
        String::from_utf8_lossy(&published.stderr)
    );
    assert!(
        String::from_utf8_lossy(&published.stdout)
            .contains(&format!("10000 published to `{topic}`, 0 failed")),
        "{}",
        String::from_utf8_lossy(&published.stdout)
    );
    until_levels(&app.app.table, &last).await;
    until("every record counted", || async {
        applied(&app, "applied") == 10_000.0
    })
    .await;
    until(
        "the lag reported and at zero on every partition",
        || async {
            let (_, report) = admin(&app, reqwest::Method::GET, "/admin/feeds").await;
            let lags = report["lag"][&topic]
                .as_object()
                .cloned()
                .unwrap_or_default();
            lags.len() == 3 && lags.values().all(|lag| lag == 0)
        },
    )
    .await;
    assert_eq!(applied(&app, "rejected"), 0.0);

    // A replay (a new group from the start) and an older level change nothing.
    let old = skus[0].clone();
    produce(
        &topic,
        &[(
            Some(old.clone()),
            json!({"sku": old, "quantity": 999_999, "version": 3}).to_string(),
        )],
    )
    .await;
    let replay = spawn_with_store(
        consuming(test_config(), &topic, &dead, &format!("replay-{topic}")),
        Arc::clone(&app.app.table),
    )
    .await;
    until("the replay consumed everything", || async {
        applied(&replay, "applied") == 10_001.0
    })
    .await;
    until("the first consumer saw the old level", || async {
        applied(&app, "applied") == 10_001.0
    })
    .await;
    for (sku, quantity) in &last {
        assert_eq!(stock(&app.app.table, sku).await, Some(*quantity), "{sku}");
    }
}

#[tokio::test]
async fn feed_publish_keys_each_line_by_its_entity_and_reports_lines_without_one() {
    let (topic, _) = topics(1).await;
    let lines = [
        json!({"sku": "PUB-1", "location": "boston", "quantity": 4, "version": 1}).to_string(),
        json!({"location": "boston", "quantity": 2}).to_string(),
        String::new(),
        "{\"sku\": \"PUB-2\",\n".to_owned(),
        format!(
            "  {}",
            json!({"sku": "PUB-2", "location": "new-york", "quantity": 0})
        ),
    ];
    let missing = publish("store-inventory", &format!("missing-{topic}"), &lines[0]);
    assert_eq!(missing.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(stderr.contains("does not exist"), "{stderr}");

    let published = publish("store-inventory", &topic, &lines.join("\n"));
    assert_eq!(published.status.code(), Some(1), "a line failed");
    let stderr = String::from_utf8_lossy(&published.stderr);
    assert!(
        stderr.contains("feed.jsonl:2: the record has no `sku`"),
        "{stderr}"
    );
    assert!(stderr.contains("feed.jsonl:4: not JSON"), "{stderr}");
    assert!(
        String::from_utf8_lossy(&published.stdout)
            .contains(&format!("2 published to `{topic}`, 2 failed")),
        "{}",
        String::from_utf8_lossy(&published.stdout)
    );
    let reader: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", local_aws().kafka_brokers)
        .set("group.id", format!("reader-{topic}"))
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("reader");
    reader.subscribe(&[&topic]).expect("subscribed");
    let mut read = Vec::new();
    while read.len() < 2 {
        let message = tokio::time::timeout(Duration::from_secs(30), reader.recv())
            .await
            .expect("the published messages arrive")
            .expect("a message");
        read.push((
            String::from_utf8_lossy(message.key().expect("a key")).into_owned(),
            serde_json::from_slice::<Value>(message.payload().expect("a value")).expect("JSON"),
        ));
    }
    assert_eq!(
        read,
        [
            (
                "boston/PUB-1".to_owned(),
                json!({"sku": "PUB-1", "location": "boston", "quantity": 4, "version": 1})
            ),
            (
                "new-york/PUB-2".to_owned(),
                json!({"sku": "PUB-2", "location": "new-york", "quantity": 0})
            ),
        ]
    );
}

#[tokio::test]
async fn bad_records_go_to_the_dead_letter_topic_with_reason_and_origin_and_good_ones_apply() {
    let (topic, dead) = topics(1).await;
    let app = spawn_app_with(consuming(
        test_config(),
        &topic,
        &dead,
        &format!("group-{topic}"),
    ))
    .await;
    let (catalog, skus) = catalog("DLQ", 1);
    assert!(app.import("catalog", &catalog).await.failures.is_empty());
    let good = |quantity: i64| json!({"sku": skus[0], "quantity": quantity}).to_string();
    produce(
        &topic,
        &[
            (Some(skus[0].clone()), good(4)),
            (Some(skus[0].clone()), "not json".into()),
            (None, good(5)),
            (
                Some("NOPE".into()),
                json!({"sku": "NOPE", "quantity": 1}).to_string(),
            ),
            (
                Some(skus[0].clone()),
                json!({"sku": skus[0], "quantity": -3}).to_string(),
            ),
            (Some(skus[0].clone()), good(6)),
        ],
    )
    .await;
    until_levels(&app.app.table, &BTreeMap::from([(skus[0].clone(), 6)])).await;
    until("the bad ones counted", || async {
        applied(&app, "rejected") == 4.0
    })
    .await;
    assert_eq!(applied(&app, "applied"), 2.0);

    let reader: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", local_aws().kafka_brokers)
        .set("group.id", format!("reader-{dead}"))
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    reader.subscribe(&[&dead]).expect("subscribe");
    let mut letters = Vec::new();
    while letters.len() < 4 {
        let message = tokio::time::timeout(Duration::from_secs(30), reader.recv())
            .await
            .expect("a dead letter within 30 s")
            .expect("a message");
        let headers: BTreeMap<String, String> = message
            .headers()
            .expect("headers")
            .iter()
            .map(|h| {
                (
                    h.key.to_owned(),
                    String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
                )
            })
            .collect();
        letters.push(headers);
    }
    let by_offset: BTreeMap<String, &BTreeMap<String, String>> = letters
        .iter()
        .map(|h| (h["origin-offset"].clone(), h))
        .collect();
    let offsets: Vec<&str> = by_offset.keys().map(String::as_str).collect();
    assert_eq!(offsets, ["1", "2", "3", "4"]);
    for headers in by_offset.values() {
        assert_eq!(headers["origin-topic"], topic);
        assert_eq!(headers["origin-partition"], "0");
        assert_eq!(headers["feed"], "inventory");
    }
    assert!(by_offset["1"]["reason"].contains("not JSON"), "{letters:?}");
    assert!(by_offset["2"]["reason"].contains("no key"), "{letters:?}");
    assert!(by_offset["3"]["reason"].contains("NOPE"), "{letters:?}");
    assert!(by_offset["4"]["reason"].contains("quantity"), "{letters:?}");
}

#[tokio::test]
async fn two_replicas_share_the_partitions_and_together_apply_every_record() {
    let (topic, dead) = topics(3).await;
    let group = format!("group-{topic}");
    let table: Arc<dyn Table> = Arc::new(crate::support::fresh_dynamo_table().await);
    let replica = || {
        let mut config = consuming(
            crate::support::replicas_sharing_redis()(),
            &topic,
            &dead,
            &group,
        );
        config.store = StoreEngine::Aws;
        config
    };
    let first = spawn_with_store(replica(), Arc::clone(&table)).await;
    let second = spawn_with_store(replica(), Arc::clone(&table)).await;
    until("the partitions divided between the replicas", || async {
        let (_, a) = admin(&first, reqwest::Method::GET, "/admin/feeds").await;
        let (_, b) = admin(&second, reqwest::Method::GET, "/admin/feeds").await;
        let partitions = |r: &Value| {
            r["lag"][&topic]
                .as_object()
                .map(|m| m.keys().cloned().collect::<Vec<_>>())
                .unwrap_or_default()
        };
        let (a, b) = (partitions(&a), partitions(&b));
        !a.is_empty() && !b.is_empty() && a.len() + b.len() == 3 && a.iter().all(|p| !b.contains(p))
    })
    .await;
    let (catalog, skus) = catalog("REP", 20);
    assert!(first.import("catalog", &catalog).await.failures.is_empty());
    let (records, last) = levels(&skus, 10);
    produce(&topic, &records).await;
    until_levels(&table, &last).await;
    until("every record counted once between them", || async {
        applied(&first, "applied") + applied(&second, "applied") == 600.0
    })
    .await;
    assert!(applied(&first, "applied") > 0.0 && applied(&second, "applied") > 0.0);
}

#[tokio::test]
async fn a_consumer_killed_mid_stream_loses_nothing_once_restarted() {
    let (topic, dead) = topics(3).await;
    let table = crate::support::fresh_dynamo_table().await;
    let table_name = table.table_name().to_owned();
    let table: Arc<dyn Table> = Arc::new(table);
    // The catalog written by a gateway over the same table.
    let mut config = test_config();
    config.store = StoreEngine::Aws;
    let writer = spawn_with_store(config, Arc::clone(&table)).await;
    let (catalog, skus) = catalog("KIL", 10);
    assert!(writer.import("catalog", &catalog).await.failures.is_empty());
    let (records, last) = levels(&skus, 20);
    produce(&topic, &records).await;

    let dir = tempfile::tempdir().expect("temp dir");
    let config_file = dir.path().join("gateway.toml");
    std::fs::write(
        &config_file,
        format!(
            "store = \"aws\"\ndata_dir = \"{data}\"\n[aws]\ntable = \"{table_name}\"\nendpoint_url = \"{dynamo}\"\nregion = \"us-east-1\"\n[feeds.kafka]\nenabled = true\nbrokers = \"{brokers}\"\ngroup_id = \"group-{topic}\"\ndead_letter_topic = \"{dead}\"\nbatch_size = 50\nsession_timeout_ms = {SESSION_TIMEOUT_MS}\n[feeds.kafka.topics]\ninventory = \"{topic}\"\n",
            data = dir.path().display(),
            dynamo = local_aws().dynamodb_url,
            brokers = local_aws().kafka_brokers,
        ),
    )
    .expect("config written");
    let consume = || {
        gateway_command()
            .arg("--config")
            .arg(&config_file)
            .arg("consume")
            .env("AWS_ACCESS_KEY_ID", "local")
            .env("AWS_SECRET_ACCESS_KEY", "local")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("consume starts")
    };
    let mut first = consume();
    until("some levels applied", || async {
        let mut any = false;
        for sku in &skus {
            any |= stock(&table, sku).await.is_some();
        }
        any
    })
    .await;
    // SIGKILL: no chance to commit anything.
    first.kill().expect("killed");
    first.wait().expect("reaped");
    // The restart joins once the broker has dropped the dead member, a session timeout after
    // its last heartbeat. (tansu, the test broker, reports no group members to wait on, and a
    // member joining while the dead one still counts may be handed no partition and not
    // rebalanced when the dead one expires; Kafka and MSK rebalance then.)
    tokio::time::sleep(Duration::from_millis(SESSION_TIMEOUT_MS + 1_000)).await;
    let mut second = consume();
    until_levels(&table, &last).await;
    second.kill().expect("killed");
    second.wait().expect("reaped");
}

#[tokio::test]
async fn readiness_names_a_consumer_that_cannot_reach_the_brokers() {
    let mut config = consuming(test_config(), "nowhere", "nowhere-dead", "nowhere");
    config.feeds.kafka.brokers = format!("127.0.0.1:{}", free_port());
    let app = spawn_app_with(config).await;
    until_not_ready(&app, "no Kafka broker can be reached").await;
}

/// Until `/readyz` answers 503 with `kafka_check` as its Kafka check.
pub(crate) async fn until_not_ready(app: &TestApp, kafka_check: &str) {
    until("readiness fails on Kafka", || async {
        let response = app
            .client
            .get(app.url("/readyz"))
            .send()
            .await
            .expect("readyz answers");
        let status = response.status().as_u16();
        let body: Value = response.json().await.expect("JSON");
        status == 503 && body["checks"]["kafka"] == kafka_check
    })
    .await;
}

#[tokio::test]
async fn a_paused_consumer_applies_nothing_until_resumed() {
    let (topic, dead) = topics(1).await;
    let paused = spawn_app_with(consuming(
        test_config(),
        &topic,
        &dead,
        &format!("paused-{topic}"),
    ))
    .await;
    let (catalog, skus) = catalog("PAU", 1);
    assert!(paused.import("catalog", &catalog).await.failures.is_empty());
    let refused = paused
        .client
        .post(paused.url("/admin/feeds/pause"))
        .send()
        .await
        .expect("answers");
    assert_eq!(refused.status().as_u16(), 401, "no key, no switch");
    let forged = paused
        .client
        .post(paused.url("/admin/feeds/pause"))
        .header("x-api-key", "feeds-admin-secreT")
        .send()
        .await
        .expect("answers");
    assert_eq!(forged.status().as_u16(), 401, "a key not issued, no switch");
    assert_eq!(
        admin(&paused, reqwest::Method::GET, "/admin/feeds").await.1["paused"],
        json!(false),
        "refused switches changed nothing"
    );
    let (status, report) = admin(&paused, reqwest::Method::POST, "/admin/feeds/pause").await;
    assert_eq!((status, report["paused"].clone()), (200, json!(true)));
    // A witness: another group, over a store of its own, applies the record while the paused
    // one must not.
    let witness = spawn_app_with(consuming(
        test_config(),
        &topic,
        &dead,
        &format!("witness-{topic}"),
    ))
    .await;
    assert!(
        witness
            .import("catalog", &catalog)
            .await
            .failures
            .is_empty()
    );
    let line = json!({"sku": skus[0], "quantity": 8}).to_string();
    produce(&topic, &[(Some(skus[0].clone()), line)]).await;
    until_levels(&witness.app.table, &BTreeMap::from([(skus[0].clone(), 8)])).await;
    assert_eq!(stock(&paused.app.table, &skus[0]).await, None);
    assert_eq!(
        paused.app.metrics.sample("storefront_feed_paused", &[]),
        1.0
    );
    let (status, report) = admin(&paused, reqwest::Method::POST, "/admin/feeds/resume").await;
    assert_eq!((status, report["paused"].clone()), (200, json!(false)));
    until_levels(&paused.app.table, &BTreeMap::from([(skus[0].clone(), 8)])).await;
}
