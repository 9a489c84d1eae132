//! `JobEvent`: a target handed to a prober.

use serde::{Deserialize, Serialize};

use super::Envelope;

/// A unit of work for the dynamic fleet: probe this target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobEvent {
    #[serde(flatten)]
    pub envelope: Envelope,
    pub protocol: String,
    pub hostname: String,
    pub port: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_verify: Option<bool>,
}

impl JobEvent {
    pub const TITLE: &'static str = "JobEvent";
    pub const VERSION: &'static str = "0.1.0";
}
