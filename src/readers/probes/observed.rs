//! [`Observed`]: what a probe of a kind other than HTTP saw, and the event made of it. Every
//! kind fills the same record as far as it got (a timeout keeps what was seen before it), and
//! one function turns it into the event, so that the fields every probe shares, conditions and
//! the verdict mean the same for every kind.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use time::OffsetDateTime;

use super::Failure;
use super::conditions::{self, Seen};
use crate::config::{Target, target::masked_url};
use crate::event::{
    DnsDetails, ErrorKind, GrpcDetails, IcmpDetails, Phases, ProbeEvent, PushDetails, TcpDetails,
    TlsDetails,
};

/// What one probe observed, kept as far as it got.
#[derive(Debug, Default)]
pub struct Observed {
    pub phases: Phases,
    /// The address checked.
    pub ip: Option<IpAddr>,
    /// Whether a connection was made (`[CONNECTED]`).
    pub connected: bool,
    pub dns: Option<DnsDetails>,
    pub icmp: Option<IcmpDetails>,
    pub tls: Option<TlsDetails>,
    pub tcp: Option<TcpDetails>,
    pub grpc: Option<GrpcDetails>,
    pub push: Option<PushDetails>,
}

/// The start of a probe: its wall-clock time to the microsecond (as events are written and
/// stored) and its monotonic start.
pub fn start() -> (OffsetDateTime, Instant) {
    let now = OffsetDateTime::now_utc();
    let at = now
        .replace_nanosecond(now.nanosecond() / 1000 * 1000)
        .unwrap_or(now);
    (at, Instant::now())
}

/// The failure of a probe that ran out of time during `phase`.
pub fn timed_out(timeout: Duration, phase: &str) -> Failure {
    Failure::new(
        ErrorKind::Timeout,
        format!(
            "timed out after {}s during {}",
            timeout.as_secs_f64(),
            if phase.is_empty() { "start" } else { phase }
        ),
    )
}

/// Runs one probe under the target's timeout: `None` when it ran out of time (the caller then
/// names the phase its record was in, see [`timed_out`]).
pub async fn within<F>(target: &Target, fut: F) -> Option<Result<(), Failure>>
where
    F: std::future::Future<Output = Result<(), Failure>>,
{
    tokio::time::timeout(target.timeout, fut).await.ok()
}

/// The event of a probe of a kind other than HTTP: the shared fields, the kind's object, the
/// conditions' results and the verdict (up unless the check failed or a condition does not
/// hold).
pub fn event(
    target: &Target,
    location: Option<&str>,
    (started_at, start): (OffsetDateTime, Instant),
    obs: Observed,
    outcome: Result<(), Failure>,
) -> ProbeEvent {
    let elapsed = start.elapsed();
    let mut ev = ProbeEvent::new(
        started_at,
        target.kind.as_str(),
        &target.hostname(),
        target.port,
    );
    ev.status_code = None;
    // A ping's response time is its average round trip, as in Gatus: the whole probe also holds
    // the pauses between its echo requests.
    let rtt = obs.icmp.as_ref().and_then(|i| i.rtt_avg_ms);
    ev.response_time_ms = rtt.unwrap_or(elapsed.as_secs_f64() * 1000.0).round() as u64;
    ev.url = Some(masked_url(&target.url));
    ev.target = Some(target.id.clone());
    ev.name = Some(target.name.clone());
    ev.location = location.map(str::to_owned);
    let not_after = obs
        .tls
        .as_ref()
        .and_then(|t| t.chain.first())
        .map(|c| c.not_after);
    // What Gatus reads as the body of a DNS or gRPC check, made only when a condition reads it.
    let body = if conditions::needs_body(target) {
        match (&obs.dns, &obs.grpc) {
            (Some(d), _) => crate::conditions::gatus_dns_body(&d.answers),
            (_, Some(g)) => crate::conditions::gatus_grpc_body(&g.status),
            _ => obs
                .tcp
                .as_ref()
                .and_then(|t| t.matched.first().cloned())
                .unwrap_or_default(),
        }
    } else {
        String::new()
    };
    let judged = conditions::judge(
        target,
        &Seen {
            status: None,
            ip: obs.ip,
            response_time_ms: ev.response_time_ms,
            connected: obs.connected,
            not_after,
            now: OffsetDateTime::now_utc(),
            phases: obs.phases,
            headers: &http::HeaderMap::new(),
            body: body.as_bytes(),
            dns: obs.dns.as_ref().map(|d| {
                (
                    d.rcode.as_str(),
                    d.answers.iter().map(|r| r.data.clone()).collect(),
                )
            }),
            packet_loss: obs.icmp.as_ref().map(|i| i.loss_percent),
        },
    );
    let failure = outcome.err().or_else(|| {
        judged
            .first_failure()
            .map(|resolved| Failure::new(ErrorKind::Condition, resolved))
    });
    ev.up = Some(failure.is_none());
    ev.degraded = judged.degraded_if.map(|d| d && failure.is_none());
    ev.conditions = judged.results;
    if let Some(f) = failure {
        ev.error_kind = Some(f.kind);
        ev.error = Some(f.message);
    }
    ev.phases_ms = Some(obs.phases.rounded()).filter(|p| !p.is_empty());
    ev.ip = obs.ip.map(|ip| ip.to_string());
    ev.tls_cert_not_after = not_after;
    ev.dns = obs.dns;
    ev.icmp = obs.icmp;
    ev.tls = obs.tls;
    ev.tcp = obs.tcp;
    ev.grpc = obs.grpc;
    ev.push = obs.push;
    ev
}
