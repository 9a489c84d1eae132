//! A mergeable latency histogram: fixed log-spaced buckets (four per doubling, about 19 %
//! apart, from 1 ms to about 65 s), so two histograms merge by adding counts and a quantile read
//! from the merge is as exact as one read from the raw values (within a bucket's width).
//! Stored sparse (bucket index, varint count) because most rows touch only a few buckets.

/// Buckets per doubling of the latency.
const PER_DOUBLING: f64 = 4.0;
/// Number of buckets; the last one takes everything above its lower bound.
pub const BUCKETS: usize = 66;

/// Counts per bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Histogram {
    counts: Vec<u64>,
}

/// The bucket a latency (milliseconds) falls into.
pub fn bucket_of(ms: f64) -> usize {
    if ms.is_nan() || ms <= 1.0 {
        return 0;
    }
    let i = (ms.log2() * PER_DOUBLING - 1e-9).ceil() as usize;
    i.min(BUCKETS - 1)
}

/// The upper bound of bucket `i`, in milliseconds.
pub fn upper_bound(i: usize) -> f64 {
    2f64.powf(i as f64 / PER_DOUBLING)
}

impl Histogram {
    pub fn new() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
        }
    }

    pub fn record(&mut self, ms: f64) {
        self.ensure();
        self.counts[bucket_of(ms)] += 1;
    }

    fn ensure(&mut self) {
        if self.counts.len() != BUCKETS {
            self.counts.resize(BUCKETS, 0);
        }
    }

    pub fn merge(&mut self, other: &Histogram) {
        self.ensure();
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
    }

    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The latency at quantile `q` (0..=1): the upper bound of the bucket holding that rank,
    /// so the answer is never below the true value and at most one bucket (19 %) above it.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = ((total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, n) in self.counts.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(upper_bound(i));
            }
        }
        Some(upper_bound(BUCKETS - 1))
    }

    /// [`Histogram::quantile`] clamped to the observed `[min, max]`: a bucket's upper bound
    /// can lie above the largest value recorded in it (10002 ms reads as 11585 ms), and a p95
    /// above the maximum (or above the timeout) is no answer.
    pub fn quantile_within(&self, q: f64, min: f64, max: f64) -> Option<f64> {
        self.quantile(q).map(|v| v.min(max).max(min))
    }

    /// Sparse encoding: for every non-empty bucket, its index (one byte) and its count (LEB128).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16);
        for (i, &n) in self.counts.iter().enumerate() {
            if n == 0 {
                continue;
            }
            out.push(i as u8);
            let mut v = n;
            loop {
                let byte = (v & 0x7f) as u8;
                v >>= 7;
                if v == 0 {
                    out.push(byte);
                    break;
                }
                out.push(byte | 0x80);
            }
        }
        out
    }

    /// Decodes [`Histogram::encode`]'s bytes; garbage decodes to what could be read.
    pub fn decode(bytes: &[u8]) -> Histogram {
        let mut h = Histogram::new();
        let mut it = bytes.iter();
        while let Some(&i) = it.next() {
            let mut v: u64 = 0;
            let mut shift = 0;
            for &b in it.by_ref() {
                v |= u64::from(b & 0x7f) << shift.min(63);
                shift += 7;
                if b & 0x80 == 0 {
                    break;
                }
            }
            if let Some(c) = h.counts.get_mut(i as usize) {
                *c += v;
            }
        }
        h
    }

    /// Merges two encoded histograms (the store's `hist_merge` SQL function).
    pub fn merge_encoded(a: &[u8], b: &[u8]) -> Vec<u8> {
        let mut h = Histogram::decode(a);
        h.merge(&Histogram::decode(b));
        h.encode()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_is_within_one_bucket_of_the_truth() {
        let mut h = Histogram::new();
        for ms in 1..=1000 {
            h.record(ms as f64);
        }
        let p95 = h.quantile(0.95).unwrap();
        assert!((950.0..=950.0 * 1.2).contains(&p95), "{p95}");
        assert_eq!(h.quantile(0.0), Some(1.0));
        assert_eq!(Histogram::new().quantile(0.5), None);
    }

    #[test]
    fn a_quantile_within_bounds_never_exceeds_the_maximum() {
        let mut h = Histogram::new();
        h.record(10_002.0);
        assert!(
            h.quantile(0.95).unwrap() > 10_002.0,
            "the bucket's bound is above"
        );
        assert_eq!(h.quantile_within(0.95, 10_002.0, 10_002.0), Some(10_002.0));
        assert_eq!(h.quantile_within(0.0, 10_002.0, 10_002.0), Some(10_002.0));
        assert_eq!(Histogram::new().quantile_within(0.95, 1.0, 2.0), None);
    }

    #[test]
    fn merging_equals_recording_everything_in_one() {
        let (mut a, mut b, mut all) = (Histogram::new(), Histogram::new(), Histogram::new());
        for ms in [0.2, 3.0, 17.5, 250.0, 99_999.0] {
            a.record(ms);
            all.record(ms);
        }
        for ms in [5.0, 5.0, 1200.0] {
            b.record(ms);
            all.record(ms);
        }
        assert_eq!(
            Histogram::decode(&Histogram::merge_encoded(&a.encode(), &b.encode())),
            all
        );
        assert_eq!(all.count(), 8);
    }

    #[test]
    fn encoding_round_trips_large_counts_and_is_sparse() {
        let mut h = Histogram::new();
        for _ in 0..300 {
            h.record(42.0);
        }
        h.counts[BUCKETS - 1] = u64::from(u32::MAX) + 7;
        let bytes = h.encode();
        assert!(bytes.len() < 12, "{bytes:?}");
        assert_eq!(Histogram::decode(&bytes), h);
        assert_eq!(Histogram::decode(&[]), Histogram::new());
    }

    #[test]
    fn buckets_are_monotonic() {
        assert_eq!(bucket_of(0.0), 0);
        assert_eq!(bucket_of(f64::NAN), 0);
        assert_eq!(bucket_of(1e12), BUCKETS - 1);
        for i in 1..BUCKETS {
            assert!(upper_bound(i) > upper_bound(i - 1));
            assert_eq!(bucket_of(upper_bound(i)), i);
        }
    }
}
