//! `uptimer serve` and the web settings at the command line: errors name the setting, secrets
//! never print, SQLite is the default writer of `serve`.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn uptimer(dir: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_uptimer"));
    c.current_dir(dir).stdin(Stdio::null());
    for (k, _) in std::env::vars() {
        if k.starts_with("PROBE_")
            || k.ends_with("_PLUGIN")
            || k.starts_with("WEB_")
            || k.starts_with("SQLITE_")
        {
            c.env_remove(k);
        }
    }
    c
}

fn run(mut c: Command) -> Output {
    c.output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
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
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut c = uptimer(dir.path());
    c.args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("PROBE_URLS", format!("http://127.0.0.1:{port}/healthz"))
        .env("PROBE_INTERVAL", "-1")
        .env("DATA_DIR", "data")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    let db = dir.path().join("data/uptimer.sqlite3");
    let deadline = Instant::now() + Duration::from_secs(20);
    let body = loop {
        std::thread::sleep(Duration::from_millis(200));
        if let Some(b) = get(port, "/api/v1/targets")
            && b.contains("\"status\":\"up\"")
        {
            break b;
        }
        assert!(Instant::now() < deadline, "no up target via the API");
    };
    assert!(body.contains("/healthz"), "{body}");
    assert!(db.is_file());
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert!(child.wait().unwrap().success());

    // The same file served read-only: no probing, same answers.
    let mut c = uptimer(dir.path());
    c.args([
        "serve",
        "--store",
        "data/uptimer.sqlite3",
        "--listen",
        &format!("127.0.0.1:{port}"),
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        std::thread::sleep(Duration::from_millis(200));
        if get(port, "/api/v1/targets").is_some_and(|b| b.contains("/healthz")) {
            break;
        }
        assert!(Instant::now() < deadline, "read-only serve did not answer");
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert!(child.wait().unwrap().success());
}

fn get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

#[test]
fn run_with_writers_sqlite_fills_the_store_that_serve_reads() {
    let dir = tempfile::tempdir().unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
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
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let body = loop {
        std::thread::sleep(Duration::from_millis(200));
        if let Some(b) = get(port, "/api/v1/incidents")
            && b.contains("connect_refused")
        {
            break b;
        }
        assert!(Instant::now() < deadline, "no incident via the API");
    };
    assert!(body.contains("\"total\":1"), "{body}");
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert!(child.wait().unwrap().success());
}
