//! The outbox reaches the order-management system: SQS FIFO on moto (through an outage of
//! moto itself) and the embedded durable queue, in order per order, none lost, none sent
//! twice, with two relays at once.

use std::path::PathBuf;
use std::sync::Arc;

use futures::future::join_all;
use serde_json::{Value, json};
use storefront_loaders::checkout::relay::{LocalQueue, OutboxSink, OutboxSinks, Relay, SqsFifo};
use storefront_loaders::domain::Services;

use crate::cart::create_cart;
use crate::checkout::checkout_config;
use crate::support::{TestApp, local_aws, spawn_with_store};

const CHECKOUT: &str = "mutation($cart: ID!, $key: String!) {
  checkoutComplete(cartId: $cart, idempotencyKey: $key, email: \"eve@example.com\", shippingMethod: \"standard\",
    shippingAddress: {address1: \"1 Main St\", city: \"Springfield\", countryCode: \"US\"},
    payment: {token: \"tok_visa\"}) { order { status } userErrors { code } } }";

/// Places `count` paid orders; each leaves two messages (placed, then paid).
async fn place_orders(app: &TestApp, count: usize, tag: &str) {
    let variants = crate::cart::stocked_variants(app, 1).await;
    for i in 0..count {
        let created = create_cart(app, None, json!([{"merchandiseId": variants[0].0}])).await;
        let cart = created["cart"]["id"].as_str().expect("cart");
        let placed = app
            .data(
                CHECKOUT,
                json!({"cart": cart, "key": format!("{tag}-{i:04}")}),
            )
            .await;
        assert_eq!(
            placed["checkoutComplete"]["order"]["status"], "PAID",
            "{placed}"
        );
    }
}

fn relay(app: &TestApp) -> Arc<Relay> {
    Arc::clone(
        app.app
            .services
            .get::<Arc<Relay>>()
            .expect("the checkout relay"),
    )
}

/// A moto server of this test's own, on `port` (so that it can be stopped and restarted).
struct Moto(std::process::Child);

impl Moto {
    fn start(port: u16) -> Self {
        local_aws();
        let dir = std::env::var_os("LOCAL_AWS_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".local-aws"));
        let child = std::process::Command::new(dir.join("venv/bin/moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("moto_server starts (scripts/local-aws installs it)");
        let moto = Self(child);
        let up = (0..250).any(|_| {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() || {
                std::thread::sleep(std::time::Duration::from_millis(40));
                false
            }
        });
        assert!(up, "moto did not listen on {port}");
        moto
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn sqs(port: u16) -> aws_sdk_sqs::Client {
    let config = aws_sdk_sqs::config::Builder::new()
        .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
        .region(aws_sdk_sqs::config::Region::new("us-east-1"))
        .endpoint_url(format!("http://127.0.0.1:{port}"))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "local", "local", None, None, "tests",
        ))
        .build();
    aws_sdk_sqs::Client::from_conf(config)
}

async fn fifo_queue(client: &aws_sdk_sqs::Client) -> String {
    client
        .create_queue()
        .queue_name("orders.fifo")
        .attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true")
        .send()
        .await
        .expect("queue created")
        .queue_url()
        .expect("url")
        .to_owned()
}

/// Everything in the queue: (group, deduplication id, body), received and deleted.
async fn drain(client: &aws_sdk_sqs::Client, url: &str) -> Vec<(String, String, Value)> {
    let mut all = Vec::new();
    loop {
        let received = client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
            .send()
            .await
            .expect("receive");
        let messages = received.messages();
        if messages.is_empty() {
            return all;
        }
        for m in messages {
            let attrs = m.attributes().expect("attributes");
            let attr = |name| attrs.get(&name).cloned().unwrap_or_default();
            all.push((
                attr(aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId),
                attr(aws_sdk_sqs::types::MessageSystemAttributeName::MessageDeduplicationId),
                serde_json::from_str(m.body().unwrap_or("null")).expect("json body"),
            ));
            client
                .delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .send()
                .await
                .expect("delete");
        }
    }
}

fn check_order_per_group(messages: &[(String, String, Value)]) {
    for (group, _, body) in messages {
        if body["type"] == "OrderStatusChanged" {
            let placed_before = messages
                .iter()
                .take_while(|(_, _, b)| b != body)
                .any(|(g, _, b)| g == group && b["type"] == "OrderPlaced");
            assert!(placed_before, "OrderPlaced comes first in group {group}");
        }
    }
}

#[tokio::test]
async fn the_outbox_reaches_sqs_fifo_through_an_outage_with_no_duplicate_and_none_missing() {
    let port = crate::support::free_port();
    let moto = Moto::start(port);
    let client = sqs(port);
    let url = fifo_queue(&client).await;
    let mut plugged = Services::default();
    plugged.insert(OutboxSinks(vec![
        Arc::new(SqsFifo::new(client.clone(), url.clone())) as Arc<dyn OutboxSink>,
    ]));
    let config = checkout_config();
    let store = storefront_gateway::app::open_store(&config)
        .await
        .expect("store");
    let app = crate::support::spawn_with_plugged(config, store, plugged).await;
    let relay = relay(&app);

    place_orders(&app, 3, "before").await;
    assert_eq!(relay.pass(100).await.expect("pass"), 6);
    let mut received = drain(&client, &url).await;
    assert_eq!(received.len(), 6);

    // SQS goes away: checkouts go on, their messages wait.
    drop(moto);
    place_orders(&app, 2, "during").await;
    assert_eq!(
        relay.pass(100).await.expect("pass"),
        0,
        "nothing can be delivered"
    );
    assert_eq!(
        app.app.metrics.sample("storefront_outbox_depth", &[]),
        4.0,
        "four messages wait"
    );

    // It comes back (empty, as moto does): the waiting messages go out once.
    let _moto = Moto::start(port);
    assert_eq!(fifo_queue(&client).await, url);
    let mut delivered = 0;
    for _ in 0..5 {
        delivered += relay.pass(100).await.expect("pass");
    }
    assert_eq!(delivered, 4);
    received.extend(drain(&client, &url).await);
    assert_eq!(received.len(), 10);
    let ids: std::collections::BTreeSet<&str> =
        received.iter().map(|(_, id, _)| id.as_str()).collect();
    assert_eq!(ids.len(), 10, "no message twice");
    check_order_per_group(&received);
    assert_eq!(relay.pass(100).await.expect("pass"), 0, "nothing left");
}

#[tokio::test]
async fn two_relays_never_send_a_message_twice() {
    let config = checkout_config();
    let store = storefront_gateway::app::open_store(&config)
        .await
        .expect("store");
    let a = spawn_with_store(config.clone(), Arc::clone(&store)).await;
    let b = spawn_with_store(config, store).await;
    place_orders(&a, 10, "two-relays").await;
    let (ra, rb) = (relay(&a), relay(&b));
    let mut delivered = 0;
    for _ in 0..10 {
        let passes = join_all([ra.pass(3), rb.pass(3), ra.pass(3), rb.pass(3)]).await;
        delivered += passes.into_iter().map(|p| p.expect("pass")).sum::<usize>();
    }
    assert_eq!(delivered, 20, "each message sent by exactly one relay");
    let queue = a.app.services.get::<LocalQueue>().expect("queue");
    let messages = queue.receive(100).await.expect("receive");
    assert_eq!(messages.len(), 20);
    for message in &messages {
        queue.ack(message).await.expect("ack");
    }
    assert!(queue.receive(100).await.expect("receive").is_empty());
}

#[tokio::test]
async fn order_events_reach_eventbridge_beside_the_queue() {
    let pipe = crate::events::BusToQueue::new(r#"{"source": ["storefront.orders"]}"#).await;
    let (config, plugged) = pipe.gateway(checkout_config());
    let store = storefront_gateway::app::open_store(&config)
        .await
        .expect("store");
    let app = crate::support::spawn_with_plugged(config, store, plugged).await;
    place_orders(&app, 1, "events").await;
    // The order-management system gets its messages from the checkout's outbox ...
    assert_eq!(relay(&app).pass(100).await.expect("pass"), 2);
    let queue = app
        .app
        .services
        .get::<LocalQueue>()
        .expect("the local queue")
        .receive(10)
        .await
        .expect("receive");
    assert_eq!(queue.len(), 2);
    // ... and EventBridge the same changes as events, from the event stream.
    assert_eq!(crate::events::relay_events(&app).await, 2);
    let events = pipe.drain().await;
    let kinds: std::collections::BTreeSet<String> = events
        .iter()
        .map(|e| e["detail-type"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(
        kinds,
        ["OrderPlaced".to_owned(), "OrderStatusChanged".to_owned()]
            .into_iter()
            .collect()
    );
    for event in &events {
        assert_eq!(event["detail"]["version"], 1);
        assert_eq!(event["detail"]["subject"], queue[0].order_id);
    }
}
