//! Running a request: its documents resolved and checked against the document limits, its
//! caller authenticated, its operations executed on one per-request loader, and the answer
//! written with the status, caching and validator headers it earns.

use std::sync::Arc;

use std::time::{Duration, Instant};
use tracing::Instrument as _;

use async_graphql::parser::types::OperationType;
use async_graphql::{BatchRequest, BatchResponse, Request, Variables};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response as HttpResponse};
use serde_json::Value;
use storefront_loaders::cache::Lookup;
use storefront_loaders::{Batched, StoreLoader};
use storefront_resolvers::ErrorCode;
use storefront_schema::deadline::Deadline;
use storefront_schema::documents::{DocumentRef, Resolved};
use storefront_schema::operation_limits::BatchCost;

use super::body::{self, Capped, has_code};
use super::caching;
use super::caller::{Caller, authenticate};
use super::media::MediaType;
use super::observe::Observed;
use super::refusal::{RequestError, is_request_error, retry_after, with_code};
use super::response_cache::{self, Pending};
use crate::app::App;
use crate::config::Mode;

/// One GraphQL request as clients send it.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawRequest {
    #[serde(default)]
    pub(super) query: Option<String>,
    #[serde(default)]
    pub(super) operation_name: Option<String>,
    #[serde(default)]
    pub(super) variables: Option<Value>,
    #[serde(default)]
    pub(super) extensions: Option<serde_json::Map<String, Value>>,
    /// A trusted document's id (the GraphQL-over-HTTP persisted documents proposal).
    #[serde(default)]
    pub(super) document_id: Option<String>,
}

impl RawRequest {
    fn document(&mut self) -> DocumentRef {
        let hash = self
            .extensions
            .as_ref()
            .and_then(|e| e.get("persistedQuery"))
            .and_then(|p| p.get("sha256Hash"))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| self.document_id.take());
        DocumentRef {
            text: self.query.take(),
            hash,
        }
    }
}

/// How an operation arrived, which decides the operation types it may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Transport {
    /// `GET /graphql`: queries only.
    Get,
    /// `POST /graphql`: queries and mutations.
    Post,
    /// A WebSocket on `/graphql`: subscriptions only.
    Socket,
}

impl Transport {
    fn of(method: &Method) -> Self {
        if *method == Method::GET {
            Transport::Get
        } else {
            Transport::Post
        }
    }

    /// Refuses an operation type this transport does not carry.
    fn check(self, operation: Option<OperationType>) -> Result<(), RequestError> {
        match (self, operation) {
            (_, None) => Ok(()),
            (Transport::Get, Some(t)) if t != OperationType::Query => Err(RequestError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                ErrorCode::MethodNotAllowed,
                "only queries may be sent with GET; send mutations with POST",
            )),
            (Transport::Post, Some(OperationType::Subscription)) => Err(RequestError::bad_request(
                ErrorCode::BadRequest,
                "subscriptions run over a WebSocket on this path (graphql-transport-ws)",
            )),
            (Transport::Socket, Some(t)) if t != OperationType::Subscription => {
                Err(RequestError::bad_request(
                    ErrorCode::BadRequest,
                    "a WebSocket carries subscriptions; send queries and mutations over HTTP",
                ))
            }
            _ => Ok(()),
        }
    }
}

/// Resolves the document (free-form, APQ, or a trusted id), checks the document limits and
/// builds the request to execute.
pub(super) async fn prepare(
    app: &App,
    mut raw: RawRequest,
    transport: Transport,
) -> Result<(Request, Prepared), RequestError> {
    let resolved = app
        .persisted
        .resolve(raw.document())
        .await
        .map_err(|refusal| {
            if refusal.code == ErrorCode::BadRequest {
                RequestError::malformed(refusal.message)
            } else if refusal.is_protocol_step() {
                RequestError::new(StatusCode::OK, refusal.code, refusal.message)
            } else {
                RequestError::bad_request(refusal.code, refusal.message)
            }
        })?;
    let operation_name = raw.operation_name.filter(|n| !n.is_empty());
    let facts = app
        .documents
        .check(&resolved.text, operation_name.as_deref())
        .map_err(|limit| RequestError::bad_request(limit.code, limit.message))?;
    // Checked on the resolved document, so that a persisted id naming a mutation is refused
    // over GET just as its text would be.
    transport.check(facts.operation_type)?;
    if !app.config.introspection() && facts.introspection {
        return Err(RequestError::bad_request(
            ErrorCode::IntrospectionDisabled,
            "introspection is turned off on this gateway",
        ));
    }
    let mut request = Request::new(resolved.text.clone());
    if let Some(name) = operation_name {
        request = request.operation_name(name);
    }
    match raw.variables {
        None | Some(Value::Null) => {}
        Some(value @ Value::Object(_)) => request = request.variables(Variables::from_json(value)),
        Some(_) => {
            return Err(RequestError::malformed("`variables` must be a JSON object"));
        }
    }
    let writes = facts
        .operation_type
        .is_some_and(|t| t == OperationType::Mutation);
    Ok((
        request,
        Prepared {
            resolved,
            writes,
            kind: facts.operation_type,
            name: facts.operation_name,
        },
    ))
}

/// What the exchange keeps of a prepared operation.
pub(super) struct Prepared {
    pub(super) resolved: Resolved,
    /// The operation is a mutation.
    writes: bool,
    /// The type of the operation that runs.
    pub(super) kind: Option<OperationType>,
    /// Its name, as the document gives it.
    pub(super) name: Option<String>,
}

/// How long past the deadline a request may still run before it is dropped: the fields stop
/// at the deadline itself; this covers work between two fields.
const DEADLINE_GRACE: Duration = Duration::from_secs(1);

/// The answer to a request that ran past its deadline: `504` with one `TIMEOUT` error.
fn timeout_response(media: MediaType, timeout_ms: u64) -> HttpResponse {
    (
        StatusCode::GATEWAY_TIMEOUT,
        [
            (header::CONTENT_TYPE, media.header()),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body::timed_out(timeout_ms).to_string(),
    )
        .into_response()
}

/// A slot of a batch: an operation that runs, or one refused before running.
enum Slot {
    Run(Resolved),
    Failed(RequestError),
}

/// How a response's errors make an operation's outcome.
fn outcome_of(response: &async_graphql::Response) -> &'static str {
    if has_code(response, ErrorCode::Timeout) {
        "timeout"
    } else if is_request_error(response) {
        "refused"
    } else if response.errors.is_empty() {
        "ok"
    } else {
        "error"
    }
}

/// How one HTTP request is answered.
pub(super) struct Exchange<'a> {
    pub(super) app: &'a App,
    pub(super) headers: &'a HeaderMap,
    pub(super) caller: Caller,
    pub(super) media: MediaType,
    pub(super) method: Method,
}

impl Exchange<'_> {
    /// Runs the operations (`batched`: the body was an array) and writes the answer; counts
    /// them in the metrics.
    pub(super) async fn run(self, raws: Vec<RawRequest>, batched: bool) -> HttpResponse {
        let started = Instant::now();
        let app = self.app;
        let mut seen: Vec<Observed> = raws
            .iter()
            .map(|raw| Observed {
                name: raw.operation_name.clone().filter(|n| !n.is_empty()),
                kind: None,
                outcome: "refused",
            })
            .collect();
        let response = self.answer(raws, batched, &mut seen).await;
        app.operations.record(&seen, started.elapsed());
        response
    }

    /// Runs the operations and writes the answer; `seen` holds one entry per operation, to
    /// be told its type and outcome.
    async fn answer(
        self,
        raws: Vec<RawRequest>,
        batched: bool,
        seen: &mut [Observed],
    ) -> HttpResponse {
        let Exchange {
            app,
            headers,
            caller,
            media,
            method,
        } = self;
        let metrics = &app.operations;
        let principal = match authenticate(app, headers).await {
            Ok(principal) => principal,
            Err(e) => {
                metrics.error_code(e.code().as_str());
                return e.into_response(media);
            }
        };
        // A single query from nobody in particular may be answered from the response cache.
        let cache = app.responses.as_ref().filter(|_| {
            !batched
                && principal.is_none()
                && caller.operator.is_none()
                && !caching::is_personal(headers)
        });
        let key_variables = cache
            .and_then(|_| raws.first())
            .map(|raw| raw.variables.clone());
        let mut slots = Vec::with_capacity(raws.len());
        let mut requests = Vec::new();
        let mut writes = false;
        for (raw, seen) in raws.into_iter().zip(seen.iter_mut()) {
            match prepare(app, raw, Transport::of(&method)).await {
                Ok((request, prepared)) => {
                    writes |= prepared.writes;
                    seen.kind = prepared.kind;
                    seen.name = prepared.name.or(seen.name.take());
                    slots.push(Slot::Run(prepared.resolved));
                    requests.push(request);
                }
                Err(e) => {
                    metrics.error_code(e.code().as_str());
                    slots.push(Slot::Failed(e));
                }
            }
        }
        if !batched && let Some(Slot::Failed(e)) = slots.last() {
            return e.clone().into_response(media);
        }
        let mut pending = None;
        if let (Some(cache), Some(variables)) = (cache, key_variables)
            && let Some(Slot::Run(resolved)) = slots.first()
            && seen[0].kind == Some(OperationType::Query)
        {
            let key = response_cache::key(&resolved.text, seen[0].name.as_deref(), &variables);
            let bypass = response_cache::bypassed(headers);
            match cache.lookup(key, bypass).await {
                Lookup::Hit(entry, _) if response_cache::charge(app, &caller, entry.cost).await => {
                    app.persisted.register(resolved, Some(&caller.client)).await;
                    seen[0].outcome = "ok";
                    let mut response_headers = HeaderMap::new();
                    response_headers.insert(header::CONTENT_TYPE, media.header());
                    response_headers.insert(
                        header::CACHE_CONTROL,
                        HeaderValue::from_str(&entry.cache_control)
                            .unwrap_or_else(|_| HeaderValue::from_static("no-cache")),
                    );
                    response_headers.insert(
                        response_cache::OUTCOME_HEADER,
                        HeaderValue::from_static("hit"),
                    );
                    return finish(
                        &method,
                        headers,
                        response_headers,
                        StatusCode::OK,
                        entry.body.clone(),
                    );
                }
                // Out of budget: run it, and the schema's limit refuses it as it would.
                Lookup::Hit(..) => {}
                Lookup::Miss(ticket) => {
                    pending = Some(Pending {
                        cache: Arc::clone(cache),
                        key,
                        ticket,
                        reads: cache.reads(),
                        outcome: if bypass { "bypass" } else { "miss" },
                    });
                }
            }
        }
        // One loader per HTTP request: the operations of a batch share its cache, its cost and
        // its deadline.
        let loader = StoreLoader::new(app.table.clone());
        let timeout = Duration::from_millis(app.config.limits.request_timeout_ms);
        let deadline = Deadline(Instant::now() + timeout);
        let batch_cost = Arc::new(BatchCost::default());
        let requests: Vec<Request> = requests
            .into_iter()
            .map(|request| {
                let mut request = request
                    .data(Arc::clone(&loader))
                    .data(Arc::clone(&batch_cost))
                    .data(deadline)
                    .data(caller.client.clone())
                    .data(caller.ip.clone())
                    .data(caller.signals.clone());
                if let Some(budget) = caller.budget {
                    request = request.data(budget);
                }
                if let Some(operator) = &caller.operator {
                    request = request.data(operator.clone());
                }
                match &principal {
                    Some(principal) => request.data(principal.clone()),
                    None => request,
                }
            })
            .collect();
        let schema = &app.schema;
        let reads = pending.as_ref().map(|p| Arc::clone(&p.reads));
        let run = async {
            if !batched {
                let request = requests
                    .into_iter()
                    .next()
                    .expect("a single request was prepared");
                BatchResponse::Single(Batched::new(schema.execute(request), loader).await)
            } else if writes {
                // A batch that writes runs in order, so that an operation after a mutation
                // reads what the mutation wrote (the loader forgets around each mutation).
                let in_order = async {
                    let mut responses = Vec::with_capacity(requests.len());
                    for request in requests {
                        responses.push(schema.execute(request).await);
                    }
                    responses
                };
                BatchResponse::Batch(Batched::new(in_order, loader).await)
            } else {
                let batch = BatchRequest::Batch(requests);
                Batched::new(schema.execute_batch(batch), loader).await
            }
        };
        // One span for the operations that run (a batch is one, named for its first), under
        // the HTTP request's; the store calls' spans are its children.
        let span = {
            let first = seen.first();
            let name = first
                .and_then(|op| op.name.as_deref())
                .filter(|n| super::observe::is_name(n))
                .unwrap_or("anonymous");
            let kind = super::observe::kind_name(first.and_then(|op| op.kind));
            tracing::info_span!(
                "graphql",
                otel.name = %format!("{kind} {name}"),
                graphql.operation.name = name,
                graphql.operation.type = kind,
                graphql.operations = seen.len(),
            )
        };
        // Every store read the operation makes on this task is recorded for the cache.
        let run = async move {
            match reads {
                Some(reads) => reads.scope(run).await,
                None => run.await,
            }
        };
        // Fields stop resolving at the deadline (`Deadline`); this is the backstop for work
        // that never reaches a field boundary.
        let Ok(response) =
            tokio::time::timeout(timeout + DEADLINE_GRACE, run.instrument(span)).await
        else {
            for (seen, slot) in seen.iter_mut().zip(&slots) {
                if let Slot::Run(_) = slot {
                    seen.outcome = "timeout";
                    metrics.error_code(ErrorCode::Timeout.as_str());
                }
            }
            return timeout_response(media, app.config.limits.request_timeout_ms);
        };
        let personal = caching::is_personal(headers);
        // Internal errors carry their detail in development mode only.
        let detailed = app.config.mode == Mode::Development;
        let limit = app.config.limits.max_response_bytes;
        let timeout_ms = app.config.limits.request_timeout_ms;
        let mut out = Capped::new(limit);
        let mut wait = None;
        let mut keep_for = None;
        let (status, cache) = match response {
            BatchResponse::Single(mut response) => {
                seen[0].outcome = outcome_of(&response);
                if has_code(&response, ErrorCode::Timeout) {
                    metrics.error_code(ErrorCode::Timeout.as_str());
                    return timeout_response(media, timeout_ms);
                }
                let failed = is_request_error(&response);
                if !failed && let Some(Slot::Run(resolved)) = slots.first() {
                    app.persisted.register(resolved, Some(&caller.client)).await;
                }
                response.errors = with_code(std::mem::take(&mut response.errors), detailed);
                metrics.errors(&response.errors);
                wait = retry_after(&response);
                // A backend that is away, with nothing to answer at all: 503, as a load
                // balancer or a client's retry policy expects.
                let unavailable = wait.is_some()
                    && has_code(&response, ErrorCode::ServiceUnavailable)
                    && response.data == async_graphql::Value::Null;
                let status = if unavailable {
                    StatusCode::SERVICE_UNAVAILABLE
                } else if wait.is_some() && !has_code(&response, ErrorCode::ServiceUnavailable) {
                    StatusCode::TOO_MANY_REQUESTS
                } else if failed && media == MediaType::GraphQlResponse {
                    StatusCode::BAD_REQUEST
                } else {
                    StatusCode::OK
                };
                let mut cache = caching::cache_control(&response, personal);
                keep_for = response_cache::max_age(&response)
                    .filter(|_| status == StatusCode::OK && !failed && !personal);
                if out.response(&response, media).is_err() {
                    out.always(&body::too_large(limit));
                    cache = HeaderValue::from_static("no-store");
                    keep_for = None;
                }
                (status, cache)
            }
            BatchResponse::Batch(responses) => {
                let mut responses = responses.into_iter();
                let mut full = false;
                out.punctuation(b'[');
                for (i, slot) in slots.into_iter().enumerate() {
                    if i > 0 {
                        out.punctuation(b',');
                    }
                    match slot {
                        Slot::Failed(e) => out.always(&e.body()),
                        Slot::Run(resolved) => {
                            let mut r = responses.next().expect("one response per request");
                            seen[i].outcome = outcome_of(&r);
                            if has_code(&r, ErrorCode::Timeout) {
                                metrics.error_code(ErrorCode::Timeout.as_str());
                                out.always(&body::timed_out(timeout_ms));
                                continue;
                            }
                            if !is_request_error(&r) {
                                app.persisted
                                    .register(&resolved, Some(&caller.client))
                                    .await;
                            }
                            r.errors = with_code(std::mem::take(&mut r.errors), detailed);
                            metrics.errors(&r.errors);
                            // Once one answer did not fit, none of the later ones is tried.
                            full = full || out.response(&r, media).is_err();
                            if full {
                                out.always(&body::too_large(limit));
                            }
                        }
                    }
                }
                out.punctuation(b']');
                (StatusCode::OK, HeaderValue::from_static("no-store"))
            }
        };
        let body = axum::body::Bytes::from(out.into_bytes());
        let mut response_headers = HeaderMap::new();
        response_headers.insert(header::CONTENT_TYPE, media.header());
        if let Some(pending) = pending {
            response_headers.insert(
                response_cache::OUTCOME_HEADER,
                HeaderValue::from_static(pending.outcome),
            );
            if let Some(max_age) = keep_for {
                pending
                    .keep(&body, &cache, batch_cost.total(), max_age)
                    .await;
            }
        }
        response_headers.insert(header::CACHE_CONTROL, cache);
        if let Some(seconds) = wait {
            response_headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        finish(&method, headers, response_headers, status, body)
    }
}

/// Sends an answer, or `304 Not Modified` when a GET's `If-None-Match` already holds it.
fn finish(
    method: &Method,
    request: &HeaderMap,
    mut response_headers: HeaderMap,
    status: StatusCode,
    body: axum::body::Bytes,
) -> HttpResponse {
    if *method == Method::GET && caching::validate(request, &mut response_headers, status, &body) {
        return (StatusCode::NOT_MODIFIED, response_headers).into_response();
    }
    (status, response_headers, body).into_response()
}
