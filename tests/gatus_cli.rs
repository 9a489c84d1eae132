//! A Gatus configuration given to the binary as it is: `check-config` shows its targets and one
//! warning per key it cannot honour, and `run` probes its endpoints.

mod support;

use support::*;

const EXAMPLE: &str = include_str!("fixtures/gatus/gatus.yaml");

#[tokio::test(flavor = "multi_thread")]
async fn check_config_of_a_gatus_file_prints_one_warning_per_ignored_key_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("gatus.yaml"), EXAMPLE).unwrap();
    let mut c = uptimer(dir.path());
    c.args(["check-config", "--config", "gatus.yaml"]);
    let out = output(c).await;
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let warnings: Vec<&str> = err.lines().filter(|l| l.starts_with("warning:")).collect();
    assert_eq!(
        warnings,
        [
            "warning: gatus.yaml: metrics: not supported yet, ignored",
            "warning: gatus.yaml: storage: not supported yet, ignored",
            "warning: gatus.yaml: ui: not supported yet, ignored",
            "warning: gatus.yaml: endpoints[3].ui.hide-hostname: not supported yet, ignored",
        ],
        "{err}"
    );
    let doc: serde_json::Value =
        serde_yaml_ng::from_str(&String::from_utf8_lossy(&out.stdout)).unwrap();
    let targets = doc["targets"].as_array().unwrap();
    let names: Vec<_> = targets
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "website",
            "make-sure-header-is-rendered",
            "redis",
            "ping-example",
            "example-dns-query"
        ]
    );
    assert_eq!(targets[0]["tags"], serde_json::json!(["core"]));
    assert_eq!(targets[0]["interval"], "300s");
    assert_eq!(targets[3]["interval"], "60s", "Gatus's default interval");
    assert_eq!(targets[2]["conditions"][0], "[CONNECTED] == true");

    // The same file with uptimer's targets: too is refused, naming both.
    std::fs::write(
        dir.path().join("gatus.yaml"),
        format!("{EXAMPLE}\ntargets:\n  - url: http://a.example/\n"),
    )
    .unwrap();
    let mut c = uptimer(dir.path());
    c.args(["check-config", "--config", "gatus.yaml"]);
    let out = output(c).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("endpoints:"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn run_with_a_gatus_file_probes_its_endpoint() {
    let server = http_server().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("gatus.yaml"),
        format!(
            "alerting:\n  slack: {{webhook-url: 'https://hooks.slack.example/x'}}\n\
             endpoints:\n  - name: local-api\n    group: lab\n    url: http://{}/echo\n    \
             interval: 1s\n    headers: {{X-From: gatus}}\n    \
             conditions: ['[STATUS] == 200', '[RESPONSE_TIME] < 60000']\n    \
             alerts: [{{type: slack}}]\n",
            server.addr
        ),
    )
    .unwrap();
    let mut c = uptimer(dir.path());
    c.args(["run", "--config", "gatus.yaml"]);
    let p = off_runtime(move || {
        let p = Running::spawn(c);
        p.wait_for_stdout("an event", PATIENCE, |l| l.contains("local-api"));
        p
    })
    .await;
    let out = off_runtime(move || p.terminate()).await;
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    // Its alerts need a store, which `run` with the default writer has not: a warning.
    assert!(
        err.contains("alerts are not sent: they need a store"),
        "{err}"
    );
    let e = &json_lines(&out)[0];
    assert_eq!(
        (&e["name"], &e["up"], &e["status_code"], &e["path"]),
        (
            &"local-api".into(),
            &true.into(),
            &200.into(),
            &"/echo".into()
        ),
        "{e}"
    );
    assert_eq!(e["conditions"].as_array().map(Vec::len), Some(2), "{e}");
    assert_eq!(server.requests()[0].header("x-from"), Some("gatus"));
}
