//! Tests of `decode`: the fast way agrees with the exact way on valid and mutated documents.
use super::*;
use crate::event::{Phases, schema};
use serde_json::json;

/// Valid documents of every type: the schemas' examples and events as we emit them.
fn valid_documents() -> Vec<Value> {
    let mut docs: Vec<Value> = schema::all()
        .iter()
        .filter(|s| s.title != "Event")
        .flat_map(|s| {
            s.document["examples"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .collect();
    let mut p = ProbeEvent::new(
        time::OffsetDateTime::now_utc(),
        "https",
        "h.example",
        Some(443),
    );
    p.phases_ms = Some(Phases {
        dns: Some(1.25),
        connect: Some(2.0),
        ..Phases::default()
    });
    p.tls_cert_not_after = Some(time::OffsetDateTime::now_utc());
    p.error = Some("caf\u{e9} \"quoted\"".into());
    docs.push(Event::from(p).to_json());
    docs.extend(fleet_events().into_iter().map(|e| e.to_json()));
    // Last: a probe event (`rejections_keep_their_reasons` takes it).
    docs.extend(
        kind_events()
            .iter()
            .map(|e| Event::from(e.clone()).to_json()),
    );
    docs
}

/// Events of a fleet: a probe of a round (0.6.0), a recheck's, and verdicts.
fn fleet_events() -> Vec<Event> {
    use crate::event::{Verdict, VerdictEvent};
    let t = time::macros::datetime!(2026-12-15 12:00:07.25 UTC);
    let mut probe = ProbeEvent::new(t, "https", "example.org", Some(443));
    probe.target = Some("5f2b7c0e9a1d3b48".into());
    probe.location = Some("eu-west".into());
    probe.up = Some(true);
    probe.round = Some(29_955_600);
    let mut recheck = probe.clone();
    recheck.envelope.uuid = uuid::Uuid::new_v4();
    recheck.location = Some("us-east".into());
    recheck.recheck = Some(true);
    let verdict = VerdictEvent::sample(t);
    vec![
        Event::from(probe),
        Event::from(recheck),
        Event::from(verdict),
        Event::from(VerdictEvent::new("t", -1, Verdict::None, t)),
    ]
}

#[test]
fn probe_event_0_6_round_trips() {
    for e in fleet_events() {
        let text = e.to_json().to_string();
        let fast = decode_fast(text.as_bytes()).unwrap_or_else(|| panic!("not fast: {text}"));
        assert_eq!(fast, (e.clone(), 0), "{text}");
        assert_eq!(decode_exact(text.as_bytes()), Ok((e, 0)), "{text}");
    }
    let Event::Probe(p) = &fleet_events()[1] else {
        unreachable!()
    };
    assert_eq!(p.envelope.schema_version, "0.6.0");
    assert_eq!((p.round, p.recheck), (Some(29_955_600), Some(true)));
}

#[test]
fn a_verdict_event_decodes_to_its_type() {
    let example = &schema::by_title("VerdictEvent").unwrap().document["examples"][0];
    let (event, dropped) = decode(example.to_string().as_bytes()).unwrap();
    let Event::Verdict(v) = event else {
        panic!("{event:?}")
    };
    assert_eq!(dropped, 0);
    assert_eq!(v.target, "5f2b7c0e9a1d3b48");
    assert_eq!(v.round, 29_955_600);
    assert_eq!(v.verdict, crate::event::Verdict::Partial);
    assert_eq!((v.up.len(), v.down.len(), v.locations), (2, 1, Some(3)));
}

/// Documents of the previous minor version (no round) still decode, with no round.
#[test]
fn a_0_5_document_decodes_without_a_round() {
    let docs = schema::by_title("ProbeEvent").unwrap().document["examples"]
        .as_array()
        .unwrap()
        .clone();
    let older: Vec<&Value> = docs
        .iter()
        .filter(|d| d["schema_version"] == "0.5.0")
        .collect();
    assert!(!older.is_empty());
    for doc in older {
        let (event, dropped) = decode(doc.to_string().as_bytes()).unwrap();
        let Event::Probe(p) = event else {
            panic!("{event:?}")
        };
        assert_eq!((p.round, p.recheck, dropped), (None, None, 0));
        assert_eq!(p.envelope.schema_version, "0.5.0");
    }
}

/// Events of schema 0.5.0 as the probers of other kinds emit them: no port or status, each
/// kind object (the schema's examples have `dns` and `icmp` only), new error kinds.
fn kind_events() -> Vec<ProbeEvent> {
    use crate::event::{
        CertificateInfo, DnsDetails, DnsRecord, ErrorKind, GrpcDetails, IcmpDetails, PushDetails,
        TcpDetails, TlsDetails,
    };
    let t = time::macros::datetime!(2026-12-01 02:03:04.123456 UTC);
    let bare = |kind: &str, host: &str, port: Option<u16>| {
        let mut e = ProbeEvent::new(t, kind, host, port);
        e.status_code = None;
        e.target = Some(format!("{kind}-target"));
        e.up = Some(true);
        e
    };
    let mut dns = bare("dns", "127.0.0.1", Some(53));
    dns.up = Some(false);
    dns.error_kind = Some(ErrorKind::DnsRcode);
    dns.dns = Some(DnsDetails {
        rcode: "NXDOMAIN".into(),
        answers: Vec::new(),
        authority: vec![DnsRecord {
            name: "example.org.".into(),
            ttl: 3600,
            class: "IN".into(),
            rtype: "SOA".into(),
            data: "ns. host. 7 3600 600 86400 60".into(),
        }],
        additional: Vec::new(),
        soa_serial: Some(7),
    });
    let mut icmp = bare("icmp", "::1", None);
    icmp.icmp = Some(IcmpDetails {
        sent: 3,
        received: 3,
        loss_percent: 0.0,
        rtt_min_ms: Some(0.02),
        rtt_avg_ms: Some(0.03),
        rtt_max_ms: Some(0.05),
        reply_ttl: Some(64),
    });
    let mut tls = bare("tls", "localhost", Some(8443));
    let expiry = time::OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
    tls.tls = Some(TlsDetails {
        version: "TLS 1.3".into(),
        cipher: "TLS13_AES_256_GCM_SHA384".into(),
        chain: vec![CertificateInfo {
            subject: "CN=localhost".into(),
            issuer: "CN=Test CA".into(),
            not_after: expiry,
            sha256: "ab".repeat(32),
        }],
        earliest_expiry: Some(expiry),
    });
    let mut tcp = bare("tcp", "127.0.0.1", Some(25));
    tcp.up = Some(false);
    tcp.error_kind = Some(ErrorKind::ExpectMismatch);
    tcp.tcp = Some(TcpDetails {
        matched: vec!["220 mail ESMTP".into()],
    });
    let mut grpc = bare("grpc", "127.0.0.1", Some(50051));
    grpc.grpc = Some(GrpcDetails {
        status: "SERVING".into(),
    });
    let mut push = bare("push", "", None);
    push.up = Some(false);
    push.error_kind = Some(ErrorKind::PushMissed);
    push.push = Some(PushDetails {
        msg: Some("backup <b>done</b>".into()),
    });
    let mut permission = bare("icmp", "127.0.0.1", None);
    permission.up = Some(false);
    permission.error_kind = Some(ErrorKind::Permission);
    vec![dns, icmp, tls, tcp, grpc, push, permission]
}

#[test]
fn events_of_every_kind_decode_to_themselves_the_fast_way() {
    for e in kind_events() {
        let text = Event::from(e.clone()).to_json().to_string();
        let (fast, dropped) =
            decode_fast(text.as_bytes()).unwrap_or_else(|| panic!("not fast: {text}"));
        assert_eq!((fast, dropped), (Event::from(e), 0), "{text}");
    }
}

/// Each document changed in one place, in every way the schema might care about.
fn mutations(doc: &Value) -> Vec<String> {
    let odd = [
        json!(null),
        json!("x"),
        json!(""),
        json!(1.5),
        json!(1.0),
        json!(-1),
        json!(0),
        json!(70000),
        json!(true),
        json!({}),
        json!([]),
        json!({"dns": -1.0}),
        json!({"dns": null}),
        json!({"dns": 1, "extra": 2}),
        json!([{"condition": "c", "success": true, "resolved": "c", "extra": 1}]),
        json!([{"condition": "c", "success": true}]),
        json!([null]),
        json!("1C6F0C2E-8A5D-4A3E-9B7F-2F1D4A5B6C7D"),
        json!("1c6f0c2e8a5d4a3e9b7f2f1d4a5b6c7d"),
        json!("2021-01-15 12:34:56"),
        json!("2021-01-15T12:34:56Z"),
        json!("2021-02-30T12:34:56+00:00"),
        json!("1.0.0"),
        json!("0.9.9"),
        json!("DummyEvent"),
        json!("ProbeEvent"),
        json!("JobEvent"),
        json!("VerdictEvent"),
        json!("partial"),
        json!(["eu-west"]),
        json!([1]),
        json!("condition"),
        json!("http_status"),
    ];
    let mut out = Vec::new();
    let obj = doc.as_object().expect("an object");
    for key in obj.keys() {
        let mut removed = obj.clone();
        removed.remove(key);
        out.push(Value::Object(removed).to_string());
        for v in &odd {
            let mut changed = obj.clone();
            changed.insert(key.clone(), v.clone());
            out.push(Value::Object(changed).to_string());
        }
        // A repeated key, as text (a `Value` cannot hold one).
        let text = doc.to_string();
        out.push(format!("{{\"{key}\":null,{}", &text[1..]));
    }
    let mut extra = obj.clone();
    extra.insert("from_the_future".into(), json!({"any": [1, "thing"]}));
    out.push(Value::Object(extra).to_string());
    out.push(format!(" {} ", doc));
    out.push(format!("{} trailing", doc));
    out
}

#[test]
fn every_event_schema_has_a_fast_way() {
    for title in [
        ProbeEvent::TITLE,
        DummyEvent::TITLE,
        JobEvent::TITLE,
        VerdictEvent::TITLE,
    ] {
        assert!(schema::by_title(title).unwrap().plan.is_some(), "{title}");
    }
}

#[test]
fn valid_documents_take_the_fast_way_to_the_same_event() {
    for doc in valid_documents() {
        let text = doc.to_string();
        let fast = decode_fast(text.as_bytes()).unwrap_or_else(|| panic!("not fast: {text}"));
        assert_eq!(Ok(fast), decode_exact(text.as_bytes()), "{text}");
    }
}

#[test]
fn the_fast_way_never_accepts_what_the_exact_way_refuses() {
    let (mut fast, mut refused) = (0, 0);
    for doc in valid_documents() {
        for text in mutations(&doc) {
            let exact = decode_exact(text.as_bytes());
            match decode_fast(text.as_bytes()) {
                Some(decoded) => {
                    fast += 1;
                    assert_eq!(Ok(decoded), exact, "{text}");
                }
                None => refused += usize::from(exact.is_err()),
            }
            // Whichever way it goes, `decode` answers as the exact way does.
            assert_eq!(decode(text.as_bytes()), exact, "{text}");
        }
    }
    // Both outcomes were exercised (the corpus is not all valid or all invalid).
    assert!(
        fast > 100 && refused > 100,
        "fast {fast}, refused {refused}"
    );
}

#[test]
fn rejections_keep_their_reasons() {
    let e = decode(b"nope").unwrap_err();
    assert!(e.to_string().starts_with("not JSON"), "{e}");
    let mut doc = valid_documents().pop().unwrap();
    doc["port"] = json!(0);
    let e = decode(doc.to_string().as_bytes()).unwrap_err();
    assert!(
        matches!(e, DecodeError::Invalid(_)) && e.to_string().contains("/port"),
        "{e}"
    );
    doc["port"] = json!(70000);
    let e = decode(doc.to_string().as_bytes()).unwrap_err();
    assert!(e.to_string().contains("/port"), "{e}");
    doc["port"] = json!(443.0);
    let e = decode(doc.to_string().as_bytes()).unwrap_err();
    assert!(e.to_string().starts_with("does not fit ProbeEvent"), "{e}");
}

/// A message of thousands of extra members is accepted (unknown members are dropped and
/// counted) by the exact way: the fast way's member checks grow with the square of their
/// number (seconds for the 140,000 short keys a 1 MB message can hold).
#[test]
fn a_message_of_many_members_takes_the_exact_way_and_is_accepted() {
    let mut doc = valid_documents()
        .into_iter()
        .find(|d| d["schema_title"] == "ProbeEvent")
        .unwrap();
    let object = doc.as_object_mut().unwrap();
    for i in 0..5_000 {
        object.insert(format!("k{i}"), json!(0));
    }
    let text = serde_json::to_vec(&doc).unwrap();
    assert!(decode_fast(&text).is_none());
    let (_, dropped) = decode(&text).unwrap();
    assert_eq!(dropped, 5_000);
}
