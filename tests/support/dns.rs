//! A tiny authoritative DNS server on loopback (UDP, and TCP on the same port).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use hickory_proto::op::{Edns, Message, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA};
use hickory_proto::rr::{RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::{JoinHandle, JoinSet};

/// TTL of every DNS answer served by [`dns_server`].
pub const DNS_TTL: u32 = 60;

/// A tiny authoritative DNS server on `127.0.0.1` (UDP, and TCP on the same port if that could
/// be bound). Dropping it shuts it down.
pub struct DnsServer {
    /// UDP address (`127.0.0.1:PORT`).
    pub addr: SocketAddr,
    /// Whether TCP is also served on `addr`'s port.
    pub tcp: bool,
    queries: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl DnsServer {
    /// Number of DNS messages received so far (UDP + TCP).
    pub fn queries(&self) -> usize {
        self.queries.load(Ordering::SeqCst)
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Zone = Arc<HashMap<String, Vec<IpAddr>>>;

fn normalize_name(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// Build the wire-format answer for the wire-format query `buf` (None if unparseable).
fn dns_answer(zone: &Zone, buf: &[u8]) -> Option<Vec<u8>> {
    let req = match Message::from_vec(buf) {
        Ok(m) => m,
        Err(_) => {
            if buf.len() < 2 {
                return None;
            }
            let id = u16::from_be_bytes([buf[0], buf[1]]);
            let msg =
                Message::error_msg(id, hickory_proto::op::OpCode::Query, ResponseCode::FormErr);
            return msg.to_vec().ok();
        }
    };
    let mut resp = Message::response(req.metadata.id, req.metadata.op_code);
    resp.metadata.recursion_desired = req.metadata.recursion_desired;
    resp.metadata.checking_disabled = req.metadata.checking_disabled;
    resp.metadata.recursion_available = true;
    resp.metadata.authoritative = true;
    resp.add_queries(req.queries.iter().cloned());
    if req.edns.is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(1232);
        resp.set_edns(edns);
    }
    if let Some(q) = req.queries.first() {
        match zone.get(&normalize_name(&q.name().to_ascii())) {
            None => resp.metadata.response_code = ResponseCode::NXDomain,
            Some(ips) => {
                for ip in ips {
                    let rdata = match (q.query_type(), ip) {
                        (RecordType::A, IpAddr::V4(v4)) => RData::A(A(*v4)),
                        (RecordType::AAAA, IpAddr::V6(v6)) => RData::AAAA(AAAA(*v6)),
                        _ => continue,
                    };
                    resp.add_answer(Record::from_rdata(q.name().clone(), DNS_TTL, rdata));
                }
            }
        }
    } else {
        resp.metadata.response_code = ResponseCode::FormErr;
    }
    resp.to_vec().ok()
}

async fn dns_udp_loop(socket: UdpSocket, zone: Zone, queries: Arc<AtomicUsize>) {
    let mut buf = vec![0u8; 4096];
    loop {
        let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        queries.fetch_add(1, Ordering::SeqCst);
        if let Some(answer) = dns_answer(&zone, &buf[..n]) {
            let _ = socket.send_to(&answer, peer).await;
        }
    }
}

async fn dns_tcp_conn(mut stream: TcpStream, zone: Zone, queries: Arc<AtomicUsize>) {
    loop {
        let mut len = [0u8; 2];
        if stream.read_exact(&mut len).await.is_err() {
            return;
        }
        let mut msg = vec![0u8; u16::from_be_bytes(len) as usize];
        if stream.read_exact(&mut msg).await.is_err() {
            return;
        }
        queries.fetch_add(1, Ordering::SeqCst);
        let Some(answer) = dns_answer(&zone, &msg) else {
            return;
        };
        let Ok(alen) = u16::try_from(answer.len()) else {
            return;
        };
        let mut out = alen.to_be_bytes().to_vec();
        out.extend_from_slice(&answer);
        if stream.write_all(&out).await.is_err() {
            return;
        }
    }
}

async fn dns_tcp_loop(listener: TcpListener, zone: Zone, queries: Arc<AtomicUsize>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                if let Ok((stream, _)) = accepted {
                    conns.spawn(dns_tcp_conn(stream, zone.clone(), queries.clone()));
                }
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

/// DNS server answering A/AAAA queries for `records` (names case-insensitive, trailing dot
/// optional; a name may appear several times for several addresses) with TTL [`DNS_TTL`].
/// Unknown names get NXDOMAIN; known names without records of the asked type get NOERROR with an
/// empty answer section.
pub async fn dns_server(records: &[(&str, IpAddr)]) -> DnsServer {
    let mut zone: HashMap<String, Vec<IpAddr>> = HashMap::new();
    for (name, ip) in records {
        zone.entry(normalize_name(name)).or_default().push(*ip);
    }
    let zone: Zone = Arc::new(zone);

    // Find a port free for both UDP and TCP (TCP is optional; give up on it after a few tries).
    let mut bound = None;
    for _ in 0..20 {
        let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind DNS UDP socket");
        let addr = udp.local_addr().expect("local_addr");
        match TcpListener::bind(addr).await {
            Ok(tcp) => {
                bound = Some((udp, Some(tcp)));
                break;
            }
            Err(_) => bound = Some((udp, None)),
        }
    }
    let (udp, tcp) = bound.expect("DNS sockets");
    let addr = udp.local_addr().expect("local_addr");
    let queries = Arc::new(AtomicUsize::new(0));
    let has_tcp = tcp.is_some();

    let task = {
        let queries = queries.clone();
        tokio::spawn(async move {
            let mut set = JoinSet::new();
            set.spawn(dns_udp_loop(udp, zone.clone(), queries.clone()));
            if let Some(tcp) = tcp {
                set.spawn(dns_tcp_loop(tcp, zone, queries));
            }
            while set.join_next().await.is_some() {}
        })
    };
    DnsServer {
        addr,
        tcp: has_tcp,
        queries,
        task,
    }
}
