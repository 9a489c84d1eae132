//! PostgreSQL client code that the writer, the dashboard's store and `uptimer migrate` share:
//! the settings and the connection string (parsed once, password masked), connecting with
//! libpq's TLS modes, migrations, daily partitions, and the one classification of errors.
//! Nothing here knows where the settings come from (`config` builds them).

pub mod connect;
mod conninfo;
mod error;
pub mod migrate;
pub mod partitions;
mod settings;

pub use connect::{ConnectOptions, SslMode};
pub use error::{Class, PgError, classify, describe};
pub use settings::{DatabaseUrl, MissingUrl, PostgresSettings};
