//! A target to probe: its URL, request and verdict settings, and its stable id.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue, Method};
use regex::Regex;
use url::Url;

use super::checks::{Check, CheckSections};
use super::parse::{Expected, Interval, TlsVerify};
use crate::conditions::Condition;
use crate::event::Kind;

/// An inclusive range of HTTP status codes that count as up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusRange(pub u16, pub u16);

impl StatusRange {
    /// The default: any 2xx or 3xx (a 3xx is only final when redirects are not followed).
    pub const DEFAULT: StatusRange = StatusRange(200, 399);

    pub fn contains(&self, code: u16) -> bool {
        (self.0..=self.1).contains(&code)
    }

    /// `200`, `200-299` or `2xx`.
    pub fn parse(s: &str) -> Result<StatusRange, Expected> {
        let s = s.trim();
        let code = |t: &str| {
            t.trim()
                .parse::<u16>()
                .ok()
                .filter(|c| (100..=599).contains(c))
        };
        let range = if let Some(d) = s.strip_suffix("xx").and_then(|d| d.parse::<u16>().ok()) {
            Some(StatusRange(d * 100, d * 100 + 99)).filter(|_| (1..=5).contains(&d))
        } else if let Some((a, b)) = s.split_once('-') {
            code(a)
                .zip(code(b))
                .map(|(a, b)| StatusRange(a, b))
                .filter(|r| r.0 <= r.1)
        } else {
            code(s).map(|c| StatusRange(c, c))
        };
        range.ok_or(Expected::from(
            "a status code (200), a range (200-299) or a class (2xx)",
        ))
    }
}

impl std::fmt::Display for StatusRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0 == self.1 {
            write!(f, "{}", self.0)
        } else {
            write!(f, "{}-{}", self.0, self.1)
        }
    }
}

/// Where a target was defined. Targets of the configuration change only through it (a
/// reload); the API changes only its own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The config file's `targets:` or a Gatus file's `endpoints:`.
    #[default]
    File,
    /// `PROBE_URLS` or a URL on the command line.
    Env,
    /// `POST /api/v1/targets`, the dashboard's form or `uptimer targets add`.
    Api,
    /// The fleet's targets topic (`uptimer publish`): changed by publishing again.
    Fleet,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::File => "file",
            Source::Env => "env",
            Source::Api => "api",
            Source::Fleet => "fleet",
        }
    }

    /// Whether the API made it (and may change or remove it).
    pub fn is_api(self) -> bool {
        self == Source::Api
    }
}

/// Everything needed to probe one target: its identity and address, and its [`Profile`] (what
/// its check does), shared with every target that says the same. A million targets written
/// with the defaults hold one profile between them; `target.timeout` and the other settings
/// read through to it ([`Deref`](std::ops::Deref)).
#[derive(Debug, Clone)]
pub struct Target {
    /// Stable id: the `id:` given, else a hash of the name and the URL (without password).
    pub id: String,
    /// Where it was defined.
    pub source: Source,
    pub name: String,
    /// The URL as given, credentials included (used for the request, never printed); for a
    /// DNS check `dns://server:port`.
    pub url: Url,
    /// What kind of check this is (the URL's scheme, or `dns` for a target with `dns:`).
    pub kind: Kind,
    /// The port checked; `None` for ICMP and push.
    pub port: Option<u16>,
    /// Whether the URL as written had a path (`https://h` has none, `https://h/` has `/`).
    written_path: bool,
    /// The check's settings, shared.
    pub profile: Arc<Profile>,
}

/// What a target's check does beyond its address: its kind's settings, timing, verdict and
/// tags. The HTTP request settings (`method` … `regex`) are the `http(s)` check's; other kinds
/// refuse them at load.
#[derive(Debug, Clone)]
pub struct Profile {
    pub method: Method,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub expected_status: Vec<StatusRange>,
    pub regex: Option<crate::regexes::SharedRegex>,
    pub interval: Interval,
    pub timeout: Duration,
    pub tls_verify: TlsVerify,
    pub tags: Vec<String>,
    /// Conditions that replace the default verdict (`expected_status`, `regex`) when not empty:
    /// the target is up when the request completed and every one holds.
    pub conditions: Vec<Condition>,
    /// Conditions that make an up target degraded when one holds.
    pub degraded_if: Vec<Condition>,
    /// The settings of the check beyond HTTP.
    pub check: Check,
    /// Its alert rules, keyed and with the tag rules and defaults merged in (by
    /// [`crate::config::alerting::apply`]).
    pub alerts: Arc<[crate::state::rules::Rule]>,
    /// The targets (ids) it depends on: while one is down, its own notifications are held.
    pub depends_on: Arc<[String]>,
}

impl Target {
    /// Lower-case host without brackets or user info, as the original reported it; empty for
    /// a push target. (Read from the URL: a million targets hold no copy of it.)
    pub fn hostname(&self) -> Cow<'_, str> {
        match self.url.host() {
            _ if self.kind == Kind::Push => Cow::Borrowed(""),
            Some(url::Host::Ipv6(a)) => Cow::Owned(a.to_string()),
            Some(url::Host::Domain(d)) if d.bytes().any(|b| b.is_ascii_uppercase()) => {
                Cow::Owned(d.to_ascii_lowercase())
            }
            Some(_) => Cow::Borrowed(self.url.host_str().unwrap_or_default()),
            None => Cow::Borrowed(""),
        }
    }

    /// The path without query or fragment of an HTTP target; empty when the URL had none, as
    /// in the original, and for other kinds.
    pub fn path(&self) -> &str {
        if self.written_path && self.kind.is_http() {
            self.url.path()
        } else {
            ""
        }
    }

    /// The profile to change, this target's own from now on (copied when it is shared).
    pub fn profile_mut(&mut self) -> &mut Profile {
        Arc::make_mut(&mut self.profile)
    }
}

impl std::ops::Deref for Target {
    type Target = Profile;

    fn deref(&self) -> &Profile {
        &self.profile
    }
}

/// How many URLs a string holds: one, plus one for each scheme (`http://`, …) that follows a
/// space or a comma. `http://a/ http://b/` holds two; `http://a/?ids=1,2` holds one.
pub fn urls_in(raw: &str) -> usize {
    // Each further URL brings its own "://" (checked first: a million URLs are read at load).
    if raw.matches("://").nth(1).is_none() {
        return 1;
    }
    static NEXT: std::sync::LazyLock<Regex> = std::sync::LazyLock::new(|| {
        Regex::new(r"[\s,]\s*[A-Za-z][A-Za-z0-9+.-]*://").expect("a valid regex")
    });
    1 + NEXT.find_iter(raw.trim()).count()
}

/// Gatus's schemes that no check here speaks yet.
const NOT_YET: &[&str] = &["sctp", "ws", "wss", "ssh"];

/// The schemes a target's URL may have, for error messages.
const SCHEMES: &str = "http://, https://, tcp://, udp://, tls://, starttls://, icmp://, \
                       grpc://, grpcs:// or push://";

/// Why a URL cannot be probed, or its kind. `dns` is true for a target with a `dns:` section,
/// whose URL is the server to ask: `8.8.8.8`, `127.0.0.1:5353` or `dns://server[:port]`.
pub fn check_url(raw: &str, dns: bool) -> Result<(Url, Kind), Expected> {
    let n = urls_in(raw);
    if n > 1 {
        return Err(Expected::new(format!(
            "one URL per target (this holds {n}: give each URL its own entry)"
        )));
    }
    if raw.trim().contains(char::is_whitespace) {
        return Err("a URL without spaces (write a space in a path or query as %20)".into());
    }
    let raw = raw.trim();
    if dns {
        let text = if raw.contains("://") {
            raw.to_owned()
        } else {
            format!("dns://{raw}")
        };
        let url = Url::parse(&text).map_err(|e| {
            Expected::new(format!(
                "a DNS server: an address (8.8.8.8, 127.0.0.1:5353, [::1]:53), a name or \
                 dns://server[:port] ({e})"
            ))
        })?;
        if url.scheme() != "dns" {
            return Err(Expected::new(format!(
                "a DNS server (8.8.8.8, 127.0.0.1:5353 or dns://server[:port]) for a target with \
                 a dns: section, not a {}:// URL",
                url.scheme()
            )));
        }
        host_and_port(&url, Kind::Dns)?;
        return Ok((url, Kind::Dns));
    }
    let url = Url::parse(raw)
        .map_err(|e| Expected::new(format!("a valid URL ({e}), one of {SCHEMES}")))?;
    let scheme = url.scheme().to_ascii_lowercase();
    if NOT_YET.contains(&scheme.as_str()) {
        return Err(Expected::new(format!(
            "a kind of check uptimer supports ({scheme}:// checks are not supported yet; use one \
             of {SCHEMES})"
        )));
    }
    let kind = match Kind::from_scheme(&scheme) {
        Some(Kind::Dns) => {
            return Err(
                "a dns: section for a DNS check (its url is then the server to ask)".into(),
            );
        }
        Some(k) => k,
        None => {
            return Err(Expected::new(format!(
                "a URL of a kind uptimer checks: {SCHEMES} (scheme {scheme:?} cannot be probed)"
            )));
        }
    };
    host_and_port(&url, kind)?;
    Ok((url, kind))
}

/// A URL's host and port for its kind: a host always, a port where the kind needs one and
/// has no default, none where it has no use.
fn host_and_port(url: &Url, kind: Kind) -> Result<(), Expected> {
    if url.host_str().is_none_or(str::is_empty) {
        return Err(match kind {
            Kind::Push => "push://NAME, a name for the push target".into(),
            _ => "a URL with a host".into(),
        });
    }
    if url.port() == Some(0) {
        return Err("a URL with a port from 1 to 65535".into());
    }
    match kind {
        Kind::Tcp | Kind::Udp | Kind::Tls | Kind::Starttls | Kind::Grpc | Kind::Grpcs
            if url.port().is_none() =>
        {
            Err(Expected::new(format!(
                "{kind}://host:port, with the port to check"
            )))
        }
        Kind::Icmp | Kind::Push if url.port().is_some() => Err(Expected::new(format!(
            "{kind}://host without a port ({kind} checks have none)"
        ))),
        _ => Ok(()),
    }
}

/// The URL with its password (if any) replaced by `***`: safe for events, logs and the UI.
pub fn masked_url(url: &Url) -> String {
    if url.password().is_some() {
        let mut u = url.clone();
        let _ = u.set_password(Some("***"));
        u.to_string()
    } else {
        url.to_string()
    }
}

/// Whether the URL as written had a path (`https://h` has none, `https://h/` has `/`).
fn has_path(raw: &str) -> bool {
    let raw = raw.trim();
    let after_scheme = raw.find("://").map_or(raw, |i| &raw[i + 3..]);
    let authority_end = after_scheme.find(['/', '?', '#']);
    authority_end.map(|i| after_scheme.as_bytes()[i]) == Some(b'/')
}

/// The longest id a target may be given.
pub const MAX_ID_LEN: usize = 64;

/// An id as given (`id:`): 1 to 64 letters, digits, `-`, `_` or `.`, so that it reads the same
/// in a URL path (`/api/v1/targets/{id}`), a log line and a Kafka key.
pub fn check_id(id: &str) -> Result<(), Expected> {
    let ok = !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && !matches!(id, "." | ".." | "new");
    if ok {
        Ok(())
    } else {
        Err(Expected::from(
            "an id of 1 to 64 letters, digits, '-', '_' or '.' (not \"new\", the dashboard's page for adding one)",
        ))
    }
}

/// The one hash of ids, phases and shards (it lives with the rounds it places, in the bottom
/// layer, so that the round book in `state` can use it too).
pub use crate::state::phase::fnv1a64;

fn stable_id(name: &str, url: &Url) -> String {
    let mut u = url.clone();
    let _ = u.set_password(None);
    let h = fnv1a64(name.bytes().chain([0]).chain(u.as_str().bytes()));
    format!("{h:016x}")
}

/// The per-target settings before defaults are applied.
#[derive(Debug, Clone, Default)]
pub struct TargetSpec {
    /// The id given (`id:`); else one is made from the name and URL.
    pub id: Option<String>,
    pub name: Option<String>,
    pub url: String,
    pub method: Option<String>,
    pub headers: Vec<(String, String)>,
    pub expected_status: Vec<String>,
    pub regex: Option<String>,
    pub interval: Option<Interval>,
    pub timeout: Option<Duration>,
    pub tls_verify: Option<TlsVerify>,
    pub tags: Vec<String>,
    pub conditions: Vec<String>,
    pub degraded_if: Vec<String>,
    /// The sections of checks beyond HTTP (`tcp:`, `dns:`, …).
    pub check: CheckSections,
    /// Its own alert rules (validated, not yet keyed).
    pub alerts: Vec<crate::state::rules::Rule>,
    /// The targets it depends on (ids or names; names become ids at load).
    pub depends_on: Vec<String>,
}

/// Parses conditions at load: a condition that cannot be parsed is a configuration error
/// naming the setting (`conditions[1]`) and the condition as written.
pub fn parse_conditions(
    field: &str,
    raw: &[String],
) -> Result<Vec<Condition>, (String, String, String)> {
    raw.iter()
        .enumerate()
        .map(|(i, c)| {
            Condition::parse(c).map_err(|e| {
                (
                    format!("{field}[{i}]"),
                    c.clone(),
                    format!("a valid condition (docs/conditions.md): {}", e.kind),
                )
            })
        })
        .collect()
}

/// Defaults a target takes for what its spec leaves out.
#[derive(Debug, Clone)]
pub struct TargetDefaults {
    pub interval: Interval,
    pub timeout: Duration,
    pub tls_verify: TlsVerify,
}

impl TargetSpec {
    /// Validates the spec; `what` names it in errors (`PROBE_URLS[2]`, `targets[0]`).
    pub fn build(self, d: &TargetDefaults) -> Result<Target, (String, String, String)> {
        self.build_in(d, &mut Profiles::default())
    }

    /// [`build`](Self::build), sharing the profile with the targets built before it in
    /// `profiles` that say the same.
    pub fn build_in(
        self,
        d: &TargetDefaults,
        profiles: &mut Profiles,
    ) -> Result<Target, (String, String, String)> {
        let err = |field: &str, value: &str, expected: String| {
            (field.to_owned(), value.to_owned(), expected)
        };
        // What errors show of the URL: its password masked (parsed again only for an error).
        let raw_url = self.url.clone();
        let shown = move || {
            Url::parse(raw_url.trim())
                .map(|u| masked_url(&u))
                .unwrap_or_else(|_| raw_url.clone())
        };
        if let Some(id) = &self.id {
            check_id(id).map_err(|e| err("id", id, e.into()))?;
        }
        let (url, kind) = check_url(&self.url, self.check.dns.is_some())
            .map_err(|e| err("url", &shown(), e.into()))?;
        let written_path = has_path(&self.url);
        let key = ProfileKey {
            kind,
            method: self.method,
            headers: self.headers,
            expected_status: self.expected_status,
            regex: self.regex.filter(|r| !r.is_empty()),
            interval: self.interval.unwrap_or(d.interval),
            timeout: self.timeout.unwrap_or(d.timeout),
            tls_verify: self.tls_verify.unwrap_or_else(|| d.tls_verify.clone()),
            tags: self.tags,
            conditions: self.conditions,
            degraded_if: self.degraded_if,
            alerts: self.alerts,
            depends_on: self.depends_on,
        };
        let profile = if self.check.is_empty() {
            match profiles.by_key.get(&key) {
                Some(p) => p.clone(),
                None => {
                    let p = Arc::new(key.profile(self.check, &shown)?);
                    profiles.by_key.insert(key, p.clone());
                    p
                }
            }
        } else {
            Arc::new(key.profile(self.check, &shown)?)
        };
        let name = self.name.unwrap_or_else(|| masked_url(&url));
        Ok(Target {
            id: match self.id {
                Some(id) => id,
                None => stable_id(&name, &url),
            },
            source: Source::default(),
            written_path,
            port: match kind {
                Kind::Icmp | Kind::Push => None,
                Kind::Dns => Some(url.port().unwrap_or(53)),
                _ => Some(url.port_or_known_default().unwrap_or(80)),
            },
            kind,
            name,
            url,
            profile,
        })
    }
}

/// The profiles made while loading many targets, by what their specs said: targets that say
/// the same share one. For one load (one set of defaults); dropped after it.
#[derive(Debug, Default)]
pub struct Profiles {
    by_key: HashMap<ProfileKey, Arc<Profile>, foldhash::fast::RandomState>,
}

/// What a target's spec says of its profile, with the defaults applied, and its kind; the
/// sections of checks beyond HTTP are not part of it (a target with one gets its own profile).
#[derive(Debug, PartialEq, Eq, Hash)]
struct ProfileKey {
    kind: Kind,
    method: Option<String>,
    headers: Vec<(String, String)>,
    expected_status: Vec<String>,
    regex: Option<String>,
    interval: Interval,
    timeout: Duration,
    tls_verify: TlsVerify,
    tags: Vec<String>,
    conditions: Vec<String>,
    degraded_if: Vec<String>,
    alerts: Vec<crate::state::rules::Rule>,
    depends_on: Vec<String>,
}

impl ProfileKey {
    /// Validates and builds the profile; `shown` gives the URL as errors show it.
    fn profile(
        &self,
        sections: CheckSections,
        shown: &dyn Fn() -> String,
    ) -> Result<Profile, (String, String, String)> {
        let err = |field: &str, value: &str, expected: String| {
            (field.to_owned(), value.to_owned(), expected)
        };
        let kind = self.kind;
        if !kind.is_http() {
            let http_only = [
                ("method", self.method.is_some()),
                ("headers", !self.headers.is_empty()),
                ("expected_status", !self.expected_status.is_empty()),
                ("regex", self.regex.is_some()),
            ];
            if let Some((key, _)) = http_only.iter().find(|(_, given)| *given) {
                return Err(err(
                    key,
                    &shown(),
                    format!("no {key} on a {kind} target ({key} is an HTTP setting)"),
                ));
            }
        }
        let method_raw = self.method.as_deref().unwrap_or("GET");
        let method =
            Method::from_bytes(method_raw.to_ascii_uppercase().as_bytes()).map_err(|_| {
                err(
                    "method",
                    method_raw,
                    "an HTTP method such as GET or HEAD".into(),
                )
            })?;
        let headers = self
            .headers
            .iter()
            .map(|(k, v)| {
                let name = HeaderName::from_bytes(k.as_bytes())
                    .map_err(|_| err("headers", k, "a valid header name".into()))?;
                let value = HeaderValue::from_str(v)
                    .map_err(|_| err("headers", k, "a header value of visible ASCII".into()))?;
                Ok((name, value))
            })
            .collect::<Result<Vec<_>, (String, String, String)>>()?;
        let expected_status = if self.expected_status.is_empty() {
            vec![StatusRange::DEFAULT]
        } else {
            self.expected_status
                .iter()
                .map(|s| StatusRange::parse(s).map_err(|e| err("expected_status", s, e.into())))
                .collect::<Result<_, _>>()?
        };
        let regex = match &self.regex {
            Some(r) => Some(
                crate::regexes::shared(r)
                    .map_err(|e| err("regex", r, format!("a valid regex ({e})")))?,
            ),
            None => None,
        };
        let conditions = parse_conditions("conditions", &self.conditions)?;
        let degraded_if = parse_conditions("degraded_if", &self.degraded_if)?;
        for (field, list, raw) in [
            ("conditions", &conditions, &self.conditions),
            ("degraded_if", &degraded_if, &self.degraded_if),
        ] {
            if let Err((i, placeholder)) = crate::conditions::check_kind(list, kind) {
                return Err(err(
                    &format!("{field}[{i}]"),
                    &raw[i],
                    format!(
                        "a condition a {kind} check can meet: {}",
                        crate::conditions::not_produced_text(placeholder, kind)
                    ),
                ));
            }
        }
        let check = sections.build(kind, &self.tls_verify)?;
        Ok(Profile {
            method,
            headers,
            expected_status,
            regex,
            interval: self.interval,
            timeout: self.timeout,
            tls_verify: self.tls_verify.clone(),
            tags: self.tags.clone(),
            conditions,
            degraded_if,
            check,
            alerts: self.alerts.clone().into(),
            depends_on: self.depends_on.clone().into(),
        })
    }
}

/// Header names whose values are secrets and are masked when printed.
pub fn is_secret_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    ["auth", "cookie", "token", "key", "secret", "password"]
        .iter()
        .any(|s| n.contains(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> TargetDefaults {
        TargetDefaults {
            interval: Interval::Every(Duration::from_secs(10)),
            timeout: Duration::from_secs(10),
            tls_verify: TlsVerify::Yes,
        }
    }

    fn build(url: &str) -> Result<Target, (String, String, String)> {
        TargetSpec {
            url: url.into(),
            ..Default::default()
        }
        .build(&defaults())
    }

    #[test]
    fn fields_match_the_original() {
        let t = build("HTTPS://User:pw@Example.ORG?q=1").unwrap();
        assert_eq!(
            (&*t.hostname(), t.port, t.path()),
            ("example.org", Some(443), "")
        );
        let t = build("http://example.org:8080/a/b?q=1#f").unwrap();
        assert_eq!((t.port, t.path()), (Some(8080), "/a/b"));
        let t = build("http://[::1]:81/").unwrap();
        assert_eq!((&*t.hostname(), t.path()), ("::1", "/"));
    }

    #[test]
    fn unprobeable_urls_are_errors() {
        for bad in [
            "ftp://example.org/",
            "http://",
            "http://example.org:0/",
            "example.org",
            "https://exa mple.org",
        ] {
            assert!(build(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn several_urls_in_one_string_are_counted_and_refused() {
        assert_eq!(urls_in("http://a/ http://b/"), 2);
        assert_eq!(urls_in("http://a/,https://b/, http://c/"), 3);
        assert_eq!(urls_in(" http://a/?ids=1,2 "), 1);
        assert!(build("http://a.example/ http://b.example/").is_err());
        assert!(build("http://a.example/x y").is_err());
        assert!(build("http://a.example/x%20y").is_ok());
    }

    #[test]
    fn passwords_are_masked_and_do_not_change_the_id() {
        let a = build("https://user:secret@example.org/").unwrap();
        let b = build("https://user:other@example.org/").unwrap();
        assert_eq!(masked_url(&a.url), "https://user:***@example.org/");
        assert!(!a.name.contains("secret"));
        assert_ne!(a.name, "");
        assert_eq!(stable_id("n", &a.url), stable_id("n", &b.url));
        assert_eq!(stable_id("n", &a.url).len(), 16);
    }

    #[test]
    fn conditions_are_parsed_at_load_and_a_bad_one_is_named() {
        let spec = |conditions: &[&str], degraded_if: &[&str]| TargetSpec {
            url: "http://example.org/".into(),
            conditions: conditions.iter().map(|c| (*c).to_owned()).collect(),
            degraded_if: degraded_if.iter().map(|c| (*c).to_owned()).collect(),
            ..Default::default()
        };
        let t = spec(
            &["[STATUS] == 200", "[BODY].status == UP"],
            &["[RESPONSE_TIME] > 800"],
        )
        .build(&defaults())
        .unwrap();
        assert_eq!(t.conditions.len(), 2);
        assert_eq!(t.conditions[1].as_str(), "[BODY].status == UP");
        assert_eq!(t.degraded_if[0].as_str(), "[RESPONSE_TIME] > 800");
        let (field, value, expected) = spec(&["[STATUS] == 200", "[STATU] == 200"], &[])
            .build(&defaults())
            .unwrap_err();
        assert_eq!(
            (field.as_str(), value.as_str()),
            ("conditions[1]", "[STATU] == 200")
        );
        assert!(expected.contains("unknown placeholder"), "{expected}");
        let (field, ..) = spec(&[], &["[RESPONSE_TIME] >> 800"])
            .build(&defaults())
            .unwrap_err();
        assert_eq!(field, "degraded_if[0]");
    }

    #[test]
    fn targets_that_say_the_same_share_one_profile_and_a_change_copies_it() {
        let mut profiles = Profiles::default();
        let spec = |url: &str, tags: &[&str]| TargetSpec {
            url: url.into(),
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            ..Default::default()
        };
        let a = spec("http://a.example/", &[])
            .build_in(&defaults(), &mut profiles)
            .unwrap();
        let b = spec("http://b.example/x", &[])
            .build_in(&defaults(), &mut profiles)
            .unwrap();
        let c = spec("http://c.example/", &["eu"])
            .build_in(&defaults(), &mut profiles)
            .unwrap();
        let tcp = spec("tcp://c.example:22", &[])
            .build_in(&defaults(), &mut profiles)
            .unwrap();
        assert!(Arc::ptr_eq(&a.profile, &b.profile));
        assert!(!Arc::ptr_eq(&a.profile, &c.profile));
        assert!(
            !Arc::ptr_eq(&a.profile, &tcp.profile),
            "the kind is part of the profile"
        );
        assert_eq!(
            (b.path(), c.tags.as_slice()),
            ("/x", &["eu".to_owned()][..])
        );
        // A second target with the first's settings but a bad one of its own is still refused.
        let bad = TargetSpec {
            method: Some("G E T".into()),
            ..spec("http://d.example/", &[])
        };
        assert_eq!(
            bad.build_in(&defaults(), &mut profiles).unwrap_err().0,
            "method"
        );
        let mut changed = b.clone();
        changed.profile_mut().timeout = Duration::from_secs(1);
        assert_eq!(
            (a.timeout, changed.timeout),
            (Duration::from_secs(10), Duration::from_secs(1))
        );
    }

    #[test]
    fn status_ranges() {
        assert_eq!(StatusRange::parse("2xx"), Ok(StatusRange(200, 299)));
        assert_eq!(StatusRange::parse("200-204"), Ok(StatusRange(200, 204)));
        assert_eq!(StatusRange::parse("418"), Ok(StatusRange(418, 418)));
        for bad in ["9xx", "300-200", "abc", "99"] {
            assert!(StatusRange::parse(bad).is_err(), "{bad}");
        }
    }
}
