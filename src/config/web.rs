//! Settings of the embedded store (`SQLITE_*`) and of the web server (`WEB_*`) behind
//! `uptimer serve`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::file::StoreFile;
use super::{ConfigError, Env, Expected, Secret, parse};

/// `writers.sqlite` and the dashboard's embedded store.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreSettings {
    /// The SQLite file (`SQLITE_PATH`, default `DATA_DIR/uptimer.sqlite3`).
    pub path: PathBuf,
    /// Raw events are kept this long (`SQLITE_RETENTION_EVENTS_DAYS`, default 7).
    pub retention_events: Duration,
    /// `SQLITE_RETENTION_MINUTE_DAYS`, default 2: accepted and unused since the compact store
    /// (steps under an hour come from raw events).
    pub retention_minute: Duration,
    /// Hour rollups and closed incidents (`SQLITE_RETENTION_HOUR_DAYS`, default 400).
    pub retention_hour: Duration,
    /// The most bytes the store may use, WAL included (`SQLITE_MAX_BYTES` or the file's
    /// `store.max_size`: `2GB`, `500MiB`, `1.5 GiB`, bytes; at least [`MIN_MAX_BYTES`]); the
    /// oldest data is pruned past it, whatever the retention says. `None` (default): no cap.
    pub max_bytes: Option<u64>,
}

/// The smallest size cap taken: below it the store would prune what the dashboard needs.
pub const MIN_MAX_BYTES: u64 = 10 << 20;

impl StoreSettings {
    pub fn with_path(path: PathBuf) -> Self {
        StoreSettings {
            path,
            retention_events: days(7),
            retention_minute: days(2),
            retention_hour: days(400),
            max_bytes: None,
        }
    }

    /// From the environment (`SQLITE_*`) over the config file's `store:` section.
    pub fn from_env(env: &Env, file: &StoreFile, data_dir: &Path) -> Result<Self, ConfigError> {
        let mut s = StoreSettings::with_path(
            env.get("SQLITE_PATH")
                .map(PathBuf::from)
                .unwrap_or_else(|| data_dir.join("uptimer.sqlite3")),
        );
        for (name, field) in [
            ("SQLITE_RETENTION_EVENTS_DAYS", &mut s.retention_events),
            ("SQLITE_RETENTION_MINUTE_DAYS", &mut s.retention_minute),
            ("SQLITE_RETENTION_HOUR_DAYS", &mut s.retention_hour),
        ] {
            if let Some(v) = env.get(name) {
                let n: f64 = v
                    .trim()
                    .parse()
                    .ok()
                    .filter(|n: &f64| n.is_finite() && *n > 0.0 && *n <= 36_500.0)
                    .ok_or_else(|| {
                        ConfigError::new(name, v, "a number of days from 0.001 to 36500")
                    })?;
                *field = Duration::from_secs_f64(n * 86_400.0);
            }
        }
        let max_bytes = |v: &str| parse::byte_size(v, MIN_MAX_BYTES);
        s.max_bytes = match super::from_env(env, "SQLITE_MAX_BYTES", max_bytes)? {
            Some(n) => Some(n),
            None => super::from_file(file.max_size.as_ref(), "store.max_size", max_bytes)?,
        };
        Ok(s)
    }
}

impl StoreSettings {
    /// For `check-config`.
    pub fn describe(&self) -> serde_json::Value {
        let d = |d: Duration| format!("{}d", d.as_secs_f64() / 86_400.0);
        serde_json::json!({
            "path": self.path.display().to_string(),
            "retention_events": d(self.retention_events),
            "retention_minute": d(self.retention_minute),
            "retention_hour": d(self.retention_hour),
            "max_size": match self.max_bytes {
                Some(n) => format!("{n} bytes ({})", parse::human_bytes(n)),
                None => "none (no cap)".to_owned(),
            },
        })
    }
}

impl WebSettings {
    /// For `check-config`: the password and token masked.
    pub fn describe(&self) -> serde_json::Value {
        let auth = match &self.auth {
            None => "none".to_owned(),
            Some(WebAuth::Token(t)) => format!("token {t}"),
            Some(WebAuth::Basic { user, password }) => format!("basic {user}:{password}"),
        };
        serde_json::json!({
            "listen": self.listen.to_string(),
            "auth": auth,
            "open_metrics": self.open_metrics,
        })
    }
}

fn days(n: u64) -> Duration {
    Duration::from_secs(n * 86_400)
}

/// Who may read the dashboard and the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebAuth {
    /// `Authorization: Bearer TOKEN` (or basic auth with any user and the token as password).
    Token(Secret),
    /// HTTP basic auth with this user and password.
    Basic { user: String, password: Secret },
}

/// The web server of `uptimer serve`.
#[derive(Debug, Clone, PartialEq)]
pub struct WebSettings {
    /// `WEB_LISTEN` (default 127.0.0.1:8080); `--listen` overrides it.
    pub listen: SocketAddr,
    /// `WEB_AUTH_TOKEN` or `WEB_AUTH_BASIC` (user:password); none by default.
    pub auth: Option<WebAuth>,
    /// `/healthz` and `/metrics` stay open when auth is on (`WEB_AUTH_OPEN_METRICS`, default
    /// true), so orchestrators and Prometheus need no secret.
    pub open_metrics: bool,
    /// `WEB_PUBLIC_URL`: the dashboard's address as people reach it (`https://uptime.example.com`),
    /// for the links in notifications; none by default (notifications carry no links).
    pub public_url: Option<url::Url>,
    /// `ALERT_LINK_SECRET`: the key that signs those links; by default one made once and kept
    /// under `DATA_DIR`.
    pub link_secret: Option<Secret>,
    /// `STATUS_LISTEN`: a second listener serving only the status pages (the first at `/`),
    /// their assets, feeds and API, so the dashboard is never on the public address; none by
    /// default.
    pub status_listen: Option<SocketAddr>,
}

impl Default for WebSettings {
    fn default() -> Self {
        WebSettings {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            auth: None,
            open_metrics: true,
            public_url: None,
            link_secret: None,
            status_listen: None,
        }
    }
}

/// `127.0.0.1:8080`, `[::1]:8080`, or `:8080` (127.0.0.1).
pub fn listen_addr(s: &str) -> Result<SocketAddr, Expected> {
    let s = s.trim();
    let s = if s.starts_with(':') {
        format!("127.0.0.1{s}")
    } else {
        s.to_owned()
    };
    s.parse().map_err(|_| {
        Expected::from("an address and port such as 127.0.0.1:8080, 0.0.0.0:8080 or [::1]:8080")
    })
}

impl WebSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let mut w = WebSettings::default();
        if let Some(v) = env.get("WEB_LISTEN") {
            w.listen = listen_addr(v).map_err(|e| ConfigError::new("WEB_LISTEN", v, e))?;
        }
        match (env.get("WEB_AUTH_TOKEN"), env.get("WEB_AUTH_BASIC")) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::new(
                    "WEB_AUTH_BASIC",
                    "***",
                    "either WEB_AUTH_TOKEN or WEB_AUTH_BASIC, not both",
                ));
            }
            (Some(t), None) => w.auth = Some(WebAuth::Token(Secret::new(t.trim()))),
            (None, Some(b)) => {
                let (user, password) = b
                    .split_once(':')
                    .filter(|(u, p)| !u.is_empty() && !p.is_empty())
                    .ok_or_else(|| {
                        ConfigError::new("WEB_AUTH_BASIC", "***", "user:password, both non-empty")
                    })?;
                w.auth = Some(WebAuth::Basic {
                    user: user.to_owned(),
                    password: Secret::new(password),
                });
            }
            (None, None) => {}
        }
        if let Some(v) = env.get("WEB_AUTH_OPEN_METRICS") {
            w.open_metrics = super::parse::boolean(v)
                .map_err(|e| ConfigError::new("WEB_AUTH_OPEN_METRICS", v, e))?;
        }
        if let Some(v) = env.get("WEB_PUBLIC_URL").filter(|v| !v.trim().is_empty()) {
            let url = url::Url::parse(v.trim())
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
                .ok_or_else(|| {
                    ConfigError::new(
                        "WEB_PUBLIC_URL",
                        v,
                        "the dashboard's public http:// or https:// address",
                    )
                })?;
            w.public_url = Some(url);
        }
        if let Some(v) = env.get("STATUS_LISTEN").filter(|v| !v.trim().is_empty()) {
            let addr = listen_addr(v).map_err(|e| ConfigError::new("STATUS_LISTEN", v, e))?;
            if addr == w.listen {
                return Err(ConfigError::new(
                    "STATUS_LISTEN",
                    v,
                    "an address other than WEB_LISTEN's",
                ));
            }
            w.status_listen = Some(addr);
        }
        if let Some(v) = env.get("ALERT_LINK_SECRET") {
            if v.trim().len() < 16 {
                return Err(ConfigError::new(
                    "ALERT_LINK_SECRET",
                    "***",
                    "at least 16 characters",
                ));
            }
            w.link_secret = Some(Secret::new(v.trim()));
        }
        Ok(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_bind_loopback_and_keep_data_under_data_dir() {
        let env = Env::from_pairs([]);
        let w = WebSettings::from_env(&env).unwrap();
        assert_eq!(w.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(w.auth, None);
        let s = StoreSettings::from_env(&env, &StoreFile::default(), Path::new("/d")).unwrap();
        assert_eq!(s.path, Path::new("/d/uptimer.sqlite3"));
        assert_eq!(s.retention_events, days(7));
        assert_eq!(s.retention_minute, days(2));
        assert_eq!(s.retention_hour, days(400));
        assert_eq!(s.max_bytes, None);
        assert_eq!(s.describe()["max_size"], "none (no cap)");
    }

    fn store(env: &[(&str, &str)], max_size: Option<&str>) -> Result<StoreSettings, ConfigError> {
        let file = StoreFile {
            max_size: max_size.map(|v| super::super::file::Scalar::Text(v.to_owned())),
        };
        StoreSettings::from_env(&Env::from_pairs(env.iter().copied()), &file, Path::new("."))
    }

    #[test]
    fn the_size_cap_comes_from_sqlite_max_bytes_over_the_files_store_max_size() {
        let s = store(&[("SQLITE_MAX_BYTES", "2GB")], Some("500MiB")).unwrap();
        assert_eq!(s.max_bytes, Some(2_000_000_000));
        assert_eq!(s.describe()["max_size"], "2000000000 bytes (1.86 GiB)");
        let s = store(&[], Some("1.5 GiB")).unwrap();
        assert_eq!(s.max_bytes, Some(3 << 29));
        let s = store(&[("SQLITE_MAX_BYTES", "20000000")], None).unwrap();
        assert_eq!(s.max_bytes, Some(20_000_000));
    }

    #[test]
    fn a_malformed_or_too_small_size_cap_names_the_setting_and_what_is_expected() {
        for (env, file, setting, value) in [
            (
                vec![("SQLITE_MAX_BYTES", "lots")],
                None,
                "SQLITE_MAX_BYTES",
                "lots",
            ),
            (
                vec![("SQLITE_MAX_BYTES", "5MB")],
                None,
                "SQLITE_MAX_BYTES",
                "5MB",
            ),
            (vec![], Some("2 GX"), "store.max_size", "2 GX"),
            (vec![], Some("1MiB"), "store.max_size", "1MiB"),
        ] {
            let e = store(&env, file).unwrap_err();
            assert_eq!((e.setting.as_str(), e.value.as_str()), (setting, value));
            assert!(e.expected.starts_with("a size of at least 10 MiB"), "{e}");
        }
    }

    #[test]
    fn bad_values_name_the_setting_and_never_print_the_password() {
        let e =
            WebSettings::from_env(&Env::from_pairs([("WEB_AUTH_BASIC", "nocolon")])).unwrap_err();
        assert_eq!(e.setting, "WEB_AUTH_BASIC");
        assert!(!e.to_string().contains("nocolon"), "{e}");
        let w =
            WebSettings::from_env(&Env::from_pairs([("WEB_AUTH_BASIC", "ann:s3cret")])).unwrap();
        assert!(!format!("{w:?}").contains("s3cret"));
        assert_eq!(w.describe()["auth"], "basic ann:***");
        let e = WebSettings::from_env(&Env::from_pairs([("WEB_LISTEN", "localhost")])).unwrap_err();
        assert_eq!(e.setting, "WEB_LISTEN");
        let e = StoreSettings::from_env(
            &Env::from_pairs([("SQLITE_RETENTION_EVENTS_DAYS", "-1")]),
            &StoreFile::default(),
            Path::new("."),
        )
        .unwrap_err();
        assert_eq!(e.setting, "SQLITE_RETENTION_EVENTS_DAYS");
        assert_eq!(listen_addr(":9000").unwrap().to_string(), "127.0.0.1:9000");
    }

    fn load_file(ext: &str, text: &str) -> Result<super::super::Settings, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(format!("uptimer.{ext}"));
        std::fs::write(&path, text).unwrap();
        super::super::Settings::load(Some(&path), &Env::default(), &Default::default())
    }

    #[test]
    fn the_files_store_max_size_is_read_from_yaml_and_toml_and_the_environment_wins() {
        let s = load_file("yaml", "store:\n  max_size: 500MiB\n").unwrap();
        assert_eq!(s.store.max_bytes, Some(500 << 20));
        let s = load_file("toml", "[store]\nmax_size = \"1.5 GiB\"\n").unwrap();
        assert_eq!(s.store.max_bytes, Some(3 << 29));
        let s = load_file("yaml", "store:\n  max_size: 20000000\n").unwrap();
        assert_eq!(s.store.max_bytes, Some(20_000_000));
        let e = load_file("yaml", "store:\n  max_size: 2 GX\n").unwrap_err();
        assert_eq!(
            (e.setting.as_str(), e.value.as_str()),
            ("store.max_size", "2 GX")
        );
        let e = load_file("yaml", "store:\n  maxsize: 2GB\n").unwrap_err();
        assert!(e.expected.contains("maxsize"), "{e}");

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.yaml");
        std::fs::write(&path, "store:\n  max_size: 500MiB\n").unwrap();
        let env = Env::from_pairs([("SQLITE_MAX_BYTES", "2GB")]);
        let s = super::super::Settings::load(Some(&path), &env, &Default::default()).unwrap();
        assert_eq!(s.store.max_bytes, Some(2_000_000_000));
        assert_eq!(store(&[], None).unwrap().max_bytes, None);
    }
}
