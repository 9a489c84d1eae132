//! A target's latest results as bits: a machine state small enough to keep for every one of a
//! million targets without a heap allocation. Stores keep it as text (`u` passed, `d` failed,
//! oldest first), which the dashboard draws as a strip.

use super::{FLAPPING_WINDOW, RECENT_CHECKS};

const _: () = assert!(RECENT_CHECKS <= 32 && FLAPPING_WINDOW <= RECENT_CHECKS);

/// The last [`RECENT_CHECKS`] results: bit 0 is the latest, set when it passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Recent {
    bits: u32,
    len: u8,
}

impl Recent {
    /// The results of a stored strip (its last [`RECENT_CHECKS`]): `u` passed, any other
    /// character failed.
    pub fn parse(strip: &str) -> Recent {
        let mut r = Recent::default();
        let skip = strip.len().saturating_sub(RECENT_CHECKS);
        for b in strip.bytes().skip(skip) {
            r.push(b == b'u');
        }
        r
    }

    /// Adds the latest result, dropping the oldest beyond [`RECENT_CHECKS`].
    pub fn push(&mut self, up: bool) {
        let mask = u32::MAX >> (32 - RECENT_CHECKS);
        self.bits = ((self.bits << 1) | u32::from(up)) & mask;
        self.len = (self.len + 1).min(RECENT_CHECKS as u8);
    }

    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the latest result passed; None without results.
    pub fn latest(&self) -> Option<bool> {
        (!self.is_empty()).then_some(self.bits & 1 == 1)
    }

    /// Whether one of the latest `n` results failed.
    pub fn failed_within(&self, n: usize) -> bool {
        let n = n.min(self.len());
        let window = if n == 0 { 0 } else { u32::MAX >> (32 - n) };
        self.bits & window != window
    }
}

/// The stored strip: `u` passed, `d` failed, oldest first.
impl std::fmt::Display for Recent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use std::fmt::Write;
        for i in (0..self.len()).rev() {
            f.write_char(if self.bits >> i & 1 == 1 { 'u' } else { 'd' })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_strip_round_trips_and_keeps_its_last_thirty() {
        for s in ["", "u", "d", "uddu", &"ud".repeat(15)] {
            assert_eq!(Recent::parse(s).to_string(), s);
        }
        let long = format!("dddd{}", "u".repeat(RECENT_CHECKS));
        assert_eq!(Recent::parse(&long).to_string(), "u".repeat(RECENT_CHECKS));
        let mut r = Recent::parse(&"u".repeat(RECENT_CHECKS));
        r.push(false);
        assert_eq!(r.len(), RECENT_CHECKS);
        assert_eq!(r.to_string(), format!("{}d", "u".repeat(RECENT_CHECKS - 1)));
    }

    #[test]
    fn latest_and_failures_within_a_window() {
        assert_eq!(Recent::default().latest(), None);
        assert!(!Recent::default().failed_within(10));
        let r = Recent::parse("duuu");
        assert_eq!(r.latest(), Some(true));
        assert!(!r.failed_within(3));
        assert!(r.failed_within(4));
        assert!(r.failed_within(10), "a window longer than the strip");
        assert!(Recent::parse("ud").failed_within(1));
        assert!(!Recent::parse("d").failed_within(0));
    }

    #[test]
    fn anything_but_u_is_a_failure() {
        assert_eq!(Recent::parse("uxd").to_string(), "udd");
    }
}
