//! The scheduler's rounds, asserted on the scheduled start times (milliseconds since the epoch
//! as the driver computes them), with tokio's clock paused and moved by hand.

use std::sync::Mutex;

use super::*;
use crate::config::target::{TargetDefaults, TargetSpec};
use crate::config::{Target, TlsVerify};
use crate::event::ProbeEvent;

/// An epoch time to anchor the driver at: rounds are then exact numbers.
const T0: u64 = 1_800_000_000_000;

fn target(name: &str, interval_s: u64) -> Target {
    TargetSpec {
        name: Some(name.into()),
        url: format!("http://127.0.0.1:9/{name}"),
        ..Default::default()
    }
    .build(&TargetDefaults {
        interval: Interval::Every(Duration::from_secs(interval_s)),
        timeout: Duration::from_secs(1),
        tls_verify: TlsVerify::Yes,
    })
    .unwrap()
}

fn entry(t: &Target, paused: bool) -> Arc<Entry> {
    Arc::new(Entry {
        target: Arc::new(t.clone()),
        paused,
        version: 1,
    })
}

fn driver() -> Driver {
    let mut d = Driver::new();
    d.anchor = (Instant::now(), T0);
    d
}

/// Moves the clock from start to start until `until` (epoch ms), finishing every round at once;
/// returns (name, start, round) of each round started.
async fn run_until(d: &mut Driver, until: u64) -> Vec<(String, u64, Option<i64>)> {
    let stats = SchedulerStats::default();
    let mut started = Vec::new();
    while let Some(&Reverse((at, _, _))) = d.queue.peek() {
        if at > until {
            break;
        }
        tokio::time::advance(d.instant(at).saturating_duration_since(Instant::now())).await;
        for s in d.due(&stats, usize::MAX) {
            started.push((s.target.name.clone(), d.now_ms(), s.round));
            d.finished(Done {
                slot: s.slot,
                life: s.life,
                run: s.run,
            });
        }
    }
    tokio::time::advance(d.instant(until).saturating_duration_since(Instant::now())).await;
    started
}

fn starts_of(all: &[(String, u64, Option<i64>)], name: &str) -> Vec<u64> {
    all.iter()
        .filter(|(n, ..)| n == name)
        .map(|(_, at, _)| *at)
        .collect()
}

fn expected(t: &Target, from: u64, until: u64) -> Vec<u64> {
    let Interval::Every(p) = t.interval else {
        unreachable!()
    };
    let s = Schedule::new(&t.id, p);
    let (mut round, _) = s.next_after(from);
    let mut out = Vec::new();
    while s.start(round) <= until {
        out.push(s.start(round));
        round += 1;
    }
    out
}

#[tokio::test(start_paused = true)]
async fn each_target_starts_at_its_phase_and_changes_to_others_move_nothing() {
    let (a, b, c) = (target("a", 10), target("b", 10), target("c", 7));
    let mut d = driver();
    d.upsert(entry(&a, false));
    d.upsert(entry(&b, false));
    let first = run_until(&mut d, T0 + 30_000).await;
    assert_eq!(starts_of(&first, "a"), expected(&a, T0, T0 + 30_000));
    assert_eq!(starts_of(&first, "b"), expected(&b, T0, T0 + 30_000));
    assert_eq!(starts_of(&first, "a").len(), 3);

    // c is added and b removed at T0 + 30 s: a's rounds do not move, c starts at its first
    // phase after it appeared.
    d.upsert(entry(&c, false));
    d.remove(&b.id);
    let second = run_until(&mut d, T0 + 60_000).await;
    assert_eq!(
        starts_of(&second, "a"),
        expected(&a, T0 + 30_000, T0 + 60_000)
    );
    assert_eq!(
        starts_of(&second, "c"),
        expected(&c, T0 + 30_000, T0 + 60_000)
    );
    assert!(starts_of(&second, "b").is_empty());
    // Every process computes the same: round r of a starts at r × 10 s + phase.
    let phase = Schedule::new(&a.id, Duration::from_secs(10)).phase_ms;
    assert!(starts_of(&second, "a").iter().all(|t| t % 10_000 == phase));
}

#[tokio::test(start_paused = true)]
async fn a_changed_interval_moves_the_phase_and_any_other_change_keeps_it() {
    let a = target("a", 10);
    let mut d = driver();
    d.upsert(entry(&a, false));
    run_until(&mut d, T0 + 25_000).await;
    let mut longer_timeout = a.clone();
    longer_timeout.profile_mut().timeout = Duration::from_secs(3);
    d.upsert(entry(&longer_timeout, false));
    let kept = run_until(&mut d, T0 + 50_000).await;
    assert_eq!(
        starts_of(&kept, "a"),
        expected(&a, T0 + 25_000, T0 + 50_000)
    );

    let mut slower = a.clone();
    slower.profile_mut().interval = Interval::Every(Duration::from_secs(30));
    d.upsert(entry(&slower, false));
    let moved = run_until(&mut d, T0 + 150_000).await;
    assert_eq!(
        starts_of(&moved, "a"),
        expected(&slower, T0 + 50_000, T0 + 150_000)
    );
}

#[tokio::test(start_paused = true)]
async fn a_paused_target_is_not_probed_and_resumes_at_its_next_phase() {
    let a = target("a", 10);
    let mut d = driver();
    d.upsert(entry(&a, true));
    assert!(run_until(&mut d, T0 + 40_000).await.is_empty());
    d.upsert(entry(&a, false));
    let resumed = run_until(&mut d, T0 + 70_000).await;
    assert_eq!(
        starts_of(&resumed, "a"),
        expected(&a, T0 + 40_000, T0 + 70_000)
    );
    // Paused again, then resumed before its queued start came: one start per round, never two.
    d.upsert(entry(&a, true));
    d.upsert(entry(&a, false));
    let again = run_until(&mut d, T0 + 100_000).await;
    assert_eq!(
        starts_of(&again, "a"),
        expected(&a, T0 + 70_000, T0 + 100_000)
    );
}

#[tokio::test(start_paused = true)]
async fn a_round_due_while_the_last_is_in_flight_is_skipped_and_counted() {
    let a = target("a", 10);
    let mut d = driver();
    d.upsert(entry(&a, false));
    let stats = SchedulerStats::default();
    let first = d.queue.peek().unwrap().0.0;
    tokio::time::advance(d.instant(first) - Instant::now()).await;
    let mut starts = d.due(&stats, usize::MAX);
    assert_eq!(starts.len(), 1);
    for _ in 0..3 {
        let next = d.queue.peek().unwrap().0.0;
        tokio::time::advance(d.instant(next) - Instant::now()).await;
        assert!(d.due(&stats, usize::MAX).is_empty());
    }
    assert_eq!(stats.skipped_rounds.load(Ordering::Relaxed), 3);
    let s = starts.pop().unwrap();
    d.finished(Done {
        slot: s.slot,
        life: s.life,
        run: s.run,
    });
    let next = d.queue.peek().unwrap().0.0;
    tokio::time::advance(d.instant(next) - Instant::now()).await;
    assert_eq!(d.due(&stats, usize::MAX).len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_removed_slot_is_reused_and_a_late_round_of_its_old_target_is_ignored() {
    let (a, b) = (target("a", 10), target("b", 10));
    let mut d = driver();
    d.upsert(entry(&a, false));
    let stats = SchedulerStats::default();
    let first = d.queue.peek().unwrap().0.0;
    tokio::time::advance(d.instant(first) - Instant::now()).await;
    let old = d.due(&stats, usize::MAX).pop().unwrap();
    d.remove(&a.id);
    d.upsert(entry(&b, false));
    assert_eq!(d.slots.len(), 1, "the slot is reused");
    d.finished(Done {
        slot: old.slot,
        life: old.life,
        run: old.run,
    });
    // b's state is its own: its first round starts (not skipped as if in flight).
    let started = run_until(&mut d, T0 + 30_000).await;
    assert_eq!(starts_of(&started, "b"), expected(&b, T0, T0 + 30_000));
}

/// A prober that takes `delay` and records what it probed.
struct Slow {
    delay: Duration,
    probed: Mutex<Vec<String>>,
}

impl Prober for Slow {
    fn probe(&self, target: &Target) -> impl Future<Output = ProbeEvent> + Send {
        self.probed.lock().unwrap().push(target.name.clone());
        let (delay, name) = (self.delay, target.name.clone());
        async move {
            tokio::time::sleep(delay).await;
            let mut e = ProbeEvent::new(OffsetDateTime::now_utc(), "http", "127.0.0.1", Some(9));
            e.name = Some(name);
            e.up = Some(true);
            e
        }
    }
}

/// `run` in a task over the registry's targets (only those of now when `once`), with a `Slow`
/// prober taking `delay` per probe and `concurrency` slots.
struct Running {
    prober: Arc<Slow>,
    rx: mpsc::Receiver<Event>,
    stop: CancellationToken,
    stats: Arc<SchedulerStats>,
    task: tokio::task::JoinHandle<()>,
}

fn spawn_run(registry: &Registry, delay: Duration, concurrency: usize, once: bool) -> Running {
    let prober = Arc::new(Slow {
        delay,
        probed: Mutex::default(),
    });
    let (tx, rx) = mpsc::channel(16);
    let stop = CancellationToken::new();
    let stats = Arc::new(SchedulerStats::default());
    let task = tokio::spawn(run(
        prober.clone(),
        Feed::follow(registry, None, once),
        concurrency,
        EventFormat::Current,
        tx,
        stop.clone(),
        stats.clone(),
    ));
    Running {
        prober,
        rx,
        stop,
        stats,
        task,
    }
}

#[tokio::test(start_paused = true)]
async fn a_removed_targets_probe_in_flight_is_delivered() {
    let a = target("a", 10);
    let registry = Registry::new([a.clone()]);
    let Running {
        prober,
        mut rx,
        stop,
        stats: _,
        task,
    } = spawn_run(&registry, Duration::from_secs(3), 4, false);
    // Until a's first round is in flight, then remove it.
    while prober.probed.lock().unwrap().is_empty() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    registry
        .apply(vec![crate::registry::Change::Remove(a.id.clone())])
        .unwrap();
    let Some(Event::Probe(e)) = rx.recv().await else {
        panic!("no event")
    };
    assert_eq!(e.name.as_deref(), Some("a"));
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(
        prober.probed.lock().unwrap().len(),
        1,
        "not probed after removal"
    );
    stop.cancel();
    task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn rounds_due_but_not_given_out_at_a_stop_are_counted_with_the_ones_after_them() {
    let mut d = driver();
    d.load(vec![entry(&target("a", 10), false)]);
    let Reverse((first, ..)) = *d.queue.peek().unwrap();
    assert_eq!(d.overdue(), 0);
    tokio::time::advance(d.instant(first).saturating_duration_since(Instant::now())).await;
    assert_eq!(d.overdue(), 1, "due now, not yet given out");
    let stats = SchedulerStats::default();
    assert_eq!(d.due(&stats, usize::MAX).len(), 1);
    assert_eq!(d.overdue(), 0, "given out: it starts");
    // The driver falls 2.5 intervals behind: rounds 1 and 2 after the first are due.
    tokio::time::advance(Duration::from_millis(25_000)).await;
    assert_eq!(d.overdue(), 2);
    // A paused target has nothing due.
    d.upsert(entry(&target("a", 10), true));
    assert_eq!(d.overdue(), 0);
}

#[tokio::test(start_paused = true)]
async fn at_most_max_rounds_are_given_out_and_a_round_that_waited_past_its_next_starts_the_latest()
{
    let mut d = driver();
    let targets = [target("a", 10), target("b", 10), target("c", 10)];
    d.load(targets.iter().map(|t| entry(t, false)).collect());
    let last_first = d.queue.iter().map(|Reverse((at, ..))| *at).max().unwrap();
    let now = last_first + 25_000;
    tokio::time::advance(d.instant(now).saturating_duration_since(Instant::now())).await;
    let stats = SchedulerStats::default();
    let given = d.due(&stats, 2);
    assert_eq!(given.len(), 2);
    assert_eq!(d.due(&stats, 2).len(), 1);
    assert!(d.due(&stats, 2).is_empty());
    let ms = |i: Instant| d.anchor.1 + i.duration_since(d.anchor.0).as_millis() as u64;
    for s in &given {
        let sc = Schedule::new(&s.target.id, Duration::from_secs(10));
        assert_eq!(
            ms(s.due),
            sc.start(sc.round_at(now)),
            "the latest round starts"
        );
    }
    // Every round from each target's first to the one in progress now, less the one started.
    let missed: i64 = targets
        .iter()
        .map(|t| {
            let sc = Schedule::new(&t.id, Duration::from_secs(10));
            sc.round_at(now) - sc.next_after(T0).0
        })
        .sum();
    assert!(missed >= 6, "{missed}");
    assert_eq!(
        stats.unstarted_rounds.load(Ordering::Relaxed),
        missed as u64
    );
    assert_eq!(stats.skipped_rounds.load(Ordering::Relaxed), 0);
}

#[tokio::test(start_paused = true)]
async fn one_shot_targets_are_probed_at_once_and_the_run_ends() {
    let mut t = target("once", 10);
    t.profile_mut().interval = Interval::Once;
    let mut u = target("twice", 10);
    u.profile_mut().interval = Interval::Once;
    let registry = Registry::new([t, u]);
    let prober = Arc::new(Slow {
        delay: Duration::from_millis(10),
        probed: Mutex::default(),
    });
    let (tx, mut rx) = mpsc::channel(16);
    let started = Instant::now();
    run(
        prober,
        Feed::follow(&registry, None, true),
        4,
        EventFormat::Current,
        tx,
        CancellationToken::new(),
        Arc::new(SchedulerStats::default()),
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(1));
    let mut names = Vec::new();
    while let Some(Event::Probe(e)) = rx.recv().await {
        names.extend(e.name);
    }
    names.sort();
    assert_eq!(names, ["once", "twice"]);
}

#[tokio::test(start_paused = true)]
async fn a_one_shot_targets_event_carries_no_round() {
    let mut t = target("once", 10);
    t.profile_mut().interval = Interval::Once;
    let prober = Arc::new(Slow {
        delay: Duration::from_millis(10),
        probed: Mutex::default(),
    });
    let (tx, mut rx) = mpsc::channel(16);
    run(
        prober,
        Feed::fixed([t]),
        4,
        EventFormat::Current,
        tx,
        CancellationToken::new(),
        Arc::new(SchedulerStats::default()),
    )
    .await;
    let Some(Event::Probe(e)) = rx.recv().await else {
        panic!("no event")
    };
    assert_eq!((e.round, e.recheck), (None, None));
}

#[tokio::test(start_paused = true)]
async fn every_start_carries_the_round_it_was_due_for() {
    let targets = [target("a", 10), target("b", 10), target("c", 7)];
    let mut d = driver();
    d.load(targets.iter().map(|t| entry(t, false)).collect());
    let started = run_until(&mut d, T0 + 60_000).await;
    for t in &targets {
        let Interval::Every(p) = t.interval else {
            unreachable!()
        };
        let sc = Schedule::new(&t.id, p);
        let rounds: Vec<i64> = started
            .iter()
            .filter(|(n, ..)| *n == t.name)
            .map(|&(_, at, round)| {
                let round = round.expect("a periodic target's start has a round");
                assert_eq!(sc.start(round), at, "{}: round {round} starts then", t.name);
                round
            })
            .collect();
        assert!(rounds.len() >= 5, "{}: {rounds:?}", t.name);
        assert!(
            rounds.windows(2).all(|w| w[1] == w[0] + 1),
            "{}: consecutive rounds differ by one: {rounds:?}",
            t.name
        );
        // The same rounds any other process computes from the target alone.
        assert_eq!(rounds[0], sc.next_after(T0).0);
    }

    // Through the whole scheduler: each event carries its start's round, one after another.
    let registry = Registry::new([target("a", 10)]);
    let Running {
        prober: _,
        mut rx,
        stop,
        stats: _,
        task,
    } = spawn_run(&registry, Duration::from_secs(1), 4, false);
    let mut rounds = Vec::new();
    while rounds.len() < 4 {
        let Some(Event::Probe(e)) = rx.recv().await else {
            panic!("no event")
        };
        rounds.push(e.round.expect("a round"));
    }
    assert!(rounds.windows(2).all(|w| w[1] == w[0] + 1), "{rounds:?}");
    stop.cancel();
    task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_late_start_carries_the_round_it_was_due_for() {
    let a = target("a", 10);
    let sc = Schedule::new(&a.id, Duration::from_secs(10));
    let mut d = driver();
    d.upsert(entry(&a, false));
    let stats = SchedulerStats::default();
    let first = d.queue.peek().unwrap().0.0;
    let due_for = sc.round_at(first);
    // The loop comes to it 4 s late (it was busy): the round it was due for, not a later one.
    tokio::time::advance(d.instant(first + 4_000) - Instant::now()).await;
    let start = d.due(&stats, usize::MAX).pop().unwrap();
    assert_eq!(start.round, Some(due_for));
    // Its probe takes 15 s and ends in a later round: the event still says the round it was
    // due for.
    let (tx, mut rx) = mpsc::channel(1);
    let ctx = Arc::new(RoundContext {
        prober: Arc::new(Slow {
            delay: Duration::from_secs(15),
            probed: Mutex::default(),
        }),
        permits: Semaphore::new(1),
        format: EventFormat::Current,
        tx,
        stop: CancellationToken::new(),
        stats: Arc::new(SchedulerStats::default()),
        maintenance: None,
    });
    round(start, ctx).await;
    let Some(Event::Probe(e)) = rx.recv().await else {
        panic!("no event")
    };
    assert!(
        sc.round_at(d.now_ms()) > due_for,
        "it ended in a later round"
    );
    assert_eq!(e.round, Some(due_for));
}

#[tokio::test(start_paused = true)]
async fn a_start_given_out_after_its_next_round_began_carries_the_latest_round_not_the_queued_one()
{
    let a = target("a", 10);
    let sc = Schedule::new(&a.id, Duration::from_secs(10));
    let mut d = driver();
    d.upsert(entry(&a, false));
    let stats = SchedulerStats::default();
    let queued = d.queue.peek().unwrap().0.0;
    // Every slot was busy for 2.5 intervals: the round it starts is the one in progress.
    let now = queued + 25_000;
    tokio::time::advance(d.instant(now) - Instant::now()).await;
    let start = d.due(&stats, usize::MAX).pop().unwrap();
    assert_eq!(start.round, Some(sc.round_at(queued) + 2));
    assert_eq!(start.round, Some(sc.round_at(now)));
    assert_eq!(
        d.queue.peek().unwrap().0.0,
        sc.start(sc.round_at(now) + 1),
        "the next start is the next round's"
    );
}

#[tokio::test(start_paused = true)]
async fn rounds_the_stop_cuts_off_are_counted_apart_from_the_missed_ones() {
    let mut a = target("a", 10);
    a.profile_mut().interval = Interval::Once;
    let mut b = target("b", 10);
    b.profile_mut().interval = Interval::Once;
    let registry = Registry::new([a, b]);
    // One slot: the first round is in flight, the other waits in the queue.
    let Running {
        prober,
        rx: _rx,
        stop,
        stats,
        task,
    } = spawn_run(&registry, Duration::from_secs(100), 1, true);
    while prober.probed.lock().unwrap().is_empty() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.cancel();
    task.await.unwrap();
    assert_eq!(prober.probed.lock().unwrap().len(), 1);
    assert_eq!(stats.cut_by_stop.load(Ordering::Relaxed), 1);
    assert_eq!(stats.missed_rounds(), 0, "the window's edge is not a miss");
}

/// What a sleeping target costs the driver, beside the target itself: a million targets are
/// the goal.
#[test]
fn a_sleeping_target_is_a_small_slot() {
    let slot = std::mem::size_of::<Option<Slot>>();
    let run = std::mem::size_of::<RunState>();
    assert!(slot <= 96, "a slot is {slot} bytes");
    assert!(run <= 256, "a target's run state is {run} bytes");
}

#[tokio::test(start_paused = true)]
async fn api_targets_of_other_shards_are_left_to_their_workers() {
    let shard = Sharding { total: 2, index: 0 };
    let mut d = driver();
    d.sharding = Some(shard);
    let mut mine = 0;
    for i in 0..20 {
        let mut t = target(&format!("t{i}"), 10);
        t.source = Source::Api;
        mine += usize::from(shard.takes(&t.id));
        d.upsert(entry(&t, false));
    }
    // The configuration's targets were sharded when it was loaded: all of them stay.
    d.upsert(entry(&target("file", 10), false));
    assert!(mine > 0 && mine < 20, "{mine} of 20 in this shard");
    assert_eq!(d.by_id.len(), mine + 1);
    let started = run_until(&mut d, T0 + 10_000).await;
    assert_eq!(started.len(), mine + 1);
}

/// Waits (the paused clock moving on) until `prober` has started `n` probes.
async fn until_probed(prober: &Slow, n: usize) {
    while prober.probed.lock().unwrap().len() < n {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_round_waiting_for_a_slot_is_overdue_and_the_time_grows_until_it_starts() {
    let targets = [target("a", 10), target("b", 10)];
    let registry = Registry::new(targets.clone());
    // One slot, held by the first probe for 1000 s.
    let Running {
        prober,
        rx: _rx,
        stop,
        stats,
        task,
    } = spawn_run(&registry, Duration::from_secs(1000), 1, false);
    stats.loaded().await;
    assert_eq!(stats.overdue.get(), Duration::ZERO, "nothing due yet");
    until_probed(&prober, 1).await;
    assert_eq!(
        stats.overdue.get(),
        Duration::ZERO,
        "the other is not due yet"
    );
    // The other's first round comes due within 10 s and waits for the slot: 20 s later it has
    // waited 20 s or more, with no turn of the loop between (it is asleep until a round ends).
    tokio::time::sleep(Duration::from_secs(30)).await;
    let overdue = stats.overdue.get();
    assert!(
        overdue > Duration::from_secs(20) && overdue <= Duration::from_secs(30),
        "{overdue:?}"
    );
    assert_eq!(prober.probed.lock().unwrap().len(), 1);
    stop.cancel();
    task.await.unwrap();
    assert_eq!(
        stats.overdue.get(),
        Duration::ZERO,
        "a stopped scheduler owes nothing"
    );
}

#[tokio::test(start_paused = true)]
async fn rounds_skipped_while_every_slot_is_taken_are_skipped_on_time_and_not_overdue() {
    let registry = Registry::new([target("a", 10)]);
    let Running {
        prober,
        rx: _rx,
        stop,
        stats,
        task,
    } = spawn_run(&registry, Duration::from_secs(35), 1, false);
    until_probed(&prober, 1).await;
    // A slow target only delays itself: its rounds due while it is in flight need no slot.
    tokio::time::sleep(Duration::from_millis(30_500)).await;
    assert_eq!(stats.overdue.get(), Duration::ZERO);
    assert_eq!(stats.skipped_rounds.load(Ordering::Relaxed), 3);
    assert_eq!(stats.unstarted_rounds.load(Ordering::Relaxed), 0);
    stop.cancel();
    task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn the_earliest_round_is_not_one_of_a_removed_or_paused_target() {
    let mut d = driver();
    let (a, b, c) = (target("a", 10), target("b", 10), target("c", 10));
    d.load(vec![entry(&a, false), entry(&b, false), entry(&c, false)]);
    let mut firsts: Vec<(u64, u32)> = d
        .queue
        .iter()
        .map(|Reverse((at, s, _))| (*at, *s))
        .collect();
    firsts.sort();
    let name = |slot: u32| d.slots[slot as usize].as_ref().unwrap().target.name.clone();
    let (first, second) = (name(firsts[0].1), name(firsts[1].1));
    d.remove(&target(&first, 10).id);
    d.upsert(entry(&target(&second, 10), true));
    tokio::time::advance(Duration::from_secs(20)).await;
    let (at, needs_slot) = d.earliest_round().unwrap();
    assert_eq!(
        at,
        d.instant(firsts[2].0),
        "the third's: the others will not start"
    );
    assert!(needs_slot);
    assert_eq!(d.queue.len(), 1, "the stale entries are dropped");
}
