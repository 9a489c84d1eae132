//! The fleet: probers in several locations sharing targets through Kafka, with no master. The
//! targets live on a keyed (compacted) topic that `uptimer publish` and the API write and every
//! prober reads as a table (`targets`); `publish` works out what a sync changes, and `owned`
//! what the partitions a prober owns put in its registry.
//! docs/fleet.md describes the whole and what is built so far.

#[cfg(feature = "kafka")]
pub mod meta;
pub mod objects;
pub mod owned;
pub mod publish;
pub mod targets;
