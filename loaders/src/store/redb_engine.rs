//! The embedded engine of the `Table` interface, on redb: a file under the data dir, or memory.

use std::collections::BTreeSet;
use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};

use super::{
    CancellationReason, Condition, Index, Item, Key, Page, Query, SortKeyCondition, StartKey,
    StoreError, TTL_ATTRIBUTE, Table, Update, WriteOp, start_key_of, validate_item,
    validate_transaction,
};

type PrimaryKey<'a> = (&'a [u8], &'a [u8]);
type IndexKey<'a> = (&'a [u8], &'a [u8], &'a [u8], &'a [u8]);

const ITEMS: TableDefinition<PrimaryKey<'static>, &[u8]> = TableDefinition::new("items");
const GSI1: TableDefinition<IndexKey<'static>, ()> = TableDefinition::new("gsi1");
const LIST_BY_TITLE: TableDefinition<IndexKey<'static>, ()> = TableDefinition::new("list_by_title");
const LIST_BY_PRICE: TableDefinition<IndexKey<'static>, ()> = TableDefinition::new("list_by_price");
const LIST_BY_CREATED: TableDefinition<IndexKey<'static>, ()> =
    TableDefinition::new("list_by_created");
const LIST_BY_SALES: TableDefinition<IndexKey<'static>, ()> = TableDefinition::new("list_by_sales");

fn index_table(
    index: Index,
) -> Result<TableDefinition<'static, IndexKey<'static>, ()>, StoreError> {
    Ok(match index {
        Index::Primary => {
            return Err(StoreError::Validation(
                "the primary key has no index table".into(),
            ));
        }
        Index::Gsi1 => GSI1,
        Index::ListByTitle => LIST_BY_TITLE,
        Index::ListByPrice => LIST_BY_PRICE,
        Index::ListByCreated => LIST_BY_CREATED,
        Index::ListBySales => LIST_BY_SALES,
    })
}

/// The embedded store engine.
#[derive(Clone)]
pub struct RedbTable {
    db: Arc<Database>,
}

impl std::fmt::Debug for RedbTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbTable").finish_non_exhaustive()
    }
}

/// redb's own page cache. Its default (1 GiB) would hold a copy of a large store beside the
/// kernel's page cache of the same file; reads that miss it still come from that page cache.
const CACHE_BYTES: usize = 64 * 1024 * 1024;

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl RedbTable {
    /// Opens (or creates) the store file at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Backend(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(path)
            .map_err(|e| StoreError::Backend(format!("cannot open {}: {e}", path.display())))?;
        Self::init(db)
    }

    /// A store that lives in memory only (tests, throwaway demos).
    pub fn in_memory() -> Result<Self, StoreError> {
        let db = Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .map_err(backend)?;
        Self::init(db)
    }

    fn init(db: Database) -> Result<Self, StoreError> {
        // Create every table up front so that read transactions never meet a missing one.
        let txn = db.begin_write().map_err(backend)?;
        txn.open_table(ITEMS).map_err(backend)?;
        for index in Index::SECONDARY {
            txn.open_table(index_table(index)?).map_err(backend)?;
        }
        txn.commit().map_err(backend)?;
        Ok(Self { db: Arc::new(db) })
    }

    async fn blocking<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Database) -> Result<T, StoreError> + Send + 'static,
    {
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || f(&db))
            .await
            .map_err(|e| StoreError::Backend(format!("store task failed: {e}")))?
    }
}

fn decode(bytes: &[u8]) -> Result<Item, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn encode(item: &Item) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(item).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// The item stored under `key` in a write transaction.
fn current(txn: &WriteTransaction, key: &Key) -> Result<Option<Item>, StoreError> {
    let table = txn.open_table(ITEMS).map_err(backend)?;
    let found = table
        .get((key.pk.as_bytes(), key.sk.as_bytes()))
        .map_err(backend)?;
    found.map(|v| decode(v.value())).transpose()
}

/// Replaces `old` by `new` under `key`, keeping every secondary index in step.
fn write(
    txn: &WriteTransaction,
    key: &Key,
    old: Option<&Item>,
    new: Option<&Item>,
) -> Result<(), StoreError> {
    let pk = key.pk.as_bytes();
    let sk = key.sk.as_bytes();
    for index in Index::SECONDARY {
        let before = old.and_then(|i| index.key_of(i));
        let after = new.and_then(|i| index.key_of(i));
        if before == after {
            continue;
        }
        let mut table = txn.open_table(index_table(index)?).map_err(backend)?;
        if let Some((ip, is)) = &before {
            table
                .remove((ip.as_bytes(), is.as_bytes(), pk, sk))
                .map_err(backend)?;
        }
        if let Some((ip, is)) = &after {
            table
                .insert((ip.as_bytes(), is.as_bytes(), pk, sk), ())
                .map_err(backend)?;
        }
    }
    let mut items = txn.open_table(ITEMS).map_err(backend)?;
    match new {
        Some(item) => {
            let bytes = encode(item)?;
            items.insert((pk, sk), bytes.as_slice()).map_err(backend)?;
        }
        None => {
            items.remove((pk, sk)).map_err(backend)?;
        }
    }
    Ok(())
}

/// The result of applying one write to the item it finds: `None` means delete.
fn next_state(op: &WriteOp, old: Option<&Item>) -> Result<Option<Item>, StoreError> {
    match op {
        WriteOp::Put { item, .. } => Ok(Some(item.clone())),
        WriteOp::Update { key, update, .. } => Ok(Some(updated(key, update, old)?)),
        WriteOp::Delete { .. } => Ok(None),
        WriteOp::ConditionCheck { .. } => Ok(old.cloned()),
    }
}

fn updated(key: &Key, update: &Update, old: Option<&Item>) -> Result<Item, StoreError> {
    let mut item = old.cloned().unwrap_or_else(|| key.to_item());
    update.apply(&mut item)?;
    validate_item(&item)?;
    Ok(item)
}

fn condition_of(op: &WriteOp) -> Option<&Condition> {
    match op {
        WriteOp::Put { condition, .. }
        | WriteOp::Update { condition, .. }
        | WriteOp::Delete { condition, .. } => condition.as_ref(),
        WriteOp::ConditionCheck { condition, .. } => Some(condition),
    }
}

/// The smallest byte string greater than every string beginning with `prefix`, if any.
fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

fn start_part<'a>(start: &'a StartKey, name: &str) -> Result<&'a [u8], StoreError> {
    start
        .get(name)
        .map(|s| s.as_bytes())
        .ok_or_else(|| StoreError::Validation(format!("the start key lacks `{name}`")))
}

fn query_sync(db: &Database, q: &Query) -> Result<Page, StoreError> {
    if q.limit == 0 {
        return Err(StoreError::Validation(
            "a query limit must be at least 1".into(),
        ));
    }
    let txn = db.begin_read().map_err(backend)?;
    let partition = q.partition.as_bytes();
    let prefix: &[u8] = match &q.sort {
        SortKeyCondition::All => b"",
        SortKeyCondition::BeginsWith(p) => p.as_bytes(),
    };
    // Every key of partition `p` lies below `p\0`, the least string greater than `p`.
    let next_partition = [partition, b"\0"].concat();
    let prefix_end = prefix_successor(prefix);
    let (upper_p, upper_s): (&[u8], &[u8]) = match &prefix_end {
        Some(end) if !prefix.is_empty() => (partition, end.as_slice()),
        _ => (next_partition.as_slice(), b""),
    };
    let (ip, is) = q.index.key_attributes();
    if let Some(start) = &q.start
        && start_part(start, ip)? != partition
    {
        return Err(StoreError::Validation(
            "the start key belongs to another partition".into(),
        ));
    }

    let mut page = Page::default();
    let matches = |item: &Item| q.filter.as_ref().is_none_or(|f| f.holds(Some(item)));
    // Collects matching items from an iterator of stored items, in order, up to the limit.
    let mut collect =
        |iter: &mut dyn Iterator<Item = Result<Item, StoreError>>| -> Result<(), StoreError> {
            while let Some(item) = iter.next() {
                let item = item?;
                if !matches(&item) {
                    continue;
                }
                page.items.push(item);
                if page.items.len() == q.limit {
                    if let Some(more) = iter.next() {
                        more?;
                        let last = page.items.last().expect("limit is at least one");
                        page.next = Some(start_key_of(q.index, last));
                    }
                    break;
                }
            }
            Ok(())
        };

    if q.index == Index::Primary {
        let table = txn.open_table(ITEMS).map_err(backend)?;
        let start_sk = q.start.as_ref().map(|s| start_part(s, is)).transpose()?;
        let mut lower = Bound::Included((partition, prefix));
        let mut upper = Bound::Excluded((upper_p, upper_s));
        if let Some(sk) = start_sk {
            if q.forward {
                lower = Bound::Excluded((partition, sk));
            } else {
                upper = Bound::Excluded((partition, sk));
            }
        }
        let range = table.range((lower, upper)).map_err(backend)?;
        let decoded = range.map(|entry| {
            let (_, v) = entry.map_err(backend)?;
            decode(v.value())
        });
        // Filtering by `matches` happens inside `collect`; a non-matching item never reaches
        // the limit.
        let mut decoded: Box<dyn Iterator<Item = Result<Item, StoreError>>> = if q.forward {
            Box::new(decoded)
        } else {
            Box::new(decoded.rev())
        };
        collect(&mut decoded)?;
    } else {
        let index = txn.open_table(index_table(q.index)?).map_err(backend)?;
        let items = txn.open_table(ITEMS).map_err(backend)?;
        let start = q
            .start
            .as_ref()
            .map(|s| -> Result<_, StoreError> {
                Ok((
                    start_part(s, is)?,
                    start_part(s, super::PK)?,
                    start_part(s, super::SK)?,
                ))
            })
            .transpose()?;
        let mut lower = Bound::Included((partition, prefix, &b""[..], &b""[..]));
        let mut upper = Bound::Excluded((upper_p, upper_s, &b""[..], &b""[..]));
        if let Some((isk, pk, sk)) = start {
            if q.forward {
                lower = Bound::Excluded((partition, isk, pk, sk));
            } else {
                upper = Bound::Excluded((partition, isk, pk, sk));
            }
        }
        let range = index.range((lower, upper)).map_err(backend)?;
        let fetch = |entry: Result<
            (
                redb::AccessGuard<'_, IndexKey<'static>>,
                redb::AccessGuard<'_, ()>,
            ),
            redb::StorageError,
        >| {
            let (k, _) = entry.map_err(backend)?;
            let (_, _, pk, sk) = k.value();
            let found = items.get((pk, sk)).map_err(backend)?.ok_or_else(|| {
                StoreError::Corrupt("an index entry points at a missing item".into())
            })?;
            decode(found.value())
        };
        let mut fetched: Box<dyn Iterator<Item = Result<Item, StoreError>>> = if q.forward {
            Box::new(range.map(fetch))
        } else {
            Box::new(range.rev().map(fetch))
        };
        collect(&mut fetched)?;
    }
    Ok(page)
}

fn transact_sync(db: &Database, ops: &[WriteOp]) -> Result<(), StoreError> {
    validate_transaction(ops)?;
    let txn = db.begin_write().map_err(backend)?;
    let mut olds = Vec::with_capacity(ops.len());
    let mut reasons = Vec::with_capacity(ops.len());
    for op in ops {
        let key = op.key().expect("validated operations have keys");
        let old = current(&txn, &key)?;
        let ok = condition_of(op).is_none_or(|c| c.holds(old.as_ref()));
        reasons.push(if ok {
            CancellationReason::None
        } else {
            CancellationReason::ConditionalCheckFailed
        });
        olds.push((key, old));
    }
    if reasons.iter().any(|r| *r != CancellationReason::None) {
        txn.abort().map_err(backend)?;
        return Err(StoreError::TransactionCanceled { reasons });
    }
    for (op, (key, old)) in ops.iter().zip(&olds) {
        if matches!(op, WriteOp::ConditionCheck { .. }) {
            continue;
        }
        let new = next_state(op, old.as_ref())?;
        write(&txn, key, old.as_ref(), new.as_ref())?;
    }
    txn.commit().map_err(backend)
}

/// Applies one conditional write and returns the item as it is afterwards.
fn single_write(db: &Database, op: &WriteOp) -> Result<Option<Item>, StoreError> {
    let key = match op {
        WriteOp::Put { item, .. } => validate_item(item)?,
        other => other
            .key()
            .ok_or_else(|| StoreError::Validation("operation without a key".into()))?,
    };
    let txn = db.begin_write().map_err(backend)?;
    let old = current(&txn, &key)?;
    if !condition_of(op).is_none_or(|c| c.holds(old.as_ref())) {
        txn.abort().map_err(backend)?;
        return Err(StoreError::ConditionFailed);
    }
    let new = next_state(op, old.as_ref())?;
    write(&txn, &key, old.as_ref(), new.as_ref())?;
    txn.commit().map_err(backend)?;
    Ok(new)
}

#[async_trait]
impl Table for RedbTable {
    async fn batch_get(&self, keys: &[Key]) -> Result<Vec<Item>, StoreError> {
        let unique: BTreeSet<Key> = keys.iter().cloned().collect();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(backend)?;
            let table = txn.open_table(ITEMS).map_err(backend)?;
            let mut found = Vec::with_capacity(unique.len());
            for key in &unique {
                if let Some(bytes) = table
                    .get((key.pk.as_bytes(), key.sk.as_bytes()))
                    .map_err(backend)?
                {
                    found.push(decode(bytes.value())?);
                }
            }
            Ok(found)
        })
        .await
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        let query = query.clone();
        self.blocking(move |db| query_sync(db, &query)).await
    }

    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), StoreError> {
        self.blocking(move |db| single_write(db, &WriteOp::Put { item, condition }).map(|_| ()))
            .await
    }

    async fn update(
        &self,
        key: &Key,
        update: &Update,
        condition: Option<Condition>,
    ) -> Result<Item, StoreError> {
        let op = WriteOp::Update {
            key: key.clone(),
            update: update.clone(),
            condition,
        };
        self.blocking(move |db| {
            single_write(db, &op)?
                .ok_or_else(|| StoreError::Backend("an update left no item".into()))
        })
        .await
    }

    async fn delete(&self, key: &Key, condition: Option<Condition>) -> Result<(), StoreError> {
        let op = WriteOp::Delete {
            key: key.clone(),
            condition,
        };
        self.blocking(move |db| single_write(db, &op).map(|_| ()))
            .await
    }

    async fn transact_write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        self.blocking(move |db| transact_sync(db, &ops)).await
    }

    async fn batch_put(&self, items: Vec<Item>) -> Result<(), StoreError> {
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(backend)?;
            for item in &items {
                let key = validate_item(item)?;
                let old = current(&txn, &key)?;
                write(&txn, &key, old.as_ref(), Some(item))?;
            }
            txn.commit().map_err(backend)
        })
        .await
    }

    async fn sweep_expired(&self) -> Result<usize, StoreError> {
        let now = chrono::Utc::now().timestamp();
        self.blocking(move |db| {
            let expired = |item: &Item| {
                item.get(TTL_ATTRIBUTE)
                    .and_then(serde_json::Value::as_i64)
                    .is_some_and(|at| at <= now)
            };
            let mut keys = Vec::new();
            {
                let txn = db.begin_read().map_err(backend)?;
                let table = txn.open_table(ITEMS).map_err(backend)?;
                let marker = TTL_ATTRIBUTE.as_bytes();
                for entry in table.iter().map_err(backend)? {
                    let (_, value) = entry.map_err(backend)?;
                    let bytes = value.value();
                    // Most items have no time to live: skip them without decoding.
                    if !bytes.windows(marker.len()).any(|w| w == marker) {
                        continue;
                    }
                    let item = decode(bytes)?;
                    if expired(&item) {
                        keys.push(
                            Key::of(&item).ok_or_else(|| {
                                StoreError::Corrupt("an item without a key".into())
                            })?,
                        );
                    }
                }
            }
            let txn = db.begin_write().map_err(backend)?;
            let mut swept = 0;
            for key in &keys {
                // Checked again: the item may have been renewed since it was read.
                if let Some(old) = current(&txn, key)?.filter(|i| expired(i)) {
                    write(&txn, key, Some(&old), None)?;
                    swept += 1;
                }
            }
            txn.commit().map_err(backend)?;
            Ok(swept)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn expired_items_are_swept_and_live_ones_kept() {
        let table = RedbTable::in_memory().expect("store");
        let now = chrono::Utc::now().timestamp();
        let item = |sk: &str, expires: Option<i64>| {
            let mut item = Item::new();
            item.insert("pk".into(), "CART#x".into());
            item.insert("sk".into(), sk.into());
            item.insert("gsi1pk".into(), "G".into());
            item.insert("gsi1sk".into(), sk.into());
            if let Some(at) = expires {
                item.insert(TTL_ATTRIBUTE.into(), at.into());
            }
            item
        };
        for it in [
            item("old", Some(now - 10)),
            item("new", Some(now + 3600)),
            item("none", None),
        ] {
            table.put(it, None).await.expect("put");
        }
        assert_eq!(table.sweep_expired().await.expect("sweep"), 1);
        let left = table
            .query(&Query::partition(Index::Primary, "CART#x", 10))
            .await
            .expect("query");
        let sks: Vec<&str> = left
            .items
            .iter()
            .filter_map(|i| i.get("sk")?.as_str())
            .collect();
        assert_eq!(sks, ["new", "none"]);
        let indexed = table
            .query(&Query::partition(Index::Gsi1, "G", 10))
            .await
            .expect("index");
        assert_eq!(indexed.items.len(), 2, "its index entry went with it");
    }

    #[test]
    fn prefix_successor_skips_saturated_bytes() {
        assert_eq!(prefix_successor(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_successor(&[b'a', 0xFF]), Some(b"b".to_vec()));
        assert_eq!(prefix_successor(&[0xFF]), None);
        assert_eq!(prefix_successor(b""), None);
    }

    #[tokio::test]
    async fn the_embedded_engine_passes_the_conformance_suite_in_memory() {
        let table = RedbTable::in_memory().expect("memory store");
        super::super::conformance::run_all(&table).await;
    }

    #[tokio::test]
    async fn the_embedded_engine_passes_the_conformance_suite_on_disk_and_keeps_data() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("store.redb");
        {
            let table = RedbTable::open(&path).expect("file store");
            super::super::conformance::run_all(&table).await;
            table
                .put(Key::new("keep", "me").to_item(), None)
                .await
                .expect("put");
        }
        let reopened = RedbTable::open(&path).expect("reopen");
        assert!(
            reopened
                .get(&Key::new("keep", "me"))
                .await
                .expect("get")
                .is_some()
        );
    }
}
