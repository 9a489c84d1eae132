//! A page's last 90 days: checks and passes per target per day (from hour rollups, days in
//! the page's time zone) and the incidents the monitor detected, read from the store in the
//! background every few minutes (never per request), and the daily bars made of them.

use std::collections::HashMap;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

use crate::store::{HOUR, Incident, IncidentQuery, Micros, Store, StoreError};

/// How many days the bars show.
pub const DAYS: usize = 90;

/// What was read.
#[derive(Debug, Clone, Default)]
pub struct History {
    pub built_at: Micros,
    /// The first day's start (µs), and each day's, in the page's time zone: `DAYS + 1` bounds.
    pub bounds: Vec<Micros>,
    /// The first day.
    pub first: Option<Date>,
    /// Checks and passes per target per day.
    pub days: HashMap<String, Vec<(u64, u64)>>,
    /// The detected incidents of the page's targets that overlap the 90 days, newest first.
    pub incidents: Vec<Incident>,
}

/// The day bounds of the 90 days up to `now`'s day, in `tz`.
fn bounds(tz: &TimeZone, now: Micros) -> Option<(Date, Vec<Micros>)> {
    let today = Timestamp::from_microsecond(now)
        .ok()?
        .to_zoned(tz.clone())
        .date();
    let first = today.checked_sub((DAYS as i64 - 1).days()).ok()?;
    let mut out = Vec::with_capacity(DAYS + 1);
    let mut d = first;
    for _ in 0..=DAYS {
        out.push(d.to_zoned(tz.clone()).ok()?.timestamp().as_microsecond());
        d = d.tomorrow().ok()?;
    }
    Some((first, out))
}

/// The index of the day `t` falls in.
pub fn day_of(bounds: &[Micros], t: Micros) -> Option<usize> {
    if bounds.len() < 2 || t < bounds[0] || t >= bounds[bounds.len() - 1] {
        return None;
    }
    Some(bounds.partition_point(|b| *b <= t) - 1)
}

/// Reads the 90 days of `targets` up to `now`.
pub async fn read(
    store: &dyn Store,
    targets: &[String],
    tz: &TimeZone,
    now: Micros,
) -> Result<History, StoreError> {
    let Some((first, bounds)) = bounds(tz, now) else {
        return Ok(History::default());
    };
    let from = bounds[0];
    let mut days = HashMap::new();
    let mut incidents = Vec::new();
    for id in targets {
        let mut per_day = vec![(0u64, 0u64); DAYS];
        for p in store.series(id, from, now.max(from + 1), HOUR).await? {
            if let Some(d) = day_of(&bounds, p.t) {
                per_day[d].0 += p.checks;
                per_day[d].1 += p.up;
            }
        }
        days.insert(id.clone(), per_day);
        incidents.extend(incidents_since(store, id, from).await?);
    }
    incidents.sort_by(|a, b| b.started_at.cmp(&a.started_at).then(b.id.cmp(&a.id)));
    Ok(History {
        built_at: now,
        bounds,
        first: Some(first),
        days,
        incidents,
    })
}

/// The most incidents of one target read for its bars (a target that failed every minute of
/// 90 days had 129,600): past it, older days lose theirs.
const MOST_INCIDENTS: u32 = 100_000;

/// The target's incidents that were under way at or after `from`, newest first, read a page
/// at a time until one began before `from`.
async fn incidents_since(
    store: &dyn Store,
    id: &str,
    from: Micros,
) -> Result<Vec<Incident>, StoreError> {
    const PAGE: u32 = 1000;
    let mut out = Vec::new();
    let mut offset = 0;
    while offset < MOST_INCIDENTS {
        let (list, _) = store
            .incidents(IncidentQuery {
                target: Some(id.to_owned()),
                open_only: false,
                limit: PAGE,
                offset,
            })
            .await?;
        let last = list.len() < PAGE as usize || list.last().is_some_and(|i| i.started_at < from);
        out.extend(
            list.into_iter()
                .filter(|i| i.ended_at.is_none_or(|e| e >= from)),
        );
        if last {
            return Ok(out);
        }
        offset += PAGE;
    }
    tracing::warn!(target = %id, "status page: more than {MOST_INCIDENTS} incidents in 90 days; the bars show the newest");
    Ok(out)
}

/// One day of a component's bar.
#[derive(Debug, Clone, PartialEq)]
pub struct Day {
    pub date: Date,
    pub checks: u64,
    pub up: u64,
    /// Minutes with one of its targets in a detected incident.
    pub down_minutes: u64,
    /// Incidents that began that day (detected and written).
    pub incidents: u32,
}

impl Day {
    pub fn ratio(&self) -> Option<f64> {
        (self.checks > 0).then(|| self.up as f64 / self.checks as f64)
    }
}

/// The bar of a component watching `targets`; `written` are the starts of the incidents
/// people wrote that name it; `now` closes incidents still open.
pub fn bar(h: &History, targets: &[String], written: &[Micros], now: Micros) -> Vec<Day> {
    let Some(first) = h.first else {
        return Vec::new();
    };
    let mut out: Vec<Day> = (0..DAYS)
        .map(|i| Day {
            date: first.checked_add((i as i64).days()).unwrap_or(first),
            checks: 0,
            up: 0,
            down_minutes: 0,
            incidents: 0,
        })
        .collect();
    for id in targets {
        if let Some(days) = h.days.get(id) {
            for (d, (checks, up)) in out.iter_mut().zip(days) {
                d.checks += checks;
                d.up += up;
            }
        }
    }
    // The union of the targets' incidents, so two targets down together count once.
    let mut spans: Vec<(Micros, Micros)> = h
        .incidents
        .iter()
        .filter(|i| targets.contains(&i.target_id))
        .map(|i| (i.started_at, i.ended_at.unwrap_or(now).max(i.started_at)))
        .collect();
    for (start, _) in &spans {
        if let Some(d) = day_of(&h.bounds, *start) {
            out[d].incidents += 1;
        }
    }
    for start in written {
        if let Some(d) = day_of(&h.bounds, *start) {
            out[d].incidents += 1;
        }
    }
    spans.sort_unstable();
    let mut merged: Vec<(Micros, Micros)> = Vec::new();
    for (s, e) in spans {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    for (s, e) in merged {
        for (d, day) in out.iter_mut().enumerate() {
            let (lo, hi) = (h.bounds[d].max(s), h.bounds[d + 1].min(e));
            if hi > lo {
                day.down_minutes += ((hi - lo) as u64).div_ceil(60_000_000);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Micros = 60_000_000;

    fn incident(target: &str, start: Micros, end: Option<Micros>) -> Incident {
        Incident {
            id: start,
            target_id: target.into(),
            target_name: target.into(),
            started_at: start,
            ended_at: end,
            error_kind: None,
            error: None,
            failed_checks: 1,
            end_reason: None,
        }
    }

    #[test]
    fn days_follow_the_time_zone_and_overlapping_incidents_count_once() {
        // 2026-03-29 12:00 UTC: Berlin went to summer time that night (a 23-hour day).
        let now = Timestamp::from_second(1_774_785_600)
            .unwrap()
            .as_microsecond();
        let tz = TimeZone::get("Europe/Berlin").unwrap();
        let (first, b) = bounds(&tz, now).unwrap();
        assert_eq!(b.len(), DAYS + 1);
        assert_eq!(first, jiff::civil::date(2025, 12, 30));
        assert_eq!(b[DAYS] - b[DAYS - 1], 23 * HOUR, "the 29th has 23 hours");
        assert_eq!(b[DAYS - 1] - b[DAYS - 2], 24 * HOUR);
        let today = b[DAYS - 1];
        let h = History {
            built_at: now,
            bounds: b.clone(),
            first: Some(first),
            days: [("a".to_owned(), vec![(10, 9); DAYS])].into(),
            incidents: vec![
                incident("a", today + 60 * MIN, Some(today + 90 * MIN)),
                incident("b", today + 80 * MIN, Some(today + 100 * MIN)),
                incident("c", today, None),
                // Across midnight: 10 minutes each side.
                incident("a", today - 10 * MIN, Some(today + 10 * MIN)),
            ],
        };
        let bar = bar(&h, &["a".into(), "b".into()], &[today + MIN], now);
        let last = &bar[DAYS - 1];
        assert_eq!(last.date, jiff::civil::date(2026, 3, 29));
        assert_eq!((last.checks, last.up), (10, 9));
        assert_eq!(last.ratio(), Some(0.9));
        assert_eq!(
            last.down_minutes,
            10 + 40,
            "union of 60–90 and 80–100, and 0–10"
        );
        assert_eq!(
            last.incidents, 3,
            "two detected and one written began that day"
        );
        assert_eq!(bar[DAYS - 2].down_minutes, 10);
        assert_eq!(bar[DAYS - 2].incidents, 1);
        assert_eq!(day_of(&b, b[0] - 1), None);
        assert_eq!(day_of(&b, b[DAYS]), None);
    }

    #[tokio::test]
    async fn a_target_with_thousands_of_incidents_has_them_all_in_its_bars() {
        use crate::store::sqlite::SqliteStore;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite3");
        let store =
            SqliteStore::open(&crate::config::StoreSettings::with_path(path.clone())).unwrap();
        let now = crate::store::now_micros();
        // 2,500 one-minute incidents, one an hour back from now (about 104 days): the oldest
        // within the 90 days lie past the first pages the store lists.
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch("BEGIN").unwrap();
        for k in 1..=2500i64 {
            let start = now - k * HOUR;
            c.execute(
                "INSERT INTO incidents (target_id, started_at, ended_at) VALUES ('a', ?1, ?2)",
                rusqlite::params![start, start + MIN],
            )
            .unwrap();
        }
        c.execute_batch("COMMIT").unwrap();
        let h = read(&store, &["a".to_owned()], &TimeZone::UTC, now)
            .await
            .unwrap();
        let from = h.bounds[0];
        let expected = (1..=2500i64)
            .filter(|k| now - k * HOUR + MIN >= from)
            .count();
        assert!(expected > 2000, "{expected}");
        assert_eq!(h.incidents.len(), expected);
    }
}
