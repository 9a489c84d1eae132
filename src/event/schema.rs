//! The embedded JSON Schemas and validation of event documents against them.
//!
//! Each type schema is `allOf` the envelope (`event.json`) plus its own fields, as in the
//! original. The `$ref` to the envelope is inlined at load time, so validation never needs a
//! resolver or the network.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde_json::Value;

/// One embedded schema document.
#[derive(Debug)]
pub struct Schema {
    pub file: &'static str,
    pub title: String,
    pub version: String,
    pub document: Value,
    /// Every top-level property the schema names (the envelope's included).
    pub fields: std::collections::HashSet<String>,
    validator: jsonschema::Validator,
    /// How a valid document is recognised without building its `Value` (none: never).
    pub(super) plan: Option<super::decode::Plan>,
}

const ENVELOPE: (&str, &str) = ("event.json", include_str!("../../schemas/event.json"));
const FILES: [(&str, &str); 5] = [
    ENVELOPE,
    (
        "probe-event.json",
        include_str!("../../schemas/probe-event.json"),
    ),
    (
        "dummy-event.json",
        include_str!("../../schemas/dummy-event.json"),
    ),
    (
        "job-event.json",
        include_str!("../../schemas/job-event.json"),
    ),
    (
        "verdict-event.json",
        include_str!("../../schemas/verdict-event.json"),
    ),
];

/// Why a document is not a valid event.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ValidationError {
    #[error("not a JSON object")]
    NotAnObject,
    #[error("missing or non-string schema_title")]
    NoTitle,
    #[error("unknown schema_title {0:?}")]
    UnknownTitle(String),
    #[error(
        "schema_version {got:?} is not compatible with {title} {known} (same major version required)"
    )]
    IncompatibleVersion {
        title: String,
        got: String,
        known: String,
    },
    #[error("{0}")]
    Invalid(String),
}

/// Every embedded schema, the envelope first.
pub fn all() -> &'static [Schema] {
    static SCHEMAS: OnceLock<Vec<Schema>> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        let envelope: Value = serde_json::from_str(ENVELOPE.1).expect("event.json is valid JSON");
        FILES
            .iter()
            .map(|(file, text)| load(file, text, &envelope))
            .collect()
    })
}

fn load(file: &'static str, text: &str, envelope: &Value) -> Schema {
    let document: Value =
        serde_json::from_str(text).unwrap_or_else(|e| panic!("schemas/{file}: {e}"));
    let mut resolved = document.clone();
    inline_envelope(&mut resolved, envelope);
    let validator = compile(&resolved).unwrap_or_else(|e| panic!("schemas/{file}: {e}"));
    let plan = super::decode::plan(&resolved, &|property| compile(property).ok());
    let field = |k: &str| document[k].as_str().unwrap_or_default().to_owned();
    let mut fields = std::collections::HashSet::new();
    collect_properties(&resolved, &mut fields);
    Schema {
        file,
        title: field("title"),
        version: field("version"),
        fields,
        validator,
        document,
        plan,
    }
}

/// A schema (or one property's) compiled as every event schema is.
fn compile(schema: &Value) -> Result<jsonschema::Validator, jsonschema::ValidationError<'static>> {
    jsonschema::draft7::options()
        .should_validate_formats(true)
        // Draft 7 has no `uuid` format of its own; the original checked it, and so do we:
        // lower-case and hyphenated, as every writer stores it.
        .with_format("uuid", is_hyphenated_lower_uuid)
        .build(schema)
}

/// The property names of an object schema, through `allOf`.
fn collect_properties(schema: &Value, out: &mut std::collections::HashSet<String>) {
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        out.extend(props.keys().cloned());
    }
    for part in schema
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        collect_properties(part, out);
    }
}

pub(super) fn is_hyphenated_lower_uuid(s: &str) -> bool {
    s.len() == 36 && !s.bytes().any(|b| b.is_ascii_uppercase()) && uuid::Uuid::parse_str(s).is_ok()
}

/// Replaces `{"$ref": "event.json"}` anywhere in `doc` by the envelope schema itself.
fn inline_envelope(doc: &mut Value, envelope: &Value) {
    match doc {
        Value::Object(map) => {
            if map.get("$ref").and_then(Value::as_str) == Some("event.json") {
                let mut inlined = envelope.clone();
                if let Some(o) = inlined.as_object_mut() {
                    o.remove("$id");
                    o.remove("$schema");
                    o.remove("examples");
                }
                *doc = inlined;
            } else {
                map.values_mut().for_each(|v| inline_envelope(v, envelope));
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| inline_envelope(v, envelope)),
        _ => {}
    }
}

/// The schema with this title (case-sensitive, as `schema_title` is).
pub fn by_title(title: &str) -> Option<&'static Schema> {
    all().iter().find(|s| s.title == title)
}

/// Titles and versions of every embedded schema.
pub fn titles() -> BTreeMap<&'static str, &'static str> {
    all()
        .iter()
        .map(|s| (s.title.as_str(), s.version.as_str()))
        .collect()
}

impl Schema {
    /// Validates `doc` against this schema, listing every violation.
    pub fn validate(&self, doc: &Value) -> Result<(), ValidationError> {
        // The common case, valid, without collecting anything.
        if self.validator.is_valid(doc) {
            return Ok(());
        }
        let errors: Vec<String> = self
            .validator
            .iter_errors(doc)
            .map(|e| {
                let path = e.instance_path().to_string();
                if path.is_empty() {
                    e.to_string()
                } else {
                    format!("{path}: {e}")
                }
            })
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ValidationError::Invalid(errors.join("; ")))
        }
    }
}

pub(super) fn major(version: &str) -> &str {
    version.split('.').next().unwrap_or(version)
}

/// Validates an event document against the schema its `schema_title` names. A document of
/// another major version than the embedded schema is rejected; a newer minor version is
/// validated against the schema we know (its extra fields are allowed, as in the original).
pub fn validate_event(doc: &Value) -> Result<&'static Schema, ValidationError> {
    let obj = doc.as_object().ok_or(ValidationError::NotAnObject)?;
    let title = obj
        .get("schema_title")
        .and_then(Value::as_str)
        .ok_or(ValidationError::NoTitle)?;
    let schema = by_title(title)
        .filter(|s| s.title != "Event")
        .ok_or_else(|| ValidationError::UnknownTitle(title.to_owned()))?;
    if let Some(got) = obj.get("schema_version").and_then(Value::as_str)
        && major(got) != major(&schema.version)
    {
        return Err(ValidationError::IncompatibleVersion {
            title: title.to_owned(),
            got: got.to_owned(),
            known: schema.version.clone(),
        });
    }
    schema.validate(doc)?;
    Ok(schema)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{DummyEvent, Event, ProbeEvent, Verdict, VerdictEvent};
    use serde_json::json;

    #[test]
    fn every_schema_loads_with_title_and_version() {
        let titles = titles();
        assert_eq!(titles["Event"], "0.1.0");
        assert_eq!(titles["ProbeEvent"], ProbeEvent::VERSION);
        assert_eq!(titles["DummyEvent"], DummyEvent::VERSION);
        assert_eq!(titles["JobEvent"], "0.2.0");
        assert_eq!(titles["VerdictEvent"], VerdictEvent::VERSION);
    }

    #[test]
    fn fields_include_the_envelope_and_the_type() {
        let p = by_title("ProbeEvent").unwrap();
        for f in [
            "uuid",
            "event_time",
            "hostname",
            "phases_ms",
            "tls_cert_not_after",
        ] {
            assert!(p.fields.contains(f), "{f}");
        }
        assert!(!p.fields.contains("integer_value"));
    }

    #[test]
    fn every_schema_example_validates() {
        for schema in all() {
            let examples = schema.document["examples"].as_array().expect("examples");
            assert!(!examples.is_empty(), "{} has no examples", schema.file);
            for ex in examples {
                schema
                    .validate(ex)
                    .unwrap_or_else(|e| panic!("{} example {ex}: {e}", schema.file));
            }
        }
    }

    #[test]
    fn emitted_events_validate() {
        let now = time::OffsetDateTime::now_utc();
        let mut probe = ProbeEvent::new(now, "http", "h", Some(80));
        probe.error = Some("x".into());
        let mut fleet = probe.clone();
        fleet.location = Some("eu-west".into());
        fleet.round = Some(29_955_600);
        fleet.recheck = Some(true);
        let verdict = VerdictEvent::sample(now);
        for event in [
            Event::from(probe.clone()),
            Event::from(probe.to_original()),
            Event::from(fleet.clone()),
            Event::from(fleet.to_original()),
            Event::from(DummyEvent::new("w", "readers.dummy", i64::MAX, -1.5)),
            Event::from(verdict),
            Event::from(VerdictEvent::new("t", -1, Verdict::None, now)),
        ] {
            let doc = event.to_json();
            let schema = validate_event(&doc).unwrap_or_else(|e| panic!("{e}: {event:?}"));
            // Every field we write is one the schema names.
            for k in doc.as_object().unwrap().keys() {
                assert!(schema.fields.contains(k), "{k} is not in {}", schema.file);
            }
        }
    }

    #[test]
    fn round_recheck_and_verdicts_are_checked_against_their_types() {
        let now = time::OffsetDateTime::now_utc();
        let mut probe = ProbeEvent::new(now, "http", "h", Some(80));
        probe.round = Some(1);
        probe.recheck = Some(false);
        let probe = Event::from(probe).to_json();
        for (k, v) in [
            ("round", json!(1.5)),
            ("round", json!("1")),
            ("recheck", json!(1)),
        ] {
            let mut bad = probe.clone();
            bad[k] = v;
            assert!(
                matches!(validate_event(&bad), Err(ValidationError::Invalid(m)) if m.contains(k)),
                "{bad}"
            );
        }
        let verdict = Event::from(VerdictEvent::new("t", 1, Verdict::Down, now)).to_json();
        for (k, v) in [
            ("verdict", json!("maybe")),
            ("verdict", json!("Down")),
            ("up", json!("eu")),
            ("down", json!([1])),
            ("round", json!(null)),
            ("locations", json!(-1)),
            ("interval_ms", json!(0)),
        ] {
            let mut bad = verdict.clone();
            bad[k] = v;
            assert!(validate_event(&bad).is_err(), "{bad}");
        }
        for k in ["target", "round", "verdict", "up", "down"] {
            let mut bad = verdict.clone();
            bad.as_object_mut().unwrap().remove(k);
            assert!(validate_event(&bad).is_err(), "without {k}");
        }
    }

    /// A consumer of ProbeEvent 0.5.0 (the schema as that release embedded it) accepts what we
    /// emit now: a newer minor version, validated, `round` and `recheck` dropped as unknown.
    #[test]
    fn a_0_5_consumer_accepts_0_6_events_dropping_round_and_recheck() {
        let envelope: Value = serde_json::from_str(ENVELOPE.1).unwrap();
        let old = load(
            "probe-event.json",
            include_str!("../../tests/fixtures/schemas/probe-event-0.5.0.json"),
            &envelope,
        );
        assert_eq!(old.version, "0.5.0");
        let mut e = ProbeEvent::new(time::OffsetDateTime::now_utc(), "https", "h", Some(443));
        e.target = Some("5f2b7c0e9a1d3b48".into());
        e.location = Some("eu-west".into());
        e.round = Some(29_955_600);
        e.recheck = Some(true);
        let doc = Event::from(e).to_json();
        assert_eq!(
            major(doc["schema_version"].as_str().unwrap()),
            major(&old.version)
        );
        old.validate(&doc).unwrap();
        let mut unknown: Vec<&str> = doc
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .filter(|k| !old.fields.contains(*k))
            .collect();
        unknown.sort();
        assert_eq!(unknown, ["recheck", "round"]);
    }

    #[test]
    fn rejects_bad_documents_with_reasons() {
        let ok = json!({"schema_title": "DummyEvent", "schema_version": "0.1.0",
            "uuid": "3f2a1b0c-9d8e-4f7a-8b6c-5d4e3f2a1b0c", "event_time": "2021-01-15T12:34:56Z",
            "target": "t", "reader": "r", "integer_value": 1, "float_value": 1.5});
        assert!(validate_event(&ok).is_ok());
        // A newer minor version with an extra field is accepted.
        let mut newer = ok.clone();
        newer["schema_version"] = json!("0.9.0");
        newer["extra"] = json!(true);
        assert!(validate_event(&newer).is_ok());

        let mut bad = ok.clone();
        bad["uuid"] = json!("not-a-uuid");
        assert!(
            matches!(validate_event(&bad), Err(ValidationError::Invalid(m)) if m.contains("/uuid"))
        );
        let mut bad = ok.clone();
        bad["event_time"] = json!("yesterday");
        assert!(validate_event(&bad).is_err());
        let mut bad = ok.clone();
        bad["schema_version"] = json!("1.0.0");
        assert!(matches!(
            validate_event(&bad),
            Err(ValidationError::IncompatibleVersion { .. })
        ));
        let mut bad = ok.clone();
        bad["schema_title"] = json!("Event");
        assert!(matches!(
            validate_event(&bad),
            Err(ValidationError::UnknownTitle(_))
        ));
        assert!(matches!(
            validate_event(&json!([1])),
            Err(ValidationError::NotAnObject)
        ));
        assert!(matches!(
            validate_event(&json!({})),
            Err(ValidationError::NoTitle)
        ));
        let mut bad = ok;
        bad.as_object_mut().unwrap().remove("reader");
        assert!(validate_event(&bad).is_err());
    }

    #[test]
    fn port_out_of_range_is_invalid() {
        let mut probe = ProbeEvent::new(time::OffsetDateTime::now_utc(), "http", "h", Some(80));
        probe.port = Some(0);
        assert!(validate_event(&Event::from(probe).to_json()).is_err());
    }
}
