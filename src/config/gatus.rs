//! Gatus configurations read as they are: a YAML file with `endpoints:` is a Gatus file. Its
//! endpoints become targets named `endpoints[i]` in errors; what uptimer cannot honour yet is
//! one warning per key (`gatus.yaml: endpoints[2].ssh: not supported yet, ignored`) rather
//! than the unknown-key error of our own files, so a Gatus file runs unchanged. The mapping is
//! documented in docs/gatus-and-blackbox.md.

use std::path::Path;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_yaml_ng::{Mapping, Value};

use super::checks::{CheckSections, DnsSection, IcmpSection};
use super::env_refs::{Piece, pieces};
use super::file::FileConfig;
use super::gatus_alerting::GatusAlerting;
use super::parse::{self, Interval, TlsVerify};
use super::target::{self, TargetSpec};
use super::target_list::Entry;
use super::{ConfigError, Env};
use crate::event::Kind;

/// Gatus's interval when an endpoint gives none (ours is 10 s).
pub const GATUS_DEFAULT_INTERVAL: Duration = Duration::from_secs(60);

/// Our own top-level keys, honoured in a Gatus file too (`writers:`, `probe:`, …).
const OUR_KEYS: &[&str] = &[
    "reader",
    "writers",
    "probe",
    "workers",
    "stdout_pretty",
    "event_format",
    "data_dir",
    "log_level",
    "metrics_listen",
    "store",
    "maintenance",
    "heartbeat",
    "fleet",
    "canaries",
    "group_wait",
    "status_pages",
];

/// Gatus's top-level keys besides `endpoints` (config/config.go), none honoured yet except
/// `concurrency`.
const GATUS_KEYS: &[&str] = &[
    "metrics",
    "storage",
    "alerting",
    "announcements",
    "external-endpoints",
    "suites",
    "security",
    "concurrency",
    "disable-monitoring-lock",
    "skip-invalid-config-update",
    "web",
    "ui",
    "remote",
    "connectivity",
    "tunneling",
    "debug",
];

/// A Gatus file read: our own settings it holds, its endpoints as target entries and a warning
/// for every key not honoured.
#[derive(Debug)]
pub(super) struct GatusFile {
    /// The file's own uptimer settings (`writers:`, `probe:` …); `targets` is always empty.
    pub file: FileConfig,
    /// One entry per enabled endpoint, labelled `endpoints[i]` with `i` the index in the file.
    pub entries: Vec<Entry>,
    /// One line per key not honoured, each starting with the file's name.
    pub warnings: Vec<String>,
}

/// Reads `path` as a Gatus file when it is one (YAML with a top-level `endpoints:`); `None`
/// when it is not, and the file is read as our own format. `env` is asked first for Gatus's
/// `$VAR` / `${VAR}` expansion, then the process environment.
pub(super) fn read(path: &Path, env: &Env) -> Result<Option<GatusFile>, ConfigError> {
    let config_error =
        |expected: String| ConfigError::new("--config", path.display().to_string(), expected);
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(None); // file::read says why in its own words.
    };
    if !is_gatus(&text) {
        return Ok(None);
    }
    let (text, unset) = expand_env(&text, |name| env.var(name));
    let root: Value = serde_yaml_ng::from_str(&text).map_err(|e| {
        config_error(format!(
            "valid YAML after Gatus's $VAR expansion (which Gatus files get) ({e})"
        ))
    })?;
    let Value::Mapping(root) = root else {
        return Err(config_error("a mapping with endpoints:".into()));
    };
    let mut out = Reader {
        alerting: GatusAlerting::default(),
        file: path.display().to_string(),
        warnings: unset
            .into_iter()
            .map(|name| {
                format!(
                    "{}: ${name} is not set: it is expanded to an empty string, as Gatus does",
                    path.display()
                )
            })
            .collect(),
    };
    let mut ours = Mapping::new();
    let mut endpoints = None;
    let mut concurrency = None;
    for (key, value) in root {
        let Some(name) = key.as_str().map(str::to_owned) else {
            out.warn(&format!("{key:?}"), "not a key uptimer knows, ignored");
            continue;
        };
        match name.as_str() {
            "endpoints" => endpoints = Some(value),
            "targets" => {
                return Err(ConfigError::new(
                    "targets",
                    path.display().to_string(),
                    "either endpoints: (a Gatus file) or targets: (uptimer's own), not both in \
                     one file: move the targets into endpoints: or into a file of their own",
                ));
            }
            "concurrency" => concurrency = Some(value),
            "alerting" => out.alerting = GatusAlerting::read(value)?,
            n if OUR_KEYS.contains(&n) => {
                ours.insert(Value::String(name), value);
            }
            n if GATUS_KEYS.contains(&n) => {
                if !is_default_false(&value) {
                    out.warn(n, "not supported yet, ignored");
                }
            }
            n => out.warn(n, "not a Gatus or uptimer setting, ignored"),
        }
    }
    let mut file: FileConfig = serde_yaml_ng::from_value(Value::Mapping(ours))
        .map_err(|e| config_error(format!("uptimer settings of the right types ({e})")))?;
    if let Some(c) = concurrency {
        out.concurrency(c, &mut file)?;
    }
    let list: Vec<Value> = match endpoints {
        Some(Value::Sequence(list)) => list,
        Some(Value::Null) | None => Vec::new(),
        Some(other) => {
            return Err(ConfigError::new(
                "endpoints",
                short(&other),
                "a list of endpoints",
            ));
        }
    };
    let mut entries = Vec::with_capacity(list.len());
    for (i, endpoint) in list.into_iter().enumerate() {
        if let Some(spec) = out.endpoint(i, endpoint)? {
            entries.push(Entry::file(format!("endpoints[{i}]"), spec));
        }
    }
    file.channels = std::mem::take(&mut out.alerting.channels);
    for (key, why) in std::mem::take(&mut out.alerting.warnings) {
        out.warn(&key, &why);
    }
    Ok(Some(GatusFile {
        file,
        entries,
        warnings: out.warnings,
    }))
}

/// Whether a file is a Gatus file: YAML whose top level has `endpoints:`.
pub fn is_gatus(text: &str) -> bool {
    // Parsed only when the word is there at all: a file of a million targets is read once.
    text.contains("endpoints")
        && matches!(
            serde_yaml_ng::from_str::<Value>(text),
            Ok(Value::Mapping(m)) if m.contains_key("endpoints")
        )
}

/// Gatus's expansion of environment variables in the whole file before it is parsed
/// (config/config.go: `$$` is a literal `$`, then Go's `os.Expand`): `${NAME}` and `$NAME`
/// become the variable's value, or nothing when it is unset. Returns the text and the names
/// that were unset, once each, in order. The scanner is the one of `${NAME}` references
/// (`super::env_refs`), which are strict where this is lenient.
pub fn expand_env(text: &str, lookup: impl Fn(&str) -> Option<String>) -> (String, Vec<String>) {
    let mut out = String::with_capacity(text.len());
    let mut unset: Vec<String> = Vec::new();
    for piece in pieces(text) {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Dollar => out.push('$'),
            Piece::Ref { name, .. } => match lookup(name) {
                Some(v) => out.push_str(&v),
                None => {
                    if !unset.iter().any(|u| u == name) {
                        unset.push(name.to_owned());
                    }
                }
            },
            // Go eats the bad syntax `${` and `${}`.
            Piece::Bad(_) => {}
        }
    }
    (out, unset)
}

/// `false`, a Gatus boolean's default: setting it changes nothing, so ignoring it loses nothing.
fn is_default_false(v: &Value) -> bool {
    matches!(v, Value::Bool(false))
}

/// A value as it would be written, cut short, for error messages.
fn short(v: &Value) -> String {
    let text = match v {
        Value::String(s) => s.clone(),
        other => serde_yaml_ng::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_owned(),
    };
    text.chars().take(80).collect()
}

/// Reading state: the file's name and the warnings so far.
struct Reader {
    file: String,
    warnings: Vec<String>,
    /// `alerting:`: the channels, and the providers' default alerts for the endpoints.
    alerting: GatusAlerting,
}

impl Reader {
    fn warn(&mut self, key: &str, why: &str) {
        self.warnings.push(format!("{}: {key}: {why}", self.file));
    }

    /// Gatus's `concurrency`: endpoints probed at once; ours unless `probe.concurrency` is set.
    fn concurrency(&mut self, v: Value, file: &mut FileConfig) -> Result<(), ConfigError> {
        let n = v.as_u64().ok_or_else(|| {
            ConfigError::new(
                "concurrency",
                short(&v),
                "a number of endpoints (0: unlimited)",
            )
        })?;
        if n == 0 {
            self.warn(
                "concurrency",
                "0 (unlimited) is not supported, uptimer's default (512) applies",
            );
        } else if file.probe.concurrency.is_none() {
            file.probe.concurrency = Some(u32::try_from(n).unwrap_or(u32::MAX));
        }
        Ok(())
    }

    /// One endpoint as a target spec; `None` when it is disabled (`enabled: false`).
    fn endpoint(&mut self, i: usize, endpoint: Value) -> Result<Option<TargetSpec>, ConfigError> {
        let at = format!("endpoints[{i}]");
        let Value::Mapping(map) = endpoint else {
            return Err(ConfigError::new(
                at,
                short(&endpoint),
                "an endpoint (a mapping)",
            ));
        };
        let mut e = Endpoint::default();
        for (key, value) in map {
            let Some(key) = key.as_str().map(str::to_owned) else {
                self.warn(
                    &format!("{at}.{key:?}"),
                    "not a Gatus endpoint key, ignored",
                );
                continue;
            };
            let setting = format!("{at}.{key}");
            match key.as_str() {
                "enabled" => e.enabled = typed(&setting, value, "true or false")?,
                "name" => e.name = scalar(&setting, &value, "a name")?,
                "group" => e.group = scalar(&setting, &value, "a group name")?,
                "url" => e.url = scalar(&setting, &value, "a URL")?,
                "method" => e.method = scalar(&setting, &value, "an HTTP method")?,
                "headers" => e.headers = headers(&setting, value)?,
                "body" => e.body = scalar(&setting, &value, "a request body")?,
                "interval" => e.interval = Some(text(&setting, &value)?),
                "conditions" => {
                    e.conditions = typed::<Vec<String>>(&setting, value, "a list of conditions")?
                        .unwrap_or_default();
                }
                "dns" => e.dns = typed(&setting, value, "query-name and query-type")?,
                "client" => self.client(&setting, value, &mut e)?,
                "ui" => self.ui(&setting, value),
                "graphql" if is_default_false(&value) => {}
                "alerts" => e.alerts = self.alerting.rules(&setting, value)?,
                "maintenance-windows"
                | "extra-labels"
                | "ssh"
                | "graphql"
                | "always-run"
                | "store" => self.warn(&setting, "not supported yet, ignored"),
                _ => self.warn(&setting, "not a Gatus endpoint key, ignored"),
            }
        }
        if e.enabled == Some(false) {
            return Ok(None);
        }
        self.spec(&at, e).map(Some)
    }

    /// `client:` — `insecure` and `timeout` honoured, `network` for ICMP, the rest warned.
    fn client(&mut self, at: &str, value: Value, e: &mut Endpoint) -> Result<(), ConfigError> {
        let Value::Mapping(map) = value else {
            if !value.is_null() {
                self.warn(at, "not a mapping, ignored");
            }
            return Ok(());
        };
        for (key, value) in map {
            let key = key
                .as_str()
                .map_or_else(|| format!("{key:?}"), str::to_owned);
            let setting = format!("{at}.{key}");
            match key.as_str() {
                "insecure" => e.insecure = typed(&setting, value, "true or false")?,
                "timeout" => e.timeout = Some(text(&setting, &value)?),
                "network" => e.network = typed(&setting, value, "ip, ip4 or ip6")?,
                "ignore-redirect" | "store-cookies" if is_default_false(&value) => {}
                "ignore-redirect" => self.warn(
                    &setting,
                    "not supported yet, ignored (redirects are followed up to \
                     probe.max_redirects; 0 follows none, for every target)",
                ),
                _ => self.warn(&setting, "not supported yet, ignored"),
            }
        }
        Ok(())
    }

    /// `ui:` — only what the dashboard shows; every `hide-*` set is warned (the dashboard
    /// shows URLs with the password masked, and never the conditions' secrets).
    fn ui(&mut self, at: &str, value: Value) {
        let Value::Mapping(map) = value else {
            if !value.is_null() {
                self.warn(at, "not a mapping, ignored");
            }
            return;
        };
        for (key, value) in map {
            let key = key
                .as_str()
                .map_or_else(|| format!("{key:?}"), str::to_owned);
            if !is_default_false(&value) {
                self.warn(&format!("{at}.{key}"), "not supported yet, ignored");
            }
        }
    }

    /// The target spec of an endpoint, with what its kind cannot use warned and left out.
    fn spec(&mut self, at: &str, e: Endpoint) -> Result<TargetSpec, ConfigError> {
        let url = e.url.unwrap_or_default();
        // The kind decides what applies; a URL that is no target is the build's error.
        let kind = target::check_url(&url, e.dns.is_some())
            .ok()
            .map(|(_, k)| k);
        let http = kind.is_none_or(Kind::is_http);
        let (mut method, mut headers) = (e.method, e.headers);
        if !http && (method.is_some() || !headers.is_empty()) {
            for (key, given) in [
                ("method", method.is_some()),
                ("headers", !headers.is_empty()),
            ] {
                if given {
                    self.warn(
                        &format!("{at}.{key}"),
                        "only for HTTP endpoints, ignored (as Gatus does)",
                    );
                }
            }
            method = None;
            headers.clear();
        }
        let mut body = None;
        match (e.body.filter(|b| !b.is_empty()), kind) {
            (None, _) => {}
            (Some(b), Some(Kind::Udp)) => body = Some(b),
            (Some(_), Some(Kind::Tcp | Kind::Tls)) => self.warn(
                &format!("{at}.body"),
                "not supported yet, ignored (write the dialog as tcp.query_response steps in an \
                 uptimer file)",
            ),
            (Some(_), _) => self.warn(
                &format!("{at}.body"),
                "not supported yet, ignored (uptimer sends no request body yet)",
            ),
        }
        let mut icmp = None;
        match (e.network.as_deref().map(str::trim), kind) {
            (None | Some("ip" | ""), _) => {}
            (Some(n @ ("ip4" | "ip6")), Some(Kind::Icmp)) => {
                icmp = Some(IcmpSection {
                    preferred_ip_protocol: Some(n.to_owned()),
                    ip_protocol_fallback: Some(false),
                    ..Default::default()
                });
            }
            (Some("ip4" | "ip6"), _) => self.warn(
                &format!("{at}.client.network"),
                "only for ICMP endpoints, ignored (as Gatus does)",
            ),
            (Some(n), _) => {
                return Err(ConfigError::new(
                    format!("{at}.client.network"),
                    n,
                    "ip, ip4 or ip6",
                ));
            }
        }
        let interval = match &e.interval {
            Some(raw) => parse::interval(raw)
                .map_err(|x| ConfigError::new(format!("{at}.interval"), raw, x))?,
            None => Interval::Every(GATUS_DEFAULT_INTERVAL),
        };
        let timeout = match &e.timeout {
            Some(raw) => Some(
                parse::seconds(raw)
                    .map_err(|x| ConfigError::new(format!("{at}.client.timeout"), raw, x))?,
            ),
            None => None,
        };
        Ok(TargetSpec {
            name: e.name.filter(|n| !n.trim().is_empty()),
            url,
            method,
            headers,
            interval: Some(interval),
            timeout,
            tls_verify: (e.insecure == Some(true)).then_some(TlsVerify::No),
            tags: e
                .group
                .filter(|g| !g.trim().is_empty())
                .into_iter()
                .collect(),
            conditions: e.conditions,
            check: CheckSections {
                dns: e.dns,
                icmp,
                body,
                ..Default::default()
            },
            alerts: super::alerting::rules_of(&e.alerts, &format!("{at}.alerts"))?,
            ..Default::default()
        })
    }
}

/// An endpoint's keys that uptimer honours, as written.
#[derive(Debug, Default)]
struct Endpoint {
    enabled: Option<bool>,
    name: Option<String>,
    group: Option<String>,
    url: Option<String>,
    method: Option<String>,
    headers: Vec<(String, String)>,
    body: Option<String>,
    interval: Option<String>,
    conditions: Vec<String>,
    dns: Option<DnsSection>,
    insecure: Option<bool>,
    timeout: Option<String>,
    network: Option<String>,
    alerts: Vec<super::alerting::RuleFile>,
}

/// A value of the expected type, or an error naming the setting.
fn typed<T: DeserializeOwned>(
    setting: &str,
    value: Value,
    expected: &str,
) -> Result<Option<T>, ConfigError> {
    if value.is_null() {
        return Ok(None);
    }
    let shown = short(&value);
    serde_yaml_ng::from_value(value)
        .map(Some)
        .map_err(|e| ConfigError::new(setting, shown, format!("{expected} ({e})")))
}

/// A string, or a number or boolean read as its text, as Go's YAML decoder reads a scalar into
/// a string field (`name: 2024`, `X-Retries: 3`).
fn scalar(setting: &str, value: &Value, expected: &str) -> Result<Option<String>, ConfigError> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::Bool(b) => Ok(Some(b.to_string())),
        other => Err(ConfigError::new(setting, short(other), expected)),
    }
}

/// `headers:`, a mapping of names to scalar values, in the file's order.
fn headers(setting: &str, value: Value) -> Result<Vec<(String, String)>, ConfigError> {
    let map = match value {
        Value::Null => return Ok(Vec::new()),
        Value::Mapping(m) => m,
        other => {
            return Err(ConfigError::new(
                setting,
                short(&other),
                "a mapping of header names to values",
            ));
        }
    };
    map.into_iter()
        .map(|(k, v)| {
            let name = scalar(setting, &k, "a header name")?.unwrap_or_default();
            let value = scalar(&format!("{setting}.{name}"), &v, "a header value")?;
            Ok((name, value.unwrap_or_default()))
        })
        .collect()
}

/// A scalar as text (`5m`, `30`), for the duration parsers.
fn text(setting: &str, value: &Value) -> Result<String, ConfigError> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(ConfigError::new(
            setting,
            short(other),
            "a duration such as 30s, 5m or 1h",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(text: &str) -> (String, Vec<String>) {
        expand_env(text, |name| match name {
            "DOMAIN" => Some("example.org".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        })
    }

    #[test]
    fn env_expansion_follows_gatus_and_go() {
        assert_eq!(
            expand("url: https://${DOMAIN}/h and $DOMAIN.x").0,
            "url: https://example.org/h and example.org.x"
        );
        assert_eq!(expand("price: $$5 and $$DOMAIN").0, "price: $5 and $DOMAIN");
        assert_eq!(
            expand("a: $MISSING b: ${MISSING} c: $OTHER"),
            ("a:  b:  c: ".into(), vec!["MISSING".into(), "OTHER".into()])
        );
        // A `$` before no name is kept; `${` and `${}` are eaten, as Go does.
        assert_eq!(expand("a $ b $. c$").0, "a $ b $. c$");
        assert_eq!(expand("x${}y ${oops").0, "xy oops");
        assert_eq!(expand("é${DOMAIN}é").0, "éexample.orgé");
    }

    #[test]
    fn only_yaml_with_endpoints_is_a_gatus_file() {
        assert!(is_gatus("endpoints:\n  - name: a\n"));
        assert!(!is_gatus("targets:\n  - url: http://a/\n"));
        assert!(!is_gatus("[probe]\ninterval = 5\n"));
        assert!(!is_gatus("- endpoints\n"));
    }
}
