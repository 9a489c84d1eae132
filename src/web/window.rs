//! The windows of charts and uptime, by name: `1h` to `30d`.

use crate::store::{DAY, HOUR, MINUTE, Micros};

/// A chart window: its name, span and the step of its points.
pub const WINDOWS: [(&str, Micros, Micros); 5] = [
    ("1h", HOUR, MINUTE),
    ("6h", 6 * HOUR, 5 * MINUTE),
    ("24h", DAY, 15 * MINUTE),
    ("7d", 7 * DAY, HOUR),
    ("30d", 30 * DAY, 6 * HOUR),
];

/// `[from, to)` and step of a named window ending now (aligned to whole steps).
pub fn window(name: &str, now: Micros) -> Option<(Micros, Micros, Micros)> {
    let (_, span, step) = WINDOWS.iter().find(|w| w.0 == name)?;
    let to = now - now.rem_euclid(*step) + step;
    Some((to - span, to, *step))
}
