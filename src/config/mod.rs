//! Settings: built-in defaults, then the config file, then `configuration.env`, then the
//! environment, then command-line flags (later wins). Every original variable keeps its name
//! and meaning; a bad value stops startup with one line naming the setting, the value and what
//! was expected.

pub mod alerting;
pub mod checks;
mod env;
pub mod env_refs;
pub mod file;
pub mod fleet;
mod gatus;
mod gatus_alerting;
pub mod heartbeat;
mod kafka;
pub mod maintenance;
pub mod parse;
pub mod plugins;
mod postgres;
pub mod status_pages;
pub mod storm;
pub mod target;
mod target_list;
pub mod targets_file;
mod web;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use crate::event::EventFormat;
pub use crate::kafka::KafkaSettings;
pub use crate::postgres::{DatabaseUrl, PostgresSettings};
pub use crate::secret::Secret;
pub use checks::Check;
pub use env::{Env, EnvFileError};
pub use fleet::FleetSettings;
pub use heartbeat::HeartbeatSettings;
pub use parse::{Expected, Interval, TlsVerify, human_bytes};
pub use plugins::{ReaderPlugin, WriterPlugin};
pub use target::{Source, StatusRange, Target, TargetDefaults, TargetSpec};
pub use target_list::api_target;
pub use web::{MIN_MAX_BYTES, StoreSettings, WebAuth, WebSettings, listen_addr};

/// A setting that has a bad value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{setting}: expected {expected}, got {value:?}")]
pub struct ConfigError {
    pub setting: String,
    pub value: String,
    pub expected: String,
}

impl ConfigError {
    pub fn new(
        setting: impl Into<String>,
        value: impl Into<String>,
        expected: impl Into<String>,
    ) -> Self {
        ConfigError {
            setting: setting.into(),
            value: value.into(),
            expected: expected.into(),
        }
    }
}

/// The prober's own limits.
#[derive(Debug, Clone)]
pub struct ProbeSettings {
    pub max_redirects: u32,
    pub max_body_bytes: u64,
    pub concurrency: usize,
    pub location: Option<String>,
    /// Name servers to ask instead of the system's.
    pub dns_servers: Vec<SocketAddr>,
}

impl Default for ProbeSettings {
    fn default() -> Self {
        ProbeSettings {
            max_redirects: 10,
            max_body_bytes: 1024 * 1024,
            concurrency: 512,
            location: None,
            dns_servers: Vec::new(),
        }
    }
}

/// Static sharding: this worker takes every `total`-th target of `PROBE_URLS` starting at
/// `index`, and the targets of files and the API whose `fnv1a64(id) mod total` is `index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sharding {
    pub total: u64,
    pub index: u64,
}

impl Sharding {
    /// Whether this worker probes the target with `id` (of a file or the API).
    pub fn takes(&self, id: &str) -> bool {
        target::fnv1a64(id.bytes()) % self.total == self.index
    }
}

/// The effective configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub reader: ReaderPlugin,
    pub writers: Vec<WriterPlugin>,
    /// Whether `WRITER_PLUGIN` or the file's `writers:` chose the writers; `uptimer serve`
    /// writes to writers.sqlite when they did not.
    pub writers_chosen: bool,
    /// The targets this worker probes (after sharding).
    pub targets: Vec<Target>,
    /// How many targets were configured before sharding.
    pub targets_configured: usize,
    /// The targets file whose targets were read (`--targets-file`, or the config file's
    /// `targets_file:` resolved against the config file's directory): reloaded and watched
    /// with the config file.
    pub targets_file: Option<PathBuf>,
    /// Whether the config file is watched for changes (`watch:`, default true).
    pub watch: bool,
    /// Whether the API may add targets in link-local and cloud-metadata ranges
    /// (`allow_private_targets:`, `ALLOW_PRIVATE_TARGETS`; default false).
    pub allow_private_targets: bool,
    pub defaults: TargetDefaults,
    pub probe: ProbeSettings,
    pub sharding: Option<Sharding>,
    pub stdout_pretty: bool,
    pub event_format: EventFormat,
    pub data_dir: PathBuf,
    pub log_level: String,
    /// Kafka clients (`KAFKA_*`), checked when a Kafka plugin is used.
    pub kafka: KafkaSettings,
    /// writers.postgres and `uptimer migrate` (`DATABASE_URL`, `POSTGRES_*`, `RETENTION_DAYS`).
    pub postgres: PostgresSettings,
    /// The embedded SQLite store (`SQLITE_*`).
    pub store: StoreSettings,
    /// The web server of `uptimer serve` (`WEB_*`).
    pub web: WebSettings,
    /// `status_pages:`: the public status pages `serve` serves.
    pub status_pages: Vec<status_pages::StatusPage>,
    /// `/metrics`, `/healthz` and `/readyz` on their own listener, in every mode
    /// (`METRICS_LISTEN` or the file's `metrics_listen`; off when unset).
    pub metrics_listen: Option<SocketAddr>,
    /// The dead-man's switch (`heartbeat:`, `HEARTBEAT_*`): off when no URL is given.
    pub heartbeat: Option<HeartbeatSettings>,
    /// A multi-location fleet (`fleet:`, `FLEET_*`): off when no locations are given.
    pub fleet: Option<FleetSettings>,
    /// `SHUTDOWN_TIMEOUT` (alias `POSTGRES_SHUTDOWN_TIMEOUT`): seconds a shutdown may take to
    /// make what was read durable; after it, retries stop and what is not durable is not
    /// acknowledged (a prober's batches in flight are spooled). Default 10.
    pub shutdown_timeout: Duration,
    /// Alert channels (`channels:`); the rules are on the targets' profiles.
    pub alerting: alerting::Alerting,
    /// Things worth a warning at startup (e.g. `QUEUE_PLUGIN` is unused).
    pub warnings: Vec<String>,
}

/// Overrides from command-line flags, applied last.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub urls: Vec<String>,
    pub regex: Option<String>,
    pub timeout: Option<Duration>,
    pub interval: Option<Interval>,
    pub tls_verify: Option<TlsVerify>,
    /// `--condition`: conditions for every target (replacing the file's).
    pub conditions: Vec<String>,
    /// `--degraded-if`: degraded_if conditions for every target (replacing the file's).
    pub degraded_if: Vec<String>,
    /// `--targets-file`: a targets file read instead of the config file's `targets_file:`.
    pub targets_file: Option<PathBuf>,
    /// `uptimer publish`: `${NAME}` references in target URLs stand for a placeholder while
    /// the targets are checked (each prober resolves them from its own environment).
    pub url_placeholders: bool,
}

fn from_env<T, E: Into<String>>(
    env: &Env,
    name: &str,
    parse: impl Fn(&str) -> Result<T, E>,
) -> Result<Option<T>, ConfigError> {
    env.get(name)
        .map(|v| parse(v).map_err(|e| ConfigError::new(name, v, e)))
        .transpose()
}

fn from_file<T, E: Into<String>>(
    value: Option<&file::Scalar>,
    name: &str,
    parse: impl Fn(&str) -> Result<T, E>,
) -> Result<Option<T>, ConfigError> {
    value
        .map(|v| {
            let s = v.to_string();
            parse(&s).map_err(|e| ConfigError::new(name, s, e))
        })
        .transpose()
}

fn u64_setting(max: u64) -> impl Fn(&str) -> Result<u64, Expected> {
    move |s| parse::integer(s, 0, max)
}

fn dns_server(s: &str) -> Result<SocketAddr, Expected> {
    let s = s.trim();
    s.parse::<SocketAddr>()
        .or_else(|_| {
            s.parse::<std::net::IpAddr>()
                .map(|ip| SocketAddr::new(ip, 53))
        })
        .map_err(|_| {
            Expected::from("an IP address with an optional port (127.0.0.1:5353, [::1]:53)")
        })
}

impl Settings {
    /// Loads the effective settings from a config file (optional), the environment and flags.
    pub fn load(
        config_file: Option<&Path>,
        env: &Env,
        flags: &Overrides,
    ) -> Result<Settings, ConfigError> {
        let mut warnings = Vec::new();
        // A Gatus file (one with `endpoints:`) is read as it is: what it cannot honour is a
        // warning each, not an error.
        let gatus = match config_file {
            Some(p) => gatus::read(p, env)?,
            None => None,
        };
        let from_gatus = gatus.is_some();
        let (mut fc, gatus_entries) = match (gatus, config_file) {
            (Some(g), _) => {
                warnings.extend(g.warnings);
                (g.file, g.entries)
            }
            (None, Some(p)) => (
                file::read(p)
                    .map_err(|e| ConfigError::new("--config", p.display().to_string(), e))?,
                Vec::new(),
            ),
            (None, None) => (file::FileConfig::default(), Vec::new()),
        };

        let reader = match (env.get("READER_PLUGIN"), &fc.reader) {
            (Some(v), _) => {
                plugins::reader(v).map_err(|e| ConfigError::new("READER_PLUGIN", v, e))?
            }
            (None, Some(v)) => plugins::reader(v).map_err(|e| ConfigError::new("reader", v, e))?,
            (None, None) => ReaderPlugin::HttpProbe,
        };
        // `uptimer serve` writes to writers.sqlite unless the user chose the writers.
        let writers_chosen = env.get("WRITER_PLUGIN").is_some() || fc.writers.is_some();
        let writers = match (env.get("WRITER_PLUGIN"), &fc.writers) {
            (Some(v), _) => {
                plugins::writers(v).map_err(|e| ConfigError::new("WRITER_PLUGIN", v, e))?
            }
            (None, Some(list)) => file_writers(list)?,
            (None, None) => vec![WriterPlugin::Stdout],
        };
        if let Some(q) = env.get("QUEUE_PLUGIN") {
            warnings.push(format!(
                "QUEUE_PLUGIN={q} is ignored: the original never used it; events flow through a bounded in-process queue"
            ));
        }

        // Defaults for every target: built-in, file, environment, flags.
        let mut defaults = TargetDefaults {
            interval: Interval::Every(Duration::from_secs(10)),
            timeout: Duration::from_secs(10),
            tls_verify: TlsVerify::Yes,
        };
        let p = &fc.probe;
        if let Some(v) = from_file(p.interval.as_ref(), "probe.interval", parse::interval)? {
            defaults.interval = v;
        }
        if let Some(v) = from_file(p.timeout.as_ref(), "probe.timeout", parse::seconds)? {
            defaults.timeout = v;
        }
        if let Some(v) = from_file(p.tls_verify.as_ref(), "probe.tls_verify", parse::tls_verify)? {
            defaults.tls_verify = v;
        }
        if let Some(v) = from_env(env, "PROBE_INTERVAL", parse::interval)? {
            defaults.interval = v;
        }
        if let Some(v) = from_env(env, "PROBE_TIMEOUT", parse::seconds)? {
            defaults.timeout = v;
        }
        if let Some(v) = from_env(env, "PROBE_TLS_VERIFY", parse::tls_verify)? {
            defaults.tls_verify = v;
        }
        defaults.interval = flags.interval.unwrap_or(defaults.interval);
        defaults.timeout = flags.timeout.unwrap_or(defaults.timeout);
        if let Some(v) = &flags.tls_verify {
            defaults.tls_verify = v.clone();
        }

        let mut probe = ProbeSettings {
            max_redirects: p.max_redirects.unwrap_or(10),
            max_body_bytes: p.max_body_bytes.unwrap_or(1024 * 1024),
            concurrency: p.concurrency.map_or(512, |c| c as usize),
            location: p.location.clone(),
            dns_servers: p
                .dns_servers
                .iter()
                .flatten()
                .map(|s| dns_server(s).map_err(|e| ConfigError::new("probe.dns_servers", s, e)))
                .collect::<Result<_, _>>()?,
        };
        if probe.concurrency == 0 {
            return Err(ConfigError::new(
                "probe.concurrency",
                "0",
                "an integer from 1 to 1000000",
            ));
        }
        if let Some(v) = from_env(env, "PROBE_MAX_REDIRECTS", u64_setting(100))? {
            probe.max_redirects = v as u32;
        }
        if let Some(v) = from_env(env, "PROBE_MAX_BODY_BYTES", |s| {
            parse::integer(s, 1, 1 << 40)
        })? {
            probe.max_body_bytes = v;
        }
        if let Some(v) = from_env(env, "PROBE_CONCURRENCY", |s| {
            parse::integer(s, 1, 1_000_000)
        })? {
            probe.concurrency = v as usize;
        }
        if let Some(v) = env.get("LOCATION") {
            probe.location = Some(v.trim().to_owned());
        }
        if let Some(v) = env.get("PROBE_DNS_SERVERS") {
            let list = parse::list(v).map_err(|e| ConfigError::new("PROBE_DNS_SERVERS", v, e))?;
            probe.dns_servers = list
                .iter()
                .flat_map(|s| s.split(','))
                .filter(|s| !s.trim().is_empty())
                .map(|s| dns_server(s).map_err(|e| ConfigError::new("PROBE_DNS_SERVERS", v, e)))
                .collect::<Result<_, _>>()?;
        }

        // Every source's targets are built as they are read, in this order; a targets file
        // is streamed a line at a time.
        let mut list = target_list::Builder::new(&defaults, target_list::SpecOverrides::of(flags)?);
        target_list::file_targets(&mut fc, &mut list)?;
        list.add_all(gatus_entries)?;
        let targets_file = which_targets_file(config_file, &fc, flags)?;
        if let Some((path, name, setting)) = &targets_file {
            targets_file::load(path, name, setting, &mut list)?;
        }
        list.add_all(target_list::env_targets(env)?)?;
        let mut stdin_read = false;
        for (i, url) in flags.urls.iter().enumerate() {
            if url != "-" {
                list.add(target_list::Entry::flag(i, url))?;
                continue;
            }
            // `uptimer probe -`: the URLs on stdin, at this place among the others.
            if std::mem::replace(&mut stdin_read, true) {
                return Err(ConfigError::new(
                    format!("URL[{i}]"),
                    "-",
                    "one - at most among the URLs (stdin is read once)",
                ));
            }
            targets_file::read(
                "stdin",
                std::io::stdin().lock(),
                target::Source::Env,
                &mut list,
            )?;
        }
        let targets_file = targets_file.map(|(path, _, _)| path);
        let (mut targets, target_warnings) = list.finish();
        warnings.extend(target_warnings);
        let targets_configured = targets.len();
        let channels = alerting::channels_of(&fc.channels)?;
        let shared = alerting::SharedRules::of(&fc.alert_rules, &fc.alerts)?;
        let maintenance = maintenance::windows_of(&fc.maintenance)?;
        alerting::apply(&mut targets, &shared, &channels)?;
        let status_pages = status_pages::pages_of(&fc.status_pages, &targets)?;
        let storm = storm::storm_of(
            &targets,
            fc.canaries.as_ref(),
            fc.group_wait.as_ref(),
            &channels,
        )?;

        let sharding = sharding(env, &fc)?;
        if let Some(s) = sharding {
            // PROBE_URLS and the command line in list order, as the original did; targets of
            // files by their id, so that adding one moves no other.
            let mut listed = 0u64;
            targets.retain(|t| match t.source {
                target::Source::Env => {
                    listed += 1;
                    (listed - 1) % s.total == s.index
                }
                _ => s.takes(&t.id),
            });
        }

        let stdout_pretty = match env.get("STDOUT_PRETTY") {
            Some(v) => parse::boolean(v).map_err(|e| ConfigError::new("STDOUT_PRETTY", v, e))?,
            None => fc.stdout_pretty.unwrap_or(false),
        };
        let (format_setting, format_name) = match (env.get("EVENT_FORMAT"), &fc.event_format) {
            (Some(v), _) => ("EVENT_FORMAT", v.to_owned()),
            (None, Some(v)) => ("event_format", v.clone()),
            (None, None) => ("EVENT_FORMAT", "current".to_owned()),
        };
        let event_format = match format_name.trim().to_ascii_lowercase().as_str() {
            "current" => EventFormat::Current,
            "original" => EventFormat::Original,
            _ => {
                return Err(ConfigError::new(
                    format_setting,
                    format_name,
                    "current or original",
                ));
            }
        };
        if event_format == EventFormat::Original
            && let Some(t) = targets.iter().find(|t| !t.kind.is_http())
        {
            return Err(ConfigError::new(
                format_setting,
                format_name,
                format!(
                    "current, because target {:?} is a {} check and the original's events \
                     (schema 0.2.0) carry only HTTP checks",
                    t.name, t.kind
                ),
            ));
        }
        let fleet = fleet::FleetSettings::load(
            env,
            fc.fleet.as_ref(),
            probe.location.as_deref(),
            if env.get("LOCATION").is_some() {
                "LOCATION"
            } else {
                "probe.location"
            },
        )?;
        if fleet.is_some() {
            check_fleet(
                env,
                sharding,
                (format_setting, format_name.as_str()),
                event_format,
            )?;
        }
        let data_dir: PathBuf = env
            .get("DATA_DIR")
            .map(str::to_owned)
            .or(fc.data_dir.clone())
            .unwrap_or_else(|| "./data".into())
            .into();
        let log_level = match env.get("LOG_LEVEL") {
            Some(v) => parse::log_level(v).map_err(|e| ConfigError::new("LOG_LEVEL", v, e))?,
            None => from_file(
                fc.log_level.clone().map(file::Scalar::Text).as_ref(),
                "log_level",
                parse::log_level,
            )?
            .unwrap_or_else(|| "info".into()),
        };

        let allow_private_targets = match env.get("ALLOW_PRIVATE_TARGETS") {
            Some(v) => {
                parse::boolean(v).map_err(|e| ConfigError::new("ALLOW_PRIVATE_TARGETS", v, e))?
            }
            None => fc.allow_private_targets.unwrap_or(false),
        };
        let kafka = KafkaSettings::from_env(env)?;
        let mut postgres = PostgresSettings::from_env(env)?;
        // One timeout bounds the whole shutdown; the PostgreSQL writer's name for it stays.
        let shutdown_timeout = match from_env(env, "SHUTDOWN_TIMEOUT", parse::seconds)? {
            Some(t) => t,
            None => postgres.shutdown_timeout,
        };
        postgres.shutdown_timeout = shutdown_timeout;
        if writers.contains(&WriterPlugin::Postgres) {
            postgres.require_url(WriterPlugin::Postgres.name())?;
        }
        let store = StoreSettings::from_env(env, &fc.store, &data_dir)?;
        let web = WebSettings::from_env(env)?;
        let metrics_listen = match from_env(env, "METRICS_LISTEN", listen_addr)? {
            Some(a) => Some(a),
            None => from_file(
                fc.metrics_listen.clone().map(file::Scalar::Text).as_ref(),
                "metrics_listen",
                listen_addr,
            )?,
        };
        let heartbeat = HeartbeatSettings::load(env, fc.heartbeat.as_ref())?;
        if reader == ReaderPlugin::Kafka {
            kafka.require(ReaderPlugin::Kafka.name())?;
        }
        if writers.contains(&WriterPlugin::Kafka) {
            kafka.require(WriterPlugin::Kafka.name())?;
        }

        Ok(Settings {
            reader,
            writers,
            writers_chosen,
            targets,
            targets_configured,
            targets_file,
            watch: fc.watch.unwrap_or(true),
            allow_private_targets,
            defaults,
            probe,
            sharding,
            stdout_pretty,
            event_format,
            data_dir,
            log_level,
            kafka,
            postgres,
            store,
            web,
            status_pages,
            metrics_listen,
            heartbeat,
            fleet,
            shutdown_timeout,
            alerting: {
                let channels = Arc::new(channels);
                alerting::Alerting {
                    live: alerting::LiveAlerting::new(alerting::AlertingNow {
                        channels: channels.clone(),
                        shared,
                        maintenance,
                        storm,
                    }),
                    channels,
                    from_gatus,
                }
            },
            warnings,
        })
    }
}

impl Settings {
    /// Alert rules need a store whose outbox their notifications go through: writers.sqlite
    /// (`uptimer serve` writes to it unless told otherwise) or writers.postgres. Without one,
    /// alerts are an error; a Gatus file's alerts become a warning instead, so that the file
    /// runs unchanged.
    pub fn check_alerting_store(&mut self) -> Result<(), ConfigError> {
        if self.writers.contains(&WriterPlugin::Sqlite)
            || self.writers.contains(&WriterPlugin::Postgres)
        {
            return Ok(());
        }
        let Some(t) = self.targets.iter().find(|t| !t.profile.alerts.is_empty()) else {
            return Ok(());
        };
        const STORE: &str = "a store for the notifications' outbox: add writers.sqlite or \
            writers.postgres to the writers, or run `uptimer serve`";
        if !self.alerting.from_gatus {
            return Err(ConfigError::new(
                "alerts",
                format!("on target {:?}", t.name),
                STORE,
            ));
        }
        self.warnings
            .push(format!("alerts are not sent: they need {STORE}"));
        let mut stripped: std::collections::HashMap<*const target::Profile, Arc<target::Profile>> =
            Default::default();
        for t in &mut self.targets {
            if t.profile.alerts.is_empty() {
                continue;
            }
            let p = stripped
                .entry(Arc::as_ptr(&t.profile))
                .or_insert_with(|| {
                    Arc::new(target::Profile {
                        alerts: Arc::new([]),
                        ..(*t.profile).clone()
                    })
                })
                .clone();
            t.profile = p;
        }
        Ok(())
    }
}

/// The targets file to read, if any: `--targets-file`, else the config file's `targets_file:`
/// (a relative path is relative to the config file's directory); with the name errors give it
/// (as written) and the setting that gave it.
fn which_targets_file(
    config_file: Option<&Path>,
    fc: &file::FileConfig,
    flags: &Overrides,
) -> Result<Option<(PathBuf, String, &'static str)>, ConfigError> {
    let (path, name, setting) = match (&flags.targets_file, &fc.targets_file) {
        (Some(p), _) => (p.clone(), p.display().to_string(), "--targets-file"),
        (None, Some(written)) => {
            let p = Path::new(written);
            let dir = config_file.and_then(Path::parent).unwrap_or(Path::new(""));
            (dir.join(p), written.clone(), "targets_file")
        }
        (None, None) => return Ok(None),
    };
    if name.trim().is_empty() {
        return Err(ConfigError::new(
            setting,
            name,
            "the path of a targets file (one URL or JSON target object per line)",
        ));
    }
    Ok(Some((path, name, setting)))
}

/// The file's `writers:`, each entry named by its index when it is unknown.
fn file_writers(list: &[String]) -> Result<Vec<WriterPlugin>, ConfigError> {
    let mut out = Vec::with_capacity(list.len());
    for (i, name) in list.iter().enumerate() {
        for w in plugins::writers(name)
            .map_err(|e| ConfigError::new(format!("writers[{i}]"), name, e))?
        {
            if !out.contains(&w) {
                out.push(w);
            }
        }
    }
    if out.is_empty() {
        return Err(ConfigError::new(
            "writers",
            "[]",
            "at least one writer (leave writers out for the default)",
        ));
    }
    Ok(out)
}

/// What a fleet cannot run with: static sharding (its probers share the work through Kafka
/// instead) and the original's events (which carry no round).
fn check_fleet(
    env: &Env,
    sharding: Option<Sharding>,
    (format_setting, format_name): (&str, &str),
    event_format: EventFormat,
) -> Result<(), ConfigError> {
    let fleet_setting = if env.get("FLEET_LOCATIONS").is_some() {
        "FLEET_LOCATIONS"
    } else {
        "fleet.locations"
    };
    if let Some(s) = sharding {
        let (setting, value) = match env.get("DISTRIBUTED_WORKERS_ENABLED") {
            Some(v) => ("DISTRIBUTED_WORKERS_ENABLED", v.to_owned()),
            None => ("workers", format!("total {}, index {}", s.total, s.index)),
        };
        return Err(ConfigError::new(
            setting,
            value,
            format!(
                "no static sharding with a fleet ({fleet_setting} is set): a fleet's probers \
                 share the targets through Kafka; unset one of the two"
            ),
        ));
    }
    if event_format == EventFormat::Original {
        return Err(ConfigError::new(
            format_setting,
            format_name,
            format!(
                "current, because a fleet ({fleet_setting} is set) needs each event's round, \
                 which the original's events (schema 0.2.0) do not carry"
            ),
        ));
    }
    Ok(())
}

fn sharding(env: &Env, fc: &file::FileConfig) -> Result<Option<Sharding>, ConfigError> {
    let enabled = from_env(env, "DISTRIBUTED_WORKERS_ENABLED", parse::boolean)?;
    // Errors name the settings as the source that set them does.
    let (total, index, names) = match (enabled, &fc.workers) {
        (Some(false), _) => return Ok(None),
        (Some(true), _) => {
            let total = from_env(env, "DISTRIBUTED_WORKERS_TOTAL", |s| {
                parse::integer(s, 1, 1_000_000)
            })?
            .ok_or_else(|| {
                ConfigError::new(
                    "DISTRIBUTED_WORKERS_TOTAL",
                    "",
                    "the number of workers (set when DISTRIBUTED_WORKERS_ENABLED is true)",
                )
            })?;
            let index = from_env(env, "DISTRIBUTED_WORKERS_INDEX", parse::worker_index)?
                .ok_or_else(|| ConfigError::new("DISTRIBUTED_WORKERS_INDEX", "", "this worker's index or a hostname ending in it (set when DISTRIBUTED_WORKERS_ENABLED is true)"))?;
            (
                total,
                index,
                ("DISTRIBUTED_WORKERS_INDEX", "DISTRIBUTED_WORKERS_TOTAL"),
            )
        }
        (None, Some(w)) => {
            let index =
                from_file(Some(&w.index), "workers.index", parse::worker_index)?.unwrap_or(0);
            (w.total, index, ("workers.index", "workers.total"))
        }
        (None, None) => return Ok(None),
    };
    if total == 0 || index >= total {
        let (index_name, total_name) = names;
        return Err(ConfigError::new(
            index_name,
            index.to_string(),
            format!(
                "an index from 0 to {} ({total_name} is {total})",
                total.saturating_sub(1)
            ),
        ));
    }
    Ok(Some(Sharding { total, index }))
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod checks_tests;

#[cfg(test)]
mod gatus_tests;
