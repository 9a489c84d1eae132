//! The table `uptimer probe` prints. Piped, it is printed whole at the end in command-line
//! order, exactly as before; on a terminal (or with `--stream`) each row is printed as its
//! result arrives, with column widths fixed in advance, and every line fits the terminal:
//! long URLs and errors are cut with `…` (`--json` keeps them whole).

use std::time::Duration;

use crate::event::{ErrorKind, ProbeEvent};

/// Width when streaming and neither `--width` nor `COLUMNS` says: the classic terminal.
pub const DEFAULT_WIDTH: usize = 80;

/// The narrowest a URL is cut to, however narrow the terminal: a URL must stay recognisable.
const MIN_URL: usize = 16;

/// Room kept for the error column when lines are cut: its kind, the longest being
/// `connect_refused` and `tls_certificate`, and a colon.
const ERROR_KIND: usize = 16;

/// How `probe` prints its table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Output {
    /// Rows as results arrive (then the summary), instead of the whole table at the end.
    pub stream: bool,
    /// The longest a line may be, in characters; `None` for no limit.
    pub width: Option<usize>,
}

impl Output {
    /// Streams on a terminal or when asked to; limits lines to `--width` (0 = no limit), else
    /// when streaming to `columns` (COLUMNS, else the terminal's width) or 80. Piped without
    /// flags: today's table, untouched.
    pub fn decide(
        stream_flag: bool,
        width_flag: Option<usize>,
        is_terminal: bool,
        columns: Option<&str>,
    ) -> Output {
        let stream = stream_flag || is_terminal;
        let width = match width_flag {
            Some(0) => None,
            Some(w) => Some(w),
            None if stream => Some(
                columns
                    .and_then(|c| c.trim().parse::<usize>().ok())
                    .filter(|w| *w > 0)
                    .unwrap_or(DEFAULT_WIDTH),
            ),
            None => None,
        };
        Output { stream, width }
    }
}

const HEADER: [&str; 5] = ["STATUS", "CODE", "TIME", "URL", "ERROR"];

/// The cells of one row: status, code, time, URL, error.
fn cells(e: &ProbeEvent) -> [String; 5] {
    [
        if e.up == Some(true) && e.degraded == Some(true) {
            "degraded".into()
        } else if e.up == Some(true) {
            "up".into()
        } else {
            "DOWN".into()
        },
        e.answer().unwrap_or_else(|| "-".into()),
        format!("{} ms", e.response_time_ms),
        e.url.clone().unwrap_or_default(),
        match (&e.error_kind, &e.error) {
            (Some(ErrorKind::Condition), _) => failed_conditions(e),
            (Some(k), Some(m)) => format!("{k}: {m}"),
            _ => String::new(),
        },
    ]
}

/// `condition: ` and every failed condition's resolved text (the event's `error` has the first).
fn failed_conditions(e: &ProbeEvent) -> String {
    let failed: Vec<&str> = e
        .conditions
        .iter()
        .flatten()
        .filter(|r| !r.success)
        .map(|r| r.resolved.as_str())
        .collect();
    format!("{}: {}", ErrorKind::Condition, failed.join("; "))
}

/// `s` cut to `max` characters, the last one `…` when something was cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    if max > 0 {
        out.push('…');
    }
    out
}

/// Column widths for the first four columns (the error takes what is left).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    widths: [usize; 4],
    line: Option<usize>,
}

impl Layout {
    /// Widths fitting `natural` (the widest cell of each column, the error's `usize::MAX` when
    /// unknown) within `line` characters. The error keeps room for its kind; the URL gives way
    /// down to a recognisable minimum; past that the line is cut.
    fn fit(natural: [usize; 5], line: Option<usize>) -> Layout {
        let mut widths = [natural[0], natural[1], natural[2], natural[3]];
        if let Some(max) = line {
            let fixed: usize = widths[..3].iter().map(|w| w + 2).sum();
            let rest = max.saturating_sub(fixed + 2);
            let error = natural[4].clamp(HEADER[4].len(), ERROR_KIND);
            widths[3] = widths[3].min(rest.saturating_sub(error).max(MIN_URL));
        }
        Layout { widths, line }
    }

    /// For streaming: widths known before any result, from the URLs and the longest timeout.
    pub fn for_stream<'a>(
        urls: impl IntoIterator<Item = &'a str>,
        timeout: Duration,
        line: Option<usize>,
    ) -> Layout {
        let url = urls
            .into_iter()
            .map(|u| u.chars().count())
            .chain([HEADER[3].len()])
            .max()
            .unwrap_or_default();
        // A probe ends at its timeout; a little over it still fits most of the time.
        let time = format!("{} ms", timeout.as_millis())
            .len()
            .max(HEADER[2].len());
        Layout::fit(
            [HEADER[0].len(), HEADER[1].len(), time, url, usize::MAX],
            line,
        )
    }

    fn render(&self, cells: &[String; 5]) -> String {
        let mut parts: Vec<String> = cells[..4]
            .iter()
            .zip(self.widths)
            .map(|(cell, w)| format!("{:<w$}", truncate(cell, w)))
            .collect();
        parts.push(cells[4].clone());
        let line = parts.join("  ").trim_end().to_owned();
        match self.line {
            Some(max) => truncate(&line, max),
            None => line,
        }
    }

    /// The header line, newline included.
    pub fn header(&self) -> String {
        format!("{}\n", self.render(&HEADER.map(str::to_owned)))
    }

    /// One result's line, newline included.
    pub fn row(&self, e: &ProbeEvent) -> String {
        format!("{}\n", self.render(&cells(e)))
    }
}

/// The closing line: how many were up.
pub fn summary(up: usize, total: usize) -> String {
    format!("{up}/{total} up\n")
}

/// The whole table, widths from its own cells: one row per target, then the summary.
pub fn table(events: &[ProbeEvent], width: Option<usize>) -> String {
    let rows: Vec<[String; 5]> = events.iter().map(cells).collect();
    let header = HEADER.map(str::to_owned);
    let mut natural = [0usize; 5];
    for row in std::iter::once(&header).chain(&rows) {
        for (w, cell) in natural.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let layout = Layout::fit(natural, width);
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        out.push_str(&layout.render(row));
        out.push('\n');
    }
    let up = events.iter().filter(|e| e.up == Some(true)).count();
    out.push_str(&summary(up, events.len()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_terminal_streams_within_columns_and_a_pipe_keeps_the_table() {
        let piped = Output::decide(false, None, false, Some("50"));
        assert_eq!(
            piped,
            Output {
                stream: false,
                width: None
            }
        );
        let tty = Output::decide(false, None, true, Some("120"));
        assert_eq!(
            tty,
            Output {
                stream: true,
                width: Some(120)
            }
        );
        assert_eq!(Output::decide(false, None, true, None).width, Some(80));
        assert_eq!(
            Output::decide(false, None, true, Some("wide")).width,
            Some(80)
        );
        assert_eq!(
            Output::decide(true, None, false, Some("60")).width,
            Some(60)
        );
        assert_eq!(Output::decide(false, Some(0), true, Some("60")).width, None);
        assert_eq!(Output::decide(false, Some(40), false, None).width, Some(40));
    }

    #[test]
    fn failed_conditions_and_degraded_show_in_the_table() {
        use crate::event::ConditionResult;
        let result = |c: &str, success: bool, resolved: &str| ConditionResult {
            condition: c.into(),
            success,
            resolved: resolved.into(),
        };
        let mut down = ProbeEvent::new(time::OffsetDateTime::UNIX_EPOCH, "http", "h", Some(80));
        down.up = Some(false);
        down.error_kind = Some(ErrorKind::Condition);
        down.error = Some("[STATUS] (500) == 200".into());
        down.conditions = Some(vec![
            result("[STATUS] == 200", false, "[STATUS] (500) == 200"),
            result("[RESPONSE_TIME] < 500", true, "[RESPONSE_TIME] < 500"),
            result("[BODY].ok == true", false, "[BODY].ok (false) == true"),
        ]);
        let mut degraded = ProbeEvent::new(time::OffsetDateTime::UNIX_EPOCH, "http", "h", Some(80));
        degraded.up = Some(true);
        degraded.degraded = Some(true);
        let t = table(&[down, degraded], None);
        assert!(
            t.contains("condition: [STATUS] (500) == 200; [BODY].ok (false) == true"),
            "{t}"
        );
        assert!(!t.contains("[RESPONSE_TIME]"), "{t}");
        assert!(t.lines().nth(2).unwrap().starts_with("degraded"), "{t}");
        assert!(t.ends_with("1/2 up\n"), "{t}");
    }

    #[test]
    fn truncation_marks_what_was_cut() {
        assert_eq!(truncate("abcdef", 6), "abcdef");
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("äöüßxy", 3), "äö…");
        assert_eq!(truncate("abc", 0), "");
    }

    #[test]
    fn streamed_rows_fit_the_width_and_line_up_with_the_header() {
        let long = format!("https://example.org/{}", "a".repeat(200));
        let layout = Layout::for_stream([long.as_str()], Duration::from_secs(10), Some(60));
        let header = layout.header();
        assert!(header.chars().count() <= 61, "{header}");
        let mut event = ProbeEvent::new(
            time::OffsetDateTime::UNIX_EPOCH,
            "https",
            "example.org",
            Some(443),
        );
        event.up = Some(false);
        event.response_time_ms = 10000;
        event.url = Some(long.clone());
        let row = layout.row(&event);
        assert!(row.chars().count() <= 61, "{row}");
        assert!(row.trim_end().ends_with('…'), "{row}");
        assert_eq!(header.find("URL"), row.find("https://"));
        // Room is left for the error, at least for its kind.
        event.error_kind = Some(crate::event::ErrorKind::ConnectRefused);
        event.error = Some("connection refused (os error 111)".into());
        let row = layout.row(&event);
        assert!(row.contains("connect_refused"), "{row}");
        assert!(header.contains("ERROR"), "{header}");
        // Without a width nothing is cut.
        let whole = Layout::for_stream([long.as_str()], Duration::from_secs(10), None);
        assert!(whole.row(&event).contains(&long));
    }
}
