//! The pipeline: readers send events into a bounded channel (back-pressure, never unbounded
//! memory); a batcher hands batches (by size or age) to every writer; SIGINT/SIGTERM stops the
//! readers, drains what was already probed and flushes the writers.

#[cfg(feature = "kafka")]
pub mod consume;
pub mod scheduler;
mod verdicts;

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::{ReaderPlugin, Settings};
use crate::event::Event;
use crate::metrics::{Metrics, WriterMetrics};
use crate::readers;
use crate::readers::probes::HttpProber;
use crate::writers::{Batching, WriteError, Writer};

pub use scheduler::SchedulerStats;

/// Events buffered between readers and writers (and again in front of each writer when
/// several fan out).
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

/// Starts the configured reader, feeding `writers`, until the reader ends (`PROBE_INTERVAL=-1`)
/// or `stop` is cancelled. A run that fails marks the pipeline stopped for `/healthz`.
pub async fn run(
    settings: &Settings,
    writers: Vec<Box<dyn Writer>>,
    stop: CancellationToken,
    stats: Arc<SchedulerStats>,
    metrics: Arc<Metrics>,
) -> Result<RunSummary, PipelineError> {
    let result = if settings.reader == ReaderPlugin::Kafka {
        // The consumer drives the writers itself: it commits offsets only after they wrote.
        #[cfg(feature = "kafka")]
        let r = consume::run(settings, writers, stop, metrics.clone()).await;
        #[cfg(not(feature = "kafka"))]
        let r = Err(PipelineError::Setup(crate::NO_KAFKA.into()));
        r
    } else {
        run_reader(settings, writers, stop, stats, metrics.clone()).await
    };
    if result.is_err() {
        metrics.readiness.stop();
    }
    result
}

async fn run_reader(
    settings: &Settings,
    writers: Vec<Box<dyn Writer>>,
    stop: CancellationToken,
    stats: Arc<SchedulerStats>,
    metrics: Arc<Metrics>,
) -> Result<RunSummary, PipelineError> {
    let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
    let reader = match settings.reader {
        ReaderPlugin::HttpProbe => {
            let prober = HttpProber::new(&settings.probe)
                .map_err(|e| PipelineError::Setup(e.to_string()))?;
            for t in &settings.targets {
                prober.check_tls(t).map_err(|e| {
                    PipelineError::Setup(format!("PROBE_TLS_VERIFY for {}: {e}", t.name))
                })?;
            }
            tokio::spawn(scheduler::run(
                Arc::new(prober),
                settings.targets.clone(),
                settings.probe.concurrency,
                settings.event_format,
                tx,
                stop.clone(),
                stats,
            ))
        }
        ReaderPlugin::Dummy => tokio::spawn(readers::dummy::run(
            settings.defaults.interval,
            settings.writers.first().map_or("", |w| w.name()).to_owned(),
            tx,
            stop.clone(),
        )),
        ReaderPlugin::Kafka => unreachable!("handled above"),
    };
    // On the runtime's workers, not the thread that called `run` (a wake-up per event there).
    let result = match tokio::spawn(deliver(rx, writers, metrics)).await {
        Ok(r) => r,
        Err(e) => Err(PipelineError::Setup(format!(
            "the writers' task failed: {e}"
        ))),
    };
    // A failed writer stops the readers too.
    stop.cancel();
    let _ = reader.await;
    result
}

/// Drains `rx` into every writer until all senders are gone; then closes the writers. With
/// several writers each gets its own bounded queue and task, so one writer's batching does not
/// hold up another's; the slowest one sets the pace (back-pressure, never unbounded memory).
/// Each writer's batches, latency, queue depth and acknowledged events go to its series in
/// `metrics`.
pub async fn deliver(
    mut rx: mpsc::Receiver<Event>,
    mut writers: Vec<Box<dyn Writer>>,
    metrics: Arc<Metrics>,
) -> Result<RunSummary, PipelineError> {
    if writers.len() == 1 {
        let w = writers.pop().expect("one writer");
        let m = metrics.writer(w.name());
        return write_batches(rx, w, m).await;
    }
    let mut queues = Vec::with_capacity(writers.len());
    let mut tasks = Vec::with_capacity(writers.len());
    for w in writers {
        let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
        queues.push(tx);
        let m = metrics.writer(w.name());
        tasks.push(tokio::spawn(write_batches(rx, w, m)));
    }
    'events: while let Some(event) = rx.recv().await {
        for q in &queues {
            if q.send(event.clone()).await.is_err() {
                // That writer failed; its error is collected below.
                break 'events;
            }
        }
    }
    drop(queues);
    let mut summary = RunSummary::default();
    for task in tasks {
        let s = task
            .await
            .map_err(|e| PipelineError::Setup(format!("writer task failed: {e}")))??;
        summary.events = summary.events.max(s.events);
        summary.batches += s.batches;
    }
    Ok(summary)
}

/// Cuts batches for one writer, by its own size and age limits.
async fn write_batches(
    mut rx: mpsc::Receiver<Event>,
    mut writer: Box<dyn Writer>,
    m: WriterMetrics,
) -> Result<RunSummary, PipelineError> {
    let Batching {
        max_events,
        max_age,
    } = writer.batching();
    let mut summary = RunSummary::default();
    let mut batch: Vec<Event> = Vec::with_capacity(max_events.min(CHANNEL_CAPACITY));
    while let Some(first) = rx.recv().await {
        batch.push(first);
        let deadline = tokio::time::Instant::now() + max_age;
        while batch.len() < max_events {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(e)) => batch.push(e),
                Ok(None) | Err(_) => break,
            }
        }
        m.queue_depth.set((rx.len() + batch.len()) as u64);
        let started = std::time::Instant::now();
        if let Err(e) = writer.write(&batch).await {
            m.errors.inc();
            m.failed();
            return Err(e.into());
        }
        m.batch_seconds.observe(started.elapsed().as_secs_f64());
        m.batches.inc();
        m.acked.add(batch.len() as u64);
        m.queue_depth.set(rx.len() as u64);
        summary.events += batch.len() as u64;
        summary.batches += 1;
        batch.clear();
    }
    writer.close().await?;
    Ok(summary)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::DummyEvent;
    use crate::writers::dummy::DummyWriter;
    use std::sync::atomic::Ordering;

    #[tokio::test]
    async fn batches_by_size_and_delivers_everything_when_the_reader_ends() {
        let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
        let w = DummyWriter::default();
        let written = w.written.clone();
        let sender = tokio::spawn(async move {
            for i in 0..2500 {
                tx.send(DummyEvent::new("t", "r", i, 0.0).into())
                    .await
                    .unwrap();
            }
        });
        let summary = deliver(rx, vec![Box::new(w)], Arc::default())
            .await
            .unwrap();
        sender.await.unwrap();
        assert_eq!(summary.events, 2500);
        assert!(summary.batches >= 3);
        assert_eq!(written.load(Ordering::Relaxed), 2500);
    }

    #[tokio::test]
    async fn fans_out_every_event_to_every_writer() {
        let (tx, rx) = mpsc::channel(16);
        let (a, b) = (DummyWriter::default(), DummyWriter::default());
        let (wa, wb) = (a.written.clone(), b.written.clone());
        let task = tokio::spawn(deliver(rx, vec![Box::new(a), Box::new(b)], Arc::default()));
        for i in 0..3000 {
            tx.send(DummyEvent::new("t", "r", i, 0.0).into())
                .await
                .unwrap();
        }
        drop(tx);
        assert_eq!(task.await.unwrap().unwrap().events, 3000);
        assert_eq!(
            (wa.load(Ordering::Relaxed), wb.load(Ordering::Relaxed)),
            (3000, 3000)
        );
    }

    struct Broken;

    #[async_trait::async_trait]
    impl Writer for Broken {
        fn name(&self) -> &'static str {
            "broken"
        }
        async fn write(&mut self, _: &[Event]) -> Result<(), WriteError> {
            Err(WriteError::Fatal {
                writer: "broken",
                message: "gone".into(),
            })
        }
    }

    #[tokio::test]
    async fn a_fatal_writer_error_ends_delivery_with_that_error() {
        let (tx, rx) = mpsc::channel(16);
        let task = tokio::spawn(deliver(
            rx,
            vec![Box::new(DummyWriter::default()), Box::new(Broken)],
            Arc::default(),
        ));
        let sender = tokio::spawn(async move {
            for i in 0..100_000 {
                if tx
                    .send(DummyEvent::new("t", "r", i, 0.0).into())
                    .await
                    .is_err()
                {
                    return i;
                }
            }
            100_000
        });
        let err = task.await.unwrap().unwrap_err();
        assert!(err.to_string().contains("gone"), "{err}");
        assert!(sender.await.unwrap() < 100_000);
    }

    #[tokio::test(start_paused = true)]
    async fn a_partial_batch_is_written_after_batch_age() {
        let (tx, rx) = mpsc::channel(16);
        let w = DummyWriter::default();
        let written = w.written.clone();
        let task = tokio::spawn(deliver(rx, vec![Box::new(w)], Arc::default()));
        tx.send(DummyEvent::new("t", "r", 1, 0.0).into())
            .await
            .unwrap();
        tokio::time::sleep(Batching::default().max_age * 2).await;
        assert_eq!(written.load(Ordering::Relaxed), 1);
        drop(tx);
        assert_eq!(task.await.unwrap().unwrap().events, 1);
    }
}
