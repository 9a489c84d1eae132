//! The fleet's keyed logs against a real Kafka-protocol broker (tansu): topics created
//! compacted, a keyed log read back as a table with later records winning and tombstones
//! removing (whether or not the broker compacted), and the targets topic's partition count
//! recorded at first use and checked after.
#![cfg(feature = "kafka")]

mod support;

use std::time::Duration;

use serde_json::json;
use support::kafka::{Broker, unique};
use uptimer::fleet::meta::{self, MetaError};
use uptimer::fleet::targets::fold;
use uptimer::kafka::KafkaSettings;
use uptimer::kafka::log::{self, TopicSpec};

fn settings(b: &Broker) -> KafkaSettings {
    KafkaSettings {
        bootstrap: Some(b.bootstrap()),
        security_protocol: "PLAINTEXT".into(),
        ..KafkaSettings::default()
    }
}

fn job(id: &str, url: &str) -> Option<Vec<u8>> {
    Some(
        json!({"source": "file:t.yaml", "definition": {"id": id, "url": url}})
            .to_string()
            .into_bytes(),
    )
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn a_keyed_log_reads_back_as_a_table_later_records_winning() {
    let b = Broker::start();
    let k = settings(&b);
    let topic = unique("targets");
    let rt = rt();
    rt.block_on(async {
        let retention = log::compacted(Duration::from_secs(3600));
        let config: Vec<(&str, &str)> = retention.iter().map(|(k, v)| (*k, v.as_str())).collect();
        log::ensure_topics_with(
            &k,
            &[TopicSpec {
                name: &topic,
                partitions: 4,
                config: &config,
            }],
        )
        .await
        .unwrap();
        assert_eq!(log::partition_count(&k, &topic).await.unwrap(), 4);
        // An empty topic reads as nothing, at once.
        let none = log::read_to_end(&k, &topic, Duration::from_secs(20))
            .await
            .unwrap();
        assert!(none.is_empty());
        let mut records: Vec<(String, Option<Vec<u8>>)> = (0..50)
            .map(|i| (format!("t{i}"), job(&format!("t{i}"), "http://one/")))
            .collect();
        records.push(("t7".into(), job("t7", "http://two/")));
        records.push(("t8".into(), None));
        log::write(&k, &topic, &records).await.unwrap();
        let read = log::read_to_end(&k, &topic, Duration::from_secs(20))
            .await
            .unwrap();
        assert_eq!(read.len(), 52);
        let partitions: std::collections::HashSet<i32> = read.iter().map(|r| r.partition).collect();
        assert!(
            partitions.len() > 1,
            "keys spread over partitions: {partitions:?}"
        );
        let (table, bad) = fold(&read);
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!(table.len(), 49);
        assert_eq!(table["t7"].definition["url"], "http://two/");
        assert!(!table.contains_key("t8"));
        assert_eq!(table["t1"].source, "file:t.yaml");
    });
}

#[test]
fn the_targets_topics_partition_count_is_recorded_once_and_a_change_refused() {
    let b = Broker::start();
    let k = settings(&b);
    let (meta_topic, targets) = (unique("meta"), unique("targets"));
    b.create_topic(&meta_topic, 1);
    b.create_topic(&targets, 3);
    let rt = rt();
    rt.block_on(async {
        assert_eq!(
            meta::check_partitions(&k, &meta_topic, &targets)
                .await
                .unwrap(),
            3
        );
        // Recorded: the same count passes again, from the record.
        assert_eq!(
            meta::check_partitions(&k, &meta_topic, &targets)
                .await
                .unwrap(),
            3
        );
        let read = log::read_to_end(&k, &meta_topic, Duration::from_secs(20))
            .await
            .unwrap();
        assert_eq!(read.len(), 1, "recorded once: {read:?}");
        assert_eq!(meta::recorded_partitions(&read, &targets), Some(3));
        // Another count (as after adding partitions) is refused with both figures.
        log::write(
            &k,
            &meta_topic,
            &[(
                meta::partitions_key(&targets),
                Some(br#"{"partitions": 6}"#.to_vec()),
            )],
        )
        .await
        .unwrap();
        match meta::check_partitions(&k, &meta_topic, &targets).await {
            Err(MetaError::Mismatch { recorded, now, .. }) => assert_eq!((recorded, now), (6, 3)),
            other => panic!("expected a mismatch, got {other:?}"),
        }
    });
}

#[test]
fn reading_a_topic_that_does_not_exist_says_so() {
    let b = Broker::start();
    let k = settings(&b);
    let rt = rt();
    let e = rt
        .block_on(log::read_to_end(
            &k,
            &unique("nothing"),
            Duration::from_secs(10),
        ))
        .unwrap_err();
    assert!(e.to_string().contains("does not exist"), "{e}");
}

/// `uptimer publish` in `dir` against the broker.
fn publish(b: &Broker, dir: &std::path::Path, topic: &str, args: &[&str]) -> std::process::Output {
    support::uptimer(dir)
        .arg("publish")
        .args(args)
        .env("KAFKA_BOOTSTRAP_SERVER", b.bootstrap())
        .env("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT")
        .env("FLEET_TARGETS_TOPIC", topic)
        .env("FLEET_META_TOPIC", format!("{topic}.meta"))
        .env("FLEET_TARGETS_PARTITIONS", "3")
        .output()
        .unwrap()
}

fn table(
    rt: &tokio::runtime::Runtime,
    k: &KafkaSettings,
    topic: &str,
) -> std::collections::HashMap<String, uptimer::fleet::targets::Published> {
    let read = rt
        .block_on(log::read_to_end(k, topic, Duration::from_secs(20)))
        .unwrap();
    let (table, bad) = fold(&read);
    assert!(bad.is_empty(), "{bad:?}");
    table
}

#[test]
fn publish_syncs_a_files_targets_and_leaves_other_sources_alone() {
    let b = Broker::start();
    let k = settings(&b);
    let topic = unique("targets");
    let dir = tempfile::tempdir().unwrap();
    let rt = rt();
    let write = |targets: &str| {
        std::fs::write(
            dir.path().join("fleet.yaml"),
            format!("fleet:\n  locations: [eu, us, ap]\ntargets:\n{targets}"),
        )
        .unwrap()
    };
    write(
        "  - url: https://a.example/health\n  - {id: billing, url: 'https://${BILLING_HOST}/health', headers: {Authorization: 'Bearer ${BILLING_TOKEN}'}, interval: 1m}\n  - url: https://c.example/\n",
    );
    let out = publish(&b, dir.path(), &topic, &["--config", "fleet.yaml"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.starts_with("published 3 target(s), 0 unchanged, 0 removed (source file:fleet.yaml"),
        "{stdout}"
    );
    let t = table(&rt, &k, &topic);
    assert_eq!(t.len(), 3);
    // The reference travels as written, with the settings every location must agree on.
    let billing = &t["billing"].definition;
    assert_eq!(billing["url"], "https://${BILLING_HOST}/health");
    assert_eq!(
        billing["headers"]["Authorization"],
        "Bearer ${BILLING_TOKEN}"
    );
    assert_eq!(
        (billing["interval"].as_str(), billing["timeout"].as_str()),
        (Some("60s"), Some("10s"))
    );
    // The records are JobEvents that validate against their schema.
    let read = rt
        .block_on(log::read_to_end(&k, &topic, Duration::from_secs(20)))
        .unwrap();
    for r in &read {
        let doc: serde_json::Value = serde_json::from_slice(r.value.as_deref().unwrap()).unwrap();
        assert_eq!(doc["schema_title"], "JobEvent");
        uptimer::event::schema::validate_event(&doc).unwrap();
    }

    // Another source's target: never removed by this file, and its id not taken.
    rt.block_on(log::write(
        &k,
        &topic,
        &[("api-1".into(), Some(json!({"schema_title": "JobEvent", "source": "api", "definition": {"id": "api-1", "url": "https://api.example/"}}).to_string().into_bytes()))],
    ))
    .unwrap();

    // Publishing again changes nothing; dropping one target removes it (unless --no-delete).
    let out = publish(&b, dir.path(), &topic, &["--config", "fleet.yaml"]);
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .starts_with("published 0 target(s), 3 unchanged, 0 removed")
    );
    write("  - url: https://a.example/health\n  - url: https://d.example/\n");
    let out = publish(
        &b,
        dir.path(),
        &topic,
        &["--config", "fleet.yaml", "--no-delete"],
    );
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .starts_with("published 1 target(s), 1 unchanged, 0 removed"),
        "{out:?}"
    );
    assert_eq!(table(&rt, &k, &topic).len(), 5);
    let out = publish(
        &b,
        dir.path(),
        &topic,
        &["--config", "fleet.yaml", "--dry-run"],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("remove billing\n")
            && stdout.contains("dry run: would have published 0 target(s), 2 unchanged, 2 removed"),
        "{stdout}"
    );
    assert_eq!(table(&rt, &k, &topic).len(), 5, "a dry run changes nothing");
    let out = publish(&b, dir.path(), &topic, &["--config", "fleet.yaml"]);
    assert!(out.status.success());
    let t = table(&rt, &k, &topic);
    let mut ids: Vec<&str> = t.keys().map(String::as_str).collect();
    ids.sort();
    assert_eq!(ids.len(), 3, "{ids:?}");
    assert!(
        ids.contains(&"api-1") && !ids.contains(&"billing"),
        "{ids:?}"
    );

    // A target of this file with the other source's id is refused, naming both.
    write("  - {id: api-1, url: 'https://x.example/'}\n");
    let out = publish(&b, dir.path(), &topic, &["--config", "fleet.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("target \"api-1\" is published by api, not by file:fleet.yaml"),
        "{stderr}"
    );
}

#[test]
fn publish_refuses_a_file_it_cannot_publish_before_touching_the_brokers() {
    let dir = tempfile::tempdir().unwrap();
    let run = |yaml: &str| {
        std::fs::write(dir.path().join("f.yaml"), yaml).unwrap();
        let out = support::uptimer(dir.path())
            .args(["publish", "--config", "f.yaml"])
            // Nothing listens here: every case must stop before connecting.
            .env("KAFKA_BOOTSTRAP_SERVER", "127.0.0.1:9")
            .env("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, e) = run("targets: [{url: https://a.example/}]\n");
    assert_eq!(code, Some(2));
    assert!(e.contains("fleet.locations"), "{e}");
    let (code, e) = run("fleet: {locations: [eu, us]}\ntargets: [{url: 'https://${HOST}/'}]\n");
    assert_eq!(code, Some(2));
    assert!(
        e.contains("targets[0]: a target whose url has ${NAME} references needs an id"),
        "{e}"
    );
    let (code, e) = run(
        "fleet: {locations: [eu, us]}\ntargets: [{url: https://a.example/}, {url: https://a.example/, id: x}, {url: https://b.example/, id: x}]\n",
    );
    assert_eq!(code, Some(2));
    assert!(e.contains("targets[2]") && e.contains("same id x"), "{e}");
}
