//! The kind-specific objects of a probe event (schema 0.5.0): what a DNS, ICMP, TLS, TCP, gRPC
//! or push check observed beyond the fields every probe shares. Each is absent for the kinds
//! that do not produce it; `tls` is also set for HTTPS and gRPCS.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// One resource record as the server sent it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsRecord {
    /// Owner name, fully qualified (`example.org.`).
    pub name: String,
    pub ttl: u32,
    /// `IN`, `CH`, …
    pub class: String,
    /// `A`, `MX`, …
    #[serde(rename = "type")]
    pub rtype: String,
    /// The record data in zone-file presentation (TXT strings in double quotes).
    pub data: String,
}

impl DnsRecord {
    /// The record as blackbox_exporter matches it: `name<TAB>ttl<TAB>class<TAB>type<TAB>data`.
    pub fn text(&self) -> String {
        format!(
            "{}\t{}\t{}\t{}\t{}",
            self.name, self.ttl, self.class, self.rtype, self.data
        )
    }
}

/// What a DNS check's server answered.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DnsDetails {
    /// The response code by name (`NOERROR`, `NXDOMAIN`, …).
    pub rcode: String,
    pub answers: Vec<DnsRecord>,
    pub authority: Vec<DnsRecord>,
    pub additional: Vec<DnsRecord>,
    /// The serial of the SOA record among the answers or authority, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soa_serial: Option<u32>,
}

/// What an ICMP check's echo requests got back.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct IcmpDetails {
    pub sent: u32,
    pub received: u32,
    /// Percent of requests without a reply (0–100).
    pub loss_percent: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt_min_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt_avg_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt_max_ms: Option<f64>,
    /// The IP TTL (hop limit) of the last reply, when the socket reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_ttl: Option<u8>,
}

/// One certificate of the chain the server presented, leaf first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateInfo {
    pub subject: String,
    pub issuer: String,
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// SHA-256 of the DER certificate, lower-case hex.
    pub sha256: String,
}

/// The TLS session of a TLS, STARTTLS, HTTPS or gRPCS check.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TlsDetails {
    /// `TLS 1.3`, `TLS 1.2`.
    pub version: String,
    /// The cipher suite's IANA name.
    pub cipher: String,
    pub chain: Vec<CertificateInfo>,
    /// The earliest `not_after` of the chain.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub earliest_expiry: Option<OffsetDateTime>,
}

/// A TCP check's dialog: the lines its `expect` steps matched, in order.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TcpDetails {
    pub matched: Vec<String>,
}

/// A gRPC health check's answer.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GrpcDetails {
    /// The serving status by name (`SERVING`, `NOT_SERVING`, `SERVICE_UNKNOWN`, `UNKNOWN`).
    pub status: String,
}

/// The push that a push target's event reports.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PushDetails {
    /// The pusher's message (at most 1 KB), when it sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msg: Option<String>,
}

/// The kind of a check, as the event's `protocol` names it: the scheme of the target's URL
/// (`dns` for a target with a `dns:` section).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Http,
    Https,
    Tcp,
    /// TCP with TLS from the first byte (`tls://`, or `tcp://` with `tcp.tls: true`).
    Tls,
    /// SMTP upgraded with STARTTLS.
    Starttls,
    Udp,
    Icmp,
    Dns,
    Grpc,
    Grpcs,
    Push,
}

impl Kind {
    pub const ALL: [Kind; 11] = [
        Kind::Http,
        Kind::Https,
        Kind::Tcp,
        Kind::Tls,
        Kind::Starttls,
        Kind::Udp,
        Kind::Icmp,
        Kind::Dns,
        Kind::Grpc,
        Kind::Grpcs,
        Kind::Push,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Http => "http",
            Kind::Https => "https",
            Kind::Tcp => "tcp",
            Kind::Tls => "tls",
            Kind::Starttls => "starttls",
            Kind::Udp => "udp",
            Kind::Icmp => "icmp",
            Kind::Dns => "dns",
            Kind::Grpc => "grpc",
            Kind::Grpcs => "grpcs",
            Kind::Push => "push",
        }
    }

    /// The kind a URL scheme names (`dns` is not a scheme of its own: see `DnsCheck`).
    pub fn from_scheme(scheme: &str) -> Option<Kind> {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(scheme))
    }

    /// Whether the check speaks HTTP (the original's kinds).
    pub fn is_http(self) -> bool {
        matches!(self, Kind::Http | Kind::Https)
    }

    /// Whether the check makes a TLS session (its certificate can be read).
    pub fn has_tls(self) -> bool {
        matches!(self, Kind::Https | Kind::Tls | Kind::Starttls | Kind::Grpcs)
    }

    /// Whether the check connects to a port (`icmp` and `push` do not).
    pub fn has_port(self) -> bool {
        !matches!(self, Kind::Icmp | Kind::Push)
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
