//! The targets of all sources together: the config file's `targets:`, a targets file,
//! `PROBE_URLS` and the command line. Each keeps the name its source gives it (`targets[0]`,
//! `targets.jsonl:12`, `PROBE_URLS[1]`, `URL[0]`) so that an error or a warning points at the
//! line the user wrote, and two entries that would be probed under one id are refused while
//! both can still be named. Entries are built one at a time ([`Builder::add`]): a targets file
//! of a million lines never exists as a list of specs.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::checks::CheckSections;
use super::parse::{self, Interval};
use super::target::{self, Source, Target, TargetDefaults, TargetSpec};
use super::{ConfigError, Env, Overrides, file, from_file};

/// Where an entry was written.
#[derive(Debug, Clone)]
pub(super) enum Label {
    /// An item of a list: `targets[0]`, `endpoints[2]`, `PROBE_URLS[1]`, `URL[0]`.
    Item(String),
    /// A line of a targets file (or of stdin), counted from 1.
    Line { file: Arc<str>, line: u64 },
}

impl Label {
    /// The setting an error names: the entry (`PROBE_URLS[1]`, `targets.jsonl line 12`), or
    /// one of its fields (`targets[0].url`, `targets.jsonl line 12: url`).
    pub(super) fn setting(&self, field: Option<&str>) -> String {
        match (self, field) {
            (Label::Item(l), None) => l.clone(),
            (Label::Item(l), Some(f)) => format!("{l}.{f}"),
            (Label::Line { file, line }, None) => format!("{file} line {line}"),
            (Label::Line { file, line }, Some(f)) => format!("{file} line {line}: {f}"),
        }
    }
}

/// `targets[0]`, `targets.jsonl:12`: how one entry names another.
impl std::fmt::Display for Label {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Label::Item(l) => f.write_str(l),
            Label::Line { file, line } => write!(f, "{file}:{line}"),
        }
    }
}

/// A target's spec and the name of the entry it came from.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    label: Label,
    source: Source,
    /// Whether errors name the field (`targets[0].url`): entries with more than a URL.
    has_fields: bool,
    spec: TargetSpec,
}

impl Entry {
    /// A URL given on the command line (`uptimer probe URL...`).
    pub(super) fn flag(i: usize, url: &str) -> Entry {
        Entry {
            label: Label::Item(format!("URL[{i}]")),
            source: Source::Env,
            has_fields: false,
            spec: TargetSpec {
                url: url.to_owned(),
                ..Default::default()
            },
        }
    }

    /// An entry of a config file with fields of its own, named `label` (`endpoints[2]`).
    pub(super) fn file(label: String, spec: TargetSpec) -> Entry {
        Entry {
            label: Label::Item(label),
            source: Source::File,
            has_fields: true,
            spec,
        }
    }

    /// Line `label` of a targets file: a URL alone, or a target object (`has_fields`).
    pub(super) fn line(label: Label, source: Source, has_fields: bool, spec: TargetSpec) -> Entry {
        Entry {
            label,
            source,
            has_fields,
            spec,
        }
    }
}

/// What the command line sets on every target (`--regex`, `--condition`, `--degraded-if`),
/// checked once before any target is built.
#[derive(Debug, Default)]
pub(super) struct SpecOverrides {
    regex: Option<String>,
    conditions: Option<Vec<String>>,
    degraded_if: Option<Vec<String>>,
    url_placeholders: bool,
}

impl SpecOverrides {
    pub(super) fn of(flags: &Overrides) -> Result<SpecOverrides, ConfigError> {
        if let Some(r) = &flags.regex {
            regex::Regex::new(r)
                .map_err(|e| ConfigError::new("--regex", r, format!("a valid regex ({e})")))?;
        }
        let mut out = SpecOverrides {
            regex: flags.regex.clone(),
            url_placeholders: flags.url_placeholders,
            ..Default::default()
        };
        for (flag, raw) in [
            ("--condition", &flags.conditions),
            ("--degraded-if", &flags.degraded_if),
        ] {
            if raw.is_empty() {
                continue;
            }
            target::parse_conditions(flag, raw)
                .map_err(|(_, value, expected)| ConfigError::new(flag, value, expected))?;
            if flag == "--condition" {
                out.conditions = Some(raw.clone());
            } else {
                out.degraded_if = Some(raw.clone());
            }
        }
        Ok(out)
    }

    fn apply(&self, spec: &mut TargetSpec) {
        // A malformed reference is left as written: the URL's check then names it.
        if self.url_placeholders
            && let Ok(url) = super::env_refs::placeholder(&spec.url)
        {
            spec.url = url;
        }
        if let Some(r) = &self.regex {
            spec.regex = Some(r.clone());
        }
        if let Some(c) = &self.conditions {
            spec.conditions = c.clone();
        }
        if let Some(c) = &self.degraded_if {
            spec.degraded_if = c.clone();
        }
    }
}

/// Builds the targets of every source in turn: validates each entry as it comes, refuses two
/// entries with one id, and keeps only the targets (and a label each).
pub(super) struct Builder<'a> {
    defaults: &'a TargetDefaults,
    overrides: SpecOverrides,
    targets: Vec<Target>,
    labels: Vec<Label>,
    /// Where each id was first seen (an index into `targets`).
    seen: HashMap<String, usize, foldhash::fast::RandomState>,
    /// The profiles of the targets built so far, shared by the ones that say the same.
    profiles: target::Profiles,
}

impl<'a> Builder<'a> {
    pub(super) fn new(defaults: &'a TargetDefaults, overrides: SpecOverrides) -> Builder<'a> {
        Builder {
            defaults,
            overrides,
            targets: Vec::new(),
            labels: Vec::new(),
            seen: HashMap::default(),
            profiles: target::Profiles::default(),
        }
    }

    /// Validates `entry` and adds its target, or says what is wrong with it (a duplicate id
    /// included, naming the entry that has it first).
    pub(super) fn add(&mut self, entry: Entry) -> Result<(), ConfigError> {
        let Entry {
            label,
            source,
            has_fields,
            mut spec,
        } = entry;
        self.overrides.apply(&mut spec);
        let mut t = spec.build_in(self.defaults, &mut self.profiles).map_err(
            |(field, value, expected)| {
                ConfigError::new(
                    label.setting(has_fields.then_some(&*field)),
                    value,
                    expected,
                )
            },
        )?;
        t.source = source;
        if let Some(&first) = self.seen.get(&t.id) {
            return Err(ConfigError::new(
                label.setting(None),
                target::masked_url(&t.url),
                format!(
                    "a target different from {} (the same name and URL make the same id {}): \
                     remove one or give one a name of its own",
                    self.labels[first], t.id
                ),
            ));
        }
        self.seen.insert(t.id.clone(), self.targets.len());
        self.labels.push(label);
        self.targets.push(t);
        Ok(())
    }

    /// Every entry of `entries`, in order.
    pub(super) fn add_all(
        &mut self,
        entries: impl IntoIterator<Item = Entry>,
    ) -> Result<(), ConfigError> {
        entries.into_iter().try_for_each(|e| self.add(e))
    }

    /// The targets, with the warnings their settings deserve.
    pub(super) fn finish(self) -> (Vec<Target>, Vec<String>) {
        let warnings = timeout_warnings(&self.targets, &self.labels);
        (self.targets, warnings)
    }
}

/// The `targets:` of the config file, each freed once its target is built.
pub(super) fn file_targets(
    fc: &mut file::FileConfig,
    builder: &mut Builder,
) -> Result<(), ConfigError> {
    for (i, mut t) in std::mem::take(&mut fc.targets).into_iter().enumerate() {
        let label = format!("targets[{i}]");
        let spec = spec_of(&mut t, &format!("{label}."))?;
        builder.add(Entry::file(label, spec))?;
    }
    Ok(())
}

/// The spec of one target object of a file (or the API), taking its fields; `prefix` names
/// its fields in errors (`targets[0].`, or nothing).
pub(super) fn spec_of(t: &mut file::FileTarget, prefix: &str) -> Result<TargetSpec, ConfigError> {
    let n = |field: &str| format!("{prefix}{field}");
    Ok(TargetSpec {
        id: t.id.take(),
        name: t.name.take(),
        url: std::mem::take(&mut t.url),
        method: t.method.take(),
        headers: std::mem::take(&mut t.headers).into_iter().collect(),
        expected_status: t
            .expected_status
            .iter()
            .map(|s| match s {
                file::Status::Code(c) => c.to_string(),
                file::Status::Text(t) => t.clone(),
            })
            .collect(),
        regex: t.regex.take(),
        interval: from_file(t.interval.as_ref(), &n("interval"), parse::interval)?,
        timeout: from_file(t.timeout.as_ref(), &n("timeout"), parse::seconds)?,
        tls_verify: from_file(t.tls_verify.as_ref(), &n("tls_verify"), parse::tls_verify)?,
        tags: std::mem::take(&mut t.tags),
        conditions: std::mem::take(&mut t.conditions),
        degraded_if: std::mem::take(&mut t.degraded_if),
        check: CheckSections {
            tcp: t.tcp.take(),
            icmp: t.icmp.take(),
            dns: t.dns.take(),
            grpc: t.grpc.take(),
            body: t.body.take(),
            token: t.token.take(),
            grace: from_file(t.grace.as_ref(), &n("grace"), parse::seconds)?,
        },
        alerts: super::alerting::rules_of(&t.alerts, &n("alerts"))?,
        depends_on: std::mem::take(&mut t.depends_on)
            .into_iter()
            .map(|d| d.trim().to_owned())
            .filter(|d| !d.is_empty())
            .collect(),
    })
}

/// A target made through the API from `body`, a target object as the config file writes one
/// (JSON): validated as the file's targets are, with the same defaults. The error names the
/// field (`url`, `interval`, `tcp.query_response[0].expect`) as [`ConfigError::setting`].
pub fn api_target(
    body: &serde_json::Value,
    defaults: &TargetDefaults,
) -> Result<Target, ConfigError> {
    let mut t: file::FileTarget = serde_json::from_value(body.clone()).map_err(|e| {
        let (field, expected) = not_a_target_object(&e);
        ConfigError::new(field.unwrap_or_default(), "", expected)
    })?;
    if !t.alerts.is_empty() {
        return Err(ConfigError::new(
            "alerts",
            "",
            "no alerts on a target made through the API (give them in the config file, or per tag in its alert_rules:)",
        ));
    }
    if !t.depends_on.is_empty() {
        return Err(ConfigError::new(
            "depends_on",
            "",
            "no depends_on on a target made through the API (give it in the config file)",
        ));
    }
    let spec = spec_of(&mut t, "")?;
    let mut target = spec
        .build(defaults)
        .map_err(|(field, value, expected)| ConfigError::new(field, value, expected))?;
    target.source = Source::Api;
    Ok(target)
}

/// Why a JSON document is not a target object: the key at fault when serde names one (an
/// unknown or missing field), and the "expected …" of the error.
pub(super) fn not_a_target_object(e: &serde_json::Error) -> (Option<String>, String) {
    let text = e.to_string();
    // serde names the offending key in backticks: "unknown field `x`, expected …".
    let field = text
        .split('`')
        .nth(1)
        .filter(|_| text.starts_with("unknown field") || text.starts_with("missing field"))
        .map(str::to_owned);
    (
        field,
        format!("a target object as in the config file ({text})"),
    )
}

/// How a list is written, for the error about several URLs in one item.
const LIST_EXPECTED: &str = "one URL per list item: write a list as [\"http://a/\", \"http://b/\"] \
     (also [http://a/, http://b/], a YAML block list or a TOML array)";

/// `PROBE_URLS` with `PROBE_REGEXES`: one regex for all URLs or exactly one per URL.
pub(super) fn env_targets(env: &Env) -> Result<Vec<Entry>, ConfigError> {
    let Some(raw_urls) = env.get("PROBE_URLS") else {
        return Ok(Vec::new());
    };
    let urls = parse::list(raw_urls).map_err(|e| ConfigError::new("PROBE_URLS", raw_urls, e))?;
    // `'http://a/ http://b/'` is one YAML string: without this check it would become one
    // target whose path holds `%20http://b/`.
    if let Some(n) = urls.iter().map(|u| target::urls_in(u)).find(|n| *n > 1) {
        return Err(ConfigError::new(
            "PROBE_URLS",
            raw_urls,
            format!("{LIST_EXPECTED}; an item here holds {n} URLs"),
        ));
    }
    let regexes = match env.get("PROBE_REGEXES") {
        Some(r) => parse::list(r).map_err(|e| ConfigError::new("PROBE_REGEXES", r, e))?,
        None => Vec::new(),
    };
    if regexes.len() > 1 && regexes.len() != urls.len() {
        return Err(ConfigError::new(
            "PROBE_REGEXES",
            env.get("PROBE_REGEXES").unwrap_or_default(),
            format!(
                "one regex for all URLs or exactly one per URL ({} URLs, {} regexes)",
                urls.len(),
                regexes.len()
            ),
        ));
    }
    let mut entries = Vec::with_capacity(urls.len());
    for (i, url) in urls.into_iter().enumerate() {
        if let Err(e) = target::check_url(&url, false) {
            return Err(ConfigError::new(format!("PROBE_URLS[{i}]"), url, e));
        }
        let regex = match regexes.len() {
            0 => None,
            1 => Some(regexes[0].clone()),
            _ => Some(regexes[i].clone()),
        };
        if let Some(r) = &regex
            && let Err(e) = regex::Regex::new(r)
        {
            return Err(ConfigError::new(
                "PROBE_REGEXES",
                r,
                format!("a valid regex ({e})"),
            ));
        }
        entries.push(Entry {
            label: Label::Item(format!("PROBE_URLS[{i}]")),
            source: Source::Env,
            has_fields: false,
            spec: TargetSpec {
                url,
                regex,
                ..Default::default()
            },
        });
    }
    Ok(entries)
}

/// Past this many, the targets whose timeout is not shorter than their interval share one line.
const WARN_EACH_UP_TO: usize = 3;

/// The original's defaults, 10 s each: not warned about, or every default setup would be.
/// A round skipped at run time is logged by the scheduler.
const DEFAULT_PAIR: (Duration, Duration) = (Duration::from_secs(10), Duration::from_secs(10));

/// A target whose timeout is not shorter than its interval: when it hangs, its probe is still
/// running when the next round is due, and that round is skipped.
fn timeout_warnings(targets: &[Target], labels: &[Label]) -> Vec<String> {
    const WHY: &str = "a target that hangs is still being probed when its next round is due, \
                       and that round is skipped; set the timeout below the interval";
    let slow: Vec<(String, String)> = targets
        .iter()
        .zip(labels)
        .filter_map(|(t, label)| match t.interval {
            Interval::Every(i) if t.timeout >= i && (t.timeout, i) != DEFAULT_PAIR => Some((
                format!("{label} ({})", t.name),
                (t.timeout.as_secs_f64(), i.as_secs_f64()),
            )),
            _ => None,
        })
        .map(|(who, (t, i))| (who, format!("timeout {t}s, interval {i}s")))
        .collect();
    if slow.len() <= WARN_EACH_UP_TO {
        return slow
            .into_iter()
            .map(|(who, values)| {
                format!("{who}: the timeout is not shorter than the interval ({values}): {WHY}")
            })
            .collect();
    }
    let first: Vec<String> = slow[..WARN_EACH_UP_TO]
        .iter()
        .map(|(who, values)| format!("{who}: {values}"))
        .collect();
    vec![format!(
        "{} targets have a timeout not shorter than their interval ({}; and {} more): {WHY}",
        slow.len(),
        first.join("; "),
        slow.len() - WARN_EACH_UP_TO
    )]
}
