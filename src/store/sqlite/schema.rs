//! The SQLite schema: the same logical tables and column names as PostgreSQL's (`targets`,
//! `probe_events`), plus rollups, incidents and each target's live state. Times are integer
//! microseconds since the Unix epoch (UTC); booleans are 0/1.

use rusqlite::Connection;

/// Bumped with every change below; older files are upgraded step by step.
const VERSION: i64 = 2;

const V1: &str = r#"
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

-- Per target per minute / hour (bucket = start, microseconds). Sums, not averages, so rows
-- merge by addition; hist is a sparse log-bucket latency histogram (store::hist).
CREATE TABLE rollup_minute (
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
CREATE INDEX rollup_minute_bucket ON rollup_minute (bucket);
CREATE TABLE rollup_hour (
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
CREATE INDEX rollup_hour_bucket ON rollup_hour (bucket);
-- Per target per UTC day: what 7- and 30-day uptime read (30 rows a target, not 720).
CREATE TABLE rollup_day (
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
CREATE INDEX rollup_day_bucket ON rollup_day (bucket);

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

/// Creates or upgrades the schema.
pub fn migrate(conn: &Connection) -> Result<(), String> {
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| e.to_string())?;
    if version > VERSION {
        return Err(format!(
            "its schema version {version} is newer than this uptimer knows ({VERSION}); upgrade uptimer"
        ));
    }
    if version < 1 {
        conn.execute_batch(&format!("BEGIN; {V1} PRAGMA user_version = 1; COMMIT;"))
            .map_err(|e| e.to_string())?;
    }
    if version < 2 {
        conn.execute_batch(&format!("BEGIN; {V2} PRAGMA user_version = 2; COMMIT;"))
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}
