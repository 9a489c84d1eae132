//! PostgreSQL settings: the connection string (whose password never prints) and the writer's
//! limits, with the original's defaults. `config` reads them from the environment.

use std::path::PathBuf;
use std::time::Duration;

use super::conninfo::{self, ConnInfo};

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
        match ConnInfo::parse(s) {
            Ok(ConnInfo::Url(u)) => masked_url(s, u),
            Ok(ConnInfo::Pairs(pairs)) => masked_pairs(&pairs),
            // Unparseable: show nothing that could be a secret.
            Err(_) if conninfo::is_url(s) => "postgres://***".to_owned(),
            Err(_) => {
                let (pairs, _) = conninfo::leading_pairs(s);
                let shown = masked_pairs(&pairs);
                if shown.is_empty() {
                    "***".to_owned()
                } else {
                    format!("{shown} ***")
                }
            }
        }
    }
}

fn masked_url(s: &str, mut u: url::Url) -> String {
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
        u.query_pairs_mut().clear().extend_pairs(
            pairs
                .iter()
                .map(|(k, v)| (k.as_str(), if k == "password" { "***" } else { v.as_str() })),
        );
        changed = true;
    }
    if changed {
        u.to_string().replace("%2A%2A%2A", "***")
    } else {
        s.to_owned()
    }
}

fn masked_pairs(pairs: &[(String, String)]) -> String {
    let shown: Vec<String> = pairs
        .iter()
        .map(|(k, raw)| {
            if k == "password" {
                "password=***".to_owned()
            } else {
                format!("{k}={raw}")
            }
        })
        .collect();
    shown.join(" ")
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

/// No `DATABASE_URL` where one is needed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("DATABASE_URL: expected {}, got \"\"", self.expected())]
pub struct MissingUrl {
    /// What needs it, e.g. `writers.postgres`.
    pub who: String,
}

impl MissingUrl {
    /// What the setting should hold.
    pub fn expected(&self) -> String {
        format!(
            "a libpq URL such as postgres://user:password@host:5432/db (needed by {})",
            self.who
        )
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
    /// `POSTGRES_BUFFER_EVENTS`, as given: accepted for compatibility and unused (during an
    /// outage every batch goes to the spool before it is acknowledged; nothing waits in memory).
    pub buffer_events: Option<usize>,
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
            buffer_events: None,
            spool_max_bytes: 20 * 1024 * 1024 * 1024,
            shutdown_timeout: Duration::from_secs(10),
        }
    }
}

impl PostgresSettings {
    /// The URL, or the error naming the missing setting.
    pub fn require_url(&self, who: &str) -> Result<&DatabaseUrl, MissingUrl> {
        self.database_url.as_ref().ok_or_else(|| MissingUrl {
            who: who.to_owned(),
        })
    }
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
    fn a_broken_connection_string_shows_what_parsed_and_hides_the_rest() {
        let u = DatabaseUrl::new("host=h password=hunter2 user");
        assert_eq!(u.to_string(), "host=h password=*** ***");
        let u = DatabaseUrl::new("host=h password='hunter2");
        assert_eq!(u.to_string(), "host=h ***");
        let u = DatabaseUrl::new("postgres://u:hunter2@[bad/db");
        assert_eq!(u.to_string(), "postgres://***");
    }

    #[test]
    fn a_missing_url_names_the_setting_and_who_needs_it() {
        let e = PostgresSettings::default()
            .require_url("writers.postgres")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "DATABASE_URL: expected a libpq URL such as postgres://user:password@host:5432/db \
             (needed by writers.postgres), got \"\""
        );
    }
}
