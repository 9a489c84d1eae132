//! The verdict of a target with conditions (`conditions:`, `degraded_if:`): what the HTTP
//! prober saw, as a `conditions::Context`, and the conditions' results. Kept apart from the
//! prober so that it only hands over what it observed; the language is `crate::conditions`.

use std::net::IpAddr;

use time::OffsetDateTime;

use crate::conditions::{self, ConditionResult, Context};
use crate::config::Target;
use crate::event::Phases;

/// What one probe observed that conditions may read.
pub(super) struct Seen<'a> {
    /// The final response's status; `None` without a response.
    pub status: Option<u16>,
    pub ip: Option<IpAddr>,
    pub response_time_ms: u64,
    /// Whether a TCP connection was made.
    pub connected: bool,
    pub not_after: Option<OffsetDateTime>,
    /// When the certificate's remaining time is counted from.
    pub now: OffsetDateTime,
    pub phases: Phases,
    /// The final response's headers.
    pub headers: &'a http::HeaderMap,
    /// The body kept (only when [`needs_body`]); for DNS and gRPC checks what Gatus reads as
    /// their body.
    pub body: &'a [u8],
    /// A DNS check's response code by name and answers' data.
    pub dns: Option<(&'a str, Vec<String>)>,
    /// An ICMP check's lost requests, in percent.
    pub packet_loss: Option<f64>,
}

/// The conditions' say on one probe.
pub(super) struct Judged {
    /// One per condition, in order; `None` when the target has none.
    pub results: Option<Vec<ConditionResult>>,
    /// Whether a `degraded_if` condition holds; `None` when the target has none.
    pub degraded_if: Option<bool>,
}

impl Judged {
    /// The first failing condition's resolved text: the probe's error.
    pub fn first_failure(&self) -> Option<&str> {
        self.results
            .iter()
            .flatten()
            .find(|r| !r.success)
            .map(|r| r.resolved.as_str())
    }
}

/// Whether the target's conditions read the body (so the prober keeps it).
pub(super) fn needs_body(target: &Target) -> bool {
    all(target).any(|c| c.needs_body())
}

/// Whether the target's conditions read response headers.
fn needs_headers(target: &Target) -> bool {
    all(target).any(|c| c.headers().next().is_some())
}

fn all(target: &Target) -> impl Iterator<Item = &conditions::Condition> {
    target.conditions.iter().chain(&target.degraded_if)
}

/// Evaluates the target's conditions and `degraded_if` against what the probe saw.
pub(super) fn judge(target: &Target, seen: &Seen<'_>) -> Judged {
    if target.conditions.is_empty() && target.degraded_if.is_empty() {
        return Judged {
            results: None,
            degraded_if: None,
        };
    }
    let mut ctx = Context::new()
        .status(seen.status)
        .response_time_ms(seen.response_time_ms)
        .connected(seen.connected)
        .certificate_expiration_ms(seen.not_after.map(|t| {
            (t - seen.now)
                .whole_milliseconds()
                .clamp(i64::MIN.into(), i64::MAX.into()) as i64
        }))
        .phases(seen.phases)
        .body(seen.body);
    if let Some((rcode, answers)) = &seen.dns {
        ctx = ctx.dns_rcode(rcode).dns_answers(answers.iter().cloned());
    }
    if let Some(loss) = seen.packet_loss {
        ctx = ctx.packet_loss(loss);
    }
    if let Some(ip) = seen.ip {
        ctx = ctx.ip(ip.to_string());
    }
    if needs_headers(target) {
        for (name, value) in seen.headers {
            ctx = ctx.header(name.as_str(), String::from_utf8_lossy(value.as_bytes()));
        }
    }
    let results =
        (!target.conditions.is_empty()).then(|| conditions::evaluate(&target.conditions, &ctx));
    let degraded_if = (!target.degraded_if.is_empty())
        .then(|| target.degraded_if.iter().any(|c| c.evaluate(&ctx).success));
    Judged {
        results,
        degraded_if,
    }
}
