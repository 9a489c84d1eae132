//! The targets topic read as a table: for each target id the latest record wins, a tombstone
//! removes it, and nothing depends on the broker having compacted the topic.

use std::collections::HashMap;

use serde_json::Value;

use crate::kafka::Record;

/// A target as the targets topic holds it now.
#[derive(Debug, Clone, PartialEq)]
pub struct Published {
    /// Who published it (`file:<name>`, `api`): one source never deletes another's targets.
    pub source: String,
    /// The target object, as a config file writes one, with `id` set.
    pub definition: Value,
    pub partition: i32,
    pub offset: i64,
}

/// A record that is not a published target: counted and skipped by the readers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("record at partition {partition} offset {offset} of the targets topic: {reason}")]
pub struct BadRecord {
    pub partition: i32,
    pub offset: i64,
    pub reason: String,
}

/// The target a record publishes (`None` for a tombstone), read from its JobEvent payload.
pub fn published(r: &Record) -> Result<Option<(String, Published)>, BadRecord> {
    let bad = |reason: String| BadRecord {
        partition: r.partition,
        offset: r.offset,
        reason,
    };
    let Some(value) = &r.value else {
        return Ok(None);
    };
    let id = std::str::from_utf8(&r.key)
        .map_err(|_| bad("its key is not UTF-8".into()))?
        .to_owned();
    let doc: Value = serde_json::from_slice(value).map_err(|e| bad(format!("not JSON: {e}")))?;
    let source = doc
        .get("source")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("no \"source\"".into()))?
        .to_owned();
    let definition = doc
        .get("definition")
        .filter(|d| d.is_object())
        .cloned()
        .ok_or_else(|| bad("no \"definition\" object".into()))?;
    if definition.get("id").and_then(Value::as_str) != Some(id.as_str()) {
        return Err(bad(format!("its definition's id is not its key {id:?}")));
    }
    Ok(Some((
        id,
        Published {
            source,
            definition,
            partition: r.partition,
            offset: r.offset,
        },
    )))
}

/// The table the records make, applied in order (per partition, offsets ascending; a key lives
/// in one partition): a later record of a key replaces the earlier, a tombstone removes it.
/// Records that are not targets are returned beside it, and change nothing.
pub fn fold(records: &[Record]) -> (HashMap<String, Published>, Vec<BadRecord>) {
    let mut table = HashMap::new();
    let mut bad = Vec::new();
    for r in records {
        match published(r) {
            Ok(Some((id, p))) => {
                table.insert(id, p);
            }
            Ok(None) => match std::str::from_utf8(&r.key) {
                Ok(id) => {
                    table.remove(id);
                }
                Err(_) => bad.push(BadRecord {
                    partition: r.partition,
                    offset: r.offset,
                    reason: "a tombstone whose key is not UTF-8".into(),
                }),
            },
            Err(e) => bad.push(e),
        }
    }
    (table, bad)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn rec(offset: i64, id: &str, value: Option<Value>) -> Record {
        Record {
            partition: 0,
            offset,
            key: id.as_bytes().to_vec(),
            value: value.map(|v| serde_json::to_vec(&v).unwrap()),
        }
    }

    fn job(id: &str, url: &str) -> Value {
        json!({"source": "file:a.yaml", "definition": {"id": id, "url": url}})
    }

    #[test]
    fn later_records_of_a_key_win_without_compaction() {
        let (table, bad) = fold(&[
            rec(0, "a", Some(job("a", "http://one/"))),
            rec(1, "b", Some(job("b", "http://b/"))),
            rec(2, "a", Some(job("a", "http://two/"))),
        ]);
        assert!(bad.is_empty());
        assert_eq!(table.len(), 2);
        assert_eq!(table["a"].definition["url"], "http://two/");
        assert_eq!(table["a"].offset, 2);
        assert_eq!(table["a"].source, "file:a.yaml");
    }

    #[test]
    fn a_tombstone_removes_and_a_later_upsert_restores() {
        let (table, _) = fold(&[
            rec(0, "a", Some(job("a", "http://one/"))),
            rec(1, "a", None),
        ]);
        assert!(table.is_empty());
        let (table, _) = fold(&[
            rec(0, "a", Some(job("a", "http://one/"))),
            rec(1, "a", None),
            rec(2, "a", Some(job("a", "http://three/"))),
        ]);
        assert_eq!(table["a"].definition["url"], "http://three/");
    }

    #[test]
    fn records_that_are_not_targets_are_told_apart_and_change_nothing() {
        let mut not_json = rec(1, "a", None);
        not_json.value = Some(b"{".to_vec());
        let (table, bad) = fold(&[
            rec(0, "a", Some(job("a", "http://one/"))),
            not_json,
            rec(2, "a", Some(json!({"definition": {"id": "a"}}))),
            rec(3, "a", Some(job("other", "http://x/"))),
        ]);
        assert_eq!(table["a"].definition["url"], "http://one/");
        let reasons: Vec<_> = bad.iter().map(|b| (b.offset, b.reason.clone())).collect();
        assert_eq!(reasons.len(), 3, "{reasons:?}");
        assert!(reasons[0].1.starts_with("not JSON"), "{reasons:?}");
        assert_eq!(reasons[1].1, "no \"source\"");
        assert!(reasons[2].1.contains("is not its key"), "{reasons:?}");
    }
}
