//! The config file (`--config`, YAML or TOML): what the environment cannot express, such as
//! per-target names, methods, headers and expected statuses. Unknown keys are errors.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::Expected;
use super::alerting;
use super::checks;
use super::heartbeat::HeartbeatFile;

/// A number of seconds, or for `interval` also -1; written as a number or a string.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
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
    /// A file of more targets, one URL or JSON target object per line (docs/targets.md,
    /// "Large target sets"); a relative path is relative to this file's directory.
    pub targets_file: Option<String>,
    /// Whether the API may add targets in link-local and cloud-metadata ranges (default false).
    pub allow_private_targets: Option<bool>,
    /// Whether a running `run` or `serve` watches this file and reloads it when it changes
    /// (default true; SIGHUP reloads either way).
    pub watch: Option<bool>,
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
    /// Address of the metrics listener (`/metrics`, `/healthz`, `/readyz`), e.g.
    /// `0.0.0.0:9090`; off when unset.
    pub metrics_listen: Option<String>,
    /// The embedded SQLite store (`uptimer serve`, writers.sqlite).
    #[serde(default)]
    pub store: StoreFile,
    /// Where alerts go: `{NAME: {type: slack, webhook_url: …}}` (docs/alerting.md).
    #[serde(default)]
    pub channels: BTreeMap<String, alerting::ChannelFile>,
    /// Alert rules for every target (a target's own rule for the same channel replaces one).
    #[serde(default)]
    pub alerts: Vec<alerting::RuleFile>,
    /// Alert rules for the targets with the tags of each entry's `match:`.
    #[serde(default)]
    pub alert_rules: Vec<alerting::TagRulesFile>,
    /// Maintenance windows: one (Gatus's form) or a list (docs/alerting.md).
    #[serde(default)]
    pub maintenance: super::maintenance::MaintenanceFile,
    /// Public status pages (docs/status-pages.md).
    #[serde(default)]
    pub status_pages: Vec<super::status_pages::PageFile>,
    /// Connectivity canaries: when a quorum of them fail, the monitor itself is offline.
    pub canaries: Option<super::storm::CanariesFile>,
    /// How long a failure waits for the result of a parent or canary checked later (default
    /// 30s).
    pub group_wait: Option<Scalar>,
    /// The dead-man's switch: `{url, interval, method, timeout}`, a URL called every interval
    /// while the pipeline is healthy (docs/alerting.md); off when unset.
    pub heartbeat: Option<HeartbeatFile>,
    /// A multi-location fleet: `{locations: [eu, us, ap], quorum, quorum_by_tag, round_grace,
    /// …}` (docs/fleet.md); off when unset.
    pub fleet: Option<super::fleet::FleetFile>,
}

/// `store:` — the embedded SQLite store.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreFile {
    /// The most the store may use (`2GB`, `500MiB`, `1.5 GiB`, or bytes; at least 10 MiB); the
    /// oldest data is pruned past it. No cap when unset (`SQLITE_MAX_BYTES` overrides it).
    pub max_size: Option<Scalar>,
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
    /// Body bytes read before a probe reports body_too_large, decoded when a regex reads the
    /// body (default 1 MiB).
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
    /// A stable id of the user's choosing; else one is made from the name and URL.
    pub id: Option<String>,
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
    /// Conditions (`[STATUS] == 200`, `[BODY].status == UP`; docs/conditions.md) that replace
    /// the default verdict (`expected_status`, `regex`): up when every one holds.
    #[serde(default)]
    pub conditions: Vec<String>,
    /// Conditions (`[RESPONSE_TIME] > 800`) that make an up target `degraded` when one holds.
    #[serde(default)]
    pub degraded_if: Vec<String>,
    /// `tcp://`, `tls://`, `starttls://`: blackbox_exporter's tcp module settings.
    pub tcp: Option<checks::TcpSection>,
    /// `icmp://`: blackbox_exporter's icmp module settings.
    pub icmp: Option<checks::IcmpSection>,
    /// A DNS check: blackbox_exporter's dns module settings; the url is the server to ask.
    pub dns: Option<checks::DnsSection>,
    /// `grpc://`, `grpcs://`: the service asked about and TLS settings.
    pub grpc: Option<checks::GrpcSection>,
    /// `udp://`: the datagram sent.
    pub body: Option<String>,
    /// `push://`: the push URL's token (generated when not given).
    pub token: Option<String>,
    /// `push://`: how late a push may be (default: one interval).
    pub grace: Option<Scalar>,
    /// Alert rules: `[{type: CHANNEL, failure-threshold: 3, …}]` (docs/alerting.md).
    #[serde(default)]
    pub alerts: Vec<alerting::RuleFile>,
    /// Targets (ids or names) this one depends on: while one is down, this target's
    /// notifications are held (docs/alerting.md, "Storm control").
    #[serde(default)]
    pub depends_on: Vec<String>,
}

/// The two formats a config file may be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Yaml,
    Toml,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Yaml => "YAML",
            Format::Toml => "TOML",
        }
    }

    fn other(self) -> Format {
        match self {
            Format::Yaml => Format::Toml,
            Format::Toml => Format::Yaml,
        }
    }

    /// What the file's name says: `.toml`, `.yaml` or `.yml`, else nothing.
    fn of(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "toml" => Some(Format::Toml),
            "yaml" | "yml" => Some(Format::Yaml),
            _ => None,
        }
    }

    /// Whether `text` is syntactically a document of this format with at least one key: a TOML
    /// file can be one long YAML string, so plain "it parses" is not enough.
    fn is_syntax_of(self, text: &str) -> bool {
        match self {
            Format::Yaml => matches!(
                serde_yaml_ng::from_str::<serde_yaml_ng::Value>(text),
                Ok(serde_yaml_ng::Value::Mapping(m)) if !m.is_empty()
            ),
            Format::Toml => toml::from_str::<toml::Table>(text).is_ok_and(|t| !t.is_empty()),
        }
    }

    /// The file's settings, or where and why they cannot be read.
    fn parse(self, text: &str) -> Result<FileConfig, Located> {
        match self {
            Format::Yaml => {
                if text.trim().is_empty() {
                    return Ok(FileConfig::default());
                }
                // On an error, whether the syntax or the settings are wrong deserve different
                // words (read apart only then: a file of a million targets is read once).
                serde_yaml_ng::from_str(text).map_err(|e| {
                    let syntax = serde_yaml_ng::from_str::<serde_yaml_ng::Value>(text).err();
                    let message = e.to_string();
                    // The message ends in " at line L column C"; the location says it better.
                    let message = message.split(" at line ").next().unwrap_or_default();
                    Located {
                        syntax: syntax.is_some(),
                        at: e.location().map(|l| (l.line(), l.column())),
                        message: message.to_owned(),
                    }
                })
            }
            Format::Toml => toml::from_str(text).map_err(|e| Located {
                syntax: toml::from_str::<toml::Table>(text).is_err(),
                at: e.span().map(|s| line_column(text, s.start)),
                message: e.message().trim().replace('\n', " "),
            }),
        }
    }
}

/// A parse error and where it is.
struct Located {
    syntax: bool,
    /// Line and column, from 1.
    at: Option<(usize, usize)>,
    message: String,
}

impl Located {
    /// Where and why: `line 3, column 5: unknown field …`.
    fn detail(&self) -> String {
        match self.at {
            Some((line, column)) => format!("line {line}, column {column}: {}", self.message),
            None => self.message.clone(),
        }
    }

    /// The "expected …" half of the error: the format, then line, column and the reason.
    fn expected(&self, format: Format) -> String {
        if self.syntax {
            format!("valid {} ({})", format.name(), self.detail())
        } else {
            format!(
                "{} with known settings of the right types ({})",
                format.name(),
                self.detail()
            )
        }
    }
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .unwrap_or_default()
        .chars()
        .count()
        + 1;
    (line, column)
}

/// Reads a config file: TOML when its name ends in `.toml`, YAML when in `.yaml` or `.yml`,
/// either otherwise. The error completes "expected …": it says which format, where and why,
/// and when a file is in the other format than its name says, that.
pub fn read(path: &Path) -> Result<FileConfig, Expected> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Expected::new(format!("a readable file ({e})")))?;
    let parsed = match Format::of(path) {
        Some(format) => format.parse(&text).map_err(|e| {
            let other = format.other();
            if other.is_syntax_of(&text) {
                let ext = other.name().to_ascii_lowercase();
                format!(
                    "{}, as its name says (the file is {}: rename it to .{ext})",
                    format.name(),
                    other.name()
                )
            } else {
                e.expected(format)
            }
        }),
        // No telling name: whichever format it is written in.
        None => {
            let guess = if Format::Toml.is_syntax_of(&text) {
                Format::Toml
            } else {
                Format::Yaml
            };
            guess.parse(&text).map_err(|e| {
                if e.syntax {
                    let toml = Format::Toml.parse(&text).err().map(|t| t.detail());
                    format!(
                        "valid YAML or TOML (as YAML: {}; as TOML: {}; a name ending in .yaml or .toml picks one)",
                        e.detail(),
                        toml.unwrap_or_default()
                    )
                } else {
                    e.expected(guess)
                }
            })
        }
    };
    parsed.map_err(Expected::new)
}
