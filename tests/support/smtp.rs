//! A real SMTP sink on loopback: Debian's aiosmtpd (`python3-aiosmtpd`, installed by
//! scripts/test; `UPTIMER_AIOSMTPD=/path` to use another) with its Mailbox handler, which
//! stores every message it accepts in a Maildir the test reads back.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::net::{free_port, listening};
use super::wait::poll;

/// One running sink; stopped when dropped.
pub struct SmtpSink {
    pub port: u16,
    child: Child,
    dir: tempfile::TempDir,
}

fn aiosmtpd() -> PathBuf {
    let bin = std::env::var_os("UPTIMER_AIOSMTPD")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/aiosmtpd"));
    assert!(
        bin.exists(),
        "{} not found: install Debian's python3-aiosmtpd (scripts/test does) or set UPTIMER_AIOSMTPD",
        bin.display()
    );
    bin
}

impl SmtpSink {
    pub fn start() -> SmtpSink {
        let bin = aiosmtpd();
        for _ in 0..5 {
            let port = free_port();
            let dir = tempfile::tempdir().unwrap();
            let mut child = Command::new(&bin)
                .args(["-n", "-l", &format!("127.0.0.1:{port}")])
                .args(["-c", "aiosmtpd.handlers.Mailbox"])
                .arg(dir.path().join("maildir"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("aiosmtpd starts");
            let up = poll(Duration::from_secs(20), || {
                if listening(port) {
                    return Some(true);
                }
                match child.try_wait() {
                    Ok(Some(_)) => Some(false),
                    _ => None,
                }
            });
            if up == Some(true) {
                return SmtpSink { port, child, dir };
            }
            // The port was taken between choosing and binding it: another.
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("aiosmtpd did not start on 127.0.0.1");
    }

    /// Every message stored so far, oldest first, as its raw text.
    pub fn messages(&self) -> Vec<String> {
        let mut files: Vec<(std::time::SystemTime, String, PathBuf)> = ["new", "cur"]
            .iter()
            .filter_map(|d| std::fs::read_dir(self.dir.path().join("maildir").join(d)).ok())
            .flatten()
            .flatten()
            .map(|e| {
                let at = e.metadata().and_then(|m| m.modified()).unwrap();
                (at, e.file_name().to_string_lossy().into_owned(), e.path())
            })
            .collect();
        files.sort();
        files
            .into_iter()
            .map(|(_, _, p)| std::fs::read_to_string(p).unwrap())
            .collect()
    }

    /// Waits until at least `n` messages are stored; returns them.
    pub fn wait_for(&self, n: usize, within: Duration) -> Vec<String> {
        poll(within, || {
            let m = self.messages();
            (m.len() >= n).then_some(m)
        })
        .unwrap_or_else(|| self.messages())
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A header's value in a raw message (the first with this name, folded lines joined).
pub fn header(raw: &str, name: &str) -> Option<String> {
    let head = raw.split("\n\n").next().unwrap_or_default();
    let mut value: Option<String> = None;
    for line in head.lines() {
        let line = line.trim_end_matches('\r');
        if let Some(v) = &mut value {
            if line.starts_with([' ', '\t']) {
                v.push(' ');
                v.push_str(line.trim());
                continue;
            }
            break;
        }
        if let Some((n, v)) = line.split_once(':')
            && n.eq_ignore_ascii_case(name)
        {
            value = Some(v.trim().to_owned());
        }
    }
    value
}
