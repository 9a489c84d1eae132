//! The store following the registry (see [`crate::registry::follow`]): a target added live gets
//! its row (name, masked URL, tags, interval) before its first result; a removed one is marked
//! removed, its history kept and its open incident closed; one added again is back; a paused
//! one shows as paused (its open incident ends) and a resumed one as unknown until its next
//! result. Each change is one transaction.

use std::sync::Arc;

use super::write::{self, Gone, TargetInfo};
use super::{SqliteStore, alerts};
use crate::registry::follow::Replica;
use crate::registry::{Applied, Entry};
use crate::state::rules::{ResolveReason, Rule};
use crate::store::StoreError;

/// The store as a replica of the live set.
pub struct StoreReplica {
    pub store: SqliteStore,
    /// Whether the entries followed from are every target (see [`crate::store::sweeps`]): the
    /// stored targets not among them are marked removed.
    pub sweep: bool,
}

#[async_trait::async_trait]
impl Replica for StoreReplica {
    type Error = StoreError;

    fn name(&self) -> &'static str {
        "the SQLite store"
    }

    async fn reset(&mut self, entries: &[Arc<Entry>]) -> Result<(), StoreError> {
        let upserts = entries.iter().map(|e| upsert(e)).collect();
        // A live set that starts empty says nothing of what was there before.
        let keep = (self.sweep && !entries.is_empty())
            .then(|| entries.iter().map(|e| e.target.id.clone()).collect());
        let removed = self.store.follow_changes(upserts, Vec::new(), keep).await?;
        if removed > 0 {
            tracing::info!(
                targets = removed,
                "targets no longer configured marked removed"
            );
        }
        Ok(())
    }

    async fn apply(&mut self, changes: &[Applied]) -> Result<(), StoreError> {
        // The changes of one version touch each id once at most, so upserts and removals
        // may be applied apart.
        let mut upserts = Vec::new();
        let mut removed = Vec::new();
        for c in changes {
            match c {
                Applied::Upsert(e) => upserts.push(upsert(e)),
                Applied::Remove(e) => removed.push(e.target.id.clone()),
            }
        }
        self.store.follow_changes(upserts, removed, None).await?;
        Ok(())
    }
}

fn upsert(e: &Entry) -> Upsert {
    Upsert {
        info: TargetInfo::from_target(&e.target),
        paused: e.paused,
        alerts: e.target.profile.alerts.clone(),
    }
}

/// A target the store follows: its row, whether it is paused, and its alert rules.
pub struct Upsert {
    pub info: TargetInfo,
    pub paused: bool,
    pub alerts: Arc<[Rule]>,
}

impl SqliteStore {
    /// Registers `upserts` (each with whether it is paused and its alert rules), marks
    /// `removed` removed, and, with `keep`, every other target not in it; returns how many
    /// `keep` removed. Alert rules that left a target resolve. One transaction.
    pub async fn follow_changes(
        &self,
        upserts: Vec<Upsert>,
        removed: Vec<String>,
        keep: Option<Vec<String>>,
    ) -> Result<usize, StoreError> {
        let swept = self
            .write(move |w, _| {
                let now = crate::store::now_micros();
                let tx = w.conn.transaction()?;
                let infos: Vec<TargetInfo> = upserts.iter().map(|u| u.info.clone()).collect();
                write::upsert_infos(&tx, &infos, now)?;
                let rules = &mut w.alerts.by_target;
                if keep.is_some() {
                    rules.clear();
                }
                for u in &upserts {
                    if u.alerts.is_empty() {
                        rules.remove(&u.info.id);
                    } else {
                        rules.insert(u.info.id.clone(), u.alerts.clone());
                    }
                }
                for id in &removed {
                    rules.remove(id);
                }
                // Only what is or was paused goes through the state machine: a reset of a
                // large live set reads no state for the rest.
                let stored_paused = write::paused_ids(&tx)?;
                for u in &upserts {
                    if u.paused || stored_paused.contains(&u.info.id) {
                        let r = rules.get(&u.info.id).map(|r| &r[..]);
                        write::set_paused(&tx, &u.info.id, u.paused, r, now)?;
                    }
                }
                // Rules gone from a target that stays resolve (removed targets' below).
                let changed: std::collections::HashSet<&str> =
                    upserts.iter().map(|u| u.info.id.as_str()).collect();
                for id in alerts::ids_with_states(&tx)? {
                    if keep.is_some() || changed.contains(id.as_str()) {
                        let kept = rules.get(&id).map_or(&[][..], |r| &r[..]);
                        alerts::end(&tx, &id, Some(kept), ResolveReason::Removed, now)?;
                    }
                }
                write::mark_removed(&tx, Gone::These(&removed), now)?;
                let swept = match &keep {
                    Some(keep) => write::mark_removed(&tx, Gone::AllBut(keep), now)?,
                    None => 0,
                };
                tx.commit()?;
                Ok(swept)
            })
            .await?;
        self.0.cache.clear();
        Ok(swept)
    }
}
