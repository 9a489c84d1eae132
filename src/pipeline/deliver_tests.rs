use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::*;
use crate::ack::{AckStatus, Pending};
use crate::event::DummyEvent;
use crate::writers::dummy::DummyWriter;
use crate::writers::{Batching, Durable, WriteError, Writer};

fn events(n: usize) -> Vec<Event> {
    (0..n)
        .map(|i| DummyEvent::new("t", "r", i as i64, 0.0).into())
        .collect()
}

fn acked(n: usize) -> (SourceBatch, Pending) {
    let (ack, pending) = Ack::new();
    (
        SourceBatch {
            events: events(n),
            ack: Some(ack),
        },
        pending,
    )
}

/// Lets every task run until all wait (time is paused in these tests, so this is exact).
async fn settle() {
    tokio::time::sleep(Duration::from_secs(1)).await;
}

fn status(p: &mut Pending) -> Option<AckStatus> {
    use futures_util::FutureExt;
    p.now_or_never()
}

/// A writer whose batches become durable when the test says so.
struct Gated {
    name: &'static str,
    batching: Batching,
    in_flight: usize,
    writes: mpsc::UnboundedSender<(usize, oneshot::Sender<Result<(), WriteError>>)>,
}

type Writes = mpsc::UnboundedReceiver<(usize, oneshot::Sender<Result<(), WriteError>>)>;

fn gated(name: &'static str, max_events: usize, in_flight: usize) -> (Gated, Writes) {
    let (tx, rx) = mpsc::unbounded_channel();
    let w = Gated {
        name,
        batching: Batching {
            max_events,
            max_age: Duration::from_millis(100),
        },
        in_flight,
        writes: tx,
    };
    (w, rx)
}

#[async_trait::async_trait]
impl Writer for Gated {
    fn name(&self) -> &'static str {
        self.name
    }
    fn batching(&self) -> Batching {
        self.batching
    }
    fn in_flight(&self) -> usize {
        self.in_flight
    }
    async fn write(&mut self, batch: Vec<Event>) -> Result<Durable, WriteError> {
        let (tx, rx) = oneshot::channel();
        let _ = self.writes.send((batch.len(), tx));
        Ok(Box::pin(async move {
            rx.await
                .unwrap_or(Err(WriteError::ShutDown { writer: "gated" }))
        }))
    }
}

#[tokio::test(start_paused = true)]
async fn an_ack_resolves_only_once_every_writer_made_the_batch_durable() {
    let (tx, rx) = mpsc::channel::<SourceBatch>(16);
    let (slow, mut slow_writes) = gated("slow", 10, 1);
    let metrics: Arc<Metrics> = Arc::default();
    let task = tokio::spawn(deliver(
        rx,
        vec![Box::new(DummyWriter::default()), Box::new(slow)],
        metrics.clone(),
        CancellationToken::new(),
    ));
    let (batch, mut pending) = acked(10);
    tx.send(batch).await.unwrap();
    settle().await;
    let (n, durable) = slow_writes.recv().await.unwrap();
    assert_eq!(n, 10);
    assert_eq!(status(&mut pending), None, "the slow writer holds it");
    assert_eq!(metrics.writer("slow").acked.get(), 0);
    assert_eq!(metrics.writer("writers.dummy").acked.get(), 10);
    durable.send(Ok(())).unwrap();
    assert_eq!(pending.await, AckStatus::Delivered);
    assert_eq!(metrics.writer("slow").acked.get(), 10);
    drop(tx);
    assert_eq!(task.await.unwrap().unwrap().events, 10);
}

#[tokio::test(start_paused = true)]
async fn a_failing_writer_fails_the_ack_and_ends_delivery_with_its_error() {
    let (tx, rx) = mpsc::channel::<SourceBatch>(16);
    let (w, mut writes) = gated("failing", 10, 1);
    let task = tokio::spawn(deliver(
        rx,
        vec![Box::new(DummyWriter::default()), Box::new(w)],
        Arc::default(),
        CancellationToken::new(),
    ));
    let (batch, pending) = acked(10);
    tx.send(batch).await.unwrap();
    let (_, durable) = writes.recv().await.unwrap();
    durable
        .send(Err(WriteError::Fatal {
            writer: "failing",
            message: "gone".into(),
        }))
        .unwrap();
    assert_eq!(pending.await, AckStatus::Failed);
    let err = task.await.unwrap().unwrap_err();
    assert!(err.to_string().contains("gone"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn a_source_batch_split_across_two_writer_batches_resolves_once_both_are_durable() {
    let (tx, rx) = mpsc::channel::<SourceBatch>(16);
    let (w, mut writes) = gated("w", 6, 2);
    let task = tokio::spawn(deliver(
        rx,
        vec![Box::new(w)],
        Arc::default(),
        CancellationToken::new(),
    ));
    let (first, mut first_ack) = acked(4);
    let (second, mut second_ack) = acked(4);
    tx.send(first).await.unwrap();
    tx.send(second).await.unwrap();
    // 4 + 2 of the second fill the first writer batch; the second's other 2 wait for age.
    let (n1, d1) = writes.recv().await.unwrap();
    let (n2, d2) = writes.recv().await.unwrap();
    assert_eq!((n1, n2), (6, 2));
    d1.send(Ok(())).unwrap();
    settle().await;
    assert_eq!(status(&mut first_ack), Some(AckStatus::Delivered));
    assert_eq!(
        status(&mut second_ack),
        None,
        "half of it is not durable yet"
    );
    d2.send(Ok(())).unwrap();
    assert_eq!(second_ack.await, AckStatus::Delivered);
    drop(tx);
    let summary = task.await.unwrap().unwrap();
    assert_eq!((summary.events, summary.batches), (8, 2));
}

#[tokio::test(start_paused = true)]
async fn batches_in_flight_overlap_and_acks_resolve_in_order() {
    let (tx, rx) = mpsc::channel::<SourceBatch>(16);
    let (w, mut writes) = gated("w", 5, 2);
    let task = tokio::spawn(deliver(
        rx,
        vec![Box::new(w)],
        Arc::default(),
        CancellationToken::new(),
    ));
    let (a, mut a_ack) = acked(5);
    let (b, mut b_ack) = acked(5);
    let (c, mut c_ack) = acked(5);
    for batch in [a, b, c] {
        tx.send(batch).await.unwrap();
    }
    // Two writes are started before either is durable; the third waits for a slot.
    let (_, da) = writes.recv().await.unwrap();
    let (_, db) = writes.recv().await.unwrap();
    settle().await;
    assert!(
        writes.try_recv().is_err(),
        "at most in_flight writes pending"
    );
    // The second finishing first acknowledges nothing: acks resolve in order.
    db.send(Ok(())).unwrap();
    settle().await;
    assert_eq!(status(&mut a_ack), None);
    assert_eq!(status(&mut b_ack), None);
    da.send(Ok(())).unwrap();
    settle().await;
    assert_eq!(status(&mut a_ack), Some(AckStatus::Delivered));
    assert_eq!(status(&mut b_ack), Some(AckStatus::Delivered));
    let (_, dc) = writes.recv().await.unwrap();
    assert_eq!(status(&mut c_ack), None);
    dc.send(Ok(())).unwrap();
    assert_eq!(c_ack.await, AckStatus::Delivered);
    drop(tx);
    task.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn giving_up_fails_what_is_not_durable_and_ends_delivery() {
    let (tx, rx) = mpsc::channel::<SourceBatch>(16);
    let (w, mut writes) = gated("stuck", 5, 1);
    let give_up = CancellationToken::new();
    let task = tokio::spawn(deliver(
        rx,
        vec![Box::new(w)],
        Arc::default(),
        give_up.clone(),
    ));
    let (a, a_ack) = acked(5);
    let (b, b_ack) = acked(5);
    tx.send(a).await.unwrap();
    tx.send(b).await.unwrap();
    let (_, _never) = writes.recv().await.unwrap();
    give_up.cancel();
    assert_eq!(a_ack.await, AckStatus::Failed);
    assert_eq!(b_ack.await, AckStatus::Failed);
    // Giving up at shutdown is how a bounded shutdown ends, not a writer error.
    assert_eq!(task.await.unwrap().unwrap().events, 0);
    assert!(tx.send(acked(1).0).await.is_err(), "the queue is closed");
}

#[tokio::test]
async fn batches_by_size_and_delivers_everything_when_the_reader_ends() {
    let (tx, rx) = mpsc::channel::<Event>(CHANNEL_CAPACITY);
    let w = DummyWriter::default();
    let written = w.written.clone();
    let sender = tokio::spawn(async move {
        for e in events(2500) {
            tx.send(e).await.unwrap();
        }
    });
    let summary = deliver(
        rx,
        vec![Box::new(w)],
        Arc::default(),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    sender.await.unwrap();
    assert_eq!(summary.events, 2500);
    assert!(summary.batches >= 3);
    assert_eq!(written.load(Ordering::Relaxed), 2500);
}

#[tokio::test]
async fn fans_out_every_event_to_every_writer() {
    let (tx, rx) = mpsc::channel::<Event>(16);
    let (a, b) = (DummyWriter::default(), DummyWriter::default());
    let (wa, wb) = (a.written.clone(), b.written.clone());
    let task = tokio::spawn(deliver(
        rx,
        vec![Box::new(a), Box::new(b)],
        Arc::default(),
        CancellationToken::new(),
    ));
    for e in events(3000) {
        tx.send(e).await.unwrap();
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
    async fn write(&mut self, _: Vec<Event>) -> Result<Durable, WriteError> {
        Err(WriteError::Fatal {
            writer: "broken",
            message: "gone".into(),
        })
    }
}

#[tokio::test]
async fn a_fatal_writer_error_ends_delivery_with_that_error() {
    let (tx, rx) = mpsc::channel::<Event>(16);
    let task = tokio::spawn(deliver(
        rx,
        vec![Box::new(DummyWriter::default()), Box::new(Broken)],
        Arc::default(),
        CancellationToken::new(),
    ));
    let sender = tokio::spawn(async move {
        for i in 0..100_000 {
            if tx.send(events(1).remove(0)).await.is_err() {
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
    let (tx, rx) = mpsc::channel::<Event>(16);
    let w = DummyWriter::default();
    let written = w.written.clone();
    let task = tokio::spawn(deliver(
        rx,
        vec![Box::new(w)],
        Arc::default(),
        CancellationToken::new(),
    ));
    tx.send(events(1).remove(0)).await.unwrap();
    tokio::time::sleep(Batching::default().max_age * 2).await;
    assert_eq!(written.load(Ordering::Relaxed), 1);
    drop(tx);
    assert_eq!(task.await.unwrap().unwrap().events, 1);
}
