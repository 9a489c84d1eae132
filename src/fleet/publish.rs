//! What publishing a set of targets changes on the targets topic: an upsert for each target that
//! is new or changed, a tombstone for each target this source published before that is gone
//! (unless only upserting), and nothing for another source's targets.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::targets::Published;

/// One change to the targets topic.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Publish this target object (with `id` set).
    Upsert { id: String, definition: Value },
    /// Remove the target.
    Tombstone { id: String },
}

/// The changes, and how many targets were already published as they are.
#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    pub ops: Vec<Op>,
    pub unchanged: usize,
}

impl Plan {
    pub fn upserts(&self) -> usize {
        self.ops
            .iter()
            .filter(|o| matches!(o, Op::Upsert { .. }))
            .count()
    }

    pub fn tombstones(&self) -> usize {
        self.ops.len() - self.upserts()
    }
}

/// A target id published by another source: neither source may take it from the other.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "target {id:?} is published by {theirs}, not by {ours}: give it another id, or remove it \
     from {theirs} first"
)]
pub struct Clash {
    pub id: String,
    pub theirs: String,
    pub ours: String,
}

/// The changes that make the topic hold `wanted` (target objects with `id` set) for source
/// `mine`, given what it holds now. `no_delete`: only upsert.
pub fn plan(
    current: &HashMap<String, Published>,
    mine: &str,
    wanted: Vec<(String, Value)>,
    no_delete: bool,
) -> Result<Plan, Clash> {
    let mut plan = Plan::default();
    let mut kept = HashSet::new();
    for (id, definition) in wanted {
        match current.get(&id) {
            Some(p) if p.source != mine => {
                return Err(Clash {
                    id,
                    theirs: p.source.clone(),
                    ours: mine.to_owned(),
                });
            }
            Some(p) if p.definition == definition => plan.unchanged += 1,
            _ => plan.ops.push(Op::Upsert {
                id: id.clone(),
                definition,
            }),
        }
        kept.insert(id);
    }
    if !no_delete {
        let mut gone: Vec<&String> = current
            .iter()
            .filter(|(id, p)| p.source == mine && !kept.contains(*id))
            .map(|(id, _)| id)
            .collect();
        gone.sort();
        plan.ops
            .extend(gone.into_iter().map(|id| Op::Tombstone { id: id.clone() }));
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn table(entries: &[(&str, &str, &str)]) -> HashMap<String, Published> {
        entries
            .iter()
            .enumerate()
            .map(|(i, (id, source, url))| {
                (
                    (*id).to_owned(),
                    Published {
                        source: (*source).to_owned(),
                        definition: json!({"id": id, "url": url}),
                        partition: 0,
                        offset: i as i64,
                    },
                )
            })
            .collect()
    }

    fn want(id: &str, url: &str) -> (String, Value) {
        (id.to_owned(), json!({"id": id, "url": url}))
    }

    #[test]
    fn a_target_gone_from_the_file_is_tombstoned_and_a_changed_one_upserted() {
        let now = table(&[
            ("a", "file:f", "http://a/"),
            ("b", "file:f", "http://b/"),
            ("c", "file:f", "http://c/"),
        ]);
        let p = plan(
            &now,
            "file:f",
            vec![
                want("a", "http://a/"),
                want("b", "http://b2/"),
                want("d", "http://d/"),
            ],
            false,
        )
        .unwrap();
        assert_eq!(p.unchanged, 1);
        assert_eq!(
            p.ops,
            vec![
                Op::Upsert {
                    id: "b".into(),
                    definition: json!({"id": "b", "url": "http://b2/"})
                },
                Op::Upsert {
                    id: "d".into(),
                    definition: json!({"id": "d", "url": "http://d/"})
                },
                Op::Tombstone { id: "c".into() },
            ]
        );
        assert_eq!((p.upserts(), p.tombstones()), (2, 1));
    }

    #[test]
    fn no_delete_only_upserts() {
        let now = table(&[("a", "file:f", "http://a/"), ("c", "file:f", "http://c/")]);
        let p = plan(&now, "file:f", vec![want("a", "http://a2/")], true).unwrap();
        assert_eq!(p.tombstones(), 0);
        assert_eq!(p.upserts(), 1);
    }

    #[test]
    fn another_sources_target_is_neither_deleted_nor_overwritten() {
        let now = table(&[("a", "api", "http://a/"), ("b", "file:f", "http://b/")]);
        // Not deleted: `a` is the API's.
        let p = plan(&now, "file:f", vec![], false).unwrap();
        assert_eq!(p.ops, vec![Op::Tombstone { id: "b".into() }]);
        // Not overwritten: a clash naming both sources.
        let e = plan(&now, "file:f", vec![want("a", "http://x/")], false).unwrap_err();
        assert_eq!(
            e.to_string(),
            "target \"a\" is published by api, not by file:f: give it another id, or remove it \
             from api first"
        );
    }
}
