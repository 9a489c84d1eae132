//! The fleet in virtual time: N targets probed from 3 locations by P probers each, every prober
//! a real `scheduler::run` over the targets of its partitions, with a fake prober that asks a
//! scripted oracle (`support/oracle.rs`) instead of the network and sleeps its latency in
//! tokio's paused clock. Every result goes to one real `RoundBook` and `LocationWindow`, as the
//! verdict stage would feed them. It reports the scheduler's cost and lateness, memory, false
//! DOWN verdicts from single-location faults (exit status 1 if any), how long real outages take
//! to be found, and the gap a rebalance leaves.
//!
//! ```text
//! cargo run --release --example fleet_sim -- [--quick] [--targets N] [--probers P] [--intervals V]
//! scripts/bench fleet [quick]
//! ```
//!
//! No Kafka: the schedulers' events go through one channel, and a rebalance is a `Remove`
//! batch on one prober's feed and an `Upsert` batch on another's.

#[path = "support/oracle.rs"]
mod oracle;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use uptimer::config::target::{TargetDefaults, TargetSpec};
use uptimer::config::{EventFormat, Interval, Target, TlsVerify};
use uptimer::event::{Event, ProbeEvent};
use uptimer::pipeline::scheduler::{self, Feed, SchedulerStats};
use uptimer::readers::probes::Prober;
use uptimer::registry::{Applied, Entry, Update};
use uptimer::state::impaired::{ImpairedRule, LocationWindow};
use uptimer::state::locations::{LocSet, Locations};
use uptimer::state::phase::{Schedule, fnv1a64};
use uptimer::state::quorum::{self, Decision, Quorum, RoundBook, RoundResult};

use oracle::{Fault, Oracle, Targets};

const LOCATIONS: [&str; 3] = ["eu", "us", "ap"];
const INTERVAL_MS: u64 = 60_000;
/// The targets topic's partitions (`FLEET_TARGETS_PARTITIONS`' default).
const PARTITIONS: u64 = 24;
/// Each prober's `probe.concurrency`.
const CONCURRENCY: usize = 1000;
/// The rebalance: prober 0 of eu leaves, prober 1 of eu takes its partitions this long after.
const REBALANCE_GAP_MS: u64 = 5_000;

/// Fractions of the interval, from the start of the run.
fn at(f: f64) -> u64 {
    (f * INTERVAL_MS as f64) as u64
}

/// The script: two single-location faults, a whole-location outage and two real outages.
fn script() -> Oracle {
    Oracle {
        faults: vec![
            Fault {
                name: "eu alone sees 2% of targets down",
                locations: Some(&[0]),
                targets: Targets::Every {
                    modulo: 50,
                    residue: 1,
                },
                from_ms: at(1.2),
                until_ms: at(2.2),
            },
            Fault {
                name: "real outage A (0.1% of targets, everywhere)",
                locations: None,
                targets: Targets::Every {
                    modulo: 1000,
                    residue: 7,
                },
                from_ms: at(1.5),
                until_ms: at(2.5),
            },
            Fault {
                name: "ap sees every target down (regional outage)",
                locations: Some(&[2]),
                targets: Targets::All,
                from_ms: at(2.8),
                until_ms: at(5.0),
            },
            Fault {
                name: "real outage B (0.1%, during ap's outage)",
                locations: None,
                targets: Targets::Every {
                    modulo: 1000,
                    residue: 507,
                },
                from_ms: at(3.4),
                until_ms: at(4.4),
            },
            Fault {
                name: "us alone sees 2% down (while ap is down too)",
                locations: Some(&[1]),
                targets: Targets::Every {
                    modulo: 50,
                    residue: 2,
                },
                from_ms: at(4.2),
                until_ms: at(5.0),
            },
        ],
    }
}

/// When eu's prober 0 leaves (its partitions go to prober 1 after `REBALANCE_GAP_MS`).
const REBALANCE_AT: f64 = 2.5;

struct Args {
    targets: u64,
    probers: u64,
    intervals: u64,
}

fn args() -> Args {
    let mut a = Args {
        targets: 1_000_000,
        probers: 10,
        intervals: 6,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut num = |what: &str| -> u64 {
            it.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| usage(&format!("{what} needs a number")))
        };
        match arg.as_str() {
            "--quick" => a.targets = 50_000,
            "--targets" => a.targets = num("--targets"),
            "--probers" => a.probers = num("--probers").max(2),
            "--intervals" => a.intervals = num("--intervals"),
            _ => usage(&format!("unknown argument {arg:?}")),
        }
    }
    if a.intervals < 6 {
        usage("--intervals must be at least 6: the scripted faults end at 5 intervals");
    }
    a
}

fn usage(why: &str) -> ! {
    eprintln!(
        "fleet_sim: {why}\nusage: fleet_sim [--quick] [--targets N] [--probers P] [--intervals V]"
    );
    std::process::exit(2)
}

/// The clock every part reads: virtual (tokio's paused) time as milliseconds since the run's
/// start, and since the epoch.
#[derive(Clone, Copy)]
struct Clock {
    start: Instant,
    epoch_ms: u64,
}

impl Clock {
    fn rel_ms(&self) -> u64 {
        Instant::now().duration_since(self.start).as_millis() as u64
    }
    fn epoch_ms(&self) -> u64 {
        self.epoch_ms + self.rel_ms()
    }
}

/// A prober that asks the oracle and sleeps its latency in virtual time.
struct FakeProber {
    location: usize,
    oracle: Arc<Oracle>,
    clock: Clock,
    /// Probes started in each virtual second of the run (every prober counts here).
    starts: Arc<Vec<AtomicU32>>,
}

fn index_of(id: &str) -> u64 {
    id[1..].parse().expect("an id made by target()")
}

impl Prober for FakeProber {
    fn probe(&self, target: &Target) -> impl Future<Output = ProbeEvent> + Send {
        let now = self.clock.rel_ms();
        let second = (now / 1000) as usize;
        if let Some(c) = self.starts.get(second) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        let a = self.oracle.answer(index_of(&target.id), self.location, now);
        let (id, location) = (target.id.clone(), LOCATIONS[self.location]);
        async move {
            tokio::time::sleep(Duration::from_millis(a.latency_ms)).await;
            let mut e = ProbeEvent::new(time::OffsetDateTime::UNIX_EPOCH, "http", "sim", Some(80));
            e.up = Some(a.up);
            e.response_time_ms = a.latency_ms;
            e.target = Some(id);
            e.location = Some(location.to_owned());
            e
        }
    }
}

fn target(ix: u64) -> Target {
    TargetSpec {
        id: Some(format!("t{ix}")),
        name: Some(format!("t{ix}")),
        url: format!("http://sim.invalid/{ix}"),
        ..Default::default()
    }
    .build(&TargetDefaults {
        interval: Interval::Every(Duration::from_millis(INTERVAL_MS)),
        timeout: Duration::from_secs(10),
        tls_verify: TlsVerify::Yes,
    })
    .expect("a valid target")
}

/// (user + system) CPU of the process so far.
fn cpu() -> Duration {
    // SAFETY: getrusage writes into the struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// A line of /proc/self/status, in kB.
fn status_kb(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn quantile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1]
}

/// What the verdict side saw.
#[derive(Default)]
struct Verdicts {
    decisions: HashMap<&'static str, u64>,
    observed: HashMap<String, u64>,
    false_down: u64,
    false_examples: Vec<String>,
    /// Per real fault: target → ms from the outage's start to its first DOWN verdict.
    detected: Vec<HashMap<u64, u64>>,
    /// Moved targets → their rounds after the rebalance with no result from eu.
    gaps: HashMap<u64, u32>,
    /// Impaired-set changes: (ms since the start, locations).
    impaired_log: Vec<(u64, Vec<String>)>,
}

/// Takes every event into the round book and closes rounds once a virtual second.
async fn verdicts(
    mut rx: mpsc::Receiver<Event>,
    mut book: RoundBook,
    oracle: Arc<Oracle>,
    clock: Clock,
    moved: Arc<Vec<bool>>,
    rebalance_ms: u64,
) -> Verdicts {
    let locations = book.locations().clone();
    let mut window = LocationWindow::new(locations.len(), ImpairedRule::default(), INTERVAL_MS);
    let mut v = Verdicts {
        detected: vec![HashMap::new(); oracle.faults.len()],
        ..Verdicts::default()
    };
    let mut impaired = LocSet::EMPTY;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut buf = Vec::with_capacity(4096);
    let interval = Duration::from_millis(INTERVAL_MS);
    let mut close = |v: &mut Verdicts, book: &mut RoundBook, impaired: &mut LocSet| {
        let now = clock.epoch_ms();
        let now_impaired = window.impaired(now);
        if now_impaired != *impaired {
            *impaired = now_impaired;
            v.impaired_log
                .push((clock.rel_ms(), locations.names(now_impaired)));
        }
        for c in book.close_due(now, *impaired) {
            window.record_closed(&c);
            *v.decisions.entry(c.decision.as_str()).or_default() += 1;
            let ix = index_of(&c.target);
            let start = Schedule::new(&c.target, interval)
                .start(c.round)
                .saturating_sub(clock.epoch_ms);
            if moved[ix as usize] && start >= rebalance_ms {
                let eu = locations.id("eu").expect("eu");
                let missing = u32::from(!c.up.contains(eu) && !c.down.contains(eu));
                *v.gaps.entry(ix).or_default() += missing;
            }
            if c.decision != Decision::Down {
                continue;
            }
            // A DOWN is real when a real outage of this target covers its round (give or take
            // an interval: a probe late in a round may fall on either side of the edge).
            let real = oracle.faults.iter().position(|f| {
                f.is_real()
                    && f.targets.contains(ix)
                    && start + INTERVAL_MS >= f.from_ms
                    && start <= f.until_ms + INTERVAL_MS
            });
            match real {
                Some(fi) => {
                    let since = c
                        .closed_at_ms
                        .saturating_sub(clock.epoch_ms)
                        .saturating_sub(oracle.faults[fi].from_ms);
                    v.detected[fi].entry(ix).or_insert(since);
                }
                None => {
                    v.false_down += 1;
                    if v.false_examples.len() < 5 {
                        v.false_examples.push(format!(
                            "{} round {} (starts at {:.1} intervals): down {:?}, impaired {:?}",
                            c.target,
                            c.round,
                            start as f64 / INTERVAL_MS as f64,
                            locations.names(c.down),
                            locations.names(c.impaired)
                        ));
                    }
                }
            }
        }
    };
    loop {
        tokio::select! {
            biased;
            _ = tick.tick() => close(&mut v, &mut book, &mut impaired),
            n = rx.recv_many(&mut buf, 4096) => {
                if n == 0 {
                    break;
                }
                let now = clock.epoch_ms();
                for e in buf.drain(..) {
                    let Event::Probe(e) = e else { continue };
                    let (Some(t), Some(l), Some(round)) = (&e.target, &e.location, e.round) else {
                        continue;
                    };
                    let r = RoundResult {
                        up: e.up == Some(true),
                        at_ms: now,
                        recheck: false,
                        response_ms: e.response_time_ms,
                    };
                    let o = book.observe(t, l, round, r, now);
                    *v.observed.entry(format!("{o:?}")).or_default() += 1;
                }
            }
        }
    }
    close(&mut v, &mut book, &mut impaired);
    v
}

fn main() {
    let args = args();
    let wall = std::time::Instant::now();
    let rss_base = status_kb("VmRSS");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime");
    let false_down = rt.block_on(sim(&args, wall, rss_base));
    std::process::exit(i32::from(false_down > 0));
}

async fn sim(args: &Args, wall: std::time::Instant, rss_base: u64) -> u64 {
    let (n, p) = (args.targets, args.probers);
    let oracle = Arc::new(script());
    let end_ms = args.intervals * INTERVAL_MS;
    let rebalance_ms = at(REBALANCE_AT);

    // Targets, shared by the three locations' feeds; prober = partition mod P (the spread a
    // cooperative-sticky assignment of 24 partitions over P members gives).
    let mut feeds: Vec<Vec<Arc<Entry>>> = vec![Vec::new(); p as usize];
    let locations = Locations::new(&LOCATIONS).expect("locations");
    let mut book = RoundBook::new(locations.clone());
    let mut moved = vec![false; n as usize];
    let interval = Duration::from_millis(INTERVAL_MS);
    for ix in 0..n {
        let t = target(ix);
        let sched = Schedule::new(&t.id, interval);
        book.set_target(&t.id, sched, Quorum::Majority, quorum::default_grace(sched));
        let prober = (fnv1a64(t.id.bytes()) % PARTITIONS % p) as usize;
        moved[ix as usize] = prober == 0;
        feeds[prober].push(Arc::new(Entry {
            target: Arc::new(t),
            paused: false,
            version: 1,
        }));
    }
    let built_s = wall.elapsed().as_secs_f64();
    let moved = Arc::new(moved);
    let moved_n = moved.iter().filter(|m| **m).count();

    let clock = Clock {
        start: Instant::now(),
        epoch_ms: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_millis() as u64,
    };
    let real_at_start = std::time::Instant::now();
    let starts: Arc<Vec<AtomicU32>> =
        Arc::new((0..end_ms / 1000 + 60).map(|_| AtomicU32::new(0)).collect());
    let stats = Arc::new(SchedulerStats::default());
    let stop = CancellationToken::new();
    let (tx, rx) = mpsc::channel(1 << 16);
    let collector = tokio::spawn(verdicts(
        rx,
        book,
        oracle.clone(),
        clock,
        moved.clone(),
        rebalance_ms,
    ));
    let mut runs = Vec::new();
    let mut eu_updates = Vec::new();
    for loc in 0..LOCATIONS.len() {
        for entries in &feeds {
            let (utx, urx) = mpsc::unbounded_channel();
            if loc == 0 {
                eu_updates.push(utx);
            }
            let prober = Arc::new(FakeProber {
                location: loc,
                oracle: oracle.clone(),
                clock,
                starts: starts.clone(),
            });
            let feed = Feed {
                entries: entries.clone(),
                updates: Some(urx),
                sharding: None,
                maintenance: None,
            };
            runs.push(tokio::spawn(scheduler::run(
                prober,
                feed,
                CONCURRENCY,
                EventFormat::Current,
                tx.clone(),
                stop.clone(),
                stats.clone(),
            )));
        }
    }
    drop(tx);
    // Virtual time moves only once every task waits: every scheduler has loaded its targets.
    tokio::time::sleep(Duration::from_millis(1)).await;
    let skew_ms = real_at_start.elapsed().as_millis();
    let load_s = wall.elapsed().as_secs_f64() - built_s;
    let (cpu0, probes0) = (cpu(), stats.probes.load(Ordering::Relaxed));

    // The rebalance: eu's prober 0 leaves; prober 1 is given its partitions a little later.
    let moved_entries = feeds[0].clone();
    let remove = Update {
        version: 2,
        changes: moved_entries
            .iter()
            .map(|e| Applied::Remove(e.clone()))
            .collect(),
    };
    let upsert = Update {
        version: 2,
        changes: moved_entries
            .iter()
            .map(|e| Applied::Upsert(e.clone()))
            .collect(),
    };
    drop(feeds);
    tokio::time::sleep_until(clock.start + Duration::from_millis(rebalance_ms)).await;
    let _ = eu_updates[0].send(remove);
    tokio::time::sleep(Duration::from_millis(REBALANCE_GAP_MS)).await;
    let _ = eu_updates[1].send(upsert);

    tokio::time::sleep_until(clock.start + Duration::from_millis(end_ms)).await;
    let rss_kb = status_kb("VmRSS");
    let hwm_kb = status_kb("VmHWM");
    stop.cancel();
    for r in runs {
        r.await.expect("a scheduler");
    }
    let cpu_run = cpu() - cpu0;
    let probes = stats.probes.load(Ordering::Relaxed) - probes0;
    drop(eu_updates);
    let v = collector.await.expect("the verdict side");
    report(&Report {
        args,
        oracle: &oracle,
        v: &v,
        stats: &stats,
        starts: &starts,
        end_ms,
        probes,
        cpu_run,
        rss_kb,
        hwm_kb,
        rss_base,
        moved_n,
        skew_ms,
        built_s,
        load_s,
        wall_s: wall.elapsed().as_secs_f64(),
    });
    v.false_down
}

struct Report<'a> {
    args: &'a Args,
    oracle: &'a Oracle,
    v: &'a Verdicts,
    stats: &'a SchedulerStats,
    starts: &'a [AtomicU32],
    end_ms: u64,
    probes: u64,
    cpu_run: Duration,
    rss_kb: u64,
    hwm_kb: u64,
    rss_base: u64,
    moved_n: usize,
    skew_ms: u128,
    built_s: f64,
    load_s: f64,
    wall_s: f64,
}

fn report(r: &Report) {
    let (a, v) = (r.args, r.v);
    let secs = (r.end_ms / 1000) as usize;
    let per_sec: Vec<u64> = r.starts[..secs]
        .iter()
        .map(|c| u64::from(c.load(Ordering::Relaxed)))
        .collect();
    let total: u64 = per_sec.iter().sum();
    let mean = total as f64 / secs as f64;
    let busiest = per_sec.iter().copied().max().unwrap_or(0);
    let lag = |q: f64| r.stats.lag_quantile(q).as_millis();
    let mut latencies: Vec<u64> = Vec::new();
    let (mut outage_targets, mut missed) = (0u64, 0u64);
    for (fi, f) in r.oracle.faults.iter().enumerate() {
        if !f.is_real() {
            continue;
        }
        let hit = (0..a.targets).filter(|ix| f.targets.contains(*ix)).count() as u64;
        outage_targets += hit;
        missed += hit - v.detected[fi].len() as u64;
        latencies.extend(v.detected[fi].values());
    }
    latencies.sort_unstable();
    let gap_rounds: u64 = v.gaps.values().map(|g| u64::from(*g)).sum();
    let gap_max = v.gaps.values().copied().max().unwrap_or(0);
    let gap_targets = v.gaps.values().filter(|g| **g > 0).count();
    let per_100k = |kb: u64| kb as f64 / 1024.0 / (a.targets as f64 / 100_000.0);
    let cpu_us = r.cpu_run.as_secs_f64() * 1e6 / r.probes.max(1) as f64;
    let s = |k: &str| v.decisions.get(k).copied().unwrap_or(0);

    println!(
        "fleet_sim: {} targets × {} locations × {} probers per location, interval {} s, {} virtual intervals",
        a.targets,
        LOCATIONS.len(),
        a.probers,
        INTERVAL_MS / 1000,
        a.intervals
    );
    println!("script (times in intervals from the start):");
    for f in &r.oracle.faults {
        println!(
            "  {:.1}–{:.1}: {}",
            f.from_ms as f64 / INTERVAL_MS as f64,
            f.until_ms as f64 / INTERVAL_MS as f64,
            f.name
        );
    }
    println!(
        "  {REBALANCE_AT:.1}: eu's prober 0 leaves; prober 1 takes its {} targets {} s later",
        r.moved_n,
        REBALANCE_GAP_MS / 1000
    );
    for (t, l) in &v.impaired_log {
        println!(
            "impaired at {:.2} intervals: {:?}",
            *t as f64 / INTERVAL_MS as f64,
            l
        );
    }
    for e in &v.false_examples {
        println!("FALSE DOWN: {e}");
    }
    println!();
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| probes scheduled (virtual {} s) | {} |",
        r.end_ms / 1000,
        r.probes
    );
    println!("| CPU per scheduled probe (whole process) | {cpu_us:.2} µs |");
    println!(
        "| start lateness p50 / p99 / max | {} / {} / {} ms |",
        lag(0.5),
        lag(0.99),
        lag(1.0)
    );
    println!(
        "| busiest virtual second / mean | {busiest} / {mean:.0} starts = {:.2} |",
        busiest as f64 / mean
    );
    println!(
        "| RSS per 100,000 targets | {:.1} MiB ({:.0} MiB in all, peak {:.0} MiB, {:.0} MiB at start) |",
        per_100k(r.rss_kb),
        r.rss_kb as f64 / 1024.0,
        r.hwm_kb as f64 / 1024.0,
        r.rss_base as f64 / 1024.0
    );
    println!(
        "| verdicts up / down / partial / none | {} / {} / {} / {} |",
        s("up"),
        s("down"),
        s("partial"),
        s("none")
    );
    println!(
        "| false DOWN from single-location faults | **{}** |",
        v.false_down
    );
    println!(
        "| real outages detected (targets) | {} of {} |",
        outage_targets - missed,
        outage_targets
    );
    println!(
        "| detection latency p50 / max (outage start → DOWN verdict) | {:.1} / {:.1} s |",
        quantile(&latencies, 0.5) as f64 / 1000.0,
        quantile(&latencies, 1.0) as f64 / 1000.0
    );
    println!(
        "| rebalance: moved targets with a round missing from eu | {gap_targets} of {} (max {gap_max} round, {gap_rounds} rounds in all) |",
        r.moved_n
    );
    println!(
        "| wall time: build / load / run | {:.1} / {:.1} / {:.1} s |",
        r.built_s,
        r.load_s,
        r.wall_s - r.built_s - r.load_s
    );
    println!();
    let mut observed: Vec<_> = v.observed.iter().collect();
    observed.sort();
    println!(
        "results taken by the round book: {}",
        observed
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "schedulers: {} rounds missed, {} cut by the stop; their clocks differ by up to {} ms (each reads the wall clock once at its start)",
        r.stats.missed_rounds(),
        r.stats.cut_by_stop.load(Ordering::Relaxed),
        r.skew_ms
    );
    println!();
    let kv = [
        ("targets", a.targets.to_string()),
        ("locations", LOCATIONS.len().to_string()),
        ("probers_per_location", a.probers.to_string()),
        ("intervals", a.intervals.to_string()),
        ("probes", r.probes.to_string()),
        ("cpu_us_per_probe", format!("{cpu_us:.2}")),
        ("lag_p50_ms", lag(0.5).to_string()),
        ("lag_p99_ms", lag(0.99).to_string()),
        ("lag_max_ms", lag(1.0).to_string()),
        (
            "busiest_second_over_mean",
            format!("{:.2}", busiest as f64 / mean),
        ),
        ("rss_mib_per_100k", format!("{:.1}", per_100k(r.rss_kb))),
        ("false_down", v.false_down.to_string()),
        ("outage_targets", outage_targets.to_string()),
        ("outage_missed", missed.to_string()),
        (
            "detect_p50_s",
            format!("{:.1}", quantile(&latencies, 0.5) as f64 / 1000.0),
        ),
        (
            "detect_max_s",
            format!("{:.1}", quantile(&latencies, 1.0) as f64 / 1000.0),
        ),
        ("rebalance_moved", r.moved_n.to_string()),
        ("rebalance_gap_targets", gap_targets.to_string()),
        ("rebalance_gap_max_rounds", gap_max.to_string()),
        ("wall_s", format!("{:.1}", r.wall_s)),
    ];
    for (k, val) in kv {
        println!("{k}={val}");
    }
}
