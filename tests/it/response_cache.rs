//! The response cache: public answers kept whole, dropped on every replica by the writes they
//! depend on, never shared with or taken from a signed-in customer, keyed so that neither
//! variables nor headers can make two requests share an entry.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use storefront_loaders::store::{RedbTable, Table};

use crate::customer::signed_in;
use crate::support::{TestApp, replicas_sharing_redis, spawn_app, spawn_with_store, test_config};

/// How long a replica may go on serving an answer after another replica acknowledged a write
/// it depends on: the Redis pub/sub delivery of the invalidation (milliseconds in practice;
/// the README states this bound).
const INVALIDATION_DELAY: Duration = Duration::from_secs(1);

const STOCK: &str = "query Stock($handle: String!) { product(handle: $handle) { handle variants(first: 1) { nodes { sku quantityAvailable price { amount } } } } }";

const PAGE: &str = "query Page($handle: String) { products(first: 50, filter: { categoryHandle: $handle }) { nodes { handle title } } }";

/// A POST of `query` with extra headers: the status, the headers and the body's exact text.
async fn ask(
    app: &TestApp,
    query: &str,
    variables: Value,
    headers: &[(&str, &str)],
) -> (u16, HeaderMap, String) {
    let mut request = app
        .client
        .post(app.url("/graphql"))
        .json(&json!({"query": query, "variables": variables}));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.expect("body"))
}

/// What the cache did for an answer (`hit`, `miss`, `bypass`), or `-` when it was not asked.
fn outcome(headers: &HeaderMap) -> String {
    headers
        .get("x-response-cache")
        .map_or("-".into(), |v| v.to_str().expect("ascii").to_owned())
}

/// The outcome and the body of a query.
async fn cached(app: &TestApp, query: &str, variables: Value) -> (String, Value) {
    let (status, headers, body) = ask(app, query, variables, &[]).await;
    assert_eq!(status, 200, "{body}");
    (
        outcome(&headers),
        serde_json::from_str(&body).expect("JSON body"),
    )
}

fn quantity(body: &Value) -> Value {
    body["data"]["product"]["variants"]["nodes"][0]["quantityAvailable"].clone()
}

/// Two replicas over one store, sharing one Redis.
async fn replicas() -> (TestApp, TestApp) {
    let replica = replicas_sharing_redis();
    let store: Arc<dyn Table> = Arc::new(RedbTable::in_memory().expect("memory store"));
    let a = spawn_with_store(replica(), Arc::clone(&store)).await;
    let b = spawn_with_store(replica(), store).await;
    (a, b)
}

/// Asks `app` until `done` holds of the answer; fails once `within` has passed.
async fn until(
    app: &TestApp,
    query: &str,
    variables: &Value,
    within: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let started = Instant::now();
    loop {
        let (_, body) = cached(app, query, variables.clone()).await;
        if done(&body) {
            return body;
        }
        assert!(started.elapsed() < within, "still {body} after {within:?}");
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn an_inventory_import_on_one_replica_drops_the_cached_answer_on_both() {
    let (a, b) = replicas().await;
    let (handle, sku) = a.first_handle_and_sku().await;
    let vars = json!({"handle": handle});
    assert_eq!(cached(&b, STOCK, vars.clone()).await.0, "miss");
    let (seen, before) = cached(&b, STOCK, vars.clone()).await;
    assert_eq!(seen, "hit", "B answers from memory");
    let (seen, on_a) = cached(&a, STOCK, vars.clone()).await;
    assert_eq!(seen, "hit", "A answers from Redis what B computed");
    assert_eq!(on_a, before);

    let report = a
        .import(
            "inventory",
            &json!({"sku": sku, "quantity": 4321}).to_string(),
        )
        .await;
    assert!(report.failures.is_empty(), "{report:?}");
    let (seen, after) = cached(&a, STOCK, vars.clone()).await;
    assert_eq!(
        (seen.as_str(), quantity(&after)),
        ("miss", json!(4321)),
        "the writer never serves its old answer once the write is acknowledged"
    );
    until(&b, STOCK, &vars, INVALIDATION_DELAY, |body| {
        quantity(body) == json!(4321)
    })
    .await;
    for _ in 0..20 {
        assert_eq!(
            quantity(&cached(&b, STOCK, vars.clone()).await.1),
            json!(4321)
        );
    }
}

#[tokio::test]
async fn a_price_change_and_a_new_product_in_a_listed_category_drop_the_cached_answers() {
    let app = spawn_app().await;
    let line = |handle: &str, price: &str| {
        json!({"handle": handle, "title": format!("Cache {handle}"), "vendor": "Cacheco",
               "categories": ["men-t-shirts"], "variants": [{"sku": format!("{handle}-1"), "price": price}]})
        .to_string()
    };
    assert!(
        app.import("catalog", &line("cache-tee", "10.00"))
            .await
            .failures
            .is_empty()
    );
    let stock = json!({"handle": "cache-tee"});
    cached(&app, STOCK, stock.clone()).await;
    let (seen, body) = cached(&app, STOCK, stock.clone()).await;
    assert_eq!(seen, "hit");
    assert_eq!(
        body["data"]["product"]["variants"]["nodes"][0]["price"]["amount"],
        "10.00"
    );

    assert!(
        app.import("catalog", &line("cache-tee", "12.50"))
            .await
            .failures
            .is_empty()
    );
    let (seen, body) = cached(&app, STOCK, stock.clone()).await;
    assert_eq!(seen, "miss");
    assert_eq!(
        body["data"]["product"]["variants"]["nodes"][0]["price"]["amount"],
        "12.50"
    );

    let page = json!({"handle": "men-t-shirts"});
    cached(&app, PAGE, page.clone()).await;
    let (seen, before) = cached(&app, PAGE, page.clone()).await;
    assert_eq!(seen, "hit");
    let handles = |body: &Value| -> Vec<String> {
        body["data"]["products"]["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .map(|n| n["handle"].as_str().expect("handle").to_owned())
            .collect()
    };
    assert!(!handles(&before).contains(&"cache-new-tee".to_owned()));
    assert!(
        app.import("catalog", &line("cache-new-tee", "5.00"))
            .await
            .failures
            .is_empty()
    );
    let (seen, after) = cached(&app, PAGE, page.clone()).await;
    assert_eq!(seen, "miss");
    assert!(
        handles(&after).contains(&"cache-new-tee".to_owned()),
        "{after}"
    );
    // Another category's page was not touched by it.
    let other = json!({"handle": "women"});
    cached(&app, PAGE, other.clone()).await;
    assert!(
        app.import("catalog", &line("cache-third-tee", "6.00"))
            .await
            .failures
            .is_empty()
    );
    assert_eq!(cached(&app, PAGE, other).await.0, "hit");
}

#[tokio::test]
async fn a_signed_in_customer_is_never_served_from_the_cache_nor_fills_it() {
    let app = spawn_app().await;
    let session = signed_in(&app, "cache@example.com", "Ada").await;
    let token = session["accessToken"].as_str().expect("token");
    let query = "{ products(first: 3) { nodes { handle } } }";
    cached(&app, query, json!({})).await;
    assert_eq!(cached(&app, query, json!({})).await.0, "hit");
    let bearer = format!("Bearer {token}");
    let (status, headers, _) = ask(&app, query, json!({}), &[("authorization", &bearer)]).await;
    assert_eq!((status, outcome(&headers)), (200, "-".to_owned()));
    assert_eq!(headers["cache-control"], "private, no-store");

    let mine = "{ customer { email firstName } products(first: 1) { nodes { handle } } }";
    for _ in 0..2 {
        let (_, headers, body) = ask(&app, mine, json!({}), &[("authorization", &bearer)]).await;
        assert_eq!(outcome(&headers), "-");
        assert!(body.contains("cache@example.com"), "{body}");
    }
    // Without the token the same document is an anonymous request: it may be cached, but it
    // never carries the customer's data.
    for _ in 0..2 {
        let (_, _, body) = ask(&app, mine, json!({}), &[]).await;
        assert!(!body.contains("cache@example.com"), "{body}");
    }
}

#[tokio::test]
async fn different_variables_never_share_an_entry() {
    let app = spawn_app().await;
    let data = app
        .data("{ products(first: 2) { nodes { handle } } }", json!({}))
        .await;
    let handles: Vec<&str> = data["products"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["handle"].as_str().expect("handle"))
        .collect();
    for _ in 0..2 {
        for handle in &handles {
            let (_, body) = cached(&app, STOCK, json!({"handle": handle})).await;
            assert_eq!(body["data"]["product"]["handle"], *handle);
        }
    }
    // The same value spelled as an absent variable and as null, and an extra variable: each
    // answered correctly (null finds nothing).
    let (_, body) = cached(&app, STOCK, json!({"handle": handles[0], "extra": 1})).await;
    assert_eq!(body["data"]["product"]["handle"], handles[0]);
    let (_, _, body) = ask(&app, STOCK, json!({}), &[]).await;
    assert!(
        body.contains("errors"),
        "a missing required variable is an error: {body}"
    );
    let (_, headers, again) = ask(&app, STOCK, json!({}), &[]).await;
    assert_eq!(
        outcome(&headers),
        "miss",
        "an answer with errors is never kept"
    );
    assert_eq!(again, body);
}

#[tokio::test]
async fn headers_outside_the_key_cannot_poison_the_cache() {
    let mut config = test_config();
    config.rate_limit.enabled = false;
    let app = crate::support::spawn_app_with(config).await;
    let query = "{ products(first: 5, sortKey: PRICE) { nodes { handle title priceRange { minVariantPrice { amount currencyCode } } } } }";
    let hostile: [(&str, &str); 8] = [
        ("x-forwarded-host", "evil.example"),
        ("x-forwarded-for", "6.6.6.6"),
        ("accept-language", "xx-EVIL"),
        ("user-agent", "evil-bot"),
        ("x-device-id", "evil-device"),
        ("x-api-key", "not-a-key"),
        ("accept", "application/json"),
        ("origin", "https://evil.example"),
    ];
    // The first answer of the document is made under each hostile header in turn (a bypass
    // computes afresh and keeps what it computed).
    for header in hostile {
        ask(
            &app,
            query,
            json!({}),
            &[header, ("x-response-cache", "bypass")],
        )
        .await;
    }
    let (_, headers, fresh) = ask(&app, query, json!({}), &[("x-response-cache", "bypass")]).await;
    assert_eq!(outcome(&headers), "bypass");
    let (_, headers, served) = ask(
        &app,
        query,
        json!({}),
        &[("accept", "application/graphql-response+json")],
    )
    .await;
    assert_eq!(outcome(&headers), "hit");
    assert_eq!(
        served, fresh,
        "what the cache serves is what a clean request computes"
    );
    assert!(
        headers["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("application/graphql-response+json"),
        "the media type follows the request, not the cached answer"
    );
    // A refused request (an unknown API key, when they are refused) is never kept either.
    let (status, headers, _) = ask(&app, query, json!({}), &[("x-api-key", "not-a-key")]).await;
    assert_ne!(outcome(&headers), "hit", "status {status}");
}

#[tokio::test]
async fn one_document_by_text_by_apq_over_get_and_by_bypass_shares_one_entry() {
    let app = spawn_app().await;
    let query = "{ categories(first: 5) { nodes { handle title } } }";
    assert_eq!(cached(&app, query, json!({})).await.0, "miss");
    let hash = storefront_schema::persisted::sha256_hex(query.as_bytes());
    let register = app
        .client
        .get(app.url("/graphql"))
        .query(&[
            ("query", query),
            (
                "extensions",
                &json!({"persistedQuery": {"version": 1, "sha256Hash": hash}}).to_string(),
            ),
        ])
        .send()
        .await
        .expect("register");
    assert_eq!(register.headers()["x-response-cache"], "hit");
    let by_hash = app
        .client
        .get(app.url("/graphql"))
        .query(&[(
            "extensions",
            &json!({"persistedQuery": {"version": 1, "sha256Hash": hash}}).to_string(),
        )])
        .send()
        .await
        .expect("by hash");
    assert_eq!(
        by_hash.status(),
        200,
        "the APQ registration happened on the hit"
    );
    assert_eq!(by_hash.headers()["x-response-cache"], "hit");
    assert!(by_hash.headers().contains_key("etag"));
    let metrics = app.metrics_text().await;
    assert!(
        metrics.contains(r#"storefront_response_cache_total{outcome="hit_l1"} 2"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"storefront_response_cache_total{outcome="stored"} 1"#));
}

#[tokio::test]
async fn answers_computed_while_stock_changes_never_outlive_the_last_write() {
    let (a, b) = replicas().await;
    let (handle, sku) = a.first_handle_and_sku().await;
    let vars = json!({"handle": handle});
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Shoppers read through both replicas while the stock moves, so fills race writes.
    let readers: Vec<_> = (0..6)
        .map(|i| {
            let app = if i % 2 == 0 { &a } else { &b };
            let (client, url) = (app.client.clone(), app.url("/graphql"));
            let stop = Arc::clone(&stop);
            let body = json!({"query": STOCK, "variables": vars});
            tokio::spawn(async move {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let sent = client.post(&url).json(&body).send().await.expect("read");
                    assert_eq!(sent.status(), 200);
                }
            })
        })
        .collect();
    for quantity in 1..=30 {
        let report = a
            .import(
                "inventory",
                &json!({"sku": sku, "quantity": quantity}).to_string(),
            )
            .await;
        assert!(report.failures.is_empty());
        tokio::task::yield_now().await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for reader in readers {
        reader.await.expect("reader");
    }
    for app in [&a, &b] {
        until(app, STOCK, &vars, INVALIDATION_DELAY, |body| {
            quantity(body) == json!(30)
        })
        .await;
        for _ in 0..20 {
            assert_eq!(
                quantity(&cached(app, STOCK, vars.clone()).await.1),
                json!(30)
            );
        }
    }
}

#[tokio::test]
async fn a_batched_request_is_neither_served_from_the_cache_nor_fills_it() {
    let app = spawn_app().await;
    let (handle, _) = app.first_handle_and_sku().await;
    let variables = json!({"handle": handle});
    // Filled by a single request, then a hit.
    assert_eq!(cached(&app, STOCK, variables.clone()).await.0, "miss");
    assert_eq!(cached(&app, STOCK, variables.clone()).await.0, "hit");
    let batch = |app: &TestApp| {
        app.client
            .post(app.url("/graphql"))
            .json(&json!([
                {"query": STOCK, "variables": variables},
                {"query": PAGE, "variables": {}},
            ]))
            .send()
    };
    let response = batch(&app).await.expect("batch");
    assert_eq!(outcome(response.headers()), "-", "the cache is not asked");
    let answers: Value = response.json().await.expect("JSON");
    assert_eq!(answers.as_array().map(Vec::len), Some(2));
    // A batch of only the page never fills its entry either.
    let page_only = app
        .client
        .post(app.url("/graphql"))
        .json(&json!([{"query": PAGE, "variables": {}}]))
        .send()
        .await
        .expect("batch");
    assert_eq!(outcome(page_only.headers()), "-");
    assert_eq!(cached(&app, PAGE, json!({})).await.0, "miss");
}
