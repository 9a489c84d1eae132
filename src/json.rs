//! A JSON document read without copying: strings borrowed from the text unless they have
//! escapes, an object as its list of members in text order (a repeated key kept twice), one
//! allocation per array or object. Built in one pass like `serde_json::Value`, without a map
//! per object and a `String` per key and text value: what made the Kafka consumer's validation
//! and the conditions' `[BODY]` paths slow. Read by `event::decode` (the consumer's fast way)
//! and by `conditions` (JSON bodies).

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub enum Json<'a> {
    Null,
    Bool(bool),
    /// A number written without a fraction or exponent, exactly.
    Int(serde_json::Number),
    Float(f64),
    String(Cow<'a, str>),
    Array(Vec<Json<'a>>),
    /// Members in text order, repeated keys included (see [`Json::get`]).
    Object(Vec<(Cow<'a, str>, Json<'a>)>),
}

impl<'a> Json<'a> {
    /// The document in `text`, or `None` when it is not JSON (or nests deeper than 128, as
    /// `serde_json` allows).
    pub fn parse(text: &'a str) -> Option<Json<'a>> {
        serde_json::from_str(text).ok()
    }

    /// The same tree, owning its strings.
    pub fn into_owned(self) -> Json<'static> {
        match self {
            Json::Null => Json::Null,
            Json::Bool(b) => Json::Bool(b),
            Json::Int(n) => Json::Int(n),
            Json::Float(f) => Json::Float(f),
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

    /// An object's member `key`: the last one of that name (as Go's map and `serde_json`'s
    /// `Value` keep it).
    pub fn get(&self, key: &str) -> Option<&Json<'a>> {
        match self {
            Json::Object(members) => members.iter().rev().find(|(k, _)| k == key).map(|m| &m.1),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Json<'a>]> {
        match self {
            Json::Array(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    /// A number as a float64 (as Go's `json.Unmarshal` into an `interface{}` reads every one).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Json::Int(n) => n.as_f64(),
            Json::Float(f) => Some(*f),
            _ => None,
        }
    }

    /// The JSON Schema type: `integer` for a number without a fraction or exponent.
    pub fn json_type(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "boolean",
            Json::Int(_) => "integer",
            Json::Float(_) => "number",
            Json::String(_) => "string",
            Json::Array(_) => "array",
            Json::Object(_) => "object",
        }
    }

    /// The value as `serde_json` has it.
    pub fn to_value(&self) -> Value {
        match self {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::Int(n) => Value::Number(n.clone()),
            Json::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
            Json::String(s) => Value::String(s.clone().into_owned()),
            Json::Array(items) => Value::Array(items.iter().map(Json::to_value).collect()),
            Json::Object(members) => Value::Object(
                members
                    .iter()
                    .map(|(k, v)| (k.clone().into_owned(), v.to_value()))
                    .collect(),
            ),
        }
    }
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
        Ok(Json::Int(n.into()))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Json<'de>, E> {
        Ok(Json::Int(n.into()))
    }

    fn visit_f64<E>(self, n: f64) -> Result<Json<'de>, E> {
        Ok(Json::Float(n))
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
    fn borrows_plain_strings_copies_escaped_ones_and_keeps_integers_exact() {
        let text =
            r#"{"a": "plain", "b\u0041": "esc\"aped", "n": [1, -2, 2.5, 18446744073709551615]}"#;
        let json = Json::parse(text).unwrap();
        assert!(matches!(
            json.get("a"),
            Some(Json::String(Cow::Borrowed("plain")))
        ));
        assert!(matches!(json.get("bA"), Some(Json::String(Cow::Owned(s))) if s == "esc\"aped"));
        let n = json.get("n").and_then(Json::as_array).unwrap();
        assert_eq!(
            n.iter().map(Json::json_type).collect::<Vec<_>>(),
            ["integer", "integer", "number", "integer"]
        );
        assert_eq!(
            n.iter().map(|v| v.as_f64().unwrap()).collect::<Vec<_>>(),
            [1.0, -2.0, 2.5, u64::MAX as f64]
        );
        assert_eq!(n[3].to_value(), serde_json::json!(u64::MAX));
        let Json::Object(members) = &json else {
            panic!()
        };
        assert!(matches!(members[1].0, Cow::Owned(_)));
        assert_eq!(json.clone().into_owned(), json);
    }

    #[test]
    fn of_repeated_keys_the_last_counts() {
        let json = Json::parse(r#"{"b": 1, "a": 2, "b": 3}"#).unwrap();
        assert_eq!(json.get("b").and_then(Json::as_f64), Some(3.0));
        assert_eq!(json.to_value(), serde_json::json!({"b": 3, "a": 2}));
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
