//! Recommendations: learnt from views, carts and checkouts; one engine call per page; popular
//! products when the engine hangs; personal for signed-in customers; kept across restarts;
//! interactions validated and limited; Personalize's requests well-formed.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use futures::future::join_all;
use serde_json::{Value, json};

use crate::cart::{create_cart, stocked_variants};
use crate::checkout::{checkout, checkout_config};
use crate::customer::signed_in;
use crate::fake_aws::FakeAws;
use crate::support::{TestApp, spawn_app_with, spawn_with_store};

const TRACK: &str = "mutation($events: [TrackEventInput!]!, $session: String) { trackEvents(events: $events, sessionId: $session) { accepted userErrors { field code message } } }";

/// Checkout's test config, with a deadline no loaded test machine reaches where the
/// deadline is not what a test is about.
fn config() -> storefront_gateway::config::Config {
    checkout_config().with_section("recommend", "deadline_millis", 10_000)
}

async fn product_ids(app: &TestApp, count: usize) -> Vec<String> {
    let data = app
        .data(
            &format!("{{ products(first: {count}) {{ nodes {{ id }} }} }}"),
            json!({}),
        )
        .await;
    data["products"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["id"].as_str().expect("id").to_owned())
        .collect()
}

async fn track(app: &TestApp, session: Option<&str>, events: Value) -> Value {
    app.data(TRACK, json!({"events": events, "session": session}))
        .await["trackEvents"]
        .clone()
}

async fn recommended(app: &TestApp, product: &str, intent: &str) -> Vec<String> {
    let data = app
        .data(
            &format!("query($id: ID!) {{ productRecommendations(productId: $id, intent: {intent}, first: 5) {{ id }} }}"),
            json!({"id": product}),
        )
        .await;
    data["productRecommendations"]
        .as_array()
        .expect("list")
        .iter()
        .map(|p| p["id"].as_str().expect("id").to_owned())
        .collect()
}

fn view(product: &str) -> Value {
    json!({"type": "VIEW", "productId": product})
}

#[tokio::test]
async fn views_in_one_session_make_products_related() {
    let app = spawn_app_with(config()).await;
    let ids = product_ids(&app, 40).await;
    let (a, b) = (&ids[0], &ids[37]);
    let before = recommended(&app, a, "RELATED").await;
    assert_eq!(
        before.len(),
        5,
        "similar content fills in before anything is learnt"
    );
    assert!(!before.contains(a), "never the product itself");
    for session in ["s-1", "s-2", "s-3"] {
        let answer = track(&app, Some(session), json!([view(a), view(b)])).await;
        assert_eq!(answer, json!({"accepted": 2, "userErrors": []}));
    }
    let after = recommended(&app, a, "RELATED").await;
    assert_eq!(&after[0], b, "viewed together three times: {after:?}");
    assert_eq!(&recommended(&app, b, "RELATED").await[0], a, "both ways");
}

#[tokio::test]
async fn a_checkout_counts_its_basket_as_bought_together() {
    let app = spawn_app_with(config()).await;
    let stocked = stocked_variants(&app, 40).await;
    let product_of = |variant: &str| {
        let app = &app;
        let variant = variant.to_owned();
        async move {
            app.data(
                "query($id: ID!) { node(id: $id) { ... on ProductVariant { product { id } } } }",
                json!({"id": variant}),
            )
            .await["node"]["product"]["id"]
                .as_str()
                .expect("product")
                .to_owned()
        }
    };
    let mut variants = Vec::new();
    let mut products: Vec<String> = Vec::new();
    for (variant, _, _) in &stocked {
        let product = product_of(variant).await;
        if !products.contains(&product) {
            products.push(product);
            variants.push((variant.clone(),));
        }
        if products.len() == 2 {
            break;
        }
    }
    let (a, b) = (products[0].clone(), products[1].clone());
    let cart = create_cart(
        &app,
        None,
        json!([{"merchandiseId": variants[0].0, "quantity": 1}, {"merchandiseId": variants[1].0, "quantity": 1}]),
    )
    .await;
    let order = checkout(
        &app,
        cart["cart"]["id"].as_str().expect("cart"),
        "reco-order-1",
        "eve@example.com",
        "tok_visa",
    )
    .await;
    assert_eq!(order["order"]["status"], "PAID", "{order}");
    let started = Instant::now();
    loop {
        if recommended(&app, &a, "COMPLEMENTARY").await.first() == Some(&b) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the order was not learnt"
        );
        tokio::task::yield_now().await;
    }
    assert_eq!(
        recommended(&app, &b, "COMPLEMENTARY").await.first(),
        Some(&a)
    );
}

#[tokio::test]
async fn a_page_of_products_asks_the_recommender_once() {
    let app = spawn_app_with(config()).await;
    let calls = |app: &TestApp| {
        app.app.metrics.sample(
            "storefront_recommendation_calls_total",
            &[("engine", "embedded"), ("outcome", "ok")],
        )
    };
    let before = calls(&app);
    let data = app
        .data(
            "{ products(first: 20) { nodes { id recommendations(first: 3) { id } } } }",
            json!({}),
        )
        .await;
    let nodes = data["products"]["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 20);
    assert!(nodes.iter().all(|n| {
        n["recommendations"]
            .as_array()
            .is_some_and(|r| r.len() == 3)
    }));
    assert_eq!(calls(&app) - before, 1.0, "one engine call for 20 products");
    // The same page again is served from the cache: no engine call at all.
    app.data(
        "{ products(first: 20) { nodes { id recommendations(first: 3) { id } } } }",
        json!({}),
    )
    .await;
    assert_eq!(calls(&app) - before, 1.0);
}

#[tokio::test]
async fn recommended_products_are_personal_when_signed_in_and_popular_otherwise() {
    let app = spawn_app_with(config()).await;
    let ids = product_ids(&app, 30).await;
    // Popularity: product 5 is viewed most.
    for i in 0..4 {
        track(&app, Some(&format!("crowd-{i}")), json!([view(&ids[5])])).await;
    }
    track(&app, Some("crowd-x"), json!([view(&ids[6])])).await;
    let anonymous = app
        .data("{ recommendedProducts(first: 2) { id } }", json!({}))
        .await;
    assert_eq!(
        anonymous["recommendedProducts"],
        json!([{"id": ids[5]}, {"id": ids[6]}])
    );
    // Others viewed 10 with 20; Ada views 10: 20 is for her.
    for i in 0..3 {
        track(
            &app,
            Some(&format!("pair-{i}")),
            json!([view(&ids[10]), view(&ids[20])]),
        )
        .await;
    }
    let ada = signed_in(&app, "ada@example.com", "Ada").await["accessToken"]
        .as_str()
        .expect("token")
        .to_owned();
    let (_, _, body) = app
        .post_as(&ada, TRACK, json!({"events": [view(&ids[10])]}))
        .await;
    assert_eq!(body["data"]["trackEvents"]["accepted"], 1, "{body}");
    let (_, _, body) = app
        .post_as(&ada, "{ recommendedProducts(first: 3) { id } }", json!({}))
        .await;
    assert_eq!(
        body["data"]["recommendedProducts"][0]["id"],
        json!(ids[20]),
        "{body}"
    );
}

#[tokio::test]
async fn personalized_search_puts_the_customer_s_favourite_vendor_first() {
    let app = spawn_app_with(config()).await;
    let data = app
        .data(
            "{ search(query: \"\", first: 30) { nodes { id vendor } } }",
            json!({}),
        )
        .await;
    let nodes = data["search"]["nodes"].as_array().expect("nodes").clone();
    let favourite = nodes.last().expect("nodes")["vendor"]
        .as_str()
        .expect("vendor")
        .to_owned();
    let liked: Vec<Value> = nodes
        .iter()
        .filter(|n| n["vendor"] == favourite.as_str())
        .map(|n| view(n["id"].as_str().expect("id")))
        .collect();
    let bo = signed_in(&app, "bo@example.com", "Bo").await["accessToken"]
        .as_str()
        .expect("token")
        .to_owned();
    app.post_as(&bo, TRACK, json!({"events": liked})).await;
    let query = "query($p: Boolean!) { search(query: \"\", first: 30, personalized: $p) { nodes { id vendor } edges { cursor node { id } } } }";
    let (_, _, plain) = app.post_as(&bo, query, json!({"p": false})).await;
    let (_, _, personal) = app.post_as(&bo, query, json!({"p": true})).await;
    let vendors = |body: &Value| -> Vec<String> {
        body["data"]["search"]["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .map(|n| n["vendor"].as_str().expect("vendor").to_owned())
            .collect()
    };
    assert_ne!(vendors(&plain)[0], favourite);
    assert_eq!(
        vendors(&personal)[0],
        favourite,
        "the favourite vendor first"
    );
    let set = |body: &Value| -> HashSet<String> {
        body["data"]["search"]["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .map(|e| e.to_string())
            .collect()
    };
    assert_eq!(
        set(&plain),
        set(&personal),
        "the same products with the same cursors"
    );
    // A guest asking for personalisation gets the plain order.
    let guest = app.data(query, json!({"p": true})).await;
    assert_eq!(guest["search"]["nodes"], plain["data"]["search"]["nodes"]);
}

#[tokio::test]
async fn what_was_learnt_survives_a_restart() {
    let config = config();
    let store = storefront_gateway::app::open_store(&config)
        .await
        .expect("store");
    let first = spawn_with_store(config.clone(), std::sync::Arc::clone(&store)).await;
    let ids = product_ids(&first, 40).await;
    for session in ["r-1", "r-2"] {
        track(
            &first,
            Some(session),
            json!([view(&ids[1]), view(&ids[33])]),
        )
        .await;
    }
    let learnt = recommended(&first, &ids[1], "RELATED").await;
    assert_eq!(learnt[0], ids[33]);
    drop(first);
    let second = spawn_with_store(config, store).await;
    assert_eq!(recommended(&second, &ids[1], "RELATED").await, learnt);
}

#[tokio::test]
async fn bad_events_get_user_errors_and_good_ones_are_kept() {
    let app = spawn_app_with(config()).await;
    let ids = product_ids(&app, 1).await;
    let answer = track(
        &app,
        None,
        json!([
            view(&ids[0]),
            {"type": "VIEW"},
            {"type": "ADD_TO_CART", "productId": storefront_resolvers::ids::encode("Product", "nope").to_string()},
            {"type": "SEARCH", "query": "  "},
            {"type": "SEARCH", "query": "wool"},
            {"type": "PURCHASE", "productId": "not-an-id"}
        ]),
    )
    .await;
    assert_eq!(answer["accepted"], 2, "{answer}");
    let codes: Vec<&str> = answer["userErrors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["code"].as_str().expect("code"))
        .collect();
    assert_eq!(
        codes,
        [
            "MISSING_PRODUCT",
            "PRODUCT_NOT_FOUND",
            "MISSING_QUERY",
            "INVALID"
        ],
        "{answer}"
    );
    assert_eq!(
        app.error_codes(TRACK, json!({"events": [], "session": "bad session!"}))
            .await,
        ["BAD_USER_INPUT"]
    );
    let too_many: Vec<Value> = (0..51).map(|_| view(&ids[0])).collect();
    assert_eq!(
        app.error_codes(TRACK, json!({"events": too_many})).await,
        ["BAD_USER_INPUT"]
    );
}

#[tokio::test]
async fn concurrent_event_batches_cannot_spend_more_than_the_budget() {
    let app = spawn_app_with(config().with_section("recommend", "events_per_minute", 10)).await;
    let ids = product_ids(&app, 1).await;
    let five: Vec<Value> = (0..5).map(|_| view(&ids[0])).collect();
    let answers = join_all((0..6).map(|_| app.post(TRACK, json!({"events": five.clone()})))).await;
    let accepted = answers
        .iter()
        .filter(|(_, body)| body["data"]["trackEvents"]["accepted"] == 5)
        .count();
    let limited = answers
        .iter()
        .filter(|(_, body)| body["errors"][0]["extensions"]["code"] == "RATE_LIMITED")
        .count();
    assert_eq!((accepted, limited), (2, 4), "{answers:?}");
}

#[tokio::test]
async fn two_replicas_sharing_redis_cannot_spend_more_than_one_budget() {
    let replica = crate::support::replicas_sharing_redis();
    let store = storefront_gateway::app::open_store(&config())
        .await
        .expect("store");
    let config_of = || {
        let mut config = replica().with_section("recommend", "events_per_minute", 10);
        config.rate_limit.enabled = false;
        config
    };
    let a = spawn_with_store(config_of(), std::sync::Arc::clone(&store)).await;
    let b = spawn_with_store(config_of(), store).await;
    let ids = product_ids(&a, 1).await;
    let five: Vec<Value> = (0..5).map(|_| view(&ids[0])).collect();
    let calls = (0..6).map(|i| {
        let app = if i % 2 == 0 { &a } else { &b };
        app.post(TRACK, json!({"events": five.clone()}))
    });
    let answers = join_all(calls).await;
    let accepted = answers
        .iter()
        .filter(|(_, body)| body["data"]["trackEvents"]["accepted"] == 5)
        .count();
    assert_eq!(
        accepted, 2,
        "one budget of 10 events for both replicas: {answers:?}"
    );
}

async fn personalize_app(fake: &FakeAws, deadline_millis: i64) -> TestApp {
    spawn_app_with(personalize_config(config(), fake, deadline_millis)).await
}

fn personalize_config(
    base: storefront_gateway::config::Config,
    fake: &FakeAws,
    deadline_millis: i64,
) -> storefront_gateway::config::Config {
    base.with_section("recommend", "engine", "personalize")
        .with_section("recommend", "deadline_millis", deadline_millis)
        .with_section("recommend", "personalize.region", "us-east-1")
        .with_section("recommend", "personalize.endpoint_url", fake.url())
        .with_section(
            "recommend",
            "personalize.related_arn",
            "arn:aws:personalize:us-east-1:111122223333:recommender/similar",
        )
        .with_section(
            "recommend",
            "personalize.complementary_arn",
            "arn:aws:personalize:us-east-1:111122223333:campaign/bought-together",
        )
        .with_section(
            "recommend",
            "personalize.for_you_arn",
            "arn:aws:personalize:us-east-1:111122223333:recommender/for-you",
        )
        .with_section(
            "recommend",
            "personalize.ranking_arn",
            "arn:aws:personalize:us-east-1:111122223333:campaign/ranking",
        )
        .with_section("recommend", "personalize.tracking_id", "tracking-1")
}

#[tokio::test]
async fn personalize_receives_well_formed_requests_and_its_answers_are_served() {
    let answer_ids: std::sync::Arc<std::sync::Mutex<Vec<String>>> = Default::default();
    let ids_for_fake = std::sync::Arc::clone(&answer_ids);
    let fake = FakeAws::start("personalize", "us-east-1", move |request| {
        let items: Vec<Value> = ids_for_fake
            .lock()
            .expect("lock")
            .iter()
            .map(|id| json!({"itemId": id, "score": 0.5}))
            .collect();
        match request.path.as_str() {
            "/recommendations" => Some((
                StatusCode::OK,
                json!({"itemList": items, "recommendationId": "RID-1"}),
            )),
            "/personalize-ranking" => {
                let mut input: Vec<Value> = request.json()["inputList"]
                    .as_array()
                    .expect("inputList")
                    .clone();
                input.reverse();
                let ranked: Vec<Value> = input.iter().map(|id| json!({"itemId": id})).collect();
                Some((
                    StatusCode::OK,
                    json!({"personalizedRanking": ranked, "recommendationId": "RID-2"}),
                ))
            }
            "/events" => Some((StatusCode::OK, json!({}))),
            other => Some((
                StatusCode::NOT_FOUND,
                json!({"message": format!("no {other}")}),
            )),
        }
    })
    .await;
    let app = personalize_app(&fake, 2_000).await;
    let ids = product_ids(&app, 4).await;
    let raw: Vec<String> = ids
        .iter()
        .map(|id| {
            storefront_resolvers::ids::decode_as(&async_graphql::ID(id.clone()), "Product")
                .expect("id")
        })
        .collect();
    *answer_ids.lock().expect("lock") = vec![raw[2].clone(), raw[3].clone()];

    assert_eq!(
        recommended(&app, &ids[0], "RELATED").await[..2],
        [ids[2].clone(), ids[3].clone()]
    );
    let sent = fake
        .wait_for(Duration::from_secs(2), |r| r.path == "/recommendations")
        .await
        .json();
    assert_eq!(
        sent["recommenderArn"],
        "arn:aws:personalize:us-east-1:111122223333:recommender/similar"
    );
    assert_eq!(sent["itemId"], json!(raw[0]));
    assert_eq!(sent["numResults"], 5);
    recommended(&app, &ids[1], "COMPLEMENTARY").await;
    let sent = fake
        .wait_for(Duration::from_secs(2), |r| {
            r.path == "/recommendations" && r.body.contains("campaign/bought-together")
        })
        .await
        .json();
    assert_eq!(
        sent["campaignArn"],
        "arn:aws:personalize:us-east-1:111122223333:campaign/bought-together"
    );

    let cy = signed_in(&app, "cy@example.com", "Cy").await;
    let token = cy["accessToken"].as_str().expect("token").to_owned();
    app.post_as(&token, TRACK, json!({"events": [view(&ids[0])]}))
        .await;
    let events = fake
        .wait_for(Duration::from_secs(2), |r| r.path == "/events")
        .await
        .json();
    assert_eq!(events["trackingId"], "tracking-1");
    assert!(
        events["sessionId"]
            .as_str()
            .is_some_and(|s| s.starts_with("customer:")),
        "{events}"
    );
    assert_eq!(events["eventList"][0]["eventType"], "View");
    assert_eq!(events["eventList"][0]["itemId"], json!(raw[0]));
    assert!(events["eventList"][0]["sentAt"].is_number(), "{events}");

    let (_, _, body) = app
        .post_as(
            &token,
            "{ search(query: \"\", first: 3, personalized: true) { nodes { id } } }",
            json!({}),
        )
        .await;
    let ranking = fake
        .wait_for(Duration::from_secs(2), |r| r.path == "/personalize-ranking")
        .await
        .json();
    assert_eq!(
        ranking["campaignArn"],
        "arn:aws:personalize:us-east-1:111122223333:campaign/ranking"
    );
    assert_eq!(ranking["inputList"].as_array().map(Vec::len), Some(3));
    let served: Vec<Value> = body["data"]["search"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["id"].clone())
        .collect();
    let plain = app
        .data(
            "{ search(query: \"\", first: 3) { nodes { id } } }",
            json!({}),
        )
        .await;
    let mut expected: Vec<Value> = plain["search"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["id"].clone())
        .collect();
    expected.reverse();
    assert_eq!(served, expected, "the fake's ranking (reversed) is served");
    assert_eq!(fake.problems(), Vec::<String>::new());
}

#[tokio::test]
async fn a_hanging_recommender_degrades_to_popular_products_within_the_deadline() {
    let fake = FakeAws::start("personalize", "us-east-1", |request| {
        match request.path.as_str() {
            "/events" => Some((StatusCode::OK, json!({}))),
            _ => None,
        }
    })
    .await;
    let app = personalize_app(&fake, 200).await;
    let ids = product_ids(&app, 3).await;
    track(
        &app,
        Some("p-1"),
        json!([view(&ids[2]), view(&ids[1]), view(&ids[2])]),
    )
    .await;
    let started = Instant::now();
    let served = recommended(&app, &ids[0], "RELATED").await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "answered without waiting for the engine"
    );
    assert_eq!(
        served,
        [ids[2].clone(), ids[1].clone()],
        "the popular products, most viewed first"
    );
    assert_eq!(
        app.app.metrics.sample(
            "storefront_recommendation_calls_total",
            &[("engine", "personalize"), ("outcome", "timeout")]
        ),
        1.0
    );
}

#[tokio::test]
async fn replicas_share_recommendations_through_redis_until_the_product_changes() {
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = std::sync::Arc::clone(&calls);
    let fake = FakeAws::start("personalize", "us-east-1", move |request| {
        match request.path.as_str() {
            "/recommendations" => {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Some((
                    StatusCode::OK,
                    json!({"itemList": [], "recommendationId": "RID-3"}),
                ))
            }
            _ => Some((StatusCode::OK, json!({}))),
        }
    })
    .await;
    let replica = crate::support::replicas_sharing_redis();
    let store = storefront_gateway::app::open_store(&config())
        .await
        .expect("store");
    let mut config_a = personalize_config(replica(), &fake, 2_000);
    config_a.rate_limit.enabled = false;
    let a = spawn_with_store(config_a.clone(), std::sync::Arc::clone(&store)).await;
    let b = spawn_with_store(config_a, store).await;
    let line = |title: &str| {
        format!(
            r#"{{"handle":"shared-parka","title":"{title}","vendor":"Kestrel","productType":"Parka","variants":[{{"sku":"SP-1","price":"99.00"}}]}}"#
        )
    };
    a.import("catalog", &line("Shared Parka")).await;
    let id = a
        .data("{ product(handle: \"shared-parka\") { id } }", json!({}))
        .await["product"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let count = || calls.load(std::sync::atomic::Ordering::SeqCst);
    recommended(&a, &id, "RELATED").await;
    assert_eq!(count(), 1);
    recommended(&b, &id, "RELATED").await;
    assert_eq!(count(), 1, "the other replica read A's answer from Redis");
    a.import("catalog", &line("Shared Parka, renamed")).await;
    let started = Instant::now();
    loop {
        recommended(&b, &id, "RELATED").await;
        if count() == 2 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "B kept a stale answer"
        );
        tokio::task::yield_now().await;
    }
    assert_eq!(fake.problems(), Vec::<String>::new());
}
