//! What happens to an order after checkout: status updates from the order-management system
//! (a feed, or an operator's mutation), checked against the status machine, and a customer's
//! cancellation before fulfilment (stock back, payment voided or refunded). Every change is
//! conditional on the order's version and announced through the outbox in the same
//! transaction.

use serde::Deserialize;

use super::orders::{OrderRecord, OrderStatus, OrderStore, PaymentState};
use super::payment::Authorization;
use super::place::{Checkout, collected, record_status, restock};
use crate::codec::{from_item, to_item};
use crate::store::{Condition, Key, StoreError};

/// Why a status change did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatusError {
    /// No such order.
    #[error("no such order")]
    NotFound,
    /// The status machine does not allow it.
    #[error("an order that is {from} cannot become {to}")]
    Illegal {
        /// Its status.
        from: &'static str,
        /// The status asked for.
        to: &'static str,
    },
    /// The order kept changing under us.
    #[error("the order changed meanwhile; try again")]
    Conflict,
    /// The held payment could not be taken.
    #[error("the payment could not be taken: {0}")]
    PaymentFailed(String),
}

/// The key of an order's id, pointing at its digest (for the OMS, which knows the id).
pub fn id_key(order_id: &str) -> Key {
    Key::new(format!("ORDER_ID#{order_id}"), "ORDER_ID")
}

/// The record behind [`id_key`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct OrderIdRecord {
    /// The digest of the order's token.
    pub digest: String,
}

/// The item pointing an order's id at its digest.
pub fn id_item(order_id: &str, digest: &str) -> Result<crate::store::Item, StoreError> {
    to_item(
        &id_key(order_id),
        &OrderIdRecord {
            digest: digest.to_owned(),
        },
        &[],
    )
}

/// A line of the `order-status` feed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StatusLine {
    /// The order's id (as in its `OrderPlaced` message).
    pub order_id: String,
    /// The new status.
    pub status: OrderStatus,
    /// Why, for the history.
    pub note: Option<String>,
}

impl Checkout {
    /// The digest and the order with this id.
    pub async fn by_id(&self, order_id: &str) -> Result<Option<(String, OrderRecord)>, StoreError> {
        let Some(item) = self.table.get(&id_key(order_id)).await? else {
            return Ok(None);
        };
        let pointer: OrderIdRecord = from_item(&item)?;
        Ok(self
            .orders
            .get(&pointer.digest)
            .await?
            .map(|order| (pointer.digest, order)))
    }

    /// Moves the order with this id to `status` (an OMS update); a cancellation releases the
    /// stock and gives the payment back.
    pub async fn update_status(
        &self,
        order_id: &str,
        status: OrderStatus,
        note: Option<String>,
    ) -> Result<OrderRecord, StatusError> {
        for _ in 0..10 {
            let (digest, order) = self
                .by_id(order_id)
                .await
                .map_err(|_| StatusError::Conflict)?
                .ok_or(StatusError::NotFound)?;
            if order.status == OrderStatus::OnHold && status == OrderStatus::Paid {
                // Releasing a held order takes its payment first.
                return self.release_hold(order_id, note).await;
            }
            if !order.status.may_become(status) {
                return Err(StatusError::Illegal {
                    from: order.status.as_str(),
                    to: status.as_str(),
                });
            }
            match self.apply(&digest, order, status, note.clone()).await {
                Ok(Some(order)) => return Ok(order),
                Ok(None) => continue,
                Err(_) => return Err(StatusError::Conflict),
            }
        }
        Err(StatusError::Conflict)
    }

    /// Releases an order held for a fraud review: its authorized payment is captured, then
    /// the order is PAID. Two releases at once capture once in effect (the capture is
    /// idempotent) and move the order once (the move is conditional on its version).
    pub async fn release_hold(
        &self,
        order_id: &str,
        note: Option<String>,
    ) -> Result<OrderRecord, StatusError> {
        for _ in 0..10 {
            let (digest, mut order) = self
                .by_id(order_id)
                .await
                .map_err(|_| StatusError::Conflict)?
                .ok_or(StatusError::NotFound)?;
            if order.status != OrderStatus::OnHold {
                return Err(StatusError::Illegal {
                    from: order.status.as_str(),
                    to: OrderStatus::Paid.as_str(),
                });
            }
            if let (PaymentState::Authorized, Some(id)) =
                (order.payment.state, order.payment.authorization_id.clone())
            {
                let started = std::time::Instant::now();
                let captured = self
                    .payments
                    .capture(&Authorization {
                        id,
                        amount: order.total,
                    })
                    .await;
                self.metrics
                    .payment_call("capture", captured.as_ref().map(drop), started);
                captured.map_err(|e| StatusError::PaymentFailed(e.to_string()))?;
                order.payment.state = PaymentState::Captured;
            }
            let note = note
                .clone()
                .or_else(|| Some("released after a fraud review".into()));
            match self.apply(&digest, order, OrderStatus::Paid, note).await {
                Ok(Some(order)) => return Ok(order),
                Ok(None) => continue,
                Err(_) => return Err(StatusError::Conflict),
            }
        }
        Err(StatusError::Conflict)
    }

    /// A customer's cancellation: allowed until fulfilment starts.
    pub async fn cancel(
        &self,
        digest: &str,
        order: OrderRecord,
    ) -> Result<OrderRecord, StatusError> {
        if !matches!(order.status, OrderStatus::Paid | OrderStatus::OnHold) {
            return Err(StatusError::Illegal {
                from: order.status.as_str(),
                to: OrderStatus::Cancelled.as_str(),
            });
        }
        match self
            .apply(
                digest,
                order,
                OrderStatus::Cancelled,
                Some("cancelled by the customer".into()),
            )
            .await
        {
            Ok(Some(order)) => Ok(order),
            _ => Err(StatusError::Conflict),
        }
    }

    /// Writes the move (conditional on the version read); `None` when the order changed
    /// meanwhile. A cancellation or refund puts the stock back and returns the payment.
    async fn apply(
        &self,
        digest: &str,
        mut order: OrderRecord,
        status: OrderStatus,
        note: Option<String>,
    ) -> Result<Option<OrderRecord>, StoreError> {
        let before = order.status;
        let gives_back = status == OrderStatus::Cancelled
            && matches!(
                before,
                OrderStatus::Paid | OrderStatus::OnHold | OrderStatus::Fulfilling
            );
        let mut ops = if gives_back {
            restock(&order)
        } else if status == OrderStatus::Delivered {
            // A pickup order handed over: its reserved units have left the store.
            collected(&order)
        } else {
            Vec::new()
        };
        ops.extend(record_status(digest, &mut order, status, note)?);
        match self.table.transact_write(ops).await {
            Ok(()) => {}
            Err(StoreError::TransactionCanceled { .. }) => return Ok(None),
            Err(e) => return Err(e),
        }
        if gives_back || status == OrderStatus::Refunded {
            order = self.return_payment(digest, order).await?;
            let products = order.lines.iter().map(|l| l.product_id.clone()).collect();
            self.refresh_products(products).await;
        }
        Ok(Some(order))
    }

    /// Voids an authorization that was not captured, refunds one that was; records it.
    async fn return_payment(
        &self,
        digest: &str,
        mut order: OrderRecord,
    ) -> Result<OrderRecord, StoreError> {
        let Some(id) = order.payment.authorization_id.clone() else {
            return Ok(order);
        };
        let authorization = Authorization {
            id,
            amount: order.total,
        };
        let started = std::time::Instant::now();
        let (op, result, state) = match order.payment.state {
            PaymentState::Authorized => (
                "void",
                self.payments.void(&authorization).await,
                PaymentState::Voided,
            ),
            PaymentState::Captured => (
                "refund",
                self.payments.refund(&authorization).await,
                PaymentState::Refunded,
            ),
            _ => return Ok(order),
        };
        self.metrics
            .payment_call(op, result.as_ref().map(drop), started);
        if let Err(e) = result {
            tracing::error!(error = %e, order = %order.id, "the payment of a cancelled order was not returned; do it by hand");
            return Ok(order);
        }
        let read = order.version;
        order.payment.state = state;
        order.version += 1;
        match self
            .table
            .put(
                OrderStore::item(digest, &order)?,
                Some(Condition::equals("version", read)),
            )
            .await
        {
            Ok(()) => Ok(order),
            Err(StoreError::ConditionFailed) => self
                .orders
                .get(digest)
                .await?
                .ok_or_else(|| StoreError::Corrupt("an order vanished".into())),
            Err(e) => Err(e),
        }
    }
}
