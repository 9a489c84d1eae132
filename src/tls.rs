//! TLS pieces shared by the prober and the PostgreSQL client: the one rustls certificate
//! verifier both configure (accept any certificate, check the chain only, or check chain and
//! name) and the loading of trust anchors from PEM files.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// The crypto provider every TLS client of ours uses.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The public roots built into the binary (Mozilla's, through `webpki-roots`).
pub fn public_roots() -> RootCertStore {
    RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    }
}

/// A CA file whose certificates cannot be trust anchors.
#[derive(Debug, thiserror::Error)]
pub enum CaFileError {
    /// The file cannot be read as PEM.
    #[error("{}: {source}", path.display())]
    Pem {
        path: PathBuf,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    /// A certificate in it is not a usable trust anchor.
    #[error("{}: {source}", path.display())]
    Certificate {
        path: PathBuf,
        #[source]
        source: rustls::Error,
    },
}

/// Adds every certificate of a PEM file to `roots` (a file without any adds nothing).
pub fn add_pem_file(roots: &mut RootCertStore, path: &Path) -> Result<(), CaFileError> {
    let unreadable = |source| CaFileError::Pem {
        path: path.to_owned(),
        source,
    };
    for cert in CertificateDer::pem_file_iter(path).map_err(unreadable)? {
        roots
            .add(cert.map_err(unreadable)?)
            .map_err(|source| CaFileError::Certificate {
                path: path.to_owned(),
                source,
            })?;
    }
    Ok(())
}

/// What a server's certificate must satisfy.
#[derive(Debug)]
pub enum Check {
    /// Nothing: any certificate is accepted (`PROBE_TLS_VERIFY=false`; libpq's `sslmode=require`
    /// without a CA file). The handshake's signatures are still checked.
    Nothing,
    /// The chain must lead to one of these roots; the name is not checked (libpq's `verify-ca`).
    Chain(RootCertStore),
    /// The chain must lead to one of these roots and the certificate name the server: the
    /// standard check (`with_root_certificates`), libpq's `verify-full`.
    ChainAndName(RootCertStore),
}

/// Called with the end-entity certificate of a server the verifier rejects.
pub type OnReject = fn(&CertificateDer<'_>);

/// The one certificate verifier: checks the certificate as its [`Check`] says, and the
/// handshake's signatures with the provider's algorithms (as rustls' own verifier does).
#[derive(Debug)]
pub struct Verifier {
    provider: Arc<CryptoProvider>,
    /// `None`: any certificate ([`Check::Nothing`]).
    webpki: Option<Arc<WebPkiServerVerifier>>,
    check_name: bool,
    on_reject: Option<OnReject>,
}

impl Verifier {
    pub fn new(
        provider: Arc<CryptoProvider>,
        check: Check,
    ) -> Result<Self, rustls::client::VerifierBuilderError> {
        let webpki = |roots: RootCertStore| {
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone()).build()
        };
        let (webpki, check_name) = match check {
            Check::Nothing => (None, false),
            Check::Chain(roots) => (Some(webpki(roots)?), false),
            Check::ChainAndName(roots) => (Some(webpki(roots)?), true),
        };
        Ok(Verifier {
            provider,
            webpki,
            check_name,
            on_reject: None,
        })
    }

    /// Tells `on_reject` about every certificate this verifier rejects.
    pub fn on_reject(self, on_reject: OnReject) -> Self {
        Verifier {
            on_reject: Some(on_reject),
            ..self
        }
    }

    /// A client configuration (safe default protocol versions, no client certificate) that
    /// checks servers with this verifier.
    pub fn client_config(self) -> Result<ClientConfig, rustls::Error> {
        Ok(ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(self))
            .with_no_client_auth())
    }

    /// The handshake's signatures are checked with the provider's algorithms, as rustls' own
    /// verifier does.
    fn algorithms(&self) -> &WebPkiSupportedAlgorithms {
        &self.provider.signature_verification_algorithms
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verdict = match &self.webpki {
            None => Ok(ServerCertVerified::assertion()),
            Some(webpki) => match webpki.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            ) {
                Err(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::NotValidForName
                    | rustls::CertificateError::NotValidForNameContext { .. },
                )) if !self.check_name => Ok(ServerCertVerified::assertion()),
                other => other,
            },
        };
        if let (Err(_), Some(on_reject)) = (&verdict, self.on_reject) {
            on_reject(end_entity);
        }
        verdict
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, self.algorithms())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, self.algorithms())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms().supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A CA and a leaf it signed for `name`.
    fn ca_and_leaf(name: &str) -> (RootCertStore, CertificateDer<'static>) {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca, ca_key);
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf = rcgen::CertificateParams::new(vec![name.to_owned()])
            .unwrap()
            .signed_by(&leaf_key, &issuer)
            .unwrap();
        let mut roots = RootCertStore::empty();
        roots.add(ca_cert.der().clone()).unwrap();
        (roots, leaf.der().clone())
    }

    fn verify(v: &Verifier, leaf: &CertificateDer<'_>, name: &str) -> Result<(), rustls::Error> {
        let name = ServerName::try_from(name.to_owned()).unwrap();
        v.verify_server_cert(leaf, &[], &name, &[], UnixTime::now())
            .map(|_| ())
    }

    #[test]
    fn each_check_accepts_what_it_should() {
        let (roots, leaf) = ca_and_leaf("db.test");
        let (_, stranger) = ca_and_leaf("db.test");
        let full = Verifier::new(provider(), Check::ChainAndName(roots.clone())).unwrap();
        assert!(verify(&full, &leaf, "db.test").is_ok());
        assert!(verify(&full, &leaf, "other.test").is_err());
        assert!(verify(&full, &stranger, "db.test").is_err());

        let chain = Verifier::new(provider(), Check::Chain(roots)).unwrap();
        assert!(verify(&chain, &leaf, "other.test").is_ok());
        assert!(verify(&chain, &stranger, "db.test").is_err());

        let any = Verifier::new(provider(), Check::Nothing).unwrap();
        assert!(verify(&any, &stranger, "other.test").is_ok());
    }

    #[test]
    fn a_rejected_certificate_and_only_it_is_reported() {
        static REJECTED: AtomicUsize = AtomicUsize::new(0);
        let (roots, leaf) = ca_and_leaf("db.test");
        let v = Verifier::new(provider(), Check::ChainAndName(roots))
            .unwrap()
            .on_reject(|_| {
                REJECTED.fetch_add(1, Ordering::SeqCst);
            });
        assert!(verify(&v, &leaf, "db.test").is_ok());
        assert_eq!(REJECTED.load(Ordering::SeqCst), 0);
        assert!(verify(&v, &leaf, "other.test").is_err());
        assert_eq!(REJECTED.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_ca_file_that_is_not_pem_names_its_path() {
        let mut roots = RootCertStore::empty();
        let e = add_pem_file(&mut roots, Path::new("/nonexistent/ca.pem")).unwrap_err();
        assert!(matches!(e, CaFileError::Pem { .. }), "{e:?}");
        assert!(e.to_string().starts_with("/nonexistent/ca.pem: "), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("text.pem");
        std::fs::write(&text, "not a certificate\n").unwrap();
        add_pem_file(&mut roots, &text).unwrap();
        assert!(roots.is_empty());
    }
}
