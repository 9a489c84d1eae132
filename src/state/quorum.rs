//! A fleet's verdicts: probers in several locations probe the same target each round (the
//! round is [`Schedule::round_at`], the same everywhere), and once the round closes its
//! verdict is decided by quorum. Pure and clock-injected: the caller feeds results and the
//! time, and turns what closes into verdict events.
//!
//! **The rule.** n is the number of locations counted (the fleet's, less the impaired ones,
//! `super::impaired`), k is the quorum's [`Quorum::k`] (a majority, ⌊n/2⌋ + 1, unless the
//! target or its tag says otherwise), and missing = n − up − down (a location that sent nothing
//! counts as neither). A round is
//! * **DOWN** when down ≥ k;
//! * **UP** when up ≥ k and down = 0;
//! * **PARTIAL** when up ≥ 1, down ≥ 1 and down + missing < k: some location failed, but no
//!   result still to come could make it an outage;
//! * otherwise **no change** (too few results to say).
//!
//! The plain reading of PARTIAL, "at least k up and some down", would make one failure of two
//! locations no change (n = 2, k = 2: fewer than k are up), where it is meant to be PARTIAL,
//! not an outage. The rule above says PARTIAL there, and for odd n with a majority it is
//! exactly the plain reading (`partial_rule_equals_the_plain_reading_for_odd_n` checks every
//! case up to n = 9); for even n it adds such ties.
//!
//! **Rounds.** Round r of a target closes at `start(r + 1) + grace` (grace defaults to a tenth
//! of the interval): results that come later are late and change nothing. The [`RoundBook`]
//! keeps each target's open rounds. Memory matters at a million targets × 3 locations, so a
//! location is a byte ([`LocId`]), a result 24 bytes, and the rounds due to close sit in one
//! binary heap with an entry per target: closing never scans the targets.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::locations::{LocId, LocSet, Locations};
use super::phase::Schedule;

/// How many locations must agree: a target's, its tag's or the fleet's `quorum`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Quorum {
    /// ⌊n/2⌋ + 1 (the default).
    #[default]
    Majority,
    /// This many (at most n).
    AtLeast(u32),
    /// Every location.
    All,
    /// One location.
    Any,
}

/// What a quorum is written as, for error messages.
pub const QUORUM_EXPECTED: &str = "majority, all, any or a number of locations (1 or more)";

impl Quorum {
    /// How many of `n` locations make a verdict; never more than n.
    pub fn k(self, n: usize) -> usize {
        let k = match self {
            Quorum::Majority => n / 2 + 1,
            Quorum::AtLeast(k) => k as usize,
            Quorum::All => n,
            Quorum::Any => 1,
        };
        k.min(n)
    }
}

/// A quorum that is not one: the text as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected {}, got {:?}", QUORUM_EXPECTED, .0)]
pub struct BadQuorum(pub String);

impl FromStr for Quorum {
    type Err = BadQuorum;

    fn from_str(s: &str) -> Result<Quorum, BadQuorum> {
        match s.trim().to_ascii_lowercase().as_str() {
            "majority" => Ok(Quorum::Majority),
            "all" => Ok(Quorum::All),
            "any" => Ok(Quorum::Any),
            t => match t.parse::<u32>() {
                Ok(k) if k >= 1 => Ok(Quorum::AtLeast(k)),
                _ => Err(BadQuorum(s.to_owned())),
            },
        }
    }
}

impl fmt::Display for Quorum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Quorum::Majority => f.write_str("majority"),
            Quorum::AtLeast(k) => write!(f, "{k}"),
            Quorum::All => f.write_str("all"),
            Quorum::Any => f.write_str("any"),
        }
    }
}

impl Serialize for Quorum {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Quorum::AtLeast(k) => s.serialize_u32(*k),
            other => s.collect_str(other),
        }
    }
}

impl<'de> Deserialize<'de> for Quorum {
    /// `"majority"`, `"all"`, `"any"`, or an integer from 1 (as a number or a string).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Quorum, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Quorum;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(QUORUM_EXPECTED)
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Quorum, E> {
                s.parse().map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, k: u64) -> Result<Quorum, E> {
                match u32::try_from(k) {
                    Ok(k) if k >= 1 => Ok(Quorum::AtLeast(k)),
                    _ => Err(E::custom(BadQuorum(k.to_string()))),
                }
            }
            fn visit_i64<E: serde::de::Error>(self, k: i64) -> Result<Quorum, E> {
                match u64::try_from(k) {
                    Ok(k) => self.visit_u64(k),
                    Err(_) => Err(E::custom(BadQuorum(k.to_string()))),
                }
            }
            fn visit_f64<E: serde::de::Error>(self, k: f64) -> Result<Quorum, E> {
                if k.fract() == 0.0 && (1.0..=f64::from(u32::MAX)).contains(&k) {
                    Ok(Quorum::AtLeast(k as u32))
                } else {
                    Err(E::custom(BadQuorum(k.to_string())))
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// A closed round's verdict (the event's `verdict`: up, down, partial, none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    Up,
    Down,
    Partial,
    /// Too few results to say: the target stays as it was.
    NoChange,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Up => "up",
            Decision::Down => "down",
            Decision::Partial => "partial",
            Decision::NoChange => "none",
        }
    }
}

/// A round's verdict from `up` and `down` results of `n` locations counted (see the module
/// doc). Results beyond n are a caller's bug; they are not counted as missing ones.
pub fn decide(up: usize, down: usize, n: usize, quorum: Quorum) -> Decision {
    debug_assert!(up + down <= n, "{up} up + {down} down > {n} locations");
    if n == 0 {
        return Decision::NoChange;
    }
    let k = quorum.k(n);
    let missing = n.saturating_sub(up + down);
    if down >= k {
        Decision::Down
    } else if up >= k && down == 0 {
        Decision::Up
    } else if up >= 1 && down >= 1 && down + missing < k {
        Decision::Partial
    } else {
        Decision::NoChange
    }
}

/// When round `round` closes: the start of the next round plus the grace.
pub fn close_time(s: Schedule, round: i64, grace_ms: u64) -> u64 {
    s.start(round + 1).saturating_add(grace_ms)
}

/// The grace when none is set: a tenth of the interval.
pub fn default_grace(s: Schedule) -> u64 {
    s.interval_ms / 10
}

/// One location's result for a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoundResult {
    pub up: bool,
    /// The event's time, in ms since the epoch: the latest result of a location wins.
    pub at_ms: u64,
    /// A probe a recheck asked for (it counts for its round like any other).
    pub recheck: bool,
    pub response_ms: u64,
}

/// What [`RoundBook::observe`] did with a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observed {
    /// Counted for its round.
    Applied,
    /// Counted, and it is the round's first down result while the target was not down: the
    /// moment to ask every location for a recheck.
    FirstDown,
    /// Its round has closed (or closes at or before `now`): history, not counted.
    Late,
    /// For a round that starts more than one interval (plus the grace) from now: a prober
    /// whose clock is wrong. Not counted.
    Early,
    /// The location already has a later result for this round, which stays.
    Superseded,
    UnknownTarget,
    UnknownLocation,
}

/// A round that closed, with its verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed {
    pub target: Arc<str>,
    pub round: i64,
    pub decision: Decision,
    /// Locations whose result was up, and down (impaired ones included: what each saw).
    pub up: LocSet,
    pub down: LocSet,
    /// The impaired locations left out of n (and whose results were not counted).
    pub impaired: LocSet,
    /// The n the verdict was decided with.
    pub counted: usize,
    /// When the round closed (its close time, not when `close_due` was called).
    pub closed_at_ms: u64,
    /// The median response time of the counted up results.
    pub response_ms: Option<u64>,
}

/// A result as kept: 24 bytes.
#[derive(Debug, Clone, Copy)]
struct Entry {
    round: i64,
    at_ms: u64,
    response_ms: u32,
    loc: LocId,
    up: bool,
}

/// No round yet.
const NONE: i64 = i64::MIN;

#[derive(Debug)]
struct Slot {
    id: Arc<str>,
    schedule: Schedule,
    grace_ms: u64,
    quorum: Quorum,
    /// The oldest open round, the next to close; `NONE` until the first result. Once a round
    /// closes, the next one is open whether results come or not: a round with none closes as
    /// no change, which is what coverage counts.
    head: i64,
    /// The last round closed (`NONE` before the first).
    last_closed: i64,
    /// The last verdict other than no change.
    last: Decision,
    /// The results of the open rounds.
    results: Vec<Entry>,
}

impl Slot {
    fn close_time(&self, round: i64) -> u64 {
        close_time(self.schedule, round, self.grace_ms)
    }
}

/// The open rounds of every target, and when each closes.
#[derive(Debug)]
pub struct RoundBook {
    locations: Locations,
    ids: HashMap<Arc<str>, u32, foldhash::fast::RandomState>,
    slots: Vec<Option<Slot>>,
    free: Vec<u32>,
    /// (close time, slot, round) of each target's oldest open round. An entry whose slot no
    /// longer has that round open at that time is stale and skipped.
    closing: BinaryHeap<Reverse<(u64, u32, i64)>>,
}

impl RoundBook {
    pub fn new(locations: Locations) -> RoundBook {
        RoundBook {
            locations,
            ids: HashMap::default(),
            slots: Vec::new(),
            free: Vec::new(),
            closing: BinaryHeap::new(),
        }
    }

    pub fn locations(&self) -> &Locations {
        &self.locations
    }

    /// How many targets the book knows.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Adds a target or changes its settings. A changed schedule (interval) renumbers its
    /// rounds, so its open rounds are dropped undecided; a changed grace moves their close.
    pub fn set_target(&mut self, id: &str, schedule: Schedule, quorum: Quorum, grace_ms: u64) {
        if let Some(&ix) = self.ids.get(id) {
            let slot = self.slots[ix as usize].as_mut().expect("an indexed slot");
            slot.quorum = quorum;
            if slot.schedule != schedule {
                slot.schedule = schedule;
                slot.grace_ms = grace_ms;
                slot.head = NONE;
                slot.last_closed = NONE;
                slot.results.clear();
            } else if slot.grace_ms != grace_ms {
                slot.grace_ms = grace_ms;
                if slot.head != NONE {
                    let at = slot.close_time(slot.head);
                    self.closing.push(Reverse((at, ix, slot.head)));
                }
            }
            return;
        }
        let id: Arc<str> = id.into();
        let slot = Slot {
            id: id.clone(),
            schedule,
            grace_ms,
            quorum,
            head: NONE,
            last_closed: NONE,
            last: Decision::NoChange,
            results: Vec::new(),
        };
        let ix = match self.free.pop() {
            Some(ix) => {
                self.slots[ix as usize] = Some(slot);
                ix
            }
            None => {
                self.slots.push(Some(slot));
                u32::try_from(self.slots.len() - 1).expect("fewer than 2^32 targets")
            }
        };
        self.ids.insert(id, ix);
    }

    /// Forgets a target and its open rounds.
    pub fn remove_target(&mut self, id: &str) {
        if let Some(ix) = self.ids.remove(id) {
            self.slots[ix as usize] = None;
            self.free.push(ix);
        }
    }

    /// Counts `location`'s result for `target`'s `round`, as of `now_ms`.
    pub fn observe(
        &mut self,
        target: &str,
        location: &str,
        round: i64,
        r: RoundResult,
        now_ms: u64,
    ) -> Observed {
        let Some(&ix) = self.ids.get(target) else {
            return Observed::UnknownTarget;
        };
        let Some(loc) = self.locations.id(location) else {
            return Observed::UnknownLocation;
        };
        let slot = self.slots[ix as usize].as_mut().expect("an indexed slot");
        let current = slot.schedule.round_at(now_ms);
        // Rounds further than these bounds are decided without computing their times, which
        // could overflow for a nonsense round number.
        let graces = (slot.grace_ms / slot.schedule.interval_ms) as i64;
        if round > current + 1 + graces {
            return Observed::Early;
        }
        if round < current - graces - 2 || round <= slot.last_closed {
            return Observed::Late;
        }
        let closes = slot.close_time(round);
        if closes <= now_ms {
            return Observed::Late;
        }
        if slot.head == NONE || round < slot.head {
            // The first result, or (before the first close) one for a round before it that
            // is still open.
            slot.head = round;
            self.closing.push(Reverse((closes, ix, round)));
        }
        let down_before = slot.results.iter().any(|e| e.round == round && !e.up);
        let entry = Entry {
            round,
            at_ms: r.at_ms,
            response_ms: u32::try_from(r.response_ms).unwrap_or(u32::MAX),
            loc,
            up: r.up,
        };
        match slot
            .results
            .iter_mut()
            .find(|e| e.round == round && e.loc == loc)
        {
            Some(e) if e.at_ms > r.at_ms => return Observed::Superseded,
            Some(e) => *e = entry,
            None => slot.results.push(entry),
        }
        if !r.up && !r.recheck && !down_before && slot.last != Decision::Down {
            Observed::FirstDown
        } else {
            Observed::Applied
        }
    }

    /// Closes every round due by `now_ms`, in order of close time, leaving the `impaired`
    /// locations out of n.
    pub fn close_due(&mut self, now_ms: u64, impaired: LocSet) -> Vec<Closed> {
        let mut out = Vec::new();
        let all = self.locations.all();
        let impaired = all
            .iter()
            .filter(|l| impaired.contains(*l))
            .collect::<LocSet>();
        let counted = all.len() - impaired.len();
        while let Some(&Reverse((at, ix, round))) = self.closing.peek() {
            if at > now_ms {
                break;
            }
            self.closing.pop();
            let Some(slot) = self.slots.get_mut(ix as usize).and_then(Option::as_mut) else {
                continue;
            };
            if slot.head != round || slot.close_time(round) != at {
                continue;
            }
            let (mut up, mut down) = (LocSet::EMPTY, LocSet::EMPTY);
            let mut times: Vec<u32> = Vec::new();
            for e in slot.results.iter().filter(|e| e.round == round) {
                if e.up {
                    up.insert(e.loc);
                    if !impaired.contains(e.loc) {
                        times.push(e.response_ms);
                    }
                } else {
                    down.insert(e.loc);
                }
            }
            slot.results.retain(|e| e.round > round);
            let n_up = up.iter().filter(|l| !impaired.contains(*l)).count();
            let n_down = down.iter().filter(|l| !impaired.contains(*l)).count();
            let decision = decide(n_up, n_down, counted, slot.quorum);
            if decision != Decision::NoChange {
                slot.last = decision;
            }
            slot.last_closed = round;
            slot.head = round + 1;
            self.closing
                .push(Reverse((slot.close_time(round + 1), ix, round + 1)));
            out.push(Closed {
                target: slot.id.clone(),
                round,
                decision,
                up,
                down,
                impaired,
                counted,
                closed_at_ms: at,
                response_ms: median(&mut times),
            });
        }
        out
    }

    /// When the next round closes (never later; it may be earlier, for a round that no
    /// longer needs closing).
    pub fn next_close(&self) -> Option<u64> {
        self.closing.peek().map(|Reverse((at, _, _))| *at)
    }

    /// When the target's oldest open round started: results before it are no longer needed.
    pub fn oldest_open_round_start(&self, target: &str) -> Option<u64> {
        let ix = *self.ids.get(target)?;
        let slot = self.slots[ix as usize].as_ref()?;
        (slot.head != NONE).then(|| slot.schedule.start(slot.head))
    }
}

/// The median (the lower of the middle two), or `None` for no values.
fn median(values: &mut [u32]) -> Option<u64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    Some(u64::from(values[(values.len() - 1) / 2]))
}

#[cfg(test)]
mod tests;
