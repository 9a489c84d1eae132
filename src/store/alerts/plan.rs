//! What the rules do with a target's applied results, its pause or removal, or an
//! acknowledgement: the notifications to write and the counters to keep. Pure; each store
//! loads the counters, runs this inside its transaction and writes the outcome, so a crash
//! between a state change and its notification cannot happen.
//!
//! Notices are planned with their target named by id only ([`NoticeTarget::bare`]); the store
//! names it (reading the target's row once) before writing them.

use std::collections::{HashMap, HashSet};

use time::OffsetDateTime;

use super::{Notice, NoticeTarget, Observed, channel_of_key};
use crate::state::rules::{Action, Condition, ResolveReason, Rule, RuleState, Seen};
use crate::store::{Micros, from_micros};

/// A notification to write: its channel and what it says.
#[derive(Debug, Clone)]
pub struct Planned {
    pub channel: String,
    pub notice: Notice,
}

/// A target's rule counters, by rule key, as loaded.
pub type States = HashMap<String, RuleState>;

impl NoticeTarget {
    /// A target known by its id only, until the store reads its row.
    pub fn bare(id: &str) -> NoticeTarget {
        NoticeTarget {
            id: id.to_owned(),
            name: id.to_owned(),
            url: String::new(),
            tags: Vec::new(),
        }
    }
}

/// The incidents the fired rules of `states` fired for: those whose acknowledgement the
/// store looks up before [`observe`].
pub fn fired_incidents(states: &States) -> impl Iterator<Item = i64> + '_ {
    states
        .values()
        .filter_map(|s| s.firing.as_ref().and_then(|f| f.incident))
}

/// A new incident key, of the store's incident when one was open.
pub fn new_key(incident: Option<i64>) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    match incident {
        Some(i) => format!("uptimer-{i}-{}", &id[..12]),
        None => format!("uptimer-{}", &id[..12]),
    }
}

/// What an expiring certificate's notification says: when, and how long from the result.
fn certificate_text(not_after: OffsetDateTime, at: OffsetDateTime) -> String {
    let left = not_after - at;
    let date = not_after
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    if left.is_negative() {
        format!("the TLS certificate expired at {date}")
    } else {
        format!(
            "the TLS certificate expires at {date} (in {} days)",
            left.whole_days()
        )
    }
}

/// Runs target `id`'s applied results (in order; each with the target's open incident after
/// it) through its rules. `states` holds the loaded counters and is moved forward; `acked`
/// holds which of [`fired_incidents`] are acknowledged (they get no reminders). Returns the
/// notifications and the keys of the rules whose counters changed.
pub fn observe(
    id: &str,
    rules: &[Rule],
    states: &mut States,
    results: &[(Observed, Option<i64>)],
    acked: &HashSet<i64>,
) -> (Vec<Planned>, Vec<String>) {
    let mut out = Vec::new();
    let mut changed = Vec::new();
    for rule in rules {
        let state = states.entry(rule.key.clone()).or_default();
        let before = state.clone();
        for (o, incident) in results {
            let time = from_micros(o.time);
            let seen = Seen {
                up: o.up,
                degraded: o.degraded,
                cert_not_after: o.cert_not_after.map(from_micros),
                time,
            };
            let Some((failing, condition)) = rule.judge(&seen) else {
                continue;
            };
            // The store's incidents are outages: a degraded result or an expiring certificate
            // is not one (acknowledging an outage does not silence them).
            let incident = &incident.filter(|_| condition == Condition::Down);
            let Some(action) =
                state.observe(rule, !failing, time, *incident, || new_key(*incident))
            else {
                continue;
            };
            let (kind, key, reminder, reason) = match action {
                Action::Trigger { key } => ("trigger", key, 0, None),
                Action::Reminder { key, n } => {
                    // An acknowledged incident is not reminded of.
                    let fired_for = state.firing.as_ref().and_then(|f| f.incident);
                    if fired_for.is_some_and(|i| acked.contains(&i)) {
                        continue;
                    }
                    ("reminder", key, n, None)
                }
                Action::Resolve { key, reason } => {
                    if !rule.send_on_resolved {
                        continue;
                    }
                    ("resolve", key, 0, Some(reason.as_str().to_owned()))
                }
            };
            let failing = kind != "resolve";
            let (severity, error) = match (failing, condition) {
                (false, _) => (rule.resolve_severity(), None),
                (true, Condition::Certificate) => (
                    rule.severity_of(condition),
                    seen.cert_not_after.map(|at| certificate_text(at, time)),
                ),
                (true, Condition::Degraded) => (
                    rule.severity_of(condition),
                    Some(o.error.clone().unwrap_or_else(|| "degraded".into())),
                ),
                (true, Condition::Down) => (rule.severity_of(condition), o.error.clone()),
            };
            let notice = Notice {
                reminder,
                incident: *incident,
                severity,
                condition: if failing {
                    condition
                } else {
                    Condition::default()
                },
                description: rule.description.clone(),
                down_since: state.down_since.filter(|_| failing),
                reason,
                error,
                error_kind: o.error_kind.clone().filter(|_| failing),
                status_code: o.status_code,
                response_time_ms: o.response_time_ms,
                ..Notice::about(kind, key, rule.key.clone(), NoticeTarget::bare(id), time)
            };
            out.push(Planned {
                channel: rule.channel.clone(),
                notice,
            });
        }
        if *state != before {
            changed.push(rule.key.clone());
        }
    }
    (out, changed)
}

/// Ends the rules of target `id` that `keep` does not keep (all of them when `keep` is
/// `None`): a fired one resolves with `reason` (when its channel hears of resolves). Returns
/// the notifications and the keys of the rules whose counters are to be forgotten.
pub fn end(
    id: &str,
    states: States,
    keep: Option<&[Rule]>,
    reason: ResolveReason,
    now: Micros,
) -> (Vec<Planned>, Vec<String>) {
    let mut out = Vec::new();
    let mut forget = Vec::new();
    for (rule_key, mut state) in states {
        let rule = keep.and_then(|rules| rules.iter().find(|r| r.key == rule_key));
        if rule.is_some() && reason == ResolveReason::Removed {
            continue;
        }
        let firing = state.firing.clone();
        if let Some(Action::Resolve { key, reason }) = state.end(reason)
            && rule.is_none_or(|r| r.send_on_resolved)
        {
            let notice = Notice {
                incident: firing.and_then(|f| f.incident),
                severity: rule.map(Rule::resolve_severity).unwrap_or_default(),
                description: rule.and_then(|r| r.description.clone()),
                reason: Some(reason.as_str().to_owned()),
                ..Notice::about(
                    "resolve",
                    key,
                    rule_key.clone(),
                    NoticeTarget::bare(id),
                    from_micros(now),
                )
            };
            out.push(Planned {
                channel: channel_of_key(&rule_key).to_owned(),
                notice,
            });
        }
        forget.push(rule_key);
    }
    (out, forget)
}

/// The `acknowledge` notifications of incident `incident` of target `id`: one for each rule
/// of `states` that fired for it.
pub fn ack(
    id: &str,
    states: &States,
    incident: i64,
    by: Option<&str>,
    now: Micros,
) -> Vec<Planned> {
    let mut out: Vec<Planned> = states
        .iter()
        .filter_map(|(rule_key, state)| {
            let f = state
                .firing
                .as_ref()
                .filter(|f| f.incident == Some(incident))?;
            let notice = Notice {
                incident: Some(incident),
                down_since: state.down_since,
                acknowledged_by: by.map(str::to_owned),
                ..Notice::about(
                    "acknowledge",
                    f.key.clone(),
                    rule_key.clone(),
                    NoticeTarget::bare(id),
                    from_micros(now),
                )
            };
            Some(Planned {
                channel: channel_of_key(rule_key).to_owned(),
                notice,
            })
        })
        .collect();
    // In one order whatever the map's.
    out.sort_by(|a, b| a.notice.rule.cmp(&b.notice.rule));
    out
}

/// Names the target of each of `planned` (all of target `t.id`).
pub fn name_target(planned: &mut [Planned], t: &NoticeTarget) {
    for p in planned {
        p.notice.target = t.clone();
    }
}

/// A rule's stored counters; ones this uptimer cannot read start again rather than stop the
/// writer.
pub fn read_state(target: &str, rule: &str, json: &str) -> RuleState {
    serde_json::from_str(json).unwrap_or_else(|e| {
        tracing::warn!(target, rule, "alert rule state unreadable ({e}): reset");
        RuleState::default()
    })
}
