//! The push targets' events into the pipeline: what [`PushBoard`] makes of pushes and missed
//! deadlines passes through here, as the scheduler's probe results do through it, so that
//! metrics count them and the log tells their verdict changes before the writers get them.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::scheduler::SchedulerStats;
use super::verdicts::{self, Verdicts};
use crate::config::{Check, EventFormat, Target};
use crate::event::{Event, ProbeEvent};
use crate::readers::push::PushBoard;

/// A push board and the receiving end of its events, handed to [`super::run`] by `serve`.
pub struct PushFeed {
    pub board: Arc<PushBoard>,
    pub events: mpsc::Receiver<ProbeEvent>,
}

/// Whether a target is pushed to rather than probed.
pub fn is_push(t: &Target) -> bool {
    matches!(t.check, Check::Push(_))
}

/// Watches the board's deadlines and forwards its events to `tx` until `stop` is cancelled;
/// then forwards what was already made.
pub async fn run(
    feed: PushFeed,
    targets: &[Target],
    format: EventFormat,
    tx: mpsc::Sender<Event>,
    stop: CancellationToken,
    stats: Arc<SchedulerStats>,
) {
    let PushFeed { board, mut events } = feed;
    let watch = tokio::spawn(board.watch(stop.clone()));
    let mut known: HashMap<&str, (&Target, Verdicts)> = targets
        .iter()
        .filter(|t| is_push(t))
        .map(|t| (t.id.as_str(), (t, Verdicts::default())))
        .collect();
    loop {
        let e = tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            e = events.recv() => e,
        };
        let Some(e) = e else { break };
        if !forward(e, &mut known, &stats, format, &tx).await {
            break;
        }
    }
    let _ = watch.await;
    // Pushes taken before the stop are delivered, not lost.
    while let Ok(e) = events.try_recv() {
        if !forward(e, &mut known, &stats, format, &tx).await {
            break;
        }
    }
}

/// Counts and tells one event, then hands it on; false when the pipeline is gone.
async fn forward(
    e: ProbeEvent,
    known: &mut HashMap<&str, (&Target, Verdicts)>,
    stats: &SchedulerStats,
    format: EventFormat,
    tx: &mpsc::Sender<Event>,
) -> bool {
    stats.took(&e);
    if let Some((target, v)) = e.target.as_deref().and_then(|id| known.get_mut(id))
        && let Some(change) = v.observe(&e)
    {
        verdicts::tell(change, target, Some(&e));
    }
    let e = match format {
        EventFormat::Current => Event::from(e),
        EventFormat::Original => Event::from(e.to_original()),
    };
    tx.send(e).await.is_ok()
}
