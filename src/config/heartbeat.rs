//! The dead-man's switch (`heartbeat:` in the config file, `HEARTBEAT_*` in the environment):
//! a URL the process calls every interval while its pipeline is healthy, so that a service
//! outside it (healthchecks.io, Cronitor, Uptime Kuma's push monitors) notices a monitor that
//! died. `crate::alerting::heartbeat` sends it; docs/alerting.md is the user's page.

use std::time::Duration;

use serde::Deserialize;
use url::Url;

use super::file::Scalar;
use super::{ConfigError, Env, from_env, from_file, parse};

/// `heartbeat:` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeartbeatFile {
    /// The URL to call (http:// or https://; `HEARTBEAT_URL` overrides it).
    pub url: String,
    /// Time between two calls: seconds or a duration such as `60s`, `5m`; at least 1 s
    /// (default 60 s).
    pub interval: Option<Scalar>,
    /// `GET` (default) or `POST` (with an empty body).
    pub method: Option<String>,
    /// How long one call may take: seconds or a duration, at most the interval (default 10 s,
    /// or the interval when it is shorter).
    pub timeout: Option<Scalar>,
}

/// The shortest interval taken: a beat per second is already more than any such service
/// wants.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// The interval when none is given.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);
/// The longest a call may take when no timeout is given (less when the interval is shorter).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// How the URL is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeartbeatMethod {
    Get,
    Post,
}

impl HeartbeatMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            HeartbeatMethod::Get => "GET",
            HeartbeatMethod::Post => "POST",
        }
    }

    fn parse(s: &str) -> Result<HeartbeatMethod, &'static str> {
        match s.trim().to_ascii_uppercase().as_str() {
            "GET" => Ok(HeartbeatMethod::Get),
            "POST" => Ok(HeartbeatMethod::Post),
            _ => Err("GET or POST"),
        }
    }
}

/// The URL called. Its secret is anywhere in it: a password, and a token in the path or the
/// query (healthchecks.io's `https://hc-ping.com/<uuid>`, Uptime Kuma's
/// `/api/push/<token>?status=up`). `Debug` and `Display` show only the scheme, the user, the
/// host and the port; [`HeartbeatUrl::expose`] is the only way to read the rest.
#[derive(Clone, PartialEq, Eq)]
pub struct HeartbeatUrl(Url);

impl HeartbeatUrl {
    /// The URL itself, for the one place that calls it.
    pub fn expose(&self) -> &Url {
        &self.0
    }

    /// What logs and `check-config` show: the password masked, a path or query as `/****`.
    pub fn masked(&self) -> String {
        let mut u = self.0.clone();
        let secret_path = !u.path().trim_matches('/').is_empty() || u.query().is_some();
        u.set_query(None);
        u.set_fragment(None);
        if secret_path {
            u.set_path("/****");
        }
        super::target::masked_url(&u)
    }
}

impl std::fmt::Debug for HeartbeatUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HeartbeatUrl({})", self.masked())
    }
}

impl std::fmt::Display for HeartbeatUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.masked())
    }
}

/// The dead-man's switch, when one is configured.
#[derive(Debug, Clone, PartialEq)]
pub struct HeartbeatSettings {
    pub url: HeartbeatUrl,
    /// Time between two calls (at least [`MIN_INTERVAL`]).
    pub interval: Duration,
    pub method: HeartbeatMethod,
    /// How long one call may take (at most the interval).
    pub timeout: Duration,
}

impl HeartbeatSettings {
    /// From the environment (`HEARTBEAT_URL`, `HEARTBEAT_INTERVAL`, `HEARTBEAT_METHOD`,
    /// `HEARTBEAT_TIMEOUT`) over the file's `heartbeat:`; `None` when neither gives a URL.
    /// Errors name the setting as the source that set it does.
    pub fn load(env: &Env, file: Option<&HeartbeatFile>) -> Result<Option<Self>, ConfigError> {
        let url = match (env.get("HEARTBEAT_URL"), file) {
            (Some(v), _) => super::alerting::http_url(v, "HEARTBEAT_URL")?,
            (None, Some(f)) => super::alerting::http_url(&f.url, "heartbeat.url")?,
            (None, None) => {
                // A setting without the URL would silently do nothing.
                let orphan = [
                    "HEARTBEAT_INTERVAL",
                    "HEARTBEAT_METHOD",
                    "HEARTBEAT_TIMEOUT",
                ]
                .into_iter()
                .find(|n| env.get(n).is_some());
                return match orphan {
                    Some(name) => Err(ConfigError::new(
                        "HEARTBEAT_URL",
                        "",
                        format!("the URL to call (set because {name} is)"),
                    )),
                    None => Ok(None),
                };
            }
        };
        let interval_of = |s: &str| {
            parse::seconds(s).ok().filter(|d| *d >= MIN_INTERVAL).ok_or(
                "a duration of at least 1s: seconds or a duration such as 30s, 5m (default 60s)",
            )
        };
        let interval = match from_env(env, "HEARTBEAT_INTERVAL", interval_of)? {
            Some(d) => d,
            None => from_file(
                file.and_then(|f| f.interval.as_ref()),
                "heartbeat.interval",
                interval_of,
            )?
            .unwrap_or(DEFAULT_INTERVAL),
        };
        let method = match from_env(env, "HEARTBEAT_METHOD", HeartbeatMethod::parse)? {
            Some(m) => m,
            None => from_file(
                file.and_then(|f| f.method.clone())
                    .map(Scalar::Text)
                    .as_ref(),
                "heartbeat.method",
                HeartbeatMethod::parse,
            )?
            .unwrap_or(HeartbeatMethod::Get),
        };
        let timeout_of = |s: &str| {
            parse::seconds(s)
                .ok()
                .filter(|d| *d <= interval)
                .ok_or_else(|| {
                    format!(
                        "a positive duration of at most the interval ({}s): seconds or a \
                         duration such as 500ms, 10s",
                        interval.as_secs_f64()
                    )
                })
        };
        let timeout = match from_env(env, "HEARTBEAT_TIMEOUT", timeout_of)? {
            Some(d) => d,
            None => from_file(
                file.and_then(|f| f.timeout.as_ref()),
                "heartbeat.timeout",
                timeout_of,
            )?
            .unwrap_or(DEFAULT_TIMEOUT.min(interval)),
        };
        Ok(Some(HeartbeatSettings {
            url: HeartbeatUrl(url),
            interval,
            method,
            timeout,
        }))
    }

    /// For `check-config`: the URL masked.
    pub fn describe(&self) -> serde_json::Value {
        serde_json::json!({
            "url": self.url.masked(),
            "interval": format!("{}s", self.interval.as_secs_f64()),
            "method": self.method.as_str(),
            "timeout": format!("{}s", self.timeout.as_secs_f64()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{load, load_file};
    use super::super::{Overrides, Settings};
    use super::*;

    fn heartbeat(yaml: &str) -> Result<Option<HeartbeatSettings>, ConfigError> {
        load_file("yaml", yaml).map(|s| s.heartbeat)
    }

    #[test]
    fn a_heartbeat_section_with_defaults() {
        let h = heartbeat("heartbeat: {url: 'https://hc-ping.com/5f1c'}\n")
            .unwrap()
            .unwrap();
        assert_eq!(h.url.expose().as_str(), "https://hc-ping.com/5f1c");
        assert_eq!(h.interval, Duration::from_secs(60));
        assert_eq!(h.method, HeartbeatMethod::Get);
        assert_eq!(h.timeout, Duration::from_secs(10));
        assert_eq!(heartbeat("{}\n").unwrap(), None, "off unless configured");
    }

    #[test]
    fn interval_method_and_timeout_from_the_file_in_yaml_and_toml() {
        let h = heartbeat(
            "heartbeat:\n  url: http://127.0.0.1:9/ping\n  interval: 5m\n  method: post\n  timeout: 2.5\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (h.interval, h.method, h.timeout),
            (
                Duration::from_secs(300),
                HeartbeatMethod::Post,
                Duration::from_millis(2500)
            )
        );
        let h = load_file(
            "toml",
            "[heartbeat]\nurl = \"https://example.org/beat\"\ninterval = 2\n",
        )
        .unwrap()
        .heartbeat
        .unwrap();
        assert_eq!(h.interval, Duration::from_secs(2));
        assert_eq!(h.timeout, Duration::from_secs(2), "at most the interval");
    }

    #[test]
    fn the_environment_overrides_the_file_and_works_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("uptimer.yaml");
        std::fs::write(
            &path,
            "heartbeat: {url: 'https://a.example/x', interval: 30s}\n",
        )
        .unwrap();
        let env = Env::from_pairs([
            ("HEARTBEAT_URL", "https://b.example/y"),
            ("HEARTBEAT_METHOD", "POST"),
        ]);
        let h = Settings::load(Some(&path), &env, &Overrides::default())
            .unwrap()
            .heartbeat
            .unwrap();
        assert_eq!(h.url.expose().as_str(), "https://b.example/y");
        assert_eq!(
            h.interval,
            Duration::from_secs(30),
            "the file's, not overridden"
        );
        assert_eq!(h.method, HeartbeatMethod::Post);
        let h = load(&[
            ("HEARTBEAT_URL", "http://127.0.0.1:8000/ping"),
            ("HEARTBEAT_INTERVAL", "1s"),
            ("HEARTBEAT_TIMEOUT", "500ms"),
        ])
        .unwrap()
        .heartbeat
        .unwrap();
        assert_eq!(
            (h.interval, h.timeout),
            (Duration::from_secs(1), Duration::from_millis(500))
        );
    }

    #[test]
    fn bad_values_are_one_line_naming_the_setting_and_the_value() {
        let cases: [(&str, &str, &str, &str); 6] = [
            (
                "heartbeat: {url: 'https://hc-ping.com/x', interval: 500ms}\n",
                "heartbeat.interval",
                "500ms",
                "at least 1s",
            ),
            (
                "heartbeat: {url: 'https://hc-ping.com/x', interval: often}\n",
                "heartbeat.interval",
                "often",
                "at least 1s",
            ),
            (
                "heartbeat: {url: 'https://hc-ping.com/x', method: PUT}\n",
                "heartbeat.method",
                "PUT",
                "GET or POST",
            ),
            (
                "heartbeat: {url: 'https://hc-ping.com/x', interval: 10s, timeout: 30s}\n",
                "heartbeat.timeout",
                "30s",
                "at most the interval (10s)",
            ),
            (
                "heartbeat: {url: 'ftp://example.org/beat'}\n",
                "heartbeat.url",
                "ftp://example.org/****",
                "an http:// or https:// URL",
            ),
            (
                "heartbeat: {url: 'not a url'}\n",
                "heartbeat.url",
                "****",
                "an http:// or https:// URL",
            ),
        ];
        for (yaml, setting, value, expected) in cases {
            let e = heartbeat(yaml).unwrap_err();
            assert_eq!(
                (e.setting.as_str(), e.value.as_str()),
                (setting, value),
                "{e}"
            );
            assert!(e.expected.contains(expected), "{e}");
        }
        let e = heartbeat("heartbeat: {interval: 60s}\n").unwrap_err();
        assert!(e.expected.contains("missing field `url`"), "{e}");
        let e = heartbeat("heartbeat: {url: 'https://a.example/', every: 5s}\n").unwrap_err();
        assert!(e.expected.contains("unknown field `every`"), "{e}");
        let e = load(&[("HEARTBEAT_INTERVAL", "30s")]).unwrap_err();
        assert_eq!(e.setting, "HEARTBEAT_URL");
        assert!(e.expected.contains("HEARTBEAT_INTERVAL"), "{e}");
        let e = load(&[
            ("HEARTBEAT_URL", "https://a.example/"),
            ("HEARTBEAT_INTERVAL", "0"),
        ])
        .unwrap_err();
        assert_eq!(e.to_string().split(':').next(), Some("HEARTBEAT_INTERVAL"));
    }

    #[test]
    fn a_gatus_file_may_carry_a_heartbeat() {
        let h = heartbeat(
            "endpoints:\n  - {name: a, url: 'https://example.org/', conditions: ['[STATUS] == 200']}\n\
             heartbeat: {url: 'https://hc-ping.com/x', interval: 2m}\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!(h.interval, Duration::from_secs(120));
    }

    #[test]
    fn the_url_never_prints_its_password_path_or_query() {
        let h = load(&[(
            "HEARTBEAT_URL",
            "https://user:hunter2@hc-ping.com:8443/5f1c-uuid/slug?create=1",
        )])
        .unwrap()
        .heartbeat
        .unwrap();
        let shown = format!("{} {:?} {}", h.url, h, h.describe());
        assert!(
            !shown.contains("hunter2") && !shown.contains("5f1c") && !shown.contains("create"),
            "{shown}"
        );
        assert_eq!(h.url.masked(), "https://user:***@hc-ping.com:8443/****");
        let plain = load(&[("HEARTBEAT_URL", "http://127.0.0.1:9/")])
            .unwrap()
            .heartbeat
            .unwrap();
        assert_eq!(plain.url.to_string(), "http://127.0.0.1:9/");
    }
}
