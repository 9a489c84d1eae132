//! The parts of Go's standard library whose exact behaviour Gatus's conditions inherit: how
//! `strconv.ParseInt(s, 0, 64)`, `time.ParseDuration` and `strconv.ParseFloat` read numbers, and
//! how `fmt`'s `%v` and `encoding/json` write the values of a parsed JSON body. Written to give
//! Go's results, corner cases included, so that `[BODY].count == 1e+06` and `[BODY] > 0x1F`
//! mean here what they mean in Gatus.

use std::borrow::Cow;

use crate::json::Json;

/// Go's `strconv.ParseInt(s, 0, 64)`: an optional sign, then `0x`/`0o`/`0b` (any case) or a
/// leading `0` (octal) or decimal digits, `_` between digits; `None` on a syntax or range error.
pub(super) fn parse_int(s: &str) -> Option<i64> {
    let (neg, unsigned) = match s.as_bytes().first()? {
        b'+' => (false, &s[1..]),
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    let n = parse_uint_base0(unsigned)?;
    const CUTOFF: u64 = 1 << 63;
    match (neg, n) {
        (false, n) if n >= CUTOFF => None,
        (true, n) if n > CUTOFF => None,
        // -(1 << 63) is i64::MIN, which wrapping_neg leaves as it is.
        (true, n) => Some((n as i64).wrapping_neg()),
        (false, n) => Some(n as i64),
    }
}

/// Go's `strconv.ParseUint(s, 0, 64)`.
fn parse_uint_base0(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.is_empty() {
        return None;
    }
    let (base, digits): (u64, &[u8]) = if b[0] == b'0' {
        match b.get(1).map(u8::to_ascii_lowercase) {
            Some(b'b') if b.len() >= 3 => (2, &b[2..]),
            Some(b'o') if b.len() >= 3 => (8, &b[2..]),
            Some(b'x') if b.len() >= 3 => (16, &b[2..]),
            _ => (8, &b[1..]),
        }
    } else {
        (10, b)
    };
    let mut n: u64 = 0;
    let mut underscores = false;
    for &c in digits {
        let d = match c {
            b'_' => {
                underscores = true;
                continue;
            }
            b'0'..=b'9' => c - b'0',
            c if c.is_ascii_alphabetic() => c.to_ascii_lowercase() - b'a' + 10,
            _ => return None,
        };
        if u64::from(d) >= base {
            return None;
        }
        n = n.checked_mul(base)?.checked_add(u64::from(d))?;
    }
    if underscores && !underscore_ok(s) {
        return None;
    }
    Some(n)
}

/// Go's `strconv.underscoreOK`: underscores only between digits, or between a base prefix and a
/// digit.
fn underscore_ok(s: &str) -> bool {
    let mut s = s.as_bytes();
    if let Some(b'-' | b'+') = s.first() {
        s = &s[1..];
    }
    // What was seen last: b'^' the start, b'0' a digit or base prefix, b'_' an underscore,
    // b'!' anything else.
    let mut saw = b'^';
    let mut i = 0;
    let mut hex = false;
    if s.len() >= 2 && s[0] == b'0' && matches!(s[1].to_ascii_lowercase(), b'b' | b'o' | b'x') {
        i = 2;
        saw = b'0';
        hex = s[1].eq_ignore_ascii_case(&b'x');
    }
    while i < s.len() {
        let c = s[i];
        i += 1;
        if c.is_ascii_digit() || hex && c.is_ascii_hexdigit() {
            saw = b'0';
            continue;
        }
        if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
            continue;
        }
        if saw == b'_' {
            return false;
        }
        saw = b'!';
    }
    saw != b'_'
}

/// Go's `time.ParseDuration`, in nanoseconds: `300ms`, `-1.5h`, `2h45m`; units `ns`, `us`
/// (`µs`, `μs`), `ms`, `s`, `m`, `h`; a bare `0` is zero, any other number needs a unit.
pub(super) fn parse_duration(s: &str) -> Option<i64> {
    const MAX: u64 = 1 << 63;
    let mut s = s.as_bytes();
    let mut neg = false;
    if let Some(&c @ (b'-' | b'+')) = s.first() {
        neg = c == b'-';
        s = &s[1..];
    }
    if s == b"0" {
        return Some(0);
    }
    if s.is_empty() {
        return None;
    }
    let mut d: u64 = 0;
    while !s.is_empty() {
        if !(s[0] == b'.' || s[0].is_ascii_digit()) {
            return None;
        }
        let before = s.len();
        let (mut v, rest) = leading_int(s)?;
        s = rest;
        let pre = before != s.len();
        let (mut f, mut scale, mut post) = (0u64, 1f64, false);
        if let Some(rest) = s.strip_prefix(b".") {
            let before = rest.len();
            let (ff, sc, rest) = leading_fraction(rest);
            (f, scale, post) = (ff, sc, before != rest.len());
            s = rest;
        }
        if !pre && !post {
            return None;
        }
        let unit_len = s
            .iter()
            .position(|&c| c == b'.' || c.is_ascii_digit())
            .unwrap_or(s.len());
        if unit_len == 0 {
            return None;
        }
        let unit: u64 = match &s[..unit_len] {
            b"ns" => 1,
            b"us" | b"\xC2\xB5s" | b"\xCE\xBCs" => 1_000,
            b"ms" => 1_000_000,
            b"s" => 1_000_000_000,
            b"m" => 60_000_000_000,
            b"h" => 3_600_000_000_000,
            _ => return None,
        };
        s = &s[unit_len..];
        if v > MAX / unit {
            return None;
        }
        v *= unit;
        if f > 0 {
            // The fraction goes through a float64, as in Go (exact to the nanosecond in hours).
            v += (f as f64 * (unit as f64 / scale)) as u64;
            if v > MAX {
                return None;
            }
        }
        d = d.wrapping_add(v);
        if d > MAX {
            return None;
        }
    }
    if neg {
        return Some((d as i64).wrapping_neg());
    }
    if d > MAX - 1 {
        return None;
    }
    Some(d as i64)
}

fn leading_int(s: &[u8]) -> Option<(u64, &[u8])> {
    let mut x: u64 = 0;
    let mut i = 0;
    while let Some(&c) = s.get(i).filter(|c| c.is_ascii_digit()) {
        if x > (1 << 63) / 10 {
            return None;
        }
        x = x * 10 + u64::from(c - b'0');
        if x > 1 << 63 {
            return None;
        }
        i += 1;
    }
    Some((x, &s[i..]))
}

fn leading_fraction(s: &[u8]) -> (u64, f64, &[u8]) {
    let (mut x, mut scale, mut overflow) = (0u64, 1f64, false);
    let mut i = 0;
    while let Some(&c) = s.get(i).filter(|c| c.is_ascii_digit()) {
        i += 1;
        if overflow {
            continue;
        }
        if x > ((1 << 63) - 1) / 10 {
            overflow = true;
            continue;
        }
        let y = x * 10 + u64::from(c - b'0');
        if y > 1 << 63 {
            overflow = true;
            continue;
        }
        x = y;
        scale *= 10.0;
    }
    (x, scale, &s[i..])
}

/// Go's `strconv.ParseFloat(s, 64)` for decimal numbers (`1.5`, `.5`, `1e3`, `1_000.5`, `Inf`,
/// `NaN`); `None` where Go returns an error, out of range included. Hexadecimal floats
/// (`0x1p-2`) are not read: Gatus reads `0x…` integers before it tries floats.
pub(super) fn parse_float(s: &str) -> Option<f64> {
    let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
    if unsigned.len() != s.len() && unsigned.eq_ignore_ascii_case("nan") {
        return None; // Go reads NaN without a sign only
    }
    let parsed = if s.contains('_') {
        if !underscore_ok(s) {
            return None;
        }
        s.replace('_', "").parse::<f64>().ok()?
    } else {
        s.parse::<f64>().ok()?
    };
    // Rust reads 1e400 as infinity; Go reports it out of range.
    if parsed.is_infinite() && !unsigned.to_ascii_lowercase().starts_with("inf") {
        return None;
    }
    Some(parsed)
}

/// Go's `int64(f)` as amd64 computes it: truncation toward zero, and the smallest i64 for NaN
/// and for values out of range.
pub(super) fn float_to_int(f: f64) -> i64 {
    const TWO_TO_63: f64 = 9_223_372_036_854_775_808.0;
    if !(-TWO_TO_63..TWO_TO_63).contains(&f) {
        i64::MIN
    } else {
        f as i64
    }
}

/// The shortest decimal digits that read back as `f` (without sign) and the position of the
/// decimal point, as Go's `ryuFtoaShortest` gives them: 1234.5 is ("12345", 4); zero has none.
fn shortest_digits(f: f64) -> (Vec<u8>, i32) {
    if f == 0.0 {
        return (Vec::new(), 0);
    }
    // Rust's `{:e}` prints the same shortest round-trip digits: "1.2345e3".
    let s = format!("{:e}", f.abs());
    let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits = mantissa.bytes().filter(|&b| b != b'.').collect();
    (digits, exp + 1)
}

/// Go's `fmtE`: d.ddddde±dd with `prec` digits after the point.
fn fmt_e(out: &mut String, digits: &[u8], dp: i32, prec: i32) {
    out.push(digits.first().map_or('0', |&d| d as char));
    if prec > 0 {
        out.push('.');
        let mut i = 1;
        let m = digits.len().min(prec as usize + 1);
        if i < m {
            out.extend(digits[i..m].iter().map(|&d| d as char));
            i = m;
        }
        while i <= prec as usize {
            out.push('0');
            i += 1;
        }
    }
    out.push('e');
    let mut exp = if digits.is_empty() { 0 } else { dp - 1 };
    if exp < 0 {
        out.push('-');
        exp = -exp;
    } else {
        out.push('+');
    }
    if exp < 10 {
        out.push('0');
    }
    out.push_str(&exp.to_string());
}

/// Go's `fmtF`: ddd.ddd with `prec` digits after the point.
fn fmt_f(out: &mut String, digits: &[u8], dp: i32, prec: i32) {
    if dp > 0 {
        let m = digits.len().min(dp as usize);
        out.extend(digits[..m].iter().map(|&d| d as char));
        for _ in m..dp as usize {
            out.push('0');
        }
    } else {
        out.push('0');
    }
    if prec > 0 {
        out.push('.');
        for i in 0..prec {
            let j = dp + i;
            let ch = if j >= 0 && (j as usize) < digits.len() {
                digits[j as usize] as char
            } else {
                '0'
            };
            out.push(ch);
        }
    }
}

/// `fmt.Sprintf("%v", f)` for a float64: the shortest digits, with an exponent when it is below
/// -4 or at least 6 (`1e+06`, `1.5e-05`, `123456`, `0.0001`).
pub(super) fn format_float(f: f64) -> String {
    let (digits, dp) = shortest_digits(f);
    let nd = digits.len() as i32;
    let mut out = String::new();
    if f.is_sign_negative() {
        out.push('-');
    }
    if !(-4..6).contains(&(dp - 1)) {
        fmt_e(&mut out, &digits, dp, nd - 1);
    } else {
        fmt_f(&mut out, &digits, dp, (nd - dp).max(0));
    }
    out
}

/// `encoding/json`'s float64: plain digits, an exponent below 1e-6 or from 1e21 on (`1e-7`,
/// `1e+21`).
fn format_json_float(out: &mut String, f: f64) {
    let (digits, dp) = shortest_digits(f);
    let nd = digits.len() as i32;
    if f.is_sign_negative() {
        out.push('-');
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let start = out.len();
        fmt_e(out, &digits, dp, (nd - 1).max(0));
        // As Go: e-07 becomes e-7.
        let tail = &out[start..];
        if tail.len() >= 4 && tail.as_bytes()[tail.len() - 4..tail.len() - 1] == *b"e-0" {
            out.remove(out.len() - 2);
        }
    } else {
        fmt_f(out, &digits, dp, (nd - dp).max(0));
    }
}

/// `fmt.Sprintf("%v", v)` for what `json.Unmarshal` gives into an `interface{}`: `[a b]` for
/// arrays, `map[k:v]` with sorted keys for objects, `<nil>` for null.
pub(super) fn sprint(v: &Json, out: &mut String) {
    match v {
        Json::Null => out.push_str("<nil>"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Int(_) | Json::Float(_) => out.push_str(&format_float(v.as_f64().unwrap_or(0.0))),
        Json::String(s) => out.push_str(s),
        Json::Array(items) => sprint_array(items, out),
        Json::Object(members) => {
            out.push_str("map[");
            for (i, (k, v)) in sorted(members).into_iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(k);
                out.push(':');
                sprint(v, out);
            }
            out.push(']');
        }
    }
}

/// `fmt.Sprintf("%v", a)` for a `[]interface{}`.
pub(super) fn sprint_array(items: &[Json], out: &mut String) {
    out.push('[');
    for (i, v) in items.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        sprint(v, out);
    }
    out.push(']');
}

/// `json.Marshal` of what `json.Unmarshal` gave: compact, object keys sorted, `<`, `>` and `&`
/// escaped as Go escapes them for HTML.
pub(super) fn marshal(v: &Json, out: &mut String) {
    match v {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Int(_) | Json::Float(_) => format_json_float(out, v.as_f64().unwrap_or(0.0)),
        Json::String(s) => marshal_str(s, out),
        Json::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                marshal(v, out);
            }
            out.push(']');
        }
        Json::Object(members) => marshal_object(members, out),
    }
}

/// `json.Marshal` of a `map[string]interface{}`.
pub(super) fn marshal_object(members: &[(Cow<'_, str>, Json<'_>)], out: &mut String) {
    out.push('{');
    for (i, (k, v)) in sorted(members).into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        marshal_str(k, out);
        out.push(':');
        marshal(v, out);
    }
    out.push('}');
}

/// An object's members sorted by key, each key once with its last value: the order in which Go
/// prints and marshals a map.
fn sorted<'v, 'a>(members: &'v [(Cow<'a, str>, Json<'a>)]) -> Vec<&'v (Cow<'a, str>, Json<'a>)> {
    let mut entries: Vec<_> = members.iter().collect();
    // Stable: of equal keys the last one stays last, and is the one kept.
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let mut kept: Vec<&(Cow<'a, str>, Json<'a>)> = Vec::with_capacity(entries.len());
    for e in entries {
        match kept.last_mut() {
            Some(last) if last.0 == e.0 => *last = e,
            _ => kept.push(e),
        }
    }
    kept
}

fn marshal_str(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' | '"' => {
                out.push('\\');
                out.push(c);
            }
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || matches!(c, '<' | '>' | '&') => {
                let b = c as u32;
                out.push_str("\\u00");
                out.push(HEX[(b >> 4) as usize] as char);
                out.push(HEX[(b & 0xF) as usize] as char);
            }
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// How Gatus shows a number of milliseconds that stands for a duration (certificate
/// expiration, `48h`): Go's `Duration.String()` of the whole seconds, without the zero
/// components at its end (`336h`, `1h30m`, `1h0m15s`, `0s`).
///
/// Gatus trims the text's trailing `0s` and then `0m`, which also eats the zero of `10s` or of
/// `1h30m` (it shows `1` and `1h3`); this trims whole components only.
pub(super) fn format_duration_ms(ms: i64) -> String {
    const NS_PER_S: i64 = 1_000_000_000;
    // Go multiplies by time.Millisecond in int64 and wraps; truncates toward zero to seconds.
    let ns = ms.wrapping_mul(1_000_000);
    let ns = ns - ns % NS_PER_S;
    if ns == 0 {
        return "0s".to_owned();
    }
    let secs = ns.unsigned_abs() / NS_PER_S as u64;
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let sign = if ns < 0 { "-" } else { "" };
    match (h, m, s) {
        (0, 0, s) => format!("{sign}{s}s"),
        (0, m, 0) => format!("{sign}{m}m"),
        (0, m, s) => format!("{sign}{m}m{s}s"),
        (h, 0, 0) => format!("{sign}{h}h"),
        (h, m, 0) => format!("{sign}{h}h{m}m"),
        (h, m, s) => format!("{sign}{h}h{m}m{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_int_reads_go_integer_literals() {
        let cases: &[(&str, Option<i64>)] = &[
            ("0", Some(0)),
            ("200", Some(200)),
            ("+7", Some(7)),
            ("-7", Some(-7)),
            ("0x1F", Some(31)),
            ("0XC0ff33", Some(12_648_243)),
            ("0o17", Some(15)),
            ("017", Some(15)),
            ("0b0010", Some(2)),
            ("1_000", Some(1000)),
            ("0x_1F", Some(31)),
            ("9223372036854775807", Some(i64::MAX)),
            ("-9223372036854775808", Some(i64::MIN)),
            ("9223372036854775808", None),
            ("", None),
            ("-", None),
            ("0x", None),
            ("08", None),
            ("1__0", None),
            ("_1", None),
            ("1_", None),
            ("1.5", None),
            (" 1", None),
            ("1e3", None),
            ("UP", None),
        ];
        for (s, want) in cases {
            assert_eq!(parse_int(s), *want, "{s:?}");
        }
    }

    #[test]
    fn parse_duration_reads_go_durations() {
        let ms = 1_000_000i64;
        let cases: &[(&str, Option<i64>)] = &[
            ("0", Some(0)),
            ("-0", Some(0)),
            ("1s", Some(1000 * ms)),
            ("500ms", Some(500 * ms)),
            ("48h", Some(48 * 3600 * 1000 * ms)),
            ("1h30m", Some(90 * 60 * 1000 * ms)),
            ("1.5h", Some(90 * 60 * 1000 * ms)),
            ("-1.5s", Some(-1500 * ms)),
            (".5s", Some(500 * ms)),
            ("1.s", Some(1000 * ms)),
            ("100us", Some(100_000)),
            ("100µs", Some(100_000)),
            ("100μs", Some(100_000)),
            ("3ns", Some(3)),
            ("0s", Some(0)),
            ("2562047h47m16.854775807s", Some(i64::MAX)),
            ("2562047h47m16.854775808s", None),
            ("-2562047h47m16.854775808s", Some(i64::MIN)),
            ("", None),
            ("1", None),
            ("500", None),
            ("1d", None),
            ("1h30", None),
            (".s", None),
            ("s", None),
            ("potato", None),
            ("0x10", None),
        ];
        for (s, want) in cases {
            assert_eq!(parse_duration(s), *want, "{s:?}");
        }
    }

    #[test]
    fn parse_float_reads_what_go_reads() {
        assert_eq!(
            parse_float("123.40000000000005"),
            Some(123.400_000_000_000_05)
        );
        assert_eq!(parse_float("1e3"), Some(1000.0));
        assert_eq!(parse_float(".5"), Some(0.5));
        assert_eq!(parse_float("1_000.5"), Some(1000.5));
        assert_eq!(parse_float("-Inf"), Some(f64::NEG_INFINITY));
        assert!(parse_float("NaN").is_some_and(f64::is_nan));
        assert_eq!(parse_float("+NaN"), None);
        assert_eq!(parse_float("1e400"), None);
        assert_eq!(parse_float("1__0.5"), None);
        assert_eq!(parse_float("potato"), None);
        assert_eq!(parse_float(""), None);
        assert_eq!(float_to_int(123.9), 123);
        assert_eq!(float_to_int(-123.9), -123);
        assert_eq!(float_to_int(f64::NAN), i64::MIN);
        assert_eq!(float_to_int(1e30), i64::MIN);
    }

    #[test]
    fn format_float_writes_as_go_percent_v() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0, "-0"),
            (1.0, "1"),
            (18.0, "18"),
            (-2.5, "-2.5"),
            (123456.0, "123456"),
            (1e6, "1e+06"),
            (1234567.0, "1.234567e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (123.400_000_000_000_05, "123.40000000000005"),
            (1.2345678901234567e19, "1.2345678901234567e+19"),
            (1e100, "1e+100"),
            (5e-324, "5e-324"),
        ];
        for (f, want) in cases {
            assert_eq!(format_float(*f), *want, "{f}");
        }
    }

    #[test]
    fn a_map_is_written_in_key_order_with_the_last_of_repeated_keys() {
        let v = Json::parse(r#"{"b":1,"a":2,"b":3}"#).unwrap();
        let mut out = String::new();
        marshal(&v, &mut out);
        assert_eq!(out, r#"{"a":2,"b":3}"#);
        let mut out = String::new();
        sprint(&v, &mut out);
        assert_eq!(out, "map[a:2 b:3]");
    }

    #[test]
    fn marshal_writes_as_go_encoding_json() {
        let v = Json::parse(
            r#"{"b":[1,2.5,1e21,1e-7,0.000001,100000000],"a":"<&>\"\\\n\u0001\u2028é","c":null,"d":{"z":true,"y":false}}"#,
        )
        .unwrap();
        let mut out = String::new();
        marshal(&v, &mut out);
        assert_eq!(
            out,
            r#"{"a":"\u003c\u0026\u003e\"\\\n\u0001\u2028é","b":[1,2.5,1e+21,1e-7,0.000001,100000000],"c":null,"d":{"y":false,"z":true}}"#
        );
        let mut out = String::new();
        sprint(&v, &mut out);
        assert_eq!(
            out,
            "map[a:<&>\"\\\n\u{1}\u{2028}é b:[1 2.5 1e+21 1e-07 1e-06 1e+08] c:<nil> d:map[y:false z:true]]"
        );
    }

    #[test]
    fn format_duration_ms_drops_zero_components_at_the_end() {
        let h = 3_600_000i64;
        let cases: &[(i64, &str)] = &[
            (0, "0s"),
            (999, "0s"),
            (10_000, "10s"),
            (60_000, "1m"),
            (20 * 60_000, "20m"),
            (61_000, "1m1s"),
            (24 * h, "24h"),
            (336 * h, "336h"),
            (h + 30 * 60_000, "1h30m"),
            (h + 15_000, "1h0m15s"),
            (h + 10 * 60_000 + 500, "1h10m"),
            (-5_000, "-5s"),
            (-h, "-1h"),
        ];
        for (ms, want) in cases {
            assert_eq!(format_duration_ms(*ms), *want, "{ms}");
        }
    }
}
