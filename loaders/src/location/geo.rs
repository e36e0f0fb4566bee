//! Distances on the earth and the embedded store index: every store's position in memory,
//! searched by distance (a sort of a few thousand haversine distances takes well under a
//! millisecond), kept in step with the store's records by the change feed.

use std::sync::{Arc, RwLock};

use super::LocationRecord;
use crate::sync::{read, write};

/// The mean earth radius used by the haversine formula, in metres.
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// A point on the earth (WGS84 degrees).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Latitude, -90 to 90.
    pub latitude: f64,
    /// Longitude, -180 to 180.
    pub longitude: f64,
}

impl Point {
    /// Whether the coordinates are on the earth.
    pub fn is_valid(&self) -> bool {
        (-90.0..=90.0).contains(&self.latitude) && (-180.0..=180.0).contains(&self.longitude)
    }
}

/// The great-circle distance between two points, in metres.
pub fn distance_m(a: Point, b: Point) -> f64 {
    let (la1, la2) = (a.latitude.to_radians(), b.latitude.to_radians());
    let dlat = la2 - la1;
    let dlon = (b.longitude - a.longitude).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin()
}

/// A store and how far it is.
#[derive(Debug, Clone)]
pub struct Nearby {
    /// The store.
    pub location: Arc<LocationRecord>,
    /// Metres from the point searched.
    pub distance_m: f64,
}

/// Every store, in memory.
#[derive(Default)]
pub struct StoreIndex {
    stores: RwLock<Vec<Arc<LocationRecord>>>,
}

impl StoreIndex {
    /// Replaces every store.
    pub fn replace(&self, stores: Vec<LocationRecord>) {
        *write(&self.stores) = stores.into_iter().map(Arc::new).collect();
    }

    /// Adds or replaces one store.
    pub fn upsert(&self, store: LocationRecord) {
        let mut stores = write(&self.stores);
        stores.retain(|s| s.id != store.id);
        stores.push(Arc::new(store));
    }

    /// How many stores it holds.
    pub fn len(&self) -> usize {
        read(&self.stores).len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The store with this id.
    pub fn get(&self, id: &str) -> Option<Arc<LocationRecord>> {
        read(&self.stores).iter().find(|s| s.id == id).cloned()
    }

    /// Every store.
    pub fn all(&self) -> Vec<Arc<LocationRecord>> {
        read(&self.stores).clone()
    }

    /// Stores within `radius_m` of `point`, nearest first (ties by id), after the position
    /// `after` (distance, id) when given, at most `limit`; and whether more follow.
    pub fn nearest(
        &self,
        point: Point,
        radius_m: f64,
        after: Option<(f64, &str)>,
        limit: usize,
    ) -> (Vec<Nearby>, bool) {
        // A store further north or south than the radius cannot be within it: skip the
        // trigonometry for it.
        let max_dlat = radius_m / EARTH_RADIUS_M * 180.0 / std::f64::consts::PI;
        let mut found: Vec<Nearby> = read(&self.stores)
            .iter()
            .filter(|s| (s.latitude - point.latitude).abs() <= max_dlat)
            .map(|s| Nearby {
                distance_m: distance_m(
                    point,
                    Point {
                        latitude: s.latitude,
                        longitude: s.longitude,
                    },
                ),
                location: Arc::clone(s),
            })
            .filter(|n| n.distance_m <= radius_m)
            .filter(|n| {
                after.is_none_or(|(d, id)| {
                    n.distance_m
                        .total_cmp(&d)
                        .then_with(|| n.location.id.as_str().cmp(id))
                        .is_gt()
                })
            })
            .collect();
        found.sort_by(|a, b| {
            a.distance_m
                .total_cmp(&b.distance_m)
                .then_with(|| a.location.id.cmp(&b.location.id))
        });
        let more = found.len() > limit;
        found.truncate(limit);
        (found, more)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_distances_come_out_right() {
        let boston = Point {
            latitude: 42.3581,
            longitude: -71.0636,
        };
        let new_york = Point {
            latitude: 40.7506,
            longitude: -73.9972,
        };
        // Boston to New York (Penn Station): 302.52 km on the mean-radius sphere.
        let km = distance_m(boston, new_york) / 1000.0;
        assert!((km - 302.52).abs() < 0.01, "{km}");
        let one_degree = distance_m(
            Point {
                latitude: 0.0,
                longitude: 0.0,
            },
            Point {
                latitude: 1.0,
                longitude: 0.0,
            },
        );
        assert!((one_degree - EARTH_RADIUS_M * std::f64::consts::PI / 180.0).abs() < 1e-6);
        assert_eq!(distance_m(boston, boston), 0.0);
        let pole = Point {
            latitude: 90.0,
            longitude: 0.0,
        };
        let other_pole = Point {
            latitude: -90.0,
            longitude: 0.0,
        };
        assert!((distance_m(pole, other_pole) - std::f64::consts::PI * EARTH_RADIUS_M).abs() < 1.0);
    }
}
