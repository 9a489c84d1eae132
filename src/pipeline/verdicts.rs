//! One info line in the log when a target's verdict changes: it went down, it is up again, or
//! it is unknown (no result for three intervals). Every probe result of `run` and `serve`
//! passes through the scheduler, which keeps one [`Verdicts`] per target.
//!
//! The first result after start is told only when it is down: a restart with a thousand
//! healthy targets logs nothing, one with a broken target says so at once. This is the
//! scheduler's own small view, kept apart so that the shared target-state machine (DESIGN.md)
//! can take its place.

use std::time::Duration;

use tokio::time::Instant;

use crate::config::Target;
use crate::config::target::masked_url;
use crate::event::ProbeEvent;

/// What the store adds to three intervals before it calls a target unknown (time for the
/// event to be written); the log uses the same rule so that it agrees with the dashboard.
pub const UNKNOWN_GRACE: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Up,
    Down,
    Unknown,
}

/// A change worth a line in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The first result after start is down.
    Down,
    /// Up (or unknown) before, down now.
    WentDown,
    /// Down (or unknown) before, up now; with how long it was not up, if known.
    UpAgain { after: Option<Duration> },
    /// No result for three intervals (and the grace).
    Unknown { silent_for: Duration },
}

/// One target's last verdict.
#[derive(Debug, Default)]
pub struct Verdicts {
    last: Option<Verdict>,
    /// When the last result's probe started (the event's time, which the store goes by).
    last_result: Option<Instant>,
    /// When the target stopped being up, while it is not.
    not_up_since: Option<Instant>,
}

impl Verdicts {
    /// Takes the result of a probe that started at `started`.
    pub fn observe(&mut self, up: bool, started: Instant) -> Option<Change> {
        let now = if up { Verdict::Up } else { Verdict::Down };
        let before = self.last.replace(now);
        self.last_result = Some(started);
        if before == Some(now) {
            return None;
        }
        match (before, now) {
            (None, Verdict::Up) => None,
            (None, _) => {
                self.not_up_since = Some(started);
                Some(Change::Down)
            }
            (_, Verdict::Up) => Some(Change::UpAgain {
                after: self
                    .not_up_since
                    .take()
                    .map(|t| started.saturating_duration_since(t)),
            }),
            (Some(Verdict::Up), _) => {
                self.not_up_since = Some(started);
                Some(Change::WentDown)
            }
            // Unknown, then down: it stayed not up all along.
            (Some(_), _) => Some(Change::WentDown),
        }
    }

    /// When the target turns unknown if no result comes before, for a target probed every
    /// `period`; `None` before its first result (it was never known) or once unknown.
    pub fn unknown_at(&self, period: Duration) -> Option<Instant> {
        match self.last {
            Some(Verdict::Up | Verdict::Down) => self
                .last_result
                .map(|t| t + period.saturating_mul(3) + UNKNOWN_GRACE),
            _ => None,
        }
    }

    /// No result came by [`Verdicts::unknown_at`].
    pub fn unknown(&mut self, now: Instant) -> Change {
        if self.last == Some(Verdict::Up) {
            self.not_up_since = self.last_result;
        }
        self.last = Some(Verdict::Unknown);
        Change::Unknown {
            silent_for: self
                .last_result
                .map_or(Duration::ZERO, |t| now.saturating_duration_since(t)),
        }
    }
}

/// Writes the line for `change` (at info level: a state change is news, not a fault of the
/// process), with the event that caused it when there is one.
pub fn tell(change: Change, target: &Target, event: Option<&ProbeEvent>) {
    let url = masked_url(&target.url);
    let error = event.and_then(|e| e.error.as_deref()).unwrap_or_default();
    let kind = event.and_then(|e| e.error_kind).map_or("", |k| k.as_str());
    let (id, name) = (&target.id, &target.name);
    match change {
        Change::Down => {
            tracing::info!(%name, %url, error_kind = %kind, %error, %id, "target is down");
        }
        Change::WentDown => {
            tracing::info!(%name, %url, error_kind = %kind, %error, %id, "target went down");
        }
        Change::UpAgain { after } => {
            let down_for_s = after.map_or(0, |d| d.as_secs());
            tracing::info!(%name, %url, down_for_s, %id, "target is up again");
        }
        Change::Unknown { silent_for } => {
            let no_result_for_s = silent_for.as_secs();
            tracing::info!(
                %name, %url, no_result_for_s, %id,
                "target is unknown: no result for three intervals"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_changes_are_told_and_a_healthy_start_is_silent() {
        let t0 = Instant::now();
        let s = |n: u64| t0 + Duration::from_secs(n);
        let mut v = Verdicts::default();
        assert_eq!(v.observe(true, s(0)), None);
        assert_eq!(v.observe(true, s(10)), None);
        assert_eq!(v.observe(false, s(20)), Some(Change::WentDown));
        assert_eq!(v.observe(false, s(30)), None);
        assert_eq!(
            v.observe(true, s(50)),
            Some(Change::UpAgain {
                after: Some(Duration::from_secs(30))
            })
        );

        let mut v = Verdicts::default();
        assert_eq!(v.observe(false, s(0)), Some(Change::Down));
        assert_eq!(v.observe(false, s(10)), None);
    }

    #[test]
    fn unknown_after_three_intervals_and_the_grace_then_known_again() {
        let t0 = Instant::now();
        let period = Duration::from_secs(10);
        let mut v = Verdicts::default();
        assert_eq!(
            v.unknown_at(period),
            None,
            "never known: not unknown either"
        );
        v.observe(true, t0);
        let at = v.unknown_at(period).unwrap();
        assert_eq!(at, t0 + Duration::from_secs(35));
        assert_eq!(
            v.unknown(at),
            Change::Unknown {
                silent_for: Duration::from_secs(35)
            }
        );
        assert_eq!(v.unknown_at(period), None, "told once");
        assert_eq!(
            v.observe(true, at + period),
            Some(Change::UpAgain {
                after: Some(Duration::from_secs(45))
            })
        );
        v.unknown(at + period * 10);
        assert_eq!(v.observe(false, at + period * 11), Some(Change::WentDown));
    }
}
