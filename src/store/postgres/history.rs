//! A target's history: its response-time series from rollups, its last events, incidents
//! and its uptime over a range.

use deadpool_postgres::Client;
use serde_json::Value;
use time::OffsetDateTime;
use tokio_postgres::types::Json;

use super::{micros, query, query_one};
use crate::event::ConditionResult;
use crate::store::hist::Histogram;
use crate::store::query::SeriesSource;
use crate::store::rollup::Agg;
use crate::store::{
    EventRow, HOUR, Incident, IncidentQuery, Micros, SeriesPoint, StoreError, Uptime, from_micros,
    to_micros,
};

pub(super) async fn series(
    c: &Client,
    id: &str,
    src: &SeriesSource,
) -> Result<Vec<SeriesPoint>, StoreError> {
    let sql = format!(
        "SELECT bucket, checks, up, sum_ms, min_ms, max_ms, sum_dns_ms, sum_connect_ms,
           sum_tls_ms, sum_ttfb_ms, sum_transfer_ms, hist, coalesce(timed, checks)
         FROM {} WHERE target_id = $1 AND bucket >= $2 AND bucket < $3
         ORDER BY bucket",
        src.table
    );
    let rows = query(
        c,
        &sql,
        &[&id, &from_micros(src.start), &from_micros(src.to)],
    )
    .await?;
    let mut fold = src.fold();
    for r in &rows {
        let row = Agg {
            checks: r.get(1),
            up: r.get(2),
            timed: r.get(12),
            sum_ms: r.get(3),
            min_ms: r.get(4),
            max_ms: r.get(5),
            sums: std::array::from_fn(|i| r.get(6 + i)),
            hist: Histogram::decode(r.get(11)),
        };
        fold.add(to_micros(r.get::<_, OffsetDateTime>(0)), &row);
    }
    Ok(fold.finish())
}

pub(super) async fn events(
    c: &Client,
    id: &str,
    from: Micros,
    to: Micros,
    limit: u32,
) -> Result<Vec<EventRow>, StoreError> {
    let rows = query(
        c,
        "SELECT uuid::text, event_time, up, status_code::int8, response_time_ms::int8,
           error_kind, error, phases_ms_dns, phases_ms_connect, phases_ms_tls,
           phases_ms_ttfb, phases_ms_transfer, ip, http_version, location, body_bytes,
           redirects::int8, conditions, degraded, port::int8, dns, icmp, tls, tcp, grpc, push
         FROM probe_events WHERE target_id = $1 AND event_time >= $2 AND event_time < $3
         ORDER BY event_time DESC LIMIT $4",
        &[
            &id,
            &from_micros(from),
            &from_micros(to),
            &i64::from(limit.min(10_000)),
        ],
    )
    .await?;
    Ok(rows
        .iter()
        .map(|r| EventRow {
            uuid: r.get(0),
            event_time: to_micros(r.get(1)),
            up: r.get(2),
            status_code: r.get(3),
            response_time_ms: r.get(4),
            error_kind: r.get(5),
            error: r.get(6),
            phases_ms: std::array::from_fn(|i| r.get(7 + i)),
            ip: r.get(12),
            http_version: r.get(13),
            location: r.get(14),
            body_bytes: r.get(15),
            redirects: r.get(16),
            conditions: conditions(r.get(17)),
            degraded: r.get(18),
            port: r.get(19),
            dns: object(r.get(20)),
            icmp: object(r.get(21)),
            tls: object(r.get(22)),
            tcp: object(r.get(23)),
            grpc: object(r.get(24)),
            push: object(r.get(25)),
        })
        .collect())
}

/// The `conditions` column: NULL on rows of targets without conditions and on rows written
/// before migration 20261202000000. The column is jsonb, which the database does not check
/// against the event's schema: a value that is not a list of results is read as none.
fn conditions(v: Option<Json<Value>>) -> Option<Vec<ConditionResult>> {
    serde_json::from_value(v?.0).ok()
}

/// A kind object's column (`dns`, `icmp`, …): NULL on the events of other kinds and on rows
/// written before migration 20261203000000; a value that is not the kind's object (the
/// database does not check it) reads as none, as [`conditions`] does.
fn object<T: serde::de::DeserializeOwned>(v: Option<Json<Value>>) -> Option<T> {
    serde_json::from_value(v?.0).ok()
}

pub(super) async fn incidents(
    c: &Client,
    q: &IncidentQuery,
) -> Result<(Vec<Incident>, u64), StoreError> {
    let filter = "($1::text IS NULL OR i.target_id = $1::text)
        AND (NOT $2::bool OR i.ended_at IS NULL)";
    let total: i64 = query_one(
        c,
        &format!("SELECT count(*) FROM incidents i WHERE {filter}"),
        &[&q.target, &q.open_only],
    )
    .await?
    .get(0);
    let sql = format!(
        "SELECT i.id, i.target_id, coalesce(t.name, i.target_id), i.started_at,
           i.ended_at, i.error_kind, i.error, i.failed_checks::int8, i.end_reason
         FROM incidents i LEFT JOIN targets t ON t.id = i.target_id
         WHERE {filter} ORDER BY i.started_at DESC, i.id DESC LIMIT $3 OFFSET $4"
    );
    let rows = query(
        c,
        &sql,
        &[
            &q.target,
            &q.open_only,
            &i64::from(q.limit.clamp(1, 1000)),
            &i64::from(q.offset),
        ],
    )
    .await?;
    let list = rows
        .iter()
        .map(|r| Incident {
            id: r.get(0),
            target_id: r.get(1),
            target_name: r.get(2),
            started_at: to_micros(r.get(3)),
            ended_at: micros(r.get(4)),
            error_kind: r.get(5),
            error: r.get(6),
            failed_checks: r.get(7),
            end_reason: r.get(8),
        })
        .collect();
    Ok((list, total as u64))
}

pub(super) async fn uptime(
    c: &Client,
    id: &str,
    from: Micros,
    to: Micros,
) -> Result<Uptime, StoreError> {
    let r = query_one(
        c,
        "SELECT sum(up)::int8, sum(checks)::int8 FROM rollup_hour
         WHERE target_id = $1 AND bucket >= $2 AND bucket < $3",
        &[
            &id,
            &from_micros(from - from.rem_euclid(HOUR)),
            &from_micros(to),
        ],
    )
    .await?;
    Ok(Uptime::from_sums(from, to, r.get(0), r.get(1)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_conditions_value_that_is_no_list_of_results_reads_as_none() {
        let one = json!([{"condition": "[STATUS] == 200", "success": false,
                          "resolved": "[STATUS] (502) == 200"}]);
        assert_eq!(
            conditions(Some(Json(one))),
            Some(vec![ConditionResult {
                condition: "[STATUS] == 200".into(),
                success: false,
                resolved: "[STATUS] (502) == 200".into(),
            }])
        );
        assert_eq!(conditions(Some(Json(json!([])))), Some(Vec::new()));
        assert_eq!(conditions(None), None);
        for odd in [
            json!({"a": 1}),
            json!([{"condition": 1}]),
            json!("x"),
            json!(null),
        ] {
            assert_eq!(conditions(Some(Json(odd.clone()))), None, "{odd}");
        }
    }
}
