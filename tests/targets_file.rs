//! Large target sets: a targets file (`targets_file:` in the config file, `--targets-file`)
//! read by the real binary, reloaded on SIGHUP and when it changes, and `uptimer probe -`
//! reading its URLs from stdin.

mod support;

use std::process::Stdio;

use support::*;

/// The targets of `check-config`'s output: (id, name, url, interval) each.
fn checked_targets(out: &std::process::Output) -> Vec<(String, String, String, String)> {
    let doc: serde_json::Value =
        serde_yaml_ng::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(out)));
    doc["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let s = |k: &str| t[k].as_str().unwrap_or_default().to_owned();
            (s("id"), s("name"), s("url"), s("interval"))
        })
        .collect()
}

#[test]
fn check_config_reads_the_targets_file_beside_the_config_and_the_flag_wins() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("conf");
    std::fs::create_dir(&conf).unwrap();
    std::fs::write(
        conf.join("uptimer.yaml"),
        "targets_file: fleet.jsonl\nprobe: {interval: 20}\ntargets:\n  - {id: home, url: 'http://127.0.0.1:9/'}\n",
    )
    .unwrap();
    std::fs::write(
        conf.join("fleet.jsonl"),
        "# the fleet\n\nhttp://127.0.0.1:9/a\n{\"id\": \"b\", \"name\": \"B\", \"url\": \"http://127.0.0.1:9/b\", \"interval\": 5}\n",
    )
    .unwrap();
    // Run from another directory: the file is found beside the config, not in the cwd.
    let mut c = uptimer(dir.path());
    c.args(["check-config", "--config", "conf/uptimer.yaml"]);
    let out = c.output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let targets = checked_targets(&out);
    let brief: Vec<(&str, &str, &str)> = targets
        .iter()
        .map(|(id, name, _, interval)| (id.as_str(), name.as_str(), interval.as_str()))
        .collect();
    // A URL line's id is a hash of its name and URL, as for PROBE_URLS.
    let hashed = targets[1].0.as_str();
    assert!(
        hashed.len() == 16 && hashed.bytes().all(|b| b.is_ascii_hexdigit()),
        "{hashed}"
    );
    assert_eq!(
        brief,
        [
            ("home", "http://127.0.0.1:9/", "20s"),
            (hashed, "http://127.0.0.1:9/a", "20s"),
            ("b", "B", "5s")
        ]
    );
    assert!(
        stdout(&out).contains("targets_file: conf/fleet.jsonl"),
        "{}",
        stdout(&out)
    );

    // --targets-file (relative to the cwd, as any path on the command line) wins.
    std::fs::write(dir.path().join("other.txt"), "http://127.0.0.1:9/other\n").unwrap();
    let mut c = uptimer(dir.path());
    c.args([
        "check-config",
        "--config",
        "conf/uptimer.yaml",
        "--targets-file",
        "other.txt",
    ]);
    let out = c.output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let urls: Vec<String> = checked_targets(&out).into_iter().map(|t| t.2).collect();
    assert_eq!(urls, ["http://127.0.0.1:9/", "http://127.0.0.1:9/other"]);

    // Without a config file, the flag alone is enough.
    let mut c = uptimer(dir.path());
    c.args(["check-config", "--targets-file", "other.txt"]);
    let out = c.output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(checked_targets(&out).len(), 1);
}

#[test]
fn a_bad_line_stops_check_config_and_run_naming_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("uptimer.yaml"),
        "targets_file: targets.jsonl\ntargets:\n  - {id: home, url: 'http://127.0.0.1:9/'}\n",
    )
    .unwrap();
    let cases = [
        (
            "http://127.0.0.1:9/a\nnot a url\n",
            "targets.jsonl line 2: expected",
        ),
        (
            "#\n\n{\"url\": \"http://127.0.0.1:9/\", \"colour\": 1}\n",
            "targets.jsonl line 3: colour: expected a target object",
        ),
        (
            "{\"url\": \"http://127.0.0.1:9/\"\n",
            "targets.jsonl line 1: expected a target object",
        ),
        (
            "http://127.0.0.1:9/a\n{\"id\": \"home\", \"url\": \"http://127.0.0.1:9/b\"}\n",
            "targets.jsonl line 2: expected a target different from targets[0]",
        ),
    ];
    for (text, said) in cases {
        std::fs::write(dir.path().join("targets.jsonl"), text).unwrap();
        for command in ["check-config", "run"] {
            let mut c = uptimer(dir.path());
            c.args([command, "--config", "uptimer.yaml"]);
            let out = c.output().unwrap();
            assert_eq!(out.status.code(), Some(2), "{command} {text:?}");
            assert!(
                stderr(&out).contains(said),
                "{command} {text:?}: {}",
                stderr(&out)
            );
        }
    }
}

/// Reads events until one of target `id` came.
fn event_of(p: &Running, id: &str) {
    p.wait_for_stdout(&format!("an event of {id}"), PATIENCE, |l| {
        serde_json::from_str::<serde_json::Value>(l).is_ok_and(|e| e["target"] == id)
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_and_a_change_rereads_the_targets_file_and_a_bad_one_changes_nothing() {
    let server = http_server().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("uptimer.yaml");
    let list = dir.path().join("targets.jsonl");
    let line = |id: &str| {
        format!(
            "{{\"id\": \"{id}\", \"url\": \"{}\"}}\n",
            server.url(&format!("/{id}"))
        )
    };
    std::fs::write(&cfg, "watch: false\nprobe: {interval: 0.3, timeout: 1}\n").unwrap();
    write_renamed(&list, &line("a"));
    let metrics_port = free_port();
    // Given by the flag, which a reload reads again too.
    let mut c = uptimer(dir.path());
    c.args([
        "run",
        "--config",
        "uptimer.yaml",
        "--targets-file",
        "targets.jsonl",
    ])
    .env("LOG_LEVEL", "info")
    .env("METRICS_LISTEN", format!("127.0.0.1:{metrics_port}"));
    let p = Running::spawn(c);
    let p = off_runtime(move || {
        event_of(&p, "a");
        p
    })
    .await;

    // Only the targets file changes: b comes, a goes, on SIGHUP.
    write_renamed(&list, &format!("# now\n{}", line("b")));
    hangup(p.id());
    let p = off_runtime(move || {
        p.wait_for_stderr("the reload", PATIENCE, |l| {
            l.contains("configuration reloaded") && l.contains("added=1") && l.contains("removed=1")
        });
        event_of(&p, "b");
        p
    })
    .await;

    // A bad line: the running targets stay, the failure is named and counted.
    write_renamed(&list, &format!("{}nope://x\n", line("b")));
    hangup(p.id());
    let p = off_runtime(move || {
        let refusal = p.wait_for_stderr("the refusal", PATIENCE, |l| {
            l.contains("configuration reload refused")
        });
        assert!(refusal.contains("targets.jsonl line 2"), "{refusal}");
        event_of(&p, "b");
        p
    })
    .await;
    let metrics = get_body(metrics_port, "/metrics").unwrap();
    let metric = |name: &str| {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} not in /metrics:\n{metrics}"))
            .trim()
            .parse::<f64>()
            .unwrap()
    };
    assert_eq!(metric("uptimer_config_reload_failures_total"), 1.0);
    assert_eq!(metric("uptimer_config_last_reload_success"), 0.0);
    assert_eq!(metric("uptimer_targets"), 1.0);
    let out = off_runtime(move || p.terminate()).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // Named in the config file and watched (no `watch: false`): a change of the targets file
    // alone reloads.
    std::fs::write(
        &cfg,
        "targets_file: targets.jsonl\nprobe: {interval: 0.3, timeout: 1}\n",
    )
    .unwrap();
    write_renamed(&list, &line("a"));
    let mut c = uptimer(dir.path());
    c.args(["run", "--config", "uptimer.yaml"])
        .env("LOG_LEVEL", "info");
    let p = Running::spawn(c);
    let p = off_runtime(move || {
        event_of(&p, "a");
        p
    })
    .await;
    write_renamed(&list, &format!("{}{}", line("a"), line("c")));
    let out = off_runtime(move || {
        p.wait_for_stderr("the reload on the change", PATIENCE, |l| {
            l.contains("configuration reloaded")
                && l.contains("file change")
                && l.contains("added=1")
        });
        event_of(&p, "c");
        p.terminate()
    })
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn probe_dash_reads_urls_from_stdin() {
    let server = http_server().await;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("urls.txt");
    std::fs::write(
        &input,
        format!(
            "# from a script\n{}\n\n  {}\n",
            server.url("/ok?stdin=1"),
            server.url("/ok?stdin=2")
        ),
    )
    .unwrap();
    let mut c = uptimer(dir.path());
    c.args(["probe", "--json", &server.url("/ok?arg=1"), "-"])
        .stdin(Stdio::from(std::fs::File::open(&input).unwrap()));
    let out = output(c).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mut urls: Vec<String> = json_lines(&out)
        .iter()
        .map(|e| e["url"].as_str().unwrap().to_owned())
        .collect();
    urls.sort();
    assert_eq!(
        urls,
        [
            server.url("/ok?arg=1"),
            server.url("/ok?stdin=1"),
            server.url("/ok?stdin=2")
        ]
    );
    assert_eq!(server.requests_to("/ok").len(), 3);

    // A bad line is named by its number; stdin with nothing to probe is an error too.
    for (text, said) in [
        (
            format!("{}\n\nftp://x/\n", server.url("/ok")),
            "stdin line 3: expected",
        ),
        ("# nothing\n\n".to_owned(), "no URLs to probe"),
    ] {
        std::fs::write(&input, text).unwrap();
        let mut c = uptimer(dir.path());
        c.args(["probe", "-"])
            .stdin(Stdio::from(std::fs::File::open(&input).unwrap()));
        let out = output(c).await;
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains(said), "{}", stderr(&out));
    }
}
