//! `writers.postgres`: batches of events into PostgreSQL tables, one `INSERT ... SELECT FROM
//! unnest(arrays) ON CONFLICT DO NOTHING` per table per batch, so replays and duplicates are
//! harmless. A row the database rejects is kept in a rejects sink and the rest of its batch is
//! still written. When the database is unreachable, events from probers (which nothing can
//! replay) wait in a bounded memory buffer that spills to a disk spool; events from a replayable
//! source (Kafka) get back-pressure instead. With the dashboard's tables migrated, a batch of
//! probe events also updates the rollups, live state and incidents in the same transaction,
//! from the rows actually inserted (`rollups`). See docs/postgres.md.

pub mod connect;
pub mod migrate;
pub mod partitions;
pub mod rejects;
pub mod rollups;
pub mod spool;
pub mod table;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{Batching, WriteError, Writer};
use crate::config::{PostgresSettings, Settings};
use crate::event::Event;
use connect::ConnectOptions;
pub use rejects::{RejectFile, RejectSink, Rejected};
use spool::{Segment, Spool};
use table::{Table, table_name};

const NAME: &str = "writers.postgres";

/// Anything that went wrong talking to PostgreSQL.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// Our side is misconfigured (a CA file, a schema that is not migrated): never retried.
    #[error("{0}")]
    Setup(String),
    #[error("{}", describe(.0))]
    Db(#[from] tokio_postgres::Error),
    #[error("connection pool: {0}")]
    Pool(String),
    #[error("{file}: {error}")]
    Migration { file: String, error: String },
}

impl From<deadpool_postgres::PoolError> for PgError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        match e {
            deadpool_postgres::PoolError::Backend(e) => PgError::Db(e),
            other => PgError::Pool(other.to_string()),
        }
    }
}

/// A database error as one line: the server's message, SQLSTATE and detail, or the I/O cause.
pub fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut s = format!("{} (SQLSTATE {})", db.message(), db.code().code());
        if let Some(d) = db.detail() {
            s.push_str(": ");
            s.push_str(d);
        }
        return s;
    }
    let mut s = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}

/// What to do about an error: the one place that decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// The database is away or busy (connection lost, restarting, too many clients, a lock, a
    /// schema being changed): retry later, keep the events.
    Transient,
    /// The rows are at fault (class 22 data exception, class 23 constraint): find them, keep
    /// them as rejects, write the rest.
    Data,
    /// Our configuration is wrong: stop.
    Fatal,
}

pub fn classify(e: &PgError) -> Class {
    match e {
        PgError::Setup(_) | PgError::Migration { .. } => Class::Fatal,
        PgError::Pool(_) => Class::Transient,
        PgError::Db(e) => match e.code() {
            None => Class::Transient,
            Some(code) => {
                let c = code.code();
                if c.starts_with("22") || c.starts_with("23") {
                    Class::Data
                } else {
                    // Everything else, authentication included (a rotated password is fixed
                    // by an operator), is retried: events wait rather than get lost.
                    Class::Transient
                }
            }
        },
    }
}

/// Errors that mean the settings are wrong, when seen at startup.
fn fatal_at_startup(e: &PgError) -> bool {
    match e {
        // Bad credentials, no such database, no permission, or a TLS handshake refused (wrong
        // CA, server without TLS under sslmode=require): the settings are wrong.
        PgError::Db(e) => {
            e.code().is_some_and(|c| {
                c.code().starts_with("28") || c.code() == "3D000" || c.code() == "42501"
            }) || e.to_string().contains("TLS handshake")
        }
        PgError::Pool(_) => false,
        other => classify(other) == Class::Fatal,
    }
}

/// Where the events come from, which decides what an outage does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Probers: nothing can replay the events, so they wait in memory, then in the disk spool.
    Prober,
    /// A replayable source (the Kafka consumer): `write` blocks and retries, so the source
    /// stops consuming and the broker keeps the events.
    Replayable,
}

/// Construction options beyond the settings.
pub struct Options {
    pub source: Source,
    /// Where rejected rows go; `None` = `DATA_DIR/rejects/<table>.jsonl`.
    pub rejects: Option<Arc<dyn RejectSink>>,
    /// Tags per target id, copied into `targets.tags`.
    pub tags: HashMap<String, Vec<String>>,
    /// The ids of the configured targets, when this process probes them: at startup every other
    /// target is marked removed (see [`rollups::remove_unconfigured`]). None when the events
    /// come from elsewhere (the Kafka consumer knows no target list): nothing is removed.
    pub configured: Option<Vec<String>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            source: Source::Prober,
            rejects: None,
            tags: HashMap::new(),
            configured: None,
        }
    }
}

/// The writer's health, for logs and (later) `/metrics`.
#[derive(Debug, Default)]
pub struct Health {
    /// The last attempt to reach the database succeeded.
    pub connected: AtomicBool,
    /// Events waiting in memory for the database.
    pub buffered: AtomicU64,
    /// Events waiting in the disk spool.
    pub spilled: AtomicU64,
    /// Rows inserted.
    pub written: AtomicU64,
    /// Events already stored (same uuid and time), skipped.
    pub duplicates: AtomicU64,
    /// Rows the database would not take, kept in the rejects sink.
    pub rejected: AtomicU64,
}

impl Health {
    fn log(&self, what: &str) {
        tracing::info!(
            connected = self.connected.load(Ordering::Relaxed),
            buffered = self.buffered.load(Ordering::Relaxed),
            spilled = self.spilled.load(Ordering::Relaxed),
            written = self.written.load(Ordering::Relaxed),
            duplicates = self.duplicates.load(Ordering::Relaxed),
            rejected = self.rejected.load(Ordering::Relaxed),
            "{NAME} {what}"
        );
    }
}

/// How long a target's row is trusted to exist before `last_seen` is refreshed.
const TARGET_REFRESH: Duration = Duration::from_secs(60);
/// First and longest wait between reconnection attempts.
const BACKOFF_MIN: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// A write attempt that takes longer than this counts as failed (the rows may have been stored:
/// writing them again is harmless).
const WRITE_TIMEOUT: Duration = Duration::from_secs(120);
/// Batches from probers written at once (each on its own connection).
const IN_FLIGHT: u32 = 2;

/// The database side: pool, table shapes, targets seen, rejects.
struct Core {
    pool: deadpool_postgres::Pool,
    tables: Mutex<HashMap<String, Arc<Table>>>,
    targets: Mutex<HashMap<String, Instant>>,
    tags: HashMap<String, Vec<String>>,
    /// The configured targets, until the others have been marked removed.
    configured: Mutex<Option<Vec<String>>>,
    rejects: Arc<dyn RejectSink>,
    health: Arc<Health>,
}

impl Core {
    async fn client(&self) -> Result<deadpool_postgres::Object, PgError> {
        Ok(self.pool.get().await?)
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
    async fn write_rows(&self, rows: &[Value]) -> Result<(), PgError> {
        let mut client = self.client().await?;
        let mut groups: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
        for r in rows {
            let title = r.get("schema_title").and_then(Value::as_str).unwrap_or("");
            groups.entry(title).or_default().push(r);
        }
        let mut rejected = Vec::new();
        for (title, group) in groups {
            let name = table_name(title);
            let Some(table) = self.table(&client, &name).await? else {
                for r in group {
                    rejected.push(Rejected::new(
                        &name,
                        r,
                        format!(
                            "no table {name} for schema_title {title:?} (a new event type needs a migration: uptimer migrate up)"
                        ),
                    ));
                }
                continue;
            };
            let (encoded, bad) = table.encode(&group);
            rejected.extend(bad.into_iter().map(|(r, why)| Rejected::new(&name, r, why)));
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
            self.rejects.keep(rejected).await.map_err(PgError::Setup)?;
        }
        Ok(())
    }

    /// One INSERT for all rows; when the database refuses it for a row's sake, halves the rows
    /// until the culprits are alone, writes the others and rejects those.
    async fn insert(
        &self,
        client: &mut deadpool_postgres::Client,
        table: &Table,
        first: table::Encoded<'_>,
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
        let mut pending: Vec<Vec<&Value>> = Vec::new();
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
                        rejected.push(Rejected::new(&table.name, enc.rows[0], e.to_string()));
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
    async fn run_insert(
        &self,
        client: &mut deadpool_postgres::Client,
        table: &Table,
        stmt: &tokio_postgres::Statement,
        plain: bool,
        enc: &table::Encoded<'_>,
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
        let inserted: Vec<&Value> = if plain || returned.len() == enc.rows.len() {
            enc.rows.clone()
        } else {
            // The key is (uuid, event_time): the first row of each key returned went in.
            let mut stored: std::collections::HashSet<(uuid::Uuid, time::OffsetDateTime)> =
                returned.iter().map(|r| (r.get(0), r.get(1))).collect();
            enc.rows
                .iter()
                .copied()
                .filter(|r| {
                    let uuid = r
                        .get("uuid")
                        .and_then(Value::as_str)
                        .and_then(|u| uuid::Uuid::parse_str(u).ok());
                    let at = r.get("event_time").and_then(Value::as_str).and_then(|t| {
                        time::OffsetDateTime::parse(
                            t,
                            &time::format_description::well_known::Rfc3339,
                        )
                        .ok()
                    });
                    uuid.zip(at).is_some_and(|k| stored.remove(&k))
                })
                .collect()
        };
        let state = rollups::lock_targets(&tx, &rollups::targets_of(&inserted)).await?;
        rollups::apply(&tx, &inserted, state).await?;
        tx.commit().await?;
        Ok(inserted.len() as u64)
    }

    fn forget_table(&self, name: &str) {
        self.tables.lock().expect("tables lock").remove(name);
    }

    /// Upserts the targets of `rows` into `targets` (first/last seen, url, name, tags). A target
    /// upserted less than a minute ago is skipped unless `force`.
    async fn upsert_targets(
        &self,
        client: &deadpool_postgres::Client,
        rows: &[&Value],
        force: bool,
    ) -> Result<(), PgError> {
        struct T<'a> {
            row: &'a Value,
            first: time::OffsetDateTime,
            last: time::OffsetDateTime,
        }
        let mut seen: BTreeMap<&str, T> = BTreeMap::new();
        {
            let known = self.targets.lock().expect("targets lock");
            for r in rows {
                let Some(id) = r.get("target").and_then(Value::as_str) else {
                    continue;
                };
                if !force && known.get(id).is_some_and(|t| t.elapsed() < TARGET_REFRESH) {
                    continue;
                }
                let Some(at) = r.get("event_time").and_then(Value::as_str).and_then(|s| {
                    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                        .ok()
                }) else {
                    continue;
                };
                seen.entry(id)
                    .and_modify(|t| {
                        t.first = t.first.min(at);
                        if at >= t.last {
                            t.last = at;
                            t.row = r;
                        }
                    })
                    .or_insert(T {
                        row: r,
                        first: at,
                        last: at,
                    });
            }
        }
        if seen.is_empty() {
            return Ok(());
        }
        let s = |r: &Value, k: &str| r.get(k).and_then(Value::as_str).map(str::to_owned);
        let ids: Vec<String> = seen.keys().map(|k| (*k).to_owned()).collect();
        let url: Vec<Option<String>> = seen.values().map(|t| s(t.row, "url")).collect();
        let name: Vec<Option<String>> = seen.values().map(|t| s(t.row, "name")).collect();
        let protocol: Vec<Option<String>> = seen.values().map(|t| s(t.row, "protocol")).collect();
        let hostname: Vec<Option<String>> = seen.values().map(|t| s(t.row, "hostname")).collect();
        let port: Vec<Option<i32>> = seen
            .values()
            .map(|t| {
                t.row
                    .get("port")
                    .and_then(Value::as_i64)
                    .filter(|p| (1..65536).contains(p))
                    .map(|p| p as i32)
            })
            .collect();
        let path: Vec<Option<String>> = seen.values().map(|t| s(t.row, "path")).collect();
        let tags: Vec<String> = ids
            .iter()
            .map(|id| {
                serde_json::to_string(self.tags.get(id).map_or(&[][..], Vec::as_slice))
                    .unwrap_or_else(|_| "[]".into())
            })
            .collect();
        let first: Vec<time::OffsetDateTime> = seen.values().map(|t| t.first).collect();
        let last: Vec<time::OffsetDateTime> = seen.values().map(|t| t.last).collect();
        let sql = "INSERT INTO targets AS t (id, url, name, protocol, hostname, port, path, tags, first_seen, last_seen)
            SELECT u.id, u.url, u.name, u.protocol, u.hostname, u.port, u.path,
                   ARRAY(SELECT jsonb_array_elements_text(u.tags::jsonb)), u.first_seen, u.last_seen
            FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int4[], $7::text[],
                        $8::text[], $9::timestamptz[], $10::timestamptz[])
              AS u(id, url, name, protocol, hostname, port, path, tags, first_seen, last_seen)
            ON CONFLICT (id) DO UPDATE SET
              url = coalesce(EXCLUDED.url, t.url),
              name = coalesce(EXCLUDED.name, t.name),
              protocol = coalesce(EXCLUDED.protocol, t.protocol),
              hostname = coalesce(EXCLUDED.hostname, t.hostname),
              port = coalesce(EXCLUDED.port, t.port),
              path = coalesce(EXCLUDED.path, t.path),
              tags = CASE WHEN cardinality(EXCLUDED.tags) > 0 THEN EXCLUDED.tags ELSE t.tags END,
              first_seen = least(t.first_seen, EXCLUDED.first_seen),
              last_seen = greatest(t.last_seen, EXCLUDED.last_seen),
              -- checked again after it was removed (another prober has it): it is back
              removed_at = CASE WHEN EXCLUDED.last_seen > t.removed_at THEN NULL
                ELSE t.removed_at END";
        let stmt = client.prepare_cached(sql).await?;
        match client
            .execute(
                &stmt,
                &[
                    &ids, &url, &name, &protocol, &hostname, &port, &path, &tags, &first, &last,
                ],
            )
            .await
        {
            Ok(_) => {
                let now = Instant::now();
                let mut known = self.targets.lock().expect("targets lock");
                for id in ids {
                    known.insert(id, now);
                }
                Ok(())
            }
            Err(e) => {
                let e = PgError::from(e);
                if classify(&e) == Class::Data {
                    // Their events will fail the foreign key and be kept as rejects with the reason.
                    tracing::warn!(error = %e, "targets not upserted");
                    Ok(())
                } else {
                    Err(e)
                }
            }
        }
    }
}

/// Events waiting for the database (prober source only).
struct Backlog {
    state: Mutex<BacklogState>,
    spool: Spool,
    wake: Notify,
    max_memory: usize,
    max_spool_bytes: u64,
    fatal: Mutex<Option<String>>,
}

#[derive(Default)]
struct BacklogState {
    memory: VecDeque<Value>,
    /// How many of the first `memory` rows the drainer is writing right now.
    in_flight: usize,
    /// Batches being written directly (by id), so shutdown can spool them if the database hangs.
    writing: HashMap<u64, Arc<Vec<Value>>>,
    next_writing: u64,
    segments: VecDeque<Segment>,
    spool_bytes: u64,
    spool_events: u64,
}

impl BacklogState {
    fn is_empty(&self) -> bool {
        self.memory.is_empty() && self.segments.is_empty()
    }
}

impl Backlog {
    fn is_empty(&self) -> bool {
        self.state.lock().expect("backlog lock").is_empty()
    }

    /// Queues rows for the drainer; spills to disk past the memory bound.
    async fn push(self: &Arc<Self>, rows: Vec<Value>, health: &Health) {
        let over = {
            let mut st = self.state.lock().expect("backlog lock");
            st.memory.extend(rows);
            health
                .buffered
                .store(st.memory.len() as u64, Ordering::Relaxed);
            st.memory.len() > self.max_memory
        };
        if over && let Err(e) = self.spill(health).await {
            tracing::error!(error = %e, "cannot spill to disk; events stay in memory");
        }
        self.wake.notify_one();
    }

    /// Moves what is in memory (past the rows being written) to a new spool segment.
    async fn spill(self: &Arc<Self>, health: &Health) -> Result<(), String> {
        let rows: Vec<Value> = {
            let mut st = self.state.lock().expect("backlog lock");
            let skip = st.in_flight;
            st.memory.drain(skip..).collect()
        };
        if rows.is_empty() {
            return Ok(());
        }
        let me = self.clone();
        let n = rows.len() as u64;
        let result = tokio::task::spawn_blocking(move || {
            let r = me.spool.write(&rows);
            (r, rows)
        })
        .await
        .map_err(|e| e.to_string())?;
        match result {
            (Ok(seg), _) => {
                let mut st = self.state.lock().expect("backlog lock");
                st.spool_bytes += seg.bytes;
                st.spool_events += n;
                st.segments.push_back(seg);
                health.spilled.store(st.spool_events, Ordering::Relaxed);
                health
                    .buffered
                    .store(st.memory.len() as u64, Ordering::Relaxed);
                Ok(())
            }
            (Err(e), rows) => {
                // Keep them in memory rather than lose them; say why.
                let mut st = self.state.lock().expect("backlog lock");
                st.memory.extend(rows);
                Err(format!("spool {}: {e}", self.spool.dir().display()))
            }
        }
    }
}

/// The writer.
pub struct PostgresWriter {
    core: Arc<Core>,
    settings: PostgresSettings,
    source: Source,
    backlog: Option<Arc<Backlog>>,
    in_flight: Arc<tokio::sync::Semaphore>,
    stop: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl PostgresWriter {
    /// Connects (an unreachable database is not an error: events wait for it), checks that the
    /// schema is migrated, creates the partitions ahead, and opens the spool.
    pub async fn new(
        settings: &PostgresSettings,
        data_dir: &Path,
        options: Options,
    ) -> Result<PostgresWriter, PgError> {
        let url = settings
            .require_url(NAME)
            .map_err(|e| PgError::Setup(e.to_string()))?;
        let opts =
            ConnectOptions::parse(url, settings.ssl_ca_file.as_deref()).map_err(PgError::Setup)?;
        // A CA file that cannot be read is a configuration error now, not a retry loop later.
        opts.tls().map_err(PgError::Setup)?;
        let pool = opts.pool(settings.pool_size).map_err(PgError::Setup)?;
        let health = Arc::new(Health::default());
        let rejects = options.rejects.unwrap_or_else(|| {
            Arc::new(RejectFile {
                dir: data_dir.join("rejects"),
            })
        });
        let core = Arc::new(Core {
            pool,
            tables: Mutex::new(HashMap::new()),
            targets: Mutex::new(HashMap::new()),
            tags: options.tags,
            configured: Mutex::new(options.configured),
            rejects,
            health: health.clone(),
        });

        match startup_check(&core, settings.retention_days).await {
            Ok(()) => health.connected.store(true, Ordering::Relaxed),
            Err(e) if fatal_at_startup(&e) => {
                return Err(PgError::Setup(format!("{url}: {e}")));
            }
            Err(e) => {
                tracing::warn!(database = %url, error = %e, "database unreachable at startup; events wait for it");
            }
        }

        let stop = CancellationToken::new();
        let mut tasks = Vec::new();
        let backlog = if options.source == Source::Prober {
            let dir = data_dir.join("spool").join("postgres");
            let (spool, segments) = Spool::open(&dir)
                .map_err(|e| PgError::Setup(format!("spool {}: {e}", dir.display())))?;
            let mut st = BacklogState::default();
            for s in segments {
                st.spool_bytes += s.bytes;
                st.spool_events += s.events;
                st.segments.push_back(s);
            }
            health.spilled.store(st.spool_events, Ordering::Relaxed);
            if !st.segments.is_empty() {
                tracing::info!(segments = st.segments.len(), bytes = st.spool_bytes, dir = %dir.display(), "spooled events from an earlier run will be written");
            }
            let backlog = Arc::new(Backlog {
                state: Mutex::new(st),
                spool,
                wake: Notify::new(),
                max_memory: settings.buffer_events.max(settings.page_size),
                max_spool_bytes: settings.spool_max_bytes,
                fatal: Mutex::new(None),
            });
            tasks.push(tokio::spawn(drain(
                core.clone(),
                backlog.clone(),
                settings.page_size,
                stop.clone(),
            )));
            Some(backlog)
        } else {
            None
        };
        tasks.push(tokio::spawn(housekeeping(
            core.clone(),
            settings.retention_days,
            stop.clone(),
        )));
        Ok(PostgresWriter {
            core,
            settings: settings.clone(),
            source: options.source,
            backlog,
            in_flight: Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT as usize)),
            stop,
            tasks,
        })
    }

    /// Where this writer's events come from (spool or back-pressure on an outage).
    pub fn source(&self) -> Source {
        self.source
    }

    /// The counters, shared (for `/metrics`).
    pub fn health(&self) -> Arc<Health> {
        self.core.health.clone()
    }

    async fn write_blocking(&self, rows: &[Value]) -> Result<(), WriteError> {
        let mut backoff = BACKOFF_MIN;
        loop {
            match tokio::time::timeout(WRITE_TIMEOUT, self.core.write_rows(rows)).await {
                Ok(Ok(())) => {
                    self.core.health.connected.store(true, Ordering::Relaxed);
                    return Ok(());
                }
                Ok(Err(e)) if classify(&e) == Class::Fatal => return Err(fatal(e)),
                Ok(Err(e)) => {
                    self.core.health.connected.store(false, Ordering::Relaxed);
                    tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "database unavailable; holding the batch (back-pressure)");
                }
                Err(_) => {
                    self.core.health.connected.store(false, Ordering::Relaxed);
                    tracing::warn!("write timed out; retrying the batch");
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }
}

fn fatal(e: impl std::fmt::Display) -> WriteError {
    WriteError::Fatal {
        writer: NAME,
        message: e.to_string(),
    }
}

async fn startup_check(core: &Core, retention_days: Option<u32>) -> Result<(), PgError> {
    let mut client = tokio::time::timeout(Duration::from_secs(15), core.client())
        .await
        .map_err(|_| PgError::Pool("timed out connecting".into()))??;
    let pending = migrate::pending(&client).await?;
    if let Some(first) = pending.first() {
        return Err(PgError::Setup(format!(
            "the database schema is not up to date ({} migration(s) pending, first {}): run `uptimer migrate up`",
            pending.len(),
            first.file
        )));
    }
    let (made, dropped) = partitions::maintain(&mut client, retention_days).await?;
    if !made.is_empty() || !dropped.is_empty() {
        tracing::info!(created = made.len(), dropped = dropped.len(), "partitions");
    }
    // Not worth failing the start for: the housekeeping tries again every minute.
    if let Err(e) = remove_unconfigured(core, &mut client).await {
        tracing::warn!(error = %e, "marking removed targets failed; retried in a minute");
    }
    Ok(())
}

/// Marks the targets no longer configured removed, once (retried by the housekeeping while the
/// database was unreachable at startup).
async fn remove_unconfigured(
    core: &Core,
    client: &mut tokio_postgres::Client,
) -> Result<(), PgError> {
    let Some(ids) = core.configured.lock().expect("configured lock").clone() else {
        return Ok(());
    };
    let n = rollups::remove_unconfigured(client, &ids).await?;
    if n > 0 {
        tracing::info!(targets = n, "targets no longer configured marked removed");
    }
    *core.configured.lock().expect("configured lock") = None;
    Ok(())
}

/// Every hour: partitions ahead, retention; every minute: the health line when it changed.
async fn housekeeping(core: Arc<Core>, retention_days: Option<u32>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    let mut minutes = 0u64;
    let mut last = (u64::MAX, u64::MAX, u64::MAX);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        minutes += 1;
        if core.configured.lock().expect("configured lock").is_some() {
            let result = async {
                let mut client = core.client().await?;
                remove_unconfigured(&core, &mut client).await
            }
            .await;
            if let Err(e) = result {
                tracing::warn!(error = %e, "marking removed targets failed; retried in a minute");
            }
        }
        let h = &core.health;
        let now = (
            h.written.load(Ordering::Relaxed),
            h.rejected.load(Ordering::Relaxed),
            h.spilled.load(Ordering::Relaxed) + h.buffered.load(Ordering::Relaxed),
        );
        if now != last {
            h.log("health");
            last = now;
        }
        if minutes.is_multiple_of(60) {
            let result = async {
                let mut client = core.client().await?;
                let made = partitions::maintain(&mut client, retention_days).await?;
                let pruned = rollups::prune(&client, retention_days).await?;
                if pruned > 0 {
                    tracing::info!(rows = pruned, "rollups past their retention deleted");
                }
                Ok::<_, PgError>(made)
            }
            .await;
            if let Err(e) = result {
                tracing::warn!(error = %e, "partition maintenance failed; retried in an hour");
            }
        }
    }
}

/// Writes the backlog (spool segments oldest first, then memory) whenever there is one,
/// reconnecting with exponential backoff.
async fn drain(core: Arc<Core>, backlog: Arc<Backlog>, page: usize, stop: CancellationToken) {
    let mut backoff = BACKOFF_MIN;
    loop {
        if backlog.is_empty() {
            tokio::select! {
                _ = backlog.wake.notified() => {}
                _ = stop.cancelled() => return,
            }
            continue;
        }
        match drain_step(&core, &backlog, page).await {
            Ok(()) => {
                backoff = BACKOFF_MIN;
                core.health.connected.store(true, Ordering::Relaxed);
            }
            Err(e) if classify(&e) == Class::Fatal => {
                tracing::error!(error = %e, "cannot write the backlog");
                *backlog.fatal.lock().expect("fatal lock") = Some(e.to_string());
                return;
            }
            Err(e) => {
                core.health.connected.store(false, Ordering::Relaxed);
                tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "database unavailable; events wait in the spool");
                // What waits in memory goes to disk, so a crash during the outage loses nothing.
                if let Err(e) = backlog.spill(&core.health).await {
                    tracing::error!(error = %e, "cannot spill to disk; events stay in memory");
                }
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stop.cancelled() => return,
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
}

async fn drain_step(core: &Core, backlog: &Arc<Backlog>, page: usize) -> Result<(), PgError> {
    let segment = backlog
        .state
        .lock()
        .expect("backlog lock")
        .segments
        .front()
        .cloned();
    if let Some(seg) = segment {
        let s = seg.clone();
        let read = tokio::task::spawn_blocking(move || Spool::read(&s))
            .await
            .map_err(|e| PgError::Setup(e.to_string()))?;
        let (rows, bad) = match read {
            Ok(r) => r,
            // Drained by someone else (another process on the same DATA_DIR): nothing to do.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut st = backlog.state.lock().expect("backlog lock");
                st.segments.pop_front();
                st.spool_bytes = st.spool_bytes.saturating_sub(seg.bytes);
                st.spool_events = st.spool_events.saturating_sub(seg.events);
                core.health
                    .spilled
                    .store(st.spool_events, Ordering::Relaxed);
                return Ok(());
            }
            Err(e) => {
                return Err(PgError::Setup(format!("spool {}: {e}", seg.path.display())));
            }
        };
        if !bad.is_empty() {
            let rejected = bad
                .into_iter()
                .map(|line| {
                    Rejected::new(
                        "spool",
                        &Value::String(line),
                        "not a JSON line in the spool",
                    )
                })
                .collect();
            core.rejects.keep(rejected).await.map_err(PgError::Setup)?;
        }
        for chunk in rows.chunks(page) {
            tokio::time::timeout(WRITE_TIMEOUT, core.write_rows(chunk))
                .await
                .map_err(|_| PgError::Pool("write timed out".into()))??;
        }
        Spool::remove(&seg)
            .map_err(|e| PgError::Setup(format!("spool {}: {e}", seg.path.display())))?;
        let mut st = backlog.state.lock().expect("backlog lock");
        st.segments.pop_front();
        st.spool_bytes = st.spool_bytes.saturating_sub(seg.bytes);
        st.spool_events = st.spool_events.saturating_sub(seg.events);
        core.health
            .spilled
            .store(st.spool_events, Ordering::Relaxed);
        return Ok(());
    }
    let chunk: Vec<Value> = {
        let mut st = backlog.state.lock().expect("backlog lock");
        let n = st.memory.len().min(page);
        st.in_flight = n;
        st.memory.iter().take(n).cloned().collect()
    };
    let result = tokio::time::timeout(WRITE_TIMEOUT, core.write_rows(&chunk))
        .await
        .map_err(|_| PgError::Pool("write timed out".into()))
        .and_then(|r| r);
    let mut st = backlog.state.lock().expect("backlog lock");
    if result.is_ok() {
        let n = st.in_flight;
        st.memory.drain(..n);
    }
    st.in_flight = 0;
    core.health
        .buffered
        .store(st.memory.len() as u64, Ordering::Relaxed);
    result
}

#[async_trait::async_trait]
impl Writer for PostgresWriter {
    fn name(&self) -> &'static str {
        NAME
    }

    fn batching(&self) -> Batching {
        Batching {
            max_events: self.settings.page_size,
            max_age: self.settings.queue_timeout,
        }
    }

    async fn write(&mut self, batch: Vec<Event>) -> Result<super::Durable, WriteError> {
        self.write_old(&batch).await.map(|()| super::durable_now())
    }

    async fn close(&mut self) -> Result<(), WriteError> {
        self.close_old().await
    }
}

impl PostgresWriter {
    async fn write_old(&mut self, batch: &[Event]) -> Result<(), WriteError> {
        let rows: Vec<Value> = batch.iter().map(Event::to_json).collect();
        let Some(backlog) = self.backlog.clone() else {
            return self.write_blocking(&rows).await;
        };
        if let Some(e) = backlog.fatal.lock().expect("fatal lock").take() {
            return Err(fatal(e));
        }
        let health = &self.core.health;
        if backlog.is_empty() && health.connected.load(Ordering::Relaxed) {
            // Up to IN_FLIGHT batches are written at once, so encoding the next batch overlaps
            // the database inserting this one. A batch that fails joins the backlog.
            let permit = self
                .in_flight
                .clone()
                .acquire_owned()
                .await
                .map_err(fatal)?;
            let (core, backlog) = (self.core.clone(), backlog.clone());
            let rows = Arc::new(rows);
            let id = {
                let mut st = backlog.state.lock().expect("backlog lock");
                st.next_writing += 1;
                let id = st.next_writing;
                st.writing.insert(id, rows.clone());
                id
            };
            tokio::spawn(async move {
                let _permit = permit;
                let result = tokio::time::timeout(WRITE_TIMEOUT, core.write_rows(&rows)).await;
                // Shutdown may have spooled the batch already, if this took too long.
                let mine = backlog
                    .state
                    .lock()
                    .expect("backlog lock")
                    .writing
                    .remove(&id)
                    .is_some();
                match result {
                    Ok(Ok(())) => return,
                    _ if !mine => return,
                    Ok(Err(e)) if classify(&e) == Class::Fatal => {
                        tracing::error!(error = %e, "cannot write");
                        *backlog.fatal.lock().expect("fatal lock") = Some(e.to_string());
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "database unavailable; buffering events (they spill to the disk spool)");
                    }
                    Err(_) => tracing::warn!("write timed out; buffering the batch"),
                }
                core.health.connected.store(false, Ordering::Relaxed);
                let rows = Arc::try_unwrap(rows).unwrap_or_else(|shared| (*shared).clone());
                backlog.push(rows, &core.health).await;
            });
            return Ok(());
        }
        backlog.push(rows, health).await;
        // A full spool pushes back on the probers rather than fill the disk.
        let mut warned = false;
        while backlog.state.lock().expect("backlog lock").spool_bytes > backlog.max_spool_bytes {
            if !warned {
                tracing::warn!(
                    max_bytes = backlog.max_spool_bytes,
                    "spool full; waiting for the database (probes slow down)"
                );
                warned = true;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Ok(())
    }

    async fn close_old(&mut self) -> Result<(), WriteError> {
        if let Some(backlog) = self.backlog.clone() {
            // Batches being written finish (or join the backlog) first; if the database hangs,
            // they join the backlog now (a late success only makes them duplicates).
            let deadline = tokio::time::Instant::now() + self.settings.shutdown_timeout;
            let all =
                tokio::time::timeout_at(deadline, self.in_flight.acquire_many(IN_FLIGHT)).await;
            if all.is_err() {
                let hung: Vec<Arc<Vec<Value>>> = {
                    let mut st = backlog.state.lock().expect("backlog lock");
                    st.writing.drain().map(|(_, r)| r).collect()
                };
                for rows in hung {
                    backlog.push((*rows).clone(), &self.core.health).await;
                }
            }
            backlog.wake.notify_one();
            while !backlog.is_empty() && tokio::time::Instant::now() < deadline {
                if backlog.fatal.lock().expect("fatal lock").is_some() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            self.stop.cancel();
            for mut t in self.tasks.drain(..) {
                if tokio::time::timeout(Duration::from_secs(2), &mut t)
                    .await
                    .is_err()
                {
                    // Stuck on a hung server: stop it, or it would drain the spool behind the
                    // next run's back. What it held is still in the backlog, spooled below.
                    t.abort();
                    tracing::debug!("a writer task did not stop in time");
                }
            }
            if let Err(e) = {
                backlog.state.lock().expect("backlog lock").in_flight = 0;
                backlog.spill(&self.core.health).await
            } {
                tracing::error!(error = %e, "events could not be spooled at shutdown");
                return Err(fatal(e));
            }
            let st = backlog.state.lock().expect("backlog lock");
            if !st.segments.is_empty() {
                tracing::warn!(
                    events = st.spool_events,
                    segments = st.segments.len(),
                    dir = %backlog.spool.dir().display(),
                    "database still unavailable at shutdown: events left in the spool are written at the next start"
                );
            }
        } else {
            self.stop.cancel();
            for t in self.tasks.drain(..) {
                t.abort();
            }
        }
        self.core.health.log("stopped");
        if let Some(e) = self
            .backlog
            .as_ref()
            .and_then(|b| b.fatal.lock().expect("fatal lock").take())
        {
            return Err(fatal(e));
        }
        Ok(())
    }
}

/// `writers.postgres` from the settings: a prober source (spool), tags from the targets.
pub async fn build(
    settings: &Settings,
    _give_up: CancellationToken,
) -> Result<PostgresWriter, String> {
    let tags = settings
        .targets
        .iter()
        .filter(|t| !t.tags.is_empty())
        .map(|t| (t.id.clone(), t.tags.clone()))
        .collect();
    let source = match settings.reader {
        crate::config::ReaderPlugin::Kafka => Source::Replayable,
        _ => Source::Prober,
    };
    let configured = crate::store::removal_list(settings);
    // Consuming from Kafka, rejected rows go to the dead-letter topic, not a local file.
    #[cfg(feature = "kafka")]
    let rejects = match source {
        Source::Replayable => Some(crate::readers::kafka::reject_sink(settings)?),
        Source::Prober => None,
    };
    #[cfg(not(feature = "kafka"))]
    let rejects = None;
    PostgresWriter::new(
        &settings.postgres,
        &settings.data_dir,
        Options {
            source,
            rejects,
            tags,
            configured,
        },
    )
    .await
    .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_misconfiguration_is_fatal_and_a_busy_pool_is_transient() {
        assert_eq!(classify(&PgError::Setup("bad CA".into())), Class::Fatal);
        assert_eq!(
            classify(&PgError::Pool("timed out".into())),
            Class::Transient
        );
        assert!(fatal_at_startup(&PgError::Setup("x".into())));
        assert!(!fatal_at_startup(&PgError::Pool("timed out".into())));
    }
}
