//! rustls client configurations for each `PROBE_TLS_VERIFY` mode.
//!
//! Every probe makes a full handshake: session resumption is off, so the certificate is checked
//! (and its expiry read) on every probe, as an uptime check should. A rejected certificate's
//! expiry is reported too (an expired certificate is the usual reason for a rejection): rustls
//! hands back neither the connection nor the certificate of a failed handshake, so the shared
//! verifier leaves what it saw of a certificate it rejected in a task-local slot of the probe
//! whose handshake it is checking ([`keeping_rejected`]). One configuration per mode serves every
//! probe: nothing is built or cloned per handshake.

use std::cell::Cell;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rustls::client::VerifierBuilderError;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};

use super::net::Alpn;
use crate::config::TlsVerify;
use crate::tls::{self, CaFileError, Check, Verifier};

/// A `PROBE_TLS_VERIFY` mode whose configuration cannot be built: a startup error.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// A CA file whose certificates cannot be trust anchors.
    #[error(transparent)]
    CaFile(#[from] CaFileError),
    #[error("{}: {source}", path.display())]
    Dir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: no certificate found", path.display())]
    NoCertificate { path: PathBuf },
    #[error(transparent)]
    Tls(#[from] rustls::Error),
    #[error(transparent)]
    Verifier(#[from] VerifierBuilderError),
}

/// Builds each mode's configuration (per ALPN offer) once and shares it between probes.
#[derive(Default)]
pub struct TlsConfigs {
    cache: Mutex<HashMap<(TlsVerify, Alpn), Arc<ClientConfig>>>,
}

impl TlsConfigs {
    /// The mode's configuration offering `alpn`, built on first use.
    pub fn get(&self, mode: &TlsVerify, alpn: Alpn) -> Result<Arc<ClientConfig>, TlsSetupError> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let key = (mode.clone(), alpn);
        if let Some(c) = cache.get(&key) {
            return Ok(c.clone());
        }
        let built = Arc::new(build(mode, alpn)?);
        cache.insert(key, built.clone());
        Ok(built)
    }

    /// Checks that the mode's configuration can be built (a bad CA file is a startup error).
    pub fn check(&self, mode: &TlsVerify) -> Result<(), TlsSetupError> {
        self.get(mode, Alpn::Http).map(|_| ())
    }
}

tokio::task_local! {
    /// Set while a probe's handshake is polled: where the verifier leaves a rejected certificate.
    static REJECTED: Cell<Option<PeerCert>>;
}

/// Runs a handshake and returns, with its outcome, what the verifier saw of the server's
/// certificate if it rejected it. The verifier runs inside the poll of this very future (the
/// task-local is set for exactly those polls), so it can only ever describe this handshake.
pub async fn keeping_rejected<F: Future>(handshake: F) -> (F::Output, Option<PeerCert>) {
    REJECTED
        .scope(Cell::new(None), async move {
            let outcome = handshake.await;
            (outcome, REJECTED.with(Cell::take))
        })
        .await
}

/// What the verifier saw of a server certificate it rejected.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PeerCert {
    pub not_after: Option<time::OffsetDateTime>,
    /// Issuer and subject are the same: nobody vouches for it but itself.
    pub self_signed: bool,
}

impl PeerCert {
    fn parse(cert: &CertificateDer<'_>) -> PeerCert {
        let self_signed = x509_parser::parse_x509_certificate(cert.as_ref())
            .is_ok_and(|(_, c)| c.issuer().as_raw() == c.subject().as_raw());
        PeerCert {
            not_after: not_after(cert),
            self_signed,
        }
    }
}

fn build(mode: &TlsVerify, alpn: Alpn) -> Result<ClientConfig, TlsSetupError> {
    let check = match mode {
        TlsVerify::No => Check::Nothing,
        TlsVerify::Yes => Check::ChainAndName(tls::public_roots()),
        TlsVerify::CaFile(path) => {
            let mut roots = RootCertStore::empty();
            tls::add_pem_file(&mut roots, path)?;
            if roots.is_empty() {
                return Err(TlsSetupError::NoCertificate { path: path.clone() });
            }
            Check::ChainAndName(roots)
        }
        TlsVerify::CaDir(dir) => {
            let mut roots = RootCertStore::empty();
            let entries = std::fs::read_dir(dir).map_err(|source| TlsSetupError::Dir {
                path: dir.clone(),
                source,
            })?;
            for entry in entries.flatten() {
                // A hashed directory holds PEM files and links to them; anything else is skipped.
                let _ = tls::add_pem_file(&mut roots, &entry.path());
            }
            if roots.is_empty() {
                return Err(TlsSetupError::NoCertificate { path: dir.clone() });
            }
            Check::ChainAndName(roots)
        }
    };
    let mut config = Verifier::new(tls::provider(), check)?
        .on_reject(|cert| {
            // Outside a probe's handshake (no slot) there is nobody to tell.
            let _ = REJECTED.try_with(|slot| slot.set(Some(PeerCert::parse(cert))));
        })
        .client_config()?;
    config.alpn_protocols = match alpn {
        Alpn::Http => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        Alpn::None => Vec::new(),
        Alpn::H2 => vec![b"h2".to_vec()],
    };
    config.resumption = rustls::client::Resumption::disabled();
    Ok(config)
}

/// The leaf certificate's expiry.
pub fn not_after(cert: &CertificateDer<'_>) -> Option<time::OffsetDateTime> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    time::OffsetDateTime::from_unix_timestamp(parsed.validity().not_after.timestamp()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_or_directory_without_certificates_is_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let configs = TlsConfigs::default();
        let e = configs
            .check(&TlsVerify::CaDir(dir.path().to_owned()))
            .unwrap_err();
        assert!(matches!(e, TlsSetupError::NoCertificate { .. }), "{e:?}");
        assert_eq!(
            e.to_string(),
            format!("{}: no certificate found", dir.path().display())
        );
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let e = configs
            .check(&TlsVerify::CaFile(empty.clone()))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("{}: no certificate found", empty.display())
        );
    }

    #[test]
    fn an_unreadable_ca_file_keeps_its_cause() {
        let e = TlsConfigs::default()
            .check(&TlsVerify::CaFile("/nonexistent/ca.pem".into()))
            .unwrap_err();
        assert!(
            matches!(e, TlsSetupError::CaFile(CaFileError::Pem { .. })),
            "{e:?}"
        );
        assert!(e.to_string().starts_with("/nonexistent/ca.pem: "), "{e}");
        assert!(std::error::Error::source(&e).is_some());
    }

    #[test]
    fn the_built_in_roots_and_no_verification_build() {
        let configs = TlsConfigs::default();
        assert!(configs.check(&TlsVerify::Yes).is_ok());
        assert!(configs.check(&TlsVerify::No).is_ok());
    }
}
