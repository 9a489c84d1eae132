//! Alerting from PostgreSQL: `uptimer run` with writers.postgres alone notifies a fake
//! provider through the database's outbox, survives a SIGKILL between trigger and resolve,
//! and takes acknowledgements from the dashboard over the same database (`serve --store
//! postgres://`), by link and by API; two workers sharing one outbox never take the same
//! notification.

mod support;

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use support::bin::{Running, stderr, uptimer};
use support::pg::{TestDb, migrated};
use support::provider::{Provider, Received};
use support::server::http_server;

use uptimer::store::alerts::{AlertStore, Delivery};
use uptimer::store::postgres::alerts::PgAlerts;

fn start_run(dir: &Path, db: &TestDb, public: &str) -> Running {
    let mut c = uptimer(dir);
    c.args(["run", "--config", "u.yaml"])
        .env("DATABASE_URL", &db.url)
        .env("WEB_PUBLIC_URL", public)
        .env("LOG_LEVEL", "info");
    let r = Running::spawn(c);
    r.wait_for_stderr("uptimer started", Duration::from_secs(30), |l| {
        l.contains("uptimer started")
    });
    r
}

fn count(got: &[Received], path: &str, kind: &str) -> usize {
    got.iter()
        .filter(|r| r.path == path && r.json()["kind"] == kind)
        .count()
}

fn pd_actions(p: &Provider) -> Vec<String> {
    p.received()
        .iter()
        .filter(|r| r.path == "/pd/v2/enqueue")
        .map(|r| r.json()["event_action"].as_str().unwrap().to_owned())
        .collect()
}

async fn until(what: &str, within: Duration, log: &Running, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + within;
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: {}",
            log.stderr_so_far()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn writers_postgres_alone_alerts_survives_a_sigkill_and_takes_acks_from_the_dashboard() {
    let db = TestDb::new().await;
    let client = migrated(&db.url).await;
    let target = http_server().await;
    let provider = Provider::start().await;
    let dir = tempfile::tempdir().unwrap();
    let port = support::net::free_port();
    let public = format!("http://127.0.0.1:{port}/");
    let yaml = format!(
        "writers: [writers.postgres]\n\
         data_dir: {data}\n\
         probe: {{interval: 0.2, timeout: 2}}\n\
         group_wait: 0s\nchannels:\n  hook: {{type: webhook, url: '{hook}'}}\n  \
         pd: {{type: pagerduty, routing_key: RK, base_url: '{pd}'}}\n\
         alerts:\n  - {{type: hook, failure-threshold: 2, minimum-reminder-interval: 1s}}\n  \
         - {{type: pd, failure-threshold: 2}}\n\
         targets:\n  - name: api\n    url: {url}\n",
        hook = provider.url("/hook"),
        pd = provider.url("/pd"),
        url = target.url("/switch"),
        data = dir.path().join("data").display(),
    );
    std::fs::write(dir.path().join("u.yaml"), yaml).unwrap();

    let first = start_run(dir.path(), &db, &public);
    target.set_switch(503);
    until("a trigger", Duration::from_secs(30), &first, || {
        count(&provider.received(), "/hook", "trigger") == 1 && pd_actions(&provider).len() == 1
    })
    .await;
    let trigger = provider
        .received()
        .into_iter()
        .find(|r| r.path == "/hook")
        .unwrap()
        .json();
    let key = trigger["key"].as_str().unwrap().to_owned();
    let incident = trigger["incident"].as_i64().expect("the incident's id");
    assert_eq!(trigger["target"]["name"], "api");
    let link = trigger["ack_url"].as_str().unwrap().to_owned();
    assert!(
        link.starts_with(&format!("{public}ack/{incident}/")),
        "{link}"
    );
    // Time to record the deliveries, then a crash while the target is still down.
    tokio::time::sleep(Duration::from_millis(800)).await;
    first.kill();

    let second = start_run(dir.path(), &db, &public);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let got = provider.received();
    assert_eq!(count(&got, "/hook", "trigger"), 1, "no second trigger");
    assert_eq!(pd_actions(&provider), ["trigger"]);
    assert!(
        count(&got, "/hook", "reminder") >= 1,
        "reminders go on after the restart: {}",
        second.stderr_so_far()
    );

    // The dashboard over the database checks the link the writer signed (the key is the
    // database's) and acknowledges on POST.
    let mut c = uptimer(dir.path());
    c.args([
        "serve",
        "--store",
        &db.url,
        "--listen",
        &format!("127.0.0.1:{port}"),
    ])
    .env("WEB_PUBLIC_URL", &public)
    .env("DATA_DIR", "dashboard-data");
    let serve = support::bin::start_serve(c);
    let http = uptimer::alerting::send::client().unwrap();
    // It says it serves just before it listens.
    let mut page = http.get(&link).send().await;
    for _ in 0..50 {
        if page.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        page = http.get(&link).send().await;
    }
    let page = page.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("api has been failing since"), "{html}");
    let forged = format!("{public}ack/{incident}/00000000000000000000000000000000");
    assert_eq!(http.post(&forged).send().await.unwrap().status(), 403);
    let done = http
        .post(&link)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("by=ana")
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200, "{}", serve.stderr_so_far());
    until("the acknowledge", Duration::from_secs(15), &second, || {
        pd_actions(&provider) == ["trigger", "acknowledge"]
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let after_ack = count(&provider.received(), "/hook", "reminder");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        count(&provider.received(), "/hook", "reminder"),
        after_ack,
        "no reminder after the ack"
    );
    // The API says it is acknowledged already, and shows the notifications.
    let mut c = uptimer(dir.path());
    c.args([
        "incident",
        "ack",
        &incident.to_string(),
        "--server",
        &format!("http://127.0.0.1:{port}"),
    ]);
    let out = support::bin::output(c).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(support::bin::stdout(&out).contains("acknowledged already"));
    let api = http
        .get(format!("http://127.0.0.1:{port}/api/v1/incidents"))
        .send()
        .await
        .unwrap();
    let doc: serde_json::Value = serde_json::from_str(&api.text().await.unwrap()).unwrap();
    let inc = &doc["incidents"][0];
    assert_eq!(inc["id"], incident);
    assert_eq!(inc["acknowledged"]["by"], "ana");
    assert_eq!(inc["acknowledged"]["via"], "link");
    let notes = inc["notifications"].as_array().unwrap();
    assert!(
        notes
            .iter()
            .any(|n| n["channel"] == "pd" && n["kind"] == "acknowledge" && n["state"] == "sent"),
        "{notes:?}"
    );

    // Recovery resolves on both channels, under the trigger's key.
    target.set_switch(200);
    until("the resolves", Duration::from_secs(30), &second, || {
        count(&provider.received(), "/hook", "resolve") == 1 && pd_actions(&provider).len() == 3
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let out = second.terminate();
    serve.terminate();
    assert_eq!(
        pd_actions(&provider),
        ["trigger", "acknowledge", "resolve"],
        "{}",
        stderr(&out)
    );
    let got = provider.received();
    assert_eq!(count(&got, "/hook", "trigger"), 1);
    let resolve = got
        .iter()
        .find(|r| r.path == "/hook" && r.json()["kind"] == "resolve")
        .unwrap();
    assert_eq!(resolve.json()["key"], key.as_str());
    assert_eq!(resolve.json()["reason"], "recovered");
    // The outbox says the same: everything went out, nothing is claimed any more.
    let rows = client
        .query(
            "SELECT channel, kind, state FROM notifications
             WHERE state <> 'sent' OR claimed_until IS NOT NULL",
            &[],
        )
        .await
        .unwrap();
    let left: Vec<(String, String, String)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    let acks: i64 = client
        .query_one(
            "SELECT count(*) FROM incident_acks WHERE incident_id = $1 AND by = 'ana'",
            &[&incident],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(acks, 1);
}

/// Writes `n` pending notifications of channel `c`, due now.
async fn pending(client: &tokio_postgres::Client, c: &str, n: i32) {
    client
        .execute(
            "INSERT INTO notifications (key, channel, kind, target_id, created_at, due_at, payload)
             SELECT 'k' || i, $1::text, 'trigger', 't', now(), now(), jsonb_build_object(
               'kind', 'trigger', 'key', 'k' || i, 'rule', $1::text,
               'target', jsonb_build_object('id', 't', 'name', 't', 'url', ''),
               'incident', NULL, 'severity', 'critical', 'description', NULL,
               'time', '2026-12-02T00:00:00Z', 'reason', NULL, 'error', NULL,
               'error_kind', NULL, 'status_code', NULL, 'response_time_ms', NULL)
             FROM generate_series(1, $2) AS i",
            &[&c, &n],
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn two_workers_sharing_the_outbox_never_take_the_same_notification() {
    let db = TestDb::new().await;
    let client = migrated(&db.url).await;
    pending(&client, "hook", 40).await;
    let pool = |_| {
        let cfg: tokio_postgres::Config = db.url.parse().unwrap();
        let mgr = deadpool_postgres::Manager::new(cfg, tokio_postgres::NoTls);
        PgAlerts::new(deadpool_postgres::Pool::builder(mgr).build().unwrap())
    };
    let (a, b) = (pool(0), pool(1));
    let now = uptimer::store::now_micros();
    let take = |s: &PgAlerts| {
        let s = s.clone();
        async move {
            s.due_notifications(
                now,
                vec![("hook".into(), 16)],
                vec!["hook".into()],
                HashSet::new(),
                true,
            )
            .await
            .unwrap()
        }
    };
    let (x, y) = tokio::join!(take(&a), take(&b));
    let (x, y): (HashSet<i64>, HashSet<i64>) = (
        x.iter().map(|n| n.id).collect(),
        y.iter().map(|n| n.id).collect(),
    );
    assert_eq!((x.len(), y.len()), (16, 16));
    assert!(x.is_disjoint(&y), "taken twice: {:?}", x.intersection(&y));
    // What is claimed is not taken again until the claim runs out; the rest is.
    let z: HashSet<i64> = take(&a).await.iter().map(|n| n.id).collect();
    assert_eq!(z.len(), 8);
    assert!(z.is_disjoint(&x) && z.is_disjoint(&y));
    assert!(take(&b).await.is_empty());
    let later = now + uptimer::store::postgres::alerts::CLAIM_FOR + 1;
    let again = b
        .due_notifications(
            later,
            vec![("hook".into(), 64)],
            vec!["hook".into()],
            HashSet::new(),
            false,
        )
        .await
        .unwrap();
    assert_eq!(again.len(), 40, "a dead worker's claims run out");
    // Recorded: sent, unclaimed, never taken again.
    let done: Vec<(i64, Delivery)> = again
        .iter()
        .map(|n| {
            (
                n.id,
                Delivery::Sent {
                    answer: "202".into(),
                },
            )
        })
        .collect();
    a.notifications_done(done, later).await.unwrap();
    assert_eq!(a.outbox_depth().await.unwrap(), (0, None));
    let claimed: i64 = client
        .query_one(
            "SELECT count(*) FROM notifications WHERE claimed_until IS NOT NULL OR state <> 'sent'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(claimed, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reload_that_removes_a_target_or_its_rule_resolves_what_fired() {
    let db = TestDb::new().await;
    let client = migrated(&db.url).await;
    let target = http_server().await;
    let provider = Provider::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = |targets: &str| {
        let yaml = format!(
            "writers: [writers.postgres]\n\
             data_dir: {data}\n\
             probe: {{interval: 0.2, timeout: 2}}\n\
             group_wait: 0s\nchannels:\n  hook: {{type: webhook, url: '{hook}'}}\n\
             targets:\n{targets}",
            hook = provider.url("/hook"),
            data = dir.path().join("data").display(),
        );
        support::bin::write_renamed(&dir.path().join("u.yaml"), &yaml);
    };
    let url = target.url("/status/503");
    config(&format!(
        "  - {{name: api, url: '{url}', alerts: [{{type: hook, failure-threshold: 1}}]}}\n  \
         - {{name: web, url: '{url}?web', alerts: [{{type: hook, failure-threshold: 1}}]}}\n"
    ));
    let run = start_run(dir.path(), &db, "http://127.0.0.1:9/");
    until("two triggers", Duration::from_secs(30), &run, || {
        count(&provider.received(), "/hook", "trigger") == 2
    })
    .await;
    // web goes; api stays, without its rule.
    config(&format!("  - {{name: api, url: '{url}'}}\n"));
    support::bin::hangup(run.id());
    until("two resolves", Duration::from_secs(30), &run, || {
        count(&provider.received(), "/hook", "resolve") == 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let out = run.terminate();
    let got = provider.received();
    assert_eq!(got.len(), 4, "nothing else: {}", stderr(&out));
    for name in ["api", "web"] {
        let of = |kind: &str| {
            got.iter()
                .map(|r| r.json())
                .find(|d| d["target"]["name"] == name && d["kind"] == kind)
                .unwrap_or_else(|| panic!("{name} {kind}"))
        };
        assert_eq!(of("trigger")["key"], of("resolve")["key"]);
        assert_eq!(of("resolve")["reason"], "target removed", "{name}");
    }
    let states: i64 = client
        .query_one("SELECT count(*) FROM alert_rules", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(states, 0, "the counters are forgotten");
}

#[tokio::test(flavor = "multi_thread")]
async fn from_postgres_a_silence_and_a_down_parent_hold_notifications_and_the_parent_alone_pages() {
    let db = TestDb::new().await;
    let client = migrated(&db.url).await;
    let target = http_server().await;
    let provider = Provider::start().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg: tokio_postgres::Config = db.url.parse().unwrap();
    let mgr = deadpool_postgres::Manager::new(cfg, tokio_postgres::NoTls);
    let alerts = PgAlerts::new(deadpool_postgres::Pool::builder(mgr).build().unwrap());
    let now = uptimer::store::now_micros();
    let made = alerts
        .add_silence(uptimer::store::alerts::Silence {
            id: 0,
            kind: uptimer::store::alerts::gate::Kind::Silence,
            matchers: vec![uptimer::store::alerts::gate::Matcher::parse("tag=quiet").unwrap()],
            starts_at: now - 1_000_000,
            ends_at: now + 3_600_000_000,
            created_by: Some("ana".into()),
            reason: "migration".into(),
            created_at: now,
        })
        .await
        .unwrap();
    let url = target.url("/switch");
    let yaml = format!(
        "writers: [writers.postgres]\n\
         data_dir: {data}\n\
         probe: {{interval: 0.3, timeout: 2}}\n\
         group_wait: 1s\n\
         channels:\n  hook: {{type: webhook, url: '{hook}'}}\n\
         alerts:\n  - {{type: hook, failure-threshold: 2, success-threshold: 1}}\n\
         targets:\n  - {{id: router, url: '{url}?router'}}\n  \
         - {{id: app, url: '{url}?app', depends_on: [router]}}\n  \
         - {{id: quiet, url: '{url}?quiet', tags: [quiet]}}\n",
        hook = provider.url("/hook"),
        data = dir.path().join("data").display(),
    );
    std::fs::write(dir.path().join("u.yaml"), yaml).unwrap();
    let run = start_run(dir.path(), &db, "http://127.0.0.1:9/");
    target.set_switch(503);
    until(
        "the router's trigger",
        Duration::from_secs(30),
        &run,
        || count(&provider.received(), "/hook", "trigger") == 1,
    )
    .await;
    // The others would have paged by now.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let got = provider.received();
    assert_eq!(
        count(&got, "/hook", "trigger"),
        1,
        "{}",
        run.stderr_so_far()
    );
    let trigger = got.iter().find(|r| r.path == "/hook").unwrap().json();
    assert_eq!(trigger["target"]["id"], "router");
    let held: Vec<(String, String)> = client
        .query(
            "SELECT target_id, last_error FROM notifications WHERE state = 'suppressed'
             ORDER BY target_id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(held.len(), 2, "{held:?}");
    assert_eq!(held[0].0, "app");
    assert!(held[0].1.contains("parent router"), "{held:?}");
    assert_eq!(
        held[1],
        (
            "quiet".to_owned(),
            format!("silenced by silence {} (ana: migration)", made.id)
        )
    );
    // All recover: the router's resolve only.
    target.set_switch(200);
    until(
        "the router's resolve",
        Duration::from_secs(30),
        &run,
        || count(&provider.received(), "/hook", "resolve") == 1,
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(provider.received().len(), 2, "{}", run.stderr_so_far());
    run.terminate();
}

/// A probe result of target `id` at `t`.
fn result(id: &str, t: time::OffsetDateTime, up: bool) -> uptimer::event::Event {
    let host = format!("{id}.example.org");
    let mut e = uptimer::event::ProbeEvent::new(t, "https", &host, Some(443));
    e.target = Some(id.into());
    e.url = Some(format!("https://{host}/"));
    e.up = Some(up);
    e.status_code = Some(if up { 200 } else { 503 });
    e.into()
}

#[tokio::test(flavor = "multi_thread")]
async fn from_postgres_a_child_that_recovers_before_its_next_result_notifies_when_its_parent_was_up()
 {
    use uptimer::config::{Env, Overrides, Settings};
    use uptimer::writers::Writer;
    use uptimer::writers::postgres::{Options, PostgresWriter, Source};
    let db = TestDb::new().await;
    let client = migrated(&db.url).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("u.yaml");
    std::fs::write(
        &file,
        "writers: [writers.postgres]\n\
         group_wait: 30s\n\
         channels:\n  hook: {type: webhook, url: 'http://127.0.0.1:9/hook'}\n\
         alerts:\n  - {type: hook, failure-threshold: 2, success-threshold: 1}\n\
         targets:\n  - {id: router, url: 'https://router.example.org/'}\n  \
         - {id: app, url: 'https://app.example.org/', depends_on: [router]}\n",
    )
    .unwrap();
    let env = Env::from_pairs([("DATABASE_URL", db.url.as_str())]);
    let settings = Settings::load(Some(&file), &env, &Overrides::default()).unwrap();
    let mut w = PostgresWriter::new(
        &settings.postgres,
        dir.path(),
        Options {
            source: Source::Replayable,
            registry: Some(uptimer::registry::Registry::new(settings.targets.clone())),
            alerting: true,
            live: settings.alerting.live.clone(),
            ..Options::default()
        },
    )
    .await
    .unwrap();
    let t0 = time::OffsetDateTime::now_utc() - Duration::from_secs(600);
    let at = |id: &str, s: u64, up: bool| result(id, t0 + Duration::from_secs(s), up);
    for batch in [
        vec![at("router", 0, true), at("app", 0, true)],
        // app fires and waits for the router, checked up after it; app is back next.
        vec![at("app", 60, false)],
        vec![at("app", 120, false)],
        vec![at("router", 130, true)],
        vec![at("app", 180, true)],
    ] {
        w.write_and_wait(&batch).await.unwrap();
    }
    w.close().await.unwrap();
    let said: Vec<String> = client
        .query(
            "SELECT kind || ' ' || state FROM notifications WHERE target_id = 'app' ORDER BY id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        said,
        ["trigger suppressed", "trigger pending", "resolve pending"]
    );
}
