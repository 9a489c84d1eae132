//! Acknowledgements, in the manner of Vector's end-to-end acknowledgements: a source hands the
//! pipeline a batch of events with an [`Ack`]; every writer batch that carries some of those
//! events holds a share of it, and the source's [`Pending`] resolves once every share has been
//! marked delivered ([`AckStatus::Delivered`]) or as soon as the last share is gone when any of
//! them failed or was dropped unresolved ([`AckStatus::Failed`]). A share that is dropped
//! without a verdict (a writer task that stopped, a queue dropped at shutdown) counts as failed,
//! so nothing is acknowledged by accident.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use tokio::sync::oneshot;

use crate::event::Event;

/// How a source batch ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckStatus {
    /// Every writer made every event of the batch durable.
    Delivered,
    /// A writer failed or shut down before it had: the source must not consider the events
    /// stored (a Kafka source does not store their offsets).
    Failed,
}

/// What every share points to; its drop (the last share gone) sends the verdict.
struct Shared {
    failed: AtomicBool,
    tx: Option<oneshot::Sender<AckStatus>>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        if let Some(tx) = self.tx.take() {
            let status = if self.failed.load(Ordering::Acquire) {
                AckStatus::Failed
            } else {
                AckStatus::Delivered
            };
            // The source may have stopped waiting; then nobody needs the verdict.
            let _ = tx.send(status);
        }
    }
}

/// One share of a source batch's acknowledgement. Mark it [`Ack::delivered`] once the events it
/// covers are durable; dropping it unresolved, or [`Ack::failed`], fails the whole batch.
pub struct Ack {
    shared: Arc<Shared>,
    resolved: bool,
}

impl std::fmt::Debug for Ack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ack")
            .field("shares", &Arc::strong_count(&self.shared))
            .field("failed", &self.shared.failed.load(Ordering::Relaxed))
            .finish()
    }
}

impl Ack {
    /// A new acknowledgement (its first share) and what the source awaits.
    pub fn new() -> (Ack, Pending) {
        let (tx, rx) = oneshot::channel();
        let shared = Arc::new(Shared {
            failed: AtomicBool::new(false),
            tx: Some(tx),
        });
        (
            Ack {
                shared,
                resolved: false,
            },
            Pending(rx),
        )
    }

    /// Another share of the same acknowledgement (for another writer, or another writer batch).
    pub fn share(&self) -> Ack {
        Ack {
            shared: self.shared.clone(),
            resolved: false,
        }
    }

    /// The events this share covers are durable.
    pub fn delivered(mut self) {
        self.resolved = true;
    }

    /// The events this share covers will not be made durable: the batch fails.
    pub fn failed(self) {
        // Dropping an unresolved share does exactly that.
        drop(self)
    }
}

impl Drop for Ack {
    fn drop(&mut self) {
        if !self.resolved {
            self.shared.failed.store(true, Ordering::Release);
        }
    }
}

/// The verdict a source awaits.
#[derive(Debug)]
pub struct Pending(oneshot::Receiver<AckStatus>);

impl Future for Pending {
    type Output = AckStatus;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<AckStatus> {
        // The sender always sends before it is dropped; a closed channel cannot say "delivered".
        Pin::new(&mut self.0)
            .poll(cx)
            .map(|r| r.unwrap_or(AckStatus::Failed))
    }
}

/// What a source hands the pipeline: events, and the acknowledgement to resolve once every
/// writer made them durable (`None` when the source cannot replay and so needs no answer).
#[derive(Debug, Default)]
pub struct SourceBatch {
    pub events: Vec<Event>,
    pub ack: Option<Ack>,
}

impl SourceBatch {
    /// One event with no acknowledgement (a prober's result).
    pub fn single(event: Event) -> SourceBatch {
        SourceBatch {
            events: vec![event],
            ack: None,
        }
    }
}

impl From<Event> for SourceBatch {
    fn from(event: Event) -> Self {
        SourceBatch::single(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now(p: &mut Pending) -> Option<AckStatus> {
        p.0.try_recv().ok()
    }

    #[test]
    fn delivered_only_once_every_share_is_delivered() {
        let (ack, mut pending) = Ack::new();
        let (a, b) = (ack.share(), ack.share());
        ack.delivered();
        a.delivered();
        assert_eq!(now(&mut pending), None, "one share still out");
        b.delivered();
        assert_eq!(now(&mut pending), Some(AckStatus::Delivered));
    }

    #[test]
    fn one_failed_or_dropped_share_fails_the_batch_once_all_are_back() {
        let (ack, mut pending) = Ack::new();
        let other = ack.share();
        ack.failed();
        assert_eq!(now(&mut pending), None, "waits for the other share");
        other.delivered();
        assert_eq!(now(&mut pending), Some(AckStatus::Failed));

        let (ack, pending) = Ack::new();
        drop(ack);
        let status = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(pending);
        assert_eq!(status, AckStatus::Failed);
    }
}
