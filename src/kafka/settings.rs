//! Kafka client settings: brokers, topics, TLS and SASL, and the librdkafka properties they
//! make, with the original's defaults. `config` reads them from the environment (`KAFKA_*`).

use crate::secret::Secret;

/// How clients talk to the brokers.
#[derive(Debug, Clone, PartialEq)]
pub struct KafkaSettings {
    /// `KAFKA_BOOTSTRAP_SERVER`: one `host:port` or a comma list.
    pub bootstrap: Option<String>,
    /// `KAFKA_WRITER_TOPIC`: where writers.kafka produces.
    pub writer_topic: Option<String>,
    /// `KAFKA_READER_TOPIC`: what readers.kafka consumes.
    pub reader_topic: Option<String>,
    /// `KAFKA_GROUP_ID`: the consumer group.
    pub group_id: Option<String>,
    /// `KAFKA_GROUP_INSTANCE_ID`: static membership; a restarted consumer with the same id takes
    /// its partitions back at once instead of after a rebalance (use the pod name).
    pub group_instance_id: Option<String>,
    /// `KAFKA_DLQ_TOPIC`: where messages that can never be written go (default `<reader topic>.dlq`).
    pub dlq_topic: Option<String>,
    /// `KAFKA_SECURITY_PROTOCOL`: SSL (default, as the original), PLAINTEXT, SASL_SSL, SASL_PLAINTEXT.
    pub security_protocol: String,
    pub ssl_ca_file: Option<String>,
    pub ssl_key_file: Option<String>,
    pub ssl_cert_file: Option<String>,
    /// `KAFKA_SSL_CHECK_HOSTNAME` (default false, as the original).
    pub ssl_check_hostname: bool,
    /// `KAFKA_SASL_MECHANISM`: SCRAM-SHA-256 (default when SASL is used), SCRAM-SHA-512 or PLAIN.
    pub sasl_mechanism: Option<String>,
    pub sasl_username: Option<String>,
    pub sasl_password: Secret,
    /// `KAFKA_AUTO_OFFSET_RESET`: where a new group starts (default earliest).
    pub auto_offset_reset: String,
    /// `KAFKA_TOPIC_PARTITIONS`: partitions of the topics uptimer creates (default 3).
    pub topic_partitions: i32,
    /// `KAFKA_CREATE_TOPICS`: create missing topics at startup (default true).
    pub create_topics: bool,
    /// `KAFKA_PRODUCER_CONFIG` / `KAFKA_CONSUMER_CONFIG`: librdkafka properties, `k=v` lists.
    pub producer_config: Vec<(String, String)>,
    pub consumer_config: Vec<(String, String)>,
}

impl Default for KafkaSettings {
    /// The original's defaults: SSL, no hostname check, a new group starts at the earliest
    /// offset, topics created with 3 partitions.
    fn default() -> Self {
        KafkaSettings {
            bootstrap: None,
            writer_topic: None,
            reader_topic: None,
            group_id: None,
            group_instance_id: None,
            dlq_topic: None,
            security_protocol: "SSL".into(),
            ssl_ca_file: None,
            ssl_key_file: None,
            ssl_cert_file: None,
            ssl_check_hostname: false,
            sasl_mechanism: None,
            sasl_username: None,
            sasl_password: Secret::default(),
            auto_offset_reset: "earliest".into(),
            topic_partitions: 3,
            create_topics: true,
            producer_config: Vec::new(),
            consumer_config: Vec::new(),
        }
    }
}

/// A Kafka setting that a client cannot start with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{setting}: expected {expected}, got {value:?}")]
pub struct SettingError {
    /// The variable's name, e.g. `KAFKA_BOOTSTRAP_SERVER`.
    pub setting: &'static str,
    pub value: String,
    pub expected: String,
}

impl SettingError {
    fn new(setting: &'static str, value: impl Into<String>, expected: impl Into<String>) -> Self {
        SettingError {
            setting,
            value: value.into(),
            expected: expected.into(),
        }
    }
}

impl KafkaSettings {
    /// Checks what a client needs before it starts: `role` is "writers.kafka" or "readers.kafka".
    pub fn require(&self, role: &str) -> Result<(), SettingError> {
        let need = |name: &'static str, v: &Option<String>| match v {
            Some(_) => Ok(()),
            None => Err(SettingError::new(
                name,
                "",
                format!("a value (required by {role})"),
            )),
        };
        need("KAFKA_BOOTSTRAP_SERVER", &self.bootstrap)?;
        if role == "writers.kafka" {
            need("KAFKA_WRITER_TOPIC", &self.writer_topic)?;
        } else {
            need("KAFKA_READER_TOPIC", &self.reader_topic)?;
            need("KAFKA_GROUP_ID", &self.group_id)?;
        }
        if self.security_protocol.ends_with("SSL") {
            for (name, file) in [
                ("KAFKA_SSL_CAFILE", &self.ssl_ca_file),
                ("KAFKA_SSL_CERTFILE", &self.ssl_cert_file),
                ("KAFKA_SSL_KEYFILE", &self.ssl_key_file),
            ] {
                if let Some(f) = file
                    && !std::path::Path::new(f).is_file()
                {
                    return Err(SettingError::new(
                        name,
                        f,
                        "the path of an existing PEM file",
                    ));
                }
            }
            if self.ssl_cert_file.is_some() != self.ssl_key_file.is_some() {
                return Err(SettingError::new(
                    "KAFKA_SSL_KEYFILE",
                    self.ssl_key_file.clone().unwrap_or_default(),
                    "both KAFKA_SSL_CERTFILE and KAFKA_SSL_KEYFILE for a client certificate, or neither",
                ));
            }
        }
        if self.security_protocol.starts_with("SASL")
            && (self.sasl_username.is_none() || self.sasl_password.is_empty())
        {
            return Err(SettingError::new(
                "KAFKA_SASL_USERNAME",
                self.sasl_username.clone().unwrap_or_default(),
                "a user name and KAFKA_SASL_PASSWORD with a SASL security protocol",
            ));
        }
        Ok(())
    }

    /// The dead-letter topic for the reader topic.
    pub fn dlq(&self) -> String {
        self.dlq_topic
            .clone()
            .unwrap_or_else(|| format!("{}.dlq", self.reader_topic.as_deref().unwrap_or("uptimer")))
    }

    /// librdkafka properties shared by producers and consumers.
    pub fn client_properties(&self) -> Vec<(String, String)> {
        let mut p: Vec<(String, String)> = Vec::new();
        let mut set = |k: &str, v: &str| p.push((k.to_owned(), v.to_owned()));
        set(
            "bootstrap.servers",
            self.bootstrap.as_deref().unwrap_or_default(),
        );
        set(
            "security.protocol",
            &self.security_protocol.to_ascii_lowercase(),
        );
        if self.security_protocol.ends_with("SSL") {
            if let Some(f) = &self.ssl_ca_file {
                set("ssl.ca.location", f);
            }
            if let Some(f) = &self.ssl_cert_file {
                set("ssl.certificate.location", f);
            }
            if let Some(f) = &self.ssl_key_file {
                set("ssl.key.location", f);
            }
            set(
                "ssl.endpoint.identification.algorithm",
                if self.ssl_check_hostname {
                    "https"
                } else {
                    "none"
                },
            );
        }
        if self.security_protocol.starts_with("SASL") {
            set(
                "sasl.mechanism",
                self.sasl_mechanism.as_deref().unwrap_or("SCRAM-SHA-256"),
            );
            set(
                "sasl.username",
                self.sasl_username.as_deref().unwrap_or_default(),
            );
            set("sasl.password", self.sasl_password.expose());
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plaintext() -> KafkaSettings {
        KafkaSettings {
            bootstrap: Some("127.0.0.1:9092".into()),
            security_protocol: "PLAINTEXT".into(),
            ..KafkaSettings::default()
        }
    }

    #[test]
    fn require_names_the_first_missing_setting_for_the_role() {
        let e = KafkaSettings::default()
            .require("writers.kafka")
            .unwrap_err();
        assert_eq!(e.setting, "KAFKA_BOOTSTRAP_SERVER");
        assert_eq!(
            e.to_string(),
            "KAFKA_BOOTSTRAP_SERVER: expected a value (required by writers.kafka), got \"\""
        );
        let k = KafkaSettings {
            reader_topic: Some("events".into()),
            ..plaintext()
        };
        assert_eq!(
            k.require("readers.kafka").unwrap_err().setting,
            "KAFKA_GROUP_ID"
        );
        assert_eq!(
            k.require("writers.kafka").unwrap_err().setting,
            "KAFKA_WRITER_TOPIC"
        );
        assert_eq!(k.dlq(), "events.dlq");
        let k = KafkaSettings {
            security_protocol: "SASL_SSL".into(),
            writer_topic: Some("events".into()),
            ..plaintext()
        };
        assert_eq!(
            k.require("writers.kafka").unwrap_err().setting,
            "KAFKA_SASL_USERNAME"
        );
    }

    #[test]
    fn tls_properties_only_with_an_ssl_protocol() {
        let k = KafkaSettings {
            ssl_ca_file: Some("/ca.pem".into()),
            ..plaintext()
        };
        assert!(
            !k.client_properties()
                .iter()
                .any(|(p, _)| p.starts_with("ssl."))
        );
        let k = KafkaSettings {
            security_protocol: "SSL".into(),
            ..k
        };
        assert!(
            k.client_properties()
                .contains(&("ssl.ca.location".into(), "/ca.pem".into()))
        );
    }
}
