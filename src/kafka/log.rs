//! Keyed logs: topics read as a table (the latest record of each key wins, an empty payload
//! deletes the key), as the fleet keeps its targets and its metadata. Reading one never joins a
//! group and never commits: every partition is assigned and read from its beginning up to the
//! high watermarks seen when the read starts. Correctness does not depend on the broker having
//! compacted the topic: later offsets win whatever is still there.

use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

pub use super::client::{TopicSpec, ensure_topics_with};
use super::{KafkaSettings, Record};

/// A keyed log could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("cannot create a Kafka client: {0}")]
    Client(#[source] KafkaError),
    #[error("cannot read the partitions of topic {topic}: {source}")]
    Metadata {
        topic: String,
        #[source]
        source: KafkaError,
    },
    #[error("topic {0} does not exist")]
    NoTopic(String),
    #[error("reading topic {topic} failed: {source}")]
    Read {
        topic: String,
        #[source]
        source: KafkaError,
    },
    #[error(
        "reading topic {topic} did not reach its end within {timeout:?} ({read} records read); \
         are the brokers reachable?"
    )]
    Timeout {
        topic: String,
        timeout: Duration,
        read: usize,
    },
    #[error("writing to topic {topic} failed: {source}")]
    Write {
        topic: String,
        #[source]
        source: KafkaError,
    },
}

/// The configuration of a compacted topic: the latest record per key is kept, and a tombstone
/// for `delete_retention` (a reader that starts from the beginning must reach the head within
/// it, or it may miss a delete).
pub fn compacted(delete_retention: Duration) -> [(&'static str, String); 3] {
    [
        ("cleanup.policy", "compact".to_owned()),
        (
            "delete.retention.ms",
            delete_retention.as_millis().to_string(),
        ),
        ("min.compaction.lag.ms", "0".to_owned()),
    ]
}

fn client_config(k: &KafkaSettings) -> ClientConfig {
    let mut c = ClientConfig::new();
    for (key, value) in k.client_properties() {
        c.set(key, value);
    }
    c
}

/// How many partitions `topic` has.
pub async fn partition_count(k: &KafkaSettings, topic: &str) -> Result<i32, LogError> {
    let k = k.clone();
    let topic = topic.to_owned();
    blocking(move || {
        let consumer = log_consumer(&k)?;
        partitions_of(&consumer, &topic, Duration::from_secs(15)).map(|p| p.len() as i32)
    })
    .await
}

/// Reads every record of `topic`, from the beginning of each partition up to its high
/// watermark when the read starts, in offset order per partition. Fails when the end is not
/// reached within `timeout`.
pub async fn read_to_end(
    k: &KafkaSettings,
    topic: &str,
    timeout: Duration,
) -> Result<Vec<Record>, LogError> {
    let k = k.clone();
    let topic = topic.to_owned();
    blocking(move || read_blocking(&k, &topic, timeout)).await
}

/// Writes `records` (key, value; `None` is a tombstone) to `topic` and waits until every one is
/// acknowledged by the brokers (`acks=all`, idempotent).
pub async fn write(
    k: &KafkaSettings,
    topic: &str,
    records: &[(String, Option<Vec<u8>>)],
) -> Result<(), LogError> {
    let producer: FutureProducer = super::producer_config(k, crate::event::EventFormat::Current)
        .create()
        .map_err(LogError::Client)?;
    let sends = records.iter().map(|(key, value)| {
        let mut r = FutureRecord::<String, Vec<u8>>::to(topic).key(key);
        if let Some(v) = value {
            r = r.payload(v);
        }
        producer.send(r, Duration::from_secs(30))
    });
    for sent in futures_util::future::join_all(sends).await {
        sent.map_err(|(source, _)| LogError::Write {
            topic: topic.to_owned(),
            source,
        })?;
    }
    Ok(())
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, LogError> + Send + 'static,
) -> Result<T, LogError> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}

/// A consumer that only ever assigns partitions: it joins no group and commits nothing.
/// librdkafka wants a `group.id` for any consumer; a throwaway one is never used as a group.
fn log_consumer(k: &KafkaSettings) -> Result<BaseConsumer, LogError> {
    let mut c = client_config(k);
    c.set(
        "group.id",
        format!("uptimer.log.{}", uuid::Uuid::new_v4().simple()),
    )
    .set("enable.auto.commit", "false")
    .set("enable.auto.offset.store", "false")
    .set("enable.partition.eof", "false");
    for (key, value) in &k.consumer_config {
        if key != "group.id" && key != "group.instance.id" {
            c.set(key, value);
        }
    }
    c.create().map_err(LogError::Client)
}

fn partitions_of(
    consumer: &BaseConsumer,
    topic: &str,
    timeout: Duration,
) -> Result<Vec<i32>, LogError> {
    let meta = consumer
        .fetch_metadata(Some(topic), timeout)
        .map_err(|source| LogError::Metadata {
            topic: topic.to_owned(),
            source,
        })?;
    let t = meta
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .ok_or_else(|| LogError::NoTopic(topic.to_owned()))?;
    if t.error().is_some() || t.partitions().is_empty() {
        return Err(LogError::NoTopic(topic.to_owned()));
    }
    Ok(t.partitions().iter().map(|p| p.id()).collect())
}

fn read_blocking(
    k: &KafkaSettings,
    topic: &str,
    timeout: Duration,
) -> Result<Vec<Record>, LogError> {
    let deadline = Instant::now() + timeout;
    let left = || deadline.saturating_duration_since(Instant::now());
    let consumer = log_consumer(k)?;
    let partitions = partitions_of(&consumer, topic, left())?;
    // The end of each partition now: what was written before the read started is read.
    let mut ends = Vec::new();
    for p in partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, p, left())
            .map_err(|source| LogError::Metadata {
                topic: topic.to_owned(),
                source,
            })?;
        if high > low {
            ends.push((p, high));
        }
    }
    let mut records = Vec::new();
    if ends.is_empty() {
        return Ok(records);
    }
    let mut tpl = TopicPartitionList::new();
    for (p, _) in &ends {
        tpl.add_partition_offset(topic, *p, Offset::Beginning)
            .map_err(LogError::Client)?;
    }
    consumer.assign(&tpl).map_err(LogError::Client)?;
    let mut open = ends.len();
    let mut next = vec![0i64; ends.len()];
    while open > 0 {
        let wait = left();
        if wait.is_zero() {
            return Err(LogError::Timeout {
                topic: topic.to_owned(),
                timeout,
                read: records.len(),
            });
        }
        let Some(m) = consumer.poll(wait.min(Duration::from_millis(200))) else {
            continue;
        };
        let m = m.map_err(|source| LogError::Read {
            topic: topic.to_owned(),
            source,
        })?;
        let Some(i) = ends.iter().position(|(p, _)| *p == m.partition()) else {
            continue;
        };
        let end = ends[i].1;
        if next[i] >= end {
            continue;
        }
        next[i] = m.offset() + 1;
        if m.offset() < end {
            records.push(Record {
                partition: m.partition(),
                offset: m.offset(),
                key: m.key().unwrap_or_default().to_vec(),
                value: m.payload().map(<[u8]>::to_vec),
            });
        }
        if next[i] >= end {
            open -= 1;
        }
    }
    Ok(records)
}
