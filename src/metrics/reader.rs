//! Per-reader series (`reader="readers.kafka"`, ...) and the consumer's lag per partition.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use super::help;
use super::kinds::{Count, Flag, Level};

type Label = [(&'static str, String); 1];
type PartitionLabel = [(&'static str, String); 2];

/// One reader's series. `Default` is a set that no registry exports.
#[derive(Debug, Clone, Default)]
pub struct ReaderMetrics {
    /// Events (or messages) the reader took in: probes made, messages consumed.
    pub events: Count,
    /// Messages sent to the dead-letter topic.
    pub dead_letters: Count,
    /// Fields of a newer minor version that this version does not know, dropped.
    pub unknown_fields_dropped: Count,
    /// The reader can take events in (a consumer has joined its group); see
    /// [`super::Metrics::reader_ready`].
    pub ready: Flag,
}

#[derive(Debug, Default)]
pub(super) struct ReaderFamilies {
    events: Family<Label, Count>,
    dead_letters: Family<Label, Count>,
    unknown_fields_dropped: Family<Label, Count>,
}

impl ReaderFamilies {
    pub(super) fn handle(&self, reader: &str) -> ReaderMetrics {
        let l = [("reader", reader.to_owned())];
        ReaderMetrics {
            events: self.events.get_or_create_owned(&l),
            dead_letters: self.dead_letters.get_or_create_owned(&l),
            unknown_fields_dropped: self.unknown_fields_dropped.get_or_create_owned(&l),
            ready: Flag::default(),
        }
    }

    pub(super) fn register(&self, r: &mut Registry) {
        r.register(
            "uptimer_reader_events",
            help("Events the reader took in: probes made, messages consumed."),
            self.events.clone(),
        );
        r.register(
            "uptimer_dead_letters",
            help("Messages sent to the dead-letter topic (not JSON, unknown type, failed schema)."),
            self.dead_letters.clone(),
        );
        r.register(
            "uptimer_reader_unknown_fields_dropped",
            help("Fields of a newer minor event version this version does not know, dropped."),
            self.unknown_fields_dropped.clone(),
        );
    }
}

/// `uptimer_consumer_lag{topic,partition}`: messages behind the high watermark, per assigned
/// partition. Partitions no longer assigned disappear at the next report. Reported every few
/// seconds, not per message, so a label lookup here costs nothing that matters.
#[derive(Debug, Clone, Default)]
pub struct ConsumerLag {
    family: Family<PartitionLabel, Level>,
    reported: Arc<Mutex<HashSet<PartitionLabel>>>,
}

impl ConsumerLag {
    /// Replaces the lag of every assigned partition with `lags` (topic, partition, lag).
    pub fn report(&self, lags: &[(&str, i32, u64)]) {
        let now: HashSet<PartitionLabel> = lags
            .iter()
            .map(|(topic, partition, lag)| {
                let l = [
                    ("topic", (*topic).to_owned()),
                    ("partition", partition.to_string()),
                ];
                self.family.get_or_create(&l).set(*lag);
                l
            })
            .collect();
        let mut reported = self.reported.lock().expect("lag lock");
        for gone in reported.difference(&now) {
            self.family.remove(gone);
        }
        *reported = now;
    }

    /// The lag of one partition, when reported.
    pub fn get(&self, topic: &str, partition: i32) -> Option<u64> {
        let l = [
            ("topic", topic.to_owned()),
            ("partition", partition.to_string()),
        ];
        self.family.get(&l).map(|g| g.get())
    }

    pub(super) fn register(&self, r: &mut Registry) {
        r.register(
            "uptimer_consumer_lag",
            help("Messages behind the partition's high watermark, per assigned partition."),
            self.family.clone(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_is_per_partition_and_revoked_partitions_disappear() {
        let lag = ConsumerLag::default();
        lag.report(&[("events", 0, 5), ("events", 1, 0)]);
        assert_eq!(
            (lag.get("events", 0), lag.get("events", 1)),
            (Some(5), Some(0))
        );
        lag.report(&[("events", 1, 7)]);
        assert_eq!(
            (lag.get("events", 0), lag.get("events", 1)),
            (None, Some(7))
        );
    }
}
