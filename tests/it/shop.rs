//! The shop over HTTP: its settings, feature flags set by an admin (or imported) and seen on
//! another replica within a second, and web sessions that any replica serves.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::join_all;
use serde_json::{Value, json};
use storefront_gateway::config::StoreEngine;

use crate::support::{
    TestApp, fresh_dynamo_table, replicas_sharing_redis, spawn_app_with, spawn_with_store,
    test_config, with_admin_key,
};

const FLAG: &str = "query($key: String!, $context: FlagContextInput) {
  featureFlag(key: $key, context: $context) { key enabled variant }
}";
const SET_FLAG: &str = "mutation($input: FeatureFlagInput!) {
  featureFlagSet(input: $input) { key userErrors { field message } }
}";
const SESSION: &str = "query($id: String!) {
  session(id: $id) { cartId recentlyViewed consent { analytics marketing personalization } }
}";
const UPDATE: &str = "mutation($id: String!, $input: SessionUpdateInput!) {
  sessionUpdate(id: $id, input: $input) { session { recentlyViewed } }
}";

fn product(n: usize) -> String {
    storefront_resolvers::ids::encode("Product", &format!("p{n}")).to_string()
}

#[tokio::test]
async fn the_shop_answers_its_settings_and_every_flag_for_the_viewer() {
    let mut config = test_config();
    config.set("shop", "name", "Kestrel Outfitters");
    config.set("shop", "currency_code", "EUR");
    config.set("shop", "accepted_card_brands", vec!["VISA".to_owned()]);
    with_admin_key(&mut config, "ops", "ops-secret");
    let app = spawn_app_with(config).await;
    let report = app
        .import(
            "flags",
            r#"[{"key": "dark-mode"},
                {"key": "checkout-layout", "variants": [{"name": "one-page", "weight": 1}]},
                {"key": "de-only", "targeting": {"countries": ["DE"]}},
                {"key": "Bad Key"}]"#,
        )
        .await;
    assert_eq!(report.summary, "3 flags set, 1 refused");
    let data = app
        .data(
            "query($context: FlagContextInput) { shop { name currencyCode paymentSettings { acceptedCardBrands }
              featureFlags(context: $context) { key enabled variant } } }",
            json!({"context": {"sessionId": "s-1", "country": "FR"}}),
        )
        .await;
    assert_eq!(
        data,
        json!({"shop": {
            "name": "Kestrel Outfitters",
            "currencyCode": "EUR",
            "paymentSettings": {"acceptedCardBrands": ["VISA"]},
            "featureFlags": [
                {"key": "checkout-layout", "enabled": true, "variant": "one-page"},
                {"key": "dark-mode", "enabled": true, "variant": null},
                {"key": "de-only", "enabled": false, "variant": null}
            ]
        }})
    );
    let unknown = app.data(FLAG, json!({"key": "nope"})).await;
    assert_eq!(unknown["featureFlag"], Value::Null);

    let anonymous = app
        .post(SET_FLAG, json!({"input": {"key": "sneaky"}}))
        .await
        .1;
    assert_eq!(anonymous["errors"][0]["extensions"]["code"], "FORBIDDEN");
    let refused = app
        .post_with_key(
            "ops-secret",
            SET_FLAG,
            json!({"input": {"key": "half", "rolloutPercentage": 101}}),
        )
        .await;
    assert_eq!(
        refused["data"]["featureFlagSet"],
        json!({"key": null, "userErrors": [{"field": ["input", "key"], "message": "the rollout percentage is 0–100"}]})
    );
}

/// Polls `app` until the flag's answer is `enabled`; fails after a second.
async fn seen_within_a_second(app: &TestApp, key: &str, enabled: bool) {
    let started = Instant::now();
    loop {
        let data = app.data(FLAG, json!({"key": key})).await;
        if data["featureFlag"]["enabled"] == enabled {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "the other replica still answers {data} after a second"
        );
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn a_flag_change_on_one_replica_is_seen_on_the_other_within_a_second() {
    let replica = replicas_sharing_redis();
    let configure = || {
        let mut config = replica();
        with_admin_key(&mut config, "ops", "ops-secret");
        config
    };
    let store = storefront_gateway::app::open_store(&configure())
        .await
        .expect("store");
    let a = spawn_with_store(configure(), Arc::clone(&store)).await;
    let b = spawn_with_store(configure(), store).await;
    // B holds the flag's absence first: the change has to reach it.
    assert_eq!(
        b.data(FLAG, json!({"key": "new-search"})).await["featureFlag"],
        Value::Null
    );
    for enabled in [true, false, true] {
        let set = a
            .post_with_key(
                "ops-secret",
                SET_FLAG,
                json!({"input": {"key": "new-search", "enabled": enabled}}),
            )
            .await;
        assert_eq!(set["data"]["featureFlagSet"]["key"], "new-search", "{set}");
        seen_within_a_second(&b, "new-search", enabled).await;
    }
}

#[tokio::test]
async fn a_rollout_is_stable_per_viewer_across_requests_and_replicas() {
    let mut config = test_config();
    with_admin_key(&mut config, "ops", "ops-secret");
    let app = spawn_app_with(config).await;
    app.import("flags", r#"{"key": "beta", "rolloutPercentage": 30}"#)
        .await;
    let answers = join_all((0..200).map(|n| {
        app.data(
            FLAG,
            json!({"key": "beta", "context": {"sessionId": format!("session-{n}")}}),
        )
    }))
    .await;
    let again = join_all((0..200).map(|n| {
        app.data(
            FLAG,
            json!({"key": "beta", "context": {"sessionId": format!("session-{n}")}}),
        )
    }))
    .await;
    assert_eq!(answers, again, "each viewer keeps their answer");
    let on = answers
        .iter()
        .filter(|a| a["featureFlag"]["enabled"] == true)
        .count();
    assert!((30..=90).contains(&on), "{on} of 200 at 30%");
}

#[tokio::test]
async fn a_session_survives_a_request_routed_to_the_other_replica() {
    let table: Arc<dyn storefront_loaders::store::Table> = Arc::new(fresh_dynamo_table().await);
    let configure = || {
        let mut config = test_config();
        config.store = StoreEngine::Aws;
        config.set("catalog", "seed_demo", false);
        config.set("location", "seed_demo", false);
        config
    };
    let a = spawn_with_store(configure(), Arc::clone(&table)).await;
    let b = spawn_with_store(configure(), table).await;
    let started = a
        .data("mutation { sessionStart { sessionId } }", json!({}))
        .await;
    let id = started["sessionStart"]["sessionId"]
        .as_str()
        .expect("id")
        .to_owned();
    let changed = b
        .data(
            UPDATE,
            json!({"id": id, "input": {"cartId": "cart-token-1",
                "consent": {"analytics": true, "marketing": false, "personalization": true}}}),
        )
        .await;
    assert_eq!(
        changed["sessionUpdate"]["session"]["recentlyViewed"],
        json!([])
    );
    // 25 views at once, through both replicas: none lost, the newest 20 kept.
    let views = (0..25).map(|n| {
        let replica = if n % 2 == 0 { &a } else { &b };
        replica.data(
            UPDATE,
            json!({"id": id, "input": {"viewedProductId": product(n)}}),
        )
    });
    join_all(views).await;
    let session = a.data(SESSION, json!({"id": id})).await["session"].clone();
    assert_eq!(session["cartId"], "cart-token-1");
    assert_eq!(
        session["consent"],
        json!({"analytics": true, "marketing": false, "personalization": true})
    );
    let viewed = session["recentlyViewed"].as_array().expect("viewed");
    assert_eq!(viewed.len(), 20, "bounded");
    assert_eq!(
        viewed
            .iter()
            .filter_map(Value::as_str)
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        20,
        "no product twice"
    );

    let unknown = b
        .data(
            SESSION,
            json!({"id": "not-a-session-id-at-all-000000000000"}),
        )
        .await;
    assert_eq!(unknown["session"], Value::Null);
    let update_unknown = b
        .post(
            UPDATE,
            json!({"id": "not-a-session-id-at-all-000000000000", "input": {}}),
        )
        .await
        .1;
    assert_eq!(
        update_unknown["errors"][0]["extensions"]["code"],
        "NOT_FOUND"
    );
}
