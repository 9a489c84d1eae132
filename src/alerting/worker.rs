//! The outbox worker: it keeps up to [`PER_CHANNEL`] notifications of each channel in flight
//! (so a slow or hanging provider holds up only its own channel), takes more from the outbox
//! as sends finish (and every [`POLL`]), and records outcomes in batches: one transaction for
//! up to [`FLUSH_AT`] outcomes, at most [`FLUSH_AFTER`] after the first. A notification stays
//! "busy" from when it is taken until its outcome is recorded, so it is never taken twice. It
//! stops when told, after recording what finished; what was still being sent stays in the
//! outbox and goes out after the restart.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::links::Links;
use super::{request, send};
use crate::config::alerting::{Channel, LiveAlerting};
use crate::metrics::Metrics;
use crate::store::alerts::{AlertStore, Delivery, Notice, NoticeTarget, Outgoing};
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
/// The most notifications one digest lists.
const DIGEST_MAX: usize = 500;

/// Whether a channel gets digests: chat and email channels, which tell people; those that
/// track incidents (PagerDuty, Opsgenie, webhooks) get each notification, by its key.
fn takes_digests(c: &Channel) -> bool {
    !c.kind.tracks_incidents()
}

/// The sends that carry `list` (due for channel `c`, oldest first): for a channel that takes
/// digests, its triggers as one and its resolves as one when there are several, each other
/// notification on its own.
fn sends(c: &Channel, list: Vec<Outgoing>) -> Vec<Vec<Outgoing>> {
    if !takes_digests(c) {
        return list.into_iter().map(|n| vec![n]).collect();
    }
    let (mut triggers, mut resolves, mut out) = (Vec::new(), Vec::new(), Vec::new());
    for n in list {
        match n.notice.kind.as_str() {
            "trigger" => triggers.push(n),
            "resolve" => resolves.push(n),
            _ => out.push(vec![n]),
        }
    }
    let mut all: Vec<Vec<Outgoing>> = [triggers, resolves]
        .into_iter()
        .filter(|g| !g.is_empty())
        .collect();
    all.extend(out);
    all
}

/// One notice that lists several of one kind (triggers or resolves).
fn digest(group: &[Outgoing]) -> Notice {
    let first = &group[0].notice;
    let resolve = first.kind == "resolve";
    let n = group.len();
    let name = if resolve {
        format!("{n} targets recovered")
    } else {
        format!("{n} targets failing")
    };
    let mut listed: Vec<&Outgoing> = group.iter().collect();
    listed.sort_by(|a, b| a.notice.target.name.cmp(&b.notice.target.name));
    let mut lines: Vec<String> = listed
        .into_iter()
        .take(50)
        .map(|o| match (&o.notice.error, resolve) {
            (Some(e), false) => format!("{} ({e})", o.notice.target.name),
            _ => o.notice.target.name.clone(),
        })
        .collect();
    if n > 50 {
        lines.push(format!("and {} more", n - 50));
    }
    let severity = group
        .iter()
        .map(|o| o.notice.severity)
        .min_by_key(|s| *s as u8)
        .unwrap_or_default();
    let key = format!(
        "uptimer-digest-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    Notice {
        severity,
        condition: first.condition,
        error: Some(lines.join("; ")),
        description: Some(format!(
            "{n} notifications due together went out as one digest (group_wait, max_per_minute)"
        )),
        ..Notice::about(
            "digest",
            key,
            first.rule.clone(),
            NoticeTarget {
                id: "digest".into(),
                name,
                url: String::new(),
                tags: Vec::new(),
            },
            first.time,
        )
    }
}

/// The clock a channel's `max_per_minute` counts by: tokio's, moved on by what a test has
/// moved it (so a test sees the next minute's sends without waiting a minute).
#[derive(Debug, Clone, Default)]
pub struct Clock(Arc<AtomicU64>);

impl Clock {
    /// Now, by this clock.
    pub fn now(&self) -> Instant {
        Instant::now() + Duration::from_millis(self.0.load(Ordering::Relaxed))
    }

    /// Moves it on by `by`.
    pub fn advance(&self, by: Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.0.fetch_add(ms, Ordering::Relaxed);
    }
}

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
    spawn_with(store, channels, links, metrics, Clock::default(), stop)
}

/// As [`spawn`], with the rate limits counted by `clock`.
pub fn spawn_with(
    store: Arc<dyn AlertStore>,
    channels: LiveAlerting,
    links: Option<Links>,
    metrics: Arc<Metrics>,
    clock: Clock,
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
        clock,
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
    clock: Clock,
}

/// What the worker holds between reads of the outbox.
#[derive(Default)]
struct Busy {
    /// Taken and not yet recorded (in flight, or in `done`).
    ids: HashSet<i64>,
    /// In flight per channel, and which notifications each send task carries (several for
    /// a digest).
    sending: HashMap<String, usize>,
    tasks: HashMap<tokio::task::Id, (Vec<i64>, String)>,
    /// When each channel with a `max_per_minute` last sent, within the last minute.
    sent_at: HashMap<String, VecDeque<Instant>>,
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
        let Some((ids, channel)) = self.tasks.remove(&task) else {
            return;
        };
        if let Some(n) = self.sending.get_mut(&channel) {
            *n = n.saturating_sub(1);
        }
        for id in ids {
            match &delivery {
                Some(d) => {
                    self.done.push((id, d.clone()));
                    self.done_since.get_or_insert_with(Instant::now);
                }
                // The task failed: the notification stays pending and is taken again.
                None => {
                    self.ids.remove(&id);
                }
            }
        }
    }

    /// How many more requests `channel` may make at `now` under its `max_per_minute`.
    fn allowed(&mut self, channel: &Channel, now: Instant) -> usize {
        let Some(max) = channel.max_per_minute else {
            return usize::MAX;
        };
        let sent = self.sent_at.entry(channel.name.clone()).or_default();
        while sent
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= Duration::from_secs(60))
        {
            sent.pop_front();
        }
        (max as usize).saturating_sub(sent.len())
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
                // Taken for the channels asked for only, all of them configured; several
                // triggers (or resolves) due at once for a chat or email channel go as one
                // digest.
                let mut by_channel: BTreeMap<String, Vec<Outgoing>> = BTreeMap::new();
                for n in taken {
                    by_channel.entry(n.channel.clone()).or_default().push(n);
                }
                for (name, list) in by_channel {
                    let Some(c) = channels.get(&name).cloned() else {
                        continue;
                    };
                    let sending = busy.sending.get(&name).copied().unwrap_or(0);
                    let allowed = busy.allowed(&c, self.clock.now());
                    let slots = PER_CHANNEL.saturating_sub(sending).min(allowed);
                    for group in sends(&c, list).into_iter().take(slots) {
                        let ids: Vec<i64> = group.iter().map(|n| n.id).collect();
                        busy.ids.extend(ids.iter().copied());
                        *busy.sending.entry(name.clone()).or_default() += 1;
                        if c.max_per_minute.is_some() {
                            busy.sent_at
                                .entry(name.clone())
                                .or_default()
                                .push_back(self.clock.now());
                        }
                        let worker = self.clone();
                        let c = c.clone();
                        let task =
                            in_flight.spawn(async move { worker.deliver_all(c, group).await });
                        busy.tasks.insert(task.id(), (ids, name.clone()));
                    }
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
            .iter()
            .filter_map(|(name, c)| {
                let sending = busy.sending.get(name).copied().unwrap_or(0);
                let free = PER_CHANNEL
                    .saturating_sub(sending)
                    .min(busy.allowed(c, self.clock.now()));
                // A channel that takes digests takes all that is due: what is left over
                // after its slots stays pending (it is not marked busy).
                let ask = if free > 0 && takes_digests(c) {
                    DIGEST_MAX
                } else {
                    free
                };
                (ask > 0).then(|| (name.clone(), ask))
            })
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

    /// Sends one notification, or a digest of several, through channel `c`.
    async fn deliver_all(&self, c: Channel, mut group: Vec<Outgoing>) -> Delivery {
        if group.len() == 1
            && let Some(n) = group.pop()
        {
            return self.deliver(c, n).await;
        }
        let notice = digest(&group);
        let delivery = send::notify(&self.client, &c, &notice, 0).await;
        for n in &group {
            self.report(n, &delivery);
        }
        delivery
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::alerting::channel_of;

    fn channel(yaml: &str) -> Channel {
        channel_of("ops", &serde_yaml_ng::from_str(yaml).unwrap()).unwrap()
    }

    fn outgoing(id: i64, kind: &str, name: &str) -> Outgoing {
        let target = NoticeTarget {
            id: name.into(),
            name: name.into(),
            url: String::new(),
            tags: Vec::new(),
        };
        Outgoing {
            id,
            channel: "ops".into(),
            attempts: 0,
            notice: Notice {
                error: Some("down".into()),
                ..Notice::about(
                    kind,
                    format!("k{id}"),
                    "ops".into(),
                    target,
                    time::OffsetDateTime::UNIX_EPOCH,
                )
            },
            created_at: 0,
        }
    }

    #[test]
    fn chat_channels_get_digests_and_incident_trackers_each_notification() {
        let list = || {
            vec![
                outgoing(1, "trigger", "b"),
                outgoing(2, "reminder", "c"),
                outgoing(3, "trigger", "a"),
                outgoing(4, "resolve", "d"),
            ]
        };
        let chat = channel("{type: ntfy, topic: alerts}");
        let groups: Vec<Vec<i64>> = sends(&chat, list())
            .iter()
            .map(|g| g.iter().map(|o| o.id).collect())
            .collect();
        assert_eq!(groups, [vec![1, 3], vec![4], vec![2]]);
        let d = digest(&sends(&chat, list())[0]);
        assert_eq!(
            (d.kind.as_str(), d.target.name.as_str()),
            ("digest", "2 targets failing")
        );
        assert_eq!(d.error.as_deref(), Some("a (down); b (down)"));
        let pd = channel("{type: pagerduty, routing_key: k}");
        assert_eq!(sends(&pd, list()).len(), 4);
    }

    #[test]
    fn a_channel_s_rate_limit_counts_the_last_minute() {
        let mut busy = Busy::default();
        let now = Instant::now();
        let limited = channel("{type: ntfy, topic: alerts, max_per_minute: 2}");
        assert_eq!(busy.allowed(&limited, now), 2);
        let sent = busy.sent_at.entry("ops".into()).or_default();
        sent.push_back(now - Duration::from_secs(61));
        sent.push_back(now);
        assert_eq!(
            busy.allowed(&limited, now),
            1,
            "the one older than a minute no longer counts"
        );
        busy.sent_at.get_mut("ops").unwrap().push_back(now);
        assert_eq!(busy.allowed(&limited, now), 0);
        assert_eq!(
            busy.allowed(&limited, now + Duration::from_secs(60)),
            2,
            "a minute on"
        );
        assert_eq!(
            busy.allowed(&channel("{type: ntfy, topic: alerts}"), now),
            usize::MAX
        );
        assert!(
            channel_of(
                "ops",
                &serde_yaml_ng::from_str("{type: ntfy, topic: a, max_per_minute: 0}").unwrap()
            )
            .is_err()
        );
    }
}
