//! A multi-location fleet's settings (`fleet:` in the config file, `FLEET_*` in the
//! environment, which wins): the locations every target is probed from, the quorum that turns
//! their results into a verdict per round (`crate::state::quorum`), when a round closes, when a
//! location is impaired (`crate::state::impaired`), and the Kafka topics the fleet shares.
//! docs/fleet.md is the user's page.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::file::Scalar;
use super::{ConfigError, Env, from_env, from_file, parse};
use crate::state::impaired::ImpairedRule;
use crate::state::locations::{Locations, LocationsError};
use crate::state::quorum::{QUORUM_EXPECTED, Quorum};

/// `fleet:` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetFile {
    /// The locations every target is probed from (`FLEET_LOCATIONS` overrides them).
    pub locations: Option<Vec<String>>,
    /// How many locations make a verdict: `majority` (default), a number, `all` or `any`.
    pub quorum: Option<Scalar>,
    /// A quorum for the targets with a tag: `{TAG: QUORUM}`.
    #[serde(default)]
    pub quorum_by_tag: BTreeMap<String, Scalar>,
    /// How long after its interval a round waits for late results: a share of the interval
    /// (`10%`, the default) or a duration (`5s`).
    pub round_grace: Option<Scalar>,
    /// The compacted topic of target definitions (default `uptimer.targets`).
    pub targets_topic: Option<String>,
    /// Its partitions: at least the most probers a location runs (default 24).
    pub targets_partitions: Option<u32>,
    /// Where verdicts go (default `uptimer.verdicts`).
    pub verdicts_topic: Option<String>,
    /// Where rechecks are asked for (default `uptimer.rechecks`).
    pub rechecks_topic: Option<String>,
    /// The fleet's own facts, such as the targets topic's partition count (default
    /// `uptimer.meta`).
    pub meta_topic: Option<String>,
    /// Rechecks a location probes per second at most (default 20; 0: none).
    pub rechecks_per_second: Option<u32>,
    /// When a location is impaired.
    pub impaired: Option<ImpairedFile>,
}

/// `fleet.impaired:` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImpairedFile {
    /// Rounds in the window (default 5).
    pub rounds: Option<u32>,
    /// The least share of down results that impairs (default 0.2).
    pub share: Option<f64>,
    /// How many times the median of the other locations' shares it must be (default 3).
    pub factor: Option<f64>,
    /// The least share of its results a location must send (default 0.5).
    pub min_coverage: Option<f64>,
}

/// How long after the end of its interval a round closes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Grace {
    /// This percentage of the target's interval (10 by default).
    Percent(f64),
    /// This long, whatever the interval.
    Fixed(Duration),
}

impl Default for Grace {
    fn default() -> Self {
        Grace::Percent(10.0)
    }
}

const GRACE_EXPECTED: &str = "a share of the interval from 0% to 100% (10%) or a duration: \
                              seconds or one such as 5s, 1m";

impl Grace {
    /// The grace of a target with this interval, in milliseconds.
    pub fn ms(self, interval_ms: u64) -> u64 {
        match self {
            Grace::Percent(p) => (interval_ms as f64 * p / 100.0).round() as u64,
            Grace::Fixed(d) => u64::try_from(d.as_millis()).unwrap_or(u64::MAX),
        }
    }

    fn parse(s: &str) -> Result<Grace, &'static str> {
        match s.trim().strip_suffix('%') {
            Some(p) => p
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|p| (0.0..=100.0).contains(p))
                .map(Grace::Percent)
                .ok_or(GRACE_EXPECTED),
            None => parse::seconds(s)
                .map(Grace::Fixed)
                .map_err(|_| GRACE_EXPECTED),
        }
    }
}

impl std::fmt::Display for Grace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Grace::Percent(p) => write!(f, "{p}%"),
            Grace::Fixed(d) => write!(f, "{}s", d.as_secs_f64()),
        }
    }
}

/// The fleet, when one is configured.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetSettings {
    /// Every location, each once, in the order given (`fleet.locations`, `FLEET_LOCATIONS`).
    pub locations: Vec<String>,
    /// Where this process runs (`LOCATION`, `probe.location`): one of `locations` when set.
    /// A fleet prober needs it; a publisher or a verdict consumer does not.
    pub location: Option<String>,
    /// The fleet's quorum (`fleet.quorum`, `FLEET_QUORUM`; default majority).
    pub quorum: Quorum,
    /// Quorums by tag (`fleet.quorum_by_tag`), sorted by tag.
    pub quorum_by_tag: Vec<(String, Quorum)>,
    /// `fleet.round_grace`, `FLEET_ROUND_GRACE` (default 10% of the interval).
    pub round_grace: Grace,
    /// `FLEET_TARGETS_TOPIC` (default `uptimer.targets`).
    pub targets_topic: String,
    /// `FLEET_TARGETS_PARTITIONS` (default 24).
    pub targets_partitions: i32,
    /// `FLEET_VERDICTS_TOPIC` (default `uptimer.verdicts`).
    pub verdicts_topic: String,
    /// `FLEET_RECHECKS_TOPIC` (default `uptimer.rechecks`).
    pub rechecks_topic: String,
    /// `FLEET_META_TOPIC` (default `uptimer.meta`).
    pub meta_topic: String,
    /// `FLEET_RECHECKS_PER_SECOND`, per location (default 20; 0: no rechecks).
    pub rechecks_per_second: u32,
    /// `fleet.impaired` (defaults: 5 rounds, a 0.2 share, 3 times the others' median, 0.5
    /// coverage).
    pub impaired: ImpairedRule,
}

const LOCATIONS_EXPECTED: &str = "the fleet's locations: a list of names of letters, digits, '.', \
                                  '_' and '-', each once";

fn location_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn topic(s: &str) -> Result<String, &'static str> {
    let s = s.trim();
    if (1..=249).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        Ok(s.to_owned())
    } else {
        Err("a Kafka topic name: 1 to 249 letters, digits, '.', '_' or '-'")
    }
}

fn parse_quorum(s: &str) -> Result<Quorum, &'static str> {
    s.parse().map_err(|_| QUORUM_EXPECTED)
}

/// A share from 0 to 1.
fn share(name: &str, v: Option<f64>, default: f64) -> Result<f64, ConfigError> {
    match v {
        Some(v) if !(0.0..=1.0).contains(&v) => Err(ConfigError::new(
            name,
            v.to_string(),
            "a share from 0 to 1 (0.2 is 20%)",
        )),
        Some(v) => Ok(v),
        None => Ok(default),
    }
}

impl FleetSettings {
    /// From the environment over the file's `fleet:`; `None` when neither names locations
    /// (and no `fleet:` is written). `location` is this process's `LOCATION` (or
    /// `probe.location`) and `location_setting` the name of the setting that gave it.
    pub fn load(
        env: &Env,
        file: Option<&FleetFile>,
        location: Option<&str>,
        location_setting: &str,
    ) -> Result<Option<FleetSettings>, ConfigError> {
        let (setting, names) = match (env.get("FLEET_LOCATIONS"), file) {
            (Some(v), _) => {
                let list = parse::list(v).map_err(|e| ConfigError::new("FLEET_LOCATIONS", v, e))?;
                let names: Vec<String> = list
                    .iter()
                    .flat_map(|s| s.split(','))
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect();
                ("FLEET_LOCATIONS", names)
            }
            (None, Some(f)) => (
                "fleet.locations",
                f.locations
                    .iter()
                    .flatten()
                    .map(|s| s.trim().to_owned())
                    .collect(),
            ),
            (None, None) => {
                // A setting without the locations would silently do nothing.
                // Every other FLEET_* variable this program reads.
                let set = super::env::KNOWN.iter().find(|n| {
                    n.starts_with("FLEET_") && **n != "FLEET_LOCATIONS" && env.get(n).is_some()
                });
                return match set {
                    Some(name) => Err(ConfigError::new(
                        "FLEET_LOCATIONS",
                        "",
                        format!("{LOCATIONS_EXPECTED} (set because {name} is)"),
                    )),
                    None => Ok(None),
                };
            }
        };
        let shown = names.join(", ");
        if let Some(bad) = names.iter().find(|n| !location_name(n)) {
            return Err(ConfigError::new(
                setting,
                bad,
                "a location name of 1 to 64 letters, digits, '.', '_' or '-'",
            ));
        }
        Locations::new(&names).map_err(|e| match e {
            LocationsError::Empty => ConfigError::new(setting, shown.clone(), LOCATIONS_EXPECTED),
            other => ConfigError::new(setting, shown.clone(), other.to_string()),
        })?;
        if let Some(here) = location
            && !names.iter().any(|n| n == here)
        {
            return Err(ConfigError::new(
                location_setting,
                here,
                format!("one of the fleet's locations ({shown}, from {setting})"),
            ));
        }

        let no_file = FleetFile::default();
        let file = file.unwrap_or(&no_file);
        let quorum = match from_env(env, "FLEET_QUORUM", parse_quorum)? {
            Some(q) => q,
            None => {
                from_file(file.quorum.as_ref(), "fleet.quorum", parse_quorum)?.unwrap_or_default()
            }
        };
        let quorum_by_tag = file
            .quorum_by_tag
            .iter()
            .map(|(tag, q)| {
                let text = q.to_string();
                parse_quorum(&text)
                    .map(|q| (tag.clone(), q))
                    .map_err(|e| ConfigError::new(format!("fleet.quorum_by_tag.{tag}"), text, e))
            })
            .collect::<Result<Vec<_>, ConfigError>>()?;
        let round_grace = match from_env(env, "FLEET_ROUND_GRACE", Grace::parse)? {
            Some(g) => g,
            None => from_file(file.round_grace.as_ref(), "fleet.round_grace", Grace::parse)?
                .unwrap_or_default(),
        };
        let text = |name: &str,
                    file_name: &str,
                    v: &Option<String>,
                    default: &str|
         -> Result<String, ConfigError> {
            match from_env(env, name, topic)? {
                Some(t) => Ok(t),
                None => from_file(v.clone().map(Scalar::Text).as_ref(), file_name, topic)
                    .map(|t| t.unwrap_or_else(|| default.to_owned())),
            }
        };
        let number = |name: &str,
                      file_name: &str,
                      v: Option<u32>,
                      min: u64,
                      max: u64,
                      default: u64|
         -> Result<u64, ConfigError> {
            let range = |s: &str| parse::integer(s, min, max);
            match from_env(env, name, range)? {
                Some(n) => Ok(n),
                None => from_file(
                    v.map(|n| Scalar::Number(f64::from(n))).as_ref(),
                    file_name,
                    range,
                )
                .map(|n| n.unwrap_or(default)),
            }
        };
        let no_impaired = ImpairedFile::default();
        let im = file.impaired.as_ref().unwrap_or(&no_impaired);
        let d = ImpairedRule::default();
        let rounds = match im.rounds {
            Some(r) if !(1..=100).contains(&r) => {
                return Err(ConfigError::new(
                    "fleet.impaired.rounds",
                    r.to_string(),
                    "an integer from 1 to 100",
                ));
            }
            Some(r) => r as usize,
            None => d.rounds,
        };
        let factor = match im.factor {
            Some(f) if !(f.is_finite() && f >= 0.0) => {
                return Err(ConfigError::new(
                    "fleet.impaired.factor",
                    f.to_string(),
                    "a number of 0 or more (3: three times the others' median)",
                ));
            }
            Some(f) => f,
            None => d.factor,
        };
        let impaired = ImpairedRule {
            rounds,
            share: share("fleet.impaired.share", im.share, d.share)?,
            factor,
            min_coverage: share(
                "fleet.impaired.min_coverage",
                im.min_coverage,
                d.min_coverage,
            )?,
        };
        Ok(Some(FleetSettings {
            locations: names,
            location: location.map(str::to_owned),
            quorum,
            quorum_by_tag,
            round_grace,
            targets_topic: text(
                "FLEET_TARGETS_TOPIC",
                "fleet.targets_topic",
                &file.targets_topic,
                "uptimer.targets",
            )?,
            targets_partitions: number(
                "FLEET_TARGETS_PARTITIONS",
                "fleet.targets_partitions",
                file.targets_partitions,
                1,
                10_000,
                24,
            )? as i32,
            verdicts_topic: text(
                "FLEET_VERDICTS_TOPIC",
                "fleet.verdicts_topic",
                &file.verdicts_topic,
                "uptimer.verdicts",
            )?,
            rechecks_topic: text(
                "FLEET_RECHECKS_TOPIC",
                "fleet.rechecks_topic",
                &file.rechecks_topic,
                "uptimer.rechecks",
            )?,
            meta_topic: text(
                "FLEET_META_TOPIC",
                "fleet.meta_topic",
                &file.meta_topic,
                "uptimer.meta",
            )?,
            rechecks_per_second: number(
                "FLEET_RECHECKS_PER_SECOND",
                "fleet.rechecks_per_second",
                file.rechecks_per_second,
                0,
                100_000,
                20,
            )? as u32,
            impaired,
        }))
    }

    /// The locations as the round book and the impaired window index them.
    pub fn location_ids(&self) -> Locations {
        Locations::new(&self.locations).expect("validated at load")
    }

    /// A target's quorum: its own, else that of the first of its tags (in the order of
    /// tag names) with one in `quorum_by_tag`, else the fleet's.
    pub fn quorum_for(&self, own: Option<Quorum>, tags: &[String]) -> Quorum {
        own.or_else(|| {
            self.quorum_by_tag
                .iter()
                .find(|(tag, _)| tags.contains(tag))
                .map(|(_, q)| *q)
        })
        .unwrap_or(self.quorum)
    }

    /// For `check-config`.
    pub fn describe(&self) -> serde_json::Value {
        serde_json::json!({
            "locations": self.locations,
            "location": self.location,
            "quorum": self.quorum,
            "quorum_by_tag": self.quorum_by_tag.iter().cloned().collect::<BTreeMap<_, _>>(),
            "round_grace": self.round_grace.to_string(),
            "targets_topic": self.targets_topic,
            "targets_partitions": self.targets_partitions,
            "verdicts_topic": self.verdicts_topic,
            "rechecks_topic": self.rechecks_topic,
            "meta_topic": self.meta_topic,
            "rechecks_per_second": self.rechecks_per_second,
            "impaired": {
                "rounds": self.impaired.rounds,
                "share": self.impaired.share,
                "factor": self.impaired.factor,
                "min_coverage": self.impaired.min_coverage,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_grace_takes_a_percentage_or_seconds() {
        assert_eq!(Grace::parse("10%"), Ok(Grace::Percent(10.0)));
        assert_eq!(Grace::parse(" 12.5 % "), Ok(Grace::Percent(12.5)));
        assert_eq!(Grace::parse("0%"), Ok(Grace::Percent(0.0)));
        assert_eq!(Grace::parse("5"), Ok(Grace::Fixed(Duration::from_secs(5))));
        assert_eq!(
            Grace::parse("1m"),
            Ok(Grace::Fixed(Duration::from_secs(60)))
        );
        for bad in ["101%", "-1%", "ten", "%", "0"] {
            assert_eq!(Grace::parse(bad), Err(GRACE_EXPECTED), "{bad}");
        }
        assert_eq!(Grace::default().ms(60_000), 6_000);
        assert_eq!(Grace::Percent(12.5).ms(10_000), 1_250);
        assert_eq!(Grace::Fixed(Duration::from_millis(2_500)).ms(60_000), 2_500);
        assert_eq!(Grace::Percent(10.0).to_string(), "10%");
        assert_eq!(Grace::Fixed(Duration::from_secs(5)).to_string(), "5s");
    }

    #[test]
    fn topics_are_kafka_names() {
        assert_eq!(topic(" uptimer.targets "), Ok("uptimer.targets".into()));
        assert!(topic("a b").is_err());
        assert!(topic("").is_err());
        assert!(topic(&"x".repeat(250)).is_err());
    }
}
