//! The pipeline: readers send events (or acknowledged batches) into a bounded channel
//! (back-pressure, never unbounded memory); `deliver` cuts batches for every writer and resolves
//! acknowledgements once every writer made them durable; SIGINT/SIGTERM stops the readers,
//! drains what was already read and flushes the writers, within `SHUTDOWN_TIMEOUT`.

mod deliver;
pub mod push;
pub mod scheduler;
mod verdicts;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::ack::SourceBatch;
use crate::config::{ReaderPlugin, Settings};
use crate::event::Event;
use crate::metrics::Metrics;
use crate::readers;
use crate::readers::probes::Probers;
use crate::registry::Registry;
use crate::writers::{WriteError, Writer};

pub use deliver::deliver;
pub use push::PushFeed;
pub use scheduler::SchedulerStats;

/// Events (or source batches) buffered between readers and writers, and again in front of
/// each writer when several fan out.
pub const CHANNEL_CAPACITY: usize = 8192;

/// What a finished run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RunSummary {
    pub events: u64,
    pub batches: u64,
}

/// Why a run stopped early.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error("{0}")]
    Setup(String),
}

/// What the probe reader probes: the registry's targets, and (`serve` only) the board of the
/// push targets, whose events join the probes' (the scheduler leaves those targets out).
pub struct Targets {
    pub registry: Arc<Registry>,
    pub push: Option<PushFeed>,
}

impl Targets {
    /// The registry's targets, without push targets' board.
    pub fn probed(registry: &Arc<Registry>) -> Targets {
        Targets {
            registry: registry.clone(),
            push: None,
        }
    }
}

/// Starts the configured reader, feeding `writers`, until the reader ends (`PROBE_INTERVAL=-1`)
/// or `stop` is cancelled; then drains what was read into the writers. `give_up` (see
/// [`give_up_after`]) bounds that drain: what is not durable then is not acknowledged. A run
/// that fails marks the pipeline stopped for `/healthz`.
pub async fn run(
    settings: &Settings,
    targets: Targets,
    writers: Vec<Box<dyn Writer>>,
    stop: CancellationToken,
    give_up: CancellationToken,
    stats: Arc<SchedulerStats>,
    metrics: Arc<Metrics>,
) -> Result<RunSummary, PipelineError> {
    let result = run_reader(
        settings,
        targets,
        writers,
        stop,
        give_up,
        stats,
        metrics.clone(),
    )
    .await;
    if result.is_err() {
        metrics.readiness.stop();
    }
    result
}

async fn run_reader(
    settings: &Settings,
    targets: Targets,
    writers: Vec<Box<dyn Writer>>,
    stop: CancellationToken,
    give_up: CancellationToken,
    stats: Arc<SchedulerStats>,
    metrics: Arc<Metrics>,
) -> Result<RunSummary, PipelineError> {
    let Targets { registry, push } = targets;
    let registry = &registry;
    match settings.reader {
        ReaderPlugin::HttpProbe => {
            let prober =
                Probers::new(&settings.probe).map_err(|e| PipelineError::Setup(e.to_string()))?;
            // Push targets are pushed to, never probed (the scheduler leaves them out).
            let entries = registry.entries();
            let any_probed = entries.iter().any(|e| !push::is_push(&e.target));
            // Targets that share a profile share its TLS settings: one check for them all
            // (by the profile's address).
            let mut checked = std::collections::HashSet::new();
            for e in &entries {
                if !checked.insert(Arc::as_ptr(&e.target.profile) as usize) {
                    continue;
                }
                prober.check(&e.target).map_err(|err| {
                    PipelineError::Setup(format!("PROBE_TLS_VERIFY for {}: {err}", e.target.name))
                })?;
            }
            drop((entries, checked));
            let (tx, rx) = mpsc::channel::<Event>(CHANNEL_CAPACITY);
            let scheduler = tokio::spawn(scheduler::run(
                Arc::new(prober),
                scheduler::Feed::follow(
                    registry,
                    settings.sharding,
                    settings.defaults.interval == crate::config::Interval::Once,
                )
                .pausing_for(settings.alerting.live.clone()),
                settings.probe.concurrency,
                settings.event_format,
                tx.clone(),
                stop.clone(),
                stats.clone(),
            ));
            let task = match push {
                None => {
                    // The scheduler holds the only sender: its end closes the channel, and the
                    // writers drain and stop.
                    drop(tx);
                    scheduler
                }
                Some(feed) => {
                    let (targets, format) = (settings.targets.clone(), settings.event_format);
                    let stop = stop.clone();
                    tokio::spawn(async move {
                        // The push targets' events flow until the scheduler's end (one round)
                        // or, with nothing to probe, until the stop.
                        let pushes = stop.child_token();
                        let fed = push::run(feed, &targets, format, tx, pushes.clone(), stats);
                        let ended = async {
                            if any_probed {
                                let _ = scheduler.await;
                                pushes.cancel();
                            }
                        };
                        tokio::join!(fed, ended);
                    })
                }
            };
            drive(rx, task, writers, stop, give_up, metrics).await
        }
        ReaderPlugin::Dummy => {
            let (tx, rx) = mpsc::channel::<Event>(CHANNEL_CAPACITY);
            let task = tokio::spawn(readers::dummy::run(
                settings.defaults.interval,
                settings.writers.first().map_or("", |w| w.name()).to_owned(),
                tx,
                metrics.reader(readers::dummy::NAME).events,
                stop.clone(),
            ));
            drive(rx, task, writers, stop, give_up, metrics).await
        }
        ReaderPlugin::Kafka => run_kafka(settings, writers, stop, give_up, metrics).await,
    }
}

/// The Kafka consumer as a source: its offsets are stored as its batches are acknowledged.
#[cfg(feature = "kafka")]
async fn run_kafka(
    settings: &Settings,
    writers: Vec<Box<dyn Writer>>,
    stop: CancellationToken,
    give_up: CancellationToken,
    metrics: Arc<Metrics>,
) -> Result<RunSummary, PipelineError> {
    let source = readers::kafka::KafkaSource::new(settings, &metrics)
        .await
        .map_err(|e| PipelineError::Setup(e.to_string()))?;
    let (tx, rx) = mpsc::channel::<SourceBatch>(CHANNEL_CAPACITY);
    let task = tokio::spawn(source.run(tx, stop.clone(), give_up.clone()));
    drive(rx, task, writers, stop, give_up, metrics).await
}

#[cfg(not(feature = "kafka"))]
async fn run_kafka(
    _: &Settings,
    _: Vec<Box<dyn Writer>>,
    _: CancellationToken,
    _: CancellationToken,
    _: Arc<Metrics>,
) -> Result<RunSummary, PipelineError> {
    Err(PipelineError::Setup(crate::NO_KAFKA.into()))
}

/// Delivers what `reader` sends until it ends; then stops everything else.
async fn drive<T: Into<SourceBatch> + Send + 'static, R>(
    rx: mpsc::Receiver<T>,
    reader: tokio::task::JoinHandle<R>,
    writers: Vec<Box<dyn Writer>>,
    stop: CancellationToken,
    give_up: CancellationToken,
    metrics: Arc<Metrics>,
) -> Result<RunSummary, PipelineError> {
    // On the runtime's workers, not the thread that called `run` (a wake-up per event there).
    let delivery = tokio::spawn(deliver(rx, writers, metrics, give_up));
    let reader_done = {
        let stop = stop.clone();
        async move {
            let _ = reader.await;
            // A reader that ended by itself (one round) starts the shutdown timeout too.
            stop.cancel();
        }
    };
    let (result, ()) = tokio::join!(
        async {
            let r = delivery.await;
            // A failed writer stops the readers too.
            stop.cancel();
            r
        },
        reader_done
    );
    match result {
        Ok(r) => r,
        Err(e) => Err(PipelineError::Setup(format!(
            "the writers' task failed: {e}"
        ))),
    }
}

/// A token cancelled `timeout` after `stop` is: the end of the shutdown's time
/// (`SHUTDOWN_TIMEOUT`). Writers and sources stop retrying then.
pub fn give_up_after(stop: &CancellationToken, timeout: Duration) -> CancellationToken {
    let give_up = CancellationToken::new();
    let (stop, g) = (stop.clone(), give_up.clone());
    tokio::spawn(async move {
        stop.cancelled().await;
        tokio::time::sleep(timeout).await;
        if !g.is_cancelled() {
            tracing::warn!(
                timeout_s = timeout.as_secs_f64(),
                "shutdown timeout reached: giving up on what is not yet durable (it is not acknowledged)"
            );
        }
        g.cancel();
    });
    give_up
}

/// A token cancelled by the first SIGINT or SIGTERM; a second signal exits at once.
pub fn shutdown_on_signals() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!(
            "shutting down: finishing probes in flight and flushing writers (signal again to exit now)"
        );
        t.cancel();
        wait_for_signal().await;
        tracing::warn!("second signal: exiting without flushing");
        std::process::exit(130);
    });
    token
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
