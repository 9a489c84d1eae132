//! The process's own metrics and health, exported by `/metrics`, `/healthz` and `/readyz`.
//!
//! One [`Metrics`] value per process, made by the command and passed (`Arc<Metrics>`) to the
//! pipeline, the scheduler, the readers, the writers and the web server; there is no global.
//! Components take their handles ([`WriterMetrics`], [`ReaderMetrics`], ...) once at startup
//! and record on shared atomics: nothing here blocks or allocates per event. The text format
//! is written by `prometheus-client`.

pub mod alerting;
pub mod config;
pub mod flow;
pub mod heartbeat;
pub mod kinds;
pub mod probe;
pub mod reader;
pub mod readiness;
pub mod writer;

use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

pub use config::ConfigMetrics;
pub use flow::{Flow, FlowCounts};
pub use heartbeat::HeartbeatMetrics;
pub use kinds::{
    Count, DURATION_BUCKETS, Durations, Flag, Labelled, Level, Overdue, Timestamp, Up,
};
pub use probe::{PHASES, ProbeMetrics, SchedulerMetrics};
pub use reader::{ConsumerLag, ReaderMetrics};
pub use readiness::Readiness;
pub use writer::WriterMetrics;

/// The `Content-Type` of what [`Metrics::encode`] writes (the Prometheus text format 0.0.4).
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// prometheus-client ends every help text with a period; ours are sentences already.
fn help(text: &str) -> &str {
    text.strip_suffix('.').unwrap_or(text)
}

/// Which families this process exports: a process leaves out the counters of what it does
/// not do (a read-only `serve --store` only says which version it runs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sections {
    /// It probes: probe verdicts, errors, durations and the scheduler.
    pub probing: bool,
    /// It reads events from a source (probes, a consumer, the dummy reader).
    pub reading: bool,
    /// It consumes from Kafka: lag per partition.
    pub consuming: bool,
    /// It writes events.
    pub writing: bool,
    /// It calls a heartbeat URL (the dead-man's switch).
    pub heartbeat: bool,
}

impl Sections {
    /// Everything (tests, and a process that does it all).
    pub const ALL: Sections = Sections {
        probing: true,
        reading: true,
        consuming: true,
        writing: true,
        heartbeat: true,
    };
}

/// The process's registry and every family in it.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub probes: ProbeMetrics,
    pub scheduler: SchedulerMetrics,
    pub config: ConfigMetrics,
    pub consumer_lag: ConsumerLag,
    pub readiness: Readiness,
    /// Alert notifications (registered by a process that writes, the store's outbox with it).
    pub alerting: alerting::AlertingMetrics,
    /// The dead-man's switch's beats (registered when one is configured).
    pub heartbeat: HeartbeatMetrics,
    /// Events in and events made durable, summed for the dead-man's switch.
    pub flow: Flow,
    writers: writer::WriterFamilies,
    readers: reader::ReaderFamilies,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new(Sections::ALL)
    }
}

impl Metrics {
    pub fn new(sections: Sections) -> Metrics {
        let mut m = Metrics {
            registry: Registry::default(),
            probes: ProbeMetrics::default(),
            scheduler: SchedulerMetrics::default(),
            config: ConfigMetrics::default(),
            consumer_lag: ConsumerLag::default(),
            readiness: Readiness::default(),
            alerting: alerting::AlertingMetrics::default(),
            heartbeat: HeartbeatMetrics::default(),
            flow: Flow::default(),
            writers: writer::WriterFamilies::default(),
            readers: reader::ReaderFamilies::default(),
        };
        let mut registry = Registry::default();
        registry.register(
            "uptimer_build_info",
            help("The version of uptimer this process runs."),
            BuildInfo,
        );
        if sections.probing {
            m.scheduler.register(&mut registry);
            m.config.register(&mut registry);
            m.probes.register(&mut registry);
        }
        if sections.writing {
            m.writers.register(&mut registry);
            m.alerting.register(&mut registry);
            registry.register(
                "uptimer_events_dropped",
                help(
                    "Events dropped. Always 0: readers wait for the writers (back-pressure) instead.",
                ),
                Count::default(),
            );
        }
        if sections.reading {
            m.readers.register(&mut registry);
        }
        if sections.consuming {
            m.consumer_lag.register(&mut registry);
        }
        if sections.heartbeat {
            m.heartbeat.register(&mut registry);
        }
        m.registry = registry;
        m
    }

    /// The handle of one writer's series (the same series for every call with this name);
    /// its `up` flag counts for `/readyz`.
    pub fn writer(&self, name: &str) -> WriterMetrics {
        let w = self.writers.handle(name);
        self.readiness.add(name, w.up.flag.clone());
        self.flow.add_writer(name, &w.acked);
        w
    }

    /// The Kafka producer's queue of one writer.
    pub fn producer_queue(&self, writer: &str) -> Level {
        self.writers.producer_queue(writer)
    }

    /// The handle of one reader's series. Its `ready` flag counts for `/readyz` only for a
    /// reader that says it can be unready ([`Metrics::reader_ready`]).
    pub fn reader(&self, name: &str) -> ReaderMetrics {
        let r = self.readers.handle(name);
        self.flow.add_reader(name, &r.events, &r.dead_letters);
        r
    }

    /// Adds a reader's `ready` flag to what `/readyz` waits for, under `what`.
    pub fn reader_ready(&self, what: &str, reader: &ReaderMetrics) {
        self.readiness.add(what, reader.ready.clone());
    }

    /// Appends every exported family in the Prometheus text format.
    pub fn encode(&self, out: &mut String) {
        // Writing into a String cannot fail.
        let _ = prometheus_text::encode(out, &self.registry);
    }
}

/// `uptimer_build_info{version}`: always 1.
#[derive(Debug)]
struct BuildInfo;

impl prometheus_client::metrics::TypedMetric for BuildInfo {
    const TYPE: prometheus_client::metrics::MetricType =
        prometheus_client::metrics::MetricType::Gauge;
}

impl prometheus_client::encoding::EncodeMetric for BuildInfo {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::MetricEncoder,
    ) -> Result<(), std::fmt::Error> {
        let labels = [("version", env!("CARGO_PKG_VERSION"))];
        ConstGauge::new(1i64).encode(encoder.encode_family(&labels)?)
    }
    fn metric_type(&self) -> prometheus_client::metrics::MetricType {
        prometheus_client::metrics::MetricType::Gauge
    }
}

#[cfg(test)]
mod tests;
