//! The outbox worker: every [`POLL`] (and at once when started) it takes the due
//! notifications, sends them a few at a time, and records each outcome. It stops when told;
//! what it was sending then stays in the outbox and goes out after the restart.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use super::links::Links;
use super::{request, send};
use crate::config::alerting::Channel;
use crate::metrics::Metrics;
use crate::store::sqlite::SqliteStore;
use crate::store::sqlite::alerts::{Delivery, Outgoing};
use crate::store::{MINUTE, now_micros};

/// How often the outbox is read.
pub const POLL: Duration = Duration::from_millis(500);
/// Notifications taken from the outbox at a time.
const BATCH: usize = 64;
/// Notifications sent at once.
const IN_FLIGHT: usize = 8;
/// How often the outbox's gauges are read.
const GAUGES_EVERY: Duration = Duration::from_secs(5);

/// Starts the worker for `store`'s outbox when channels are configured; it runs until `stop`.
/// With `links`, triggers and reminders carry their incident's acknowledgement link.
pub fn spawn(
    store: SqliteStore,
    channels: Arc<BTreeMap<String, Channel>>,
    links: Option<Links>,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
) -> Option<tokio::task::JoinHandle<()>> {
    if channels.is_empty() {
        return None;
    }
    let client = match send::client() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("alerting is off: {e}");
            return None;
        }
    };
    Some(tokio::spawn(async move {
        let worker = Worker {
            store,
            channels,
            client,
            links,
            metrics,
        };
        let mut gauges_at = tokio::time::Instant::now();
        loop {
            if gauges_at.elapsed() >= GAUGES_EVERY {
                worker.update_gauges().await;
                gauges_at = tokio::time::Instant::now();
            }
            let busy = tokio::select! {
                _ = stop.cancelled() => break,
                busy = worker.round() => busy,
            };
            if !busy {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(POLL) => {}
                }
            }
        }
    }))
}

struct Worker {
    store: SqliteStore,
    channels: Arc<BTreeMap<String, Channel>>,
    client: reqwest::Client,
    links: Option<Links>,
    metrics: Arc<Metrics>,
}

impl Worker {
    /// Sets the outbox's depth and its oldest notification's age.
    async fn update_gauges(&self) {
        if let Ok((depth, oldest)) = self.store.outbox_depth().await {
            let m = &self.metrics.alerting;
            m.outbox_depth.set(depth);
            let age = oldest.map_or(0, |t| (now_micros() - t).max(0) / crate::store::SECOND);
            m.oldest_seconds.set(age as u64);
        }
    }

    /// Sends what is due; whether there was a full batch (more may be due).
    async fn round(&self) -> bool {
        let due = match self.store.due_notifications(now_micros(), BATCH).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!("alerting: reading the outbox failed: {e}");
                return false;
            }
        };
        let full = due.len() == BATCH;
        futures_util::stream::iter(due)
            .for_each_concurrent(IN_FLIGHT, |n| self.deliver(n))
            .await;
        full
    }

    async fn deliver(&self, mut n: Outgoing) {
        if let (Some(links), Some(id)) = (&self.links, n.notice.incident) {
            n.notice.ack_url = Some(links.ack_url(id));
        }
        let delivery = match self.channels.get(&n.channel) {
            None => Delivery::Retry {
                retry_at: now_micros() + 10 * MINUTE,
                error: format!("channel {:?} is not configured", n.channel),
            },
            Some(c) if n.notice.kind == "acknowledge" && !request::takes_acks(c.kind) => {
                Delivery::Skipped {
                    why: format!("a {} channel is not told of acknowledgements", c.kind),
                }
            }
            Some(c) => send::notify(&self.client, c, &n.notice, n.attempts).await,
        };
        let (channel, kind, key) = (&n.channel, &n.notice.kind, &n.notice.key);
        let counters = self.metrics.alerting.channel(channel);
        match &delivery {
            Delivery::Sent { .. } => counters.sent.inc(),
            Delivery::Retry { .. } => counters.retried.inc(),
            Delivery::Failed { .. } => counters.failed.inc(),
            Delivery::Skipped { .. } => {}
        }
        match &delivery {
            Delivery::Sent { .. } => {
                tracing::info!(
                    channel,
                    kind,
                    key,
                    target = n.notice.target.name,
                    "notification sent"
                )
            }
            Delivery::Retry { error, .. } => {
                tracing::warn!(
                    channel,
                    kind,
                    key,
                    attempts = n.attempts + 1,
                    "notification not delivered, tried again later: {error}"
                )
            }
            Delivery::Failed { error } => {
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
        if let Err(e) = self
            .store
            .notification_done(n.id, delivery, now_micros())
            .await
        {
            // Not recorded: it stays pending and is sent again (at least once).
            tracing::warn!(channel, key, "alerting: recording a delivery failed: {e}");
        }
    }
}
