//! `icmp://host`: echo requests (ping) to one address, the replies counted and timed.
//!
//! Each probe opens its own unprivileged datagram ICMP socket where the kernel allows it
//! (`net.ipv4.ping_group_range`; the kernel hands each socket its own replies), else uses the
//! raw socket of its address family that all probes of the prober share (root or
//! CAP_NET_RAW; `shared.rs`), else fails with `permission`, saying how to allow either: never a
//! "host down". Replies are matched to requests by sequence number and a random cookie in the
//! payload (the kernel rewrites the identifier of a datagram socket's requests), and on the
//! shared raw socket, which sees every echo reply of the host, by the identifier allocated to
//! the probe too. The caller resolves the name and picks the address family
//! (`preferred_ip_protocol`).
//!
//! Like blackbox_exporter's icmp prober, a probe is up when an echo reply came back; with
//! `count` > 1 (blackbox sends one request only) it is up when at least one did, as `ping`'s
//! exit status says: loss is in the details, for a condition on `[PACKET_LOSS]`.

mod packet;
mod shared;
mod socket;

pub use shared::RawSockets;
pub use socket::SocketKind;

use std::io;
use std::net::IpAddr;
use std::time::Duration;

use tokio::time::{Instant, sleep_until};

use self::packet::EchoReply;
use self::shared::Member;
use self::socket::{Datagram, IcmpSocket};
use crate::event::{ErrorKind, IcmpDetails, Phases};
use crate::readers::probes::Failure;

pub use crate::config::checks::MAX_ICMP_COUNT as MAX_COUNT;
pub use crate::config::checks::MAX_ICMP_PAYLOAD as MAX_PAYLOAD_SIZE;
/// The payload when `payload_size` is 0: room for the whole cookie and a recognisable filler.
const DEFAULT_PAYLOAD_SIZE: usize = 16;
/// The longest pause between two requests of one probe, as `ping`'s default interval.
const MAX_SPACING: Duration = Duration::from_secs(1);
/// An IPv4 header with the most options, before the ICMP message a raw socket reads.
const MAX_IPV4_HEADER: usize = 60;

pub use crate::config::checks::IcmpCheck;

impl Default for IcmpCheck {
    fn default() -> Self {
        IcmpCheck {
            count: 1,
            payload_size: 0,
            dont_fragment: false,
            addr: Default::default(),
        }
    }
}

impl IcmpCheck {
    /// Checks the values' ranges; the error names the key and the value (for the
    /// configuration's own message, which names the target).
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=MAX_COUNT).contains(&self.count) {
            return Err(format!(
                "icmp.count: expected 1 to {MAX_COUNT} echo requests, got {}",
                self.count
            ));
        }
        if self.payload_size > MAX_PAYLOAD_SIZE {
            return Err(format!(
                "icmp.payload_size: expected at most {MAX_PAYLOAD_SIZE} bytes, got {}",
                self.payload_size
            ));
        }
        Ok(())
    }

    fn payload_len(&self) -> usize {
        match self.payload_size {
            0 => DEFAULT_PAYLOAD_SIZE,
            n => n,
        }
    }
}

/// What one ICMP probe observed so far: kept as far as it got when the caller's timeout drops
/// the probe's future (the requests sent are counted as lost).
#[derive(Debug, Default)]
pub struct IcmpRecord {
    /// The phase in progress (`socket`, `echo`), named when the probe times out.
    pub phase: &'static str,
    /// `ttfb`: from the first request sent to the first reply.
    pub phases: Phases,
    /// Requests sent, replies received, loss and round-trip times.
    pub details: IcmpDetails,
    /// The socket used, once open.
    pub socket: Option<SocketKind>,
}

/// Sends `check.count` echo requests to `ip` and waits for the replies until every one came or
/// `timeout` (from the call) has passed, filling `rec` as it goes. Up (`Ok`) when at least one
/// reply came; `Timeout` when none did, `Permission` when no ICMP socket may be opened,
/// `Connect` when a request cannot be sent (no route, message too long with `dont_fragment`).
/// Without a datagram socket the probe uses `raw`'s socket for `ip`'s family.
pub async fn probe(
    raw: &RawSockets,
    ip: IpAddr,
    check: &IcmpCheck,
    timeout: Duration,
    rec: &mut IcmpRecord,
) -> Result<(), Failure> {
    let deadline = Instant::now() + timeout;
    // An IPv4 address written as IPv6 (`::ffff:a.b.c.d`) is pinged over IPv4.
    let ip = ip.to_canonical();
    check
        .validate()
        .map_err(|e| Failure::new(ErrorKind::Internal, e))?;
    rec.phase = "socket";
    rec.details = IcmpDetails::default();
    update_loss(&mut rec.details);
    let mut echoes = Echoes::new(ip, check);
    let mut socket = Channel::open(raw, ip, check, echoes.payload.len())?;
    rec.socket = Some(socket.kind());
    echoes.kind = socket.kind();
    if let Channel::Shared(member) = &socket {
        echoes.ident = member.ident();
    }

    rec.phase = "echo";
    let mut buf = vec![0u8; MAX_IPV4_HEADER + packet::HEADER_LEN + echoes.payload.len() + 1];
    let spacing = spacing(timeout, check.count);
    let first_send = Instant::now();
    // Bounded by the deadline: every pass sends a request, reads a datagram or ends.
    while echoes.received < check.count && Instant::now() < deadline {
        let next = (echoes.sent < check.count).then(|| first_send + spacing * echoes.sent);
        tokio::select! {
            biased;
            _ = sleep_until(next.unwrap_or(deadline)), if next.is_some() => {
                let request = echoes.request();
                echoes.sent_at.push(Instant::now());
                let sent = tokio::time::timeout_at(deadline, socket.send_to(&request, ip)).await;
                match sent {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        return Err(Failure::new(
                            ErrorKind::Connect,
                            format!(
                                "cannot send an echo request of {} bytes to {ip}: {e}",
                                request.len()
                            ),
                        ));
                    }
                    // The socket's buffer stayed full until the deadline: not sent.
                    Err(_) => {
                        echoes.sent_at.pop();
                        break;
                    }
                }
                echoes.sent += 1;
                rec.details.sent = echoes.sent;
                update_loss(&mut rec.details);
            }
            got = socket.recv(&mut buf) => {
                let datagram = got.map_err(|e| {
                    Failure::new(
                        ErrorKind::Internal,
                        format!("cannot read echo replies from {ip}: {e}"),
                    )
                })?;
                if let Some((index, ttl)) = echoes.reply(&buf, &datagram) {
                    let now = Instant::now();
                    let rtt = now.duration_since(echoes.sent_at[index]);
                    if rec.phases.ttfb.is_none() {
                        rec.phases.ttfb = Some(ms(now.duration_since(first_send)));
                    }
                    record_reply(&mut rec.details, &mut echoes.rtts, rtt, ttl);
                    echoes.received = rec.details.received;
                }
            }
            _ = sleep_until(deadline) => break,
        }
    }
    if echoes.received > 0 {
        return Ok(());
    }
    Err(Failure::new(
        ErrorKind::Timeout,
        format!(
            "no echo reply from {ip} within {}s ({} sent)",
            timeout.as_secs_f64(),
            echoes.sent
        ),
    ))
}

/// Where a probe's requests go and its replies come from.
enum Channel {
    /// Its own datagram socket.
    Own(IcmpSocket),
    /// Its identifier on the shared raw socket.
    Shared(Member),
}

impl Channel {
    /// A datagram socket, else the shared raw socket, else why neither may be opened.
    fn open(
        raw: &RawSockets,
        ip: IpAddr,
        check: &IcmpCheck,
        payload_len: usize,
    ) -> Result<Channel, Failure> {
        let dgram = match IcmpSocket::datagram(ip, check.dont_fragment)? {
            Ok(socket) => return Ok(Channel::Own(socket)),
            Err(e) => e,
        };
        // Room for every reply and as many duplicates; more are dropped.
        let capacity = 2 * check.count as usize;
        match raw.join(
            ip,
            check.dont_fragment,
            packet::HEADER_LEN + payload_len,
            capacity,
        )? {
            Ok(member) => Ok(Channel::Shared(member)),
            Err(e) => Err(socket::open_failure(ip, &dgram, &e)),
        }
    }

    fn kind(&self) -> SocketKind {
        match self {
            Channel::Own(s) => s.kind(),
            Channel::Shared(_) => SocketKind::Raw,
        }
    }

    async fn send_to(&self, packet: &[u8], ip: IpAddr) -> io::Result<()> {
        match self {
            Channel::Own(s) => s.send_to(packet, ip).await,
            Channel::Shared(m) => m.send_to(packet, ip).await,
        }
    }

    /// The next datagram (own socket) or reply with our identifier (shared). Cancel-safe.
    async fn recv(&mut self, buf: &mut [u8]) -> io::Result<Datagram> {
        match self {
            Channel::Own(s) => s.recv(buf).await,
            Channel::Shared(m) => m.recv(buf).await,
        }
    }
}

/// The time between two requests: up to a second, and all sent in the first half of the
/// timeout so that the last one has time to come back.
fn spacing(timeout: Duration, count: u32) -> Duration {
    if count <= 1 {
        return Duration::ZERO;
    }
    (timeout / (2 * count)).min(MAX_SPACING)
}

/// The requests of one probe and what must come back to count as their replies.
struct Echoes {
    ip: IpAddr,
    kind: SocketKind,
    /// Our identifier: the kernel replaces it on a datagram socket (and only delivers that
    /// socket's replies), so it is checked on raw sockets only, where it is allocated.
    ident: u16,
    first_seq: u16,
    payload: Vec<u8>,
    /// When each request sent went out, by index from `first_seq`.
    sent_at: Vec<Instant>,
    answered: Vec<bool>,
    rtts: Vec<Duration>,
    sent: u32,
    received: u32,
}

impl Echoes {
    /// The requests of one probe, checked as a datagram socket's replies until `kind` is set.
    fn new(ip: IpAddr, check: &IcmpCheck) -> Echoes {
        // 122 random bits from uuid's generator (already a dependency): cookie, ident (replaced
        // by the allocated one on a raw socket), sequence.
        let bits = uuid::Uuid::new_v4().as_u128();
        let cookie = bits as u64;
        let ident = (bits >> 64) as u16;
        let first_seq = (bits >> 80) as u16;
        let count = check.count as usize;
        Echoes {
            ip,
            kind: SocketKind::Datagram,
            ident,
            first_seq,
            payload: packet::payload(cookie, check.payload_len()),
            sent_at: Vec::with_capacity(count),
            answered: vec![false; count],
            rtts: Vec::with_capacity(count),
            sent: 0,
            received: 0,
        }
    }

    /// The next request to send.
    fn request(&self) -> Vec<u8> {
        let seq = self.first_seq.wrapping_add(self.sent as u16);
        packet::echo_request(self.ip.is_ipv6(), self.ident, seq, &self.payload)
    }

    /// The index of the request that `datagram` (read into `buf`) answers, first time only, and
    /// the reply's TTL when known; `None` for anything else: another sender, another type,
    /// another process's or probe's echo, a duplicate, a garbled or cut packet.
    fn reply(&mut self, buf: &[u8], datagram: &Datagram) -> Option<(usize, Option<u8>)> {
        if datagram.truncated || datagram.from != Some(self.ip) {
            return None;
        }
        let packet = buf.get(..datagram.len)?;
        let v6 = self.ip.is_ipv6();
        let (message, header_ttl) = if !v6 && self.kind == SocketKind::Raw {
            let (message, ttl) = packet::strip_ipv4_header(packet)?;
            (message, Some(ttl))
        } else {
            (packet, None)
        };
        let EchoReply { ident, seq, data } = packet::echo_reply(v6, message)?;
        if self.kind == SocketKind::Raw && ident != self.ident {
            return None;
        }
        let index = usize::from(seq.wrapping_sub(self.first_seq));
        if index >= self.sent_at.len() || self.answered[index] || data != self.payload {
            return None;
        }
        self.answered[index] = true;
        Some((index, datagram.ttl.or(header_ttl)))
    }
}

/// Counts one reply in `details`: received, loss, round-trip times, TTL.
fn record_reply(
    details: &mut IcmpDetails,
    rtts: &mut Vec<Duration>,
    rtt: Duration,
    ttl: Option<u8>,
) {
    rtts.push(rtt);
    details.received += 1;
    update_loss(details);
    let min = rtts.iter().min().copied().unwrap_or_default();
    let max = rtts.iter().max().copied().unwrap_or_default();
    let avg = rtts.iter().sum::<Duration>() / rtts.len().max(1) as u32;
    details.rtt_min_ms = Some(ms(min));
    details.rtt_avg_ms = Some(ms(avg));
    details.rtt_max_ms = Some(ms(max));
    if ttl.is_some() {
        details.reply_ttl = ttl;
    }
}

/// The share of requests sent without a reply, in percent; 100 before any was sent.
fn update_loss(details: &mut IcmpDetails) {
    details.loss_percent = if details.sent == 0 {
        100.0
    } else {
        let lost = details.sent.saturating_sub(details.received);
        (f64::from(lost) * 100.0 / f64::from(details.sent) * 1000.0).round() / 1000.0
    };
}

/// Milliseconds to the microsecond, as events carry them.
fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

#[cfg(test)]
mod tests;
