//! `writers.kafka`: events as JSON to a Kafka topic, keyed by target so each target's events
//! stay in order. Idempotent producer with `acks=all`; a message librdkafka finally fails to
//! deliver is logged, counted and retried with backoff (the batch is held, which pushes back on
//! the probers) — never dropped silently. Shutdown flushes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};

use super::{Batching, WriteError, Writer};
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
}

pub struct KafkaWriter {
    producer: FutureProducer,
    topic: String,
    pub stats: Arc<ProducerStats>,
    metrics: WriterMetrics,
    /// `uptimer_producer_queue_messages`: librdkafka's queue, after each batch.
    queue: Level,
}

/// The message key: the target id for probe events (per-target order), else the uuid.
pub fn key(event: &Event) -> String {
    match event {
        Event::Probe(p) => p
            .target
            .clone()
            .unwrap_or_else(|| p.envelope.uuid.to_string()),
        other => other.envelope().uuid.to_string(),
    }
}

impl KafkaWriter {
    /// Up once the producer exists (a broker that cannot be reached shows as failed deliveries,
    /// which mark the writer down until one succeeds).
    pub async fn new(settings: &Settings, metrics: &Metrics) -> Result<KafkaWriter, String> {
        let k = &settings.kafka;
        k.require("writers.kafka").map_err(|e| e.to_string())?;
        let topic = k.writer_topic.clone().unwrap_or_default();
        ensure_topics(k, &[&topic])
            .await
            .map_err(|e| e.to_string())?;
        let producer: FutureProducer = producer_config(k, settings.event_format)
            .create()
            .map_err(|e| format!("cannot create the Kafka producer: {e}"))?;
        let writer_metrics = metrics.writer(NAME);
        writer_metrics.up.set(true);
        Ok(KafkaWriter {
            producer,
            topic,
            stats: Arc::default(),
            metrics: writer_metrics,
            queue: metrics.producer_queue(NAME),
        })
    }

    /// Queues one message, waiting while librdkafka's local queue is full.
    async fn enqueue(&self, payload: &[u8], key: &str) -> DeliveryFuture {
        let mut backoff = Duration::from_millis(10);
        loop {
            let record = FutureRecord::to(&self.topic).payload(payload).key(key);
            match self.producer.send_result(record) {
                Ok(f) => return f,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err((e, _)) => {
                    self.stats.failed_attempts.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(error = %e, "cannot queue a Kafka message; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
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

    async fn write(&mut self, batch: &[Event]) -> Result<(), WriteError> {
        let encoded: Vec<(Vec<u8>, String)> = batch
            .iter()
            .map(|e| (serde_json::to_vec(e).unwrap_or_default(), key(e)))
            .collect();
        let mut pending: Vec<usize> = (0..encoded.len()).collect();
        let mut backoff = Duration::from_millis(500);
        while !pending.is_empty() {
            let mut futures = Vec::with_capacity(pending.len());
            for &i in &pending {
                futures.push((i, self.enqueue(&encoded[i].0, &encoded[i].1).await));
            }
            self.queue
                .set(self.producer.in_flight_count().max(0) as u64);
            let mut failed = Vec::new();
            for (i, f) in futures {
                match f.await {
                    Ok(Ok(_)) => {
                        self.stats.delivered.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(Err((e, _))) => {
                        tracing::warn!(error = %e, key = %encoded[i].1, "Kafka delivery failed; will retry");
                        failed.push(i);
                    }
                    Err(_) => failed.push(i),
                }
            }
            self.queue
                .set(self.producer.in_flight_count().max(0) as u64);
            if failed.is_empty() {
                self.metrics.up.set(true);
            } else {
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
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
            pending = failed;
        }
        Ok(())
    }

    async fn close(&mut self) -> Result<(), WriteError> {
        let producer = self.producer.clone();
        tokio::task::spawn_blocking(move || producer.flush(Duration::from_secs(30)))
            .await
            .map_err(|e| WriteError::Fatal {
                writer: "writers.kafka",
                message: e.to_string(),
            })?
            .map_err(|e| WriteError::Fatal {
                writer: "writers.kafka",
                message: format!("flush at shutdown failed: {e}"),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_events_are_keyed_by_target() {
        let mut p = crate::event::ProbeEvent::new(time::OffsetDateTime::now_utc(), "http", "h", 80);
        p.target = Some("abc".into());
        assert_eq!(key(&Event::from(p)), "abc");
        let d = crate::event::DummyEvent::new("t", "r", 1, 1.0);
        let uuid = d.envelope.uuid.to_string();
        assert_eq!(key(&Event::from(d)), uuid);
    }
}
