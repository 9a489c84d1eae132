//! Probers → a real Kafka-protocol broker (tansu) → consumer, with the real binary.
#![cfg(feature = "kafka")]

mod support;

use std::collections::HashSet;
use std::process::Command;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use support::kafka::{Broker, unique};
use support::*;

fn uptimer(envs: &[(&str, String)]) -> Command {
    let mut c = support::uptimer(&std::env::temp_dir());
    c.env("LOG_LEVEL", "info")
        .env("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT");
    for (k, v) in envs {
        c.env(k, v);
    }
    c
}

fn consumer_env(b: &Broker, topic: &str, group: &str) -> Vec<(&'static str, String)> {
    vec![
        ("READER_PLUGIN", "readers.kafka".into()),
        ("WRITER_PLUGIN", "writers.stdout".into()),
        ("KAFKA_BOOTSTRAP_SERVER", b.bootstrap()),
        ("KAFKA_READER_TOPIC", topic.into()),
        ("KAFKA_GROUP_ID", group.into()),
        ("KAFKA_CONSUMER_CONFIG", "session.timeout.ms=6000".into()),
    ]
}

/// A plain consumer reading `topic` from the beginning, in a group of its own.
fn raw_consumer(b: &Broker, topic: &str) -> StreamConsumer {
    let c: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", b.bootstrap())
        .set("group.id", unique("raw"))
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .create()
        .unwrap();
    c.subscribe(&[topic]).unwrap();
    c
}

/// The next `n` messages of the dead-letter topic: payload and the `uptimer.error` header.
fn dead_letters(
    rt: &tokio::runtime::Runtime,
    b: &Broker,
    topic: &str,
    n: usize,
) -> Vec<(Vec<u8>, String)> {
    let dlq = raw_consumer(b, &format!("{topic}.dlq"));
    rt.block_on(async {
        let mut v = Vec::new();
        while v.len() < n {
            let m = tokio::time::timeout(Duration::from_secs(60), dlq.recv())
                .await
                .expect("a dead letter")
                .unwrap();
            let reason = m
                .headers()
                .and_then(|h| h.iter().find(|h| h.key == "uptimer.error"))
                .and_then(|h| h.value)
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .expect("uptimer.error header");
            v.push((m.payload().unwrap_or_default().to_vec(), reason));
        }
        v
    })
}

/// The environment of a consumer that writes into PostgreSQL.
fn postgres_consumer_env(
    b: &Broker,
    topic: &str,
    group: &str,
    db: &str,
    data_dir: &std::path::Path,
) -> Vec<(&'static str, String)> {
    let mut env = consumer_env(b, topic, group);
    env.retain(|(k, _)| *k != "WRITER_PLUGIN");
    env.extend([
        ("WRITER_PLUGIN", "writers.postgres".to_owned()),
        ("DATABASE_URL", db.to_owned()),
        ("DATA_DIR", data_dir.display().to_string()),
        ("POSTGRES_QUEUE_TIMEOUT", "0.2".to_owned()),
    ]);
    env
}

/// An event as the original's probers write it (probe-event 0.2.0).
fn probe_event_0_2(uuid: &str) -> String {
    format!(
        r#"{{"schema_title": "ProbeEvent", "schema_version": "0.2.0", "uuid": "{uuid}", "event_time": "2021-01-15T12:34:56.123456+00:00", "protocol": "https", "hostname": "example.org", "port": 443, "path": "/", "status_code": 200, "response_time_ms": 87, "error": "", "regex": null, "matches_regex": null}}"#
    )
}

/// Sends `payloads` to `topic`, in order, each acknowledged by the broker.
fn produce(b: &Broker, topic: &str, payloads: &[&str]) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", b.bootstrap())
        .create()
        .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        for payload in payloads {
            let record = FutureRecord::<str, str>::to(topic).payload(payload);
            producer
                .send(record, Duration::from_secs(10))
                .await
                .unwrap();
        }
    });
}

/// Sends one new event to each partition of `topic`; returns their uuids.
fn mark_each_partition(b: &Broker, topic: &str) -> HashSet<String> {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", b.bootstrap())
        .create()
        .unwrap();
    let metadata = producer
        .client()
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .unwrap();
    let partitions = metadata.topics()[0].partitions().len() as i32;
    assert!(partitions > 0, "{topic} has no partitions");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut marks = HashSet::new();
        for partition in 0..partitions {
            let uuid = uuid::Uuid::new_v4().to_string();
            let payload = probe_event_0_2(&uuid);
            let record = FutureRecord::<str, str>::to(topic)
                .payload(&payload)
                .partition(partition);
            producer
                .send(record, Duration::from_secs(10))
                .await
                .unwrap();
            marks.insert(uuid);
        }
        marks
    })
}

/// Up to `want` events from a running consumer's stdout, as many as come `within`.
fn read_events(p: &Running, want: usize, within: Duration) -> Vec<serde_json::Value> {
    p.stdout_lines(want, within)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn probers_produce_and_a_consumer_reads_every_event_once() {
    let server = http_server().await;
    let urls = format!(
        "[{}, {}, {}, {}]",
        server.url("/ok"),
        server.url("/status/503"),
        server.url("/ok?3"),
        server.url("/ok?4")
    );
    tokio::task::spawn_blocking(move || {
        let b = Broker::start();
        let topic = unique("events");
        // Two probers, statically sharded, each probing its half once; stdout shows what they sent.
        let mut produced = HashSet::new();
        for index in 0..2 {
            let out = uptimer(&[
                ("WRITER_PLUGIN", "writers.kafka,writers.stdout".into()),
                ("KAFKA_BOOTSTRAP_SERVER", b.bootstrap()),
                ("KAFKA_WRITER_TOPIC", topic.clone()),
                ("PROBE_URLS", urls.clone()),
                ("PROBE_INTERVAL", "-1".into()),
                ("DISTRIBUTED_WORKERS_ENABLED", "true".into()),
                ("DISTRIBUTED_WORKERS_TOTAL", "2".into()),
                ("DISTRIBUTED_WORKERS_INDEX", format!("uptimer-{index}")),
            ])
            .output()
            .unwrap();
            assert!(
                out.status.success(),
                "prober {index}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                produced.insert(v["uuid"].as_str().unwrap().to_owned());
            }
        }
        assert_eq!(produced.len(), 4);

        let group = unique("group");
        let consumer = Running::spawn(uptimer(&consumer_env(&b, &topic, &group)));
        let events = read_events(&consumer, 4, Duration::from_secs(60));
        let out = consumer.terminate();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let consumed: HashSet<String> = events
            .iter()
            .map(|e| e["uuid"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(consumed, produced, "{stderr}");
        for e in &events {
            uptimer::event::schema::validate_event(e).unwrap();
        }
        assert!(stderr.contains("consumer stopped"), "{stderr}");

        // SIGTERM committed what was written: the same group starts after it. One new event in
        // each partition: they are the first it reads, as anything read again would come
        // before the new event of its partition.
        let again = Running::spawn(uptimer(&consumer_env(&b, &topic, &group)));
        let marks = mark_each_partition(&b, &topic);
        let read: HashSet<String> = read_events(&again, marks.len(), Duration::from_secs(60))
            .iter()
            .map(|e| e["uuid"].as_str().unwrap().to_owned())
            .collect();
        let out = again.terminate();
        assert_eq!(read, marks, "{}", support::stderr(&out));
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn poison_goes_to_the_dead_letter_topic_and_the_originals_format_is_consumed() {
    tokio::task::spawn_blocking(|| {
        let b = Broker::start();
        let topic = unique("events");
        b.create_topic(&topic, 1);
        let rt = tokio::runtime::Runtime::new().unwrap();
        let original = probe_event_0_2("1c6f0c2e-8a5d-4a3e-9b7f-2f1d4a5b6c7d");
        let wrong_schema = r#"{"schema_title": "ProbeEvent", "schema_version": "0.2.0", "uuid": "2c6f0c2e-8a5d-4a3e-9b7f-2f1d4a5b6c7d", "event_time": "2021-01-15T12:34:56+00:00", "hostname": "h", "port": 70000, "status_code": 200, "response_time_ms": 1}"#;
        produce(&b, &topic, &["not json at all", wrong_schema, &original]);
        let consumer = Running::spawn(uptimer(&consumer_env(&b, &topic, &unique("group"))));
        let events = read_events(&consumer, 1, Duration::from_secs(60));
        let out = consumer.terminate();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(events.len(), 1, "{stderr}");
        assert_eq!(events[0]["uuid"], "1c6f0c2e-8a5d-4a3e-9b7f-2f1d4a5b6c7d");
        assert!(stderr.contains("dead_lettered=2"), "{stderr}");

        // Both poison messages are in the DLQ with the reason in a header.
        // The dead-letter topic has several partitions: no order between the two.
        let mut reasons: Vec<(String, String)> = dead_letters(&rt, &b, &topic, 2)
            .into_iter()
            .map(|(p, r)| (String::from_utf8_lossy(&p).into_owned(), r))
            .collect();
        reasons.sort_by_key(|(p, _)| p != "not json at all");
        assert_eq!(reasons[0].0, "not json at all");
        assert!(reasons[0].1.starts_with("not JSON"), "{reasons:?}");
        assert_eq!(reasons[1].0, wrong_schema);
        assert!(reasons[1].1.contains("/port"), "{reasons:?}");
    })
    .await
    .unwrap();
}

/// Runs one prober round into `topic` and one consumer until it has read them back.
fn round_trip(b: &Broker, client: &[(&'static str, String)], urls: &str) {
    let topic = unique("events");
    let mut prober: Vec<(&str, String)> = vec![
        ("WRITER_PLUGIN", "writers.kafka,writers.stdout".into()),
        ("KAFKA_BOOTSTRAP_SERVER", b.bootstrap()),
        ("KAFKA_WRITER_TOPIC", topic.clone()),
        ("PROBE_URLS", urls.to_owned()),
        ("PROBE_INTERVAL", "-1".into()),
    ];
    prober.extend(client.iter().cloned());
    let out = uptimer(&prober).output().unwrap();
    assert!(
        out.status.success(),
        "prober: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        b.log()
    );
    let produced = String::from_utf8_lossy(&out.stdout).lines().count();
    assert_eq!(produced, 2);
    let mut env = consumer_env(b, &topic, &unique("group"));
    env.extend(client.iter().cloned());
    let consumer = Running::spawn(uptimer(&env));
    let events = read_events(&consumer, 2, Duration::from_secs(60));
    let out = consumer.terminate();
    assert_eq!(events.len(), 2, "{}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_with_client_certificates_works_through_the_originals_settings() {
    let server = http_server().await;
    let urls = format!("[{}, {}]", server.url("/ok"), server.url("/ok?2"));
    tokio::task::spawn_blocking(move || {
        let b = Broker::start_with(true, false);
        let f = b.tls_files();
        let path = |p: &std::path::Path| p.display().to_string();
        let client = vec![
            ("KAFKA_SECURITY_PROTOCOL", "SSL".to_owned()),
            ("KAFKA_SSL_CAFILE", path(&f.ca)),
            ("KAFKA_SSL_CERTFILE", path(&f.client_cert)),
            ("KAFKA_SSL_KEYFILE", path(&f.client_key)),
            ("KAFKA_SSL_CHECK_HOSTNAME", "true".to_owned()),
        ];
        round_trip(&b, &client, &urls);

        // Without the client certificate the broker's TLS front refuses us: startup fails clearly.
        let out = uptimer(&[
            ("WRITER_PLUGIN", "writers.kafka".into()),
            ("KAFKA_BOOTSTRAP_SERVER", b.bootstrap()),
            ("KAFKA_WRITER_TOPIC", unique("events")),
            ("KAFKA_SECURITY_PROTOCOL", "SSL".into()),
            ("KAFKA_SSL_CAFILE", path(&f.ca)),
            ("PROBE_URLS", urls.clone()),
            ("PROBE_INTERVAL", "-1".into()),
        ])
        .output()
        .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("KAFKA_SSL_"), "{stderr}");
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn sasl_scram_authentication() {
    let server = http_server().await;
    let urls = format!("[{}, {}]", server.url("/ok"), server.url("/ok?2"));
    tokio::task::spawn_blocking(move || {
        let mut b = Broker::start();
        b.create_user("prober", "s3cret-pw");
        b.restart(true);
        let client = vec![
            ("KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT".to_owned()),
            ("KAFKA_SASL_MECHANISM", "SCRAM-SHA-256".to_owned()),
            ("KAFKA_SASL_USERNAME", "prober".to_owned()),
            ("KAFKA_SASL_PASSWORD", "s3cret-pw".to_owned()),
        ];
        round_trip(&b, &client, &urls);
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn every_probed_uuid_lands_in_postgres_exactly_once_through_kill_and_outage() {
    let server = http_server().await;
    let urls = format!(
        "[{}]",
        (0..6)
            .map(|i| server.url(&format!("/ok?t={i}")))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let cluster = pg::PrivateCluster::start();
    let db = cluster.url();
    drop(pg::migrated(&db).await);
    tokio::task::spawn_blocking(move || {
        let b = Broker::start();
        let topic = unique("events");
        let group = unique("group");

        // Two probers, each with half of the targets, probing every 100 ms.
        let probers: Vec<Running> = (0..2)
            .map(|index| {
                Running::spawn(uptimer(&[
                    ("WRITER_PLUGIN", "writers.kafka,writers.stdout".into()),
                    ("KAFKA_BOOTSTRAP_SERVER", b.bootstrap()),
                    ("KAFKA_WRITER_TOPIC", topic.clone()),
                    ("PROBE_URLS", urls.clone()),
                    ("PROBE_INTERVAL", "0.1".into()),
                    ("DISTRIBUTED_WORKERS_ENABLED", "true".into()),
                    ("DISTRIBUTED_WORKERS_TOTAL", "2".into()),
                    ("DISTRIBUTED_WORKERS_INDEX", index.to_string()),
                ]))
            })
            .collect();

        let data_dir = tempfile::tempdir().unwrap();
        let consumer = || {
            let mut env = postgres_consumer_env(&b, &topic, &group, &db, data_dir.path());
            // A restarted consumer takes over its predecessor's partitions at once.
            env.push(("KAFKA_GROUP_INSTANCE_ID", "consumer-1".to_owned()));
            Running::spawn(uptimer(&env))
        };
        let c = consumer();
        std::thread::sleep(Duration::from_secs(3));
        // A crash mid-stream: nothing is flushed, nothing is committed beyond what was written.
        c.kill();
        std::thread::sleep(Duration::from_secs(1));
        let c = consumer();
        std::thread::sleep(Duration::from_secs(2));
        // The database goes away for a while and comes back.
        cluster.stop_server();
        std::thread::sleep(Duration::from_secs(3));
        cluster.start_server();
        std::thread::sleep(Duration::from_secs(2));

        let mut produced = HashSet::new();
        for prober in probers {
            let out = prober.terminate();
            assert!(out.status.success(), "{}", stderr(&out));
            for v in json_lines(&out) {
                produced.insert(v["uuid"].as_str().unwrap().to_owned());
            }
        }
        assert!(
            produced.len() > 50,
            "only {} events produced",
            produced.len()
        );

        let rt = tokio::runtime::Runtime::new().unwrap();
        let (rows, distinct) = rt.block_on(async {
            let client = pg::connect(&db).await;
            let count = async || {
                let r = client
                    .query_one(
                        "SELECT count(*), count(DISTINCT uuid) FROM probe_events",
                        &[],
                    )
                    .await
                    .unwrap();
                (r.get::<_, i64>(0) as usize, r.get::<_, i64>(1) as usize)
            };
            let mut last = (0, 0);
            poll_async(Duration::from_secs(60), async || {
                last = count().await;
                (last.0 >= produced.len()).then_some(())
            })
            .await;
            last
        });
        let out = c.terminate();
        assert_eq!(
            (rows, distinct),
            (produced.len(), produced.len()),
            "{}",
            stderr(&out)
        );
        let stored: HashSet<String> = rt.block_on(async {
            let client = pg::connect(&db).await;
            client
                .query("SELECT uuid::text FROM probe_events", &[])
                .await
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect()
        });
        assert_eq!(stored, produced);
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_row_the_database_rejects_goes_to_the_dead_letter_topic_and_the_rest_is_written() {
    let db = pg::TestDb::new().await;
    drop(pg::migrated(&db.url).await);
    let url = db.url.clone();
    tokio::task::spawn_blocking(move || {
        let b = Broker::start();
        let topic = unique("events");
        b.create_topic(&topic, 1);
        b.create_topic(&format!("{topic}.dlq"), 1);
        let event = |uuid: &str, ms: u64| {
            format!(
                r#"{{"schema_title":"ProbeEvent","schema_version":"0.3.0","uuid":"{uuid}","event_time":"2026-11-25T12:00:00+00:00","protocol":"http","hostname":"h","port":80,"path":"/","status_code":200,"response_time_ms":{ms},"regex":null,"matches_regex":null}}"#
            )
        };
        // Valid for the schema, but too large for the integer column.
        let too_slow = event("4c6f0c2e-8a5d-4a3e-9b7f-2f1d4a5b6c7d", 3_000_000_000);
        let fine = event("5c6f0c2e-8a5d-4a3e-9b7f-2f1d4a5b6c7d", 12);
        let rt = tokio::runtime::Runtime::new().unwrap();
        produce(&b, &topic, &[&too_slow, &fine]);
        let data_dir = tempfile::tempdir().unwrap();
        let env = postgres_consumer_env(&b, &topic, &unique("group"), &url, data_dir.path());
        let c = Running::spawn(uptimer(&env));
        let (payload, reason) = dead_letters(&rt, &b, &topic, 1).remove(0);
        let payload: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        let out = c.terminate();
        assert_eq!(payload["uuid"], "4c6f0c2e-8a5d-4a3e-9b7f-2f1d4a5b6c7d", "{}", String::from_utf8_lossy(&out.stderr));
        assert!(reason.contains("probe_events"), "{reason}");
        let stored: Vec<String> = rt.block_on(async {
            let client = pg::connect(&url).await;
            client.query("SELECT uuid::text FROM probe_events", &[]).await.unwrap().iter().map(|r| r.get(0)).collect()
        });
        assert_eq!(stored, vec!["5c6f0c2e-8a5d-4a3e-9b7f-2f1d4a5b6c7d".to_owned()]);
        // Nothing went to a local rejects file: the topic is where consumers keep them.
        assert!(!data_dir.path().join("rejects").exists());
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn original_event_format_sends_exactly_the_originals_fields() {
    let server = http_server().await;
    let url = server.url("/ok");
    tokio::task::spawn_blocking(move || {
        let b = Broker::start();
        let topic = unique("events");
        let out = uptimer(&[
            ("WRITER_PLUGIN", "writers.kafka".into()),
            ("EVENT_FORMAT", "original".into()),
            ("KAFKA_BOOTSTRAP_SERVER", b.bootstrap()),
            ("KAFKA_WRITER_TOPIC", topic.clone()),
            ("PROBE_URLS", url),
            ("PROBE_INTERVAL", "-1".into()),
        ])
        .output()
        .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let rt = tokio::runtime::Runtime::new().unwrap();
        let c = raw_consumer(&b, &topic);
        let doc: serde_json::Value = rt.block_on(async {
            let m = tokio::time::timeout(Duration::from_secs(30), c.recv())
                .await
                .expect("a message")
                .unwrap();
            serde_json::from_slice(m.payload().unwrap()).unwrap()
        });
        let mut keys: Vec<&str> = doc
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "event_time",
                "hostname",
                "matches_regex",
                "path",
                "port",
                "protocol",
                "regex",
                "response_time_ms",
                "schema_title",
                "schema_version",
                "status_code",
                "uuid"
            ]
        );
        assert_eq!(doc["schema_version"], "0.2.0");
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_consumer_with_metrics_listen_exports_its_lag_per_partition_and_is_ready_in_its_group() {
    tokio::task::spawn_blocking(|| {
        let b = Broker::start();
        let topic = unique("events");
        b.create_topic(&topic, 2);
        let rt = tokio::runtime::Runtime::new().unwrap();
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", b.bootstrap())
            .create()
            .unwrap();
        rt.block_on(async {
            for (partition, payload) in [(0, "not json"), (0, DUMMY), (1, DUMMY)] {
                let payload = payload.replace("UUID", &uuid::Uuid::new_v4().to_string());
                producer
                    .send(
                        FutureRecord::<str, str>::to(&topic)
                            .partition(partition)
                            .payload(&payload),
                        Duration::from_secs(10),
                    )
                    .await
                    .unwrap();
            }
        });
        let port = free_port();
        let mut env = consumer_env(&b, &topic, &unique("group"));
        env.push(("METRICS_LISTEN", format!("127.0.0.1:{port}")));
        let consumer = Running::spawn(uptimer(&env));
        let events = read_events(&consumer, 2, Duration::from_secs(60));
        assert_eq!(events.len(), 2);
        // Everything was read: both partitions report a lag of 0 (measured every few seconds).
        let lag =
            |p: u32| format!("uptimer_consumer_lag{{topic=\"{topic}\",partition=\"{p}\"}} 0\n");
        let metrics = wait_for("a lag of 0 for both partitions", PATIENCE, || {
            get(port, "/metrics").filter(|m| m.contains(&lag(0)) && m.contains(&lag(1)))
        });
        for family in [
            "uptimer_dead_letters_total{reader=\"readers.kafka\"} 1\n",
            "uptimer_reader_events_total{reader=\"readers.kafka\"} 3\n",
            "uptimer_events_acked_total{writer=\"writers.stdout\"} 2\n",
        ] {
            assert!(metrics.contains(family), "{family} missing:\n{metrics}");
        }
        assert!(
            !metrics.contains("uptimer_probes_total"),
            "a consumer does not probe"
        );
        let ready = get(port, "/readyz").unwrap_or_default();
        assert!(
            ready.starts_with("HTTP/1.0 200") && ready.ends_with("ready\n"),
            "{ready}"
        );
        let out = consumer.terminate();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    })
    .await
    .unwrap();
}

const DUMMY: &str = r#"{"schema_title":"DummyEvent","schema_version":"0.4.0","uuid":"UUID","event_time":"2021-01-15T12:34:56Z","target":"t","reader":"r","integer_value":1,"float_value":2}"#;

/// Stops `p` with SIGTERM; how long it took to exit, and its output.
fn terminate_timed(p: Running) -> (Duration, std::process::Output) {
    let started = std::time::Instant::now();
    let out = p.terminate();
    (started.elapsed(), out)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_message_kafka_will_never_take_goes_to_the_rejects_file_and_probing_goes_on() {
    let server = http_server().await;
    // Its event is larger than the producer's message.max.bytes: librdkafka refuses it for good.
    let huge = server.url(&format!("/{}", "x".repeat(1500)));
    let urls = serde_json::to_string(&[server.url("/small"), huge]).unwrap();
    tokio::task::spawn_blocking(move || {
        let b = Broker::start();
        let topic = unique("events");
        b.create_topic(&topic, 1);
        let data = tempfile::tempdir().unwrap();
        let prober = Running::spawn(uptimer(&[
            ("WRITER_PLUGIN", "writers.kafka".into()),
            ("KAFKA_BOOTSTRAP_SERVER", b.bootstrap()),
            ("KAFKA_WRITER_TOPIC", topic.clone()),
            ("KAFKA_PRODUCER_CONFIG", "message.max.bytes=1000".into()),
            ("PROBE_URLS", urls),
            ("PROBE_INTERVAL", "0.2".into()),
            ("DATA_DIR", data.path().display().to_string()),
        ]));
        // The small target's events keep arriving after the huge one was refused.
        let c = raw_consumer(&b, &topic);
        let rt = tokio::runtime::Runtime::new().unwrap();
        let received = rt.block_on(async {
            let mut n = 0;
            while n < 10 {
                let Ok(Ok(m)) = tokio::time::timeout(Duration::from_secs(30), c.recv()).await
                else {
                    break;
                };
                let v: serde_json::Value = serde_json::from_slice(m.payload().unwrap()).unwrap();
                assert_eq!(v["path"], "/small", "only the small target's events fit");
                n += 1;
            }
            n
        });
        let rejects = data.path().join(format!("rejects/{topic}.jsonl"));
        let kept = std::fs::read_to_string(&rejects).unwrap_or_default();
        let out = prober.terminate();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(received, 10, "probing went on\n{stderr}");
        let first: serde_json::Value =
            serde_json::from_str(kept.lines().next().expect("a rejected event")).unwrap();
        assert!(
            first["event"]["path"].as_str().unwrap().len() > 1000,
            "{first}"
        );
        assert!(
            first["reason"].as_str().unwrap().contains("too large"),
            "{first}"
        );
        // Said once, with what to do; not once per event.
        assert_eq!(
            stderr.matches("Kafka will not take this message").count(),
            1,
            "{stderr}"
        );
        assert!(stderr.contains("message.max.bytes"), "{stderr}");
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_with_the_broker_gone_ends_within_the_shutdown_timeout() {
    let server = http_server().await;
    let url = server.url("/ok");
    tokio::task::spawn_blocking(move || {
        let b = Broker::start();
        let topic = unique("events");
        b.create_topic(&topic, 1);
        let prober = Running::spawn(uptimer(&[
            ("WRITER_PLUGIN", "writers.kafka".into()),
            ("KAFKA_BOOTSTRAP_SERVER", b.bootstrap()),
            ("KAFKA_WRITER_TOPIC", topic.clone()),
            ("PROBE_URLS", url),
            ("PROBE_INTERVAL", "0.2".into()),
            ("SHUTDOWN_TIMEOUT", "2".into()),
        ]));
        let c = raw_consumer(&b, &topic);
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(30), c.recv())
                .await
                .expect("an event reaches the topic")
                .unwrap();
        });
        drop(c);
        // The broker goes away; deliveries now wait for it (librdkafka's timeout is 60 s).
        drop(b);
        std::thread::sleep(Duration::from_secs(1));
        let (took, out) = terminate_timed(prober);
        let stderr = String::from_utf8_lossy(&out.stderr);
        // 2 s of SHUTDOWN_TIMEOUT, generous slack for a busy machine; without the timeout the
        // retry loop never ends.
        assert!(took < Duration::from_secs(20), "took {took:?}\n{stderr}");
        assert!(out.status.code().is_some(), "exited by itself\n{stderr}");
        assert!(stderr.contains("shutdown timeout reached"), "{stderr}");
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_during_a_database_outage_ends_in_time_and_the_next_consumer_stores_every_event() {
    let cluster = pg::PrivateCluster::start();
    let db = cluster.url();
    tokio::task::spawn_blocking(move || {
        let rt0 = tokio::runtime::Runtime::new().unwrap();
        rt0.block_on(pg::migrated(&db));
        let b = Broker::start();
        let topic = unique("events");
        let group = unique("group");
        b.create_topic(&topic, 2);
        let rt = tokio::runtime::Runtime::new().unwrap();
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", b.bootstrap())
            .create()
            .unwrap();
        let mut sent = HashSet::new();
        let mut produce = |n: usize| {
            rt.block_on(async {
                for _ in 0..n {
                    let uuid = uuid::Uuid::new_v4().to_string();
                    let payload = DUMMY.replace("UUID", &uuid);
                    producer
                        .send(
                            FutureRecord::<str, str>::to(&topic).payload(&payload),
                            Duration::from_secs(10),
                        )
                        .await
                        .unwrap();
                    sent.insert(uuid);
                }
            })
        };
        let data = tempfile::tempdir().unwrap();
        let consumer = || {
            let mut env = postgres_consumer_env(&b, &topic, &group, &db, data.path());
            env.push(("SHUTDOWN_TIMEOUT", "2".to_owned()));
            Running::spawn(uptimer(&env))
        };
        produce(50);
        let first = consumer();
        let client = rt.block_on(pg::connect(&db));
        let stored = || -> usize {
            rt.block_on(async {
                client
                    .query_one("SELECT count(DISTINCT uuid) FROM dummy_events", &[])
                    .await
                    .map_or(0, |r| r.get::<_, i64>(0) as usize)
            })
        };
        wait_for("the first events stored", PATIENCE, || {
            (stored() == 50).then_some(())
        });
        drop(client);
        // The database goes away; more events come; the consumer holds them (back-pressure).
        cluster.stop_server();
        produce(50);
        std::thread::sleep(Duration::from_secs(2));
        let (took, out) = terminate_timed(first);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(took < Duration::from_secs(20), "took {took:?}\n{stderr}");
        assert!(out.status.code().is_some(), "exited by itself\n{stderr}");
        // Nothing it held was acknowledged: only the first 50 offsets were committed...
        let group_view: StreamConsumer = ClientConfig::new()
            .set("bootstrap.servers", b.bootstrap())
            .set("group.id", &group)
            .create()
            .unwrap();
        let mut partitions = rdkafka::TopicPartitionList::new();
        partitions.add_partition(&topic, 0);
        partitions.add_partition(&topic, 1);
        let committed: i64 = group_view
            .committed_offsets(partitions, Duration::from_secs(10))
            .unwrap()
            .elements()
            .iter()
            .filter_map(|e| e.offset().to_raw())
            .filter(|o| *o > 0)
            .sum();
        assert_eq!(committed, 50, "{stderr}");
        drop(group_view);
        // ...and the next consumer of the group reads the rest again.
        cluster.start_server();
        let next = consumer();
        let client = rt.block_on(pg::connect(&db));
        let stored_uuids = || -> HashSet<String> {
            rt.block_on(async {
                client
                    .query("SELECT uuid::text FROM dummy_events", &[])
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| r.get(0))
                    .collect()
            })
        };
        poll(PATIENCE, || {
            (stored_uuids().len() >= sent.len()).then_some(())
        });
        let out = next.terminate();
        assert_eq!(
            stored_uuids(),
            sent,
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_consumer_writing_postgres_alerts_for_the_targets_of_its_config_file() {
    let server = http_server().await;
    let provider = support::provider::Provider::start().await;
    let db = pg::TestDb::new().await;
    drop(pg::migrated(&db.url).await);
    let url = server.url("/status/503");
    let hook = provider.url("/hook");
    let db_url = db.url.clone();
    tokio::task::spawn_blocking(move || {
        let b = Broker::start();
        let topic = unique("events");
        let group = unique("group");
        let dir = tempfile::tempdir().unwrap();
        // The consumer's config names the probers' target with its rule.
        let config = dir.path().join("consumer.yaml");
        std::fs::write(
            &config,
            format!(
                "group_wait: 0s\nchannels:\n  hook: {{type: webhook, url: '{hook}'}}\n\
                 targets:\n  - url: '{url}'\n    alerts: [{{type: hook, failure-threshold: 2}}]\n"
            ),
        )
        .unwrap();
        let mut c = uptimer(&postgres_consumer_env(
            &b,
            &topic,
            &group,
            &db_url,
            dir.path(),
        ));
        c.args(["run", "--config", config.to_str().unwrap()]);
        let consumer = Running::spawn(c);
        let prober = Running::spawn(uptimer(&[
            ("WRITER_PLUGIN", "writers.kafka".into()),
            ("KAFKA_BOOTSTRAP_SERVER", b.bootstrap()),
            ("KAFKA_WRITER_TOPIC", topic.clone()),
            ("PROBE_URLS", format!("[{url}]")),
            ("PROBE_INTERVAL", "0.2".into()),
        ]));
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while provider.received().is_empty() {
            assert!(
                std::time::Instant::now() < deadline,
                "no trigger: {}",
                consumer.stderr_so_far()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        std::thread::sleep(Duration::from_secs(1));
        prober.terminate();
        let out = consumer.terminate();
        let got = provider.received();
        assert_eq!(got.len(), 1, "one trigger: {}", support::stderr(&out));
        let doc = got[0].json();
        assert_eq!(doc["kind"], "trigger");
        assert_eq!(doc["target"]["url"], url.as_str());
    })
    .await
    .unwrap();
}
