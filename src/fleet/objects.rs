//! The target objects a publisher sends: read from a config file's `targets:` and a targets
//! file as written (a bare URL becomes `{"url": …}`), each checked as the probers will build
//! it, and completed with what every location must agree on: its `id` (its round and phase
//! follow from it), its `interval` and its `timeout` (a prober's own `PROBE_INTERVAL` must not
//! change a published target's rounds). `${NAME}` references stay as written: each prober
//! resolves them from its own environment, so a secret never travels.

use std::io::BufRead;
use std::path::Path;

use serde_json::{Map, Value};

use time::OffsetDateTime;

use crate::config::env_refs::{self, RefError};
use crate::config::target::{Source, Target, TargetDefaults};
use crate::config::{ConfigError, Interval, api_target};
use crate::event::{Envelope, JobEvent};

/// A target object as read, with where it was read (`targets[3]`, `targets.jsonl line 12`).
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    pub label: String,
    pub object: Value,
}

/// Why a file's targets cannot be published.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("{label}: {error}")]
    Target { label: String, error: String },
}

fn read_error(path: &Path, reason: impl ToString) -> ObjectError {
    ObjectError::Read {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

/// The `targets:` of the config file at `path` (TOML when its name ends in `.toml`, else YAML,
/// which JSON is too) and the targets file it names (`targets_file:`, relative to it) or
/// `targets_file` (given on the command line, which replaces it).
pub fn read(path: &Path, targets_file: Option<&Path>) -> Result<Vec<Written>, ObjectError> {
    let text = std::fs::read_to_string(path).map_err(|e| read_error(path, e))?;
    let doc: Value = if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("toml"))
    {
        toml::from_str(&text).map_err(|e| read_error(path, e))?
    } else {
        serde_yaml_ng::from_str(&text).map_err(|e| read_error(path, e))?
    };
    let doc = match doc {
        Value::Null => Value::Object(Map::new()),
        d @ Value::Object(_) => d,
        _ => return Err(read_error(path, "expected a mapping of settings")),
    };
    if doc.get("endpoints").is_some() && doc.get("targets").is_none() {
        return Err(read_error(
            path,
            "a Gatus file's endpoints: are not published; write them as targets: (docs/fleet.md)",
        ));
    }
    let mut out = Vec::new();
    match doc.get("targets") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                out.push(Written {
                    label: format!("targets[{i}]"),
                    object: item.clone(),
                });
            }
        }
        Some(_) => return Err(read_error(path, "targets: expected a list")),
    }
    let named = doc
        .get("targets_file")
        .and_then(Value::as_str)
        .map(|f| path.parent().unwrap_or(Path::new(".")).join(f));
    if let Some(file) = targets_file.map(Path::to_path_buf).or(named) {
        read_lines(&file, &mut out)?;
    }
    Ok(out)
}

/// A targets file: one URL or JSON target object per line, `#` comments and blank lines.
fn read_lines(path: &Path, out: &mut Vec<Written>) -> Result<(), ObjectError> {
    let f = std::fs::File::open(path).map_err(|e| read_error(path, e))?;
    let name = path.display().to_string();
    for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line.map_err(|e| read_error(path, e))?;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let label = format!("{name} line {}", i + 1);
        let object = if line.starts_with('{') {
            serde_json::from_str(line).map_err(|e| ObjectError::Target {
                label: label.clone(),
                error: format!("not a JSON target object: {e}"),
            })?
        } else {
            Value::String(line.to_owned())
        };
        out.push(Written { label, object });
    }
    Ok(())
}

/// A target ready to publish.
#[derive(Debug)]
pub struct Completed {
    pub id: String,
    /// The object, with `id`, `interval` and `timeout` set and references as written.
    pub definition: Value,
    /// The target as checked (references replaced by a placeholder).
    pub checked: Target,
}

/// The object published for `written`: checked as a prober builds it (references replaced by
/// a placeholder), with `id`, `interval` and `timeout` set.
pub fn complete(written: &Written, defaults: &TargetDefaults) -> Result<Completed, ObjectError> {
    let fail = |error: String| ObjectError::Target {
        label: written.label.clone(),
        error,
    };
    let mut object = match &written.object {
        Value::String(url) => {
            let mut m = Map::new();
            m.insert("url".into(), Value::String(url.clone()));
            m
        }
        Value::Object(m) => m.clone(),
        _ => return Err(fail("expected a URL or a target object".into())),
    };
    let url = object
        .get("url")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let has_refs = !env_refs::refs(url).is_empty();
    let checked = checkable(&object).map_err(|e| fail(e.to_string()))?;
    let target = api_target(&Value::Object(checked), defaults)
        .map_err(|e: ConfigError| fail(e.to_string()))?;
    if has_refs && !object.contains_key("id") {
        return Err(fail(
            "a target whose url has ${NAME} references needs an id: so that every location \
             agrees on it"
                .into(),
        ));
    }
    let Interval::Every(every) = target.interval else {
        return Err(fail(
            "a fleet's targets are probed on an interval, not once".into(),
        ));
    };
    let seconds = |d: std::time::Duration| Value::String(format!("{}s", d.as_secs_f64()));
    let id = match object.get("id").and_then(Value::as_str) {
        Some(id) => id.to_owned(),
        None => target.id.clone(),
    };
    object.insert("id".into(), Value::String(id.clone()));
    object.insert("interval".into(), seconds(every));
    object.insert("timeout".into(), seconds(target.timeout));
    Ok(Completed {
        id,
        definition: Value::Object(object),
        checked: target,
    })
}

/// The target a prober probes for a published `definition`: its `${NAME}` references
/// resolved by `lookup` (the prober's own environment), checked as the config file's targets
/// are, its id the published one. An unset variable is an error naming it and the target.
pub fn probed(
    definition: &Value,
    lookup: impl Fn(&str) -> Option<String>,
    defaults: &TargetDefaults,
) -> Result<Target, ObjectError> {
    let id = definition
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let fail = |error: String| ObjectError::Target {
        label: format!("published target {id:?}"),
        error,
    };
    let Value::Object(object) = definition else {
        return Err(fail("expected a target object".into()));
    };
    let mut o = object.clone();
    o.remove("alerts");
    o.remove("depends_on");
    let resolve = |s: &str| env_refs::resolve(s, &lookup).map_err(|e| fail(e.to_string()));
    if let Some(Value::String(url)) = o.get_mut("url") {
        *url = resolve(url)?;
    }
    if let Some(Value::Object(headers)) = o.get_mut("headers") {
        for value in headers.values_mut() {
            if let Value::String(v) = value {
                *v = resolve(v)?;
            }
        }
    }
    if id.is_empty() {
        return Err(fail("no id".into()));
    }
    let mut target = api_target(&Value::Object(o), defaults).map_err(|e| fail(e.to_string()))?;
    target.id = id;
    target.source = Source::Fleet;
    Ok(target)
}

/// The JobEvent that publishes `c` for `source`: the address summarised (the host as written
/// when it is a reference), the whole object in `definition`.
pub fn job(c: &Completed, source: &str) -> JobEvent {
    let t = &c.checked;
    let written = c
        .definition
        .get("url")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let hostname = if env_refs::refs(written).is_empty() {
        t.hostname().into_owned()
    } else {
        written_host(written)
    };
    let path = t.path();
    JobEvent {
        envelope: Envelope::new(
            JobEvent::TITLE,
            JobEvent::VERSION,
            OffsetDateTime::now_utc(),
        ),
        protocol: t.url.scheme().to_owned(),
        hostname,
        port: t.port,
        path: (!path.is_empty()).then(|| path.to_owned()),
        tls_verify: None,
        target: Some(c.id.clone()),
        source: Some(source.to_owned()),
        definition: Some(c.definition.clone()),
    }
}

/// The host of a URL as written (`https://user:pw@${HOST}:8443/x` → `${HOST}`).
fn written_host(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) && !h.is_empty() => h,
        _ => host,
    }
    .to_owned()
}

/// The object as the check sees it: references in the URL and the header values replaced by a
/// placeholder, and what only the verdict stage reads (`alerts`, `depends_on`) left out.
fn checkable(object: &Map<String, Value>) -> Result<Map<String, Value>, RefError> {
    let mut c = object.clone();
    c.remove("alerts");
    c.remove("depends_on");
    if let Some(Value::String(url)) = c.get_mut("url") {
        *url = env_refs::placeholder(url)?;
    }
    if let Some(Value::Object(headers)) = c.get_mut("headers") {
        for value in headers.values_mut() {
            if let Value::String(v) = value {
                *v = env_refs::placeholder(v)?;
            }
        }
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::config::TlsVerify;

    fn defaults() -> TargetDefaults {
        TargetDefaults {
            interval: Interval::Every(Duration::from_secs(30)),
            timeout: Duration::from_secs(5),
            tls_verify: TlsVerify::Yes,
        }
    }

    fn written(object: Value) -> Written {
        Written {
            label: "targets[0]".into(),
            object,
        }
    }

    #[test]
    fn a_bare_url_gets_the_id_interval_and_timeout_every_location_uses() {
        let c = complete(&written(json!("https://example.org/health")), &defaults()).unwrap();
        let (id, o) = (c.id, c.definition);
        assert_eq!(o["id"], id.as_str());
        assert_eq!(o["url"], "https://example.org/health");
        assert_eq!(o["interval"], "30s");
        assert_eq!(o["timeout"], "5s");
        // The same id as the target gets when run on one instance.
        let t = api_target(&json!({"url": "https://example.org/health"}), &defaults()).unwrap();
        assert_eq!(id, t.id);
    }

    #[test]
    fn references_stay_as_written_and_need_an_id_in_the_url() {
        let o = json!({
            "id": "billing",
            "url": "https://${BILLING_HOST}/health",
            "headers": {"Authorization": "Bearer ${BILLING_TOKEN}"},
            "interval": "1m",
            "alerts": [{"channel": "ops"}],
        });
        let c = complete(&written(o), &defaults()).unwrap();
        let job = job(&c, "file:f.yaml");
        assert_eq!(job.hostname, "${BILLING_HOST}");
        assert_eq!(
            (job.port, job.path.as_deref()),
            (Some(443), Some("/health"))
        );
        assert_eq!(job.target.as_deref(), Some("billing"));
        let doc = serde_json::to_value(crate::event::Event::Job(job)).unwrap();
        crate::event::schema::validate_event(&doc).unwrap();
        let (id, out) = (c.id, c.definition);
        assert_eq!(id, "billing");
        assert_eq!(out["url"], "https://${BILLING_HOST}/health");
        assert_eq!(out["headers"]["Authorization"], "Bearer ${BILLING_TOKEN}");
        assert_eq!(out["interval"], "60s");
        assert_eq!(out["alerts"][0]["channel"], "ops");
        let e = complete(
            &written(json!({"url": "https://${BILLING_HOST}/health"})),
            &defaults(),
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("targets[0]: a target whose url has ${NAME} references needs an id"),
            "{e}"
        );
    }

    #[test]
    fn a_prober_resolves_a_published_target_from_its_own_environment() {
        let c = complete(
            &written(json!({
                "id": "billing",
                "url": "https://${BILLING_HOST}/health",
                "headers": {"Authorization": "Bearer ${BILLING_TOKEN}"},
                "alerts": [{"channel": "ops"}],
            })),
            &defaults(),
        )
        .unwrap();
        let env = |name: &str| match name {
            "BILLING_HOST" => Some("billing.eu.example".to_owned()),
            "BILLING_TOKEN" => Some("s3cret".to_owned()),
            _ => None,
        };
        let t = probed(&c.definition, env, &defaults()).unwrap();
        assert_eq!(t.id, "billing");
        assert_eq!(t.source, Source::Fleet);
        assert_eq!(t.url.as_str(), "https://billing.eu.example/health");
        assert_eq!(t.headers[0].1, "Bearer s3cret");
        // The published interval and timeout, not this prober's defaults.
        assert_eq!(t.interval, Interval::Every(Duration::from_secs(30)));
        let short = TargetDefaults {
            interval: Interval::Every(Duration::from_secs(1)),
            ..defaults()
        };
        assert_eq!(
            probed(&c.definition, env, &short).unwrap().interval,
            t.interval
        );
        // A location without the secret says which variable and which target.
        let e = probed(&c.definition, |_| None, &defaults()).unwrap_err();
        assert!(
            e.to_string().starts_with("published target \"billing\": "),
            "{e}"
        );
        assert!(e.to_string().contains("BILLING_HOST"), "{e}");
    }

    #[test]
    fn the_host_as_written_is_found_behind_credentials_and_before_a_port() {
        assert_eq!(written_host("https://u:${PW}@${HOST}:8443/x?y"), "${HOST}");
        assert_eq!(written_host("https://${HOST}"), "${HOST}");
        assert_eq!(
            written_host("tcp://db-${REGION}.internal:5432"),
            "db-${REGION}.internal"
        );
    }

    #[test]
    fn a_bad_target_is_named_by_where_it_was_written() {
        let e = complete(&written(json!({"url": "ftp://x/"})), &defaults()).unwrap_err();
        assert!(e.to_string().starts_with("targets[0]: url"), "{e}");
        let e = complete(&written(json!({"url": "https://${HOST/"})), &defaults()).unwrap_err();
        assert!(e.to_string().starts_with("targets[0]: "), "{e}");
        let once = complete(
            &written(json!({"url": "https://a/", "interval": -1})),
            &defaults(),
        )
        .unwrap_err();
        assert!(once.to_string().contains("on an interval"), "{once}");
    }

    #[test]
    fn a_config_file_and_its_targets_file_are_read_as_written() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("u.yaml"),
            "targets:\n  - https://a.example/\n  - {url: https://b.example/, id: b}\ntargets_file: more.jsonl\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("more.jsonl"),
            "# more\n\nhttps://c.example/\n{\"url\": \"https://d.example/\"}\n",
        )
        .unwrap();
        let read = read(&dir.path().join("u.yaml"), None).unwrap();
        let labels: Vec<_> = read
            .iter()
            .map(|w| w.label.rsplit('/').next().unwrap().to_owned())
            .collect();
        assert_eq!(
            labels,
            [
                "targets[0]",
                "targets[1]",
                "more.jsonl line 3",
                "more.jsonl line 4"
            ]
        );
        assert_eq!(read[1].object["id"], "b");
        assert_eq!(read[3].object["url"], "https://d.example/");
        std::fs::write(
            dir.path().join("g.yaml"),
            "endpoints:\n  - name: a\n    url: https://a/\n",
        )
        .unwrap();
        let e = super::read(&dir.path().join("g.yaml"), None).unwrap_err();
        assert!(e.to_string().contains("Gatus"), "{e}");
    }
}
