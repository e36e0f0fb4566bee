//! The DynamoDB engine against DynamoDB Local: the conformance suite, the catalog API giving
//! the same answers as the embedded engine, and the binary's `aws bootstrap` / `seed` / serve.

use std::process::Command;
use std::sync::Arc;

use serde_json::{Value, json};
use storefront_loaders::catalog::CatalogWriter;
use storefront_loaders::catalog::import::{import_catalog, import_inventory};
use storefront_loaders::store::conformance;

use crate::support::{
    TestApp, dynamo_client, fresh_dynamo_table, local_aws, spawn_app, spawn_dynamo_app,
};

#[tokio::test]
async fn the_dynamodb_engine_passes_the_conformance_suite() {
    let table = fresh_dynamo_table().await;
    conformance::run_all(&table).await;
    assert!(
        !table.bootstrap().await.expect("bootstrap again"),
        "bootstrap is idempotent"
    );
    table.delete_table().await.expect("clean up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_sell_outs_on_dynamodb_leave_the_product_unavailable() {
    let table = Arc::new(fresh_dynamo_table().await);
    storefront_loaders::catalog::races::concurrent_sell_outs_leave_the_product_unavailable(
        Arc::clone(&table) as _,
        15,
    )
    .await;
    table.delete_table().await.expect("clean up");
}

const FEED: &str = r#"{"handle":"trail-runner","title":"Trail Runner","vendor":"Kestrel","productType":"Running Shoe","categories":["sports-running"],"options":[{"name":"Size","values":["42","43"]}],"variants":[{"sku":"TR-42","options":{"Size":"42"},"price":"120.00"},{"sku":"TR-43","options":{"Size":"43"},"price":"120.00","compareAtPrice":"150.00"}]}"#;

async fn apply_feeds(app: &TestApp) {
    let writer = CatalogWriter::new(Arc::clone(&app.app.table));
    let report = import_catalog(&writer, FEED.as_bytes()).await;
    assert_eq!(report.created, 1, "{report:?}");
    let report = import_inventory(&writer, "{\"sku\":\"TR-43\",\"quantity\":3}".as_bytes()).await;
    assert_eq!(report.created, 1, "{report:?}");
    let again = import_catalog(&writer, FEED.as_bytes()).await;
    assert_eq!(again.unchanged, 1, "{again:?}");
}

#[tokio::test]
async fn the_catalog_api_answers_the_same_on_both_engines() {
    let embedded = spawn_app().await;
    let dynamo = spawn_dynamo_app().await;
    apply_feeds(&embedded).await;
    apply_feeds(&dynamo).await;

    // Not `createdAt`/`updatedAt`: the feed's product gets the time of each import.
    let product_fields = "id handle title vendor productType tags availableForSale totalInventory
        categories { handle } images { url } options { name values }
        priceRange { minVariantPrice { amount } maxVariantPrice { amount } }
        variants(first: 5) { edges { cursor node { id sku title price { amount } compareAtPrice { amount } quantityAvailable } } }";
    let mut queries: Vec<(String, Value)> = vec![
        (format!("{{ products(first: 25) {{ nodes {{ {product_fields} }} pageInfo {{ hasNextPage endCursor }} }} }}"), json!({})),
        ("{ products(first: 20, sortKey: PRICE, reverse: true) { edges { cursor node { handle } } pageInfo { hasNextPage hasPreviousPage } } }".into(), json!({})),
        ("{ products(first: 30, sortKey: BEST_SELLING, filter: {categoryHandle: \"women\", available: true}) { nodes { handle availableForSale } } }".into(), json!({})),
        ("{ products(last: 10, sortKey: CREATED_AT) { nodes { handle } pageInfo { hasPreviousPage } } }".into(), json!({})),
        ("{ products(first: 50, filter: {vendor: \"kestrel\", available: true}) { nodes { handle } } }".into(), json!({})),
        ("{ categories(first: 30) { nodes { id handle title parent { handle } children { handle } } } }".into(), json!({})),
        ("{ category(handle: \"sports\") { products(first: 10, vendor: \"KESTREL\") { nodes { handle } } } }".into(), json!({})),
        // The feed's product has ids of its own on each engine; everything else must agree.
        (
            "{ product(handle: \"trail-runner\") { handle title vendor availableForSale totalInventory categories { handle } priceRange { minVariantPrice { amount } } variants(first: 5) { nodes { sku title price { amount } compareAtPrice { amount } quantityAvailable } } } }".into(),
            json!({}),
        ),
        ("{ product(handle: \"no-such-product\") { id } }".into(), json!({})),
    ];
    // A second page, through the first page's cursor.
    let first_page = embedded
        .data(
            "{ products(first: 7, sortKey: PRICE) { pageInfo { endCursor } } }",
            json!({}),
        )
        .await;
    queries.push((
        "query($after: String) { products(first: 7, after: $after, sortKey: PRICE) { nodes { handle } pageInfo { hasPreviousPage hasNextPage } } }".into(),
        json!({"after": first_page["products"]["pageInfo"]["endCursor"]}),
    ));
    let ids = embedded
        .data("{ products(first: 3) { nodes { id variants(first: 1) { nodes { id } } categories { id } } } }", json!({}))
        .await;
    queries.push((
        "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }".into(),
        json!({"ids": [
            ids["products"]["nodes"][0]["id"],
            ids["products"]["nodes"][1]["variants"]["nodes"][0]["id"],
            ids["products"]["nodes"][2]["categories"][0]["id"],
        ]}),
    ));

    for (query, variables) in queries {
        let (status_a, body_a) = embedded.post(&query, variables.clone()).await;
        let (status_b, body_b) = dynamo.post(&query, variables).await;
        assert_eq!(status_a, 200, "{query}: {body_a}");
        assert!(body_a.get("errors").is_none(), "{query}: {body_a}");
        assert_eq!((status_a, &body_a), (status_b, &body_b), "{query}");
    }
}

#[tokio::test]
async fn a_products_page_costs_the_same_store_requests_and_round_trips_on_dynamodb() {
    let table = Arc::new(fresh_dynamo_table().await);
    let mut config = crate::support::test_config();
    config.store = storefront_gateway::config::StoreEngine::Aws;
    config.cache.enabled = false;
    let app = crate::support::spawn_with_store(config, Arc::clone(&table) as _).await;
    let page = "query($first: Int!) { products(first: $first) { nodes { categories { title } variants(first: 10) { nodes { price { amount } quantityAvailable } } } } }";
    let mut costs = vec![];
    for first in [1, 10, 25] {
        let (requests, trips) = (app.store_requests(), table.round_trips());
        app.data(page, json!({"first": first})).await;
        costs.push((app.store_requests() - requests, table.round_trips() - trips));
    }
    // Each level's keys fit one BatchGetItem (100 keys) at these sizes, so every store request
    // is one round trip: the page never fans out into a request per product.
    let fixed = crate::batching::PRODUCTS_PAGE_STORE_REQUESTS;
    assert_eq!(
        costs,
        [(fixed, fixed); 3],
        "(store requests, round trips) per page size"
    );
}

fn gateway(table: &str) -> Command {
    let mut command = crate::support::gateway_command();
    command
        .env("STOREFRONT_STORE", "aws")
        .env("STOREFRONT_AWS_TABLE", table)
        .env("STOREFRONT_AWS_ENDPOINT_URL", local_aws().dynamodb_url)
        .env("STOREFRONT_AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "local")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .env_remove("AWS_PROFILE");
    command
}

#[tokio::test]
async fn the_binary_bootstraps_seeds_and_serves_from_dynamodb() {
    let table = format!("bin-{}", uuid::Uuid::new_v4().simple());

    // Before bootstrap the gateway refuses to start and says what to do.
    let refused = gateway(&table)
        .args(["--listen", "127.0.0.1:0", "serve"])
        .output()
        .expect("runs");
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("aws bootstrap"), "{stderr}");

    for _ in 0..2 {
        let output = gateway(&table)
            .args(["aws", "bootstrap"])
            .output()
            .expect("runs");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let output = gateway(&table)
        .args(["seed", "--products", "30"])
        .output()
        .expect("runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
        probe.local_addr().expect("addr").port()
    };
    let mut child = gateway(&table)
        .args(["--listen", &format!("127.0.0.1:{port}"), "serve"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("serves");
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/graphql");
    let mut body = Value::Null;
    for _ in 0..100 {
        if let Ok(response) = client
            .post(&url)
            .json(&json!({"query": "{ products(first: 50) { nodes { handle } } categories(first: 1) { nodes { handle } } }"}))
            .send()
            .await
        {
            body = response.json().await.expect("json");
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        body["data"]["products"]["nodes"].as_array().map(Vec::len),
        Some(30),
        "{body}"
    );
    assert_eq!(body["data"]["categories"]["nodes"][0]["handle"], "women");

    storefront_loaders::store::DynamoTable::with_client(dynamo_client(), table)
        .delete_table()
        .await
        .expect("clean up");
}

#[test]
fn a_missing_region_is_a_start_up_error_naming_the_setting() {
    let output = gateway("any-table")
        .env_remove("STOREFRONT_AWS_REGION")
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .args(["--listen", "127.0.0.1:0", "serve"])
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("aws.region"), "{stderr}");
}
