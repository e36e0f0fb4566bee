//! The checkout benchmark: add-to-cart and checkout over HTTP against the real router, with
//! many shoppers at once competing for one variant's stock; reports throughput, p50/p99 and
//! whether anything was oversold. Run by hand:
//!
//! ```sh
//! cargo run --release --example checkout_bench                 # embedded store (redb in memory)
//! STORE=disk cargo run --release --example checkout_bench       # embedded store (redb file)
//! STORE=dynamodb DYNAMODB_URL=http://127.0.0.1:8000 cargo run --release --example checkout_bench
//! ```
//! Settings (environment): `CHECKOUTS` (2000), `CONCURRENCY` (32), `STOCK` (1500).
// The schema's merged roots nest their resolvers' futures deeper than the compiler's default
// limit allows when it lays them out in an optimised build (as in `storefront-schema`).
#![recursion_limit = "256"]

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::StreamExt as _;
use serde_json::{Value, json};
use storefront_gateway::config::{Config, StoreEngine};
use storefront_gateway::{App, serve};
use storefront_loaders::catalog::CatalogWriter;
use storefront_loaders::store::Table;
use support::{graphql, percentile, setting};

struct Client {
    http: reqwest::Client,
    url: String,
}

impl Client {
    async fn post(&self, query: &str, variables: Value) -> anyhow::Result<Value> {
        graphql(&self.http, &self.url, query, variables).await
    }
}

/// Runs `count` calls of `call` with `concurrency` in flight; returns the wall time and the
/// latencies, sorted.
async fn run<F, Fut>(
    count: usize,
    concurrency: usize,
    call: F,
) -> (Duration, Vec<Duration>, Vec<Value>)
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Value>>,
{
    let started = Instant::now();
    let mut results: Vec<(Duration, Value)> = futures::stream::iter(0..count)
        .map(|i| {
            let call = call(i);
            async move {
                let t = Instant::now();
                let value = call
                    .await
                    .unwrap_or_else(|e| json!({"failed": e.to_string()}));
                (t.elapsed(), value)
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let wall = started.elapsed();
    let mut latencies: Vec<Duration> = results.iter().map(|(d, _)| *d).collect();
    latencies.sort();
    let values = results.drain(..).map(|(_, v)| v).collect();
    (wall, latencies, values)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let checkouts = setting("CHECKOUTS", 2000);
    let concurrency = setting("CONCURRENCY", 32);
    let stock = setting("STOCK", 1500);
    let mut config = Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        store: StoreEngine::Memory,
        ..Config::default()
    };
    config.rate_limit.enabled = false;
    config.set("catalog", "demo_products", 100);
    // Every checkout comes from one address and card: the velocity rules would hold them.
    config.set("fraud", "rules.checkouts_per_window", 1_000_000_000);
    config.set("checkout", "outbox.relay_millis", 0);
    let engine: Arc<dyn Table> = match std::env::var("STORE").as_deref() {
        Ok("dynamodb") => {
            config.store = StoreEngine::Aws;
            let url = std::env::var("DYNAMODB_URL").context("DYNAMODB_URL")?;
            let table = support::fresh_dynamo_table(url, "bench").await?;
            Arc::new(table)
        }
        Ok("disk") => {
            config.store = StoreEngine::Embedded;
            config.data_dir = std::env::temp_dir()
                .join(format!("checkout-bench-{}", uuid::Uuid::new_v4().simple()));
            storefront_gateway::app::open_store(&config).await?
        }
        _ => storefront_gateway::app::open_store(&config).await?,
    };
    let config = config.validated()?;
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    let app = App::with_store(config, engine).await?;
    app.start().await?;
    let table = Arc::clone(&app.table);
    tokio::spawn(serve(listener, app));
    let client = Arc::new(Client {
        http: reqwest::Client::new(),
        url: format!("http://{addr}/graphql"),
    });

    let data = client
        .post("{ products(first: 1, filter: {available: true}) { nodes { variants(first: 1) { nodes { id sku } } } } }", json!({}))
        .await?;
    let variant = data["products"]["nodes"][0]["variants"]["nodes"][0].clone();
    let (variant_id, sku) = (
        variant["id"].as_str().context("id")?.to_owned(),
        variant["sku"].as_str().context("sku")?.to_owned(),
    );
    CatalogWriter::new(Arc::clone(&table))
        .set_inventory(&sku, i64::try_from(stock)?)
        .await?;

    // Add to cart: one cart per shopper, with the variant in it.
    let create = "mutation($v: ID!) { cartCreate(input: {lines: [{merchandiseId: $v}]}) { cart { id } userErrors { code } } }";
    let (cart_wall, cart_latencies, carts) = run(checkouts, concurrency, |_| {
        let client = Arc::clone(&client);
        let variant_id = variant_id.clone();
        async move { client.post(create, json!({"v": variant_id})).await }
    })
    .await;
    let carts: Vec<String> = carts
        .iter()
        .filter_map(|c| c["cartCreate"]["cart"]["id"].as_str().map(str::to_owned))
        .collect();
    anyhow::ensure!(
        carts.len() == checkouts,
        "only {} of {checkouts} carts were created",
        carts.len()
    );

    let checkout = "mutation($c: ID!, $k: String!) { checkoutComplete(cartId: $c, idempotencyKey: $k, email: \"bench@example.com\", shippingMethod: \"standard\",
        shippingAddress: {address1: \"1 Main St\", city: \"Springfield\", countryCode: \"US\"}, payment: {token: \"tok_visa\"}) {
        order { status } userErrors { code } } }";
    let carts = Arc::new(carts);
    let (wall, latencies, answers) = run(checkouts, concurrency, |i| {
        let client = Arc::clone(&client);
        let carts = Arc::clone(&carts);
        async move {
            client
                .post(
                    checkout,
                    json!({"c": carts[i], "k": format!("bench-{i:08}")}),
                )
                .await
        }
    })
    .await;
    let paid = answers
        .iter()
        .filter(|a| a["checkoutComplete"]["order"]["status"] == "PAID")
        .count();
    let out = answers
        .iter()
        .filter(|a| a["checkoutComplete"]["userErrors"][0]["code"] == "INSUFFICIENT_STOCK")
        .count();
    let failed = checkouts - paid - out;
    let left = client
        .post(
            "query($id: ID!) { node(id: $id) { ... on ProductVariant { quantityAvailable } } }",
            json!({"id": variant_id}),
        )
        .await?["node"]["quantityAvailable"]
        .as_i64()
        .unwrap_or(-1);
    let oversold = i64::try_from(paid)? - i64::try_from(stock)?;
    println!("| store | step | calls | concurrency | per s | p50 ms | p99 ms | result |");
    println!("|---|---|---|---|---|---|---|---|");
    let store = std::env::var("STORE").unwrap_or_else(|_| "embedded (memory)".into());
    println!(
        "| {store} | add to cart (cartCreate) | {} | {concurrency} | {:.0} | {:.2} | {:.2} | {} carts |",
        checkouts,
        checkouts as f64 / cart_wall.as_secs_f64(),
        percentile(&cart_latencies, 0.5),
        percentile(&cart_latencies, 0.99),
        carts.len()
    );
    println!(
        "| {store} | checkoutComplete | {checkouts} | {concurrency} | {:.0} attempts, {:.0} orders | {:.2} | {:.2} | {paid} paid, {out} out of stock, {failed} other; stock left {left}; oversold {} |",
        checkouts as f64 / wall.as_secs_f64(),
        paid as f64 / wall.as_secs_f64(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        oversold.max(0)
    );
    anyhow::ensure!(oversold <= 0 && left >= 0, "oversold!");
    Ok(())
}
