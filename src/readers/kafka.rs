//! `readers.kafka`: consumes events other instances produced and hands them to the writers.
//!
//! At-least-once: offsets are stored only after every writer has written the batch that holds
//! them (and a dead letter has been delivered), so a crash at any point re-delivers, and the
//! `uuid` key makes the re-delivery harmless. A message that can never be written (not JSON,
//! unknown type, another major version, fails its schema) goes to the dead-letter topic with the
//! reason in a header, is counted, and consumption moves on. A writer that cannot write holds
//! the batch (back-pressure): nothing is committed meanwhile.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::ClientContext;
use rdkafka::consumer::{CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde::Deserialize;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::event::{DummyEvent, Event, JobEvent, ProbeEvent, schema};
use crate::pipeline::{PipelineError, RunSummary};
use crate::writers::postgres::{RejectSink, Rejected};
use crate::writers::{Writer, kafka as kw};

/// What the consumer did; readable by a health view.
#[derive(Debug, Default)]
pub struct ConsumerStats {
    pub consumed: AtomicU64,
    pub written: AtomicU64,
    pub dead_lettered: AtomicU64,
    /// Fields of a newer minor version that we do not know and dropped.
    pub unknown_fields_dropped: AtomicU64,
    /// Messages behind the high watermark, summed over assigned partitions.
    pub lag: AtomicI64,
}

/// Logs rebalances; librdkafka commits the stored offsets of revoked partitions itself.
struct Context;

impl ClientContext for Context {}

impl ConsumerContext for Context {
    fn pre_rebalance(&self, _: &rdkafka::consumer::BaseConsumer<Self>, r: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = r {
            tracing::info!(partitions = tpl.count(), "Kafka partitions revoked");
        }
    }

    fn post_rebalance(&self, _: &rdkafka::consumer::BaseConsumer<Self>, r: &Rebalance<'_>) {
        match r {
            Rebalance::Assign(tpl) => {
                tracing::info!(partitions = tpl.count(), "Kafka partitions assigned")
            }
            Rebalance::Error(e) => tracing::warn!(error = %e, "Kafka rebalance error"),
            Rebalance::Revoke(_) => {}
        }
    }
}

/// A message on its way to the dead-letter topic.
struct DeadLetter {
    payload: Vec<u8>,
    key: Option<Vec<u8>>,
    reason: String,
    partition: i32,
    offset: i64,
}

/// Rows the database rejects while consuming go to the dead-letter topic too (not a local
/// file): delivered before the batch's offsets are stored.
pub struct DeadLetterSink {
    producer: FutureProducer,
    topic: String,
    source: String,
}

/// The sink `writers.postgres` uses for rejected rows when the events come from Kafka.
pub fn reject_sink(settings: &Settings) -> Result<Arc<dyn RejectSink>, String> {
    let producer = kw::producer_config(&settings.kafka, settings.event_format)
        .create()
        .map_err(|e| format!("cannot create the dead-letter producer: {e}"))?;
    Ok(Arc::new(DeadLetterSink {
        producer,
        topic: settings.kafka.dlq(),
        source: settings.kafka.reader_topic.clone().unwrap_or_default(),
    }))
}

#[async_trait::async_trait]
impl RejectSink for DeadLetterSink {
    async fn keep(&self, rows: Vec<Rejected>) -> Result<(), String> {
        for row in rows {
            let letter = DeadLetter {
                payload: serde_json::to_vec(&row.event).map_err(|e| e.to_string())?,
                key: row.uuid.map(String::into_bytes),
                reason: format!("rejected by {}: {}", row.table, row.reason),
                partition: -1,
                offset: -1,
            };
            dead_letter(&self.producer, &self.topic, &self.source, &letter).await;
        }
        Ok(())
    }
}

/// Why a message cannot be written, ever.
#[derive(Debug, PartialEq)]
pub struct Poison(pub String);

/// Parses and validates one message into a typed event; returns it with the number of fields
/// it carried that our version does not know (dropped).
pub fn parse(payload: Option<&[u8]>) -> Result<(Event, usize), Poison> {
    let payload = payload.ok_or_else(|| Poison("empty message".into()))?;
    let doc: Value =
        serde_json::from_slice(payload).map_err(|e| Poison(format!("not JSON: {e}")))?;
    let schema = schema::validate_event(&doc).map_err(|e| Poison(e.to_string()))?;
    let bad = |e: serde_json::Error| Poison(format!("does not fit {}: {e}", schema.title));
    let event = match schema.title.as_str() {
        ProbeEvent::TITLE => Event::from(ProbeEvent::deserialize(&doc).map_err(bad)?),
        DummyEvent::TITLE => Event::from(DummyEvent::deserialize(&doc).map_err(bad)?),
        JobEvent::TITLE => Event::Job(JobEvent::deserialize(&doc).map_err(bad)?),
        other => return Err(Poison(format!("no writer stores {other}"))),
    };
    let dropped = doc.as_object().map_or(0, |o| {
        o.keys()
            .filter(|k| !schema.fields.contains(k.as_str()))
            .count()
    });
    Ok((event, dropped))
}

fn consumer(settings: &Settings) -> Result<StreamConsumer<Context>, String> {
    let k = &settings.kafka;
    let mut c = ClientConfig::new();
    for (key, value) in k.client_properties() {
        c.set(key, value);
    }
    c.set("group.id", k.group_id.as_deref().unwrap_or_default())
        .set("enable.auto.offset.store", "false")
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "1000")
        .set("auto.offset.reset", &k.auto_offset_reset)
        .set("partition.assignment.strategy", "cooperative-sticky");
    if let Some(id) = &k.group_instance_id {
        c.set("group.instance.id", id);
    }
    for (key, value) in &k.consumer_config {
        c.set(key, value);
    }
    c.create_with_context(Context)
        .map_err(|e| format!("cannot create the Kafka consumer: {e}"))
}

/// Consumes until `stop`; every batch is written by every writer before its offsets are stored.
pub async fn run(
    settings: &Settings,
    mut writers: Vec<Box<dyn Writer>>,
    stop: CancellationToken,
) -> Result<RunSummary, PipelineError> {
    let setup = PipelineError::Setup;
    let k = &settings.kafka;
    k.require("readers.kafka")
        .map_err(|e| setup(e.to_string()))?;
    let topic = k.reader_topic.clone().unwrap_or_default();
    let dlq_topic = k.dlq();
    kw::ensure_topics(k, &[&topic, &dlq_topic])
        .await
        .map_err(setup)?;
    let consumer = consumer(settings).map_err(setup)?;
    let dlq: FutureProducer = kw::producer_config(k, settings.event_format)
        .create()
        .map_err(|e| setup(format!("cannot create the dead-letter producer: {e}")))?;
    consumer
        .subscribe(&[&topic])
        .map_err(|e| setup(format!("cannot subscribe to {topic}: {e}")))?;
    tracing::info!(%topic, dlq = %dlq_topic, group = k.group_id.as_deref().unwrap_or_default(), "consuming");

    let stats = Arc::new(ConsumerStats::default());
    let max_events = writers
        .iter()
        .map(|w| w.batching().max_events)
        .min()
        .unwrap_or(1000);
    let max_age = writers
        .iter()
        .map(|w| w.batching().max_age)
        .min()
        .unwrap_or(Duration::from_millis(100));
    let mut summary = RunSummary::default();
    let mut last_lag_check = Instant::now();

    loop {
        let mut events: Vec<Event> = Vec::new();
        let mut poison: Vec<DeadLetter> = Vec::new();
        let mut offsets: HashMap<(String, i32), i64> = HashMap::new();
        let first = tokio::select! {
            _ = stop.cancelled() => break,
            m = consumer.recv() => m,
        };
        let deadline = tokio::time::Instant::now() + max_age;
        let mut next = Some(first);
        let mut count = 0usize;
        while let Some(m) = next.take() {
            match m {
                Ok(msg) => {
                    count += 1;
                    offsets.insert((msg.topic().to_owned(), msg.partition()), msg.offset());
                    match parse(msg.payload()) {
                        Ok((event, dropped)) => {
                            if dropped > 0 {
                                stats
                                    .unknown_fields_dropped
                                    .fetch_add(dropped as u64, Ordering::Relaxed);
                            }
                            events.push(event);
                        }
                        Err(Poison(reason)) => poison.push(DeadLetter {
                            payload: msg.payload().unwrap_or_default().to_vec(),
                            key: msg.key().map(<[u8]>::to_vec),
                            reason,
                            partition: msg.partition(),
                            offset: msg.offset(),
                        }),
                    }
                }
                Err(e) => tracing::warn!(error = %e, "Kafka consumer error"),
            }
            if count >= max_events {
                break;
            }
            next = tokio::select! {
                m = consumer.recv() => Some(m),
                _ = tokio::time::sleep_until(deadline) => None,
            };
        }
        stats.consumed.fetch_add(count as u64, Ordering::Relaxed);

        if !events.is_empty() {
            for w in &mut writers {
                w.write_and_wait(&events).await?;
            }
            stats
                .written
                .fetch_add(events.len() as u64, Ordering::Relaxed);
            summary.events += events.len() as u64;
            summary.batches += 1;
        }
        for letter in &poison {
            dead_letter(&dlq, &dlq_topic, &topic, letter).await;
            stats.dead_lettered.fetch_add(1, Ordering::Relaxed);
        }
        for ((t, partition), offset) in offsets {
            // librdkafka stores offset + 1: the next message to read.
            if let Err(e) = consumer.store_offset(&t, partition, offset) {
                // The partition was revoked meanwhile: its new owner re-reads, the uuid dedups.
                tracing::debug!(error = %e, topic = %t, partition, "offset not stored");
            }
        }
        if last_lag_check.elapsed() > Duration::from_secs(10) {
            last_lag_check = Instant::now();
            report_lag(&consumer, &stats);
        }
    }

    tracing::info!("consumer stopping: committing offsets");
    if let Err(e) = consumer.commit_consumer_state(CommitMode::Sync) {
        tracing::debug!(error = %e, "final commit (nothing to commit?)");
    }
    for w in &mut writers {
        w.close().await?;
    }
    tracing::info!(
        consumed = stats.consumed.load(Ordering::Relaxed),
        written = stats.written.load(Ordering::Relaxed),
        dead_lettered = stats.dead_lettered.load(Ordering::Relaxed),
        unknown_fields_dropped = stats.unknown_fields_dropped.load(Ordering::Relaxed),
        "consumer stopped"
    );
    Ok(summary)
}

/// Produces a poison message to the dead-letter topic, retrying until it is delivered: its
/// offset must not be committed before.
async fn dead_letter(dlq: &FutureProducer, dlq_topic: &str, source: &str, letter: &DeadLetter) {
    let DeadLetter {
        payload,
        key,
        reason,
        partition,
        offset,
    } = letter;
    tracing::warn!(topic = source, partition, offset, %reason, "message sent to the dead-letter topic");
    let (partition_s, offset_s) = (partition.to_string(), offset.to_string());
    let mut backoff = Duration::from_millis(200);
    loop {
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "uptimer.error",
                value: Some(reason),
            })
            .insert(Header {
                key: "uptimer.source.topic",
                value: Some(source),
            })
            .insert(Header {
                key: "uptimer.source.partition",
                value: Some(&partition_s),
            })
            .insert(Header {
                key: "uptimer.source.offset",
                value: Some(&offset_s),
            });
        let mut record = FutureRecord::<[u8], [u8]>::to(dlq_topic)
            .payload(payload)
            .headers(headers);
        if let Some(k) = key.as_deref() {
            record = record.key(k);
        }
        match dlq.send(record, Duration::from_secs(30)).await {
            Ok(_) => return,
            Err((e, _)) => {
                tracing::error!(error = %e, "cannot deliver to the dead-letter topic; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}

fn report_lag(consumer: &StreamConsumer<Context>, stats: &ConsumerStats) {
    let Ok(positions) = consumer.position() else {
        return;
    };
    let mut lag = 0i64;
    for e in positions.elements() {
        let Some(pos) = e.offset().to_raw() else {
            continue;
        };
        if pos < 0 {
            continue;
        }
        if let Ok((_, high)) =
            consumer.fetch_watermarks(e.topic(), e.partition(), Duration::from_secs(1))
        {
            lag += (high - pos).max(0);
        }
    }
    stats.lag.store(lag, Ordering::Relaxed);
    tracing::info!(lag, "consumer lag");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_originals_exact_format_is_accepted() {
        // As the Python producer wrote it: json.dumps separators, +00:00 time, no new fields.
        let original = br#"{"schema_title": "ProbeEvent", "schema_version": "0.2.0", "uuid": "1c6f0c2e-8a5d-4a3e-9b7f-2f1d4a5b6c7d", "event_time": "2021-01-15T12:34:56.123456+00:00", "protocol": "https", "hostname": "example.org", "port": 443, "path": "", "status_code": 200, "response_time_ms": 87, "error": "", "regex": null, "matches_regex": null}"#;
        let (event, dropped) = parse(Some(original)).unwrap();
        assert_eq!(dropped, 0);
        let Event::Probe(p) = event else { panic!() };
        assert_eq!((p.status_code, p.error.as_deref()), (200, Some("")));
    }

    #[test]
    fn newer_minor_versions_drop_unknown_fields_and_poison_is_explained() {
        let newer = br#"{"schema_title":"DummyEvent","schema_version":"0.4.0","uuid":"3f2a1b0c-9d8e-4f7a-8b6c-5d4e3f2a1b0c","event_time":"2021-01-15T12:34:56Z","target":"t","reader":"r","integer_value":1,"float_value":2,"shiny":true}"#;
        assert_eq!(parse(Some(newer)).unwrap().1, 1);
        assert!(parse(Some(b"nope")).unwrap_err().0.starts_with("not JSON"));
        assert!(parse(None).is_err());
        let major = br#"{"schema_title":"DummyEvent","schema_version":"1.0.0","uuid":"3f2a1b0c-9d8e-4f7a-8b6c-5d4e3f2a1b0c","event_time":"2021-01-15T12:34:56Z","target":"t","reader":"r","integer_value":1,"float_value":2}"#;
        assert!(parse(Some(major)).unwrap_err().0.contains("major"));
        let unknown = br#"{"schema_title":"Alien","schema_version":"0.1.0","uuid":"3f2a1b0c-9d8e-4f7a-8b6c-5d4e3f2a1b0c","event_time":"2021-01-15T12:34:56Z"}"#;
        assert!(
            parse(Some(unknown))
                .unwrap_err()
                .0
                .contains("unknown schema_title")
        );
    }
}
