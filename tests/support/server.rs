//! The loopback servers: [`TestServer`] records every request; plain HTTP (HTTP/1.1, and h2c
//! with prior knowledge) here, TLS in `tls.rs`, what each path answers in `routes.rs`, and raw
//! TCP endpoints that misbehave.

use std::future::Future;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use super::routes::handle_request;

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

pub(super) struct ServerState {
    pub(super) requests: Mutex<Vec<RecordedRequest>>,
    connections: AtomicUsize,
    /// The status `/switch` answers with (see [`TestServer::set_switch`]).
    pub(super) switch: AtomicU16,
    /// Whether `/gate` answers yet (see [`TestServer::open_gate`]).
    pub(super) gate: watch::Sender<bool>,
    pub(super) tls: bool,
    pub(super) addr: SocketAddr,
}

/// A server running on loopback. Dropping it shuts it down.
pub struct TestServer {
    pub addr: SocketAddr,
    pub(super) tls: bool,
    pub(super) state: Arc<ServerState>,
    pub(super) task: JoinHandle<()>,
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

    /// Lets every request held at `/gate` through, and every later one at once. Until then
    /// `/gate` answers nothing: a target that is slow for exactly as long as a test wants, so
    /// the test can say "while that probe is in flight" without guessing durations.
    pub fn open_gate(&self) {
        self.state.gate.send_replace(true);
    }

    /// Number of requests that reached `/gate` so far (held or let through).
    pub fn at_gate(&self) -> usize {
        self.requests_to("/gate").len()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub(super) fn new_state(addr: SocketAddr, tls: bool) -> Arc<ServerState> {
    Arc::new(ServerState {
        requests: Mutex::new(Vec::new()),
        connections: AtomicUsize::new(0),
        switch: AtomicU16::new(200),
        gate: watch::Sender::new(false),
        tls,
        addr,
    })
}

/// Runs `accept_loop`-style servers: accepts connections and runs `handle` for each one in a
/// JoinSet owned by the task, so aborting the task tears down every connection too.
pub(super) fn spawn_acceptor<F, Fut>(
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

pub(super) async fn serve_http<I>(io: I, state: Arc<ServerState>, http1_only: bool)
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

/// Plain HTTP server on `[::1]:0`. Fails the test, saying why, where the IPv6 loopback is
/// missing: a test that needs it must not pass without it.
pub async fn http_server_v6() -> TestServer {
    let bind = SocketAddr::from((Ipv6Addr::LOCALHOST, 0));
    plain_server(bind, serve_plain_http)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "this test needs the IPv6 loopback ::1, which this machine lacks ({e}); \
             enable IPv6 on lo (sysctl net.ipv6.conf.lo.disable_ipv6=0)"
            )
        })
}

/// Plain HTTP server on `bind`. Panics if binding fails.
pub async fn http_server_on(bind: SocketAddr) -> TestServer {
    plain_server(bind, serve_plain_http)
        .await
        .unwrap_or_else(|e| panic!("cannot bind test HTTP server on {bind}: {e}"))
}

async fn serve_plain_http(stream: TcpStream, state: Arc<ServerState>) {
    let _ = stream.set_nodelay(true);
    serve_http(stream, state, false).await;
}

/// A server without TLS on `bind` that runs `handle` for every connection.
async fn plain_server<F, Fut>(bind: SocketAddr, handle: F) -> std::io::Result<TestServer>
where
    F: Fn(TcpStream, Arc<ServerState>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind(bind).await?;
    let addr = listener.local_addr()?;
    let state = new_state(addr, false);
    let task = spawn_acceptor(listener, state.clone(), handle);
    Ok(TestServer {
        addr,
        tls: false,
        state,
        task,
        cert_not_after: None,
    })
}

/// A raw TCP server on `127.0.0.1:0` (`what` names it if binding fails).
async fn raw_server<F, Fut>(what: &str, handle: F) -> TestServer
where
    F: Fn(TcpStream, Arc<ServerState>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    plain_server(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), handle)
        .await
        .unwrap_or_else(|e| panic!("bind {what}: {e}"))
}

// ---------------------------------------------------------------------------------------------
// Raw TCP misbehaviour
// ---------------------------------------------------------------------------------------------

/// Raw TCP server: accepts, reads a little (up to 1 s), then closes with `SO_LINGER 0` so the
/// peer gets a TCP RST.
pub async fn reset_server() -> TestServer {
    raw_server("reset server", |mut stream, _state| async move {
        let mut buf = [0u8; 1024];
        let _ = tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buf)).await;
        let _ = stream.set_zero_linger();
        drop(stream);
    })
    .await
}

/// Raw TCP server: accepts and then never reads or writes; connections stay open until the
/// server is dropped.
pub async fn silent_server() -> TestServer {
    raw_server("silent server", |stream, _state| async move {
        std::future::pending::<()>().await;
        drop(stream);
    })
    .await
}

/// How a [`scripted_server`] ends a connection once it has written its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// A clean close (FIN): the client reads everything written, then the end.
    Close,
    /// A TCP RST, 300 ms after the answer: time for the client to read what was written
    /// first, as when a server dies mid-body.
    Reset,
}

/// Raw TCP server: reads the request head (up to 1 s), writes `answer` as it is (an HTTP
/// response that may break HTTP, such as a body shorter than its `Content-Length` or chunked
/// encoding without its last chunk), then ends the connection as `ending` says.
pub async fn scripted_server(answer: impl Into<Bytes>, ending: Ending) -> TestServer {
    let answer: Bytes = answer.into();
    raw_server("scripted server", move |mut stream, _state| {
        let answer = answer.clone();
        async move {
            let _ = tokio::time::timeout(Duration::from_secs(1), read_head(&mut stream)).await;
            let _ = stream.write_all(&answer).await;
            let _ = stream.flush().await;
            match ending {
                Ending::Close => {
                    let _ = stream.shutdown().await;
                }
                Ending::Reset => {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    let _ = stream.set_zero_linger();
                }
            }
            drop(stream);
        }
    })
    .await
}

/// Reads up to the end of a request head (a request without a body has nothing after it).
async fn read_head(stream: &mut TcpStream) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
}
