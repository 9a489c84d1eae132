//! `uptimer schema` and `uptimer validate`.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use crate::event::schema;

pub fn schema(title: Option<&str>) -> ExitCode {
    match title {
        None => {
            for s in schema::all() {
                println!("{:<12} {:<7} schemas/{}", s.title, s.version, s.file);
            }
            ExitCode::SUCCESS
        }
        Some(t) => match schema::all()
            .iter()
            .find(|s| same_name(&s.title, t) || same_name(s.file.trim_end_matches(".json"), t))
        {
            Some(s) => {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&s.document).unwrap_or_default()
                );
                ExitCode::SUCCESS
            }
            None => {
                let known: Vec<_> = schema::all().iter().map(|s| s.title.as_str()).collect();
                eprintln!("uptimer: unknown schema {t:?}; known: {}", known.join(", "));
                ExitCode::from(super::EXIT_CONFIG)
            }
        },
    }
}

/// Titles and file names match in any case, with or without `-` and `_`: `ProbeEvent`,
/// `probeevent` and `probe-event` are one schema.
fn same_name(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        s.chars()
            .filter(|c| !matches!(c, '-' | '_'))
            .map(|c| c.to_ascii_lowercase())
            .collect::<String>()
    };
    norm(a) == norm(b)
}

/// Valid and invalid lines so far.
#[derive(Default)]
struct Tally {
    valid: u64,
    invalid: u64,
}

/// Validates the files given, or stdin. Each invalid line is reported on stdout as `line N:`
/// for stdin alone (as before files were accepted) and `FILE:N:` otherwise, as compilers do.
pub fn validate(files: &[PathBuf]) -> ExitCode {
    let mut out = std::io::stdout().lock();
    let mut tally = Tally::default();
    let mut unreadable = false;
    if files.is_empty() {
        validate_lines(std::io::stdin().lock(), None, &mut out, &mut tally);
    }
    for f in files {
        let name = f.display().to_string();
        if name == "-" {
            validate_lines(std::io::stdin().lock(), Some("-"), &mut out, &mut tally);
            continue;
        }
        match std::fs::File::open(f) {
            Ok(file) => validate_lines(
                std::io::BufReader::new(file),
                Some(&name),
                &mut out,
                &mut tally,
            ),
            Err(e) => {
                eprintln!("uptimer: {name}: cannot read: {e}");
                unreadable = true;
            }
        }
    }
    let _ = out.flush();
    eprintln!("{} valid, {} invalid", tally.valid, tally.invalid);
    if unreadable {
        ExitCode::from(super::EXIT_CONFIG)
    } else if tally.invalid == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn validate_lines(
    input: impl BufRead,
    file: Option<&str>,
    out: &mut impl Write,
    tally: &mut Tally,
) {
    let at = |n: usize| match file {
        Some(f) => format!("{f}:{n}"),
        None => format!("line {n}"),
    };
    for (i, line) in input.lines().enumerate() {
        let n = i + 1;
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                eprintln!("{}: cannot read: {e}", at(n));
                tally.invalid += 1;
                break;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        let result = serde_json::from_str(&line)
            .map_err(|e| format!("not JSON: {e}"))
            .and_then(|doc| schema::validate_event(&doc).map_err(|e| e.to_string()));
        match result {
            Ok(_) => tally.valid += 1,
            Err(e) => {
                tally.invalid += 1;
                let _ = writeln!(out, "{}: {e}", at(n));
            }
        }
    }
}
