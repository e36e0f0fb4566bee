//! Chatbot sessions: answers fulfilled by the gateway's own domain code (the customer's real
//! order and never another's, catalog cards equal to the search API's, stores from the
//! locator), sessions their owner's alone and bounded, hand-offs kept for operators, and Lex
//! V2 asked in its documented shape, with a polite reply when it hangs.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::checkout::{cart_with, checkout_config};
use crate::support::{TestApp, full_catalog_config, spawn_app_with};

const START: &str =
    "mutation { chatSessionStart { session { id messages { author text } } userErrors { code } } }";

const SEND: &str =
    "mutation($id: ID!, $text: String!) { chatSendMessage(sessionId: $id, text: $text) {
  reply { author text intent cards {
    __typename
    ... on ChatProductsCard { products { id title priceRange { minVariantPrice { amount } } } }
    ... on ChatOrderCard { number status total { amount } delivery { status } }
    ... on ChatStoresCard { locations { handle name } }
    ... on ChatHandoffCard { reference } } }
  session { messages(last: 100) { author } }
  userErrors { field code } } }";

/// Starts a session (as `token`'s customer, when given); returns its id.
async fn start(app: &TestApp, token: Option<&str>) -> String {
    let body = match token {
        Some(token) => app.post_as(token, START, json!({})).await.2,
        None => app.post(START, json!({})).await.1,
    };
    let session = &body["data"]["chatSessionStart"]["session"];
    assert_eq!(session["messages"][0]["author"], "BOT", "{body}");
    session["id"].as_str().expect("id").to_owned()
}

/// Sends `text`; returns the payload.
async fn say(app: &TestApp, token: Option<&str>, session: &str, text: &str) -> Value {
    let variables = json!({"id": session, "text": text});
    let body = match token {
        Some(token) => app.post_as(token, SEND, variables).await.2,
        None => app.post(SEND, variables).await.1,
    };
    assert!(body.get("errors").is_none(), "{body}");
    body["data"]["chatSendMessage"].clone()
}

async fn customer(app: &TestApp, email: &str) -> String {
    crate::customer::signed_in(app, email, "Pat").await["accessToken"]
        .as_str()
        .expect("token")
        .to_owned()
}

/// An order placed by `token`'s customer (or a guest), with its number.
async fn order(app: &TestApp, token: Option<&str>, email: &str, key: &str) -> String {
    let variant = crate::cart::stocked_variants(app, 1).await.remove(0).0;
    let cart = match token {
        Some(token) => crate::cart::create_cart(
            app,
            Some(token),
            json!([{"merchandiseId": variant, "quantity": 1}]),
        )
        .await["cart"]["id"]
            .as_str()
            .expect("cart")
            .to_owned(),
        None => cart_with(app, &variant, 1).await,
    };
    let checkout = "mutation($cart: ID!, $key: String!, $email: String!) { checkoutComplete(cartId: $cart, idempotencyKey: $key, email: $email, shippingMethod: \"standard\",
      shippingAddress: {firstName: \"Pat\", address1: \"1 Main St\", city: \"Cambridge\", province: \"MA\", zip: \"02139\", countryCode: \"US\"},
      payment: {token: \"tok_visa\"}) { order { number status } userErrors { code message } } }";
    let variables = json!({"cart": cart, "key": key, "email": email});
    let body = match token {
        Some(token) => app.post_as(token, checkout, variables).await.2,
        None => app.post(checkout, variables).await.1,
    };
    let order = &body["data"]["checkoutComplete"]["order"];
    assert_eq!(order["status"], "PAID", "{body}");
    order["number"].as_str().expect("number").to_owned()
}

#[tokio::test]
async fn where_is_my_order_answers_with_the_customer_s_own_order_and_never_another_s() {
    let app = spawn_app_with(checkout_config()).await;
    let ada = customer(&app, "ada@example.com").await;
    let bob = customer(&app, "bob@example.com").await;
    let adas = order(&app, Some(&ada), "ada@example.com", "chat-ada-1").await;
    let bobs = order(&app, Some(&bob), "bob@example.com", "chat-bob-1").await;

    let session = start(&app, Some(&ada)).await;
    let answer = say(&app, Some(&ada), &session, "Where is my order?").await;
    let reply = &answer["reply"];
    assert_eq!(reply["intent"], "OrderStatus");
    assert_eq!(
        reply["cards"],
        json!([{"__typename": "ChatOrderCard", "number": adas, "status": "PAID",
            "total": reply["cards"][0]["total"], "delivery": {"status": "PREPARING"}}])
    );
    assert!(reply["text"].as_str().expect("text").contains(&adas));

    let theirs = say(
        &app,
        Some(&ada),
        &session,
        &format!("where is order {bobs}"),
    )
    .await;
    assert_eq!(theirs["reply"]["cards"], json!([]), "{theirs}");
    assert!(
        !theirs["reply"]["text"]
            .as_str()
            .expect("text")
            .contains("PAID")
    );

    // Bob cannot read or continue Ada's conversation, nor can a guest holding its id.
    let (_, _, read) = app
        .post_as(
            &bob,
            "query($id: ID!) { chatSession(id: $id) { id } }",
            json!({"id": session}),
        )
        .await;
    assert_eq!(read["data"]["chatSession"], Value::Null);
    for token in [Some(bob.as_str()), None] {
        let refused = say(&app, token, &session, "where is my order").await;
        assert_eq!(
            refused["userErrors"],
            json!([{"field": ["sessionId"], "code": "SESSION_NOT_FOUND"}])
        );
    }
}

#[tokio::test]
async fn a_guest_finds_an_order_by_its_number_and_email_only() {
    let mut config = checkout_config();
    config.set("chat", "max_order_lookups", 4);
    let app = spawn_app_with(config).await;
    let guest = order(&app, None, "eve@example.com", "chat-guest-1").await;
    let ada = customer(&app, "ada@example.com").await;
    let adas = order(&app, Some(&ada), "ada@example.com", "chat-ada-2").await;

    let session = start(&app, None).await;
    let asked = say(&app, None, &session, "where is my order").await;
    assert_eq!(asked["reply"]["cards"], json!([]));
    assert!(
        asked["reply"]["text"]
            .as_str()
            .expect("text")
            .contains("number")
    );

    let found = say(&app, None, &session, &format!("{guest} eve@example.com")).await;
    assert_eq!(found["reply"]["cards"][0]["number"], guest, "{found}");
    let account = say(
        &app,
        None,
        &session,
        &format!("order {adas} ada@example.com"),
    )
    .await;
    assert_eq!(
        account["reply"]["cards"],
        json!([]),
        "an account's order needs the account"
    );

    for _ in 0..2 {
        let wrong = say(
            &app,
            None,
            &session,
            &format!("{guest} mallory@example.com"),
        )
        .await;
        assert_eq!(wrong["reply"]["cards"], json!([]));
    }
    let spent = say(&app, None, &session, &format!("{guest} eve@example.com")).await;
    assert_eq!(
        spent["reply"]["cards"],
        json!([]),
        "past its look-ups a session looks up nothing more"
    );
}

#[tokio::test]
async fn a_product_question_is_answered_with_the_catalog_search_s_own_products() {
    let app = spawn_app_with(full_catalog_config(checkout_config())).await;
    let session = start(&app, None).await;
    let answer = say(&app, None, &session, "Do you have black dresses under $50?").await;
    let reply = &answer["reply"];
    assert_eq!(reply["intent"], "ProductSearch");
    let shown: Vec<Value> = reply["cards"][0]["products"]
        .as_array()
        .unwrap_or_else(|| panic!("{answer}"))
        .iter()
        .map(|p| p["id"].clone())
        .collect();
    let search = app
        .data(
            "{ search(query: \"black dresses\", first: 4, productFilters: [{available: true}, {price: {max: \"50\"}}]) { nodes { id priceRange { minVariantPrice { amount } } } } }",
            json!({}),
        )
        .await;
    let expected: Vec<Value> = search["search"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|p| p["id"].clone())
        .collect();
    assert!(!expected.is_empty(), "the demo catalog has such dresses");
    assert_eq!(shown, expected, "the same products as the search API's");
    for product in reply["cards"][0]["products"].as_array().expect("products") {
        let price: f64 = product["priceRange"]["minVariantPrice"]["amount"]
            .as_str()
            .expect("amount")
            .parse()
            .expect("decimal");
        assert!(price <= 50.0, "{product}");
    }
}

#[tokio::test]
async fn stores_hours_and_a_hand_off_come_from_the_locator_and_reach_operators() {
    let mut config = checkout_config();
    crate::support::with_admin_key(&mut config, "support-desk", "support-secret");
    let app = spawn_app_with(config).await;
    let session = start(&app, None).await;
    let near = say(&app, None, &session, "stores near Boston").await;
    assert_eq!(near["reply"]["intent"], "StoreFinder");
    assert_eq!(
        near["reply"]["cards"][0]["locations"][0],
        json!({"handle": "boston", "name": "Storefront Boston"})
    );
    let hours = say(&app, None, &session, "when does the Chicago store open?").await;
    assert_eq!(hours["reply"]["intent"], "OpeningHours");
    assert!(
        hours["reply"]["text"]
            .as_str()
            .expect("text")
            .starts_with("Storefront Chicago is "),
        "{hours}"
    );
    let unknown = say(&app, None, &session, "stores near Atlantis").await;
    assert_eq!(unknown["reply"]["cards"], json!([]), "never a guess");

    let handed = say(&app, None, &session, "I want to talk to a human").await;
    let reference = handed["reply"]["cards"][0]["reference"]
        .as_str()
        .unwrap_or_else(|| panic!("{handed}"))
        .to_owned();
    let query = "{ chatHandoffs(first: 5) { reference transcript { text } } }";
    let (_, refused) = app.post(query, json!({})).await;
    assert_eq!(refused["errors"][0]["extensions"]["code"], "FORBIDDEN");
    let listed: Value = app
        .client
        .post(app.url("/graphql"))
        .header("x-api-key", "support-secret")
        .json(&json!({"query": query}))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    let handoff = &listed["data"]["chatHandoffs"][0];
    assert_eq!(handoff["reference"], reference.as_str(), "{listed}");
    assert!(
        handoff["transcript"]
            .as_array()
            .expect("transcript")
            .iter()
            .any(|m| m["text"] == "stores near Boston"),
        "the agent sees the conversation"
    );
    assert_eq!(
        app.app
            .metrics
            .sample("storefront_chat_handoffs_total", &[]),
        1.0
    );
}

#[tokio::test]
async fn sessions_are_bounded_expire_and_keep_every_message_sent_at_once() {
    let mut config = checkout_config();
    config.set("chat", "max_messages", 30);
    config.set("chat", "max_text_chars", 40);
    let app = Arc::new(spawn_app_with(config).await);
    let session = start(&app, None).await;
    let long = say(&app, None, &session, &"a".repeat(41)).await;
    assert_eq!(
        long["userErrors"],
        json!([{"field": ["text"], "code": "INVALID_TEXT"}])
    );
    let sent = futures::future::join_all((0..10).map(|i| {
        let (app, session) = (Arc::clone(&app), session.clone());
        async move { say(&app, None, &session, &format!("thanks {i}")).await }
    }))
    .await;
    assert!(sent.iter().all(|s| s["userErrors"] == json!([])));
    let read = app
        .data(
            "query($id: ID!) { chatSession(id: $id) { messages(last: 100) { text } } }",
            json!({"id": session}),
        )
        .await;
    let texts: Vec<&str> = read["chatSession"]["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["text"].as_str())
        .collect();
    assert_eq!(texts.len(), 21, "the greeting and ten exchanges: {texts:?}");
    for i in 0..10 {
        assert!(
            texts.contains(&format!("thanks {i}").as_str()),
            "{i} was lost"
        );
    }
    for i in 10..15 {
        say(&app, None, &session, &format!("thanks {i}")).await;
    }
    let bounded = app
        .data(
            "query($id: ID!) { chatSession(id: $id) { messages(last: 100) { text } } }",
            json!({"id": session}),
        )
        .await;
    assert_eq!(
        bounded["chatSession"]["messages"].as_array().map(Vec::len),
        Some(30),
        "the oldest go"
    );

    // Its time runs out: the store's expiry says it is over.
    let raw =
        storefront_resolvers::ids::decode_as(&session.clone().into(), "ChatSession").expect("id");
    let digest = storefront_loaders::identity::GuestToken::parse(&raw)
        .expect("token")
        .digest();
    app.app
        .table
        .update(
            &storefront_loaders::chat::records::keys::session(&digest),
            &storefront_loaders::store::Update::set(
                storefront_loaders::store::TTL_ATTRIBUTE,
                chrono::Utc::now().timestamp() - 1,
            ),
            None,
        )
        .await
        .expect("expire");
    let gone = app
        .data(
            "query($id: ID!) { chatSession(id: $id) { id } }",
            json!({"id": session}),
        )
        .await;
    assert_eq!(gone["chatSession"], Value::Null);
    let ended = say(&app, None, &session, "hello").await;
    assert_eq!(ended["userErrors"][0]["code"], "SESSION_NOT_FOUND");
}

#[tokio::test]
async fn guesses_sent_at_once_cannot_pass_a_session_s_order_look_ups() {
    let mut config = checkout_config();
    config.set("chat", "max_order_lookups", 3);
    let app = Arc::new(spawn_app_with(config).await);
    let session = start(&app, None).await;
    let guesses = futures::future::join_all((0..12).map(|i| {
        let (app, session) = (Arc::clone(&app), session.clone());
        async move {
            let text = format!("SG-{:08X} eve@example.com", 0xABC0_0000_u32 + i);
            say(&app, None, &session, &text).await["reply"]["text"]
                .as_str()
                .expect("text")
                .to_owned()
        }
    }))
    .await;
    let looked_up = guesses
        .iter()
        .filter(|t| t.starts_with("I couldn't find an order"))
        .count();
    let refused = guesses
        .iter()
        .filter(|t| t.starts_with("I can't look up more orders"))
        .count();
    assert_eq!((looked_up, refused), (3, 9), "{guesses:#?}");
}

/// A fake Lex V2 runtime: `RecognizeText` for the bot `BOT1`'s alias `ALIAS1` in `en_US`,
/// understanding a store question about Boston; hanging while `hang` is set.
async fn fake_lex(hang: Arc<std::sync::atomic::AtomicBool>) -> crate::fake_aws::FakeAws {
    use axum::http::StatusCode;
    crate::fake_aws::FakeAws::start("lex", "us-east-1", move |request| {
        let path: Vec<&str> = request.path.trim_start_matches('/').split('/').collect();
        let shape = ["bots", "BOT1", "botAliases", "ALIAS1", "botLocales", "en_US", "sessions"];
        if path.len() != 9 || path[..7] != shape || path[8] != "text" {
            return Some((StatusCode::NOT_FOUND, json!({"message": format!("no route {}", request.path)})));
        }
        let body = request.json();
        let Some(text) = body["text"].as_str() else {
            return Some((StatusCode::BAD_REQUEST, json!({"message": "no text"})));
        };
        if hang.load(std::sync::atomic::Ordering::SeqCst) {
            return None;
        }
        let interpretation = if text.to_lowercase().contains("boston") {
            json!({"intent": {"name": "StoreFinder", "state": "ReadyForFulfillment", "confirmationState": "None",
                    "slots": {"place": {"value": {"originalValue": "boston", "interpretedValue": "Boston", "resolvedValues": ["Boston"]}}}},
                   "nluConfidence": {"score": 0.93}})
        } else {
            json!({"intent": {"name": "FallbackIntent", "state": "ReadyForFulfillment", "confirmationState": "None", "slots": {}}})
        };
        Some((StatusCode::OK, json!({
            "sessionId": path[7],
            "interpretations": [interpretation],
            "sessionState": {"dialogAction": {"type": "Close"}, "intent": interpretation["intent"]},
            "messages": []
        })))
    })
    .await
}

#[tokio::test]
async fn lex_understands_messages_and_a_polite_reply_answers_when_it_hangs() {
    use std::sync::atomic::Ordering;
    let hang = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let fake = fake_lex(Arc::clone(&hang)).await;
    let config = checkout_config()
        .with_section("chat", "engine", "lex")
        .with_section("chat", "deadline_millis", 300)
        .with_section("chat", "lex.bot_id", "BOT1")
        .with_section("chat", "lex.bot_alias_id", "ALIAS1")
        .with_section("chat", "lex.region", "us-east-1")
        .with_section("chat", "lex.endpoint_url", fake.url());
    let app = spawn_app_with(config).await;
    let session = start(&app, None).await;
    let answer = say(&app, None, &session, "any shop in boston?").await;
    assert_eq!(answer["reply"]["intent"], "StoreFinder", "{answer}");
    assert_eq!(
        answer["reply"]["cards"][0]["locations"][0]["handle"],
        "boston"
    );
    let sent = fake
        .wait_for(std::time::Duration::from_secs(2), |r| {
            r.body.contains("boston")
        })
        .await;
    assert_eq!(sent.json(), json!({"text": "any shop in boston?"}));

    hang.store(true, Ordering::SeqCst);
    let started = std::time::Instant::now();
    let polite = say(&app, None, &session, "stores near boston").await;
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    assert_eq!(polite["reply"]["intent"], "Unavailable");
    assert_eq!(polite["reply"]["cards"], json!([]));
    assert!(
        polite["reply"]["text"]
            .as_str()
            .expect("text")
            .starts_with("Sorry"),
        "{polite}"
    );
    assert_eq!(fake.problems(), Vec::<String>::new());
}
