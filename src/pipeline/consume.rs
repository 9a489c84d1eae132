//! The Kafka consumer's delivery loop: batches what `readers::kafka` parses, has every writer
//! write each batch, dead-letters what can never be written, and only then stores the offsets.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::message::Message;
use tokio_util::sync::CancellationToken;

use super::{PipelineError, RunSummary};
use crate::config::Settings;
use crate::event::Event;
use crate::kafka::{DeadLetter, DeadLetters, ensure_topics};
use crate::metrics::Metrics;
use crate::readers::kafka::{ConsumerStats, LAG_EVERY, NAME, Poison, consumer, parse, report_lag};
use crate::writers::Writer;

/// Consumes until `stop`; every batch is written by every writer before its offsets are stored.
pub async fn run(
    settings: &Settings,
    mut writers: Vec<Box<dyn Writer>>,
    stop: CancellationToken,
    metrics: Arc<Metrics>,
) -> Result<RunSummary, PipelineError> {
    let setup = PipelineError::Setup;
    let reader = metrics.reader(NAME);
    metrics.reader_ready("readers.kafka (consumer group joined)", &reader);
    let k = &settings.kafka;
    k.require("readers.kafka")
        .map_err(|e| setup(e.to_string()))?;
    let topic = k.reader_topic.clone().unwrap_or_default();
    let dlq_topic = k.dlq();
    ensure_topics(k, &[&topic, &dlq_topic])
        .await
        .map_err(|e| setup(e.to_string()))?;
    let consumer = consumer(settings, reader.ready.clone()).map_err(setup)?;
    let dlq = DeadLetters::new(k, settings.event_format).map_err(|e| setup(e.to_string()))?;
    consumer
        .subscribe(&[&topic])
        .map_err(|e| setup(format!("cannot subscribe to {topic}: {e}")))?;
    tracing::info!(%topic, dlq = %dlq_topic, group = k.group_id.as_deref().unwrap_or_default(), "consuming");

    let stats = Arc::new(ConsumerStats::new(&reader, &metrics.consumer_lag));
    let writer_metrics: Vec<_> = writers.iter().map(|w| metrics.writer(w.name())).collect();
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
            // An idle consumer reports its lag too.
            _ = tokio::time::sleep(LAG_EVERY.saturating_sub(last_lag_check.elapsed())) => {
                last_lag_check = Instant::now();
                report_lag(&consumer, &stats);
                continue;
            }
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
            for (w, m) in writers.iter_mut().zip(&writer_metrics) {
                let started = Instant::now();
                w.write(&events).await?;
                m.batch_seconds.observe(started.elapsed().as_secs_f64());
                m.batches.inc();
                m.acked.add(events.len() as u64);
            }
            stats
                .written
                .fetch_add(events.len() as u64, Ordering::Relaxed);
            summary.events += events.len() as u64;
            summary.batches += 1;
        }
        for letter in &poison {
            dlq.send(letter).await;
            stats.dead_lettered.fetch_add(1, Ordering::Relaxed);
        }
        for ((t, partition), offset) in offsets {
            // librdkafka stores offset + 1: the next message to read.
            if let Err(e) = consumer.store_offset(&t, partition, offset) {
                // The partition was revoked meanwhile: its new owner re-reads, the uuid dedups.
                tracing::debug!(error = %e, topic = %t, partition, "offset not stored");
            }
        }
        if last_lag_check.elapsed() > LAG_EVERY {
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
