//! Charts drawn on the server as SVG: the response time with its phases stacked, and status
//! strips. Colours come from CSS classes (light and dark themes); every text is XML-escaped.

use std::fmt::Write as _;

use super::format;
use crate::store::{Micros, SeriesPoint};

/// Escapes text for XML and HTML content and attribute values.
pub use crate::html::escape as esc;

/// The latest checks as little bars, oldest first (`u` passed, `d` failed), padded on the
/// left to `slots` so strips line up.
pub fn recent_strip(recent: &str, slots: usize) -> String {
    let (w, gap, h) = (4, 1, 16);
    let width = slots * (w + gap);
    let mut s = format!(
        r#"<svg class="strip" viewBox="0 0 {width} {h}" width="{width}" height="{h}" role="img" aria-label="last {n} checks: {up} passed">"#,
        n = recent.len(),
        up = recent.matches('u').count()
    );
    // One path per colour keeps a page of 50 strips small.
    let pad = slots.saturating_sub(recent.len());
    let tail = &recent[recent.len().saturating_sub(slots)..];
    let (mut up, mut down, mut none) = (String::new(), String::new(), String::new());
    for (i, c) in std::iter::repeat_n('-', pad)
        .chain(tail.chars())
        .enumerate()
    {
        let bar = format!("M{} 0h{w}v{h}h-{w}z", i * (w + gap));
        match c {
            'u' => up.push_str(&bar),
            'd' => down.push_str(&bar),
            _ => none.push_str(&bar),
        }
    }
    for (class, d) in [("n", none), ("u", up), ("d", down)] {
        if !d.is_empty() {
            let _ = write!(s, r#"<path class="{class}" d="{d}"/>"#);
        }
    }
    s.push_str("</svg>");
    s
}

/// A "nice" axis maximum at or above `v`.
fn nice_max(v: f64) -> f64 {
    if v <= 0.0 {
        return 10.0;
    }
    let mag = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if v <= m * mag {
            return m * mag;
        }
    }
    10.0 * mag
}

/// An axis label: as few digits as the tick needs (0.25 ms, 2.5 ms, 250 ms, 1.5 s).
fn axis_ms(v: f64) -> String {
    let (v, unit) = if v >= 1000.0 {
        (v / 1000.0, "s")
    } else {
        (v, "ms")
    };
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s} {unit}")
}

const W: f64 = 900.0;
const H: f64 = 240.0;
const LEFT: f64 = 56.0;
const BOTTOM: f64 = 22.0;
const TOP: f64 = 8.0;

fn x_labels(s: &mut String, from: Micros, to: Micros, plot_w: f64) {
    let span = (to - from).max(1);
    for i in 0..=4 {
        let t = from + span * i / 4;
        let x = LEFT + plot_w * i as f64 / 4.0;
        let label = if span > 2 * crate::store::DAY {
            format::date(t)
        } else {
            let d = format::datetime(t);
            d[11..16].to_owned()
        };
        let anchor = match i {
            0 => "start",
            4 => "end",
            _ => "middle",
        };
        let _ = write!(
            s,
            r#"<text x="{x:.1}" y="{:.1}" text-anchor="{anchor}">{}</text>"#,
            H - 6.0,
            esc(&label)
        );
    }
}

/// Average response time per point with its five phases stacked (what is left of the average
/// beyond the phases is "other") and the p95 as a dashed line. Response times are those of the
/// successful checks; a point with failed checks is shaded in the failed colour behind its bar.
pub fn response_chart(points: &[SeriesPoint], from: Micros, to: Micros, step: Micros) -> String {
    let plot_w = W - LEFT - 8.0;
    let plot_h = H - TOP - BOTTOM;
    let max = points
        .iter()
        .map(|p| p.p95_ms.unwrap_or(0.0).max(p.avg_ms.unwrap_or(0.0)))
        .fold(0.0, f64::max);
    let top = nice_max(max);
    let mut s = format!(
        r#"<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="response time chart">"#
    );
    for i in 0..=4 {
        let v = top * i as f64 / 4.0;
        let y = TOP + plot_h - plot_h * i as f64 / 4.0;
        let _ = write!(
            s,
            r#"<line class="grid" x1="{LEFT}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            W - 8.0,
            LEFT - 6.0,
            y + 4.0,
            esc(&axis_ms(v))
        );
    }
    if points.is_empty() {
        let _ = write!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">No checks in this window yet</text>"#,
            LEFT + plot_w / 2.0,
            TOP + plot_h / 2.0
        );
    }
    let slots = ((to - from) / step.max(1)).max(1) as f64;
    let bw = plot_w / slots;
    let y_of = |v: f64| TOP + plot_h - (v / top * plot_h).min(plot_h);
    let mut p95 = String::new();
    for p in points {
        let x = LEFT + ((p.t - from) as f64 / step.max(1) as f64) * bw;
        let w = (bw * 0.8).max(1.0);
        let mut base = 0.0;
        let mut parts: Vec<(&str, f64)> =
            ["ph-dns", "ph-connect", "ph-tls", "ph-ttfb", "ph-transfer"]
                .into_iter()
                .zip(p.phases_ms)
                .collect();
        let sum: f64 = p.phases_ms.iter().sum();
        parts.push(("ph-other", p.avg_ms.map_or(0.0, |a| (a - sum).max(0.0))));
        let opt_ms = |v: Option<f64>| v.map(format::ms).unwrap_or_else(|| "–".into());
        let failed = p.checks.saturating_sub(p.up);
        let _ = write!(
            s,
            "<g><title>{}\n{} checks, {} up, {failed} failed\navg {} · p95 {} · max {}\ndns {} · connect {} · tls {} · ttfb {} · transfer {}</title>",
            esc(&format::datetime(p.t)),
            p.checks,
            p.up,
            esc(&opt_ms(p.avg_ms)),
            esc(&opt_ms(p.p95_ms)),
            esc(&opt_ms(p.max_ms)),
            esc(&format::ms(p.phases_ms[0])),
            esc(&format::ms(p.phases_ms[1])),
            esc(&format::ms(p.phases_ms[2])),
            esc(&format::ms(p.phases_ms[3])),
            esc(&format::ms(p.phases_ms[4])),
        );
        if failed > 0 {
            // Failed checks have no response time to stack (a refused connection is not a
            // "connect" bar): the slot is shaded in the failed colour, darker the larger their
            // share, behind the successful checks' bar.
            let share = failed as f64 / p.checks as f64;
            let _ = write!(
                s,
                r#"<rect class="failed" x="{x:.1}" y="{TOP:.1}" width="{w:.1}" height="{plot_h:.1}" fill-opacity="{:.2}"/>"#,
                0.2 + 0.6 * share
            );
        }
        for (class, v) in parts {
            if v <= 0.0 {
                continue;
            }
            let y1 = y_of(base + v);
            let y0 = y_of(base);
            let h = (y0 - y1).max(0.5);
            let _ = write!(
                s,
                r#"<rect class="{class}" x="{x:.1}" y="{y1:.1}" width="{w:.1}" height="{h:.1}"/>"#
            );
            base += v;
        }
        s.push_str("</g>");
        if let Some(v) = p.p95_ms {
            let _ = write!(p95, "{:.1},{:.1} ", x + w / 2.0, y_of(v));
        }
    }
    if !p95.is_empty() {
        let _ = write!(s, r#"<polyline class="p95" points="{}"/>"#, p95.trim_end());
    }
    x_labels(&mut s, from, to, plot_w);
    s.push_str("</svg>");
    s
}

/// One cell per point over the window: green all passed, amber some failed, red all failed,
/// grey no checks.
pub fn history_strip(points: &[SeriesPoint], from: Micros, to: Micros, step: Micros) -> String {
    let h = 28.0;
    let plot_w = W - LEFT - 8.0;
    let slots = ((to - from) / step.max(1)).max(1) as usize;
    let bw = plot_w / slots as f64;
    let mut s = format!(
        r#"<svg class="chart history" viewBox="0 0 {W} {}" role="img" aria-label="status history">"#,
        h + 18.0
    );
    let mut by_slot = vec![None; slots];
    for p in points {
        let i = ((p.t - from) / step.max(1)) as usize;
        if let Some(slot) = by_slot.get_mut(i) {
            *slot = Some(p);
        }
    }
    for (i, p) in by_slot.into_iter().enumerate() {
        let x = LEFT + i as f64 * bw;
        let (class, title) = match p {
            None => ("", "no checks".to_owned()),
            Some(p) if p.up == p.checks => {
                (r#" class="ok""#, format!("{} checks, all passed", p.checks))
            }
            Some(p) if p.up == 0 => (
                r#" class="bad""#,
                format!("{} checks, all failed", p.checks),
            ),
            Some(p) => (
                r#" class="part""#,
                format!("{} of {} checks failed", p.checks - p.up, p.checks),
            ),
        };
        let t = from + step * i as i64;
        let _ = write!(
            s,
            r#"<rect{class} x="{x:.1}" y="0" width="{:.1}" height="{h}" rx="1"><title>{} · {}</title></rect>"#,
            (bw - 1.0).max(0.5),
            esc(&format::datetime(t)),
            esc(&title)
        );
    }
    let mut labels = String::new();
    x_labels(&mut labels, from, to, plot_w);
    s.push_str(&labels.replace(
        &format!("y=\"{:.1}\"", H - 6.0),
        &format!("y=\"{:.1}\"", h + 14.0),
    ));
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc(r#"<script>"x"&'y'</script>"#),
            "&lt;script&gt;&quot;x&quot;&amp;&#39;y&#39;&lt;/script&gt;"
        );
    }

    #[test]
    fn strips_pad_to_the_same_width() {
        let a = recent_strip("ud", 30);
        assert_eq!(a.matches('M').count(), 30);
        assert_eq!(a.matches("<path").count(), 3);
        assert!(
            a.contains(r#"<path class="d" d="M145 0h4v16h-4z"/>"#),
            "{a}"
        );
        assert_eq!(nice_max(87.0), 100.0);
        assert_eq!(nice_max(1200.0), 2000.0);
        assert_eq!(axis_ms(0.25), "0.25 ms");
        assert_eq!(axis_ms(500.0), "500 ms");
        assert_eq!(axis_ms(1500.0), "1.5 s");
        assert_eq!(axis_ms(0.0), "0 ms");
    }

    #[test]
    fn a_chart_draws_one_group_per_point() {
        let p = SeriesPoint {
            t: 0,
            checks: 2,
            up: 1,
            avg_ms: Some(100.0),
            phases_ms: [1.0, 2.0, 3.0, 40.0, 4.0],
            p95_ms: Some(120.0),
            ..Default::default()
        };
        let svg = response_chart(
            &[p.clone(), SeriesPoint { t: 60_000_000, ..p }],
            0,
            3_600_000_000,
            60_000_000,
        );
        assert_eq!(svg.matches("<g>").count(), 2);
        assert!(svg.contains("ph-other"));
        assert!(svg.contains("polyline"));
    }

    #[test]
    fn failed_checks_are_shaded_as_failed_never_drawn_as_phases() {
        // A refused target: every check failed, after a millisecond of "connect".
        let refused = SeriesPoint {
            t: 0,
            checks: 3,
            up: 0,
            ..Default::default()
        };
        let svg = response_chart(&[refused], 0, 3_600_000_000, 60_000_000);
        assert_eq!(svg.matches(r#"<rect class="failed""#).count(), 1, "{svg}");
        assert!(svg.contains(r#"fill-opacity="0.80""#), "{svg}");
        assert!(
            !svg.contains("ph-connect") && !svg.contains("ph-other"),
            "{svg}"
        );
        assert!(svg.contains("3 checks, 0 up, 3 failed"));
        // Half failed: a lighter shade behind the successful checks' phases.
        // Two checks, `up` of them passed in 50 ms.
        let timed = |up| SeriesPoint {
            t: 0,
            checks: 2,
            up,
            avg_ms: Some(50.0),
            phases_ms: [1.0, 2.0, 3.0, 40.0, 4.0],
            ..Default::default()
        };
        let half = timed(1);
        let svg = response_chart(&[half], 0, 3_600_000_000, 60_000_000);
        assert!(svg.contains(r#"fill-opacity="0.50""#), "{svg}");
        assert!(
            svg.find(r#"class="failed""#) < svg.find("ph-dns"),
            "behind the bar"
        );
        // All passed: no shade.
        let ok = timed(2);
        assert!(!response_chart(&[ok], 0, 3_600_000_000, 60_000_000).contains("failed\""));
    }
}
