//! Uptimer: probes targets, turns every probe into a JSON-Schema-validated event, and hands the
//! events to writers. See `ARCHITECTURE.md` for the data flow and the delivery guarantee.

pub mod ack;
pub mod alerting;
pub mod cli;
pub mod conditions;
pub mod config;
pub mod event;
pub mod fleet;
pub mod html;
pub mod json;
pub mod json_file;
pub mod kafka;
pub mod metrics;
pub mod pipeline;
pub mod postgres;
pub mod readers;
pub mod regexes;
pub mod registry;
pub mod secret;
pub mod state;
pub mod store;
pub mod tls;
pub mod web;
pub mod writers;

/// What a build without the `kafka` feature says when a Kafka plugin is asked for.
pub const NO_KAFKA: &str = "this uptimer was built without Kafka support; build it with `cargo build --release --features kafka`";
