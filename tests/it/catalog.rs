//! The catalog API over the seeded demo catalog.

use serde_json::{Value, json};

use crate::support::{spawn_app, spawn_full_catalog_app};

const PRODUCT_FIELDS: &str = r#"
    id handle title description vendor productType tags createdAt updatedAt
    availableForSale totalInventory
    categories { handle title parent { handle } }
    images { url altText width height aspectRatio }
    featuredImage { url }
    options { name values }
    priceRange { minVariantPrice { amount currencyCode } maxVariantPrice { amount currencyCode } }
    variants(first: 5) {
      nodes {
        id sku title selectedOptions { name value }
        price { amount currencyCode } compareAtPrice { amount currencyCode }
        availableForSale quantityAvailable product { handle }
      }
    }
"#;

#[tokio::test]
async fn the_first_products_by_title_are_the_seeded_catalog() {
    let app = spawn_full_catalog_app().await;
    let data = app
        .data(
            &format!("{{ products(first: 3) {{ nodes {{ {PRODUCT_FIELDS} }} pageInfo {{ hasNextPage hasPreviousPage }} }} }}"),
            json!({}),
        )
        .await;
    insta::assert_json_snapshot!("first_three_products_by_title", data);
}

#[tokio::test]
async fn a_product_reads_the_same_by_handle_by_id_and_as_a_node() {
    let app = spawn_app().await;
    let first = app
        .data(
            "{ products(first: 1, sortKey: BEST_SELLING) { nodes { id handle } } }",
            json!({}),
        )
        .await;
    let id = first["products"]["nodes"][0]["id"].clone();
    let handle = first["products"]["nodes"][0]["handle"].clone();
    let query = format!(
        "query($id: ID!, $handle: String!) {{
            byHandle: product(handle: $handle) {{ {PRODUCT_FIELDS} }}
            byId: product(id: $id) {{ {PRODUCT_FIELDS} }}
            node(id: $id) {{ ... on Product {{ {PRODUCT_FIELDS} }} }}
        }}"
    );
    let data = app.data(&query, json!({"id": id, "handle": handle})).await;
    assert_eq!(data["byHandle"]["handle"], handle);
    assert_eq!(data["byHandle"], data["byId"]);
    assert_eq!(data["byHandle"], data["node"]);
}

#[tokio::test]
async fn unknown_handles_and_ids_are_null_and_malformed_ids_are_errors() {
    let app = spawn_app().await;
    let missing_id = "Z2lkOi8vc3RvcmVmcm9udC9Qcm9kdWN0L25vcGU"; // gid://storefront/Product/nope
    let data = app
        .data(
            "query($id: ID!) { product(handle: \"no-such-thing\") { id } node(id: $id) { id } category(handle: \"nope\") { id } }",
            json!({"id": missing_id}),
        )
        .await;
    assert_eq!(
        data,
        json!({"product": null, "node": null, "category": null})
    );

    let codes = app
        .error_codes("{ product(id: \"not-an-id\") { id } }", json!({}))
        .await;
    assert_eq!(codes, ["INVALID_ID"]);
    let codes = app
        .error_codes("{ product(handle: \"a\", id: \"b\") { id } }", json!({}))
        .await;
    assert_eq!(codes, ["BAD_USER_INPUT"]);
    let codes = app.error_codes("{ product { id } }", json!({})).await;
    assert_eq!(codes, ["BAD_USER_INPUT"]);
}

#[tokio::test]
async fn a_category_id_is_not_accepted_as_a_product_id() {
    let app = spawn_app().await;
    let data = app
        .data("{ categories(first: 1) { nodes { id } } }", json!({}))
        .await;
    let category_id = data["categories"]["nodes"][0]["id"].clone();
    let (_, body) = app
        .post(
            "query($id: ID!) { product(id: $id) { id } }",
            json!({"id": category_id}),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "INVALID_ID");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .expect("message")
            .contains("Category"),
        "{body}"
    );
}

#[tokio::test]
async fn nodes_resolves_every_kind_in_order_with_nulls_for_missing() {
    let app = spawn_app().await;
    let data = app
        .data(
            "{ products(first: 1) { nodes { id variants(first: 1) { nodes { id sku } } categories { id handle } } } }",
            json!({}),
        )
        .await;
    let product = &data["products"]["nodes"][0];
    let ids = json!([
        product["variants"]["nodes"][0]["id"],
        "Z2lkOi8vc3RvcmVmcm9udC9Qcm9kdWN0L25vcGU",
        product["categories"][0]["id"],
        product["id"],
    ]);
    let data = app
        .data(
            "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id ... on ProductVariant { sku price { currencyCode } } ... on Category { handle } } }",
            json!({"ids": ids}),
        )
        .await;
    let nodes = data["nodes"].as_array().expect("list");
    assert_eq!(nodes[0]["__typename"], "ProductVariant");
    assert_eq!(nodes[0]["sku"], product["variants"]["nodes"][0]["sku"]);
    assert_eq!(nodes[0]["price"]["currencyCode"], "USD");
    assert_eq!(nodes[1], Value::Null);
    assert_eq!(nodes[2]["handle"], product["categories"][0]["handle"]);
    assert_eq!(nodes[3]["id"], product["id"]);

    let too_many: Vec<Value> = (0..251).map(|_| product["id"].clone()).collect();
    let codes = app
        .error_codes(
            "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
            json!({"ids": too_many}),
        )
        .await;
    assert_eq!(codes, ["BAD_USER_INPUT"]);
}

fn amounts(data: &Value) -> Vec<f64> {
    data["products"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| {
            n["priceRange"]["minVariantPrice"]["amount"]
                .as_str()
                .expect("amount")
                .parse()
                .expect("decimal")
        })
        .collect()
}

#[tokio::test]
async fn every_sort_key_orders_the_list_and_reverse_flips_it() {
    let app = spawn_app().await;
    let query = "query($sort: ProductSortKeys!, $reverse: Boolean!) {
        products(first: 40, sortKey: $sort, reverse: $reverse) {
            nodes { title createdAt priceRange { minVariantPrice { amount } } }
        }
    }";
    let by_price = app
        .data(query, json!({"sort": "PRICE", "reverse": false}))
        .await;
    let prices = amounts(&by_price);
    assert!(prices.windows(2).all(|w| w[0] <= w[1]), "{prices:?}");
    let by_price_desc = app
        .data(query, json!({"sort": "PRICE", "reverse": true}))
        .await;
    let prices = amounts(&by_price_desc);
    assert!(prices.windows(2).all(|w| w[0] >= w[1]), "{prices:?}");

    let by_title = app
        .data(query, json!({"sort": "TITLE", "reverse": false}))
        .await;
    let titles: Vec<String> = by_title["products"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["title"].as_str().expect("title").to_lowercase())
        .collect();
    assert!(titles.windows(2).all(|w| w[0] <= w[1]), "{titles:?}");

    let by_created = app
        .data(query, json!({"sort": "CREATED_AT", "reverse": true}))
        .await;
    let created: Vec<&str> = by_created["products"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["createdAt"].as_str().expect("createdAt"))
        .collect();
    assert!(created.windows(2).all(|w| w[0] >= w[1]), "{created:?}");

    let best = app
        .data(query, json!({"sort": "BEST_SELLING", "reverse": false}))
        .await;
    assert_eq!(
        best["products"]["nodes"].as_array().expect("nodes").len(),
        40
    );
}

#[tokio::test]
async fn filters_narrow_by_category_tree_vendor_and_availability() {
    let app = spawn_app().await;
    let query = "query($filter: ProductFilter!) {
        products(first: 250, filter: $filter) {
            nodes { vendor availableForSale categories { handle parent { handle } } }
            pageInfo { hasNextPage }
        }
    }";
    // A department holds the products of all its sub-categories.
    let men = app
        .data(query, json!({"filter": {"categoryHandle": "men"}}))
        .await;
    let nodes = men["products"]["nodes"].as_array().expect("nodes");
    assert!(!nodes.is_empty());
    assert!(
        nodes
            .iter()
            .all(|n| n["categories"][0]["parent"]["handle"] == "men")
    );
    let shirts = app
        .data(query, json!({"filter": {"categoryHandle": "men-shirts"}}))
        .await;
    let shirt_count = shirts["products"]["nodes"].as_array().expect("nodes").len();
    assert!(shirt_count > 0 && shirt_count < nodes.len());

    let vendor = app
        .data(
            query,
            json!({"filter": {"vendor": "NORTHWIND", "available": true}}),
        )
        .await;
    let nodes = vendor["products"]["nodes"].as_array().expect("nodes");
    assert!(!nodes.is_empty());
    assert!(
        nodes
            .iter()
            .all(|n| n["vendor"] == "Northwind" && n["availableForSale"] == true)
    );

    let both = app
        .data(
            query,
            json!({"filter": {"categoryHandle": "women", "vendor": "lumen"}}),
        )
        .await;
    let nodes = both["products"]["nodes"].as_array().expect("nodes");
    assert!(!nodes.is_empty());
    assert!(
        nodes
            .iter()
            .all(|n| n["vendor"] == "Lumen" && n["categories"][0]["parent"]["handle"] == "women")
    );

    let unavailable = app
        .data(query, json!({"filter": {"available": false}}))
        .await;
    let nodes = unavailable["products"]["nodes"].as_array().expect("nodes");
    assert!(nodes.iter().all(|n| n["availableForSale"] == false));

    let unknown = app
        .data(query, json!({"filter": {"categoryHandle": "no-such"}}))
        .await;
    assert_eq!(unknown["products"]["nodes"], json!([]));

    let category = app
        .data(
            "{ category(handle: \"women\") { title children { handle } products(first: 3, vendor: \"lumen\") { nodes { vendor } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        category["category"]["children"]
            .as_array()
            .expect("children")
            .len(),
        4
    );
    assert!(
        category["category"]["products"]["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .all(|n| n["vendor"] == "Lumen")
    );
}

#[tokio::test]
async fn money_amounts_are_exact_strings_with_two_decimals() {
    let app = spawn_app().await;
    let data = app
        .data("{ products(first: 50) { nodes { variants(first: 10) { nodes { price { amount } compareAtPrice { amount } } } } } }", json!({}))
        .await;
    let text = data.to_string();
    let amounts: Vec<&str> = text
        .split("\"amount\":\"")
        .skip(1)
        .map(|s| s.split('"').next().expect("amount"))
        .collect();
    assert!(amounts.len() > 100);
    for amount in amounts {
        let (_, cents) = amount.split_once('.').expect("decimal point");
        assert_eq!(cents.len(), 2, "{amount}");
    }
}
