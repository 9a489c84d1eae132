//! Reloading the configuration while `run` or `serve` goes on: on SIGHUP, and when the config
//! file, its targets file or `configuration.env` changes (watched unless `watch: false`). The whole
//! configuration is loaded and validated first; a bad one changes nothing, logs one line naming
//! the setting, the value and what was expected, and sets
//! `uptimer_config_reload_failures_total` and `uptimer_config_last_reload_success`. A good one
//! applies its targets (and the probe defaults they carry) to the registry in one version;
//! settings that only a restart can change (writers, Kafka, the database, listeners, …) are
//! logged as such and keep their running value.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::{ConfigError, Overrides, Settings, Target};
use crate::metrics::ConfigMetrics;
use crate::registry::edit::TargetCheck;
use crate::registry::{Change, Registry};

/// How long the file must stay quiet after a change before it is read: editors write a file
/// in several steps (truncate, write, rename).
pub const DEBOUNCE: Duration = Duration::from_millis(300);

/// What a reload needs: how the configuration was loaded, what runs now, and where to apply.
pub struct Reloader {
    pub config: Option<PathBuf>,
    pub env_filter: Vec<&'static str>,
    pub flags: Overrides,
    /// The settings the process started with: what needs a restart is compared with them.
    pub running: Settings,
    pub registry: Arc<Registry>,
    pub metrics: ConfigMetrics,
    pub check: TargetCheck,
    /// What the command changed in the settings it loaded (`serve`: `--listen`, its default
    /// writer), done to the reloaded ones too before they are compared.
    pub adjust: Adjust,
}

/// See [`Reloader::adjust`].
pub type Adjust = Box<dyn Fn(&mut Settings) + Send + Sync>;

/// What an applied reload changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reloaded {
    pub added: usize,
    pub changed: usize,
    pub removed: usize,
    pub version: u64,
    /// Settings that changed but need a restart (their running value stays).
    pub need_restart: Vec<&'static str>,
    /// The targets file the reloaded configuration read (to be watched from now on).
    pub targets_file: Option<PathBuf>,
}

impl Reloader {
    /// Loads the configuration again and applies it, or refuses it whole.
    pub fn reload(&self, why: &str) -> Result<Reloaded, ConfigError> {
        let result = self.try_reload();
        match &result {
            Ok(r) => {
                self.metrics.last_reload_success.set(true);
                self.metrics.last_reload_success_time.mark();
                for setting in &r.need_restart {
                    tracing::warn!(
                        setting,
                        "configuration reload: {setting} changed; it applies at the next restart (the running value stays)"
                    );
                }
                tracing::info!(
                    trigger = why,
                    added = r.added,
                    changed = r.changed,
                    removed = r.removed,
                    version = r.version,
                    "configuration reloaded"
                );
            }
            Err(e) => {
                self.metrics.reload_failures.inc();
                self.metrics.last_reload_success.set(false);
                tracing::error!(
                    trigger = why,
                    setting = %e.setting,
                    value = %e.value,
                    expected = %e.expected,
                    "configuration reload refused, the running targets stay: {e}"
                );
            }
        }
        result
    }

    fn try_reload(&self) -> Result<Reloaded, ConfigError> {
        let mut new = super::load_settings(self.config.as_deref(), &self.env_filter, &self.flags)?;
        (self.adjust)(&mut new);
        // The targets are sharded as the running workers are: a new sharding takes a restart
        // of every worker, and is refused here rather than half applied.
        if new.sharding != self.running.sharding {
            return Err(ConfigError::new(
                "DISTRIBUTED_WORKERS_*",
                format!("{:?}", new.sharding),
                format!(
                    "the running sharding {:?}: sharding changes at a restart",
                    self.running.sharding
                ),
            ));
        }
        for t in &new.targets {
            (self.check)(t).map_err(|e| ConfigError::new("PROBE_TLS_VERIFY", &t.name, e))?;
            // The events keep the running format until a restart.
            if self.running.event_format == crate::config::EventFormat::Original
                && !t.kind.is_http()
            {
                return Err(ConfigError::new(
                    "targets",
                    &t.name,
                    format!(
                        "an http(s) target: the running process writes the original's events \
                         (EVENT_FORMAT=original), which carry HTTP checks only, not {}",
                        t.kind
                    ),
                ));
            }
        }
        // Alerts need the running process's store; a Gatus file's are dropped with a warning.
        new.check_alerting_store()?;
        for w in &new.warnings {
            tracing::warn!("configuration reload: {w}");
        }
        let need_restart = need_restart(&self.running, &new);
        let alerting = new.alerting.live.get();
        let (mut changes, mut counts) = diff(&self.registry, new.targets)?;
        // The API's targets take the reloaded alert_rules: and defaults.
        changes.extend(crate::registry::edit::api_rule_changes(
            &self.registry,
            &alerting,
        ));
        // The outbox worker sends through the reloaded channels before any notification
        // for one of them can be written.
        let before = self.running.alerting.live.get();
        self.running.alerting.live.set(alerting);
        let update = self.registry.apply(changes).map_err(|e| {
            self.running.alerting.live.set(before);
            ConfigError::new("targets", "", e.to_string())
        })?;
        counts.version = update.version;
        counts.changed = update
            .changes
            .iter()
            .filter(|c| matches!(c, crate::registry::Applied::Upsert(_)))
            .count()
            .saturating_sub(counts.added);
        counts.need_restart = need_restart;
        counts.targets_file = new.targets_file;
        super::release_freed_memory();
        Ok(counts)
    }
}

/// The changes that make the registry's configured targets `new`: every new target upserted
/// (the registry leaves out those that did not change), every configured one that is gone
/// removed. Targets made through the API are left alone; a configured target may not take the
/// id of one.
fn diff(registry: &Registry, new: Vec<Target>) -> Result<(Vec<Change>, Reloaded), ConfigError> {
    let mut counts = Reloaded::default();
    let ids: HashSet<&str> = new.iter().map(|t| t.id.as_str()).collect();
    let mut changes = Vec::with_capacity(new.len());
    for e in registry.entries() {
        if !e.target.source.is_api() && !ids.contains(e.target.id.as_str()) {
            changes.push(Change::Remove(e.target.id.clone()));
            counts.removed += 1;
        }
    }
    for t in new {
        match registry.get(&t.id) {
            Some(e) if e.target.source.is_api() => {
                return Err(ConfigError::new(
                    "targets",
                    &t.id,
                    format!(
                        "an id that no target made through the API has ({:?} has it: delete it \
                         there first, or give this one another id)",
                        e.target.name
                    ),
                ));
            }
            Some(_) => {}
            None => counts.added += 1,
        }
        changes.push(Change::Upsert(Arc::new(t)));
    }
    Ok((changes, counts))
}

/// The settings that differ between `running` and `new` but apply only at a restart.
fn need_restart(running: &Settings, new: &Settings) -> Vec<&'static str> {
    let differs =
        |a: &dyn std::fmt::Debug, b: &dyn std::fmt::Debug| format!("{a:?}") != format!("{b:?}");
    let mut out = Vec::new();
    let pairs: [(&'static str, &dyn std::fmt::Debug, &dyn std::fmt::Debug); 12] = [
        ("READER_PLUGIN", &running.reader, &new.reader),
        ("WRITER_PLUGIN", &running.writers, &new.writers),
        ("KAFKA_*", &running.kafka, &new.kafka),
        (
            "DATABASE_URL and the PostgreSQL settings",
            &running.postgres,
            &new.postgres,
        ),
        ("the store (SQLITE_*, store:)", &running.store, &new.store),
        ("the web settings (WEB_*)", &running.web, &new.web),
        (
            "METRICS_LISTEN",
            &running.metrics_listen,
            &new.metrics_listen,
        ),
        ("DATA_DIR", &running.data_dir, &new.data_dir),
        ("EVENT_FORMAT", &running.event_format, &new.event_format),
        ("LOG_LEVEL", &running.log_level, &new.log_level),
        (
            "the probe settings (probe.concurrency, PROBE_MAX_*, PROBE_DNS_SERVERS, LOCATION)",
            &running.probe,
            &new.probe,
        ),
        (
            "SHUTDOWN_TIMEOUT",
            &running.shutdown_timeout,
            &new.shutdown_timeout,
        ),
    ];
    for (name, a, b) in pairs {
        if differs(a, b) {
            out.push(name);
        }
    }
    // Compared whole: its Debug masks the URL's path, where a token differs.
    if running.heartbeat != new.heartbeat {
        out.push("the heartbeat (heartbeat:, HEARTBEAT_*)");
    }
    if running.fleet != new.fleet {
        out.push("the fleet (fleet:, FLEET_*)");
    }
    out
}

/// Keeps `uptimer_targets` and `uptimer_targets_paused` up to date with every change to the
/// registry (reloads and the API alike), until `stop`.
pub async fn count_targets(
    registry: Arc<Registry>,
    metrics: ConfigMetrics,
    stop: CancellationToken,
) {
    let (_, mut updates) = registry.follow();
    loop {
        let entries = registry.entries();
        metrics.targets.set(entries.len() as u64);
        metrics
            .targets_paused
            .set(entries.iter().filter(|e| e.paused).count() as u64);
        drop(entries);
        tokio::select! {
            _ = stop.cancelled() => return,
            update = updates.recv() => if update.is_none() { return },
        }
        // A burst of changes (a reload, a script of API calls) is counted once.
        while updates.try_recv().is_ok() {}
    }
}

/// Reloads on SIGHUP and, when `watch`, on changes to the config file, the targets file
/// (`targets_file`, the one the running targets were read from) and `configuration.env`, until
/// `stop`. A watcher that cannot start is logged; SIGHUP still works.
pub async fn run(
    reloader: Arc<Reloader>,
    watch: bool,
    mut targets_file: Option<PathBuf>,
    mut hangup: Hangups,
    stop: CancellationToken,
) {
    let (tx, mut changed) = mpsc::unbounded_channel::<()>();
    let start_watching = |targets_file: Option<&Path>| {
        if !watch {
            return None;
        }
        match watcher(reloader.config.as_deref(), targets_file, tx.clone()) {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(
                    "cannot watch the configuration for changes ({e}); reload it with SIGHUP"
                );
                None
            }
        }
    };
    // Kept alive for as long as it watches.
    let mut _watcher = start_watching(targets_file.as_deref());
    loop {
        let why = tokio::select! {
            _ = stop.cancelled() => return,
            Some(()) = recv_hangup(&mut hangup) => "SIGHUP",
            Some(()) = changed.recv() => {
                // Until the file has been quiet for a moment.
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(DEBOUNCE) => break,
                        more = changed.recv() => if more.is_none() { break },
                    }
                }
                "file change"
            }
        };
        // Reading a large configuration takes CPU-seconds: on a blocking thread, so that the
        // runtime's workers (and the scheduler's starts) are not held up meanwhile.
        let read = Arc::clone(&reloader);
        let reloaded = tokio::task::spawn_blocking(move || read.reload(why)).await;
        // A reload that names another targets file: watch that one from now on.
        if let Ok(Ok(r)) = reloaded
            && r.targets_file != targets_file
        {
            targets_file = r.targets_file;
            _watcher = start_watching(targets_file.as_deref());
        }
    }
}

#[cfg(unix)]
pub type Hangups = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
pub type Hangups = Option<()>;

/// SIGHUP, listened for from now on (before the process says it started, so that a SIGHUP
/// sent then reloads rather than ends it).
pub fn hangups() -> Hangups {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::hangup()) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!("cannot listen for SIGHUP ({e}): reload by editing the file");
                None
            }
        }
    }
    #[cfg(not(unix))]
    None
}

async fn recv_hangup(h: &mut Hangups) -> Option<()> {
    #[cfg(unix)]
    if let Some(s) = h {
        return s.recv().await;
    }
    let _ = h;
    std::future::pending().await
}

/// Watches the directories of the config file, the targets file and `configuration.env`
/// (editors replace a file by renaming a new one over it, which a watch on the file itself
/// would miss) and sends on `tx` when one of the files changes.
fn watcher(
    config: Option<&Path>,
    targets_file: Option<&Path>,
    tx: mpsc::UnboundedSender<()>,
) -> notify::Result<notify::RecommendedWatcher> {
    use notify::{RecursiveMode, Watcher};
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let mut files = vec![cwd.join("configuration.env")];
    for f in [config, targets_file].into_iter().flatten() {
        files.push(if f.is_absolute() {
            f.to_owned()
        } else {
            cwd.join(f)
        });
    }
    let names: Vec<(PathBuf, std::ffi::OsString)> = files
        .iter()
        .filter_map(|f| Some((f.parent()?.to_owned(), f.file_name()?.to_owned())))
        .collect();
    let wanted = names.clone();
    let mut w = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if event.kind.is_access() {
            return;
        }
        let ours = event.paths.iter().any(|p| {
            wanted
                .iter()
                .any(|(_, name)| p.file_name() == Some(name.as_os_str()))
        });
        if ours {
            let _ = tx.send(());
        }
    })?;
    let mut dirs: Vec<&PathBuf> = names.iter().map(|(d, _)| d).collect();
    dirs.sort();
    dirs.dedup();
    for d in dirs {
        w.watch(d, RecursiveMode::NonRecursive)?;
    }
    Ok(w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Env, Source};

    fn settings(yaml: &str) -> Settings {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("uptimer.yaml");
        std::fs::write(&path, yaml).unwrap();
        Settings::load(Some(&path), &Env::from_pairs([]), &Overrides::default()).unwrap()
    }

    #[test]
    fn the_diff_adds_changes_and_removes_configured_targets_and_leaves_api_ones() {
        let old = settings(
            "targets:\n  - {name: a, url: 'http://127.0.0.1:1/'}\n  - {name: b, url: 'http://127.0.0.1:2/'}\n",
        );
        let registry = Registry::new(old.targets.clone());
        let mut api =
            settings("targets:\n  - {id: made-here, name: c, url: 'http://127.0.0.1:3/'}\n")
                .targets
                .remove(0);
        api.source = Source::Api;
        registry.apply(vec![Change::Upsert(Arc::new(api))]).unwrap();

        let new = settings(
            "targets:\n  - {name: a, url: 'http://127.0.0.1:1/', timeout: 3}\n  - {name: d, url: 'http://127.0.0.1:4/'}\n",
        );
        let (changes, counts) = diff(&registry, new.targets).unwrap();
        assert_eq!((counts.added, counts.removed), (1, 1));
        let update = registry.apply(changes).unwrap();
        // a changed, d added, b removed; the API's target stays.
        assert_eq!(update.changes.len(), 3);
        let mut names: Vec<String> = registry
            .entries()
            .iter()
            .map(|e| e.target.name.clone())
            .collect();
        names.sort();
        assert_eq!(names, ["a", "c", "d"]);

        let clash = settings("targets:\n  - {id: made-here, url: 'http://127.0.0.1:5/'}\n");
        let e = diff(&registry, clash.targets).unwrap_err();
        assert!(e.expected.contains("\"c\" has it"), "{e}");
    }

    #[test]
    fn only_settings_a_restart_needs_are_named() {
        let a = settings("targets:\n  - {url: 'http://127.0.0.1:1/'}\n");
        let b = settings("probe: {interval: 30}\ntargets:\n  - {url: 'http://127.0.0.1:2/'}\n");
        assert!(need_restart(&a, &b).is_empty());
        let c = settings(
            "writers: [writers.dummy]\nprobe: {concurrency: 7}\ntargets:\n  - {url: 'http://127.0.0.1:2/'}\n",
        );
        let named = need_restart(&a, &c);
        assert_eq!(named.len(), 2, "{named:?}");
        assert!(named[0].starts_with("WRITER_PLUGIN") && named[1].contains("concurrency"));
    }

    fn reloader(config: &Path, running: Settings, registry: Arc<Registry>) -> Reloader {
        Reloader {
            config: Some(config.to_owned()),
            env_filter: Vec::new(),
            flags: Overrides::default(),
            running,
            registry,
            metrics: ConfigMetrics::default(),
            check: Arc::new(|_| Ok(())),
            adjust: Box::new(|_| {}),
        }
    }

    #[test]
    fn a_reload_keeps_the_running_event_format_and_sharding_or_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("uptimer.yaml");
        let write = |text: &str| std::fs::write(&path, text).unwrap();
        write("event_format: original\ntargets:\n  - {url: 'http://127.0.0.1:1/'}\n");
        let running =
            Settings::load(Some(&path), &Env::from_pairs([]), &Overrides::default()).unwrap();
        let registry = Registry::new(running.targets.clone());
        let r = reloader(&path, running, registry.clone());

        // The file now says current and adds a tcp check: the running events stay original.
        write("targets:\n  - {url: 'http://127.0.0.1:1/'}\n  - {url: 'tcp://127.0.0.1:5432'}\n");
        let e = r.reload("test").unwrap_err();
        assert!(e.expected.contains("EVENT_FORMAT=original"), "{e}");
        assert_eq!(registry.len(), 1);
        assert!(!r.metrics.last_reload_success.get());
        assert_eq!(r.metrics.reload_failures.get(), 1);

        write(
            "event_format: original\nworkers: {total: 2, index: 0}\ntargets:\n  - {url: 'http://127.0.0.1:1/'}\n",
        );
        let e = r.reload("test").unwrap_err();
        assert_eq!(e.setting, "DISTRIBUTED_WORKERS_*");
        assert_eq!(registry.version(), 1);

        write(
            "event_format: original\ntargets:\n  - {url: 'http://127.0.0.1:1/'}\n  - {url: 'http://127.0.0.1:2/'}\n",
        );
        let done = r.reload("test").unwrap();
        assert_eq!((done.added, done.version), (1, 2));
        assert!(r.metrics.last_reload_success.get());
    }
}
