//! The windows of charts and uptime, by name: `1h` to `30d`, `24h` when none is named.

use super::AppError;
use crate::store::{DAY, HOUR, MINUTE, Micros};

/// A chart window: its name, span and the step of its points.
pub const WINDOWS: [(&str, Micros, Micros); 5] = [
    ("1h", HOUR, MINUTE),
    ("6h", 6 * HOUR, 5 * MINUTE),
    ("24h", DAY, 15 * MINUTE),
    ("7d", 7 * DAY, HOUR),
    ("30d", 30 * DAY, 6 * HOUR),
];

/// One of [`WINDOWS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub name: &'static str,
    pub span: Micros,
    pub step: Micros,
}

impl Window {
    /// The window a request names (None: `24h`), or a bad request that lists the names.
    pub fn named(name: Option<&str>) -> Result<Window, AppError> {
        let name = name.unwrap_or("24h");
        WINDOWS
            .iter()
            .find(|w| w.0 == name)
            .map(|&(name, span, step)| Window { name, span, step })
            .ok_or_else(|| {
                AppError::BadRequest(format!(
                    "window: expected 1h, 6h, 24h, 7d or 30d, got {name:?}"
                ))
            })
    }

    /// `[from, to)` of the window ending now, aligned to whole steps.
    pub fn range(&self, now: Micros) -> (Micros, Micros) {
        let to = now - now.rem_euclid(self.step) + self.step;
        (to - self.span, to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_ends_at_the_step_after_now_and_defaults_to_a_day() {
        let w = Window::named(None).unwrap();
        assert_eq!((w.name, w.span, w.step), ("24h", DAY, 15 * MINUTE));
        let now = 10 * DAY + 20 * MINUTE;
        assert_eq!(
            w.range(now),
            (9 * DAY + 30 * MINUTE, 10 * DAY + 30 * MINUTE)
        );
        assert!(matches!(
            Window::named(Some("2h")),
            Err(AppError::BadRequest(m)) if m.contains("\"2h\"")
        ));
    }
}
