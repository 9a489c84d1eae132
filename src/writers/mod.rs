//! Writers persist or forward batches of events and acknowledge a batch only once it is
//! durable. Every writer has the same shape: a constructor that validates its settings, the
//! batching it wants, `write` for one batch, `close` to flush at shutdown, tests at the bottom.

pub mod dummy;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod postgres;
pub mod rejects;
pub mod sqlite;
pub mod stdout;

use std::time::Duration;

use crate::config::{Settings, WriterPlugin};
use crate::event::Event;
use crate::metrics::Metrics;

/// Why a batch could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The destination is gone for good (e.g. stdout closed, bad credentials): the pipeline
    /// stops. Transient trouble (a database restarting) is the writer's own to retry, spool or
    /// push back on; it never reaches the pipeline as an error.
    #[error("{writer}: {message}")]
    Fatal {
        writer: &'static str,
        message: String,
    },
}

/// How a writer wants its events grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batching {
    /// A batch is handed over when it holds this many events...
    pub max_events: usize,
    /// ...or when its first event has waited this long.
    pub max_age: Duration,
}

impl Default for Batching {
    fn default() -> Self {
        Batching {
            max_events: 1000,
            max_age: Duration::from_millis(100),
        }
    }
}

/// A destination for events.
#[async_trait::async_trait]
pub trait Writer: Send {
    /// The plugin name, for logs.
    fn name(&self) -> &'static str;

    /// How this writer wants batches cut.
    fn batching(&self) -> Batching {
        Batching::default()
    }

    /// Writes one batch; returns once it is durable (or safely spooled).
    async fn write(&mut self, batch: &[Event]) -> Result<(), WriteError>;

    /// Flushes everything at shutdown.
    async fn close(&mut self) -> Result<(), WriteError> {
        Ok(())
    }
}

/// The writer a plugin name selects, configured from the settings, recording into its series
/// of `metrics` (a writer's `up` is its readiness: writers that depend on nothing are up).
pub async fn build(
    plugin: WriterPlugin,
    settings: &Settings,
    metrics: &Metrics,
) -> Result<Box<dyn Writer>, String> {
    let own = || metrics.writer(plugin.name());
    Ok(match plugin {
        #[cfg(feature = "kafka")]
        WriterPlugin::Kafka => Box::new(kafka::KafkaWriter::new(settings, metrics).await?),
        #[cfg(not(feature = "kafka"))]
        WriterPlugin::Kafka => return Err(crate::NO_KAFKA.into()),
        WriterPlugin::Stdout => {
            own().up.set(true);
            Box::new(stdout::StdoutWriter::new(settings.stdout_pretty))
        }
        WriterPlugin::Dummy => {
            own().up.set(true);
            Box::new(dummy::DummyWriter::default())
        }
        WriterPlugin::Sqlite => {
            let store = crate::store::SqliteStore::open_async(&settings.store)
                .await
                .map_err(|e| e.to_string())?;
            // As `serve` does: the configured targets, and the ones no longer configured removed.
            store
                .register_configured(settings)
                .await
                .map_err(|e| e.to_string())?;
            Box::new(sqlite::SqliteWriter::new(store, own()))
        }
        WriterPlugin::Postgres => Box::new(postgres::build(settings, own()).await?),
    })
}
