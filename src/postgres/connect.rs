//! Connecting: libpq URLs (URL or `key=value` form) with libpq's `sslmode` semantics on rustls,
//! and the connection pool.
//!
//! tokio-postgres knows only disable/prefer/require, so `sslmode` and `sslrootcert` are taken out
//! of the URL here and turned into a rustls verifier: `prefer`/`require` encrypt without checking
//! the certificate (as libpq does, unless a CA file is given), `verify-ca` checks the chain,
//! `verify-full` the chain and the host name.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::conninfo::{ConnInfo, unquote};
use super::{DatabaseUrl, PgError};
use crate::tls::AcceptAny;

/// libpq's `sslmode` values (`allow` is taken as `prefer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl FromStr for SslMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "disable" => SslMode::Disable,
            "allow" | "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(format!(
                    "sslmode disable, prefer, require, verify-ca or verify-full (got sslmode={other})"
                ));
            }
        })
    }
}

/// A parsed `DATABASE_URL`.
#[derive(Clone)]
pub struct ConnectOptions {
    pub pg: tokio_postgres::Config,
    pub ssl_mode: SslMode,
    pub ca_file: Option<PathBuf>,
}

impl std::fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectOptions")
            .field("user", &self.pg.get_user())
            .field("dbname", &self.pg.get_dbname())
            .field("ssl_mode", &self.ssl_mode)
            .field("ca_file", &self.ca_file)
            .finish_non_exhaustive()
    }
}

impl ConnectOptions {
    /// Parses a libpq URL; `ca_file` (`POSTGRES_SSL_CA_FILE`) wins over `sslrootcert`.
    pub fn parse(url: &DatabaseUrl, ca_file: Option<&Path>) -> Result<ConnectOptions, String> {
        let s = url.expose();
        let mut ssl_mode = None;
        let mut root_cert = None;
        let rest = match ConnInfo::parse(s)? {
            ConnInfo::Url(mut u) => {
                let mut keep = Vec::new();
                for (k, v) in u.query_pairs() {
                    match k.as_ref() {
                        "sslmode" => ssl_mode = Some(v.parse::<SslMode>()?),
                        "sslrootcert" => root_cert = Some(PathBuf::from(v.as_ref())),
                        _ => keep.push((k.into_owned(), v.into_owned())),
                    }
                }
                u.set_query(None);
                if !keep.is_empty() {
                    u.query_pairs_mut().extend_pairs(keep);
                }
                u.to_string()
            }
            ConnInfo::Pairs(pairs) => {
                let mut keep = Vec::new();
                for (k, raw) in pairs {
                    match k.as_str() {
                        "sslmode" => ssl_mode = Some(unquote(&raw).parse::<SslMode>()?),
                        "sslrootcert" => root_cert = Some(PathBuf::from(unquote(&raw))),
                        _ => keep.push(format!("{k}={raw}")),
                    }
                }
                keep.join(" ")
            }
        };
        let mut pg = tokio_postgres::Config::from_str(&rest).map_err(|e| {
            format!("a libpq URL such as postgres://user:password@host:5432/db ({e})")
        })?;
        if pg.get_hosts().is_empty() {
            pg.host("localhost");
        }
        if pg.get_user().is_none() {
            return Err(
                "a libpq URL with a user name, such as postgres://user:password@host:5432/db"
                    .into(),
            );
        }
        if pg.get_application_name().is_none() {
            pg.application_name("uptimer");
        }
        if pg.get_connect_timeout().is_none() {
            pg.connect_timeout(Duration::from_secs(10));
        }
        let ca_file = ca_file.map(Path::to_path_buf).or(root_cert);
        let ssl_mode = ssl_mode.unwrap_or(SslMode::Prefer);
        pg.ssl_mode(match ssl_mode {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            _ => tokio_postgres::config::SslMode::Require,
        });
        Ok(ConnectOptions {
            pg,
            ssl_mode,
            ca_file,
        })
    }

    /// The TLS connector for this mode (also used, unverified, when the mode is prefer).
    pub fn tls(&self) -> Result<MakeRustlsConnect, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?;
        let verify = match self.ssl_mode {
            SslMode::Disable | SslMode::Prefer => None,
            SslMode::Require => self.ca_file.as_ref().map(|_| false),
            SslMode::VerifyCa => Some(false),
            SslMode::VerifyFull => Some(true),
        };
        let config = match verify {
            None => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAny::new(provider)))
                .with_no_client_auth(),
            Some(check_name) => {
                let mut roots = RootCertStore::empty();
                match &self.ca_file {
                    Some(path) => {
                        let certs = CertificateDer::pem_file_iter(path)
                            .map_err(|e| format!("POSTGRES_SSL_CA_FILE {}: {e}", path.display()))?;
                        for c in certs {
                            let c = c.map_err(|e| {
                                format!("POSTGRES_SSL_CA_FILE {}: {e}", path.display())
                            })?;
                            roots.add(c).map_err(|e| {
                                format!("POSTGRES_SSL_CA_FILE {}: {e}", path.display())
                            })?;
                        }
                        if roots.is_empty() {
                            return Err(format!(
                                "POSTGRES_SSL_CA_FILE {}: no PEM certificate in it",
                                path.display()
                            ));
                        }
                    }
                    None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
                }
                let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .build()
                .map_err(|e| e.to_string())?;
                if check_name {
                    builder.with_webpki_verifier(webpki).with_no_client_auth()
                } else {
                    builder
                        .dangerous()
                        .with_custom_certificate_verifier(Arc::new(ChainOnly(webpki)))
                        .with_no_client_auth()
                }
            }
        };
        Ok(MakeRustlsConnect::new(config))
    }

    /// One connection, its driver task spawned.
    pub async fn connect(&self) -> Result<tokio_postgres::Client, PgError> {
        let (client, connection) = self.pg.connect(self.tls().map_err(PgError::Setup)?).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "postgres connection closed");
            }
        });
        Ok(client)
    }

    /// A pool of up to `size` connections.
    pub fn pool(&self, size: usize) -> Result<deadpool_postgres::Pool, String> {
        let manager = deadpool_postgres::Manager::from_config(
            self.pg.clone(),
            self.tls()?,
            deadpool_postgres::ManagerConfig {
                recycling_method: deadpool_postgres::RecyclingMethod::Fast,
            },
        );
        deadpool_postgres::Pool::builder(manager)
            .max_size(size)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(30)))
            .create_timeout(Some(Duration::from_secs(15)))
            .recycle_timeout(Some(Duration::from_secs(5)))
            .build()
            .map_err(|e| e.to_string())
    }
}

/// libpq's `verify-ca`: the chain must lead to the CA; the name is not checked.
#[derive(Debug)]
struct ChainOnly(Arc<rustls::client::WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName))
            | Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<ConnectOptions, String> {
        ConnectOptions::parse(&DatabaseUrl::new(s), None)
    }

    #[test]
    fn libpq_sslmodes_are_understood_in_both_forms() {
        let o = parse("postgres://u:p@db.example:6543/d?sslmode=verify-full&sslrootcert=/ca.pem")
            .unwrap();
        assert_eq!(o.ssl_mode, SslMode::VerifyFull);
        assert_eq!(o.ca_file.as_deref(), Some(Path::new("/ca.pem")));
        assert_eq!(o.pg.get_ports(), &[6543]);
        assert_eq!(o.pg.get_dbname(), Some("d"));
        assert_eq!(o.pg.get_password(), Some(&b"p"[..]));
        let o = parse("host=h user=u password='a b' sslmode=verify-ca dbname=d").unwrap();
        assert_eq!(o.ssl_mode, SslMode::VerifyCa);
        assert_eq!(o.pg.get_password(), Some(&b"a b"[..]));
        assert_eq!(parse("postgres://u@h/d").unwrap().ssl_mode, SslMode::Prefer);
        assert_eq!(
            parse("postgresql://u@h/d?sslmode=disable&application_name=x")
                .unwrap()
                .pg
                .get_application_name(),
            Some("x")
        );
    }

    #[test]
    fn bad_urls_say_what_is_expected() {
        assert!(
            parse("postgres://u@h/d?sslmode=always")
                .unwrap_err()
                .contains("verify-full")
        );
        assert!(parse("postgres://h/d").unwrap_err().contains("user name"));
        assert!(parse("mysql://u@h/d").is_err());
    }

    #[test]
    fn verify_modes_need_a_readable_ca_file() {
        let o = ConnectOptions::parse(
            &DatabaseUrl::new("postgres://u@h/d?sslmode=verify-full"),
            Some(Path::new("/nonexistent/ca.pem")),
        )
        .unwrap();
        assert!(o.tls().is_err());
        // Without a CA file, verify-full uses the public roots; require does not verify.
        assert!(
            parse("postgres://u@h/d?sslmode=verify-full")
                .unwrap()
                .tls()
                .is_ok()
        );
        assert!(
            parse("postgres://u@h/d?sslmode=require")
                .unwrap()
                .tls()
                .is_ok()
        );
    }
}
