//! `DummyEvent`: synthetic events for testing pipelines.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::Envelope;

/// An event made by `readers.dummy`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DummyEvent {
    #[serde(flatten)]
    pub envelope: Envelope,
    pub target: String,
    pub reader: String,
    pub integer_value: i64,
    pub float_value: f64,
}

impl DummyEvent {
    pub const TITLE: &'static str = "DummyEvent";
    pub const VERSION: &'static str = "0.1.0";

    pub fn new(target: &str, reader: &str, integer_value: i64, float_value: f64) -> Self {
        DummyEvent {
            envelope: Envelope::new(Self::TITLE, Self::VERSION, OffsetDateTime::now_utc()),
            target: target.to_owned(),
            reader: reader.to_owned(),
            integer_value,
            float_value,
        }
    }
}
