//! librdkafka clients from the settings: the producer configuration and topic creation.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

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

/// Topics could not be created: a startup error.
#[derive(Debug, thiserror::Error)]
pub enum TopicError {
    #[error("cannot create a Kafka admin client: {0}")]
    Admin(#[source] KafkaError),
    /// The request failed as a whole (the brokers did not answer it).
    #[error(
        "cannot create topics {topics:?}: {source}; are the brokers reachable with these settings \
         (KAFKA_BOOTSTRAP_SERVER, KAFKA_SECURITY_PROTOCOL, KAFKA_SSL_*, KAFKA_SASL_*)?"
    )]
    Request {
        topics: Vec<String>,
        #[source]
        source: KafkaError,
    },
    /// The brokers refused one topic.
    #[error("cannot create topic {topic}: {code}")]
    Refused {
        topic: String,
        code: RDKafkaErrorCode,
    },
}

/// Creates the topics that do not exist yet (when `KAFKA_CREATE_TOPICS` allows it), with
/// `KAFKA_TOPIC_PARTITIONS` partitions and the brokers' default configuration.
pub async fn ensure_topics(k: &KafkaSettings, topics: &[&str]) -> Result<(), TopicError> {
    let specs: Vec<TopicSpec> = topics
        .iter()
        .map(|name| TopicSpec {
            name,
            partitions: k.topic_partitions,
            config: &[],
        })
        .collect();
    ensure_topics_with(k, &specs).await
}

/// A topic to create: its name, partitions and topic configuration.
pub struct TopicSpec<'a> {
    pub name: &'a str,
    pub partitions: i32,
    pub config: &'a [(&'a str, &'a str)],
}

/// Creates the topics that do not exist yet, each with its configuration (when
/// `KAFKA_CREATE_TOPICS` allows it). An existing topic is left as it is.
pub async fn ensure_topics_with(
    k: &KafkaSettings,
    topics: &[TopicSpec<'_>],
) -> Result<(), TopicError> {
    if !k.create_topics {
        return Ok(());
    }
    let mut c = ClientConfig::new();
    for (key, value) in k.client_properties() {
        c.set(key, value);
    }
    let admin: AdminClient<DefaultClientContext> = c.create().map_err(TopicError::Admin)?;
    let new: Vec<NewTopic> = topics
        .iter()
        .map(|t| {
            let mut n = NewTopic::new(t.name, t.partitions, TopicReplication::Fixed(-1));
            for (key, value) in t.config {
                n = n.set(key, value);
            }
            n
        })
        .collect();
    let opts = AdminOptions::new()
        .operation_timeout(Some(Duration::from_secs(10)))
        .request_timeout(Some(Duration::from_secs(15)));
    let results = admin
        .create_topics(&new, &opts)
        .await
        .map_err(|source| TopicError::Request {
            topics: topics.iter().map(|t| t.name.to_owned()).collect(),
            source,
        })?;
    for r in results {
        match r {
            Ok(t) => tracing::info!(topic = %t, "created Kafka topic"),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => return Err(TopicError::Refused { topic, code }),
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

    #[test]
    fn topic_errors_name_the_topics_and_the_settings_to_check() {
        let e = TopicError::Request {
            topics: vec!["events".into(), "events.dlq".into()],
            source: KafkaError::AdminOp(RDKafkaErrorCode::BrokerTransportFailure),
        };
        let shown = e.to_string();
        assert!(
            shown.starts_with(r#"cannot create topics ["events", "events.dlq"]: "#),
            "{shown}"
        );
        assert!(
            shown.ends_with(
                "; are the brokers reachable with these settings (KAFKA_BOOTSTRAP_SERVER, \
                 KAFKA_SECURITY_PROTOCOL, KAFKA_SSL_*, KAFKA_SASL_*)?"
            ),
            "{shown}"
        );
        assert!(std::error::Error::source(&e).is_some());
        let e = TopicError::Refused {
            topic: "events".into(),
            code: RDKafkaErrorCode::TopicAuthorizationFailed,
        };
        assert_eq!(
            e.to_string(),
            format!(
                "cannot create topic events: {}",
                RDKafkaErrorCode::TopicAuthorizationFailed
            )
        );
    }
}
