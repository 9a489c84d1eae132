//! What a store file holds, for `uptimer store stats`, `store compact` and the size cap: the
//! bytes in use (what the cap compares, never the file's size, which deletes do not shrink),
//! the bytes of each table and index (SQLite's `dbstat`) grouped into levels, and bytes per raw
//! event and per target-day. [`level`] and [`COUNTS`] are the part that follows the schema.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};
use serde::Serialize;

use super::schema;
use crate::store::DAY;

/// What a table holds, as the size goals count it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Raw events, every index included.
    Raw,
    /// Rollups per target and minute, hour or day.
    Rollups,
    /// Targets, their live state and incidents.
    Targets,
    /// SQLite's own schema table and anything not named below.
    Other,
}

impl Level {
    pub const ALL: [Level; 4] = [Level::Raw, Level::Rollups, Level::Targets, Level::Other];

    /// For people.
    pub fn label(self) -> &'static str {
        match self {
            Level::Raw => "raw events",
            Level::Rollups => "rollups",
            Level::Targets => "targets, state, incidents",
            Level::Other => "other",
        }
    }
}

/// The level a table belongs to; its indexes go with it. Follows the schema (schema.rs): a new
/// table is "other" until it is named here.
pub fn level(table: &str) -> Level {
    match table {
        // The strings are what raw events refer to (error texts, target descriptors).
        "events_open" | "event_blocks" | "strings" => Level::Raw,
        "rollup_hour" | "rollup_day" => Level::Rollups,
        // Alerting's rule counters, outbox and silences go with the incidents they notify of,
        // and so do the incidents people write on status pages.
        "targets" | "incidents" | "alert_rules" | "notifications" | "incident_acks"
        | "silences" | "status_incidents" => Level::Targets,
        _ => Level::Other,
    }
}

/// How the sizes' divisors are counted; follows the schema, like [`level`].
pub struct Counts {
    /// Raw events stored (open rows, and the events of each packed block).
    pub raw_events: &'static str,
    /// Targets known, removed ones included.
    pub targets: &'static str,
    /// Target-days with history (one day rollup each) and the first and last day's start (µs).
    pub target_days: &'static str,
}

pub const COUNTS: Counts = Counts {
    raw_events: "SELECT (SELECT count(*) FROM events_open)
        + (SELECT coalesce(sum(events), 0) FROM event_blocks)",
    targets: "SELECT count(*) FROM targets",
    target_days: "SELECT count(*), min(day), max(day) FROM rollup_day",
};

/// The store file's `-wal` or `-shm` companion.
pub fn companion(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The size of `path`, 0 when it does not exist.
pub fn file_bytes(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// The bytes the store uses: its pages in use (`(page_count − freelist_count) × page_size`, as
/// of the newest commit, WAL included) plus the `-wal` file. Free pages are reused before the
/// file grows, so this, not the file's size, is what deletes bring down.
pub fn used_bytes(conn: &Connection) -> rusqlite::Result<u64> {
    let pragma = |name: &str| -> rusqlite::Result<u64> {
        conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get::<_, i64>(0))
            .map(|n| n.max(0) as u64)
    };
    let pages = pragma("page_count")?.saturating_sub(pragma("freelist_count")?);
    let wal = match conn.path() {
        Some(p) if !p.is_empty() => file_bytes(&companion(Path::new(p), "-wal")),
        _ => 0,
    };
    Ok(pages * pragma("page_size")? + wal)
}

/// A store file that `stats` or `compact` will not read.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("{}: no such store file", .path.display())]
    Missing { path: PathBuf },
    #[error("{}: not an uptimer store ({reason})", .path.display())]
    NotAStore { path: PathBuf, reason: String },
    #[error(
        "{}: written by an older uptimer (schema version {found}; this one uses {current}); \
         open it once with `uptimer serve` or writers.sqlite of this version to upgrade it",
        .path.display()
    )]
    Older {
        path: PathBuf,
        found: i64,
        current: i64,
    },
    #[error(
        "{}: written by a newer uptimer (schema version {found}; this one knows up to {current}); \
         use that uptimer or a newer one",
        .path.display()
    )]
    Newer {
        path: PathBuf,
        found: i64,
        current: i64,
    },
    #[error("{}: {source}", .path.display())]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("this uptimer's own schema: {0}")]
    Schema(#[from] schema::SchemaError),
}

impl OpenError {
    pub fn sqlite(path: &Path) -> impl Fn(rusqlite::Error) -> OpenError + '_ {
        move |source| OpenError::Sqlite {
            path: path.to_owned(),
            source,
        }
    }
}

/// Fails unless the store at `path` is of this uptimer's schema version; returns it.
pub fn check_version(conn: &Connection, path: &Path) -> Result<i64, OpenError> {
    let found: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| OpenError::NotAStore {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
    let current = schema::VERSION;
    let path = path.to_owned();
    match found {
        0 => Err(OpenError::NotAStore {
            path,
            reason: "no schema version".into(),
        }),
        f if f < current => Err(OpenError::Older {
            path,
            found,
            current,
        }),
        f if f > current => Err(OpenError::Newer {
            path,
            found,
            current,
        }),
        f => Ok(f),
    }
}

/// Opens the store read-only, without creating or migrating anything, and checks it is of
/// this uptimer's schema version.
pub fn open_read_only(path: &Path) -> Result<(Connection, i64), OpenError> {
    if !path.is_file() {
        return Err(OpenError::Missing {
            path: path.to_owned(),
        });
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(OpenError::sqlite(path))?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(OpenError::sqlite(path))?;
    let version = check_version(&conn, path)?;
    Ok((conn, version))
}

/// One table or index and the bytes of its pages.
#[derive(Debug, Clone, Serialize)]
pub struct Object {
    pub name: String,
    /// The table it belongs to (itself for a table).
    pub table: String,
    /// `table` or `index`.
    pub kind: String,
    pub bytes: u64,
}

/// One level's bytes and what they are made of, largest first.
#[derive(Debug, Clone, Serialize)]
pub struct LevelBytes {
    pub level: Level,
    pub label: &'static str,
    pub bytes: u64,
    pub objects: Vec<Object>,
}

/// What `uptimer store stats` prints (`--json`: this object).
#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    pub file: String,
    pub schema_version: i64,
    pub file_bytes: u64,
    pub wal_bytes: u64,
    pub shm_bytes: u64,
    /// `file_bytes + wal_bytes + shm_bytes`: what `du -cb` says.
    pub total_bytes: u64,
    pub page_size: u64,
    pub page_count: u64,
    pub free_pages: u64,
    /// See [`used_bytes`].
    pub used_bytes: u64,
    pub levels: Vec<LevelBytes>,
    pub raw_events: u64,
    pub targets: u64,
    pub target_days: u64,
    /// Days from the first day with history to the last, both included.
    pub days_covered: u64,
    /// Raw level bytes ÷ raw events; `None` without events.
    pub bytes_per_raw_event: Option<f64>,
    /// Rollup level bytes ÷ target-days; `None` without any.
    pub rollup_bytes_per_target_day: Option<f64>,
}

impl Stats {
    /// The bytes of `level`.
    pub fn level_bytes(&self, level: Level) -> u64 {
        self.levels
            .iter()
            .find(|l| l.level == level)
            .map_or(0, |l| l.bytes)
    }
}

/// Measures the store `conn` has open (at `path`, of schema `version`).
pub fn collect(conn: &Connection, path: &Path, version: i64) -> rusqlite::Result<Stats> {
    let pragma = |name: &str| -> rusqlite::Result<u64> {
        conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get::<_, i64>(0))
            .map(|n| n.max(0) as u64)
    };
    let count = |sql: &str| -> rusqlite::Result<u64> {
        conn.query_row(sql, [], |r| r.get::<_, i64>(0))
            .map(|n| n.max(0) as u64)
    };
    // Everything in one read transaction, so the sizes and the counts agree.
    conn.execute_batch("BEGIN")?;
    let objects = objects(conn);
    let counted = (|| {
        let raw_events = count(COUNTS.raw_events)?;
        let targets = count(COUNTS.targets)?;
        let (target_days, first, last) = conn.query_row(COUNTS.target_days, [], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Option<i64>>(1)?,
                r.get::<_, Option<i64>>(2)?,
            ))
        })?;
        let days = match (first, last) {
            (Some(f), Some(l)) => ((l - f).max(0) / DAY + 1) as u64,
            _ => 0,
        };
        Ok::<_, rusqlite::Error>((raw_events, targets, target_days.max(0) as u64, days))
    })();
    let (page_size, page_count, free_pages) = (
        pragma("page_size")?,
        pragma("page_count")?,
        pragma("freelist_count")?,
    );
    let used = used_bytes(conn)?;
    conn.execute_batch("COMMIT")?;
    let (objects, (raw_events, targets, target_days, days_covered)) = (objects?, counted?);

    let levels: Vec<LevelBytes> = Level::ALL
        .iter()
        .map(|&level| {
            let mut objects: Vec<Object> = objects
                .iter()
                .filter(|o| self::level(&o.table) == level)
                .cloned()
                .collect();
            objects.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.name.cmp(&b.name)));
            LevelBytes {
                level,
                label: level.label(),
                bytes: objects.iter().map(|o| o.bytes).sum(),
                objects,
            }
        })
        .collect();
    let per = |bytes: u64, n: u64| (n > 0).then(|| bytes as f64 / n as f64);
    let level_bytes = |l: Level| levels.iter().find(|x| x.level == l).map_or(0, |x| x.bytes);
    let (file, wal, shm) = (
        file_bytes(path),
        file_bytes(&companion(path, "-wal")),
        file_bytes(&companion(path, "-shm")),
    );
    Ok(Stats {
        file: path.display().to_string(),
        schema_version: version,
        file_bytes: file,
        wal_bytes: wal,
        shm_bytes: shm,
        total_bytes: file + wal + shm,
        page_size,
        page_count,
        free_pages,
        used_bytes: used,
        bytes_per_raw_event: per(level_bytes(Level::Raw), raw_events),
        rollup_bytes_per_target_day: per(level_bytes(Level::Rollups), target_days),
        levels,
        raw_events,
        targets,
        target_days,
        days_covered,
    })
}

/// Every table and index with the bytes of its pages (`dbstat`, which the bundled SQLite is
/// built with: SQLITE_ENABLE_DBSTAT_VTAB). SQLite's own schema table is `sqlite_schema`.
fn objects(conn: &Connection) -> rusqlite::Result<Vec<Object>> {
    let mut stmt = conn.prepare(
        "SELECT d.name, coalesce(m.tbl_name, d.name), coalesce(m.type, 'table'), sum(d.pgsize)
         FROM dbstat AS d LEFT JOIN sqlite_schema AS m ON m.name = d.name
         GROUP BY d.name",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(Object {
            name: r.get(0)?,
            table: r.get(1)?,
            kind: r.get(2)?,
            bytes: r.get::<_, i64>(3)?.max(0) as u64,
        })
    })?;
    rows.collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StoreSettings;
    use crate::store::SqliteStore;

    fn store(dir: &Path) -> (SqliteStore, PathBuf) {
        let path = dir.join("s.sqlite3");
        let s = SqliteStore::open(&StoreSettings::with_path(path.clone())).unwrap();
        (s, path)
    }

    #[test]
    fn used_bytes_counts_pages_in_use_and_the_wal_not_free_pages() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("u.sqlite3");
        let c = Connection::open(&path).unwrap();
        c.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0;
             CREATE TABLE t (x BLOB);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200)
             INSERT INTO t SELECT randomblob(4000) FROM n;",
        )
        .unwrap();
        let page = 4096u64;
        let pages = |c: &Connection| -> (u64, u64) {
            let p = |n: &str| c.query_row(&format!("PRAGMA {n}"), [], |r| r.get::<_, i64>(0));
            (
                p("page_count").unwrap() as u64,
                p("freelist_count").unwrap() as u64,
            )
        };
        let wal = || file_bytes(&companion(&path, "-wal"));
        let (count, free) = pages(&c);
        assert!(wal() > 200 * 4000, "the rows are in the WAL: {}", wal());
        assert_eq!(used_bytes(&c).unwrap(), (count - free) * page + wal());

        // Deleting frees pages: the file does not shrink, the used bytes do.
        c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE); DELETE FROM t;")
            .unwrap();
        c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)").unwrap();
        let (count2, free2) = pages(&c);
        assert_eq!(count2, count);
        assert!(free2 > 150, "{free2}");
        assert_eq!(wal(), 0);
        assert_eq!(used_bytes(&c).unwrap(), (count2 - free2) * page);
        assert!(used_bytes(&c).unwrap() < file_bytes(&path) / 10);
    }

    #[test]
    fn the_bundled_sqlite_has_dbstat_and_every_table_of_the_schema_has_a_level() {
        let dir = tempfile::tempdir().unwrap();
        let (_s, path) = store(dir.path());
        let c = Connection::open(&path).unwrap();
        let objects = objects(&c).unwrap();
        assert!(
            objects.iter().any(|o| o.name == "event_blocks"),
            "{objects:?}"
        );
        // A table the schema adds without naming its level here would be counted as "other".
        for o in &objects {
            if o.table != "sqlite_schema" {
                assert_ne!(level(&o.table), Level::Other, "{} has no level", o.table);
            }
        }
    }

    #[test]
    fn stats_group_tables_and_indexes_into_levels_and_divide_by_events_and_target_days() {
        let dir = tempfile::tempdir().unwrap();
        let (s, path) = store(dir.path());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(s.generate(super::super::generate::Spec {
            targets: 3,
            days: 4,
            raw_days: 1,
            interval_s: 600,
        }))
        .unwrap();
        let (c, version) = open_read_only(&path).unwrap();
        let st = collect(&c, &path, version).unwrap();
        assert_eq!(version, schema::VERSION);
        assert_eq!(st.targets, 3);
        let events: u64 = c
            .query_row(COUNTS.raw_events, [], |r| r.get::<_, i64>(0))
            .unwrap() as u64;
        assert!(events > 0);
        assert_eq!(st.raw_events, events);
        assert!((4..=5).contains(&st.days_covered), "{}", st.days_covered);
        assert!(st.target_days >= 12, "{}", st.target_days);
        let raw = st.levels.iter().find(|l| l.level == Level::Raw).unwrap();
        // The tables and their indexes.
        assert!(raw.objects.len() >= 3, "{:?}", raw.objects);
        assert!(
            raw.objects
                .iter()
                .all(|o| ["events_open", "event_blocks", "strings"].contains(&o.table.as_str())),
            "{:?}",
            raw.objects
        );
        assert!(raw.objects.iter().any(|o| o.kind == "index"));
        assert_eq!(
            st.bytes_per_raw_event,
            Some(st.level_bytes(Level::Raw) as f64 / events as f64)
        );
        assert_eq!(
            st.rollup_bytes_per_target_day,
            Some(st.level_bytes(Level::Rollups) as f64 / st.target_days as f64)
        );
        // Every page in use is some object's, but for auto-vacuum's pointer maps (one page per
        // few hundred).
        let in_levels: u64 = st.levels.iter().map(|l| l.bytes).sum();
        let used = (st.page_count - st.free_pages) * st.page_size;
        assert!(in_levels <= used, "{in_levels} > {used}");
        assert!(
            used - in_levels <= (1 + st.page_count / 200) * st.page_size,
            "{in_levels} of {used}"
        );
        assert_eq!(st.total_bytes, st.file_bytes + st.wal_bytes + st.shm_bytes);
    }

    #[test]
    fn a_store_of_another_schema_version_is_refused_read_only_and_left_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.sqlite3");
        let c = Connection::open(&path).unwrap();
        schema::migrate_to(&c, 1).unwrap();
        drop(c);
        let e = open_read_only(&path).unwrap_err();
        assert!(matches!(e, OpenError::Older { found: 1, .. }), "{e}");
        assert!(
            e.to_string().contains("older uptimer (schema version 1"),
            "{e}"
        );
        let c = Connection::open(&path).unwrap();
        let v: i64 = c
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, 1, "never migrated");

        c.execute_batch("PRAGMA user_version = 999").unwrap();
        let e = open_read_only(&path).unwrap_err();
        assert!(matches!(e, OpenError::Newer { found: 999, .. }), "{e}");

        let missing = dir.path().join("none.sqlite3");
        assert!(matches!(
            open_read_only(&missing).unwrap_err(),
            OpenError::Missing { .. }
        ));
        assert!(!missing.exists(), "never created");
        let junk = dir.path().join("junk.sqlite3");
        std::fs::write(&junk, "not a database at all, not even close ........").unwrap();
        let e = open_read_only(&junk).unwrap_err();
        assert!(matches!(e, OpenError::NotAStore { .. }), "{e}");
    }
}
