//! The metric types every component records into: shared atomics that `prometheus-client`
//! encodes. A clone counts into the same value, so a component keeps its own handle and
//! records without a lock or an allocation; `Deref` to the atomic lets counters that already
//! existed as plain atomics become exported ones by changing only their type.

use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::{MetricType, TypedMetric};

/// Upper bounds (seconds) of every duration histogram.
pub const DURATION_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// A counter (`_total`): only goes up.
#[derive(Debug, Clone, Default)]
pub struct Count(Arc<AtomicU64>);

impl Count {
    pub fn inc(&self) {
        self.0.fetch_add(1, Relaxed);
    }
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

impl Deref for Count {
    type Target = AtomicU64;
    fn deref(&self) -> &AtomicU64 {
        &self.0
    }
}

impl TypedMetric for Count {
    const TYPE: MetricType = MetricType::Counter;
}

impl EncodeMetric for Count {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        encoder.encode_counter::<NoLabelSet, _, u64>(&self.get(), None)
    }
    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

/// A gauge of an amount that is never negative (events queued, bytes spooled, lag).
#[derive(Debug, Clone, Default)]
pub struct Level(Arc<AtomicU64>);

impl Level {
    pub fn set(&self, v: u64) {
        self.0.store(v, Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

impl Deref for Level {
    type Target = AtomicU64;
    fn deref(&self) -> &AtomicU64 {
        &self.0
    }
}

impl TypedMetric for Level {
    const TYPE: MetricType = MetricType::Gauge;
}

impl EncodeMetric for Level {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        encoder.encode_gauge(&self.get())
    }
    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

/// A yes/no gauge (1 or 0): a writer is up, a consumer joined its group.
#[derive(Debug, Clone, Default)]
pub struct Flag(Arc<AtomicBool>);

impl Flag {
    pub fn set(&self, v: bool) {
        self.0.store(v, Relaxed);
    }
    pub fn get(&self) -> bool {
        self.0.load(Relaxed)
    }
}

impl Deref for Flag {
    type Target = AtomicBool;
    fn deref(&self) -> &AtomicBool {
        &self.0
    }
}

impl TypedMetric for Flag {
    const TYPE: MetricType = MetricType::Gauge;
}

impl EncodeMetric for Flag {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        encoder.encode_gauge(&u64::from(self.get()))
    }
    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

/// A moment as a gauge of Unix seconds (0 = never), e.g. a writer's last error.
#[derive(Debug, Clone, Default)]
pub struct Timestamp(Arc<AtomicU64>);

impl Timestamp {
    /// Records now.
    pub fn mark(&self) {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        self.0.store(ms, Relaxed);
    }
    /// Unix seconds, 0 when never marked.
    pub fn seconds(&self) -> f64 {
        self.0.load(Relaxed) as f64 / 1000.0
    }
}

impl TypedMetric for Timestamp {
    const TYPE: MetricType = MetricType::Gauge;
}

impl EncodeMetric for Timestamp {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        encoder.encode_gauge(&self.seconds())
    }
    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

/// When the oldest piece of work not yet started is (or was) due, on tokio's monotonic clock:
/// how overdue the work is, for a check that it flows (the scheduler's next round, read by the
/// dead-man's switch). The owner sets it once per turn of its loop (a store); the overdue time
/// is computed when read, so a loop that hangs shows a time that grows. Exported as a gauge of
/// seconds overdue (0 while nothing is due, or unset): monotonic, so a step of the wall clock
/// neither makes work look late nor hides it.
#[derive(Debug, Clone)]
pub struct Overdue {
    origin: tokio::time::Instant,
    /// Milliseconds after `origin`; [`Overdue::UNSET`] when nothing is waiting.
    due_ms: Arc<AtomicU64>,
}

impl Default for Overdue {
    fn default() -> Self {
        Overdue {
            origin: tokio::time::Instant::now(),
            due_ms: Arc::new(AtomicU64::new(Self::UNSET)),
        }
    }
}

impl Overdue {
    const UNSET: u64 = u64::MAX;

    /// The oldest work not started is due at `at` (it may be in the future); `None`: there is
    /// none.
    pub fn set(&self, at: Option<tokio::time::Instant>) {
        let ms = at.map_or(Self::UNSET, |at| {
            at.saturating_duration_since(self.origin).as_millis() as u64
        });
        self.due_ms.store(ms, Relaxed);
    }

    /// How long ago that work was due: zero when it is not due yet or there is none.
    pub fn get(&self) -> std::time::Duration {
        let ms = self.due_ms.load(Relaxed);
        if ms == Self::UNSET {
            return std::time::Duration::ZERO;
        }
        let due = self.origin + std::time::Duration::from_millis(ms);
        tokio::time::Instant::now().saturating_duration_since(due)
    }
}

impl TypedMetric for Overdue {
    const TYPE: MetricType = MetricType::Gauge;
}

impl EncodeMetric for Overdue {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        encoder.encode_gauge(&self.get().as_secs_f64())
    }
    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

/// Whether a component reaches what it depends on (`uptimer_writer_up`), with the time it last
/// failed to (`uptimer_writer_last_error_timestamp_seconds`). `store`/`load` take the
/// `Ordering` an `AtomicBool` would, so a flag that was one becomes this by its type alone;
/// every `store(false, _)` stamps the error time.
#[derive(Debug, Clone, Default)]
pub struct Up {
    pub flag: Flag,
    pub last_error: Timestamp,
}

impl Up {
    pub fn set(&self, up: bool) {
        self.flag.set(up);
        if !up {
            self.last_error.mark();
        }
    }
    pub fn get(&self) -> bool {
        self.flag.get()
    }
    pub fn store(&self, up: bool, _: std::sync::atomic::Ordering) {
        self.set(up);
    }
    pub fn load(&self, _: std::sync::atomic::Ordering) -> bool {
        self.get()
    }
}

#[derive(Debug)]
struct HistogramCells {
    buckets: [AtomicU64; DURATION_BUCKETS.len()],
    count: AtomicU64,
    sum_us: AtomicU64,
}

/// A histogram of durations over [`DURATION_BUCKETS`], lock-free (prometheus-client's own
/// histogram takes a mutex per observation; a probe must not). Sums are kept in microseconds.
#[derive(Debug, Clone)]
pub struct Durations(Arc<HistogramCells>);

impl Default for Durations {
    fn default() -> Self {
        Durations(Arc::new(HistogramCells {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            count: AtomicU64::new(0),
            sum_us: AtomicU64::new(0),
        }))
    }
}

impl Durations {
    pub fn observe(&self, seconds: f64) {
        let seconds = if seconds.is_finite() {
            seconds.max(0.0)
        } else {
            0.0
        };
        if let Some(i) = DURATION_BUCKETS.iter().position(|b| seconds <= *b) {
            self.0.buckets[i].fetch_add(1, Relaxed);
        }
        self.0.count.fetch_add(1, Relaxed);
        self.0.sum_us.fetch_add((seconds * 1e6) as u64, Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.0.count.load(Relaxed)
    }
}

impl TypedMetric for Durations {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for Durations {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        // Per bucket, not cumulative: the encoder adds them up.
        let buckets: [(f64, u64); DURATION_BUCKETS.len()] =
            std::array::from_fn(|i| (DURATION_BUCKETS[i], self.0.buckets[i].load(Relaxed)));
        let sum = self.0.sum_us.load(Relaxed) as f64 / 1e6;
        encoder.encode_histogram::<NoLabelSet>(sum, self.count(), &buckets, None)
    }
    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

/// A fixed set of series of one metric, one per value of one label, created up front so that
/// recording indexes an array (no label lookup, no lock).
#[derive(Debug, Clone)]
pub struct Labelled<M, const N: usize> {
    pub label: &'static str,
    pub values: [&'static str; N],
    pub series: [M; N],
}

impl<M: Default, const N: usize> Labelled<M, N> {
    pub fn new(label: &'static str, values: [&'static str; N]) -> Self {
        Labelled {
            label,
            values,
            series: std::array::from_fn(|_| M::default()),
        }
    }
}

impl<M: EncodeMetric + TypedMetric, const N: usize> EncodeMetric for Labelled<M, N> {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        for (value, m) in self.values.iter().zip(&self.series) {
            m.encode(encoder.encode_family(&[(self.label, *value)])?)?;
        }
        Ok(())
    }
    fn metric_type(&self) -> MetricType {
        M::TYPE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_one_value_and_deref_to_the_atomic() {
        let c = Count::default();
        let other = c.clone();
        other.inc();
        c.fetch_add(2, Relaxed);
        assert_eq!(other.get(), 3);
        let f = Flag::default();
        f.clone().store(true, Relaxed);
        assert!(f.get());
        let up = Up::default();
        up.store(true, Relaxed);
        assert_eq!(up.last_error.seconds(), 0.0, "never failed");
        up.clone().store(false, Relaxed);
        assert!(!up.load(Relaxed));
        assert!(up.last_error.seconds() > 1.7e9);
    }

    #[tokio::test(start_paused = true)]
    async fn overdue_grows_from_the_due_time_and_is_zero_before_it_or_unset() {
        let o = Overdue::default();
        let other = o.clone();
        assert_eq!(o.get(), std::time::Duration::ZERO, "unset");
        let now = tokio::time::Instant::now();
        other.set(Some(now + std::time::Duration::from_secs(5)));
        assert_eq!(o.get(), std::time::Duration::ZERO, "not due yet");
        tokio::time::advance(std::time::Duration::from_secs(7)).await;
        // Nobody set it again (a loop that hangs): it grows on its own.
        assert_eq!(o.get(), std::time::Duration::from_secs(2));
        other.set(None);
        assert_eq!(o.get(), std::time::Duration::ZERO, "nothing waits");
    }

    #[test]
    fn durations_count_out_of_range_and_bad_values_without_panicking() {
        let h = Durations::default();
        for s in [0.0005, 0.02, 0.02, 99.0, f64::NAN, -1.0] {
            h.observe(s);
        }
        assert_eq!(h.count(), 6);
        assert_eq!(h.0.buckets[0].load(Relaxed), 3, "0.0005, NaN and -1 as 0");
        assert_eq!(h.0.buckets.iter().map(|b| b.load(Relaxed)).sum::<u64>(), 5);
    }
}
