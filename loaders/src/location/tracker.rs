//! Amazon Location for deliveries: couriers' positions from a tracker
//! (`BatchGetDevicePosition`, a device per order: the carrier's app reports under the order's
//! id) and routes from a route calculator (`CalculateRoute`, by car). Every call has a
//! deadline; the caller falls back to the last known position and to the estimated route.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::join_all;

use super::geo::Point;

/// The most devices one `BatchGetDevicePosition` call takes.
pub const DEVICES_PER_CALL: usize = 10;

/// A position a tracker reported.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackedPosition {
    /// Where.
    pub point: Point,
    /// When the device was there.
    pub at: DateTime<Utc>,
}

/// A route's length and duration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Route {
    /// Kilometres by road.
    pub km: f64,
    /// Minutes by car.
    pub minutes: f64,
}

/// Why Amazon Location did not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrackerError {
    /// The call failed.
    #[error("amazon location: {0}")]
    Failed(String),
    /// It took longer than the deadline.
    #[error("amazon location did not answer within the deadline")]
    Late,
    /// The calculator found no route.
    #[error("no route between the points")]
    NoRoute,
}

/// A tracker and a route calculator of Amazon Location (either may be absent).
pub struct AmazonTracking {
    client: aws_sdk_location::Client,
    tracker: Option<String>,
    calculator: Option<String>,
    deadline: Duration,
    // Routes between the same two points (to about 10 m) do not change within minutes.
    routes: moka::future::Cache<[i64; 4], Route>,
}

fn millis(time: &aws_smithy_types::DateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(time.to_millis().ok()?)
}

impl AmazonTracking {
    /// A client for `tracker` and `calculator` in `region` (or at `endpoint_url`).
    pub async fn connect(
        tracker: Option<String>,
        calculator: Option<String>,
        region: Option<&str>,
        endpoint_url: Option<&str>,
        deadline: Duration,
        metrics: &std::sync::Arc<crate::Metrics>,
    ) -> Result<Self, String> {
        Ok(Self {
            client: super::geocode::location_client(region, endpoint_url, metrics).await?,
            tracker,
            calculator,
            deadline,
            routes: moka::future::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(Duration::from_secs(600))
                .build(),
        })
    }

    /// Whether positions come from a tracker.
    pub fn tracks(&self) -> bool {
        self.tracker.is_some()
    }

    /// The latest position of each order's device that the tracker knows, `DEVICES_PER_CALL`
    /// a call, the calls at once, all within the deadline.
    pub async fn positions(
        &self,
        order_ids: &[String],
    ) -> Result<HashMap<String, TrackedPosition>, TrackerError> {
        let Some(tracker) = &self.tracker else {
            return Ok(HashMap::new());
        };
        let calls = order_ids.chunks(DEVICES_PER_CALL).map(|chunk| {
            self.client
                .batch_get_device_position()
                .tracker_name(tracker)
                .set_device_ids(Some(chunk.to_vec()))
                .send()
        });
        let answers = tokio::time::timeout(self.deadline, join_all(calls))
            .await
            .map_err(|_| TrackerError::Late)?;
        let mut found = HashMap::new();
        for answer in answers {
            let answer = answer.map_err(|e| {
                TrackerError::Failed(aws_sdk_location::error::DisplayErrorContext(e).to_string())
            })?;
            for device in answer.device_positions() {
                let (Some(id), [longitude, latitude], Some(at)) = (
                    device.device_id(),
                    device.position(),
                    millis(device.sample_time()),
                ) else {
                    continue;
                };
                let point = Point {
                    latitude: *latitude,
                    longitude: *longitude,
                };
                if point.is_valid() {
                    found.insert(id.to_owned(), TrackedPosition { point, at });
                }
            }
        }
        Ok(found)
    }

    /// The route by car from `from` to `to`, when a calculator is configured.
    pub async fn route(&self, from: Point, to: Point) -> Option<Result<Route, TrackerError>> {
        let calculator = self.calculator.as_ref()?;
        let key = [from.latitude, from.longitude, to.latitude, to.longitude]
            .map(|d| (d * 10_000.0).round() as i64);
        if let Some(route) = self.routes.get(&key).await {
            return Some(Ok(route));
        }
        let call = self
            .client
            .calculate_route()
            .calculator_name(calculator)
            // Amazon Location takes [longitude, latitude].
            .set_departure_position(Some(vec![from.longitude, from.latitude]))
            .set_destination_position(Some(vec![to.longitude, to.latitude]))
            .travel_mode(aws_sdk_location::types::TravelMode::from("Car"))
            .distance_unit(aws_sdk_location::types::DistanceUnit::from("Kilometers"))
            .send();
        let answer = match tokio::time::timeout(self.deadline, call).await {
            Err(_) => return Some(Err(TrackerError::Late)),
            Ok(Err(e)) => {
                return Some(Err(TrackerError::Failed(
                    aws_sdk_location::error::DisplayErrorContext(e).to_string(),
                )));
            }
            Ok(Ok(answer)) => answer,
        };
        let Some(summary) = answer.summary() else {
            return Some(Err(TrackerError::NoRoute));
        };
        let route = Route {
            km: summary.distance(),
            minutes: summary.duration_seconds() / 60.0,
        };
        self.routes.insert(key, route).await;
        Some(Ok(route))
    }
}
