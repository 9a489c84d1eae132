//! One rollup bucket's aggregate (a target's checks in a minute, hour or day), shared by the
//! SQLite store and the PostgreSQL writer so both count the same way.

use super::hist::Histogram;
use super::{Micros, SeriesPoint};

/// Counts, response-time extremes, phase sums and the latency histogram of one bucket.
#[derive(Default)]
pub struct Agg {
    pub checks: i64,
    pub up: i64,
    pub sum_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
    /// dns, connect, tls, ttfb, transfer (ms; a phase that did not happen counts 0).
    pub sums: [f64; 5],
    pub hist: Histogram,
}

impl Agg {
    /// Adds one check: its response time, verdict and phases.
    pub fn add(&mut self, ms: f64, up: bool, phases: [Option<f64>; 5]) {
        if self.checks == 0 {
            self.min_ms = ms;
            self.max_ms = ms;
        }
        self.checks += 1;
        self.up += i64::from(up);
        self.sum_ms += ms;
        self.min_ms = self.min_ms.min(ms);
        self.max_ms = self.max_ms.max(ms);
        for (s, p) in self.sums.iter_mut().zip(phases) {
            *s += p.unwrap_or(0.0);
        }
        self.hist.record(ms);
    }
}

/// One stored rollup row, as both stores read it.
pub struct RollupRow<'a> {
    pub bucket: Micros,
    pub checks: i64,
    pub up: i64,
    pub sum_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
    pub phase_sums: [f64; 5],
    pub hist: &'a [u8],
}

/// Folds rollup rows (in bucket order) into chart points `step` wide starting at `from`.
pub struct SeriesFold {
    from: Micros,
    step: Micros,
    out: Vec<(SeriesPoint, f64, [f64; 5], Histogram)>,
}

impl SeriesFold {
    pub fn new(from: Micros, step: Micros) -> SeriesFold {
        SeriesFold {
            from,
            step,
            out: Vec::new(),
        }
    }

    pub fn add(&mut self, r: RollupRow<'_>) {
        let t = r.bucket - (r.bucket - self.from).rem_euclid(self.step);
        if self.out.last().is_none_or(|p| p.0.t != t) {
            self.out.push((
                SeriesPoint {
                    t,
                    min_ms: f64::MAX,
                    ..Default::default()
                },
                0.0,
                [0.0; 5],
                Histogram::new(),
            ));
        }
        let (p, sum, phases, hist) = self.out.last_mut().expect("pushed");
        p.checks += r.checks as u64;
        p.up += r.up as u64;
        *sum += r.sum_ms;
        p.min_ms = p.min_ms.min(r.min_ms);
        p.max_ms = p.max_ms.max(r.max_ms);
        for (s, v) in phases.iter_mut().zip(r.phase_sums) {
            *s += v;
        }
        hist.merge(&Histogram::decode(r.hist));
    }

    /// The points, with averages and p95 computed.
    pub fn finish(self) -> Vec<SeriesPoint> {
        self.out
            .into_iter()
            .map(|(mut p, sum, phases, hist)| {
                let n = p.checks.max(1) as f64;
                p.avg_ms = sum / n;
                p.phases_ms = phases.map(|s| s / n);
                p.p95_ms = hist.quantile(0.95);
                if p.checks == 0 {
                    p.min_ms = 0.0;
                }
                p
            })
            .collect()
    }
}
