//! Health for load balancers: `/readyz` is ready when every configured backend answers, and
//! names the one that does not.

use serde_json::{Value, json};

use crate::support::{TestApp, spawn_app, spawn_app_with, spawn_with_store, test_config};

async fn ready(app: &TestApp) -> (u16, Value) {
    let response = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

#[tokio::test]
async fn the_embedded_store_is_ready_when_open() {
    let app = spawn_app().await;
    assert_eq!(
        ready(&app).await,
        (200, json!({"status": "ready", "checks": {"store": "ok"}}))
    );
}

#[tokio::test]
async fn an_unreachable_redis_is_named_and_the_replica_is_not_ready() {
    let port = crate::support::free_port();
    let mut config = test_config();
    config.cache.redis_url = Some(format!("redis://127.0.0.1:{port}"));
    let app = spawn_app_with(config).await;
    let (status, body) = ready(&app).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["checks"]["store"], "ok");
    assert_ne!(body["checks"]["redis"], "ok", "{body}");

    // In production the check is named, its reason only logged.
    let mut config = test_config();
    config.mode = storefront_gateway::config::Mode::Production;
    config.cache.redis_url = Some(format!("redis://127.0.0.1:{port}"));
    let app = spawn_app_with(config).await;
    let (status, body) = ready(&app).await;
    assert_eq!(status, 503);
    assert_eq!(body["checks"]["redis"], "failing");
}

#[tokio::test]
async fn a_store_that_stops_answering_is_named() {
    let mut config = test_config();
    config.store = storefront_gateway::config::StoreEngine::Aws;
    let table = crate::support::fresh_dynamo_table().await;
    let name = table.table_name().to_owned();
    let app = spawn_with_store(config, std::sync::Arc::new(table)).await;
    assert_eq!(ready(&app).await.0, 200);
    // The table goes away under the running gateway.
    crate::support::dynamo_client()
        .delete_table()
        .table_name(&name)
        .send()
        .await
        .expect("table deleted");
    let (status, body) = ready(&app).await;
    assert_eq!(status, 503, "{body}");
    assert_ne!(body["checks"]["store"], "ok", "{body}");
}
