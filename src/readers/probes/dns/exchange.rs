//! One DNS query and its reply over UDP or TCP, with the phases timed and every reply bounded:
//! a UDP datagram is read into 64 KiB, a TCP reply is at most its 16-bit length prefix.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Instant;

use hickory_proto::op::{Message, MessageType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use super::{DnsObservation, DnsTransport};
use crate::event::ErrorKind;
use crate::readers::probes::Failure;

/// A UDP datagram's largest size (what one `recv` can return).
const UDP_BUFFER: usize = 65_536;

/// Replies with another id that a UDP exchange ignores (late answers to earlier queries, as
/// miekg/dns ignores them) before it gives up on the server.
const MAX_STRAY_REPLIES: usize = 64;

fn add_ms(slot: &mut Option<f64>, since: Instant) {
    *slot = Some(slot.unwrap_or(0.0) + since.elapsed().as_secs_f64() * 1000.0);
}

fn io_failure(what: &str, server: SocketAddr, e: &std::io::Error) -> Failure {
    // On a connected UDP socket, the ICMP port unreachable of a closed port comes back as
    // ECONNREFUSED: the same as a refused TCP connection.
    let kind = if e.kind() == std::io::ErrorKind::ConnectionRefused {
        ErrorKind::ConnectRefused
    } else {
        ErrorKind::Connect
    };
    Failure::new(kind, format!("{what} {server}: {e}"))
}

/// Sends `query` to `server` and returns the reply that carries its id, parsed.
pub async fn exchange(
    server: SocketAddr,
    transport: DnsTransport,
    query: &Message,
    rec: &mut DnsObservation,
) -> Result<Message, Failure> {
    let wire = query
        .to_vec()
        .map_err(|e| Failure::new(ErrorKind::Internal, format!("cannot encode the query: {e}")))?;
    match transport {
        DnsTransport::Udp => udp(server, &wire, query.metadata.id, rec).await,
        DnsTransport::Tcp => tcp(server, &wire, query.metadata.id, rec).await,
    }
}

async fn udp(
    server: SocketAddr,
    wire: &[u8],
    id: u16,
    rec: &mut DnsObservation,
) -> Result<Message, Failure> {
    let local: SocketAddr = if server.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(local).await.map_err(|e| {
        Failure::new(
            ErrorKind::Internal,
            format!("cannot open a UDP socket: {e}"),
        )
    })?;
    // Connected: datagrams from other addresses are dropped by the kernel, and an ICMP error
    // about the server is reported to us.
    socket
        .connect(server)
        .await
        .map_err(|e| io_failure("cannot query", server, &e))?;
    rec.phase = "ttfb";
    let start = Instant::now();
    socket
        .send(wire)
        .await
        .map_err(|e| io_failure("cannot send the query to", server, &e))?;
    let mut buf = vec![0u8; UDP_BUFFER];
    for _ in 0..=MAX_STRAY_REPLIES {
        let n = socket
            .recv(&mut buf)
            .await
            .map_err(|e| io_failure("no reply from", server, &e))?;
        let reply = parse(server, &buf[..n])?;
        if reply.metadata.id == id {
            add_ms(&mut rec.phases.ttfb, start);
            return Ok(reply);
        }
    }
    add_ms(&mut rec.phases.ttfb, start);
    Err(Failure::new(
        ErrorKind::Protocol,
        format!("{server} sent {MAX_STRAY_REPLIES} replies with another id than the query's"),
    ))
}

async fn tcp(
    server: SocketAddr,
    wire: &[u8],
    id: u16,
    rec: &mut DnsObservation,
) -> Result<Message, Failure> {
    rec.phase = "connect";
    let start = Instant::now();
    let connected = TcpStream::connect(server).await;
    add_ms(&mut rec.phases.connect, start);
    let mut stream = connected.map_err(|e| io_failure("cannot connect to", server, &e))?;
    let _ = stream.set_nodelay(true);

    let len = u16::try_from(wire.len())
        .map_err(|_| Failure::new(ErrorKind::Internal, "the query is longer than 65535 bytes"))?;
    let mut framed = Vec::with_capacity(2 + wire.len());
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(wire);

    rec.phase = "ttfb";
    let start = Instant::now();
    stream
        .write_all(&framed)
        .await
        .map_err(|e| io_failure("cannot send the query to", server, &e))?;
    let mut len = [0u8; 2];
    stream
        .read_exact(&mut len)
        .await
        .map_err(|e| read_failure(server, &e))?;
    // At most 65535 bytes: the prefix bounds the reply.
    let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream
        .read_exact(&mut body)
        .await
        .map_err(|e| read_failure(server, &e))?;
    add_ms(&mut rec.phases.ttfb, start);
    let reply = parse(server, &body)?;
    if reply.metadata.id != id {
        return Err(Failure::new(
            ErrorKind::Protocol,
            format!(
                "the reply from {server} has id {}, the query had {id}",
                reply.metadata.id
            ),
        ));
    }
    Ok(reply)
}

fn read_failure(server: SocketAddr, e: &std::io::Error) -> Failure {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        Failure::new(
            ErrorKind::Protocol,
            format!("{server} closed the connection before its reply was complete"),
        )
    } else {
        io_failure("cannot read the reply from", server, e)
    }
}

/// The reply parsed: a DNS response, or a `protocol` failure saying why not.
pub(super) fn parse(server: SocketAddr, bytes: &[u8]) -> Result<Message, Failure> {
    let reply = Message::from_vec(bytes).map_err(|e| {
        let mut why = e.to_string();
        // hickory's messages are short, but they may quote the reply: keep the event small.
        if why.len() > 200 {
            let cut = (0..=200)
                .rev()
                .find(|i| why.is_char_boundary(*i))
                .unwrap_or(0);
            why.truncate(cut);
            why.push('…');
        }
        Failure::new(
            ErrorKind::Protocol,
            format!(
                "the reply from {server} is not a DNS message ({} bytes): {why}",
                bytes.len()
            ),
        )
    })?;
    if reply.metadata.message_type != MessageType::Response {
        return Err(Failure::new(
            ErrorKind::Protocol,
            format!("the reply from {server} is a query, not a response"),
        ));
    }
    Ok(reply)
}
