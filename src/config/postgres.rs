//! PostgreSQL settings (`DATABASE_URL`, `POSTGRES_*`, `RETENTION_DAYS`) with the original's names
//! and defaults; the URL's password never prints.

use std::path::PathBuf;
use std::time::Duration;

use super::{ConfigError, Env, parse};

/// A libpq connection string (`postgres://user:password@host:5432/db?sslmode=require` or
/// `host=... password=...`). `Debug` and `Display` mask the password; `expose()` is the only way
/// to read it.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn new(s: impl Into<String>) -> Self {
        DatabaseUrl(s.into().trim().to_owned())
    }

    /// The URL itself, for the one place that connects.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with its password (if any) replaced by `***`.
    pub fn masked(&self) -> String {
        let s = &self.0;
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            return match url::Url::parse(s) {
                Ok(mut u) => {
                    let mut changed = false;
                    if u.password().is_some() {
                        let _ = u.set_password(Some("***"));
                        changed = true;
                    }
                    let pairs: Vec<(String, String)> = u
                        .query_pairs()
                        .map(|(k, v)| (k.into_owned(), v.into_owned()))
                        .collect();
                    if pairs.iter().any(|(k, _)| k == "password") {
                        u.query_pairs_mut()
                            .clear()
                            .extend_pairs(pairs.iter().map(|(k, v)| {
                                (k.as_str(), if k == "password" { "***" } else { v.as_str() })
                            }));
                        changed = true;
                    }
                    if changed {
                        u.to_string().replace("%2A%2A%2A", "***")
                    } else {
                        s.clone()
                    }
                }
                // Unparseable: show nothing that could be a secret.
                Err(_) => "postgres://***".to_owned(),
            };
        }
        // key=value form: mask the value of password=...
        let mut out = String::with_capacity(s.len());
        let mut rest = s.as_str();
        while let Some(i) = rest.find("password") {
            let (before, after) = rest.split_at(i);
            out.push_str(before);
            let after_key = after["password".len()..].trim_start();
            if let Some(v) = after_key.strip_prefix('=') {
                out.push_str("password=***");
                let v = v.trim_start();
                let end = if let Some(q) = v.strip_prefix('\'') {
                    let mut esc = false;
                    let mut end = v.len();
                    for (j, c) in q.char_indices() {
                        match c {
                            '\\' if !esc => esc = true,
                            '\'' if !esc => {
                                end = j + 2;
                                break;
                            }
                            _ => esc = false,
                        }
                    }
                    end
                } else {
                    v.find(char::is_whitespace).unwrap_or(v.len())
                };
                rest = &v[end.min(v.len())..];
            } else {
                out.push_str("password");
                rest = &after["password".len()..];
            }
        }
        out.push_str(rest);
        out
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DatabaseUrl({})", self.masked())
    }
}

impl std::fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.masked())
    }
}

/// Settings of `writers.postgres` and `uptimer migrate`.
#[derive(Debug, Clone, PartialEq)]
pub struct PostgresSettings {
    /// `DATABASE_URL`: libpq URL; `sslmode` disable, prefer (default), require, verify-ca or
    /// verify-full is honoured.
    pub database_url: Option<DatabaseUrl>,
    /// `POSTGRES_SSL_CA_FILE`: PEM file of the CA(s) that sign the server's certificate (for
    /// `sslmode=verify-ca`/`verify-full`; with `require` it turns verification on, as libpq's
    /// root certificate does). `sslrootcert` in the URL does the same.
    pub ssl_ca_file: Option<PathBuf>,
    /// `POSTGRES_PAGESIZE`: events per batch (one INSERT each). Default 5000.
    pub page_size: usize,
    /// `POSTGRES_QUEUE_TIMEOUT`: seconds a batch waits for more events after its first one.
    /// Default 2.0.
    pub queue_timeout: Duration,
    /// `RETENTION_DAYS`: drop daily partitions older than this many days; unset = keep all.
    pub retention_days: Option<u32>,
    /// `POSTGRES_POOL_SIZE`: connections in the writer's pool. Default 4.
    pub pool_size: usize,
    /// `POSTGRES_BUFFER_EVENTS`: events held in memory while the database is unreachable before
    /// they spill to the disk spool. Default 50000.
    pub buffer_events: usize,
    /// `POSTGRES_SPOOL_MAX_MB`: disk spool size past which writing blocks (back-pressure) rather
    /// than filling the disk. Default 20480 (20 GiB: an hour at 1,000 events/s takes ~2.5 GiB).
    pub spool_max_bytes: u64,
    /// `POSTGRES_SHUTDOWN_TIMEOUT`: seconds shutdown waits for the database to take what is
    /// buffered before leaving it in the spool for the next start. Default 10.
    pub shutdown_timeout: Duration,
}

impl Default for PostgresSettings {
    fn default() -> Self {
        PostgresSettings {
            database_url: None,
            ssl_ca_file: None,
            page_size: 5000,
            queue_timeout: Duration::from_secs(2),
            retention_days: None,
            pool_size: 4,
            buffer_events: 50_000,
            spool_max_bytes: 20 * 1024 * 1024 * 1024,
            shutdown_timeout: Duration::from_secs(10),
        }
    }
}

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
        if let Some(v) = get(env, "POSTGRES_BUFFER_EVENTS", |v| {
            parse::integer(v, 1, 100_000_000)
        })? {
            s.buffer_events = v as usize;
        }
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

    /// The URL, or the error naming the missing setting.
    pub fn require_url(&self, who: &str) -> Result<&DatabaseUrl, ConfigError> {
        self.database_url.as_ref().ok_or_else(|| {
            ConfigError::new(
                "DATABASE_URL",
                "",
                format!(
                    "a libpq URL such as postgres://user:password@host:5432/db (needed by {who})"
                ),
            )
        })
    }
}

/// Rejects what libpq would not accept, naming the setting (the password stays masked).
fn check_url(url: &DatabaseUrl) -> Result<(), ConfigError> {
    crate::writers::postgres::connect::ConnectOptions::parse(url, None)
        .map(|_| ())
        .map_err(|e| ConfigError::new("DATABASE_URL", url.masked(), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_url_never_prints_its_password() {
        let u =
            DatabaseUrl::new("postgres://uptimer:hunter2@db.example:5432/uptimer?sslmode=require");
        for shown in [format!("{u}"), format!("{u:?}"), u.masked()] {
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(
                shown.contains("uptimer:***@db.example:5432/uptimer"),
                "{shown}"
            );
        }
        assert_eq!(
            u.expose(),
            "postgres://uptimer:hunter2@db.example:5432/uptimer?sslmode=require"
        );

        let u = DatabaseUrl::new("postgresql://u@h/db?password=hunter2&sslmode=disable");
        assert!(!u.to_string().contains("hunter2"), "{u}");
        assert!(u.to_string().contains("sslmode=disable"), "{u}");

        let u = DatabaseUrl::new("host=h user=u password='hun ter2' dbname=d");
        assert_eq!(u.to_string(), "host=h user=u password=*** dbname=d");
        let u = DatabaseUrl::new("host=h password=hunter2");
        assert_eq!(u.to_string(), "host=h password=***");
        let u = DatabaseUrl::new("postgres://u@h/db");
        assert_eq!(u.to_string(), "postgres://u@h/db");
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
