//! Signed acknowledgement links: `WEB_PUBLIC_URL/ack/INCIDENT/SIGNATURE`, the signature an
//! HMAC-SHA256 of the incident id with a key from `ALERT_LINK_SECRET`, else one made once and
//! kept in `DATA_DIR/alert-link.key` (mode 0600). The link opens a confirmation page whose
//! button POSTs the acknowledgement: chat unfurlers and mail scanners follow GET links, and
//! must not acknowledge anything.

use std::path::Path;

use ring::hmac;

/// The file under `DATA_DIR` that keeps the generated key.
pub const KEY_FILE: &str = "alert-link.key";

/// Signs and checks links.
#[derive(Clone)]
pub struct LinkKey(hmac::Key);

impl std::fmt::Debug for LinkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkKey(****)")
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl LinkKey {
    pub fn from_secret(secret: &[u8]) -> LinkKey {
        LinkKey(hmac::Key::new(hmac::HMAC_SHA256, secret))
    }

    /// A new random key, as text.
    pub fn fresh() -> std::io::Result<String> {
        let mut bytes = [0u8; 32];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
            .map_err(|_| std::io::Error::other("no random bytes for the link key"))?;
        Ok(hex(&bytes))
    }

    /// `ALERT_LINK_SECRET` when given, else the key in `data_dir` (made when missing).
    pub fn load(secret: Option<&str>, data_dir: &Path) -> std::io::Result<LinkKey> {
        if let Some(s) = secret {
            return Ok(LinkKey::from_secret(s.as_bytes()));
        }
        let path = data_dir.join(KEY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) if text.trim().len() >= 32 => {
                return Ok(LinkKey::from_secret(text.trim().as_bytes()));
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        std::fs::create_dir_all(data_dir)?;
        let text = LinkKey::fresh()?;
        // Written aside and renamed: two processes starting at once keep one key.
        let tmp = data_dir.join(format!("{KEY_FILE}.{}", std::process::id()));
        {
            use std::io::Write as _;
            use std::os::unix::fs::OpenOptionsExt as _;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &path)?;
        Ok(LinkKey::from_secret(text.as_bytes()))
    }

    /// The signature of incident `id`'s link (128 bits, hex).
    pub fn sign(&self, id: i64) -> String {
        let tag = hmac::sign(&self.0, format!("ack:{id}").as_bytes());
        hex(&tag.as_ref()[..16])
    }

    /// Whether `signature` is incident `id`'s (compared in constant time).
    pub fn verify(&self, id: i64, signature: &str) -> bool {
        let want = self.sign(id);
        want.len() == signature.len()
            && want
                .bytes()
                .zip(signature.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

/// Where links point: the public URL and the key.
#[derive(Debug, Clone)]
pub struct Links {
    pub public_url: url::Url,
    pub key: LinkKey,
}

impl Links {
    /// Incident `id`'s acknowledgement link.
    pub fn ack_url(&self, id: i64) -> String {
        format!(
            "{}/ack/{id}/{}",
            self.public_url.as_str().trim_end_matches('/'),
            self.key.sign(id)
        )
    }
}

/// The links notifications carry: with `WEB_PUBLIC_URL` only.
pub fn from_settings(
    web: &crate::config::WebSettings,
    data_dir: &Path,
) -> Result<Option<Links>, String> {
    let Some(public_url) = web.public_url.clone() else {
        return Ok(None);
    };
    let secret = web.link_secret.as_ref().map(|s| s.expose());
    let key = LinkKey::load(secret, data_dir).map_err(|e| {
        format!(
            "the alert link key {}: {e} (or set ALERT_LINK_SECRET)",
            data_dir.join(KEY_FILE).display()
        )
    })?;
    Ok(Some(Links { public_url, key }))
}

/// The links notifications carry when alerting from PostgreSQL: with `WEB_PUBLIC_URL` only,
/// signed with `ALERT_LINK_SECRET` or else the key the database keeps, so that the dashboard
/// over it (`serve --store postgres://`) checks what any writer signed.
pub async fn from_database(
    web: &crate::config::WebSettings,
    alerts: &crate::store::postgres::alerts::PgAlerts,
) -> Result<Option<Links>, String> {
    let Some(public_url) = web.public_url.clone() else {
        return Ok(None);
    };
    let key = match &web.link_secret {
        Some(s) => LinkKey::from_secret(s.expose().as_bytes()),
        None => {
            let fresh = LinkKey::fresh().map_err(|e| e.to_string())?;
            let kept = alerts
                .link_key(fresh)
                .await
                .map_err(|e| format!("the alert link key in the database: {e}"))?;
            LinkKey::from_secret(kept.as_bytes())
        }
    };
    Ok(Some(Links { public_url, key }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_is_kept_private_and_reused_and_signatures_check() {
        let dir = tempfile::tempdir().unwrap();
        let a = LinkKey::load(None, dir.path()).unwrap();
        let b = LinkKey::load(None, dir.path()).unwrap();
        assert_eq!(a.sign(7), b.sign(7), "the same key after a restart");
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.path().join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(a.verify(7, &a.sign(7)));
        assert!(!a.verify(8, &a.sign(7)), "a link is for one incident");
        let other = LinkKey::load(Some("another secret of 16+"), dir.path()).unwrap();
        assert!(!other.verify(7, &a.sign(7)));
        let links = Links {
            public_url: url::Url::parse("https://up.example.com/base/").unwrap(),
            key: a.clone(),
        };
        assert_eq!(
            links.ack_url(7),
            format!("https://up.example.com/base/ack/7/{}", a.sign(7))
        );
    }
}
