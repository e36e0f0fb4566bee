//! A fake AWS endpoint for services that nothing runs locally (OpenSearch, Personalize): it
//! checks that every request is signed with SigV4 for the expected service and region,
//! records it, and answers with what the test's handler says.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Received {
    /// The method.
    pub method: Method,
    /// The path (and query).
    pub path: String,
    /// The body, as text.
    pub body: String,
    /// The content type.
    pub content_type: String,
    /// The `x-amz-target` header (the operation of a JSON-protocol service), when sent.
    pub target: String,
    /// The W3C `traceparent` header, when sent.
    pub traceparent: String,
}

impl Received {
    /// The body as JSON (panics for a body that is not).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
}

/// What a handler answers: status and JSON; `None` to hang (a slow backend).
pub type Answer = Option<(StatusCode, Value)>;

type Handler = dyn Fn(&Received) -> Answer + Send + Sync;

/// A running fake.
pub struct FakeAws {
    /// Where it listens.
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    problems: Arc<Mutex<Vec<String>>>,
}

fn check_signature(
    headers: &HeaderMap,
    body: &[u8],
    service: &str,
    region: &str,
) -> Result<(), String> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| format!("no `{name}` header"))
    };
    let authorization = header("authorization")?;
    let date = header("x-amz-date")?;
    if date.len() != 16 || !date.ends_with('Z') || date.as_bytes()[8] != b'T' {
        return Err(format!("x-amz-date `{date}` is not YYYYMMDDTHHMMSSZ"));
    }
    let rest = authorization
        .strip_prefix("AWS4-HMAC-SHA256 Credential=")
        .ok_or_else(|| format!("not a SigV4 authorization: {authorization}"))?;
    let scope = format!("/{}/{region}/{service}/aws4_request", &date[..8]);
    let (credential, rest) = rest
        .split_once(", SignedHeaders=")
        .ok_or("no SignedHeaders")?;
    if !credential.ends_with(&scope) {
        return Err(format!("credential scope `{credential}` is not `…{scope}`"));
    }
    let (signed, signature) = rest.split_once(", Signature=").ok_or("no Signature")?;
    let signed: Vec<&str> = signed.split(';').collect();
    for needed in ["host", "x-amz-date"] {
        if !signed.contains(&needed) {
            return Err(format!("`{needed}` is not signed: {signed:?}"));
        }
    }
    if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("signature `{signature}` is not 64 hex digits"));
    }
    if let Ok(sent) = header("x-amz-content-sha256") {
        let actual = hex(&Sha256::digest(body));
        if sent != actual {
            return Err(format!(
                "x-amz-content-sha256 {sent} is not the body's {actual}"
            ));
        }
        if !signed.contains(&"x-amz-content-sha256") {
            return Err("x-amz-content-sha256 is not signed".into());
        }
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl FakeAws {
    /// Starts a fake of `service` in `region` answering with `handler`.
    pub async fn start(
        service: &'static str,
        region: &'static str,
        handler: impl Fn(&Received) -> Answer + Send + Sync + 'static,
    ) -> Self {
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let problems: Arc<Mutex<Vec<String>>> = Arc::default();
        let handler: Arc<Handler> = Arc::new(handler);
        let (r, p) = (Arc::clone(&received), Arc::clone(&problems));
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let (received, problems, handler) =
                    (Arc::clone(&r), Arc::clone(&p), Arc::clone(&handler));
                async move {
                    let request = Received {
                        method,
                        path: uri
                            .path_and_query()
                            .map(|p| p.as_str().to_owned())
                            .unwrap_or_default(),
                        body: String::from_utf8_lossy(&body).into_owned(),
                        content_type: headers
                            .get("content-type")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_owned(),
                        target: headers
                            .get("x-amz-target")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_owned(),
                        traceparent: headers
                            .get("traceparent")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_owned(),
                    };
                    if let Err(problem) = check_signature(&headers, &body, service, region) {
                        problems
                            .lock()
                            .expect("lock")
                            .push(format!("{} {}: {problem}", request.method, request.path));
                    }
                    received.lock().expect("lock").push(request.clone());
                    match handler(&request) {
                        Some((status, json)) => (status, axum::Json(json)).into_response(),
                        None => {
                            tokio::time::sleep(Duration::from_secs(120)).await;
                            StatusCode::GATEWAY_TIMEOUT.into_response()
                        }
                    }
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            addr,
            received,
            problems,
        }
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().expect("lock").clone()
    }

    /// Requests whose signature was not well-formed.
    pub fn problems(&self) -> Vec<String> {
        self.problems.lock().expect("lock").clone()
    }

    /// Waits (up to `limit`) for a request matching `wanted`.
    pub async fn wait_for(&self, limit: Duration, wanted: impl Fn(&Received) -> bool) -> Received {
        let started = std::time::Instant::now();
        loop {
            if let Some(found) = self.received().into_iter().find(|r| wanted(r)) {
                return found;
            }
            assert!(
                started.elapsed() < limit,
                "no such request within {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}
