//! The location domain: the store locator (`locations` near a point or an address, with
//! distances, addresses, opening hours and `openNow` in each store's own time zone), pickup
//! availability, delivery tracking and its live updates.

mod live;

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader, NoCache};
use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use storefront_loaders::domain::Services;
use storefront_loaders::location::delivery::Delivery;
use storefront_loaders::location::geo::{Nearby, Point, distance_m};
use storefront_loaders::location::geocode::GeocodeError;
use storefront_loaders::location::hours::open_at;
use storefront_loaders::location::store_stock::StoreStock;
use storefront_loaders::location::tracking::{Sighting, Tracking};
use storefront_loaders::location::{LocationRecord, Locator};

use crate::connection::{PageInfo, PageRequest, decode_cursor, encode_cursor};
use crate::context::service;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::ids;

/// The widest search radius, in kilometres (half the earth's circumference).
pub const MAX_RADIUS_KM: f64 = 20_038.0;

/// A point on the earth.
#[derive(InputObject, Debug, Clone, Copy)]
pub struct GeoPointInput {
    /// Latitude in degrees, -90 to 90.
    pub latitude: f64,
    /// Longitude in degrees, -180 to 180.
    pub longitude: f64,
}

/// The point of coordinates a client sent, when they are on the earth.
fn point_of(latitude: f64, longitude: f64, what: &str) -> ApiResult<Point> {
    let point = Point {
        latitude,
        longitude,
    };
    if point.is_valid() {
        Ok(point)
    } else {
        Err(ApiError::bad_input(format!(
            "{what} needs a latitude of -90 to 90 and a longitude of -180 to 180"
        )))
    }
}

/// A search radius a client sent, in metres, when it is one.
fn radius_m(radius_km: f64) -> ApiResult<f64> {
    if radius_km > 0.0 && radius_km <= MAX_RADIUS_KM {
        Ok(radius_km * 1000.0)
    } else {
        Err(ApiError::bad_input(format!(
            "`radiusKm` must be above 0 and at most {MAX_RADIUS_KM}"
        )))
    }
}

/// A store's postal address.
#[derive(SimpleObject, Debug, Clone)]
pub struct LocationAddress {
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
}

/// The opening hours of one weekday, in the store's time zone.
#[derive(SimpleObject, Debug, Clone)]
pub struct OpeningHours {
    /// ISO weekday: 1 is Monday, 7 Sunday.
    pub weekday: u8,
    /// Opening time, `HH:MM`.
    pub opens: String,
    /// Closing time, `HH:MM` (at or before `opens`: the next day).
    pub closes: String,
}

/// A physical store.
#[derive(Clone)]
pub struct Location {
    record: Arc<LocationRecord>,
    distance_m: Option<f64>,
}

/// A physical store.
#[Object]
impl Location {
    /// Globally unique, opaque ID.
    async fn id(&self) -> ID {
        ids::encode("Location", &self.record.id)
    }
    /// URL slug.
    async fn handle(&self) -> &str {
        &self.record.handle
    }
    /// Display name.
    async fn name(&self) -> &str {
        &self.record.name
    }
    /// Postal address.
    async fn address(&self) -> LocationAddress {
        let r = &self.record;
        LocationAddress {
            address1: r.address1.clone(),
            city: r.city.clone(),
            province_code: r.province_code.clone(),
            zip: r.zip.clone(),
            country_code: r.country_code.clone(),
        }
    }
    /// Phone number.
    async fn phone(&self) -> &str {
        &self.record.phone
    }
    /// Latitude in degrees.
    async fn latitude(&self) -> f64 {
        self.record.latitude
    }
    /// Longitude in degrees.
    async fn longitude(&self) -> f64 {
        self.record.longitude
    }
    /// Kilometres from the point searched (great-circle), to the metre.
    async fn distance_km(&self) -> Option<f64> {
        self.distance_m.map(|m| (m.round()) / 1000.0)
    }
    /// The IANA time zone its hours are in.
    async fn time_zone(&self) -> &str {
        &self.record.time_zone
    }
    /// Opening hours per weekday.
    async fn opening_hours(&self) -> Vec<OpeningHours> {
        self.record
            .opening_hours
            .iter()
            .map(|h| OpeningHours {
                weekday: h.weekday,
                opens: h.opens.clone(),
                closes: h.closes.clone(),
            })
            .collect()
    }
    /// Whether it is open now, in its own time zone.
    async fn open_now(&self) -> bool {
        open_at(
            &self.record.opening_hours,
            &self.record.time_zone,
            Utc::now(),
        )
    }
}

/// One store of a page, and the cursor that points at it.
#[derive(SimpleObject)]
pub struct LocationEdge {
    /// Opaque position of this store: pass it as `after`.
    pub cursor: String,
    /// The store.
    pub node: Location,
}

/// A page of stores, nearest first.
#[derive(SimpleObject)]
pub struct LocationConnection {
    /// The stores of the page, each with its cursor.
    pub edges: Vec<LocationEdge>,
    /// The stores of the page.
    pub nodes: Vec<Location>,
    /// Where the page sits in the whole list.
    pub page_info: PageInfo,
}

// What a locator cursor holds: the distance and id of the last store, and the point searched
// (as bits: a decimal float text may not read back to the same value).
#[derive(Serialize, Deserialize)]
struct LocatorCursor {
    d: u64,
    i: String,
    p: (u64, u64),
}

/// The store with this id, when it exists.
pub fn location_by_id(ctx: &Context<'_>, id: &str) -> ApiResult<Option<Location>> {
    Ok(service::<Locator>(ctx)?
        .index
        .get(id)
        .map(|record| Location {
            record,
            distance_m: None,
        }))
}

/// A store that has a variant for pickup.
#[derive(SimpleObject)]
pub struct StoreAvailability {
    /// The store.
    pub location: Location,
    /// Units that may be reserved for pickup (on hand, less what pickup orders hold).
    pub quantity: i64,
}

/// The stores within `radius_km` of `near` that hold `variant_id`, nearest first, at most
/// `first`.
pub async fn store_availability(
    ctx: &Context<'_>,
    variant_id: &str,
    near: GeoPointInput,
    radius_km: f64,
    first: i32,
) -> ApiResult<Vec<StoreAvailability>> {
    if !(1..=50).contains(&first) {
        return Err(ApiError::bad_input("`first` must be between 1 and 50"));
    }
    let radius = radius_m(radius_km)?;
    let point = point_of(near.latitude, near.longitude, "`near`")?;
    let stock: std::collections::HashMap<String, i64> = service::<StoreStock>(ctx)?
        .of_variant(variant_id)
        .await?
        .into_iter()
        .filter(|s| s.available > 0)
        .map(|s| (s.location_id, s.available))
        .collect();
    if stock.is_empty() {
        return Ok(vec![]);
    }
    let mut found: Vec<StoreAvailability> = service::<Locator>(ctx)?
        .index
        .all()
        .into_iter()
        .filter_map(|record| {
            let quantity = *stock.get(&record.id)?;
            let distance_m = distance_m(
                point,
                Point {
                    latitude: record.latitude,
                    longitude: record.longitude,
                },
            );
            (distance_m <= radius).then_some(StoreAvailability {
                location: Location {
                    record,
                    distance_m: Some(distance_m),
                },
                quantity,
            })
        })
        .collect();
    found.sort_by(|a, b| {
        let d = |s: &StoreAvailability| s.location.distance_m.unwrap_or(f64::MAX);
        d(a).total_cmp(&d(b))
            .then_with(|| a.location.record.id.cmp(&b.location.record.id))
    });
    found.truncate(first as usize);
    Ok(found)
}

/// Store locator queries.
#[derive(Default)]
pub struct LocationQuery;

/// Store locator queries.
#[Object]
impl LocationQuery {
    /// Stores near a point or an address (exactly one of them), nearest first, within
    /// `radiusKm`. An address the gateway does not know is an error, never a guess.
    #[graphql(complexity = "crate::connection::complexity(first, None, child_complexity)")]
    async fn locations(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Search around this point.")] near: Option<GeoPointInput>,
        #[graphql(desc = "Search around this place: a city, a city and state, or a postcode.")]
        address: Option<String>,
        #[graphql(desc = "How far to look, in kilometres.", default = 50.0)] radius_km: f64,
        #[graphql(desc = "Return the first n stores.")] first: Option<i32>,
        #[graphql(desc = "Return stores after this cursor.")] after: Option<String>,
    ) -> ApiResult<LocationConnection> {
        let page = PageRequest::parse(first, after, None, None)?;
        let radius = radius_m(radius_km)?;
        let locator = service::<Locator>(ctx)?;
        let point = match (near, address) {
            (Some(p), None) => point_of(p.latitude, p.longitude, "`near`")?,
            (None, Some(text)) => {
                if text.chars().count() > 200 {
                    return Err(ApiError::bad_input(
                        "`address` is longer than 200 characters",
                    ));
                }
                locator.geocode(&text).await.map_err(|e| match e {
                    GeocodeError::Unavailable(_) => {
                        ApiError::new(ErrorCode::ServiceUnavailable, e.to_string())
                    }
                    other => ApiError::bad_input(other.to_string()),
                })?
            }
            _ => {
                return Err(ApiError::bad_input(
                    "pass exactly one of `near` and `address`",
                ));
            }
        };
        let after = page
            .cursor
            .as_deref()
            .map(|c| {
                let cursor: LocatorCursor = decode_cursor(c)?;
                if cursor.p != (point.latitude.to_bits(), point.longitude.to_bits()) {
                    return Err(ApiError::new(
                        ErrorCode::InvalidCursor,
                        "the cursor belongs to a search around another point",
                    ));
                }
                Ok(cursor)
            })
            .transpose()?;
        let (found, more) = locator.index.nearest(
            point,
            radius,
            after.as_ref().map(|c| (f64::from_bits(c.d), c.i.as_str())),
            page.limit,
        );
        let read: Vec<(String, Location)> = found
            .into_iter()
            .map(
                |Nearby {
                     location,
                     distance_m,
                 }| {
                    let cursor = encode_cursor(&LocatorCursor {
                        d: distance_m.to_bits(),
                        i: location.id.clone(),
                        p: (point.latitude.to_bits(), point.longitude.to_bits()),
                    });
                    (
                        cursor,
                        Location {
                            record: location,
                            distance_m: Some(distance_m),
                        },
                    )
                },
            )
            .collect();
        let connection: crate::connection::Page<Location> = page.connection(read, more);
        Ok(LocationConnection::from(connection))
    }
}

impl From<crate::connection::Page<Location>> for LocationConnection {
    fn from(page: crate::connection::Page<Location>) -> Self {
        let nodes = page.items.iter().map(|(_, n)| n.clone()).collect();
        let edges = page
            .items
            .into_iter()
            .map(|(cursor, node)| LocationEdge { cursor, node })
            .collect();
        Self {
            edges,
            nodes,
            page_info: page.page_info,
        }
    }
}

/// What `deliveryPositionRecord` did.
#[derive(SimpleObject, Debug, Clone)]
pub struct DeliveryPositionPayload {
    /// Whether the position was kept (false: a newer one is known).
    pub recorded: bool,
}

/// Operator mutations of the location domain.
#[derive(Default)]
pub struct LocationMutation;

/// Operator mutations of the location domain.
#[Object]
impl LocationMutation {
    /// Records where an order's courier is (for a carrier's or the OMS's integration): needs
    /// an API key issued with `admin = true`. A position older than the last known one is
    /// not kept.
    async fn delivery_position_record(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The order's id (as in its `OrderPlaced` message).")] order_id: String,
        #[graphql(desc = "Latitude in degrees.")] latitude: f64,
        #[graphql(desc = "Longitude in degrees.")] longitude: f64,
        #[graphql(desc = "When the courier was there (default: now).")] at: Option<
            crate::scalars::DateTime,
        >,
        #[graphql(desc = "Who carries it.")] carrier: Option<String>,
    ) -> ApiResult<DeliveryPositionPayload> {
        use storefront_loaders::location::delivery::{DeliveryPositions, FedPosition};
        if ctx
            .data_opt::<storefront_loaders::rate_limit::Operator>()
            .is_none()
        {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "send an `x-api-key` issued with `admin = true`",
            ));
        }
        point_of(latitude, longitude, "a position")?;
        if carrier.as_ref().is_some_and(|c| c.chars().count() > 100) {
            return Err(ApiError::bad_input(
                "`carrier` is longer than 100 characters",
            ));
        }
        let positions = service::<DeliveryPositions>(ctx)?;
        if !positions.known_order(&order_id).await? {
            return Err(ApiError::bad_input(format!(
                "no order has the id `{order_id}`"
            )));
        }
        let recorded = positions
            .record(&FedPosition {
                order_id,
                latitude,
                longitude,
                at: at.map_or_else(Utc::now, |a| a.0),
                carrier,
            })
            .await?;
        Ok(DeliveryPositionPayload { recorded })
    }
}

/// The location domain's queries.
pub type Query = LocationQuery;
/// The location domain's mutations.
pub type Mutation = LocationMutation;
/// The location domain's live updates.
pub type Subscription = live::LocationSubscription;

/// Where a delivery stands.
#[derive(async_graphql::Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Being packed at the store; not on its way yet.
    Preparing,
    /// On its way.
    InTransit,
    /// Arrived.
    Delivered,
}

/// A point on the earth.
#[derive(SimpleObject, Debug, Clone, Copy, PartialEq)]
pub struct GeoPoint {
    /// Latitude in degrees.
    pub latitude: f64,
    /// Longitude in degrees.
    pub longitude: f64,
}

/// The route of a delivery.
#[derive(SimpleObject, Debug, Clone, Copy, PartialEq)]
pub struct DeliveryRoute {
    /// Its length, km (by road, estimated).
    pub distance_km: f64,
    /// How long it takes, minutes.
    pub duration_minutes: f64,
}

/// Where an order's delivery is.
#[derive(SimpleObject, Debug, Clone, PartialEq)]
pub struct OrderDelivery {
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Who carries it.
    pub carrier: String,
    /// Where it is; null when the address is not a place the gateway knows.
    pub position: Option<GeoPoint>,
    /// When it should arrive.
    pub eta: Option<crate::scalars::DateTime>,
    /// The route from the store to the address.
    pub route: Option<DeliveryRoute>,
    /// When the position was last known.
    pub updated_at: crate::scalars::DateTime,
}

impl From<storefront_loaders::location::delivery::DeliveryState> for DeliveryStatus {
    fn from(state: storefront_loaders::location::delivery::DeliveryState) -> Self {
        use storefront_loaders::location::delivery::DeliveryState;
        match state {
            DeliveryState::Preparing => DeliveryStatus::Preparing,
            DeliveryState::InTransit => DeliveryStatus::InTransit,
            DeliveryState::Delivered => DeliveryStatus::Delivered,
        }
    }
}

fn geo(point: Point) -> GeoPoint {
    GeoPoint {
        latitude: point.latitude,
        longitude: point.longitude,
    }
}

impl From<Delivery> for OrderDelivery {
    fn from(d: Delivery) -> Self {
        Self {
            status: d.state.into(),
            carrier: d.carrier,
            position: d.position.map(geo),
            eta: d.eta.map(crate::scalars::DateTime),
            route: d.route.map(|route| DeliveryRoute {
                distance_km: (route.km * 1000.0).round() / 1000.0,
                duration_minutes: route.minutes.round(),
            }),
            updated_at: crate::scalars::DateTime(d.updated_at),
        }
    }
}

/// Reads where the couriers of a page of orders were last seen in one go (one tracker call
/// for every ten orders, one store read).
pub struct SightingBatch(Tracking);

impl Loader<String> for SightingBatch {
    type Value = Sighting;
    type Error = ApiError;

    async fn load(&self, order_ids: &[String]) -> Result<HashMap<String, Sighting>, ApiError> {
        Ok(self.0.sightings(order_ids).await?)
    }
}

/// The courier sightings loader of the schema's data.
pub type SightingLoader = DataLoader<SightingBatch, NoCache>;

/// How long the loader collects orders before it reads: every order of a page asks within
/// one poll of the page's fields, well inside this.
const BATCH_WINDOW: std::time::Duration = std::time::Duration::from_millis(2);

/// The loader for the schema's data (none when the location domain is not open).
pub fn loader_for(services: &Services) -> Option<SightingLoader> {
    let tracking = services.get::<Tracking>()?.clone();
    Some(DataLoader::with_cache(SightingBatch(tracking), tokio::spawn, NoCache).delay(BATCH_WINDOW))
}

/// The delivery of an order: none before it is paid or once it is cancelled; packed at the
/// store nearest its address, then on its way (as the tracker or positions fed in say, else
/// simulated), then delivered.
pub async fn delivery_of(
    ctx: &Context<'_>,
    order: &storefront_loaders::checkout::orders::OrderRecord,
) -> ApiResult<Option<OrderDelivery>> {
    use storefront_loaders::checkout::orders::OrderStatus;
    let tracking = service::<Tracking>(ctx)?;
    let sighting = match (order.status, ctx.data_opt::<SightingLoader>()) {
        (OrderStatus::Shipped, Some(loader)) => loader.load_one(order.id.clone()).await?,
        (OrderStatus::Shipped, None) => tracking
            .sightings(std::slice::from_ref(&order.id))
            .await?
            .remove(&order.id),
        _ => None,
    };
    Ok(tracking
        .track_with(order, sighting)
        .await
        .map(OrderDelivery::from))
}
