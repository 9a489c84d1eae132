//! Alerting's series: notifications sent, refused and retried per channel
//! (`channel="ops"`), and the outbox's depth and the age of its oldest undelivered
//! notification, which the outbox worker sets as it goes.

use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use super::help;
use super::kinds::{Count, Level};

type Label = [(&'static str, String); 1];

/// One channel's counters.
#[derive(Debug, Clone, Default)]
pub struct ChannelMetrics {
    pub sent: Count,
    pub failed: Count,
    pub retried: Count,
}

/// The families, and the outbox's gauges.
#[derive(Debug, Default)]
pub struct AlertingMetrics {
    sent: Family<Label, Count>,
    failed: Family<Label, Count>,
    retried: Family<Label, Count>,
    /// Notifications waiting to be sent.
    pub outbox_depth: Level,
    /// Seconds since the oldest of them was made (0 when none waits).
    pub oldest_seconds: Level,
}

impl AlertingMetrics {
    /// The counters of `channel`.
    pub fn channel(&self, channel: &str) -> ChannelMetrics {
        let l = [("channel", channel.to_owned())];
        ChannelMetrics {
            sent: self.sent.get_or_create_owned(&l),
            failed: self.failed.get_or_create_owned(&l),
            retried: self.retried.get_or_create_owned(&l),
        }
    }

    pub(super) fn register(&self, r: &mut Registry) {
        r.register(
            "uptimer_notifications_sent",
            help("Alert notifications the channel's provider took."),
            self.sent.clone(),
        );
        r.register(
            "uptimer_notifications_failed",
            help("Alert notifications the provider refused for good (a 4xx other than 429)."),
            self.failed.clone(),
        );
        r.register(
            "uptimer_notifications_retried",
            help("Alert notification attempts that failed and are tried again (429, 5xx, timeouts, connection errors)."),
            self.retried.clone(),
        );
        r.register(
            "uptimer_notifications_outbox",
            help("Alert notifications in the outbox waiting to be sent."),
            self.outbox_depth.clone(),
        );
        r.register(
            "uptimer_notifications_oldest_age_seconds",
            help("Age of the oldest alert notification waiting to be sent (0 when none waits)."),
            self.oldest_seconds.clone(),
        );
    }
}
