//! TLS failures told in words. An event's `error` is read by people on the dashboard and in
//! logs, so rustls' and webpki's error values (whose `Display` is often their `Debug`, such as
//! `Other(OtherError(CaUsedAsEndEntity))`) become short sentences. A value without a sentence
//! here falls back to its `Display`, or, where that is only its `Debug`, to its name in words
//! (`IllegalHelloRetryRequestWithOfferedGroup` → `illegal hello retry request with offered
//! group`): never to Rust's debug output.

use rustls::pki_types::UnixTime;
use rustls::{AlertDescription, CertificateError, Error, InvalidMessage, PeerIncompatible};
use time::OffsetDateTime;
use time::macros::format_description;

use super::tls::PeerCert;
use crate::event::ErrorKind;

/// The kind and the sentence for a failed handshake. `peer` is what the certificate verifier
/// saw of the server's certificate when it rejected it, if it did.
pub fn describe(e: &Error, peer: Option<&PeerCert>) -> (ErrorKind, String) {
    match e {
        Error::InvalidCertificate(c) => (ErrorKind::TlsCertificate, certificate(c, peer)),
        Error::NoCertificatesPresented => (
            ErrorKind::TlsCertificate,
            "the server sent no certificate".into(),
        ),
        other => (ErrorKind::Tls, handshake(other)),
    }
}

const CERT: &str = "the server's certificate";

fn certificate(e: &CertificateError, peer: Option<&PeerCert>) -> String {
    use CertificateError as C;
    match e {
        C::ExpiredContext { time, not_after } => {
            let ago = time.as_secs().saturating_sub(not_after.as_secs());
            format!(
                "{CERT} expired on {} ({})",
                date(*not_after),
                ago_in_words(ago)
            )
        }
        C::Expired => match peer.and_then(|p| p.not_after) {
            Some(t) => format!("{CERT} expired on {}", format_date(t)),
            None => format!("{CERT} has expired"),
        },
        C::NotValidYetContext { not_before, .. } => {
            format!("{CERT} is not valid before {}", date(*not_before))
        }
        C::NotValidYet => format!("{CERT} is not valid yet"),
        C::NotValidForNameContext {
            expected,
            presented,
        } => {
            let expected = expected.to_str();
            let names: Vec<&str> = presented.iter().filter_map(|n| host_of(n)).collect();
            match names.as_slice() {
                [] => format!("{CERT} names no host name or address, not {expected}"),
                names => format!("{CERT} is for {}, not for {expected}", one_of(names)),
            }
        }
        C::NotValidForName => format!("{CERT} is not valid for this host name"),
        C::UnknownIssuer if peer.is_some_and(|p| p.self_signed) => {
            format!("{CERT} is self-signed and not trusted")
        }
        C::UnknownIssuer => {
            format!("{CERT} is not issued by a certificate authority this prober trusts")
        }
        C::BadSignature => {
            format!("{CERT} has a bad signature (not signed by the issuer it names)")
        }
        C::BadEncoding => format!("{CERT} is malformed"),
        C::Revoked => format!("{CERT} has been revoked"),
        C::UnknownRevocationStatus => format!("{CERT}'s revocation status is unknown"),
        C::ExpiredRevocationList | C::ExpiredRevocationListContext { .. } => {
            format!("the revocation list for {CERT} has expired")
        }
        C::UnhandledCriticalExtension => {
            format!("{CERT} has a critical extension that is not understood")
        }
        C::InvalidPurpose | C::InvalidPurposeContext { .. } => {
            format!("{CERT} is not meant for TLS servers (extended key usage)")
        }
        #[allow(deprecated)]
        C::UnsupportedSignatureAlgorithm
        | C::UnsupportedSignatureAlgorithmContext { .. }
        | C::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
            format!("{CERT} is signed with an unsupported algorithm")
        }
        C::InvalidOcspResponse => format!("the server's OCSP response for {CERT} is invalid"),
        C::ApplicationVerificationFailure => format!("{CERT} was rejected"),
        C::Other(other) => match other.0.downcast_ref::<webpki::Error>() {
            Some(w) => webpki_error(w),
            None => format!("{CERT} was rejected: {other}"),
        },
        // A variant added later: its Display may be its Debug, so the name is put in words.
        other => format!("{CERT} was rejected: {}", words_of(&other.to_string())),
    }
}

/// webpki's errors that rustls passes on as `CertificateError::Other`.
fn webpki_error(e: &webpki::Error) -> String {
    use webpki::Error as W;
    match e {
        W::CaUsedAsEndEntity => format!("{CERT} is a CA certificate, not a server certificate"),
        W::EndEntityUsedAsCa => {
            "the server's certificate chain uses a server certificate as a CA".into()
        }
        W::CertDistrusted => format!("{CERT}'s key is explicitly distrusted"),
        W::PathLenConstraintViolated => {
            "the server's certificate chain is longer than its CA allows".into()
        }
        W::NameConstraintViolation => {
            format!("{CERT} names a host its CA may not issue certificates for")
        }
        W::MaximumPathDepthExceeded
        | W::MaximumPathBuildCallsExceeded
        | W::MaximumSignatureChecksExceeded
        | W::MaximumNameConstraintComparisonsExceeded => {
            "the server's certificate chain is too long or too complex to verify".into()
        }
        W::UnsupportedCertVersion => format!("{CERT} has an unsupported X.509 version"),
        W::UnsupportedCriticalExtension => {
            format!("{CERT} has a critical extension that is not understood")
        }
        W::SignatureAlgorithmMismatch => {
            format!("{CERT} names two different signature algorithms")
        }
        W::EmptyEkuExtension => {
            format!("{CERT} is not meant for TLS servers (empty extended key usage)")
        }
        W::MalformedDnsIdentifier => format!("{CERT} has a malformed DNS name"),
        W::MalformedNameConstraint => format!("{CERT}'s CA has a malformed name constraint"),
        W::UnsupportedNameType => format!("{CERT} names the host in an unsupported form"),
        W::BadDer
        | W::BadDerTime
        | W::ExtensionValueInvalid
        | W::MalformedExtensions
        | W::InvalidSerialNumber
        | W::InvalidNetworkMaskConstraint
        | W::TrailingData(_) => format!("{CERT} is malformed"),
        W::InvalidCertValidity => {
            format!("{CERT} has an invalid validity period (it ends before it starts)")
        }
        // webpki's Display is its Debug: the variant's name, put in words.
        other => format!("{CERT} was rejected: {}", words_of(&other.to_string())),
    }
}

/// Everything but the certificate: alerts from the server, protocol mismatches.
fn handshake(e: &Error) -> String {
    match e {
        Error::AlertReceived(alert) => {
            format!(
                "the server refused the TLS handshake: {}",
                alert_in_words(*alert)
            )
        }
        Error::InvalidMessage(InvalidMessage::InvalidContentType)
        | Error::InvalidMessage(InvalidMessage::UnknownProtocolVersion) => {
            "the server did not answer in TLS (is it plain HTTP?)".into()
        }
        Error::InvalidMessage(m) => format!(
            "the server sent an invalid TLS message: {}",
            words_of(&format!("{m:?}"))
        ),
        Error::PeerMisbehaved(m) => format!(
            "the server broke the TLS protocol: {}",
            words_of(&format!("{m:?}"))
        ),
        Error::InappropriateMessage { .. } | Error::InappropriateHandshakeMessage { .. } => {
            "the server sent a TLS message out of order".into()
        }
        Error::PeerIncompatible(p) => incompatible(p),
        Error::DecryptError => "the server's TLS messages could not be decrypted".into(),
        Error::PeerSentOversizedRecord => "the server sent an oversized TLS record".into(),
        Error::NoApplicationProtocol => {
            "the server speaks none of the protocols offered (h2, http/1.1)".into()
        }
        other => format!("TLS handshake failed: {other}"),
    }
}

fn incompatible(p: &PeerIncompatible) -> String {
    use PeerIncompatible as P;
    let why = match p {
        P::ServerDoesNotSupportTls12Or13
        | P::ServerTlsVersionIsDisabledByOurConfig
        | P::Tls12NotOffered
        | P::Tls12NotOfferedOrEnabled
        | P::SupportedVersionsExtensionRequired => "it does not speak TLS 1.2 or 1.3".into(),
        P::NoCipherSuitesInCommon => "no cipher suite in common".into(),
        P::NoKxGroupsInCommon | P::NoEcPointFormatsInCommon | P::UncompressedEcPointsRequired => {
            "no key exchange group in common".into()
        }
        P::NoSignatureSchemesInCommon | P::NoCertificateRequestSignatureSchemesInCommon => {
            "no signature scheme in common".into()
        }
        P::ExtendedMasterSecretExtensionRequired => {
            "it does not support the extended master secret that TLS 1.2 needs".into()
        }
        other => words_of(&format!("{other:?}")),
    };
    format!("the server's TLS is incompatible with the prober's: {why}")
}

fn alert_in_words(alert: AlertDescription) -> String {
    use AlertDescription as A;
    let words = match alert {
        A::HandshakeFailure => "no TLS version, cipher suite or key exchange in common",
        A::ProtocolVersion => "it does not accept the TLS versions offered (1.2, 1.3)",
        A::InsufficientSecurity => "it wants stronger cipher suites than those offered",
        A::UnrecognisedName => "it does not serve this host name (SNI)",
        A::NoApplicationProtocol => "it speaks none of the protocols offered (h2, http/1.1)",
        A::CertificateRequired => "it requires a client certificate",
        A::AccessDenied => "access denied",
        A::InternalError => "internal error on the server",
        A::IllegalParameter | A::DecodeError | A::UnexpectedMessage => {
            "it did not understand the prober's handshake"
        }
        A::BadRecordMac | A::DecryptError | A::DecryptionFailed => {
            "it could not decrypt the prober's messages"
        }
        A::UserCanceled | A::CloseNotify => "it closed the connection",
        A::MissingExtension | A::UnsupportedExtension => {
            "a TLS extension is missing or unsupported"
        }
        other => {
            return match other.as_str() {
                Some(name) => words_of(name),
                None => format!("alert {}", u8::from(other)),
            };
        }
    };
    words.to_owned()
}

/// A Rust value's name in words, for values that have no `Display` of their own:
/// `IllegalHelloRetryRequestWithOfferedGroup` becomes `illegal hello retry request with offered
/// group`, and `MissingData("x")` becomes `missing data` (the fields are left out).
fn words_of(debug: &str) -> String {
    let name = debug
        .split(|c: char| !c.is_ascii_alphanumeric())
        .next()
        .unwrap_or_default();
    let mut out = String::with_capacity(name.len() + 8);
    let mut prev_lower = false;
    for c in name.chars() {
        if c.is_ascii_uppercase() && prev_lower {
            out.push(' ');
        }
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// The host in one of the names webpki found in a certificate, which it hands over in its
/// debug form: `DnsName("a.example")`, `IpAddress(127.0.0.1)`; other kinds of names (URIs,
/// directory names) are not hosts.
fn host_of(name: &str) -> Option<&str> {
    if let Some(dns) = name.strip_prefix("DnsName(\"") {
        return dns.strip_suffix("\")");
    }
    if let Some(ip) = name.strip_prefix("IpAddress(") {
        return ip.strip_suffix(')');
    }
    // A later webpki may hand over the bare name.
    (!name.contains('(')).then_some(name)
}

/// `a.example`, `a.example or b.example`, `a.example, b.example or c.example`.
fn one_of(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

fn date(t: UnixTime) -> String {
    OffsetDateTime::from_unix_timestamp(t.as_secs() as i64)
        .map(format_date)
        .unwrap_or_else(|_| format!("{} (Unix time)", t.as_secs()))
}

fn format_date(t: OffsetDateTime) -> String {
    let f = format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    t.format(f).unwrap_or_else(|_| t.to_string())
}

fn ago_in_words(seconds: u64) -> String {
    match seconds / 86_400 {
        0 => "less than a day ago".into(),
        1 => "1 day ago".into(),
        days => format!("{days} days ago"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::ServerName;
    use std::sync::Arc;
    use std::time::Duration;

    fn words(e: impl Into<Error>) -> String {
        describe(&e.into(), None).1
    }

    #[test]
    fn certificate_errors_read_as_sentences() {
        let t = |s: u64| UnixTime::since_unix_epoch(Duration::from_secs(s));
        assert_eq!(
            words(CertificateError::ExpiredContext {
                time: t(1_577_836_800 + 3 * 86_400),
                not_after: t(1_577_836_800),
            }),
            "the server's certificate expired on 2020-01-01 00:00:00 UTC (3 days ago)"
        );
        assert_eq!(
            words(CertificateError::NotValidForNameContext {
                expected: ServerName::try_from("localhost").unwrap(),
                presented: vec![
                    "DnsName(\"a.example\")".into(),
                    "IpAddress(192.0.2.1)".into(),
                    "UniformResourceIdentifier(\"spiffe://x\")".into(),
                    "c.example".into(),
                ],
            }),
            "the server's certificate is for a.example, 192.0.2.1 or c.example, not for localhost"
        );
        let other = |w: webpki::Error| CertificateError::Other(rustls::OtherError(Arc::new(w)));
        assert_eq!(
            words(other(webpki::Error::CaUsedAsEndEntity)),
            "the server's certificate is a CA certificate, not a server certificate"
        );
        assert_eq!(
            words(other(webpki::Error::PathLenConstraintViolated)),
            "the server's certificate chain is longer than its CA allows"
        );
        assert_eq!(
            words(CertificateError::Revoked),
            "the server's certificate has been revoked"
        );
        let peer = PeerCert {
            not_after: None,
            self_signed: true,
        };
        assert_eq!(
            describe(&CertificateError::UnknownIssuer.into(), Some(&peer)),
            (
                ErrorKind::TlsCertificate,
                "the server's certificate is self-signed and not trusted".into()
            )
        );
    }

    #[test]
    fn handshake_errors_read_as_sentences_and_never_as_debug_output() {
        assert_eq!(
            words(Error::AlertReceived(AlertDescription::HandshakeFailure)),
            "the server refused the TLS handshake: no TLS version, cipher suite or key exchange in common"
        );
        assert_eq!(
            words(Error::AlertReceived(AlertDescription::Unknown(200))),
            "the server refused the TLS handshake: alert 200"
        );
        assert_eq!(
            words(Error::PeerIncompatible(
                PeerIncompatible::NoCipherSuitesInCommon
            )),
            "the server's TLS is incompatible with the prober's: no cipher suite in common"
        );
        assert_eq!(
            words(Error::PeerMisbehaved(
                rustls::PeerMisbehaved::IllegalHelloRetryRequestWithOfferedGroup
            )),
            "the server broke the TLS protocol: illegal hello retry request with offered group"
        );
        assert_eq!(
            words(Error::InvalidMessage(InvalidMessage::MissingData("x"))),
            "the server sent an invalid TLS message: missing data"
        );
        // Unknown values fall back to their Display.
        assert_eq!(
            words(Error::General("boom".into())),
            "TLS handshake failed: unexpected error: boom"
        );
    }
}
