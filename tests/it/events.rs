//! Events: published once in effect with the change they announce, delivered by the events
//! relay to the log (read by consumers) and to EventBridge, where a real rule on moto fans
//! them out to an SQS queue; abandoned carts announced once by sweepers racing on two
//! replicas over DynamoDB Local.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use futures::future::join_all;
use serde_json::{Value, json};
use storefront_gateway::config::{Config, StoreEngine};
use storefront_loaders::cart::AbandonedCarts;
use storefront_loaders::domain::Services;
use storefront_loaders::events::{EventBridgeClient, EventRelay};

use crate::cart::{change, create_cart, stocked_variants};
use crate::customer::signed_in;
use crate::support::{
    TestApp, fresh_dynamo_table, local_aws, spawn_with_plugged, spawn_with_store, test_config,
    with_admin_key,
};

pub const ADMIN: &str = "events-admin-secret";

/// The test config with events readable at once (no settle time) and an admin key.
pub fn events_config() -> Config {
    let mut config = test_config();
    config.set("events", "settle_millis", 0);
    config.set("fraud", "rules.sign_ins_per_window", 1_000_000);
    config.rate_limit.enabled = false;
    with_admin_key(&mut config, "ops", ADMIN);
    config
}

/// Runs the events relay until nothing is waiting; returns how many it delivered.
pub async fn relay_events(app: &TestApp) -> usize {
    let relay = app
        .app
        .services
        .get::<EventRelay>()
        .expect("the events relay")
        .clone();
    relay.0.drain().await.expect("relay passes")
}

/// Every event in the log, as the admin query shows it.
pub async fn logged(app: &TestApp) -> Vec<Value> {
    let body = app
        .post_with_key(
            ADMIN,
            "{ eventLog(first: 100) { position id type version source subject time data } }",
            json!({}),
        )
        .await;
    body["data"]["eventLog"]
        .as_array()
        .unwrap_or_else(|| panic!("{body:#}"))
        .iter()
        .map(|e| {
            let mut e = e.clone();
            e["data"] = serde_json::from_str(e["data"].as_str().expect("data")).expect("JSON");
            e
        })
        .collect()
}

/// An EventBridge bus on moto whose one rule sends matching events to an SQS queue.
pub struct BusToQueue {
    pub events: aws_sdk_eventbridge::Client,
    pub bus: String,
    sqs: aws_sdk_sqs::Client,
    url: String,
}

impl BusToQueue {
    /// A new bus, rule (`pattern`) and queue.
    pub async fn new(pattern: &str) -> Self {
        let moto = local_aws().moto_url;
        let credentials =
            aws_sdk_eventbridge::config::Credentials::new("local", "local", None, None, "tests");
        let events = aws_sdk_eventbridge::Client::from_conf(
            aws_sdk_eventbridge::config::Builder::new()
                .behavior_version(aws_sdk_eventbridge::config::BehaviorVersion::latest())
                .region(aws_sdk_eventbridge::config::Region::new("us-east-1"))
                .endpoint_url(&moto)
                .credentials_provider(credentials.clone())
                .build(),
        );
        let sqs = aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::config::Builder::new()
                .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
                .region(aws_sdk_sqs::config::Region::new("us-east-1"))
                .endpoint_url(&moto)
                .credentials_provider(credentials)
                .build(),
        );
        let bus = format!("storefront-{}", uuid::Uuid::new_v4().simple());
        events
            .create_event_bus()
            .name(&bus)
            .send()
            .await
            .expect("bus");
        let url = sqs
            .create_queue()
            .queue_name(&bus)
            .send()
            .await
            .expect("queue")
            .queue_url()
            .expect("url")
            .to_owned();
        let arn = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("attributes")
            .attributes()
            .and_then(|a| {
                a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                    .cloned()
            })
            .expect("arn");
        events
            .put_rule()
            .name("fan-out")
            .event_bus_name(&bus)
            .event_pattern(pattern)
            .send()
            .await
            .expect("rule");
        events
            .put_targets()
            .rule("fan-out")
            .event_bus_name(&bus)
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("queue")
                    .arn(arn)
                    .build()
                    .expect("target"),
            )
            .send()
            .await
            .expect("target");
        Self {
            events,
            bus,
            sqs,
            url,
        }
    }

    /// The config and plugged client of a gateway publishing to this bus.
    pub fn gateway(&self, mut config: Config) -> (Config, Services) {
        config.set("events", "eventbridge_bus", self.bus.clone());
        let mut plugged = Services::default();
        plugged.insert(EventBridgeClient(self.events.clone()));
        (config, plugged)
    }

    /// Everything the queue holds (EventBridge's events, as JSON), received and deleted.
    pub async fn drain(&self) -> Vec<Value> {
        let mut all = Vec::new();
        loop {
            let received = self
                .sqs
                .receive_message()
                .queue_url(&self.url)
                .max_number_of_messages(10)
                .send()
                .await
                .expect("receive");
            if received.messages().is_empty() {
                return all;
            }
            for m in received.messages() {
                all.push(serde_json::from_str(m.body().unwrap_or("null")).expect("JSON event"));
                self.sqs
                    .delete_message()
                    .queue_url(&self.url)
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .expect("delete");
            }
        }
    }
}

pub const CONSENT: &str = "mutation($m: MarketingConsentInput!, $t: [String!], $s: ConsentSource) {
  customerConsentUpdate(marketing: $m, topics: $t, source: $s) {
    consent { email sms push topics source updatedAt }
    userErrors { field code message }
  }
}";

#[tokio::test]
async fn consent_changes_reach_an_sqs_queue_through_a_real_eventbridge_rule() {
    let pipe = BusToQueue::new(
        r#"{"source": ["storefront.customers"], "detail-type": ["CustomerConsentChanged"]}"#,
    )
    .await;
    let (config, plugged) = pipe.gateway(events_config());
    let store = storefront_gateway::app::open_store(&config)
        .await
        .expect("store");
    let app = spawn_with_plugged(config, store, plugged).await;
    let session = signed_in(&app, "ann@example.com", "Ann").await;
    let token = session["accessToken"].as_str().expect("token");
    for (email, topics) in [
        (true, json!(["newsletter"])),
        // The same again: nothing changes, nothing is announced.
        (true, json!(["newsletter"])),
        (false, json!([])),
    ] {
        let (_, _, body) = app
            .post_as(
                token,
                CONSENT,
                json!({"m": {"email": email}, "t": topics, "s": "MOBILE_APP"}),
            )
            .await;
        assert_eq!(
            body["data"]["customerConsentUpdate"]["userErrors"],
            json!([]),
            "{body:#}"
        );
    }
    // The sign-up and the two changes; only the changes match the rule.
    assert_eq!(relay_events(&app).await, 3);
    let mut received = pipe.drain().await;
    received.sort_by_key(|e| e["detail"]["time"].as_str().unwrap_or_default().to_owned());
    assert_eq!(received.len(), 2, "{received:#?}");
    let sub = logged(&app).await[0]["subject"].clone();
    for (event, email) in received.iter().zip([true, false]) {
        assert_eq!(event["source"], "storefront.customers");
        assert_eq!(event["detail-type"], "CustomerConsentChanged");
        let detail = &event["detail"];
        assert_eq!(detail["version"], 1);
        assert_eq!(detail["type"], "CustomerConsentChanged");
        assert_eq!(detail["subject"], sub);
        assert_eq!(detail["data"]["customerId"], sub);
        assert_eq!(detail["data"]["marketing"]["email"], email);
        assert_eq!(detail["data"]["previous"]["email"], !email);
        assert_eq!(detail["data"]["source"], "mobile_app");
        assert!(detail["id"].as_str().is_some_and(|id| id.len() == 32));
        let text = event.to_string();
        assert!(
            !text.contains(token) && !text.contains(PASSWORD_TEXT),
            "no credential leaves the gateway: {text}"
        );
    }
    assert_ne!(received[0]["detail"]["id"], received[1]["detail"]["id"]);
}

const PASSWORD_TEXT: &str = crate::customer::PASSWORD;

#[tokio::test]
async fn orders_are_announced_with_their_customer_and_the_log_keeps_them_in_order() {
    let app = crate::support::spawn_app_with(events_config()).await;
    let session = signed_in(&app, "olga@example.com", "Olga").await;
    let token = session["accessToken"].as_str().expect("token");
    crate::checkout::paid_order_of(&app, token, "olga@example.com").await;
    relay_events(&app).await;
    let events = logged(&app).await;
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["type"].as_str().expect("type"))
        .collect();
    assert_eq!(
        kinds,
        ["CustomerSignedUp", "OrderPlaced", "OrderStatusChanged"]
    );
    let sub = &events[0]["subject"];
    assert_eq!(events[0]["data"]["email"], "olga@example.com");
    assert_eq!(events[1]["source"], "storefront.orders");
    assert_eq!(events[1]["data"]["customerId"], *sub);
    assert_eq!(events[2]["data"]["status"], "PAID");
    assert_eq!(events[2]["subject"], events[1]["subject"]);
    let positions: Vec<&str> = events
        .iter()
        .map(|e| e["position"].as_str().expect("position"))
        .collect();
    let mut sorted = positions.clone();
    sorted.sort_unstable();
    assert_eq!(positions, sorted);
    // Paging on from a position gives what follows it.
    let body = app
        .post_with_key(
            ADMIN,
            "query($after: String) { eventLog(after: $after, first: 5) { type } }",
            json!({"after": positions[0]}),
        )
        .await;
    assert_eq!(
        body["data"]["eventLog"],
        json!([{"type": "OrderPlaced"}, {"type": "OrderStatusChanged"}])
    );
    // The log is for operators only.
    assert_eq!(
        app.error_codes("{ eventLog { id } }", json!({})).await,
        ["FORBIDDEN"]
    );
    assert!(
        !events.iter().any(|e| e.to_string().contains("tok_visa")),
        "no payment token in any event"
    );
}

/// The token inside a cart's global id (the key to the cart).
fn cart_token(id: &str) -> String {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(id)
        .expect("base64 id");
    String::from_utf8(raw)
        .expect("utf-8")
        .rsplit('/')
        .next()
        .expect("token")
        .to_owned()
}

async fn sweep_everywhere(replicas: &[&TestApp], idle: Duration, each: usize) -> usize {
    let sweeps = replicas.iter().flat_map(|app| {
        let sweeper = app
            .app
            .services
            .get::<AbandonedCarts>()
            .expect("the sweeper")
            .clone();
        (0..each).map(move |_| {
            let sweeper = sweeper.clone();
            async move { sweeper.sweep(idle).await.expect("sweep") }
        })
    });
    join_all(sweeps).await.into_iter().sum()
}

#[tokio::test]
async fn an_abandoned_cart_is_announced_once_by_sweepers_racing_on_two_replicas() {
    let table: Arc<dyn storefront_loaders::store::Table> = Arc::new(fresh_dynamo_table().await);
    let mut config = events_config();
    config.store = StoreEngine::Aws;
    let a = spawn_with_store(config.clone(), Arc::clone(&table)).await;
    let b = spawn_with_store(config, Arc::clone(&table)).await;
    let variant = stocked_variants(&a, 1).await.remove(0).0;
    let abandoned = create_cart(&a, None, json!([{"merchandiseId": variant, "quantity": 2}])).await;
    let abandoned = abandoned["cart"]["id"].as_str().expect("cart").to_owned();
    let empty = create_cart(&b, None, json!([])).await;
    assert!(empty["cart"]["id"].is_string(), "{empty}");

    // Not idle for an hour yet: nothing.
    assert_eq!(
        sweep_everywhere(&[&a, &b], Duration::from_secs(3_600), 1).await,
        0
    );
    // Eight sweepers at once over two replicas: one announcement; the empty cart none.
    assert_eq!(sweep_everywhere(&[&a, &b], Duration::ZERO, 4).await, 1);
    assert_eq!(sweep_everywhere(&[&a, &b], Duration::ZERO, 2).await, 0);

    // The shopper comes back: a new episode, announced once more.
    let added = change(
        &b,
        None,
        "cartLinesAdd",
        "[CartLineInput!]!",
        &abandoned,
        json!([{"merchandiseId": variant, "quantity": 1}]),
    )
    .await;
    assert_eq!(added["userErrors"], json!([]), "{added}");
    assert_eq!(sweep_everywhere(&[&a, &b], Duration::ZERO, 4).await, 1);

    relay_events(&a).await;
    let carts: Vec<Value> = logged(&b)
        .await
        .into_iter()
        .filter(|e| e["type"] == "CartAbandoned")
        .collect();
    assert_eq!(carts.len(), 2, "{carts:#?}");
    assert_eq!(carts[0]["subject"], carts[1]["subject"]);
    assert_eq!(carts[0]["source"], "storefront.carts");
    assert_eq!(
        carts[0]["data"]["lines"],
        json!([{"variantId": variant_key(&variant), "quantity": 2}])
    );
    assert_eq!(carts[1]["data"]["lines"][0]["quantity"], 3);
    let token = cart_token(&abandoned);
    for event in &carts {
        let text = event.to_string();
        assert!(
            !text.contains(&token) && !text.contains(&abandoned),
            "the cart's id is a credential and never leaves: {text}"
        );
    }
}

/// The variant's id as the store holds it (inside its global id).
fn variant_key(id: &str) -> String {
    cart_token(id)
}
