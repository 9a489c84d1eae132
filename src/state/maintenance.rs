//! Maintenance windows: when planned work is under way, and for which targets. A window is
//! one-off (a start and an end), weekly (Gatus's form: days, a wall-clock start and a
//! duration) or a cron expression with a duration, read in an IANA time zone: a weekly window
//! at 02:30 in Europe/Berlin starts at 02:30 local time in winter and in summer, and on the
//! night a daylight-saving change skips 02:30 it starts at 03:30 (the wall clock's next
//! existing instant). Pure: the caller asks at a time.

use std::time::Duration;

use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};

/// Microseconds since the Unix epoch (the stores' time).
type Micros = i64;

/// What a window does to the targets it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Keep probing and storing; send no new notifications (the default).
    #[default]
    Suppress,
    /// Do not probe at all.
    Pause,
}

impl Mode {
    pub const fn as_str(self) -> &'static str {
        match self {
            Mode::Suppress => "suppress",
            Mode::Pause => "pause",
        }
    }
}

/// When a window recurs.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// Once, from this instant.
    Once(Timestamp),
    /// On these days (every day when empty) at this wall-clock time.
    Weekly { days: Vec<Weekday>, start: Time },
    /// At each time a cron expression matches.
    Cron(Box<croner::Cron>),
}

/// One maintenance window, as configured (validated).
#[derive(Debug, Clone)]
pub struct Window {
    /// Its name, as notices and the dashboard show it.
    pub name: String,
    pub schedule: Schedule,
    pub duration: Duration,
    pub timezone: TimeZone,
    /// Target ids or names it covers (`*` wildcards); with `tags`, a target matching either
    /// is covered; every target when both are empty.
    pub targets: Vec<String>,
    pub tags: Vec<String>,
    pub mode: Mode,
}

impl Window {
    /// Whether it covers a target (by id, name and tags).
    pub fn covers(&self, id: &str, name: &str, tags: &[String]) -> bool {
        if self.targets.is_empty() && self.tags.is_empty() {
            return true;
        }
        self.targets
            .iter()
            .any(|p| wildcard(p, id) || wildcard(p, name))
            || self.tags.iter().any(|t| tags.contains(t))
    }

    /// The end of the occurrence under way at `at`, if one is.
    pub fn active_until(&self, at: Micros) -> Option<Micros> {
        let d = i64::try_from(self.duration.as_micros()).unwrap_or(i64::MAX);
        let start = self.last_start(at, d)?;
        let end = start.saturating_add(d);
        (start <= at && at < end).then_some(end)
    }

    /// The instant `start` on `date` is in the window's time zone (the next existing one when
    /// a daylight-saving change skips it).
    fn wall_clock(&self, date: Date, start: Time) -> Option<Micros> {
        let z = date
            .to_datetime(start)
            .to_zoned(self.timezone.clone())
            .ok()?;
        Some(z.timestamp().as_microsecond())
    }

    /// The first start after `at` (within the next eight days for a weekly window).
    pub fn next_start(&self, at: Micros) -> Option<Micros> {
        match &self.schedule {
            Schedule::Once(t) => Some(t.as_microsecond()).filter(|s| *s > at),
            Schedule::Weekly { days, start } => {
                let mut date: Date = Timestamp::from_microsecond(at)
                    .ok()?
                    .to_zoned(self.timezone.clone())
                    .date();
                for _ in 0..=8 {
                    if days.is_empty() || days.contains(&date.weekday()) {
                        let s = self.wall_clock(date, *start)?;
                        if s > at {
                            return Some(s);
                        }
                    }
                    date = date.tomorrow().ok()?;
                }
                None
            }
            Schedule::Cron(cron) => {
                let from = Timestamp::from_microsecond(at)
                    .ok()?
                    .to_zoned(self.timezone.clone());
                let next: Zoned = cron.find_next_occurrence(&from, false).ok()?;
                Some(next.timestamp().as_microsecond())
            }
        }
    }

    /// The latest start at or before `at` that may still be under way (after `at - d`).
    fn last_start(&self, at: Micros, d: Micros) -> Option<Micros> {
        match &self.schedule {
            Schedule::Once(t) => Some(t.as_microsecond()),
            Schedule::Weekly { days, start } => {
                let now = Timestamp::from_microsecond(at)
                    .ok()?
                    .to_zoned(self.timezone.clone());
                // Occurrences that began up to the duration (and a day) before.
                let back = d / (86_400 * 1_000_000) + 1;
                let mut date: Date = now.date();
                for _ in 0..=back {
                    if days.is_empty() || days.contains(&date.weekday()) {
                        let s = self.wall_clock(date, *start)?;
                        if s <= at {
                            return Some(s);
                        }
                    }
                    date = date.yesterday().ok()?;
                }
                None
            }
            Schedule::Cron(cron) => {
                let from = Timestamp::from_microsecond(at.saturating_sub(d))
                    .ok()?
                    .to_zoned(self.timezone.clone());
                let next: Zoned = cron.find_next_occurrence(&from, false).ok()?;
                let s = next.timestamp().as_microsecond();
                (s <= at).then_some(s)
            }
        }
    }
}

/// Whether `text` matches `pattern`, where `*` stands for any run of characters.
pub fn wildcard(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for p in middle {
        match rest.find(p) {
            Some(i) => rest = &rest[i + p.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn micros(s: &str) -> Micros {
        s.parse::<Timestamp>().unwrap().as_microsecond()
    }

    fn weekly(days: &[Weekday], start: &str, hours: u64, tz: &str) -> Window {
        Window {
            name: "w".into(),
            schedule: Schedule::Weekly {
                days: days.to_vec(),
                start: start.parse().unwrap(),
            },
            duration: Duration::from_secs(hours * 3600),
            timezone: TimeZone::get(tz).unwrap(),
            targets: Vec::new(),
            tags: Vec::new(),
            mode: Mode::Suppress,
        }
    }

    #[test]
    fn a_weekly_window_keeps_its_wall_clock_time_across_daylight_saving_changes() {
        // Sundays 01:00–03:00 in Berlin: 2026-03-29 is the spring change (02:00 → 03:00),
        // 2026-10-25 the autumn one (03:00 → 02:00).
        let w = weekly(&[Weekday::Sunday], "01:00", 2, "Europe/Berlin");
        // Winter (UTC+1): 01:00 local is 00:00 UTC.
        assert!(w.active_until(micros("2026-03-22T00:00:00Z")).is_some());
        assert!(w.active_until(micros("2026-03-21T23:59:59Z")).is_none());
        // The spring night: starts 00:00 UTC, two hours of real time, to 02:00 UTC (04:00
        // local, the clock having jumped).
        assert_eq!(
            w.active_until(micros("2026-03-29T01:30:00Z")),
            Some(micros("2026-03-29T02:00:00Z"))
        );
        // Summer (UTC+2): 01:00 local is 23:00 UTC the evening before.
        assert!(w.active_until(micros("2026-04-04T23:00:00Z")).is_some());
        // Announced ahead: the next start after one, in summer time.
        assert_eq!(
            w.next_start(micros("2026-03-29T00:00:00Z")),
            Some(micros("2026-04-04T23:00:00Z"))
        );
        assert!(w.active_until(micros("2026-04-04T22:59:00Z")).is_none());
        assert!(w.active_until(micros("2026-04-05T01:00:00Z")).is_none());
        // Autumn: 01:00 is still summer time (23:00 UTC); two real hours end at 01:00 UTC.
        assert!(w.active_until(micros("2026-10-24T23:00:00Z")).is_some());
        assert!(w.active_until(micros("2026-10-25T00:59:00Z")).is_some());
        assert!(w.active_until(micros("2026-10-25T01:00:00Z")).is_none());
        // Not on other days.
        assert!(w.active_until(micros("2026-03-23T00:30:00Z")).is_none());
    }

    #[test]
    fn a_start_the_clock_skips_begins_at_the_next_existing_instant() {
        // 02:30 does not exist in Berlin on 2026-03-29: the window starts at 03:30 local
        // (01:30 UTC) and lasts its hour.
        let w = weekly(&[], "02:30", 1, "Europe/Berlin");
        assert!(w.active_until(micros("2026-03-29T01:29:00Z")).is_none());
        assert_eq!(
            w.active_until(micros("2026-03-29T01:30:00Z")),
            Some(micros("2026-03-29T02:30:00Z"))
        );
    }

    #[test]
    fn a_window_longer_than_a_day_and_one_past_midnight_are_found() {
        let w = weekly(&[Weekday::Friday], "22:00", 60, "UTC");
        assert!(
            w.active_until(micros("2026-12-06T09:00:00Z")).is_some(),
            "Sunday"
        );
        assert!(
            w.active_until(micros("2026-12-07T10:00:00Z")).is_none(),
            "Monday"
        );
    }

    #[test]
    fn once_and_cron_windows() {
        let once = Window {
            schedule: Schedule::Once("2026-12-05T22:00:00Z".parse().unwrap()),
            ..weekly(&[], "00:00", 2, "UTC")
        };
        assert!(once.active_until(micros("2026-12-05T23:59:00Z")).is_some());
        assert!(once.active_until(micros("2026-12-06T00:00:00Z")).is_none());
        assert!(once.active_until(micros("2026-12-05T21:59:00Z")).is_none());
        // Weekdays at 23:00 New York time, for 30 minutes.
        let cron = Window {
            schedule: Schedule::Cron(Box::new("0 23 * * 1-5".parse().unwrap())),
            duration: Duration::from_secs(1800),
            ..weekly(&[], "00:00", 0, "America/New_York")
        };
        // Thursday 2026-12-03 23:10 EST is 04:10 UTC on the 4th.
        assert!(cron.active_until(micros("2026-12-04T04:10:00Z")).is_some());
        assert!(cron.active_until(micros("2026-12-04T04:30:00Z")).is_none());
        // Saturday night is not a weekday.
        assert!(cron.active_until(micros("2026-12-06T04:10:00Z")).is_none());
    }

    #[test]
    fn windows_cover_targets_by_pattern_or_tag() {
        let mut w = weekly(&[], "00:00", 1, "UTC");
        assert!(w.covers("a", "A", &[]), "every target when unscoped");
        w.targets = vec!["db-*".into()];
        w.tags = vec!["db".into()];
        assert!(w.covers("db-1", "x", &[]));
        assert!(w.covers("x", "db-2", &[]));
        assert!(w.covers("x", "y", &["db".into()]));
        assert!(!w.covers("web-1", "web", &["web".into()]));
    }

    #[test]
    fn wildcards() {
        for (p, t, m) in [
            ("*", "", true),
            ("a*", "abc", true),
            ("*c", "abc", true),
            ("a*c", "abbbc", true),
            ("a*b*c", "axbyc", true),
            ("a*c", "ac", true),
            ("a*a", "a", false),
            ("abc", "abcd", false),
            ("*x*", "abc", false),
        ] {
            assert_eq!(wildcard(p, t), m, "{p} ~ {t}");
        }
    }
}
