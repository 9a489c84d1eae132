//! The configuration's reloads and the live set of targets.

use prometheus_client::registry::Registry;

use super::help;
use super::kinds::{Count, Flag, Level, Timestamp};

/// What reloads did and how many targets are live.
#[derive(Debug, Clone, Default)]
pub struct ConfigMetrics {
    /// Reloads (SIGHUP, a file change) refused: the running targets stayed.
    pub reload_failures: Count,
    /// 1 when the last reload was applied, or none was tried; 0 after a refused one.
    pub last_reload_success: Flag,
    /// When a reload was last applied (or the process started).
    pub last_reload_success_time: Timestamp,
    /// Targets in the registry, and those of them paused.
    pub targets: Level,
    pub targets_paused: Level,
}

impl ConfigMetrics {
    pub(super) fn register(&self, r: &mut Registry) {
        self.last_reload_success.set(true);
        self.last_reload_success_time.mark();
        r.register(
            "uptimer_config_reload_failures",
            help("Configuration reloads refused (a bad setting): the running targets stayed."),
            self.reload_failures.clone(),
        );
        r.register(
            "uptimer_config_last_reload_success",
            help("1 when the last configuration reload was applied (or none was tried), 0 when it was refused."),
            self.last_reload_success.clone(),
        );
        r.register(
            "uptimer_config_last_reload_success_timestamp_seconds",
            help("When the configuration was last loaded or reloaded, in Unix seconds."),
            self.last_reload_success_time.clone(),
        );
        r.register(
            "uptimer_targets",
            help("Targets in the live set (from the configuration and the API)."),
            self.targets.clone(),
        );
        r.register(
            "uptimer_targets_paused",
            help("Targets in the live set that are paused (not probed)."),
            self.targets_paused.clone(),
        );
    }
}
