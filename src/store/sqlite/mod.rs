//! The embedded store: one SQLite file in WAL mode, raw events packed per target and hour
//! (see [`schema`]). One write connection (the writer's batches, target sync, packing and
//! retention take turns on it, each in a short transaction) and a small pool of read-only
//! connections for the web, all used on blocking threads so the async runtime never waits on
//! disk.

pub mod alerts;
pub mod compact;
pub mod follow;
pub mod generate;
pub mod maintain;
pub mod pack;
pub mod raw;
mod read;
pub mod rollups;
pub mod schema;
pub mod stats;
pub mod status;
pub mod strings;
pub mod upgrade;
pub mod write;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::StoreError;
use super::query::OverviewCache;
use crate::config::StoreSettings;

pub use write::{Ingested, TargetInfo};

/// Read connections kept open for the web.
const READERS: usize = 4;

/// The most the WAL file keeps after a checkpoint emptied it, in bytes.
pub const JOURNAL_SIZE_LIMIT: u64 = 8 << 20;

/// The SQLite store; clones share the same connections.
#[derive(Clone)]
pub struct SqliteStore(Arc<Inner>);

/// The write connection and the strings it has read or interned.
pub struct WriteConn {
    pub conn: Connection,
    pub strings: pack::Strings,
    /// The targets' alert rules, as the store follows the configuration.
    pub alerts: alerts::AlertRules,
}

struct Inner {
    path: PathBuf,
    settings: StoreSettings,
    writer: Mutex<WriteConn>,
    /// The strings the read connections have read.
    strings: strings::Shared,
    readers: Mutex<Vec<Connection>>,
    reader_slots: Semaphore,
    /// The overview's counts by status and its tag list.
    cache: OverviewCache,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.0.path)
            .finish()
    }
}

fn open_error(path: &Path, e: impl std::fmt::Display) -> StoreError {
    StoreError::Other(format!(
        "cannot open the SQLite store {}: {e}",
        path.display()
    ))
}

/// The write connection to `path` in WAL mode with the store's settings.
fn connect(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(|e| open_error(path, e))?;
    conn.busy_timeout(Duration::from_secs(10))?;
    // Takes effect in a new file only (before its first table, and before WAL mode writes its
    // first page): deleted pages can then be returned to the file system a slice at a time.
    conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL")?;
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(open_error(path, format!("WAL mode refused ({mode})")));
    }
    conn.execute_batch(
        "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=OFF; PRAGMA temp_store=MEMORY;
         PRAGMA cache_size=-65536;",
    )?;
    // The WAL is cut back to this after each checkpoint that empties it (autocheckpoint stays
    // on, every 1000 pages); `close` empties it. Left alone it keeps its largest size.
    let _: i64 = conn.query_row(
        &format!("PRAGMA journal_size_limit={JOURNAL_SIZE_LIMIT}"),
        [],
        |r| r.get(0),
    )?;
    Ok(conn)
}

impl SqliteStore {
    /// Opens (creating when missing) the store file and its directory, and brings its schema
    /// up to date.
    pub fn open(settings: &StoreSettings) -> Result<SqliteStore, StoreError> {
        let path = settings.path.clone();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| open_error(&path, e))?;
        }
        let mut conn = connect(&path)?;
        if schema::migrate(&conn).map_err(|e| open_error(&path, e))?
            == schema::Migrated::RowPerEvent
        {
            drop(conn);
            upgrade::upgrade(
                &path,
                &|m| tracing::info!(store = %path.display(), "upgrade: {m}"),
            )
            .map_err(|e| open_error(&path, e))?;
            conn = connect(&path)?;
            schema::migrate(&conn).map_err(|e| open_error(&path, e))?;
        }
        write::register_functions(&conn)?;
        conn.execute_batch(alerts::TABLES)
            .map_err(|e| open_error(&path, e))?;
        conn.execute_batch(status::TABLES)
            .map_err(|e| open_error(&path, e))?;
        Ok(SqliteStore(Arc::new(Inner {
            path,
            settings: settings.clone(),
            writer: Mutex::new(WriteConn {
                conn,
                strings: pack::Strings::default(),
                alerts: alerts::AlertRules::default(),
            }),
            strings: strings::Shared::default(),
            readers: Mutex::new(Vec::new()),
            reader_slots: Semaphore::new(READERS),
            cache: OverviewCache::default(),
        })))
    }

    /// Opens the store at `settings.path` on a blocking thread.
    pub async fn open_async(settings: &StoreSettings) -> Result<SqliteStore, StoreError> {
        let s = settings.clone();
        tokio::task::spawn_blocking(move || SqliteStore::open(&s))
            .await
            .map_err(|e| StoreError::Other(format!("store task failed: {e}")))?
    }

    pub fn path(&self) -> &Path {
        &self.0.path
    }

    fn open_reader(&self) -> Result<Connection, StoreError> {
        let c = Connection::open_with_flags(
            &self.0.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )?;
        c.busy_timeout(Duration::from_secs(5))?;
        c.execute_batch("PRAGMA cache_size=-32768; PRAGMA temp_store=MEMORY;")?;
        Ok(c)
    }

    /// Runs `f` on a pooled read-only connection on a blocking thread.
    pub(crate) async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let _slot = self
            .0
            .reader_slots
            .acquire()
            .await
            .map_err(|_| StoreError::Other("store closed".into()))?;
        let me = self.clone();
        tokio::task::spawn_blocking(move || {
            let pooled = me.0.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let conn = match pooled {
                Some(c) => c,
                None => me.open_reader()?,
            };
            let out = f(&conn);
            me.0.readers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(conn);
            out
        })
        .await
        .map_err(|e| StoreError::Other(format!("store task failed: {e}")))?
    }

    /// Runs `f` on the write connection on a blocking thread.
    pub(crate) async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut WriteConn, &StoreSettings) -> Result<T, StoreError> + Send + 'static,
    {
        let me = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = me.0.writer.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut conn, &me.0.settings)
        })
        .await
        .map_err(|e| StoreError::Other(format!("store task failed: {e}")))?
    }

    /// The strings the read connections share.
    pub(crate) fn strings(&self) -> strings::Shared {
        self.0.strings.clone()
    }

    /// Empties the WAL into the file and truncates it to 0 bytes (`wal_checkpoint(TRUNCATE)`)
    /// and closes the read connections: what `serve`, writers.sqlite and `bench-store` do when
    /// they stop, so that a stopped store leaves no WAL behind. Clones may go on using the
    /// store (reads open a connection again).
    pub async fn close(self) -> Result<(), StoreError> {
        self.0
            .readers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        let path = self.0.path.clone();
        let (busy, wal_pages, _) = self
            .write(|w, _| {
                Ok(w.conn
                    .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, i64>(1)?,
                            r.get::<_, i64>(2)?,
                        ))
                    })?)
            })
            .await?;
        if busy != 0 {
            // Another process reads or writes it: its last connection empties the WAL.
            tracing::info!(store = %path.display(), wal_pages, "store: WAL in use elsewhere, left for its last user to empty");
        }
        Ok(())
    }

    /// Writes a batch of events (see [`write::ingest`]).
    pub async fn ingest(&self, events: Vec<crate::event::Event>) -> Result<Ingested, StoreError> {
        self.write(move |w, s| {
            let now = super::now_micros();
            write::ingest(w, &events, now, raw_horizon(s, now))
        })
        .await
    }

    /// Registers the configured targets, keeping their state.
    pub async fn sync_targets(&self, targets: Vec<TargetInfo>) -> Result<(), StoreError> {
        self.write(move |w, _| write::sync_targets(&mut w.conn, &targets, super::now_micros()))
            .await?;
        self.0.cache.clear();
        Ok(())
    }

    /// Marks the targets not in `configured` (ids) removed and closes their open incidents
    /// (see [`write::remove_unconfigured`]); returns how many were removed.
    pub async fn remove_unconfigured(&self, configured: Vec<String>) -> Result<usize, StoreError> {
        let n = self
            .write(move |w, _| {
                write::remove_unconfigured(&mut w.conn, &configured, super::now_micros())
            })
            .await?;
        self.0.cache.clear();
        Ok(n)
    }

    /// Follows `registry` (see [`follow`]): its entries now, so a failure stops the caller,
    /// then its changes in a task until `stop`. With `sweep` (see [`super::sweeps`]), the
    /// stored targets not among its entries are marked removed. What `serve` and
    /// `writers.sqlite` do at startup, once per process.
    pub async fn follow(
        &self,
        registry: &crate::registry::Registry,
        sweep: bool,
        stop: CancellationToken,
    ) -> Result<tokio::task::JoinHandle<()>, StoreError> {
        let replica = follow::StoreReplica {
            store: self.clone(),
            sweep,
        };
        let mut following = crate::registry::follow::Following::new(registry, replica);
        following.reset().await?;
        Ok(following.spawn(stop))
    }

    /// Holds notifications back as `live`'s maintenance windows say (they follow reloads).
    pub async fn alert_with(
        &self,
        live: crate::config::alerting::LiveAlerting,
    ) -> Result<(), StoreError> {
        self.write(move |w, _| {
            w.alerts.live = live;
            Ok(())
        })
        .await
    }

    /// Fills the store with synthetic history (`scripts/bench web`).
    pub async fn generate(&self, spec: generate::Spec) -> Result<u64, StoreError> {
        self.write(move |w, _| generate::generate(w, spec, &|m| tracing::info!("generate: {m}")))
            .await
    }

    /// Packs every hour closed as of `now` (see [`maintain::pack_all`]).
    pub async fn pack(&self, now: super::Micros) -> Result<maintain::Packed, StoreError> {
        self.write(move |w, s| maintain::pack_all(w, now, raw_horizon(s, now)))
            .await
    }

    /// Packs what is closed and deletes everything past its retention as of `now`, a chunk at a
    /// time; returns the rows deleted.
    pub async fn prune(&self, now: super::Micros) -> Result<usize, StoreError> {
        let mut total = self.pack(now).await?.dropped;
        loop {
            match self
                .write(move |w, s| maintain::prune(&mut w.conn, s, now))
                .await?
            {
                0 => break,
                n => total += n,
            }
        }
        while self.write(|w, _| maintain::vacuum(&w.conn)).await? > 0 {}
        Ok(total)
    }

    /// Packs closed hours, deletes what is past its retention and returns the freed pages in
    /// the background, a slice at a time, now and every [`MAINTAIN_EVERY`]: whoever writes the
    /// store keeps it packed, pruned and under its cap.
    pub fn upkeep(&self) -> Upkeep {
        let (finish, abort) = (CancellationToken::new(), CancellationToken::new());
        let store = self.clone();
        let (f, a) = (finish.clone(), abort.clone());
        let task = tokio::spawn(async move {
            loop {
                if let Err(e) = store.maintain_once(&a).await {
                    tracing::warn!(error = %e, "store: upkeep failed; will retry");
                }
                tokio::select! {
                    _ = f.cancelled() => return,
                    _ = tokio::time::sleep(MAINTAIN_EVERY) => {}
                }
            }
        });
        Upkeep {
            finish,
            abort,
            task,
        }
    }

    async fn maintain_once(&self, stop: &CancellationToken) -> Result<(), StoreError> {
        let mut at = maintain::Cursor::default();
        let mut packed = maintain::Packed::default();
        loop {
            let now = super::now_micros();
            let p = self
                .write(move |w, s| maintain::pack_slice(w, at, now, raw_horizon(s, now)))
                .await?;
            packed.hours += p.hours;
            packed.events += p.events;
            match p.next {
                Some(next) => at = next,
                None => break,
            }
            if stop.is_cancelled() {
                return Ok(());
            }
            // The writer and the readers' turn.
            tokio::time::sleep(maintain::SLICE / 5).await;
        }
        if packed.hours > 0 {
            tracing::debug!(
                hours = packed.hours,
                events = packed.events,
                "store: packed"
            );
        }
        let mut total = 0;
        loop {
            let now = super::now_micros();
            match self
                .write(move |w, s| maintain::prune(&mut w.conn, s, now))
                .await?
            {
                0 => break,
                n => total += n,
            }
            if stop.is_cancelled() {
                return Ok(());
            }
        }
        if total > 0 {
            tracing::info!(rows = total, "store: pruned rows past retention");
        }
        self.keep_under_cap(stop).await?;
        while self.write(|w, _| maintain::vacuum(&w.conn)).await? > 0 {
            if stop.is_cancelled() {
                return Ok(());
            }
            tokio::time::sleep(maintain::SLICE / 5).await;
        }
        Ok(())
    }
}

/// How often the writer of a store packs, prunes and vacuums it.
pub const MAINTAIN_EVERY: Duration = Duration::from_secs(60);

/// The store's upkeep running in the background (see [`SqliteStore::upkeep`]).
pub struct Upkeep {
    /// Ends it between passes.
    finish: CancellationToken,
    /// Ends it after the slice it is in.
    abort: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Upkeep {
    /// Stops it after the slice it is in.
    pub async fn stop(self) {
        self.abort.cancel();
        self.finish(&CancellationToken::new()).await;
    }

    /// Lets the pass under way end (a run that probed once still packs and prunes), unless
    /// `give_up` comes first: then it stops after the slice it is in.
    pub async fn finish(self, give_up: &CancellationToken) {
        self.finish.cancel();
        let mut task = self.task;
        tokio::select! {
            _ = &mut task => return,
            _ = give_up.cancelled() => self.abort.cancel(),
        }
        let _ = task.await;
    }
}

impl SqliteStore {
    /// Deletes the oldest raw hours, then rollup days, while the store is above its size cap
    /// (`SQLITE_MAX_BYTES`), a chunk at a time, down to 90 % of it; logs what it deleted.
    pub async fn keep_under_cap(
        &self,
        stop: &CancellationToken,
    ) -> Result<maintain::Capped, StoreError> {
        let Some(cap) = self.0.settings.max_bytes else {
            return Ok(maintain::Capped::default());
        };
        let mut total = maintain::Capped::default();
        loop {
            let step = self
                .write(move |w, _| maintain::cap_step(&w.conn, cap))
                .await?;
            total.blocks += step.blocks;
            total.days += step.days;
            if !step.more || stop.is_cancelled() {
                break;
            }
            tokio::time::sleep(maintain::SLICE / 5).await;
        }
        if total.blocks + total.days > 0 {
            tracing::warn!(
                cap,
                raw_hours = total.blocks,
                rollup_days = total.days,
                "store: above SQLITE_MAX_BYTES; deleted the oldest history"
            );
        }
        Ok(total)
    }
}

/// Raw events before this are past their retention at `now`.
fn raw_horizon(s: &StoreSettings, now: super::Micros) -> super::Micros {
    now - s.retention_events.as_micros() as super::Micros
}
