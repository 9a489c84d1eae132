//! A fleet's locations as small indices: the round book keeps a result per (target, round,
//! location) for a million targets, so a location is one byte there and a set of them one
//! word, never a string. [`Locations`] turns names into indices and back.

use std::fmt;

/// The most locations a fleet may have: a [`LocSet`] is one 64-bit word.
pub const MAX_LOCATIONS: usize = 64;

/// A location, by its index in the fleet's list (`fleet.locations`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LocId(pub u8);

impl LocId {
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// A set of locations.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct LocSet(u64);

impl LocSet {
    pub const EMPTY: LocSet = LocSet(0);

    pub fn insert(&mut self, l: LocId) {
        self.0 |= 1 << l.0;
    }

    pub fn remove(&mut self, l: LocId) {
        self.0 &= !(1 << l.0);
    }

    pub fn contains(self, l: LocId) -> bool {
        self.0 & (1 << l.0) != 0
    }

    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The locations in index order.
    pub fn iter(self) -> impl Iterator<Item = LocId> {
        (0..MAX_LOCATIONS as u8)
            .map(LocId)
            .filter(move |l| self.contains(*l))
    }
}

impl FromIterator<LocId> for LocSet {
    fn from_iter<I: IntoIterator<Item = LocId>>(iter: I) -> Self {
        let mut s = LocSet::EMPTY;
        for l in iter {
            s.insert(l);
        }
        s
    }
}

impl fmt::Debug for LocSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter().map(|l| l.0)).finish()
    }
}

/// The fleet's locations, in the order configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Locations {
    names: Vec<Box<str>>,
}

/// Why a list of locations cannot be a fleet's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocationsError {
    #[error("at least one location")]
    Empty,
    #[error("at most {} locations, not {}", MAX_LOCATIONS, .0)]
    TooMany(usize),
    #[error("each location once ({0:?} is listed twice)")]
    Duplicate(String),
}

impl Locations {
    pub fn new<S: AsRef<str>>(names: &[S]) -> Result<Locations, LocationsError> {
        if names.is_empty() {
            return Err(LocationsError::Empty);
        }
        if names.len() > MAX_LOCATIONS {
            return Err(LocationsError::TooMany(names.len()));
        }
        let mut out: Vec<Box<str>> = Vec::with_capacity(names.len());
        for n in names {
            let n = n.as_ref();
            if out.iter().any(|o| &**o == n) {
                return Err(LocationsError::Duplicate(n.to_owned()));
            }
            out.push(n.into());
        }
        Ok(Locations { names: out })
    }

    /// How many locations the fleet has (its n before impaired ones are left out).
    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The index of the location called `name`.
    pub fn id(&self, name: &str) -> Option<LocId> {
        self.names
            .iter()
            .position(|n| &**n == name)
            .map(|i| LocId(i as u8))
    }

    pub fn name(&self, l: LocId) -> &str {
        &self.names[l.index()]
    }

    /// Every location.
    pub fn all(&self) -> LocSet {
        (0..self.names.len() as u8).map(LocId).collect()
    }

    /// The names of a set's locations, in the fleet's order.
    pub fn names(&self, s: LocSet) -> Vec<String> {
        s.iter().map(|l| self.name(l).to_owned()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_indices_and_back() {
        let l = Locations::new(&["eu", "us", "ap"]).unwrap();
        assert_eq!(l.id("us"), Some(LocId(1)));
        assert_eq!(l.id("mars"), None);
        assert_eq!(l.name(LocId(2)), "ap");
        let mut s = LocSet::EMPTY;
        s.insert(LocId(2));
        s.insert(LocId(0));
        assert_eq!((s.len(), l.names(s)), (2, vec!["eu".into(), "ap".into()]));
        s.remove(LocId(0));
        assert!(!s.contains(LocId(0)) && s.contains(LocId(2)));
        assert_eq!(l.all().len(), 3);
    }

    #[test]
    fn a_list_of_locations_is_non_empty_unique_and_fits_a_word() {
        assert_eq!(
            Locations::new::<&str>(&[]).unwrap_err(),
            LocationsError::Empty
        );
        assert_eq!(
            Locations::new(&["eu", "us", "eu"]).unwrap_err(),
            LocationsError::Duplicate("eu".into())
        );
        let many: Vec<String> = (0..=MAX_LOCATIONS).map(|i| format!("l{i}")).collect();
        assert_eq!(
            Locations::new(&many).unwrap_err(),
            LocationsError::TooMany(65)
        );
        let l = Locations::new(&many[..MAX_LOCATIONS]).unwrap();
        assert_eq!(l.all().len(), 64);
        assert!(l.all().contains(LocId(63)));
    }
}
