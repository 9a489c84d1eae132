//! How numbers and times read on the dashboard.

use crate::store::{HOUR, MINUTE, Micros, SECOND, from_micros};

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
    }
}
