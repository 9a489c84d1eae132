//! `readers.dummy`: synthetic events at the probe interval, for testing pipelines and writers.

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::Interval;
use crate::event::{DummyEvent, Event};
use crate::metrics::Count;

/// The reader's label in the reader metrics.
pub const NAME: &str = "readers.dummy";

/// Sends one `DummyEvent` per interval (one in all for `Interval::Once`) until cancelled,
/// counting each in `events`.
pub async fn run(
    interval: Interval,
    target: String,
    tx: mpsc::Sender<Event>,
    events: Count,
    stop: CancellationToken,
) {
    let mut n: i64 = 0;
    loop {
        let event = DummyEvent::new(&target, NAME, n, n as f64 / 2.0);
        events.inc();
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
