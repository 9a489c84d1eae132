//! The SQLite schema. Version 4 (the compact store, [`V4`]) keeps raw events packed: one zstd
//! block per target and closed hour (`event_blocks`), the open hours as one row per event
//! (`events_open`), repeated strings once (`strings`), hour rollups packed per target and day
//! (`rollup_day.hours`) with the hours not yet packed in `rollup_hour`; targets, their live
//! state and incidents as before. Times are integer microseconds since the Unix epoch (UTC);
//! booleans are 0/1.
//!
//! Versions 1 to 3 kept one row per raw event (`probe_events`) and minute rollups. A file of
//! version 1 or 2 is first brought to 3 in place (columns only); a file of version 3 is then
//! rewritten into a new file of version 4 ([`super::upgrade`]).

use rusqlite::Connection;

/// This uptimer's schema version.
pub const VERSION: i64 = 4;

/// The last version that kept one row per raw event: upgraded by rewriting the file.
pub const ROW_PER_EVENT: i64 = 3;

/// Version 1: targets and events, then [`V1_ROLLUPS`] and [`V1_INCIDENTS`] ([`v1`]).
const V1_TARGETS: &str = r#"
CREATE TABLE targets (
    id TEXT PRIMARY KEY,
    url TEXT,
    name TEXT,
    protocol TEXT,
    hostname TEXT,
    port INTEGER,
    path TEXT,
    tags TEXT NOT NULL DEFAULT '[]',
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    -- seconds between checks, when known from the configuration
    interval_s INTEGER,
    -- live state, maintained by the writer from the newest event of each target
    last_event_time INTEGER,
    last_up INTEGER,
    last_status_code INTEGER,
    last_response_ms INTEGER,
    last_error_kind TEXT,
    last_error TEXT,
    recent TEXT NOT NULL DEFAULT '',
    status TEXT,
    cert_not_after INTEGER,
    open_incident INTEGER
);

CREATE TABLE probe_events (
    uuid TEXT NOT NULL PRIMARY KEY,
    event_time INTEGER NOT NULL,
    schema_title TEXT NOT NULL,
    schema_version TEXT NOT NULL,
    protocol TEXT,
    hostname TEXT NOT NULL,
    port INTEGER NOT NULL,
    path TEXT,
    status_code INTEGER NOT NULL,
    response_time_ms INTEGER NOT NULL,
    error TEXT,
    regex TEXT,
    matches_regex INTEGER,
    target_id TEXT,
    url TEXT,
    location TEXT,
    up INTEGER,
    error_kind TEXT,
    phases_ms_dns REAL,
    phases_ms_connect REAL,
    phases_ms_tls REAL,
    phases_ms_ttfb REAL,
    phases_ms_transfer REAL,
    ip TEXT,
    http_version TEXT,
    body_bytes INTEGER,
    redirects INTEGER,
    tls_cert_not_after INTEGER
);
CREATE INDEX probe_events_target_time ON probe_events (target_id, event_time DESC);
CREATE INDEX probe_events_time ON probe_events (event_time);
"#;

/// Version 1's rollup tables, per target per minute, hour and UTC day (the day rows are what 7-
/// and 30-day uptime read: 30 rows a target, not 720).
const V1_ROLLUPS: [&str; 3] = ["rollup_minute", "rollup_hour", "rollup_day"];

/// Version 1's incidents.
const V1_INCIDENTS: &str = r#"
-- From the first failed check after a passing one to the next passing check.
CREATE TABLE incidents (
    id INTEGER PRIMARY KEY,
    target_id TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    ended_at INTEGER,
    error_kind TEXT,
    error TEXT,
    failed_checks INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX incidents_started ON incidents (started_at DESC);
CREATE INDEX incidents_target ON incidents (target_id, started_at DESC);
"#;

/// Version 1 as one batch.
fn v1() -> String {
    let rollups: String = V1_ROLLUPS.iter().map(|t| rollup_table(t)).collect();
    format!("{V1_TARGETS}{rollups}{V1_INCIDENTS}")
}

/// One rollup table (bucket = start, microseconds). Sums, not averages, so rows merge by
/// addition; hist is a sparse log-bucket latency histogram (store::hist).
fn rollup_table(name: &str) -> String {
    format!(
        r#"
CREATE TABLE {name} (
    target_id TEXT NOT NULL,
    bucket INTEGER NOT NULL,
    checks INTEGER NOT NULL,
    up INTEGER NOT NULL,
    sum_ms REAL NOT NULL,
    min_ms REAL NOT NULL,
    max_ms REAL NOT NULL,
    sum_dns_ms REAL NOT NULL,
    sum_connect_ms REAL NOT NULL,
    sum_tls_ms REAL NOT NULL,
    sum_ttfb_ms REAL NOT NULL,
    sum_transfer_ms REAL NOT NULL,
    hist BLOB NOT NULL,
    PRIMARY KEY (target_id, bucket)
) WITHOUT ROWID;
CREATE INDEX {name}_bucket ON {name} (bucket);
"#
    )
}

/// Version 2 (issue 9): response times of successful checks only (`timed`: how many checks a
/// rollup row's times cover; NULL on older rows, which covered all of them: readers take
/// `coalesce(timed, checks)`), targets that left the configuration (`removed_at`, micros), and
/// why an incident ended when no passing check ended it (`end_reason`). `interval_s` needs no
/// change: SQLite keeps a fractional value in an INTEGER column as a REAL. Only columns are
/// added, so no table is rewritten.
const V2: &str = r#"
ALTER TABLE rollup_minute ADD COLUMN timed INTEGER;
ALTER TABLE rollup_hour ADD COLUMN timed INTEGER;
ALTER TABLE rollup_day ADD COLUMN timed INTEGER;
ALTER TABLE targets ADD COLUMN removed_at INTEGER;
ALTER TABLE incidents ADD COLUMN end_reason TEXT;
"#;

/// The store file's schema cannot be brought up to date.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// A newer uptimer wrote the file.
    #[error(
        "its schema version {found} is newer than this uptimer knows ({VERSION}); upgrade uptimer"
    )]
    Newer { found: i64 },
    /// An upgrade step failed; the transaction was rolled back.
    #[error("upgrading its schema from version {from}: {source}")]
    Upgrade {
        from: i64,
        #[source]
        source: rusqlite::Error,
    },
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}

/// Version 3 (issue 10): one target-state machine for both stores. The state "degraded" (one of
/// the last 10 checks failed) is called "flapping" now, stored rows included; the last applied
/// event's uuid is kept with its time (`last_event_uuid`), so the machine tells a duplicate or
/// an older event from a new one of the same time.
const V3: &str = r#"
ALTER TABLE targets ADD COLUMN last_event_uuid TEXT;
UPDATE targets SET status = 'flapping' WHERE status = 'degraded';
"#;

/// Each version's step up to [`ROW_PER_EVENT`], in order: step `n` brings version `n` to
/// `n + 1`.
fn steps() -> [String; ROW_PER_EVENT as usize] {
    [v1(), V2.to_owned(), V3.to_owned()]
}

/// Version 4, the compact store, as a new file gets it (module doc). `strings` holds each
/// distinct repeated string (error texts, descriptors of a target) once; `events_open` a raw
/// event per row (its `event` in the packed codec's single-event form) until the pack job
/// moves its hour into `event_blocks`; `rollup_hour` an hour's sums until they are packed into
/// `rollup_day.hours`, whose `checks` and `up` are kept live for the 7- and 30-day uptime.
/// Targets get an explicit `key` (VACUUM keeps it), which the packed tables reference.
pub const V4: &str = r#"
CREATE TABLE targets (
    key INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    url TEXT,
    name TEXT,
    protocol TEXT,
    hostname TEXT,
    port INTEGER,
    path TEXT,
    tags TEXT NOT NULL DEFAULT '[]',
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    interval_s INTEGER,
    last_event_time INTEGER,
    last_up INTEGER,
    last_status_code INTEGER,
    last_response_ms INTEGER,
    last_error_kind TEXT,
    last_error TEXT,
    recent TEXT NOT NULL DEFAULT '',
    status TEXT,
    cert_not_after INTEGER,
    open_incident INTEGER,
    removed_at INTEGER,
    last_event_uuid TEXT
);

CREATE TABLE incidents (
    id INTEGER PRIMARY KEY,
    target_id TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    ended_at INTEGER,
    error_kind TEXT,
    error TEXT,
    failed_checks INTEGER NOT NULL DEFAULT 1,
    end_reason TEXT
);
CREATE INDEX incidents_started ON incidents (started_at DESC);
CREATE INDEX incidents_target ON incidents (target_id, started_at DESC);

CREATE TABLE strings (
    id INTEGER PRIMARY KEY,
    value TEXT NOT NULL UNIQUE
);

CREATE TABLE events_open (
    target INTEGER NOT NULL,
    time INTEGER NOT NULL,
    uuid BLOB NOT NULL,
    event BLOB NOT NULL,
    PRIMARY KEY (target, time, uuid)
) WITHOUT ROWID;

CREATE TABLE event_blocks (
    id INTEGER PRIMARY KEY,
    target INTEGER NOT NULL,
    hour INTEGER NOT NULL,
    events INTEGER NOT NULL,
    data BLOB NOT NULL
);
CREATE UNIQUE INDEX event_blocks_target_hour ON event_blocks (target, hour);
CREATE INDEX event_blocks_hour ON event_blocks (hour);

CREATE TABLE rollup_hour (
    target INTEGER NOT NULL,
    bucket INTEGER NOT NULL,
    checks INTEGER NOT NULL,
    up INTEGER NOT NULL,
    timed INTEGER NOT NULL,
    sum_ms REAL NOT NULL,
    min_ms REAL NOT NULL,
    max_ms REAL NOT NULL,
    sum_dns_ms REAL NOT NULL,
    sum_connect_ms REAL NOT NULL,
    sum_tls_ms REAL NOT NULL,
    sum_ttfb_ms REAL NOT NULL,
    sum_transfer_ms REAL NOT NULL,
    hist BLOB NOT NULL,
    PRIMARY KEY (target, bucket)
) WITHOUT ROWID;

CREATE TABLE rollup_day (
    id INTEGER PRIMARY KEY,
    target INTEGER NOT NULL,
    day INTEGER NOT NULL,
    checks INTEGER NOT NULL,
    up INTEGER NOT NULL,
    hours BLOB
);
CREATE UNIQUE INDEX rollup_day_target_day ON rollup_day (target, day);
CREATE INDEX rollup_day_day ON rollup_day (day);
-- The 7- and 30-day uptime of the overview's targets from this index alone: a target's days
-- lie together here, while the rows (with their packed hours) lie a page apart each.
CREATE INDEX rollup_day_sums ON rollup_day (target, day, checks, up);
"#;

/// What [`migrate`] found and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Migrated {
    /// The file is of this uptimer's version (now).
    Current,
    /// The file keeps one row per raw event (version 3, maybe just upgraded from 1 or 2): it
    /// must be rewritten ([`super::upgrade`]).
    RowPerEvent,
}

/// Creates the schema in a new file, or brings an older one as far as it goes in place.
pub fn migrate(conn: &Connection) -> Result<Migrated, SchemaError> {
    let found = user_version(conn)?;
    if found > VERSION {
        return Err(SchemaError::Newer { found });
    }
    if found == VERSION {
        return Ok(Migrated::Current);
    }
    if found == 0 && !has_tables(conn)? {
        create(conn)?;
        return Ok(Migrated::Current);
    }
    migrate_to(conn, ROW_PER_EVENT)?;
    Ok(Migrated::RowPerEvent)
}

fn has_tables(conn: &Connection) -> Result<bool, rusqlite::Error> {
    conn.query_row(
        "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table'",
        [],
        |r| r.get(0),
    )
}

/// Makes a new file of version 4: incremental auto-vacuum first (it must precede the first
/// table), then [`V4`], under the write lock; a second process finding it done does nothing.
pub fn create(conn: &Connection) -> Result<(), SchemaError> {
    conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL")?;
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let made = (|| -> Result<(), rusqlite::Error> {
        if user_version(conn)? == VERSION {
            return Ok(());
        }
        conn.execute_batch(V4)?;
        conn.execute_batch(&format!("PRAGMA user_version = {VERSION}"))
    })();
    match made {
        Ok(()) => Ok(conn.execute_batch("COMMIT")?),
        Err(source) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(SchemaError::Upgrade { from: 0, source })
        }
    }
}

/// Brings a file of the row-per-event schema (or a new one) step by step up to `version` (at
/// most [`ROW_PER_EVENT`]: older versions make a file as an older uptimer wrote it, for upgrade
/// tests), in one transaction that takes the write lock first (`BEGIN IMMEDIATE`) and reads the
/// version under it: two processes opening an older file at once upgrade it once, the second
/// finding it done.
pub fn migrate_to(conn: &Connection, version: i64) -> Result<(), SchemaError> {
    let version = version.clamp(0, ROW_PER_EVENT);
    let found = user_version(conn)?;
    if found > VERSION {
        return Err(SchemaError::Newer { found });
    }
    if found >= version {
        return Ok(());
    }
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let upgrade = || -> Result<i64, rusqlite::Error> {
        let from = user_version(conn)?;
        if from >= version {
            return Ok(from);
        }
        // `version` is at most the number of steps; a negative `from` is a new file.
        let (done, wanted) = (from.max(0) as usize, version as usize);
        for sql in &steps()[done..wanted] {
            conn.execute_batch(sql)?;
        }
        conn.execute_batch(&format!("PRAGMA user_version = {version}"))?;
        Ok(from)
    };
    match upgrade() {
        Ok(from) => {
            conn.execute_batch("COMMIT")?;
            if from > 0 && from < version {
                tracing::info!(from, to = version, "store schema upgraded");
            }
            Ok(())
        }
        Err(source) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(SchemaError::Upgrade {
                from: found,
                source,
            })
        }
    }
}

pub fn user_version(conn: &Connection) -> Result<i64, rusqlite::Error> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `serve --store` and a writer restarted together on a file of the previous version.
    #[test]
    fn two_processes_upgrading_one_file_at_once_both_open_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.sqlite3");
        let c = Connection::open(&path).unwrap();
        migrate_to(&c, 1).unwrap();
        assert_eq!(user_version(&c), Ok(1));
        assert!(
            c.execute_batch("SELECT timed FROM rollup_hour").is_err(),
            "version 2's column is not there yet"
        );
        drop(c);
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(4));
        let opened: Vec<_> = (0..4)
            .map(|_| {
                let (path, barrier) = (path.clone(), barrier.clone());
                std::thread::spawn(move || {
                    let c = Connection::open(&path).unwrap();
                    c.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
                    barrier.wait();
                    migrate_to(&c, ROW_PER_EVENT)
                })
            })
            .collect();
        for t in opened {
            t.join().unwrap().unwrap();
        }
        let c = Connection::open(&path).unwrap();
        assert_eq!(user_version(&c), Ok(ROW_PER_EVENT));
        c.execute_batch("SELECT timed FROM rollup_hour; SELECT removed_at FROM targets;")
            .unwrap();
    }

    #[test]
    fn upgrading_to_3_renames_degraded_to_flapping() {
        let c = Connection::open_in_memory().unwrap();
        migrate_to(&c, 2).unwrap();
        c.execute_batch(
            "INSERT INTO targets (id, first_seen, last_seen, status) VALUES
               ('a', 0, 0, 'degraded'), ('b', 0, 0, 'down'), ('c', 0, 0, NULL)",
        )
        .unwrap();
        assert_eq!(migrate(&c).unwrap(), Migrated::RowPerEvent);
        let statuses: Vec<Option<String>> = c
            .prepare("SELECT status FROM targets ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            statuses,
            [Some("flapping".into()), Some("down".into()), None]
        );
        c.execute_batch("SELECT last_event_uuid FROM targets")
            .unwrap();
    }

    #[test]
    fn a_new_file_gets_version_4_with_incremental_vacuum() {
        let dir = tempfile::tempdir().unwrap();
        let c = Connection::open(dir.path().join("new.sqlite3")).unwrap();
        assert_eq!(migrate(&c).unwrap(), Migrated::Current);
        assert_eq!(user_version(&c), Ok(VERSION));
        let vacuum: i64 = c.query_row("PRAGMA auto_vacuum", [], |r| r.get(0)).unwrap();
        assert_eq!(vacuum, 2, "incremental");
        c.execute_batch(
            "SELECT key, last_event_uuid FROM targets; SELECT end_reason FROM incidents;
             SELECT hours FROM rollup_day; SELECT data FROM event_blocks;",
        )
        .unwrap();
        assert_eq!(migrate(&c).unwrap(), Migrated::Current, "a second open");
    }

    #[test]
    fn the_row_per_event_steps_still_make_every_older_version() {
        let c = Connection::open_in_memory().unwrap();
        migrate_to(&c, ROW_PER_EVENT).unwrap();
        assert_eq!(user_version(&c), Ok(ROW_PER_EVENT));
        c.execute_batch("SELECT end_reason FROM incidents").unwrap();
        for table in V1_ROLLUPS {
            c.execute_batch(&format!("SELECT timed, hist FROM {table}"))
                .unwrap();
            let index: String = c
                .query_row(
                    "SELECT tbl_name FROM sqlite_master WHERE type = 'index' AND name = ?1",
                    [format!("{table}_bucket")],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(index, table);
        }
    }

    #[test]
    fn a_file_from_a_newer_uptimer_is_refused_with_both_versions() {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch(&format!("PRAGMA user_version = {}", VERSION + 1))
            .unwrap();
        let e = migrate(&c).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "its schema version {} is newer than this uptimer knows ({VERSION}); upgrade uptimer",
                VERSION + 1
            )
        );
    }

    #[test]
    fn a_failed_step_names_the_version_it_started_from_and_rolls_back() {
        let c = Connection::open_in_memory().unwrap();
        // A table in the way of version 1's first CREATE TABLE.
        c.execute_batch("CREATE VIEW targets AS SELECT 1").unwrap();
        let e = migrate(&c).unwrap_err();
        assert!(matches!(e, SchemaError::Upgrade { from: 0, .. }), "{e:?}");
        assert!(
            e.to_string()
                .starts_with("upgrading its schema from version 0: "),
            "{e}"
        );
        assert!(std::error::Error::source(&e).is_some());
        assert_eq!(user_version(&c).unwrap(), 0);
    }
}
