//! The two-tier item cache: in-process hits, cross-replica invalidation through Redis, and
//! serving on while Redis is down. The response cache is off here (its repeated queries would
//! never reach the item cache); `response_cache.rs` proves it.

use std::process::{Child, Command};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use storefront_loaders::catalog::CatalogWriter;
use storefront_loaders::catalog::import::import_inventory;
use storefront_loaders::store::{RedbTable, Table};

use crate::support::{TestApp, local_aws, spawn_with_store, test_config};

const STOCK: &str = "query($handle: String!) { product(handle: $handle) { variants(first: 1) { nodes { sku quantityAvailable } } } }";

#[tokio::test]
async fn repeated_reads_are_served_from_memory() {
    let app = crate::support::spawn_app_with(items_only(test_config())).await;
    let query = "{ products(first: 20) { nodes { categories { title } variants(first: 5) { nodes { quantityAvailable } } } } }";
    let first = app.data(query, json!({})).await;
    let before = app.store_requests();
    let second = app.data(query, json!({})).await;
    assert_eq!(first, second);
    assert_eq!(
        app.store_requests() - before,
        1,
        "only the listing query reaches the store"
    );
    assert!(app.app.metrics.cache_count("l1", "hit") > 0);
}

/// `config` with the response cache off.
fn items_only(
    mut config: storefront_gateway::config::Config,
) -> storefront_gateway::config::Config {
    config.cache.responses = false;
    config
}

/// Two replicas over one store, sharing `redis_url` under a namespace of their own.
async fn replicas(redis_url: &str) -> (TestApp, TestApp) {
    replicas_on(redis_url, false).await
}

async fn replicas_on(redis_url: &str, cluster: bool) -> (TestApp, TestApp) {
    let store: Arc<dyn Table> = Arc::new(RedbTable::in_memory().expect("memory store"));
    let namespace = format!("test:{}:", uuid::Uuid::new_v4().simple());
    let config = || {
        let mut config = test_config();
        config.cache.redis_url = Some(redis_url.to_owned());
        config.cache.redis_cluster = cluster;
        config.cache.namespace = namespace.clone();
        items_only(config)
    };
    let a = spawn_with_store(config(), Arc::clone(&store)).await;
    let b = spawn_with_store(config(), store).await;
    (a, b)
}

async fn stock(app: &TestApp, handle: &str) -> Value {
    app.data(STOCK, json!({"handle": handle})).await["product"]["variants"]["nodes"][0]
        ["quantityAvailable"]
        .clone()
}

/// Waits (briefly; far below any TTL) until `app` reports `want`.
async fn eventually(app: &TestApp, handle: &str, want: i64) {
    for _ in 0..40 {
        if stock(app, handle).await == json!(want) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "stock never became {want}; still {}",
        stock(app, handle).await
    );
}

/// Applies an inventory feed line through `app`'s store, as `import inventory` does.
async fn set_stock(app: &TestApp, sku: &str, quantity: i64) {
    let line = json!({"sku": sku, "quantity": quantity}).to_string();
    let report = import_inventory(
        &CatalogWriter::new(Arc::clone(&app.app.table)),
        line.as_bytes(),
    )
    .await;
    assert!(report.failures.is_empty(), "{report:?}");
}

#[tokio::test]
async fn an_inventory_change_on_one_replica_reaches_the_other_without_waiting_for_a_ttl() {
    let (a, b) = replicas(&local_aws().redis_url).await;
    let (handle, sku) = a.first_handle_and_sku().await;
    // Both replicas hold the variant's stock in memory now.
    let before = stock(&b, &handle).await;
    stock(&a, &handle).await;
    set_stock(&a, &sku, 4321).await;
    assert_eq!(
        stock(&a, &handle).await,
        json!(4321),
        "the writer sees its write at once"
    );
    let l2_hits = b.app.metrics.cache_count("l2", "hit");
    eventually(&b, &handle, 4321).await;
    assert_ne!(before, json!(4321));
    assert!(
        b.app.metrics.cache_count("l2", "hit") > l2_hits,
        "B's miss after the invalidation was answered by Redis, which A filled"
    );
}

/// A redis-server of a test's own, killed when dropped.
pub struct RedisServer {
    port: u16,
    child: Child,
}

impl RedisServer {
    /// A redis-server on `port`; waits until it listens.
    pub fn start(port: u16) -> Self {
        Self::start_with(port, &[], std::path::Path::new("."))
    }

    /// A redis-server on `port` with `extra` arguments, working in `dir`; waits until it listens.
    fn start_with(port: u16, extra: &[&str], dir: &std::path::Path) -> Self {
        let child = Command::new("redis-server")
            .args([
                "--bind",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(extra)
            .current_dir(dir)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server starts (scripts/local-aws installs it)");
        // Owned from here, so that a server that never comes up is still killed.
        let server = Self { port, child };
        let up = (0..250).any(|_| {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() || {
                std::thread::sleep(Duration::from_millis(20));
                false
            }
        });
        assert!(up, "redis-server did not listen on port {port} within 5 s");
        server
    }

    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn killing_redis_loses_no_request_and_the_cache_comes_back_with_it() {
    // Make sure the local stack (and with it redis-server) is installed.
    local_aws();
    let port = crate::support::free_port();
    let redis = RedisServer::start(port);
    let (a, b) = replicas(&format!("redis://127.0.0.1:{}", redis.port)).await;
    let (handle, sku) = a.first_handle_and_sku().await;
    stock(&b, &handle).await;

    redis.kill();
    for i in 0..20 {
        let (status, body) = a
            .post("{ products(first: 5) { nodes { handle variants(first: 2) { nodes { quantityAvailable } } } } }", json!({}))
            .await;
        assert_eq!(status, 200, "request {i} while Redis is down: {body}");
        assert!(body.get("errors").is_none(), "request {i}: {body}");
    }
    set_stock(&a, &sku, 11).await;
    assert_eq!(
        stock(&a, &handle).await,
        json!(11),
        "writes and reads go on without Redis"
    );

    let redis = RedisServer::start(port);
    // Once the replicas are back on Redis, invalidations flow again.
    let mut delivered = false;
    for attempt in 0..40 {
        set_stock(&a, &sku, 100 + attempt).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        if stock(&b, &handle).await == json!(100 + attempt) {
            delivered = true;
            break;
        }
    }
    assert!(
        delivered,
        "invalidations reach the other replica again after Redis returns"
    );
    // A fills Redis with products B has not read; B finds them there once its own connection
    // is back (it skips Redis for a second after each failure).
    let data = a
        .data(
            "{ products(first: 30, sortKey: PRICE) { nodes { handle } } }",
            json!({}),
        )
        .await;
    let mut hit_again = false;
    for node in data["products"]["nodes"].as_array().expect("nodes") {
        let other = node["handle"].as_str().expect("handle");
        let l2_before = b.app.metrics.cache_count("l2", "hit");
        stock(&a, other).await;
        stock(&b, other).await;
        if b.app.metrics.cache_count("l2", "hit") > l2_before {
            hit_again = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(hit_again, "Redis serves hits again");
    redis.kill();
}

/// A free loopback port whose cluster bus port (port + 10000) is free too.
fn cluster_port() -> u16 {
    loop {
        let port = crate::support::free_port();
        if port < 55_000 && std::net::TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

#[tokio::test]
async fn the_cache_shares_and_invalidates_through_a_redis_cluster() {
    local_aws();
    let dir = tempfile::tempdir().expect("dir");
    let ports: Vec<u16> = (0..3).map(|_| cluster_port()).collect();
    let nodes: Vec<RedisServer> = ports
        .iter()
        .map(|port| {
            RedisServer::start_with(
                *port,
                &[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    &format!("nodes-{port}.conf"),
                ],
                dir.path(),
            )
        })
        .collect();
    let addresses: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let created = Command::new("redis-cli")
        .args(["--cluster", "create"])
        .args(&addresses)
        .args(["--cluster-replicas", "0", "--cluster-yes"])
        .output()
        .expect("redis-cli runs");
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stdout)
    );
    for _ in 0..100 {
        let info = Command::new("redis-cli")
            .args(["-p", &ports[0].to_string(), "cluster", "info"])
            .output()
            .expect("redis-cli runs");
        if String::from_utf8_lossy(&info.stdout).contains("cluster_state:ok") {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }

    let url = ports
        .iter()
        .map(|p| format!("redis://127.0.0.1:{p}"))
        .collect::<Vec<_>>()
        .join(",");
    let (a, b) = replicas_on(&url, true).await;
    let (handle, sku) = a.first_handle_and_sku().await;
    stock(&b, &handle).await;
    stock(&a, &handle).await;
    set_stock(&a, &sku, 2468).await;
    eventually(&b, &handle, 2468).await;

    // Items A read are found in the cluster by B.
    let data = a
        .data(
            "{ products(first: 30, sortKey: PRICE) { nodes { handle } } }",
            json!({}),
        )
        .await;
    let mut shared = false;
    for node in data["products"]["nodes"].as_array().expect("nodes") {
        let other = node["handle"].as_str().expect("handle");
        let before = b.app.metrics.cache_count("l2", "hit");
        stock(&a, other).await;
        stock(&b, other).await;
        if b.app.metrics.cache_count("l2", "hit") > before {
            shared = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(shared, "replicas share items through the cluster");
    drop(nodes);
}
