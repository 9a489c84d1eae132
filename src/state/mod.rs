//! The target-state machine: what a target is (up, degraded, flapping, down, unknown, paused)
//! and when its incidents open and close, as one pure function of (state, input, now). Every user of a
//! target's state goes through it: both stores' writers, the scheduler's log of changes, and
//! alerting on top of its transitions, so they cannot disagree. No I/O and no clock of its own:
//! the caller persists the state and acts on the transitions.
//!
//! Results are applied in the order of (event time, uuid). A result that does not sort after
//! the last applied one is not applied: a duplicate (the same event again) or an older result
//! (arrived late, replayed) is history, which the rollups count but the live state does not,
//! so a replay or a reordered batch never moves a target back in time.

use std::time::Duration;

use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

pub mod impaired;
pub mod locations;
pub mod maintenance;
pub mod phase;
pub mod quorum;
mod recent;
pub mod rules;
#[cfg(test)]
mod tests;

pub use recent::Recent;

/// How many of a target's latest results its strip of recent checks keeps.
pub const RECENT_CHECKS: usize = 30;
/// A target whose latest result passed but which failed any of its last this many results
/// (the latest included) is flapping.
pub const FLAPPING_WINDOW: usize = 10;
/// A target with no result for this many intervals (and [`UNKNOWN_GRACE`]) is unknown.
pub const UNKNOWN_AFTER_INTERVALS: u32 = 3;
/// Added to the intervals before a silent target is unknown: time for the last result to be
/// written and read.
pub const UNKNOWN_GRACE: Duration = Duration::from_secs(5);

/// What a target is. Incidents follow passed and failed only: up, degraded and flapping all
/// passed, so moving among them opens and closes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The latest result passed and so did the ones before it in the flapping window.
    Up,
    /// The latest result passed, but one of the last [`FLAPPING_WINDOW`] failed (it flaps, or
    /// it just recovered).
    Flapping,
    /// The latest result failed.
    Down,
    /// No result yet, or none for [`UNKNOWN_AFTER_INTERVALS`] intervals.
    #[default]
    Unknown,
    /// Not monitored until resumed: results are ignored and no incident is open.
    Paused,
    /// The latest result passed but met one of its target's `degraded_if` conditions (up but
    /// slow, say). It wins over flapping: the latest result's own verdict says what the target
    /// is now, the flapping window only what it was lately. No incident: it passed.
    Degraded,
}

impl Status {
    pub const ALL: [Status; 6] = [
        Status::Up,
        Status::Down,
        Status::Degraded,
        Status::Flapping,
        Status::Unknown,
        Status::Paused,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Status::Up => "up",
            Status::Flapping => "flapping",
            Status::Down => "down",
            Status::Unknown => "unknown",
            Status::Paused => "paused",
            Status::Degraded => "degraded",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// The status the latest results give.
    pub fn of(recent: Recent) -> Status {
        match recent.latest() {
            None => Status::Unknown,
            Some(false) => Status::Down,
            Some(true) if recent.failed_within(FLAPPING_WINDOW) => Status::Flapping,
            Some(true) => Status::Up,
        }
    }

    /// The status after `check`, the latest of `recent`: degraded when it passed and met a
    /// `degraded_if` condition (whatever the flapping window says), else as [`Status::of`].
    pub fn after(recent: Recent, check: Check) -> Status {
        if check.up && check.degraded {
            Status::Degraded
        } else {
            Status::of(recent)
        }
    }

    /// The status a stored strip of recent results gives (`u` passed, `d` failed, oldest
    /// first). Never degraded: the strip does not say which passes were degraded.
    pub fn of_recent(strip: &str) -> Status {
        Status::of(Recent::parse(strip))
    }

    /// Up, flapping or degraded: the latest result passed.
    pub fn is_up(self) -> bool {
        matches!(self, Status::Up | Status::Flapping | Status::Degraded)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an incident ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// A passing result: the usual end, stored without a reason.
    Passed,
    /// The target was paused.
    Paused,
    /// The target left the configuration.
    Removed,
}

impl EndReason {
    pub const fn as_str(self) -> &'static str {
        match self {
            EndReason::Passed => "check passed",
            EndReason::Paused => "target paused",
            EndReason::Removed => "target removed",
        }
    }

    /// What the stores keep in an incident's `end_reason`: nothing for the usual end.
    pub const fn stored(self) -> Option<&'static str> {
        match self {
            EndReason::Passed => None,
            _ => Some(self.as_str()),
        }
    }
}

/// One probe result, as the machine needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Check {
    /// The event's time (when the probe started).
    pub time: OffsetDateTime,
    /// The event's uuid: it orders results of the same time and tells a duplicate.
    pub uuid: Uuid,
    /// The verdict: passed or failed.
    pub up: bool,
    /// Passed, but one of the target's `degraded_if` conditions holds (the event's
    /// `degraded`); ignored when the result failed.
    pub degraded: bool,
}

/// The last applied result: where a target stands in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Last {
    pub time: OffsetDateTime,
    /// None for a state stored before uuids were kept: any result of the same time follows it.
    pub uuid: Option<Uuid>,
}

/// What changes a target's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// A probe result.
    Result(Check),
    /// The clock moved on (`now`) with no result; the target is probed every `interval`.
    Tick { interval: Duration },
    /// Stop monitoring: the status is paused and an open incident ends.
    Pause,
    /// Monitor again: unknown until the next result.
    Resume,
}

/// What a step did, in order; the caller persists or tells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// The status changed.
    Status { from: Status, to: Status },
    /// A failed result opened an incident, starting at its time.
    IncidentOpened { at: OffsetDateTime },
    /// One more failed result while the incident that started at `started` is open.
    IncidentFailedAgain { started: OffsetDateTime },
    /// The incident that started at `started` ended at `at`.
    IncidentClosed {
        started: OffsetDateTime,
        at: OffsetDateTime,
        reason: EndReason,
    },
}

/// Why a result is not applied (it still counts in the rollups).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// The same event as the last applied one.
    Duplicate,
    /// Sorts before the last applied result: it arrived late.
    Older,
    /// The target is paused.
    Paused,
}

/// One target's state: all a store keeps of it between results (a few dozen bytes, no heap).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TargetState {
    pub status: Status,
    pub last: Option<Last>,
    /// The latest results, at most [`RECENT_CHECKS`].
    pub recent: Recent,
    /// When the open incident started, while one is open.
    pub incident: Option<OffsetDateTime>,
}

/// The pure form of [`TargetState::apply`]: the state after `input` at `now`, and what changed.
pub fn step(
    state: &TargetState,
    input: Input,
    now: OffsetDateTime,
) -> (TargetState, Vec<Transition>) {
    let mut next = *state;
    let transitions = next.apply(input, now);
    (next, transitions)
}

/// When a target whose last result was at `last`, probed every `interval`, turns unknown; None
/// when that is beyond the calendar (an interval of centuries).
pub fn unknown_at(last: OffsetDateTime, interval: Duration) -> Option<OffsetDateTime> {
    let silence = interval
        .checked_mul(UNKNOWN_AFTER_INTERVALS)?
        .checked_add(UNKNOWN_GRACE)?;
    last.checked_add(time::Duration::try_from(silence).ok()?)
}

impl TargetState {
    /// A state as a store keeps it. A status it does not know (or none) is read again from the
    /// strip of recent results. A stored "degraded" is degraded: an older version that still
    /// wrote it for flapping during an upgrade is corrected by the target's next result, which
    /// recomputes the status.
    pub fn restore(
        status: Option<&str>,
        last: Option<Last>,
        recent: &str,
        incident: Option<OffsetDateTime>,
    ) -> TargetState {
        let recent = Recent::parse(recent);
        TargetState {
            status: status
                .and_then(Status::parse)
                .unwrap_or_else(|| Status::of(recent)),
            last,
            recent,
            incident,
        }
    }

    /// Whether `check` would be applied, and if not why.
    pub fn takes(&self, check: &Check) -> Result<(), Skip> {
        if self.status == Status::Paused {
            return Err(Skip::Paused);
        }
        match self.last {
            None => Ok(()),
            Some(last) => match (check.time, Some(check.uuid)).cmp(&(last.time, last.uuid)) {
                std::cmp::Ordering::Greater => Ok(()),
                std::cmp::Ordering::Equal => Err(Skip::Duplicate),
                std::cmp::Ordering::Less => Err(Skip::Older),
            },
        }
    }

    /// When this target turns unknown if no result comes first: None unless its status comes
    /// from a result (never checked, already unknown, or paused).
    pub fn unknown_at(&self, interval: Duration) -> Option<OffsetDateTime> {
        match self.status {
            Status::Up | Status::Flapping | Status::Degraded | Status::Down => {
                unknown_at(self.last?.time, interval)
            }
            Status::Unknown | Status::Paused => None,
        }
    }

    /// Moves the state on by `input` at `now` (in place: [`step`] is the same, pure) and
    /// returns what changed. `now` matters to ticks and pauses; a result carries its own time.
    pub fn apply(&mut self, input: Input, now: OffsetDateTime) -> Vec<Transition> {
        let from = self.status;
        let mut out = Vec::new();
        match input {
            Input::Result(check) => {
                if self.takes(&check).is_err() {
                    return out;
                }
                self.recent.push(check.up);
                self.status = Status::after(self.recent, check);
                self.last = Some(Last {
                    time: check.time,
                    uuid: Some(check.uuid),
                });
                if from != self.status {
                    out.push(Transition::Status {
                        from,
                        to: self.status,
                    });
                }
                match (check.up, self.incident) {
                    (true, Some(started)) => {
                        self.incident = None;
                        out.push(Transition::IncidentClosed {
                            started,
                            at: check.time,
                            reason: EndReason::Passed,
                        });
                    }
                    (false, None) => {
                        self.incident = Some(check.time);
                        out.push(Transition::IncidentOpened { at: check.time });
                    }
                    (false, Some(started)) => out.push(Transition::IncidentFailedAgain { started }),
                    (true, None) => {}
                }
            }
            Input::Tick { interval } => {
                if self.unknown_at(interval).is_some_and(|at| now >= at) {
                    self.status = Status::Unknown;
                    out.push(Transition::Status {
                        from,
                        to: Status::Unknown,
                    });
                }
            }
            Input::Pause => {
                if from == Status::Paused {
                    return out;
                }
                self.status = Status::Paused;
                out.push(Transition::Status {
                    from,
                    to: Status::Paused,
                });
                if let Some(started) = self.incident.take() {
                    out.push(Transition::IncidentClosed {
                        started,
                        at: now.max(started),
                        reason: EndReason::Paused,
                    });
                }
            }
            Input::Resume => {
                if from != Status::Paused {
                    return out;
                }
                self.status = Status::Unknown;
                out.push(Transition::Status {
                    from,
                    to: Status::Unknown,
                });
            }
        }
        out
    }
}
