//! What `/healthz` and `/readyz` answer: the process is alive unless its pipeline has stopped;
//! it is ready when every named component (each writer's connection, a consumer's group
//! membership) says so. Components set their own flag; nothing here polls them.

use std::sync::Mutex;

use super::kinds::Flag;

/// The named components and whether the pipeline has stopped.
#[derive(Debug, Default)]
pub struct Readiness {
    components: Mutex<Vec<(String, Flag)>>,
    stopped: Flag,
}

impl Readiness {
    /// Adds a component under `name` (once: a second call with the same name keeps the first
    /// flag, so several holders of one writer's handle share it).
    pub fn add(&self, name: &str, ready: Flag) {
        let mut c = self.components.lock().expect("readiness lock");
        if !c.iter().any(|(n, _)| n == name) {
            c.push((name.to_owned(), ready));
        }
    }

    /// The components that are not ready, by name (empty = ready).
    pub fn not_ready(&self) -> Vec<String> {
        self.components
            .lock()
            .expect("readiness lock")
            .iter()
            .filter(|(_, f)| !f.get())
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// The pipeline has stopped (a fatal writer error): `/healthz` fails from now on.
    pub fn stop(&self) {
        self.stopped.set(true);
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_when_every_component_is_and_names_the_ones_that_are_not() {
        let r = Readiness::default();
        assert!(r.not_ready().is_empty(), "nothing to wait for");
        let (pg, group) = (Flag::default(), Flag::default());
        r.add("writers.postgres", pg.clone());
        r.add("readers.kafka", group.clone());
        r.add("writers.postgres", Flag::default());
        assert_eq!(r.not_ready(), ["writers.postgres", "readers.kafka"]);
        pg.set(true);
        assert_eq!(r.not_ready(), ["readers.kafka"]);
        group.set(true);
        assert!(r.not_ready().is_empty());
        assert!(!r.is_stopped());
        r.stop();
        assert!(r.is_stopped());
    }
}
