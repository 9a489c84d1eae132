//! Impaired locations: a location whose own trouble (a regional network fault, a broken
//! resolver, a dead link) would otherwise show as failures of every target it probes. An
//! impaired location is left out of n when rounds close (`super::quorum`), and gets one
//! location incident of its own instead of a page per target.
//!
//! Over a window of the last `rounds` rounds (5), a location is impaired when
//! * its share of down results is at least `share` (20 %) **and** at least `factor` (3) times
//!   the median of the other locations' shares: it fails where the others do not. A global
//!   outage raises every share alike, so it impairs no one and stays a DOWN verdict;
//! * or its canaries fail (the connectivity canaries probed from that location);
//! * or it sent fewer than `min_coverage` (half) of the results owed to the rounds closed in
//!   the window, nothing at all included. A location whose link is down (its probers cannot
//!   reach the broker) is silent, not failing: its missing results count as neither up nor
//!   down, so while it stays in n every round waits on it. With 2 locations (k = 2) no round
//!   could be UP or DOWN again; with 3, one more failure would decide alone. Left out of n, the
//!   locations still heard from decide. Half, not all: a location that lost one of its
//!   probers still sends most of its results and stays in.
//!
//! Targets have their own intervals and phases, so "a round" of the window is a period of
//! `round_ms` (the fleet's interval): the closed rounds of every target are counted in the
//! period they closed in, and the window is the current period and the `rounds − 1` before
//! it. Pure and clock-injected, like the round book.

use std::collections::VecDeque;

use super::locations::{LocId, LocSet};
use super::quorum::Closed;

/// When a location is impaired (`fleet.impaired`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ImpairedRule {
    /// Rounds in the window (default 5).
    pub rounds: usize,
    /// The least down share that can impair (default 0.2).
    pub share: f64,
    /// How many times the median of the others' shares it must be (default 3).
    pub factor: f64,
    /// The least share of its owed results a location must send (default 0.5).
    pub min_coverage: f64,
}

impl Default for ImpairedRule {
    fn default() -> Self {
        ImpairedRule {
            rounds: 5,
            share: 0.2,
            factor: 3.0,
            min_coverage: 0.5,
        }
    }
}

/// One location's counts in a period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counts {
    down: u64,
    results: u64,
}

/// The rounds closed in one period of `round_ms`.
#[derive(Debug, Clone)]
struct Bucket {
    period: u64,
    /// Rounds closed: one result owed by every location for each.
    closed: u64,
    per_location: Vec<Counts>,
}

/// What the window says of one location.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LocationStats {
    /// Its down results over its results; `None` without results.
    pub down_share: Option<f64>,
    /// Its results over the rounds closed; `None` when no round closed.
    pub coverage: Option<f64>,
    pub canaries_failing: bool,
}

/// The last rounds' results of every location.
#[derive(Debug, Clone)]
pub struct LocationWindow {
    rule: ImpairedRule,
    round_ms: u64,
    locations: usize,
    /// Oldest first, at most `rule.rounds`; a period with no round closed has no bucket.
    buckets: VecDeque<Bucket>,
    canaries_failing: LocSet,
}

impl LocationWindow {
    /// A window over `locations` locations (indices 0..locations) with periods of `round_ms`.
    pub fn new(locations: usize, rule: ImpairedRule, round_ms: u64) -> LocationWindow {
        LocationWindow {
            rule: ImpairedRule {
                rounds: rule.rounds.max(1),
                ..rule
            },
            round_ms: round_ms.max(1),
            locations,
            buckets: VecDeque::new(),
            canaries_failing: LocSet::EMPTY,
        }
    }

    /// Counts one closed round: each location in `up` or `down` sent that result, every other
    /// one owed a result and sent none. A round older than the window is not counted.
    pub fn record(&mut self, closed_at_ms: u64, up: LocSet, down: LocSet) {
        let period = closed_at_ms / self.round_ms;
        let rounds = self.rule.rounds as u64;
        let newest = self.buckets.back().map_or(period, |b| b.period.max(period));
        if period + rounds <= newest {
            return;
        }
        let at = match self.buckets.iter().position(|b| b.period >= period) {
            Some(i) if self.buckets[i].period == period => i,
            found => {
                let i = found.unwrap_or(self.buckets.len());
                self.buckets.insert(
                    i,
                    Bucket {
                        period,
                        closed: 0,
                        per_location: vec![Counts::default(); self.locations],
                    },
                );
                i
            }
        };
        let b = &mut self.buckets[at];
        b.closed += 1;
        for (i, c) in b.per_location.iter_mut().enumerate() {
            let l = LocId(i as u8);
            if down.contains(l) {
                c.down += 1;
                c.results += 1;
            } else if up.contains(l) {
                c.results += 1;
            }
        }
        while self
            .buckets
            .front()
            .is_some_and(|b| b.period + rounds <= newest)
        {
            self.buckets.pop_front();
        }
    }

    /// Counts a round the round book closed (impaired locations' results included: that is
    /// how their impairment is seen to end).
    pub fn record_closed(&mut self, c: &Closed) {
        self.record(c.closed_at_ms, c.up, c.down);
    }

    /// Whether `location`'s canaries fail (a quorum of them, probed from there), as the
    /// caller learns it.
    pub fn set_canaries_failing(&mut self, location: LocId, failing: bool) {
        if failing {
            self.canaries_failing.insert(location);
        } else {
            self.canaries_failing.remove(location);
        }
    }

    /// Each location's shares over the window as of `now_ms`.
    pub fn stats(&self, now_ms: u64) -> Vec<LocationStats> {
        let now = now_ms / self.round_ms;
        let window = self
            .buckets
            .iter()
            .filter(|b| b.period + self.rule.rounds as u64 > now);
        let mut closed = 0;
        let mut sums = vec![Counts::default(); self.locations];
        for b in window {
            closed += b.closed;
            for (s, c) in sums.iter_mut().zip(&b.per_location) {
                s.down += c.down;
                s.results += c.results;
            }
        }
        sums.iter()
            .enumerate()
            .map(|(i, s)| LocationStats {
                down_share: (s.results > 0).then(|| s.down as f64 / s.results as f64),
                coverage: (closed > 0).then(|| s.results as f64 / closed as f64),
                canaries_failing: self.canaries_failing.contains(LocId(i as u8)),
            })
            .collect()
    }

    /// The impaired locations as of `now_ms`.
    pub fn impaired(&self, now_ms: u64) -> LocSet {
        let stats = self.stats(now_ms);
        let rule = &self.rule;
        let mut out = LocSet::EMPTY;
        for (i, s) in stats.iter().enumerate() {
            let silent = s.coverage.is_some_and(|c| c < rule.min_coverage);
            let failing_alone = s.down_share.is_some_and(|share| {
                let others: Vec<f64> = stats
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .filter_map(|(_, o)| o.down_share)
                    .collect();
                // With no other location heard from there is nothing to compare with.
                share >= rule.share && median(others).is_some_and(|m| share >= rule.factor * m)
            });
            if silent || failing_alone || s.canaries_failing {
                out.insert(LocId(i as u8));
            }
        }
        out
    }
}

/// The median: the middle value, or the mean of the middle two.
fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const EU: LocId = LocId(0);
    const US: LocId = LocId(1);
    const AP: LocId = LocId(2);
    const ROUND: u64 = 60_000;

    fn window() -> LocationWindow {
        LocationWindow::new(3, ImpairedRule::default(), ROUND)
    }

    /// Records, in each of `periods` periods from `from`, 100 rounds in which `down[l]` of
    /// them had location l down and the rest up (a location with `None` sent nothing).
    fn feed(w: &mut LocationWindow, from: u64, periods: u64, down: [Option<u64>; 3]) {
        for p in from..from + periods {
            for r in 0..100 {
                let (mut up_set, mut down_set) = (LocSet::EMPTY, LocSet::EMPTY);
                for (i, d) in down.iter().enumerate() {
                    match d {
                        Some(d) if r < *d => down_set.insert(LocId(i as u8)),
                        Some(_) => up_set.insert(LocId(i as u8)),
                        None => {}
                    }
                }
                w.record(p * ROUND + r * 100, up_set, down_set);
            }
        }
    }

    fn set(ls: &[LocId]) -> LocSet {
        ls.iter().copied().collect()
    }

    #[test]
    fn a_fifth_down_and_three_times_the_median_is_impaired() {
        let mut w = window();
        // eu 20 %, the others 5 % and 6 % (median 5.5 %, times 3 is 16.5 %).
        feed(&mut w, 10, 5, [Some(20), Some(5), Some(6)]);
        assert_eq!(w.impaired(14 * ROUND), set(&[EU]));
        let s = w.stats(14 * ROUND);
        assert_eq!((s[0].down_share, s[0].coverage), (Some(0.2), Some(1.0)));
        // Just under a fifth: not impaired.
        let mut w = window();
        feed(&mut w, 10, 5, [Some(19), Some(0), Some(0)]);
        assert!(w.impaired(14 * ROUND).is_empty());
        // A fifth, but under 3× the others' median (8 %: 24 %): not impaired.
        let mut w = window();
        feed(&mut w, 10, 5, [Some(20), Some(6), Some(10)]);
        assert!(w.impaired(14 * ROUND).is_empty());
    }

    #[test]
    fn a_global_outage_impairs_no_location() {
        let mut w = window();
        feed(&mut w, 10, 5, [Some(100), Some(100), Some(100)]);
        assert!(w.impaired(14 * ROUND).is_empty());
        // Nor does most targets failing everywhere, unevenly.
        let mut w = window();
        feed(&mut w, 10, 5, [Some(60), Some(40), Some(50)]);
        assert!(w.impaired(14 * ROUND).is_empty());
    }

    #[test]
    fn impairment_ends_when_the_share_falls() {
        let mut w = window();
        feed(&mut w, 10, 5, [Some(0), Some(50), Some(0)]);
        assert_eq!(w.impaired(14 * ROUND), set(&[US]));
        // us recovers: three good periods still leave 2 × 50 of 500 = 20 % in the window.
        feed(&mut w, 15, 3, [Some(0), Some(0), Some(0)]);
        assert_eq!(w.impaired(17 * ROUND), set(&[US]));
        feed(&mut w, 18, 1, [Some(0), Some(0), Some(0)]);
        assert!(w.impaired(18 * ROUND).is_empty());
        // Old periods also leave the window with time alone.
        let mut w = window();
        feed(&mut w, 10, 5, [Some(0), Some(50), Some(0)]);
        assert!(w.impaired(19 * ROUND).is_empty());
        assert_eq!(w.stats(19 * ROUND)[1].coverage, None);
    }

    #[test]
    fn failing_canaries_impair_their_location() {
        let mut w = window();
        feed(&mut w, 10, 5, [Some(0), Some(0), Some(0)]);
        w.set_canaries_failing(AP, true);
        assert_eq!(w.impaired(14 * ROUND), set(&[AP]));
        assert!(w.stats(14 * ROUND)[2].canaries_failing);
        w.set_canaries_failing(AP, false);
        assert!(w.impaired(14 * ROUND).is_empty());
    }

    #[test]
    fn a_silent_location_is_impaired() {
        let mut w = window();
        feed(&mut w, 10, 5, [Some(0), None, Some(0)]);
        assert_eq!(w.impaired(14 * ROUND), set(&[US]));
        assert_eq!(w.stats(14 * ROUND)[1].coverage, Some(0.0));
        // Under half of what it owes is silent too; 90 % is not (a prober of many lost).
        let mut w = window();
        feed(&mut w, 10, 3, [Some(0), None, Some(0)]);
        feed(&mut w, 13, 2, [Some(0), Some(0), Some(0)]);
        assert_eq!(w.impaired(14 * ROUND), set(&[US]));
        let mut w = window();
        for r in 0..100 {
            let up = if r < 90 {
                set(&[EU, US, AP])
            } else {
                set(&[EU, AP])
            };
            w.record(10 * ROUND + r, up, LocSet::EMPTY);
        }
        assert!(w.impaired(10 * ROUND).is_empty());
        // Before any round closed, nobody is silent.
        assert!(window().impaired(0).is_empty());
    }

    #[test]
    fn the_only_location_heard_from_is_not_impaired_by_its_share() {
        let mut w = LocationWindow::new(2, ImpairedRule::default(), ROUND);
        for r in 0..10 {
            w.record(r, LocSet::EMPTY, set(&[EU]));
        }
        // us is silent (impaired for that); eu has nobody to be compared with.
        assert_eq!(w.impaired(0), set(&[US]));
    }

    #[test]
    fn rounds_older_than_the_window_are_not_counted() {
        let mut w = window();
        feed(&mut w, 10, 1, [Some(0), Some(0), Some(0)]);
        feed(&mut w, 20, 1, [Some(0), Some(0), Some(0)]);
        w.record(12 * ROUND, set(&[EU]), set(&[US, AP]));
        assert_eq!(w.buckets.len(), 1);
        // Out of order within the window is fine.
        w.record(18 * ROUND, set(&[EU, AP]), set(&[US]));
        assert_eq!(
            w.buckets.iter().map(|b| b.period).collect::<Vec<_>>(),
            vec![18, 20]
        );
    }
}
