//! The push targets' small state file under the data directory (`push-targets.json`): the
//! generated tokens and each target's last push, by target id, so that a restart keeps both.
//! Written whole, atomically (a temporary file, fsync, rename), readable by its owner only:
//! it holds credentials.

use std::collections::BTreeMap;
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
pub type FileError = crate::json_file::JsonFileError;

/// The file's path under `data_dir`.
pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE_NAME)
}

/// The file's contents; empty when there is no file yet.
pub fn load(path: &Path) -> Result<Contents, FileError> {
    crate::json_file::load(
        path,
        "a push state file; move it away to generate new tokens (every push URL then changes)",
    )
}

/// Replaces the file with `contents`, durably and readable by its owner only.
pub fn save(path: &Path, contents: &Contents) -> Result<(), FileError> {
    crate::json_file::save(path, contents)
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
