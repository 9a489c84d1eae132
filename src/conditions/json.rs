//! The body as the conditions read it: a JSON tree that borrows its strings from the body and
//! keeps an object as a list of members. Built in one pass like `serde_json::Value`, but with
//! one allocation per array or object instead of a hash map per object and a `String` per key
//! and text value: a 10 KB body of 140 small objects parses several times faster.
//!
//! The values are what Go's `json.Unmarshal` gives into an `interface{}`, as Gatus reads them:
//! every number is a float64, and of an object's repeated keys the last one counts.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Json<'a> {
    Null,
    Bool(bool),
    Number(f64),
    String(Cow<'a, str>),
    Array(Vec<Json<'a>>),
    /// Members in document order, repeated keys included (see [`Json::get`]).
    Object(Vec<(Cow<'a, str>, Json<'a>)>),
}

impl<'a> Json<'a> {
    /// The document in `text`, or `None` when it is not JSON (or nests deeper than 128, as
    /// `serde_json` allows).
    pub(super) fn parse(text: &'a str) -> Option<Json<'a>> {
        serde_json::from_str(text).ok()
    }

    /// The same tree, owning its strings.
    pub(super) fn into_owned(self) -> Json<'static> {
        match self {
            Json::Null => Json::Null,
            Json::Bool(b) => Json::Bool(b),
            Json::Number(n) => Json::Number(n),
            Json::String(s) => Json::String(Cow::Owned(s.into_owned())),
            Json::Array(items) => Json::Array(items.into_iter().map(Json::into_owned).collect()),
            Json::Object(members) => Json::Object(
                members
                    .into_iter()
                    .map(|(k, v)| (Cow::Owned(k.into_owned()), v.into_owned()))
                    .collect(),
            ),
        }
    }

    /// An object's member `key`: the last one of that name, as Go's map keeps it.
    pub(super) fn get(&self, key: &str) -> Option<&Json<'a>> {
        match self {
            Json::Object(members) => members.iter().rev().find(|(k, _)| k == key).map(|m| &m.1),
            _ => None,
        }
    }

    pub(super) fn as_array(&self) -> Option<&[Json<'a>]> {
        match self {
            Json::Array(items) => Some(items),
            _ => None,
        }
    }
}

/// An object's members sorted by key, each key once with its last value: the order in which Go
/// prints and marshals a map.
pub(super) fn sorted<'v, 'a>(
    members: &'v [(Cow<'a, str>, Json<'a>)],
) -> Vec<&'v (Cow<'a, str>, Json<'a>)> {
    let mut entries: Vec<_> = members.iter().collect();
    // Stable: of equal keys the last one stays last, and is the one kept.
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let mut kept: Vec<&(Cow<'a, str>, Json<'a>)> = Vec::with_capacity(entries.len());
    for e in entries {
        match kept.last_mut() {
            Some(last) if last.0 == e.0 => *last = e,
            _ => kept.push(e),
        }
    }
    kept
}

impl<'de> Deserialize<'de> for Json<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Json<'de>, E> {
        Ok(Json::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Json<'de>, E> {
        Ok(Json::Number(n as f64))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Json<'de>, E> {
        Ok(Json::Number(n as f64))
    }

    fn visit_f64<E>(self, n: f64) -> Result<Json<'de>, E> {
        Ok(Json::Number(n))
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Borrowed(s)))
    }

    fn visit_str<E>(self, s: &str) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Owned(s.to_owned())))
    }

    fn visit_string<E>(self, s: String) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Owned(s)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json<'de>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json<'de>, A::Error> {
        let mut members = Vec::with_capacity(map.size_hint().unwrap_or(0));
        while let Some(key) = map.next_key_seed(Key)? {
            members.push((key, map.next_value()?));
        }
        Ok(Json::Object(members))
    }
}

/// An object's key, borrowed from the text when it has no escapes (`Cow`'s own `Deserialize`
/// always copies).
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Cow<'de, str>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Borrowed(s))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(s.to_owned()))
    }

    fn visit_string<E: de::Error>(self, s: String) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borrows_plain_strings_copies_escaped_ones_and_reads_numbers_as_go_float64() {
        let text =
            r#"{"a": "plain", "b\u0041": "esc\"aped", "n": [1, -2, 2.5, 18446744073709551615]}"#;
        let json = Json::parse(text).unwrap();
        assert!(matches!(
            json.get("a"),
            Some(Json::String(Cow::Borrowed("plain")))
        ));
        assert!(matches!(json.get("bA"), Some(Json::String(Cow::Owned(s))) if s == "esc\"aped"));
        assert_eq!(
            json.get("n").and_then(Json::as_array).unwrap(),
            [
                Json::Number(1.0),
                Json::Number(-2.0),
                Json::Number(2.5),
                Json::Number(u64::MAX as f64)
            ]
        );
        let Json::Object(members) = &json else {
            panic!()
        };
        assert!(matches!(members[1].0, Cow::Owned(_)));
    }

    #[test]
    fn of_repeated_keys_the_last_counts_in_lookups_and_in_sorted_order() {
        let json = Json::parse(r#"{"b": 1, "a": 2, "b": 3, "a": 4, "c": 5}"#).unwrap();
        assert_eq!(json.get("b"), Some(&Json::Number(3.0)));
        let Json::Object(members) = &json else {
            panic!()
        };
        let order: Vec<(&str, &Json)> = sorted(members)
            .iter()
            .map(|m| (m.0.as_ref(), &m.1))
            .collect();
        assert_eq!(
            order,
            [
                ("a", &Json::Number(4.0)),
                ("b", &Json::Number(3.0)),
                ("c", &Json::Number(5.0))
            ]
        );
    }

    #[test]
    fn what_is_not_json_or_nests_too_deep_is_none() {
        for bad in ["", "{", "[1,]", "{\"a\":1} x", "nope"] {
            assert_eq!(Json::parse(bad), None, "{bad}");
        }
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert_eq!(Json::parse(&deep), None);
        let ok = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert!(Json::parse(&ok).is_some());
    }
}
