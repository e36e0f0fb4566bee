//! What the feed consumers are doing, for `/metrics`, `/readyz` and the admin routes: records
//! applied and rejected per feed, apply latency, lag per partition (from librdkafka's
//! statistics), whether any broker is reachable, and the pause switch.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, Ordering};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use rdkafka::statistics::Statistics;
use serde_json::{Value, json};
use storefront_loaders::Metrics;

/// Records of one feed by outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FeedOutcome {
    /// The feed (`inventory`).
    pub feed: String,
    /// `applied` or `rejected` (sent to the dead-letter topic).
    pub outcome: &'static str,
}

/// One feed.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FeedLabel {
    /// The feed.
    pub feed: String,
}

/// One partition of a topic.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PartitionLabel {
    /// The topic.
    pub topic: String,
    /// The partition number.
    pub partition: String,
}

const CONNECTING: u8 = 0;
const UP: u8 = 1;
const DOWN: u8 = 2;
/// A broker answered and refused the credentials (SASL or TLS).
const REFUSED: u8 = 3;

/// The consumers' state, shared by the consumer task, the metrics and the HTTP routes.
pub struct FeedStatus {
    paused: tokio::sync::watch::Sender<bool>,
    brokers: AtomicU8,
    assigned: Mutex<BTreeMap<(String, i32), Option<i64>>>,
    records: Family<FeedOutcome, Counter>,
    apply_seconds: Family<FeedLabel, Histogram>,
    lag: Family<PartitionLabel, Gauge>,
    paused_gauge: Gauge,
    brokers_up: Gauge,
}

fn latency() -> Histogram {
    Histogram::new([
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ])
}

impl FeedStatus {
    /// A status whose metrics are registered in `metrics`.
    pub fn registered(metrics: &Metrics) -> Self {
        let status = Self {
            paused: tokio::sync::watch::Sender::new(false),
            brokers: AtomicU8::new(CONNECTING),
            assigned: Mutex::default(),
            records: Family::default(),
            apply_seconds: Family::new_with_constructor(latency),
            lag: Family::default(),
            paused_gauge: Gauge::default(),
            brokers_up: Gauge::default(),
        };
        metrics.register(
            "feed_records",
            "Feed records consumed from Kafka, by feed and outcome",
            status.records.clone(),
        );
        metrics.register(
            "feed_apply_seconds",
            "Time to apply one batch of a feed's records",
            status.apply_seconds.clone(),
        );
        metrics.register(
            "feed_lag",
            "Records not yet consumed, by topic and partition",
            status.lag.clone(),
        );
        metrics.register(
            "feed_paused",
            "1 while the feed consumers are paused",
            status.paused_gauge.clone(),
        );
        metrics.register(
            "feed_brokers_up",
            "Kafka brokers this process is connected to",
            status.brokers_up.clone(),
        );
        status
    }

    /// Counts `count` records of `feed` with `outcome`.
    pub fn count(&self, feed: &str, outcome: &'static str, count: usize) {
        self.records
            .get_or_create(&FeedOutcome {
                feed: feed.to_owned(),
                outcome,
            })
            .inc_by(u64::try_from(count).unwrap_or(u64::MAX));
    }

    /// Records how long a batch of `feed` took.
    pub fn applied_in(&self, feed: &str, took: std::time::Duration) {
        self.apply_seconds
            .get_or_create(&FeedLabel {
                feed: feed.to_owned(),
            })
            .observe(took.as_secs_f64());
    }

    /// Pauses (`true`) or resumes the consumers.
    pub fn set_paused(&self, paused: bool) {
        self.paused.send_replace(paused);
        self.paused_gauge.set(i64::from(paused));
    }

    /// Whether the consumers are paused.
    pub fn paused(&self) -> bool {
        *self.paused.borrow()
    }

    /// Told of every pause and resume.
    pub fn watch_paused(&self) -> tokio::sync::watch::Receiver<bool> {
        self.paused.subscribe()
    }

    /// A client's periodic statistics: the brokers it is connected to.
    pub fn observe_brokers(&self, statistics: &Statistics) {
        // Bootstrap entries stand for the configured addresses, not connections.
        let up = statistics
            .brokers
            .values()
            .filter(|b| b.nodeid >= 0 && b.state == "UP")
            .count();
        self.brokers_up.set(i64::try_from(up).unwrap_or(i64::MAX));
        if up > 0 {
            self.brokers.store(UP, Ordering::Relaxed);
        } else {
            self.brokers_down();
        }
    }

    /// A broker refused the credentials (a SASL or TLS handshake failed).
    pub fn refused(&self) {
        self.brokers.store(REFUSED, Ordering::Relaxed);
        self.brokers_up.set(0);
    }

    /// The consumer's statistics: the partitions assigned to it and their lag.
    pub fn observe_assignment(&self, statistics: &Statistics) {
        let mut assigned = BTreeMap::new();
        for (name, topic) in &statistics.topics {
            for (number, partition) in &topic.partitions {
                // -1 is librdkafka's internal partition; a lag of -1 is not known yet (no
                // record read or committed).
                if *number >= 0 && partition.desired {
                    let lag = (partition.consumer_lag >= 0).then_some(partition.consumer_lag);
                    assigned.insert((name.clone(), *number), lag);
                }
            }
        }
        self.lag.clear();
        for ((topic, partition), lag) in &assigned {
            if let Some(lag) = lag {
                self.lag
                    .get_or_create(&PartitionLabel {
                        topic: topic.clone(),
                        partition: partition.to_string(),
                    })
                    .set(*lag);
            }
        }
        *self.assigned.lock().unwrap_or_else(|e| e.into_inner()) = assigned;
    }

    /// No broker can be reached (librdkafka's "all brokers down"). A refusal says more than
    /// that, and stays until a broker is up again.
    pub fn brokers_down(&self) {
        let _ = self
            .brokers
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |state| {
                (state != REFUSED).then_some(DOWN)
            });
        self.brokers_up.set(0);
    }

    /// The readiness check: `ok`, or why not.
    pub fn readiness(&self) -> String {
        match self.brokers.load(Ordering::Relaxed) {
            UP => "ok".into(),
            DOWN => "no Kafka broker can be reached".into(),
            REFUSED => "the Kafka brokers refused the credentials (TLS or SASL)".into(),
            _ => "connecting to the Kafka brokers".into(),
        }
    }

    /// The state as JSON, for the admin route.
    pub fn report(&self) -> Value {
        let assigned = self.assigned.lock().unwrap_or_else(|e| e.into_inner());
        // Per assigned partition: its lag, `null` until known.
        let mut topics: BTreeMap<&str, BTreeMap<String, Option<i64>>> = BTreeMap::new();
        for ((topic, partition), lag) in assigned.iter() {
            topics
                .entry(topic.as_str())
                .or_default()
                .insert(partition.to_string(), *lag);
        }
        json!({
            "paused": self.paused(),
            "brokers": self.readiness(),
            "lag": topics,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_credentials_are_named_until_a_broker_is_up_again() {
        let status = FeedStatus::registered(&Metrics::new());
        assert_eq!(status.readiness(), "connecting to the Kafka brokers");
        status.refused();
        // librdkafka also says "all brokers down" after a refusal: the refusal says more.
        status.brokers_down();
        assert_eq!(
            status.readiness(),
            "the Kafka brokers refused the credentials (TLS or SASL)"
        );
        status.brokers.store(UP, Ordering::Relaxed);
        status.brokers_down();
        assert_eq!(status.readiness(), "no Kafka broker can be reached");
    }
}
