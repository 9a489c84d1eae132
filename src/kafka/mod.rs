//! Kafka client code that the Kafka writer, the Kafka reader and the rejects sink share: the
//! settings types, the producer configuration, topic creation and the dead-letter producer.
//! Nothing here knows where the settings come from (`config` builds them). Everything that
//! needs librdkafka is behind the `kafka` feature; the settings are always there.

#[cfg(feature = "kafka")]
mod client;
#[cfg(feature = "kafka")]
mod dead_letters;
mod settings;

#[cfg(feature = "kafka")]
pub use client::{TopicError, ensure_topics, producer_config};
#[cfg(feature = "kafka")]
pub use dead_letters::{DeadLetter, DeadLetters, GaveUp, ProducerError};
pub use settings::{KafkaSettings, SettingError};
