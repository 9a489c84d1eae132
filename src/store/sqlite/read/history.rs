//! A target's history: its response-time series (from raw events under an hour's step, from
//! hour rollups above), its last events, incidents and its uptime over a range.

use rusqlite::{Connection, params};

use crate::event::ProbeEvent;
use crate::store::query::SeriesSource;
use crate::store::rollup::Agg;
use crate::store::sqlite::strings::Shared;
use crate::store::sqlite::write::{key_of, phases};
use crate::store::sqlite::{raw, rollups};
use crate::store::{
    EventRow, HOUR, Incident, IncidentQuery, MINUTE, Micros, SeriesPoint, StoreError, Uptime,
    to_micros,
};

pub(super) fn series(
    c: &Connection,
    id: &str,
    src: &SeriesSource,
) -> Result<Vec<SeriesPoint>, StoreError> {
    let Some(key) = key_of(c, id)? else {
        return Ok(Vec::new());
    };
    let mut fold = src.fold();
    if src.step < HOUR {
        // Under an hour from raw events, a minute at a time.
        for p in raw::points_in(c, key, src.start, src.to)? {
            let mut a = Agg::default();
            a.add(p.response_time_ms as f64, p.up, p.phases_ms);
            fold.add(p.time - p.time.rem_euclid(MINUTE), &a);
        }
    } else {
        for (bucket, a) in rollups::hours(c, key, src.start, src.to)? {
            fold.add(bucket, &a);
        }
    }
    Ok(fold.finish())
}

pub(super) fn events(
    c: &Connection,
    strings: &Shared,
    id: &str,
    from: Micros,
    to: Micros,
    limit: u32,
) -> Result<Vec<EventRow>, StoreError> {
    let Some(key) = key_of(c, id)? else {
        return Ok(Vec::new());
    };
    let strings = strings.fresh(c)?;
    let rows = raw::newest(c, &*strings, key, from, to, limit.min(10_000) as usize)?;
    Ok(rows.into_iter().map(|e| event_row(&e)).collect())
}

/// An event as the target page and the API show it.
fn event_row(e: &ProbeEvent) -> EventRow {
    EventRow {
        uuid: e.envelope.uuid.to_string(),
        event_time: to_micros(e.envelope.event_time),
        up: e.up,
        port: e.port.map(i64::from),
        status_code: e.status_code.map(i64::from),
        response_time_ms: e.response_time_ms as i64,
        error_kind: e.error_kind.map(|k| k.as_str().to_owned()),
        error: e.error.clone(),
        phases_ms: phases(e),
        ip: e.ip.clone(),
        http_version: e.http_version.clone(),
        location: e.location.clone(),
        body_bytes: e.body_bytes.map(|b| b as i64),
        redirects: e.redirects.map(i64::from),
        conditions: e.conditions.clone(),
        degraded: e.degraded,
        dns: e.dns.clone(),
        icmp: e.icmp.clone(),
        tls: e.tls.clone(),
        tcp: e.tcp.clone(),
        grpc: e.grpc.clone(),
        push: e.push.clone(),
    }
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
    let Some(key) = key_of(c, id)? else {
        return Ok(Uptime::from_sums(from, to, None, None));
    };
    let hours = rollups::hours(c, key, from, to)?;
    let (up, checks) = sums(&hours);
    Ok(Uptime::from_sums(from, to, up, checks))
}

/// The passes and checks of these hours (None without any).
pub(super) fn sums(hours: &[(Micros, Agg)]) -> (Option<i64>, Option<i64>) {
    if hours.is_empty() {
        return (None, None);
    }
    let (checks, up) = rollups::checks_and_up(hours);
    (Some(up), Some(checks))
}
