//! Writers persist or forward batches of events and acknowledge a batch only once it is
//! durable. Every writer has the same shape: a constructor that validates its settings, `write`
//! for one batch, `close` to flush at shutdown.

pub mod dummy;
pub mod stdout;

use crate::config::{Settings, WriterPlugin};
use crate::event::Event;

/// Why a batch could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The destination is gone for good (e.g. stdout closed): stop the pipeline.
    #[error("{writer}: {message}")]
    Fatal {
        writer: &'static str,
        message: String,
    },
}

/// Any writer.
pub enum Writer {
    Stdout(stdout::StdoutWriter),
    Dummy(dummy::DummyWriter),
}

impl Writer {
    /// The writer a plugin name selects, configured from the settings.
    pub fn new(plugin: WriterPlugin, settings: &Settings) -> Writer {
        match plugin {
            WriterPlugin::Stdout => {
                Writer::Stdout(stdout::StdoutWriter::new(settings.stdout_pretty))
            }
            WriterPlugin::Dummy => Writer::Dummy(dummy::DummyWriter::default()),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Writer::Stdout(_) => WriterPlugin::Stdout.name(),
            Writer::Dummy(_) => WriterPlugin::Dummy.name(),
        }
    }

    /// Writes one batch; returns once it is durable.
    pub async fn write(&mut self, batch: &[Event]) -> Result<(), WriteError> {
        match self {
            Writer::Stdout(w) => w.write(batch).await,
            Writer::Dummy(w) => {
                w.write(batch);
                Ok(())
            }
        }
    }

    /// Flushes everything at shutdown.
    pub async fn close(&mut self) -> Result<(), WriteError> {
        match self {
            Writer::Stdout(w) => w.flush().await,
            Writer::Dummy(_) => Ok(()),
        }
    }
}
