//! A target's history: its response-time series from rollups, its last events, incidents
//! and its uptime over a range.

use rusqlite::{Connection, params};

use crate::store::hist::Histogram;
use crate::store::query::SeriesSource;
use crate::store::rollup::Agg;
use crate::store::{
    EventRow, HOUR, Incident, IncidentQuery, Micros, SeriesPoint, StoreError, Uptime,
};

pub(super) fn series(
    c: &Connection,
    id: &str,
    src: &SeriesSource,
) -> Result<Vec<SeriesPoint>, StoreError> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT bucket, checks, up, sum_ms, min_ms, max_ms, sum_dns_ms, sum_connect_ms,
           sum_tls_ms, sum_ttfb_ms, sum_transfer_ms, hist, coalesce(timed, checks)
         FROM {} WHERE target_id = ?1 AND bucket >= ?2 AND bucket < ?3 ORDER BY bucket",
        src.table
    ))?;
    let mut fold = src.fold();
    let mut q = stmt.query(params![id, src.start, src.to])?;
    while let Some(r) = q.next()? {
        let mut sums = [0.0; 5];
        for (i, s) in sums.iter_mut().enumerate() {
            *s = r.get(6 + i)?;
        }
        let row = Agg {
            checks: r.get(1)?,
            up: r.get(2)?,
            timed: r.get(12)?,
            sum_ms: r.get(3)?,
            min_ms: r.get(4)?,
            max_ms: r.get(5)?,
            sums,
            hist: Histogram::decode(r.get_ref(11)?.as_blob().unwrap_or_default()),
        };
        fold.add(r.get(0)?, &row);
    }
    Ok(fold.finish())
}
pub(super) fn events(
    c: &Connection,
    id: &str,
    from: Micros,
    to: Micros,
    limit: u32,
) -> Result<Vec<EventRow>, StoreError> {
    let mut stmt = c.prepare_cached(
        "SELECT uuid, event_time, up, status_code, response_time_ms, error_kind, error,
           phases_ms_dns, phases_ms_connect, phases_ms_tls, phases_ms_ttfb, phases_ms_transfer,
           ip, http_version, location, body_bytes, redirects
         FROM probe_events WHERE target_id = ?1 AND event_time >= ?2 AND event_time < ?3
         ORDER BY event_time DESC LIMIT ?4",
    )?;
    let rows = stmt
        .query_map(params![id, from, to, limit.min(10_000)], |r| {
            Ok(EventRow {
                uuid: r.get(0)?,
                event_time: r.get(1)?,
                up: r.get(2)?,
                status_code: r.get(3)?,
                response_time_ms: r.get(4)?,
                error_kind: r.get(5)?,
                error: r.get(6)?,
                phases_ms: [r.get(7)?, r.get(8)?, r.get(9)?, r.get(10)?, r.get(11)?],
                ip: r.get(12)?,
                http_version: r.get(13)?,
                location: r.get(14)?,
                body_bytes: r.get(15)?,
                redirects: r.get(16)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}
pub(super) fn incidents(
    c: &Connection,
    q: &IncidentQuery,
) -> Result<(Vec<Incident>, u64), StoreError> {
    let filter = "(?1 IS NULL OR i.target_id = ?1) AND (?2 = 0 OR i.ended_at IS NULL)";
    let total: i64 = c
        .prepare_cached(&format!("SELECT count(*) FROM incidents i WHERE {filter}"))?
        .query_row(params![q.target, q.open_only], |r| r.get(0))?;
    let mut stmt = c.prepare_cached(&format!(
        "SELECT i.id, i.target_id, coalesce(t.name, i.target_id), i.started_at, i.ended_at,
           i.error_kind, i.error, i.failed_checks, i.end_reason
         FROM incidents i LEFT JOIN targets t ON t.id = i.target_id
         WHERE {filter} ORDER BY i.started_at DESC, i.id DESC LIMIT ?3 OFFSET ?4"
    ))?;
    let rows = stmt
        .query_map(
            params![q.target, q.open_only, q.limit.clamp(1, 1000), q.offset],
            |r| {
                Ok(Incident {
                    id: r.get(0)?,
                    target_id: r.get(1)?,
                    target_name: r.get(2)?,
                    started_at: r.get(3)?,
                    ended_at: r.get(4)?,
                    error_kind: r.get(5)?,
                    error: r.get(6)?,
                    failed_checks: r.get(7)?,
                    end_reason: r.get(8)?,
                })
            },
        )?
        .collect::<Result<_, _>>()?;
    Ok((rows, total as u64))
}
pub(super) fn uptime(
    c: &Connection,
    id: &str,
    from: Micros,
    to: Micros,
) -> Result<Uptime, StoreError> {
    let (up, checks): (Option<i64>, Option<i64>) = c
        .prepare_cached(
            "SELECT sum(up), sum(checks) FROM rollup_hour
             WHERE target_id = ?1 AND bucket >= ?2 AND bucket < ?3",
        )?
        .query_row(params![id, from - from.rem_euclid(HOUR), to], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    Ok(Uptime::from_sums(from, to, up, checks))
}
