//! Alerting's durable half, for both stores: what a notification says ([`Notice`]), the rule
//! counters' planning over applied results ([`plan`], pure: each store runs it inside the
//! transaction that applied the results, pause or removal, and writes what it returns), and
//! the outbox as `crate::alerting`'s worker and the web use it ([`AlertStore`]). The SQLite
//! store keeps it in `sqlite::alerts`, PostgreSQL in `postgres::alerts`.
//!
//! The outbox keeps the order of one incident's notifications to one channel: a reminder or
//! resolve waits while an earlier notification of its key and channel is pending, and is
//! skipped when that incident's trigger failed for good (the provider refused it), since the
//! provider knows no incident to resolve.

pub mod gate;
pub mod plan;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::config::alerting::LiveAlerting;
use crate::state::rules::{Condition, Rule, Severity};
use crate::store::{Micros, StoreError};
pub use gate::{Gate, Silence};

/// How long a notification waits for its channel to be configured again before it fails.
pub const UNCONFIGURED_FOR: Micros = 24 * 60 * crate::store::MINUTE;
/// What is due for a channel not configured is put off by this much…
pub const UNCONFIGURED_RETRY: Micros = 10 * crate::store::MINUTE;
/// …unless it is this new (a reload adding the channel may have written it).
pub const UNCONFIGURED_GRACE: Micros = 5 * crate::store::SECOND;

/// What a notification is about: all a channel's message is made of, written into the outbox
/// with it (so the message says what was true when it happened, whenever it is sent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notice {
    /// `trigger`, `reminder` or `resolve`.
    pub kind: String,
    /// The reminder's number (from 1); 0 otherwise.
    #[serde(default)]
    pub reminder: u32,
    /// The incident's stable key.
    pub key: String,
    /// The rule's key (its channel, `#2`… for a second rule to it).
    pub rule: String,
    pub target: NoticeTarget,
    /// The store's incident, when one was open.
    pub incident: Option<i64>,
    pub severity: Severity,
    /// What the results that fired it showed: `down`, `degraded` or `certificate` (expiring).
    #[serde(default)]
    pub condition: Condition,
    pub description: Option<String>,
    /// When it happened (the result's time, or the pause or removal).
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    /// Since when the target has been failing (triggers and reminders).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub down_since: Option<OffsetDateTime>,
    /// Why it resolved: `recovered`, `target paused`, `target removed`.
    pub reason: Option<String>,
    /// Who acknowledged the incident (`acknowledge` notifications).
    #[serde(default)]
    pub acknowledged_by: Option<String>,
    /// The incident's signed acknowledgement link (set when sent, with `WEB_PUBLIC_URL`).
    #[serde(default)]
    pub ack_url: Option<String>,
    /// The failing result's error, error kind, status code and response time.
    pub error: Option<String>,
    pub error_kind: Option<String>,
    pub status_code: Option<u16>,
    pub response_time_ms: Option<f64>,
}

impl Notice {
    /// A notice of `kind` about `target` under incident `key`, at `time`, with nothing else
    /// said: the fields that apply are set with struct update syntax.
    pub fn about(
        kind: &str,
        key: String,
        rule: String,
        target: NoticeTarget,
        time: OffsetDateTime,
    ) -> Notice {
        Notice {
            kind: kind.into(),
            reminder: 0,
            key,
            rule,
            target,
            incident: None,
            severity: Severity::default(),
            condition: Condition::default(),
            description: None,
            time,
            down_since: None,
            reason: None,
            acknowledged_by: None,
            ack_url: None,
            error: None,
            error_kind: None,
            status_code: None,
            response_time_ms: None,
        }
    }
}

/// The target of a [`Notice`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoticeTarget {
    pub id: String,
    pub name: String,
    /// Credentials masked.
    pub url: String,
    #[serde(default)]
    pub tags: Vec<String>,
}

impl From<&crate::store::TargetSummary> for NoticeTarget {
    /// The target as the gate matches it (by id, name and tags; no URL).
    fn from(t: &crate::store::TargetSummary) -> NoticeTarget {
        NoticeTarget {
            id: t.id.clone(),
            name: t.name.clone(),
            url: String::new(),
            tags: t.tags.clone(),
        }
    }
}

/// The result a rule observed, as its notice tells it.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub up: bool,
    /// Passed but met a `degraded_if` condition.
    pub degraded: bool,
    /// The end of the TLS certificate's validity, for results that had one.
    pub cert_not_after: Option<Micros>,
    pub time: Micros,
    pub error: Option<String>,
    pub error_kind: Option<String>,
    pub status_code: Option<u16>,
    pub response_time_ms: Option<f64>,
}

/// What acknowledging an incident did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acked {
    /// Acknowledged now (at this time); its channels that track incidents are told.
    Now { at: Micros, target_id: String },
    /// It was acknowledged before, at this time.
    Before { at: Micros, target_id: String },
    /// It is over already.
    Resolved,
    /// No such incident.
    Unknown,
}

/// A notification of the outbox, due to be sent.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub id: i64,
    pub channel: String,
    pub attempts: u32,
    pub notice: Notice,
    /// When the incident's trigger went out (reminders and resolves), for email threading.
    pub created_at: Micros,
}

/// How a send attempt ended.
#[derive(Debug, Clone)]
pub enum Delivery {
    /// Delivered: the provider's answer (masked, clipped).
    Sent { answer: String },
    /// Not yet: tried again at `retry_at`.
    Retry { retry_at: Micros, error: String },
    /// Refused for good (a 4xx other than 429, or a channel no longer configured).
    Failed { error: String },
    /// Not for this channel (an acknowledgement to a channel that does not track incidents).
    Skipped { why: String },
}

/// One notification's row as the web and tests read it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NotificationRow {
    pub id: i64,
    pub key: String,
    pub channel: String,
    pub kind: String,
    pub seq: u32,
    pub target_id: String,
    pub incident_id: Option<i64>,
    pub state: String,
    pub attempts: u32,
    pub created_at: Micros,
    pub sent_at: Option<Micros>,
    pub answer: Option<String>,
    pub last_error: Option<String>,
}

/// An incident's acknowledgement.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ack {
    pub at: Micros,
    pub by: Option<String>,
    /// `api` (the API and `uptimer incident ack`) or `link`.
    pub via: String,
}

/// What alerting did about one incident.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct IncidentAlerts {
    pub acknowledged: Option<Ack>,
    pub notifications: Vec<NotificationRow>,
}

/// The alert rules of the targets that have any, by target id: a writer's copy of the
/// configuration, kept by its following of the registry.
#[derive(Debug, Default)]
pub struct AlertRules {
    pub by_target: HashMap<String, Arc<[Rule]>>,
    /// The alerting in use (for its maintenance windows).
    pub live: LiveAlerting,
}

impl AlertRules {
    /// What holds notifications back at `now`: the configured maintenance windows and the
    /// given silences.
    pub fn gate(&self, silences: Vec<Silence>) -> Gate {
        Gate::new(silences, &self.live.get())
    }

    pub fn of(&self, id: &str) -> Option<&Arc<[Rule]>> {
        self.by_target.get(id).filter(|r| !r.is_empty())
    }
}

/// The channel of a rule key (`ops#2` → `ops`).
pub fn channel_of_key(rule: &str) -> &str {
    rule.split_once('#').map_or(rule, |(c, _)| c)
}

/// A store's outbox and acknowledgements: what the outbox worker and the web ask of it.
#[async_trait::async_trait]
pub trait AlertStore: Send + Sync {
    /// The notifications due at `now` for each channel asked for, up to its number and oldest
    /// first, leaving out `busy` (being sent, or sent and not yet recorded) and any held
    /// behind an earlier pending one of its incident and channel (so a resolve never passes
    /// its trigger). With `tidy` (the worker's reads on its timer) it also marks reminders
    /// and resolves of a trigger that failed for good skipped, and puts off by ten minutes
    /// what is due for a channel not `configured` (saying so on the notification; failed
    /// after a day of that).
    async fn due_notifications(
        &self,
        now: Micros,
        wanted: Vec<(String, usize)>,
        configured: Vec<String>,
        busy: HashSet<i64>,
        tidy: bool,
    ) -> Result<Vec<Outgoing>, StoreError>;

    /// Records how sending each notification went, in one transaction.
    async fn notifications_done(
        &self,
        outcomes: Vec<(i64, Delivery)>,
        now: Micros,
    ) -> Result<(), StoreError>;

    /// How many notifications wait to be sent, and when the oldest of them was made.
    async fn outbox_depth(&self) -> Result<(u64, Option<Micros>), StoreError>;

    /// Acknowledges incident `id`: its reminders stop, and an `acknowledge` notification for
    /// each fired rule of it goes into the outbox (sent on to PagerDuty, Opsgenie and
    /// webhooks). `via` says how (`api`, `link`).
    async fn ack_incident(
        &self,
        id: i64,
        by: Option<String>,
        via: &'static str,
    ) -> Result<Acked, StoreError>;

    /// Incident `id`'s target (as notices name it), start and end: what the acknowledgement
    /// page shows.
    async fn incident_brief(
        &self,
        id: i64,
    ) -> Result<Option<(NoticeTarget, Micros, Option<Micros>)>, StoreError>;

    /// The acknowledgement and notifications of each of these incidents (those with either).
    async fn incident_alerts(
        &self,
        ids: Vec<i64>,
    ) -> Result<HashMap<i64, IncidentAlerts>, StoreError>;

    /// The silences not over at `now` (every one with `all`), newest first.
    async fn silences(&self, now: Micros, all: bool) -> Result<Vec<Silence>, StoreError>;

    /// Adds a silence (its `id` is ignored); returns it as stored.
    async fn add_silence(&self, s: Silence) -> Result<Silence, StoreError>;

    /// Ends silence `id` at `now` (one over already stays as it was); `None` when there is
    /// no such silence, or it is not of `kind` (when given).
    async fn expire_silence(
        &self,
        id: i64,
        kind: Option<gate::Kind>,
        now: Micros,
    ) -> Result<Option<Silence>, StoreError>;
}
