//! The incidents people write on status pages in the SQLite store ([`StatusBook`]): one row
//! per incident, its title, impact, components and updates in one JSON document, so an update
//! is one read and one write in one transaction on the write connection.

use rusqlite::{OptionalExtension, Transaction, params};

use super::SqliteStore;
use crate::store::status::{Doc, NewIncident, NewUpdate, StatusBook, StatusIncident, UpdateStatus};
use crate::store::{Micros, StoreError};

/// The table, made when missing each time the store opens (as alerting's are).
pub const TABLES: &str = "
CREATE TABLE IF NOT EXISTS status_incidents (
    id INTEGER PRIMARY KEY,
    page TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    resolved_at INTEGER,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS status_incidents_page ON status_incidents (page, created_at);
CREATE INDEX IF NOT EXISTS status_incidents_updated ON status_incidents (updated_at);
";

fn json_err(id: i64, e: serde_json::Error) -> StoreError {
    StoreError::Other(format!("status incident {id}: unreadable document: {e}"))
}

const COLUMNS: &str =
    "SELECT id, page, created_at, updated_at, resolved_at, doc FROM status_incidents";

fn row(
    r: &rusqlite::Row,
) -> rusqlite::Result<(i64, String, Micros, Micros, Option<Micros>, String)> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
    ))
}

fn incident_of(
    (id, page, created, updated, resolved, doc): (
        i64,
        String,
        Micros,
        Micros,
        Option<Micros>,
        String,
    ),
) -> Result<StatusIncident, StoreError> {
    let doc: Doc = serde_json::from_str(&doc).map_err(|e| json_err(id, e))?;
    Ok(doc.incident(id, page, created, updated, resolved))
}

fn one(c: &rusqlite::Connection, id: i64) -> Result<Option<StatusIncident>, StoreError> {
    c.prepare_cached(&format!("{COLUMNS} WHERE id = ?1"))?
        .query_row([id], row)
        .optional()?
        .map(incident_of)
        .transpose()
}

fn open(tx: &Transaction, new: NewIncident, at: Micros) -> Result<StatusIncident, StoreError> {
    let page = new.page.clone();
    let resolved = (new.status == UpdateStatus::Resolved).then_some(at);
    let doc = Doc::open(new, at);
    let text = serde_json::to_string(&doc).map_err(|e| json_err(0, e))?;
    tx.prepare_cached(
        "INSERT INTO status_incidents (page, created_at, updated_at, resolved_at, doc)
         VALUES (?1, ?2, ?2, ?3, ?4)",
    )?
    .execute(params![page, at, resolved, text])?;
    Ok(doc.incident(tx.last_insert_rowid(), page, at, at, resolved))
}

fn update(
    tx: &Transaction,
    id: i64,
    u: NewUpdate,
    at: Micros,
) -> Result<Option<StatusIncident>, StoreError> {
    let Some(mut i) = one(tx, id)? else {
        return Ok(None);
    };
    let mut doc = Doc::take(&mut i);
    let resolved = doc.append(u, at, i.resolved_at);
    // Never earlier than it was: an update posted with an older time still moves it on.
    let updated = i.updated_at.max(at);
    let text = serde_json::to_string(&doc).map_err(|e| json_err(id, e))?;
    tx.prepare_cached(
        "UPDATE status_incidents SET updated_at = ?2, resolved_at = ?3, doc = ?4 WHERE id = ?1",
    )?
    .execute(params![id, updated, resolved, text])?;
    Ok(Some(doc.incident(
        id,
        i.page,
        i.created_at,
        updated,
        resolved,
    )))
}

#[async_trait::async_trait]
impl StatusBook for SqliteStore {
    async fn status_incidents(
        &self,
        page: &str,
        resolved_since: Micros,
        limit: u32,
    ) -> Result<Vec<StatusIncident>, StoreError> {
        let page = page.to_owned();
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "{COLUMNS} WHERE page = ?1 AND (resolved_at IS NULL OR resolved_at >= ?2)
                 ORDER BY created_at DESC, id DESC LIMIT ?3"
            ))?;
            let rows = stmt.query_map(params![page, resolved_since, i64::from(limit)], row)?;
            rows.map(|r| incident_of(r?)).collect()
        })
        .await
    }

    async fn status_incident(&self, id: i64) -> Result<Option<StatusIncident>, StoreError> {
        self.read(move |c| one(c, id)).await
    }

    async fn open_status_incident(
        &self,
        new: NewIncident,
        at: Micros,
    ) -> Result<StatusIncident, StoreError> {
        self.write(move |w, _| {
            let tx = w.conn.transaction()?;
            let made = open(&tx, new, at)?;
            tx.commit()?;
            Ok(made)
        })
        .await
    }

    async fn update_status_incident(
        &self,
        id: i64,
        u: NewUpdate,
        at: Micros,
    ) -> Result<Option<StatusIncident>, StoreError> {
        self.write(move |w, _| {
            // IMMEDIATE: the write lock before the read, so another process writing the file
            // cannot slip an update in between.
            let tx = w
                .conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let done = update(&tx, id, u, at)?;
            tx.commit()?;
            Ok(done)
        })
        .await
    }

    async fn status_incidents_changed(&self) -> Result<Micros, StoreError> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT coalesce(max(updated_at), 0) FROM status_incidents",
                [],
                |r| r.get(0),
            )?)
        })
        .await
    }
}
