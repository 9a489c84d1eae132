//! Uptimer: probes targets, turns every probe into a JSON-Schema-validated event, and hands the
//! events to writers. See `ARCHITECTURE.md` for the data flow and the delivery guarantee.

pub mod cli;
pub mod config;
pub mod event;
pub mod pipeline;
pub mod readers;
pub mod writers;
