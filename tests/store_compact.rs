//! The compact SQLite store on real files: every field of an event comes back after its hour
//! is packed, charts and uptime read the same before and after packing, re-delivered and
//! too-old events are counted once, and a store of the row-per-event version is upgraded in
//! place (also after an upgrade that stopped midway).

mod support;

use std::path::{Path, PathBuf};

use time::OffsetDateTime;
use time::macros::datetime;
use uptimer::config::StoreSettings;
use uptimer::event::{ConditionResult, ErrorKind, Event, Phases, ProbeEvent};
use uptimer::store::sqlite::pack::Strings;
use uptimer::store::sqlite::{raw, strings, upgrade};
use uptimer::store::{
    HOUR, IncidentQuery, MINUTE, Micros, SqliteStore, Store, from_micros, now_micros, to_micros,
};

fn open(path: &Path) -> SqliteStore {
    SqliteStore::open(&StoreSettings::with_path(path.to_owned())).unwrap()
}

/// Every stored event of target `id`, as the store keeps it, in (time, uuid) order.
fn stored(path: &Path, id: &str) -> Vec<ProbeEvent> {
    let c = rusqlite::Connection::open(path).unwrap();
    let key: i64 = c
        .query_row("SELECT key FROM targets WHERE id = ?1", [id], |r| r.get(0))
        .unwrap();
    let mut s = Strings::default();
    strings::refresh(&c, &mut s).unwrap();
    raw::events_in(&c, &s, key, Micros::MIN, Micros::MAX).unwrap()
}

/// Phases to the microsecond, as the prober reports them and the store keeps them.
fn whole_micros(mut e: ProbeEvent) -> ProbeEvent {
    if let Some(p) = &mut e.phases_ms {
        for v in [
            &mut p.dns,
            &mut p.connect,
            &mut p.tls,
            &mut p.ttfb,
            &mut p.transfer,
        ] {
            *v = v.map(|ms| (ms * 1000.0).round() / 1000.0);
        }
    }
    e
}

/// Equal event by event, naming the first that differs.
fn assert_same(got: Vec<ProbeEvent>, want: Vec<ProbeEvent>, what: &str) {
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g, w, "{what}: event {i} differs");
    }
    assert_eq!(got.len(), want.len(), "{what}: events");
}

/// Equal, numbers within a millionth.
fn assert_close(a: &serde_json::Value, b: &serde_json::Value) {
    use serde_json::Value::*;
    match (a, b) {
        (Array(x), Array(y)) => {
            assert_eq!(x.len(), y.len(), "{a} vs {b}");
            x.iter().zip(y).for_each(|(x, y)| assert_close(x, y));
        }
        (Object(x), Object(y)) => {
            assert_eq!(x.keys().collect::<Vec<_>>(), y.keys().collect::<Vec<_>>());
            x.values()
                .zip(y.values())
                .for_each(|(x, y)| assert_close(x, y));
        }
        (Number(x), Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            assert!((x - y).abs() <= 1e-6 * x.abs().max(1.0), "{x} vs {y}");
        }
        _ => assert_eq!(a, b),
    }
}

fn sorted(mut v: Vec<ProbeEvent>) -> Vec<ProbeEvent> {
    v.sort_by_key(|e| (to_micros(e.envelope.event_time), e.envelope.uuid));
    v
}

/// Checks of target "t" every minute for three hours ending `end`, every field set in some and
/// absent in others, its descriptor changing mid-hour.
fn varied(end: OffsetDateTime) -> Vec<ProbeEvent> {
    (0..180i64)
        .map(|i| {
            let t = end - time::Duration::minutes(180 - i) + time::Duration::microseconds(i * 7919);
            let mut e = ProbeEvent::new(t, "https", "t.example.org", Some(443));
            e.target = Some("t".into());
            e.path = if i < 100 { "/health" } else { "/v2/health" }.into();
            e.url = Some(format!("https://t.example.org{}", e.path));
            e.name = Some(if i < 100 { "T" } else { "T (v2)" }.into());
            e.location = (i % 2 == 0).then(|| "eu-west".into());
            e.regex = (i >= 50).then(|| "ok".into());
            e.matches_regex = (i >= 50).then_some(i % 9 != 0);
            e.up = Some(i % 13 != 0);
            e.status_code = Some(if i % 13 == 0 { 0 } else { 200 });
            e.response_time_ms = 20 + (i as u64 * 37) % 400;
            if i % 13 == 0 {
                e.error_kind = Some(if i % 2 == 0 {
                    ErrorKind::ConnectRefused
                } else {
                    ErrorKind::Timeout
                });
                e.error = Some(format!("no answer from 2001:db8::{i:x}"));
            } else {
                e.phases_ms = Some(Phases {
                    dns: (i % 5 != 0).then_some(1.25 + i as f64 / 1000.0),
                    connect: Some(2.5),
                    tls: Some(3.125),
                    ttfb: Some(10.0 + i as f64 * 0.001),
                    transfer: (i % 3 != 0).then_some(0.75),
                });
                e.ip = Some(if i % 4 == 0 {
                    "2001:db8::1".into()
                } else {
                    "192.0.2.1".into()
                });
                e.http_version = Some(if i % 2 == 0 { "HTTP/2.0" } else { "HTTP/1.1" }.into());
                e.body_bytes = Some(1000 + i as u64);
                e.redirects = Some((i % 3) as u32);
                e.tls_cert_not_after = Some(datetime!(2027-06-01 00:00:00 UTC));
            }
            // Conditions and degraded_if configured from the third quarter on (schema 0.4.0).
            if i >= 90 {
                e.envelope.schema_version = "0.4.0".into();
                let fast = e.response_time_ms < 300;
                e.conditions = Some(vec![
                    ConditionResult {
                        condition: "[CONNECTED] == true".into(),
                        success: e.up == Some(true),
                        resolved: if e.up == Some(true) {
                            "[CONNECTED] == true".into()
                        } else {
                            "[CONNECTED] (false) == true".into()
                        },
                    },
                    ConditionResult {
                        condition: "[HEADER].content-type == pat(*json*)".into(),
                        success: true,
                        resolved: "[HEADER].content-type == pat(*json*)".into(),
                    },
                ]);
                e.degraded = (i % 5 != 0).then_some(!fast);
            }
            whole_micros(e)
        })
        .collect()
}

#[tokio::test]
async fn every_field_comes_back_after_its_hour_is_packed_and_charts_read_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite3");
    let store = open(&path);
    let end = from_micros(now_micros());
    let events = varied(end);
    let done = store
        .ingest(events.iter().cloned().map(Event::from).collect())
        .await
        .unwrap();
    assert_eq!(done.inserted, 180);
    let now = to_micros(end);
    let from = now - 4 * HOUR;
    let series_before = store.series("t", from, now, MINUTE).await.unwrap();
    let hourly_before = store.series("t", from, now, HOUR).await.unwrap();
    let api_before = store.events("t", from, now + 1, 1000).await.unwrap();

    let packed = store.pack(now + 2 * HOUR).await.unwrap();
    assert_eq!(packed.events, 180);
    let c = rusqlite::Connection::open(&path).unwrap();
    let (blocks, open_rows): (i64, i64) = c
        .query_row(
            "SELECT (SELECT count(*) FROM event_blocks), (SELECT count(*) FROM events_open)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!((3..=4).contains(&blocks), "{blocks} blocks");
    assert_eq!(open_rows, 0);
    let vacuum: i64 = c.query_row("PRAGMA auto_vacuum", [], |r| r.get(0)).unwrap();
    assert_eq!(
        vacuum, 2,
        "incremental: pruned pages go back to the file system"
    );

    assert_same(stored(&path, "t"), sorted(events.clone()), "whole events");
    let series_after = store.series("t", from, now, MINUTE).await.unwrap();
    assert_eq!(
        serde_json::to_value(&series_before).unwrap(),
        serde_json::to_value(&series_after).unwrap()
    );
    assert_eq!(series_after.iter().map(|p| p.checks).sum::<u64>(), 180);
    // Packed hours keep sums to the microsecond: averages agree to far below that.
    let hourly_after = store.series("t", from, now, HOUR).await.unwrap();
    assert_close(
        &serde_json::to_value(&hourly_before).unwrap(),
        &serde_json::to_value(&hourly_after).unwrap(),
    );
    let api_after = store.events("t", from, now + 1, 1000).await.unwrap();
    assert_eq!(
        serde_json::to_value(&api_before).unwrap(),
        serde_json::to_value(&api_after).unwrap()
    );
    assert_eq!(api_after.len(), 180);
    let newest5 = store.events("t", from, now + 1, 5).await.unwrap();
    assert_eq!(
        serde_json::to_value(&newest5).unwrap(),
        serde_json::to_value(&api_after[..5]).unwrap()
    );

    // Late: a new event of a packed hour is merged into its block; a re-delivered one is not.
    let mut late = events[10].clone();
    late.envelope.uuid = uuid::Uuid::new_v4();
    let again = store
        .ingest(vec![late.clone().into(), events[11].clone().into()])
        .await
        .unwrap();
    assert_eq!((again.inserted, again.duplicates), (1, 1));
    let mut want = events.clone();
    want.push(late);
    assert_eq!(stored(&path, "t"), sorted(want));
    assert_eq!(store.uptime("t", from, now + 1).await.unwrap().checks, 181);
}

#[tokio::test]
async fn conditions_written_by_writers_sqlite_come_back_intact_before_and_after_packing() {
    use uptimer::writers::Writer;
    use uptimer::writers::sqlite::SqliteWriter;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite3");
    let store = open(&path);
    let end = from_micros(now_micros());
    let events = varied(end);
    assert!(events.iter().any(|e| e.conditions.is_some()));
    assert!(events.iter().any(|e| e.degraded == Some(true)));
    let mut w = SqliteWriter::new(store.clone(), Default::default());
    let batch: Vec<Event> = events.iter().cloned().map(Event::from).collect();
    for chunk in batch.chunks(50) {
        w.write_and_wait(chunk).await.unwrap();
    }
    assert_same(stored(&path, "t"), sorted(events.clone()), "open hours");
    store.pack(to_micros(end) + 2 * HOUR).await.unwrap();
    assert_same(stored(&path, "t"), sorted(events), "packed hours");
}

#[tokio::test]
async fn events_older_than_the_raw_horizon_are_counted_and_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = StoreSettings::with_path(dir.path().join("s.sqlite3"));
    settings.retention_events = std::time::Duration::from_secs(3600);
    let store = SqliteStore::open(&settings).unwrap();
    let events = varied(from_micros(now_micros()));
    let done = store
        .ingest(events.into_iter().map(Event::from).collect())
        .await
        .unwrap();
    // Three hours of checks, the last hour's kept.
    assert_eq!(done.inserted + done.too_old, 180);
    assert!((55..=62).contains(&done.inserted), "{done:?}");
    let now = now_micros();
    let up = store.uptime("t", now - 4 * HOUR, now + 1).await.unwrap();
    assert_eq!(
        up.checks as usize, done.inserted,
        "rollups count only what was kept"
    );
}

fn fixture(dir: &Path) -> PathBuf {
    let path = dir.join("uptimer.sqlite3");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store-v3/uptimer.sqlite3"),
        &path,
    )
    .unwrap();
    path
}

fn fixture_events() -> Vec<ProbeEvent> {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store-v3/events.jsonl"),
    )
    .unwrap();
    text.lines()
        .map(|l| serde_json::from_str::<ProbeEvent>(l).unwrap())
        .collect()
}

/// What the store of the fixture says, after its upgrade.
async fn check_upgraded(path: &Path) {
    let c = rusqlite::Connection::open(path).unwrap();
    let version: i64 = c
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, uptimer::store::sqlite::schema::VERSION);
    drop(c);
    let events = fixture_events();
    for id in [
        "api-id",
        "web-id",
        "v6-id",
        "http://legacy.example.org:8080/",
    ] {
        let want: Vec<ProbeEvent> = events
            .iter()
            .filter(|e| uptimer::store::sqlite::write::target_id(e) == id)
            .cloned()
            // The row-per-event version did not keep an event's name.
            .map(|mut e| {
                e.name = None;
                whole_micros(e)
            })
            .collect();
        assert!(!want.is_empty());
        assert_same(stored(path, id), sorted(want), id);
    }
    let store = open(path);
    let (incidents, total) = store
        .incidents(IncidentQuery {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(total, 6);
    assert!(
        incidents
            .iter()
            .any(|i| i.target_id == "web-id" && i.failed_checks == 15)
    );
    let start = to_micros(datetime!(2026-11-29 10:00 UTC));
    let up = store
        .uptime("web-id", start, start + 3 * HOUR)
        .await
        .unwrap();
    assert_eq!((up.checks, up.up), (180, 165));
    let hourly = store
        .series("api-id", start, start + 3 * HOUR, HOUR)
        .await
        .unwrap();
    assert_eq!(
        hourly.iter().map(|p| p.checks).collect::<Vec<_>>(),
        [60, 60, 60]
    );
    let t = store.target("web-id").await.unwrap().unwrap();
    assert_eq!(t.name, "The web");
    assert!(t.recent.ends_with('u'));
}

#[tokio::test]
async fn a_store_of_the_row_per_event_version_is_upgraded_on_first_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = fixture(dir.path());
    drop(open(&path));
    check_upgraded(&path).await;
    assert!(!dir.path().join("uptimer.sqlite3.upgrading").exists());
}

/// An upgrade stopped after two targets (as a SIGKILL after its second commit leaves it: the
/// old file untouched, the new one with two targets' history and its progress) goes on where
/// it stopped at the next open.
#[tokio::test]
async fn an_upgrade_stopped_midway_goes_on_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let path = fixture(dir.path());
    upgrade::upgrade_partly(&path, 2, &|_| {}).unwrap();
    let next = dir.path().join("uptimer.sqlite3.upgrading");
    assert!(next.exists());
    let c = rusqlite::Connection::open(&next).unwrap();
    let at: i64 = c
        .query_row(
            "SELECT at FROM upgrade_progress WHERE step = 'history'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(at, 2);
    drop(c);
    let old = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = old
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 3, "the old file is untouched until the end");
    drop(old);
    drop(open(&path));
    check_upgraded(&path).await;
}

/// Above its size cap the store deletes the oldest raw hours first, then the oldest rollup
/// days, down to 90 % of the cap; targets, live state and incidents stay, and the dashboard
/// answers meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn above_its_size_cap_the_store_deletes_the_oldest_history_first() {
    use uptimer::store::sqlite::generate::Spec;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite3");
    let store = open(&path);
    store
        .generate(Spec {
            targets: 20,
            days: 10,
            raw_days: 3,
            interval_s: 60,
        })
        .await
        .unwrap();
    let c = rusqlite::Connection::open(&path).unwrap();
    let used = || {
        c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap();
        uptimer::store::sqlite::stats::used_bytes(&c).unwrap()
    };
    let q = |sql: &str| -> i64 { c.query_row(sql, [], |r| r.get(0)).unwrap() };
    let before = used();
    let (oldest, newest) = (
        q("SELECT min(hour) FROM event_blocks"),
        q("SELECT max(hour) FROM event_blocks"),
    );
    let (targets, incidents) = (
        q("SELECT count(*) FROM targets"),
        q("SELECT count(*) FROM incidents WHERE ended_at IS NULL"),
    );
    drop(store);

    let mut settings = StoreSettings::with_path(path.clone());
    settings.max_bytes = Some(before / 2);
    let capped = SqliteStore::open(&settings).unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    let (done, pages) = tokio::join!(capped.keep_under_cap(&stop), async {
        let mut answered = 0;
        for _ in 0..20 {
            capped
                .overview(uptimer::store::OverviewQuery {
                    per_page: 50,
                    ..Default::default()
                })
                .await
                .unwrap();
            answered += 1;
        }
        answered
    });
    let done = done.unwrap();
    assert_eq!(pages, 20);
    assert!(done.blocks > 0, "{done:?}");
    assert_eq!(done.days, 0, "raw hours were enough: {done:?}");
    assert!(used() <= before / 2, "{} of {}", used(), before / 2);
    assert!(
        q("SELECT min(hour) FROM event_blocks") > oldest,
        "the oldest went first"
    );
    assert_eq!(
        q("SELECT max(hour) FROM event_blocks"),
        newest,
        "the newest stayed"
    );
    assert_eq!(q("SELECT count(*) FROM targets"), targets);
    assert_eq!(
        q("SELECT count(*) FROM incidents WHERE ended_at IS NULL"),
        incidents
    );
}

/// The benchmark's generator writes what real ingest and the pack job would: the same events
/// ingested into a new store and packed take the same bytes per raw event, within 5 %.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_generator_writes_what_ingest_and_packing_write() {
    use uptimer::store::sqlite::generate::Spec;
    use uptimer::store::sqlite::stats;
    let dir = tempfile::tempdir().unwrap();
    let generated = dir.path().join("generated.sqlite3");
    let store = open(&generated);
    store
        .generate(Spec {
            targets: 10,
            days: 2,
            raw_days: 2,
            interval_s: 60,
        })
        .await
        .unwrap();
    store.close().await.unwrap();
    let mut events = Vec::new();
    for i in 0..10 {
        events.extend(stored(
            &generated,
            &uptimer::store::sqlite::generate::target_id(i),
        ));
    }
    assert!(events.len() > 20_000, "{}", events.len());

    let ingested = dir.path().join("ingested.sqlite3");
    let store = open(&ingested);
    for chunk in events.chunks(2000) {
        let done = store
            .ingest(chunk.iter().cloned().map(Event::from).collect())
            .await
            .unwrap();
        assert_eq!(done.inserted, chunk.len());
    }
    store.pack(now_micros()).await.unwrap();
    store.close().await.unwrap();

    let per_event = |path: &Path| {
        let (c, version) = stats::open_read_only(path).unwrap();
        stats::collect(&c, path, version)
            .unwrap()
            .bytes_per_raw_event
            .unwrap()
    };
    let (g, i) = (per_event(&generated), per_event(&ingested));
    assert!(
        (g - i).abs() <= 0.05 * i,
        "generated {g:.1} B/event, ingested and packed {i:.1} B/event"
    );
}
