//! Schedules every target on its own period, each at its own phase of it (from its id, so start
//! times spread across the period: no thundering herd), under one global concurrency limit,
//! following the registry's changes as they come. A slow target only delays itself: a round
//! that is due while the target's previous one is still in flight is skipped, counted and
//! logged (at most once a minute per target). Each round also tells its target's verdict
//! changes (`verdicts`).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use time::OffsetDateTime;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;

use super::verdicts::{self, Verdicts};
use crate::config::alerting::LiveAlerting;
use crate::config::target::masked_url;
use crate::config::{EventFormat, Interval, Sharding, Source, Target};
use crate::event::{Event, Kind};
use crate::metrics::{Count, Durations, Metrics, Overdue, ProbeMetrics};
use crate::readers::probes::Prober;
use crate::registry::by_id::ById;
use crate::registry::phase::Schedule;
use crate::registry::{Applied, Entry, Registry, Update};
use crate::state::maintenance::Mode;

/// What the scheduler did: probes started, rounds skipped, and a start-lag histogram (how late
/// each probe started after its scheduled time, in 1 ms buckets up to 10 s; later starts land
/// in the last bucket). Made with [`SchedulerStats::new`], the counters are the process's
/// metrics; `Default` keeps them to itself (`uptimer probe`, tests).
pub struct SchedulerStats {
    pub probes: Count,
    /// Rounds not probed because the target's previous round was still running when they were
    /// due (its probe, the wait for a concurrency slot, or the writers' back-pressure).
    pub skipped_rounds: Count,
    /// Rounds not probed because a `pause` maintenance window covered the target.
    pub paused_by_maintenance: Count,
    lag_ms: Vec<AtomicU64>,
    /// The exported start lag (coarser buckets than `lag_ms`).
    start_lag: Durations,
    /// Verdicts, error kinds and phase durations of every probe.
    pub verdicts: ProbeMetrics,
    /// Events the probe reader took in.
    reader_events: Count,
    /// Rounds due that never started for another reason than a skip: passed over while every
    /// concurrency slot was busy. With `skipped_rounds` they are the missed rounds.
    pub unstarted_rounds: Count,
    /// Rounds due at the stop whose probe had not started yet: the edge of the run's window,
    /// counted apart from the missed rounds.
    pub cut_by_stop: Count,
    /// When the earliest round not started yet is due (set every turn of the loop): how long
    /// due rounds have waited to start. It grows while every concurrency slot stays taken or
    /// the loop hangs; the dead-man's switch withholds its beats then.
    pub overdue: Overdue,
    /// Set once the scheduler has taken in its first targets and scheduled every one.
    loaded: tokio::sync::watch::Sender<bool>,
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
            paused_by_maintenance: Count::default(),
            lag_ms: (0..LAG_BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            start_lag: Durations::default(),
            verdicts: ProbeMetrics::default(),
            reader_events: Count::default(),
            unstarted_rounds: Count::default(),
            cut_by_stop: Count::default(),
            overdue: Overdue::default(),
            loaded: tokio::sync::watch::Sender::new(false),
        }
    }
}

impl SchedulerStats {
    /// Stats that count into the process's metrics.
    pub fn new(metrics: &Metrics) -> Self {
        SchedulerStats {
            probes: metrics.scheduler.started.clone(),
            skipped_rounds: metrics.scheduler.skipped_rounds.clone(),
            paused_by_maintenance: metrics.scheduler.paused_rounds.clone(),
            start_lag: metrics.scheduler.start_lag.clone(),
            verdicts: metrics.probes.clone(),
            reader_events: metrics.reader(PROBE_READER).events,
            overdue: metrics.scheduler.overdue.clone(),
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

    /// Rounds due while the scheduler ran whose probe never started (a skip, or passed over
    /// while every slot was busy); not the rounds the stop cut off ([`Self::cut_by_stop`]).
    pub fn missed_rounds(&self) -> u64 {
        self.skipped_rounds.load(Ordering::Relaxed) + self.unstarted_rounds.load(Ordering::Relaxed)
    }

    /// Waits until the scheduler has scheduled every target it starts with.
    pub async fn loaded(&self) {
        let mut rx = self.loaded.subscribe();
        let _ = rx.wait_for(|l| *l).await;
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

/// The targets a scheduler starts with and, when they can change while it runs (`run` and
/// `serve` with a registry), the changes that follow.
pub struct Feed {
    pub entries: Vec<Arc<Entry>>,
    pub updates: Option<mpsc::UnboundedReceiver<Update>>,
    /// This worker's shard: targets made through the API outside it are left to the other
    /// workers (the configuration's are sharded when it is loaded).
    pub sharding: Option<Sharding>,
    /// The alerting in use: its maintenance windows in `pause` mode skip the rounds of the
    /// targets they cover while under way.
    pub maintenance: Option<LiveAlerting>,
}

impl Feed {
    /// A fixed list (`uptimer probe`, tests): every target running.
    pub fn fixed(targets: impl IntoIterator<Item = Target>) -> Feed {
        Feed {
            entries: targets
                .into_iter()
                .map(|t| {
                    Arc::new(Entry {
                        target: Arc::new(t),
                        paused: false,
                        version: 0,
                    })
                })
                .collect(),
            updates: None,
            sharding: None,
            maintenance: None,
        }
    }

    /// The registry's targets and its changes from now on; only the targets of now when the
    /// run is one round (`PROBE_INTERVAL=-1`), which ends once they are probed.
    pub fn follow(registry: &Registry, sharding: Option<Sharding>, once: bool) -> Feed {
        let (entries, updates) = registry.follow();
        Feed {
            entries,
            updates: (!once).then_some(updates),
            sharding,
            maintenance: None,
        }
    }

    /// Rounds of targets a `pause` maintenance window covers are skipped while it is under way.
    pub fn pausing_for(mut self, live: LiveAlerting) -> Feed {
        self.maintenance = Some(live);
        self
    }
}

/// Whether a `pause` maintenance window under way at `now` covers `target`.
fn paused_by_maintenance(live: &LiveAlerting, target: &Target, now: OffsetDateTime) -> bool {
    let windows = live.get().maintenance.clone();
    if windows.is_empty() {
        return false;
    }
    let at = (now.unix_timestamp_nanos() / 1000) as i64;
    windows.iter().any(|w| {
        w.mode == Mode::Pause
            && w.covers(&target.id, &target.name, &target.tags)
            && w.active_until(at).is_some()
    })
}

/// Probes the feed's targets until `stop` is cancelled, sending every event to `tx`. A target
/// with an interval starts round `r` at `r × interval + phase` (see [`Schedule`]), the first
/// after it appears; a one-shot target (`Interval::Once`) is probed at once. Changes from the
/// feed apply as they come: added targets start at their next phase, changed ones keep their
/// phase unless their interval changed, paused and removed ones stop (a probe in flight
/// finishes and is delivered). Returns once stopped, or once nothing is left to probe and
/// nothing can be added (a fixed feed, or only one-shot targets); in-flight probes finish
/// (each is bounded by its timeout) so that what was probed is delivered.
///
/// One task drives every target from a queue ordered by start time: a sleeping target costs a
/// slot and a queue entry, and the work per start does not grow with the number of targets.
pub async fn run<P: Prober>(
    prober: Arc<P>,
    feed: Feed,
    concurrency: usize,
    format: EventFormat,
    tx: mpsc::Sender<Event>,
    stop: CancellationToken,
    stats: Arc<SchedulerStats>,
) {
    let ctx = Arc::new(RoundContext {
        prober,
        permits: Semaphore::new(concurrency),
        format,
        tx,
        stop: stop.clone(),
        stats,
        maintenance: feed.maintenance,
    });
    let mut driver = Driver::new();
    driver.sharding = feed.sharding;
    driver.load(feed.entries);
    ctx.stats.loaded.send_replace(true);
    let mut updates = feed.updates;
    let mut rounds: JoinSet<Done> = JoinSet::new();
    let mut in_flight: HashMap<tokio::task::Id, (u32, u32)> = HashMap::new();
    loop {
        if driver.queue.is_empty() && rounds.is_empty() && updates.is_none() {
            break;
        }
        // At most `concurrency` rounds at once: while every slot is taken, due rounds wait in
        // the queue (a few bytes each), not as tasks (a million targets could otherwise pile
        // up a million waiting tasks on a machine that cannot keep up).
        let free = concurrency.saturating_sub(rounds.len());
        let earliest = driver.earliest_round();
        // How overdue the work is, once a turn: the queue's head is the earliest round not
        // started (a store, whatever the number of targets). While it is due and every slot is
        // taken, or while this loop hangs, the time since it was due grows.
        ctx.stats.overdue.set(earliest.map(|(at, _)| at));
        // A round that needs no slot (it is skipped) is taken when due even while every slot
        // is taken, so that only rounds waiting for a slot are overdue.
        let next = earliest
            .filter(|&(_, needs_slot)| free > 0 || !needs_slot)
            .map(|(at, _)| at);
        tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            // Starts first: rounds due now must not wait behind the bookkeeping of ended ones
            // (it is off while every slot is taken, so ended rounds are never starved).
            _ = sleep_until(next.unwrap_or_else(Instant::now)), if next.is_some() => {
                for start in driver.due(&ctx.stats, free) {
                    let ctx = ctx.clone();
                    let (slot, life) = (start.slot, start.life);
                    let handle = rounds.spawn(round(start, ctx));
                    in_flight.insert(handle.id(), (slot, life));
                }
            }
            update = recv(&mut updates), if updates.is_some() => match update {
                Some(u) => {
                    for c in u.changes.iter() {
                        match c {
                            Applied::Upsert(e) => driver.upsert(e.clone()),
                            Applied::Remove(e) => driver.remove(&e.target.id),
                        }
                    }
                }
                None => updates = None,
            },
            done = rounds.join_next_with_id(), if !rounds.is_empty() => {
                // Every round that has ended, not one per turn: with thousands ending a second,
                // taking one a turn would keep the starts waiting.
                let mut done = done;
                while let Some(d) = done {
                    finish(&mut driver, &mut in_flight, d);
                    done = rounds.try_join_next_with_id();
                }
            }
        }
    }
    // What is in flight finishes and is delivered; rounds still waiting for a slot see the stop.
    ctx.stats.overdue.set(None);
    let overdue = driver.overdue();
    ctx.stats.cut_by_stop.fetch_add(overdue, Ordering::Relaxed);
    while rounds.join_next().await.is_some() {}
}

/// Hands a round's state back to its target (a round that panicked: its target starts afresh
/// at its next round).
fn finish(
    driver: &mut Driver,
    in_flight: &mut HashMap<tokio::task::Id, (u32, u32)>,
    done: Result<(tokio::task::Id, Done), tokio::task::JoinError>,
) {
    match done {
        Ok((id, done)) => {
            in_flight.remove(&id);
            driver.finished(done);
        }
        Err(e) => {
            if let Some((slot, life)) = in_flight.remove(&e.id()) {
                driver.finished(Done {
                    slot,
                    life,
                    run: Box::default(),
                });
            }
            tracing::error!(error = %e, "a probe's task failed; its target goes on");
        }
    }
}

async fn recv(updates: &mut Option<mpsc::UnboundedReceiver<Update>>) -> Option<Update> {
    match updates {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// What every round shares.
struct RoundContext<P> {
    prober: Arc<P>,
    permits: Semaphore,
    format: EventFormat,
    tx: mpsc::Sender<Event>,
    stop: CancellationToken,
    stats: Arc<SchedulerStats>,
    maintenance: Option<LiveAlerting>,
}

/// What a target carries from one round to the next: its verdicts, for the log.
#[derive(Debug, Default)]
struct RunState {
    verdicts: Verdicts,
}

/// A round to start now.
struct Start {
    slot: u32,
    life: u32,
    target: Arc<Target>,
    run: Box<RunState>,
    /// When it was due.
    due: Instant,
    /// The target's round it was due for, stamped on its event (`None` for a one-shot target).
    round: Option<i64>,
}

/// A round that ended, handing its target's state back.
struct Done {
    slot: u32,
    life: u32,
    run: Box<RunState>,
}

/// One target as the driver holds it.
struct Slot {
    target: Arc<Target>,
    schedule: Option<Schedule>,
    /// The start its queue entry is for; `None` while paused or after a one-shot round.
    next: Option<u64>,
    /// `None` while a round is in flight.
    run: Option<Box<RunState>>,
    /// Made at the first skipped round (most targets never have one).
    skips: Option<Box<Skips>>,
}

/// The targets, their slots and the queue of starts. Times are milliseconds since the Unix
/// epoch, read from tokio's clock through an anchor taken at the start (so tests can pause
/// time).
struct Driver {
    anchor: (Instant, u64),
    slots: Vec<Option<Slot>>,
    /// Bumped each time a slot is emptied: a round or queue entry of an earlier life is stale.
    lives: Vec<u32>,
    free: Vec<u32>,
    by_id: HashSet<ById<(Arc<Target>, u32)>, foldhash::fast::RandomState>,
    /// (start, slot, life), earliest first; entries that no longer match their slot are
    /// skipped when they come up.
    queue: BinaryHeap<Reverse<(u64, u32, u32)>>,
    sharding: Option<Sharding>,
    /// While the first targets are taken in: the slots to schedule once all are in.
    pending: Option<Vec<u32>>,
}

impl Driver {
    fn new() -> Driver {
        let epoch_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        Driver {
            anchor: (Instant::now(), epoch_ms),
            slots: Vec::new(),
            lives: Vec::new(),
            free: Vec::new(),
            by_id: HashSet::default(),
            queue: BinaryHeap::new(),
            sharding: None,
            pending: None,
        }
    }

    fn now_ms(&self) -> u64 {
        self.anchor.1
            + Instant::now()
                .saturating_duration_since(self.anchor.0)
                .as_millis() as u64
    }

    fn instant(&self, ms: u64) -> Instant {
        self.anchor.0 + Duration::from_millis(ms.saturating_sub(self.anchor.1))
    }

    /// The earliest round not started yet: when it is due, and whether it needs a concurrency
    /// slot (a round of a target whose previous round is still in flight is skipped, without
    /// one). Drops the stale entries at the head of the queue first (each entry is dropped
    /// once, so this is O(1) amortised per turn): they stand for rounds that will never start.
    fn earliest_round(&mut self) -> Option<(Instant, bool)> {
        while let Some(&Reverse((at, slot, life))) = self.queue.peek() {
            if let Some(s) = self.slots[slot as usize].as_ref()
                && self.is_current(at, slot, life)
            {
                return Some((self.instant(at), s.run.is_some()));
            }
            self.queue.pop();
        }
        None
    }

    /// Whether a queue entry is its target's next round (not one of a removed, paused or
    /// rescheduled target).
    fn is_current(&self, at: u64, slot: u32, life: u32) -> bool {
        self.lives[slot as usize] == life
            && self.slots[slot as usize]
                .as_ref()
                .is_some_and(|s| s.next == Some(at))
    }

    /// Takes the targets the scheduler starts with. Their first rounds are computed once all
    /// are in: a million targets take a second or two to take in, and a round due meanwhile
    /// would start late.
    fn load(&mut self, entries: Vec<Arc<Entry>>) {
        self.pending = Some(Vec::with_capacity(entries.len()));
        self.by_id.reserve(entries.len());
        self.slots.reserve(entries.len());
        self.lives.reserve(entries.len());
        self.queue.reserve(entries.len());
        for e in entries {
            self.upsert(e);
        }
        for slot in self.pending.take().unwrap_or_default() {
            self.schedule(slot);
        }
    }

    fn schedule(&mut self, slot: u32) {
        if let Some(pending) = &mut self.pending {
            pending.push(slot);
            return;
        }
        let now = self.now_ms();
        let life = self.lives[slot as usize];
        let Some(s) = self.slots[slot as usize].as_mut() else {
            return;
        };
        let next = match s.schedule {
            Some(schedule) => schedule.next_after(now).1,
            None => now,
        };
        s.next = Some(next);
        self.queue.push(Reverse((next, slot, life)));
    }

    /// Adds or replaces a target (or pauses or resumes it). Push targets are pushed to, never
    /// probed, and API targets of other shards are other workers': they are left out.
    fn upsert(&mut self, e: Arc<Entry>) {
        let elsewhere = self
            .sharding
            .is_some_and(|s| e.target.source == Source::Api && !s.takes(&e.target.id));
        if e.target.kind == Kind::Push || elsewhere {
            self.remove(&e.target.id);
            return;
        }
        let schedule = match e.target.interval {
            Interval::Every(period) => Some(Schedule::new(&e.target.id, period)),
            Interval::Once => None,
        };
        let slot = match self.by_id.get(e.target.id.as_str()).map(|k| k.0.1) {
            Some(slot) => {
                // The index keeps the target it points at current.
                self.by_id.replace(ById((e.target.clone(), slot)));
                let s = self.slots[slot as usize].as_mut().expect("an indexed slot");
                let moved = s.schedule != schedule || e.paused != s.next.is_none();
                s.target = e.target.clone();
                s.schedule = schedule;
                if e.paused {
                    s.next = None;
                    return;
                }
                if !moved {
                    return;
                }
                slot
            }
            None => {
                let slot = self.free.pop().unwrap_or_else(|| {
                    self.slots.push(None);
                    self.lives.push(0);
                    (self.slots.len() - 1) as u32
                });
                self.slots[slot as usize] = Some(Slot {
                    target: e.target.clone(),
                    schedule,
                    next: None,
                    run: Some(Box::default()),
                    skips: None,
                });
                self.by_id.insert(ById((e.target.clone(), slot)));
                if e.paused {
                    return;
                }
                slot
            }
        };
        self.schedule(slot);
    }

    fn remove(&mut self, id: &str) {
        if let Some(ById((_, slot))) = self.by_id.take(id) {
            self.slots[slot as usize] = None;
            self.lives[slot as usize] = self.lives[slot as usize].wrapping_add(1);
            self.free.push(slot);
        }
    }

    /// Takes at most `max` starts that are due from the queue: rounds to start, and rounds
    /// skipped because the target's previous round is still in flight (counted and told; they
    /// need no slot, so they are taken even with `max` reached, up to the first round that
    /// would start). A target whose queued round waited past its next one (every concurrency
    /// slot was busy) starts its latest round; the ones before it are counted as missed.
    fn due(&mut self, stats: &SchedulerStats, max: usize) -> Vec<Start> {
        let (now, anchor) = (self.now_ms(), self.anchor);
        let mut starts = Vec::new();
        while let Some(&Reverse((queued, slot, life))) = self.queue.peek() {
            if queued > now {
                break;
            }
            if !self.is_current(queued, slot, life) {
                self.queue.pop();
                continue;
            }
            let Some(s) = self.slots[slot as usize].as_mut() else {
                self.queue.pop();
                continue;
            };
            if s.run.is_some() && starts.len() >= max {
                break;
            }
            self.queue.pop();
            let at = match s.schedule {
                Some(sc) => {
                    let behind = sc.round_at(now) - sc.round_at(queued);
                    if behind > 0 {
                        stats
                            .unstarted_rounds
                            .fetch_add(behind as u64, Ordering::Relaxed);
                    }
                    sc.start(sc.round_at(now)).max(queued)
                }
                None => queued,
            };
            let due = anchor.0 + Duration::from_millis(at.saturating_sub(anchor.1));
            // The round it is due for, whenever its probe gets a slot and ends.
            let round = s.schedule.map(|sc| sc.round_at(at));
            s.next = s.schedule.map(|sc| sc.start(sc.round_at(at) + 1));
            if let Some(next) = s.next {
                self.queue.push(Reverse((next, slot, life)));
            }
            match s.run.take() {
                Some(run) => starts.push(Start {
                    slot,
                    life,
                    target: s.target.clone(),
                    run,
                    due,
                    round,
                }),
                None => {
                    stats.skipped_rounds.fetch_add(1, Ordering::Relaxed);
                    if let Some(n) = s.skips.get_or_insert_default().skipped(1, Instant::now()) {
                        warn_skipped(&s.target, n);
                    }
                }
            }
        }
        starts
    }

    /// Rounds due by now that the queue has not given out (at a stop: they will not start).
    /// A target's queue entry is its next round; the rounds after it that are due too count.
    fn overdue(&self) -> u64 {
        let now = self.now_ms();
        self.queue
            .iter()
            .filter_map(|&Reverse((at, slot, life))| {
                let s = self.slots[slot as usize].as_ref()?;
                (at <= now && self.is_current(at, slot, life)).then(|| match s.schedule {
                    Some(sc) => (sc.round_at(now) - sc.round_at(at) + 1).max(1) as u64,
                    None => 1,
                })
            })
            .sum()
    }

    fn finished(&mut self, done: Done) {
        if self.lives[done.slot as usize] != done.life {
            return;
        }
        if let Some(s) = self.slots[done.slot as usize].as_mut() {
            s.run = Some(done.run);
        }
    }
}

/// One round of one target: wait for a concurrency slot, probe, count, tell a verdict change,
/// send the event; hand the target's state back.
async fn round<P: Prober>(start: Start, ctx: Arc<RoundContext<P>>) -> Done {
    let Start {
        slot,
        life,
        target,
        mut run,
        due,
        round: scheduled,
    } = start;
    let RoundContext {
        prober,
        permits,
        format,
        tx,
        stop,
        stats,
        maintenance,
    } = &*ctx;
    // Under a `pause` maintenance window the round is not probed (nor counted as missed).
    if let Some(live) = maintenance
        && paused_by_maintenance(live, &target, OffsetDateTime::now_utc())
    {
        stats.paused_by_maintenance.fetch_add(1, Ordering::Relaxed);
        return Done { slot, life, run };
    }
    let verdicts = &mut run.verdicts;
    let probe = async {
        let permit = tokio::select! {
            biased;
            _ = stop.cancelled() => {
                stats.cut_by_stop.fetch_add(1, Ordering::Relaxed);
                return None;
            }
            p = permits.acquire() => p.ok()?,
        };
        let started = Instant::now();
        stats.record(started.saturating_duration_since(due));
        // Boxed so that a round waiting for a slot stays small.
        let event = Box::pin(prober.probe(&target)).await;
        drop(permit);
        Some(Box::new(event))
    };
    // A one-shot round (`uptimer probe`, PROBE_INTERVAL=-1) has no state to change: its
    // result is the output. Periodic targets tell their changes.
    let periodic = match target.interval {
        Interval::Every(period) => Some(period),
        Interval::Once => None,
    };
    let unknown = periodic.and_then(|p| Some((p, verdicts.unknown_at(p)?)));
    let outcome = match unknown {
        None => probe.await,
        // A round can outlast three intervals (a timeout that long, a long wait for a
        // concurrency slot): the target is unknown then, and the log says so when it happens.
        Some((period, at)) => {
            let wait = Duration::try_from(at - OffsetDateTime::now_utc()).unwrap_or_default();
            let mut probe = std::pin::pin!(probe);
            tokio::select! {
                biased;
                outcome = &mut probe => outcome,
                _ = tokio::time::sleep(wait) => {
                    if let Some(change) = verdicts.unknown(period, OffsetDateTime::now_utc()) {
                        verdicts::tell(change, &target, None);
                    }
                    probe.await
                }
            }
        }
    };
    if let Some(mut event) = outcome {
        // Every kind's event gets its round here, where rounds are known (pushes have none).
        event.round = scheduled;
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
        // The writers have stopped only when the pipeline is going down: nothing to do then.
        let _ = tx.send(event).await;
    }
    Done { slot, life, run }
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

#[cfg(test)]
mod driver_tests;
