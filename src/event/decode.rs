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

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;

use super::schema::{self, ValidationError};
use super::{DummyEvent, Event, JobEvent, ProbeEvent};

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
    let Members(members) = serde_json::from_slice(text).ok()?;
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
    fn holds(&self, member: &Member<'_>) -> bool {
        match self {
            Check::Rule(r) => r.holds(member),
            Check::Schema(v) => v.is_valid(&member.to_value()),
        }
    }
}

impl Rule {
    fn holds(&self, member: &Member<'_>) -> bool {
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
            Member::Int(_) | Member::Float(_) => {
                let n = match member {
                    Member::Int(n) => n.as_f64().unwrap_or(f64::NAN),
                    Member::Float(f) => *f,
                    _ => f64::NAN,
                };
                self.one_of.is_none()
                    && self.minimum.is_none_or(|m| n >= m)
                    && self.maximum.is_none_or(|m| n <= m)
            }
            Member::Str(s) => {
                self.one_of
                    .as_ref()
                    .is_none_or(|o| o.iter().any(|v| v == s))
                    && (!self.uuid || schema::is_hyphenated_lower_uuid(s))
            }
            Member::Object(members) => {
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
            Member::Array(items) => {
                self.one_of.is_none()
                    && self
                        .items
                        .as_ref()
                        .is_none_or(|c| items.iter().all(|i| c.holds(i)))
            }
            Member::Null | Member::Bool(_) => self.one_of.is_none(),
        }
    }
}

/// A member's value, strings borrowed from the text unless they have escapes.
#[derive(Debug)]
enum Member<'a> {
    Null,
    Bool(bool),
    Int(serde_json::Number),
    Float(f64),
    Str(Cow<'a, str>),
    Array(Vec<Member<'a>>),
    /// Members in text order (a repeated key is kept twice).
    Object(Vec<(Cow<'a, str>, Member<'a>)>),
}

impl Member<'_> {
    fn json_type(&self) -> &'static str {
        match self {
            Member::Null => "null",
            Member::Bool(_) => "boolean",
            Member::Int(_) => "integer",
            Member::Float(_) => "number",
            Member::Str(_) => "string",
            Member::Array(_) => "array",
            Member::Object(_) => "object",
        }
    }

    fn to_value(&self) -> Value {
        match self {
            Member::Null => Value::Null,
            Member::Bool(b) => Value::Bool(*b),
            Member::Int(n) => Value::Number(n.clone()),
            Member::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
            Member::Str(s) => Value::String(s.clone().into_owned()),
            Member::Array(items) => Value::Array(items.iter().map(Member::to_value).collect()),
            Member::Object(members) => Value::Object(
                members
                    .iter()
                    .map(|(k, v)| (k.clone().into_owned(), v.to_value()))
                    .collect(),
            ),
        }
    }

    fn as_str(&self) -> Option<&str> {
        match self {
            Member::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// The members of a JSON object in text order. Anything but an object is an error.
struct Members<'a>(Vec<(Cow<'a, str>, Member<'a>)>);

impl<'de> Members<'de> {
    fn visit<A: MapAccess<'de>>(mut map: A) -> Result<Members<'de>, A::Error> {
        let mut members = Vec::with_capacity(map.size_hint().unwrap_or(8));
        while let Some(Text(key)) = map.next_key::<Text<'de>>()? {
            members.push((key, map.next_value::<Member<'de>>()?));
        }
        Ok(Members(members))
    }
}

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Members<'de>, A::Error> {
                Members::visit(map)
            }
        }
        d.deserialize_map(V)
    }
}

impl<'de> Deserialize<'de> for Member<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Member<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Member<'de>, E> {
                Ok(Member::Null)
            }
            fn visit_bool<E: de::Error>(self, b: bool) -> Result<Member<'de>, E> {
                Ok(Member::Bool(b))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Member<'de>, E> {
                Ok(Member::Int(n.into()))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Member<'de>, E> {
                Ok(Member::Int(n.into()))
            }
            fn visit_f64<E: de::Error>(self, f: f64) -> Result<Member<'de>, E> {
                Ok(Member::Float(f))
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Member<'de>, E> {
                Ok(Member::Str(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Member<'de>, E> {
                Ok(Member::Str(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<Member<'de>, E> {
                Ok(Member::Str(Cow::Owned(s)))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Member<'de>, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Member<'de>>()? {
                    items.push(item);
                }
                Ok(Member::Array(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Member<'de>, A::Error> {
                Members::visit(map).map(|Members(m)| Member::Object(m))
            }
        }
        d.deserialize_any(V)
    }
}

/// A string, borrowed from the text unless it has escapes.
struct Text<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(s.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
#[path = "decode_tests.rs"]
mod tests;
