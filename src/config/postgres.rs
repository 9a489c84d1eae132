//! PostgreSQL settings (`DATABASE_URL`, `POSTGRES_*`, `RETENTION_DAYS`) read from the
//! environment with the original's names; the types and defaults are `crate::postgres`'s.

use std::path::PathBuf;

use super::{ConfigError, Env, parse};
use crate::postgres::{ConnectOptions, DatabaseUrl, MissingUrl, PostgresSettings};

fn get<T, E: Into<String>>(
    env: &Env,
    name: &str,
    parse: impl Fn(&str) -> Result<T, E>,
) -> Result<Option<T>, ConfigError> {
    env.get(name)
        .map(|v| parse(v.trim()).map_err(|e| ConfigError::new(name, v, e)))
        .transpose()
}

impl PostgresSettings {
    pub fn from_env(env: &Env) -> Result<PostgresSettings, ConfigError> {
        let mut s = PostgresSettings::default();
        if let Some(v) = env.get("DATABASE_URL") {
            let url = DatabaseUrl::new(v);
            check_url(&url)?;
            s.database_url = Some(url);
        }
        s.ssl_ca_file = env
            .get("POSTGRES_SSL_CA_FILE")
            .map(|v| PathBuf::from(v.trim()));
        if let Some(v) = get(env, "POSTGRES_PAGESIZE", |v| {
            parse::integer(v, 1, 1_000_000)
        })? {
            s.page_size = v as usize;
        }
        if let Some(v) = get(env, "POSTGRES_QUEUE_TIMEOUT", parse::seconds)? {
            s.queue_timeout = v;
        }
        s.retention_days =
            get(env, "RETENTION_DAYS", |v| parse::integer(v, 1, 1_000_000))?.map(|v| v as u32);
        if let Some(v) = get(env, "POSTGRES_POOL_SIZE", |v| parse::integer(v, 1, 1000))? {
            s.pool_size = v as usize;
        }
        s.buffer_events = get(env, "POSTGRES_BUFFER_EVENTS", |v| {
            parse::integer(v, 1, 100_000_000)
        })?
        .map(|v| v as usize);
        if let Some(v) = get(env, "POSTGRES_SPOOL_MAX_MB", |v| {
            parse::integer(v, 1, 1 << 30)
        })? {
            s.spool_max_bytes = v * 1024 * 1024;
        }
        if let Some(v) = get(env, "POSTGRES_SHUTDOWN_TIMEOUT", parse::seconds)? {
            s.shutdown_timeout = v;
        }
        Ok(s)
    }
}

impl From<MissingUrl> for ConfigError {
    fn from(e: MissingUrl) -> Self {
        ConfigError::new("DATABASE_URL", "", e.expected())
    }
}

/// Rejects what libpq would not accept, naming the setting (the password stays masked).
fn check_url(url: &DatabaseUrl) -> Result<(), ConfigError> {
    ConnectOptions::parse(url, None)
        .map(|_| ())
        .map_err(|e| ConfigError::new("DATABASE_URL", url.masked(), e.to_string()))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_missing_url_converts_to_the_same_line() {
        let e = PostgresSettings::default().require_url("x").unwrap_err();
        assert_eq!(ConfigError::from(e.clone()).to_string(), e.to_string());
    }

    #[test]
    fn defaults_are_the_originals() {
        let s = PostgresSettings::from_env(&Env::default()).unwrap();
        assert_eq!(s.page_size, 5000);
        assert_eq!(s.queue_timeout, Duration::from_secs(2));
        assert_eq!(s.retention_days, None);
        assert_eq!(s.database_url, None);
    }

    #[test]
    fn bad_values_name_the_setting() {
        let e = PostgresSettings::from_env(&Env::from_pairs([("POSTGRES_PAGESIZE", "lots")]))
            .unwrap_err();
        assert!(
            e.to_string().starts_with("POSTGRES_PAGESIZE: expected"),
            "{e}"
        );
        let e = PostgresSettings::from_env(&Env::from_pairs([("POSTGRES_QUEUE_TIMEOUT", "-1")]))
            .unwrap_err();
        assert!(e.to_string().starts_with("POSTGRES_QUEUE_TIMEOUT"), "{e}");
        let e = PostgresSettings::from_env(&Env::from_pairs([(
            "DATABASE_URL",
            "postgres://u:hunter2@h/db?sslmode=sometimes",
        )]))
        .unwrap_err();
        let shown = e.to_string();
        assert!(shown.starts_with("DATABASE_URL: expected"), "{shown}");
        assert!(shown.contains("sslmode"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
        let s = PostgresSettings::from_env(&Env::from_pairs([
            ("POSTGRES_QUEUE_TIMEOUT", "0.5"),
            ("RETENTION_DAYS", "30"),
        ]))
        .unwrap();
        assert_eq!(s.queue_timeout, Duration::from_millis(500));
        assert_eq!(s.retention_days, Some(30));
    }
}
