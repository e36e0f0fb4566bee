//! GraphQL over WebSocket on `/graphql`, in the `graphql-transport-ws` protocol (that of the
//! `graphql-ws` library, which Apollo Client and urql use): subscriptions only — queries and
//! mutations go over HTTP — under the same persisted-document, limit, API-key and rate-limit
//! rules as HTTP. The access token comes in `connection_init` (a browser cannot set headers on
//! a WebSocket): a bad one closes the connection, none makes it a guest's, and the connection
//! ends when the token does. A connection that
//! does not send `connection_init` in time, or that runs nothing and says nothing for too
//! long, is closed; connections per client and subscriptions per connection are bounded.
//!
//! The protocol is served here rather than by async-graphql's `WebSocket`, whose only hook
//! between a `subscribe` message and its execution is the executor: the persisted-document
//! policy, the per-connection bound and the protocol's own close codes (4401 before the
//! handshake, 4408 for a late `connection_init`, 4409 for a reused id) need the messages.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_graphql::{Response, ServerError};
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response as HttpResponse;
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use prometheus_client::metrics::gauge::Gauge;
use serde::Deserialize;
use serde_json::{Value, json};
use storefront_loaders::domain::Principal;
use storefront_resolvers::ErrorCode;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::caller::{Caller, authorization};
use super::execute::{RawRequest, Transport, prepare};
use super::media::MediaType;
use super::observe::Observed;
use super::refusal::{RequestError, is_request_error, with_code};
use crate::app::App;
use crate::config::Mode;

/// The subprotocol served.
pub const PROTOCOL: &str = "graphql-transport-ws";

// The protocol's close codes.
const BAD_MESSAGE: u16 = 4400;
const UNAUTHORIZED: u16 = 4401;
const FORBIDDEN: u16 = 4403;
const INIT_TIMEOUT: u16 = 4408;
const SUBSCRIBER_EXISTS: u16 = 4409;
const TOO_MANY_INITS: u16 = 4429;
const NORMAL: u16 = 1000;
/// RFC 6455's "going away": the server is stopping.
const GOING_AWAY: u16 = 1001;

/// The WebSocket connections open on this replica, per client.
pub struct Sockets {
    open: Mutex<HashMap<String, usize>>,
    gauge: Gauge,
    /// Told whenever a connection closes.
    closed: tokio::sync::Notify,
}

impl Sockets {
    /// No connection yet; the count of open ones is the metric
    /// `storefront_websocket_connections`.
    pub fn new(metrics: &storefront_loaders::Metrics) -> Arc<Self> {
        let gauge = Gauge::default();
        metrics.register(
            "websocket_connections",
            "WebSocket connections open",
            gauge.clone(),
        );
        Arc::new(Self {
            open: Mutex::new(HashMap::new()),
            gauge,
            closed: tokio::sync::Notify::new(),
        })
    }

    /// Waits until no connection is open (at shutdown, once they were asked to close).
    pub async fn all_closed(&self) {
        loop {
            let closed = self.closed.notified();
            if self
                .open
                .lock()
                .expect("the socket count is never poisoned")
                .is_empty()
            {
                return;
            }
            closed.await;
        }
    }

    /// A place for one more connection of `client`, unless it holds `max` already; counted
    /// before the upgrade, so that concurrent handshakes cannot pass the bound together.
    fn admit(self: &Arc<Self>, client: &str, max: usize) -> Option<Slot> {
        let mut open = self
            .open
            .lock()
            .expect("the socket count is never poisoned");
        let held = open.entry(client.to_owned()).or_default();
        if *held >= max {
            return None;
        }
        *held += 1;
        self.gauge.inc();
        Some(Slot {
            sockets: Arc::clone(self),
            client: client.to_owned(),
        })
    }
}

/// One admitted connection; its place is given back when it is dropped.
struct Slot {
    sockets: Arc<Sockets>,
    client: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self
            .sockets
            .open
            .lock()
            .expect("the socket count is never poisoned");
        if let Some(held) = open.get_mut(&self.client) {
            *held -= 1;
            if *held == 0 {
                open.remove(&self.client);
            }
        }
        self.sockets.gauge.dec();
        self.sockets.closed.notify_waiters();
    }
}

/// Whether the request asks to become a WebSocket.
pub(super) fn is_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// Answers a WebSocket handshake on `/graphql`: refused (as HTTP) when subscriptions are off,
/// the client does not speak the protocol, or it holds as many connections as it may.
pub(super) fn upgrade(
    app: App,
    caller: Caller,
    headers: &HeaderMap,
    ws: WebSocketUpgrade,
) -> HttpResponse {
    let refuse = |status, code, message: &str| {
        RequestError::new(status, code, message).into_response(MediaType::GraphQlResponse)
    };
    let settings = &app.config.subscriptions;
    if !settings.enabled {
        return refuse(
            StatusCode::NOT_FOUND,
            ErrorCode::BadRequest,
            "this gateway takes no subscriptions",
        );
    }
    let speaks = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim() == PROTOCOL);
    if !speaks {
        return refuse(
            StatusCode::BAD_REQUEST,
            ErrorCode::BadRequest,
            "ask for the `graphql-transport-ws` subprotocol",
        );
    }
    let Some(slot) = app
        .sockets
        .admit(&caller.client.0, settings.max_connections_per_client)
    else {
        return refuse(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::RateLimited,
            "this client holds as many WebSocket connections as it may; close one",
        );
    };
    let max_message = settings.max_message_bytes;
    ws.protocols([PROTOCOL])
        .max_message_size(max_message)
        .max_frame_size(max_message)
        .on_upgrade(move |socket| async move {
            let (sink, stream) = socket.split();
            let session = Session {
                app,
                caller,
                principal: None,
                sink,
                running: HashMap::new(),
            };
            session.run(stream).await;
            drop(slot);
        })
}

/// A message from the client.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientMessage {
    ConnectionInit {
        #[serde(default)]
        payload: Option<Value>,
    },
    Ping {
        #[serde(default)]
        #[allow(dead_code)]
        payload: Option<Value>,
    },
    Pong {
        #[serde(default)]
        #[allow(dead_code)]
        payload: Option<Value>,
    },
    Subscribe {
        id: String,
        payload: RawRequest,
    },
    Complete {
        id: String,
    },
}

/// What a subscription's task hands the connection.
enum Outgoing {
    Next(String, Response),
    Error(String, Vec<ServerError>),
    Complete(String),
}

/// Why a session ends.
struct Close(u16, String);

impl Close {
    fn new(code: u16, reason: impl Into<String>) -> Self {
        Self(code, reason.into())
    }
}

/// One connection's state.
struct Session {
    app: App,
    caller: Caller,
    principal: Option<Principal>,
    sink: SplitSink<WebSocket, Message>,
    running: HashMap<String, JoinHandle<()>>,
}

/// The next message of the client: `None` when the socket is closed (or broken), an error
/// text when it is not a message of the protocol.
async fn receive(stream: &mut SplitStream<WebSocket>) -> Option<Result<ClientMessage, String>> {
    loop {
        let text = match stream.next().await? {
            Ok(Message::Text(text)) => text.as_str().to_owned(),
            Ok(Message::Binary(bytes)) => match String::from_utf8(bytes.to_vec()) {
                Ok(text) => text,
                Err(_) => return Some(Err("a message is UTF-8 JSON".into())),
            },
            Ok(Message::Ping(_) | Message::Pong(_)) => continue,
            Ok(Message::Close(_)) | Err(_) => return None,
        };
        return Some(
            serde_json::from_str(&text)
                .map_err(|e| format!("not a graphql-transport-ws message: {e}")),
        );
    }
}

impl Session {
    async fn run(mut self, mut stream: SplitStream<WebSocket>) {
        let mut stopping = self.app.stopping.subscribe();
        let close = tokio::select! {
            served = self.serve(&mut stream) => served.err(),
            _ = stopping.wait_for(|stopping| *stopping) => {
                Some(Close::new(GOING_AWAY, "the gateway is stopping; reconnect"))
            }
        };
        for (_, task) in self.running.drain() {
            task.abort();
        }
        if let Some(Close(code, reason)) = close {
            // The reason of a close frame is at most 123 bytes.
            let mut reason = reason;
            while reason.len() > 123 {
                reason.pop();
            }
            let frame = CloseFrame {
                code,
                reason: Utf8Bytes::from(reason),
            };
            let _ = self.sink.send(Message::Close(Some(frame))).await;
        }
        let _ = self.sink.close().await;
    }

    async fn send(&mut self, message: Value) -> Result<(), Close> {
        self.sink
            .send(Message::Text(message.to_string().into()))
            .await
            .map_err(|_| Close::new(NORMAL, "gone"))
    }

    /// The handshake, then the session; `Err` says how to close.
    async fn serve(&mut self, stream: &mut SplitStream<WebSocket>) -> Result<(), Close> {
        let settings = self.app.config.subscriptions.clone();
        let init_by = Instant::now() + Duration::from_millis(settings.init_timeout_ms);
        loop {
            let message = tokio::time::timeout_at(init_by, receive(stream))
                .await
                .map_err(|_| Close::new(INIT_TIMEOUT, "Connection initialisation timeout"))?;
            match message {
                None => return Ok(()),
                Some(Err(reason)) => return Err(Close::new(BAD_MESSAGE, reason)),
                Some(Ok(ClientMessage::ConnectionInit { payload })) => {
                    self.principal = self.authenticate(payload).await?;
                    self.send(json!({"type": "connection_ack"})).await?;
                    break;
                }
                Some(Ok(ClientMessage::Ping { .. })) => self.send(json!({"type": "pong"})).await?,
                Some(Ok(ClientMessage::Pong { .. })) => {}
                Some(Ok(ClientMessage::Subscribe { .. } | ClientMessage::Complete { .. })) => {
                    return Err(Close::new(UNAUTHORIZED, "Unauthorized"));
                }
            }
        }
        let idle = Duration::from_millis(settings.idle_timeout_ms);
        let mut idle_by = Instant::now() + idle;
        // A connection lives no longer than the access token it was opened with.
        let token_ends = self
            .principal
            .as_ref()
            .and_then(Principal::expires_at)
            .map(|at| {
                let left = at.saturating_sub(
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs()),
                );
                Instant::now() + Duration::from_secs(left)
            });
        let (out, mut results) = mpsc::channel::<Outgoing>(64);
        loop {
            let quiet = self.running.is_empty();
            tokio::select! {
                message = receive(stream) => {
                    idle_by = Instant::now() + idle;
                    match message {
                        None => return Ok(()),
                        Some(Err(reason)) => return Err(Close::new(BAD_MESSAGE, reason)),
                        Some(Ok(message)) => self.handle(message, &out).await?,
                    }
                }
                Some(result) = results.recv() => {
                    match result {
                        Outgoing::Next(id, response) => self.next(id, response).await?,
                        // A subscription the client completed meanwhile hears nothing more.
                        Outgoing::Error(id, errors) => {
                            if self.running.remove(&id).is_some() {
                                idle_by = Instant::now() + idle;
                                self.error(&id, errors).await?;
                            }
                        }
                        Outgoing::Complete(id) => {
                            if self.running.remove(&id).is_some() {
                                idle_by = Instant::now() + idle;
                                self.send(json!({"id": id, "type": "complete"})).await?;
                            }
                        }
                    }
                }
                () = tokio::time::sleep_until(idle_by), if quiet => {
                    return Err(Close::new(NORMAL, "idle"));
                }
                () = tokio::time::sleep_until(token_ends.unwrap_or(idle_by)), if token_ends.is_some() => {
                    return Err(Close::new(FORBIDDEN, "Forbidden: the access token expired"));
                }
            }
        }
    }

    /// The caller `connection_init` names: its `Authorization` (`Bearer <token>`), or nobody.
    async fn authenticate(&self, payload: Option<Value>) -> Result<Option<Principal>, Close> {
        let value = payload.as_ref().and_then(|p| {
            p.get("Authorization")
                .or_else(|| p.get("authorization"))
                .cloned()
        });
        match value {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(value)) => authorization(&self.app, Some(&value))
                .await
                .map(Some)
                .map_err(|e| Close::new(FORBIDDEN, format!("Forbidden: {}", e.message()))),
            Some(_) => Err(Close::new(
                FORBIDDEN,
                "Forbidden: `Authorization` is `Bearer <token>`",
            )),
        }
    }

    async fn handle(
        &mut self,
        message: ClientMessage,
        out: &mpsc::Sender<Outgoing>,
    ) -> Result<(), Close> {
        match message {
            ClientMessage::ConnectionInit { .. } => Err(Close::new(
                TOO_MANY_INITS,
                "Too many initialisation requests",
            )),
            ClientMessage::Ping { .. } => self.send(json!({"type": "pong"})).await,
            ClientMessage::Pong { .. } => Ok(()),
            ClientMessage::Complete { id } => {
                if let Some(task) = self.running.remove(&id) {
                    task.abort();
                }
                Ok(())
            }
            ClientMessage::Subscribe { id, payload } => {
                if self.running.contains_key(&id) {
                    return Err(Close::new(
                        SUBSCRIBER_EXISTS,
                        format!("Subscriber for {id} already exists"),
                    ));
                }
                if id.is_empty() || id.len() > 128 {
                    return Err(Close::new(BAD_MESSAGE, "an id is 1–128 characters"));
                }
                let max = self
                    .app
                    .config
                    .subscriptions
                    .max_subscriptions_per_connection;
                if self.running.len() >= max {
                    let error = refusal(
                        ErrorCode::TooManySubscriptions,
                        &format!("a connection runs at most {max} subscriptions at once"),
                    );
                    return self.error(&id, vec![error]).await;
                }
                let started = Instant::now();
                match prepare(&self.app, payload, Transport::Socket).await {
                    Err(e) => {
                        // Counted as HTTP operations are: a subscription refused before it ran.
                        self.app.operations.refused(e.code().as_str());
                        let errors = e.body()["errors"].clone();
                        self.send(json!({"id": id, "type": "error", "payload": errors}))
                            .await
                    }
                    Ok((request, prepared)) => {
                        let caller = &self.caller;
                        let mut request = request
                            .data(caller.client.clone())
                            .data(caller.ip.clone())
                            .data(caller.signals.clone());
                        if let Some(budget) = caller.budget {
                            request = request.data(budget);
                        }
                        if let Some(operator) = &caller.operator {
                            request = request.data(operator.clone());
                        }
                        if let Some(principal) = &self.principal {
                            request = request.data(principal.clone());
                        }
                        let mut responses = self.app.schema.execute_stream(request);
                        let persisted = Arc::clone(&self.app.persisted);
                        let client = caller.client.clone();
                        let out = out.clone();
                        let task_id = id.clone();
                        let operations = Arc::clone(&self.app.operations);
                        let task = tokio::spawn(async move {
                            let mut first = true;
                            while let Some(response) = responses.next().await {
                                if first {
                                    first = false;
                                    // A subscription counts once, as it starts (its latency:
                                    // to its first answer).
                                    operations.errors(&response.errors);
                                    operations.record(
                                        &[Observed {
                                            name: prepared.name.clone(),
                                            kind: prepared.kind,
                                            outcome: if is_request_error(&response) {
                                                "refused"
                                            } else {
                                                "ok"
                                            },
                                        }],
                                        started.elapsed(),
                                    );
                                    if is_request_error(&response) {
                                        let _ = out
                                            .send(Outgoing::Error(task_id, response.errors))
                                            .await;
                                        return;
                                    }
                                    persisted.register(&prepared.resolved, Some(&client)).await;
                                }
                                if out
                                    .send(Outgoing::Next(task_id.clone(), response))
                                    .await
                                    .is_err()
                                {
                                    return;
                                }
                            }
                            let _ = out.send(Outgoing::Complete(task_id)).await;
                        });
                        self.running.insert(id, task);
                        Ok(())
                    }
                }
            }
        }
    }

    /// Sends one result of a subscription, its internal errors without detail outside
    /// development and an answer too large replaced by its error.
    async fn next(&mut self, id: String, mut response: Response) -> Result<(), Close> {
        if !self.running.contains_key(&id) {
            // Completed by the client meanwhile.
            return Ok(());
        }
        let detailed = self.app.config.mode == Mode::Development;
        response.errors = with_code(std::mem::take(&mut response.errors), detailed);
        let mut message = json!({"id": id, "type": "next", "payload": response});
        let limit = self.app.config.limits.max_response_bytes;
        if message.to_string().len() > limit {
            let error = refusal(
                ErrorCode::ResponseTooLarge,
                &format!("the answer is larger than {limit} bytes; ask for less"),
            );
            message = json!({"id": id, "type": "next", "payload": {"errors": [error]}});
        }
        self.send(message).await
    }

    async fn error(&mut self, id: &str, errors: Vec<ServerError>) -> Result<(), Close> {
        let detailed = self.app.config.mode == Mode::Development;
        let errors = with_code(errors, detailed);
        self.send(json!({"id": id, "type": "error", "payload": errors}))
            .await
    }
}

/// An error with a code, as the protocol's `error` payload carries.
fn refusal(code: ErrorCode, message: &str) -> ServerError {
    let mut error = ServerError::new(message, None);
    let mut extensions = async_graphql::ErrorExtensionValues::default();
    extensions.set("code", code.as_str());
    error.extensions = Some(extensions);
    error
}
