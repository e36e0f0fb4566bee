//! GraphQL request metrics: operations by name, type and outcome, latency per operation and
//! errors by code, with operation names bounded so that clients cannot multiply the series.

use std::collections::BTreeSet;

use futures::future::join_all;
use serde_json::json;

use crate::support::{spawn_app_with, test_config};

#[tokio::test]
async fn operations_are_counted_by_name_type_and_outcome_and_errors_by_code() {
    let mut config = test_config();
    config.http.operation_names = 2;
    let app = spawn_app_with(config).await;
    let query =
        |name: &str| format!("query {name} {{ categories(first: 1) {{ nodes {{ handle }} }} }}");
    for name in ["Home", "Home", "Menu"] {
        app.data(&query(name), json!({})).await;
    }
    app.data("{ categories(first: 1) { nodes { handle } } }", json!({}))
        .await;
    let (_, refused) = app.post("query Broken { nope }", json!({})).await;
    assert!(refused["errors"].is_array());
    let (status, _) = app
        .client
        .post(app.url("/graphql"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .map(|r| (r.status().as_u16(), ()))
        .expect("request");
    assert_eq!(status, 400);
    let (_, _, mutation) = app
        .post_as(
            "not-a-token",
            "mutation Anon { cartCreate(input: {}) { cart { id } } }",
            json!({}),
        )
        .await;
    assert!(mutation["errors"].is_array());

    let m = &app.app.metrics;
    let count = |operation: &str, kind: &str, outcome: &str| {
        m.sample(
            "storefront_graphql_operations_total",
            &[
                ("operation", operation),
                ("kind", kind),
                ("outcome", outcome),
            ],
        )
    };
    assert_eq!(count("Home", "query", "ok"), 2.0);
    assert_eq!(count("Menu", "query", "ok"), 1.0);
    assert_eq!(count("anonymous", "query", "ok"), 1.0);
    // The third name is past the bound of 2.
    assert_eq!(count("other", "query", "refused"), 1.0);
    // The malformed body, and the mutation whose token was refused before it was read.
    assert_eq!(count("unknown", "unknown", "refused"), 2.0);
    assert_eq!(
        m.sample(
            "storefront_graphql_errors_total",
            &[("code", "GRAPHQL_VALIDATION_FAILED")]
        ),
        1.0
    );
    assert_eq!(
        m.sample(
            "storefront_graphql_errors_total",
            &[("code", "BAD_REQUEST")]
        ),
        1.0
    );
    assert_eq!(
        m.sample(
            "storefront_graphql_errors_total",
            &[("code", "UNAUTHENTICATED")]
        ),
        1.0
    );
    assert_eq!(
        m.sample(
            "storefront_graphql_operation_seconds_count",
            &[("operation", "Home")]
        ),
        2.0
    );
    // The series are on /metrics as Prometheus reads them.
    let text = app.metrics_text().await;
    assert!(
        text.contains(
            "storefront_graphql_operations_total{operation=\"Home\",kind=\"query\",outcome=\"ok\"} 2"
        ),
        "{text}"
    );
}

#[tokio::test]
async fn a_client_inventing_names_by_the_hundred_cannot_multiply_the_series() {
    let mut config = test_config();
    config.http.operation_names = 5;
    config.rate_limit.enabled = false;
    let app = spawn_app_with(config).await;
    join_all((0..300).map(|i| {
        let app = &app;
        async move {
            app.data(&format!("query Op{i} {{ shop {{ name }} }}"), json!({}))
                .await
        }
    }))
    .await;
    let labels: BTreeSet<String> = app
        .app
        .metrics
        .render()
        .lines()
        .filter(|l| l.starts_with("storefront_graphql_operations_total{"))
        .filter_map(|l| {
            l.split("operation=\"")
                .nth(1)?
                .split('"')
                .next()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(labels.len(), 6, "five names and `other`: {labels:?}");
    assert!(labels.contains("other"));
    assert_eq!(
        app.app.metrics.sample(
            "storefront_graphql_operations_total",
            &[("operation", "other"), ("kind", "query"), ("outcome", "ok")]
        ),
        295.0
    );
}
