//! `pat()`: Gatus's `pattern.Match`, which removes every `/` from the pattern and the text and
//! hands them to Go's `path/filepath.Match` (`*`, `?`, `[a-z]`, `[^…]`, `\` escapes). Written
//! to match the same texts as Go's, malformed patterns included; like Go's, it commits to the
//! first place a chunk after a `*` fits, so it takes time proportional to pattern × text, never
//! exponential.

/// Gatus's `pattern.Match(pattern, s)`: a malformed pattern matches nothing.
pub(super) fn matches(pattern: &str, s: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let pattern = pattern.replace('/', "");
    let s = s.replace('/', "");
    go_match(pattern.as_bytes(), s.as_bytes())
}

const SEPARATOR: u8 = b'/';

/// Go's `filepath.Match` on Unix, as a bool: a malformed pattern is an error there, which
/// Gatus reads as no match.
fn go_match(mut pattern: &[u8], mut name: &[u8]) -> bool {
    'pattern: while !pattern.is_empty() {
        let (star, chunk, rest) = scan_chunk(pattern);
        pattern = rest;
        if star && chunk.is_empty() {
            // `*` at the end takes all that is left, if no separator is in it.
            return !name.contains(&SEPARATOR);
        }
        match match_chunk(chunk, name) {
            // The last chunk must use up the name; otherwise a later * may still match.
            Ok(Some(t)) if t.is_empty() || !pattern.is_empty() => {
                name = t;
                continue;
            }
            Err(BadPattern) => return false,
            Ok(_) => {}
        }
        if star {
            let mut i = 0;
            while i < name.len() && name[i] != SEPARATOR {
                match match_chunk(chunk, &name[i + 1..]) {
                    Ok(Some(t)) => {
                        if pattern.is_empty() && !t.is_empty() {
                            i += 1;
                            continue;
                        }
                        name = t;
                        continue 'pattern;
                    }
                    Err(BadPattern) => return false,
                    Ok(None) => {}
                }
                i += 1;
            }
        }
        return false;
    }
    name.is_empty()
}

struct BadPattern;

/// The next segment of the pattern: a string without `*` (outside `[…]`), and whether stars
/// came before it.
fn scan_chunk(mut pattern: &[u8]) -> (bool, &[u8], &[u8]) {
    let mut star = false;
    while let Some(rest) = pattern.strip_prefix(b"*") {
        pattern = rest;
        star = true;
    }
    let mut in_range = false;
    let mut i = 0;
    while i < pattern.len() {
        match pattern[i] {
            // An escape at the very end is reported by match_chunk.
            b'\\' if i + 1 < pattern.len() => i += 1,
            b'[' => in_range = true,
            b']' => in_range = false,
            b'*' if !in_range => break,
            _ => {}
        }
        i += 1;
    }
    (star, &pattern[..i], &pattern[i..])
}

/// Whether `chunk` (no `*`) matches the start of `s`: `Some(rest of s)` when it does. The
/// whole chunk is read even after a mismatch, so that a malformed chunk is always an error.
fn match_chunk<'s>(mut chunk: &[u8], mut s: &'s [u8]) -> Result<Option<&'s [u8]>, BadPattern> {
    let mut failed = false;
    while let Some(&c) = chunk.first() {
        if !failed && s.is_empty() {
            failed = true;
        }
        match c {
            b'[' => {
                let mut r = 0u32;
                if !failed {
                    let (rune, n) = decode_rune(s);
                    r = rune;
                    s = &s[n..];
                }
                chunk = &chunk[1..];
                let mut negated = false;
                if let Some(rest) = chunk.strip_prefix(b"^") {
                    negated = true;
                    chunk = rest;
                }
                let mut matched = false;
                let mut ranges = 0;
                loop {
                    if ranges > 0 && chunk.first() == Some(&b']') {
                        chunk = &chunk[1..];
                        break;
                    }
                    let (lo, rest) = get_esc(chunk)?;
                    chunk = rest;
                    let mut hi = lo;
                    if chunk[0] == b'-' {
                        let (h, rest) = get_esc(&chunk[1..])?;
                        hi = h;
                        chunk = rest;
                    }
                    if lo <= r && r <= hi {
                        matched = true;
                    }
                    ranges += 1;
                }
                if matched == negated {
                    failed = true;
                }
            }
            b'?' => {
                if !failed {
                    if s[0] == SEPARATOR {
                        failed = true;
                    }
                    let (_, n) = decode_rune(s);
                    s = &s[n..];
                }
                chunk = &chunk[1..];
            }
            _ => {
                if c == b'\\' {
                    chunk = &chunk[1..];
                    if chunk.is_empty() {
                        return Err(BadPattern);
                    }
                }
                if !failed {
                    if chunk[0] != s[0] {
                        failed = true;
                    }
                    s = &s[1..];
                }
                chunk = &chunk[1..];
            }
        }
    }
    Ok((!failed).then_some(s))
}

/// A possibly escaped character of a class, and the rest of the chunk (which must go on).
fn get_esc(mut chunk: &[u8]) -> Result<(u32, &[u8]), BadPattern> {
    match chunk.first() {
        None | Some(b'-' | b']') => return Err(BadPattern),
        Some(b'\\') => {
            chunk = &chunk[1..];
            if chunk.is_empty() {
                return Err(BadPattern);
            }
        }
        Some(_) => {}
    }
    let (r, n) = decode_rune(chunk);
    if r == 0xFFFD && n == 1 {
        return Err(BadPattern);
    }
    let rest = &chunk[n..];
    if rest.is_empty() {
        return Err(BadPattern);
    }
    Ok((r, rest))
}

/// Go's `utf8.DecodeRune`: the character at the start of `s` (not empty) and its length, or
/// U+FFFD and 1 for a byte that does not start a valid sequence (a `*` may skip into the middle
/// of a character, as Go's does).
fn decode_rune(s: &[u8]) -> (u32, usize) {
    let len = match s[0] {
        0x00..=0x7F => return (u32::from(s[0]), 1),
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => return (0xFFFD, 1),
    };
    match s.get(..len).map(std::str::from_utf8) {
        Some(Ok(text)) => (text.chars().next().map_or(0xFFFD, u32::from), len),
        _ => (0xFFFD, 1),
    }
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn patterns_match_as_gatus_matches_them() {
        let cases: &[(&str, &str, bool)] = &[
            ("*", "anything/at all", true),
            ("*john*", r#"{"name": "john.doe"}"#, true),
            ("john*", "john.doe", true),
            ("bob*", "john.doe", false),
            ("10.*", "10.0.0.0", true),
            ("10.*", "255.255.255.255", false),
            ("4*", "404", true),
            ("4?4", "404", true),
            ("4?4", "4004", false),
            ("*.json", "a/b.json", true),
            ("*/b", "a/b", true),
            ("[0-9][0-9][0-9]", "200", true),
            ("[^0-9]*", "200", false),
            ("[a-c]x", "bx", true),
            ("\\*", "*", true),
            ("\\*", "a", false),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "aXbYcZ", false),
            ("*c", "abcbc", true),
            ("é?", "éà", true),
            ("[é]", "é", true),
            // Malformed patterns match nothing, even where a prefix would.
            ("[", "[", false),
            ("a[", "a", false),
            ("[]", "]", false),
            ("[a-]", "a", false),
            ("a\\", "a", false),
            ("*[", "x", false),
        ];
        for (pattern, text, want) in cases {
            assert_eq!(matches(pattern, text), *want, "{pattern:?} on {text:?}");
        }
    }

    #[test]
    fn a_long_pattern_on_a_long_text_takes_linear_steps_per_star() {
        let text = "a".repeat(20_000);
        let pattern = format!("*{}b*", "a".repeat(50));
        assert!(!matches(&pattern, &text));
    }
}
