//! The one libpq connection-string parser: the URL form (`postgres://...`) or `key=value`
//! pairs (values may be single-quoted, with `\'` and `\\` escapes). Connecting and masking both
//! take a string apart here.

/// A connection string taken apart.
#[derive(Debug)]
pub(crate) enum ConnInfo {
    /// `postgres://` or `postgresql://`.
    Url(url::Url),
    /// `key=value ...`, values raw (quotes kept, see [`unquote`]).
    Pairs(Vec<(String, String)>),
}

/// Whether `s` is in the URL form.
pub(crate) fn is_url(s: &str) -> bool {
    s.starts_with("postgres://") || s.starts_with("postgresql://")
}

impl ConnInfo {
    pub(crate) fn parse(s: &str) -> Result<ConnInfo, String> {
        if is_url(s) {
            return url::Url::parse(s).map(ConnInfo::Url).map_err(|e| {
                format!("a libpq URL such as postgres://user:password@host:5432/db ({e})")
            });
        }
        match kv_tokens(s) {
            (pairs, None) => Ok(ConnInfo::Pairs(pairs)),
            (_, Some(e)) => Err(e),
        }
    }
}

/// The pairs of a `key=value ...` string up to the first thing that is not one, and whether
/// anything was left unread (for showing a broken string without what might be a secret).
pub(crate) fn leading_pairs(s: &str) -> (Vec<(String, String)>, bool) {
    let (pairs, error) = kv_tokens(s);
    (pairs, error.is_some())
}

/// Splits a `key=value ...` connection string into raw tokens (quotes kept), stopping at the
/// first error.
fn kv_tokens(s: &str) -> (Vec<(String, String)>, Option<String>) {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return (out, None);
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') {
            let e = format!("a libpq URL or key=value pairs (no '=' after {key})");
            return (out, Some(e));
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut raw = String::new();
        if chars.peek() == Some(&'\'') {
            raw.push(chars.next().unwrap_or('\''));
            let mut closed = false;
            while let Some(c) = chars.next() {
                raw.push(c);
                if c == '\\' {
                    if let Some(n) = chars.next() {
                        raw.push(n);
                    }
                } else if c == '\'' {
                    closed = true;
                    break;
                }
            }
            if !closed {
                let e = "a libpq URL or key=value pairs (unterminated quote)".to_owned();
                return (out, Some(e));
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                raw.push(c);
                chars.next();
            }
        }
        out.push((key, raw));
    }
}

/// A raw value without its quotes and escapes.
pub(crate) fn unquote(raw: &str) -> String {
    match raw.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
        Some(inner) => inner.replace("\\'", "'").replace("\\\\", "\\"),
        None => raw.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_keep_quoted_values_whole_and_bad_strings_say_why() {
        let ConnInfo::Pairs(p) = ConnInfo::parse("host = h  password='a \\'b' dbname=d").unwrap()
        else {
            panic!("not pairs");
        };
        let keys: Vec<&str> = p.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["host", "password", "dbname"]);
        assert_eq!(p[1].1, "'a \\'b'");
        assert_eq!(unquote(&p[1].1), "a 'b");
        assert!(
            ConnInfo::parse("host=h user")
                .unwrap_err()
                .contains("no '=' after user")
        );
        assert!(
            ConnInfo::parse("password='open")
                .unwrap_err()
                .contains("unterminated")
        );
        assert!(matches!(
            ConnInfo::parse("postgresql://u@h/d"),
            Ok(ConnInfo::Url(_))
        ));
    }
}
