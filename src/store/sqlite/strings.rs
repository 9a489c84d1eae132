//! The `strings` table as the packed codec sees it: each distinct repeated string (an error
//! text, a target's descriptor) stored once and referred to by its id. Ids are only ever
//! added, so a connection keeps what it has read and reads only the ids added since
//! ([`refresh`]). The readers share one cache ([`Shared`]); the write connection keeps its
//! own, which a failed transaction resets ([`Tx`]).

use std::sync::{Arc, RwLock, RwLockReadGuard};

use rusqlite::{Connection, OptionalExtension, params};

use super::pack::{Intern, PackError, Resolve, Strings};

/// Reads into `cache` the strings `conn` sees that it lacks.
pub fn refresh(conn: &Connection, cache: &mut Strings) -> Result<(), rusqlite::Error> {
    for (id, value) in added_since(conn, cache.max_id())? {
        cache.insert(id, &value).map_err(conflict)?;
    }
    Ok(())
}

/// A row that contradicts the cache: the table was changed under it (a copy swapped in).
fn conflict(e: super::pack::PackError) -> rusqlite::Error {
    rusqlite::Error::UserFunctionError(Box::new(e))
}

fn added_since(conn: &Connection, known: u64) -> Result<Vec<(u64, String)>, rusqlite::Error> {
    let mut stmt =
        conn.prepare_cached("SELECT id, value FROM strings WHERE id > ?1 ORDER BY id")?;
    stmt.query_map([known as i64], |r| {
        Ok((r.get::<_, i64>(0)? as u64, r.get(1)?))
    })?
    .collect()
}

/// The strings the read connections have read, shared by them.
#[derive(Debug, Clone, Default)]
pub struct Shared(Arc<RwLock<Strings>>);

impl Shared {
    /// The strings as of `conn`'s view (those added since the last call are read first).
    pub fn fresh(
        &self,
        conn: &Connection,
    ) -> Result<RwLockReadGuard<'_, Strings>, rusqlite::Error> {
        let known = self.read().max_id();
        let added = added_since(conn, known)?;
        if !added.is_empty() {
            let mut all = self.0.write().unwrap_or_else(|p| p.into_inner());
            for (id, value) in added {
                all.insert(id, &value).map_err(conflict)?;
            }
        }
        Ok(self.read())
    }

    fn read(&self) -> RwLockReadGuard<'_, Strings> {
        self.0.read().unwrap_or_else(|p| p.into_inner())
    }
}

/// Interning inside one write transaction over the write connection's own cache, which must
/// have been [`refresh`]ed inside the transaction before: known strings from the cache, new
/// ones inserted into the table and the cache. When the transaction does not commit, call
/// [`Tx::forget`] so the cache holds no id the table lacks.
pub struct Tx<'a> {
    conn: &'a Connection,
    cache: &'a mut Strings,
}

impl<'a> Tx<'a> {
    pub fn new(conn: &'a Connection, cache: &'a mut Strings) -> Self {
        Tx { conn, cache }
    }

    /// After a rollback: the cache starts afresh (read again on the next [`refresh`]).
    pub fn forget(cache: &mut Strings) {
        *cache = Strings::default();
    }

    fn insert(&mut self, s: &str) -> Result<u64, rusqlite::Error> {
        let found: Option<i64> = self
            .conn
            .prepare_cached("SELECT id FROM strings WHERE value = ?1")?
            .query_row([s], |r| r.get(0))
            .optional()?;
        let id = match found {
            Some(id) => id,
            None => {
                self.conn
                    .prepare_cached("INSERT INTO strings (value) VALUES (?1)")?
                    .execute(params![s])?;
                self.conn.last_insert_rowid()
            }
        } as u64;
        self.cache.insert(id, s).map_err(conflict)?;
        Ok(id)
    }
}

impl Intern for Tx<'_> {
    fn intern(&mut self, s: &str) -> Result<u64, PackError> {
        if let Some(id) = self.cache.get(s) {
            return Ok(id);
        }
        self.insert(s)
            .map_err(|e| PackError::Strings(e.to_string()))
    }
}

impl Resolve for Tx<'_> {
    fn resolve(&self, id: u64) -> Result<&str, PackError> {
        self.cache.resolve(id)
    }
}
