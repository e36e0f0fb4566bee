//! Fraud detection over HTTP: a blocked sign-in answered as wrong credentials, a held
//! checkout an admin releases or cancels, Fraud Detector's request shape and its outcomes,
//! failing open or closed on a detector that hangs, and checkout velocity counted across two
//! replicas through Redis.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::checkout::{cart_with, checkout, checkout_config, placed_order_ids, variant_with_stock};
use crate::customer::{PASSWORD, SIGN_IN, signed_in};
use crate::support::{
    TestApp, replicas_sharing_redis, spawn_app_with, spawn_with_store, with_admin_key,
};

const DECISIONS: &str = "query($order: String, $email: String) {
  fraudDecisions(orderId: $order, email: $email) { event engine verdict score reasons email orderId }
}";
const RESOLVE: &str = "mutation($id: String!, $action: ReviewAction!) {
  orderReviewResolve(orderId: $id, action: $action) { orderId status userErrors { code } }
}";
const ORDER: &str = "query($id: ID!) { order(id: $id) { status payment { state } } }";

async fn decisions(app: &TestApp, variables: Value) -> Value {
    let answer = app
        .post_with_key("fraud-secret", DECISIONS, variables)
        .await;
    assert!(answer.get("errors").is_none(), "{answer:#}");
    answer["data"]["fraudDecisions"].clone()
}

#[tokio::test]
async fn a_blocked_sign_in_is_answered_exactly_as_a_wrong_password_and_recorded_for_admins() {
    let mut config = checkout_config();
    // Sign-ups and sign-ins share one count per client address: the sign-up and the first
    // sign-in pass; the next is over it.
    config.set("fraud", "rules.sign_ins_per_window", 2);
    with_admin_key(&mut config, "fraud", "fraud-secret");
    let app = spawn_app_with(config).await;
    let email = "mallory@example.com";
    signed_in(&app, email, "Mallory").await;

    let blocked = app
        .data(SIGN_IN, json!({"email": email, "password": PASSWORD}))
        .await;
    let wrong = app
        .data(
            SIGN_IN,
            json!({"email": email, "password": "not the password 1"}),
        )
        .await;
    assert_eq!(
        blocked, wrong,
        "a block tells nothing a wrong password does not: {blocked:#} {wrong:#}"
    );
    assert_eq!(
        blocked["customerSignIn"]["userErrors"][0]["code"], "UNIDENTIFIED_CUSTOMER",
        "{blocked:#}"
    );

    let found = decisions(&app, json!({"email": "Mallory@Example.com"})).await;
    let verdicts: Vec<(&str, &str)> = found
        .as_array()
        .expect("decisions")
        .iter()
        .map(|d| {
            (
                d["event"].as_str().expect("event"),
                d["verdict"].as_str().expect("verdict"),
            )
        })
        .collect();
    // Newest first: the wrong password, the block, the first sign-in, the sign-up.
    assert_eq!(
        verdicts,
        [
            ("SIGN_IN", "BLOCK"),
            ("SIGN_IN", "BLOCK"),
            ("SIGN_IN", "APPROVE"),
            ("SIGN_UP", "APPROVE")
        ]
    );
    assert!(
        found[0]["reasons"][0]
            .as_str()
            .expect("reason")
            .contains("client address"),
        "{found:#}"
    );
    let anonymous = app.post(DECISIONS, json!({"email": email})).await.1;
    assert_eq!(anonymous["errors"][0]["extensions"]["code"], "FORBIDDEN");
}

#[tokio::test]
async fn a_held_checkout_is_released_or_cancelled_by_an_admin_only() {
    let mut config = checkout_config();
    config.set("fraud", "rules.review_over", "1");
    with_admin_key(&mut config, "fraud", "fraud-secret");
    let app = spawn_app_with(config).await;
    let variant = variant_with_stock(&app, 10).await;
    let mut held = Vec::new();
    for n in 0..2 {
        let cart = cart_with(&app, &variant, 1).await;
        let placed = checkout(
            &app,
            &cart,
            &format!("held-order-{n}"),
            "eve@example.com",
            "tok_visa",
        )
        .await;
        assert_eq!(placed["order"]["status"], "ON_HOLD", "{placed:#}");
        held.push(placed["order"]["id"].as_str().expect("token").to_owned());
    }
    let ids = placed_order_ids(&app).await;
    let found = decisions(&app, json!({"order": ids[0]})).await;
    assert_eq!(found.as_array().map(Vec::len), Some(1), "{found:#}");
    assert_eq!(found[0]["verdict"], "REVIEW");
    assert_eq!(found[0]["engine"], "rules");
    assert!(
        found[0]["reasons"][0]
            .as_str()
            .expect("reason")
            .contains("is over 1"),
        "{found:#}"
    );

    let customer = app
        .post(RESOLVE, json!({"id": ids[0], "action": "RELEASE"}))
        .await
        .1;
    assert_eq!(customer["errors"][0]["extensions"]["code"], "FORBIDDEN");

    // Two admins release the same order at once: it is released once.
    let (a, b) = futures::join!(
        app.post_with_key(
            "fraud-secret",
            RESOLVE,
            json!({"id": ids[0], "action": "RELEASE"})
        ),
        app.post_with_key(
            "fraud-secret",
            RESOLVE,
            json!({"id": ids[0], "action": "RELEASE"})
        ),
    );
    let outcomes: Vec<Value> = [a, b]
        .iter()
        .map(|r| r["data"]["orderReviewResolve"].clone())
        .collect();
    assert_eq!(
        outcomes.iter().filter(|o| o["status"] == "PAID").count(),
        1,
        "{outcomes:#?}"
    );
    assert!(
        outcomes
            .iter()
            .any(|o| o["userErrors"][0]["code"] == "ILLEGAL_TRANSITION"),
        "{outcomes:#?}"
    );
    let released = app.data(ORDER, json!({"id": held[0]})).await;
    assert_eq!(
        released["order"],
        json!({"status": "PAID", "payment": {"state": "CAPTURED"}})
    );

    let cancelled = app
        .post_with_key(
            "fraud-secret",
            RESOLVE,
            json!({"id": ids[1], "action": "CANCEL"}),
        )
        .await;
    assert_eq!(
        cancelled["data"]["orderReviewResolve"]["status"], "CANCELLED",
        "{cancelled:#}"
    );
    let voided = app.data(ORDER, json!({"id": held[1]})).await;
    assert_eq!(
        voided["order"],
        json!({"status": "CANCELLED", "payment": {"state": "VOIDED"}})
    );
    let again = app
        .post_with_key(
            "fraud-secret",
            RESOLVE,
            json!({"id": ids[0], "action": "CANCEL"}),
        )
        .await;
    assert_eq!(
        again["data"]["orderReviewResolve"]["userErrors"][0]["code"], "ILLEGAL_TRANSITION",
        "a released order is no longer held"
    );
}

/// A gateway scoring with Fraud Detector at `url`.
fn detector_config(url: &str, on_failure: &str) -> storefront_gateway::config::Config {
    let mut config = checkout_config();
    config.aws.region = Some("us-east-1".into());
    config.set("fraud", "engine", "frauddetector");
    config.set("fraud", "timeout_millis", 300);
    config.set("fraud", "on_failure", on_failure);
    config.set("fraud", "detector.detector_id", "storefront_checkout");
    config.set("fraud", "detector.event_type", "storefront_event");
    config.set("fraud", "detector.endpoint_url", url);
    config.set("fraud", "detector.outcomes.investigate", "REVIEW");
    config.set("fraud", "detector.outcomes.deny", "BLOCK");
    with_admin_key(&mut config, "fraud", "fraud-secret");
    config
}

#[tokio::test]
async fn fraud_detector_gets_the_documented_request_and_its_outcomes_map_to_verdicts() {
    let fake = crate::fake_aws::FakeAws::start("frauddetector", "us-east-1", |request| {
        let body = request.json();
        let variables = &body["eventVariables"];
        let amount: f64 = variables["order_price"]
            .as_str()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0.0);
        let outcome = if amount > 30.0 { "investigate" } else { "approve" };
        Some((
            StatusCode::OK,
            json!({
                "modelScores": [{"modelVersion": {"modelId": "m", "modelType": "ONLINE_FRAUD_INSIGHTS", "modelVersionNumber": "1.0"},
                                 "scores": {"m_insightscore": 870.0}}],
                "ruleResults": [{"ruleId": "large_order", "outcomes": [outcome]}]
            }),
        ))
    })
    .await;
    let app = spawn_app_with(detector_config(&fake.url(), "open")).await;
    let variant = variant_with_stock(&app, 10).await;
    let small = checkout(
        &app,
        &cart_with(&app, &variant, 1).await,
        "detector-order-1",
        "eve@example.com",
        "tok_visa",
    )
    .await;
    assert_eq!(small["order"]["status"], "PAID", "{small:#}");
    let large = checkout(
        &app,
        &cart_with(&app, &variant, 5).await,
        "detector-order-2",
        "eve@example.com",
        "tok_visa",
    )
    .await;
    let found = decisions(&app, json!({"email": "eve@example.com"})).await;
    assert_eq!(found[0]["engine"], "frauddetector", "{found:#}");
    assert_eq!(found[0]["score"], 870);
    assert_eq!(
        found[0]["reasons"],
        json!(["rule large_order gave investigate"])
    );
    assert_eq!(large["order"]["status"], "ON_HOLD", "{large:#}");

    assert!(fake.problems().is_empty(), "{:?}", fake.problems());
    let requests = fake.received();
    assert_eq!(requests.len(), 2);
    for request in &requests {
        assert_eq!(
            request.target,
            "AWSHawksNestServiceFacade.GetEventPrediction"
        );
        assert_eq!(request.content_type, "application/x-amz-json-1.1");
        let body = request.json();
        assert_eq!(body["detectorId"], "storefront_checkout");
        assert_eq!(body["eventTypeName"], "storefront_event");
        assert!(body["eventId"].as_str().is_some_and(|id| !id.is_empty()));
        let at = body["eventTimestamp"].as_str().expect("timestamp");
        assert!(chrono::DateTime::parse_from_rfc3339(at).is_ok(), "{at}");
        assert_eq!(
            body["entities"],
            json!([{"entityType": "customer", "entityId": "unknown"}])
        );
        let variables = body["eventVariables"].as_object().expect("variables");
        assert!(variables.values().all(Value::is_string), "{variables:?}");
        assert_eq!(variables["email_address"], "eve@example.com");
        assert_eq!(variables["event_kind"], "checkout");
        assert_eq!(variables["ip_address"], "127.0.0.1");
        assert_eq!(variables["shipping_country"], "US");
        assert_eq!(variables["billing_country"], "US");
        assert!(variables.contains_key("card_fingerprint"));
        assert!(
            !request.body.contains("tok_visa"),
            "the payment token never leaves the gateway"
        );
    }
}

#[tokio::test]
async fn a_hanging_fraud_detector_fails_open_or_closed_as_configured() {
    let fake = crate::fake_aws::FakeAws::start("frauddetector", "us-east-1", |_| None).await;
    for (mode, expected) in [("open", "PAID"), ("closed", "FRAUD_BLOCKED")] {
        let app = spawn_app_with(detector_config(&fake.url(), mode)).await;
        let variant = variant_with_stock(&app, 10).await;
        let answer = checkout(
            &app,
            &cart_with(&app, &variant, 1).await,
            &format!("hanging-order-{mode}"),
            "eve@example.com",
            "tok_visa",
        )
        .await;
        let got = answer["order"]["status"]
            .as_str()
            .or(answer["userErrors"][0]["code"].as_str())
            .expect("an outcome");
        assert_eq!(got, expected, "{mode}: {answer:#}");
        let found = decisions(&app, json!({"email": "eve@example.com"})).await;
        assert_eq!(found[0]["engine"], "fallback", "{found:#}");
        assert!(
            found[0]["reasons"][0]
                .as_str()
                .expect("reason")
                .ends_with(&format!("failed {mode}")),
            "{found:#}"
        );
    }
}

#[tokio::test]
async fn checkout_velocity_is_counted_across_replicas_through_redis() {
    let replica = replicas_sharing_redis();
    let configure = || {
        let mut config = replica();
        config.rate_limit.enabled = false;
        config.set("fraud", "rules.checkouts_per_window", 2);
        config
    };
    let store = storefront_gateway::app::open_store(&configure())
        .await
        .expect("store");
    let a = spawn_with_store(configure(), std::sync::Arc::clone(&store)).await;
    let b = spawn_with_store(configure(), store).await;
    let variant = variant_with_stock(&a, 10).await;
    let mut statuses = Vec::new();
    for (n, app) in [&a, &a, &b].into_iter().enumerate() {
        let placed = checkout(
            app,
            &cart_with(app, &variant, 1).await,
            &format!("velocity-order-{n}"),
            "velocity@example.com",
            "tok_visa",
        )
        .await;
        statuses.push(
            placed["order"]["status"]
                .as_str()
                .expect("status")
                .to_owned(),
        );
    }
    assert_eq!(statuses, ["PAID", "PAID", "ON_HOLD"]);
}
