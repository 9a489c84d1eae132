//! `readers.dummy`: synthetic events at the probe interval, for testing pipelines and writers.

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::Interval;
use crate::event::{DummyEvent, Event};

/// Sends one `DummyEvent` per interval (one in all for `Interval::Once`) until cancelled.
pub async fn run(
    interval: Interval,
    target: String,
    tx: mpsc::Sender<Event>,
    stop: CancellationToken,
) {
    let mut n: i64 = 0;
    loop {
        let event = DummyEvent::new(&target, "readers.dummy", n, n as f64 / 2.0);
        if tx.send(event.into()).await.is_err() {
            return;
        }
        n += 1;
        let Interval::Every(period) = interval else {
            return;
        };
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(period) => {}
        }
    }
}
