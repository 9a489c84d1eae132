//! `writers.kafka`: events as JSON to a Kafka topic, keyed by target so each target's events
//! stay in order. Idempotent producer with `acks=all`; a batch is durable once the broker
//! acknowledged every message. Errors are classified once ([`classify`]): a message librdkafka
//! finally fails to deliver for a passing reason (broker away, leader moving) is retried with
//! backoff (the batch is held, which pushes back on the probers); one the broker will never take
//! (too large, topic not authorized or missing) is logged once per cause, counted and kept in
//! `DATA_DIR/rejects/<topic>.jsonl` so probing goes on. Retries stop at the shutdown timeout.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::rejects::{RejectFile, RejectSink, Rejected};
use super::{Batching, Durable, WriteError, Writer};
use crate::config::Settings;
use crate::event::Event;
use crate::kafka::{ensure_topics, producer_config};
use crate::metrics::{Level, Metrics, WriterMetrics};

const NAME: &str = "writers.kafka";

/// Counters a health view can read.
#[derive(Debug, Default)]
pub struct ProducerStats {
    pub delivered: AtomicU64,
    pub failed_attempts: AtomicU64,
    /// Messages the broker will never take, kept in the rejects file.
    pub rejected: AtomicU64,
}

pub struct KafkaWriter {
    shared: Arc<Shared>,
    pub stats: Arc<ProducerStats>,
}

/// What the writer and its batches' durability futures share.
struct Shared {
    producer: FutureProducer,
    topic: String,
    rejects: RejectFile,
    give_up: CancellationToken,
    stats: Arc<ProducerStats>,
    metrics: WriterMetrics,
    /// `uptimer_producer_queue_messages`: librdkafka's queue.
    queue: Level,
    /// The permanent causes already logged at error level (each is logged once).
    told: Mutex<HashSet<i32>>,
}

/// The message key: the target id for probe and verdict events (per-target order), else the
/// uuid.
pub fn key(event: &Event) -> String {
    match event {
        Event::Probe(p) => p
            .target
            .clone()
            .unwrap_or_else(|| p.envelope.uuid.to_string()),
        Event::Verdict(v) => v.target.clone(),
        other => other.envelope().uuid.to_string(),
    }
}

/// What to do about a producer error: the one place that decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// The broker is away, busy or moving a leader: retry later, keep the message.
    Transient,
    /// This message will never be taken (too large, not authorized, no such topic): keep it in
    /// the rejects file and go on.
    Permanent,
}

pub fn classify(e: &KafkaError) -> Class {
    use RDKafkaErrorCode as C;
    match e.rdkafka_error_code() {
        Some(
            C::MessageSizeTooLarge
            | C::InvalidMessageSize
            | C::InvalidMessage
            | C::BadMessage
            | C::InvalidRecord
            | C::InvalidDifferentRecord
            | C::InvalidTimestamp
            | C::TopicAuthorizationFailed
            | C::ClusterAuthorizationFailed
            | C::UnknownTopic
            | C::UnknownPartition
            | C::InvalidTopic
            | C::PolicyViolation
            | C::UnsupportedForMessageFormat
            | C::InvalidArgument,
        ) => Class::Permanent,
        _ => Class::Transient,
    }
}

/// What an operator can do about a permanent error.
fn advice(code: Option<RDKafkaErrorCode>) -> &'static str {
    use RDKafkaErrorCode as C;
    match code {
        Some(C::MessageSizeTooLarge | C::InvalidMessageSize) => {
            "raise message.max.bytes (KAFKA_PRODUCER_CONFIG) and the topic's max.message.bytes"
        }
        Some(C::TopicAuthorizationFailed | C::ClusterAuthorizationFailed) => {
            "grant this client's principal Write on the topic"
        }
        Some(C::UnknownTopic | C::UnknownPartition | C::InvalidTopic) => {
            "create the topic (or set KAFKA_CREATE_TOPICS=true) and check KAFKA_WRITER_TOPIC"
        }
        _ => "see the cause; the events are kept in the rejects file",
    }
}

/// Why a message could not be queued.
enum Unqueued {
    /// Never to be taken: reject it.
    Permanent(KafkaError),
    /// Shutdown's time ran out.
    ShutDown,
}

impl Shared {
    /// Queues one message, waiting while librdkafka's local queue is full and retrying passing
    /// errors with backoff until `give_up`.
    async fn enqueue(&self, payload: &[u8], key: &str) -> Result<DeliveryFuture, Unqueued> {
        let mut backoff = Duration::from_millis(10);
        loop {
            let record = FutureRecord::to(&self.topic).payload(payload).key(key);
            let wait = match self.producer.send_result(record) {
                Ok(f) => return Ok(f),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    Duration::from_millis(5)
                }
                Err((e, _)) if classify(&e) == Class::Permanent => {
                    return Err(Unqueued::Permanent(e));
                }
                Err((e, _)) => {
                    self.stats.failed_attempts.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(error = %e, "cannot queue a Kafka message; retrying");
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    backoff / 2
                }
            };
            tokio::select! {
                _ = self.give_up.cancelled() => return Err(Unqueued::ShutDown),
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Logs a permanent error (at error level the first time for its cause) and counts it.
    fn reject(&self, e: &KafkaError, key: &str, rejected: &mut Vec<Rejected>, payload: &[u8]) {
        let code = e.rdkafka_error_code();
        let first = code.is_none_or(|c| self.told.lock().expect("told lock").insert(c as i32));
        if first {
            tracing::error!(
                topic = %self.topic, error = %e, key, what_to_do = advice(code),
                "Kafka will not take this message; it and others refused for the same cause are kept in the rejects file"
            );
        } else {
            tracing::debug!(error = %e, key, "Kafka message rejected");
        }
        self.stats.rejected.fetch_add(1, Ordering::Relaxed);
        self.metrics.rejected.inc();
        self.metrics.rejected.inc();
        let event: Value = serde_json::from_slice(payload)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(payload).into_owned()));
        rejected.push(Rejected::new(&self.topic, &event, e.to_string()));
    }

    /// Waits until every message is delivered or rejected; failed deliveries are queued again
    /// with backoff. Then the rejects are kept (fsynced) and the batch is durable.
    async fn deliver(
        self: Arc<Self>,
        encoded: Vec<(Vec<u8>, String)>,
        mut queued: Vec<(usize, DeliveryFuture)>,
        mut rejected: Vec<Rejected>,
    ) -> Result<(), WriteError> {
        let shut_down = || WriteError::ShutDown { writer: NAME };
        let mut backoff = Duration::from_millis(500);
        loop {
            let mut failed = Vec::new();
            for (i, f) in queued.drain(..) {
                let outcome = tokio::select! {
                    _ = self.give_up.cancelled() => return Err(shut_down()),
                    o = f => o,
                };
                match outcome {
                    Ok(Ok(_)) => {
                        self.stats.delivered.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(Err((e, _))) if classify(&e) == Class::Permanent => {
                        self.reject(&e, &encoded[i].1, &mut rejected, &encoded[i].0)
                    }
                    Ok(Err((e, _))) => {
                        tracing::warn!(error = %e, key = %encoded[i].1, "Kafka delivery failed; will retry");
                        failed.push(i);
                    }
                    // The producer is gone (it is only dropped at exit).
                    Err(_) => failed.push(i),
                }
            }
            self.queue
                .set(self.producer.in_flight_count().max(0) as u64);
            if failed.is_empty() {
                self.metrics.up.set(true);
                break;
            }
            self.metrics.failed();
            self.metrics.retries.add(failed.len() as u64);
            self.stats
                .failed_attempts
                .fetch_add(failed.len() as u64, Ordering::Relaxed);
            tracing::error!(
                failed = failed.len(),
                retry_in_ms = backoff.as_millis() as u64,
                "Kafka deliveries failed after librdkafka's retries; holding them for another try"
            );
            tokio::select! {
                _ = self.give_up.cancelled() => return Err(shut_down()),
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(30));
            for i in failed {
                match self.enqueue(&encoded[i].0, &encoded[i].1).await {
                    Ok(f) => queued.push((i, f)),
                    Err(Unqueued::Permanent(e)) => {
                        self.reject(&e, &encoded[i].1, &mut rejected, &encoded[i].0)
                    }
                    Err(Unqueued::ShutDown) => return Err(shut_down()),
                }
            }
        }
        if !rejected.is_empty() {
            self.rejects
                .keep(rejected)
                .await
                .map_err(|e| WriteError::Fatal {
                    writer: NAME,
                    message: e.to_string(),
                })?;
        }
        Ok(())
    }
}

impl KafkaWriter {
    /// Up once the producer exists (a broker that cannot be reached shows as failed deliveries,
    /// which mark the writer down until one succeeds). Retries end when `give_up` is cancelled.
    pub async fn new(
        settings: &Settings,
        metrics: &Metrics,
        give_up: CancellationToken,
    ) -> Result<KafkaWriter, String> {
        let k = &settings.kafka;
        k.require(NAME).map_err(|e| e.to_string())?;
        let topic = k.writer_topic.clone().unwrap_or_default();
        ensure_topics(k, &[&topic])
            .await
            .map_err(|e| e.to_string())?;
        let producer: FutureProducer = producer_config(k, settings.event_format)
            .create()
            .map_err(|e| format!("cannot create the Kafka producer: {e}"))?;
        let writer_metrics = metrics.writer(NAME);
        writer_metrics.up.set(true);
        let stats = Arc::new(ProducerStats::default());
        Ok(KafkaWriter {
            shared: Arc::new(Shared {
                producer,
                topic,
                rejects: RejectFile {
                    dir: settings.data_dir.join("rejects"),
                },
                give_up,
                stats: stats.clone(),
                metrics: writer_metrics,
                queue: metrics.producer_queue(NAME),
                told: Mutex::default(),
            }),
            stats,
        })
    }
}

#[async_trait::async_trait]
impl Writer for KafkaWriter {
    fn name(&self) -> &'static str {
        NAME
    }

    fn batching(&self) -> Batching {
        Batching {
            max_events: 5000,
            max_age: Duration::from_millis(50),
        }
    }

    /// librdkafka pipelines: the next batch is queued while the broker acknowledges this one.
    fn in_flight(&self) -> usize {
        4
    }

    async fn write(&mut self, batch: Vec<Event>) -> Result<Durable, WriteError> {
        let encoded: Vec<(Vec<u8>, String)> = batch
            .iter()
            .map(|e| (serde_json::to_vec(e).unwrap_or_default(), key(e)))
            .collect();
        drop(batch);
        let mut queued = Vec::with_capacity(encoded.len());
        let mut rejected = Vec::new();
        for (i, (payload, key)) in encoded.iter().enumerate() {
            match self.shared.enqueue(payload, key).await {
                Ok(f) => queued.push((i, f)),
                Err(Unqueued::Permanent(e)) => self.shared.reject(&e, key, &mut rejected, payload),
                Err(Unqueued::ShutDown) => return Err(WriteError::ShutDown { writer: NAME }),
            }
        }
        self.shared
            .queue
            .set(self.shared.producer.in_flight_count().max(0) as u64);
        self.shared
            .queue
            .set(self.shared.producer.in_flight_count().max(0) as u64);
        Ok(Box::pin(
            self.shared.clone().deliver(encoded, queued, rejected),
        ))
    }

    /// Flushes what librdkafka still holds, until delivered or the shutdown timeout.
    async fn close(&mut self) -> Result<(), WriteError> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let producer = self.shared.producer.clone();
            let flushed =
                tokio::task::spawn_blocking(move || producer.flush(Duration::from_millis(100)))
                    .await
                    .map_err(|e| WriteError::Fatal {
                        writer: NAME,
                        message: e.to_string(),
                    })?;
            match flushed {
                Ok(()) => return Ok(()),
                Err(e)
                    if self.shared.give_up.is_cancelled()
                        || tokio::time::Instant::now() >= deadline =>
                {
                    let left = self.shared.producer.in_flight_count();
                    tracing::warn!(error = %e, messages = left, "Kafka producer not flushed at shutdown");
                    return Ok(());
                }
                Err(_) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_broker_will_never_take_is_permanent_and_outages_are_transient() {
        use RDKafkaErrorCode as C;
        let produce = |c| KafkaError::MessageProduction(c);
        for c in [
            C::MessageSizeTooLarge,
            C::TopicAuthorizationFailed,
            C::UnknownTopic,
            C::InvalidRecord,
        ] {
            assert_eq!(classify(&produce(c)), Class::Permanent, "{c:?}");
        }
        for c in [
            C::MessageTimedOut,
            C::AllBrokersDown,
            C::NotLeaderForPartition,
            C::UnknownTopicOrPartition,
            C::QueueFull,
        ] {
            assert_eq!(classify(&produce(c)), Class::Transient, "{c:?}");
        }
        assert!(advice(Some(C::MessageSizeTooLarge)).contains("message.max.bytes"));
    }

    #[test]
    fn probe_and_verdict_events_are_keyed_by_target() {
        let now = time::OffsetDateTime::now_utc();
        let mut p = crate::event::ProbeEvent::new(now, "http", "h", Some(80));
        p.target = Some("abc".into());
        assert_eq!(key(&Event::from(p)), "abc");
        let v = crate::event::VerdictEvent::new("abc", 7, crate::event::Verdict::Down, now);
        assert_eq!(key(&Event::from(v)), "abc");
        let d = crate::event::DummyEvent::new("t", "r", 1, 1.0);
        let uuid = d.envelope.uuid.to_string();
        assert_eq!(key(&Event::from(d)), uuid);
    }
}
