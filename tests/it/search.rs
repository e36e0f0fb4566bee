//! Search: facet counts against a scan of the catalog, typo tolerance and prefixes, sort
//! orders, pagination, the index following catalog writes, suggestions and bad input.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use storefront_gateway::config::StoreEngine;

use crate::support::{
    TestApp, fresh_dynamo_table, replicas_sharing_redis, spawn_app, spawn_full_catalog_app_with,
    spawn_with_store, test_config,
};

const FACETS: &str = "productFilters { id label type values { label count input } }";

/// A product as the scan reads it through `products`.
#[derive(Debug, Clone)]
struct Scanned {
    vendor: String,
    product_type: String,
    tags: Vec<String>,
    categories: BTreeMap<String, String>,
    options: BTreeSet<(String, String)>,
    min: f64,
    max: f64,
    available: bool,
}

async fn scan(app: &TestApp) -> Vec<Scanned> {
    let query = "query($after: String) { products(first: 100, after: $after) { pageInfo { hasNextPage endCursor } nodes { vendor productType tags availableForSale priceRange { minVariantPrice { amount } maxVariantPrice { amount } } categories { handle title parent { handle title parent { handle title } } } variants(first: 30) { nodes { selectedOptions { name value } } } } } }";
    let mut all = Vec::new();
    let mut after = Value::Null;
    loop {
        let data = app.data(query, json!({"after": after})).await;
        let page = &data["products"];
        for p in page["nodes"].as_array().expect("nodes") {
            let mut categories = BTreeMap::new();
            for c in p["categories"].as_array().expect("categories") {
                let mut node = c;
                while node.is_object() {
                    categories.insert(
                        node["handle"].as_str().expect("handle").to_owned(),
                        node["title"].as_str().expect("title").to_owned(),
                    );
                    node = &node["parent"];
                }
            }
            let options = p["variants"]["nodes"]
                .as_array()
                .expect("variants")
                .iter()
                .flat_map(|v| v["selectedOptions"].as_array().expect("options").clone())
                .map(|o| {
                    (
                        o["name"].as_str().expect("name").to_owned(),
                        o["value"].as_str().expect("value").to_owned(),
                    )
                })
                .collect();
            let price = |path: &str| {
                p["priceRange"][path]["amount"]
                    .as_str()
                    .expect("amount")
                    .parse::<f64>()
                    .expect("decimal")
            };
            all.push(Scanned {
                vendor: p["vendor"].as_str().expect("vendor").to_owned(),
                product_type: p["productType"].as_str().expect("type").to_owned(),
                tags: serde_json::from_value(p["tags"].clone()).expect("tags"),
                categories,
                options,
                min: price("minVariantPrice"),
                max: price("maxVariantPrice"),
                available: p["availableForSale"].as_bool().expect("available"),
            });
        }
        if page["pageInfo"]["hasNextPage"] != json!(true) {
            return all;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
}

/// Whether a scanned product passes one filter (the GraphQL input form).
fn passes(p: &Scanned, filter: &Value) -> bool {
    let same = |a: &str, b: &Value| a.eq_ignore_ascii_case(b.as_str().expect("text"));
    if let Some(v) = filter.get("vendor") {
        return same(&p.vendor, v);
    }
    if let Some(v) = filter.get("productType") {
        return same(&p.product_type, v);
    }
    if let Some(v) = filter.get("tag") {
        return p.tags.iter().any(|t| same(t, v));
    }
    if let Some(v) = filter.get("category") {
        return p.categories.contains_key(v.as_str().expect("handle"));
    }
    if let Some(v) = filter.get("available") {
        return p.available == v.as_bool().expect("bool");
    }
    if let Some(v) = filter.get("variantOption") {
        return p.options.iter().any(|(n, val)| {
            n.eq_ignore_ascii_case(v["name"].as_str().expect("name")) && val == &v["value"]
        });
    }
    if let Some(range) = filter.get("price") {
        let bound = |k: &str| {
            range[k]
                .as_str()
                .map(|s| s.parse::<f64>().expect("decimal"))
        };
        return bound("min").is_none_or(|min| p.max >= min)
            && bound("max").is_none_or(|max| p.min <= max);
    }
    panic!("unknown filter {filter}")
}

fn kind_of(filter: &Value) -> String {
    let (key, value) = filter
        .as_object()
        .and_then(|o| o.iter().next())
        .expect("one field");
    match key.as_str() {
        "variantOption" => format!(
            "option:{}",
            value["name"].as_str().expect("name").to_lowercase()
        ),
        other => other.to_owned(),
    }
}

/// Whether a product passes every filter kind except `skip` (alternatives within a kind).
fn passes_all(p: &Scanned, filters: &[Value], skip: Option<&str>) -> bool {
    let mut kinds: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for f in filters {
        kinds.entry(kind_of(f)).or_default().push(f);
    }
    kinds
        .iter()
        .filter(|(k, _)| Some(k.as_str()) != skip)
        .all(|(_, fs)| fs.iter().any(|f| passes(p, f)))
}

async fn search(app: &TestApp, query: &str, filters: &[Value], extra: &str) -> Value {
    let document = format!(
        "query($q: String!, $f: [SearchProductFilter!]) {{ search(query: $q, first: 250, productFilters: $f{extra}) {{ totalCount {FACETS} nodes {{ id }} }} }}"
    );
    app.data(&document, json!({"q": query, "f": filters})).await["search"].clone()
}

#[tokio::test]
async fn facet_counts_equal_a_scan_of_the_catalog_under_several_filter_combinations() {
    let mut config = test_config();
    config.limits.max_complexity = 1_000_000;
    config.rate_limit.enabled = false;
    let app = spawn_full_catalog_app_with(config).await;
    let products = scan(&app).await;
    assert_eq!(products.len(), 1000);
    let combinations: Vec<Vec<Value>> = vec![
        vec![],
        vec![json!({"vendor": "Northwind"})],
        vec![
            json!({"vendor": "Northwind"}),
            json!({"vendor": "lumen"}),
            json!({"available": true}),
        ],
        vec![
            json!({"category": "men"}),
            json!({"price": {"min": "25.00", "max": "49.99"}}),
        ],
        vec![
            json!({"variantOption": {"name": "Size", "value": "M"}}),
            json!({"productType": "Jacket"}),
            json!({"productType": "Shirt"}),
        ],
        vec![
            json!({"category": "women-shoes"}),
            json!({"variantOption": {"name": "size", "value": "XS"}}),
            json!({"available": false}),
        ],
    ];
    for filters in combinations {
        let found = search(&app, "", &filters, "").await;
        let expected_total = products
            .iter()
            .filter(|p| passes_all(p, &filters, None))
            .count();
        assert_eq!(
            found["totalCount"],
            json!(expected_total),
            "total for {filters:?}"
        );
        for facet in found["productFilters"].as_array().expect("facets") {
            for value in facet["values"].as_array().expect("values") {
                let input: Value =
                    serde_json::from_str(value["input"].as_str().expect("input")).expect("JSON");
                let kind = kind_of(&input);
                let expected = products
                    .iter()
                    .filter(|p| passes_all(p, &filters, Some(&kind)) && passes(p, &input))
                    .count();
                assert_eq!(
                    value["count"],
                    json!(expected),
                    "{} = {} under {filters:?}",
                    facet["id"],
                    value["label"]
                );
            }
        }
        // Every value the scan finds shows up, for the list facets it can check.
        let vendors: BTreeSet<&str> = products
            .iter()
            .filter(|p| passes_all(p, &filters, Some("vendor")))
            .map(|p| p.vendor.as_str())
            .collect();
        let shown: BTreeSet<&str> = found["productFilters"]
            .as_array()
            .expect("facets")
            .iter()
            .filter(|f| f["id"] == "filter.p.vendor")
            .flat_map(|f| f["values"].as_array().expect("values"))
            .map(|v| v["label"].as_str().expect("label"))
            .collect();
        assert_eq!(shown, vendors, "vendor values under {filters:?}");
    }
}

async fn titles(app: &TestApp, query: &str) -> Vec<String> {
    let data = app
        .data(
            "query($q: String!) { search(query: $q, first: 50) { nodes { title } } }",
            json!({"q": query}),
        )
        .await;
    data["search"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["title"].as_str().expect("title").to_owned())
        .collect()
}

#[tokio::test]
async fn typos_within_the_budget_and_prefixes_of_the_last_word_still_find_products() {
    let app = spawn_app().await;
    let shirts = titles(&app, "shirt").await;
    assert!(!shirts.is_empty(), "the demo catalog has shirts");
    for (typed, word) in [
        ("shrit", "shirt"),
        ("jaket", "jacket"),
        ("jack", "jacket"),
        ("shirts", "shirt"),
    ] {
        let found = titles(&app, typed).await;
        assert!(
            found.iter().any(|t| t.to_lowercase().contains(word)),
            "`{typed}` finds {word}: {found:?}"
        );
    }
    assert!(
        titles(&app, "hta").await.iter().all(|t| !t.contains("Hat")),
        "three-letter words get no typo allowance"
    );
    // A prefix counts only for the word being typed.
    assert!(
        titles(&app, "jack ").await.is_empty(),
        "a finished word must match whole"
    );
}

#[tokio::test]
async fn title_matches_outrank_description_matches() {
    let app = spawn_app().await;
    let found = titles(&app, "jacket").await;
    let first_other = found
        .iter()
        .position(|t| !t.to_lowercase().contains("jacket"));
    let last_jacket = found
        .iter()
        .rposition(|t| t.to_lowercase().contains("jacket"));
    if let (Some(other), Some(jacket)) = (first_other, last_jacket) {
        assert!(jacket < other, "titles first: {found:?}");
    }
    assert!(last_jacket.is_some());
}

#[tokio::test]
async fn a_query_that_matches_nothing_is_an_empty_page_with_suggestions() {
    let app = spawn_app().await;
    let data = app
        .data(
            "{ search(query: \"wooool jackxet\", first: 5) { totalCount nodes { id } suggestions pageInfo { hasNextPage } } }",
            json!({}),
        )
        .await;
    assert_eq!(data["search"]["totalCount"], 0);
    assert_eq!(data["search"]["nodes"], json!([]));
    assert_eq!(data["search"]["suggestions"], json!(["wool jacket"]));
    let nothing = app
        .data(
            "{ search(query: \"zzzzqqqq\", first: 5) { totalCount suggestions } }",
            json!({}),
        )
        .await;
    assert_eq!(
        nothing["search"],
        json!({"totalCount": 0, "suggestions": []})
    );
}

async fn sorted(app: &TestApp, sort: &str, reverse: bool) -> Vec<Value> {
    let data = app
        .data(
            &format!("{{ search(query: \"\", first: 250, sortKey: {sort}, reverse: {reverse}) {{ nodes {{ id priceRange {{ minVariantPrice {{ amount }} }} }} }} }}"),
            json!({}),
        )
        .await;
    data["search"]["nodes"].as_array().expect("nodes").clone()
}

#[tokio::test]
async fn each_sort_order_orders_the_whole_result_and_reverse_flips_it() {
    let app = spawn_app().await;
    let by_price = sorted(&app, "PRICE", false).await;
    let prices: Vec<f64> = by_price
        .iter()
        .map(|n| {
            n["priceRange"]["minVariantPrice"]["amount"]
                .as_str()
                .expect("amount")
                .parse()
                .expect("number")
        })
        .collect();
    assert!(prices.windows(2).all(|w| w[0] <= w[1]), "cheapest first");
    let mut reversed = sorted(&app, "PRICE", true).await;
    reversed.reverse();
    assert_eq!(
        reversed, by_price,
        "reverse is the same list backwards (ties too)"
    );
    // The catalog's own listings order by creation and by sales too (neither is a field):
    // search gives exactly their order, both ways.
    for key in ["CREATED_AT", "BEST_SELLING"] {
        for reverse in [false, true] {
            let searched: Vec<Value> = sorted(&app, key, reverse)
                .await
                .iter()
                .map(|n| n["id"].clone())
                .collect();
            let listing = app
                .data(&format!("{{ products(first: 250, sortKey: {key}, reverse: {reverse}) {{ nodes {{ id }} }} }}"), json!({}))
                .await;
            let listed: Vec<Value> = listing["products"]["nodes"]
                .as_array()
                .expect("nodes")
                .iter()
                .map(|n| n["id"].clone())
                .collect();
            assert_eq!(searched, listed, "{key} reverse={reverse}");
        }
    }
    let relevance = app
        .data(
            "{ search(query: \"wool\", first: 50) { nodes { title } } }",
            json!({}),
        )
        .await;
    assert!(
        relevance["search"]["nodes"]
            .as_array()
            .is_some_and(|n| !n.is_empty())
    );
}

#[tokio::test]
async fn paging_forward_and_backward_visits_every_result_once() {
    let app = spawn_app().await;
    let all: Vec<Value> = sorted(&app, "RELEVANCE", false)
        .await
        .iter()
        .map(|n| n["id"].clone())
        .collect();
    for sort in ["RELEVANCE", "PRICE", "BEST_SELLING"] {
        let mut seen = Vec::new();
        let mut after = Value::Null;
        loop {
            let data = app
                .data(
                    &format!("query($after: String) {{ search(query: \"\", first: 7, after: $after, sortKey: {sort}) {{ nodes {{ id }} pageInfo {{ hasNextPage endCursor }} }} }}"),
                    json!({"after": after}),
                )
                .await;
            seen.extend(
                data["search"]["nodes"]
                    .as_array()
                    .expect("nodes")
                    .iter()
                    .map(|n| n["id"].clone()),
            );
            if data["search"]["pageInfo"]["hasNextPage"] != json!(true) {
                break;
            }
            after = data["search"]["pageInfo"]["endCursor"].clone();
        }
        let unique: BTreeSet<String> = seen.iter().map(Value::to_string).collect();
        assert_eq!(seen.len(), all.len(), "{sort}: no gaps");
        assert_eq!(unique.len(), seen.len(), "{sort}: no repeats");
        // And backward from the end.
        let mut back = Vec::new();
        let mut before = Value::Null;
        loop {
            let data = app
                .data(
                    &format!("query($before: String) {{ search(query: \"\", last: 9, before: $before, sortKey: {sort}) {{ nodes {{ id }} pageInfo {{ hasPreviousPage startCursor }} }} }}"),
                    json!({"before": before}),
                )
                .await;
            let mut page: Vec<Value> = data["search"]["nodes"]
                .as_array()
                .expect("nodes")
                .clone()
                .into_iter()
                .map(|n| n["id"].clone())
                .collect();
            page.extend(back);
            back = page;
            if data["search"]["pageInfo"]["hasPreviousPage"] != json!(true) {
                break;
            }
            before = data["search"]["pageInfo"]["startCursor"].clone();
        }
        assert_eq!(back, seen, "{sort}: backward pages give the same list");
    }
}

/// Waits (up to `limit`) until `check` holds for the search's answer; returns how long.
async fn until(
    app: &TestApp,
    query: &str,
    limit: Duration,
    check: impl Fn(&Value) -> bool,
) -> Duration {
    let started = Instant::now();
    loop {
        let data = app.data(query, json!({})).await;
        if check(&data["search"]) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < limit,
            "the index did not follow within {limit:?}: {data}"
        );
        tokio::task::yield_now().await;
    }
}

const PARKA: &str = r#"{"handle":"aurora-parka","title":"Aurora Parka","description":"Down filled.","vendor":"Kestrel","productType":"Parka","tags":["winter"],"categories":["men-jackets"],"options":[{"name":"Size","values":["M","L"]}],"variants":[{"sku":"AP-M","options":{"Size":"M"},"price":"250.00"},{"sku":"AP-L","options":{"Size":"L"},"price":"260.00"}]}"#;
const PARKA_SEARCH: &str =
    "{ search(query: \"aurora\", first: 5) { totalCount nodes { handle } } }";
const PARKA_IN_STOCK: &str = "{ search(query: \"aurora\", first: 5, productFilters: [{available: true}]) { totalCount nodes { handle } } }";

/// Applies a feed that must take every line.
async fn import(app: &TestApp, feed: &str, text: &str) {
    let report = app.import(feed, text).await;
    assert!(report.failures.is_empty(), "{:?}", report.failures);
}

/// What is left of a second since `since`.
fn rest_of_a_second(since: Instant) -> Duration {
    Duration::from_secs(1).saturating_sub(since.elapsed())
}

#[tokio::test]
async fn the_index_follows_an_import_and_a_stock_change_within_a_second() {
    let app = spawn_app().await;
    let imported = Instant::now();
    import(&app, "catalog", PARKA).await;
    until(&app, PARKA_SEARCH, rest_of_a_second(imported), |s| {
        s["totalCount"] == 1
    })
    .await;
    assert_eq!(
        app.data(PARKA_IN_STOCK, json!({})).await["search"]["totalCount"],
        0,
        "no stock yet"
    );
    let stocked = Instant::now();
    import(&app, "inventory", r#"{"sku":"AP-M","quantity":3}"#).await;
    until(&app, PARKA_IN_STOCK, rest_of_a_second(stocked), |s| {
        s["totalCount"] == 1
    })
    .await;
}

async fn replica_over(
    config: storefront_gateway::config::Config,
    table: &Arc<storefront_loaders::store::DynamoTable>,
) -> TestApp {
    let mut config = config;
    config.store = StoreEngine::Aws;
    spawn_with_store(
        config,
        Arc::clone(table) as Arc<dyn storefront_loaders::store::Table>,
    )
    .await
}

#[tokio::test]
async fn an_import_on_one_replica_is_searchable_on_another_within_a_second() {
    let replica = replicas_sharing_redis();
    let table = Arc::new(fresh_dynamo_table().await);
    let a = replica_over(replica(), &table).await;
    let b = replica_over(replica(), &table).await;
    let imported = Instant::now();
    import(&a, "catalog", PARKA).await;
    until(&b, PARKA_SEARCH, rest_of_a_second(imported), |s| {
        s["totalCount"] == 1
    })
    .await;
    let stocked = Instant::now();
    import(&a, "inventory", r#"{"sku":"AP-L","quantity":2}"#).await;
    until(&b, PARKA_IN_STOCK, rest_of_a_second(stocked), |s| {
        s["totalCount"] == 1
    })
    .await;
}

#[tokio::test]
async fn without_redis_an_import_elsewhere_is_noticed_by_the_catalog_revision() {
    let table = Arc::new(fresh_dynamo_table().await);
    let a = replica_over(test_config(), &table).await;
    let b = replica_over(test_config(), &table).await;
    import(&a, "catalog", PARKA).await;
    // B hears nothing of A's writes: it reads the revision every few seconds and rebuilds.
    until(&b, PARKA_SEARCH, Duration::from_secs(15), |s| {
        s["totalCount"] == 1
    })
    .await;
}

#[tokio::test]
async fn bad_search_input_is_a_clear_error_never_a_failure() {
    let app = spawn_app().await;
    for (filters, expected) in [
        (json!([{"vendor": "A", "tag": "b"}]), "exactly one field"),
        (json!([{}]), "exactly one field"),
        (json!([{"price": {"min": "50", "max": "10"}}]), "above"),
        (json!([{"price": {"min": "-1"}}]), "negative"),
        (json!([{"vendor": "  "}]), "1 to 255"),
    ] {
        let (_, body) = app
            .post(
                "query($f: [SearchProductFilter!]) { search(query: \"a\", first: 1, productFilters: $f) { totalCount } }",
                json!({"f": filters}),
            )
            .await;
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{body}"
        );
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .expect("message")
                .contains(expected),
            "{body}"
        );
    }
    let too_many: Vec<Value> = (0..26).map(|i| json!({"tag": format!("t{i}")})).collect();
    assert_eq!(
        app.error_codes(
            "query($f: [SearchProductFilter!]) { search(query: \"a\", first: 1, productFilters: $f) { totalCount } }",
            json!({"f": too_many})
        )
        .await,
        ["BAD_USER_INPUT"],
        "at most 25 filters"
    );
    let long = "x".repeat(501);
    assert_eq!(
        app.error_codes(
            "query($q: String!) { search(query: $q, first: 1) { totalCount } }",
            json!({"q": long})
        )
        .await,
        ["BAD_USER_INPUT"]
    );
    let other = app
        .data(
            "{ search(query: \"wool\", first: 1) { pageInfo { endCursor } } }",
            json!({}),
        )
        .await;
    let cursor = other["search"]["pageInfo"]["endCursor"].clone();
    assert_eq!(
        app.error_codes(
            "query($c: String) { search(query: \"linen\", first: 1, after: $c) { totalCount } }",
            json!({"c": cursor})
        )
        .await,
        ["INVALID_CURSOR"],
        "a cursor of another search"
    );
    assert_eq!(
        app.error_codes(
            "{ predictiveSearch(query: \"a\", limit: 26) { queries { text } } }",
            json!({})
        )
        .await,
        ["BAD_USER_INPUT"]
    );
}

#[tokio::test]
async fn predictive_search_suggests_products_categories_and_queries_as_the_shopper_types() {
    let app = spawn_app().await;
    let data = app
        .data(
            "{ predictiveSearch(query: \"wool jac\", limit: 5) { products { title } categories { handle } queries { text } } }",
            json!({}),
        )
        .await;
    let found = &data["predictiveSearch"];
    let products = found["products"].as_array().expect("products");
    assert!(!products.is_empty() && products.len() <= 5);
    assert!(
        products.iter().all(|p| {
            let t = p["title"].as_str().expect("title").to_lowercase();
            t.contains("wool") || t.contains("jac")
        }),
        "{found}"
    );
    assert!(
        found["queries"]
            .as_array()
            .expect("queries")
            .iter()
            .any(|q| q["text"] == "wool jacket"),
        "{found}"
    );
    assert!(
        found["categories"]
            .as_array()
            .expect("categories")
            .iter()
            .any(|c| c["handle"] == "men-jackets"),
        "{found}"
    );
    let only = app
        .data("{ predictiveSearch(query: \"sh\", types: [QUERY]) { products { id } categories { id } queries { text } } }", json!({}))
        .await;
    assert_eq!(only["predictiveSearch"]["products"], json!([]));
    assert!(
        only["predictiveSearch"]["queries"]
            .as_array()
            .is_some_and(|q| !q.is_empty())
    );
}
