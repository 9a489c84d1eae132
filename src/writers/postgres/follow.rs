//! The `targets` table following the registry (see [`crate::registry::follow`]): a target added
//! live gets its row (name, masked URL, tags, interval) before its first event; a removed one
//! gets `removed_at` and its open incident closed, its history kept; one added again is back; a
//! paused one is `paused` (its open incident ends) and a resumed one unknown, through the
//! target-state machine the batches use. Each change is one transaction.
//!
//! Locks: the rows are inserted if missing, then locked in the batches' order (`lock_targets`)
//! before anything else changes them, and only ever updated without touching the key, so a
//! batch writing beside it waits instead of deadlocking.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::insert::Core;
use super::rollups;
use crate::postgres::PgError;
use crate::registry::follow::Replica;
use crate::registry::{Applied, Entry};
use crate::state::rules::{ResolveReason, Rule};
use crate::state::{Input, Transition};
use crate::store::END_REASON_REMOVED;
use crate::store::alerts::AlertRules;
use crate::store::postgres::alerts;
use crate::store::sqlite::TargetInfo;

/// The `targets` table as a replica of the live set.
pub(super) struct TargetsReplica {
    pub(super) core: Arc<Core>,
    /// Whether the entries followed from are every target: the others are marked removed.
    pub(super) sweep: bool,
}

#[async_trait::async_trait]
impl Replica for TargetsReplica {
    type Error = PgError;

    fn name(&self) -> &'static str {
        "the PostgreSQL targets table"
    }

    async fn reset(&mut self, entries: &[Arc<Entry>]) -> Result<(), PgError> {
        let mut client = self.core.client().await?;
        let upserts: Vec<&Entry> = entries.iter().map(|e| &**e).collect();
        let rules = self.core.rules.as_ref();
        follow_changes(&mut client, &upserts, &[], rules.map(|r| (r, true))).await?;
        // A live set that starts empty says nothing of what was there before.
        if self.sweep && !entries.is_empty() {
            let ids: Vec<String> = entries.iter().map(|e| e.target.id.clone()).collect();
            let n = rollups::remove_unconfigured(&mut client, &ids, rules.is_some()).await?;
            if n > 0 {
                tracing::info!(targets = n, "targets no longer configured marked removed");
            }
        }
        Ok(())
    }

    async fn apply(&mut self, changes: &[Applied]) -> Result<(), PgError> {
        let mut client = self.core.client().await?;
        let mut upserts = Vec::new();
        let mut removed = Vec::new();
        for c in changes {
            match c {
                Applied::Upsert(e) => upserts.push(&**e),
                Applied::Remove(e) => removed.push(e.target.id.clone()),
            }
        }
        let rules = self.core.rules.as_ref();
        follow_changes(&mut client, &upserts, &removed, rules.map(|r| (r, false))).await
    }
}

/// Writes `upserts` (with their paused flags) and marks `removed` removed, in one transaction.
/// With `alerting` (the writer's rules, and whether `upserts` are every target), the rules
/// follow too: a paused or removed target's fired rules resolve, and so do rules gone from a
/// target.
pub async fn follow_changes(
    client: &mut deadpool_postgres::Object,
    upserts: &[&Entry],
    removed: &[String],
    alerting: Option<(&RwLock<AlertRules>, bool)>,
) -> Result<(), PgError> {
    // The rules as they are now, and the targets whose rules may have changed.
    let mut rules_now: HashMap<String, Arc<[Rule]>> = HashMap::new();
    if let Some((rules, all)) = alerting {
        let mut r = rules.write().expect("rules lock");
        if all {
            r.by_target.clear();
        }
        for e in upserts {
            let alerts = &e.target.profile.alerts;
            if alerts.is_empty() {
                r.by_target.remove(&e.target.id);
            } else {
                r.by_target.insert(e.target.id.clone(), alerts.clone());
            }
            rules_now.insert(e.target.id.clone(), alerts.clone());
        }
        for id in removed {
            r.by_target.remove(id);
        }
    }
    let now = crate::store::now_micros();
    let mut infos: Vec<(TargetInfo, bool)> = upserts
        .iter()
        .map(|e| (TargetInfo::from_target(&e.target), e.paused))
        .collect();
    infos.sort_by(|a, b| a.0.id.cmp(&b.0.id));
    let tx = client.transaction().await?;
    let ids: Vec<&str> = infos.iter().map(|(i, _)| i.id.as_str()).collect();
    let url: Vec<&str> = infos.iter().map(|(i, _)| i.url.as_str()).collect();
    let name: Vec<&str> = infos.iter().map(|(i, _)| i.name.as_str()).collect();
    let protocol: Vec<&str> = infos.iter().map(|(i, _)| i.protocol.as_str()).collect();
    let hostname: Vec<&str> = infos.iter().map(|(i, _)| i.hostname.as_str()).collect();
    let port: Vec<Option<i32>> = infos.iter().map(|(i, _)| i.port.map(i32::from)).collect();
    let path: Vec<&str> = infos.iter().map(|(i, _)| i.path.as_str()).collect();
    let tags: Vec<String> = infos
        .iter()
        .map(|(i, _)| serde_json::to_string(&i.tags).unwrap_or_else(|_| "[]".into()))
        .collect();
    let interval: Vec<Option<f64>> = infos.iter().map(|(i, _)| i.interval_s).collect();
    const UNNEST: &str = "unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
        $6::int4[], $7::text[], $8::text[], $9::float8[])
        AS u(id, url, name, protocol, hostname, port, path, tags, interval_s)";
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 9] = [
        &ids, &url, &name, &protocol, &hostname, &port, &path, &tags, &interval,
    ];
    if !infos.is_empty() {
        tx.execute(
            &format!(
                "INSERT INTO targets (id, url, name, protocol, hostname, port, path, tags,
                   interval_s, first_seen, last_seen)
                 SELECT u.id, u.url, u.name, u.protocol, u.hostname, u.port, u.path,
                   ARRAY(SELECT jsonb_array_elements_text(u.tags::jsonb)), u.interval_s, now(), now()
                 FROM {UNNEST} ORDER BY u.id COLLATE \"C\"
                 ON CONFLICT (id) DO NOTHING"
            ),
            &params,
        )
        .await?;
    }
    let mut locked: Vec<String> = ids.iter().map(|i| (*i).to_owned()).collect();
    locked.extend(removed.iter().cloned());
    locked.sort_unstable();
    locked.dedup();
    let mut live = rollups::lock_targets(&tx, &locked).await?;
    if !infos.is_empty() {
        tx.execute(
            &format!(
                "UPDATE targets SET url = u.url, name = u.name, protocol = u.protocol,
                   hostname = u.hostname, port = u.port, path = u.path,
                   tags = ARRAY(SELECT jsonb_array_elements_text(u.tags::jsonb)),
                   interval_s = coalesce(u.interval_s, targets.interval_s), removed_at = NULL
                 FROM {UNNEST} WHERE targets.id = u.id"
            ),
            &params,
        )
        .await?;
    }
    let mut paused_now: Vec<(String, Option<Arc<[Rule]>>)> = Vec::new();
    for (info, paused) in &infos {
        let Some((mut state, mut incident)) = live.remove(&info.id) else {
            continue;
        };
        let input = if *paused { Input::Pause } else { Input::Resume };
        let transitions = state.apply(input, time::OffsetDateTime::now_utc());
        if transitions.is_empty() {
            continue;
        }
        for tr in transitions {
            if let (Transition::IncidentClosed { at, reason, .. }, Some(i)) = (tr, incident) {
                tx.execute(
                    "UPDATE incidents SET ended_at = $2, end_reason = $3 WHERE id = $1",
                    &[&i, &at, &reason.stored()],
                )
                .await?;
                incident = None;
            }
        }
        tx.execute(
            "UPDATE targets SET status = $2, open_incident = $3 WHERE id = $1",
            &[&info.id, &state.status.as_str(), &incident],
        )
        .await?;
        if *paused && alerting.is_some() {
            paused_now.push((info.id.clone(), rules_now.get(&info.id).cloned()));
        }
    }
    if alerting.is_some() {
        // A paused target's fired rules resolve; its counters start again on resume.
        alerts::end(&tx, &paused_now, ResolveReason::Paused, now).await?;
        // Rules gone from a target resolve (a removed target's all of them). Targets this
        // writer does not follow are left alone: another prober (a shard) may alert for them.
        let among: Vec<String> = rules_now.keys().chain(removed).cloned().collect();
        let with_states = alerts::ids_with_states(&tx, &among).await?;
        let ends: Vec<(String, Option<Arc<[Rule]>>)> = with_states
            .into_iter()
            .map(|id| {
                // A removed target keeps nothing; one that stays keeps its rules now.
                let keep = (!removed.contains(&id))
                    .then(|| rules_now.get(&id).cloned().unwrap_or_else(|| Arc::from([])));
                (id, keep)
            })
            .collect();
        alerts::end(&tx, &ends, ResolveReason::Removed, now).await?;
    }
    if !removed.is_empty() {
        tx.execute(
            "UPDATE incidents SET ended_at = greatest(now(), started_at), end_reason = $2
             WHERE ended_at IS NULL AND target_id IN (
               SELECT id FROM targets WHERE removed_at IS NULL AND id = ANY($1::text[]))",
            &[&removed, &END_REASON_REMOVED],
        )
        .await?;
        tx.execute(
            "UPDATE targets SET removed_at = now(), open_incident = NULL
             WHERE removed_at IS NULL AND id = ANY($1::text[])",
            &[&removed],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}
