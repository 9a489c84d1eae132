//! Event tables, written generically: the columns are read from the catalog at startup and each
//! is filled from the event's JSON by name, so a new event type needs a migration and nothing
//! else.
//!
//! Mapping rule: the table of an event is its `schema_title` in snake case, plural
//! (`ProbeEvent` → `probe_events`). A column takes the JSON field of the same name; a nested
//! object's fields are joined with `_` (`phases_ms.dns` → `phases_ms_dns`); a column comment
//! `uptimer: from <path>` names another field (`target_id` ← `target`). A column whose field is
//! absent gets NULL. Values are converted to the column's type here, so a value that cannot fit
//! (70000 in a smallint, a malformed uuid) rejects its row before the database is asked.

use std::borrow::Cow;

use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio_postgres::Client;
use tokio_postgres::types::{Json, ToSql};
use uuid::Uuid;

use crate::postgres::PgError;

/// `ProbeEvent` → `probe_events`.
pub fn table_name(schema_title: &str) -> String {
    let mut out = String::with_capacity(schema_title.len() + 4);
    for (i, c) in schema_title.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else if c.is_ascii_alphanumeric() {
            out.push(c);
        } else {
            out.push('_');
        }
    }
    out.push('s');
    out
}

pub(crate) fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// How a column's values are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Uuid,
    Timestamptz,
    Text,
    I16,
    I32,
    I64,
    F32,
    F64,
    Bool,
    Jsonb,
    /// Anything else (numeric, inet, ...): sent as text and cast by the database.
    Cast,
}

#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    /// JSON path of the field it takes.
    pub path: Vec<String>,
    /// The path comes from an `uptimer: from` comment.
    explicit: bool,
    kind: Kind,
    /// SQL type for the cast (`numeric`, `ip_port`, ...).
    sql_type: String,
    not_null: bool,
}

/// An event table as the writer sees it.
#[derive(Debug, Clone)]
pub struct Table {
    pub name: String,
    pub columns: Vec<Column>,
    /// `INSERT ... ON CONFLICT DO NOTHING`: replays and duplicates are skipped.
    pub insert_sql: String,
    /// The same without ON CONFLICT (cheaper when nothing is a duplicate).
    pub insert_plain_sql: String,
    /// Whether events carry a target to upsert into `targets` first.
    pub has_target: bool,
    /// `probe_events` with the dashboard's rollup tables beside it: inserts return the stored
    /// rows' uuids and the rollups are updated in the same transaction (see `rollups`).
    pub rollups: bool,
    /// `insert_sql` returning the keys (uuid, event_time) of the rows inserted.
    pub insert_returning_sql: String,
}

impl Table {
    /// Reads the table's columns from the catalog; `None` when there is no such table.
    pub async fn load(client: &Client, name: &str) -> Result<Option<Table>, PgError> {
        let rows = client
            .query(
                "SELECT a.attname::text,
                        coalesce(nullif(t.typbasetype, 0), a.atttypid)::regtype::text,
                        format_type(a.atttypid, a.atttypmod),
                        a.attnotnull,
                        coalesce(col_description(a.attrelid, a.attnum), '')
                 FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
                 WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
                 ORDER BY a.attnum",
                &[&quote(name)],
            )
            .await?;
        if rows.is_empty() {
            return Ok(None);
        }
        let rollups = name == "probe_events"
            && client
                .query_one(
                    "SELECT to_regclass('rollup_minute') IS NOT NULL
                       AND to_regclass('incidents') IS NOT NULL",
                    &[],
                )
                .await?
                .get::<_, bool>(0);
        let columns: Vec<Column> = rows
            .iter()
            .map(|r| {
                let name: String = r.get(0);
                let base: String = r.get(1);
                let declared: String = r.get(2);
                let comment: String = r.get(4);
                let explicit: Option<Vec<String>> = comment
                    .lines()
                    .find_map(|l| l.trim().strip_prefix("uptimer: from "))
                    .map(|p| p.trim().split('.').map(str::to_owned).collect());
                let kind = match base.as_str() {
                    "uuid" => Kind::Uuid,
                    "timestamp with time zone" => Kind::Timestamptz,
                    "character varying" | "text" => Kind::Text,
                    "smallint" => Kind::I16,
                    "integer" => Kind::I32,
                    "bigint" => Kind::I64,
                    "real" => Kind::F32,
                    "double precision" => Kind::F64,
                    "boolean" => Kind::Bool,
                    "jsonb" => Kind::Jsonb,
                    _ => Kind::Cast,
                };
                // A varchar(n) or a domain is checked by the database on the cast.
                let kind = if kind == Kind::Text && declared != base && declared != "text" {
                    Kind::Cast
                } else {
                    kind
                };
                Column {
                    explicit: explicit.is_some(),
                    path: explicit.unwrap_or_else(|| vec![name.clone()]),
                    name,
                    kind,
                    sql_type: declared,
                    not_null: r.get(3),
                }
            })
            .collect();
        let mut table = Table::new(name, columns);
        table.rollups = rollups
            && ["uuid", "event_time"]
                .iter()
                .all(|n| table.columns.iter().any(|c| c.name == *n));
        Ok(Some(table))
    }

    fn new(name: &str, columns: Vec<Column>) -> Table {
        let mut cols = Vec::new();
        let mut arrays = Vec::new();
        let mut select = Vec::new();
        for (i, c) in columns.iter().enumerate() {
            let n = i + 1;
            let q = quote(&c.name);
            cols.push(q.clone());
            let array_type = match c.kind {
                Kind::Uuid => "uuid[]",
                Kind::Timestamptz => "timestamptz[]",
                Kind::Text | Kind::Cast => "text[]",
                Kind::I16 => "int2[]",
                Kind::I32 => "int4[]",
                Kind::I64 => "int8[]",
                Kind::F32 => "float4[]",
                Kind::F64 => "float8[]",
                Kind::Bool => "bool[]",
                Kind::Jsonb => "jsonb[]",
            };
            arrays.push(format!("${n}::{array_type}"));
            select.push(if c.kind == Kind::Cast {
                format!("c{n}::{}", c.sql_type)
            } else {
                format!("c{n}")
            });
        }
        let aliases: Vec<String> = (1..=columns.len()).map(|n| format!("c{n}")).collect();
        let insert_plain_sql = format!(
            "INSERT INTO {} ({}) SELECT {} FROM unnest({}) AS u({})",
            quote(name),
            cols.join(", "),
            select.join(", "),
            arrays.join(", "),
            aliases.join(", ")
        );
        let insert_sql = format!("{insert_plain_sql} ON CONFLICT DO NOTHING");
        let has_target = columns
            .iter()
            .any(|c| c.path == ["target"] && c.name != "target");
        Table {
            name: name.to_owned(),
            columns,
            insert_returning_sql: format!("{insert_sql} RETURNING uuid, event_time"),
            insert_sql,
            insert_plain_sql,
            has_target,
            rollups: false,
        }
    }

    /// Converts rows into one array per column; rows that cannot be converted come back with
    /// the reason.
    pub fn encode<'a>(&self, rows: &[&'a Value]) -> (Encoded<'a>, Vec<(&'a Value, String)>) {
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
            for c in &self.columns {
                let v = lookup(row, c);
                match convert(c, v) {
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

fn lookup<'v>(row: &'v Value, c: &Column) -> Option<&'v Value> {
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
    Json(&'a Value),
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

fn convert<'a>(c: &Column, v: Option<&'a Value>) -> Result<Cell<'a>, String> {
    let v = match v {
        Some(v) => v,
        None => {
            return if c.not_null {
                Err("missing (the column is NOT NULL)".into())
            } else {
                Ok(Cell::Null)
            };
        }
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
        Kind::Text | Kind::Cast => Cell::Text(text(v)),
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
        Kind::Jsonb => Cell::Json(v),
    })
}

/// One column's values for a whole batch.
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
    Json(Vec<Option<Json<&'a Value>>>),
}

impl<'a> Array<'a> {
    fn new(kind: Kind, n: usize) -> Array<'a> {
        match kind {
            Kind::Uuid => Array::Uuid(Vec::with_capacity(n)),
            Kind::Timestamptz => Array::Time(Vec::with_capacity(n)),
            Kind::Text | Kind::Cast => Array::Text(Vec::with_capacity(n)),
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
pub struct Encoded<'a> {
    arrays: Vec<Array<'a>>,
    /// The rows encoded, in order.
    pub rows: Vec<&'a Value>,
}

impl Encoded<'_> {
    pub fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.arrays.iter().map(Array::as_param).collect()
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
    fn table_names_come_from_schema_titles() {
        assert_eq!(table_name("ProbeEvent"), "probe_events");
        assert_eq!(table_name("DummyEvent"), "dummy_events");
        assert_eq!(table_name("TcpProbeEvent"), "tcp_probe_events");
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
