//! Alerting: sends the notifications that the store's alert rules write into its outbox
//! (`crate::store::alerts`) to the configured channels, and retries them until the
//! provider takes them. The rules are `crate::state::rules`, the settings
//! `crate::config::alerting`; docs/alerting.md is the user's page.
//!
//! Delivery is at least once: a notification leaves the outbox only when its provider answered
//! 2xx (or refused it for good); a crash or a stop in between sends it again after the restart,
//! and providers deduplicate by the incident key (PagerDuty's `dedup_key`, Opsgenie's `alias`,
//! our webhook's `Idempotency-Key`; email threads by a `Message-ID` made from it).
//!
//! `heartbeat` is the other direction: a dead-man's switch that tells a service outside that
//! this process is alive and its pipeline healthy, so that its silence is noticed.

pub mod email;
pub mod heartbeat;
pub mod links;
pub mod message;
pub mod request;
pub mod send;
pub mod worker;

pub use worker::spawn;
