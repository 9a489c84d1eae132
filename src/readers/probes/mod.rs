//! Probers: readers that produce one event per probe of a target.

pub mod http;
mod tls;

pub use http::HttpProber;
