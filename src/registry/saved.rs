//! What the API made, kept across restarts: `DATA_DIR/targets.json` holds each API target's
//! object as it was given (with its id) and the ids of paused targets of any source. Written
//! whole to a temporary file, synced and renamed over the old one, so a crash leaves either
//! the old file or the new one, never half of one.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The file's name under `DATA_DIR`.
pub const FILE_NAME: &str = "targets.json";

/// The file's contents.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Saved {
    /// The format's version; 1.
    pub version: u32,
    /// The API's targets, each its object as given with `id` set.
    #[serde(default)]
    pub targets: Vec<serde_json::Value>,
    /// Paused targets (of the API and the configuration).
    #[serde(default)]
    pub paused: Vec<String>,
}

/// Why the file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum SavedError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a targets file uptimer wrote ({source}); move it away to start afresh")]
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

/// The file under `data_dir`.
pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE_NAME)
}

/// Reads the file; nothing saved yet when it does not exist.
pub fn load(path: &Path) -> Result<Saved, SavedError> {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Saved::default()),
        Err(source) => {
            return Err(SavedError::Read {
                path: path.to_owned(),
                source,
            });
        }
    };
    serde_json::from_slice(&text).map_err(|source| SavedError::Parse {
        path: path.to_owned(),
        source,
    })
}

/// Replaces the file with `saved`, durably.
pub fn store(path: &Path, saved: &Saved) -> Result<(), SavedError> {
    let err = |source| SavedError::Write {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let tmp = path.with_extension("json.tmp");
    let mut f = std::fs::File::create(&tmp).map_err(err)?;
    let body = serde_json::to_vec_pretty(&Saved {
        version: 1,
        ..saved.clone()
    })
    .expect("JSON values serialise");
    f.write_all(&body).map_err(err)?;
    f.sync_all().map_err(err)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(err)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_file_reads_back_and_a_missing_one_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let p = path(&dir.path().join("data"));
        assert_eq!(load(&p).unwrap(), Saved::default());
        let saved = Saved {
            version: 1,
            targets: vec![serde_json::json!({"id": "a", "url": "http://127.0.0.1:1/"})],
            paused: vec!["a".into()],
        };
        store(&p, &saved).unwrap();
        assert_eq!(load(&p).unwrap(), saved);
        assert!(!p.with_extension("json.tmp").exists());
    }

    #[test]
    fn a_garbled_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = path(dir.path());
        std::fs::write(&p, "{not json").unwrap();
        let e = load(&p).unwrap_err().to_string();
        assert!(e.contains("targets.json") && e.contains("move it away"), "{e}");
    }
}
