//! What the prober and its scheduler record: verdicts, error kinds, phase durations, probes
//! started, rounds skipped, how late probes start and how overdue the next round is. Recorded
//! once per probe (or per turn of the scheduler's loop), on values created up front: no lock,
//! no allocation.

use prometheus_client::registry::Registry;

use super::help;
use super::kinds::{Count, Durations, Labelled, Overdue};
use crate::event::{ErrorKind, ProbeEvent};

/// The phases timed per probe, and `total` for the whole probe.
pub const PHASES: [&str; 6] = ["dns", "connect", "tls", "ttfb", "transfer", "total"];

fn kind_names() -> [&'static str; ErrorKind::ALL.len()] {
    std::array::from_fn(|i| ErrorKind::ALL[i].as_str())
}

/// The prober's counters (a cheap clone: handles to the same series).
#[derive(Debug, Clone)]
pub struct ProbeMetrics {
    verdicts: Labelled<Count, 2>,
    errors: Labelled<Count, { ErrorKind::ALL.len() }>,
    phases: Labelled<Durations, { PHASES.len() }>,
}

impl Default for ProbeMetrics {
    fn default() -> Self {
        ProbeMetrics {
            verdicts: Labelled::new("result", ["up", "down"]),
            errors: Labelled::new("kind", kind_names()),
            phases: Labelled::new("phase", PHASES),
        }
    }
}

impl ProbeMetrics {
    /// Counts one probe: its verdict, its error kind and its phase durations.
    pub fn record(&self, e: &ProbeEvent, up: bool) {
        self.verdicts.series[usize::from(!up)].inc();
        if let Some(k) = e.error_kind
            && let Some(i) = ErrorKind::ALL.iter().position(|x| *x == k)
        {
            self.errors.series[i].inc();
        }
        if let Some(p) = e.phases_ms {
            for (i, v) in [p.dns, p.connect, p.tls, p.ttfb, p.transfer]
                .into_iter()
                .enumerate()
            {
                if let Some(ms) = v {
                    self.phases.series[i].observe(ms / 1000.0);
                }
            }
        }
        self.phases.series[5].observe(e.response_time_ms as f64 / 1000.0);
    }

    /// Probes counted as up and as down.
    pub fn verdicts(&self) -> (u64, u64) {
        (self.verdicts.series[0].get(), self.verdicts.series[1].get())
    }

    pub(super) fn register(&self, r: &mut Registry) {
        r.register(
            "uptimer_probes",
            help("Probes written, by verdict."),
            self.verdicts.clone(),
        );
        r.register(
            "uptimer_probe_errors",
            help("Failed probes by error kind."),
            self.errors.clone(),
        );
        r.register(
            "uptimer_probe_duration_seconds",
            help("Probe phase durations."),
            self.phases.clone(),
        );
    }
}

/// The scheduler's counters.
#[derive(Debug, Clone, Default)]
pub struct SchedulerMetrics {
    pub started: Count,
    /// Rounds not probed because the target's previous round was still running.
    pub skipped_rounds: Count,
    /// Rounds not probed because a `pause` maintenance window covered the target.
    pub paused_rounds: Count,
    /// How late each probe started after its scheduled time.
    pub start_lag: Durations,
    /// How long the oldest round that is due has waited to start: grows while the scheduler's
    /// loop hangs or every concurrency slot stays taken (the dead-man's switch reads it).
    pub overdue: Overdue,
}

impl SchedulerMetrics {
    pub(super) fn register(&self, r: &mut Registry) {
        r.register(
            "uptimer_probes_started",
            help("Probes the scheduler started."),
            self.started.clone(),
        );
        r.register(
            "uptimer_scheduler_skipped_rounds",
            help("Rounds not probed because the target's previous round was still running."),
            self.skipped_rounds.clone(),
        );
        r.register(
            "uptimer_scheduler_maintenance_paused_rounds",
            help("Rounds not probed because a pause maintenance window covered the target."),
            self.paused_rounds.clone(),
        );
        r.register(
            "uptimer_scheduler_start_lag_seconds",
            help("How late probes started after their scheduled time."),
            self.start_lag.clone(),
        );
        r.register(
            "uptimer_scheduler_overdue_seconds",
            help("How long the oldest round that is due has waited to start (0 when none waits)."),
            self.overdue.clone(),
        );
    }
}
