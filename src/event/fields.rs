//! An event's fields by their JSON names, read from the typed structs without building the JSON
//! document: `event.field(path)` is what `event.to_json()` holds at `path`. Writers that map
//! fields to columns by name (PostgreSQL) read events this way; building a `serde_json::Value`
//! per event (a map, a string per key and value) was most of the Kafka consumer's CPU.

use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use super::kinds::{DnsDetails, GrpcDetails, IcmpDetails, PushDetails, TcpDetails, TlsDetails};
use super::{ConditionResult, DummyEvent, Envelope, Event, JobEvent, ProbeEvent, VerdictEvent};

/// One field of an event, as its JSON document has it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Field<'a> {
    /// Not in the document, or null (a non-finite number is null in JSON).
    Absent,
    Str(&'a str),
    I64(i64),
    U64(u64),
    /// Always finite.
    F64(f64),
    Bool(bool),
    /// A uuid: a hyphenated lower-case string in the document.
    Uuid(Uuid),
    /// A time: an RFC 3339 string in the document, and exactly the time that string reads as
    /// (`event_time` is written to the microsecond).
    Time(OffsetDateTime),
    /// An object of a typed event (`phases_ms`): its members have longer paths.
    Object,
    /// A probe's condition results (`conditions`), serialised only by a writer that stores
    /// them (PostgreSQL's `conditions` jsonb), without the rest of the event's document.
    Conditions(&'a [ConditionResult]),
    /// A probe's kind object (`dns`, `icmp`, `tls`, `tcp`, `grpc`, `push`; schema 0.5.0),
    /// serialised only by a writer that stores it (PostgreSQL's jsonb columns of those names),
    /// without the rest of the event's document. Its members are not fields of their own.
    Details(Details<'a>),
    /// A list of strings (a verdict's `up`, `down` and `impaired` locations): an array of
    /// strings in the document.
    Strs(&'a [String]),
    /// A value of a JSON document (never null).
    Json(&'a Value),
}

impl<'a> Field<'a> {
    /// The value at `path` in a JSON document.
    pub fn of_json(doc: &'a Value, path: &[impl AsRef<str>]) -> Field<'a> {
        let mut v = doc;
        for p in path {
            match v.get(p.as_ref()) {
                Some(x) => v = x,
                None => return Field::Absent,
            }
        }
        Field::json(v)
    }

    /// A JSON value (null is absent).
    pub fn json(v: &'a Value) -> Field<'a> {
        if v.is_null() {
            Field::Absent
        } else {
            Field::Json(v)
        }
    }

    /// A string of the document, as `Value::as_str` reads it (a typed uuid or time is read with
    /// [`Field::as_uuid`] or [`Field::as_time`]).
    pub fn as_str(self) -> Option<&'a str> {
        match self {
            Field::Str(s) => Some(s),
            Field::Json(v) => v.as_str(),
            _ => None,
        }
    }

    /// An integer, as `Value::as_i64` reads it (not a float, not a string).
    pub fn as_i64(self) -> Option<i64> {
        match self {
            Field::I64(i) => Some(i),
            Field::U64(u) => i64::try_from(u).ok(),
            Field::Json(v) => v.as_i64(),
            _ => None,
        }
    }

    /// A number, as `Value::as_f64` reads it.
    pub fn as_f64(self) -> Option<f64> {
        match self {
            Field::F64(f) => Some(f),
            Field::I64(i) => Some(i as f64),
            Field::U64(u) => Some(u as f64),
            Field::Json(v) => v.as_f64(),
            _ => None,
        }
    }

    pub fn as_bool(self) -> Option<bool> {
        match self {
            Field::Bool(b) => Some(b),
            Field::Json(v) => v.as_bool(),
            _ => None,
        }
    }

    /// A time, or a string that parses as RFC 3339.
    pub fn as_time(self) -> Option<OffsetDateTime> {
        match self {
            Field::Time(t) => Some(t),
            Field::Json(Value::String(s)) => OffsetDateTime::parse(s, &Rfc3339).ok(),
            _ => None,
        }
    }

    /// A uuid, or a string that parses as one.
    pub fn as_uuid(self) -> Option<Uuid> {
        match self {
            Field::Uuid(u) => Some(u),
            Field::Json(Value::String(s)) => Uuid::parse_str(s).ok(),
            _ => None,
        }
    }
}

/// One of a probe event's kind objects, borrowed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Details<'a> {
    Dns(&'a DnsDetails),
    Icmp(&'a IcmpDetails),
    Tls(&'a TlsDetails),
    Tcp(&'a TcpDetails),
    Grpc(&'a GrpcDetails),
    Push(&'a PushDetails),
    /// A JobEvent's target object (`definition`), as published.
    Json(&'a Value),
}

impl Details<'_> {
    /// The object as the event's document holds it (None only if it cannot be serialised,
    /// which the kind objects' plain fields never make happen).
    pub fn to_value(self) -> Option<Value> {
        match self {
            Details::Dns(d) => serde_json::to_value(d),
            Details::Icmp(d) => serde_json::to_value(d),
            Details::Tls(d) => serde_json::to_value(d),
            Details::Tcp(d) => serde_json::to_value(d),
            Details::Grpc(d) => serde_json::to_value(d),
            Details::Push(d) => serde_json::to_value(d),
            Details::Json(v) => Ok((*v).clone()),
        }
        .ok()
    }
}

fn details<'a, T>(d: &'a Option<T>, f: fn(&'a T) -> Details<'a>) -> Field<'a> {
    d.as_ref().map_or(Field::Absent, |d| Field::Details(f(d)))
}

fn text(s: &str) -> Field<'_> {
    Field::Str(s)
}

fn opt_text(s: &Option<String>) -> Field<'_> {
    s.as_deref().map_or(Field::Absent, Field::Str)
}

fn opt_bool(b: Option<bool>) -> Field<'static> {
    b.map_or(Field::Absent, Field::Bool)
}

fn opt_i64(i: Option<i64>) -> Field<'static> {
    i.map_or(Field::Absent, Field::I64)
}

fn opt_u64(u: Option<u64>) -> Field<'static> {
    u.map_or(Field::Absent, Field::U64)
}

fn float(f: Option<f64>) -> Field<'static> {
    f.filter(|f| f.is_finite())
        .map_or(Field::Absent, Field::F64)
}

impl Envelope {
    fn field(&self, name: &str) -> Option<Field<'_>> {
        Some(match name {
            "schema_title" => text(&self.schema_title),
            "schema_version" => text(&self.schema_version),
            "uuid" => Field::Uuid(self.uuid),
            "event_time" => Field::Time(as_written(self.event_time)),
            _ => return None,
        })
    }
}

/// The time `event_time` reads as once written (`format_time`: UTC, to the microsecond).
fn as_written(t: OffsetDateTime) -> OffsetDateTime {
    let t = t.to_offset(time::UtcOffset::UTC);
    t.replace_nanosecond(t.nanosecond() / 1000 * 1000)
        .unwrap_or(t)
}

impl ProbeEvent {
    fn field(&self, name: &str) -> Field<'_> {
        if let Some(f) = self.envelope.field(name) {
            return f;
        }
        match name {
            "protocol" => text(&self.protocol),
            "hostname" => text(&self.hostname),
            "port" => self.port.map_or(Field::Absent, |p| Field::I64(p.into())),
            "path" => text(&self.path),
            "status_code" => self
                .status_code
                .map_or(Field::Absent, |s| Field::I64(s.into())),
            "response_time_ms" => Field::U64(self.response_time_ms),
            "error" => opt_text(&self.error),
            "regex" => opt_text(&self.regex),
            "matches_regex" => opt_bool(self.matches_regex),
            "url" => opt_text(&self.url),
            "target" => opt_text(&self.target),
            "name" => opt_text(&self.name),
            "location" => opt_text(&self.location),
            "up" => opt_bool(self.up),
            "error_kind" => self
                .error_kind
                .map_or(Field::Absent, |k| Field::Str(k.as_str())),
            "phases_ms" => self.phases_ms.map_or(Field::Absent, |_| Field::Object),
            "ip" => opt_text(&self.ip),
            "http_version" => opt_text(&self.http_version),
            "body_bytes" => opt_u64(self.body_bytes),
            "redirects" => self
                .redirects
                .map_or(Field::Absent, |r| Field::I64(r.into())),
            "tls_cert_not_after" => self.tls_cert_not_after.map_or(Field::Absent, Field::Time),
            "conditions" => self
                .conditions
                .as_ref()
                .map_or(Field::Absent, |c| Field::Conditions(c)),
            "degraded" => opt_bool(self.degraded),
            "dns" => details(&self.dns, Details::Dns),
            "icmp" => details(&self.icmp, Details::Icmp),
            "tls" => details(&self.tls, Details::Tls),
            "tcp" => details(&self.tcp, Details::Tcp),
            "grpc" => details(&self.grpc, Details::Grpc),
            "push" => details(&self.push, Details::Push),
            "round" => opt_i64(self.round),
            "recheck" => opt_bool(self.recheck),
            _ => Field::Absent,
        }
    }

    fn phase(&self, name: &str) -> Field<'_> {
        let Some(p) = &self.phases_ms else {
            return Field::Absent;
        };
        float(match name {
            "dns" => p.dns,
            "connect" => p.connect,
            "tls" => p.tls,
            "ttfb" => p.ttfb,
            "transfer" => p.transfer,
            _ => None,
        })
    }
}

impl DummyEvent {
    fn field(&self, name: &str) -> Field<'_> {
        if let Some(f) = self.envelope.field(name) {
            return f;
        }
        match name {
            "target" => text(&self.target),
            "reader" => text(&self.reader),
            "integer_value" => Field::I64(self.integer_value),
            "float_value" => float(Some(self.float_value)),
            _ => Field::Absent,
        }
    }
}

impl JobEvent {
    fn field(&self, name: &str) -> Field<'_> {
        if let Some(f) = self.envelope.field(name) {
            return f;
        }
        match name {
            "protocol" => text(&self.protocol),
            "hostname" => text(&self.hostname),
            "port" => opt_i64(self.port.map(i64::from)),
            "target" => opt_text(&self.target),
            "source" => opt_text(&self.source),
            "definition" => self
                .definition
                .as_ref()
                .map_or(Field::Absent, |d| Field::Details(Details::Json(d))),
            "path" => opt_text(&self.path),
            "tls_verify" => opt_bool(self.tls_verify),
            _ => Field::Absent,
        }
    }
}

impl VerdictEvent {
    fn field(&self, name: &str) -> Field<'_> {
        if let Some(f) = self.envelope.field(name) {
            return f;
        }
        match name {
            "target" => text(&self.target),
            "round" => Field::I64(self.round),
            "verdict" => Field::Str(self.verdict.as_str()),
            "up" => Field::Strs(&self.up),
            "down" => Field::Strs(&self.down),
            "interval_ms" => opt_u64(self.interval_ms),
            "locations" => self
                .locations
                .map_or(Field::Absent, |n| Field::I64(n.into())),
            // Written only when some location was impaired.
            "impaired" if !self.impaired.is_empty() => Field::Strs(&self.impaired),
            "response_time_ms" => opt_u64(self.response_time_ms),
            _ => Field::Absent,
        }
    }
}

impl Event {
    /// The field at `path` (a top-level name, then members of an object), as `self.to_json()`
    /// holds it.
    pub fn field(&self, path: &[impl AsRef<str>]) -> Field<'_> {
        match path {
            [name] => match self {
                Event::Probe(e) => e.field(name.as_ref()),
                Event::Dummy(e) => e.field(name.as_ref()),
                Event::Job(e) => e.field(name.as_ref()),
                Event::Verdict(e) => e.field(name.as_ref()),
            },
            [object, member] => match self {
                Event::Probe(e) if object.as_ref() == "phases_ms" => e.phase(member.as_ref()),
                _ => Field::Absent,
            },
            // Members of members: no event has objects in objects.
            _ => Field::Absent,
        }
    }

    /// The names of the event's fields that are objects read member by member (present ones
    /// only): `phases_ms`. The kind objects are read whole ([`Field::Details`]).
    pub fn objects(&self) -> &'static [&'static str] {
        match self {
            Event::Probe(e) if e.phases_ms.is_some() => &["phases_ms"],
            _ => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{ConditionResult, ErrorKind, Phases, Verdict};
    use time::macros::datetime;

    /// Every kind of event with every field set, with none of the optional ones, and oddities
    /// (non-finite numbers, nanoseconds, a time in another offset).
    fn samples() -> Vec<Event> {
        let t = datetime!(2026-03-04 05:06:07.123456789 +02:00);
        let mut full = ProbeEvent::new(t, "https", "example.org", Some(8443));
        full.path = "/health?x=1".into();
        full.status_code = Some(503);
        full.response_time_ms = u64::MAX;
        full.error = Some("HTTP 503".into());
        full.regex = Some("ok$".into());
        full.matches_regex = Some(false);
        full.url = Some("https://u:***@example.org:8443/health?x=1".into());
        full.target = Some("0123456789abcdef".into());
        full.name = Some("Example".into());
        full.location = Some("eu-1".into());
        full.up = Some(false);
        full.error_kind = Some(ErrorKind::HttpStatus);
        full.phases_ms = Some(Phases {
            dns: Some(1.25),
            connect: Some(f64::NAN),
            tls: None,
            ttfb: Some(30.0),
            transfer: Some(f64::INFINITY),
        });
        full.ip = Some("2001:db8::1".into());
        full.http_version = Some("HTTP/2".into());
        full.body_bytes = Some(12345);
        full.redirects = Some(2);
        full.tls_cert_not_after = Some(datetime!(2027-01-15 23:59:59.5 -05:00));
        full.conditions = Some(vec![ConditionResult {
            condition: "[STATUS] == 200".into(),
            success: false,
            resolved: "[STATUS] (503) == 200".into(),
        }]);
        full.degraded = Some(false);
        full.round = Some(-29_955_600);
        full.recheck = Some(true);
        let mut empty_phases = ProbeEvent::new(t, "http", "h", Some(80));
        empty_phases.phases_ms = Some(Phases::default());
        let mut kinds = ProbeEvent::new(t, "dns", "127.0.0.1", None);
        kinds.status_code = None;
        kinds.dns = Some(crate::event::kinds::DnsDetails {
            rcode: "NOERROR".into(),
            answers: vec![crate::event::kinds::DnsRecord {
                name: "example.org.".into(),
                ttl: 300,
                class: "IN".into(),
                rtype: "TXT".into(),
                data: "\"v=spf1 -all\"".into(),
            }],
            soa_serial: Some(7),
            ..Default::default()
        });
        kinds.icmp = Some(crate::event::kinds::IcmpDetails {
            sent: 3,
            received: 2,
            loss_percent: 33.3,
            rtt_min_ms: Some(0.01),
            ..Default::default()
        });
        kinds.tls = Some(crate::event::kinds::TlsDetails {
            version: "TLS 1.3".into(),
            earliest_expiry: Some(datetime!(2027-01-15 23:59:59 UTC)),
            ..Default::default()
        });
        kinds.tcp = Some(Default::default());
        kinds.grpc = Some(crate::event::kinds::GrpcDetails {
            status: "SERVING".into(),
        });
        kinds.push = Some(Default::default());
        let job = JobEvent {
            envelope: Envelope::new(JobEvent::TITLE, JobEvent::VERSION, t),
            protocol: "https".into(),
            hostname: "example.org".into(),
            port: Some(443),
            path: Some("/".into()),
            tls_verify: Some(true),
            target: Some("0123456789abcdef".into()),
            source: Some("file:u.yaml".into()),
            definition: Some(
                serde_json::json!({"id": "0123456789abcdef", "url": "https://example.org/"}),
            ),
        };
        let bare_job = JobEvent {
            port: None,
            path: None,
            tls_verify: None,
            target: None,
            source: None,
            definition: None,
            ..job.clone()
        };
        let mut verdict = VerdictEvent::new("0123456789abcdef", i64::MAX, Verdict::Partial, t);
        verdict.up = vec!["eu-west".into(), "us-east".into()];
        verdict.down = vec!["ap-south".into()];
        verdict.interval_ms = Some(60_000);
        verdict.locations = Some(3);
        verdict.impaired = vec!["sa-east".into()];
        verdict.response_time_ms = Some(u64::MAX);
        let bare_verdict = VerdictEvent::new("t", -1, Verdict::None, t);
        vec![
            Event::from(full.clone()),
            Event::from(full.to_original()),
            Event::from(verdict),
            Event::from(bare_verdict),
            Event::from(ProbeEvent::new(t, "http", "h", Some(1))),
            Event::from(empty_phases),
            Event::from(kinds),
            Event::from(DummyEvent::new("t", "readers.dummy", i64::MIN, 1e300)),
            Event::from(DummyEvent::new("t", "r", 7, f64::NAN)),
            Event::Job(job),
            Event::Job(bare_job),
        ]
    }

    /// `field` agrees with the JSON document at `path`.
    fn agrees(event: &Event, path: &[&str], json: Option<&Value>) {
        let f = event.field(path);
        let json = json.filter(|v| !v.is_null());
        let ok = match (f, json) {
            (Field::Absent, None) => true,
            (Field::Str(s), Some(Value::String(j))) => s == j,
            (Field::I64(i), Some(j)) => j.as_i64() == Some(i) && j.is_i64(),
            (Field::U64(u), Some(j)) => j.as_u64() == Some(u),
            (Field::F64(x), Some(j)) => j.is_f64() && j.as_f64() == Some(x),
            (Field::Bool(b), Some(j)) => j.as_bool() == Some(b),
            (Field::Uuid(u), Some(Value::String(j))) => u.hyphenated().to_string() == *j,
            (Field::Time(t), Some(Value::String(j))) => {
                OffsetDateTime::parse(j, &Rfc3339).ok() == Some(t)
            }
            (Field::Object, Some(Value::Object(_))) => true,
            (Field::Conditions(c), Some(j)) => serde_json::to_value(c).ok().as_ref() == Some(j),
            (Field::Details(d), Some(j)) => d.to_value().as_ref() == Some(j),
            (Field::Strs(l), Some(Value::Array(j))) => {
                l.len() == j.len() && l.iter().zip(j).all(|(s, j)| j.as_str() == Some(s.as_str()))
            }
            _ => false,
        };
        assert!(ok, "{path:?}: field {f:?}, JSON {json:?} in {event:?}");
    }

    #[test]
    fn every_field_reads_as_its_json_document_has_it() {
        for event in samples() {
            let doc = event.to_json();
            let obj = doc.as_object().expect("an object");
            for (k, v) in obj {
                agrees(&event, &[k], Some(v));
                if let Field::Details(_) = event.field(&[k]) {
                    // Read whole: its members are no fields.
                    for m in v.as_object().expect("an object").keys() {
                        agrees(&event, &[k, m], None);
                    }
                    continue;
                }
                if let Value::Object(members) = v {
                    for (m, mv) in members {
                        agrees(&event, &[k, m], Some(mv));
                    }
                    for m in ["dns", "connect", "tls", "ttfb", "transfer", "other"] {
                        agrees(&event, &[k, m], members.get(m));
                    }
                }
            }
            // Names the document does not have are absent.
            for k in [
                "nope",
                "phases_ms_dns",
                "target_id",
                "integer_value",
                "tls_verify",
                "round",
                "recheck",
                "verdict",
                "impaired",
            ] {
                agrees(&event, &[k], obj.get(k));
            }
            agrees(&event, &["hostname", "x"], None);
            agrees(&event, &["phases_ms", "dns", "x"], None);
            let objects: Vec<&str> = obj
                .iter()
                .filter(|(k, v)| v.is_object() && event.field(&[k]) == Field::Object)
                .map(|(k, _)| k.as_str())
                .collect();
            assert_eq!(event.objects(), objects.as_slice());
        }
    }

    #[test]
    fn typed_fields_read_as_their_json_values_do() {
        let doc = serde_json::json!({"a": "2026-01-01T00:00:00.5+01:00", "b": 7, "c": 1.5,
            "d": "3f2a1b0c-9d8e-4f7a-8b6c-5d4e3f2a1b0c", "e": true, "n": null});
        let f = |k: &str| Field::of_json(&doc, &[k]);
        assert_eq!(f("a").as_time(), Some(datetime!(2025-12-31 23:00:00.5 UTC)));
        assert_eq!(f("b").as_i64(), Some(7));
        assert_eq!(f("c").as_i64(), None, "a float is not an integer");
        assert_eq!(f("c").as_f64(), Some(1.5));
        assert_eq!(
            f("d").as_uuid().map(|u| u.to_string()).as_deref(),
            Some("3f2a1b0c-9d8e-4f7a-8b6c-5d4e3f2a1b0c")
        );
        assert_eq!(f("e").as_bool(), Some(true));
        assert_eq!(f("n"), Field::Absent);
        assert_eq!(Field::U64(u64::MAX).as_i64(), None);
        assert_eq!(Field::U64(3).as_f64(), Some(3.0));
        assert_eq!(
            Field::Str("7").as_i64(),
            None,
            "as Value::as_i64: no parsing"
        );
    }
}
