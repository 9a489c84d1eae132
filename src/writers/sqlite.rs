//! `writers.sqlite`: stores probe events in the embedded SQLite store (see `store::sqlite`),
//! which `uptimer serve` shows. A batch is acknowledged once its transaction committed; a
//! locked or full database is retried with backoff before the pipeline is stopped.

use std::time::Duration;

use crate::event::Event;
use crate::metrics::WriterMetrics;
use crate::store::SqliteStore;
use crate::store::sqlite::Upkeep;
use tokio_util::sync::CancellationToken;

use super::{Batching, Durable, WriteError, Writer, durable_now};

/// How many times a transient failure is retried before the batch is given up.
const RETRIES: u32 = 8;

pub struct SqliteWriter {
    store: SqliteStore,
    metrics: WriterMetrics,
    /// Its upkeep, and when to stop waiting for it at close.
    upkeep: Option<(Upkeep, CancellationToken)>,
    /// The outbox worker sending its notifications, stopped (after recording what it sent)
    /// at close.
    alerting: Option<(tokio::task::JoinHandle<()>, CancellationToken)>,
}

impl SqliteWriter {
    /// The store is open: the writer is up. Whoever else holds the store keeps it packed and
    /// pruned (`serve`).
    pub fn new(store: SqliteStore, metrics: WriterMetrics) -> Self {
        metrics.up.set(true);
        SqliteWriter {
            store,
            metrics,
            upkeep: None,
            alerting: None,
        }
    }

    /// As [`new`](Self::new), and the writer keeps the store packed, pruned and under its size
    /// cap (`uptimer run` with `writers.sqlite`); closing it lets the pass under way end unless
    /// `give_up` (the shutdown timeout) comes first.
    pub fn maintaining(
        store: SqliteStore,
        metrics: WriterMetrics,
        give_up: CancellationToken,
    ) -> Self {
        let upkeep = Some((store.upkeep(), give_up));
        SqliteWriter {
            upkeep,
            ..SqliteWriter::new(store, metrics)
        }
    }

    /// Stops `worker` (through `stop`) and waits for it at close.
    pub fn with_alerting(
        mut self,
        worker: Option<tokio::task::JoinHandle<()>>,
        stop: CancellationToken,
    ) -> Self {
        self.alerting = worker.map(|w| (w, stop));
        self
    }
}

#[async_trait::async_trait]
impl Writer for SqliteWriter {
    fn name(&self) -> &'static str {
        "writers.sqlite"
    }

    fn batching(&self) -> Batching {
        Batching {
            max_events: 2000,
            max_age: Duration::from_millis(200),
        }
    }

    /// Durable once the transaction committed (WAL: survives a crash of this process).
    async fn write(&mut self, mut batch: Vec<Event>) -> Result<Durable, WriteError> {
        let mut delay = Duration::from_millis(100);
        let mut attempt = 0;
        loop {
            // The last attempt may have them; earlier ones keep a copy for a retry.
            let events = if attempt < RETRIES {
                batch.clone()
            } else {
                std::mem::take(&mut batch)
            };
            match self.store.ingest(events).await {
                Ok(done) => {
                    if done.ignored > 0 {
                        // Job and verdict events (a Kafka source's): the store keeps probes only.
                        tracing::debug!(
                            events = done.ignored,
                            "writers.sqlite: events other than probe events skipped (this store keeps probe events only)"
                        );
                    }
                    self.metrics.events.add(done.inserted as u64);
                    self.metrics.duplicates.add(done.duplicates as u64);
                    self.metrics.too_old.add(done.too_old as u64);
                    self.metrics.rejected.add(done.rejected as u64);
                    self.metrics.up.set(true);
                    return Ok(durable_now());
                }
                Err(e) if e.is_retriable() && attempt < RETRIES => {
                    attempt += 1;
                    self.metrics.retries.inc();
                    self.metrics.failed();
                    tracing::warn!(error = %e, attempt, "writers.sqlite: retrying batch");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(10));
                }
                Err(e) => {
                    return Err(WriteError::Fatal {
                        writer: "writers.sqlite",
                        message: format!("{e} ({})", self.store.path().display()),
                    });
                }
            }
        }
    }

    /// Empties the store's WAL (see [`SqliteStore::close`]). Every batch is durable already: a
    /// failure here loses nothing, so it is logged, not raised.
    async fn close(&mut self) -> Result<(), WriteError> {
        if let Some((worker, stop)) = self.alerting.take() {
            stop.cancel();
            if let Err(e) = worker.await {
                tracing::warn!("alerting: the outbox worker ended badly: {e}");
            }
        }
        if let Some((upkeep, give_up)) = self.upkeep.take() {
            upkeep.finish(&give_up).await;
        }
        if let Err(e) = self.store.clone().close().await {
            tracing::warn!(error = %e, store = %self.store.path().display(), "writers.sqlite: emptying the WAL at close failed");
        }
        Ok(())
    }
}
