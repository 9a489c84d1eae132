//! A targets file (`targets_file:` in the config file, `--targets-file`) and the URLs of
//! `uptimer probe -` on stdin: one target per line, either a URL or, when the line starts with
//! `{`, a JSON target object with the keys of the config file's `targets:`; `#` comments and
//! blank lines are skipped. It is read a line at a time and each target is built as its line is
//! read: a million targets never sit in memory as text or as a list of specs, which is what a
//! million-entry YAML `targets:` costs.

use std::io::{BufRead, Read};
use std::path::Path;
use std::sync::Arc;

use super::target::{Source, TargetSpec};
use super::target_list::{Builder, Entry, Label, not_a_target_object, spec_of};
use super::{ConfigError, file};

/// The most lines a targets file (or stdin) may have, comments and blank lines included.
pub const MAX_LINES: u64 = 10_000_000;

/// The longest line, in bytes (a target object with many headers and conditions fits).
pub const MAX_LINE_BYTES: usize = 1024 * 1024;

/// Reads the targets file at `path` into `builder`. `name` is the path as the user wrote it,
/// which errors and labels name (`targets.jsonl line 12`, `targets.jsonl:12`); `setting` is
/// where the path was given (`targets_file`, `--targets-file`).
pub(super) fn load(
    path: &Path,
    name: &str,
    setting: &str,
    builder: &mut Builder,
) -> Result<(), ConfigError> {
    let f = std::fs::File::open(path).map_err(|e| {
        ConfigError::new(
            setting,
            path.display().to_string(),
            format!("a readable targets file ({e})"),
        )
    })?;
    read(
        name,
        std::io::BufReader::with_capacity(64 * 1024, f),
        Source::File,
        builder,
    )
}

/// Reads targets from `input`, one per line, into `builder`, each with `source`; `name` names
/// the input in errors and labels (`stdin`).
pub(super) fn read(
    name: &str,
    input: impl BufRead,
    source: Source,
    builder: &mut Builder,
) -> Result<(), ConfigError> {
    read_at_most(name, input, source, builder, MAX_LINES)
}

/// [`read`], refusing more than `max_lines` lines.
fn read_at_most(
    name: &str,
    mut input: impl BufRead,
    source: Source,
    builder: &mut Builder,
    max_lines: u64,
) -> Result<(), ConfigError> {
    let file: Arc<str> = Arc::from(name);
    let label = |line| Label::Line {
        file: file.clone(),
        line,
    };
    let mut buf = Vec::with_capacity(256);
    let mut line = 0u64;
    loop {
        buf.clear();
        // One more byte than a line may have: enough to tell that it is too long.
        let n = (&mut input)
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut buf)
            .map_err(|e| {
                ConfigError::new(
                    label(line + 1).setting(None),
                    "",
                    format!("readable text ({e})"),
                )
            })?;
        if n == 0 {
            return Ok(());
        }
        line += 1;
        if line > max_lines {
            return Err(ConfigError::new(
                name,
                format!("more than {max_lines} lines"),
                format!(
                    "at most {max_lines} lines: share the targets out among several processes \
                     (workers:, DISTRIBUTED_WORKERS_*)"
                ),
            ));
        }
        if buf.last() == Some(&b'\n') {
            buf.pop();
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
        }
        if buf.len() > MAX_LINE_BYTES {
            return Err(ConfigError::new(
                label(line).setting(None),
                format!("a line of more than {MAX_LINE_BYTES} bytes"),
                format!("a line of at most {MAX_LINE_BYTES} bytes (one target per line)"),
            ));
        }
        let text = std::str::from_utf8(&buf)
            .map_err(|e| {
                ConfigError::new(label(line).setting(None), "", format!("UTF-8 text ({e})"))
            })?
            .trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        let at = label(line);
        let entry = if text.starts_with('{') {
            let mut t: file::FileTarget = serde_json::from_str(text).map_err(|e| {
                let (field, expected) = not_a_target_object(&e);
                ConfigError::new(at.setting(field.as_deref()), "", expected)
            })?;
            let spec = spec_of(&mut t, &format!("{}: ", at.setting(None)))?;
            Entry::line(at, source, true, spec)
        } else {
            let spec = TargetSpec {
                url: text.to_owned(),
                ..Default::default()
            };
            Entry::line(at, source, false, spec)
        };
        builder.add(entry)?;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::target_list::SpecOverrides;
    use crate::config::{Interval, TargetDefaults, TlsVerify};

    fn defaults() -> TargetDefaults {
        TargetDefaults {
            interval: Interval::Every(Duration::from_secs(10)),
            timeout: Duration::from_secs(5),
            tls_verify: TlsVerify::Yes,
        }
    }

    fn targets(text: &str) -> Result<Vec<crate::config::Target>, ConfigError> {
        let d = defaults();
        let mut b = Builder::new(&d, SpecOverrides::default());
        read("t.jsonl", text.as_bytes(), Source::File, &mut b)?;
        Ok(b.finish().0)
    }

    #[test]
    fn urls_objects_comments_and_blank_lines_with_crlf_endings() {
        let t = targets(
            "# a comment\r\n\r\n  http://127.0.0.1:1/a\r\n{\"id\": \"b\", \"url\": \"http://127.0.0.1:1/b\", \"interval\": 30}\n   # indented comment\nhttp://127.0.0.1:1/c",
        )
        .unwrap();
        let urls: Vec<&str> = t.iter().map(|t| t.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "http://127.0.0.1:1/a",
                "http://127.0.0.1:1/b",
                "http://127.0.0.1:1/c"
            ]
        );
        assert_eq!(t[1].id, "b");
        assert_eq!(t[1].interval, Interval::Every(Duration::from_secs(30)));
        assert_eq!(t[0].interval, Interval::Every(Duration::from_secs(10)));
    }

    #[test]
    fn a_line_that_is_not_utf8_or_too_long_is_named() {
        let d = defaults();
        let mut b = Builder::new(&d, SpecOverrides::default());
        let e = read(
            "t.jsonl",
            &b"http://127.0.0.1:1/\n\xff\xfe\n"[..],
            Source::File,
            &mut b,
        )
        .unwrap_err();
        assert_eq!(e.setting, "t.jsonl line 2");
        assert!(e.expected.starts_with("UTF-8 text"), "{e}");

        let long = format!("http://127.0.0.1:1/{}", "a".repeat(MAX_LINE_BYTES));
        let e = targets(&format!("\n{long}\n")).unwrap_err();
        assert_eq!(e.setting, "t.jsonl line 2");
        assert!(e.expected.contains("at most 1048576 bytes"), "{e}");
    }

    #[test]
    fn more_than_the_most_lines_is_refused_without_reading_on() {
        /// Endless blank lines: the reader must stop at the limit by itself.
        struct Blank;
        impl Read for Blank {
            fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
                out.fill(b'\n');
                Ok(out.len())
            }
        }
        let d = defaults();
        let mut b = Builder::new(&d, SpecOverrides::default());
        let e = read_at_most(
            "stdin",
            std::io::BufReader::new(Blank),
            Source::Env,
            &mut b,
            1000,
        )
        .unwrap_err();
        assert_eq!(e.setting, "stdin");
        assert!(e.expected.starts_with("at most 1000 lines"), "{e}");
        // Up to the limit is fine.
        let mut b = Builder::new(&d, SpecOverrides::default());
        let lines = "#\n".repeat(999) + "http://127.0.0.1:1/\n";
        read_at_most("f", lines.as_bytes(), Source::File, &mut b, 1000).unwrap();
        assert_eq!(b.finish().0.len(), 1);
    }

    /// Loads `config` (YAML) and `list` (the targets file beside it, `list.jsonl`) from a
    /// directory of their own, with `flags`.
    fn load_with(
        config: &str,
        list: &str,
        flags: &crate::config::Overrides,
    ) -> Result<crate::config::Settings, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("conf");
        std::fs::create_dir(&sub).unwrap();
        std::fs::write(sub.join("uptimer.yaml"), config).unwrap();
        std::fs::write(sub.join("list.jsonl"), list).unwrap();
        crate::config::Settings::load(
            Some(&sub.join("uptimer.yaml")),
            &crate::config::Env::default(),
            flags,
        )
    }

    fn load(config: &str, list: &str) -> Result<crate::config::Settings, ConfigError> {
        load_with(config, list, &crate::config::Overrides::default())
    }

    const CONFIG: &str = "targets_file: list.jsonl\nprobe: {interval: 20}\ntargets:\n  - {id: a, url: 'http://127.0.0.1:1/a'}\n";

    #[test]
    fn a_targets_file_beside_the_config_adds_urls_and_objects_to_its_targets() {
        let s = load(
            CONFIG,
            "# the fleet\n\nhttp://127.0.0.1:1/b\n  {\"id\": \"c\", \"name\": \"C\", \"url\": \"http://127.0.0.1:1/c\", \"interval\": 5, \"tags\": [\"x\"]}\n\thttps://127.0.0.1:1/d  \n",
        )
        .unwrap();
        let got: Vec<(&str, &str, Source, &Interval)> = s
            .targets
            .iter()
            .map(|t| (t.id.as_str(), t.name.as_str(), t.source, &t.interval))
            .collect();
        let every = |s| Interval::Every(Duration::from_secs(s));
        let b = &s.targets[1];
        assert_eq!(b.url.as_str(), "http://127.0.0.1:1/b");
        assert_eq!(
            got,
            [
                ("a", "http://127.0.0.1:1/a", Source::File, &every(20)),
                (
                    b.id.as_str(),
                    "http://127.0.0.1:1/b",
                    Source::File,
                    &every(20)
                ),
                ("c", "C", Source::File, &every(5)),
                (
                    s.targets[3].id.as_str(),
                    "https://127.0.0.1:1/d",
                    Source::File,
                    &every(20)
                ),
            ]
        );
        // A URL line gets the id PROBE_URLS would give it: a hash of its name and URL.
        assert_eq!(b.id.len(), 16);
        assert_eq!(s.targets[2].tags, ["x"]);
        assert_eq!(s.targets_configured, 4);
        assert!(
            s.targets_file
                .as_ref()
                .unwrap()
                .ends_with("conf/list.jsonl")
        );
    }

    #[test]
    fn a_bad_line_is_named_by_the_file_and_its_line_number() {
        let cases = [
            // (file, setting, in the expectation)
            (
                "http://127.0.0.1:1/\nftp://x/\n",
                "list.jsonl line 2",
                "scheme \"ftp\"",
            ),
            ("\n\nhttp://a b/\n", "list.jsonl line 3", "URL"),
            (
                "{\"url\": \"http://127.0.0.1:1/\",\n",
                "list.jsonl line 1",
                "a target object",
            ),
            (
                "{\"url\": \"http://127.0.0.1:1/\", \"colour\": \"red\"}\n",
                "list.jsonl line 1: colour",
                "unknown field `colour`",
            ),
            (
                "{\"name\": \"n\"}\n",
                "list.jsonl line 1: url",
                "missing field `url`",
            ),
            (
                "#\n{\"url\": \"http://127.0.0.1:1/\", \"interval\": \"soon\"}\n",
                "list.jsonl line 2: interval",
                "",
            ),
            (
                "{\"url\": \"http://127.0.0.1:1/\", \"expected_status\": [\"7xx\"]}\n",
                "list.jsonl line 1: expected_status",
                "status code",
            ),
            // The id of the config file's first target, named with its entry.
            (
                "{\"id\": \"a\", \"url\": \"http://127.0.0.1:1/other\"}\n",
                "list.jsonl line 1",
                "different from targets[0]",
            ),
            // Twice in the file: the first line is named as file:line.
            (
                "http://127.0.0.1:1/x\n# again\nhttp://127.0.0.1:1/x\n",
                "list.jsonl line 3",
                "different from list.jsonl:1",
            ),
        ];
        for (list, setting, expected) in cases {
            let e = load(CONFIG, list).unwrap_err();
            assert_eq!(e.setting, setting, "{list:?}: {e}");
            assert!(e.expected.contains(expected), "{list:?}: {e}");
        }
    }

    #[test]
    fn the_flag_wins_over_the_key_and_a_missing_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let other = dir.path().join("other.txt");
        std::fs::write(&other, "http://127.0.0.1:1/flag\n").unwrap();
        let flags = crate::config::Overrides {
            targets_file: Some(other.clone()),
            ..Default::default()
        };
        let s = load_with(CONFIG, "http://127.0.0.1:1/key\n", &flags).unwrap();
        let urls: Vec<&str> = s.targets.iter().map(|t| t.url.as_str()).collect();
        assert_eq!(urls, ["http://127.0.0.1:1/a", "http://127.0.0.1:1/flag"]);
        assert_eq!(s.targets_file, Some(other));

        let e = load("targets_file: nowhere.jsonl\n", "").unwrap_err();
        assert_eq!(e.setting, "targets_file");
        assert!(e.value.ends_with("conf/nowhere.jsonl"), "{e}");
        assert!(e.expected.starts_with("a readable targets file"), "{e}");
        let flags = crate::config::Overrides {
            targets_file: Some(dir.path().join("gone")),
            ..Default::default()
        };
        let e = load_with(CONFIG, "", &flags).unwrap_err();
        assert_eq!(e.setting, "--targets-file");
    }

    #[test]
    fn a_toml_config_names_its_targets_file_too() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("u.toml"), "targets_file = \"t.txt\"\n").unwrap();
        std::fs::write(dir.path().join("t.txt"), "tcp://127.0.0.1:5432\n").unwrap();
        let s = crate::config::Settings::load(
            Some(&dir.path().join("u.toml")),
            &crate::config::Env::default(),
            &crate::config::Overrides::default(),
        )
        .unwrap();
        assert_eq!(s.targets[0].url.as_str(), "tcp://127.0.0.1:5432");
    }
}
