//! Public status pages served by the real `uptimer serve`: the original tool's own use of a
//! status page — `uptimer probe --regex 'All Systems Operational'` — is up while every
//! component is operational and down as soon as one is not, with the dashboard behind
//! credentials.

mod support;

use std::time::Duration;

use support::bin::{output, start_serve, stdout, uptimer};
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
    let mut c = uptimer(d);
    c.args([
        "serve",
        "--config",
        "u.yaml",
        "--listen",
        &format!("127.0.0.1:{port}"),
    ])
    .env("DATA_DIR", "data")
    .env("WEB_AUTH_TOKEN", "dashboard-secret");
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
