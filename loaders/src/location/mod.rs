//! Stores: the physical locations of the store locator and pickup (the location domain).
//! Today it holds the stores' records, keys and demo data; its API comes with the store
//! locator.

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

const CITIES: [(&str, &str, &str, f64, f64); 25] = [
    ("New York", "NY", "10001", 40.7506, -73.9972),
    ("Los Angeles", "CA", "90012", 34.0537, -118.2428),
    ("Chicago", "IL", "60602", 41.8832, -87.6324),
    ("Houston", "TX", "77002", 29.7589, -95.3677),
    ("Phoenix", "AZ", "85004", 33.4502, -112.0730),
    ("Philadelphia", "PA", "19107", 39.9526, -75.1652),
    ("San Antonio", "TX", "78205", 29.4246, -98.4951),
    ("San Diego", "CA", "92101", 32.7157, -117.1611),
    ("Dallas", "TX", "75201", 32.7876, -96.7994),
    ("Austin", "TX", "78701", 30.2711, -97.7437),
    ("San Jose", "CA", "95113", 37.3337, -121.8907),
    ("Seattle", "WA", "98101", 47.6101, -122.3344),
    ("Denver", "CO", "80202", 39.7527, -104.9992),
    ("Boston", "MA", "02108", 42.3581, -71.0636),
    ("Nashville", "TN", "37203", 36.1540, -86.7890),
    ("Portland", "OR", "97204", 45.5190, -122.6774),
    ("Las Vegas", "NV", "89101", 36.1716, -115.1391),
    ("Atlanta", "GA", "30303", 33.7537, -84.3863),
    ("Miami", "FL", "33131", 25.7663, -80.1917),
    ("Minneapolis", "MN", "55402", 44.9765, -93.2761),
    ("Salt Lake City", "UT", "84111", 40.7608, -111.8910),
    ("Kansas City", "MO", "64105", 39.1024, -94.5834),
    ("Charlotte", "NC", "28202", 35.2271, -80.8431),
    ("Detroit", "MI", "48226", 42.3314, -83.0458),
    ("San Francisco", "CA", "94103", 37.7786, -122.4056),
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
        .map(|(i, (city, state, zip, lat, lon))| {
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
            }
        })
        .collect()
}

/// Writes the demo stores; returns how many.
pub async fn seed_demo_locations(table: &std::sync::Arc<dyn Table>) -> Result<usize, StoreError> {
    let locations = demo_locations();
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
    table.batch_put(items).await?;
    Ok(locations.len())
}

/// The location domain's settings (`[location]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LocationConfig {
    /// Write the demo stores on start when the store holds none.
    pub seed_demo: bool,
}

impl Default for LocationConfig {
    fn default() -> Self {
        Self { seed_demo: true }
    }
}

impl DomainConfig for LocationConfig {
    fn validate(&self, _section: &str, _shared: &SharedSettings) -> Result<(), SettingError> {
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
        _section: &toml::Table,
        shared: &Shared,
        services: &mut Services,
    ) -> Result<(), OpenError> {
        services.insert(Stores(std::sync::Arc::clone(&shared.table)));
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

/// The stores' table, for the location domain's reads and demo data.
#[derive(Clone)]
pub struct Stores(pub std::sync::Arc<dyn Table>);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_has_a_store_in_each_of_25_cities() {
        assert_eq!(demo_locations().len(), 25);
        assert!(DOMAIN.cacheable(&keys::location("loc-boston")));
    }
}
