//! `/metrics`: the process's own health (see `crate::metrics`; left out by a read-only
//! `serve --store`, which neither probes nor writes) and, per target, the last
//! probe's result in blackbox_exporter's names (`probe_success`, `probe_duration_seconds`,
//! `probe_http_status_code`, `probe_ssl_earliest_cert_expiry`), labelled with the target's id,
//! name and URL so existing Prometheus rules and dashboards apply.

use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::{AppError, AppState};
use crate::metrics::{METRICS, SchedulerCounts, label_value, render_build_info};
use crate::store::Status;

pub async fn metrics(State(s): State<AppState>) -> Result<Response, AppError> {
    let targets = s.store.all_targets().await?;
    let mut out = String::with_capacity(4096 + targets.len() * 400);
    render_build_info(&mut out);
    if !s.read_only {
        let scheduler = s.scheduler.as_ref().map(|st| SchedulerCounts {
            started: st.probes.load(Relaxed),
            skipped_rounds: st.skipped_rounds.load(Relaxed),
        });
        METRICS.render(&mut out, scheduler);
    }
    let labels: Vec<String> = targets
        .iter()
        .map(|t| {
            format!(
                "target=\"{}\",name=\"{}\",instance=\"{}\"",
                label_value(&t.id),
                label_value(&t.name),
                label_value(t.url.as_deref().unwrap_or(""))
            )
        })
        .collect();
    let mut family =
        |name: &str, help: &str, value: &dyn Fn(&crate::store::TargetSummary) -> Option<String>| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
            for (t, l) in targets.iter().zip(&labels) {
                if let Some(v) = value(t) {
                    let _ = writeln!(out, "{name}{{{l}}} {v}");
                }
            }
        };
    family(
        "probe_success",
        "Whether the target's last probe succeeded (absent when it was never probed or is stale).",
        &|t| match t.status {
            Status::Unknown | Status::Paused => None,
            Status::Down => Some("0".into()),
            _ => Some("1".into()),
        },
    );
    family(
        "probe_duration_seconds",
        "How long the target's last probe took.",
        &|t| {
            t.last_duration_ms
                .map(|ms| format!("{}", ms as f64 / 1000.0))
        },
    );
    family(
        "probe_http_status_code",
        "HTTP status of the target's last probe (0 when none was received).",
        &|t| t.last_status_code.map(|c| c.to_string()),
    );
    family(
        "probe_ssl_earliest_cert_expiry",
        "Expiry of the target's TLS certificate, Unix seconds.",
        &|t| t.cert_not_after.map(|c| (c / 1_000_000).to_string()),
    );
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response())
}
