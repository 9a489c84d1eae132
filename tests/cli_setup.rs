//! The binary as a new user meets it in the first hour: `check-config` agrees with the command
//! it precedes, `validate` reads files, `schema` forgives case, `probe` streams to a terminal
//! within its width, and the Docker entrypoint passes any command through.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};

use support::*;

#[test]
fn check_config_without_targets_fails_as_run_does() {
    let dir = tempfile::tempdir().unwrap();
    let run = uptimer(dir.path()).arg("run").output().unwrap();
    let check = uptimer(dir.path()).arg("check-config").output().unwrap();
    assert_eq!(run.status.code(), Some(2), "{}", stderr(&run));
    assert_eq!(check.status.code(), Some(2), "{}", stdout(&check));
    assert!(stderr(&run).contains("no targets"), "{}", stderr(&run));
    assert_eq!(stderr(&check), stderr(&run));
    // `serve` without targets serves the dashboard only: that is no error for it.
    let serve = uptimer(dir.path())
        .args(["check-config", "--for", "serve"])
        .output()
        .unwrap();
    assert_eq!(serve.status.code(), Some(0), "{}", stderr(&serve));
}

#[test]
fn check_config_shows_the_writer_of_the_command_it_checks_for() {
    let dir = tempfile::tempdir().unwrap();
    let check = |args: &[&str], writer: Option<&str>| {
        let mut c = uptimer(dir.path());
        c.arg("check-config")
            .args(args)
            .env("PROBE_URLS", "http://127.0.0.1:9/");
        if let Some(w) = writer {
            c.env("WRITER_PLUGIN", w);
        }
        let out = c.output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let doc: serde_yaml_ng::Value = serde_yaml_ng::from_slice(&out.stdout).unwrap();
        let writers: Vec<String> = serde_yaml_ng::from_value(doc["writers"].clone()).unwrap();
        (writers, stdout(&out))
    };
    let (writers, text) = check(&[], None);
    assert_eq!(writers, ["writers.stdout"]);
    // The output says what serve would do differently.
    assert!(
        text.contains("serve") && text.contains("writers.sqlite"),
        "{text}"
    );
    assert_eq!(check(&["--for", "serve"], None).0, ["writers.sqlite"]);
    assert_eq!(check(&["--for", "run"], None).0, ["writers.stdout"]);
    // A chosen writer is every command's writer.
    let (writers, text) = check(&["--for", "serve"], Some("writers.dummy"));
    assert_eq!(writers, ["writers.dummy"]);
    assert!(!text.contains("writers.sqlite"), "{text}");
}

#[test]
fn check_config_refuses_an_unknown_log_level_and_warns_about_timeouts() {
    let dir = tempfile::tempdir().unwrap();
    let out = uptimer(dir.path())
        .arg("check-config")
        .env("PROBE_URLS", "http://127.0.0.1:9/")
        .env("LOG_LEVEL", "infoo")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.starts_with("uptimer: LOG_LEVEL: expected a level (error, warn, info, debug, trace"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");

    let out = uptimer(dir.path())
        .arg("check-config")
        .env("PROBE_URLS", "http://127.0.0.1:9/")
        .env("LOG_LEVEL", "warning")
        .env("PROBE_INTERVAL", "5")
        .env("PROBE_TIMEOUT", "10")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("log_level: warn\n"),
        "{}",
        stdout(&out)
    );
    let err = stderr(&out);
    assert!(
        err.contains("warning: PROBE_URLS[0]")
            && err.contains("timeout 10s")
            && err.contains("interval 5s"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn run_logs_the_timeout_warning_at_startup() {
    let server = http_server().await;
    let dir = tempfile::tempdir().unwrap();
    let mut c = uptimer(dir.path());
    c.arg("run")
        .env("PROBE_URLS", server.url("/ok"))
        .env("PROBE_INTERVAL", "-1")
        .env("PROBE_TIMEOUT", "2");
    let out = output(c).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stderr(&out).contains("timeout 2s"), "{}", stderr(&out));
    // Interval 1 s, timeout 2 s: warned once, then probing goes on.
    let mut c = uptimer(dir.path());
    c.arg("run")
        .env("PROBE_URLS", server.url("/ok"))
        .env("PROBE_INTERVAL", "1")
        .env("PROBE_TIMEOUT", "2");
    let p = Running::spawn(c);
    let line = off_runtime(move || p.wait_for_stderr("a log line", PATIENCE, |_| true)).await;
    assert!(
        line.contains("WARN") && line.contains("timeout 2s") && line.contains("interval 1s"),
        "{line}"
    );
}

#[test]
fn a_config_file_in_toml_named_yaml_is_reported_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("uptimer.yaml");
    std::fs::write(&path, "[[targets]]\nurl = \"http://127.0.0.1:9/\"\n").unwrap();
    let out = uptimer(dir.path())
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("is TOML") && err.contains(".toml"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

const GOOD: &str = r#"{"schema_title":"DummyEvent","schema_version":"0.1.0","uuid":"3f2a1b0c-9d8e-4f7a-8b6c-5d4e3f2a1b0c","event_time":"2021-01-15T12:34:56+00:00","target":"t","reader":"r","integer_value":1,"float_value":2}"#;

#[test]
fn validate_reads_files_and_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.jsonl"), format!("{GOOD}\n{GOOD}\n")).unwrap();
    std::fs::write(dir.path().join("b.jsonl"), format!("{GOOD}\nnot json\n")).unwrap();
    let out = uptimer(dir.path())
        .args(["validate", "a.jsonl", "b.jsonl"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("b.jsonl:2: not JSON"), "{text}");
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        stderr(&out).contains("3 valid, 1 invalid"),
        "{}",
        stderr(&out)
    );

    let out = uptimer(dir.path())
        .args(["validate", "a.jsonl"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let out = uptimer(dir.path())
        .args(["validate", "a.jsonl", "missing.jsonl"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("missing.jsonl"), "{}", stderr(&out));
}

#[test]
fn schema_titles_are_case_insensitive() {
    let dir = tempfile::tempdir().unwrap();
    for title in ["probeevent", "PROBEEVENT", "probe-event", "ProbeEvent"] {
        let out = uptimer(dir.path())
            .args(["schema", title])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{title}: {}", stderr(&out));
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(doc["title"], "ProbeEvent");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn probe_streams_each_row_as_it_arrives_within_the_width() {
    let server = http_server().await;
    let dir = tempfile::tempdir().unwrap();
    let long = server.url(&format!("/ok?{}", "x".repeat(200)));
    let held = server.url("/gate");
    let mut c = uptimer(dir.path());
    c.args(["probe", "--stream", "--width", "80", "--timeout", "120"])
        .args([&held, &long]);
    let p = Running::spawn(c);
    let (p, header, first) = off_runtime(move || {
        let header = p.stdout_line(PATIENCE).expect("the header");
        let first = p.stdout_line(PATIENCE).expect("a row while /gate is held");
        (p, header, first)
    })
    .await;
    assert!(header.starts_with("STATUS"), "{header}");
    // The fast target's row is out, its URL cut to fit, while the first target is held.
    assert!(first.starts_with("up"), "{first}");
    assert!(first.contains('…'), "{first}");
    server.open_gate();
    let out = off_runtime(move || p.wait(PATIENCE)).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let rest: Vec<&str> = text.lines().skip(2).collect();
    assert!(rest[0].contains("/gate"), "{rest:?}");
    assert_eq!(rest[1..], ["2/2 up"]);
    for line in text.lines() {
        assert!(line.chars().count() <= 80, "{line}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn probe_width_comes_from_columns_when_asked_to_stream() {
    let server = http_server().await;
    let dir = tempfile::tempdir().unwrap();
    let long = server.url(&format!("/ok?{}", "y".repeat(300)));
    let mut c = uptimer(dir.path());
    c.args(["probe", "--stream", &long]).env("COLUMNS", "50");
    let out = output(c).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for line in stdout(&out).lines() {
        assert!(line.chars().count() <= 50, "{line}");
    }
    // Piped without --stream: the whole table at the end, URLs whole, as before.
    let mut c = uptimer(dir.path());
    c.args(["probe", &long]).env("COLUMNS", "50");
    let out = output(c).await;
    assert!(stdout(&out).contains(&long), "{}", stdout(&out));
}

/// On a real terminal (a pseudo-terminal 50 columns wide, made by util-linux's `script`) with
/// no COLUMNS exported, as shells leave it: the rows stream within the terminal's own width.
#[tokio::test(flavor = "multi_thread")]
async fn probe_on_a_terminal_keeps_lines_within_its_width() {
    let server = http_server().await;
    let dir = tempfile::tempdir().unwrap();
    let long = server.url(&format!("/ok?{}", "y".repeat(300)));
    let inner = format!(
        "stty rows 24 cols 50; exec '{}' probe '{long}'",
        env!("CARGO_BIN_EXE_uptimer")
    );
    let mut c = Command::new("script");
    c.args(["-qec", &inner, "/dev/null"])
        .current_dir(dir.path())
        .env_remove("COLUMNS")
        .stdin(Stdio::null());
    let out = output(c).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let screen = stdout(&out).replace('\r', "");
    assert!(
        screen.contains("1/1 up") && screen.contains('…'),
        "{screen}"
    );
    for line in screen.lines() {
        assert!(line.chars().count() <= 50, "{line:?} in\n{screen}");
    }
}

/// The image's entrypoint, run with a stand-in `uptimer` that records its arguments.
fn entrypoint(args: &[&str], writer: Option<&str>) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("calls");
    let fake = dir.path().join("uptimer");
    std::fs::write(
        &fake,
        format!("#!/bin/sh\necho \"$*\" >> '{}'\n", log.display()),
    )
    .unwrap();
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(&fake)
        .status()
        .unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("docker/entrypoint.sh");
    let mut c = Command::new("sh");
    c.arg(&script)
        .args(args)
        .env(
            "PATH",
            format!(
                "{}:{}",
                dir.path().display(),
                std::env::var("PATH").unwrap()
            ),
        )
        .env_remove("WRITER_PLUGIN");
    if let Some(w) = writer {
        c.env("WRITER_PLUGIN", w);
    }
    let status = c.status().unwrap();
    assert!(status.success());
    std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_docker_entrypoint_passes_serve_through_and_migrates_only_before_writing() {
    assert_eq!(
        entrypoint(&["serve", "--listen", "0.0.0.0:8080"], None),
        ["serve --listen 0.0.0.0:8080"]
    );
    // The image's default command, as the original image ran it: probe, events on stdout.
    assert_eq!(entrypoint(&["run"], None), ["run"]);
    assert_eq!(
        entrypoint(&["run"], Some("writers.stdout,writers.postgres")),
        ["migrate up", "run"]
    );
    // Serving a store read-only writes nothing, so it migrates nothing.
    assert_eq!(
        entrypoint(
            &["serve", "--store", "postgres://db/x"],
            Some("writers.postgres")
        ),
        ["serve --store postgres://db/x"]
    );
    assert_eq!(
        entrypoint(&["serve"], Some("writers.postgres")),
        ["migrate up", "serve"]
    );
    // `docker run IMAGE uptimer serve` works too.
    assert_eq!(entrypoint(&["uptimer", "serve"], None), ["serve"]);
    // Commands that write nothing do not touch the database.
    assert_eq!(
        entrypoint(&["check-config"], Some("writers.postgres")),
        ["check-config"]
    );
    assert_eq!(
        entrypoint(&["probe", "https://example.org"], Some("writers.postgres")),
        ["probe https://example.org"]
    );
    let dockerfile =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Dockerfile")).unwrap();
    assert!(dockerfile.contains("CMD [\"run\"]"), "{dockerfile}");
    assert!(dockerfile.contains("EXPOSE 8080"), "{dockerfile}");
}
