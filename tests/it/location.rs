//! The store locator: nearest stores in order with distances that agree with a reference
//! haversine to 10 m, addresses found or refused, paging, and `openNow` in each store's zone.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{Datelike, NaiveTime, Utc};
use serde_json::{Value, json};

use crate::support::spawn_app;

const LOCATE: &str = "query($near: GeoPointInput, $address: String, $radius: Float!, $first: Int, $after: String) {
  locations(near: $near, address: $address, radiusKm: $radius, first: $first, after: $after) {
    nodes { handle name distanceKm latitude longitude timeZone openNow address { city provinceCode zip } openingHours { weekday opens closes } }
    pageInfo { hasNextPage endCursor } } }";

/// A reference great-circle distance (spherical law of cosines, another formula than the
/// gateway's haversine), in metres.
fn reference_m(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dl = (lon2 - lon1).to_radians();
    let c = (p1.sin() * p2.sin() + p1.cos() * p2.cos() * dl.cos()).clamp(-1.0, 1.0);
    6_371_008.8 * c.acos()
}

#[tokio::test]
async fn nearest_stores_come_in_order_with_distances_right_to_ten_metres() {
    let app = spawn_app().await;
    let (lat, lon) = (41.0, -74.5);
    let data = app
        .data(
            LOCATE,
            json!({"near": {"latitude": lat, "longitude": lon}, "radius": 5000.0, "first": 25}),
        )
        .await;
    let nodes = data["locations"]["nodes"]
        .as_array()
        .expect("nodes")
        .clone();
    assert!(nodes.len() > 10, "{}", nodes.len());
    let mut last = 0.0;
    for node in &nodes {
        let km = node["distanceKm"].as_f64().expect("distance");
        let reference = reference_m(
            lat,
            lon,
            node["latitude"].as_f64().expect("lat"),
            node["longitude"].as_f64().expect("lon"),
        );
        assert!(
            (km * 1000.0 - reference).abs() <= 10.0,
            "{}: {km} km vs {reference} m",
            node["handle"]
        );
        assert!(km >= last, "nearest first");
        last = km;
        assert!(km <= 5000.0);
    }
    assert_eq!(nodes[0]["handle"], "new-york");
    assert_eq!(nodes[1]["handle"], "philadelphia");
}

#[tokio::test]
async fn pages_of_stores_follow_each_other_without_gaps_or_repeats() {
    let app = spawn_app().await;
    let near = json!({"latitude": 39.0, "longitude": -98.0});
    let all = app
        .data(
            LOCATE,
            json!({"near": near, "radius": 20000.0, "first": 100}),
        )
        .await;
    let everyone: Vec<Value> = all["locations"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["handle"].clone())
        .collect();
    assert_eq!(everyone.len(), 25);
    let mut seen = Vec::new();
    let mut after = Value::Null;
    loop {
        let page = app
            .data(
                LOCATE,
                json!({"near": near, "radius": 20000.0, "first": 4, "after": after}),
            )
            .await;
        seen.extend(
            page["locations"]["nodes"]
                .as_array()
                .expect("nodes")
                .iter()
                .map(|n| n["handle"].clone()),
        );
        if page["locations"]["pageInfo"]["hasNextPage"] != json!(true) {
            break;
        }
        after = page["locations"]["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(seen, everyone);
    let other = app
        .post(LOCATE, json!({"near": {"latitude": 10.0, "longitude": 10.0}, "radius": 100.0, "first": 2, "after": after}))
        .await
        .1;
    assert_eq!(
        other["errors"][0]["extensions"]["code"], "INVALID_CURSOR",
        "a cursor of another point"
    );
}

#[tokio::test]
async fn addresses_are_found_by_city_state_or_postcode_and_unknown_ones_are_refused() {
    let app = spawn_app().await;
    for address in ["Boston", "1 Beacon St, Boston, MA", "02108"] {
        let data = app
            .data(
                LOCATE,
                json!({"address": address, "radius": 50.0, "first": 3}),
            )
            .await;
        assert_eq!(
            data["locations"]["nodes"][0]["handle"], "boston",
            "{address}"
        );
        assert!(
            data["locations"]["nodes"][0]["distanceKm"]
                .as_f64()
                .expect("km")
                < 1.0
        );
    }
    let cambridge = app
        .data(
            LOCATE,
            json!({"address": "Cambridge MA", "radius": 50.0, "first": 3}),
        )
        .await;
    assert_eq!(
        cambridge["locations"]["nodes"][0]["handle"], "boston",
        "the shipped gazetteer"
    );
    let nowhere = app
        .data(
            LOCATE,
            json!({"address": "Honolulu", "radius": 50.0, "first": 3}),
        )
        .await;
    assert_eq!(
        nowhere["locations"]["nodes"],
        json!([]),
        "a known place with no store near"
    );
    for (variables, expected) in [
        (
            json!({"address": "Atlantis", "radius": 50.0, "first": 3}),
            "no place is known",
        ),
        (
            json!({"address": "Portland", "radius": 50.0, "first": 3}),
            "several places",
        ),
        (json!({"radius": 50.0, "first": 3}), "exactly one"),
        (
            json!({"near": {"latitude": 91.0, "longitude": 0.0}, "radius": 50.0, "first": 3}),
            "latitude",
        ),
        (
            json!({"near": {"latitude": 0.0, "longitude": 0.0}, "radius": 0.0, "first": 3}),
            "radiusKm",
        ),
    ] {
        let body = app.post(LOCATE, variables.clone()).await.1;
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{variables}: {body}"
        );
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .expect("message")
                .contains(expected),
            "{body}"
        );
    }
}

/// Whether a store with these hours is open now in `zone` (the test's own reading).
fn expected_open(hours: &[Value], zone: &str) -> bool {
    let zone: chrono_tz::Tz = zone.parse().expect("zone");
    let local = Utc::now().with_timezone(&zone).naive_local();
    let time =
        |s: &Value| NaiveTime::parse_from_str(s.as_str().expect("time"), "%H:%M").expect("HH:MM");
    let weekday = local.weekday().number_from_monday() as i64;
    hours.iter().any(|h| {
        let (opens, closes) = (time(&h["opens"]), time(&h["closes"]));
        let day = h["weekday"].as_i64().expect("weekday");
        if closes > opens {
            day == weekday && local.time() >= opens && local.time() < closes
        } else {
            (day == weekday && local.time() >= opens)
                || (day % 7 + 1 == weekday && local.time() < closes)
        }
    })
}

#[tokio::test]
async fn open_now_is_read_in_each_store_s_own_time_zone() {
    let app = spawn_app().await;
    let data = app
        .data(
            LOCATE,
            json!({"near": {"latitude": 39.0, "longitude": -98.0}, "radius": 20000.0, "first": 25}),
        )
        .await;
    let nodes = data["locations"]["nodes"].as_array().expect("nodes");
    let zones: BTreeSet<&str> = nodes
        .iter()
        .map(|n| n["timeZone"].as_str().expect("zone"))
        .collect();
    assert!(zones.len() >= 4, "stores in several zones: {zones:?}");
    for node in nodes {
        let hours = node["openingHours"].as_array().expect("hours");
        assert_eq!(
            node["openNow"].as_bool(),
            Some(expected_open(
                hours,
                node["timeZone"].as_str().expect("zone")
            )),
            "{}",
            node["handle"]
        );
    }
}

#[tokio::test]
async fn store_inventory_feeds_pickup_availability_near_the_shopper() {
    let app = spawn_app().await;
    let variant = app
        .data(
            "{ products(first: 1) { nodes { variants(first: 1) { nodes { id sku } } } } }",
            json!({}),
        )
        .await["products"]["nodes"][0]["variants"]["nodes"][0]
        .clone();
    let sku = variant["sku"].as_str().expect("sku");
    let feed = format!(
        "{}\n{}\n{}\n{}\n{}\n",
        json!({"sku": sku, "location": "boston", "quantity": 3}),
        json!({"sku": sku, "location": "new-york", "quantity": 0}),
        json!({"sku": sku, "location": "philadelphia", "quantity": 7}),
        json!({"sku": "NO-SUCH-SKU", "location": "boston", "quantity": 1}),
        json!({"sku": sku, "location": "atlantis", "quantity": 1}),
    );
    let report = app.import("store-inventory", &feed).await;
    assert_eq!(report.summary, "3 written, 2 failed");
    assert_eq!(
        report.failures,
        [
            (4, "unknown SKU `NO-SUCH-SKU`".to_owned()),
            (5, "unknown store `atlantis`".to_owned())
        ]
    );
    let query = "query($id: ID!, $radius: Float!) { node(id: $id) { ... on ProductVariant {
        storeAvailability(near: {latitude: 42.36, longitude: -71.06}, radiusKm: $radius) { quantity location { handle distanceKm } } } } }";
    let near = app
        .data(query, json!({"id": variant["id"], "radius": 400.0}))
        .await;
    let found: Vec<(Value, Value)> = near["node"]["storeAvailability"]
        .as_array()
        .expect("list")
        .iter()
        .map(|s| (s["location"]["handle"].clone(), s["quantity"].clone()))
        .collect();
    assert_eq!(
        found,
        [(json!("boston"), json!(3))],
        "New York (302 km) has none; Philadelphia (436 km) is beyond 400 km"
    );
    let wider = app
        .data(query, json!({"id": variant["id"], "radius": 1000.0}))
        .await;
    assert_eq!(
        wider["node"]["storeAvailability"][1]["location"]["handle"],
        "philadelphia"
    );

    // Versioned levels: one older than the stored one arriving late changes nothing.
    let versioned = format!(
        "{}\n{}\n{}\n",
        json!({"sku": sku, "location": "boston", "quantity": 5, "version": 8}),
        json!({"sku": sku, "location": "boston", "quantity": 1, "version": 7}),
        json!({"sku": sku, "location": "boston", "quantity": 5, "version": 8}),
    );
    let report = app.import("store-inventory", &versioned).await;
    assert_eq!(
        report.summary,
        "1 written, 1 unchanged, 1 older than stored, 0 failed"
    );
    let near = app
        .data(query, json!({"id": variant["id"], "radius": 400.0}))
        .await;
    assert_eq!(near["node"]["storeAvailability"][0]["quantity"], 5);
}

const CHECKOUT_TO_CAMBRIDGE: &str = "mutation($cart: ID!) {
  checkoutComplete(cartId: $cart, idempotencyKey: \"delivery-test-1\", email: \"eve@example.com\", shippingMethod: \"standard\",
    shippingAddress: {firstName: \"Eve\", address1: \"1 Main St\", city: \"Cambridge\", province: \"MA\", zip: \"02139\", countryCode: \"US\"},
    payment: {token: \"tok_visa\"}) { order { id status } userErrors { code message } } }";

const DELIVERY: &str = "query($id: ID!) { order(id: $id) { status delivery { status carrier position { latitude longitude } eta route { distanceKm durationMinutes } updatedAt } } }";

fn km_between(a: &Value, lat: f64, lon: f64) -> f64 {
    reference_m(
        a["latitude"].as_f64().expect("lat"),
        a["longitude"].as_f64().expect("lon"),
        lat,
        lon,
    ) / 1000.0
}

#[tokio::test]
async fn a_shipped_order_moves_from_the_nearest_store_towards_its_address() {
    let app = crate::support::spawn_app_with(crate::checkout::checkout_config()).await;
    let variant = crate::cart::stocked_variants(&app, 1).await.remove(0).0;
    let cart = crate::checkout::cart_with(&app, &variant, 1).await;
    let placed = app.data(CHECKOUT_TO_CAMBRIDGE, json!({"cart": cart})).await;
    let order = placed["checkoutComplete"]["order"]["id"].clone();
    assert_eq!(
        placed["checkoutComplete"]["order"]["status"], "PAID",
        "{placed}"
    );
    let packed = app.data(DELIVERY, json!({"id": order})).await;
    let delivery = &packed["order"]["delivery"];
    assert_eq!(delivery["status"], "PREPARING");
    assert!(
        km_between(&delivery["position"], 42.3581, -71.0636) < 0.01,
        "at the Boston store: {delivery}"
    );
    let route_km = delivery["route"]["distanceKm"].as_f64().expect("km");
    let expected = reference_m(42.3581, -71.0636, 42.3736, -71.1097) / 1000.0 * 1.3;
    assert!(
        (route_km - expected).abs() < 0.01,
        "{route_km} vs {expected}"
    );

    let record_id = crate::checkout::placed_order_ids(&app).await.remove(0);
    app.move_order(&record_id, &["FULFILLING", "SHIPPED"]).await;
    let first = app.data(DELIVERY, json!({"id": order})).await["order"]["delivery"].clone();
    assert_eq!(first["status"], "IN_TRANSIT");
    assert!(first["eta"].is_string());
    let left = |d: &Value| km_between(&d["position"], 42.3736, -71.1097);
    let started = std::time::Instant::now();
    loop {
        let now = app.data(DELIVERY, json!({"id": order})).await["order"]["delivery"].clone();
        if left(&now) < left(&first) {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "the courier does not move"
        );
        tokio::task::yield_now().await;
    }

    let report = app.import("delivery-positions", &format!(
            "{}\n{}\n",
            json!({"orderId": record_id, "latitude": 42.37, "longitude": -71.10, "at": chrono::Utc::now().to_rfc3339(), "carrier": "Kestrel Couriers"}),
            json!({"orderId": "no-such-order", "latitude": 0.0, "longitude": 0.0, "at": chrono::Utc::now().to_rfc3339()}),
        ),
    )
    .await;
    assert_eq!(
        report.failures,
        [(2, "unknown order `no-such-order`".to_owned())]
    );
    let fed = app.data(DELIVERY, json!({"id": order})).await["order"]["delivery"].clone();
    assert_eq!(fed["carrier"], "Kestrel Couriers");
    assert_eq!(
        fed["position"],
        json!({"latitude": 42.37, "longitude": -71.10})
    );
    let stale = app.import("delivery-positions", &format!("{}\n", json!({"orderId": record_id, "latitude": 1.0, "longitude": 1.0, "at": "2020-01-01T00:00:00Z"})),
    )
    .await;
    assert_eq!(stale.summary, "0 written, 1 older than known, 0 failed");
}

#[tokio::test]
async fn amazon_location_geocodes_addresses_and_the_gazetteer_answers_when_it_fails() {
    use axum::http::StatusCode;
    let fake = crate::fake_aws::FakeAws::start("geo", "us-east-1", |request| {
        if request.path != "/places/v0/indexes/storefront-places/search/text" {
            return Some((StatusCode::NOT_FOUND, json!({"message": "no such route"})));
        }
        let text = request.json()["Text"].as_str().unwrap_or("").to_owned();
        let summary = json!({"Text": text, "DataSource": "Esri", "MaxResults": 1});
        let place = |lon: f64, lat: f64, relevance: f64| {
            json!({"Results": [{"Place": {"Geometry": {"Point": [lon, lat]}, "Label": text}, "Relevance": relevance}], "Summary": summary})
        };
        match text.as_str() {
            "Faneuil Hall" => Some((StatusCode::OK, place(-71.0564, 42.3600, 0.97))),
            "Mystery Lane" => Some((StatusCode::OK, place(-70.0, 41.0, 0.3))),
            "Boston" => Some((StatusCode::INTERNAL_SERVER_ERROR, json!({"message": "internal"}))),
            _ => Some((StatusCode::OK, json!({"Results": [], "Summary": summary}))),
        }
    })
    .await;
    let config = crate::support::test_config()
        .with_section("location", "place_index", "storefront-places")
        .with_section("location", "region", "us-east-1")
        .with_section("location", "endpoint_url", fake.url())
        .with_section("location", "deadline_millis", 300);
    let app = crate::support::spawn_app_with(config).await;
    let found = app
        .data(
            LOCATE,
            json!({"address": "Faneuil Hall", "radius": 50.0, "first": 1}),
        )
        .await;
    let nearest = &found["locations"]["nodes"][0];
    assert_eq!(nearest["handle"], "boston");
    let expected = reference_m(42.3600, -71.0564, 42.3581, -71.0636) / 1000.0;
    assert!((nearest["distanceKm"].as_f64().expect("km") - expected).abs() < 0.01);
    let sent = fake
        .wait_for(std::time::Duration::from_secs(2), |r| {
            r.body.contains("Faneuil Hall")
        })
        .await
        .json();
    assert_eq!(sent, json!({"Text": "Faneuil Hall", "MaxResults": 1}));
    let unsure = app
        .post(
            LOCATE,
            json!({"address": "Mystery Lane", "radius": 50.0, "first": 1}),
        )
        .await
        .1;
    assert_eq!(
        unsure["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "a weak match is no match: {unsure}"
    );
    let started = std::time::Instant::now();
    let fallback = app
        .data(
            LOCATE,
            json!({"address": "Boston", "radius": 50.0, "first": 1}),
        )
        .await;
    assert_eq!(
        fallback["locations"]["nodes"][0]["handle"], "boston",
        "the gazetteer answered"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    assert_eq!(fake.problems(), Vec::<String>::new());
}

#[tokio::test]
async fn only_an_operator_records_courier_positions_and_older_ones_are_not_kept() {
    let mut config = crate::checkout::checkout_config();
    crate::support::with_admin_key(&mut config, "carrier", "carrier-secret");
    let app = crate::support::spawn_app_with(config).await;
    let variant = crate::cart::stocked_variants(&app, 1).await.remove(0).0;
    let cart = crate::checkout::cart_with(&app, &variant, 1).await;
    crate::checkout::checkout(
        &app,
        &cart,
        "position-order-1",
        "eve@example.com",
        "tok_visa",
    )
    .await;
    let order_id = crate::checkout::placed_order_ids(&app).await.remove(0);
    let record = "mutation($id: String!, $at: DateTime) { deliveryPositionRecord(orderId: $id, latitude: 42.37, longitude: -71.1, at: $at, carrier: \"Kestrel\") { recorded } }";
    let send = |key: Option<&'static str>, id: String, at: &'static str| {
        let mut request = app
            .client
            .post(app.url("/graphql"))
            .json(&json!({"query": record, "variables": {"id": id, "at": at}}));
        if let Some(key) = key {
            request = request.header("x-api-key", key);
        }
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
    let anonymous = send(None, order_id.clone(), "2026-11-25T10:00:00Z").await;
    assert_eq!(
        anonymous["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{anonymous}"
    );
    let kept = send(
        Some("carrier-secret"),
        order_id.clone(),
        "2026-11-25T10:00:00Z",
    )
    .await;
    assert_eq!(
        kept["data"]["deliveryPositionRecord"]["recorded"], true,
        "{kept}"
    );
    let older = send(
        Some("carrier-secret"),
        order_id.clone(),
        "2026-11-25T09:00:00Z",
    )
    .await;
    assert_eq!(
        older["data"]["deliveryPositionRecord"]["recorded"], false,
        "{older}"
    );
    let unknown = send(
        Some("carrier-secret"),
        "no-such-order".into(),
        "2026-11-25T11:00:00Z",
    )
    .await;
    assert_eq!(
        unknown["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{unknown}"
    );
}

/// A fake Amazon Location with a tracker (every order's courier at one point, or hanging when
/// `hang` is set) and a route calculator (12.5 km, 30 minutes); it checks each request's
/// documented shape.
async fn fake_tracking(hang: Arc<std::sync::atomic::AtomicBool>) -> crate::fake_aws::FakeAws {
    use axum::http::StatusCode;
    crate::fake_aws::FakeAws::start("geo", "us-east-1", move |request| {
        let body = request.json();
        match request.path.as_str() {
            "/tracking/v0/trackers/storefront-couriers/get-positions" => {
                if hang.load(std::sync::atomic::Ordering::SeqCst) {
                    return None;
                }
                let ids = body["DeviceIds"].as_array().cloned().unwrap_or_default();
                if ids.is_empty() || ids.len() > 10 || body.as_object().map(|o| o.len()) != Some(1) {
                    return Some((StatusCode::BAD_REQUEST, json!({"message": format!("1 to 10 DeviceIds, nothing else: {body}")})));
                }
                let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
                let positions: Vec<Value> = ids
                    .iter()
                    .map(|id| json!({"DeviceId": id, "Position": [-71.10, 42.37], "SampleTime": now, "ReceivedTime": now}))
                    .collect();
                Some((StatusCode::OK, json!({"DevicePositions": positions, "Errors": []})))
            }
            "/routes/v0/calculators/storefront-routes/calculate/route" => {
                let point = |name: &str| {
                    body[name]
                        .as_array()
                        .filter(|p| p.len() == 2 && p.iter().all(Value::is_f64))
                        .is_some()
                };
                if !point("DeparturePosition")
                    || !point("DestinationPosition")
                    || body["TravelMode"] != "Car"
                    || body["DistanceUnit"] != "Kilometers"
                {
                    return Some((StatusCode::BAD_REQUEST, json!({"message": format!("not a route request: {body}")})));
                }
                let (from, to) = (&body["DeparturePosition"], &body["DestinationPosition"]);
                Some((StatusCode::OK, json!({
                    "Legs": [{"StartPosition": from, "EndPosition": to, "Distance": 12.5, "DurationSeconds": 1800.0, "Steps": []}],
                    "Summary": {"RouteBBox": [-71.2, 42.3, -71.0, 42.4], "DataSource": "Esri", "Distance": 12.5, "DurationSeconds": 1800.0, "DistanceUnit": "Kilometers"}})))
            }
            _ => Some((StatusCode::NOT_FOUND, json!({"message": "no such route"}))),
        }
    })
    .await
}

#[tokio::test]
async fn amazon_location_tracks_a_page_of_couriers_in_batches_and_the_last_position_answers_when_it_hangs()
 {
    use std::sync::atomic::Ordering;
    let hang = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let fake = fake_tracking(Arc::clone(&hang)).await;
    let config = crate::checkout::checkout_config()
        .with_section("location", "tracker", "storefront-couriers")
        .with_section("location", "route_calculator", "storefront-routes")
        .with_section("location", "region", "us-east-1")
        .with_section("location", "endpoint_url", fake.url())
        .with_section("location", "deadline_millis", 300);
    let app = crate::support::spawn_app_with(config).await;
    let ada = crate::customer::signed_in(&app, "ada@example.com", "Ada").await["accessToken"]
        .as_str()
        .expect("token")
        .to_owned();
    let variant = crate::cart::stocked_variants(&app, 1).await.remove(0).0;
    crate::cart::set_stock(&app, &variant, 100).await;
    for i in 0..11 {
        let created = crate::cart::create_cart(
            &app,
            Some(&ada),
            json!([{"merchandiseId": variant, "quantity": 1}]),
        )
        .await;
        let (_, _, placed) = app
            .post_as(
                &ada,
                CHECKOUT_TO_CAMBRIDGE
                    .replace("delivery-test-1", &format!("tracked-{i:02}"))
                    .as_str(),
                json!({"cart": created["cart"]["id"]}),
            )
            .await;
        assert_eq!(
            placed["data"]["checkoutComplete"]["order"]["status"], "PAID",
            "{placed}"
        );
    }
    let ids = crate::checkout::placed_order_ids(&app).await;
    assert_eq!(ids.len(), 11);
    for id in &ids {
        app.move_order(id, &["FULFILLING", "SHIPPED"]).await;
    }
    let page = "{ customer { orders(first: 20) { nodes { delivery { status position { latitude longitude } route { distanceKm durationMinutes } eta updatedAt } } } } }";
    let before = fake.received().len();
    let (_, _, body) = app.post_as(&ada, page, json!({})).await;
    let deliveries: Vec<Value> = body["data"]["customer"]["orders"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|o| o["delivery"].clone())
        .collect();
    assert_eq!(deliveries.len(), 11);
    for delivery in &deliveries {
        assert_eq!(delivery["status"], "IN_TRANSIT");
        assert_eq!(
            delivery["position"],
            json!({"latitude": 42.37, "longitude": -71.10})
        );
        assert_eq!(
            delivery["route"],
            json!({"distanceKm": 12.5, "durationMinutes": 30.0})
        );
    }
    let calls: Vec<Value> = fake.received()[before..]
        .iter()
        .filter(|r| r.path.ends_with("/get-positions"))
        .map(|r| r.json())
        .collect();
    assert_eq!(
        calls.len(),
        2,
        "11 orders: one call of 10 and one of 1: {calls:?}"
    );
    let mut asked: Vec<String> = calls
        .iter()
        .flat_map(|c| c["DeviceIds"].as_array().expect("ids").clone())
        .map(|id| id.as_str().expect("id").to_owned())
        .collect();
    asked.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(asked, expected, "each order's device once");

    hang.store(true, Ordering::SeqCst);
    let started = std::time::Instant::now();
    let (_, _, late) = app.post_as(&ada, page, json!({})).await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "the tracker's deadline holds"
    );
    let first = &late["data"]["customer"]["orders"]["nodes"][0]["delivery"];
    assert_eq!(
        (&first["status"], &first["position"]),
        (
            &json!("IN_TRANSIT"),
            &json!({"latitude": 42.37, "longitude": -71.10})
        ),
        "the last known position answers: {late}"
    );
    assert_eq!(fake.problems(), Vec::<String>::new());
}
