//! Events: the envelope every event carries, the typed event structs, and their JSON Schemas.
//!
//! The schemas under `schemas/` are the single source of truth; the structs here serialize to
//! documents those schemas accept (tests check every kind of event we emit).

mod decode;
pub mod dns_names;
mod dummy;
mod envelope;
mod fields;
mod job;
mod kinds;
mod probe;
pub mod schema;
mod verdict;

pub use decode::{DecodeError, decode, decode_exact, decode_fast};
pub use dummy::DummyEvent;
pub use envelope::{Envelope, format_time};
pub use fields::{Details, Field};
pub use job::JobEvent;
pub use kinds::{
    CertificateInfo, DnsDetails, DnsRecord, GrpcDetails, IcmpDetails, Kind, PushDetails,
    TcpDetails, TlsDetails,
};
pub use probe::{ConditionResult, ErrorKind, Phases, ProbeEvent, counts_as_up};
pub use verdict::{Verdict, VerdictEvent, uuid_for};

use serde::Serialize;

/// Which shape probe events take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventFormat {
    /// The current schema (`ProbeEvent::VERSION`) with every field.
    Current,
    /// Exactly the original's fields (schema 0.2.0), for consumers that reject unknown ones.
    Original,
}

/// Any event that flows through the pipeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Event {
    Probe(Box<ProbeEvent>),
    Dummy(DummyEvent),
    Job(JobEvent),
    Verdict(VerdictEvent),
}

impl Event {
    /// The envelope shared by every event type.
    pub fn envelope(&self) -> &Envelope {
        match self {
            Event::Probe(e) => &e.envelope,
            Event::Dummy(e) => &e.envelope,
            Event::Job(e) => &e.envelope,
            Event::Verdict(e) => &e.envelope,
        }
    }

    /// The event as a JSON value (what writers store or forward).
    pub fn to_json(&self) -> serde_json::Value {
        // Serializing plain structs of strings and numbers cannot fail.
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

impl From<ProbeEvent> for Event {
    fn from(e: ProbeEvent) -> Self {
        Event::Probe(Box::new(e))
    }
}

impl From<DummyEvent> for Event {
    fn from(e: DummyEvent) -> Self {
        Event::Dummy(e)
    }
}

impl From<VerdictEvent> for Event {
    fn from(e: VerdictEvent) -> Self {
        Event::Verdict(e)
    }
}
