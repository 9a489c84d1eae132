//! Kafka client settings (`KAFKA_*`) read from the environment with the original's names; the
//! types and defaults are `crate::kafka`'s.

use super::parse;
use super::{ConfigError, Env, Secret};
use crate::kafka::{KafkaSettings, SettingError};

const PROTOCOLS: [&str; 4] = ["SSL", "PLAINTEXT", "SASL_SSL", "SASL_PLAINTEXT"];

/// `k=v` pairs separated by commas or newlines (values may not contain commas).
fn properties(name: &str, raw: Option<&str>) -> Result<Vec<(String, String)>, ConfigError> {
    let Some(raw) = raw else {
        return Ok(Vec::new());
    };
    raw.split([',', '\n'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.split_once('=')
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .filter(|(k, _)| !k.is_empty())
                .ok_or_else(|| {
                    ConfigError::new(
                        name,
                        p,
                        "librdkafka properties as key=value pairs separated by commas",
                    )
                })
        })
        .collect()
}

impl KafkaSettings {
    pub fn from_env(env: &Env) -> Result<KafkaSettings, ConfigError> {
        let d = KafkaSettings::default();
        let get = |n: &str| env.get(n).map(|v| v.trim().to_owned());
        let security_protocol = get("KAFKA_SECURITY_PROTOCOL")
            .unwrap_or(d.security_protocol)
            .to_ascii_uppercase();
        if !PROTOCOLS.contains(&security_protocol.as_str()) {
            return Err(ConfigError::new(
                "KAFKA_SECURITY_PROTOCOL",
                security_protocol,
                PROTOCOLS.join(", "),
            ));
        }
        let ssl_check_hostname = match env.get("KAFKA_SSL_CHECK_HOSTNAME") {
            Some(v) => {
                parse::boolean(v).map_err(|e| ConfigError::new("KAFKA_SSL_CHECK_HOSTNAME", v, e))?
            }
            None => d.ssl_check_hostname,
        };
        let create_topics = match env.get("KAFKA_CREATE_TOPICS") {
            Some(v) => {
                parse::boolean(v).map_err(|e| ConfigError::new("KAFKA_CREATE_TOPICS", v, e))?
            }
            None => d.create_topics,
        };
        let auto_offset_reset = get("KAFKA_AUTO_OFFSET_RESET")
            .unwrap_or(d.auto_offset_reset)
            .to_ascii_lowercase();
        if !["earliest", "latest"].contains(&auto_offset_reset.as_str()) {
            return Err(ConfigError::new(
                "KAFKA_AUTO_OFFSET_RESET",
                auto_offset_reset,
                "earliest or latest",
            ));
        }
        let topic_partitions = match env.get("KAFKA_TOPIC_PARTITIONS") {
            Some(v) => parse::integer(v, 1, 10_000)
                .map_err(|e| ConfigError::new("KAFKA_TOPIC_PARTITIONS", v, e))?
                as i32,
            None => d.topic_partitions,
        };
        let sasl_mechanism = get("KAFKA_SASL_MECHANISM").map(|m| m.to_ascii_uppercase());
        if let Some(m) = &sasl_mechanism
            && !["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"].contains(&m.as_str())
        {
            return Err(ConfigError::new(
                "KAFKA_SASL_MECHANISM",
                m,
                "SCRAM-SHA-256, SCRAM-SHA-512 or PLAIN",
            ));
        }
        Ok(KafkaSettings {
            bootstrap: get("KAFKA_BOOTSTRAP_SERVER"),
            writer_topic: get("KAFKA_WRITER_TOPIC"),
            reader_topic: get("KAFKA_READER_TOPIC"),
            group_id: get("KAFKA_GROUP_ID"),
            group_instance_id: get("KAFKA_GROUP_INSTANCE_ID"),
            dlq_topic: get("KAFKA_DLQ_TOPIC"),
            security_protocol,
            ssl_ca_file: get("KAFKA_SSL_CAFILE"),
            ssl_key_file: get("KAFKA_SSL_KEYFILE"),
            ssl_cert_file: get("KAFKA_SSL_CERTFILE"),
            ssl_check_hostname,
            sasl_mechanism,
            sasl_username: get("KAFKA_SASL_USERNAME"),
            sasl_password: Secret::new(env.get("KAFKA_SASL_PASSWORD").unwrap_or_default()),
            auto_offset_reset,
            topic_partitions,
            create_topics,
            producer_config: properties("KAFKA_PRODUCER_CONFIG", env.get("KAFKA_PRODUCER_CONFIG"))?,
            consumer_config: properties("KAFKA_CONSUMER_CONFIG", env.get("KAFKA_CONSUMER_CONFIG"))?,
        })
    }
}

impl From<SettingError> for ConfigError {
    fn from(e: SettingError) -> Self {
        ConfigError::new(e.setting, e.value, e.expected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_original_and_checks_name_the_setting() {
        let k = KafkaSettings::from_env(&Env::default()).unwrap();
        assert_eq!(k, KafkaSettings::default());
        assert_eq!(k.security_protocol, "SSL");
        assert!(!k.ssl_check_hostname);
        assert_eq!(k.auto_offset_reset, "earliest");
        assert_eq!(
            k.require("writers.kafka").unwrap_err().setting,
            "KAFKA_BOOTSTRAP_SERVER"
        );
        let env = Env::from_pairs([
            ("KAFKA_BOOTSTRAP_SERVER", "127.0.0.1:9092"),
            ("KAFKA_SECURITY_PROTOCOL", "plaintext"),
            ("KAFKA_READER_TOPIC", "events"),
        ]);
        let k = KafkaSettings::from_env(&env).unwrap();
        assert_eq!(
            k.require("readers.kafka").unwrap_err().setting,
            "KAFKA_GROUP_ID"
        );
        assert_eq!(k.dlq(), "events.dlq");
        assert!(
            KafkaSettings::from_env(&Env::from_pairs([("KAFKA_SECURITY_PROTOCOL", "TLS")]))
                .is_err()
        );
    }

    #[test]
    fn pass_through_properties_and_sasl_password_is_secret() {
        let env = Env::from_pairs([
            (
                "KAFKA_PRODUCER_CONFIG",
                "linger.ms=20, batch.num.messages=5000",
            ),
            ("KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT"),
            ("KAFKA_SASL_USERNAME", "u"),
            ("KAFKA_SASL_PASSWORD", "pw"),
        ]);
        let k = KafkaSettings::from_env(&env).unwrap();
        assert_eq!(
            k.producer_config[1],
            ("batch.num.messages".into(), "5000".into())
        );
        assert!(!format!("{k:?}").contains("pw\""));
        assert!(
            k.client_properties()
                .contains(&("sasl.password".into(), "pw".into()))
        );
        assert!(
            KafkaSettings::from_env(&Env::from_pairs([("KAFKA_CONSUMER_CONFIG", "novalue")]))
                .is_err()
        );
    }
}
