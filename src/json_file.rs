//! Small state files kept as JSON under `DATA_DIR` (the push targets' tokens, the targets the
//! API made): read whole, and replaced whole and durably — written to a temporary file beside
//! the old one, synced, renamed over it, the directory synced — so that a crash leaves the old
//! file or the new one, never half of one. Readable by their owner only: they may hold
//! credentials.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Why a state file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum JsonFileError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Not what the file should hold; `what` names it and says how to start afresh.
    #[error("{path} is not {what} ({source})")]
    Parse {
        path: PathBuf,
        what: &'static str,
        source: serde_json::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The file's contents; `T::default()` when there is no file yet. `what` names what the file
/// holds in the error about a file that does not parse.
pub fn load<T: DeserializeOwned + Default>(
    path: &Path,
    what: &'static str,
) -> Result<T, JsonFileError> {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(T::default()),
        Err(source) => {
            return Err(JsonFileError::Read {
                path: path.to_owned(),
                source,
            });
        }
    };
    serde_json::from_slice(&text).map_err(|source| JsonFileError::Parse {
        path: path.to_owned(),
        what,
        source,
    })
}

/// Replaces the file with `value`, durably (see the module's documentation).
pub fn save<T: Serialize>(path: &Path, value: &T) -> Result<(), JsonFileError> {
    let err = |source| JsonFileError::Write {
        path: path.to_owned(),
        source,
    };
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let tmp = path.with_extension("json.tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(&tmp).map_err(err)?;
    let text = serde_json::to_vec_pretty(value).map_err(|e| err(std::io::Error::other(e)))?;
    f.write_all(&text).map_err(err)?;
    f.sync_all().map_err(err)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(err)?;
    if let Some(dir) = dir
        && let Ok(d) = std::fs::File::open(dir)
    {
        // The rename itself is durable once the directory is synced.
        let _ = d.sync_all();
    }
    Ok(())
}
