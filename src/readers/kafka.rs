//! `readers.kafka`: consumes events other instances produced, as a source of the pipeline:
//! poll, parse, validate, dead-letter decisions; batches go to the pipeline with an
//! acknowledgement, and their offsets are stored when it resolves, in order.
//!
//! At-least-once: an offset is stored only after every writer made the batch that holds it
//! durable (and its dead letters were delivered), so a crash at any point re-delivers, and the
//! `uuid` key makes the re-delivery harmless. A message that can never be written (not JSON,
//! unknown type, another major version, fails its schema) goes to the dead-letter topic with the
//! reason in a header, is counted, and consumption moves on. A writer that cannot write holds
//! its batches (back-pressure: at most [`MAX_UNACKED`] batches wait); nothing is stored meanwhile.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::ClientContext;
use rdkafka::consumer::{CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::message::Message;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::ack::{Ack, AckStatus, SourceBatch};
use crate::config::Settings;
use crate::event::{self, Event};
use crate::kafka::{DeadLetter, DeadLetters, ProducerError, ensure_topics};
use crate::metrics::{ConsumerLag, Count, Flag, Metrics, ReaderMetrics};

/// What the consumer did, for its log lines and `/metrics` (the counters are its series in
/// the reader metrics; `Default` counts for nobody).
#[derive(Debug, Default)]
pub struct ConsumerStats {
    pub consumed: Count,
    pub written: AtomicU64,
    pub dead_lettered: Count,
    /// Fields of a newer minor version that we do not know and dropped.
    pub unknown_fields_dropped: Count,
    /// Messages behind the high watermark, summed over assigned partitions (for the log).
    pub lag: AtomicI64,
    /// The same per partition (`uptimer_consumer_lag`).
    pub partition_lag: ConsumerLag,
}

impl ConsumerStats {
    pub fn new(metrics: &ReaderMetrics, lag: &ConsumerLag) -> Self {
        ConsumerStats {
            consumed: metrics.events.clone(),
            dead_lettered: metrics.dead_letters.clone(),
            unknown_fields_dropped: metrics.unknown_fields_dropped.clone(),
            partition_lag: lag.clone(),
            ..ConsumerStats::default()
        }
    }
}

/// The reader's label in the reader metrics.
pub const NAME: &str = "readers.kafka";

/// How often the lag per partition is reported: librdkafka's statistics, computed from what the
/// fetches already said (no request of its own: a watermark request per partition costs a
/// broker such as tansu more than the fetches themselves).
pub const LAG_EVERY: Duration = Duration::from_secs(5);

/// Logs rebalances (librdkafka commits the stored offsets of revoked partitions itself) and
/// marks the consumer ready once it has joined its group: any assignment, even of no
/// partitions, means it is a member.
pub struct Context {
    joined: Flag,
    stats: Arc<ConsumerStats>,
}

impl ClientContext for Context {
    /// `uptimer_consumer_lag` per assigned partition: the high watermark the last fetch saw
    /// minus the committed offset, as librdkafka computes it (-1, unknown, is left out).
    fn stats(&self, statistics: rdkafka::Statistics) {
        let mut total = 0i64;
        let mut lags = Vec::new();
        for (topic, t) in &statistics.topics {
            for (partition, p) in &t.partitions {
                if *partition < 0 || !p.desired || p.consumer_lag < 0 {
                    continue;
                }
                total += p.consumer_lag;
                lags.push((topic.as_str(), *partition, p.consumer_lag as u64));
            }
        }
        self.stats.partition_lag.report(&lags);
        self.stats.lag.store(total, Ordering::Relaxed);
        tracing::debug!(lag = total, "consumer lag");
    }
}

impl ConsumerContext for Context {
    fn pre_rebalance(&self, _: &rdkafka::consumer::BaseConsumer<Self>, r: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = r {
            tracing::info!(partitions = tpl.count(), "Kafka partitions revoked");
        }
    }

    fn post_rebalance(&self, _: &rdkafka::consumer::BaseConsumer<Self>, r: &Rebalance<'_>) {
        match r {
            Rebalance::Assign(tpl) => {
                self.joined.set(true);
                tracing::info!(partitions = tpl.count(), "Kafka partitions assigned")
            }
            Rebalance::Error(e) => {
                self.joined.set(false);
                tracing::warn!(error = %e, "Kafka rebalance error")
            }
            Rebalance::Revoke(_) => {}
        }
    }
}

/// Why a message cannot be written, ever.
#[derive(Debug, PartialEq)]
pub struct Poison(pub String);

/// Parses and validates one message into a typed event; returns it with the number of fields
/// it carried that our version does not know (dropped).
pub fn parse(payload: Option<&[u8]>) -> Result<(Event, usize), Poison> {
    let payload = payload.ok_or_else(|| Poison("empty message".into()))?;
    event::decode(payload).map_err(|e| Poison(e.to_string()))
}

/// The consumer of `KAFKA_READER_TOPIC` in `KAFKA_GROUP_ID`, storing offsets only when told;
/// `joined` is set once it is a member of its group; its lag goes to `stats`.
pub fn consumer(
    settings: &Settings,
    joined: Flag,
    stats: Arc<ConsumerStats>,
) -> Result<StreamConsumer<Context>, String> {
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
    c.set("statistics.interval.ms", LAG_EVERY.as_millis().to_string());
    for (key, value) in &k.consumer_config {
        c.set(key, value);
    }
    c.create_with_context(Context { joined, stats })
        .map_err(|e| format!("cannot create the Kafka consumer: {e}"))
}

/// Messages per source batch (the pipeline cuts each writer's batches again), and how long a
/// batch waits to fill.
const BATCH_MESSAGES: usize = 2000;
const BATCH_AGE: Duration = Duration::from_millis(50);
/// Source batches handed to the pipeline and not yet acknowledged: past this, polling waits
/// for the oldest (back-pressure; bounds memory and what a crash re-delivers).
pub const MAX_UNACKED: usize = 16;

/// Why the consumer could not start.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{0}")]
    Settings(String),
    #[error(transparent)]
    Topics(#[from] crate::kafka::TopicError),
    #[error("{0}")]
    Consumer(String),
    #[error("cannot subscribe to {topic}: {source}")]
    Subscribe {
        topic: String,
        source: rdkafka::error::KafkaError,
    },
    #[error(transparent)]
    DeadLetters(#[from] ProducerError),
}

/// The consumer, subscribed, as a source of the pipeline.
pub struct KafkaSource {
    consumer: StreamConsumer<Context>,
    topic: String,
    dlq: Arc<DeadLetters>,
    stats: Arc<ConsumerStats>,
}

/// A batch handed to the pipeline, waiting for its acknowledgement and dead letters.
struct Unacked {
    /// Resolves true once every writer made its events durable and its dead letters were
    /// delivered.
    done: Pin<Box<dyn Future<Output = bool> + Send>>,
    /// The last offset read per partition.
    offsets: Vec<(i32, i64)>,
    events: usize,
}

impl KafkaSource {
    /// Creates the topics (when allowed), the consumer and the dead-letter producer, and
    /// subscribes; the consumer is ready for `/readyz` once it has joined its group.
    pub async fn new(settings: &Settings, metrics: &Metrics) -> Result<KafkaSource, SourceError> {
        let reader = metrics.reader(NAME);
        metrics.reader_ready("readers.kafka (consumer group joined)", &reader);
        let k = &settings.kafka;
        k.require(NAME)
            .map_err(|e| SourceError::Settings(e.to_string()))?;
        let topic = k.reader_topic.clone().unwrap_or_default();
        let dlq_topic = k.dlq();
        ensure_topics(k, &[&topic, &dlq_topic])
            .await
            .map_err(SourceError::Topics)?;
        let stats = Arc::new(ConsumerStats::new(&reader, &metrics.consumer_lag));
        let consumer = consumer(settings, reader.ready.clone(), stats.clone())
            .map_err(SourceError::Consumer)?;
        let dlq = DeadLetters::new(k, settings.event_format)?;
        consumer
            .subscribe(&[&topic])
            .map_err(|source| SourceError::Subscribe {
                topic: topic.clone(),
                source,
            })?;
        tracing::info!(%topic, dlq = %dlq_topic, group = k.group_id.as_deref().unwrap_or_default(), "consuming");
        Ok(KafkaSource {
            consumer,
            topic,
            dlq: Arc::new(dlq),
            stats,
        })
    }

    /// Consumes until `stop`, handing batches to `tx`; stores each batch's offsets once it is
    /// acknowledged, oldest first. After `stop` it waits for what it handed over (bounded by
    /// `give_up`, after which nothing more is stored) and commits.
    pub async fn run(
        self,
        tx: mpsc::Sender<SourceBatch>,
        stop: CancellationToken,
        give_up: CancellationToken,
    ) {
        let mut unacked: VecDeque<Unacked> = VecDeque::with_capacity(MAX_UNACKED);
        let mut broken = false;
        loop {
            tokio::select! {
                biased;
                _ = stop.cancelled() => break,
                ok = async { unacked.front_mut().expect("one waits").done.as_mut().await }, if !unacked.is_empty() => {
                    let batch = unacked.pop_front().expect("one waits");
                    if !self.finish(batch, ok) {
                        broken = true;
                        break;
                    }
                }
                first = self.consumer.recv(), if unacked.len() < MAX_UNACKED => {
                    let Some(batch) = self.collect(first, &tx, &stop, &give_up).await else {
                        break;
                    };
                    unacked.push_back(batch);
                }
            }
        }
        // The pipeline drains what it has; nothing more comes from here.
        drop(tx);
        tracing::info!(
            waiting = unacked.len(),
            "consumer stopping: waiting for the writers, then committing offsets"
        );
        while let Some(mut batch) = unacked.pop_front() {
            let ok = batch.done.as_mut().await;
            if broken || !self.finish(batch, ok) {
                // A later offset stored would commit past this batch.
                broken = true;
            }
        }
        let stats = self.stats.clone();
        let consumer = self.consumer;
        // A broker that went away must not hold the exit past the shutdown timeout.
        let commit = tokio::task::spawn_blocking(move || {
            if let Err(e) = consumer.commit_consumer_state(CommitMode::Sync) {
                tracing::debug!(error = %e, "final commit (nothing to commit?)");
            }
            drop(consumer);
        });
        tokio::select! {
            _ = commit => {}
            _ = give_up.cancelled() => tracing::warn!("final offset commit did not finish in time; stored offsets may be read again"),
        }
        tracing::info!(
            consumed = stats.consumed.get(),
            written = stats.written.load(Ordering::Relaxed),
            dead_lettered = stats.dead_lettered.get(),
            unknown_fields_dropped = stats.unknown_fields_dropped.get(),
            "consumer stopped"
        );
    }

    /// Stores the offsets of a batch whose fate is known; false when it failed (they are not).
    fn finish(&self, batch: Unacked, ok: bool) -> bool {
        if !ok {
            tracing::warn!(
                events = batch.events,
                "a batch was not acknowledged: its offsets are not stored (it is read again)"
            );
            return false;
        }
        self.stats
            .written
            .fetch_add(batch.events as u64, Ordering::Relaxed);
        for (partition, offset) in batch.offsets {
            // librdkafka stores offset + 1: the next message to read.
            if let Err(e) = self.consumer.store_offset(&self.topic, partition, offset) {
                // The partition was revoked meanwhile: its new owner re-reads, the uuid dedups.
                tracing::debug!(error = %e, partition, "offset not stored");
            }
        }
        true
    }

    /// Reads up to a batch of messages (the first is `first`), parses them, starts the dead
    /// letters and hands the events to the pipeline. None when the pipeline is gone or `stop`.
    async fn collect(
        &self,
        first: Result<rdkafka::message::BorrowedMessage<'_>, rdkafka::error::KafkaError>,
        tx: &mpsc::Sender<SourceBatch>,
        stop: &CancellationToken,
        give_up: &CancellationToken,
    ) -> Option<Unacked> {
        let mut events: Vec<Event> = Vec::with_capacity(BATCH_MESSAGES);
        let mut poison: Vec<DeadLetter> = Vec::new();
        let mut offsets: Vec<(i32, i64)> = Vec::new();
        let deadline = tokio::time::Instant::now() + BATCH_AGE;
        let mut next = Some(first);
        let mut count = 0usize;
        while let Some(m) = next.take() {
            match m {
                Ok(msg) => {
                    count += 1;
                    let (partition, offset) = (msg.partition(), msg.offset());
                    match offsets.iter_mut().find(|(p, _)| *p == partition) {
                        Some(o) => o.1 = o.1.max(offset),
                        None => offsets.push((partition, offset)),
                    }
                    match parse(msg.payload()) {
                        Ok((event, dropped)) => {
                            if dropped > 0 {
                                self.stats.unknown_fields_dropped.add(dropped as u64);
                            }
                            events.push(event);
                        }
                        Err(Poison(reason)) => poison.push(DeadLetter {
                            payload: msg.payload().unwrap_or_default().to_vec(),
                            key: msg.key().map(<[u8]>::to_vec),
                            reason,
                            partition,
                            offset,
                        }),
                    }
                }
                Err(e) => tracing::warn!(error = %e, "Kafka consumer error"),
            }
            if count >= BATCH_MESSAGES {
                break;
            }
            next = tokio::select! {
                m = self.consumer.recv() => Some(m),
                _ = tokio::time::sleep_until(deadline) => None,
            };
        }
        self.stats.consumed.add(count as u64);
        let letters = (!poison.is_empty()).then(|| {
            let (dlq, give_up, counted) = (
                self.dlq.clone(),
                give_up.clone(),
                self.stats.dead_lettered.clone(),
            );
            tokio::spawn(async move {
                for letter in &poison {
                    dlq.send(letter, &give_up).await?;
                    counted.inc();
                }
                Ok::<_, crate::kafka::GaveUp>(())
            })
        });
        let n = events.len();
        let ack = if events.is_empty() {
            None
        } else {
            let (ack, pending) = Ack::new();
            let batch = SourceBatch {
                events,
                ack: Some(ack),
            };
            tokio::select! {
                sent = tx.send(batch) => sent.ok()?,
                // The batch (and its ack) is dropped: its offsets are never stored.
                _ = stop.cancelled() => return None,
            }
            Some(pending)
        };
        let done = async move {
            let delivered = match ack {
                Some(p) => p.await == AckStatus::Delivered,
                None => true,
            };
            let lettered = match letters {
                Some(h) => matches!(h.await, Ok(Ok(()))),
                None => true,
            };
            delivered && lettered
        };
        Some(Unacked {
            done: Box::pin(done),
            offsets,
            events: n,
        })
    }
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
        assert_eq!((p.status_code, p.error.as_deref()), (Some(200), Some("")));
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
