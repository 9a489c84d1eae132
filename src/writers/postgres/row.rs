//! What the writer writes: typed events from the pipeline, or JSON documents read back from the
//! spool, seen through one interface, so the column mapping, the conversions, the targets and
//! the rollups exist once. A typed event is read field by field (`Event::field`), without
//! building its JSON document; a conversion the typed fields do not cover (a number in a text
//! column, say) asks for the document, so both kinds of row give the same cells.

use std::borrow::Cow;

use serde_json::Value;

use super::encode::lookup;
use super::table::Column;
use crate::event::{Event, Field};

/// A row to write: an event's fields by their JSON names.
pub trait Row: Send + Sync {
    /// The field at `path` (a top-level name, then members of objects).
    fn get(&self, path: &[&str]) -> Field<'_>;

    /// The value of `column` by the table's mapping rule (see `table`).
    fn column(&self, column: &Column) -> Field<'_>;

    /// The whole document (for rejects, and conversions the typed fields do not cover).
    fn json(&self) -> Cow<'_, Value>;

    /// Which table the row goes to.
    fn schema_title(&self) -> &str {
        self.get(&["schema_title"]).as_str().unwrap_or("")
    }
}

impl Row for Value {
    fn get(&self, path: &[&str]) -> Field<'_> {
        Field::of_json(self, path)
    }

    fn column(&self, column: &Column) -> Field<'_> {
        lookup(self, column).map_or(Field::Absent, Field::Json)
    }

    fn json(&self) -> Cow<'_, Value> {
        Cow::Borrowed(self)
    }
}

impl Row for Event {
    fn get(&self, path: &[&str]) -> Field<'_> {
        self.field(path)
    }

    /// As `lookup` reads the event's document: the field of the column's path; for a column
    /// without an explicit path whose name is no field, an object's member under a joined name
    /// (`phases_ms_dns`). (`lookup` skips the joined name when the field is present but null;
    /// no event has a null field whose name starts with an object's name and `_`.)
    fn column(&self, column: &Column) -> Field<'_> {
        if column.explicit {
            return self.field(&column.path);
        }
        let name = column.name.as_str();
        match self.field(&[name]) {
            Field::Absent => {
                for object in self.objects() {
                    if let Some(member) = name
                        .strip_prefix(object)
                        .and_then(|rest| rest.strip_prefix('_'))
                    {
                        match self.field(&[object, member]) {
                            Field::Absent => {}
                            f => return f,
                        }
                    }
                }
                // A member of a kind object (`dns_rcode`): those are read whole, so the
                // document answers (`Object` is no cell: the encoder asks `lookup`).
                let kind_member = name
                    .split_once('_')
                    .is_some_and(|(object, _)| matches!(self.field(&[object]), Field::Details(_)));
                if kind_member {
                    Field::Object
                } else {
                    Field::Absent
                }
            }
            f => f,
        }
    }

    fn json(&self) -> Cow<'_, Value> {
        Cow::Owned(self.to_json())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{
        ConditionResult, DnsDetails, DnsRecord, DummyEvent, Envelope, ErrorKind, IcmpDetails,
        JobEvent, Phases, ProbeEvent, TlsDetails, Verdict, VerdictEvent,
    };
    use crate::writers::postgres::table::{Column, Table};
    use time::macros::datetime;

    /// Probe events with every field, with the original's fields only (0.2.0), with none of
    /// the optional ones, with numbers JSON cannot hold; dummy, job and verdict events.
    fn events() -> Vec<Event> {
        let t = datetime!(2026-03-04 05:06:07.123456789 +02:00);
        let mut full = ProbeEvent::new(t, "https", "example.org", Some(8443));
        full.path = "/health?x=1".into();
        full.status_code = Some(503);
        full.response_time_ms = 70_000;
        full.error = Some("HTTP 503".into());
        full.regex = Some("ok$".into());
        full.matches_regex = Some(false);
        full.url = Some("https://example.org:8443/health?x=1".into());
        full.target = Some("0123456789abcdef".into());
        full.name = Some("Example".into());
        full.location = Some("eu-1".into());
        full.up = Some(false);
        full.error_kind = Some(ErrorKind::HttpStatus);
        full.phases_ms = Some(Phases {
            dns: Some(1.25),
            connect: Some(2.5),
            tls: Some(10.125),
            ttfb: Some(30.0),
            transfer: Some(0.5),
        });
        full.ip = Some("2001:db8::1".into());
        full.http_version = Some("HTTP/2".into());
        full.body_bytes = Some(12_345);
        full.redirects = Some(2);
        full.tls_cert_not_after = Some(datetime!(2027-01-15 23:59:59.5 -05:00));
        full.conditions = Some(vec![
            ConditionResult {
                condition: "[STATUS] == 200".into(),
                success: true,
                resolved: "[STATUS] == 200".into(),
            },
            ConditionResult {
                condition: "[BODY].status == UP".into(),
                success: false,
                resolved: "[BODY].status (<\"DO\u{0}WN\">) == UP".into(),
            },
        ]);
        full.degraded = Some(false);
        full.round = Some(29_955_600);
        full.recheck = Some(true);
        let mut odd = full.clone();
        odd.envelope.uuid = uuid::Uuid::new_v4();
        odd.response_time_ms = u64::MAX;
        odd.body_bytes = Some(u64::MAX);
        odd.degraded = Some(true);
        odd.conditions = Some(Vec::new());
        odd.round = Some(i64::MIN);
        odd.phases_ms = Some(Phases {
            dns: Some(f64::NAN),
            connect: None,
            tls: Some(f64::INFINITY),
            ttfb: Some(-0.0),
            transfer: Some(1e300),
        });
        // A DNS check (schema 0.5.0): no port, no status, kind objects (one string with U+0000).
        let mut kinds = ProbeEvent::new(t, "dns", "127.0.0.1", None);
        kinds.status_code = None;
        kinds.target = Some("dns-target".into());
        kinds.up = Some(false);
        kinds.error_kind = Some(ErrorKind::DnsRcode);
        kinds.dns = Some(DnsDetails {
            rcode: "NXDOMAIN".into(),
            answers: Vec::new(),
            authority: vec![DnsRecord {
                name: "example.org.".into(),
                ttl: 60,
                class: "IN".into(),
                rtype: "TXT".into(),
                data: "\"a\u{0}b\"".into(),
            }],
            additional: Vec::new(),
            soa_serial: Some(2026120101),
        });
        kinds.icmp = Some(IcmpDetails {
            sent: 2,
            received: 1,
            loss_percent: 50.0,
            ..IcmpDetails::default()
        });
        kinds.tls = Some(TlsDetails {
            version: "TLS 1.3".into(),
            ..TlsDetails::default()
        });
        let job = JobEvent {
            envelope: Envelope::new(JobEvent::TITLE, JobEvent::VERSION, t),
            protocol: "https".into(),
            hostname: "example.org".into(),
            port: Some(443),
            path: None,
            tls_verify: Some(true),
            target: None,
            source: None,
            definition: None,
        };
        // A verdict: lists of locations, in `verdicts`' text[] columns (as JSON in the
        // oddities' columns), one name with U+0000, one with what an array literal quotes.
        let mut verdict = VerdictEvent::new("0123456789abcdef", 7, Verdict::Partial, t);
        verdict.up = vec!["eu-1".into(), "us-\u{0}1".into(), "a \"b\", {c}\\".into()];
        verdict.down = vec!["ap-1".into()];
        verdict.impaired = vec!["sa-1".into()];
        vec![
            Event::from(full.clone()),
            Event::from(full.to_original()),
            Event::from(ProbeEvent::new(t, "http", "h", Some(80))),
            Event::from(odd),
            Event::from(kinds),
            Event::from(DummyEvent::new("t", "readers.dummy", i64::MAX, 1e300)),
            Event::from(DummyEvent::new("t", "r", -7, 0.1)),
            Event::from(DummyEvent::new("t", "r", 7, f64::NAN)),
            Event::Job(job),
            Event::from(verdict),
        ]
    }

    /// (name, base type, declared type, NOT NULL, comment), as `Table::load` reads the catalog.
    type Spec<'a> = (&'a str, &'a str, &'a str, bool, &'a str);

    fn table(specs: &[Spec]) -> Table {
        let columns = specs
            .iter()
            .map(|(n, base, declared, not_null, comment)| {
                Column::from_catalog(
                    (*n).into(),
                    (*base).into(),
                    (*declared).into(),
                    *not_null,
                    (*comment).into(),
                )
            })
            .collect();
        Table::new("t", columns)
    }

    const VARCHAR: &str = "character varying";
    const TSTZ: &str = "timestamp with time zone";
    const F64: &str = "double precision";

    /// `probe_events` as the migrations make it (port and status_code nullable since
    /// 20261203000000).
    fn probe_events() -> Table {
        table(&[
            ("uuid", "uuid", "uuid", true, ""),
            ("event_time", TSTZ, TSTZ, true, ""),
            ("schema_title", VARCHAR, VARCHAR, true, ""),
            ("schema_version", VARCHAR, VARCHAR, true, ""),
            ("protocol", VARCHAR, VARCHAR, false, ""),
            ("hostname", VARCHAR, VARCHAR, true, ""),
            ("port", "integer", "ip_port", false, ""),
            ("path", VARCHAR, VARCHAR, false, ""),
            ("status_code", "integer", "integer", false, ""),
            ("response_time_ms", "integer", "integer", true, ""),
            ("error", VARCHAR, VARCHAR, false, ""),
            ("regex", VARCHAR, VARCHAR, false, ""),
            ("matches_regex", "boolean", "boolean", false, ""),
            ("url", VARCHAR, VARCHAR, false, ""),
            ("location", VARCHAR, VARCHAR, false, ""),
            ("up", "boolean", "boolean", false, ""),
            ("error_kind", VARCHAR, VARCHAR, false, ""),
            ("phases_ms_dns", F64, F64, false, ""),
            ("phases_ms_connect", F64, F64, false, ""),
            ("phases_ms_tls", F64, F64, false, ""),
            ("phases_ms_ttfb", F64, F64, false, ""),
            ("phases_ms_transfer", F64, F64, false, ""),
            ("ip", VARCHAR, VARCHAR, false, ""),
            ("http_version", VARCHAR, VARCHAR, false, ""),
            ("body_bytes", "bigint", "bigint", false, ""),
            ("redirects", "integer", "integer", false, ""),
            ("tls_cert_not_after", TSTZ, TSTZ, false, ""),
            ("target_id", VARCHAR, VARCHAR, false, "uptimer: from target"),
            ("conditions", "jsonb", "jsonb", false, ""),
            ("degraded", "boolean", "boolean", false, ""),
            ("dns", "jsonb", "jsonb", false, ""),
            ("icmp", "jsonb", "jsonb", false, ""),
            ("tls", "jsonb", "jsonb", false, ""),
            ("tcp", "jsonb", "jsonb", false, ""),
            ("grpc", "jsonb", "jsonb", false, ""),
            ("push", "jsonb", "jsonb", false, ""),
            ("round", "bigint", "bigint", false, ""),
            ("recheck", "boolean", "boolean", false, ""),
        ])
    }

    /// `dummy_events` as the migrations make it.
    fn dummy_events() -> Table {
        table(&[
            ("uuid", "uuid", "uuid", true, ""),
            ("event_time", TSTZ, TSTZ, true, ""),
            ("schema_title", VARCHAR, VARCHAR, true, ""),
            ("schema_version", VARCHAR, VARCHAR, true, ""),
            ("reader", VARCHAR, VARCHAR, true, ""),
            ("target", VARCHAR, VARCHAR, true, ""),
            ("integer_value", "numeric", "numeric", true, ""),
            ("float_value", "numeric", "numeric", true, ""),
        ])
    }

    /// `verdicts` as the migrations make it (20261216000000).
    fn verdicts() -> Table {
        let arr = "text[]";
        table(&[
            ("uuid", "uuid", "uuid", true, ""),
            ("target_id", "text", "text", true, "uptimer: from target"),
            ("round", "bigint", "bigint", true, ""),
            ("verdict", "text", "text", true, ""),
            ("up_locations", arr, arr, true, "uptimer: from up"),
            ("down_locations", arr, arr, true, "uptimer: from down"),
            (
                "impaired_locations",
                arr,
                arr,
                true,
                "uptimer: from impaired",
            ),
            ("locations", "integer", "integer", false, ""),
            ("interval_ms", "bigint", "bigint", false, ""),
            ("response_time_ms", "bigint", "bigint", false, ""),
            ("decided_at", TSTZ, TSTZ, true, "uptimer: from event_time"),
            ("schema_version", VARCHAR, VARCHAR, true, ""),
        ])
    }

    /// Every field in a column of another type than its own, and the mapping rule's corners;
    /// every row fits.
    fn oddities() -> Table {
        table(&[
            ("uuid", "text", "text", true, ""),
            ("event_time", "text", "text", true, ""),
            ("port", "text", "text", false, ""),
            ("status_code", "smallint", "smallint", false, ""),
            ("response_time_ms", "numeric", "numeric", false, ""),
            ("body_bytes", F64, F64, false, ""),
            ("integer_value", "bigint", "bigint", false, ""),
            ("float_value", "real", "real", false, ""),
            ("redirects", "real", "real", false, ""),
            ("up", "text", "text", false, ""),
            ("tls_verify", "text", "text", false, ""),
            ("matches_regex", "boolean", "boolean", false, ""),
            ("error_kind", VARCHAR, "character varying(20)", false, ""),
            ("phases_ms", "jsonb", "jsonb", false, ""),
            ("phases_ms_tls", "real", "real", false, ""),
            ("phases_ms_ttfb", "text", "text", false, ""),
            ("dns", F64, F64, false, "uptimer: from phases_ms.dns"),
            ("deep", F64, F64, false, "uptimer: from phases_ms.dns.x"),
            ("tls_cert_not_after", "text", "text", false, ""),
            (
                "cert",
                TSTZ,
                TSTZ,
                false,
                "uptimer: from tls_cert_not_after",
            ),
            ("schema_title", "jsonb", "jsonb", false, ""),
            ("conditions", "text", "text", false, ""),
            ("degraded", "text", "text", false, ""),
            ("icmp", "text", "text", false, ""),
            ("dns_rcode", "text", "text", false, ""),
            ("icmp_sent", "bigint", "bigint", false, ""),
            ("no_such_field", "integer", "integer", false, ""),
            ("round", "text", "text", false, ""),
            ("recheck", "text", "text", false, ""),
            ("down", "jsonb", "jsonb", false, ""),
            ("impaired", "text", "text", false, ""),
        ])
    }

    /// Columns that refuse every row, each for its own reason.
    fn refusals() -> Table {
        table(&[
            ("body_bytes", "smallint", "smallint", false, ""),
            ("integer_value", "smallint", "smallint", false, ""),
            ("hostname", "bigint", "bigint", false, ""),
            ("missing", "integer", "integer", true, ""),
        ])
    }

    #[test]
    fn typed_events_encode_to_the_cells_their_json_documents_do() {
        let typed = events();
        let docs: Vec<Value> = typed.iter().map(Event::to_json).collect();
        let typed: Vec<&Event> = typed.iter().collect();
        let docs: Vec<&Value> = docs.iter().collect();
        let mut kept_and_refused = Vec::new();
        for t in [
            probe_events(),
            dummy_events(),
            verdicts(),
            oddities(),
            refusals(),
        ] {
            let (from_docs, bad_docs) = t.encode(&docs);
            let (from_typed, bad_typed) = t.encode(&typed);
            let names: Vec<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
            assert!(from_typed.same_values(&from_docs), "{names:?}");
            let bad_docs: Vec<(Value, String)> = bad_docs
                .into_iter()
                .map(|(r, why)| (r.clone(), why))
                .collect();
            let bad_typed: Vec<(Value, String)> = bad_typed
                .into_iter()
                .map(|(r, why)| (r.to_json(), why))
                .collect();
            assert_eq!(bad_typed, bad_docs, "{names:?}");
            kept_and_refused.push((from_typed.rows.len(), bad_typed.len()));
        }
        // Rows were kept and refused where expected: the comparison covered both.
        // The verdict is refused by probe_events and dummy_events, and kept by verdicts.
        assert_eq!(kept_and_refused, [(4, 6), (2, 8), (1, 9), (10, 0), (0, 10)]);
    }

    #[test]
    fn typed_events_read_as_their_json_documents_do_for_targets_and_rollups() {
        for e in events() {
            let doc = e.to_json();
            for path in [
                &["target"][..],
                &["url"],
                &["name"],
                &["protocol"],
                &["hostname"],
                &["path"],
                &["error"],
                &["error_kind"],
            ] {
                assert_eq!(
                    e.get(path).as_str(),
                    Row::get(&doc, path).as_str(),
                    "{path:?}"
                );
            }
            for path in [&["port"][..], &["status_code"]] {
                assert_eq!(
                    e.get(path).as_i64(),
                    Row::get(&doc, path).as_i64(),
                    "{path:?}"
                );
            }
            for k in ["dns", "connect", "tls", "ttfb", "transfer"] {
                let path = ["phases_ms", k];
                assert_eq!(
                    e.get(&path).as_f64(),
                    Row::get(&doc, &path).as_f64(),
                    "{path:?}"
                );
            }
            let ms = ["response_time_ms"];
            assert_eq!(e.get(&ms).as_f64(), Row::get(&doc, &ms).as_f64());
            assert_eq!(e.get(&["up"]).as_bool(), Row::get(&doc, &["up"]).as_bool());
            for path in [&["event_time"][..], &["tls_cert_not_after"]] {
                assert_eq!(
                    e.get(path).as_time(),
                    Row::get(&doc, path).as_time(),
                    "{path:?}"
                );
            }
            assert_eq!(
                e.get(&["uuid"]).as_uuid(),
                Row::get(&doc, &["uuid"]).as_uuid()
            );
            assert_eq!(e.schema_title(), doc.schema_title());
        }
    }
}
