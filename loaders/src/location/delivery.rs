//! Delivery tracking, embedded: a shipped order's courier is simulated along the great circle
//! from the store nearest the address to the address, at a steady speed from the moment it
//! shipped (so a demo shows it moving); positions fed in (`import delivery-positions`) take
//! precedence while they are newer than the simulation's start.

use std::io::BufRead;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::geo::{EARTH_RADIUS_M, Point, distance_m};
use crate::catalog::import::numbered_lines;
use crate::codec::{from_item, to_item};
use crate::domain::FeedReport;
use crate::store::{Condition, Key, StoreError, Table};

/// The courier's average speed, km/h.
pub const SPEED_KMH: f64 = 40.0;
/// Roads are longer than the great circle by about this factor.
pub const ROAD_FACTOR: f64 = 1.3;
/// The embedded courier's name.
pub const EMBEDDED_CARRIER: &str = "Storefront Courier";

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeliveryState {
    /// Not shipped yet.
    Preparing,
    /// On its way.
    InTransit,
    /// Arrived.
    Delivered,
}

/// A delivery as the shopper sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// Where it stands.
    pub state: DeliveryState,
    /// Who carries it.
    pub carrier: String,
    /// Where it is (none when no place is known for the address).
    pub position: Option<Point>,
    /// When it should arrive.
    pub eta: Option<DateTime<Utc>>,
    /// The whole route from the store, by road (none when no place is known for the
    /// address).
    pub route: Option<super::tracker::Route>,
    /// When the position was last known.
    pub updated_at: DateTime<Utc>,
    /// The position may move without anything written here: it is the simulation's (it
    /// moves with the clock) or a tracker's.
    pub live: bool,
}

/// The point `fraction` of the way from `a` to `b` along the great circle.
pub fn along(a: Point, b: Point, fraction: f64) -> Point {
    let f = fraction.clamp(0.0, 1.0);
    let d = distance_m(a, b) / EARTH_RADIUS_M;
    if d < 1e-12 {
        return a;
    }
    let (la1, lo1) = (a.latitude.to_radians(), a.longitude.to_radians());
    let (la2, lo2) = (b.latitude.to_radians(), b.longitude.to_radians());
    let (wa, wb) = (((1.0 - f) * d).sin() / d.sin(), (f * d).sin() / d.sin());
    let x = wa * la1.cos() * lo1.cos() + wb * la2.cos() * lo2.cos();
    let y = wa * la1.cos() * lo1.sin() + wb * la2.cos() * lo2.sin();
    let z = wa * la1.sin() + wb * la2.sin();
    Point {
        latitude: z.atan2((x * x + y * y).sqrt()).to_degrees(),
        longitude: y.atan2(x).to_degrees(),
    }
}

/// Minutes a route of `km` takes.
pub fn minutes_for(km: f64) -> f64 {
    km / SPEED_KMH * 60.0
}

/// The simulated delivery of an order shipped at `shipped_at` from `origin` to `destination`,
/// as it is at `now`.
pub fn simulate(
    origin: Point,
    destination: Point,
    shipped_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Delivery {
    let km = distance_m(origin, destination) / 1000.0 * ROAD_FACTOR;
    let minutes = minutes_for(km);
    let elapsed = (now - shipped_at).num_milliseconds().max(0) as f64 / 60_000.0;
    let fraction = if minutes > 0.0 {
        elapsed / minutes
    } else {
        1.0
    };
    let eta = shipped_at + Duration::milliseconds((minutes * 60_000.0) as i64);
    Delivery {
        state: if fraction >= 1.0 {
            DeliveryState::Delivered
        } else {
            DeliveryState::InTransit
        },
        carrier: EMBEDDED_CARRIER.into(),
        position: Some(along(origin, destination, fraction)),
        eta: Some(eta),
        route: Some(super::tracker::Route { km, minutes }),
        updated_at: now.min(eta),
        live: true,
    }
}

/// A position fed in for an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FedPosition {
    /// The order (its id).
    pub order_id: String,
    /// Latitude.
    pub latitude: f64,
    /// Longitude.
    pub longitude: f64,
    /// When the courier was there.
    pub at: DateTime<Utc>,
    /// Who carries it.
    pub carrier: Option<String>,
}

fn key(order_id: &str) -> Key {
    Key::new(format!("DELIVERY#{order_id}"), "POSITION")
}

/// Fed positions in the store: the newest one per order.
#[derive(Clone)]
pub struct DeliveryPositions {
    table: Arc<dyn Table>,
}

impl DeliveryPositions {
    /// Positions kept in `table`.
    pub fn new(table: Arc<dyn Table>) -> Self {
        Self { table }
    }

    /// The newest fed position of an order.
    pub async fn latest(&self, order_id: &str) -> Result<Option<FedPosition>, StoreError> {
        self.table
            .get(&key(order_id))
            .await?
            .map(|item| from_item(&item))
            .transpose()
    }

    /// The newest fed position of each of these orders that has one.
    pub async fn latest_many(
        &self,
        order_ids: &[String],
    ) -> Result<std::collections::HashMap<String, FedPosition>, StoreError> {
        let keys: Vec<Key> = order_ids.iter().map(|id| key(id)).collect();
        let mut found = std::collections::HashMap::new();
        for item in self.table.batch_get(&keys).await? {
            let position: FedPosition = from_item(&item)?;
            found.insert(position.order_id.clone(), position);
        }
        Ok(found)
    }

    /// Whether an order with this id exists.
    pub async fn known_order(&self, order_id: &str) -> Result<bool, StoreError> {
        Ok(self
            .table
            .get(&crate::checkout::status::id_key(order_id))
            .await?
            .is_some())
    }

    /// Records a position unless a newer one is known (an older one arriving late is dropped).
    pub async fn record(&self, position: &FedPosition) -> Result<bool, StoreError> {
        let point = Point {
            latitude: position.latitude,
            longitude: position.longitude,
        };
        if !point.is_valid() {
            return Err(StoreError::Validation(
                "a position needs a latitude of -90 to 90 and a longitude of -180 to 180".into(),
            ));
        }
        let item = to_item(
            &key(&position.order_id),
            position,
            &[(
                "at_millis",
                serde_json::json!(position.at.timestamp_millis()),
            )],
        )?;
        let newer = Condition::Or(vec![
            Condition::ItemNotExists,
            Condition::Not(Box::new(Condition::AtLeast(
                "at_millis".into(),
                position.at.timestamp_millis(),
            ))),
        ]);
        match self.table.put(item, Some(newer)).await {
            Ok(()) => Ok(true),
            Err(StoreError::ConditionFailed) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Applies the `delivery-positions` feed: `{"orderId", "latitude", "longitude", "at",
    /// "carrier"?}` a line.
    pub async fn import(&self, lines: impl BufRead) -> FeedReport {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields, rename_all = "camelCase")]
        struct Line {
            order_id: String,
            latitude: f64,
            longitude: f64,
            at: DateTime<Utc>,
            carrier: Option<String>,
        }
        let (mut written, mut older) = (0, 0);
        let mut failures = Vec::new();
        for (number, line) in numbered_lines(lines) {
            let result: Result<bool, String> = async {
                let line: Line = serde_json::from_str(&line?)
                    .map_err(|e| format!("invalid delivery position line: {e}"))?;
                let known = self
                    .known_order(&line.order_id)
                    .await
                    .map_err(|e| e.to_string())?;
                if !known {
                    return Err(format!("unknown order `{}`", line.order_id));
                }
                self.record(&FedPosition {
                    order_id: line.order_id,
                    latitude: line.latitude,
                    longitude: line.longitude,
                    at: line.at,
                    carrier: line.carrier,
                })
                .await
                .map_err(|e| e.to_string())
            }
            .await;
            match result {
                Ok(true) => written += 1,
                Ok(false) => older += 1,
                Err(reason) => failures.push((number, reason)),
            }
        }
        FeedReport {
            summary: format!(
                "{written} written, {older} older than known, {} failed",
                failures.len()
            ),
            failures,
            retry: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_courier_moves_along_the_route_and_arrives_on_time() {
        let store = Point {
            latitude: 42.3581,
            longitude: -71.0636,
        };
        let home = Point {
            latitude: 42.3736,
            longitude: -71.1097,
        };
        let shipped = Utc::now() - Duration::minutes(2);
        let now = Utc::now();
        let moving = simulate(store, home, shipped, now);
        assert_eq!(moving.state, DeliveryState::InTransit);
        let at = moving.position.expect("position");
        let gone = distance_m(store, at);
        let left = distance_m(at, home);
        assert!(gone > 0.0 && left > 0.0);
        assert!(
            (gone + left - distance_m(store, home)).abs() < 1.0,
            "on the great circle"
        );
        let later = simulate(store, home, shipped, now + Duration::minutes(30));
        assert_eq!(later.state, DeliveryState::Delivered);
        assert!(distance_m(later.position.expect("position"), home) < 1.0);
        assert_eq!(later.eta, moving.eta);
    }
}
