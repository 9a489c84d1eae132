//! Probers: readers that produce one event per probe of a target.

mod conditions;
pub mod dns;
mod failure;
pub mod http;
mod resolver;
mod tls;
mod tls_errors;

pub use failure::Failure;
pub use http::{HttpProber, Record};
pub use resolver::ResolverError;
pub use tls::TlsSetupError;
