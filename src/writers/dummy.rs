//! `writers.dummy`: counts events and discards them (for tests and benchmarks).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::event::Event;

#[derive(Default, Clone)]
pub struct DummyWriter {
    /// Events written so far (shared, so a test can read it while the pipeline runs).
    pub written: Arc<AtomicU64>,
}

impl DummyWriter {
    pub fn write(&mut self, batch: &[Event]) {
        self.written
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        tracing::debug!(events = batch.len(), "writers.dummy discarded a batch");
    }
}
