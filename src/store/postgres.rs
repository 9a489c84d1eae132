//! The dashboard over PostgreSQL, read-only: the tables `writers.postgres` keeps (targets with
//! their live state, rollups per minute, hour and day, incidents; migration
//! `20261126000000_create_rollups.sql`), read with the same queries as the SQLite store. Every
//! session is `default_transaction_read_only`, so nothing here can write.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use time::OffsetDateTime;
use tokio_postgres::Row;

use crate::postgres::{ConnectOptions, DatabaseUrl, PgError, migrate};
use crate::store::rollup::{RollupRow, SeriesFold};
use crate::store::{
    DAY, EventRow, HOUR, Incident, IncidentQuery, MINUTE, Micros, OverviewPage, OverviewQuery,
    SeriesPoint, Sort, Status, StatusCounts, Store, StoreError, TargetSummary, Uptime,
    UptimeWindows, from_micros, now_micros, removed_sql, to_micros,
};

/// How long the overview's counts by status and its tag list are reused (as the SQLite store).
use crate::store::sqlite::{COUNTS_TTL, TAGS_TTL};

/// The PostgreSQL store.
pub struct PostgresStore {
    pool: deadpool_postgres::Pool,
    meta: Mutex<Meta>,
}

#[derive(Default)]
struct Meta {
    counts: Option<(Instant, StatusCounts)>,
    tags: Option<(Instant, Vec<String>)>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore").finish_non_exhaustive()
    }
}

fn db(e: impl Into<PgError>) -> StoreError {
    StoreError::Other(format!("postgres: {}", e.into()))
}

/// The status as the overview shows it: no check for three intervals (3 minutes when the
/// interval is unknown) is unknown, whatever the last check said. `$1` is now.
const STATUS_SQL: &str = "CASE WHEN last_event_time IS NULL
      OR last_event_time < $1::timestamptz
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

fn micros(t: Option<OffsetDateTime>) -> Option<Micros> {
    t.map(to_micros)
}

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

fn ratio(up: Option<i64>, checks: Option<i64>) -> Option<f64> {
    match (up, checks) {
        (Some(u), Some(c)) if c > 0 => Some(u as f64 / c as f64),
        _ => None,
    }
}

fn like_pattern(s: &str) -> String {
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

impl PostgresStore {
    /// Connects to `url` (a libpq URL; `ca_file` as `POSTGRES_SSL_CA_FILE`) and checks that
    /// the schema has the dashboard's tables.
    pub async fn open(
        url: &str,
        ca_file: Option<&std::path::Path>,
        pool_size: usize,
    ) -> Result<PostgresStore, StoreError> {
        let mut opts =
            ConnectOptions::parse(&DatabaseUrl::new(url), ca_file).map_err(StoreError::Other)?;
        let options = match opts.pg.get_options() {
            Some(o) if !o.is_empty() => format!("{o} -c default_transaction_read_only=on"),
            _ => "-c default_transaction_read_only=on".to_owned(),
        };
        opts.pg.options(&options);
        let pool = opts.pool(pool_size.max(2)).map_err(StoreError::Other)?;
        let store = PostgresStore {
            pool,
            meta: Mutex::new(Meta::default()),
        };
        let client = store.client().await?;
        let pending = migrate::pending(&client).await.map_err(db)?;
        if let Some(first) = pending.first() {
            return Err(StoreError::Other(format!(
                "the database schema is not up to date ({} migration(s) pending, first {}): run `uptimer migrate up`",
                pending.len(),
                first.file
            )));
        }
        Ok(store)
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(db)
    }

    async fn counts(
        &self,
        c: &deadpool_postgres::Object,
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

    async fn tags(&self, c: &deadpool_postgres::Object) -> Result<Vec<String>, StoreError> {
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
        &self,
        c: &deadpool_postgres::Object,
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
}

#[async_trait::async_trait]
impl Store for PostgresStore {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let c = self.client().await?;
        c.query_one(
            "SELECT count(*) FROM (SELECT 1 FROM targets LIMIT 1) t",
            &[],
        )
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn overview(&self, q: OverviewQuery) -> Result<OverviewPage, StoreError> {
        let c = self.client().await?;
        let now_m = now_micros();
        let now = from_micros(now_m);
        let search = q.search.as_deref().map(like_pattern);
        // Only the unfiltered counts are reused: a tag or a search counts its own targets.
        let shared_counts = q.tag.is_none() && q.search.is_none();
        let cached = {
            let m = self.meta.lock().unwrap_or_else(|p| p.into_inner());
            (
                m.counts
                    .filter(|(at, _)| shared_counts && at.elapsed() < COUNTS_TTL)
                    .map(|(_, c)| c),
                m.tags
                    .as_ref()
                    .filter(|(at, _)| at.elapsed() < TAGS_TTL)
                    .map(|(_, t)| t.clone()),
            )
        };
        let counts = match cached.0 {
            Some(c) => c,
            None => {
                let fresh = self
                    .counts(&c, now, q.tag.as_deref(), search.as_deref())
                    .await?;
                if shared_counts {
                    self.meta.lock().unwrap_or_else(|p| p.into_inner()).counts =
                        Some((Instant::now(), fresh));
                }
                fresh
            }
        };
        let tags = match cached.1 {
            Some(t) => t,
            None => {
                let fresh = self.tags(&c).await?;
                self.meta.lock().unwrap_or_else(|p| p.into_inner()).tags =
                    Some((Instant::now(), fresh.clone()));
                fresh
            }
        };
        let order = match q.sort {
            Sort::Status => {
                "CASE st WHEN 'down' THEN 0 WHEN 'degraded' THEN 1 WHEN 'unknown' THEN 2 ELSE 3 END"
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
        self.fill_uptime(&c, &mut targets, now_m).await?;
        Ok(OverviewPage {
            targets,
            matching: matching as u64,
            counts,
            tags,
        })
    }

    async fn target(&self, id: &str) -> Result<Option<TargetSummary>, StoreError> {
        let c = self.client().await?;
        let now = now_micros();
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
        self.fill_uptime(&c, &mut rows, now).await?;
        Ok(rows.pop())
    }

    async fn all_targets(&self) -> Result<Vec<TargetSummary>, StoreError> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&format!(
                "SELECT {SUMMARY_COLS}, {STATUS_SQL} FROM targets WHERE removed_at IS NULL
                 ORDER BY id COLLATE \"C\""
            ))
            .await
            .map_err(db)?;
        Ok(c.query(&stmt, &[&from_micros(now_micros())])
            .await
            .map_err(db)?
            .iter()
            .map(summary)
            .collect())
    }

    async fn series(
        &self,
        id: &str,
        from: Micros,
        to: Micros,
        step: Micros,
    ) -> Result<Vec<SeriesPoint>, StoreError> {
        let c = self.client().await?;
        let step = step.max(MINUTE);
        let table = if step >= HOUR {
            "rollup_hour"
        } else {
            "rollup_minute"
        };
        let stmt = c
            .prepare_cached(&format!(
                "SELECT bucket, checks, up, sum_ms, min_ms, max_ms, sum_dns_ms, sum_connect_ms,
                   sum_tls_ms, sum_ttfb_ms, sum_transfer_ms, hist, coalesce(timed, checks)
                 FROM {table} WHERE target_id = $1 AND bucket >= $2 AND bucket < $3
                 ORDER BY bucket"
            ))
            .await
            .map_err(db)?;
        let rows = c
            .query(
                &stmt,
                &[
                    &id,
                    &from_micros(from - from.rem_euclid(step)),
                    &from_micros(to),
                ],
            )
            .await
            .map_err(db)?;
        let mut fold = SeriesFold::new(from, step);
        for r in &rows {
            fold.add(RollupRow {
                bucket: to_micros(r.get::<_, OffsetDateTime>(0)),
                checks: r.get(1),
                up: r.get(2),
                timed: r.get(12),
                sum_ms: r.get(3),
                min_ms: r.get(4),
                max_ms: r.get(5),
                phase_sums: std::array::from_fn(|i| r.get::<_, f64>(6 + i)),
                hist: r.get::<_, &[u8]>(11),
            });
        }
        Ok(fold.finish())
    }

    async fn events(
        &self,
        id: &str,
        from: Micros,
        to: Micros,
        limit: u32,
    ) -> Result<Vec<EventRow>, StoreError> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "SELECT uuid::text, event_time, up, status_code::int8, response_time_ms::int8,
                   error_kind, error, phases_ms_dns, phases_ms_connect, phases_ms_tls,
                   phases_ms_ttfb, phases_ms_transfer, ip, http_version, location, body_bytes,
                   redirects::int8
                 FROM probe_events WHERE target_id = $1 AND event_time >= $2 AND event_time < $3
                 ORDER BY event_time DESC LIMIT $4",
            )
            .await
            .map_err(db)?;
        let rows = c
            .query(
                &stmt,
                &[
                    &id,
                    &from_micros(from),
                    &from_micros(to),
                    &i64::from(limit.min(10_000)),
                ],
            )
            .await
            .map_err(db)?;
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
                phases_ms: [r.get(7), r.get(8), r.get(9), r.get(10), r.get(11)],
                ip: r.get(12),
                http_version: r.get(13),
                location: r.get(14),
                body_bytes: r.get(15),
                redirects: r.get(16),
            })
            .collect())
    }

    async fn incidents(&self, q: IncidentQuery) -> Result<(Vec<Incident>, u64), StoreError> {
        let c = self.client().await?;
        let filter = "($1::text IS NULL OR i.target_id = $1::text)
            AND (NOT $2::bool OR i.ended_at IS NULL)";
        let total_stmt = c
            .prepare_cached(&format!("SELECT count(*) FROM incidents i WHERE {filter}"))
            .await
            .map_err(db)?;
        let total: i64 = c
            .query_one(&total_stmt, &[&q.target, &q.open_only])
            .await
            .map_err(db)?
            .get(0);
        let stmt = c
            .prepare_cached(&format!(
                "SELECT i.id, i.target_id, coalesce(t.name, i.target_id), i.started_at,
                   i.ended_at, i.error_kind, i.error, i.failed_checks::int8, i.end_reason
                 FROM incidents i LEFT JOIN targets t ON t.id = i.target_id
                 WHERE {filter} ORDER BY i.started_at DESC, i.id DESC LIMIT $3 OFFSET $4"
            ))
            .await
            .map_err(db)?;
        let rows = c
            .query(
                &stmt,
                &[
                    &q.target,
                    &q.open_only,
                    &i64::from(q.limit.clamp(1, 1000)),
                    &i64::from(q.offset),
                ],
            )
            .await
            .map_err(db)?;
        Ok((
            rows.iter()
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
                .collect(),
            total as u64,
        ))
    }

    async fn uptime(&self, id: &str, from: Micros, to: Micros) -> Result<Uptime, StoreError> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "SELECT sum(up)::int8, sum(checks)::int8 FROM rollup_hour
                 WHERE target_id = $1 AND bucket >= $2 AND bucket < $3",
            )
            .await
            .map_err(db)?;
        let r = c
            .query_one(
                &stmt,
                &[
                    &id,
                    &from_micros(from - from.rem_euclid(HOUR)),
                    &from_micros(to),
                ],
            )
            .await
            .map_err(db)?;
        let (up, checks): (Option<i64>, Option<i64>) = (r.get(0), r.get(1));
        Ok(Uptime {
            from,
            to,
            checks: checks.unwrap_or(0) as u64,
            up: up.unwrap_or(0) as u64,
            ratio: ratio(up, checks),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("a%b_c\\"), "%a\\%b\\_c\\\\%");
    }
}
