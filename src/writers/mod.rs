//! Writers persist or forward batches of events and tell when a batch is durable. Every writer
//! has the same shape: a constructor that validates its settings, the batching it wants, `write`
//! for one batch (returning the future of its durability), `close` to flush at shutdown, tests
//! at the bottom. Batching, fan-out, acknowledgements and shutdown are the pipeline's.

pub mod dummy;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod postgres;
pub mod rejects;
pub mod sqlite;
pub mod stdout;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

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
    /// Shutdown's time ran out (`SHUTDOWN_TIMEOUT`) before the batch was durable: it is not
    /// acknowledged (a writer that spools has spooled it).
    #[error("{writer}: shutdown timeout reached before the batch was durable")]
    ShutDown { writer: &'static str },
}

/// Resolves once a batch is durable (stored, delivered, or fsynced in a spool), or with the
/// reason it will not be. It runs on its own once created (it must not need `&mut Writer`).
pub type Durable = Pin<Box<dyn Future<Output = Result<(), WriteError>> + Send + 'static>>;

/// A batch that was made durable by `write` itself.
pub fn durable_now() -> Durable {
    Box::pin(std::future::ready(Ok(())))
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

    /// How many batches may be pending (written, not yet durable) at once; their durability is
    /// reported in order. Default 1.
    fn in_flight(&self) -> usize {
        1
    }

    /// Starts writing one batch and returns the future of its durability. Waiting here (not in
    /// the future) pushes back on the sources; the future is awaited by the pipeline while it
    /// cuts the next batch.
    async fn write(&mut self, batch: Vec<Event>) -> Result<Durable, WriteError>;

    /// Writes one batch and waits until it is durable (for tools and tests).
    async fn write_and_wait(&mut self, batch: &[Event]) -> Result<(), WriteError> {
        self.write(batch.to_vec()).await?.await
    }

    /// Flushes everything at shutdown; bounded by the shutdown timeout.
    async fn close(&mut self) -> Result<(), WriteError> {
        Ok(())
    }
}

/// The writer a plugin name selects, configured from the settings, recording into its series
/// of `metrics` (a writer's `up` is its readiness: writers that depend on nothing are up).
/// `give_up` is cancelled when the shutdown timeout runs out: every retry loop watches it.
pub async fn build(
    plugin: WriterPlugin,
    settings: &Settings,
    registry: &std::sync::Arc<crate::registry::Registry>,
    metrics: &std::sync::Arc<Metrics>,
    give_up: &CancellationToken,
) -> Result<Box<dyn Writer>, String> {
    let own = || metrics.writer(plugin.name());
    Ok(match plugin {
        #[cfg(feature = "kafka")]
        WriterPlugin::Kafka => {
            Box::new(kafka::KafkaWriter::new(settings, metrics, give_up.clone()).await?)
        }
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
            store
                .alert_with(settings.alerting.live.clone())
                .await
                .map_err(|e| e.to_string())?;
            // As `serve` does: the store follows the live set.
            store
                .follow(registry, crate::store::sweeps(settings), give_up.clone())
                .await
                .map_err(|e| e.to_string())?;
            // Its outbox's notifications are sent until the writer closes (or the shutdown's
            // time is up); what is left then is sent after the restart.
            let stop_alerts = give_up.child_token();
            let worker = crate::alerting::spawn(
                std::sync::Arc::new(store.clone()),
                settings.alerting.live.clone(),
                crate::alerting::links::from_settings(&settings.web, &settings.data_dir)?,
                metrics.clone(),
                stop_alerts.clone(),
            );
            Box::new(
                sqlite::SqliteWriter::maintaining(store, own(), give_up.clone())
                    .with_alerting(worker, stop_alerts),
            )
        }
        WriterPlugin::Postgres => {
            let writer = postgres::build(settings, registry, own(), give_up.clone()).await?;
            if !writer.alerts() {
                return Ok(Box::new(writer));
            }
            // Its database's outbox is sent as writers.sqlite's is (several writers share it).
            let stop_alerts = give_up.child_token();
            let outbox = writer.outbox();
            // The database may be away at startup: links then wait for ALERT_LINK_SECRET.
            let links = match crate::alerting::links::from_database(&settings.web, &outbox).await {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!("notifications carry no acknowledgement links: {e}");
                    None
                }
            };
            let worker = crate::alerting::spawn(
                std::sync::Arc::new(outbox),
                settings.alerting.live.clone(),
                links,
                metrics.clone(),
                stop_alerts.clone(),
            );
            Box::new(writer.with_alerting(worker, stop_alerts))
        }
    })
}
