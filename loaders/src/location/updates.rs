//! Live delivery updates: which orders' deliveries may have moved, as they are written on this
//! replica (its change feed) and, with Redis, on every other (a pub/sub channel of the
//! deployment's namespace). Followers re-read what they follow; a message says only *what*
//! changed, never the data, so a lost or repeated one costs a read and nothing else.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast::{self, error::RecvError};

use crate::cache::RedisTier;
use crate::store::{Change, Changes};

/// How many updates a slow follower may fall behind before it is told to re-read.
const BACKLOG: usize = 4096;

/// What may have moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryChange {
    /// The order with this partition (`ORDER#…`) or its positions (`DELIVERY#…`) were written.
    Partition(Arc<str>),
    /// Updates may have been missed: every follower re-reads.
    Unknown,
}

// A message between replicas: the partition written, and which replica wrote it (its own
// messages come back to it, and it has told its followers already).
#[derive(Serialize, Deserialize)]
struct Wire {
    replica: String,
    partition: String,
}

/// The partitions of the items whose writes move a delivery.
pub fn moves_a_delivery(partition: &str) -> bool {
    partition.starts_with("ORDER#") || partition.starts_with("DELIVERY#")
}

/// The feed of delivery changes, for subscriptions.
#[derive(Clone)]
pub struct DeliveryUpdates {
    tx: broadcast::Sender<DeliveryChange>,
}

impl DeliveryUpdates {
    /// Follows `changes` and, with `redis`, the other replicas through the namespace's channel.
    pub fn open(changes: &Changes, redis: Option<Arc<RedisTier>>, namespace: &str) -> Self {
        let tx = broadcast::channel(BACKLOG).0;
        let replica = uuid::Uuid::new_v4().simple().to_string();
        let channel = format!("{namespace}delivery");
        if let Some(redis) = &redis {
            let from_others = tx.clone();
            let after_gap = tx.clone();
            let me = replica.clone();
            redis.subscribe(
                channel.clone(),
                move |payload| match serde_json::from_slice::<Wire>(payload) {
                    Ok(wire) if wire.replica != me && moves_a_delivery(&wire.partition) => {
                        let _ = from_others.send(DeliveryChange::Partition(wire.partition.into()));
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "unreadable delivery update"),
                },
                move || {
                    // Whatever was sent while we were away is lost.
                    let _ = after_gap.send(DeliveryChange::Unknown);
                },
            );
        }
        let local = tx.clone();
        let mut feed = changes.subscribe();
        tokio::spawn(async move {
            loop {
                match feed.recv().await {
                    Ok(Change::Keys(keys)) => {
                        for key in keys.iter().filter(|k| moves_a_delivery(&k.pk)) {
                            let _ = local.send(DeliveryChange::Partition(key.pk.as_str().into()));
                            if let Some(redis) = &redis {
                                let wire = Wire {
                                    replica: replica.clone(),
                                    partition: key.pk.clone(),
                                };
                                let message = serde_json::to_vec(&wire)
                                    .expect("a delivery update serialises");
                                if let Err(e) = redis.publish(&channel, &message).await {
                                    tracing::warn!(error = %e, "a delivery update did not reach the other replicas");
                                }
                            }
                        }
                    }
                    Ok(Change::Unknown) | Err(RecvError::Lagged(_)) => {
                        let _ = local.send(DeliveryChange::Unknown);
                    }
                    Err(RecvError::Closed) => return,
                }
            }
        });
        Self { tx }
    }

    /// Follows the changes from now on; a follower that lags gets `RecvError::Lagged`, which
    /// means the same as [`DeliveryChange::Unknown`].
    pub fn subscribe(&self) -> broadcast::Receiver<DeliveryChange> {
        self.tx.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Key;

    #[tokio::test]
    async fn writes_of_orders_and_positions_reach_followers_and_others_do_not() {
        let changes = Changes::new();
        let updates = DeliveryUpdates::open(&changes, None, "t:");
        let mut follower = updates.subscribe();
        changes.publish(vec![Key::new("PRODUCT#1", "PRODUCT")]);
        changes.publish(vec![Key::new("DELIVERY#o1", "POSITION")]);
        assert_eq!(
            follower.recv().await.expect("update"),
            DeliveryChange::Partition("DELIVERY#o1".into())
        );
        changes.unknown();
        assert_eq!(
            follower.recv().await.expect("update"),
            DeliveryChange::Unknown
        );
    }
}
