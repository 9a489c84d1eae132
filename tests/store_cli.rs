//! The embedded store's operations side, through the real binary: `uptimer store stats` and
//! `store compact` on real files, and a WAL that is emptied when `serve` or the benchmark's
//! ingester stops on SIGTERM.

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

fn run(dir: &Path, args: &[&str]) -> std::process::Output {
    let mut c = uptimer(dir);
    c.args(args);
    c.output().unwrap()
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
    let events = || {
        get_body(port, "/api/v1/targets/bench-00003/events?limit=1000")
            .map(|b| b.matches("\"uuid\"").count())
    };
    let generated = wait_for("events via the API", PATIENCE, events);
    let ingest = Running::spawn(c);
    // The dashboard reads while the ingester writes (and the ingester is running, its signal
    // handler in place, once its events show).
    wait_for("the ingester's events via the API", PATIENCE, || {
        events().filter(|n| *n > generated)
    });
    wait_for("a WAL in use", PATIENCE, || {
        (wal_bytes(&store).unwrap_or(0) > 0).then_some(())
    });
    let out = ingest.terminate();
    assert!(out.status.success(), "{}", stderr(&out));
    let printed = stdout(&out);
    assert!(printed.contains("µs/event"), "CPU per event: {printed}");
    let out = serve.terminate();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        matches!(wal_bytes(&store), None | Some(0)),
        "WAL left: {:?} bytes",
        wal_bytes(&store)
    );
}

#[test]
fn store_stats_prints_sizes_per_level_and_bytes_per_event_as_text_and_json() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), "s.sqlite3", "5");
    let out = run(
        dir.path(),
        &["store", "stats", "--path", "s.sqlite3", "--json"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["targets"], 5);
    let events = s["raw_events"].as_u64().unwrap();
    assert!(events > 0, "{s}");
    let levels = s["levels"].as_array().unwrap();
    let names: Vec<&str> = levels
        .iter()
        .map(|l| l["level"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["raw", "rollups", "targets", "other"]);
    let raw = levels[0]["bytes"].as_u64().unwrap();
    let per_event = s["bytes_per_raw_event"].as_f64().unwrap();
    assert!((per_event - raw as f64 / events as f64).abs() < 1e-6, "{s}");
    assert!(s["rollup_bytes_per_target_day"].as_f64().unwrap() > 0.0);
    let file = std::fs::metadata(dir.path().join("s.sqlite3"))
        .unwrap()
        .len();
    assert_eq!(s["file_bytes"], file);
    assert!(s["used_bytes"].as_u64().unwrap() <= s["total_bytes"].as_u64().unwrap());

    // The table for people; the store found through the settings when --path is left out.
    let mut c = uptimer(dir.path());
    c.args(["store", "stats"]).env("SQLITE_PATH", "s.sqlite3");
    let out = c.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for line in [
        "raw events",
        "  event_blocks (table)",
        "rollups",
        "  rollup_hour (table)",
        "targets, state, incidents",
        "bytes per raw event",
        "rollup bytes per target-day",
    ] {
        assert!(text.contains(line), "{line:?} in:\n{text}");
    }
}

#[test]
fn store_stats_never_creates_or_migrates_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["store", "stats", "--path", "none.sqlite3"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("none.sqlite3: no such store file"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.path().join("none.sqlite3").exists());

    generate(dir.path(), "old.sqlite3", "2");
    let old = dir.path().join("old.sqlite3");
    rusqlite::Connection::open(&old)
        .unwrap()
        .execute_batch("PRAGMA user_version = 1")
        .unwrap();
    let out = run(dir.path(), &["store", "stats", "--path", "old.sqlite3"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("written by an older uptimer (schema version 1;"),
        "{err}"
    );
    assert_eq!(user_version(&old), 1, "left as it was");
}

/// One number the store at `path` answers `sql` with.
fn query_i64(path: &Path, sql: &str) -> i64 {
    let c = rusqlite::Connection::open(path).unwrap();
    c.query_row(sql, [], |r| r.get(0)).unwrap()
}

fn user_version(path: &Path) -> i64 {
    query_i64(path, "PRAGMA user_version")
}

#[test]
fn store_compact_refuses_while_serve_has_the_store_open_then_shrinks_it() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), "c.sqlite3", "10");
    let port = free_port();
    let mut c = uptimer(dir.path());
    c.args([
        "serve",
        "--store",
        "c.sqlite3",
        "--listen",
        &format!("127.0.0.1:{port}"),
    ]);
    let serve = start_serve(c);
    let before = std::fs::read(dir.path().join("c.sqlite3")).unwrap();
    let out = run(dir.path(), &["store", "compact", "--path", "c.sqlite3"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("another process has the store open"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read(dir.path().join("c.sqlite3")).unwrap(), before);
    // The dashboard still answers from it.
    assert!(get_body(port, "/api/v1/targets").is_some_and(|b| b.contains("bench-00001")));
    let out = serve.terminate();
    assert!(out.status.success(), "{}", stderr(&out));

    let stats = |dir: &Path| -> serde_json::Value {
        let out = run(dir, &["store", "stats", "--path", "c.sqlite3", "--json"]);
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let s = stats(dir.path());
    let out = run(dir.path(), &["store", "compact", "--path", "c.sqlite3"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let said = stdout(&out);
    assert!(said.starts_with("compacted c.sqlite3: "), "{said}");
    assert!(said.contains(" before (file, -wal, -shm), "), "{said}");
    let after = stats(dir.path());
    assert_eq!(after["raw_events"], s["raw_events"]);
    assert_eq!(after["target_days"], s["target_days"]);
    assert_eq!(after["free_pages"], 0);
    assert!(after["file_bytes"].as_u64() <= s["file_bytes"].as_u64());
}

#[test]
fn check_config_shows_the_size_cap_and_a_bad_one_stops_serve_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = uptimer(dir.path());
    c.args(["check-config", "--for", "serve"])
        .env("SQLITE_MAX_BYTES", "2GB");
    let out = c.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("max_size: 2000000000 bytes (1.86 GiB)"),
        "{text}"
    );

    let mut c = uptimer(dir.path());
    c.arg("serve").env("SQLITE_MAX_BYTES", "5MB");
    let out = c.output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("SQLITE_MAX_BYTES: expected a size of at least 10 MiB"),
        "{err}"
    );
    assert!(err.contains("got \"5MB\""), "{err}");
}

/// The oldest raw hour the store keeps, in microseconds.
fn oldest_block(path: &Path) -> i64 {
    query_i64(path, "SELECT min(hour) FROM event_blocks")
}

#[test]
fn run_with_writers_sqlite_prunes_what_is_past_retention_even_when_probing_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = uptimer(dir.path());
    c.args([
        "bench-store",
        "generate",
        "--path",
        "store.sqlite3",
        "--targets",
        "5",
        "--days",
        "3",
        "--raw-days",
        "3",
        "--interval",
        "300",
    ]);
    let out = c.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let store = dir.path().join("store.sqlite3");
    let day = 24 * 3600 * 1_000_000_i64;
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_micros() as i64
    };
    assert!(oldest_block(&store) < now() - 2 * day, "three raw days");

    // One round against a closed port, as a cron job would run it, keeping one raw day.
    let mut c = uptimer(dir.path());
    c.args(["run"])
        .env("PROBE_URLS", format!("http://{}/", closed_port()))
        .env("PROBE_INTERVAL", "-1")
        .env("WRITER_PLUGIN", "writers.sqlite")
        .env("SQLITE_PATH", "store.sqlite3")
        .env("SQLITE_RETENTION_EVENTS_DAYS", "1");
    let out = c.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let oldest = oldest_block(&store);
    assert!(
        oldest >= now() - day - 2 * 3600 * 1_000_000,
        "raw hours older than a day are gone: oldest {} h ago\n{}",
        (now() - oldest) / 3_600_000_000,
        stderr(&out)
    );
    assert_eq!(
        wal_bytes(&store).unwrap_or(0),
        0,
        "closed with its WAL emptied"
    );
}
