//! The targets of all sources together: the config file's `targets:`, `PROBE_URLS` and the
//! command line. Each keeps the name its source gives it (`targets[0]`, `PROBE_URLS[1]`,
//! `URL[0]`) so that an error or a warning points at the line the user wrote, and two entries
//! that would be probed under one id are refused while both can still be named.

use std::collections::HashMap;
use std::time::Duration;

use super::checks::CheckSections;
use super::parse::{self, Interval};
use super::target::{self, Source, Target, TargetDefaults, TargetSpec};
use super::{ConfigError, Env, file, from_file};

/// A target's spec and the name of the entry it came from.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    /// `targets[0]`, `PROBE_URLS[1]`, `URL[0]`.
    label: String,
    source: Source,
    /// Whether fields are named after the label (`targets[0].url`): only file entries have more
    /// than a URL.
    has_fields: bool,
    spec: TargetSpec,
}

impl Entry {
    /// A URL given on the command line (`uptimer probe URL...`).
    pub(super) fn flag(i: usize, url: &str) -> Entry {
        Entry {
            label: format!("URL[{i}]"),
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
            label,
            source: Source::File,
            has_fields: true,
            spec,
        }
    }

    pub(super) fn spec_mut(&mut self) -> &mut TargetSpec {
        &mut self.spec
    }
}

/// The `targets:` of the config file.
pub(super) fn file_targets(fc: &mut file::FileConfig) -> Result<Vec<Entry>, ConfigError> {
    std::mem::take(&mut fc.targets)
        .into_iter()
        .enumerate()
        .map(|(i, mut t)| {
            let label = format!("targets[{i}]");
            Ok(Entry {
                spec: spec_of(&mut t, &format!("{label}."))?,
                label,
                source: Source::File,
                has_fields: true,
            })
        })
        .collect()
}

/// The spec of one target object of a file (or the API), taking its fields; `prefix` names
/// its fields in errors (`targets[0].`, or nothing).
fn spec_of(t: &mut file::FileTarget, prefix: &str) -> Result<TargetSpec, ConfigError> {
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
        let text = e.to_string();
        // serde names the offending key in backticks: "unknown field `x`, expected …".
        let field = text
            .split('`')
            .nth(1)
            .filter(|_| text.starts_with("unknown field") || text.starts_with("missing field"))
            .unwrap_or("")
            .to_owned();
        ConfigError::new(
            field,
            "",
            format!("a target object as in the config file ({text})"),
        )
    })?;
    let spec = spec_of(&mut t, "")?;
    let mut target = spec
        .build(defaults)
        .map_err(|(field, value, expected)| ConfigError::new(field, value, expected))?;
    target.source = Source::Api;
    Ok(target)
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
            label: format!("PROBE_URLS[{i}]"),
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

/// Validates every entry, refuses two entries with one id, and returns the targets with the
/// warnings their settings deserve.
pub(super) fn build(
    entries: Vec<Entry>,
    defaults: &TargetDefaults,
) -> Result<(Vec<Target>, Vec<String>), ConfigError> {
    let mut targets = Vec::with_capacity(entries.len());
    let mut labels = Vec::with_capacity(entries.len());
    let mut seen: HashMap<String, usize, foldhash::fast::RandomState> =
        HashMap::with_capacity_and_hasher(entries.len(), Default::default());
    let mut profiles = target::Profiles::default();
    for entry in entries {
        let mut t =
            entry
                .spec
                .build_in(defaults, &mut profiles)
                .map_err(|(field, value, expected)| {
                    let setting = if entry.has_fields {
                        format!("{}.{field}", entry.label)
                    } else {
                        entry.label.clone()
                    };
                    ConfigError::new(setting, value, expected)
                })?;
        t.source = entry.source;
        if let Some(&first) = seen.get(&t.id) {
            return Err(ConfigError::new(
                &entry.label,
                target::masked_url(&t.url),
                format!(
                    "a target different from {} (the same name and URL make the same id {}): \
                     remove one or give one a name of its own",
                    labels[first], t.id
                ),
            ));
        }
        seen.insert(t.id.clone(), targets.len());
        labels.push(entry.label);
        targets.push(t);
    }
    let warnings = timeout_warnings(&targets, &labels);
    Ok((targets, warnings))
}

/// Past this many, the targets whose timeout is not shorter than their interval share one line.
const WARN_EACH_UP_TO: usize = 3;

/// The original's defaults, 10 s each: not warned about, or every default setup would be.
/// A round skipped at run time is logged by the scheduler.
const DEFAULT_PAIR: (Duration, Duration) = (Duration::from_secs(10), Duration::from_secs(10));

/// A target whose timeout is not shorter than its interval: when it hangs, its probe is still
/// running when the next round is due, and that round is skipped.
fn timeout_warnings(targets: &[Target], labels: &[String]) -> Vec<String> {
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
