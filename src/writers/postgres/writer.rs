//! The writer itself: connecting and checking the schema at startup, writing batches (inserted,
//! or spooled, or held for back-pressure) and saying when each is durable, housekeeping, and
//! shutdown.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::backlog::{Backlog, BacklogState, drain};
use super::insert::Core;
use super::spool::Spool;
use super::{
    BACKOFF_MAX, BACKOFF_MIN, Health, IN_FLIGHT, NAME, Options, Source, WRITE_TIMEOUT, rollups,
};
use crate::event::Event;
use crate::postgres::{
    Class, ConnectOptions, PgError, PostgresSettings, classify, migrate, partitions,
};
use crate::registry::follow::Following;
use crate::writers::rejects::RejectFile;
use crate::writers::{Batching, Durable, WriteError, Writer};

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

/// The writer.
pub struct PostgresWriter {
    core: Arc<Core>,
    settings: PostgresSettings,
    source: Source,
    backlog: Option<Arc<Backlog>>,
    /// A permit per batch being written, so `close` can wait for them.
    in_flight: Arc<tokio::sync::Semaphore>,
    stop: CancellationToken,
    give_up: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
    /// The outbox worker sending its notifications, stopped (after recording what it sent)
    /// at close.
    alerting: Option<(JoinHandle<()>, CancellationToken)>,
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
        if let Some(n) = settings.buffer_events {
            tracing::debug!(
                POSTGRES_BUFFER_EVENTS = n,
                "accepted for compatibility and unused: during an outage every batch goes to the disk spool"
            );
        }
        let opts = ConnectOptions::parse(url, settings.ssl_ca_file.as_deref())?;
        // A CA file that cannot be read is a configuration error now, not a retry loop later.
        opts.tls()?;
        let pool = opts.pool(settings.pool_size)?;
        let health = Arc::new(Health::from(&options.metrics));
        let rejects = options.rejects.unwrap_or_else(|| {
            Arc::new(RejectFile {
                dir: data_dir.join("rejects"),
            })
        });
        let core = Arc::new(Core {
            pool,
            tables: Mutex::new(HashMap::new()),
            targets: Mutex::new(HashMap::new()),
            rejects,
            health: health.clone(),
            rules: options.alerting.then(|| {
                std::sync::RwLock::new(crate::store::alerts::AlertRules {
                    live: options.live.clone(),
                    ..Default::default()
                })
            }),
        });

        match startup_check(&core, settings.retention_days).await {
            Ok(()) => health.connected.store(true, Ordering::Relaxed),
            Err(e) if fatal_at_startup(&e) => {
                return Err(PgError::Setup(format!("{url}: {e}")));
            }
            Err(e) => {
                health.connected.store(false, Ordering::Relaxed);
                tracing::warn!(database = %url, error = %e, "database unreachable at startup; events wait for it");
            }
        }

        let stop = CancellationToken::new();
        let mut tasks = Vec::new();
        if let Some(registry) = &options.registry {
            // The `targets` rows follow the live set; tried once now when the database
            // answered, so a short run has them, then again in the task until done.
            let replica = super::follow::TargetsReplica {
                core: core.clone(),
                sweep: options.sweep,
            };
            let mut following = Following::new(registry, replica);
            if health.connected.load(Ordering::Relaxed)
                && let Err(e) = following.reset().await
            {
                tracing::warn!(error = %e, "writing the targets failed; retrying");
            }
            tasks.push(following.spawn(stop.clone()));
        }
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
            health.spooled(st.spool_events, st.spool_bytes);
            if !st.segments.is_empty() {
                tracing::info!(segments = st.segments.len(), bytes = st.spool_bytes, dir = %dir.display(), "spooled events from an earlier run will be written");
            }
            let backlog = Arc::new(Backlog {
                state: Mutex::new(st),
                spool,
                wake: Notify::new(),
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
            // Its own, so `close` can end the batches in flight at its deadline too.
            give_up: options.give_up.child_token(),
            tasks,
            alerting: None,
        })
    }

    /// Where this writer's events come from (spool or back-pressure on an outage).
    pub fn source(&self) -> Source {
        self.source
    }

    /// Whether the targets' alert rules run in its transactions.
    pub fn alerts(&self) -> bool {
        self.core.rules.is_some()
    }

    /// The database's outbox and acknowledgements, over the writer's pool.
    pub fn outbox(&self) -> crate::store::postgres::alerts::PgAlerts {
        crate::store::postgres::alerts::PgAlerts::new(self.core.pool.clone())
    }

    /// Stops `worker` (through `stop`) and waits for it at close.
    pub fn with_alerting(
        mut self,
        worker: Option<JoinHandle<()>>,
        stop: CancellationToken,
    ) -> Self {
        self.alerting = worker.map(|w| (w, stop));
        self
    }

    /// The counters, shared (for `/metrics`).
    pub fn health(&self) -> Arc<Health> {
        self.core.health.clone()
    }
}

/// A replayable source's batch: inserted, retried with backoff while the database is away (the
/// source waits: back-pressure), until `give_up`.
async fn insert_until_stored(
    core: Arc<Core>,
    rows: Vec<Event>,
    give_up: CancellationToken,
) -> Result<(), WriteError> {
    let mut backoff = BACKOFF_MIN;
    loop {
        let attempt = tokio::select! {
            _ = give_up.cancelled() => return Err(WriteError::ShutDown { writer: NAME }),
            r = tokio::time::timeout(WRITE_TIMEOUT, core.write_rows(&rows)) => r,
        };
        match attempt {
            Ok(Ok(())) => {
                core.health.connected.store(true, Ordering::Relaxed);
                return Ok(());
            }
            // A dead letter that could not be delivered before the shutdown timeout.
            Ok(Err(_)) if give_up.is_cancelled() => {
                return Err(WriteError::ShutDown { writer: NAME });
            }
            Ok(Err(e)) if classify(&e) == Class::Fatal => return Err(fatal(e)),
            Ok(Err(e)) => {
                core.health.connected.store(false, Ordering::Relaxed);
                tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "database unavailable; holding the batch (back-pressure)");
            }
            Err(_) => {
                core.health.connected.store(false, Ordering::Relaxed);
                tracing::warn!("write timed out; retrying the batch");
            }
        }
        tokio::select! {
            _ = give_up.cancelled() => return Err(WriteError::ShutDown { writer: NAME }),
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// A prober's batch: inserted, or (the database away, or the shutdown timeout reached while
/// it was being inserted) fsynced in the spool for the drainer. Durable either way.
async fn insert_or_spool(
    core: Arc<Core>,
    backlog: Arc<Backlog>,
    rows: Vec<Event>,
    give_up: CancellationToken,
) -> Result<(), WriteError> {
    let attempt = tokio::select! {
        _ = give_up.cancelled() => None,
        r = tokio::time::timeout(WRITE_TIMEOUT, core.write_rows(&rows)) => Some(r),
    };
    match attempt {
        Some(Ok(Ok(()))) => return Ok(()),
        Some(Ok(Err(e))) if classify(&e) == Class::Fatal => {
            tracing::error!(error = %e, "cannot write");
            *backlog.fatal.lock().expect("fatal lock") = Some(e.to_string());
            return Err(fatal(e));
        }
        Some(Ok(Err(e))) => {
            core.health.connected.store(false, Ordering::Relaxed);
            tracing::warn!(error = %e, "database unavailable; events go to the disk spool");
        }
        Some(Err(_)) => {
            core.health.connected.store(false, Ordering::Relaxed);
            tracing::warn!("write timed out; the batch goes to the disk spool");
        }
        // A late insert only makes the spooled rows duplicates.
        None => tracing::debug!("shutdown timeout: the batch being inserted goes to the spool"),
    }
    backlog.spool(rows, &core.health).await.map_err(|e| {
        tracing::error!(error = %e, "cannot spool a batch");
        fatal(e)
    })
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
        let h = &core.health;
        let now = (
            h.written.load(Ordering::Relaxed),
            h.rejected.load(Ordering::Relaxed),
            h.spilled.load(Ordering::Relaxed),
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

    fn in_flight(&self) -> usize {
        IN_FLIGHT as usize
    }

    /// Durable once inserted; for a prober source also once fsynced in the spool (the database
    /// away). A replayable source's batch is retried until stored (back-pressure).
    async fn write(&mut self, batch: Vec<Event>) -> Result<Durable, WriteError> {
        // Rows are encoded from the typed events (no JSON document in between: `row`).
        let rows = batch;
        let permit = self
            .in_flight
            .clone()
            .acquire_owned()
            .await
            .map_err(fatal)?;
        let (core, give_up) = (self.core.clone(), self.give_up.clone());
        let Some(backlog) = self.backlog.clone() else {
            return Ok(spawned(permit, insert_until_stored(core, rows, give_up)));
        };
        if let Some(e) = backlog.fatal.lock().expect("fatal lock").take() {
            return Err(fatal(e));
        }
        if backlog.is_empty() && core.health.connected.load(Ordering::Relaxed) {
            return Ok(spawned(
                permit,
                insert_or_spool(core, backlog, rows, give_up),
            ));
        }
        // The database is away (or the spool is still draining): to the spool directly; a full
        // spool pushes back on the probers rather than fill the disk.
        let mut warned = false;
        while backlog.is_full() {
            if !warned {
                tracing::warn!(
                    max_bytes = backlog.max_spool_bytes,
                    "spool full; waiting for the database (probes slow down)"
                );
                warned = true;
            }
            tokio::select! {
                _ = give_up.cancelled() => return Err(WriteError::ShutDown { writer: NAME }),
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
        }
        Ok(spawned(permit, async move {
            backlog.spool(rows, &core.health).await.map_err(fatal)
        }))
    }

    async fn close(&mut self) -> Result<(), WriteError> {
        // Batches being written end first (inserted or spooled; after the shutdown timeout a
        // prober's are spooled at once, a replayable source's are left to be read again).
        let deadline = tokio::time::Instant::now() + self.settings.shutdown_timeout;
        let give_up = self.give_up.clone();
        // A fresh future each time: both conditions stay true once reached (a finished future
        // must not be polled again).
        let give_up_or_deadline = || {
            let give_up = give_up.clone();
            async move {
                tokio::select! {
                    _ = give_up.cancelled() => {}
                    _ = tokio::time::sleep_until(deadline) => {}
                }
            }
        };
        tokio::select! {
            _ = self.in_flight.acquire_many(IN_FLIGHT) => {}
            _ = give_up_or_deadline() => {}
        }
        if let Some(backlog) = self.backlog.clone() {
            // The spool drains until the database took it, or the time is up.
            backlog.wake.notify_one();
            let drained = async {
                while !backlog.is_empty() && backlog.fatal.lock().expect("fatal lock").is_none() {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            };
            tokio::select! {
                _ = drained => {}
                _ = give_up_or_deadline() => {}
            }
        }
        // Time is up: a prober's batches still being inserted (a hung server) go to the spool
        // (a late insert only makes them duplicates); that takes a local fsync.
        self.give_up.cancel();
        if tokio::time::timeout(
            Duration::from_secs(5),
            self.in_flight.acquire_many(IN_FLIGHT),
        )
        .await
        .is_err()
        {
            tracing::warn!("batches in flight did not reach the spool in time");
        }
        if let Some((worker, stop)) = self.alerting.take() {
            stop.cancel();
            if tokio::time::timeout(Duration::from_secs(5), worker)
                .await
                .is_err()
            {
                tracing::warn!("the alerting worker did not stop in time");
            }
        }
        self.stop.cancel();
        for mut t in self.tasks.drain(..) {
            if tokio::time::timeout(Duration::from_secs(2), &mut t)
                .await
                .is_err()
            {
                // Stuck on a hung server: stop it, or it would drain the spool behind the
                // next run's back. What it held is still in the spool.
                t.abort();
                tracing::debug!("a writer task did not stop in time");
            }
        }
        if let Some(backlog) = &self.backlog {
            let st = backlog.state.lock().expect("backlog lock");
            if !st.segments.is_empty() {
                tracing::warn!(
                    events = st.spool_events,
                    segments = st.segments.len(),
                    dir = %backlog.spool.dir().display(),
                    "database still unavailable at shutdown: events left in the spool are written at the next start"
                );
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

/// Runs `write` on its own task (it goes on if the pipeline stops waiting: a prober's batch still
/// reaches the spool), holding `permit` until it ends.
fn spawned(
    permit: tokio::sync::OwnedSemaphorePermit,
    write: impl std::future::Future<Output = Result<(), WriteError>> + Send + 'static,
) -> Durable {
    let task = tokio::spawn(async move {
        let _permit = permit;
        write.await
    });
    Box::pin(async move {
        task.await.unwrap_or_else(|e| {
            Err(WriteError::Fatal {
                writer: NAME,
                message: format!("write task failed: {e}"),
            })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_misconfiguration_is_fatal_at_startup_and_a_busy_pool_is_not() {
        assert!(fatal_at_startup(&PgError::Setup("x".into())));
        assert!(!fatal_at_startup(&PgError::Pool("timed out".into())));
    }
}
