//! The dead-man's switch end to end: the real binary probes loopback targets and calls a
//! loopback heartbeat URL every second while its pipeline is healthy. The beats stop while the
//! writer is stalled (writers.stdout into a pipe the test stops reading) and come back when it
//! drains; they stop too while no probe can start (the only concurrency slot held by a probe
//! that does not end) and come back when it ends; a URL that fails is counted and tried again,
//! never fatal, and never logged whole.

mod support;

use std::path::Path;
use std::time::Duration;

use support::bin::{Running, Valve, start_serve, stderr, uptimer};
use support::net::{free_port, get_body};
use support::provider::{Answer, Provider};
use support::server::http_server;
use support::wait::{PATIENCE, wait_for};

/// The value of an unlabelled counter in a `/metrics` text.
fn counter(metrics: &str, name: &str) -> Option<u64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// The value of an unlabelled gauge in a `/metrics` text.
fn gauge(metrics: &str, name: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Waits until `provider` has more than `n` requests; their count.
async fn more_beats_than(provider: &Provider, n: usize, p: &Running) -> usize {
    let got = provider.wait_for(n + 1, PATIENCE).await.len();
    assert!(
        got > n,
        "no heartbeat after the first {n}; the log:\n{}",
        p.stderr_so_far()
    );
    got
}

/// How many lines of the process's log so far contain `text`.
fn logged(p: &Running, text: &str) -> usize {
    p.stderr_so_far()
        .lines()
        .filter(|l| l.contains(text))
        .count()
}

fn write_config(dir: &Path, yaml: &str) {
    std::fs::write(dir.join("uptimer.yaml"), yaml).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn heartbeats_stop_while_the_writer_is_stalled_and_resume_when_it_drains() {
    let target = http_server().await;
    let provider = Provider::start().await;
    let dir = tempfile::tempdir().unwrap();
    let metrics_port = free_port();
    // 10 targets every 100 ms: about 60 kB of events a second on stdout, so that a pipe
    // nobody reads (64 KiB) is full within a second or two.
    let targets: String = (0..10)
        .map(|i| {
            format!(
                "  - {{name: t{i}, url: \"{}\"}}\n",
                target.url(&format!("/ok?{i}"))
            )
        })
        .collect();
    write_config(
        dir.path(),
        &format!(
            "writers: [writers.stdout]\n\
             probe: {{interval: 0.1, timeout: 0.09}}\n\
             metrics_listen: 127.0.0.1:{metrics_port}\n\
             heartbeat: {{url: \"{}\", interval: 1s}}\n\
             targets:\n{targets}",
            provider.url("/ping")
        ),
    );
    let stdout = Valve::default();
    let mut c = uptimer(dir.path());
    c.args(["run", "--config", "uptimer.yaml"])
        .env("LOG_LEVEL", "info");
    let p = Running::spawn_valved(c, &stdout);

    // Flowing: beats, a GET each.
    let beats = more_beats_than(&provider, 2, &p).await;
    let got = provider.received();
    assert!(
        got.iter().all(|r| r.method == "GET" && r.path == "/ping"),
        "{got:?}"
    );

    // Stalled: nobody reads stdout, the writer's writes block, nothing is acknowledged.
    let withheld = "heartbeat withheld: writer not acknowledging: writers.stdout";
    let told = logged(&p, withheld);
    stdout.close();
    wait_for("the heartbeat withheld", PATIENCE, || {
        (logged(&p, withheld) > told).then_some(())
    });
    let before = provider.received().len();
    assert!(before >= beats);
    // Four intervals without a beat (each would have been one).
    tokio::time::sleep(Duration::from_secs(4)).await;
    let during = provider.received().len();
    assert_eq!(
        during,
        before,
        "beats while the writer was stalled; the log:\n{}",
        p.stderr_so_far()
    );
    let metrics = get_body(metrics_port, "/metrics").expect("/metrics answers");
    assert!(
        counter(&metrics, "uptimer_heartbeat_withheld_total").is_some_and(|n| n >= 4),
        "{metrics}"
    );
    assert_eq!(
        counter(&metrics, "uptimer_heartbeat_sent_total"),
        Some(before as u64),
        "{metrics}"
    );

    // Drained: the writer catches up and the beats come back.
    let told = logged(&p, "heartbeat resumed");
    stdout.open();
    wait_for("the heartbeat resumed", PATIENCE, || {
        (logged(&p, "heartbeat resumed") > told).then_some(())
    });
    more_beats_than(&provider, during, &p).await;
    let out = p.terminate();
    assert!(out.status.success(), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn heartbeats_stop_while_no_probe_can_start_and_resume_when_the_slot_frees() {
    let target = http_server().await;
    let provider = Provider::start().await;
    let dir = tempfile::tempdir().unwrap();
    let metrics_port = free_port();
    // One concurrency slot. `held` takes it at its first round and keeps it: `/gate` answers
    // nothing until the test opens it, within a timeout of a minute. The other targets are due
    // every second and cannot start; nothing comes in, so no writer owes anything.
    let targets = format!(
        "  - {{name: t0, url: \"{}\"}}\n  - {{name: t1, url: \"{}\"}}\n  \
         - {{name: held, url: \"{}\", timeout: 60}}\n",
        target.url("/ok?0"),
        target.url("/ok?1"),
        target.url("/gate"),
    );
    write_config(
        dir.path(),
        &format!(
            "writers: [writers.stdout]\n\
             probe: {{interval: 1, timeout: 0.5, concurrency: 1}}\n\
             metrics_listen: 127.0.0.1:{metrics_port}\n\
             heartbeat: {{url: \"{}\", interval: 1s}}\n\
             targets:\n{targets}",
            provider.url("/ping")
        ),
    );
    let mut c = uptimer(dir.path());
    c.args(["run", "--config", "uptimer.yaml"])
        .env("LOG_LEVEL", "info");
    let p = Running::spawn(c);

    // The first beat is at startup; then `held` takes the slot.
    more_beats_than(&provider, 0, &p).await;
    wait_for("the held probe", PATIENCE, || {
        (target.at_gate() > 0).then_some(())
    });
    let withheld = "heartbeat withheld: probes not flowing: a round due";
    wait_for("the heartbeat withheld", PATIENCE, || {
        (logged(&p, withheld) > 0).then_some(())
    });
    let before = provider.received().len();
    // Three intervals without a beat (each would have been one).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let during = provider.received().len();
    assert_eq!(
        during,
        before,
        "beats while no probe could start; the log:\n{}",
        p.stderr_so_far()
    );
    let metrics = get_body(metrics_port, "/metrics").expect("/metrics answers");
    assert!(
        gauge(&metrics, "uptimer_scheduler_overdue_seconds").is_some_and(|s| s > 3.0),
        "{metrics}"
    );
    assert!(
        counter(&metrics, "uptimer_heartbeat_withheld_total").is_some_and(|n| n >= 3),
        "{metrics}"
    );
    assert_eq!(target.at_gate(), 1, "held is still the one probe in flight");

    // The slot frees: the waiting rounds start and the beats come back.
    target.open_gate();
    wait_for("the heartbeat resumed", PATIENCE, || {
        (logged(&p, "heartbeat resumed") > 0).then_some(())
    });
    more_beats_than(&provider, during, &p).await;
    let metrics = get_body(metrics_port, "/metrics").expect("/metrics answers");
    assert!(
        gauge(&metrics, "uptimer_scheduler_overdue_seconds").is_some_and(|s| s < 1.0),
        "{metrics}"
    );
    let out = p.terminate();
    assert!(out.status.success(), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_posts_heartbeats_and_a_failing_url_is_counted_retried_and_never_logged_whole() {
    let target = http_server().await;
    let provider = Provider::start().await;
    // A 500, then no answer within the timeout, then 200s.
    provider.script([Answer::status(500), Answer::Hang(Duration::from_secs(3))]);
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    write_config(
        dir.path(),
        &format!(
            "data_dir: data\n\
             probe: {{interval: 0.5, timeout: 0.4}}\n\
             heartbeat:\n  url: \"{}\"\n  interval: 1s\n  method: POST\n  timeout: 500ms\n\
             targets:\n  - {{name: api, url: \"{}\"}}\n",
            provider.url("/ping/secret-token-5f1c?create=1"),
            target.url("/ok")
        ),
    );
    let mut c = uptimer(dir.path());
    c.args([
        "serve",
        "--config",
        "uptimer.yaml",
        "--listen",
        &format!("127.0.0.1:{port}"),
    ])
    .env("LOG_LEVEL", "info");
    let p = start_serve(c);

    // Two failures, then beats that arrive.
    let got = provider.wait_for(4, PATIENCE).await;
    assert!(got.len() >= 4, "{}", p.stderr_so_far());
    for r in &got {
        assert_eq!(
            (r.method.as_str(), r.path.as_str()),
            ("POST", "/ping/secret-token-5f1c?create=1")
        );
        assert_eq!(r.header("content-length"), Some("0"), "{r:?}");
        assert!(r.body.is_empty());
    }
    let metrics = wait_for("two beats counted as sent", PATIENCE, || {
        let m = get_body(port, "/metrics")?;
        (counter(&m, "uptimer_heartbeat_sent_total")? >= 2).then_some(m)
    });
    assert_eq!(
        counter(&metrics, "uptimer_heartbeat_failed_total"),
        Some(2),
        "{metrics}"
    );
    assert_eq!(
        counter(&metrics, "uptimer_heartbeat_withheld_total"),
        Some(0),
        "{metrics}"
    );
    let out = p.terminate();
    assert!(out.status.success(), "{}", stderr(&out));
    let log = stderr(&out);
    assert!(
        log.contains("heartbeat failed") && log.contains("heartbeat reached the URL again"),
        "{log}"
    );
    assert!(
        !log.contains("secret-token"),
        "the URL's token is logged: {log}"
    );
    assert!(
        log.contains(&format!("http://{}/****", provider.addr)),
        "{log}"
    );
}
