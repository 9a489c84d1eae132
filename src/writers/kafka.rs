//! `writers.kafka`: events as JSON to a Kafka topic, keyed by target so each target's events
//! stay in order. Idempotent producer with `acks=all`; a message librdkafka finally fails to
//! deliver is logged, counted and retried with backoff (the batch is held, which pushes back on
//! the probers) — never dropped silently. Shutdown flushes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};

use super::{Batching, WriteError, Writer};
use crate::config::{EventFormat, KafkaSettings, Settings};
use crate::event::Event;
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

/// The producer configuration: shared client settings, then ours, then the user's overrides.
pub fn producer_config(k: &KafkaSettings, format: EventFormat) -> ClientConfig {
    let mut c = ClientConfig::new();
    for (key, value) in k.client_properties() {
        c.set(key, value);
    }
    c.set("acks", "all")
        .set("enable.idempotence", "true")
        // The original's consumer (kafka-python without lz4/zstd/snappy) reads gzip only.
        .set(
            "compression.type",
            if format == EventFormat::Original {
                "gzip"
            } else {
                "lz4"
            },
        )
        .set("linger.ms", "5")
        .set("message.timeout.ms", "60000");
    for (key, value) in &k.producer_config {
        c.set(key, value);
    }
    c
}

/// Creates the topics that do not exist yet (when `KAFKA_CREATE_TOPICS` allows it).
pub async fn ensure_topics(k: &KafkaSettings, topics: &[&str]) -> Result<(), String> {
    if !k.create_topics {
        return Ok(());
    }
    let mut c = ClientConfig::new();
    for (key, value) in k.client_properties() {
        c.set(key, value);
    }
    let admin: AdminClient<DefaultClientContext> = c
        .create()
        .map_err(|e| format!("cannot create a Kafka admin client: {e}"))?;
    let new: Vec<NewTopic> = topics
        .iter()
        .map(|t| NewTopic::new(t, k.topic_partitions, TopicReplication::Fixed(-1)))
        .collect();
    let opts = AdminOptions::new()
        .operation_timeout(Some(Duration::from_secs(10)))
        .request_timeout(Some(Duration::from_secs(15)));
    let results = admin.create_topics(&new, &opts).await.map_err(|e| {
        format!(
            "cannot create topics {topics:?}: {e}; are the brokers reachable with these settings \
                 (KAFKA_BOOTSTRAP_SERVER, KAFKA_SECURITY_PROTOCOL, KAFKA_SSL_*, KAFKA_SASL_*)?"
        )
    })?;
    for r in results {
        match r {
            Ok(t) => tracing::info!(topic = %t, "created Kafka topic"),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((t, e)) => return Err(format!("cannot create topic {t}: {e}")),
        }
    }
    Ok(())
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
        ensure_topics(k, &[&topic]).await?;
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
    use crate::config::Env;

    #[test]
    fn producer_is_idempotent_with_acks_all_and_gzip_for_the_original_consumer() {
        let env = Env::from_pairs([
            ("KAFKA_BOOTSTRAP_SERVER", "127.0.0.1:9092"),
            ("KAFKA_PRODUCER_CONFIG", "linger.ms=50"),
        ]);
        let k = KafkaSettings::from_env(&env).unwrap();
        let c = producer_config(&k, EventFormat::Current);
        assert_eq!(c.get("acks"), Some("all"));
        assert_eq!(c.get("enable.idempotence"), Some("true"));
        assert_eq!(c.get("compression.type"), Some("lz4"));
        // The user's pass-through wins over ours.
        assert_eq!(c.get("linger.ms"), Some("50"));
        let c = producer_config(&k, EventFormat::Original);
        assert_eq!(c.get("compression.type"), Some("gzip"));
    }

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
