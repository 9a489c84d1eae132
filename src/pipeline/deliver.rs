//! Delivery, once for every source and writer: source batches fan out to one task per writer;
//! each task cuts batches by its writer's own [`Batching`], keeps up to the writer's
//! `in_flight` writes pending, and resolves the acknowledgements they carry in order as the
//! writes become durable. A source batch is acknowledged once every writer made it durable
//! (each writer batch holding part of it holds a share of its [`Ack`]).

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use futures_util::StreamExt;
use futures_util::stream::FuturesOrdered;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{CHANNEL_CAPACITY, PipelineError, RunSummary};
use crate::ack::{Ack, SourceBatch};
use crate::event::Event;
use crate::metrics::{Metrics, WriterMetrics};
use crate::writers::{Batching, WriteError, Writer};

/// Drains `rx` into every writer until all senders are gone; then closes the writers. Each
/// writer gets its own bounded queue and task, so one writer's batching does not hold up
/// another's; the slowest one sets the pace (back-pressure, never unbounded memory).
/// `give_up` (the end of the shutdown timeout) makes every writer stop waiting: what is not
/// durable by then is not acknowledged. Each writer's batches, latency, queue depth and
/// acknowledged events go to its series in `metrics`.
pub async fn deliver<T: Into<SourceBatch> + Send + 'static>(
    mut rx: mpsc::Receiver<T>,
    mut writers: Vec<Box<dyn Writer>>,
    metrics: Arc<Metrics>,
    give_up: CancellationToken,
) -> Result<RunSummary, PipelineError> {
    if writers.len() == 1 {
        let w = writers.pop().expect("one writer");
        let m = metrics.writer(w.name());
        return write_batches(rx, w, m, give_up).await;
    }
    let mut queues = Vec::with_capacity(writers.len());
    let mut tasks = Vec::with_capacity(writers.len());
    // Cancelled when a writer stops early, so delivery ends even while the source is idle.
    let stopped = CancellationToken::new();
    for w in writers {
        let (tx, rx) = mpsc::channel::<SourceBatch>(CHANNEL_CAPACITY);
        queues.push(tx);
        let (stopped, give_up) = (stopped.clone(), give_up.clone());
        let m = metrics.writer(w.name());
        tasks.push(tokio::spawn(async move {
            let _stopped = stopped.drop_guard();
            write_batches(rx, w, m, give_up).await
        }));
    }
    loop {
        let item = tokio::select! {
            biased;
            _ = stopped.cancelled() => break,
            item = rx.recv() => item,
        };
        let Some(item) = item else { break };
        let SourceBatch { events, ack } = item.into();
        let last = queues.len() - 1;
        let mut events = Some(events);
        for (i, q) in queues.iter().enumerate() {
            // Every writer but the last gets a copy; each holds its own share of the ack.
            let piece = SourceBatch {
                events: if i == last {
                    events.take().unwrap_or_default()
                } else {
                    events.clone().unwrap_or_default()
                },
                ack: ack.as_ref().map(Ack::share),
            };
            if q.send(piece).await.is_err() {
                // That writer stopped; its error is collected below.
                break;
            }
        }
        if let Some(a) = ack {
            // The writers' shares decide now.
            a.delivered();
        }
    }
    drop(queues);
    drop(rx);
    let mut summary = RunSummary::default();
    let mut first_error = None;
    for task in tasks {
        match task.await {
            Ok(Ok(s)) => {
                summary.events = summary.events.max(s.events);
                summary.batches += s.batches;
            }
            Ok(Err(e)) => {
                first_error.get_or_insert(e);
            }
            Err(e) => {
                first_error.get_or_insert(PipelineError::Setup(format!("writer task failed: {e}")));
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(summary),
    }
}

/// What a write in flight resolves with.
struct Written {
    outcome: Result<(), WriteError>,
    acks: Vec<Ack>,
    events: usize,
    started: std::time::Instant,
}

type InFlight = Pin<Box<dyn Future<Output = Written> + Send>>;

/// One writer's batch being filled.
struct Filling {
    events: Vec<Event>,
    acks: Vec<Ack>,
    /// When the batch is due even if not full: its first event's arrival plus `max_age`.
    due: Option<Instant>,
}

impl Filling {
    /// Takes as much of `piece` as fits under `max`; returns the rest.
    fn take(
        &mut self,
        mut piece: SourceBatch,
        max: usize,
        batching: &Batching,
    ) -> Option<SourceBatch> {
        if piece.events.is_empty() {
            if let Some(a) = piece.ack {
                // Nothing to make durable for this writer.
                a.delivered();
            }
            return None;
        }
        if self.events.is_empty() {
            self.due = Some(Instant::now() + batching.max_age);
        }
        let room = max - self.events.len();
        if piece.events.len() <= room {
            if self.events.is_empty() {
                self.events = piece.events;
            } else {
                self.events.append(&mut piece.events);
            }
            self.acks.extend(piece.ack);
            return None;
        }
        let rest = piece.events.split_off(room);
        self.events.append(&mut piece.events);
        if let Some(a) = &piece.ack {
            self.acks.push(a.share());
        }
        Some(SourceBatch {
            events: rest,
            ack: piece.ack,
        })
    }
}

/// Cuts batches for one writer, by its own size and age limits; keeps up to `in_flight` of them
/// being written; acknowledges them in order as they become durable.
async fn write_batches<T: Into<SourceBatch>>(
    mut rx: mpsc::Receiver<T>,
    mut writer: Box<dyn Writer>,
    m: WriterMetrics,
    give_up: CancellationToken,
) -> Result<RunSummary, PipelineError> {
    let batching = writer.batching();
    let max = batching.max_events.max(1);
    let in_flight = writer.in_flight().max(1);
    let name = writer.name();
    let mut pending: FuturesOrdered<InFlight> = FuturesOrdered::new();
    let mut pending_events: VecDeque<usize> = VecDeque::new();
    let mut filling = Filling {
        events: Vec::new(),
        acks: Vec::new(),
        due: None,
    };
    let mut carry: Option<SourceBatch> = None;
    let mut open = true;
    let mut summary = RunSummary::default();
    let queued = |filling: &Filling, pending: &VecDeque<usize>| {
        (filling.events.len() + pending.iter().sum::<usize>()) as u64
    };
    let result: Result<(), WriteError> = loop {
        if filling.events.len() < max
            && let Some(piece) = carry.take()
        {
            carry = filling.take(piece, max, &batching);
        }
        let full = filling.events.len() >= max;
        let expired = filling.due.is_some_and(|d| d <= Instant::now());
        let due = !filling.events.is_empty() && (full || expired || (!open && carry.is_none()));
        if due && pending.len() < in_flight {
            let events = std::mem::take(&mut filling.events);
            let acks = std::mem::take(&mut filling.acks);
            filling.due = None;
            let n = events.len();
            let started = std::time::Instant::now();
            let durable = tokio::select! {
                biased;
                _ = give_up.cancelled() => break Err(WriteError::ShutDown { writer: name }),
                d = writer.write(events) => d,
            };
            match durable {
                Ok(durable) => {
                    pending.push_back(Box::pin(async move {
                        Written {
                            outcome: durable.await,
                            acks,
                            events: n,
                            started,
                        }
                    }));
                    pending_events.push_back(n);
                    m.queue_depth.set(queued(&filling, &pending_events));
                }
                // The acks fail as they drop.
                Err(e) => break Err(e),
            }
            continue;
        }
        if !open && filling.events.is_empty() && carry.is_none() && pending.is_empty() {
            break Ok(());
        }
        let wait_for_age = filling.due.filter(|d| *d > Instant::now() && !full);
        tokio::select! {
            biased;
            _ = give_up.cancelled() => break Err(WriteError::ShutDown { writer: name }),
            Some(written) = pending.next(), if !pending.is_empty() => {
                pending_events.pop_front();
                if let Err(e) = written.outcome {
                    break Err(e);
                }
                for a in written.acks {
                    a.delivered();
                }
                let n = written.events as u64;
                m.batch_seconds.observe(written.started.elapsed().as_secs_f64());
                m.batches.inc();
                m.acked.add(n);
                m.queue_depth.set(queued(&filling, &pending_events));
                summary.events += n;
                summary.batches += 1;
            }
            item = rx.recv(), if open && carry.is_none() && !full => match item {
                Some(item) => carry = filling.take(item.into(), max, &batching),
                None => open = false,
            },
            _ = tokio::time::sleep_until(wait_for_age.unwrap_or_else(Instant::now)), if wait_for_age.is_some() => {}
        }
    };
    if let Err(e) = &result {
        if !matches!(e, WriteError::ShutDown { .. }) {
            m.errors.inc();
            m.failed();
        }
        // What is still queued or pending will not be acknowledged by this writer; dropping
        // it fails the acks it carries. Stop the sources feeding us first.
        rx.close();
        let lost =
            queued(&filling, &pending_events) + carry.as_ref().map_or(0, |c| c.events.len() as u64);
        drop(pending);
        tracing::warn!(writer = name, error = %e, not_acknowledged = lost, "writer stopped");
    }
    let closed = writer.close().await;
    match (result, closed) {
        (Err(WriteError::ShutDown { .. }), Ok(())) => Ok(summary),
        (Err(e), _) | (Ok(()), Err(e)) => Err(e.into()),
        (Ok(()), Ok(())) => Ok(summary),
    }
}

#[cfg(test)]
#[path = "deliver_tests.rs"]
mod tests;
