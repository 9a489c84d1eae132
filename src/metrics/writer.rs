//! Per-writer series, labelled `writer="writers.postgres"` and so on. A writer and the pipeline
//! each ask [`super::Metrics::writer`] for the handle once, at startup, and then record on it
//! without a label lookup.

use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use super::help;
use super::kinds::{Count, Durations, Flag, Level, Timestamp, Up};

pub(super) type Label = [(&'static str, String); 1];

fn label(writer: &str) -> Label {
    [("writer", writer.to_owned())]
}

/// One writer's series. `Default` is a set that no registry exports (for tests and tools).
#[derive(Debug, Clone, Default)]
pub struct WriterMetrics {
    /// Events stored for the first time (`uptimer_writer_events_total`).
    pub events: Count,
    /// Events skipped because their uuid was already stored.
    pub duplicates: Count,
    /// Batches the pipeline handed over and the writer took.
    pub batches: Count,
    /// Batches that failed for good.
    pub errors: Count,
    /// Writes retried after a transient error.
    pub retries: Count,
    /// Events the writer made durable (stored, spooled, or delivered).
    pub acked: Count,
    /// Events queued for the writer and not yet taken by it.
    pub queue_depth: Level,
    /// Time for the writer to take one batch.
    pub batch_seconds: Durations,
    /// The writer's destination is reachable (1) or not (0), and when it last was not; also
    /// the writer's readiness.
    pub up: Up,
    /// Events in the writer's disk spool.
    pub spool_events: Level,
    /// Bytes in the writer's disk spool.
    pub spool_bytes: Level,
    /// Events spilled to the disk spool while the destination was away.
    pub spilled: Count,
    /// Events the destination will never take, kept in the rejects file or dead-letter topic
    /// (the SQLite store logs them).
    pub rejected: Count,
    /// Events older than the SQLite store's raw retention, dropped: it cannot tell them from
    /// events it stored and pruned.
    pub too_old: Count,
}

impl WriterMetrics {
    /// The destination failed (connection lost, a write timed out): down since now.
    pub fn failed(&self) {
        self.up.set(false);
    }
}

/// The families behind [`WriterMetrics`].
#[derive(Debug, Default)]
pub(super) struct WriterFamilies {
    events: Family<Label, Count>,
    duplicates: Family<Label, Count>,
    batches: Family<Label, Count>,
    errors: Family<Label, Count>,
    retries: Family<Label, Count>,
    acked: Family<Label, Count>,
    queue_depth: Family<Label, Level>,
    batch_seconds: Family<Label, Durations>,
    up: Family<Label, Flag>,
    last_error: Family<Label, Timestamp>,
    spool_events: Family<Label, Level>,
    spool_bytes: Family<Label, Level>,
    spilled: Family<Label, Count>,
    rejected: Family<Label, Count>,
    too_old: Family<Label, Count>,
    producer_queue: Family<Label, Level>,
}

impl WriterFamilies {
    pub(super) fn handle(&self, writer: &str) -> WriterMetrics {
        let l = label(writer);
        WriterMetrics {
            events: self.events.get_or_create_owned(&l),
            duplicates: self.duplicates.get_or_create_owned(&l),
            batches: self.batches.get_or_create_owned(&l),
            errors: self.errors.get_or_create_owned(&l),
            retries: self.retries.get_or_create_owned(&l),
            acked: self.acked.get_or_create_owned(&l),
            queue_depth: self.queue_depth.get_or_create_owned(&l),
            batch_seconds: self.batch_seconds.get_or_create_owned(&l),
            up: Up {
                flag: self.up.get_or_create_owned(&l),
                last_error: self.last_error.get_or_create_owned(&l),
            },
            spool_events: self.spool_events.get_or_create_owned(&l),
            spool_bytes: self.spool_bytes.get_or_create_owned(&l),
            spilled: self.spilled.get_or_create_owned(&l),
            rejected: self.rejected.get_or_create_owned(&l),
            too_old: self.too_old.get_or_create_owned(&l),
        }
    }

    pub(super) fn producer_queue(&self, writer: &str) -> Level {
        self.producer_queue.get_or_create_owned(&label(writer))
    }

    pub(super) fn register(&self, r: &mut Registry) {
        let counters = [
            (
                "uptimer_writer_events",
                "Events stored by the writer (first time seen).",
                &self.events,
            ),
            (
                "uptimer_writer_duplicate_events",
                "Events skipped because their uuid was already stored.",
                &self.duplicates,
            ),
            ("uptimer_writer_batches", "Batches written.", &self.batches),
            (
                "uptimer_writer_errors",
                "Batches that failed after retries.",
                &self.errors,
            ),
            (
                "uptimer_writer_retries",
                "Batch writes retried after a transient error.",
                &self.retries,
            ),
            (
                "uptimer_events_acked",
                "Events the writer made durable (stored, spooled or delivered).",
                &self.acked,
            ),
            (
                "uptimer_events_spilled",
                "Events spilled to the disk queue while a writer was down.",
                &self.spilled,
            ),
            (
                "uptimer_writer_rejected_events",
                "Events the destination will never take, kept in the rejects file or the dead-letter topic.",
                &self.rejected,
            ),
            (
                "uptimer_writer_too_old_events",
                "Events older than the SQLite store's raw retention, dropped (it cannot tell them from events it stored and pruned).",
                &self.too_old,
            ),
        ];
        for (name, text, family) in counters {
            r.register(name, help(text), family.clone());
        }
        let levels = [
            (
                "uptimer_writer_queue_depth",
                "Events handed to the writer and not yet stored.",
                &self.queue_depth,
            ),
            (
                "uptimer_writer_spool_events",
                "Events in the writer's disk spool.",
                &self.spool_events,
            ),
            (
                "uptimer_writer_spool_bytes",
                "Bytes in the writer's disk spool.",
                &self.spool_bytes,
            ),
            (
                "uptimer_producer_queue_messages",
                "Messages and requests in the Kafka producer's queue, not yet acknowledged by the brokers.",
                &self.producer_queue,
            ),
        ];
        for (name, text, family) in levels {
            r.register(name, help(text), family.clone());
        }
        r.register(
            "uptimer_writer_batch_seconds",
            help("Time to store one batch."),
            self.batch_seconds.clone(),
        );
        r.register(
            "uptimer_writer_up",
            help("Whether the writer reaches its destination (1) or not (0)."),
            self.up.clone(),
        );
        r.register(
            "uptimer_writer_last_error_timestamp_seconds",
            help("When the writer last failed to reach its destination, Unix seconds (0: never)."),
            self.last_error.clone(),
        );
    }
}
