//! `JobEvent`: a target handed to a prober.

use serde::{Deserialize, Serialize};

use super::Envelope;

/// A unit of work for the fleet: probe this target. On the fleet's targets topic (keyed by
/// target id) it carries the whole target object as a config file writes one (`definition`)
/// and who published it (`source`); the address fields summarise it for other readers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobEvent {
    #[serde(flatten)]
    pub envelope: Envelope,
    pub protocol: String,
    pub hostname: String,
    /// The port probed; `null` for checks without one (icmp, push). Since 0.2.0.
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_verify: Option<bool>,
    /// The target's id (the record's key on the targets topic). Since 0.2.0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Who published it: `file:<name>` (`uptimer publish`) or `api`. Since 0.2.0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The target object, with `id`, `interval` and `timeout` set and `${NAME}` references as
    /// written (each prober resolves them). Since 0.2.0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub definition: Option<serde_json::Value>,
}

impl JobEvent {
    pub const TITLE: &'static str = "JobEvent";
    pub const VERSION: &'static str = "0.2.0";
}
