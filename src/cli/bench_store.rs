//! `uptimer bench-store` (hidden): what `scripts/bench web` needs from the binary. `generate`
//! fills a store with synthetic history; `ingest` writes probe events into it at a steady rate
//! through the writer's own path, as a running `uptimer serve` would.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};

use crate::config::StoreSettings;
use crate::event::Event;
use crate::store::sqlite::generate::{self, Spec};
use crate::store::{SqliteStore, StoreError};

#[derive(Debug, Args)]
pub struct BenchStoreArgs {
    #[command(subcommand)]
    pub command: BenchStoreCommand,
}

#[derive(Debug, Subcommand)]
pub enum BenchStoreCommand {
    /// Create a store with N targets and their history.
    Generate {
        #[arg(long)]
        path: PathBuf,
        #[arg(long, default_value_t = 10_000)]
        targets: usize,
        #[arg(long, default_value_t = 30)]
        days: i64,
        #[arg(long, default_value_t = 2)]
        raw_days: i64,
        #[arg(long, default_value_t = 60)]
        interval: i64,
    },
    /// Write RATE probe events per second for SECONDS into the store.
    Ingest {
        #[arg(long)]
        path: PathBuf,
        #[arg(long, default_value_t = 10_000)]
        targets: usize,
        #[arg(long, default_value_t = 2000)]
        rate: u64,
        #[arg(long, default_value_t = 30)]
        seconds: u64,
    },
}

pub fn bench_store(args: BenchStoreArgs) -> ExitCode {
    super::init_logging("info");
    super::runtime().block_on(async move {
        match run(args.command).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("uptimer bench-store: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

async fn run(cmd: BenchStoreCommand) -> Result<(), StoreError> {
    match cmd {
        BenchStoreCommand::Generate {
            path,
            targets,
            days,
            raw_days,
            interval,
        } => {
            let store = SqliteStore::open_async(&StoreSettings::with_path(path)).await?;
            let spec = Spec {
                targets,
                days,
                raw_days,
                interval_s: interval,
            };
            let rows = store.generate(spec).await?;
            store.close().await?;
            println!("generated {rows} rows");
            Ok(())
        }
        BenchStoreCommand::Ingest {
            path,
            targets,
            rate,
            seconds,
        } => {
            let store = SqliteStore::open_async(&StoreSettings::with_path(path)).await?;
            ingest(&store, targets.max(1), rate, seconds).await?;
            store.close().await
        }
    }
}

async fn ingest(
    store: &SqliteStore,
    targets: usize,
    rate: u64,
    seconds: u64,
) -> Result<(), StoreError> {
    // Ten batches a second, as the writer cuts them under this load.
    let tick = Duration::from_millis(100);
    let per_tick = (rate / 10).max(1) as usize;
    let started = Instant::now();
    let cpu_before = cpu_seconds();
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let (mut sent, mut next) = (0u64, 0usize);
    let mut batch_ms: Vec<f64> = Vec::new();
    let mut rng = crate::store::sqlite::pack::sample::Rng::new(0x2545_f491_4f6c_dd1d);
    // SIGTERM or SIGINT ends the run early; the store is closed all the same.
    let stop = crate::pipeline::shutdown_on_signals();
    while started.elapsed() < Duration::from_secs(seconds) {
        tokio::select! {
            _ = interval.tick() => {}
            _ = stop.cancelled() => break,
        }
        let now = crate::store::now_micros();
        let batch: Vec<Event> = (0..per_tick)
            .map(|k| generate::event(&mut rng, (next + k) % targets, now).into())
            .collect();
        next = (next + per_tick) % targets;
        let t = Instant::now();
        let done = store.ingest(batch).await?;
        batch_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        sent += done.inserted as u64;
    }
    let secs = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_before;
    batch_ms.sort_by(f64::total_cmp);
    let q = |p: f64| {
        let i = (batch_ms.len() as f64 * p) as usize;
        batch_ms
            .get(i.min(batch_ms.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0.0)
    };
    println!(
        "ingested {sent} events in {secs:.1} s = {:.0} events/s; batch of {per_tick}: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; CPU {cpu:.2} s = {:.1} µs/event",
        sent as f64 / secs,
        q(0.5),
        q(0.99),
        q(1.0),
        cpu * 1e6 / sent.max(1) as f64
    );
    Ok(())
}

/// CPU seconds (user + system) this process has used: fields 14 and 15 of /proc/self/stat, in
/// clock ticks (100 per second on Linux); 0 where there is no /proc.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}
