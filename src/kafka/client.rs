//! librdkafka clients from the settings: the producer configuration and topic creation.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;

use super::KafkaSettings;
use crate::event::EventFormat;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn producer_is_idempotent_with_acks_all_and_gzip_for_the_original_consumer() {
        let k = KafkaSettings {
            bootstrap: Some("127.0.0.1:9092".into()),
            producer_config: vec![("linger.ms".into(), "50".into())],
            ..KafkaSettings::default()
        };
        let c = producer_config(&k, EventFormat::Current);
        assert_eq!(c.get("acks"), Some("all"));
        assert_eq!(c.get("enable.idempotence"), Some("true"));
        assert_eq!(c.get("compression.type"), Some("lz4"));
        // The user's pass-through wins over ours.
        assert_eq!(c.get("linger.ms"), Some("50"));
        let c = producer_config(&k, EventFormat::Original);
        assert_eq!(c.get("compression.type"), Some("gzip"));
    }
}
