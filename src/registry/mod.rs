//! The live set of targets: one source of truth that the scheduler, the stores, the web and
//! `/metrics` follow. Targets come from the configuration (the file, `PROBE_URLS`, the command
//! line) and from the API; each change (upsert, pause, resume, remove by id) is applied under
//! one lock, given the next version number, and sent to every follower in the order applied.
//!
//! A follower calls [`Registry::follow`] once: it gets the entries as of one version and, from
//! then on, every later change, so nothing falls between the two. Changes are rare next to
//! probes (a reload, an API call), so followers read them from an unbounded channel; a
//! follower that has gone away is dropped at the next change.

pub mod by_id;
pub mod edit;
pub mod follow;
pub mod saved;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use tokio::sync::mpsc;

use self::by_id::ById;

use crate::config::Target;

pub use crate::config::target::Source;
/// Where the scheduler finds a target's rounds (they live in `state`, where the fleet's round
/// book uses them too).
pub use crate::state::phase;

/// One target of the live set.
#[derive(Debug, Clone)]
pub struct Entry {
    pub target: Arc<Target>,
    /// Not probed while paused; shown as paused.
    pub paused: bool,
    /// The version of the registry at which this entry last changed.
    pub version: u64,
}

/// A change asked of the registry.
#[derive(Debug, Clone)]
pub enum Change {
    /// Adds the target, or replaces the one with its id.
    Upsert(Arc<Target>),
    Pause(String),
    Resume(String),
    Remove(String),
}

impl Change {
    /// The id of the target it changes.
    pub fn id(&self) -> &str {
        match self {
            Change::Upsert(target) => &target.id,
            Change::Pause(id) | Change::Resume(id) | Change::Remove(id) => id,
        }
    }
}

/// A change as applied, as followers see it.
#[derive(Debug, Clone)]
pub enum Applied {
    /// Added or replaced (a pause or resume is an upsert with the new `paused`).
    Upsert(Arc<Entry>),
    /// Removed: its history stays in the stores, marked removed.
    Remove(Arc<Entry>),
}

impl Applied {
    pub fn entry(&self) -> &Arc<Entry> {
        match self {
            Applied::Upsert(e) | Applied::Remove(e) => e,
        }
    }
}

/// The changes of one version, in order.
#[derive(Debug, Clone)]
pub struct Update {
    pub version: u64,
    pub changes: Arc<[Applied]>,
}

/// Why a change was refused. Nothing of the batch it belonged to was applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    #[error("no target with id {0:?}")]
    NotFound(String),
}

#[derive(Debug, Default)]
struct State {
    version: u64,
    entries: HashSet<ById<Arc<Entry>>, foldhash::fast::RandomState>,
}

/// The live set of targets; see the module's documentation.
#[derive(Debug, Default)]
pub struct Registry {
    state: RwLock<State>,
    followers: Mutex<Vec<mpsc::UnboundedSender<Update>>>,
}

impl Registry {
    /// A registry holding `targets` (version 1 when there are any).
    pub fn new(targets: impl IntoIterator<Item = Target>) -> Arc<Registry> {
        let registry = Registry::default();
        let changes: Vec<Change> = targets
            .into_iter()
            .map(|t| Change::Upsert(Arc::new(t)))
            .collect();
        if !changes.is_empty() {
            registry
                .apply(changes)
                .expect("upserts of new targets cannot be refused");
        }
        Arc::new(registry)
    }

    /// The current version: 0 before any change.
    pub fn version(&self) -> u64 {
        self.read().version
    }

    pub fn len(&self) -> usize {
        self.read().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The entry of `id`, if any.
    pub fn get(&self, id: &str) -> Option<Arc<Entry>> {
        self.read().entries.get(id).map(|e| e.0.clone())
    }

    /// Every entry, in no particular order.
    pub fn entries(&self) -> Vec<Arc<Entry>> {
        self.read().entries.iter().map(|e| e.0.clone()).collect()
    }

    /// The entries as of now and every change after them.
    pub fn follow(&self) -> (Vec<Arc<Entry>>, mpsc::UnboundedReceiver<Update>) {
        // The state's read lock is held while the follower joins: no change can be applied
        // between the snapshot and the subscription.
        let state = self.read();
        let (tx, rx) = mpsc::unbounded_channel();
        self.followers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(tx);
        (state.entries.iter().map(|e| e.0.clone()).collect(), rx)
    }

    /// Applies `changes` in order, all or nothing, as one new version, and tells the followers.
    /// Changes that change nothing (a pause of a paused target, an upsert of an equal target)
    /// are left out; when none is left the version stays.
    pub fn apply(&self, changes: Vec<Change>) -> Result<Update, RegistryError> {
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        // Checked in full before anything changes.
        let mut seen: HashMap<&str, bool, foldhash::fast::RandomState> =
            HashMap::with_capacity_and_hasher(changes.len(), Default::default());
        for c in &changes {
            let exists = *seen.get(c.id()).unwrap_or(&state.entries.contains(c.id()));
            match c {
                Change::Upsert { .. } => {
                    seen.insert(c.id(), true);
                }
                Change::Remove(_) => {
                    if !exists {
                        return Err(RegistryError::NotFound(c.id().to_owned()));
                    }
                    seen.insert(c.id(), false);
                }
                Change::Pause(_) | Change::Resume(_) => {
                    if !exists {
                        return Err(RegistryError::NotFound(c.id().to_owned()));
                    }
                }
            }
        }
        let version = state.version + 1;
        state.entries.reserve(changes.len());
        let mut applied = Vec::with_capacity(changes.len());
        for c in changes {
            match c {
                Change::Upsert(target) => {
                    let old = state.entries.get(target.id.as_str()).map(|o| &o.0);
                    let paused = old.is_some_and(|o| o.paused);
                    if old.is_some_and(|o| same_target(&o.target, &target)) {
                        continue;
                    }
                    let entry = Arc::new(Entry {
                        target,
                        paused,
                        version,
                    });
                    state.entries.replace(ById(entry.clone()));
                    applied.push(Applied::Upsert(entry));
                }
                Change::Pause(ref id) | Change::Resume(ref id) => {
                    let pause = matches!(c, Change::Pause(_));
                    let old = &state.entries.get(id.as_str()).expect("checked above").0;
                    if old.paused == pause {
                        continue;
                    }
                    let entry = Arc::new(Entry {
                        paused: pause,
                        version,
                        ..Entry::clone(old)
                    });
                    state.entries.replace(ById(entry.clone()));
                    applied.push(Applied::Upsert(entry));
                }
                Change::Remove(id) => {
                    let old = state.entries.take(id.as_str()).expect("checked above");
                    applied.push(Applied::Remove(old.0));
                }
            }
        }
        let update = Update {
            version: if applied.is_empty() {
                state.version
            } else {
                version
            },
            changes: applied.into(),
        };
        if !update.changes.is_empty() {
            state.version = version;
            let mut followers = self
                .followers
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            followers.retain(|f| f.send(update.clone()).is_ok());
        }
        Ok(update)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Whether two targets would be probed alike: everything the configuration says of them.
/// (A `Target` holds compiled regexes and conditions, which have no equality of their own;
/// their debug forms print what they were made from.)
pub fn same_target(a: &Target, b: &Target) -> bool {
    std::ptr::eq(a, b) || format!("{a:?}") == format!("{b:?}")
}

#[cfg(test)]
mod tests;
