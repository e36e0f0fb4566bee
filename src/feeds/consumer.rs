//! The consumer loop: records taken in batches, applied through the same domain code as the
//! CLI's `import` (so caches and search follow), bad records set aside in the dead-letter
//! topic, and offsets stored only once every record before them is applied or set aside.

use std::io::Cursor;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::join_all;
use rdkafka::Message as _;
use rdkafka::consumer::{CommitMode, Consumer as _, StreamConsumer};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::topic_partition_list::TopicPartitionList;
use storefront_loaders::domain::{Domain, Services};
use tokio::sync::watch;

use super::client::{FeedContext, OffThread};
use super::records::{Record, last_offsets};
use super::status::FeedStatus;

/// How long a batch waits for more records once it has one.
const GATHER: Duration = Duration::from_millis(5);
/// How often a paused consumer pauses partitions assigned since.
const PAUSE_TICK: Duration = Duration::from_millis(500);

/// One feed a topic carries, and the domain that applies it.
#[derive(Clone)]
pub struct Route {
    /// The topic.
    pub topic: String,
    /// The feed's name (`inventory`).
    pub feed: String,
    /// The domain whose `import` applies it.
    pub domain: &'static dyn Domain,
}

/// Everything the loop works with.
pub struct Consumer {
    /// The group member.
    pub consumer: OffThread<StreamConsumer<FeedContext>>,
    /// Sends bad records to the dead-letter topic.
    pub producer: OffThread<FutureProducer<FeedContext>>,
    /// Which feed each topic carries.
    pub routes: Vec<Route>,
    /// The domains' services.
    pub services: Services,
    /// Metrics, readiness, the pause switch.
    pub status: Arc<FeedStatus>,
    /// Where bad records go.
    pub dead_letter_topic: String,
    /// The most records in a batch.
    pub batch_size: usize,
    /// The most key groups applied at once.
    pub concurrency: usize,
}

/// What became of a batch.
enum Applied {
    /// Every record is applied or set aside: its offsets may be stored.
    Done,
    /// The consumer is stopping with records still unapplied: nothing is stored, so they are
    /// consumed again (by this group) after the restart.
    Interrupted,
}

impl Consumer {
    /// Consumes until `stop` turns true, then commits what is done and leaves the group.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let topics: Vec<&str> = self.routes.iter().map(|r| r.topic.as_str()).collect();
        if let Err(e) = self.consumer.subscribe(&topics) {
            tracing::error!(error = %e, "cannot subscribe to the feed topics");
            return;
        }
        let mut paused = self.status.watch_paused();
        let mut held: Vec<Record> = Vec::new();
        let mut was_paused = false;
        loop {
            if *stop.borrow() {
                break;
            }
            if *paused.borrow_and_update() {
                was_paused = true;
                self.pause_assignment(true);
                // Keep polling: a member that stops polling leaves the group. What was fetched
                // before the pause is held until the resume.
                tokio::select! {
                    _ = stop.changed() => {}
                    _ = paused.changed() => {}
                    () = tokio::time::sleep(PAUSE_TICK) => {}
                    message = self.consumer.recv() => if !self.hold(message, &mut held) {
                        tokio::time::sleep(PAUSE_TICK).await;
                    },
                }
                continue;
            }
            if was_paused {
                was_paused = false;
                self.pause_assignment(false);
            }
            if held.is_empty() {
                tokio::select! {
                    _ = stop.changed() => continue,
                    _ = paused.changed() => continue,
                    message = self.consumer.recv() => if !self.hold(message, &mut held) {
                        // An error answers at once: do not spin on it.
                        tokio::time::sleep(PAUSE_TICK).await;
                        continue;
                    },
                }
            }
            while held.len() < self.batch_size {
                match tokio::time::timeout(GATHER, self.consumer.recv()).await {
                    Ok(message) => {
                        if !self.hold(message, &mut held) {
                            break;
                        }
                    }
                    Err(_) => break,
                }
            }
            if held.is_empty() {
                continue;
            }
            let batch = std::mem::take(&mut held);
            match self.apply(&batch, &stop).await {
                Applied::Done => self.store(&batch),
                Applied::Interrupted => break,
            }
        }
        match self.consumer.commit_consumer_state(CommitMode::Sync) {
            Ok(()) => tracing::info!("feed offsets committed; leaving the consumer group"),
            Err(e) => tracing::info!(error = %e, "no feed offsets to commit at stop"),
        }
        self.consumer.close().await;
    }

    /// Keeps a received record; `false` for an error instead.
    fn hold(
        &self,
        message: Result<rdkafka::message::BorrowedMessage<'_>, rdkafka::error::KafkaError>,
        held: &mut Vec<Record>,
    ) -> bool {
        match message {
            Ok(message) => {
                held.push(Record {
                    topic: message.topic().to_owned(),
                    partition: message.partition(),
                    offset: message.offset(),
                    key: message.key().map(<[u8]>::to_vec),
                    payload: message.payload().map(<[u8]>::to_vec),
                });
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot consume a feed record");
                false
            }
        }
    }

    fn pause_assignment(&self, pause: bool) {
        let Ok(assignment) = self.consumer.assignment() else {
            return;
        };
        let result = if pause {
            self.consumer.pause(&assignment)
        } else {
            self.consumer.resume(&assignment)
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, pause, "cannot pause or resume the feed partitions");
        }
    }

    fn store(&self, batch: &[Record]) {
        let mut done = TopicPartitionList::new();
        for (topic, partition, offset) in last_offsets(batch) {
            // The position stored is the next record to read.
            if let Err(e) =
                done.add_partition_offset(&topic, partition, rdkafka::Offset::Offset(offset + 1))
            {
                tracing::warn!(error = %e, "cannot note a feed offset");
            }
        }
        // A partition revoked meanwhile is refused here: its new owner applies those records
        // again, which changes nothing.
        if let Err(e) = self.consumer.store_offsets(&done) {
            tracing::info!(error = %e, "feed offsets not stored (partitions revoked?)");
        }
    }

    /// Applies a batch: per feed, in key groups at once; bad records to the dead-letter topic.
    async fn apply(&self, batch: &[Record], stop: &watch::Receiver<bool>) -> Applied {
        for route in &self.routes {
            let records: Vec<&Record> = batch.iter().filter(|r| r.topic == route.topic).collect();
            if records.is_empty() {
                continue;
            }
            let started = Instant::now();
            let mut groups: Vec<Vec<&Record>> = vec![Vec::new(); self.concurrency];
            for record in records {
                groups[record.group(self.concurrency)].push(record);
            }
            let outcomes = join_all(
                groups
                    .into_iter()
                    .filter(|g| !g.is_empty())
                    .map(|group| self.apply_group(route, group, stop)),
            )
            .await;
            let mut interrupted = false;
            let mut bad = Vec::new();
            let mut applied = 0;
            for outcome in outcomes {
                interrupted |= outcome.interrupted;
                applied += outcome.applied;
                bad.extend(outcome.bad);
            }
            self.status.count(&route.feed, "applied", applied);
            self.status.applied_in(&route.feed, started.elapsed());
            // Bad records are set aside even when stopping: they are bad on any attempt.
            for (record, reason) in &bad {
                if !self.dead_letter(route, record, reason, stop).await {
                    return Applied::Interrupted;
                }
            }
            self.status.count(&route.feed, "rejected", bad.len());
            if interrupted {
                return Applied::Interrupted;
            }
        }
        Applied::Done
    }

    /// Applies one key group in order; a record that failed for a reason of the moment is
    /// tried again, with every record after it (so one key's updates stay in order), until it
    /// applies or the consumer stops.
    async fn apply_group<'r>(
        &self,
        route: &Route,
        group: Vec<&'r Record>,
        stop: &watch::Receiver<bool>,
    ) -> GroupOutcome<'r> {
        let mut bad: Vec<(&Record, String)> = Vec::new();
        // The records that are feed lines, and their places in the group.
        let mut lines: Vec<(&Record, String)> = Vec::new();
        for record in group {
            match record.line() {
                Ok(line) => lines.push((record, line)),
                Err(reason) => bad.push((record, reason)),
            }
        }
        // Lines the domain refused (all before `start`, once they are counted).
        let mut refused = 0;
        let mut start = 0;
        let mut attempt = 0u32;
        loop {
            if start >= lines.len() {
                break;
            }
            let text: String = lines[start..]
                .iter()
                .map(|(_, line)| format!("{line}\n"))
                .collect();
            let report = route
                .domain
                .import(&self.services, &route.feed, Box::new(Cursor::new(text)))
                .await;
            let retry_from = match report {
                Err(e) => {
                    tracing::warn!(error = %e, feed = %route.feed, "a feed batch could not be applied");
                    Some(start)
                }
                Ok(report) => {
                    let retry_line = report.retry.iter().min().copied();
                    let first_retry = retry_line.map(|line| start + line - 1);
                    if let Some(line) = retry_line
                        && let Some((_, reason)) = report.failures.iter().find(|(l, _)| *l == line)
                    {
                        tracing::warn!(feed = %route.feed, attempt, reason, "a feed record will be tried again");
                    }
                    for (line, reason) in report.failures {
                        let index = start + line - 1;
                        if first_retry.is_none_or(|first| index < first)
                            && let Some((record, _)) = lines.get(index)
                        {
                            bad.push((record, reason));
                            refused += 1;
                        }
                    }
                    first_retry
                }
            };
            let Some(from) = retry_from else {
                break;
            };
            if *stop.borrow() {
                return GroupOutcome {
                    applied: from - refused,
                    bad,
                    interrupted: true,
                };
            }
            attempt += 1;
            start = from;
            storefront_loaders::store::backoff(attempt).await;
        }
        GroupOutcome {
            applied: lines.len() - refused,
            bad,
            interrupted: false,
        }
    }

    /// Sends a bad record to the dead-letter topic, with the reason and its origin in
    /// headers; tried until the broker takes it (a record is never dropped) or the consumer
    /// stops (`false`).
    async fn dead_letter(
        &self,
        route: &Route,
        record: &Record,
        reason: &str,
        stop: &watch::Receiver<bool>,
    ) -> bool {
        let (partition, offset) = (record.partition.to_string(), record.offset.to_string());
        let mut attempt = 0u32;
        loop {
            let headers = OwnedHeaders::new()
                .insert(Header {
                    key: "reason",
                    value: Some(reason),
                })
                .insert(Header {
                    key: "feed",
                    value: Some(route.feed.as_str()),
                })
                .insert(Header {
                    key: "origin-topic",
                    value: Some(record.topic.as_str()),
                })
                .insert(Header {
                    key: "origin-partition",
                    value: Some(partition.as_str()),
                })
                .insert(Header {
                    key: "origin-offset",
                    value: Some(offset.as_str()),
                });
            let mut message = FutureRecord::<[u8], [u8]>::to(&self.dead_letter_topic)
                .headers(headers)
                .payload(record.payload.as_deref().unwrap_or_default());
            if let Some(key) = &record.key {
                message = message.key(key.as_slice());
            }
            match self.producer.send(message, Duration::from_secs(10)).await {
                Ok(_) => {
                    tracing::warn!(feed = %route.feed, topic = %record.topic, partition = record.partition, offset = record.offset, reason, "feed record set aside in the dead-letter topic");
                    return true;
                }
                Err((e, _)) => {
                    tracing::error!(error = %e, "cannot write to the dead-letter topic");
                    if *stop.borrow() {
                        return false;
                    }
                    attempt += 1;
                    storefront_loaders::store::backoff(attempt).await;
                }
            }
        }
    }
}

/// What became of one key group.
struct GroupOutcome<'r> {
    applied: usize,
    bad: Vec<(&'r Record, String)>,
    interrupted: bool,
}
