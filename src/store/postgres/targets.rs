//! The overview and a target's live state: the targets table with its status as the overview
//! shows it, the counts by status, the tag list and each target's uptime windows.

use std::collections::HashMap;

use deadpool_postgres::Client;
use time::OffsetDateTime;
use tokio_postgres::Row;

use super::{db, micros, ratio};
use crate::store::{
    DAY, HOUR, Micros, OverviewPage, OverviewQuery, Sort, Status, StatusCounts, StoreError,
    TargetSummary, UptimeWindows, from_micros, removed_sql,
};

/// The status as the overview shows it: the target-state machine's status after the last
/// result, except that no result for [`UNKNOWN_AFTER_INTERVALS`](crate::state::UNKNOWN_AFTER_INTERVALS) intervals and the grace (3
/// minutes when the interval is unknown) is unknown, as a tick of the machine would make it (a
/// test checks the numbers); a paused target stays paused. `$1` is now.
const STATUS_SQL: &str = "CASE WHEN status = 'paused' THEN 'paused'
    -- written by an older version still running during an upgrade
    WHEN status = 'degraded' THEN 'flapping'
    WHEN last_event_time IS NULL
      OR last_event_time <= $1::timestamptz
         - (3 * coalesce(interval_s, 60) + 5) * interval '1 second'
    THEN 'unknown' ELSE coalesce(status, 'unknown') END";

/// The last response time, absent when the last check failed (the column keeps how long the
/// check took, failed or not).
const LAST_RESPONSE_SQL: &str = "CASE WHEN last_up IS FALSE THEN NULL ELSE last_response_ms END";

const SUMMARY_COLS: &str = "id, name, url, tags, interval_s::float8, last_event_time,
    (CASE WHEN last_up IS FALSE THEN NULL ELSE last_response_ms END)::int8,
    last_status_code::int8, last_error_kind, last_error, recent, cert_not_after,
    (SELECT started_at FROM incidents WHERE incidents.id = targets.open_incident), removed_at,
    last_response_ms::int8";

/// Where the status column follows [`SUMMARY_COLS`].
const STATUS_COL: usize = 15;

/// The tag and search filters (`$2`, `$3`), which the counts share with the overview.
const TAG_SEARCH_SQL: &str = "($2::text IS NULL OR $2::text = ANY(tags))
    AND ($3::text IS NULL OR name ILIKE $3::text OR url ILIKE $3::text)";

fn summary(r: &Row) -> TargetSummary {
    let id: String = r.get(0);
    let status: String = r.get(STATUS_COL);
    TargetSummary {
        name: r.get::<_, Option<String>>(1).unwrap_or_else(|| id.clone()),
        id,
        url: r.get(2),
        tags: r.get(3),
        interval_s: r.get(4),
        status: Status::parse(&status).unwrap_or(Status::Unknown),
        last_check: micros(r.get(5)),
        last_response_ms: r.get(6),
        last_status_code: r.get(7),
        last_error_kind: r.get(8),
        last_error: r.get(9),
        recent: r.get(10),
        cert_not_after: micros(r.get(11)),
        down_since: micros(r.get(12)),
        uptime: UptimeWindows::default(),
        removed_at: micros(r.get(13)),
        last_duration_ms: r.get(14),
    }
}

pub(super) fn like_pattern(s: &str) -> String {
    let mut p = String::with_capacity(s.len() + 2);
    p.push('%');
    for ch in s.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(ch);
    }
    p.push('%');
    p
}

pub(super) async fn counts(
    c: &Client,
    now: OffsetDateTime,
    tag: Option<&str>,
    search: Option<&str>,
) -> Result<StatusCounts, StoreError> {
    let stmt = c
        .prepare_cached(&format!(
            "SELECT CASE WHEN removed_at IS NOT NULL THEN 'removed' ELSE {STATUS_SQL} END,
               count(*)
             FROM targets WHERE {TAG_SEARCH_SQL} GROUP BY 1"
        ))
        .await
        .map_err(db)?;
    let mut counts = StatusCounts::default();
    for r in c.query(&stmt, &[&now, &tag, &search]).await.map_err(db)? {
        let s: String = r.get(0);
        let n = r.get::<_, i64>(1) as u64;
        match s.as_str() {
            "removed" => counts.removed += n,
            s => counts.add(Status::parse(s).unwrap_or(Status::Unknown), n),
        }
    }
    Ok(counts)
}

pub(super) async fn tags(c: &Client) -> Result<Vec<String>, StoreError> {
    let stmt = c
        .prepare_cached(
            "SELECT DISTINCT t COLLATE \"C\" FROM targets, unnest(tags) AS t
             WHERE removed_at IS NULL ORDER BY 1",
        )
        .await
        .map_err(db)?;
    Ok(c.query(&stmt, &[])
        .await
        .map_err(db)?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

/// Fills in uptime: 24 h from hour rollups, 7 d and 30 d from day rollups (as SQLite).
async fn fill_uptime(
    c: &Client,
    rows: &mut [TargetSummary],
    now: Micros,
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let hour = now - now.rem_euclid(HOUR);
    let day = now - now.rem_euclid(DAY);
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let stmt = c
        .prepare_cached(
            "SELECT target_id, sum(d_up)::int8, sum(d_checks)::int8, sum(w_up)::int8,
               sum(w_checks)::int8, sum(m_up)::int8, sum(m_checks)::int8
             FROM (
               SELECT target_id, up AS d_up, checks AS d_checks, NULL::int8 AS w_up,
                 NULL::int8 AS w_checks, NULL::int8 AS m_up, NULL::int8 AS m_checks
               FROM rollup_hour WHERE target_id = ANY($1::text[]) AND bucket >= $2
               UNION ALL
               SELECT target_id, NULL, NULL, CASE WHEN bucket >= $3 THEN up END,
                 CASE WHEN bucket >= $3 THEN checks END, up, checks
               FROM rollup_day WHERE target_id = ANY($1::text[]) AND bucket >= $4
             ) x
             GROUP BY target_id",
        )
        .await
        .map_err(db)?;
    let found: HashMap<String, UptimeWindows> = c
        .query(
            &stmt,
            &[
                &ids,
                &from_micros(hour - 23 * HOUR),
                &from_micros(day - 6 * DAY),
                &from_micros(day - 29 * DAY),
            ],
        )
        .await
        .map_err(db)?
        .iter()
        .map(|r| {
            (
                r.get(0),
                UptimeWindows {
                    day: ratio(r.get(1), r.get(2)),
                    week: ratio(r.get(3), r.get(4)),
                    month: ratio(r.get(5), r.get(6)),
                },
            )
        })
        .collect();
    for row in rows {
        if let Some(u) = found.get(&row.id) {
            row.uptime = *u;
        }
    }
    Ok(())
}

/// The page of `q` with these counts and tags; `search` is `q.search` as a LIKE pattern.
pub(super) async fn overview(
    c: &Client,
    q: &OverviewQuery,
    now_m: Micros,
    search: Option<String>,
    counts: StatusCounts,
    tags: Vec<String>,
) -> Result<OverviewPage, StoreError> {
    let now = from_micros(now_m);
    let order = match q.sort {
        Sort::Status => {
            "CASE st WHEN 'down' THEN 0 WHEN 'flapping' THEN 1 WHEN 'unknown' THEN 2
              WHEN 'paused' THEN 4 ELSE 3 END"
        }
        Sort::Name => "lower(name) COLLATE \"C\"",
        // Targets without a response time (failed, never checked) last, either way round.
        Sort::ResponseTime => "last_response_ms IS NULL, last_response_ms",
        Sort::LastCheck => "coalesce(last_event_time, 'epoch'::timestamptz)",
    };
    let dir = if q.desc { "DESC" } else { "ASC" };
    let base = format!(
        "SELECT id, name, url, tags, {LAST_RESPONSE_SQL} AS last_response_ms,
           last_event_time, {STATUS_SQL} AS st
         FROM targets WHERE {}",
        removed_sql(q.removed)
    );
    // The counts' tag and search filters, with `$2` and `$3` moved on by one.
    let filter = format!(
        "($2::text IS NULL OR st = $2::text) AND {}",
        TAG_SEARCH_SQL.replace("$3", "$4").replace("$2", "$3")
    );
    let status = q.status.map(Status::as_str);
    let per_page = i64::from(q.per_page.clamp(1, 1000));
    let offset = i64::from(q.page) * per_page;
    let count_stmt = c
        .prepare_cached(&format!("SELECT count(*) FROM ({base}) b WHERE {filter}"))
        .await
        .map_err(db)?;
    let matching: i64 = c
        .query_one(&count_stmt, &[&now, &status, &q.tag, &search])
        .await
        .map_err(db)?
        .get(0);
    // Filter and sort on small rows, then read the page's targets in full.
    let page_stmt = c
        .prepare_cached(&format!(
            "WITH page AS (
               SELECT id, row_number() OVER () AS n FROM (
                 SELECT id FROM ({base}) b WHERE {filter}
                 ORDER BY {order} {dir}, lower(name) COLLATE \"C\", id COLLATE \"C\"
                 LIMIT $5 OFFSET $6) p)
             SELECT {SUMMARY_COLS}, {STATUS_SQL} FROM targets JOIN page USING (id)
             ORDER BY page.n"
        ))
        .await
        .map_err(db)?;
    let rows = c
        .query(
            &page_stmt,
            &[&now, &status, &q.tag, &search, &per_page, &offset],
        )
        .await
        .map_err(db)?;
    let mut targets: Vec<TargetSummary> = rows.iter().map(summary).collect();
    fill_uptime(c, &mut targets, now_m).await?;
    Ok(OverviewPage {
        targets,
        matching: matching as u64,
        counts,
        tags,
    })
}

pub(super) async fn target(
    c: &Client,
    id: &str,
    now: Micros,
) -> Result<Option<TargetSummary>, StoreError> {
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {SUMMARY_COLS}, {STATUS_SQL} FROM targets WHERE id = $2"
        ))
        .await
        .map_err(db)?;
    let mut rows: Vec<TargetSummary> = c
        .query_opt(&stmt, &[&from_micros(now), &id])
        .await
        .map_err(db)?
        .as_ref()
        .map(summary)
        .into_iter()
        .collect();
    fill_uptime(c, &mut rows, now).await?;
    Ok(rows.pop())
}

pub(super) async fn all_targets(c: &Client, now: Micros) -> Result<Vec<TargetSummary>, StoreError> {
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {SUMMARY_COLS}, {STATUS_SQL} FROM targets WHERE removed_at IS NULL
             ORDER BY id COLLATE \"C\""
        ))
        .await
        .map_err(db)?;
    Ok(c.query(&stmt, &[&from_micros(now)])
        .await
        .map_err(db)?
        .iter()
        .map(summary)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SQL's unknown uses the machine's numbers (the SQLite store's test runs both).
    #[test]
    fn silence_turns_unknown_after_the_machines_intervals_and_grace() {
        use crate::state::{UNKNOWN_AFTER_INTERVALS, UNKNOWN_GRACE};
        let want = format!(
            "({UNKNOWN_AFTER_INTERVALS} * coalesce(interval_s, 60) + {})",
            UNKNOWN_GRACE.as_secs()
        );
        assert!(STATUS_SQL.contains(&want), "{STATUS_SQL}");
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("a%b_c\\"), "%a\\%b\\_c\\\\%");
    }
}
