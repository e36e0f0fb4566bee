//! DataLoader batching: a page of products costs a fixed number of store requests.

use serde_json::json;

/// The store requests the README promises for the products page query.
pub const PRODUCTS_PAGE_STORE_REQUESTS: u64 = 4;

const PRODUCTS_PAGE: &str = "query($first: Int!) {
    products(first: $first) {
        nodes {
            categories { title }
            variants(first: 10) { nodes { price { amount } quantityAvailable } }
        }
    }
}";

/// A gateway without the item cache, so that every read reaches the store.
pub async fn spawn_uncached_app() -> crate::support::TestApp {
    let mut config = crate::support::test_config();
    config.cache.enabled = false;
    crate::support::spawn_full_catalog_app_with(config).await
}

#[tokio::test]
async fn a_products_page_costs_the_same_few_store_requests_whatever_its_size() {
    let app = spawn_uncached_app().await;
    let mut costs = vec![];
    for first in [1, 10, 50, 100] {
        let before = app.store_requests();
        let data = app.data(PRODUCTS_PAGE, json!({"first": first})).await;
        assert_eq!(
            data["products"]["nodes"].as_array().expect("nodes").len(),
            first as usize
        );
        costs.push(app.store_requests() - before);
    }
    // One listing query, then one batch get per level: products; categories and variants
    // together; stock.
    assert_eq!(
        costs, [PRODUCTS_PAGE_STORE_REQUESTS; 4],
        "store requests per page size"
    );
    let metrics = app.metrics_text().await;
    assert!(
        metrics.contains("storefront_store_requests_total{op=\"batch_get\"}"),
        "{metrics}"
    );
    // Each page's loads went out as batches: their sizes are on /metrics.
    assert!(
        app.app
            .metrics
            .sample("storefront_store_batch_keys_count", &[])
            >= 4.0,
        "{metrics}"
    );
    assert!(
        metrics.contains("storefront_store_requests_total{op=\"query\"}"),
        "{metrics}"
    );
}

#[tokio::test]
async fn one_request_reads_each_item_at_most_once() {
    let app = spawn_uncached_app().await;
    let before = app.store_requests();
    // The same products twice under aliases, and their variants' products again.
    app.data(
        "{ a: products(first: 20) { nodes { handle } }
           b: products(first: 20) { nodes { handle variants(first: 3) { nodes { product { handle } } } } } }",
        json!({}),
    )
    .await;
    let cost = app.store_requests() - before;
    assert!(
        cost <= 4,
        "aliases and back-references are served from the request cache: {cost}"
    );
}
