//! ICMP sockets: a probe's own unprivileged datagram socket where the kernel allows it
//! (`net.ipv4.ping_group_range`), else the raw ones (root or CAP_NET_RAW) all probes share
//! (`shared.rs`), read and written through tokio. The few socket options and `recvmsg` (for the reply's TTL) that socket2
//! does not offer are called through libc here, and only here.

use std::io;
use std::mem::size_of;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, RawFd};

use socket2::{Domain, Protocol, SockAddr, SockFilter, Socket, Type};
use tokio::io::Interest;
use tokio::net::UdpSocket;

use super::packet;
use crate::event::ErrorKind;
use crate::readers::probes::Failure;

/// Which kind of ICMP socket a probe used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketKind {
    /// `SOCK_DGRAM` + `IPPROTO_ICMP(V6)`: unprivileged, allowed to the groups in
    /// `net.ipv4.ping_group_range`; the kernel picks the echo identifier and checksums.
    Datagram,
    /// `SOCK_RAW`: needs root or CAP_NET_RAW; sees every ICMP message the host receives.
    Raw,
}

/// One datagram as read: its length, sender and the TTL (hop limit) it arrived with.
pub(super) struct Datagram {
    pub len: usize,
    pub from: Option<IpAddr>,
    pub ttl: Option<u8>,
    /// The datagram was longer than the buffer (and cut): it cannot be ours.
    pub truncated: bool,
}

/// A non-blocking ICMP socket registered with tokio: a `UdpSocket` to tokio, which only sees a
/// datagram socket's descriptor (`sendto` and `recvmsg` work alike on ICMP sockets).
pub(super) struct IcmpSocket {
    io: UdpSocket,
    kind: SocketKind,
}

impl IcmpSocket {
    /// A datagram socket for echoes to `ip`; `Ok(Err(e))` when the kernel refuses one (`e`
    /// from `socket()`: the caller then tries a raw socket), `Err` when it opened but could not
    /// be set up.
    pub fn datagram(ip: IpAddr, dont_fragment: bool) -> Result<io::Result<IcmpSocket>, Failure> {
        IcmpSocket::open(ip, SocketKind::Datagram, dont_fragment, None)
    }

    /// A raw socket for echoes to `ip`, passing only what `filter` accepts; `Ok(Err(e))` when
    /// the kernel refuses one (no root, no CAP_NET_RAW), `Err` when it could not be set up.
    pub fn raw(
        ip: IpAddr,
        dont_fragment: bool,
        filter: &[SockFilter],
    ) -> Result<io::Result<IcmpSocket>, Failure> {
        IcmpSocket::open(ip, SocketKind::Raw, dont_fragment, Some(filter))
    }

    fn open(
        ip: IpAddr,
        kind: SocketKind,
        dont_fragment: bool,
        filter: Option<&[SockFilter]>,
    ) -> Result<io::Result<IcmpSocket>, Failure> {
        let (domain, protocol) = match ip {
            IpAddr::V4(_) => (Domain::IPV4, Protocol::ICMPV4),
            IpAddr::V6(_) => (Domain::IPV6, Protocol::ICMPV6),
        };
        let ty = match kind {
            SocketKind::Datagram => Type::DGRAM,
            SocketKind::Raw => Type::RAW,
        };
        let socket = match Socket::new(domain, ty, Some(protocol)) {
            Ok(s) => s,
            Err(e) => return Ok(Err(e)),
        };
        let setup = |what: &str, e: io::Error| {
            Failure::new(
                ErrorKind::Internal,
                format!("cannot {what} on the ICMP socket for {ip}: {e}"),
            )
        };
        socket
            .set_nonblocking(true)
            .map_err(|e| setup("set non-blocking mode", e))?;
        if let Some(filter) = filter {
            socket
                .attach_filter(filter)
                .map_err(|e| setup("attach the echo-reply filter", e))?;
        }
        let fd = socket.as_raw_fd();
        // The reply's TTL is a nicety: a kernel that cannot report it leaves `reply_ttl` empty.
        let _ = match ip {
            IpAddr::V4(_) => set_int_option(fd, libc::IPPROTO_IP, libc::IP_RECVTTL, 1),
            IpAddr::V6(_) => set_int_option(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVHOPLIMIT, 1),
        };
        if dont_fragment {
            match ip {
                IpAddr::V4(_) => set_int_option(
                    fd,
                    libc::IPPROTO_IP,
                    libc::IP_MTU_DISCOVER,
                    libc::IP_PMTUDISC_DO,
                ),
                IpAddr::V6(_) => set_int_option(fd, libc::IPPROTO_IPV6, libc::IPV6_DONTFRAG, 1),
            }
            .map_err(|e| setup("set don't-fragment", e))?;
        }
        let io = UdpSocket::from_std(socket.into()).map_err(|e| setup("register", e))?;
        Ok(Ok(IcmpSocket { io, kind }))
    }

    /// The kind of socket opened.
    pub fn kind(&self) -> SocketKind {
        self.kind
    }

    /// Sends `packet` (an ICMP message) to `ip`.
    pub async fn send_to(&self, packet: &[u8], ip: IpAddr) -> io::Result<()> {
        self.io
            .send_to(packet, SocketAddr::new(ip, 0))
            .await
            .map(|_| ())
    }

    /// Reads the next datagram into `buf`. Cancel-safe: nothing is read until the socket is
    /// ready, and then without awaiting.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<Datagram> {
        let fd = self.io.as_raw_fd();
        loop {
            self.io.readable().await?;
            match self.io.try_io(Interest::READABLE, || recvmsg(fd, buf)) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                result => return result,
            }
        }
    }
}

/// A classic BPF program for the shared raw socket that passes echo replies and drops
/// everything else in the kernel, as iputils' `ping` does (with its identifier too: ours are
/// many, one per probe in flight, and dispatched by the receiving task). A raw socket receives
/// every ICMP message of the host: without the filter it would wake for every request (on
/// loopback each one arrives too) and every error message. What passes is still checked in
/// full: identifier by the receiving task; sender, checksum, sequence and cookie by the probe.
///
/// An IPv4 raw socket reads the IP header first (its length from the IHL field); an IPv6 one
/// starts at the ICMPv6 header.
pub(super) fn echo_reply_filter(v6: bool) -> Vec<SockFilter> {
    const LD: u16 = 0x00;
    const LDX: u16 = 0x01;
    const JMP: u16 = 0x05;
    const RET: u16 = 0x06;
    const B: u16 = 0x10;
    const ABS: u16 = 0x20;
    const IND: u16 = 0x40;
    const MSH: u16 = 0xa0;
    const JEQ: u16 = 0x10;
    const K: u16 = 0x00;
    let accept = SockFilter::new(RET | K, 0, 0, u32::MAX);
    let drop = SockFilter::new(RET | K, 0, 0, 0);
    if v6 {
        vec![
            SockFilter::new(LD | B | ABS, 0, 0, 0),
            SockFilter::new(JMP | JEQ | K, 0, 1, u32::from(packet::ECHO_REPLY_V6)),
            accept,
            drop,
        ]
    } else {
        vec![
            // X = the IP header's length: 4 * (byte 0 & 0xf).
            SockFilter::new(LDX | B | MSH, 0, 0, 0),
            SockFilter::new(LD | B | IND, 0, 0, 0),
            SockFilter::new(JMP | JEQ | K, 0, 1, u32::from(packet::ECHO_REPLY_V4)),
            accept,
            drop,
        ]
    }
}

/// A BPF program that drops everything: for a raw socket that only sends (the shared
/// don't-fragment sender), so that the kernel queues it nothing.
pub(super) fn drop_all_filter() -> Vec<SockFilter> {
    vec![SockFilter::new(0x06, 0, 0, 0)]
}

/// Why neither socket could be opened. Permission errors say what to change (the sysctl, the
/// capability), never that the host is down.
pub(super) fn open_failure(ip: IpAddr, dgram: &io::Error, raw: &io::Error) -> Failure {
    let denied = |e: &io::Error| e.kind() == io::ErrorKind::PermissionDenied;
    if denied(raw) {
        // SAFETY: geteuid and getegid cannot fail and touch no memory of ours.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        let range = std::fs::read_to_string("/proc/sys/net/ipv4/ping_group_range")
            .map(|r| format!("\"{}\"", r.split_whitespace().collect::<Vec<_>>().join(" ")))
            .unwrap_or_else(|_| "unreadable".to_owned());
        let binary = std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| "<the uptimer binary>".to_owned());
        let dgram_reason = if denied(dgram) {
            format!("group {gid} is outside net.ipv4.ping_group_range ({range})")
        } else {
            format!("{dgram}")
        };
        return Failure::new(
            ErrorKind::Permission,
            format!(
                "not allowed to send ICMP echo requests (uid {uid}): no unprivileged ICMP \
                 socket ({dgram_reason}) and no raw socket (needs root or CAP_NET_RAW: {raw}); \
                 allow the group with `sysctl -w net.ipv4.ping_group_range=\"0 2147483647\"` \
                 (docker: --sysctl net.ipv4.ping_group_range=\"0 2147483647\"), \
                 or grant the capability with `setcap cap_net_raw+ep {binary}`"
            ),
        );
    }
    let family = if ip.is_ipv6() { "ICMPv6" } else { "ICMP" };
    Failure::new(
        ErrorKind::Connect,
        format!("cannot open an {family} socket for {ip}: {raw} (datagram socket: {dgram})"),
    )
}

/// `setsockopt` with an `int` value.
fn set_int_option(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: `value` lives across the call and its exact size is passed.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Control-message space: room for both TTL messages (`int` each) with their headers.
#[repr(C, align(8))]
struct Control([u8; 128]);

/// One `recvmsg` on a non-blocking socket: the datagram into `buf`, its sender, and the TTL
/// (IPv4, `IP_TTL`) or hop limit (IPv6, `IPV6_HOPLIMIT`) from the control messages.
fn recvmsg(fd: RawFd, buf: &mut [u8]) -> io::Result<Datagram> {
    let mut control = Control([0; 128]);
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut result = (0usize, None, false);
    // SAFETY: try_init hands us zeroed sockaddr storage and its length to fill; every pointer
    // put in `msg` (storage, iovec, buffer, control) points to memory that outlives the call,
    // with its true size.
    let (_, addr) = unsafe {
        SockAddr::try_init(|storage, len| {
            let mut msg: libc::msghdr = std::mem::zeroed();
            msg.msg_name = storage.cast();
            msg.msg_namelen = *len;
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = control.0.as_mut_ptr().cast();
            msg.msg_controllen = control.0.len() as _;
            let n = libc::recvmsg(fd, &mut msg, 0);
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            *len = msg.msg_namelen;
            result = (
                n as usize,
                control_ttl(&msg),
                msg.msg_flags & libc::MSG_TRUNC != 0,
            );
            Ok(())
        })?
    };
    let (len, ttl, truncated) = result;
    Ok(Datagram {
        len: len.min(buf.len()),
        from: addr.as_socket().map(|a| a.ip()),
        ttl,
        truncated,
    })
}

/// The TTL or hop limit among the control messages `recvmsg` left in `msg`.
///
/// # Safety
/// `msg` must be as `recvmsg` returned it, its control buffer still alive.
unsafe fn control_ttl(msg: &libc::msghdr) -> Option<u8> {
    let mut ttl = None;
    // SAFETY (whole loop): CMSG_FIRSTHDR and CMSG_NXTHDR stay within msg_controllen, which
    // the kernel set to what it wrote, and return null past the end; the data is read
    // unaligned and only when the header says it holds a whole int.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(msg);
        while !cmsg.is_null() {
            let hdr = &*cmsg;
            let is_ttl = (hdr.cmsg_level == libc::IPPROTO_IP && hdr.cmsg_type == libc::IP_TTL)
                || (hdr.cmsg_level == libc::IPPROTO_IPV6 && hdr.cmsg_type == libc::IPV6_HOPLIMIT);
            let whole =
                hdr.cmsg_len as usize >= libc::CMSG_LEN(size_of::<libc::c_int>() as u32) as usize;
            if is_ttl && whole {
                let value: libc::c_int =
                    std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::c_int>());
                ttl = u8::try_from(value).ok();
            }
            cmsg = libc::CMSG_NXTHDR(msg, cmsg);
        }
    }
    ttl
}
