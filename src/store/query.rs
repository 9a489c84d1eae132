//! What the two stores' reads share, so the SQLite and PostgreSQL dashboards answer alike: the
//! SQL that reads the same in both dialects, the search pattern, the overview's cached counts
//! and tags, and the folds from each store's own rows (sums of checks and passes) to answers.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::rollup::SeriesFold;
use super::{
    DAY, HOUR, MINUTE, Micros, OverviewPage, OverviewQuery, Sort, Status, StatusCounts, StoreError,
    TargetSummary, Uptime, UptimeWindows,
};

/// How long the overview's counts by status are reused.
pub const COUNTS_TTL: Duration = Duration::from_secs(2);
/// How long the overview's tag list is reused (tags change with the configuration only).
pub const TAGS_TTL: Duration = Duration::from_secs(30);

/// The overview's counts by status and its tag list, which scan every target: reused for
/// [`COUNTS_TTL`] and [`TAGS_TTL`] so a busy dashboard does not rescan 10,000 rows per view.
#[derive(Debug, Default)]
pub(super) struct OverviewCache(Mutex<Kept>);

#[derive(Debug, Default)]
struct Kept {
    counts: Option<(Instant, StatusCounts)>,
    tags: Option<(Instant, Vec<String>)>,
}

/// What an overview may reuse: None where the store reads it afresh.
#[derive(Debug, Clone, Default)]
pub(super) struct Reuse {
    pub counts: Option<StatusCounts>,
    pub tags: Option<Vec<String>>,
}

impl OverviewCache {
    fn kept(&self) -> MutexGuard<'_, Kept> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The page of `q` that `read` makes, given what it may reuse; what it read afresh is kept.
    pub(super) async fn page<F, Fut>(
        &self,
        q: OverviewQuery,
        read: F,
    ) -> Result<OverviewPage, StoreError>
    where
        F: FnOnce(OverviewQuery, Reuse) -> Fut,
        Fut: Future<Output = Result<OverviewPage, StoreError>>,
    {
        // Only the unfiltered counts are reused: a tag or a search counts its own targets.
        let shared_counts = q.tag.is_none() && q.search.is_none();
        let reuse = {
            let k = self.kept();
            Reuse {
                counts: k
                    .counts
                    .filter(|(at, _)| shared_counts && at.elapsed() < COUNTS_TTL)
                    .map(|(_, c)| c),
                tags: k
                    .tags
                    .as_ref()
                    .filter(|(at, _)| at.elapsed() < TAGS_TTL)
                    .map(|(_, t)| t.clone()),
            }
        };
        let (fresh_counts, fresh_tags) = (reuse.counts.is_none(), reuse.tags.is_none());
        let page = read(q, reuse).await?;
        let mut k = self.kept();
        if fresh_counts && shared_counts {
            k.counts = Some((Instant::now(), page.counts));
        }
        if fresh_tags {
            k.tags = Some((Instant::now(), page.tags.clone()));
        }
        Ok(page)
    }

    /// Forgets what it kept: the targets changed.
    pub(super) fn clear(&self) {
        *self.kept() = Kept::default();
    }
}

/// The SQL condition on `targets` for the targets a view lists: the configured ones, or the
/// removed ones (both stores' column is `removed_at`).
pub(super) fn removed_sql(removed: bool) -> &'static str {
    if removed {
        "removed_at IS NOT NULL"
    } else {
        "removed_at IS NULL"
    }
}

/// The overview's sort key over its filtered rows (status in `st`); `name` and `last_check` are
/// the dialect's keys for those two sorts.
pub(super) fn order_sql(sort: Sort, name: &'static str, last_check: &'static str) -> &'static str {
    match sort {
        Sort::Status => {
            "CASE st WHEN 'down' THEN 0 WHEN 'degraded' THEN 1 WHEN 'flapping' THEN 2
              WHEN 'unknown' THEN 3 WHEN 'paused' THEN 5 ELSE 4 END"
        }
        Sort::Name => name,
        // Targets without a response time (failed, never checked) last, either way round.
        Sort::ResponseTime => "last_response_ms IS NULL, last_response_ms",
        Sort::LastCheck => last_check,
    }
}

/// A search as a `LIKE` pattern (escape `\`): the text anywhere, its wildcards literal.
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

/// Passes over checks, from the sums of a query (None: no checks).
pub(super) fn ratio(up: Option<i64>, checks: Option<i64>) -> Option<f64> {
    match (up, checks) {
        (Some(u), Some(c)) if c > 0 => Some(u as f64 / c as f64),
        _ => None,
    }
}

/// A status column as the stores' SQL computes it (`removed` for a removed target).
pub(super) fn status(s: &str) -> Status {
    Status::parse(s).unwrap_or(Status::Unknown)
}

impl StatusCounts {
    /// Adds `n` targets of a status column (`removed` included).
    pub(super) fn add_row(&mut self, status_col: &str, n: i64) {
        match status_col {
            "removed" => self.removed += n as u64,
            s => self.add(status(s), n as u64),
        }
    }
}

/// Where the uptime windows start at `now`: 24 h from hour rollups (the last 24 hours, the
/// current one so far), 7 d and 30 d from day rollups (the last 7 and 30 UTC days, today so
/// far).
pub(super) fn uptime_starts(now: Micros) -> [Micros; 3] {
    let hour = now - now.rem_euclid(HOUR);
    let day = now - now.rem_euclid(DAY);
    [hour - 23 * HOUR, day - 6 * DAY, day - 29 * DAY]
}

/// Sets the uptime of `rows` from `(target id, [up, checks] of 24 h, 7 d and 30 d)`, as each
/// store's uptime query answers.
pub(super) fn set_uptime(
    rows: &mut [TargetSummary],
    sums: impl IntoIterator<Item = (String, [Option<i64>; 6])>,
) {
    let mut found: HashMap<String, UptimeWindows> = sums
        .into_iter()
        .map(|(id, s)| {
            let windows = UptimeWindows {
                day: ratio(s[0], s[1]),
                week: ratio(s[2], s[3]),
                month: ratio(s[4], s[5]),
            };
            (id, windows)
        })
        .collect();
    for row in rows {
        if let Some(u) = found.remove(&row.id) {
            row.uptime = u;
        }
    }
}

impl Uptime {
    /// The uptime over `[from, to)` from the sums of its hour rollups.
    pub(super) fn from_sums(
        from: Micros,
        to: Micros,
        up: Option<i64>,
        checks: Option<i64>,
    ) -> Self {
        Uptime {
            from,
            to,
            checks: checks.unwrap_or(0) as u64,
            up: up.unwrap_or(0) as u64,
            ratio: ratio(up, checks),
        }
    }
}

/// What a series over `[from, to)` in points `step` wide reads: the rollup table, the step (a
/// minute at the least) and the first bucket.
pub(super) struct SeriesSource {
    pub table: &'static str,
    pub from: Micros,
    pub to: Micros,
    pub step: Micros,
    /// The bucket the first point starts at: `from` down to a whole step.
    pub start: Micros,
}

impl SeriesSource {
    /// Minute rollups for steps under an hour, hour rollups otherwise.
    pub(super) fn new(from: Micros, to: Micros, step: Micros) -> SeriesSource {
        let step = step.max(MINUTE);
        SeriesSource {
            table: if step >= HOUR {
                "rollup_hour"
            } else {
                "rollup_minute"
            },
            from,
            to,
            step,
            start: from - from.rem_euclid(step),
        }
    }

    /// The fold of the rows read into the series' points.
    pub(super) fn fold(&self) -> SeriesFold {
        SeriesFold::new(self.from, self.step)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SECOND;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("a%b_c\\"), "%a\\%b\\_c\\\\%");
    }

    #[test]
    fn uptime_windows_start_at_whole_hours_and_days() {
        let now = 40 * DAY + 5 * HOUR + 7 * SECOND;
        assert_eq!(
            uptime_starts(now),
            [40 * DAY - 18 * HOUR, 34 * DAY, 11 * DAY]
        );
    }

    #[test]
    fn uptime_is_set_where_there_were_checks() {
        let row = |id: &str| TargetSummary {
            id: id.into(),
            name: id.into(),
            url: None,
            tags: Vec::new(),
            interval_s: None,
            status: Status::Up,
            last_check: None,
            last_response_ms: None,
            last_status_code: None,
            last_error_kind: None,
            last_error: None,
            recent: String::new(),
            cert_not_after: None,
            down_since: None,
            uptime: UptimeWindows::default(),
            removed_at: None,
            last_duration_ms: None,
        };
        let mut rows = [row("a"), row("b")];
        let sums = [(
            "a".to_owned(),
            [Some(3), Some(4), None, None, Some(0), Some(0)],
        )];
        set_uptime(&mut rows, sums);
        assert_eq!(
            rows[0].uptime,
            UptimeWindows {
                day: Some(0.75),
                week: None,
                month: None
            }
        );
        assert_eq!(rows[1].uptime, UptimeWindows::default());
    }

    #[test]
    fn series_read_minute_rollups_under_an_hour_from_a_whole_step() {
        let s = SeriesSource::new(HOUR + 90 * SECOND, 2 * HOUR, 30 * SECOND);
        assert_eq!(
            (s.table, s.step, s.start),
            ("rollup_minute", MINUTE, HOUR + MINUTE)
        );
        let s = SeriesSource::new(HOUR + 90 * SECOND, 2 * HOUR, 6 * HOUR);
        assert_eq!((s.table, s.step, s.start), ("rollup_hour", 6 * HOUR, 0));
    }

    #[test]
    fn removed_targets_count_apart_from_the_statuses() {
        let mut c = StatusCounts::default();
        c.add_row("removed", 2);
        c.add_row("down", 3);
        c.add_row("nonsense", 1);
        assert_eq!((c.removed, c.down, c.unknown, c.total()), (2, 3, 1, 4));
    }
}
