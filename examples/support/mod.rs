//! What the benchmarks share: their settings from the environment, a GraphQL call over HTTP,
//! and percentiles of latencies.

use std::time::Duration;

use serde_json::{Value, json};

/// The whole number in the variable `name`, else `default`.
pub fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// POSTs an operation to `url`; its `data`, or the GraphQL errors as an error.
pub async fn graphql(
    client: &reqwest::Client,
    url: &str,
    query: &str,
    variables: Value,
) -> anyhow::Result<Value> {
    let body: Value = client
        .post(url)
        .json(&json!({"query": query, "variables": variables}))
        .send()
        .await?
        .json()
        .await?;
    if let Some(errors) = body.get("errors") {
        anyhow::bail!("GraphQL errors: {errors}");
    }
    Ok(body["data"].clone())
}

/// The `p` percentile of `sorted` latencies, in milliseconds (0 for none).
pub fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// A new, bootstrapped table of its own in the DynamoDB at `url` (DynamoDB Local), with
/// static local credentials.
#[allow(dead_code, reason = "only the benchmarks over DynamoDB use it")]
pub async fn fresh_dynamo_table(
    url: String,
    prefix: &str,
) -> anyhow::Result<storefront_loaders::store::DynamoTable> {
    let client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::new()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
            .endpoint_url(url)
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "local", "local", None, None, "bench",
            ))
            .build(),
    );
    let table = storefront_loaders::store::DynamoTable::with_client(
        client,
        format!("{prefix}-{}", uuid::Uuid::new_v4().simple()),
    );
    table.bootstrap().await?;
    Ok(table)
}
