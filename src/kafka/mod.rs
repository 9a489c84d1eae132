//! Kafka client code that the Kafka writer, the Kafka reader, the rejects sink and the fleet
//! share: the settings types, the producer configuration, topic creation, the dead-letter
//! producer and keyed logs. Nothing here knows where the settings come from (`config` builds
//! them). Everything that needs librdkafka is behind the `kafka` feature; the settings and the
//! record type are always there.

#[cfg(feature = "kafka")]
mod client;
#[cfg(feature = "kafka")]
mod dead_letters;
#[cfg(feature = "kafka")]
pub mod log;
mod record;
mod settings;

#[cfg(feature = "kafka")]
pub use client::{TopicError, ensure_topics, producer_config};
#[cfg(feature = "kafka")]
pub use dead_letters::{DeadLetter, DeadLetters, GaveUp, ProducerError};
pub use record::Record;
pub use settings::{KafkaSettings, SettingError};
