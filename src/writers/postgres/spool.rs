//! The disk spool: when the database is unreachable, events a prober made (nothing can replay
//! them) are kept in segment files of JSON lines under `DATA_DIR/spool/postgres/`, written to a
//! temporary name, fsynced and renamed (a segment is whole or absent), drained oldest first when
//! the database is back, and found again after a restart.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::Value;

/// One spooled file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub path: PathBuf,
    pub bytes: u64,
    /// Events in it (also in its name: `<nanos>-<seq>-<events>.jsonl`).
    pub events: u64,
}

fn events_in_name(path: &Path) -> u64 {
    path.file_stem()
        .and_then(|s| s.to_str())
        .and_then(|s| s.rsplit('-').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    seq: AtomicU64,
}

impl Spool {
    /// Opens (creating) the spool folder; returns the segments left by an earlier run, oldest
    /// first. Half-written temporary files from a crash are removed: their events were never
    /// acknowledged as spooled.
    pub fn open(dir: &Path) -> std::io::Result<(Spool, Vec<Segment>)> {
        fs::create_dir_all(dir)?;
        let mut segments = Vec::new();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let path = entry.path();
            match path.extension().and_then(|e| e.to_str()) {
                Some("jsonl") => segments.push(Segment {
                    bytes: entry.metadata()?.len(),
                    events: events_in_name(&path),
                    path,
                }),
                Some("tmp") => fs::remove_file(&path)?,
                _ => {}
            }
        }
        segments.sort_by(|a, b| a.path.cmp(&b.path));
        Ok((
            Spool {
                dir: dir.to_path_buf(),
                seq: AtomicU64::new(0),
            },
            segments,
        ))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes `rows` as a new segment, durable when this returns (file and folder fsynced).
    pub fn write(&self, rows: &[impl Serialize]) -> std::io::Result<Segment> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let name = format!("{nanos:020}-{seq:06}-{}", rows.len());
        let tmp = self.dir.join(format!("{name}.tmp"));
        let path = self.dir.join(format!("{name}.jsonl"));
        let mut out = std::io::BufWriter::new(fs::File::create(&tmp)?);
        for r in rows {
            serde_json::to_writer(&mut out, r)?;
            out.write_all(b"\n")?;
        }
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        let bytes = file.metadata()?.len();
        drop(file);
        fs::rename(&tmp, &path)?;
        fs::File::open(&self.dir)?.sync_all()?;
        Ok(Segment {
            path,
            bytes,
            events: rows.len() as u64,
        })
    }

    /// The events of a segment. A line that is not JSON (the file was edited by hand) is
    /// returned as an error string so it can be rejected rather than lost silently.
    pub fn read(segment: &Segment) -> std::io::Result<(Vec<Value>, Vec<String>)> {
        let mut rows = Vec::new();
        let mut bad = Vec::new();
        for line in BufReader::new(fs::File::open(&segment.path)?).lines() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str(&line) {
                Ok(v) => rows.push(v),
                Err(_) => bad.push(line),
            }
        }
        Ok((rows, bad))
    }

    pub fn remove(segment: &Segment) -> std::io::Result<()> {
        match fs::remove_file(&segment.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn segments_survive_reopening_in_order_and_temporaries_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let (spool, old) = Spool::open(dir.path()).unwrap();
        assert!(old.is_empty());
        let a = spool.write(&[json!({"n": 1}), json!({"n": 2})]).unwrap();
        let b = spool.write(&[json!({"n": 3})]).unwrap();
        fs::write(
            dir.path().join("99999999999999999999-000000.tmp"),
            "{\"half",
        )
        .unwrap();
        let (_, found) = Spool::open(dir.path()).unwrap();
        assert_eq!(found, vec![a.clone(), b]);
        assert_eq!((found[0].events, found[1].events), (2, 1));
        assert!(!dir.path().join("99999999999999999999-000000.tmp").exists());
        let (rows, bad) = Spool::read(&a).unwrap();
        assert_eq!(rows, vec![json!({"n": 1}), json!({"n": 2})]);
        assert!(bad.is_empty());
        Spool::remove(&a).unwrap();
        assert_eq!(Spool::open(dir.path()).unwrap().1.len(), 1);
    }
}
