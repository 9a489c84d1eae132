//! Benchmark of writers.postgres against the ceiling of a plain `COPY` by psql of the same rows
//! into the same (partitioned, indexed) table, in the same run. Run it with
//! `scripts/bench postgres` (which starts PostgreSQL when needed), or directly:
//!
//! ```sh
//! cargo run --release --example postgres_bench -- postgres://postgres@127.0.0.1:5432/postgres [EVENTS] [PAGESIZE] [ROUNDS]
//! ```
//!
//! Each round: a fresh database migrated by `uptimer migrate`, EVENTS probe events (every field
//! set, 1,000 targets, today's times) sent through the pipeline's batcher into the writer; the
//! rows it stored are exported to CSV, the table is emptied, and `psql -c '\copy probe_events FROM
//! ... CSV'` loads the same rows again. Prints events/s for both and the writer's CPU per event
//! (this process's user+system time while writing, event generation excluded).

use std::time::{Duration, Instant};

use time::OffsetDateTime;
use tokio::sync::mpsc;
use tokio_postgres::NoTls;
use uptimer::config::{DatabaseUrl, PostgresSettings};
use uptimer::event::{ErrorKind, Event, Phases, ProbeEvent};
use uptimer::pipeline;
use uptimer::postgres::{migrate, partitions};
use uptimer::writers::postgres::{Options, PostgresWriter};

fn cpu_seconds() -> f64 {
    // utime and stime, fields 14 and 15 of /proc/self/stat, in clock ticks (100 per second on
    // Linux).
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn event(i: usize, now: OffsetDateTime) -> Event {
    let t = i % 1000;
    let mut e = ProbeEvent::new(
        now - time::Duration::milliseconds((i % 3_600_000) as i64),
        "https",
        &format!("host{t}.example"),
        Some(443),
    );
    e.path = "/health".into();
    e.status_code = Some(200);
    e.response_time_ms = (i % 900) as u64;
    e.regex = None;
    e.matches_regex = None;
    e.url = Some(format!("https://host{t}.example/health"));
    e.target = Some(format!("{t:016x}"));
    e.name = Some(format!("host {t}"));
    e.location = Some("bench".into());
    e.up = Some(!i.is_multiple_of(50));
    e.error_kind = i.is_multiple_of(50).then_some(ErrorKind::HttpStatus);
    e.phases_ms = Some(Phases {
        dns: Some(1.25),
        connect: Some(2.5),
        tls: Some(10.125),
        ttfb: Some(30.0),
        transfer: Some(0.5),
    });
    e.ip = Some("192.0.2.10".into());
    e.http_version = Some("HTTP/2".into());
    e.body_bytes = Some(1256);
    e.redirects = Some(0);
    e.tls_cert_not_after = Some(now + time::Duration::days(60));
    e.into()
}

fn with_db(server: &str, db: &str) -> String {
    let mut u = url::Url::parse(server).expect("a postgres:// URL");
    u.set_path(&format!("/{db}"));
    u.to_string()
}

fn psql(url: &str, command: &str) -> Duration {
    let start = Instant::now();
    let out = std::process::Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-qc", command])
        .output()
        .expect("psql on the PATH");
    assert!(
        out.status.success(),
        "psql {command}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    start.elapsed()
}

struct Round {
    writer_secs: f64,
    writer_cpu_secs: f64,
    copy_secs: f64,
}

async fn round(server: &str, n: usize, page: usize) -> Round {
    let name = format!("uptimer_bench_{}", uuid::Uuid::new_v4().simple());
    let (admin, conn) = tokio_postgres::connect(server, NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let url = with_db(server, &name);
    let (mut c, conn) = tokio_postgres::connect(&url, NoTls).await.unwrap();
    tokio::spawn(conn);
    migrate::up(&mut c).await.unwrap();
    partitions::maintain(&mut c, None).await.unwrap();

    let now = OffsetDateTime::now_utc();
    let events: Vec<Event> = (0..n).map(|i| event(i, now)).collect();
    let settings = PostgresSettings {
        database_url: Some(DatabaseUrl::new(url.clone())),
        page_size: page,
        ..PostgresSettings::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let writer = PostgresWriter::new(&settings, dir.path(), Options::default())
        .await
        .expect("writer");
    let health = writer.health();

    let (tx, rx) = mpsc::channel::<Event>(pipeline::CHANNEL_CAPACITY);
    let cpu0 = cpu_seconds();
    let start = Instant::now();
    let feeder = tokio::spawn(async move {
        for e in events {
            tx.send(e).await.unwrap();
        }
    });
    pipeline::deliver(
        rx,
        vec![Box::new(writer)],
        Default::default(),
        Default::default(),
    )
    .await
    .unwrap();
    feeder.await.unwrap();
    let writer_secs = start.elapsed().as_secs_f64();
    let writer_cpu_secs = cpu_seconds() - cpu0;
    let written = health.written.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(written, n as u64, "every event written");

    // The same rows, by psql's COPY, into the same table emptied.
    let csv = dir.path().join("rows.csv");
    psql(
        &url,
        &format!(
            "\\copy (SELECT * FROM probe_events) TO '{}' CSV",
            csv.display()
        ),
    );
    c.batch_execute("TRUNCATE probe_events; CHECKPOINT")
        .await
        .unwrap();
    let copy_secs = psql(
        &url,
        &format!("\\copy probe_events FROM '{}' CSV", csv.display()),
    )
    .as_secs_f64();
    let copied: i64 = c
        .query_one("SELECT count(*) FROM probe_events", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(copied, n as i64);
    drop(c);
    admin
        .batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .await
        .unwrap();
    Round {
        writer_secs,
        writer_cpu_secs,
        copy_secs,
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let server = args
        .first()
        .cloned()
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let page: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(5000);
    let rounds: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(3);
    println!(
        "writers.postgres vs psql \\copy: {n} probe events, batches of {page}, {rounds} round(s)"
    );
    println!("round  writer ev/s  writer CPU µs/ev  copy rows/s  writer/copy");
    let mut best: Option<(f64, f64, f64)> = None;
    for r in 1..=rounds {
        let x = round(&server, n, page).await;
        let w = n as f64 / x.writer_secs;
        let cpu = x.writer_cpu_secs * 1e6 / n as f64;
        let c = n as f64 / x.copy_secs;
        println!(
            "{r:>5}  {w:>11.0}  {cpu:>16.1}  {c:>11.0}  {:>10.0}%",
            100.0 * w / c
        );
        // Median-free summary: the best of each, as the ceiling is the best COPY.
        best = Some(match best {
            None => (w, cpu, c),
            Some((bw, bcpu, bc)) => (bw.max(w), bcpu.min(cpu), bc.max(c)),
        });
    }
    if let Some((w, cpu, c)) = best {
        println!(
            "best   {w:>11.0}  {cpu:>16.1}  {c:>11.0}  {:>10.0}%",
            100.0 * w / c
        );
    }
}
