//! Storm control's settings: a target's `depends_on:` (its notifications wait while a target
//! it depends on is down), `canaries:` (targets that show whether the monitor itself can
//! reach the world) and `group_wait:` (how long a failure waits for the result of a parent or
//! canary checked after it). What they hold back is `crate::store::alerts::gate`'s.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;
use super::file::Scalar;
use super::parse;
use super::target::Target;

/// How long a failure waits for a parent's or a canary's next result by default.
pub const GROUP_WAIT: Duration = Duration::from_secs(30);

/// `canaries:` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CanariesFile {
    /// Target ids or names.
    pub targets: Vec<String>,
    /// How many of them failing means the monitor is offline (default: a majority).
    pub quorum: Option<usize>,
    /// The channels told that the monitor is offline, and when it is back (one or more).
    #[serde(default)]
    pub channels: Vec<String>,
}

/// Connectivity canaries, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Canaries {
    /// Target ids.
    pub targets: Vec<String>,
    pub quorum: usize,
    pub channels: Vec<String>,
}

/// Storm control, as the alerting in use holds it.
#[derive(Debug, Clone, Default)]
pub struct Storm {
    /// Each target's parents (ids), for the targets that have any.
    pub parents: Arc<HashMap<String, Arc<[String]>>>,
    pub canaries: Option<Arc<Canaries>>,
    pub group_wait: Duration,
}

/// Finds a target by id, else by name (a unique one).
fn resolve<'a>(targets: &'a [Target], name: &str) -> Result<&'a str, &'static str> {
    if let Some(t) = targets.iter().find(|t| t.id == name) {
        return Ok(&t.id);
    }
    let mut named = targets.iter().filter(|t| t.name == name);
    match (named.next(), named.next()) {
        (Some(t), None) => Ok(&t.id),
        (Some(_), Some(_)) => Err("a target's id (several targets have this name)"),
        (None, _) => Err("the id or name of a configured target"),
    }
}

/// The first cycle of `parents` found from the targets `ids` (in order), as ids from a
/// target back to itself (`a → b → a`), if there is one: each of its targets would wait for
/// the next, down, forever.
fn cycle_of<'a>(
    ids: impl Iterator<Item = &'a str>,
    parents: &'a HashMap<String, Arc<[String]>>,
) -> Option<Vec<&'a str>> {
    // Depth first; a target is on the current path, or done (no cycle through it).
    let mut on_path: Vec<(&str, usize)> = Vec::new();
    let mut done: std::collections::HashSet<&str> = std::collections::HashSet::new();
    for start in ids {
        if done.contains(start) {
            continue;
        }
        on_path.push((start, 0));
        while let Some(&(id, next)) = on_path.last() {
            let Some(p) = parents.get(id).and_then(|ps| ps.get(next)) else {
                done.insert(id);
                on_path.pop();
                continue;
            };
            if let Some(top) = on_path.last_mut() {
                top.1 += 1;
            }
            if let Some(at) = on_path.iter().position(|(i, _)| *i == p) {
                let mut cycle: Vec<&str> = on_path[at..].iter().map(|(i, _)| *i).collect();
                cycle.push(p);
                return Some(cycle);
            }
            if !done.contains(p.as_str()) {
                on_path.push((p, 0));
            }
        }
    }
    None
}

/// Validates the targets' `depends_on:`, `canaries:` and `group_wait:` against the targets
/// configured and the channels.
pub fn storm_of(
    targets: &[Target],
    canaries: Option<&CanariesFile>,
    group_wait: Option<&Scalar>,
    channels: &std::collections::BTreeMap<String, super::alerting::Channel>,
) -> Result<Storm, ConfigError> {
    let mut parents = HashMap::new();
    for t in targets {
        if t.profile.depends_on.is_empty() {
            continue;
        }
        let mut ids: Vec<String> = Vec::new();
        for d in t.profile.depends_on.iter() {
            let id = resolve(targets, d).map_err(|why| {
                ConfigError::new(format!("target {}: depends_on", t.name), d, why)
            })?;
            if id == t.id {
                return Err(ConfigError::new(
                    format!("target {}: depends_on", t.name),
                    d,
                    "another target (a target cannot depend on itself)",
                ));
            }
            if !ids.iter().any(|i| i == id) {
                ids.push(id.to_owned());
            }
        }
        parents.insert(t.id.clone(), Arc::from(ids));
    }
    if let Some(cycle) = cycle_of(targets.iter().map(|t| t.id.as_str()), &parents) {
        let name = |id: &str| {
            targets
                .iter()
                .find(|t| t.id == id)
                .map_or(id.to_owned(), |t| t.name.clone())
        };
        let names: Vec<String> = cycle.iter().map(|id| name(id)).collect();
        return Err(ConfigError::new(
            format!("target {}: depends_on", names[0]),
            &names[1],
            format!(
                "no cycle of dependencies ({}: each would hold the others' notifications \
                 forever)",
                names.join(" → ")
            ),
        ));
    }
    let canaries = match canaries {
        None => None,
        Some(c) => {
            let mut ids: Vec<String> = Vec::new();
            for name in &c.targets {
                let id = resolve(targets, name.trim())
                    .map_err(|why| ConfigError::new("canaries.targets", name, why))?;
                if !ids.iter().any(|i| i == id) {
                    ids.push(id.to_owned());
                }
            }
            if ids.is_empty() {
                return Err(ConfigError::new(
                    "canaries.targets",
                    "[]",
                    "one or more targets (three on different networks is a good start)",
                ));
            }
            let quorum = c.quorum.unwrap_or(ids.len() / 2 + 1);
            if quorum == 0 || quorum > ids.len() {
                return Err(ConfigError::new(
                    "canaries.quorum",
                    quorum.to_string(),
                    format!("1 to {} (the number of canaries)", ids.len()),
                ));
            }
            // While the monitor is offline every target's notifications are held: without
            // a channel told so, nobody would hear of anything.
            if c.channels.is_empty() {
                return Err(ConfigError::new(
                    "canaries.channels",
                    "[]",
                    "one or more channels told that the monitor is offline (while it is, \
                     every target's notifications are held)",
                ));
            }
            if let Some(ch) = c.channels.iter().find(|ch| !channels.contains_key(*ch)) {
                return Err(ConfigError::new(
                    "canaries.channels",
                    ch,
                    "the name of a channel in channels:",
                ));
            }
            Some(Arc::new(Canaries {
                targets: ids,
                quorum,
                channels: c.channels.clone(),
            }))
        }
    };
    let group_wait = match group_wait {
        None => GROUP_WAIT,
        Some(v) if matches!(v.to_string().trim(), "0" | "0s") => Duration::ZERO,
        Some(v) => parse::seconds(&v.to_string())
            .map_err(|e| ConfigError::new("group_wait", v.to_string(), e))?,
    };
    Ok(Storm {
        parents: Arc::new(parents),
        canaries,
        group_wait,
    })
}

#[cfg(test)]
mod tests {
    use crate::config::tests::load_file;

    const TARGETS: &str = "
channels: {ops: {type: slack, webhook_url: 'https://hooks.slack.com/services/T/B/x'}}
targets:
  - {id: router, url: 'https://router.example/'}
  - {name: app, url: 'https://app.example/', depends_on: [router]}
  - {name: db, url: 'https://db.example/', depends_on: [app, router, app]}
  - {id: c1, url: 'https://c1.example/'}
  - {id: c2, url: 'https://c2.example/'}
  - {id: c3, url: 'https://c3.example/'}
";

    #[test]
    fn dependencies_and_canaries_resolve_names_to_ids() {
        let s = load_file(
            "yaml",
            &format!(
                "{TARGETS}canaries: {{targets: [c1, c2, c3], channels: [ops]}}\ngroup_wait: 10s\n"
            ),
        )
        .unwrap();
        let storm = s.alerting.live.get().storm.clone();
        let app = s.targets.iter().find(|t| t.name == "app").unwrap();
        let db = s.targets.iter().find(|t| t.name == "db").unwrap();
        assert_eq!(&storm.parents[&app.id][..], ["router".to_owned()]);
        assert_eq!(
            &storm.parents[&db.id][..],
            [app.id.clone(), "router".to_owned()]
        );
        let c = storm.canaries.as_ref().unwrap();
        assert_eq!(c.quorum, 2, "a majority by default");
        assert_eq!(storm.group_wait.as_secs(), 10);
        // What a batch of db's results loads: its parents, and the canaries.
        let gate = crate::store::alerts::Gate {
            storm,
            ..Default::default()
        };
        assert_eq!(
            gate.watched([db.id.as_str()].into_iter()),
            [app.id.as_str(), "c1", "c2", "c3", "router"]
        );
    }

    #[test]
    fn mistakes_are_named() {
        for (extra, setting, says) in [
            (
                "canaries: {targets: [c1, nope]}\n",
                "canaries.targets",
                "configured target",
            ),
            (
                "canaries: {targets: [c1, c2], quorum: 3}\n",
                "canaries.quorum",
                "1 to 2",
            ),
            (
                "canaries: {targets: [c1], channels: [pager]}\n",
                "canaries.channels",
                "channels:",
            ),
            (
                "canaries: {targets: []}\n",
                "canaries.targets",
                "one or more",
            ),
            (
                "canaries: {targets: [c1, c2, c3]}\n",
                "canaries.channels",
                "one or more channels",
            ),
            ("group_wait: soon\n", "group_wait", "duration"),
        ] {
            let e = load_file("yaml", &format!("{TARGETS}{extra}")).unwrap_err();
            assert_eq!(e.setting, setting, "{extra}: {e}");
            assert!(e.to_string().contains(says), "{extra}: {e}");
        }
        let e = load_file(
            "yaml",
            "targets: [{name: a, url: 'https://a.example/', depends_on: [ghost]}]\n",
        )
        .unwrap_err();
        assert_eq!(e.setting, "target a: depends_on", "{e}");
        let e = load_file(
            "yaml",
            "targets: [{id: a, url: 'https://a.example/', depends_on: [a]}]\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("itself"), "{e}");
        // A cycle: each would hold the others' notifications forever.
        let e = load_file(
            "yaml",
            "targets:\n  - {name: a, url: 'https://a.example/', depends_on: [b]}\n  \
             - {name: b, url: 'https://b.example/', depends_on: [a]}\n",
        )
        .unwrap_err();
        assert_eq!(e.setting, "target a: depends_on", "{e}");
        assert!(e.to_string().contains("(a → b → a:"), "{e}");
        let e = load_file(
            "yaml",
            &format!(
                "{TARGETS}  - {{name: edge, url: 'https://e.example/', depends_on: [db]}}\n  \
                 - {{name: hub, url: 'https://h.example/', depends_on: [edge, c1]}}\n  \
                 - {{name: leaf, url: 'https://l.example/', depends_on: [hub]}}\n"
            )
            .replace("[app, router, app]", "[app, router, leaf]"),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("(db → leaf → hub → edge → db:"),
            "named from the first target on it: {e}"
        );
    }

    #[test]
    fn a_target_made_through_the_api_takes_no_depends_on() {
        let defaults = crate::config::target::TargetDefaults {
            interval: crate::config::Interval::Every(std::time::Duration::from_secs(60)),
            timeout: std::time::Duration::from_secs(5),
            tls_verify: crate::config::TlsVerify::Yes,
        };
        let body = serde_json::json!({"url": "https://a.example/", "depends_on": ["router"]});
        let e = crate::config::target_list::api_target(&body, &defaults).unwrap_err();
        assert_eq!(e.setting, "depends_on", "{e}");
        let plain = serde_json::json!({"url": "https://a.example/"});
        assert!(crate::config::target_list::api_target(&plain, &defaults).is_ok());
    }
}
