//! `[BODY].a.b`, `[BODY][0].id`: Gatus's small JSON path (`jsonpath/jsonpath.go`), quirks
//! included, on a body parsed once. Keys are split at dots outside brackets; `key[i]` and
//! `[i][j]` index arrays; a path that meets an array, a number or a boolean stops there and
//! gives it whole (`[BODY].list.x` is the list); a missing key, `null`, or a key under a string
//! does not resolve. Iterative, so a path of any length cannot overflow the stack.

use std::borrow::Cow;

use crate::json::Json;

use super::gostd;

/// A path after `[BODY]`, split into its keys once, when the condition is parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct JsonPath {
    keys: Vec<String>,
    empty: bool,
}

impl JsonPath {
    /// Splits as Gatus's `walk` does: at each `.` outside brackets (a stray `]` counts as
    /// closing one); `a.` ends with an empty key.
    pub(super) fn new(path: &str) -> JsonPath {
        let mut keys = Vec::new();
        let (mut start, mut depth) = (0usize, 0i64);
        for (i, b) in path.bytes().enumerate() {
            match b {
                b'[' => depth += 1,
                b']' => depth -= 1,
                b'.' if depth == 0 => {
                    keys.push(path[start..i].to_owned());
                    start = i + 1;
                }
                _ => {}
            }
        }
        keys.push(path[start..].to_owned());
        JsonPath {
            keys,
            empty: path.is_empty(),
        }
    }

    /// `[BODY].` with nothing after the dot: Gatus then compares the raw body, unless it looks
    /// like a JSON array.
    pub(super) fn is_empty(&self) -> bool {
        self.empty
    }

    /// Where the path leads in `root`, or `None` when it does not resolve.
    pub(super) fn walk<'v>(&self, root: &'v Json<'v>) -> Option<Found<'v>> {
        let mut value = root;
        for (i, key) in self.keys.iter().enumerate() {
            let last = i + 1 == self.keys.len();
            let next = extract(key, value)?;
            match next {
                Json::Object(members) if last => return Some(Found::Object(members)),
                Json::Object(_) => value = next,
                Json::String(s) => return last.then_some(Found::Text(Cow::Borrowed(s))),
                Json::Array(items) => return Some(Found::Array(items)),
                Json::Int(_) | Json::Float(_) => {
                    let n = next.as_f64().unwrap_or(0.0);
                    return Some(Found::Text(Cow::Owned(gostd::format_float(n))));
                }
                Json::Bool(b) => {
                    return Some(Found::Text(Cow::Borrowed(if *b {
                        "true"
                    } else {
                        "false"
                    })));
                }
                Json::Null => return None,
            }
        }
        None
    }
}

/// What a path resolved to. Its text and length are Gatus's: `%v` of an array (`[1 2]`) and its
/// number of elements; an object as compact JSON with sorted keys and its length in bytes.
#[derive(Debug)]
pub(super) enum Found<'v> {
    Text(Cow<'v, str>),
    /// The raw body, for an empty path on a body that is not an array.
    Raw(&'v [u8]),
    Array(&'v [Json<'v>]),
    Object(&'v [(Cow<'v, str>, Json<'v>)]),
}

impl<'v> Found<'v> {
    /// The value as Gatus shows and compares it.
    pub(super) fn text(&self) -> Cow<'_, str> {
        match self {
            Found::Text(s) => Cow::Borrowed(s.as_ref()),
            Found::Raw(bytes) => String::from_utf8_lossy(bytes),
            Found::Array(items) => {
                let mut out = String::new();
                gostd::sprint_array(items, &mut out);
                Cow::Owned(out)
            }
            Found::Object(members) => {
                let mut out = String::new();
                gostd::marshal_object(members, &mut out);
                Cow::Owned(out)
            }
        }
    }

    /// The value as Gatus shows and compares it, kept borrowed where it can be.
    pub(super) fn into_text(self) -> Cow<'v, str> {
        match self {
            Found::Text(s) => s,
            Found::Raw(bytes) => String::from_utf8_lossy(bytes),
            other => Cow::Owned(other.text().into_owned()),
        }
    }

    /// `len()`: elements of an array, bytes of anything else (as Go's `len` of a string).
    pub(super) fn len(&self) -> usize {
        match self {
            Found::Text(s) => s.len(),
            Found::Raw(bytes) => bytes.len(),
            Found::Array(items) => items.len(),
            Found::Object(_) => self.text().len(),
        }
    }
}

/// Gatus's `extractValue`: one key (`name`, `name[i]`, `[i]`, `name[i][j]`) applied to a value.
/// `Some(Json::Null)` and `None` both end the walk unresolved.
fn extract<'v>(key: &str, value: &'v Json<'v>) -> Option<&'v Json<'v>> {
    let (mut key, mut value) = (key, value);
    loop {
        if !(key.ends_with(']') && key.contains('[')) {
            return match value {
                Json::Object(_) => value.get(key),
                // An array (the body itself, usually) is given whole, and so is a scalar.
                _ => Some(value),
            };
        }
        // The first index at bracket depth 1: name[i]…
        let (mut start, mut end, mut depth) = (0usize, 0usize, 0i64);
        let mut index = "";
        let mut nested = false;
        for (i, b) in key.bytes().enumerate() {
            if b == b'[' {
                start = i;
                depth += 1;
            } else if b == b']' && depth == 1 {
                end = i;
                index = &key[start + 1..i];
                nested = key.as_bytes().get(i + 1) == Some(&b'[');
                break;
            }
        }
        let index = atoi(index).filter(|&i| i >= 0)?;
        let name = &key[..start];
        let array = if name.is_empty() {
            value.as_array()?
        } else {
            // Gatus panics here when the value is not an object; an unresolved path is kinder.
            if !matches!(value, Json::Object(_)) {
                return None;
            }
            match value.get(name)? {
                Json::Null => return None,
                v => v.as_array()?,
            }
        };
        let element = array.get(usize::try_from(index).ok()?)?;
        if !nested {
            return Some(element);
        }
        key = &key[end + 1..];
        value = element;
    }
}

/// Go's `strconv.Atoi`: an optional sign and decimal digits, within i64.
fn atoi(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.strip_prefix('+').unwrap_or(s).parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Gatus's own table for `jsonpath.Eval` (`jsonpath/jsonpath_test.go`), on our walk.
    #[test]
    fn walk_gives_what_gatus_jsonpath_gives() {
        type Case = (&'static str, &'static str, Option<(&'static str, usize)>);
        let cases: &[Case] = &[
            ("key", r#"{"key": "value"}"#, Some(("value", 5))),
            ("key", r#"{}"#, None),
            (
                "long.simple.walk",
                r#"{"long": {"simple": {"walk": "value"}}}"#,
                Some(("value", 5)),
            ),
            (
                "ids[1].id",
                r#"{"ids": [{"id": 1}, {"id": 2}]}"#,
                Some(("2", 1)),
            ),
            ("ids[0]", r#"{"ids": [1, 2]}"#, Some(("1", 1))),
            ("", "[1, 2]", Some(("[1 2]", 2))),
            ("ids[wat]", r#"{"ids": [1, 2]}"#, None),
            ("[1]", "[1, 2]", Some(("2", 1))),
            ("[0]", r#"[{"id": 1}, {"id": 2}]"#, Some((r#"{"id":1}"#, 8))),
            ("[0].id", r#"[{"id": 1}, {"id": 2}]"#, Some(("1", 1))),
            ("[5].id", r#"[{"id": 1}, {"id": 2}]"#, None),
            (
                "data.ids[0].id",
                r#"{"data": {"ids": [{"id": 1}, {"id": 2}, {"id": 3}]}}"#,
                Some(("1", 1)),
            ),
            ("[3][2]", "[[1, 2], [3, 4], [], [5, 6, 7]]", Some(("7", 1))),
            (
                "data[1][1]",
                r#"{"data": [["a", "b", "c"], ["d", "eeeee", "f"]]}"#,
                Some(("eeeee", 5)),
            ),
            (
                "data[0].apps[1].name",
                r#"{"data": [{"apps": [{"name":"app1"}, {"name":"app2"}, {"name":"app3"}]}]}"#,
                Some(("app2", 4)),
            ),
            ("data[0].apps[1].name", r#"{"data": [{"apps": []}]}"#, None),
            ("data.name.invalid", r#"{"data": {"name": "john"}}"#, None),
            (
                "balance",
                r#"{"balance": "123.40000000000005"}"#,
                Some(("123.40000000000005", 18)),
            ),
            (
                "balance",
                r#"{"balance": 123.40000000000005}"#,
                Some(("123.40000000000005", 18)),
            ),
            ("data[-1]", r#"{"data": [1, 2, 3]}"#, None),
            ("[-1]", "[1, 2, 3]", None),
            ("data[-1].name", r#"{"data": [{"name": "value"}]}"#, None),
            ("data[0][-1]", r#"{"data": [[1, 2, 3]]}"#, None),
        ];
        for (path, body, want) in cases {
            let root = Json::parse(body).unwrap();
            let found = JsonPath::new(path).walk(&root);
            let got = found.as_ref().map(|f| (f.text().into_owned(), f.len()));
            let want = want.map(|(t, n)| (t.to_owned(), n));
            assert_eq!(got, want, "{path:?} in {body}");
        }
    }

    #[test]
    fn walk_keeps_gatus_quirks() {
        let cases: &[(&str, &str, Option<&str>)] = &[
            // A number or an array ends the walk, whatever keys follow.
            ("a.b.c", r#"{"a": 5}"#, Some("5")),
            (
                "a.b",
                r#"{"a": [1, "x", null, {"k": 1.5}]}"#,
                Some("[1 x <nil> map[k:1.5]]"),
            ),
            // A scalar body answers every key.
            ("anything", "123", Some("123")),
            ("anything", r#""text""#, Some("text")),
            ("anything", "null", None),
            // Numbers are float64 in Go.
            ("n", r#"{"n": 1234567}"#, Some("1.234567e+06")),
            (
                "n",
                r#"{"n": 12345678901234567890}"#,
                Some("1.2345678901234567e+19"),
            ),
            ("n", r#"{"n": 1.0}"#, Some("1")),
            ("b", r#"{"b": false}"#, Some("false")),
            // An object is compact JSON with sorted keys.
            (
                "o",
                r#"{"o": {"b": 1, "a": "<x>"}}"#,
                Some(r#"{"a":"\u003cx\u003e","b":1}"#),
            ),
            // What follows the first index, unless it is another index, is ignored.
            ("a[0]b[1]", r#"{"a": [7]}"#, Some("7")),
            ("a[0]x[1]", r#"{"a[0]x": [1, 2]}"#, None),
            ("a[+0]", r#"{"a": [7]}"#, Some("7")),
            ("a[-0]", r#"{"a": [7]}"#, Some("7")),
            ("a[ 0]", r#"{"a": [7]}"#, None),
            // name[i] on an array or a string: Gatus panics; unresolved here.
            ("a[0]", "[1]", None),
            ("a[0]", r#"{"a": "str"}"#, None),
            ("a[0]", r#"{"a": null}"#, None),
            // Dots inside brackets do not split.
            ("a[1.5]", r#"{"a": [1, 2]}"#, None),
            ("a.", r#"{"a": {"": "empty key"}}"#, Some("empty key")),
            ("k", r#"{"k": "v", "k": "w"}"#, Some("w")),
        ];
        for (path, body, want) in cases {
            let root = Json::parse(body).unwrap();
            let found = JsonPath::new(path).walk(&root);
            assert_eq!(
                found.map(|f| f.text().into_owned()).as_deref(),
                *want,
                "{path:?} in {body}"
            );
        }
    }

    #[test]
    fn a_path_of_a_hundred_thousand_keys_does_not_overflow_the_stack() {
        let path = vec!["a"; 100_000].join(".");
        let mut body = String::from("1");
        for _ in 0..100 {
            body = format!("{{\"a\":{body}}}");
        }
        let root = Json::parse(&body).unwrap();
        // After 100 objects the number stops the walk, as in Gatus.
        let found = JsonPath::new(&path).walk(&root);
        assert_eq!(found.map(|f| f.text().into_owned()).as_deref(), Some("1"));
        let nested_text = format!("{}1{}", "[".repeat(100), "]".repeat(100));
        let nested = Json::parse(&nested_text).unwrap();
        assert_eq!(
            JsonPath::new(&"[0]".repeat(100))
                .walk(&nested)
                .map(|f| f.text().into_owned())
                .as_deref(),
            Some("1")
        );
        assert!(
            JsonPath::new(&"[0]".repeat(100_000))
                .walk(&nested)
                .is_none()
        );
    }
}
