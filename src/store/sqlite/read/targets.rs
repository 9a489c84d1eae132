//! The overview and a target's live state: the targets table with its status as the overview
//! shows it, the counts by status, the tag list and each target's uptime windows.

use rusqlite::{Connection, OptionalExtension, Row, params};

use std::collections::HashMap;

use crate::store::query::{
    Reuse, like_pattern, order_sql, removed_sql, set_uptime, status, uptime_starts,
};
use crate::store::sqlite::{pack, rollups};
use crate::store::{
    Micros, OverviewPage, OverviewQuery, StatusCounts, StoreError, TargetSummary, UptimeWindows,
};

/// The status column as the overview shows it: the target-state machine's status after the
/// last result, except that a target with no result for [`UNKNOWN_AFTER_INTERVALS`](crate::state::UNKNOWN_AFTER_INTERVALS) intervals
/// and the grace (3 minutes when its interval is unknown) is unknown, as a tick of the machine
/// would make it (a test checks the numbers); a paused target stays paused. A stored "degraded"
/// is degraded (up, a `degraded_if` condition holds): an older version that still wrote it for
/// flapping during an upgrade is corrected by the next result a current writer applies.
const STATUS_SQL: &str = "CASE WHEN status = 'paused' THEN 'paused'
    WHEN last_event_time IS NULL
      OR last_event_time <= ?1 - 3 * coalesce(interval_s, 60) * 1000000 - 5000000
    THEN 'unknown' ELSE coalesce(status, 'unknown') END";

/// The last response time, absent when the last check failed (the column keeps how long the
/// check took, failed or not).
const LAST_RESPONSE_SQL: &str = "CASE WHEN last_up = 0 THEN NULL ELSE last_response_ms END";

const SUMMARY_COLS: &str = "id, name, url, tags, interval_s, last_event_time,
    CASE WHEN last_up = 0 THEN NULL ELSE last_response_ms END,
    last_status_code, last_error_kind, last_error, recent, cert_not_after,
    (SELECT started_at FROM incidents WHERE incidents.id = targets.open_incident), removed_at,
    last_response_ms";

/// Where the status column follows [`SUMMARY_COLS`].
const STATUS_COL: usize = 15;

fn summary(r: &Row) -> rusqlite::Result<TargetSummary> {
    let tags: String = r.get(3)?;
    let id: String = r.get(0)?;
    Ok(TargetSummary {
        name: r.get::<_, Option<String>>(1)?.unwrap_or_else(|| id.clone()),
        id,
        url: r.get(2)?,
        tags: serde_json::from_str(&tags).unwrap_or_default(),
        interval_s: r.get(4)?,
        status: status(r.get_ref(STATUS_COL)?.as_str()?),
        last_check: r.get(5)?,
        last_response_ms: r.get(6)?,
        last_status_code: r.get(7)?,
        last_error_kind: r.get(8)?,
        last_error: r.get(9)?,
        recent: r.get(10)?,
        cert_not_after: r.get(11)?,
        down_since: r.get(12)?,
        uptime: UptimeWindows::default(),
        removed_at: r.get(13)?,
        last_duration_ms: r.get(14)?,
    })
}

/// The keys of the targets whose ids `?1` lists (a JSON array).
const KEYED: &str = "SELECT key FROM targets WHERE id IN (SELECT value FROM json_each(?1))";

/// The 7-day (from `?2`) and 30-day (from `?3`) checks and passes of the targets `?1` lists,
/// read from the `rollup_day_sums` index alone.
const DAY_SUMS_SQL: &str = "SELECT t.id, sum(CASE WHEN d.day >= ?2 THEN d.up END),
       sum(CASE WHEN d.day >= ?2 THEN d.checks END), sum(d.up), sum(d.checks)
     FROM rollup_day d JOIN targets t ON t.key = d.target
     WHERE d.target IN (SELECT key FROM targets WHERE id IN (SELECT value FROM json_each(?1)))
       AND d.day >= ?3 GROUP BY t.id";

/// Fills in the uptime of these targets (see [`uptime_starts`]) in three queries for all of
/// them: 7 and 30 days from their days' checks and passes, 24 hours from their last two days'
/// packed hours and the hours not packed yet.
fn fill_uptime(c: &Connection, rows: &mut [TargetSummary], now: Micros) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let [day, week, month] = uptime_starts(now);
    let ids =
        serde_json::to_string(&rows.iter().map(|r| &r.id).collect::<Vec<_>>()).unwrap_or_default();
    let mut sums: HashMap<String, [Option<i64>; 6]> = HashMap::new();
    let mut q = c.prepare_cached(DAY_SUMS_SQL)?;
    let mut r = q.query(params![ids, week, month])?;
    while let Some(row) = r.next()? {
        let s = sums.entry(row.get(0)?).or_default();
        (s[2], s[3], s[4], s[5]) = (row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?);
    }
    let mut add = |id: String, up: i64, checks: i64| {
        let s = sums.entry(id).or_default();
        s[0] = Some(s[0].unwrap_or(0) + up);
        s[1] = Some(s[1].unwrap_or(0) + checks);
    };
    let mut q = c.prepare_cached(&format!(
        "SELECT t.id, d.hours FROM rollup_day d JOIN targets t ON t.key = d.target
         WHERE d.target IN ({KEYED}) AND d.day >= ?2 AND d.hours IS NOT NULL"
    ))?;
    let mut r = q.query(params![ids, rollups::day_of(day)])?;
    while let Some(row) = r.next()? {
        let id: String = row.get(0)?;
        let hours = pack::decode_hour_counts(row.get_ref(1)?.as_blob().unwrap_or_default())?;
        for (bucket, checks, up) in hours {
            if bucket >= day {
                add(id.clone(), up, checks);
            }
        }
    }
    let mut q = c.prepare_cached(&format!(
        "SELECT t.id, sum(h.up), sum(h.checks) FROM rollup_hour h JOIN targets t ON t.key = h.target
         WHERE h.target IN ({KEYED}) AND h.bucket >= ?2 GROUP BY t.id"
    ))?;
    let mut r = q.query(params![ids, day])?;
    while let Some(row) = r.next()? {
        add(row.get(0)?, row.get(1)?, row.get(2)?);
    }
    set_uptime(rows, sums);
    Ok(())
}

/// The tag test looks for the quoted tag in the JSON text first (cheap), then checks it is a
/// whole element. `?2` is the tag, `?3` the search pattern.
const TAG_SEARCH_SQL: &str = "(?2 IS NULL OR (instr(tags, json_quote(?2)) > 0
         AND EXISTS (SELECT 1 FROM json_each(tags) WHERE value = ?2)))
    AND (?3 IS NULL OR name LIKE ?3 ESCAPE '\\' OR url LIKE ?3 ESCAPE '\\')";

/// The targets of the tag and search filters by status (removed ones apart): the status
/// cards, which are the status filter, so it does not apply.
fn counts(
    c: &Connection,
    now: Micros,
    tag: Option<&str>,
    search: Option<&str>,
) -> Result<StatusCounts, StoreError> {
    let mut counts = StatusCounts::default();
    let mut stmt = c.prepare_cached(&format!(
        "SELECT CASE WHEN removed_at IS NOT NULL THEN 'removed' ELSE {STATUS_SQL} END, count(*)
         FROM targets WHERE {TAG_SEARCH_SQL} GROUP BY 1"
    ))?;
    let mut rows = stmt.query(params![now, tag, search])?;
    while let Some(r) = rows.next()? {
        counts.add_row(&r.get::<_, String>(0)?, r.get(1)?);
    }
    Ok(counts)
}

fn tags(c: &Connection) -> Result<Vec<String>, StoreError> {
    let mut stmt = c.prepare_cached(
        "SELECT DISTINCT j.value FROM targets, json_each(targets.tags) AS j
         WHERE targets.removed_at IS NULL ORDER BY 1",
    )?;
    let tags = stmt
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(tags)
}

/// The page of `q`, reading the counts and tags `reuse` lacks.
pub(super) fn overview(
    c: &Connection,
    q: &OverviewQuery,
    now: Micros,
    reuse: Reuse,
) -> Result<OverviewPage, StoreError> {
    let search = q.search.as_deref().map(like_pattern);
    let mut page = OverviewPage {
        counts: match reuse.counts {
            Some(m) => m,
            None => counts(c, now, q.tag.as_deref(), search.as_deref())?,
        },
        tags: match reuse.tags {
            Some(t) => t,
            None => tags(c)?,
        },
        ..Default::default()
    };
    let order = order_sql(
        q.sort,
        "name COLLATE NOCASE",
        "coalesce(last_event_time, 0)",
    );
    let dir = if q.desc { "DESC" } else { "ASC" };
    // The tag and search filters of the counts, with `?2` and `?3` moved on by one.
    let filter = format!(
        "(?2 IS NULL OR st = ?2) AND {}",
        TAG_SEARCH_SQL.replace("?3", "?4").replace("?2", "?3")
    );
    // Only what filtering and sorting need, so the sort carries small rows; the page's 50
    // targets are read in full afterwards.
    let base = format!(
        "SELECT id, name, url, tags, {LAST_RESPONSE_SQL} AS last_response_ms, last_event_time,
           {STATUS_SQL} AS st
         FROM targets WHERE {}",
        removed_sql(q.removed)
    );
    let status = q.status.map(|s| s.as_str());
    let per_page = q.per_page.clamp(1, 1000);
    page.matching =
        c.prepare_cached(&format!("SELECT count(*) FROM ({base}) WHERE {filter}"))?
            .query_row(params![now, status, q.tag, search], |r| r.get::<_, i64>(0))? as u64;
    let ids: Vec<String> = c
        .prepare_cached(&format!(
            "SELECT id FROM ({base}) WHERE {filter}
             ORDER BY {order} {dir}, name COLLATE NOCASE, id LIMIT ?5 OFFSET ?6"
        ))?
        .query_map(
            params![
                now,
                status,
                q.tag,
                search,
                per_page,
                i64::from(q.page) * i64::from(per_page)
            ],
            |r| r.get(0),
        )?
        .collect::<Result<_, _>>()?;
    let mut by_id: std::collections::HashMap<String, TargetSummary> = c
        .prepare_cached(&format!(
            "SELECT {SUMMARY_COLS}, {STATUS_SQL} FROM targets
             WHERE id IN (SELECT value FROM json_each(?2))"
        ))?
        .query_map(
            params![now, serde_json::to_string(&ids).unwrap_or_default()],
            summary,
        )?
        .map(|t| t.map(|t| (t.id.clone(), t)))
        .collect::<Result<_, _>>()?;
    page.targets = ids.iter().filter_map(|id| by_id.remove(id)).collect();
    fill_uptime(c, &mut page.targets, now)?;
    Ok(page)
}

pub(super) fn target(
    c: &Connection,
    id: &str,
    now: Micros,
) -> Result<Option<TargetSummary>, StoreError> {
    let t = c
        .prepare_cached(&format!(
            "SELECT {SUMMARY_COLS}, {STATUS_SQL} FROM targets WHERE id = ?2"
        ))?
        .query_row(params![now, id], summary)
        .optional()?;
    let mut rows: Vec<_> = t.into_iter().collect();
    fill_uptime(c, &mut rows, now)?;
    Ok(rows.pop())
}

pub(super) fn all_targets(c: &Connection, now: Micros) -> Result<Vec<TargetSummary>, StoreError> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {SUMMARY_COLS}, {STATUS_SQL} FROM targets WHERE removed_at IS NULL ORDER BY id"
    ))?;
    let rows = stmt.query_map([now], summary)?.collect::<Result<_, _>>()?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{Input, Last, Status, TargetState};
    use crate::store::{SECOND, from_micros, now_micros};

    /// The overview's 7- and 30-day uptime reads an index, not each day's row (which holds
    /// its packed hours, one page apart per day: 17 ms instead of 1.7 ms for 50 targets at
    /// 10,000).
    #[test]
    fn day_sums_read_only_the_covering_index() {
        let c = Connection::open_in_memory().unwrap();
        crate::store::sqlite::schema::migrate(&c).unwrap();
        let mut plan = String::new();
        let mut q = c
            .prepare(&format!("EXPLAIN QUERY PLAN {DAY_SUMS_SQL}"))
            .unwrap();
        let mut rows = q.query(params!["[\"a\"]", 0, 0]).unwrap();
        while let Some(r) = rows.next().unwrap() {
            plan.push_str(&r.get::<_, String>(3).unwrap());
            plan.push('\n');
        }
        assert!(
            plan.contains("USING COVERING INDEX rollup_day_sums"),
            "{plan}"
        );
    }

    /// "degraded" means degraded (up, a `degraded_if` condition holds), no longer flapping.
    #[test]
    fn a_degraded_row_reads_as_degraded() {
        let c = Connection::open_in_memory().unwrap();
        crate::store::sqlite::schema::migrate(&c).unwrap();
        let now = now_micros();
        c.execute(
            "INSERT INTO targets (id, first_seen, last_seen, last_event_time, status)
             VALUES ('t', 0, 0, ?1, 'degraded')",
            [now],
        )
        .unwrap();
        let sql: String = c
            .query_row(&format!("SELECT {STATUS_SQL} FROM targets"), [now], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(sql, "degraded");
    }

    /// The SQL's unknown is the machine's tick: silent for three intervals and the grace.
    #[test]
    fn silence_turns_unknown_exactly_when_a_tick_of_the_machine_does() {
        let c = Connection::open_in_memory().unwrap();
        crate::store::sqlite::schema::migrate(&c).unwrap();
        let last: Micros = 1_780_000_000 * SECOND;
        for (interval_us, stored) in [
            (60 * SECOND, Some(60.0)),
            (1_500_000, Some(1.5)),
            (60 * SECOND, None),
        ] {
            c.execute("DELETE FROM targets", []).unwrap();
            c.execute(
                "INSERT INTO targets (id, first_seen, last_seen, interval_s, last_event_time, status)
                 VALUES ('t', 0, 0, ?1, ?2, 'up')",
                params![stored, last],
            )
            .unwrap();
            let state = TargetState {
                status: Status::Up,
                last: Some(Last {
                    time: from_micros(last),
                    uuid: None,
                }),
                recent: crate::state::Recent::parse("u"),
                incident: None,
            };
            let interval = std::time::Duration::from_micros(interval_us as u64);
            let due = crate::store::to_micros(state.unknown_at(interval).unwrap());
            for now in [due - 1, due, due + 1] {
                let sql: String = c
                    .query_row(&format!("SELECT {STATUS_SQL} FROM targets"), [now], |r| {
                        r.get(0)
                    })
                    .unwrap();
                let mut ticked = state;
                ticked.apply(Input::Tick { interval }, from_micros(now));
                assert_eq!(
                    sql,
                    ticked.status.as_str(),
                    "interval {stored:?}, now {}",
                    now - due
                );
            }
        }
    }
}
