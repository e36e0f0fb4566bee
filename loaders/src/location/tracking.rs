//! Where an order's delivery is, computed once for the API and its live updates: packed at
//! the store nearest the address, on its way (where an Amazon Location tracker or the
//! positions fed in put it, or simulated along the great circle from the moment it shipped),
//! then delivered. Routes and arrival times come from Amazon Location's route calculator when
//! one is configured, else from the great circle and a road factor.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use super::Locator;
use super::delivery::{
    Delivery, DeliveryPositions, DeliveryState, EMBEDDED_CARRIER, FedPosition, ROAD_FACTOR,
    minutes_for, simulate,
};
use super::geo::{Point, distance_m};
use super::geocode::locate;
use super::tracker::{AmazonTracking, Route};
use crate::checkout::orders::{OrderRecord, OrderStatus};
use crate::store::StoreError;

/// Delivery tracking: the store index and the positions fed in.
#[derive(Clone)]
pub struct Tracking {
    /// The stores (the origin of every delivery).
    pub locator: Locator,
    /// Positions fed in.
    pub positions: DeliveryPositions,
    /// How often a live subscription re-reads a courier that moves by itself.
    pub live_update: std::time::Duration,
    /// Amazon Location's tracker and route calculator, when configured.
    pub amazon: Option<Arc<AmazonTracking>>,
}

/// Where a courier was last seen, and by whom.
#[derive(Debug, Clone, PartialEq)]
pub struct Sighting {
    /// The position.
    pub position: FedPosition,
    /// It came from the tracker now (it may move again without a write).
    pub live: bool,
}

impl Tracking {
    /// The last known position of each of these orders' couriers: the tracker's, when one
    /// is configured and answers within its deadline (newer ones are kept as the last known),
    /// else the newest one stored (fed in, or the tracker's last).
    pub async fn sightings(
        &self,
        order_ids: &[String],
    ) -> Result<HashMap<String, Sighting>, StoreError> {
        let stored = self.positions.latest_many(order_ids).await?;
        let mut found: HashMap<String, Sighting> = stored
            .into_iter()
            .map(|(id, position)| {
                let sighting = Sighting {
                    position,
                    live: false,
                };
                (id, sighting)
            })
            .collect();
        let Some(amazon) = self.amazon.as_ref().filter(|a| a.tracks()) else {
            return Ok(found);
        };
        match amazon.positions(order_ids).await {
            Ok(tracked) => {
                for (id, tracked) in tracked {
                    let newer = found
                        .get(&id)
                        .is_none_or(|known| known.position.at < tracked.at);
                    let position = FedPosition {
                        order_id: id.clone(),
                        latitude: tracked.point.latitude,
                        longitude: tracked.point.longitude,
                        at: tracked.at,
                        carrier: found.get(&id).and_then(|k| k.position.carrier.clone()),
                    };
                    if newer && let Err(e) = self.positions.record(&position).await {
                        tracing::warn!(error = %e, order = %id, "a tracked position was not kept as the last known");
                    }
                    if newer || found.get(&id).is_some_and(|k| k.position.at == tracked.at) {
                        found.insert(
                            id,
                            Sighting {
                                position,
                                live: true,
                            },
                        );
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "the tracker did not answer; using the last known positions");
            }
        }
        Ok(found)
    }

    /// The delivery of an order: none before it is paid, once it is cancelled, and for an
    /// order collected in a store.
    pub async fn track(&self, order: &OrderRecord) -> Result<Option<Delivery>, StoreError> {
        let sighting = if order.status == OrderStatus::Shipped {
            self.sightings(std::slice::from_ref(&order.id))
                .await?
                .remove(&order.id)
        } else {
            None
        };
        Ok(self.track_with(order, sighting).await)
    }

    /// The route by road between two points: the calculator's, else the great circle times
    /// the road factor at the courier's speed.
    async fn route(&self, from: Point, to: Point) -> Route {
        if let Some(amazon) = &self.amazon {
            match amazon.route(from, to).await {
                Some(Ok(route)) => return route,
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "the route calculator did not answer; estimating the route");
                }
                None => {}
            }
        }
        let km = distance_m(from, to) / 1000.0 * ROAD_FACTOR;
        Route {
            km,
            minutes: minutes_for(km),
        }
    }

    /// The delivery of an order whose courier was last seen at `sighting` (for a shipped
    /// order; read with [`Tracking::sightings`], a page of orders at once).
    pub async fn track_with(
        &self,
        order: &OrderRecord,
        sighting: Option<Sighting>,
    ) -> Option<Delivery> {
        if order.pickup_location_id.is_some() {
            return None;
        }
        let state = match order.status {
            OrderStatus::Paid | OrderStatus::Fulfilling => DeliveryState::Preparing,
            OrderStatus::Shipped => DeliveryState::InTransit,
            OrderStatus::Delivered => DeliveryState::Delivered,
            _ => return None,
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
            return Some(Delivery {
                state,
                carrier: EMBEDDED_CARRIER.into(),
                position: None,
                eta: None,
                route: None,
                updated_at: since(order, order.status),
                live: false,
            });
        };
        let route = self.route(origin, destination).await;
        let delivery = match state {
            DeliveryState::Preparing => Delivery {
                state,
                carrier: EMBEDDED_CARRIER.into(),
                position: Some(origin),
                eta: None,
                route: Some(route),
                updated_at: since(order, order.status),
                live: false,
            },
            DeliveryState::Delivered => {
                let at = since(order, OrderStatus::Delivered);
                Delivery {
                    state,
                    carrier: EMBEDDED_CARRIER.into(),
                    position: Some(destination),
                    eta: Some(at),
                    route: Some(route),
                    updated_at: at,
                    live: false,
                }
            }
            DeliveryState::InTransit => {
                let shipped = since(order, OrderStatus::Shipped);
                match sighting.filter(|s| s.position.at >= shipped) {
                    Some(Sighting { position, live }) => {
                        let at = Point {
                            latitude: position.latitude,
                            longitude: position.longitude,
                        };
                        let left = self.route(at, destination).await;
                        Delivery {
                            state,
                            carrier: position.carrier.unwrap_or_else(|| EMBEDDED_CARRIER.into()),
                            position: Some(at),
                            eta: Some(
                                position.at
                                    + Duration::milliseconds((left.minutes * 60_000.0) as i64),
                            ),
                            route: Some(route),
                            updated_at: position.at,
                            live,
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
        Some(delivery)
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
