//! The `uptimer` binary end to end: exit codes, output formats, settings layers, shutdown.

mod support;

use std::io::Write;
use std::process::{Command, Stdio};

use support::*;

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn probe_exits_0_when_all_up_1_when_any_down_2_on_bad_usage() {
    let server = http_server().await;
    let dir = tmp();
    let mut c = uptimer(dir.path());
    c.args(["probe", &server.url("/ok"), &server.url("/ok?2")]);
    let out = output(c).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.starts_with("STATUS"), "{table}");
    assert!(table.contains("2/2 up"), "{table}");

    let mut c = uptimer(dir.path());
    c.args(["probe", &server.url("/ok"), &server.url("/status/503")]);
    let out = output(c).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("http_status"));
    // The table is the verdict: a one-shot probe logs no state change beside it.
    assert!(!stderr(&out).contains("target is down"), "{}", stderr(&out));

    for bad in [
        vec!["probe"],
        vec!["probe", "ftp://x.example/"],
        vec!["probe", "--timeout", "0", "http://x.example/"],
        vec!["nope"],
    ] {
        let mut c = uptimer(dir.path());
        c.args(&bad);
        let out = output(c).await;
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", stderr(&out));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn probe_condition_exits_0_when_met_1_when_not_2_when_unparsable() {
    let server = http_server().await;
    let dir = tmp();
    // A 500 with conditions that do not mention the status, and a degraded one: exit 0.
    let mut c = uptimer(dir.path());
    c.args([
        "probe",
        "--condition",
        "[RESPONSE_TIME] < 5000",
        "--condition",
        "[BODY] == any(status 500, hello uptimer)",
        "--degraded-if",
        "[RESPONSE_TIME] >= 0",
        &server.url("/status/500"),
        &server.url("/ok"),
    ]);
    let out = output(c).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let table = stdout(&out);
    assert!(table.contains("2/2 up"), "{table}");
    assert!(table.contains("degraded"), "{table}");

    // One condition fails on one URL: exit 1, the failed condition resolved in the table.
    let mut c = uptimer(dir.path());
    c.args([
        "probe",
        "--condition",
        "[STATUS] == 200",
        "--condition",
        "[RESPONSE_TIME] < 5000",
        &server.url("/ok"),
        &server.url("/status/503"),
    ]);
    let out = output(c).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let table = stdout(&out);
    assert!(
        table.contains("condition: [STATUS] (503) == 200"),
        "{table}"
    );
    assert!(table.contains("1/2 up"), "{table}");

    // Events carry the conditions, and EVENT_FORMAT=original leaves them out.
    let mut c = uptimer(dir.path());
    c.args([
        "probe",
        "--json",
        "--condition",
        "[STATUS] == 503",
        &server.url("/status/503"),
    ]);
    let out = output(c).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let e = &json_lines(&out)[0];
    uptimer::event::schema::validate_event(e).unwrap();
    assert_eq!(e["schema_version"], uptimer::event::ProbeEvent::VERSION);
    assert_eq!(e["conditions"][0]["condition"], "[STATUS] == 503");
    assert_eq!(e["conditions"][0]["success"], true);
    let mut c = uptimer(dir.path());
    c.env("EVENT_FORMAT", "original");
    c.args([
        "probe",
        "--json",
        "--regex",
        "status",
        "--condition",
        "[STATUS] == 200",
        "--degraded-if",
        "[RESPONSE_TIME] >= 0",
        &server.url("/status/503"),
    ]);
    let out = output(c).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let e = &json_lines(&out)[0];
    uptimer::event::schema::validate_event(e).unwrap();
    assert_eq!(e["schema_version"], "0.2.0");
    assert!(
        e.get("conditions").is_none() && e.get("degraded").is_none(),
        "{e}"
    );
    assert_eq!(e["matches_regex"], true, "matches_regex keeps its meaning");

    // A condition that cannot be parsed: exit 2, named on stderr.
    for flag in ["--condition", "--degraded-if"] {
        let mut c = uptimer(dir.path());
        c.args(["probe", flag, "[STATU] == 200", &server.url("/ok")]);
        let out = output(c).await;
        assert_eq!(out.status.code(), Some(2), "{flag}: {}", stderr(&out));
        assert!(stderr(&out).contains("[STATU] == 200"), "{}", stderr(&out));
        assert!(stderr(&out).contains(flag), "{}", stderr(&out));
        assert!(stdout(&out).is_empty(), "nothing probed");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn config_file_conditions_are_checked_at_startup_and_shown_by_check_config() {
    let server = http_server().await;
    let dir = tmp();
    let config = dir.path().join("uptimer.yaml");
    let write = |conditions: &str| {
        std::fs::write(
            &config,
            format!(
                "probe:\n  interval: -1\ntargets:\n  - name: api\n    url: http://{}/status/500\n    conditions: {conditions}\n    degraded_if: ['[RESPONSE_TIME] > 60000']\n",
                server.addr
            ),
        )
        .unwrap();
    };
    write("['[STATUS] == 500', '[BODY] == status 500']");
    let mut c = uptimer(dir.path());
    c.args(["check-config", "--config"]).arg(&config);
    let out = output(c).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("'[BODY] == status 500'") || text.contains("\"[BODY] == status 500\""),
        "{text}"
    );
    assert!(text.contains("degraded_if"), "{text}");

    let mut c = uptimer(dir.path());
    c.args(["run", "--config"]).arg(&config);
    let out = output(c).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let e = &json_lines(&out)[0];
    assert_eq!(
        (&e["up"], &e["degraded"]),
        (&true.into(), &false.into()),
        "{e}"
    );
    assert_eq!(e["conditions"].as_array().map(Vec::len), Some(2), "{e}");

    write("['[STATUS] == 500', '[STATUS] =! 500']");
    for command in ["check-config", "run"] {
        let mut c = uptimer(dir.path());
        c.args([command, "--config"]).arg(&config);
        let out = output(c).await;
        assert_eq!(out.status.code(), Some(2), "{command}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("targets[0].conditions[1]") && err.contains("[STATUS] =! 500"),
            "{err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn probe_json_emits_valid_events_in_one_line_each() {
    let server = http_server().await;
    let dir = tmp();
    let mut c = uptimer(dir.path());
    c.args([
        "probe",
        "--json",
        "--regex",
        "hello",
        &server.url("/ok"),
        &server.url("/status/404"),
    ]);
    let out = output(c).await;
    assert_eq!(out.status.code(), Some(1));
    let events = json_lines(&out);
    assert_eq!(events.len(), 2);
    for e in &events {
        uptimer::event::schema::validate_event(e).unwrap();
        assert_eq!(e["regex"], "hello");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn probe_handles_a_thousand_urls_concurrently() {
    let server = http_server().await;
    let dir = tmp();
    let mut c = uptimer(dir.path());
    c.args(["probe", "--json", "--timeout", "120"]);
    c.args((0..1000).map(|i| server.url(&format!("/gate?n={i}"))));
    let run = tokio::spawn(output(c));
    // The gate holds every probe until it opens: one after another, only one would ever arrive.
    wait_for_async(
        "hundreds of probes in flight at once",
        PATIENCE,
        async || (server.at_gate() >= 500).then_some(()),
    )
    .await;
    server.open_gate();
    let out = run.await.unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json_lines(&out).len(), 1000);
    assert_eq!(server.at_gate(), 1000);
}

#[tokio::test(flavor = "multi_thread")]
async fn without_subcommand_it_runs_from_the_environment_like_the_original() {
    let server = http_server().await;
    let dir = tmp();
    let mut c = uptimer(dir.path());
    c.env(
        "PROBE_URLS",
        format!("[{}, {}]", server.url("/ok"), server.url("/status/500")),
    )
    .env("PROBE_REGEXES", "hello")
    .env("PROBE_INTERVAL", "-1");
    let out = output(c).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let events = json_lines(&out);
    assert_eq!(events.len(), 2);
    let by_path = |p: &str| events.iter().find(|e| e["path"] == p).unwrap();
    assert_eq!(by_path("/ok")["matches_regex"], true);
    assert_eq!(by_path("/status/500")["status_code"], 500);
    assert!(stderr(&out).contains("uptimer started"));
}

#[tokio::test(flavor = "multi_thread")]
async fn configuration_env_is_loaded_and_the_environment_wins() {
    let server = http_server().await;
    let dir = tmp();
    std::fs::write(
        dir.path().join("configuration.env"),
        format!(
            "PROBE_URLS={}\nPROBE_INTERVAL=-1\nSTDOUT_PRETTY=true\nPROBE_TIMEOUT=ten\n",
            server.url("/ok")
        ),
    )
    .unwrap();
    let mut c = uptimer(dir.path());
    c.env("PROBE_TIMEOUT", "5");
    let out = output(c).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("{\n    \"schema_title\": \"ProbeEvent\""),
        "{text}"
    );
    // Without the override the file's bad value stops startup with one clear line.
    let out = output(uptimer(dir.path())).await;
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out).trim(),
        "uptimer: PROBE_TIMEOUT: expected a positive number of seconds (fractions allowed) or a duration such as 500ms, 5s, 1m30s, got \"ten\""
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn run_with_a_config_file_and_check_config_masks_secrets() {
    let server = http_server().await;
    let dir = tmp();
    let config = dir.path().join("uptimer.yaml");
    std::fs::write(
        &config,
        format!(
            "probe:\n  interval: -1\ntargets:\n  - name: api\n    url: http://user:hunter2@{}/echo\n    headers: {{Authorization: Bearer t0psecret, X-Env: prod}}\n    tags: [prod]\n",
            server.addr
        ),
    )
    .unwrap();
    let mut c = uptimer(dir.path());
    c.args(["check-config", "--config"]).arg(&config);
    let out = output(c).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !text.contains("hunter2") && !text.contains("t0psecret"),
        "{text}"
    );
    assert!(text.contains("X-Env") || text.contains("x-env"), "{text}");
    assert!(text.contains("name: api"), "{text}");

    let mut c = uptimer(dir.path());
    c.args(["run", "--config"]).arg(&config);
    let out = output(c).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let events = json_lines(&out);
    assert_eq!(events[0]["name"], "api");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("hunter2"));
    assert!(!stderr(&out).contains("hunter2"));
    assert_eq!(server.requests()[0].header("x-env"), Some("prod"));

    std::fs::write(
        &config,
        "targets:\n  - url: http://a.example\n    timout: 3\n",
    )
    .unwrap();
    let mut c = uptimer(dir.path());
    c.args(["check-config", "--config"]).arg(&config);
    let out = output(c).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("timout"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_finishes_the_probe_in_flight_and_flushes_every_event() {
    let server = http_server().await;
    let dir = tmp();
    let mut c = uptimer(dir.path());
    c.env(
        "PROBE_URLS",
        format!("[{}, {}]", server.url("/ok"), server.url("/gate")),
    )
    .env("PROBE_INTERVAL", "0.2")
    .env("LOG_LEVEL", "info");
    let p = Running::spawn(c);
    // Rounds of /ok go on while the /gate probe is held in flight.
    wait_for_async(
        "four probes of /ok and one at the gate",
        PATIENCE,
        async || (server.requests_to("/ok").len() >= 4 && server.at_gate() == 1).then_some(()),
    )
    .await;
    sigterm(p.id());
    let p = off_runtime(move || {
        p.wait_for_stderr("the shutdown", PATIENCE, |l| l.contains("shutting down"));
        p
    })
    .await;
    // Only now does the probe in flight get its answer: shutdown waited for it.
    server.open_gate();
    let out = off_runtime(move || p.wait(PATIENCE)).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let events = json_lines(&out);
    let fast = events.iter().filter(|e| e["path"] == "/ok").count();
    let held: Vec<_> = events.iter().filter(|e| e["path"] == "/gate").collect();
    assert!(fast >= 4, "fast={fast}");
    assert_eq!(held.len(), 1, "the probe in flight at SIGTERM is written");
    assert_eq!(held[0]["status_code"], 200, "{}", held[0]);
    // Every request the server answered became an event on stdout.
    assert_eq!(
        fast + held.len(),
        server.request_count(),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("uptimer stopped"));
}

#[tokio::test(flavor = "multi_thread")]
async fn dummy_reader_and_writers_fan_out() {
    let dir = tmp();
    let mut c = uptimer(dir.path());
    c.env("READER_PLUGIN", "readers.dummies.dummy_events")
        .env("WRITER_PLUGIN", "writers.stdout,writers.dummy")
        .env("PROBE_INTERVAL", "-1")
        .env("QUEUE_PLUGIN", "queues.memory");
    let out = output(c).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let events = json_lines(&out);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["schema_title"], "DummyEvent");
    uptimer::event::schema::validate_event(&events[0]).unwrap();
    assert!(stderr(&out).contains("QUEUE_PLUGIN"));
}

#[test]
fn schema_lists_and_prints_and_validate_reports_line_numbers() {
    let dir = tmp();
    let out = uptimer(dir.path()).arg("schema").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("ProbeEvent"));
    let out = uptimer(dir.path())
        .args(["schema", "ProbeEvent"])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["title"], "ProbeEvent");
    let out = uptimer(dir.path())
        .args(["schema", "Nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));

    let good = r#"{"schema_title":"DummyEvent","schema_version":"0.1.0","uuid":"3f2a1b0c-9d8e-4f7a-8b6c-5d4e3f2a1b0c","event_time":"2021-01-15T12:34:56+00:00","target":"t","reader":"r","integer_value":1,"float_value":2}"#;
    let input = format!(
        "{good}\nnot json\n\n{}\n",
        good.replace("\"reader\":\"r\",", "")
    );
    let mut child = uptimer(dir.path())
        .arg("validate")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("line 2: not JSON"), "{text}");
    assert!(
        text.contains("line 4:") && text.contains("reader"),
        "{text}"
    );
    assert!(!text.contains("line 1:"), "{text}");
    assert!(stderr(&out).contains("1 valid, 2 invalid"));
}

#[test]
fn help_lists_every_command_and_each_has_its_own_help() {
    let dir = tmp();
    let out = uptimer(dir.path()).arg("--help").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    // The names in the Commands section, not words of the about text above it (which says
    // "probes" and "run" too).
    let (_, section) = text
        .split_once("\nCommands:\n")
        .unwrap_or_else(|| panic!("no Commands section: {text}"));
    let listed: Vec<&str> = section
        .lines()
        .take_while(|l| l.starts_with("  "))
        .filter(|l| !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    for cmd in [
        "run",
        "serve",
        "probe",
        "check-config",
        "schema",
        "validate",
        "migrate",
        "healthcheck",
        "silence",
        "maintenance",
    ] {
        assert!(listed.contains(&cmd), "{cmd} is not listed: {text}");
        let own = uptimer(dir.path()).args([cmd, "--help"]).output().unwrap();
        assert_eq!(own.status.code(), Some(0), "{cmd}: {}", stderr(&own));
        assert!(
            stdout(&own).contains(&format!("Usage: uptimer {cmd}")),
            "{cmd}: {}",
            stdout(&own)
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bin_single_instance_sources_configuration_env_and_probes() {
    let server = http_server().await;
    // The scripts work from the repository root: give them a copy with our configuration.env.
    let dir = tmp();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    for f in ["single_instance.sh", "common.sh"] {
        std::fs::copy(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("bin")
                .join(f),
            bin.join(f),
        )
        .unwrap();
    }
    std::fs::write(
        dir.path().join("configuration.env"),
        format!("PROBE_URLS='[{}]'\nPROBE_INTERVAL=-1\n", server.url("/ok")),
    )
    .unwrap();
    let mut c = uptimer(dir.path());
    c.env("UPTIMER", env!("CARGO_BIN_EXE_uptimer"));
    let mut c2 = Command::new("sh");
    c2.arg(bin.join("single_instance.sh"))
        .current_dir(dir.path())
        .env("UPTIMER", env!("CARGO_BIN_EXE_uptimer"));
    for (k, v) in c.get_envs() {
        match v {
            Some(v) => c2.env(k, v),
            None => c2.env_remove(k),
        };
    }
    let out = output(c2).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let events = json_lines(&out);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["status_code"], 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn check_config_shows_each_kind_with_its_own_settings_and_masks_push_tokens() {
    let dir = tmp();
    let config = dir.path().join("uptimer.yaml");
    std::fs::write(
        &config,
        "targets:\n  - {name: db, url: 'tcp://127.0.0.1:5432', tcp: {query_response: [{expect: '^OK'}]}}\n  - {name: resolver, url: '127.0.0.1:5353', dns: {query_name: example.org, query_type: MX}}\n  - {name: backup, url: 'push://backup', token: s3cr3t-t0ken-0123456789}\n",
    )
    .unwrap();
    let mut c = uptimer(dir.path());
    c.args(["check-config", "--for", "serve", "--config"])
        .arg(&config);
    let out = output(c).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("s3cr3t"), "{text}");
    for expected in [
        "kind: tcp",
        "expect: ^OK",
        "kind: dns",
        "query_type: MX",
        "kind: push",
        "token: '***'",
    ] {
        assert!(text.contains(expected), "{expected} in {text}");
    }
    // An HTTP setting is not shown for a check that has none.
    let db = text.split("name: db").nth(1).unwrap_or_default();
    assert!(
        !db.split("name: resolver")
            .next()
            .unwrap_or_default()
            .contains("method:"),
        "{text}"
    );
}

/// A TCP server that greets every connection with `banner` and closes it.
async fn banner_server(banner: &'static str) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        while let Ok((mut s, _)) = listener.accept().await {
            let _ = s.write_all(banner.as_bytes()).await;
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread")]
async fn probe_checks_every_kind_and_its_events_carry_their_own_objects() {
    let tcp = banner_server("+OK ready\r\n").await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let echo = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let udp = echo.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 512];
        for _ in 0..16 {
            let Ok((n, from)) = echo.recv_from(&mut buf).await else {
                return;
            };
            let _ = echo.send_to(&buf[..n], from).await;
        }
    });
    let dir = tmp();
    let mut c = uptimer(dir.path());
    c.args(["probe", "--json", "--timeout", "3"])
        .arg(format!("tcp://{tcp}"))
        .arg(format!("tcp://{closed}"))
        .arg(format!("udp://{udp}"))
        .arg("icmp://127.0.0.1");
    let out = output(c).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let events = json_lines(&out);
    assert_eq!(events.len(), 4, "{events:?}");
    let by_url = |prefix: &str| {
        events
            .iter()
            .find(|e| e["url"].as_str().is_some_and(|u| u.starts_with(prefix)))
            .unwrap_or_else(|| panic!("no event for {prefix}: {events:?}"))
    };
    for e in &events {
        uptimer::event::schema::validate_event(e).unwrap();
        assert_eq!(e["schema_version"], "0.6.0");
        // A one-shot probe belongs to no round.
        assert!(e.get("round").is_none(), "{e}");
        assert!(e["status_code"].is_null(), "{e}");
        assert_eq!(e["path"], "");
    }
    let up = by_url(&format!("tcp://{tcp}"));
    assert_eq!(
        (up["protocol"].as_str(), up["up"].as_bool()),
        (Some("tcp"), Some(true)),
        "{up}"
    );
    assert_eq!(up["port"], tcp.port());
    assert!(up["phases_ms"]["connect"].is_number(), "{up}");
    let refused = by_url(&format!("tcp://{closed}"));
    assert_eq!(refused["error_kind"], "connect_refused", "{refused}");
    let u = by_url("udp://");
    assert_eq!(
        (u["protocol"].as_str(), u["up"].as_bool()),
        (Some("udp"), Some(true)),
        "{u}"
    );
    let ping = by_url("icmp://");
    assert_eq!(
        (ping["protocol"].as_str(), ping["up"].as_bool()),
        (Some("icmp"), Some(true)),
        "{ping}"
    );
    assert!(ping["port"].is_null(), "{ping}");
    assert_eq!(
        (
            ping["icmp"]["sent"].as_u64(),
            ping["icmp"]["received"].as_u64()
        ),
        (Some(1), Some(1)),
        "{ping}"
    );
    assert_eq!(ping["icmp"]["loss_percent"], 0.0);

    // A DNS check asks the server its url names, raw.
    let dns = dns_server().await;
    let dir = tmp();
    let config = dir.path().join("dns.yaml");
    std::fs::write(
        &config,
        format!(
            "probe: {{interval: -1, timeout: 3}}\ntargets:\n  - {{name: a, url: '{dns}', dns: {{query_name: example.org, query_type: A}}, conditions: ['[DNS_ANSWERS] == 192.0.2.7']}}\n  - {{name: b, url: 'dns://{dns}', dns: {{query_name: example.org, valid_rcodes: [NXDOMAIN]}}}}\n"
        ),
    )
    .unwrap();
    let mut c = uptimer(dir.path());
    c.args(["run", "--config"]).arg(&config);
    let out = output(c).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // One round ends the run at once: the writers drain as soon as the scheduler is done,
    // without waiting for the shutdown timeout.
    assert!(
        !stderr(&out).contains("shutdown timeout"),
        "{}",
        stderr(&out)
    );
    let events = json_lines(&out);
    let a = events.iter().find(|e| e["name"] == "a").unwrap();
    uptimer::event::schema::validate_event(a).unwrap();
    assert_eq!(
        (a["protocol"].as_str(), a["up"].as_bool()),
        (Some("dns"), Some(true)),
        "{a}"
    );
    assert_eq!(a["port"], dns.port());
    assert_eq!(a["dns"]["rcode"], "NOERROR", "{a}");
    assert_eq!(a["dns"]["answers"][0]["data"], "192.0.2.7", "{a}");
    let b = events.iter().find(|e| e["name"] == "b").unwrap();
    assert_eq!(b["error_kind"], "dns_rcode", "{b}");
    assert_eq!(b["error"], "rcode NOERROR is not one of NXDOMAIN", "{b}");

    // A dialog that does not match: expect_mismatch, and the table says so.
    let dir = tmp();
    let config = dir.path().join("uptimer.yaml");
    std::fs::write(
        &config,
        format!(
            "probe: {{interval: -1, timeout: 3}}\ntargets:\n  - {{name: pop, url: 'tcp://{tcp}', tcp: {{query_response: [{{expect: '^\\+OK (\\w+)'}}, {{send: 'USER ${{1}}'}}]}}}}\n  - {{name: smtp, url: 'tcp://{tcp}', tcp: {{query_response: [{{expect: '^220'}}]}}}}\n"
        ),
    )
    .unwrap();
    let mut c = uptimer(dir.path());
    c.args(["run", "--config"]).arg(&config);
    let out = output(c).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let events = json_lines(&out);
    let pop = events.iter().find(|e| e["name"] == "pop").unwrap();
    assert_eq!(pop["up"], true, "{pop}");
    assert_eq!(pop["tcp"]["matched"][0], "+OK ready", "{pop}");
    let smtp = events.iter().find(|e| e["name"] == "smtp").unwrap();
    assert_eq!(smtp["error_kind"], "expect_mismatch", "{smtp}");
    assert!(smtp["error"].as_str().unwrap().contains("^220"), "{smtp}");
}

/// A DNS server on 127.0.0.1 that answers every query with one A record, 192.0.2.7.
async fn dns_server() -> std::net::SocketAddr {
    use hickory_proto::op::Message;
    use hickory_proto::rr::{RData, Record, rdata::A};
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        for _ in 0..16 {
            let Ok((n, from)) = socket.recv_from(&mut buf).await else {
                return;
            };
            let Ok(query) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            let mut reply = Message::response(query.metadata.id, query.metadata.op_code);
            reply.metadata.recursion_desired = query.metadata.recursion_desired;
            for q in &query.queries {
                reply.add_queries([q.clone()]);
                reply.add_answer(Record::from_rdata(
                    q.name().clone(),
                    300,
                    RData::A(A::new(192, 0, 2, 7)),
                ));
            }
            let _ = socket.send_to(&reply.to_vec().unwrap(), from).await;
        }
    });
    addr
}
