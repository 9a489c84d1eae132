//! Ports and plain HTTP from the test's side: a free port to hand the binary, a closed one to
//! probe, and a GET that needs no client library (and so cannot share a bug with the one
//! under test).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

/// A `127.0.0.1` port with nothing listening (bound to :0, then released).
pub fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind for closed_port");
    listener.local_addr().expect("local_addr")
}

/// A `127.0.0.1` port nothing listens on, for a process the test starts to listen on.
pub fn free_port() -> u16 {
    closed_port().port()
}

/// Whether something accepts connections on `127.0.0.1:port`.
pub fn listening(port: u16) -> bool {
    TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok()
}

/// `GET path` from `127.0.0.1:port` over HTTP/1.0: the whole answer (status line, headers,
/// body), or `None` when nothing answers (yet) within 5 s.
pub fn get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

/// The body of [`get`]'s answer.
pub fn get_body(port: u16, path: &str) -> Option<String> {
    get(port, path)?
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
}

/// `POST path` of the JSON `body` to `127.0.0.1:port` over HTTP/1.0: the answer's status and
/// body, or `None` when nothing answers within 5 s.
pub fn post_json(port: u16, path: &str, body: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "POST {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let (head, body) = out.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some((status, body.to_owned()))
}
