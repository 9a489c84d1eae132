//! Silences and maintenance windows through a real `uptimer serve` (SQLite store, a webhook
//! channel on a fake provider, a configured maintenance window): `uptimer silence` adds,
//! lists and expires a silence that holds a failing target's trigger back until it is
//! expired; `uptimer maintenance` lists the configured window, adds and ends a one-off one;
//! bad usage exits 2, the server's refusals 1; the dashboard's `/silences` page shows them.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use support::bin::{failed_with, ok, output, serve_u_yaml, start_serve, stderr, uptimer};
use support::net::{closed_port, free_port, get_body};
use support::provider::Provider;
use support::server::http_server;
use support::wait::{PATIENCE, wait_for_async};

/// `uptimer ARGS --server SERVER` in `dir`.
fn cli(dir: &Path, server: &str, args: &[&str]) -> Command {
    let mut c = uptimer(dir);
    c.args(args).args(["--server", server]);
    c
}

/// The id in `silence 3 added: …` or `maintenance window 4 added: …`.
fn id_of(added: &str) -> String {
    let (_, rest) = added.split_once(' ').unwrap();
    let rest = rest.strip_prefix("window ").unwrap_or(rest);
    rest.split(' ').next().unwrap().to_owned()
}

/// The notifications of the store, as `kind state` lines.
fn notifications(dir: &Path) -> Vec<String> {
    let c = rusqlite::Connection::open_with_flags(
        dir.join("data/uptimer.sqlite3"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let mut stmt = c
        .prepare("SELECT kind, state FROM notifications ORDER BY id")
        .unwrap();
    stmt.query_map([], |r| {
        Ok(format!(
            "{} {}",
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?
        ))
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn silences_and_maintenance_windows_through_the_cli_of_a_running_server() {
    let target = http_server().await;
    let provider = Provider::start().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let port = free_port();
    let server = format!("http://127.0.0.1:{port}");
    // The configured window never covers the target under test, whenever the test runs.
    let yaml = format!(
        "probe: {{interval: 0.2, timeout: 2}}\n\
         group_wait: 0s\nchannels:\n  ops: {{type: webhook, url: '{hook}'}}\n\
         alerts:\n  - {{type: ops, failure-threshold: 1}}\n\
         maintenance:\n  - name: nightly-other\n    start: \"02:30\"\n    duration: 1h\n    \
         every: [Monday, Friday]\n    timezone: Europe/Berlin\n    targets: [\"other-*\"]\n\
         targets:\n  - name: db\n    url: {url}\n    tags: [db]\n",
        hook = provider.url("/hook"),
        url = target.url("/switch"),
    );
    std::fs::write(d.join("u.yaml"), yaml).unwrap();
    let serve = start_serve(serve_u_yaml(d, port));

    // Bad usage: nothing is sent, exit 2 with what is wrong.
    let add = ["silence", "add", "--match", "tag=db", "--for", "2h"];
    let out = output(cli(d, &server, &add)).await;
    failed_with(&out, 2, "--reason");
    let out = output(cli(
        d,
        &server,
        &[
            "silence", "add", "--match", "db", "--for", "2h", "--reason", "r",
        ],
    ))
    .await;
    failed_with(&out, 2, "expected FIELD=VALUE");
    let out = output(cli(
        d,
        &server,
        &[
            "silence", "add", "--match", "tag=db", "--for", "soon", "--reason", "r",
        ],
    ))
    .await;
    failed_with(&out, 2, "--for \"soon\": expected");
    // What only the server judges: its refusal, exit 1.
    let out = output(cli(
        d,
        &server,
        &[
            "silence",
            "add",
            "--match",
            "tag=db",
            "--until",
            "2020-01-01T00:00:00Z",
            "--reason",
            "r",
        ],
    ))
    .await;
    failed_with(&out, 1, "ends_at: a time after now");
    let unreachable = format!("http://{}", closed_port());
    let out = output(cli(d, &unreachable, &["silence", "list"])).await;
    failed_with(&out, 1, "cannot connect");

    // A silence over the target's tag.
    let added = ok(&output(cli(
        d,
        &server,
        &[
            "silence",
            "add",
            "--match",
            "tag=db",
            "--for",
            "2h",
            "--reason",
            "db upgrade",
            "--by",
            "ana",
        ],
    ))
    .await);
    assert!(added.starts_with("silence "), "{added}");
    assert!(added.contains("added: tag=db until "), "{added}");
    let id = id_of(&added);
    let list = ok(&output(cli(d, &server, &["silence", "list"])).await);
    let mut lines = list.lines();
    assert!(
        lines.next().unwrap().starts_with("ID  STATE   MATCHERS"),
        "{list}"
    );
    let row = lines.next().unwrap();
    assert!(row.starts_with(&format!("{id} ")), "{list}");
    for cell in ["active", "tag=db", "ana", "db upgrade"] {
        assert!(row.contains(cell), "{cell} in {list}");
    }
    let api: Value = serde_json::from_str(&get_body(port, "/api/v1/silences").unwrap()).unwrap();
    assert_eq!(api["silences"][0]["id"].to_string(), id, "{api}");
    assert_eq!(api["silences"][0]["created_by"], "ana");

    // It holds the failing target's trigger back: written, not sent.
    target.set_switch(503);
    wait_for_async("the trigger held back", PATIENCE, async || {
        notifications(d)
            .contains(&"trigger suppressed".to_owned())
            .then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(provider.received().is_empty(), "sent while silenced");
    let page = get_body(port, "/").unwrap();
    assert!(page.contains(r#"class="held silenced""#), "{page}");

    // Expired, what it held goes out at the next failing result.
    let expired = ok(&output(cli(d, &server, &["silence", "expire", &id])).await);
    assert_eq!(expired.trim(), format!("expired silence {id} (tag=db)"));
    let got = provider.wait_for(1, PATIENCE).await;
    assert_eq!(
        got.first().map(|r| r.json()["kind"].clone()),
        Some("trigger".into()),
        "{}",
        serve.stderr_so_far()
    );
    let list = ok(&output(cli(d, &server, &["silence", "list"])).await);
    assert!(list.starts_with("no silences under way"), "{list}");
    let all = ok(&output(cli(d, &server, &["silence", "list", "--all"])).await);
    let row = all.lines().nth(1).unwrap();
    assert!(
        row.starts_with(&format!("{id} ")) && row.contains("ended"),
        "{all}"
    );
    let out = output(cli(d, &server, &["silence", "expire", "999"])).await;
    failed_with(&out, 1, "no silence 999");

    // Maintenance: the configured window, and a one-off one.
    let list = ok(&output(cli(d, &server, &["maintenance", "list"])).await);
    let configured = list
        .lines()
        .find(|l| l.starts_with("nightly-other"))
        .unwrap_or_else(|| panic!("{list}"));
    for cell in [
        "Mon,Fri 02:30",
        "1h",
        "Europe/Berlin",
        "target=other-*",
        "suppress",
    ] {
        assert!(configured.contains(cell), "{cell} in {list}");
    }
    assert!(
        list.contains("no one-off maintenance windows under way"),
        "{list}"
    );
    let out = output(cli(
        d,
        &server,
        &[
            "maintenance",
            "add",
            "--match",
            "channel=ops",
            "--for",
            "1h",
            "--reason",
            "r",
        ],
    ))
    .await;
    failed_with(&out, 2, "covers targets");
    let added = ok(&output(cli(
        d,
        &server,
        &[
            "maintenance",
            "add",
            "--match",
            "target=api",
            "--for",
            "1h",
            "--reason",
            "failover test",
        ],
    ))
    .await);
    assert!(
        added.starts_with("maintenance window ") && added.contains("added: target=api until"),
        "{added}"
    );
    let window = id_of(&added);
    let doc: Value = serde_json::from_str(&ok(&output(cli(
        d,
        &server,
        &["maintenance", "list", "--json"],
    ))
    .await))
    .unwrap();
    assert_eq!(doc["configured"][0]["name"], "nightly-other", "{doc}");
    assert_eq!(doc["configured"][0]["timezone"], "Europe/Berlin");
    assert_eq!(doc["maintenance"][0]["id"].to_string(), window, "{doc}");
    assert_eq!(doc["maintenance"][0]["reason"], "failover test");
    // A silence is not ended as a window, nor a window expired as a silence.
    let out = output(cli(d, &server, &["maintenance", "end", &id])).await;
    failed_with(&out, 1, &format!("no maintenance {id}"));
    let out = output(cli(d, &server, &["silence", "expire", &window])).await;
    failed_with(&out, 1, &format!("no silence {window}"));

    // The dashboard's page shows the window and the one-off one.
    let page = get_body(port, "/silences").unwrap();
    assert!(page.contains("nightly-other"), "{page}");
    assert!(page.contains("failover test"), "{page}");

    let ended = ok(&output(cli(d, &server, &["maintenance", "end", &window])).await);
    assert_eq!(
        ended.trim(),
        format!("ended maintenance window {window} (target=api)")
    );
    let list = ok(&output(cli(d, &server, &["maintenance", "list", "--all"])).await);
    assert!(
        list.contains("failover test") && list.contains("ended"),
        "{list}"
    );

    let out = serve.terminate();
    assert!(out.status.success(), "{}", stderr(&out));
}
