//! Rollups of the compact store: each target's hours not yet packed in `rollup_hour` (sums, so
//! rows merge by addition), and per target and UTC day one `rollup_day` row with the day's
//! checks and passes (kept live: the 7- and 30-day uptime read them) and its closed hours
//! packed together (`hours`). Steps under an hour come from raw events, not from here.

use std::collections::{BTreeMap, HashMap};

use rusqlite::{Connection, OptionalExtension, params};

use super::pack;
use crate::store::hist::Histogram;
use crate::store::rollup::Agg;
use crate::store::{DAY, HOUR, Micros, StoreError};

/// The start of the UTC day of `t`.
pub fn day_of(t: Micros) -> Micros {
    t.saturating_sub(t.rem_euclid(DAY))
}

const UPSERT_HOUR: &str = "INSERT INTO rollup_hour (target, bucket, checks, up, timed, sum_ms,
    min_ms, max_ms, sum_dns_ms, sum_connect_ms, sum_tls_ms, sum_ttfb_ms, sum_transfer_ms, hist)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
    ON CONFLICT (target, bucket) DO UPDATE SET
      checks = checks + excluded.checks, up = up + excluded.up,
      timed = timed + excluded.timed,
      sum_ms = sum_ms + excluded.sum_ms,
      -- the extremes of a side without timed checks mean nothing
      min_ms = CASE WHEN excluded.timed = 0 THEN min_ms WHEN timed = 0 THEN excluded.min_ms
        ELSE min(min_ms, excluded.min_ms) END,
      max_ms = CASE WHEN excluded.timed = 0 THEN max_ms WHEN timed = 0 THEN excluded.max_ms
        ELSE max(max_ms, excluded.max_ms) END,
      sum_dns_ms = sum_dns_ms + excluded.sum_dns_ms,
      sum_connect_ms = sum_connect_ms + excluded.sum_connect_ms,
      sum_tls_ms = sum_tls_ms + excluded.sum_tls_ms,
      sum_ttfb_ms = sum_ttfb_ms + excluded.sum_ttfb_ms,
      sum_transfer_ms = sum_transfer_ms + excluded.sum_transfer_ms,
      hist = hist_merge(hist, excluded.hist)";

const UPSERT_DAY: &str = "INSERT INTO rollup_day (target, day, checks, up) VALUES (?1, ?2, ?3, ?4)
    ON CONFLICT (target, day) DO UPDATE SET checks = checks + excluded.checks,
      up = up + excluded.up";

/// Adds the aggregates of new events, per (target key, hour).
pub fn add(c: &Connection, hours: &HashMap<(i64, Micros), Agg>) -> Result<(), StoreError> {
    let mut hour = c.prepare_cached(UPSERT_HOUR)?;
    let mut days: HashMap<(i64, Micros), (i64, i64)> = HashMap::new();
    for ((key, bucket), a) in hours {
        put_hour(&mut hour, *key, *bucket, a)?;
        let d = days.entry((*key, day_of(*bucket))).or_default();
        d.0 += a.checks;
        d.1 += a.up;
    }
    let mut day = c.prepare_cached(UPSERT_DAY)?;
    for ((key, d), (checks, up)) in days {
        day.execute(params![key, d, checks, up])?;
    }
    Ok(())
}

fn put_hour(
    stmt: &mut rusqlite::CachedStatement,
    key: i64,
    bucket: Micros,
    a: &Agg,
) -> Result<(), StoreError> {
    stmt.execute(params![
        key,
        bucket,
        a.checks,
        a.up,
        a.timed,
        a.sum_ms,
        a.min_ms,
        a.max_ms,
        a.sums[0],
        a.sums[1],
        a.sums[2],
        a.sums[3],
        a.sums[4],
        a.hist.encode(),
    ])?;
    Ok(())
}

/// The checks and passes of these hours.
pub fn checks_and_up(hours: &[(Micros, Agg)]) -> (i64, i64) {
    hours
        .iter()
        .fold((0, 0), |(c, u), (_, a)| (c + a.checks, u + a.up))
}

/// Writes a whole packed day straight (the benchmark's generator; the day is new).
pub fn put_day(
    c: &Connection,
    key: i64,
    day: Micros,
    hours: &[(Micros, Agg)],
) -> Result<(), StoreError> {
    let (checks, up) = checks_and_up(hours);
    c.prepare_cached(
        "INSERT INTO rollup_day (target, day, checks, up, hours) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        key,
        day,
        checks,
        up,
        pack::encode_hours(hours, pack::Compression::DEFAULT)?
    ])?;
    Ok(())
}

fn read_hour(r: &rusqlite::Row) -> rusqlite::Result<(Micros, Agg)> {
    let mut sums = [0.0; 5];
    for (i, s) in sums.iter_mut().enumerate() {
        *s = r.get(8 + i)?;
    }
    Ok((
        r.get(1)?,
        Agg {
            checks: r.get(2)?,
            up: r.get(3)?,
            timed: r.get(4)?,
            sum_ms: r.get(5)?,
            min_ms: r.get(6)?,
            max_ms: r.get(7)?,
            sums,
            hist: Histogram::decode(r.get_ref(13)?.as_blob().unwrap_or_default()),
        },
    ))
}

const HOUR_COLS: &str = "target, bucket, checks, up, timed, sum_ms, min_ms, max_ms, sum_dns_ms,
    sum_connect_ms, sum_tls_ms, sum_ttfb_ms, sum_transfer_ms, hist";

/// Packs target `key`'s hours before `limit` into their days; returns the hours packed.
pub fn pack(c: &Connection, key: i64, limit: Micros) -> Result<usize, StoreError> {
    let pending: Vec<(Micros, Agg)> = c
        .prepare_cached(&format!(
            "SELECT {HOUR_COLS} FROM rollup_hour WHERE target = ?1 AND bucket < ?2"
        ))?
        .query_map(params![key, limit], read_hour)?
        .collect::<Result<_, _>>()?;
    if pending.is_empty() {
        return Ok(0);
    }
    let mut by_day: BTreeMap<Micros, Vec<(Micros, Agg)>> = BTreeMap::new();
    for (bucket, a) in &pending {
        by_day
            .entry(day_of(*bucket))
            .or_default()
            .push((*bucket, a.clone()));
    }
    for (day, adds) in by_day {
        let row: Option<(i64, Option<Vec<u8>>)> = c
            .prepare_cached("SELECT id, hours FROM rollup_day WHERE target = ?1 AND day = ?2")?
            .query_row(params![key, day], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let mut hours = match row.as_ref().and_then(|(_, h)| h.as_deref()) {
            Some(h) => pack::decode_hours(h)?,
            None => Vec::new(),
        };
        merge_into(&mut hours, adds);
        match row {
            Some((id, _)) => {
                c.prepare_cached("UPDATE rollup_day SET hours = ?2 WHERE id = ?1")?
                    .execute(params![
                        id,
                        pack::encode_hours(&hours, pack::Compression::DEFAULT)?
                    ])?;
            }
            // A day the writer never saw (not from this version's writer): sums from its hours.
            None => put_day(c, key, day, &hours)?,
        }
    }
    c.prepare_cached("DELETE FROM rollup_hour WHERE target = ?1 AND bucket < ?2")?
        .execute(params![key, limit])?;
    Ok(pending.len())
}

/// Merges `adds` into `hours` (sorted by bucket; same bucket added up).
fn merge_into(hours: &mut Vec<(Micros, Agg)>, adds: impl IntoIterator<Item = (Micros, Agg)>) {
    for (bucket, a) in adds {
        match hours.binary_search_by_key(&bucket, |(b, _)| *b) {
            Ok(i) => hours[i].1.merge(&a),
            Err(i) => hours.insert(i, (bucket, a)),
        }
    }
}

/// Target `key`'s hours in `[from, to)` (whole hours from `from`'s), packed or not, in order.
pub fn hours(
    c: &Connection,
    key: i64,
    from: Micros,
    to: Micros,
) -> Result<Vec<(Micros, Agg)>, StoreError> {
    let from = from.saturating_sub(from.rem_euclid(HOUR));
    let mut out: Vec<(Micros, Agg)> = Vec::new();
    let mut stmt = c.prepare_cached(
        "SELECT hours FROM rollup_day WHERE target = ?1 AND day >= ?2 AND day < ?3
           AND hours IS NOT NULL ORDER BY day",
    )?;
    let mut q = stmt.query(params![key, day_of(from), to])?;
    while let Some(r) = q.next()? {
        let day = pack::decode_hours(r.get_ref(0)?.as_blob().unwrap_or_default())?;
        out.extend(day.into_iter().filter(|(b, _)| (from..to).contains(b)));
    }
    let pending: Vec<(Micros, Agg)> = c
        .prepare_cached(&format!(
            "SELECT {HOUR_COLS} FROM rollup_hour WHERE target = ?1 AND bucket >= ?2 AND bucket < ?3"
        ))?
        .query_map(params![key, from, to], read_hour)?
        .collect::<Result<_, _>>()?;
    merge_into(&mut out, pending);
    Ok(out)
}
