//! `readers.kafka`: consumes events other instances produced (the loop that hands them to the
//! writers is `pipeline::consume`).
//!
//! At-least-once: offsets are stored only after every writer has written the batch that holds
//! them (and a dead letter has been delivered), so a crash at any point re-delivers, and the
//! `uuid` key makes the re-delivery harmless. A message that can never be written (not JSON,
//! unknown type, another major version, fails its schema) goes to the dead-letter topic with the
//! reason in a header, is counted, and consumption moves on. A writer that cannot write holds
//! the batch (back-pressure): nothing is committed meanwhile.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::ClientContext;
use rdkafka::consumer::{Consumer, ConsumerContext, Rebalance, StreamConsumer};
use serde::Deserialize;
use serde_json::Value;

use crate::config::Settings;
use crate::event::{DummyEvent, Event, JobEvent, ProbeEvent, schema};
use crate::metrics::{ConsumerLag, Count, Flag, ReaderMetrics};

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

/// How often the lag per partition is measured (one watermark request per partition).
pub const LAG_EVERY: Duration = Duration::from_secs(5);

/// Logs rebalances (librdkafka commits the stored offsets of revoked partitions itself) and
/// marks the consumer ready once it has joined its group: any assignment, even of no
/// partitions, means it is a member.
pub struct Context {
    joined: Flag,
}

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

/// The consumer of `KAFKA_READER_TOPIC` in `KAFKA_GROUP_ID`, storing offsets only when told;
/// `joined` is set once it is a member of its group.
pub fn consumer(settings: &Settings, joined: Flag) -> Result<StreamConsumer<Context>, String> {
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
    c.create_with_context(Context { joined })
        .map_err(|e| format!("cannot create the Kafka consumer: {e}"))
}

/// Reads how far the consumer is behind the high watermarks, per partition and in all.
pub fn report_lag(consumer: &StreamConsumer<Context>, stats: &ConsumerStats) {
    let Ok(positions) = consumer.position() else {
        return;
    };
    let mut lag = 0i64;
    let elements = positions.elements();
    let mut per_partition = Vec::with_capacity(elements.len());
    for e in &elements {
        let Some(pos) = e.offset().to_raw() else {
            continue;
        };
        if pos < 0 {
            continue;
        }
        if let Ok((_, high)) =
            consumer.fetch_watermarks(e.topic(), e.partition(), Duration::from_secs(1))
        {
            let behind = (high - pos).max(0);
            lag += behind;
            per_partition.push((e.topic(), e.partition(), behind as u64));
        }
    }
    stats.partition_lag.report(&per_partition);
    stats.lag.store(lag, Ordering::Relaxed);
    tracing::debug!(lag, "consumer lag");
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
