//! Probers: readers that produce one event per probe of a target.

mod conditions;
mod failure;
pub mod http;
pub mod net;
mod resolver;
pub mod tcp;
mod tls;
mod tls_errors;
pub mod udp;

pub use failure::Failure;
pub use http::{HttpProber, Record};
pub use resolver::ResolverError;
pub use tls::{TlsConfigs, TlsSetupError};
