//! One contract for both dashboard stores: the same events, written through each store's real
//! writer (`writers.sqlite` into the SQLite file, `writers.postgres` into a fresh PostgreSQL
//! database), must give the same answers through the JSON API (`web::app`, no socket) and the
//! `Store` trait: overview and its counts, a target, series, events (with and without from/to,
//! limit, paging), incidents, uptime, and targets that left the configuration. The contract is
//! one async body run against each store.

mod support;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use uptimer::config::{
    DatabaseUrl, Interval, PostgresSettings, StoreSettings, TargetDefaults, TargetSpec, TlsVerify,
    WebSettings,
};
use uptimer::event::{
    CertificateInfo, ConditionResult, DnsDetails, DnsRecord, ErrorKind, Event, IcmpDetails, Phases,
    ProbeEvent, TlsDetails,
};
use uptimer::registry::Registry;
use uptimer::store::sqlite::TargetInfo;
use uptimer::store::{HOUR, MINUTE, Micros, PostgresStore, SqliteStore, Store, to_micros};
use uptimer::web::{AppState, app};
use uptimer::writers::Writer;
use uptimer::writers::postgres::{Options, PostgresWriter, Source};
use uptimer::writers::sqlite::SqliteWriter;

use support::pg;

/// The targets of the fleet: (id, tags).
const TARGETS: [(&str, &[&str]); 3] = [
    ("api", &["prod", "web"]),
    ("db", &["prod"]),
    ("blog", &["web"]),
];

/// How many checks each target has, one a minute, the last a minute ago.
const CHECKS: i64 = 60;
/// The check (minutes ago) when api's connection was refused.
const API_REFUSED: i64 = 40;
/// The check (minutes ago) when api answered, slowly, in 10002 ms.
const API_SLOW: i64 = 30;

/// A check `ago` minutes (and 30 s) before `now`.
fn check(now: OffsetDateTime, id: &str, ago: i64, up: bool, ms: u64) -> Event {
    probe(now, id, ago, up, ms).into()
}

fn probe(now: OffsetDateTime, id: &str, ago: i64, up: bool, ms: u64) -> ProbeEvent {
    let t = now - time::Duration::minutes(ago) - time::Duration::seconds(30);
    let mut e = ProbeEvent::new(t, "https", &format!("{id}.example"), Some(443));
    e.path = "/".into();
    e.target = Some(id.into());
    e.name = Some(format!("Name of {id}"));
    e.url = Some(format!("https://{id}.example/"));
    e.up = Some(up);
    e.response_time_ms = ms;
    if up {
        e.status_code = Some(200);
        e.phases_ms = Some(support::https_phases(ms));
    } else {
        // A refused connection: no status, no response, only the DNS phase happened.
        e.error_kind = Some(ErrorKind::ConnectRefused);
        e.error = Some("connection refused".into());
        e.phases_ms = Some(Phases {
            dns: Some(1.0),
            ..Phases::default()
        });
    }
    e
}

/// api: up at 100 ms, refused once, slow once; db: up at 50 ms, then refused for its last 3
/// checks (down, an open incident); blog: up at 30 ms. Sorted by time.
fn fleet(now: OffsetDateTime) -> Vec<Event> {
    let mut out = Vec::new();
    for ago in (1..=CHECKS).rev() {
        out.push(match ago {
            API_REFUSED => check(now, "api", ago, false, 0),
            API_SLOW => check(now, "api", ago, true, 10_002),
            _ => check(now, "api", ago, true, 100),
        });
        out.push(if ago <= 3 {
            check(now, "db", ago, false, 0)
        } else {
            check(now, "db", ago, true, 50)
        });
        out.push(check(now, "blog", ago, true, 30));
    }
    out
}

fn infos() -> Vec<TargetInfo> {
    TARGETS
        .iter()
        .map(|(id, tags)| TargetInfo {
            id: (*id).into(),
            name: format!("Name of {id}"),
            url: format!("https://{id}.example/"),
            protocol: "https".into(),
            hostname: format!("{id}.example"),
            port: Some(443),
            path: "/".into(),
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            interval_s: None,
        })
        .collect()
}

/// What keeps a store's backing alive for the test.
struct Filled {
    store: Arc<dyn Store>,
    sqlite: Option<SqliteStore>,
    _dir: tempfile::TempDir,
    db: Option<pg::TestDb>,
}

impl Filled {
    /// What a restart of the prober with only `ids` configured does to the store: it follows
    /// a live set of these targets from the start.
    async fn restart_with(&self, ids: &[&str]) {
        let registry = registry_of(ids);
        if let Some(s) = &self.sqlite {
            // As `uptimer serve` does at startup.
            let stop = CancellationToken::new();
            let task = s.follow(&registry, true, stop.clone()).await.unwrap();
            stop.cancel();
            task.await.unwrap();
        } else if let Some(db) = &self.db {
            let mut w = pg_writer(&db.url, self._dir.path(), registry).await;
            w.close().await.unwrap();
            // The dashboard, another process, reuses its counts this long.
            tokio::time::sleep(uptimer::store::COUNTS_TTL).await;
        }
    }
}

/// A live set of the targets `ids` of [`TARGETS`], as a configuration would give them.
fn registry_of(ids: &[&str]) -> Arc<Registry> {
    let defaults = TargetDefaults {
        interval: Interval::Every(std::time::Duration::from_secs(60)),
        timeout: std::time::Duration::from_secs(5),
        tls_verify: TlsVerify::Yes,
    };
    Registry::new(
        infos()
            .into_iter()
            .filter(|t| ids.contains(&t.id.as_str()))
            .map(|t| {
                TargetSpec {
                    id: Some(t.id),
                    name: Some(t.name),
                    url: t.url,
                    tags: t.tags,
                    ..TargetSpec::default()
                }
                .build(&defaults)
                .unwrap()
            }),
    )
}

async fn pg_writer(url: &str, dir: &std::path::Path, registry: Arc<Registry>) -> PostgresWriter {
    let s = PostgresSettings {
        database_url: Some(DatabaseUrl::new(url)),
        ..PostgresSettings::default()
    };
    PostgresWriter::new(
        &s,
        dir,
        Options {
            source: Source::Replayable,
            registry: Some(registry),
            sweep: true,
            ..Options::default()
        },
    )
    .await
    .expect("writer starts")
}

/// The writers' batches: 50 events each.
fn in_batches(events: &[Event]) -> Vec<Vec<Event>> {
    events.chunks(50).map(<[Event]>::to_vec).collect()
}

async fn sqlite_filled(batches: &[Vec<Event>]) -> Filled {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&StoreSettings::with_path(dir.path().join("s.sqlite3"))).unwrap();
    store.sync_targets(infos()).await.unwrap();
    let mut w = SqliteWriter::new(store.clone(), Default::default());
    for batch in batches {
        w.write_and_wait(batch).await.unwrap();
    }
    Filled {
        store: Arc::new(store.clone()),
        sqlite: Some(store),
        _dir: dir,
        db: None,
    }
}

async fn postgres_filled(batches: &[Vec<Event>]) -> Filled {
    let db = pg::TestDb::new().await;
    drop(pg::migrated(&db.url).await);
    let dir = tempfile::tempdir().unwrap();
    let all: Vec<&str> = TARGETS.iter().map(|t| t.0).collect();
    let mut w = pg_writer(&db.url, dir.path(), registry_of(&all)).await;
    for batch in batches {
        w.write_and_wait(batch).await.unwrap();
    }
    w.close().await.unwrap();
    let store = PostgresStore::open(&db.url, None, 4).await.unwrap();
    Filled {
        store: Arc::new(store),
        sqlite: None,
        _dir: dir,
        db: Some(db),
    }
}

async fn get(store: &Arc<dyn Store>, uri: &str) -> (StatusCode, String) {
    let state = AppState::new(store.clone(), &WebSettings::default());
    let res = app(state)
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let body = axum::body::to_bytes(res.into_body(), 16 << 20)
        .await
        .unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

async fn json(store: &Arc<dyn Store>, uri: &str) -> Value {
    let (status, body) = get(store, uri).await;
    assert_eq!(status, StatusCode::OK, "{uri}: {body}");
    serde_json::from_str(&body).unwrap()
}

fn micros(v: &Value) -> Micros {
    to_micros(
        OffsetDateTime::parse(
            v.as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap(),
    )
}

fn counts(v: &Value) -> (u64, u64, u64, u64) {
    let c = &v["counts"];
    let n = |k: &str| c[k].as_u64().unwrap();
    (n("up"), n("down"), n("flapping"), n("unknown"))
}

/// Events: newest first by default (no from/to), limited, paged with `next`, windowed.
async fn contract_events(store: &Arc<dyn Store>, now: Micros) {
    let first = json(store, "/api/v1/targets/api/events?limit=3").await;
    let times: Vec<Micros> = first["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| micros(&e["event_time"]))
        .collect();
    assert_eq!(times.len(), 3, "{first}");
    assert!(times.windows(2).all(|w| w[0] > w[1]), "newest first");
    assert!(
        now - times[0] < 2 * MINUTE,
        "the newest check first: {first}"
    );
    let next = first["next"].as_str().expect("a full page has a next");
    let second = json(
        store,
        &format!("/api/v1/targets/api/events?limit=3&to={next}"),
    )
    .await;
    let older: Vec<Micros> = second["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| micros(&e["event_time"]))
        .collect();
    assert_eq!(older.len(), 3, "{second}");
    assert!(older[0] < times[2], "the next page is older: {second}");
    assert_eq!(times[0] - older[2], 5 * MINUTE);

    let all = json(store, "/api/v1/targets/api/events?limit=1000").await;
    assert_eq!(all["events"].as_array().unwrap().len(), CHECKS as usize);
    assert!(all["next"].is_null(), "{}", all["next"]);
    // A window of ten minutes, ending (exclusive) on a check: ten checks.
    let to = times[0] - 10 * MINUTE;
    let from = to - 10 * MINUTE;
    let fmt = |m: Micros| uptimer::store::rfc3339(m);
    let window = json(
        store,
        &format!(
            "/api/v1/targets/api/events?from={}&to={}",
            fmt(from),
            fmt(to)
        ),
    )
    .await;
    let w: Vec<Micros> = window["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| micros(&e["event_time"]))
        .collect();
    assert_eq!(w.len(), 10, "{window}");
    assert!(w.iter().all(|t| (from..to).contains(t)));
    // The store itself, with open bounds.
    assert_eq!(
        store.events("api", 0, i64::MAX, 5).await.unwrap().len(),
        5,
        "events with no time bounds"
    );
    assert_eq!(
        store
            .events("api", i64::MIN, i64::MAX, 5)
            .await
            .unwrap()
            .len(),
        5
    );
    // The target page lists them.
    let (status, page) = get(store, "/targets/api").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        !page.contains("No check stored yet"),
        "target page: no events"
    );
}

/// The overview's counts follow the tag and search filters but not the status filter.
async fn contract_overview(store: &Arc<dyn Store>) {
    let all = json(store, "/api/v1/targets").await;
    assert_eq!(all["matching"], 3, "{all}");
    assert_eq!(counts(&all), (2, 1, 0, 0), "{all}");
    assert_eq!(all["tags"], serde_json::json!(["prod", "web"]));
    let prod = json(store, "/api/v1/targets?tag=prod").await;
    assert_eq!(prod["matching"], 2, "{prod}");
    assert_eq!(counts(&prod), (1, 1, 0, 0), "tag=prod: {prod}");
    let web = json(store, "/api/v1/targets?tag=web&q=BLOG").await;
    assert_eq!(web["matching"], 1, "{web}");
    assert_eq!(counts(&web), (1, 0, 0, 0), "tag=web&q=BLOG: {web}");
    let down = json(store, "/api/v1/targets?tag=prod&status=down").await;
    assert_eq!(down["matching"], 1, "{down}");
    assert_eq!(down["targets"][0]["id"], "db");
    assert_eq!(
        counts(&down),
        (1, 1, 0, 0),
        "the status cards count every status of the tag: {down}"
    );
    let (status, html) = get(store, "/?tag=web").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Name of blog") && !html.contains("Name of db"));
    // By response time, either way round, a target without one (db: refused) comes last.
    for desc in ["0", "1"] {
        let sorted = json(store, &format!("/api/v1/targets?sort=response&desc={desc}")).await;
        assert_eq!(sorted["targets"][2]["id"], "db", "desc={desc}: {sorted}");
    }
}

/// A failed check has no response time: the last one is absent, and averages, extremes,
/// p95 and phases count the successful checks only; p95 never exceeds the maximum.
async fn contract_response_times(store: &Arc<dyn Store>, now: Micros) {
    let db = json(store, "/api/v1/targets/db").await;
    assert_eq!(db["status"], "down", "{db}");
    assert!(db["last_response_ms"].is_null(), "refused: {db}");
    assert_eq!(db["last_error"], "connection refused");
    let api = json(store, "/api/v1/targets/api").await;
    assert_eq!(api["last_response_ms"], 100, "{api}");

    // Minute points over the last 90 minutes, from a whole minute so points are buckets.
    let from = now - now.rem_euclid(MINUTE) - 90 * MINUTE;
    let points =
        serde_json::to_value(store.series("api", from, now, MINUTE).await.unwrap()).unwrap();
    let points = points.as_array().unwrap();
    assert_eq!(points.len(), CHECKS as usize);
    let at = |ago: i64| {
        let t = now - ago * MINUTE - 30 * uptimer::store::SECOND;
        let bucket = t - t.rem_euclid(MINUTE);
        points
            .iter()
            .find(|p| micros(&p["t"]) == bucket)
            .unwrap_or_else(|| panic!("no point {ago} minutes ago"))
    };
    let refused = at(API_REFUSED);
    assert_eq!(
        (refused["checks"].as_u64(), refused["up"].as_u64()),
        (Some(1), Some(0))
    );
    for k in ["avg_ms", "min_ms", "max_ms", "p95_ms"] {
        assert!(
            refused[k].is_null(),
            "a refused check has no {k}: {refused}"
        );
    }
    let slow = at(API_SLOW);
    assert_eq!(slow["max_ms"], 10_002.0, "{slow}");
    assert_eq!(slow["p95_ms"], 10_002.0, "p95 within min and max: {slow}");
    let normal = at(API_SLOW + 1);
    assert_eq!(
        (normal["avg_ms"].as_f64(), normal["min_ms"].as_f64()),
        (Some(100.0), Some(100.0))
    );

    // Hour points over two hours: the successful checks only.
    let hours = serde_json::to_value(
        store
            .series("api", now - 2 * HOUR, now, HOUR)
            .await
            .unwrap(),
    )
    .unwrap();
    let hours = hours.as_array().unwrap();
    let (mut checks, mut up, mut sum, mut ok) = (0, 0, 0.0, 0);
    let mut min = f64::MAX;
    for p in hours {
        checks += p["checks"].as_u64().unwrap();
        up += p["up"].as_u64().unwrap();
        if let Some(avg) = p["avg_ms"].as_f64() {
            sum += avg * p["up"].as_f64().unwrap();
            ok += p["up"].as_u64().unwrap();
            min = min.min(p["min_ms"].as_f64().unwrap());
            let (p95, max) = (p["p95_ms"].as_f64().unwrap(), p["max_ms"].as_f64().unwrap());
            assert!(p95 <= max, "p95 {p95} above max {max}: {p}");
            // Phases average the successful checks: dns is 1 ms in every one of them.
            assert!(
                (p["phases_ms"][0].as_f64().unwrap() - 1.0).abs() < 1e-9,
                "{p}"
            );
        }
    }
    assert_eq!((checks, up, ok), (60, 59, 59));
    let avg = sum / ok as f64;
    assert!(
        (avg - (58.0 * 100.0 + 10_002.0) / 59.0).abs() < 1e-6,
        "average of the successful checks: {avg}"
    );
    assert_eq!(min, 100.0, "a refused check's 0 ms is no minimum");

    // The target page and the response badge show no response time for a failed last check.
    let (status, page) = get(store, "/targets/db").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains(r#"<span class="lbl">Last response</span><span class="val ">–</span>"#),
        "{page}"
    );
    // /metrics still reports how long the failed probe took, as the blackbox exporter does.
    let (_, metrics) = get(store, "/metrics").await;
    assert!(
        metrics.contains(r#"probe_duration_seconds{target="db""#),
        "{metrics}"
    );
    let (_, badge) = get(store, "/badges/db/response.svg").await;
    assert!(badge.contains('–') && !badge.contains("0.0 ms"), "{badge}");
}

async fn contract_incidents_and_uptime(store: &Arc<dyn Store>) {
    let open = json(store, "/api/v1/incidents?open=true").await;
    assert_eq!(open["total"], 1, "{open}");
    assert_eq!(open["incidents"][0]["target_id"], "db");
    assert_eq!(open["incidents"][0]["failed_checks"], 3);
    assert!(open["incidents"][0]["ended_at"].is_null());
    let api = json(store, "/api/v1/incidents?target=api").await;
    assert_eq!(api["total"], 1, "{api}");
    assert!(!api["incidents"][0]["ended_at"].is_null());
    assert_eq!(api["incidents"][0]["error_kind"], "connect_refused");
    let all = json(store, "/api/v1/incidents").await;
    assert_eq!(all["total"], 2, "{all}");
    let uptime = json(store, "/api/v1/targets/api/uptime?window=24h").await;
    assert_eq!(
        (uptime["checks"].as_u64(), uptime["up"].as_u64()),
        (Some(60), Some(59))
    );
    let db = json(store, "/api/v1/targets/db/uptime").await;
    assert_eq!(
        (db["checks"].as_u64(), db["up"].as_u64()),
        (Some(60), Some(57))
    );
}

/// A target no longer configured is removed: hidden from the overview and its counts, listed
/// with `removed=1`, its open incident closed, its history kept; configured again, it is back.
async fn contract_removed(filled: &Filled) {
    let store = &filled.store;
    filled.restart_with(&["api", "blog"]).await;
    let listed = json(store, "/api/v1/targets").await;
    assert_eq!(listed["matching"], 2, "{listed}");
    let ids: Vec<&str> = listed["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert!(!ids.contains(&"db"), "{ids:?}");
    assert_eq!(counts(&listed), (2, 0, 0, 0), "{listed}");
    assert_eq!(listed["counts"]["removed"], 1, "{listed}");
    assert_eq!(listed["tags"], serde_json::json!(["prod", "web"]));
    let removed = json(store, "/api/v1/targets?removed=1").await;
    assert_eq!(removed["matching"], 1, "{removed}");
    assert_eq!(removed["targets"][0]["id"], "db");
    assert!(removed["targets"][0]["removed_at"].is_string(), "{removed}");
    let (status, body) = get(store, "/api/v1/targets?removed=maybe").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("removed") && body.contains("maybe"), "{body}");
    let open = json(store, "/api/v1/incidents?open=true").await;
    assert_eq!(open["total"], 0, "{open}");
    let db = json(store, "/api/v1/incidents?target=db").await;
    assert_eq!(db["total"], 1, "{db}");
    assert!(db["incidents"][0]["ended_at"].is_string(), "{db}");
    assert_eq!(db["incidents"][0]["end_reason"], "target removed");
    // History stays readable.
    let t = json(store, "/api/v1/targets/db").await;
    assert!(t["removed_at"].is_string(), "{t}");
    let events = json(store, "/api/v1/targets/db/events?limit=5").await;
    assert_eq!(events["events"].as_array().unwrap().len(), 5);
    let metrics = get(store, "/metrics").await.1;
    assert!(
        !metrics.contains("db.example"),
        "a removed target has no metrics"
    );

    filled.restart_with(&["api", "blog", "db"]).await;
    let back = json(store, "/api/v1/targets/db").await;
    assert!(
        back["removed_at"].is_null(),
        "configured again, it is back: {back}"
    );
    let listed = json(store, "/api/v1/targets?tag=prod").await;
    assert_eq!(listed["matching"], 2, "{listed}");
}

/// The whole contract, against one store.
async fn contract(filled: Filled, now: OffsetDateTime) {
    let store = &filled.store;
    let now = to_micros(now);
    contract_events(store, now).await;
    contract_overview(store).await;
    contract_response_times(store, now).await;
    contract_incidents_and_uptime(store).await;
    contract_removed(&filled).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_contract_sqlite() {
    let now = OffsetDateTime::now_utc();
    contract(sqlite_filled(&in_batches(&fleet(now))).await, now).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_contract_postgres() {
    let now = OffsetDateTime::now_utc();
    contract(postgres_filled(&in_batches(&fleet(now))).await, now).await;
}

/// One unruly event stream in four batches, as a consumer replaying a topic may deliver it:
/// batches out of time order inside, the same event twice (in one batch and in a later one),
/// two events of one time told apart by their uuids, and events that arrive a batch after newer
/// ones of their target. Base checks (ago 40 to 1 minutes): api fails at 30-28, 20 and 5 and
/// is degraded at 4 (flapping at the end); db fails at 35 and 3-1 (down); blog always passes,
/// degraded at 12-8 and at its last check (degraded at the end).
fn unruly(now: OffsetDateTime) -> Vec<Vec<Event>> {
    let base = |ago: i64| -> Vec<ProbeEvent> {
        let mut api = probe(now, "api", ago, ![30, 29, 28, 20, 5].contains(&ago), 100);
        // Down to degraded: ends the incident as a pass does.
        api.degraded = (ago == 4).then_some(true);
        let mut blog = probe(now, "blog", ago, true, 30);
        // Up to degraded and back: no incident.
        blog.degraded = Some((8..=12).contains(&ago));
        vec![
            api,
            probe(now, "db", ago, ![35, 3, 2, 1].contains(&ago), 50),
            blog,
        ]
    };
    let minutes = |range: std::ops::RangeInclusive<i64>| -> Vec<ProbeEvent> {
        range.rev().flat_map(base).collect()
    };
    let find = |events: &[ProbeEvent], id: &str, ago: i64| -> ProbeEvent {
        let t = now - time::Duration::minutes(ago) - time::Duration::seconds(30);
        events
            .iter()
            .find(|e| e.target.as_deref() == Some(id) && e.envelope.event_time == t)
            .expect("a base check")
            .clone()
    };
    let at = |mut e: ProbeEvent, uuid: uuid::Uuid, up: bool, shift_s: i64| {
        e.envelope.uuid = uuid;
        e.envelope.event_time += time::Duration::seconds(shift_s);
        e.up = Some(up);
        e
    };

    // Minutes 40-26, newest first, with two events twice in the batch.
    let mut b1 = minutes(26..=40);
    b1.reverse();
    b1.insert(7, find(&b1, "api", 30));
    b1.push(find(&b1, "db", 35));
    // Minutes 25-11, interleaved out of order, and two events of the first batch again.
    let mut b2 = minutes(11..=25);
    let half = b2.len() / 2;
    b2.rotate_left(half);
    let (api29, db35) = (find(&b1, "api", 29), find(&b1, "db", 35));
    b2.extend([api29, db35]);
    // Minutes 10-1, newest first, and db twice more at times it already has: before its
    // check of minute 3 (a uuid smaller than any random one: applied first) a failure, after its
    // check of minute 2 (one larger) a pass, which ends that incident. (A uuid is an event's
    // key in both stores: each one here is new.)
    let mut b3 = minutes(1..=10);
    b3.reverse();
    let (db3, db2) = (find(&b3, "db", 3), find(&b3, "db", 2));
    b3.push(at(db3, uuid::Uuid::from_u128(1), false, 0));
    b3.push(at(db2, uuid::Uuid::from_u128(u128::MAX - 1), true, 0));
    // A batch later: a failure of blog from 15 minutes ago and a pass of db between its last
    // two checks (both history now), blog at the time of its last check with a small uuid
    // (history) and with a large one (applied), and last batch's db check again.
    // The applied one is degraded: blog ends degraded.
    let (blog15, db2, blog1, db1) = (
        find(&b2, "blog", 15),
        find(&b3, "db", 2),
        find(&b3, "blog", 1),
        find(&b3, "db", 1),
    );
    let b4 = vec![
        at(blog15, uuid::Uuid::new_v4(), false, 15),
        at(db2, uuid::Uuid::new_v4(), true, 15),
        at(blog1.clone(), uuid::Uuid::from_u128(2), false, 0),
        ProbeEvent {
            degraded: Some(true),
            ..at(blog1, uuid::Uuid::max(), true, 0)
        },
        db1,
    ];
    [b1, b2, b3, b4]
        .into_iter()
        .map(|b| b.into_iter().map(Event::from).collect())
        .collect()
}

/// What a store says of a target's live state and its incidents, ids aside.
async fn live_and_incidents(store: &Arc<dyn Store>, now: Micros) -> Value {
    let mut out = serde_json::Map::new();
    for (id, _) in TARGETS {
        let t = store.target(id).await.unwrap().expect("a stored target");
        let uptime = store.uptime(id, now - 2 * HOUR, now + HOUR).await.unwrap();
        out.insert(
            id.to_owned(),
            serde_json::json!({
                "status": t.status,
                "recent": t.recent,
                "last_check": t.last_check,
                "last_response_ms": t.last_response_ms,
                "last_status_code": t.last_status_code,
                "last_error_kind": t.last_error_kind,
                "last_error": t.last_error,
                "down_since": t.down_since,
                "checks": [uptime.checks, uptime.up],
            }),
        );
    }
    let (incidents, total) = store
        .incidents(uptimer::store::IncidentQuery {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut incidents: Vec<Value> = incidents
        .into_iter()
        .map(|i| {
            serde_json::json!([
                i.target_id,
                i.started_at,
                i.ended_at,
                i.failed_checks,
                i.error_kind,
                i.error,
                i.end_reason
            ])
        })
        .collect();
    incidents.sort_by_key(|i| i.to_string());
    assert_eq!(total as usize, incidents.len());
    out.insert("incidents".into(), Value::Array(incidents));
    Value::Object(out)
}

/// The target-state machine makes both stores agree: one unruly stream (out of order,
/// duplicates, late events, equal times, degraded passes) through each store's real writer
/// gives the same live states and incidents, and the ones the machine's rules say: degraded
/// opens no incident, and ends one as a pass does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_stores_keep_one_state_and_the_same_incidents() {
    let now = OffsetDateTime::now_utc();
    let stream = unruly(now);
    let (sqlite, postgres) = (sqlite_filled(&stream).await, postgres_filled(&stream).await);
    let now = to_micros(now);
    let got = live_and_incidents(&sqlite.store, now).await;
    assert_eq!(
        got,
        live_and_incidents(&postgres.store, now).await,
        "sqlite (left) and postgres (right) disagree"
    );

    // And they agree on what the rules say.
    let minute = |ago: i64| now - ago * MINUTE - 30 * uptimer::store::SECOND;
    let incident = |id: &str, started: i64, ended: Option<i64>, failed: i64| {
        serde_json::json!([
            id,
            minute(started),
            ended.map(minute),
            failed,
            "connect_refused",
            "connection refused",
            null
        ])
    };
    let mut want = vec![
        incident("api", 30, Some(27), 3),
        incident("api", 20, Some(19), 1),
        incident("api", 5, Some(4), 1),
        incident("db", 35, Some(34), 1),
        // Opened by the failure of the same time with the smaller uuid, ended by the pass of
        // the same time with the larger one.
        incident("db", 3, Some(2), 3),
        // Open: the late pass between minutes 2 and 1 is history.
        incident("db", 1, None, 1),
    ];
    want.sort_by_key(|i| i.to_string());
    assert_eq!(got["incidents"], Value::Array(want), "{got:#}");
    assert_eq!(got["api"]["status"], "flapping", "{got:#}");
    assert_eq!(got["db"]["status"], "down", "{got:#}");
    assert_eq!(got["db"]["down_since"], minute(1), "{got:#}");
    assert!(
        got["db"]["recent"].as_str().unwrap().ends_with("udddud"),
        "{got:#}"
    );
    assert_eq!(
        got["blog"]["status"], "degraded",
        "late failures are history, the last pass was degraded: {got:#}"
    );
    assert_eq!(
        got["blog"]["recent"],
        "u".repeat(30),
        "a degraded check passed: {got:#}"
    );
    // The rollups count every event once, late ones included.
    assert_eq!(got["api"]["checks"], serde_json::json!([40, 35]), "{got:#}");
    assert_eq!(got["db"]["checks"], serde_json::json!([43, 38]), "{got:#}");
    assert_eq!(
        got["blog"]["checks"],
        serde_json::json!([43, 41]),
        "{got:#}"
    );

    // The SQLite store packs its closed hours; the stream delivered again after they were
    // packed, and again after the raw events were pruned, changes nothing.
    let file = sqlite.sqlite.as_ref().unwrap();
    let everything: Vec<Event> = stream.concat();
    let distinct = everything
        .iter()
        .map(|e| match e {
            Event::Probe(p) => (p.envelope.uuid, p.envelope.event_time),
            _ => unreachable!(),
        })
        .collect::<std::collections::HashSet<_>>()
        .len();
    let packed = file.pack(now + 3 * HOUR).await.unwrap();
    assert_eq!(packed.events, distinct, "every event packed");
    let again = file.ingest(everything.clone()).await.unwrap();
    assert_eq!(
        (again.inserted, again.duplicates),
        (0, everything.len()),
        "after packing"
    );
    assert_eq!(
        live_and_incidents(&sqlite.store, now).await,
        got,
        "after packing"
    );
    let mut short = StoreSettings::with_path(file.path().to_owned());
    short.retention_events = std::time::Duration::from_secs(60);
    let pruned = SqliteStore::open(&short).unwrap();
    pruned.prune(now).await.unwrap();
    let late = pruned.ingest(everything.clone()).await.unwrap();
    assert_eq!(
        (late.inserted, late.too_old),
        (0, everything.len()),
        "after pruning: older than the raw horizon"
    );
    assert_eq!(
        live_and_incidents(&sqlite.store, now).await,
        got,
        "after pruning"
    );
}

/// One result of a condition: as written when it holds, with `value` when it fails.
fn result(condition: &str, value: Option<&str>) -> ConditionResult {
    ConditionResult {
        condition: condition.into(),
        success: value.is_none(),
        resolved: match value {
            None => condition.into(),
            Some(v) => {
                let (left, right) = condition.split_once(' ').unwrap();
                format!("{left} ({v}) {right}")
            }
        },
    }
}

/// api's checks every 10 minutes over the last two and a half hours (packed hours and open
/// ones in the SQLite store), in turn: without conditions (before its config had any), all
/// holding, one failing (down, `error_kind: condition`), holding but degraded (slow).
fn conditioned(now: OffsetDateTime) -> Vec<Event> {
    (0..15)
        .map(|i| {
            let ago = 150 - i * 10;
            let kind = i % 4;
            let mut e = probe(
                now,
                "api",
                ago,
                kind != 2,
                if kind == 3 { 900 } else { 100 },
            );
            if kind == 0 {
                return e.into();
            }
            let body = (kind == 2).then_some("<b>DOWN</b> \"é\"");
            e.conditions = Some(vec![
                result("[STATUS] == 200", None),
                result("[BODY].status == UP", body),
                result("[RESPONSE_TIME] < 1000", None),
            ]);
            e.degraded = Some(kind == 3);
            if kind == 2 {
                e.status_code = Some(200);
                e.error_kind = Some(ErrorKind::Condition);
                e.error = Some(e.conditions.as_ref().unwrap()[1].resolved.clone());
            }
            e.into()
        })
        .collect()
}

/// Each event's uuid, conditions and degraded, as the API and the store give them.
async fn conditions_of(store: &Arc<dyn Store>) -> Vec<Value> {
    let api = json(store, "/api/v1/targets/api/events?limit=1000").await;
    let listed: Vec<Value> = api["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| serde_json::json!([e["uuid"], e["conditions"], e["degraded"]]))
        .collect();
    let read: Vec<Value> = store
        .events("api", i64::MIN, i64::MAX, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| serde_json::json!([e.uuid, e.conditions, e.degraded]))
        .collect();
    assert_eq!(listed, read, "the API shows what the store read");
    listed
}

/// Both stores, filled through their real writers with the same events, give back each
/// event's conditions and degraded as the event had them (none for an event without).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_stores_return_the_same_conditions_and_degraded() {
    let now = OffsetDateTime::now_utc();
    let events = conditioned(now);
    let mut want: Vec<Value> = events
        .iter()
        .map(|e| {
            let Event::Probe(p) = e else { unreachable!() };
            serde_json::json!([p.envelope.uuid, p.conditions, p.degraded])
        })
        .collect();
    want.reverse();
    assert_eq!(
        want.iter().filter(|w| w[1].is_null()).count(),
        4,
        "some without conditions"
    );
    let batches = in_batches(&events);
    let (sqlite, postgres) = (
        sqlite_filled(&batches).await,
        postgres_filled(&batches).await,
    );
    let from_sqlite = conditions_of(&sqlite.store).await;
    assert_eq!(from_sqlite, want, "sqlite");
    assert_eq!(conditions_of(&postgres.store).await, want, "postgres");
    // From the SQLite store's packed blocks as from its open rows.
    let packed = sqlite
        .sqlite
        .as_ref()
        .unwrap()
        .pack(to_micros(now) + 3 * HOUR)
        .await
        .unwrap();
    assert_eq!(packed.events, events.len());
    assert_eq!(conditions_of(&sqlite.store).await, want, "sqlite, packed");
    // The target page shows the last check's.
    for store in [&sqlite.store, &postgres.store] {
        let (_, page) = get(store, "/targets/api").await;
        assert!(page.contains(r#"<ul class="conds">"#), "{page}");
    }
}

/// A check of another kind than HTTP (schema 0.5.0) of target `id`, `ago` minutes (and 30 s)
/// before `now`: no status; no port for ICMP; its kind object.
fn kind_check(now: OffsetDateTime, id: &str, ago: i64, i: i64) -> ProbeEvent {
    let t = now - time::Duration::minutes(ago) - time::Duration::seconds(30);
    let failing = i % 3 == 2;
    let mut e = match id {
        "db" => {
            let mut e = ProbeEvent::new(t, "dns", "127.0.0.1", Some(5353));
            let record = |rtype: &str, data: &str| DnsRecord {
                name: "db.example.".into(),
                ttl: 300 + i as u32,
                class: "IN".into(),
                rtype: rtype.into(),
                data: data.into(),
            };
            e.dns = Some(DnsDetails {
                rcode: if failing { "SERVFAIL" } else { "NOERROR" }.into(),
                answers: vec![record("A", "192.0.2.7"), record("TXT", "\"v=1 <é>\"")],
                authority: vec![record(
                    "SOA",
                    "ns.example. host.example. 2026120101 3600 600 86400 60",
                )],
                additional: Vec::new(),
                soa_serial: Some(2_026_120_101),
            });
            if failing {
                e.error_kind = Some(ErrorKind::DnsRcode);
                e.error = Some("rcode SERVFAIL is not one of NOERROR".into());
            }
            e
        }
        "blog" => {
            let mut e = ProbeEvent::new(t, "icmp", "::1", None);
            e.icmp = Some(IcmpDetails {
                sent: 3,
                received: if failing { 0 } else { 3 },
                loss_percent: if failing { 100.0 } else { 0.0 },
                rtt_min_ms: (!failing).then_some(0.021),
                rtt_avg_ms: (!failing).then_some(0.034),
                rtt_max_ms: (!failing).then_some(0.055),
                reply_ttl: (!failing).then_some(64),
            });
            if failing {
                e.error_kind = Some(ErrorKind::Timeout);
                e.error = Some("no echo reply from ::1 within 1s".into());
            }
            e
        }
        _ => {
            let mut e = ProbeEvent::new(t, "tls", &format!("{id}.example"), Some(8443));
            let not_after = OffsetDateTime::from_unix_timestamp(1_830_000_000).unwrap();
            e.tls = Some(TlsDetails {
                version: "TLS 1.3".into(),
                cipher: "TLS13_AES_128_GCM_SHA256".into(),
                chain: vec![
                    CertificateInfo {
                        subject: format!("CN={id}.example"),
                        issuer: "CN=Uptimer Test CA".into(),
                        not_after,
                        sha256: format!("{:064x}", i),
                    },
                    CertificateInfo {
                        subject: "CN=Uptimer Test CA".into(),
                        issuer: "CN=Uptimer Test CA".into(),
                        not_after: not_after + time::Duration::days(300),
                        sha256: "f".repeat(64),
                    },
                ],
                earliest_expiry: Some(not_after),
            });
            if failing {
                e.error_kind = Some(ErrorKind::TlsCertificate);
                e.error = Some("certificate expired".into());
            }
            e
        }
    };
    e.status_code = None;
    e.target = Some(id.into());
    e.name = Some(format!("Name of {id}"));
    e.up = Some(!failing);
    e.response_time_ms = 3;
    e
}

/// Every 10 minutes over the last two and a half hours (packed hours and open ones in the
/// SQLite store): db a DNS check, blog an ICMP check, api a TLS check.
fn of_every_kind(now: OffsetDateTime) -> Vec<Event> {
    let mut out = Vec::new();
    for i in 0..15 {
        for id in ["db", "blog", "api"] {
            out.push(kind_check(now, id, 150 - i * 10, i).into());
        }
    }
    out
}

/// What the API says of each event of target `id`: the store's own reading of it must be the
/// same.
async fn kind_events_of(store: &Arc<dyn Store>, id: &str) -> Vec<Value> {
    let api = json(store, &format!("/api/v1/targets/{id}/events?limit=1000")).await;
    let pick = |e: &Value| {
        serde_json::json!([
            e["uuid"],
            e["port"],
            e["status_code"],
            e["up"],
            e["error_kind"],
            e["dns"],
            e["icmp"],
            e["tls"],
            e["tcp"],
            e["grpc"],
            e["push"]
        ])
    };
    let listed: Vec<Value> = api["events"].as_array().unwrap().iter().map(pick).collect();
    let read: Vec<Value> = store
        .events(id, i64::MIN, i64::MAX, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| pick(&serde_json::to_value(e).unwrap()))
        .collect();
    assert_eq!(listed, read, "the API shows what the store read");
    listed
}

/// Both stores, filled through their real writers with the same DNS, ICMP and TLS checks, give
/// back each event's port (none for ICMP), status (none), error kind and kind object as the
/// event had them, from the SQLite store's open rows and packed blocks alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_stores_return_the_same_events_of_every_kind() {
    let now = OffsetDateTime::now_utc();
    let events = of_every_kind(now);
    let want = |id: &str| -> Vec<Value> {
        let mut want: Vec<Value> = events
            .iter()
            .filter_map(|e| match e {
                Event::Probe(p) if p.target.as_deref() == Some(id) => Some(serde_json::json!([
                    p.envelope.uuid,
                    p.port,
                    p.status_code,
                    p.up,
                    p.error_kind,
                    p.dns,
                    p.icmp,
                    p.tls,
                    p.tcp,
                    p.grpc,
                    p.push
                ])),
                _ => None,
            })
            .collect();
        want.reverse();
        want
    };
    assert!(
        want("blog")
            .iter()
            .all(|w| w[1].is_null() && w[2].is_null())
    );
    assert!(want("db").iter().any(|w| w[4] == "dns_rcode"));
    let batches = in_batches(&events);
    let (sqlite, postgres) = (
        sqlite_filled(&batches).await,
        postgres_filled(&batches).await,
    );
    for id in ["db", "blog", "api"] {
        assert_eq!(
            kind_events_of(&sqlite.store, id).await,
            want(id),
            "sqlite {id}"
        );
        assert_eq!(
            kind_events_of(&postgres.store, id).await,
            want(id),
            "postgres {id}"
        );
    }
    let packed = sqlite
        .sqlite
        .as_ref()
        .unwrap()
        .pack(to_micros(now) + 3 * HOUR)
        .await
        .unwrap();
    assert_eq!(packed.events, events.len());
    for id in ["db", "blog", "api"] {
        assert_eq!(
            kind_events_of(&sqlite.store, id).await,
            want(id),
            "sqlite {id}, packed"
        );
    }
    // A DNS check's latest status is none, not 0, in both stores' target.
    for store in [&sqlite.store, &postgres.store] {
        let target = json(store, "/api/v1/targets/db").await;
        assert!(target["last_status_code"].is_null(), "{target}");
    }
}
