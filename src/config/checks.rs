//! The settings of checks beyond HTTP: the `tcp:`, `icmp:`, `dns:` and `grpc:` sections of a
//! target, written with blackbox_exporter's module keys and meanings (a module's body copied
//! under a target works), and the push settings. Each section is read as written
//! ([`TcpSection`], …) and validated into what the probers use ([`Check`]); every error names
//! the key (`tcp.query_response[1].expect`) and says what was expected.

use std::time::Duration;

use crate::regexes::{self, SharedRegex};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{DNSClass, RecordType};
use serde::Deserialize;

use super::parse::{self, TlsVerify};
use crate::event::Kind;

/// A validation error: the key (relative to the target), the value and what was expected.
pub type CheckError = (String, String, String);

fn err(
    field: impl Into<String>,
    value: impl Into<String>,
    expected: impl Into<String>,
) -> CheckError {
    (field.into(), value.into(), expected.into())
}

/// Which IP version a name is resolved to first (`preferred_ip_protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpProtocol {
    Ip4,
    Ip6,
}

/// How a check picks among a name's addresses. Without a preference every address is tried in
/// the resolver's order (blackbox_exporter prefers ip6 by default; a check that then fails on a
/// host listening only on IPv4 surprised more than it helped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddrPolicy {
    pub preferred: Option<IpProtocol>,
    /// Whether the other version is used when the preferred one has no address (default true).
    pub fallback: bool,
}

impl Default for AddrPolicy {
    fn default() -> Self {
        AddrPolicy {
            preferred: None,
            fallback: true,
        }
    }
}

impl AddrPolicy {
    fn parse(
        preferred: Option<&str>,
        fallback: Option<bool>,
        section: &str,
    ) -> Result<AddrPolicy, CheckError> {
        let preferred = match preferred.map(|p| p.trim().to_ascii_lowercase()) {
            None => None,
            Some(p) if p == "ip4" || p == "ipv4" => Some(IpProtocol::Ip4),
            Some(p) if p == "ip6" || p == "ipv6" => Some(IpProtocol::Ip6),
            Some(p) => {
                return Err(err(
                    format!("{section}.preferred_ip_protocol"),
                    p,
                    "ip4 or ip6",
                ));
            }
        };
        Ok(AddrPolicy {
            preferred,
            fallback: fallback.unwrap_or(true),
        })
    }
}

/// TLS settings of a TCP or gRPC check (`tls_config`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsOptions {
    pub verify: TlsVerify,
    /// The name the certificate must carry, instead of the URL's host.
    pub server_name: Option<String>,
}

/// `tls_config:` as blackbox_exporter writes it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfigSection {
    pub insecure_skip_verify: Option<bool>,
    pub ca_file: Option<String>,
    pub server_name: Option<String>,
}

impl TlsConfigSection {
    fn build(
        section: Option<&TlsConfigSection>,
        default: &TlsVerify,
        at: &str,
    ) -> Result<TlsOptions, CheckError> {
        let Some(s) = section else {
            return Ok(TlsOptions {
                verify: default.clone(),
                server_name: None,
            });
        };
        let verify = match (s.insecure_skip_verify, &s.ca_file) {
            (Some(true), _) => TlsVerify::No,
            (_, Some(file)) => parse::tls_verify(file)
                .ok()
                .filter(|v| !matches!(v, TlsVerify::Yes | TlsVerify::No))
                .ok_or_else(|| {
                    err(
                        format!("{at}.tls_config.ca_file"),
                        file,
                        "the path of an existing CA bundle file or directory",
                    )
                })?,
            _ => default.clone(),
        };
        Ok(TlsOptions {
            verify,
            server_name: s.server_name.clone().filter(|n| !n.is_empty()),
        })
    }
}

/// A label of blackbox's `probe_expect_info`: its value expanded from the `expect`'s match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    pub name: String,
    /// May hold `${1}`, `${name}` (the match's groups).
    pub value: String,
}

/// One step of a TCP dialog (an entry of blackbox's `query_response` is one to four of these,
/// in the order expect, expect_bytes, send, starttls).
#[derive(Debug, Clone)]
pub enum Step {
    /// Read lines until one matches (`expect`). The line is kept in `TcpDetails::matched`.
    Expect {
        regex: SharedRegex,
        labels: Vec<Label>,
    },
    /// Read exactly these bytes (`expect_bytes`).
    ExpectBytes(Vec<u8>),
    /// Send this text and `\n` (`send`), `${1}` / `${name}` expanded from the match of the
    /// `expect` before it (since the last `send` or `starttls`).
    Send(String),
    /// Upgrade the connection to TLS (`starttls: true`).
    StartTls,
}

/// One `query_response` entry as written: blackbox's keys, taken in its order (expect, then
/// send, then starttls).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryStepSection {
    pub expect: Option<String>,
    pub expect_bytes: Option<String>,
    pub send: Option<String>,
    pub starttls: Option<bool>,
    /// Labels made from the match (blackbox exports them as metrics); accepted, not used.
    #[serde(default)]
    pub labels: Vec<LabelSection>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelSection {
    pub name: String,
    pub value: String,
}

/// `tcp:` as blackbox_exporter's tcp module writes it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcpSection {
    #[serde(default)]
    pub query_response: Vec<QueryStepSection>,
    pub tls: Option<bool>,
    pub tls_config: Option<TlsConfigSection>,
    pub preferred_ip_protocol: Option<String>,
    pub ip_protocol_fallback: Option<bool>,
}

/// A TCP check (`tcp://`, `tls://`, `starttls://`).
#[derive(Debug, Clone)]
pub struct TcpCheck {
    pub query_response: Vec<Step>,
    /// TLS from the first byte.
    pub tls: bool,
    pub tls_config: TlsOptions,
    pub addr: AddrPolicy,
}

/// The dialog of `starttls://host:port`: SMTP's banner, `EHLO`, its `250` lines, `STARTTLS`,
/// `220`, then the TLS handshake. Lines end in CRLF as SMTP wants (`send` adds the `\n`).
pub fn smtp_starttls_steps() -> Vec<Step> {
    let expect = |re: &str| Step::Expect {
        regex: regexes::shared(re).expect("a valid built-in regex"),
        labels: Vec::new(),
    };
    vec![
        expect("^220"),
        Step::Send("EHLO uptimer\r".into()),
        expect("^250 "),
        Step::Send("STARTTLS\r".into()),
        expect("^220"),
        Step::StartTls,
    ]
}

impl TcpCheck {
    pub(super) fn build(
        s: Option<&TcpSection>,
        tls_from_scheme: bool,
        starttls: bool,
        default_verify: &TlsVerify,
    ) -> Result<TcpCheck, CheckError> {
        let empty = TcpSection::default();
        let s = s.unwrap_or(&empty);
        let mut steps = if starttls {
            smtp_starttls_steps()
        } else {
            Vec::new()
        };
        for (i, q) in s.query_response.iter().enumerate() {
            let at = |k: &str| format!("tcp.query_response[{i}].{k}");
            for (j, l) in q.labels.iter().enumerate() {
                if l.name.is_empty() {
                    return Err(err(
                        format!("tcp.query_response[{i}].labels[{j}].name"),
                        "",
                        "a label name",
                    ));
                }
            }
            if let Some(e) = &q.expect {
                let regex = regexes::shared(e)
                    .map_err(|x| err(at("expect"), e, format!("a valid regex ({x})")))?;
                let labels = q
                    .labels
                    .iter()
                    .map(|l| Label {
                        name: l.name.clone(),
                        value: l.value.clone(),
                    })
                    .collect();
                steps.push(Step::Expect { regex, labels });
            } else if !q.labels.is_empty() {
                return Err(err(
                    format!("tcp.query_response[{i}].labels"),
                    "",
                    "labels only beside an expect (they are made from its match)",
                ));
            }
            if let Some(b) = &q.expect_bytes {
                steps.push(Step::ExpectBytes(b.as_bytes().to_vec()));
            }
            if let Some(t) = &q.send {
                steps.push(Step::Send(t.clone()));
            }
            if q.starttls == Some(true) {
                steps.push(Step::StartTls);
            }
            if q.expect.is_none()
                && q.expect_bytes.is_none()
                && q.send.is_none()
                && q.starttls != Some(true)
            {
                return Err(err(
                    format!("tcp.query_response[{i}]"),
                    "{}",
                    "a step with expect, expect_bytes, send or starttls: true",
                ));
            }
        }
        let tls = tls_from_scheme || s.tls == Some(true);
        if tls && steps.iter().any(|s| matches!(s, Step::StartTls)) {
            return Err(err(
                "tcp.query_response",
                "starttls: true",
                "no starttls step on a connection that is TLS from the first byte",
            ));
        }
        Ok(TcpCheck {
            query_response: steps,
            tls,
            tls_config: TlsConfigSection::build(s.tls_config.as_ref(), default_verify, "tcp")?,
            addr: AddrPolicy::parse(
                s.preferred_ip_protocol.as_deref(),
                s.ip_protocol_fallback,
                "tcp",
            )?,
        })
    }
}

/// A UDP check: `body` sent, up on any reply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UdpCheck {
    pub body: Vec<u8>,
}

/// `icmp:` as blackbox_exporter's icmp module writes it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IcmpSection {
    pub count: Option<u32>,
    pub payload_size: Option<usize>,
    pub dont_fragment: Option<bool>,
    pub preferred_ip_protocol: Option<String>,
    pub ip_protocol_fallback: Option<bool>,
}

/// An ICMP check (`icmp://host`).
#[derive(Debug, Clone)]
pub struct IcmpCheck {
    /// Echo requests per probe (default 1).
    pub count: u32,
    pub payload_size: usize,
    pub dont_fragment: bool,
    pub addr: AddrPolicy,
}

/// The most echo requests one probe sends.
pub const MAX_ICMP_COUNT: u32 = 100;
/// The largest ICMP payload (an IPv4 datagram's limit less the headers).
pub const MAX_ICMP_PAYLOAD: usize = 65_507;

impl IcmpCheck {
    fn build(s: Option<&IcmpSection>) -> Result<IcmpCheck, CheckError> {
        let empty = IcmpSection::default();
        let s = s.unwrap_or(&empty);
        let count = s.count.unwrap_or(1);
        if !(1..=MAX_ICMP_COUNT).contains(&count) {
            return Err(err(
                "icmp.count",
                count.to_string(),
                format!("an integer from 1 to {MAX_ICMP_COUNT}"),
            ));
        }
        let payload_size = s.payload_size.unwrap_or(0);
        if payload_size > MAX_ICMP_PAYLOAD {
            return Err(err(
                "icmp.payload_size",
                payload_size.to_string(),
                format!("at most {MAX_ICMP_PAYLOAD} bytes"),
            ));
        }
        Ok(IcmpCheck {
            count,
            payload_size,
            dont_fragment: s.dont_fragment.unwrap_or(false),
            addr: AddrPolicy::parse(
                s.preferred_ip_protocol.as_deref(),
                s.ip_protocol_fallback,
                "icmp",
            )?,
        })
    }
}

/// One `validate_*_rrs` section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RrSection {
    #[serde(default)]
    pub fail_if_matches_regexp: Vec<String>,
    #[serde(default)]
    pub fail_if_not_matches_regexp: Vec<String>,
    #[serde(default)]
    pub fail_if_all_match_regexp: Vec<String>,
    #[serde(default)]
    pub fail_if_none_matches_regexp: Vec<String>,
}

/// Rules on one section's records, matched against each record's text
/// (`name<TAB>ttl<TAB>class<TAB>type<TAB>data`), with blackbox_exporter's meanings.
#[derive(Debug, Clone, Default)]
pub struct RrRules {
    /// Fails when any record matches any of them.
    pub fail_if_matches_regexp: Vec<SharedRegex>,
    /// Fails when any record does not match one of them (or there is no record).
    pub fail_if_not_matches_regexp: Vec<SharedRegex>,
    /// Fails unless every record matches each of them (blackbox's behaviour, whatever its name
    /// suggests).
    pub fail_if_all_match_regexp: Vec<SharedRegex>,
    /// Fails when no record matches one of them (or there is no record).
    pub fail_if_none_matches_regexp: Vec<SharedRegex>,
}

impl RrRules {
    fn build(s: Option<&RrSection>, at: &str) -> Result<RrRules, CheckError> {
        let Some(s) = s else {
            return Ok(RrRules::default());
        };
        let list = |key: &str, raw: &[String]| {
            raw.iter()
                .enumerate()
                .map(|(i, r)| {
                    regexes::shared(r).map_err(|e| {
                        err(
                            format!("dns.{at}.{key}[{i}]"),
                            r,
                            format!("a valid regex ({e})"),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(RrRules {
            fail_if_matches_regexp: list("fail_if_matches_regexp", &s.fail_if_matches_regexp)?,
            fail_if_not_matches_regexp: list(
                "fail_if_not_matches_regexp",
                &s.fail_if_not_matches_regexp,
            )?,
            fail_if_all_match_regexp: list(
                "fail_if_all_match_regexp",
                &s.fail_if_all_match_regexp,
            )?,
            fail_if_none_matches_regexp: list(
                "fail_if_none_matches_regexp",
                &s.fail_if_none_matches_regexp,
            )?,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.fail_if_matches_regexp.is_empty()
            && self.fail_if_not_matches_regexp.is_empty()
            && self.fail_if_all_match_regexp.is_empty()
            && self.fail_if_none_matches_regexp.is_empty()
    }
}

/// `dns:` as blackbox_exporter's dns module writes it; Gatus's `query-name` and `query-type`
/// are accepted too.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsSection {
    #[serde(alias = "query-name")]
    pub query_name: Option<String>,
    #[serde(alias = "query-type")]
    pub query_type: Option<String>,
    #[serde(alias = "query-class")]
    pub query_class: Option<String>,
    #[serde(alias = "transport-protocol")]
    pub transport_protocol: Option<String>,
    #[serde(alias = "recursion-desired")]
    pub recursion_desired: Option<bool>,
    #[serde(alias = "valid-rcodes")]
    pub valid_rcodes: Option<Vec<String>>,
    pub validate_answer_rrs: Option<RrSection>,
    pub validate_authority_rrs: Option<RrSection>,
    pub validate_additional_rrs: Option<RrSection>,
    pub preferred_ip_protocol: Option<String>,
    pub ip_protocol_fallback: Option<bool>,
}

/// How a DNS query travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DnsTransport {
    #[default]
    Udp,
    Tcp,
}

/// A DNS check: one raw query to the target's server.
#[derive(Debug, Clone)]
pub struct DnsCheck {
    pub query_name: String,
    pub query_type: RecordType,
    pub query_class: DNSClass,
    pub transport: DnsTransport,
    pub recursion_desired: bool,
    pub valid_rcodes: Vec<ResponseCode>,
    pub validate_answer_rrs: RrRules,
    pub validate_authority_rrs: RrRules,
    pub validate_additional_rrs: RrRules,
    pub addr: AddrPolicy,
}

pub use crate::event::dns_names::{parse_query_class, parse_query_type, parse_rcode, rcode_name};

impl DnsCheck {
    fn build(s: &DnsSection) -> Result<DnsCheck, CheckError> {
        let query_name = s
            .query_name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .ok_or_else(|| err("dns.query_name", "", "the name to ask about (query_name)"))?;
        let query_type = match &s.query_type {
            Some(t) => parse_query_type(t).map_err(|e| err("dns.query_type", t, e))?,
            None => RecordType::ANY,
        };
        let query_class = match &s.query_class {
            Some(c) => parse_query_class(c).map_err(|e| err("dns.query_class", c, e))?,
            None => DNSClass::IN,
        };
        let transport = match s.transport_protocol.as_deref().map(str::trim) {
            None => DnsTransport::Udp,
            Some(t) if t.eq_ignore_ascii_case("udp") => DnsTransport::Udp,
            Some(t) if t.eq_ignore_ascii_case("tcp") => DnsTransport::Tcp,
            Some(t) => return Err(err("dns.transport_protocol", t, "udp or tcp")),
        };
        let valid_rcodes = match &s.valid_rcodes {
            None => vec![ResponseCode::NoError],
            Some(list) => list
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    parse_rcode(r).map_err(|e| err(format!("dns.valid_rcodes[{i}]"), r, e))
                })
                .collect::<Result<_, _>>()?,
        };
        Ok(DnsCheck {
            query_name,
            query_type,
            query_class,
            transport,
            recursion_desired: s.recursion_desired.unwrap_or(true),
            valid_rcodes,
            validate_answer_rrs: RrRules::build(
                s.validate_answer_rrs.as_ref(),
                "validate_answer_rrs",
            )?,
            validate_authority_rrs: RrRules::build(
                s.validate_authority_rrs.as_ref(),
                "validate_authority_rrs",
            )?,
            validate_additional_rrs: RrRules::build(
                s.validate_additional_rrs.as_ref(),
                "validate_additional_rrs",
            )?,
            addr: AddrPolicy::parse(
                s.preferred_ip_protocol.as_deref(),
                s.ip_protocol_fallback,
                "dns",
            )?,
        })
    }
}

/// `grpc:` as blackbox_exporter's grpc module writes it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrpcSection {
    pub service: Option<String>,
    pub tls: Option<bool>,
    pub tls_config: Option<TlsConfigSection>,
    pub preferred_ip_protocol: Option<String>,
    pub ip_protocol_fallback: Option<bool>,
}

/// A gRPC health check (`grpc://`, `grpcs://`).
#[derive(Debug, Clone)]
pub struct GrpcCheck {
    /// The service asked about; empty for the whole server.
    pub service: String,
    pub tls: bool,
    pub tls_config: TlsOptions,
    pub addr: AddrPolicy,
}

impl GrpcCheck {
    fn build(
        s: Option<&GrpcSection>,
        tls_from_scheme: bool,
        default_verify: &TlsVerify,
    ) -> Result<GrpcCheck, CheckError> {
        let empty = GrpcSection::default();
        let s = s.unwrap_or(&empty);
        Ok(GrpcCheck {
            service: s.service.clone().unwrap_or_default(),
            tls: tls_from_scheme || s.tls == Some(true),
            tls_config: TlsConfigSection::build(s.tls_config.as_ref(), default_verify, "grpc")?,
            addr: AddrPolicy::parse(
                s.preferred_ip_protocol.as_deref(),
                s.ip_protocol_fallback,
                "grpc",
            )?,
        })
    }
}

/// A push target: probed by nobody, pushed to by a job.
#[derive(Debug, Clone)]
pub struct PushCheck {
    /// The credential of its push URL; generated and stored once when not given.
    pub token: Option<String>,
    /// How long after an interval a missing push still counts as on time (default: one
    /// interval).
    pub grace: Option<Duration>,
}

/// The shortest token accepted (a guessable token is no credential).
const MIN_TOKEN_CHARS: usize = 16;

/// The check-specific sections of a target as written.
#[derive(Debug, Clone, Default)]
pub struct CheckSections {
    pub tcp: Option<TcpSection>,
    pub icmp: Option<IcmpSection>,
    pub dns: Option<DnsSection>,
    pub grpc: Option<GrpcSection>,
    /// The UDP payload.
    pub body: Option<String>,
    pub token: Option<String>,
    pub grace: Option<Duration>,
}

/// What a target checks, besides what every target has. The larger settings are boxed: every
/// target holds one, and an HTTP target (most of them) pays one word for it.
#[derive(Debug, Clone)]
pub enum Check {
    /// `http://`, `https://`: the target's request settings.
    Http,
    Tcp(Box<TcpCheck>),
    Udp(Box<UdpCheck>),
    Icmp(Box<IcmpCheck>),
    Dns(Box<DnsCheck>),
    Grpc(Box<GrpcCheck>),
    Push(Box<PushCheck>),
}

impl CheckSections {
    /// Whether no section is given (as for an HTTP target).
    pub fn is_empty(&self) -> bool {
        !self.sections().any(|(_, given)| given)
    }

    /// Whether any section is given (an HTTP target has none).
    fn sections(&self) -> impl Iterator<Item = (&'static str, bool)> {
        [
            ("tcp", self.tcp.is_some()),
            ("icmp", self.icmp.is_some()),
            ("dns", self.dns.is_some()),
            ("grpc", self.grpc.is_some()),
            ("body", self.body.is_some()),
            ("token", self.token.is_some()),
            ("grace", self.grace.is_some()),
        ]
        .into_iter()
    }

    /// The check of a target of `kind`; a section that belongs to another kind is an error.
    pub fn build(self, kind: Kind, default_verify: &TlsVerify) -> Result<Check, CheckError> {
        let allowed: &[&str] = match kind {
            Kind::Http | Kind::Https => &[],
            Kind::Tcp | Kind::Tls | Kind::Starttls => &["tcp"],
            Kind::Udp => &["body"],
            Kind::Icmp => &["icmp"],
            Kind::Dns => &["dns"],
            Kind::Grpc | Kind::Grpcs => &["grpc"],
            Kind::Push => &["token", "grace"],
        };
        if let Some((key, _)) = self
            .sections()
            .find(|(k, given)| *given && !allowed.contains(k))
        {
            return Err(err(
                key,
                format!("a {key} setting"),
                format!(
                    "no {key} setting on a {kind} target (it belongs to another kind of check)"
                ),
            ));
        }
        Ok(match kind {
            Kind::Http | Kind::Https => Check::Http,
            Kind::Tcp | Kind::Tls | Kind::Starttls => Check::Tcp(Box::new(TcpCheck::build(
                self.tcp.as_ref(),
                kind == Kind::Tls,
                kind == Kind::Starttls,
                default_verify,
            )?)),
            Kind::Udp => Check::Udp(Box::new(UdpCheck {
                body: self.body.unwrap_or_default().into_bytes(),
            })),
            Kind::Icmp => Check::Icmp(Box::new(IcmpCheck::build(self.icmp.as_ref())?)),
            Kind::Dns => {
                Check::Dns(Box::new(DnsCheck::build(self.dns.as_ref().ok_or_else(
                    || err("dns", "", "a dns: section with query_name"),
                )?)?))
            }
            Kind::Grpc | Kind::Grpcs => Check::Grpc(Box::new(GrpcCheck::build(
                self.grpc.as_ref(),
                kind == Kind::Grpcs,
                default_verify,
            )?)),
            Kind::Push => {
                if let Some(t) = &self.token
                    && (t.chars().count() < MIN_TOKEN_CHARS
                        || !t
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "-_.~".contains(c)))
                {
                    return Err(err(
                        "token",
                        "***",
                        format!(
                            "at least {MIN_TOKEN_CHARS} characters of letters, digits and -_.~ \
                             (or no token: one is generated)"
                        ),
                    ));
                }
                Check::Push(Box::new(PushCheck {
                    token: self.token,
                    grace: self.grace,
                }))
            }
        })
    }
}

impl AddrPolicy {
    fn describe(&self) -> serde_json::Value {
        serde_json::json!({
            "preferred_ip_protocol": self.preferred.map(|p| match p {
                IpProtocol::Ip4 => "ip4",
                IpProtocol::Ip6 => "ip6",
            }),
            "ip_protocol_fallback": self.fallback,
        })
    }
}

impl TlsOptions {
    fn describe(&self) -> serde_json::Value {
        serde_json::json!({
            "verify": self.verify.to_string(),
            "server_name": self.server_name,
        })
    }
}

impl Check {
    /// The settings as `check-config` prints them (a push token masked); `None` for HTTP,
    /// whose settings are the target's own.
    pub fn describe(&self) -> Option<serde_json::Value> {
        use serde_json::json;
        let rules = |r: &RrRules| {
            let list =
                |v: &[SharedRegex]| v.iter().map(|r| r.as_str().to_owned()).collect::<Vec<_>>();
            json!({
                "fail_if_matches_regexp": list(&r.fail_if_matches_regexp),
                "fail_if_not_matches_regexp": list(&r.fail_if_not_matches_regexp),
                "fail_if_all_match_regexp": list(&r.fail_if_all_match_regexp),
                "fail_if_none_matches_regexp": list(&r.fail_if_none_matches_regexp),
            })
        };
        Some(match self {
            Check::Http => return None,
            Check::Tcp(c) => json!({"tcp": {
                "tls": c.tls,
                "tls_config": c.tls_config.describe(),
                "query_response": c.query_response.iter().map(|s| match s {
                    Step::Expect { regex, .. } => json!({"expect": regex.as_str()}),
                    Step::ExpectBytes(b) => json!({"expect_bytes": String::from_utf8_lossy(b)}),
                    // What a dialog sends may be a credential (`AUTH …`): its first word only.
                    Step::Send(t) => json!({"send": match t.split_once(' ') {
                        Some((verb, _)) => format!("{verb} ***"),
                        None => t.clone(),
                    }}),
                    Step::StartTls => json!({"starttls": true}),
                }).collect::<Vec<_>>(),
                "addresses": c.addr.describe(),
            }}),
            Check::Udp(u) => json!({"udp": {"body": format!("{} bytes", u.body.len())}}),
            Check::Icmp(i) => json!({"icmp": {
                "count": i.count,
                "payload_size": i.payload_size,
                "dont_fragment": i.dont_fragment,
                "addresses": i.addr.describe(),
            }}),
            Check::Dns(d) => json!({"dns": {
                "query_name": d.query_name,
                "query_type": d.query_type.to_string(),
                "query_class": d.query_class.to_string(),
                "transport_protocol": match d.transport {
                    DnsTransport::Udp => "udp",
                    DnsTransport::Tcp => "tcp",
                },
                "recursion_desired": d.recursion_desired,
                "valid_rcodes": d.valid_rcodes.iter().map(|c| rcode_name(*c)).collect::<Vec<_>>(),
                "validate_answer_rrs": rules(&d.validate_answer_rrs),
                "validate_authority_rrs": rules(&d.validate_authority_rrs),
                "validate_additional_rrs": rules(&d.validate_additional_rrs),
                "addresses": d.addr.describe(),
            }}),
            Check::Grpc(g) => json!({"grpc": {
                "service": g.service,
                "tls": g.tls,
                "tls_config": g.tls_config.describe(),
                "addresses": g.addr.describe(),
            }}),
            Check::Push(p) => json!({"push": {
                "token": p.token.as_ref().map(|_| "***"),
                "grace": p.grace.map(|g| format!("{}s", g.as_secs_f64())),
            }}),
        })
    }
}
