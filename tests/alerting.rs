//! Alerting end to end: `uptimer run` with writers.sqlite probes a loopback target that goes
//! down and comes back, and notifies a fake provider; every channel's request shape through
//! real HTTP; retries, refusals and a SIGKILL between a trigger and its resolve.

mod support;

use std::path::Path;
use std::time::Duration;

use support::bin::{Running, stderr, uptimer};
use support::provider::{Answer, Provider, Received};
use support::server::http_server;
use support::smtp::{SmtpSink, header};

use uptimer::alerting::send;
use uptimer::config::alerting::{ChannelFile, channel_of};
use uptimer::store::alerts::{Delivery, Notice, NoticeTarget};

fn config(dir: &Path, target: &str, channel: &str, rule: &str) {
    let yaml = format!(
        "writers: [writers.sqlite]\n\
         data_dir: {data}\n\
         probe: {{interval: 0.2, timeout: 2}}\n\
         group_wait: 0s\n\
         channels:\n  {channel}\n\
         targets:\n  - name: api\n    url: {target}\n    alerts:\n      - {rule}\n",
        data = dir.join("data").display(),
    );
    std::fs::write(dir.join("uptimer.yaml"), yaml).unwrap();
}

fn start(dir: &Path) -> Running {
    let mut c = uptimer(dir);
    c.args(["run", "--config", "uptimer.yaml"])
        .env("LOG_LEVEL", "info");
    let r = Running::spawn(c);
    r.wait_for_stderr("uptimer started", Duration::from_secs(30), |l| {
        l.contains("uptimer started")
    });
    r
}

fn kinds(got: &[Received]) -> Vec<String> {
    got.iter()
        .map(|r| r.json()["kind"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn query(dir: &Path, sql: &str) -> Vec<Vec<String>> {
    let c = rusqlite::Connection::open(dir.join("data/uptimer.sqlite3")).unwrap();
    let mut stmt = c.prepare(sql).unwrap();
    let n = stmt.column_count();
    stmt.query_map([], |r| {
        Ok((0..n)
            .map(|i| match r.get_ref(i).unwrap() {
                rusqlite::types::ValueRef::Null => "NULL".to_owned(),
                rusqlite::types::ValueRef::Integer(v) => v.to_string(),
                rusqlite::types::ValueRef::Real(v) => v.to_string(),
                rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                rusqlite::types::ValueRef::Blob(_) => "BLOB".to_owned(),
            })
            .collect())
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

fn hmac_hex(secret: &str, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    ring::hmac::sign(&key, body)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sigkill_between_trigger_and_resolve_gives_one_trigger_and_one_resolve_with_one_key() {
    let target = http_server().await;
    let provider = Provider::start().await;
    let dir = tempfile::tempdir().unwrap();
    config(
        dir.path(),
        &target.url("/switch"),
        &format!(
            "hook: {{type: webhook, url: \"{}\", secret: s3cret}}",
            provider.url("/hook")
        ),
        "{type: hook, failure-threshold: 2, success-threshold: 2}",
    );
    let first = start(dir.path());
    target.set_switch(503);
    let got = provider.wait_for(1, Duration::from_secs(30)).await;
    assert_eq!(kinds(&got), ["trigger"], "{}", first.stderr_so_far());
    // Time to record the delivery, then a crash while the target is still down.
    tokio::time::sleep(Duration::from_millis(800)).await;
    first.kill();

    let second = start(dir.path());
    // Still down after the restart: no second trigger.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(provider.received().len(), 1, "{}", second.stderr_so_far());
    target.set_switch(200);
    let got = provider.wait_for(2, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let out = second.terminate();
    let got = {
        assert!(got.len() >= 2, "{}", stderr(&out));
        provider.received()
    };
    assert_eq!(kinds(&got), ["trigger", "resolve"], "{}", stderr(&out));
    let (trigger, resolve) = (&got[0], &got[1]);
    let key = trigger.json()["key"].as_str().unwrap().to_owned();
    assert_eq!(resolve.json()["key"], key.as_str());
    assert_eq!(
        trigger.header("idempotency-key"),
        Some(&*format!("{key}:trigger"))
    );
    assert_eq!(
        resolve.header("idempotency-key"),
        Some(&*format!("{key}:resolve"))
    );
    for r in &got {
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/hook");
        assert_eq!(r.header("content-type"), Some("application/json"));
        let expected = format!("sha256={}", hmac_hex("s3cret", &r.body));
        assert_eq!(r.header("x-uptimer-signature"), Some(expected.as_str()));
        let doc = r.json();
        assert_eq!(doc["schema_version"], "1.0.0");
        assert_eq!(doc["target"]["name"], "api");
        assert_eq!(doc["channel"], "hook");
    }
    assert!(
        trigger.json()["text"]
            .as_str()
            .unwrap()
            .contains("api is down")
    );
    assert_eq!(resolve.json()["reason"], "recovered");
    // The outbox says the same.
    let rows = query(
        dir.path(),
        "SELECT kind, state, key FROM notifications ORDER BY id",
    );
    assert_eq!(
        rows,
        [
            vec!["trigger".to_owned(), "sent".into(), key.clone()],
            vec!["resolve".to_owned(), "sent".into(), key]
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_and_rate_limits_are_retried_until_delivered_once() {
    let target = http_server().await;
    let provider = Provider::start().await;
    provider.script([
        Answer::status(500).with_header("retry-after", "1"),
        Answer::status(429)
            .with_header("retry-after", "1")
            .with_body("slow down"),
        Answer::status(202).with_body("{\"status\":\"success\"}"),
    ]);
    let dir = tempfile::tempdir().unwrap();
    config(
        dir.path(),
        &target.url("/switch"),
        &format!(
            "pd: {{type: pagerduty, routing_key: R0UT1NGKEY, base_url: \"{}\"}}",
            provider.url("/pd/")
        ),
        "{type: pd, failure-threshold: 1}",
    );
    target.set_switch(500);
    let run = start(dir.path());
    let got = provider.wait_for(3, Duration::from_secs(30)).await;
    // Nothing more comes once it is delivered.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let out = run.terminate();
    let got_all = provider.received();
    assert_eq!(got.len(), 3, "{}", stderr(&out));
    assert_eq!(got_all.len(), 3, "delivered once: {}", stderr(&out));
    for r in &got_all {
        assert_eq!(r.path, "/pd/v2/enqueue");
        assert_eq!(r.body, got_all[0].body, "the same request each time");
        let doc = r.json();
        assert_eq!(doc["event_action"], "trigger");
        assert_eq!(doc["routing_key"], "R0UT1NGKEY");
        assert_eq!(doc["payload"]["severity"], "critical");
    }
    let rows = query(
        dir.path(),
        "SELECT state, attempts, answer FROM notifications",
    );
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][0], "sent");
    assert_eq!(rows[0][1], "3");
    assert!(rows[0][2].starts_with("202"), "{rows:?}");
    // The routing key never reaches the log.
    assert!(!stderr(&out).contains("R0UT1NGKEY"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_trigger_is_not_retried_and_its_resolve_is_not_sent() {
    let target = http_server().await;
    let provider = Provider::start().await;
    provider.script([Answer::status(400).with_body("invalid_payload")]);
    let dir = tempfile::tempdir().unwrap();
    let hook = provider.url("/services/T000/B000/SECRETPART");
    config(
        dir.path(),
        &target.url("/switch"),
        &format!("chat: {{type: slack, webhook_url: \"{hook}\"}}"),
        "{type: chat, failure-threshold: 1, success-threshold: 1}",
    );
    target.set_switch(500);
    let run = start(dir.path());
    provider.wait_for(1, Duration::from_secs(30)).await;
    run.wait_for_stderr("the refusal logged", Duration::from_secs(10), |l| {
        l.contains("refused by the provider")
    });
    target.set_switch(200);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let out = run.terminate();
    let got = provider.received();
    assert_eq!(got.len(), 1, "{}", stderr(&out));
    assert!(got[0].json()["text"].as_str().unwrap().contains("is down"));
    let rows = query(
        dir.path(),
        "SELECT kind, state, attempts FROM notifications ORDER BY id",
    );
    assert_eq!(
        rows,
        [
            vec!["trigger".to_owned(), "failed".into(), "1".into()],
            vec!["resolve".to_owned(), "skipped".into(), "0".into()],
        ]
    );
    let log = stderr(&out);
    assert!(log.contains("400 invalid_payload"), "{log}");
    assert!(
        !log.contains("SECRETPART"),
        "the webhook URL is masked: {log}"
    );
}

#[test]
fn alerts_without_a_store_and_unknown_channels_are_refused_at_startup() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = "group_wait: 0s\nchannels:\n  ops: {type: ntfy, topic: alerts}\n\
                targets:\n  - url: http://127.0.0.1:9/\n    alerts: [{type: ops}]\n";
    std::fs::write(dir.path().join("a.yaml"), yaml).unwrap();
    let out = uptimer(dir.path())
        .args(["run", "--config", "a.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("writers.sqlite"), "{}", stderr(&out));

    let yaml = "writers: [writers.sqlite]\ngroup_wait: 0s\nchannels:\n  ops: {type: ntfy, topic: alerts}\n\
                targets:\n  - url: http://127.0.0.1:9/\n    alerts: [{type: pager}]\n";
    std::fs::write(dir.path().join("b.yaml"), yaml).unwrap();
    let out = uptimer(dir.path())
        .args(["run", "--config", "b.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("\"pager\"") && err.contains("(ops)"), "{err}");
}

fn notice(kind: &str) -> Notice {
    Notice {
        kind: kind.into(),
        reminder: u32::from(kind == "reminder"),
        key: "uptimer-42-0123456789ab".into(),
        rule: "x".into(),
        target: NoticeTarget {
            id: "api".into(),
            name: "API & <Web>".into(),
            url: "https://api.example.com/health".into(),
            tags: vec!["prod".into()],
        },
        incident: Some(42),
        severity: Default::default(),
        condition: Default::default(),
        description: Some("the public API".into()),
        time: time::macros::datetime!(2026-12-02 10:00 UTC),
        down_since: Some(time::macros::datetime!(2026-12-02 09:59 UTC)),
        reason: (kind == "resolve").then(|| "recovered".into()),
        acknowledged_by: (kind == "acknowledge").then(|| "ana".into()),
        ack_url: None,
        error: (kind != "resolve").then(|| "connection refused".into()),
        error_kind: None,
        status_code: None,
        response_time_ms: Some(12.0),
    }
}

/// Sends a trigger and a resolve through a channel configured with `yaml` (its URLs pointing
/// at `p`) and returns what the provider received.
async fn through(p: &Provider, yaml: &str) -> (Received, Received) {
    let file: ChannelFile = serde_yaml_ng::from_str(yaml).unwrap();
    let c = channel_of("x", &file).unwrap();
    let client = send::client().unwrap();
    let before = p.received().len();
    for kind in ["trigger", "resolve"] {
        let d = send::notify(&client, &c, &notice(kind), 0).await;
        assert!(matches!(d, Delivery::Sent { .. }), "{yaml}: {d:?}");
    }
    let got = p.received();
    assert_eq!(got.len(), before + 2);
    (got[before].clone(), got[before + 1].clone())
}

#[tokio::test(flavor = "multi_thread")]
async fn every_channel_sends_its_providers_request_shape() {
    let p = Provider::start().await;
    let base = p.url("");

    let (t, r) = through(
        &p,
        &format!("{{type: slack, webhook_url: '{base}/slack/T/B/x'}}"),
    )
    .await;
    assert_eq!(t.path, "/slack/T/B/x");
    assert!(
        t.json()["text"]
            .as_str()
            .unwrap()
            .starts_with("*API &amp; &lt;Web&gt;* is down")
    );
    assert!(r.json()["text"].as_str().unwrap().contains("recovered"));

    let (t, _) = through(
        &p,
        &format!("{{type: discord, webhook_url: '{base}/discord/1/x'}}"),
    )
    .await;
    let d = t.json();
    assert!(d["content"].as_str().unwrap().contains("is down"));
    assert_eq!(d["embeds"][0]["title"], "Down: API & <Web>");
    assert!(d["embeds"][0]["color"].is_u64());

    let (t, _) = through(
        &p,
        &format!("{{type: teams, webhook_url: '{base}/teams/wf'}}"),
    )
    .await;
    let d = t.json();
    assert_eq!(d["type"], "message");
    let card = &d["attachments"][0];
    assert_eq!(
        card["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(card["content"]["type"], "AdaptiveCard");
    assert_eq!(card["content"]["version"], "1.4");
    assert_eq!(card["content"]["body"][0]["type"], "TextBlock");

    let (t, _) = through(
        &p,
        &format!("{{type: mattermost, webhook_url: '{base}/mm/hooks/x', username: uptimer, channel: ops}}"),
    )
    .await;
    let d = t.json();
    assert!(
        d["text"]
            .as_str()
            .unwrap()
            .starts_with("**API & \\<Web\\>**")
    );
    assert_eq!(
        (d["username"].as_str(), d["channel"].as_str()),
        (Some("uptimer"), Some("ops"))
    );

    let (t, _) = through(
        &p,
        &format!(
            "{{type: google_chat, webhook_url: '{base}/chat/v1/spaces/S/messages?key=k&token=t'}}"
        ),
    )
    .await;
    assert_eq!(t.path, "/chat/v1/spaces/S/messages?key=k&token=t");
    assert!(t.json()["text"].is_string());

    let (t, r) = through(
        &p,
        &format!(
            "{{type: pagerduty, routing_key: {}, base_url: '{base}/pd'}}",
            "k".repeat(32)
        ),
    )
    .await;
    assert_eq!(t.path, "/pd/v2/enqueue");
    let d = t.json();
    assert_eq!(d["event_action"], "trigger");
    assert_eq!(d["dedup_key"], "uptimer-42-0123456789ab");
    assert_eq!(d["payload"]["severity"], "critical");
    assert_eq!(d["payload"]["source"], "https://api.example.com/health");
    assert!(d["payload"]["summary"].as_str().unwrap().len() <= 1024);
    assert_eq!(
        r.json(),
        serde_json::json!({"routing_key": "k".repeat(32), "event_action": "resolve", "dedup_key": "uptimer-42-0123456789ab"})
    );

    let (t, r) = through(
        &p,
        &format!("{{type: opsgenie, api_key: OGKEY, base_url: '{base}/og', priority: p1}}"),
    )
    .await;
    assert_eq!(t.path, "/og/v2/alerts");
    assert_eq!(t.header("authorization"), Some("GenieKey OGKEY"));
    let d = t.json();
    assert_eq!(d["alias"], "uptimer-42-0123456789ab");
    assert_eq!(d["priority"], "P1");
    assert!(d["message"].as_str().unwrap().chars().count() <= 130);
    assert_eq!(
        r.path,
        "/og/v2/alerts/uptimer-42-0123456789ab/close?identifierType=alias"
    );
    assert_eq!(r.header("authorization"), Some("GenieKey OGKEY"));
    assert!(r.json().is_object());

    let (t, r) = through(
        &p,
        &format!("{{type: ntfy, topic: alerts, token: tk, base_url: '{base}/ntfy'}}"),
    )
    .await;
    assert_eq!(t.path, "/ntfy/alerts");
    assert!(t.text().contains("is down"));
    assert_eq!(t.header("title"), Some("Down: API & <Web>"));
    assert_eq!(t.header("priority"), Some("4"));
    assert_eq!(t.header("authorization"), Some("Bearer tk"));
    assert!(r.text().contains("recovered"));

    let (t, _) = through(
        &p,
        &format!("{{type: telegram, token: '123:AB', chat_id: -1001, base_url: '{base}/tg'}}"),
    )
    .await;
    assert_eq!(t.path, "/tg/bot123:AB/sendMessage");
    let d = t.json();
    assert_eq!(d["chat_id"], -1001);
    assert_eq!(d["parse_mode"], "HTML");
    assert!(
        d["text"]
            .as_str()
            .unwrap()
            .starts_with("<b>API &amp; &lt;Web&gt;</b> is down")
    );

    let (t, _) = through(
        &p,
        &format!("{{type: gotify, token: gk, base_url: '{base}/gotify/'}}"),
    )
    .await;
    assert_eq!(t.path, "/gotify/message");
    assert_eq!(t.header("x-gotify-key"), Some("gk"));
    assert_eq!(t.json()["priority"], 8);

    let (t, r) = through(
        &p,
        &format!("{{type: pushover, token: pt, user_key: pu, base_url: '{base}/po'}}"),
    )
    .await;
    assert_eq!(t.path, "/po/1/messages.json");
    let d = t.json();
    assert_eq!(
        (d["token"].as_str(), d["user"].as_str()),
        (Some("pt"), Some("pu"))
    );
    assert_eq!(d["priority"], 1);
    assert_eq!(r.json()["priority"], 0);

    let (t, _) = through(
        &p,
        &format!("{{type: webhook, url: '{base}/hook', headers: {{X-Team: sre}}}}"),
    )
    .await;
    assert_eq!(t.header("x-team"), Some("sre"));
    assert_eq!(
        t.header("x-uptimer-signature"),
        None,
        "no secret, no signature"
    );
    assert_eq!(t.json()["description"], "the public API");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hanging_provider_is_a_retry_and_a_redirect_a_refusal() {
    let p = Provider::start().await;
    let c = channel_of(
        "x",
        &serde_yaml_ng::from_str(&format!("{{type: webhook, url: '{}'}}", p.url("/h"))).unwrap(),
    )
    .unwrap();
    let client = send::client().unwrap();
    p.script([
        Answer::Hang(send::TIMEOUT + Duration::from_secs(5)),
        Answer::status(302).with_header("location", "http://127.0.0.1:9/"),
    ]);
    let d = send::notify(&client, &c, &notice("trigger"), 0).await;
    assert!(matches!(d, Delivery::Retry { .. }), "{d:?}");
    let d = send::notify(&client, &c, &notice("trigger"), 0).await;
    assert!(matches!(d, Delivery::Failed { .. }), "{d:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn alert_test_sends_through_a_channel_and_prints_the_answer() {
    let p = Provider::start().await;
    p.script([Answer::status(202).with_body("{\"status\":\"success\"}")]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.yaml"),
        format!(
            "group_wait: 0s\nchannels:\n  pd: {{type: pagerduty, routing_key: SECRETKEY, base_url: '{}'}}\n",
            p.url("/pd")
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        let mut c = uptimer(dir.path());
        c.args(args);
        support::bin::output(c)
    };
    let out = run(&["alert", "test", "pd", "--config", "a.yaml"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = support::bin::stdout(&out);
    assert!(
        text.contains("delivered: 202 {\"status\":\"success\"}"),
        "{text}"
    );
    let got = p.received();
    let actions: Vec<_> = got
        .iter()
        .map(|r| r.json()["event_action"].clone())
        .collect();
    assert_eq!(
        actions,
        ["trigger", "resolve"],
        "no test incident left open"
    );
    assert_eq!(got[0].json()["dedup_key"], got[1].json()["dedup_key"]);
    assert!(!text.contains("SECRETKEY"), "{text}");

    p.script([Answer::status(403).with_body("forbidden")]);
    let out = run(&["alert", "test", "pd", "--config", "a.yaml"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(support::bin::stdout(&out).contains("refused"));

    let out = run(&["alert", "test", "nope", "--config", "a.yaml"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("(pd)"), "{}", stderr(&out));
}

fn count(got: &[Received], path: &str, kind: &str) -> usize {
    got.iter()
        .filter(|r| r.path == path && r.json()["kind"] == kind)
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_ack_by_link_stops_reminders_and_is_sent_on_to_pagerduty() {
    let target = http_server().await;
    let provider = Provider::start().await;
    let dir = tempfile::tempdir().unwrap();
    let port = support::net::free_port();
    let yaml = format!(
        "probe: {{interval: 0.2, timeout: 2}}\n\
         group_wait: 0s\nchannels:\n  hook: {{type: webhook, url: '{hook}'}}\n  \
         pd: {{type: pagerduty, routing_key: RK, base_url: '{pd}'}}\n\
         alerts:\n  - {{type: hook, failure-threshold: 1, minimum-reminder-interval: 1s}}\n  \
         - {{type: pd, failure-threshold: 1}}\n\
         targets:\n  - name: api\n    url: {url}\n",
        hook = provider.url("/hook"),
        pd = provider.url("/pd"),
        url = target.url("/switch"),
    );
    std::fs::write(dir.path().join("u.yaml"), yaml).unwrap();
    let mut c = uptimer(dir.path());
    c.args([
        "serve",
        "--config",
        "u.yaml",
        "--listen",
        &format!("127.0.0.1:{port}"),
    ])
    .env("DATA_DIR", "data")
    .env("WEB_PUBLIC_URL", format!("http://127.0.0.1:{port}/"));
    let serve = support::bin::start_serve(c);
    target.set_switch(503);

    // The trigger and a reminder or two, each with the link.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while count(&provider.received(), "/hook", "reminder") < 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "{}",
            serve.stderr_so_far()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let got = provider.received();
    let trigger = got.iter().find(|r| r.path == "/hook").unwrap().json();
    assert_eq!(trigger["kind"], "trigger");
    let link = trigger["ack_url"].as_str().unwrap().to_owned();
    let incident = trigger["incident"].as_i64().unwrap();
    assert!(
        link.starts_with(&format!("http://127.0.0.1:{port}/ack/{incident}/")),
        "{link}"
    );
    assert!(trigger["text"].as_str().unwrap().contains(&link));

    let http = send::client().unwrap();
    // GET only asks: reminders go on.
    let page = http.get(&link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("<form method=\"post\""), "{html}");
    assert!(html.contains("api has been failing since"), "{html}");
    let forged = format!("http://127.0.0.1:{port}/ack/{incident}/00000000000000000000000000000000");
    assert_eq!(http.post(&forged).send().await.unwrap().status(), 403);
    let before = count(&provider.received(), "/hook", "reminder");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        count(&provider.received(), "/hook", "reminder") > before,
        "GET did not ack"
    );

    // POST acknowledges.
    let done = http
        .post(&link)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("by=ana")
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);
    assert!(done.text().await.unwrap().contains("acknowledged"));
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let after_ack = count(&provider.received(), "/hook", "reminder");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let got = provider.received();
    assert_eq!(
        count(&got, "/hook", "reminder"),
        after_ack,
        "no reminder after the ack"
    );
    let acked = got
        .iter()
        .find(|r| r.path == "/hook" && r.json()["kind"] == "acknowledge");
    assert_eq!(
        acked.expect("the webhook hears of the ack").json()["acknowledged_by"],
        "ana"
    );
    let pd: Vec<_> = got
        .iter()
        .filter(|r| r.path == "/pd/v2/enqueue")
        .map(|r| r.json()["event_action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(pd, ["trigger", "acknowledge"]);

    // The API and the CLI say it is acknowledged already.
    let mut c = uptimer(dir.path());
    c.args([
        "incident",
        "ack",
        &incident.to_string(),
        "--server",
        &format!("http://127.0.0.1:{port}"),
    ]);
    let out = support::bin::output(c).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(support::bin::stdout(&out).contains("acknowledged already"));
    let mut c = uptimer(dir.path());
    c.args([
        "incident",
        "ack",
        "999999",
        "--server",
        &format!("http://127.0.0.1:{port}"),
    ]);
    let out = support::bin::output(c).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no incident 999999"),
        "{}",
        stderr(&out)
    );

    // The incidents API and page show the acknowledgement and the notifications.
    let api = http
        .get(format!("http://127.0.0.1:{port}/api/v1/incidents"))
        .send()
        .await
        .unwrap();
    let doc: serde_json::Value = serde_json::from_str(&api.text().await.unwrap()).unwrap();
    let inc = &doc["incidents"][0];
    assert_eq!(inc["id"], incident);
    assert_eq!(inc["acknowledged"]["by"], "ana");
    assert_eq!(inc["acknowledged"]["via"], "link");
    let notes = inc["notifications"].as_array().unwrap();
    assert!(
        notes
            .iter()
            .any(|n| n["channel"] == "pd" && n["kind"] == "acknowledge" && n["state"] == "sent"),
        "{notes:?}"
    );
    let page = http
        .get(format!("http://127.0.0.1:{port}/incidents"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("acknowledged by ana"), "{page}");
    assert!(page.contains("hook: trigger, sent"), "{page}");

    // Recovery resolves on both channels.
    target.set_switch(200);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while count(&provider.received(), "/hook", "resolve") < 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "{}",
            serve.stderr_so_far()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let out = serve.terminate();
    let pd: Vec<_> = provider
        .received()
        .iter()
        .filter(|r| r.path == "/pd/v2/enqueue")
        .map(|r| r.json()["event_action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        pd,
        ["trigger", "acknowledge", "resolve"],
        "{}",
        stderr(&out)
    );
}

fn email_channel(port: u16, extra: &str) -> uptimer::config::alerting::Channel {
    let yaml = format!(
        "{{type: email, host: 127.0.0.1, port: {port}, from: 'Uptimer <uptimer@example.com>', \
         to: 'ops@example.com, oncall@example.com'{extra}}}"
    );
    channel_of("mail", &serde_yaml_ng::from_str(&yaml).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn emails_reach_a_real_smtp_server_threaded_under_their_trigger() {
    let sink = SmtpSink::start();
    let c = email_channel(sink.port, ", tls: none");
    let client = send::client().unwrap();
    for kind in ["trigger", "reminder", "resolve"] {
        match send::notify(&client, &c, &notice(kind), 0).await {
            Delivery::Sent { answer } => assert!(answer.starts_with("250"), "{answer}"),
            d => panic!("{kind}: {d:?}"),
        }
    }
    let mails = sink.wait_for(3, Duration::from_secs(10));
    assert_eq!(mails.len(), 3);
    let ids: Vec<String> = mails
        .iter()
        .map(|m| header(m, "Message-ID").unwrap())
        .collect();
    let trigger_id = "<uptimer-42-0123456789ab.trigger@example.com>";
    assert_eq!(
        ids,
        [
            trigger_id,
            "<uptimer-42-0123456789ab.reminder-1@example.com>",
            "<uptimer-42-0123456789ab.resolve@example.com>"
        ]
    );
    assert_eq!(header(&mails[0], "In-Reply-To"), None);
    for m in &mails[1..] {
        assert_eq!(header(m, "In-Reply-To").as_deref(), Some(trigger_id), "{m}");
        assert_eq!(header(m, "References").as_deref(), Some(trigger_id), "{m}");
    }
    assert_eq!(
        header(&mails[0], "To").as_deref(),
        Some("ops@example.com, oncall@example.com")
    );
    assert_eq!(
        header(&mails[0], "Subject").as_deref(),
        Some("Down: API & <Web>")
    );
    assert_eq!(
        header(&mails[2], "Subject").as_deref(),
        Some("Resolved: API & <Web>")
    );
    let trigger = &mails[0];
    assert!(
        trigger.contains("Content-Type: text/plain") && trigger.contains("Content-Type: text/html"),
        "{trigger}"
    );
    // The plain part as it is, the HTML part escaped.
    assert!(
        trigger.contains("API & <Web> is down: connection refused."),
        "{trigger}"
    );
    assert!(
        trigger.contains("<b>API &amp; &lt;Web&gt;</b> is down"),
        "{trigger}"
    );
    assert!(mails[2].contains("recovered"), "{}", mails[2]);
}

#[tokio::test(flavor = "multi_thread")]
async fn email_without_the_required_starttls_sends_nothing_and_a_closed_port_is_retried() {
    let sink = SmtpSink::start();
    let client = send::client().unwrap();
    // The sink offers no STARTTLS: refused for good, nothing sent in the clear (the password
    // included).
    let c = email_channel(
        sink.port,
        ", tls: starttls, username: u, password: hunter22",
    );
    let d = send::notify(&client, &c, &notice("trigger"), 0).await;
    let Delivery::Failed { error } = d else {
        panic!("{d:?}")
    };
    assert!(error.to_lowercase().contains("starttls"), "{error}");
    assert!(!error.contains("hunter22"), "{error}");
    assert!(sink.messages().is_empty());
    // Nothing listening: tried again later.
    let c = email_channel(support::net::free_port(), ", tls: none");
    let d = send::notify(&client, &c, &notice("trigger"), 0).await;
    assert!(matches!(d, Delivery::Retry { .. }), "{d:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_target_down_and_back_sends_a_threaded_trigger_and_resolve_by_email() {
    let target = http_server().await;
    let sink = SmtpSink::start();
    let dir = tempfile::tempdir().unwrap();
    config(
        dir.path(),
        &target.url("/switch"),
        &format!(
            "mail: {{type: email, host: 127.0.0.1, port: {}, tls: none, from: up@example.com, to: [ops@example.com]}}",
            sink.port
        ),
        "{type: mail, failure-threshold: 2, success-threshold: 1}",
    );
    target.set_switch(503);
    let run = start(dir.path());
    let mails = sink.wait_for(1, Duration::from_secs(30));
    assert_eq!(mails.len(), 1, "{}", run.stderr_so_far());
    target.set_switch(200);
    let mails = sink.wait_for(2, Duration::from_secs(30));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let out = run.terminate();
    assert_eq!(mails.len(), 2, "{}", stderr(&out));
    assert_eq!(sink.messages().len(), 2, "no more: {}", stderr(&out));
    let key = query(dir.path(), "SELECT DISTINCT key FROM notifications");
    assert_eq!(key.len(), 1);
    let trigger_id = format!("<{}.trigger@example.com>", key[0][0]);
    assert_eq!(header(&mails[0], "Message-ID"), Some(trigger_id.clone()));
    assert_eq!(header(&mails[1], "In-Reply-To"), Some(trigger_id));
    assert!(mails[0].contains("api is down"), "{}", mails[0]);
    assert!(mails[1].contains("api recovered"), "{}", mails[1]);
    let rows = query(
        dir.path(),
        "SELECT kind, state, substr(answer, 1, 3) FROM notifications ORDER BY id",
    );
    assert_eq!(
        rows,
        [
            vec!["trigger".to_owned(), "sent".into(), "250".into()],
            vec!["resolve".to_owned(), "sent".into(), "250".into()],
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hanging_channel_holds_up_only_its_own_notifications() {
    let target = http_server().await;
    let (stuck, fine) = (Provider::start().await, Provider::start().await);
    stuck.script([Answer::Hang(send::TIMEOUT + Duration::from_secs(5))]);
    let dir = tempfile::tempdir().unwrap();
    config(
        dir.path(),
        &target.url("/switch"),
        &format!(
            "stuck: {{type: webhook, url: \"{}\"}}\n  fine: {{type: webhook, url: \"{}\"}}",
            stuck.url("/h"),
            fine.url("/h")
        ),
        "{type: stuck, failure-threshold: 1, success-threshold: 1}\n      \
         - {type: fine, failure-threshold: 1, success-threshold: 1}",
    );
    target.set_switch(503);
    let run = start(dir.path());
    let began = std::time::Instant::now();
    fine.wait_for(1, Duration::from_secs(30)).await;
    target.set_switch(200);
    // The resolve to the fine channel goes out while the other still waits for its answer
    // (up to the 15 s request timeout).
    let got = fine.wait_for(2, Duration::from_secs(30)).await;
    let took = began.elapsed();
    let out = run.terminate();
    assert_eq!(kinds(&got), ["trigger", "resolve"], "{}", stderr(&out));
    assert!(
        took < send::TIMEOUT - Duration::from_secs(3),
        "took {took:?}: {}",
        stderr(&out)
    );
    assert_eq!(stuck.received().len(), 1, "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_channel_added_by_a_reload_is_sent_through_without_a_restart() {
    let target = http_server().await;
    let (first, second) = (Provider::start().await, Provider::start().await);
    let dir = tempfile::tempdir().unwrap();
    let channel =
        |name: &str, p: &Provider| format!("{name}: {{type: webhook, url: \"{}\"}}", p.url("/h"));
    config(
        dir.path(),
        &target.url("/switch"),
        &channel("first", &first),
        "{type: first, failure-threshold: 1}",
    );
    let run = start(dir.path());
    config(
        dir.path(),
        &target.url("/switch"),
        &channel("second", &second),
        "{type: second, failure-threshold: 1}",
    );
    support::bin::hangup(run.id());
    run.wait_for_stderr("the reload", Duration::from_secs(30), |l| {
        l.contains("configuration reloaded")
    });
    target.set_switch(503);
    let got = second.wait_for(1, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let out = run.terminate();
    assert_eq!(kinds(&got), ["trigger"], "{}", stderr(&out));
    assert_eq!(got[0].json()["channel"], "second");
    assert!(first.received().is_empty(), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn targets_added_through_the_api_follow_the_rules_of_their_tags_across_reloads() {
    let target = http_server().await;
    let provider = Provider::start().await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "data_dir: {data}\n\
         group_wait: 0s\nchannels:\n  hook: {{type: webhook, url: \"{hook}\"}}\n\
         alert_rules:\n  - match: {{tags: [prod]}}\n    alerts: [{{type: hook, failure-threshold: 1}}]\n",
        data = dir.path().join("data").display(),
        hook = provider.url("/hook"),
    );
    std::fs::write(dir.path().join("uptimer.yaml"), yaml).unwrap();
    let port = support::net::free_port();
    let mut c = uptimer(dir.path());
    c.args(["serve", "--config", "uptimer.yaml"])
        .args(["--listen", &format!("127.0.0.1:{port}")]);
    let run = support::bin::start_serve(c);
    target.set_switch(503);
    let server = format!("http://127.0.0.1:{port}");
    for (name, tag) in [("api", "prod"), ("blog", "web")] {
        let out = uptimer(dir.path())
            .args(["targets", "--server", &server, "add", "--name", name])
            .args(["--url", &target.url("/switch"), "--interval", "0.2"])
            .args(["--tag", tag])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let got = provider.wait_for(1, Duration::from_secs(30)).await;
    // The other target fails as long, and notifies nobody.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(provider.received().len(), 1, "{}", run.stderr_so_far());
    assert_eq!(kinds(&got), ["trigger"]);
    assert_eq!(got[0].json()["target"]["name"], "api");
    // A reload without the tag's rules takes them from the API's target: its rule resolves.
    let yaml = std::fs::read_to_string(dir.path().join("uptimer.yaml")).unwrap();
    let without = yaml.split("alert_rules:").next().unwrap().to_owned();
    std::fs::write(dir.path().join("uptimer.yaml"), without).unwrap();
    support::bin::hangup(run.id());
    let got = provider.wait_for(2, Duration::from_secs(30)).await;
    let out = run.terminate();
    assert_eq!(kinds(&got), ["trigger", "resolve"], "{}", stderr(&out));
    assert_eq!(got[1].json()["key"], got[0].json()["key"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_hundred_incidents_opening_within_group_wait_give_one_digest_per_chat_channel() {
    let target = http_server().await;
    let (ops, team) = (Provider::start().await, Provider::start().await);
    let dir = tempfile::tempdir().unwrap();
    let targets: String = (0..200)
        .map(|i| {
            format!(
                "  - {{name: site{i:03}, url: '{}?{i}'}}\n",
                target.url("/switch")
            )
        })
        .collect();
    let yaml = format!(
        "writers: [writers.sqlite]\n\
         data_dir: {data}\n\
         probe: {{interval: 0.5, timeout: 2}}\n\
         group_wait: 3s\n\
         channels:\n  ops: {{type: ntfy, topic: alerts, base_url: '{ops}'}}\n  \
         team: {{type: ntfy, topic: team, base_url: '{team}'}}\n\
         alerts:\n  - {{type: ops, failure-threshold: 1, success-threshold: 1}}\n  \
         - {{type: team, failure-threshold: 1, success-threshold: 1}}\n\
         targets:\n{targets}",
        data = dir.path().join("data").display(),
        ops = ops.url("/ntfy"),
        team = team.url("/ntfy"),
    );
    std::fs::write(dir.path().join("uptimer.yaml"), yaml).unwrap();
    let run = start(dir.path());
    target.set_switch(503);
    let first = ops.wait_for(1, Duration::from_secs(30)).await;
    let team_first = team.wait_for(1, Duration::from_secs(30)).await;
    // Any other trigger would come within a few seconds: give them the time.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (ops_got, team_got) = (ops.received(), team.received());
    for (got, first) in [(&ops_got, &first), (&team_got, &team_first)] {
        assert_eq!(
            got.len(),
            1,
            "one digest: {:#?}\n{}",
            got,
            run.stderr_so_far()
        );
        let text = first[0].text();
        assert!(text.contains("200 targets failing"), "{text}");
        assert!(
            text.contains("site000") && text.contains("and 150 more"),
            "{text}"
        );
    }
    // Every trigger it carries is recorded as sent.
    let sent = |kind: &str| {
        query(
            dir.path(),
            &format!("SELECT count(*) FROM notifications WHERE kind = '{kind}' AND state = 'sent'"),
        )
    };
    assert_eq!(sent("trigger"), [vec!["400".to_owned()]]);
    // They recover: each channel hears of all 200 in recovery digests (the resolves due
    // when the outbox is read go as one; they are written as the targets are probed, over
    // half a second, so a read may find only some), and every trigger sent has its resolve.
    target.set_switch(200);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while sent("resolve") != [vec!["400".to_owned()]] {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}: {}",
            sent("resolve"),
            run.stderr_so_far()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let out = run.terminate();
    for p in [&ops, &team] {
        let got = p.received();
        let recovered: Vec<String> = got[1..]
            .iter()
            .map(|r| r.header("title").unwrap_or_default().to_owned())
            .collect();
        let n: usize = recovered
            .iter()
            .map(|t| match t.strip_suffix(" targets recovered") {
                Some(n) => n.parse().unwrap(),
                None => usize::from(t.starts_with("Resolved: ")),
            })
            .sum();
        assert_eq!(n, 200, "{recovered:?}\n{}", stderr(&out));
        assert!(
            recovered.len() < 20,
            "digests, not a resolve a target: {recovered:?}"
        );
    }
    assert_eq!(sent("resolve"), sent("trigger"));
}
