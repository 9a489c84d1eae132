//! The dashboard over PostgreSQL: the tables `writers.postgres` keeps (targets with their live
//! state, rollups per minute, hour and day, incidents; migration
//! `20261126000000_create_rollups.sql`), read with the same queries as the SQLite store. Every
//! session is `default_transaction_read_only`, so nothing here writes but acknowledgements and
//! silences ([`alerts`]) and the incidents people write on status pages ([`status`]), whose
//! transactions say `READ WRITE`. [`targets`] answers the overview and a target's live state,
//! [`history`] its series, events, incidents and uptime.

pub mod alerts;
mod history;
pub mod status;
mod targets;

use time::OffsetDateTime;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use crate::postgres::{ConnectOptions, DatabaseUrl, PgError, migrate};
use crate::store::query::{OverviewCache, SeriesSource};
use crate::store::{
    EventRow, Incident, IncidentQuery, Micros, OverviewPage, OverviewQuery, SeriesPoint, Store,
    StoreError, TargetSummary, Uptime, now_micros, to_micros,
};

/// The PostgreSQL store.
pub struct PostgresStore {
    pool: deadpool_postgres::Pool,
    cache: OverviewCache,
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

type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// The rows of `sql` (a statement prepared once per connection) with `params`.
async fn query(
    c: &deadpool_postgres::Client,
    sql: &str,
    params: Params<'_>,
) -> Result<Vec<Row>, StoreError> {
    let stmt = c.prepare_cached(sql).await.map_err(db)?;
    c.query(&stmt, params).await.map_err(db)
}

/// The one row of `sql` with `params`.
async fn query_one(
    c: &deadpool_postgres::Client,
    sql: &str,
    params: Params<'_>,
) -> Result<Row, StoreError> {
    let stmt = c.prepare_cached(sql).await.map_err(db)?;
    c.query_one(&stmt, params).await.map_err(db)
}

impl PostgresStore {
    /// Connects to `url` (a libpq URL; `ca_file` as `POSTGRES_SSL_CA_FILE`) and checks that
    /// the schema has the dashboard's tables.
    pub async fn open(
        url: &str,
        ca_file: Option<&std::path::Path>,
        pool_size: usize,
    ) -> Result<PostgresStore, StoreError> {
        let mut opts = ConnectOptions::parse(&DatabaseUrl::new(url), ca_file)?;
        let options = match opts.pg.get_options() {
            Some(o) if !o.is_empty() => format!("{o} -c default_transaction_read_only=on"),
            _ => "-c default_transaction_read_only=on".to_owned(),
        };
        opts.pg.options(&options);
        let pool = opts.pool(pool_size.max(2))?;
        let store = PostgresStore {
            pool,
            cache: OverviewCache::default(),
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

    /// Its outbox and acknowledgements (acknowledging writes, in `READ WRITE` transactions).
    pub fn alerts(&self) -> alerts::PgAlerts {
        alerts::PgAlerts::new(self.pool.clone())
    }

    /// The incidents people write on status pages (writes in `READ WRITE` transactions).
    pub fn status_book(&self) -> status::PgStatusBook {
        status::PgStatusBook::new(self.pool.clone())
    }
}

#[async_trait::async_trait]
impl Store for PostgresStore {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let c = self.client().await?;
        query_one(
            &c,
            "SELECT count(*) FROM (SELECT 1 FROM targets LIMIT 1) t",
            &[],
        )
        .await?;
        Ok(())
    }

    async fn overview(&self, q: OverviewQuery) -> Result<OverviewPage, StoreError> {
        self.cache
            .page(q, |q, reuse| async move {
                let c = self.client().await?;
                targets::overview(&c, &q, now_micros(), reuse).await
            })
            .await
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
        let src = SeriesSource::new(from, to, step);
        history::series(&self.client().await?, id, &src).await
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_url_without_a_user_is_a_connect_error_before_any_connection() {
        let e = PostgresStore::open("postgres://127.0.0.1:1/d", None, 2)
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::Connect(_)), "{e:?}");
        assert!(!e.is_retriable());
        assert_eq!(
            e.to_string(),
            "a libpq URL with a user name, such as postgres://user:password@host:5432/db"
        );
    }
}
