//! The pipeline: readers send events into a bounded channel (back-pressure, never unbounded
//! memory); a batcher hands batches (by size or age) to every writer; SIGINT/SIGTERM stops the
//! readers, drains what was already probed and flushes the writers.

pub mod scheduler;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::{ReaderPlugin, Settings};
use crate::event::Event;
use crate::readers;
use crate::readers::probes::HttpProber;
use crate::writers::{WriteError, Writer};

pub use scheduler::SchedulerStats;

/// Events buffered between readers and writers.
pub const CHANNEL_CAPACITY: usize = 8192;
/// A batch is written when it holds this many events...
pub const BATCH_SIZE: usize = 1000;
/// ...or when its first event is this old.
pub const BATCH_AGE: Duration = Duration::from_millis(100);

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
/// or `stop` is cancelled.
pub async fn run(
    settings: &Settings,
    writers: Vec<Writer>,
    stop: CancellationToken,
    stats: Arc<SchedulerStats>,
) -> Result<RunSummary, PipelineError> {
    let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
    let reader = match settings.reader {
        ReaderPlugin::HttpProbe => {
            let prober = HttpProber::new(&settings.probe).map_err(PipelineError::Setup)?;
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
    };
    let result = write_all(rx, writers).await;
    // A failed writer stops the readers too.
    stop.cancel();
    let _ = reader.await;
    result
}

/// Drains `rx` into the writers in batches until every sender is gone; then closes them.
pub async fn write_all(
    mut rx: mpsc::Receiver<Event>,
    mut writers: Vec<Writer>,
) -> Result<RunSummary, PipelineError> {
    let mut summary = RunSummary::default();
    let mut batch: Vec<Event> = Vec::with_capacity(BATCH_SIZE);
    loop {
        let Some(first) = rx.recv().await else { break };
        batch.push(first);
        let deadline = tokio::time::Instant::now() + BATCH_AGE;
        while batch.len() < BATCH_SIZE {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(e)) => batch.push(e),
                Ok(None) | Err(_) => break,
            }
        }
        for w in &mut writers {
            w.write(&batch).await?;
        }
        summary.events += batch.len() as u64;
        summary.batches += 1;
        batch.clear();
    }
    for w in &mut writers {
        w.close().await?;
    }
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
        let summary = write_all(rx, vec![Writer::Dummy(w)]).await.unwrap();
        sender.await.unwrap();
        assert_eq!(summary.events, 2500);
        assert!(summary.batches >= 3);
        assert_eq!(written.load(Ordering::Relaxed), 2500);
    }

    #[tokio::test(start_paused = true)]
    async fn a_partial_batch_is_written_after_batch_age() {
        let (tx, rx) = mpsc::channel(16);
        let w = DummyWriter::default();
        let written = w.written.clone();
        let task = tokio::spawn(write_all(rx, vec![Writer::Dummy(w)]));
        tx.send(DummyEvent::new("t", "r", 1, 0.0).into())
            .await
            .unwrap();
        tokio::time::sleep(BATCH_AGE * 2).await;
        assert_eq!(written.load(Ordering::Relaxed), 1);
        drop(tx);
        assert_eq!(task.await.unwrap().unwrap().events, 1);
    }
}
