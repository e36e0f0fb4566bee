//! The embedded event log: every published event, appended in the order the relay delivers
//! it and kept for `retention_days`, and named consumers that read it at least once, each
//! from its own stored offset, one replica at a time (a lease on the offset).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use serde_json::Value;

use super::envelope::Event;
use crate::Metrics;
use crate::codec::{from_item, to_item};
use crate::outbox::{OutboxMessage, OutboxSink, SinkError};
use crate::store::{
    Condition, Index, Key, Query, StartKey, StoreError, TTL_ATTRIBUTE, Table, Update, expiry_after,
};

/// The log's partition.
const LOG: &str = "EVENTLOG";
/// The partition of the consumers' offsets.
const OFFSETS: &str = "EVENTLOG#CONSUMER";
/// How long a consumer on one replica owns its offset after a pass; another replica takes
/// over once it runs out (the owner stopped).
const LEASE: Duration = Duration::from_secs(30);

/// The time of an append in microseconds, strictly increasing within the process, so that
/// its appends keep their order even within one clock tick (across replicas the settle time
/// covers it).
fn next_micros() -> i64 {
    static LAST: AtomicI64 = AtomicI64::new(0);
    let now = Utc::now().timestamp_micros().max(0);
    let mut last = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(last + 1);
        match LAST.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => last = seen,
        }
    }
}

/// One event of the log, with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Logged {
    /// Its place in the log (`<epoch microseconds, 16 digits>#<event id>`).
    pub position: String,
    /// The event.
    pub event: Event,
}

/// A consumer's series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConsumerLabels {
    /// The consumer's name.
    pub consumer: String,
    /// `handled` or `failed` (for the events counter).
    pub result: &'static str,
}

/// A consumer, for its lag.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConsumerName {
    /// The consumer's name.
    pub consumer: String,
}

/// The consumers' metrics.
#[derive(Debug, Clone, Default)]
pub struct ConsumerMetrics {
    /// Events offered to a consumer, by result.
    pub events: Family<ConsumerLabels, Counter>,
    /// How old (seconds) the oldest settled event a consumer has not handled was at its last
    /// pass: 0 when it is up to date.
    pub lag_seconds: Family<ConsumerName, Gauge>,
}

impl ConsumerMetrics {
    /// The metrics, registered in `metrics`.
    pub fn registered(metrics: &Metrics) -> Self {
        let own = Self::default();
        metrics.register(
            "event_consumer_events",
            "Events offered to the event log's consumers, by result",
            own.events.clone(),
        );
        metrics.register(
            "event_consumer_lag_seconds",
            "Age of the oldest event a consumer of the event log has not handled",
            own.lag_seconds.clone(),
        );
        own
    }
}

/// The event log in the table.
#[derive(Clone)]
pub struct EventLog {
    table: Arc<dyn Table>,
    retention: Duration,
    settle: Duration,
    metrics: ConsumerMetrics,
}

impl EventLog {
    /// The log in `table`, keeping events for `retention`; consumers read an event once it
    /// is `settle` old, so that an append of another replica with a clock that far behind,
    /// or a write that took that long, still lands ahead of every offset.
    pub fn new(table: Arc<dyn Table>, retention: Duration, settle: Duration) -> Self {
        Self {
            table,
            retention,
            settle,
            metrics: ConsumerMetrics::default(),
        }
    }

    /// The same log, counting its consumers' work in `metrics`.
    pub fn with_metrics(self, metrics: ConsumerMetrics) -> Self {
        Self { metrics, ..self }
    }

    /// Appends an event at the current time.
    pub async fn append(&self, event: &Event) -> Result<String, StoreError> {
        let position = format!("{:016}#{}", next_micros(), event.id);
        let item = to_item(
            &Key::new(LOG, position.clone()),
            event,
            &[(TTL_ATTRIBUTE, expiry_after(self.retention))],
        )?;
        self.table.put(item, None).await?;
        Ok(position)
    }

    /// Up to `limit` events after `after` (from the start when none), oldest first.
    pub async fn read(&self, after: Option<&str>, limit: usize) -> Result<Vec<Logged>, StoreError> {
        let mut query = Query::partition(Index::Primary, LOG, limit);
        if let Some(after) = after {
            let mut start = StartKey::new();
            start.insert("pk".into(), LOG.into());
            start.insert("sk".into(), after.to_owned());
            query.start = Some(start);
        }
        let page = self.table.query(&query).await?;
        page.items
            .iter()
            .filter(|item| !crate::store::has_expired(item))
            .map(|item| {
                Ok(Logged {
                    position: item
                        .get("sk")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    event: from_item(item)?,
                })
            })
            .collect()
    }

    /// The consumer named `name` (its offset is shared by every replica).
    pub fn consumer(&self, name: &str) -> Consumer {
        Consumer {
            log: self.clone(),
            name: name.to_owned(),
            owner: uuid::Uuid::new_v4().simple().to_string(),
        }
    }
}

/// The relay's sink into the log.
#[async_trait]
impl OutboxSink for EventLog {
    fn name(&self) -> &'static str {
        "eventlog"
    }

    async fn deliver(&self, message: &OutboxMessage) -> Result<(), SinkError> {
        let event = Event::of(message).map_err(|e| SinkError(e.to_string()))?;
        self.append(&event)
            .await
            .map(drop)
            .map_err(|e| SinkError(e.to_string()))
    }
}

/// A named reader of the log: at least once, in log order, from its stored offset.
pub struct Consumer {
    log: EventLog,
    name: String,
    owner: String,
}

/// What one consumer pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pass {
    /// Events handled (the offset moved past them).
    pub handled: usize,
    /// Whether another replica holds the offset (this pass did nothing).
    pub busy: bool,
}

impl Consumer {
    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn key(&self) -> Key {
        Key::new(OFFSETS, self.name.clone())
    }

    /// Its stored offset, if it ever moved.
    pub async fn offset(&self) -> Result<Option<String>, StoreError> {
        Ok(self
            .log
            .table
            .get(&self.key())
            .await?
            .and_then(|item| item.get("position")?.as_str().map(str::to_owned)))
    }

    /// Handles up to `limit` settled events after the offset, in order; the offset moves past
    /// each event `handle` accepts. An event it refuses stops the pass, to be offered again
    /// by the next one (at least once).
    pub async fn pass<F, Fut>(&self, limit: usize, mut handle: F) -> Result<Pass, StoreError>
    where
        F: FnMut(Event) -> Fut + Send,
        Fut: Future<Output = Result<(), String>> + Send,
    {
        let Some(mut offset) = self.claim().await? else {
            return Ok(Pass {
                handled: 0,
                busy: true,
            });
        };
        let settled_before = Utc::now().timestamp_micros()
            - i64::try_from(self.log.settle.as_micros()).unwrap_or(i64::MAX);
        let mut handled = 0;
        let mut behind_since = None;
        let label = |result| ConsumerLabels {
            consumer: self.name.clone(),
            result,
        };
        for logged in self.log.read(offset.as_deref(), limit).await? {
            let at = logged
                .position
                .split('#')
                .next()
                .and_then(|micros| micros.parse::<i64>().ok())
                .unwrap_or(i64::MAX);
            if at > settled_before {
                break;
            }
            let id = logged.event.id.clone();
            if let Err(why) = handle(logged.event).await {
                tracing::warn!(consumer = %self.name, event = %id, error = %why, "an event consumer failed; offered again on its next pass");
                self.log
                    .metrics
                    .events
                    .get_or_create(&label("failed"))
                    .inc();
                behind_since = Some(at);
                break;
            }
            self.log
                .metrics
                .events
                .get_or_create(&label("handled"))
                .inc();
            offset = Some(logged.position);
            handled += 1;
        }
        if handled == limit && behind_since.is_none() {
            // A full page: there may be more, as old as the last one handled.
            behind_since = offset
                .as_deref()
                .and_then(|p| p.split('#').next()?.parse::<i64>().ok());
        }
        let lag = behind_since.map_or(0, |at| {
            (Utc::now().timestamp_micros() - at).max(0) / 1_000_000
        });
        self.log
            .metrics
            .lag_seconds
            .get_or_create(&ConsumerName {
                consumer: self.name.clone(),
            })
            .set(lag);
        if handled > 0 {
            self.commit(offset.as_deref().unwrap_or_default()).await?;
        }
        Ok(Pass {
            handled,
            busy: false,
        })
    }

    /// Takes (or renews) the lease on the offset; `None` when another replica holds it.
    /// Returns the offset.
    async fn claim(&self) -> Result<Option<Option<String>>, StoreError> {
        let now = Utc::now().timestamp_millis();
        let until = now + i64::try_from(LEASE.as_millis()).unwrap_or(30_000);
        let free = Condition::Or(vec![
            Condition::Not(Box::new(Condition::AtLeast("lease_until".into(), now))),
            Condition::equals("lease_owner", self.owner.clone()),
        ]);
        match self
            .log
            .table
            .update(
                &self.key(),
                &Update::set("lease_until", until).and_set("lease_owner", self.owner.clone()),
                Some(free),
            )
            .await
        {
            Ok(item) => Ok(Some(
                item.get("position")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            )),
            Err(StoreError::ConditionFailed) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Stores the offset, unless the lease was lost meanwhile (the new owner goes on from
    /// the old offset: at least once).
    async fn commit(&self, position: &str) -> Result<(), StoreError> {
        match self
            .log
            .table
            .update(
                &self.key(),
                &Update::set("position", position.to_owned()),
                Some(Condition::equals("lease_owner", self.owner.clone())),
            )
            .await
        {
            Ok(_) | Err(StoreError::ConditionFailed) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Source, kinds};
    use crate::store::RedbTable;
    use serde_json::json;

    fn log(settle: Duration) -> EventLog {
        let table: Arc<dyn Table> = Arc::new(RedbTable::in_memory().expect("memory store"));
        EventLog::new(table, Duration::from_secs(3_600), settle)
    }

    async fn publish(log: &EventLog, n: usize) -> Vec<String> {
        let mut ids = Vec::new();
        for i in 0..n {
            let event = Event::new(
                Source::Customers,
                kinds::CUSTOMER_SIGNED_UP,
                &format!("c{i}"),
                json!({"customerId": format!("c{i}")}),
            );
            log.append(&event).await.expect("append");
            ids.push(event.id);
        }
        ids
    }

    async fn drain(consumer: &Consumer, seen: &Arc<std::sync::Mutex<Vec<String>>>) -> Pass {
        let seen = Arc::clone(seen);
        consumer
            .pass(100, move |event| {
                let seen = Arc::clone(&seen);
                async move {
                    seen.lock().expect("lock").push(event.id);
                    Ok(())
                }
            })
            .await
            .expect("pass")
    }

    #[tokio::test]
    async fn a_consumer_reads_each_event_once_from_its_offset_and_another_from_the_start() {
        let log = log(Duration::ZERO);
        let first = publish(&log, 3).await;
        let alpha = log.consumer("alpha");
        let seen = Arc::default();
        assert_eq!(drain(&alpha, &seen).await.handled, 3);
        assert_eq!(drain(&alpha, &seen).await.handled, 0);
        let more = publish(&log, 2).await;
        assert_eq!(drain(&alpha, &seen).await.handled, 2);
        let all: Vec<String> = first.iter().chain(&more).cloned().collect();
        assert_eq!(*seen.lock().expect("lock"), all);
        let beta_seen = Arc::default();
        assert_eq!(drain(&log.consumer("beta"), &beta_seen).await.handled, 5);
        assert_eq!(*beta_seen.lock().expect("lock"), all);
    }

    #[tokio::test]
    async fn an_event_the_handler_refuses_is_offered_again_and_nothing_after_it_is_skipped() {
        let log = log(Duration::ZERO);
        let ids = publish(&log, 3).await;
        let consumer = log.consumer("flaky");
        let offered = Arc::new(std::sync::Mutex::new(Vec::new()));
        let refuse = ids[1].clone();
        let pass = {
            let offered = Arc::clone(&offered);
            consumer
                .pass(100, move |event| {
                    let (offered, refuse) = (Arc::clone(&offered), refuse.clone());
                    async move {
                        offered.lock().expect("lock").push(event.id.clone());
                        if event.id == refuse {
                            Err("down".to_owned())
                        } else {
                            Ok(())
                        }
                    }
                })
                .await
                .expect("pass")
        };
        assert_eq!(pass.handled, 1);
        assert_eq!(drain(&consumer, &offered).await.handled, 2);
        assert_eq!(
            *offered.lock().expect("lock"),
            vec![
                ids[0].clone(),
                ids[1].clone(),
                ids[1].clone(),
                ids[2].clone()
            ]
        );
    }

    #[tokio::test]
    async fn one_replica_at_a_time_holds_a_consumers_offset() {
        let log = log(Duration::ZERO);
        publish(&log, 2).await;
        let here = log.consumer("shared");
        let there = log.consumer("shared");
        let seen = Arc::default();
        assert_eq!(drain(&here, &seen).await.handled, 2);
        let busy = drain(&there, &seen).await;
        assert!(busy.busy, "the other replica waits for the lease");
        assert_eq!(seen.lock().expect("lock").len(), 2);
        assert_eq!(
            here.offset().await.expect("offset"),
            there.offset().await.expect("offset")
        );
    }

    #[tokio::test]
    async fn events_younger_than_the_settle_time_wait() {
        let log = log(Duration::from_secs(60));
        publish(&log, 2).await;
        let seen = Arc::default();
        let pass = drain(&log.consumer("patient"), &seen).await;
        assert_eq!((pass.handled, pass.busy), (0, false));
        assert!(log.read(None, 10).await.expect("read").len() == 2);
    }
}
