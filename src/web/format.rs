//! How numbers and times read on the dashboard.

use crate::store::{DAY, HOUR, MINUTE, Micros, SECOND, from_micros};

pub fn ms(v: f64) -> String {
    if v >= 10_000.0 {
        format!("{:.0} s", v / 1000.0)
    } else if v >= 1000.0 {
        format!("{:.2} s", v / 1000.0)
    } else if v >= 10.0 {
        format!("{v:.0} ms")
    } else {
        format!("{v:.1} ms")
    }
}

/// A ratio as a percentage that never shows 100 % for less than perfect.
pub fn percent(r: Option<f64>) -> String {
    match r {
        None => "–".into(),
        Some(r) if r >= 1.0 => "100%".into(),
        Some(r) => {
            let p = r * 100.0;
            let s = if p >= 99.0 {
                format!("{:.2}", (p * 100.0).floor() / 100.0)
            } else {
                format!("{:.1}", (p * 10.0).floor() / 10.0)
            };
            format!("{s}%")
        }
    }
}

pub fn datetime(m: Micros) -> String {
    let t = from_micros(m);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// A time on the day of `now` as its hour (`14:00 UTC`), another with its date.
pub fn clock(m: Micros, now: Micros) -> String {
    let t = from_micros(m);
    let hm = format!("{:02}:{:02} UTC", t.hour(), t.minute());
    if from_micros(now).date() == t.date() {
        hm
    } else {
        format!("{} {hm}", date(m))
    }
}

pub fn date(m: Micros) -> String {
    let t = from_micros(m);
    format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
}

/// `45 s`, `12 min`, `3 h 5 min`, `2 d 4 h`.
pub fn duration(d: Micros) -> String {
    let s = d.max(0) / SECOND;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min {} s", s / 60, s % 60)
            .trim_end_matches(" 0 s")
            .to_owned(),
        3600..86_400 => format!("{} h {} min", s / 3600, (s % 3600) / 60),
        _ => format!("{} d {} h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// A configured length as it was likely written: `2 h`, `1 d`, `1 h 30 min`.
pub fn length(d: Micros) -> String {
    let s = d.max(0) / SECOND;
    let parts = [
        (s / 86_400, "d"),
        (s % 86_400 / 3600, "h"),
        (s % 3600 / 60, "min"),
        (s % 60, "s"),
    ];
    let out: Vec<String> = parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n} {unit}"))
        .collect();
    if out.is_empty() {
        "0 s".into()
    } else {
        out.join(" ")
    }
}

pub fn ago(m: Micros, now: Micros) -> String {
    let d = now - m;
    if d < 2 * SECOND {
        "just now".into()
    } else if d < MINUTE {
        format!("{} s ago", d / SECOND)
    } else if d < HOUR {
        format!("{} min ago", d / MINUTE)
    } else {
        format!("{} ago", duration(d))
    }
}

/// Certificates expiring within this many days are marked on the overview.
pub const CERT_WARN_DAYS: i64 = 14;

/// The overview's mark for a certificate that has expired or expires within
/// [`CERT_WARN_DAYS`]: its text and class (`bad` expired, `warn` soon); None when it is fine.
pub fn cert_mark(not_after: Option<Micros>, now: Micros) -> Option<(String, &'static str)> {
    let left = not_after? - now;
    if left <= 0 {
        Some((
            format!("certificate expired {}", ago(now + left, now)),
            "bad",
        ))
    } else if left < CERT_WARN_DAYS * DAY {
        Some((format!("certificate expires in {}", duration(left)), "warn"))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readable_values() {
        assert_eq!(ms(3.25), "3.2 ms");
        assert_eq!(ms(87.4), "87 ms");
        assert_eq!(ms(1234.0), "1.23 s");
        assert_eq!(percent(Some(0.99999)), "99.99%");
        assert_eq!(percent(Some(1.0)), "100%");
        assert_eq!(percent(Some(0.5)), "50.0%");
        assert_eq!(percent(None), "–");
        assert_eq!(duration(90 * SECOND), "1 min 30 s");
        assert_eq!(duration(120 * SECOND), "2 min");
        assert_eq!(duration(3 * HOUR + 5 * MINUTE), "3 h 5 min");
        assert_eq!(ago(0, 30 * SECOND), "30 s ago");
        assert_eq!(datetime(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(clock(14 * HOUR, HOUR), "14:00 UTC");
        assert_eq!(length(2 * HOUR), "2 h");
        assert_eq!(length(DAY + 90 * MINUTE), "1 d 1 h 30 min");
        assert_eq!(clock(DAY + 2 * HOUR, 23 * HOUR), "1970-01-02 02:00 UTC");
    }

    #[test]
    fn certificates_expired_or_expiring_within_14_days_are_marked() {
        let now = 100 * DAY;
        assert_eq!(cert_mark(None, now), None);
        assert_eq!(cert_mark(Some(now + 15 * DAY), now), None);
        assert_eq!(
            cert_mark(Some(now + 13 * DAY + HOUR), now),
            Some(("certificate expires in 13 d 1 h".into(), "warn"))
        );
        assert_eq!(
            cert_mark(Some(now - 2 * DAY), now),
            Some(("certificate expired 2 d 0 h ago".into(), "bad"))
        );
        assert_eq!(cert_mark(Some(now), now).unwrap().1, "bad");
    }
}
