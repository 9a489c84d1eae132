//! `readers.probes.grpc`: one gRPC health check (`grpc.health.v1.Health/Check`) over a stream
//! the caller connected (TCP for `grpc://`, TLS with ALPN h2 for `grpcs://`).
//!
//! tonic-health's generated client runs over one hyper HTTP/2 connection on that stream, driven
//! by the probe's own task (`Conn`), rather than over tonic's channel: a channel pools and
//! reconnects, which would hide the connect and TLS failures an uptime check is for. The target
//! is up only when the server answers SERVING.

use std::error::Error as StdError;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Instant;

use http::{Request, Response, Uri, header};
use hyper::body::Incoming;
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use super::Failure;
use super::conn::Conn;
use super::net::describe;
use crate::event::{ErrorKind, GrpcDetails, Phases};

/// The largest health response decoded, in bytes: the real one is two or three bytes, and a
/// message announced as larger is refused before it is read.
const MAX_RESPONSE_BYTES: usize = 4096;

/// The largest block of headers or trailers accepted, in bytes (hyper's default for HTTP/2,
/// stated here because the probe depends on it to bound what a server can make it hold).
const MAX_HEADER_LIST_BYTES: u32 = 16 * 1024;

/// A server's text (`grpc-message`, a content type) is cut to this many characters in an event.
const MAX_QUOTED_CHARS: usize = 256;

/// How many of the server's first bytes are kept to say what spoke when HTTP/2 fails.
const SNIFF_BYTES: usize = 8;

/// What a gRPC health check observed, kept when the caller's timeout cuts it short.
#[derive(Debug, Default)]
pub struct GrpcRecord {
    /// The phase under way (`ttfb` once the request is sent): what a timeout happened during.
    pub phase: &'static str,
    /// `ttfb`: from the HTTP/2 handshake and request to the whole response.
    pub phases: Phases,
    /// The serving status, when the server answered one (any, not only SERVING).
    pub details: Option<GrpcDetails>,
}

/// Asks `io`'s server for the health of `service` (empty: the whole server) over HTTP/2 (`authority` is the
/// request's `host:port`; `tls` makes its scheme https). Up only on SERVING; every other
/// status, a gRPC error status, and a peer that is not a gRPC server fail with `protocol`.
/// Takes no time limit: the caller's timeout bounds it, and `rec` keeps what was seen.
pub async fn check<IO>(
    io: IO,
    authority: &str,
    tls: bool,
    service: &str,
    rec: &mut GrpcRecord,
) -> Result<(), Failure>
where
    IO: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let origin = origin(authority, tls)?;
    let (io, first_bytes) = Sniff::new(io);
    rec.phase = "ttfb";
    let t = Instant::now();
    let answer = ask(io, origin, service).await;
    rec.phases.ttfb = Some(t.elapsed().as_secs_f64() * 1000.0);
    let status = answer.map_err(|e| e.failure(authority, &first_bytes))?;
    judge(status, service, rec)
}

/// `http://authority` or `https://authority`: where tonic's client sends its request.
fn origin(authority: &str, tls: bool) -> Result<Uri, Failure> {
    let scheme = if tls { "https" } else { "http" };
    format!("{scheme}://{authority}")
        .parse::<Uri>()
        .ok()
        .filter(|u| u.authority().map(|a| a.as_str()) == Some(authority))
        .ok_or_else(|| {
            Failure::new(
                ErrorKind::Internal,
                format!("invalid gRPC authority {authority:?} (expected host:port)"),
            )
        })
}

/// Why the health check got no serving status.
enum AskError {
    /// The HTTP/2 connection failed (handshake or I/O).
    Http(hyper::Error),
    /// The call ended with a gRPC status (the server's, or tonic's for what it could not read).
    Grpc(tonic::Status),
}

/// The HTTP/2 handshake and the health call: the raw serving status on success.
async fn ask<IO>(io: IO, origin: Uri, service: &str) -> Result<i32, AskError>
where
    IO: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let mut builder = hyper::client::conn::http2::Builder::new(TokioExecutor::new());
    builder.max_header_list_size(MAX_HEADER_LIST_BYTES);
    let (sender, conn) = builder
        .handshake::<_, tonic::body::Body>(TokioIo::new(io))
        .await
        .map_err(AskError::Http)?;
    let mut conn = Conn::new(conn);
    let mut client = HealthClient::with_origin(Sender(sender), origin)
        .max_decoding_message_size(MAX_RESPONSE_BYTES);
    let request = HealthCheckRequest {
        service: service.to_owned(),
    };
    let response = conn
        .drive(client.check(request))
        .await
        .map_err(AskError::Grpc)?;
    Ok(response.into_inner().status)
}

/// A serving status read: up on SERVING, else a failure naming the status.
fn judge(raw: i32, service: &str, rec: &mut GrpcRecord) -> Result<(), Failure> {
    let name = match ServingStatus::try_from(raw) {
        Ok(s) => s.as_str_name().to_owned(),
        Err(_) => raw.to_string(),
    };
    rec.details = Some(GrpcDetails {
        status: name.clone(),
    });
    if raw == ServingStatus::Serving as i32 {
        return Ok(());
    }
    let whom = if service.is_empty() {
        "for the whole server".to_owned()
    } else {
        format!("for service {service:?}")
    };
    Err(Failure::new(
        ErrorKind::Protocol,
        format!("health status {name} {whom}"),
    ))
}

impl AskError {
    /// The event's failure: what went wrong, in words, and at which server.
    fn failure(self, authority: &str, first_bytes: &FirstBytes) -> Failure {
        let message = match self {
            AskError::Http(e) => http2_failed(authority, &e, first_bytes),
            AskError::Grpc(status) => {
                let mut cause = status.source();
                let mut told = None;
                while let Some(e) = cause {
                    if let Some(not_grpc) = e.downcast_ref::<NotGrpc>() {
                        told = Some(format!("{authority} is not a gRPC server: {not_grpc}"));
                        break;
                    }
                    if let Some(h) = e.downcast_ref::<hyper::Error>() {
                        told = Some(http2_failed(authority, h, first_bytes));
                        break;
                    }
                    cause = e.source();
                }
                told.unwrap_or_else(|| grpc_status(authority, &status))
            }
        };
        Failure::new(ErrorKind::Protocol, message)
    }
}

/// A failed HTTP/2 exchange, saying so when the peer spoke HTTP/1 or TLS instead.
fn http2_failed(authority: &str, e: &hyper::Error, first_bytes: &FirstBytes) -> String {
    let first = first_bytes.get();
    if first.starts_with(b"HTTP/") {
        format!("{authority} answered in HTTP/1, not HTTP/2: it is not a gRPC server")
    } else if matches!(first.as_slice(), [0x15 | 0x16, 0x03, ..]) {
        format!("{authority} answered in TLS to plaintext HTTP/2 (a TLS server needs grpcs://)")
    } else {
        format!("HTTP/2 with {authority} failed: {}", describe(e))
    }
}

/// A gRPC error status: its code by its name in the gRPC spec, and the server's message.
fn grpc_status(authority: &str, status: &tonic::Status) -> String {
    let mut s = format!("gRPC status {} from {authority}", code_name(status.code()));
    let message = status.message().trim();
    if !message.is_empty() {
        s.push_str(": ");
        s.push_str(&cut(message));
    }
    s
}

/// At most [`MAX_QUOTED_CHARS`] characters of a server's text, marked when cut.
fn cut(text: &str) -> String {
    match text.char_indices().nth(MAX_QUOTED_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// A status code's name as the gRPC spec and every other client write it.
fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// A response without `grpc-status` nor a gRPC content type: some other HTTP/2 server (or a
/// proxy's own error page) answered.
#[derive(Debug)]
struct NotGrpc {
    status: u16,
    content_type: Option<String>,
}

impl NotGrpc {
    fn of(response: &Response<Incoming>) -> Option<NotGrpc> {
        let headers = response.headers();
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let grpc = content_type
            .as_deref()
            .is_some_and(|c| c.starts_with("application/grpc"));
        if grpc || headers.contains_key("grpc-status") {
            return None;
        }
        Some(NotGrpc {
            status: response.status().as_u16(),
            content_type: content_type.map(|c| cut(&c)),
        })
    }
}

impl std::fmt::Display for NotGrpc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "it answered HTTP status {}", self.status)?;
        match &self.content_type {
            Some(c) => write!(f, " with content type {c:?}"),
            None => write!(f, " without a content type"),
        }
    }
}

impl StdError for NotGrpc {}

/// tonic's client over the probe's one HTTP/2 connection: each request goes to hyper's
/// `SendRequest`, and an answer that is not gRPC at all is refused here, where its HTTP status
/// and content type are still known.
struct Sender(SendRequest<tonic::body::Body>);

type BoxError = Box<dyn StdError + Send + Sync>;

impl tower_service::Service<Request<tonic::body::Body>> for Sender {
    type Response = Response<Incoming>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Incoming>, BoxError>> + Send>>;

    /// Always ready: a connection that has failed fails the request itself, with hyper's error
    /// (tonic would turn a readiness error into bare text).
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<tonic::body::Body>) -> Self::Future {
        let sent = self.0.send_request(request);
        Box::pin(async move {
            let response = sent.await?;
            match NotGrpc::of(&response) {
                Some(not_grpc) => Err(not_grpc.into()),
                None => Ok(response),
            }
        })
    }
}

/// The first bytes a peer sent, shared with the stream that records them.
#[derive(Clone, Default)]
struct FirstBytes(Arc<Mutex<Vec<u8>>>);

impl FirstBytes {
    fn get(&self) -> Vec<u8> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// A stream that keeps the first [`SNIFF_BYTES`] bytes it reads, to tell afterwards whether an
/// HTTP/2 failure came from a peer speaking HTTP/1 or TLS.
struct Sniff<IO> {
    io: IO,
    /// `None` once the first bytes are in.
    first: Option<FirstBytes>,
}

impl<IO> Sniff<IO> {
    fn new(io: IO) -> (Sniff<IO>, FirstBytes) {
        let first = FirstBytes::default();
        let sniff = Sniff {
            io,
            first: Some(first.clone()),
        };
        (sniff, first)
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Sniff<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        let polled = Pin::new(&mut this.io).poll_read(cx, buf);
        if let (Poll::Ready(Ok(())), Some(first)) = (&polled, &this.first) {
            let mut kept = first.0.lock().unwrap_or_else(PoisonError::into_inner);
            let read = &buf.filled()[before..];
            let take = SNIFF_BYTES.saturating_sub(kept.len()).min(read.len());
            kept.extend_from_slice(&read[..take]);
            if kept.len() >= SNIFF_BYTES {
                drop(kept);
                this.first = None;
            }
        }
        polled
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Sniff<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::net::{Ipv4Addr, SocketAddr};
    use std::time::Duration;

    use bytes::Bytes;
    use http::HeaderMap;
    use http_body_util::StreamBody;
    use hyper::body::Frame;
    use hyper::service::service_fn;
    use hyper_util::service::TowerToHyperService;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tonic::service::Routes;
    use tonic_health::ServingStatus as Reported;
    use tonic_health::server::{HealthReporter, health_reporter};

    use super::*;

    /// No check in these tests may take longer (each would hang without a bound).
    const LIMIT: Duration = Duration::from_secs(10);

    async fn bind() -> (TcpListener, SocketAddr) {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        (listener, addr)
    }

    /// tonic's own server on 127.0.0.1 with `routes`, for as long as the test's runtime runs.
    async fn grpc_server(routes: Routes) -> SocketAddr {
        let (listener, addr) = bind().await;
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_routes(routes)
                .serve_with_incoming(incoming),
        );
        addr
    }

    /// A server with tonic-health's service, whose reporter the test switches.
    async fn health_server() -> (HealthReporter, SocketAddr) {
        let (reporter, service) = health_reporter();
        (reporter, grpc_server(Routes::new(service)).await)
    }

    async fn check_stream<IO>(
        io: IO,
        authority: &str,
        tls: bool,
        service: &str,
    ) -> (Result<(), Failure>, GrpcRecord)
    where
        IO: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let mut rec = GrpcRecord::default();
        let result = tokio::time::timeout(LIMIT, check(io, authority, tls, service, &mut rec))
            .await
            .expect("the check ends by itself");
        (result, rec)
    }

    /// One check of `service` at `addr` over plain TCP.
    async fn probe(addr: SocketAddr, service: &str) -> (Result<(), Failure>, GrpcRecord) {
        let tcp = TcpStream::connect(addr).await.unwrap();
        check_stream(tcp, &addr.to_string(), false, service).await
    }

    fn protocol_failure(result: Result<(), Failure>) -> String {
        let failure = result.expect_err("the check fails");
        assert_eq!(failure.kind, ErrorKind::Protocol, "{failure}");
        failure.message
    }

    fn status(rec: &GrpcRecord) -> Option<&str> {
        rec.details.as_ref().map(|d| d.status.as_str())
    }

    #[tokio::test]
    async fn whole_server_is_up_when_serving_and_down_when_not_serving() {
        let (reporter, addr) = health_server().await;

        let (result, rec) = probe(addr, "").await;
        assert_eq!(result, Ok(()));
        assert_eq!(status(&rec), Some("SERVING"));
        assert_eq!(rec.phase, "ttfb");
        assert!(
            rec.phases.ttfb.is_some_and(|ms| ms > 0.0),
            "{:?}",
            rec.phases
        );

        reporter.set_service_status("", Reported::NotServing).await;
        let (result, rec) = probe(addr, "").await;
        assert_eq!(
            protocol_failure(result),
            "health status NOT_SERVING for the whole server"
        );
        assert_eq!(status(&rec), Some("NOT_SERVING"));
        assert!(rec.phases.ttfb.is_some());

        reporter.set_service_status("", Reported::Serving).await;
        assert_eq!(probe(addr, "").await.0, Ok(()));
    }

    #[tokio::test]
    async fn a_named_service_is_judged_by_its_own_status() {
        let (reporter, addr) = health_server().await;
        reporter
            .set_service_status("shop.Cart", Reported::Serving)
            .await;
        assert_eq!(probe(addr, "shop.Cart").await.0, Ok(()));

        reporter
            .set_service_status("shop.Cart", Reported::NotServing)
            .await;
        let (result, rec) = probe(addr, "shop.Cart").await;
        assert_eq!(
            protocol_failure(result),
            r#"health status NOT_SERVING for service "shop.Cart""#
        );
        assert_eq!(status(&rec), Some("NOT_SERVING"));
        // The whole server is still serving: the service's status is what was asked.
        assert_eq!(probe(addr, "").await.0, Ok(()));
    }

    #[tokio::test]
    async fn an_unknown_service_is_reported_with_its_grpc_status() {
        let (_reporter, addr) = health_server().await;
        let (result, rec) = probe(addr, "no.Such").await;
        let message = protocol_failure(result);
        assert!(
            message.starts_with(&format!("gRPC status NOT_FOUND from {addr}")),
            "{message}"
        );
        assert_eq!(rec.details, None);
    }

    #[tokio::test]
    async fn a_grpc_server_without_the_health_service_answers_unimplemented() {
        let addr = grpc_server(Routes::default()).await;
        let message = protocol_failure(probe(addr, "").await.0);
        assert!(
            message.starts_with(&format!("gRPC status UNIMPLEMENTED from {addr}")),
            "{message}"
        );
    }

    #[tokio::test]
    async fn an_http1_server_is_named_as_such() {
        let (listener, addr) = bind().await;
        tokio::spawn(async move {
            let (mut tcp, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = tcp.read(&mut buf).await;
            let reply =
                "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
            let _ = tcp.write_all(reply.as_bytes()).await;
            let _ = tcp.shutdown().await;
            // Read on until the client hangs up: closing with unread data would reset the
            // connection, and the client might lose the reply.
            let drain = async { while matches!(tcp.read(&mut buf).await, Ok(n) if n > 0) {} };
            let _ = tokio::time::timeout(LIMIT, drain).await;
        });
        let message = protocol_failure(probe(addr, "").await.0);
        assert_eq!(
            message,
            format!("{addr} answered in HTTP/1, not HTTP/2: it is not a gRPC server")
        );
    }

    #[tokio::test]
    async fn a_silent_server_leaves_the_phase_to_the_callers_timeout() {
        let (listener, addr) = bind().await;
        let held = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            tokio::time::sleep(LIMIT).await;
            drop(tcp);
        });
        let tcp = TcpStream::connect(addr).await.unwrap();
        let mut rec = GrpcRecord::default();
        let timed = tokio::time::timeout(
            Duration::from_millis(300),
            check(tcp, &addr.to_string(), false, "", &mut rec),
        )
        .await;
        assert!(timed.is_err(), "the check waits for an answer: {timed:?}");
        assert_eq!(rec.phase, "ttfb");
        assert_eq!(rec.details, None);
        held.abort();
    }

    type ReplyBody = StreamBody<
        futures_util::stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, Infallible>>>,
    >;

    /// What a hand-made HTTP/2 server answers to any request.
    #[derive(Clone)]
    struct Reply {
        status: u16,
        headers: Vec<(&'static str, String)>,
        data: Vec<u8>,
        trailers: Vec<(&'static str, String)>,
    }

    impl Reply {
        /// A gRPC answer: one message holding `message`, then `grpc-status: 0`.
        fn grpc(message: &[u8]) -> Reply {
            let mut data = vec![0];
            data.extend_from_slice(&(message.len() as u32).to_be_bytes());
            data.extend_from_slice(message);
            Reply {
                status: 200,
                headers: vec![("content-type", "application/grpc".into())],
                data,
                trailers: vec![("grpc-status", "0".into())],
            }
        }

        fn into_response(self) -> http::Response<ReplyBody> {
            let mut frames = vec![Ok(Frame::data(Bytes::from(self.data)))];
            if !self.trailers.is_empty() {
                let mut trailers = HeaderMap::new();
                for (k, v) in self.trailers {
                    trailers.insert(k, v.parse().unwrap());
                }
                frames.push(Ok(Frame::trailers(trailers)));
            }
            let mut b = http::Response::builder().status(self.status);
            for (k, v) in self.headers {
                b = b.header(k, v);
            }
            b.body(StreamBody::new(futures_util::stream::iter(frames)))
                .unwrap()
        }
    }

    /// A hyper HTTP/2 server on 127.0.0.1 answering `reply` to every request.
    async fn h2_server(reply: Reply) -> SocketAddr {
        let (listener, addr) = bind().await;
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let reply = reply.clone();
                let service = service_fn(move |_req| {
                    let reply = reply.clone();
                    async move { Ok::<_, Infallible>(reply.into_response()) }
                });
                tokio::spawn(
                    hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tcp), service),
                );
            }
        });
        addr
    }

    #[tokio::test]
    async fn an_http2_server_that_is_not_grpc_is_named_as_such() {
        let addr = h2_server(Reply {
            status: 404,
            headers: vec![("content-type", "text/html".into())],
            data: b"<h1>Not Found</h1>".to_vec(),
            trailers: vec![],
        })
        .await;
        let (result, rec) = probe(addr, "").await;
        assert_eq!(
            protocol_failure(result),
            format!(
                r#"{addr} is not a gRPC server: it answered HTTP status 404 with content type "text/html""#
            )
        );
        assert_eq!(rec.details, None);
    }

    #[tokio::test]
    async fn hostile_answers_fail_as_protocol_errors() {
        // A message announced as a gigabyte: refused from its length alone.
        let mut huge = Reply::grpc(b"");
        huge.data = vec![0, 0x40, 0, 0, 0];
        huge.data.extend(std::iter::repeat_n(0x08, 64 * 1024));
        let message = protocol_failure(probe(h2_server(huge).await, "").await.0);
        assert!(
            message.contains("RESOURCE_EXHAUSTED") || message.contains("OUT_OF_RANGE"),
            "{message}"
        );

        // Not protobuf.
        let garbage = Reply::grpc(&[0xff, 0xff, 0xff, 0xff]);
        let message = protocol_failure(probe(h2_server(garbage).await, "").await.0);
        assert!(message.starts_with("gRPC status INTERNAL"), "{message}");

        // A status this checker does not know: down, and said as its number.
        let (result, rec) = probe(h2_server(Reply::grpc(&[0x08, 99])).await, "").await;
        assert_eq!(
            protocol_failure(result),
            "health status 99 for the whole server"
        );
        assert_eq!(status(&rec), Some("99"));

        // An error message beyond the header limit: refused, not held.
        let mut long = Reply::grpc(b"");
        long.data.clear();
        long.trailers = vec![
            ("grpc-status", "13".into()),
            ("grpc-message", "x".repeat(64 * 1024)),
        ];
        let message = protocol_failure(probe(h2_server(long).await, "").await.0);
        assert!(message.len() < 1024, "{message}");

        // A long but acceptable message: cut in the event.
        let mut wordy = Reply::grpc(b"");
        wordy.data.clear();
        wordy.trailers = vec![
            ("grpc-status", "13".into()),
            ("grpc-message", "y".repeat(4000)),
        ];
        let message = protocol_failure(probe(h2_server(wordy).await, "").await.0);
        assert!(message.starts_with("gRPC status INTERNAL"), "{message}");
        assert!(message.ends_with('…') && message.len() < 400, "{message}");
    }

    /// A CA, and a certificate it signed for `localhost` with its key.
    fn ca_and_leaf() -> (
        CertificateDer<'static>,
        CertificateDer<'static>,
        PrivateKeyDer<'static>,
    ) {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca, ca_key);
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .signed_by(&leaf_key, &issuer)
            .unwrap();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
        (ca_cert.der().clone(), leaf.der().clone(), key)
    }

    fn provider() -> Arc<rustls::crypto::CryptoProvider> {
        Arc::new(rustls::crypto::ring::default_provider())
    }

    /// A health server behind TLS (ALPN h2 only) on 127.0.0.1; the CA that trusts it.
    async fn tls_health_server() -> (SocketAddr, CertificateDer<'static>) {
        let (ca, leaf, key) = ca_and_leaf();
        let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![leaf], key)
            .unwrap();
        cfg.alpn_protocols = vec![b"h2".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
        // Serving from the start: the reporter is not needed to switch anything.
        let (_, health) = health_reporter();
        let routes = Routes::new(health);
        let (listener, addr) = bind().await;
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let (acceptor, routes) = (acceptor.clone(), routes.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tls), TowerToHyperService::new(routes))
                        .await;
                });
            }
        });
        (addr, ca)
    }

    #[tokio::test]
    async fn a_tls_stream_with_alpn_h2_carries_the_check() {
        let (addr, ca) = tls_health_server().await;
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca).unwrap();
        let mut cfg = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        cfg.alpn_protocols = vec![b"h2".to_vec()];
        let tcp = TcpStream::connect(addr).await.unwrap();
        let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .unwrap();
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));

        let authority = format!("localhost:{}", addr.port());
        let (result, rec) = check_stream(tls, &authority, true, "").await;
        assert_eq!(result, Ok(()));
        assert_eq!(status(&rec), Some("SERVING"));
    }

    #[tokio::test]
    async fn plaintext_to_a_tls_server_says_so() {
        let (addr, _) = tls_health_server().await;
        let message = protocol_failure(probe(addr, "").await.0);
        assert!(message.contains("answered in TLS"), "{message}");
    }

    #[test]
    fn the_check_can_run_on_any_task() {
        fn send<T: Send>(_: &T) {}
        let (io, _) = tokio::io::duplex(64);
        let mut rec = GrpcRecord::default();
        send(&check(io, "127.0.0.1:1", false, "", &mut rec));
    }

    #[test]
    fn an_authority_that_is_not_host_and_port_is_refused() {
        assert!(origin("127.0.0.1:50051", false).is_ok());
        assert_eq!(
            origin("[::1]:50051", true).unwrap().to_string(),
            "https://[::1]:50051/"
        );
        for bad in ["", "host/path", "a b:1"] {
            let failure = origin(bad, false).expect_err(bad);
            assert_eq!(failure.kind, ErrorKind::Internal);
        }
    }
}
