//! The process's own health counters, kept in atomics and rendered by `/metrics` in the
//! Prometheus text format. Writers record what they see; nothing here blocks or allocates on
//! the hot path.

use std::fmt::Write as _;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::event::{ErrorKind, ProbeEvent};

/// Upper bounds (seconds) of the probe duration histograms.
pub const DURATION_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The phases timed per probe, and `total` for the whole probe.
pub const PHASES: [&str; 6] = ["dns", "connect", "tls", "ttfb", "transfer", "total"];

/// A histogram with fixed buckets; sums kept in microseconds.
pub struct DurationHistogram {
    buckets: [AtomicU64; DURATION_BUCKETS.len()],
    count: AtomicU64,
    sum_us: AtomicU64,
}

impl Default for DurationHistogram {
    fn default() -> Self {
        DurationHistogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            count: AtomicU64::new(0),
            sum_us: AtomicU64::new(0),
        }
    }
}

impl DurationHistogram {
    pub fn observe(&self, seconds: f64) {
        let seconds = seconds.max(0.0);
        if let Some(i) = DURATION_BUCKETS.iter().position(|b| seconds <= *b) {
            self.buckets[i].fetch_add(1, Relaxed);
        }
        self.count.fetch_add(1, Relaxed);
        self.sum_us.fetch_add((seconds * 1e6) as u64, Relaxed);
    }

    /// Writes `name_bucket`, `name_sum` and `name_count` lines with these extra labels
    /// (`phase="dns",`), buckets cumulative as Prometheus wants them.
    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut acc = 0;
        for (b, n) in DURATION_BUCKETS.iter().zip(&self.buckets) {
            acc += n.load(Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels}le=\"{b}\"}} {acc}");
        }
        let count = self.count.load(Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels}le=\"+Inf\"}} {count}");
        let sum = self.sum_us.load(Relaxed) as f64 / 1e6;
        let trimmed = labels.trim_end_matches(',');
        let _ = writeln!(out, "{name}_sum{{{trimmed}}} {sum}");
        let _ = writeln!(out, "{name}_count{{{trimmed}}} {count}");
    }
}

/// Counters of the whole process.
#[derive(Default)]
pub struct Metrics {
    pub probes_up: AtomicU64,
    pub probes_down: AtomicU64,
    errors: [AtomicU64; ErrorKind::ALL.len()],
    phases: [DurationHistogram; PHASES.len()],
    pub written: AtomicU64,
    pub duplicates: AtomicU64,
    pub batches: AtomicU64,
    pub write_errors: AtomicU64,
    pub write_retries: AtomicU64,
    /// Events handed to the writer and not yet stored.
    pub queue_depth: AtomicU64,
    pub batch_seconds: DurationHistogram,
    /// Events each writer made durable, by writer name (a handful; per batch, not per event).
    acked: std::sync::Mutex<Vec<(&'static str, u64)>>,
}

/// The process-wide metrics (one process, one set, as with Prometheus' default registry).
pub static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::default);

impl Metrics {
    /// Counts one probe: its verdict, its error kind and its phase durations.
    pub fn record_probe(&self, e: &ProbeEvent, up: bool) {
        if up {
            self.probes_up.fetch_add(1, Relaxed);
        } else {
            self.probes_down.fetch_add(1, Relaxed);
        }
        if let Some(k) = e.error_kind
            && let Some(i) = ErrorKind::ALL.iter().position(|x| *x == k)
        {
            self.errors[i].fetch_add(1, Relaxed);
        }
        if let Some(p) = e.phases_ms {
            for (i, v) in [p.dns, p.connect, p.tls, p.ttfb, p.transfer]
                .into_iter()
                .enumerate()
            {
                if let Some(ms) = v {
                    self.phases[i].observe(ms / 1000.0);
                }
            }
        }
        self.phases[5].observe(e.response_time_ms as f64 / 1000.0);
    }

    /// `n` events made durable by `writer` (`uptimer_events_acked_total{writer}`).
    pub fn record_acked(&self, writer: &'static str, n: u64) {
        let mut acked = self.acked.lock().unwrap_or_else(|e| e.into_inner());
        match acked.iter_mut().find(|(w, _)| *w == writer) {
            Some((_, total)) => *total += n,
            None => acked.push((writer, n)),
        }
    }

    pub fn record_batch(&self, inserted: usize, duplicates: usize, took: Duration) {
        self.written.fetch_add(inserted as u64, Relaxed);
        self.duplicates.fetch_add(duplicates as u64, Relaxed);
        self.batches.fetch_add(1, Relaxed);
        self.batch_seconds.observe(took.as_secs_f64());
    }

    /// The process metrics in the Prometheus text format (0.0.4), with the scheduler's when
    /// this process probes. A process that neither probes nor writes (`serve --store`) leaves
    /// them all out rather than report counters that cannot move.
    pub fn render(&self, out: &mut String, scheduler: Option<SchedulerCounts>) {
        let mut counter = |name: &str, help: &str, lines: &[(String, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (labels, v) in lines {
                let _ = writeln!(out, "{name}{labels} {v}");
            }
        };
        if let Some(s) = scheduler {
            counter(
                "uptimer_probes_started_total",
                "Probes the scheduler started.",
                &[(String::new(), s.started)],
            );
            counter(
                "uptimer_scheduler_skipped_rounds_total",
                "Rounds not probed because the target's previous round was still running.",
                &[(String::new(), s.skipped_rounds)],
            );
        }
        counter(
            "uptimer_probes_total",
            "Probes written, by verdict.",
            &[
                ("{result=\"up\"}".into(), self.probes_up.load(Relaxed)),
                ("{result=\"down\"}".into(), self.probes_down.load(Relaxed)),
            ],
        );
        let errors: Vec<_> = ErrorKind::ALL
            .iter()
            .zip(&self.errors)
            .map(|(k, n)| (format!("{{kind=\"{k}\"}}"), n.load(Relaxed)))
            .collect();
        counter(
            "uptimer_probe_errors_total",
            "Failed probes by error kind.",
            &errors,
        );
        counter(
            "uptimer_writer_events_total",
            "Events stored by the writer (first time seen).",
            &[(String::new(), self.written.load(Relaxed))],
        );
        counter(
            "uptimer_writer_duplicate_events_total",
            "Events skipped because their uuid was already stored.",
            &[(String::new(), self.duplicates.load(Relaxed))],
        );
        counter(
            "uptimer_writer_batches_total",
            "Batches written.",
            &[(String::new(), self.batches.load(Relaxed))],
        );
        counter(
            "uptimer_writer_errors_total",
            "Batches that failed after retries.",
            &[(String::new(), self.write_errors.load(Relaxed))],
        );
        counter(
            "uptimer_writer_retries_total",
            "Batch writes retried after a transient error.",
            &[(String::new(), self.write_retries.load(Relaxed))],
        );
        let acked: Vec<_> = self
            .acked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(w, n)| (format!("{{writer=\"{}\"}}", label_value(w)), *n))
            .collect();
        counter(
            "uptimer_events_acked_total",
            "Events each writer made durable (stored, delivered or fsynced in its spool).",
            &acked,
        );
        counter(
            "uptimer_events_dropped_total",
            "Events dropped. Always 0: readers wait for the writers (back-pressure) instead.",
            &[(String::new(), 0)],
        );
        counter(
            "uptimer_events_spilled_total",
            "Events spilled to the disk queue while a writer was down.",
            &[(String::new(), 0)],
        );
        let _ = writeln!(
            out,
            "# HELP uptimer_writer_queue_depth Events handed to the writer and not yet stored.\n\
             # TYPE uptimer_writer_queue_depth gauge\nuptimer_writer_queue_depth {}",
            self.queue_depth.load(Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP uptimer_probe_duration_seconds Probe phase durations.\n\
             # TYPE uptimer_probe_duration_seconds histogram"
        );
        for (phase, h) in PHASES.iter().zip(&self.phases) {
            h.render(
                out,
                "uptimer_probe_duration_seconds",
                &format!("phase=\"{phase}\","),
            );
        }
        let _ = writeln!(
            out,
            "# HELP uptimer_writer_batch_seconds Time to store one batch.\n\
             # TYPE uptimer_writer_batch_seconds histogram"
        );
        self.batch_seconds
            .render(out, "uptimer_writer_batch_seconds", "");
    }
}

/// What the scheduler counted, for `/metrics` (the scheduler sits above this module).
#[derive(Debug, Clone, Copy, Default)]
pub struct SchedulerCounts {
    pub started: u64,
    pub skipped_rounds: u64,
}

/// `uptimer_build_info`: which version this process runs, whatever it does.
pub fn render_build_info(out: &mut String) {
    let _ = writeln!(
        out,
        "# HELP uptimer_build_info The version of uptimer this process runs.\n\
         # TYPE uptimer_build_info gauge\nuptimer_build_info{{version=\"{}\"}} 1",
        label_value(env!("CARGO_PKG_VERSION"))
    );
}

/// A label value escaped as the text format wants (`\\`, `\"`, `\n`).
pub fn label_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_labels_escaped() {
        let h = DurationHistogram::default();
        for s in [0.0005, 0.02, 0.02, 99.0] {
            h.observe(s);
        }
        let mut out = String::new();
        h.render(&mut out, "x", "phase=\"dns\",");
        assert!(
            out.contains("x_bucket{phase=\"dns\",le=\"0.001\"} 1\n"),
            "{out}"
        );
        assert!(
            out.contains("x_bucket{phase=\"dns\",le=\"0.025\"} 3\n"),
            "{out}"
        );
        assert!(
            out.contains("x_bucket{phase=\"dns\",le=\"30\"} 3\n"),
            "{out}"
        );
        assert!(
            out.contains("x_bucket{phase=\"dns\",le=\"+Inf\"} 4\n"),
            "{out}"
        );
        assert!(out.contains("x_count{phase=\"dns\"} 4\n"), "{out}");
        assert_eq!(label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
