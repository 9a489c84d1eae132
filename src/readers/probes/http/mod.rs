//! `readers.probes.http`: one HTTP(S) probe of one target, with its phases timed.
//!
//! Each probe opens a fresh connection (as an uptime check must: a pooled connection would
//! hide DNS, connect and TLS failures), resolves names asynchronously with hickory, negotiates
//! HTTP/2 or HTTP/1.1 by ALPN, follows redirects up to a limit, and reads at most
//! `max_body_bytes` of the body: decoded from its `Content-Encoding` as the original tool read
//! it when a regex needs it, else only counted (`body`). One overall timeout bounds the whole
//! probe.

mod body;
mod record;

pub use record::Record;

use std::time::Instant;

use base64::Engine as _;
use bytes::Bytes;
use hickory_resolver::TokioResolver;
use http::{HeaderValue, Method, Request, Response, header};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use time::OffsetDateTime;
use tokio::io::{AsyncRead, AsyncWrite};
use url::Url;

use super::Failure;
use super::conditions::{self, Seen};
use super::conn::Conn;
use super::net::{self, AddrPolicy, Alpn, add, describe};
use super::resolver::{self, ResolverError};
use super::tls::{TlsConfigs, TlsSetupError};
use crate::config::{ProbeSettings, Target, target::masked_url};
use crate::event::{ErrorKind, ProbeEvent};

/// Probes HTTP(S) targets. Cheap to share: one per process.
pub struct HttpProber {
    resolver: TokioResolver,
    tls: TlsConfigs,
    max_redirects: u32,
    max_body_bytes: u64,
    location: Option<String>,
    user_agent: HeaderValue,
}

/// Whether the probe of `target` needs the final response's body, decoded and kept (else it is
/// only counted as received, see `body`).
fn keeps_body(target: &Target) -> bool {
    target.regex.is_some() || conditions::needs_body(target)
}

impl HttpProber {
    pub fn new(settings: &ProbeSettings) -> Result<HttpProber, ResolverError> {
        Ok(HttpProber {
            resolver: resolver::build(&settings.dns_servers)?,
            tls: TlsConfigs::default(),
            max_redirects: settings.max_redirects,
            max_body_bytes: settings.max_body_bytes,
            location: settings.location.clone(),
            user_agent: HeaderValue::from_static(concat!("uptimer/", env!("CARGO_PKG_VERSION"))),
        })
    }

    /// Checks that every target's TLS settings can be loaded (a bad CA file is a startup error).
    pub fn check_tls(&self, target: &Target) -> Result<(), TlsSetupError> {
        self.tls.check(&target.tls_verify)
    }

    /// Probes the target once. Never fails: every failure is described in the event.
    pub async fn probe(&self, target: &Target) -> ProbeEvent {
        self.probe_record(target).await.0
    }

    /// As [`probe`](Self::probe), and what the probe observed of the final response besides.
    pub async fn probe_record(&self, target: &Target) -> (ProbeEvent, Record) {
        // To the microsecond, as the event is written and stored (the stores read it back whole).
        let now = OffsetDateTime::now_utc();
        let started_at = now
            .replace_nanosecond(now.nanosecond() / 1000 * 1000)
            .unwrap_or(now);
        let start = Instant::now();
        let mut rec = Record::default();
        let outcome = match tokio::time::timeout(target.timeout, self.run(target, &mut rec)).await {
            Ok(r) => r,
            Err(_) => Err(Failure::new(
                ErrorKind::Timeout,
                format!(
                    "timed out after {}s during {}",
                    target.timeout.as_secs_f64(),
                    if rec.phase.is_empty() {
                        "start"
                    } else {
                        rec.phase
                    }
                ),
            )),
        };
        let elapsed = start.elapsed();

        let mut ev = ProbeEvent::new(
            started_at,
            target.url.scheme(),
            &target.hostname(),
            target.port,
        );
        ev.path = target.path().to_owned();
        ev.status_code = Some(rec.status);
        ev.response_time_ms = (elapsed.as_secs_f64() * 1000.0).round() as u64;
        ev.url = Some(masked_url(&target.url));
        ev.target = Some(target.id.clone());
        ev.name = Some(target.name.clone());
        ev.location = self.location.clone();
        ev.regex = target.regex.as_ref().map(|r| r.as_str().to_owned());
        // Matched on every body received whole, whatever its status; false when none was (a
        // part of a body may match where the whole would not, and the other way round).
        ev.matches_regex = target
            .regex
            .as_ref()
            .map(|r| rec.body_complete && r.is_match(&String::from_utf8_lossy(&rec.body)));
        let judged = conditions::judge(
            target,
            &Seen {
                status: (rec.status != 0).then_some(rec.status),
                ip: rec.ip,
                response_time_ms: ev.response_time_ms,
                connected: rec.connected,
                not_after: rec.not_after,
                now: OffsetDateTime::now_utc(),
                phases: rec.phases,
                headers: &rec.headers,
                // A body cut short is none: body conditions fail on it.
                body: if rec.body_complete { &rec.body } else { &[] },
                dns: None,
                packet_loss: None,
            },
        );
        // A transport failure keeps its own kind; conditions, when the target has them, replace
        // the default verdict (a 500 is up unless a condition says otherwise, as in Gatus).
        let failure = outcome.err().or_else(|| match &judged.results {
            Some(_) => judged
                .first_failure()
                .map(|resolved| Failure::new(ErrorKind::Condition, resolved)),
            None => verdict(target, &rec, ev.matches_regex),
        });
        ev.up = Some(failure.is_none());
        ev.degraded = judged.degraded_if.map(|d| d && failure.is_none());
        ev.conditions = judged.results;
        if let Some(f) = failure {
            ev.error_kind = Some(f.kind);
            ev.error = Some(f.message);
        }
        ev.phases_ms = Some(rec.phases.rounded()).filter(|p| !p.is_empty());
        ev.ip = rec.ip.map(|ip| ip.to_string());
        ev.http_version = rec.version.map(str::to_owned);
        ev.body_bytes = rec.body_bytes;
        ev.redirects = Some(rec.redirects);
        ev.tls_cert_not_after = rec.not_after;
        ev.tls = rec.tls.clone();
        (ev, rec)
    }

    async fn run(&self, target: &Target, rec: &mut Record) -> Result<(), Failure> {
        let mut url = target.url.clone();
        let mut method = target.method.clone();
        loop {
            let response = self.exchange(&url, &method, target, rec).await?;
            let status = response.0.status();
            let location = response.0.headers().get(header::LOCATION).cloned();
            let redirect = matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308);
            if !(redirect && self.max_redirects > 0) {
                return self.read_body(response, target, rec).await;
            }
            let Some(location) = location else {
                return self.read_body(response, target, rec).await;
            };
            if rec.redirects >= self.max_redirects {
                return Err(Failure::new(
                    ErrorKind::Protocol,
                    format!("too many redirects (more than {})", self.max_redirects),
                ));
            }
            let next = location
                .to_str()
                .ok()
                .and_then(|l| url.join(l).ok())
                .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
                .ok_or_else(|| {
                    Failure::new(
                        ErrorKind::Protocol,
                        format!("redirect to an invalid location {location:?}"),
                    )
                })?;
            if next.host() != url.host() {
                // Credentials are for the host they were given for, as curl does.
                let mut n = next;
                let _ = n.set_username("");
                let _ = n.set_password(None);
                url = n;
            } else {
                url = next;
            }
            if status == 303 || (matches!(status.as_u16(), 301 | 302) && method == Method::POST) {
                method = Method::GET;
            }
            rec.next_hop();
        }
    }

    /// One request on a fresh connection, up to the response headers.
    async fn exchange(
        &self,
        url: &Url,
        method: &Method,
        target: &Target,
        rec: &mut Record,
    ) -> Result<(Response<Incoming>, Conn), Failure> {
        let port = url.port_or_known_default().unwrap_or(80);
        let host = url
            .host()
            .ok_or_else(|| Failure::new(ErrorKind::Internal, "URL without a host"))?;
        let addrs = net::resolve(&self.resolver, &host, AddrPolicy::default(), rec).await?;
        let (tcp, _) = net::connect(&addrs, port, rec).await?;

        let request = self.request(url, method, target)?;
        if url.scheme() == "https" {
            let server_name = net::server_name_of(&host);
            let (tls, details) = net::handshake(
                &self.tls,
                &target.tls_verify,
                Alpn::Http,
                &server_name,
                tcp,
                rec,
            )
            .await?;
            rec.tls = Some(details);
            let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
            self.send(tls, h2, true, request, url, rec).await
        } else {
            self.send(tcp, false, false, request, url, rec).await
        }
    }

    fn request(
        &self,
        url: &Url,
        method: &Method,
        target: &Target,
    ) -> Result<Request<Empty<Bytes>>, Failure> {
        let internal = |e: http::Error| Failure::new(ErrorKind::Internal, e.to_string());
        let mut b = Request::builder()
            .method(method.clone())
            .header(header::USER_AGENT, self.user_agent.clone())
            .header(header::ACCEPT, HeaderValue::from_static("*/*"))
            // A target's own Accept-Encoding replaces it below; whatever comes back is decoded
            // if it can be.
            .header(
                header::ACCEPT_ENCODING,
                HeaderValue::from_static(body::ACCEPT_ENCODING),
            );
        if !url.username().is_empty() || url.password().is_some() {
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            };
            let pair = format!(
                "{}:{}",
                decode(url.username()),
                decode(url.password().unwrap_or(""))
            );
            let value = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            );
            b = b.header(header::AUTHORIZATION, value);
        }
        let headers = b
            .headers_mut()
            .ok_or_else(|| Failure::new(ErrorKind::Internal, "bad request"))?;
        for (k, v) in &target.headers {
            headers.insert(k.clone(), v.clone());
        }
        b.body(Empty::new()).map_err(internal)
    }

    /// Sends `request` over `io` and reads the response's head. `close_notify`: end an HTTP/1
    /// connection with a shutdown (TLS: the close_notify alert) rather than a plain close.
    async fn send<S>(
        &self,
        io: S,
        h2: bool,
        close_notify: bool,
        mut request: Request<Empty<Bytes>>,
        url: &Url,
        rec: &mut Record,
    ) -> Result<(Response<Incoming>, Conn), Failure>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let protocol = |e: hyper::Error| Failure::new(ErrorKind::Protocol, describe(&e));
        let mut path = url.path().to_owned();
        if let Some(q) = url.query() {
            path.push('?');
            path.push_str(q);
        }
        rec.phase = "ttfb";
        let t = Instant::now();
        let (response, conn) = if h2 {
            // HTTP/2 takes the scheme and authority from an absolute URI.
            let authority = match url.port() {
                Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
                None => url.host_str().unwrap_or_default().to_owned(),
            };
            *request.uri_mut() = format!("{}://{authority}{path}", url.scheme())
                .parse()
                .map_err(|e: http::uri::InvalidUri| {
                    Failure::new(ErrorKind::Internal, e.to_string())
                })?;
            let (mut sender, conn) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io))
                    .await
                    .map_err(protocol)?;
            let mut conn = Conn::new(conn);
            let response = conn.drive(sender.send_request(request)).await;
            (response.map_err(protocol)?, conn)
        } else {
            let host = match url.port() {
                Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
                None => url.host_str().unwrap_or_default().to_owned(),
            };
            *request.uri_mut() = path.parse().map_err(|e: http::uri::InvalidUri| {
                Failure::new(ErrorKind::Internal, e.to_string())
            })?;
            let headers = request.headers_mut();
            headers.insert(
                header::HOST,
                HeaderValue::from_str(&host)
                    .map_err(|e| Failure::new(ErrorKind::Internal, e.to_string()))?,
            );
            // The server closes first, so the TIME_WAIT state stays on its side, not on the
            // prober's ephemeral ports (thousands of probes a second would fill them).
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
                .await
                .map_err(protocol)?;
            // Over plain TCP the connection ends with a close alone: once the response is read
            // (the server closes first, `Connection: close`), a `shutdown()` before the close
            // only sends the same FIN one syscall earlier (docs/benchmarks.md, "HTTP probe CPU:
            // where it goes"). Over TLS the shutdown also sends the close_notify alert: kept.
            let mut conn = if close_notify {
                Conn::new(conn)
            } else {
                Conn::new(conn.without_shutdown())
            };
            let response = conn.drive(sender.send_request(request)).await;
            (response.map_err(protocol)?, conn)
        };
        add(&mut rec.phases.ttfb, t);
        rec.status = response.status().as_u16();
        rec.version = Some(match response.version() {
            http::Version::HTTP_2 => "HTTP/2",
            http::Version::HTTP_10 => "HTTP/1.0",
            _ => "HTTP/1.1",
        });
        Ok((response, conn))
    }

    /// Reads the final response's body: decoded and kept up to `max_body_bytes` when something
    /// needs it, else only counted (`body`). Fails with `body_too_large` beyond the cap rather
    /// than reading forever, with `protocol` when the connection fails or the body cannot be
    /// decoded; `body_complete` says whether it did not fail.
    async fn read_body(
        &self,
        (response, mut conn): (Response<Incoming>, Conn),
        target: &Target,
        rec: &mut Record,
    ) -> Result<(), Failure> {
        rec.phase = "transfer";
        let t = Instant::now();
        let (parts, mut incoming) = response.into_parts();
        rec.headers = parts.headers;
        let mut reader = body::Reader::new(&rec.headers, self.max_body_bytes, keeps_body(target))
            .map_err(body_failure)?;
        let result = loop {
            match conn.drive(incoming.frame()).await {
                None => break reader.finish().map_err(body_failure),
                Some(Err(e)) => {
                    break Err(Failure::new(
                        ErrorKind::Protocol,
                        format!("while reading the body: {}", describe(&e)),
                    ));
                }
                Some(Ok(frame)) => {
                    if let Some(data) = frame.data_ref()
                        && let Err(e) = reader.push(data)
                    {
                        break Err(body_failure(e));
                    }
                }
            }
        };
        add(&mut rec.phases.transfer, t);
        rec.body_bytes = Some(reader.body_bytes());
        rec.body = reader.into_body();
        rec.body_complete = result.is_ok();
        result
    }
}

fn body_failure(e: body::BodyError) -> Failure {
    let kind = match e {
        body::BodyError::TooLarge { .. } => ErrorKind::BodyTooLarge,
        body::BodyError::Undecodable { .. } => ErrorKind::Protocol,
    };
    Failure::new(kind, e.to_string())
}

/// A response was read in full: is it the one expected?
fn verdict(target: &Target, rec: &Record, matches: Option<bool>) -> Option<Failure> {
    if !target
        .expected_status
        .iter()
        .any(|r| r.contains(rec.status))
    {
        let expected: Vec<String> = target
            .expected_status
            .iter()
            .map(ToString::to_string)
            .collect();
        return Some(Failure::new(
            ErrorKind::HttpStatus,
            format!(
                "unexpected status {} (expected {})",
                rec.status,
                expected.join(", ")
            ),
        ));
    }
    if matches == Some(false) {
        let r = target
            .regex
            .as_ref()
            .map(|r| r.as_str())
            .unwrap_or_default();
        return Some(Failure::new(
            ErrorKind::RegexMismatch,
            format!("body does not match {r:?}"),
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, Poll};
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadBuf};
    use tokio::net::{TcpListener, TcpStream};

    use super::*;
    use crate::config::{Interval, TargetDefaults, TargetSpec, TlsVerify};

    /// A TCP stream that counts the shutdowns asked of it.
    struct CountingShutdowns {
        inner: TcpStream,
        shutdowns: Arc<AtomicUsize>,
    }

    impl AsyncRead for CountingShutdowns {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            Pin::new(&mut self.inner).poll_read(cx, buf)
        }
    }

    impl AsyncWrite for CountingShutdowns {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            Pin::new(&mut self.inner).poll_write(cx, buf)
        }

        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Pin::new(&mut self.inner).poll_flush(cx)
        }

        fn poll_shutdown(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<std::io::Result<()>> {
            self.shutdowns.fetch_add(1, Ordering::SeqCst);
            Pin::new(&mut self.inner).poll_shutdown(cx)
        }
    }

    /// A plain HTTP probe's connection ends with a close alone (one syscall fewer per probe than
    /// `shutdown` then close), and the server still sees an orderly end (a FIN: its read returns
    /// 0), not a reset, even when it has not closed first.
    #[tokio::test]
    async fn a_plain_http_probe_closes_without_a_shutdown_and_the_server_sees_an_orderly_end() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let mut got = Vec::new();
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = s.read(&mut buf).await.unwrap();
                assert!(n > 0, "the request ended early: {got:?}");
                got.extend_from_slice(&buf[..n]);
            }
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
                .await
                .unwrap();
            tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await
        });
        let target = TargetSpec {
            url: format!("http://{addr}/x"),
            ..Default::default()
        }
        .build(&TargetDefaults {
            interval: Interval::Once,
            timeout: Duration::from_secs(5),
            tls_verify: TlsVerify::Yes,
        })
        .unwrap();
        let prober = HttpProber::new(&ProbeSettings::default()).unwrap();
        let shutdowns = Arc::new(AtomicUsize::new(0));
        let io = CountingShutdowns {
            inner: TcpStream::connect(addr).await.unwrap(),
            shutdowns: shutdowns.clone(),
        };
        let mut rec = Record::default();
        let request = prober
            .request(&target.url, &target.method, &target)
            .unwrap();
        let response = prober
            .send(io, false, false, request, &target.url, &mut rec)
            .await
            .unwrap();
        prober.read_body(response, &target, &mut rec).await.unwrap();
        assert_eq!((rec.status, rec.body_bytes), (200, Some(2)));
        let end = server.await.unwrap();
        assert!(matches!(end, Ok(Ok(0))), "the server saw {end:?}");
        assert_eq!(shutdowns.load(Ordering::SeqCst), 0);
    }
}
