//! Alerting for operators in the SQLite store, on a real file, with the results' own times as
//! the clock: silences and maintenance windows hold triggers back (written as `suppressed`,
//! sent once nothing holds them), escalation pages more channels while an incident stays
//! unacknowledged, storm control holds and releases, a channel's rate limit turns a burst into
//! digests and later sends, and every trigger that went out gets its resolve.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use support::provider::{Provider, Received};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use uptimer::alerting::worker::{Clock, spawn_with};
use uptimer::config::StoreSettings;
use uptimer::config::alerting::{AlertingNow, LiveAlerting, channel_of};
use uptimer::config::storm::{Canaries, Storm};
use uptimer::event::{ErrorKind, Event, ProbeEvent};
use uptimer::metrics::Metrics;
use uptimer::state::maintenance::{Mode, Schedule, Window};
use uptimer::state::rules::{Rule, Step, Threshold, Watch};
use uptimer::store::SqliteStore;
use uptimer::store::alerts::gate::{Kind, Matcher};
use uptimer::store::alerts::{Acked, AlertStore, NotificationRow, Silence};
use uptimer::store::sqlite::TargetInfo;
use uptimer::store::sqlite::follow::Upsert;

fn store(dir: &tempfile::TempDir) -> SqliteStore {
    SqliteStore::open(&StoreSettings::with_path(
        dir.path().join("uptimer.sqlite3"),
    ))
    .unwrap()
}

fn rule() -> Rule {
    Rule {
        channel: "ops".into(),
        key: "ops".into(),
        enabled: true,
        threshold: Threshold::Consecutive(2),
        success_threshold: 1,
        send_on_resolved: true,
        description: None,
        for_at_least: None,
        remind_every: None,
        reminder_max: None,
        watch: Watch::Down,
        severity: None,
        escalate: Vec::new(),
    }
}

fn upsert(rules: &[Rule]) -> Upsert {
    upsert_of("db", &["db", "prod"], rules)
}

fn upsert_of(id: &str, tags: &[&str], rules: &[Rule]) -> Upsert {
    Upsert {
        info: TargetInfo {
            id: id.into(),
            name: if id == "db" {
                "Primary DB".into()
            } else {
                id.into()
            },
            url: format!("https://{id}.example.org/"),
            protocol: "https".into(),
            hostname: format!("{id}.example.org"),
            port: Some(443),
            path: "/".into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            interval_s: Some(60.0),
        },
        paused: false,
        alerts: Arc::from(rules.to_vec()),
    }
}

fn event(t: OffsetDateTime, up: bool) -> Event {
    event_of("db", t, up)
}

fn event_of(id: &str, t: OffsetDateTime, up: bool) -> Event {
    let host = format!("{id}.example.org");
    let mut e = ProbeEvent::new(t, "https", &host, Some(443));
    e.target = Some(id.into());
    e.url = Some(format!("https://{host}/"));
    e.up = Some(up);
    e.status_code = Some(if up { 200 } else { 503 });
    if !up {
        e.error_kind = Some(ErrorKind::HttpStatus);
        e.error = Some("unexpected status 503".into());
    }
    e.into()
}

/// The start of the test's timeline: a minute boundary two days ago.
fn t0() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc() - Duration::from_secs(2 * 86400);
    now.replace_second(0)
        .unwrap()
        .replace_nanosecond(0)
        .unwrap()
}

/// Results a minute apart from `t0() + from` minutes: `u` up, `d` down.
async fn results(s: &SqliteStore, from: u64, pattern: &str) {
    let events = pattern
        .bytes()
        .enumerate()
        .map(|(i, b)| {
            let minute = from + i as u64;
            event(t0() + Duration::from_secs(60 * minute), b == b'u')
        })
        .collect();
    s.ingest(events).await.unwrap();
}

fn micros(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1000) as i64
}

fn minute(m: u64) -> i64 {
    micros(t0() + Duration::from_secs(60 * m))
}

async fn rows(s: &SqliteStore) -> Vec<NotificationRow> {
    let mut r = s.notifications(None, 1000).await.unwrap();
    r.reverse();
    r
}

/// Each notification as `kind channel state`.
async fn said(s: &SqliteStore) -> Vec<String> {
    rows(s)
        .await
        .iter()
        .map(|r| format!("{} {} {}", r.kind, r.channel, r.state))
        .collect()
}

/// Every trigger that went out (not held, not cancelled) has a resolve of its key and channel after it.
async fn assert_every_trigger_resolved(s: &SqliteStore) {
    let r = rows(s).await;
    // Held back, or over before it left its group: it never went out.
    let went_out = |r: &&NotificationRow| !["suppressed", "skipped"].contains(&r.state.as_str());
    for t in r.iter().filter(|r| r.kind == "trigger").filter(went_out) {
        assert!(
            r.iter().any(|x| x.kind == "resolve"
                && x.key == t.key
                && x.channel == t.channel
                && x.id > t.id),
            "trigger {} to {} has no resolve: {r:#?}",
            t.key,
            t.channel
        );
    }
}

fn silence(matchers: &[&str], from: u64, to: u64) -> Silence {
    Silence {
        id: 0,
        kind: Kind::Silence,
        matchers: matchers
            .iter()
            .map(|m| Matcher::parse(m).unwrap())
            .collect(),
        starts_at: minute(from),
        ends_at: minute(to),
        created_by: Some("ana".into()),
        reason: "database upgrade".into(),
        created_at: minute(from),
    }
}

#[tokio::test]
async fn a_silence_by_tag_holds_the_trigger_until_it_ends_and_the_resolve_follows() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    s.follow_changes(vec![upsert(&[rule()])], vec![], None)
        .await
        .unwrap();
    let made = s.add_silence(silence(&["tag=db"], 0, 10)).await.unwrap();
    assert!(made.id > 0);
    // Down from minute 1: it fires at minute 2, inside the silence.
    results(&s, 0, "udddd").await;
    let r = rows(&s).await;
    assert_eq!(said(&s).await, ["trigger ops suppressed"]);
    assert_eq!(
        r[0].last_error.as_deref(),
        Some("silenced by silence 1 (ana: database upgrade)")
    );
    // Still down when the silence ends at minute 10: the trigger goes out then.
    results(&s, 5, "ddddd").await;
    assert_eq!(said(&s).await, ["trigger ops suppressed"]);
    results(&s, 10, "d").await;
    assert_eq!(
        said(&s).await,
        ["trigger ops suppressed", "trigger ops pending"]
    );
    let r = rows(&s).await;
    assert_eq!(r[0].key, r[1].key, "one incident, one key");
    results(&s, 11, "u").await;
    assert_eq!(
        said(&s).await,
        [
            "trigger ops suppressed",
            "trigger ops pending",
            "resolve ops pending"
        ]
    );
    assert_every_trigger_resolved(&s).await;
}

#[tokio::test]
async fn an_incident_over_within_its_silence_sends_nothing_and_other_tags_and_channels_are_not_held()
 {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    let mut pager = rule();
    pager.channel = "pager".into();
    pager.key = "pager".into();
    s.follow_changes(vec![upsert(&[rule(), pager])], vec![], None)
        .await
        .unwrap();
    s.add_silence(silence(&["tag=prod", "channel=ops"], 0, 30))
        .await
        .unwrap();
    s.add_silence(silence(&["tag=web"], 0, 30)).await.unwrap();
    results(&s, 0, "ddduu").await;
    // ops held, pager not; the resolve goes to pager only (ops never heard of it).
    assert_eq!(
        said(&s).await,
        [
            "trigger ops suppressed",
            "trigger pager pending",
            "resolve pager pending"
        ]
    );
    assert_every_trigger_resolved(&s).await;
    // Expired, a silence holds nothing more.
    let expired = s.expire_silence(1, None, minute(5)).await.unwrap().unwrap();
    assert_eq!(expired.ends_at, minute(5));
    assert!(
        s.expire_silence(99, None, minute(5))
            .await
            .unwrap()
            .is_none()
    );
    // Not ended as another kind.
    assert!(
        s.expire_silence(2, Some(Kind::Maintenance), minute(5))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        s.silences(minute(6), false)
            .await
            .unwrap()
            .iter()
            .any(|x| x.id == 2)
    );
    results(&s, 6, "dd").await;
    assert_eq!(said(&s).await.len(), 5, "{:?}", said(&s).await);
    assert_eq!(s.silences(minute(6), false).await.unwrap().len(), 1);
    assert_eq!(s.silences(minute(6), true).await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_target_still_down_when_its_maintenance_window_ends_notifies_then() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    let window = Window {
        name: "nightly".into(),
        schedule: Schedule::Once(jiff::Timestamp::from_microsecond(minute(0)).unwrap()),
        duration: Duration::from_secs(20 * 60),
        timezone: jiff::tz::TimeZone::get("Europe/Berlin").unwrap(),
        targets: Vec::new(),
        tags: vec!["db".into()],
        mode: Mode::Suppress,
    };
    s.alert_with(LiveAlerting::new(AlertingNow {
        maintenance: Arc::from(vec![window]),
        ..AlertingNow::default()
    }))
    .await
    .unwrap();
    s.follow_changes(vec![upsert(&[rule()])], vec![], None)
        .await
        .unwrap();
    results(&s, 5, "ddddd").await;
    let r = rows(&s).await;
    assert_eq!(said(&s).await, ["trigger ops suppressed"]);
    assert_eq!(
        r[0].last_error.as_deref(),
        Some("in maintenance window nightly")
    );
    results(&s, 10, "dddddddddd").await;
    assert_eq!(said(&s).await.len(), 1, "nothing more inside the window");
    // The window ends at minute 20: the first result after it sends the trigger.
    results(&s, 20, "dd").await;
    assert_eq!(
        said(&s).await,
        ["trigger ops suppressed", "trigger ops pending"]
    );
    results(&s, 22, "u").await;
    assert_every_trigger_resolved(&s).await;
}

fn escalating() -> Rule {
    Rule {
        escalate: vec![
            Step {
                after: Duration::from_secs(15 * 60),
                channels: vec!["oncall".into()],
            },
            Step {
                after: Duration::from_secs(60 * 60),
                channels: vec!["managers".into()],
            },
        ],
        ..rule()
    }
}

#[tokio::test]
async fn an_unacknowledged_incident_escalates_after_fifteen_minutes_and_all_its_channels_resolve() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    s.follow_changes(vec![upsert(&[escalating()])], vec![], None)
        .await
        .unwrap();
    // Fires at minute 1; fourteen minutes later nobody else is paged.
    results(&s, 0, &"d".repeat(15)).await;
    assert_eq!(said(&s).await, ["trigger ops pending"]);
    // At minute 16 (fifteen after it fired) oncall is.
    results(&s, 15, "dd").await;
    assert_eq!(
        said(&s).await,
        ["trigger ops pending", "trigger oncall pending"]
    );
    let r = rows(&s).await;
    assert_eq!(r[0].key, r[1].key);
    results(&s, 17, "u").await;
    assert_eq!(
        said(&s).await,
        [
            "trigger ops pending",
            "trigger oncall pending",
            "resolve ops pending",
            "resolve oncall pending"
        ]
    );
    assert_every_trigger_resolved(&s).await;
}

#[tokio::test]
async fn a_trigger_a_window_held_escalates_fifteen_minutes_after_it_went_out_not_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    let window = Window {
        name: "upgrade".into(),
        schedule: Schedule::Once(jiff::Timestamp::from_microsecond(minute(0)).unwrap()),
        duration: Duration::from_secs(90 * 60),
        timezone: jiff::tz::TimeZone::UTC,
        targets: Vec::new(),
        tags: vec!["db".into()],
        mode: Mode::Suppress,
    };
    s.alert_with(LiveAlerting::new(AlertingNow {
        maintenance: Arc::from(vec![window]),
        ..AlertingNow::default()
    }))
    .await
    .unwrap();
    s.follow_changes(vec![upsert(&[escalating()])], vec![], None)
        .await
        .unwrap();
    // Down through the 90-minute window: held. At minute 90 the trigger goes out, and only it.
    results(&s, 0, &"d".repeat(91)).await;
    assert_eq!(
        said(&s).await,
        ["trigger ops suppressed", "trigger ops pending"]
    );
    results(&s, 91, &"d".repeat(14)).await;
    assert_eq!(said(&s).await.len(), 2, "{:?}", said(&s).await);
    // Fifteen minutes after it went out, oncall is paged.
    results(&s, 105, "d").await;
    assert_eq!(
        said(&s).await,
        [
            "trigger ops suppressed",
            "trigger ops pending",
            "trigger oncall pending"
        ]
    );
    results(&s, 106, "u").await;
    assert_every_trigger_resolved(&s).await;
}

#[tokio::test]
async fn an_acknowledged_incident_does_not_escalate_and_its_ack_reaches_escalated_channels() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    s.follow_changes(vec![upsert(&[escalating()])], vec![], None)
        .await
        .unwrap();
    results(&s, 0, &"d".repeat(20)).await;
    assert_eq!(
        said(&s).await,
        ["trigger ops pending", "trigger oncall pending"]
    );
    let incident = rows(&s).await[0].incident_id.unwrap();
    let acked = s
        .ack_incident(incident, Some("ana".into()), "api")
        .await
        .unwrap();
    assert!(matches!(acked, Acked::Now { .. }), "{acked:?}");
    // Past the hour: managers are not paged, the incident being acknowledged.
    results(&s, 20, &"d".repeat(60)).await;
    results(&s, 80, "u").await;
    assert_eq!(
        said(&s).await,
        [
            "trigger ops pending",
            "trigger oncall pending",
            "acknowledge oncall pending",
            "acknowledge ops pending",
            "resolve ops pending",
            "resolve oncall pending"
        ]
    );
    assert_every_trigger_resolved(&s).await;
}

/// Results of several targets in one batch: `(id, minute, up)`, `seconds` past the minute.
async fn batch(s: &SqliteStore, results: &[(&str, u64, bool)], seconds: u64) {
    let events = results
        .iter()
        .map(|(id, m, up)| event_of(id, t0() + Duration::from_secs(60 * m + seconds), *up))
        .collect();
    s.ingest(events).await.unwrap();
}

async fn with_storm(s: &SqliteStore, storm: Storm) {
    s.alert_with(LiveAlerting::new(AlertingNow {
        storm,
        ..AlertingNow::default()
    }))
    .await
    .unwrap();
}

#[tokio::test]
async fn fifty_targets_behind_a_down_parent_give_one_notification_even_when_it_is_checked_last() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    let children: Vec<String> = (0..50).map(|i| format!("app{i:02}")).collect();
    let parents: std::collections::HashMap<String, Arc<[String]>> = children
        .iter()
        .map(|c| (c.clone(), Arc::from(vec!["router".to_owned()])))
        .collect();
    with_storm(
        &s,
        Storm {
            parents: Arc::new(parents),
            canaries: None,
            group_wait: Duration::from_secs(30),
        },
    )
    .await;
    let mut upserts = vec![upsert_of("router", &["net"], &[rule()])];
    upserts.extend(children.iter().map(|c| upsert_of(c, &["app"], &[rule()])));
    s.follow_changes(upserts, vec![], None).await.unwrap();
    // All up, then the children fail first: the router is checked 20 s after them.
    let all = |m: u64, up: bool| -> Vec<(&str, u64, bool)> {
        children.iter().map(|c| (c.as_str(), m, up)).collect()
    };
    batch(&s, &[all(0, true), vec![("router", 0, true)]].concat(), 0).await;
    batch(&s, &all(1, false), 0).await;
    batch(&s, &all(2, false), 0).await;
    // Fired at minute 2, the router not checked since they failed: held, waiting for it.
    let r = rows(&s).await;
    assert_eq!(r.len(), 50);
    assert!(r.iter().all(|r| r.state == "suppressed"), "{r:#?}");
    assert_eq!(
        r[0].last_error.as_deref(),
        Some("waiting for its parent router's next result")
    );
    batch(&s, &[("router", 1, false), ("router", 2, false)], 20).await;
    batch(&s, &[all(3, false), vec![("router", 3, false)]].concat(), 0).await;
    batch(&s, &[all(4, false), vec![("router", 4, false)]].concat(), 0).await;
    let sent: Vec<_> = rows(&s)
        .await
        .into_iter()
        .filter(|r| r.state != "suppressed")
        .collect();
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!(
        (sent[0].target_id.as_str(), sent[0].kind.as_str()),
        ("router", "trigger")
    );
    let held = rows(&s).await;
    assert!(
        held.iter()
            .any(|r| r.last_error.as_deref()
                == Some("suppressed by its parent router, which is down"))
    );
    // All recover: the router's resolve, nothing for the children.
    batch(&s, &[all(5, true), vec![("router", 5, true)]].concat(), 0).await;
    let sent: Vec<String> = rows(&s)
        .await
        .iter()
        .filter(|r| r.state != "suppressed")
        .map(|r| format!("{} {}", r.kind, r.target_id))
        .collect();
    assert_eq!(sent, ["trigger router", "resolve router"]);
    assert_every_trigger_resolved(&s).await;
}

/// `children` depend on `router`; all have [`rule`]; a failure waits 30 s for the router.
async fn behind_router(s: &SqliteStore, children: &[&str]) {
    let parents = children
        .iter()
        .map(|c| (c.to_string(), Arc::from(vec!["router".to_owned()])))
        .collect();
    with_storm(
        s,
        Storm {
            parents: Arc::new(parents),
            canaries: None,
            group_wait: Duration::from_secs(30),
        },
    )
    .await;
    let mut upserts = vec![upsert_of("router", &[], &[rule()])];
    upserts.extend(children.iter().map(|c| upsert_of(c, &[], &[rule()])));
    s.follow_changes(upserts, vec![], None).await.unwrap();
}

/// Target `id`'s notifications as `kind state`.
async fn said_of(s: &SqliteStore, id: &str) -> Vec<String> {
    rows(s)
        .await
        .iter()
        .filter(|r| r.target_id == id)
        .map(|r| format!("{} {}", r.kind, r.state))
        .collect()
}

/// `app` behind the router, both up at minute 0; `app` fails at minutes 1 and 2 and fires,
/// held while it waits for the router's next result.
async fn app_fires_behind_the_router(s: &SqliteStore) {
    behind_router(s, &["app"]).await;
    batch(s, &[("router", 0, true), ("app", 0, true)], 0).await;
    batch(s, &[("app", 1, false), ("app", 2, false)], 0).await;
    assert_eq!(said(s).await, ["trigger ops suppressed"]);
}

#[tokio::test]
async fn a_child_whose_parent_is_up_notifies_once_the_parent_has_been_checked() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    app_fires_behind_the_router(&s).await;
    // The router passes after it: the app's next failure goes out.
    batch(&s, &[("router", 2, true)], 10).await;
    batch(&s, &[("app", 3, false)], 0).await;
    assert_eq!(
        said(&s).await,
        ["trigger ops suppressed", "trigger ops pending"]
    );
    batch(&s, &[("app", 4, true)], 0).await;
    assert_every_trigger_resolved(&s).await;
}

#[tokio::test]
async fn a_child_that_recovers_before_its_next_result_still_notifies_when_its_parent_was_up() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    app_fires_behind_the_router(&s).await;
    // The router passes after it, and the app is up again at its next result: its outage
    // was its own, and people hear of it (late), then of its end.
    batch(&s, &[("router", 2, true)], 10).await;
    batch(&s, &[("app", 3, true)], 0).await;
    assert_eq!(
        said(&s).await,
        [
            "trigger ops suppressed",
            "trigger ops pending",
            "resolve ops pending"
        ]
    );
    let r = rows(&s).await;
    assert!(r.iter().all(|x| x.key == r[0].key), "one key: {r:#?}");
    assert_eq!(
        r[1].incident_id, r[0].incident_id,
        "the incident it fired for"
    );
    let due = s
        .due_notifications(
            minute(10_000),
            vec![("ops".into(), 10)],
            vec!["ops".into()],
            Default::default(),
            false,
        )
        .await
        .unwrap();
    let late = &due.iter().find(|o| o.id == r[1].id).unwrap().notice;
    assert_eq!(
        late.reason.as_deref(),
        Some("sent late, after waiting for its parent router's next result")
    );
    assert_eq!(late.time, t0() + Duration::from_secs(120), "when it fired");
    assert_every_trigger_resolved(&s).await;
}

/// `app` and `api` behind the router, all three up at minute 0; the two fail at minutes 1 and
/// 2, firing at 2 while they wait for the router's next result.
async fn app_and_api_fire_behind_the_router(s: &SqliteStore) {
    behind_router(s, &["app", "api"]).await;
    batch(
        s,
        &[("router", 0, true), ("app", 0, true), ("api", 0, true)],
        0,
    )
    .await;
    batch(s, &[("app", 1, false), ("api", 1, false)], 0).await;
    batch(s, &[("app", 2, false), ("api", 2, false)], 0).await;
}

#[tokio::test]
async fn a_child_whose_parent_is_not_checked_within_group_wait_notifies_even_if_it_recovered() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    // Both fire at minute 2 and wait for the router, which is not checked again.
    app_and_api_fire_behind_the_router(&s).await;
    // api is back 20 s later, within group_wait: over before its trigger could go out.
    batch(&s, &[("api", 2, true)], 20).await;
    assert_eq!(said_of(&s, "api").await, ["trigger suppressed"]);
    // app is back a minute later, group_wait long past: its trigger was owed.
    batch(&s, &[("app", 3, true)], 0).await;
    assert_eq!(
        said_of(&s, "app").await,
        ["trigger suppressed", "trigger pending", "resolve pending"]
    );
    assert_eq!(said_of(&s, "router").await, Vec::<String>::new());
    assert_every_trigger_resolved(&s).await;
}

#[tokio::test]
async fn a_child_over_within_group_wait_sends_nothing_even_when_its_parent_was_up() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    app_and_api_fire_behind_the_router(&s).await;
    // The router is checked up 10 s after they fired. api is back 20 s after it fired, within
    // group_wait: an incident that short sends nothing, as it would without depends_on.
    batch(&s, &[("router", 2, true)], 10).await;
    batch(&s, &[("api", 2, true)], 20).await;
    assert_eq!(said_of(&s, "api").await, ["trigger suppressed"]);
    // app is back a minute after it fired: its trigger was owed.
    batch(&s, &[("app", 3, true)], 0).await;
    assert_eq!(
        said_of(&s, "app").await,
        ["trigger suppressed", "trigger pending", "resolve pending"]
    );
    assert_every_trigger_resolved(&s).await;
}

#[tokio::test]
async fn a_child_that_recovers_before_its_next_result_sends_nothing_when_its_parent_was_down() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    app_and_api_fire_behind_the_router(&s).await;
    // The router is checked down after them: app is back while it is still down, api once
    // it has recovered too. Their outages were the router's.
    batch(&s, &[("router", 2, false)], 10).await;
    batch(&s, &[("app", 3, true)], 0).await;
    batch(&s, &[("router", 3, true)], 10).await;
    batch(&s, &[("api", 4, true)], 0).await;
    for child in ["app", "api"] {
        assert_eq!(said_of(&s, child).await, ["trigger suppressed"], "{child}");
    }
    assert_every_trigger_resolved(&s).await;
}

#[tokio::test]
async fn a_late_trigger_goes_out_at_once_so_no_group_holds_it_past_its_resolve() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    behind_router(&s, &["app"]).await;
    s.follow_changes(vec![upsert_of("web", &[], &[rule()])], vec![], None)
        .await
        .unwrap();
    // Results as they happen: app fires 100 s ago and waits for the router, which is not
    // checked again; web (no parent) fires 20 s ago and opens a group due in 10 s.
    let now = OffsetDateTime::now_utc();
    let at = |id: &str, ago: u64, up: bool| event_of(id, now - Duration::from_secs(ago), up);
    s.ingest(vec![
        at("router", 200, true),
        at("app", 200, true),
        at("web", 200, true),
    ])
    .await
    .unwrap();
    s.ingest(vec![at("app", 160, false), at("app", 100, false)])
        .await
        .unwrap();
    s.ingest(vec![at("web", 50, false), at("web", 20, false)])
        .await
        .unwrap();
    // app is back: its trigger, owed since group_wait passed 70 s ago, goes out at once with
    // its resolve (in web's group, due after the resolve, the resolve would cancel it).
    assert_eq!(said_of(&s, "web").await, ["trigger pending"]);
    s.ingest(vec![at("app", 10, true)]).await.unwrap();
    assert_eq!(
        said_of(&s, "app").await,
        ["trigger suppressed", "trigger pending", "resolve pending"]
    );
}

#[tokio::test]
async fn two_of_three_failing_canaries_give_one_monitor_offline_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    let canaries = ["c1", "c2", "c3"];
    with_storm(
        &s,
        Storm {
            parents: Arc::default(),
            canaries: Some(Arc::new(Canaries {
                targets: canaries.iter().map(|c| c.to_string()).collect(),
                quorum: 2,
                channels: vec!["ops".into()],
            })),
            group_wait: Duration::from_secs(30),
        },
    )
    .await;
    let targets: Vec<String> = (0..10).map(|i| format!("site{i}")).collect();
    // The canaries have rules of their own, firing at their first failure: held as well
    // while the monitor is offline.
    let mut upserts: Vec<Upsert> = canaries
        .iter()
        .map(|c| {
            let at_once = Rule {
                threshold: Threshold::Consecutive(1),
                ..rule()
            };
            upsert_of(c, &[], &[at_once])
        })
        .collect();
    upserts.extend(targets.iter().map(|t| upsert_of(t, &[], &[rule()])));
    s.follow_changes(upserts, vec![], None).await.unwrap();
    let at = |m: u64, sites_up: bool, canaries_down: usize| {
        let mut r: Vec<(&str, u64, bool)> =
            targets.iter().map(|t| (t.as_str(), m, sites_up)).collect();
        r.extend(
            canaries
                .iter()
                .enumerate()
                .map(|(i, c)| (*c, m, i >= canaries_down)),
        );
        r
    };
    batch(&s, &at(0, true, 0), 0).await;
    // The uplink goes: two canaries and every site fail, for five minutes.
    for m in 1..6 {
        batch(&s, &at(m, false, 2), 0).await;
    }
    let sent: Vec<String> = rows(&s)
        .await
        .iter()
        .filter(|r| r.state != "suppressed")
        .map(|r| format!("{} {} {}", r.kind, r.target_id, r.channel))
        .collect();
    assert_eq!(sent, ["trigger @monitor ops"]);
    let monitor = &rows(&s)
        .await
        .into_iter()
        .find(|r| r.target_id == "@monitor")
        .unwrap();
    let out = s
        .due_notifications(
            minute(10_000),
            vec![("ops".into(), 100)],
            vec!["ops".into()],
            Default::default(),
            false,
        )
        .await
        .unwrap();
    let offline = out.iter().find(|o| o.id == monitor.id).unwrap();
    assert_eq!(
        offline.notice.error.as_deref(),
        Some("the monitor is offline: 2 of 3 connectivity canaries fail (c1, c2)")
    );
    // The uplink is back but the sites stay down: the monitor's resolve, then their held
    // triggers go out (the canaries' own, held as the same outage, do not).
    batch(&s, &at(6, false, 0), 0).await;
    let sent = |rows: Vec<NotificationRow>| -> Vec<String> {
        rows.iter()
            .filter(|r| r.state != "suppressed")
            .map(|r| format!("{} {}", r.kind, r.target_id))
            .collect()
    };
    let now = sent(rows(&s).await);
    assert_eq!(now[..2], ["trigger @monitor", "resolve @monitor"]);
    let mut released = now[2..].to_vec();
    released.sort();
    let each =
        |kind: &str| -> Vec<String> { targets.iter().map(|t| format!("{kind} {t}")).collect() };
    assert_eq!(released, each("trigger"), "{now:#?}");
    // Then they recover: every trigger sent gets its resolve, and nothing more is sent.
    batch(&s, &at(7, true, 0), 0).await;
    let now = sent(rows(&s).await);
    let mut resolved = now[12..].to_vec();
    resolved.sort();
    assert_eq!(resolved, each("resolve"), "{now:#?}");
    assert_eq!(now.len(), 22, "nothing of the canaries' own: {now:#?}");
    assert_every_trigger_resolved(&s).await;
}

#[tokio::test]
async fn an_incident_over_within_group_wait_sends_neither_its_trigger_nor_its_resolve() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    with_storm(
        &s,
        Storm {
            group_wait: Duration::from_secs(30),
            ..Storm::default()
        },
    )
    .await;
    s.follow_changes(vec![upsert(&[rule()])], vec![], None)
        .await
        .unwrap();
    // Results as they happen: down, down (it fires), up a second later.
    let now = OffsetDateTime::now_utc();
    let live = |ago: u64, up: bool| event(now - Duration::from_secs(ago), up);
    s.ingest(vec![live(10, false), live(9, false), live(8, true)])
        .await
        .unwrap();
    let r = rows(&s).await;
    assert_eq!(said(&s).await, ["trigger ops skipped"]);
    assert_eq!(
        r[0].last_error.as_deref(),
        Some("resolved within group_wait, before it was sent")
    );
    assert_every_trigger_resolved(&s).await;
    // A trigger waits for its group: nothing is due before group_wait has passed.
    s.ingest(vec![live(5, false), live(4, false)])
        .await
        .unwrap();
    let due = |at: i64| {
        s.due_notifications(
            at,
            vec![("ops".into(), 10)],
            vec!["ops".into()],
            Default::default(),
            false,
        )
    };
    assert!(due(micros(now)).await.unwrap().is_empty());
    assert_eq!(due(micros(now) + 27_000_000).await.unwrap().len(), 1);
}

/// How many requests each provider has had once they stop coming: none for longer than two
/// reads of the outbox.
async fn settled(providers: [&Provider; 2]) -> [usize; 2] {
    let count = || providers.map(|p| p.received().len());
    let (mut last, mut since) = (count(), std::time::Instant::now());
    while since.elapsed() < Duration::from_millis(1200) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if count() != last {
            (last, since) = (count(), std::time::Instant::now());
        }
    }
    last
}

#[tokio::test(flavor = "multi_thread")]
async fn a_burst_beyond_max_per_minute_becomes_digests_and_later_sends_and_nothing_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    let (chat, hook) = (Provider::start().await, Provider::start().await);
    let channel = |name: &str, yaml: String| {
        let c = channel_of(name, &serde_yaml_ng::from_str(&yaml).unwrap()).unwrap();
        (name.to_owned(), c)
    };
    let channels = BTreeMap::from([
        channel(
            "chat",
            format!(
                "{{type: ntfy, topic: t, base_url: '{}', max_per_minute: 2}}",
                chat.url("/ntfy")
            ),
        ),
        channel(
            "hook",
            format!(
                "{{type: webhook, url: '{}', max_per_minute: 4}}",
                hook.url("/hook")
            ),
        ),
    ]);
    let live = LiveAlerting::new(AlertingNow {
        channels: Arc::new(channels),
        ..AlertingNow::default()
    });
    s.alert_with(live.clone()).await.unwrap();
    let at_once = |c: &str| Rule {
        channel: c.into(),
        key: c.into(),
        threshold: Threshold::Consecutive(1),
        ..rule()
    };
    let sites: Vec<String> = (0..10).map(|i| format!("site{i}")).collect();
    let upserts = sites
        .iter()
        .map(|t| upsert_of(t, &[], &[at_once("chat"), at_once("hook")]))
        .collect();
    s.follow_changes(upserts, vec![], None).await.unwrap();
    let clock = Clock::default();
    let stop = CancellationToken::new();
    let worker = spawn_with(
        Arc::new(s.clone()),
        live,
        None,
        Arc::new(Metrics::default()),
        clock.clone(),
        stop.clone(),
    )
    .unwrap();
    let now = OffsetDateTime::now_utc();
    let results = |ids: &[String], up: bool, ago: u64| -> Vec<Event> {
        let t = now - Duration::from_secs(ago);
        ids.iter().map(|id| event_of(id, t, up)).collect()
    };
    // Within one minute: two sites fail, then eight more, then all recover. chat may make
    // two requests, hook four: the rest waits.
    s.ingest(results(&sites[..2], false, 30)).await.unwrap();
    settled([&chat, &hook]).await;
    s.ingest(results(&sites[2..], false, 20)).await.unwrap();
    settled([&chat, &hook]).await;
    s.ingest(results(&sites, true, 10)).await.unwrap();
    let mut totals = vec![settled([&chat, &hook]).await];
    assert_eq!(totals[0], [2, 4], "the limits, reached");
    // Each minute after, more goes out, until every notification is sent.
    let all_sent = async || rows(&s).await.iter().all(|r| r.state == "sent");
    while !all_sent().await {
        assert!(
            totals.len() < 8,
            "not all sent: {totals:?} {:#?}",
            rows(&s).await
        );
        clock.advance(Duration::from_secs(60));
        totals.push(settled([&chat, &hook]).await);
    }
    stop.cancel();
    worker.await.unwrap();
    for pair in totals.windows(2) {
        let ([c0, h0], [c1, h1]) = (pair[0], pair[1]);
        assert!(c1 - c0 <= 2 && h1 - h0 <= 4, "over a limit: {totals:?}");
    }
    // None dropped: 10 triggers and 10 resolves to each channel, all sent; chat's in three
    // digests, hook's one by one (it tracks incidents by key).
    let r = rows(&s).await;
    assert_eq!(r.len(), 40, "{r:#?}");
    let titles: Vec<String> = chat
        .received()
        .iter()
        .map(|x| x.header("title").unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        titles,
        [
            "2 targets failing",
            "8 targets failing",
            "10 targets recovered"
        ]
    );
    let got: Vec<serde_json::Value> = hook.received().iter().map(Received::json).collect();
    for kind in ["trigger", "resolve"] {
        let mut named: Vec<&str> = got
            .iter()
            .filter(|d| d["kind"] == kind)
            .map(|d| d["target"]["name"].as_str().unwrap())
            .collect();
        named.sort();
        assert_eq!(named, sites, "{kind}");
    }
    assert_every_trigger_resolved(&s).await;
}
