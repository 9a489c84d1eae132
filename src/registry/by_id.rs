//! A set of things found by their target's id without a copy of the id: a million targets
//! would otherwise hold a million more strings in each index.

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use super::Entry;
use crate::config::Target;

/// What has a target id.
pub trait HasId {
    fn id(&self) -> &str;
}

impl HasId for Arc<Entry> {
    fn id(&self) -> &str {
        &self.target.id
    }
}

impl<T> HasId for (Arc<Target>, T) {
    fn id(&self) -> &str {
        &self.0.id
    }
}

/// `T` in a `HashSet`, equal, hashed and looked up (`set.get("id")`) by its id alone.
#[derive(Debug, Clone)]
pub struct ById<T>(pub T);

impl<T: HasId> Borrow<str> for ById<T> {
    fn borrow(&self) -> &str {
        self.0.id()
    }
}

impl<T: HasId> PartialEq for ById<T> {
    fn eq(&self, other: &ById<T>) -> bool {
        self.0.id() == other.0.id()
    }
}

impl<T: HasId> Eq for ById<T> {}

impl<T: HasId> Hash for ById<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // As the `str` hashes, so that lookups by `&str` find it (`Borrow`'s contract).
        self.0.id().hash(state);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::config::target::{TargetDefaults, TargetSpec};

    fn target(id: &str, path: &str) -> Arc<Target> {
        let d = TargetDefaults {
            interval: crate::config::Interval::Every(std::time::Duration::from_secs(10)),
            timeout: std::time::Duration::from_secs(5),
            tls_verify: crate::config::TlsVerify::Yes,
        };
        let spec = TargetSpec {
            id: Some(id.into()),
            url: format!("http://127.0.0.1/{path}"),
            ..Default::default()
        };
        Arc::new(spec.build(&d).unwrap())
    }

    #[test]
    // A target holds caches with interior mutability; its id, all that is hashed, is fixed.
    #[allow(clippy::mutable_key_type)]
    fn found_and_replaced_by_id_alone() {
        let mut set = HashSet::new();
        set.insert(ById((target("a", "1"), 1u32)));
        set.insert(ById((target("b", "1"), 2u32)));
        assert_eq!(set.get("a").map(|e| e.0.1), Some(1));
        assert!(!set.contains("c"));
        // Another target under the same id replaces it.
        let old = set.replace(ById((target("a", "2"), 3u32))).unwrap();
        assert_eq!(old.0.0.path(), "/1");
        assert_eq!(set.len(), 2);
        assert_eq!(set.get("a").map(|e| (e.0.0.path(), e.0.1)), Some(("/2", 3)));
        assert_eq!(set.take("b").map(|e| e.0.1), Some(2));
        assert_eq!(set.len(), 1);
    }
}
