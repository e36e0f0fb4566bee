//! GraphQL over HTTP: media types, status codes, GET, batches, limits, CORS, GraphiQL.

use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde_json::{Value, json};

use crate::support::{
    FaultyStore, full_catalog_config, full_catalog_store, spawn_app, spawn_app_with,
    spawn_with_store, test_config,
};
use storefront_gateway::config::Mode;

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json; charset=utf-8";

#[tokio::test]
async fn malformed_json_is_a_400_with_a_graphql_error_body() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/graphql"))
        .header(CONTENT_TYPE, "application/json")
        .body("{\"query\": ")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 400);
    assert_eq!(response.headers()[CONTENT_TYPE], GRAPHQL_RESPONSE);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_REQUEST");
}

#[tokio::test]
async fn syntax_errors_are_400_for_graphql_response_json_and_200_for_legacy_json() {
    let app = spawn_app().await;
    for (accept, status, media) in [
        ("application/graphql-response+json", 400, GRAPHQL_RESPONSE),
        ("application/json", 200, "application/json; charset=utf-8"),
    ] {
        let response = app
            .client
            .post(app.url("/graphql"))
            .header(ACCEPT, accept)
            .json(&json!({"query": "{ products(first: 1) { nodes { id }"}))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), status, "{accept}");
        assert_eq!(response.headers()[CONTENT_TYPE], media);
        let body: Value = response.json().await.expect("json");
        assert_eq!(
            body["errors"][0]["extensions"]["code"],
            "GRAPHQL_VALIDATION_FAILED"
        );
        assert!(body.get("data").is_none_or(Value::is_null));
    }
}

#[tokio::test]
async fn clients_that_accept_anything_get_legacy_json() {
    let app = spawn_app().await;
    for accept in ["*/*", "application/*", "text/html, */*;q=0.8"] {
        let response = app
            .client
            .post(app.url("/graphql"))
            .header(ACCEPT, accept)
            .json(&json!({"query": "{ nope }"}))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200, "{accept}");
        assert_eq!(
            response.headers()[CONTENT_TYPE],
            "application/json; charset=utf-8",
            "{accept}"
        );
        let body: Value = response.json().await.expect("json");
        assert_eq!(
            body["errors"][0]["extensions"]["code"],
            "GRAPHQL_VALIDATION_FAILED"
        );
    }
}

#[tokio::test]
async fn a_request_without_accept_gets_legacy_json() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app().await;
    // Written by hand: HTTP clients add an `Accept` of their own.
    let body = r#"{"query":"{ nope }"}"#;
    let mut stream = tokio::net::TcpStream::connect(app.addr)
        .await
        .expect("connect");
    let request = format!(
        "POST /graphql HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.expect("read");
    let head = answer.to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{answer}");
    assert!(
        head.contains("content-type: application/json; charset=utf-8"),
        "{answer}"
    );
    assert!(answer.contains("GRAPHQL_VALIDATION_FAILED"), "{answer}");
}

#[tokio::test]
async fn request_errors_in_graphql_response_json_have_no_data_entry() {
    let app = spawn_app().await;
    for query in [
        "{ nope }",
        "{ products(first: 1) { nodes { id }",
        "query A { shop } query B { shop }",
    ] {
        let (status, body) = app.post(query, json!({})).await;
        assert_eq!(status, 400, "{query}");
        assert!(body.get("data").is_none(), "{query}: {body}");
        assert!(
            body["errors"][0]["extensions"]["code"].is_string(),
            "{body}"
        );
    }
}

#[tokio::test]
async fn unknown_fields_and_operation_names_are_request_errors() {
    let app = spawn_app().await;
    let (status, body) = app.post("{ nope }", json!({})).await;
    assert_eq!(status, 400);
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        "GRAPHQL_VALIDATION_FAILED"
    );
    let response = app
        .client
        .post(app.url("/graphql"))
        .json(&json!({"query": "query A { categories(first: 1) { nodes { id } } }", "operationName": "B"}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("json");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .expect("message")
            .contains('B'),
        "{body}"
    );
}

#[tokio::test]
async fn get_runs_queries_and_refuses_mutations() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/graphql"))
        .query(&[
            (
                "query",
                "query One($n: Int!) { categories(first: $n) { nodes { handle } } }",
            ),
            ("variables", "{\"n\": 1}"),
            ("operationName", "One"),
        ])
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(
        body,
        json!({"data": {"categories": {"nodes": [{"handle": "women"}]}}})
    );

    let response = app
        .client
        .get(app.url("/graphql"))
        .query(&[("query", "mutation { anything }")])
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");

    let response = app
        .client
        .get(app.url("/graphql"))
        .query(&[("query", "{ __typename }"), ("variables", "[1]")])
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 400);
    let response = app
        .client
        .get(app.url("/graphql"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn other_content_types_are_415() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/graphql"))
        .header(CONTENT_TYPE, "text/plain")
        .body("{ __typename }")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 415);
}

#[tokio::test]
async fn batches_answer_each_operation_and_are_bounded() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/graphql"))
        .json(&json!([
            {"query": "{ categories(first: 1) { nodes { handle } } }"},
            {"query": "{ nope }"}
        ]))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body[0]["data"]["categories"]["nodes"][0]["handle"], "women");
    assert_eq!(
        body[1]["errors"][0]["extensions"]["code"],
        "GRAPHQL_VALIDATION_FAILED"
    );

    let eleven: Vec<Value> = (0..11)
        .map(|_| json!({"query": "{ __typename }"}))
        .collect();
    let response = app
        .client
        .post(app.url("/graphql"))
        .json(&eleven)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("json");
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        "BATCH_LIMIT_EXCEEDED"
    );
}

#[tokio::test]
async fn deep_and_expensive_queries_are_refused_before_running_and_the_server_keeps_serving() {
    let app = spawn_app().await;
    let deep = format!(
        "{{ products(first: 1) {{ nodes {{ {} handle {} }} }} }}",
        "variants(first: 1) { nodes { product { ".repeat(8),
        "} } }".repeat(8)
    );
    let (status, body) = app.post(&deep, json!({})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "QUERY_TOO_DEEP",
        "{body}"
    );

    let expensive = "{ products(first: 250) { nodes { variants(first: 250) { nodes { sku price { amount } } } } } }";
    let (status, body) = app.post(expensive, json!({})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "QUERY_TOO_COMPLEX",
        "{body}"
    );

    let big = "x".repeat(300 * 1024);
    let response = app
        .client
        .post(app.url("/graphql"))
        .header(CONTENT_TYPE, "application/json")
        .body(format!("{{\"query\": \"{big}\"}}"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.expect("a GraphQL error body");
    assert_eq!(body["errors"][0]["extensions"]["code"], "PAYLOAD_TOO_LARGE");

    app.data("{ categories(first: 1) { nodes { handle } } }", json!({}))
        .await;
}

#[tokio::test]
async fn localhost_origins_may_call_in_development_and_only_listed_origins_in_production() {
    // The origin a CORS preflight from `origin` is allowed as, if any.
    async fn allowed(app: &crate::support::TestApp, origin: &str) -> Option<String> {
        let response = app
            .client
            .request(reqwest::Method::OPTIONS, app.url("/graphql"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
            .await
            .expect("preflight");
        response
            .headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().expect("ascii").to_owned())
    }
    let dev = spawn_app().await;
    assert_eq!(
        allowed(&dev, "http://localhost:3000").await.as_deref(),
        Some("http://localhost:3000")
    );
    assert_eq!(allowed(&dev, "https://evil.example").await, None);

    let mut config = test_config();
    config.mode = storefront_gateway::config::Mode::Production;
    config.set("catalog", "seed_demo", false);
    config.set("location", "seed_demo", false);
    config.cors.allowed_origins = vec!["https://shop.example".into()];
    let prod = spawn_app_with(config).await;
    assert_eq!(
        allowed(&prod, "https://shop.example").await.as_deref(),
        Some("https://shop.example")
    );
    assert_eq!(allowed(&prod, "http://localhost:3000").await, None);
}

#[tokio::test]
async fn graphiql_and_all_its_assets_are_served_locally() {
    let app = spawn_app().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let root = client.get(app.url("/")).send().await.expect("root");
    assert!(root.status().is_redirection());
    assert_eq!(root.headers()["location"], "/graphiql");

    let page = client
        .get(app.url("/graphiql"))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    let mut assets = vec![];
    for attr in ["src=\"", "href=\""] {
        for part in page.split(attr).skip(1) {
            assets.push(part.split('"').next().expect("value").to_owned());
        }
    }
    assert_eq!(assets.len(), 4, "{assets:?}");
    for asset in assets {
        assert!(
            asset.starts_with("/graphiql/assets/"),
            "{asset} is not local"
        );
        let response = client.get(app.url(&asset)).send().await.expect("asset");
        assert_eq!(response.status(), 200, "{asset}");
        let body = response.bytes().await.expect("body");
        assert!(body.len() > 1000, "{asset}");
    }
    let missing = client
        .get(app.url("/graphiql/assets/nope.js"))
        .send()
        .await
        .expect("asset");
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("health");
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("x-request-id").is_some());
    let response = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .expect("health");
    assert_eq!(response.headers()["x-request-id"], "abc-123");
}

const SECRET: &str = "table storefront-prod in eu-west-1 is throttled";

#[tokio::test]
async fn internal_errors_carry_their_detail_in_development_only() {
    for mode in [Mode::Development, Mode::Production] {
        let mut config = full_catalog_config(test_config());
        config.mode = mode;
        // Start-up work would read listings too; the store is seeded already.
        config.set("catalog", "seed_demo", false);
        config.set("location", "seed_demo", false);
        let store = std::sync::Arc::new(FaultyStore {
            query_error: Some(SECRET),
            ..FaultyStore::over(full_catalog_store().await)
        });
        let app = spawn_with_store(config, store).await;
        let (status, body) = app
            .post("{ products(first: 1) { nodes { handle } } }", json!({}))
            .await;
        assert_eq!(status, 200, "{body}");
        let error = &body["errors"][0];
        assert_eq!(error["extensions"]["code"], "INTERNAL", "{body}");
        let detail = &error["extensions"]["detail"];
        match mode {
            Mode::Development => assert!(
                detail.as_str().is_some_and(|d| d.contains(SECRET)),
                "{body}"
            ),
            Mode::Production => {
                assert!(detail.is_null(), "{body}");
                assert!(!body.to_string().contains(SECRET), "{body}");
            }
        }
    }
}
