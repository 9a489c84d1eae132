//! `uptimer store compact`: rewrites the store offline without its free pages. Deleting rows
//! frees pages inside the file but never shrinks it; `VACUUM INTO` a temporary file next to
//! it, fsync, and a rename over it do, and a crash at any point leaves either the old file or
//! the new one whole. It refuses while another process has the store open, and when the disk
//! lacks room for the copy.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags};

use super::stats::{self, OpenError, companion, file_bytes};
use crate::config::human_bytes;

/// Room asked for beyond the store's used bytes: a tenth of them plus this (the copy's pages
/// are about the used ones; the margin keeps the disk from being filled to the last byte).
pub const MARGIN_BYTES: u64 = 16 << 20;

/// The free disk space compacting a store of `used` bytes needs.
pub fn needed_bytes(used: u64) -> u64 {
    used + used / 10 + MARGIN_BYTES
}

/// Why the store was not compacted; the store is left as it was.
#[derive(Debug, thiserror::Error)]
pub enum CompactError {
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error(
        "{}: another process has the store open (uptimer serve, run with writers.sqlite, or \
         bench-store?): stop it first; compact works offline",
        .path.display()
    )]
    InUse { path: PathBuf },
    #[error(
        "{}: {} free, compacting needs {} (the store's {} in use, plus a tenth, plus {})",
        .dir.display(), human_bytes(*.free), human_bytes(*.needed), human_bytes(*.used),
        human_bytes(MARGIN_BYTES)
    )]
    NoSpace {
        dir: PathBuf,
        free: u64,
        needed: u64,
        used: u64,
    },
    #[error("{}: {what}: {source}", .path.display())]
    Io {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {source}", .path.display())]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
}

/// Sizes before and after.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Compacted {
    /// The file, its `-wal` and `-shm` before (what `du -cb` said).
    pub before_bytes: u64,
    /// The store's used bytes before (see [`stats::used_bytes`]).
    pub used_bytes: u64,
    /// The new file (it has no `-wal` or `-shm` yet).
    pub after_bytes: u64,
    /// The free disk space there was, and what was needed.
    pub free_bytes: u64,
    pub needed_bytes: u64,
}

/// Bytes free for an unprivileged writer on the file system of `dir`.
pub fn free_bytes(dir: &Path) -> std::io::Result<u64> {
    let s = rustix::fs::statvfs(dir)?;
    Ok(s.f_bavail.saturating_mul(s.f_frsize))
}

fn io<'a>(path: &'a Path, what: &'static str) -> impl Fn(std::io::Error) -> CompactError + 'a {
    move |source| CompactError::Io {
        path: path.to_owned(),
        what,
        source,
    }
}

/// Compacts the store at `path`, telling `progress` what it does.
pub fn compact(path: &Path, progress: &dyn Fn(&str)) -> Result<Compacted, CompactError> {
    if !path.is_file() {
        return Err(OpenError::Missing {
            path: path.to_owned(),
        }
        .into());
    }
    let sqlite = |source| CompactError::Sqlite {
        path: path.to_owned(),
        source,
    };
    let before_bytes = total_bytes(path);
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sqlite)?;
    take_exclusive(&conn, path)?;
    stats::check_version(&conn, path)?;

    let used = stats::used_bytes(&conn).map_err(sqlite)?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let free = free_bytes(&dir).map_err(io(&dir, "free disk space"))?;
    let needed = needed_bytes(used);
    if free < needed {
        return Err(CompactError::NoSpace {
            dir,
            free,
            needed,
            used,
        });
    }
    progress(&format!(
        "{}: {} in use of {} on disk; {} free, {} needed; writing a compact copy",
        path.display(),
        human_bytes(used),
        human_bytes(before_bytes),
        human_bytes(free),
        human_bytes(needed)
    ));

    let tmp = companion(path, ".compact");
    let result = write_copy(&conn, &tmp).and_then(|()| swap(&conn, path, &tmp));
    if result.is_err() {
        for leftover in [
            tmp.clone(),
            companion(&tmp, "-journal"),
            companion(&tmp, "-wal"),
        ] {
            let _ = std::fs::remove_file(leftover);
        }
    }
    result?;
    drop(conn);
    Ok(Compacted {
        before_bytes,
        used_bytes: used,
        after_bytes: total_bytes(path),
        free_bytes: free,
        needed_bytes: needed,
    })
}

/// The file, its `-wal` and its `-shm`.
fn total_bytes(path: &Path) -> u64 {
    file_bytes(path) + file_bytes(&companion(path, "-wal")) + file_bytes(&companion(path, "-shm"))
}

/// Takes the store file's exclusive lock, kept until `conn` closes. In WAL mode every open
/// connection holds a shared lock on the file for as long as it is open (busy or idle), so
/// this fails at once, without waiting, while any other process has the store open; and no
/// other process can open it while compacting runs.
fn take_exclusive(conn: &Connection, path: &Path) -> Result<(), CompactError> {
    let sqlite = |source| CompactError::Sqlite {
        path: path.to_owned(),
        source,
    };
    conn.busy_timeout(Duration::ZERO).map_err(sqlite)?;
    let _: String = conn
        .query_row("PRAGMA locking_mode=EXCLUSIVE", [], |r| r.get(0))
        .map_err(sqlite)?;
    // The first read takes the lock (and opens the WAL in exclusive mode).
    match conn.execute_batch("BEGIN EXCLUSIVE; SELECT count(*) FROM sqlite_schema; COMMIT;") {
        Ok(()) => Ok(()),
        Err(e)
            if matches!(
                e.sqlite_error_code(),
                Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
            ) =>
        {
            Err(CompactError::InUse {
                path: path.to_owned(),
            })
        }
        Err(e) => Err(sqlite(e)),
    }
}

/// Writes the compact copy to `tmp` (in WAL mode, as the store is kept) and fsyncs it.
fn write_copy(conn: &Connection, tmp: &Path) -> Result<(), CompactError> {
    let sqlite = |source| CompactError::Sqlite {
        path: tmp.to_owned(),
        source,
    };
    // A copy a crash left behind: VACUUM INTO wants a new file.
    for leftover in [
        tmp.to_owned(),
        companion(tmp, "-journal"),
        companion(tmp, "-wal"),
    ] {
        match std::fs::remove_file(&leftover) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(io(&leftover, "removing a leftover copy")(e));
            }
            _ => {}
        }
    }
    let name = tmp.to_str().ok_or_else(|| CompactError::Io {
        path: tmp.to_owned(),
        what: "a copy next to the store",
        source: std::io::Error::other("the path is not UTF-8"),
    })?;
    conn.execute("VACUUM INTO ?1", [name]).map_err(sqlite)?;
    let copy = Connection::open(tmp).map_err(sqlite)?;
    let mode: String = copy
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .map_err(sqlite)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(CompactError::Io {
            path: tmp.to_owned(),
            what: "putting the copy in WAL mode",
            source: std::io::Error::other(format!("refused ({mode})")),
        });
    }
    drop(copy);
    std::fs::File::open(tmp)
        .and_then(|f| f.sync_all())
        .map_err(io(tmp, "fsync of the copy"))
}

/// Puts the copy in the store's place. The old file leaves WAL mode first, which empties its
/// WAL into it and deletes the `-wal` file: a WAL left beside the new file would be replayed
/// into it. Still under the exclusive lock, so nobody opened the old file meanwhile.
fn swap(conn: &Connection, path: &Path, tmp: &Path) -> Result<(), CompactError> {
    let mode: String = conn
        .query_row("PRAGMA journal_mode=DELETE", [], |r| r.get(0))
        .map_err(|source| CompactError::Sqlite {
            path: path.to_owned(),
            source,
        })?;
    let wal = companion(path, "-wal");
    if !mode.eq_ignore_ascii_case("delete") || wal.exists() {
        return Err(CompactError::Io {
            path: wal,
            what: "leaving WAL mode before the swap",
            source: std::io::Error::other(format!("journal mode is still {mode}")),
        });
    }
    let shm = companion(path, "-shm");
    match std::fs::remove_file(&shm) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(io(&shm, "removing the old -shm")(e));
        }
        _ => {}
    }
    std::fs::rename(tmp, path).map_err(io(path, "renaming the copy over the store"))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir, "fsync of the directory"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StoreSettings;
    use crate::store::SqliteStore;

    fn filled(dir: &Path) -> PathBuf {
        let path = dir.join("c.sqlite3");
        let s = SqliteStore::open(&StoreSettings::with_path(path.clone())).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(s.generate(super::super::generate::Spec {
            targets: 4,
            days: 3,
            raw_days: 2,
            interval_s: 60,
        }))
        .unwrap();
        rt.block_on(s.close()).unwrap();
        path
    }

    fn count(path: &Path, sql: &str) -> i64 {
        let c = Connection::open(path).unwrap();
        c.query_row(sql, [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn compacting_returns_the_pages_deletes_freed_and_keeps_every_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = filled(dir.path());
        let c = Connection::open(&path).unwrap();
        c.execute_batch(
            "DELETE FROM event_blocks WHERE id % 4 <> 0; PRAGMA wal_checkpoint(TRUNCATE);",
        )
        .unwrap();
        drop(c);
        let events = count(&path, "SELECT count(*) FROM event_blocks");
        let hours = count(&path, "SELECT count(*) FROM rollup_hour");
        let version = count(&path, "PRAGMA user_version");
        let before = total_bytes(&path);

        let done = compact(&path, &|_| {}).unwrap();
        assert_eq!(done.before_bytes, before);
        assert!(
            done.after_bytes < before * 6 / 10,
            "{} -> {}",
            before,
            done.after_bytes
        );
        assert!(done.after_bytes <= done.used_bytes, "{done:?}");
        assert_eq!(done.after_bytes, file_bytes(&path));
        assert!(!companion(&path, ".compact").exists());
        assert!(!companion(&path, "-wal").exists());
        assert_eq!(count(&path, "SELECT count(*) FROM event_blocks"), events);
        assert_eq!(count(&path, "SELECT count(*) FROM rollup_hour"), hours);
        assert_eq!(count(&path, "PRAGMA user_version"), version);
        assert_eq!(count(&path, "PRAGMA freelist_count"), 0);
        let c = Connection::open(&path).unwrap();
        let mode: String = c
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal", "the copy is in WAL mode");
        let ok: String = c
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ok, "ok");
        // And the store opens and writes as before.
        drop(c);
        SqliteStore::open(&StoreSettings::with_path(path.clone())).unwrap();
    }

    #[test]
    fn compacting_refuses_a_store_another_connection_has_open_even_when_idle() {
        let dir = tempfile::tempdir().unwrap();
        let path = filled(dir.path());
        let events = count(&path, "SELECT count(*) FROM event_blocks");
        let store = SqliteStore::open(&StoreSettings::with_path(path.clone())).unwrap();
        let e = compact(&path, &|_| {}).unwrap_err();
        assert!(matches!(e, CompactError::InUse { .. }), "{e}");
        assert!(
            e.to_string().contains("another process has the store open"),
            "{e}"
        );
        assert!(!companion(&path, ".compact").exists());
        drop(store);
        assert_eq!(count(&path, "SELECT count(*) FROM event_blocks"), events);
        compact(&path, &|_| {}).unwrap();
    }

    #[test]
    fn compacting_refuses_a_store_of_another_version_and_a_missing_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = filled(dir.path());
        Connection::open(&path)
            .unwrap()
            .execute_batch("PRAGMA user_version = 999")
            .unwrap();
        let e = compact(&path, &|_| {}).unwrap_err();
        assert!(
            matches!(e, CompactError::Open(OpenError::Newer { .. })),
            "{e}"
        );
        let e = compact(&dir.path().join("none"), &|_| {}).unwrap_err();
        assert!(
            matches!(e, CompactError::Open(OpenError::Missing { .. })),
            "{e}"
        );
    }

    #[test]
    fn a_copy_left_by_a_crash_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = filled(dir.path());
        std::fs::write(companion(&path, ".compact"), "half a copy").unwrap();
        compact(&path, &|_| {}).unwrap();
        assert!(!companion(&path, ".compact").exists());
        assert!(count(&path, "SELECT count(*) FROM event_blocks") > 0);
    }

    #[test]
    fn the_space_needed_is_the_used_bytes_plus_a_tenth_plus_the_margin() {
        assert_eq!(needed_bytes(1000 << 20), (1100 << 20) + MARGIN_BYTES);
        assert!(free_bytes(Path::new(".")).unwrap() > 0);
        let e = CompactError::NoSpace {
            dir: "/data".into(),
            free: 100 << 20,
            needed: 1116 << 20,
            used: 1000 << 20,
        };
        assert_eq!(
            e.to_string(),
            "/data: 100 MiB free, compacting needs 1.09 GiB (the store's 1000 MiB in use, plus a tenth, plus 16 MiB)"
        );
    }
}
