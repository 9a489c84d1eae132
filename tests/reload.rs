//! Live reloads of a running `uptimer run`: SIGHUP and a changed config file add, change and
//! remove targets without a restart; a bad file changes nothing and is counted in /metrics.

mod support;

use std::time::Duration;

use support::*;

/// Targets probed every 0.3 s, each with the id given.
fn config(server: &TestServer, targets: &[(&str, &str)], extra: &str) -> String {
    let mut out = format!("{extra}probe:\n  interval: 0.3\n  timeout: 1\ntargets:\n");
    for (id, path) in targets {
        out.push_str(&format!(
            "  - {{id: {id}, name: {id}, url: '{}'}}\n",
            server.url(path)
        ));
    }
    out
}

/// Reads events until `n` of target `id` came; returns the ids of all events read meanwhile.
fn events_until(p: &Running, id: &str, n: usize) -> Vec<String> {
    let mut seen = Vec::new();
    let mut of_id = 0;
    while of_id < n {
        let line = p
            .stdout_line(PATIENCE)
            .unwrap_or_else(|| panic!("no more events; waiting for {id}: {seen:?}"));
        let e: serde_json::Value = serde_json::from_str(&line).unwrap();
        let target = e["target"].as_str().unwrap_or_default().to_owned();
        of_id += usize::from(target == id);
        seen.push(target);
    }
    seen
}

fn metric(port: u16, name: &str) -> f64 {
    let body = get_body(port, "/metrics").expect("/metrics answers");
    body.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("{name} not in /metrics:\n{body}"))
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_adds_changes_and_removes_targets_and_a_bad_file_changes_nothing() {
    let server = http_server().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("uptimer.yaml");
    write_renamed(
        &cfg,
        &config(&server, &[("a", "/a"), ("b", "/b")], "watch: false\n"),
    );
    let metrics_port = free_port();
    let mut c = uptimer(dir.path());
    c.args(["run", "--config", cfg.to_str().unwrap()])
        .env("LOG_LEVEL", "info")
        .env("METRICS_LISTEN", format!("127.0.0.1:{metrics_port}"));
    let p = Running::spawn(c);
    let p = off_runtime(move || {
        events_until(&p, "a", 2);
        events_until(&p, "b", 1);
        p
    })
    .await;
    assert_eq!(
        metric(metrics_port, "uptimer_config_last_reload_success"),
        1.0
    );
    assert_eq!(metric(metrics_port, "uptimer_targets"), 2.0);

    // a moves to /a2 (same id: changed), b goes, c comes.
    write_renamed(
        &cfg,
        &config(&server, &[("a", "/a2"), ("c", "/c")], "watch: false\n"),
    );
    hangup(p.id());
    let p = off_runtime(move || {
        p.wait_for_stderr("the reload", PATIENCE, |l| {
            l.contains("configuration reloaded")
                && l.contains("added=1")
                && l.contains("changed=1")
                && l.contains("removed=1")
        });
        // What was in flight at the reload may still come; then only a and c.
        events_until(&p, "c", 1);
        let after = events_until(&p, "a", 3);
        assert!(!after.contains(&"b".to_owned()), "{after:?}");
        p
    })
    .await;
    let b_before = server.requests_to("/b").len();
    assert!(!server.requests_to("/a2").is_empty());
    assert!(!server.requests_to("/c").is_empty());

    // A bad file: nothing changes, the failure is named and counted.
    write_renamed(
        &cfg,
        "watch: false\nprobe:\n  interval: soon\ntargets:\n  - {url: 'http://127.0.0.1:9/'}\n",
    );
    hangup(p.id());
    let p = off_runtime(move || {
        let line = p.wait_for_stderr("the refusal", PATIENCE, |l| {
            l.contains("configuration reload refused")
        });
        assert!(
            line.contains("probe.interval") && line.contains("soon"),
            "{line}"
        );
        events_until(&p, "a", 2);
        events_until(&p, "c", 2);
        p
    })
    .await;
    assert_eq!(
        metric(metrics_port, "uptimer_config_reload_failures_total"),
        1.0
    );
    assert_eq!(
        metric(metrics_port, "uptimer_config_last_reload_success"),
        0.0
    );
    assert_eq!(metric(metrics_port, "uptimer_targets"), 2.0);
    assert_eq!(server.requests_to("/b").len(), b_before, "b stays removed");

    // Fixed again: the next reload succeeds.
    write_renamed(&cfg, &config(&server, &[("a", "/a2")], "watch: false\n"));
    hangup(p.id());
    let out = off_runtime(move || {
        p.wait_for_stderr("the second reload", PATIENCE, |l| {
            l.contains("configuration reloaded") && l.contains("removed=1")
        });
        p.terminate()
    })
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_changed_file_is_reloaded_by_itself_unless_watch_is_false() {
    let server = http_server().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("uptimer.yaml");
    write_renamed(&cfg, &config(&server, &[("a", "/a")], ""));
    let mut c = uptimer(dir.path());
    c.args(["run", "--config", cfg.to_str().unwrap()])
        .env("LOG_LEVEL", "info");
    let p = Running::spawn(c);
    let p = off_runtime(move || {
        events_until(&p, "a", 1);
        p
    })
    .await;
    write_renamed(&cfg, &config(&server, &[("a", "/a"), ("b", "/b")], ""));
    let p = off_runtime(move || {
        p.wait_for_stderr("the reload on the file change", PATIENCE, |l| {
            l.contains("configuration reloaded")
                && l.contains("file change")
                && l.contains("added=1")
        });
        events_until(&p, "b", 1);
        p
    })
    .await;
    // With `watch: false` the file's next change waits for a SIGHUP.
    write_renamed(&cfg, &config(&server, &[("a", "/a")], "watch: false\n"));
    let p = off_runtime(move || {
        p.wait_for_stderr("the reload that turns watching off", PATIENCE, |l| {
            l.contains("configuration reloaded") && l.contains("removed=1")
        });
        p
    })
    .await;
    // The watcher of the running process keeps watching (the setting applies at a restart,
    // and is logged as such): what this test checks is the restart's own behaviour below.
    drop(p);
    let mut c = uptimer(dir.path());
    c.args(["run", "--config", cfg.to_str().unwrap()])
        .env("LOG_LEVEL", "info");
    let p = Running::spawn(c);
    let p = off_runtime(move || {
        events_until(&p, "a", 1);
        p
    })
    .await;
    write_renamed(
        &cfg,
        &config(&server, &[("a", "/a"), ("c", "/c")], "watch: false\n"),
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        !p.stderr_so_far().contains("configuration reloaded"),
        "{}",
        p.stderr_so_far()
    );
    hangup(p.id());
    let out = off_runtime(move || {
        p.wait_for_stderr("the reload by SIGHUP", PATIENCE, |l| {
            l.contains("configuration reloaded") && l.contains("SIGHUP") && l.contains("added=1")
        });
        p.terminate()
    })
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}
