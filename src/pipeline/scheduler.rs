//! Schedules every target on its own period, start times spread evenly across the period (no
//! thundering herd), under one global concurrency limit. A slow target only delays itself: each
//! target has its own task, and a probe that overruns its period skips the missed starts, which
//! are counted and logged (at most once a minute per target). Each target's task also tells
//! its verdict changes (`verdicts`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::verdicts::{self, Verdicts};
use crate::config::target::masked_url;
use crate::config::{EventFormat, Interval, Target};
use crate::event::Event;
use crate::metrics::{Count, Durations, Metrics, ProbeMetrics};
use crate::readers::probes::Prober;

/// What the scheduler did: probes started, rounds skipped, and a start-lag histogram (how late
/// each probe started after its scheduled time, in 1 ms buckets up to 10 s; later starts land
/// in the last bucket). Made with [`SchedulerStats::new`], the counters are the process's
/// metrics; `Default` keeps them to itself (`uptimer probe`, tests).
pub struct SchedulerStats {
    pub probes: Count,
    /// Rounds not probed because the target's previous round was still running when they were
    /// due (its probe, the wait for a concurrency slot, or the writers' back-pressure).
    pub skipped_rounds: Count,
    lag_ms: Vec<AtomicU64>,
    /// The exported start lag (coarser buckets than `lag_ms`).
    start_lag: Durations,
    /// Verdicts, error kinds and phase durations of every probe.
    pub verdicts: ProbeMetrics,
    /// Events the probe reader took in.
    reader_events: Count,
}

const LAG_BUCKETS: usize = 10_001;

/// The probe reader's label in the reader metrics.
const PROBE_READER: &str = "readers.probes.http";

/// At most one line per target this often about its skipped rounds.
const SKIPPED_LOG_EVERY: Duration = Duration::from_secs(60);

impl Default for SchedulerStats {
    fn default() -> Self {
        SchedulerStats {
            probes: Count::default(),
            skipped_rounds: Count::default(),
            lag_ms: (0..LAG_BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            start_lag: Durations::default(),
            verdicts: ProbeMetrics::default(),
            reader_events: Count::default(),
        }
    }
}

impl SchedulerStats {
    /// Stats that count into the process's metrics.
    pub fn new(metrics: &Metrics) -> Self {
        SchedulerStats {
            probes: metrics.scheduler.started.clone(),
            skipped_rounds: metrics.scheduler.skipped_rounds.clone(),
            start_lag: metrics.scheduler.start_lag.clone(),
            verdicts: metrics.probes.clone(),
            reader_events: metrics.reader(PROBE_READER).events,
            ..SchedulerStats::default()
        }
    }

    fn record(&self, lag: Duration) {
        self.probes.fetch_add(1, Ordering::Relaxed);
        let ms = (lag.as_millis() as usize).min(LAG_BUCKETS - 1);
        self.lag_ms[ms].fetch_add(1, Ordering::Relaxed);
        self.start_lag.observe(lag.as_secs_f64());
    }

    /// Counts an event a reader other than the scheduler took in (a push), with its verdict.
    pub(super) fn took(&self, e: &crate::event::ProbeEvent) {
        self.verdicts.record(e, e.up == Some(true));
        self.reader_events.inc();
    }

    /// The start lag at quantile `q` (0..=1), to the millisecond.
    pub fn lag_quantile(&self, q: f64) -> Duration {
        let total = self.probes.load(Ordering::Relaxed);
        if total == 0 {
            return Duration::ZERO;
        }
        let rank = ((total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (ms, n) in self.lag_ms.iter().enumerate() {
            seen += n.load(Ordering::Relaxed);
            if seen >= rank {
                return Duration::from_millis(ms as u64);
            }
        }
        Duration::from_millis(LAG_BUCKETS as u64 - 1)
    }
}

/// Probes `targets` until `stop` is cancelled (or once each, for `Interval::Once`), sending
/// every event to `tx`. Returns when every target's task has ended; in-flight probes finish
/// (each is bounded by its timeout) so that what was probed is delivered.
pub async fn run<P: Prober>(
    prober: Arc<P>,
    targets: Vec<Target>,
    concurrency: usize,
    format: EventFormat,
    tx: mpsc::Sender<Event>,
    stop: CancellationToken,
    stats: Arc<SchedulerStats>,
) {
    let permits = Arc::new(Semaphore::new(concurrency));
    let n = targets.len().max(1) as u32;
    let start = Instant::now();
    let mut tasks = JoinSet::new();
    for (i, target) in targets.into_iter().enumerate() {
        let offset = match target.interval {
            Interval::Once => Duration::ZERO,
            Interval::Every(period) => period * (i as u32 % n) / n,
        };
        let ctx = (
            prober.clone(),
            permits.clone(),
            tx.clone(),
            stop.clone(),
            stats.clone(),
        );
        tasks.spawn(target_loop(target, start + offset, format, ctx));
    }
    drop(tx);
    while tasks.join_next().await.is_some() {}
}

type Context<P> = (
    Arc<P>,
    Arc<Semaphore>,
    mpsc::Sender<Event>,
    CancellationToken,
    Arc<SchedulerStats>,
);

async fn target_loop<P: Prober>(
    target: Target,
    first: Instant,
    format: EventFormat,
    ctx: Context<P>,
) {
    let (prober, permits, tx, stop, stats) = ctx;
    let mut due = first;
    let mut verdicts = Verdicts::default();
    let mut skips = Skips::default();
    loop {
        tokio::select! {
            biased;
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep_until(due) => {}
        }
        // Boxed, like the probe inside it, so a sleeping target's task stays a few bytes: a
        // million targets wait far more than they probe.
        let round = Box::pin(async {
            let permit = tokio::select! {
                biased;
                _ = stop.cancelled() => return None,
                p = permits.acquire() => p.ok()?,
            };
            let started = Instant::now();
            stats.record(started.saturating_duration_since(due));
            // Boxed so an idle target costs a few bytes, not the size of a probe in flight.
            let event = Box::pin(prober.probe(&target)).await;
            drop(permit);
            // Boxed: the result's slot in this task is then a pointer, not a whole event.
            Some(Box::new(event))
        });
        // A one-shot round (`uptimer probe`, PROBE_INTERVAL=-1) has no state to change: its
        // result is the output. Periodic targets tell their changes.
        let periodic = match target.interval {
            Interval::Every(period) => Some(period),
            Interval::Once => None,
        };
        let unknown = periodic.and_then(|p| Some((p, verdicts.unknown_at(p)?)));
        let outcome = match unknown {
            None => round.await,
            // A round can outlast three intervals (a timeout that long, a long wait for a
            // concurrency slot): the target is unknown then, and the log says so when it happens.
            Some((period, at)) => {
                let wait = Duration::try_from(at - OffsetDateTime::now_utc()).unwrap_or_default();
                Box::pin(async {
                    let mut round = round;
                    tokio::select! {
                        biased;
                        outcome = &mut round => outcome,
                        _ = tokio::time::sleep(wait) => {
                            if let Some(change) = verdicts.unknown(period, OffsetDateTime::now_utc()) {
                                verdicts::tell(change, &target, None);
                            }
                            round.await
                        }
                    }
                })
                .await
            }
        };
        let Some(event) = outcome else {
            return;
        };
        stats.verdicts.record(&event, event.up == Some(true));
        stats.reader_events.inc();
        if periodic.is_some()
            && let Some(change) = verdicts.observe(&event)
        {
            verdicts::tell(change, &target, Some(&event));
        }
        let event = match format {
            EventFormat::Current => Event::Probe(event),
            EventFormat::Original => Event::from(event.to_original()),
        };
        if tx.send(event).await.is_err() {
            return;
        }
        let Interval::Every(period) = target.interval else {
            return;
        };
        due += period;
        let now = Instant::now();
        if due < now {
            // Overran the period: skip the missed starts, keep the phase; count and tell.
            let behind = now - due;
            let missed = behind.as_nanos() / period.as_nanos().max(1) + 1;
            due += period * missed as u32;
            let missed = missed as u64;
            stats.skipped_rounds.fetch_add(missed, Ordering::Relaxed);
            if let Some(skipped) = skips.skipped(missed, now) {
                warn_skipped(&target, skipped);
            }
        }
    }
}

/// Rate-limits the warnings about one target's skipped rounds: the first at once, then at most
/// one per [`SKIPPED_LOG_EVERY`] with the rounds skipped since the last one.
#[derive(Debug, Default)]
struct Skips {
    untold: u64,
    last_told: Option<Instant>,
}

impl Skips {
    /// Counts `n` more skipped rounds; returns how many to tell now, if a line is due.
    fn skipped(&mut self, n: u64, now: Instant) -> Option<u64> {
        self.untold += n;
        if self
            .last_told
            .is_some_and(|t| now.saturating_duration_since(t) < SKIPPED_LOG_EVERY)
        {
            return None;
        }
        self.last_told = Some(now);
        Some(std::mem::take(&mut self.untold))
    }
}

fn warn_skipped(target: &Target, skipped: u64) {
    let interval_s = match target.interval {
        Interval::Every(p) => p.as_secs_f64(),
        Interval::Once => 0.0,
    };
    tracing::warn!(
        name = %target.name,
        url = %masked_url(&target.url),
        skipped,
        interval_s,
        timeout_s = target.timeout.as_secs_f64(),
        id = %target.id,
        "rounds skipped: the target's previous round was still running when they were due \
         (a timeout as long as the interval, or probe.concurrency too low); told at most once a minute"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_quantiles() {
        let s = SchedulerStats::default();
        for ms in 0..100 {
            s.record(Duration::from_millis(ms));
        }
        assert_eq!(s.lag_quantile(0.5), Duration::from_millis(49));
        assert_eq!(s.lag_quantile(0.99), Duration::from_millis(98));
        assert_eq!(s.lag_quantile(1.0), Duration::from_millis(99));
        s.record(Duration::from_secs(3600));
        assert_eq!(s.lag_quantile(1.0), Duration::from_millis(10_000));
    }

    /// Every target is one task that sleeps far more than it probes: what it holds while
    /// asleep is the per-target memory (a million targets are the goal). A whole event kept
    /// across an await once added 576 bytes to each.
    #[tokio::test]
    async fn a_target_task_holds_no_event_while_it_sleeps() {
        let spec = crate::config::target::TargetSpec {
            url: "http://127.0.0.1:9/".into(),
            ..Default::default()
        };
        let defaults = crate::config::target::TargetDefaults {
            interval: Interval::Every(Duration::from_secs(60)),
            timeout: Duration::from_secs(5),
            tls_verify: crate::config::TlsVerify::Yes,
        };
        let target = spec.build(&defaults).unwrap();
        let prober =
            crate::readers::probes::Probers::new(&crate::config::ProbeSettings::default()).unwrap();
        let (tx, _rx) = mpsc::channel(1);
        let ctx = (
            Arc::new(prober),
            Arc::new(Semaphore::new(1)),
            tx,
            CancellationToken::new(),
            Arc::new(SchedulerStats::default()),
        );
        let task = target_loop(target, Instant::now(), EventFormat::Current, ctx);
        let size = std::mem::size_of_val(&task);
        let event = std::mem::size_of::<crate::event::ProbeEvent>();
        assert!(
            size < 1700,
            "a target's task is {size} bytes (an event is {event})"
        );
    }

    #[test]
    fn skipped_rounds_are_told_at_once_then_at_most_once_a_minute_with_the_count_between() {
        let t0 = Instant::now();
        let s = |n: u64| t0 + Duration::from_secs(n);
        let mut k = Skips::default();
        assert_eq!(k.skipped(1, s(0)), Some(1));
        assert_eq!(k.skipped(2, s(10)), None);
        assert_eq!(k.skipped(1, s(59)), None);
        assert_eq!(k.skipped(1, s(60)), Some(4));
        assert_eq!(k.skipped(1, s(61)), None);
    }
}
