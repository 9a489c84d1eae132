//! Reusable integration-test harness: real servers on loopback.
//!
//! Use from a test file with `mod support;`.
//!
//! * [`http_server`] / [`http_server_on`] – plain HTTP (HTTP/1.1, and h2c with prior knowledge)
//! * [`https_server`] / [`https_server_http1_only`] – TLS servers with certificates from a
//!   [`TestCa`] (see [`CertKind`])
//! * [`reset_server`], [`silent_server`], [`closed_port`] – misbehaving TCP endpoints
//! * [`dns_server`] – a tiny authoritative DNS server (UDP + TCP on the same port)
//! * every HTTP server answers `/switch` with the status set by [`TestServer::set_switch`]: a
//!   target that goes down and comes back
//!
//! Every server is shut down when its handle is dropped (the accept task is aborted, and with
//! it every connection task it spawned).
#![allow(dead_code)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hickory_proto::op::{Edns, Message, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA};
use hickory_proto::rr::{RData, Record, RecordType};
use http::{Request, Response, StatusCode, header};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Sleep;
use tokio_rustls::TlsAcceptor;

/// TTL of every DNS answer served by [`dns_server`].
pub const DNS_TTL: u32 = 60;
/// Size of the `/huge` body.
pub const HUGE_BODY_LEN: usize = 2 * 1024 * 1024;
/// Size of each chunk of the `/endless` body.
pub const ENDLESS_CHUNK_LEN: usize = 16 * 1024;

// ---------------------------------------------------------------------------------------------
// TestServer
// ---------------------------------------------------------------------------------------------

/// One request as seen by a [`TestServer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// e.g. `GET`
    pub method: String,
    /// path plus query, e.g. `/ok?x=1`
    pub path: String,
    /// Header names are lower-case, in received order. Note: HTTP/2 requests carry the host in
    /// the `:authority` pseudo header, which is *not* listed here (see [`RecordedRequest::authority`]).
    pub headers: Vec<(String, String)>,
    /// `HTTP/1.1`, `HTTP/2.0`, ...
    pub version: String,
    /// The `Host` header (HTTP/1) or `:authority` (HTTP/2), if any.
    pub authority: Option<String>,
}

impl RecordedRequest {
    /// First value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// All values of header `name` (case-insensitive).
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

struct ServerState {
    requests: Mutex<Vec<RecordedRequest>>,
    connections: AtomicUsize,
    /// The status `/switch` answers with (see [`TestServer::set_switch`]).
    switch: AtomicU16,
    tls: bool,
    addr: SocketAddr,
}

/// A server running on loopback. Dropping it shuts it down.
pub struct TestServer {
    pub addr: SocketAddr,
    tls: bool,
    state: Arc<ServerState>,
    task: JoinHandle<()>,
    /// `not_after` of the served leaf certificate (TLS servers only).
    pub cert_not_after: Option<time::OffsetDateTime>,
}

impl TestServer {
    /// `http://127.0.0.1:PORT/path`, `http://[::1]:PORT/path`, or for TLS servers
    /// `https://localhost:PORT/path`. A missing leading `/` is added.
    pub fn url(&self, path: &str) -> String {
        let slash = if path.starts_with('/') { "" } else { "/" };
        if self.tls {
            format!("https://localhost:{}{slash}{path}", self.addr.port())
        } else {
            // SocketAddr's Display brackets IPv6 addresses.
            format!("http://{}{slash}{path}", self.addr)
        }
    }

    /// Every HTTP request received so far (in arrival order). Always empty for raw TCP servers.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.requests.lock().unwrap().clone()
    }

    /// Number of requests received so far.
    pub fn request_count(&self) -> usize {
        self.state.requests.lock().unwrap().len()
    }

    /// Requests received so far whose path (without query) equals `path`.
    pub fn requests_to(&self, path: &str) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.path.split('?').next() == Some(path))
            .collect()
    }

    /// Number of TCP connections accepted so far (all server kinds).
    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// Is this a TLS server?
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// Sets the status `/switch` answers with from now on (200 at first): a target that goes
    /// down and comes back while a test watches.
    pub fn set_switch(&self, status: u16) {
        self.state.switch.store(status, Ordering::SeqCst);
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn new_state(addr: SocketAddr, tls: bool) -> Arc<ServerState> {
    Arc::new(ServerState {
        requests: Mutex::new(Vec::new()),
        connections: AtomicUsize::new(0),
        switch: AtomicU16::new(200),
        tls,
        addr,
    })
}

/// Runs `accept_loop`-style servers: accepts connections and runs `handle` for each one in a
/// JoinSet owned by the task, so aborting the task tears down every connection too.
fn spawn_acceptor<F, Fut>(
    listener: TcpListener,
    state: Arc<ServerState>,
    handle: F,
) -> JoinHandle<()>
where
    F: Fn(TcpStream, Arc<ServerState>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        let mut conns = JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _peer)) => {
                        state.connections.fetch_add(1, Ordering::SeqCst);
                        conns.spawn(handle(stream, state.clone()));
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                },
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
            }
        }
    })
}

async fn serve_http<I>(io: I, state: Arc<ServerState>, http1_only: bool)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    if http1_only {
        builder = builder.http1_only();
    }
    let service = service_fn(move |req| handle_request(req, state.clone()));
    let _ = builder.serve_connection(TokioIo::new(io), service).await;
}

/// Plain HTTP server on `127.0.0.1:0` (HTTP/1.1; h2c prior knowledge also works).
pub async fn http_server() -> TestServer {
    http_server_on(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await
}

/// Plain HTTP server on `bind` (e.g. `[::1]:0`). Panics if binding fails.
pub async fn http_server_on(bind: SocketAddr) -> TestServer {
    try_http_server_on(bind)
        .await
        .unwrap_or_else(|e| panic!("cannot bind test HTTP server on {bind}: {e}"))
}

/// Like [`http_server_on`] but returns the bind error (e.g. to skip IPv6 tests gracefully).
pub async fn try_http_server_on(bind: SocketAddr) -> io::Result<TestServer> {
    let listener = TcpListener::bind(bind).await?;
    let addr = listener.local_addr()?;
    let state = new_state(addr, false);
    let task = spawn_acceptor(listener, state.clone(), |stream, state| async move {
        let _ = stream.set_nodelay(true);
        serve_http(stream, state, false).await;
    });
    Ok(TestServer {
        addr,
        tls: false,
        state,
        task,
        cert_not_after: None,
    })
}

// ---------------------------------------------------------------------------------------------
// TLS
// ---------------------------------------------------------------------------------------------

/// A fresh self-signed CA (ECDSA P-256) whose certificate is also written to `ca_file`.
pub struct TestCa {
    pub ca_cert_pem: String,
    /// Temporary directory holding `ca_file`; removed on drop.
    pub dir: tempfile::TempDir,
    /// `dir/ca.pem`
    pub ca_file: PathBuf,
    ca_cert_der: CertificateDer<'static>,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl TestCa {
    /// The CA certificate, DER encoded.
    pub fn ca_cert_der(&self) -> CertificateDer<'static> {
        self.ca_cert_der.clone()
    }

    /// A root store that trusts only this CA.
    pub fn root_store(&self) -> rustls::RootCertStore {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(self.ca_cert_der())
            .expect("add test CA to root store");
        roots
    }

    /// A rustls client config (ring provider) that trusts only this CA, with the given ALPN
    /// protocols (e.g. `&[b"h2", b"http/1.1"]`).
    pub fn client_config(&self, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
        let mut cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(self.root_store())
        .with_no_client_auth();
        cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(cfg)
    }

    /// Issue a leaf certificate signed by this CA for `names` (DNS names or IP literals).
    pub fn issue_leaf(
        &self,
        names: &[&str],
        not_before: time::OffsetDateTime,
        not_after: time::OffsetDateTime,
    ) -> LeafCert {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("leaf key");
        let params = leaf_params(names, not_before, not_after);
        let cert = params.signed_by(&key, &self.issuer).expect("sign leaf");
        LeafCert::new(cert, key, not_after)
    }
}

/// A certificate with its private key.
pub struct LeafCert {
    pub cert_pem: String,
    pub key_pem: String,
    pub cert_der: CertificateDer<'static>,
    pub key_der: PrivateKeyDer<'static>,
    pub not_after: time::OffsetDateTime,
}

impl LeafCert {
    fn new(cert: rcgen::Certificate, key: rcgen::KeyPair, not_after: time::OffsetDateTime) -> Self {
        LeafCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().clone(),
            key_der: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            not_after,
        }
    }
}

fn leaf_params(
    names: &[&str],
    not_before: time::OffsetDateTime,
    not_after: time::OffsetDateTime,
) -> rcgen::CertificateParams {
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let mut params = rcgen::CertificateParams::new(names.clone()).expect("leaf params");
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(
        rcgen::DnType::CommonName,
        names
            .first()
            .cloned()
            .unwrap_or_else(|| "uptimer test leaf".into()),
    );
    params.distinguished_name = dn;
    params.not_before = not_before;
    params.not_after = not_after;
    params.is_ca = rcgen::IsCa::ExplicitNoCa;
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::DigitalSignature,
        rcgen::KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    params
}

/// A fresh self-signed CA made with rcgen (ECDSA P-256), written as PEM to `ca_file`.
pub fn test_ca() -> TestCa {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("CA key");
    let mut params = rcgen::CertificateParams::default();
    let mut dn = rcgen::DistinguishedName::new();
    // A unique subject per CA: with identical names, a leaf from another test CA would fail
    // verification with BadSignature instead of UnknownIssuer.
    static CA_SEQ: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    dn.push(
        rcgen::DnType::CommonName,
        format!(
            "uptimer test CA {}-{}-{nanos}",
            std::process::id(),
            CA_SEQ.fetch_add(1, Ordering::SeqCst)
        ),
    );
    dn.push(rcgen::DnType::OrganizationName, "uptimer tests");
    params.distinguished_name = dn;
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(3650);
    params.not_after = now + time::Duration::days(3650);
    let cert = params.self_signed(&key).expect("self-sign CA");
    let ca_cert_pem = cert.pem();
    let dir = tempfile::tempdir().expect("tempdir");
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca_cert_pem).expect("write CA file");
    TestCa {
        ca_cert_pem,
        dir,
        ca_file,
        ca_cert_der: cert.der().clone(),
        issuer: rcgen::Issuer::new(params, key),
    }
}

/// Which certificate an [`https_server`] presents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertKind {
    /// Signed by the CA; SAN `localhost` + IP `127.0.0.1`; valid now (for one year).
    Valid,
    /// Like `Valid`, but expired (valid 2019-01-01 .. 2020-01-01).
    Expired,
    /// Signed by the CA, valid now, but the only SAN is `wrong.example`.
    WrongHost,
    /// Self-signed leaf for `localhost`/`127.0.0.1`, not issued by the CA.
    SelfSignedLeaf,
    /// Like `Valid`, but with this `not_after` (e.g. to test "expires in N days" warnings).
    ValidUntil(time::OffsetDateTime),
    /// Like `Valid`, but not valid before tomorrow.
    NotYetValid,
    /// Signed by the CA for `localhost`/`127.0.0.1`, but itself a CA certificate (basic
    /// constraints `CA:TRUE`), which a client must not accept as a server certificate.
    CaAsLeaf,
}

const LEAF_NAMES: &[&str] = &["localhost", "127.0.0.1"];

/// Build the leaf certificate for `kind`.
pub fn make_leaf(ca: &TestCa, kind: CertKind) -> LeafCert {
    let now = time::OffsetDateTime::now_utc();
    let day = time::Duration::days(1);
    match kind {
        CertKind::Valid => ca.issue_leaf(LEAF_NAMES, now - day, now + 365 * day),
        CertKind::ValidUntil(not_after) => ca.issue_leaf(LEAF_NAMES, now - day, not_after),
        CertKind::Expired => ca.issue_leaf(
            LEAF_NAMES,
            rcgen::date_time_ymd(2019, 1, 1),
            rcgen::date_time_ymd(2020, 1, 1),
        ),
        CertKind::WrongHost => ca.issue_leaf(&["wrong.example"], now - day, now + 365 * day),
        CertKind::NotYetValid => ca.issue_leaf(LEAF_NAMES, now + day, now + 365 * day),
        CertKind::CaAsLeaf => {
            let key =
                rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("leaf key");
            let not_after = now + 365 * day;
            let mut params = leaf_params(LEAF_NAMES, now - day, not_after);
            params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            params.key_usages.push(rcgen::KeyUsagePurpose::KeyCertSign);
            let cert = params.signed_by(&key, &ca.issuer).expect("sign CA leaf");
            LeafCert::new(cert, key, not_after)
        }
        CertKind::SelfSignedLeaf => {
            let key =
                rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("leaf key");
            let not_after = now + 365 * day;
            let cert = leaf_params(LEAF_NAMES, now - day, not_after)
                .self_signed(&key)
                .expect("self-sign leaf");
            LeafCert::new(cert, key, not_after)
        }
    }
}

/// HTTPS server on `127.0.0.1:0` with ALPN `["h2", "http/1.1"]`, serving both protocols.
pub async fn https_server(ca: &TestCa, kind: CertKind) -> TestServer {
    https_server_with(make_leaf(ca, kind), &[b"h2", b"http/1.1"], false).await
}

/// HTTPS server (valid certificate) with ALPN `["http/1.1"]` only; speaks only HTTP/1.x.
pub async fn https_server_http1_only(ca: &TestCa) -> TestServer {
    https_server_with(make_leaf(ca, CertKind::Valid), &[b"http/1.1"], true).await
}

/// HTTPS server on `127.0.0.1:0` presenting `leaf`, advertising `alpn` (may be empty).
pub async fn https_server_with(leaf: LeafCert, alpn: &[&[u8]], http1_only: bool) -> TestServer {
    let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_no_client_auth()
    .with_single_cert(vec![leaf.cert_der.clone()], leaf.key_der.clone_key())
    .expect("server cert");
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let acceptor = TlsAcceptor::from(Arc::new(cfg));

    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind HTTPS test server");
    let addr = listener.local_addr().expect("local_addr");
    let state = new_state(addr, true);
    let task = spawn_acceptor(listener, state.clone(), move |stream, state| {
        let acceptor = acceptor.clone();
        async move {
            let _ = stream.set_nodelay(true);
            let Ok(Ok(tls)) =
                tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await
            else {
                return;
            };
            serve_http(tls, state, http1_only).await;
        }
    });
    TestServer {
        addr,
        tls: true,
        state,
        task,
        cert_not_after: Some(leaf.not_after),
    }
}

// ---------------------------------------------------------------------------------------------
// Raw TCP misbehaviour
// ---------------------------------------------------------------------------------------------

/// Raw TCP server: accepts, reads a little (up to 1 s), then closes with `SO_LINGER 0` so the
/// peer gets a TCP RST.
pub async fn reset_server() -> TestServer {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind reset server");
    let addr = listener.local_addr().expect("local_addr");
    let state = new_state(addr, false);
    let task = spawn_acceptor(listener, state.clone(), |mut stream, _state| async move {
        let mut buf = [0u8; 1024];
        let _ = tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buf)).await;
        let _ = stream.set_zero_linger();
        drop(stream);
    });
    TestServer {
        addr,
        tls: false,
        state,
        task,
        cert_not_after: None,
    }
}

/// Raw TCP server: accepts and then never reads or writes; connections stay open until the
/// server is dropped.
pub async fn silent_server() -> TestServer {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind silent server");
    let addr = listener.local_addr().expect("local_addr");
    let state = new_state(addr, false);
    let task = spawn_acceptor(listener, state.clone(), |stream, _state| async move {
        std::future::pending::<()>().await;
        drop(stream);
    });
    TestServer {
        addr,
        tls: false,
        state,
        task,
        cert_not_after: None,
    }
}

/// A `127.0.0.1` port with nothing listening (bound to :0, then released).
pub fn closed_port() -> SocketAddr {
    let listener =
        std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind for closed_port");
    let addr = listener.local_addr().expect("local_addr");
    drop(listener);
    addr
}

// ---------------------------------------------------------------------------------------------
// HTTP routes
// ---------------------------------------------------------------------------------------------

/// Response body used by the test handler.
pub enum TestBody {
    Full(Option<Bytes>),
    Delayed {
        sleep: Pin<Box<Sleep>>,
        data: Option<Bytes>,
    },
    Endless(Bytes),
}

impl Body for TestBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            TestBody::Full(data) => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            TestBody::Delayed { sleep, data } => {
                if data.is_none() {
                    return Poll::Ready(None);
                }
                match sleep.as_mut().poll(cx) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(()) => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
                }
            }
            // Cheap clone of a shared buffer; hyper only polls when it can write, so memory
            // stays bounded.
            TestBody::Endless(chunk) => Poll::Ready(Some(Ok(Frame::data(chunk.clone())))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            TestBody::Full(d) => d.is_none(),
            TestBody::Delayed { data, .. } => data.is_none(),
            TestBody::Endless(_) => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            TestBody::Full(d) => SizeHint::with_exact(d.as_ref().map_or(0, |b| b.len() as u64)),
            TestBody::Delayed { data, .. } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |b| b.len() as u64))
            }
            TestBody::Endless(_) => SizeHint::default(),
        }
    }
}

fn text(status: u16, body: impl Into<Bytes>) -> Response<TestBody> {
    let body: Bytes = body.into();
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain")
        .header(header::CONTENT_LENGTH, body.len())
        .body(TestBody::Full(Some(body)))
        .expect("build response")
}

fn redirect(location: &str) -> Response<TestBody> {
    let mut resp = text(302, "redirect");
    resp.headers_mut()
        .insert(header::LOCATION, location.parse().expect("location header"));
    resp
}

fn huge_body() -> Bytes {
    static HUGE: std::sync::OnceLock<Bytes> = std::sync::OnceLock::new();
    HUGE.get_or_init(|| {
        let tail = b"\nTHE END\n";
        let mut v = vec![b'a'; HUGE_BODY_LEN - tail.len()];
        v.extend_from_slice(tail);
        Bytes::from(v)
    })
    .clone()
}

/// Decode `%XX` escapes (invalid escapes are kept verbatim); `+` is left as is.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = s.get(i + 1..i + 3)
            && hex.bytes().all(|c| c.is_ascii_hexdigit())
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_num<T: std::str::FromStr>(s: &str) -> Option<T> {
    s.parse().ok()
}

async fn handle_request(
    req: Request<Incoming>,
    state: Arc<ServerState>,
) -> Result<Response<TestBody>, Infallible> {
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".to_string());
    let authority = req
        .uri()
        .authority()
        .map(|a| a.as_str().to_string())
        .or_else(|| {
            req.headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_string)
        });
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let recorded = RecordedRequest {
        method: req.method().as_str().to_string(),
        path: path_and_query.clone(),
        headers,
        version: format!("{:?}", req.version()),
        authority,
    };
    state.requests.lock().unwrap().push(recorded.clone());

    let path = req.uri().path();
    let segments: Vec<&str> = path.trim_start_matches('/').splitn(2, '/').collect();
    let resp = match segments.as_slice() {
        ["ok"] => text(200, "hello uptimer"),
        ["status", code] => match parse_num::<u16>(code).and_then(|c| StatusCode::from_u16(c).ok())
        {
            Some(code) => text(code.as_u16(), format!("status {}", code.as_u16())),
            None => text(404, "not found"),
        },
        ["slow", ms] => match parse_num::<u64>(ms) {
            Some(ms) => {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                text(200, "slow")
            }
            None => text(404, "not found"),
        },
        ["slow-body", ms] => match parse_num::<u64>(ms) {
            Some(ms) => {
                let body = Bytes::from_static(b"slow body");
                Response::builder()
                    .status(200)
                    .header(header::CONTENT_TYPE, "text/plain")
                    .body(TestBody::Delayed {
                        sleep: Box::pin(tokio::time::sleep(Duration::from_millis(ms))),
                        data: Some(body),
                    })
                    .expect("build response")
            }
            None => text(404, "not found"),
        },
        ["hang"] => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            text(200, "woke up")
        }
        ["redirect", n] => match parse_num::<u32>(n) {
            Some(0) => text(200, "redirected"),
            Some(n) => redirect(&format!("/redirect/{}", n - 1)),
            None => text(404, "not found"),
        },
        ["redirect-abs", n] => match parse_num::<u32>(n) {
            Some(0) => text(200, "redirected"),
            Some(n) => {
                let scheme = if state.tls { "https" } else { "http" };
                let host = recorded
                    .authority
                    .clone()
                    .unwrap_or_else(|| state.addr.to_string());
                redirect(&format!("{scheme}://{host}/redirect-abs/{}", n - 1))
            }
            None => text(404, "not found"),
        },
        ["redirect-loop"] => redirect("/redirect-loop"),
        ["switch"] => {
            let code = state.switch.load(Ordering::SeqCst);
            text(code, format!("switch {code}"))
        }
        ["huge"] => text(200, huge_body()),
        ["endless"] => Response::builder()
            .status(200)
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .body(TestBody::Endless(Bytes::from(vec![
                b'x';
                ENDLESS_CHUNK_LEN
            ])))
            .expect("build response"),
        ["set-cookie"] => {
            let mut r = text(200, "cookie set");
            r.headers_mut().insert(
                header::SET_COOKIE,
                http::HeaderValue::from_static("session=abc; Path=/"),
            );
            r
        }
        ["echo"] => {
            let mut body = format!(
                "{} {} {}\n",
                recorded.method, recorded.path, recorded.version
            );
            for (n, v) in &recorded.headers {
                body.push_str(&format!("{n}: {v}\n"));
            }
            text(200, body)
        }
        ["body", t] => text(200, percent_decode(t)),
        _ => text(404, "not found"),
    };
    Ok(resp)
}

// ---------------------------------------------------------------------------------------------
// DNS
// ---------------------------------------------------------------------------------------------

/// A tiny authoritative DNS server on `127.0.0.1` (UDP, and TCP on the same port if that could
/// be bound). Dropping it shuts it down.
pub struct DnsServer {
    /// UDP address (`127.0.0.1:PORT`).
    pub addr: SocketAddr,
    /// Whether TCP is also served on `addr`'s port.
    pub tcp: bool,
    queries: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl DnsServer {
    /// Number of DNS messages received so far (UDP + TCP).
    pub fn queries(&self) -> usize {
        self.queries.load(Ordering::SeqCst)
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Zone = Arc<HashMap<String, Vec<IpAddr>>>;

fn normalize_name(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// Build the wire-format answer for the wire-format query `buf` (None if unparseable).
fn dns_answer(zone: &Zone, buf: &[u8]) -> Option<Vec<u8>> {
    let req = match Message::from_vec(buf) {
        Ok(m) => m,
        Err(_) => {
            if buf.len() < 2 {
                return None;
            }
            let id = u16::from_be_bytes([buf[0], buf[1]]);
            let msg =
                Message::error_msg(id, hickory_proto::op::OpCode::Query, ResponseCode::FormErr);
            return msg.to_vec().ok();
        }
    };
    let mut resp = Message::response(req.metadata.id, req.metadata.op_code);
    resp.metadata.recursion_desired = req.metadata.recursion_desired;
    resp.metadata.checking_disabled = req.metadata.checking_disabled;
    resp.metadata.recursion_available = true;
    resp.metadata.authoritative = true;
    resp.add_queries(req.queries.iter().cloned());
    if req.edns.is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(1232);
        resp.set_edns(edns);
    }
    if let Some(q) = req.queries.first() {
        match zone.get(&normalize_name(&q.name().to_ascii())) {
            None => resp.metadata.response_code = ResponseCode::NXDomain,
            Some(ips) => {
                for ip in ips {
                    let rdata = match (q.query_type(), ip) {
                        (RecordType::A, IpAddr::V4(v4)) => RData::A(A(*v4)),
                        (RecordType::AAAA, IpAddr::V6(v6)) => RData::AAAA(AAAA(*v6)),
                        _ => continue,
                    };
                    resp.add_answer(Record::from_rdata(q.name().clone(), DNS_TTL, rdata));
                }
            }
        }
    } else {
        resp.metadata.response_code = ResponseCode::FormErr;
    }
    resp.to_vec().ok()
}

async fn dns_udp_loop(socket: UdpSocket, zone: Zone, queries: Arc<AtomicUsize>) {
    let mut buf = vec![0u8; 4096];
    loop {
        let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        queries.fetch_add(1, Ordering::SeqCst);
        if let Some(answer) = dns_answer(&zone, &buf[..n]) {
            let _ = socket.send_to(&answer, peer).await;
        }
    }
}

async fn dns_tcp_conn(mut stream: TcpStream, zone: Zone, queries: Arc<AtomicUsize>) {
    loop {
        let mut len = [0u8; 2];
        if stream.read_exact(&mut len).await.is_err() {
            return;
        }
        let mut msg = vec![0u8; u16::from_be_bytes(len) as usize];
        if stream.read_exact(&mut msg).await.is_err() {
            return;
        }
        queries.fetch_add(1, Ordering::SeqCst);
        let Some(answer) = dns_answer(&zone, &msg) else {
            return;
        };
        let Ok(alen) = u16::try_from(answer.len()) else {
            return;
        };
        let mut out = alen.to_be_bytes().to_vec();
        out.extend_from_slice(&answer);
        if stream.write_all(&out).await.is_err() {
            return;
        }
    }
}

async fn dns_tcp_loop(listener: TcpListener, zone: Zone, queries: Arc<AtomicUsize>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                if let Ok((stream, _)) = accepted {
                    conns.spawn(dns_tcp_conn(stream, zone.clone(), queries.clone()));
                }
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

/// DNS server answering A/AAAA queries for `records` (names case-insensitive, trailing dot
/// optional; a name may appear several times for several addresses) with TTL [`DNS_TTL`].
/// Unknown names get NXDOMAIN; known names without records of the asked type get NOERROR with an
/// empty answer section.
pub async fn dns_server(records: &[(&str, IpAddr)]) -> DnsServer {
    let mut zone: HashMap<String, Vec<IpAddr>> = HashMap::new();
    for (name, ip) in records {
        zone.entry(normalize_name(name)).or_default().push(*ip);
    }
    let zone: Zone = Arc::new(zone);

    // Find a port free for both UDP and TCP (TCP is optional; give up on it after a few tries).
    let mut bound = None;
    for _ in 0..20 {
        let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind DNS UDP socket");
        let addr = udp.local_addr().expect("local_addr");
        match TcpListener::bind(addr).await {
            Ok(tcp) => {
                bound = Some((udp, Some(tcp)));
                break;
            }
            Err(_) => bound = Some((udp, None)),
        }
    }
    let (udp, tcp) = bound.expect("DNS sockets");
    let addr = udp.local_addr().expect("local_addr");
    let queries = Arc::new(AtomicUsize::new(0));
    let has_tcp = tcp.is_some();

    let task = {
        let queries = queries.clone();
        tokio::spawn(async move {
            let mut set = JoinSet::new();
            set.spawn(dns_udp_loop(udp, zone.clone(), queries.clone()));
            if let Some(tcp) = tcp {
                set.spawn(dns_tcp_loop(tcp, zone, queries));
            }
            while set.join_next().await.is_some() {}
        })
    };
    DnsServer {
        addr,
        tcp: has_tcp,
        queries,
        task,
    }
}
