//! Alerting's durable half: each (target, rule)'s counters ([`RuleState`]) and the outbox of
//! notifications, both written in the transaction of the results or the pause or removal that
//! moved them, so a crash between a state change and its notification cannot happen: after a
//! SIGKILL the rule neither fires again nor forgets that it fired, and a notification written
//! is sent after the restart. `crate::alerting`'s worker sends the outbox.
//!
//! The outbox keeps the order of one incident's notifications to one channel: a reminder or
//! resolve waits while an earlier notification of its key and channel is pending, and is
//! skipped when that incident's trigger failed for good (the provider refused it), since the
//! provider knows no incident to resolve.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use rusqlite::{OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::SqliteStore;
use crate::state::rules::{Action, Condition, ResolveReason, Rule, RuleState, Seen, Severity};
use crate::store::{Micros, StoreError, from_micros};

/// The tables, made when missing each time the store opens (no schema version: an uptimer
/// that does not know them leaves them alone, and `VACUUM INTO` copies them).
pub const TABLES: &str = "
CREATE TABLE IF NOT EXISTS alert_rules (
    target_id TEXT NOT NULL,
    rule TEXT NOT NULL,
    state TEXT NOT NULL,
    PRIMARY KEY (target_id, rule)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS notifications (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    channel TEXT NOT NULL,
    kind TEXT NOT NULL,
    seq INTEGER NOT NULL DEFAULT 0,
    target_id TEXT NOT NULL,
    incident_id INTEGER,
    created_at INTEGER NOT NULL,
    due_at INTEGER NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    sent_at INTEGER,
    answer TEXT,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS notifications_pending ON notifications (due_at) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS notifications_channel_pending ON notifications (channel, due_at) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS notifications_key ON notifications (key, channel, id);
CREATE INDEX IF NOT EXISTS notifications_incident ON notifications (incident_id);
CREATE TABLE IF NOT EXISTS incident_acks (
    incident_id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    by TEXT,
    via TEXT NOT NULL
);
";

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

/// The alert rules of the targets that have any, by target id: the write connection's copy of
/// the configuration, kept by the store's following of the registry.
#[derive(Debug, Default)]
pub struct AlertRules {
    pub by_target: HashMap<String, Arc<[Rule]>>,
}

impl AlertRules {
    pub fn of(&self, id: &str) -> Option<&Arc<[Rule]>> {
        self.by_target.get(id).filter(|r| !r.is_empty())
    }
}

fn json_err(e: serde_json::Error) -> StoreError {
    StoreError::Other(format!("alert state: {e}"))
}

/// A target as notices name it.
fn notice_target(tx: &rusqlite::Connection, id: &str) -> Result<NoticeTarget, StoreError> {
    let row: Option<(Option<String>, Option<String>, String)> = tx
        .prepare_cached("SELECT name, url, tags FROM targets WHERE id = ?1")?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let (name, url, tags) = row.unwrap_or_default();
    Ok(NoticeTarget {
        id: id.to_owned(),
        name: name.unwrap_or_else(|| id.to_owned()),
        url: url.unwrap_or_default(),
        tags: serde_json::from_str(&tags).unwrap_or_default(),
    })
}

/// Target `id` as notices name it, read once however many notices it gets.
fn target_once(
    tx: &Transaction,
    id: &str,
    read: &mut Option<NoticeTarget>,
) -> Result<NoticeTarget, StoreError> {
    match read {
        Some(t) => Ok(t.clone()),
        None => Ok(read.insert(notice_target(tx, id)?).clone()),
    }
}

fn load_states(tx: &Transaction, id: &str) -> Result<HashMap<String, RuleState>, StoreError> {
    let mut stmt = tx.prepare_cached("SELECT rule, state FROM alert_rules WHERE target_id = ?1")?;
    let rows = stmt.query_map([id], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
    })?;
    let mut out = HashMap::new();
    for row in rows {
        let (rule, state) = row?;
        // A state this uptimer cannot read starts again rather than stop the writer.
        let state = serde_json::from_str(&state).unwrap_or_else(|e| {
            tracing::warn!(
                target = id,
                rule,
                "alert rule state unreadable ({e}): reset"
            );
            RuleState::default()
        });
        out.insert(rule, state);
    }
    Ok(out)
}

fn save_state(tx: &Transaction, id: &str, rule: &str, s: &RuleState) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO alert_rules (target_id, rule, state) VALUES (?1, ?2, ?3)
         ON CONFLICT (target_id, rule) DO UPDATE SET state = excluded.state",
    )?
    .execute(params![
        id,
        rule,
        serde_json::to_string(s).map_err(json_err)?
    ])?;
    Ok(())
}

/// Writes a notification into the outbox, due now.
fn enqueue(
    tx: &Transaction,
    channel: &str,
    notice: &Notice,
    now: Micros,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO notifications (key, channel, kind, seq, target_id, incident_id, created_at,
           due_at, payload)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8)",
    )?
    .execute(params![
        notice.key,
        channel,
        notice.kind,
        notice.reminder,
        notice.target.id,
        notice.incident,
        now,
        serde_json::to_string(notice).map_err(json_err)?,
    ])?;
    Ok(())
}

/// The channel of a rule key (`ops#2` → `ops`).
fn channel_of_key(rule: &str) -> &str {
    rule.split_once('#').map_or(rule, |(c, _)| c)
}

fn new_key(incident: Option<i64>) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    match incident {
        Some(i) => format!("uptimer-{i}-{}", &id[..12]),
        None => format!("uptimer-{}", &id[..12]),
    }
}

/// What an expiring certificate's notification says: when, and how long from the result.
fn certificate_text(not_after: OffsetDateTime, at: OffsetDateTime) -> String {
    let left = not_after - at;
    let date = not_after
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    if left.is_negative() {
        format!("the TLS certificate expired at {date}")
    } else {
        format!(
            "the TLS certificate expires at {date} (in {} days)",
            left.whole_days()
        )
    }
}

/// Runs a target's applied results (in order) through its rules and writes the notifications
/// they make. `incident` is the target's open incident after each result.
pub fn observe(
    tx: &Transaction,
    id: &str,
    rules: &[Rule],
    results: &[(Observed, Option<i64>)],
    now: Micros,
) -> Result<(), StoreError> {
    if results.is_empty() {
        return Ok(());
    }
    let mut states = load_states(tx, id)?;
    let mut target: Option<NoticeTarget> = None;
    for rule in rules {
        let state = states.entry(rule.key.clone()).or_default();
        let before = state.clone();
        for (o, incident) in results {
            let time = from_micros(o.time);
            let seen = Seen {
                up: o.up,
                degraded: o.degraded,
                cert_not_after: o.cert_not_after.map(from_micros),
                time,
            };
            let Some((failing, condition)) = rule.judge(&seen) else {
                continue;
            };
            // The store's incidents are outages: a degraded result or an expiring certificate
            // is not one (acknowledging an outage does not silence them).
            let incident = &incident.filter(|_| condition == Condition::Down);
            let Some(action) =
                state.observe(rule, !failing, time, *incident, || new_key(*incident))
            else {
                continue;
            };
            let (kind, key, reminder, reason) = match action {
                Action::Trigger { key } => ("trigger", key, 0, None),
                Action::Reminder { key, n } => {
                    // An acknowledged incident is not reminded of.
                    let fired_for = state.firing.as_ref().and_then(|f| f.incident);
                    if acked_at(tx, fired_for)?.is_some() {
                        continue;
                    }
                    ("reminder", key, n, None)
                }
                Action::Resolve { key, reason } => {
                    if !rule.send_on_resolved {
                        continue;
                    }
                    ("resolve", key, 0, Some(reason.as_str().to_owned()))
                }
            };
            let t = target_once(tx, id, &mut target)?;
            let failing = kind != "resolve";
            let (severity, error) = match (failing, condition) {
                (false, _) => (rule.resolve_severity(), None),
                (true, Condition::Certificate) => (
                    rule.severity_of(condition),
                    seen.cert_not_after.map(|at| certificate_text(at, time)),
                ),
                (true, Condition::Degraded) => (
                    rule.severity_of(condition),
                    Some(o.error.clone().unwrap_or_else(|| "degraded".into())),
                ),
                (true, Condition::Down) => (rule.severity_of(condition), o.error.clone()),
            };
            let notice = Notice {
                reminder,
                incident: *incident,
                severity,
                condition: if failing {
                    condition
                } else {
                    Condition::default()
                },
                description: rule.description.clone(),
                down_since: state.down_since.filter(|_| failing),
                reason,
                error,
                error_kind: o.error_kind.clone().filter(|_| failing),
                status_code: o.status_code,
                response_time_ms: o.response_time_ms,
                ..Notice::about(kind, key, rule.key.clone(), t, time)
            };
            enqueue(tx, &rule.channel, &notice, now)?;
        }
        if *state != before {
            save_state(tx, id, &rule.key, state)?;
        }
    }
    Ok(())
}

/// Ends the rules of target `id` that `keep` does not keep (all of them when `keep` is
/// `None`): a fired one resolves with `reason` (when its channel hears of resolves), and its
/// counters are forgotten.
pub fn end(
    tx: &Transaction,
    id: &str,
    keep: Option<&[Rule]>,
    reason: ResolveReason,
    now: Micros,
) -> Result<(), StoreError> {
    let states = load_states(tx, id)?;
    let mut target: Option<NoticeTarget> = None;
    for (rule_key, mut state) in states {
        let rule = keep.and_then(|rules| rules.iter().find(|r| r.key == rule_key));
        if rule.is_some() && reason == ResolveReason::Removed {
            continue;
        }
        let firing = state.firing.clone();
        if let Some(Action::Resolve { key, reason }) = state.end(reason)
            && rule.is_none_or(|r| r.send_on_resolved)
        {
            let notice = Notice {
                incident: firing.and_then(|f| f.incident),
                severity: rule.map(Rule::resolve_severity).unwrap_or_default(),
                description: rule.and_then(|r| r.description.clone()),
                reason: Some(reason.as_str().to_owned()),
                ..Notice::about(
                    "resolve",
                    key,
                    rule_key.clone(),
                    target_once(tx, id, &mut target)?,
                    from_micros(now),
                )
            };
            enqueue(tx, channel_of_key(&rule_key), &notice, now)?;
        }
        tx.prepare_cached("DELETE FROM alert_rules WHERE target_id = ?1 AND rule = ?2")?
            .execute(params![id, rule_key])?;
    }
    Ok(())
}

/// When incident `id` was acknowledged, if it was.
fn acked_at(tx: &Transaction, id: Option<i64>) -> Result<Option<Micros>, StoreError> {
    let Some(id) = id else { return Ok(None) };
    Ok(tx
        .prepare_cached("SELECT at FROM incident_acks WHERE incident_id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?)
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

/// Acknowledges incident `id`: its reminders stop, and an `acknowledge` notification for each
/// fired rule of it goes into the outbox (sent on to PagerDuty, Opsgenie and webhooks).
pub fn ack(
    tx: &Transaction,
    id: i64,
    by: Option<&str>,
    via: &str,
    now: Micros,
) -> Result<Acked, StoreError> {
    let incident: Option<(String, Option<Micros>)> = tx
        .prepare_cached("SELECT target_id, ended_at FROM incidents WHERE id = ?1")?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((target_id, ended)) = incident else {
        return Ok(Acked::Unknown);
    };
    if let Some(at) = acked_at(tx, Some(id))? {
        return Ok(Acked::Before { at, target_id });
    }
    if ended.is_some() {
        return Ok(Acked::Resolved);
    }
    tx.prepare_cached(
        "INSERT INTO incident_acks (incident_id, at, by, via) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![id, now, by, via])?;
    let mut target: Option<NoticeTarget> = None;
    for (rule_key, state) in load_states(tx, &target_id)? {
        let Some(f) = state.firing.filter(|f| f.incident == Some(id)) else {
            continue;
        };
        let t = target_once(tx, &target_id, &mut target)?;
        let notice = Notice {
            incident: Some(id),
            down_since: state.down_since,
            acknowledged_by: by.map(str::to_owned),
            ..Notice::about("acknowledge", f.key, rule_key.clone(), t, from_micros(now))
        };
        enqueue(tx, channel_of_key(&rule_key), &notice, now)?;
    }
    Ok(Acked::Now { at: now, target_id })
}

/// The ids of the targets with rule counters stored.
pub fn ids_with_states(tx: &Transaction) -> Result<Vec<String>, StoreError> {
    let mut stmt = tx.prepare_cached("SELECT DISTINCT target_id FROM alert_rules")?;
    let ids = stmt
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(ids)
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

fn notification_row(r: &rusqlite::Row) -> rusqlite::Result<NotificationRow> {
    Ok(NotificationRow {
        id: r.get(0)?,
        key: r.get(1)?,
        channel: r.get(2)?,
        kind: r.get(3)?,
        seq: r.get(4)?,
        target_id: r.get(5)?,
        incident_id: r.get(6)?,
        state: r.get(7)?,
        attempts: r.get(8)?,
        created_at: r.get(9)?,
        sent_at: r.get(10)?,
        answer: r.get(11)?,
        last_error: r.get(12)?,
    })
}

/// How long a notification waits for its channel to be configured again before it fails.
const UNCONFIGURED_FOR: Micros = 24 * 60 * crate::store::MINUTE;

/// Marks reminders and resolves of a trigger that failed for good skipped; puts off what is
/// due for a channel not in `configured` (not the newest few seconds', which a reload adding
/// the channel may have written), and fails what waited for one for a day.
fn tidy_outbox(tx: &Transaction, now: Micros, configured: &[String]) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE notifications SET state = 'skipped',
           last_error = 'its trigger was refused by the provider'
         WHERE state = 'pending' AND kind != 'trigger' AND EXISTS (
           SELECT 1 FROM notifications t WHERE t.key = notifications.key
             AND t.channel = notifications.channel AND t.kind = 'trigger'
             AND t.state = 'failed')",
        [],
    )?;
    let known = serde_json::to_string(configured).unwrap_or_default();
    tx.execute(
        "UPDATE notifications SET state = 'failed',
           last_error = 'channel ' || channel || ' was not configured for a day'
         WHERE state = 'pending' AND created_at < ?1 - ?2
           AND channel NOT IN (SELECT value FROM json_each(?3))",
        params![now, UNCONFIGURED_FOR, known],
    )?;
    tx.execute(
        "UPDATE notifications SET due_at = ?1 + ?2,
           last_error = 'channel ' || channel || ' is not configured'
         WHERE state = 'pending' AND due_at <= ?1 AND created_at < ?1 - ?3
           AND channel NOT IN (SELECT value FROM json_each(?4))",
        params![
            now,
            10 * crate::store::MINUTE,
            5 * crate::store::SECOND,
            known
        ],
    )?;
    Ok(())
}

impl SqliteStore {
    /// The notifications due at `now` for each channel asked for, up to its number and
    /// oldest first, leaving out `busy` (being sent, or sent and not yet recorded) and any
    /// held behind an earlier pending one of its incident and channel (so a resolve never
    /// passes its trigger). With `tidy` (the worker's reads on its timer) it also marks
    /// reminders and resolves of a trigger that failed for good skipped, and puts off by ten
    /// minutes what is due for a channel not `configured` (saying so on the notification;
    /// failed after a day of that).
    pub async fn due_notifications(
        &self,
        now: Micros,
        wanted: Vec<(String, usize)>,
        configured: Vec<String>,
        busy: HashSet<i64>,
        tidy: bool,
    ) -> Result<Vec<Outgoing>, StoreError> {
        self.write(move |w, _| {
            let tx = w.conn.transaction()?;
            if tidy {
                tidy_outbox(&tx, now, &configured)?;
            }
            let mut out = Vec::new();
            let mut stmt = tx.prepare_cached(
                "SELECT id, channel, attempts, payload, created_at FROM notifications n
                 WHERE state = 'pending' AND channel = ?1 AND due_at <= ?2 AND NOT EXISTS (
                   SELECT 1 FROM notifications p WHERE p.key = n.key
                     AND p.channel = n.channel AND p.id < n.id AND p.state = 'pending')
                 ORDER BY due_at, id LIMIT ?3",
            )?;
            let mut unreadable = Vec::new();
            for (channel, limit) in wanted {
                // Busy ones may come back among the oldest: asked for beyond the limit.
                let rows =
                    stmt.query_map(params![channel, now, (limit + busy.len()) as i64], |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, u32>(2)?,
                            r.get::<_, String>(3)?,
                            r.get::<_, Micros>(4)?,
                        ))
                    })?;
                let mut taken = 0;
                for row in rows {
                    let (id, channel, attempts, payload, created_at) = row?;
                    if taken == limit {
                        break;
                    }
                    if busy.contains(&id) {
                        continue;
                    }
                    match serde_json::from_str(&payload) {
                        Ok(notice) => {
                            taken += 1;
                            out.push(Outgoing {
                                id,
                                channel,
                                attempts,
                                notice,
                                created_at,
                            })
                        }
                        Err(e) => unreadable.push((id, e.to_string())),
                    }
                }
            }
            drop(stmt);
            for (id, e) in unreadable {
                tracing::warn!(id, "notification unreadable ({e}): marked failed");
                tx.execute(
                    "UPDATE notifications SET state = 'failed', last_error = ?2 WHERE id = ?1",
                    params![id, format!("unreadable: {e}")],
                )?;
            }
            tx.commit()?;
            Ok(out)
        })
        .await
    }

    /// Records how sending each notification went, in one transaction.
    pub async fn notifications_done(
        &self,
        outcomes: Vec<(i64, Delivery)>,
        now: Micros,
    ) -> Result<(), StoreError> {
        self.write(move |w, _| {
            let tx = w.conn.transaction()?;
            for (id, delivery) in outcomes {
                match delivery {
                    Delivery::Sent { answer } => tx.execute(
                        "UPDATE notifications SET state = 'sent', attempts = attempts + 1,
                           sent_at = ?2, answer = ?3 WHERE id = ?1",
                        params![id, now, answer],
                    )?,
                    Delivery::Retry { retry_at, error } => tx.execute(
                        "UPDATE notifications SET attempts = attempts + 1, due_at = ?2,
                           last_error = ?3 WHERE id = ?1",
                        params![id, retry_at, error],
                    )?,
                    Delivery::Failed { error } => tx.execute(
                        "UPDATE notifications SET state = 'failed', attempts = attempts + 1,
                           last_error = ?2, answer = ?2 WHERE id = ?1",
                        params![id, error],
                    )?,
                    Delivery::Skipped { why } => tx.execute(
                        "UPDATE notifications SET state = 'skipped', last_error = ?2 WHERE id = ?1",
                        params![id, why],
                    )?,
                };
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// The notifications, newest first, of one target (or all), at most `limit`.
    pub async fn notifications(
        &self,
        target: Option<String>,
        limit: usize,
    ) -> Result<Vec<NotificationRow>, StoreError> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, key, channel, kind, seq, target_id, incident_id, state, attempts,
                   created_at, sent_at, answer, last_error
                 FROM notifications WHERE ?1 IS NULL OR target_id = ?1
                 ORDER BY id DESC LIMIT ?2",
            )?;
            let rows = stmt
                .query_map(params![target, limit as i64], notification_row)?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
        .await
    }

    /// Acknowledges incident `id` (see [`ack`]); `via` says how (`api`, `cli`, `link`).
    pub async fn ack_incident(
        &self,
        id: i64,
        by: Option<String>,
        via: &'static str,
    ) -> Result<Acked, StoreError> {
        self.write(move |w, _| {
            let tx = w.conn.transaction()?;
            let done = ack(&tx, id, by.as_deref(), via, crate::store::now_micros())?;
            tx.commit()?;
            Ok(done)
        })
        .await
    }

    /// Incident `id`'s target (as notices name it), start and end: what the acknowledgement
    /// page shows.
    pub async fn incident_brief(
        &self,
        id: i64,
    ) -> Result<Option<(NoticeTarget, Micros, Option<Micros>)>, StoreError> {
        self.read(move |c| {
            let row: Option<(String, Micros, Option<Micros>)> = c
                .prepare_cached(
                    "SELECT target_id, started_at, ended_at FROM incidents WHERE id = ?1",
                )?
                .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()?;
            row.map(|(t, start, end)| Ok((notice_target(c, &t)?, start, end)))
                .transpose()
        })
        .await
    }

    /// The acknowledgement and notifications of each of these incidents (those with either).
    pub async fn incident_alerts(
        &self,
        ids: Vec<i64>,
    ) -> Result<HashMap<i64, IncidentAlerts>, StoreError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        self.read(move |c| {
            let list = serde_json::to_string(&ids).map_err(json_err)?;
            let mut out: HashMap<i64, IncidentAlerts> = HashMap::new();
            let mut stmt = c.prepare_cached(
                "SELECT incident_id, at, by, via FROM incident_acks
                 WHERE incident_id IN (SELECT value FROM json_each(?1))",
            )?;
            let rows = stmt.query_map([&list], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    Ack {
                        at: r.get(1)?,
                        by: r.get(2)?,
                        via: r.get(3)?,
                    },
                ))
            })?;
            for row in rows {
                let (id, ack) = row?;
                out.entry(id).or_default().acknowledged = Some(ack);
            }
            let mut stmt = c.prepare_cached(
                "SELECT id, key, channel, kind, seq, target_id, incident_id, state, attempts,
                   created_at, sent_at, answer, last_error
                 FROM notifications WHERE incident_id IN (SELECT value FROM json_each(?1))
                 ORDER BY id",
            )?;
            let rows = stmt.query_map([&list], notification_row)?;
            for row in rows {
                let n = row?;
                if let Some(id) = n.incident_id {
                    out.entry(id).or_default().notifications.push(n);
                }
            }
            Ok(out)
        })
        .await
    }

    /// How many notifications wait to be sent, and when the oldest of them was made.
    pub async fn outbox_depth(&self) -> Result<(u64, Option<Micros>), StoreError> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT count(*), min(created_at) FROM notifications WHERE state = 'pending'",
                [],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)),
            )?)
        })
        .await
    }
}
