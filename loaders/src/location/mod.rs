//! Stores: the physical locations of the store locator and pickup (the location domain):
//! records, keys and demo data, the embedded store index and geocoder, and opening hours in
//! each store's own time zone.

pub mod delivery;
pub mod geo;
pub mod geocode;
pub mod hours;
pub mod store_stock;
pub mod tracker;
pub mod tracking;
pub mod updates;

use std::sync::Arc;

use tokio::sync::broadcast::error::RecvError;

use self::geo::StoreIndex;
use crate::codec::from_item;
use crate::store::{Change, Changes};

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::catalog::seed::slug;
use crate::codec::to_item;
use crate::domain::{
    Domain, DomainConfig, OpenError, Services, SettingError, Shared, SharedSettings, ValueKind,
    Variable, parse_section,
};
use crate::store::{Index, Key, Query, StoreError, Table};

/// A physical store, for the store locator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocationRecord {
    /// Stable internal id.
    pub id: String,
    /// URL slug.
    pub handle: String,
    /// Display name.
    pub name: String,
    /// Street address.
    pub address1: String,
    /// City.
    pub city: String,
    /// State or province code.
    pub province_code: String,
    /// Postal code.
    pub zip: String,
    /// ISO 3166 country code.
    pub country_code: String,
    /// Phone number.
    pub phone: String,
    /// WGS84 latitude.
    pub latitude: f64,
    /// WGS84 longitude.
    pub longitude: f64,
    /// Opening hours per weekday.
    pub opening_hours: Vec<OpeningHoursRecord>,
    /// The IANA time zone its hours are in (`America/New_York`).
    #[serde(default = "utc")]
    pub time_zone: String,
}

fn utc() -> String {
    "UTC".into()
}

/// Opening hours of one weekday.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpeningHoursRecord {
    /// ISO weekday, 1 = Monday.
    pub weekday: u8,
    /// Local opening time, `HH:MM`.
    pub opens: String,
    /// Local closing time, `HH:MM`.
    pub closes: String,
}

/// Item keys and partition names of stores.
pub mod keys {
    use crate::store::Key;

    /// The store location item.
    pub fn location(id: &str) -> Key {
        Key::new(format!("LOCATION#{id}"), "LOCATION")
    }
    /// GSI1 partition listing every store location.
    pub const LOCATIONS: &str = "LOCATIONS";
}

const CITIES: [(&str, &str, &str, f64, f64, &str); 25] = [
    (
        "New York",
        "NY",
        "10001",
        40.7506,
        -73.9972,
        "America/New_York",
    ),
    (
        "Los Angeles",
        "CA",
        "90012",
        34.0537,
        -118.2428,
        "America/Los_Angeles",
    ),
    (
        "Chicago",
        "IL",
        "60602",
        41.8832,
        -87.6324,
        "America/Chicago",
    ),
    (
        "Houston",
        "TX",
        "77002",
        29.7589,
        -95.3677,
        "America/Chicago",
    ),
    (
        "Phoenix",
        "AZ",
        "85004",
        33.4502,
        -112.0730,
        "America/Phoenix",
    ),
    (
        "Philadelphia",
        "PA",
        "19107",
        39.9526,
        -75.1652,
        "America/New_York",
    ),
    (
        "San Antonio",
        "TX",
        "78205",
        29.4246,
        -98.4951,
        "America/Chicago",
    ),
    (
        "San Diego",
        "CA",
        "92101",
        32.7157,
        -117.1611,
        "America/Los_Angeles",
    ),
    (
        "Dallas",
        "TX",
        "75201",
        32.7876,
        -96.7994,
        "America/Chicago",
    ),
    (
        "Austin",
        "TX",
        "78701",
        30.2711,
        -97.7437,
        "America/Chicago",
    ),
    (
        "San Jose",
        "CA",
        "95113",
        37.3337,
        -121.8907,
        "America/Los_Angeles",
    ),
    (
        "Seattle",
        "WA",
        "98101",
        47.6101,
        -122.3344,
        "America/Los_Angeles",
    ),
    (
        "Denver",
        "CO",
        "80202",
        39.7527,
        -104.9992,
        "America/Denver",
    ),
    (
        "Boston",
        "MA",
        "02108",
        42.3581,
        -71.0636,
        "America/New_York",
    ),
    (
        "Nashville",
        "TN",
        "37203",
        36.1540,
        -86.7890,
        "America/Chicago",
    ),
    (
        "Portland",
        "OR",
        "97204",
        45.5190,
        -122.6774,
        "America/Los_Angeles",
    ),
    (
        "Las Vegas",
        "NV",
        "89101",
        36.1716,
        -115.1391,
        "America/Los_Angeles",
    ),
    (
        "Atlanta",
        "GA",
        "30303",
        33.7537,
        -84.3863,
        "America/New_York",
    ),
    (
        "Miami",
        "FL",
        "33131",
        25.7663,
        -80.1917,
        "America/New_York",
    ),
    (
        "Minneapolis",
        "MN",
        "55402",
        44.9765,
        -93.2761,
        "America/Chicago",
    ),
    (
        "Salt Lake City",
        "UT",
        "84111",
        40.7608,
        -111.8910,
        "America/Denver",
    ),
    (
        "Kansas City",
        "MO",
        "64105",
        39.1024,
        -94.5834,
        "America/Chicago",
    ),
    (
        "Charlotte",
        "NC",
        "28202",
        35.2271,
        -80.8431,
        "America/New_York",
    ),
    (
        "Detroit",
        "MI",
        "48226",
        42.3314,
        -83.0458,
        "America/Detroit",
    ),
    (
        "San Francisco",
        "CA",
        "94103",
        37.7786,
        -122.4056,
        "America/Los_Angeles",
    ),
];

const STREETS: [&str; 8] = [
    "Main Street",
    "Market Street",
    "Broadway",
    "Elm Street",
    "Park Avenue",
    "Oak Avenue",
    "Pine Street",
    "Union Square",
];

/// The 25 stores of the demo data set, one per large US city.
pub fn demo_locations() -> Vec<LocationRecord> {
    CITIES
        .iter()
        .enumerate()
        .map(|(i, (city, state, zip, lat, lon, zone))| {
            let handle = slug(city);
            let weekday_close = if i % 3 == 0 { "21:00" } else { "20:00" };
            LocationRecord {
                id: format!("loc-{handle}"),
                handle: handle.clone(),
                name: format!("Storefront {city}"),
                address1: format!("{} {}", 100 + i * 17, STREETS[i % STREETS.len()]),
                city: (*city).into(),
                province_code: (*state).into(),
                zip: (*zip).into(),
                country_code: "US".into(),
                phone: format!("+1 555 01{i:02}"),
                latitude: *lat,
                longitude: *lon,
                opening_hours: (1..=7)
                    .map(|weekday| OpeningHoursRecord {
                        weekday,
                        opens: if weekday == 7 { "10:00" } else { "09:00" }.into(),
                        closes: if weekday == 7 { "18:00" } else { weekday_close }.into(),
                    })
                    .collect(),
                time_zone: (*zone).into(),
            }
        })
        .collect()
}

/// Writes store records (the locator's and pickup's source of truth).
pub async fn write_locations(
    table: &std::sync::Arc<dyn Table>,
    locations: &[LocationRecord],
) -> Result<(), StoreError> {
    let items = locations
        .iter()
        .map(|location| {
            to_item(
                &keys::location(&location.id),
                location,
                &[
                    ("gsi1pk", json!(keys::LOCATIONS)),
                    ("gsi1sk", json!(location.handle)),
                ],
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    table.batch_put(items).await
}

/// Writes the demo stores; returns how many.
pub async fn seed_demo_locations(table: &std::sync::Arc<dyn Table>) -> Result<usize, StoreError> {
    let locations = demo_locations();
    write_locations(table, &locations).await?;
    Ok(locations.len())
}

/// The location domain's settings (`[location]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LocationConfig {
    /// Write the demo stores on start when the store holds none.
    pub seed_demo: bool,
    /// An Amazon Location place index to geocode addresses with (none: the embedded
    /// gazetteer only).
    pub place_index: Option<String>,
    /// An Amazon Location tracker with a device per order (its id), for couriers' positions
    /// (none: the positions fed in, else the simulation).
    pub tracker: Option<String>,
    /// An Amazon Location route calculator, for routes and arrival times (none: the great
    /// circle and a road factor).
    pub route_calculator: Option<String>,
    /// The region of the place index, tracker and calculator (default: `aws.region`).
    pub region: Option<String>,
    /// Another endpoint (a VPC endpoint or a test double).
    pub endpoint_url: Option<String>,
    /// How long Amazon Location may take before the embedded engine answers instead (the
    /// gazetteer, the last known position, the estimated route).
    pub deadline_millis: u64,
    /// How often a live delivery subscription re-reads a courier that is simulated (its
    /// position moves with the clock; written positions are sent as they arrive).
    pub live_update_millis: u64,
}

impl Default for LocationConfig {
    fn default() -> Self {
        Self {
            seed_demo: true,
            place_index: None,
            tracker: None,
            route_calculator: None,
            region: None,
            endpoint_url: None,
            deadline_millis: 1_000,
            live_update_millis: 5_000,
        }
    }
}

impl DomainConfig for LocationConfig {
    fn validate(&self, section: &str, shared: &SharedSettings) -> Result<(), SettingError> {
        let amazon =
            self.place_index.is_some() || self.tracker.is_some() || self.route_calculator.is_some();
        if amazon && self.region.is_none() && shared.aws_region.is_none() {
            return Err(SettingError::new(
                format!("{section}.region"),
                "Amazon Location (a place index, tracker or route calculator) needs a region (this setting or `aws.region`)",
            ));
        }
        if self.deadline_millis == 0 {
            return Err(SettingError::new(
                format!("{section}.deadline_millis"),
                "must be at least 1",
            ));
        }
        if self.live_update_millis < 100 {
            return Err(SettingError::new(
                format!("{section}.live_update_millis"),
                "must be at least 100",
            ));
        }
        Ok(())
    }
}

/// The location domain.
pub struct LocationDomain;

/// The location domain, as registered in the schema crate.
pub static DOMAIN: LocationDomain = LocationDomain;

#[async_trait::async_trait]
impl Domain for LocationDomain {
    fn name(&self) -> &'static str {
        "location"
    }

    fn variables(&self) -> &'static [Variable] {
        &[Variable {
            name: "STOREFRONT_SEED_DEMO",
            key: "seed_demo",
            kind: ValueKind::Bool,
        }]
    }

    fn check(&self, section: &toml::Table, shared: &SharedSettings) -> Result<(), SettingError> {
        parse_section::<LocationConfig>(self.name(), section, shared).map(drop)
    }

    fn cacheable(&self, key: &Key) -> bool {
        key.pk.starts_with("LOCATION#")
    }

    async fn open(
        &self,
        section: &toml::Table,
        shared: &Shared,
        services: &mut Services,
    ) -> Result<(), OpenError> {
        let config: LocationConfig = parse_section(self.name(), section, &shared.settings)?;
        let amazon = match &config.place_index {
            None => None,
            Some(index) => Some(Arc::new(
                geocode::AmazonGeocoder::connect(
                    index.clone(),
                    config
                        .region
                        .as_deref()
                        .or(shared.settings.aws_region.as_deref()),
                    config.endpoint_url.as_deref(),
                    &shared.metrics,
                )
                .await
                .map_err(OpenError::new)?,
            )),
        };
        services.insert(Stores(std::sync::Arc::clone(&shared.table)));
        services.insert(store_stock::StoreStock::new(Arc::clone(&shared.table)));
        let positions = delivery::DeliveryPositions::new(Arc::clone(&shared.table));
        let locator = Locator {
            index: Arc::new(StoreIndex::default()),
            uncached: Arc::clone(&shared.uncached),
            changes: shared.changes.clone(),
            amazon,
            deadline: std::time::Duration::from_millis(config.deadline_millis),
        };
        let deadline = std::time::Duration::from_millis(config.deadline_millis);
        let tracking_engine = if config.tracker.is_some() || config.route_calculator.is_some() {
            Some(Arc::new(
                tracker::AmazonTracking::connect(
                    config.tracker.clone(),
                    config.route_calculator.clone(),
                    config
                        .region
                        .as_deref()
                        .or(shared.settings.aws_region.as_deref()),
                    config.endpoint_url.as_deref(),
                    deadline,
                    &shared.metrics,
                )
                .await
                .map_err(OpenError::new)?,
            ))
        } else {
            None
        };
        services.insert(tracking::Tracking {
            locator: locator.clone(),
            positions: positions.clone(),
            live_update: std::time::Duration::from_millis(config.live_update_millis),
            amazon: tracking_engine,
        });
        services.insert(updates::DeliveryUpdates::open(
            &shared.changes,
            shared.redis.clone(),
            &shared.settings.namespace,
        ));
        services.insert(positions);
        services.insert(locator);
        Ok(())
    }

    async fn start(
        &self,
        section: &toml::Table,
        services: &Services,
    ) -> Result<Option<String>, OpenError> {
        let config: LocationConfig = toml::Value::Table(section.clone())
            .try_into()
            .map_err(|e| OpenError::new(format!("invalid section `[location]`: {e}")))?;
        let seeded = self.seed_if_empty(&config, services).await?;
        if let Some(locator) = services.get::<Locator>() {
            // Follow before loading, so that no write between the two is missed.
            let feed = locator.changes.subscribe();
            if let Err(e) = locator.load().await {
                // Serving without the locator beats not serving: it loads once it can.
                tracing::warn!(error = %e, "cannot read the stores now; retrying in the background");
                let retry = locator.clone();
                tokio::spawn(async move {
                    let mut attempt = 0;
                    while retry.load().await.is_err() {
                        attempt += 1;
                        crate::store::backoff(attempt.min(6)).await;
                    }
                });
            }
            locator.follow(feed);
        }
        Ok(seeded)
    }

    fn feeds(&self) -> &'static [&'static str] {
        &["store-inventory", "delivery-positions"]
    }

    fn feed_key(&self, feed: &str) -> &'static [&'static str] {
        match feed {
            "store-inventory" => &["location", "sku"],
            "delivery-positions" => &["orderId"],
            _ => &[],
        }
    }

    async fn import(
        &self,
        services: &Services,
        feed: &str,
        lines: Box<dyn std::io::BufRead + Send>,
    ) -> Result<crate::domain::FeedReport, OpenError> {
        let not_open = || OpenError::new("the location domain is not open");
        match feed {
            "store-inventory" => Ok(services
                .get::<store_stock::StoreStock>()
                .ok_or_else(not_open)?
                .import(lines)
                .await),
            "delivery-positions" => Ok(services
                .get::<delivery::DeliveryPositions>()
                .ok_or_else(not_open)?
                .import(lines)
                .await),
            other => Err(OpenError::new(format!(
                "the location domain has no feed `{other}`"
            ))),
        }
    }

    async fn seed(&self, services: &Services, _size: usize) -> Result<Option<String>, OpenError> {
        let Some(stores) = services.get::<Stores>() else {
            return Ok(None);
        };
        let written = seed_demo_locations(&stores.0)
            .await
            .map_err(|e| OpenError::new(format!("cannot write the demo stores: {e}")))?;
        Ok(Some(format!("{written} store locations")))
    }
}

impl LocationDomain {
    async fn seed_if_empty(
        &self,
        config: &LocationConfig,
        services: &Services,
    ) -> Result<Option<String>, OpenError> {
        let Some(stores) = services.get::<Stores>().filter(|_| config.seed_demo) else {
            return Ok(None);
        };
        let any = Query::partition(Index::Gsi1, keys::LOCATIONS, 1);
        let found = stores
            .0
            .query(&any)
            .await
            .map_err(|e| OpenError::new(format!("cannot read the store: {e}")))?;
        if !found.items.is_empty() {
            return Ok(None);
        }
        self.seed(services, 0).await
    }
}

/// The stores' table, for the location domain's reads and demo data.
#[derive(Clone)]
pub struct Stores(pub std::sync::Arc<dyn Table>);

/// The store locator: every store in memory, kept in step with the store by the change feed.
#[derive(Clone)]
pub struct Locator {
    /// The stores.
    pub index: Arc<StoreIndex>,
    uncached: Arc<dyn Table>,
    changes: Changes,
    amazon: Option<Arc<geocode::AmazonGeocoder>>,
    deadline: std::time::Duration,
}

impl Locator {
    /// The point of an address: Amazon Location's place index when configured (within the
    /// deadline), the embedded gazetteer otherwise or when the service fails or is late.
    pub async fn geocode(&self, text: &str) -> Result<geo::Point, geocode::GeocodeError> {
        if let Some(amazon) = &self.amazon {
            match tokio::time::timeout(self.deadline, amazon.locate(text)).await {
                Ok(Ok(point)) => return Ok(point),
                Ok(Err(geocode::GeocodeError::Unknown(t))) => {
                    return Err(geocode::GeocodeError::Unknown(t));
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "the place index failed; using the embedded gazetteer")
                }
                Err(_) => tracing::warn!("the place index was late; using the embedded gazetteer"),
            }
        }
        geocode::locate(text, &self.index.all())
    }

    /// Reads every store into the index.
    pub async fn load(&self) -> Result<usize, StoreError> {
        let mut all = Vec::new();
        let mut start = None;
        loop {
            let mut query = Query::partition(Index::Gsi1, keys::LOCATIONS, 500);
            query.start = start;
            let page = self.uncached.query(&query).await?;
            for item in &page.items {
                all.push(from_item::<LocationRecord>(item)?);
            }
            match page.next {
                Some(next) => start = Some(next),
                None => break,
            }
        }
        let count = all.len();
        self.index.replace(all);
        Ok(count)
    }

    fn follow(&self, mut feed: tokio::sync::broadcast::Receiver<Change>) {
        let locator = self.clone();
        tokio::spawn(async move {
            loop {
                let result = match feed.recv().await {
                    Ok(Change::Keys(keys)) => {
                        let mut result = Ok(());
                        for key in keys.iter().filter(|k| k.pk.starts_with("LOCATION#")) {
                            result = match locator.uncached.get(key).await {
                                Ok(Some(item)) => from_item::<LocationRecord>(&item)
                                    .map(|record| locator.index.upsert(record)),
                                Ok(None) => Ok(()),
                                Err(e) => Err(e),
                            };
                        }
                        result
                    }
                    Ok(Change::Unknown) | Err(RecvError::Lagged(_)) => {
                        locator.load().await.map(drop)
                    }
                    Err(RecvError::Closed) => return,
                };
                if let Err(e) = result {
                    tracing::warn!(error = %e, "the store locator missed a change; it reloads on the next");
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_has_a_store_in_each_of_25_cities() {
        assert_eq!(demo_locations().len(), 25);
        assert!(DOMAIN.cacheable(&keys::location("loc-boston")));
    }
}
