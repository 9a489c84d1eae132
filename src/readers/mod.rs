//! Readers produce events: probers probe targets, others consume or invent events.

pub mod dummy;
pub mod probes;
