//! One rollup bucket's aggregate (a target's checks in a minute, hour or day), shared by the
//! SQLite store and the PostgreSQL writer so both count the same way.

use super::hist::Histogram;

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
