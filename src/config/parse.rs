//! Parsers for setting values, shared by the environment and the config file. Each returns the
//! "what was expected" half of an error message; the caller adds the setting and the value.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What a value should have been (`an integer from 1 to 100`): the "expected …" half of a
/// [`ConfigError`](super::ConfigError), which the caller completes with the setting and the
/// value it was given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Expected(Cow<'static, str>);

impl Expected {
    pub fn new(what: impl Into<Cow<'static, str>>) -> Expected {
        Expected(what.into())
    }
}

impl From<&'static str> for Expected {
    fn from(what: &'static str) -> Expected {
        Expected(Cow::Borrowed(what))
    }
}

impl From<String> for Expected {
    fn from(what: String) -> Expected {
        Expected(Cow::Owned(what))
    }
}

impl From<Expected> for String {
    fn from(e: Expected) -> String {
        e.0.into_owned()
    }
}

/// How often a target is probed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Interval {
    /// Probe once and exit (`PROBE_INTERVAL=-1`).
    Once,
    /// Probe every period.
    Every(Duration),
}

impl std::fmt::Display for Interval {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Interval::Once => f.write_str("-1 (once)"),
            Interval::Every(d) => write!(f, "{}s", d.as_secs_f64()),
        }
    }
}

/// How server certificates are checked.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TlsVerify {
    /// Against the built-in Mozilla roots.
    Yes,
    /// Not at all (the certificate's expiry is still reported).
    No,
    /// Against the certificates in a PEM bundle file.
    CaFile(PathBuf),
    /// Against every PEM certificate in a directory (such as an OpenSSL hashed directory).
    CaDir(PathBuf),
}

impl std::fmt::Display for TlsVerify {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TlsVerify::Yes => f.write_str("true"),
            TlsVerify::No => f.write_str("false"),
            TlsVerify::CaFile(p) | TlsVerify::CaDir(p) => write!(f, "{}", p.display()),
        }
    }
}

pub const BOOL_EXPECTED: &str = "a boolean (y/yes/true/1/on or n/no/false/0/off, any case)";

/// The original's boolean forms, in any case.
pub fn boolean(s: &str) -> Result<bool, Expected> {
    match s.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" | "true" | "1" | "on" => Ok(true),
        "n" | "no" | "false" | "0" | "off" => Ok(false),
        _ => Err(BOOL_EXPECTED.into()),
    }
}

/// `PROBE_TLS_VERIFY`: a boolean, or a CA bundle file, or a directory of CA certificates.
pub fn tls_verify(s: &str) -> Result<TlsVerify, Expected> {
    if let Ok(b) = boolean(s) {
        return Ok(if b { TlsVerify::Yes } else { TlsVerify::No });
    }
    let path = Path::new(s.trim());
    if path.is_file() {
        Ok(TlsVerify::CaFile(path.to_owned()))
    } else if path.is_dir() {
        Ok(TlsVerify::CaDir(path.to_owned()))
    } else {
        Err(Expected::new(format!(
            "{BOOL_EXPECTED}, or the path of an existing CA bundle file or directory"
        )))
    }
}

/// A positive duration: a number of seconds, fractions allowed (`2.5`), or a duration as Go
/// and Gatus write them (`500ms`, `5s`, `1m30s`, `1h`).
pub fn seconds(s: &str) -> Result<Duration, Expected> {
    const EXPECTED: &str =
        "a positive number of seconds (fractions allowed) or a duration such as 500ms, 5s, 1m30s";
    let s = s.trim();
    let v: f64 = match s.parse() {
        Ok(v) => v,
        Err(_) => duration_text(s).ok_or(EXPECTED)?,
    };
    // At least a millisecond: a shorter period would schedule a probe (or a push deadline)
    // on every pass of a loop.
    if v.is_finite() && (0.001..1e9).contains(&v) {
        Ok(Duration::from_secs_f64(v))
    } else {
        Err(EXPECTED.into())
    }
}

/// Seconds in a Go duration string (`1h2m3.5s`, `250ms`), and days (`14d`) beyond Go's;
/// `None` when it is not one.
fn duration_text(s: &str) -> Option<f64> {
    let mut rest = s;
    let mut total = 0.0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86400.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += number * scale;
    }
    Some(total)
}

/// `PROBE_INTERVAL`: positive seconds, or -1 for once.
pub fn interval(s: &str) -> Result<Interval, Expected> {
    const EXPECTED: &str = "a positive number of seconds (fractions allowed) or a duration such as 30s or 1m, \
                            or -1 to probe once";
    if s.trim().parse::<f64>() == Ok(-1.0) {
        return Ok(Interval::Once);
    }
    seconds(s).map(Interval::Every).map_err(|_| EXPECTED.into())
}

/// A non-negative integer within `max`.
pub fn integer(s: &str, min: u64, max: u64) -> Result<u64, Expected> {
    s.trim()
        .parse::<u64>()
        .ok()
        .filter(|v| (min..=max).contains(v))
        .ok_or_else(|| Expected::new(format!("an integer from {min} to {max}")))
}

/// A size in bytes: a plain number of bytes (`1000000`), or a number with a decimal (kB, MB,
/// GB, TB: powers of 1000) or binary (KiB, MiB, GiB, TiB: powers of 1024) unit, any case, with
/// or without a space (`2GB`, `500MiB`, `1.5 GiB`); at least `min` bytes.
pub fn byte_size(s: &str, min: u64) -> Result<u64, Expected> {
    let expected = || {
        Expected::new(format!(
            "a size of at least {}: bytes, or a number with a unit such as 2GB, 500MiB or 1.5 GiB \
             (kB, MB, GB, TB are powers of 1000; KiB, MiB, GiB, TiB of 1024)",
            human_bytes(min)
        ))
    };
    let s = s.trim();
    // parse-size also takes exponents and digit groups; a sign is not a size.
    if s.starts_with(['-', '+']) {
        return Err(expected());
    }
    parse_size::parse_size(s)
        .ok()
        .filter(|&n| n >= min)
        .ok_or_else(expected)
}

/// `n` bytes for people, in binary units: exact when a unit divides it (`10 MiB`), else to
/// three significant digits (`1.86 GiB`).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    let Some(i) = (0..UNITS.len())
        .rev()
        .find(|&i| n >= 1u64 << (10 * (i + 1)))
    else {
        return format!("{n} bytes");
    };
    let size = 1u64 << (10 * (i + 1));
    let v = n as f64 / size as f64;
    match v {
        _ if n.is_multiple_of(size) => format!("{} {}", n / size, UNITS[i]),
        v if v >= 100.0 => format!("{v:.0} {}", UNITS[i]),
        v if v >= 10.0 => format!("{v:.1} {}", UNITS[i]),
        v => format!("{v:.2} {}", UNITS[i]),
    }
}

/// `DISTRIBUTED_WORKERS_INDEX`: an integer, or a hostname whose last number is the index
/// (`uptimer-3` and `uptimer2-3` are both 3), as a StatefulSet names its pods.
pub fn worker_index(s: &str) -> Result<u64, Expected> {
    const EXPECTED: &str = "an integer, or a hostname ending in a number such as uptimer-3";
    let s = s.trim();
    let end = s.rfind(|c: char| c.is_ascii_digit()).ok_or(EXPECTED)?;
    let start = s[..=end]
        .rfind(|c: char| !c.is_ascii_digit())
        .map_or(0, |i| i + 1);
    s[start..=end].parse().map_err(|_| EXPECTED.into())
}

/// The levels `LOG_LEVEL` takes, in the words of an error message.
pub const LOG_LEVELS_EXPECTED: &str = "a level (error, warn, info, debug, trace or off; warning is warn) \
     or a tracing filter of target=level directives such as info,uptimer=debug";

/// `LOG_LEVEL`: a level or a tracing filter, lower-cased, with the original's (Python's) level
/// names `warning` and `critical` turned into `warn` and `error`.
///
/// A bare word that is not a level is an error rather than a target directive: tracing would
/// read `LOG_LEVEL=warning` as "everything from a module named warning" and log nothing else,
/// not even that the database is unreachable.
pub fn log_level(s: &str) -> Result<String, Expected> {
    const LEVELS: &[&str] = &["error", "warn", "info", "debug", "trace", "off"];
    let level = |l: &str| match l {
        "warning" => Some("warn".to_owned()),
        "critical" => Some("error".to_owned()),
        l if LEVELS.contains(&l) => Some(l.to_owned()),
        _ => None,
    };
    let mut directives = Vec::new();
    for d in s.trim().to_ascii_lowercase().split(',').map(str::trim) {
        if d.is_empty() {
            continue;
        }
        let d = match d.rsplit_once('=') {
            // `[span]` alone is a directive of its own; any other bare word must be a level.
            _ if d.starts_with('[') && d.ends_with(']') => d.to_owned(),
            Some((target, l)) => {
                format!("{target}={}", level(l.trim()).ok_or(LOG_LEVELS_EXPECTED)?)
            }
            None => level(d).ok_or(LOG_LEVELS_EXPECTED)?,
        };
        directives.push(d);
    }
    if directives.is_empty() {
        return Err(LOG_LEVELS_EXPECTED.into());
    }
    let filter = directives.join(",");
    tracing_subscriber::EnvFilter::try_new(&filter).map_err(|_| LOG_LEVELS_EXPECTED)?;
    Ok(filter)
}

/// A list setting: a single string, a JSON/YAML flow list, a YAML block list or a TOML array,
/// as the original parsed `PROBE_URLS` with YAML. Empty means an empty list.
pub fn list(s: &str) -> Result<Vec<String>, Expected> {
    const EXPECTED: &str = "a single value, or a list ([a, b], a YAML block list, or a TOML array)";
    if s.trim().is_empty() {
        return Ok(Vec::new());
    }
    match serde_yaml_ng::from_str::<serde_yaml_ng::Value>(s) {
        Ok(serde_yaml_ng::Value::Null) => Ok(Vec::new()),
        Ok(serde_yaml_ng::Value::Sequence(items)) => items
            .into_iter()
            .map(|v| scalar(v).ok_or(EXPECTED.into()))
            .collect(),
        Ok(v) => Ok(vec![scalar(v).ok_or(EXPECTED)?]),
        // Not YAML: a TOML array, else the string itself (e.g. a regex such as `[a-z]+ ok`).
        Err(_) => match toml::from_str::<toml::Table>(&format!("v = {s}")) {
            Ok(t) => match t.get("v") {
                Some(toml::Value::Array(items)) => items
                    .iter()
                    .map(|v| v.as_str().map(str::to_owned).ok_or(EXPECTED.into()))
                    .collect(),
                _ => Ok(vec![s.trim().to_owned()]),
            },
            Err(_) => Ok(vec![s.trim().to_owned()]),
        },
    }
}

fn scalar(v: serde_yaml_ng::Value) -> Option<String> {
    match v {
        serde_yaml_ng::Value::String(s) => Some(s),
        serde_yaml_ng::Value::Number(n) => Some(n.to_string()),
        serde_yaml_ng::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_in_the_original_forms_and_any_case() {
        for t in ["y", "YES", "True", "1", "on"] {
            assert_eq!(boolean(t), Ok(true), "{t}");
        }
        for f in ["n", "No", "FALSE", "0", "off"] {
            assert_eq!(boolean(f), Ok(false), "{f}");
        }
        assert!(boolean("maybe").is_err());
    }

    #[test]
    fn intervals_accept_fractions_and_minus_one_and_reject_zero() {
        assert_eq!(interval("-1"), Ok(Interval::Once));
        assert_eq!(
            interval("0.5"),
            Ok(Interval::Every(Duration::from_millis(500)))
        );
        assert_eq!(interval("10"), Ok(Interval::Every(Duration::from_secs(10))));
        for bad in ["0", "-2", "ten", "", "nan", "inf"] {
            assert!(interval(bad).is_err(), "{bad}");
        }
        assert!(seconds("0").is_err());
        assert_eq!(seconds("2.5"), Ok(Duration::from_millis(2500)));
    }

    #[test]
    fn byte_sizes_take_decimal_and_binary_units_in_any_case_with_or_without_a_space() {
        let ok = [
            ("1000000", 1_000_000),
            ("2GB", 2_000_000_000),
            ("2 gb", 2_000_000_000),
            ("500MiB", 500 << 20),
            ("500 mib", 500 << 20),
            ("1.5 GiB", 3 << 29),
            ("1.5GIB", 3 << 29),
            ("20000kB", 20_000_000),
            ("20000 KiB", 20_000 << 10),
            ("1TB", 1_000_000_000_000),
            ("2 TiB", 2 << 40),
            (" 64 MB ", 64_000_000),
        ];
        for (text, bytes) in ok {
            assert_eq!(byte_size(text, 0), Ok(bytes), "{text}");
        }
        for bad in [
            "", "ten", "2 GX", "-1GB", "+1GB", "GB", "1.5.0 GB", "1 GB 2",
        ] {
            assert!(byte_size(bad, 0).is_err(), "{bad}");
        }
        assert!(byte_size("9MiB", 10 << 20).is_err());
        assert_eq!(byte_size("10MiB", 10 << 20), Ok(10 << 20));
        assert!(
            byte_size("1MB", 10 << 20)
                .unwrap_err()
                .to_string()
                .starts_with("a size of at least 10 MiB: bytes, or a number with a unit")
        );
        assert_eq!(human_bytes(10 << 20), "10 MiB");
        assert_eq!(human_bytes(3 << 29), "1.50 GiB");
        assert_eq!(human_bytes(2_000_000_000), "1.86 GiB");
        assert_eq!(human_bytes(123_456_789), "118 MiB");
        assert_eq!(human_bytes(1000), "1000 bytes");
    }

    #[test]
    fn worker_index_takes_the_last_number_of_a_hostname() {
        assert_eq!(worker_index("3"), Ok(3));
        assert_eq!(worker_index("uptimer-3"), Ok(3));
        assert_eq!(worker_index("uptimer2-3"), Ok(3));
        assert_eq!(worker_index("uptimer-12.svc"), Ok(12));
        assert!(worker_index("uptimer").is_err());
    }

    #[test]
    fn lists_in_every_form() {
        let two = vec![
            "https://a.example/".to_owned(),
            "http://b.example".to_owned(),
        ];
        assert_eq!(
            list("https://a.example/").unwrap(),
            vec!["https://a.example/"]
        );
        assert_eq!(list("[https://a.example/, http://b.example]").unwrap(), two);
        assert_eq!(
            list(r#"["https://a.example/", "http://b.example"]"#).unwrap(),
            two
        );
        assert_eq!(
            list("- https://a.example/\n- http://b.example\n").unwrap(),
            two
        );
        assert_eq!(
            list("['https://a.example/', 'http://b.example']").unwrap(),
            two
        );
        assert_eq!(list("").unwrap(), Vec::<String>::new());
        assert_eq!(list("[a-z]+ ok").unwrap(), vec!["[a-z]+ ok"]);
        assert!(list("[[1, 2]]").is_err());
    }

    #[test]
    fn tls_verify_takes_booleans_or_existing_paths() {
        assert_eq!(tls_verify("Y"), Ok(TlsVerify::Yes));
        assert_eq!(tls_verify("false"), Ok(TlsVerify::No));
        let dir = std::env::temp_dir();
        assert_eq!(
            tls_verify(dir.to_str().unwrap()),
            Ok(TlsVerify::CaDir(dir.clone()))
        );
        assert_eq!(
            tls_verify("/nonexistent/ca.pem").unwrap_err().to_string(),
            format!("{BOOL_EXPECTED}, or the path of an existing CA bundle file or directory")
        );
    }

    #[test]
    fn expectations_read_as_the_second_half_of_a_sentence() {
        assert_eq!(
            integer("0", 1, 100),
            Err(Expected::new("an integer from 1 to 100"))
        );
        assert_eq!(
            seconds("ten").unwrap_err().to_string(),
            "a positive number of seconds (fractions allowed) or a duration such as 500ms, 5s, 1m30s"
        );
        assert_eq!(seconds("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(seconds("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(seconds(" 2h "), Ok(Duration::from_secs(7200)));
        assert_eq!(seconds("1.5"), Ok(Duration::from_millis(1500)));
        for bad in ["5x", "s", "1m-2s", "0s", "", "-5s", "5 s"] {
            assert!(seconds(bad).is_err(), "{bad}");
        }
        assert_eq!(boolean("maybe").unwrap_err().to_string(), BOOL_EXPECTED);
        assert_eq!(log_level("").unwrap_err().to_string(), LOG_LEVELS_EXPECTED);
        // The caller completes the sentence with the setting and the value.
        let e = super::super::ConfigError::new(
            "PROBE_MAX_REDIRECTS",
            "x",
            integer("x", 0, 100).unwrap_err(),
        );
        assert_eq!(
            e.to_string(),
            "PROBE_MAX_REDIRECTS: expected an integer from 0 to 100, got \"x\""
        );
    }
}
