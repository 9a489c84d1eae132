//! `${NAME}` references to environment variables, and the one scanner of `$` forms in
//! settings text.
//!
//! A fleet's target definitions travel to every location, so a secret in a header or a URL is
//! written as `${NAME}` and each prober resolves it from its own environment ([`resolve`]):
//! the secret itself never goes on the wire, and each location may hold its own. The strict
//! form reads only braced names of letters, digits and `_` (not starting with a digit); `$$`
//! is a literal `$`; any other `$` is kept as written (`$5`, `$NAME` without braces). An unset
//! variable is an error naming it, and so is a malformed `${…}`: a target probed with a hole
//! where its credentials should be would fail everywhere and look like an outage.
//!
//! Gatus files keep Gatus's own semantics (`gatus::expand_env`: `$NAME` too, an unset
//! variable is empty), read by the same scanner, [`pieces`].

/// A piece of text, as the scanner reads `$` in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Piece<'a> {
    /// Text with no `$` form in it (a lone `$` before no name included).
    Text(&'a str),
    /// `$$`: a literal `$`.
    Dollar,
    /// `${NAME}` (`braced`) or `$NAME`, with Go's `os.Expand` reading of the name (any text up
    /// to the `}` when braced); `raw` is the reference as written.
    Ref {
        name: &'a str,
        braced: bool,
        raw: &'a str,
    },
    /// `${` without its `}`, or `${}`: bad syntax, which Go drops.
    Bad(&'a str),
}

/// The pieces of `s`, in order.
pub(crate) fn pieces(s: &str) -> impl Iterator<Item = Piece<'_>> {
    let mut rest = s;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (piece, used) = match rest.find('$') {
            Some(0) => {
                let after = &rest[1..];
                if after.starts_with('$') {
                    (Piece::Dollar, 2)
                } else {
                    match shell_name(after) {
                        (Some(name), used) => (
                            Piece::Ref {
                                name,
                                braced: after.starts_with('{'),
                                raw: &rest[..1 + used],
                            },
                            1 + used,
                        ),
                        (None, 0) => (Piece::Text(&rest[..1]), 1),
                        (None, used) => (Piece::Bad(&rest[..1 + used]), 1 + used),
                    }
                }
            }
            Some(at) => (Piece::Text(&rest[..at]), at),
            None => (Piece::Text(rest), rest.len()),
        };
        rest = &rest[used..];
        Some(piece)
    })
}

/// The variable name after a `$` as Go's `os.Expand` reads it, and how many bytes it used.
fn shell_name(s: &str) -> (Option<&str>, usize) {
    let special = |b: u8| b"*#$@!?-".contains(&b) || b.is_ascii_digit();
    let name_byte = |b: u8| b == b'_' || b.is_ascii_alphanumeric();
    let bytes = s.as_bytes();
    match bytes.first() {
        None => (None, 0),
        Some(b'{') => {
            if bytes.len() > 2 && special(bytes[1]) && bytes[2] == b'}' {
                return (Some(&s[1..2]), 3);
            }
            match s.find('}') {
                Some(1) => (None, 2),
                Some(end) => (Some(&s[1..end]), end + 1),
                None => (None, 1),
            }
        }
        Some(&b) if special(b) => (Some(&s[..1]), 1),
        Some(_) => {
            let end = bytes.iter().position(|&b| !name_byte(b)).unwrap_or(s.len());
            if end == 0 {
                (None, 0)
            } else {
                (Some(&s[..end]), end)
            }
        }
    }
}

/// A reference that cannot be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefError {
    /// The variable is not set where the text is resolved.
    #[error("${{{0}}} is not set")]
    Unset(String),
    /// `${` without a valid name and its `}`.
    #[error(
        "{0:?} is not a reference: write ${{NAME}} (letters, digits and _, not starting with a digit), or $$ for a literal $"
    )]
    Malformed(String),
}

fn is_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes
        .next()
        .is_some_and(|b| b == b'_' || b.is_ascii_alphabetic())
        && bytes.all(|b| b == b'_' || b.is_ascii_alphanumeric())
}

/// Each piece of `s` in the strict form: text to keep, or a reference's name.
fn strict(s: &str) -> impl Iterator<Item = Result<Strict<'_>, RefError>> {
    pieces(s).map(|p| match p {
        Piece::Text(t) => Ok(Strict::Text(t)),
        Piece::Dollar => Ok(Strict::Text("$")),
        Piece::Ref {
            name, braced: true, ..
        } if is_name(name) => Ok(Strict::Ref(name)),
        Piece::Ref {
            braced: true, raw, ..
        }
        | Piece::Bad(raw) => Err(RefError::Malformed(raw.to_owned())),
        Piece::Ref {
            braced: false, raw, ..
        } => Ok(Strict::Text(raw)),
    })
}

enum Strict<'a> {
    Text(&'a str),
    Ref(&'a str),
}

/// The names `s` refers to, each once, in order of first use (malformed references are
/// left out: [`placeholder`] and [`resolve`] report them).
pub fn refs(s: &str) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for p in strict(s) {
        if let Ok(Strict::Ref(name)) = p
            && !out.contains(&name)
        {
            out.push(name);
        }
    }
    out
}

/// `s` with every reference replaced by its variable's value from `lookup`.
pub fn resolve(s: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, RefError> {
    let mut out = String::with_capacity(s.len());
    for p in strict(s) {
        match p? {
            Strict::Text(t) => out.push_str(t),
            Strict::Ref(name) => match lookup(name) {
                Some(v) => out.push_str(&v),
                None => return Err(RefError::Unset(name.to_owned())),
            },
        }
    }
    Ok(out)
}

/// `s` with every reference replaced by `x` (and `$$` by `$`): what a URL looks like to
/// validation where the secret is not known, such as the publisher.
pub fn placeholder(s: &str) -> Result<String, RefError> {
    resolve(s, |_| Some("x".to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "API_TOKEN" => Some("s3cret".into()),
            "HOST" => Some("api.example.com".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn header_and_url_references_resolve_from_the_environment() {
        assert_eq!(
            resolve("Bearer ${API_TOKEN}", env).unwrap(),
            "Bearer s3cret"
        );
        assert_eq!(
            resolve("https://${HOST}/health?key=${API_TOKEN}", env).unwrap(),
            "https://api.example.com/health?key=s3cret"
        );
        assert_eq!(resolve("x${EMPTY}y", env).unwrap(), "xy");
        assert_eq!(resolve("no references", env).unwrap(), "no references");
        assert_eq!(
            refs("${HOST}/${API_TOKEN}/${HOST}/$$X/$Y"),
            vec!["HOST", "API_TOKEN"]
        );
    }

    #[test]
    fn an_unset_reference_is_an_error_naming_the_variable() {
        let e = resolve("Bearer ${MISSING_TOKEN}", env).unwrap_err();
        assert_eq!(e, RefError::Unset("MISSING_TOKEN".into()));
        assert_eq!(e.to_string(), "${MISSING_TOKEN} is not set");
    }

    #[test]
    fn dollar_dollar_is_a_literal_dollar() {
        assert_eq!(
            resolve("price: $$5 and $${HOST}", env).unwrap(),
            "price: $5 and ${HOST}"
        );
        assert_eq!(placeholder("$$${HOST}").unwrap(), "$x");
        // Any other `$` is kept as written: only braced names are references.
        assert_eq!(
            resolve("a $ b $HOST c$ $1", env).unwrap(),
            "a $ b $HOST c$ $1"
        );
    }

    #[test]
    fn a_malformed_reference_is_an_error() {
        for bad in ["${", "x${}y", "${bad-name}", "${1}", "${oops"] {
            let e = resolve(bad, env).unwrap_err();
            assert!(matches!(e, RefError::Malformed(_)), "{bad}: {e}");
            assert!(placeholder(bad).is_err(), "{bad}");
        }
        assert_eq!(
            resolve("a ${bad-name}", env).unwrap_err().to_string(),
            "\"${bad-name}\" is not a reference: write ${NAME} (letters, digits and _, not starting with a digit), or $$ for a literal $"
        );
    }

    #[test]
    fn a_placeholder_makes_a_url_that_parses_without_the_secret() {
        let p = placeholder("https://user:${PASSWORD}@${HOST}/h?k=${KEY}").unwrap();
        assert_eq!(p, "https://user:x@x/h?k=x");
        assert!(url::Url::parse(&p).is_ok());
    }

    #[test]
    fn the_scanner_reads_go_forms_for_gatus() {
        use Piece::*;
        let got: Vec<Piece> = pieces("a$$b${C}$D.${}${1}$").collect();
        assert_eq!(
            got,
            vec![
                Text("a"),
                Dollar,
                Text("b"),
                Ref {
                    name: "C",
                    braced: true,
                    raw: "${C}"
                },
                Ref {
                    name: "D",
                    braced: false,
                    raw: "$D"
                },
                Text("."),
                Bad("${}"),
                Ref {
                    name: "1",
                    braced: true,
                    raw: "${1}"
                },
                Text("$"),
            ]
        );
    }
}
