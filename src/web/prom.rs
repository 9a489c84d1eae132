//! `/metrics`: the process's own metrics (see `crate::metrics`; a read-only `serve --store`,
//! which neither probes nor writes, exports only `uptimer_build_info`) and, per target, the
//! last probe's result in blackbox_exporter's names (`probe_success`, `probe_duration_seconds`,
//! `probe_http_status_code`, `probe_ssl_earliest_cert_expiry`), labelled with the target's id,
//! name and URL so existing Prometheus rules and dashboards apply. DNS, ICMP and TLS checks add
//! blackbox's names of their kinds from their last event (`probe_dns_*`, `probe_icmp_*`,
//! `probe_tls_version_info`).

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

/// A family's samples: each target's labels and value.
type Rows = Vec<(TargetLabels, f64)>;

/// One gauge per target, in the store's order; read from the store at each scrape. `L` is the
/// target's labels, with one more for the families that have it (`phase`, `version`).
#[derive(Debug)]
struct TargetGauges<L = TargetLabels>(Vec<(L, f64)>);

impl<L: prometheus_client::encoding::EncodeLabelSet + std::fmt::Debug + Send + Sync + 'static>
    EncodeMetric for TargetGauges<L>
{
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
                Status::Unknown | Status::Paused => None,
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
    kind_families(&s, &targets, &labels, &mut registry).await?;
    let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &registry);
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], out).into_response())
}

/// The schemes whose checks have a kind object worth exporting (HTTPS is left out: it is most
/// targets, and its certificate's expiry is exported already).
const KIND_SCHEMES: [&str; 5] = ["dns://", "icmp://", "tls://", "starttls://", "grpcs://"];

/// blackbox_exporter's per-kind families from each DNS, ICMP and TLS check's last event (one
/// read of the store per such target).
async fn kind_families(
    s: &AppState,
    targets: &[TargetSummary],
    labels: &[TargetLabels],
    registry: &mut Registry,
) -> Result<(), AppError> {
    type Labels4 = [(&'static str, String); 4];
    let mut answer = Vec::new();
    let mut authority = Vec::new();
    let mut additional = Vec::new();
    let mut serial = Vec::new();
    let mut rtt: Vec<(Labels4, f64)> = Vec::new();
    let mut hop_limit = Vec::new();
    let mut tls_version: Vec<(Labels4, f64)> = Vec::new();
    for (t, l) in targets.iter().zip(labels) {
        let Some(last) = t.last_check else { continue };
        let url = t.url.as_deref().unwrap_or_default();
        if !KIND_SCHEMES.iter().any(|k| url.starts_with(k)) {
            continue;
        }
        let Some(e) = s
            .store
            .events(&t.id, last, last + 1, 1)
            .await?
            .into_iter()
            .next()
        else {
            continue;
        };
        if let Some(d) = &e.dns {
            answer.push((l.clone(), d.answers.len() as f64));
            authority.push((l.clone(), d.authority.len() as f64));
            additional.push((l.clone(), d.additional.len() as f64));
            if let Some(n) = d.soa_serial {
                serial.push((l.clone(), f64::from(n)));
            }
        }
        if let Some(i) = &e.icmp {
            if let Some(ms) = i.rtt_avg_ms {
                let [a, b, c] = l.clone();
                rtt.push(([a, b, c, ("phase", "rtt".into())], ms / 1000.0));
            }
            if let Some(ttl) = i.reply_ttl {
                hop_limit.push((l.clone(), f64::from(ttl)));
            }
        }
        if let Some(t) = &e.tls {
            let [a, b, c] = l.clone();
            tls_version.push(([a, b, c, ("version", t.version.clone())], 1.0));
        }
    }
    let families: [(&str, &str, Rows); 5] = [
        (
            "probe_dns_answer_rrs",
            "Records in the DNS answer section of the last check",
            answer,
        ),
        (
            "probe_dns_authority_rrs",
            "Records in the DNS authority section of the last check",
            authority,
        ),
        (
            "probe_dns_additional_rrs",
            "Records in the DNS additional section of the last check",
            additional,
        ),
        (
            "probe_dns_serial",
            "The SOA serial the last DNS check saw",
            serial,
        ),
        (
            "probe_icmp_reply_hop_limit",
            "IP TTL (hop limit) of the last ICMP reply",
            hop_limit,
        ),
    ];
    for (name, help, rows) in families {
        registry.register(name, help, TargetGauges(rows));
    }
    registry.register(
        "probe_icmp_duration_seconds",
        "Average round trip of the last ICMP check's echo requests",
        TargetGauges(rtt),
    );
    registry.register(
        "probe_tls_version_info",
        "The TLS version of the last check's session",
        TargetGauges(tls_version),
    );
    Ok(())
}
