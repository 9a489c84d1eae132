//! `maintenance:`: planned work, when notifications are held back (mode `suppress`) or targets
//! are not probed (mode `pause`). One entry or a list; Gatus's form (`start: "23:00"`,
//! `duration`, `every: [Monday, …]`, `timezone`) works as it is. The schedules themselves are
//! `crate::state::maintenance`; docs/alerting.md, "Maintenance windows", is the user's page.

use std::sync::Arc;

use jiff::Timestamp;
use jiff::civil::{DateTime, Time, Weekday};
use jiff::tz::TimeZone;
use serde::Deserialize;

use super::file::Scalar;
use super::{ConfigError, parse};
use crate::state::maintenance::{Mode, Schedule, Window};

/// One entry as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowFile {
    pub name: Option<String>,
    /// `false` turns the entry off (Gatus).
    pub enabled: Option<bool>,
    /// A wall-clock time (`"23:00"`) for a recurring window, or a date and time
    /// (`2026-12-05T22:00`, or with an offset) for a one-off one.
    pub start: Option<String>,
    /// The end of a one-off window (instead of `duration`).
    pub end: Option<String>,
    pub duration: Option<Scalar>,
    /// The days of a recurring window (every day when absent).
    pub every: Option<Vec<String>>,
    /// A cron expression for when it starts (with `duration`).
    pub cron: Option<String>,
    /// An IANA time zone (default UTC).
    pub timezone: Option<String>,
    /// Target ids or names it covers (`*` wildcards), and tags; every target when neither.
    #[serde(default)]
    pub targets: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// `suppress` (default) or `pause`.
    pub mode: Option<String>,
}

/// `maintenance:` as written: Gatus's one window or a list of them.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum MaintenanceFile {
    One(Box<WindowFile>),
    Many(Vec<WindowFile>),
}

impl Default for MaintenanceFile {
    fn default() -> Self {
        MaintenanceFile::Many(Vec::new())
    }
}

impl MaintenanceFile {
    fn entries(&self) -> (Vec<&WindowFile>, bool) {
        match self {
            MaintenanceFile::One(w) => (vec![w], true),
            MaintenanceFile::Many(list) => (list.iter().collect(), false),
        }
    }
}

/// Validates `maintenance:`; entries turned off are left out.
pub fn windows_of(file: &MaintenanceFile) -> Result<Arc<[Window]>, ConfigError> {
    let (entries, one) = file.entries();
    let mut out = Vec::new();
    for (i, w) in entries.into_iter().enumerate() {
        let field = if one {
            "maintenance".to_owned()
        } else {
            format!("maintenance[{i}]")
        };
        if w.enabled == Some(false) {
            continue;
        }
        out.push(window_of(w, &field, i)?);
    }
    Ok(out.into())
}

fn window_of(w: &WindowFile, field: &str, i: usize) -> Result<Window, ConfigError> {
    let f = |k: &str| format!("{field}.{k}");
    let timezone = match w.timezone.as_deref().map(str::trim) {
        None | Some("") => TimeZone::UTC,
        Some(name) => TimeZone::get(name).map_err(|_| {
            ConfigError::new(
                f("timezone"),
                name,
                "an IANA time zone such as Europe/Berlin or America/New_York",
            )
        })?,
    };
    let duration = w
        .duration
        .as_ref()
        .map(|v| {
            parse::seconds(&v.to_string())
                .map_err(|e| ConfigError::new(f("duration"), v.to_string(), e))
        })
        .transpose()?;
    let start = w.start.as_deref().map(str::trim);
    let wall_clock = start.and_then(wall_time);
    let (schedule, duration) = if let Some(cron) = &w.cron {
        if start.is_some() || w.every.is_some() {
            return Err(ConfigError::new(
                f("cron"),
                cron,
                "cron: on its own, without start: or every: (it says when the window starts)",
            ));
        }
        let parsed: croner::Cron = cron
            .parse()
            .map_err(|e| ConfigError::new(f("cron"), cron, format!("a cron expression ({e})")))?;
        let d = duration.ok_or_else(|| needs_duration(&f("duration")))?;
        (Schedule::Cron(Box::new(parsed)), d)
    } else if let Some(at) = wall_clock {
        if w.end.is_some() {
            return Err(ConfigError::new(
                f("end"),
                w.end.clone().unwrap_or_default(),
                "duration: for a recurring window (end: is for one with a start date)",
            ));
        }
        let days = w
            .every
            .iter()
            .flatten()
            .map(|d| {
                weekday(d).ok_or_else(|| {
                    ConfigError::new(f("every"), d, "days such as Monday, Tuesday … Sunday")
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let d = duration.ok_or_else(|| needs_duration(&f("duration")))?;
        (Schedule::Weekly { days, start: at }, d)
    } else if let Some(s) = start {
        if w.every.is_some() {
            return Err(ConfigError::new(
                f("start"),
                s,
                "a time of day such as \"23:00\" with every:",
            ));
        }
        let from = instant(s, &timezone).ok_or_else(|| {
            ConfigError::new(
                f("start"),
                s,
                "a time of day such as \"23:00\" (recurring) or a date and time such as \
                 2026-12-05T22:00 (once)",
            )
        })?;
        let d = match (duration, w.end.as_deref()) {
            (Some(_), Some(end)) => {
                return Err(ConfigError::new(
                    f("end"),
                    end,
                    "end: or duration:, not both",
                ));
            }
            (Some(d), None) => d,
            (None, Some(end)) => {
                let to = instant(end.trim(), &timezone).ok_or_else(|| {
                    ConfigError::new(f("end"), end, "a date and time such as 2026-12-06T02:00")
                })?;
                let micros = to.as_microsecond() - from.as_microsecond();
                if micros <= 0 {
                    return Err(ConfigError::new(f("end"), end, "a time after start:"));
                }
                std::time::Duration::from_micros(micros as u64)
            }
            (None, None) => return Err(needs_duration(&f("duration"))),
        };
        (Schedule::Once(from), d)
    } else {
        return Err(ConfigError::new(
            f("start"),
            "",
            "start: (a time of day, or a date and time) or cron:",
        ));
    };
    if duration.is_zero() {
        return Err(needs_duration(&f("duration")));
    }
    let mode = match w.mode.as_deref().map(str::trim) {
        None | Some("suppress") => Mode::Suppress,
        Some("pause") => Mode::Pause,
        Some(other) => return Err(ConfigError::new(f("mode"), other, "suppress or pause")),
    };
    Ok(Window {
        name: w
            .name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| format!("#{}", i + 1)),
        schedule,
        duration,
        timezone,
        targets: w.targets.clone(),
        tags: w.tags.clone(),
        mode,
    })
}

fn needs_duration(field: &str) -> ConfigError {
    ConfigError::new(field, "", "a positive duration such as 1h or 30m")
}

/// `23:00` or `23:00:00`.
fn wall_time(s: &str) -> Option<Time> {
    if s.len() > 8 || s.contains(['-', 'T', ' ']) {
        return None;
    }
    s.parse().ok()
}

/// A date and time: with an offset (`Z`, `+02:00`) as written, else in `tz`.
fn instant(s: &str, tz: &TimeZone) -> Option<Timestamp> {
    if let Ok(t) = s.parse::<Timestamp>() {
        return Some(t);
    }
    let civil: DateTime = s.parse().ok()?;
    Some(civil.to_zoned(tz.clone()).ok()?.timestamp())
}

fn weekday(s: &str) -> Option<Weekday> {
    let s = s.trim().to_ascii_lowercase();
    let days = [
        ("monday", Weekday::Monday),
        ("tuesday", Weekday::Tuesday),
        ("wednesday", Weekday::Wednesday),
        ("thursday", Weekday::Thursday),
        ("friday", Weekday::Friday),
        ("saturday", Weekday::Saturday),
        ("sunday", Weekday::Sunday),
    ];
    days.into_iter()
        .find(|(name, _)| *name == s || (s.len() >= 3 && name.starts_with(&s)))
        .map(|(_, d)| d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(yaml: &str) -> Result<Arc<[Window]>, ConfigError> {
        windows_of(&serde_yaml_ng::from_str(yaml).unwrap())
    }

    #[test]
    fn gatus_s_one_window_reads_as_it_is() {
        let w = read(
            "{enabled: true, start: '23:00', duration: 1h, timezone: Europe/Amsterdam, \
             every: [Monday, Thursday]}",
        )
        .unwrap();
        assert_eq!(w.len(), 1);
        assert!(matches!(&w[0].schedule, Schedule::Weekly { days, .. } if days.len() == 2));
        assert_eq!(w[0].duration.as_secs(), 3600);
        assert_eq!(w[0].mode, Mode::Suppress);
        assert!(
            read("{enabled: false, start: '23:00', duration: 1h}")
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn one_off_and_cron_windows_and_modes() {
        let w = read(
            "[{name: upgrade, start: '2026-12-05T22:00', end: '2026-12-06T02:00', \
               timezone: Europe/Berlin, tags: [db], mode: pause},
              {cron: '0 23 * * 1-5', duration: 30m, targets: ['api-*']}]",
        )
        .unwrap();
        // 22:00 in Berlin in December is 21:00 UTC.
        let start: Timestamp = "2026-12-05T21:00:00Z".parse().unwrap();
        assert!(matches!(w[0].schedule, Schedule::Once(t) if t == start));
        assert_eq!(w[0].duration.as_secs(), 4 * 3600);
        assert_eq!((w[0].name.as_str(), w[0].mode), ("upgrade", Mode::Pause));
        assert!(matches!(w[1].schedule, Schedule::Cron(_)));
        assert_eq!(w[1].name, "#2");
    }

    #[test]
    fn mistakes_are_named() {
        for (yaml, field, says) in [
            (
                "{start: '23:00'}",
                "maintenance.duration",
                "positive duration",
            ),
            (
                "{start: '23:00', duration: 1h, timezone: Mars/Olympus}",
                "maintenance.timezone",
                "IANA",
            ),
            (
                "{start: '23:00', duration: 1h, every: [Funday]}",
                "maintenance.every",
                "Monday",
            ),
            (
                "[{start: 'tomorrow', duration: 1h}]",
                "maintenance[0].start",
                "time of day",
            ),
            (
                "{start: '2026-12-05T22:00', end: '2026-12-05T21:00'}",
                "maintenance.end",
                "after",
            ),
            (
                "{cron: 'nonsense', duration: 1h}",
                "maintenance.cron",
                "cron expression",
            ),
            (
                "{cron: '0 1 * * *', start: '01:00', duration: 1h}",
                "maintenance.cron",
                "own",
            ),
            (
                "{start: '23:00', duration: 1h, mode: off}",
                "maintenance.mode",
                "suppress or pause",
            ),
            ("{duration: 1h}", "maintenance.start", "cron"),
        ] {
            let e = read(yaml).unwrap_err();
            assert_eq!(e.setting, field, "{yaml}: {e}");
            assert!(e.to_string().contains(says), "{yaml}: {e}");
        }
    }
}
