//! Live delivery updates: `deliveryUpdates(orderId)` sends the order whenever its delivery
//! moves — a status change or a courier position written on any replica, and the simulated
//! courier's progress — to its owner only.

use std::sync::Arc;

use async_graphql::{Context, ID, Subscription};
use futures::Stream;
use storefront_loaders::checkout::Checkout;
use storefront_loaders::checkout::orders::OrderStatus;
use storefront_loaders::identity::GuestToken;
use storefront_loaders::location::delivery::Delivery;
use storefront_loaders::location::tracking::Tracking;
use storefront_loaders::location::updates::{DeliveryChange, DeliveryUpdates};
use tokio::sync::broadcast::{Receiver, error::RecvError};

use crate::checkout::{Order, reach};
use crate::context::service;
use crate::error::{ApiError, ErrorCode};

/// Live updates of the location domain.
#[derive(Default)]
pub struct LocationSubscription;

/// Live updates of the location domain.
#[Subscription]
impl LocationSubscription {
    /// The order now, then again each time its status or delivery changes: a status update,
    /// a courier position (written on any replica), and the simulated courier's progress
    /// while it drives. Ends once the order is delivered, cancelled or refunded. For the
    /// order's owner only: the customer whose access token the connection sent in
    /// `connection_init`, or, for a guest's order, whoever holds its id.
    async fn delivery_updates(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The order's ID.")] order_id: ID,
    ) -> async_graphql::Result<impl Stream<Item = Order> + use<>> {
        let Some(order) = reach(ctx, &order_id).await? else {
            return Err(ApiError::new(
                ErrorCode::NotFound,
                "no order with this id is yours to follow",
            )
            .into());
        };
        let digest = GuestToken::parse(&order.token)
            .map(|t| t.digest())
            .ok_or_else(|| ApiError::new(ErrorCode::Internal, "internal error"))?;
        let follow = Follow {
            changes: service::<DeliveryUpdates>(ctx)?.subscribe(),
            tracking: service::<Tracking>(ctx)?.clone(),
            checkout: Arc::clone(service::<Arc<Checkout>>(ctx)?),
            partitions: [
                format!("ORDER#{digest}"),
                format!("DELIVERY#{}", order.record.id),
            ],
            digest,
            token: order.token,
            sent: None,
            done: false,
        };
        Ok(futures::stream::unfold(follow, Follow::next))
    }
}

/// One subscriber's state: what it follows and what it was last sent.
struct Follow {
    changes: Receiver<DeliveryChange>,
    tracking: Tracking,
    checkout: Arc<Checkout>,
    partitions: [String; 2],
    digest: String,
    token: String,
    sent: Option<(OrderStatus, Option<Delivery>)>,
    done: bool,
}

impl Follow {
    /// The next update: the order as soon as what the subscriber sees of it differs from
    /// what it was last sent; none once it was sent in a final state (or it is gone).
    async fn next(mut self) -> Option<(Order, Self)> {
        if self.done {
            return None;
        }
        loop {
            let record = match self.checkout.orders.get(&self.digest).await {
                Ok(Some(record)) => record,
                Ok(None) => return None,
                Err(e) => {
                    tracing::warn!(error = %e, "a delivery subscription cannot read its order; waiting for the next change");
                    self.changed().await?;
                    continue;
                }
            };
            let delivery = match self.tracking.track(&record).await {
                Ok(delivery) => delivery,
                Err(e) => {
                    tracing::warn!(error = %e, "a delivery subscription cannot track its order; waiting for the next change");
                    self.changed().await?;
                    continue;
                }
            };
            let last = matches!(
                record.status,
                OrderStatus::Delivered | OrderStatus::Cancelled | OrderStatus::Refunded
            );
            let seen = (record.status, delivery);
            if self.sent.as_ref() != Some(&seen) {
                self.sent = Some(seen);
                self.done = last;
                let order = Order {
                    token: self.token.clone(),
                    record,
                };
                return Some((order, self));
            }
            if last {
                return None;
            }
            let simulated = seen.1.as_ref().is_some_and(|d| d.live);
            if simulated {
                let tick = self.tracking.live_update;
                tokio::select! {
                    changed = self.changed() => changed?,
                    () = tokio::time::sleep(tick) => {}
                }
            } else {
                self.changed().await?;
            }
        }
    }

    /// Waits for a change of the order or its positions (or for news that changes were
    /// missed); none once the feed is closed.
    async fn changed(&mut self) -> Option<()> {
        loop {
            match self.changes.recv().await {
                Ok(DeliveryChange::Partition(pk)) if self.partitions.iter().any(|p| **p == *pk) => {
                    return Some(());
                }
                Ok(DeliveryChange::Partition(_)) => {}
                Ok(DeliveryChange::Unknown) | Err(RecvError::Lagged(_)) => return Some(()),
                Err(RecvError::Closed) => return None,
            }
        }
    }
}
