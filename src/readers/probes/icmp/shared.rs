//! The raw ICMP sockets all probes of a prober share: one per address family, opened on the
//! first probe that needs it, with one task reading every echo reply and handing it to the
//! probe waiting for its identifier. A raw socket sees every ICMP message of the host, and the
//! kernel runs each raw socket's filter for each of them: one socket per probe made 256 probes
//! in flight cost 256 filter runs per packet; one shared socket costs one.
//!
//! Identifiers are allocated, unique among the probes in flight on a socket; a probe's entry is
//! removed when it ends (last reply, timeout, error or its future dropped). Replies carrying
//! nobody's identifier are other programs' pings: counted and dropped. When the reading task
//! ends (a read error, its runtime shut down), the waiting probes are told at once and the next
//! probe opens a new socket.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use super::packet::{self, EchoReply};
use super::socket::{Datagram, IcmpSocket, drop_all_filter, echo_reply_filter};
use crate::event::ErrorKind;
use crate::readers::probes::Failure;

/// The longest datagram a raw socket reads: an IPv4 header with options, the ICMP header and
/// the largest payload (`payload_size` cannot ask for more), and one byte to see a longer one.
const RECV_BUF: usize = super::MAX_IPV4_HEADER + packet::HEADER_LEN + super::MAX_PAYLOAD_SIZE + 1;

/// The shared raw sockets of one prober, IPv4 and IPv6, each opened on first use. Dropping
/// this stops their reading tasks (and so closes the sockets).
#[derive(Default)]
pub struct RawSockets {
    v4: Family,
    v6: Family,
}

/// One address family's socket, once opened and while its reading task runs.
#[derive(Default)]
struct Family(Mutex<Option<Arc<Shared>>>);

impl Drop for RawSockets {
    fn drop(&mut self) {
        for family in [&self.v4, &self.v6] {
            if let Some(shared) = lock(&family.0).take() {
                shared.stop();
            }
        }
    }
}

impl RawSockets {
    pub fn new() -> RawSockets {
        RawSockets::default()
    }

    fn family(&self, ip: IpAddr) -> &Family {
        if ip.is_ipv6() { &self.v6 } else { &self.v4 }
    }

    /// Registers a probe of `ip` expecting echo replies of `message_len` bytes (ICMP header
    /// and payload) on the family's shared socket, opening it if needed; `Ok(Err(e))` when the
    /// kernel refuses a raw socket (`e` from `socket()`), `Err` for any other failure.
    /// `capacity` bounds the replies queued for the probe (more are dropped, as a full socket
    /// buffer would).
    pub(super) fn join(
        &self,
        ip: IpAddr,
        dont_fragment: bool,
        message_len: usize,
        capacity: usize,
    ) -> Result<io::Result<Member>, Failure> {
        let shared = match self.family(ip).open(ip)? {
            Ok(s) => s,
            Err(e) => return Ok(Err(e)),
        };
        let sender = if dont_fragment {
            Some(shared.dont_fragment_sender(ip)?)
        } else {
            None
        };
        let (tx, replies) = mpsc::channel(capacity.max(1));
        let ident = shared.register(tx, message_len)?;
        Ok(Ok(Member {
            shared,
            sender,
            ident,
            replies,
        }))
    }

    /// The probes registered on `ip`'s family's socket (none when it is not open).
    #[cfg(test)]
    pub(super) fn waiting(&self, ip: IpAddr) -> usize {
        lock(&self.family(ip).0)
            .as_ref()
            .map_or(0, |s| lock(&s.waiting).by_ident.len())
    }

    /// Echo replies nobody was waiting for, read by `ip`'s family's socket.
    #[cfg(test)]
    pub(super) fn stray(&self, ip: IpAddr) -> u64 {
        lock(&self.family(ip).0)
            .as_ref()
            .map_or(0, |s| s.stray.load(Ordering::Relaxed))
    }

    /// Stops the reading task of `ip`'s family's socket, as a read error would.
    #[cfg(test)]
    pub(super) fn stop_reading(&self, ip: IpAddr) {
        if let Some(s) = lock(&self.family(ip).0).as_ref() {
            s.stop();
        }
    }
}

impl Family {
    /// The socket, opened (or reopened, when its reading task has ended) here.
    fn open(&self, ip: IpAddr) -> Result<io::Result<Arc<Shared>>, Failure> {
        let mut slot = lock(&self.0);
        if let Some(shared) = slot.as_ref().filter(|s| s.reading.load(Ordering::Acquire)) {
            return Ok(Ok(Arc::clone(shared)));
        }
        let v6 = ip.is_ipv6();
        let socket = match IcmpSocket::raw(ip, false, &echo_reply_filter(v6))? {
            Ok(s) => s,
            Err(e) => return Ok(Err(e)),
        };
        let shared = Arc::new(Shared {
            v6,
            socket,
            dont_fragment: Mutex::new(None),
            waiting: Mutex::new(Waiting {
                // A random start: another process's probes (and ours after a restart) start
                // elsewhere, though only the cookie tells two processes' replies apart.
                next: uuid::Uuid::new_v4().as_u128() as u16,
                by_ident: HashMap::new(),
            }),
            reading: AtomicBool::new(true),
            failure: Mutex::new(None),
            task: Mutex::new(None),
            stray: AtomicU64::new(0),
        });
        let task = tokio::spawn(read_replies(Arc::clone(&shared)));
        *lock(&shared.task) = Some(task.abort_handle());
        if let Some(old) = slot.replace(Arc::clone(&shared)) {
            old.stop();
        }
        Ok(Ok(shared))
    }
}

/// A reply handed to a probe: the datagram as read (IPv4: with its IP header).
struct Reply {
    bytes: Vec<u8>,
    from: Option<IpAddr>,
    ttl: Option<u8>,
}

/// A probe waiting for replies: where to hand them, and the ICMP message length they must have.
struct Waiter {
    tx: mpsc::Sender<Reply>,
    message_len: usize,
}

/// The probes in flight on one socket, by identifier, and the next identifier to try.
struct Waiting {
    next: u16,
    by_ident: HashMap<u16, Waiter>,
}

/// One shared raw socket and what its reading task needs.
struct Shared {
    v6: bool,
    /// Receives every echo reply (the filter drops the rest) and sends most requests.
    socket: IcmpSocket,
    /// Sends the requests of `dont_fragment` probes (a socket option, so a socket of its own),
    /// receives nothing; opened on the first such probe.
    dont_fragment: Mutex<Option<Arc<IcmpSocket>>>,
    waiting: Mutex<Waiting>,
    /// False once the reading task has ended: the next probe opens a new socket.
    reading: AtomicBool,
    /// Why the reading task ended, for the probes it leaves without replies.
    failure: Mutex<Option<String>>,
    task: Mutex<Option<AbortHandle>>,
    /// Echo replies with nobody's identifier (other programs' pings), or not of the size the
    /// probe with that identifier expects, or beyond what it has room for.
    stray: AtomicU64,
}

impl Shared {
    fn dont_fragment_sender(&self, ip: IpAddr) -> Result<Arc<IcmpSocket>, Failure> {
        let mut slot = lock(&self.dont_fragment);
        if let Some(s) = slot.as_ref() {
            return Ok(Arc::clone(s));
        }
        let socket = IcmpSocket::raw(ip, true, &drop_all_filter())?.map_err(|e| {
            Failure::new(
                ErrorKind::Internal,
                format!("cannot open a don't-fragment ICMP socket for {ip}: {e}"),
            )
        })?;
        let socket = Arc::new(socket);
        *slot = Some(Arc::clone(&socket));
        Ok(socket)
    }

    /// Allocates an identifier no probe in flight on this socket holds: the next free one
    /// after the last allocated, at most one pass over the 65,536.
    fn register(&self, tx: mpsc::Sender<Reply>, message_len: usize) -> Result<u16, Failure> {
        let mut waiting = lock(&self.waiting);
        for _ in 0..=u16::MAX {
            let ident = waiting.next;
            waiting.next = ident.wrapping_add(1);
            if let std::collections::hash_map::Entry::Vacant(e) = waiting.by_ident.entry(ident) {
                e.insert(Waiter { tx, message_len });
                return Ok(ident);
            }
        }
        Err(Failure::new(
            ErrorKind::Internal,
            "all 65536 ICMP identifiers are held by probes in flight",
        ))
    }

    /// Hands the datagram in `buf` to the probe its identifier names, if any.
    fn deliver(&self, buf: &[u8], datagram: &Datagram) {
        let stray = || {
            self.stray.fetch_add(1, Ordering::Relaxed);
        };
        let Some(packet) = buf.get(..datagram.len).filter(|_| !datagram.truncated) else {
            return stray();
        };
        let message = if self.v6 {
            Some(packet)
        } else {
            packet::strip_ipv4_header(packet).map(|(m, _)| m)
        };
        let Some(EchoReply { ident, .. }) = message.and_then(|m| packet::echo_reply(self.v6, m))
        else {
            return stray();
        };
        let message_len = message.map_or(0, <[u8]>::len);
        let waiting = lock(&self.waiting);
        let Some(waiter) = waiting.by_ident.get(&ident) else {
            return stray();
        };
        if waiter.message_len != message_len {
            return stray();
        }
        let reply = Reply {
            bytes: packet.to_vec(),
            from: datagram.from,
            ttl: datagram.ttl,
        };
        // Full: more replies than the probe sent requests (duplicates, forgeries).
        if waiter.tx.try_send(reply).is_err() {
            stray();
        }
    }

    fn stop(&self) {
        if let Some(task) = lock(&self.task).as_ref() {
            task.abort();
        }
    }
}

/// Reads every echo reply of `shared`'s socket and hands it on, until a read fails or the task
/// is stopped (aborted, or its runtime shut down); then marks the socket for reopening and
/// drops every waiting probe's channel, so that none waits for a reply that cannot come.
async fn read_replies(shared: Arc<Shared>) {
    struct Ended<'a>(&'a Shared);
    impl Drop for Ended<'_> {
        fn drop(&mut self) {
            self.0.reading.store(false, Ordering::Release);
            lock(&self.0.waiting).by_ident.clear();
        }
    }
    let _ended = Ended(&shared);
    let mut buf = vec![0u8; RECV_BUF];
    // Bounded by the socket's life: every pass awaits a datagram, an error ends the task.
    loop {
        match shared.socket.recv(&mut buf).await {
            Ok(datagram) => shared.deliver(&buf, &datagram),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                let family = if shared.v6 { "ICMPv6" } else { "ICMP" };
                tracing::warn!(error = %e, "cannot read the shared raw {family} socket: reopened on the next probe");
                *lock(&shared.failure) = Some(e.to_string());
                return;
            }
        }
    }
}

/// A probe's place on a shared socket: its identifier and its replies. Dropping it (the probe
/// ended or was cancelled) frees the identifier.
pub(super) struct Member {
    shared: Arc<Shared>,
    sender: Option<Arc<IcmpSocket>>,
    ident: u16,
    replies: mpsc::Receiver<Reply>,
}

impl Member {
    /// The identifier the probe's requests must carry.
    pub fn ident(&self) -> u16 {
        self.ident
    }

    /// Sends `packet` (an ICMP message) to `ip`.
    pub async fn send_to(&self, packet: &[u8], ip: IpAddr) -> io::Result<()> {
        let socket = self.sender.as_deref().unwrap_or(&self.shared.socket);
        socket.send_to(packet, ip).await
    }

    /// The next reply with our identifier, copied into `buf` as a socket would read it; an
    /// error once the reading task has ended. Cancel-safe.
    pub async fn recv(&mut self, buf: &mut [u8]) -> io::Result<Datagram> {
        let Some(reply) = self.replies.recv().await else {
            let why = lock(&self.shared.failure)
                .clone()
                .unwrap_or_else(|| "the shared raw socket was closed".to_owned());
            return Err(io::Error::other(why));
        };
        let len = reply.bytes.len().min(buf.len());
        buf[..len].copy_from_slice(&reply.bytes[..len]);
        Ok(Datagram {
            len,
            from: reply.from,
            ttl: reply.ttl,
            truncated: len < reply.bytes.len(),
        })
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        lock(&self.shared.waiting).by_ident.remove(&self.ident);
    }
}

/// A lock that a panic elsewhere does not poison for good: the maps stay consistent (every
/// change is one insert or remove).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
