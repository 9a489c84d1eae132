//! What the rules do with a target's applied results, its pause or removal, or an
//! acknowledgement: the notifications to write and the counters to keep. Pure; each store
//! loads the counters, runs this inside its transaction and writes the outcome, so a crash
//! between a state change and its notification cannot happen.
//!
//! Notices are planned with their target named by id only ([`NoticeTarget::bare`]); the store
//! names it (reading the target's row once) before writing them.

use std::collections::{HashMap, HashSet};

use time::OffsetDateTime;

use super::gate::Failing;
use super::{Notice, NoticeTarget, Observed, channel_of_key};
use crate::state::rules::{Action, Condition, Firing, ResolveReason, Rule, RuleState, Seen};
use crate::store::{Micros, from_micros, to_micros};

/// A notification to write: its channel and what it says.
#[derive(Debug, Clone)]
pub struct Planned {
    pub channel: String,
    pub notice: Notice,
    /// Why it is held back (written as `suppressed`, shown and not sent).
    pub held: Option<String>,
    /// Due at once, in no `group_wait` group: a late trigger, which waited already (a group
    /// due after its resolve would have that resolve cancel it).
    pub at_once: bool,
}

impl Planned {
    pub fn new(channel: &str, notice: Notice) -> Planned {
        Planned {
            channel: channel.to_owned(),
            notice,
            held: None,
            at_once: false,
        }
    }
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

/// Whether a notification to a channel at a time is held back, and why (a silence, a
/// maintenance window, storm control): see [`super::gate::Gate::hold`]. Its arguments: the
/// channel, the time, and since when the target has been failing and its rule has been fired.
pub type Hold<'a> = dyn Fn(&str, Micros, Failing) -> Option<String> + 'a;

/// Runs target `id`'s applied results (in order; each with the target's open incident after
/// it) through its rules. `states` holds the loaded counters and is moved forward; `acked`
/// holds which of [`fired_incidents`] are acknowledged (they get no reminders and do not
/// escalate); `hold` says which notifications are held back. A held trigger is written as
/// suppressed (shown, not sent) and goes out at the first failing result after nothing holds it;
/// its incident, if it recovers first, needs no resolve, unless the trigger only waited for a
/// parent's or canary's next result and that wait is over ([`owed`]): then it goes out late,
/// with its resolve.
pub fn observe(
    id: &str,
    rules: &[Rule],
    states: &mut States,
    results: &[(Observed, Option<i64>)],
    acked: &HashSet<i64>,
    hold: &Hold,
) -> Observation {
    let mut out = Vec::new();
    let mut changed = Vec::new();
    let mut revised = Vec::new();
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
            // A recovery forgets when the failures began; a late trigger still says it.
            let down_before = state.down_since;
            let action = state.observe(rule, !failing, time, *incident, || new_key(*incident));
            let down_since = state.down_since;
            let since = Failing {
                since: down_since.map(to_micros),
                fired: state.firing.as_ref().map(|f| to_micros(f.at)),
                waited_to: None,
            };
            let notice = |kind: &str, key: String, reminder: u32, reason: Option<String>| {
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
                Notice {
                    reminder,
                    incident: *incident,
                    severity,
                    condition: if failing {
                        condition
                    } else {
                        Condition::default()
                    },
                    description: rule.description.clone(),
                    down_since: down_since.filter(|_| failing),
                    reason,
                    error,
                    error_kind: o.error_kind.clone().filter(|_| failing),
                    status_code: o.status_code,
                    response_time_ms: o.response_time_ms,
                    ..Notice::about(kind, key, rule.key.clone(), NoticeTarget::bare(id), time)
                }
            };
            let mut planned: Vec<Planned> = Vec::new();
            match action {
                Some(Action::Trigger { key }) => {
                    let held = hold(&rule.channel, o.time, since);
                    planned.push(Planned {
                        channel: rule.channel.clone(),
                        notice: notice("trigger", key, 0, None),
                        held: held.clone(),
                        at_once: false,
                    });
                    if let Some(f) = &mut state.firing {
                        f.held = held;
                    }
                }
                Some(Action::Reminder { key, n }) => {
                    // An acknowledged incident is not reminded of, nor a held-back channel.
                    let fired_for = state.firing.as_ref().and_then(|f| f.incident);
                    if fired_for.is_none_or(|i| !acked.contains(&i))
                        && hold(&rule.channel, o.time, since).is_none()
                    {
                        planned.push(Planned::new(
                            &rule.channel,
                            notice("reminder", key, n, None),
                        ));
                    }
                }
                Some(Action::Resolve { firing, reason }) => {
                    // A trigger never sent needs no resolve; one sent always gets it. One
                    // held only for a parent's or canary's next result that came (up), or
                    // for group_wait that passed, is owed: it goes out now, then its resolve.
                    let since = down_before.unwrap_or(firing.at);
                    let late = owed(&rule.channel, &firing, since, o.time, hold);
                    if late {
                        let why = firing.held.as_deref().unwrap_or_default();
                        let reason = Some(format!("sent late, after {why}"));
                        let n = notice("trigger", firing.key.clone(), 0, reason);
                        let n = Notice {
                            time: firing.at,
                            incident: firing.incident,
                            down_since: Some(since),
                            status_code: None,
                            response_time_ms: None,
                            ..n
                        };
                        planned.push(Planned {
                            at_once: true,
                            ..Planned::new(&rule.channel, n)
                        });
                    }
                    if firing.held.is_none() || late {
                        let reason = Some(reason.as_str().to_owned());
                        let own = rule.send_on_resolved.then_some(rule.channel.as_str());
                        for c in own.into_iter().chain(firing.also()) {
                            let n = notice("resolve", firing.key.clone(), 0, reason.clone());
                            planned.push(Planned::new(c, n));
                        }
                    }
                }
                None => {
                    // A held trigger goes out at the first failing result nothing holds (and
                    // says so when what holds it changed: a parent checked, now down).
                    if failing
                        && let Some(f) = &mut state.firing
                        && f.held.is_some()
                    {
                        match hold(&rule.channel, o.time, since) {
                            None => {
                                f.held = None;
                                f.released = Some(time);
                                f.last_notified = time;
                                let n = notice("trigger", f.key.clone(), 0, None);
                                planned.push(Planned::new(&rule.channel, n));
                            }
                            Some(why) if f.held.as_ref() != Some(&why) => {
                                revised.push((f.key.clone(), rule.channel.clone(), why.clone()));
                                f.held = Some(why);
                            }
                            Some(_) => {}
                        }
                    }
                }
            }
            let fired_for = state.firing.as_ref().and_then(|f| f.incident);
            if failing && fired_for.is_none_or(|i| !acked.contains(&i)) {
                while let Some(step) = state.escalation_due(rule, time) {
                    for c in &step.channels {
                        let Some(f) = &mut state.firing else { break };
                        if *c == rule.channel || f.escalated.contains(c) {
                            continue;
                        }
                        let held = hold(c, o.time, since);
                        if held.is_none() {
                            f.escalated.push(c.clone());
                        }
                        let n = notice("trigger", f.key.clone(), 0, None);
                        planned.push(Planned {
                            channel: c.clone(),
                            notice: Notice {
                                reason: Some(format!("escalated after {}", human(step.after))),
                                ..n
                            },
                            held,
                            at_once: false,
                        });
                    }
                }
            }
            out.extend(planned);
        }
        if *state != before {
            changed.push(rule.key.clone());
        }
    }
    Observation {
        planned: out,
        changed,
        revised,
    }
}

/// Whether `firing`'s trigger to `channel`, held only to wait for a parent's or canary's
/// next result, is owed now that its target recovered (at `now`; failing since `since`):
/// the wait is over (the result came, or `group_wait` passed) and, judged at the trigger's
/// time, nothing holds it (the parent was not down, the monitor not offline).
fn owed(channel: &str, firing: &Firing, since: OffsetDateTime, now: Micros, hold: &Hold) -> bool {
    if !firing.held.as_deref().is_some_and(super::gate::waits) {
        return false;
    }
    let fired = to_micros(firing.at);
    let failing = Failing {
        since: Some(to_micros(since)),
        fired: Some(fired),
        waited_to: Some(now),
    };
    hold(channel, fired, failing).is_none()
}

/// What [`observe`] made of a target's results.
#[derive(Debug, Default)]
pub struct Observation {
    /// The notifications to write.
    pub planned: Vec<Planned>,
    /// The keys of the rules whose counters changed.
    pub changed: Vec<String>,
    /// Held triggers whose reason changed, as (key, channel, why): their rows say it.
    pub revised: Vec<(String, String, String)>,
}

/// A delay as escalation notices say it (`15m`, `1h30m`).
fn human(d: std::time::Duration) -> String {
    let s = d.as_secs();
    let (h, m, sec) = (s / 3600, s % 3600 / 60, s % 60);
    let mut out = String::new();
    for (n, unit) in [(h, "h"), (m, "m"), (sec, "s")] {
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    if out.is_empty() { "0s".into() } else { out }
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
        // A trigger never sent needs no resolve; one sent always gets it.
        if let Some(Action::Resolve { firing, reason }) = state.end(reason)
            && firing.held.is_none()
        {
            let own = rule
                .is_none_or(|r| r.send_on_resolved)
                .then_some(channel_of_key(&rule_key));
            for c in own.into_iter().chain(firing.also()) {
                let notice = Notice {
                    incident: firing.incident,
                    severity: rule.map(Rule::resolve_severity).unwrap_or_default(),
                    description: rule.and_then(|r| r.description.clone()),
                    reason: Some(reason.as_str().to_owned()),
                    ..Notice::about(
                        "resolve",
                        firing.key.clone(),
                        rule_key.clone(),
                        NoticeTarget::bare(id),
                        from_micros(now),
                    )
                };
                out.push(Planned::new(c, notice));
            }
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
    let mut out: Vec<Planned> = Vec::new();
    for (rule_key, state) in states {
        // A held trigger never went out: nobody is waiting for its acknowledgement.
        let Some(f) = state
            .firing
            .as_ref()
            .filter(|f| f.incident == Some(incident) && f.held.is_none())
        else {
            continue;
        };
        for c in std::iter::once(channel_of_key(rule_key)).chain(f.also()) {
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
            out.push(Planned::new(c, notice));
        }
    }
    // In one order whatever the map's.
    out.sort_by(|a, b| (&a.notice.rule, &a.channel).cmp(&(&b.notice.rule, &b.channel)));
    out
}

/// The target id the monitor's own state is kept under (no target has it), and its rule key.
pub const MONITOR: &str = "@monitor";
pub const MONITOR_RULE: &str = "canaries";

/// What the canaries' state (`offline`: those down, when a quorum) does to the monitor's
/// `state`: "monitor offline" to the canaries' channels when it goes offline, its resolve
/// when it is back. Returns the notifications and the state to keep, when it changed.
pub fn monitor(
    mut state: RuleState,
    offline: Option<Vec<&str>>,
    canaries: &crate::config::storm::Canaries,
    now: Micros,
) -> (Vec<Planned>, Option<RuleState>) {
    let target = NoticeTarget {
        id: MONITOR.into(),
        name: "uptimer (this monitor)".into(),
        url: String::new(),
        tags: Vec::new(),
    };
    let time = from_micros(now);
    let notices = |kind: &str, key: &str, error: Option<String>, reason: Option<String>| {
        canaries
            .channels
            .iter()
            .map(|c| {
                let n = Notice {
                    description: Some(
                        "the monitor's connectivity canaries: while a quorum of them fail, \
                         targets' notifications are held"
                            .into(),
                    ),
                    error: error.clone(),
                    reason: reason.clone(),
                    ..Notice::about(kind, key.into(), MONITOR_RULE.into(), target.clone(), time)
                };
                Planned::new(c, n)
            })
            .collect::<Vec<_>>()
    };
    match (offline, &state.firing) {
        (Some(down), None) => {
            let key = new_key(None).replace("uptimer-", "uptimer-monitor-offline-");
            state.down_since = Some(time);
            state.firing = Some(crate::state::rules::Firing::new(key.clone(), None, time));
            let error = super::gate::offline_text(&down, canaries.targets.len());
            (notices("trigger", &key, Some(error), None), Some(state))
        }
        (None, Some(f)) => {
            let key = f.key.clone();
            let out = notices("resolve", &key, None, Some("the canaries recovered".into()));
            (out, Some(RuleState::default()))
        }
        _ => (Vec::new(), None),
    }
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
