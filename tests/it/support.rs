//! Test support: a gateway per test on port 0 with a fresh in-memory store.

use std::net::SocketAddr;

use serde_json::{Value, json};
use storefront_gateway::config::{Config, StoreEngine};
use storefront_gateway::{App, serve};

/// A running gateway and a client for it.
pub struct TestApp {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The app's parts, to read metrics.
    pub app: App,
    /// An HTTP client.
    pub client: reqwest::Client,
}

/// The configuration tests start from: memory store, demo catalog seeded.
pub fn test_config() -> Config {
    Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        store: StoreEngine::Memory,
        asset_base_url: "https://cdn.test".into(),
        ..Config::default()
    }
}

/// Starts a gateway with the default test configuration.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(test_config()).await
}

/// Starts a gateway with `config`, seeded when the config says so.
pub async fn spawn_app_with(config: Config) -> TestApp {
    let config = config.validated().expect("test config is valid");
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .expect("bind port 0");
    let addr = listener.local_addr().expect("local addr");
    let app = App::open(config).expect("app opens");
    app.seed_if_empty().await.expect("seed");
    let served = app.clone();
    tokio::spawn(async move { serve(listener, served).await });
    TestApp {
        addr,
        app,
        client: reqwest::Client::new(),
    }
}

impl TestApp {
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
