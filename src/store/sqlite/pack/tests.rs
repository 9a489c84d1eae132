//! Round trips of every field through both packed forms, and hostile input.

use time::macros::datetime;

use super::sample::{Rng, SampleTarget, aggregate, day_of_hours};
use super::*;
use crate::event::{ConditionResult, ErrorKind, Phases, ProbeEvent};
use crate::store::rollup::Agg;
use crate::store::{HOUR, MINUTE, Micros, to_micros};

const LEVEL: Compression = Compression::Zstd(3);
const HOUR0: Micros = 1_790_000_000_000_000 - 1_790_000_000_000_000 % HOUR;

fn hour_of_events(seed: u64, interval: Micros) -> Vec<ProbeEvent> {
    let mut rng = Rng::new(seed);
    let target = SampleTarget::new(&mut rng, seed as usize);
    target.events(&mut rng, HOUR0, HOUR0 + HOUR, interval)
}

fn sorted(mut events: Vec<ProbeEvent>) -> Vec<ProbeEvent> {
    events.sort_by_key(|e| (to_micros(e.envelope.event_time), e.envelope.uuid));
    events
}

fn round_trip(events: &[ProbeEvent], compression: Compression) -> Vec<ProbeEvent> {
    let mut strings = Strings::new();
    let bytes = encode_events(events, &mut strings, compression).unwrap();
    decode_events(&bytes, &strings).unwrap()
}

/// An event with every field set: an error, IPv6, HTTP/2, TLS expiry, redirects.
fn full_event() -> ProbeEvent {
    let mut e = ProbeEvent::new(
        datetime!(2026-11-25 12:00:00.000001 UTC),
        "https",
        "example.org",
        Some(8443),
    );
    e.path = "/health".into();
    e.status_code = Some(503);
    e.response_time_ms = 41;
    e.error = Some("unexpected status 503 (expected 200-399)".into());
    e.regex = Some("ok".into());
    e.matches_regex = Some(false);
    e.url = Some("https://example.org:8443/health".into());
    e.target = Some("5f2b7c0e9a1d3b48".into());
    e.name = Some("example".into());
    e.location = Some("eu-1".into());
    e.up = Some(false);
    e.error_kind = Some(ErrorKind::HttpStatus);
    e.phases_ms = Some(Phases {
        dns: Some(1.2),
        connect: Some(10.5),
        tls: Some(20.25),
        ttfb: Some(8.0),
        transfer: Some(0.4),
    });
    e.ip = Some("2606:2800:21f:cb07:6820:80da:af6b:8b2c".into());
    e.http_version = Some("HTTP/2".into());
    e.body_bytes = Some(19);
    e.redirects = Some(3);
    e.tls_cert_not_after = Some(datetime!(2027-01-15 23:59:59 UTC));
    e
}

#[test]
fn every_field_of_a_fully_set_event_round_trips() {
    let e = full_event();
    for c in [Compression::None, LEVEL] {
        assert_eq!(
            round_trip(std::slice::from_ref(&e), c),
            std::slice::from_ref(&e)
        );
    }
}

#[test]
fn absent_optional_fields_stay_absent() {
    let bare = ProbeEvent::new(
        datetime!(2026-11-25 12:00:10.5 UTC),
        "http",
        "down.example",
        Some(80),
    );
    let mut empty_phases = bare.clone();
    empty_phases.envelope.uuid = uuid::Uuid::new_v4();
    empty_phases.phases_ms = Some(Phases::default());
    empty_phases.up = Some(true);
    empty_phases.matches_regex = Some(true);
    let mut some_phases = bare.clone();
    some_phases.envelope.uuid = uuid::Uuid::new_v4();
    some_phases.phases_ms = Some(Phases {
        dns: Some(2.5),
        ttfb: Some(0.0),
        ..Phases::default()
    });
    some_phases.error_kind = Some(ErrorKind::Dns);
    some_phases.redirects = Some(0);
    some_phases.body_bytes = Some(0);
    let events = vec![bare, empty_phases, some_phases, full_event()];
    for c in [Compression::None, LEVEL] {
        assert_eq!(round_trip(&events, c), sorted(events.clone()));
    }
}

/// What a target with conditions and `degraded_if` reports (schema 0.4.0).
fn with_conditions(mut e: ProbeEvent, i: usize) -> ProbeEvent {
    let ok = i.is_multiple_of(2);
    e.envelope.schema_version = "0.4.0".into();
    e.conditions = Some(vec![
        ConditionResult {
            condition: "[STATUS] == 200".into(),
            success: true,
            resolved: "[STATUS] == 200".into(),
        },
        ConditionResult {
            condition: "[BODY].status == UP".into(),
            success: ok,
            resolved: if ok {
                "[BODY].status == UP".into()
            } else {
                format!("[BODY].status (DOWN \"{i}\" é) == UP")
            },
        },
    ]);
    e.degraded = ok.then_some(i.is_multiple_of(3));
    e
}

#[test]
fn conditions_and_degraded_round_trip_in_a_block_with_and_without_them() {
    let events: Vec<ProbeEvent> = hour_of_events(8, MINUTE)
        .into_iter()
        .enumerate()
        .map(|(i, e)| if i % 4 == 0 { e } else { with_conditions(e, i) })
        .collect();
    assert!(events.iter().any(|e| e.conditions.is_none()));
    assert!(events.iter().any(|e| e.degraded == Some(true)));
    assert!(
        events
            .iter()
            .any(|e| e.conditions.is_some() && e.degraded.is_none())
    );
    for c in [Compression::None, LEVEL] {
        assert_eq!(round_trip(&events, c), sorted(events.clone()));
    }
    let mut strings = Strings::new();
    let bytes = encode_events(&events, &mut strings, LEVEL).unwrap();
    assert!(
        decode_packed(&bytes, &strings)
            .unwrap()
            .iter()
            .all(|p| p.extras.is_none()),
        "the event's own fields come back as fields, not as extras"
    );
    let mut lone = full_event();
    lone.degraded = Some(true);
    assert_eq!(
        round_trip(std::slice::from_ref(&lone), Compression::None),
        [lone]
    );
}

#[test]
fn a_realistic_hour_round_trips_whole() {
    for seed in 1..20 {
        let events = hour_of_events(seed, MINUTE);
        assert!((59..=61).contains(&events.len()));
        assert_eq!(round_trip(&events, LEVEL), sorted(events));
    }
}

#[test]
fn a_realistic_hour_has_failures_tls_and_both_address_families() {
    // The generator makes what the round trips above must cover.
    let events: Vec<_> = (1..400)
        .flat_map(|s| hour_of_events(s, 10 * MINUTE))
        .collect();
    let any = |f: &dyn Fn(&ProbeEvent) -> bool| events.iter().any(f);
    assert!(any(&|e| e.error.is_some() && e.status_code == Some(0)));
    assert!(any(&|e| e.error_kind == Some(ErrorKind::HttpStatus)));
    assert!(any(&|e| e.ip.as_deref().is_some_and(|ip| ip.contains(':'))));
    assert!(any(&|e| e.ip.as_deref().is_some_and(|ip| ip.contains('.'))));
    assert!(any(&|e| e.http_version.as_deref() == Some("HTTP/2")));
    assert!(any(&|e| e.tls_cert_not_after.is_some()));
    assert!(any(&|e| e.redirects == Some(1)));
    assert!(any(&|e| e.matches_regex.is_some()));
    assert!(
        events
            .iter()
            .all(|e| e.envelope.uuid.get_version_num() == 4)
    );
}

#[test]
fn a_descriptor_change_mid_hour_round_trips_and_is_interned_once() {
    let mut events = hour_of_events(7, MINUTE);
    for e in &mut events[30..] {
        e.envelope.schema_version = "0.4.0".into();
        e.url = Some("https://moved.example/health".into());
        e.name = Some("renamed".into());
        e.port = Some(8443);
    }
    for e in &mut events[40..] {
        e.location = Some("moved-out".into());
    }
    // Conditions appear with the new version, and stay when the descriptor changes again.
    for (i, e) in events.iter_mut().enumerate().skip(30) {
        *e = with_conditions(e.clone(), i);
    }
    let mut strings = Strings::new();
    let bytes = encode_events(&events, &mut strings, LEVEL).unwrap();
    assert_eq!(
        decode_events(&bytes, &strings).unwrap(),
        sorted(events.clone())
    );
    let descriptors = (0..strings.len() as u64 + 1)
        .filter_map(|id| strings.resolve(id).ok())
        .filter(|s| s.starts_with("[\"ProbeEvent\""))
        .count();
    assert_eq!(descriptors, 3);
}

#[test]
fn unsorted_input_comes_back_sorted_by_time_then_uuid() {
    let mut events = hour_of_events(3, MINUTE);
    events.reverse();
    let same_time = events[5].envelope.event_time;
    events[9].envelope.event_time = same_time;
    events[20].envelope.event_time = same_time;
    let back = round_trip(&events, LEVEL);
    assert_eq!(back, sorted(events));
    let keys: Vec<_> = back
        .iter()
        .map(|e| (e.envelope.event_time, e.envelope.uuid))
        .collect();
    assert!(keys.windows(2).all(|w| w[0] <= w[1]));
}

#[test]
fn duplicate_uuids_are_kept_as_given() {
    let mut events = hour_of_events(4, MINUTE);
    let again = events[10].clone();
    let mut later = events[11].clone();
    later.envelope.uuid = events[11].envelope.uuid;
    events.push(again);
    events.push(later.clone());
    events.push(later);
    let back = round_trip(&events, LEVEL);
    assert_eq!(back.len(), events.len());
    assert_eq!(back, sorted(events));
}

#[test]
fn extras_round_trip_where_events_carry_them() {
    let packed: Vec<Packed> = hour_of_events(5, MINUTE)
        .into_iter()
        .enumerate()
        .map(|(i, event)| Packed {
            event,
            extras: match i % 3 {
                0 => None,
                1 => Some(format!(r#"{{"conditions":[{{"ok":{}}}]}}"#, i % 2 == 0).into_bytes()),
                _ => Some(Vec::new()),
            },
        })
        .collect();
    let mut strings = Strings::new();
    let bytes = encode_events(&packed, &mut strings, LEVEL).unwrap();
    let mut expected = packed.clone();
    expected.sort_by_key(|p| {
        (
            to_micros(p.event.envelope.event_time),
            p.event.envelope.uuid,
        )
    });
    assert_eq!(decode_packed(&bytes, &strings).unwrap(), expected);
    let events: Vec<_> = expected.into_iter().map(|p| p.event).collect();
    assert_eq!(decode_events(&bytes, &strings).unwrap(), events);
    let plain = encode_events(&events, &mut strings, LEVEL).unwrap();
    assert!(
        decode_packed(&plain, &strings)
            .unwrap()
            .iter()
            .all(|p| p.extras.is_none())
    );
}

#[test]
fn an_empty_block_and_a_single_plain_event_round_trip() {
    assert_eq!(round_trip(&[], LEVEL), []);
    let mut strings = Strings::new();
    let e = hour_of_events(6, MINUTE).remove(0);
    let bytes = encode_events(std::slice::from_ref(&e), &mut strings, Compression::None).unwrap();
    assert_eq!(bytes[0] & 0x80, 0, "kept plain");
    assert!(bytes.len() < 80, "{} bytes", bytes.len());
    assert_eq!(decode_events(&bytes, &strings).unwrap(), [e]);
}

#[test]
fn string_ids_names_what_a_reader_must_load() {
    let events = vec![full_event()];
    let mut all = Strings::new();
    all.intern("unrelated").unwrap();
    let bytes = encode_events(&events, &mut all, LEVEL).unwrap();
    let ids = string_ids(&bytes).unwrap();
    let mut loaded = Strings::new();
    for &id in &ids {
        loaded.insert(id, all.resolve(id).unwrap()).unwrap();
    }
    assert_eq!(decode_events(&bytes, &loaded).unwrap(), events);
    assert!(!ids.contains(&all.get("unrelated").unwrap()));
    let mut missing = Strings::new();
    for &id in &ids[1..] {
        missing.insert(id, all.resolve(id).unwrap()).unwrap();
    }
    assert_eq!(
        decode_events(&bytes, &missing),
        Err(PackError::UnknownString(ids[0]))
    );
}

#[test]
fn the_probers_phases_round_trip_exactly() {
    // The prober writes `Phases::rounded()`: whatever the float, its rounding comes back bit
    // for bit.
    let mut rng = Rng::new(11);
    let mut e = full_event();
    for _ in 0..2000 {
        let p = Phases {
            dns: Some(rng.range(0.0, 50.0)),
            connect: Some(rng.noisy(30.0, 2.0)),
            tls: Some(rng.unit() * 1e-3),
            ttfb: Some(rng.range(0.0, 600_000.0)),
            transfer: Some(rng.unit()),
        }
        .rounded();
        e.phases_ms = Some(p);
        e.envelope.uuid = rng.uuid();
        let back = round_trip(std::slice::from_ref(&e), Compression::None);
        let q = back[0].phases_ms.unwrap();
        for (a, b) in [
            (p.dns, q.dns),
            (p.connect, q.connect),
            (p.tls, q.tls),
            (p.ttfb, q.ttfb),
            (p.transfer, q.transfer),
        ] {
            assert_eq!(a.map(f64::to_bits), b.map(f64::to_bits));
        }
    }
}

#[test]
fn values_the_format_cannot_keep_are_refused() {
    let mut strings = Strings::new();
    for bad in [f64::NAN, -1.0, f64::INFINITY, 1e300] {
        let mut e = full_event();
        e.phases_ms.as_mut().unwrap().ttfb = Some(bad);
        assert_eq!(
            encode_events(&[e], &mut strings, LEVEL),
            Err(PackError::Unrepresentable("phases_ms")),
            "{bad}"
        );
    }
    let mut a = Agg::default();
    a.sums[2] = f64::NAN;
    assert_eq!(
        encode_hours(&[(HOUR0, a)], LEVEL),
        Err(PackError::Unrepresentable("sums.tls"))
    );
}

/// Every field of an aggregate, floats rounded to the microsecond (a field added to `Agg`
/// fails to compile here until it is compared).
fn agg_fields(a: &Agg) -> (i64, i64, i64, [f64; 8], Vec<u8>) {
    let Agg {
        checks,
        up,
        timed,
        sum_ms,
        min_ms,
        max_ms,
        sums,
        hist,
    } = a;
    let q = |v: f64| (v * 1000.0).round() / 1000.0;
    let f = [
        *sum_ms, *min_ms, *max_ms, sums[0], sums[1], sums[2], sums[3], sums[4],
    ]
    .map(q);
    (*checks, *up, *timed, f, hist.encode())
}

fn hours_round_trip(hours: &[(Micros, Agg)], c: Compression) {
    let bytes = encode_hours(hours, c).unwrap();
    let back = decode_hours(&bytes).unwrap();
    let mut expected: Vec<_> = hours.iter().map(|(t, a)| (*t, agg_fields(a))).collect();
    expected.sort_by_key(|(t, _)| *t);
    let got: Vec<_> = back.iter().map(|(t, a)| (*t, agg_fields(a))).collect();
    assert_eq!(got, expected);
    for (t, a) in &back {
        let (.., f, _) = agg_fields(a);
        let raw = [a.sum_ms, a.min_ms, a.max_ms];
        assert_eq!(
            raw.map(f64::to_bits),
            [f[0], f[1], f[2]].map(f64::to_bits),
            "{t}"
        );
    }
}

#[test]
fn a_realistic_day_of_hours_round_trips_to_the_microsecond() {
    for seed in 1..20 {
        let mut rng = Rng::new(seed);
        let target = SampleTarget::new(&mut rng, seed as usize);
        let day = day_of_hours(&target, &mut rng, HOUR0 - HOUR0 % (24 * HOUR), MINUTE);
        assert_eq!(day.len(), 24);
        assert!(
            day.iter()
                .all(|(_, a)| a.checks >= 59 && a.hist.count() > 0)
        );
        hours_round_trip(&day, LEVEL);
        hours_round_trip(&day, Compression::None);
    }
}

#[test]
fn odd_hours_round_trip() {
    let mut fractional = Agg::default();
    fractional.add(
        0.0004,
        true,
        [Some(13.459_596_000_000_001), None, None, Some(1e-7), None],
    );
    fractional.add(1e9, true, [None; 5]);
    fractional.sum_ms = -2.5;
    let mut failed = Agg::default();
    failed.add(0.0, false, [None; 5]);
    // A legacy row: timed covers every check, the histogram only some, nothing predicts.
    let mut legacy = Agg {
        checks: 10,
        up: 3,
        timed: 10,
        sum_ms: 1234.567,
        min_ms: 0.0,
        max_ms: 900.001,
        sums: [1.5, 0.0, 0.0, 1000.25, 7.0],
        ..Agg::default()
    };
    legacy.hist.record(3.0);
    legacy.hist.record(40_000.0);
    legacy.hist.record(40_000.0);
    let events = hour_of_events(9, MINUTE);
    let hours = vec![
        (HOUR0 + 7 * HOUR, aggregate(&events)),
        (HOUR0 + 17, fractional),
        (HOUR0 - 365 * 24 * HOUR, Agg::default()),
        (HOUR0, failed),
        (HOUR0 + 7 * HOUR, aggregate(&events[..3])),
        (HOUR0 + 30 * HOUR, legacy),
    ];
    hours_round_trip(&hours, LEVEL);
    hours_round_trip(&hours, Compression::None);
    hours_round_trip(&[], LEVEL);
}

#[test]
fn chart_points_and_hour_counts_are_what_the_full_decode_gives() {
    let mut events = hour_of_events(21, MINUTE);
    events.push(full_event());
    // The original's schema: no `up`, so status and error decide; no phases.
    let mut original = full_event();
    (original.up, original.error, original.status_code) = (None, None, Some(302));
    (original.phases_ms, original.error_kind) = (None, None);
    let mut failed = original.clone();
    failed.error = Some("connection refused".into());
    failed.envelope.uuid = uuid::Uuid::from_u128(7);
    events.extend([original, failed]);
    let mut rng = Rng::new(21);
    let target = SampleTarget::new(&mut rng, 21);
    let mut day = day_of_hours(&target, &mut rng, HOUR0, MINUTE);
    day.push((HOUR0 + 24 * HOUR, aggregate(&events)));
    for c in [Compression::None, LEVEL] {
        let mut strings = Strings::new();
        let block = encode_events(&events, &mut strings, c).unwrap();
        let expected: Vec<Point> = decode_events(&block, &strings)
            .unwrap()
            .iter()
            .map(|e| Point {
                time: to_micros(e.envelope.event_time),
                up: crate::event::counts_as_up(e.up, e.error.is_some(), e.status_code),
                response_time_ms: e.response_time_ms,
                phases_ms: crate::store::sqlite::write::phases(e),
            })
            .collect();
        let points = decode_points(&block).unwrap();
        assert_eq!(points, expected, "{c:?}");
        // Of the last three (one time), only the original's 302 without an error is up.
        let ups = points[points.len() - 3..].iter().filter(|p| p.up).count();
        assert_eq!(ups, 1, "{c:?}");
        let hours = encode_hours(&day, c).unwrap();
        let counts: Vec<_> = decode_hours(&hours)
            .unwrap()
            .into_iter()
            .map(|(t, a)| (t, a.checks, a.up))
            .collect();
        assert_eq!(decode_hour_counts(&hours).unwrap(), counts, "{c:?}");
        assert!(counts.iter().any(|&(_, checks, up)| up < checks));
    }
}

/// Whether scrambled bytes still decode as something; errors are fine, panics are not.
fn survives(bytes: &[u8], strings: &Strings) -> bool {
    let events = decode_packed(bytes, strings);
    let _ = (decode_points(bytes), decode_hour_counts(bytes));
    let _ = string_ids(bytes);
    let hours = decode_hours(bytes);
    events.is_ok() || hours.is_ok()
}

#[test]
fn truncated_encodings_are_errors() {
    let mut strings = Strings::new();
    let events = hour_of_events(12, MINUTE);
    let mut rng = Rng::new(12);
    let target = SampleTarget::new(&mut rng, 12);
    let day = day_of_hours(&target, &mut rng, HOUR0, MINUTE);
    for c in [Compression::None, LEVEL] {
        let block = encode_events(&events, &mut strings, c).unwrap();
        for len in 0..block.len() {
            assert!(
                decode_events(&block[..len], &strings).is_err(),
                "{c:?} {len}"
            );
        }
        let hours = encode_hours(&day, c).unwrap();
        for len in 0..hours.len() {
            assert!(decode_hours(&hours[..len]).is_err(), "{c:?} {len}");
        }
        assert!(decode_hours(&block).is_err() && decode_events(&hours, &strings).is_err());
    }
}

#[test]
fn random_and_mutated_bytes_never_panic() {
    let mut strings = Strings::new();
    let mut rng = Rng::new(13);
    let mut blocks = vec![];
    for c in [Compression::None, LEVEL] {
        blocks.push(encode_events(&hour_of_events(13, MINUTE), &mut strings, c).unwrap());
        blocks.push(encode_events(&[full_event()], &mut strings, c).unwrap());
        let target = SampleTarget::new(&mut rng, 3);
        blocks.push(encode_hours(&day_of_hours(&target, &mut rng, HOUR0, MINUTE), c).unwrap());
    }
    let mut decoded = 0;
    for i in 0..20_000 {
        let mut bytes = blocks[i % blocks.len()].clone();
        match i % 4 {
            0 => {
                let at = rng.next_u64() as usize % bytes.len();
                bytes[at] ^= 1 << (rng.next_u64() % 8);
            }
            1 => {
                for _ in 0..1 + rng.next_u64() % 8 {
                    let at = rng.next_u64() as usize % bytes.len();
                    bytes[at] = rng.next_u64() as u8;
                }
            }
            2 => {
                let at = 1 + rng.next_u64() as usize % (bytes.len() - 1);
                bytes.insert(at, rng.next_u64() as u8);
            }
            _ => {
                let len = rng.next_u64() as usize % 200;
                bytes = (0..len).map(|_| rng.next_u64() as u8).collect();
                if let Some(b) = bytes.first_mut() {
                    *b = [0x11, 0x91, 0x21, 0xa1][(i / 4) % 4];
                }
            }
        }
        decoded += usize::from(survives(&bytes, &strings));
    }
    assert!(decoded < 20_000, "some mutations must be caught");
}

#[test]
fn counts_beyond_the_input_are_refused_before_allocating() {
    let strings = Strings::new();
    // A plain block claiming 2^40 events, a table of 2^40 strings, a day of 2^40 hours.
    let mut huge = vec![0x11];
    varint_put(&mut huge, 1 << 40);
    huge.extend([0; 64]);
    assert!(matches!(
        decode_events(&huge, &strings),
        Err(PackError::Count { .. })
    ));
    let mut table = vec![0x11, 1];
    varint_put(&mut table, 1 << 40);
    table.extend([0; 64]);
    assert!(matches!(
        decode_events(&table, &strings),
        Err(PackError::Count { .. })
    ));
    let mut hours = vec![0x21];
    varint_put(&mut hours, 1 << 40);
    assert!(matches!(decode_hours(&hours), Err(PackError::Count { .. })));
    assert!(matches!(
        decode_events(&[0x31, 0], &strings),
        Err(PackError::Format(0x31))
    ));
}

fn varint_put(out: &mut Vec<u8>, v: u64) {
    super::varint::put(out, v);
}

#[test]
fn realistic_blocks_and_days_stay_within_the_size_goals() {
    // Issue 11's budget: ≤ ~33 B per event in a closed 60-event block, ≤ ~450 B per 24-hour
    // day of rollups (measured 28 and 463: the µs noise of five phase sums is most of a day).
    let mut strings = Strings::new();
    let (mut event_bytes, mut events, mut day_bytes) = (0, 0, 0);
    for seed in 100..150 {
        let block = hour_of_events(seed, MINUTE);
        events += block.len();
        event_bytes += encode_events(&block, &mut strings, Compression::DEFAULT)
            .unwrap()
            .len();
        let mut rng = Rng::new(seed);
        let target = SampleTarget::new(&mut rng, seed as usize);
        let day = day_of_hours(&target, &mut rng, HOUR0, MINUTE);
        day_bytes += encode_hours(&day, Compression::DEFAULT).unwrap().len();
    }
    let per_event = event_bytes as f64 / events as f64;
    let per_day = day_bytes as f64 / 50.0;
    assert!(per_event <= 30.0, "{per_event:.1} B/event");
    assert!(per_day <= 480.0, "{per_day:.0} B/day");
}

/// What checks other than HTTP report (schema 0.5.0): no status, no port for ICMP, and their
/// kind objects; every fourth event of the hour stays an HTTP check without any.
fn with_kind(mut e: ProbeEvent, i: usize) -> ProbeEvent {
    use crate::event::{
        CertificateInfo, DnsDetails, DnsRecord, GrpcDetails, IcmpDetails, PushDetails, TcpDetails,
        TlsDetails,
    };
    if i.is_multiple_of(4) {
        return e;
    }
    e.status_code = None;
    match i % 4 {
        1 => {
            e.protocol = "dns".into();
            e.dns = Some(DnsDetails {
                rcode: "NOERROR".into(),
                answers: vec![DnsRecord {
                    name: "example.org.".into(),
                    ttl: i as u32,
                    class: "IN".into(),
                    rtype: "TXT".into(),
                    data: "\"é \\\"q\\\"\"".into(),
                }],
                authority: Vec::new(),
                additional: Vec::new(),
                soa_serial: i.is_multiple_of(3).then_some(7),
            });
            e.error_kind = i.is_multiple_of(5).then_some(ErrorKind::DnsRcode);
        }
        2 => {
            e.protocol = "icmp".into();
            e.port = None;
            e.icmp = Some(IcmpDetails {
                sent: 3,
                received: (i % 4) as u32,
                loss_percent: 100.0 - (i % 4) as f64 * 100.0 / 3.0,
                rtt_min_ms: Some(0.02),
                rtt_avg_ms: None,
                rtt_max_ms: Some(1.5),
                reply_ttl: Some(64),
            });
            e.error_kind = i.is_multiple_of(5).then_some(ErrorKind::Permission);
        }
        _ => {
            e.protocol = "tls".into();
            let not_after = datetime!(2027-03-01 12:00 UTC);
            e.tls = Some(TlsDetails {
                version: "TLS 1.2".into(),
                cipher: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".into(),
                chain: vec![CertificateInfo {
                    subject: "CN=example.org".into(),
                    issuer: "CN=CA".into(),
                    not_after,
                    sha256: "ab".repeat(32),
                }],
                earliest_expiry: Some(not_after),
            });
            e.tcp = Some(TcpDetails {
                matched: vec!["220 ready".into()],
            });
            e.grpc = i.is_multiple_of(5).then(|| GrpcDetails {
                status: "NOT_SERVING".into(),
            });
            e.push = i.is_multiple_of(7).then_some(PushDetails { msg: None });
        }
    }
    e
}

#[test]
fn kind_objects_and_no_port_or_status_round_trip_in_a_block_with_and_without_them() {
    let events: Vec<ProbeEvent> = hour_of_events(9, MINUTE)
        .into_iter()
        .enumerate()
        .map(|(i, e)| with_kind(e, i))
        .collect();
    let any = |f: &dyn Fn(&ProbeEvent) -> bool| events.iter().any(f);
    assert!(any(&|e| e.port.is_none() && e.icmp.is_some()));
    assert!(any(&|e| e.status_code.is_none() && e.dns.is_some()));
    assert!(any(&|e| e.status_code.is_some() && e.tls.is_none()));
    assert!(any(&|e| e.grpc.is_some() && e.push.is_some()));
    for c in [Compression::None, LEVEL] {
        assert_eq!(round_trip(&events, c), sorted(events.clone()));
    }
    let mut strings = Strings::new();
    let bytes = encode_events(&events, &mut strings, LEVEL).unwrap();
    assert!(
        decode_packed(&bytes, &strings)
            .unwrap()
            .iter()
            .all(|p| p.extras.is_none()),
        "the kind objects come back as fields, not as extras"
    );
    // The chart points see the missing statuses as none, not 0 (a DNS check up without one).
    let points = decode_points(&bytes).unwrap();
    let ups = sorted(events.clone())
        .iter()
        .map(|e| crate::event::counts_as_up(e.up, e.error.is_some(), e.status_code))
        .collect::<Vec<_>>();
    assert_eq!(points.iter().map(|p| p.up).collect::<Vec<_>>(), ups);
}

/// A block written before schema 0.5.0 holds the extras `{"conditions": …, "degraded": …}`
/// as that version wrote them: it reads as it did, fields and not extras.
#[test]
fn extras_written_before_the_kind_objects_read_as_they_did() {
    let mut event = full_event();
    (event.conditions, event.degraded) = (None, None);
    let conditions = r#"{"conditions":[{"condition":"[STATUS] == 200","success":true,"resolved":"[STATUS] == 200"}],"degraded":true}"#;
    let packed = [Packed {
        event: event.clone(),
        extras: Some(conditions.as_bytes().to_vec()),
    }];
    let mut strings = Strings::new();
    let bytes = encode_events(&packed, &mut strings, LEVEL).unwrap();
    let back = decode_packed(&bytes, &strings).unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].extras, None);
    assert_eq!(back[0].event.degraded, Some(true));
    assert_eq!(back[0].event.conditions.as_ref().map(Vec::len), Some(1));
    assert_eq!(back[0].event.dns, None);
    // And an extras object a later version adds stays as given.
    let later = br#"{"dns":{"rcode":"NOERROR"},"from_the_future":1}"#.to_vec();
    let packed = [Packed {
        event,
        extras: Some(later.clone()),
    }];
    let bytes = encode_events(&packed, &mut strings, LEVEL).unwrap();
    let back = decode_packed(&bytes, &strings).unwrap();
    assert_eq!(back[0].extras, Some(later));
    assert_eq!(back[0].event.dns, None);
}
