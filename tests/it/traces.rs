//! Traces and logs of the real binary: spans exported over OTLP/HTTP (to a receiver in the
//! test that decodes the protobuf) continue the caller's W3C `traceparent` — the HTTP
//! request's span, its GraphQL operation's, and a span per store call, each the child of the
//! one before — and JSON logs carry the request's id.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;
use serde_json::{Value, json};

use crate::support::gateway_command;

/// A span as the receiver got it.
#[derive(Debug, Clone)]
struct Received {
    name: String,
    trace: String,
    id: String,
    parent: String,
    service: String,
}

/// The gateway's process, killed when dropped unless the test took it back.
struct Stopped(Option<std::process::Child>);

impl Drop for Stopped {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An OTLP/HTTP trace receiver: every span posted to `/v1/traces`.
async fn receiver() -> (String, Arc<Mutex<Vec<Received>>>) {
    let spans: Arc<Mutex<Vec<Received>>> = Arc::default();
    let store = Arc::clone(&spans);
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: Bytes| {
            let store = Arc::clone(&store);
            async move {
                assert_eq!(
                    headers.get("content-type").and_then(|v| v.to_str().ok()),
                    Some("application/x-protobuf")
                );
                let request = ExportTraceServiceRequest::decode(body).expect("OTLP protobuf");
                let mut spans = store.lock().expect("lock");
                for resource in request.resource_spans {
                    let service = resource
                        .resource
                        .iter()
                        .flat_map(|r| r.attributes.iter())
                        .find(|a| a.key == "service.name")
                        .and_then(|a| a.value.as_ref())
                        .map(|v| format!("{:?}", v.value))
                        .unwrap_or_default();
                    for scope in resource.scope_spans {
                        for span in scope.spans {
                            spans.push(Received {
                                name: span.name,
                                trace: hex(&span.trace_id),
                                id: hex(&span.span_id),
                                parent: hex(&span.parent_span_id),
                                service: service.clone(),
                            });
                        }
                    }
                }
                ([("content-type", "application/x-protobuf")], Bytes::new())
            }
        }),
    );
    let url = crate::support::serve_fake(app).await;
    (url, spans)
}

#[tokio::test]
async fn spans_continue_the_callers_trace_down_to_each_store_call_and_logs_carry_the_request_id() {
    let (endpoint, spans) = receiver().await;
    let port = crate::support::free_port();
    let child = gateway_command()
        .env("STOREFRONT_STORE", "memory")
        .env("STOREFRONT_LOG_FORMAT", "json")
        .env("STOREFRONT_LOG", "info,tower_http=debug")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .env("OTEL_SERVICE_NAME", "storefront-test")
        .args(["--listen", &format!("127.0.0.1:{port}"), "serve"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the gateway starts");
    // Killed if the test fails before it stops the gateway itself.
    let mut child = Stopped(Some(child));
    let url = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    crate::support::gateway_listening(&url).await;
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller = "00f067aa0ba902b7";
    let answer: Value = client
        .post(format!("{url}/graphql"))
        .header("traceparent", format!("00-{trace}-{caller}-01"))
        .header("x-request-id", "req-trace-0001")
        .json(&json!({"query": "query Catalog { products(first: 3) { nodes { handle variants(first: 1) { nodes { sku } } } } }"}))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert!(answer["errors"].is_null(), "{answer}");

    let mine = || -> Vec<Received> {
        spans
            .lock()
            .expect("lock")
            .iter()
            .filter(|s| s.trace == trace)
            .cloned()
            .collect()
    };
    let waited = Instant::now();
    while !mine().iter().any(|s| s.name == "query Catalog")
        || !mine().iter().any(|s| s.name == "batch_get")
    {
        assert!(
            waited.elapsed() < Duration::from_secs(20),
            "spans arrive: {:?}",
            spans.lock().expect("lock")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let found = mine();
    let request = found
        .iter()
        .find(|s| s.name == "POST /graphql")
        .unwrap_or_else(|| panic!("the request's span: {found:?}"));
    assert_eq!(request.parent, caller, "a child of the caller's span");
    assert!(
        request.service.contains("storefront-test"),
        "{}",
        request.service
    );
    let operation = found
        .iter()
        .find(|s| s.name == "query Catalog")
        .unwrap_or_else(|| panic!("the operation's span: {found:?}"));
    assert_eq!(operation.parent, request.id);
    let store: Vec<&Received> = found
        .iter()
        .filter(|s| ["batch_get", "query", "get"].contains(&s.name.as_str()))
        .collect();
    assert!(!store.is_empty());
    assert!(
        store.iter().all(|s| s.parent == operation.id),
        "every store call is a child of the operation: {store:?}"
    );
    // One span per operation and per store call, none per field.
    assert!(
        found.len() <= 2 + store.len(),
        "no span but the request's, the operation's and the store calls': {found:?}"
    );

    let child = child.0.take().expect("the gateway");
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .expect("join")
        .expect("the gateway exits");
    let logs = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect();
    assert!(
        lines
            .iter()
            .all(|l| l["level"].is_string() && l["timestamp"].is_string())
    );
    assert!(
        lines
            .iter()
            .any(|l| l["span"]["request_id"] == "req-trace-0001"),
        "a line of the request carries its id: {logs}"
    );
}

#[tokio::test]
async fn an_aws_call_carries_the_trace_of_the_request_that_made_it() {
    let (endpoint, _spans) = receiver().await;
    let pinpoint = crate::fake_aws::FakeAws::start("mobiletargeting", "us-east-1", |_| {
        Some((
            axum::http::StatusCode::ACCEPTED,
            json!({"RequestID": "r-1", "Message": "Accepted"}),
        ))
    })
    .await;
    let port = crate::support::free_port();
    let child = gateway_command()
        .env("STOREFRONT_STORE", "memory")
        .env("STOREFRONT_IDENTITY_AUTO_CONFIRM", "true")
        .env("STOREFRONT_PUSH_ENGINE", "pinpoint")
        .env("STOREFRONT_PINPOINT_APPLICATION_ID", "app-123")
        .env("AWS_ENDPOINT_URL_PINPOINT", pinpoint.url())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "local")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)
        .args(["--listen", &format!("127.0.0.1:{port}"), "serve"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the gateway starts");
    let _child = Stopped(Some(child));
    let url = format!("http://127.0.0.1:{port}/graphql");
    let client = reqwest::Client::new();
    crate::support::gateway_listening(&format!("http://127.0.0.1:{port}")).await;
    let call = |query: &'static str, variables: Value, token: Option<String>| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            let mut request = client
                .post(url)
                .header(
                    "traceparent",
                    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                )
                .json(&json!({"query": query, "variables": variables}));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            request
                .send()
                .await
                .expect("request")
                .json::<Value>()
                .await
                .expect("json")
        }
    };
    let signed_up = call(
        crate::customer::SIGN_UP,
        json!({"input": {"email": "tia@example.com", "password": crate::customer::PASSWORD}}),
        None,
    )
    .await;
    assert_eq!(
        signed_up["data"]["customerSignUp"]["userErrors"],
        json!([]),
        "{signed_up}"
    );
    let session = call(
        crate::customer::SIGN_IN,
        json!({"email": "tia@example.com", "password": crate::customer::PASSWORD}),
        None,
    )
    .await;
    let token = session["data"]["customerSignIn"]["accessToken"]
        .as_str()
        .unwrap_or_else(|| panic!("{session}"))
        .to_owned();
    let registered = call(
        "mutation($t: String!) { registerPushDevice(token: $t, platform: APNS) { device { id } userErrors { code } } }",
        json!({"t": format!("{:064x}", 42)}),
        Some(token),
    )
    .await;
    assert_eq!(
        registered["data"]["registerPushDevice"]["userErrors"],
        json!([]),
        "{registered}"
    );
    let put = pinpoint
        .wait_for(Duration::from_secs(5), |r| r.method == "PUT")
        .await;
    let parts: Vec<&str> = put.traceparent.split('-').collect();
    assert_eq!(parts.len(), 4, "a W3C traceparent: `{}`", put.traceparent);
    assert_eq!(
        parts[1], "0af7651916cd43dd8448eb211c80319c",
        "the request's trace goes on into Pinpoint"
    );
    assert_ne!(
        parts[2], "b7ad6b7169203331",
        "from a span of the gateway's own"
    );
    assert_eq!(
        pinpoint.problems(),
        Vec::<String>::new(),
        "still signed as SigV4 wants"
    );
}
