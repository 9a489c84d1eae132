//! The dead-man's switch's counters (`crate::alerting::heartbeat`): beats the URL took, beats
//! that did not reach it, and beats withheld because the pipeline was not healthy.

use prometheus_client::registry::Registry;

use super::help;
use super::kinds::Count;

/// The three counters (a cheap clone: handles to the same series).
#[derive(Debug, Clone, Default)]
pub struct HeartbeatMetrics {
    /// Beats the URL answered with a 2xx.
    pub sent: Count,
    /// Beats that failed: no answer in time, no connection, or an answer other than a 2xx.
    pub failed: Count,
    /// Beats not sent because the pipeline was not healthy.
    pub withheld: Count,
}

impl HeartbeatMetrics {
    pub(super) fn register(&self, r: &mut Registry) {
        r.register(
            "uptimer_heartbeat_sent",
            help("Heartbeats the heartbeat URL answered with a 2xx."),
            self.sent.clone(),
        );
        r.register(
            "uptimer_heartbeat_failed",
            help("Heartbeats that did not reach the heartbeat URL: a timeout, a connection error, or an answer other than a 2xx."),
            self.failed.clone(),
        );
        r.register(
            "uptimer_heartbeat_withheld",
            help("Heartbeats not sent because the pipeline was not healthy (a writer not acknowledging, a component not ready, the pipeline stopped)."),
            self.withheld.clone(),
        );
    }
}
