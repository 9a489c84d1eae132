//! TLS for the loopback servers: a fresh test CA per test, leaf certificates of every kind a
//! prober must tell apart ([`CertKind`]), and HTTPS servers presenting them.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::server::{TestServer, new_state, serve_http, spawn_acceptor};

/// A fresh self-signed CA (ECDSA P-256) whose certificate is also written to `ca_file`.
pub struct TestCa {
    pub ca_cert_pem: String,
    /// Temporary directory holding `ca_file`; removed on drop.
    pub dir: tempfile::TempDir,
    /// `dir/ca.pem`
    pub ca_file: PathBuf,
    ca_cert_der: CertificateDer<'static>,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl TestCa {
    /// The CA certificate, DER encoded.
    pub fn ca_cert_der(&self) -> CertificateDer<'static> {
        self.ca_cert_der.clone()
    }

    /// A root store that trusts only this CA.
    pub fn root_store(&self) -> rustls::RootCertStore {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(self.ca_cert_der())
            .expect("add test CA to root store");
        roots
    }

    /// A rustls client config (ring provider) that trusts only this CA, with the given ALPN
    /// protocols (e.g. `&[b"h2", b"http/1.1"]`).
    pub fn client_config(&self, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
        let mut cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(self.root_store())
        .with_no_client_auth();
        cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(cfg)
    }

    /// Issue a leaf certificate signed by this CA for `names` (DNS names or IP literals).
    pub fn issue_leaf(
        &self,
        names: &[&str],
        not_before: time::OffsetDateTime,
        not_after: time::OffsetDateTime,
    ) -> LeafCert {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("leaf key");
        let params = leaf_params(names, not_before, not_after);
        let cert = params.signed_by(&key, &self.issuer).expect("sign leaf");
        LeafCert::new(cert, key, not_after)
    }
}

/// A certificate with its private key.
pub struct LeafCert {
    pub cert_pem: String,
    pub key_pem: String,
    pub cert_der: CertificateDer<'static>,
    pub key_der: PrivateKeyDer<'static>,
    pub not_after: time::OffsetDateTime,
}

impl LeafCert {
    fn new(cert: rcgen::Certificate, key: rcgen::KeyPair, not_after: time::OffsetDateTime) -> Self {
        LeafCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().clone(),
            key_der: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            not_after,
        }
    }
}

fn leaf_params(
    names: &[&str],
    not_before: time::OffsetDateTime,
    not_after: time::OffsetDateTime,
) -> rcgen::CertificateParams {
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let mut params = rcgen::CertificateParams::new(names.clone()).expect("leaf params");
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(
        rcgen::DnType::CommonName,
        names
            .first()
            .cloned()
            .unwrap_or_else(|| "uptimer test leaf".into()),
    );
    params.distinguished_name = dn;
    params.not_before = not_before;
    params.not_after = not_after;
    params.is_ca = rcgen::IsCa::ExplicitNoCa;
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::DigitalSignature,
        rcgen::KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    params
}

/// A fresh self-signed CA made with rcgen (ECDSA P-256), written as PEM to `ca_file`.
pub fn test_ca() -> TestCa {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("CA key");
    let mut params = rcgen::CertificateParams::default();
    let mut dn = rcgen::DistinguishedName::new();
    // A unique subject per CA: with identical names, a leaf from another test CA would fail
    // verification with BadSignature instead of UnknownIssuer.
    static CA_SEQ: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    dn.push(
        rcgen::DnType::CommonName,
        format!(
            "uptimer test CA {}-{}-{nanos}",
            std::process::id(),
            CA_SEQ.fetch_add(1, Ordering::SeqCst)
        ),
    );
    dn.push(rcgen::DnType::OrganizationName, "uptimer tests");
    params.distinguished_name = dn;
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(3650);
    params.not_after = now + time::Duration::days(3650);
    let cert = params.self_signed(&key).expect("self-sign CA");
    let ca_cert_pem = cert.pem();
    let dir = tempfile::tempdir().expect("tempdir");
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca_cert_pem).expect("write CA file");
    TestCa {
        ca_cert_pem,
        dir,
        ca_file,
        ca_cert_der: cert.der().clone(),
        issuer: rcgen::Issuer::new(params, key),
    }
}

/// Which certificate an [`https_server`] presents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertKind {
    /// Signed by the CA; SAN `localhost` + IP `127.0.0.1`; valid now (for one year).
    Valid,
    /// Like `Valid`, but expired (valid 2019-01-01 .. 2020-01-01).
    Expired,
    /// Signed by the CA, valid now, but the only SAN is `wrong.example`.
    WrongHost,
    /// Self-signed leaf for `localhost`/`127.0.0.1`, not issued by the CA.
    SelfSignedLeaf,
    /// Like `Valid`, but with this `not_after` (e.g. to test "expires in N days" warnings).
    ValidUntil(time::OffsetDateTime),
    /// Like `Valid`, but not valid before tomorrow.
    NotYetValid,
    /// Signed by the CA for `localhost`/`127.0.0.1`, but itself a CA certificate (basic
    /// constraints `CA:TRUE`), which a client must not accept as a server certificate.
    CaAsLeaf,
}

const LEAF_NAMES: &[&str] = &["localhost", "127.0.0.1"];

/// Build the leaf certificate for `kind`.
pub fn make_leaf(ca: &TestCa, kind: CertKind) -> LeafCert {
    let now = time::OffsetDateTime::now_utc();
    let day = time::Duration::days(1);
    match kind {
        CertKind::Valid => ca.issue_leaf(LEAF_NAMES, now - day, now + 365 * day),
        CertKind::ValidUntil(not_after) => ca.issue_leaf(LEAF_NAMES, now - day, not_after),
        CertKind::Expired => ca.issue_leaf(
            LEAF_NAMES,
            rcgen::date_time_ymd(2019, 1, 1),
            rcgen::date_time_ymd(2020, 1, 1),
        ),
        CertKind::WrongHost => ca.issue_leaf(&["wrong.example"], now - day, now + 365 * day),
        CertKind::NotYetValid => ca.issue_leaf(LEAF_NAMES, now + day, now + 365 * day),
        CertKind::CaAsLeaf => {
            let key =
                rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("leaf key");
            let not_after = now + 365 * day;
            let mut params = leaf_params(LEAF_NAMES, now - day, not_after);
            params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            params.key_usages.push(rcgen::KeyUsagePurpose::KeyCertSign);
            let cert = params.signed_by(&key, &ca.issuer).expect("sign CA leaf");
            LeafCert::new(cert, key, not_after)
        }
        CertKind::SelfSignedLeaf => {
            let key =
                rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("leaf key");
            let not_after = now + 365 * day;
            let cert = leaf_params(LEAF_NAMES, now - day, not_after)
                .self_signed(&key)
                .expect("self-sign leaf");
            LeafCert::new(cert, key, not_after)
        }
    }
}

/// HTTPS server on `127.0.0.1:0` with ALPN `["h2", "http/1.1"]`, serving both protocols.
pub async fn https_server(ca: &TestCa, kind: CertKind) -> TestServer {
    https_server_with(make_leaf(ca, kind), &[b"h2", b"http/1.1"], false).await
}

/// HTTPS server (valid certificate) with ALPN `["http/1.1"]` only; speaks only HTTP/1.x.
pub async fn https_server_http1_only(ca: &TestCa) -> TestServer {
    https_server_with(make_leaf(ca, CertKind::Valid), &[b"http/1.1"], true).await
}

/// HTTPS server on `127.0.0.1:0` presenting `leaf`, advertising `alpn` (may be empty).
pub async fn https_server_with(leaf: LeafCert, alpn: &[&[u8]], http1_only: bool) -> TestServer {
    let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_no_client_auth()
    .with_single_cert(vec![leaf.cert_der.clone()], leaf.key_der.clone_key())
    .expect("server cert");
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let acceptor = TlsAcceptor::from(Arc::new(cfg));

    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind HTTPS test server");
    let addr = listener.local_addr().expect("local_addr");
    let state = new_state(addr, true);
    let task = spawn_acceptor(listener, state.clone(), move |stream, state| {
        let acceptor = acceptor.clone();
        async move {
            let _ = stream.set_nodelay(true);
            let Ok(Ok(tls)) =
                tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await
            else {
                return;
            };
            serve_http(tls, state, http1_only).await;
        }
    });
    TestServer {
        addr,
        tls: true,
        state,
        task,
        cert_not_after: Some(leaf.not_after),
    }
}
