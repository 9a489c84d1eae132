//! The TCP, TLS, STARTTLS and UDP probes against real servers on loopback: scripted dialogs
//! (banners, SMTP with STARTTLS, wrong banners, silence, resets), TLS servers presenting
//! certificates made in the test, a UDP echo server and a closed UDP port, and a name resolving
//! to both IPv4 and IPv6 loopback.

mod support;

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use regex::Regex;
use support::*;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio_rustls::TlsAcceptor;
use uptimer::config::TlsVerify;
use uptimer::config::checks::TlsOptions;
use uptimer::event::ErrorKind;
use uptimer::readers::probes::net::{AddrPolicy, IpProtocol, build_resolver};
use uptimer::readers::probes::tcp::{self, Label, Step, TcpCheck, TcpRecord};
use uptimer::readers::probes::udp::{self, UdpCheck, UdpRecord};
use uptimer::readers::probes::{Failure, TlsConfigs};

/// Bounds every probe in these tests (none should need more than a fraction of it).
const TIMEOUT: Duration = Duration::from_secs(5);

fn expect(re: &str) -> Step {
    Step::Expect {
        regex: Regex::new(re).unwrap().into(),
        labels: Vec::new(),
    }
}

fn send(text: &str) -> Step {
    Step::Send(text.to_owned())
}

fn plain(steps: Vec<Step>) -> TcpCheck {
    TcpCheck {
        query_response: steps,
        tls: false,
        tls_config: TlsOptions {
            verify: TlsVerify::Yes,
            server_name: None,
        },
        addr: Default::default(),
    }
}

fn borrowed(host: &url::Host) -> url::Host<&str> {
    match host {
        url::Host::Domain(d) => url::Host::Domain(d.as_str()),
        url::Host::Ipv4(a) => url::Host::Ipv4(*a),
        url::Host::Ipv6(a) => url::Host::Ipv6(*a),
    }
}

/// Probes `host:port` with `check` within `limit`; `None` when the limit passed first.
async fn probe_within(
    host: &str,
    port: u16,
    policy: AddrPolicy,
    check: &TcpCheck,
    dns: Option<SocketAddr>,
    limit: Duration,
) -> (Option<Result<(), Failure>>, TcpRecord) {
    let resolver = build_resolver(&dns.into_iter().collect::<Vec<_>>()).unwrap();
    let configs = TlsConfigs::default();
    let host = url::Host::parse(host).unwrap();
    let mut rec = TcpRecord::default();
    let outcome = tokio::time::timeout(
        limit,
        tcp::probe(
            &resolver,
            &configs,
            &borrowed(&host),
            port,
            policy,
            check,
            &mut rec,
        ),
    )
    .await
    .ok();
    (outcome, rec)
}

async fn probe(addr: SocketAddr, check: &TcpCheck) -> (Result<(), Failure>, TcpRecord) {
    let host = match addr.ip() {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => format!("[{a}]"),
    };
    let (outcome, rec) = probe_within(
        &host,
        addr.port(),
        AddrPolicy::default(),
        check,
        None,
        TIMEOUT,
    )
    .await;
    (outcome.expect("the probe ends before the timeout"), rec)
}

/// A server on `bind` running `dialog` on each connection it accepts (until dropped).
struct Server {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn server_on<F, Fut>(bind: SocketAddr, dialog: F) -> Server
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind(bind).await.expect("bind the test server");
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => if let Ok((s, _)) = accepted {
                    conns.spawn(dialog(s));
                },
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
            }
        }
    });
    Server { addr, task }
}

async fn server<F, Fut>(dialog: F) -> Server
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    server_on((Ipv4Addr::LOCALHOST, 0).into(), dialog).await
}

/// Writes `lines`, then reads lines (up to 2 s each) until the client goes.
async fn banner_then_drain<S: AsyncRead + AsyncWrite + Unpin>(stream: S, lines: &[u8]) {
    let mut stream = BufReader::new(stream);
    let _ = stream.get_mut().write_all(lines).await;
    let _ = stream.get_mut().flush().await;
    let mut line = String::new();
    for _ in 0..100 {
        line.clear();
        match tokio::time::timeout(Duration::from_secs(2), stream.read_line(&mut line)).await {
            Ok(Ok(n)) if n > 0 => {}
            _ => return,
        }
    }
}

/// Reads one line (up to 2 s).
async fn read_line<S: AsyncRead + Unpin>(r: &mut BufReader<S>) -> String {
    let mut line = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(2), r.read_line(&mut line)).await;
    line
}

async fn write<S: AsyncRead + AsyncWrite + Unpin>(r: &mut BufReader<S>, bytes: &[u8]) {
    let _ = r.get_mut().write_all(bytes).await;
    let _ = r.get_mut().flush().await;
}

#[tokio::test]
async fn a_matching_banner_is_up_and_the_line_is_reported() {
    let s = server(|s| banner_then_drain(s, b"* OK IMAP4rev1 ready\r\n")).await;
    let (outcome, rec) = probe(s.addr, &plain(vec![expect(r"^\* OK")])).await;
    assert_eq!(outcome, Ok(()));
    assert_eq!(rec.tcp.matched, ["* OK IMAP4rev1 ready"]);
    assert!(rec.connected);
    assert_eq!(rec.ip, Some(IpAddr::from(Ipv4Addr::LOCALHOST)));
    assert!(rec.phases.connect.is_some() && rec.phases.ttfb.is_some());
    assert!(rec.phases.dns.is_none(), "an address is not looked up");
    assert!(rec.tls.is_none());
}

#[tokio::test]
async fn expect_reads_lines_until_one_matches() {
    let s = server(|s| banner_then_drain(s, b"220-first\r\n220-second\r\n220 last\r\n")).await;
    let (outcome, rec) = probe(s.addr, &plain(vec![expect("^220 ")])).await;
    assert_eq!(outcome, Ok(()));
    assert_eq!(rec.tcp.matched, ["220 last"]);
}

#[tokio::test]
async fn a_wrong_banner_is_an_expect_mismatch_naming_regex_and_last_line() {
    let s = server(|mut s| async move {
        let _ = s.write_all(b"554 no\tservice here\r\n").await;
        let _ = s.shutdown().await;
    })
    .await;
    let (outcome, rec) = probe(s.addr, &plain(vec![expect("^220")])).await;
    let f = outcome.unwrap_err();
    assert_eq!(f.kind, ErrorKind::ExpectMismatch);
    assert_eq!(
        f.message,
        format!(
            r#"no line from {} matched "^220" before it closed the connection (last line received: "554 no\tservice here")"#,
            s.addr
        )
    );
    assert!(rec.tcp.matched.is_empty());
}

#[tokio::test]
async fn a_server_closing_at_once_is_an_expect_mismatch_with_nothing_received() {
    let s = server(|s| async move { drop(s) }).await;
    let (outcome, _) = probe(s.addr, &plain(vec![expect("^220")])).await;
    let f = outcome.unwrap_err();
    assert_eq!(f.kind, ErrorKind::ExpectMismatch);
    assert!(f.message.ends_with("(nothing was received)"), "{f}");
}

#[tokio::test]
async fn a_silent_server_leaves_the_caller_s_timeout_naming_the_phase_and_the_regex() {
    let s = silent_server().await;
    let (outcome, rec) = probe_within(
        "127.0.0.1",
        s.addr.port(),
        AddrPolicy::default(),
        &plain(vec![expect("^SSH-2.0")]),
        None,
        Duration::from_millis(300),
    )
    .await;
    assert!(outcome.is_none(), "the probe waits: {outcome:?}");
    assert_eq!(rec.phase, "ttfb");
    assert!(rec.connected);
    assert_eq!(
        rec.waiting().as_deref(),
        Some(r#"waiting for a line matching "^SSH-2.0" (nothing received)"#)
    );
}

#[tokio::test]
async fn a_reset_is_a_protocol_failure_saying_so() {
    let s = reset_server().await;
    let (outcome, _) = probe(s.addr, &plain(vec![expect("^220")])).await;
    let f = outcome.unwrap_err();
    assert_eq!(f.kind, ErrorKind::Protocol);
    assert_eq!(f.message, format!("{} reset the connection", s.addr));
}

/// How the server saw the probe's connection end: `ConnectionReset` or "end of stream".
async fn how_the_probe_closed(check: &TcpCheck, banner: &'static [u8]) -> String {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let s = server(move |mut s: TcpStream| {
        let tx = tx.clone();
        async move {
            let _ = s.write_all(banner).await;
            let mut buf = [0u8; 64];
            let end = loop {
                match s.read(&mut buf).await {
                    Ok(0) => break "end of stream".to_owned(),
                    Ok(_) => continue,
                    Err(e) => break format!("{:?}", e.kind()),
                }
            };
            let _ = tx.send(end);
        }
    })
    .await;
    let (outcome, _) = probe(s.addr, check).await;
    assert_eq!(outcome, Ok(()));
    tokio::time::timeout(TIMEOUT, rx.recv())
        .await
        .expect("the server sees the end")
        .expect("the server tells")
}

#[tokio::test]
async fn a_plain_connect_check_ends_with_a_reset_a_dialog_with_a_close() {
    // No TIME_WAIT left behind by a connect check (thousands a second fill the port range).
    assert_eq!(
        how_the_probe_closed(&plain(vec![]), b"").await,
        "ConnectionReset"
    );
    assert_eq!(
        how_the_probe_closed(&plain(vec![expect("^220")]), b"220 ready\r\n").await,
        "end of stream"
    );
}

#[tokio::test]
async fn a_closed_port_is_connect_refused() {
    let addr = closed_port();
    let (outcome, rec) = probe(addr, &plain(vec![expect("^220")])).await;
    let f = outcome.unwrap_err();
    assert_eq!(f.kind, ErrorKind::ConnectRefused);
    assert!(
        f.message
            .starts_with(&format!("cannot connect to {addr}: ")),
        "{f}"
    );
    assert!(!rec.connected);
}

#[tokio::test]
async fn send_expands_the_previous_match_and_appends_a_newline() {
    let s = server(|s| async move {
        let mut r = BufReader::new(s);
        let _ = r.get_mut().write_all(b"HELLO id=42 name=db1\n").await;
        let line = read_line(&mut r).await;
        let _ = r
            .get_mut()
            .write_all(format!("GOT {line}").as_bytes())
            .await;
        let _ = r.get_mut().shutdown().await;
    })
    .await;
    let check = plain(vec![
        Step::Expect {
            regex: Regex::new(r"^HELLO id=(\d+) name=(?P<name>\w+)")
                .unwrap()
                .into(),
            labels: vec![Label {
                name: "server".into(),
                value: "${name}".into(),
            }],
        },
        send("ACK ${1} ${name}"),
        expect("^GOT "),
    ]);
    let (outcome, rec) = probe(s.addr, &check).await;
    assert_eq!(outcome, Ok(()));
    assert_eq!(
        rec.tcp.matched,
        ["HELLO id=42 name=db1", "GOT ACK 42 db1"],
        "the server got `ACK 42 db1\\n`"
    );
    assert_eq!(rec.labels, [("server".to_owned(), "db1".to_owned())]);
    assert!(rec.phases.transfer.is_some());
}

#[tokio::test]
async fn expect_bytes_compares_exact_bytes() {
    let s = server(|mut s| async move {
        let _ = s.write_all(b"\x00\x01binary").await;
        let _ = s.shutdown().await;
    })
    .await;
    let (ok, _) = probe(
        s.addr,
        &plain(vec![Step::ExpectBytes(b"\x00\x01bin".to_vec())]),
    )
    .await;
    assert_eq!(ok, Ok(()));
    let (bad, _) = probe(
        s.addr,
        &plain(vec![Step::ExpectBytes(b"\x00\x02".to_vec())]),
    )
    .await;
    let f = bad.unwrap_err();
    assert_eq!(f.kind, ErrorKind::ExpectMismatch);
    assert_eq!(
        f.message,
        format!(
            r#"expected the bytes "\x00\x02" from {}, received "\x00\x01""#,
            s.addr
        )
    );
}

#[tokio::test]
async fn a_line_over_64_kib_is_a_protocol_failure() {
    let s = server(|mut s| async move {
        let chunk = vec![b'a'; 16 * 1024];
        for _ in 0..8 {
            if s.write_all(&chunk).await.is_err() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    })
    .await;
    let (outcome, _) = probe(s.addr, &plain(vec![expect("^220")])).await;
    let f = outcome.unwrap_err();
    assert_eq!(f.kind, ErrorKind::Protocol);
    assert_eq!(
        f.message,
        format!("{} sent a line longer than 64 KiB", s.addr)
    );
}

#[tokio::test]
async fn more_than_a_mib_of_lines_is_a_protocol_failure() {
    let s = server(|mut s| async move {
        let lines = b"noise\n".repeat(20_000);
        for _ in 0..20 {
            if s.write_all(&lines).await.is_err() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    })
    .await;
    let (outcome, _) = probe(s.addr, &plain(vec![expect("^220")])).await;
    let f = outcome.unwrap_err();
    assert_eq!(f.kind, ErrorKind::Protocol);
    assert_eq!(
        f.message,
        format!("{} sent more than 1 MiB without the dialog ending", s.addr)
    );
}

// ---------------------------------------------------------------------------------------------
// TLS
// ---------------------------------------------------------------------------------------------

fn acceptor(leaf: &LeafCert) -> TlsAcceptor {
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![leaf.cert_der.clone()], leaf.key_der.clone_key())
    .unwrap();
    TlsAcceptor::from(Arc::new(cfg))
}

/// A server speaking TLS from the first byte, then sending a banner.
async fn tls_server(leaf: &LeafCert) -> Server {
    let acceptor = acceptor(leaf);
    server(move |s| {
        let acceptor = acceptor.clone();
        async move {
            if let Ok(Ok(tls)) =
                tokio::time::timeout(Duration::from_secs(2), acceptor.accept(s)).await
            {
                banner_then_drain(tls, b"+OK POP3 ready\r\n").await;
            }
        }
    })
    .await
}

fn tls_check(ca: &TestCa) -> TcpCheck {
    TcpCheck {
        query_response: vec![expect(r"^\+OK")],
        tls: true,
        tls_config: TlsOptions {
            verify: TlsVerify::CaFile(ca.ca_file.clone()),
            server_name: Some("localhost".into()),
        },
        addr: Default::default(),
    }
}

#[tokio::test]
async fn tls_from_the_first_byte_with_a_valid_certificate_reports_the_session() {
    let ca = test_ca();
    let leaf = make_leaf(&ca, CertKind::Valid);
    let s = tls_server(&leaf).await;
    let (outcome, rec) = probe(s.addr, &tls_check(&ca)).await;
    assert_eq!(outcome, Ok(()));
    assert_eq!(rec.tcp.matched, ["+OK POP3 ready"]);
    let tls = rec.tls.expect("TLS details");
    assert_eq!(tls.version, "TLS 1.3");
    assert!(tls.cipher.starts_with("TLS_"), "{}", tls.cipher);
    assert!(!tls.cipher.starts_with("TLS13_"), "{}", tls.cipher);
    assert_eq!(tls.chain.len(), 1);
    let cert = &tls.chain[0];
    assert_eq!(cert.subject, "CN=localhost");
    assert!(cert.issuer.contains("uptimer test CA"), "{}", cert.issuer);
    assert_eq!(
        cert.not_after.unix_timestamp(),
        leaf.not_after.unix_timestamp()
    );
    assert_eq!(tls.earliest_expiry, Some(cert.not_after));
    assert_eq!(cert.sha256.len(), 64);
    assert!(
        cert.sha256
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    assert!(rec.phases.tls.is_some());
    assert_eq!(
        rec.not_after.map(|t| t.unix_timestamp()),
        Some(leaf.not_after.unix_timestamp())
    );
}

#[tokio::test]
async fn a_certificate_expiring_in_3_days_is_up_and_its_expiry_reported() {
    let ca = test_ca();
    let soon = time::OffsetDateTime::now_utc() + time::Duration::days(3);
    let leaf = make_leaf(&ca, CertKind::ValidUntil(soon));
    let s = tls_server(&leaf).await;
    let (outcome, rec) = probe(s.addr, &tls_check(&ca)).await;
    assert_eq!(outcome, Ok(()));
    let expiry = rec.tls.unwrap().earliest_expiry.unwrap();
    let left = expiry - time::OffsetDateTime::now_utc();
    assert!(
        left > time::Duration::days(2) && left <= time::Duration::days(3),
        "{left}"
    );
}

#[tokio::test]
async fn an_expired_certificate_is_rejected_and_its_expiry_still_reported() {
    let ca = test_ca();
    let leaf = make_leaf(&ca, CertKind::Expired);
    let s = tls_server(&leaf).await;
    let (outcome, rec) = probe(s.addr, &tls_check(&ca)).await;
    let f = outcome.unwrap_err();
    assert_eq!(f.kind, ErrorKind::TlsCertificate);
    assert!(
        f.message
            .starts_with("the server's certificate expired on 2020-01-01"),
        "{f}"
    );
    assert_eq!(rec.phase, "tls");
    assert!(rec.tls.is_none());
    assert_eq!(
        rec.not_after.map(|t| t.date().to_string()).as_deref(),
        Some("2020-01-01")
    );
}

#[tokio::test]
async fn a_certificate_for_another_name_is_rejected() {
    let ca = test_ca();
    let leaf = make_leaf(&ca, CertKind::WrongHost);
    let s = tls_server(&leaf).await;
    let (outcome, _) = probe(s.addr, &tls_check(&ca)).await;
    let f = outcome.unwrap_err();
    assert_eq!(f.kind, ErrorKind::TlsCertificate);
    assert_eq!(
        f.message,
        "the server's certificate is for wrong.example, not for localhost"
    );
}

#[tokio::test]
async fn the_server_name_defaults_to_the_host() {
    let ca = test_ca();
    let leaf = make_leaf(&ca, CertKind::WrongHost);
    let s = tls_server(&leaf).await;
    let mut check = tls_check(&ca);
    check.tls_config.server_name = None;
    let (outcome, _) = probe(s.addr, &check).await;
    let f = outcome.unwrap_err();
    assert_eq!(
        f.message,
        "the server's certificate is for wrong.example, not for 127.0.0.1"
    );
}

#[tokio::test]
async fn an_untrusted_chain_is_rejected_and_insecure_skip_verify_accepts_it() {
    let ca = test_ca();
    let other = test_ca();
    let leaf = make_leaf(&other, CertKind::Valid);
    let s = tls_server(&leaf).await;
    let (outcome, _) = probe(s.addr, &tls_check(&ca)).await;
    let f = outcome.unwrap_err();
    assert_eq!(f.kind, ErrorKind::TlsCertificate);
    assert_eq!(
        f.message,
        "the server's certificate is not issued by a certificate authority this prober trusts"
    );
    let mut skip = tls_check(&ca);
    skip.tls_config.verify = TlsVerify::No;
    let (outcome, rec) = probe(s.addr, &skip).await;
    assert_eq!(outcome, Ok(()));
    assert!(rec.tls.is_some());
}

#[tokio::test]
async fn a_ca_certificate_used_as_the_server_s_certificate_is_rejected_in_words() {
    let ca = test_ca();
    let leaf = make_leaf(&ca, CertKind::CaAsLeaf);
    let s = tls_server(&leaf).await;
    let (outcome, _) = probe(s.addr, &tls_check(&ca)).await;
    let f = outcome.unwrap_err();
    assert_eq!(f.kind, ErrorKind::TlsCertificate);
    assert_eq!(
        f.message,
        "the server's certificate is a CA certificate, not a server certificate"
    );
}

// ---------------------------------------------------------------------------------------------
// STARTTLS
// ---------------------------------------------------------------------------------------------

/// An SMTP-like server: banner, EHLO's 250 lines, STARTTLS, then after the handshake answers
/// EHLO again with `250 secure`. Plaintext sent after `220 go ahead` must not reach the TLS
/// dialog.
async fn smtp_server(leaf: &LeafCert) -> Server {
    let acceptor = acceptor(leaf);
    server(move |s| {
        let acceptor = acceptor.clone();
        async move {
            let mut r = BufReader::new(s);
            write(&mut r, b"220-mx.test ESMTP\r\n220 mx.test ready\r\n").await;
            if !read_line(&mut r).await.starts_with("EHLO uptimer\r") {
                return;
            }
            write(&mut r, b"250-mx.test\r\n250-STARTTLS\r\n250 SIZE 1000\r\n").await;
            if read_line(&mut r).await != "STARTTLS\r\n" {
                return;
            }
            // Plaintext after the go-ahead: a STARTTLS injection the client must not read.
            write(&mut r, b"220 go ahead\r\n250 injected\r\n").await;
            let Ok(Ok(tls)) =
                tokio::time::timeout(Duration::from_secs(2), acceptor.accept(r.into_inner())).await
            else {
                return;
            };
            let mut t = BufReader::new(tls);
            if read_line(&mut t).await.starts_with("EHLO uptimer") {
                let _ = t.get_mut().write_all(b"250 secure\r\n").await;
                let _ = t.get_mut().flush().await;
            }
            let _ = read_line(&mut t).await;
        }
    })
    .await
}

#[tokio::test]
async fn smtp_starttls_upgrades_and_continues_the_dialog_in_tls() {
    let ca = test_ca();
    let leaf = make_leaf(&ca, CertKind::Valid);
    let s = smtp_server(&leaf).await;
    let mut steps = tcp::smtp_starttls_steps();
    steps.push(send("EHLO uptimer\r"));
    // Would match the plaintext injected after `220 go ahead` if it were read.
    steps.push(expect("^250 "));
    let check = TcpCheck {
        query_response: steps,
        tls: false,
        tls_config: TlsOptions {
            verify: TlsVerify::CaFile(ca.ca_file.clone()),
            server_name: Some("localhost".into()),
        },
        addr: Default::default(),
    };
    let (outcome, rec) = probe(s.addr, &check).await;
    assert_eq!(outcome, Ok(()));
    assert_eq!(
        rec.tcp.matched,
        [
            "220-mx.test ESMTP",
            "250 SIZE 1000",
            "220 go ahead",
            "250 secure"
        ]
    );
    let tls = rec.tls.expect("the STARTTLS session");
    assert_eq!(tls.chain[0].subject, "CN=localhost");
    let p = rec.phases;
    assert!(
        p.ttfb.is_some() && p.tls.is_some() && p.transfer.is_some(),
        "{p:?}"
    );
}

#[tokio::test]
async fn starttls_with_an_expired_certificate_fails_in_the_tls_phase() {
    let ca = test_ca();
    let leaf = make_leaf(&ca, CertKind::Expired);
    let s = smtp_server(&leaf).await;
    let check = TcpCheck {
        query_response: tcp::smtp_starttls_steps(),
        tls: false,
        tls_config: TlsOptions {
            verify: TlsVerify::CaFile(ca.ca_file.clone()),
            server_name: Some("localhost".into()),
        },
        addr: Default::default(),
    };
    let (outcome, rec) = probe(s.addr, &check).await;
    let f = outcome.unwrap_err();
    assert_eq!(f.kind, ErrorKind::TlsCertificate);
    assert_eq!(rec.phase, "tls");
    assert_eq!(
        rec.tcp.matched.len(),
        3,
        "the plaintext dialog went through"
    );
}

// ---------------------------------------------------------------------------------------------
// Addresses
// ---------------------------------------------------------------------------------------------

/// Servers on `127.0.0.1:P` and `[::1]:P` (the same port), each saying which it is.
async fn dual_servers() -> (Server, Server) {
    for _ in 0..20 {
        let six = server_on((Ipv6Addr::LOCALHOST, 0).into(), |s| {
            banner_then_drain(s, b"hello from ip6\n")
        })
        .await;
        let port = six.addr.port();
        let bind4 = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        if std::net::TcpListener::bind(bind4).is_ok() {
            let four = server_on(bind4, |s| banner_then_drain(s, b"hello from ip4\n")).await;
            return (four, six);
        }
    }
    panic!("no port free on both 127.0.0.1 and ::1");
}

#[tokio::test]
async fn preferred_ip_protocol_picks_the_address_family_of_a_name_with_both() {
    let (_four, six) = dual_servers().await;
    let port = six.addr.port();
    let dns = dns_server(&[
        ("both.uptimer.test", IpAddr::from(Ipv4Addr::LOCALHOST)),
        ("both.uptimer.test", IpAddr::from(Ipv6Addr::LOCALHOST)),
    ])
    .await;
    let check = plain(vec![expect("^hello")]);
    let cases = [
        (
            AddrPolicy::BLACKBOX,
            "hello from ip6",
            IpAddr::from(Ipv6Addr::LOCALHOST),
        ),
        (
            AddrPolicy {
                preferred: Some(IpProtocol::Ip4),
                fallback: false,
            },
            "hello from ip4",
            IpAddr::from(Ipv4Addr::LOCALHOST),
        ),
    ];
    for (policy, banner, ip) in cases {
        let (outcome, rec) = probe_within(
            "both.uptimer.test",
            port,
            policy,
            &check,
            Some(dns.addr),
            TIMEOUT,
        )
        .await;
        assert_eq!(outcome, Some(Ok(())), "{policy:?}");
        assert_eq!(rec.tcp.matched, [banner], "{policy:?}");
        assert_eq!(rec.ip, Some(ip));
        assert!(rec.phases.dns.is_some());
    }
}

#[tokio::test]
async fn without_fallback_a_name_lacking_the_preferred_family_is_a_dns_failure() {
    let s = server(|s| banner_then_drain(s, b"hello\n")).await;
    let dns = dns_server(&[("four.uptimer.test", IpAddr::from(Ipv4Addr::LOCALHOST))]).await;
    let check = plain(vec![expect("^hello")]);
    let (outcome, rec) = probe_within(
        "four.uptimer.test",
        s.addr.port(),
        AddrPolicy::BLACKBOX,
        &check,
        Some(dns.addr),
        TIMEOUT,
    )
    .await;
    assert_eq!(outcome, Some(Ok(())), "ip4 as the fallback");
    assert_eq!(rec.ip, Some(IpAddr::from(Ipv4Addr::LOCALHOST)));
    let strict = AddrPolicy {
        preferred: Some(IpProtocol::Ip6),
        fallback: false,
    };
    let (outcome, _) = probe_within(
        "four.uptimer.test",
        s.addr.port(),
        strict,
        &check,
        Some(dns.addr),
        TIMEOUT,
    )
    .await;
    let f = outcome.unwrap().unwrap_err();
    assert_eq!(f.kind, ErrorKind::Dns);
    assert_eq!(
        f.message,
        "no IPv6 address found for four.uptimer.test (ip_protocol_fallback is off)"
    );
}

// ---------------------------------------------------------------------------------------------
// UDP
// ---------------------------------------------------------------------------------------------

async fn udp_probe(host: &str, port: u16, body: &[u8]) -> (Result<(), Failure>, UdpRecord) {
    let resolver = build_resolver(&[]).unwrap();
    let host = url::Host::parse(host).unwrap();
    let mut rec = UdpRecord::default();
    let check = UdpCheck {
        body: body.to_vec(),
    };
    let outcome = tokio::time::timeout(
        TIMEOUT,
        udp::probe(
            &resolver,
            &borrowed(&host),
            port,
            AddrPolicy::default(),
            &check,
            &mut rec,
        ),
    )
    .await
    .expect("the UDP probe ends before the timeout");
    (outcome, rec)
}

#[tokio::test]
async fn a_udp_echo_is_up() {
    for bind in [
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        SocketAddr::from((Ipv6Addr::LOCALHOST, 0)),
    ] {
        let socket = UdpSocket::bind(bind).await.unwrap();
        let addr = socket.local_addr().unwrap();
        let echo = tokio::spawn(async move {
            let mut buf = [0u8; 1500];
            if let Ok((n, peer)) = socket.recv_from(&mut buf).await {
                let _ = socket.send_to(&buf[..n], peer).await;
            }
        });
        let host = match addr.ip() {
            IpAddr::V4(a) => a.to_string(),
            IpAddr::V6(a) => format!("[{a}]"),
        };
        let (outcome, rec) = udp_probe(&host, addr.port(), b"ping").await;
        assert_eq!(outcome, Ok(()), "{addr}");
        assert_eq!(rec.reply_bytes, Some(4));
        assert!(rec.connected);
        assert_eq!(rec.ip, Some(addr.ip()));
        assert!(rec.phases.ttfb.is_some());
        echo.abort();
    }
}

#[tokio::test]
async fn a_closed_udp_port_is_connect_refused() {
    let port = {
        let s = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        s.local_addr().unwrap().port()
    };
    let (outcome, rec) = udp_probe("127.0.0.1", port, b"ping").await;
    let f = outcome.unwrap_err();
    assert_eq!(f.kind, ErrorKind::ConnectRefused);
    assert_eq!(
        f.message,
        format!("nothing listens on UDP 127.0.0.1:{port} (the host answered port unreachable)")
    );
    assert!(!rec.connected);
}
