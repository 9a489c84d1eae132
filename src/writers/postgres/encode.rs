//! Rows into one array per column, by the mapping rule (see `table`): each column takes its
//! field, converted to the column's type here, so a value that cannot fit (70000 in a
//! smallint, a malformed uuid) rejects its row before the database is asked. A typed event's
//! field is converted as its JSON value would be; a conversion the typed fields do not cover
//! asks for the event's document (`row`), so both kinds of row give the same cells.

use std::borrow::Cow;

use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio_postgres::types::{Json, ToSql};
use uuid::Uuid;

use super::row::Row;
use super::table::{Column, Kind, Table};
use crate::event::Field;

impl Table {
    /// Converts rows into one array per column; rows that cannot be converted come back with
    /// the reason.
    pub fn encode<'a, R: Row>(&self, rows: &[&'a R]) -> (Encoded<'a, R>, Vec<(&'a R, String)>) {
        let mut arrays: Vec<Array<'a>> = self
            .columns
            .iter()
            .map(|c| Array::new(c.kind, rows.len()))
            .collect();
        let mut kept = Vec::with_capacity(rows.len());
        let mut bad = Vec::new();
        let mut cells: Vec<Cell<'a>> = Vec::with_capacity(self.columns.len());
        'rows: for row in rows {
            cells.clear();
            // Built only for a conversion the typed fields do not cover.
            let mut doc: Option<Cow<'a, Value>> = None;
            for c in &self.columns {
                let cell = convert_field(c, row.column(c)).unwrap_or_else(|| {
                    let doc = doc.get_or_insert_with(|| row.json());
                    convert(c, lookup(doc, c)).map(Cell::into_owned)
                });
                match cell {
                    Ok(cell) => cells.push(cell),
                    Err(reason) => {
                        bad.push((*row, format!("{}: {reason}", c.name)));
                        continue 'rows;
                    }
                }
            }
            for (a, cell) in arrays.iter_mut().zip(cells.drain(..)) {
                a.push(cell);
            }
            kept.push(*row);
        }
        (Encoded { arrays, rows: kept }, bad)
    }
}

/// The value of column `c` in a JSON document, null or absent = None.
pub(super) fn lookup<'v>(row: &'v Value, c: &Column) -> Option<&'v Value> {
    let mut v = row;
    for p in &c.path {
        match v.get(p) {
            Some(x) => v = x,
            // A flattened name (phases_ms_dns) when there is no such top-level field.
            None if !c.explicit => return lookup_flat(row, &c.name),
            None => return None,
        }
    }
    Some(v).filter(|v| !v.is_null())
}

/// Finds `phases_ms_dns` as `phases_ms.dns` when the event has no top-level field of that name.
fn lookup_flat<'v>(row: &'v Value, name: &str) -> Option<&'v Value> {
    let obj = row.as_object()?;
    for (k, v) in obj {
        if let Some(rest) = name
            .strip_prefix(k.as_str())
            .and_then(|r| r.strip_prefix('_'))
            && v.is_object()
        {
            if let Some(x) = v.get(rest).filter(|x| !x.is_null()) {
                return Some(x);
            }
            if let Some(x) = lookup_flat(v, rest) {
                return Some(x);
            }
        }
    }
    None
}

enum Cell<'a> {
    Null,
    Uuid(Uuid),
    Time(OffsetDateTime),
    /// Borrowed from the event when it is a JSON string (no copy).
    Text(Cow<'a, str>),
    I16(i16),
    I32(i32),
    I64(i64),
    F32(f32),
    F64(f64),
    Bool(bool),
    Json(Cow<'a, Value>),
}

impl Cell<'_> {
    fn into_owned(self) -> Cell<'static> {
        match self {
            Cell::Null => Cell::Null,
            Cell::Uuid(v) => Cell::Uuid(v),
            Cell::Time(v) => Cell::Time(v),
            Cell::Text(v) => Cell::Text(Cow::Owned(v.into_owned())),
            Cell::I16(v) => Cell::I16(v),
            Cell::I32(v) => Cell::I32(v),
            Cell::I64(v) => Cell::I64(v),
            Cell::F32(v) => Cell::F32(v),
            Cell::F64(v) => Cell::F64(v),
            Cell::Bool(v) => Cell::Bool(v),
            Cell::Json(v) => Cell::Json(Cow::Owned(v.into_owned())),
        }
    }
}

fn as_i64(v: &Value) -> Result<i64, String> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9.2e18)
                    .map(|f| f as i64)
            })
            .ok_or_else(|| format!("{n} is not an integer that fits 64 bits")),
        // The original's consumer cast strings to numbers.
        Value::String(s) => s
            .trim()
            .parse()
            .map_err(|_| format!("{s:?} is not an integer")),
        other => Err(format!("{other} is not an integer")),
    }
}

fn as_f64(v: &Value) -> Result<f64, String> {
    match v {
        Value::Number(n) => n.as_f64().ok_or_else(|| format!("{n} is not a number")),
        Value::String(s) => s
            .trim()
            .parse()
            .map_err(|_| format!("{s:?} is not a number")),
        other => Err(format!("{other} is not a number")),
    }
}

fn text(v: &Value) -> Cow<'_, str> {
    match v {
        Value::String(s) => Cow::Borrowed(s),
        other => Cow::Owned(other.to_string()),
    }
}

fn missing<'a>(c: &Column) -> Result<Cell<'a>, String> {
    if c.kind == Kind::TextArray && c.not_null {
        // A list is left out of the document when it is empty (a verdict's `impaired`).
        Ok(Cell::Text(Cow::Borrowed("{}")))
    } else if c.not_null {
        Err("missing (the column is NOT NULL)".into())
    } else {
        Ok(Cell::Null)
    }
}

/// A field's cell when it is a JSON value, absent, or a typed value whose conversion gives the
/// same cell as its JSON value's would; None for any other (the caller converts the JSON
/// value: a string in an integer column, a value out of range and its error message...).
fn convert_field<'a>(c: &Column, f: Field<'a>) -> Option<Result<Cell<'a>, String>> {
    let cell = match (c.kind, f) {
        (_, Field::Absent) => return Some(missing(c)),
        (_, Field::Json(v)) => return Some(convert(c, Some(v))),
        (Kind::Uuid, Field::Uuid(u)) => Cell::Uuid(u),
        (Kind::Timestamptz, Field::Time(t)) => Cell::Time(t),
        (Kind::Text | Kind::Cast, Field::Str(s)) => Cell::Text(without_nul(Cow::Borrowed(s))),
        (Kind::I16, Field::I64(_) | Field::U64(_)) => Cell::I16(f.as_i64()?.try_into().ok()?),
        (Kind::I32, Field::I64(_) | Field::U64(_)) => Cell::I32(f.as_i64()?.try_into().ok()?),
        (Kind::I64, Field::I64(_) | Field::U64(_)) => Cell::I64(f.as_i64()?),
        (Kind::F32, Field::F64(_) | Field::I64(_) | Field::U64(_)) => Cell::F32(f.as_f64()? as f32),
        (Kind::F64, Field::F64(_) | Field::I64(_) | Field::U64(_)) => Cell::F64(f.as_f64()?),
        (Kind::Bool, Field::Bool(b)) => Cell::Bool(b),
        (Kind::TextArray, Field::Strs(list)) => {
            Cell::Text(Cow::Owned(array_literal(list.iter().map(String::as_str))))
        }
        // Serialised alone: no need for the event's whole document.
        (Kind::Jsonb, Field::Conditions(list)) => {
            let value = serde_json::to_value(list).ok()?;
            Cell::Json(Cow::Owned(json_without_nul(&value).into_owned()))
        }
        (Kind::Jsonb, Field::Details(d)) => {
            let value = d.to_value()?;
            Cell::Json(Cow::Owned(json_without_nul(&value).into_owned()))
        }
        _ => return None,
    };
    Some(Ok(cell))
}

fn convert<'a>(c: &Column, v: Option<&'a Value>) -> Result<Cell<'a>, String> {
    let Some(v) = v else {
        return missing(c);
    };
    Ok(match c.kind {
        Kind::Uuid => Cell::Uuid(
            v.as_str()
                .and_then(|s| Uuid::parse_str(s).ok())
                .ok_or_else(|| format!("{v} is not a uuid"))?,
        ),
        Kind::Timestamptz => Cell::Time(
            v.as_str()
                .and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok())
                .ok_or_else(|| format!("{v} is not an RFC 3339 time"))?,
        ),
        Kind::Text | Kind::Cast => Cell::Text(without_nul(text(v))),
        Kind::I16 => {
            let i = as_i64(v)?;
            Cell::I16(i16::try_from(i).map_err(|_| format!("{i} is out of range for smallint"))?)
        }
        Kind::I32 => {
            let i = as_i64(v)?;
            Cell::I32(i32::try_from(i).map_err(|_| format!("{i} is out of range for integer"))?)
        }
        Kind::I64 => Cell::I64(as_i64(v)?),
        Kind::F32 => Cell::F32(as_f64(v)? as f32),
        Kind::F64 => Cell::F64(as_f64(v)?),
        Kind::Bool => Cell::Bool(match v {
            Value::Bool(b) => *b,
            Value::String(s) if s.eq_ignore_ascii_case("true") => true,
            Value::String(s) if s.eq_ignore_ascii_case("false") => false,
            other => return Err(format!("{other} is not a boolean")),
        }),
        Kind::Jsonb => Cell::Json(json_without_nul(v)),
        Kind::TextArray => {
            let not_strings = || format!("{v} is not a list of strings");
            let list = v.as_array().ok_or_else(not_strings)?;
            let strs: Option<Vec<&str>> = list.iter().map(Value::as_str).collect();
            Cell::Text(Cow::Owned(array_literal(strs.ok_or_else(not_strings)?)))
        }
    })
}

/// A list of strings as a PostgreSQL array literal: every element double-quoted, `"` and `\`
/// escaped with a backslash, so no name (`NULL`, `a,b`, `{x}`, spaces) is read as anything but
/// itself; U+0000 becomes U+FFFD as in text.
fn array_literal<'s>(items: impl IntoIterator<Item = &'s str>) -> String {
    let mut out = String::from("{");
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        for ch in item.chars() {
            match ch {
                '"' | '\\' => {
                    out.push('\\');
                    out.push(ch);
                }
                '\0' => out.push('\u{FFFD}'),
                _ => out.push(ch),
            }
        }
        out.push('"');
    }
    out.push('}');
    out
}

/// A string as PostgreSQL's text can hold it (for the writer's other statements: an error in
/// `incidents` and `targets`).
pub(super) fn pg_text(s: &str) -> Cow<'_, str> {
    without_nul(Cow::Borrowed(s))
}

/// PostgreSQL's text and jsonb cannot hold U+0000, which a hostile body can carry into an
/// error or a resolved condition: it is stored as U+FFFD rather than the row being refused.
fn without_nul(s: Cow<'_, str>) -> Cow<'_, str> {
    if s.contains('\0') {
        Cow::Owned(s.replace('\0', "\u{FFFD}"))
    } else {
        s
    }
}

/// [`without_nul`] for every string and key of a JSON value.
fn json_without_nul(v: &Value) -> Cow<'_, Value> {
    fn has_nul(v: &Value) -> bool {
        match v {
            Value::String(s) => s.contains('\0'),
            Value::Array(a) => a.iter().any(has_nul),
            Value::Object(o) => o.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
            _ => false,
        }
    }
    fn replace(v: &mut Value) {
        match v {
            Value::String(s) => *s = s.replace('\0', "\u{FFFD}"),
            Value::Array(a) => a.iter_mut().for_each(replace),
            Value::Object(o) => {
                *o = std::mem::take(o)
                    .into_iter()
                    .map(|(k, mut v)| {
                        replace(&mut v);
                        (k.replace('\0', "\u{FFFD}"), v)
                    })
                    .collect();
            }
            _ => {}
        }
    }
    if !has_nul(v) {
        return Cow::Borrowed(v);
    }
    let mut v = v.clone();
    replace(&mut v);
    Cow::Owned(v)
}

/// One column's values for a whole batch.
#[derive(Debug, PartialEq)]
enum Array<'a> {
    Uuid(Vec<Option<Uuid>>),
    Time(Vec<Option<OffsetDateTime>>),
    Text(Vec<Option<Cow<'a, str>>>),
    I16(Vec<Option<i16>>),
    I32(Vec<Option<i32>>),
    I64(Vec<Option<i64>>),
    F32(Vec<Option<f32>>),
    F64(Vec<Option<f64>>),
    Bool(Vec<Option<bool>>),
    Json(Vec<Option<Json<Cow<'a, Value>>>>),
}

impl<'a> Array<'a> {
    fn new(kind: Kind, n: usize) -> Array<'a> {
        match kind {
            Kind::Uuid => Array::Uuid(Vec::with_capacity(n)),
            Kind::Timestamptz => Array::Time(Vec::with_capacity(n)),
            Kind::Text | Kind::Cast | Kind::TextArray => Array::Text(Vec::with_capacity(n)),
            Kind::I16 => Array::I16(Vec::with_capacity(n)),
            Kind::I32 => Array::I32(Vec::with_capacity(n)),
            Kind::I64 => Array::I64(Vec::with_capacity(n)),
            Kind::F32 => Array::F32(Vec::with_capacity(n)),
            Kind::F64 => Array::F64(Vec::with_capacity(n)),
            Kind::Bool => Array::Bool(Vec::with_capacity(n)),
            Kind::Jsonb => Array::Json(Vec::with_capacity(n)),
        }
    }

    fn push(&mut self, cell: Cell<'a>) {
        match (self, cell) {
            (Array::Uuid(a), Cell::Uuid(v)) => a.push(Some(v)),
            (Array::Time(a), Cell::Time(v)) => a.push(Some(v)),
            (Array::Text(a), Cell::Text(v)) => a.push(Some(v)),
            (Array::I16(a), Cell::I16(v)) => a.push(Some(v)),
            (Array::I32(a), Cell::I32(v)) => a.push(Some(v)),
            (Array::I64(a), Cell::I64(v)) => a.push(Some(v)),
            (Array::F32(a), Cell::F32(v)) => a.push(Some(v)),
            (Array::F64(a), Cell::F64(v)) => a.push(Some(v)),
            (Array::Bool(a), Cell::Bool(v)) => a.push(Some(v)),
            (Array::Json(a), Cell::Json(v)) => a.push(Some(Json(v))),
            (Array::Uuid(a), _) => a.push(None),
            (Array::Time(a), _) => a.push(None),
            (Array::Text(a), _) => a.push(None),
            (Array::I16(a), _) => a.push(None),
            (Array::I32(a), _) => a.push(None),
            (Array::I64(a), _) => a.push(None),
            (Array::F32(a), _) => a.push(None),
            (Array::F64(a), _) => a.push(None),
            (Array::Bool(a), _) => a.push(None),
            (Array::Json(a), _) => a.push(None),
        }
    }

    fn as_param(&self) -> &(dyn ToSql + Sync) {
        match self {
            Array::Uuid(a) => a,
            Array::Time(a) => a,
            Array::Text(a) => a,
            Array::I16(a) => a,
            Array::I32(a) => a,
            Array::I64(a) => a,
            Array::F32(a) => a,
            Array::F64(a) => a,
            Array::Bool(a) => a,
            Array::Json(a) => a,
        }
    }
}

/// A batch ready to send: one array parameter per column.
pub struct Encoded<'a, R> {
    arrays: Vec<Array<'a>>,
    /// The rows encoded, in order.
    pub rows: Vec<&'a R>,
}

impl<R> Encoded<'_, R> {
    pub fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.arrays.iter().map(Array::as_param).collect()
    }

    /// Whether both hold the same values (not necessarily from the same rows).
    #[cfg(test)]
    pub(super) fn same_values<S>(&self, other: &Encoded<'_, S>) -> bool {
        self.arrays == other.arrays
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn col(name: &str, kind: Kind, not_null: bool) -> Column {
        Column {
            name: name.into(),
            path: vec![name.into()],
            explicit: false,
            kind,
            sql_type: String::new(),
            not_null,
        }
    }

    #[test]
    fn nul_characters_become_replacement_characters_in_text_and_json() {
        let t = Table::new(
            "t",
            vec![
                col("error", Kind::Text, false),
                col("conditions", Kind::Jsonb, false),
            ],
        );
        let row = json!({"error": "a\u{0}b", "conditions": [{"resolved": "x\u{0}", "k\u{0}": 1, "n": 2}]});
        let clean = json!({"error": "a\u{FFFD}b", "conditions": [{"resolved": "x\u{FFFD}", "k\u{FFFD}": 1, "n": 2}]});
        let (enc, bad) = t.encode(&[&row]);
        let (want, _) = t.encode(&[&clean]);
        assert!(bad.is_empty());
        assert!(enc.same_values(&want));
        let untouched = json!({"error": "ab", "conditions": [{"resolved": "x"}]});
        let (enc, _) = t.encode(&[&untouched]);
        assert!(matches!(&enc.arrays[0], Array::Text(a) if matches!(a[0], Some(Cow::Borrowed(_)))));
        assert!(
            matches!(&enc.arrays[1], Array::Json(a) if matches!(a[0], Some(Json(Cow::Borrowed(_)))))
        );
    }

    #[test]
    fn lists_become_quoted_array_literals_and_an_absent_one_is_empty_when_not_null() {
        assert_eq!(array_literal([]), "{}");
        assert_eq!(
            array_literal([
                "eu",
                "NULL",
                "a,b",
                "{x}",
                " s ",
                "q\"uote",
                "back\\slash",
                "n\0"
            ]),
            "{\"eu\",\"NULL\",\"a,b\",\"{x}\",\" s \",\"q\\\"uote\",\"back\\\\slash\",\"n\u{FFFD}\"}"
        );
        let t = Table::new(
            "t",
            vec![
                col("up", Kind::TextArray, true),
                col("impaired", Kind::TextArray, true),
                col("maybe", Kind::TextArray, false),
            ],
        );
        assert!(t.insert_sql.contains("c1::"), "cast: {}", t.insert_sql);
        let row = json!({"up": ["eu", "us"]});
        let (enc, bad) = t.encode(&[&row]);
        assert!(bad.is_empty());
        assert_eq!(
            enc.arrays,
            [
                Array::Text(vec![Some(Cow::Borrowed(r#"{"eu","us"}"#))]),
                Array::Text(vec![Some(Cow::Borrowed("{}"))]),
                Array::Text(vec![None]),
            ]
        );
        for (up, why) in [
            (json!("eu"), r#"up: "eu" is not a list of strings"#),
            (json!(["eu", 1]), r#"up: ["eu",1] is not a list of strings"#),
        ] {
            let row = json!({ "up": up });
            let (_, bad) = t.encode(&[&row]);
            assert_eq!(bad.len(), 1);
            assert_eq!(bad[0].1, why);
        }
    }

    #[test]
    fn nested_fields_map_to_joined_column_names() {
        let row = json!({"phases_ms": {"dns": 1.5, "tls": null}, "x": 1});
        assert_eq!(lookup_flat(&row, "phases_ms_dns"), Some(&json!(1.5)));
        assert_eq!(lookup_flat(&row, "phases_ms_tls"), None);
        assert_eq!(lookup_flat(&row, "phases_ms_connect"), None);
    }

    #[test]
    fn values_that_do_not_fit_reject_their_row_with_a_reason() {
        let t = Table::new(
            "t",
            vec![
                col("uuid", Kind::Uuid, true),
                col("integer_value", Kind::I16, true),
                col("note", Kind::Text, false),
            ],
        );
        let good = json!({"uuid": "3f2a1b0c-9d8e-4f7a-8b6c-5d4e3f2a1b0c", "integer_value": 7});
        let big = json!({"uuid": "3f2a1b0c-9d8e-4f7a-8b6c-5d4e3f2a1b0d", "integer_value": 70000});
        let no_uuid = json!({"integer_value": 1});
        let (enc, bad) = t.encode(&[&good, &big, &no_uuid]);
        assert_eq!(enc.rows, vec![&good]);
        assert_eq!(bad.len(), 2);
        assert_eq!(
            bad[0].1,
            "integer_value: 70000 is out of range for smallint"
        );
        assert_eq!(bad[1].1, "uuid: missing (the column is NOT NULL)");
        assert!(
            t.insert_sql.contains("ON CONFLICT DO NOTHING"),
            "{}",
            t.insert_sql
        );
    }
}
