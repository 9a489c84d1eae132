//! The command line: `uptimer [run|probe|check-config|schema|validate]`.

mod alert;
mod api_client;
mod bench_store;
mod check_config;
mod healthcheck;
mod migrate;
mod probe;
mod probe_table;
mod publish;
mod reload;
mod run;
mod schema;
mod serve;
mod silence;
mod status;
mod store;
mod targets;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{ConfigError, Env, Overrides, Settings};

/// Exit status for a usage or configuration error.
pub const EXIT_CONFIG: u8 = 2;

/// Uptimer probes HTTP(S) targets and turns every probe into a JSON event.
///
/// Without a subcommand it behaves like the original tool: everything comes from the
/// environment (READER_PLUGIN, WRITER_PLUGIN, PROBE_URLS, PROBE_INTERVAL, ...) and
/// ./configuration.env, events go to stdout as JSON lines, logs to stderr.
#[derive(Debug, Parser)]
#[command(
    name = "uptimer",
    version,
    after_help = "Settings: see configuration.env.example. Docs: docs/configuration.md"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Probe the configured targets on their intervals and write events (the default).
    Run {
        /// A YAML or TOML config file with per-target settings; the environment overrides it.
        #[arg(long, short)]
        config: Option<PathBuf>,
        #[arg(long, value_name = "PATH", help = TARGETS_FILE_HELP)]
        targets_file: Option<PathBuf>,
    },
    /// Probe, store events in the embedded SQLite store and serve the web dashboard, JSON API,
    /// badges and /metrics (http://127.0.0.1:8080/ by default), in one process.
    Serve(serve::ServeArgs),
    /// Benchmark helpers for `scripts/bench web` (synthetic store history, steady ingest).
    #[command(hide = true)]
    BenchStore(bench_store::BenchStoreArgs),
    /// Check URLs once and exit: 0 when every target is up, 1 when any is down, 2 on bad usage.
    Probe(probe::ProbeArgs),
    /// Print the effective configuration (secrets masked), or what is wrong with it, as the
    /// command it is for sees it (exit status 2 on an error, as that command would stop).
    CheckConfig {
        /// A YAML or TOML config file with per-target settings; the environment overrides it.
        #[arg(long, short)]
        config: Option<PathBuf>,
        #[arg(long, value_name = "PATH", help = TARGETS_FILE_HELP)]
        targets_file: Option<PathBuf>,
        /// The command the settings are for: `serve` writes to writers.sqlite unless
        /// WRITER_PLUGIN or `writers:` says otherwise, and runs without targets.
        #[arg(long = "for", value_enum, default_value_t = For::Run, value_name = "COMMAND")]
        for_command: For,
    },
    /// List the embedded JSON Schemas, or print the one with this title (any case, e.g.
    /// probeevent or probe-event).
    Schema { title: Option<String> },
    /// Validate JSON lines against their schemas, from files or stdin; reports the file and
    /// line number of each invalid event. Exits 1 when any line is invalid, 2 when a file
    /// cannot be read.
    Validate {
        /// JSON-lines files (`-` is stdin) [default: stdin].
        #[arg(value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// The embedded SQLite store offline: `stats` (sizes per table and level, bytes per event,
    /// read-only) and `compact` (rewrite it without its free pages).
    Store(store::StoreArgs),
    /// Apply the database migrations (dbmate-compatible, embedded): up (default), down, status.
    Migrate(migrate::MigrateArgs),
    /// The live targets of a running `uptimer serve`, through its API: list, add, rm, pause,
    /// resume (--server URL or UPTIMER_SERVER; credentials from WEB_AUTH_TOKEN or
    /// WEB_AUTH_BASIC). Exit 1 when the server refuses or cannot be reached, 2 on bad usage.
    Targets(targets::TargetsArgs),
    /// Alerting: `test CHANNEL` sends a test notification through a channel of the config
    /// and prints the provider's answer (exit 1 when it was not delivered).
    Alert(alert::AlertArgs),
    /// The incidents of a running `uptimer serve`, through its API: `ack ID` acknowledges one
    /// (--server URL or UPTIMER_SERVER; the dashboard's credentials).
    Incident(targets::IncidentArgs),
    /// Silences of a running `uptimer serve`, through its API: add (hold back the
    /// notifications that match, for a while), list, expire (--server URL or UPTIMER_SERVER;
    /// the dashboard's credentials). Exit 1 when the server refuses or cannot be reached, 2
    /// on bad usage.
    Silence(silence::SilenceArgs),
    /// Maintenance windows of a running `uptimer serve`, through its API: add a one-off
    /// window, list the configured and one-off ones, end one (--server URL or
    /// UPTIMER_SERVER; the dashboard's credentials). Exit codes as `silence`.
    Maintenance(silence::MaintenanceArgs),
    /// Status pages of a running `uptimer serve`, through its API: `status incident
    /// open|update|resolve|list` writes the incidents people read there (--server URL or
    /// UPTIMER_SERVER; the dashboard's credentials). Exit 1 when the server refuses or cannot
    /// be reached, 2 on bad usage.
    Status(status::StatusArgs),
    /// Sync a config file's targets to the fleet's targets topic (Kafka): upsert the new and
    /// changed, remove those this source published before and no longer lists. Exit 1 when
    /// the brokers fail, 2 on a configuration error (docs/fleet.md).
    Publish(publish::PublishArgs),
    /// Exit 0 when http://ADDR/healthz answers 200 (a running uptimer with METRICS_LISTEN),
    /// else print why and exit 1: a container health check without curl.
    Healthcheck(healthcheck::HealthcheckArgs),
}

/// Runs the command and returns the process exit status.
pub fn main(cli: Cli) -> ExitCode {
    match cli.command {
        None => run::run(None, Overrides::default()),
        Some(Command::Run {
            config,
            targets_file,
        }) => run::run(config.as_deref(), targets_flag(targets_file)),
        Some(Command::Serve(args)) => serve::serve(args),
        Some(Command::BenchStore(args)) => bench_store::bench_store(args),
        Some(Command::Probe(args)) => probe::probe(args),
        Some(Command::CheckConfig {
            config,
            targets_file,
            for_command,
        }) => {
            check_config::check_config(config.as_deref(), &targets_flag(targets_file), for_command)
        }
        Some(Command::Schema { title }) => schema::schema(title.as_deref()),
        Some(Command::Validate { files }) => schema::validate(&files),
        Some(Command::Migrate(args)) => migrate::migrate(args),
        Some(Command::Store(args)) => store::store(args),
        Some(Command::Healthcheck(args)) => healthcheck::healthcheck(args),
        Some(Command::Targets(args)) => targets::targets(args),
        Some(Command::Alert(args)) => alert::alert(args),
        Some(Command::Incident(args)) => targets::incident(args),
        Some(Command::Silence(args)) => silence::silence(args),
        Some(Command::Maintenance(args)) => silence::maintenance(args),
        Some(Command::Status(args)) => status::status(args),
        Some(Command::Publish(args)) => publish::publish(args),
    }
}

/// The help of `--targets-file` (`run`, `serve`, `check-config`).
const TARGETS_FILE_HELP: &str = "A file of targets, one URL or JSON target object per line \
     (# comments and blank lines allowed), added to the config file's targets and reloaded \
     with it; instead of the config file's targets_file: (docs/targets.md, Large target sets)";

/// The settings `--targets-file` overrides.
fn targets_flag(targets_file: Option<PathBuf>) -> Overrides {
    Overrides {
        targets_file,
        ..Overrides::default()
    }
}

/// The commands `check-config` can check settings for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum For {
    /// `uptimer` and `uptimer run`: writers.stdout by default; targets are required.
    Run,
    /// `uptimer serve`: writers.sqlite by default; without targets it serves the dashboard.
    Serve,
}

/// Why `run` (and `check-config` for it) stops when there is nothing to probe.
const NO_TARGETS: &str = "no targets: set PROBE_URLS or list targets in a --config file or a \
     --targets-file (see configuration.env.example)";

/// Whether the probe reader has nothing to probe because nothing was configured (an empty
/// shard of a configured list is no error: the other workers have the targets).
fn lacks_targets(settings: &Settings) -> bool {
    settings.reader == crate::config::ReaderPlugin::HttpProbe
        && settings.targets.is_empty()
        && settings.targets_configured == 0
}

/// Settings from the config file, `./configuration.env`, the environment and flags.
fn load_settings(
    config: Option<&Path>,
    env_filter: &[&str],
    flags: &Overrides,
) -> Result<Settings, ConfigError> {
    let env = Env::load(Path::new("configuration.env"))
        .map_err(|e| {
            ConfigError::new(
                "configuration.env",
                "",
                format!("a readable dotenv file ({e})"),
            )
        })?
        .without(env_filter);
    Settings::load(config, &env, flags)
}

/// Follows SIGHUP and changes to the configuration's files with reloads into `registry`, until
/// `stop`; sets the registry's gauges now.
#[allow(clippy::too_many_arguments)]
fn start_reloads(
    config: Option<&Path>,
    flags: &Overrides,
    adjust: reload::Adjust,
    settings: &Settings,
    registry: &std::sync::Arc<crate::registry::Registry>,
    check: crate::registry::edit::TargetCheck,
    metrics: &crate::metrics::Metrics,
    stop: &tokio_util::sync::CancellationToken,
) {
    let mut running = settings.clone();
    running.targets = Vec::new();
    let reloader = reload::Reloader {
        config: config.map(Path::to_owned),
        env_filter: Vec::new(),
        flags: flags.clone(),
        running,
        registry: registry.clone(),
        metrics: metrics.config.clone(),
        check,
        adjust,
    };
    tokio::spawn(reload::count_targets(
        registry.clone(),
        metrics.config.clone(),
        stop.clone(),
    ));
    tokio::spawn(reload::run(
        std::sync::Arc::new(reloader),
        settings.watch,
        settings.targets_file.clone(),
        reload::hangups(),
        stop.clone(),
    ));
}

/// The check a target added live must pass (the prober's TLS settings, a CA file that
/// loads), for the reloads and the API alike.
fn target_check(settings: &Settings) -> Result<crate::registry::edit::TargetCheck, ExitCode> {
    let checker = crate::readers::probes::Probers::new(&settings.probe).map_err(|e| {
        eprintln!("uptimer: {e}");
        ExitCode::from(EXIT_CONFIG)
    })?;
    Ok(std::sync::Arc::new(move |t| {
        checker.check(t).map_err(|e| e.to_string())
    }))
}

/// The metric families a process with these settings exports.
fn sections(settings: &Settings) -> crate::metrics::Sections {
    use crate::config::ReaderPlugin;
    crate::metrics::Sections {
        probing: settings.reader == ReaderPlugin::HttpProbe,
        reading: true,
        consuming: settings.reader == ReaderPlugin::Kafka,
        writing: true,
        heartbeat: settings.heartbeat.is_some(),
    }
}

/// The scheduler's counters: into the process's metrics when probes are the reader.
fn scheduler_stats(
    settings: &Settings,
    metrics: &crate::metrics::Metrics,
) -> std::sync::Arc<crate::pipeline::SchedulerStats> {
    use crate::pipeline::SchedulerStats;
    std::sync::Arc::new(
        if settings.reader == crate::config::ReaderPlugin::HttpProbe {
            SchedulerStats::new(metrics)
        } else {
            SchedulerStats::default()
        },
    )
}

/// Starts the metrics listener when `METRICS_LISTEN` is set. Until `started` is set, `/readyz`
/// says the process is still starting (its writers are not built yet).
async fn metrics_listener(
    settings: &Settings,
    metrics: &std::sync::Arc<crate::metrics::Metrics>,
    started: &crate::metrics::Flag,
) -> Result<(), ExitCode> {
    metrics.readiness.add("startup", started.clone());
    let Some(listen) = settings.metrics_listen else {
        return Ok(());
    };
    crate::web::health::start(listen, metrics.clone())
        .await
        .map(|_| ())
        .map_err(|e| {
            eprintln!("uptimer: {e}");
            ExitCode::from(EXIT_CONFIG)
        })
}

/// Starts the dead-man's switch when `heartbeat:` (or `HEARTBEAT_URL`) is set, until `stop`:
/// called by `run` and `serve` once their writers are built, whatever the reader (the Kafka
/// consumer included).
fn start_heartbeat(
    settings: &Settings,
    writers: &[Box<dyn crate::writers::Writer>],
    metrics: &std::sync::Arc<crate::metrics::Metrics>,
    stop: &tokio_util::sync::CancellationToken,
) -> Result<(), ExitCode> {
    let Some(heartbeat) = settings.heartbeat.clone() else {
        return Ok(());
    };
    // The slowest writer may hold an event this long before it even writes it.
    let batch_age = (writers.iter().map(|w| w.batching().max_age))
        .max()
        .unwrap_or_default();
    crate::alerting::heartbeat::spawn(heartbeat, metrics.clone(), batch_age, stop.clone())
        .map(drop)
        .map_err(|e| {
            eprintln!("uptimer: heartbeat: {e}");
            ExitCode::FAILURE
        })
}

/// Gives the heap freed after reading the configuration back to the system. The `uptimer`
/// binary's allocator (mimalloc) does this by itself; glibc's malloc, which the library's other
/// users and C dependencies get, keeps freed memory for reuse: reading a million targets peaks
/// near 2–3 GB and would leave most of it counted in the process's RSS for good.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only hands free pages of the heap back to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Logs go to stderr; events are the only thing on stdout.
fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}

/// The exit status for how a pipeline ended: 0, 2 for a setup error (told on stderr), else 1.
fn exit_status(
    result: Result<crate::pipeline::RunSummary, crate::pipeline::PipelineError>,
    stopped: &str,
) -> ExitCode {
    match result {
        Ok(s) => {
            tracing::info!(events = s.events, batches = s.batches, "{stopped}");
            ExitCode::SUCCESS
        }
        Err(crate::pipeline::PipelineError::Setup(e)) => {
            eprintln!("uptimer: {e}");
            ExitCode::from(EXIT_CONFIG)
        }
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// Push targets are pushed to through `serve`'s web server: any other command that would
/// probe them refuses them, naming the first, as a configuration error.
fn refuse_push_targets(settings: &Settings, command: &str) -> Result<(), ExitCode> {
    match settings
        .targets
        .iter()
        .find(|t| crate::pipeline::push::is_push(t))
    {
        None => Ok(()),
        Some(t) => {
            eprintln!(
                "uptimer: target {:?} ({}): push targets are served only by `uptimer serve`, \
                 whose web server receives their pushes; `uptimer {command}` cannot check them",
                t.name,
                crate::config::target::masked_url(&t.url)
            );
            Err(ExitCode::from(EXIT_CONFIG))
        }
    }
}

fn config_error(e: &ConfigError) -> ExitCode {
    eprintln!("uptimer: {e}");
    ExitCode::from(EXIT_CONFIG)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("cannot start the async runtime")
}
