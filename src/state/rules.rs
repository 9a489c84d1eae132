//! Alert rules over a target's results: when a rule fires (its threshold met), reminds, and
//! resolves. The target-state machine opens an incident on the first failure; each rule keeps
//! its own counters over the same results, so one incident can notify different channels at
//! different thresholds. Pure: the store keeps a [`RuleState`] per (target, rule) in the same
//! transaction as the target's state and writes the [`Action`]s into its outbox.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The most results a `window` looks back over.
pub const MAX_WINDOW: u32 = 64;

/// When a rule fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Threshold {
    /// This many failures in a row (Gatus's `failure-threshold`).
    Consecutive(u32),
    /// `failures` among the last `of` results (`window: {failures: k, of: n}`): a target that
    /// fails two checks of every three fires; consecutive counting never would.
    Window { failures: u32, of: u32 },
}

/// What a rule watches for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Watch {
    /// Failed results (the default).
    #[default]
    Down,
    /// Failed results and passes that met a `degraded_if` condition (`degraded: true`).
    Degraded,
    /// Results whose TLS certificate expires within this long
    /// (`certificate_expires_within: 14d`); results without a certificate are not counted.
    CertificateExpiresWithin(Duration),
}

/// What a result that counts against a rule showed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Condition {
    #[default]
    Down,
    Degraded,
    Certificate,
}

impl Condition {
    pub const fn as_str(self) -> &'static str {
        match self {
            Condition::Down => "down",
            Condition::Degraded => "degraded",
            Condition::Certificate => "certificate",
        }
    }
}

/// A result as the rules see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    pub up: bool,
    pub degraded: bool,
    /// The end of the certificate's validity, for results that had one.
    pub cert_not_after: Option<OffsetDateTime>,
    pub time: OffsetDateTime,
}

/// How bad a fired rule says it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    #[default]
    Critical,
    Warning,
    Info,
}

impl Severity {
    pub const fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }

    pub fn parse(s: &str) -> Option<Severity> {
        [Severity::Critical, Severity::Warning, Severity::Info]
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

/// One alert rule of a target, as configured (validated).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rule {
    /// The channel it notifies (a name of `channels:`).
    pub channel: String,
    /// The rule's key among its target's rules: its channel, and `#2`, `#3`… for a second
    /// rule to the same channel. Its counters are stored under it.
    pub key: String,
    /// `enabled: false` keeps a channel's rule from applying (a target's own disabled rule
    /// replaces a tag's or the default one); disabled rules are dropped at load.
    pub enabled: bool,
    pub threshold: Threshold,
    /// Passes in a row that resolve a fired rule (`success-threshold`, default 2).
    pub success_threshold: u32,
    /// Whether a chat or email channel is told of the recovery (`send-on-resolved`). Channels
    /// that track incidents (PagerDuty, Opsgenie, webhook) always are.
    pub send_on_resolved: bool,
    pub description: Option<String>,
    /// Down for at least this long before it fires (`for:`), on top of the threshold.
    pub for_at_least: Option<Duration>,
    /// A reminder at most this often while it stays fired (`minimum-reminder-interval`).
    pub remind_every: Option<Duration>,
    /// At most this many reminders per incident (`reminder_max`).
    pub reminder_max: Option<u32>,
    /// What it fires on.
    pub watch: Watch,
    /// The severity its notifications carry: as configured, else critical for a failed
    /// result and warning for a degraded one or an expiring certificate.
    pub severity: Option<Severity>,
    /// Escalation steps (`escalate:`), in order of `after`: each pages more channels while
    /// the incident stays unacknowledged and unresolved.
    pub escalate: Vec<Step>,
}

/// One escalation step: once the rule has been fired for `after`, its incident goes to
/// `channels` too.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Step {
    pub after: Duration,
    pub channels: Vec<String>,
}

impl Rule {
    /// Whether a result counts against this rule (`Some(true)` it fails, with what it
    /// showed), passes (`Some(false)`), or is not counted (`None`: a certificate rule's
    /// result without a certificate).
    pub fn judge(&self, r: &Seen) -> Option<(bool, Condition)> {
        match self.watch {
            Watch::Down => Some((!r.up, Condition::Down)),
            Watch::Degraded if !r.up => Some((true, Condition::Down)),
            Watch::Degraded => Some((r.degraded, Condition::Degraded)),
            Watch::CertificateExpiresWithin(within) => {
                let left = r.cert_not_after? - r.time;
                Some((left <= within, Condition::Certificate))
            }
        }
    }

    /// The severity of a notification about `condition`.
    pub fn severity_of(&self, condition: Condition) -> Severity {
        self.severity.unwrap_or(match condition {
            Condition::Down => Severity::Critical,
            Condition::Degraded | Condition::Certificate => Severity::Warning,
        })
    }

    /// The severity of a resolve: as its rule's main condition.
    pub fn resolve_severity(&self) -> Severity {
        self.severity_of(match self.watch {
            Watch::Down => Condition::Down,
            Watch::Degraded => Condition::Degraded,
            Watch::CertificateExpiresWithin(_) => Condition::Certificate,
        })
    }
}

/// A fired rule: the notification sent and what the later ones reuse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Firing {
    /// The incident's stable key (PagerDuty's `dedup_key`, Opsgenie's `alias`, the webhook's
    /// `Idempotency-Key`, the email `Message-ID`); reminders and the resolve reuse it.
    pub key: String,
    /// The store's incident that was open when it fired.
    pub incident: Option<i64>,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// When the trigger or the latest reminder was made.
    #[serde(with = "time::serde::rfc3339")]
    pub last_notified: OffsetDateTime,
    pub reminders: u32,
    /// Why its trigger has not been sent (a silence, a maintenance window, a parent down):
    /// set while it is held back, cleared when the trigger goes out. A held trigger that
    /// never went out needs no resolve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held: Option<String>,
    /// When a held trigger went out at last: escalation counts from then, so a trigger a
    /// maintenance window held for hours does not page every step at once on release.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub released: Option<OffsetDateTime>,
    /// How many escalation steps were taken, and the channels they paged (told of the
    /// acknowledgement and the resolve like the rule's own channel).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub steps: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub escalated: Vec<String>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Firing {
    /// Fired at `time`, with incident key `key`, while the store's incident `incident` was open.
    pub fn new(key: String, incident: Option<i64>, time: OffsetDateTime) -> Firing {
        Firing {
            key,
            incident,
            at: time,
            last_notified: time,
            reminders: 0,
            held: None,
            released: None,
            steps: 0,
            escalated: Vec::new(),
        }
    }

    /// The channels told of this incident besides the rule's own: those escalation paged.
    pub fn also(&self) -> impl Iterator<Item = &str> {
        self.escalated.iter().map(String::as_str)
    }
}

/// A rule's counters over its target's results: all the store keeps of it between results.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleState {
    /// Failures in a row.
    pub failures: u32,
    /// Passes in a row.
    pub passes: u32,
    /// The latest results, bit 0 the latest, set when it failed.
    pub window: u64,
    /// How many results `window` holds (at most [`MAX_WINDOW`]).
    pub seen: u32,
    /// The time of the first failure of the current run of failures.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub down_since: Option<OffsetDateTime>,
    #[serde(default)]
    pub firing: Option<Firing>,
}

/// What a result made a rule do: a notification for the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// The rule fired: a new incident for its channel.
    Trigger { key: String },
    /// Still down, and the reminder interval has passed: reminder number `n` (from 1).
    Reminder { key: String, n: u32 },
    /// The rule's incident is over. Whether the channel hears of it (always for
    /// incident-tracking channels, else `send-on-resolved`; never when its trigger was held
    /// back and not sent) is the caller's to decide.
    Resolve {
        firing: Box<Firing>,
        reason: ResolveReason,
    },
}

/// Why a fired rule resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResolveReason {
    /// Its success threshold was met.
    Recovered,
    /// The target was paused.
    Paused,
    /// The target (or the rule) left the configuration.
    Removed,
}

impl ResolveReason {
    pub const fn as_str(self) -> &'static str {
        match self {
            ResolveReason::Recovered => "recovered",
            ResolveReason::Paused => "target paused",
            ResolveReason::Removed => "target removed",
        }
    }
}

impl RuleState {
    fn failures_in_window(&self, of: u32) -> u32 {
        let n = of.min(MAX_WINDOW);
        let mask = if n >= 64 { u64::MAX } else { (1u64 << n) - 1 };
        (self.window & mask).count_ones()
    }

    fn threshold_met(&self, rule: &Rule) -> bool {
        match rule.threshold {
            Threshold::Consecutive(n) => self.failures >= n.max(1),
            Threshold::Window { failures, of } => {
                self.seen.min(of) >= failures.min(of)
                    && self.failures_in_window(of) >= failures.max(1)
            }
        }
    }

    /// Takes one applied result of the rule's target (`up`, at `time`). `incident` is the
    /// store's open incident after it (a failure always has one) and `key` makes the new
    /// incident key when the rule fires.
    pub fn observe(
        &mut self,
        rule: &Rule,
        up: bool,
        time: OffsetDateTime,
        incident: Option<i64>,
        key: impl FnOnce() -> String,
    ) -> Option<Action> {
        self.window = (self.window << 1) | u64::from(!up);
        self.seen = (self.seen + 1).min(MAX_WINDOW);
        if up {
            self.failures = 0;
            self.passes = self.passes.saturating_add(1);
            self.down_since = None;
            if self.passes >= rule.success_threshold.max(1)
                && let Some(f) = self.firing.take()
            {
                return Some(Action::Resolve {
                    firing: Box::new(f),
                    reason: ResolveReason::Recovered,
                });
            }
            return None;
        }
        self.passes = 0;
        self.failures = self.failures.saturating_add(1);
        let since = *self.down_since.get_or_insert(time);
        if let Some(f) = &mut self.firing {
            // A held trigger is not reminded of: the caller sends it once nothing holds it.
            let due = f.held.is_none()
                && rule.remind_every.is_some_and(|every| {
                    time - f.last_notified >= every
                        && rule.reminder_max.is_none_or(|max| f.reminders < max)
                });
            if !due {
                return None;
            }
            f.reminders += 1;
            f.last_notified = time;
            return Some(Action::Reminder {
                key: f.key.clone(),
                n: f.reminders,
            });
        }
        let long_enough = rule.for_at_least.is_none_or(|d| time - since >= d);
        if !(self.threshold_met(rule) && long_enough) {
            return None;
        }
        let key = key();
        self.firing = Some(Firing::new(key.clone(), incident, time));
        Some(Action::Trigger { key })
    }

    /// The escalation step due at `time` for a fired rule whose trigger went out (the caller
    /// asks only while its incident is unacknowledged): taken, so it is due once. Delays
    /// count from when the trigger went out. The caller adds the channels it paged to
    /// [`Firing::escalated`].
    pub fn escalation_due<'r>(&mut self, rule: &'r Rule, time: OffsetDateTime) -> Option<&'r Step> {
        let f = self.firing.as_mut().filter(|f| f.held.is_none())?;
        let step = rule.escalate.get(f.steps as usize)?;
        if time - f.released.unwrap_or(f.at) < step.after {
            return None;
        }
        f.steps += 1;
        Some(step)
    }

    /// The target stopped being monitored (paused, removed, or the rule is gone): a fired
    /// rule resolves, and the counters start again.
    pub fn end(&mut self, reason: ResolveReason) -> Option<Action> {
        let firing = self.firing.take();
        *self = RuleState::default();
        firing.map(|f| Action::Resolve {
            firing: Box::new(f),
            reason,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(threshold: Threshold) -> Rule {
        Rule {
            channel: "ops".into(),
            key: "ops".into(),
            enabled: true,
            threshold,
            success_threshold: 2,
            send_on_resolved: true,
            description: None,
            for_at_least: None,
            remind_every: None,
            reminder_max: None,
            watch: Watch::Down,
            severity: None,
            escalate: Vec::new(),
        }
    }

    fn at(s: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_700_000_000 + s).unwrap()
    }

    /// Runs results (`u` passed, `d` failed, one per 10 s) and names what each did.
    fn run(rule: &Rule, results: &str) -> Vec<String> {
        let mut s = RuleState::default();
        let mut n = 0;
        results
            .bytes()
            .enumerate()
            .filter_map(|(i, b)| {
                s.observe(rule, b == b'u', at(i as i64 * 10), Some(1), || {
                    n += 1;
                    format!("k{n}")
                })
                .map(|a| match a {
                    Action::Trigger { key } => format!("{i}:trigger {key}"),
                    Action::Reminder { key, n } => format!("{i}:reminder {key} {n}"),
                    Action::Resolve { firing, .. } => format!("{i}:resolve {}", firing.key),
                })
            })
            .collect()
    }

    #[test]
    fn consecutive_failures_fire_once_and_passes_resolve() {
        let r = rule(Threshold::Consecutive(3));
        assert_eq!(run(&r, "uddudddddduudd"), ["6:trigger k1", "11:resolve k1"]);
    }

    #[test]
    fn a_flapping_target_fires_by_window_and_never_by_consecutive_count() {
        let flaps = "ddu".repeat(6);
        assert!(run(&rule(Threshold::Consecutive(3)), &flaps).is_empty());
        let r = rule(Threshold::Window { failures: 4, of: 6 });
        // The fourth failure among six results is the 5th result (d d u d d).
        assert_eq!(run(&r, &flaps), ["4:trigger k1"]);
        // It resolves only after two passes in a row (the last flap's pass and one more).
        assert_eq!(
            run(&r, &format!("{flaps}uu")),
            ["4:trigger k1", "18:resolve k1"]
        );
    }

    #[test]
    fn a_window_needs_as_many_results_as_it_counts_failures() {
        let r = rule(Threshold::Window { failures: 2, of: 5 });
        assert_eq!(run(&r, "d"), Vec::<String>::new());
        assert_eq!(run(&r, "dd"), ["1:trigger k1"]);
    }

    #[test]
    fn for_waits_until_down_long_enough() {
        let mut r = rule(Threshold::Consecutive(1));
        r.for_at_least = Some(Duration::from_secs(30));
        // Failures at 0, 10, 20, 30 s: down for 30 s at the fourth.
        assert_eq!(run(&r, "dddd"), ["3:trigger k1"]);
        // A pass starts the clock again.
        assert_eq!(run(&r, "dddudddd"), ["7:trigger k1"]);
    }

    #[test]
    fn reminders_follow_the_interval_and_stop_at_the_maximum() {
        let mut r = rule(Threshold::Consecutive(1));
        r.remind_every = Some(Duration::from_secs(20));
        r.reminder_max = Some(2);
        assert_eq!(
            run(&r, "dddddddduu"),
            [
                "0:trigger k1",
                "2:reminder k1 1",
                "4:reminder k1 2",
                "9:resolve k1"
            ]
        );
    }

    #[test]
    fn ending_a_fired_rule_resolves_it_and_a_quiet_one_says_nothing() {
        let r = rule(Threshold::Consecutive(1));
        let mut s = RuleState::default();
        assert!(s.end(ResolveReason::Paused).is_none());
        s.observe(&r, false, at(0), Some(7), || "k".into());
        let Some(Action::Resolve { firing, reason }) = s.end(ResolveReason::Paused) else {
            panic!("a fired rule resolves when it ends");
        };
        assert_eq!((firing.key.as_str(), reason), ("k", ResolveReason::Paused));
        assert_eq!(s, RuleState::default());
    }

    #[test]
    fn escalation_steps_come_due_once_each_after_their_delay() {
        let mut r = rule(Threshold::Consecutive(1));
        r.escalate = vec![
            Step {
                after: Duration::from_secs(900),
                channels: vec!["oncall".into()],
            },
            Step {
                after: Duration::from_secs(3600),
                channels: vec!["managers".into(), "ops".into()],
            },
        ];
        let mut s = RuleState::default();
        assert!(s.escalation_due(&r, at(0)).is_none(), "nothing fired yet");
        s.observe(&r, false, at(0), Some(7), || "k".into());
        assert!(s.escalation_due(&r, at(899)).is_none());
        assert_eq!(s.escalation_due(&r, at(900)), Some(&r.escalate[0]));
        assert!(s.escalation_due(&r, at(1000)).is_none(), "taken once");
        assert_eq!(s.escalation_due(&r, at(3600)), Some(&r.escalate[1]));
        assert!(s.escalation_due(&r, at(9000)).is_none());
        assert_eq!(s.firing.as_ref().unwrap().steps, 2);
        // A held trigger does not escalate.
        let mut held = RuleState::default();
        held.observe(&r, false, at(0), Some(7), || "k".into());
        held.firing.as_mut().unwrap().held = Some("silenced".into());
        assert!(held.escalation_due(&r, at(5000)).is_none());
        // Released after 2 hours: its steps count from then, not from the firing.
        let f = held.firing.as_mut().unwrap();
        (f.held, f.released) = (None, Some(at(7200)));
        assert!(held.escalation_due(&r, at(7201)).is_none());
        assert_eq!(held.escalation_due(&r, at(8100)), Some(&r.escalate[0]));
        assert!(held.escalation_due(&r, at(9000)).is_none());
        assert_eq!(held.escalation_due(&r, at(10_800)), Some(&r.escalate[1]));
    }

    #[test]
    fn the_state_survives_a_round_trip_through_json() {
        let r = rule(Threshold::Consecutive(1));
        let mut s = RuleState::default();
        s.observe(&r, false, at(0), Some(7), || "k".into());
        let text = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<RuleState>(&text).unwrap(), s);
    }

    #[test]
    fn rules_judge_down_degraded_and_expiring_certificates_with_their_severity() {
        let down = rule(Threshold::Consecutive(1));
        let degraded = Rule {
            watch: Watch::Degraded,
            ..down.clone()
        };
        let cert = Rule {
            watch: Watch::CertificateExpiresWithin(Duration::from_secs(14 * 86400)),
            ..down.clone()
        };
        // (rule, up, degraded, certificate days left) → judged.
        let cases = [
            (&down, false, false, None, Some((true, Condition::Down))),
            (&down, true, true, None, Some((false, Condition::Down))),
            (
                &degraded,
                true,
                true,
                None,
                Some((true, Condition::Degraded)),
            ),
            (&degraded, false, false, None, Some((true, Condition::Down))),
            (
                &degraded,
                true,
                false,
                None,
                Some((false, Condition::Degraded)),
            ),
            (
                &cert,
                true,
                false,
                Some(10),
                Some((true, Condition::Certificate)),
            ),
            (
                &cert,
                true,
                false,
                Some(30),
                Some((false, Condition::Certificate)),
            ),
            (&cert, false, false, None, None),
        ];
        for (i, (r, up, degraded, days_left, judged)) in cases.into_iter().enumerate() {
            let seen = Seen {
                up,
                degraded,
                cert_not_after: days_left.map(|d| at(0) + time::Duration::days(d)),
                time: at(0),
            };
            assert_eq!(r.judge(&seen), judged, "case {i}");
        }
        assert_eq!(down.severity_of(Condition::Down), Severity::Critical);
        assert_eq!(degraded.severity_of(Condition::Degraded), Severity::Warning);
        assert_eq!(cert.resolve_severity(), Severity::Warning);
        let told = Rule {
            severity: Some(Severity::Info),
            ..cert
        };
        assert_eq!(told.severity_of(Condition::Certificate), Severity::Info);
    }
}
