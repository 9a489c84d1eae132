//! `uptimer run` (and `uptimer` alone): probe forever, write events.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use crate::config::{Overrides, Settings};
use crate::metrics::{Flag, Metrics};
use crate::pipeline;
use crate::registry::Registry;

/// `flags`: the command line's `--targets-file`.
pub fn run(config: Option<&Path>, flags: Overrides) -> ExitCode {
    let mut settings = match super::load_settings(config, &[], &flags) {
        Ok(s) => s,
        Err(e) => return super::config_error(&e),
    };
    if let Err(code) = super::refuse_push_targets(&settings, "run") {
        return code;
    }
    if let Err(e) = settings.check_alerting_store() {
        return super::config_error(&e);
    }
    super::init_logging(&settings.log_level);
    for w in &settings.warnings {
        tracing::warn!("{w}");
    }
    if settings.reader == crate::config::ReaderPlugin::HttpProbe && settings.targets.is_empty() {
        if settings.targets_configured > 0 {
            tracing::warn!(
                configured = settings.targets_configured,
                "this worker's shard has no targets"
            );
        } else {
            eprintln!("uptimer: {}", super::NO_TARGETS);
            return ExitCode::from(super::EXIT_CONFIG);
        }
    }
    super::runtime().block_on(run_pipeline(config, flags, settings))
}

async fn run_pipeline(config: Option<&Path>, flags: Overrides, settings: Settings) -> ExitCode {
    let metrics = Arc::new(Metrics::new(super::sections(&settings)));
    let started = Flag::default();
    if let Err(code) = super::metrics_listener(&settings, &metrics, &started).await {
        return code;
    }
    let stop = pipeline::shutdown_on_signals();
    let give_up = pipeline::give_up_after(&stop, settings.shutdown_timeout);
    let mut settings = settings;
    let registry = Registry::new(std::mem::take(&mut settings.targets));
    super::release_freed_memory();
    let mut writers = Vec::with_capacity(settings.writers.len());
    for plugin in &settings.writers {
        match crate::writers::build(*plugin, &settings, &registry, &metrics, &give_up).await {
            Ok(w) => writers.push(w),
            Err(e) => {
                eprintln!("uptimer: {}: {e}", plugin.name());
                return ExitCode::from(super::EXIT_CONFIG);
            }
        }
    }
    let stats = super::scheduler_stats(&settings, &metrics);
    // Told once every target is scheduled (at once when nothing is probed here): a benchmark
    // times a large target set's load to this line.
    let told = {
        let (stats, targets) = (stats.clone(), registry.len());
        let reader = settings.reader.name();
        let writers = (settings.writers.iter().map(|w| w.name()))
            .collect::<Vec<_>>()
            .join(",");
        let interval = settings.defaults.interval;
        let probes = settings.reader == crate::config::ReaderPlugin::HttpProbe;
        async move {
            if probes {
                stats.loaded().await;
            }
            tracing::info!(reader, writers, targets, %interval, "uptimer started");
        }
    };
    if settings.defaults.interval != crate::config::Interval::Once {
        let check = match super::target_check(&settings) {
            Ok(c) => c,
            Err(code) => return code,
        };
        let adjust = Box::new(|_: &mut Settings| {});
        super::start_reloads(
            config, &flags, adjust, &settings, &registry, check, &metrics, &stop,
        );
    }
    // Said once the reloads listen: a SIGHUP sent on seeing it reloads.
    let told = tokio::spawn(told);
    started.set(true);
    if let Err(code) = super::start_heartbeat(&settings, &writers, &metrics, &stop) {
        return code;
    }
    let result = pipeline::run(
        &settings,
        pipeline::Targets::probed(&registry),
        writers,
        stop,
        give_up,
        stats.clone(),
        metrics,
    )
    .await;
    // A one-round run can end before the started line had its turn.
    let _ = tokio::time::timeout(std::time::Duration::from_millis(100), told).await;
    if settings.reader == crate::config::ReaderPlugin::HttpProbe {
        tracing::info!(
            probes = stats.probes.load(std::sync::atomic::Ordering::Relaxed),
            missed = stats.missed_rounds(),
            skipped_rounds = stats
                .skipped_rounds
                .load(std::sync::atomic::Ordering::Relaxed),
            cut_by_stop = stats.cut_by_stop.load(std::sync::atomic::Ordering::Relaxed),
            start_lag_p50_ms = stats.lag_quantile(0.5).as_millis() as u64,
            start_lag_p99_ms = stats.lag_quantile(0.99).as_millis() as u64,
            start_lag_max_ms = stats.lag_quantile(1.0).as_millis() as u64,
            "scheduler summary"
        );
    }
    super::exit_status(result, "uptimer stopped")
}
