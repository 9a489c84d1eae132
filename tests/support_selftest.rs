//! Self-test for the integration-test harness in `tests/support/mod.rs`, using raw hyper
//! clients (no code from the crate under test).

mod support;

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA};
use hickory_proto::rr::{Name, RData, RecordType};
use http::{HeaderMap, Request};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use support::{CertKind, Running, TestCa, TestServer, poll, wait_for, wait_for_async};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

const LIMIT: Duration = Duration::from_secs(5);

/// Run `fut` with the per-test time limit.
async fn bounded<F: Future>(fut: F) -> F::Output {
    tokio::time::timeout(LIMIT, fut)
        .await
        .expect("test step timed out")
}

struct Resp {
    status: u16,
    headers: HeaderMap,
    body: Bytes,
}

impl Resp {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Send one HTTP/1.1 request on `io` and return the response head (body not yet read).
async fn h1_request<I>(
    io: I,
    host: &str,
    path: &str,
    extra: &[(&str, &str)],
) -> hyper::Result<http::Response<Incoming>>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
    tokio::spawn(conn);
    let mut builder = Request::get(path).header("host", host);
    for (n, v) in extra {
        builder = builder.header(*n, *v);
    }
    sender
        .send_request(builder.body(Empty::<Bytes>::new()).unwrap())
        .await
}

async fn collect(resp: http::Response<Incoming>) -> Resp {
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.expect("read body").to_bytes();
    Resp {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body,
    }
}

/// GET `path` over plain HTTP/1.1 from `server`.
async fn get(server: &TestServer, path: &str, extra: &[(&str, &str)]) -> Resp {
    bounded(async {
        let tcp = TcpStream::connect(server.addr).await.expect("connect");
        let host = server.addr.to_string();
        collect(h1_request(tcp, &host, path, extra).await.expect("request")).await
    })
    .await
}

/// Client config trusting only the CA file written by the harness.
fn client_config(ca: &TestCa, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&ca.ca_file).expect("open CA file") {
        roots.add(cert.expect("parse CA file")).expect("add root");
    }
    let mut cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(cfg)
}

async fn tls_connect(
    ca: &TestCa,
    addr: SocketAddr,
    alpn: &[&[u8]],
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    TlsConnector::from(client_config(ca, alpn))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
}

fn rustls_error(err: &std::io::Error) -> rustls::Error {
    err.get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
        .cloned()
        .unwrap_or_else(|| panic!("not a rustls error: {err:?}"))
}

// ----------------------------------------------------------------------------------------------
// Plain HTTP
// ----------------------------------------------------------------------------------------------

#[tokio::test]
async fn http_ok_on_ipv4() {
    let server = support::http_server().await;
    assert!(server.addr.ip().is_loopback());
    assert_eq!(
        server.url("/ok"),
        format!("http://127.0.0.1:{}/ok", server.addr.port())
    );
    assert_eq!(server.url("ok"), server.url("/ok"));

    let resp = get(&server, "/ok?x=1", &[("x-probe", "yes")]).await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), "hello uptimer");
    assert_eq!(resp.header("content-type"), Some("text/plain"));

    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].method, "GET");
    assert_eq!(reqs[0].path, "/ok?x=1");
    assert_eq!(reqs[0].version, "HTTP/1.1");
    assert_eq!(reqs[0].header("X-Probe"), Some("yes"));
    assert_eq!(
        reqs[0].header("host"),
        Some(server.addr.to_string().as_str())
    );
    assert!(reqs[0].headers.iter().all(|(n, _)| *n == n.to_lowercase()));
    assert_eq!(server.requests_to("/ok").len(), 1);
    assert_eq!(server.connections(), 1);
}

#[tokio::test]
async fn http_ok_on_ipv6() {
    let server = support::http_server_v6().await;
    assert_eq!(
        server.url("/ok"),
        format!("http://[::1]:{}/ok", server.addr.port())
    );
    let resp = get(&server, "/ok", &[]).await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), "hello uptimer");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn http_routes() {
    let server = support::http_server().await;

    let r = get(&server, "/status/503", &[]).await;
    assert_eq!((r.status, r.text().as_str()), (503, "status 503"));
    let r = get(&server, "/status/204", &[]).await;
    assert_eq!(r.status, 204);

    let r = get(&server, "/redirect/2", &[]).await;
    assert_eq!(r.status, 302);
    assert_eq!(r.header("location"), Some("/redirect/1"));
    let r = get(&server, "/redirect/0", &[]).await;
    assert_eq!((r.status, r.text().as_str()), (200, "redirected"));

    let r = get(&server, "/redirect-abs/3", &[]).await;
    assert_eq!(r.status, 302);
    assert_eq!(r.header("location").unwrap(), server.url("/redirect-abs/2"));

    let r = get(&server, "/redirect-loop", &[]).await;
    assert_eq!(r.status, 302);
    assert_eq!(r.header("location"), Some("/redirect-loop"));

    let r = get(&server, "/set-cookie", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("set-cookie"), Some("session=abc; Path=/"));

    let r = get(
        &server,
        "/echo",
        &[("x-custom", "custom value"), ("cookie", "session=abc")],
    )
    .await;
    assert_eq!(r.status, 200);
    let body = r.text();
    assert!(body.starts_with("GET /echo HTTP/1.1\n"), "{body}");
    assert!(body.contains("x-custom: custom value\n"), "{body}");
    assert!(body.contains("cookie: session=abc\n"), "{body}");

    let r = get(&server, "/body/hello%20world%21%zz", &[]).await;
    assert_eq!((r.status, r.text().as_str()), (200, "hello world!%zz"));

    let r = get(&server, "/nope", &[]).await;
    assert_eq!((r.status, r.text().as_str()), (404, "not found"));
    let r = get(&server, "/status/abc", &[]).await;
    assert_eq!(r.status, 404);

    let r = get(&server, "/huge", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), 2 * 1024 * 1024);
    assert_eq!(r.header("content-length"), Some("2097152"));
    assert!(r.body.ends_with(b"\nTHE END\n"));
    assert!(r.body[..1000].iter().all(|b| *b == b'a'));

    assert_eq!(server.requests().len(), 12);
}

#[tokio::test]
async fn http_slow_routes() {
    let server = support::http_server().await;

    let start = Instant::now();
    let r = get(&server, "/slow/300", &[]).await;
    assert_eq!((r.status, r.text().as_str()), (200, "slow"));
    assert!(start.elapsed() >= Duration::from_millis(300));

    // Headers arrive while the body is still held back; the body only after its delay. (The
    // delay is long so that a busy machine's slowness cannot pass for held-back headers.)
    let delay = Duration::from_millis(1500);
    let start = Instant::now();
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let resp = bounded(h1_request(tcp, "x", "/slow-body/1500", &[]))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let headers_at = start.elapsed();
    assert!(headers_at < delay, "the headers waited for the body");
    let r = bounded(collect(resp)).await;
    assert!(start.elapsed() >= delay, "body early");
    assert_eq!(r.text(), "slow body");

    // /hang never answers.
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let hang = tokio::time::timeout(
        Duration::from_millis(300),
        h1_request(tcp, "x", "/hang", &[]),
    )
    .await;
    assert!(hang.is_err(), "/hang answered");
    assert_eq!(server.requests_to("/hang").len(), 1);
}

#[tokio::test]
async fn http_endless_streams() {
    let server = support::http_server().await;
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let resp = bounded(h1_request(tcp, "x", "/endless", &[]))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    let mut total = 0usize;
    bounded(async {
        while total < 8 * 1024 * 1024 {
            let frame = body.frame().await.expect("stream ended").expect("frame");
            if let Some(data) = frame.data_ref() {
                assert!(data.iter().all(|b| *b == b'x'));
                total += data.len();
            }
        }
    })
    .await;
    drop(body);
    assert!(total >= 8 * 1024 * 1024);
}

#[tokio::test]
async fn dropping_server_shuts_it_down() {
    let server = support::http_server().await;
    let addr = server.addr;

    // A request stuck in /hang is aborted when the server goes away.
    let tcp = TcpStream::connect(addr).await.unwrap();
    let pending = tokio::spawn(h1_request(tcp, "x", "/hang", &[]));
    wait_for_async("the request at the server", LIMIT, async || {
        (!server.requests().is_empty()).then_some(())
    })
    .await;
    drop(server);
    let result = bounded(pending).await.unwrap();
    assert!(result.is_err(), "hanging request should fail after drop");

    wait_for_async("connections refused", LIMIT, async || {
        let refused = TcpStream::connect(addr)
            .await
            .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionRefused);
        refused.then_some(())
    })
    .await;
}

#[tokio::test]
async fn gate_holds_requests_until_opened_then_lets_all_through() {
    let server = support::http_server().await;
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let mut held = tokio::spawn(h1_request(tcp, "x", "/gate", &[]));
    wait_for_async("the request at the gate", LIMIT, async || {
        (server.at_gate() == 1).then_some(())
    })
    .await;
    let early = tokio::time::timeout(Duration::from_millis(300), &mut held).await;
    assert!(early.is_err(), "/gate answered before it was opened");
    server.open_gate();
    let r = bounded(async { collect(held.await.unwrap().unwrap()).await }).await;
    assert_eq!((r.status, r.text().as_str()), (200, "gate open"));
    // Open it stays.
    let r = get(&server, "/gate?again", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(server.at_gate(), 2);
}

/// `body` decoded with the decoders of flate2, zstd and brotli-decompressor directly, the
/// last coding of `content_encoding` first.
fn decode(content_encoding: &str, body: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut data = body.to_vec();
    for coding in content_encoding
        .split(", ")
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
    {
        let mut out = Vec::new();
        match coding {
            "gzip" | "x-gzip" => flate2::read::GzDecoder::new(&data[..])
                .read_to_end(&mut out)
                .map(drop),
            "br" => brotli_decompressor::Decompressor::new(&data[..], 4096)
                .read_to_end(&mut out)
                .map(drop),
            "zstd" => zstd::stream::copy_decode(&data[..], &mut out),
            // zlib-wrapped, else raw.
            "deflate" => flate2::read::ZlibDecoder::new(&data[..])
                .read_to_end(&mut out)
                .map(drop)
                .or_else(|_| {
                    out.clear();
                    flate2::read::DeflateDecoder::new(&data[..])
                        .read_to_end(&mut out)
                        .map(drop)
                }),
            other => panic!("unexpected coding {other}"),
        }
        .unwrap_or_else(|e| panic!("{coding}: {e}"));
        data = out;
    }
    data
}

#[tokio::test]
async fn encoded_routes_are_labelled_and_decode_to_their_text() {
    use std::io::Read;
    let server = support::http_server().await;
    for (codings, label) in [
        ("gzip", "gzip"),
        ("x-gzip", "x-gzip"),
        ("deflate", "deflate"),
        ("deflate-raw", "deflate"),
        ("br", "br"),
        ("zstd", "zstd"),
        ("gzip,zstd", "gzip, zstd"),
        ("br,deflate", "br, deflate"),
    ] {
        let r = get(&server, &format!("/encoded/{codings}/hello"), &[]).await;
        assert_eq!(r.status, 200, "{codings}");
        assert_eq!(r.header("content-encoding"), Some(label), "{codings}");
        assert_ne!(&r.body[..], support::ENCODED_TEXT.as_bytes(), "{codings}");
        if label == "deflate" {
            assert_eq!(
                flate2::read::ZlibDecoder::new(&r.body[..])
                    .read_to_end(&mut Vec::new())
                    .is_err(),
                codings == "deflate-raw",
                "only deflate-raw lacks the zlib wrapper"
            );
        }
        assert_eq!(decode(label, &r.body), support::ENCODED_TEXT.as_bytes());

        let r = get(&server, &format!("/encoded/{codings}/bomb"), &[]).await;
        assert!(
            r.body.len() < 64 * 1024,
            "{codings}: {} bytes",
            r.body.len()
        );
        let zeros = decode(label, &r.body);
        assert_eq!(zeros.len(), support::BOMB_LEN, "{codings}");
        assert!(zeros.iter().all(|b| *b == 0));

        let r = get(&server, &format!("/encoded/{codings}/truncated"), &[]).await;
        assert!(!r.body.is_empty());
        let r = get(&server, &format!("/encoded/{codings}/garbage"), &[]).await;
        assert_eq!(r.header("content-encoding"), Some(label));
        assert_eq!(&r.body[..], b"this is not encoded at all");
    }
    let r = get(&server, "/encoded/compress/hello", &[]).await;
    assert_eq!(
        (r.header("content-encoding"), r.text().as_str()),
        (Some("compress"), support::ENCODED_TEXT)
    );
    assert_eq!(
        get(&server, "/encoded/gzip,br/hello", &[]).await.status,
        404
    );
    assert_eq!(get(&server, "/encoded/gzip/what", &[]).await.status, 404);
}

#[tokio::test]
async fn redirect_to_sends_the_decoded_location() {
    let server = support::http_server().await;
    let r = get(
        &server,
        "/redirect-to/http%3A%2F%2F127.0.0.1%3A9%2Fx%3Fy",
        &[],
    )
    .await;
    assert_eq!(
        (r.status, r.header("location")),
        (302, Some("http://127.0.0.1:9/x?y"))
    );
}

// ----------------------------------------------------------------------------------------------
// HTTPS
// ----------------------------------------------------------------------------------------------

#[tokio::test]
async fn https_valid_negotiates_h2() {
    let ca = support::test_ca();
    assert!(ca.ca_file.exists());
    assert!(ca.ca_cert_pem.contains("BEGIN CERTIFICATE"));
    let server = support::https_server(&ca, CertKind::Valid).await;
    assert_eq!(
        server.url("/ok"),
        format!("https://localhost:{}/ok", server.addr.port())
    );

    let tls = bounded(tls_connect(&ca, server.addr, &[b"h2", b"http/1.1"]))
        .await
        .expect("TLS handshake with valid cert");
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));

    let r = bounded(async {
        let (mut sender, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
                .await
                .expect("h2 handshake");
        tokio::spawn(conn);
        let req = Request::get(server.url("/ok"))
            .header("x-probe", "h2")
            .body(Empty::<Bytes>::new())
            .unwrap();
        collect(sender.send_request(req).await.expect("h2 request")).await
    })
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "hello uptimer");

    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].version, "HTTP/2.0");
    assert_eq!(reqs[0].path, "/ok");
    assert_eq!(reqs[0].header("x-probe"), Some("h2"));
    let authority = format!("localhost:{}", server.addr.port());
    assert_eq!(reqs[0].authority.as_deref(), Some(authority.as_str()));
    assert!(server.cert_not_after.unwrap() > time::OffsetDateTime::now_utc());
}

#[tokio::test]
async fn https_valid_also_speaks_http1_and_abs_redirects() {
    let ca = support::test_ca();
    let server = support::https_server(&ca, CertKind::Valid).await;
    let tls = bounded(tls_connect(&ca, server.addr, &[b"http/1.1"]))
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let host = format!("localhost:{}", server.addr.port());
    let r = bounded(async {
        collect(
            h1_request(tls, &host, "/redirect-abs/1", &[])
                .await
                .unwrap(),
        )
        .await
    })
    .await;
    assert_eq!(r.status, 302);
    assert_eq!(r.header("location").unwrap(), server.url("/redirect-abs/0"));
    assert_eq!(server.requests()[0].version, "HTTP/1.1");
}

#[tokio::test]
async fn https_http1_only() {
    let ca = support::test_ca();
    let server = support::https_server_http1_only(&ca).await;
    let tls = bounded(tls_connect(&ca, server.addr, &[b"h2", b"http/1.1"]))
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let host = format!("localhost:{}", server.addr.port());
    let r =
        bounded(async { collect(h1_request(tls, &host, "/ok", &[]).await.unwrap()).await }).await;
    assert_eq!((r.status, r.text().as_str()), (200, "hello uptimer"));
    assert_eq!(server.requests()[0].version, "HTTP/1.1");
}

#[tokio::test]
async fn https_expired_rejected() {
    let ca = support::test_ca();
    let server = support::https_server(&ca, CertKind::Expired).await;
    let err = bounded(tls_connect(&ca, server.addr, &[b"h2"]))
        .await
        .expect_err("expired cert must be rejected");
    match rustls_error(&err) {
        rustls::Error::InvalidCertificate(
            rustls::CertificateError::Expired | rustls::CertificateError::ExpiredContext { .. },
        ) => {}
        other => panic!("unexpected error: {other:?}"),
    }
    assert!(server.cert_not_after.unwrap() < time::OffsetDateTime::now_utc());
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn https_wrong_host_rejected() {
    let ca = support::test_ca();
    let server = support::https_server(&ca, CertKind::WrongHost).await;
    let err = bounded(tls_connect(&ca, server.addr, &[b"h2"]))
        .await
        .expect_err("wrong host must be rejected");
    match rustls_error(&err) {
        rustls::Error::InvalidCertificate(
            rustls::CertificateError::NotValidForName
            | rustls::CertificateError::NotValidForNameContext { .. },
        ) => {}
        other => panic!("unexpected error: {other:?}"),
    }
}

#[tokio::test]
async fn https_self_signed_leaf_rejected() {
    let ca = support::test_ca();
    let server = support::https_server(&ca, CertKind::SelfSignedLeaf).await;
    let err = bounded(tls_connect(&ca, server.addr, &[b"h2"]))
        .await
        .expect_err("self-signed leaf must be rejected");
    assert_eq!(
        rustls_error(&err),
        rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)
    );
}

#[tokio::test]
async fn https_valid_until_and_other_ca_rejected() {
    let ca = support::test_ca();
    let not_after = time::OffsetDateTime::now_utc() + time::Duration::days(5);
    let server = support::https_server(&ca, CertKind::ValidUntil(not_after)).await;
    bounded(tls_connect(&ca, server.addr, &[b"h2"]))
        .await
        .expect("cert valid for 5 more days");
    // A different CA does not trust it (each CA has a distinct subject name, so this is
    // UnknownIssuer rather than BadSignature).
    let other = support::test_ca();
    let err = bounded(tls_connect(&other, server.addr, &[b"h2"]))
        .await
        .expect_err("other CA");
    assert_eq!(
        rustls_error(&err),
        rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)
    );
}

// ----------------------------------------------------------------------------------------------
// Raw TCP
// ----------------------------------------------------------------------------------------------

#[tokio::test]
async fn reset_server_causes_read_error() {
    let server = support::reset_server().await;
    let mut tcp = bounded(TcpStream::connect(server.addr)).await.unwrap();
    tcp.write_all(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let err = bounded(tcp.read_to_end(&mut buf))
        .await
        .expect_err("read after RST must fail");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset, "{err:?}");
    assert!(buf.is_empty());

    // And hyper sees an error too.
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let res = bounded(h1_request(tcp, "x", "/ok", &[])).await;
    assert!(res.is_err());
    assert_eq!(server.connections(), 2);
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn silent_server_holds_connection() {
    let server = support::silent_server().await;
    let mut tcp = bounded(TcpStream::connect(server.addr)).await.unwrap();
    tcp.write_all(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_millis(300), tcp.read(&mut buf)).await;
    assert!(read.is_err(), "silent server must not answer or close");
    assert_eq!(server.connections(), 1);
}

#[tokio::test]
async fn closed_port_refuses() {
    let addr = support::closed_port();
    assert_eq!(addr.ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));
    let err = bounded(TcpStream::connect(addr))
        .await
        .expect_err("nothing listens");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
}

#[tokio::test]
async fn scripted_server_writes_its_answer_then_closes_or_resets() {
    let answer = "HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nhello";
    let server = support::scripted_server(answer, support::Ending::Close).await;
    let mut tcp = bounded(TcpStream::connect(server.addr)).await.unwrap();
    tcp.write_all(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    bounded(tcp.read_to_end(&mut buf))
        .await
        .expect("a clean close");
    assert_eq!(buf, answer.as_bytes());
    // hyper reads the head, then finds the body cut short.
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let resp = bounded(h1_request(tcp, "x", "/ok", &[])).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(bounded(resp.into_body().collect()).await.is_err());

    let server = support::scripted_server(answer, support::Ending::Reset).await;
    let mut tcp = bounded(TcpStream::connect(server.addr)).await.unwrap();
    tcp.write_all(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = bounded(tcp.read(&mut buf)).await.unwrap();
    assert_eq!(&buf[..n], answer.as_bytes());
    let err = bounded(tcp.read(&mut buf)).await.expect_err("then a reset");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset, "{err:?}");
}

// ----------------------------------------------------------------------------------------------
// DNS
// ----------------------------------------------------------------------------------------------

fn dns_query(name: &str, rtype: RecordType) -> (u16, Vec<u8>) {
    let mut msg = Message::query();
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
    (msg.metadata.id, msg.to_vec().unwrap())
}

async fn udp_ask(server: SocketAddr, name: &str, rtype: RecordType) -> Message {
    let (id, query) = dns_query(name, rtype);
    let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    sock.send_to(&query, server).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let (n, _) = bounded(sock.recv_from(&mut buf)).await.unwrap();
    let msg = Message::from_vec(&buf[..n]).unwrap();
    assert_eq!(msg.metadata.id, id);
    assert_eq!(msg.queries.len(), 1);
    msg
}

async fn tcp_ask(server: SocketAddr, name: &str, rtype: RecordType) -> Message {
    let (id, query) = dns_query(name, rtype);
    bounded(async {
        let mut tcp = TcpStream::connect(server).await.unwrap();
        let mut out = (query.len() as u16).to_be_bytes().to_vec();
        out.extend_from_slice(&query);
        tcp.write_all(&out).await.unwrap();
        let mut len = [0u8; 2];
        tcp.read_exact(&mut len).await.unwrap();
        let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
        tcp.read_exact(&mut buf).await.unwrap();
        let msg = Message::from_vec(&buf).unwrap();
        assert_eq!(msg.metadata.id, id);
        msg
    })
    .await
}

#[tokio::test]
async fn dns_server_answers() {
    let v4 = Ipv4Addr::new(127, 0, 0, 1);
    let v4b = Ipv4Addr::new(10, 1, 2, 3);
    let v6 = Ipv6Addr::LOCALHOST;
    let dns = support::dns_server(&[
        ("known.test", IpAddr::V4(v4)),
        ("Multi.Test.", IpAddr::V4(v4)),
        ("multi.test", IpAddr::V4(v4b)),
        ("multi.test", IpAddr::V6(v6)),
        ("v6only.test", IpAddr::V6(v6)),
    ])
    .await;
    assert!(dns.addr.ip().is_loopback());
    assert_eq!(dns.queries(), 0);

    let msg = udp_ask(dns.addr, "KNOWN.test.", RecordType::A).await;
    assert_eq!(msg.metadata.response_code, ResponseCode::NoError);
    assert_eq!(msg.answers.len(), 1);
    assert_eq!(msg.answers[0].data, RData::A(A(v4)));
    assert_eq!(msg.answers[0].ttl, 60);

    let msg = udp_ask(dns.addr, "unknown.test.", RecordType::A).await;
    assert_eq!(msg.metadata.response_code, ResponseCode::NXDomain);
    assert!(msg.answers.is_empty());

    let msg = udp_ask(dns.addr, "known.test.", RecordType::AAAA).await;
    assert_eq!(msg.metadata.response_code, ResponseCode::NoError);
    assert!(msg.answers.is_empty());

    let msg = udp_ask(dns.addr, "multi.test", RecordType::A).await;
    let mut got: Vec<RData> = msg.answers.iter().map(|r| r.data.clone()).collect();
    got.sort_by_key(|d| format!("{d:?}"));
    assert_eq!(got, vec![RData::A(A(v4b)), RData::A(A(v4))]);

    let msg = udp_ask(dns.addr, "v6only.test.", RecordType::AAAA).await;
    assert_eq!(msg.answers.len(), 1);
    assert_eq!(msg.answers[0].data, RData::AAAA(AAAA(v6)));

    assert_eq!(dns.queries(), 5);

    assert!(
        dns.tcp,
        "no port was free for both UDP and TCP: the TCP half is untested"
    );
    let msg = tcp_ask(dns.addr, "known.test.", RecordType::A).await;
    assert_eq!(msg.answers.len(), 1);
    assert_eq!(msg.answers[0].data, RData::A(A(v4)));
    let msg = tcp_ask(dns.addr, "nope.test.", RecordType::A).await;
    assert_eq!(msg.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(dns.queries(), 7);
}

/// The crate's own resolver library (hickory-resolver) accepts the harness's answers.
#[tokio::test]
async fn dns_server_works_with_hickory_resolver() {
    use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
    use hickory_resolver::net::runtime::TokioRuntimeProvider;

    let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
    let dns = support::dns_server(&[("known.test", ip)]).await;
    let mut udp = ConnectionConfig::udp();
    udp.port = dns.addr.port();
    let config = ResolverConfig::from_name_servers(vec![NameServerConfig::new(
        dns.addr.ip(),
        true,
        vec![udp],
    )]);
    let resolver =
        hickory_resolver::Resolver::builder_with_config(config, TokioRuntimeProvider::default())
            .build()
            .expect("build resolver");

    let ips: Vec<IpAddr> = bounded(resolver.lookup_ip("known.test."))
        .await
        .expect("lookup known.test")
        .iter()
        .collect();
    assert_eq!(ips, vec![ip]);
    let err = bounded(resolver.lookup_ip("unknown.test."))
        .await
        .expect_err("unknown.test must not resolve");
    eprintln!("unknown.test -> {err}");
    assert!(dns.queries() >= 2);
}

// ----------------------------------------------------------------------------------------------
// Processes, ports, waiting
// ----------------------------------------------------------------------------------------------

#[test]
fn poll_returns_the_first_value_and_gives_up_after_its_deadline() {
    let mut tries = 0;
    let found = poll(LIMIT, || {
        tries += 1;
        (tries == 3).then_some(tries)
    });
    assert_eq!(found, Some(3));
    let start = Instant::now();
    assert_eq!(poll(Duration::from_millis(100), || None::<()>), None);
    assert!(start.elapsed() >= Duration::from_millis(100));
    let failed = std::panic::catch_unwind(|| wait_for("nothing", Duration::ZERO, || None::<()>));
    assert!(
        failed.is_err(),
        "wait_for fails the test when the time is up"
    );
}

#[test]
fn running_hands_over_lines_as_they_come_and_terminate_sends_sigterm() {
    let mut c = Command::new("sh");
    c.args([
        "-c",
        "trap 'echo stopping >&2; echo bye; exit 0' TERM; echo ready; while :; do sleep 0.05; done",
    ]);
    let p = Running::spawn(c);
    let line = p.wait_for_stdout("the ready line", LIMIT, |l| l == "ready");
    assert_eq!(line, "ready");
    let out = p.terminate();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(support::stdout(&out), "ready\nbye\n");
    assert_eq!(support::stderr(&out), "stopping\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn get_speaks_plain_http_to_a_port() {
    let server = support::http_server().await;
    let port = server.addr.port();
    let (whole, body) =
        support::off_runtime(move || (support::get(port, "/ok"), support::get_body(port, "/ok")))
            .await;
    let whole = whole.expect("an answer");
    assert!(
        whole.starts_with("HTTP/1.1 200") || whole.starts_with("HTTP/1.0 200"),
        "{whole}"
    );
    assert_eq!(body.as_deref(), Some("hello uptimer"));
    assert_eq!(server.requests()[0].version, "HTTP/1.0");
    assert!(support::get(support::free_port(), "/ok").is_none());
    assert!(!support::listening(support::closed_port().port()));
}
