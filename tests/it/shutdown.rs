//! Stopping under load, through the real binary: SIGTERM lets every accepted request finish,
//! takes no new connection, closes WebSockets with 1001, hands the outboxes over, and exits 0.

use std::time::{Duration, Instant};

use futures::future::join_all;
use serde_json::{Value, json};
use storefront_loaders::store::{Index, Query, RedbTable, Table};

use crate::checkout::fake_processor;
use crate::support::gateway_command;

/// Polls `ready` until it holds or `limit` passes.
async fn wait_until(limit: Duration, what: &str, mut ready: impl FnMut() -> bool) {
    let started = Instant::now();
    while !ready() {
        assert!(started.elapsed() < limit, "{what} within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

const CHECKOUT: &str = "mutation($cart: ID!, $key: String!) {
  checkoutComplete(cartId: $cart, idempotencyKey: $key, email: \"ida@example.com\", shippingMethod: \"standard\",
    shippingAddress: {address1: \"1 Main St\", city: \"Springfield\", countryCode: \"US\"},
    payment: {token: \"slow\"}) { order { status } userErrors { code message } } }";

#[tokio::test]
async fn sigterm_during_checkouts_drops_no_accepted_request_and_hands_the_outboxes_over() {
    let (processor_url, processor) = fake_processor().await;
    let dir = tempfile::tempdir().expect("dir");
    let port = crate::support::free_port();
    let config = format!(
        r#"
listen = "127.0.0.1:{port}"
data_dir = "{data}"
[rate_limit]
enabled = false
[http]
drain_seconds = 20
[catalog]
demo_products = 60
[fraud.rules]
checkouts_per_window = 1000
[checkout]
sweep_seconds = 0
[checkout.payments]
engine = "http"
url = "{processor_url}"
api_key = "sk_test_fake"
[checkout.outbox]
relay_millis = 3600000
[events]
relay_millis = 3600000
"#,
        data = dir.path().display()
    );
    let file = dir.path().join("storefront.toml");
    std::fs::write(&file, config).expect("config file");
    let mut child = gateway_command()
        .args(["--config", &file.display().to_string(), "serve"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the gateway starts");
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let url = format!("http://{addr}/graphql");
    let client = reqwest::Client::new();
    crate::support::gateway_listening(&format!("http://{addr}")).await;
    let post = |body: Value| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            let response = client.post(url).json(&body).send().await?;
            let status = response.status().as_u16();
            Ok::<_, reqwest::Error>((status, response.json::<Value>().await?))
        }
    };
    let (_, products) = post(json!({"query": "{ products(first: 10, filter: {available: true}) { nodes { variants(first: 1) { nodes { id } } } } }"}))
        .await
        .expect("products");
    let variants: Vec<String> = products["data"]["products"]["nodes"]
        .as_array()
        .expect("products")
        .iter()
        .map(|p| {
            p["variants"]["nodes"][0]["id"]
                .as_str()
                .expect("id")
                .to_owned()
        })
        .collect();
    let mut carts = Vec::new();
    for variant in variants.iter().take(6) {
        let (_, created) = post(json!({
            "query": "mutation($v: ID!) { cartCreate(input: {lines: [{merchandiseId: $v}]}) { cart { id } } }",
            "variables": {"v": variant}
        }))
        .await
        .expect("cart");
        carts.push(
            created["data"]["cartCreate"]["cart"]["id"]
                .as_str()
                .expect("cart")
                .to_owned(),
        );
    }
    let mut socket = crate::subscriptions::open_at(addr)
        .await
        .expect("handshake");
    socket
        .send(json!({"type": "connection_init", "payload": {}}))
        .await;
    assert_eq!(socket.next().await, json!({"type": "connection_ack"}));

    // Six checkouts whose payments take 2 s: in flight when the signal comes.
    let checkouts: Vec<_> = carts
        .iter()
        .enumerate()
        .map(|(i, cart)| {
            tokio::spawn(post(json!({
                "query": CHECKOUT,
                "variables": {"cart": cart, "key": format!("shutdown-{i:04}")}
            })))
        })
        .collect();
    let authorizing = || {
        processor
            .calls
            .lock()
            .expect("calls")
            .iter()
            .filter(|(what, _)| what == "authorize")
            .count()
    };
    wait_until(Duration::from_secs(10), "six payments under way", || {
        authorizing() == 6
    })
    .await;
    let terminated = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(terminated.success());

    // The socket is told to go away; new connections are refused ...
    assert_eq!(socket.next().await["close"], 1001);
    let refused_at = Instant::now();
    while std::net::TcpStream::connect(addr).is_ok() {
        assert!(
            refused_at.elapsed() < Duration::from_secs(5),
            "new connections are refused"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // ... and every checkout already accepted finishes.
    for answer in join_all(checkouts).await {
        let (status, body) = answer.expect("task").expect("answered, not dropped");
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body["data"]["checkoutComplete"]["order"]["status"], "PAID",
            "{body}"
        );
    }
    let exited_by = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < exited_by,
            "the gateway exits after draining"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "{status}");

    // Nothing was left in the outboxes: the last relay passes handed everything over.
    let store = RedbTable::open(&dir.path().join("store.redb")).expect("the store opens");
    for pending in ["OUTBOX", "EVENTS"] {
        let waiting = store
            .query(&Query::partition(Index::Gsi1, pending, 100))
            .await
            .expect("query")
            .items;
        assert!(waiting.is_empty(), "{pending}: {waiting:?}");
    }
    let handed = store
        .query(&Query::partition(Index::Primary, "QUEUE#orders", 100))
        .await
        .expect("query")
        .items;
    assert_eq!(handed.len(), 12, "placed and paid, for six orders");
}
