//! Daily partitions of the partitioned event tables: created ahead of time (by the writer at
//! startup and every hour, and by `uptimer migrate up`) and dropped whole once older than
//! `RETENTION_DAYS`. Partition `<table>_pYYYYMMDD` holds `[day, day + 1)` in UTC.

use time::{Date, Duration as TimeDuration, OffsetDateTime, Time};
use tokio_postgres::Client;
use tokio_postgres::error::SqlState;

use super::PgError;

/// Days created ahead of today (today and yesterday are always there too).
pub const DAYS_AHEAD: i64 = 7;

/// Advisory lock serialising partition changes across writers (`"upart"`).
const LOCK_KEY: i64 = 0x0075_7061_7274;

/// The partitioned tables in the current schema.
pub async fn partitioned_tables(client: &Client) -> Result<Vec<String>, PgError> {
    let rows = client
        .query(
            "SELECT c.relname::text FROM pg_partitioned_table p \
             JOIN pg_class c ON c.oid = p.partrelid \
             WHERE c.relnamespace = current_schema()::regnamespace ORDER BY 1",
            &[],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// The partition of `table` for `day`.
pub fn partition_name(table: &str, day: Date) -> String {
    format!(
        "{table}_p{:04}{:02}{:02}",
        day.year(),
        u8::from(day.month()),
        day.day()
    )
}

fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// Makes sure `table` has a partition for every day from `from` to `to` inclusive. A day already
/// covered by another partition (e.g. the original's table, attached) is skipped; rows of that
/// day sitting in the DEFAULT partition are moved into the new one. Returns the partitions made.
pub async fn ensure(
    client: &mut Client,
    table: &str,
    from: Date,
    to: Date,
) -> Result<Vec<String>, PgError> {
    let mut made = Vec::new();
    let mut day = from;
    while day <= to {
        let name = partition_name(table, day);
        let exists: bool = client
            .query_one("SELECT to_regclass($1) IS NOT NULL", &[&quote(&name)])
            .await?
            .get(0);
        if !exists && create_day(client, table, &name, day).await? {
            made.push(name);
        }
        day = day.next_day().unwrap_or(day);
        if day == Date::MAX {
            break;
        }
    }
    Ok(made)
}

fn bounds(day: Date) -> (OffsetDateTime, OffsetDateTime) {
    let start = day.with_time(Time::MIDNIGHT).assume_utc();
    (start, start + TimeDuration::DAY)
}

async fn create_day(
    client: &mut Client,
    table: &str,
    name: &str,
    day: Date,
) -> Result<bool, PgError> {
    let (start, end) = bounds(day);
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])
        .await?;
    let exists: bool = tx
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&quote(name)])
        .await?
        .get(0);
    if exists {
        return Ok(false);
    }
    // Literals, not parameters: DDL takes none. The times are our own formatting.
    let lit = |t: OffsetDateTime| format!("'{}'", crate::event::format_time(t));
    let default = default_partition(&tx, table).await?;
    // Rows of that day already in the DEFAULT partition would make a plain
    // CREATE ... PARTITION OF fail; move them into the new table before attaching it.
    let stranded: bool = match &default {
        Some(d) => tx
            .query_one(
                &format!(
                    "SELECT EXISTS (SELECT 1 FROM {} WHERE event_time >= $1 AND event_time < $2)",
                    quote(d)
                ),
                &[&start, &end],
            )
            .await?
            .get(0),
        None => false,
    };
    let sql = if let (true, Some(d)) = (stranded, &default) {
        format!(
            "CREATE TABLE {p} (LIKE {t} INCLUDING DEFAULTS INCLUDING CONSTRAINTS); \
             WITH moved AS (DELETE FROM {d} WHERE event_time >= {s} AND event_time < {e} RETURNING *) \
             INSERT INTO {p} SELECT * FROM moved; \
             ALTER TABLE {t} ATTACH PARTITION {p} FOR VALUES FROM ({s}) TO ({e})",
            p = quote(name),
            t = quote(table),
            d = quote(d),
            s = lit(start),
            e = lit(end)
        )
    } else {
        format!(
            "CREATE TABLE {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})",
            quote(name),
            quote(table),
            lit(start),
            lit(end)
        )
    };
    match tx.batch_execute(&sql).await {
        Ok(()) => {
            tx.commit().await?;
            tracing::debug!(partition = name, "created");
            Ok(true)
        }
        // Another partition (the original's table, attached) already covers that day.
        Err(e) if e.code() == Some(&SqlState::INVALID_OBJECT_DEFINITION) => Ok(false),
        Err(e) if e.code() == Some(&SqlState::DUPLICATE_TABLE) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

async fn default_partition(
    client: &impl tokio_postgres::GenericClient,
    table: &str,
) -> Result<Option<String>, PgError> {
    let row = client
        .query_opt(
            "SELECT c.relname::text FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partdefid \
             WHERE p.partrelid = to_regclass($1)",
            &[&quote(table)],
        )
        .await?;
    Ok(row.map(|r| r.get(0)))
}

/// Drops the partitions of `table` whose whole range ends at or before `cutoff` (never the
/// DEFAULT partition). Returns the partitions dropped.
pub async fn drop_before(
    client: &mut Client,
    table: &str,
    cutoff: OffsetDateTime,
) -> Result<Vec<String>, PgError> {
    let rows = client
        .query(
            r#"SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
               WHERE i.inhparent = to_regclass($1)
                 AND (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::timestamptz <= $2
               ORDER BY 1"#,
            &[&quote(table), &cutoff],
        )
        .await?;
    let mut dropped = Vec::new();
    for r in rows {
        let name: String = r.get(0);
        client
            .batch_execute(&format!("DROP TABLE IF EXISTS {}", quote(&name)))
            .await?;
        tracing::info!(partition = %name, "dropped expired partition");
        dropped.push(name);
    }
    Ok(dropped)
}

/// What `uptimer migrate up` and the writer do: partitions from yesterday to `DAYS_AHEAD` days
/// ahead for every partitioned table, then retention.
pub async fn maintain(
    client: &mut Client,
    retention_days: Option<u32>,
) -> Result<(Vec<String>, Vec<String>), PgError> {
    let today = OffsetDateTime::now_utc().date();
    let from = today.previous_day().unwrap_or(today);
    let to = today + TimeDuration::days(DAYS_AHEAD);
    let mut made = Vec::new();
    let mut dropped = Vec::new();
    for table in partitioned_tables(client).await? {
        made.extend(ensure(client, &table, from, to).await?);
        if let Some(days) = retention_days {
            let cutoff = OffsetDateTime::now_utc() - TimeDuration::days(i64::from(days));
            dropped.extend(drop_before(client, &table, cutoff).await?);
        }
    }
    Ok((made, dropped))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn partitions_are_named_by_utc_day() {
        assert_eq!(
            partition_name("probe_events", date!(2026 - 01 - 05)),
            "probe_events_p20260105"
        );
        let (s, e) = bounds(date!(2026 - 12 - 31));
        assert_eq!(
            crate::event::format_time(s),
            "2026-12-31T00:00:00.000000+00:00"
        );
        assert_eq!(
            crate::event::format_time(e),
            "2027-01-01T00:00:00.000000+00:00"
        );
    }
}
