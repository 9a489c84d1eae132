//! Alerting in PostgreSQL (migration `20261204000000_create_alerting.sql`): the rule counters
//! and the outbox `writers.postgres` writes in the transaction of the events, pause or removal
//! that moved them ([`observe`], [`end`]), and the outbox as the outbox worker and the
//! dashboard use it ([`PgAlerts`]). The rules' logic is `crate::store::alerts::plan`, as in
//! the SQLite store.
//!
//! Several writers (probers, or consumers of one Kafka topic) share the outbox: a worker claims
//! what it takes for [`CLAIM_FOR`] (`claimed_until`), with `FOR UPDATE SKIP LOCKED`, so no two
//! send one notification at once; a worker that died leaves its claims to expire.
//!
//! The dashboard over PostgreSQL (`serve --store postgres://`) is read-only but for
//! acknowledgements, whose transactions say `READ WRITE` themselves.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use deadpool_postgres::GenericClient;
use time::OffsetDateTime;

use crate::postgres::PgError;
use crate::state::rules::{ResolveReason, Rule};
use crate::store::alerts::gate::{Gate, Kind, Silence, TargetNow, read_matchers};
use crate::store::alerts::plan::{self, Planned, States, read_state};
use crate::store::alerts::{
    Ack, Acked, AlertStore, Delivery, IncidentAlerts, NoticeTarget, NotificationRow, Observed,
    Outgoing, UNCONFIGURED_FOR, UNCONFIGURED_GRACE, UNCONFIGURED_RETRY,
};
use crate::store::{Micros, SECOND, StoreError, from_micros, to_micros};

/// How long a worker's claim on a notification it is sending lasts: well beyond a send's
/// timeout and the recording of its outcome.
pub const CLAIM_FOR: Micros = 60 * SECOND;

fn db(e: impl Into<PgError>) -> StoreError {
    StoreError::Other(format!("postgres: {}", e.into()))
}

fn json_err(e: serde_json::Error) -> PgError {
    PgError::Setup(format!("alert state: {e}"))
}

/// One target's applied results for its rules (see [`observe`]).
pub struct TargetResults {
    pub id: String,
    pub rules: Arc<[Rule]>,
    /// In order, each with the target's open incident after it.
    pub results: Vec<(Observed, Option<i64>)>,
}

/// The rule counters of targets `ids`, by target.
async fn load_states(
    c: &impl GenericClient,
    ids: &[&str],
) -> Result<HashMap<String, States>, PgError> {
    let stmt = c
        .prepare_cached(
            "SELECT target_id, rule, state::text FROM alert_rules
             WHERE target_id = ANY($1::text[])",
        )
        .await?;
    let mut out: HashMap<String, States> = HashMap::new();
    for r in c.query(&stmt, &[&ids]).await? {
        let (id, rule, state): (String, String, &str) = (r.get(0), r.get(1), r.get(2));
        let s = read_state(&id, &rule, state);
        out.entry(id).or_default().insert(rule, s);
    }
    Ok(out)
}

/// Which of `incidents` are acknowledged.
async fn acked(c: &impl GenericClient, incidents: &[i64]) -> Result<HashSet<i64>, PgError> {
    if incidents.is_empty() {
        return Ok(HashSet::new());
    }
    let stmt = c
        .prepare_cached("SELECT incident_id FROM incident_acks WHERE incident_id = ANY($1)")
        .await?;
    Ok(c.query(&stmt, &[&incidents])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

/// Targets `ids` as notices name them.
async fn notice_targets(
    c: &impl GenericClient,
    ids: &[&str],
) -> Result<HashMap<String, NoticeTarget>, PgError> {
    let stmt = c
        .prepare_cached("SELECT id, name, url, tags FROM targets WHERE id = ANY($1::text[])")
        .await?;
    Ok(c.query(&stmt, &[&ids])
        .await?
        .iter()
        .map(|r| {
            let id: String = r.get(0);
            let name: Option<String> = r.get(1);
            let tags: Option<Vec<String>> = r.get(3);
            let t = NoticeTarget {
                name: name.unwrap_or_else(|| id.clone()),
                url: r.get::<_, Option<String>>(2).unwrap_or_default(),
                tags: tags.unwrap_or_default(),
                id: id.clone(),
            };
            (id, t)
        })
        .collect())
}

/// Names the targets of `planned` and writes them into the outbox, due `now` (triggers with
/// their channel's open group, or `group_wait` from now, unless [`Planned::at_once`]); a resolve whose trigger still waits
/// in its group cancels it and is not written.
async fn enqueue(
    c: &impl GenericClient,
    planned: Vec<Planned>,
    now: Micros,
    group_wait: Micros,
) -> Result<(), PgError> {
    if planned.is_empty() {
        return Ok(());
    }
    let at = from_micros(now);
    let mut kept = Vec::with_capacity(planned.len());
    for p in planned {
        // Over before its trigger left its group (and before it was taken): neither goes
        // out. Grouped by the results' times (a replay groups as they happened).
        if p.notice.kind == "resolve" {
            let at = p.notice.time.max(at);
            let cancelled = c
                .execute(
                    "UPDATE notifications SET state = 'skipped',
                       last_error = 'resolved within group_wait, before it was sent'
                     WHERE key = $1 AND channel = $2 AND kind = 'trigger' AND state = 'pending'
                       AND attempts = 0 AND due_at > $3",
                    &[&p.notice.key, &p.channel, &at],
                )
                .await?;
            if cancelled > 0 {
                continue;
            }
        }
        kept.push(p);
    }
    let mut planned = kept;
    if planned.is_empty() {
        return Ok(());
    }
    let mut groups: HashMap<String, OffsetDateTime> = HashMap::new();
    let earliest = planned.iter().map(|p| p.notice.time).min().unwrap_or(at);
    if group_wait > 0 {
        let channels: Vec<&str> = planned
            .iter()
            .filter(|p| p.notice.kind == "trigger")
            .map(|p| p.channel.as_str())
            .collect();
        for r in c
            .query(
                "SELECT channel, max(due_at) FROM notifications
                 WHERE channel = ANY($1::text[]) AND kind = 'trigger' AND state = 'pending'
                   AND due_at > $2 GROUP BY channel",
                &[&channels, &earliest],
            )
            .await?
        {
            groups.insert(r.get(0), r.get(1));
        }
    }
    let dues: Vec<OffsetDateTime> = planned
        .iter()
        .map(|p| {
            if p.notice.kind != "trigger" || group_wait == 0 || p.at_once {
                return at;
            }
            let own = p.notice.time + time::Duration::microseconds(group_wait);
            match groups.get(&p.channel) {
                Some(open) if *open > p.notice.time => *open,
                _ => {
                    groups.insert(p.channel.clone(), own);
                    own
                }
            }
        })
        .collect();
    let mut ids: Vec<&str> = planned
        .iter()
        .map(|p| p.notice.target.id.as_str())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let named = notice_targets(c, &ids).await?;
    for p in &mut planned {
        if let Some(t) = named.get(&p.notice.target.id) {
            p.notice.target = t.clone();
        }
    }
    let n = |f: &dyn Fn(&Planned) -> String| planned.iter().map(f).collect::<Vec<_>>();
    let keys = n(&|p| p.notice.key.clone());
    let channels = n(&|p| p.channel.clone());
    let kinds = n(&|p| p.notice.kind.clone());
    let targets = n(&|p| p.notice.target.id.clone());
    let seqs: Vec<i32> = planned
        .iter()
        .map(|p| i32::try_from(p.notice.reminder).unwrap_or(i32::MAX))
        .collect();
    let incidents: Vec<Option<i64>> = planned.iter().map(|p| p.notice.incident).collect();
    let payloads = planned
        .iter()
        .map(|p| serde_json::to_string(&p.notice))
        .collect::<Result<Vec<_>, _>>()
        .map_err(json_err)?;
    let held: Vec<Option<String>> = planned.iter().map(|p| p.held.clone()).collect();
    let stmt = c
        .prepare_cached(
            "INSERT INTO notifications (key, channel, kind, seq, target_id, incident_id,
               created_at, due_at, payload, state, last_error)
             SELECT key, channel, kind, seq, target_id, incident_id, $7, due, payload::jsonb,
               CASE WHEN held IS NULL THEN 'pending' ELSE 'suppressed' END, held
             FROM unnest($1::text[], $2::text[], $3::text[], $4::int4[], $5::text[],
               $6::int8[], $8::text[], $9::text[], $10::timestamptz[]) WITH ORDINALITY
               AS u(key, channel, kind, seq, target_id, incident_id, payload, held, due, n)
             ORDER BY n",
        )
        .await?;
    c.execute(
        &stmt,
        &[
            &keys,
            &channels,
            &kinds,
            &seqs,
            &targets,
            &incidents,
            &from_micros(now),
            &payloads,
            &held,
            &dues,
        ],
    )
    .await?;
    Ok(())
}

/// Writes the counters of `changed` (target, rule key) from `states`.
async fn save_states(
    c: &impl GenericClient,
    states: &HashMap<String, States>,
    changed: &[(String, String)],
) -> Result<(), PgError> {
    if changed.is_empty() {
        return Ok(());
    }
    let mut ids = Vec::with_capacity(changed.len());
    let mut rules = Vec::with_capacity(changed.len());
    let mut values = Vec::with_capacity(changed.len());
    for (id, rule) in changed {
        let Some(s) = states.get(id).and_then(|s| s.get(rule)) else {
            continue;
        };
        ids.push(id.as_str());
        rules.push(rule.as_str());
        values.push(serde_json::to_string(s).map_err(json_err)?);
    }
    let stmt = c
        .prepare_cached(
            "INSERT INTO alert_rules (target_id, rule, state)
             SELECT id, rule, state::jsonb FROM unnest($1::text[], $2::text[], $3::text[])
               AS u(id, rule, state)
             ON CONFLICT (target_id, rule) DO UPDATE SET state = EXCLUDED.state",
        )
        .await?;
    c.execute(&stmt, &[&ids, &rules, &values]).await?;
    Ok(())
}

/// Runs each target's applied results through its rules and writes the notifications they
/// make and the counters they moved, in the caller's transaction (the one that applied the
/// results, holding the targets' rows locked). `gate` holds back notifications as its
/// silences (read here) and maintenance windows say.
pub async fn observe(
    c: &impl GenericClient,
    batch: &[TargetResults],
    mut gate: Gate,
    now: Micros,
) -> Result<(), PgError> {
    let batch: Vec<&TargetResults> = batch.iter().filter(|t| !t.results.is_empty()).collect();
    if batch.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = batch.iter().map(|t| t.id.as_str()).collect();
    let mut states = load_states(c, &ids).await?;
    let fired: Vec<i64> = states.values().flat_map(plan::fired_incidents).collect();
    let acked = acked(c, &fired).await?;
    // The silences not over by the oldest result (each is held by those under way at its time).
    let oldest = batch
        .iter()
        .flat_map(|t| t.results.iter().map(|(o, _)| o.time))
        .min()
        .unwrap_or(now);
    gate.silences = silences(c, oldest, false).await?;
    let named = if gate.is_empty() {
        HashMap::new()
    } else {
        notice_targets(c, &ids).await?
    };
    // Parents and canaries as this transaction has them (the batch's results applied).
    let watched = gate.watched(ids.iter().copied());
    if !watched.is_empty() {
        gate.now_of = targets_now(c, &watched).await?;
    }
    let mut planned = monitor(c, &gate, now).await?;
    let mut changed = Vec::new();
    let mut revised = Vec::new();
    for t in batch {
        let s = states.entry(t.id.clone()).or_default();
        let bare = NoticeTarget::bare(&t.id);
        let target = named.get(&t.id).unwrap_or(&bare);
        let hold = |channel: &str, at: Micros, since| gate.hold(target, channel, at, since);
        let seen = plan::observe(&t.id, &t.rules, s, &t.results, &acked, &hold);
        planned.extend(seen.planned);
        changed.extend(seen.changed.into_iter().map(|k| (t.id.clone(), k)));
        revised.extend(seen.revised);
    }
    let group_wait = i64::try_from(gate.storm.group_wait.as_micros()).unwrap_or(0);
    enqueue(c, planned, now, group_wait).await?;
    if !revised.is_empty() {
        let stmt = c
            .prepare_cached(
                "UPDATE notifications n SET last_error = u.why
                 FROM unnest($1::text[], $2::text[], $3::text[]) AS u(key, channel, why)
                 WHERE n.key = u.key AND n.channel = u.channel AND n.kind = 'trigger'
                   AND n.state = 'suppressed'",
            )
            .await?;
        let col = |i: usize| -> Vec<&str> {
            revised
                .iter()
                .map(|r: &(String, String, String)| match i {
                    0 => r.0.as_str(),
                    1 => r.1.as_str(),
                    _ => r.2.as_str(),
                })
                .collect()
        };
        c.execute(&stmt, &[&col(0), &col(1), &col(2)]).await?;
    }
    save_states(c, &states, &changed).await
}

/// The states of targets `ids` (parents and canaries) as storm control sees them.
async fn targets_now(
    c: &impl GenericClient,
    ids: &[String],
) -> Result<HashMap<String, TargetNow>, PgError> {
    let stmt = c
        .prepare_cached(
            "SELECT id, open_incident IS NOT NULL, last_event_time,
               (SELECT max(ended_at) FROM incidents i WHERE i.target_id = t.id)
             FROM targets t WHERE id = ANY($1::text[])",
        )
        .await?;
    Ok(c.query(&stmt, &[&ids])
        .await?
        .iter()
        .map(|r| {
            let last: Option<OffsetDateTime> = r.get(2);
            let recovered: Option<OffsetDateTime> = r.get(3);
            let now = TargetNow {
                down: r.get(1),
                last: last.map(to_micros),
                recovered: recovered.map(to_micros),
            };
            (r.get(0), now)
        })
        .collect())
}

/// The monitor's "offline" notifications when the canaries' quorum changes (see
/// [`plan::monitor`]); its state is saved here, the notifications are the caller's to write.
async fn monitor(
    c: &impl GenericClient,
    gate: &Gate,
    now: Micros,
) -> Result<Vec<Planned>, PgError> {
    let Some(canaries) = &gate.storm.canaries else {
        return Ok(Vec::new());
    };
    let mut states = load_states(c, &[plan::MONITOR]).await?;
    let state = states
        .remove(plan::MONITOR)
        .and_then(|mut s| s.remove(plan::MONITOR_RULE))
        .unwrap_or_default();
    let (planned, state) = plan::monitor(state, gate.offline(), canaries, now);
    if let Some(state) = state {
        let states = HashMap::from([(
            plan::MONITOR.to_owned(),
            HashMap::from([(plan::MONITOR_RULE.to_owned(), state)]),
        )]);
        let changed = [(plan::MONITOR.to_owned(), plan::MONITOR_RULE.to_owned())];
        save_states(c, &states, &changed).await?;
    }
    Ok(planned)
}

/// Ends the rules of each target of `ends` that its rules (`None`: none) do not keep: a fired
/// one resolves with `reason`, its counters are forgotten (see [`plan::end`]). In the
/// caller's transaction.
pub async fn end(
    c: &impl GenericClient,
    ends: &[(String, Option<Arc<[Rule]>>)],
    reason: ResolveReason,
    now: Micros,
) -> Result<(), PgError> {
    if ends.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = ends.iter().map(|(id, _)| id.as_str()).collect();
    let mut states = load_states(c, &ids).await?;
    let mut planned = Vec::new();
    let (mut forget_ids, mut forget_rules) = (Vec::new(), Vec::new());
    for (id, keep) in ends {
        let Some(s) = states.remove(id) else {
            continue;
        };
        let (p, forget) = plan::end(id, s, keep.as_deref(), reason, now);
        planned.extend(p);
        for rule in forget {
            forget_ids.push(id.clone());
            forget_rules.push(rule);
        }
    }
    enqueue(c, planned, now, 0).await?;
    if !forget_ids.is_empty() {
        let stmt = c
            .prepare_cached(
                "DELETE FROM alert_rules a USING unnest($1::text[], $2::text[]) AS u(id, rule)
                 WHERE a.target_id = u.id AND a.rule = u.rule",
            )
            .await?;
        c.execute(&stmt, &[&forget_ids, &forget_rules]).await?;
    }
    Ok(())
}

const SILENCE_COLUMNS: &str = "SELECT id, matchers::text, starts_at, ends_at, created_by, reason,
       created_at, kind FROM silences";

fn silence_of(r: &tokio_postgres::Row) -> Silence {
    let id: i64 = r.get(0);
    let t = |i: usize| to_micros(r.get::<_, OffsetDateTime>(i));
    Silence {
        id,
        kind: Kind::parse(r.get(7)),
        matchers: read_matchers(id, r.get(1)),
        starts_at: t(2),
        ends_at: t(3),
        created_by: r.get(4),
        reason: r.get(5),
        created_at: t(6),
    }
}

/// The silences not over at `now` (every one with `all`), newest first.
async fn silences(c: &impl GenericClient, now: Micros, all: bool) -> Result<Vec<Silence>, PgError> {
    let stmt = c
        .prepare_cached(&format!(
            "{SILENCE_COLUMNS} WHERE $2 OR ends_at > $1 ORDER BY id DESC"
        ))
        .await?;
    Ok(c.query(&stmt, &[&from_micros(now), &all])
        .await?
        .iter()
        .map(silence_of)
        .collect())
}

/// Which of `ids` have rule counters stored.
pub async fn ids_with_states(
    c: &impl GenericClient,
    ids: &[String],
) -> Result<Vec<String>, PgError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let stmt = c
        .prepare_cached(
            "SELECT DISTINCT target_id FROM alert_rules WHERE target_id = ANY($1::text[])",
        )
        .await?;
    Ok(c.query(&stmt, &[&ids])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

/// A transaction that writes, also on the dashboard's read-only sessions.
pub(super) async fn write_tx(
    c: &mut deadpool_postgres::Object,
) -> Result<deadpool_postgres::Transaction<'_>, StoreError> {
    c.build_transaction()
        .read_only(false)
        .start()
        .await
        .map_err(db)
}

/// The outbox and acknowledgements in PostgreSQL, over a pool.
#[derive(Clone)]
pub struct PgAlerts {
    pool: deadpool_postgres::Pool,
}

impl PgAlerts {
    pub fn new(pool: deadpool_postgres::Pool) -> PgAlerts {
        PgAlerts { pool }
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(db)
    }
}

const ROW_COLS: &str = "id, key, channel, kind, seq, target_id, incident_id, state, attempts,
    created_at, sent_at, answer, last_error";

fn notification_row(r: &tokio_postgres::Row) -> NotificationRow {
    let micros = |t: Option<OffsetDateTime>| t.map(to_micros);
    NotificationRow {
        id: r.get(0),
        key: r.get(1),
        channel: r.get(2),
        kind: r.get(3),
        seq: u32::try_from(r.get::<_, i32>(4)).unwrap_or(0),
        target_id: r.get(5),
        incident_id: r.get(6),
        state: r.get(7),
        attempts: u32::try_from(r.get::<_, i32>(8)).unwrap_or(0),
        created_at: to_micros(r.get(9)),
        sent_at: micros(r.get(10)),
        answer: r.get(11),
        last_error: r.get(12),
    }
}

/// Marks reminders and resolves of a trigger that failed for good skipped; puts off what is
/// due for a channel not in `configured` (not the newest few seconds', which a reload adding
/// the channel may have written), and fails what waited for one for a day.
async fn tidy_outbox(
    c: &impl GenericClient,
    now: Micros,
    configured: &[String],
) -> Result<(), PgError> {
    c.execute(
        "UPDATE notifications SET state = 'skipped',
           last_error = 'its trigger was refused by the provider'
         WHERE state = 'pending' AND kind <> 'trigger' AND EXISTS (
           SELECT 1 FROM notifications t WHERE t.key = notifications.key
             AND t.channel = notifications.channel AND t.kind = 'trigger'
             AND t.state = 'failed')",
        &[],
    )
    .await?;
    let now_t = from_micros(now);
    c.execute(
        "UPDATE notifications SET state = 'failed',
           last_error = 'channel ' || channel || ' was not configured for a day'
         WHERE state = 'pending' AND created_at < $1
           AND NOT (channel = ANY($2::text[]))",
        &[&from_micros(now - UNCONFIGURED_FOR), &configured],
    )
    .await?;
    c.execute(
        "UPDATE notifications SET due_at = $2,
           last_error = 'channel ' || channel || ' is not configured'
         WHERE state = 'pending' AND due_at <= $1 AND created_at < $3
           AND NOT (channel = ANY($4::text[]))",
        &[
            &now_t,
            &from_micros(now + UNCONFIGURED_RETRY),
            &from_micros(now - UNCONFIGURED_GRACE),
            &configured,
        ],
    )
    .await?;
    Ok(())
}

#[async_trait::async_trait]
impl AlertStore for PgAlerts {
    async fn due_notifications(
        &self,
        now: Micros,
        wanted: Vec<(String, usize)>,
        configured: Vec<String>,
        busy: HashSet<i64>,
        tidy: bool,
    ) -> Result<Vec<Outgoing>, StoreError> {
        let mut c = self.client().await?;
        let tx = write_tx(&mut c).await?;
        if tidy {
            tidy_outbox(&tx, now, &configured).await.map_err(db)?;
        }
        let busy: Vec<i64> = busy.into_iter().collect();
        let stmt = tx
            .prepare_cached(
                "WITH c AS (
                   SELECT id FROM notifications n
                   WHERE state = 'pending' AND channel = $1 AND due_at <= $2
                     AND (claimed_until IS NULL OR claimed_until <= $2)
                     AND NOT (id = ANY($4::int8[])) AND NOT EXISTS (
                       SELECT 1 FROM notifications p WHERE p.key = n.key
                         AND p.channel = n.channel AND p.id < n.id AND p.state = 'pending')
                   ORDER BY due_at, id LIMIT $3
                   FOR UPDATE SKIP LOCKED)
                 UPDATE notifications SET claimed_until = $5 FROM c
                 WHERE notifications.id = c.id
                 RETURNING notifications.id, channel, attempts, payload::text, created_at,
                   due_at",
            )
            .await
            .map_err(db)?;
        let (now_t, claim) = (from_micros(now), from_micros(now + CLAIM_FOR));
        let mut rows = Vec::new();
        for (channel, limit) in wanted {
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            rows.extend(
                tx.query(&stmt, &[&channel, &now_t, &limit, &busy, &claim])
                    .await
                    .map_err(db)?,
            );
        }
        // Oldest first, as the SQLite store gives them.
        rows.sort_by_key(|r| (r.get::<_, OffsetDateTime>(5), r.get::<_, i64>(0)));
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let id: i64 = r.get(0);
            match serde_json::from_str(r.get::<_, &str>(3)) {
                Ok(notice) => out.push(Outgoing {
                    id,
                    channel: r.get(1),
                    attempts: u32::try_from(r.get::<_, i32>(2)).unwrap_or(0),
                    notice,
                    created_at: to_micros(r.get(4)),
                }),
                Err(e) => {
                    tracing::warn!(id, "notification unreadable ({e}): marked failed");
                    tx.execute(
                        "UPDATE notifications SET state = 'failed', last_error = $2,
                           claimed_until = NULL WHERE id = $1",
                        &[&id, &format!("unreadable: {e}")],
                    )
                    .await
                    .map_err(db)?;
                }
            }
        }
        tx.commit().await.map_err(db)?;
        Ok(out)
    }

    async fn notifications_done(
        &self,
        outcomes: Vec<(i64, Delivery)>,
        now: Micros,
    ) -> Result<(), StoreError> {
        let mut c = self.client().await?;
        let tx = write_tx(&mut c).await?;
        let now = from_micros(now);
        for (id, delivery) in outcomes {
            match delivery {
                Delivery::Sent { answer } => {
                    tx.execute(
                        "UPDATE notifications SET state = 'sent', attempts = attempts + 1,
                           sent_at = $2, answer = $3, claimed_until = NULL WHERE id = $1",
                        &[&id, &now, &answer],
                    )
                    .await
                }
                Delivery::Retry { retry_at, error } => {
                    tx.execute(
                        "UPDATE notifications SET attempts = attempts + 1, due_at = $2,
                           last_error = $3, claimed_until = NULL WHERE id = $1",
                        &[&id, &from_micros(retry_at), &error],
                    )
                    .await
                }
                Delivery::Failed { error } => {
                    tx.execute(
                        "UPDATE notifications SET state = 'failed', attempts = attempts + 1,
                           last_error = $2, answer = $2, claimed_until = NULL WHERE id = $1",
                        &[&id, &error],
                    )
                    .await
                }
                Delivery::Skipped { why } => {
                    tx.execute(
                        "UPDATE notifications SET state = 'skipped', last_error = $2,
                           claimed_until = NULL WHERE id = $1",
                        &[&id, &why],
                    )
                    .await
                }
            }
            .map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    async fn outbox_depth(&self) -> Result<(u64, Option<Micros>), StoreError> {
        let c = self.client().await?;
        let r = c
            .query_one(
                "SELECT count(*), min(created_at) FROM notifications WHERE state = 'pending'",
                &[],
            )
            .await
            .map_err(db)?;
        let oldest: Option<OffsetDateTime> = r.get(1);
        Ok((r.get::<_, i64>(0) as u64, oldest.map(to_micros)))
    }

    async fn silences(&self, now: Micros, all: bool) -> Result<Vec<Silence>, StoreError> {
        let c = self.client().await?;
        silences(&c, now, all).await.map_err(db)
    }

    async fn add_silence(&self, s: Silence) -> Result<Silence, StoreError> {
        let mut c = self.client().await?;
        let tx = write_tx(&mut c).await?;
        let matchers = serde_json::to_string(&s.matchers).map_err(|e| db(json_err(e)))?;
        let row = tx
            .query_one(
                "INSERT INTO silences (matchers, starts_at, ends_at, created_by, reason, created_at,
                   kind)
                 VALUES ($1::text::jsonb, $2, $3, $4, $5, $6, $7) RETURNING id",
                &[
                    &matchers,
                    &from_micros(s.starts_at),
                    &from_micros(s.ends_at),
                    &s.created_by,
                    &s.reason,
                    &from_micros(s.created_at),
                    &s.kind.as_str(),
                ],
            )
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(Silence {
            id: row.get(0),
            ..s
        })
    }

    async fn expire_silence(
        &self,
        id: i64,
        kind: Option<Kind>,
        now: Micros,
    ) -> Result<Option<Silence>, StoreError> {
        let mut c = self.client().await?;
        let tx = write_tx(&mut c).await?;
        let now = from_micros(now);
        let kind = kind.map(Kind::as_str);
        tx.execute(
            "UPDATE silences SET starts_at = least(starts_at, $2), ends_at = $2
             WHERE id = $1 AND ends_at > $2 AND ($3::text IS NULL OR kind = $3)",
            &[&id, &now, &kind],
        )
        .await
        .map_err(db)?;
        let row = tx
            .query_opt(
                &format!("{SILENCE_COLUMNS} WHERE id = $1 AND ($2::text IS NULL OR kind = $2)"),
                &[&id, &kind],
            )
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(row.as_ref().map(silence_of))
    }

    async fn ack_incident(
        &self,
        id: i64,
        by: Option<String>,
        via: &'static str,
    ) -> Result<Acked, StoreError> {
        let mut c = self.client().await?;
        let tx = write_tx(&mut c).await?;
        let Some(row) = tx
            .query_opt("SELECT target_id FROM incidents WHERE id = $1", &[&id])
            .await
            .map_err(db)?
        else {
            return Ok(Acked::Unknown);
        };
        let target_id: String = row.get(0);
        // The target's row first, as the writers lock it, so its rules do not move meanwhile.
        tx.execute(
            "SELECT 1 FROM targets WHERE id = $1 FOR NO KEY UPDATE",
            &[&target_id],
        )
        .await
        .map_err(db)?;
        let before = tx
            .query_opt(
                "SELECT at FROM incident_acks WHERE incident_id = $1",
                &[&id],
            )
            .await
            .map_err(db)?;
        if let Some(r) = before {
            return Ok(Acked::Before {
                at: to_micros(r.get(0)),
                target_id,
            });
        }
        let ended: Option<OffsetDateTime> = tx
            .query_one("SELECT ended_at FROM incidents WHERE id = $1", &[&id])
            .await
            .map_err(db)?
            .get(0);
        if ended.is_some() {
            return Ok(Acked::Resolved);
        }
        let now = crate::store::now_micros();
        tx.execute(
            "INSERT INTO incident_acks (incident_id, at, by, via) VALUES ($1, $2, $3, $4)",
            &[&id, &from_micros(now), &by, &via],
        )
        .await
        .map_err(db)?;
        let mut states = load_states(&tx, &[target_id.as_str()]).await.map_err(db)?;
        let s = states.remove(&target_id).unwrap_or_default();
        let planned = plan::ack(&target_id, &s, id, by.as_deref(), now);
        enqueue(&tx, planned, now, 0).await.map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(Acked::Now { at: now, target_id })
    }

    async fn incident_brief(
        &self,
        id: i64,
    ) -> Result<Option<(NoticeTarget, Micros, Option<Micros>)>, StoreError> {
        let c = self.client().await?;
        let Some(r) = c
            .query_opt(
                "SELECT target_id, started_at, ended_at FROM incidents WHERE id = $1",
                &[&id],
            )
            .await
            .map_err(db)?
        else {
            return Ok(None);
        };
        let target: String = r.get(0);
        let ended: Option<OffsetDateTime> = r.get(2);
        let named = notice_targets(&c, &[target.as_str()]).await.map_err(db)?;
        let t = named
            .get(&target)
            .cloned()
            .unwrap_or_else(|| NoticeTarget::bare(&target));
        Ok(Some((t, to_micros(r.get(1)), ended.map(to_micros))))
    }

    async fn incident_alerts(
        &self,
        ids: Vec<i64>,
    ) -> Result<HashMap<i64, IncidentAlerts>, StoreError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let c = self.client().await?;
        let mut out: HashMap<i64, IncidentAlerts> = HashMap::new();
        for r in c
            .query(
                "SELECT incident_id, at, by, via FROM incident_acks
                 WHERE incident_id = ANY($1)",
                &[&ids],
            )
            .await
            .map_err(db)?
        {
            out.entry(r.get(0)).or_default().acknowledged = Some(Ack {
                at: to_micros(r.get(1)),
                by: r.get(2),
                via: r.get(3),
            });
        }
        for r in c
            .query(
                &format!(
                    "SELECT {ROW_COLS} FROM notifications WHERE incident_id = ANY($1)
                     ORDER BY id"
                ),
                &[&ids],
            )
            .await
            .map_err(db)?
        {
            let n = notification_row(&r);
            if let Some(id) = n.incident_id {
                out.entry(id).or_default().notifications.push(n);
            }
        }
        Ok(out)
    }
}

impl PgAlerts {
    /// The key acknowledgement links are signed with, kept in the database: `fresh` becomes it
    /// when none is kept yet.
    pub async fn link_key(&self, fresh: String) -> Result<String, StoreError> {
        let mut c = self.client().await?;
        let tx = write_tx(&mut c).await?;
        tx.execute(
            "INSERT INTO alert_link_key (key) VALUES ($1) ON CONFLICT DO NOTHING",
            &[&fresh],
        )
        .await
        .map_err(db)?;
        let key = tx
            .query_one("SELECT key FROM alert_link_key", &[])
            .await
            .map_err(db)?
            .get(0);
        tx.commit().await.map_err(db)?;
        Ok(key)
    }

    /// The notifications, newest first, of one target (or all), at most `limit`.
    pub async fn notifications(
        &self,
        target: Option<String>,
        limit: usize,
    ) -> Result<Vec<NotificationRow>, StoreError> {
        let c = self.client().await?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        Ok(c.query(
            &format!(
                "SELECT {ROW_COLS} FROM notifications
                 WHERE $1::text IS NULL OR target_id = $1 ORDER BY id DESC LIMIT $2"
            ),
            &[&target, &limit],
        )
        .await
        .map_err(db)?
        .iter()
        .map(notification_row)
        .collect())
    }
}
