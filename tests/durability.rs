//! What "acknowledged" means, end to end with the real binary: every event a writer counted in
//! `uptimer_events_acked_total` survives a SIGKILL, even during a database outage, and a
//! SIGTERM during an outage ends within `SHUTDOWN_TIMEOUT`.

mod pg;
mod support;

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use time::OffsetDateTime;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The value of the sample `name` (with its labels) on 127.0.0.1:`port`/metrics.
fn metric(port: u16, name: &str) -> Option<f64> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET /metrics HTTP/1.0\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// Waits (bounded) until `f` holds; false when it never did.
fn wait_until(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    f()
}

const ACKED: &str = "uptimer_events_acked_total{writer=\"writers.postgres\"}";

fn prober(urls: &str, db: &str, data: &Path, metrics: u16, log: &Path) -> Child {
    let mut c = Command::new(env!("CARGO_BIN_EXE_uptimer"));
    for (k, _) in std::env::vars() {
        if k.starts_with("PROBE_") || k.ends_with("_PLUGIN") || k.starts_with("POSTGRES_") {
            c.env_remove(k);
        }
    }
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    c.current_dir(data)
        .env("PROBE_URLS", urls)
        .env("PROBE_INTERVAL", "0.2")
        .env("WRITER_PLUGIN", "writers.postgres")
        .env("DATABASE_URL", db)
        .env("DATA_DIR", data)
        .env("POSTGRES_QUEUE_TIMEOUT", "0.2")
        .env("METRICS_LISTEN", format!("127.0.0.1:{metrics}"))
        .env("LOG_LEVEL", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_every_event_acknowledged_before_a_sigkill_during_an_outage_is_stored() {
    let server = support::http_server().await;
    let cluster = pg::PrivateCluster::start();
    let db = pg::TestDb::on(&cluster.url()).await;
    let bin = env!("CARGO_BIN_EXE_uptimer");
    let migrated = Command::new(bin)
        .args(["migrate", "up"])
        .env("DATABASE_URL", &db.url)
        .output()
        .unwrap();
    assert!(migrated.status.success(), "{migrated:?}");
    let urls = serde_json::to_string(
        &(0..10)
            .map(|i| server.url(&format!("/t{i}")))
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let data = tempfile::tempdir().unwrap();
    let log = data.path().join("uptimer.log");
    let logged = || std::fs::read_to_string(&log).unwrap_or_default();
    let port = free_port();
    let url = db.url.clone();
    let (cluster, acked, killed_at) = tokio::task::spawn_blocking({
        let (data, log) = (data.path().to_owned(), log.clone());
        move || {
            let mut first = prober(&urls, &url, &data, port, &log);
            let acked = || metric(port, ACKED).unwrap_or(0.0);
            let log_text = || std::fs::read_to_string(&log).unwrap_or_default();
            assert!(
                wait_until(Duration::from_secs(60), || acked() > 0.0),
                "nothing acknowledged: {}",
                log_text()
            );
            cluster.stop_server();
            // Acknowledged while the database is away: spooled and fsynced, nothing else.
            let during = acked();
            assert!(
                wait_until(Duration::from_secs(60), || acked() >= during + 50.0),
                "acknowledgements go on during the outage: {}",
                log_text()
            );
            let acked = acked();
            let killed_at = OffsetDateTime::now_utc();
            first.kill().unwrap();
            first.wait().unwrap();
            (cluster, acked, killed_at)
        }
    })
    .await
    .unwrap();
    let acked = acked as i64;
    assert!(
        data.path()
            .join("spool/postgres")
            .read_dir()
            .unwrap()
            .next()
            .is_some(),
        "the outage's events are in the spool"
    );
    // The same DATA_DIR again; then the database comes back and the spool drains.
    let mut second = prober(
        &server.url("/later"),
        &db.url,
        data.path(),
        free_port(),
        &log,
    );
    cluster.start_server();
    let c = db.client().await;
    let stored = async || -> i64 {
        c.query_one(
            "SELECT count(DISTINCT uuid) FROM probe_events WHERE event_time < $1",
            &[&killed_at],
        )
        .await
        .map_or(0, |r| r.get(0))
    };
    let all_there = pg::eventually(Duration::from_secs(60), async || stored().await >= acked).await;
    let _ = second.kill();
    let _ = second.wait();
    assert!(
        all_there,
        "{} events of the killed run stored, {acked} acknowledged\n{}",
        stored().await,
        logged()
    );
}
