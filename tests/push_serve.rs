//! Push targets end to end: `uptimer serve` with push targets in a config file, pushed to over
//! real HTTP on 127.0.0.1; what it stores, escapes, refuses and keeps across a restart; and
//! `run` / `probe` refusing push targets.

mod support;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use support::*;

const TOKEN: &str = "cron-token-0123456789abcdef";

/// `METHOD path` over HTTP/1.0: (status, headers and body as one string).
fn request(port: u16, method: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, out)
}

fn body(answer: &str) -> &str {
    answer.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

fn config(dir: &Path, targets: &str) -> String {
    let path = dir.join("uptimer.yaml");
    std::fs::write(&path, format!("targets:\n{targets}")).unwrap();
    path.display().to_string()
}

fn serve(dir: &Path, config: &str, port: u16) -> Running {
    let mut c = uptimer(dir);
    c.args([
        "serve",
        "--config",
        config,
        "--listen",
        &format!("127.0.0.1:{port}"),
    ])
    .env("DATA_DIR", dir);
    start_serve(c)
}

/// The id of the only target.
fn target_id(port: u16) -> String {
    let targets: serde_json::Value =
        serde_json::from_str(body(&request(port, "GET", "/api/v1/targets").1)).unwrap();
    targets["targets"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The stored events of the only target, newest first, once `ok` holds for them.
fn events_until(port: u16, ok: impl Fn(&[serde_json::Value]) -> bool) -> Vec<serde_json::Value> {
    let start = Instant::now();
    loop {
        let id = target_id(port);
        let answer = request(port, "GET", &format!("/api/v1/targets/{id}/events"));
        let v: serde_json::Value = serde_json::from_str(body(&answer.1)).unwrap_or_default();
        let events = v["events"].as_array().cloned().unwrap_or_default();
        if ok(&events) {
            return events;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "events never matched: {events:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn pushes_make_events_hostile_messages_are_cut_and_escaped_and_bad_pushes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        &format!(
            "  - name: nightly backup\n    url: push://backup\n    interval: 1h\n    token: {TOKEN}\n"
        ),
    );
    let port = free_port();
    let _serve = serve(dir.path(), &cfg, port);
    let push = |q: &str| request(port, "GET", &format!("/api/v1/push/{TOKEN}{q}"));

    let (status, answer) = push("?status=up&ping=12");
    assert_eq!(status, 200, "{answer}");
    let events = events_until(port, |e| !e.is_empty());
    assert_eq!(events[0]["up"], true, "{events:?}");
    assert_eq!(events[0]["response_time_ms"], 12);

    // POST works the same; a down push carries its message as the error.
    let (status, answer) = request(
        port,
        "POST",
        &format!("/api/v1/push/{TOKEN}?status=down&msg=disk%20full"),
    );
    assert_eq!(status, 200, "{answer}");
    let events = events_until(port, |e| e.len() >= 2);
    assert_eq!(events[0]["up"], false, "{events:?}");
    assert_eq!(events[0]["error"], "disk full");
    assert_eq!(events[0]["error_kind"], "condition");

    // A hostile message: markup, 5 KB, percent-encoding that does not decode.
    let hostile = format!("%3Cscript%3Ealert(1)%3C/script%3E%zz{}", "x".repeat(5000));
    let (status, answer) = push(&format!("?status=down&msg={hostile}"));
    assert_eq!(status, 200, "{answer}");
    let events = events_until(port, |e| e.len() >= 3);
    let error = events[0]["error"].as_str().unwrap();
    assert!(error.starts_with("<script>alert(1)</script>%zz"), "{error}");
    assert!(error.len() <= 1024, "{}", error.len());
    let (_, page) = request(port, "GET", "/");
    assert!(page.contains("nightly backup"), "{page}");
    let id = target_id(port);
    let (_, page) = request(port, "GET", &format!("/targets/{id}"));
    assert!(!page.contains("<script>alert(1)"), "unescaped message");
    assert!(page.contains("&#60;script&#62;alert(1)"), "{page}");
    // The push URL, with its token, on the target page.
    assert!(
        page.contains(&format!("http://127.0.0.1:{port}/api/v1/push/{TOKEN}")),
        "{page}"
    );
    // The JSON API serves it as JSON, never as something a browser would run.
    let (_, api) = request(port, "GET", &format!("/api/v1/targets/{id}/events"));
    assert!(
        api.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{api}"
    );
    assert!(api.contains("x-content-type-options: nosniff"), "{api}");

    // Bad status and ping: 400 with a JSON error saying what is expected.
    let (status, answer) = push("?status=maybe");
    assert_eq!(status, 400, "{answer}");
    assert!(
        body(&answer).contains("status: expected up or down"),
        "{answer}"
    );
    let (status, answer) = push("?ping=fast");
    assert_eq!(status, 400, "{answer}");
    assert!(
        body(&answer).contains("\"error\":\"ping: expected"),
        "{answer}"
    );

    // An unknown token: 404, the same words as for any other unknown token.
    let (status, a) = request(port, "GET", "/api/v1/push/nope-nope-nope-nope-nope");
    let (_, b) = request(port, "GET", "/api/v1/push/x");
    assert_eq!(status, 404);
    assert_eq!(body(&a), body(&b));

    // Rate-limited per token: three pushes so far, a burst of five, ten a minute after it.
    let statuses: Vec<u16> = (0..5).map(|_| push("?status=up").0).collect();
    let taken = statuses.iter().take_while(|s| **s == 200).count();
    assert!((2..=3).contains(&taken), "{statuses:?}");
    assert!(statuses[taken..].iter().all(|s| *s == 429), "{statuses:?}");
    let (_, answer) = push("?status=up");
    let retry = answer
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("retry-after: ")
                .map(str::to_owned)
        })
        .expect("Retry-After");
    assert!(retry.trim().parse::<u64>().unwrap() >= 1, "{answer}");

    // The token never reaches the log.
    let log = _serve.stderr_so_far();
    assert!(!log.contains(TOKEN), "{log}");
}

#[test]
fn the_push_route_needs_no_dashboard_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        &format!("  - name: job\n    url: push://job\n    interval: 1h\n    token: {TOKEN}\n"),
    );
    let port = free_port();
    let mut c = uptimer(dir.path());
    c.args([
        "serve",
        "--config",
        &cfg,
        "--listen",
        &format!("127.0.0.1:{port}"),
    ])
    .env("DATA_DIR", dir.path())
    .env("WEB_AUTH_TOKEN", "dashboard-secret");
    let _serve = start_serve(c);
    assert_eq!(request(port, "GET", "/").0, 401);
    assert_eq!(
        request(port, "GET", &format!("/api/v1/push/{TOKEN}")).0,
        200
    );
    assert_eq!(
        request(port, "GET", "/api/v1/push/unknown-token-here").0,
        404
    );
}

#[test]
fn a_target_not_pushed_to_goes_down_with_push_missed() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        &format!(
            "  - name: heartbeat\n    url: push://hb\n    interval: 1\n    grace: 1\n    token: {TOKEN}\n"
        ),
    );
    let port = free_port();
    let serve = serve(dir.path(), &cfg, port);
    let events = events_until(port, |e| !e.is_empty());
    assert_eq!(events[0]["up"], false, "{events:?}");
    assert_eq!(events[0]["error_kind"], "push_missed");
    let error = events[0]["error"].as_str().unwrap();
    assert!(
        error.contains("no push received since the start"),
        "{error}"
    );
    serve.wait_for_stderr("the verdict line", Duration::from_secs(10), |l| {
        l.contains("heartbeat") && l.contains("target is down")
    });
}

#[test]
fn a_generated_token_and_the_last_push_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        "  - name: weekly\n    url: push://weekly\n    interval: 1h\n",
    );
    let port = free_port();
    let page_url = |port: u16| {
        let id = target_id(port);
        let (_, page) = request(port, "GET", &format!("/targets/{id}"));
        let start = page.find("/api/v1/push/").expect("a push URL on the page");
        let token: String = page[start + "/api/v1/push/".len()..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        token
    };
    let serve1 = serve(dir.path(), &cfg, port);
    let token = page_url(port);
    assert!(token.len() >= 22, "{token}");
    let (status, answer) = request(
        port,
        "GET",
        &format!("/api/v1/push/{token}?status=down&msg=exit%203"),
    );
    assert_eq!(status, 200, "{answer}");
    assert!(!serve1.stderr_so_far().contains(&token));
    sigterm(serve1.id());
    let out = serve1.wait(Duration::from_secs(20));
    assert!(out.status.success(), "{}", stderr(&out));
    let saved = std::fs::read_to_string(dir.path().join("push-targets.json")).unwrap();
    assert!(saved.contains("exit 3"), "{saved}");

    let port = free_port();
    let _serve2 = serve(dir.path(), &cfg, port);
    assert_eq!(page_url(port), token, "the same token after a restart");
    assert_eq!(
        request(port, "GET", &format!("/api/v1/push/{token}")).0,
        200
    );
}

#[test]
fn run_and_probe_refuse_a_push_target_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        "  - name: nightly backup\n    url: push://backup\n",
    );
    let mut c = uptimer(dir.path());
    c.args(["run", "--config", &cfg]);
    let out = c.output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("\"nightly backup\""), "{err}");
    assert!(err.contains("uptimer serve"), "{err}");
    let mut c: Command = uptimer(dir.path());
    c.args(["probe", "push://backup"]);
    let out = c.output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("push://backup"), "{}", stderr(&out));
}
