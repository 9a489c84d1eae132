//! Writing rows: the table a schema title maps to, one INSERT per table per batch, and the
//! search for the rows the database refuses (kept as rejects, the rest written).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use super::encode::Encoded;
use super::row::Row;
use super::table::{Table, table_name};
use super::{Health, rollups};
use crate::postgres::{Class, PgError, classify};
use crate::state::rules::Rule;
use crate::store::alerts::{AlertRules, Gate};
use crate::writers::rejects::{RejectSink, Rejected};

/// The database side: pool, table shapes, targets seen, rejects.
pub(super) struct Core {
    pub(super) pool: deadpool_postgres::Pool,
    pub(super) tables: Mutex<HashMap<String, Arc<Table>>>,
    pub(super) targets: Mutex<HashMap<String, Instant>>,
    pub(super) rejects: Arc<dyn RejectSink>,
    pub(super) health: Arc<Health>,
    /// The targets' alert rules, kept by following the registry; `None` when this writer does
    /// not alert (another store does, or nothing to follow).
    pub(super) rules: Option<RwLock<AlertRules>>,
}

impl Core {
    pub(super) async fn client(&self) -> Result<deadpool_postgres::Object, PgError> {
        Ok(self.pool.get().await?)
    }

    /// The alert rules of `targets` that have any, and the maintenance windows (the
    /// silences are read in the transaction).
    fn rules_of(&self, targets: &[String]) -> (HashMap<String, Arc<[Rule]>>, Gate) {
        let Some(rules) = &self.rules else {
            return (HashMap::new(), Gate::default());
        };
        let rules = rules.read().expect("rules lock");
        let of = targets
            .iter()
            .filter_map(|t| Some((t.clone(), rules.of(t)?.clone())))
            .collect();
        (of, rules.gate(Vec::new()))
    }

    async fn table(
        &self,
        client: &tokio_postgres::Client,
        name: &str,
    ) -> Result<Option<Arc<Table>>, PgError> {
        if let Some(t) = self.tables.lock().expect("tables lock").get(name) {
            return Ok(Some(t.clone()));
        }
        let Some(t) = Table::load(client, name).await? else {
            return Ok(None);
        };
        let t = Arc::new(t);
        self.tables
            .lock()
            .expect("tables lock")
            .insert(name.to_owned(), t.clone());
        Ok(Some(t))
    }

    /// Writes `rows`: returns once each is stored, was already stored, or is kept as a reject.
    /// An error means nothing can be said about the rows that were not reported: retry them.
    pub(super) async fn write_rows<R: Row>(&self, rows: &[R]) -> Result<(), PgError> {
        let mut client = self.client().await?;
        let mut groups: BTreeMap<&str, Vec<&R>> = BTreeMap::new();
        for r in rows {
            groups.entry(r.schema_title()).or_default().push(r);
        }
        let mut rejected = Vec::new();
        for (title, group) in groups {
            let name = table_name(title);
            let Some(table) = self.table(&client, &name).await? else {
                for r in group {
                    rejected.push(Rejected::new(
                        &name,
                        &r.json(),
                        format!(
                            "no table {name} for schema_title {title:?} (a new event type needs a migration: uptimer migrate up)"
                        ),
                    ));
                }
                continue;
            };
            let (encoded, bad) = table.encode(&group);
            rejected.extend(
                bad.into_iter()
                    .map(|(r, why)| Rejected::new(&name, &r.json(), why)),
            );
            if encoded.rows.is_empty() {
                continue;
            }
            if table.has_target {
                self.upsert_targets(&client, &encoded.rows, false).await?;
            }
            self.insert(&mut client, &table, encoded, &mut rejected)
                .await?;
        }
        if !rejected.is_empty() {
            for r in rejected.iter().take(20) {
                tracing::warn!(table = %r.table, uuid = r.uuid.as_deref().unwrap_or("?"), reason = %r.reason, "row rejected");
            }
            if rejected.len() > 20 {
                tracing::warn!(more = rejected.len() - 20, "more rows rejected");
            }
            self.health
                .rejected
                .fetch_add(rejected.len() as u64, Ordering::Relaxed);
            self.rejects
                .keep(rejected)
                .await
                .map_err(|e| PgError::Setup(e.to_string()))?;
        }
        Ok(())
    }

    /// One INSERT for all rows; when the database refuses it for a row's sake, halves the rows
    /// until the culprits are alone, writes the others and rejects those.
    async fn insert<R: Row>(
        &self,
        client: &mut deadpool_postgres::Client,
        table: &Table,
        first: Encoded<'_, R>,
        rejected: &mut Vec<Rejected>,
    ) -> Result<(), PgError> {
        // Optimistic first: a plain INSERT costs the server about a fifth less than one with
        // ON CONFLICT. A replay (unique violation) switches this batch to ON CONFLICT DO NOTHING.
        let prepared = async {
            // With rollups, the fallback returns the rows it inserted; the plain INSERT either
            // inserts them all or fails.
            let (plain, idempotent) = if table.rollups {
                (&table.insert_plain_sql, &table.insert_returning_sql)
            } else {
                (&table.insert_plain_sql, &table.insert_sql)
            };
            Ok::<_, tokio_postgres::Error>((
                client.prepare_cached(plain).await?,
                client.prepare_cached(idempotent).await?,
            ))
        };
        let (plain, idempotent) = match prepared.await {
            Ok(s) => s,
            Err(e) => {
                self.forget_table(&table.name);
                return Err(e.into());
            }
        };
        let mut optimistic = true;
        let mut pending: Vec<Vec<&R>> = Vec::new();
        let mut encoded = Some(first);
        let mut targets_refreshed = false;
        loop {
            let enc = match encoded.take() {
                Some(e) => e,
                None => match pending.pop() {
                    Some(rows) => table.encode(&rows).0,
                    None => return Ok(()),
                },
            };
            let n = enc.rows.len() as u64;
            let stmt = if optimistic { &plain } else { &idempotent };
            match self.run_insert(client, table, stmt, optimistic, &enc).await {
                Ok(inserted) => {
                    self.health.written.fetch_add(inserted, Ordering::Relaxed);
                    self.health
                        .duplicates
                        .fetch_add(n - inserted, Ordering::Relaxed);
                }
                Err(e) => {
                    if classify(&e) != Class::Data {
                        if let PgError::Db(db) = &e
                            && db.code().is_some_and(|c| c.code().starts_with("42"))
                        {
                            // The table changed under us (a migration): read it again next time.
                            self.forget_table(&table.name);
                        }
                        return Err(e);
                    }
                    let code = match &e {
                        PgError::Db(db) => db.code().cloned(),
                        _ => None,
                    };
                    if optimistic && code == Some(tokio_postgres::error::SqlState::UNIQUE_VIOLATION)
                    {
                        optimistic = false;
                        encoded = Some(enc);
                        continue;
                    }
                    let fk = code == Some(tokio_postgres::error::SqlState::FOREIGN_KEY_VIOLATION);
                    if fk && table.has_target && !targets_refreshed {
                        // A target row we believed stored is gone: upsert them all again.
                        targets_refreshed = true;
                        self.upsert_targets(client, &enc.rows, true).await?;
                        pending.push(enc.rows);
                    } else if enc.rows.len() == 1 {
                        rejected.push(Rejected::new(
                            &table.name,
                            &enc.rows[0].json(),
                            e.to_string(),
                        ));
                    } else {
                        let mut rows = enc.rows;
                        let second = rows.split_off(rows.len() / 2);
                        pending.push(second);
                        pending.push(rows);
                    }
                }
            }
        }
    }

    /// One attempt at inserting `enc`; returns the rows inserted. For `probe_events` with
    /// rollups, the insert returns the stored rows and the rollups, live state and incidents are
    /// updated from them in the same transaction (see `rollups`).
    async fn run_insert<R: Row>(
        &self,
        client: &mut deadpool_postgres::Client,
        table: &Table,
        stmt: &tokio_postgres::Statement,
        plain: bool,
        enc: &Encoded<'_, R>,
    ) -> Result<u64, PgError> {
        if !table.rollups {
            return Ok(client.execute(stmt, &enc.params()).await?);
        }
        let tx = client.transaction().await?;
        let returned = if plain {
            tx.execute(stmt, &enc.params()).await?;
            Vec::new()
        } else {
            tx.query(stmt, &enc.params()).await?
        };
        let inserted: Vec<&R> = if plain || returned.len() == enc.rows.len() {
            enc.rows.clone()
        } else {
            // The key is (uuid, event_time): the first row of each key returned went in.
            let mut stored: std::collections::HashSet<(uuid::Uuid, time::OffsetDateTime)> =
                returned.iter().map(|r| (r.get(0), r.get(1))).collect();
            enc.rows
                .iter()
                .copied()
                .filter(|r| {
                    let uuid = r.get(&["uuid"]).as_uuid();
                    let at = r.get(&["event_time"]).as_time();
                    uuid.zip(at).is_some_and(|k| stored.remove(&k))
                })
                .collect()
        };
        let targets = rollups::targets_of(&inserted);
        let (rules, gate) = self.rules_of(&targets);
        let state = rollups::lock_targets(&tx, &targets).await?;
        rollups::apply(&tx, &inserted, state, &rules, gate).await?;
        tx.commit().await?;
        Ok(inserted.len() as u64)
    }

    fn forget_table(&self, name: &str) {
        self.tables.lock().expect("tables lock").remove(name);
    }
}
