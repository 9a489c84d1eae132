//! Which placeholders each kind of check produces, so that a condition a check can never
//! satisfy (`[STATUS]` on ICMP) is a configuration error rather than an outage; and the values
//! Gatus gives the kinds without an HTTP response (DNS response codes, the `[BODY]` of DNS and
//! gRPC checks), so that its configurations mean here what they mean there.

use std::net::Ipv6Addr;

use crate::event::{DnsRecord, Kind};

use super::{Condition, Placeholder};

impl Placeholder {
    /// Whether a check of `kind` produces the placeholder, from what each check observes: the
    /// HTTP status and headers come only from HTTP; an address and whether a connection (or a
    /// reply, for UDP, ICMP and DNS) was made from every check but push; phases from the checks
    /// that have them; certificates from the checks that make a TLS session; `[BODY]` from the
    /// checks Gatus gives one (the reply of TCP, TLS and UDP, the answers of DNS, the serving
    /// status of gRPC); the DNS and ICMP values from their own checks.
    pub fn produced_by(self, kind: Kind) -> bool {
        use Kind::*;
        match self {
            Placeholder::Status | Placeholder::Header => kind.is_http(),
            Placeholder::Ip | Placeholder::Connected | Placeholder::Ttfb => kind != Push,
            Placeholder::ResponseTime => true,
            Placeholder::Body => {
                matches!(kind, Http | Https | Tcp | Tls | Udp | Dns | Grpc | Grpcs)
            }
            Placeholder::CertificateExpiration | Placeholder::TlsTime => kind.has_tls(),
            Placeholder::DnsTime | Placeholder::ConnectTime => {
                matches!(kind, Http | Https | Tcp | Tls | Starttls | Grpc | Grpcs)
            }
            Placeholder::PacketLoss => kind == Icmp,
            Placeholder::DnsRcode | Placeholder::DnsAnswers => kind == Dns,
        }
    }

    /// The placeholders a check of `kind` produces, in the order of the documentation.
    pub fn produced(kind: Kind) -> impl Iterator<Item = Placeholder> {
        Placeholder::ALL
            .into_iter()
            .filter(move |p| p.produced_by(kind))
    }

    /// As a user writes it: `[HEADER].<name>` with its name.
    fn written(self) -> &'static str {
        match self {
            Placeholder::Header => "[HEADER].<name>",
            p => p.as_str(),
        }
    }
}

/// The first condition (by index) that reads a placeholder a check of `kind` does not produce,
/// and that placeholder; `Ok` when every condition can be met. The caller names the condition
/// (`targets[3].conditions[1]: `) and says why with [`not_produced_text`].
pub fn check_kind(conditions: &[Condition], kind: Kind) -> Result<(), (usize, Placeholder)> {
    for (i, condition) in conditions.iter().enumerate() {
        if let Some(p) = condition.placeholders().find(|p| !p.produced_by(kind)) {
            return Err((i, p));
        }
    }
    Ok(())
}

/// The placeholders a check of `kind` produces, for people: `[IP], [RESPONSE_TIME], …`.
pub fn produced_text(kind: Kind) -> String {
    Placeholder::produced(kind)
        .map(Placeholder::written)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why a condition cannot be used on a check of `kind`: `[STATUS] cannot be used with an icmp
/// check (it produces [IP], [RESPONSE_TIME], [CONNECTED], [TTFB], [PACKET_LOSS])`.
pub fn not_produced_text(placeholder: Placeholder, kind: Kind) -> String {
    let article = match kind {
        Kind::Http | Kind::Https | Kind::Icmp => "an",
        _ => "a",
    };
    format!(
        "{placeholder} cannot be used with {article} {kind} check (it produces {})",
        produced_text(kind)
    )
}

use crate::event::dns_names::RCODES;

/// The names `[DNS_RCODE]` can be compared with; any other is a configuration error.
pub const DNS_RCODES: [&str; 20] = {
    let mut names = [""; 20];
    let mut i = 0;
    while i < RCODES.len() {
        names[i] = RCODES[i].1;
        i += 1;
    }
    names
};

/// A response code's name for `[DNS_RCODE]`, as Gatus writes it (`3` is `NXDOMAIN`); `None`
/// for a code without one, which Gatus reads as the empty string.
pub fn rcode_name(code: u16) -> Option<&'static str> {
    RCODES
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, name)| *name)
}

/// What Gatus's `[BODY]` is for a DNS check: the value of the last answer, as Gatus reads
/// each type (A and AAAA the address; CNAME, NS, PTR the name; MX the exchange without its
/// preference; SRV `target:port`), except TXT, whose strings are joined without quotes and
/// whose records are appended one per line; any other type reads as `query type is not
/// supported yet`. The DNS prober hands it to [`Context::body`](super::Context::body) so
/// Gatus's `[BODY] == 93.184.216.34` works as it does there.
pub fn gatus_dns_body(answers: &[DnsRecord]) -> String {
    let mut body = String::new();
    for record in answers {
        let data = record.data.as_str();
        match record.rtype.as_str() {
            "A" | "CNAME" | "NS" | "PTR" => data.clone_into(&mut body),
            "AAAA" => body = go_ipv6(data),
            "MX" => data
                .split_whitespace()
                .nth(1)
                .unwrap_or_default()
                .clone_into(&mut body),
            "SRV" => {
                let fields: Vec<&str> = data.split_whitespace().collect();
                body = match fields[..] {
                    [_priority, _weight, port, target] => format!("{target}:{port}"),
                    _ => String::new(),
                };
            }
            "TXT" => {
                if !body.is_empty() {
                    body.push('\n');
                }
                push_txt(&mut body, data);
            }
            _ => "query type is not supported yet".clone_into(&mut body),
        }
    }
    body
}

/// What Gatus's `[BODY]` is for a gRPC health check: `{"status":"SERVING"}`, so that its
/// `[BODY].status == SERVING` works.
pub fn gatus_grpc_body(status: &str) -> String {
    let mut body = String::from(r#"{"status":"#);
    // A status name is plain capitals; anything else is written as a JSON string all the same.
    body.push_str(&serde_json::Value::from(status).to_string());
    body.push('}');
    body
}

/// An IPv6 address as Go writes it: an IPv4-mapped one in dotted form (`::ffff:1.2.3.4` is
/// `1.2.3.4`); text that is not an address stays as it is.
fn go_ipv6(data: &str) -> String {
    match data.parse::<Ipv6Addr>() {
        Ok(ip) => match ip.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => ip.to_string(),
        },
        Err(_) => data.to_owned(),
    }
}

/// A TXT record's strings, given in presentation (`"v=spf1" "-all"`), joined without their
/// quotes and with their escapes (`\"`, `\\`, `\DDD`) kept, as miekg/dns holds them.
fn push_txt(out: &mut String, data: &str) {
    let mut chars = data.chars();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                out.push('\\');
                if let Some(next) = chars.next() {
                    out.push(next);
                }
            }
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {}
            c => out.push(c),
        }
    }
}
