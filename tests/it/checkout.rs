//! Checkout over HTTP: orders that never oversell, never double-charge, release what a failed
//! payment reserved, use discounts exactly up to their limit, and are read by their owners
//! only; on the embedded store and on DynamoDB Local.

use std::sync::Arc;

use futures::future::join_all;
use serde_json::{Value, json};
use storefront_gateway::config::Config;
use storefront_loaders::cart::{CartStore, DiscountRecord, DiscountValue};

use crate::cart::{create_cart, set_stock, stocked_variants};
use crate::customer::signed_in;
use crate::support::{TestApp, spawn_app_with, spawn_with_store, test_config};

pub const CHECKOUT: &str = "mutation($cart: ID!, $key: String!, $email: String!, $token: String!) {
  checkoutComplete(cartId: $cart, idempotencyKey: $key, email: $email, shippingMethod: \"standard\",
    shippingAddress: {firstName: \"Eve\", address1: \"1 Main St\", city: \"Springfield\", province: \"CA\", zip: \"90001\", countryCode: \"US\"},
    payment: {token: $token}) {
    order { id number status total { amount } totalTax { amount } totalDiscount { amount } payment { state }
      lineItems { sku quantity } statusHistory { status } discountCodes }
    userErrors { field code message quantityAvailable }
  }
}";

/// A config for checkout tests: velocity rules and the rate limit out of the way (every test
/// order comes from one address).
pub fn checkout_config() -> Config {
    let mut config = test_config();
    config.set("fraud", "rules.checkouts_per_window", 1_000_000);
    config.set("fraud", "rules.sign_ins_per_window", 1_000_000);
    // Hundreds of carts and checkouts from one address: the rate limit is not under test.
    config.rate_limit.enabled = false;
    config
}

pub async fn checkout(app: &TestApp, cart: &str, key: &str, email: &str, token: &str) -> Value {
    app.data(
        CHECKOUT,
        json!({"cart": cart, "key": key, "email": email, "token": token}),
    )
    .await["checkoutComplete"]
        .clone()
}

/// A signed-in customer's paid order of one stocked variant; returns the order.
pub async fn paid_order_of(app: &TestApp, access_token: &str, email: &str) -> Value {
    let variant = stocked_variants(app, 1).await.remove(0).0;
    let cart = create_cart(app, Some(access_token), json!([{"merchandiseId": variant}])).await;
    let key = format!("paid-order-{}", uuid::Uuid::new_v4().simple());
    let (_, _, body) = app
        .post_as(
            access_token,
            CHECKOUT,
            json!({"cart": cart["cart"]["id"], "key": key, "email": email, "token": "tok_visa"}),
        )
        .await;
    let placed = &body["data"]["checkoutComplete"];
    assert_eq!(placed["order"]["status"], "PAID", "{body:#}");
    placed["order"].clone()
}

/// A variant set to `stock` units.
pub async fn variant_with_stock(app: &TestApp, stock: i64) -> String {
    let (id, _, _) = stocked_variants(app, 1).await.remove(0);
    set_stock(app, &id, stock).await;
    id
}

pub async fn stock_of(app: &TestApp, variant: &str) -> i64 {
    app.data(
        "query($id: ID!) { node(id: $id) { ... on ProductVariant { quantityAvailable } } }",
        json!({"id": variant}),
    )
    .await["node"]["quantityAvailable"]
        .as_i64()
        .expect("stock")
}

pub async fn cart_with(app: &TestApp, variant: &str, quantity: i64) -> String {
    let created = create_cart(
        app,
        None,
        json!([{"merchandiseId": variant, "quantity": quantity}]),
    )
    .await;
    assert_eq!(created["userErrors"], json!([]), "{created}");
    created["cart"]["id"].as_str().expect("cart").to_owned()
}

/// 200 shoppers at once for 25 units: exactly 25 orders, stock 0, never negative.
async fn check_no_oversell(app: &TestApp) {
    let variant = variant_with_stock(app, 25).await;
    let mut carts = Vec::new();
    for _ in 0..200 {
        carts.push(cart_with(app, &variant, 1).await);
    }
    let checkouts = carts.iter().enumerate().map(|(i, cart)| {
        let key = format!("oversell-{i:04}");
        let email = format!("buyer{i}@example.com");
        async move { checkout(app, cart, &key, &email, "tok_visa").await }
    });
    let answers = join_all(checkouts).await;
    let paid = answers
        .iter()
        .filter(|a| a["order"]["status"] == "PAID")
        .count();
    let out_of_stock = answers
        .iter()
        .filter(|a| a["userErrors"][0]["code"] == "INSUFFICIENT_STOCK")
        .count();
    assert_eq!(
        (paid, out_of_stock),
        (25, 175),
        "{:?}",
        answers
            .iter()
            .find(|a| a["order"].is_null() && a["userErrors"][0]["code"] != "INSUFFICIENT_STOCK")
    );
    assert_eq!(stock_of(app, &variant).await, 0);
}

#[tokio::test]
async fn two_hundred_concurrent_checkouts_for_25_units_place_exactly_25_orders() {
    check_no_oversell(&spawn_app_with(checkout_config()).await).await;
}

#[tokio::test]
async fn two_hundred_concurrent_checkouts_never_oversell_on_dynamodb() {
    check_no_oversell(&dynamo_checkout_app().await).await;
}

/// A gateway for checkout tests over a fresh DynamoDB Local table.
async fn dynamo_checkout_app() -> TestApp {
    let mut config = checkout_config();
    config.store = storefront_gateway::config::StoreEngine::Aws;
    let table = crate::support::fresh_dynamo_table().await;
    spawn_with_store(config, Arc::new(table)).await
}

#[tokio::test]
async fn a_retry_storm_with_one_key_places_one_order_and_charges_once() {
    check_retry_storm(&spawn_app_with(checkout_config()).await).await;
}

#[tokio::test]
async fn a_retry_storm_with_one_key_places_one_order_and_charges_once_on_dynamodb() {
    check_retry_storm(&dynamo_checkout_app().await).await;
}

async fn check_retry_storm(app: &TestApp) {
    let variant = variant_with_stock(app, 10).await;
    let cart = cart_with(app, &variant, 2).await;
    let storm = (0..50).map(|_| checkout(app, &cart, "storm-key-1", "eve@example.com", "tok_visa"));
    let answers = join_all(storm).await;
    let ids: std::collections::BTreeSet<&str> = answers
        .iter()
        .map(|a| {
            a["order"]["id"]
                .as_str()
                .expect("every answer is the order")
        })
        .collect();
    assert_eq!(ids.len(), 1, "one order");
    assert_eq!(stock_of(app, &variant).await, 8, "reserved once");
    let charges = app.app.metrics.sample(
        "storefront_payment_calls_total",
        &[("op", "charge"), ("result", "ok")],
    );
    assert_eq!(charges, 1.0, "charged once");
    let replay = checkout(app, &cart, "storm-key-1", "eve@example.com", "tok_visa").await;
    assert_eq!(replay["order"]["status"], "PAID");
    // The key with another cart is an error, not that order.
    let other = cart_with(app, &variant, 1).await;
    let reused = checkout(app, &other, "storm-key-1", "eve@example.com", "tok_visa").await;
    assert_eq!(reused["userErrors"][0]["code"], "IDEMPOTENCY_KEY_REUSED");
}

#[tokio::test]
async fn declined_and_timed_out_payments_leave_stock_where_it_was() {
    check_declines(&spawn_app_with(checkout_config()).await).await;
}

#[tokio::test]
async fn declined_and_timed_out_payments_leave_stock_where_it_was_on_dynamodb() {
    check_declines(&dynamo_checkout_app().await).await;
}

async fn check_declines(app: &TestApp) {
    let variant = variant_with_stock(app, 5).await;
    let cart = cart_with(app, &variant, 3).await;
    for (token, code) in [
        ("tok_decline", "PAYMENT_DECLINED"),
        ("tok_insufficient_funds", "PAYMENT_DECLINED"),
        ("tok_timeout", "PAYMENT_FAILED"),
    ] {
        let answer = checkout(
            app,
            &cart,
            &format!("attempt-{token}"),
            "eve@example.com",
            token,
        )
        .await;
        assert_eq!(answer["userErrors"][0]["code"], code, "{token}: {answer}");
        assert_eq!(answer["order"], Value::Null);
        assert_eq!(stock_of(app, &variant).await, 5, "{token}");
        // The same key answers the same.
        let again = checkout(
            app,
            &cart,
            &format!("attempt-{token}"),
            "eve@example.com",
            token,
        )
        .await;
        assert_eq!(again["userErrors"][0]["code"], code);
    }
    // A success whose answer got lost is found and completed; the cart could be retried.
    let answer = checkout(
        app,
        &cart,
        "attempt-lost",
        "eve@example.com",
        "tok_lost_success",
    )
    .await;
    assert_eq!(answer["order"]["status"], "PAID", "{answer}");
    assert_eq!(stock_of(app, &variant).await, 2);
    let again = checkout(app, &cart, "attempt-after", "eve@example.com", "tok_visa").await;
    assert_eq!(again["userErrors"][0]["code"], "ALREADY_CHECKED_OUT");
}

#[tokio::test]
async fn a_discount_with_a_usage_limit_of_10_is_used_exactly_10_times() {
    check_discount_limit(&spawn_app_with(checkout_config()).await).await;
}

#[tokio::test]
async fn a_discount_with_a_usage_limit_of_10_is_used_exactly_10_times_on_dynamodb() {
    check_discount_limit(&dynamo_checkout_app().await).await;
}

async fn check_discount_limit(app: &TestApp) {
    let store = CartStore::new(Arc::clone(&app.app.table));
    store
        .put_discount(&DiscountRecord {
            code: "TEN4TEN".into(),
            value: DiscountValue::Percentage(10.into()),
            minimum_subtotal: None,
            starts_at: None,
            ends_at: None,
            usage_limit: Some(10),
            per_customer_limit: None,
            used: 0,
        })
        .await
        .expect("discount");
    let variant = variant_with_stock(app, 500).await;
    let mut carts = Vec::new();
    for _ in 0..50 {
        let cart = cart_with(app, &variant, 1).await;
        let set = app
            .data(
                "mutation($c: ID!) { cartDiscountCodesUpdate(cartId: $c, discountCodes: [\"TEN4TEN\"]) { userErrors { code } } }",
                json!({"c": cart}),
            )
            .await;
        assert_eq!(set["cartDiscountCodesUpdate"]["userErrors"], json!([]));
        carts.push(cart);
    }
    let app = &app;
    let answers = join_all(carts.iter().enumerate().map(|(i, cart)| {
        let key = format!("discount-{i:03}");
        let email = format!("d{i}@example.com");
        async move { checkout(app, cart, &key, &email, "tok_visa").await }
    }))
    .await;
    let used = answers
        .iter()
        .filter(|a| a["order"]["status"] == "PAID")
        .count();
    let refused = answers
        .iter()
        .filter(|a| a["userErrors"][0]["code"] == "DISCOUNT_NOT_APPLICABLE")
        .count();
    assert_eq!((used, refused), (10, 40));
    let stored = store.discounts(&["TEN4TEN".into()]).await.expect("read");
    assert_eq!(stored[0].used, 10);
}

#[tokio::test]
async fn orders_are_read_by_their_owner_only() {
    let app = spawn_app_with(checkout_config()).await;
    let variant = variant_with_stock(&app, 10).await;
    let ada = signed_in(&app, "ada@example.com", "Ada").await["accessToken"]
        .as_str()
        .expect("token")
        .to_owned();
    let bob = signed_in(&app, "bob@example.com", "Bob").await["accessToken"]
        .as_str()
        .expect("token")
        .to_owned();
    let created = create_cart(&app, Some(&ada), json!([{"merchandiseId": variant}])).await;
    let cart = created["cart"]["id"].as_str().expect("cart").to_owned();
    // Only Ada may check out her cart.
    let (_, _, by_bob) = app
        .post_as(&bob, CHECKOUT, json!({"cart": cart, "key": "ada-order-1", "email": "bob@example.com", "token": "tok_visa"}))
        .await;
    assert_eq!(
        by_bob["data"]["checkoutComplete"]["userErrors"][0]["code"],
        "CART_NOT_FOUND"
    );
    let (_, _, placed) = app
        .post_as(&ada, CHECKOUT, json!({"cart": cart, "key": "ada-order-1", "email": "ada@example.com", "token": "tok_visa"}))
        .await;
    let order = placed["data"]["checkoutComplete"]["order"]["id"]
        .as_str()
        .expect("order")
        .to_owned();
    let read = "query($id: ID!) { order(id: $id) { number status } }";
    assert_eq!(
        app.post_as(&ada, read, json!({"id": order})).await.2["data"]["order"]["status"],
        "PAID"
    );
    assert_eq!(
        app.post_as(&bob, read, json!({"id": order})).await.2["data"]["order"],
        Value::Null
    );
    assert_eq!(
        app.post(read, json!({"id": order})).await.1["data"]["order"],
        Value::Null
    );
    let mine = app
        .post_as(
            &ada,
            "{ customer { orders { nodes { id status } } } }",
            json!({}),
        )
        .await
        .2;
    assert_eq!(
        mine["data"]["customer"]["orders"]["nodes"][0]["id"],
        json!(order)
    );
    let theirs = app
        .post_as(&bob, "{ customer { orders { nodes { id } } } }", json!({}))
        .await
        .2;
    assert_eq!(theirs["data"]["customer"]["orders"]["nodes"], json!([]));

    // A guest's order is reached with its id alone.
    let guest_cart = cart_with(&app, &variant, 1).await;
    let guest = checkout(
        &app,
        &guest_cart,
        "guest-order-1",
        "eve@example.com",
        "tok_visa",
    )
    .await;
    let guest_order = guest["order"]["id"].as_str().expect("order");
    assert_eq!(
        app.post(read, json!({"id": guest_order})).await.1["data"]["order"]["status"],
        "PAID"
    );
}

/// The order ids of the OrderPlaced messages waiting in the embedded queue.
pub async fn placed_order_ids(app: &TestApp) -> Vec<String> {
    let relay = app
        .app
        .services
        .get::<Arc<storefront_loaders::checkout::relay::Relay>>()
        .expect("relay");
    relay.pass(100).await.expect("pass");
    let queue = app
        .app
        .services
        .get::<storefront_loaders::checkout::relay::LocalQueue>()
        .expect("queue");
    queue
        .receive(100)
        .await
        .expect("receive")
        .into_iter()
        .filter(|m| m.kind == "OrderPlaced")
        .map(|m| m.order_id)
        .collect()
}

const STATUS_UPDATE: &str = "mutation($id: String!, $status: OrderStatus!) {
  orderStatusUpdate(orderId: $id, status: $status, note: \"from the OMS\") { orderId status userErrors { code message } } }";

#[tokio::test]
async fn the_oms_moves_orders_along_their_status_machine_with_an_operator_key_only() {
    let mut config = checkout_config();
    crate::support::with_admin_key(&mut config, "oms", "oms-secret");
    let app = spawn_app_with(config).await;
    let variant = variant_with_stock(&app, 10).await;
    let cart = cart_with(&app, &variant, 1).await;
    let placed = checkout(&app, &cart, "oms-order-1", "eve@example.com", "tok_visa").await;
    let order_token = placed["order"]["id"].as_str().expect("order").to_owned();
    let order_id = placed_order_ids(&app).await.remove(0);
    let as_oms = |status: &str| {
        let body = json!({"query": STATUS_UPDATE, "variables": {"id": order_id, "status": status}});
        let request = app
            .client
            .post(app.url("/graphql"))
            .header("x-api-key", "oms-secret")
            .json(&body);
        async move {
            request
                .send()
                .await
                .expect("request")
                .json::<Value>()
                .await
                .expect("json")
        }
    };
    for status in ["FULFILLING", "SHIPPED"] {
        let answer = as_oms(status).await;
        assert_eq!(
            answer["data"]["orderStatusUpdate"]["status"], status,
            "{answer}"
        );
    }
    let illegal = as_oms("PAID").await;
    assert_eq!(
        illegal["data"]["orderStatusUpdate"]["userErrors"][0]["code"],
        "ILLEGAL_TRANSITION"
    );
    // Neither an anonymous caller nor a customer may do it.
    let ada = signed_in(&app, "ada@example.com", "Ada").await["accessToken"]
        .as_str()
        .expect("token")
        .to_owned();
    let variables = json!({"id": order_id, "status": "DELIVERED"});
    assert_eq!(
        app.post(STATUS_UPDATE, variables.clone()).await.1["errors"][0]["extensions"]["code"],
        "FORBIDDEN"
    );
    assert_eq!(
        app.post_as(&ada, STATUS_UPDATE, variables).await.2["errors"][0]["extensions"]["code"],
        "FORBIDDEN"
    );
    // The feed does the same, line by line, and reports what it refused; a status the order
    // has already passed (a redelivery or replay) changes nothing and is no error, while a
    // move the machine forbids (cancelling a delivered order) is.
    let feed = format!(
        "{{\"orderId\": \"{order_id}\", \"status\": \"DELIVERED\"}}\n{{\"orderId\": \"{order_id}\", \"status\": \"FULFILLING\"}}\n{{\"orderId\": \"nope\", \"status\": \"PAID\"}}\n{{\"orderId\": \"{order_id}\", \"status\": \"CANCELLED\"}}\n"
    );
    let report = storefront_loaders::domain::Domain::import(
        &storefront_loaders::checkout::DOMAIN,
        &app.app.services,
        "order-status",
        Box::new(std::io::Cursor::new(feed.into_bytes())),
    )
    .await
    .expect("import");
    assert_eq!(
        report
            .failures
            .iter()
            .map(|(line, _)| *line)
            .collect::<Vec<_>>(),
        [3, 4]
    );
    assert!(
        report.summary.contains("1 already reached"),
        "{}",
        report.summary
    );
    let read = app
        .data(
            "query($id: ID!) { order(id: $id) { status statusHistory { status } } }",
            json!({"id": order_token}),
        )
        .await;
    assert_eq!(read["order"]["status"], "DELIVERED");
    assert_eq!(
        read["order"]["statusHistory"],
        json!([{"status": "PENDING_PAYMENT"}, {"status": "PAID"}, {"status": "FULFILLING"}, {"status": "SHIPPED"}, {"status": "DELIVERED"}])
    );
}

const CANCEL: &str = "mutation($id: ID!) { customerOrderCancel(id: $id) { order { status payment { state } } userErrors { code } } }";

#[tokio::test]
async fn a_customer_cancels_before_fulfilment_and_gets_stock_and_money_back() {
    let app = spawn_app_with(checkout_config()).await;
    let variant = variant_with_stock(&app, 10).await;
    let ada = signed_in(&app, "ada@example.com", "Ada").await["accessToken"]
        .as_str()
        .expect("token")
        .to_owned();
    let bob = signed_in(&app, "bob@example.com", "Bob").await["accessToken"]
        .as_str()
        .expect("token")
        .to_owned();
    let created = create_cart(
        &app,
        Some(&ada),
        json!([{"merchandiseId": variant, "quantity": 4}]),
    )
    .await;
    let cart = created["cart"]["id"].as_str().expect("cart").to_owned();
    let (_, _, placed) = app
        .post_as(&ada, CHECKOUT, json!({"cart": cart, "key": "cancel-me-1", "email": "ada@example.com", "token": "tok_visa"}))
        .await;
    let order = placed["data"]["checkoutComplete"]["order"]["id"]
        .as_str()
        .expect("order")
        .to_owned();
    assert_eq!(stock_of(&app, &variant).await, 6);
    let (_, _, by_bob) = app.post_as(&bob, CANCEL, json!({"id": order})).await;
    assert_eq!(
        by_bob["data"]["customerOrderCancel"]["userErrors"][0]["code"],
        "ORDER_NOT_FOUND"
    );
    let (_, _, cancelled) = app.post_as(&ada, CANCEL, json!({"id": order})).await;
    assert_eq!(
        cancelled["data"]["customerOrderCancel"]["order"],
        json!({"status": "CANCELLED", "payment": {"state": "REFUNDED"}})
    );
    assert_eq!(stock_of(&app, &variant).await, 10, "the stock is back");
    let (_, _, again) = app.post_as(&ada, CANCEL, json!({"id": order})).await;
    assert_eq!(
        again["data"]["customerOrderCancel"]["userErrors"][0]["code"],
        "ILLEGAL_TRANSITION"
    );
}

/// A processor whose lookups fail while `down` is set (what a crash between the payment and
/// the order's update looks like to the gateway).
struct FlakyPayments {
    inner: storefront_loaders::checkout::EmbeddedPayments,
    down: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl storefront_loaders::checkout::PaymentProvider for FlakyPayments {
    fn name(&self) -> &'static str {
        "flaky"
    }
    async fn authorize(
        &self,
        request: &storefront_loaders::checkout::payment::PaymentRequest,
    ) -> Result<
        storefront_loaders::checkout::payment::Authorization,
        storefront_loaders::checkout::payment::PaymentError,
    > {
        self.inner.authorize(request).await
    }
    async fn capture(
        &self,
        a: &storefront_loaders::checkout::payment::Authorization,
    ) -> Result<(), storefront_loaders::checkout::payment::PaymentError> {
        self.inner.capture(a).await
    }
    async fn void(
        &self,
        a: &storefront_loaders::checkout::payment::Authorization,
    ) -> Result<(), storefront_loaders::checkout::payment::PaymentError> {
        self.inner.void(a).await
    }
    async fn refund(
        &self,
        a: &storefront_loaders::checkout::payment::Authorization,
    ) -> Result<(), storefront_loaders::checkout::payment::PaymentError> {
        self.inner.refund(a).await
    }
    async fn lookup(
        &self,
        key: &str,
    ) -> Result<
        storefront_loaders::checkout::payment::Found,
        storefront_loaders::checkout::payment::PaymentError,
    > {
        if self.down.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(
                storefront_loaders::checkout::payment::PaymentError::Unavailable("down".into()),
            );
        }
        self.inner.lookup(key).await
    }
}

#[tokio::test]
async fn the_sweeper_finishes_or_undoes_what_an_interrupted_checkout_left() {
    let config = checkout_config();
    let store = storefront_gateway::app::open_store(&config)
        .await
        .expect("store");
    let flaky = Arc::new(FlakyPayments {
        inner: storefront_loaders::checkout::EmbeddedPayments::new(Arc::clone(&store)),
        down: std::sync::atomic::AtomicBool::new(true),
    });
    let mut plugged = storefront_loaders::domain::Services::default();
    plugged.insert(Arc::clone(&flaky) as Arc<dyn storefront_loaders::checkout::PaymentProvider>);
    let app = crate::support::spawn_with_plugged(config, store, plugged).await;
    let variant = variant_with_stock(&app, 10).await;
    // Authorized, but the answer and then the lookup fail: the order stays pending.
    let lost = checkout(
        &app,
        &cart_with(&app, &variant, 2).await,
        "interrupted-1",
        "eve@example.com",
        "tok_lost_success",
    )
    .await;
    assert_eq!(lost["order"]["status"], "PENDING_PAYMENT", "{lost}");
    // Nothing was taken, and nobody can tell yet.
    let timed_out = checkout(
        &app,
        &cart_with(&app, &variant, 3).await,
        "interrupted-2",
        "eve@example.com",
        "tok_timeout",
    )
    .await;
    assert_eq!(
        timed_out["order"]["status"], "PENDING_PAYMENT",
        "{timed_out}"
    );
    assert_eq!(stock_of(&app, &variant).await, 5);

    flaky.down.store(false, std::sync::atomic::Ordering::SeqCst);
    let checkout_service = app
        .app
        .services
        .get::<Arc<storefront_loaders::checkout::Checkout>>()
        .expect("checkout");
    assert_eq!(
        checkout_service
            .sweep(std::time::Duration::ZERO)
            .await
            .expect("sweep"),
        2
    );
    let read = "query($id: ID!) { order(id: $id) { status payment { state } } }";
    assert_eq!(
        app.data(read, json!({"id": lost["order"]["id"]})).await["order"],
        json!({"status": "PAID", "payment": {"state": "CAPTURED"}})
    );
    assert_eq!(
        app.data(read, json!({"id": timed_out["order"]["id"]}))
            .await["order"],
        json!({"status": "CANCELLED", "payment": {"state": "FAILED"}})
    );
    assert_eq!(
        stock_of(&app, &variant).await,
        8,
        "the undone checkout's stock is back"
    );
    assert_eq!(
        checkout_service
            .sweep(std::time::Duration::ZERO)
            .await
            .expect("sweep"),
        0,
        "never twice"
    );
}

#[tokio::test]
async fn a_customer_pages_through_their_orders_newest_first() {
    let app = spawn_app_with(checkout_config()).await;
    let variant = variant_with_stock(&app, 10).await;
    let ada = signed_in(&app, "ada@example.com", "Ada").await["accessToken"]
        .as_str()
        .expect("token")
        .to_owned();
    let mut placed = Vec::new();
    for i in 0..3 {
        let created = create_cart(&app, Some(&ada), json!([{"merchandiseId": variant}])).await;
        let cart = created["cart"]["id"].as_str().expect("cart").to_owned();
        let (_, _, answer) = app
            .post_as(&ada, CHECKOUT, json!({"cart": cart, "key": format!("page-order-{i}"), "email": "ada@example.com", "token": "tok_visa"}))
            .await;
        placed.push(answer["data"]["checkoutComplete"]["order"]["id"].clone());
    }
    let page = "query($after: String) { customer { orders(first: 2, after: $after) {
        nodes { id } pageInfo { hasNextPage endCursor } } } }";
    let first = app.post_as(&ada, page, json!({})).await.2["data"]["customer"]["orders"].clone();
    assert_eq!(
        first["nodes"],
        json!([{"id": placed[2]}, {"id": placed[1]}])
    );
    assert_eq!(first["pageInfo"]["hasNextPage"], true);
    let second = app
        .post_as(&ada, page, json!({"after": first["pageInfo"]["endCursor"]}))
        .await
        .2["data"]["customer"]["orders"]
        .clone();
    assert_eq!(second["nodes"], json!([{"id": placed[0]}]));
}

/// A processor speaking the HTTP provider's protocol: `ok` tokens are authorized, `no` tokens
/// declined, `slow` ones authorized after the gateway stopped waiting. It checks the API key
/// and records every call.
#[derive(Default)]
pub struct FakeProcessor {
    /// Every call: what it was (`authorize`, `lookup`, `capture`, …) and its idempotency key.
    pub calls: std::sync::Mutex<Vec<(String, Option<String>)>>,
    authorized: std::sync::Mutex<std::collections::HashMap<String, String>>,
}

pub async fn fake_processor() -> (String, Arc<FakeProcessor>) {
    use axum::extract::{Path, Query, State};
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::post;
    let state = Arc::new(FakeProcessor::default());
    fn record(state: &FakeProcessor, headers: &HeaderMap, what: String) -> Result<(), StatusCode> {
        if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer sk_test_fake")
        {
            return Err(StatusCode::UNAUTHORIZED);
        }
        let key = headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        state.calls.lock().expect("calls").push((what, key));
        Ok(())
    }
    let app = axum::Router::new()
        .route(
            "/authorizations",
            post(
                |State(state): State<Arc<FakeProcessor>>,
                 headers: HeaderMap,
                 axum::Json(body): axum::Json<Value>| async move {
                    if let Err(status) = record(&state, &headers, "authorize".into()) {
                        return (status, axum::Json(json!({})));
                    }
                    let reference = body["reference"].as_str().unwrap_or_default().to_owned();
                    assert!(
                        body["amount"].as_str().is_some_and(|a| a.contains('.')),
                        "{body}"
                    );
                    match body["token"].as_str() {
                        Some("no") => (
                            StatusCode::PAYMENT_REQUIRED,
                            axum::Json(json!({"reason": "card_declined"})),
                        ),
                        Some(token) => {
                            let id = format!("auth_{reference}");
                            state
                                .authorized
                                .lock()
                                .expect("map")
                                .insert(reference, id.clone());
                            if token == "slow" {
                                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                            }
                            (StatusCode::OK, axum::Json(json!({"id": id})))
                        }
                        None => (StatusCode::BAD_REQUEST, axum::Json(json!({}))),
                    }
                },
            )
            .get(
                |State(state): State<Arc<FakeProcessor>>,
                 headers: HeaderMap,
                 Query(q): Query<std::collections::HashMap<String, String>>| async move {
                    if let Err(status) = record(&state, &headers, "lookup".into()) {
                        return (status, axum::Json(json!({})));
                    }
                    match state
                        .authorized
                        .lock()
                        .expect("map")
                        .get(q.get("reference").map(String::as_str).unwrap_or_default())
                    {
                        Some(id) => (
                            StatusCode::OK,
                            axum::Json(json!({"id": id, "status": "authorized"})),
                        ),
                        None => (StatusCode::NOT_FOUND, axum::Json(json!({}))),
                    }
                },
            ),
        )
        .route(
            "/authorizations/{id}/{step}",
            post(
                |State(state): State<Arc<FakeProcessor>>,
                 headers: HeaderMap,
                 Path((_id, step)): Path<(String, String)>| async move {
                    match record(&state, &headers, step) {
                        Ok(()) => StatusCode::OK,
                        Err(status) => status,
                    }
                },
            ),
        )
        .with_state(Arc::clone(&state));
    let url = crate::support::serve_fake(app).await;
    (url, state)
}

#[tokio::test]
async fn an_http_processor_takes_payments_with_idempotency_keys_and_answers_that_get_lost() {
    let (url, processor) = fake_processor().await;
    let mut config = checkout_config();
    config.set("checkout", "payments.engine", "http");
    config.set("checkout", "payments.url", url);
    config.set("checkout", "payments.api_key", "sk_test_fake");
    config.set("checkout", "payments.timeout_ms", 300);
    let app = spawn_app_with(config).await;
    let variant = variant_with_stock(&app, 10).await;

    let paid = checkout(
        &app,
        &cart_with(&app, &variant, 1).await,
        "http-ok-1",
        "eve@example.com",
        "ok",
    )
    .await;
    assert_eq!(paid["order"]["status"], "PAID", "{paid}");
    let declined = checkout(
        &app,
        &cart_with(&app, &variant, 1).await,
        "http-no-1",
        "eve@example.com",
        "no",
    )
    .await;
    assert_eq!(declined["userErrors"][0]["code"], "PAYMENT_DECLINED");
    // The processor authorizes, but only after the gateway stopped waiting: the lookup finds it.
    let lost = checkout(
        &app,
        &cart_with(&app, &variant, 1).await,
        "http-slow-1",
        "eve@example.com",
        "slow",
    )
    .await;
    assert_eq!(lost["order"]["status"], "PAID", "{lost}");
    assert_eq!(stock_of(&app, &variant).await, 8);

    let calls = processor.calls.lock().expect("calls").clone();
    let kinds: Vec<&str> = calls.iter().map(|(what, _)| what.as_str()).collect();
    // One charge (authorize and capture in one call) each; for the lost answer a lookup, then
    // a capture (a no-op for a charge the processor already took).
    assert_eq!(
        kinds,
        ["authorize", "authorize", "authorize", "lookup", "capture"]
    );
    assert!(
        calls
            .iter()
            .filter(|(what, _)| what != "lookup")
            .all(|(_, key)| key.is_some()),
        "every authorize and capture carries an idempotency key: {calls:?}"
    );
}

#[tokio::test]
async fn the_fraud_rules_hold_large_orders_and_refuse_larger_ones() {
    let mut config = checkout_config();
    config.set("fraud", "rules.review_over", "1");
    config.set("fraud", "rules.block_over", "100000");
    let app = spawn_app_with(config).await;
    let variant = variant_with_stock(&app, 10).await;
    let held = checkout(
        &app,
        &cart_with(&app, &variant, 1).await,
        "fraud-review-1",
        "eve@example.com",
        "tok_visa",
    )
    .await;
    assert_eq!(held["order"]["status"], "ON_HOLD", "{held}");
    assert_eq!(
        held["order"]["payment"]["state"], "AUTHORIZED",
        "held, not taken"
    );

    let mut config = checkout_config();
    config.set("fraud", "rules.review_over", "0");
    config.set("fraud", "rules.block_over", "1");
    let app = spawn_app_with(config).await;
    let variant = variant_with_stock(&app, 10).await;
    let blocked = checkout(
        &app,
        &cart_with(&app, &variant, 1).await,
        "fraud-block-1",
        "eve@example.com",
        "tok_visa",
    )
    .await;
    assert_eq!(blocked["userErrors"][0]["code"], "FRAUD_BLOCKED");
    assert_eq!(stock_of(&app, &variant).await, 10, "nothing reserved");
}

#[tokio::test]
async fn concurrent_cancels_give_the_stock_and_the_money_back_once() {
    let app = spawn_app_with(checkout_config()).await;
    let variant = variant_with_stock(&app, 10).await;
    let cart = cart_with(&app, &variant, 4).await;
    let placed = checkout(
        &app,
        &cart,
        "double-cancel-1",
        "eve@example.com",
        "tok_visa",
    )
    .await;
    let order = placed["order"]["id"].as_str().expect("order").to_owned();
    assert_eq!(stock_of(&app, &variant).await, 6);
    let cancels = (0..8).map(|_| app.data(CANCEL, json!({"id": order})));
    let answers = join_all(cancels).await;
    let cancelled = answers
        .iter()
        .filter(|a| a["customerOrderCancel"]["order"]["status"] == "CANCELLED")
        .count();
    assert_eq!(cancelled, 1, "{answers:?}");
    assert_eq!(
        stock_of(&app, &variant).await,
        10,
        "the stock came back once"
    );
    let refunds = app.app.metrics.sample(
        "storefront_payment_calls_total",
        &[("op", "refund"), ("result", "ok")],
    );
    assert_eq!(refunds, 1.0, "refunded once");
}
