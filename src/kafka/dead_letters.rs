//! The dead-letter producer: a message that can never be written goes to the dead-letter topic
//! with the reason and where it came from in headers, retried until delivered (its offset must
//! not be stored before), or until shutdown's time runs out.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};

use super::{KafkaSettings, producer_config};
use crate::event::EventFormat;

/// A message on its way to the dead-letter topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub payload: Vec<u8>,
    pub key: Option<Vec<u8>>,
    /// Why it can never be written (the `uptimer.error` header).
    pub reason: String,
    /// Where it was read (-1 when it did not come from a partition).
    pub partition: i32,
    pub offset: i64,
}

/// The producer could not be created.
#[derive(Debug, thiserror::Error)]
#[error("cannot create the dead-letter producer: {0}")]
pub struct ProducerError(#[from] rdkafka::error::KafkaError);

/// Shutdown's time ran out before the letter was delivered (its offset must not be stored).
#[derive(Debug, thiserror::Error)]
#[error("shutdown timeout reached before the dead letter was delivered")]
pub struct GaveUp;

/// A producer to the dead-letter topic of the reader topic.
pub struct DeadLetters {
    producer: FutureProducer,
    /// The dead-letter topic.
    topic: String,
    /// The topic the letters were read from (the `uptimer.source.topic` header).
    source: String,
}

impl DeadLetters {
    /// To `KAFKA_DLQ_TOPIC` (default `<reader topic>.dlq`), from the reader topic.
    pub fn new(k: &KafkaSettings, format: EventFormat) -> Result<DeadLetters, ProducerError> {
        Ok(DeadLetters {
            producer: producer_config(k, format).create()?,
            topic: k.dlq(),
            source: k.reader_topic.clone().unwrap_or_default(),
        })
    }

    /// Produces `letter` to the dead-letter topic, retrying until it is delivered or `give_up`.
    pub async fn send(
        &self,
        letter: &DeadLetter,
        give_up: &CancellationToken,
    ) -> Result<(), GaveUp> {
        let DeadLetter {
            payload,
            key,
            reason,
            partition,
            offset,
        } = letter;
        let source = self.source.as_str();
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
            let mut record = FutureRecord::<[u8], [u8]>::to(&self.topic)
                .payload(payload)
                .headers(headers);
            if let Some(k) = key.as_deref() {
                record = record.key(k);
            }
            let sent = tokio::select! {
                _ = give_up.cancelled() => return Err(GaveUp),
                r = self.producer.send(record, Duration::from_secs(30)) => r,
            };
            match sent {
                Ok(_) => return Ok(()),
                Err((e, _)) => {
                    tracing::error!(error = %e, "cannot deliver to the dead-letter topic; retrying");
                    tokio::select! {
                        _ = give_up.cancelled() => return Err(GaveUp),
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        }
    }
}
