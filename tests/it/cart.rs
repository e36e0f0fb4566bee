//! Carts over HTTP: lines, pricing, discount codes, stock, ownership and concurrent edits.

use futures::future::join_all;
use serde_json::{Value, json};

use crate::customer::signed_in;
use crate::support::{TestApp, spawn_app};

pub const CART_FIELDS: &str = "id totalQuantity note checkoutReady
    checkoutBlockers { code }
    lines(first: 20) { nodes { id quantity merchandise { id sku } cost { amountPerQuantity { amount } subtotalAmount { amount } totalAmount { amount } } } }
    cost { subtotalAmount { amount currencyCode } totalDiscountAmount { amount } totalTaxAmount { amount } totalAmount { amount } }
    discountCodes { code applicable reason }
    buyerIdentity { email countryCode provinceCode }";

fn mutation(name: &str, args: &str) -> String {
    format!(
        "mutation($cartId: ID!, $x: {args}) {{ {name}(cartId: $cartId, {}: $x) {{ cart {{ {CART_FIELDS} }} userErrors {{ field code message quantityAvailable }} }} }}",
        match name {
            "cartLinesAdd" | "cartLinesUpdate" => "lines",
            "cartLinesRemove" => "lineIds",
            "cartDiscountCodesUpdate" => "discountCodes",
            "cartBuyerIdentityUpdate" => "buyerIdentity",
            _ => "note",
        }
    )
}

/// Variants with stock: (ID, price, stock), from the first products by price.
pub async fn stocked_variants(app: &TestApp, count: usize) -> Vec<(String, String, i64)> {
    let data = app
        .data(
            "{ products(first: 40, sortKey: PRICE, filter: {available: true}) { nodes { variants(first: 5) { nodes { id price { amount } quantityAvailable } } } } }",
            json!({}),
        )
        .await;
    data["products"]["nodes"]
        .as_array()
        .expect("products")
        .iter()
        .flat_map(|p| p["variants"]["nodes"].as_array().expect("variants").clone())
        .filter(|v| v["quantityAvailable"].as_i64().unwrap_or(0) >= 3)
        .take(count)
        .map(|v| {
            (
                v["id"].as_str().expect("id").to_owned(),
                v["price"]["amount"].as_str().expect("price").to_owned(),
                v["quantityAvailable"].as_i64().expect("stock"),
            )
        })
        .collect()
}

pub async fn create_cart(app: &TestApp, token: Option<&str>, lines: Value) -> Value {
    let query = format!(
        "mutation($input: CartInput!) {{ cartCreate(input: $input) {{ cart {{ {CART_FIELDS} }} userErrors {{ field code message quantityAvailable }} }} }}"
    );
    let variables = json!({"input": {"lines": lines}});
    let body = match token {
        Some(token) => app.post_as(token, &query, variables).await.2,
        None => app.post(&query, variables).await.1,
    };
    body["data"]["cartCreate"].clone()
}

pub async fn change(
    app: &TestApp,
    token: Option<&str>,
    name: &str,
    args: &str,
    cart: &str,
    x: Value,
) -> Value {
    let query = mutation(name, args);
    let variables = json!({"cartId": cart, "x": x});
    let body = match token {
        Some(token) => app.post_as(token, &query, variables).await.2,
        None => app.post(&query, variables).await.1,
    };
    body["data"][name].clone()
}

#[tokio::test]
async fn a_guest_builds_a_cart_and_its_cost_follows_every_change() {
    let app = spawn_app().await;
    let variants = stocked_variants(&app, 2).await;
    let (a, b) = (&variants[0], &variants[1]);
    let created = create_cart(&app, None, json!([{"merchandiseId": a.0, "quantity": 2}])).await;
    assert_eq!(created["userErrors"], json!([]));
    let cart = created["cart"]["id"].as_str().expect("id").to_owned();
    assert_eq!(created["cart"]["totalQuantity"], 2);
    assert_eq!(created["cart"]["checkoutReady"], true);

    // The same variant again joins its line; another makes a second line.
    let added = change(
        &app,
        None,
        "cartLinesAdd",
        "[CartLineInput!]!",
        &cart,
        json!([{"merchandiseId": a.0, "quantity": 1}, {"merchandiseId": b.0}]),
    )
    .await;
    let lines = added["cart"]["lines"]["nodes"].as_array().expect("lines");
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["quantity"], 3);
    let price_a: rust_decimal::Decimal = a.1.parse().expect("price");
    let price_b: rust_decimal::Decimal = b.1.parse().expect("price");
    let subtotal = price_a * rust_decimal::Decimal::from(3) + price_b;
    assert_eq!(
        added["cart"]["cost"]["subtotalAmount"]["amount"],
        format!("{subtotal:.2}")
    );

    // 10 % off, then California's 7.25 % on what is left.
    let discounted = change(
        &app,
        None,
        "cartDiscountCodesUpdate",
        "[String!]!",
        &cart,
        json!(["welcome10"]),
    )
    .await;
    assert_eq!(
        discounted["cart"]["discountCodes"],
        json!([{"code": "WELCOME10", "applicable": true, "reason": null}])
    );
    let taxed = change(
        &app,
        None,
        "cartBuyerIdentityUpdate",
        "CartBuyerIdentityInput!",
        &cart,
        json!({"email": "eve@example.com", "countryCode": "us", "provinceCode": "ca"}),
    )
    .await;
    let cost = &taxed["cart"]["cost"];
    let discount: rust_decimal::Decimal = cost["totalDiscountAmount"]["amount"]
        .as_str()
        .expect("amount")
        .parse()
        .expect("d");
    let tax: rust_decimal::Decimal = cost["totalTaxAmount"]["amount"]
        .as_str()
        .expect("amount")
        .parse()
        .expect("d");
    let total: rust_decimal::Decimal = cost["totalAmount"]["amount"]
        .as_str()
        .expect("amount")
        .parse()
        .expect("d");
    assert!(discount > rust_decimal::Decimal::ZERO && tax > rust_decimal::Decimal::ZERO);
    assert_eq!(total, subtotal - discount + tax);
    assert_eq!(taxed["cart"]["buyerIdentity"]["countryCode"], "US");

    // Quantity 0 removes a line; removing by id removes the other.
    let first = lines[0]["id"].as_str().expect("line").to_owned();
    let second = lines[1]["id"].as_str().expect("line").to_owned();
    let updated = change(
        &app,
        None,
        "cartLinesUpdate",
        "[CartLineUpdateInput!]!",
        &cart,
        json!([{"id": first, "quantity": 0}]),
    )
    .await;
    assert_eq!(
        updated["cart"]["lines"]["nodes"].as_array().map(Vec::len),
        Some(1)
    );
    let removed = change(
        &app,
        None,
        "cartLinesRemove",
        "[ID!]!",
        &cart,
        json!([second]),
    )
    .await;
    assert_eq!(removed["cart"]["totalQuantity"], 0);
    assert_eq!(
        removed["cart"]["checkoutBlockers"],
        json!([{"code": "EMPTY"}])
    );
    let noted = change(
        &app,
        None,
        "cartNoteUpdate",
        "String!",
        &cart,
        json!("gift wrap, please"),
    )
    .await;
    assert_eq!(noted["cart"]["note"], "gift wrap, please");
}

#[tokio::test]
async fn bad_cart_input_is_a_user_error_and_changes_nothing() {
    let app = spawn_app().await;
    let variants = stocked_variants(&app, 1).await;
    let (variant, _, stock) = &variants[0];
    let created = create_cart(
        &app,
        None,
        json!([{"merchandiseId": variant, "quantity": 1}]),
    )
    .await;
    let cart = created["cart"]["id"].as_str().expect("id").to_owned();
    let code = |answer: &Value| {
        answer["userErrors"][0]["code"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    };

    let too_many = change(
        &app,
        None,
        "cartLinesAdd",
        "[CartLineInput!]!",
        &cart,
        json!([{"merchandiseId": variant, "quantity": stock + 1}]),
    )
    .await;
    assert_eq!(code(&too_many), "INSUFFICIENT_STOCK");
    assert_eq!(too_many["userErrors"][0]["quantityAvailable"], json!(stock));
    for (input, expected) in [
        (
            json!([{"merchandiseId": variant, "quantity": 0}]),
            "INVALID_QUANTITY",
        ),
        (
            json!([{"merchandiseId": variant, "quantity": -3}]),
            "INVALID_QUANTITY",
        ),
        (
            json!([{"merchandiseId": "not-an-id"}]),
            "MERCHANDISE_NOT_FOUND",
        ),
    ] {
        let answer = change(
            &app,
            None,
            "cartLinesAdd",
            "[CartLineInput!]!",
            &cart,
            input,
        )
        .await;
        assert_eq!(code(&answer), expected, "{answer}");
        assert_eq!(answer["cart"], Value::Null);
    }
    let unknown = change(
        &app,
        None,
        "cartDiscountCodesUpdate",
        "[String!]!",
        &cart,
        json!(["NOPE"]),
    )
    .await;
    assert_eq!(code(&unknown), "INVALID_DISCOUNT_CODE");
    let missing = change(
        &app,
        None,
        "cartNoteUpdate",
        "String!",
        "Z2lkOi8vc3RvcmVmcm9udC9DYXJ0L25vcGU",
        json!("x"),
    )
    .await;
    assert_eq!(code(&missing), "CART_NOT_FOUND");
    let cart_now = app
        .data(
            &format!("query($id: ID!) {{ cart(id: $id) {{ {CART_FIELDS} }} }}"),
            json!({"id": cart}),
        )
        .await;
    assert_eq!(cart_now["cart"]["totalQuantity"], 1, "nothing changed");
    assert_eq!(cart_now["cart"]["discountCodes"], json!([]));
}

#[tokio::test]
async fn a_customer_s_cart_is_theirs_alone_for_every_operation() {
    let app = spawn_app().await;
    let ada = signed_in(&app, "ada@example.com", "Ada").await["accessToken"]
        .as_str()
        .expect("token")
        .to_owned();
    let bob = signed_in(&app, "bob@example.com", "Bob").await["accessToken"]
        .as_str()
        .expect("token")
        .to_owned();
    let variants = stocked_variants(&app, 1).await;
    let created = create_cart(&app, Some(&ada), json!([{"merchandiseId": variants[0].0}])).await;
    let cart = created["cart"]["id"].as_str().expect("id").to_owned();
    let line = created["cart"]["lines"]["nodes"][0]["id"]
        .as_str()
        .expect("line")
        .to_owned();
    let read = "query($id: ID!) { cart(id: $id) { id } }";
    assert_eq!(
        app.post_as(&ada, read, json!({"id": cart})).await.2["data"]["cart"]["id"],
        json!(cart)
    );
    for token in [Some(bob.as_str()), None] {
        let body = match token {
            Some(t) => app.post_as(t, read, json!({"id": cart})).await.2,
            None => app.post(read, json!({"id": cart})).await.1,
        };
        assert_eq!(body["data"]["cart"], Value::Null, "{token:?}");
        for (name, args, x) in [
            (
                "cartLinesAdd",
                "[CartLineInput!]!",
                json!([{"merchandiseId": variants[0].0}]),
            ),
            (
                "cartLinesUpdate",
                "[CartLineUpdateInput!]!",
                json!([{"id": line, "quantity": 2}]),
            ),
            ("cartLinesRemove", "[ID!]!", json!([line])),
            (
                "cartDiscountCodesUpdate",
                "[String!]!",
                json!(["WELCOME10"]),
            ),
            (
                "cartBuyerIdentityUpdate",
                "CartBuyerIdentityInput!",
                json!({"email": "mallory@example.com"}),
            ),
            ("cartNoteUpdate", "String!", json!("hijacked")),
        ] {
            let answer = change(&app, token, name, args, &cart, x).await;
            assert_eq!(
                answer["userErrors"][0]["code"], "CART_NOT_FOUND",
                "{name} by {token:?}"
            );
        }
    }
    let mine = app
        .post_as(
            &ada,
            &format!("query($id: ID!) {{ cart(id: $id) {{ {CART_FIELDS} }} }}"),
            json!({"id": cart}),
        )
        .await
        .2;
    assert_eq!(mine["data"]["cart"]["totalQuantity"], 1);
    assert_eq!(mine["data"]["cart"]["note"], "");
}

#[tokio::test]
async fn concurrent_edits_of_one_cart_lose_no_line() {
    check_concurrent_edits(&spawn_app().await).await;
}

#[tokio::test]
async fn concurrent_edits_of_one_cart_lose_no_line_on_dynamodb() {
    let mut config = crate::support::test_config();
    config.store = storefront_gateway::config::StoreEngine::Aws;
    let table = crate::support::fresh_dynamo_table().await;
    check_concurrent_edits(
        &crate::support::spawn_with_store(config, std::sync::Arc::new(table)).await,
    )
    .await;
}

async fn check_concurrent_edits(app: &TestApp) {
    let variants = stocked_variants(app, 12).await;
    let created = create_cart(app, None, json!([])).await;
    let cart = created["cart"]["id"].as_str().expect("id").to_owned();
    let adds = variants.iter().map(|(variant, _, _)| {
        change(
            app,
            None,
            "cartLinesAdd",
            "[CartLineInput!]!",
            &cart,
            json!([{"merchandiseId": variant}]),
        )
    });
    for answer in join_all(adds).await {
        assert_eq!(answer["userErrors"], json!([]), "{answer}");
    }
    let after = app
        .data(
            &format!("query($id: ID!) {{ cart(id: $id) {{ {CART_FIELDS} }} }}"),
            json!({"id": cart}),
        )
        .await;
    assert_eq!(
        after["cart"]["lines"]["nodes"].as_array().map(Vec::len),
        Some(variants.len())
    );
    // The lines page like any connection.
    let page = "query($id: ID!, $after: String) { cart(id: $id) { lines(first: 5, after: $after) {
        nodes { id } pageInfo { hasNextPage endCursor } } } }";
    let first = app.data(page, json!({"id": cart})).await["cart"]["lines"].clone();
    assert_eq!(first["nodes"].as_array().map(Vec::len), Some(5));
    assert_eq!(first["pageInfo"]["hasNextPage"], true);
    let rest = app
        .data(
            page,
            json!({"id": cart, "after": first["pageInfo"]["endCursor"]}),
        )
        .await["cart"]["lines"]
        .clone();
    assert_eq!(rest["nodes"].as_array().map(Vec::len), Some(5));
}

#[tokio::test]
async fn a_cart_holds_no_more_lines_than_allowed() {
    let mut config = crate::support::test_config();
    config.set("cart", "max_lines", 2);
    let app = crate::support::spawn_app_with(config).await;
    let variants = stocked_variants(&app, 3).await;
    let lines: Vec<Value> = variants
        .iter()
        .map(|(v, _, _)| json!({"merchandiseId": v}))
        .collect();
    let created = create_cart(&app, None, json!(lines)).await;
    assert_eq!(created["userErrors"][0]["code"], "TOO_MANY_LINES");
    assert_eq!(created["cart"], Value::Null);
}

const SIGN_IN_WITH_CART: &str = "mutation($email: String!, $password: String!, $cart: ID) {
  customerSignIn(email: $email, password: $password, cartId: $cart) {
    accessToken cart { id lines { nodes { quantity merchandise { id } } } }
    cartChanges { merchandiseId quantityBefore quantityAfter kind }
    userErrors { code } } }";

async fn sign_in_with(app: &TestApp, email: &str, cart: &str) -> Value {
    app.data(
        SIGN_IN_WITH_CART,
        json!({"email": email, "password": crate::customer::PASSWORD, "cart": cart}),
    )
    .await["customerSignIn"]
        .clone()
}

/// Sets the stock of the variant with this ID.
pub async fn set_stock(app: &TestApp, variant: &str, stock: i64) {
    let data = app
        .data(
            "query($id: ID!) { node(id: $id) { ... on ProductVariant { sku } } }",
            json!({"id": variant}),
        )
        .await;
    storefront_loaders::catalog::CatalogWriter::new(std::sync::Arc::clone(&app.app.table))
        .set_inventory(data["node"]["sku"].as_str().expect("sku"), stock)
        .await
        .expect("stock");
}

#[tokio::test]
async fn a_guest_cart_merges_into_the_customer_s_at_sign_in_clipped_to_stock() {
    let app = spawn_app().await;
    let variants = stocked_variants(&app, 2).await;
    let (a, b) = (variants[0].0.clone(), variants[1].0.clone());
    let ada = signed_in(&app, "ada@example.com", "Ada").await["accessToken"]
        .as_str()
        .expect("token")
        .to_owned();
    let mine = create_cart(
        &app,
        Some(&ada),
        json!([{"merchandiseId": a, "quantity": 1}]),
    )
    .await;
    let mine = mine["cart"]["id"].as_str().expect("cart").to_owned();
    let guest = create_cart(
        &app,
        None,
        json!([{"merchandiseId": a, "quantity": 2}, {"merchandiseId": b, "quantity": 1}]),
    )
    .await;
    let guest = guest["cart"]["id"].as_str().expect("cart").to_owned();
    set_stock(&app, &a, 2).await;

    let signed = sign_in_with(&app, "ada@example.com", &guest).await;
    assert_eq!(
        signed["cart"]["id"],
        json!(mine),
        "the customer's cart, with the guest's lines"
    );
    let quantities: Vec<(Value, Value)> = signed["cart"]["lines"]["nodes"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|l| (l["merchandise"]["id"].clone(), l["quantity"].clone()))
        .collect();
    assert_eq!(quantities, [(json!(a), json!(2)), (json!(b), json!(1))]);
    assert_eq!(
        signed["cartChanges"],
        json!([
            {"merchandiseId": a, "quantityBefore": 1, "quantityAfter": 2, "kind": "CLIPPED_TO_STOCK"},
            {"merchandiseId": b, "quantityBefore": 0, "quantityAfter": 1, "kind": "ADDED"},
        ])
    );
    let read = "query($id: ID!) { cart(id: $id) { id } }";
    assert_eq!(
        app.post(read, json!({"id": guest})).await.1["data"]["cart"],
        Value::Null,
        "the guest cart is spent"
    );
    let token = signed["accessToken"].as_str().expect("token");
    let current = app
        .post_as(
            token,
            "{ customer { cart { id totalQuantity } } }",
            json!({}),
        )
        .await
        .2;
    assert_eq!(
        current["data"]["customer"]["cart"],
        json!({"id": mine, "totalQuantity": 3})
    );
}

#[tokio::test]
async fn a_customer_without_a_cart_takes_the_guest_s_and_it_becomes_theirs_alone() {
    let app = spawn_app().await;
    let variants = stocked_variants(&app, 1).await;
    signed_in(&app, "ada@example.com", "Ada").await;
    let guest = create_cart(&app, None, json!([{"merchandiseId": variants[0].0}])).await;
    let guest = guest["cart"]["id"].as_str().expect("cart").to_owned();
    let signed = sign_in_with(&app, "ada@example.com", &guest).await;
    assert_eq!(signed["cart"]["id"], json!(guest));
    assert_eq!(signed["cartChanges"], json!([]));
    let read = "query($id: ID!) { cart(id: $id) { id } }";
    assert_eq!(
        app.post(read, json!({"id": guest})).await.1["data"]["cart"],
        Value::Null,
        "no longer a guest's"
    );
    let token = signed["accessToken"].as_str().expect("token");
    assert_eq!(
        app.post_as(token, read, json!({"id": guest})).await.2["data"]["cart"]["id"],
        json!(guest)
    );
}

#[tokio::test]
async fn with_keep_customer_the_guest_lines_are_dropped_and_reported() {
    let mut config = crate::support::test_config();
    config.set("cart", "merge", "keep_customer");
    let app = crate::support::spawn_app_with(config).await;
    let variants = stocked_variants(&app, 2).await;
    let ada = signed_in(&app, "ada@example.com", "Ada").await["accessToken"]
        .as_str()
        .expect("token")
        .to_owned();
    create_cart(&app, Some(&ada), json!([{"merchandiseId": variants[0].0}])).await;
    let guest = create_cart(
        &app,
        None,
        json!([{"merchandiseId": variants[1].0, "quantity": 2}]),
    )
    .await;
    let signed = sign_in_with(
        &app,
        "ada@example.com",
        guest["cart"]["id"].as_str().expect("cart"),
    )
    .await;
    assert_eq!(
        signed["cart"]["lines"]["nodes"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(
        signed["cartChanges"],
        json!([{"merchandiseId": variants[1].0, "quantityBefore": 0, "quantityAfter": 0, "kind": "DROPPED"}])
    );
}

#[tokio::test]
async fn signing_in_with_someone_else_s_cart_id_takes_nothing() {
    let app = spawn_app().await;
    let variants = stocked_variants(&app, 1).await;
    let ada = signed_in(&app, "ada@example.com", "Ada").await["accessToken"]
        .as_str()
        .expect("token")
        .to_owned();
    signed_in(&app, "bob@example.com", "Bob").await;
    let hers = create_cart(&app, Some(&ada), json!([{"merchandiseId": variants[0].0}])).await;
    let hers = hers["cart"]["id"].as_str().expect("cart").to_owned();
    // Bob learned Ada's cart id and signs in with it.
    let signed = sign_in_with(&app, "bob@example.com", &hers).await;
    assert_eq!(signed["userErrors"], json!([]));
    assert_eq!(signed["cart"], Value::Null, "no cart comes along");
    let read = "query($id: ID!) { cart(id: $id) { id totalQuantity } }";
    assert_eq!(
        app.post_as(&ada, read, json!({"id": hers})).await.2["data"]["cart"],
        json!({"id": hers, "totalQuantity": 1}),
        "still Ada's, unchanged"
    );
}
