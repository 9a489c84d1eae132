//! The dead-man's switch (`heartbeat:`): every interval, while the pipeline is healthy, the
//! process calls a URL (healthchecks.io style), so that a service outside it notices a monitor
//! that died or stalled: the beats stop. Health is judged by [`judge`] from counters the
//! process keeps anyway (`crate::metrics`); a beat that fails is logged and counted, never
//! fatal.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use crate::config::HeartbeatSettings;
use crate::config::heartbeat::HeartbeatMethod;
use crate::metrics::{FlowCounts, Metrics};

/// How often the counters are sampled (the interval is at least this): the stall rule looks
/// back `interval + batch age`, to within this.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);
/// At most one line this often while the URL cannot be reached.
const FAILURE_LOG_EVERY: Duration = Duration::from_secs(60);
/// How much later than one interval a round may start before the probes are late: a start a
/// second or two late is no fault (the first rounds after a million targets are taken in, a
/// burst of due rounds on a busy machine), and a 1 s heartbeat must not flap with it.
pub const PROBES_LATE_SLACK: Duration = Duration::from_secs(2);

/// What the process had done at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub flow: FlowCounts,
    /// The components `/readyz` waits for that are not ready.
    pub not_ready: Vec<String>,
    /// The pipeline stopped (a writer failed for good).
    pub stopped: bool,
    /// How long the oldest round that is due has waited to start (zero when none waits, and in
    /// a process without a scheduler).
    pub probes_overdue: Duration,
}

impl Snapshot {
    pub fn of(metrics: &Metrics) -> Snapshot {
        Snapshot {
            flow: metrics.flow.counts(),
            not_ready: metrics.readiness.not_ready(),
            stopped: metrics.readiness.is_stopped(),
            probes_overdue: metrics.scheduler.overdue.get(),
        }
    }
}

/// Why a beat is withheld.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    /// The pipeline has stopped.
    Stopped,
    /// These components are not ready (a writer away from its destination, a consumer out of
    /// its group).
    NotReady(Vec<String>),
    /// `writer` has not made durable `owed` events that came in at least `waited` ago.
    Stalled {
        writer: String,
        owed: u64,
        waited: Duration,
    },
    /// A round due `overdue` ago has not started: the scheduler's loop hangs, or every
    /// concurrency slot is held by probes that do not end.
    ProbesLate { overdue: Duration },
}

impl Cause {
    /// Whether `other` is the same trouble (the counts aside): it is logged once per change.
    fn same(&self, other: &Cause) -> bool {
        match (self, other) {
            (Cause::Stalled { writer: a, .. }, Cause::Stalled { writer: b, .. }) => a == b,
            (Cause::ProbesLate { .. }, Cause::ProbesLate { .. }) => true,
            (a, b) => a == b,
        }
    }
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cause::Stopped => f.write_str("the pipeline has stopped"),
            Cause::NotReady(names) => write!(f, "not ready: {}", names.join(", ")),
            Cause::Stalled {
                writer,
                owed,
                waited,
            } => write!(
                f,
                "writer not acknowledging: {writer} has not made durable {owed} events that came \
                 in {:.1}s ago or earlier",
                waited.as_secs_f64()
            ),
            Cause::ProbesLate { overdue } => write!(
                f,
                "probes not flowing: a round due {:.1}s ago has not started",
                overdue.as_secs_f64()
            ),
        }
    }
}

/// Whether to beat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    Healthy,
    Withheld(Cause),
}

/// The rule. Healthy when the pipeline runs, every component `/readyz` waits for is ready,
/// every writer has made durable every event that had come in by `earlier` (a snapshot taken
/// the given time ago, at least one interval plus the slowest writer's batch age): no event
/// waits longer than that, and no round has been due longer than `late_after` (one interval
/// plus [`PROBES_LATE_SLACK`]) without starting. A dead letter counts as durable for every
/// writer (the message it stands for never reaches them). With `earlier` unknown (just
/// started), the stall rule waits.
///
/// Idle is healthy: when no probe is due (a target interval longer than the heartbeat's),
/// nothing comes in, nothing is owed and nothing is late. A writer that stalls owes the events
/// that came in before it stalled from the first beat whose `earlier` is past them, and keeps
/// owing them. A scheduler that stops starting rounds (its loop hangs, or probes that never
/// end hold every concurrency slot) makes nothing that could be owed: the rounds it leaves
/// waiting are what tells. Its stall is named after a writer's, which holds the rounds up too
/// (they wait to hand their events over).
pub fn judge(
    now: &Snapshot,
    earlier: Option<(&Snapshot, Duration)>,
    late_after: Duration,
) -> Health {
    if now.stopped {
        return Health::Withheld(Cause::Stopped);
    }
    if !now.not_ready.is_empty() {
        return Health::Withheld(Cause::NotReady(now.not_ready.clone()));
    }
    if let Some((then, waited)) = earlier {
        for (writer, acked) in &now.flow.acked {
            let durable = acked + now.flow.dead_letters;
            if durable < then.flow.events_in {
                return Health::Withheld(Cause::Stalled {
                    writer: writer.clone(),
                    owed: then.flow.events_in - durable,
                    waited,
                });
            }
        }
    }
    if now.probes_overdue > late_after {
        return Health::Withheld(Cause::ProbesLate {
            overdue: now.probes_overdue,
        });
    }
    Health::Healthy
}

/// Snapshots of the last `look_back` and the newest one older: the front is what [`judge`]
/// compares with.
#[derive(Debug)]
struct History {
    look_back: Duration,
    samples: VecDeque<(Instant, Snapshot)>,
}

impl History {
    fn new(look_back: Duration) -> History {
        History {
            look_back,
            samples: VecDeque::new(),
        }
    }

    fn push(&mut self, at: Instant, s: Snapshot) {
        self.samples.push_back((at, s));
        self.prune(at);
    }

    /// Drops the snapshots older than the newest one at least `look_back` before `at`.
    fn prune(&mut self, at: Instant) {
        while self
            .samples
            .get(1)
            .is_some_and(|(t, _)| at.saturating_duration_since(*t) >= self.look_back)
        {
            self.samples.pop_front();
        }
    }

    /// The newest snapshot taken at least `look_back` before `at`, and how long before.
    fn earlier(&mut self, at: Instant) -> Option<(&Snapshot, Duration)> {
        self.prune(at);
        let (t, s) = self.samples.front()?;
        let age = at.saturating_duration_since(*t);
        (age >= self.look_back).then_some((s, age))
    }
}

/// Starts the dead-man's switch until `stop`. `batch_age` is the longest a writer lets a
/// batch fill ([`crate::writers::Batching::max_age`]): an event may wait that long before it is
/// even written, and it is not a stall.
pub fn spawn(
    settings: HeartbeatSettings,
    metrics: Arc<Metrics>,
    batch_age: Duration,
    stop: CancellationToken,
) -> Result<tokio::task::JoinHandle<()>, String> {
    let client = super::send::client()?;
    Ok(tokio::spawn(run(
        settings, client, metrics, batch_age, stop,
    )))
}

async fn run(
    s: HeartbeatSettings,
    client: reqwest::Client,
    metrics: Arc<Metrics>,
    batch_age: Duration,
    stop: CancellationToken,
) {
    let look_back = s.interval + batch_age;
    let late_after = s.interval + PROBES_LATE_SLACK;
    let mut history = History::new(look_back);
    let mut samples = tokio::time::interval(SAMPLE_EVERY);
    samples.set_missed_tick_behavior(MissedTickBehavior::Skip);
    // The first beat at once: the process is up.
    let mut beats = tokio::time::interval(s.interval);
    beats.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let m = &metrics.heartbeat;
    let mut withheld: Option<Cause> = None;
    let mut failures = Failures::default();
    tracing::info!(
        url = %s.url,
        interval_s = s.interval.as_secs_f64(),
        look_back_s = look_back.as_secs_f64(),
        "heartbeat: calling the URL every interval while the pipeline is healthy"
    );
    loop {
        tokio::select! {
            biased;
            _ = stop.cancelled() => return,
            _ = beats.tick() => {}
            at = samples.tick() => {
                history.push(at, Snapshot::of(&metrics));
                continue;
            }
        }
        let at = Instant::now();
        let now = Snapshot::of(&metrics);
        let health = judge(&now, history.earlier(at), late_after);
        history.push(at, now);
        if let Health::Withheld(cause) = health {
            m.withheld.inc();
            if !withheld.as_ref().is_some_and(|c| c.same(&cause)) {
                tracing::warn!(url = %s.url, "heartbeat withheld: {cause}");
            }
            withheld = Some(cause);
            continue;
        }
        if withheld.take().is_some() {
            tracing::info!(url = %s.url, "heartbeat resumed: the pipeline is healthy again");
        }
        let outcome = tokio::select! {
            _ = stop.cancelled() => return,
            o = beat(&client, &s) => o,
        };
        match outcome {
            Ok(()) => {
                m.sent.inc();
                failures.reached(&s);
            }
            Err(error) => {
                m.failed.inc();
                failures.failed(&s, &error);
            }
        }
    }
}

/// One call of the URL: Ok on a 2xx. The error never holds the URL (its path is a secret).
async fn beat(client: &reqwest::Client, s: &HeartbeatSettings) -> Result<(), String> {
    let url = s.url.expose().clone();
    let request = match s.method {
        HeartbeatMethod::Get => client.get(url),
        // An empty body, with its length said: some servers refuse a POST without one (411),
        // and the client leaves it out for an empty body.
        HeartbeatMethod::Post => client
            .post(url)
            .header(reqwest::header::CONTENT_LENGTH, "0"),
    };
    let answer = request
        .timeout(s.timeout)
        .send()
        .await
        .map_err(|e| crate::readers::probes::net::describe(&e.without_url()))?;
    let status = answer.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("answered {status}"))
    }
}

/// Failed beats in a row, told at once and then at most once per [`FAILURE_LOG_EVERY`].
#[derive(Debug, Default)]
struct Failures {
    in_a_row: u64,
    last_told: Option<Instant>,
}

impl Failures {
    fn failed(&mut self, s: &HeartbeatSettings, error: &str) {
        self.in_a_row += 1;
        if self
            .last_told
            .is_some_and(|t| t.elapsed() < FAILURE_LOG_EVERY)
        {
            return;
        }
        self.last_told = Some(Instant::now());
        tracing::warn!(
            url = %s.url,
            error,
            failed_in_a_row = self.in_a_row,
            "heartbeat failed: the URL was not reached (tried again at the next beat)"
        );
    }

    fn reached(&mut self, s: &HeartbeatSettings) {
        if self.in_a_row > 0 {
            tracing::info!(url = %s.url, failed_before = self.in_a_row, "heartbeat reached the URL again");
        }
        *self = Failures::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(events_in: u64, acked: &[(&str, u64)]) -> Snapshot {
        Snapshot {
            flow: FlowCounts {
                events_in,
                dead_letters: 0,
                acked: acked.iter().map(|(n, a)| ((*n).to_owned(), *a)).collect(),
            },
            ..Snapshot::default()
        }
    }

    const AGO: Duration = Duration::from_secs(2);
    /// A 1 s heartbeat's `late_after`.
    const LATE: Duration = Duration::from_secs(3);

    #[test]
    fn a_writer_that_keeps_up_is_healthy_even_with_events_in_its_batch() {
        // 100 events had come in a while ago; 150 now, of which 120 are durable.
        let then = snapshot(100, &[("writers.stdout", 90)]);
        let now = snapshot(150, &[("writers.stdout", 120)]);
        assert_eq!(judge(&now, Some((&then, AGO)), LATE), Health::Healthy);
    }

    #[test]
    fn idle_is_healthy_when_nothing_is_owed() {
        // No probe due (a target interval longer than the heartbeat's): nothing moves.
        let s = snapshot(40, &[("writers.sqlite", 40)]);
        assert_eq!(judge(&s, Some((&s, AGO)), LATE), Health::Healthy);
        let start = snapshot(0, &[("writers.sqlite", 0)]);
        assert_eq!(judge(&start, None, LATE), Health::Healthy);
    }

    #[test]
    fn a_stalled_writer_withholds_and_names_itself_and_what_it_owes() {
        let then = snapshot(100, &[("writers.sqlite", 100), ("writers.stdout", 95)]);
        // The channel fills and the probers wait: nothing more comes in, nothing goes out.
        let now = snapshot(100, &[("writers.sqlite", 100), ("writers.stdout", 95)]);
        let h = judge(&now, Some((&then, AGO)), LATE);
        let Health::Withheld(cause) = &h else {
            panic!("{h:?}")
        };
        assert_eq!(
            cause,
            &Cause::Stalled {
                writer: "writers.stdout".into(),
                owed: 5,
                waited: AGO
            }
        );
        assert!(
            cause.to_string().starts_with(
                "writer not acknowledging: writers.stdout has not made durable 5 events"
            ),
            "{cause}"
        );
        // Without an earlier snapshot (just started) nothing can be owed for long yet.
        assert_eq!(judge(&now, None, LATE), Health::Healthy);
    }

    #[test]
    fn rounds_due_longer_than_an_interval_and_the_slack_withhold_and_idle_does_not() {
        let caught_up = snapshot(40, &[("writers.sqlite", 40)]);
        let overdue = |d: Duration| Snapshot {
            probes_overdue: d,
            ..caught_up.clone()
        };
        // Idle (nothing due, or no scheduler): nothing is late.
        assert_eq!(
            judge(&overdue(Duration::ZERO), Some((&caught_up, AGO)), LATE),
            Health::Healthy
        );
        // Just due, or late by less than the slack allows: a busy moment, not a fault.
        for d in [Duration::from_millis(1), LATE] {
            assert_eq!(
                judge(&overdue(d), Some((&caught_up, AGO)), LATE),
                Health::Healthy,
                "{d:?}"
            );
        }
        // Nothing owed, nothing coming in, but a round due 42 s ago has not started.
        let late = Duration::from_secs(42);
        let h = judge(&overdue(late), Some((&caught_up, AGO)), LATE);
        assert_eq!(h, Health::Withheld(Cause::ProbesLate { overdue: late }));
        let Health::Withheld(cause) = h else {
            unreachable!()
        };
        assert_eq!(
            cause.to_string(),
            "probes not flowing: a round due 42.0s ago has not started"
        );
        assert!(cause.same(&Cause::ProbesLate { overdue: LATE * 9 }));
        // Just started: late is late.
        assert_eq!(
            judge(&overdue(late), None, LATE),
            Health::Withheld(Cause::ProbesLate { overdue: late })
        );
        // A writer that stalls holds the rounds up too: it is named, not them.
        let stalled = Snapshot {
            probes_overdue: late,
            ..snapshot(40, &[("writers.sqlite", 30)])
        };
        let h = judge(&stalled, Some((&caught_up, AGO)), LATE);
        assert!(
            matches!(h, Health::Withheld(Cause::Stalled { .. })),
            "{h:?}"
        );
    }

    #[test]
    fn dead_letters_count_as_durable() {
        let then = snapshot(10, &[("writers.postgres", 7)]);
        let mut now = snapshot(10, &[("writers.postgres", 7)]);
        now.flow.dead_letters = 3;
        assert_eq!(judge(&now, Some((&then, AGO)), LATE), Health::Healthy);
    }

    #[test]
    fn a_stopped_pipeline_or_a_component_not_ready_withholds() {
        let mut s = snapshot(5, &[("writers.postgres", 5)]);
        s.not_ready = vec!["writers.postgres".into()];
        assert_eq!(
            judge(&s, None, LATE),
            Health::Withheld(Cause::NotReady(vec!["writers.postgres".into()]))
        );
        s.stopped = true;
        assert_eq!(judge(&s, None, LATE), Health::Withheld(Cause::Stopped));
    }

    #[test]
    fn causes_are_the_same_trouble_whatever_the_counts() {
        let a = Cause::Stalled {
            writer: "w".into(),
            owed: 1,
            waited: AGO,
        };
        let b = Cause::Stalled {
            writer: "w".into(),
            owed: 9,
            waited: AGO * 2,
        };
        assert!(a.same(&b));
        assert!(!a.same(&Cause::Stopped));
        assert!(!Cause::NotReady(vec!["a".into()]).same(&Cause::NotReady(vec!["b".into()])));
    }

    #[test]
    fn history_compares_with_the_newest_snapshot_at_least_the_look_back_old() {
        let t0 = Instant::now();
        let mut h = History::new(Duration::from_millis(2500));
        for i in 0..10u64 {
            h.push(t0 + Duration::from_secs(i), snapshot(i, &[]));
        }
        let at = t0 + Duration::from_secs(10);
        // 7 s and 8 s are 3 s and 2 s before 10 s: the 7 s one, 3 s old.
        let (s, age) = h.earlier(at).unwrap();
        assert_eq!((s.flow.events_in, age), (7, Duration::from_secs(3)));
        assert!(h.samples.len() <= 4, "older ones are dropped");
        let mut young = History::new(Duration::from_secs(5));
        assert!(young.earlier(at).is_none());
        young.push(t0, snapshot(1, &[]));
        assert!(young.earlier(t0 + Duration::from_secs(1)).is_none());
    }
}
