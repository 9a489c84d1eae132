//! The incidents people write on status pages in PostgreSQL (migration
//! `20261210000000_create_status_incidents.sql`), kept as the SQLite store keeps them: the
//! page and times in columns, the rest in one `doc` that an update rewrites in the
//! transaction that read it (`FOR UPDATE`: two dashboards over one database append in turn).
//! The dashboard's sessions are read-only, so the writes say `READ WRITE` themselves.

use deadpool_postgres::GenericClient;
use time::OffsetDateTime;

use super::alerts::write_tx;
use crate::store::status::{Doc, NewIncident, NewUpdate, StatusBook, StatusIncident, UpdateStatus};
use crate::store::{Micros, StoreError, from_micros, to_micros};

fn db(e: impl Into<crate::postgres::PgError>) -> StoreError {
    StoreError::Other(format!("postgres: {}", e.into()))
}

fn json_err(id: i64, e: serde_json::Error) -> StoreError {
    StoreError::Other(format!("status incident {id}: unreadable document: {e}"))
}

/// The status incidents over a pool.
#[derive(Clone)]
pub struct PgStatusBook {
    pool: deadpool_postgres::Pool,
}

impl PgStatusBook {
    pub fn new(pool: deadpool_postgres::Pool) -> PgStatusBook {
        PgStatusBook { pool }
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(db)
    }
}

const COLUMNS: &str =
    "SELECT id, page, created_at, updated_at, resolved_at, doc::text FROM status_incidents";

fn incident_of(r: &tokio_postgres::Row) -> Result<StatusIncident, StoreError> {
    let id: i64 = r.get(0);
    let doc: Doc = serde_json::from_str(r.get(5)).map_err(|e| json_err(id, e))?;
    let resolved: Option<OffsetDateTime> = r.get(4);
    Ok(doc.incident(
        id,
        r.get(1),
        to_micros(r.get(2)),
        to_micros(r.get(3)),
        resolved.map(to_micros),
    ))
}

/// Incident `id` (locked until the transaction ends with `lock`).
async fn one(
    c: &impl GenericClient,
    id: i64,
    lock: bool,
) -> Result<Option<StatusIncident>, StoreError> {
    let sql = if lock {
        format!("{COLUMNS} WHERE id = $1 FOR UPDATE")
    } else {
        format!("{COLUMNS} WHERE id = $1")
    };
    let stmt = c.prepare_cached(&sql).await.map_err(db)?;
    c.query_opt(&stmt, &[&id])
        .await
        .map_err(db)?
        .as_ref()
        .map(incident_of)
        .transpose()
}

#[async_trait::async_trait]
impl StatusBook for PgStatusBook {
    async fn status_incidents(
        &self,
        page: &str,
        resolved_since: Micros,
        limit: u32,
    ) -> Result<Vec<StatusIncident>, StoreError> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&format!(
                "{COLUMNS} WHERE page = $1 AND (resolved_at IS NULL OR resolved_at >= $2)
                 ORDER BY created_at DESC, id DESC LIMIT $3"
            ))
            .await
            .map_err(db)?;
        c.query(
            &stmt,
            &[&page, &from_micros(resolved_since), &i64::from(limit)],
        )
        .await
        .map_err(db)?
        .iter()
        .map(incident_of)
        .collect()
    }

    async fn status_incident(&self, id: i64) -> Result<Option<StatusIncident>, StoreError> {
        one(&self.client().await?, id, false).await
    }

    async fn open_status_incident(
        &self,
        new: NewIncident,
        at: Micros,
    ) -> Result<StatusIncident, StoreError> {
        let mut c = self.client().await?;
        let tx = write_tx(&mut c).await?;
        let page = new.page.clone();
        let resolved = (new.status == UpdateStatus::Resolved).then_some(at);
        let doc = Doc::open(new, at);
        let text = serde_json::to_string(&doc).map_err(|e| json_err(0, e))?;
        let row = tx
            .query_one(
                "INSERT INTO status_incidents (page, created_at, updated_at, resolved_at, doc)
                 VALUES ($1, $2, $2, $3, $4::text::jsonb) RETURNING id",
                &[&page, &from_micros(at), &resolved.map(from_micros), &text],
            )
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(doc.incident(row.get(0), page, at, at, resolved))
    }

    async fn update_status_incident(
        &self,
        id: i64,
        u: NewUpdate,
        at: Micros,
    ) -> Result<Option<StatusIncident>, StoreError> {
        let mut c = self.client().await?;
        let tx = write_tx(&mut c).await?;
        let Some(mut i) = one(&tx, id, true).await? else {
            return Ok(None);
        };
        let mut doc = Doc::take(&mut i);
        let resolved = doc.append(u, at, i.resolved_at);
        // Never earlier than it was: an update posted with an older time still moves it on.
        let updated = i.updated_at.max(at);
        let text = serde_json::to_string(&doc).map_err(|e| json_err(id, e))?;
        tx.execute(
            "UPDATE status_incidents SET updated_at = $2, resolved_at = $3, doc = $4::text::jsonb
             WHERE id = $1",
            &[
                &id,
                &from_micros(updated),
                &resolved.map(from_micros),
                &text,
            ],
        )
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(Some(doc.incident(
            id,
            i.page,
            i.created_at,
            updated,
            resolved,
        )))
    }

    async fn status_incidents_changed(&self) -> Result<Micros, StoreError> {
        let c = self.client().await?;
        let r = c
            .query_one("SELECT max(updated_at) FROM status_incidents", &[])
            .await
            .map_err(db)?;
        let last: Option<OffsetDateTime> = r.get(0);
        Ok(last.map_or(0, to_micros))
    }
}
