//! The overview and a target's live state: the targets table with its status as the overview
//! shows it, the counts by status, the tag list and each target's uptime windows.

use deadpool_postgres::Client;
use time::OffsetDateTime;
use tokio_postgres::Row;

use super::{micros, query, query_one};
use crate::store::query::{
    Reuse, like_pattern, order_sql, removed_sql, set_uptime, status, uptime_starts,
};
use crate::store::{
    Micros, OverviewPage, OverviewQuery, StatusCounts, StoreError, TargetSummary, UptimeWindows,
    from_micros,
};

/// The status as the overview shows it: the target-state machine's status after the last
/// result, except that no result for [`UNKNOWN_AFTER_INTERVALS`](crate::state::UNKNOWN_AFTER_INTERVALS) intervals and the grace (3
/// minutes when the interval is unknown) is unknown, as a tick of the machine would make it (a
/// test checks the numbers); a paused target stays paused. `$1` is now. A stored "degraded" is
/// degraded (up, a `degraded_if` condition holds): an older version that still wrote it for
/// flapping during an upgrade is corrected by the next result a current writer applies.
const STATUS_SQL: &str = "CASE WHEN status = 'paused' THEN 'paused'
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
    TargetSummary {
        name: r.get::<_, Option<String>>(1).unwrap_or_else(|| id.clone()),
        id,
        url: r.get(2),
        tags: r.get(3),
        interval_s: r.get(4),
        status: status(r.get(STATUS_COL)),
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

/// The targets of the tag and search filters by status (removed ones apart): the status
/// cards, which are the status filter, so it does not apply.
async fn counts(
    c: &Client,
    now: OffsetDateTime,
    tag: Option<&str>,
    search: Option<&str>,
) -> Result<StatusCounts, StoreError> {
    let sql = format!(
        "SELECT CASE WHEN removed_at IS NOT NULL THEN 'removed' ELSE {STATUS_SQL} END, count(*)
         FROM targets WHERE {TAG_SEARCH_SQL} GROUP BY 1"
    );
    let mut counts = StatusCounts::default();
    for r in query(c, &sql, &[&now, &tag, &search]).await? {
        counts.add_row(r.get(0), r.get(1));
    }
    Ok(counts)
}

async fn tags(c: &Client) -> Result<Vec<String>, StoreError> {
    let sql = "SELECT DISTINCT t COLLATE \"C\" FROM targets, unnest(tags) AS t
               WHERE removed_at IS NULL ORDER BY 1";
    Ok(query(c, sql, &[]).await?.iter().map(|r| r.get(0)).collect())
}

/// Fills in uptime of these targets in one query (see [`uptime_starts`]).
async fn fill_uptime(
    c: &Client,
    rows: &mut [TargetSummary],
    now: Micros,
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let [day, week, month] = uptime_starts(now).map(from_micros);
    let sums = query(
        c,
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
        &[&ids, &day, &week, &month],
    )
    .await?;
    set_uptime(
        rows,
        sums.iter()
            .map(|r| (r.get(0), std::array::from_fn(|i| r.get(i + 1)))),
    );
    Ok(())
}

/// The page of `q`, reading the counts and tags `reuse` lacks.
pub(super) async fn overview(
    c: &Client,
    q: &OverviewQuery,
    now_m: Micros,
    reuse: Reuse,
) -> Result<OverviewPage, StoreError> {
    let now = from_micros(now_m);
    let search = q.search.as_deref().map(like_pattern);
    let counts = match reuse.counts {
        Some(c) => c,
        None => counts(c, now, q.tag.as_deref(), search.as_deref()).await?,
    };
    let tags = match reuse.tags {
        Some(t) => t,
        None => tags(c).await?,
    };
    let order = order_sql(
        q.sort,
        "lower(name) COLLATE \"C\"",
        "coalesce(last_event_time, 'epoch'::timestamptz)",
    );
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
    let status = q.status.map(|s| s.as_str());
    let per_page = i64::from(q.per_page.clamp(1, 1000));
    let offset = i64::from(q.page) * per_page;
    let matching: i64 = query_one(
        c,
        &format!("SELECT count(*) FROM ({base}) b WHERE {filter}"),
        &[&now, &status, &q.tag, &search],
    )
    .await?
    .get(0);
    // Filter and sort on small rows, then read the page's targets in full.
    let page_sql = format!(
        "WITH page AS (
           SELECT id, row_number() OVER () AS n FROM (
             SELECT id FROM ({base}) b WHERE {filter}
             ORDER BY {order} {dir}, lower(name) COLLATE \"C\", id COLLATE \"C\"
             LIMIT $5 OFFSET $6) p)
         SELECT {SUMMARY_COLS}, {STATUS_SQL} FROM targets JOIN page USING (id)
         ORDER BY page.n"
    );
    let rows = query(
        c,
        &page_sql,
        &[&now, &status, &q.tag, &search, &per_page, &offset],
    )
    .await?;
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
    let sql = format!("SELECT {SUMMARY_COLS}, {STATUS_SQL} FROM targets WHERE id = $2");
    let mut rows: Vec<TargetSummary> = query(c, &sql, &[&from_micros(now), &id])
        .await?
        .iter()
        .map(summary)
        .collect();
    fill_uptime(c, &mut rows, now).await?;
    Ok(rows.pop())
}

pub(super) async fn all_targets(c: &Client, now: Micros) -> Result<Vec<TargetSummary>, StoreError> {
    let sql = format!(
        "SELECT {SUMMARY_COLS}, {STATUS_SQL} FROM targets WHERE removed_at IS NULL
         ORDER BY id COLLATE \"C\""
    );
    let rows = query(c, &sql, &[&from_micros(now)]).await?;
    Ok(rows.iter().map(summary).collect())
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
}
