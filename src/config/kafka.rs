//! Kafka client settings (`KAFKA_*`), with the original's names and defaults.

use super::parse;
use super::{ConfigError, Env, Secret};

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
        let get = |n: &str| env.get(n).map(|v| v.trim().to_owned());
        let security_protocol = get("KAFKA_SECURITY_PROTOCOL")
            .unwrap_or_else(|| "SSL".into())
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
            None => false,
        };
        let create_topics = match env.get("KAFKA_CREATE_TOPICS") {
            Some(v) => {
                parse::boolean(v).map_err(|e| ConfigError::new("KAFKA_CREATE_TOPICS", v, e))?
            }
            None => true,
        };
        let auto_offset_reset = get("KAFKA_AUTO_OFFSET_RESET")
            .unwrap_or_else(|| "earliest".into())
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
            None => 3,
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

    /// Checks what a client needs before it starts: `role` is "writers.kafka" or "readers.kafka".
    pub fn require(&self, role: &str) -> Result<(), ConfigError> {
        let need = |name: &str, v: &Option<String>| match v {
            Some(_) => Ok(()),
            None => Err(ConfigError::new(
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
                    return Err(ConfigError::new(
                        name,
                        f,
                        "the path of an existing PEM file",
                    ));
                }
            }
            if self.ssl_cert_file.is_some() != self.ssl_key_file.is_some() {
                return Err(ConfigError::new(
                    "KAFKA_SSL_KEYFILE",
                    self.ssl_key_file.clone().unwrap_or_default(),
                    "both KAFKA_SSL_CERTFILE and KAFKA_SSL_KEYFILE for a client certificate, or neither",
                ));
            }
        }
        if self.security_protocol.starts_with("SASL")
            && (self.sasl_username.is_none() || self.sasl_password.is_empty())
        {
            return Err(ConfigError::new(
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

    #[test]
    fn defaults_follow_the_original_and_checks_name_the_setting() {
        let k = KafkaSettings::from_env(&Env::default()).unwrap();
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
