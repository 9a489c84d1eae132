//! Rewrites a store of the row-per-event schema (version 3) into the compact one (version 4)
//! next to it (`FILE.upgrading`), then renames it over the old file. The new file records how
//! far it got in the same transactions as the data, so an upgrade killed midway goes on where
//! it stopped; the old file is read only until the rename. One process upgrades at a time (a
//! lock file), the others wait and then find the file upgraded. The free disk space needed is
//! checked and stated first.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension, params};

use super::pack::Strings;
use super::write::{in_tx, target_id};
use super::{WriteConn, raw, rollups, schema};
use crate::event::{ErrorKind, ProbeEvent};
use crate::store::{Micros, StoreError, from_micros, now_micros};

/// Why a store could not be upgraded.
#[derive(Debug, thiserror::Error)]
pub enum UpgradeError {
    #[error(
        "upgrading it needs about {needed} MB free next to it, {free} MB are: free some space and start again"
    )]
    NoSpace { needed: u64, free: u64 },
    #[error("upgrading it: {0}")]
    Io(#[from] std::io::Error),
    #[error("upgrading it: {0}")]
    Store(#[from] StoreError),
    #[error("upgrading it: {0}")]
    Schema(#[from] schema::SchemaError),
}

impl From<rusqlite::Error> for UpgradeError {
    fn from(e: rusqlite::Error) -> Self {
        UpgradeError::Store(e.into())
    }
}

/// Bytes the new file needs per old raw event and per old hour rollup, generously (it keeps
/// about 40 and 25), and in all.
const BYTES_PER_EVENT: u64 = 64;
const BYTES_PER_HOUR: u64 = 64;
const MARGIN: u64 = 64 << 20;

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Upgrades the store at `path` (of version 3) to version 4; `progress` hears how it goes.
pub fn upgrade(path: &Path, progress: &dyn Fn(&str)) -> Result<(), UpgradeError> {
    locked(path, progress, None)
}

/// An upgrade that stops after the history of `targets` targets, as one killed then would
/// (for tests of the resumption).
#[doc(hidden)]
pub fn upgrade_partly(
    path: &Path,
    targets: usize,
    progress: &dyn Fn(&str),
) -> Result<(), UpgradeError> {
    locked(path, progress, Some(targets))
}

fn locked(
    path: &Path,
    progress: &dyn Fn(&str),
    stop_after: Option<usize>,
) -> Result<(), UpgradeError> {
    let lock = std::fs::File::create(with_suffix(path, ".upgrade-lock"))?;
    lock.lock()?;
    let result = upgrade_locked(path, progress, stop_after);
    drop(lock);
    let _ = std::fs::remove_file(with_suffix(path, ".upgrade-lock"));
    result
}

fn upgrade_locked(
    path: &Path,
    progress: &dyn Fn(&str),
    stop_after: Option<usize>,
) -> Result<(), UpgradeError> {
    let old = Connection::open(path)?;
    old.busy_timeout(Duration::from_secs(10))?;
    if schema::user_version(&old)? != schema::ROW_PER_EVENT {
        // Another process did it while this one waited.
        return Ok(());
    }
    // Everything in the main file, so the rename carries it all.
    old.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    let count = |table: &str| -> Result<u64, rusqlite::Error> {
        old.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| {
            r.get::<_, i64>(0)
        })
        .map(|n| n as u64)
    };
    let (events, hours) = (count("probe_events")?, count("rollup_hour")?);
    let needed = events * BYTES_PER_EVENT + hours * BYTES_PER_HOUR + MARGIN;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let free = fs4::available_space(dir)?;
    progress(&format!(
        "this store keeps one row per event ({events} events, {hours} hour rollups); rewriting it \
         into the compact form next to it needs up to {} MB, {} MB are free",
        needed >> 20,
        free >> 20
    ));
    let next = with_suffix(path, ".upgrading");
    let resuming = next.exists();
    if !resuming && free < needed {
        return Err(UpgradeError::NoSpace {
            needed: needed >> 20,
            free: free >> 20,
        });
    }
    drop(old);
    let conn = Connection::open(&next)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")?;
    super::write::register_functions(&conn)?;
    schema::migrate(&conn)?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS upgrade_progress (step TEXT PRIMARY KEY, at INTEGER NOT NULL)",
    )?;
    conn.execute("ATTACH DATABASE ?1 AS old", [path.to_string_lossy()])?;
    let mut w = WriteConn {
        conn,
        strings: Strings::default(),
        alerts: Default::default(),
    };
    if resuming {
        progress("going on with an upgrade that stopped midway");
    }
    copy_targets(&mut w)?;
    if !copy_history(&mut w, progress, stop_after)? {
        return Ok(());
    }
    w.conn
        .execute_batch("DETACH DATABASE old; DROP TABLE upgrade_progress;")?;
    w.conn
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    drop(w);
    std::fs::File::open(&next)?.sync_all()?;
    for stale in ["-wal", "-shm"] {
        match std::fs::remove_file(with_suffix(path, stale)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
    }
    std::fs::rename(&next, path)?;
    if let Some(d) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(d)?.sync_all()?;
    }
    progress("done: the store is of the compact form now");
    Ok(())
}

fn step_at(c: &Connection, step: &str) -> Result<Option<i64>, rusqlite::Error> {
    c.query_row(
        "SELECT at FROM upgrade_progress WHERE step = ?1",
        [step],
        |r| r.get(0),
    )
    .optional()
}

fn set_step(c: &Connection, step: &str, at: i64) -> Result<(), rusqlite::Error> {
    c.execute(
        "INSERT INTO upgrade_progress (step, at) VALUES (?1, ?2)
         ON CONFLICT (step) DO UPDATE SET at = excluded.at",
        params![step, at],
    )?;
    Ok(())
}

const TARGET_COLS: &str = "id, url, name, protocol, hostname, port, path, tags, first_seen,
    last_seen, interval_s, last_event_time, last_up, last_status_code, last_response_ms,
    last_error_kind, last_error, recent, status, cert_not_after, open_incident, removed_at,
    last_event_uuid";

/// Targets (with their live state) and incidents, in one transaction.
fn copy_targets(w: &mut WriteConn) -> Result<(), UpgradeError> {
    if step_at(&w.conn, "targets")?.is_some() {
        return Ok(());
    }
    in_tx(w, |tx, _| {
        tx.execute_batch(&format!(
            "INSERT INTO main.targets ({TARGET_COLS}) SELECT {TARGET_COLS} FROM old.targets
               ORDER BY rowid;
             -- Ids with history but no row (not left by a writer, but cheap to keep).
             INSERT INTO main.targets (id, first_seen, last_seen)
             SELECT target_id, min(t), max(t) FROM (
               SELECT target_id, bucket AS t FROM old.rollup_hour
               UNION ALL SELECT target_id, bucket FROM old.rollup_day
               UNION ALL SELECT target_id, event_time FROM old.probe_events
             ) WHERE target_id IS NOT NULL AND target_id NOT IN (SELECT id FROM main.targets)
             GROUP BY target_id;
             INSERT INTO main.incidents (id, target_id, started_at, ended_at, error_kind, error,
               failed_checks, end_reason)
             SELECT id, target_id, started_at, ended_at, error_kind, error, failed_checks,
               end_reason FROM old.incidents;"
        ))?;
        set_step(tx, "targets", 0)?;
        Ok(())
    })?;
    Ok(())
}

/// Each target's raw events (packed by hour) and rollups (packed by day), a target per
/// transaction, in key order; the progress is the last key done. False when it stopped after
/// `stop_after` targets.
fn copy_history(
    w: &mut WriteConn,
    progress: &dyn Fn(&str),
    stop_after: Option<usize>,
) -> Result<bool, UpgradeError> {
    let done = step_at(&w.conn, "history")?.unwrap_or(0);
    let keys: Vec<(i64, String)> = w
        .conn
        .prepare("SELECT key, id FROM main.targets WHERE key > ?1 ORDER BY key")?
        .query_map([done], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let now = now_micros();
    let total = keys.len();
    let mut said = Instant::now();
    for (n, (key, id)) in keys.into_iter().enumerate() {
        if stop_after == Some(n) {
            return Ok(false);
        }
        in_tx(w, |tx, strings| {
            let events = old_events(tx, &id)?;
            let mut by_hour: BTreeMap<Micros, Vec<ProbeEvent>> = BTreeMap::new();
            for (t, e) in events {
                by_hour.entry(raw::hour_of(t)).or_default().push(e);
            }
            for (hour, events) in by_hour {
                if hour < raw::pack_limit(now) {
                    raw::put_block(tx, strings, key, hour, &events)?;
                } else {
                    for e in &events {
                        let t = crate::store::to_micros(e.envelope.event_time);
                        raw::insert(tx, strings, key, e, t)?;
                    }
                }
            }
            copy_rollups(tx, key, &id, now)?;
            set_step(tx, "history", key)?;
            Ok(())
        })?;
        if said.elapsed() >= Duration::from_secs(5) {
            progress(&format!("{} of {total} targets", n + 1));
            said = Instant::now();
        }
    }
    Ok(true)
}

/// Target `id`'s hour rollups, packed by day, with the days' checks and passes; the hours not
/// closed yet stay unpacked.
fn copy_rollups(tx: &Connection, key: i64, id: &str, now: Micros) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO main.rollup_day (target, day, checks, up)
         SELECT ?1, bucket, checks, up FROM old.rollup_day WHERE target_id = ?2",
        params![key, id],
    )?;
    // As the writer would have left them: unpacked (the day's sums are there already), then
    // packed up to the limit.
    tx.execute(
        "INSERT INTO main.rollup_hour (target, bucket, checks, up, timed, sum_ms, min_ms, max_ms,
           sum_dns_ms, sum_connect_ms, sum_tls_ms, sum_ttfb_ms, sum_transfer_ms, hist)
         SELECT ?1, bucket, checks, up, coalesce(timed, checks), sum_ms, min_ms, max_ms,
           sum_dns_ms, sum_connect_ms, sum_tls_ms, sum_ttfb_ms, sum_transfer_ms, hist
         FROM old.rollup_hour WHERE target_id = ?2",
        params![key, id],
    )?;
    rollups::pack(tx, key, raw::pack_limit(now))?;
    Ok(())
}

/// Target `id`'s events in the old table, as the events they were (the row-per-event schema
/// did not keep an event's `name`).
fn old_events(c: &Connection, id: &str) -> Result<Vec<(Micros, ProbeEvent)>, StoreError> {
    let mut stmt = c.prepare_cached(
        "SELECT uuid, event_time, schema_title, schema_version, protocol, hostname, port, path,
           status_code, response_time_ms, error, regex, matches_regex, url, location, up,
           error_kind, phases_ms_dns, phases_ms_connect, phases_ms_tls, phases_ms_ttfb,
           phases_ms_transfer, ip, http_version, body_bytes, redirects, tls_cert_not_after
         FROM old.probe_events WHERE target_id = ?1 ORDER BY event_time",
    )?;
    let rows = stmt
        .query_map([id], |r| {
            let t: Micros = r.get(1)?;
            let uuid: String = r.get(0)?;
            let mut e = ProbeEvent::new(
                from_micros(t),
                &r.get::<_, Option<String>>(4)?.unwrap_or_default(),
                &r.get::<_, String>(5)?,
                r.get(6)?,
            );
            e.envelope.uuid = uuid.parse().unwrap_or_default();
            e.envelope.schema_title = r.get(2)?;
            e.envelope.schema_version = r.get(3)?;
            e.path = r.get::<_, Option<String>>(7)?.unwrap_or_default();
            e.status_code = r.get(8)?;
            e.response_time_ms = r.get::<_, i64>(9)?.max(0) as u64;
            e.error = r.get(10)?;
            e.regex = r.get(11)?;
            e.matches_regex = r.get(12)?;
            e.url = r.get(13)?;
            e.location = r.get(14)?;
            e.up = r.get(15)?;
            e.error_kind = r
                .get::<_, Option<String>>(16)?
                .and_then(|k| ErrorKind::ALL.into_iter().find(|x| x.as_str() == k));
            let p: [Option<f64>; 5] = [r.get(17)?, r.get(18)?, r.get(19)?, r.get(20)?, r.get(21)?];
            if p.iter().any(Option::is_some) {
                e.phases_ms = Some(crate::event::Phases {
                    dns: p[0],
                    connect: p[1],
                    tls: p[2],
                    ttfb: p[3],
                    transfer: p[4],
                });
            }
            e.ip = r.get(22)?;
            e.http_version = r.get(23)?;
            e.body_bytes = r.get::<_, Option<i64>>(24)?.map(|b| b.max(0) as u64);
            e.redirects = r.get(25)?;
            e.tls_cert_not_after = r.get::<_, Option<Micros>>(26)?.map(from_micros);
            Ok((t, e))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    // The original's events carry no target: the old store kept their address as its id.
    Ok(rows
        .into_iter()
        .map(|(t, mut e)| {
            if target_id(&e) != id {
                e.target = Some(id.to_owned());
            }
            (t, e)
        })
        .collect())
}
