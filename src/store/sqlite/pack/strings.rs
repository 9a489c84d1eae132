//! Interned strings. The store keeps each repeated string (an error text, an address, a
//! target's descriptor) once in its `strings` table; a block lists the ids it uses once, in a
//! small table of its own, and its events refer to that table's slots, so a repeated string costs
//! one small number per event whatever its global id.

use std::collections::HashMap;
use std::sync::Arc;

use super::PackError;
use super::varint::{self, Reader};

/// The write side: the id of a string, adding it when new.
pub trait Intern {
    fn intern(&mut self, s: &str) -> Result<u64, PackError>;
}

/// The read side: the string of an id.
pub trait Resolve {
    fn resolve(&self, id: u64) -> Result<&str, PackError>;
}

/// Strings by id and ids by string, in memory: the tests' string table, and the store's cache
/// of its `strings` rows (load them with [`Strings::insert`]). Ids handed out by
/// [`Intern::intern`] start at 1 and follow the largest id known.
#[derive(Debug, Default, Clone)]
pub struct Strings {
    by_value: HashMap<Arc<str>, u64>,
    by_id: HashMap<u64, Arc<str>>,
    last: u64,
}

impl Strings {
    pub fn new() -> Self {
        Strings::default()
    }

    /// The id of `value` when known.
    pub fn get(&self, value: &str) -> Option<u64> {
        self.by_value.get(value).copied()
    }

    /// Adds a known row (`id`, `value`); a row that contradicts one already known is refused.
    pub fn insert(&mut self, id: u64, value: &str) -> Result<(), PackError> {
        match (self.by_id.get(&id), self.by_value.get(value)) {
            (Some(v), _) if &**v != value => return Err(PackError::StringConflict(id)),
            (_, Some(&other)) if other != id => return Err(PackError::StringConflict(id)),
            (Some(_), _) => return Ok(()),
            _ => {}
        }
        let v: Arc<str> = Arc::from(value);
        self.by_value.insert(v.clone(), id);
        self.by_id.insert(id, v);
        self.last = self.last.max(id);
        Ok(())
    }

    /// The largest id known (0 when none): the store reads the rows after it.
    pub fn max_id(&self) -> u64 {
        self.last
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

impl Intern for Strings {
    fn intern(&mut self, s: &str) -> Result<u64, PackError> {
        if let Some(id) = self.get(s) {
            return Ok(id);
        }
        let id = self.last + 1;
        self.insert(id, s)?;
        Ok(id)
    }
}

impl Resolve for Strings {
    fn resolve(&self, id: u64) -> Result<&str, PackError> {
        self.by_id
            .get(&id)
            .map(|s| &**s)
            .ok_or(PackError::UnknownString(id))
    }
}

/// A block's own table while it is written: each distinct string gets a slot, in order of
/// first use.
#[derive(Default)]
pub struct LocalTable<'a> {
    slots: HashMap<&'a str, u64>,
    order: Vec<&'a str>,
}

impl<'a> LocalTable<'a> {
    /// The slot of `s`.
    pub fn slot(&mut self, s: &'a str) -> u64 {
        let next = self.order.len() as u64;
        *self.slots.entry(s).or_insert_with(|| {
            self.order.push(s);
            next
        })
    }

    /// An optional string's reference: 0 for none, else its slot + 1.
    pub fn opt(&mut self, s: Option<&'a str>) -> u64 {
        s.map_or(0, |s| self.slot(s) + 1)
    }

    /// Interns every slot's string and writes the table: its length, then each global id.
    pub fn write(&self, out: &mut Vec<u8>, strings: &mut impl Intern) -> Result<(), PackError> {
        varint::put(out, self.order.len() as u64);
        for s in &self.order {
            varint::put(out, strings.intern(s)?);
        }
        Ok(())
    }
}

/// Reads a block's table of global ids.
pub fn read_table(r: &mut Reader) -> Result<Vec<u64>, PackError> {
    let k = r.count(1)?;
    (0..k).map(|_| r.varint()).collect()
}

/// A block's table resolved to its strings.
pub struct Resolved<'s> {
    values: Vec<&'s str>,
}

impl<'s> Resolved<'s> {
    pub fn new(ids: &[u64], strings: &'s impl Resolve) -> Result<Self, PackError> {
        let values = ids
            .iter()
            .map(|&id| strings.resolve(id))
            .collect::<Result<_, _>>()?;
        Ok(Resolved { values })
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// The string in `slot`.
    pub fn get(&self, slot: u64) -> Result<&'s str, PackError> {
        usize::try_from(slot)
            .ok()
            .and_then(|i| self.values.get(i).copied())
            .ok_or(PackError::Corrupt("string slot out of range"))
    }

    /// An optional reference as [`LocalTable::opt`] wrote it.
    pub fn opt(&self, reference: u64) -> Result<Option<&'s str>, PackError> {
        match reference {
            0 => Ok(None),
            r => self.get(r - 1).map(Some),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_gives_one_id_per_distinct_string() {
        let mut s = Strings::new();
        let a = s.intern("timeout").unwrap();
        let b = s.intern("HTTP/2").unwrap();
        assert_eq!(s.intern("timeout").unwrap(), a);
        assert_ne!(a, b);
        assert_eq!(s.resolve(b).unwrap(), "HTTP/2");
        assert_eq!(s.resolve(999), Err(PackError::UnknownString(999)));
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn known_rows_are_kept_and_new_ids_follow_them() {
        let mut s = Strings::new();
        s.insert(41, "dns").unwrap();
        s.insert(41, "dns").unwrap();
        assert_eq!(s.intern("connect").unwrap(), 42);
        assert_eq!(s.get("dns"), Some(41));
        assert_eq!(
            s.insert(41, "tls"),
            Err(PackError::StringConflict(41)),
            "an id bound to another string"
        );
        assert_eq!(s.insert(7, "dns"), Err(PackError::StringConflict(7)));
    }

    #[test]
    fn a_local_table_numbers_strings_in_order_of_first_use() {
        let mut t = LocalTable::default();
        assert_eq!(t.opt(None), 0);
        assert_eq!(t.slot("b"), 0);
        assert_eq!(t.opt(Some("a")), 2);
        assert_eq!(t.slot("b"), 0);
        let mut strings = Strings::new();
        strings.intern("a").unwrap();
        let mut out = Vec::new();
        t.write(&mut out, &mut strings).unwrap();
        let ids = read_table(&mut Reader::new(&out)).unwrap();
        let r = Resolved::new(&ids, &strings).unwrap();
        assert_eq!((r.get(0).unwrap(), r.opt(2).unwrap()), ("b", Some("a")));
        assert_eq!(r.opt(0).unwrap(), None);
        assert!(r.opt(3).is_err());
        assert!(r.get(u64::MAX).is_err());
    }
}
