//! `writers.dummy`: counts events and discards them (for tests and benchmarks).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{Durable, WriteError, Writer, durable_now};
use crate::event::Event;

#[derive(Default, Clone)]
pub struct DummyWriter {
    /// Events written so far (shared, so a test can read it while the pipeline runs).
    pub written: Arc<AtomicU64>,
}

#[async_trait::async_trait]
impl Writer for DummyWriter {
    fn name(&self) -> &'static str {
        "writers.dummy"
    }

    async fn write(&mut self, batch: Vec<Event>) -> Result<Durable, WriteError> {
        self.written
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        tracing::debug!(events = batch.len(), "writers.dummy discarded a batch");
        Ok(durable_now())
    }
}
