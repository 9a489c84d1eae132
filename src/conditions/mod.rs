//! The condition language of targets: Gatus's (v5.36, `config/endpoint/condition.go` and
//! `placeholder.go`), giving Gatus's result for the conditions it accepts, plus response
//! headers, probe phases and regular expressions. A condition is parsed and checked once, at
//! startup ([`Condition::parse`]: a typo is a configuration error, not a silent failure), then
//! evaluated against what each probe saw ([`Context`]) into the results an event carries
//! ([`ConditionResult`]). Pure: no I/O, no clock. Which placeholders each kind of check
//! produces is in [`Placeholder::produced_by`] ([`check_kind`] at startup). The reference for
//! users is `docs/conditions.md`, which lists where we differ from Gatus on purpose.

#![warn(missing_docs)]

mod context;
mod glob;
mod gostd;
mod jsonpath;
mod kinds;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

pub use crate::event::ConditionResult;
pub use context::Context;
use jsonpath::JsonPath;
pub use kinds::{
    DNS_RCODES, check_kind, gatus_dns_body, gatus_grpc_body, not_produced_text, produced_text,
    rcode_name,
};

/// Resolved values longer than this many characters are cut in [`ConditionResult::resolved`].
pub const MAX_RESOLVED_CHARS: usize = 256;

/// What a value resolved from a probe shows when it was cut to [`MAX_RESOLVED_CHARS`].
const CUT_MARK: &str = "...(truncated)";

/// Gatus's marker of a side that does not resolve (a missing JSON path).
const INVALID: &str = "(INVALID)";

/// A value a probe produces, as named in a condition (names are case-insensitive there). A
/// caller rejects the ones its kind of probe cannot produce, and reads the body or the headers
/// only when a condition needs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Placeholder {
    /// `[STATUS]`: the HTTP status code (0 without a response).
    Status,
    /// `[IP]`: the address connected to.
    Ip,
    /// `[RESPONSE_TIME]`: the whole probe in milliseconds.
    ResponseTime,
    /// `[BODY]`, `[BODY].path`: the response body (trimmed), or a value in it.
    Body,
    /// `[CONNECTED]`: `true` or `false`.
    Connected,
    /// `[CERTIFICATE_EXPIRATION]`: milliseconds until the leaf certificate expires.
    CertificateExpiration,
    /// `[HEADER].<name>`: a response header (ours, not Gatus's).
    Header,
    /// `[DNS_TIME]`: the DNS phase in milliseconds (ours).
    DnsTime,
    /// `[CONNECT_TIME]`: the TCP connect phase in milliseconds (ours).
    ConnectTime,
    /// `[TLS_TIME]`: the TLS handshake in milliseconds (ours).
    TlsTime,
    /// `[TTFB]`: time to the first byte of the response in milliseconds (ours).
    Ttfb,
    /// `[DNS_RCODE]`: the DNS response code by name (`NOERROR`, `NXDOMAIN`), as in Gatus.
    DnsRcode,
    /// `[DNS_ANSWERS]`: the data of each record of the DNS answer section (ours); a condition
    /// on it holds when it holds for any answer (`!=` and `!~`: for none).
    DnsAnswers,
    /// `[PACKET_LOSS]`: the percent of ICMP echo requests without a reply, 0 to 100 (ours).
    PacketLoss,
}

impl Placeholder {
    /// Every placeholder, in the order of the documentation.
    pub const ALL: [Placeholder; 14] = [
        Placeholder::Status,
        Placeholder::Ip,
        Placeholder::ResponseTime,
        Placeholder::Body,
        Placeholder::Connected,
        Placeholder::CertificateExpiration,
        Placeholder::Header,
        Placeholder::DnsTime,
        Placeholder::ConnectTime,
        Placeholder::TlsTime,
        Placeholder::Ttfb,
        Placeholder::DnsRcode,
        Placeholder::DnsAnswers,
        Placeholder::PacketLoss,
    ];

    /// The placeholder as written in conditions: `[STATUS]`.
    pub fn as_str(self) -> &'static str {
        match self {
            Placeholder::Status => "[STATUS]",
            Placeholder::Ip => "[IP]",
            Placeholder::ResponseTime => "[RESPONSE_TIME]",
            Placeholder::Body => "[BODY]",
            Placeholder::Connected => "[CONNECTED]",
            Placeholder::CertificateExpiration => "[CERTIFICATE_EXPIRATION]",
            Placeholder::Header => "[HEADER]",
            Placeholder::DnsTime => "[DNS_TIME]",
            Placeholder::ConnectTime => "[CONNECT_TIME]",
            Placeholder::TlsTime => "[TLS_TIME]",
            Placeholder::Ttfb => "[TTFB]",
            Placeholder::DnsRcode => "[DNS_RCODE]",
            Placeholder::DnsAnswers => "[DNS_ANSWERS]",
            Placeholder::PacketLoss => "[PACKET_LOSS]",
        }
    }

    /// A placeholder that stands alone (no path or name after it), by its name in capitals.
    fn simple(name: &str) -> Option<Placeholder> {
        Some(match name {
            "STATUS" => Placeholder::Status,
            "IP" => Placeholder::Ip,
            "RESPONSE_TIME" => Placeholder::ResponseTime,
            "CONNECTED" => Placeholder::Connected,
            "CERTIFICATE_EXPIRATION" => Placeholder::CertificateExpiration,
            "DNS_TIME" => Placeholder::DnsTime,
            "CONNECT_TIME" => Placeholder::ConnectTime,
            "TLS_TIME" => Placeholder::TlsTime,
            "TTFB" => Placeholder::Ttfb,
            "DNS_RCODE" => Placeholder::DnsRcode,
            "DNS_ANSWERS" => Placeholder::DnsAnswers,
            "PACKET_LOSS" => Placeholder::PacketLoss,
            _ => return None,
        })
    }

    /// Always a number: the other side of `<` … `>=` must then be one too.
    fn is_numeric(self) -> bool {
        matches!(
            self,
            Placeholder::Status
                | Placeholder::ResponseTime
                | Placeholder::CertificateExpiration
                | Placeholder::DnsTime
                | Placeholder::ConnectTime
                | Placeholder::TlsTime
                | Placeholder::Ttfb
                | Placeholder::PacketLoss
        )
    }
}

impl fmt::Display for Placeholder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A condition that cannot be used, naming it as written and saying why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("condition `{condition}`: {kind}")]
pub struct ConditionError {
    /// The condition as written.
    pub condition: String,
    /// What is wrong with it.
    pub kind: ConditionErrorKind,
}

/// What is wrong with a condition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConditionErrorKind {
    /// No operator with a space on each side (Gatus: "invalid condition").
    #[error(
        "expected `LEFT OPERATOR RIGHT` with one of ==, !=, <, <=, >, >=, =~, !~ and a space on each side of it"
    )]
    NoOperator,
    /// A name in brackets and capitals that is not a placeholder (a typo, usually).
    #[error(
        "unknown placeholder `{0}`; placeholders are [STATUS], [IP], [RESPONSE_TIME], [BODY], [CONNECTED], [CERTIFICATE_EXPIRATION], [HEADER].<name>, [DNS_TIME], [CONNECT_TIME], [TLS_TIME], [TTFB], [DNS_RCODE], [DNS_ANSWERS], [PACKET_LOSS]"
    )]
    UnknownPlaceholder(String),
    /// A Gatus placeholder that Uptimer does not produce.
    #[error("`{placeholder}` is not supported: {reason}")]
    Unsupported {
        /// The placeholder, as written.
        placeholder: String,
        /// Why.
        reason: &'static str,
    },
    /// A placeholder followed by text that is neither a path nor a header name.
    #[error("`{0}`: expected {1}")]
    Malformed(String, &'static str),
    /// `pat()` or `any()` with an operator other than `==` and `!=`.
    #[error("`{0}()` works with == and != only")]
    FunctionNeedsEquality(&'static str),
    /// A side that is not a number (nor a duration) against a placeholder that is one.
    #[error(
        "`{value}` is not a number or a duration (such as 500, 0x1F4, 1.5, 48h, 1s) and `{placeholder}` is a number"
    )]
    NotANumber {
        /// The side that is not a number, as written.
        value: String,
        /// The numeric side, as written.
        placeholder: String,
    },
    /// A side that is not a plain number against `[PACKET_LOSS]` with `<` … `>=`.
    #[error(
        "`{value}` is not a number of percent (such as 0, 2.5 or 100, written without %) and `{placeholder}` is one"
    )]
    NotAPercent {
        /// The side that is not a number, as written.
        value: String,
        /// The placeholder, as written.
        placeholder: String,
    },
    /// `[DNS_ANSWERS]` with `<` … `>=`: it is a list.
    #[error(
        "`{0}` is a list of records: compare it with ==, !=, =~ or !~ (a condition holds when it holds for any answer), or count it with len({0})"
    )]
    ListOrdering(String),
    /// A name compared with `[DNS_RCODE]` that no response code has (a typo, usually).
    #[error(
        "`{0}` is not a DNS response code; [DNS_RCODE] is one of NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED, YXDOMAIN, YXRRSET, NXRRSET, NOTAUTH, NOTZONE, DSOTYPENI, BADSIG, BADKEY, BADTIME, BADMODE, BADNAME, BADALG, BADTRUNC, BADCOOKIE (in capitals)"
    )]
    UnknownRcode(String),
    /// A regular expression that does not compile.
    #[error("bad regular expression: {0}")]
    BadRegex(String),
    /// `=~`/`!~` with one of Gatus's operators, spaces around it, in the regular expression.
    #[error(
        "the regular expression contains `{0}` with a space on each side, which is read as the operator; write the spaces as \\s or [ ]"
    )]
    OperatorInRegex(&'static str),
}

/// The operators, in the order Gatus looks for them (`<=` before `<`); ours come last so that
/// a condition Gatus accepts is split where Gatus splits it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operator {
    Eq,
    Ne,
    Le,
    Ge,
    Gt,
    Lt,
    Matches,
    NotMatches,
}

impl Operator {
    const GATUS: [Operator; 6] = [
        Operator::Eq,
        Operator::Ne,
        Operator::Le,
        Operator::Ge,
        Operator::Gt,
        Operator::Lt,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Operator::Eq => "==",
            Operator::Ne => "!=",
            Operator::Le => "<=",
            Operator::Ge => ">=",
            Operator::Gt => ">",
            Operator::Lt => "<",
            Operator::Matches => "=~",
            Operator::NotMatches => "!~",
        }
    }

    /// The operator as it must appear: a space on each side.
    fn spaced(self) -> &'static str {
        match self {
            Operator::Eq => " == ",
            Operator::Ne => " != ",
            Operator::Le => " <= ",
            Operator::Ge => " >= ",
            Operator::Gt => " > ",
            Operator::Lt => " < ",
            Operator::Matches => " =~ ",
            Operator::NotMatches => " !~ ",
        }
    }

    fn is_ordering(self) -> bool {
        matches!(
            self,
            Operator::Le | Operator::Ge | Operator::Gt | Operator::Lt
        )
    }

    fn is_regex(self) -> bool {
        matches!(self, Operator::Matches | Operator::NotMatches)
    }
}

/// `len()` and `has()` around a placeholder (case-sensitive, as in Gatus).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Function {
    None,
    Len,
    Has,
}

/// Where a side's value comes from.
#[derive(Debug, Clone)]
enum Source {
    Simple(Placeholder),
    Body,
    BodyPath(JsonPath),
    Header(String),
    /// `len(x)` or `has(x)` of something that is not a placeholder: Gatus gives (INVALID) and
    /// `false`.
    NotAPlaceholder,
}

impl Source {
    fn placeholder(&self) -> Option<Placeholder> {
        match self {
            Source::Simple(p) => Some(*p),
            Source::Body | Source::BodyPath(_) => Some(Placeholder::Body),
            Source::Header(_) => Some(Placeholder::Header),
            Source::NotAPlaceholder => None,
        }
    }
}

/// One side of a condition.
#[derive(Debug, Clone)]
enum Operand {
    /// Compared as written: text, numbers, `pat(…)`, `any(…)`.
    Literal,
    /// A placeholder, maybe inside `len()` or `has()`.
    Value { function: Function, source: Source },
    /// The right side of `=~` and `!~`.
    Regex(crate::regexes::SharedRegex),
}

#[derive(Debug, Clone)]
struct Side {
    /// As written, without the white space around it.
    text: String,
    operand: Operand,
}

impl Side {
    fn placeholder(&self) -> Option<Placeholder> {
        match &self.operand {
            Operand::Value { source, .. } => source.placeholder(),
            _ => None,
        }
    }

    /// Always a number: a numeric placeholder or `len()`.
    fn is_numeric(&self) -> bool {
        match &self.operand {
            Operand::Value {
                function: Function::Len,
                ..
            } => true,
            Operand::Value {
                function: Function::None,
                source,
            } => source.placeholder().is_some_and(Placeholder::is_numeric),
            _ => false,
        }
    }

    /// A placeholder itself, not inside `len()` or `has()`.
    fn bare(&self) -> Option<Placeholder> {
        match &self.operand {
            Operand::Value {
                function: Function::None,
                source: Source::Simple(p),
            } => Some(*p),
            _ => None,
        }
    }

    /// `pat(…)` or `any(…)` as written, for the functions Gatus applies when comparing.
    fn comparison_function(&self) -> Option<&'static str> {
        if !matches!(self.operand, Operand::Literal) || !self.text.ends_with(')') {
            return None;
        }
        ["pat", "any"]
            .into_iter()
            .find(|f| self.text.starts_with(f) && self.text[f.len()..].starts_with('('))
    }
}

/// A parsed condition: `LEFT OPERATOR RIGHT`.
///
/// ```
/// use uptimer::conditions::{Condition, Placeholder};
///
/// let c = Condition::parse("[BODY].status == UP").unwrap();
/// assert!(c.needs_body());
/// assert_eq!(c.placeholders().collect::<Vec<_>>(), [Placeholder::Body]);
/// assert!(Condition::parse("[STATUS] ? 200").is_err());
/// ```
#[derive(Debug, Clone)]
pub struct Condition {
    text: String,
    operator: Operator,
    left: Side,
    right: Side,
}

impl Condition {
    /// Parses and checks a condition: the operator, the placeholders (unknown ones and
    /// `[DOMAIN_EXPIRATION]` are errors), `pat()`/`any()` with `==`/`!=` only, a number against
    /// a numeric placeholder for `<` … `>=`, and the regular expression of `=~`/`!~`.
    pub fn parse(text: &str) -> Result<Condition, ConditionError> {
        parse(text).map_err(|kind| ConditionError {
            condition: text.to_owned(),
            kind,
        })
    }

    /// The condition as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The placeholders the condition reads, left side first.
    pub fn placeholders(&self) -> impl Iterator<Item = Placeholder> + '_ {
        [&self.left, &self.right]
            .into_iter()
            .filter_map(Side::placeholder)
    }

    /// Whether the condition reads the response body.
    pub fn needs_body(&self) -> bool {
        self.placeholders().any(|p| p == Placeholder::Body)
    }

    /// The response headers the condition reads, by name as written.
    pub fn headers(&self) -> impl Iterator<Item = &str> + '_ {
        [&self.left, &self.right]
            .into_iter()
            .filter_map(|side| match &side.operand {
                Operand::Value {
                    source: Source::Header(name),
                    ..
                } => Some(name.as_str()),
                _ => None,
            })
    }

    /// Evaluates the condition against what a probe saw.
    pub fn evaluate(&self, ctx: &Context<'_>) -> ConditionResult {
        let left = resolve(&self.left, ctx);
        let right = resolve(&self.right, ctx);
        let success = match (&left, &right) {
            // A side that does not resolve fails the condition, whatever the operator.
            (Resolved::Invalid, _) | (_, Resolved::Invalid) => false,
            _ => {
                // `!=` and `!~` are the negation of `==` and `=~`: with a list, "no answer is".
                let (operator, negated) = match self.operator {
                    Operator::Ne => (Operator::Eq, true),
                    Operator::NotMatches => (Operator::Matches, true),
                    op => (op, false),
                };
                let any = left
                    .items()
                    .any(|l| right.items().any(|r| self.compare(operator, l, r)));
                any != negated
            }
        };
        let resolved = if success {
            self.text.clone()
        } else {
            self.display(&left, &right)
        };
        ConditionResult {
            condition: self.text.clone(),
            success,
            resolved,
        }
    }

    /// Whether one value of each side satisfies `operator` (`==`, `=~` or an ordering).
    fn compare(&self, operator: Operator, l: &str, r: &str) -> bool {
        let percent = self.is_percent();
        match operator {
            Operator::Eq | Operator::Ne => {
                let equal = match (percent, to_decimal(l), to_decimal(r)) {
                    // `[PACKET_LOSS] == 0.0` holds for 0.
                    (true, Some(a), Some(b)) => a == b,
                    _ => is_equal(l, r),
                };
                equal == (operator == Operator::Eq)
            }
            Operator::Matches | Operator::NotMatches => match &self.right.operand {
                Operand::Regex(re) => re.is_match(l) == (operator == Operator::Matches),
                _ => false,
            },
            ordering if percent => {
                // A loss of 20.5 is more than 20: decimals, not Gatus's truncated integers.
                let (l, r) = (to_decimal_or_zero(l), to_decimal_or_zero(r));
                match ordering {
                    Operator::Le => l <= r,
                    Operator::Ge => l >= r,
                    Operator::Gt => l > r,
                    _ => l < r,
                }
            }
            ordering => {
                let (l, r) = (to_number(l), to_number(r));
                match ordering {
                    Operator::Le => l <= r,
                    Operator::Ge => l >= r,
                    Operator::Gt => l > r,
                    _ => l < r,
                }
            }
        }
    }

    /// Whether a side is `[PACKET_LOSS]`, which compares as a decimal number.
    fn is_percent(&self) -> bool {
        [&self.left, &self.right]
            .into_iter()
            .any(|s| s.bare() == Some(Placeholder::PacketLoss))
    }

    /// Gatus's display of a failed condition: each side that resolved to something else than
    /// what is written is followed by its value in parentheses.
    fn display(&self, left: &Resolved<'_>, right: &Resolved<'_>) -> String {
        let params = [self.left.text.as_str(), self.right.text.as_str()];
        let mut values: [Cow<'_, str>; 2] = [left, right].map(|r| match r {
            Resolved::Invalid => Cow::Borrowed(INVALID),
            Resolved::Text(t) => Cow::Borrowed(t.as_ref()),
            Resolved::List(items) => Cow::Owned(items.join(", ")),
        });
        let invalid = [left, right].map(|r| matches!(r, Resolved::Invalid));
        let list = [left, right].map(|r| matches!(r, Resolved::List(_)));
        if self.operator.is_ordering() && self.is_percent() {
            // The percent is shown as it was compared.
        } else if self.operator.is_ordering() {
            // Gatus shows the numbers compared; a duration or a certificate expiration as one.
            for (i, value) in values.iter_mut().enumerate() {
                if invalid[i] {
                    continue;
                }
                let n = to_number(value);
                let as_duration = params[i] == Placeholder::CertificateExpiration.as_str()
                    || gostd::parse_duration(params[i]).is_some();
                *value = Cow::Owned(if as_duration {
                    gostd::format_duration_ms(n)
                } else {
                    n.to_string()
                });
            }
        } else if !self.operator.is_regex() {
            // Against a pattern, a long value is cut to 25 characters.
            for (p, v) in [(0, 1), (1, 0)] {
                let is_pattern = params[p].starts_with("pat(") && params[p].ends_with(')');
                if is_pattern && !invalid[v] && !list[v] && values[v].len() > 25 {
                    let head: String = values[v].chars().take(25).collect();
                    values[v] = Cow::Owned(format!("{head}...(truncated)"));
                }
            }
        }
        let side = |i: usize| -> String {
            if invalid[i] {
                format!("{} {INVALID}", params[i])
            } else if values[i] != params[i] {
                format!("{} ({})", params[i], cut(&values[i]))
            } else {
                params[i].to_owned()
            }
        };
        format!("{} {} {}", side(0), self.operator.as_str(), side(1))
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Two conditions are the same when they are written the same.
impl PartialEq for Condition {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for Condition {}

impl std::str::FromStr for Condition {
    type Err = ConditionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Condition::parse(s)
    }
}

impl TryFrom<String> for Condition {
    type Error = ConditionError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Condition::parse(&s)
    }
}

impl Serialize for Condition {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Condition {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Condition::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Evaluates every condition against what a probe saw, in order. The target is up when all of
/// them hold: `results.iter().all(|r| r.success)`.
pub fn evaluate(conditions: &[Condition], ctx: &Context<'_>) -> Vec<ConditionResult> {
    conditions.iter().map(|c| c.evaluate(ctx)).collect()
}

fn parse(text: &str) -> Result<Condition, ConditionErrorKind> {
    // Split as Gatus does: at the first of its operators the text contains, at every place it
    // appears (`a == b == c` compares a and b); then at the first =~ or !~.
    let (operator, left, right) = if let Some(op) = Operator::GATUS
        .into_iter()
        .find(|op| text.contains(op.spaced()))
    {
        let mut parts = text.split(op.spaced());
        let left = parts.next().unwrap_or_default();
        let right = parts.next().unwrap_or_default();
        // `[BODY] =~ a < b` splits at ` < ` in Gatus; with a regex that is never meant.
        if left.contains(Operator::Matches.spaced()) || left.contains(Operator::NotMatches.spaced())
        {
            return Err(ConditionErrorKind::OperatorInRegex(op.as_str()));
        }
        (op, left, right)
    } else {
        let found = [Operator::Matches, Operator::NotMatches]
            .into_iter()
            .filter_map(|op| text.find(op.spaced()).map(|at| (at, op)))
            .min_by_key(|(at, _)| *at);
        let Some((at, op)) = found else {
            return Err(ConditionErrorKind::NoOperator);
        };
        (op, &text[..at], &text[at + op.spaced().len()..])
    };
    let left = side(left)?;
    let right = if operator.is_regex() {
        let pattern = right.trim();
        let re = crate::regexes::shared(pattern).map_err(|e| ConditionErrorKind::BadRegex(e.to_string()))?;
        Side {
            text: pattern.to_owned(),
            operand: Operand::Regex(re),
        }
    } else {
        side(right)?
    };
    if operator != Operator::Eq
        && operator != Operator::Ne
        && let Some(f) = [&left, &right]
            .into_iter()
            .find_map(Side::comparison_function)
    {
        return Err(ConditionErrorKind::FunctionNeedsEquality(f));
    }
    if operator.is_ordering() {
        for (number, other) in [(&left, &right), (&right, &left)] {
            if number.bare() == Some(Placeholder::DnsAnswers) {
                return Err(ConditionErrorKind::ListOrdering(number.text.clone()));
            }
            if number.bare() == Some(Placeholder::PacketLoss)
                && matches!(other.operand, Operand::Literal)
                && to_decimal(&other.text).is_none()
            {
                return Err(ConditionErrorKind::NotAPercent {
                    value: other.text.clone(),
                    placeholder: number.text.clone(),
                });
            }
            if number.is_numeric()
                && matches!(other.operand, Operand::Literal)
                && !is_number(&other.text)
            {
                return Err(ConditionErrorKind::NotANumber {
                    value: other.text.clone(),
                    placeholder: number.text.clone(),
                });
            }
        }
    }
    if matches!(operator, Operator::Eq | Operator::Ne) {
        for (rcode, other) in [(&left, &right), (&right, &left)] {
            if rcode.bare() == Some(Placeholder::DnsRcode)
                && let Some(name) = unknown_rcode(other)
            {
                return Err(ConditionErrorKind::UnknownRcode(name.to_owned()));
            }
        }
    }
    Ok(Condition {
        text: text.to_owned(),
        operator,
        left,
        right,
    })
}

/// The first name on a literal side compared with `[DNS_RCODE]` that is not a response code:
/// the literal itself, or one of `any(…)`; a `pat(…)` is not checked.
fn unknown_rcode(side: &Side) -> Option<&str> {
    if !matches!(side.operand, Operand::Literal) {
        return None;
    }
    let known = |name: &str| DNS_RCODES.contains(&name);
    match side.comparison_function() {
        Some("pat") => None,
        Some(_) => side.text["any(".len()..side.text.len() - 1]
            .split(',')
            .map(str::trim)
            .find(|name| !known(name)),
        None => (!known(&side.text)).then_some(side.text.as_str()),
    }
}

/// Reads one side: a placeholder, `len(…)`/`has(…)` of one, or a literal.
fn side(text: &str) -> Result<Side, ConditionErrorKind> {
    // Go's TrimSpace and Rust's trim agree on what white space is (Unicode White_Space).
    let text = text.trim();
    let (function, inner) = if let Some(inner) = strip_call(text, "len(") {
        (Function::Len, inner)
    } else if let Some(inner) = strip_call(text, "has(") {
        (Function::Has, inner)
    } else {
        (Function::None, text)
    };
    let operand = match source(inner)? {
        Some(source) => Operand::Value { function, source },
        None if function == Function::None => Operand::Literal,
        None => Operand::Value {
            function,
            source: Source::NotAPlaceholder,
        },
    };
    Ok(Side {
        text: text.to_owned(),
        operand,
    })
}

fn strip_call<'t>(text: &'t str, prefix: &str) -> Option<&'t str> {
    text.strip_prefix(prefix)?.strip_suffix(')')
}

/// The placeholder `text` is, if it is one: `[NAME]` in any case, `[BODY].path`,
/// `[BODY][i]…`, `[HEADER].name`. A bracketed name with a lower-case letter that is not a
/// placeholder is text, as in Gatus (`[a]` is what `%v` makes of `["a"]`); in capitals it is an
/// error.
fn source(text: &str) -> Result<Option<Source>, ConditionErrorKind> {
    let Some(after) = text.strip_prefix('[') else {
        return Ok(None);
    };
    let Some(close) = after.find(']') else {
        return Ok(None);
    };
    let name = &after[..close];
    let rest = &after[close + 1..];
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphabetic() || b == b'_') {
        return Ok(None);
    }
    let upper = name.to_ascii_uppercase();
    let placeholder = || text[..close + 2].to_owned();
    let unsupported = |reason| {
        Err(ConditionErrorKind::Unsupported {
            placeholder: placeholder(),
            reason,
        })
    };
    match upper.as_str() {
        "BODY" => match rest.as_bytes().first() {
            None => Ok(Some(Source::Body)),
            Some(b'.') => Ok(Some(Source::BodyPath(JsonPath::new(&rest[1..])))),
            Some(b'[') => Ok(Some(Source::BodyPath(JsonPath::new(rest)))),
            Some(_) => Err(ConditionErrorKind::Malformed(
                text.to_owned(),
                "[BODY], [BODY].path or [BODY][index]",
            )),
        },
        "HEADER" => match rest.strip_prefix('.') {
            Some(header) if !header.is_empty() && header.bytes().all(is_token_byte) => {
                Ok(Some(Source::Header(header.to_owned())))
            }
            _ => Err(ConditionErrorKind::Malformed(
                text.to_owned(),
                "[HEADER].<name> with a header name such as content-type",
            )),
        },
        "DOMAIN_EXPIRATION" => unsupported("it needs WHOIS lookups over the internet"),
        "CONTEXT" => unsupported("Uptimer has no suites of endpoints"),
        _ => match Placeholder::simple(&upper) {
            Some(p) if rest.is_empty() => Ok(Some(Source::Simple(p))),
            Some(p) => Err(ConditionErrorKind::Malformed(text.to_owned(), p.as_str())),
            None if name.bytes().any(|b| b.is_ascii_lowercase()) => Ok(None),
            None => Err(ConditionErrorKind::UnknownPlaceholder(placeholder())),
        },
    }
}

/// A byte of an HTTP field name (RFC 9110 `tchar`).
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A side's value for one probe.
enum Resolved<'a> {
    Text(Cow<'a, str>),
    /// `[DNS_ANSWERS]`: one value per answer.
    List(&'a [String]),
    /// A path, header or phase that the probe does not have.
    Invalid,
}

impl Resolved<'_> {
    /// The values compared: one for text, each answer of a list, none when invalid.
    fn items(&self) -> impl Iterator<Item = &str> {
        let (one, list): (Option<&str>, &[String]) = match self {
            Resolved::Text(t) => (Some(t.as_ref()), &[]),
            Resolved::List(items) => (None, items),
            Resolved::Invalid => (None, &[]),
        };
        one.into_iter().chain(list.iter().map(String::as_str))
    }
}

fn resolve<'a>(side: &'a Side, ctx: &'a Context<'_>) -> Resolved<'a> {
    let Operand::Value { function, source } = &side.operand else {
        return Resolved::Text(Cow::Borrowed(&side.text));
    };
    let function = *function;
    let text = |s: Cow<'a, str>| -> Resolved<'a> {
        Resolved::Text(match function {
            Function::None => s,
            Function::Len => Cow::Owned(s.len().to_string()),
            Function::Has => Cow::Borrowed(bool_str(!s.is_empty())),
        })
    };
    match source {
        Source::Simple(Placeholder::DnsAnswers) => {
            let answers = ctx.dns_answers_value();
            match function {
                Function::None => Resolved::List(answers),
                Function::Len => Resolved::Text(Cow::Owned(answers.len().to_string())),
                Function::Has => Resolved::Text(Cow::Borrowed(bool_str(!answers.is_empty()))),
            }
        }
        Source::Simple(p) => {
            let value = match p {
                Placeholder::Status => ctx.status_value().to_string(),
                Placeholder::Ip => ctx.ip_value().to_owned(),
                Placeholder::ResponseTime => ctx.response_time_value().to_string(),
                Placeholder::Connected => bool_str(ctx.connected_value()).to_owned(),
                Placeholder::CertificateExpiration => {
                    ctx.certificate_expiration_value().to_string()
                }
                Placeholder::DnsRcode => ctx.dns_rcode_value().to_owned(),
                Placeholder::PacketLoss => format_percent(ctx.packet_loss_value()),
                phase => {
                    let phases = ctx.phases_value();
                    let ms = match phase {
                        Placeholder::DnsTime => phases.dns,
                        Placeholder::ConnectTime => phases.connect,
                        Placeholder::TlsTime => phases.tls,
                        _ => phases.ttfb,
                    };
                    match ms {
                        Some(ms) => (ms as i64).to_string(),
                        None if function == Function::Has => return text(Cow::Borrowed("")),
                        None => return Resolved::Invalid,
                    }
                }
            };
            text(Cow::Owned(value))
        }
        Source::Body => match function {
            Function::None | Function::Has => text(Cow::Borrowed(ctx.body_text())),
            // Gatus: the length of the JSON array, else of the raw body; the trimmed body's
            // when it looks like an array but is not JSON.
            Function::Len => {
                let n = ctx
                    .eval(&JsonPath::new(""))
                    .map_or(ctx.body_text().len(), |found| found.len());
                Resolved::Text(Cow::Owned(n.to_string()))
            }
        },
        Source::BodyPath(path) => match (ctx.eval(path), function) {
            (found, Function::Has) => Resolved::Text(Cow::Borrowed(bool_str(found.is_some()))),
            (None, _) => Resolved::Invalid,
            (Some(found), Function::Len) => Resolved::Text(Cow::Owned(found.len().to_string())),
            (Some(found), _) => Resolved::Text(found.into_text()),
        },
        Source::Header(name) => match (ctx.header_value(name), function) {
            (found, Function::Has) => Resolved::Text(Cow::Borrowed(bool_str(found.is_some()))),
            (None, _) => Resolved::Invalid,
            (Some(value), _) => text(value),
        },
        Source::NotAPlaceholder => match function {
            Function::Has => Resolved::Text(Cow::Borrowed("false")),
            _ => Resolved::Invalid,
        },
    }
}

fn bool_str(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

/// Gatus's `isEqual`, on the resolved values: `pat(…)` on one side is a glob the other must
/// match, `any(a, b)` a list the other must be in (as text); two integers (`200`, `0xC8`)
/// compare as numbers; anything else as text.
fn is_equal(first: &str, second: &str) -> bool {
    let (mut first, mut second) = (first, second);
    // As Gatus: whether each ends with `)` is decided once, before pat( is taken off.
    let (first_call, second_call) = (first.ends_with(')'), second.ends_with(')'));
    if first_call || second_call {
        let unwrap = |s: &'static str, text: &mut &str, call: bool| -> bool {
            let is = call && text.starts_with(s);
            if is {
                let inner = &text[s.len()..];
                *text = inner.strip_suffix(')').unwrap_or(inner);
            }
            is
        };
        let first_pattern = unwrap("pat(", &mut first, first_call);
        let second_pattern = unwrap("pat(", &mut second, second_call);
        match (first_pattern, second_pattern) {
            (true, false) => return glob::matches(first, second),
            (false, true) => return glob::matches(second, first),
            _ => {}
        }
        let first_any = unwrap("any(", &mut first, first_call);
        let second_any = unwrap("any(", &mut second, second_call);
        match (first_any, second_any) {
            (true, false) => return first.split(',').any(|o| o.trim() == second),
            (false, true) => return second.split(',').any(|o| o.trim() == first),
            _ => {}
        }
    }
    match (gostd::parse_int(first), gostd::parse_int(second)) {
        (Some(a), Some(b)) => a == b,
        _ => first == second,
    }
}

/// Gatus's number for `<` … `>=`: a duration other than zero in milliseconds (`48h`), else an
/// integer (`0x1F`), else a float truncated (`1.9` is 1), else 0.
fn to_number(s: &str) -> i64 {
    if let Some(ns) = gostd::parse_duration(s).filter(|&ns| ns != 0) {
        return ns / 1_000_000;
    }
    if let Some(n) = gostd::parse_int(s) {
        return n;
    }
    gostd::parse_float(s).map_or(0, gostd::float_to_int)
}

/// A number compared with `[PACKET_LOSS]`: an integer as `==` reads it (`0x10`), else a
/// decimal (`2.5`); not a duration.
fn to_decimal(s: &str) -> Option<f64> {
    gostd::parse_int(s)
        .map(|n| n as f64)
        .or_else(|| gostd::parse_float(s))
        .filter(|f| !f.is_nan())
}

/// [`to_decimal`] for `<` … `>=`, where another placeholder may stand on the other side:
/// Gatus's number then.
fn to_decimal_or_zero(s: &str) -> f64 {
    to_decimal(s).unwrap_or_else(|| to_number(s) as f64)
}

/// `[PACKET_LOSS]` as text: 0 to 100, to three decimals at most (`33.333`, `0`, `100`).
fn format_percent(percent: f64) -> String {
    // `+ 0.0` turns -0 into 0.
    let p = (percent.clamp(0.0, 100.0) * 1000.0).round() / 1000.0 + 0.0;
    p.to_string()
}

/// Whether a literal reads as a number for `<` … `>=` (rather than as Gatus's silent 0).
fn is_number(s: &str) -> bool {
    gostd::parse_duration(s).is_some()
        || gostd::parse_int(s).is_some()
        || gostd::parse_float(s).is_some()
}

/// A value cut to [`MAX_RESOLVED_CHARS`] characters, on a character boundary.
fn cut(value: &str) -> Cow<'_, str> {
    match value.char_indices().nth(MAX_RESOLVED_CHARS) {
        None => Cow::Borrowed(value),
        Some((at, _)) => Cow::Owned(format!("{}{CUT_MARK}", &value[..at])),
    }
}
