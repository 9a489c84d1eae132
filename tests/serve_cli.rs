//! `uptimer serve` and the web settings at the command line: errors name the setting, secrets
//! never print, SQLite is the default writer of `serve`; what `run` and `serve` log while they
//! probe, and what `/metrics` reports in each mode.

mod support;

use std::process::{Command, Output};

use support::*;

fn run(mut c: Command) -> Output {
    c.output().unwrap()
}

#[test]
fn check_config_masks_the_dashboard_password_and_token() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = uptimer(dir.path());
    c.args(["check-config", "--for", "serve"])
        .env("WEB_AUTH_BASIC", "ann:hunter2");
    let out = run(c);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(text.contains("basic ann:***"), "{text}");
    assert!(!text.contains("hunter2"));
    let mut c = uptimer(dir.path());
    c.args(["check-config", "--for", "serve"])
        .env("WEB_AUTH_TOKEN", "t0ken-value");
    let out = run(c);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("t0ken-value"));
}

#[test]
fn serve_reports_bad_flags_and_settings_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    // (arguments, environment, what stderr says)
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 4] = [
        (
            &["serve", "--listen", "localhost"],
            &[],
            "--listen: expected an address and port",
        ),
        (
            &["serve", "--store", "postgres://u:p@127.0.0.1:1/uptimer"],
            &[],
            "--store postgres://u:***@127.0.0.1:1/uptimer: postgres:",
        ),
        (
            &["serve", "--store", "/nonexistent/x.sqlite3"],
            &[],
            "--store: expected an existing SQLite store",
        ),
        (
            &["serve"],
            &[("SQLITE_RETENTION_HOUR_DAYS", "forever")],
            "SQLITE_RETENTION_HOUR_DAYS: expected a number of days",
        ),
    ];
    for (args, env, expected) in cases {
        let mut c = uptimer(dir.path());
        c.args(args).envs(env.iter().copied());
        let out = run(c);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains(expected), "{args:?}: {err}");
        assert!(!err.contains("u:p@"), "{err}");
    }
}

#[test]
fn serve_writes_to_sqlite_by_default_and_serves_the_store_read_only_after() {
    let dir = tempfile::tempdir().unwrap();
    // Probing itself: /healthz of its own dashboard, once (PROBE_INTERVAL=-1).
    let port = free_port();
    let mut c = uptimer(dir.path());
    c.args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("PROBE_URLS", format!("http://127.0.0.1:{port}/healthz"))
        .env("PROBE_INTERVAL", "-1")
        .env("DATA_DIR", "data");
    let p = start_serve(c);
    let db = dir.path().join("data/uptimer.sqlite3");
    let body = wait_for("an up target via the API", PATIENCE, || {
        get(port, "/api/v1/targets").filter(|b| b.contains("\"status\":\"up\""))
    });
    assert!(body.contains("/healthz"), "{body}");
    assert!(db.is_file());
    let out = p.terminate();
    assert!(out.status.success(), "{}", stderr(&out));

    // The same file served read-only: no probing, same answers.
    let mut c = uptimer(dir.path());
    c.args([
        "serve",
        "--store",
        "data/uptimer.sqlite3",
        "--listen",
        &format!("127.0.0.1:{port}"),
    ]);
    let p = start_serve(c);
    wait_for("the read-only serve's answer", PATIENCE, || {
        get(port, "/api/v1/targets").filter(|b| b.contains("/healthz"))
    });
    let out = p.terminate();
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn run_with_writers_sqlite_fills_the_store_that_serve_reads() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // Probes a closed port once: a down event is still an event.
    let mut c = uptimer(dir.path());
    c.args(["run"])
        .env("PROBE_URLS", format!("http://127.0.0.1:{port}/"))
        .env("PROBE_INTERVAL", "-1")
        .env("WRITER_PLUGIN", "writers.sqlite")
        .env("SQLITE_PATH", "store/events.sqlite3");
    let out = run(c);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "events go to the store, not stdout");
    assert!(dir.path().join("store/events.sqlite3").is_file());

    let mut c = uptimer(dir.path());
    c.args([
        "serve",
        "--store",
        "store/events.sqlite3",
        "--listen",
        &format!("127.0.0.1:{port}"),
    ]);
    let p = start_serve(c);
    let body = wait_for("an incident via the API", PATIENCE, || {
        get(port, "/api/v1/incidents").filter(|b| b.contains("connect_refused"))
    });
    assert!(body.contains("\"total\":1"), "{body}");
    let out = p.terminate();
    assert!(out.status.success(), "{}", stderr(&out));
}

/// The stderr lines that contain `text`.
fn lines_with<'a>(stderr: &'a str, text: &str) -> Vec<&'a str> {
    stderr.lines().filter(|l| l.contains(text)).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn run_logs_one_info_line_per_state_change() {
    let server = http_server().await;
    let closed = closed_port();
    let switch = server.url("/switch");
    let dir = tempfile::tempdir().unwrap();
    let mut c = uptimer(dir.path());
    c.args(["run"])
        .env(
            "PROBE_URLS",
            format!("[\"{switch}\", \"http://{closed}/\"]"),
        )
        .env("PROBE_INTERVAL", "0.5")
        .env("PROBE_TIMEOUT", "0.45")
        .env("LOG_LEVEL", "info");
    let p = Running::spawn(c);
    // The events on stdout tell the test where the target is.
    let watched = switch.clone();
    let events = move |p: Running, up: bool, n: usize| {
        let switch = watched.clone();
        off_runtime(move || {
            for _ in 0..n {
                p.wait_for_stdout("an event of the switched target", PATIENCE, |l| {
                    let v: serde_json::Value = serde_json::from_str(l).unwrap();
                    v["url"] == switch.as_str() && (v["up"] == true) == up
                });
            }
            p
        })
    };
    let p = events(p, true, 2).await;
    server.set_switch(503);
    let p = events(p, false, 3).await;
    server.set_switch(200);
    let p = events(p, true, 3).await;
    let out = off_runtime(move || p.terminate()).await;
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");

    let down = lines_with(&err, "target went down");
    assert_eq!(down.len(), 1, "{err}");
    assert!(
        down[0].contains("INFO") && down[0].contains(&switch),
        "{err}"
    );
    assert!(down[0].contains("503"), "the error is in the line: {err}");
    let up = lines_with(&err, "target is up again");
    assert_eq!(up.len(), 1, "{err}");
    assert!(up[0].contains("INFO") && up[0].contains(&switch), "{err}");
    // A target down from the start is told once; one up from the start is not told at all.
    let first = lines_with(&err, "target is down");
    assert_eq!(first.len(), 1, "{err}");
    assert!(first[0].contains(&closed.to_string()), "{err}");
    assert!(first[0].contains("connect_refused"), "{err}");
    assert_eq!(lines_with(&err, &switch).len(), 2, "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn run_logs_a_target_unknown_when_no_result_came_for_three_intervals() {
    // A timeout longer than three intervals and the store's 5 s grace: while the second probe
    // hangs, the first result is too old and the target is unknown, as the dashboard shows it.
    let server = http_server().await;
    let dir = tempfile::tempdir().unwrap();
    let mut c = uptimer(dir.path());
    c.args(["run"])
        .env("PROBE_URLS", server.url("/hang"))
        .env("PROBE_INTERVAL", "0.5")
        .env("PROBE_TIMEOUT", "7")
        .env("LOG_LEVEL", "info");
    let p = Running::spawn(c);
    let out = off_runtime(move || {
        p.wait_for_stderr("the unknown line", PATIENCE, |l| {
            l.contains("target is unknown")
        });
        // SIGKILL: a graceful stop would wait for the hanging probe's 7 s timeout.
        p.kill()
    })
    .await;
    let err = stderr(&out);
    let unknown = lines_with(&err, "target is unknown");
    assert_eq!(unknown.len(), 1, "{err}");
    assert!(
        unknown[0].contains("INFO") && unknown[0].contains("/hang"),
        "{err}"
    );
    assert_eq!(lines_with(&err, "target is down").len(), 1, "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_counts_and_logs_rounds_skipped_by_a_probe_that_overruns_its_interval() {
    // timeout = interval against a server that never answers: each probe ends just after its
    // next round was due, so every other round is skipped.
    let server = http_server().await;
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let mut c = uptimer(dir.path());
    c.args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("PROBE_URLS", server.url("/hang"))
        .env("PROBE_INTERVAL", "0.4")
        .env("PROBE_TIMEOUT", "0.4")
        .env("DATA_DIR", "data")
        .env("LOG_LEVEL", "info");
    let p = off_runtime(move || start_serve(c)).await;
    let skipped = off_runtime(move || {
        wait_for("three skipped rounds counted", PATIENCE, || {
            get(port, "/metrics")?
                .lines()
                .find_map(|l| l.strip_prefix("uptimer_scheduler_skipped_rounds_total "))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .filter(|n| *n >= 3)
        })
    })
    .await;
    assert!(skipped >= 3);
    let out = off_runtime(move || p.terminate()).await;
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    // Rate-limited: one line per target per minute, however many rounds were skipped.
    let lines = lines_with(&err, "rounds skipped");
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].contains("WARN") && lines[0].contains("/hang"),
        "{err}"
    );
    assert!(
        lines[0].contains("skipped="),
        "the count is in the line: {err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn read_only_serve_metrics_leave_out_the_counters_of_what_it_does_not_do() {
    let server = http_server().await;
    let dir = tempfile::tempdir().unwrap();
    let mut c = uptimer(dir.path());
    c.args(["run"])
        .env("PROBE_URLS", server.url("/ok"))
        .env("PROBE_INTERVAL", "-1")
        .env("WRITER_PLUGIN", "writers.sqlite")
        .env("SQLITE_PATH", "store.sqlite3");
    let out = output(c).await;
    assert!(out.status.success(), "{}", stderr(&out));

    let port = free_port();
    let mut c = uptimer(dir.path());
    c.args([
        "serve",
        "--store",
        "store.sqlite3",
        "--listen",
        &format!("127.0.0.1:{port}"),
    ]);
    let (body, out) = off_runtime(move || {
        let p = start_serve(c);
        let body = wait_for("/metrics of the read-only serve", PATIENCE, || {
            get(port, "/metrics").filter(|b| b.contains("probe_success{"))
        });
        (body, p.terminate())
    })
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    // The targets' last results are there, and what the process is...
    assert!(body.contains("uptimer_build_info{version=\""), "{body}");
    assert!(body.contains("probe_success{target="), "{body}");
    assert!(body.contains("probe_duration_seconds{target="), "{body}");
    // ...but this process neither probes, schedules nor writes: no counters stuck at 0.
    for absent in [
        "uptimer_probes_total",
        "uptimer_probe_errors_total",
        "uptimer_probe_duration_seconds",
        "uptimer_probes_started_total",
        "uptimer_scheduler_",
        "uptimer_writer_",
        "uptimer_events_",
    ] {
        assert!(!body.contains(absent), "{absent} in {body}");
    }
}

/// The status line and body of `GET path`, once `ok` accepts them.
fn get_until(port: u16, path: &str, ok: impl Fn(&str) -> bool) -> String {
    wait_for(&format!("GET {path}"), PATIENCE, || {
        get(port, path).filter(|r| ok(r))
    })
}

async fn healthcheck(dir: &std::path::Path, addr: Option<&str>, env: Option<&str>) -> Output {
    let mut c = uptimer(dir);
    c.arg("healthcheck").args(addr);
    if let Some(e) = env {
        c.env("METRICS_LISTEN", e);
    }
    output(c).await
}

#[tokio::test(flavor = "multi_thread")]
async fn run_with_metrics_listen_serves_metrics_health_and_readiness_and_healthcheck_asks_it() {
    let server = http_server().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut c = uptimer(dir.path());
    c.args(["run"])
        .env("PROBE_URLS", server.url("/ok"))
        .env("PROBE_INTERVAL", "0.2")
        .env("METRICS_LISTEN", &addr);
    let child = Running::spawn(c);
    let body = tokio::task::spawn_blocking(move || {
        get_until(port, "/metrics", |b| {
            b.contains("uptimer_events_acked_total{writer=\"writers.stdout\"} ")
                && !b.contains("uptimer_events_acked_total{writer=\"writers.stdout\"} 0\n")
        })
    })
    .await
    .unwrap();
    assert!(body.starts_with("HTTP/1.0 200"), "{body}");
    assert!(body.contains("text/plain; version=0.0.4"), "{body}");
    for family in [
        "uptimer_build_info{version=",
        "uptimer_probes_total{result=\"up\"}",
        "uptimer_writer_up{writer=\"writers.stdout\"} 1",
        "uptimer_writer_batch_seconds_count{writer=\"writers.stdout\"}",
        "uptimer_writer_queue_depth{writer=\"writers.stdout\"}",
        "uptimer_reader_events_total{reader=\"readers.probes.http\"}",
        "uptimer_scheduler_start_lag_seconds_count",
    ] {
        assert!(body.contains(family), "{family} missing:\n{body}");
    }
    let health = get(port, "/healthz").unwrap();
    assert!(
        health.starts_with("HTTP/1.0 200") && health.ends_with("ok\n"),
        "{health}"
    );
    let ready = get(port, "/readyz").unwrap();
    assert!(
        ready.starts_with("HTTP/1.0 200") && ready.ends_with("ready\n"),
        "{ready}"
    );

    // Up: 0, by the address given or by METRICS_LISTEN (every interface = this host).
    let given = healthcheck(dir.path(), Some(&format!("127.0.0.1:{port}")), None).await;
    let from_env = healthcheck(dir.path(), None, Some(&format!("0.0.0.0:{port}"))).await;
    assert!(given.status.success(), "{}", stderr(&given));
    assert!(from_env.status.success(), "{}", stderr(&from_env));
    child.terminate();

    // Nothing listening: 1 and one line saying so; no address at all: 2.
    let down = healthcheck(dir.path(), Some(&format!("127.0.0.1:{port}")), None).await;
    let none = healthcheck(dir.path(), None, None).await;
    assert_eq!(down.status.code(), Some(1), "{}", stderr(&down));
    let err = stderr(&down);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("/healthz: cannot connect"), "{err}");
    assert_eq!(none.status.code(), Some(2), "{}", stderr(&none));
    assert!(
        stderr(&none).contains("METRICS_LISTEN"),
        "{}",
        stderr(&none)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn readyz_names_a_writer_whose_database_is_away_while_healthz_stays_up() {
    let server = http_server().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut c = uptimer(dir.path());
    c.args(["run"])
        .env("PROBE_URLS", server.url("/ok"))
        .env("PROBE_INTERVAL", "1")
        .env("WRITER_PLUGIN", "writers.postgres")
        .env(
            "DATABASE_URL",
            format!("postgres://postgres@{}/uptimer", closed_port()),
        )
        .env("DATA_DIR", dir.path())
        .env("METRICS_LISTEN", format!("127.0.0.1:{port}"));
    let child = Running::spawn(c);
    let ready = tokio::task::spawn_blocking(move || {
        // "startup" leaves the list a moment after the writers are built.
        get_until(port, "/readyz", |r| {
            r.contains("writers.postgres") && !r.contains("startup")
        })
    })
    .await
    .unwrap();
    assert!(ready.starts_with("HTTP/1.0 503"), "{ready}");
    assert!(ready.ends_with("not ready: writers.postgres\n"), "{ready}");
    let health = get(port, "/healthz").unwrap();
    assert!(health.starts_with("HTTP/1.0 200"), "{health}");
    let metrics = get(port, "/metrics").unwrap();
    assert!(
        metrics.contains("uptimer_writer_up{writer=\"writers.postgres\"} 0\n"),
        "{metrics}"
    );
    assert!(
        !metrics.contains(
            "uptimer_writer_last_error_timestamp_seconds{writer=\"writers.postgres\"} 0.0\n"
        ),
        "the failed connection is stamped: {metrics}"
    );
    child.terminate();
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_answers_readyz_on_its_listener_and_on_metrics_listen() {
    let server = http_server().await;
    let dir = tempfile::tempdir().unwrap();
    let (web, metrics) = (free_port(), free_port());
    let mut c = uptimer(dir.path());
    c.args(["serve", "--listen", &format!("127.0.0.1:{web}")])
        .env("SQLITE_PATH", "store.sqlite3")
        .env("PROBE_URLS", server.url("/ok"))
        .env("METRICS_LISTEN", format!("127.0.0.1:{metrics}"));
    let child = Running::spawn(c);
    let (on_web, on_metrics) = tokio::task::spawn_blocking(move || {
        (
            get_until(web, "/readyz", |r| r.starts_with("HTTP/1.0 200")),
            get_until(metrics, "/readyz", |r| r.starts_with("HTTP/1.0 200")),
        )
    })
    .await
    .unwrap();
    assert!(on_web.ends_with("ready\n"), "{on_web}");
    assert!(on_metrics.ends_with("ready\n"), "{on_metrics}");
    let m = get(metrics, "/metrics").unwrap();
    assert!(
        m.contains("uptimer_writer_up{writer=\"writers.sqlite\"} 1"),
        "{m}"
    );
    child.terminate();
}
