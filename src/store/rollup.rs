//! One rollup bucket's aggregate (a target's checks in a minute, hour or day), shared by the
//! SQLite store and the PostgreSQL writer so both count the same way.
//!
//! Response times are those of successful checks only: a refused connection's 0 ms or a
//! timeout's wait says nothing about how fast the target answers, and counting them pulled
//! averages down (or up) and made a dead target look fast. So `sum_ms`, `min_ms`, `max_ms`, the
//! phase sums and the histogram cover the `timed` checks, the successful ones; `checks` and
//! `up` count every check. Rows written before this rule (schema version 1 in SQLite, before
//! migration 20261130120000 in PostgreSQL) have no `timed`: they covered every check, so
//! readers take `coalesce(timed, checks)` and old rows keep their old meaning.

use super::hist::Histogram;
use super::{Micros, SeriesPoint};

/// Counts, response-time extremes, phase sums and the latency histogram of one bucket.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Agg {
    pub checks: i64,
    pub up: i64,
    /// Checks whose response time is counted below (the successful ones).
    pub timed: i64,
    pub sum_ms: f64,
    /// Meaningful only when `timed > 0`.
    pub min_ms: f64,
    pub max_ms: f64,
    /// dns, connect, tls, ttfb, transfer (ms; a phase that did not happen counts 0).
    pub sums: [f64; 5],
    pub hist: Histogram,
}

impl Agg {
    /// Adds one check: its verdict, and when it passed its response time and phases.
    pub fn add(&mut self, ms: f64, up: bool, phases: [Option<f64>; 5]) {
        self.checks += 1;
        self.up += i64::from(up);
        if !up {
            return;
        }
        self.merge_timed(1, ms, ms, ms, phases.map(|p| p.unwrap_or(0.0)), None);
        self.hist.record(ms);
    }

    /// Adds the response-time part of a stored row (`timed` checks with these sums and
    /// extremes; the histogram when given).
    pub fn merge_timed(
        &mut self,
        timed: i64,
        sum_ms: f64,
        min_ms: f64,
        max_ms: f64,
        sums: [f64; 5],
        hist: Option<&Histogram>,
    ) {
        if timed <= 0 {
            return;
        }
        if self.timed == 0 {
            self.min_ms = min_ms;
            self.max_ms = max_ms;
        }
        self.timed += timed;
        self.sum_ms += sum_ms;
        self.min_ms = self.min_ms.min(min_ms);
        self.max_ms = self.max_ms.max(max_ms);
        for (s, v) in self.sums.iter_mut().zip(sums) {
            *s += v;
        }
        if let Some(h) = hist {
            self.hist.merge(h);
        }
    }
}

impl Agg {
    /// Adds another bucket's aggregate: a stored row read back, whose `timed` is
    /// `coalesce(timed, checks)`.
    pub fn merge(&mut self, o: &Agg) {
        self.checks += o.checks;
        self.up += o.up;
        self.merge_timed(o.timed, o.sum_ms, o.min_ms, o.max_ms, o.sums, Some(&o.hist));
    }
}

/// Folds rollup rows (in bucket order) into chart points `step` wide starting at `from`.
pub struct SeriesFold {
    from: Micros,
    step: Micros,
    out: Vec<(Micros, Agg)>,
}

impl SeriesFold {
    pub fn new(from: Micros, step: Micros) -> SeriesFold {
        SeriesFold {
            from,
            step,
            out: Vec::new(),
        }
    }

    /// Adds the row of the bucket starting at `bucket`.
    pub fn add(&mut self, bucket: Micros, row: &Agg) {
        let t = bucket - (bucket - self.from).rem_euclid(self.step);
        if self.out.last().is_none_or(|p| p.0 != t) {
            self.out.push((t, Agg::default()));
        }
        let (_, agg) = self.out.last_mut().expect("pushed");
        agg.merge(row);
    }

    /// The points, with averages and p95 computed (None without a successful check).
    pub fn finish(self) -> Vec<SeriesPoint> {
        self.out
            .into_iter()
            .map(|(t, a)| {
                let mut p = SeriesPoint {
                    t,
                    checks: a.checks as u64,
                    up: a.up as u64,
                    ..Default::default()
                };
                if a.timed > 0 {
                    let n = a.timed as f64;
                    p.avg_ms = Some(a.sum_ms / n);
                    p.min_ms = Some(a.min_ms);
                    p.max_ms = Some(a.max_ms);
                    p.phases_ms = a.sums.map(|s| s / n);
                    p.p95_ms = a.hist.quantile_within(0.95, a.min_ms, a.max_ms);
                }
                p
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_checks_count_but_have_no_response_time() {
        let mut a = Agg::default();
        a.add(0.0, false, [Some(1.0), None, None, None, None]);
        a.add(
            100.0,
            true,
            [Some(1.0), Some(2.0), None, Some(90.0), Some(7.0)],
        );
        a.add(
            300.0,
            true,
            [Some(1.0), Some(2.0), None, Some(290.0), Some(7.0)],
        );
        a.add(10_000.0, false, [None; 5]);
        assert_eq!((a.checks, a.up, a.timed), (4, 2, 2));
        assert_eq!((a.sum_ms, a.min_ms, a.max_ms), (400.0, 100.0, 300.0));
        assert_eq!(a.sums, [2.0, 4.0, 0.0, 380.0, 14.0]);
        assert_eq!(a.hist.count(), 2);
    }

    #[test]
    fn a_point_without_a_successful_check_has_no_response_time() {
        let mut down = Agg::default();
        down.add(0.0, false, [None; 5]);
        let mut fold = SeriesFold::new(0, 60);
        fold.add(0, &down);
        let p = &fold.finish()[0];
        assert_eq!((p.checks, p.up), (1, 0));
        assert_eq!(
            (p.avg_ms, p.min_ms, p.max_ms, p.p95_ms),
            (None, None, None, None)
        );
    }

    #[test]
    fn p95_never_exceeds_the_maximum_nor_falls_below_the_minimum() {
        let mut slow = Agg::default();
        slow.add(10_002.0, true, [None; 5]);
        let mut fold = SeriesFold::new(0, 60);
        fold.add(0, &slow);
        let p = &fold.finish()[0];
        assert_eq!(p.max_ms, Some(10_002.0));
        assert_eq!(p.p95_ms, Some(10_002.0));
    }

    #[test]
    fn rows_from_before_timed_cover_every_check() {
        // A legacy row: timed = checks (the readers' coalesce), failed checks' times included.
        let mut fold = SeriesFold::new(0, 60);
        let legacy = Agg {
            checks: 2,
            up: 1,
            timed: 2,
            sum_ms: 100.0,
            min_ms: 0.0,
            max_ms: 100.0,
            ..Agg::default()
        };
        fold.add(0, &legacy);
        assert_eq!(fold.finish()[0].avg_ms, Some(50.0));
    }

    #[test]
    fn rows_of_one_step_fold_into_one_point() {
        let mut a = Agg::default();
        a.add(100.0, true, [None; 5]);
        let mut b = Agg::default();
        b.add(300.0, true, [None; 5]);
        b.add(0.0, false, [None; 5]);
        let mut fold = SeriesFold::new(30, 120);
        fold.add(0, &a);
        fold.add(60, &b);
        fold.add(120, &a);
        let points = fold.finish();
        assert_eq!(points.len(), 2);
        assert_eq!((points[0].t, points[0].checks, points[0].up), (-90, 1, 1));
        assert_eq!((points[1].t, points[1].checks, points[1].up), (30, 3, 2));
        assert_eq!(points[1].avg_ms, Some(200.0));
        assert_eq!(points[1].max_ms, Some(300.0));
    }
}
