//! `tcp://`, `tls://` and `starttls://` checks: connect (TLS from the first byte for `tls`),
//! then play blackbox_exporter's `query_response` dialog: wait for lines matching regexes or
//! for exact bytes, send lines, upgrade to TLS mid-dialog (STARTTLS).
//!
//! As blackbox does, an `expect` reads the server's lines one by one until one matches, and a
//! `send` appends `\n` and expands `${1}` / `${name}` from the last `expect`'s match. What is
//! read is bounded (a line of 64 KiB, 1 MiB in all): a hostile server cannot make the prober
//! buffer without end. The caller's timeout bounds the time; the record says where it was.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use hickory_resolver::TokioResolver;
use regex::Regex;
use time::OffsetDateTime;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::Failure;
use super::net::{self, AddrPolicy, Alpn, Progress, add};
use super::tls::TlsConfigs;
use crate::config::TlsVerify;
use crate::event::{ErrorKind, Phases, TcpDetails, TlsDetails};

/// The longest line an `expect` reads (bufio.Scanner's limit in blackbox_exporter).
pub const MAX_LINE_BYTES: usize = 64 * 1024;
/// The most a dialog reads from the server in all.
pub const MAX_DIALOG_BYTES: usize = 1024 * 1024;
/// How much of a received line a failure quotes, in characters.
const SHOWN_CHARS: usize = 200;

pub use crate::config::checks::{Label, Step, TcpCheck, smtp_starttls_steps};

/// What a TCP probe observed, kept as far as it got when it fails or times out.
#[derive(Debug, Default)]
pub struct TcpRecord {
    /// The phase in progress (`dns`, `connect`, `tls`, `ttfb`, `transfer`), named when the
    /// probe times out. `ttfb` lasts until the first `expect` matches.
    pub phase: &'static str,
    pub phases: Phases,
    pub ip: Option<IpAddr>,
    /// Whether a TCP connection was made (`[CONNECTED]`).
    pub connected: bool,
    /// The lines the `expect` steps matched.
    pub tcp: TcpDetails,
    /// The TLS session (from the first byte or after STARTTLS).
    pub tls: Option<TlsDetails>,
    /// The leaf certificate's expiry, also when it was rejected.
    pub not_after: Option<OffsetDateTime>,
    /// The labels of matched `expect` steps, expanded (blackbox's `probe_expect_info`).
    pub labels: Vec<(String, String)>,
    /// The regex an `expect` is waiting for, while it waits.
    pub waiting_for: Option<String>,
    /// The last line received, quoted and cut to 200 characters.
    pub last_line: Option<String>,
}

impl TcpRecord {
    /// What the dialog was waiting for, to add to a timeout's message: `waiting for a line
    /// matching "^220" (last line received: "…")`.
    pub fn waiting(&self) -> Option<String> {
        let regex = self.waiting_for.as_ref()?;
        Some(match &self.last_line {
            Some(line) => {
                format!("waiting for a line matching {regex:?} (last line received: {line})")
            }
            None => format!("waiting for a line matching {regex:?} (nothing received)"),
        })
    }
}

impl Progress for TcpRecord {
    fn enter(&mut self, phase: &'static str) {
        self.phase = phase;
    }

    fn phases(&mut self) -> &mut Phases {
        &mut self.phases
    }

    fn reached(&mut self, ip: IpAddr, connected: bool) {
        self.ip = Some(ip);
        self.connected = connected;
    }

    fn certificate_expiry(&mut self, not_after: Option<OffsetDateTime>) {
        self.not_after = not_after;
    }
}

/// Probes `host:port` once: resolve, connect, TLS when `check.tls`, then the dialog. The caller
/// bounds it with the target's timeout.
pub async fn probe(
    resolver: &TokioResolver,
    tls: &TlsConfigs,
    host: &url::Host<&str>,
    port: u16,
    policy: AddrPolicy,
    check: &TcpCheck,
    rec: &mut TcpRecord,
) -> Result<(), Failure> {
    let addrs = net::resolve(resolver, host, policy, rec).await?;
    let (tcp, ip) = net::connect(&addrs, port, rec).await?;
    if !check.tls && check.query_response.is_empty() {
        // A plain connect check has nothing more to say: it ends with a reset, as Kubernetes'
        // and HAProxy's TCP checks do, instead of a FIN exchange that leaves the connection in
        // TIME_WAIT on this side for a minute. At thousands of checks a second to one address,
        // those fill the local port range, and each connect then searches it (docs/checks.md).
        let _ = tcp.set_zero_linger();
        return Ok(());
    }
    let server_name = check
        .tls_config
        .server_name
        .clone()
        .unwrap_or_else(|| net::server_name_of(host));
    let stream = if check.tls {
        let (stream, details) = net::handshake(
            tls,
            &check.tls_config.verify,
            Alpn::None,
            &server_name,
            tcp,
            rec,
        )
        .await?;
        rec.tls = Some(details);
        Stream::Tls(Box::new(stream))
    } else {
        Stream::Plain(tcp)
    };
    let mut dialog = Dialog {
        stream: Some(stream),
        buf: Vec::new(),
        received: 0,
        peer: SocketAddr::new(ip, port),
    };
    let upgrade = Upgrade {
        tls,
        verify: &check.tls_config.verify,
        server_name: &server_name,
    };
    dialog.run(&check.query_response, &upgrade, rec).await
}

/// What a STARTTLS step needs.
struct Upgrade<'a> {
    tls: &'a TlsConfigs,
    verify: &'a TlsVerify,
    server_name: &'a str,
}

/// The connection, plain or in TLS.
enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// Times the dialog: `ttfb` until the first `expect` matches, `transfer` after; a STARTTLS
/// handshake is `tls`, in neither.
struct Clock {
    since: Instant,
    matched: bool,
}

impl Clock {
    fn phase(&self) -> &'static str {
        if self.matched { "transfer" } else { "ttfb" }
    }

    /// Adds the time since the last stop to the phase in progress.
    fn stop(&mut self, phases: &mut Phases) {
        let slot = if self.matched {
            &mut phases.transfer
        } else {
            &mut phases.ttfb
        };
        add(slot, self.since);
        self.since = Instant::now();
    }
}

/// A dialog in progress: the connection and what was read of it but not used yet.
struct Dialog {
    /// `None` only while STARTTLS swaps it.
    stream: Option<Stream>,
    buf: Vec<u8>,
    /// Bytes read from the server so far.
    received: usize,
    peer: SocketAddr,
}

/// Why a read found no line.
enum Ended {
    /// The server closed the connection.
    Eof,
    Failed(Failure),
}

impl Dialog {
    async fn run(
        &mut self,
        steps: &[Step],
        upgrade: &Upgrade<'_>,
        rec: &mut TcpRecord,
    ) -> Result<(), Failure> {
        if steps.is_empty() {
            return Ok(());
        }
        let mut clock = Clock {
            since: Instant::now(),
            matched: false,
        };
        rec.enter(clock.phase());
        // The last `expect`'s regex and matched line, for `send`'s `${1}`.
        let mut last_match: Option<(&Regex, String)> = None;
        let result = async {
            for step in steps {
                match step {
                    Step::Expect { regex, labels } => {
                        let line = self.expect(regex, rec).await?;
                        expand_labels(regex, &line, labels, rec);
                        rec.tcp.matched.push(line.clone());
                        last_match = Some((&**regex, line));
                        self.first_match(&mut clock, rec);
                    }
                    Step::ExpectBytes(bytes) => {
                        self.expect_bytes(bytes).await?;
                        self.first_match(&mut clock, rec);
                    }
                    Step::Send(text) => {
                        let line = match last_match.take() {
                            Some((regex, matched)) => expand(regex, &matched, text),
                            None => text.clone(),
                        };
                        self.send(&line).await?;
                    }
                    Step::StartTls => {
                        last_match = None;
                        clock.stop(&mut rec.phases);
                        self.start_tls(upgrade, rec).await?;
                        clock.since = Instant::now();
                        rec.enter(clock.phase());
                    }
                }
            }
            Ok(())
        }
        .await;
        clock.stop(&mut rec.phases);
        result
    }

    /// The first `expect` matched: what follows is `transfer`.
    fn first_match(&self, clock: &mut Clock, rec: &mut TcpRecord) {
        if !clock.matched {
            clock.stop(&mut rec.phases);
            clock.matched = true;
            rec.enter(clock.phase());
        }
    }

    fn stream(&mut self) -> Result<&mut Stream, Failure> {
        self.stream
            .as_mut()
            .ok_or_else(|| Failure::new(ErrorKind::Internal, "the connection was lost"))
    }

    /// Reads lines until one matches `regex`: that line (without its line ending).
    async fn expect(&mut self, regex: &Regex, rec: &mut TcpRecord) -> Result<String, Failure> {
        rec.waiting_for = Some(regex.as_str().to_owned());
        // Bounded: every line consumes at least one byte of the dialog's 1 MiB.
        loop {
            let line = match self.line().await {
                Ok(line) => line,
                Err(Ended::Failed(f)) => return Err(f),
                Err(Ended::Eof) => {
                    let last = match &rec.last_line {
                        Some(line) => format!("last line received: {line}"),
                        None => "nothing was received".to_owned(),
                    };
                    return Err(Failure::new(
                        ErrorKind::ExpectMismatch,
                        format!(
                            "no line from {} matched {:?} before it closed the connection ({last})",
                            self.peer,
                            regex.as_str()
                        ),
                    ));
                }
            };
            let text = String::from_utf8_lossy(&line).into_owned();
            rec.last_line = Some(shown(&text));
            if regex.is_match(&text) {
                rec.waiting_for = None;
                return Ok(text);
            }
        }
    }

    /// The next line, without its `\n` or `\r\n` (a last line without one at the end too).
    async fn line(&mut self) -> Result<Vec<u8>, Ended> {
        let mut searched = 0;
        loop {
            if let Some(i) = self.buf[searched..].iter().position(|&b| b == b'\n') {
                let end = searched + i;
                let mut line: Vec<u8> = self.buf.drain(..=end).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(line);
            }
            searched = self.buf.len();
            if self.buf.len() > MAX_LINE_BYTES {
                return Err(Ended::Failed(Failure::new(
                    ErrorKind::Protocol,
                    format!(
                        "{} sent a line longer than {} KiB",
                        self.peer,
                        MAX_LINE_BYTES / 1024
                    ),
                )));
            }
            if self.fill().await? == 0 {
                if self.buf.is_empty() {
                    return Err(Ended::Eof);
                }
                return Ok(std::mem::take(&mut self.buf));
            }
        }
    }

    /// Reads more from the server into `buf`: how much (0 at the end of the stream).
    async fn fill(&mut self) -> Result<usize, Ended> {
        if self.received >= MAX_DIALOG_BYTES {
            return Err(Ended::Failed(Failure::new(
                ErrorKind::Protocol,
                format!(
                    "{} sent more than {} MiB without the dialog ending",
                    self.peer,
                    MAX_DIALOG_BYTES / (1024 * 1024)
                ),
            )));
        }
        let peer = self.peer;
        let mut chunk = [0u8; 8192];
        let want = chunk.len().min(MAX_DIALOG_BYTES - self.received);
        let n = self
            .stream()
            .map_err(Ended::Failed)?
            .read(&mut chunk[..want])
            .await
            .map_err(|e| Ended::Failed(read_failure(peer, &e)))?;
        self.received += n;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// Reads exactly `expected.len()` bytes and compares them.
    async fn expect_bytes(&mut self, expected: &[u8]) -> Result<(), Failure> {
        // Bounded: each round reads at least one byte, or ends.
        while self.buf.len() < expected.len() {
            match self.fill().await {
                Ok(0) | Err(Ended::Eof) => {
                    return Err(Failure::new(
                        ErrorKind::ExpectMismatch,
                        format!(
                            "expected {} bytes {} from {}, it closed the connection after {}: {}",
                            expected.len(),
                            shown_bytes(expected),
                            self.peer,
                            self.buf.len(),
                            shown_bytes(&self.buf)
                        ),
                    ));
                }
                Ok(_) => {}
                Err(Ended::Failed(f)) => return Err(f),
            }
        }
        let got: Vec<u8> = self.buf.drain(..expected.len()).collect();
        if got != expected {
            return Err(Failure::new(
                ErrorKind::ExpectMismatch,
                format!(
                    "expected the bytes {} from {}, received {}",
                    shown_bytes(expected),
                    self.peer,
                    shown_bytes(&got)
                ),
            ));
        }
        Ok(())
    }

    /// Sends `text` and `\n`.
    async fn send(&mut self, text: &str) -> Result<(), Failure> {
        let peer = self.peer;
        let mut line = Vec::with_capacity(text.len() + 1);
        line.extend_from_slice(text.as_bytes());
        line.push(b'\n');
        let stream = self.stream()?;
        let written = async {
            stream.write_all(&line).await?;
            stream.flush().await
        }
        .await;
        written.map_err(|e| {
            Failure::new(
                ErrorKind::Protocol,
                format!("cannot send to {peer}: {}", net::describe(&e)),
            )
        })
    }

    /// Upgrades the connection to TLS. What the server sent before the handshake and was not
    /// read is dropped, as blackbox does (it would be a plaintext injection otherwise).
    async fn start_tls(
        &mut self,
        upgrade: &Upgrade<'_>,
        rec: &mut TcpRecord,
    ) -> Result<(), Failure> {
        let tcp = match self.stream.take() {
            Some(Stream::Plain(tcp)) => tcp,
            Some(tls @ Stream::Tls(_)) => {
                self.stream = Some(tls);
                return Err(Failure::new(
                    ErrorKind::Protocol,
                    "starttls on a connection already in TLS",
                ));
            }
            None => return Err(Failure::new(ErrorKind::Internal, "the connection was lost")),
        };
        self.buf.clear();
        let (stream, details) = net::handshake(
            upgrade.tls,
            upgrade.verify,
            Alpn::None,
            upgrade.server_name,
            tcp,
            rec,
        )
        .await?;
        rec.tls = Some(details);
        self.stream = Some(Stream::Tls(Box::new(stream)));
        Ok(())
    }
}

fn read_failure(peer: SocketAddr, e: &io::Error) -> Failure {
    let message = match e.kind() {
        io::ErrorKind::ConnectionReset => format!("{peer} reset the connection"),
        _ => format!("cannot read from {peer}: {}", net::describe(e)),
    };
    Failure::new(ErrorKind::Protocol, message)
}

/// `template` with `${1}`, `${name}` (and `$1`, `$name`) from `regex`'s match of `line`.
fn expand(regex: &Regex, line: &str, template: &str) -> String {
    let mut out = String::new();
    if let Some(caps) = regex.captures(line) {
        caps.expand(template, &mut out);
    } else {
        out.push_str(template);
    }
    out
}

fn expand_labels(regex: &Regex, line: &str, labels: &[Label], rec: &mut TcpRecord) {
    for label in labels {
        rec.labels
            .push((label.name.clone(), expand(regex, line, &label.value)));
    }
}

/// A received line as a failure quotes it: escaped, in quotes, cut to 200 characters.
fn shown(line: &str) -> String {
    let mut out = String::from("\"");
    for c in line.chars().take(SHOWN_CHARS) {
        out.extend(c.escape_debug());
    }
    out.push('"');
    if line.chars().nth(SHOWN_CHARS).is_some() {
        out.push('…');
    }
    out
}

/// Bytes as a failure quotes them: printable ASCII as it is, the rest `\xNN`, cut to 200.
fn shown_bytes(bytes: &[u8]) -> String {
    let mut out = String::from("\"");
    for &b in bytes.iter().take(SHOWN_CHARS) {
        out.extend(std::ascii::escape_default(b).map(char::from));
    }
    out.push('"');
    if bytes.len() > SHOWN_CHARS {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_expands_groups_of_the_last_match() {
        let re = Regex::new(r"^220 (?P<host>\S+) (\w+)").unwrap();
        let line = "220 mx.example ESMTP ready";
        assert_eq!(expand(&re, line, "EHLO ${host}"), "EHLO mx.example");
        assert_eq!(expand(&re, line, "${2} $1"), "ESMTP mx.example");
        assert_eq!(expand(&re, line, "cost $$5"), "cost $5");
        assert_eq!(expand(&re, "nothing", "as ${1} is"), "as ${1} is");
    }

    #[test]
    fn received_text_is_quoted_escaped_and_cut() {
        assert_eq!(shown("500 no\tway \"x\""), r#""500 no\tway \"x\"""#);
        let long = "a".repeat(300);
        let s = shown(&long);
        assert_eq!(s.len(), 200 + 2 + '…'.len_utf8());
        assert!(s.ends_with("\"…"));
        assert_eq!(shown_bytes(b"\x00ab\xff"), r#""\x00ab\xff""#);
    }

    #[test]
    fn the_smtp_dialog_is_blackbox_s() {
        let steps = smtp_starttls_steps();
        let kinds: Vec<String> = steps
            .iter()
            .map(|s| match s {
                Step::Expect { regex, .. } => format!("expect {}", regex.as_str()),
                Step::ExpectBytes(_) => "bytes".into(),
                Step::Send(t) => format!("send {}", t.trim_end()),
                Step::StartTls => "starttls".into(),
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "expect ^220",
                "send EHLO uptimer",
                "expect ^250 ",
                "send STARTTLS",
                "expect ^220",
                "starttls"
            ]
        );
    }

    #[test]
    fn a_timeout_while_expecting_says_what_was_awaited() {
        let mut rec = TcpRecord::default();
        assert_eq!(rec.waiting(), None);
        rec.waiting_for = Some("^220".into());
        assert_eq!(
            rec.waiting().unwrap(),
            r#"waiting for a line matching "^220" (nothing received)"#
        );
        rec.last_line = Some(shown("554 go away"));
        assert_eq!(
            rec.waiting().unwrap(),
            r#"waiting for a line matching "^220" (last line received: "554 go away")"#
        );
    }
}
