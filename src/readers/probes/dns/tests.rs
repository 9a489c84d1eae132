//! DNS probes against real servers on 127.0.0.1, started in each test: hickory-server answering
//! per name from a test zone (over UDP and TCP), and small servers that misbehave (garbage,
//! replies with another id, silence, a cut reply, a closed port).

use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::op::{Header, HeaderCounts, Message, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, MX, NS, SOA, TXT};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_server::net::runtime::Time;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;
use crate::regexes::SharedRegex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinHandle;

use super::*;
use crate::event::ErrorKind;

/// Every exchange in these tests ends well within this (a silent server is the test's own).
const LIMIT: Duration = Duration::from_secs(5);

fn n(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

fn a(name: &str, ip: &str) -> Record {
    Record::from_rdata(n(name), 60, RData::A(A::from_str(ip).unwrap()))
}

fn soa(zone: &str, serial: u32) -> Record {
    Record::from_rdata(
        n(zone),
        3600,
        RData::SOA(SOA::new(
            n("ns1.test."),
            n("hostmaster.test."),
            serial,
            7200,
            900,
            1209600,
            300,
        )),
    )
}

/// The test zone, by query name:
/// - `ok.test.`: NOERROR, answers A 192.0.2.1 and 192.0.2.2 and a TXT, authority NS
///   `ns1.test.`, additional `ns1.test.` A 192.0.2.53;
/// - `mx.test.`: NOERROR, MX 10 `mail.test.`;
/// - `soa.test.`: NOERROR, the zone's SOA (serial 2026120101);
/// - `fail.test.`: SERVFAIL;
/// - `recursive.test.`: REFUSED unless the query asks for recursion (RD), else an answer;
/// - `many.test.`: NOERROR with 300 A records, 10.0.0.0 to 10.0.1.43;
/// - anything else: NXDOMAIN, the SOA (serial 7) in the authority section.
fn respond(req: &Message) -> Message {
    let mut resp = Message::response(req.metadata.id, req.metadata.op_code);
    resp.metadata.recursion_desired = req.metadata.recursion_desired;
    resp.metadata.authoritative = true;
    resp.add_queries(req.queries.iter().cloned());
    let Some(q) = req.queries.first() else {
        resp.metadata.response_code = ResponseCode::FormErr;
        return resp;
    };
    let name = q.name().to_ascii().to_ascii_lowercase();
    match name.as_str() {
        "ok.test." => {
            resp.add_answer(a("ok.test.", "192.0.2.1"));
            resp.add_answer(a("ok.test.", "192.0.2.2"));
            resp.add_answer(Record::from_rdata(
                n("ok.test."),
                60,
                RData::TXT(TXT::new(vec!["v=spf1 -all".into()])),
            ));
            resp.add_authority(Record::from_rdata(
                n("test."),
                3600,
                RData::NS(NS(n("ns1.test."))),
            ));
            resp.add_additional(a("ns1.test.", "192.0.2.53"));
        }
        "mx.test." => {
            resp.add_answer(Record::from_rdata(
                n("mx.test."),
                300,
                RData::MX(MX::new(10, n("mail.test."))),
            ));
        }
        "soa.test." => {
            resp.add_answer(soa("soa.test.", 2026120101));
        }
        "fail.test." => resp.metadata.response_code = ResponseCode::ServFail,
        "recursive.test." if !req.metadata.recursion_desired => {
            resp.metadata.response_code = ResponseCode::Refused;
        }
        "recursive.test." => {
            resp.metadata.recursion_available = true;
            resp.add_answer(a("recursive.test.", "198.51.100.7"));
        }
        "many.test." => {
            for i in 0..300u32 {
                let ip = Ipv4Addr::from(0x0a00_0000 + i);
                resp.add_answer(a("many.test.", &ip.to_string()));
            }
        }
        _ => {
            resp.metadata.response_code = ResponseCode::NXDomain;
            resp.add_authority(soa("test.", 7));
        }
    }
    resp
}

/// How a test server treats each query it receives.
#[derive(Clone, Copy)]
enum Behaviour {
    /// hickory-server, answering from the test zone ([`respond`]).
    Zone,
    /// Sends bytes that are no DNS message.
    Garbage,
    /// Sends a 60,000-byte datagram (TCP: message) of noise.
    HugeGarbage,
    /// First a zone answer with another id, then the right one (UDP); the wrong one only (TCP).
    WrongIdFirst,
    /// Sends the query back as it came (QR clear).
    Echo,
    /// Reads and never answers.
    Silent,
    /// TCP: a length prefix of 65535, 10 bytes, then closes.
    ShortTcp,
}

/// The replies, as wire messages, to one query.
fn replies(behaviour: Behaviour, query: &[u8]) -> Vec<Vec<u8>> {
    let zone = |id_delta: u16| {
        let req = Message::from_vec(query).expect("the probe's query parses");
        let mut resp = respond(&req);
        if id_delta != 0 {
            // Told apart from the right reply by more than its id.
            resp.metadata.response_code = ResponseCode::ServFail;
        }
        resp.metadata.id = resp.metadata.id.wrapping_add(id_delta);
        resp.to_vec().unwrap()
    };
    match behaviour {
        // Served by hickory-server (see `Server::start`).
        Behaviour::Zone => vec![zone(0)],
        Behaviour::Garbage => vec![b"\x12\x34 this is not DNS".to_vec()],
        Behaviour::HugeGarbage => vec![(0..60_000u32).map(|i| (i * 7 + 3) as u8).collect()],
        Behaviour::WrongIdFirst => vec![zone(1), zone(0)],
        Behaviour::Echo => vec![query.to_vec()],
        Behaviour::Silent | Behaviour::ShortTcp => vec![],
    }
}

/// hickory-server's handler for the test zone: every query is kept, then answered by
/// [`respond`].
struct TestZone {
    queries: Arc<Mutex<Vec<Message>>>,
}

#[async_trait::async_trait]
impl RequestHandler for TestZone {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        let req = Message::from_vec(request.as_slice()).expect("hickory-server parsed it");
        self.queries.lock().unwrap().push(req.clone());
        let resp = respond(&req);
        let info = ResponseInfo::from(Header {
            metadata: resp.metadata,
            counts: HeaderCounts::default(),
        });
        let response = MessageResponseBuilder::from_message_request(request).build(
            resp.metadata,
            resp.answers.iter(),
            resp.authorities.iter(),
            std::iter::empty(),
            resp.additionals.iter(),
        );
        response_handle
            .send_response(response)
            .await
            .unwrap_or(info)
    }
}

/// A DNS test server on 127.0.0.1 (UDP and TCP on the same port); aborted when dropped.
struct Server {
    addr: SocketAddr,
    /// Every query received, parsed.
    queries: Arc<Mutex<Vec<Message>>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Server {
    async fn start(behaviour: Behaviour) -> Server {
        // A port free for both UDP and TCP: bounded tries.
        let mut bound = None;
        for _ in 0..20 {
            let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
            if let Ok(tcp) = TcpListener::bind(udp.local_addr().unwrap()).await {
                bound = Some((udp, tcp));
                break;
            }
        }
        let (udp, tcp) = bound.expect("a port free for UDP and TCP");
        let addr = udp.local_addr().unwrap();
        let queries = Arc::new(Mutex::new(Vec::new()));
        if matches!(behaviour, Behaviour::Zone) {
            let mut server = hickory_server::Server::new(TestZone {
                queries: queries.clone(),
            });
            server.register_socket(udp);
            server.register_listener(tcp, LIMIT, 16);
            let task = tokio::spawn(async move {
                let _ = server.block_until_done().await;
            });
            return Server {
                addr,
                queries,
                tasks: vec![task],
            };
        }
        let seen = queries.clone();
        let udp_task = tokio::spawn(async move {
            let mut buf = vec![0u8; 65_536];
            loop {
                let Ok((len, peer)) = udp.recv_from(&mut buf).await else {
                    continue;
                };
                if let Ok(m) = Message::from_vec(&buf[..len]) {
                    seen.lock().unwrap().push(m);
                }
                for reply in replies(behaviour, &buf[..len]) {
                    let _ = udp.send_to(&reply, peer).await;
                }
            }
        });
        let seen = queries.clone();
        let tcp_task = tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = tcp.accept().await else {
                    continue;
                };
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut len = [0u8; 2];
                    if stream.read_exact(&mut len).await.is_err() {
                        return;
                    }
                    let mut query = vec![0u8; usize::from(u16::from_be_bytes(len))];
                    if stream.read_exact(&mut query).await.is_err() {
                        return;
                    }
                    if let Ok(m) = Message::from_vec(&query) {
                        seen.lock().unwrap().push(m);
                    }
                    match behaviour {
                        Behaviour::ShortTcp => {
                            let _ = stream.write_all(&[0xff, 0xff]).await;
                            let _ = stream.write_all(&[0u8; 10]).await;
                            return;
                        }
                        Behaviour::Silent => {
                            // Holds the connection open until the test ends.
                            let _ = stream.read(&mut [0u8; 1]).await;
                            return;
                        }
                        _ => {}
                    }
                    // TCP carries one reply: the last (the right one, or the only one).
                    let mut replies = replies(behaviour, &query);
                    if matches!(behaviour, Behaviour::WrongIdFirst) {
                        replies.truncate(1);
                    }
                    for reply in replies {
                        let mut framed = (reply.len() as u16).to_be_bytes().to_vec();
                        framed.extend_from_slice(&reply);
                        let _ = stream.write_all(&framed).await;
                    }
                });
            }
        });
        Server {
            addr,
            queries,
            tasks: vec![udp_task, tcp_task],
        }
    }

    fn queries(&self) -> Vec<Message> {
        self.queries.lock().unwrap().clone()
    }
}

fn check(name: &str, transport: DnsTransport) -> DnsCheck {
    DnsCheck {
        query_name: name.into(),
        query_type: RecordType::A,
        transport,
        ..DnsCheck::default()
    }
}

fn res(list: &[&str]) -> Vec<SharedRegex> {
    list.iter().map(|s| crate::regexes::shared(s).unwrap()).collect()
}

async fn run(server: SocketAddr, check: &DnsCheck) -> (Result<(), Failure>, DnsObservation) {
    let mut rec = DnsObservation::default();
    let out = tokio::time::timeout(LIMIT, probe(server, check, &mut rec))
        .await
        .expect("the probe ends");
    (out, rec)
}

const BOTH: [DnsTransport; 2] = [DnsTransport::Udp, DnsTransport::Tcp];

#[tokio::test]
async fn noerror_reply_fills_every_section_over_udp_and_tcp() {
    let server = Server::start(Behaviour::Zone).await;
    for t in BOTH {
        let (out, rec) = run(server.addr, &check("ok.test", t)).await;
        assert_eq!(out, Ok(()), "{t:?}");
        let d = rec.details.expect("details");
        assert_eq!(d.rcode, "NOERROR");
        let texts = |rs: &[crate::event::DnsRecord]| -> Vec<String> {
            rs.iter().map(|r| r.text()).collect()
        };
        assert_eq!(
            texts(&d.answers),
            [
                "ok.test.\t60\tIN\tA\t192.0.2.1",
                "ok.test.\t60\tIN\tA\t192.0.2.2",
                "ok.test.\t60\tIN\tTXT\t\"v=spf1 -all\"",
            ]
        );
        assert_eq!(texts(&d.authority), ["test.\t3600\tIN\tNS\tns1.test."]);
        assert_eq!(texts(&d.additional), ["ns1.test.\t60\tIN\tA\t192.0.2.53"]);
        assert_eq!(d.soa_serial, None);
        assert!(rec.phases.ttfb.is_some_and(|ms| ms >= 0.0), "{t:?}");
        assert_eq!(rec.phases.connect.is_some(), t == DnsTransport::Tcp);
    }
}

#[tokio::test]
async fn the_query_carries_the_checks_name_type_class_and_rd_bit_with_a_random_id() {
    let server = Server::start(Behaviour::Zone).await;
    let mut c = check("Mixed.Case.test", DnsTransport::Udp);
    c.query_type = RecordType::MX;
    c.query_class = DNSClass::CH;
    c.recursion_desired = false;
    let _ = run(server.addr, &c).await;
    let _ = run(
        server.addr,
        &DnsCheck {
            query_name: "x.test.".into(),
            ..DnsCheck::default()
        },
    )
    .await;
    let q = server.queries();
    assert_eq!(q.len(), 2);
    let first = &q[0];
    assert_eq!(first.metadata.op_code, OpCode::Query);
    assert!(!first.metadata.recursion_desired);
    assert_eq!(first.queries.len(), 1);
    assert_eq!(first.queries[0].name().to_ascii(), "Mixed.Case.test.");
    assert_eq!(first.queries[0].query_type(), RecordType::MX);
    assert_eq!(first.queries[0].query_class(), DNSClass::CH);
    // The defaults: ANY, IN, RD set.
    let second = &q[1];
    assert!(second.metadata.recursion_desired);
    assert_eq!(second.queries[0].query_type(), RecordType::ANY);
    assert_eq!(second.queries[0].query_class(), DNSClass::IN);
    assert_eq!(second.queries[0].name().to_ascii(), "x.test.");
    // Two random ids are equal once in 65536 runs; a fixed id always.
    assert_ne!(first.metadata.id, second.metadata.id);
}

#[tokio::test]
async fn nxdomain_is_down_with_the_rcode_named_and_the_soa_serial_kept() {
    let server = Server::start(Behaviour::Zone).await;
    for t in BOTH {
        let (out, rec) = run(server.addr, &check("nowhere.test", t)).await;
        let e = out.unwrap_err();
        assert_eq!(e.kind, ErrorKind::DnsRcode, "{t:?}");
        assert_eq!(e.message, "rcode NXDOMAIN is not one of NOERROR");
        let d = rec.details.unwrap();
        assert_eq!(d.rcode, "NXDOMAIN");
        assert_eq!(d.soa_serial, Some(7));
        assert!(d.answers.is_empty());
    }
}

#[tokio::test]
async fn valid_rcodes_nxdomain_makes_an_nxdomain_up() {
    let server = Server::start(Behaviour::Zone).await;
    for t in BOTH {
        let mut c = check("nowhere.test", t);
        c.valid_rcodes = vec![ResponseCode::NXDomain];
        assert_eq!(run(server.addr, &c).await.0, Ok(()), "{t:?}");
        // And NOERROR is then down.
        c.query_name = "ok.test".into();
        let e = run(server.addr, &c).await.0.unwrap_err();
        assert_eq!(e.message, "rcode NOERROR is not one of NXDOMAIN");
    }
}

#[tokio::test]
async fn servfail_is_down() {
    let server = Server::start(Behaviour::Zone).await;
    for t in BOTH {
        let (out, rec) = run(server.addr, &check("fail.test", t)).await;
        let e = out.unwrap_err();
        assert_eq!(e.kind, ErrorKind::DnsRcode);
        assert_eq!(e.message, "rcode SERVFAIL is not one of NOERROR");
        assert_eq!(rec.details.unwrap().rcode, "SERVFAIL");
    }
}

#[tokio::test]
async fn recursion_desired_false_gets_refused_where_recursion_is_required() {
    let server = Server::start(Behaviour::Zone).await;
    for t in BOTH {
        let mut c = check("recursive.test", t);
        assert_eq!(run(server.addr, &c).await.0, Ok(()), "{t:?}");
        c.recursion_desired = false;
        let (out, rec) = run(server.addr, &c).await;
        assert_eq!(
            out.unwrap_err().message,
            "rcode REFUSED is not one of NOERROR"
        );
        assert_eq!(rec.details.unwrap().rcode, "REFUSED");
    }
}

#[tokio::test]
async fn soa_serial_comes_from_an_soa_answer() {
    let server = Server::start(Behaviour::Zone).await;
    let mut c = check("soa.test", DnsTransport::Udp);
    c.query_type = RecordType::SOA;
    let (out, rec) = run(server.addr, &c).await;
    assert_eq!(out, Ok(()));
    let d = rec.details.unwrap();
    assert_eq!(d.soa_serial, Some(2026120101));
    assert_eq!(
        d.answers[0].text(),
        "soa.test.\t3600\tIN\tSOA\tns1.test. hostmaster.test. 2026120101 7200 900 1209600 300"
    );
}

#[tokio::test]
async fn each_rule_passes_and_fails_on_the_servers_records() {
    let server = Server::start(Behaviour::Zone).await;
    // (what, how the rule is set, its regexes, the verdict): each rule passing and failing.
    type Set = fn(&mut DnsCheck, Vec<SharedRegex>);
    type Case<'a> = (&'a str, Set, &'a [&'a str], Result<(), &'a str>);
    let cases: Vec<Case> = vec![
        (
            "answer fail_if_matches passes",
            |c, r| c.validate_answer_rrs.fail_if_matches_regexp = r,
            &["\tAAAA\t"],
            Ok(()),
        ),
        (
            "answer fail_if_matches fails",
            |c, r| c.validate_answer_rrs.fail_if_matches_regexp = r,
            &["192\\.0\\.2\\.2$"],
            Err(
                r#"answer record "ok.test. 60 IN A 192.0.2.2" matches fail_if_matches_regexp "192\.0\.2\.2$""#,
            ),
        ),
        (
            "answer fail_if_not_matches passes",
            |c, r| c.validate_answer_rrs.fail_if_not_matches_regexp = r,
            &["^ok\\.test\\.\t60\tIN\t"],
            Ok(()),
        ),
        (
            "answer fail_if_not_matches fails",
            |c, r| c.validate_answer_rrs.fail_if_not_matches_regexp = r,
            &["\tA\t"],
            Err(
                "answer record \"ok.test. 60 IN TXT \"v=spf1 -all\"\" does not match fail_if_not_matches_regexp \"\tA\t\"",
            ),
        ),
        (
            "answer fail_if_all_match passes when every record matches",
            |c, r| c.validate_answer_rrs.fail_if_all_match_regexp = r,
            &["^ok\\.test\\."],
            Ok(()),
        ),
        (
            "answer fail_if_all_match fails when one record does not match",
            |c, r| c.validate_answer_rrs.fail_if_all_match_regexp = r,
            &["192\\.0\\.2\\."],
            Err(
                "answer record \"ok.test. 60 IN TXT \"v=spf1 -all\"\" does not match fail_if_all_match_regexp \"192\\.0\\.2\\.\"",
            ),
        ),
        (
            "answer fail_if_none_matches passes",
            |c, r| c.validate_answer_rrs.fail_if_none_matches_regexp = r,
            &["\tTXT\t\"v=spf1"],
            Ok(()),
        ),
        (
            "answer fail_if_none_matches fails",
            |c, r| c.validate_answer_rrs.fail_if_none_matches_regexp = r,
            &["198\\.51\\.100\\."],
            Err(r#"no answer record matches fail_if_none_matches_regexp "198\.51\.100\.""#),
        ),
        (
            "authority fail_if_matches passes",
            |c, r| c.validate_authority_rrs.fail_if_matches_regexp = r,
            &["ns2\\."],
            Ok(()),
        ),
        (
            "authority fail_if_matches fails",
            |c, r| c.validate_authority_rrs.fail_if_matches_regexp = r,
            &["\tNS\tns1\\.test\\.$"],
            Err(
                "authority record \"test. 3600 IN NS ns1.test.\" matches fail_if_matches_regexp \"\tNS\tns1\\.test\\.$\"",
            ),
        ),
        (
            "authority fail_if_not_matches fails",
            |c, r| c.validate_authority_rrs.fail_if_not_matches_regexp = r,
            &["\tSOA\t"],
            Err(
                "authority record \"test. 3600 IN NS ns1.test.\" does not match fail_if_not_matches_regexp \"\tSOA\t\"",
            ),
        ),
        (
            "additional fail_if_none_matches passes",
            |c, r| c.validate_additional_rrs.fail_if_none_matches_regexp = r,
            &["^ns1\\.test\\.\t60\tIN\tA\t192\\.0\\.2\\.53$"],
            Ok(()),
        ),
        (
            "additional fail_if_all_match fails",
            |c, r| c.validate_additional_rrs.fail_if_all_match_regexp = r,
            &["\tAAAA\t"],
            Err(
                "additional record \"ns1.test. 60 IN A 192.0.2.53\" does not match fail_if_all_match_regexp \"\tAAAA\t\"",
            ),
        ),
    ];
    for t in BOTH {
        for (what, set, regexes, expected) in &cases {
            let mut c = check("ok.test", t);
            set(&mut c, res(regexes));
            let (out, rec) = run(server.addr, &c).await;
            match expected {
                Ok(()) => assert_eq!(out, Ok(()), "{what} ({t:?})"),
                Err(message) => {
                    let e = out.expect_err(what);
                    assert_eq!(e.kind, ErrorKind::ExpectMismatch, "{what}");
                    assert_eq!(&e.message, message, "{what}");
                }
            }
            // The details are there whatever the verdict.
            assert_eq!(rec.details.unwrap().answers.len(), 3, "{what}");
        }
    }
}

#[tokio::test]
async fn rules_needing_a_record_fail_on_an_empty_section() {
    let server = Server::start(Behaviour::Zone).await;
    let mut c = check("mx.test", DnsTransport::Udp);
    c.validate_additional_rrs.fail_if_none_matches_regexp = res(&["."]);
    let e = run(server.addr, &c).await.0.unwrap_err();
    assert_eq!(e.kind, ErrorKind::ExpectMismatch);
    assert_eq!(
        e.message,
        r#"no additional records, but fail_if_none_matches_regexp "." needs one"#
    );
}

#[tokio::test]
async fn every_record_is_judged_but_the_details_keep_the_first_256() {
    let server = Server::start(Behaviour::Zone).await;
    let mut c = check("many.test", DnsTransport::Tcp);
    c.validate_answer_rrs.fail_if_matches_regexp = res(&["\t10\\.0\\.1\\.43$"]);
    let (out, rec) = run(server.addr, &c).await;
    let e = out.unwrap_err();
    assert_eq!(e.kind, ErrorKind::ExpectMismatch);
    assert!(e.message.contains("10.0.1.43"), "{}", e.message);
    let d = rec.details.unwrap();
    assert_eq!(d.answers.len(), MAX_RECORDS_KEPT);
    assert_eq!(d.answers[0].data, "10.0.0.0");
}

#[tokio::test]
async fn a_truncated_udp_reply_is_judged_as_received() {
    // 300 records do not fit the 512 bytes of a reply to a query without EDNS: the server
    // sends what fits with TC set. As blackbox_exporter, the probe does not retry over TCP.
    let server = Server::start(Behaviour::Zone).await;
    let (out, rec) = run(server.addr, &check("many.test", DnsTransport::Udp)).await;
    assert_eq!(out, Ok(()));
    let answers = rec.details.unwrap().answers.len();
    assert!(answers < 300, "{answers}");
}

#[tokio::test]
async fn garbage_replies_are_protocol_failures() {
    for behaviour in [Behaviour::Garbage, Behaviour::HugeGarbage] {
        let server = Server::start(behaviour).await;
        for t in BOTH {
            let (out, rec) = run(server.addr, &check("ok.test", t)).await;
            let e = out.unwrap_err();
            assert_eq!(e.kind, ErrorKind::Protocol, "{t:?}");
            assert!(
                e.message.starts_with(&format!(
                    "the reply from {} is not a DNS message (",
                    server.addr
                )),
                "{}",
                e.message
            );
            assert!(e.message.len() < 400, "{}", e.message);
            assert!(rec.details.is_none());
        }
    }
}

#[tokio::test]
async fn a_query_sent_back_is_no_response() {
    let server = Server::start(Behaviour::Echo).await;
    for t in BOTH {
        let e = run(server.addr, &check("ok.test", t)).await.0.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Protocol);
        assert_eq!(
            e.message,
            format!("the reply from {} is a query, not a response", server.addr)
        );
    }
}

#[tokio::test]
async fn a_reply_with_another_id_is_ignored_on_udp_and_refused_on_tcp() {
    let server = Server::start(Behaviour::WrongIdFirst).await;
    // UDP: a late reply to another query is skipped, the right one taken (as miekg/dns).
    let (out, rec) = run(server.addr, &check("ok.test", DnsTransport::Udp)).await;
    assert_eq!(out, Ok(()));
    assert_eq!(rec.details.unwrap().answers.len(), 3);
    // TCP: the one reply on the connection is not ours.
    let e = run(server.addr, &check("ok.test", DnsTransport::Tcp))
        .await
        .0
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Protocol);
    assert!(e.message.contains("the query had"), "{}", e.message);
}

#[tokio::test]
async fn a_tcp_reply_cut_short_is_a_protocol_failure() {
    let server = Server::start(Behaviour::ShortTcp).await;
    let e = run(server.addr, &check("ok.test", DnsTransport::Tcp))
        .await
        .0
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Protocol);
    assert_eq!(
        e.message,
        format!(
            "{} closed the connection before its reply was complete",
            server.addr
        )
    );
}

#[tokio::test]
async fn a_closed_port_is_connect_refused_over_udp_and_tcp() {
    let (addr, udp, tcp) = {
        let udp = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let addr = udp.local_addr().unwrap();
        (addr, udp, std::net::TcpListener::bind(addr).ok())
    };
    drop((udp, tcp));
    for t in BOTH {
        let e = run(addr, &check("ok.test", t)).await.0.unwrap_err();
        assert_eq!(e.kind, ErrorKind::ConnectRefused, "{t:?}: {e}");
        assert!(e.message.contains(&addr.to_string()), "{}", e.message);
        assert!(e.message.contains("refused"), "{}", e.message);
    }
}

#[tokio::test]
async fn a_silent_server_leaves_the_phase_for_the_callers_timeout() {
    let server = Server::start(Behaviour::Silent).await;
    for t in BOTH {
        let mut rec = DnsObservation::default();
        let c = check("ok.test", t);
        let out =
            tokio::time::timeout(Duration::from_millis(300), probe(server.addr, &c, &mut rec))
                .await;
        assert!(out.is_err(), "{t:?}: the probe sets no timeout of its own");
        assert_eq!(rec.phase, "ttfb", "{t:?}");
        assert!(rec.details.is_none());
        assert_eq!(rec.phases.connect.is_some(), t == DnsTransport::Tcp);
    }
    assert_eq!(server.queries().len(), 2, "the query went out each time");
}

#[tokio::test]
async fn a_bad_query_name_is_an_internal_failure_sent_nowhere() {
    let server = Server::start(Behaviour::Zone).await;
    let long = format!("{}.test", "a".repeat(64));
    let e = run(server.addr, &check(&long, DnsTransport::Udp))
        .await
        .0
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Internal);
    assert!(e.message.starts_with("query_name \"aaaa"), "{}", e.message);
    assert!(server.queries().is_empty());
}

#[test]
fn parse_query_name_makes_names_fully_qualified() {
    assert_eq!(
        parse_query_name("example.org").unwrap().to_ascii(),
        "example.org."
    );
    assert_eq!(
        parse_query_name("example.org.").unwrap().to_ascii(),
        "example.org."
    );
    assert!(parse_query_name(&"a".repeat(64)).is_err());
}

#[test]
fn no_prefix_or_corruption_of_a_reply_panics_the_parser() {
    let mut req = Message::query();
    req.add_query(hickory_proto::op::Query::query(
        n("ok.test."),
        RecordType::ANY,
    ));
    let reply = respond(&req).to_vec().unwrap();
    let server: SocketAddr = "127.0.0.1:53".parse().unwrap();
    for cut in 0..reply.len() {
        let _ = exchange::parse(server, &reply[..cut]);
    }
    // Every byte set to a few values that break lengths, counts and pointers.
    for i in 0..reply.len() {
        for v in [0x00, 0x3f, 0xc0, 0xff] {
            let mut bad = reply.clone();
            bad[i] = v;
            if let Ok(m) = exchange::parse(server, &bad) {
                let _ = details(&m);
            }
        }
    }
}

#[tokio::test]
async fn defaults_are_blackbox_exporters() {
    let c = DnsCheck::default();
    assert_eq!(c.query_type, RecordType::ANY);
    assert_eq!(c.query_class, DNSClass::IN);
    assert_eq!(c.transport, DnsTransport::Udp);
    assert!(c.recursion_desired);
    assert_eq!(c.valid_rcodes, [ResponseCode::NoError]);
}
