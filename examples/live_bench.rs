//! The live delivery updates benchmark: `SUBSCRIBERS` WebSocket connections follow one
//! shipped order's `deliveryUpdates`; each round writes a courier position through the
//! location domain (as the feed and the operator mutation do) and times how long until every
//! subscriber has it. Reports the fan-out latency (p50, p99, worst) and the memory a
//! connection costs. Run by hand:
//!
//! ```sh
//! cargo run --release --example live_bench
//! ```
//! Settings (environment): `SUBSCRIBERS` (1000), `ROUNDS` (20).
// The schema's merged roots nest their resolvers' futures deeper than the compiler's default
// limit allows when it lays them out in an optimised build (as in `storefront-schema`).
#![recursion_limit = "256"]

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use storefront_gateway::config::{Config, StoreEngine};
use storefront_gateway::{App, serve};
use storefront_loaders::checkout::Checkout;
use storefront_loaders::checkout::orders::OrderStatus;
use storefront_loaders::identity::GuestToken;
use storefront_loaders::location::delivery::{DeliveryPositions, FedPosition};
use support::{graphql, percentile, setting};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (subscribers, rounds) = (setting("SUBSCRIBERS", 1000), setting("ROUNDS", 20));
    let mut config = Config {
        store: StoreEngine::Memory,
        ..Config::default()
    }
    .with_section("catalog", "demo_products", 20)
    .with_section("checkout", "sweep_seconds", 0);
    config.rate_limit.enabled = false;
    config.subscriptions.max_connections_per_client = subscribers;
    config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    let config = config.validated()?;
    let store = storefront_gateway::app::open_store(&config).await?;
    let app = App::with_store(config.clone(), Arc::clone(&store)).await?;
    app.start().await?;
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    let url = format!("http://{addr}/graphql");
    let served = app.clone();
    tokio::spawn(async move { serve(listener, served).await });

    // One shipped guest order.
    let client = reqwest::Client::new();
    let variant = graphql(&client, &url, "{ products(first: 1, filter: {available: true}) { nodes { variants(first: 1) { nodes { id } } } } }", json!({})).await?
        ["products"]["nodes"][0]["variants"]["nodes"][0]["id"].clone();
    let cart = graphql(&client, &url, "mutation($v: ID!) { cartCreate(input: {lines: [{merchandiseId: $v, quantity: 1}]}) { cart { id } } }", json!({"v": variant})).await?
        ["cartCreate"]["cart"]["id"].clone();
    let order = graphql(&client, &url, "mutation($cart: ID!) { checkoutComplete(cartId: $cart, idempotencyKey: \"live-bench-1\", email: \"eve@example.com\", shippingMethod: \"standard\",
        shippingAddress: {firstName: \"Eve\", address1: \"1 Main St\", city: \"Cambridge\", province: \"MA\", zip: \"02139\", countryCode: \"US\"},
        payment: {token: \"tok_visa\"}) { order { id } } }", json!({"cart": cart})).await?
        ["checkoutComplete"]["order"]["id"].as_str().expect("order").to_owned();
    let token = storefront_resolvers::ids::decode_as(&order.clone().into(), "Order")
        .ok()
        .and_then(|raw| GuestToken::parse(&raw))
        .expect("an order id");
    let checkout = app
        .services
        .get::<Arc<Checkout>>()
        .expect("checkout")
        .clone();
    let record = checkout
        .orders
        .get(&token.digest())
        .await?
        .expect("the order");
    for status in [OrderStatus::Fulfilling, OrderStatus::Shipped] {
        checkout
            .update_status(&record.id, status, None)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let positions = app
        .services
        .get::<DeliveryPositions>()
        .expect("positions")
        .clone();

    let before = rss_kb();
    let subscription = "subscription($id: ID!) { deliveryUpdates(orderId: $id) { delivery { position { latitude longitude } } } }";
    let mut sockets = Vec::with_capacity(subscribers);
    for _ in 0..subscribers {
        let mut request = format!("ws://{addr}/graphql").into_client_request()?;
        request
            .headers_mut()
            .insert("sec-websocket-protocol", "graphql-transport-ws".parse()?);
        let (mut ws, _) = tokio_tungstenite::connect_async(request).await?;
        ws.send(Message::text(
            json!({"type": "connection_init"}).to_string(),
        ))
        .await?;
        ws.next().await.expect("ack")?;
        ws.send(Message::text(
            json!({"id": "1", "type": "subscribe", "payload": {"query": subscription, "variables": {"id": order}}}).to_string(),
        ))
        .await?;
        ws.next().await.expect("the first update")?;
        sockets.push(ws);
    }
    let per_connection = (rss_kb().saturating_sub(before)) as f64 / subscribers as f64;

    // Each subscriber waits for the round's latitude; the clock starts at the write.
    let mut latencies = Vec::with_capacity(subscribers * rounds);
    for round in 0..rounds {
        let latitude = 42.30 + round as f64 / 1000.0;
        let waits: Vec<_> = sockets
            .iter_mut()
            .map(|ws| {
                async move {
                    loop {
                        let Some(Ok(Message::Text(text))) = ws.next().await else {
                            panic!("a subscriber lost its connection");
                        };
                        let message: Value = serde_json::from_str(text.as_str()).expect("JSON");
                        let at = &message["payload"]["data"]["deliveryUpdates"]["delivery"]
                            ["position"]["latitude"];
                        // The store's JSON may read a float back a unit in the last place off.
                        if at.as_f64().is_some_and(|at| (at - latitude).abs() < 1e-9) {
                            return Instant::now();
                        }
                    }
                }
            })
            .collect();
        let written = Instant::now();
        positions
            .record(&FedPosition {
                order_id: record.id.clone(),
                latitude,
                longitude: -71.10,
                at: chrono::Utc::now(),
                carrier: None,
            })
            .await?;
        let arrived =
            tokio::time::timeout(Duration::from_secs(30), futures::future::join_all(waits))
                .await
                .expect("every subscriber hears of the position within 30 s");
        latencies.extend(arrived.into_iter().map(|at| at.duration_since(written)));
    }
    latencies.sort();
    println!(
        "{subscribers} subscribers, {rounds} positions: fan-out p50 {:.2} ms, p99 {:.2} ms, worst {:.2} ms; {per_connection:.0} KB RSS per connection (client and server in one process)",
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        latencies.last().expect("latencies").as_secs_f64() * 1000.0,
    );
    Ok(())
}
