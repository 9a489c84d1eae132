//! `writers.postgres`: batches of events into PostgreSQL tables, one `INSERT ... SELECT FROM
//! unnest(arrays) ON CONFLICT DO NOTHING` per table per batch, so replays and duplicates are
//! harmless. A row the database rejects is kept in a rejects sink and the rest of its batch is
//! still written. A batch is durable (acknowledged) once inserted or, when the database is
//! unreachable and the events come from probers (which nothing can replay), once fsynced in the
//! disk spool; events from a replayable source (Kafka) get back-pressure instead. With the dashboard's tables migrated, a batch of
//! probe events also updates the rollups, live state and incidents in the same transaction,
//! from the rows actually inserted (`rollups`). See docs/postgres.md.

mod backlog;
mod encode;
mod follow;
mod insert;
pub mod rollups;
pub mod row;
pub mod spool;
pub mod table;
mod targets;
mod writer;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::rejects::RejectSink;
use crate::config::Settings;
use crate::metrics::{Count, Level, Up, WriterMetrics};
use crate::registry::Registry;

pub use writer::PostgresWriter;

const NAME: &str = "writers.postgres";

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
    /// The live set the `targets` rows follow (see [`follow`]): names, URLs, tags, removed and
    /// paused targets.
    pub registry: Option<Arc<Registry>>,
    /// Whether the live set starts as every target (see [`crate::store::sweeps`]): the stored
    /// targets not in it are marked removed then. Not when the events come from elsewhere
    /// (the Kafka consumer), nor for one shard of the targets.
    pub sweep: bool,
    /// Whether the targets' alert rules run in this writer's transactions (their notifications
    /// go into the database's outbox): not when another store alerts (writers.sqlite too).
    pub alerting: bool,
    /// The alerting in use (its maintenance windows hold notifications back).
    pub live: crate::config::alerting::LiveAlerting,
    /// The writer's series in the process's metrics.
    pub metrics: WriterMetrics,
    /// Cancelled when shutdown's time runs out: retries stop (a prober's batch in flight is
    /// spooled).
    pub give_up: CancellationToken,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            source: Source::Prober,
            rejects: None,
            registry: None,
            sweep: false,
            alerting: false,
            live: Default::default(),
            metrics: WriterMetrics::default(),
            give_up: CancellationToken::new(),
        }
    }
}

/// The writer's health, for logs and `/metrics` (each field is its series in the writer's
/// [`WriterMetrics`]; `Health::default()` counts for nobody).
#[derive(Debug, Default)]
pub struct Health {
    /// The last attempt to reach the database succeeded (`uptimer_writer_up`, readiness).
    pub connected: Up,
    /// Events waiting in the disk spool.
    pub spilled: Level,
    /// Rows inserted.
    pub written: Count,
    /// Events already stored (same uuid and time), skipped.
    pub duplicates: Count,
    /// Rows the database would not take, kept in the rejects sink.
    pub rejected: Count,
    /// Bytes in the disk spool.
    pub spool_bytes: Level,
    /// Events ever spilled to the disk spool.
    pub spilled_total: Count,
}

impl From<&WriterMetrics> for Health {
    fn from(m: &WriterMetrics) -> Self {
        Health {
            connected: m.up.clone(),
            spilled: m.spool_events.clone(),
            written: m.events.clone(),
            duplicates: m.duplicates.clone(),
            rejected: m.rejected.clone(),
            spool_bytes: m.spool_bytes.clone(),
            spilled_total: m.spilled.clone(),
        }
    }
}

impl Health {
    /// What the disk spool holds now.
    fn spooled(&self, events: u64, bytes: u64) {
        self.spilled.set(events);
        self.spool_bytes.set(bytes);
    }

    fn log(&self, what: &str) {
        tracing::info!(
            connected = self.connected.load(Ordering::Relaxed),
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
/// Batches written at once (each on its own connection), so encoding the next batch overlaps
/// the database inserting this one.
const IN_FLIGHT: u32 = 2;

/// `writers.postgres` from the settings: a prober source (spool), tags from the targets.
pub async fn build(
    settings: &Settings,
    registry: &Arc<Registry>,
    metrics: WriterMetrics,
    give_up: CancellationToken,
) -> Result<PostgresWriter, String> {
    let source = match settings.reader {
        crate::config::ReaderPlugin::Kafka => Source::Replayable,
        _ => Source::Prober,
    };
    // Consuming from Kafka, rejected rows go to the dead-letter topic, not a local file.
    #[cfg(feature = "kafka")]
    let rejects = match source {
        Source::Replayable => Some(super::rejects::dead_letter_sink(settings, give_up.clone())?),
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
            registry: Some(registry.clone()),
            sweep: crate::store::sweeps(settings),
            // With writers.sqlite too, that store alerts (one outbox, one notification).
            alerting: !settings
                .writers
                .contains(&crate::config::WriterPlugin::Sqlite),
            live: settings.alerting.live.clone(),
            metrics,
            give_up,
        },
    )
    .await
    .map_err(|e| e.to_string())
}
