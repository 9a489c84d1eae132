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
