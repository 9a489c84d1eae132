//! The outbox worker: it keeps up to [`PER_CHANNEL`] notifications of each channel in flight
//! (so a slow or hanging provider holds up only its own channel), takes more from the outbox
//! as sends finish (and every [`POLL`]), and records outcomes in batches: one transaction for
//! up to [`FLUSH_AT`] outcomes, at most [`FLUSH_AFTER`] after the first. A notification stays
//! "busy" from when it is taken until its outcome is recorded, so it is never taken twice. It
//! stops when told, after recording what finished; what was still being sent stays in the
//! outbox and goes out after the restart.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::links::Links;
use super::{request, send};
use crate::config::alerting::{Channel, LiveAlerting};
use crate::metrics::Metrics;
use crate::store::alerts::{AlertStore, Delivery, Outgoing};
use crate::store::now_micros;

/// How often the outbox is read when nothing finished in between.
pub const POLL: Duration = Duration::from_millis(500);
/// Notifications of one channel sent at once.
const PER_CHANNEL: usize = 16;
/// Sends that finish before the outbox is read again early.
const REFILL_AT: usize = 8;
/// Outcomes recorded in one transaction at most.
const FLUSH_AT: usize = 64;
/// The longest an outcome waits to be recorded.
const FLUSH_AFTER: Duration = Duration::from_millis(100);
/// How often the outbox's gauges are read.
const GAUGES_EVERY: Duration = Duration::from_secs(5);

/// Starts the worker for `store`'s outbox (SQLite's or PostgreSQL's); it runs until `stop`,
/// sending through the channels `channels` holds at each read (a reload replaces them). With
/// `links`, triggers and reminders carry their incident's acknowledgement link.
pub fn spawn(
    store: Arc<dyn AlertStore>,
    channels: LiveAlerting,
    links: Option<Links>,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
) -> Option<tokio::task::JoinHandle<()>> {
    let client = match send::client() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("alerting is off: {e}");
            return None;
        }
    };
    let worker = Worker {
        store,
        channels,
        client,
        links,
        metrics,
    };
    Some(tokio::spawn(
        async move { Arc::new(worker).run(stop).await },
    ))
}

struct Worker {
    store: Arc<dyn AlertStore>,
    channels: LiveAlerting,
    client: reqwest::Client,
    links: Option<Links>,
    metrics: Arc<Metrics>,
}

/// What the worker holds between reads of the outbox.
#[derive(Default)]
struct Busy {
    /// Taken and not yet recorded (in flight, or in `done`).
    ids: HashSet<i64>,
    /// In flight per channel, and which notification each send task carries.
    sending: HashMap<String, usize>,
    tasks: HashMap<tokio::task::Id, (i64, String)>,
    /// Finished, waiting to be recorded, and since when the oldest waits.
    done: Vec<(i64, Delivery)>,
    done_since: Option<Instant>,
    /// After a failed recording: not tried again before this.
    hold_until: Option<Instant>,
    /// While reading the outbox fails: when that was last logged.
    unreadable: Option<Instant>,
}

impl Busy {
    /// A send task ended: its notification waits to be recorded.
    fn finished(&mut self, task: tokio::task::Id, delivery: Option<Delivery>) {
        let Some((id, channel)) = self.tasks.remove(&task) else {
            return;
        };
        if let Some(n) = self.sending.get_mut(&channel) {
            *n = n.saturating_sub(1);
        }
        match delivery {
            Some(d) => {
                self.done.push((id, d));
                self.done_since.get_or_insert_with(Instant::now);
            }
            // The task failed: the notification stays pending and is taken again.
            None => {
                self.ids.remove(&id);
            }
        }
    }

    /// Whether some channel has all its slots in use (more may be due for it).
    fn some_channel_full(&self) -> bool {
        self.sending.values().any(|n| *n >= PER_CHANNEL)
    }
}

impl Worker {
    /// Sends run as tasks of their own, so they go on while the worker reads or writes the
    /// store.
    async fn run(self: Arc<Self>, stop: CancellationToken) {
        let mut in_flight: JoinSet<Delivery> = JoinSet::new();
        let mut busy = Busy::default();
        let mut next_read = Instant::now();
        let mut gauges_at = Instant::now();
        // Whether more may be due than the last read took, and how many sends finished since.
        let (mut more, mut finished) = (false, 0usize);
        loop {
            if gauges_at.elapsed() >= GAUGES_EVERY {
                self.update_gauges().await;
                gauges_at = Instant::now();
            }
            let held = busy.hold_until.is_some_and(|t| Instant::now() < t);
            let flush_due = busy
                .done_since
                .is_some_and(|t| t.elapsed() >= FLUSH_AFTER || in_flight.is_empty());
            if !held && (busy.done.len() >= FLUSH_AT || flush_due) {
                self.record(&mut busy).await;
            }
            let now = Instant::now();
            let polled = now >= next_read;
            if polled || (more && (finished >= REFILL_AT || in_flight.is_empty())) {
                finished = 0;
                let channels = self.channels.channels();
                let taken = self.take(&channels, &mut busy, polled).await;
                more = !taken.is_empty();
                // Taken for the channels asked for only, all of them configured.
                for (c, n) in taken
                    .into_iter()
                    .filter_map(|n| Some((channels.get(&n.channel)?.clone(), n)))
                {
                    busy.ids.insert(n.id);
                    *busy.sending.entry(n.channel.clone()).or_default() += 1;
                    let (id, channel) = (n.id, n.channel.clone());
                    let worker = self.clone();
                    let task = in_flight.spawn(async move { worker.deliver(c, n).await });
                    busy.tasks.insert(task.id(), (id, channel));
                }
                more |= busy.some_channel_full();
                if polled {
                    next_read = now + POLL;
                }
            }
            let mut wake = next_read;
            if let Some(t) = busy.done_since {
                wake = wake.min(busy.hold_until.unwrap_or(t).max(t + FLUSH_AFTER));
            }
            tokio::select! {
                _ = stop.cancelled() => break,
                Some(ended) = in_flight.join_next_with_id(), if !in_flight.is_empty() => {
                    match ended {
                        Ok((task, delivery)) => busy.finished(task, Some(delivery)),
                        Err(e) => {
                            tracing::error!("alerting: a send failed: {e}");
                            busy.finished(e.id(), None);
                        }
                    }
                    finished += 1;
                }
                _ = tokio::time::sleep_until(wake) => {}
            }
        }
        // What finished is recorded; what was in flight is sent again after the restart.
        in_flight.abort_all();
        busy.hold_until = None;
        self.record(&mut busy).await;
    }

    /// The due notifications for each channel's free slots.
    /// `polled`: a read on the timer, which also tidies the outbox (see
    /// [`AlertStore::due_notifications`]).
    async fn take(
        &self,
        channels: &BTreeMap<String, Channel>,
        busy: &mut Busy,
        polled: bool,
    ) -> Vec<Outgoing> {
        let wanted: Vec<(String, usize)> = channels
            .keys()
            .map(|c| {
                let sending = busy.sending.get(c).copied().unwrap_or(0);
                (c.clone(), PER_CHANNEL.saturating_sub(sending))
            })
            .filter(|(_, free)| *free > 0)
            .collect();
        if wanted.is_empty() {
            return Vec::new();
        }
        let configured = channels.keys().cloned().collect();
        match self
            .store
            .due_notifications(now_micros(), wanted, configured, busy.ids.clone(), polled)
            .await
        {
            Ok(d) => {
                if busy.unreadable.take().is_some() {
                    tracing::info!("alerting: the outbox is readable again");
                }
                d
            }
            Err(e) => {
                // Said once a minute while it lasts (a database away for a while).
                if busy
                    .unreadable
                    .is_none_or(|t| t.elapsed() >= Duration::from_secs(60))
                {
                    tracing::warn!("alerting: reading the outbox failed (tried again): {e}");
                    busy.unreadable = Some(Instant::now());
                }
                Vec::new()
            }
        }
    }

    /// Records the finished sends in one transaction. When that fails they stay busy (so
    /// none is sent again meanwhile) and recording is tried again a second later.
    async fn record(&self, busy: &mut Busy) {
        if busy.done.is_empty() {
            busy.done_since = None;
            return;
        }
        let done = std::mem::take(&mut busy.done);
        let ids: Vec<i64> = done.iter().map(|(id, _)| *id).collect();
        match self
            .store
            .notifications_done(done.clone(), now_micros())
            .await
        {
            Ok(()) => {
                busy.done_since = None;
                busy.hold_until = None;
                for id in ids {
                    busy.ids.remove(&id);
                }
            }
            Err(e) => {
                tracing::warn!(
                    "alerting: recording {} deliveries failed, tried again in a second: {e}",
                    ids.len()
                );
                busy.done = done;
                busy.hold_until = Some(Instant::now() + Duration::from_secs(1));
            }
        }
    }

    /// Sets the outbox's depth and its oldest notification's age.
    async fn update_gauges(&self) {
        if let Ok((depth, oldest)) = self.store.outbox_depth().await {
            let m = &self.metrics.alerting;
            m.outbox_depth.set(depth);
            let age = oldest.map_or(0, |t| (now_micros() - t).max(0) / crate::store::SECOND);
            m.oldest_seconds.set(age as u64);
        }
    }

    /// Sends one notification through its channel `c`.
    async fn deliver(&self, c: Channel, mut n: Outgoing) -> Delivery {
        if let (Some(links), Some(id)) = (&self.links, n.notice.incident) {
            n.notice.ack_url = Some(links.ack_url(id));
        }
        let delivery = if n.notice.kind == "acknowledge" && !request::takes_acks(c.kind) {
            Delivery::Skipped {
                why: format!("a {} channel is not told of acknowledgements", c.kind),
            }
        } else {
            send::notify(&self.client, &c, &n.notice, n.attempts).await
        };
        self.report(&n, &delivery);
        delivery
    }

    /// Counts and logs an outcome.
    fn report(&self, n: &Outgoing, delivery: &Delivery) {
        let (channel, kind, key) = (&n.channel, &n.notice.kind, &n.notice.key);
        let counters = self.metrics.alerting.channel(channel);
        match delivery {
            Delivery::Sent { .. } => {
                counters.sent.inc();
                tracing::info!(
                    channel,
                    kind,
                    key,
                    target = n.notice.target.name,
                    "notification sent"
                )
            }
            Delivery::Retry { error, .. } => {
                counters.retried.inc();
                tracing::warn!(
                    channel,
                    kind,
                    key,
                    attempts = n.attempts + 1,
                    "notification not delivered, tried again later: {error}"
                )
            }
            Delivery::Failed { error } => {
                counters.failed.inc();
                tracing::error!(
                    channel,
                    kind,
                    key,
                    "notification refused by the provider, not tried again: {error}"
                )
            }
            Delivery::Skipped { why } => {
                tracing::debug!(channel, kind, key, "notification skipped: {why}")
            }
        }
    }
}
