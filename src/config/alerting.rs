//! Alerting settings: the channels notifications go to (`channels:`) and the rules that send
//! them (`alerts:` on a target, per tag in `alert_rules:`, and top-level `alerts:` for every
//! target). The request each channel makes is `crate::alerting`'s; here is what a user may
//! write and what it means. docs/alerting.md is the user's page.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::Deserialize;
use url::Url;

use super::file::Scalar;
use super::target::{Profile, Target};
use super::{ConfigError, parse};
use crate::state::rules::{MAX_WINDOW, Rule, Severity, Step, Threshold, Watch};

/// One entry of an `alerts:` list as written: Gatus's keys (kebab-case) or their snake_case.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    /// The channel notified (a name of `channels:`; Gatus calls it the alert's type).
    #[serde(rename = "type", alias = "channel")]
    pub channel: String,
    pub enabled: Option<bool>,
    #[serde(alias = "failure-threshold")]
    pub failure_threshold: Option<u32>,
    #[serde(alias = "success-threshold")]
    pub success_threshold: Option<u32>,
    #[serde(alias = "send-on-resolved")]
    pub send_on_resolved: Option<bool>,
    pub description: Option<String>,
    #[serde(alias = "minimum-reminder-interval")]
    pub minimum_reminder_interval: Option<Scalar>,
    /// `{failures: k, of: n}`: k failures among the last n results.
    pub window: Option<WindowFile>,
    /// Down for at least this long (`5m`).
    #[serde(rename = "for")]
    pub for_at_least: Option<Scalar>,
    pub severity: Option<String>,
    #[serde(alias = "reminder-max")]
    pub reminder_max: Option<u32>,
    /// Also fire on passes that met a `degraded_if` condition.
    pub degraded: Option<bool>,
    /// Fire when the TLS certificate expires within this long (`14d`).
    #[serde(alias = "certificate-expires-within")]
    pub certificate_expires_within: Option<Scalar>,
    /// `[{after: 15m, channels: [oncall]}, …]`: more channels paged while the incident stays
    /// unacknowledged.
    #[serde(default)]
    pub escalate: Vec<StepFile>,
}

/// One step of a rule's `escalate:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepFile {
    pub after: Scalar,
    pub channels: Vec<String>,
}

/// `window:` of a rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowFile {
    pub failures: u32,
    pub of: u32,
}

/// One entry of `alert_rules:`: rules for the targets that have every tag listed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagRulesFile {
    #[serde(rename = "match")]
    pub matches: MatchFile,
    pub alerts: Vec<RuleFile>,
}

/// `match:` of an `alert_rules:` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchFile {
    pub tags: Vec<String>,
}

/// One entry of `channels:` as written; which keys a type takes is [`ChannelKind::keys`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelFile {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub url: Option<String>,
    #[serde(alias = "webhook-url")]
    pub webhook_url: Option<String>,
    #[serde(alias = "base-url")]
    pub base_url: Option<String>,
    pub secret: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(
        alias = "routing-key",
        alias = "integration-key",
        alias = "integration_key"
    )]
    pub routing_key: Option<String>,
    #[serde(alias = "api-key")]
    pub api_key: Option<String>,
    pub topic: Option<String>,
    pub token: Option<String>,
    #[serde(alias = "chat-id")]
    pub chat_id: Option<Scalar>,
    #[serde(alias = "user-key")]
    pub user_key: Option<String>,
    pub priority: Option<Scalar>,
    pub username: Option<String>,
    pub channel: Option<String>,
    pub template: Option<String>,
    /// Email: the SMTP server, its port, how it is reached, the password of `username`, the
    /// sender and the recipients (a list, or Gatus's comma-separated string).
    pub host: Option<String>,
    pub port: Option<Scalar>,
    pub tls: Option<String>,
    pub password: Option<String>,
    pub from: Option<String>,
    pub to: Option<Recipients>,
    /// At most this many requests a minute; a burst beyond it goes out as digests.
    #[serde(alias = "max-per-minute")]
    pub max_per_minute: Option<u32>,
}

/// Email's `to:`: a list, or one string of addresses separated by commas (as Gatus writes it).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Recipients {
    One(String),
    Many(Vec<String>),
}

impl Recipients {
    fn addresses(&self) -> Vec<String> {
        let all: Vec<&str> = match self {
            Recipients::One(s) => s.split(',').collect(),
            Recipients::Many(v) => v.iter().map(String::as_str).collect(),
        };
        all.into_iter()
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

/// How an email channel reaches its SMTP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain SMTP, upgraded with STARTTLS before anything is sent (refused if the server
    /// does not offer it); port 587 unless set.
    StartTls,
    /// TLS from the first byte (SMTPS); port 465 unless set.
    Tls,
    /// No encryption at all (a local relay); port 25 unless set. No login is sent this way.
    None,
}

impl SmtpTls {
    /// As written in the config.
    pub const fn as_str(self) -> &'static str {
        match self {
            SmtpTls::StartTls => "starttls",
            SmtpTls::Tls => "tls",
            SmtpTls::None => "none",
        }
    }

    fn parse(s: &str) -> Option<SmtpTls> {
        match s.trim().to_ascii_lowercase().as_str() {
            "starttls" => Some(SmtpTls::StartTls),
            "tls" | "ssl" | "smtps" => Some(SmtpTls::Tls),
            "none" | "off" | "plain" => Some(SmtpTls::None),
            _ => None,
        }
    }

    const fn default_port(self) -> u16 {
        match self {
            SmtpTls::StartTls => 587,
            SmtpTls::Tls => 465,
            SmtpTls::None => 25,
        }
    }
}

/// An email channel's server and addresses (its login is the channel's `username` and `key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub from: lettre::message::Mailbox,
    pub to: Vec<lettre::message::Mailbox>,
}

/// What a channel is: whose API it calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChannelKind {
    Webhook,
    Slack,
    Discord,
    Teams,
    Mattermost,
    GoogleChat,
    PagerDuty,
    Opsgenie,
    Ntfy,
    Telegram,
    Gotify,
    Pushover,
    Email,
}

impl ChannelKind {
    pub const ALL: [ChannelKind; 13] = [
        ChannelKind::Webhook,
        ChannelKind::Slack,
        ChannelKind::Discord,
        ChannelKind::Teams,
        ChannelKind::Mattermost,
        ChannelKind::GoogleChat,
        ChannelKind::PagerDuty,
        ChannelKind::Opsgenie,
        ChannelKind::Ntfy,
        ChannelKind::Telegram,
        ChannelKind::Gotify,
        ChannelKind::Pushover,
        ChannelKind::Email,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            ChannelKind::Webhook => "webhook",
            ChannelKind::Slack => "slack",
            ChannelKind::Discord => "discord",
            ChannelKind::Teams => "teams",
            ChannelKind::Mattermost => "mattermost",
            ChannelKind::GoogleChat => "google_chat",
            ChannelKind::PagerDuty => "pagerduty",
            ChannelKind::Opsgenie => "opsgenie",
            ChannelKind::Ntfy => "ntfy",
            ChannelKind::Telegram => "telegram",
            ChannelKind::Gotify => "gotify",
            ChannelKind::Pushover => "pushover",
            ChannelKind::Email => "email",
        }
    }

    pub fn parse(s: &str) -> Option<ChannelKind> {
        let s = s.trim().to_ascii_lowercase().replace('-', "_");
        let s = match s.as_str() {
            "google_chat" | "googlechat" | "google" => "google_chat",
            "teams_workflows" | "microsoft_teams" => "teams",
            "smtp" | "mail" => "email",
            other => other,
        };
        ChannelKind::ALL.into_iter().find(|k| k.name() == s)
    }

    /// Whether the channel tracks incidents: it always gets the resolve of every trigger it
    /// was sent, whatever `send-on-resolved` says.
    pub const fn tracks_incidents(self) -> bool {
        matches!(
            self,
            ChannelKind::Webhook | ChannelKind::PagerDuty | ChannelKind::Opsgenie
        )
    }

    /// Whether the channel is a chat webhook whose URL is its credential.
    const fn is_chat_webhook(self) -> bool {
        matches!(
            self,
            ChannelKind::Slack
                | ChannelKind::Discord
                | ChannelKind::Teams
                | ChannelKind::Mattermost
                | ChannelKind::GoogleChat
        )
    }

    /// The provider's public base URL, for the kinds that have one.
    const fn default_base(self) -> Option<&'static str> {
        match self {
            ChannelKind::PagerDuty => Some("https://events.pagerduty.com"),
            ChannelKind::Opsgenie => Some("https://api.opsgenie.com"),
            ChannelKind::Ntfy => Some("https://ntfy.sh"),
            ChannelKind::Telegram => Some("https://api.telegram.org"),
            ChannelKind::Pushover => Some("https://api.pushover.net"),
            _ => None,
        }
    }

    /// The keys a channel of this kind takes (besides `type` and `template`), the required
    /// ones first as `(key, required)`.
    fn keys(self) -> &'static [(&'static str, bool)] {
        match self {
            ChannelKind::Webhook => &[("url", true), ("secret", false), ("headers", false)],
            ChannelKind::Slack | ChannelKind::Discord | ChannelKind::Teams => {
                &[("webhook_url", true)]
            }
            ChannelKind::GoogleChat => &[("webhook_url", true)],
            ChannelKind::Mattermost => &[
                ("webhook_url", true),
                ("username", false),
                ("channel", false),
            ],
            ChannelKind::PagerDuty => &[("routing_key", true), ("base_url", false)],
            ChannelKind::Opsgenie => &[("api_key", true), ("base_url", false), ("priority", false)],
            ChannelKind::Ntfy => &[
                ("topic", true),
                ("base_url", false),
                ("token", false),
                ("priority", false),
            ],
            ChannelKind::Telegram => &[("token", true), ("chat_id", true), ("base_url", false)],
            ChannelKind::Gotify => &[("base_url", true), ("token", true), ("priority", false)],
            ChannelKind::Pushover => &[
                ("token", true),
                ("user_key", true),
                ("base_url", false),
                ("priority", false),
            ],
            ChannelKind::Email => &[
                ("host", true),
                ("from", true),
                ("to", true),
                ("port", false),
                ("tls", false),
                ("username", false),
                ("password", false),
            ],
        }
    }
}

impl std::fmt::Display for ChannelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A configured channel, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    pub name: String,
    pub kind: ChannelKind,
    /// Where its requests go: the webhook URL, or the provider's base URL (a request's path is
    /// appended to it as text).
    pub url: Url,
    /// The credential sent with its requests: the webhook's signing secret, PagerDuty's
    /// routing key, Opsgenie's API key, the ntfy, Telegram, Gotify or Pushover token, or the
    /// SMTP password.
    pub key: Option<String>,
    /// Pushover's user key.
    pub user_key: Option<String>,
    /// Telegram's chat id.
    pub chat_id: Option<String>,
    /// ntfy's topic.
    pub topic: Option<String>,
    /// The webhook's extra headers.
    pub headers: Vec<(String, String)>,
    /// The priority sent on triggers, as configured (validated for the kind).
    pub priority: Option<String>,
    /// Mattermost's `username` and `channel` overrides; email's SMTP login.
    pub username: Option<String>,
    pub channel: Option<String>,
    /// A template that replaces the channel's default message text.
    pub template: Option<String>,
    /// Email's server and addresses.
    pub email: Option<Box<Email>>,
    /// At most this many requests a minute (`max_per_minute`); none when unset.
    pub max_per_minute: Option<u32>,
}

const MASK: &str = "****";

impl Channel {
    /// The texts that are secrets: replaced by `****` wherever this channel's requests,
    /// answers and errors are shown.
    pub fn secrets(&self) -> Vec<String> {
        let mut s: Vec<String> = [&self.key, &self.user_key]
            .into_iter()
            .flatten()
            .filter(|k| !k.is_empty())
            .cloned()
            .collect();
        if let Some(p) = self.url.password() {
            s.push(p.to_owned());
        }
        if self.kind.is_chat_webhook() {
            let path = self.url.path().trim_start_matches('/');
            if !path.is_empty() {
                s.push(path.to_owned());
            }
            if let Some(q) = self.url.query() {
                s.push(q.to_owned());
            }
        }
        // The longest first, so that one secret inside another is masked whole.
        s.sort_by_key(|k| std::cmp::Reverse(k.len()));
        s
    }

    /// `text` with this channel's secrets masked.
    pub fn mask(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in self.secrets() {
            out = out.replace(&secret, MASK);
        }
        out
    }

    /// The channel's URL as it may be shown.
    pub fn shown_url(&self) -> String {
        self.mask(self.url.as_str())
    }
}

/// The alerting settings: the channels by name.
#[derive(Debug, Clone, Default)]
pub struct Alerting {
    pub channels: Arc<BTreeMap<String, Channel>>,
    /// Whether they come from a Gatus file (read as it is: see `Settings::check_alerting_store`).
    pub from_gatus: bool,
    /// The channels and shared rules the running process uses: these at startup, replaced by
    /// each applied reload. Clones of the settings share it.
    pub live: LiveAlerting,
}

/// What a running process alerts with now.
#[derive(Debug, Default)]
pub struct AlertingNow {
    pub channels: Arc<BTreeMap<String, Channel>>,
    /// `alert_rules:` and the top-level `alerts:`, which targets made through the API get too.
    pub shared: SharedRules,
    /// `maintenance:`: when notifications are held back (and, in `pause` mode, probes).
    pub maintenance: Arc<[crate::state::maintenance::Window]>,
    /// `depends_on:`, `canaries:` and `group_wait:`.
    pub storm: super::storm::Storm,
}

impl AlertingNow {
    /// Gives a target made through the API the rules of `alert_rules:` and the defaults (it
    /// has none of its own: any it had are those of an earlier configuration).
    pub fn apply_to_api_target(&self, t: &mut Target) -> Result<(), ConfigError> {
        if !t.profile.alerts.is_empty() {
            t.profile = Arc::new(Profile {
                alerts: Arc::new([]),
                ..(*t.profile).clone()
            });
        }
        apply(std::slice::from_mut(t), &self.shared, &self.channels)
    }
}

/// The alerting in use, shared by the outbox worker, the API's editor and the reloads that
/// replace it.
#[derive(Clone, Default)]
pub struct LiveAlerting(Arc<std::sync::RwLock<Arc<AlertingNow>>>);

impl LiveAlerting {
    pub fn new(now: AlertingNow) -> LiveAlerting {
        LiveAlerting(Arc::new(std::sync::RwLock::new(Arc::new(now))))
    }

    /// What is in use now.
    pub fn get(&self) -> Arc<AlertingNow> {
        match self.0.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The channels in use now.
    pub fn channels(&self) -> Arc<BTreeMap<String, Channel>> {
        self.get().channels.clone()
    }

    /// Replaces it (a reload).
    pub fn set(&self, now: Arc<AlertingNow>) {
        match self.0.write() {
            Ok(mut c) => *c = now,
            Err(poisoned) => *poisoned.into_inner() = now,
        }
    }
}

impl std::fmt::Debug for LiveAlerting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = self.channels().keys().cloned().collect();
        f.debug_tuple("LiveAlerting").field(&names).finish()
    }
}

fn duration_of(v: &Scalar, field: &str) -> Result<Option<std::time::Duration>, ConfigError> {
    let s = v.to_string();
    // Gatus writes 0 for "no reminders".
    if s.trim() == "0" || s.trim() == "0s" {
        return Ok(None);
    }
    parse::seconds(&s)
        .map(Some)
        .map_err(|e| ConfigError::new(field, s, e))
}

/// Validates one rule as written; `field` names it in errors (`targets[0].alerts[1]`).
pub fn rule_of(r: &RuleFile, field: &str) -> Result<Rule, ConfigError> {
    let f = |k: &str| format!("{field}.{k}");
    if r.channel.trim().is_empty() {
        return Err(ConfigError::new(f("type"), "", "the name of a channel"));
    }
    let threshold = match (&r.window, r.failure_threshold) {
        (Some(_), Some(n)) => {
            return Err(ConfigError::new(
                f("failure-threshold"),
                n.to_string(),
                "no failure-threshold beside window: (one or the other)",
            ));
        }
        (Some(w), None) => {
            if w.of == 0 || w.of > MAX_WINDOW || w.failures == 0 || w.failures > w.of {
                return Err(ConfigError::new(
                    f("window"),
                    format!("{{failures: {}, of: {}}}", w.failures, w.of),
                    format!("1 <= failures <= of <= {MAX_WINDOW}"),
                ));
            }
            Threshold::Window {
                failures: w.failures,
                of: w.of,
            }
        }
        (None, n) => Threshold::Consecutive(n.unwrap_or(3)),
    };
    let positive = |v: Option<u32>, default: u32, k: &str| match v {
        Some(0) => Err(ConfigError::new(f(k), "0", "a positive integer")),
        v => Ok(v.unwrap_or(default)),
    };
    if let Threshold::Consecutive(n) = threshold {
        positive(Some(n), 3, "failure-threshold")?;
    }
    let severity = r
        .severity
        .as_ref()
        .map(|s| {
            Severity::parse(s)
                .ok_or_else(|| ConfigError::new(f("severity"), s, "critical, warning or info"))
        })
        .transpose()?;
    let watch = match (r.degraded, &r.certificate_expires_within) {
        (Some(true), Some(_)) => {
            return Err(ConfigError::new(
                f("degraded"),
                "true",
                "degraded or certificate_expires_within, not both (one rule each)",
            ));
        }
        (_, Some(v)) => match duration_of(v, &f("certificate_expires_within"))? {
            Some(d) => Watch::CertificateExpiresWithin(d),
            None => {
                return Err(ConfigError::new(
                    f("certificate_expires_within"),
                    v.to_string(),
                    "a positive duration such as 14d",
                ));
            }
        },
        (Some(true), None) => Watch::Degraded,
        _ => Watch::Down,
    };
    Ok(Rule {
        channel: r.channel.trim().to_owned(),
        key: String::new(),
        enabled: r.enabled.unwrap_or(true),
        threshold,
        success_threshold: positive(r.success_threshold, 2, "success-threshold")?,
        send_on_resolved: r.send_on_resolved.unwrap_or(true),
        description: r.description.clone().filter(|d| !d.trim().is_empty()),
        for_at_least: r
            .for_at_least
            .as_ref()
            .map(|v| duration_of(v, &f("for")))
            .transpose()?
            .flatten(),
        remind_every: r
            .minimum_reminder_interval
            .as_ref()
            .map(|v| duration_of(v, &f("minimum-reminder-interval")))
            .transpose()?
            .flatten(),
        reminder_max: r.reminder_max,
        watch,
        severity,
        escalate: steps_of(&r.escalate, &f("escalate"))?,
    })
}

/// Validates `escalate:`: each step after the one before, each naming channels.
fn steps_of(list: &[StepFile], field: &str) -> Result<Vec<Step>, ConfigError> {
    let mut out: Vec<Step> = Vec::new();
    for (i, s) in list.iter().enumerate() {
        let f = |k: &str| format!("{field}[{i}].{k}");
        let after = duration_of(&s.after, &f("after"))?.ok_or_else(|| {
            ConfigError::new(
                f("after"),
                s.after.to_string(),
                "a positive duration such as 15m",
            )
        })?;
        if let Some(before) = out.last()
            && after <= before.after
        {
            return Err(ConfigError::new(
                f("after"),
                s.after.to_string(),
                "later than the step before it (steps are taken in order)",
            ));
        }
        let channels: Vec<String> = s
            .channels
            .iter()
            .map(|c| c.trim().to_owned())
            .filter(|c| !c.is_empty())
            .collect();
        if channels.is_empty() {
            return Err(ConfigError::new(
                f("channels"),
                "[]",
                "the names of one or more channels",
            ));
        }
        out.push(Step { after, channels });
    }
    Ok(out)
}

/// The channels a rule notifies: its own and its escalation's.
fn channels_named(r: &Rule) -> impl Iterator<Item = &String> {
    std::iter::once(&r.channel).chain(r.escalate.iter().flat_map(|s| &s.channels))
}

/// Validates a list of rules as written.
pub fn rules_of(list: &[RuleFile], field: &str) -> Result<Vec<Rule>, ConfigError> {
    list.iter()
        .enumerate()
        .map(|(i, r)| rule_of(r, &format!("{field}[{i}]")))
        .collect()
}

fn priority_of(kind: ChannelKind, v: &Scalar, field: &str) -> Result<String, ConfigError> {
    let s = v.to_string().trim().to_owned();
    let (ok, expected) = match kind {
        ChannelKind::Opsgenie => (
            matches!(
                s.to_ascii_uppercase().as_str(),
                "P1" | "P2" | "P3" | "P4" | "P5"
            ),
            "P1 to P5",
        ),
        ChannelKind::Ntfy => (
            matches!(
                s.to_ascii_lowercase().as_str(),
                "1" | "2" | "3" | "4" | "5" | "min" | "low" | "default" | "high" | "max" | "urgent"
            ),
            "1 to 5, or min, low, default, high, max",
        ),
        ChannelKind::Gotify => (
            s.parse::<u32>().is_ok_and(|p| p <= 10),
            "an integer from 0 to 10",
        ),
        // Pushover: the only other kind that takes a priority (channel_of refuses it elsewhere).
        _ => (
            s.parse::<i32>().is_ok_and(|p| (-2..=2).contains(&p)),
            "an integer from -2 to 2",
        ),
    };
    if ok {
        Ok(if kind == ChannelKind::Opsgenie {
            s.to_ascii_uppercase()
        } else {
            s
        })
    } else {
        Err(ConfigError::new(field, s, expected))
    }
}

pub(super) fn http_url(s: &str, field: &str) -> Result<Url, ConfigError> {
    // Errors show no path or query: a chat webhook URL's are its credential.
    let shown = || match Url::parse(s.trim()) {
        Ok(u) if u.path().trim_matches('/').is_empty() && u.query().is_none() => {
            super::target::masked_url(&u)
        }
        Ok(u) => format!("{}://{}/****", u.scheme(), u.host_str().unwrap_or_default()),
        Err(_) => "****".into(),
    };
    match Url::parse(s.trim()) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(u),
        _ => Err(ConfigError::new(
            field,
            shown(),
            "an http:// or https:// URL",
        )),
    }
}

/// Validates one channel as written; `name` is its key in `channels:`.
pub fn channel_of(name: &str, c: &ChannelFile) -> Result<Channel, ConfigError> {
    let f = |k: &str| format!("channels.{name}.{k}");
    let kinds = || {
        ChannelKind::ALL
            .iter()
            .map(|k| k.name())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let kind_text = c
        .kind
        .as_deref()
        .ok_or_else(|| ConfigError::new(f("type"), "", format!("one of {}", kinds())))?;
    let kind = ChannelKind::parse(kind_text)
        .ok_or_else(|| ConfigError::new(f("type"), kind_text, format!("one of {}", kinds())))?;
    let webhook_url = c.webhook_url.as_ref().or(c.url.as_ref());
    let given: [(&str, bool); 20] = [
        ("url", c.url.is_some() && kind == ChannelKind::Webhook),
        (
            "webhook_url",
            webhook_url.is_some() && kind != ChannelKind::Webhook,
        ),
        ("base_url", c.base_url.is_some()),
        ("secret", c.secret.is_some()),
        ("headers", !c.headers.is_empty()),
        ("routing_key", c.routing_key.is_some()),
        ("api_key", c.api_key.is_some()),
        ("topic", c.topic.is_some()),
        ("token", c.token.is_some()),
        ("chat_id", c.chat_id.is_some()),
        ("user_key", c.user_key.is_some()),
        ("priority", c.priority.is_some()),
        ("username", c.username.is_some()),
        ("channel", c.channel.is_some()),
        ("host", c.host.is_some()),
        ("port", c.port.is_some()),
        ("tls", c.tls.is_some()),
        ("password", c.password.is_some()),
        ("from", c.from.is_some()),
        ("to", c.to.is_some()),
    ];
    let keys = kind.keys();
    for (key, is_given) in &given {
        let takes = keys.iter().any(|(k, _)| k == key);
        if *is_given && !takes {
            let takes: Vec<&str> = keys.iter().map(|(k, _)| *k).collect();
            return Err(ConfigError::new(
                f(key),
                "(set)",
                format!(
                    "no {key} on a {kind} channel (it takes {})",
                    takes.join(", ")
                ),
            ));
        }
    }
    for (key, required) in keys {
        let is_given = given.iter().any(|(k, g)| k == key && *g);
        if *required && !is_given {
            return Err(ConfigError::new(
                f(key),
                "",
                format!("a {key}: a {kind} channel needs one"),
            ));
        }
    }
    let email = match kind {
        ChannelKind::Email => Some(Box::new(email_of(c, &f)?)),
        _ => None,
    };
    let url = match (kind, &email) {
        (_, Some(e)) => smtp_url(e),
        (ChannelKind::Webhook, _) => http_url(c.url.as_deref().unwrap_or_default(), &f("url"))?,
        (k, _) if k.is_chat_webhook() => {
            http_url(webhook_url.map_or("", |s| s.as_str()), &f("webhook_url"))?
        }
        (k, _) => {
            let base = c
                .base_url
                .as_deref()
                .or(k.default_base())
                .unwrap_or_default();
            http_url(base, &f("base_url"))?
        }
    };
    let key = match kind {
        ChannelKind::Webhook => c.secret.clone(),
        ChannelKind::PagerDuty => c.routing_key.clone(),
        ChannelKind::Opsgenie => c.api_key.clone(),
        ChannelKind::Email => c.password.clone(),
        _ => c.token.clone(),
    };
    if kind == ChannelKind::PagerDuty
        && let Some(k) = &key
        && (k.trim().is_empty() || k.len() > 64)
    {
        return Err(ConfigError::new(
            f("routing_key"),
            MASK,
            "the integration's routing key (32 characters)",
        ));
    }
    let headers = c
        .headers
        .iter()
        .map(|(k, v)| {
            http::HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| ConfigError::new(f("headers"), k, "a valid header name"))?;
            http::HeaderValue::from_str(v).map_err(|_| {
                ConfigError::new(f("headers"), k, "a header value of visible ASCII")
            })?;
            Ok((k.clone(), v.clone()))
        })
        .collect::<Result<_, ConfigError>>()?;
    let priority = c
        .priority
        .as_ref()
        .map(|p| priority_of(kind, p, &f("priority")))
        .transpose()?;
    if let Some(t) = &c.template
        && let Err(e) = minijinja::Environment::new().template_from_str(t)
    {
        return Err(ConfigError::new(
            f("template"),
            t.lines().next().unwrap_or_default(),
            format!("a valid template ({e})"),
        ));
    }
    Ok(Channel {
        name: name.to_owned(),
        kind,
        url,
        key,
        user_key: c.user_key.clone(),
        chat_id: c.chat_id.as_ref().map(|v| v.to_string()),
        topic: c.topic.clone(),
        headers,
        priority,
        username: c.username.clone(),
        channel: c.channel.clone(),
        template: c.template.clone(),
        email,
        max_per_minute: match c.max_per_minute {
            Some(0) => {
                return Err(ConfigError::new(
                    f("max_per_minute"),
                    "0",
                    "a positive number of requests a minute",
                ));
            }
            n => n,
        },
    })
}

/// An email channel's server and addresses, validated.
fn email_of(c: &ChannelFile, f: &dyn Fn(&str) -> String) -> Result<Email, ConfigError> {
    let written = c.host.as_deref().unwrap_or_default().trim();
    let host = written
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let valid = host.parse::<std::net::IpAddr>().is_ok()
        || matches!(url::Host::parse(&host), Ok(url::Host::Domain(d)) if !d.contains(['/', '@']));
    if !valid {
        return Err(ConfigError::new(
            f("host"),
            written,
            "the SMTP server's host name or IP address",
        ));
    }
    let tls = match &c.tls {
        None => match &c.port {
            Some(p) if p.to_string().trim() == "465" => SmtpTls::Tls,
            _ => SmtpTls::StartTls,
        },
        Some(t) => SmtpTls::parse(t)
            .ok_or_else(|| ConfigError::new(f("tls"), t, "starttls, tls or none"))?,
    };
    let port = match &c.port {
        None => tls.default_port(),
        Some(p) => {
            let text = p.to_string();
            text.trim()
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| ConfigError::new(f("port"), text, "a port from 1 to 65535"))?
        }
    };
    if tls == SmtpTls::None && c.username.is_some() {
        return Err(ConfigError::new(
            f("username"),
            c.username.as_deref().unwrap_or_default(),
            "no login over an unencrypted connection (tls: none): use starttls or tls",
        ));
    }
    if c.password.is_some() != c.username.is_some() {
        let missing = if c.username.is_some() {
            "password"
        } else {
            "username"
        };
        return Err(ConfigError::new(
            f(missing),
            "",
            "a username and a password together (or neither)",
        ));
    }
    let mailbox = |text: &str, key: &str| {
        text.trim()
            .parse::<lettre::message::Mailbox>()
            .map_err(|e| ConfigError::new(f(key), text, format!("an email address ({e})")))
    };
    let from = mailbox(c.from.as_deref().unwrap_or_default(), "from")?;
    let to =
        c.to.as_ref()
            .map(Recipients::addresses)
            .unwrap_or_default()
            .iter()
            .map(|a| mailbox(a, "to"))
            .collect::<Result<Vec<_>, _>>()?;
    if to.is_empty() {
        return Err(ConfigError::new(
            f("to"),
            "[]",
            "at least one email address",
        ));
    }
    Ok(Email {
        host,
        port,
        tls,
        from,
        to,
    })
}

/// How an email channel is shown: `smtp://host:port` (`smtps://` for TLS from the start).
fn smtp_url(e: &Email) -> Url {
    let scheme = if e.tls == SmtpTls::Tls {
        "smtps"
    } else {
        "smtp"
    };
    let host = match e.host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(a)) => format!("[{a}]"),
        _ => e.host.clone(),
    };
    Url::parse(&format!("{scheme}://{host}:{}", e.port))
        .unwrap_or_else(|_| Url::parse("smtp://invalid").expect("a valid URL"))
}

/// Validates `channels:`.
pub fn channels_of(
    file: &BTreeMap<String, ChannelFile>,
) -> Result<BTreeMap<String, Channel>, ConfigError> {
    file.iter()
        .map(|(name, c)| Ok((name.clone(), channel_of(name, c)?)))
        .collect()
}

/// The rules that apply beyond a target's own: per tag, then for every target.
#[derive(Debug, Default)]
pub struct SharedRules {
    pub by_tags: Vec<(Vec<String>, Vec<Rule>)>,
    pub defaults: Vec<Rule>,
}

impl SharedRules {
    pub fn is_empty(&self) -> bool {
        self.by_tags.is_empty() && self.defaults.is_empty()
    }

    /// Validates the file's `alert_rules:` and `alerts:`.
    pub fn of(tags: &[TagRulesFile], defaults: &[RuleFile]) -> Result<SharedRules, ConfigError> {
        Ok(SharedRules {
            by_tags: tags
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    let field = format!("alert_rules[{i}]");
                    if t.matches.tags.is_empty() {
                        return Err(ConfigError::new(
                            format!("{field}.match.tags"),
                            "[]",
                            "at least one tag",
                        ));
                    }
                    Ok((
                        t.matches.tags.clone(),
                        rules_of(&t.alerts, &format!("{field}.alerts"))?,
                    ))
                })
                .collect::<Result<_, _>>()?,
            defaults: rules_of(defaults, "alerts")?,
        })
    }

    /// A target's rules: its own, then those of each `alert_rules:` entry whose tags it all
    /// has, then the defaults; a channel named by an earlier source is not taken again from a
    /// later one (so a target's own rule, even a disabled one, replaces the tag's or the
    /// default's). Disabled rules are left out; each rule gets its key, and channels that
    /// track incidents always hear of resolves.
    fn merged(
        &self,
        profile: &Profile,
        channels: &BTreeMap<String, Channel>,
    ) -> Result<Vec<Rule>, ConfigError> {
        let mut out: Vec<Rule> = profile.alerts.to_vec();
        let mut named: Vec<String> = out.iter().map(|r| r.channel.clone()).collect();
        let tagged = self
            .by_tags
            .iter()
            .filter(|(tags, _)| tags.iter().all(|t| profile.tags.contains(t)))
            .map(|(_, rules)| rules);
        for source in tagged.chain([&self.defaults]) {
            let fresh: Vec<&Rule> = source
                .iter()
                .filter(|r| !named.contains(&r.channel))
                .collect();
            named.extend(fresh.iter().map(|r| r.channel.clone()));
            out.extend(fresh.into_iter().cloned());
        }
        out.retain(|r| r.enabled);
        let mut seen: HashMap<String, u32> = HashMap::new();
        for r in &mut out {
            if let Some(c) = channels_named(r).find(|c| !channels.contains_key(*c)) {
                return Err(unknown_channel(c, channels));
            }
            let Some(c) = channels.get(&r.channel) else {
                return Err(unknown_channel(&r.channel, channels));
            };
            if c.kind.tracks_incidents() {
                r.send_on_resolved = true;
            }
            let n = seen.entry(r.channel.clone()).or_default();
            *n += 1;
            r.key = if *n == 1 {
                r.channel.clone()
            } else {
                format!("{}#{n}", r.channel)
            };
        }
        Ok(out)
    }
}

fn unknown_channel(name: &str, channels: &BTreeMap<String, Channel>) -> ConfigError {
    let known: Vec<&str> = channels.keys().map(String::as_str).collect();
    ConfigError::new(
        "alerts[].type",
        name,
        if known.is_empty() {
            "the name of a channel in channels: (none is configured)".to_owned()
        } else {
            format!("the name of a channel in channels: ({})", known.join(", "))
        },
    )
}

/// Gives every target its merged rules (see [`SharedRules::merged`]); targets that share a
/// profile keep sharing one.
pub fn apply(
    targets: &mut [Target],
    shared: &SharedRules,
    channels: &BTreeMap<String, Channel>,
) -> Result<(), ConfigError> {
    for rules in shared
        .by_tags
        .iter()
        .map(|(_, r)| r)
        .chain([&shared.defaults])
    {
        if let Some(c) = rules
            .iter()
            .flat_map(channels_named)
            .find(|c| !channels.contains_key(*c))
        {
            return Err(unknown_channel(c, channels));
        }
    }
    let mut done: HashMap<*const Profile, Arc<Profile>> = HashMap::new();
    for t in targets {
        if shared.is_empty() && t.profile.alerts.is_empty() {
            continue;
        }
        let key = Arc::as_ptr(&t.profile);
        let merged = match done.get(&key) {
            Some(p) => p.clone(),
            None => {
                let rules = shared.merged(&t.profile, channels)?;
                let p = Arc::new(Profile {
                    alerts: rules.into(),
                    ..(*t.profile).clone()
                });
                done.insert(key, p.clone());
                p
            }
        };
        t.profile = merged;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channel(yaml: &str) -> Result<Channel, ConfigError> {
        channel_of("ops", &serde_yaml_ng::from_str(yaml).unwrap())
    }

    #[test]
    fn channels_need_their_keys_and_refuse_others() {
        let e = channel("type: pagerduty").unwrap_err();
        assert_eq!(e.setting, "channels.ops.routing_key");
        let e =
            channel("type: slack\nwebhook_url: https://hooks.slack.com/x\ntoken: t").unwrap_err();
        assert!(e.expected.contains("no token on a slack channel"), "{e:?}");
        let e = channel("type: smoke-signals").unwrap_err();
        assert!(e.expected.contains("pagerduty"), "{e:?}");
        let e = channel("type: gotify\ntoken: t").unwrap_err();
        assert_eq!(e.setting, "channels.ops.base_url");
        let e = channel("type: ntfy\ntopic: t\npriority: 9").unwrap_err();
        assert!(e.expected.contains("1 to 5"), "{e:?}");
        let c = channel("type: pagerduty\nintegration-key: abc").unwrap();
        assert_eq!(c.url.as_str(), "https://events.pagerduty.com/");
        let c = channel("type: telegram\ntoken: t\nchat-id: -100123").unwrap();
        assert_eq!(c.chat_id.as_deref(), Some("-100123"));
        let e = channel("type: webhook\nurl: ftp://x").unwrap_err();
        assert!(e.expected.contains("http"), "{e:?}");
        let e = channel("type: slack\nwebhook_url: ftp://hooks.example/T0/B0/SECRET").unwrap_err();
        assert_eq!(e.value, "ftp://hooks.example/****");
        let e = channel("type: webhook\nurl: http://x\ntemplate: '{{ oops'").unwrap_err();
        assert!(e.expected.contains("valid template"), "{e:?}");
    }

    #[test]
    fn email_channels_validate_their_server_login_and_addresses() {
        let c = channel("{type: email, host: mail.example.com, from: up@example.com, to: [a@example.com], username: u, password: hunter22}").unwrap();
        let e = c.email.as_deref().unwrap();
        assert_eq!((e.port, e.tls), (587, SmtpTls::StartTls));
        assert_eq!(c.shown_url(), "smtp://mail.example.com:587");
        assert_eq!(
            c.mask("535 auth failed for hunter22"),
            "535 auth failed for ****"
        );
        let c = channel("{type: email, host: 'mail.example.com', port: 465, from: up@example.com, to: a@example.com}").unwrap();
        assert_eq!(c.email.as_deref().unwrap().tls, SmtpTls::Tls);
        let c = channel(
            "{type: email, host: '::1', tls: none, from: up@example.com, to: a@example.com}",
        )
        .unwrap();
        assert_eq!(c.shown_url(), "smtp://[::1]:25");
        let e = channel("{type: email, host: h.example, tls: none, from: up@example.com, to: a@example.com, username: u, password: p}").unwrap_err();
        assert!(e.expected.contains("no login over an unencrypted"), "{e:?}");
        let e = channel(
            "{type: email, host: h.example, from: up@example.com, to: a@example.com, username: u}",
        )
        .unwrap_err();
        assert_eq!(e.setting, "channels.ops.password");
        let e =
            channel("{type: email, host: h.example, from: 'not an address', to: a@example.com}")
                .unwrap_err();
        assert_eq!(e.setting, "channels.ops.from");
        let e =
            channel("{type: email, host: h.example, from: up@example.com, to: ''}").unwrap_err();
        assert_eq!(e.setting, "channels.ops.to");
        let e = channel("{type: email, host: 'h/x', from: up@example.com, to: a@example.com}")
            .unwrap_err();
        assert_eq!(e.setting, "channels.ops.host");
        let e = channel(
            "{type: email, host: h.example, tls: maybe, from: up@example.com, to: a@example.com}",
        )
        .unwrap_err();
        assert!(e.expected.contains("starttls"), "{e:?}");
        let e = channel(
            "{type: email, host: h.example, port: 0, from: up@example.com, to: a@example.com}",
        )
        .unwrap_err();
        assert_eq!(e.setting, "channels.ops.port");
        let e = channel("{type: email, from: up@example.com, to: a@example.com}").unwrap_err();
        assert_eq!(e.setting, "channels.ops.host");
        let e = channel("{type: slack, webhook_url: 'https://h.example/x', host: h}").unwrap_err();
        assert!(e.expected.contains("no host on a slack channel"), "{e:?}");
    }

    #[test]
    fn secrets_are_masked_including_a_chat_webhook_path_and_a_url_password() {
        let c = channel("type: slack\nwebhook_url: https://hooks.slack.com/services/T0/B0/XYZ")
            .unwrap();
        assert_eq!(c.shown_url(), "https://hooks.slack.com/****");
        assert_eq!(
            c.mask("POST https://hooks.slack.com/services/T0/B0/XYZ failed"),
            "POST https://hooks.slack.com/**** failed"
        );
        let c = channel("type: telegram\ntoken: 123:ABC\nchat_id: 5").unwrap();
        assert_eq!(c.mask("/bot123:ABC/sendMessage"), "/bot****/sendMessage");
        let c = channel("type: webhook\nurl: https://u:pw@h/x\nsecret: s3cr3t").unwrap();
        assert_eq!(c.mask("pw s3cr3t"), "**** ****");
    }

    #[test]
    fn rules_take_gatus_keys_and_validate() {
        let r: Vec<RuleFile> = serde_yaml_ng::from_str(
            "- type: ops\n  failure-threshold: 5\n  success-threshold: 1\n  send-on-resolved: false\n  minimum-reminder-interval: 30m\n- type: ops\n  window: {failures: 2, of: 3}\n  for: 5m\n  severity: warning\n  reminder_max: 2\n",
        )
        .unwrap();
        let rules = rules_of(&r, "alerts").unwrap();
        assert_eq!(rules[0].threshold, Threshold::Consecutive(5));
        assert_eq!(
            rules[0].remind_every,
            Some(std::time::Duration::from_secs(1800))
        );
        assert!(!rules[0].send_on_resolved);
        assert_eq!(rules[1].threshold, Threshold::Window { failures: 2, of: 3 });
        assert_eq!(
            rules[1].for_at_least,
            Some(std::time::Duration::from_secs(300))
        );
        assert_eq!(rules[1].severity, Some(Severity::Warning));
        assert_eq!(rules[0].watch, Watch::Down);
        let r: Vec<RuleFile> = serde_yaml_ng::from_str(
            "- {type: ops, degraded: true}\n- {type: ops, certificate-expires-within: 14d}\n",
        )
        .unwrap();
        let rules = rules_of(&r, "alerts").unwrap();
        assert_eq!(rules[0].watch, Watch::Degraded);
        assert_eq!(
            rules[1].watch,
            Watch::CertificateExpiresWithin(std::time::Duration::from_secs(14 * 86400))
        );
        let bad: Vec<RuleFile> = serde_yaml_ng::from_str(
            "- {type: ops, degraded: true, certificate_expires_within: 14d}",
        )
        .unwrap();
        assert!(rules_of(&bad, "alerts").is_err());
        let bad: Vec<RuleFile> =
            serde_yaml_ng::from_str("- {type: ops, certificate_expires_within: 0}").unwrap();
        assert!(rules_of(&bad, "alerts").is_err());
        let bad: Vec<RuleFile> =
            serde_yaml_ng::from_str("- type: ops\n  window: {failures: 4, of: 3}").unwrap();
        let e = rules_of(&bad, "alerts").unwrap_err();
        assert_eq!(e.setting, "alerts[0].window");
        let bad: Vec<RuleFile> =
            serde_yaml_ng::from_str("- type: ops\n  failure-threshold: 0").unwrap();
        assert!(rules_of(&bad, "alerts").is_err());
    }
}
