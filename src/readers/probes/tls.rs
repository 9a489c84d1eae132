//! rustls client configurations for each `PROBE_TLS_VERIFY` mode.
//!
//! Every probe makes a full handshake: session resumption is off, so the certificate is checked
//! (and its expiry read) on every probe, as an uptime check should.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, RootCertStore};

use crate::config::TlsVerify;
use crate::tls::AcceptAny;

/// Builds each mode's configuration once and shares it between probes.
#[derive(Default)]
pub struct TlsConfigs {
    cache: Mutex<HashMap<TlsVerify, Arc<ClientConfig>>>,
}

impl TlsConfigs {
    pub fn get(&self, mode: &TlsVerify) -> Result<Arc<ClientConfig>, String> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = cache.get(mode) {
            return Ok(c.clone());
        }
        let config = Arc::new(build(mode)?);
        cache.insert(mode.clone(), config.clone());
        Ok(config)
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn build(mode: &TlsVerify) -> Result<ClientConfig, String> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let mut config = match mode {
        TlsVerify::No => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAny::new(provider())))
            .with_no_client_auth(),
        TlsVerify::Yes => {
            let roots = RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        TlsVerify::CaFile(path) => {
            let mut roots = RootCertStore::empty();
            add_pem_file(&mut roots, path)?;
            if roots.is_empty() {
                return Err(format!("{}: no certificate found", path.display()));
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        TlsVerify::CaDir(dir) => {
            let mut roots = RootCertStore::empty();
            let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            for entry in entries.flatten() {
                // A hashed directory holds PEM files and links to them; anything else is skipped.
                let _ = add_pem_file(&mut roots, &entry.path());
            }
            if roots.is_empty() {
                return Err(format!("{}: no certificate found", dir.display()));
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    config.resumption = rustls::client::Resumption::disabled();
    Ok(config)
}

fn add_pem_file(roots: &mut RootCertStore, path: &Path) -> Result<(), String> {
    for cert in
        CertificateDer::pem_file_iter(path).map_err(|e| format!("{}: {e}", path.display()))?
    {
        let cert = cert.map_err(|e| format!("{}: {e}", path.display()))?;
        roots
            .add(cert)
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// The leaf certificate's expiry.
pub fn not_after(cert: &CertificateDer<'_>) -> Option<time::OffsetDateTime> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    time::OffsetDateTime::from_unix_timestamp(parsed.validity().not_after.timestamp()).ok()
}
