//! Live targets through a real `uptimer serve`: targets made through the JSON API keep their
//! ids (and pauses) across a restart, and `uptimer targets` adds, lists, pauses, resumes and
//! removes them, with exit status 1 for the server's refusals and 2 for bad usage.

mod support;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use support::*;

const TOKEN: &str = "api-test-token";

/// `METHOD path` with a JSON body over HTTP/1.0 and the token: (status, body).
fn request(port: u16, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_owned();
    (status, body)
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// `uptimer serve` on `port` with its data under `dir/data` and the token required.
fn serve(dir: &Path, port: u16) -> Running {
    let mut c = uptimer(dir);
    c.args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("DATA_DIR", "data")
        .env("WEB_AUTH_TOKEN", TOKEN);
    start_serve(c)
}

#[test]
fn targets_made_through_the_api_keep_their_ids_and_pauses_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let closed = closed_port();
    let p = serve(dir.path(), port);
    let (status, body) = request(
        port,
        "POST",
        "/api/v1/targets",
        &format!(r#"{{"name": "picked id", "url": "http://{closed}/a", "interval": 3600}}"#),
    );
    assert_eq!(status, 201, "{body}");
    let picked = json(&body)["id"].as_str().unwrap().to_owned();
    let (status, body) = request(
        port,
        "POST",
        "/api/v1/targets",
        &format!(r#"{{"id": "given", "url": "http://{closed}/b", "tags": ["t"]}}"#),
    );
    assert_eq!(status, 201, "{body}");
    let (status, body) = request(port, "POST", "/api/v1/targets/given/pause", "");
    assert_eq!(status, 200, "{body}");
    let out = p.terminate();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(dir.path().join("data/targets.json").is_file());

    let p = serve(dir.path(), port);
    let (status, body) = request(port, "GET", &format!("/api/v1/targets/{picked}"), "");
    assert_eq!(status, 200, "{body}");
    let t = json(&body);
    assert_eq!(t["source"], "api");
    assert_eq!(t["name"], "picked id");
    assert_eq!(t["config"]["url"], format!("http://{closed}/a"));
    let (status, body) = request(port, "GET", "/api/v1/targets/given", "");
    assert_eq!(status, 200, "{body}");
    let t = json(&body);
    assert_eq!(
        (t["source"].as_str(), t["paused"].as_bool()),
        (Some("api"), Some(true))
    );
    assert_eq!(t["tags"], serde_json::json!(["t"]));
    // Still an API target: it changes, and goes, through the API.
    let (status, body) = request(port, "DELETE", &format!("/api/v1/targets/{picked}"), "");
    assert_eq!(status, 204, "{body}");
    let out = p.terminate();
    assert!(out.status.success(), "{}", stderr(&out));

    let p = serve(dir.path(), port);
    // Gone from the live set; its history stays, marked removed.
    let (status, body) = request(port, "GET", &format!("/api/v1/targets/{picked}"), "");
    assert!(
        status == 404 || json(&body)["removed"] == true,
        "{status} {body}"
    );
    let (_, list) = request(port, "GET", "/api/v1/targets", "");
    assert!(!list.contains(&picked), "{list}");
    assert_eq!(request(port, "GET", "/api/v1/targets/given", "").0, 200);
    drop(p);
}

/// `uptimer targets ARGS` against `server`, with the token unless `token` is None.
fn targets(dir: &Path, server: &str, token: Option<&str>, args: &[&str]) -> Command {
    let mut c = uptimer(dir);
    c.arg("targets").args(["--server", server]).args(args);
    if let Some(t) = token {
        c.env("WEB_AUTH_TOKEN", t);
    }
    c
}

#[tokio::test(flavor = "multi_thread")]
async fn the_targets_command_adds_lists_pauses_resumes_and_removes() {
    let site = http_server().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let server = format!("http://127.0.0.1:{port}");
    let p = serve(dir.path(), port);
    let d = dir.path();

    let url = site.url("/");
    let add = &[
        "add",
        "--name",
        "web",
        "--url",
        &url,
        "--interval",
        "1",
        "--tag",
        "a",
        "--tag",
        "b",
        "--json",
    ][..];
    let made = json(&ok(&output(targets(d, &server, Some(TOKEN), add)).await));
    let id = made["id"].as_str().unwrap().to_owned();
    assert_eq!(made["source"], "api");
    assert_eq!(made["tags"], serde_json::json!(["a", "b"]));
    assert_eq!(made["interval_s"], 1.0);

    // Listed once the store has it (it is probed every second); the server from the
    // environment this time.
    let listed = wait_for_async("the added target listed", PATIENCE, async || {
        let mut c = uptimer(d);
        c.args(["targets", "list", "--json"])
            .env("UPTIMER_SERVER", &server)
            .env("WEB_AUTH_TOKEN", TOKEN);
        let all = json(&ok(&output(c).await));
        all.as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == id.as_str())
            .cloned()
    })
    .await;
    assert_eq!(
        (listed["source"].as_str(), listed["paused"].as_bool()),
        (Some("api"), Some(false))
    );
    // Probed at its first phase: within its interval of a second.
    wait_for_async("the target probed", PATIENCE, async || {
        (site.request_count() > 0).then_some(())
    })
    .await;
    let table = ok(&output(targets(d, &server, Some(TOKEN), &["list"])).await);
    let head = table.lines().next().unwrap();
    assert!(
        head.starts_with("ID") && head.contains("SOURCE") && head.contains("PAUSED"),
        "{table}"
    );
    let row = table
        .lines()
        .find(|l| l.starts_with(&id))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(
        row.contains("web") && row.contains(&url) && row.contains("api") && row.ends_with("no"),
        "{row}"
    );

    let paused = json(&ok(&output(targets(
        d,
        &server,
        Some(TOKEN),
        &["pause", &id, "--json"],
    ))
    .await));
    assert_eq!(paused["paused"], true);
    let only = json(&ok(&output(targets(
        d,
        &server,
        Some(TOKEN),
        &["list", "--paused", "true", "--json"],
    ))
    .await));
    assert_eq!(only.as_array().unwrap().len(), 1, "{only}");
    assert_eq!(only[0]["id"], id.as_str());
    let said = ok(&output(targets(d, &server, Some(TOKEN), &["resume", &id])).await);
    assert!(said.contains(&format!("resumed target {id}")), "{said}");
    let only = json(&ok(&output(targets(
        d,
        &server,
        Some(TOKEN),
        &["list", "--paused", "true", "--json"],
    ))
    .await));
    assert_eq!(only, serde_json::json!([]));

    // A target from a file, YAML.
    let file = d.join("t.yaml");
    std::fs::write(
        &file,
        format!("id: from-file\nurl: {url}\ninterval: 1h\ntags: [f]\n"),
    )
    .unwrap();
    let f = file.display().to_string();
    let made = json(&ok(&output(targets(
        d,
        &server,
        Some(TOKEN),
        &["add", "--file", &f, "--json"],
    ))
    .await));
    assert_eq!(
        (made["id"].as_str(), made["interval_s"].as_f64()),
        (Some("from-file"), Some(3600.0))
    );

    let said = ok(&output(targets(d, &server, Some(TOKEN), &["rm", &id])).await);
    assert!(said.contains(&format!("removed target {id}")), "{said}");

    // The server's refusals: exit 1 with its message.
    let out = output(targets(d, &server, Some(TOKEN), &["rm", &id])).await;
    failed_with(&out, 1, "no target with id");
    let out = output(targets(
        d,
        &server,
        Some(TOKEN),
        &["add", "--url", "http://169.254.169.254/"],
    ))
    .await;
    failed_with(&out, 1, "url: ");
    failed_with(&out, 1, "422");
    let out = output(targets(d, &server, Some(TOKEN), &["add", "--file", &f])).await;
    failed_with(&out, 1, "exists already");
    let out = output(targets(d, &server, Some("wrong"), &["list"])).await;
    failed_with(&out, 1, "401");
    let out = output(targets(d, &server, None, &["pause", "from-file"])).await;
    failed_with(&out, 1, "401");
    let closed = format!("http://{}", closed_port());
    let out = output(targets(d, &closed, Some(TOKEN), &["list"])).await;
    failed_with(&out, 1, "cannot connect");

    // Bad usage: exit 2.
    let out = output(targets(
        d,
        &server,
        Some(TOKEN),
        &["add", "--name", "no url"],
    ))
    .await;
    failed_with(&out, 2, "--url");
    let out = output(targets(
        d,
        &server,
        Some(TOKEN),
        &["add", "--file", &f, "--url", &url],
    ))
    .await;
    failed_with(&out, 2, "cannot be used with");
    let out = output(targets(d, &server, Some(TOKEN), &["frob"])).await;
    failed_with(&out, 2, "frob");
    let out = output(targets(d, "127.0.0.1:8080", Some(TOKEN), &["list"])).await;
    failed_with(&out, 2, "--server");
    let missing = d.join("missing.yaml").display().to_string();
    let out = output(targets(
        d,
        &server,
        Some(TOKEN),
        &["add", "--file", &missing],
    ))
    .await;
    failed_with(&out, 2, "missing.yaml");
    std::fs::write(&file, "- url: http://127.0.0.1:1/\n").unwrap();
    let out = output(targets(d, &server, Some(TOKEN), &["add", "--file", &f])).await;
    failed_with(&out, 2, "one target object");
    drop(p);
}
