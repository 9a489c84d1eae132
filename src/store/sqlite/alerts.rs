//! Alerting in the SQLite store: each (target, rule)'s counters and the outbox of
//! notifications (`crate::store::alerts`), written in the transaction of the results or the
//! pause or removal that moved them, so after a SIGKILL a rule neither fires again nor forgets
//! that it fired, and a notification written is sent after the restart.

use std::collections::{HashMap, HashSet};

use rusqlite::{OptionalExtension, Transaction, params};

use super::SqliteStore;
use crate::state::rules::{ResolveReason, Rule, RuleState};
pub use crate::store::alerts::gate::{Gate, Kind, Matcher, Silence, TargetNow, read_matchers};
use crate::store::alerts::plan::{self, Planned, States, read_state};
pub use crate::store::alerts::{
    Ack, Acked, AlertRules, AlertStore, Delivery, IncidentAlerts, Notice, NoticeTarget,
    NotificationRow, Observed, Outgoing,
};
use crate::store::alerts::{UNCONFIGURED_FOR, UNCONFIGURED_GRACE, UNCONFIGURED_RETRY};
use crate::store::{Micros, StoreError, to_micros};

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
CREATE TABLE IF NOT EXISTS silences (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL DEFAULT 'silence',
    matchers TEXT NOT NULL,
    starts_at INTEGER NOT NULL,
    ends_at INTEGER NOT NULL,
    created_by TEXT,
    reason TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS silences_ends ON silences (ends_at);
CREATE TABLE IF NOT EXISTS incident_acks (
    incident_id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    by TEXT,
    via TEXT NOT NULL
);
";

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

fn load_states(tx: &Transaction, id: &str) -> Result<States, StoreError> {
    let mut stmt = tx.prepare_cached("SELECT rule, state FROM alert_rules WHERE target_id = ?1")?;
    let rows = stmt.query_map([id], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
    })?;
    let mut out = HashMap::new();
    for row in rows {
        let (rule, state) = row?;
        out.insert(rule.clone(), read_state(id, &rule, &state));
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

/// Names the target of `planned` (all of target `id`) and writes them into the outbox, due
/// now (a trigger with its channel's `group_wait` group, unless [`Planned::at_once`]); a resolve whose trigger still waits
/// in its group cancels it and is not written.
fn enqueue(
    tx: &Transaction,
    id: &str,
    mut planned: Vec<Planned>,
    now: Micros,
    group_wait: Micros,
) -> Result<(), StoreError> {
    if planned.is_empty() {
        return Ok(());
    }
    plan::name_target(&mut planned, &notice_target(tx, id)?);
    write_planned(tx, planned, now, group_wait)
}

/// Writes `planned`, whose targets are named, into the outbox (see [`enqueue`]).
fn write_planned(
    tx: &Transaction,
    planned: Vec<Planned>,
    now: Micros,
    group_wait: Micros,
) -> Result<(), StoreError> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO notifications (key, channel, kind, seq, target_id, incident_id, created_at,
           due_at, payload, state, last_error)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?;
    let mut group = tx.prepare_cached(
        "SELECT max(due_at) FROM notifications
         WHERE channel = ?1 AND kind = 'trigger' AND state = 'pending' AND due_at > ?2",
    )?;
    let mut cancel = tx.prepare_cached(
        "UPDATE notifications SET state = 'skipped',
           last_error = 'resolved within group_wait, before it was sent'
         WHERE key = ?1 AND channel = ?2 AND kind = 'trigger' AND state = 'pending'
           AND attempts = 0 AND due_at > ?3",
    )?;
    for Planned {
        channel,
        notice,
        held,
        at_once,
    } in planned
    {
        let state = if held.is_some() {
            "suppressed"
        } else {
            "pending"
        };
        // Grouped by the results' times (a replay of old results groups as they happened).
        let at = to_micros(notice.time);
        // Over before its trigger left its group (and before it was taken): neither goes out.
        if notice.kind == "resolve"
            && cancel.execute(params![notice.key, channel, at.max(now)])? > 0
        {
            continue;
        }
        let due = if notice.kind == "trigger" && group_wait > 0 && !at_once {
            group_due(&mut group, &channel, at, group_wait)?
        } else {
            now
        };
        stmt.execute(params![
            notice.key,
            channel,
            notice.kind,
            notice.reminder,
            notice.target.id,
            notice.incident,
            now,
            due,
            serde_json::to_string(&notice).map_err(json_err)?,
            state,
            held,
        ])?;
    }
    Ok(())
}

/// When a trigger to `channel` about a result at `at` goes out: with its channel's open group
/// (the triggers waiting for their `group_wait`, sent together as a digest), else
/// `group_wait` after it, opening one.
fn group_due(
    group: &mut rusqlite::CachedStatement,
    channel: &str,
    at: Micros,
    group_wait: Micros,
) -> Result<Micros, StoreError> {
    let open: Option<Micros> = group.query_row(params![channel, at], |r| r.get(0))?;
    Ok(open.unwrap_or(at + group_wait))
}

/// Which of the incidents the rules of `states` fired for are acknowledged.
fn acked_of(tx: &Transaction, states: &States) -> Result<HashSet<i64>, StoreError> {
    let mut acked = HashSet::new();
    for i in plan::fired_incidents(states) {
        if acked_at(tx, Some(i))?.is_some() {
            acked.insert(i);
        }
    }
    Ok(acked)
}

/// Runs a target's applied results (in order) through its rules and writes the notifications
/// they make (see [`plan::observe`]), holding back what `gate` holds. `incident` is the
/// target's open incident after each result.
pub fn observe(
    tx: &Transaction,
    id: &str,
    rules: &[Rule],
    results: &[(Observed, Option<i64>)],
    gate: &Gate,
    now: Micros,
) -> Result<(), StoreError> {
    if results.is_empty() {
        return Ok(());
    }
    let mut states = load_states(tx, id)?;
    let acked = acked_of(tx, &states)?;
    let target = if gate.is_empty() {
        NoticeTarget::bare(id)
    } else {
        notice_target(tx, id)?
    };
    let hold = |channel: &str, at: Micros, since| gate.hold(&target, channel, at, since);
    let seen = plan::observe(id, rules, &mut states, results, &acked, &hold);
    let group_wait = i64::try_from(gate.storm.group_wait.as_micros()).unwrap_or(0);
    enqueue(tx, id, seen.planned, now, group_wait)?;
    for rule in seen.changed {
        save_state(tx, id, &rule, &states[&rule])?;
    }
    let mut revise = tx.prepare_cached(
        "UPDATE notifications SET last_error = ?3
         WHERE key = ?1 AND channel = ?2 AND kind = 'trigger' AND state = 'suppressed'",
    )?;
    for (key, channel, why) in seen.revised {
        revise.execute(params![key, channel, why])?;
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
    let (planned, forget) = plan::end(id, states, keep, reason, now);
    enqueue(tx, id, planned, now, 0)?;
    let mut stmt =
        tx.prepare_cached("DELETE FROM alert_rules WHERE target_id = ?1 AND rule = ?2")?;
    for rule in forget {
        stmt.execute(params![id, rule])?;
    }
    Ok(())
}

/// The states of targets `ids` (parents and canaries) as storm control sees them.
pub fn targets_now(
    tx: &Transaction,
    ids: &[String],
) -> Result<HashMap<String, TargetNow>, StoreError> {
    let list = serde_json::to_string(ids).map_err(json_err)?;
    let mut stmt = tx.prepare_cached(
        "SELECT id, open_incident IS NOT NULL, last_event_time,
           (SELECT max(ended_at) FROM incidents i WHERE i.target_id = t.id)
         FROM targets t WHERE id IN (SELECT value FROM json_each(?1))",
    )?;
    let rows = stmt.query_map([list], |r| {
        Ok((
            r.get::<_, String>(0)?,
            TargetNow {
                down: r.get(1)?,
                last: r.get(2)?,
                recovered: r.get(3)?,
            },
        ))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Whether the monitor is offline (a quorum of the canaries down), and the notifications
/// that says when it changes: "monitor offline" to the canaries' channels, and its resolve.
pub fn monitor(tx: &Transaction, gate: &Gate, now: Micros) -> Result<(), StoreError> {
    let Some(canaries) = &gate.storm.canaries else {
        return Ok(());
    };
    let mut states = load_states(tx, plan::MONITOR)?;
    let state = states.remove(plan::MONITOR_RULE).unwrap_or_default();
    let (planned, state) = plan::monitor(state, gate.offline(), canaries, now);
    // Named by the plan: the monitor is no target of the table.
    write_planned(tx, planned, now, 0)?;
    if let Some(state) = state {
        save_state(tx, plan::MONITOR, plan::MONITOR_RULE, &state)?;
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
    let states = load_states(tx, &target_id)?;
    enqueue(
        tx,
        &target_id,
        plan::ack(&target_id, &states, id, by, now),
        now,
        0,
    )?;
    Ok(Acked::Now { at: now, target_id })
}

fn silence_row(r: &rusqlite::Row) -> rusqlite::Result<(Silence, String)> {
    Ok((
        Silence {
            id: r.get(0)?,
            kind: Kind::parse(&r.get::<_, String>(7)?),
            matchers: Vec::new(),
            starts_at: r.get(2)?,
            ends_at: r.get(3)?,
            created_by: r.get(4)?,
            reason: r.get(5)?,
            created_at: r.get(6)?,
        },
        r.get(1)?,
    ))
}

const SILENCE_COLUMNS: &str =
    "SELECT id, matchers, starts_at, ends_at, created_by, reason, created_at, kind FROM silences";

/// The silences not over at `now` (all of them with `all`), newest first.
pub fn silences(
    c: &rusqlite::Connection,
    now: Micros,
    all: bool,
) -> Result<Vec<Silence>, StoreError> {
    let mut stmt = c.prepare_cached(&format!(
        "{SILENCE_COLUMNS} WHERE ?2 OR ends_at > ?1 ORDER BY id DESC"
    ))?;
    let rows = stmt.query_map(params![now, all], silence_row)?;
    let mut out = Vec::new();
    for row in rows {
        let (mut s, matchers) = row?;
        s.matchers = read_matchers(s.id, &matchers);
        out.push(s);
    }
    Ok(out)
}

/// The ids of the targets with rule counters stored.
pub fn ids_with_states(tx: &Transaction) -> Result<Vec<String>, StoreError> {
    // Not the monitor's own state (`@monitor`): no target has it.
    let mut stmt = tx.prepare_cached(
        "SELECT DISTINCT target_id FROM alert_rules WHERE target_id NOT LIKE '@%'",
    )?;
    let ids = stmt
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(ids)
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
        params![now, UNCONFIGURED_RETRY, UNCONFIGURED_GRACE, known],
    )?;
    Ok(())
}

impl SqliteStore {
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
}

#[async_trait::async_trait]
impl AlertStore for SqliteStore {
    async fn due_notifications(
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

    async fn notifications_done(
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

    async fn ack_incident(
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

    async fn incident_brief(
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

    async fn incident_alerts(
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

    async fn silences(&self, now: Micros, all: bool) -> Result<Vec<Silence>, StoreError> {
        self.read(move |c| silences(c, now, all)).await
    }

    async fn add_silence(&self, s: Silence) -> Result<Silence, StoreError> {
        self.write(move |w, _| {
            let matchers = serde_json::to_string(&s.matchers).map_err(json_err)?;
            w.conn.execute(
                "INSERT INTO silences (matchers, starts_at, ends_at, created_by, reason, created_at,
                   kind)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    matchers,
                    s.starts_at,
                    s.ends_at,
                    s.created_by,
                    s.reason,
                    s.created_at,
                    s.kind.as_str()
                ],
            )?;
            Ok(Silence {
                id: w.conn.last_insert_rowid(),
                ..s
            })
        })
        .await
    }

    async fn expire_silence(
        &self,
        id: i64,
        kind: Option<Kind>,
        now: Micros,
    ) -> Result<Option<Silence>, StoreError> {
        let kind = kind.map(Kind::as_str);
        self.write(move |w, _| {
            w.conn.execute(
                "UPDATE silences SET starts_at = min(starts_at, ?2), ends_at = ?2
                 WHERE id = ?1 AND ends_at > ?2 AND (?3 IS NULL OR kind = ?3)",
                params![id, now, kind],
            )?;
            let row = w
                .conn
                .prepare_cached(&format!(
                    "{SILENCE_COLUMNS} WHERE id = ?1 AND (?2 IS NULL OR kind = ?2)"
                ))?
                .query_row(params![id, kind], silence_row)
                .optional()?;
            Ok(row.map(|(mut s, m)| {
                s.matchers = read_matchers(s.id, &m);
                s
            }))
        })
        .await
    }

    async fn outbox_depth(&self) -> Result<(u64, Option<Micros>), StoreError> {
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
