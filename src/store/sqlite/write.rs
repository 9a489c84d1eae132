//! Writing: a batch of events goes in one transaction. Each event is inserted with
//! `ON CONFLICT DO NOTHING` on its uuid, and only the rows that really went in update the
//! rollups, the targets' live state and the incidents, so a replayed batch changes nothing.

use crate::store::rollup::Agg;
use std::collections::{BTreeMap, HashMap};

use rusqlite::functions::FunctionFlags;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use crate::config::StoreSettings;
use crate::event::{Event, ProbeEvent};
use crate::state::{Check, Input, Last, TargetState, Transition};
use crate::store::hist::Histogram;
use crate::store::{
    DAY, END_REASON_REMOVED, HOUR, MINUTE, Micros, StoreError, clip_error, from_micros, now_micros,
    to_micros,
};

/// What one batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ingested {
    /// Probe events stored for the first time.
    pub inserted: usize,
    /// Probe events already stored (same uuid): skipped.
    pub duplicates: usize,
    /// Events of other types, which this store does not keep.
    pub ignored: usize,
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
    pub port: u16,
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
            hostname: t.hostname.clone(),
            port: t.port,
            path: t.path.clone(),
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
    e.target
        .clone()
        .unwrap_or_else(|| format!("{}://{}:{}{}", e.protocol, e.hostname, e.port, e.path))
}

/// The verdict of an event: its `up`, or for the original's events a 2xx/3xx without error.
pub fn is_up(e: &ProbeEvent) -> bool {
    e.up.unwrap_or(e.error.is_none() && (200..400).contains(&e.status_code))
}

fn phases(e: &ProbeEvent) -> [Option<f64>; 5] {
    let p = e.phases_ms.unwrap_or_default();
    [p.dns, p.connect, p.tls, p.ttfb, p.transfer]
}

const INSERT_EVENT: &str =
    "INSERT INTO probe_events (uuid, event_time, schema_title, schema_version,
    protocol, hostname, port, path, status_code, response_time_ms, error, regex, matches_regex,
    target_id, url, location, up, error_kind, phases_ms_dns, phases_ms_connect, phases_ms_tls,
    phases_ms_ttfb, phases_ms_transfer, ip, http_version, body_bytes, redirects, tls_cert_not_after)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19,
    ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28)
    ON CONFLICT (uuid) DO NOTHING";

fn rollup_upsert(table: &str) -> String {
    format!(
        "INSERT INTO {table} (target_id, bucket, checks, up, sum_ms, min_ms, max_ms, sum_dns_ms,
         sum_connect_ms, sum_tls_ms, sum_ttfb_ms, sum_transfer_ms, hist, timed)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
         ON CONFLICT (target_id, bucket) DO UPDATE SET
           checks = checks + excluded.checks, up = up + excluded.up,
           timed = coalesce(timed, checks) + excluded.timed,
           sum_ms = sum_ms + excluded.sum_ms,
           -- the extremes of a side without timed checks mean nothing
           min_ms = CASE WHEN excluded.timed = 0 THEN min_ms
             WHEN coalesce(timed, checks) = 0 THEN excluded.min_ms
             ELSE min(min_ms, excluded.min_ms) END,
           max_ms = CASE WHEN excluded.timed = 0 THEN max_ms
             WHEN coalesce(timed, checks) = 0 THEN excluded.max_ms
             ELSE max(max_ms, excluded.max_ms) END,
           sum_dns_ms = sum_dns_ms + excluded.sum_dns_ms,
           sum_connect_ms = sum_connect_ms + excluded.sum_connect_ms,
           sum_tls_ms = sum_tls_ms + excluded.sum_tls_ms,
           sum_ttfb_ms = sum_ttfb_ms + excluded.sum_ttfb_ms,
           sum_transfer_ms = sum_transfer_ms + excluded.sum_transfer_ms,
           hist = hist_merge(hist, excluded.hist)"
    )
}

/// Writes a batch in one transaction; see the module doc.
pub fn ingest(conn: &mut Connection, events: &[Event]) -> Result<Ingested, StoreError> {
    let tx = conn.transaction()?;
    let mut done = Ingested::default();
    let mut inserted: Vec<(&ProbeEvent, String, Micros)> = Vec::with_capacity(events.len());
    {
        let mut stmt = tx.prepare_cached(INSERT_EVENT)?;
        for ev in events {
            let Event::Probe(e) = ev else {
                done.ignored += 1;
                continue;
            };
            let t = to_micros(e.envelope.event_time);
            let id = target_id(e);
            let [dns, connect, tls, ttfb, transfer] = phases(e);
            let n = stmt.execute(params![
                e.envelope.uuid.to_string(),
                t,
                e.envelope.schema_title,
                e.envelope.schema_version,
                e.protocol,
                e.hostname,
                e.port,
                e.path,
                e.status_code,
                e.response_time_ms as i64,
                e.error,
                e.regex,
                e.matches_regex,
                id,
                e.url,
                e.location,
                e.up,
                e.error_kind.map(|k| k.as_str()),
                dns,
                connect,
                tls,
                ttfb,
                transfer,
                e.ip,
                e.http_version,
                e.body_bytes.map(|b| b as i64),
                e.redirects,
                e.tls_cert_not_after.map(to_micros),
            ])?;
            if n == 1 {
                done.inserted += 1;
                inserted.push((e, id, t));
            } else {
                done.duplicates += 1;
            }
        }
    }
    if !inserted.is_empty() {
        upsert_targets(&tx, &inserted)?;
        update_rollups(&tx, &inserted)?;
        update_state(&tx, &mut inserted)?;
    }
    tx.commit()?;
    Ok(done)
}

fn upsert_targets(
    tx: &Transaction,
    rows: &[(&ProbeEvent, String, Micros)],
) -> Result<(), StoreError> {
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
             ELSE targets.removed_at END",
    )?;
    for (id, (e, first, last)) in seen {
        let url = e.url.clone().unwrap_or_else(|| id.to_owned());
        stmt.execute(params![
            id,
            url,
            e.name.as_deref().unwrap_or(&url),
            e.protocol,
            e.hostname,
            e.port,
            e.path,
            first,
            last
        ])?;
    }
    Ok(())
}

fn update_rollups(
    tx: &Transaction,
    rows: &[(&ProbeEvent, String, Micros)],
) -> Result<(), StoreError> {
    for (table, width) in [
        ("rollup_minute", MINUTE),
        ("rollup_hour", HOUR),
        ("rollup_day", DAY),
    ] {
        let mut aggs: HashMap<(&str, Micros), Agg> = HashMap::new();
        for (e, id, t) in rows {
            let bucket = t - t.rem_euclid(width);
            aggs.entry((id.as_str(), bucket)).or_default().add(
                e.response_time_ms as f64,
                is_up(e),
                phases(e),
            );
        }
        let mut stmt = tx.prepare_cached(&rollup_upsert(table))?;
        for ((id, bucket), a) in aggs {
            stmt.execute(params![
                id,
                bucket,
                a.checks,
                a.up,
                a.sum_ms,
                a.min_ms,
                a.max_ms,
                a.sums[0],
                a.sums[1],
                a.sums[2],
                a.sums[3],
                a.sums[4],
                a.hist.encode(),
                a.timed,
            ])?;
        }
    }
    Ok(())
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

/// Moves each target's live state and incidents forward through its new events with the
/// target-state machine, in (time, uuid) order. An event the machine does not take (older
/// than the target's last applied one) is history: it counts in the rollups only.
fn update_state(
    tx: &Transaction,
    rows: &mut [(&ProbeEvent, String, Micros)],
) -> Result<(), StoreError> {
    rows.sort_by(|a, b| (&a.1, a.2, a.0.envelope.uuid).cmp(&(&b.1, b.2, b.0.envelope.uuid)));
    let mut by_target: BTreeMap<&str, Vec<(&ProbeEvent, Micros)>> = BTreeMap::new();
    for (e, id, t) in rows.iter() {
        by_target.entry(id.as_str()).or_default().push((e, *t));
    }
    let mut load = tx.prepare_cached(
        "SELECT last_event_time, last_event_uuid, recent, status, open_incident,
           (SELECT started_at FROM incidents WHERE incidents.id = targets.open_incident)
         FROM targets WHERE id = ?1",
    )?;
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
    let now = from_micros(now_micros());
    for (id, events) in by_target {
        let (mut state, mut incident) = load
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
            .optional()?
            .unwrap_or_default();
        let mut newest: Option<(&ProbeEvent, Micros)> = None;
        for (e, t) in events {
            let check = Check {
                time: from_micros(t),
                uuid: e.envelope.uuid,
                up: is_up(e),
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
            newest = Some((e, t));
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
    Ok(())
}

/// Registers the configured targets (name, URL, tags, interval), keeping their live state; a
/// removed target configured again is back.
pub fn sync_targets(
    conn: &mut Connection,
    targets: &[TargetInfo],
    now: Micros,
) -> Result<(), StoreError> {
    let tx = conn.transaction()?;
    {
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
    }
    tx.commit()?;
    Ok(())
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
    let keep = serde_json::to_string(configured).unwrap_or_else(|_| "[]".into());
    let tx = conn.transaction()?;
    let gone = "SELECT id FROM targets WHERE removed_at IS NULL
        AND id NOT IN (SELECT value FROM json_each(?1))";
    tx.execute(
        &format!(
            "UPDATE incidents SET ended_at = max(?2, started_at), end_reason = ?3
             WHERE ended_at IS NULL AND target_id IN ({gone})"
        ),
        params![keep, now, END_REASON_REMOVED],
    )?;
    let n = tx.execute(
        &format!("UPDATE targets SET removed_at = ?2, open_incident = NULL WHERE id IN ({gone})"),
        params![keep, now],
    )?;
    tx.commit()?;
    Ok(n)
}

/// Rows deleted per table and call, so the writer never waits long behind a prune.
pub const PRUNE_CHUNK: usize = 20_000;

/// Deletes one chunk of everything past its retention; returns the rows deleted (call again
/// while it is above zero).
pub fn prune(conn: &mut Connection, s: &StoreSettings, now: Micros) -> Result<usize, StoreError> {
    let cut = |d: std::time::Duration| now - d.as_micros() as Micros;
    let mut n = 0;
    n += conn.execute(
        "DELETE FROM probe_events WHERE rowid IN
           (SELECT rowid FROM probe_events WHERE event_time < ?1 LIMIT ?2)",
        params![cut(s.retention_events), PRUNE_CHUNK as i64],
    )?;
    for (table, d) in [
        ("rollup_minute", s.retention_minute),
        ("rollup_hour", s.retention_hour),
        ("rollup_day", s.retention_hour),
    ] {
        n += conn.execute(
            &format!(
                "DELETE FROM {table} WHERE (target_id, bucket) IN
                   (SELECT target_id, bucket FROM {table} WHERE bucket < ?1 LIMIT ?2)"
            ),
            params![cut(d), PRUNE_CHUNK as i64],
        )?;
    }
    n += conn.execute(
        "DELETE FROM incidents WHERE id IN
           (SELECT id FROM incidents WHERE ended_at < ?1 LIMIT ?2)",
        params![cut(s.retention_hour), PRUNE_CHUNK as i64],
    )?;
    Ok(n)
}
