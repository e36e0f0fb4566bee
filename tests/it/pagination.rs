//! Relay pagination: forward, backward, variants, and bad cursors.

use std::collections::HashSet;

use serde_json::{Value, json};

use crate::support::{spawn_app, spawn_full_catalog_app};

fn handles(connection: &Value) -> Vec<String> {
    connection["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"]["handle"].as_str().expect("handle").to_owned())
        .collect()
}

#[tokio::test]
async fn paging_forward_visits_every_item_once_and_backward_returns_the_previous_page() {
    let app = spawn_app().await;
    let query = "query($first: Int, $after: String, $last: Int, $before: String) {
        categories(first: $first, after: $after, last: $last, before: $before) {
            edges { cursor node { handle } }
            nodes { handle }
            pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
        }
    }";
    let mut seen = vec![];
    let mut after = Value::Null;
    let mut pages = vec![];
    loop {
        let data = app.data(query, json!({"first": 7, "after": after})).await;
        let page = data["categories"].clone();
        let page_handles = handles(&page);
        let nodes: Vec<String> = page["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .map(|n| n["handle"].as_str().expect("handle").to_owned())
            .collect();
        assert_eq!(page_handles, nodes, "edges and nodes agree");
        assert_eq!(page["pageInfo"]["hasPreviousPage"], !after.is_null());
        seen.extend(page_handles);
        pages.push(page.clone());
        if page["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(seen.len(), 30);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 30);
    assert_eq!(seen[0], "women");
    assert_eq!(seen[1], "women-tops");

    // The page before the third page is the second page.
    let before = pages[2]["pageInfo"]["startCursor"].clone();
    let data = app.data(query, json!({"last": 7, "before": before})).await;
    assert_eq!(handles(&data["categories"]), handles(&pages[1]));
    assert_eq!(data["categories"]["pageInfo"]["hasNextPage"], true);
    assert_eq!(data["categories"]["pageInfo"]["hasPreviousPage"], true);

    // The last page, read from the end.
    let data = app.data(query, json!({"last": 2})).await;
    assert_eq!(handles(&data["categories"]), seen[28..].to_vec());
    assert_eq!(data["categories"]["pageInfo"]["hasPreviousPage"], true);
}

#[tokio::test]
async fn product_pages_continue_in_the_same_order_in_both_directions() {
    let app = spawn_full_catalog_app().await;
    let query = "query($first: Int, $after: String, $last: Int, $before: String) {
        products(first: $first, after: $after, last: $last, before: $before, sortKey: PRICE, reverse: true, filter: {categoryHandle: \"home\"}) {
            edges { cursor node { handle } }
            pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
        }
    }";
    let all = app.data(query, json!({"first": 60})).await;
    let all_handles = handles(&all["products"]);
    let first = app.data(query, json!({"first": 10})).await;
    let second = app
        .data(
            query,
            json!({"first": 10, "after": first["products"]["pageInfo"]["endCursor"]}),
        )
        .await;
    assert_eq!(handles(&first["products"]), all_handles[..10].to_vec());
    assert_eq!(handles(&second["products"]), all_handles[10..20].to_vec());
    let back = app
        .data(
            query,
            json!({"last": 10, "before": second["products"]["pageInfo"]["startCursor"]}),
        )
        .await;
    assert_eq!(handles(&back["products"]), all_handles[..10].to_vec());
    assert_eq!(back["products"]["pageInfo"]["hasPreviousPage"], false);
}

#[tokio::test]
async fn variants_page_within_their_product() {
    let app = spawn_app().await;
    let data = app
        .data(
            "{ products(first: 50) { nodes { handle variants(first: 30) { nodes { sku } } } } }",
            json!({}),
        )
        .await;
    let product = data["products"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .find(|p| p["variants"]["nodes"].as_array().expect("variants").len() >= 3)
        .expect("a product with three variants")
        .clone();
    let skus: Vec<Value> = product["variants"]["nodes"]
        .as_array()
        .expect("variants")
        .iter()
        .map(|v| v["sku"].clone())
        .collect();
    let query = "query($handle: String!, $after: String) { product(handle: $handle) { variants(first: 1, after: $after) { nodes { sku } pageInfo { hasNextPage endCursor } } } }";
    let first = app.data(query, json!({"handle": product["handle"]})).await;
    let variants = &first["product"]["variants"];
    assert_eq!(variants["nodes"][0]["sku"], skus[0]);
    assert_eq!(variants["pageInfo"]["hasNextPage"], true);
    let second = app
        .data(
            query,
            json!({"handle": product["handle"], "after": variants["pageInfo"]["endCursor"]}),
        )
        .await;
    assert_eq!(second["product"]["variants"]["nodes"][0]["sku"], skus[1]);
}

#[tokio::test]
async fn bad_cursors_and_page_sizes_are_clear_errors() {
    let app = spawn_app().await;
    let codes = app
        .error_codes(
            "{ products(first: 2, after: \"garbage\") { nodes { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(codes, ["INVALID_CURSOR"]);

    // A cursor of one sort order is not valid in another.
    let data = app
        .data(
            "{ products(first: 1, sortKey: PRICE) { pageInfo { endCursor } } }",
            json!({}),
        )
        .await;
    let cursor = data["products"]["pageInfo"]["endCursor"].clone();
    let codes = app
        .error_codes(
            "query($c: String) { products(first: 2, after: $c, sortKey: TITLE) { nodes { id } } }",
            json!({"c": cursor}),
        )
        .await;
    assert_eq!(codes, ["INVALID_CURSOR"]);
    let codes = app
        .error_codes(
            "query($c: String) { categories(first: 2, after: $c) { nodes { id } } }",
            json!({"c": cursor}),
        )
        .await;
    assert_eq!(codes, ["INVALID_CURSOR"]);

    for query in [
        "{ products(first: 300) { nodes { id } } }",
        "{ products { nodes { id } } }",
        "{ products(first: 1, last: 1) { nodes { id } } }",
        "{ products(first: -1) { nodes { id } } }",
    ] {
        assert_eq!(
            app.error_codes(query, json!({})).await,
            ["BAD_USER_INPUT"],
            "{query}"
        );
    }
    let empty = app
        .data(
            "{ products(first: 0) { nodes { id } pageInfo { hasNextPage } } }",
            json!({}),
        )
        .await;
    assert_eq!(empty["products"]["nodes"], json!([]));
}
