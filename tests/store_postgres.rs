//! The dashboard over PostgreSQL: rollups, live state and incidents kept by writers.postgres
//! (exact under replays and parallel writers), the `Store` answering as the SQLite store does for
//! the same events, and `uptimer serve --store postgres://…` over HTTP. Each test makes its own
//! database on the shared server and drops it after.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use time::OffsetDateTime;
use tokio_postgres::Client;
use uptimer::config::{DatabaseUrl, PostgresSettings, StoreSettings};
use uptimer::event::{ErrorKind, Event, Phases, ProbeEvent};
use uptimer::postgres::migrate;
use uptimer::store::hist::Histogram;
use uptimer::store::{
    HOUR, IncidentQuery, MINUTE, OverviewQuery, PostgresStore, Sort, SqliteStore, Status, Store,
    now_micros, to_micros,
};
use uptimer::writers::Writer;
use uptimer::writers::postgres::{Options, PostgresWriter, Source};

use support::pg::{TestDb, migrated};
use support::{PATIENCE, free_port, get, off_runtime, start_serve, stderr, uptimer, wait_for};

/// A writer that writes each batch before `write` returns (the Kafka consumer's mode), so
/// batches arrive in the order they are given.
async fn writer(url: &str, data_dir: &Path) -> PostgresWriter {
    let s = PostgresSettings {
        database_url: Some(DatabaseUrl::new(url)),
        shutdown_timeout: Duration::from_secs(20),
        ..PostgresSettings::default()
    };
    PostgresWriter::new(
        &s,
        data_dir,
        Options {
            source: Source::Replayable,
            ..Options::default()
        },
    )
    .await
    .expect("writer starts")
}

/// `targets` targets checked every minute for `minutes` minutes up to now, with stretches of
/// failures; target 0 ends down (an open incident), the last target stopped ten minutes ago
/// (unknown). Sorted by time.
fn history(targets: usize, minutes: i64) -> Vec<Event> {
    let now = OffsetDateTime::now_utc();
    let mut out = Vec::new();
    for k in 0..targets {
        let stop = if k + 1 == targets && targets > 1 {
            10
        } else {
            0
        };
        for m in 0..minutes - stop {
            let t = now - time::Duration::minutes(minutes - m) - time::Duration::seconds(k as i64);
            let ends_down = k == 0 && m >= minutes - 3;
            let up = !ends_down && (m / (13 + k as i64)) % 7 != 3 && (m + k as i64) % 97 != 0;
            let mut e = ProbeEvent::new(t, "https", &format!("t{k}.example"), Some(443));
            e.path = "/".into();
            e.target = Some(format!("target-{k}"));
            e.name = Some(format!("Target {k}"));
            e.url = Some(format!("https://t{k}.example/"));
            e.up = Some(up);
            e.status_code = Some(if up { 200 } else { 503 });
            e.response_time_ms = 20 + ((m * 7 + k as i64 * 13) % 400) as u64;
            if !up {
                e.error_kind = Some(ErrorKind::HttpStatus);
                e.error = Some(format!("503 at minute {m} <script>\"x\"</script>"));
            }
            e.phases_ms = Some(Phases {
                dns: Some(1.25),
                connect: Some((m % 5) as f64),
                tls: None,
                ttfb: Some(10.5),
                transfer: Some(0.5),
            });
            e.tls_cert_not_after = Some(time::macros::datetime!(2027-03-01 00:00 UTC));
            out.push(Event::from(e));
        }
    }
    out.sort_by_key(|e| match e {
        Event::Probe(p) => p.envelope.event_time,
        _ => unreachable!(),
    });
    out
}

/// Every rollup row as text (sums rounded: their order of addition may differ).
async fn rollups(c: &Client) -> Vec<String> {
    let mut out = Vec::new();
    for table in ["rollup_minute", "rollup_hour", "rollup_day"] {
        for r in c
            .query(
                &format!(
                    "SELECT format('%s %s %s %s %s %s %s %s %s', target_id, bucket, checks, up,
                       round(sum_ms::numeric, 3), min_ms, max_ms, round(sum_connect_ms::numeric, 3),
                       hist)
                     FROM {table} ORDER BY target_id, bucket"
                ),
                &[],
            )
            .await
            .unwrap()
        {
            out.push(format!("{table} {}", r.get::<_, String>(0)));
        }
    }
    out
}

async fn state(c: &Client) -> Vec<String> {
    let mut out = Vec::new();
    for sql in [
        "SELECT format('%s %s %s %s %s %s', id, last_event_time, recent, status, last_error,
           open_incident IS NOT NULL) FROM targets ORDER BY id",
        "SELECT format('%s %s %s %s', target_id, started_at, ended_at, failed_checks)
           FROM incidents ORDER BY target_id, started_at",
    ] {
        for r in c.query(sql, &[]).await.unwrap() {
            out.push(r.get(0));
        }
    }
    out
}

/// Per (target, bucket): checks, up, min ms, max ms, histogram.
type Rollups = BTreeMap<(String, i64), (i64, i64, f64, f64, Histogram)>;

/// What the rollups of hour and day must hold, computed from the events themselves: every
/// check counts, response times of the successful ones only (extremes 0 without one).
fn expected(events: &[Event], width: i64) -> Rollups {
    let mut m: Rollups = BTreeMap::new();
    for e in events {
        let Event::Probe(p) = e else { continue };
        let t = to_micros(p.envelope.event_time);
        let ms = p.response_time_ms as f64;
        let a = m
            .entry((p.target.clone().unwrap(), t - t.rem_euclid(width)))
            .or_insert((0, 0, f64::MAX, f64::MIN, Histogram::new()));
        a.0 += 1;
        if p.up == Some(true) {
            a.1 += 1;
            a.2 = a.2.min(ms);
            a.3 = a.3.max(ms);
            a.4.record(ms);
        }
    }
    for a in m.values_mut() {
        if a.1 == 0 {
            (a.2, a.3) = (0.0, 0.0);
        }
    }
    m
}

async fn assert_rollups_match(c: &Client, events: &[Event]) {
    for (table, width) in [("rollup_hour", HOUR), ("rollup_day", 24 * HOUR)] {
        let rows = c
            .query(
                &format!(
                    "SELECT target_id, bucket, checks, up, min_ms, max_ms, hist FROM {table}
                     ORDER BY target_id, bucket"
                ),
                &[],
            )
            .await
            .unwrap();
        let got: Rollups = rows
            .iter()
            .map(|r| {
                (
                    (r.get(0), to_micros(r.get::<_, OffsetDateTime>(1))),
                    (
                        r.get(2),
                        r.get(3),
                        r.get(4),
                        r.get(5),
                        Histogram::decode(r.get::<_, &[u8]>(6)),
                    ),
                )
            })
            .collect();
        assert_eq!(got, expected(events, width), "{table}");
    }
    let total: i64 = c
        .query_one("SELECT count(*) FROM probe_events", &[])
        .await
        .unwrap()
        .get(0);
    let minute: i64 = c
        .query_one("SELECT sum(checks)::int8 FROM rollup_minute", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(total, events.len() as i64);
    assert_eq!(minute, total);
}

#[tokio::test]
async fn postgres_store_rollups_are_exact_when_batches_are_replayed() {
    let db = TestDb::new().await;
    let c = migrated(&db.url).await;
    let dir = tempfile::tempdir().unwrap();
    let events = history(4, 180);
    let mut w = writer(&db.url, dir.path()).await;
    for batch in events.chunks(100) {
        w.write_and_wait(batch).await.unwrap();
    }
    assert_rollups_match(&c, &events).await;
    let (before, live) = (rollups(&c).await, state(&c).await);
    assert!(
        live.iter()
            .any(|l| l.contains("target-0") && l.ends_with(" t"))
    );

    // The same batches again, by the same writer, a new one, and a mix of old and new events.
    for batch in events.chunks(100) {
        w.write_and_wait(batch).await.unwrap();
    }
    let mut w2 = writer(&db.url, dir.path()).await;
    for batch in events.chunks(37).rev() {
        w2.write_and_wait(batch).await.unwrap();
    }
    assert_eq!(rollups(&c).await, before);
    assert_eq!(state(&c).await, live);
    let extra = history(1, 2);
    let mixed: Vec<Event> = events[..50].iter().chain(&extra).cloned().collect();
    w2.write_and_wait(&mixed).await.unwrap();
    let all: Vec<Event> = events.iter().chain(&extra).cloned().collect();
    assert_rollups_match(&c, &all).await;
    w.close().await.unwrap();
    w2.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_store_rollups_are_exact_with_two_writers_in_parallel() {
    let db = TestDb::new().await;
    let c = migrated(&db.url).await;
    let dir = tempfile::tempdir().unwrap();
    let events = history(8, 240);
    let n = events.len();
    // Overlapping halves: the middle 40% is written by both.
    let a: Vec<Event> = events[..n * 7 / 10].to_vec();
    let b: Vec<Event> = events[n * 3 / 10..].iter().rev().cloned().collect();
    let run = |part: Vec<Event>, url: String, dir: std::path::PathBuf| async move {
        let mut w = writer(&url, &dir).await;
        for batch in part.chunks(150) {
            w.write_and_wait(batch).await.unwrap();
        }
        w.close().await.unwrap();
    };
    let (ra, rb) = tokio::join!(
        tokio::spawn(run(a, db.url.clone(), dir.path().join("a"))),
        tokio::spawn(run(b, db.url.clone(), dir.path().join("b"))),
    );
    ra.unwrap();
    rb.unwrap();
    assert_rollups_match(&c, &events).await;
    // Every target's state ends on its newest event.
    for r in c
        .query(
            "SELECT t.id, t.last_event_time = (SELECT max(event_time) FROM probe_events p
               WHERE p.target_id = t.id) FROM targets t",
            &[],
        )
        .await
        .unwrap()
    {
        assert!(r.get::<_, bool>(1), "{}", r.get::<_, String>(0));
    }
}

fn close(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() < 1e-9 * a.abs().max(1.0),
        (None, None) => true,
        _ => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_answers_as_the_sqlite_store_for_the_same_events() {
    let db = TestDb::new().await;
    let _c = migrated(&db.url).await;
    let dir = tempfile::tempdir().unwrap();
    let events = history(6, 2 * 24 * 60);
    let sqlite =
        SqliteStore::open(&StoreSettings::with_path(dir.path().join("s.sqlite3"))).unwrap();
    let mut w = writer(&db.url, dir.path()).await;
    for batch in events.chunks(500) {
        sqlite.ingest(batch.to_vec()).await.unwrap();
        w.write_and_wait(batch).await.unwrap();
    }
    w.close().await.unwrap();
    let pg = PostgresStore::open(&db.url, None, 4).await.unwrap();
    assert_eq!(pg.kind(), "postgres");
    pg.ping().await.unwrap();

    let queries = [
        OverviewQuery {
            per_page: 100,
            ..Default::default()
        },
        OverviewQuery {
            sort: Sort::Name,
            desc: true,
            per_page: 2,
            page: 1,
            ..Default::default()
        },
        OverviewQuery {
            status: Some(Status::Down),
            per_page: 10,
            ..Default::default()
        },
        OverviewQuery {
            search: Some("T1.EXAMPLE".into()),
            sort: Sort::ResponseTime,
            per_page: 10,
            ..Default::default()
        },
    ];
    for q in queries {
        let (a, b) = (
            sqlite.overview(q.clone()).await.unwrap(),
            pg.overview(q.clone()).await.unwrap(),
        );
        assert_eq!(a.matching, b.matching, "{q:?}");
        assert_eq!(a.counts, b.counts, "{q:?}");
        assert_eq!(a.tags, b.tags);
        let ids = |p: &uptimer::store::OverviewPage| {
            p.targets.iter().map(|t| t.id.clone()).collect::<Vec<_>>()
        };
        assert_eq!(ids(&a), ids(&b), "{q:?}");
        assert!(!a.targets.is_empty(), "{q:?}");
        for (x, y) in a.targets.iter().zip(&b.targets) {
            assert_eq!(
                (
                    &x.name,
                    &x.url,
                    x.status,
                    x.last_check,
                    x.last_response_ms,
                    x.last_status_code,
                    &x.last_error_kind,
                    &x.last_error,
                    &x.recent,
                    x.cert_not_after,
                    x.down_since
                ),
                (
                    &y.name,
                    &y.url,
                    y.status,
                    y.last_check,
                    y.last_response_ms,
                    y.last_status_code,
                    &y.last_error_kind,
                    &y.last_error,
                    &y.recent,
                    y.cert_not_after,
                    y.down_since
                ),
                "{}",
                x.id
            );
            assert!(close(x.uptime.day, y.uptime.day), "{x:?} {y:?}");
            assert!(close(x.uptime.week, y.uptime.week), "{x:?} {y:?}");
            assert!(close(x.uptime.month, y.uptime.month), "{x:?} {y:?}");
        }
    }
    let statuses: Vec<Status> = pg
        .all_targets()
        .await
        .unwrap()
        .iter()
        .map(|t| t.status)
        .collect();
    assert!(statuses.contains(&Status::Down) && statuses.contains(&Status::Unknown));

    let iq = IncidentQuery {
        limit: 1000,
        ..Default::default()
    };
    let (ia, na) = sqlite.incidents(iq.clone()).await.unwrap();
    let (ib, nb) = pg.incidents(iq).await.unwrap();
    assert_eq!(na, nb);
    assert!(na > 20, "{na}");
    let inc = |v: &[uptimer::store::Incident]| {
        v.iter()
            .map(|i| {
                format!(
                    "{} {} {} {:?} {:?} {:?} {}",
                    i.target_id,
                    i.target_name,
                    i.started_at,
                    i.ended_at,
                    i.error_kind,
                    i.error,
                    i.failed_checks
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(inc(&ia), inc(&ib));
    let open = IncidentQuery {
        target: Some("target-0".into()),
        open_only: true,
        limit: 10,
        offset: 0,
    };
    assert_eq!(pg.incidents(open).await.unwrap().1, 1);

    let now = now_micros();
    for k in 0..6 {
        let id = format!("target-{k}");
        for (from, step) in [(now - 2 * HOUR, 5 * MINUTE), (now - 48 * HOUR, HOUR)] {
            let (a, b) = (
                sqlite.series(&id, from, now, step).await.unwrap(),
                pg.series(&id, from, now, step).await.unwrap(),
            );
            assert_eq!(a.len(), b.len(), "{id}");
            for (x, y) in a.iter().zip(&b) {
                assert_eq!(
                    (x.t, x.checks, x.up, x.min_ms, x.max_ms, x.p95_ms),
                    (y.t, y.checks, y.up, y.min_ms, y.max_ms, y.p95_ms)
                );
                assert!(close(x.avg_ms, y.avg_ms));
                for i in 0..5 {
                    assert!(close(Some(x.phases_ms[i]), Some(y.phases_ms[i])));
                }
            }
            let (ua, ub) = (
                sqlite.uptime(&id, from, now).await.unwrap(),
                pg.uptime(&id, from, now).await.unwrap(),
            );
            assert_eq!((ua.checks, ua.up), (ub.checks, ub.up), "{id}");
        }
        let (ea, eb) = (
            sqlite.events(&id, now - HOUR, now, 20).await.unwrap(),
            pg.events(&id, now - HOUR, now, 20).await.unwrap(),
        );
        let key = |v: &[uptimer::store::EventRow]| {
            v.iter()
                .map(|e| format!("{} {} {:?} {:?}", e.uuid, e.event_time, e.up, e.phases_ms))
                .collect::<Vec<_>>()
        };
        assert_eq!(key(&ea), key(&eb));
        let (ta, tb) = (
            sqlite.target(&id).await.unwrap().unwrap(),
            pg.target(&id).await.unwrap().unwrap(),
        );
        assert_eq!((ta.status, &ta.recent), (tb.status, &tb.recent));
    }
    assert!(pg.target("nope").await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_uptimer_serve_store_postgres_serves_the_dashboard_read_only() {
    let db = TestDb::new().await;
    let c = migrated(&db.url).await;
    let dir = tempfile::tempdir().unwrap();
    let events = history(3, 90);
    let mut w = writer(&db.url, dir.path()).await;
    for batch in events.chunks(100) {
        w.write_and_wait(batch).await.unwrap();
    }
    w.close().await.unwrap();
    let before = (rollups(&c).await, state(&c).await);

    let port = free_port();
    let mut cmd = uptimer(dir.path());
    cmd.args([
        "serve",
        "--store",
        &db.url,
        "--listen",
        &format!("127.0.0.1:{port}"),
    ])
    // It must not probe, even when targets are configured.
    .env("PROBE_URLS", "http://127.0.0.1:1/");
    let (api, page, target, incidents, uptime, health, metrics, out) = off_runtime(move || {
        let p = start_serve(cmd);
        let api = wait_for("the API of serve --store postgres://", PATIENCE, || {
            get(port, "/api/v1/targets").filter(|b| b.starts_with("HTTP/1.0 200"))
        });
        let answers = [
            "/",
            "/targets/target-0",
            "/api/v1/incidents",
            "/api/v1/targets/target-1/uptime",
            "/healthz",
            "/metrics",
        ]
        .map(|path| get(port, path).unwrap_or_else(|| panic!("no answer to {path}")));
        let [page, target, incidents, uptime, health, metrics] = answers;
        (
            api,
            page,
            target,
            incidents,
            uptime,
            health,
            metrics,
            p.terminate(),
        )
    })
    .await;
    for k in 0..3 {
        assert!(api.contains(&format!("\"id\":\"target-{k}\"")), "{api}");
    }
    assert!(api.contains("\"status\":\"down\""), "{api}");
    assert!(page.starts_with("HTTP/1.0 200"), "{page}");
    assert!(page.contains("Target 1"), "{page}");
    assert!(
        !page.contains("<script>\"x\""),
        "hostile error text is escaped"
    );
    assert!(target.starts_with("HTTP/1.0 200"), "{target}");
    assert!(
        incidents.contains("\"target_id\":\"target-0\""),
        "{incidents}"
    );
    assert!(uptime.starts_with("HTTP/1.0 200"), "{uptime}");
    assert!(health.starts_with("HTTP/1.0 200"), "{health}");
    assert!(metrics.contains("probe_success"), "{metrics}");
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains(&db.url) || !db.url.contains('@'), "{err}");
    // Read-only: nothing changed, nothing was probed.
    assert_eq!((rollups(&c).await, state(&c).await), before);
    assert!(!err.contains("127.0.0.1:1"), "it probed: {err}");
}

#[tokio::test]
async fn postgres_store_refuses_a_database_that_is_not_migrated() {
    let db = TestDb::new().await;
    let err = PostgresStore::open(&db.url, None, 2).await.unwrap_err();
    assert!(err.to_string().contains("uptimer migrate up"), "{err}");
}

#[tokio::test]
async fn postgres_store_rollups_past_their_retention_are_deleted() {
    let db = TestDb::new().await;
    let c = migrated(&db.url).await;
    let dir = tempfile::tempdir().unwrap();
    let mut w = writer(&db.url, dir.path()).await;
    let old = OffsetDateTime::now_utc() - time::Duration::days(40);
    let mut e = ProbeEvent::new(old, "https", "old.example", Some(443));
    e.target = Some("old".into());
    e.up = Some(false);
    let recent = history(1, 5);
    w.write_and_wait(&[Event::from(e)]).await.unwrap();
    w.write_and_wait(&recent).await.unwrap();
    w.close().await.unwrap();
    let before = rollups(&c).await.len();
    assert_eq!(
        uptimer::writers::postgres::rollups::prune(&c, None)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        uptimer::writers::postgres::rollups::prune(&c, Some(30))
            .await
            .unwrap(),
        2
    );
    assert_eq!(rollups(&c).await.len(), before - 3);
    assert!(rollups(&c).await.iter().all(|r| !r.contains(" old ")));
}

#[tokio::test]
async fn postgres_store_interval_keeps_fractions_of_a_second() {
    let db = TestDb::new().await;
    let _c = migrated(&db.url).await;
    let dir = tempfile::tempdir().unwrap();
    let mut w = writer(&db.url, dir.path()).await;
    let t0 = OffsetDateTime::now_utc() - time::Duration::seconds(30);
    // Checks every 2 s as the scheduler really spaces them: 1.999942 s apart.
    let events: Vec<Event> = (0..3)
        .map(|i| {
            let t = t0 + time::Duration::microseconds(1_999_942 * i);
            let mut e = ProbeEvent::new(t, "https", "fast.example", Some(443));
            e.target = Some("fast".into());
            e.up = Some(true);
            e.status_code = Some(200);
            e.response_time_ms = 5;
            Event::from(e)
        })
        .collect();
    w.write_and_wait(&events).await.unwrap();
    w.close().await.unwrap();
    let pg = PostgresStore::open(&db.url, None, 2).await.unwrap();
    let t = pg.target("fast").await.unwrap().unwrap();
    assert_eq!(t.interval_s, Some(1.999942));
}

/// Migration 20261201000000 renames the stored state "degraded" to "flapping" (and back when
/// rolled back), so a target keeps its status across the upgrade.
#[tokio::test]
async fn postgres_store_degraded_rows_are_flapping_after_the_migration_and_back_after_down() {
    let db = TestDb::new().await;
    let mut c = migrated(&db.url).await;
    let status = async |c: &Client| -> String {
        c.query_one("SELECT status FROM targets WHERE id = 'flaps'", &[])
            .await
            .unwrap()
            .get(0)
    };
    // Back to before the state machine's migration (and any after it).
    let down_to_before = async |c: &mut Client| {
        let mut n = 0;
        loop {
            n += 1;
            let file = migrate::down(c).await.unwrap().unwrap();
            if file == "20261201000000_target_state_machine.sql" {
                return n;
            }
        }
    };
    let rolled_back = down_to_before(&mut c).await;
    c.execute(
        "INSERT INTO targets (id, first_seen, last_seen, last_event_time, recent, status)
         VALUES ('flaps', now(), now(), now(), 'udu', 'degraded')",
        &[],
    )
    .await
    .unwrap();
    assert_eq!(migrate::up(&mut c).await.unwrap().len(), rolled_back);
    assert_eq!(status(&c).await, "flapping");
    let pg = PostgresStore::open(&db.url, None, 2).await.unwrap();
    assert_eq!(
        pg.target("flaps").await.unwrap().unwrap().status,
        Status::Flapping
    );
    down_to_before(&mut c).await;
    assert_eq!(status(&c).await, "degraded");
}
