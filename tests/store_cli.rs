//! The embedded store's operations side, through the real binary: a WAL that is emptied when
//! `serve` or the benchmark's ingester stops on SIGTERM.

mod support;

use std::path::Path;

use support::*;

fn wal_bytes(store: &Path) -> Option<u64> {
    let mut wal = store.as_os_str().to_owned();
    wal.push("-wal");
    std::fs::metadata(wal).ok().map(|m| m.len())
}

fn generate(dir: &Path, name: &str, targets: &str) {
    let mut c = uptimer(dir);
    c.args([
        "bench-store",
        "generate",
        "--path",
        name,
        "--targets",
        targets,
        "--days",
        "3",
        "--raw-days",
        "1",
        "--interval",
        "300",
    ]);
    let out = c.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn serve_leaves_no_wal_behind_when_stopped_with_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // Probes its own /healthz five times a second, and the test reads the events it stored.
    let mut c = uptimer(dir.path());
    c.args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("PROBE_URLS", format!("http://127.0.0.1:{port}/healthz"))
        .env("PROBE_INTERVAL", "0.2")
        .env("SQLITE_PATH", "store.sqlite3");
    let p = start_serve(c);
    let store = dir.path().join("store.sqlite3");
    let targets = wait_for("a target via the API", PATIENCE, || {
        get_body(port, "/api/v1/targets").filter(|b| b.contains("/healthz"))
    });
    let v: serde_json::Value = serde_json::from_str(&targets).unwrap();
    let id = v["targets"][0]["id"].as_str().unwrap().to_owned();
    wait_for("ten stored events", PATIENCE, || {
        let body = get_body(port, &format!("/api/v1/targets/{id}/events?limit=10"))?;
        let v: serde_json::Value = serde_json::from_str(&body).ok()?;
        (v["events"].as_array()?.len() >= 10).then_some(())
    });
    assert!(
        wal_bytes(&store).unwrap_or(0) > 0,
        "the WAL is in use while serving"
    );
    let out = p.terminate();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        matches!(wal_bytes(&store), None | Some(0)),
        "WAL left: {:?} bytes",
        wal_bytes(&store)
    );
}

#[test]
fn the_benchmarks_serve_and_ingester_leave_no_wal_behind_when_stopped_with_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), "bench.sqlite3", "20");
    let store = dir.path().join("bench.sqlite3");
    assert!(
        matches!(wal_bytes(&store), None | Some(0)),
        "generate closes"
    );
    let port = free_port();
    let mut c = uptimer(dir.path());
    c.args([
        "serve",
        "--store",
        "bench.sqlite3",
        "--listen",
        &format!("127.0.0.1:{port}"),
    ]);
    let serve = start_serve(c);
    let mut c = uptimer(dir.path());
    c.args([
        "bench-store",
        "ingest",
        "--path",
        "bench.sqlite3",
        "--targets",
        "20",
        "--rate",
        "500",
        "--seconds",
        "120",
    ]);
    let ingest = Running::spawn(c);
    // The dashboard reads while the ingester writes.
    wait_for("events via the API", PATIENCE, || {
        get_body(port, "/api/v1/targets/bench-00003/events?limit=1")
            .filter(|b| b.contains("\"uuid\""))
    });
    wait_for("a WAL in use", PATIENCE, || {
        (wal_bytes(&store).unwrap_or(0) > 0).then_some(())
    });
    let out = ingest.terminate();
    assert!(out.status.success(), "{}", stderr(&out));
    let out = serve.terminate();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        matches!(wal_bytes(&store), None | Some(0)),
        "WAL left: {:?} bytes",
        wal_bytes(&store)
    );
}
