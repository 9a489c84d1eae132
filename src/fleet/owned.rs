//! The targets of the partitions a prober owns, as the registry changes that follow them. A
//! partition assigned to this prober is read from its beginning: its records are folded (the
//! latest of each key winning, tombstones removing) until the end seen at assignment, and only
//! then do its targets go to the registry, in one batch, so that a target is never probed from
//! an older definition first. After that each record applies as it comes. A revoked partition
//! removes all its targets. Pure: the consumer feeds assignments and records.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::Value;

use super::targets::{BadRecord, published};
use crate::config::Target;
use crate::kafka::Record;
use crate::registry::Change;

/// A definition this prober cannot probe (an unset `${NAME}`, a bad object): skipped, told.
pub type Unbuildable = String;

/// One owned partition.
enum Partition {
    /// Read up to `end` (the high watermark at assignment); nothing applied yet.
    CatchingUp {
        end: i64,
        table: HashMap<String, Value>,
    },
    /// Caught up: the ids its records have put in the registry.
    Live { ids: HashSet<String> },
}

/// What a record, an assignment or a revocation changes.
#[derive(Default)]
pub struct Applied {
    pub changes: Vec<Change>,
    /// Records that are not targets.
    pub bad: Vec<BadRecord>,
    /// Targets that could not be built here.
    pub unbuildable: Vec<Unbuildable>,
}

/// The owned partitions and their targets; `build` makes a target from a published
/// definition (resolving references from this prober's environment).
pub struct Owned<B> {
    partitions: HashMap<i32, Partition>,
    build: B,
}

impl<B: Fn(&Value) -> Result<Target, String>> Owned<B> {
    pub fn new(build: B) -> Self {
        Owned {
            partitions: HashMap::new(),
            build,
        }
    }

    /// Whether `partition` is owned now (a round of a target in it may start).
    pub fn owns(&self, partition: i32) -> bool {
        self.partitions.contains_key(&partition)
    }

    /// `partition` is now this prober's; `end` is its high watermark. An empty partition is
    /// caught up at once.
    pub fn assigned(&mut self, partition: i32, end: i64, low: i64) -> Applied {
        let state = if end <= low {
            Partition::Live {
                ids: HashSet::new(),
            }
        } else {
            Partition::CatchingUp {
                end,
                table: HashMap::new(),
            }
        };
        self.partitions.insert(partition, state);
        Applied::default()
    }

    /// `partition` is no longer this prober's: its targets leave the registry.
    pub fn revoked(&mut self, partition: i32) -> Applied {
        let mut out = Applied::default();
        if let Some(Partition::Live { ids }) = self.partitions.remove(&partition) {
            let mut ids: Vec<String> = ids.into_iter().collect();
            ids.sort();
            out.changes = ids.into_iter().map(Change::Remove).collect();
        }
        out
    }

    /// A record of an owned partition (records of other partitions are ignored).
    pub fn record(&mut self, r: &Record) -> Applied {
        let mut out = Applied::default();
        let Some(state) = self.partitions.get_mut(&r.partition) else {
            return out;
        };
        let parsed = match published(r) {
            Ok(p) => p.map(|(id, p)| (id, p.definition)),
            Err(e) => {
                out.bad.push(e);
                None
            }
        };
        let key = String::from_utf8_lossy(&r.key).into_owned();
        match state {
            Partition::CatchingUp { end, table } => {
                match parsed {
                    Some((id, definition)) => {
                        table.insert(id, definition);
                    }
                    None if r.value.is_none() => {
                        table.remove(&key);
                    }
                    None => {}
                }
                if r.offset + 1 >= *end {
                    let mut table: Vec<(String, Value)> =
                        std::mem::take(table).into_iter().collect();
                    table.sort_by(|a, b| a.0.cmp(&b.0));
                    let mut ids = HashSet::new();
                    for (id, definition) in table {
                        match (self.build)(&definition) {
                            Ok(t) => {
                                ids.insert(id);
                                out.changes.push(Change::Upsert(Arc::new(t)));
                            }
                            Err(e) => out.unbuildable.push(e),
                        }
                    }
                    *state = Partition::Live { ids };
                }
            }
            Partition::Live { ids } => match parsed {
                Some((id, definition)) => match (self.build)(&definition) {
                    Ok(t) => {
                        ids.insert(id);
                        out.changes.push(Change::Upsert(Arc::new(t)));
                    }
                    Err(e) => {
                        out.unbuildable.push(e);
                        // An older definition of it must not go on being probed.
                        if ids.remove(&id) {
                            out.changes.push(Change::Remove(id));
                        }
                    }
                },
                None if r.value.is_none() && ids.remove(&key) => {
                    out.changes.push(Change::Remove(key));
                }
                None => {}
            },
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::config::target::TargetDefaults;
    use crate::config::{Interval, TlsVerify};

    fn build(d: &Value) -> Result<Target, String> {
        let defaults = TargetDefaults {
            interval: Interval::Every(Duration::from_secs(60)),
            timeout: Duration::from_secs(5),
            tls_verify: TlsVerify::Yes,
        };
        let env = |name: &str| (name == "HOST").then(|| "h.example".to_owned());
        super::super::objects::probed(d, env, &defaults).map_err(|e| e.to_string())
    }

    fn rec(partition: i32, offset: i64, id: &str, url: Option<&str>) -> Record {
        Record {
            partition,
            offset,
            key: id.as_bytes().to_vec(),
            value: url.map(|u| {
                json!({"source": "file:f", "definition": {"id": id, "url": u}})
                    .to_string()
                    .into_bytes()
            }),
        }
    }

    fn shown(a: &Applied) -> Vec<String> {
        a.changes
            .iter()
            .map(|c| match c {
                Change::Upsert(t) => format!("+{} {}", t.id, t.url),
                other => format!("-{}", other.id()),
            })
            .collect()
    }

    #[test]
    fn a_partition_applies_its_latest_definitions_once_caught_up() {
        let mut o = Owned::new(build);
        o.assigned(3, 4, 0);
        assert!(o.owns(3) && !o.owns(4));
        assert!(shown(&o.record(&rec(3, 0, "a", Some("https://a1/")))).is_empty());
        assert!(shown(&o.record(&rec(3, 1, "b", Some("https://b/")))).is_empty());
        assert!(shown(&o.record(&rec(3, 2, "a", Some("https://a2/")))).is_empty());
        // The last record before the end: everything at once, each at its latest.
        let a = o.record(&rec(3, 3, "b", None));
        assert_eq!(shown(&a), ["+a https://a2/"]);
        // Then records apply as they come.
        assert_eq!(
            shown(&o.record(&rec(3, 4, "c", Some("https://c/")))),
            ["+c https://c/"]
        );
        assert_eq!(shown(&o.record(&rec(3, 5, "a", None))), ["-a"]);
        // A tombstone for a target it never had changes nothing.
        assert!(shown(&o.record(&rec(3, 6, "zz", None))).is_empty());
        // Records of partitions it does not own are not its business.
        assert!(shown(&o.record(&rec(4, 0, "d", Some("https://d/")))).is_empty());
        assert_eq!(shown(&o.revoked(3)), ["-c"]);
        assert!(!o.owns(3));
    }

    #[test]
    fn an_empty_partition_is_live_at_once_and_a_revoked_one_mid_catch_up_removes_nothing() {
        let mut o = Owned::new(build);
        o.assigned(0, 0, 0);
        assert_eq!(
            shown(&o.record(&rec(0, 0, "a", Some("https://a/")))),
            ["+a https://a/"]
        );
        o.assigned(1, 10, 0);
        o.record(&rec(1, 0, "b", Some("https://b/")));
        assert!(shown(&o.revoked(1)).is_empty());
    }

    #[test]
    fn a_definition_this_prober_cannot_build_is_told_and_stops_its_older_one() {
        let mut o = Owned::new(build);
        o.assigned(0, 0, 0);
        assert_eq!(
            shown(&o.record(&rec(0, 0, "a", Some("https://${HOST}/")))),
            ["+a https://h.example/"]
        );
        let a = o.record(&rec(0, 1, "a", Some("https://${SECRET_HOST}/")));
        assert_eq!(shown(&a), ["-a"]);
        assert_eq!(a.unbuildable.len(), 1);
        assert!(
            a.unbuildable[0].contains("SECRET_HOST"),
            "{:?}",
            a.unbuildable
        );
        let mut bad = rec(0, 2, "x", None);
        bad.value = Some(b"not json".to_vec());
        assert_eq!(o.record(&bad).bad.len(), 1);
    }
}
