//! Probers: readers that produce one event per probe of a target. One module per kind of
//! check; [`Probers`] picks the one a target's kind names, so the scheduler knows no protocol.

mod conditions;
mod failure;
pub mod http;
mod observed;
mod resolver;
mod tls;
mod tls_errors;

use std::future::Future;

pub use failure::Failure;
pub use http::{HttpProber, Record};
pub use resolver::ResolverError;
pub use tls::TlsSetupError;

use crate::config::{Check, ProbeSettings, Target};
use crate::event::{ErrorKind, ProbeEvent};

/// Something that probes targets: one event per probe, never an error (every failure is
/// described in the event).
pub trait Prober: Send + Sync + 'static {
    fn probe(&self, target: &Target) -> impl Future<Output = ProbeEvent> + Send;
}

impl Prober for HttpProber {
    fn probe(&self, target: &Target) -> impl Future<Output = ProbeEvent> + Send {
        HttpProber::probe(self, target)
    }
}

/// Every kind of check, shared by all targets of a process.
pub struct Probers {
    http: HttpProber,
    location: Option<String>,
}

impl Probers {
    pub fn new(settings: &ProbeSettings) -> Result<Probers, ResolverError> {
        Ok(Probers {
            http: HttpProber::new(settings)?,
            location: settings.location.clone(),
        })
    }

    /// Checks at startup what a target's probes will need (its TLS settings load).
    pub fn check(&self, target: &Target) -> Result<(), TlsSetupError> {
        self.http.check_tls(target)
    }

    /// The HTTP prober, for what only HTTP has (`uptimer probe`'s response details).
    pub fn http(&self) -> &HttpProber {
        &self.http
    }
}

impl Prober for Probers {
    async fn probe(&self, target: &Target) -> ProbeEvent {
        match &target.check {
            Check::Http => self.http.probe(target).await,
            _ => {
                let started = observed::start();
                observed::event(
                    target,
                    self.location.as_deref(),
                    started,
                    observed::Observed::default(),
                    Err(Failure::new(
                        ErrorKind::Internal,
                        format!("{} checks are not built yet", target.kind),
                    )),
                )
            }
        }
    }
}
