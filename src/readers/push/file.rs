//! The push targets' small state file under the data directory (`push-targets.json`): the
//! generated tokens and each target's last push, by target id, so that a restart keeps both.
//! Written whole, atomically (a temporary file, fsync, rename), readable by its owner only:
//! it holds credentials.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The file's name under the data directory.
pub const FILE_NAME: &str = "push-targets.json";

/// What the file keeps of one target.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The generated token; absent when the configuration gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The last push received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<LastPush>,
}

/// A push as remembered: when it came, what it said.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastPush {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub up: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msg: Option<String>,
}

/// The whole file. Entries of targets no longer configured are kept: a target taken out of
/// the configuration and put back keeps its token, and its cron jobs keep working.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Contents {
    pub targets: BTreeMap<String, Entry>,
}

/// Why the file cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path} is not a push state file ({source}); move it away to generate new tokens (every push URL then changes)"
    )]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The file's path under `data_dir`.
pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE_NAME)
}

/// The file's contents; empty when there is no file yet.
pub fn load(path: &Path) -> Result<Contents, FileError> {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Contents::default()),
        Err(source) => {
            return Err(FileError::Read {
                path: path.to_owned(),
                source,
            });
        }
    };
    serde_json::from_slice(&text).map_err(|source| FileError::Parse {
        path: path.to_owned(),
        source,
    })
}

/// Replaces the file with `contents`: written to a temporary file beside it, synced, renamed
/// over it; a crash leaves the old file or the new one, never half of one.
pub fn save(path: &Path, contents: &Contents) -> Result<(), FileError> {
    let err = |source| FileError::Write {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let tmp = path.with_extension("json.tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(&tmp).map_err(err)?;
    let text = serde_json::to_vec_pretty(contents).map_err(|e| err(std::io::Error::other(e)))?;
    f.write_all(&text).map_err(err)?;
    f.sync_all().map_err(err)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(err)?;
    if let Some(dir) = path.parent()
        && let Ok(d) = std::fs::File::open(dir)
    {
        // The rename itself is durable once the directory is synced.
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_contents_load_back_and_a_missing_file_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let p = path(dir.path());
        assert_eq!(load(&p).unwrap(), Contents::default());
        let mut c = Contents::default();
        c.targets.insert(
            "abc".into(),
            Entry {
                token: Some("t".repeat(20)),
                last: Some(LastPush {
                    at: time::macros::datetime!(2026-01-02 03:04:05 UTC),
                    up: false,
                    msg: Some("<b>disk full</b>".into()),
                }),
            },
        );
        save(&p, &c).unwrap();
        assert_eq!(load(&p).unwrap(), c);
        assert!(!p.with_extension("json.tmp").exists());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "{mode:o}");
        }
    }

    #[test]
    fn a_corrupt_file_is_an_error_naming_it_not_new_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let p = path(dir.path());
        std::fs::write(&p, "{not json").unwrap();
        let e = load(&p).unwrap_err().to_string();
        assert!(e.contains(FILE_NAME), "{e}");
    }
}
