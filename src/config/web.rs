//! Settings of the embedded store (`SQLITE_*`) and of the web server (`WEB_*`) behind
//! `uptimer serve`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{ConfigError, Env, Expected, Secret};

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
}

impl StoreSettings {
    pub fn with_path(path: PathBuf) -> Self {
        StoreSettings {
            path,
            retention_events: days(7),
            retention_minute: days(2),
            retention_hour: days(400),
        }
    }

    pub fn from_env(env: &Env, data_dir: &Path) -> Result<Self, ConfigError> {
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
}

impl Default for WebSettings {
    fn default() -> Self {
        WebSettings {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            auth: None,
            open_metrics: true,
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
        let s = StoreSettings::from_env(&env, Path::new("/d")).unwrap();
        assert_eq!(s.path, Path::new("/d/uptimer.sqlite3"));
        assert_eq!(s.retention_events, days(7));
        assert_eq!(s.retention_minute, days(2));
        assert_eq!(s.retention_hour, days(400));
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
            Path::new("."),
        )
        .unwrap_err();
        assert_eq!(e.setting, "SQLITE_RETENTION_EVENTS_DAYS");
        assert_eq!(listen_addr(":9000").unwrap().to_string(), "127.0.0.1:9000");
    }
}
