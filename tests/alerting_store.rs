//! Alert rules in the SQLite store, on a real file: notifications are written with the results
//! that cause them, once (a replayed batch adds none), in order per incident and channel, and
//! every fired rule resolves: when the target recovers, is paused, loses the rule or is
//! removed.

mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use uptimer::config::StoreSettings;
use uptimer::event::{ErrorKind, Event, ProbeEvent};
use uptimer::state::rules::{Condition, Rule, Severity, Threshold, Watch};
use uptimer::store::SqliteStore;
use uptimer::store::alerts::{AlertStore, Delivery, NotificationRow, Outgoing};
use uptimer::store::sqlite::TargetInfo;
use uptimer::store::sqlite::follow::Upsert;

fn store(dir: &tempfile::TempDir) -> SqliteStore {
    SqliteStore::open(&StoreSettings::with_path(
        dir.path().join("uptimer.sqlite3"),
    ))
    .unwrap()
}

fn rule(threshold: Threshold) -> Rule {
    Rule {
        channel: "ops".into(),
        key: "ops".into(),
        enabled: true,
        threshold,
        success_threshold: 2,
        send_on_resolved: true,
        description: Some("the API".into()),
        for_at_least: None,
        remind_every: None,
        reminder_max: None,
        watch: Watch::Down,
        severity: None,
        escalate: Vec::new(),
    }
}

fn upsert(paused: bool, rules: &[Rule]) -> Upsert {
    Upsert {
        info: TargetInfo {
            id: "api".into(),
            name: "API".into(),
            url: "https://api.example.org/".into(),
            protocol: "https".into(),
            hostname: "api.example.org".into(),
            port: Some(443),
            path: "/".into(),
            tags: vec!["prod".into()],
            interval_s: Some(10.0),
        },
        paused,
        alerts: Arc::from(rules.to_vec()),
    }
}

fn event(t: OffsetDateTime, up: bool) -> Event {
    let mut e = ProbeEvent::new(t, "https", "api.example.org", Some(443));
    e.target = Some("api".into());
    e.name = Some("API".into());
    e.url = Some("https://api.example.org/".into());
    e.up = Some(up);
    e.status_code = Some(if up { 200 } else { 503 });
    if !up {
        e.error_kind = Some(ErrorKind::HttpStatus);
        e.error = Some("unexpected status 503".into());
    }
    e.into()
}

/// Events from `start`, 10 s apart: `u` up, `d` down.
fn events(start: OffsetDateTime, pattern: &str) -> Vec<Event> {
    pattern
        .bytes()
        .enumerate()
        .map(|(i, b)| event(start + Duration::from_secs(10 * i as u64), b == b'u'))
        .collect()
}

async fn rows(s: &SqliteStore) -> Vec<NotificationRow> {
    let mut r = s.notifications(None, 100).await.unwrap();
    r.reverse();
    r
}

fn kinds(rows: &[NotificationRow]) -> Vec<&str> {
    rows.iter().map(|r| r.kind.as_str()).collect()
}

/// What the worker would take for `channel` (the only one configured), up to `limit`.
async fn due_for(
    s: &SqliteStore,
    now: i64,
    channel: &str,
    limit: usize,
    busy: HashSet<i64>,
) -> Vec<Outgoing> {
    s.due_notifications(
        now,
        vec![(channel.into(), limit)],
        vec![channel.into()],
        busy,
        true,
    )
    .await
    .unwrap()
}

/// What the worker would take for channel `ops` (up to 10), nothing busy.
async fn due_now(s: &SqliteStore, now: i64) -> Vec<Outgoing> {
    due_for(s, now, "ops", 10, HashSet::new()).await
}

fn start() -> OffsetDateTime {
    OffsetDateTime::now_utc() - Duration::from_secs(3600)
}

#[tokio::test]
async fn a_trigger_once_then_its_resolve_with_the_same_key_and_a_replay_adds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    s.follow_changes(
        vec![upsert(false, &[rule(Threshold::Consecutive(2))])],
        vec![],
        None,
    )
    .await
    .unwrap();
    let batch = events(start(), "udddd");
    s.ingest(batch.clone()).await.unwrap();
    s.ingest(batch).await.unwrap();
    let r = rows(&s).await;
    assert_eq!(kinds(&r), ["trigger"]);
    s.ingest(events(start() + Duration::from_secs(100), "uu"))
        .await
        .unwrap();
    let r = rows(&s).await;
    assert_eq!(kinds(&r), ["trigger", "resolve"]);
    assert_eq!(r[0].key, r[1].key);
    assert_eq!(r[0].channel, "ops");
    assert!(r[0].incident_id.is_some());

    // Sent in order: the resolve waits while its trigger is pending.
    let now = uptimer::store::now_micros();
    let due = due_now(&s, now).await;
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].notice.kind, "trigger");
    assert_eq!(due[0].notice.target.tags, ["prod"]);
    assert_eq!(
        due[0].notice.error.as_deref(),
        Some("unexpected status 503")
    );
    s.notifications_done(
        vec![(
            due[0].id,
            Delivery::Sent {
                answer: "200 ok".into(),
            },
        )],
        now,
    )
    .await
    .unwrap();
    let due = due_now(&s, now).await;
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].notice.kind, "resolve");
    assert_eq!(due[0].notice.reason.as_deref(), Some("recovered"));
}

#[tokio::test]
async fn pausing_losing_the_rule_and_removal_each_resolve_a_fired_rule() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    let rules = [rule(Threshold::Consecutive(1))];
    s.follow_changes(vec![upsert(false, &rules)], vec![], None)
        .await
        .unwrap();
    let mut t = start();
    let mut fail = async |s: &SqliteStore| {
        t += Duration::from_secs(60);
        s.ingest(events(t, "d")).await.unwrap();
    };

    fail(&s).await;
    s.follow_changes(vec![upsert(true, &rules)], vec![], None)
        .await
        .unwrap();
    s.follow_changes(vec![upsert(false, &rules)], vec![], None)
        .await
        .unwrap();
    fail(&s).await;
    // The rule leaves the configuration.
    s.follow_changes(vec![upsert(false, &[])], vec![], None)
        .await
        .unwrap();
    fail(&s).await;
    s.follow_changes(vec![upsert(false, &rules)], vec![], None)
        .await
        .unwrap();
    fail(&s).await;
    s.follow_changes(vec![], vec!["api".into()], None)
        .await
        .unwrap();

    let r = rows(&s).await;
    assert_eq!(
        kinds(&r),
        [
            "trigger", "resolve", "trigger", "resolve", "trigger", "resolve"
        ]
    );
    for pair in r.chunks(2) {
        assert_eq!(pair[0].key, pair[1].key);
    }
    let keys: std::collections::HashSet<_> = r.iter().map(|n| &n.key).collect();
    assert_eq!(keys.len(), 3, "a new incident key each time");
    let now = uptimer::store::now_micros();
    let mut reasons = Vec::new();
    loop {
        let due = due_now(&s, now).await;
        if due.is_empty() {
            break;
        }
        for n in due {
            if n.notice.kind == "resolve" {
                reasons.push(n.notice.reason.clone().unwrap());
            }
            s.notifications_done(
                vec![(
                    n.id,
                    Delivery::Sent {
                        answer: String::new(),
                    },
                )],
                now,
            )
            .await
            .unwrap();
        }
    }
    assert_eq!(
        reasons,
        ["target paused", "target removed", "target removed"]
    );
}

#[tokio::test]
async fn a_window_catches_a_flapping_target_and_reminders_stop_at_their_maximum() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    let mut r = rule(Threshold::Window { failures: 2, of: 3 });
    r.remind_every = Some(Duration::from_secs(30));
    r.reminder_max = Some(2);
    s.follow_changes(vec![upsert(false, &[r])], vec![], None)
        .await
        .unwrap();
    // Up, then down two of every three checks: never two failures in a row... except here
    // the window sees two of three at the third result.
    s.ingest(events(start(), "udud")).await.unwrap();
    assert_eq!(kinds(&rows(&s).await), ["trigger"]);
    // Flapping on for 2 minutes: reminders every 30 s of failures, two at most.
    s.ingest(events(start() + Duration::from_secs(40), "dudududududu"))
        .await
        .unwrap();
    let r = rows(&s).await;
    assert_eq!(kinds(&r), ["trigger", "reminder", "reminder"]);
    assert_eq!((r[1].seq, r[2].seq), (1, 2));
}

#[tokio::test]
async fn the_rule_state_survives_reopening_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let rules = [rule(Threshold::Consecutive(3))];
    {
        let s = store(&dir);
        s.follow_changes(vec![upsert(false, &rules)], vec![], None)
            .await
            .unwrap();
        s.ingest(events(start(), "dd")).await.unwrap();
        assert!(rows(&s).await.is_empty(), "two of three");
    }
    let s = store(&dir);
    s.follow_changes(vec![upsert(false, &rules)], vec![], None)
        .await
        .unwrap();
    s.ingest(events(start() + Duration::from_secs(20), "d"))
        .await
        .unwrap();
    assert_eq!(
        kinds(&rows(&s).await),
        ["trigger"],
        "the third failure counts"
    );
}

#[tokio::test]
async fn the_outbox_leaves_out_busy_notifications_and_puts_off_unconfigured_channels() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    let rules = [rule(Threshold::Consecutive(1))];
    s.follow_changes(vec![upsert(false, &rules)], vec![], None)
        .await
        .unwrap();
    s.ingest(events(start(), "d")).await.unwrap();
    let now = uptimer::store::now_micros();
    let taken = due_now(&s, now).await;
    assert_eq!(kinds(&rows(&s).await), ["trigger"]);
    assert_eq!(taken.len(), 1);
    // Taken and not yet recorded: not taken again.
    let busy = HashSet::from([taken[0].id]);
    let again = due_for(&s, now, "ops", 10, busy).await;
    assert!(again.is_empty());
    // A limit of 0 takes nothing.
    let none = due_for(&s, now, "ops", 0, HashSet::new()).await;
    assert!(none.is_empty());
    // Its channel left the configuration: put off ten minutes, and the notification says why.
    // (Not the newest few seconds': a reload adding the channel may have written them.)
    assert!(
        due_for(&s, now, "pager", 10, HashSet::new())
            .await
            .is_empty()
    );
    assert_eq!(rows(&s).await[0].last_error, None);
    let now = now + 6_000_000;
    let other = due_for(&s, now, "pager", 10, HashSet::new()).await;
    assert!(other.is_empty());
    let r = rows(&s).await;
    assert_eq!(r[0].state, "pending");
    assert_eq!(
        r[0].last_error.as_deref(),
        Some("channel ops is not configured")
    );
    assert!(due_now(&s, now).await.is_empty());
    let later = now + 11 * 60 * 1_000_000;
    assert_eq!(due_now(&s, later).await.len(), 1);
    // Outcomes recorded together.
    s.notifications_done(
        vec![(
            taken[0].id,
            Delivery::Sent {
                answer: "202".into(),
            },
        )],
        later,
    )
    .await
    .unwrap();
    assert_eq!(rows(&s).await[0].state, "sent");
    assert!(due_now(&s, later).await.is_empty());
}

/// A passing result of `api` at `t`, degraded or not, with a certificate valid `days` more.
fn passing(t: OffsetDateTime, degraded: bool, days: i64) -> Event {
    let Event::Probe(mut e) = event(t, true) else {
        unreachable!()
    };
    e.degraded = Some(degraded);
    e.tls_cert_not_after = Some(t + time::Duration::days(days));
    Event::Probe(e)
}

#[tokio::test]
async fn degraded_and_certificate_rules_fire_warnings_that_say_what_they_saw() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    let degraded = Rule {
        watch: Watch::Degraded,
        ..rule(Threshold::Consecutive(1))
    };
    let cert = Rule {
        key: "ops#2".into(),
        watch: Watch::CertificateExpiresWithin(Duration::from_secs(14 * 86400)),
        ..rule(Threshold::Consecutive(1))
    };
    let critical = Rule {
        key: "ops#3".into(),
        ..rule(Threshold::Consecutive(1))
    };
    s.follow_changes(
        vec![upsert(false, &[degraded, cert, critical])],
        vec![],
        None,
    )
    .await
    .unwrap();
    let t = start();
    s.ingest(vec![passing(t, true, 10)]).await.unwrap();
    let now = uptimer::store::now_micros();
    let due = due_now(&s, now).await;
    let got: Vec<_> = due
        .iter()
        .map(|n| {
            (
                n.notice.rule.as_str(),
                n.notice.kind.as_str(),
                n.notice.condition,
                n.notice.severity,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("ops", "trigger", Condition::Degraded, Severity::Warning),
            (
                "ops#2",
                "trigger",
                Condition::Certificate,
                Severity::Warning
            ),
        ],
        "a passing result fires no down rule"
    );
    let cert_error = due[1].notice.error.as_deref().unwrap();
    assert!(
        cert_error.contains("expires at") && cert_error.contains("(in 10 days)"),
        "{cert_error}"
    );
    assert_eq!(due[0].notice.error.as_deref(), Some("degraded"));
    // A failure: the degraded rule is still firing (no second trigger); the certificate rule
    // does not count a result without a certificate; the down rule fires, critical.
    s.ingest(events(t + Duration::from_secs(10), "d"))
        .await
        .unwrap();
    let r = rows(&s).await;
    assert_eq!(kinds(&r), ["trigger", "trigger", "trigger"]);
    let down = due_now(&s, uptimer::store::now_micros()).await;
    let down: Vec<_> = down.iter().filter(|n| n.notice.rule == "ops#3").collect();
    assert_eq!(down.len(), 1);
    assert_eq!(down[0].notice.condition, Condition::Down);
    assert_eq!(down[0].notice.severity, Severity::Critical);
    // Healthy twice with a renewed certificate: all three resolve.
    s.ingest(vec![
        passing(t + Duration::from_secs(20), false, 90),
        passing(t + Duration::from_secs(30), false, 90),
    ])
    .await
    .unwrap();
    let r = rows(&s).await;
    assert_eq!(
        kinds(&r),
        [
            "trigger", "trigger", "trigger", "resolve", "resolve", "resolve"
        ]
    );
}
