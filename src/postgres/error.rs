//! What went wrong talking to PostgreSQL, and the one place that decides what to do about it.

use std::path::PathBuf;

/// Anything that went wrong talking to PostgreSQL.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// Our side is misconfigured (a CA file, a schema that is not migrated): never retried.
    #[error("{0}")]
    Setup(String),
    /// The connection string or the TLS settings cannot be used: never retried.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("{}", describe(.0))]
    Db(#[from] tokio_postgres::Error),
    #[error("connection pool: {0}")]
    Pool(String),
    /// A migration's SQL failed.
    #[error("{file}: {}", describe(.source))]
    Migration {
        file: String,
        #[source]
        source: tokio_postgres::Error,
    },
    /// The database is ahead of this binary: a newer version applied a migration it lacks.
    #[error(
        "the latest applied migration {version} is not one of this binary's (a newer version applied it)"
    )]
    UnknownMigration { version: String },
}

/// A connection string (`DATABASE_URL`) or TLS settings (`POSTGRES_SSL_CA_FILE`) that cannot
/// be used. Each message completes "expected …", as a configuration error does.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("a libpq URL such as postgres://user:password@host:5432/db ({0})")]
    Url(#[source] url::ParseError),
    #[error("a libpq URL such as postgres://user:password@host:5432/db ({0})")]
    Libpq(#[source] tokio_postgres::Error),
    #[error("a libpq URL or key=value pairs (no '=' after {key})")]
    NoEquals { key: String },
    #[error("a libpq URL or key=value pairs (unterminated quote)")]
    UnterminatedQuote,
    #[error("a libpq URL with a user name, such as postgres://user:password@host:5432/db")]
    NoUser,
    #[error("sslmode disable, prefer, require, verify-ca or verify-full (got sslmode={0})")]
    SslMode(String),
    #[error("POSTGRES_SSL_CA_FILE {0}")]
    CaFile(#[source] crate::tls::CaFileError),
    #[error("POSTGRES_SSL_CA_FILE {}: no PEM certificate in it", path.display())]
    NoCaCertificate { path: PathBuf },
    #[error(transparent)]
    Tls(#[from] rustls::Error),
    #[error(transparent)]
    Verifier(#[from] rustls::client::VerifierBuilderError),
    #[error(transparent)]
    Pool(#[from] deadpool_postgres::BuildError),
}

impl From<deadpool_postgres::PoolError> for PgError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        match e {
            deadpool_postgres::PoolError::Backend(e) => PgError::Db(e),
            other => PgError::Pool(other.to_string()),
        }
    }
}

/// A database error as one line: the server's message, SQLSTATE and detail, or the I/O cause.
pub fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut s = format!("{} (SQLSTATE {})", db.message(), db.code().code());
        if let Some(d) = db.detail() {
            s.push_str(": ");
            s.push_str(d);
        }
        return s;
    }
    let mut s = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}

/// What to do about an error: the one place that decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// The database is away or busy (connection lost, restarting, too many clients, a lock, a
    /// schema being changed): retry later, keep the events.
    Transient,
    /// The rows are at fault (class 22 data exception, class 23 constraint): find them, keep
    /// them as rejects, write the rest.
    Data,
    /// Our configuration is wrong: stop.
    Fatal,
}

pub fn classify(e: &PgError) -> Class {
    match e {
        PgError::Setup(_)
        | PgError::Connect(_)
        | PgError::Migration { .. }
        | PgError::UnknownMigration { .. } => Class::Fatal,
        PgError::Pool(_) => Class::Transient,
        PgError::Db(e) => match e.code() {
            None => Class::Transient,
            Some(code) => {
                let c = code.code();
                if c.starts_with("22") || c.starts_with("23") {
                    Class::Data
                } else {
                    // Everything else, authentication included (a rotated password is fixed
                    // by an operator), is retried: events wait rather than get lost.
                    Class::Transient
                }
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_misconfiguration_is_fatal_and_a_busy_pool_is_transient() {
        assert_eq!(classify(&PgError::Setup("bad CA".into())), Class::Fatal);
        assert_eq!(
            classify(&PgError::Pool("timed out".into())),
            Class::Transient
        );
        let url = ConnectError::NoUser;
        assert_eq!(classify(&PgError::from(url)), Class::Fatal);
        let unknown = PgError::UnknownMigration {
            version: "29990101000000".into(),
        };
        assert_eq!(classify(&unknown), Class::Fatal);
    }

    #[test]
    fn connect_errors_complete_expected_as_configuration_errors_do() {
        let cases = [
            (
                ConnectError::SslMode("always".into()),
                "sslmode disable, prefer, require, verify-ca or verify-full (got sslmode=always)",
            ),
            (
                ConnectError::NoUser,
                "a libpq URL with a user name, such as postgres://user:password@host:5432/db",
            ),
            (
                ConnectError::NoEquals { key: "user".into() },
                "a libpq URL or key=value pairs (no '=' after user)",
            ),
            (
                ConnectError::UnterminatedQuote,
                "a libpq URL or key=value pairs (unterminated quote)",
            ),
            (
                ConnectError::NoCaCertificate {
                    path: "/etc/ca.pem".into(),
                },
                "POSTGRES_SSL_CA_FILE /etc/ca.pem: no PEM certificate in it",
            ),
            (
                ConnectError::Url(url::ParseError::EmptyHost),
                "a libpq URL such as postgres://user:password@host:5432/db (empty host)",
            ),
        ];
        for (e, shown) in cases {
            assert_eq!(e.to_string(), shown);
            // Through PgError the line is the same.
            assert_eq!(PgError::from(e).to_string(), shown);
        }
    }

    #[test]
    fn an_unknown_migration_names_its_version() {
        let e = PgError::UnknownMigration {
            version: "29990101000000".into(),
        };
        assert_eq!(
            e.to_string(),
            "the latest applied migration 29990101000000 is not one of this binary's (a newer version applied it)"
        );
    }
}
