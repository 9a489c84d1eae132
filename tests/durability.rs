//! What "acknowledged" means, end to end with the real binary: every event a writer counted in
//! `uptimer_events_acked_total` survives a SIGKILL, even during a database outage.

mod support;

use std::path::Path;
use std::process::Command;

use support::*;
use time::OffsetDateTime;

/// The value of the sample `name` (with its labels) on 127.0.0.1:`port`/metrics.
fn metric(port: u16, name: &str) -> Option<f64> {
    get(port, "/metrics")?
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

const ACKED: &str = "uptimer_events_acked_total{writer=\"writers.postgres\"}";

fn prober(urls: &str, db: &str, data: &Path, metrics: u16) -> Command {
    let mut c = uptimer(data);
    c.env("PROBE_URLS", urls)
        .env("PROBE_INTERVAL", "0.2")
        .env("WRITER_PLUGIN", "writers.postgres")
        .env("DATABASE_URL", db)
        .env("DATA_DIR", data)
        .env("POSTGRES_QUEUE_TIMEOUT", "0.2")
        .env("METRICS_LISTEN", format!("127.0.0.1:{metrics}"))
        .env("LOG_LEVEL", "info");
    c
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_every_event_acknowledged_before_a_sigkill_during_an_outage_is_stored() {
    let server = http_server().await;
    let cluster = pg::PrivateCluster::start();
    let db = pg::TestDb::on(&cluster.url()).await;
    pg::migrated(&db.url).await;
    let urls = serde_json::to_string(
        &(0..10)
            .map(|i| server.url(&format!("/t{i}")))
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = db.url.clone();
    let (cluster, acked, killed_at) = tokio::task::spawn_blocking({
        let data = data.path().to_owned();
        move || {
            let first = Running::spawn(prober(&urls, &url, &data, port));
            let acked = || metric(port, ACKED).unwrap_or(0.0);
            wait_for("a first acknowledgement", PATIENCE, || {
                (acked() > 0.0).then_some(())
            });
            cluster.stop_server();
            // Acknowledged while the database is away: spooled and fsynced, nothing else.
            let during = acked();
            wait_for("acknowledgements during the outage", PATIENCE, || {
                (acked() >= during + 50.0).then_some(())
            });
            let acked = acked();
            let killed_at = OffsetDateTime::now_utc();
            first.kill();
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
    let second = Running::spawn(prober(
        &server.url("/later"),
        &db.url,
        data.path(),
        free_port(),
    ));
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
    let all_there = eventually(PATIENCE, async || stored().await >= acked).await;
    let log = second.kill();
    assert!(
        all_there,
        "{} events of the killed run stored, {acked} acknowledged\n{}",
        stored().await,
        stderr(&log)
    );
}
