//! Readers produce events: probers probe targets, others consume or invent events.

pub mod dummy;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod probes;
pub mod push;
