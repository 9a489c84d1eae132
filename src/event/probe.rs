//! `ProbeEvent`: the result of one probe of one target.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::Envelope;
use super::kinds::{DnsDetails, GrpcDetails, IcmpDetails, PushDetails, TcpDetails, TlsDetails};

/// The closed set of failure classes (`error_kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    Dns,
    Connect,
    ConnectRefused,
    Timeout,
    Tls,
    TlsCertificate,
    HttpStatus,
    RegexMismatch,
    BodyTooLarge,
    Protocol,
    Internal,
    /// A condition of the target does not hold (`error` is its resolved text).
    Condition,
    /// A DNS server answered with an rcode outside the check's `valid_rcodes`.
    DnsRcode,
    /// A TCP dialog's `expect` step did not match what the server sent.
    ExpectMismatch,
    /// The system does not allow the probe (an ICMP socket without the permission).
    Permission,
    /// A push target was not pushed to before its deadline.
    PushMissed,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 16] = [
        ErrorKind::Dns,
        ErrorKind::Connect,
        ErrorKind::ConnectRefused,
        ErrorKind::Timeout,
        ErrorKind::Tls,
        ErrorKind::TlsCertificate,
        ErrorKind::HttpStatus,
        ErrorKind::RegexMismatch,
        ErrorKind::BodyTooLarge,
        ErrorKind::Protocol,
        ErrorKind::Internal,
        ErrorKind::Condition,
        ErrorKind::DnsRcode,
        ErrorKind::ExpectMismatch,
        ErrorKind::Permission,
        ErrorKind::PushMissed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Dns => "dns",
            ErrorKind::Connect => "connect",
            ErrorKind::ConnectRefused => "connect_refused",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Tls => "tls",
            ErrorKind::TlsCertificate => "tls_certificate",
            ErrorKind::HttpStatus => "http_status",
            ErrorKind::RegexMismatch => "regex_mismatch",
            ErrorKind::BodyTooLarge => "body_too_large",
            ErrorKind::Protocol => "protocol",
            ErrorKind::Internal => "internal",
            ErrorKind::Condition => "condition",
            ErrorKind::DnsRcode => "dns_rcode",
            ErrorKind::ExpectMismatch => "expect_mismatch",
            ErrorKind::Permission => "permission",
            ErrorKind::PushMissed => "push_missed",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Phase durations in fractional milliseconds; a phase that did not happen stays `None`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Phases {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttfb: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer: Option<f64>,
}

impl Phases {
    pub fn is_empty(&self) -> bool {
        *self == Phases::default()
    }

    /// The same phases to the microsecond (`13.459596000000001` → `13.46`), as written.
    pub fn rounded(self) -> Phases {
        let r = |v: Option<f64>| v.map(|ms| (ms * 1000.0).round() / 1000.0);
        Phases {
            dns: r(self.dns),
            connect: r(self.connect),
            tls: r(self.tls),
            ttfb: r(self.ttfb),
            transfer: r(self.transfer),
        }
    }
}

/// The outcome of one condition for one probe, as the event carries it (schema 0.4.0). It
/// lives here, below `conditions`, which produces it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConditionResult {
    /// The condition as written.
    pub condition: String,
    /// Whether it holds.
    pub success: bool,
    /// The condition as written when it holds; when it fails, with the values it was given
    /// (`[STATUS] (502) == 200`), each cut to `conditions::MAX_RESOLVED_CHARS` characters.
    pub resolved: String,
}

/// One probe's result. The fields up to `matches_regex` are the original tool's, with the same
/// names, types and meaning; the rest are optional additions of schemas 0.3.0, 0.4.0
/// (`conditions`, `degraded`), 0.5.0 (the kind objects) and 0.6.0 (`round`, `recheck`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeEvent {
    #[serde(flatten)]
    pub envelope: Envelope,
    #[serde(default)]
    pub protocol: String,
    pub hostname: String,
    /// The port checked; null for ICMP and push checks (0.5.0).
    pub port: Option<u16>,
    #[serde(default)]
    pub path: String,
    /// The HTTP status: 0 when no response was received; null for checks other than HTTP
    /// (0.5.0).
    pub status_code: Option<u16>,
    /// Whole probe in rounded milliseconds, body included.
    pub response_time_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub regex: Option<String>,
    pub matches_regex: Option<bool>,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub up: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<ErrorKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phases_ms: Option<Phases>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirects: Option<u32>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub tls_cert_not_after: Option<OffsetDateTime>,
    /// The target's conditions, in order, when it has any (0.4.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<ConditionResult>>,
    /// Up but meeting one of the target's `degraded_if` conditions; absent when it has none
    /// (0.4.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub degraded: Option<bool>,
    /// What a DNS check's server answered (0.5.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<DnsDetails>,
    /// What an ICMP check's echo requests got back (0.5.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmp: Option<IcmpDetails>,
    /// The TLS session of a TLS, STARTTLS, HTTPS or gRPCS check (0.5.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsDetails>,
    /// A TCP check's dialog (0.5.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<TcpDetails>,
    /// A gRPC health check's answer (0.5.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc: Option<GrpcDetails>,
    /// The push a push target's event reports (0.5.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push: Option<PushDetails>,
    /// The target's round this probe was scheduled for (`registry::phase::Schedule::round_at`
    /// of its due time): the same in every location, so a fleet's results of one round meet
    /// (0.6.0). `None` for one-shot probes and pushes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub round: Option<i64>,
    /// A probe asked for by a recheck rather than by the schedule; it counts for its round
    /// (0.6.0). `None` on scheduled probes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recheck: Option<bool>,
}

/// Whether a result counts as up: its `up` field, or for an event without one (the original's
/// schema) no error and a 2xx or 3xx status.
pub fn counts_as_up(up: Option<bool>, has_error: bool, status_code: Option<u16>) -> bool {
    up.unwrap_or(!has_error && status_code.is_some_and(|s| (200..400).contains(&s)))
}

impl ProbeEvent {
    /// The short answer a check got, for tables: the HTTP status, a DNS rcode, a gRPC serving
    /// status, ICMP replies out of requests; `None` when none came.
    pub fn answer(&self) -> Option<String> {
        if let Some(d) = &self.dns {
            return Some(d.rcode.clone());
        }
        if let Some(g) = &self.grpc {
            return Some(g.status.clone());
        }
        if let Some(i) = &self.icmp {
            return Some(format!("{}/{}", i.received, i.sent));
        }
        self.status_code.filter(|s| *s != 0).map(|s| s.to_string())
    }

    pub const TITLE: &'static str = "ProbeEvent";
    pub const VERSION: &'static str = "0.6.0";
    /// The original tool's version, emitted by the compatibility mode.
    pub const ORIGINAL_VERSION: &'static str = "0.2.0";

    /// An event with only the envelope and the original's required fields set.
    pub fn new(
        event_time: OffsetDateTime,
        protocol: &str,
        hostname: &str,
        port: Option<u16>,
    ) -> Self {
        ProbeEvent {
            envelope: Envelope::new(Self::TITLE, Self::VERSION, event_time),
            protocol: protocol.to_owned(),
            hostname: hostname.to_owned(),
            port,
            path: String::new(),
            status_code: Some(0),
            response_time_ms: 0,
            error: None,
            regex: None,
            matches_regex: None,
            url: None,
            target: None,
            name: None,
            location: None,
            up: None,
            error_kind: None,
            phases_ms: None,
            ip: None,
            http_version: None,
            body_bytes: None,
            redirects: None,
            tls_cert_not_after: None,
            conditions: None,
            degraded: None,
            dns: None,
            icmp: None,
            tls: None,
            tcp: None,
            grpc: None,
            push: None,
            round: None,
            recheck: None,
        }
    }

    /// The same event with exactly the original's field set (schema 0.2.0), for fleets whose
    /// consumers reject properties they do not know. Only HTTP checks have that form (the
    /// configuration refuses other kinds with `EVENT_FORMAT=original`): a missing port or
    /// status is written as 0.
    pub fn to_original(&self) -> ProbeEvent {
        let mut e = ProbeEvent::new(
            self.envelope.event_time,
            &self.protocol,
            &self.hostname,
            Some(self.port.unwrap_or(0)),
        );
        e.envelope = Envelope {
            schema_version: Self::ORIGINAL_VERSION.to_owned(),
            ..self.envelope.clone()
        };
        e.path = self.path.clone();
        e.status_code = Some(self.status_code.unwrap_or(0));
        e.response_time_ms = self.response_time_ms;
        e.error = self.error.clone();
        e.regex = self.regex.clone();
        e.matches_regex = self.matches_regex;
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::datetime;

    #[test]
    fn serializes_envelope_first_and_original_fields_in_order() {
        let e = ProbeEvent::new(
            datetime!(2021-01-15 12:34:56 UTC),
            "https",
            "example.org",
            Some(443),
        );
        let json = serde_json::to_string(&e).unwrap();
        let keys: Vec<_> = [
            "schema_title",
            "uuid",
            "event_time",
            "protocol",
            "hostname",
            "port",
        ]
        .iter()
        .map(|k| json.find(&format!("\"{k}\"")).unwrap())
        .collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "{json}");
        assert!(json.contains("\"regex\":null"));
        assert!(json.contains("\"matches_regex\":null"));
        assert!(!json.contains("\"error\""));
    }

    #[test]
    fn original_form_drops_new_fields() {
        let mut e = ProbeEvent::new(datetime!(2021-01-15 12:34:56 UTC), "http", "h", Some(80));
        e.up = Some(true);
        e.url = Some("http://h/".into());
        e.phases_ms = Some(Phases::default());
        e.conditions = Some(vec![ConditionResult {
            condition: "[STATUS] == 200".into(),
            success: true,
            resolved: "[STATUS] == 200".into(),
        }]);
        e.degraded = Some(false);
        e.round = Some(29_955_600);
        e.recheck = Some(true);
        let o = e.to_original();
        assert_eq!(o.envelope.schema_version, "0.2.0");
        assert_eq!(o.envelope.uuid, e.envelope.uuid);
        let v = serde_json::to_value(&o).unwrap();
        let mut keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "event_time",
                "hostname",
                "matches_regex",
                "path",
                "port",
                "protocol",
                "regex",
                "response_time_ms",
                "schema_title",
                "schema_version",
                "status_code",
                "uuid"
            ]
        );
    }

    #[test]
    fn round_and_recheck_are_written_only_when_set() {
        let mut e = ProbeEvent::new(datetime!(2026-12-15 12:00 UTC), "http", "h", Some(80));
        let v = serde_json::to_value(&e).unwrap();
        assert!(
            v.get("round").is_none() && v.get("recheck").is_none(),
            "{v}"
        );
        e.round = Some(-3);
        e.recheck = Some(false);
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!((&v["round"], &v["recheck"]), (&json!(-3), &json!(false)));
        let back: ProbeEvent = serde_json::from_value(v).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn phases_are_written_to_the_microsecond() {
        let p = Phases {
            connect: Some(13.459_596_000_000_001),
            ttfb: Some(0.000_4),
            ..Phases::default()
        };
        let json = serde_json::to_string(&p.rounded()).unwrap();
        assert_eq!(json, r#"{"connect":13.46,"ttfb":0.0}"#);
    }

    #[test]
    fn error_kind_names_match_serde() {
        for k in ErrorKind::ALL {
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
    }
}
