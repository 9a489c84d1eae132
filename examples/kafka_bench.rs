//! Kafka benchmark: our producer and our consumer→PostgreSQL path, side by side in the same run
//! with a bare rdkafka producer and consumer loop moving the same messages through the same
//! broker. Run it with `scripts/bench kafka` (which starts a tansu broker and PostgreSQL), or:
//!
//! ```sh
//! cargo run --release --features kafka --example kafka_bench -- BROKER DATABASE_URL [EVENTS]
//! ```
//!
//! Phases (each on fresh topics and groups):
//! 1. bare producer: EVENTS pre-encoded messages, same producer settings as ours;
//! 2. writers.kafka: the same EVENTS as events, in the pipeline's batches;
//! 3. bare consumer: reads phase 2's topic to the end;
//! 4. readers.kafka → writers.postgres: reads phase 2's topic into PostgreSQL;
//! 5. live: a producer at a fixed rate while the consumer writes, for the probe→row delay.
//!
//! Prints events/s, and CPU seconds per phase of this process, the broker and PostgreSQL
//! (from /proc), so it shows where the time goes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use time::OffsetDateTime;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;
mod support;
use support::event;
use uptimer::config::{Env, EventFormat, Overrides, Settings};
use uptimer::event::Event;
use uptimer::kafka::{ensure_topics, producer_config};
use uptimer::metrics::Metrics;
use uptimer::pipeline;
use uptimer::writers::kafka::{KafkaWriter, key};
use uptimer::writers::{Durable, WriteError, Writer};

/// CPU seconds (user + system) of every process whose command name starts with `name`
/// (`self` for this process).
fn cpu(name: &str) -> f64 {
    let tick = 100.0;
    let read = |path: &std::path::Path| -> Option<(String, f64)> {
        let stat = std::fs::read_to_string(path).ok()?;
        let (head, rest) = stat.rsplit_once(')')?;
        let comm = head.split_once('(')?.1.to_owned();
        let f: Vec<&str> = rest.split_whitespace().collect();
        let t = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
        Some((comm, t / tick))
    };
    if name == "self" {
        return read(std::path::Path::new("/proc/self/stat")).map_or(0.0, |(_, t)| t);
    }
    let mut total = 0.0;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        if let Some((comm, t)) = read(&entry.path().join("stat"))
            && comm.starts_with(name)
        {
            total += t;
        }
    }
    total
}

struct Meter {
    started: Instant,
    cpu: [f64; 3],
}

impl Meter {
    fn start() -> Meter {
        Meter {
            started: Instant::now(),
            cpu: [cpu("self"), cpu("tansu"), cpu("postgres")],
        }
    }

    fn report(&self, what: &str, events: usize) -> f64 {
        let secs = self.started.elapsed().as_secs_f64();
        let now = [cpu("self"), cpu("tansu"), cpu("postgres")];
        let rate = events as f64 / secs;
        println!(
            "{what:<38} {events:>8} events {secs:>7.2} s {rate:>9.0} ev/s   cpu s: uptimer {:>5.2}  broker {:>5.2}  postgres {:>5.2}",
            now[0] - self.cpu[0],
            now[1] - self.cpu[1],
            now[2] - self.cpu[2]
        );
        rate
    }
}

fn settings(pairs: &[(&str, &str)]) -> Settings {
    Settings::load(
        None,
        &Env::from_pairs(pairs.iter().copied()),
        &Overrides::default(),
    )
    .expect("settings")
}

/// Forwards to the real writer and records, after each batch is durable, how long each of its
/// events took from its event_time (the probe) to now (the row).
struct Timed {
    inner: Box<dyn Writer>,
    written: Arc<AtomicU64>,
    delays_ms: Arc<Mutex<Vec<f64>>>,
    target: u64,
    done: CancellationToken,
}

#[async_trait::async_trait]
impl Writer for Timed {
    fn name(&self) -> &'static str {
        "timed"
    }
    fn batching(&self) -> uptimer::writers::Batching {
        self.inner.batching()
    }
    fn in_flight(&self) -> usize {
        self.inner.in_flight()
    }
    async fn write(&mut self, batch: Vec<Event>) -> Result<Durable, WriteError> {
        let times: Vec<OffsetDateTime> = batch.iter().map(|e| e.envelope().event_time).collect();
        let durable = self.inner.write(batch).await?;
        let (delays, written, target, done) = (
            self.delays_ms.clone(),
            self.written.clone(),
            self.target,
            self.done.clone(),
        );
        Ok(Box::pin(async move {
            durable.await?;
            let now = OffsetDateTime::now_utc();
            let mut d = delays.lock().await;
            for t in &times {
                d.push((now - *t).as_seconds_f64() * 1000.0);
            }
            let n = times.len() as u64;
            if written.fetch_add(n, Ordering::Relaxed) + n >= target {
                done.cancel();
            }
            Ok(())
        }))
    }
    async fn close(&mut self) -> Result<(), WriteError> {
        self.inner.close().await
    }
}

async fn consume_into_postgres(
    broker: &str,
    db: &str,
    topic: &str,
    target: u64,
    data_dir: &str,
) -> (Arc<AtomicU64>, Vec<f64>) {
    let group = format!("bench-{}", uuid::Uuid::new_v4().simple());
    let s = settings(&[
        ("READER_PLUGIN", "readers.kafka"),
        ("WRITER_PLUGIN", "writers.postgres"),
        ("KAFKA_BOOTSTRAP_SERVER", broker),
        ("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT"),
        ("KAFKA_READER_TOPIC", topic),
        ("KAFKA_GROUP_ID", &group),
        ("KAFKA_CONSUMER_CONFIG", "session.timeout.ms=6000"),
        ("DATABASE_URL", db),
        ("DATA_DIR", data_dir),
        ("POSTGRES_PAGESIZE", "5000"),
        ("POSTGRES_QUEUE_TIMEOUT", "0.2"),
    ]);
    let done = CancellationToken::new();
    let give_up = pipeline::give_up_after(&done, Duration::from_secs(30));
    let metrics: Arc<Metrics> = Arc::default();
    let pg = uptimer::writers::build(
        uptimer::config::WriterPlugin::Postgres,
        &s,
        &metrics,
        &give_up,
    )
    .await
    .expect("postgres writer");
    let written = Arc::new(AtomicU64::new(0));
    let delays = Arc::new(Mutex::new(Vec::new()));
    let timed = Timed {
        inner: pg,
        written: written.clone(),
        delays_ms: delays.clone(),
        target,
        done: done.clone(),
    };
    // The whole pipeline, as `uptimer` runs it: the Kafka source, acknowledgements, offsets.
    pipeline::run(
        &s,
        &uptimer::registry::Registry::new([]),
        vec![Box::new(timed)],
        done,
        give_up,
        Arc::default(),
        metrics,
        None,
    )
    .await
    .expect("consumer");
    let d = delays.lock().await.clone();
    (written, d)
}

#[tokio::main]
async fn main() {
    // BENCH_LOG=info (or any filter) shows what uptimer logs while it runs.
    if let Ok(filter) = std::env::var("BENCH_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .try_init();
    }
    let args: Vec<String> = std::env::args().collect();
    let broker = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:9092".into());
    let db = args
        .get(2)
        .cloned()
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let n: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(200_000);
    let data_dir = tempfile::tempdir().unwrap();
    let data_dir_s = data_dir.path().display().to_string();
    let run = uuid::Uuid::new_v4().simple().to_string();
    let (bare_topic, our_topic, live_topic) = (
        format!("bare-{run}"),
        format!("ours-{run}"),
        format!("live-{run}"),
    );
    let base = settings(&[
        ("KAFKA_BOOTSTRAP_SERVER", &broker),
        ("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT"),
        ("KAFKA_WRITER_TOPIC", &our_topic),
    ]);
    ensure_topics(&base.kafka, &[&bare_topic, &our_topic, &live_topic])
        .await
        .expect("topics");

    let now = OffsetDateTime::now_utc();
    let events: Vec<Event> = (0..n).map(|i| event(i, now)).collect();
    let encoded: Vec<(Vec<u8>, String)> = events
        .iter()
        .map(|e| (serde_json::to_vec(e).unwrap(), key(e)))
        .collect();
    let avg = encoded.iter().map(|(p, _)| p.len()).sum::<usize>() / n.max(1);
    println!("broker {broker}, {n} probe events of {avg} bytes on average\n");

    // 1. Bare producer, same settings as ours.
    let bare: FutureProducer = producer_config(&base.kafka, EventFormat::Current)
        .create()
        .unwrap();
    let m = Meter::start();
    let mut futures = Vec::with_capacity(n);
    for (payload, k) in &encoded {
        loop {
            match bare.send_result(FutureRecord::to(&bare_topic).payload(payload).key(k)) {
                Ok(f) => {
                    futures.push(f);
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(1)).await,
            }
        }
    }
    for f in futures {
        f.await.unwrap().unwrap();
    }
    let bare_rate = m.report("1 bare rdkafka producer", n);

    // 2. Our writer, in the pipeline's batches.
    let mut ours = KafkaWriter::new(&base, &Default::default(), CancellationToken::new())
        .await
        .expect("writer");
    let m = Meter::start();
    for chunk in events.chunks(ours.batching().max_events) {
        ours.write_and_wait(chunk).await.unwrap();
    }
    let our_rate = m.report("2 writers.kafka", n);
    println!(
        "   writers.kafka reaches {:.0}% of the bare producer\n",
        100.0 * our_rate / bare_rate
    );

    // 3. Bare consumer over phase 2's topic.
    let c: StreamConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &broker)
        .set("group.id", format!("bare-{run}"))
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .create()
        .unwrap();
    c.subscribe(&[&our_topic]).unwrap();
    let m = Meter::start();
    for _ in 0..n {
        c.recv().await.unwrap();
    }
    m.report("3 bare rdkafka consumer", n);
    drop(c);

    // 4. Our consumer into PostgreSQL over the same topic.
    let m = Meter::start();
    let (written, _) = consume_into_postgres(&broker, &db, &our_topic, n as u64, &data_dir_s).await;
    m.report(
        "4 readers.kafka -> writers.postgres",
        written.load(Ordering::Relaxed) as usize,
    );

    // 5. Live: produce at a fixed rate while consuming; delay from event_time to durable row.
    let rate = 5_000usize;
    let secs = 10usize;
    let live = settings(&[
        ("KAFKA_BOOTSTRAP_SERVER", &broker),
        ("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT"),
        ("KAFKA_WRITER_TOPIC", &live_topic),
    ]);
    let consumer = tokio::spawn({
        let (broker, db, topic, dd) = (
            broker.clone(),
            db.clone(),
            live_topic.clone(),
            data_dir_s.clone(),
        );
        async move { consume_into_postgres(&broker, &db, &topic, (rate * secs) as u64, &dd).await }
    });
    tokio::time::sleep(Duration::from_secs(3)).await; // let the group settle
    let mut w = KafkaWriter::new(&live, &Default::default(), CancellationToken::new())
        .await
        .expect("writer");
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let m = Meter::start();
    for step in 0..(secs * 10) {
        tick.tick().await;
        let now = OffsetDateTime::now_utc();
        let batch: Vec<Event> = (0..rate / 10)
            .map(|i| event(step * 1000 + i, now))
            .collect();
        w.write_and_wait(&batch).await.unwrap();
    }
    let (written, mut delays) = tokio::time::timeout(Duration::from_secs(120), consumer)
        .await
        .expect("live consumer finishes")
        .unwrap();
    m.report(
        &format!("5 live at {rate}/s, probe -> row"),
        written.load(Ordering::Relaxed) as usize,
    );
    delays.sort_by(f64::total_cmp);
    let q = |p: f64| {
        delays
            .get(((delays.len() as f64 * p) as usize).min(delays.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0.0)
    };
    println!(
        "   probe -> row delay: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        q(0.5),
        q(0.99),
        q(1.0)
    );
}
