//! Compiled regexes shared by pattern. A configuration with 20,000 targets that all `expect:
//! "^SSH-2.0-"` compiles the pattern once and every target holds the same [`SharedRegex`]: one
//! compiled program and one pool of match caches, warm after the first probe, instead of 20,000
//! of each (`Regex::clone` would share the program but give each copy its own cold cache pool).
//!
//! The cache is bounded: past [`MAX_PATTERNS`] distinct patterns it starts afresh, so a process
//! that reloads its targets for months does not keep every pattern it ever saw. Regexes already
//! handed out stay valid; only the sharing with later ones is lost.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use regex::Regex;

/// One compiled regex, shared by every holder of the same pattern.
pub type SharedRegex = Arc<Regex>;

/// Distinct patterns kept before the cache starts afresh.
pub const MAX_PATTERNS: usize = 4096;

static CACHE: LazyLock<Mutex<HashMap<Box<str>, SharedRegex>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// The compiled `pattern`: the one compiled before when there is one, else compiled now.
pub fn shared(pattern: &str) -> Result<SharedRegex, regex::Error> {
    // A panic elsewhere while holding the lock leaves a map that is still whole.
    let mut cache = CACHE.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(re) = cache.get(pattern) {
        return Ok(Arc::clone(re));
    }
    let re = Arc::new(Regex::new(pattern)?);
    if cache.len() >= MAX_PATTERNS {
        cache.clear();
    }
    cache.insert(pattern.into(), Arc::clone(&re));
    Ok(re)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_pattern_is_compiled_once() {
        let a = shared("^SSH-2\\.0-shared-test").unwrap();
        let b = shared("^SSH-2\\.0-shared-test").unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        let c = shared("^SSH-2\\.0-other-test").unwrap();
        assert!(!Arc::ptr_eq(&a, &c));
        assert!(a.is_match("SSH-2.0-shared-test"));
    }

    #[test]
    fn a_bad_pattern_is_an_error_and_not_kept() {
        assert!(shared("(unclosed-test").is_err());
        assert!(shared("(unclosed-test").is_err());
    }

    #[test]
    fn the_cache_stays_bounded() {
        for i in 0..MAX_PATTERNS + 10 {
            shared(&format!("^bounded-{i}$")).unwrap();
        }
        let len = CACHE.lock().unwrap().len();
        assert!(len <= MAX_PATTERNS, "{len} patterns kept");
    }
}
