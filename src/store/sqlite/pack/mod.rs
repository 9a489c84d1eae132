//! PLACEHOLDER codec (JSON) until the packed codec lands: same API.
use std::collections::HashMap;

use crate::event::ProbeEvent;
use crate::store::Micros;
use crate::store::hist::Histogram;
use crate::store::rollup::Agg;

#[derive(Debug, thiserror::Error)]
pub enum PackError {
    #[error("interning a string: {0}")]
    Intern(String),
    #[error("unknown string id {0}")]
    UnknownString(u64),
    #[error("corrupt: {0}")]
    Corrupt(String),
}

pub trait Intern {
    fn intern(&mut self, s: &str) -> Result<u64, PackError>;
}
pub trait Resolve {
    fn resolve(&self, id: u64) -> Result<&str, PackError>;
}

#[derive(Debug, Clone, Default)]
pub struct Strings {
    ids: HashMap<String, u64>,
    values: HashMap<u64, String>,
    max: u64,
}

impl Strings {
    pub fn insert(&mut self, id: u64, value: String) {
        self.ids.insert(value.clone(), id);
        self.values.insert(id, value);
        self.max = self.max.max(id);
    }
    pub fn id_of(&self, s: &str) -> Option<u64> {
        self.ids.get(s).copied()
    }
    pub fn max_id(&self) -> u64 {
        self.max
    }
}

impl Resolve for Strings {
    fn resolve(&self, id: u64) -> Result<&str, PackError> {
        self.values
            .get(&id)
            .map(String::as_str)
            .ok_or(PackError::UnknownString(id))
    }
}

pub fn encode_events(events: &[ProbeEvent], _s: &mut impl Intern) -> Result<Vec<u8>, PackError> {
    let mut v = events.to_vec();
    v.sort_by_key(|e| (e.envelope.event_time, e.envelope.uuid));
    serde_json::to_vec(&v).map_err(|e| PackError::Corrupt(e.to_string()))
}
pub fn decode_events(b: &[u8], _s: &impl Resolve) -> Result<Vec<ProbeEvent>, PackError> {
    serde_json::from_slice(b).map_err(|e| PackError::Corrupt(e.to_string()))
}
pub fn encode_one(e: &ProbeEvent, _s: &mut impl Intern) -> Result<Vec<u8>, PackError> {
    serde_json::to_vec(e).map_err(|e| PackError::Corrupt(e.to_string()))
}
pub fn decode_one(b: &[u8], _s: &impl Resolve) -> Result<ProbeEvent, PackError> {
    serde_json::from_slice(b).map_err(|e| PackError::Corrupt(e.to_string()))
}
type H = (i64, i64, i64, i64, f64, f64, f64, [f64; 5], Vec<u8>);
pub fn encode_hours(hours: &[(Micros, Agg)]) -> Result<Vec<u8>, PackError> {
    let v: Vec<H> = hours
        .iter()
        .map(|(b, a)| {
            (
                *b,
                a.checks,
                a.up,
                a.timed,
                a.sum_ms,
                a.min_ms,
                a.max_ms,
                a.sums,
                a.hist.encode(),
            )
        })
        .collect();
    serde_json::to_vec(&v).map_err(|e| PackError::Corrupt(e.to_string()))
}
pub fn decode_hours(b: &[u8]) -> Result<Vec<(Micros, Agg)>, PackError> {
    let v: Vec<H> = serde_json::from_slice(b).map_err(|e| PackError::Corrupt(e.to_string()))?;
    Ok(v.into_iter()
        .map(
            |(b, checks, up, timed, sum_ms, min_ms, max_ms, sums, hist)| {
                (
                    b,
                    Agg {
                        checks,
                        up,
                        timed,
                        sum_ms,
                        min_ms,
                        max_ms,
                        sums,
                        hist: Histogram::decode(&hist),
                    },
                )
            },
        )
        .collect())
}
