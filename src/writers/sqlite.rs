//! `writers.sqlite`: stores probe events in the embedded SQLite store (see `store::sqlite`),
//! which `uptimer serve` shows. A batch is acknowledged once its transaction committed; a
//! locked or full database is retried with backoff before the pipeline is stopped.

use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use crate::event::Event;
use crate::metrics::METRICS;
use crate::store::SqliteStore;

use super::{Batching, Durable, WriteError, Writer, durable_now};

/// How many times a transient failure is retried before the batch is given up.
const RETRIES: u32 = 8;

pub struct SqliteWriter {
    store: SqliteStore,
}

impl SqliteWriter {
    pub fn new(store: SqliteStore) -> Self {
        SqliteWriter { store }
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

    /// Durable once the transaction committed (WAL, synchronous=NORMAL: survives a crash of
    /// this process; a power loss may take the last commits).
    async fn write(&mut self, mut batch: Vec<Event>) -> Result<Durable, WriteError> {
        let mut delay = Duration::from_millis(100);
        let mut attempt = 0;
        loop {
            let started = Instant::now();
            // The last attempt may have them; earlier ones keep a copy for the retry.
            let events = if attempt < RETRIES {
                batch.clone()
            } else {
                std::mem::take(&mut batch)
            };
            match self.store.ingest(events).await {
                Ok(done) => {
                    METRICS.record_batch(done.inserted, done.duplicates, started.elapsed());
                    return Ok(durable_now());
                }
                Err(e) if e.is_retriable() && attempt < RETRIES => {
                    attempt += 1;
                    METRICS.write_retries.fetch_add(1, Relaxed);
                    tracing::warn!(error = %e, attempt, "writers.sqlite: retrying batch");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(10));
                }
                Err(e) => {
                    METRICS.write_errors.fetch_add(1, Relaxed);
                    return Err(WriteError::Fatal {
                        writer: "writers.sqlite",
                        message: format!("{e} ({})", self.store.path().display()),
                    });
                }
            }
        }
    }
}
