//! Subscriptions over WebSocket (`graphql-transport-ws`): live delivery updates that reach a
//! subscriber whichever replica wrote them, for the order's owner only, under the HTTP
//! rules (persisted documents, limits) and the protocol's own (handshake, close codes), with
//! connections bounded per client and idle or silent ones closed.

use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use storefront_gateway::config::{Config, PersistedMode, StoreEngine};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::checkout::{cart_with, checkout_config};
use crate::support::{
    TestApp, fresh_dynamo_table, replicas_sharing_redis, spawn_app_with, spawn_with_store,
};

const UPDATES: &str = "subscription($id: ID!) { deliveryUpdates(orderId: $id) { status delivery { status carrier position { latitude longitude } } } }";

/// How long a test waits for a message it expects.
const PATIENCE: Duration = Duration::from_secs(15);

/// A client connection.
pub struct Socket(WebSocketStream<MaybeTlsStream<TcpStream>>);

/// Opens a WebSocket on `/graphql` speaking `graphql-transport-ws`; the handshake's HTTP
/// answer when it is refused.
async fn open(app: &TestApp) -> Result<Socket, tungstenite::http::Response<Option<Vec<u8>>>> {
    open_at(app.addr).await
}

/// Opens a WebSocket on `/graphql` of the gateway at `addr` (see [`open`]).
pub async fn open_at(
    addr: std::net::SocketAddr,
) -> Result<Socket, tungstenite::http::Response<Option<Vec<u8>>>> {
    let mut request = format!("ws://{addr}/graphql")
        .into_client_request()
        .expect("request");
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().expect("header"),
    );
    match tokio_tungstenite::connect_async(request).await {
        Ok((ws, response)) => {
            assert_eq!(
                response.headers()["sec-websocket-protocol"],
                "graphql-transport-ws"
            );
            Ok(Socket(ws))
        }
        Err(tungstenite::Error::Http(response)) => Err(*response),
        Err(e) => panic!("cannot connect: {e}"),
    }
}

/// Opens a connection and completes the handshake with `payload`.
async fn connected(app: &TestApp, payload: Value) -> Socket {
    let mut socket = open(app).await.expect("handshake");
    socket
        .send(json!({"type": "connection_init", "payload": payload}))
        .await;
    assert_eq!(socket.next().await, json!({"type": "connection_ack"}));
    socket
}

impl Socket {
    pub async fn send(&mut self, message: Value) {
        self.0
            .send(Message::text(message.to_string()))
            .await
            .expect("send");
    }

    /// The next message as JSON; a close frame as `{"close": code, "reason": …}`.
    pub async fn next(&mut self) -> Value {
        loop {
            let message = tokio::time::timeout(PATIENCE, self.0.next())
                .await
                .expect("a message in time");
            match message {
                Some(Ok(Message::Text(text))) => {
                    return serde_json::from_str(text.as_str()).expect("JSON");
                }
                Some(Ok(Message::Close(frame))) => {
                    let (code, reason) = frame
                        .map(|f| (u16::from(f.code), f.reason.to_string()))
                        .unwrap_or((1005, String::new()));
                    return json!({"close": code, "reason": reason});
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => return json!({"broken": e.to_string()}),
                None => return json!({"closed": true}),
            }
        }
    }

    async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        self.send(json!({"id": id, "type": "subscribe", "payload": {"query": query, "variables": variables}}))
            .await;
    }

    /// Reads `next` messages of `id` until one's payload passes `done`; returns it.
    async fn until(&mut self, id: &str, done: impl Fn(&Value) -> bool) -> Value {
        loop {
            let message = self.next().await;
            assert_eq!(message["id"], id, "{message}");
            assert_eq!(message["type"], "next", "{message}");
            if done(&message["payload"]) {
                return message["payload"].clone();
            }
        }
    }
}

/// Expects the subscription `id` to end at once with `NOT_FOUND`: a result with the field's
/// error, then `complete` (the protocol's `error` is for operations that never ran).
async fn not_found(socket: &mut Socket, id: &str) {
    let result = socket.next().await;
    assert_eq!(
        (&result["id"], &result["type"], &result["payload"]["data"]),
        (&json!(id), &json!("next"), &Value::Null),
        "{result}"
    );
    assert_eq!(
        result["payload"]["errors"][0]["extensions"]["code"],
        "NOT_FOUND"
    );
    assert_eq!(socket.next().await, json!({"id": id, "type": "complete"}));
}

/// A guest order placed on `app` (paid), with its API id and its record id.
async fn guest_order(app: &TestApp, key: &str) -> (String, String) {
    let variant = crate::cart::stocked_variants(app, 1).await.remove(0).0;
    let cart = cart_with(app, &variant, 1).await;
    let placed = app
        .data(
            "mutation($cart: ID!, $key: String!) {
  checkoutComplete(cartId: $cart, idempotencyKey: $key, email: \"eve@example.com\", shippingMethod: \"standard\",
    shippingAddress: {firstName: \"Eve\", address1: \"1 Main St\", city: \"Cambridge\", province: \"MA\", zip: \"02139\", countryCode: \"US\"},
    payment: {token: \"tok_visa\"}) { order { id status } userErrors { code message } } }",
            json!({"cart": cart, "key": key}),
        )
        .await;
    let order = &placed["checkoutComplete"]["order"];
    assert_eq!(order["status"], "PAID", "{placed}");
    let record = crate::checkout::placed_order_ids(app).await.remove(0);
    (order["id"].as_str().expect("id").to_owned(), record)
}

#[tokio::test]
async fn a_delivery_subscription_receives_updates_written_on_another_replica() {
    let replica = replicas_sharing_redis();
    let table: Arc<dyn storefront_loaders::store::Table> = Arc::new(fresh_dynamo_table().await);
    let over_dynamo = |mut config: Config| {
        config.store = StoreEngine::Aws;
        config.rate_limit.enabled = false;
        config
    };
    let a = spawn_with_store(over_dynamo(replica()), Arc::clone(&table)).await;
    let b = spawn_with_store(over_dynamo(replica()), Arc::clone(&table)).await;
    let (order, record) = guest_order(&a, "live-across-replicas").await;

    let mut socket = connected(&a, json!({})).await;
    socket.subscribe("1", UPDATES, json!({"id": order})).await;
    let first = socket.until("1", |_| true).await;
    assert_eq!(first["data"]["deliveryUpdates"]["status"], "PAID");
    assert_eq!(
        first["data"]["deliveryUpdates"]["delivery"]["status"],
        "PREPARING"
    );

    b.move_order(&record, &["FULFILLING"]).await;
    socket
        .until("1", |p| {
            p["data"]["deliveryUpdates"]["status"] == "FULFILLING"
        })
        .await;
    b.move_order(&record, &["SHIPPED"]).await;
    socket
        .until("1", |p| {
            p["data"]["deliveryUpdates"]["delivery"]["status"] == "IN_TRANSIT"
        })
        .await;
    let position = json!({"orderId": record, "latitude": 42.37, "longitude": -71.10,
        "at": chrono::Utc::now().to_rfc3339(), "carrier": "Kestrel Couriers"});
    let report = b.import("delivery-positions", &position.to_string()).await;
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    let fed = socket
        .until("1", |p| {
            p["data"]["deliveryUpdates"]["delivery"]["carrier"] == "Kestrel Couriers"
        })
        .await;
    assert_eq!(
        fed["data"]["deliveryUpdates"]["delivery"]["position"],
        json!({"latitude": 42.37, "longitude": -71.10})
    );
    b.move_order(&record, &["DELIVERED"]).await;
    socket
        .until("1", |p| {
            p["data"]["deliveryUpdates"]["status"] == "DELIVERED"
        })
        .await;
    assert_eq!(
        socket.next().await,
        json!({"id": "1", "type": "complete"}),
        "a delivered order has nothing more to say"
    );
}

#[tokio::test]
async fn a_customer_s_delivery_subscription_is_refused_without_the_owner_s_token() {
    let app = spawn_app_with(checkout_config()).await;
    let ada = crate::customer::signed_in(&app, "ada@example.com", "Ada").await["accessToken"]
        .as_str()
        .expect("token")
        .to_owned();
    let bob = crate::customer::signed_in(&app, "bob@example.com", "Bob").await["accessToken"]
        .as_str()
        .expect("token")
        .to_owned();
    let variant = crate::cart::stocked_variants(&app, 1).await.remove(0).0;
    let created = crate::cart::create_cart(
        &app,
        Some(&ada),
        json!([{"merchandiseId": variant, "quantity": 1}]),
    )
    .await;
    let cart = created["cart"]["id"].as_str().expect("cart");
    let (_, _, placed) = app
        .post_as(
            &ada,
            "mutation($cart: ID!) { checkoutComplete(cartId: $cart, idempotencyKey: \"ada-live-1\", email: \"ada@example.com\", shippingMethod: \"standard\",
              shippingAddress: {firstName: \"Ada\", address1: \"1 Main St\", city: \"Boston\", province: \"MA\", zip: \"02108\", countryCode: \"US\"},
              payment: {token: \"tok_visa\"}) { order { id } userErrors { code } } }",
            json!({"cart": cart}),
        )
        .await;
    let order = placed["data"]["checkoutComplete"]["order"]["id"].clone();
    assert!(order.is_string(), "{placed}");

    let mut anonymous = connected(&app, json!({})).await;
    anonymous
        .subscribe("a", UPDATES, json!({"id": order}))
        .await;
    not_found(&mut anonymous, "a").await;
    let mut other = connected(&app, json!({"Authorization": format!("Bearer {bob}")})).await;
    other.subscribe("b", UPDATES, json!({"id": order})).await;
    not_found(&mut other, "b").await;

    let mut forged = open(&app).await.expect("handshake");
    forged
        .send(
            json!({"type": "connection_init", "payload": {"Authorization": "Bearer not-a-token"}}),
        )
        .await;
    assert_eq!(forged.next().await["close"], 4403);

    let mut owner = connected(&app, json!({"Authorization": format!("Bearer {ada}")})).await;
    owner.subscribe("c", UPDATES, json!({"id": order})).await;
    let first = owner.until("c", |_| true).await;
    assert_eq!(first["data"]["deliveryUpdates"]["status"], "PAID");
}

#[tokio::test]
async fn the_socket_closes_on_what_breaks_the_protocol() {
    let mut config = checkout_config();
    config.subscriptions.init_timeout_ms = 300;
    config.subscriptions.idle_timeout_ms = 400;
    let app = spawn_app_with(config).await;

    let mut early = open(&app).await.expect("handshake");
    early.subscribe("1", UPDATES, json!({"id": "x"})).await;
    assert_eq!(early.next().await["close"], 4401, "subscribe before init");

    let mut silent = open(&app).await.expect("handshake");
    assert_eq!(silent.next().await["close"], 4408, "no connection_init");

    let mut twice = connected(&app, json!({})).await;
    twice.send(json!({"type": "connection_init"})).await;
    assert_eq!(twice.next().await["close"], 4429);

    let mut garbled = connected(&app, json!({})).await;
    garbled.send(json!({"type": "shout"})).await;
    assert_eq!(garbled.next().await["close"], 4400);

    let (order, _) = guest_order(&app, "protocol-test-1").await;
    let mut doubled = connected(&app, json!({})).await;
    doubled.subscribe("1", UPDATES, json!({"id": order})).await;
    doubled.until("1", |_| true).await;
    doubled.subscribe("1", UPDATES, json!({"id": order})).await;
    assert_eq!(doubled.next().await["close"], 4409);

    let mut pinging = connected(&app, json!({})).await;
    pinging.send(json!({"type": "ping"})).await;
    assert_eq!(pinging.next().await, json!({"type": "pong"}));
    let idle = pinging.next().await;
    assert_eq!(
        idle,
        json!({"close": 1000, "reason": "idle"}),
        "a connection that runs nothing is closed"
    );
}

/// `UPDATES` with less in it: 3 deep (the limit of the strict gateway below).
const SHALLOW: &str =
    "subscription($id: ID!) { deliveryUpdates(orderId: $id) { status delivery { status } } }";

#[tokio::test]
async fn subscriptions_follow_the_http_rules_for_documents_and_limits() {
    let code = |message: &Value| message["payload"][0]["extensions"]["code"].clone();
    let mut strict = checkout_config();
    strict.limits.max_depth = 3;
    strict.limits.max_aliases = 2;
    let strict = spawn_app_with(strict).await;
    let mut socket = connected(&strict, json!({})).await;
    // Refused before anything runs, whatever the order.
    let order = "b3JkZXI=";
    socket
        .subscribe("deep", UPDATES, json!({"id": order}))
        .await;
    assert_eq!(code(&socket.next().await), "QUERY_TOO_DEEP");
    socket
        .subscribe(
            "aliases",
            "subscription($id: ID!) { deliveryUpdates(orderId: $id) { a: status b: status c: status } }",
            json!({"id": order}),
        )
        .await;
    assert_eq!(code(&socket.next().await), "QUERY_TOO_MANY_ALIASES");

    let mut config = checkout_config();
    config.subscriptions.max_subscriptions_per_connection = 2;
    let app = spawn_app_with(config).await;
    let (order, _) = guest_order(&app, "rules-test-1").await;
    let mut socket = connected(&app, json!({})).await;

    socket
        .subscribe("q", "{ shippingMethods { handle } }", json!({}))
        .await;
    let query = socket.next().await;
    assert_eq!(
        (query["id"].clone(), query["type"].clone(), code(&query)),
        (json!("q"), json!("error"), json!("BAD_REQUEST"))
    );
    socket
        .send(json!({"id": "apq", "type": "subscribe", "payload": {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "0".repeat(64)}}}}))
        .await;
    assert_eq!(code(&socket.next().await), "PERSISTED_QUERY_NOT_FOUND");

    socket.subscribe("1", SHALLOW, json!({"id": order})).await;
    socket.until("1", |_| true).await;
    socket.subscribe("2", SHALLOW, json!({"id": order})).await;
    socket.until("2", |_| true).await;
    socket.subscribe("3", SHALLOW, json!({"id": order})).await;
    let third = socket.next().await;
    assert_eq!(
        (third["id"].clone(), code(&third)),
        (json!("3"), json!("TOO_MANY_SUBSCRIPTIONS"))
    );
    socket.send(json!({"id": "1", "type": "complete"})).await;
    socket.subscribe("4", SHALLOW, json!({"id": order})).await;
    socket.until("4", |_| true).await;

    let (_, body) = app.post(SHALLOW, json!({"id": order})).await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "BAD_REQUEST",
        "{body}"
    );
}

#[tokio::test]
async fn a_manifest_only_gateway_serves_subscriptions_by_id_only() {
    let mut config = checkout_config();
    config.persisted.mode = PersistedMode::Require;
    let id = storefront_schema::persisted::document_hash(UPDATES);
    let manifest = json!({"format": "apollo-persisted-query-manifest", "version": 1,
        "operations": [{"id": id, "name": "DeliveryUpdates", "type": "subscription", "body": UPDATES}]});
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("live.json"), manifest.to_string()).expect("manifest");
    config.persisted.manifest_dir = dir.path().to_owned();
    let app = spawn_app_with(config).await;
    let order = "b3JkZXI=";
    let mut socket = connected(&app, json!({})).await;
    socket
        .subscribe("free", SHALLOW, json!({"id": order}))
        .await;
    let free = socket.next().await;
    assert_eq!(
        (&free["type"], &free["payload"][0]["extensions"]["code"]),
        (&json!("error"), &json!("PERSISTED_QUERY_REQUIRED")),
        "{free}"
    );
    socket
        .send(json!({"id": "byid", "type": "subscribe", "payload": {"documentId": id, "variables": {"id": order}}}))
        .await;
    // The document ran: no such order is this caller's.
    not_found(&mut socket, "byid").await;
}

#[tokio::test]
async fn a_client_holds_no_more_connections_than_allowed_even_opening_them_at_once() {
    let mut config = checkout_config();
    config.subscriptions.max_connections_per_client = 3;
    let app = spawn_app_with(config).await;
    let attempts = futures::future::join_all((0..12).map(|_| open(&app))).await;
    let (open_now, refused): (Vec<_>, Vec<_>) = attempts.into_iter().partition(Result::is_ok);
    assert_eq!(open_now.len(), 3);
    assert!(
        refused
            .iter()
            .all(|r| r.as_ref().err().is_some_and(|r| r.status() == 429))
    );
    let gauge = |app: &TestApp| {
        app.app
            .metrics
            .sample("storefront_websocket_connections", &[])
    };
    assert_eq!(gauge(&app), 3.0);
    drop(open_now);
    // The server notices the closes on its own time: wait for the places to come back.
    let started = std::time::Instant::now();
    while gauge(&app) > 0.0 {
        assert!(
            started.elapsed() < PATIENCE,
            "closed connections are never given back"
        );
        tokio::task::yield_now().await;
    }
    assert!(
        open(&app).await.is_ok(),
        "a closed connection's place is free again"
    );
}

#[tokio::test]
async fn a_simulated_courier_moves_on_the_subscription_by_itself() {
    let mut config = checkout_config();
    config.set("location", "live_update_millis", 100);
    let app = spawn_app_with(config).await;
    let (order, record) = guest_order(&app, "moving-courier-1").await;
    app.move_order(&record, &["FULFILLING"]).await;
    app.move_order(&record, &["SHIPPED"]).await;
    let mut socket = connected(&app, json!({})).await;
    socket.subscribe("1", UPDATES, json!({"id": order})).await;
    let position = |p: &Value| p["data"]["deliveryUpdates"]["delivery"]["position"].clone();
    let first = socket.until("1", |_| true).await;
    assert_eq!(
        first["data"]["deliveryUpdates"]["delivery"]["status"],
        "IN_TRANSIT"
    );
    let moved = socket.until("1", |p| position(p) != position(&first)).await;
    assert_eq!(
        moved["data"]["deliveryUpdates"]["delivery"]["carrier"],
        "Storefront Courier"
    );
    // The subscription counts once, as it started, among the GraphQL operations.
    assert_eq!(
        app.app.metrics.sample(
            "storefront_graphql_operations_total",
            &[
                ("operation", "anonymous"),
                ("kind", "subscription"),
                ("outcome", "ok")
            ]
        ),
        1.0,
        "{}",
        app.app.metrics.render()
    );
}

#[tokio::test]
async fn subscriptions_spend_the_client_s_rate_limit_budget() {
    let mut config = checkout_config();
    config.rate_limit.enabled = true;
    // Each subscription costs its complexity (3 here): 10 of them cost more than 12.
    config.rate_limit.budget = 12;
    let app = spawn_app_with(config).await;
    let mut socket = connected(&app, json!({})).await;
    let mut limited = 0;
    for i in 0..10 {
        let id = format!("s{i}");
        socket
            .subscribe(&id, SHALLOW, json!({"id": "b3JkZXI="}))
            .await;
        let answer = socket.next().await;
        if answer["type"] == "error" {
            assert_eq!(answer["payload"][0]["extensions"]["code"], "RATE_LIMITED");
            limited += 1;
        } else {
            assert_eq!(socket.next().await["type"], "complete");
        }
    }
    assert!(
        (1..=6).contains(&(10 - limited)),
        "a budget of 12 lets 1 to 6 of 10 through, not {}",
        10 - limited
    );
}

#[tokio::test]
async fn a_connection_ends_when_its_access_token_does() {
    let mut config = checkout_config();
    config.set("identity", "access_token_ttl_seconds", 4);
    config.set("identity", "leeway_seconds", 0);
    let app = spawn_app_with(config).await;
    let ada = crate::customer::signed_in(&app, "ada@example.com", "Ada").await["accessToken"]
        .as_str()
        .expect("token")
        .to_owned();
    let mut socket = connected(&app, json!({"Authorization": format!("Bearer {ada}")})).await;
    socket.send(json!({"type": "ping"})).await;
    assert_eq!(socket.next().await, json!({"type": "pong"}));
    assert_eq!(
        socket.next().await,
        json!({"close": 4403, "reason": "Forbidden: the access token expired"})
    );
}
