//! Pickup in store: a checkout that collects from a store reserves that store's stock in the
//! checkout transaction (never more than it has, however many shoppers try at once, on the
//! embedded store and on DynamoDB Local), gives it back when the order is cancelled, keeps it
//! across the store's stock feed, and counts it gone once the order is collected.

use std::sync::Arc;

use futures::future::join_all;
use serde_json::{Value, json};
use storefront_loaders::location::store_stock::{StoreStock, StoreStockRecord};

use crate::checkout::{cart_with, checkout_config};
use crate::support::{TestApp, spawn_app_with, spawn_with_store};

const PICKUP: &str = "mutation($cart: ID!, $key: String!, $store: ID) {
  checkoutComplete(cartId: $cart, idempotencyKey: $key, email: \"pat@example.com\", pickupLocationId: $store,
    billingAddress: {firstName: \"Pat\", address1: \"9 Elm St\", city: \"Somerville\", province: \"MA\", zip: \"02143\", countryCode: \"US\"},
    payment: {token: \"tok_visa\"}) {
    order { id status shippingMethod totalShipping { amount } shippingAddress { city company }
      pickupLocation { handle } delivery { status } }
    userErrors { field code message quantityAvailable }
  }
}";

const AVAILABILITY: &str = "query($id: ID!) { node(id: $id) { ... on ProductVariant {
  quantityAvailable
  storeAvailability(near: {latitude: 42.36, longitude: -71.06}, radiusKm: 10) { quantity location { handle } } } } }";

/// A variant, its SKU, and the Boston store's `Location` id.
async fn variant_and_boston(app: &TestApp) -> (String, String, String) {
    let (variant, _, _) = crate::cart::stocked_variants(app, 1).await.remove(0);
    let sku = app
        .data(
            "query($id: ID!) { node(id: $id) { ... on ProductVariant { sku } } }",
            json!({"id": variant}),
        )
        .await["node"]["sku"]
        .as_str()
        .expect("sku")
        .to_owned();
    let store = app
        .data(
            "{ locations(address: \"Boston\", first: 1) { nodes { id handle } } }",
            json!({}),
        )
        .await["locations"]["nodes"][0]["id"]
        .as_str()
        .expect("store")
        .to_owned();
    (variant, sku, store)
}

async fn feed(app: &TestApp, sku: &str, quantity: i64) {
    let report = app
        .import(
            "store-inventory",
            &json!({"sku": sku, "location": "boston", "quantity": quantity}).to_string(),
        )
        .await;
    assert!(report.failures.is_empty(), "{:?}", report.failures);
}

async fn in_boston(app: &TestApp, variant: &str) -> StoreStockRecord {
    let raw = storefront_resolvers::ids::decode_as(&variant.into(), "ProductVariant")
        .expect("variant id");
    app.app
        .services
        .get::<StoreStock>()
        .expect("store stock")
        .in_store(&raw, "loc-boston")
        .await
        .expect("read")
        .expect("boston reported stock")
}

async fn pickup(app: &TestApp, cart: &str, key: &str, store: &str) -> Value {
    app.data(PICKUP, json!({"cart": cart, "key": key, "store": store}))
        .await["checkoutComplete"]
        .clone()
}

#[tokio::test]
async fn a_pickup_checkout_reserves_the_store_s_stock_which_a_cancel_gives_back() {
    let app = spawn_app_with(checkout_config()).await;
    let (variant, sku, boston) = variant_and_boston(&app).await;
    feed(&app, &sku, 2).await;
    let online =
        app.data(AVAILABILITY, json!({"id": variant})).await["node"]["quantityAvailable"].clone();

    let cart = cart_with(&app, &variant, 2).await;
    let placed = pickup(&app, &cart, "pickup-test-1", &boston).await;
    assert_eq!(placed["userErrors"], json!([]), "{placed}");
    let order = &placed["order"];
    assert_eq!(order["status"], "PAID");
    assert_eq!(order["shippingMethod"], "pickup");
    assert_eq!(order["totalShipping"]["amount"], "0.00");
    assert_eq!(
        order["shippingAddress"],
        json!({"city": "Boston", "company": "Storefront Boston"}),
        "a pickup order goes to the store"
    );
    assert_eq!(order["pickupLocation"], json!({"handle": "boston"}));
    assert_eq!(order["delivery"], Value::Null, "nothing is delivered");
    let held = in_boston(&app, &variant).await;
    assert_eq!((held.quantity, held.reserved, held.available), (2, 2, 0));
    let after = app.data(AVAILABILITY, json!({"id": variant})).await;
    assert_eq!(
        after["node"]["storeAvailability"],
        json!([]),
        "no unit is left to reserve in Boston"
    );
    assert_eq!(
        after["node"]["quantityAvailable"], online,
        "the online stock is not touched"
    );

    let other = cart_with(&app, &variant, 1).await;
    let refused = pickup(&app, &other, "pickup-test-2", &boston).await;
    assert_eq!(refused["order"], Value::Null);
    assert_eq!(refused["userErrors"][0]["code"], "INSUFFICIENT_STOCK");
    assert_eq!(refused["userErrors"][0]["quantityAvailable"], 0);

    // The store counts 5 on hand, the 2 held for the order among them.
    feed(&app, &sku, 5).await;
    let recounted = in_boston(&app, &variant).await;
    assert_eq!(
        (recounted.quantity, recounted.reserved, recounted.available),
        (5, 2, 3)
    );

    let cancelled = app
        .data(
            "mutation($id: ID!) { customerOrderCancel(id: $id) { order { status } userErrors { code } } }",
            json!({"id": order["id"]}),
        )
        .await;
    assert_eq!(
        cancelled["customerOrderCancel"]["order"]["status"],
        "CANCELLED"
    );
    let back = in_boston(&app, &variant).await;
    assert_eq!((back.quantity, back.reserved, back.available), (5, 0, 5));
}

#[tokio::test]
async fn a_collected_pickup_order_leaves_the_store_s_count() {
    let app = spawn_app_with(checkout_config()).await;
    let (variant, sku, boston) = variant_and_boston(&app).await;
    feed(&app, &sku, 4).await;
    let cart = cart_with(&app, &variant, 3).await;
    let placed = pickup(&app, &cart, "collect-test-1", &boston).await;
    assert_eq!(placed["order"]["status"], "PAID", "{placed}");
    let id = crate::checkout::placed_order_ids(&app).await.remove(0);
    app.move_order(&id, &["FULFILLING", "SHIPPED", "DELIVERED"])
        .await;
    let left = in_boston(&app, &variant).await;
    assert_eq!((left.quantity, left.reserved, left.available), (1, 0, 1));
}

/// 30 shoppers at once for the 4 units a store has: exactly 4 pickup orders.
async fn check_no_store_oversell(app: &TestApp) {
    let (variant, sku, boston) = variant_and_boston(app).await;
    feed(app, &sku, 4).await;
    let mut carts = Vec::new();
    for _ in 0..30 {
        carts.push(cart_with(app, &variant, 1).await);
    }
    let keys: Vec<String> = (0..carts.len()).map(|i| format!("rush-{i:04}")).collect();
    let answers = join_all(
        carts
            .iter()
            .zip(&keys)
            .map(|(cart, key)| pickup(app, cart, key, &boston)),
    )
    .await;
    let placed = answers.iter().filter(|a| a["order"].is_object()).count();
    assert_eq!(placed, 4, "{answers:#?}");
    assert!(
        answers
            .iter()
            .filter(|a| a["order"].is_null())
            .all(|a| a["userErrors"][0]["code"] == "INSUFFICIENT_STOCK"),
        "{answers:#?}"
    );
    let left = in_boston(app, &variant).await;
    assert_eq!((left.quantity, left.reserved, left.available), (4, 4, 0));
}

#[tokio::test]
async fn concurrent_pickup_checkouts_never_reserve_more_than_the_store_has() {
    check_no_store_oversell(&spawn_app_with(checkout_config()).await).await;
}

#[tokio::test]
async fn concurrent_pickup_checkouts_never_reserve_more_than_the_store_has_on_dynamodb() {
    let mut config = checkout_config();
    config.store = storefront_gateway::config::StoreEngine::Aws;
    let table = crate::support::fresh_dynamo_table().await;
    check_no_store_oversell(&spawn_with_store(config, Arc::new(table)).await).await;
}

#[tokio::test]
async fn pickup_and_shipping_inputs_that_do_not_fit_together_are_user_errors() {
    let app = spawn_app_with(checkout_config()).await;
    let (variant, _, boston) = variant_and_boston(&app).await;
    let cart = cart_with(&app, &variant, 1).await;
    let attempt = |args: &str| {
        format!(
            "mutation($cart: ID!) {{ checkoutComplete(cartId: $cart, idempotencyKey: \"bad-input-1\",
            email: \"pat@example.com\", payment: {{token: \"tok_visa\"}} {args}) {{ order {{ id }} userErrors {{ field code }} }} }}"
        )
    };
    let address = "shippingAddress: {firstName: \"Pat\", address1: \"1 Main St\", city: \"Boston\", province: \"MA\", zip: \"02108\", countryCode: \"US\"}";
    let cases = [
        (
            format!(", pickupLocationId: \"{boston}\", shippingMethod: \"express\""),
            json!({"field": ["shippingMethod"], "code": "INVALID"}),
        ),
        (
            ", pickupLocationId: \"bm90LWFuLWlk\"".to_owned(),
            json!({"field": ["pickupLocationId"], "code": "UNKNOWN_PICKUP_LOCATION"}),
        ),
        (
            format!(
                ", pickupLocationId: \"{}\", billing{}",
                storefront_resolvers::ids::encode("Location", "loc-atlantis").as_str(),
                &address["shipping".len()..]
            ),
            json!({"field": ["pickupLocationId"], "code": "UNKNOWN_PICKUP_LOCATION"}),
        ),
        (
            format!(", pickupLocationId: \"{boston}\""),
            json!({"field": ["billingAddress"], "code": "INVALID"}),
        ),
        (
            ", shippingMethod: \"standard\"".to_owned(),
            json!({"field": ["shippingAddress"], "code": "INVALID"}),
        ),
        (
            format!(", {address}"),
            json!({"field": ["shippingMethod"], "code": "INVALID"}),
        ),
    ];
    for (args, expected) in cases {
        let answer = app.data(&attempt(&args), json!({"cart": cart})).await;
        assert_eq!(
            answer["checkoutComplete"],
            json!({"order": null, "userErrors": [expected]}),
            "{args}"
        );
    }
}
