//! `uptimer store stats|compact`: what the embedded SQLite store holds, and rewriting it
//! offline without its free pages. Both work on the file alone and never migrate it: the store
//! is `--path`, else the one the settings name (`SQLITE_PATH`, `DATA_DIR`, `--config`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::config::{Overrides, human_bytes};
use crate::store::sqlite::compact;
use crate::store::sqlite::stats::{self, Stats};

#[derive(Debug, Args)]
pub struct StoreArgs {
    #[command(subcommand)]
    pub command: StoreCommand,
}

/// Which store: `--path`, else the settings'.
#[derive(Debug, Args)]
pub struct Which {
    /// The store file [default: SQLITE_PATH, else DATA_DIR/uptimer.sqlite3].
    #[arg(long, value_name = "FILE")]
    pub path: Option<PathBuf>,
    /// A YAML or TOML config file (for its data_dir), when --path is not given.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Sizes on disk, bytes per table and index grouped into levels (raw events, rollups,
    /// targets/state/incidents, other), bytes per raw event and rollup bytes per target-day.
    /// Opens the store read-only.
    Stats {
        #[command(flatten)]
        which: Which,
        /// One JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Rewrite the store without its free pages (VACUUM INTO a copy next to it, fsync, rename
    /// over it). Offline: refuses while another process has the store open, and when the disk
    /// lacks the room for the copy (its used bytes plus a tenth plus 16 MiB).
    Compact {
        #[command(flatten)]
        which: Which,
    },
}

pub fn store(args: StoreArgs) -> ExitCode {
    match args.command {
        StoreCommand::Stats { which, json } => {
            let path = match store_path(&which) {
                Ok(p) => p,
                Err(code) => return code,
            };
            match read_stats(&path) {
                Ok(s) if json => {
                    println!("{}", serde_json::to_string(&s).unwrap_or_default());
                    ExitCode::SUCCESS
                }
                Ok(s) => {
                    print!("{}", render(&s));
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("uptimer store stats: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        StoreCommand::Compact { which } => {
            let path = match store_path(&which) {
                Ok(p) => p,
                Err(code) => return code,
            };
            match compact::compact(&path, &|m| eprintln!("{m}")) {
                Ok(c) => {
                    println!(
                        "compacted {}: {} before (file, -wal, -shm), {} after",
                        path.display(),
                        sized(c.before_bytes),
                        sized(c.after_bytes)
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("uptimer store compact: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn store_path(which: &Which) -> Result<PathBuf, ExitCode> {
    if let Some(p) = &which.path {
        return Ok(p.clone());
    }
    super::load_settings(which.config.as_deref(), &[], &Overrides::default())
        .map(|s| s.store.path)
        .map_err(|e| super::config_error(&e))
}

fn read_stats(path: &Path) -> Result<Stats, stats::OpenError> {
    let (conn, version) = stats::open_read_only(path)?;
    stats::collect(&conn, path, version).map_err(stats::OpenError::sqlite(path))
}

/// `123456789 (118 MiB)`, or `0 bytes`.
fn sized(n: u64) -> String {
    match human_bytes(n) {
        h if n < 1024 => h,
        h => format!("{n} ({h})"),
    }
}

/// The table people read.
fn render(s: &Stats) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let per = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1}"));
    let _ = writeln!(
        o,
        "store          {} (schema version {})",
        s.file, s.schema_version
    );
    let _ = writeln!(o, "file           {}", sized(s.file_bytes));
    let _ = writeln!(o, "-wal           {}", sized(s.wal_bytes));
    let _ = writeln!(o, "-shm           {}", sized(s.shm_bytes));
    let _ = writeln!(o, "total          {}", sized(s.total_bytes));
    let _ = writeln!(
        o,
        "pages          {} of {} bytes, {} free",
        s.page_count, s.page_size, s.free_pages
    );
    let _ = writeln!(
        o,
        "used           {} (pages in use + WAL: what SQLITE_MAX_BYTES caps)",
        sized(s.used_bytes)
    );
    let _ = writeln!(o);
    let names: Vec<Vec<String>> = s
        .levels
        .iter()
        .map(|l| {
            l.objects
                .iter()
                .map(|obj| format!("  {} ({})", obj.name, obj.kind))
                .collect()
        })
        .collect();
    let header = "level / table or index";
    let width = names
        .iter()
        .flatten()
        .map(|n| n.chars().count())
        .chain(s.levels.iter().map(|l| l.label.len()))
        .chain([header.len()])
        .max()
        .unwrap_or(0);
    let _ = writeln!(o, "{header:<width$} {:>14} {:>7}", "bytes", "share");
    let in_use: u64 = s.levels.iter().map(|l| l.bytes).sum::<u64>().max(1);
    let share = |b: u64| format!("{:.1}%", b as f64 * 100.0 / in_use as f64);
    for (l, names) in s.levels.iter().zip(&names) {
        let _ = writeln!(
            o,
            "{:<width$} {:>14} {:>7}",
            l.label,
            l.bytes,
            share(l.bytes)
        );
        for (obj, name) in l.objects.iter().zip(names) {
            let _ = writeln!(
                o,
                "{name:<width$} {:>14} {:>7}",
                obj.bytes,
                share(obj.bytes)
            );
        }
    }
    let _ = writeln!(o);
    let _ = writeln!(o, "raw events     {}", s.raw_events);
    let _ = writeln!(o, "targets        {}", s.targets);
    let _ = writeln!(
        o,
        "days covered   {} ({} target-days)",
        s.days_covered, s.target_days
    );
    let _ = writeln!(
        o,
        "bytes per raw event            {}",
        per(s.bytes_per_raw_event)
    );
    let _ = writeln!(
        o,
        "rollup bytes per target-day    {}",
        per(s.rollup_bytes_per_target_day)
    );
    o
}
