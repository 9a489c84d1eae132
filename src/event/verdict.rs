//! `VerdictEvent`: one round of one target decided by a quorum of the fleet's locations.
//!
//! Its uuid is derived from the target and the round ([`uuid_for`]), not drawn: a round decided
//! twice (a replay, a second consumer after a rebalance) is the same event, which every store
//! keeps once.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::Envelope;

/// What the locations' results of one round say, by quorum. It lives here, below the pure
/// quorum logic that decides it and the stores that keep it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// A quorum found it up and no location down.
    Up,
    /// A quorum found it down.
    Down,
    /// Some locations found it up and some down, and too few are down or missing for a quorum
    /// down: a regional problem, not an outage.
    Partial,
    /// No quorum either way (no results, or too few).
    None,
}

impl Verdict {
    pub const ALL: [Verdict; 4] = [Verdict::Up, Verdict::Down, Verdict::Partial, Verdict::None];

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Up => "up",
            Verdict::Down => "down",
            Verdict::Partial => "partial",
            Verdict::None => "none",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One target's round as the fleet's locations decided it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerdictEvent {
    /// `uuid` is [`uuid_for`]`(target, round)`; `event_time` is when the round was closed.
    #[serde(flatten)]
    pub envelope: Envelope,
    /// The target's stable id.
    pub target: String,
    /// The target's round (`registry::phase::Schedule::round_at`), as its probe events carry it.
    pub round: i64,
    pub verdict: Verdict,
    /// Locations whose result for the round was up.
    pub up: Vec<String>,
    /// Locations whose result for the round was down.
    pub down: Vec<String>,
    /// The target's interval in milliseconds: the round's length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_ms: Option<u64>,
    /// n: the locations counted for the quorum (the fleet's, less the impaired ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locations: Option<u32>,
    /// Locations left out of n because they were impaired when the round closed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub impaired: Vec<String>,
    /// Median `response_time_ms` of the up results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_time_ms: Option<u64>,
}

impl VerdictEvent {
    pub const TITLE: &'static str = "VerdictEvent";
    pub const VERSION: &'static str = "0.1.0";

    /// A verdict on `target`'s `round`, closed at `closed_at`, with its derived uuid and no
    /// locations listed yet.
    pub fn new(target: &str, round: i64, verdict: Verdict, closed_at: OffsetDateTime) -> Self {
        VerdictEvent {
            envelope: Envelope {
                uuid: uuid_for(target, round),
                ..Envelope::new(Self::TITLE, Self::VERSION, closed_at)
            },
            target: target.to_owned(),
            round,
            verdict,
            up: Vec::new(),
            down: Vec::new(),
            interval_ms: None,
            locations: None,
            impaired: Vec::new(),
            response_time_ms: None,
        }
    }

    /// A partial verdict with every field set (three locations, one impaired): the tests'
    /// sample.
    #[cfg(test)]
    pub(crate) fn sample(closed_at: OffsetDateTime) -> Self {
        VerdictEvent {
            up: vec!["eu-west".into(), "us-east".into()],
            down: vec!["ap-south".into()],
            interval_ms: Some(60_000),
            locations: Some(3),
            impaired: vec!["sa-east".into()],
            response_time_ms: Some(64),
            ..VerdictEvent::new("5f2b7c0e9a1d3b48", 29_955_600, Verdict::Partial, closed_at)
        }
    }
}

/// The uuid of the verdict on `target`'s `round`: a version 8 uuid of the first 16 bytes of
/// SHA-256(target ‖ 0x00 ‖ round as 8 big-endian bytes). The same in every process, so a round
/// decided twice is stored once. (The round's fixed width after the 0 byte keeps the encoding
/// unambiguous even for a target id holding a 0 byte.)
pub fn uuid_for(target: &str, round: i64) -> Uuid {
    let mut sha = ring::digest::Context::new(&ring::digest::SHA256);
    sha.update(target.as_bytes());
    sha.update(&[0]);
    sha.update(&round.to_be_bytes());
    let digest = sha.finish();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest.as_ref()[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::datetime;

    #[test]
    fn uuid_for_is_deterministic_and_differs_by_round_and_target() {
        let a = uuid_for("5f2b7c0e9a1d3b48", 29_955_600);
        assert_eq!(a, uuid_for("5f2b7c0e9a1d3b48", 29_955_600));
        assert_eq!(a.get_version_num(), 8);
        assert_eq!(a.get_variant(), uuid::Variant::RFC4122);
        // Pinned (computed apart, with Python's hashlib): every process of every version must
        // compute the same uuid for a round.
        assert_eq!(a.to_string(), "4c47a98c-b6bb-8834-817f-47c3d0b4ca62");
        assert_ne!(a, uuid_for("5f2b7c0e9a1d3b48", 29_955_601));
        assert_ne!(a, uuid_for("5f2b7c0e9a1d3b49", 29_955_600));
        assert_ne!(uuid_for("t", 0), uuid_for("t", -1));
        // The target's end and the round's bytes do not run into each other.
        assert_ne!(uuid_for("t\0", 1), uuid_for("t", 1));
        let rounds: std::collections::HashSet<Uuid> =
            (0..10_000).map(|r| uuid_for("t", r)).collect();
        assert_eq!(rounds.len(), 10_000);
    }

    #[test]
    fn a_verdict_serializes_with_its_derived_uuid_and_lowercase_verdict() {
        let mut v = VerdictEvent::new(
            "t1",
            7,
            Verdict::Partial,
            datetime!(2026-12-15 12:01:13.25 UTC),
        );
        v.up = vec!["eu-west".into(), "us-east".into()];
        v.down = vec!["ap-south".into()];
        let doc = serde_json::to_value(&v).unwrap();
        assert_eq!(
            doc,
            json!({"schema_title": "VerdictEvent", "schema_version": "0.1.0",
                "uuid": uuid_for("t1", 7).to_string(),
                "event_time": "2026-12-15T12:01:13.250000+00:00", "target": "t1", "round": 7,
                "verdict": "partial", "up": ["eu-west", "us-east"], "down": ["ap-south"]})
        );
        let back: VerdictEvent = serde_json::from_value(doc).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn the_schemas_examples_carry_their_derived_uuids() {
        let schema = crate::event::schema::by_title(VerdictEvent::TITLE).unwrap();
        for ex in schema.document["examples"].as_array().unwrap() {
            let v: VerdictEvent = serde_json::from_value(ex.clone()).unwrap();
            assert_eq!(v.envelope.uuid, uuid_for(&v.target, v.round), "{ex}");
        }
    }

    #[test]
    fn verdict_names_match_serde() {
        for v in Verdict::ALL {
            assert_eq!(serde_json::to_value(v).unwrap(), v.as_str());
            assert_eq!(v.to_string(), v.as_str());
        }
    }
}
