//! Feed records as they come off a topic: turned into one line of the feed's JSON Lines
//! format, and split into groups by entity key so that groups apply concurrently while one
//! entity's records stay in order.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

/// One message, owned (the consumer's borrowed message must not outlive its poll).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The topic it came from.
    pub topic: String,
    /// Its partition.
    pub partition: i32,
    /// Its offset in the partition.
    pub offset: i64,
    /// The message key: the entity's id.
    pub key: Option<Vec<u8>>,
    /// The message value: one record of the feed, as JSON.
    pub payload: Option<Vec<u8>>,
}

/// The largest record accepted (a product with all its variants fits many times over).
pub const MAX_RECORD_BYTES: usize = 1 << 20;

impl Record {
    /// The record as one line of its feed (compact JSON, no line breaks), or why it is not one.
    pub fn line(&self) -> Result<String, String> {
        let key = self.key.as_deref().unwrap_or_default();
        if key.is_empty() {
            return Err("the message has no key (the entity's id)".into());
        }
        if std::str::from_utf8(key).is_err() {
            return Err("the message key is not UTF-8".into());
        }
        let payload = self.payload.as_deref().unwrap_or_default();
        if payload.is_empty() {
            return Err("the message has no value".into());
        }
        let record = feed_record(payload).map_err(|why| format!("the message value is {why}"))?;
        // Re-encoded, a record is one line whatever whitespace it was sent with.
        Ok(serde_json::Value::Object(record).to_string())
    }

    /// Which of `groups` groups the record belongs to: the same for every record of one key.
    pub fn group(&self, groups: usize) -> usize {
        let mut hasher = DefaultHasher::new();
        self.key.hash(&mut hasher);
        // The remainder of a division by a `usize` fits a `usize`.
        usize::try_from(hasher.finish() % groups.max(1) as u64).expect("remainder fits")
    }
}

/// `text` as a feed record (a JSON object of at most [`MAX_RECORD_BYTES`]), or why it is not
/// one: `over N bytes`, `not JSON: …`, `not a JSON object`.
pub fn feed_record(text: &[u8]) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    if text.len() > MAX_RECORD_BYTES {
        return Err(format!("over {MAX_RECORD_BYTES} bytes"));
    }
    match serde_json::from_slice(text) {
        Ok(serde_json::Value::Object(record)) => Ok(record),
        Ok(_) => Err("not a JSON object".into()),
        Err(e) => Err(format!("not JSON: {e}")),
    }
}

/// The position after the last of `records` in each partition: what a consumer stores as
/// done once they are all applied (or set aside).
pub fn last_offsets(records: &[Record]) -> Vec<(String, i32, i64)> {
    let mut last: std::collections::BTreeMap<(&str, i32), i64> = Default::default();
    for record in records {
        let entry = last
            .entry((record.topic.as_str(), record.partition))
            .or_insert(record.offset);
        *entry = (*entry).max(record.offset);
    }
    last.into_iter()
        .map(|((topic, partition), offset)| (topic.to_owned(), partition, offset))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(key: &str, payload: &str, offset: i64) -> Record {
        Record {
            topic: "t".into(),
            partition: 0,
            offset,
            key: (!key.is_empty()).then(|| key.as_bytes().to_vec()),
            payload: Some(payload.as_bytes().to_vec()),
        }
    }

    #[test]
    fn a_record_becomes_one_compact_line() {
        let line = record("SKU-1", "{\n \"sku\": \"SKU-1\",\n \"quantity\": 3\n}", 0)
            .line()
            .expect("a record");
        assert_eq!(line, r#"{"quantity":3,"sku":"SKU-1"}"#);
    }

    #[test]
    fn records_that_are_not_feed_lines_say_why() {
        let reasons: Vec<String> = [
            record("", r#"{"sku":"A"}"#, 0),
            record("A", "", 1),
            record("A", "not json", 2),
            record("A", "[1,2]", 3),
            record("A", &format!("\"{}\"", "x".repeat(MAX_RECORD_BYTES)), 4),
        ]
        .iter()
        .map(|r| r.line().expect_err("refused"))
        .collect();
        assert!(reasons[0].contains("no key"), "{reasons:?}");
        assert!(reasons[1].contains("no value"), "{reasons:?}");
        assert!(reasons[2].contains("not JSON"), "{reasons:?}");
        assert!(reasons[3].contains("not a JSON object"), "{reasons:?}");
        assert!(reasons[4].contains("bytes"), "{reasons:?}");
    }

    #[test]
    fn one_key_always_falls_in_one_group_and_keys_spread() {
        let groups: std::collections::BTreeSet<usize> = (0..200)
            .map(|i| record(&format!("SKU-{i}"), "{}", i).group(8))
            .collect();
        assert_eq!(groups.len(), 8, "200 keys use every group");
        let a = record("SKU-7", "{}", 1).group(8);
        assert_eq!(record("SKU-7", "{\"x\":1}", 99).group(8), a);
    }

    #[test]
    fn the_last_offset_of_each_partition_is_what_is_done() {
        let mut records = vec![
            record("a", "{}", 5),
            record("b", "{}", 9),
            record("c", "{}", 7),
        ];
        records[2].partition = 1;
        assert_eq!(
            last_offsets(&records),
            [("t".to_owned(), 0, 9), ("t".to_owned(), 1, 7)]
        );
    }
}
