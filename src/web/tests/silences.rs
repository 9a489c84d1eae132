//! Silences and maintenance windows over a store that alerts, with a configured window: the
//! JSON API, the `/silences` page and its forms, the marks by the targets they hold back, and
//! a silenced notification as the incidents page and API show it.

use std::time::Duration;

use serde_json::{Value, json};

use super::forms::{form, token_for};
use super::*;
use crate::config::alerting::{AlertingNow, LiveAlerting};
use crate::state::maintenance::{Mode, Schedule, Window};
use crate::store::alerts::AlertStore;
use crate::store::{SECOND, now_micros};

const HOST: &str = "127.0.0.1:8080";

/// The fixture's store and targets (`good`, `evil`, `long`), with alerting: a configured
/// window over `long` that is always under way.
async fn alerting() -> (Fixture, Arc<dyn AlertStore>) {
    let (dir, store) = fixture_store().await;
    let alerts: Arc<dyn AlertStore> = Arc::new(store.clone());
    let window = Window {
        name: "nightly <backup>".into(),
        schedule: Schedule::Weekly {
            days: Vec::new(),
            start: "00:00".parse().unwrap(),
        },
        duration: Duration::from_secs(86_400),
        timezone: jiff::tz::TimeZone::get("Europe/Berlin").unwrap(),
        targets: vec!["long".into()],
        tags: Vec::new(),
        mode: Mode::Suppress,
    };
    let live = LiveAlerting::new(AlertingNow {
        maintenance: vec![window].into(),
        ..AlertingNow::default()
    });
    let mut state = AppState::new(Arc::new(store), &WebSettings::default());
    state.acks = Some(crate::web::acks::Acks {
        store: alerts.clone(),
        links: None,
        live,
    });
    (Fixture { _dir: dir, state }, alerts)
}

async fn call(state: &AppState, method: &str, uri: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = Request::builder().method(method).uri(uri);
    let body = match body {
        Some(b) => {
            req = req.header(header::CONTENT_TYPE, "application/json");
            Body::from(b.to_string())
        }
        None => Body::empty(),
    };
    let (status, _, text) = get_with(state, req.body(body).unwrap()).await;
    (
        status.as_u16(),
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

fn page(uri: &str, host: &str) -> Request<Body> {
    Request::get(uri)
        .header(header::HOST, host)
        .body(Body::empty())
        .unwrap()
}

#[tokio::test]
async fn silences_are_made_listed_and_expired_through_the_api() {
    let (f, _) = alerting().await;
    let s = &f.state;
    let (status, made) = call(
        s,
        "POST",
        "/api/v1/silences",
        Some(
            json!({"matchers": ["tag=db", "channel=ops"], "for": "2h", "reason": "upgrade",
                    "by": "ana"}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    assert_eq!(made["matchers"], json!(["tag=db", "channel=ops"]));
    assert_eq!(made["active"], true);
    let id = made["id"].as_i64().unwrap();
    let (status, list) = call(s, "GET", "/api/v1/silences", None).await;
    assert_eq!(status, 200);
    assert_eq!(list["silences"][0]["id"], id, "{list}");
    // A silence is not ended as a maintenance window.
    let uri = format!("/api/v1/maintenance/{id}");
    assert_eq!(call(s, "DELETE", &uri, None).await.0, 404);
    let (status, ended) = call(s, "DELETE", &format!("/api/v1/silences/{id}"), None).await;
    assert_eq!((status, &ended["active"]), (200, &json!(false)), "{ended}");
    let (_, list) = call(s, "GET", "/api/v1/silences", None).await;
    assert_eq!(list["silences"], json!([]));
    let (_, list) = call(s, "GET", "/api/v1/silences?all=true", None).await;
    assert_eq!(list["silences"][0]["id"], id);

    let (status, e) = call(
        s,
        "POST",
        "/api/v1/maintenance",
        Some(json!({"matchers": ["channel=ops"], "for": "1h", "reason": "r"})),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        e["error"].as_str().unwrap().contains("covers targets"),
        "{e}"
    );
    let (status, made) = call(
        s,
        "POST",
        "/api/v1/maintenance",
        Some(json!({"for": "1h", "reason": "failover test"})),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    let (status, list) = call(s, "GET", "/api/v1/maintenance", None).await;
    assert_eq!(status, 200);
    assert_eq!(list["maintenance"][0]["id"], made["id"]);
    let w = &list["configured"][0];
    assert_eq!(
        (&w["name"], &w["timezone"], &w["active"]),
        (
            &json!("nightly <backup>"),
            &json!("Europe/Berlin"),
            &json!(true)
        ),
        "{list}"
    );
}

#[tokio::test]
async fn the_silences_api_refuses_where_no_alerting_is_kept() {
    let f = fixture().await;
    assert_eq!(call(&f.state, "GET", "/api/v1/silences", None).await.0, 405);
    let body = json!({"matchers": ["tag=db"], "for": "1h", "reason": "r"});
    assert_eq!(
        call(&f.state, "POST", "/api/v1/silences", Some(body))
            .await
            .0,
        405
    );
}

#[tokio::test]
async fn the_silences_page_lists_them_and_its_forms_add_and_expire() {
    let (f, alerts) = alerting().await;
    let s = &f.state;
    let (status, _, body) = get_with(s, page("/silences", HOST)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains(r#"href="/silences" aria-current="page">Silences</a>"#),
        "{body}"
    );
    // The configured window, escaped, with its schedule and zone, under way.
    assert!(body.contains("nightly &#60;backup&#62;"), "{body}");
    assert!(body.contains("every day at 00:00"), "{body}");
    assert!(body.contains("Europe/Berlin"), "{body}");
    assert!(body.contains("under way until"), "{body}");
    assert!(
        body.contains(r#"data-refresh="0""#),
        "a form page keeps what is typed"
    );

    // Without the token nothing is made.
    let fields = [
        ("matchers", "tag=db, channel=ops"),
        ("for", "2h"),
        ("reason", HOSTILE),
    ];
    let (status, _, _) = get_with(s, form("/silences", &fields)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        alerts
            .silences(now_micros(), true)
            .await
            .unwrap()
            .is_empty()
    );
    // Nor from a browser that reached the dashboard by another name, without credentials.
    let csrf = token_for(&body, "/silences");
    let mut with_token = fields.to_vec();
    with_token.push(("csrf", &csrf));
    let mut remote = form("/silences", &with_token);
    remote
        .headers_mut()
        .insert(header::HOST, "uptimer.example".parse().unwrap());
    assert_eq!(get_with(s, remote).await.0, StatusCode::FORBIDDEN);
    assert!(
        alerts
            .silences(now_micros(), true)
            .await
            .unwrap()
            .is_empty()
    );

    // A mistake comes back with what was typed and what is wrong.
    let bad = [
        ("csrf", csrf.as_str()),
        ("matchers", "db"),
        ("for", "2h"),
        ("reason", "kept <reason>"),
    ];
    let (status, _, page_back) = get_with(s, form("/silences", &bad)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page_back.contains("FIELD=VALUE"), "{page_back}");
    assert!(
        page_back.contains(r#"value="kept &#60;reason&#62;""#),
        "{page_back}"
    );
    assert!(
        alerts
            .silences(now_micros(), true)
            .await
            .unwrap()
            .is_empty()
    );

    let (status, headers, _) = get_with(s, form("/silences", &with_token)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/silences");
    let made = alerts.silences(now_micros(), false).await.unwrap();
    assert_eq!(made.len(), 1);
    assert_eq!(made[0].reason, HOSTILE);
    assert_eq!(made[0].ends_at - made[0].starts_at, 2 * 3600 * SECOND);

    let (_, _, body) = get_with(s, page("/silences", HOST)).await;
    assert_no_raw_markup(&body);
    assert!(body.contains("tag=db channel=ops"), "{body}");
    let expire = format!("/silences/{}/expire", made[0].id);
    let token = token_for(&body, &expire);
    // A token is for its own form only.
    let (status, _, _) = get_with(s, form(&expire, &[("csrf", &csrf)])).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = get_with(s, form(&expire, &[("csrf", &token)])).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(
        alerts
            .silences(now_micros(), false)
            .await
            .unwrap()
            .is_empty()
    );
    let (_, _, body) = get_with(s, page("/silences", HOST)).await;
    let over = body.find("Recently over").unwrap();
    assert!(body[over..].contains("tag=db channel=ops"), "{body}");
    assert!(!body.contains(&expire), "no button for what is over");
}

#[tokio::test]
async fn a_browser_that_may_not_post_sees_the_lists_without_forms() {
    let (f, _) = alerting().await;
    let (status, _, body) = get_with(&f.state, page("/silences", "uptimer.example")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("nightly &#60;backup&#62;"), "{body}");
    assert!(!body.contains(r#"action="/silences""#), "{body}");
    assert!(body.contains("needs its credentials"), "{body}");
}

#[tokio::test]
async fn a_dashboard_without_alerting_says_so_and_offers_no_form() {
    let f = fixture().await;
    let (status, _, body) = get_with(&f.state, page("/silences", HOST)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("keeps no alerting"), "{body}");
    assert!(!body.contains("<form"), "{body}");
    let (status, _, _) = get_with(&f.state, form("/silences", &[("csrf", "x")])).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn targets_held_back_are_marked_on_the_overview_and_their_page() {
    let (f, alerts) = alerting().await;
    let s = &f.state;
    let now = now_micros();
    alerts
        .add_silence(crate::store::alerts::Silence {
            id: 0,
            kind: crate::store::alerts::gate::Kind::Silence,
            matchers: vec![
                crate::store::alerts::gate::Matcher::parse("target=good").unwrap(),
                crate::store::alerts::gate::Matcher::parse("channel=ops").unwrap(),
            ],
            starts_at: now - SECOND,
            ends_at: now + 3600 * SECOND,
            created_by: None,
            reason: "deploy".into(),
            created_at: now,
        })
        .await
        .unwrap();
    let (_, _, body) = get(s, "/").await;
    assert_eq!(
        body.matches(r#"class="held silenced""#).count(),
        1,
        "{body}"
    );
    assert_eq!(
        body.matches(r#"class="held maintenance""#).count(),
        1,
        "{body}"
    );
    assert!(body.contains("maintenance until "), "{body}");
    let (_, _, good) = get(s, "/targets/good").await;
    assert!(good.contains(r#"class="held silenced""#), "{good}");
    assert!(good.contains("silenced by silence 1"), "{good}");
    let (_, _, long) = get(s, "/targets/long").await;
    assert!(long.contains("maintenance window nightly"), "{long}");
    let (_, _, evil) = get(s, "/targets/evil").await;
    assert!(!evil.contains(r#"class="held"#), "{evil}");
}

#[tokio::test]
async fn a_silenced_notification_is_shown_as_silenced_on_the_incidents_page_and_in_the_api() {
    use crate::state::rules::{Rule, Threshold, Watch};
    use crate::store::sqlite::TargetInfo;
    use crate::store::sqlite::follow::Upsert;
    let (dir, store) = fixture_store().await;
    let alerts: Arc<dyn AlertStore> = Arc::new(store.clone());
    let now = now_micros();
    alerts
        .add_silence(crate::store::alerts::Silence {
            id: 0,
            kind: crate::store::alerts::gate::Kind::Silence,
            matchers: vec![crate::store::alerts::gate::Matcher::parse("tag=db").unwrap()],
            starts_at: now - 3600 * SECOND,
            ends_at: now + 3600 * SECOND,
            created_by: Some("ana".into()),
            reason: "migration".into(),
            created_at: now,
        })
        .await
        .unwrap();
    let rule = Rule {
        channel: "ops".into(),
        key: "ops".into(),
        enabled: true,
        threshold: Threshold::Consecutive(1),
        success_threshold: 1,
        send_on_resolved: true,
        description: None,
        for_at_least: None,
        remind_every: None,
        reminder_max: None,
        watch: Watch::Down,
        severity: None,
        escalate: Vec::new(),
    };
    let info = TargetInfo {
        id: "db".into(),
        name: "Primary DB".into(),
        url: "https://db.example.org/".into(),
        protocol: "https".into(),
        hostname: "db.example.org".into(),
        port: Some(443),
        path: "/".into(),
        tags: vec!["db".into()],
        interval_s: Some(60.0),
    };
    store
        .follow_changes(
            vec![Upsert {
                info,
                paused: false,
                alerts: Arc::from(vec![rule]),
            }],
            vec![],
            None,
        )
        .await
        .unwrap();
    store
        .ingest(vec![probe("db", "Primary DB", false, 120)])
        .await
        .unwrap();
    let mut state = AppState::new(Arc::new(store), &WebSettings::default());
    state.acks = Some(crate::web::acks::Acks {
        store: alerts,
        links: None,
        live: LiveAlerting::new(AlertingNow::default()),
    });
    let f = Fixture { _dir: dir, state };
    let (status, doc) = call(&f.state, "GET", "/api/v1/incidents?target=db", None).await;
    assert_eq!(status, 200, "{doc}");
    let n = &doc["incidents"][0]["notifications"][0];
    assert_eq!(n["state"], "suppressed", "{doc}");
    assert_eq!(
        n["last_error"], "silenced by silence 1 (ana: migration)",
        "{doc}"
    );
    let (_, _, body) = get(&f.state, "/incidents").await;
    assert!(
        body.contains("ops: trigger, suppressed: silenced by silence 1 (ana: migration)"),
        "{body}"
    );
}
