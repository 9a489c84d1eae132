//! Targets of every kind read from a config file: the kind from the URL, blackbox_exporter's
//! module keys, and an error naming the target and key for whatever cannot be checked.

use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{DNSClass, RecordType};

use super::checks::{Check, DnsTransport, IpProtocol, Step};
use super::tests::load_file;
use crate::event::Kind;

fn one(yaml: &str) -> super::Target {
    let s = load_file("yaml", yaml).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.targets.len(), 1);
    s.targets.into_iter().next().unwrap()
}

fn error(yaml: &str) -> String {
    load_file("yaml", yaml).unwrap_err().to_string()
}

#[test]
fn the_kind_comes_from_the_scheme() {
    for (url, kind, host, port) in [
        ("http://h.example/", Kind::Http, "h.example", Some(80)),
        ("tcp://db.example:5432", Kind::Tcp, "db.example", Some(5432)),
        ("udp://127.0.0.1:53", Kind::Udp, "127.0.0.1", Some(53)),
        (
            "tls://mail.example:465",
            Kind::Tls,
            "mail.example",
            Some(465),
        ),
        (
            "starttls://mail.example:25",
            Kind::Starttls,
            "mail.example",
            Some(25),
        ),
        ("icmp://[::1]", Kind::Icmp, "::1", None),
        (
            "grpc://svc.example:50051",
            Kind::Grpc,
            "svc.example",
            Some(50051),
        ),
        (
            "grpcs://svc.example:443",
            Kind::Grpcs,
            "svc.example",
            Some(443),
        ),
        ("push://nightly-backup", Kind::Push, "", None),
    ] {
        let t = one(&format!("targets:\n  - url: {url}\n"));
        assert_eq!(
            (t.kind, &*t.hostname(), t.port),
            (kind, host, port),
            "{url}"
        );
        assert_eq!(t.path(), if kind.is_http() { "/" } else { "" }, "{url}");
    }
    let t = one("targets:\n  - url: tls://mail.example:465\n");
    let Check::Tcp(c) = &t.check else { panic!() };
    assert!(c.tls && c.query_response.is_empty());
    let t = one("targets:\n  - url: starttls://mail.example:25\n");
    let Check::Tcp(c) = &t.check else { panic!() };
    assert!(!c.tls);
    assert!(matches!(c.query_response.last(), Some(Step::StartTls)));
}

#[test]
fn a_dns_section_makes_the_url_the_server_to_ask() {
    for (url, host, port) in [
        ("8.8.8.8", "8.8.8.8", 53),
        ("127.0.0.1:5353", "127.0.0.1", 5353),
        ("dns://[::1]:5300", "::1", 5300),
        ("ns1.example", "ns1.example", 53),
    ] {
        let t = one(&format!(
            "targets:\n  - url: \"{url}\"\n    dns:\n      query_name: example.org\n"
        ));
        assert_eq!(
            (t.kind, &*t.hostname(), t.port),
            (Kind::Dns, host, Some(port)),
            "{url}"
        );
        let Check::Dns(d) = &t.check else { panic!() };
        // blackbox_exporter's defaults.
        assert_eq!(d.query_type, RecordType::ANY);
        assert_eq!(d.query_class, DNSClass::IN);
        assert_eq!(d.transport, DnsTransport::Udp);
        assert!(d.recursion_desired);
        assert_eq!(d.valid_rcodes, [ResponseCode::NoError]);
    }
}

#[test]
fn blackbox_module_bodies_are_read_with_their_meanings() {
    let t = one(r#"
targets:
  - url: tcp://mail.example:25
    timeout: 5s
    interval: 1m
    tcp:
      preferred_ip_protocol: ip4
      ip_protocol_fallback: false
      tls_config: {insecure_skip_verify: true, server_name: mx.example}
      query_response:
        - expect: "^220 ([^ ]+) ESMTP"
          labels: [{name: banner, value: "${1}"}]
        - send: "EHLO ${1}"
        - expect: "^250 "
        - send: STARTTLS
        - expect: "^220"
        - starttls: true
        - expect_bytes: "OK"
"#);
    assert_eq!(
        (t.timeout, t.interval),
        (
            Duration::from_secs(5),
            super::Interval::Every(Duration::from_secs(60))
        )
    );
    let Check::Tcp(c) = &t.check else { panic!() };
    assert_eq!(c.addr.preferred, Some(IpProtocol::Ip4));
    assert!(!c.addr.fallback);
    assert_eq!(c.tls_config.verify, super::TlsVerify::No);
    assert_eq!(c.tls_config.server_name.as_deref(), Some("mx.example"));
    let kinds: Vec<&str> = c
        .query_response
        .iter()
        .map(|s| match s {
            Step::Expect { .. } => "expect",
            Step::ExpectBytes(_) => "bytes",
            Step::Send(_) => "send",
            Step::StartTls => "starttls",
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "expect", "send", "expect", "send", "expect", "starttls", "bytes"
        ]
    );

    let t = one(r#"
targets:
  - url: 127.0.0.1:5353
    dns:
      query-name: example.org
      query-type: mx
      query_class: CH
      transport_protocol: tcp
      recursion_desired: false
      valid_rcodes: [NOERROR, nxdomain]
      validate_answer_rrs:
        fail_if_not_matches_regexp: ["example\\.org\\.\t.*\tIN\tMX\t"]
"#);
    let Check::Dns(d) = &t.check else { panic!() };
    assert_eq!(
        (d.query_name.as_str(), d.query_type, d.query_class),
        ("example.org", RecordType::MX, DNSClass::CH)
    );
    assert_eq!(d.transport, DnsTransport::Tcp);
    assert!(!d.recursion_desired);
    assert_eq!(
        d.valid_rcodes,
        [ResponseCode::NoError, ResponseCode::NXDomain]
    );
    assert_eq!(d.validate_answer_rrs.fail_if_not_matches_regexp.len(), 1);

    let t = one(
        "targets:\n  - url: icmp://127.0.0.1\n    icmp: {count: 3, payload_size: 56, dont_fragment: true}\n",
    );
    let Check::Icmp(i) = &t.check else { panic!() };
    assert_eq!((i.count, i.payload_size, i.dont_fragment), (3, 56, true));
    let t = one("targets:\n  - url: icmp://127.0.0.1\n");
    let Check::Icmp(i) = &t.check else { panic!() };
    assert_eq!(i.count, 1);

    let t = one("targets:\n  - url: grpc://127.0.0.1:50051\n    grpc: {service: api.v1.Users}\n");
    let Check::Grpc(g) = &t.check else { panic!() };
    assert_eq!((g.service.as_str(), g.tls), ("api.v1.Users", false));
    let t = one("targets:\n  - url: udp://127.0.0.1:9\n    body: ping\n");
    let Check::Udp(u) = &t.check else { panic!() };
    assert_eq!(u.body, b"ping");
}

#[test]
fn what_cannot_be_checked_is_an_error_naming_target_and_key() {
    for (yaml, named, says) in [
        (
            "url: sctp://h.example:9",
            "targets[0].url",
            "sctp:// checks are not supported yet",
        ),
        (
            "url: wss://h.example/",
            "targets[0].url",
            "wss:// checks are not supported yet",
        ),
        (
            "url: ssh://h.example:22",
            "targets[0].url",
            "ssh:// checks are not supported yet",
        ),
        (
            "url: ftp://h.example/",
            "targets[0].url",
            "cannot be probed",
        ),
        ("url: tcp://h.example", "targets[0].url", "tcp://host:port"),
        (
            "url: tcp://h.example:0",
            "targets[0].url",
            "port from 1 to 65535",
        ),
        (
            "url: icmp://h.example:7",
            "targets[0].url",
            "without a port",
        ),
        ("url: dns://8.8.8.8", "targets[0].url", "a dns: section"),
        (
            "{url: tcp://h:1, method: POST}",
            "targets[0].method",
            "HTTP setting",
        ),
        (
            "{url: icmp://h, regex: ok}",
            "targets[0].regex",
            "HTTP setting",
        ),
        (
            "{url: http://h/, tcp: {tls: true}}",
            "targets[0].tcp",
            "no tcp setting on a http target",
        ),
        (
            "{url: icmp://h, dns: {query_name: x}}",
            "targets[0].url",
            "not a icmp:// URL",
        ),
        (
            "{url: 8.8.8.8, dns: {query_type: AXFRR, query_name: x}}",
            "targets[0].dns.query_type",
            "a DNS record type",
        ),
        (
            "{url: 8.8.8.8, dns: {query_class: XX, query_name: x}}",
            "targets[0].dns.query_class",
            "a DNS class",
        ),
        (
            "{url: 8.8.8.8, dns: {valid_rcodes: [NOERR], query_name: x}}",
            "targets[0].dns.valid_rcodes[0]",
            "an rcode such as NOERROR",
        ),
        (
            "{url: 8.8.8.8, dns: {query_type: A}}",
            "targets[0].dns.query_name",
            "query_name",
        ),
        (
            "{url: 8.8.8.8, dns: {query_name: x, transport_protocol: quic}}",
            "targets[0].dns.transport_protocol",
            "udp or tcp",
        ),
        (
            "{url: 8.8.8.8, dns: {query_name: x, validate_answer_rrs: {fail_if_matches_regexp: [\"(\"]}}}",
            "targets[0].dns.validate_answer_rrs.fail_if_matches_regexp[0]",
            "a valid regex",
        ),
        (
            "{url: 'tcp://h:1', tcp: {query_response: [{expect: '('}]}}",
            "targets[0].tcp.query_response[0].expect",
            "a valid regex",
        ),
        (
            "{url: 'tcp://h:1', tcp: {query_response: [{}]}}",
            "targets[0].tcp.query_response[0]",
            "a step with",
        ),
        (
            "{url: 'tcp://h:1', tcp: {preferred_ip_protocol: ip5}}",
            "targets[0].tcp.preferred_ip_protocol",
            "ip4 or ip6",
        ),
        (
            "{url: 'tls://h:1', tcp: {query_response: [{starttls: true}]}}",
            "targets[0].tcp.query_response",
            "TLS from the first byte",
        ),
        (
            "{url: icmp://h, icmp: {count: 0}}",
            "targets[0].icmp.count",
            "from 1 to 100",
        ),
        (
            "{url: push://job, token: short}",
            "targets[0].token",
            "at least 16 characters",
        ),
        (
            "{url: 'tcp://h:1', tcp: {tls_config: {ca_file: /nonexistent/ca.pem}}}",
            "targets[0].tcp.tls_config.ca_file",
            "existing CA bundle",
        ),
    ] {
        let e = error(&format!("targets:\n  - {yaml}\n"));
        assert!(e.starts_with(&format!("{named}: ")), "{yaml}: {e}");
        assert!(e.contains(says), "{yaml}: {e}");
    }
    // The token, a secret, is never echoed.
    assert!(!error("targets:\n  - {url: push://job, token: short}\n").contains("short"));
}

#[test]
fn unknown_keys_in_a_section_are_errors_with_line_and_column() {
    let e =
        error("targets:\n  - url: 8.8.8.8\n    dns:\n      query_name: x\n      query_nmae: y\n");
    assert!(
        e.contains("unknown field `query_nmae`") && e.contains("line 5"),
        "{e}"
    );
    let e = error("targets:\n  - url: tcp://h:1\n    tcp: {source_ip_address: 10.0.0.1}\n");
    assert!(e.contains("unknown field `source_ip_address`"), "{e}");
}

#[test]
fn the_original_event_format_refuses_other_kinds() {
    let e = error("event_format: original\ntargets:\n  - {url: 'tcp://h:1', name: db}\n");
    assert!(
        e.starts_with("event_format: expected current, because target \"db\" is a tcp check"),
        "{e}"
    );
    assert!(
        load_file(
            "yaml",
            "event_format: original\ntargets:\n  - url: http://h/\n"
        )
        .is_ok()
    );
}

#[test]
fn every_scheme_is_accepted_in_probe_urls() {
    let s = super::tests::load(&[(
        "PROBE_URLS",
        "[tcp://127.0.0.1:5432, icmp://127.0.0.1, https://h.example/]",
    )])
    .unwrap();
    let kinds: Vec<Kind> = s.targets.iter().map(|t| t.kind).collect();
    assert_eq!(kinds, [Kind::Tcp, Kind::Icmp, Kind::Https]);
}

#[test]
fn a_placeholder_a_kind_cannot_produce_is_an_error_naming_the_condition() {
    let e = error(
        "targets:\n  - url: icmp://127.0.0.1\n    conditions: ['[CONNECTED] == true', '[STATUS] == 200']\n",
    );
    assert!(e.starts_with("targets[0].conditions[1]: expected a condition a icmp check can meet: [STATUS] cannot be used with an icmp check"), "{e}");
    let e = error("targets:\n  - url: tcp://h:1\n    degraded_if: ['[PACKET_LOSS] > 10']\n");
    assert!(e.starts_with("targets[0].degraded_if[0]: "), "{e}");
    one(
        "targets:\n  - url: icmp://127.0.0.1\n    conditions: ['[PACKET_LOSS] < 50', '[RESPONSE_TIME] < 100']\n",
    );
    one(
        "targets:\n  - {url: 8.8.8.8, dns: {query_name: x}, conditions: ['[DNS_RCODE] == NOERROR', '[DNS_ANSWERS] == 1.2.3.4']}\n",
    );
}

#[test]
fn secrets_in_urls_and_dialogs_stay_out_of_errors_and_check_config() {
    for yaml in [
        "{url: 'tcp://admin:hunter2@db.example:5432', method: GET}",
        "{url: 'tcp://admin:hunter2@db.example'}",
        "{url: 'icmp://u:hunter2@h.example:1'}",
    ] {
        let e = error(&format!("targets:\n  - {yaml}\n"));
        assert!(!e.contains("hunter2") && e.contains("***"), "{yaml}: {e}");
    }
    let t = one(
        "targets:\n  - {url: 'tcp://127.0.0.1:6379', tcp: {query_response: [{send: 'AUTH s3cretpw'}, {expect: '^\\+OK'}]}}\n  \n",
    );
    let shown = t.check.describe().unwrap().to_string();
    assert!(
        !shown.contains("s3cretpw") && shown.contains("AUTH ***"),
        "{shown}"
    );
    let t = one("targets:\n  - {url: 'udp://127.0.0.1:9', body: 'k3y'}\n");
    let shown = t.check.describe().unwrap().to_string();
    assert!(
        !shown.contains("k3y") && shown.contains("3 bytes"),
        "{shown}"
    );
    // A period too short to wait for is refused, not spun on.
    let e = error("targets:\n  - {url: 'push://job', interval: 1e-10}\n");
    assert!(e.starts_with("targets[0].interval: "), "{e}");
}
