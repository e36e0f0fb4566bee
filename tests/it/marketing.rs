//! Marketing consent and push: consent stored with its time and source and bounded topics;
//! push devices bounded even when registered at once through two replicas; Amazon Pinpoint
//! asked with the documented requests (a fake that checks them and SigV4); order updates
//! pushed once, only to customers who opted in.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use futures::future::join_all;
use serde_json::{Value, json};
use storefront_gateway::config::Config;
use storefront_loaders::events::{Consumer, EventLog};
use storefront_loaders::marketing::{CONSUMER, Marketing};

use crate::customer::signed_in;
use crate::events::{ADMIN, CONSENT, events_config, relay_events};
use crate::fake_aws::FakeAws;
use crate::support::{TestApp, spawn_app_with, spawn_with_store};

const REGISTER: &str = "mutation($t: String!, $p: PushPlatform!) {
  registerPushDevice(token: $t, platform: $p) { device { id platform registeredAt } userErrors { field code message } }
}";
const UNREGISTER: &str = "mutation($t: String!) {
  unregisterPushDevice(token: $t) { removed userErrors { field code } }
}";

/// An APNs-shaped token (64 hex digits) numbered `n`.
fn apns(n: usize) -> String {
    format!("{n:064x}")
}

async fn signed_in_token(app: &TestApp, email: &str) -> String {
    signed_in(app, email, "Pat").await["accessToken"]
        .as_str()
        .expect("token")
        .to_owned()
}

/// The marketing consumer of `app`'s replica (one instance holds the offset's lease).
fn consumer(app: &TestApp) -> Consumer {
    app.app
        .services
        .get::<EventLog>()
        .expect("the event log")
        .consumer(CONSUMER)
}

/// Runs `consumer` over everything the relay delivers.
async fn consume(app: &TestApp, consumer: &Consumer) -> usize {
    relay_events(app).await;
    let marketing = app
        .app
        .services
        .get::<Marketing>()
        .expect("marketing")
        .clone();
    let pass = consumer
        .pass(100, move |event| {
            let marketing = marketing.clone();
            async move { marketing.handle(event).await }
        })
        .await
        .expect("pass");
    assert!(!pass.busy);
    pass.handled
}

#[tokio::test]
async fn consent_is_kept_with_its_time_and_source_and_topics_are_the_shops_only() {
    let app = spawn_app_with(events_config()).await;
    let (_, anonymous) = app.post(CONSENT, json!({"m": {"email": true}})).await;
    assert_eq!(
        anonymous["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{anonymous:#}"
    );
    let token = signed_in_token(&app, "cora@example.com").await;
    let ask = |variables: Value| {
        let (app, token) = (&app, token.clone());
        async move {
            app.post_as(&token, CONSENT, variables).await.2["data"]["customerConsentUpdate"].clone()
        }
    };
    let (_, _, before) = app
        .post_as(
            &token,
            "{ marketingConsent { email sms push topics source updatedAt } }",
            json!({}),
        )
        .await;
    assert_eq!(
        before["data"]["marketingConsent"],
        json!({"email": false, "sms": false, "push": false, "topics": [], "source": null, "updatedAt": null})
    );
    let unknown = ask(json!({"m": {"sms": true}, "t": ["newsletter", "casino"]})).await;
    assert_eq!(
        unknown["userErrors"][0]["code"], "UNKNOWN_TOPIC",
        "{unknown}"
    );
    let many: Vec<String> = (0..51).map(|_| "newsletter".to_owned()).collect();
    let too_many = ask(json!({"m": {}, "t": many})).await;
    assert_eq!(too_many["userErrors"][0]["code"], "INVALID");
    let given = ask(json!({"m": {"sms": true, "push": true}, "t": ["offers", "offers", "newsletter"], "s": "CHECKOUT"})).await;
    assert_eq!(given["userErrors"], json!([]));
    let consent = &given["consent"];
    assert_eq!(
        (
            &consent["email"],
            &consent["sms"],
            &consent["push"],
            &consent["topics"],
            &consent["source"]
        ),
        (
            &json!(false),
            &json!(true),
            &json!(true),
            &json!(["offers", "newsletter"]),
            &json!("CHECKOUT")
        )
    );
    assert!(consent["updatedAt"].is_string());
    // Refused changes changed nothing and announced nothing: one change, one event.
    relay_events(&app).await;
    let changes = crate::events::logged(&app)
        .await
        .into_iter()
        .filter(|e| e["type"] == "CustomerConsentChanged")
        .count();
    assert_eq!(changes, 1);
}

#[tokio::test]
async fn push_devices_stay_within_their_bound_when_registered_at_once_through_two_replicas() {
    let mut config = events_config();
    config.set("marketing", "push.max_devices", 3);
    let store = storefront_gateway::app::open_store(&config)
        .await
        .expect("store");
    let a = spawn_with_store(config.clone(), Arc::clone(&store)).await;
    let b = spawn_with_store(config, store).await;
    let token = signed_in_token(&a, "dev@example.com").await;
    // Each replica has its own signing key: the customer signs in on the other one too.
    let signed_in_b = b
        .data(
            crate::customer::SIGN_IN,
            json!({"email": "dev@example.com", "password": crate::customer::PASSWORD}),
        )
        .await;
    let token_b = signed_in_b["customerSignIn"]["accessToken"]
        .as_str()
        .expect("token")
        .to_owned();
    let answers = join_all((0..12).map(|n| {
        let (replica, token) = if n % 2 == 0 {
            (&a, token.clone())
        } else {
            (&b, token_b.clone())
        };
        async move {
            replica
                .post_as(&token, REGISTER, json!({"t": apns(n), "p": "APNS"}))
                .await
                .2["data"]["registerPushDevice"]
                .clone()
        }
    }))
    .await;
    let registered: Vec<&Value> = answers.iter().filter(|a| a["device"].is_object()).collect();
    assert_eq!(registered.len(), 3, "{answers:#?}");
    assert!(
        answers
            .iter()
            .filter(|a| a["device"].is_null())
            .all(|a| a["userErrors"][0]["code"] == "TOO_MANY_DEVICES"),
        "{answers:#?}"
    );
    let (_, _, listed) = a
        .post_as(&token, "{ pushDevices { id platform } }", json!({}))
        .await;
    assert_eq!(
        listed["data"]["pushDevices"].as_array().map(Vec::len),
        Some(3)
    );
    // A device registering again is refreshed, not counted twice.
    let again_token = (0..12)
        .map(apns)
        .find(|t| {
            registered
                .iter()
                .any(|r| r["device"]["id"] == json!(device_id(t)))
        })
        .expect("a registered token");
    let again = b
        .post_as(&token_b, REGISTER, json!({"t": again_token, "p": "APNS"}))
        .await
        .2;
    assert_eq!(again["data"]["registerPushDevice"]["userErrors"], json!([]));
    // Malformed tokens are refused; unregistering frees a slot.
    let bad = a
        .post_as(&token, REGISTER, json!({"t": "not hex!", "p": "APNS"}))
        .await
        .2;
    assert_eq!(
        bad["data"]["registerPushDevice"]["userErrors"][0]["code"],
        "INVALID"
    );
    let removed = a
        .post_as(&token, UNREGISTER, json!({"t": again_token}))
        .await
        .2;
    assert_eq!(removed["data"]["unregisterPushDevice"]["removed"], true);
    let fresh = b
        .post_as(&token_b, REGISTER, json!({"t": apns(99), "p": "APNS"}))
        .await
        .2;
    assert_eq!(fresh["data"]["registerPushDevice"]["userErrors"], json!([]));
}

fn device_id(token: &str) -> String {
    storefront_loaders::hash::sha256_hex(token.as_bytes())[..32].to_owned()
}

/// A gateway pushing through Pinpoint at `url`.
fn pinpoint_config(url: &str) -> Config {
    let mut config = events_config();
    config.aws.region = Some("us-east-1".into());
    config.set("marketing", "push.engine", "pinpoint");
    config.set("marketing", "push.application_id", "app-123");
    config.set("marketing", "push.endpoint_url", url);
    config.set("marketing", "push.deadline_millis", 1_000);
    config
}

/// What Pinpoint's API reference documents for the three calls, checked field by field.
fn pinpoint_answer(request: &crate::fake_aws::Received) -> Option<(StatusCode, Value)> {
    let path = request.path.as_str();
    let endpoint = path.strip_prefix("/v1/apps/app-123/endpoints/");
    match (request.method.as_str(), endpoint, path) {
        ("PUT", Some(_), _) => {
            let body = request.json();
            let fine = body["Address"].is_string()
                && ["APNS", "GCM"].contains(&body["ChannelType"].as_str().unwrap_or(""))
                && ["ALL", "NONE"].contains(&body["OptOut"].as_str().unwrap_or(""))
                && body["User"]["UserId"].is_string();
            fine.then(|| {
                (
                    StatusCode::ACCEPTED,
                    json!({"RequestID": "r-1", "Message": "Accepted"}),
                )
            })
            .or(Some((
                StatusCode::BAD_REQUEST,
                json!({"Message": "bad request"}),
            )))
        }
        ("DELETE", Some(id), _) => Some((
            StatusCode::ACCEPTED,
            json!({"Id": id, "ApplicationId": "app-123"}),
        )),
        ("POST", None, "/v1/apps/app-123/messages") => {
            let body = request.json();
            let endpoints = body["Endpoints"].as_object().cloned().unwrap_or_default();
            let result: serde_json::Map<String, Value> = endpoints
                .keys()
                .map(|id| {
                    (
                        id.clone(),
                        json!({"DeliveryStatus": "SUCCESSFUL", "StatusCode": 200}),
                    )
                })
                .collect();
            Some((
                StatusCode::OK,
                json!({"ApplicationId": "app-123", "RequestId": "r-2", "EndpointResult": result}),
            ))
        }
        _ => Some((StatusCode::NOT_FOUND, json!({"Message": "no such route"}))),
    }
}

#[tokio::test]
async fn pinpoint_endpoints_follow_consent_and_order_updates_are_sent_with_the_documented_requests()
{
    let fake = FakeAws::start("mobiletargeting", "us-east-1", pinpoint_answer).await;
    let app = spawn_app_with(pinpoint_config(&fake.url())).await;
    let marketing = consumer(&app);
    let token = signed_in_token(&app, "pia@example.com").await;
    let device = apns(7);
    let registered = app
        .post_as(&token, REGISTER, json!({"t": device, "p": "APNS"}))
        .await
        .2;
    assert_eq!(
        registered["data"]["registerPushDevice"]["userErrors"],
        json!([]),
        "{registered:#} {:#?} {:?}",
        fake.received(),
        fake.problems()
    );
    let id = device_id(&device);
    let put = fake
        .wait_for(Duration::from_secs(5), |r| r.method == "PUT")
        .await;
    assert_eq!(put.path, format!("/v1/apps/app-123/endpoints/{id}"));
    assert_eq!(put.content_type, "application/json");
    let sub = put.json()["User"]["UserId"].clone();
    assert_eq!(
        (
            &put.json()["Address"],
            &put.json()["ChannelType"],
            &put.json()["OptOut"]
        ),
        (&json!(device), &json!("APNS"), &json!("ALL")),
        "not opted in yet"
    );

    // Opting in moves the endpoint's opt-out (through the event log's consumer).
    let given = app
        .post_as(&token, CONSENT, json!({"m": {"push": true}}))
        .await
        .2;
    assert_eq!(
        given["data"]["customerConsentUpdate"]["userErrors"],
        json!([])
    );
    consume(&app, &marketing).await;
    let puts: Vec<Value> = fake
        .received()
        .iter()
        .filter(|r| r.method == "PUT")
        .map(|r| r.json())
        .collect();
    assert_eq!(puts.len(), 2);
    assert_eq!(puts[1]["OptOut"], "NONE");
    assert_eq!(puts[1]["User"]["UserId"], sub);

    // An order's change is pushed to the device, once.
    crate::checkout::paid_order_of(&app, &token, "pia@example.com").await;
    consume(&app, &marketing).await;
    consume(&app, &marketing).await;
    let sends: Vec<crate::fake_aws::Received> = fake
        .received()
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect();
    assert_eq!(sends.len(), 1, "one status change, one push");
    let message = sends[0].json();
    assert_eq!(message["Endpoints"], json!({id.clone(): {}}));
    let apns_message = &message["MessageConfiguration"]["APNSMessage"];
    assert_eq!(apns_message["Action"], "OPEN_APP");
    assert!(
        apns_message["Body"]
            .as_str()
            .is_some_and(|b| b.contains("is confirmed")),
        "{message:#}"
    );
    assert!(
        apns_message["Data"]["about"]
            .as_str()
            .is_some_and(|a| a.starts_with("order:"))
    );
    assert!(message["MessageConfiguration"]["GCMMessage"]["Title"].is_string());

    // Unregistering deletes the endpoint.
    let removed = app
        .post_as(&token, UNREGISTER, json!({"t": device}))
        .await
        .2;
    assert_eq!(removed["data"]["unregisterPushDevice"]["removed"], true);
    let deleted = fake
        .wait_for(Duration::from_secs(5), |r| r.method == "DELETE")
        .await;
    assert_eq!(deleted.path, format!("/v1/apps/app-123/endpoints/{id}"));
    assert_eq!(fake.problems(), Vec::<String>::new());
    // Every call is counted, by service, operation and result.
    let calls = |operation: &str| {
        app.app.metrics.sample(
            "storefront_backend_calls_total",
            &[
                ("backend", "Pinpoint"),
                ("operation", operation),
                ("result", "ok"),
            ],
        )
    };
    assert_eq!(
        (
            calls("UpdateEndpoint"),
            calls("SendMessages"),
            calls("DeleteEndpoint")
        ),
        (2.0, 1.0, 1.0),
        "{}",
        app.app.metrics.render()
    );
}

#[tokio::test]
async fn a_hanging_pinpoint_refuses_devices_at_its_deadline_then_its_circuit_fails_them_at_once() {
    let fake = FakeAws::start("mobiletargeting", "us-east-1", |_| None).await;
    let mut config = pinpoint_config(&fake.url());
    config.set("marketing", "push.deadline_millis", 200);
    let app = spawn_app_with(config).await;
    let token = signed_in_token(&app, "hal@example.com").await;
    let register = |n: usize| {
        let (app, token) = (&app, token.clone());
        async move {
            let started = std::time::Instant::now();
            let answer = app
                .post_as(&token, REGISTER, json!({"t": apns(n), "p": "APNS"}))
                .await
                .2;
            (answer, started.elapsed())
        }
    };
    // Five calls that hang: each refused at the deadline, nothing kept.
    for n in 0..5 {
        let (answer, took) = register(n).await;
        assert_eq!(
            answer["data"]["registerPushDevice"]["userErrors"][0]["code"], "PUSH_UNAVAILABLE",
            "{answer:#}"
        );
        assert!(took >= Duration::from_millis(200), "{took:?}");
    }
    assert_eq!(fake.received().len(), 5);
    // The circuit is open: the next is refused at once, without a call.
    let (answer, took) = register(5).await;
    assert_eq!(
        answer["data"]["registerPushDevice"]["userErrors"][0]["code"],
        "PUSH_UNAVAILABLE"
    );
    assert!(took < Duration::from_millis(200), "{took:?}");
    assert_eq!(fake.received().len(), 5);
    let (_, _, listed) = app
        .post_as(&token, "{ pushDevices { id } }", json!({}))
        .await;
    assert_eq!(listed["data"]["pushDevices"], json!([]));
    let metrics = &app.app.metrics;
    assert_eq!(
        metrics.sample(
            "storefront_backend_calls_total",
            &[
                ("backend", "Pinpoint"),
                ("operation", "UpdateEndpoint"),
                ("result", "error")
            ],
        ),
        5.0
    );
    assert_eq!(
        metrics.sample(
            "storefront_backend_circuit_open",
            &[("backend", "pinpoint")]
        ),
        1.0
    );
    assert_eq!(
        metrics.sample(
            "storefront_backend_circuit_refused_total",
            &[("backend", "pinpoint")]
        ),
        1.0
    );
}

#[tokio::test]
async fn order_updates_are_pushed_once_and_only_to_customers_who_opted_in() {
    let app = spawn_app_with(events_config()).await;
    let marketing = consumer(&app);
    for (email, opted_in) in [("yes@example.com", true), ("no@example.com", false)] {
        let token = signed_in_token(&app, email).await;
        let registered = app
            .post_as(&token, REGISTER, json!({"t": format!("fcm:{}-0123456789abcdef", email.replace('@', "-at-")), "p": "FCM"}))
            .await
            .2;
        assert_eq!(
            registered["data"]["registerPushDevice"]["userErrors"],
            json!([]),
            "{registered:#}"
        );
        app.post_as(&token, CONSENT, json!({"m": {"push": opted_in}}))
            .await;
        crate::checkout::paid_order_of(&app, &token, email).await;
    }
    consume(&app, &marketing).await;
    // The events are offered again (a consumer that restarts from an older offset): no
    // notification twice.
    let log = app.app.services.get::<EventLog>().expect("log");
    assert!(consume(&app, &log.consumer("replay")).await > 0);
    let body = app
        .post_with_key(
            ADMIN,
            "{ pushMessages { customerId title body about } }",
            json!({}),
        )
        .await;
    let sent = body["data"]["pushMessages"]
        .as_array()
        .expect("messages")
        .clone();
    assert_eq!(sent.len(), 1, "{body:#}");
    assert!(
        sent[0]["body"]
            .as_str()
            .is_some_and(|b| b.contains("is confirmed"))
    );
    assert_eq!(
        app.error_codes("{ pushMessages { title } }", json!({}))
            .await,
        ["FORBIDDEN"]
    );
    let metrics = &app.app.metrics;
    assert_eq!(
        metrics.sample(
            "storefront_push_notifications_total",
            &[("engine", "embedded"), ("result", "sent")]
        ),
        1.0
    );
    assert!(
        metrics.sample(
            "storefront_event_consumer_events_total",
            &[("consumer", CONSUMER), ("result", "handled")]
        ) >= 6.0,
        "two sign-ups, two consent changes, two orders placed and paid"
    );
    assert_eq!(
        metrics.sample(
            "storefront_event_consumer_lag_seconds",
            &[("consumer", CONSUMER)]
        ),
        0.0
    );
}
