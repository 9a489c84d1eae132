//! A Gatus file's alerting, read as it is: each provider of `alerting:` becomes a channel
//! named after it (`slack`, `pagerduty`, `custom`, …), and an endpoint's `alerts:` are rules
//! to those channels, each filled in from its provider's `default-alert` and keeping Gatus's
//! default of `send-on-resolved: false`. What uptimer cannot honour is a warning each.

use std::collections::BTreeMap;

use serde_yaml_ng::{Mapping, Value};

use super::ConfigError;
use super::alerting::{ChannelFile, RuleFile};

/// How a Gatus provider's keys map onto a channel's (`None`: warned and ignored).
type KeyMap = &'static [(&'static str, Option<&'static str>)];

/// Our channel type for a Gatus provider, and how its keys map onto ours.
fn provider(name: &str) -> Option<(&'static str, KeyMap)> {
    Some(match name {
        "slack" => (
            "slack",
            &[("webhook-url", Some("webhook_url")), ("title", None)],
        ),
        "discord" => (
            "discord",
            &[
                ("webhook-url", Some("webhook_url")),
                ("title", None),
                ("message-content", None),
            ],
        ),
        "teams" | "teams-workflows" => (
            "teams",
            &[("webhook-url", Some("webhook_url")), ("title", None)],
        ),
        "mattermost" => (
            "mattermost",
            &[
                ("webhook-url", Some("webhook_url")),
                ("channel", Some("channel")),
                ("client", None),
            ],
        ),
        "googlechat" => (
            "google_chat",
            &[("webhook-url", Some("webhook_url")), ("client", None)],
        ),
        "pagerduty" => ("pagerduty", &[("integration-key", Some("routing_key"))]),
        "opsgenie" => (
            "opsgenie",
            &[
                ("api-key", Some("api_key")),
                ("priority", Some("priority")),
                ("url", Some("base_url")),
                ("source", None),
                ("entity-prefix", None),
                ("alias-prefix", None),
                ("tags", None),
            ],
        ),
        "ntfy" => (
            "ntfy",
            &[
                ("topic", Some("topic")),
                ("url", Some("base_url")),
                ("token", Some("token")),
                ("priority", Some("priority")),
                ("email", None),
                ("click", None),
            ],
        ),
        "telegram" => (
            "telegram",
            &[
                ("token", Some("token")),
                ("id", Some("chat_id")),
                ("api-url", Some("base_url")),
                ("client", None),
            ],
        ),
        "gotify" => (
            "gotify",
            &[
                ("server-url", Some("base_url")),
                ("token", Some("token")),
                ("priority", Some("priority")),
                ("title", None),
            ],
        ),
        "pushover" => (
            "pushover",
            &[
                ("application-token", Some("token")),
                ("user-key", Some("user_key")),
                ("priority", Some("priority")),
                ("title", None),
                ("resolved-priority", None),
                ("sound", None),
                ("device", None),
                ("ttl", None),
            ],
        ),
        "email" => (
            "email",
            &[
                ("from", Some("from")),
                ("username", Some("username")),
                ("password", Some("password")),
                ("host", Some("host")),
                ("port", Some("port")),
                ("to", Some("to")),
                ("client", None),
            ],
        ),
        "custom" => (
            "webhook",
            &[
                ("url", Some("url")),
                ("headers", Some("headers")),
                ("method", None),
                ("body", None),
                ("placeholders", None),
                ("client", None),
            ],
        ),
        _ => return None,
    })
}

/// Gatus's `alerting:` read: the channels, each provider's `default-alert`, and warnings.
#[derive(Debug, Default)]
pub struct GatusAlerting {
    pub channels: BTreeMap<String, ChannelFile>,
    defaults: BTreeMap<String, Mapping>,
    pub warnings: Vec<(String, String)>,
}

impl GatusAlerting {
    /// Reads `alerting:`.
    pub fn read(value: Value) -> Result<GatusAlerting, ConfigError> {
        let mut out = GatusAlerting::default();
        let Value::Mapping(providers) = value else {
            if !value.is_null() {
                return Err(ConfigError::new("alerting", "", "a mapping of providers"));
            }
            return Ok(out);
        };
        for (name, section) in providers {
            let Some(name) = name.as_str().map(str::to_owned) else {
                continue;
            };
            let at = format!("alerting.{name}");
            let Some((kind, keys)) = provider(&name) else {
                out.warnings
                    .push((at, "provider not supported yet, ignored".into()));
                continue;
            };
            let Value::Mapping(section) = section else {
                return Err(ConfigError::new(
                    at,
                    "",
                    "a mapping of the provider's settings",
                ));
            };
            let mut ours = Mapping::new();
            ours.insert("type".into(), kind.into());
            for (key, v) in section {
                let key = key.as_str().unwrap_or_default().to_owned();
                match (key.as_str(), keys.iter().find(|(k, _)| *k == key)) {
                    ("default-alert", _) => {
                        if let Value::Mapping(m) = v {
                            out.defaults.insert(name.clone(), m);
                        }
                    }
                    (_, Some((_, Some(ours_key)))) => {
                        ours.insert((*ours_key).into(), v);
                    }
                    ("overrides", _) | (_, Some((_, None))) => out
                        .warnings
                        .push((format!("{at}.{key}"), "not supported yet, ignored".into())),
                    _ => out.warnings.push((
                        format!("{at}.{key}"),
                        "not a setting of this provider, ignored".into(),
                    )),
                }
            }
            // Gatus logs in as the sender when a password comes without a username.
            if kind == "email"
                && ours.contains_key("password")
                && !ours.contains_key("username")
                && let Some(from) = ours.get("from").cloned()
            {
                ours.insert("username".into(), from);
            }
            let channel: ChannelFile =
                serde_yaml_ng::from_value(Value::Mapping(ours)).map_err(|e| {
                    ConfigError::new(at.clone(), "", format!("the provider's settings ({e})"))
                })?;
            out.channels.insert(name, channel);
        }
        Ok(out)
    }

    /// An endpoint's `alerts:` as rules: each filled in from its provider's `default-alert`,
    /// with Gatus's default `send-on-resolved: false`; keys uptimer does not know are warned.
    pub fn rules(&mut self, at: &str, value: Value) -> Result<Vec<RuleFile>, ConfigError> {
        let Value::Sequence(list) = value else {
            return Err(ConfigError::new(at, "", "a list of alerts"));
        };
        let known = [
            "type",
            "enabled",
            "failure-threshold",
            "success-threshold",
            "send-on-resolved",
            "description",
            "minimum-reminder-interval",
        ];
        let mut rules = Vec::with_capacity(list.len());
        for (i, alert) in list.into_iter().enumerate() {
            let at = format!("{at}[{i}]");
            let Value::Mapping(mut alert) = alert else {
                return Err(ConfigError::new(at, "", "an alert (a mapping with type:)"));
            };
            let provider = alert
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            // Gatus skips an alert whose provider is not configured (or not supported here).
            if !self.channels.contains_key(&provider) {
                self.warnings.push((
                    format!("{at}.type"),
                    format!(
                        "{provider:?} is not a provider of alerting: that uptimer supports, ignored"
                    ),
                ));
                continue;
            }
            if let Some(defaults) = self.defaults.get(&provider) {
                for (k, v) in defaults {
                    if !alert.contains_key(k) {
                        alert.insert(k.clone(), v.clone());
                    }
                }
            }
            alert
                .entry("send-on-resolved".into())
                .or_insert(Value::Bool(false));
            let mut kept = Mapping::new();
            for (k, v) in alert {
                match k.as_str() {
                    Some(key) if known.contains(&key) => {
                        kept.insert(k, v);
                    }
                    key => self.warnings.push((
                        format!("{at}.{}", key.unwrap_or("?")),
                        "not supported yet, ignored".into(),
                    )),
                }
            }
            let rule: RuleFile = serde_yaml_ng::from_value(Value::Mapping(kept))
                .map_err(|e| ConfigError::new(at, "", format!("an alert ({e})")))?;
            rules.push(rule);
        }
        Ok(rules)
    }
}
