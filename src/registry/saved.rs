//! What the API made, kept across restarts: `DATA_DIR/targets.json` holds each API target's
//! object as it was given (with its id) and the ids of paused targets of any source, replaced
//! whole and durably (`crate::json_file`).

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
pub type SavedError = crate::json_file::JsonFileError;

/// The file under `data_dir`.
pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE_NAME)
}

/// Reads the file; nothing saved yet when it does not exist.
pub fn load(path: &Path) -> Result<Saved, SavedError> {
    crate::json_file::load(
        path,
        "a targets file uptimer wrote; move it away to start afresh (the API's targets are then lost)",
    )
}

/// Replaces the file with `saved`, durably.
pub fn store(path: &Path, saved: &Saved) -> Result<(), SavedError> {
    crate::json_file::save(
        path,
        &Saved {
            version: 1,
            ..saved.clone()
        },
    )
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
        assert!(
            e.contains("targets.json") && e.contains("move it away"),
            "{e}"
        );
    }
}
