//! The embedded store on a real SQLite file: idempotent writes, exact rollups under replays
//! and concurrent writers, incidents from up→down transitions, retention, and the queries the
//! dashboard runs.

mod support;

use std::time::Duration;

use time::OffsetDateTime;
use time::macros::datetime;
use uptimer::config::StoreSettings;
use uptimer::event::{ErrorKind, Event, ProbeEvent, Verdict, VerdictEvent};
use uptimer::store::{
    DAY, HOUR, IncidentQuery, MINUTE, OverviewQuery, Sort, SqliteStore, Status, Store, to_micros,
};

use support::*;

fn store(dir: &tempfile::TempDir) -> SqliteStore {
    SqliteStore::open(&StoreSettings::with_path(
        dir.path().join("s/uptimer.sqlite3"),
    ))
    .unwrap()
}

fn event(target: &str, t: OffsetDateTime, up: bool, ms: u64) -> Event {
    let mut e = ProbeEvent::new(t, "https", "example.org", Some(443));
    e.target = Some(target.into());
    e.name = Some(format!("name of {target}"));
    e.url = Some(format!("https://example.org/{target}"));
    e.up = Some(up);
    e.response_time_ms = ms;
    e.status_code = Some(if up { 200 } else { 503 });
    if !up {
        e.error_kind = Some(ErrorKind::HttpStatus);
        e.error = Some("unexpected status 503".into());
    }
    e.phases_ms = Some(https_phases(ms));
    e.tls_cert_not_after = Some(datetime!(2027-01-01 0:00 UTC));
    e.into()
}

fn now() -> OffsetDateTime {
    // Rollup windows are relative to the wall clock; events a little in the past.
    OffsetDateTime::now_utc() - Duration::from_secs(120)
}

#[tokio::test]
async fn the_file_is_in_wal_mode_and_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    s.ingest(vec![event("a", now(), true, 50)]).await.unwrap();
    drop(s);
    let c = journal_mode_of(&dir.path().join("s/uptimer.sqlite3"));
    assert_eq!(c, "wal");
    let s = store(&dir);
    assert_eq!(s.target("a").await.unwrap().unwrap().status, Status::Up);
}

/// A fleet's events: a probe of a round is stored as any probe (its round and recheck are not
/// kept: this store serves one location); a verdict is not this store's, skipped and counted.
#[tokio::test]
async fn a_probe_with_a_round_is_stored_and_a_verdict_is_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    let Event::Probe(mut p) = event("a", now(), true, 50) else {
        unreachable!()
    };
    p.round = Some(29_955_600);
    p.recheck = Some(true);
    let mut v = VerdictEvent::new("a", 29_955_600, Verdict::Down, now());
    v.down = vec!["eu-west".into(), "us-east".into()];
    let done = s.ingest(vec![Event::Probe(p), v.into()]).await.unwrap();
    assert_eq!((done.inserted, done.ignored, done.rejected), (1, 1, 0));
    assert_eq!(s.target("a").await.unwrap().unwrap().status, Status::Up);
}

fn journal_mode_of(p: &std::path::Path) -> String {
    // The journal mode is a property of the file: read it back with the sqlite3 header bytes
    // 18 and 19 (2 = WAL).
    let bytes = std::fs::read(p).unwrap();
    if bytes[18] == 2 && bytes[19] == 2 {
        "wal".into()
    } else {
        format!("{}/{}", bytes[18], bytes[19])
    }
}

#[tokio::test]
async fn replaying_a_batch_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    let t0 = now();
    let batch: Vec<Event> = (0..10)
        .map(|i| event("a", t0 + Duration::from_secs(i), i % 5 != 4, 20 + i))
        .collect();
    let first = s.ingest(batch.clone()).await.unwrap();
    assert_eq!((first.inserted, first.duplicates), (10, 0));
    let before = s
        .series("a", to_micros(t0) - HOUR, to_micros(t0) + HOUR, MINUTE)
        .await
        .unwrap();
    let (inc_before, _) = s
        .incidents(IncidentQuery {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    let again = s.ingest(batch.clone()).await.unwrap();
    assert_eq!((again.inserted, again.duplicates), (0, 10));
    let after = s
        .series("a", to_micros(t0) - HOUR, to_micros(t0) + HOUR, MINUTE)
        .await
        .unwrap();
    assert_eq!(before, after);
    let (inc_after, _) = s
        .incidents(IncidentQuery {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(inc_before.len(), inc_after.len());
    let total: u64 = after.iter().map(|p| p.checks).sum();
    let up: u64 = after.iter().map(|p| p.up).sum();
    assert_eq!((total, up), (10, 8));
}

#[tokio::test]
async fn parallel_writers_with_overlapping_batches_keep_rollups_exact() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s/uptimer.sqlite3");
    let t0 = now();
    let events: Vec<Event> = (0..600)
        .map(|i| {
            event(
                &format!("t{}", i % 3),
                t0 - Duration::from_millis(i * 100),
                true,
                10 + i % 50,
            )
        })
        .collect();
    // Two stores on the same file (as two processes would be), each writing every event,
    // in different batch cuts.
    let a = SqliteStore::open(&StoreSettings::with_path(path.clone())).unwrap();
    let b = SqliteStore::open(&StoreSettings::with_path(path.clone())).unwrap();
    let (ea, eb) = (events.clone(), events.clone());
    let ta = tokio::spawn(async move {
        let mut n = 0;
        for chunk in ea.chunks(70) {
            n += a.ingest(chunk.to_vec()).await.unwrap().inserted;
        }
        n
    });
    let tb = tokio::spawn(async move {
        let mut n = 0;
        for chunk in eb.chunks(33).rev() {
            n += b.ingest(chunk.to_vec()).await.unwrap().inserted;
        }
        n
    });
    let (na, nb) = (ta.await.unwrap(), tb.await.unwrap());
    assert_eq!(na + nb, 600, "every event inserted exactly once");
    let s = SqliteStore::open(&StoreSettings::with_path(path)).unwrap();
    for t in ["t0", "t1", "t2"] {
        let from = to_micros(t0) - 2 * HOUR;
        let to = to_micros(t0) + HOUR;
        let minutes: u64 = s
            .series(t, from, to, MINUTE)
            .await
            .unwrap()
            .iter()
            .map(|p| p.checks)
            .sum();
        let hours: u64 = s
            .series(t, from, to, HOUR)
            .await
            .unwrap()
            .iter()
            .map(|p| p.checks)
            .sum();
        assert_eq!((minutes, hours), (200, 200), "{t}");
        let u = s.uptime(t, from, to).await.unwrap();
        assert_eq!((u.checks, u.up, u.ratio), (200, 200, Some(1.0)));
    }
}

#[tokio::test]
async fn incidents_open_on_the_first_failure_and_close_on_the_next_pass() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    let t0 = now() - Duration::from_secs(60);
    let pattern = [true, true, false, false, false, true, true, false, true];
    for (i, up) in pattern.iter().enumerate() {
        // One event per batch, as a prober delivers them.
        s.ingest(vec![event(
            "a",
            t0 + Duration::from_secs(i as u64 * 5),
            *up,
            30,
        )])
        .await
        .unwrap();
    }
    let (list, total) = s
        .incidents(IncidentQuery {
            target: Some("a".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(total, 2);
    let older = &list[1];
    assert_eq!(older.started_at, to_micros(t0 + Duration::from_secs(10)));
    assert_eq!(
        older.ended_at,
        Some(to_micros(t0 + Duration::from_secs(25)))
    );
    assert_eq!(older.failed_checks, 3);
    assert_eq!(older.error_kind.as_deref(), Some("http_status"));
    assert_eq!(older.error.as_deref(), Some("unexpected status 503"));
    assert_eq!(list[0].failed_checks, 1);
    assert!(list[0].ended_at.is_some());
    let t = s.target("a").await.unwrap().unwrap();
    assert_eq!(
        t.status,
        Status::Flapping,
        "passed last, failed within the last 10"
    );
    assert_eq!(t.recent, "uuddduudu");
    assert_eq!(
        t.cert_not_after,
        Some(to_micros(datetime!(2027-01-01 0:00 UTC)))
    );
    assert!(t.down_since.is_none());

    // Still failing: the incident is open and the target down since its first failure.
    s.ingest(vec![event("a", t0 + Duration::from_secs(50), false, 30)])
        .await
        .unwrap();
    let t = s.target("a").await.unwrap().unwrap();
    assert_eq!(t.status, Status::Down);
    assert_eq!(t.down_since, Some(to_micros(t0 + Duration::from_secs(50))));
    let (open, _) = s
        .incidents(IncidentQuery {
            open_only: true,
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].target_name, "name of a");
}

#[tokio::test]
async fn a_late_event_counts_in_rollups_but_does_not_rewrite_the_live_state() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    let t0 = now();
    s.ingest(vec![event("a", t0, true, 30)]).await.unwrap();
    s.ingest(vec![event("a", t0 - Duration::from_secs(30), false, 30)])
        .await
        .unwrap();
    let t = s.target("a").await.unwrap().unwrap();
    assert_eq!((t.status, t.recent.as_str()), (Status::Up, "u"));
    let (list, _) = s
        .incidents(IncidentQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(list.is_empty());
    let u = s
        .uptime("a", to_micros(t0) - HOUR, to_micros(t0) + HOUR)
        .await
        .unwrap();
    assert_eq!((u.checks, u.up), (2, 1));
}

#[tokio::test]
async fn p95_comes_from_merged_histograms_and_phases_average() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    let t0 = OffsetDateTime::now_utc();
    let t0 = t0 - Duration::from_secs(3 * 3600);
    // 100 events over several minutes: 1..=100 ms + 10.
    let events: Vec<Event> = (1..=100u64)
        .map(|i| event("a", t0 + Duration::from_secs(i * 7), true, 10 + i))
        .collect();
    s.ingest(events).await.unwrap();
    let from = to_micros(t0) - HOUR;
    let to = to_micros(t0) + 2 * HOUR;
    let hourly = s.series("a", from, to, 3 * HOUR).await.unwrap();
    assert_eq!(hourly.len(), 1);
    let p = &hourly[0];
    assert_eq!(p.checks, 100);
    let p95 = p.p95_ms.unwrap();
    assert!((105.0..=105.0 * 1.2).contains(&p95), "{p95}");
    let avg = p.avg_ms.unwrap();
    assert!((avg - 60.5).abs() < 1e-9, "{avg}");
    assert_eq!((p.min_ms, p.max_ms), (Some(11.0), Some(110.0)));
    assert!((p.phases_ms[3] - 53.5).abs() < 1e-9);
    assert_eq!(p.phases_ms[0], 1.0);
}

#[tokio::test]
async fn retention_drops_raw_events_by_the_hour_and_keeps_rollups() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    let now = OffsetDateTime::now_utc();
    let at = |days: u64| now - Duration::from_secs(days * 86_400 + 60);
    let mut kept = 0;
    for days_ago in [0u64, 3, 10] {
        let done = s
            .ingest(vec![event("a", at(days_ago), true, 20)])
            .await
            .unwrap();
        kept += done.inserted;
        // Older than the raw horizon (7 days): counted, not stored, not in the rollups.
        assert_eq!(done.too_old, usize::from(days_ago == 10));
    }
    assert_eq!(kept, 2);
    // Five days on, the 3-day-old event is past the horizon; its hour rollup stays (400 d).
    let later = to_micros(now) + 5 * DAY;
    let deleted = s.prune(later).await.unwrap();
    assert_eq!(deleted, 1);
    let events = s.events("a", 0, i64::MAX, 100).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_time, to_micros(at(0)));
    let hours = s
        .series("a", to_micros(now) - 11 * DAY, to_micros(now) + HOUR, HOUR)
        .await
        .unwrap();
    assert_eq!(hours.len(), 2);
    // Steps under an hour come from raw events.
    let minutes = s
        .series(
            "a",
            to_micros(now) - 11 * DAY,
            to_micros(now) + HOUR,
            MINUTE,
        )
        .await
        .unwrap();
    assert_eq!(minutes.len(), 1);
    assert_eq!(s.prune(later).await.unwrap(), 0);
}

#[tokio::test]
async fn overview_filters_sorts_and_pages() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    let t = now() + Duration::from_secs(110);
    let mut batch = Vec::new();
    for i in 0..120 {
        batch.push(event(&format!("t{i:03}"), t, i % 10 != 0, 100 + i));
    }
    s.ingest(batch).await.unwrap();
    s.sync_targets(vec![uptimer::store::sqlite::TargetInfo {
        id: "t001".into(),
        name: "Checkout API".into(),
        url: "https://shop.example/api".into(),
        protocol: "https".into(),
        hostname: "shop.example".into(),
        port: Some(443),
        path: "/api".into(),
        tags: vec!["prod".into(), "shop".into()],
        interval_s: Some(30.0),
    }])
    .await
    .unwrap();
    let page = s
        .overview(OverviewQuery {
            per_page: 50,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.counts.total(), 120);
    assert_eq!((page.counts.down, page.counts.up), (12, 108));
    assert_eq!(page.matching, 120);
    assert_eq!(page.targets.len(), 50);
    assert!(
        page.targets[..12].iter().all(|t| t.status == Status::Down),
        "problems first"
    );
    assert_eq!(page.tags, vec!["prod", "shop"]);
    let last = s
        .overview(OverviewQuery {
            page: 2,
            per_page: 50,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(last.targets.len(), 20);
    let found = s
        .overview(OverviewQuery {
            search: Some("checkout".into()),
            per_page: 50,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(found.targets.len(), 1);
    assert_eq!(found.targets[0].tags, vec!["prod", "shop"]);
    assert_eq!(found.targets[0].uptime.day, Some(1.0));
    let tagged = s
        .overview(OverviewQuery {
            tag: Some("shop".into()),
            per_page: 50,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(tagged.matching, 1);
    let part = s
        .overview(OverviewQuery {
            tag: Some("sho".into()),
            per_page: 50,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(part.matching, 0, "a tag matches whole tags only");
    let wild = s
        .overview(OverviewQuery {
            search: Some("%".into()),
            per_page: 50,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(wild.matching, 0, "% is a literal, not a wildcard");
    let down = s
        .overview(OverviewQuery {
            status: Some(Status::Down),
            sort: Sort::ResponseTime,
            desc: true,
            per_page: 50,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(down.matching, 12);
    // Their last check failed: no response time to show (nor to sort by).
    assert!(down.targets.iter().all(|t| t.last_response_ms.is_none()));
    assert!(down.targets.iter().all(|t| t.last_error.is_some()));
}

#[tokio::test]
async fn a_target_without_checks_for_three_intervals_is_unknown() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    s.ingest(vec![event(
        "old",
        OffsetDateTime::now_utc() - Duration::from_secs(3600),
        true,
        10,
    )])
    .await
    .unwrap();
    assert_eq!(
        s.target("old").await.unwrap().unwrap().status,
        Status::Unknown
    );
    let page = s
        .overview(OverviewQuery {
            per_page: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.counts.unknown, 1);
}

#[tokio::test]
async fn intervals_keep_fractions_of_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    s.sync_targets(vec![uptimer::store::sqlite::TargetInfo {
        id: "f".into(),
        name: "fast".into(),
        url: "https://example.org/".into(),
        protocol: "https".into(),
        hostname: "example.org".into(),
        port: Some(443),
        path: "/".into(),
        tags: vec![],
        interval_s: Some(1.5),
    }])
    .await
    .unwrap();
    assert_eq!(s.target("f").await.unwrap().unwrap().interval_s, Some(1.5));
}

#[test]
fn a_version_1_file_is_upgraded_and_its_rollups_keep_their_meaning() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.sqlite3");
    let t = to_micros(now());
    let bucket = t - t.rem_euclid(HOUR);
    {
        // What version 1 wrote: times of every check, failed ones included, and no `timed`.
        let c = rusqlite::Connection::open(&path).unwrap();
        uptimer::store::sqlite::schema::migrate_to(&c, 1).unwrap();
        c.execute(
            "INSERT INTO rollup_hour VALUES ('old', ?1, 2, 1, 100.0, 0.0, 100.0, 0, 0, 0, 0, 0, x'')",
            [bucket],
        )
        .unwrap();
        // A state stored under its old name.
        c.execute(
            "INSERT INTO targets (id, first_seen, last_seen, last_event_time, recent, status)
             VALUES ('flaps', 0, 0, ?1, 'udu', 'degraded')",
            [t],
        )
        .unwrap();
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let s = SqliteStore::open(&StoreSettings::with_path(path.clone())).unwrap();
    let points = rt
        .block_on(s.series("old", bucket, bucket + HOUR, HOUR))
        .unwrap();
    assert_eq!(
        points[0].avg_ms,
        Some(50.0),
        "an old row's sum covers every check"
    );
    // New checks in the same hour: only the successful one's time counts.
    rt.block_on(s.ingest(vec![
        event("old", now(), true, 300),
        event("old", now(), false, 0),
    ]))
    .unwrap();
    let p = &rt
        .block_on(s.series("old", bucket, bucket + HOUR, HOUR))
        .unwrap()[0];
    assert_eq!((p.checks, p.up), (4, 2));
    assert_eq!(p.avg_ms, Some(400.0 / 3.0));
    assert_eq!((p.min_ms, p.max_ms), (Some(0.0), Some(300.0)));
    let version: i64 = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, uptimer::store::sqlite::schema::VERSION);
    let flaps = rt.block_on(s.target("flaps")).unwrap().unwrap();
    assert_eq!(
        flaps.status,
        Status::Flapping,
        "degraded is called flapping"
    );
}

/// `uptimer serve` with `urls`, until `done` holds for an API answer (then stopped).
fn serve_until(
    dir: &std::path::Path,
    urls: &str,
    path: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let port = free_port();
    let mut c = uptimer(dir);
    c.args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("PROBE_URLS", urls)
        .env("PROBE_INTERVAL", "-1")
        .env("DATA_DIR", "data");
    let p = start_serve(c);
    let found = wait_for(&format!("{path} as expected"), PATIENCE, || {
        let body = get_body(port, path)?;
        serde_json::from_str(&body).ok().filter(|v| done(v))
    });
    let out = p.terminate();
    assert!(out.status.success(), "{}", stderr(&out));
    found
}

#[test]
fn serve_marks_targets_no_longer_configured_removed_and_closes_their_incidents() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens there: both checks are refused, both targets down with an incident.
    let closed = free_port();
    let (a, b) = (
        format!("http://127.0.0.1:{closed}/a"),
        format!("http://127.0.0.1:{closed}/b"),
    );
    let first = serve_until(
        dir.path(),
        &format!("[{a}, {b}]"),
        "/api/v1/incidents?open=true",
        |v| v["total"] == 2,
    );
    let b_id = first["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["target_name"].as_str().unwrap().ends_with("/b"))
        .map(|i| i["target_id"].as_str().unwrap().to_owned())
        .unwrap();

    // Restarted with only a: b is removed, its incident closed, its history kept.
    let removed = serve_until(dir.path(), &a, "/api/v1/targets?removed=1", |v| {
        v["matching"] == 1
    });
    assert_eq!(removed["targets"][0]["id"], b_id.as_str(), "{removed}");
    assert!(removed["targets"][0]["removed_at"].is_string());
    let incidents = serve_until(
        dir.path(),
        &a,
        &format!("/api/v1/incidents?target={b_id}"),
        |v| v["total"] == 1,
    );
    assert_eq!(
        incidents["incidents"][0]["end_reason"], "target removed",
        "{incidents}"
    );
    assert!(incidents["incidents"][0]["ended_at"].is_string());
    let listed = serve_until(dir.path(), &a, "/api/v1/targets", |v| v["matching"] == 1);
    assert_eq!(listed["counts"]["removed"], 1, "{listed}");
    assert_ne!(listed["targets"][0]["id"], b_id.as_str());
    let events = serve_until(
        dir.path(),
        &a,
        &format!("/api/v1/targets/{b_id}/events"),
        |v| v["events"].is_array(),
    );
    assert_eq!(
        events["events"].as_array().unwrap().len(),
        1,
        "history kept"
    );
}

/// `uptimer run` with `WRITER_PLUGIN=writers.sqlite` registers its targets and marks the ones
/// no longer configured removed, as `serve` does.
#[test]
fn run_with_the_sqlite_writer_marks_targets_no_longer_configured_removed() {
    let dir = tempfile::tempdir().unwrap();
    let closed = free_port();
    let (a, b) = (
        format!("http://127.0.0.1:{closed}/a"),
        format!("http://127.0.0.1:{closed}/b"),
    );
    let run = |urls: &str| {
        let out = uptimer(dir.path())
            .arg("run")
            .env("WRITER_PLUGIN", "writers.sqlite")
            .env("PROBE_URLS", urls)
            .env("PROBE_INTERVAL", "-1")
            .env("DATA_DIR", "data")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    };
    run(&format!("[{a}, {b}]"));
    run(&a);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let store = SqliteStore::open(&StoreSettings::with_path(
        dir.path().join("data/uptimer.sqlite3"),
    ))
    .unwrap();
    let removed = rt
        .block_on(store.overview(OverviewQuery {
            removed: true,
            per_page: 10,
            ..Default::default()
        }))
        .unwrap();
    assert_eq!(removed.targets.len(), 1);
    assert_eq!(removed.targets[0].url.as_deref(), Some(b.as_str()));
    let (incidents, _) = rt
        .block_on(store.incidents(IncidentQuery {
            target: Some(removed.targets[0].id.clone()),
            limit: 10,
            ..Default::default()
        }))
        .unwrap();
    assert_eq!(incidents[0].end_reason.as_deref(), Some("target removed"));
}

/// End to end: `uptimer run` probes a real HTTP server for a target whose `degraded_if` always
/// holds, into the SQLite store: the store says degraded, with no incident. Run again without
/// the condition, the same target is up, still without an incident.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_with_degraded_if_stores_a_degraded_target_and_no_incident() {
    let server = http_server().await;
    let dir = tempfile::tempdir().unwrap();
    let run = |degraded_if: &str| {
        std::fs::write(
            dir.path().join("uptimer.yaml"),
            format!(
                "probe:\n  interval: -1\ntargets:\n  - name: Slow service\n    url: {}\n{degraded_if}",
                server.url("/ok")
            ),
        )
        .unwrap();
        let out = uptimer(dir.path())
            .args(["run", "--config", "uptimer.yaml"])
            .env("WRITER_PLUGIN", "writers.sqlite")
            .env("DATA_DIR", "data")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        SqliteStore::open(&StoreSettings::with_path(
            dir.path().join("data/uptimer.sqlite3"),
        ))
        .unwrap()
    };
    let status_and_incidents = async |store: &SqliteStore| {
        let page = store
            .overview(OverviewQuery {
                per_page: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(page.targets.len(), 1, "{page:?}");
        let (_, incidents) = store
            .incidents(IncidentQuery {
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        (page.targets[0].status, page.counts.degraded, incidents)
    };

    let store = run("    degraded_if: ['[RESPONSE_TIME] >= 0']\n");
    assert_eq!(
        status_and_incidents(&store).await,
        (Status::Degraded, 1, 0),
        "degraded, counted, and no incident"
    );
    assert_eq!(server.requests_to("/ok").len(), 1, "probed the real server");
    let store = run("");
    assert_eq!(
        status_and_incidents(&store).await,
        (Status::Up, 0, 0),
        "degraded to up: no incident either"
    );
}
