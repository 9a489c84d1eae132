//! The dashboard over PostgreSQL, read-only: the tables `writers.postgres` keeps (targets with
//! their live state, rollups per minute, hour and day, incidents; migration
//! `20261126000000_create_rollups.sql`), read with the same queries as the SQLite store. Every
//! session is `default_transaction_read_only`, so nothing here can write. [`targets`] answers
//! the overview and a target's live state, [`history`] its series, events, incidents and uptime.

mod history;
mod targets;

use std::sync::Mutex;
use std::time::Instant;

use time::OffsetDateTime;

use crate::postgres::{ConnectOptions, DatabaseUrl, PgError, migrate};
use crate::store::{
    EventRow, Incident, IncidentQuery, Micros, OverviewPage, OverviewQuery, SeriesPoint,
    StatusCounts, Store, StoreError, TargetSummary, Uptime, from_micros, now_micros, to_micros,
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

fn micros(t: Option<OffsetDateTime>) -> Option<Micros> {
    t.map(to_micros)
}

fn ratio(up: Option<i64>, checks: Option<i64>) -> Option<f64> {
    match (up, checks) {
        (Some(u), Some(c)) if c > 0 => Some(u as f64 / c as f64),
        _ => None,
    }
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
        let search = q.search.as_deref().map(targets::like_pattern);
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
                let fresh = targets::counts(&c, now, q.tag.as_deref(), search.as_deref()).await?;
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
                let fresh = targets::tags(&c).await?;
                self.meta.lock().unwrap_or_else(|p| p.into_inner()).tags =
                    Some((Instant::now(), fresh.clone()));
                fresh
            }
        };
        targets::overview(&c, &q, now_m, search, counts, tags).await
    }

    async fn target(&self, id: &str) -> Result<Option<TargetSummary>, StoreError> {
        targets::target(&self.client().await?, id, now_micros()).await
    }

    async fn all_targets(&self) -> Result<Vec<TargetSummary>, StoreError> {
        targets::all_targets(&self.client().await?, now_micros()).await
    }

    async fn series(
        &self,
        id: &str,
        from: Micros,
        to: Micros,
        step: Micros,
    ) -> Result<Vec<SeriesPoint>, StoreError> {
        history::series(&self.client().await?, id, from, to, step).await
    }

    async fn events(
        &self,
        id: &str,
        from: Micros,
        to: Micros,
        limit: u32,
    ) -> Result<Vec<EventRow>, StoreError> {
        history::events(&self.client().await?, id, from, to, limit).await
    }

    async fn incidents(&self, q: IncidentQuery) -> Result<(Vec<Incident>, u64), StoreError> {
        history::incidents(&self.client().await?, &q).await
    }

    async fn uptime(&self, id: &str, from: Micros, to: Micros) -> Result<Uptime, StoreError> {
        history::uptime(&self.client().await?, id, from, to).await
    }
}
