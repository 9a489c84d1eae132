//! The stores follow the live set of targets (issue 14): the SQLite file and the PostgreSQL
//! `targets` table get a row for a target added live, mark a removed one removed (its history
//! kept, its open incident closed), unmark one added again, and show a paused one as paused;
//! `uptimer serve`'s `/metrics` drops a removed target's series and adds a new one's after a
//! SIGHUP reload. Each test fails when its follower is not started.

mod support;

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use uptimer::config::{
    DatabaseUrl, Interval, PostgresSettings, StoreSettings, Target, TargetDefaults, TargetSpec,
    TlsVerify,
};
use uptimer::event::{ErrorKind, Event, ProbeEvent};
use uptimer::registry::{Change, Registry};
use uptimer::store::{IncidentQuery, OverviewQuery, SqliteStore, Status, Store, TargetSummary};
use uptimer::writers::Writer;
use uptimer::writers::postgres::{Options, PostgresWriter, Source};

use support::*;

fn target(name: &str, url: &str, tags: &[&str]) -> Target {
    TargetSpec {
        name: Some(name.into()),
        url: url.into(),
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        ..TargetSpec::default()
    }
    .build(&TargetDefaults {
        interval: Interval::Every(Duration::from_secs(60)),
        timeout: Duration::from_secs(5),
        tls_verify: TlsVerify::Yes,
    })
    .unwrap()
}

/// A failed check of `t` a minute ago, as its prober writes it.
fn failed(t: &Target) -> Event {
    let mut e = ProbeEvent::new(
        OffsetDateTime::now_utc() - Duration::from_secs(60),
        "http",
        "127.0.0.1",
        Some(1),
    );
    e.target = Some(t.id.clone());
    e.name = Some(t.name.clone());
    e.url = Some(t.url.to_string());
    e.up = Some(false);
    e.status_code = Some(0);
    e.error_kind = Some(ErrorKind::ConnectRefused);
    e.error = Some("connection refused".into());
    e.into()
}

/// Polls `check` until it gives a value, within a deadline a busy machine meets.
async fn eventually<T, F>(what: &str, mut check: impl FnMut() -> F) -> T
where
    F: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What the store says of `id`, once `ok` accepts it.
async fn target_when(
    store: &dyn Store,
    what: &str,
    id: &str,
    ok: impl Fn(&TargetSummary) -> bool,
) -> TargetSummary {
    eventually(what, || async {
        store.target(id).await.unwrap().filter(|t| ok(t))
    })
    .await
}

async fn listed(store: &dyn Store) -> Vec<String> {
    let page = store
        .overview(OverviewQuery {
            per_page: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    page.targets.into_iter().map(|t| t.id).collect()
}

/// Adds, pauses, resumes, removes and adds again, checking `store` after each change.
async fn follows_the_registry(store: &dyn Store, registry: &Registry, a: &Target) {
    // Added live: its row (masked URL, tags) before any result.
    let b = target("Beta", "http://ann:hunter2@127.0.0.1:2/b", &["live"]);
    registry
        .apply(vec![Change::Upsert(Arc::new(b.clone()))])
        .unwrap();
    let got = target_when(store, "the added target's row", &b.id, |_| true).await;
    assert_eq!(got.name, "Beta");
    assert_eq!(got.tags, ["live"]);
    assert!(!got.url.unwrap().contains("hunter2"), "the password masked");
    assert_eq!(got.status, Status::Unknown);
    let ids = listed(store).await;
    assert!(ids.contains(&a.id) && ids.contains(&b.id), "{ids:?}");

    // Paused: its open incident ends; resumed: unknown until its next result.
    registry.apply(vec![Change::Pause(a.id.clone())]).unwrap();
    target_when(store, "a paused target", &a.id, |t| {
        t.status == Status::Paused
    })
    .await;
    let (incidents, _) = store
        .incidents(IncidentQuery {
            target: Some(a.id.clone()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    assert!(incidents[0].ended_at.is_some(), "{incidents:?}");
    assert_eq!(incidents[0].end_reason.as_deref(), Some("target paused"));
    registry.apply(vec![Change::Resume(a.id.clone())]).unwrap();
    target_when(store, "a resumed target", &a.id, |t| {
        t.status == Status::Unknown
    })
    .await;

    // Removed: out of the overview, its page and history still there.
    registry.apply(vec![Change::Remove(a.id.clone())]).unwrap();
    target_when(store, "a removed target", &a.id, |t| t.removed_at.is_some()).await;
    let ids = listed(store).await;
    assert!(!ids.contains(&a.id) && ids.contains(&b.id), "{ids:?}");
    let events = store.events(&a.id, 0, i64::MAX, 10).await.unwrap();
    assert_eq!(events.len(), 1, "history kept");

    // Added again: back.
    registry
        .apply(vec![Change::Upsert(Arc::new(a.clone()))])
        .unwrap();
    target_when(store, "a target added again", &a.id, |t| {
        t.removed_at.is_none()
    })
    .await;
    assert!(listed(store).await.contains(&a.id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sqlite_store_follows_targets_added_paused_and_removed_live() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&StoreSettings::with_path(dir.path().join("s.sqlite3"))).unwrap();
    // A target of an earlier run, no longer configured: removed when the store starts following.
    let gone = target("Gone", "http://127.0.0.1:3/", &[]);
    store.ingest(vec![failed(&gone)]).await.unwrap();
    let a = target("Alpha", "http://127.0.0.1:1/a", &["prod"]);
    let registry = Registry::new([a.clone()]);
    let stop = CancellationToken::new();
    let task = store.follow(&registry, true, stop.clone()).await.unwrap();
    let was = store.target(&gone.id).await.unwrap().unwrap();
    assert!(was.removed_at.is_some(), "swept at the start: {was:?}");
    store.ingest(vec![failed(&a)]).await.unwrap();
    assert_eq!(
        store.target(&a.id).await.unwrap().unwrap().status,
        Status::Down
    );

    follows_the_registry(&store, &registry, &a).await;
    stop.cancel();
    task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_targets_late_failure_is_kept_but_opens_no_incident() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&StoreSettings::with_path(dir.path().join("s.sqlite3"))).unwrap();
    let a = target("Alpha", "http://127.0.0.1:1/a", &[]);
    let registry = Registry::new([a.clone()]);
    let stop = CancellationToken::new();
    let task = store.follow(&registry, false, stop.clone()).await.unwrap();
    registry.apply(vec![Change::Remove(a.id.clone())]).unwrap();
    target_when(&store, "the removal", &a.id, |t| t.removed_at.is_some()).await;
    // The probe that was in flight at the removal is delivered afterwards.
    store.ingest(vec![failed(&a)]).await.unwrap();
    let t = store.target(&a.id).await.unwrap().unwrap();
    assert!(t.removed_at.is_some(), "{t:?}");
    assert_eq!(t.down_since, None, "no incident opened: {t:?}");
    stop.cancel();
    task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_targets_late_failure_opens_no_incident_in_postgres() {
    let db = pg::TestDb::new().await;
    let client = pg::migrated(&db.url).await;
    let dir = tempfile::tempdir().unwrap();
    let settings = PostgresSettings {
        database_url: Some(DatabaseUrl::new(db.url.as_str())),
        ..PostgresSettings::default()
    };
    let a = target("Alpha", "http://127.0.0.1:1/a", &[]);
    let registry = Registry::new([a.clone()]);
    let mut w = PostgresWriter::new(
        &settings,
        dir.path(),
        Options {
            source: Source::Replayable,
            registry: Some(registry.clone()),
            ..Options::default()
        },
    )
    .await
    .unwrap();
    registry.apply(vec![Change::Remove(a.id.clone())]).unwrap();
    wait_for_async("the removal", PATIENCE, async || {
        let removed: bool = client
            .query_one(
                "SELECT removed_at IS NOT NULL FROM targets WHERE id = $1",
                &[&a.id],
            )
            .await
            .ok()?
            .get(0);
        removed.then_some(())
    })
    .await;
    // The probe that was in flight at the removal is delivered afterwards.
    w.write_and_wait(&[failed(&a)]).await.unwrap();
    let row = client
        .query_one(
            "SELECT open_incident IS NULL, removed_at IS NOT NULL,
               (SELECT count(*) FROM incidents WHERE target_id = $1 AND ended_at IS NULL)
             FROM targets WHERE id = $1",
            &[&a.id],
        )
        .await
        .unwrap();
    assert!(row.get::<_, bool>(0) && row.get::<_, bool>(1));
    assert_eq!(row.get::<_, i64>(2), 0, "no incident opened");
    let kept: i64 = client
        .query_one(
            "SELECT count(*) FROM probe_events WHERE target_id = $1",
            &[&a.id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(kept, 1, "the event itself is kept");
    w.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_postgres_targets_table_follows_targets_added_paused_and_removed_live() {
    let db = pg::TestDb::new().await;
    let client = pg::migrated(&db.url).await;
    let dir = tempfile::tempdir().unwrap();
    let settings = PostgresSettings {
        database_url: Some(DatabaseUrl::new(db.url.as_str())),
        ..PostgresSettings::default()
    };
    // A target of an earlier run, no longer configured: removed when the writer starts.
    let gone = target("Gone", "http://127.0.0.1:3/", &[]);
    let mut w = PostgresWriter::new(&settings, dir.path(), Options::default())
        .await
        .unwrap();
    w.write_and_wait(&[failed(&gone)]).await.unwrap();
    w.close().await.unwrap();

    let a = target("Alpha", "http://127.0.0.1:1/a", &["prod"]);
    let registry = Registry::new([a.clone()]);
    let mut w = PostgresWriter::new(
        &settings,
        dir.path(),
        Options {
            source: Source::Replayable,
            registry: Some(registry.clone()),
            sweep: true,
            ..Options::default()
        },
    )
    .await
    .unwrap();
    let row = client
        .query_one(
            "SELECT tags, removed_at IS NULL FROM targets WHERE id = $1",
            &[&a.id],
        )
        .await
        .unwrap();
    assert_eq!(
        row.get::<_, Vec<String>>(0),
        ["prod"],
        "a row before any event"
    );
    assert!(row.get::<_, bool>(1));
    let swept: bool = client
        .query_one(
            "SELECT removed_at IS NOT NULL FROM targets WHERE id = $1",
            &[&gone.id],
        )
        .await
        .unwrap()
        .get(0);
    assert!(swept, "a target no longer configured is marked removed");
    w.write_and_wait(&[failed(&a)]).await.unwrap();

    let store = uptimer::store::PostgresStore::open(&db.url, None, 2)
        .await
        .unwrap();
    // The store caches its counts; the rows themselves are read each time.
    follows_the_registry(&store, &registry, &a).await;
    let status: Option<String> = client
        .query_one("SELECT status FROM targets WHERE id = $1", &[&a.id])
        .await
        .unwrap()
        .get(0);
    assert_eq!(status.as_deref(), Some("unknown"));
    w.close().await.unwrap();
}

/// `uptimer serve` with a config file: a reload (SIGHUP) that removes one target and adds
/// another takes the first's series out of `/metrics` and puts the second's in.
#[tokio::test(flavor = "multi_thread")]
async fn serve_metrics_follow_targets_removed_and_added_by_a_reload() {
    let server = http_server().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("uptimer.yaml");
    let ok = server.url("/ok");
    let write = move |names: &[&str]| {
        let mut text = String::from("probe:\n  interval: 1\ntargets:\n");
        for n in names {
            text.push_str(&format!("  - name: {n}\n    url: {ok}?{n}\n"));
        }
        std::fs::write(&config, text).unwrap();
    };
    write(&["alpha", "beta"]);
    let port = free_port();
    let mut c = uptimer(dir.path());
    c.args([
        "serve",
        "--config",
        "uptimer.yaml",
        "--listen",
        &format!("127.0.0.1:{port}"),
    ])
    .env("DATA_DIR", "data");
    let out = off_runtime(move || {
        let p = start_serve(c);
        // A sample of the target's (a probed target's `probe_success`).
        let has = |body: &str, name: &str| {
            body.lines()
                .any(|l| l.starts_with("probe_success{") && l.contains(&format!("name=\"{name}\"")))
        };
        wait_for("both targets in /metrics", PATIENCE, || {
            get_body(port, "/metrics").filter(|b| has(b, "alpha") && has(b, "beta"))
        });
        write(&["alpha", "gamma"]);
        let status = std::process::Command::new("kill")
            .args(["-HUP", &p.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let body = wait_for("beta gone and gamma in /metrics", PATIENCE, || {
            get_body(port, "/metrics").filter(|b| !b.contains("name=\"beta\"") && has(b, "gamma"))
        });
        assert!(has(&body, "alpha"), "{body}");
        p.terminate()
    })
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
}
