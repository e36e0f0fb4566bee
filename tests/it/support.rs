//! Test support: a gateway per test on port 0 with a fresh in-memory store.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use storefront_gateway::config::{Config, StoreEngine};
use storefront_gateway::{App, serve};
use storefront_loaders::identity::{CodeDelivery, CodePurpose, Email};
use storefront_loaders::store::{
    Condition, Item, Key, Page, Query, StoreError, Table, Update, WriteOp,
};

/// A running gateway and a client for it.
pub struct TestApp {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The app's parts, to read metrics.
    pub app: App,
    /// An HTTP client.
    pub client: reqwest::Client,
    /// Codes the identity provider sent.
    pub outbox: Arc<Outbox>,
}

/// The demo catalog's size in tests: enough for every category to hold products and for
/// pages to have a next page, small enough to seed in milliseconds.
pub const TEST_PRODUCTS: i64 = 60;

/// The configuration tests start from: memory store, a small demo catalog seeded.
pub fn test_config() -> Config {
    Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        store: StoreEngine::Memory,
        ..Config::default()
    }
    .with_section("catalog", "asset_base_url", "https://cdn.test")
    .with_section("catalog", "demo_products", TEST_PRODUCTS)
    // Tests that need the checkout sweeper run it themselves.
    .with_section("checkout", "sweep_seconds", 0)
    .with_section("checkout", "outbox.relay_millis", 0)
    // Likewise the events relay, the log's consumers and the abandoned-cart sweeper.
    .with_section("events", "relay_millis", 0)
    .with_section("events", "consumer_millis", 0)
    .with_section("cart", "abandoned_sweep_seconds", 0)
}

/// Starts a gateway with the default test configuration.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(test_config()).await
}

/// The full 1,000-product demo catalog, seeded once per test process into a memory store
/// that read-only tests share (they must never write to it).
pub async fn full_catalog_store() -> Arc<dyn Table> {
    static STORE: tokio::sync::OnceCell<Arc<dyn Table>> = tokio::sync::OnceCell::const_new();
    Arc::clone(
        STORE
            .get_or_init(|| async {
                let config = full_catalog_config(test_config());
                let store = storefront_gateway::app::open_store(&config)
                    .await
                    .expect("store opens");
                let app = App::with_store(config.validated().expect("valid"), Arc::clone(&store))
                    .await
                    .expect("app builds");
                app.start().await.expect("the full catalog is seeded");
                store
            })
            .await,
    )
}

/// `config` for the full demo catalog.
pub fn full_catalog_config(config: Config) -> Config {
    config.with_section("catalog", "demo_products", 1000)
}

/// Starts a gateway with `config` over the shared full demo catalog (read-only tests).
pub async fn spawn_full_catalog_app_with(config: Config) -> TestApp {
    spawn_with_store(full_catalog_config(config), full_catalog_store().await).await
}

/// Starts a gateway with the default test configuration over the shared full demo catalog.
pub async fn spawn_full_catalog_app() -> TestApp {
    spawn_full_catalog_app_with(test_config()).await
}

/// Starts a gateway with `config`, seeded when the config says so.
pub async fn spawn_app_with(config: Config) -> TestApp {
    let store = storefront_gateway::app::open_store(&config)
        .await
        .expect("store opens");
    spawn_with_store(config, store).await
}

impl TestApp {
    /// The handle of the first listed product and the SKU of its first variant.
    pub async fn first_handle_and_sku(&self) -> (String, String) {
        let data = self
            .data(
                "{ products(first: 1) { nodes { handle variants(first: 1) { nodes { sku } } } } }",
                serde_json::json!({}),
            )
            .await;
        let node = &data["products"]["nodes"][0];
        (
            node["handle"].as_str().expect("handle").to_owned(),
            node["variants"]["nodes"][0]["sku"]
                .as_str()
                .expect("sku")
                .to_owned(),
        )
    }

    /// Applies a JSON Lines feed through the domain that takes it, as
    /// `storefront-gateway import FEED FILE` does.
    pub async fn import(&self, feed: &str, text: &str) -> storefront_loaders::domain::FeedReport {
        let domain = storefront_schema::feed_domain(feed).expect("a domain takes the feed");
        domain
            .import(
                &self.app.services,
                feed,
                Box::new(std::io::Cursor::new(format!("{text}\n"))),
            )
            .await
            .expect("import")
    }

    /// Moves the order with this id through `statuses`, as the OMS's `order-status` feed
    /// does; every move must be accepted.
    pub async fn move_order(&self, order_id: &str, statuses: &[&str]) {
        for status in statuses {
            let line = json!({"orderId": order_id, "status": status}).to_string();
            let report = self.import("order-status", &line).await;
            assert!(
                report.failures.is_empty(),
                "{status}: {:?}",
                report.failures
            );
        }
    }

    /// POSTs an operation with an `x-api-key`; returns the whole JSON answer.
    pub async fn post_with_key(&self, key: &str, query: &str, variables: Value) -> Value {
        self.client
            .post(self.url("/graphql"))
            .header("x-api-key", key)
            .json(&json!({"query": query, "variables": variables}))
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("JSON body")
    }

    /// `/metrics` as a scraper reads it.
    pub async fn metrics_text(&self) -> String {
        self.client
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    }

    /// The URL of a path.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// POSTs a GraphQL operation; returns the status and the JSON body.
    pub async fn post(&self, query: &str, variables: Value) -> (u16, Value) {
        let response = self
            .client
            .post(self.url("/graphql"))
            .json(&json!({"query": query, "variables": variables}))
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.expect("JSON body"))
    }

    /// POSTs a GraphQL operation with `Authorization: Bearer <token>`; returns the status, the
    /// headers and the JSON body.
    pub async fn post_as(
        &self,
        token: &str,
        query: &str,
        variables: Value,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let response = self
            .client
            .post(self.url("/graphql"))
            .bearer_auth(token)
            .json(&json!({"query": query, "variables": variables}))
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        (status, headers, response.json().await.expect("JSON body"))
    }

    /// POSTs a query that must succeed; returns its `data`.
    pub async fn data(&self, query: &str, variables: Value) -> Value {
        let (status, body) = self.post(query, variables).await;
        assert_eq!(status, 200, "{body:#}");
        assert!(body.get("errors").is_none(), "unexpected errors: {body:#}");
        body["data"].clone()
    }

    /// The `extensions.code` of each error of an operation.
    pub async fn error_codes(&self, query: &str, variables: Value) -> Vec<String> {
        let (_, body) = self.post(query, variables).await;
        body["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("expected errors: {body:#}"))
            .iter()
            .map(|e| {
                e["extensions"]["code"]
                    .as_str()
                    .unwrap_or("<none>")
                    .to_owned()
            })
            .collect()
    }

    /// Store requests so far, over every operation.
    pub fn store_requests(&self) -> u64 {
        [
            "batch_get",
            "query",
            "get",
            "put",
            "update",
            "delete",
            "transact_write",
            "batch_put",
        ]
        .into_iter()
        .map(|op| self.app.metrics.store_request_count(op))
        .sum()
    }
}

/// Endpoints of the local AWS stack (`scripts/local-aws`).
#[derive(Debug, Clone)]
pub struct LocalAws {
    /// DynamoDB Local.
    pub dynamodb_url: String,
    /// Redis.
    pub redis_url: String,
    /// moto (Cognito, SQS, EventBridge).
    pub moto_url: String,
    /// The Kafka-compatible broker (`host:port`).
    pub kafka_brokers: String,
    /// The broker's binary (tansu), for tests that run one of their own.
    pub tansu: String,
}

/// The local AWS stack: the one named by `LOCAL_AWS_*` variables (as `.ci/run` exports them),
/// or one this test process starts with `scripts/local-aws start`. Never skipped: a stack that
/// cannot start fails the test.
pub fn local_aws() -> LocalAws {
    static STACK: std::sync::OnceLock<LocalAws> = std::sync::OnceLock::new();
    STACK
        .get_or_init(|| {
            if let (Ok(dynamodb_url), Ok(redis_url), Ok(moto_url), Ok(kafka_brokers), Ok(tansu)) = (
                std::env::var("LOCAL_AWS_DYNAMODB_URL"),
                std::env::var("LOCAL_AWS_REDIS_URL"),
                std::env::var("LOCAL_AWS_MOTO_URL"),
                std::env::var("LOCAL_AWS_KAFKA_BROKERS"),
                std::env::var("LOCAL_AWS_TANSU"),
            ) {
                return LocalAws {
                    dynamodb_url,
                    redis_url,
                    moto_url,
                    kafka_brokers,
                    tansu,
                };
            }
            let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/local-aws");
            let output = std::process::Command::new(script)
                .arg("start")
                .output()
                .expect("scripts/local-aws runs");
            assert!(
                output.status.success(),
                "scripts/local-aws start failed:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
            let exports = String::from_utf8_lossy(&output.stdout);
            // A stack this run started is stopped when the run ends, unless the developer
            // keeps it for the next run (`LOCAL_AWS_KEEP=1`, see the README).
            if exports.contains("export LOCAL_AWS_STARTED=1")
                && std::env::var_os("LOCAL_AWS_KEEP").is_none()
            {
                let watched = std::process::Command::new(script)
                    .args(["stop-after", &std::process::id().to_string()])
                    .status()
                    .expect("scripts/local-aws runs");
                assert!(watched.success(), "scripts/local-aws stop-after failed");
            }
            let export = |name: &str| {
                exports
                    .lines()
                    .find_map(|l| l.strip_prefix(&format!("export {name}=")))
                    .unwrap_or_else(|| panic!("the script prints {name}"))
                    .to_owned()
            };
            LocalAws {
                dynamodb_url: export("LOCAL_AWS_DYNAMODB_URL"),
                redis_url: export("LOCAL_AWS_REDIS_URL"),
                moto_url: export("LOCAL_AWS_MOTO_URL"),
                kafka_brokers: export("LOCAL_AWS_KAFKA_BROKERS"),
                tansu: export("LOCAL_AWS_TANSU"),
            }
        })
        .clone()
}

/// The configuration of replicas that share one Redis, under a namespace of the calling test's
/// own: call the result once per replica.
pub fn replicas_sharing_redis() -> impl Fn() -> Config {
    let redis = local_aws().redis_url;
    let namespace = format!("test:{}:", uuid::Uuid::new_v4().simple());
    move || {
        let mut config = test_config();
        config.cache.redis_url = Some(redis.clone());
        config.cache.namespace = namespace.clone();
        config
    }
}

/// A DynamoDB client for DynamoDB Local, with static local credentials.
pub fn dynamo_client() -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::config::Builder::new()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .endpoint_url(local_aws().dynamodb_url)
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "local", "local", None, None, "tests",
        ))
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// A new, empty, bootstrapped table in DynamoDB Local.
pub async fn fresh_dynamo_table() -> storefront_loaders::store::DynamoTable {
    let name = format!("test-{}", uuid::Uuid::new_v4().simple());
    let table = storefront_loaders::store::DynamoTable::with_client(dynamo_client(), name);
    assert!(
        table.bootstrap().await.expect("bootstrap"),
        "a new table is created"
    );
    table
}

/// A gateway over a fresh DynamoDB Local table, seeded with the demo catalog.
pub async fn spawn_dynamo_app() -> TestApp {
    let table = fresh_dynamo_table().await;
    let mut config = test_config();
    config.store = StoreEngine::Aws;
    spawn_with_store(config, std::sync::Arc::new(table)).await
}

/// Starts a gateway over an already opened store.
pub async fn spawn_with_store(config: Config, store: Arc<dyn Table>) -> TestApp {
    spawn_with_plugged(
        config,
        store,
        storefront_loaders::domain::Services::default(),
    )
    .await
}

/// Starts a gateway over an already opened store, with `plugged` parts in place of the
/// domains' defaults (the outbox's sinks, say).
pub async fn spawn_with_plugged(
    config: Config,
    store: Arc<dyn Table>,
    mut plugged: storefront_loaders::domain::Services,
) -> TestApp {
    let mut config = config;
    if config.store == StoreEngine::Aws && config.data_dir == Config::default().data_dir {
        // Local state (the search index) of its own, as every replica has.
        config.data_dir = tempfile::tempdir().expect("temp dir").keep();
    }
    let config = config.validated().expect("test config is valid");
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .expect("bind port 0");
    let addr = listener.local_addr().expect("local addr");
    let outbox = Arc::new(Outbox::default());
    plugged.insert(Arc::clone(&outbox) as Arc<dyn CodeDelivery>);
    let app = App::with_plugged(config, store, plugged)
        .await
        .expect("app builds");
    app.start().await.expect("start-up work (demo data)");
    let served = app.clone();
    tokio::spawn(async move { serve(listener, served).await });
    TestApp {
        addr,
        app,
        client: modern_client(),
        outbox,
    }
}

/// An HTTP client that asks for `application/graphql-response+json` first, as current GraphQL
/// clients do (so request errors answer 4xx).
pub fn modern_client() -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::ACCEPT,
        reqwest::header::HeaderValue::from_static(
            "application/graphql-response+json, application/json;q=0.9",
        ),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .expect("an HTTP client")
}

/// The mail the embedded identity provider sent, as a mailbox would hold it.
#[derive(Default)]
pub struct Outbox(Mutex<Vec<(String, CodePurpose, String)>>);

impl CodeDelivery for Outbox {
    fn deliver(&self, email: &Email, purpose: CodePurpose, code: &str) {
        self.0
            .lock()
            .expect("outbox lock")
            .push((email.to_string(), purpose, code.to_owned()));
    }
}

impl Outbox {
    /// What was mailed to `email`, in order.
    pub fn mail_to(&self, email: &str) -> Vec<CodePurpose> {
        self.0
            .lock()
            .expect("outbox lock")
            .iter()
            .filter(|(to, _, _)| to == email)
            .map(|(_, purpose, _)| *purpose)
            .collect()
    }

    /// The latest code of `purpose` mailed to `email` after its first `seen` mails; waits for
    /// it (codes requested by email are mailed in the background).
    pub async fn code_after(&self, email: &str, purpose: CodePurpose, seen: usize) -> String {
        for _ in 0..250 {
            let found = self
                .0
                .lock()
                .expect("outbox lock")
                .iter()
                .filter(|(to, _, _)| to == email)
                .skip(seen)
                .filter(|(_, p, _)| *p == purpose)
                .map(|(_, _, code)| code.clone())
                .last();
            if let Some(code) = found {
                return code;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("no {purpose:?} code was mailed to {email}")
    }

    /// The latest code of `purpose` mailed to `email`, waiting for one.
    pub async fn code(&self, email: &str, purpose: CodePurpose) -> String {
        self.code_after(email, purpose, 0).await
    }
}

/// The real binary, with no `STOREFRONT_*` variable of the test's environment leaking in.
pub fn gateway_command() -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_storefront-gateway"));
    for (name, _) in std::env::vars() {
        if name.starts_with("STOREFRONT_") {
            command.env_remove(name);
        }
    }
    command
}

/// A store that misbehaves on purpose: item reads that take a while, listing queries that
/// fail with a given message; everything else goes to the store it wraps.
pub struct FaultyStore {
    /// The store it wraps.
    pub inner: Arc<dyn Table>,
    /// How long every item read waits first.
    pub read_delay: std::time::Duration,
    /// The backend error every listing query fails with.
    pub query_error: Option<&'static str>,
}

impl FaultyStore {
    /// A store that behaves, until fields are set.
    pub fn over(inner: Arc<dyn Table>) -> Self {
        Self {
            inner,
            read_delay: std::time::Duration::ZERO,
            query_error: None,
        }
    }
}

#[async_trait::async_trait]
impl Table for FaultyStore {
    async fn batch_get(&self, keys: &[Key]) -> Result<Vec<Item>, StoreError> {
        tokio::time::sleep(self.read_delay).await;
        self.inner.batch_get(keys).await
    }
    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        match self.query_error {
            Some(message) => Err(StoreError::Backend(message.into())),
            None => self.inner.query(query).await,
        }
    }
    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), StoreError> {
        self.inner.put(item, condition).await
    }
    async fn update(
        &self,
        key: &Key,
        update: &Update,
        condition: Option<Condition>,
    ) -> Result<Item, StoreError> {
        self.inner.update(key, update, condition).await
    }
    async fn delete(&self, key: &Key, condition: Option<Condition>) -> Result<(), StoreError> {
        self.inner.delete(key, condition).await
    }
    async fn transact_write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        self.inner.transact_write(ops).await
    }
    async fn batch_put(&self, items: Vec<Item>) -> Result<(), StoreError> {
        self.inner.batch_put(items).await
    }
}

/// Issues the admin API key `secret` (named `name`) in `config`.
pub fn with_admin_key(config: &mut Config, name: &str, secret: &str) {
    config
        .rate_limit
        .api_keys
        .push(storefront_gateway::config::ApiKeyConfig {
            name: name.into(),
            sha256: storefront_schema::persisted::document_hash(secret),
            budget: None,
            admin: true,
        });
}

/// A loopback port nothing listens on (yet).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port()
}

/// Waits until a gateway process at `base` (`http://127.0.0.1:P`) answers `/healthz`.
pub async fn gateway_listening(base: &str) {
    let client = reqwest::Client::new();
    let started = std::time::Instant::now();
    while client.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "the gateway listens"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Serves a test's own fake on a loopback port; returns its base URL.
pub async fn serve_fake(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}
