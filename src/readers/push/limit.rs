//! A token bucket per push target: a job pushes once an interval, so a few pushes a minute is
//! plenty; more is a loop gone wrong (or someone with the URL), and each push writes a file.

use std::time::Duration;

use time::OffsetDateTime;

/// Pushes a target may make at once after a quiet spell.
pub const BURST: f64 = 5.0;
/// Pushes a minute, sustained.
pub const PER_MINUTE: f64 = 10.0;

/// One target's bucket, full at first.
#[derive(Debug, Clone)]
pub struct Bucket {
    tokens: f64,
    at: Option<OffsetDateTime>,
}

impl Default for Bucket {
    fn default() -> Self {
        Bucket {
            tokens: BURST,
            at: None,
        }
    }
}

impl Bucket {
    /// Takes one push at `now`; `Err` says how long until one is allowed.
    pub fn take(&mut self, now: OffsetDateTime) -> Result<(), Duration> {
        let per_s = PER_MINUTE / 60.0;
        if let Some(at) = self.at {
            let elapsed = (now - at).as_seconds_f64().max(0.0);
            self.tokens = (self.tokens + elapsed * per_s).min(BURST);
        }
        self.at = Some(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / per_s))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_ten_a_minute() {
        let t0 = time::macros::datetime!(2026-01-01 00:00 UTC);
        let mut b = Bucket::default();
        for _ in 0..5 {
            assert!(b.take(t0).is_ok());
        }
        let wait = b.take(t0).unwrap_err();
        assert_eq!(wait.as_secs_f64().ceil(), 6.0);
        assert!(b.take(t0 + Duration::from_secs(6)).is_ok());
        assert!(b.take(t0 + Duration::from_secs(7)).is_err());
        // A minute later the sustained rate gives ten more.
        let later = t0 + Duration::from_secs(3600);
        let passed = (0..20).filter(|_| b.take(later).is_ok()).count();
        assert_eq!(passed, 5);
    }
}
