//! `udp://host:port` checks, as Gatus does them: send `body` in one datagram and call the
//! target up on any reply. A closed port answers with an ICMP port unreachable, which a
//! connected UDP socket reports as ECONNREFUSED: `connect_refused`. No reply at all is left to
//! the caller's timeout (UDP cannot tell a slow server from a silent one).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Instant;

use hickory_resolver::TokioResolver;
use time::OffsetDateTime;
use tokio::net::UdpSocket;

use super::Failure;
use super::net::{self, AddrPolicy, Progress, add};
use crate::event::{ErrorKind, Phases};

/// The largest reply read (a UDP datagram's maximum payload); longer ones are cut.
const MAX_REPLY_BYTES: usize = 65_535;

pub use crate::config::checks::UdpCheck;

/// What a UDP probe observed, kept as far as it got when it fails or times out.
#[derive(Debug, Default)]
pub struct UdpRecord {
    /// The phase in progress (`dns`, `connect`, `ttfb`), named when the probe times out.
    pub phase: &'static str,
    /// `dns`, `connect` (binding and connecting the socket) and `ttfb` (until the reply).
    pub phases: Phases,
    pub ip: Option<IpAddr>,
    /// Whether a reply came (`[CONNECTED]`: UDP has no connection to make).
    pub connected: bool,
    /// Bytes of the reply; `None` without one.
    pub reply_bytes: Option<usize>,
}

impl Progress for UdpRecord {
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

    fn certificate_expiry(&mut self, _: Option<OffsetDateTime>) {}
}

/// Probes `host:port` once: resolve, send the body, wait for a reply. The caller bounds it with
/// the target's timeout.
pub async fn probe(
    resolver: &TokioResolver,
    host: &url::Host<&str>,
    port: u16,
    policy: AddrPolicy,
    check: &UdpCheck,
    rec: &mut UdpRecord,
) -> Result<(), Failure> {
    let addrs = net::resolve(resolver, host, policy, rec).await?;
    // A datagram is not refused before it is sent: the first address is the one probed.
    let ip = *addrs
        .first()
        .ok_or_else(|| Failure::new(ErrorKind::Internal, "no address to send to"))?;
    let peer = SocketAddr::new(ip, port);
    rec.ip = Some(ip);

    rec.enter("connect");
    let t = Instant::now();
    let socket = open(peer).await;
    add(&mut rec.phases.connect, t);
    let socket = socket?;

    rec.enter("ttfb");
    let t = Instant::now();
    let exchanged = exchange(&socket, peer, &check.body).await;
    add(&mut rec.phases.ttfb, t);
    let n = exchanged?;
    rec.connected = true;
    rec.reply_bytes = Some(n);
    Ok(())
}

/// A UDP socket of `peer`'s family, connected to it (so that an ICMP error reaches it).
async fn open(peer: SocketAddr) -> Result<UdpSocket, Failure> {
    let local: SocketAddr = match peer.ip() {
        IpAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        IpAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local).await.map_err(|e| {
        Failure::new(
            ErrorKind::Connect,
            format!("cannot open a UDP socket for {peer}: {e}"),
        )
    })?;
    socket.connect(peer).await.map_err(|e| {
        Failure::new(
            ErrorKind::Connect,
            format!("cannot send UDP to {peer}: {e}"),
        )
    })?;
    Ok(socket)
}

/// Sends `body`, then waits for one datagram: its length.
async fn exchange(socket: &UdpSocket, peer: SocketAddr, body: &[u8]) -> Result<usize, Failure> {
    socket.send(body).await.map_err(|e| failure(peer, &e))?;
    let mut buf = vec![0u8; MAX_REPLY_BYTES];
    socket.recv(&mut buf).await.map_err(|e| failure(peer, &e))
}

fn failure(peer: SocketAddr, e: &std::io::Error) -> Failure {
    if e.kind() == std::io::ErrorKind::ConnectionRefused {
        Failure::new(
            ErrorKind::ConnectRefused,
            format!("nothing listens on UDP {peer} (the host answered port unreachable)"),
        )
    } else {
        Failure::new(ErrorKind::Connect, format!("UDP to {peer} failed: {e}"))
    }
}
