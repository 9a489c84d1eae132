//! Public status pages served by the real `uptimer serve`: the original tool's own use of a
//! status page — `uptimer probe --regex 'All Systems Operational'` — is up while every
//! component is operational and down as soon as one is not, with the dashboard behind
//! credentials.

mod support;

use std::time::Duration;

use support::bin::{output, serve_u_yaml, start_serve, stdout, uptimer};
use support::net::free_port;
use support::server::http_server;
use support::wait::{PATIENCE, wait_for_async};

#[tokio::test(flavor = "multi_thread")]
async fn probing_our_status_page_for_all_systems_operational_follows_its_components() {
    let target = http_server().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let port = free_port();
    let yaml = format!(
        "probe: {{interval: 0.3, timeout: 0.25}}\n\
         targets:\n  - {{id: api, url: '{api}'}}\n  - {{id: web, url: '{web}', tags: [web]}}\n\
         status_pages:\n  - slug: main\n    title: Example Inc.\n    groups:\n      \
         - name: Core\n        components:\n          - {{target: api, name: API}}\n          \
         - {{tag: web, name: Website}}\n",
        api = target.url("/switch"),
        web = target.url("/ok"),
    );
    std::fs::write(d.join("u.yaml"), yaml).unwrap();
    let mut c = serve_u_yaml(d, port);
    c.env("WEB_AUTH_TOKEN", "dashboard-secret");
    let serve = start_serve(c);
    let page = format!("http://127.0.0.1:{port}/status/main");
    // `uptimer probe` of our page for the banner's words: its exit code.
    let probe = async || {
        let mut p = uptimer(d);
        p.args(["probe", "--regex", "All Systems Operational", &page]);
        output(p).await.status.code()
    };
    // Every component operational: up.
    wait_for_async("the page to say all is well", PATIENCE, async || {
        (probe().await == Some(0)).then_some(())
    })
    .await;
    // The API goes down: the probe of our page is down, the banner says so.
    target.set_switch(503);
    wait_for_async("the page to say the API is down", PATIENCE, async || {
        (probe().await == Some(1)).then_some(())
    })
    .await;
    let mut p = uptimer(d);
    p.args(["probe", "--regex", "Major System Outage", &page]);
    let out = output(p).await;
    assert!(out.status.success(), "{}", stdout(&out));
    // Back up: up again.
    target.set_switch(200);
    wait_for_async("the page to recover", PATIENCE, async || {
        (probe().await == Some(0)).then_some(())
    })
    .await;
    // The dashboard stays behind its credentials.
    let dash = uptimer::alerting::send::client()
        .unwrap()
        .get(format!("http://127.0.0.1:{port}/"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap();
    assert_eq!(dash.status().as_u16(), 401);
    drop(serve);
}

/// `STATUS_LISTEN`: the status pages alone on a second address (the first page at `/`, its
/// logo, feeds and JSON), never the dashboard; a maintenance window of `maintenance:` under
/// way makes the banner say so and another ahead is announced.
#[tokio::test(flavor = "multi_thread")]
async fn status_listen_serves_the_pages_alone_with_their_maintenance_and_logo() {
    let target = http_server().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (port, public) = (free_port(), free_port());
    let at = |hours: i64| {
        (time::OffsetDateTime::now_utc() + time::Duration::hours(hours))
            .replace_nanosecond(0)
            .unwrap()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    std::fs::write(
        d.join("logo.svg"),
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>"#,
    )
    .unwrap();
    let yaml = format!(
        "probe: {{interval: 0.3, timeout: 0.25}}\n\
         targets:\n  - {{id: db, url: '{db}', tags: [db]}}\n  - {{id: web, url: '{web}'}}\n\
         maintenance:\n  - {{name: Database upgrade, start: '{from}', end: '{to}', tags: [db]}}\n  \
         - {{name: Network cutover, start: '{later}', duration: 30m, targets: [web]}}\n\
         status_pages:\n  - slug: main\n    title: Example Inc.\n    logo: logo.svg\n    \
         groups:\n      - name: Core\n        components:\n          - {{tag: db, name: Database}}\n          \
         - {{target: web, name: Website}}\n",
        db = target.url("/ok"),
        web = target.url("/ok"),
        from = at(-1),
        to = at(1),
        later = at(48),
    );
    std::fs::write(d.join("u.yaml"), yaml).unwrap();
    let mut c = serve_u_yaml(d, port);
    c.env("STATUS_LISTEN", format!("127.0.0.1:{public}"))
        .env("WEB_AUTH_TOKEN", "dashboard-secret");
    let serve = start_serve(c);
    let client = uptimer::alerting::send::client().unwrap();
    let fetch = async |path: &str| {
        let r = client
            .get(format!("http://127.0.0.1:{public}{path}"))
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    };
    let page = wait_for_async("the page to show the maintenance", PATIENCE, async || {
        let (status, body) = fetch("/").await;
        (status == 200 && body.contains("Service Under Maintenance")).then_some(body)
    })
    .await;
    assert!(
        page.contains("Database upgrade") && page.contains("In progress"),
        "{page}"
    );
    assert!(
        page.contains("Network cutover") && page.contains("Scheduled"),
        "{page}"
    );
    assert!(page.contains(r#"src="/status/main/logo""#), "{page}");
    let (status, logo) = fetch("/status/main/logo").await;
    assert_eq!((status, logo.starts_with("<svg")), (200, true));
    let (status, json) = fetch("/status/main/api/v2/scheduled-maintenances.json").await;
    assert_eq!(status, 200);
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    let listed: Vec<(&str, &str)> = doc["scheduled_maintenances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["name"].as_str().unwrap(), m["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        listed,
        [
            ("Database upgrade", "in_progress"),
            ("Network cutover", "scheduled")
        ]
    );
    for path in ["/status/main/feed.atom", "/status/assets/status.css"] {
        assert_eq!(fetch(path).await.0, 200, "{path}");
    }
    // Nothing of the dashboard on the public address, with or without credentials.
    for path in [
        "/targets/new",
        "/api/v1/targets",
        "/incidents",
        "/assets/style.css",
    ] {
        assert_eq!(fetch(path).await.0, 404, "{path}");
    }
    drop(serve);

    // A logo that is not there: `serve` says which and does not start.
    let broken = std::fs::read_to_string(d.join("u.yaml"))
        .unwrap()
        .replace("logo.svg", "missing.svg");
    std::fs::write(d.join("u.yaml"), broken).unwrap();
    let out = output(serve_u_yaml(d, port)).await;
    assert_eq!(out.status.code(), Some(2), "{}", support::bin::stderr(&out));
    assert!(
        support::bin::stderr(&out).contains("status_pages[main].logo: cannot read missing.svg"),
        "{}",
        support::bin::stderr(&out)
    );
}
