//! The environment as a settings source: the process environment over `configuration.env`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Variables this program reads; anything else in `configuration.env` is ignored.
pub const KNOWN: &[&str] = &[
    "READER_PLUGIN",
    "WRITER_PLUGIN",
    "QUEUE_PLUGIN",
    "PROBE_URLS",
    "PROBE_REGEXES",
    "PROBE_INTERVAL",
    "PROBE_TIMEOUT",
    "PROBE_TLS_VERIFY",
    "PROBE_MAX_REDIRECTS",
    "PROBE_MAX_BODY_BYTES",
    "PROBE_CONCURRENCY",
    "PROBE_DNS_SERVERS",
    "LOCATION",
    "DISTRIBUTED_WORKERS_ENABLED",
    "DISTRIBUTED_WORKERS_TOTAL",
    "DISTRIBUTED_WORKERS_INDEX",
    "STDOUT_PRETTY",
    "EVENT_FORMAT",
    "DATA_DIR",
    "LOG_LEVEL",
    "DATABASE_URL",
    "POSTGRES_SSL_CA_FILE",
    "POSTGRES_PAGESIZE",
    "POSTGRES_QUEUE_TIMEOUT",
    "RETENTION_DAYS",
    "POSTGRES_POOL_SIZE",
    "POSTGRES_BUFFER_EVENTS",
    "POSTGRES_SPOOL_MAX_MB",
    "POSTGRES_SHUTDOWN_TIMEOUT",
    "SHUTDOWN_TIMEOUT",
    "SQLITE_PATH",
    "SQLITE_RETENTION_EVENTS_DAYS",
    "SQLITE_RETENTION_MINUTE_DAYS",
    "SQLITE_RETENTION_HOUR_DAYS",
    "SQLITE_MAX_BYTES",
    "WEB_LISTEN",
    "WEB_AUTH_TOKEN",
    "WEB_AUTH_BASIC",
    "WEB_AUTH_OPEN_METRICS",
    "WEB_PUBLIC_URL",
    "STATUS_LISTEN",
    "ALERT_LINK_SECRET",
    "ALLOW_PRIVATE_TARGETS",
    "METRICS_LISTEN",
    "HEARTBEAT_URL",
    "HEARTBEAT_INTERVAL",
    "HEARTBEAT_METHOD",
    "HEARTBEAT_TIMEOUT",
    "FLEET_LOCATIONS",
    "FLEET_QUORUM",
    "FLEET_ROUND_GRACE",
    "FLEET_TARGETS_TOPIC",
    "FLEET_TARGETS_PARTITIONS",
    "FLEET_VERDICTS_TOPIC",
    "FLEET_RECHECKS_TOPIC",
    "FLEET_META_TOPIC",
    "FLEET_RECHECKS_PER_SECOND",
    "KAFKA_BOOTSTRAP_SERVER",
    "KAFKA_WRITER_TOPIC",
    "KAFKA_READER_TOPIC",
    "KAFKA_GROUP_ID",
    "KAFKA_GROUP_INSTANCE_ID",
    "KAFKA_DLQ_TOPIC",
    "KAFKA_SECURITY_PROTOCOL",
    "KAFKA_SSL_CAFILE",
    "KAFKA_SSL_KEYFILE",
    "KAFKA_SSL_CERTFILE",
    "KAFKA_SSL_CHECK_HOSTNAME",
    "KAFKA_SASL_MECHANISM",
    "KAFKA_SASL_USERNAME",
    "KAFKA_SASL_PASSWORD",
    "KAFKA_AUTO_OFFSET_RESET",
    "KAFKA_TOPIC_PARTITIONS",
    "KAFKA_CREATE_TOPICS",
    "KAFKA_PRODUCER_CONFIG",
    "KAFKA_CONSUMER_CONFIG",
];

/// `configuration.env` exists but cannot be read as a dotenv file.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct EnvFileError {
    pub path: PathBuf,
    #[source]
    source: dotenvy::Error,
}

/// A snapshot of the settings variables.
#[derive(Debug, Clone, Default)]
pub struct Env {
    vars: BTreeMap<String, String>,
}

impl Env {
    /// The process environment over `file` (when it exists): a variable already set in the
    /// environment wins, as with the original's scripts that source the file first.
    pub fn load(file: &Path) -> Result<Env, EnvFileError> {
        let mut vars = BTreeMap::new();
        if file.exists() {
            let unreadable = |source| EnvFileError {
                path: file.to_owned(),
                source,
            };
            for item in dotenvy::from_path_iter(file).map_err(unreadable)? {
                let (k, v) = item.map_err(unreadable)?;
                vars.insert(k, v);
            }
        }
        vars.extend(std::env::vars().filter(|(k, _)| KNOWN.contains(&k.as_str())));
        Ok(Env { vars })
    }

    /// An environment made of exactly these pairs (for tests and embedding).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Env {
        Env {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        }
    }

    /// The same environment without these variables.
    pub fn without(mut self, names: &[&str]) -> Env {
        self.vars.retain(|k, _| !names.contains(&k.as_str()));
        self
    }

    /// The value of `name`; an empty value counts as unset.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }

    /// A variable a reference in the settings names (Gatus's `$VAR`, a target's `${NAME}`):
    /// a settings variable (`configuration.env` included) when set, else the process
    /// environment, where any name may be.
    pub fn var(&self, name: &str) -> Option<String> {
        self.get(name)
            .map(str::to_owned)
            .or_else(|| std::env::var(name).ok())
    }
}
