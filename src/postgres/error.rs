//! What went wrong talking to PostgreSQL, and the one place that decides what to do about it.

/// Anything that went wrong talking to PostgreSQL.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// Our side is misconfigured (a CA file, a schema that is not migrated): never retried.
    #[error("{0}")]
    Setup(String),
    #[error("{}", describe(.0))]
    Db(#[from] tokio_postgres::Error),
    #[error("connection pool: {0}")]
    Pool(String),
    #[error("{file}: {error}")]
    Migration { file: String, error: String },
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
        PgError::Setup(_) | PgError::Migration { .. } => Class::Fatal,
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
    }
}
