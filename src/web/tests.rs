//! Handler tests: the router over a real SQLite store in a temporary directory, no socket.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use time::OffsetDateTime;
use tower::ServiceExt;

use super::*;
use crate::config::Secret;
use crate::event::{ErrorKind, Event, Phases, ProbeEvent};
use crate::store::SqliteStore;

const HOSTILE: &str = "<script>alert(\"x\")</script>' onmouseover='alert(1)";

fn probe(target: &str, name: &str, up: bool, ago_s: u64) -> Event {
    let t = OffsetDateTime::now_utc() - Duration::from_secs(ago_s);
    let mut e = ProbeEvent::new(t, "https", "example.org", 443);
    e.target = Some(target.into());
    e.name = Some(name.into());
    e.url = Some(format!("https://example.org/?q={name}"));
    e.up = Some(up);
    e.response_time_ms = 42;
    e.status_code = if up { 200 } else { 500 };
    if !up {
        e.error_kind = Some(ErrorKind::HttpStatus);
        e.error = Some(format!("body said {HOSTILE}"));
    }
    e.phases_ms = Some(Phases {
        dns: Some(1.0),
        connect: Some(2.0),
        tls: Some(3.0),
        ttfb: Some(30.0),
        transfer: Some(6.0),
    });
    e.into()
}

struct Fixture {
    _dir: tempfile::TempDir,
    state: AppState,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&crate::config::StoreSettings::with_path(
        dir.path().join("t.sqlite3"),
    ))
    .unwrap();
    let long = "x".repeat(5000);
    store
        .ingest(vec![
            probe("good", "Good site", true, 30),
            probe("evil", HOSTILE, true, 20),
            probe("evil", HOSTILE, false, 10),
            probe("long", &long, false, 5),
        ])
        .await
        .unwrap();
    let state = AppState::new(Arc::new(store), &WebSettings::default());
    Fixture { _dir: dir, state }
}

async fn get(state: &AppState, uri: &str) -> (StatusCode, HeaderMap, String) {
    get_with(state, Request::get(uri).body(Body::empty()).unwrap()).await
}

async fn get_with(state: &AppState, req: Request<Body>) -> (StatusCode, HeaderMap, String) {
    let res = app(state.clone()).oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let body = axum::body::to_bytes(res.into_body(), 16 << 20)
        .await
        .unwrap();
    (status, headers, String::from_utf8(body.to_vec()).unwrap())
}

fn assert_no_raw_markup(body: &str) {
    assert!(!body.contains("<script>alert"), "unescaped script tag");
    assert!(
        !body.contains("' onmouseover='"),
        "unescaped quote breaks out of an attribute"
    );
}

#[tokio::test]
async fn overview_lists_every_target_with_hostile_names_escaped() {
    let f = fixture().await;
    let (status, headers, body) = get(&f.state, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(
        headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("script-src 'self'")
    );
    assert!(body.contains("Good site"));
    assert!(body.contains("&#60;script&#62;alert("), "{body}");
    assert_no_raw_markup(&body);
    assert!(body.contains(r#"<span class="pill down">down</span>"#));
    assert!(body.contains(r#"<span class="num">3</span><span class="lbl">Targets</span>"#));
}

#[tokio::test]
async fn overview_filters_by_status_and_search_and_rejects_bad_values() {
    let f = fixture().await;
    let (_, _, body) = get(&f.state, "/?status=up").await;
    assert!(body.contains("Good site"));
    assert!(!body.contains("xxxxxxxx"));
    let (_, _, body) = get(&f.state, "/?q=good").await;
    assert!(body.contains("1–1 of 1"), "{body}");
    let (status, _, body) = get(&f.state, "/?status=sideways").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body.contains("status: expected up, down, degraded or unknown"),
        "{body}"
    );
    let (_, _, body) = get(&f.state, &format!("/?q={}", "%3Cscript%3E")).await;
    assert_no_raw_markup(&body);
}

#[tokio::test]
async fn target_page_shows_chart_incident_and_events_escaped() {
    let f = fixture().await;
    let (status, _, body) = get(&f.state, "/targets/evil?window=1h").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains(r#"<svg class="chart""#));
    assert!(body.contains("ph-ttfb"));
    assert!(body.contains("ongoing"));
    assert!(body.contains("http_status"));
    assert!(body.contains("body said &#60;script&#62;"), "{body}");
    assert_no_raw_markup(&body);
    for window in ["6h", "24h", "7d", "30d"] {
        let (status, _, _) = get(&f.state, &format!("/targets/evil?window={window}")).await;
        assert_eq!(status, StatusCode::OK, "{window}");
    }
    let (status, _, _) = get(&f.state, "/targets/evil?window=2y").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, _) = get(&f.state, "/targets/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, body) = get(&f.state, "/targets/long").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains(&"x".repeat(5000)));
}

#[tokio::test]
async fn a_failed_check_shows_a_dash_for_its_time_and_its_error() {
    let f = fixture().await;
    let (_, _, body) = get(&f.state, "/targets/evil").await;
    // Newest first: the failed check (HTTP 500, 42 ms until it failed), then the passing one.
    let failed = body.find(
        r#"<span class="pill down">down</span></td><td class="num">500</td><td class="num">–</td>"#,
    );
    let passed = body.find(
        r#"<span class="pill up">up</span></td><td class="num">200</td><td class="num">42 ms</td>"#,
    );
    assert!(failed.is_some() && passed.is_some(), "{body}");
    assert!(body.contains("http_status: body said"));
    // Its chart: "long" has only a failed check, drawn in the failed colour, not as phases.
    let (_, _, body) = get(&f.state, "/targets/long?window=1h").await;
    assert!(body.contains(r#"<rect class="failed""#), "{body}");
    assert!(!body.contains(r#"<rect class="ph-"#), "{body}");
    assert!(
        body.contains("Last response</span><span class=\"val \">–</span>"),
        "{body}"
    );
}

#[tokio::test]
async fn incidents_page_lists_incidents_across_targets() {
    let f = fixture().await;
    let (status, _, body) = get(&f.state, "/incidents").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("/targets/evil"));
    assert!(body.contains("/targets/long"));
    assert!(body.contains("1–2 of 2"));
    assert_no_raw_markup(&body);
}

#[tokio::test]
async fn api_returns_targets_events_uptime_series_and_incidents() {
    let f = fixture().await;
    let (status, headers, body) = get(&f.state, "/api/v1/targets?sort=name").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["matching"], 3);
    assert_eq!(v["counts"]["down"], 2);
    // '<' sorts before 'G'.
    assert_eq!(v["targets"][0]["name"], HOSTILE);
    assert_eq!(v["targets"][1]["name"], "Good site");
    assert_eq!(v["targets"][1]["uptime"]["24h"], 1.0);

    let (_, _, body) = get(&f.state, "/api/v1/targets/evil/events?limit=1").await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["events"].as_array().unwrap().len(), 1);
    assert_eq!(v["events"][0]["up"], false);
    let next = v["next"].as_str().unwrap().to_owned();
    let (_, _, body) = get(
        &f.state,
        &format!(
            "/api/v1/targets/evil/events?limit=1&to={}",
            next.replace('+', "%2B")
        ),
    )
    .await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["events"][0]["up"], true, "{v}");
    let (status, _, body) = get(&f.state, "/api/v1/targets/evil/events?from=yesterday").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("from: expected an RFC 3339 time"));

    let (_, _, body) = get(&f.state, "/api/v1/targets/evil/uptime?window=24h").await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (v["checks"].as_u64(), v["up"].as_u64(), v["ratio"].as_f64()),
        (Some(2), Some(1), Some(0.5))
    );

    let (_, _, body) = get(&f.state, "/api/v1/targets/good/series?window=1h").await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["points"][0]["checks"], 1);
    assert_eq!(v["points"][0]["phases_ms"][3], 30.0);

    let (_, _, body) = get(&f.state, "/api/v1/incidents?open=true").await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["total"], 2);
    assert!(v["incidents"][0]["duration_seconds"].as_i64().unwrap() >= 0);
    let (status, _, _) = get(&f.state, "/api/v1/targets/nope/events").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn badges_are_svg_with_escaped_labels() {
    let f = fixture().await;
    let (status, headers, body) = get(&f.state, "/badges/good/status.svg").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "image/svg+xml");
    assert!(body.contains(">up</text>"));
    let (_, _, body) = get(&f.state, "/badges/evil/uptime.svg?window=7d").await;
    assert!(body.contains("50.0%"), "{body}");
    let (_, _, body) = get(&f.state, "/badges/good/response.svg?label=%3Cb%3E").await;
    assert!(
        body.contains("&lt;b&gt;") && body.contains("42 ms"),
        "{body}"
    );
}

#[tokio::test]
async fn badges_for_an_unknown_id_are_grey_unknown_svgs_not_json_404s() {
    let f = fixture().await;
    for kind in ["status", "uptime", "response"] {
        let (status, headers, body) = get(&f.state, &format!("/badges/nope/{kind}.svg")).await;
        assert_eq!(status, StatusCode::OK, "{kind}");
        assert_eq!(headers[header::CONTENT_TYPE], "image/svg+xml", "{kind}");
        assert!(
            body.starts_with("<svg") && body.contains(">unknown</text>"),
            "{kind}: {body}"
        );
        assert!(body.contains("#6b7280"), "grey: {body}");
    }
    // A bad window is still the caller's mistake, said as such.
    let (status, _, _) = get(&f.state, "/badges/nope/uptime.svg?window=2y").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn metrics_expose_blackbox_names_with_escaped_labels() {
    let mut f = fixture().await;
    // A process that probes and writes: its own metrics come first.
    let metrics = crate::metrics::Metrics::default();
    let _ = metrics.writer("writers.sqlite");
    f.state.metrics = Arc::new(metrics);
    let (status, headers, body) = get(&f.state, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    assert!(body.contains("# TYPE probe_success gauge"));
    assert!(body.contains(r#"probe_success{target="good",name="Good site","#));
    assert!(
        body.contains(r#"probe_success{target="evil",name="<script>alert(\"x\")</script>"#),
        "{body}"
    );
    assert!(body.contains("probe_duration_seconds{target=\"good\""));
    assert!(body.contains("uptimer_probe_duration_seconds_bucket{phase=\"ttfb\",le=\"+Inf\"}"));
    assert!(body.contains("uptimer_writer_queue_depth"));
    // Every sample line is `name{labels} value` or `name value`.
    for line in body.lines().filter(|l| !l.starts_with('#')) {
        let value = line.rsplit(' ').next().unwrap();
        assert!(value.parse::<f64>().is_ok() || value == "+Inf", "{line}");
    }
}

#[tokio::test]
async fn healthz_answers_and_assets_are_embedded() {
    let f = fixture().await;
    assert_eq!(get(&f.state, "/healthz").await.0, StatusCode::OK);
    let (status, headers, body) = get(&f.state, "/assets/style.css").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    assert!(body.contains("prefers-color-scheme: dark"));
    assert_eq!(get(&f.state, "/assets/app.js").await.0, StatusCode::OK);
    assert_eq!(get(&f.state, "/nope").await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn readyz_needs_the_store_and_every_writer_healthz_only_a_running_pipeline() {
    let mut f = fixture().await;
    let metrics = Arc::new(crate::metrics::Metrics::default());
    f.state.metrics = metrics.clone();
    assert_eq!(get(&f.state, "/readyz").await.0, StatusCode::OK);
    let sqlite = metrics.writer("writers.sqlite");
    let (status, _, body) = get(&f.state, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body, "not ready: writers.sqlite\n");
    assert_eq!(
        get(&f.state, "/healthz").await.0,
        StatusCode::OK,
        "alive all the same"
    );
    sqlite.up.set(true);
    assert_eq!(get(&f.state, "/readyz").await.0, StatusCode::OK);
    metrics.readiness.stop();
    assert_eq!(
        get(&f.state, "/healthz").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
}

#[tokio::test]
async fn auth_protects_pages_and_api_but_not_health_and_metrics() {
    let mut f = fixture().await;
    f.state.auth = Some(WebAuth::Token(Secret::new("s3cret")));
    for uri in [
        "/",
        "/api/v1/targets",
        "/badges/good/status.svg",
        "/api/v1/openapi.json",
    ] {
        let (status, headers, _) = get(&f.state, uri).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri}");
        assert!(
            headers[header::WWW_AUTHENTICATE]
                .to_str()
                .unwrap()
                .starts_with("Basic")
        );
    }
    assert_eq!(get(&f.state, "/healthz").await.0, StatusCode::OK);
    assert_eq!(get(&f.state, "/readyz").await.0, StatusCode::OK);
    assert_eq!(get(&f.state, "/metrics").await.0, StatusCode::OK);
    let bearer = |v: &str| {
        Request::get("/")
            .header(header::AUTHORIZATION, v)
            .body(Body::empty())
            .unwrap()
    };
    assert_eq!(
        get_with(&f.state, bearer("Bearer s3cret")).await.0,
        StatusCode::OK
    );
    assert_eq!(
        get_with(&f.state, bearer("Bearer wrong")).await.0,
        StatusCode::UNAUTHORIZED
    );
    // Browsers: basic auth with any user and the token as password.
    assert_eq!(
        get_with(&f.state, bearer("Basic YW55OnMzY3JldA==")).await.0,
        StatusCode::OK
    );

    f.state.auth = Some(WebAuth::Basic {
        user: "ann".into(),
        password: Secret::new("pw"),
    });
    f.state.open_metrics = false;
    assert_eq!(get(&f.state, "/metrics").await.0, StatusCode::UNAUTHORIZED);
    // ann:pw
    assert_eq!(
        get_with(&f.state, bearer("Basic YW5uOnB3")).await.0,
        StatusCode::OK
    );
    // bob:pw
    assert_eq!(
        get_with(&f.state, bearer("Basic Ym9iOnB3")).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn overview_marks_certificates_that_expired_or_expire_within_14_days() {
    let f = fixture().await;
    let store = SqliteStore::open(&crate::config::StoreSettings::with_path(
        f._dir.path().join("certs.sqlite3"),
    ))
    .unwrap();
    let now = OffsetDateTime::now_utc();
    let with_cert = |target: &str, up: bool, not_after: OffsetDateTime| {
        let mut e = probe(target, target, up, 1);
        if let Event::Probe(p) = &mut e {
            p.tls_cert_not_after = Some(not_after);
        }
        e
    };
    store
        .ingest(vec![
            with_cert("soon", true, now + Duration::from_secs(3 * 86_400 + 600)),
            // An expired certificate fails verification, or passes under tls_verify: false.
            with_cert("expired", false, now - Duration::from_secs(86_400 + 600)),
            with_cert("fine", true, now + Duration::from_secs(60 * 86_400)),
        ])
        .await
        .unwrap();
    let state = AppState::new(Arc::new(store), &WebSettings::default());
    let (_, _, body) = get(&state, "/").await;
    assert!(
        body.contains(r#"<span class="cert warn">certificate expires in 3 d 0 h</span>"#),
        "{body}"
    );
    assert!(body.contains(r#"<span class="cert bad">certificate expired 1 d 0 h ago</span>"#));
    assert_eq!(body.matches(r#"<span class="cert "#).count(), 2, "{body}");
}

#[tokio::test]
async fn removed_targets_are_linked_from_the_overview_and_their_incidents_say_why_they_ended() {
    let f = fixture().await;
    let store = SqliteStore::open(&crate::config::StoreSettings::with_path(
        f._dir.path().join("removed.sqlite3"),
    ))
    .unwrap();
    store
        .ingest(vec![
            probe("kept", "Kept", true, 20),
            probe("gone", "Gone", false, 10),
        ])
        .await
        .unwrap();
    assert_eq!(
        store
            .remove_unconfigured(vec!["kept".into()])
            .await
            .unwrap(),
        1
    );
    let state = AppState::new(Arc::new(store), &WebSettings::default());
    let (_, _, body) = get(&state, "/").await;
    assert!(
        body.contains(r#"<a href="/?removed=1">1 removed target</a>"#),
        "{body}"
    );
    assert!(
        !body.contains(">Gone</a>"),
        "hidden from the overview: {body}"
    );
    // The link keeps the search.
    let (_, _, body) = get(&state, "/?q=go").await;
    assert!(
        body.contains(r#"<a href="/?q=go&#38;removed=1">1 removed target</a>"#),
        "{body}"
    );
    let (_, _, body) = get(&state, "/?removed=1").await;
    assert!(
        body.contains(">Gone</a>") && !body.contains(">Kept</a>"),
        "{body}"
    );
    assert!(body.contains("Back to the configured targets"));
    let (_, _, body) = get(&state, "/incidents").await;
    assert!(body.contains(" UTC (target removed)</td>"), "{body}");
    assert!(!body.contains("ongoing"), "{body}");
}

#[tokio::test]
async fn count_cards_count_and_keep_the_tag_filter() {
    let f = fixture().await;
    let store = SqliteStore::open(&crate::config::StoreSettings::with_path(
        f._dir.path().join("tags.sqlite3"),
    ))
    .unwrap();
    let info = |id: &str, tags: &[&str]| crate::store::sqlite::TargetInfo {
        id: id.into(),
        name: id.into(),
        url: format!("https://example.org/{id}"),
        protocol: "https".into(),
        hostname: "example.org".into(),
        port: 443,
        path: format!("/{id}"),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        interval_s: Some(60.0),
    };
    store
        .sync_targets(vec![
            info("p1", &["prod"]),
            info("p2", &["prod"]),
            info("s1", &["staging"]),
        ])
        .await
        .unwrap();
    store
        .ingest(vec![
            probe("p1", "p1", true, 3),
            probe("p2", "p2", false, 2),
            probe("s1", "s1", false, 1),
        ])
        .await
        .unwrap();
    let state = AppState::new(Arc::new(store), &WebSettings::default());
    let (_, _, body) = get(&state, "/?tag=prod").await;
    let card = |class: &str, href: &str, n: u64| {
        format!(r#"<a class="card {class}" href="{href}"><span class="num">{n}</span>"#)
    };
    for want in [
        card("all active", "/?tag=prod", 2),
        card("up", "/?status=up&#38;tag=prod", 1),
        card("down", "/?status=down&#38;tag=prod", 1),
    ] {
        assert!(body.contains(&want), "{want} in {body}");
    }
}

#[tokio::test]
async fn the_header_api_link_opens_a_human_page_that_links_the_openapi_document() {
    let f = fixture().await;
    let (_, _, overview) = get(&f.state, "/").await;
    assert!(
        overview.contains(r#"<a href="/api" >API</a>"#),
        "{overview}"
    );
    for uri in ["/api", "/api/v1"] {
        let (status, headers, body) = get(&f.state, uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}");
        assert!(
            headers[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        assert!(body.contains(r#"href="/api/v1/openapi.json""#), "{body}");
        assert!(body.contains(r#"<a href="/api/v1/targets"><code>/api/v1/targets</code></a>"#));
        assert!(body.contains("<code>/api/v1/targets/{id}/events</code>"));
        assert!(body.contains("integer (1–1000, default 100)"));
    }
}

#[tokio::test]
async fn openapi_document_describes_every_api_route() {
    let f = fixture().await;
    let (status, _, body) = get(&f.state, "/api/v1/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/api/v1/targets",
        "/api/v1/targets/{id}",
        "/api/v1/targets/{id}/events",
        "/api/v1/targets/{id}/series",
        "/api/v1/targets/{id}/uptime",
        "/api/v1/incidents",
    ] {
        assert!(paths.contains_key(p), "{p} undocumented");
        // The route answers (with a real id where it takes one).
        let (status, _, _) = get(&f.state, &p.replace("{id}", "good")).await;
        assert_eq!(status, StatusCode::OK, "{p}");
    }
    // Every $ref resolves.
    fn refs(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                if let Some(serde_json::Value::String(r)) = m.get("$ref") {
                    out.push(r.clone());
                }
                m.values().for_each(|v| refs(v, out));
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    for r in all {
        let ptr = r.strip_prefix('#').unwrap();
        assert!(doc.pointer(ptr).is_some(), "{r} does not resolve");
    }
}
