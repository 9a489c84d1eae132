//! When a target's rounds start: its phase is `fnv1a64(id) mod interval`, aligned to the Unix
//! epoch, and round `r` starts at `r × interval + phase`. Every process computes the same
//! rounds for a target (the fleet relies on this), adding or removing targets never moves the
//! others, and a target whose interval did not change keeps its phase across a reload.
//!
//! Times are milliseconds since the Unix epoch; an interval is at least 1 ms.
//!
//! It sits in `state`, the bottom layer, because both the scheduler (`pipeline`, through
//! `registry::phase`) and the fleet's round book ([`super::quorum`]) place rounds with it, and
//! `state` may not import `config` or `registry` (they import `state`).

use std::time::Duration;

/// FNV-1a, 64 bits, of `bytes`: stable across builds, versions and machines (std's hasher is
/// not), so ids, phases and shards agree everywhere.
pub fn fnv1a64(bytes: impl IntoIterator<Item = u8>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// A target's schedule: its interval and phase, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub interval_ms: u64,
    pub phase_ms: u64,
}

impl Schedule {
    pub fn new(id: &str, interval: Duration) -> Schedule {
        let interval_ms = u64::try_from(interval.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        Schedule {
            interval_ms,
            phase_ms: fnv1a64(id.bytes()) % interval_ms,
        }
    }

    /// The round in progress at `t_ms`: `floor((t - phase) / interval)`.
    pub fn round_at(&self, t_ms: u64) -> i64 {
        (t_ms as i64 - self.phase_ms as i64).div_euclid(self.interval_ms as i64)
    }

    /// When round `round` starts.
    pub fn start(&self, round: i64) -> u64 {
        (round * self.interval_ms as i64 + self.phase_ms as i64).max(0) as u64
    }

    /// The first round starting after `t_ms` (strictly), and its start: a new target's first
    /// probe, at most one interval away.
    pub fn next_after(&self, t_ms: u64) -> (i64, u64) {
        let round = self.round_at(t_ms) + 1;
        (round, self.start(round))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_phase_is_the_ids_hash_modulo_the_interval() {
        let s = Schedule::new("abc", Duration::from_secs(60));
        assert_eq!(s.interval_ms, 60_000);
        // FNV-1a 64 of "abc" is 0xe71fa2190541574b.
        assert_eq!(s.phase_ms, 0xe71f_a219_0541_574b % 60_000);
        assert_eq!(Schedule::new("abc", Duration::from_secs(60)), s);
        assert_ne!(
            Schedule::new("abd", Duration::from_secs(60)).phase_ms,
            s.phase_ms
        );
    }

    #[test]
    fn rounds_follow_the_epoch_from_the_phase() {
        let s = Schedule {
            interval_ms: 10_000,
            phase_ms: 2_500,
        };
        assert_eq!(s.round_at(2_500), 0);
        assert_eq!(s.round_at(12_499), 0);
        assert_eq!(s.round_at(12_500), 1);
        assert_eq!(s.round_at(0), -1);
        assert_eq!(s.start(3), 32_500);
        // Strictly after: a target that appears at its phase waits a whole interval.
        assert_eq!(s.next_after(12_500), (2, 22_500));
        assert_eq!(s.next_after(12_499), (1, 12_500));
        let t = 1_764_547_200_123;
        let (round, at) = s.next_after(t);
        assert!(at > t && at - t <= s.interval_ms);
        assert_eq!(s.round_at(at), round);
    }

    #[test]
    fn sub_millisecond_intervals_are_one_millisecond() {
        let s = Schedule::new("x", Duration::from_micros(10));
        assert_eq!((s.interval_ms, s.phase_ms), (1, 0));
    }
}
