//! What one request read, for the response cache: a tag for every item key and every index
//! partition its reads touched, and whether it read anything the cache cannot follow (a
//! backend other than the store, a customer's item, a partition no domain names).
//!
//! The set lives in a task-local for the duration of the request's execution, so every store
//! read the request makes on its own task is seen, whichever service makes it; the request
//! loader records the keys asked of it too, since its batches may run on other tasks.

use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, Mutex};

use crate::store::{Index, Key, Query};

tokio::task_local! {
    static READS: Arc<ReadSet>;
}

/// Which reads a response may be cached after, and which writes change a cached response:
/// the domains' knowledge of their keys and partitions.
#[derive(Clone, Copy)]
pub struct TagScheme {
    /// Whether an item may be shared between requests (public data).
    pub cacheable: fn(&Key) -> bool,
    /// Whether a secondary-index partition is one whose writes `listed_in` names (so a cached
    /// read of it can be invalidated).
    pub tracked_partition: fn(&str) -> bool,
    /// The secondary-index partitions an item with this key appears in.
    pub listed_in: fn(&Key) -> Vec<String>,
}

impl TagScheme {
    /// The tags a write of `key` changes: the item itself, its primary partition, and every
    /// secondary-index partition it is listed in.
    pub fn written(&self, key: &Key) -> impl Iterator<Item = u64> {
        [tag_of_key(key), tag_of_partition(&key.pk)]
            .into_iter()
            .chain(
                (self.listed_in)(key)
                    .into_iter()
                    .map(|p| tag_of_partition(&p)),
            )
    }
}

/// The tag of one item.
pub fn tag_of_key(key: &Key) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(b"i\x1f");
    h.update(key.pk.as_bytes());
    h.update(b"\x1f");
    h.update(key.sk.as_bytes());
    h.digest()
}

/// The tag of one partition (of any index: a partition name names one listing).
pub fn tag_of_partition(partition: &str) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(b"p\x1f");
    h.update(partition.as_bytes());
    h.digest()
}

#[derive(Default)]
struct Recorded {
    tags: HashSet<u64>,
    untracked: Option<&'static str>,
}

/// The reads of one request.
pub struct ReadSet {
    scheme: TagScheme,
    recorded: Mutex<Recorded>,
}

impl ReadSet {
    /// An empty set, judged by `scheme`.
    pub fn new(scheme: TagScheme) -> Arc<Self> {
        Arc::new(Self {
            scheme,
            recorded: Mutex::new(Recorded::default()),
        })
    }

    /// Runs `work` with this set recording its reads.
    pub async fn scope<F: Future>(self: &Arc<Self>, work: F) -> F::Output {
        READS.scope(Arc::clone(self), work).await
    }

    /// The tags of everything read.
    pub fn tags(&self) -> Vec<u64> {
        crate::sync::lock(&self.recorded)
            .tags
            .iter()
            .copied()
            .collect()
    }

    /// Why the response cannot be cached, when something read cannot be followed.
    pub fn untracked(&self) -> Option<&'static str> {
        crate::sync::lock(&self.recorded).untracked
    }

    fn keys<'a>(&self, keys: impl IntoIterator<Item = &'a Key>) {
        let mut recorded = crate::sync::lock(&self.recorded);
        for key in keys {
            if !(self.scheme.cacheable)(key) {
                recorded.untracked.get_or_insert("private item");
            }
            recorded.tags.insert(tag_of_key(key));
        }
    }

    fn query(&self, query: &Query) {
        let tracked =
            query.index == Index::Primary || (self.scheme.tracked_partition)(&query.partition);
        let mut recorded = crate::sync::lock(&self.recorded);
        if !tracked {
            recorded.untracked.get_or_insert("untracked listing");
        }
        recorded.tags.insert(tag_of_partition(&query.partition));
    }

    fn mark(&self, why: &'static str) {
        crate::sync::lock(&self.recorded)
            .untracked
            .get_or_insert(why);
    }
}

/// Records keys read by the current request, if one is recording.
pub fn record_keys<'a>(keys: impl IntoIterator<Item = &'a Key>) {
    let _ = READS.try_with(|reads| reads.keys(keys));
}

/// Records a query of the current request, if one is recording.
pub fn record_query(query: &Query) {
    let _ = READS.try_with(|reads| reads.query(query));
}

/// Tells the current request's recorder that it read a backend the response cache cannot
/// follow (a search index, a recommender, a customer's data).
pub fn record_untracked(why: &'static str) {
    let _ = READS.try_with(|reads| reads.mark(why));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scheme() -> TagScheme {
        TagScheme {
            cacheable: |k| k.pk.starts_with("P#"),
            tracked_partition: |p| p.starts_with("LIST#"),
            listed_in: |k| vec![format!("LIST#{}", k.sk)],
        }
    }

    #[tokio::test]
    async fn reads_inside_the_scope_are_tagged_and_outside_it_are_not() {
        let reads = ReadSet::new(scheme());
        record_keys([&Key::new("P#outside", "x")]);
        reads
            .scope(async {
                record_keys([&Key::new("P#1", "A")]);
                record_query(&Query::partition(Index::ListByTitle, "LIST#A", 10));
            })
            .await;
        let mut tags = reads.tags();
        tags.sort_unstable();
        let mut expected = vec![
            tag_of_key(&Key::new("P#1", "A")),
            tag_of_partition("LIST#A"),
        ];
        expected.sort_unstable();
        assert_eq!(tags, expected);
        assert_eq!(reads.untracked(), None);
        let written: Vec<u64> = scheme().written(&Key::new("P#1", "A")).collect();
        assert!(expected.iter().all(|t| written.contains(t)));
    }

    #[tokio::test]
    async fn a_private_item_an_unnamed_partition_or_another_backend_make_it_untracked() {
        for read in [
            (|| record_keys([&Key::new("CART#1", "CART")])) as fn(),
            || record_query(&Query::partition(Index::Gsi1, "LOCATIONS", 10)),
            || record_untracked("search"),
        ] {
            let reads = ReadSet::new(scheme());
            reads.scope(async { read() }).await;
            assert!(reads.untracked().is_some());
        }
    }
}
