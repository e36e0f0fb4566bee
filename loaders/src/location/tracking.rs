//! Where an order's delivery is, computed once for the API and its live updates: packed at
//! the store nearest the address, on its way (as fed positions say, or simulated along the
//! great circle from the moment it shipped), then delivered.

use chrono::{DateTime, Duration, Utc};

use super::Locator;
use super::delivery::{
    Delivery, DeliveryPositions, DeliveryState, EMBEDDED_CARRIER, ROAD_FACTOR, minutes_for,
    simulate,
};
use super::geo::{Point, distance_m};
use super::geocode::locate;
use crate::checkout::orders::{OrderRecord, OrderStatus};
use crate::store::StoreError;

/// Delivery tracking: the store index and the positions fed in.
#[derive(Clone)]
pub struct Tracking {
    /// The stores (the origin of every delivery).
    pub locator: Locator,
    /// Positions fed in.
    pub positions: DeliveryPositions,
    /// How often a live subscription re-reads a simulated courier.
    pub live_update: std::time::Duration,
}

impl Tracking {
    /// The delivery of an order: none before it is paid, once it is cancelled, and for an
    /// order collected in a store.
    pub async fn track(&self, order: &OrderRecord) -> Result<Option<Delivery>, StoreError> {
        if order.pickup_location_id.is_some() {
            return Ok(None);
        }
        let state = match order.status {
            OrderStatus::Paid | OrderStatus::Fulfilling => DeliveryState::Preparing,
            OrderStatus::Shipped => DeliveryState::InTransit,
            OrderStatus::Delivered => DeliveryState::Delivered,
            _ => return Ok(None),
        };
        let stores = self.locator.index.all();
        let address = &order.shipping_address;
        let text = format!(
            "{} {} {}",
            address.city,
            address.province.as_deref().unwrap_or(""),
            address.zip.as_deref().unwrap_or("")
        );
        let destination = locate(&text, &stores).ok();
        let origin = destination.and_then(|d| {
            self.locator
                .index
                .nearest(d, f64::MAX, None, 1)
                .0
                .into_iter()
                .next()
                .map(|n| Point {
                    latitude: n.location.latitude,
                    longitude: n.location.longitude,
                })
        });
        let (Some(origin), Some(destination)) = (origin, destination) else {
            return Ok(Some(Delivery {
                state,
                carrier: EMBEDDED_CARRIER.into(),
                position: None,
                eta: None,
                route_km: None,
                updated_at: since(order, order.status),
                simulated: false,
            }));
        };
        let full_km = distance_m(origin, destination) / 1000.0 * ROAD_FACTOR;
        let delivery = match state {
            DeliveryState::Preparing => Delivery {
                state,
                carrier: EMBEDDED_CARRIER.into(),
                position: Some(origin),
                eta: None,
                route_km: Some(full_km),
                updated_at: since(order, order.status),
                simulated: false,
            },
            DeliveryState::Delivered => {
                let at = since(order, OrderStatus::Delivered);
                Delivery {
                    state,
                    carrier: EMBEDDED_CARRIER.into(),
                    position: Some(destination),
                    eta: Some(at),
                    route_km: Some(full_km),
                    updated_at: at,
                    simulated: false,
                }
            }
            DeliveryState::InTransit => {
                let shipped = since(order, OrderStatus::Shipped);
                let fed = self
                    .positions
                    .latest(&order.id)
                    .await?
                    .filter(|p| p.at >= shipped);
                match fed {
                    Some(fed) => {
                        let at = Point {
                            latitude: fed.latitude,
                            longitude: fed.longitude,
                        };
                        let left_km = distance_m(at, destination) / 1000.0 * ROAD_FACTOR;
                        Delivery {
                            state,
                            carrier: fed.carrier.unwrap_or_else(|| EMBEDDED_CARRIER.into()),
                            position: Some(at),
                            eta: Some(
                                fed.at
                                    + Duration::milliseconds(
                                        (minutes_for(left_km) * 60_000.0) as i64,
                                    ),
                            ),
                            route_km: Some(full_km),
                            updated_at: fed.at,
                            simulated: false,
                        }
                    }
                    None => Delivery {
                        // Arrived by the simulation's clock; DELIVERED is the OMS's to say.
                        state: DeliveryState::InTransit,
                        ..simulate(origin, destination, shipped, Utc::now())
                    },
                }
            }
        };
        Ok(Some(delivery))
    }
}

/// When the order last became `status` (else its last change).
fn since(order: &OrderRecord, status: OrderStatus) -> DateTime<Utc> {
    order
        .history
        .iter()
        .rev()
        .find(|c| c.status == status)
        .map(|c| c.at)
        .unwrap_or(order.history.last().map_or_else(Utc::now, |c| c.at))
}
