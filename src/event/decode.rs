//! Event documents (JSON text from another instance) into typed events, validated against their
//! schema, with the number of fields our version does not know (dropped).
//!
//! Two ways, one answer. The exact way parses the text into a `serde_json::Value`, validates it
//! with the schema's compiled validator and takes the typed event from it: it is the one that
//! explains a rejection. Building that `Value` (a map, a `String` per key and value) was most of
//! the Kafka consumer's CPU, so a valid document first takes the fast way: one pass over its
//! top-level members (strings borrowed from the text), each checked against its own property's schema
//! (compiled once, from the same schema file), then the typed event straight from the text. The
//! fast way only ever says "valid, here is the event" or "ask the exact way"; every document it
//! does not vouch for (invalid, or merely unusual: a duplicate key, `1.0` for an integer) goes
//! the exact way, so rejections and their reasons are the exact way's.

use std::collections::HashMap;
use std::fmt;

use serde::de::{Deserialize, Deserializer};
use serde_json::Value;

use super::schema::{self, ValidationError};
use super::{DummyEvent, Event, JobEvent, ProbeEvent, VerdictEvent};
use crate::json::Json;

/// Why a document is not an event we can write.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DecodeError {
    #[error("not JSON: {0}")]
    NotJson(String),
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("does not fit {title}: {reason}")]
    DoesNotFit { title: String, reason: String },
    #[error("no writer stores {0}")]
    NoType(String),
}

/// Parses and validates one event document; returns the typed event and the number of fields
/// it carried that our version does not know (dropped).
pub fn decode(text: &[u8]) -> Result<(Event, usize), DecodeError> {
    match decode_fast(text) {
        Some(decoded) => Ok(decoded),
        None => decode_exact(text),
    }
}

/// The exact way: `Value`, the schema's validator, the typed event from the `Value`.
pub fn decode_exact(text: &[u8]) -> Result<(Event, usize), DecodeError> {
    let doc: Value =
        serde_json::from_slice(text).map_err(|e| DecodeError::NotJson(e.to_string()))?;
    let schema = schema::validate_event(&doc)?;
    let dropped = doc.as_object().map_or(0, |o| {
        o.keys()
            .filter(|k| !schema.fields.contains(k.as_str()))
            .count()
    });
    // The typed event takes the document's strings rather than copies of them.
    let event = typed(&schema.title, doc)?;
    Ok((event, dropped))
}

/// Members beyond which a message takes the exact way (the checks below are quadratic).
const MAX_FAST_MEMBERS: usize = 64;

/// The fast way: Some only for a document the exact way accepts, with the same event and count.
pub fn decode_fast(text: &[u8]) -> Option<(Event, usize)> {
    let Json::Object(members) = serde_json::from_slice(text).ok()? else {
        return None;
    };
    // An event has a few dozen members: many more (a hostile message of 100,000 short keys)
    // take the exact way, whose cost grows with the size, not the square of the member count.
    if members.len() > MAX_FAST_MEMBERS {
        return None;
    }
    // A repeated key: the `Value` keeps the last, a typed parse refuses; leave it to the exact way.
    for (i, (k, _)) in members.iter().enumerate() {
        if members[..i].iter().any(|(other, _)| other == k) {
            return None;
        }
    }
    let member = |name: &str| members.iter().find(|(k, _)| k == name).map(|(_, v)| v);
    let title = member("schema_title")?.as_str()?;
    let schema = schema::by_title(title).filter(|s| s.title != "Event")?;
    let plan = schema.plan.as_ref()?;
    // As `validate_event`: another major version is refused (by the exact way, with the reason).
    if let Some(v) = member("schema_version") {
        let got = v.as_str()?;
        if schema::major(got) != schema::major(&schema.version) {
            return None;
        }
    }
    if plan.required.iter().any(|r| member(r).is_none()) {
        return None;
    }
    let mut dropped = 0;
    for (k, v) in &members {
        match plan.properties.get(k.as_ref()) {
            Some(checks) => {
                if !checks.iter().all(|c| c.holds(v)) {
                    return None;
                }
            }
            None => dropped += 1,
        }
    }
    let mut de = serde_json::Deserializer::from_slice(text);
    let event = typed(&schema.title, &mut de).ok()?;
    de.end().ok()?;
    Some((event, dropped))
}

/// The typed event of a valid document of the schema titled `title`.
fn typed<'de, D: Deserializer<'de>>(title: &str, d: D) -> Result<Event, DecodeError> {
    let bad = |e: D::Error| DecodeError::DoesNotFit {
        title: title.to_owned(),
        reason: e.to_string(),
    };
    Ok(match title {
        ProbeEvent::TITLE => Event::from(ProbeEvent::deserialize(d).map_err(bad)?),
        DummyEvent::TITLE => Event::from(DummyEvent::deserialize(d).map_err(bad)?),
        JobEvent::TITLE => Event::Job(JobEvent::deserialize(d).map_err(bad)?),
        VerdictEvent::TITLE => Event::from(VerdictEvent::deserialize(d).map_err(bad)?),
        other => return Err(DecodeError::NoType(other.to_owned())),
    })
}

/// What the fast way checks for one schema: a document is valid when it is an object, has the
/// required members, and each member it has satisfies every schema its property has.
#[derive(Debug)]
pub struct Plan {
    required: Vec<String>,
    properties: HashMap<String, Vec<Check>>,
}

/// One property's schema: the keywords our schemas use, checked here (draft 7 semantics, each
/// keyword applying to its own JSON type only); any other schema is compiled and asked.
enum Check {
    Rule(Box<Rule>),
    Schema(Box<jsonschema::Validator>),
}

#[derive(Debug, Default)]
struct Rule {
    /// Bit per [`JSON_TYPES`] entry; 0 = any type.
    types: u8,
    minimum: Option<f64>,
    maximum: Option<f64>,
    /// `enum` of strings only.
    one_of: Option<Vec<String>>,
    /// `format: uuid` (lower-case, hyphenated, as the schemas' validators register it).
    uuid: bool,
    required: Vec<String>,
    properties: Vec<(String, Check)>,
    /// `additionalProperties: false`.
    closed: bool,
    items: Option<Check>,
}

impl fmt::Debug for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Check::Rule(r) => r.fmt(f),
            Check::Schema(_) => f.write_str("Schema"),
        }
    }
}

/// Keywords that do not constrain a document.
const ANNOTATIONS: [&str; 8] = [
    "$schema",
    "$id",
    "$comment",
    "title",
    "version",
    "description",
    "examples",
    "default",
];

const JSON_TYPES: [&str; 7] = [
    "null", "boolean", "object", "array", "number", "integer", "string",
];

/// The plan for a schema (its `$ref`s inlined), or None when it uses anything but `type:
/// object`, `required`, `properties` and `allOf` of such at the top level (its documents then
/// always go the exact way). `build` compiles a property's schema as the whole one is.
pub(super) fn plan(
    schema: &Value,
    build: &dyn Fn(&Value) -> Option<jsonschema::Validator>,
) -> Option<Plan> {
    let mut plan = Plan {
        required: Vec::new(),
        properties: HashMap::new(),
    };
    add(schema, build, &mut plan)?;
    Some(plan)
}

fn add(
    schema: &Value,
    build: &dyn Fn(&Value) -> Option<jsonschema::Validator>,
    plan: &mut Plan,
) -> Option<()> {
    for (keyword, value) in schema.as_object()? {
        match keyword.as_str() {
            k if ANNOTATIONS.contains(&k) => {}
            "type" if value == "object" => {}
            "required" => plan.required.extend(strings(value)?),
            "properties" => {
                for (name, property) in value.as_object()? {
                    let check = compile(property, build)?;
                    plan.properties.entry(name.clone()).or_default().push(check);
                }
            }
            "allOf" => {
                for part in value.as_array()? {
                    add(part, build, plan)?;
                }
            }
            _ => return None,
        }
    }
    Some(())
}

fn strings(v: &Value) -> Option<Vec<String>> {
    v.as_array()?
        .iter()
        .map(|s| s.as_str().map(str::to_owned))
        .collect()
}

/// A property's schema as a rule when it only uses keywords a rule knows, else compiled.
fn compile(
    schema: &Value,
    build: &dyn Fn(&Value) -> Option<jsonschema::Validator>,
) -> Option<Check> {
    match rule(schema, build) {
        Some(r) => Some(Check::Rule(Box::new(r))),
        None => build(schema).map(|v| Check::Schema(Box::new(v))),
    }
}

fn rule(schema: &Value, build: &dyn Fn(&Value) -> Option<jsonschema::Validator>) -> Option<Rule> {
    let mut r = Rule::default();
    for (keyword, value) in schema.as_object()? {
        match keyword.as_str() {
            k if ANNOTATIONS.contains(&k) => {}
            "type" => {
                let types = match value {
                    Value::String(t) => vec![t.clone()],
                    other => strings(other)?,
                };
                for t in types {
                    r.types |= 1 << JSON_TYPES.iter().position(|k| *k == t)?;
                }
            }
            "minimum" => r.minimum = Some(value.as_f64()?),
            "maximum" => r.maximum = Some(value.as_f64()?),
            "enum" => r.one_of = Some(strings(value)?),
            "format" if value == "uuid" => r.uuid = true,
            "required" => r.required = strings(value)?,
            "properties" => {
                for (name, property) in value.as_object()? {
                    r.properties.push((name.clone(), compile(property, build)?));
                }
            }
            "additionalProperties" if value == false => r.closed = true,
            "items" if value.is_object() => r.items = Some(compile(value, build)?),
            _ => return None,
        }
    }
    Some(r)
}

impl Check {
    fn holds(&self, member: &Json<'_>) -> bool {
        match self {
            Check::Rule(r) => r.holds(member),
            Check::Schema(v) => v.is_valid(&member.to_value()),
        }
    }
}

impl Rule {
    fn holds(&self, member: &Json<'_>) -> bool {
        let t = member.json_type();
        // An integer is also a number. (`1.0` is an integer for the validator too, but is left
        // to it: the exact way.)
        let bit = |name: &str| {
            JSON_TYPES
                .iter()
                .position(|k| *k == name)
                .map_or(0, |i| 1 << i)
        };
        if self.types != 0
            && self.types & (bit(t) | if t == "integer" { bit("number") } else { 0 }) == 0
        {
            return false;
        }
        match member {
            Json::Int(_) | Json::Float(_) => {
                let n = member.as_f64().unwrap_or(f64::NAN);
                self.one_of.is_none()
                    && self.minimum.is_none_or(|m| n >= m)
                    && self.maximum.is_none_or(|m| n <= m)
            }
            Json::String(s) => {
                self.one_of
                    .as_ref()
                    .is_none_or(|o| o.iter().any(|v| v == s))
                    && (!self.uuid || schema::is_hyphenated_lower_uuid(s))
            }
            Json::Object(members) => {
                let has = |name: &str| members.iter().any(|(k, _)| k == name);
                self.one_of.is_none()
                    && self.required.iter().all(|r| has(r))
                    && members.iter().all(|(k, v)| {
                        let mut known = false;
                        for (name, check) in &self.properties {
                            if name == k {
                                known = true;
                                if !check.holds(v) {
                                    return false;
                                }
                            }
                        }
                        known || !self.closed
                    })
            }
            Json::Array(items) => {
                self.one_of.is_none()
                    && self
                        .items
                        .as_ref()
                        .is_none_or(|c| items.iter().all(|i| c.holds(i)))
            }
            Json::Null | Json::Bool(_) => self.one_of.is_none(),
        }
    }
}

#[cfg(test)]
#[path = "decode_tests.rs"]
mod tests;
