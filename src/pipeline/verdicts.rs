//! One info line in the log when a target's verdict changes: it went down, it is up again, or
//! it is unknown (no result for three intervals). Every probe result of `run` and `serve`
//! passes through the scheduler, which keeps one [`Verdicts`] per target: the target-state
//! machine's state (`crate::state`), the same the stores keep, so the log agrees with the
//! dashboard.
//!
//! The first result after start is told only when it is down or degraded: a restart with a
//! thousand healthy targets logs nothing, one with a broken or slow target says so at once.
//! Degraded (up, but a `degraded_if` condition holds) is told both ways; flapping is told
//! neither way: the log follows up, degraded and down.

use std::time::Duration;

use time::OffsetDateTime;

use crate::config::Target;
use crate::config::target::masked_url;
use crate::event::ProbeEvent;
use crate::state::{Check, Input, Status, TargetState, Transition};

/// A change worth a line in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The first result after start is down.
    Down,
    /// Up (or unknown) before, down now.
    WentDown,
    /// Down (or unknown) before, up now; with how long it was not up, if known, and whether
    /// it is degraded.
    UpAgain {
        after: Option<Duration>,
        degraded: bool,
    },
    /// Up (or flapping, or the first result) before, degraded now.
    Degraded,
    /// Degraded before, up (or flapping) now, after being degraded this long.
    NoLongerDegraded { after: Duration },
    /// No result for three intervals (and the grace).
    Unknown { silent_for: Duration },
}

/// One target's state, as the log sees it.
#[derive(Debug, Default)]
pub struct Verdicts {
    state: TargetState,
    /// When the target turned degraded, while it is.
    degraded_since: Option<OffsetDateTime>,
}

/// `to - from`, never negative.
fn since(from: OffsetDateTime, to: OffsetDateTime) -> Duration {
    Duration::try_from(to - from).unwrap_or_default()
}

impl Verdicts {
    /// Takes a probe result: its verdict, and its event's time and uuid.
    pub fn observe(&mut self, e: &ProbeEvent) -> Option<Change> {
        let before = self.state;
        let check = Check {
            time: e.envelope.event_time,
            uuid: e.envelope.uuid,
            up: e.up == Some(true),
            degraded: e.degraded == Some(true),
        };
        let transitions = self.state.apply(Input::Result(check), check.time);
        let to = transitions.iter().find_map(|t| match t {
            Transition::Status { to, .. } => Some(*to),
            _ => None,
        })?;
        let known = before.last.is_some();
        let degraded_since = self.degraded_since.take();
        if to == Status::Degraded {
            self.degraded_since = Some(check.time);
        }
        match (before.status.is_up(), to) {
            (_, Status::Down) if !known => Some(Change::Down),
            (_, Status::Down) => Some(Change::WentDown),
            // Up from down or unknown: not up since the incident began, or since the last
            // (passing) result before the silence.
            (false, Status::Up | Status::Flapping | Status::Degraded) if known => {
                let from = before.incident.or(before.last.map(|l| l.time));
                Some(Change::UpAgain {
                    after: from.map(|f| since(f, check.time)),
                    degraded: to == Status::Degraded,
                })
            }
            (_, Status::Degraded) => Some(Change::Degraded),
            (true, Status::Up | Status::Flapping) if before.status == Status::Degraded => {
                Some(Change::NoLongerDegraded {
                    after: degraded_since.map_or_else(Duration::default, |f| since(f, check.time)),
                })
            }
            _ => None,
        }
    }

    /// When the target turns unknown if no result comes before, for a target probed every
    /// `period`; `None` before its first result (it was never known) or once unknown.
    pub fn unknown_at(&self, period: Duration) -> Option<OffsetDateTime> {
        self.state.unknown_at(period)
    }

    /// The clock reached [`Verdicts::unknown_at`] (`now`, or later) with no result.
    pub fn unknown(&mut self, period: Duration, now: OffsetDateTime) -> Option<Change> {
        // The timer went by the monotonic clock: do not let the wall clock say it is early.
        let now = self.unknown_at(period).map_or(now, |at| now.max(at));
        let last = self.state.last?.time;
        let changed = self.state.apply(Input::Tick { interval: period }, now);
        (!changed.is_empty()).then(|| Change::Unknown {
            silent_for: since(last, now),
        })
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
        Change::UpAgain { after, degraded } => {
            let down_for_s = after.map_or(0, |d| d.as_secs());
            tracing::info!(%name, %url, down_for_s, degraded, %id, "target is up again");
        }
        Change::Degraded => {
            let response_ms = event.map_or(0, |e| e.response_time_ms);
            tracing::info!(%name, %url, response_ms, %id, "target is degraded");
        }
        Change::NoLongerDegraded { after } => {
            let degraded_for_s = after.as_secs();
            tracing::info!(%name, %url, degraded_for_s, %id, "target is no longer degraded");
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

    const T0: OffsetDateTime = time::macros::datetime!(2026-12-01 12:00:00 UTC);

    fn result(secs: u64, up: bool) -> ProbeEvent {
        let mut e = ProbeEvent::new(
            T0 + Duration::from_secs(secs),
            "https",
            "example.com",
            Some(443),
        );
        e.up = Some(up);
        e
    }

    #[test]
    fn only_changes_are_told_and_a_healthy_start_is_silent() {
        let mut v = Verdicts::default();
        assert_eq!(v.observe(&result(0, true)), None);
        assert_eq!(v.observe(&result(10, true)), None);
        assert_eq!(v.observe(&result(20, false)), Some(Change::WentDown));
        assert_eq!(v.observe(&result(30, false)), None);
        assert_eq!(
            v.observe(&result(50, true)),
            Some(Change::UpAgain {
                after: Some(Duration::from_secs(30)),
                degraded: false
            })
        );
        assert_eq!(v.observe(&result(60, true)), None, "flapping is not told");
        assert_eq!(v.observe(&result(70, false)), Some(Change::WentDown));

        let mut v = Verdicts::default();
        assert_eq!(v.observe(&result(0, false)), Some(Change::Down));
        assert_eq!(v.observe(&result(10, false)), None);
    }

    fn degraded(secs: u64) -> ProbeEvent {
        let mut e = result(secs, true);
        e.degraded = Some(true);
        e
    }

    #[test]
    fn degraded_and_back_are_told_and_never_as_down() {
        let mut v = Verdicts::default();
        assert_eq!(v.observe(&result(0, true)), None);
        assert_eq!(v.observe(&degraded(10)), Some(Change::Degraded));
        assert_eq!(v.observe(&degraded(20)), None, "still degraded");
        assert_eq!(
            v.observe(&result(40, true)),
            Some(Change::NoLongerDegraded {
                after: Duration::from_secs(30)
            })
        );
        assert_eq!(v.observe(&result(50, false)), Some(Change::WentDown));
        assert_eq!(
            v.observe(&degraded(60)),
            Some(Change::UpAgain {
                after: Some(Duration::from_secs(10)),
                degraded: true
            }),
            "down to degraded: up again, and degraded"
        );
        assert_eq!(v.observe(&result(70, false)), Some(Change::WentDown));

        let mut v = Verdicts::default();
        assert_eq!(
            v.observe(&degraded(0)),
            Some(Change::Degraded),
            "a degraded target says so at start"
        );
    }

    #[test]
    fn a_late_or_repeated_result_is_not_told() {
        let mut v = Verdicts::default();
        v.observe(&result(10, true));
        let late = result(5, false);
        assert_eq!(v.observe(&late), None, "older than the last: history");
        let down = result(20, false);
        assert_eq!(v.observe(&down), Some(Change::WentDown));
        assert_eq!(v.observe(&down), None, "the same event twice");
    }

    #[test]
    fn unknown_after_three_intervals_and_the_grace_then_known_again() {
        let period = Duration::from_secs(10);
        let mut v = Verdicts::default();
        assert_eq!(
            v.unknown_at(period),
            None,
            "never known: not unknown either"
        );
        v.observe(&result(0, true));
        let at = v.unknown_at(period).unwrap();
        assert_eq!(at, T0 + Duration::from_secs(35));
        assert_eq!(
            v.unknown(period, at - Duration::from_millis(3)),
            Some(Change::Unknown {
                silent_for: Duration::from_secs(35)
            }),
            "a wall clock a little behind the timer does not lose the change"
        );
        assert_eq!(v.unknown_at(period), None, "told once");
        assert_eq!(v.unknown(period, at + period), None);
        assert_eq!(
            v.observe(&result(45, true)),
            Some(Change::UpAgain {
                after: Some(Duration::from_secs(45)),
                degraded: false
            })
        );
        let at = v.unknown_at(period).unwrap();
        v.unknown(period, at);
        assert_eq!(v.observe(&result(200, false)), Some(Change::WentDown));
    }
}
