//! `uptimer serve`: the probers, the embedded store and the web dashboard in one process.
//! Settings come from the same layers as `run`; the writer defaults to `writers.sqlite`.
//! `--store PATH` serves an existing SQLite store read-only, without probing; `--store
//! postgres://…` serves the PostgreSQL tables that `writers.postgres` keeps, read-only too.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use tokio_util::sync::CancellationToken;

use crate::config::{Overrides, Settings, WriterPlugin, listen_addr};
use crate::metrics::{Flag, Metrics};
use crate::pipeline;
use crate::readers::push::{Clock, PushBoard};
use crate::registry::Registry;
use crate::store::alerts::AlertStore;
use crate::store::status::StatusBook;
use crate::store::{SqliteStore, Store};
use crate::web::{self, AppState};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// A YAML or TOML config file with per-target settings; the environment overrides it.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    #[arg(long, value_name = "PATH", help = super::TARGETS_FILE_HELP)]
    pub targets_file: Option<PathBuf>,
    /// Address of the web server (default 127.0.0.1:8080, or WEB_LISTEN).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Serve an existing store read-only instead of probing: a SQLite file path
    /// (or sqlite://PATH), or a PostgreSQL database (postgres://… or postgresql://…).
    #[arg(long, value_name = "URL_OR_PATH")]
    pub store: Option<String>,
}

pub fn serve(args: ServeArgs) -> ExitCode {
    let flags = super::targets_flag(args.targets_file.clone());
    let mut settings = match super::load_settings(args.config.as_deref(), &[], &flags) {
        Ok(s) => s,
        Err(e) => return super::config_error(&e),
    };
    if let Some(l) = &args.listen {
        match listen_addr(l) {
            Ok(a) => settings.web.listen = a,
            Err(e) => {
                return super::config_error(&crate::config::ConfigError::new("--listen", l, e));
            }
        }
    }
    super::init_logging(&settings.log_level);
    for w in &settings.warnings {
        tracing::warn!("{w}");
    }
    let read_only = match args.store.as_deref() {
        None => false,
        Some(s) if s.starts_with("postgres://") || s.starts_with("postgresql://") => {
            return super::runtime().block_on(run_postgres(settings, s.to_owned()));
        }
        Some(s) => {
            let path = PathBuf::from(s.strip_prefix("sqlite://").unwrap_or(s));
            if !path.is_file() {
                return super::config_error(&crate::config::ConfigError::new(
                    "--store",
                    s,
                    "an existing SQLite store file (or sqlite://PATH), or postgres://…",
                ));
            }
            settings.store.path = path;
            true
        }
    };
    if !read_only && !settings.writers_chosen {
        settings.writers = vec![WriterPlugin::Sqlite];
    }
    let warned = settings.warnings.len();
    if !read_only && let Err(e) = settings.check_alerting_store() {
        return super::config_error(&e);
    }
    for w in &settings.warnings[warned..] {
        tracing::warn!("{w}");
    }
    super::runtime().block_on(run(args.config.as_deref(), &flags, settings, read_only))
}

/// A flag that is set already.
fn ready() -> Flag {
    let f = Flag::default();
    f.set(true);
    f
}

/// `--store postgres://…`: the dashboard over the PostgreSQL tables, read-only, no probing.
async fn run_postgres(settings: Settings, url: String) -> ExitCode {
    let store = match crate::store::PostgresStore::open(
        &url,
        settings.postgres.ssl_ca_file.as_deref(),
        settings.postgres.pool_size,
    )
    .await
    {
        Ok(s) => s,
        Err(e) => {
            let shown = crate::config::DatabaseUrl::new(url.as_str()).to_string();
            eprintln!("uptimer: --store {shown}: {e}");
            return ExitCode::from(super::EXIT_CONFIG);
        }
    };
    let stop = pipeline::shutdown_on_signals();
    // Acknowledgements are written (the writers' outbox workers send them on), by the API and
    // by the links notifications carry, signed with the key the database keeps.
    let alerts = store.alerts();
    let links = match crate::alerting::links::from_database(&settings.web, &alerts).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("uptimer: {e}");
            return ExitCode::FAILURE;
        }
    };
    // So are the incidents people write on status pages.
    let book: Arc<dyn StatusBook> = Arc::new(store.status_book());
    let mut state = AppState::new(Arc::new(store) as Arc<dyn Store>, &settings.web);
    state.status_pages = crate::web::status::Pages::fixed(settings.status_pages.clone());
    state.status_book = Some(book);
    state.acks = Some(crate::web::acks::Acks {
        store: Arc::new(alerts),
        links,
        live: settings.alerting.live.clone(),
    });
    if let Err(code) = super::metrics_listener(&settings, &state.metrics, &ready()).await {
        return code;
    }
    if let Err(code) = status_listener(&settings, &state, &stop).await {
        return code;
    }
    if settings.web.auth.is_none() && !settings.web.listen.ip().is_loopback() {
        tracing::warn!(
            listen = %settings.web.listen,
            "the dashboard is reachable from other machines without authentication (set WEB_AUTH_TOKEN or WEB_AUTH_BASIC)"
        );
    }
    tracing::info!(listen = %settings.web.listen, "serving the PostgreSQL store read-only (but for acknowledgements, silences and status incidents)");
    match web::serve(state, settings.web.listen, stop).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("uptimer: {e}");
            ExitCode::from(super::EXIT_CONFIG)
        }
    }
}

async fn run(
    config: Option<&std::path::Path>,
    flags: &Overrides,
    settings: Settings,
    read_only: bool,
) -> ExitCode {
    let store = match SqliteStore::open_async(&settings.store).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("uptimer: {e}");
            return ExitCode::from(super::EXIT_CONFIG);
        }
    };
    let stop = pipeline::shutdown_on_signals();
    let mut state = AppState::new(Arc::new(store.clone()) as Arc<dyn Store>, &settings.web);
    state.status_pages = crate::web::status::Pages::fixed(settings.status_pages.clone());
    if !read_only {
        state.metrics = Arc::new(Metrics::new(super::sections(&settings)));
        // The incidents people write on status pages, kept where the store is written.
        state.status_book = Some(Arc::new(store.clone()) as Arc<dyn StatusBook>);
    }
    // The push targets' board: the web takes their pushes, the pipeline their events.
    let mut push = None;
    if !read_only && settings.targets.iter().any(pipeline::push::is_push) {
        match PushBoard::open(
            &settings.targets,
            &settings.data_dir,
            Clock::system(),
            settings.probe.location.clone(),
        ) {
            Ok((board, events)) => {
                state.push = Some(board.clone());
                push = Some(pipeline::PushFeed { board, events });
            }
            Err(e) => {
                eprintln!("uptimer: push targets: {e}");
                return ExitCode::from(super::EXIT_CONFIG);
            }
        }
    }
    // The live set of targets: the configuration's and those the API made (saved under
    // DATA_DIR); the pipeline, the reloads and the web follow it.
    let registry = Registry::new(settings.targets.iter().cloned());
    super::release_freed_memory();
    // What a target added live (API, dashboard, reload) must pass; built once for both.
    let check = if read_only {
        None
    } else {
        match super::target_check(&settings) {
            Ok(c) => Some(c),
            Err(code) => return code,
        }
    };
    if let Some(check) = &check {
        let editor = match open_editor(&settings, &registry, check.clone()) {
            Ok(e) => e,
            Err(code) => return code,
        };
        state.editor = Some(Arc::new(editor));
        // The status pages: the configuration's and those the API made (saved under DATA_DIR).
        match crate::web::status::Pages::open(
            settings.status_pages.clone(),
            &settings.data_dir,
            &|| live_targets(&registry, &[]),
        ) {
            Ok(p) => state.status_pages = p,
            Err(e) => {
                eprintln!("uptimer: {e}");
                return ExitCode::from(super::EXIT_CONFIG);
            }
        }
    }
    // The store follows the live set: rows for targets added, removed ones marked removed.
    let following = if read_only {
        None
    } else {
        match store
            .follow(&registry, crate::store::sweeps(&settings), stop.clone())
            .await
        {
            Ok(task) => Some(task),
            Err(e) => {
                eprintln!("uptimer: {e}");
                return ExitCode::FAILURE;
            }
        }
    };
    // Notifications from the store's outbox (the writer fills it), with links to acknowledge.
    let links = match crate::alerting::links::from_settings(&settings.web, &settings.data_dir) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("uptimer: {e}");
            return ExitCode::from(super::EXIT_CONFIG);
        }
    };
    let alerting = if read_only || !settings.writers.contains(&WriterPlugin::Sqlite) {
        None
    } else {
        if let Err(e) = store.alert_with(settings.alerting.live.clone()).await {
            tracing::error!("serve: {e}");
            return ExitCode::FAILURE;
        }
        let alerts: Arc<dyn AlertStore> = Arc::new(store.clone());
        state.acks = Some(crate::web::acks::Acks {
            store: alerts.clone(),
            links: links.clone(),
            live: settings.alerting.live.clone(),
        });
        crate::alerting::spawn(
            alerts,
            settings.alerting.live.clone(),
            links,
            state.metrics.clone(),
            stop.clone(),
        )
    };
    let metrics = state.metrics.clone();
    // Read-only, there is nothing to start; else the writers say when they are built.
    let started = if read_only { ready() } else { Flag::default() };
    if let Err(code) = super::metrics_listener(&settings, &metrics, &started).await {
        return code;
    }
    if let Err(code) = status_listener(&settings, &state, &stop).await {
        return code;
    }
    let state_pages = state.status_pages.clone();
    let server = tokio::spawn(web::serve(state, settings.web.listen, stop.clone()));
    // A port already taken shows up at once; report it before starting to probe.
    tokio::time::sleep(Duration::from_millis(50)).await;
    if server.is_finished() {
        return match server.await {
            Ok(Err(e)) => {
                eprintln!("uptimer: {e}");
                ExitCode::from(super::EXIT_CONFIG)
            }
            // Stopped by a signal this early: a clean shutdown all the same.
            Ok(Ok(())) => ExitCode::SUCCESS,
            Err(_) => ExitCode::FAILURE,
        };
    }
    if settings.web.auth.is_none() && !settings.web.listen.ip().is_loopback() {
        tracing::warn!(
            listen = %settings.web.listen,
            "the dashboard is reachable from other machines without authentication (set WEB_AUTH_TOKEN or WEB_AUTH_BASIC)"
        );
    }
    // Read-only: whoever writes the file prunes it.
    let upkeep = (!read_only).then(|| store.upkeep());
    let mut code = ExitCode::SUCCESS;
    if read_only {
        tracing::info!(store = %settings.store.path.display(), "serving the store read-only");
    } else {
        if let Some(check) = check
            && settings.defaults.interval != crate::config::Interval::Once
        {
            // A reload reads what `serve` read: its --listen and default writer apply to it.
            let (listen, plugins) = (settings.web.listen, settings.writers.clone());
            let (pages, live) = (state_pages.clone(), registry.clone());
            let adjust: super::reload::Adjust = Box::new(move |new| {
                new.web.listen = listen;
                let targets = &new.targets;
                pages.reconfigure(new.status_pages.clone(), &|| live_targets(&live, targets));
                if !new.writers_chosen {
                    new.writers = plugins.clone();
                }
            });
            super::start_reloads(
                config, flags, adjust, &settings, &registry, check, &metrics, &stop,
            );
        }
        // The pipeline cancels its token when it ends; the dashboard keeps serving.
        let targets = pipeline::Targets {
            registry: registry.clone(),
            push,
        };
        code = probe(
            &settings,
            targets,
            &store,
            stop.child_token(),
            metrics,
            started,
        )
        .await;
        if code == ExitCode::SUCCESS && !stop.is_cancelled() {
            tracing::info!("probing finished; the dashboard keeps serving until stopped");
        } else {
            stop.cancel();
        }
    }
    match server.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::error!("{e}");
            code = ExitCode::FAILURE;
        }
        Err(e) => {
            tracing::error!("web server task failed: {e}");
            code = ExitCode::FAILURE;
        }
    }
    stop.cancel();
    if let Some(f) = following {
        let _ = f.await;
    }
    if let Some(a) = alerting {
        let _ = a.await;
    }
    if let Some(u) = upkeep {
        u.stop().await;
    }
    // Readers and writer are done: leave no WAL behind (also read-only: the web read it).
    if let Err(e) = store.close().await {
        tracing::warn!(error = %e, "store: emptying the WAL at exit failed");
    }
    code
}

/// The editor of the API's changes, with what it saved before added to `registry`.
fn open_editor(
    settings: &Settings,
    registry: &Arc<Registry>,
    check: crate::registry::edit::TargetCheck,
) -> Result<crate::registry::edit::Editor, ExitCode> {
    crate::registry::edit::Editor::open(
        registry.clone(),
        settings.defaults.clone(),
        settings.allow_private_targets,
        &settings.data_dir,
        check,
    )
    .map(|e| {
        e.with_format(settings.event_format)
            .with_alerting(settings.alerting.live.clone())
    })
    .map_err(|e| {
        eprintln!("uptimer: {e}");
        ExitCode::from(super::EXIT_CONFIG)
    })
}

async fn probe(
    settings: &Settings,
    targets: pipeline::Targets,
    store: &SqliteStore,
    stop: CancellationToken,
    metrics: Arc<Metrics>,
    started: Flag,
) -> ExitCode {
    let registry = &targets.registry;
    if registry.is_empty() && settings.reader == crate::config::ReaderPlugin::HttpProbe {
        tracing::info!(
            "no targets yet: add them with the dashboard's \"Add target\" form, POST /api/v1/targets or `uptimer targets add`, or list them in the --config file (reloaded when it changes)"
        );
    }
    let give_up = pipeline::give_up_after(&stop, settings.shutdown_timeout);
    let mut writers = Vec::with_capacity(settings.writers.len());
    for plugin in &settings.writers {
        let w = match plugin {
            WriterPlugin::Sqlite => Ok(Box::new(crate::writers::sqlite::SqliteWriter::new(
                store.clone(),
                metrics.writer(WriterPlugin::Sqlite.name()),
            )) as Box<dyn crate::writers::Writer>),
            p => crate::writers::build(*p, settings, registry, &metrics, &give_up).await,
        };
        match w {
            Ok(w) => writers.push(w),
            Err(e) => {
                eprintln!("uptimer: {}: {e}", plugin.name());
                return ExitCode::from(super::EXIT_CONFIG);
            }
        }
    }
    if !settings.writers.contains(&WriterPlugin::Sqlite) {
        tracing::warn!(
            "WRITER_PLUGIN has no writers.sqlite: the dashboard shows only what is already in {}",
            settings.store.path.display()
        );
    }
    tracing::info!(
        reader = settings.reader.name(),
        writers = %settings.writers.iter().map(|w| w.name()).collect::<Vec<_>>().join(","),
        targets = registry.len(),
        store = %settings.store.path.display(),
        "uptimer serve started"
    );
    let stats = super::scheduler_stats(settings, &metrics);
    started.set(true);
    if let Err(code) = super::start_heartbeat(settings, &writers, &metrics, &stop) {
        return code;
    }
    super::exit_status(
        pipeline::run(settings, targets, writers, stop, give_up, stats, metrics).await,
        "probing stopped",
    )
}

/// Checks the files the status pages name and starts their own listener (`STATUS_LISTEN`)
/// when one is set: a port already taken is an error at once.
async fn status_listener(
    settings: &Settings,
    state: &AppState,
    stop: &tokio_util::sync::CancellationToken,
) -> Result<(), ExitCode> {
    if let Err(e) = crate::web::status::check_files(&settings.status_pages) {
        eprintln!("uptimer: {e}");
        return Err(ExitCode::from(super::EXIT_CONFIG));
    }
    let Some(listen) = settings.web.status_listen else {
        return Ok(());
    };
    if settings.status_pages.is_empty() {
        tracing::warn!(%listen, "STATUS_LISTEN is set but no status_pages are configured");
    }
    let server = tokio::spawn(web::serve_status(state.clone(), listen, stop.clone()));
    tokio::time::sleep(Duration::from_millis(50)).await;
    if server.is_finished()
        && let Ok(Err(e)) = server.await
    {
        eprintln!("uptimer: {e}");
        return Err(ExitCode::from(super::EXIT_CONFIG));
    }
    Ok(())
}

/// The targets status pages are checked against: those of the live set and `more` (a reload's
/// configuration, about to replace the configured ones).
fn live_targets(
    registry: &Registry,
    more: &[crate::config::target::Target],
) -> Vec<crate::config::target::Target> {
    let mut out: Vec<crate::config::target::Target> = more.to_vec();
    for e in registry.entries() {
        if !out.iter().any(|t| t.id == e.target.id) {
            out.push((*e.target).clone());
        }
    }
    out
}
