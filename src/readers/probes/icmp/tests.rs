//! ICMP probes of real addresses: 127.0.0.1 and ::1, and addresses inside network namespaces
//! the tests create (no route, a silent route, a small MTU, closed or open
//! `ping_group_range`), as root and as an unprivileged user. Nothing leaves the machine: every
//! address outside loopback is probed from inside a namespace whose only interface is `lo`.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::*;

fn v4() -> IpAddr {
    "127.0.0.1".parse().unwrap()
}

fn v6() -> IpAddr {
    "::1".parse().unwrap()
}

fn check(count: u32, payload_size: usize) -> IcmpCheck {
    IcmpCheck {
        count,
        payload_size,
        dont_fragment: false,
        addr: Default::default(),
    }
}

async fn ping(
    ip: IpAddr,
    check: IcmpCheck,
    timeout: Duration,
) -> (Result<(), Failure>, IcmpRecord) {
    // Sockets of its own: a probe in a network namespace must not reuse another's.
    ping_with(&RawSockets::new(), ip, check, timeout).await
}

async fn ping_with(
    raw: &RawSockets,
    ip: IpAddr,
    check: IcmpCheck,
    timeout: Duration,
) -> (Result<(), Failure>, IcmpRecord) {
    let mut rec = IcmpRecord::default();
    let result = probe(raw, ip, &check, timeout, &mut rec).await;
    (result, rec)
}

/// Every request answered: counts, loss, round-trip times in order, the TTL, `ttfb`.
#[track_caller]
fn assert_all_answered(result: &Result<(), Failure>, rec: &IcmpRecord, count: u32) {
    assert_eq!(result, &Ok(()), "{rec:?}");
    let d = &rec.details;
    assert_eq!(
        (d.sent, d.received, d.loss_percent),
        (count, count, 0.0),
        "{rec:?}"
    );
    let (min, avg, max) = (
        d.rtt_min_ms.unwrap(),
        d.rtt_avg_ms.unwrap(),
        d.rtt_max_ms.unwrap(),
    );
    assert!(
        0.0 <= min && min <= avg && avg <= max && max < 1000.0,
        "{rec:?}"
    );
    // Linux's default TTL and hop limit, one hop away on loopback.
    assert_eq!(d.reply_ttl, Some(64), "{rec:?}");
    assert!(rec.phases.ttfb.is_some_and(|t| t >= 0.0), "{rec:?}");
    assert_eq!(rec.phase, "echo");
}

#[track_caller]
fn require_root() {
    // SAFETY: geteuid cannot fail.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "the ICMP tests run as root: they open raw sockets and create network namespaces"
    );
}

async fn pings_loopback(ip: IpAddr) {
    require_root();
    for (count, size) in [(1, 0), (1, 56), (3, 56), (1, 1400), (3, 1400)] {
        let (result, rec) = ping(ip, check(count, size), Duration::from_secs(2)).await;
        eprintln!("{ip} count {count} payload {size}: {rec:?}");
        assert_all_answered(&result, &rec, count);
    }
}

#[tokio::test]
async fn pings_127_0_0_1_with_one_and_three_requests_of_56_and_1400_bytes() {
    pings_loopback(v4()).await;
}

#[tokio::test]
async fn pings_ipv6_loopback_with_one_and_three_requests_of_56_and_1400_bytes() {
    pings_loopback(v6()).await;
}

#[tokio::test]
async fn three_requests_are_spaced_within_the_first_half_of_the_timeout() {
    require_root();
    let start = Instant::now();
    let (result, rec) = ping(v4(), check(3, 0), Duration::from_millis(1200)).await;
    let took = start.elapsed();
    assert_all_answered(&result, &rec, 3);
    // Sent at 0, 200 and 400 ms (1.2 s / 6), done once the third reply is in.
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_millis(1000),
        "{took:?}"
    );
}

#[tokio::test]
async fn concurrent_probes_count_only_their_own_replies() {
    require_root();
    let checks: Vec<(IpAddr, IcmpCheck)> = (0..12)
        .map(|i| (if i % 2 == 0 { v4() } else { v6() }, check(3, 8 + i)))
        .collect();
    let probes = checks
        .iter()
        .map(|(ip, c)| ping(*ip, c.clone(), Duration::from_secs(2)));
    for (result, rec) in futures_util::future::join_all(probes).await {
        assert_all_answered(&result, &rec, 3);
    }
}

#[tokio::test]
async fn invalid_options_are_refused_before_any_socket_is_opened() {
    for (c, key) in [
        (check(0, 0), "icmp.count"),
        (check(MAX_COUNT + 1, 0), "icmp.count"),
        (check(1, MAX_PAYLOAD_SIZE + 1), "icmp.payload_size"),
    ] {
        let e = c.validate().unwrap_err();
        assert!(e.starts_with(key), "{e}");
        let (result, rec) = ping(v4(), c, Duration::from_secs(1)).await;
        assert_eq!(result, Err(Failure::new(ErrorKind::Internal, e)));
        assert_eq!((rec.socket, rec.details.sent), (None, 0));
    }
    assert_eq!(IcmpCheck::default().validate(), Ok(()));
    assert_eq!(check(MAX_COUNT, MAX_PAYLOAD_SIZE).validate(), Ok(()));
}

// ---- matching, loss and times, without a socket -------------------------------------------

fn echoes(kind: SocketKind, sent: u32) -> Echoes {
    let mut e = Echoes::new(v4(), &check(3, 0));
    e.kind = kind;
    for _ in 0..sent {
        e.sent_at.push(tokio::time::Instant::now());
        e.sent += 1;
    }
    e
}

/// A well-formed ICMPv4 echo reply to request `index` of `e`, as a datagram socket reads it.
fn reply_to(e: &Echoes, index: u16, ident: u16, data: &[u8]) -> Vec<u8> {
    let mut r = packet::echo_request(false, ident, e.first_seq.wrapping_add(index), data);
    r[0] = 0;
    set_checksum(&mut r);
    r
}

/// Recomputes an ICMPv4 message's checksum.
fn set_checksum(m: &mut [u8]) {
    m[2..4].copy_from_slice(&[0, 0]);
    let sum = packet::checksum(m);
    m[2..4].copy_from_slice(&sum.to_be_bytes());
}

fn datagram(buf: &[u8], from: IpAddr) -> Datagram {
    Datagram {
        len: buf.len(),
        from: Some(from),
        ttl: Some(61),
        truncated: false,
    }
}

#[test]
fn a_reply_counts_once_for_a_request_sent_with_the_same_payload() {
    let mut e = echoes(SocketKind::Datagram, 2);
    let payload = e.payload.clone();
    // The kernel rewrote the identifier: a datagram socket does not check it.
    let r = reply_to(&e, 1, 4242, &payload);
    assert_eq!(e.reply(&r, &datagram(&r, v4())), Some((1, Some(61))));
    // A duplicate, a reply to a request not sent yet, another payload, another sender, a
    // truncated datagram, a length beyond the buffer.
    assert_eq!(e.reply(&r, &datagram(&r, v4())), None);
    let r2 = reply_to(&e, 2, 4242, &payload);
    assert_eq!(e.reply(&r2, &datagram(&r2, v4())), None);
    let mut other = payload.clone();
    other[0] ^= 1;
    let r0 = reply_to(&e, 0, 4242, &other);
    assert_eq!(e.reply(&r0, &datagram(&r0, v4())), None);
    let r0 = reply_to(&e, 0, 4242, &payload);
    assert_eq!(
        e.reply(&r0, &datagram(&r0, "127.0.0.2".parse().unwrap())),
        None
    );
    let mut cut = datagram(&r0, v4());
    cut.truncated = true;
    assert_eq!(e.reply(&r0, &cut), None);
    let mut long = datagram(&r0, v4());
    long.len = r0.len() + 1;
    assert_eq!(e.reply(&r0, &long), None);
    let mut nobody = datagram(&r0, v4());
    nobody.from = None;
    assert_eq!(e.reply(&r0, &nobody), None);
    assert_eq!(e.reply(&r0, &datagram(&r0, v4())), Some((0, Some(61))));
}

#[test]
fn a_raw_socket_checks_the_identifier_and_strips_the_ip_header() {
    let mut e = echoes(SocketKind::Raw, 1);
    let payload = e.payload.clone();
    let with_header = |icmp: &[u8]| {
        let mut p = vec![
            0x45, 0, 0, 0, 0, 0, 0, 0, 50, 1, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1,
        ];
        p.extend_from_slice(icmp);
        p
    };
    let foreign = with_header(&reply_to(&e, 0, e.ident.wrapping_add(1), &payload));
    assert_eq!(e.reply(&foreign, &datagram(&foreign, v4())), None);
    let bare = reply_to(&e, 0, e.ident, &payload);
    assert_eq!(e.reply(&bare, &datagram(&bare, v4())), None, "no IP header");
    let ours = with_header(&bare);
    let mut d = datagram(&ours, v4());
    d.ttl = None;
    assert_eq!(
        e.reply(&ours, &d),
        Some((0, Some(50))),
        "TTL from the header"
    );
}

#[test]
fn loss_and_round_trip_times_follow_each_reply() {
    let mut d = IcmpDetails::default();
    update_loss(&mut d);
    assert_eq!(d.loss_percent, 100.0, "nothing sent yet");
    d.sent = 3;
    update_loss(&mut d);
    let mut rtts = Vec::new();
    record_reply(&mut d, &mut rtts, Duration::from_micros(1500), Some(64));
    record_reply(&mut d, &mut rtts, Duration::from_micros(500), None);
    assert_eq!(d.received, 2);
    assert_eq!(d.loss_percent, 33.333);
    assert_eq!(
        (d.rtt_min_ms, d.rtt_avg_ms, d.rtt_max_ms, d.reply_ttl),
        (Some(0.5), Some(1.0), Some(1.5), Some(64))
    );
}

#[test]
fn requests_go_out_within_half_the_timeout_at_most_a_second_apart() {
    assert_eq!(spacing(Duration::from_secs(5), 1), Duration::ZERO);
    assert_eq!(
        spacing(Duration::from_secs(3), 3),
        Duration::from_millis(500)
    );
    assert_eq!(spacing(Duration::from_secs(60), 3), Duration::from_secs(1));
}

// ---- network namespaces --------------------------------------------------------------------

/// Finds `tool` on PATH (and in the sbin directories root's PATH may lack), else fails the
/// test naming the Debian package to install.
#[track_caller]
fn require_tool(tool: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|dir| dir.join(tool))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{tool}` not found: the ICMP tests need it (install Debian's {package}: \
                 apt-get install {package}; scripts/test does)"
            )
        })
}

/// A network namespace of the test with `lo` up; deleted when dropped, a failed test too.
struct NetNs {
    name: String,
    ip: PathBuf,
}

impl NetNs {
    fn new() -> NetNs {
        require_root();
        static N: AtomicU32 = AtomicU32::new(0);
        let ip = require_tool("ip", "iproute2");
        let name = format!(
            "uptimer-icmp-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        run(Command::new(&ip).args(["netns", "add", &name]));
        let ns = NetNs { name, ip };
        ns.run(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    /// Runs a command inside the namespace; it must succeed.
    fn run(&self, args: &[&str]) {
        run(Command::new(&self.ip)
            .args(["netns", "exec", &self.name])
            .args(args));
    }

    fn sysctl(&self, key: &str, value: &str) {
        self.run(&["sysctl", "-q", "-w", &format!("{key}={value}")]);
    }

    /// Runs `f` on a thread of its own moved into the namespace (a network namespace is per
    /// thread), with a current-thread tokio runtime, so its sockets belong to the namespace.
    fn block_on<F: Future + Send>(&self, f: impl FnOnce() -> F + Send) -> F::Output
    where
        F::Output: Send,
    {
        std::thread::scope(|s| {
            s.spawn(|| {
                self.enter();
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(f())
            })
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e))
        })
    }

    /// Moves the calling thread into the namespace.
    fn enter(&self) {
        let file = std::fs::File::open(Path::new("/run/netns").join(&self.name)).unwrap();
        // SAFETY: a valid namespace descriptor; only this thread changes namespace.
        let rc = unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&file), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new(&self.ip)
            .args(["netns", "del", &self.name])
            .status();
    }
}

#[track_caller]
fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?}: {}\n{text}", out.status);
    text
}

#[test]
fn an_address_that_never_answers_times_out_with_full_loss() {
    let ns = NetNs::new();
    // Routed to lo, not local, and not forwarded: dropped without a word.
    ns.run(&["ip", "route", "add", "192.0.2.0/24", "dev", "lo"]);
    ns.run(&["ip", "-6", "route", "add", "2001:db8::/32", "dev", "lo"]);
    for ip in ["192.0.2.1", "2001:db8::1"] {
        let ip: IpAddr = ip.parse().unwrap();
        let start = Instant::now();
        let (result, rec) = ns.block_on(|| ping(ip, check(2, 0), Duration::from_millis(800)));
        let took = start.elapsed();
        let failure = result.unwrap_err();
        assert_eq!(failure.kind, ErrorKind::Timeout, "{failure}");
        assert_eq!(
            failure.message,
            format!("no echo reply from {ip} within 0.8s (2 sent)")
        );
        let d = &rec.details;
        assert_eq!(
            (d.sent, d.received, d.loss_percent),
            (2, 0, 100.0),
            "{rec:?}"
        );
        assert_eq!(
            (d.rtt_avg_ms, d.reply_ttl, rec.phases.ttfb),
            (None, None, None)
        );
        assert!(
            took >= Duration::from_millis(800) && took < Duration::from_millis(1300),
            "{took:?}"
        );
    }
}

#[test]
fn a_caller_timeout_keeps_the_requests_sent_as_lost() {
    let ns = NetNs::new();
    ns.run(&["ip", "route", "add", "192.0.2.0/24", "dev", "lo"]);
    let rec = ns.block_on(|| async {
        let mut rec = IcmpRecord::default();
        let ip = "192.0.2.1".parse().unwrap();
        // Requests at 0 and 500 ms (3 s / 6); the caller gives up at 700 ms.
        let three = check(3, 0);
        let raw = RawSockets::new();
        let probe = probe(&raw, ip, &three, Duration::from_secs(3), &mut rec);
        assert!(
            tokio::time::timeout(Duration::from_millis(700), probe)
                .await
                .is_err()
        );
        rec
    });
    assert_eq!(rec.phase, "echo");
    let d = &rec.details;
    assert_eq!(
        (d.sent, d.received, d.loss_percent),
        (2, 0, 100.0),
        "{rec:?}"
    );
}

#[test]
fn no_route_is_a_connect_failure() {
    let ns = NetNs::new();
    for ip in ["10.11.12.13", "2001:db8::1"] {
        let ip: IpAddr = ip.parse().unwrap();
        let (result, rec) = ns.block_on(|| ping(ip, check(1, 0), Duration::from_secs(1)));
        let failure = result.unwrap_err();
        assert_eq!(failure.kind, ErrorKind::Connect, "{failure}");
        assert!(
            failure.message.starts_with(&format!(
                "cannot send an echo request of 24 bytes to {ip}: Network is unreachable"
            )),
            "{failure}"
        );
        assert_eq!((rec.details.sent, rec.details.loss_percent), (0, 100.0));
    }
}

#[test]
fn dont_fragment_refuses_a_request_larger_than_the_mtu() {
    let ns = NetNs::new();
    // IPv6's minimum MTU: 1400 bytes of payload need two fragments.
    ns.run(&["ip", "link", "set", "lo", "mtu", "1280"]);
    for ip in [v4(), v6()] {
        let fragmented = IcmpCheck {
            dont_fragment: false,
            ..check(1, 1400)
        };
        let (result, rec) = ns.block_on(|| ping(ip, fragmented, Duration::from_secs(1)));
        assert_all_answered(&result, &rec, 1);
        let whole = IcmpCheck {
            dont_fragment: true,
            ..check(1, 1400)
        };
        let (result, _) = ns.block_on(|| ping(ip, whole, Duration::from_secs(1)));
        let failure = result.unwrap_err();
        assert_eq!(failure.kind, ErrorKind::Connect, "{failure}");
        assert!(
            failure.message.starts_with(&format!(
                "cannot send an echo request of 1408 bytes to {ip}: Message too long"
            )),
            "{failure}"
        );
        let small = IcmpCheck {
            dont_fragment: true,
            ..check(1, 1000)
        };
        let (result, rec) = ns.block_on(|| ping(ip, small, Duration::from_secs(1)));
        assert_all_answered(&result, &rec, 1);
    }
}

#[test]
fn root_uses_a_datagram_socket_where_ping_group_range_allows_it_else_a_raw_one() {
    let ns = NetNs::new();
    for (range, kind) in [
        ("1 0", SocketKind::Raw),
        ("0 2147483647", SocketKind::Datagram),
    ] {
        ns.sysctl("net.ipv4.ping_group_range", range);
        for ip in [v4(), v6()] {
            let (result, rec) = ns.block_on(|| ping(ip, check(2, 56), Duration::from_secs(1)));
            assert_all_answered(&result, &rec, 2);
            assert_eq!(rec.socket, Some(kind), "{ip} with ping_group_range {range}");
        }
    }
}

/// Packets a hostile or confused host could send to a raw socket, as ICMP messages: empty,
/// short, of another type, echo replies with every sequence number but not our cookie,
/// garbled, and large.
fn hostile_messages(v6: bool) -> Vec<Vec<u8>> {
    let reply = if v6 { 129 } else { 0 };
    let mut out: Vec<Vec<u8>> = (0..8).map(|n| vec![reply; n]).collect();
    out.push(vec![3, 1, 0, 0, 0, 0, 0, 0]);
    out.push(vec![0xff; 65_000]);
    for seq in (0..=u16::MAX).step_by(7) {
        let mut m = packet::echo_request(v6, seq ^ 0x5a5a, seq, b"\0\0\0\0\0\0\0\0uptimer ");
        m[0] = reply;
        if !v6 {
            set_checksum(&mut m);
        }
        out.push(m);
    }
    out
}

#[test]
fn hostile_packets_are_skipped_and_the_probe_ends_on_time() {
    let ns = NetNs::new();
    // Nothing answers echo requests: only the forged messages arrive.
    ns.sysctl("net.ipv4.icmp_echo_ignore_all", "1");
    ns.sysctl("net.ipv6.icmp.echo_ignore_all", "1");
    for ip in [v4(), v6()] {
        let start = Instant::now();
        let ((result, rec), forged) = std::thread::scope(|s| {
            let forger = s.spawn(|| {
                ns.enter();
                let (domain, protocol) = if ip.is_ipv6() {
                    (socket2::Domain::IPV6, socket2::Protocol::ICMPV6)
                } else {
                    (socket2::Domain::IPV4, socket2::Protocol::ICMPV4)
                };
                let sock =
                    socket2::Socket::new(domain, socket2::Type::RAW, Some(protocol)).unwrap();
                let to = socket2::SockAddr::from(std::net::SocketAddr::new(ip, 0));
                let messages = hostile_messages(ip.is_ipv6());
                let mut sent = 0usize;
                // Twice over, for at most 0.9 s (the probe waits 1 s).
                for m in messages.iter().chain(&messages) {
                    if start.elapsed() > Duration::from_millis(900) {
                        break;
                    }
                    sent += usize::from(sock.send_to(m, &to).is_ok());
                }
                sent
            });
            let probed = ns.block_on(|| ping(ip, check(3, 0), Duration::from_secs(1)));
            (probed, forger.join().unwrap())
        });
        let took = start.elapsed();
        assert!(forged > 1000, "{ip}: only {forged} forged messages sent");
        let failure = result.unwrap_err();
        assert_eq!(failure.kind, ErrorKind::Timeout, "{ip}: {failure} {rec:?}");
        assert_eq!((rec.details.sent, rec.details.received), (3, 0), "{rec:?}");
        assert_eq!(rec.socket, Some(SocketKind::Raw));
        assert!(took < Duration::from_millis(1500), "{ip}: {took:?}");
    }
}

#[test]
fn the_shared_raw_socket_receives_only_echo_replies() {
    let ns = NetNs::new();
    ns.sysctl("net.ipv4.icmp_echo_ignore_all", "1");
    ns.sysctl("net.ipv6.icmp.echo_ignore_all", "1");
    for ip in [v4(), v6()] {
        let v6 = ip.is_ipv6();
        let (reply_type, request_type) = if v6 { (129, 128) } else { (0, 8) };
        let got = ns.block_on(|| async move {
            let socket = IcmpSocket::raw(ip, false, &socket::echo_reply_filter(v6))
                .unwrap()
                .unwrap();
            let forger = Forger::new(ip);
            // Requests, error messages: dropped; replies of any identifier pass.
            for seq in 0..50 {
                forger.send(request_type, 0x1234, seq);
                forger.send(3, 0x1234, seq);
            }
            forger.send(reply_type, 0x1234, 7);
            forger.send(reply_type, 0x4321, 8);
            let mut buf = vec![0u8; 1500];
            let mut seqs = Vec::new();
            while let Ok(got) =
                tokio::time::timeout(Duration::from_millis(300), socket.recv(&mut buf)).await
            {
                let d = got.unwrap();
                let message = if v6 {
                    &buf[..d.len]
                } else {
                    packet::strip_ipv4_header(&buf[..d.len]).unwrap().0
                };
                let reply = packet::echo_reply(v6, message).expect("an echo reply");
                seqs.push((reply.ident, reply.seq));
            }
            seqs
        });
        assert_eq!(got, vec![(0x1234, 7), (0x4321, 8)], "{ip}");
    }
}

/// Sends forged ICMP messages to an address through a raw socket of its own.
struct Forger {
    socket: socket2::Socket,
    to: socket2::SockAddr,
    v6: bool,
}

impl Forger {
    fn new(ip: IpAddr) -> Forger {
        let (domain, protocol) = if ip.is_ipv6() {
            (socket2::Domain::IPV6, socket2::Protocol::ICMPV6)
        } else {
            (socket2::Domain::IPV4, socket2::Protocol::ICMPV4)
        };
        Forger {
            socket: socket2::Socket::new(domain, socket2::Type::RAW, Some(protocol)).unwrap(),
            to: socket2::SockAddr::from(std::net::SocketAddr::new(ip, 0)),
            v6: ip.is_ipv6(),
        }
    }

    /// A message of type `kind` with `ident` and `seq`, and a payload no probe sends.
    fn send(&self, kind: u8, ident: u16, seq: u16) {
        let mut m = packet::echo_request(self.v6, ident, seq, b"filtered");
        m[0] = kind;
        if !self.v6 {
            set_checksum(&mut m);
        }
        self.socket.send_to(&m, &self.to).unwrap();
    }
}

// ---- the shared raw socket -----------------------------------------------------------------

/// A namespace where root pings with raw sockets (`ping_group_range` closed) and where
/// 192.0.2.0/24 and 2001:db8::/32 are routed to `lo` and never answer.
fn raw_ns() -> NetNs {
    let ns = NetNs::new();
    ns.sysctl("net.ipv4.ping_group_range", "1 0");
    ns.run(&["ip", "route", "add", "192.0.2.0/24", "dev", "lo"]);
    ns.run(&["ip", "-6", "route", "add", "2001:db8::/32", "dev", "lo"]);
    ns
}

fn silent(ip: IpAddr) -> IpAddr {
    let s = if ip.is_ipv6() {
        "2001:db8::1"
    } else {
        "192.0.2.1"
    };
    s.parse().unwrap()
}

#[test]
fn many_concurrent_pings_share_one_raw_socket_and_each_gets_its_own_replies() {
    let ns = raw_ns();
    for ip in [v4(), v6()] {
        let (outcomes, waiting, stray) = ns.block_on(|| async move {
            let raw = RawSockets::new();
            let probes =
                (0..200).map(|i| ping_with(&raw, ip, check(3, 8 + i % 50), Duration::from_secs(3)));
            let outcomes = futures_util::future::join_all(probes).await;
            (outcomes, raw.waiting(ip), raw.stray(ip))
        });
        for (result, rec) in &outcomes {
            assert_all_answered(result, rec, 3);
            assert_eq!(rec.socket, Some(SocketKind::Raw), "{ip}");
        }
        // Every reply reached the probe its identifier named (the cookie check would have
        // turned a reply handed to the wrong probe into loss), and nothing was left behind.
        assert_eq!((waiting, stray), (0, 0), "{ip}");
    }
}

#[test]
fn identifiers_are_unique_among_probes_in_flight_and_freed_when_they_end() {
    let ns = raw_ns();
    for ip in [v4(), v6()] {
        ns.block_on(|| async move {
            let raw = RawSockets::new();
            let members: Vec<_> = (0..3000)
                .map(|_| raw.join(ip, false, 24, 2).unwrap().unwrap())
                .collect();
            let idents: std::collections::HashSet<u16> =
                members.iter().map(|m| m.ident()).collect();
            assert_eq!(idents.len(), 3000, "{ip}");
            assert_eq!(raw.waiting(ip), 3000);
            drop(members);
            assert_eq!(raw.waiting(ip), 0, "{ip}");
        });
    }
}

#[test]
fn a_cancelled_or_timed_out_probe_leaves_no_entry_behind() {
    let ns = raw_ns();
    for ip in [v4(), v6()] {
        ns.block_on(|| async move {
            let raw = RawSockets::new();
            let mut rec = IcmpRecord::default();
            let three = check(3, 0);
            let mut probe = Box::pin(probe(
                &raw,
                silent(ip),
                &three,
                Duration::from_secs(3),
                &mut rec,
            ));
            tokio::select! {
                _ = &mut probe => panic!("{ip}: the probe ended before its timeout"),
                _ = tokio::time::sleep(Duration::from_millis(300)) => {}
            }
            assert_eq!(raw.waiting(ip), 1, "{ip}: the probe in flight");
            drop(probe);
            assert_eq!(raw.waiting(ip), 0, "{ip}: cancelled");
            let (result, _) =
                ping_with(&raw, silent(ip), check(1, 0), Duration::from_millis(200)).await;
            assert_eq!(result.unwrap_err().kind, ErrorKind::Timeout);
            assert_eq!(raw.waiting(ip), 0, "{ip}: timed out");
        });
    }
}

#[test]
fn replies_with_nobodys_identifier_are_counted_and_dropped() {
    let ns = raw_ns();
    for ip in [v4(), v6()] {
        let stray = ns.block_on(|| async move {
            let raw = RawSockets::new();
            let member = raw.join(ip, false, 24, 2).unwrap().unwrap();
            let forger = Forger::new(ip);
            let reply_type = if ip.is_ipv6() { 129 } else { 0 };
            for seq in 0..20 {
                forger.send(reply_type, member.ident().wrapping_add(1), seq);
            }
            // Ours, but not of the size the probe expects.
            forger.send(reply_type, member.ident(), 0);
            // Bounded: 2 s at most for 21 datagrams on loopback.
            for _ in 0..200 {
                if raw.stray(ip) >= 21 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            raw.stray(ip)
        });
        assert_eq!(stray, 21, "{ip}");
    }
}

#[test]
fn when_the_reading_task_ends_waiting_probes_fail_at_once_and_the_next_probe_reopens() {
    let ns = raw_ns();
    for ip in [v4(), v6()] {
        ns.block_on(|| async move {
            let raw = RawSockets::new();
            let start = Instant::now();
            let waiting = ping_with(&raw, silent(ip), check(1, 0), Duration::from_secs(3));
            let stop = async {
                tokio::time::sleep(Duration::from_millis(200)).await;
                raw.stop_reading(ip);
            };
            let ((result, rec), ()) = tokio::join!(waiting, stop);
            let failure = result.unwrap_err();
            assert_eq!(failure.kind, ErrorKind::Internal, "{ip}: {failure}");
            assert!(
                failure
                    .message
                    .starts_with(&format!("cannot read echo replies from {}: ", silent(ip))),
                "{failure}"
            );
            assert_eq!(rec.details.sent, 1);
            assert!(
                start.elapsed() < Duration::from_secs(1),
                "{:?}",
                start.elapsed()
            );
            let (result, rec) = ping_with(&raw, ip, check(2, 56), Duration::from_secs(2)).await;
            assert_all_answered(&result, &rec, 2);
        });
    }
}

// ---- an unprivileged user ------------------------------------------------------------------

/// The environment variable telling [`unprivileged_child`] what to probe and expect:
/// `ADDRESS datagram` (up through a datagram socket) or `ADDRESS permission`.
const CHILD_ENV: &str = "UPTIMER_ICMP_TEST_CHILD";

/// Run by [`unprivileged_probes_use_a_datagram_socket_else_report_permission`] as uid 65534
/// in its namespace; does nothing when run otherwise.
#[tokio::test]
#[ignore = "run by unprivileged_probes_use_a_datagram_socket_else_report_permission"]
async fn unprivileged_child() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (ip, expect) = spec.split_once(' ').unwrap();
    let ip: IpAddr = ip.parse().unwrap();
    let (result, rec) = ping(ip, check(2, 56), Duration::from_secs(1)).await;
    println!("child: uid {} {ip}: {result:?} {rec:?}", unsafe {
        libc::getuid()
    });
    match expect {
        "datagram" => {
            assert_all_answered(&result, &rec, 2);
            assert_eq!(rec.socket, Some(SocketKind::Datagram));
        }
        "permission" => {
            let failure = result.unwrap_err();
            assert_eq!(failure.kind, ErrorKind::Permission, "{failure}");
            for words in [
                "not allowed to send ICMP echo requests (uid 65534)",
                "group 65534 is outside net.ipv4.ping_group_range (\"1 0\")",
                "CAP_NET_RAW",
                "sysctl -w net.ipv4.ping_group_range=\"0 2147483647\"",
                "setcap cap_net_raw+ep ",
            ] {
                assert!(
                    failure.message.contains(words),
                    "{words:?} not in: {failure}"
                );
            }
            assert_eq!((rec.socket, rec.details.sent), (None, 0));
        }
        other => panic!("{CHILD_ENV}: unknown expectation {other:?}"),
    }
}

#[test]
fn unprivileged_probes_use_a_datagram_socket_else_report_permission() {
    let setpriv = require_tool("setpriv", "util-linux");
    let ns = NetNs::new();
    // The test executable, where uid 65534 may read and run it.
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("icmp-test");
    std::fs::copy(std::env::current_exe().unwrap(), &exe).unwrap();
    use std::os::unix::fs::PermissionsExt;
    for p in [dir.path(), exe.as_path()] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let child_test = concat!(module_path!(), "::unprivileged_child");
    let child_test = child_test.split_once("::").unwrap().1;
    for (range, expect) in [("0 2147483647", "datagram"), ("1 0", "permission")] {
        ns.sysctl("net.ipv4.ping_group_range", range);
        for ip in ["127.0.0.1", "::1"] {
            let out = run(Command::new(&ns.ip)
                .args(["netns", "exec", &ns.name])
                .arg(&setpriv)
                .args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
                .arg(&exe)
                .args(["--exact", child_test, "--ignored", "--nocapture"])
                .env(CHILD_ENV, format!("{ip} {expect}"))
                .current_dir(dir.path()));
            eprintln!("{out}");
            assert!(
                out.contains("1 passed"),
                "the child test did not run:\n{out}"
            );
            assert!(out.contains("child: uid 65534"), "{out}");
        }
    }
}
