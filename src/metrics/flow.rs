//! What went into the pipeline and what came out of it durable, for the dead-man's switch
//! (`crate::alerting::heartbeat`): every reader's events in and dead letters, every writer's
//! acknowledged events. These are the counters `/metrics` exports, kept here as the readers
//! and writers take their handles, so that they can be summed without a label lookup.

use std::sync::Mutex;

use super::kinds::Count;

/// The handles, by reader and by writer name (each once).
#[derive(Debug, Default)]
pub struct Flow {
    readers: Mutex<Vec<(String, ReaderCounts)>>,
    writers: Mutex<Vec<(String, Count)>>,
}

#[derive(Debug)]
struct ReaderCounts {
    events: Count,
    dead_letters: Count,
}

/// The pipeline's counts at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlowCounts {
    /// Events the readers took in: probes made, pushes, messages consumed
    /// (`uptimer_reader_events_total`, summed).
    pub events_in: u64,
    /// Messages that went to the dead-letter topic instead of the writers
    /// (`uptimer_dead_letters_total`, summed).
    pub dead_letters: u64,
    /// Events each writer made durable (`uptimer_events_acked_total`), by writer.
    pub acked: Vec<(String, u64)>,
}

impl Flow {
    pub(super) fn add_reader(&self, name: &str, events: &Count, dead_letters: &Count) {
        let mut r = self.readers.lock().expect("flow lock");
        if !r.iter().any(|(n, _)| n == name) {
            r.push((
                name.to_owned(),
                ReaderCounts {
                    events: events.clone(),
                    dead_letters: dead_letters.clone(),
                },
            ));
        }
    }

    pub(super) fn add_writer(&self, name: &str, acked: &Count) {
        let mut w = self.writers.lock().expect("flow lock");
        if !w.iter().any(|(n, _)| n == name) {
            w.push((name.to_owned(), acked.clone()));
        }
    }

    /// The counts now. The writers are read first: an event acknowledged between the two reads
    /// is then counted in, never only out.
    pub fn counts(&self) -> FlowCounts {
        let acked = (self.writers.lock().expect("flow lock").iter())
            .map(|(n, c)| (n.clone(), c.get()))
            .collect();
        let readers = self.readers.lock().expect("flow lock");
        FlowCounts {
            events_in: readers.iter().map(|(_, r)| r.events.get()).sum(),
            dead_letters: readers.iter().map(|(_, r)| r.dead_letters.get()).sum(),
            acked,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Metrics, Sections};

    #[test]
    fn counts_sum_the_readers_and_keep_each_writer_once() {
        let m = Metrics::new(Sections::ALL);
        let (probes, kafka) = (m.reader("readers.probes.http"), m.reader("readers.kafka"));
        probes.events.add(5);
        kafka.events.add(3);
        kafka.dead_letters.inc();
        m.writer("writers.stdout").acked.add(4);
        m.writer("writers.stdout").acked.add(1);
        let _ = m.reader("readers.kafka");
        let c = m.flow.counts();
        assert_eq!((c.events_in, c.dead_letters), (8, 1));
        assert_eq!(c.acked, [("writers.stdout".to_owned(), 5)]);
    }
}
