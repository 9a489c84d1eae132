//! Writing: a batch of events goes in one transaction. Each event is stored unless it is
//! stored already (same uuid, target and time: see [`raw`](super::raw)), and only the events
//! that really went in update the rollups, the targets' live state and the incidents, so a
//! replayed batch changes nothing. An event older than the raw horizon (the events'
//! retention) cannot be told from one stored and pruned: it is counted and dropped, never
//! counted twice into the rollups.

use crate::store::rollup::Agg;
use std::collections::{BTreeMap, HashMap};

use rusqlite::functions::FunctionFlags;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::alerts::{self, AlertRules, Observed};
use super::pack::PackError;
use super::raw::{self, Stored};
use super::{WriteConn, rollups, strings};
use crate::event::{Event, ProbeEvent};
use crate::state::rules::{ResolveReason, Rule};
use crate::state::{Check, Input, Last, TargetState, Transition};
use crate::store::hist::Histogram;
use crate::store::{END_REASON_REMOVED, Micros, StoreError, clip_error, from_micros, to_micros};

/// What one batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ingested {
    /// Probe events stored for the first time.
    pub inserted: usize,
    /// Probe events already stored (same uuid, target and time): skipped.
    pub duplicates: usize,
    /// Events of other types, which this store does not keep.
    pub ignored: usize,
    /// Probe events older than the raw horizon: dropped (see the module doc).
    pub too_old: usize,
    /// Probe events the store cannot keep exactly (a NaN or negative phase, a time past year
    /// 9999): logged and dropped.
    pub rejected: usize,
}

/// A configured target, as `uptimer serve` registers it at startup.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetInfo {
    pub id: String,
    pub name: String,
    /// Credentials masked.
    pub url: String,
    pub protocol: String,
    pub hostname: String,
    pub port: Option<u16>,
    pub path: String,
    pub tags: Vec<String>,
    /// Seconds between checks, fractions kept.
    pub interval_s: Option<f64>,
}

impl TargetInfo {
    pub fn from_target(t: &crate::config::Target) -> Self {
        TargetInfo {
            id: t.id.clone(),
            name: t.name.clone(),
            url: crate::config::target::masked_url(&t.url),
            protocol: t.url.scheme().to_owned(),
            hostname: t.hostname().into_owned(),
            port: t.port,
            path: t.path().to_owned(),
            tags: t.tags.clone(),
            interval_s: match t.interval {
                crate::config::Interval::Every(d) => Some(d.as_secs_f64()),
                crate::config::Interval::Once => None,
            },
        }
    }
}

/// `hist_merge(a, b)`: the merge of two encoded histograms (NULL counts as empty).
pub fn register_functions(conn: &Connection) -> Result<(), StoreError> {
    conn.create_scalar_function(
        "hist_merge",
        2,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let blob = |i| match ctx.get_raw(i) {
                ValueRef::Blob(b) => b,
                _ => &[][..],
            };
            Ok(Histogram::merge_encoded(blob(0), blob(1)))
        },
    )?;
    Ok(())
}

/// The target id of an event: its `target`, or for the original's events (which have none)
/// the address it probed.
pub fn target_id(e: &ProbeEvent) -> String {
    e.target.clone().unwrap_or_else(|| match e.port {
        Some(port) => format!("{}://{}:{port}{}", e.protocol, e.hostname, e.path),
        None => format!("{}://{}{}", e.protocol, e.hostname, e.path),
    })
}

/// The verdict of an event: its `up`, or for the original's events a 2xx/3xx without error.
pub fn is_up(e: &ProbeEvent) -> bool {
    crate::event::counts_as_up(e.up, e.error.is_some(), e.status_code)
}

/// The phases of an event: dns, connect, tls, ttfb, transfer.
pub fn phases(e: &ProbeEvent) -> [Option<f64>; 5] {
    let p = e.phases_ms.unwrap_or_default();
    [p.dns, p.connect, p.tls, p.ttfb, p.transfer]
}

/// Runs `f` in a transaction on the write connection with its strings cache read up to date;
/// when it does not commit, the cache forgets what the transaction interned.
pub fn in_tx<T>(
    w: &mut WriteConn,
    f: impl FnOnce(&Transaction, &mut strings::Tx) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let WriteConn {
        conn,
        strings: cache,
        ..
    } = w;
    let done = (|| {
        // The write lock first: two writers of one file queue for it instead of failing.
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        strings::refresh(&tx, cache)?;
        let out = f(&tx, &mut strings::Tx::new(&tx, cache))?;
        tx.commit()?;
        Ok(out)
    })();
    if done.is_err() {
        strings::Tx::forget(cache);
    }
    done
}

/// Writes a batch in one transaction; see the module doc. `horizon`: events before it are too
/// old.
pub fn ingest(
    w: &mut WriteConn,
    events: &[Event],
    now: Micros,
    horizon: Micros,
) -> Result<Ingested, StoreError> {
    // The rules are taken out while the transaction borrows the connection.
    let rules = std::mem::take(&mut w.alerts);
    let done = in_tx(w, |tx, strings| {
        ingest_in(tx, strings, &rules, events, now, horizon)
    });
    w.alerts = rules;
    done
}

fn ingest_in(
    tx: &Transaction,
    strings: &mut strings::Tx,
    rules: &AlertRules,
    events: &[Event],
    now: Micros,
    horizon: Micros,
) -> Result<Ingested, StoreError> {
    let mut done = Ingested::default();
    let mut probes: Vec<(&ProbeEvent, String, Micros)> = Vec::with_capacity(events.len());
    for ev in events {
        let Event::Probe(e) = ev else {
            done.ignored += 1;
            continue;
        };
        let t = to_micros(e.envelope.event_time);
        if t < horizon {
            done.too_old += 1;
            continue;
        }
        probes.push((e, target_id(e), t));
    }
    if probes.is_empty() {
        return Ok(done);
    }
    let keys = upsert_targets(tx, &probes)?;
    let mut inserted = Vec::with_capacity(probes.len());
    for (e, id, t) in probes {
        let key = keys[id.as_str()];
        match raw::insert(tx, strings, key, e, t) {
            Ok(Stored::New) => {
                done.inserted += 1;
                inserted.push((e, id, t));
            }
            Ok(Stored::Duplicate) => done.duplicates += 1,
            Err(StoreError::Pack(PackError::Unrepresentable(what))) => {
                tracing::warn!(
                    uuid = %e.envelope.uuid,
                    target = id,
                    "store: an event whose {what} cannot be stored: dropped"
                );
                done.rejected += 1;
            }
            Err(other) => return Err(other),
        }
    }
    if !inserted.is_empty() {
        let mut hours: HashMap<(i64, Micros), Agg> = HashMap::new();
        for (e, id, t) in &inserted {
            hours
                .entry((keys[id.as_str()], raw::hour_of(*t)))
                .or_default()
                .add(e.response_time_ms as f64, is_up(e), phases(e));
        }
        rollups::add(tx, &hours)?;
        update_state(tx, &mut inserted, rules, now)?;
    }
    Ok(done)
}

/// Creates or updates the targets of these events (first and last seen); returns their keys.
fn upsert_targets(
    tx: &Transaction,
    rows: &[(&ProbeEvent, String, Micros)],
) -> Result<HashMap<String, i64>, StoreError> {
    let mut seen: HashMap<&str, (&ProbeEvent, Micros, Micros)> = HashMap::new();
    for (e, id, t) in rows {
        let entry = seen.entry(id.as_str()).or_insert((e, *t, *t));
        entry.1 = entry.1.min(*t);
        entry.2 = entry.2.max(*t);
    }
    let mut stmt = tx.prepare_cached(
        "INSERT INTO targets (id, url, name, protocol, hostname, port, path, first_seen, last_seen)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (id) DO UPDATE SET
           url = coalesce(targets.url, excluded.url),
           name = coalesce(targets.name, excluded.name),
           first_seen = min(targets.first_seen, excluded.first_seen),
           last_seen = max(targets.last_seen, excluded.last_seen),
           -- checked again after it was removed: it is back
           removed_at = CASE WHEN excluded.last_seen > targets.removed_at THEN NULL
             ELSE targets.removed_at END
         RETURNING key",
    )?;
    let mut keys = HashMap::with_capacity(seen.len());
    for (id, (e, first, last)) in seen {
        let url = e.url.clone().unwrap_or_else(|| id.to_owned());
        let key: i64 = stmt.query_row(
            params![
                id,
                url,
                e.name.as_deref().unwrap_or(&url),
                e.protocol,
                e.hostname,
                e.port,
                e.path,
                first,
                last
            ],
            |r| r.get(0),
        )?;
        keys.insert(id.to_owned(), key);
    }
    Ok(keys)
}

/// The key of target `id`, when it is known.
pub fn key_of(c: &Connection, id: &str) -> Result<Option<i64>, StoreError> {
    Ok(c.prepare_cached("SELECT key FROM targets WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?)
}

/// A target's stored live state: the machine's state and the id of its open incident.
fn load_state(
    last_time: Option<Micros>,
    last_uuid: Option<&str>,
    recent: &str,
    status: Option<&str>,
    incident: Option<(i64, Micros)>,
) -> (TargetState, Option<i64>) {
    let last = last_time.map(|t| Last {
        time: from_micros(t),
        uuid: last_uuid.and_then(|u| u.parse().ok()),
    });
    let started = incident.map(|(_, started)| from_micros(started));
    (
        TargetState::restore(status, last, recent, started),
        incident.map(|(id, _)| id),
    )
}

/// The stored live state of target `id`, if it is stored.
fn stored_state(
    tx: &Transaction,
    id: &str,
) -> Result<Option<(TargetState, Option<i64>)>, StoreError> {
    Ok(tx
        .prepare_cached(
            "SELECT last_event_time, last_event_uuid, recent, status, open_incident,
               (SELECT started_at FROM incidents WHERE incidents.id = targets.open_incident)
             FROM targets WHERE id = ?1",
        )?
        .query_row([id], |r| {
            let recent: String = r.get(2)?;
            let uuid: Option<String> = r.get(1)?;
            let status: Option<String> = r.get(3)?;
            let open: Option<i64> = r.get(4)?;
            let started: Option<Micros> = r.get(5)?;
            Ok(load_state(
                r.get(0)?,
                uuid.as_deref(),
                &recent,
                status.as_deref(),
                open.zip(started),
            ))
        })
        .optional()?)
}

/// Parents' and canaries' results waiting for their rules: (target, rules, results).
type Deferred<'a> = Vec<(
    &'a str,
    std::sync::Arc<[Rule]>,
    Vec<(Observed, Option<i64>)>,
)>;

/// Moves each target's live state and incidents forward through its new events with the
/// target-state machine, in (time, uuid) order. An event the machine does not take (older
/// than the target's last applied one) is history: it counts in the rollups only.
fn update_state(
    tx: &Transaction,
    rows: &mut [(&ProbeEvent, String, Micros)],
    rules: &AlertRules,
    now: Micros,
) -> Result<(), StoreError> {
    rows.sort_by(|a, b| (&a.1, a.2, a.0.envelope.uuid).cmp(&(&b.1, b.2, b.0.envelope.uuid)));
    let mut by_target: BTreeMap<&str, Vec<(&ProbeEvent, Micros)>> = BTreeMap::new();
    for (e, id, t) in rows.iter() {
        by_target.entry(id.as_str()).or_default().push((e, *t));
    }
    let mut open = tx.prepare_cached(
        "INSERT INTO incidents (target_id, started_at, error_kind, error) VALUES (?1, ?2, ?3, ?4)",
    )?;
    let mut more =
        tx.prepare_cached("UPDATE incidents SET failed_checks = failed_checks + 1 WHERE id = ?1")?;
    let mut close =
        tx.prepare_cached("UPDATE incidents SET ended_at = ?2, end_reason = ?3 WHERE id = ?1")?;
    let mut save = tx.prepare_cached(
        "UPDATE targets SET last_event_time = ?2, last_up = ?3, last_status_code = ?4,
           last_response_ms = ?5, last_error_kind = ?6, last_error = ?7, recent = ?8, status = ?9,
           cert_not_after = coalesce(?10, cert_not_after), open_incident = ?11,
           last_event_uuid = ?12
         WHERE id = ?1",
    )?;
    let mut removed =
        tx.prepare_cached("SELECT removed_at IS NOT NULL FROM targets WHERE id = ?1")?;
    let now_micros = now;
    let now = from_micros(now);
    // What holds notifications back, read once for the batch (when any target alerts or a
    // canary is in it): the silences not over by its oldest result (a result is held by those
    // under way at its time).
    let live = rules.live.get();
    let canary_in = live
        .storm
        .canaries
        .as_ref()
        .is_some_and(|c| c.targets.iter().any(|t| by_target.contains_key(t.as_str())));
    let mut gate = if canary_in || by_target.keys().any(|id| rules.of(id).is_some()) {
        let oldest = rows.iter().map(|r| r.2).min().unwrap_or(now_micros);
        alerts::Gate::new(alerts::silences(tx, oldest, false)?, &live)
    } else {
        alerts::Gate::default()
    };
    // Parents and canaries go first, so that the others' notifications see their new state.
    let watched: Vec<String> = gate.watched(by_target.keys().copied());
    if !watched.is_empty() {
        gate.now_of = alerts::targets_now(tx, &watched)?;
    }
    let (first, rest): (Vec<_>, Vec<_>) = by_target
        .into_iter()
        .partition(|(id, _)| watched.binary_search_by(|w| w.as_str().cmp(id)).is_ok());
    let firsts = first.len();
    let total = firsts + rest.len();
    // The parents' and canaries' own results go through their rules once all of them are
    // applied (a canary's notification sees whether the monitor is offline).
    let mut deferred: Deferred = Vec::new();
    let settle = |gate: &mut alerts::Gate, deferred: &mut Deferred| -> Result<(), StoreError> {
        gate.now_of = alerts::targets_now(tx, &watched)?;
        alerts::monitor(tx, gate, now_micros)?;
        for (id, r, observed) in deferred.drain(..) {
            alerts::observe(tx, id, &r, &observed, gate, now_micros)?;
        }
        Ok(())
    };
    for (i, (id, events)) in first.into_iter().chain(rest).enumerate() {
        if i == firsts && !watched.is_empty() {
            settle(&mut gate, &mut deferred)?;
        }
        let target_rules = rules.of(id);
        let mut observed = Vec::new();
        // A removed target's late results (a probe in flight at its removal) are history
        // only: its state ended with it, and an incident opened now would never close.
        let gone: Option<bool> = removed.query_row([id], |r| r.get(0)).optional()?;
        if gone == Some(true) {
            continue;
        }
        let (mut state, mut incident) = stored_state(tx, id)?.unwrap_or_default();
        let mut newest: Option<(&ProbeEvent, Micros)> = None;
        for (e, t) in events {
            let check = Check {
                time: from_micros(t),
                uuid: e.envelope.uuid,
                up: is_up(e),
                degraded: e.degraded == Some(true),
            };
            if state.takes(&check).is_err() {
                continue;
            }
            for tr in state.apply(Input::Result(check), now) {
                match (tr, incident) {
                    (Transition::IncidentOpened { at }, _) => {
                        open.execute(params![
                            id,
                            to_micros(at),
                            e.error_kind.map(|k| k.as_str()),
                            e.error.as_deref().map(clip_error),
                        ])?;
                        incident = Some(tx.last_insert_rowid());
                    }
                    (Transition::IncidentFailedAgain { .. }, Some(i)) => {
                        more.execute([i])?;
                    }
                    (Transition::IncidentClosed { at, reason, .. }, Some(i)) => {
                        close.execute(params![i, to_micros(at), reason.stored()])?;
                        incident = None;
                    }
                    _ => {}
                }
            }
            if target_rules.is_some() {
                observed.push((observed_of(e, t), incident));
            }
            newest = Some((e, t));
        }
        if let Some(r) = target_rules {
            if i < firsts {
                deferred.push((id, r.clone(), observed));
            } else {
                alerts::observe(tx, id, r, &observed, &gate, now_micros)?;
            }
        }
        if let Some((e, t)) = newest {
            save.execute(params![
                id,
                t,
                is_up(e),
                e.status_code,
                // How long it took, failed or not: readers show it as the response time of a
                // passing check only (`last_up`), /metrics as the probe's duration.
                e.response_time_ms as i64,
                e.error_kind.map(|k| k.as_str()),
                e.error.as_deref().map(clip_error),
                state.recent.to_string(),
                state.status.as_str(),
                e.tls_cert_not_after.map(to_micros),
                incident,
                e.envelope.uuid.to_string(),
            ])?;
        }
    }
    // Only parents and canaries in the batch: their states decide the monitor's too.
    if firsts == total && !watched.is_empty() {
        settle(&mut gate, &mut deferred)?;
    }
    Ok(())
}

/// A result as alert rules and their notices see it.
fn observed_of(e: &ProbeEvent, t: Micros) -> Observed {
    Observed {
        up: is_up(e),
        degraded: e.degraded == Some(true),
        cert_not_after: e.tls_cert_not_after.map(to_micros),
        time: t,
        error: e.error.as_deref().map(|s| clip_error(s).to_owned()),
        error_kind: e.error_kind.map(|k| k.as_str().to_owned()),
        status_code: e.status_code,
        response_time_ms: Some(e.response_time_ms as f64),
    }
}

/// Registers the configured targets (name, URL, tags, interval), keeping their live state; a
/// removed target configured again is back.
pub fn sync_targets(
    conn: &mut Connection,
    targets: &[TargetInfo],
    now: Micros,
) -> Result<(), StoreError> {
    let tx = conn.transaction()?;
    upsert_infos(&tx, targets, now)?;
    tx.commit()?;
    Ok(())
}

/// [`sync_targets`] inside a transaction.
pub fn upsert_infos(
    tx: &Transaction,
    targets: &[TargetInfo],
    now: Micros,
) -> Result<(), StoreError> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO targets (id, url, name, protocol, hostname, port, path, tags, interval_s,
           first_seen, last_seen)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)
         ON CONFLICT (id) DO UPDATE SET url = excluded.url, name = excluded.name,
           tags = excluded.tags, interval_s = excluded.interval_s, removed_at = NULL",
    )?;
    for t in targets {
        stmt.execute(params![
            t.id,
            t.url,
            t.name,
            t.protocol,
            t.hostname,
            t.port,
            t.path,
            serde_json::to_string(&t.tags).unwrap_or_else(|_| "[]".into()),
            t.interval_s,
            now,
        ])?;
    }
    Ok(())
}

/// Which stored targets to mark removed.
#[derive(Debug, Clone, Copy)]
pub enum Gone<'a> {
    /// Every one but these ids.
    AllBut(&'a [String]),
    /// These ids.
    These(&'a [String]),
}

/// Marks every target not in `configured` (ids) removed as of `now`, and closes its open
/// incident with the reason [`END_REASON_REMOVED`]; returns how many were removed. History
/// stays. Called at startup with the configuration's targets, so a target deleted from it, or
/// renamed (its id is derived from name and URL), does not stay "unknown" with an incident
/// open forever.
pub fn remove_unconfigured(
    conn: &mut Connection,
    configured: &[String],
    now: Micros,
) -> Result<usize, StoreError> {
    let tx = conn.transaction()?;
    let n = mark_removed(&tx, Gone::AllBut(configured), now)?;
    tx.commit()?;
    Ok(n)
}

/// Marks the `gone` targets that are not removed yet removed as of `now` and closes their
/// open incidents with the reason [`END_REASON_REMOVED`]; returns how many were removed.
pub fn mark_removed(tx: &Transaction, gone: Gone, now: Micros) -> Result<usize, StoreError> {
    let (ids, op) = match gone {
        Gone::AllBut(ids) => (ids, "NOT IN"),
        Gone::These(ids) => (ids, "IN"),
    };
    let ids = serde_json::to_string(ids).unwrap_or_else(|_| "[]".into());
    let gone = format!(
        "SELECT id FROM targets WHERE removed_at IS NULL
         AND id {op} (SELECT value FROM json_each(?1))"
    );
    // Their fired alert rules resolve.
    let with_rules: Vec<String> = tx
        .prepare(&format!(
            "SELECT DISTINCT target_id FROM alert_rules WHERE target_id IN ({gone})"
        ))?
        .query_map([&ids], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for id in with_rules {
        alerts::end(tx, &id, None, ResolveReason::Removed, now)?;
    }
    tx.execute(
        &format!(
            "UPDATE incidents SET ended_at = max(?2, started_at), end_reason = ?3
             WHERE ended_at IS NULL AND target_id IN ({gone})"
        ),
        params![ids, now, END_REASON_REMOVED],
    )?;
    Ok(tx.execute(
        &format!("UPDATE targets SET removed_at = ?2, open_incident = NULL WHERE id IN ({gone})"),
        params![ids, now],
    )?)
}

/// The ids of the stored targets whose status is paused.
pub fn paused_ids(tx: &Transaction) -> Result<std::collections::HashSet<String>, StoreError> {
    let mut stmt = tx.prepare_cached("SELECT id FROM targets WHERE status = 'paused'")?;
    let ids = stmt
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(ids)
}

/// Pauses or resumes the target `id` through the target-state machine (paused: its open
/// incident ends with the reason `target paused`; resumed: unknown until its next result).
/// Nothing happens to a target not stored or already so.
pub fn set_paused(
    tx: &Transaction,
    id: &str,
    paused: bool,
    rules: Option<&[Rule]>,
    now: Micros,
) -> Result<(), StoreError> {
    let loaded = stored_state(tx, id)?;
    let Some((mut state, mut incident)) = loaded else {
        return Ok(());
    };
    let input = if paused { Input::Pause } else { Input::Resume };
    let transitions = state.apply(input, from_micros(now));
    if transitions.is_empty() {
        return Ok(());
    }
    for tr in transitions {
        if let (Transition::IncidentClosed { at, reason, .. }, Some(i)) = (tr, incident) {
            tx.prepare_cached("UPDATE incidents SET ended_at = ?2, end_reason = ?3 WHERE id = ?1")?
                .execute(params![i, to_micros(at), reason.stored()])?;
            incident = None;
        }
    }
    tx.prepare_cached("UPDATE targets SET status = ?2, open_incident = ?3 WHERE id = ?1")?
        .execute(params![id, state.status.as_str(), incident])?;
    if paused {
        // A paused target's fired alert rules resolve; its counters start again on resume.
        alerts::end(tx, id, rules, ResolveReason::Paused, now)?;
    }
    Ok(())
}
