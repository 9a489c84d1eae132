//! The incidents people write on status pages, through a real `uptimer serve` (SQLite store,
//! a status page `main`, the dashboard behind a token): `uptimer status incident` opens,
//! updates, resolves and lists one; a second `resolve` is refused with the server's words;
//! bad usage exits 2 before anything is sent, the server's refusals 1; the public page shows
//! what was written; a restart keeps it.

mod support;

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use support::bin::{failed_with, ok, output, serve_u_yaml, start_serve, uptimer};
use support::net::{free_port, get_body};
use support::server::http_server;
use support::wait::{PATIENCE, wait_for_async};

const TOKEN: &str = "dashboard-secret";

/// `uptimer status incident ARGS --server SERVER` in `dir`, with the dashboard's token.
fn incident(dir: &Path, server: &str, args: &[&str]) -> Command {
    let mut c = uptimer(dir);
    c.args(["status", "incident"])
        .args(args)
        .args(["--server", server])
        .env("WEB_AUTH_TOKEN", TOKEN);
    c
}

fn serve(dir: &Path, port: u16) -> Command {
    let mut c = serve_u_yaml(dir, port);
    c.env("WEB_AUTH_TOKEN", TOKEN);
    c
}

#[tokio::test(flavor = "multi_thread")]
async fn status_incidents_are_opened_updated_resolved_and_listed_through_the_cli() {
    let target = http_server().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let port = free_port();
    let server = format!("http://127.0.0.1:{port}");
    let yaml = format!(
        "probe: {{interval: 1, timeout: 1}}\n\
         targets:\n  - {{id: api, url: '{api}'}}\n\
         status_pages:\n  - slug: main\n    title: Example Inc.\n    groups:\n      \
         - name: Core\n        components:\n          - {{target: api, name: API}}\n          \
         - {{target: api, name: Web site}}\n",
        api = target.url("/ok"),
    );
    std::fs::write(d.join("u.yaml"), yaml).unwrap();
    let running = start_serve(serve(d, port));

    // Bad usage: nothing is sent, exit 2 with what is wrong.
    let open = [
        "open",
        "--page",
        "main",
        "--title",
        "Elevated API errors",
        "--impact",
        "major",
    ];
    let with = |extra: &[&'static str]| [&open[..], extra].concat();
    let out = output(incident(
        d,
        &server,
        &with(&["--component", "API", "--body", "b"]),
    ))
    .await;
    failed_with(&out, 2, "--component \"API\": expected NAME=STATUS");
    let out = output(incident(
        d,
        &server,
        &with(&["--component", "API=down", "--body", "b"]),
    ))
    .await;
    failed_with(&out, 2, "one of operational");
    let out = output(incident(d, &server, &with(&[]))).await;
    failed_with(&out, 2, "--body");
    let out = output(incident(d, &server, &["update", "1", "--body", "b"])).await;
    failed_with(&out, 2, "--status");
    // What only the server judges: its refusal, exit 1, in its words.
    let out = output(incident(
        d,
        &server,
        &with(&["--component", "Database=major_outage", "--body", "b"]),
    ))
    .await;
    failed_with(&out, 1, "page main has no component \"Database\"");
    let mut other = open.to_vec();
    other[2] = "other";
    other.extend(["--body", "b"]);
    let out = output(incident(d, &server, &other)).await;
    failed_with(&out, 1, "no status page \"other\" (pages: main)");
    // Without the dashboard's token.
    let mut anonymous = uptimer(d);
    anonymous.args([
        "status", "incident", "list", "--page", "main", "--server", &server,
    ]);
    failed_with(&output(anonymous).await, 1, "401");

    let opened = ok(&output(incident(
        d,
        &server,
        &with(&[
            "--component",
            "API=major_outage",
            "--body",
            "We are *looking* into it.",
            "--author",
            "ana",
        ]),
    ))
    .await);
    let id = opened
        .strip_prefix("status incident ")
        .and_then(|r| r.split(' ').next())
        .unwrap_or_else(|| panic!("{opened}"))
        .to_owned();
    assert_eq!(
        opened.trim(),
        format!(
            "status incident {id} opened on main: Elevated API errors (investigating, impact major)"
        )
    );

    std::fs::write(d.join("update.md"), "A bad deploy.\n\n- rolling back\n").unwrap();
    let updated = ok(&output(incident(
        d,
        &server,
        &[
            "update",
            &id,
            "--status",
            "identified",
            "--component",
            "API=partial_outage",
            "--component",
            "Web site=degraded_performance",
            "--body-file",
            "update.md",
        ],
    ))
    .await);
    assert_eq!(
        updated.trim(),
        format!("status incident {id} updated: identified (2 updates)")
    );

    // The public page shows it, without credentials.
    wait_for_async("the status page to list it", PATIENCE, async || {
        get_body(port, "/status/main/api/v2/incidents/unresolved.json")
            .filter(|b| b.contains("Elevated API errors"))
    })
    .await;

    let resolved = ok(&output(incident(d, &server, &["resolve", &id])).await);
    assert!(
        resolved.starts_with(&format!("status incident {id} resolved at 20")),
        "{resolved}"
    );
    assert!(resolved.trim_end().ends_with(" UTC"), "{resolved}");

    // A second resolve is refused: exit 1, and why.
    let again = output(incident(d, &server, &["resolve", &id, "--body", "Again."])).await;
    failed_with(&again, 1, "409 Conflict");
    failed_with(&again, 1, &format!("status incident {id} was resolved at"));
    failed_with(&again, 1, "open a new one");

    let listed = ok(&output(incident(d, &server, &["list", "--page", "main"])).await);
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 2, "{listed}");
    assert!(lines[0].starts_with("ID  STATUS"), "{listed}");
    assert!(lines[1].starts_with(&format!("{id} ")), "{listed}");
    for says in [
        "resolved",
        "major",
        "API=partial_outage Web site=degraded_performance",
        "Elevated API errors",
    ] {
        assert!(lines[1].contains(says), "{says}: {listed}");
    }
    let json = ok(&output(incident(d, &server, &["list", "--page", "main", "--json"])).await);
    let doc: Value = serde_json::from_str(&json).unwrap();
    let updates = doc["incidents"][0]["updates"].as_array().unwrap();
    let said: Vec<(&str, &str)> = updates
        .iter()
        .map(|u| (u["status"].as_str().unwrap(), u["body"].as_str().unwrap()))
        .collect();
    assert_eq!(
        said,
        [
            ("investigating", "We are *looking* into it."),
            ("identified", "A bad deploy.\n\n- rolling back"),
            ("resolved", "This incident has been resolved."),
        ]
    );
    assert_eq!(updates[0]["author"], "ana");

    // A restart keeps them.
    running.terminate();
    let _running = start_serve(serve(d, port));
    let listed = ok(&output(incident(d, &server, &["list", "--page", "main"])).await);
    assert!(listed.contains("Elevated API errors"), "{listed}");
    let one = ok(&output(incident(
        d,
        &server,
        &["list", "--page", "main", "--limit", "1"],
    ))
    .await);
    assert_eq!(one.lines().count(), 2, "a head and one incident: {one}");
}
