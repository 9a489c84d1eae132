//! The config file (`--config`, YAML or TOML): what the environment cannot express, such as
//! per-target names, methods, headers and expected statuses. Unknown keys are errors.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

/// A number of seconds, or for `interval` also -1; written as a number or a string.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Scalar {
    Bool(bool),
    Number(f64),
    Text(String),
}

impl std::fmt::Display for Scalar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scalar::Bool(b) => write!(f, "{b}"),
            Scalar::Number(n) => write!(f, "{n}"),
            Scalar::Text(s) => f.write_str(s),
        }
    }
}

/// One entry of `expected_status`: a code or a string such as "2xx" or "200-299".
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Status {
    Code(u16),
    Text(String),
}

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Reader plugin name (default `readers.probes.http`).
    pub reader: Option<String>,
    /// Writer plugin names (default `[writers.stdout]`).
    pub writers: Option<Vec<String>>,
    /// Defaults for every target.
    #[serde(default)]
    pub probe: ProbeDefaults,
    /// The targets.
    #[serde(default)]
    pub targets: Vec<FileTarget>,
    /// Static sharding across several probers.
    pub workers: Option<Workers>,
    /// Write indented JSON instead of JSON lines (writers.stdout).
    pub stdout_pretty: Option<bool>,
    /// `current` (default) or `original` (probe events with exactly the original's fields).
    pub event_format: Option<String>,
    /// Where local state lives (default `./data`).
    pub data_dir: Option<String>,
    /// Log filter (default `info`).
    pub log_level: Option<String>,
}

/// `probe:` — defaults for every target and the prober's limits.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeDefaults {
    /// Seconds between probes of a target, or -1 to probe once (default 10).
    pub interval: Option<Scalar>,
    /// Seconds before a probe is abandoned (default 10).
    pub timeout: Option<Scalar>,
    /// true, false, or a CA bundle file or directory (default true).
    pub tls_verify: Option<Scalar>,
    /// Redirects followed before giving up (default 10; 0 = do not follow).
    pub max_redirects: Option<u32>,
    /// Body bytes read before a probe reports body_too_large (default 1 MiB).
    pub max_body_bytes: Option<u64>,
    /// Probes in flight at once across all targets (default 512).
    pub concurrency: Option<u32>,
    /// Where this prober runs, copied into every event.
    pub location: Option<String>,
    /// DNS servers (ip or ip:port) instead of /etc/resolv.conf.
    pub dns_servers: Option<Vec<String>>,
}

/// `workers:` — static sharding.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workers {
    pub total: u64,
    /// An integer or a hostname ending in one.
    pub index: Scalar,
}

/// One entry of `targets:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileTarget {
    pub url: String,
    pub name: Option<String>,
    pub method: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub expected_status: Vec<Status>,
    pub regex: Option<String>,
    pub interval: Option<Scalar>,
    pub timeout: Option<Scalar>,
    pub tls_verify: Option<Scalar>,
    #[serde(default)]
    pub tags: Vec<String>,
}

/// Reads a config file; TOML when it ends in `.toml`, YAML otherwise.
pub fn read(path: &Path) -> Result<FileConfig, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
    let is_toml = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("toml"));
    if is_toml {
        toml::from_str(&text).map_err(|e| e.to_string().trim().replace('\n', " "))
    } else if text.trim().is_empty() {
        Ok(FileConfig::default())
    } else {
        serde_yaml_ng::from_str(&text).map_err(|e| e.to_string())
    }
}
