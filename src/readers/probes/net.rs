//! The steps every connection-based prober shares: name resolution, the TCP connect and the TLS
//! handshake, each timed into the probe's phases. HTTP, TCP, TLS, STARTTLS, UDP and gRPC probes
//! resolve and connect alike, so a DNS or certificate failure reads the same whatever the kind.
//!
//! Which addresses a name's probe uses follows blackbox_exporter's `preferred_ip_protocol` and
//! `ip_protocol_fallback` ([`AddrPolicy`]); HTTP keeps trying every resolved address in order.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use hickory_resolver::TokioResolver;
use rustls::pki_types::ServerName;
use time::OffsetDateTime;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::Failure;
use super::resolver::{self, ResolverError};
use super::tls::{PeerCert, TlsConfigs, keeping_rejected, not_after};
use super::tls_errors;
use crate::config::TlsVerify;
use crate::event::{CertificateInfo, ErrorKind, Phases, TlsDetails};

pub use crate::config::checks::{AddrPolicy, IpProtocol};

impl IpProtocol {
    fn matches(self, ip: &IpAddr) -> bool {
        match self {
            IpProtocol::Ip4 => ip.is_ipv4(),
            IpProtocol::Ip6 => ip.is_ipv6(),
        }
    }

    fn name(self) -> &'static str {
        match self {
            IpProtocol::Ip4 => "IPv4",
            IpProtocol::Ip6 => "IPv6",
        }
    }
}

impl AddrPolicy {
    /// blackbox_exporter's defaults for its TCP, ICMP, DNS and gRPC modules: IPv6 preferred,
    /// IPv4 when the name has no IPv6 address.
    pub const BLACKBOX: AddrPolicy = AddrPolicy {
        preferred: Some(IpProtocol::Ip6),
        fallback: true,
    };
}

/// Where the shared steps leave what they observed: each kind's record.
pub trait Progress {
    /// The phase starting now, named when the probe times out.
    fn enter(&mut self, phase: &'static str);
    /// The phase timings, each added to.
    fn phases(&mut self) -> &mut Phases;
    /// The address connected to, or the last one tried (`connected` false).
    fn reached(&mut self, ip: IpAddr, connected: bool);
    /// The server certificate's expiry, also when the certificate was rejected (an expired
    /// certificate is the usual reason).
    fn certificate_expiry(&mut self, not_after: Option<OffsetDateTime>);
}

/// Adds the time since `since` to a phase, in milliseconds.
pub fn add(slot: &mut Option<f64>, since: Instant) {
    let ms = since.elapsed().as_secs_f64() * 1000.0;
    *slot = Some(slot.unwrap_or(0.0) + ms);
}

/// The error and its sources, one after another: library messages are often terse.
pub fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        let text = inner.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        src = inner.source();
    }
    s
}

/// Builds the probers' resolver: the given name servers, else the system's configuration.
pub fn build_resolver(dns_servers: &[SocketAddr]) -> Result<TokioResolver, ResolverError> {
    resolver::build(dns_servers)
}

/// The addresses to connect to for `host`, as `policy` chooses them: an address literal as it
/// is, a name looked up (the `dns` phase). Never empty when it succeeds.
pub async fn resolve(
    resolver: &TokioResolver,
    host: &url::Host<&str>,
    policy: AddrPolicy,
    progress: &mut impl Progress,
) -> Result<Vec<IpAddr>, Failure> {
    let name = match host {
        url::Host::Ipv4(a) => return Ok(vec![(*a).into()]),
        url::Host::Ipv6(a) => return Ok(vec![(*a).into()]),
        url::Host::Domain(d) => *d,
    };
    progress.enter("dns");
    let t = Instant::now();
    let result = resolver.lookup_ip(name).await;
    add(&mut progress.phases().dns, t);
    let found: Vec<IpAddr> = match result {
        Ok(found) => found.iter().collect(),
        Err(e) if e.is_no_records_found() => Vec::new(),
        Err(e) => {
            return Err(Failure::new(
                ErrorKind::Dns,
                format!("cannot resolve {name}: {}", describe(&e)),
            ));
        }
    };
    if found.is_empty() {
        return Err(Failure::new(
            ErrorKind::Dns,
            format!("no address found for {name}"),
        ));
    }
    choose(name, found, policy)
}

/// The addresses `policy` picks among those a name resolved to (not empty).
fn choose(name: &str, found: Vec<IpAddr>, policy: AddrPolicy) -> Result<Vec<IpAddr>, Failure> {
    let Some(preferred) = policy.preferred else {
        return Ok(found);
    };
    if let Some(ip) = found.iter().find(|ip| preferred.matches(ip)) {
        return Ok(vec![*ip]);
    }
    if policy.fallback {
        return Ok(found.into_iter().take(1).collect());
    }
    Err(Failure::new(
        ErrorKind::Dns,
        format!(
            "no {} address found for {name} (ip_protocol_fallback is off)",
            preferred.name()
        ),
    ))
}

/// A TCP connection to the first of `addrs` that accepts one (the `connect` phase), and its
/// address. Fails with the last address's error.
pub async fn connect(
    addrs: &[IpAddr],
    port: u16,
    progress: &mut impl Progress,
) -> Result<(TcpStream, IpAddr), Failure> {
    progress.enter("connect");
    let t = Instant::now();
    let mut last_error = None;
    for ip in addrs {
        match TcpStream::connect((*ip, port)).await {
            Ok(stream) => {
                add(&mut progress.phases().connect, t);
                progress.reached(*ip, true);
                let _ = stream.set_nodelay(true);
                return Ok((stream, *ip));
            }
            Err(e) => last_error = Some((*ip, e)),
        }
    }
    add(&mut progress.phases().connect, t);
    let Some((ip, e)) = last_error else {
        return Err(Failure::new(
            ErrorKind::Internal,
            "no address to connect to",
        ));
    };
    progress.reached(ip, false);
    let kind = if e.kind() == std::io::ErrorKind::ConnectionRefused {
        ErrorKind::ConnectRefused
    } else {
        ErrorKind::Connect
    };
    let addr = SocketAddr::new(ip, port);
    Err(Failure::new(kind, format!("cannot connect to {addr}: {e}")))
}

/// The protocols a handshake offers by ALPN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alpn {
    /// `h2` and `http/1.1`: HTTPS.
    Http,
    /// None: a TLS or STARTTLS dialog, which speaks no protocol ALPN names (an HTTPS server
    /// offered `h2` would pick it).
    None,
    /// `h2` alone: gRPC.
    H2,
}

/// The server name of a URL's host as TLS wants it: an address without brackets.
pub fn server_name_of(host: &url::Host<&str>) -> String {
    match host {
        url::Host::Ipv4(a) => a.to_string(),
        url::Host::Ipv6(a) => a.to_string(),
        url::Host::Domain(d) => (*d).to_owned(),
    }
}

/// A TLS handshake over `stream` (the `tls` phase), the server's certificate checked as
/// `verify` says for `server_name` (a host name or an address). A failure is told in words
/// (`tls_errors`); a rejected certificate's expiry still reaches `progress`.
pub async fn handshake(
    tls: &TlsConfigs,
    verify: &TlsVerify,
    alpn: Alpn,
    server_name: &str,
    stream: TcpStream,
    progress: &mut impl Progress,
) -> Result<(TlsStream<TcpStream>, TlsDetails), Failure> {
    progress.enter("tls");
    let config = tls
        .get(verify, alpn)
        .map_err(|e| Failure::new(ErrorKind::Internal, e.to_string()))?;
    let name = ServerName::try_from(server_name.to_owned()).map_err(|e| {
        Failure::new(
            ErrorKind::Tls,
            format!("invalid server name {server_name:?}: {e}"),
        )
    })?;
    let t = Instant::now();
    let (outcome, rejected) =
        keeping_rejected(tokio_rustls::TlsConnector::from(config).connect(name, stream)).await;
    add(&mut progress.phases().tls, t);
    match outcome {
        Ok(stream) => {
            let conn = stream.get_ref().1;
            let leaf = conn.peer_certificates().and_then(|c| c.first());
            progress.certificate_expiry(leaf.and_then(not_after));
            let details = tls_details(conn);
            Ok((stream, details))
        }
        Err(e) => {
            progress.certificate_expiry(rejected.as_ref().and_then(|p| p.not_after));
            Err(tls_failure(e, rejected.as_ref()))
        }
    }
}

/// A failed handshake: rustls' errors in words (see `tls_errors`), else the I/O error.
fn tls_failure(e: std::io::Error, peer: Option<&PeerCert>) -> Failure {
    match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        Some(tls) => {
            let (kind, message) = tls_errors::describe(tls, peer);
            Failure::new(kind, message)
        }
        None if e.kind() == std::io::ErrorKind::UnexpectedEof => Failure::new(
            ErrorKind::Tls,
            "the server closed the connection during the TLS handshake",
        ),
        None => Failure::new(ErrorKind::Tls, format!("TLS handshake failed: {e}")),
    }
}

/// What an established TLS session shows: version, cipher suite (IANA name) and the chain the
/// server presented, leaf first.
pub fn tls_details(conn: &rustls::ClientConnection) -> TlsDetails {
    let chain: Vec<CertificateInfo> = conn
        .peer_certificates()
        .unwrap_or_default()
        .iter()
        .filter_map(|c| certificate_info(c.as_ref()))
        .collect();
    TlsDetails {
        version: conn
            .protocol_version()
            .map(version_name)
            .unwrap_or_default(),
        cipher: conn
            .negotiated_cipher_suite()
            .map(|s| cipher_name(s.suite()))
            .unwrap_or_default(),
        earliest_expiry: chain.iter().map(|c| c.not_after).min(),
        chain,
    }
}

fn version_name(v: rustls::ProtocolVersion) -> String {
    match v {
        rustls::ProtocolVersion::TLSv1_3 => "TLS 1.3".into(),
        rustls::ProtocolVersion::TLSv1_2 => "TLS 1.2".into(),
        rustls::ProtocolVersion::TLSv1_1 => "TLS 1.1".into(),
        rustls::ProtocolVersion::TLSv1_0 => "TLS 1.0".into(),
        other => format!("{other:?}"),
    }
}

/// rustls names TLS 1.3's suites `TLS13_…`; IANA (and Go's `tls.CipherSuiteName`) `TLS_…`.
fn cipher_name(suite: rustls::CipherSuite) -> String {
    match suite.as_str() {
        Some(name) => match name.strip_prefix("TLS13_") {
            Some(rest) => format!("TLS_{rest}"),
            None => name.to_owned(),
        },
        None => format!("0x{:04x}", u16::from(suite)),
    }
}

/// One certificate of a chain as events report it; `None` when it cannot be parsed.
pub fn certificate_info(der: &[u8]) -> Option<CertificateInfo> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let not_after =
        OffsetDateTime::from_unix_timestamp(cert.validity().not_after.timestamp()).ok()?;
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    let sha256 = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    Some(CertificateInfo {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        not_after,
        sha256,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn without_a_preference_every_address_is_kept_in_order() {
        let found = ips(&["127.0.0.1", "::1", "127.0.0.2"]);
        assert_eq!(
            choose("h", found.clone(), AddrPolicy::default()).unwrap(),
            found
        );
    }

    #[test]
    fn a_preference_picks_the_first_address_of_its_version() {
        let found = ips(&["127.0.0.1", "::1", "::2"]);
        assert_eq!(
            choose("h", found.clone(), AddrPolicy::BLACKBOX).unwrap(),
            ips(&["::1"])
        );
        let ip4 = AddrPolicy {
            preferred: Some(IpProtocol::Ip4),
            fallback: false,
        };
        assert_eq!(choose("h", found, ip4).unwrap(), ips(&["127.0.0.1"]));
    }

    #[test]
    fn without_fallback_a_name_lacking_the_preferred_version_is_a_dns_failure() {
        let only4 = ips(&["127.0.0.1"]);
        assert_eq!(
            choose("h", only4.clone(), AddrPolicy::BLACKBOX).unwrap(),
            only4
        );
        let strict = AddrPolicy {
            preferred: Some(IpProtocol::Ip6),
            fallback: false,
        };
        let f = choose("db.example", only4, strict).unwrap_err();
        assert_eq!(f.kind, ErrorKind::Dns);
        assert_eq!(
            f.message,
            "no IPv6 address found for db.example (ip_protocol_fallback is off)"
        );
    }

    #[test]
    fn cipher_suites_have_their_iana_names() {
        assert_eq!(
            cipher_name(rustls::CipherSuite::TLS13_AES_128_GCM_SHA256),
            "TLS_AES_128_GCM_SHA256"
        );
        assert_eq!(
            cipher_name(rustls::CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256),
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
        );
        assert_eq!(version_name(rustls::ProtocolVersion::TLSv1_3), "TLS 1.3");
    }

    #[test]
    fn a_certificate_is_described_with_its_fingerprint() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["db.example".to_owned()]).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "db.example");
        params.not_after = rcgen::date_time_ymd(2031, 5, 4);
        let cert = params.self_signed(&key).unwrap();
        let info = certificate_info(cert.der()).unwrap();
        assert_eq!(info.subject, "CN=db.example");
        assert_eq!(info.issuer, "CN=db.example");
        assert_eq!(info.not_after.date().to_string(), "2031-05-04");
        assert_eq!(info.sha256.len(), 64);
        let expected = ring::digest::digest(&ring::digest::SHA256, cert.der());
        assert_eq!(
            info.sha256,
            expected
                .as_ref()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
        assert!(certificate_info(b"not a certificate").is_none());
    }
}
