//! Upkeep of the store file, a slice at a time so the writer and the dashboard get their turn
//! in between: packing closed hours ([`pack_slice`]), deleting what is past its retention
//! ([`prune`]), and returning the pages that frees to the file system ([`vacuum`]).

use std::time::{Duration, Instant};

use rusqlite::{Connection, params};

use super::write::in_tx;
use super::{WriteConn, raw, rollups};
use crate::config::StoreSettings;
use crate::store::{DAY, HOUR, Micros, StoreError};

/// How long one slice of work may hold the write lock.
pub const SLICE: Duration = Duration::from_millis(50);

/// Where packing goes on from: the next target key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cursor(pub i64);

/// What one slice packed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Packed {
    pub hours: usize,
    pub events: usize,
    /// Open rows deleted instead: their hour was past the raw horizon.
    pub dropped: usize,
    pub rollup_hours: usize,
    /// None: every target was visited (start again from the first next time).
    pub next: Option<Cursor>,
}

/// Packs the closed hours (before [`raw::pack_limit`] of `now`) of targets from `from` on, in one
/// transaction of at most about [`SLICE`]; the rows of hours past the raw `horizon` are
/// deleted instead (the pruning of raw events, which goes by block).
pub fn pack_slice(
    w: &mut WriteConn,
    from: Cursor,
    now: Micros,
    horizon: Micros,
) -> Result<Packed, StoreError> {
    let started = Instant::now();
    let limit = raw::pack_limit(now);
    in_tx(w, |tx, strings| {
        let mut done = Packed::default();
        let mut stmt = tx.prepare_cached("SELECT key FROM targets WHERE key >= ?1 ORDER BY key")?;
        let keys: Vec<i64> = stmt
            .query_map([from.0], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        for key in keys {
            if started.elapsed() >= SLICE {
                done.next = Some(Cursor(key));
                return Ok(done);
            }
            for hour in raw::open_hours(tx, key, limit)? {
                if hour + HOUR <= horizon {
                    done.dropped += raw::drop_hour(tx, key, hour)?;
                    continue;
                }
                done.events += raw::pack_hour(tx, strings, key, hour)?;
                done.hours += 1;
            }
            done.rollup_hours += rollups::pack(tx, key, limit)?;
        }
        Ok(done)
    })
}

/// Packs every closed hour, a slice at a time.
pub fn pack_all(w: &mut WriteConn, now: Micros, horizon: Micros) -> Result<Packed, StoreError> {
    let mut total = Packed::default();
    let mut at = Cursor::default();
    loop {
        let p = pack_slice(w, at, now, horizon)?;
        total.hours += p.hours;
        total.events += p.events;
        total.dropped += p.dropped;
        total.rollup_hours += p.rollup_hours;
        match p.next {
            Some(next) => at = next,
            None => return Ok(total),
        }
    }
}

/// Rows deleted per table and call, so the writer never waits long behind a prune.
pub const PRUNE_CHUNK: usize = 2_000;

/// Deletes one chunk of everything past its retention; returns the rows deleted (call again
/// while it is above zero). Raw events go by the hour (a block, or an open row of an hour not
/// packed yet), rollups by the day.
pub fn prune(conn: &mut Connection, s: &StoreSettings, now: Micros) -> Result<usize, StoreError> {
    let cut = |d: Duration| now - d.as_micros() as Micros;
    let raw_cut = raw::hour_of(cut(s.retention_events));
    let mut n = 0;
    n += conn.execute(
        "DELETE FROM event_blocks WHERE id IN
           (SELECT id FROM event_blocks WHERE hour < ?1 LIMIT ?2)",
        params![raw_cut, PRUNE_CHUNK as i64],
    )?;
    let rollup_cut = cut(s.retention_hour);
    n += conn.execute(
        "DELETE FROM rollup_day WHERE id IN
           (SELECT id FROM rollup_day WHERE day <= ?1 LIMIT ?2)",
        params![rollup_cut - DAY, PRUNE_CHUNK as i64],
    )?;
    n += conn.execute(
        "DELETE FROM rollup_hour WHERE (target, bucket) IN
           (SELECT target, bucket FROM rollup_hour WHERE bucket < ?1 LIMIT ?2)",
        params![rollup_cut - rollup_cut.rem_euclid(HOUR), PRUNE_CHUNK as i64],
    )?;
    n += conn.execute(
        "DELETE FROM incidents WHERE id IN
           (SELECT id FROM incidents WHERE ended_at < ?1 LIMIT ?2)",
        params![rollup_cut, PRUNE_CHUNK as i64],
    )?;
    // Notifications go with their incidents; one not yet sent stays until it is.
    n += conn.execute(
        "DELETE FROM notifications WHERE id IN
           (SELECT id FROM notifications WHERE created_at < ?1 AND state != 'pending' LIMIT ?2)",
        params![rollup_cut, PRUNE_CHUNK as i64],
    )?;
    Ok(n)
}

/// Pages returned to the file system per call.
const VACUUM_PAGES: i64 = 2_000;

/// Returns up to [`VACUUM_PAGES`] free pages to the file system; returns how many it returned
/// (0 when none are free, or the file is not in incremental auto-vacuum mode).
pub fn vacuum(conn: &Connection) -> Result<i64, StoreError> {
    let free = || -> Result<i64, rusqlite::Error> {
        conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))
    };
    let before = free()?;
    if before == 0 {
        return Ok(0);
    }
    let mut stmt = conn.prepare(&format!("PRAGMA incremental_vacuum({VACUUM_PAGES})"))?;
    let mut rows = stmt.query([])?;
    while rows.next()?.is_some() {}
    drop(rows);
    Ok((before - free()?).max(0))
}

/// What one step of keeping the store under its size cap did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Capped {
    /// Packed hours of raw events deleted (oldest first).
    pub blocks: usize,
    /// Days of rollups deleted (oldest first), once no raw events were left to delete.
    pub days: usize,
    /// Still above the target after this step (call again).
    pub more: bool,
}

/// Blocks or days deleted per step, so the writer never waits long.
const CAP_CHUNK: i64 = 200;

/// When the used size (pages in use and the WAL, never the file size) is above `cap`, deletes
/// a chunk of the oldest raw hours, or once none are left the oldest rollup days, towards 90 %
/// of it, whatever the retention says. Targets, their live state and incidents stay.
pub fn cap_step(conn: &Connection, cap: u64) -> Result<Capped, StoreError> {
    // The WAL counts, and deleting adds to it: empty it into the file first (as far as readers
    // let it), so what is measured is what the deletes freed.
    let used = || -> Result<u64, StoreError> {
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(super::stats::used_bytes(conn)?)
    };
    let mut done = Capped::default();
    if used()? <= cap {
        return Ok(done);
    }
    let target = cap / 10 * 9;
    done.blocks = conn.execute(
        "DELETE FROM event_blocks WHERE id IN
           (SELECT id FROM event_blocks ORDER BY hour LIMIT ?1)",
        [CAP_CHUNK],
    )?;
    if done.blocks == 0 {
        // The open hours' rows are the newest raw events: the rollup days go first.
        done.days = conn.execute(
            "DELETE FROM rollup_day WHERE id IN
               (SELECT id FROM rollup_day ORDER BY day LIMIT ?1)",
            [CAP_CHUNK],
        )?;
    }
    done.more = (done.blocks + done.days) > 0 && used()? > target;
    Ok(done)
}
