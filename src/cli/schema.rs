//! `uptimer schema` and `uptimer validate`.

use std::io::{BufRead, Write};
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
            .find(|s| s.title == t || s.file.trim_end_matches(".json") == t)
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

pub fn validate() -> ExitCode {
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    let (mut valid, mut invalid) = (0u64, 0u64);
    for (i, line) in stdin.lock().lines().enumerate() {
        let n = i + 1;
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                eprintln!("line {n}: cannot read: {e}");
                invalid += 1;
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
            Ok(_) => valid += 1,
            Err(e) => {
                invalid += 1;
                let _ = writeln!(out, "line {n}: {e}");
            }
        }
    }
    eprintln!("{valid} valid, {invalid} invalid");
    if invalid == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
