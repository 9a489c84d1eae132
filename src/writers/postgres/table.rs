//! Event tables, written generically: the columns are read from the catalog at startup and each
//! is filled from the event's JSON by name, so a new event type needs a migration and nothing
//! else.
//!
//! Mapping rule: the table of an event is its `schema_title` in snake case, plural
//! (`ProbeEvent` → `probe_events`), unless [`TABLE_NAMES`] names another (`VerdictEvent` →
//! `verdicts`). A column takes the JSON field of the same name; a nested
//! object's fields are joined with `_` (`phases_ms.dns` → `phases_ms_dns`); a column comment
//! `uptimer: from <path>` names another field (`target_id` ← `target`). A column whose field is
//! absent gets NULL. Rows are typed events or JSON documents (`row`); they are converted to the
//! columns' types by `encode`.

use tokio_postgres::Client;

use crate::postgres::PgError;

/// Event types whose table is not named by the rule: a verdict is a row per target and round,
/// not an event log, and the fleet's plan names its table `verdicts`.
pub const TABLE_NAMES: &[(&str, &str)] = &[("VerdictEvent", "verdicts")];

/// `ProbeEvent` → `probe_events`; `VerdictEvent` → `verdicts` ([`TABLE_NAMES`]).
pub fn table_name(schema_title: &str) -> String {
    if let Some((_, name)) = TABLE_NAMES.iter().find(|(t, _)| *t == schema_title) {
        return (*name).to_owned();
    }
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
pub(super) enum Kind {
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
    /// A one-dimensional `text[]` or `varchar[]`: each row's list is sent as one array literal
    /// (`{"eu","us"}`) in a `text[]` parameter and cast by the database, so the batch's
    /// `unnest` stays one-dimensional (a `text[][]` parameter would need every row's list to
    /// have the same length).
    TextArray,
    /// Anything else (numeric, inet, ...): sent as text and cast by the database.
    Cast,
}

#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    /// JSON path of the field it takes.
    pub path: Vec<String>,
    /// The path comes from an `uptimer: from` comment.
    pub(super) explicit: bool,
    pub(super) kind: Kind,
    /// SQL type for the cast (`numeric`, `ip_port`, ...).
    pub(super) sql_type: String,
    pub(super) not_null: bool,
}

impl Column {
    /// A column as the catalog describes it: its base type (a domain's underlying type), its
    /// declared type, NOT NULL, and its comment (`uptimer: from <path>`).
    pub(super) fn from_catalog(
        name: String,
        base: String,
        declared: String,
        not_null: bool,
        comment: String,
    ) -> Column {
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
            "text[]" | "character varying[]" => Kind::TextArray,
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
            not_null,
        }
    }
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
            .map(|r| Column::from_catalog(r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
            .collect();
        let mut table = Table::new(name, columns);
        table.rollups = rollups
            && ["uuid", "event_time"]
                .iter()
                .all(|n| table.columns.iter().any(|c| c.name == *n));
        Ok(Some(table))
    }

    pub(super) fn new(name: &str, columns: Vec<Column>) -> Table {
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
                Kind::Text | Kind::Cast | Kind::TextArray => "text[]",
                Kind::I16 => "int2[]",
                Kind::I32 => "int4[]",
                Kind::I64 => "int8[]",
                Kind::F32 => "float4[]",
                Kind::F64 => "float8[]",
                Kind::Bool => "bool[]",
                Kind::Jsonb => "jsonb[]",
            };
            arrays.push(format!("${n}::{array_type}"));
            select.push(if matches!(c.kind, Kind::Cast | Kind::TextArray) {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_come_from_schema_titles() {
        assert_eq!(table_name("ProbeEvent"), "probe_events");
        assert_eq!(table_name("DummyEvent"), "dummy_events");
        assert_eq!(table_name("TcpProbeEvent"), "tcp_probe_events");
        assert_eq!(table_name("VerdictEvent"), "verdicts");
    }
}
