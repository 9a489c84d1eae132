//! `/metrics`: the process's own metrics (see `crate::metrics`; a read-only `serve --store`,
//! which neither probes nor writes, exports only `uptimer_build_info`) and, per target, the
//! last probe's result in blackbox_exporter's names (`probe_success`, `probe_duration_seconds`,
//! `probe_http_status_code`, `probe_ssl_earliest_cert_expiry`), labelled with the target's id,
//! name and URL so existing Prometheus rules and dashboards apply.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::{EncodeMetric, MetricEncoder};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::{AppError, AppState};
use crate::metrics::CONTENT_TYPE;
use crate::store::{Status, TargetSummary};

type TargetLabels = [(&'static str, String); 3];

/// One gauge per target, in the store's order; read from the store at each scrape.
#[derive(Debug)]
struct TargetGauges(Vec<(TargetLabels, f64)>);

impl EncodeMetric for TargetGauges {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        for (labels, v) in &self.0 {
            encoder.encode_family(labels)?.encode_gauge(v)?;
        }
        Ok(())
    }
    fn metric_type(&self) -> MetricType {
        MetricType::Gauge
    }
}

pub async fn metrics(State(s): State<AppState>) -> Result<Response, AppError> {
    let targets = s.store.all_targets().await?;
    let mut out = String::with_capacity(8192 + targets.len() * 400);
    s.metrics.encode(&mut out);
    let labels: Vec<TargetLabels> = targets
        .iter()
        .map(|t| {
            [
                ("target", t.id.clone()),
                ("name", t.name.clone()),
                ("instance", t.url.clone().unwrap_or_default()),
            ]
        })
        .collect();
    type Value = fn(&TargetSummary) -> Option<f64>;
    let families: [(&str, &str, Value); 4] = [
        (
            "probe_success",
            "Whether the target's last probe succeeded (absent when it was never probed or is stale)",
            |t| match t.status {
                Status::Unknown => None,
                Status::Down => Some(0.0),
                _ => Some(1.0),
            },
        ),
        (
            "probe_duration_seconds",
            "How long the target's last probe took",
            |t| t.last_duration_ms.map(|ms| ms as f64 / 1000.0),
        ),
        (
            "probe_http_status_code",
            "HTTP status of the target's last probe (0 when none was received)",
            |t| t.last_status_code.map(|c| c as f64),
        ),
        (
            "probe_ssl_earliest_cert_expiry",
            "Expiry of the target's TLS certificate, Unix seconds",
            |t| t.cert_not_after.map(|c| (c / 1_000_000) as f64),
        ),
    ];
    let mut registry = Registry::default();
    for (name, help, value) in families {
        let rows = targets
            .iter()
            .zip(&labels)
            .filter_map(|(t, l)| value(t).map(|v| (l.clone(), v)))
            .collect();
        registry.register(name, help, TargetGauges(rows));
    }
    let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &registry);
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], out).into_response())
}
