//! The store locator benchmark: 10,000 stores spread over the continental US, and
//! `locations(near:, radiusKm: 100, first: 10)` around random points over HTTP against the
//! real router; reports throughput and p50/p99. Run by hand:
//!
//! ```sh
//! cargo run --release --example locator_bench
//! ```
//! Settings (environment): `STORES` (10000), `REQUESTS` (20000), `CONCURRENCY` (32).
// The schema's merged roots nest their resolvers' futures deeper than the compiler's default
// limit allows when it lays them out in an optimised build (as in `storefront-schema`).
#![recursion_limit = "256"]

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use rand::{Rng, SeedableRng};
use serde_json::json;
use storefront_gateway::config::{Config, StoreEngine};
use storefront_gateway::{App, serve};
use storefront_loaders::location::{LocationRecord, OpeningHoursRecord, write_locations};
use support::{graphql, percentile, setting};

fn stores(count: usize) -> Vec<LocationRecord> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    (0..count)
        .map(|i| LocationRecord {
            id: format!("bench-{i}"),
            handle: format!("bench-{i}"),
            name: format!("Store {i}"),
            address1: format!("{i} Main Street"),
            city: format!("Town {i}"),
            province_code: "KS".into(),
            zip: format!("{:05}", 10_000 + i),
            country_code: "US".into(),
            phone: "+1 555 0100".into(),
            latitude: rng.random_range(25.0..49.0),
            longitude: rng.random_range(-124.0..-67.0),
            opening_hours: (1..=7)
                .map(|weekday| OpeningHoursRecord {
                    weekday,
                    opens: "09:00".into(),
                    closes: "21:00".into(),
                })
                .collect(),
            time_zone: "America/Chicago".into(),
        })
        .collect()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (count, requests, concurrency) = (
        setting("STORES", 10_000),
        setting("REQUESTS", 20_000),
        setting("CONCURRENCY", 32),
    );
    let mut config = Config {
        store: StoreEngine::Memory,
        ..Config::default()
    }
    .with_section("catalog", "demo_products", 10)
    .with_section("location", "seed_demo", false);
    config.rate_limit.enabled = false;
    config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    let config = config.validated()?;
    let store = storefront_gateway::app::open_store(&config).await?;
    write_locations(&store, &stores(count)).await?;
    let app = App::with_store(config.clone(), Arc::clone(&store)).await?;
    app.start().await?;
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let url = format!("http://{}/graphql", listener.local_addr()?);
    let served = app.clone();
    tokio::spawn(async move { serve(listener, served).await });

    let client = reqwest::Client::new();
    let query = "query($lat: Float!, $lon: Float!) { locations(near: {latitude: $lat, longitude: $lon}, radiusKm: 100, first: 10) { nodes { handle distanceKm openNow } } }";
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let points: Vec<(f64, f64)> = (0..requests)
        .map(|_| {
            (
                rng.random_range(25.0..49.0),
                rng.random_range(-124.0..-67.0),
            )
        })
        .collect();
    let started = Instant::now();
    let mut latencies: Vec<Duration> = futures::stream::iter(points)
        .map(|(lat, lon)| {
            let (client, url) = (client.clone(), url.clone());
            async move {
                let at = Instant::now();
                graphql(&client, &url, query, json!({"lat": lat, "lon": lon}))
                    .await
                    .expect("an answer without errors");
                at.elapsed()
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let elapsed = started.elapsed();
    latencies.sort();
    println!(
        "{count} stores, {requests} requests, {concurrency} at once: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms",
        requests as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
    );
    Ok(())
}
