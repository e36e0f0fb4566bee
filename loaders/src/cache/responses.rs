//! The response cache: whole answers to public queries, in memory (bounded in bytes) and in
//! Redis for every replica. Each answer carries the tags of everything it read (see
//! [`super::reads`]); a write drops every answer tagged with what it wrote, here and in
//! Redis before the write is acknowledged, and on the other replicas when the cache's
//! invalidation message reaches them.
//!
//! The races, and what closes each:
//! - an answer computed while a write of what it read lands: every invalidation is logged
//!   with a sequence number, and an answer is kept only if no tag it read was invalidated
//!   since its lookup (checked under the lock invalidations take);
//! - the same across replicas in Redis: a fill is a script that stores only if the
//!   invalidation generation is still the one read at lookup;
//! - a replica whose item cache still held the old item when it computed an answer (its copy
//!   of the invalidation message was on its way): when that message arrives, the replica
//!   drops from Redis what it stored there recently under the message's tags.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::reads::{ReadSet, TagScheme};
use super::redis_tier::RedisTier;
use crate::metrics::Metrics;
use crate::store::Key;

/// Invalidations remembered for fills in progress; a fill older than the oldest is dropped.
const LOG_CAPACITY: usize = 65_536;
/// How long a replica remembers what it stored in Redis, to drop it again when an
/// invalidation it had not yet received arrives: far above any pub/sub delivery delay.
const RECENT_FILLS: Duration = Duration::from_secs(30);
/// Bytes counted for an entry beyond its body, header and tags (the maps' own overhead).
const ENTRY_OVERHEAD: usize = 160;

/// How the response cache behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseCacheSettings {
    /// Most bytes of answers kept in memory.
    pub memory_bytes: u64,
    /// The largest answer kept (bigger ones are served, never cached).
    pub max_entry_bytes: usize,
    /// Prefix of every Redis key and channel.
    pub namespace: String,
}

/// A cached answer.
#[derive(Debug)]
pub struct CachedResponse {
    /// The response body, as it was sent.
    pub body: Bytes,
    /// Its `Cache-Control` value.
    pub cache_control: String,
    /// What computing it cost (its complexity): what a rate limit charges for it again.
    pub cost: u64,
    tags: Box<[u64]>,
    expires_at_ms: u64,
}

impl CachedResponse {
    fn weight(&self) -> u32 {
        let bytes =
            self.body.len() + self.cache_control.len() + self.tags.len() * 8 + ENTRY_OVERHEAD;
        u32::try_from(bytes).unwrap_or(u32::MAX)
    }

    fn time_left(&self) -> Duration {
        Duration::from_millis(self.expires_at_ms.saturating_sub(now_ms()))
    }

    /// The Redis form: a version byte, the expiry, the header, the tags, then the body.
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.body.len() + self.tags.len() * 8 + 64);
        out.push(1u8);
        out.extend_from_slice(&self.expires_at_ms.to_le_bytes());
        out.extend_from_slice(&self.cost.to_le_bytes());
        let header = self.cache_control.as_bytes();
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
        out.extend_from_slice(header);
        out.extend_from_slice(&(self.tags.len() as u32).to_le_bytes());
        for tag in &self.tags {
            out.extend_from_slice(&tag.to_le_bytes());
        }
        out.extend_from_slice(&self.body);
        out
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        let (&version, rest) = bytes.split_first()?;
        if version != 1 {
            return None;
        }
        let (expires, rest) = rest.split_first_chunk::<8>()?;
        let (cost, rest) = rest.split_first_chunk::<8>()?;
        let (len, rest) = rest.split_first_chunk::<4>()?;
        let len = usize::try_from(u32::from_le_bytes(*len)).ok()?;
        let header = std::str::from_utf8(rest.get(..len)?).ok()?.to_owned();
        let rest = &rest[len..];
        let (count, mut rest) = rest.split_first_chunk::<4>()?;
        let count = usize::try_from(u32::from_le_bytes(*count)).ok()?;
        let mut tags = Vec::with_capacity(count.min(rest.len() / 8));
        for _ in 0..count {
            let (tag, more) = rest.split_first_chunk::<8>()?;
            tags.push(u64::from_le_bytes(*tag));
            rest = more;
        }
        Some(Self {
            body: Bytes::copy_from_slice(rest),
            cache_control: header,
            cost: u64::from_le_bytes(*cost),
            tags: tags.into(),
            expires_at_ms: u64::from_le_bytes(*expires),
        })
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// An answer to keep: its body, its `Cache-Control` and its cost.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The response body.
    pub body: Bytes,
    /// Its `Cache-Control` value.
    pub cache_control: String,
    /// Its complexity.
    pub cost: u64,
}

/// The identity of an answer: a SHA-256 of the document, operation and variables (truncated
/// to 128 bits), so that nobody can make two requests share an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ResponseKey(u128);

impl ResponseKey {
    /// The key of these parts, each length-prefixed so that no two lists collide.
    pub fn of(parts: &[&[u8]]) -> Self {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        hasher.update(b"response-v1");
        for part in parts {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part);
        }
        let digest = hasher.finalize();
        let mut first = [0u8; 16];
        first.copy_from_slice(&digest[..16]);
        Self(u128::from_le_bytes(first))
    }
}

/// Where an answer to a lookup that missed may be kept: taken before the request runs.
#[derive(Debug, Clone, Copy)]
pub struct Ticket {
    seq: u64,
    // The Redis invalidation generation at lookup; none when Redis did not answer (then the
    // answer is kept in memory only).
    generation: Option<i64>,
}

/// What a lookup found.
pub enum Lookup {
    /// A cached answer, and the tier that had it (`l1` or `l2`).
    Hit(Arc<CachedResponse>, &'static str),
    /// Nothing: run the request, then [`ResponseCache::fill`] with the ticket.
    Miss(Ticket),
}

#[derive(Default)]
struct Index {
    // The sequence number of the last invalidation, and the invalidations after `floor`.
    seq: u64,
    floor: u64,
    log: VecDeque<(u64, u64)>,
    by_tag: HashMap<u64, HashSet<u128>>,
    // Keys listed in `by_tag` (with repeats), to know when to drop the ones evicted since.
    listed: usize,
}

impl Index {
    /// Whether nothing with one of `tags` was invalidated after `seq`.
    fn clean_since(&self, seq: u64, tags: &HashSet<u64>) -> bool {
        seq >= self.floor
            && self
                .log
                .iter()
                .rev()
                .take_while(|(s, _)| *s > seq)
                .all(|(_, tag)| !tags.contains(tag))
    }

    fn forget_before_now(&mut self) {
        self.seq += 1;
        self.floor = self.seq;
        self.log.clear();
    }
}

struct RecentFill {
    at: Instant,
    key: u128,
    tags: Box<[u64]>,
}

/// The cache of whole answers.
pub struct ResponseCache {
    l1: moka::sync::Cache<u128, Arc<CachedResponse>>,
    index: Mutex<Index>,
    recent: Mutex<VecDeque<RecentFill>>,
    l2: Option<Arc<RedisTier>>,
    settings: ResponseCacheSettings,
    scheme: TagScheme,
    metrics: Arc<Metrics>,
}

struct UntilExpiry;

impl moka::Expiry<u128, Arc<CachedResponse>> for UntilExpiry {
    fn expire_after_create(
        &self,
        _key: &u128,
        value: &Arc<CachedResponse>,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(value.time_left())
    }
}

// Stores an answer only if no invalidation ran since the lookup read the generation; adds it
// to each of its tags' sets, which live as long as their longest-lived answer.
const FILL: &str = r"
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current ~= tonumber(ARGV[1]) then return 0 end
local ttl = tonumber(ARGV[2])
redis.call('SET', KEYS[2], ARGV[3], 'EX', ttl)
for i = 3, #KEYS do
  redis.call('SADD', KEYS[i], KEYS[2])
  if redis.call('TTL', KEYS[i]) < ttl then redis.call('EXPIRE', KEYS[i], ttl) end
end
return 1
";

// Moves the generation on (failing the fills in progress) and drops every answer listed
// under the tags.
const INVALIDATE: &str = r"
redis.call('INCR', KEYS[1])
local dropped = 0
for i = 2, #KEYS do
  for _, entry in ipairs(redis.call('SMEMBERS', KEYS[i])) do
    dropped = dropped + redis.call('DEL', entry)
  end
  redis.call('DEL', KEYS[i])
end
return dropped
";

impl ResponseCache {
    /// A cache judged by `scheme`, shared through `l2` when there is one.
    pub fn new(
        settings: ResponseCacheSettings,
        l2: Option<Arc<RedisTier>>,
        scheme: TagScheme,
        metrics: Arc<Metrics>,
    ) -> Arc<Self> {
        Arc::new(Self {
            l1: moka::sync::Cache::builder()
                .max_capacity(settings.memory_bytes)
                .weigher(|_, entry: &Arc<CachedResponse>| entry.weight())
                .expire_after(UntilExpiry)
                .build(),
            index: Mutex::new(Index::default()),
            recent: Mutex::new(VecDeque::new()),
            l2,
            settings,
            scheme,
            metrics,
        })
    }

    /// A recorder of one request's reads, for [`ResponseCache::fill`].
    pub fn reads(&self) -> Arc<ReadSet> {
        ReadSet::new(self.scheme)
    }

    fn count(&self, outcome: &'static str) {
        self.metrics.response_cache(outcome);
    }

    fn slot(&self) -> String {
        // One hash slot for every key of the response cache, so that its scripts run on a
        // Redis cluster too.
        format!("{{{}responses}}", self.settings.namespace)
    }

    fn entry_key(&self, key: u128) -> String {
        format!("{}:e:{key:032x}", self.slot())
    }

    fn tag_key(&self, tag: u64) -> String {
        format!("{}:t:{tag:016x}", self.slot())
    }

    fn generation_key(&self) -> String {
        format!("{}:gen", self.slot())
    }

    /// Looks an answer up in memory, then in Redis. With `bypass`, looks nowhere (the
    /// answer is computed afresh and then stored).
    pub async fn lookup(&self, key: ResponseKey, bypass: bool) -> Lookup {
        if !bypass && let Some(entry) = self.l1.get(&key.0) {
            self.count("hit_l1");
            return Lookup::Hit(entry, "l1");
        }
        let seq = crate::sync::lock(&self.index).seq;
        let mut generation = None;
        if let Some(redis) = &self.l2 {
            let keys = [self.entry_key(key.0), self.generation_key()];
            if let Ok(mut values) = redis.get_many(&keys).await {
                let current = values
                    .pop()
                    .flatten()
                    .and_then(|g| std::str::from_utf8(&g).ok()?.parse::<i64>().ok());
                generation = Some(current.unwrap_or(0));
                let found = values
                    .pop()
                    .flatten()
                    .filter(|_| !bypass)
                    .and_then(|bytes| CachedResponse::decode(&bytes))
                    .filter(|entry| entry.expires_at_ms > now_ms());
                if let Some(entry) = found {
                    let entry = Arc::new(entry);
                    self.keep_in_memory(key.0, &entry, seq);
                    self.count("hit_l2");
                    return Lookup::Hit(entry, "l2");
                }
            }
        }
        self.count(if bypass { "bypass" } else { "miss" });
        Lookup::Miss(Ticket { seq, generation })
    }

    /// Keeps an entry in memory unless one of its tags was invalidated since `seq`.
    fn keep_in_memory(&self, key: u128, entry: &Arc<CachedResponse>, seq: u64) -> bool {
        let tags: HashSet<u64> = entry.tags.iter().copied().collect();
        let mut index = crate::sync::lock(&self.index);
        if !index.clean_since(seq, &tags) {
            return false;
        }
        // Inserted under the lock that invalidations take, so none can fall between the
        // check and the insert.
        self.l1.insert(key, Arc::clone(entry));
        for tag in tags {
            index.by_tag.entry(tag).or_default().insert(key);
        }
        index.listed += entry.tags.len();
        if index.listed > 4 * (self.l1.entry_count() as usize * 64 + 4096) {
            // Drop what the cache evicted or let expire since it was listed.
            index.by_tag.retain(|_, keys| {
                keys.retain(|k| self.l1.contains_key(k));
                !keys.is_empty()
            });
            index.listed = index.by_tag.values().map(HashSet::len).sum();
        }
        true
    }

    /// Keeps an answer computed after a lookup that missed, for `max_age`, unless something
    /// it read cannot be followed or was written meanwhile. Returns the outcome, as counted.
    pub async fn fill(
        &self,
        ticket: Ticket,
        key: ResponseKey,
        reads: &ReadSet,
        answer: Answer,
        max_age: Duration,
    ) -> &'static str {
        let outcome = self.try_fill(ticket, key, reads, answer, max_age).await;
        self.count(outcome);
        outcome
    }

    async fn try_fill(
        &self,
        ticket: Ticket,
        key: ResponseKey,
        reads: &ReadSet,
        answer: Answer,
        max_age: Duration,
    ) -> &'static str {
        if reads.untracked().is_some() {
            return "uncacheable";
        }
        if answer.body.len() > self.settings.max_entry_bytes {
            return "too_large";
        }
        let ttl_ms = u64::try_from(max_age.as_millis()).unwrap_or(u64::MAX);
        let entry = Arc::new(CachedResponse {
            body: answer.body,
            cache_control: answer.cache_control,
            cost: answer.cost,
            tags: reads.tags().into(),
            expires_at_ms: now_ms().saturating_add(ttl_ms),
        });
        if !self.keep_in_memory(key.0, &entry, ticket.seq) {
            return "stale";
        }
        if let (Some(redis), Some(generation)) = (&self.l2, ticket.generation) {
            let entry_key = self.entry_key(key.0);
            let mut keys = vec![self.generation_key(), entry_key];
            keys.extend(entry.tags.iter().map(|t| self.tag_key(*t)));
            let args = [
                generation.to_string().into_bytes(),
                max_age.as_secs().max(1).to_string().into_bytes(),
                entry.encode(),
            ];
            match redis.eval("response_fill", FILL, &keys, &args).await {
                Ok(1) => {
                    let mut recent = crate::sync::lock(&self.recent);
                    recent.push_back(RecentFill {
                        at: Instant::now(),
                        key: key.0,
                        tags: entry.tags.clone(),
                    });
                    while recent
                        .front()
                        .is_some_and(|f| f.at.elapsed() > RECENT_FILLS)
                    {
                        recent.pop_front();
                    }
                }
                Ok(_) => return "stale",
                Err(_) => {}
            }
        }
        "stored"
    }

    /// Drops from memory every answer with one of `tags`, and fails the fills in progress
    /// that read one.
    fn invalidate_local(&self, tags: &HashSet<u64>) {
        let mut index = crate::sync::lock(&self.index);
        for &tag in tags {
            index.seq += 1;
            let seq = index.seq;
            index.log.push_back((seq, tag));
            if let Some(keys) = index.by_tag.remove(&tag) {
                index.listed = index.listed.saturating_sub(keys.len());
                for key in keys {
                    self.l1.invalidate(&key);
                }
            }
        }
        while index.log.len() > LOG_CAPACITY {
            if let Some((seq, _)) = index.log.pop_front() {
                index.floor = seq;
            }
        }
    }

    fn tags_written(&self, keys: &[Key]) -> HashSet<u64> {
        keys.iter().flat_map(|k| self.scheme.written(k)).collect()
    }

    /// After this replica wrote `keys`: drops the answers that read them, here and in Redis.
    pub async fn written(&self, keys: &[Key]) {
        let tags = self.tags_written(keys);
        if tags.is_empty() {
            return;
        }
        self.invalidate_local(&tags);
        if let Some(redis) = &self.l2 {
            let mut redis_keys = vec![self.generation_key()];
            redis_keys.extend(tags.iter().map(|t| self.tag_key(*t)));
            if let Err(e) = redis
                .eval("response_invalidate", INVALIDATE, &redis_keys, &[])
                .await
            {
                tracing::warn!(error = %e, "cached answers not dropped from Redis; they live until their max-age");
            }
        }
    }

    /// When another replica wrote `keys`: drops the answers that read them from memory, and
    /// from Redis what this replica stored there lately under them.
    pub fn written_elsewhere(self: &Arc<Self>, keys: &[Key]) {
        let tags = self.tags_written(keys);
        self.invalidate_local(&tags);
        let stale: Vec<String> = {
            let mut recent = crate::sync::lock(&self.recent);
            while recent
                .front()
                .is_some_and(|f| f.at.elapsed() > RECENT_FILLS)
            {
                recent.pop_front();
            }
            recent
                .iter()
                .filter(|f| f.tags.iter().any(|t| tags.contains(t)))
                .map(|f| self.entry_key(f.key))
                .collect()
        };
        if let (false, Some(redis)) = (stale.is_empty(), &self.l2) {
            let redis = Arc::clone(redis);
            tokio::spawn(async move {
                let _ = redis.delete(&stale).await;
            });
        }
    }

    /// Forgets every answer in memory (invalidations may have been missed).
    pub fn clear_memory(&self) {
        let mut index = crate::sync::lock(&self.index);
        index.forget_before_now();
        index.by_tag.clear();
        index.listed = 0;
        self.l1.invalidate_all();
    }

    /// Bytes of answers held in memory (approximately: moka counts lazily).
    pub fn memory_bytes(&self) -> u64 {
        self.l1.run_pending_tasks();
        self.l1.weighted_size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::reads::{record_keys, record_query, tag_of_partition};
    use crate::store::{Index as StoreIndex, Query};

    fn scheme() -> TagScheme {
        TagScheme {
            cacheable: |k| k.pk.starts_with("P#"),
            tracked_partition: |p| p.starts_with("LIST#"),
            listed_in: |k| {
                k.sk.strip_prefix("IN#")
                    .map(|l| vec![format!("LIST#{l}")])
                    .unwrap_or_default()
            },
        }
    }

    fn cache(memory_bytes: u64) -> Arc<ResponseCache> {
        ResponseCache::new(
            ResponseCacheSettings {
                memory_bytes,
                max_entry_bytes: 10_000,
                namespace: "t:".into(),
            },
            None,
            scheme(),
            Arc::new(Metrics::new()),
        )
    }

    fn answer_of(body: &str) -> Answer {
        Answer {
            body: Bytes::from(body.to_owned()),
            cache_control: "public, max-age=60".into(),
            cost: 3,
        }
    }

    async fn miss(cache: &ResponseCache, key: ResponseKey) -> Ticket {
        match cache.lookup(key, false).await {
            Lookup::Miss(ticket) => ticket,
            Lookup::Hit(..) => panic!("expected a miss"),
        }
    }

    async fn answer(
        cache: &ResponseCache,
        key: ResponseKey,
        reads: &[Key],
        body: &str,
    ) -> &'static str {
        let ticket = miss(cache, key).await;
        let set = cache.reads();
        set.scope(async { record_keys(reads) }).await;
        cache
            .fill(ticket, key, &set, answer_of(body), Duration::from_secs(60))
            .await
    }

    #[tokio::test]
    async fn an_answer_is_served_until_something_it_read_is_written() {
        let cache = cache(1 << 20);
        let key = ResponseKey::of(&[b"{ a }"]);
        let other = ResponseKey::of(&[b"{ b }"]);
        assert_eq!(
            answer(&cache, key, &[Key::new("P#1", "P")], "one").await,
            "stored"
        );
        assert_eq!(
            answer(&cache, other, &[Key::new("P#2", "P")], "two").await,
            "stored"
        );
        let Lookup::Hit(hit, "l1") = cache.lookup(key, false).await else {
            panic!("a hit")
        };
        assert_eq!(&hit.body[..], b"one");
        cache.written(&[Key::new("P#1", "P")]).await;
        assert!(matches!(cache.lookup(key, false).await, Lookup::Miss(_)));
        assert!(
            matches!(cache.lookup(other, false).await, Lookup::Hit(..)),
            "an unrelated answer stays"
        );
    }

    #[tokio::test]
    async fn an_answer_computed_across_a_write_of_what_it_read_is_not_kept() {
        let cache = cache(1 << 20);
        let key = ResponseKey::of(&[b"{ a }"]);
        let ticket = miss(&cache, key).await;
        let reads = cache.reads();
        reads
            .scope(async { record_keys(&[Key::new("P#1", "P")]) })
            .await;
        cache.written(&[Key::new("P#1", "P")]).await;
        let outcome = cache
            .fill(
                ticket,
                key,
                &reads,
                answer_of("old"),
                Duration::from_secs(60),
            )
            .await;
        assert_eq!(outcome, "stale");
        assert!(matches!(cache.lookup(key, false).await, Lookup::Miss(_)));
    }

    #[tokio::test]
    async fn a_new_item_in_a_listing_drops_the_answers_that_read_the_listing() {
        let cache = cache(1 << 20);
        let key = ResponseKey::of(&[b"{ list }"]);
        let ticket = miss(&cache, key).await;
        let reads = cache.reads();
        reads
            .scope(async {
                record_query(&Query::partition(StoreIndex::ListByTitle, "LIST#shoes", 10))
            })
            .await;
        assert_eq!(reads.tags(), vec![tag_of_partition("LIST#shoes")]);
        cache
            .fill(
                ticket,
                key,
                &reads,
                answer_of("[]"),
                Duration::from_secs(60),
            )
            .await;
        cache.written(&[Key::new("P#9", "IN#hats")]).await;
        assert!(matches!(cache.lookup(key, false).await, Lookup::Hit(..)));
        cache.written(&[Key::new("P#9", "IN#shoes")]).await;
        assert!(matches!(cache.lookup(key, false).await, Lookup::Miss(_)));
    }

    #[tokio::test]
    async fn untracked_reads_and_oversized_answers_are_never_kept() {
        let cache = cache(1 << 20);
        let key = ResponseKey::of(&[b"{ cart }"]);
        assert_eq!(
            answer(&cache, key, &[Key::new("CART#1", "CART")], "x").await,
            "uncacheable"
        );
        let big = "x".repeat(10_001);
        assert_eq!(
            answer(&cache, key, &[Key::new("P#1", "P")], &big).await,
            "too_large"
        );
        assert!(matches!(cache.lookup(key, false).await, Lookup::Miss(_)));
    }

    #[tokio::test]
    async fn memory_is_bounded_in_bytes() {
        let cache = cache(64 * 1024);
        let body = "y".repeat(4_000);
        for i in 0..100u32 {
            let key = ResponseKey::of(&[&i.to_le_bytes()]);
            answer(&cache, key, &[Key::new("P#1", "P")], &body).await;
        }
        assert!(
            cache.memory_bytes() <= 64 * 1024,
            "{} bytes",
            cache.memory_bytes()
        );
    }

    #[test]
    fn the_redis_form_reads_back_and_rejects_garbage() {
        let entry = CachedResponse {
            body: Bytes::from_static(b"{\"data\":{}}"),
            cache_control: "public, max-age=30".into(),
            cost: 7,
            tags: vec![1, 2, u64::MAX].into(),
            expires_at_ms: 42,
        };
        let back = CachedResponse::decode(&entry.encode()).expect("decodes");
        assert_eq!(
            (back.body, back.cache_control, back.cost, back.tags),
            (
                entry.body.clone(),
                entry.cache_control.clone(),
                7,
                entry.tags.clone()
            )
        );
        assert_eq!(back.expires_at_ms, 42);
        assert!(CachedResponse::decode(b"").is_none());
        assert!(CachedResponse::decode(&[1, 0, 0]).is_none());
        let mut truncated = entry.encode();
        truncated.truncate(20);
        assert!(CachedResponse::decode(&truncated).is_none());
    }

    #[test]
    fn keys_differ_for_different_parts_even_when_the_bytes_run_together() {
        assert_ne!(
            ResponseKey::of(&[b"ab", b"c"]),
            ResponseKey::of(&[b"a", b"bc"])
        );
        assert_eq!(
            ResponseKey::of(&[b"ab", b"c"]),
            ResponseKey::of(&[b"ab", b"c"])
        );
    }
}
