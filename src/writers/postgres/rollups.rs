//! What `uptimer serve --store postgres://…` reads, kept by the writer: rollups per target per
//! minute, hour and day, each target's live state and its incidents (tables of the migration
//! `20261126000000_create_rollups.sql`). They are updated in the transaction that inserts the
//! probe events, from the rows really inserted (all of them when the plain INSERT succeeded,
//! else those `ON CONFLICT DO NOTHING RETURNING` returned), so a replay or a duplicate changes
//! nothing and a failed batch changes nothing either.
//!
//! Parallel writers: after its INSERT, the transaction locks the batch's targets rows (`FOR NO
//! KEY UPDATE`, which the foreign key's share locks do not block, in one fixed order), so two
//! writers never interleave on one target: its live state moves forward in time order, and its
//! rollup rows are read, merged and written back by one writer at a time. The INSERTs of two
//! batches still run side by side; only the short bookkeeping after them takes turns.

use crate::store::rollup::Agg;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use deadpool_postgres::GenericClient;
use time::OffsetDateTime;

use uuid::Uuid;

use super::encode::pg_text;
use super::row::Row;
use crate::postgres::PgError;
use crate::state::rules::Rule;
use crate::state::{Check, Input, Last, TargetState, Transition};
use crate::store::alerts::Gate;
use crate::store::alerts::Observed;
use crate::store::hist::Histogram;
use crate::store::postgres::alerts::{self, TargetResults};
use crate::store::{
    DAY, END_REASON_REMOVED, HOUR, MINUTE, Micros, clip_error, from_micros, to_micros,
};

/// What the rollups and the live state need of one inserted probe event.
struct Obs<'a> {
    target: &'a str,
    t: Micros,
    uuid: Uuid,
    up: bool,
    /// Passed but met a `degraded_if` condition (the event's `degraded`).
    degraded: bool,
    /// The HTTP status; None for checks other than HTTP (ProbeEvent 0.5.0).
    status_code: Option<i64>,
    ms: f64,
    phases: [Option<f64>; 5],
    error_kind: Option<&'a str>,
    error: Option<&'a str>,
    cert: Option<Micros>,
}

fn obs<R: Row>(row: &R) -> Option<Obs<'_>> {
    let target = row.get(&["target"]).as_str()?;
    let t = to_micros(row.get(&["event_time"]).as_time()?);
    let uuid = row.get(&["uuid"]).as_uuid()?;
    let status_code = row.get(&["status_code"]).as_i64();
    let error = row.get(&["error"]).as_str();
    let up = crate::event::counts_as_up(
        row.get(&["up"]).as_bool(),
        error.is_some(),
        status_code.and_then(|s| u16::try_from(s).ok()),
    );
    let phase = |k: &str| row.get(&["phases_ms", k]).as_f64();
    Some(Obs {
        target,
        t,
        uuid,
        up,
        degraded: row.get(&["degraded"]).as_bool() == Some(true),
        status_code,
        ms: row.get(&["response_time_ms"]).as_f64().unwrap_or(0.0),
        phases: [
            phase("dns"),
            phase("connect"),
            phase("tls"),
            phase("ttfb"),
            phase("transfer"),
        ],
        error_kind: row.get(&["error_kind"]).as_str(),
        error: error.map(clip_error),
        cert: row.get(&["tls_cert_not_after"]).as_time().map(to_micros),
    })
}

/// The targets to lock, in the order every writer locks them.
pub fn targets_of<R: Row>(rows: &[&R]) -> Vec<String> {
    let mut ids: Vec<String> = rows
        .iter()
        .filter_map(|r| r.get(&["target"]).as_str())
        .map(str::to_owned)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// A locked target's live state: the machine's state and the id of its open incident.
pub type Live = HashMap<String, (TargetState, Option<i64>)>;

/// Locks the targets rows and reads their live state.
pub async fn lock_targets(c: &impl GenericClient, ids: &[String]) -> Result<Live, PgError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let stmt = c
        .prepare_cached(
            "SELECT id, last_event_time, last_event_uuid, recent, status, open_incident,
               (SELECT started_at FROM incidents WHERE incidents.id = targets.open_incident)
             FROM targets
             WHERE id = ANY($1::text[]) ORDER BY id COLLATE \"C\" FOR NO KEY UPDATE",
        )
        .await?;
    let rows = c.query(&stmt, &[&ids]).await?;
    Ok(rows
        .iter()
        .map(|r| {
            let recent: &str = r.get(3);
            let status: Option<&str> = r.get(4);
            let open: Option<i64> = r.get(5);
            let started: Option<OffsetDateTime> = r.get(6);
            let last = r.get::<_, Option<OffsetDateTime>>(1).map(|time| Last {
                time,
                uuid: r.get(2),
            });
            // An open incident whose row is gone (it cannot be: only ended ones are pruned)
            // counts as none.
            let state = TargetState::restore(status, last, recent, open.and(started));
            (r.get(0), (state, open.filter(|_| started.is_some())))
        })
        .collect())
}

const ROLLUP_COLS: &str = "target_id, bucket, checks, up, sum_ms, min_ms, max_ms, sum_dns_ms,
    sum_connect_ms, sum_tls_ms, sum_ttfb_ms, sum_transfer_ms, hist, timed";

const LEVELS: [(i16, &str, Micros); 3] = [
    (0, "rollup_minute", MINUTE),
    (1, "rollup_hour", HOUR),
    (2, "rollup_day", DAY),
];

/// The stored rows of the keys `$1` (target), `$2` (bucket), `$3` (level).
fn read_sql() -> String {
    LEVELS
        .iter()
        .map(|(level, table, _)| {
            format!(
                "SELECT k.n, o.target_id::text, o.bucket, o.checks, o.up, o.sum_ms,
                   o.min_ms, o.max_ms, o.sum_dns_ms, o.sum_connect_ms, o.sum_tls_ms,
                   o.sum_ttfb_ms, o.sum_transfer_ms, o.hist, coalesce(o.timed, o.checks)
                 FROM unnest($1::text[], $2::timestamptz[], $3::int2[]) WITH ORDINALITY
                   AS k(target_id, bucket, level, n)
                 JOIN {table} o ON o.target_id = k.target_id AND o.bucket = k.bucket
                 WHERE k.level = {level}"
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ")
}

/// Writes merged rows: every value was computed from the stored row and the batch, under the
/// targets' lock, so the upsert only sets.
fn write_sql() -> String {
    let one = |table: &str, level: i16| {
        format!(
            "INSERT INTO {table} ({ROLLUP_COLS})
             SELECT {ROLLUP_COLS} FROM r WHERE level = {level}
             ON CONFLICT (target_id, bucket) DO UPDATE SET
               checks = EXCLUDED.checks, up = EXCLUDED.up, sum_ms = EXCLUDED.sum_ms,
               min_ms = EXCLUDED.min_ms, max_ms = EXCLUDED.max_ms,
               sum_dns_ms = EXCLUDED.sum_dns_ms, sum_connect_ms = EXCLUDED.sum_connect_ms,
               sum_tls_ms = EXCLUDED.sum_tls_ms, sum_ttfb_ms = EXCLUDED.sum_ttfb_ms,
               sum_transfer_ms = EXCLUDED.sum_transfer_ms, hist = EXCLUDED.hist,
               timed = EXCLUDED.timed"
        )
    };
    format!(
        "WITH r AS (
           SELECT target_id, bucket, checks, up, sum_ms, min_ms, max_ms, sum_dns_ms,
             sum_connect_ms, sum_tls_ms, sum_ttfb_ms, sum_transfer_ms, hist, level, timed
           FROM unnest($1::text[], $2::timestamptz[], $3::int8[], $4::int8[], $5::float8[],
             $6::float8[], $7::float8[], $8::float8[], $9::float8[], $10::float8[], $11::float8[],
             $12::float8[], $13::bytea[], $14::int2[], $15::int8[])
             AS u(target_id, bucket, checks, up, sum_ms, min_ms, max_ms, sum_dns_ms,
               sum_connect_ms, sum_tls_ms, sum_ttfb_ms, sum_transfer_ms, hist, level, timed)
         ), m AS ({}), h AS ({})
         {}",
        one(LEVELS[0].1, 0),
        one(LEVELS[1].1, 1),
        one(LEVELS[2].1, 2)
    )
}

/// Where a target's open incident is after the batch.
#[derive(Clone, Copy)]
enum Open {
    None,
    /// Opened before this batch: its id.
    Stored(i64),
    /// Opened in this batch: its index in `new`.
    New(usize),
}

struct NewIncident<'a> {
    target: &'a str,
    started: Micros,
    ended: Option<Micros>,
    error_kind: Option<&'a str>,
    error: Option<&'a str>,
    failed: i32,
}

/// A result as alert rules and their notices see it.
fn observed(o: &Obs) -> Observed {
    Observed {
        up: o.up,
        degraded: o.degraded,
        cert_not_after: o.cert,
        time: o.t,
        error: o.error.map(str::to_owned),
        error_kind: o.error_kind.map(str::to_owned),
        status_code: o.status_code.and_then(|s| u16::try_from(s).ok()),
        response_time_ms: Some(o.ms),
    }
}

/// A target with alert rules, and its applied results with where its open incident is after
/// each.
type Seen<'a> = (&'a str, &'a Arc<[Rule]>, Vec<(Observed, Open)>);

/// Updates rollups, live state and incidents from `inserted` (rows the INSERT stored), inside
/// the caller's transaction, after [`lock_targets`] returned `state`; then runs the applied
/// results of the targets with alert `rules` through them (`crate::store::postgres::alerts`).
pub async fn apply<R: Row>(
    c: &impl GenericClient,
    inserted: &[&R],
    mut state: Live,
    rules: &HashMap<String, Arc<[Rule]>>,
    gate: Gate,
) -> Result<(), PgError> {
    let mut all: Vec<Obs> = inserted.iter().filter_map(|r| obs(*r)).collect();
    if all.is_empty() {
        return Ok(());
    }
    // Rollups: this batch's sums per key, merged with the stored rows (read under the lock,
    // so no other writer changes them before this transaction ends), written back.
    let mut aggs: BTreeMap<(i16, &str, Micros), Agg> = BTreeMap::new();
    for o in &all {
        for (level, _, width) in LEVELS {
            let bucket = o.t - o.t.rem_euclid(width);
            aggs.entry((level, o.target, bucket))
                .or_default()
                .add(o.ms, o.up, o.phases);
        }
    }
    {
        let keys: Vec<(i16, &str, Micros)> = aggs.keys().copied().collect();
        let ids: Vec<&str> = keys.iter().map(|k| k.1).collect();
        let buckets: Vec<OffsetDateTime> = keys.iter().map(|k| from_micros(k.2)).collect();
        let levels: Vec<i16> = keys.iter().map(|k| k.0).collect();
        let stmt = c.prepare_cached(&read_sql()).await?;
        for r in c.query(&stmt, &[&ids, &buckets, &levels]).await? {
            let n: i64 = r.get(0);
            let Some(a) = usize::try_from(n - 1)
                .ok()
                .and_then(|i| keys.get(i))
                .and_then(|k| aggs.get_mut(k))
            else {
                continue;
            };
            a.checks += r.get::<_, i64>(3);
            a.up += r.get::<_, i64>(4);
            a.merge_timed(
                r.get(14),
                r.get(5),
                r.get(6),
                r.get(7),
                std::array::from_fn(|i| r.get::<_, f64>(8 + i)),
                Some(&Histogram::decode(r.get::<_, &[u8]>(13))),
            );
        }
    }
    let n = aggs.len();
    let (mut ids, mut buckets, mut checks, mut ups) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut sum, mut min, mut max, mut levels) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let mut hists: Vec<Vec<u8>> = Vec::with_capacity(n);
    let mut timed: Vec<i64> = Vec::with_capacity(n);
    let mut phases: [Vec<f64>; 5] = Default::default();
    for ((level, id, bucket), a) in &aggs {
        ids.push(*id);
        buckets.push(from_micros(*bucket));
        checks.push(a.checks);
        ups.push(a.up);
        sum.push(a.sum_ms);
        min.push(a.min_ms);
        max.push(a.max_ms);
        for (p, s) in phases.iter_mut().zip(a.sums) {
            p.push(s);
        }
        hists.push(a.hist.encode());
        levels.push(*level);
        timed.push(a.timed);
    }
    let stmt = c.prepare_cached(&write_sql()).await?;
    c.execute(
        &stmt,
        &[
            &ids, &buckets, &checks, &ups, &sum, &min, &max, &phases[0], &phases[1], &phases[2],
            &phases[3], &phases[4], &hists, &levels, &timed,
        ],
    )
    .await?;

    // Live state and incidents, target by target in (time, uuid) order, through the
    // target-state machine. An event it does not take (older than the target's last applied
    // one) is history: it counts in the rollups only.
    all.sort_by(|a, b| (a.target, a.t, a.uuid).cmp(&(b.target, b.t, b.uuid)));
    let now = OffsetDateTime::now_utc();
    let mut new: Vec<NewIncident> = Vec::new();
    // Stored incidents: (id, more failed checks, ended at).
    let mut stored: Vec<(i64, i32, Option<Micros>)> = Vec::new();
    struct Save<'a> {
        id: &'a str,
        last: &'a Obs<'a>,
        state: TargetState,
        open: Open,
        interval_s: Option<f64>,
    }
    let mut saves: Vec<Save> = Vec::new();
    // What the alert rules observe: each applied result with where the open incident is after it.
    let mut alerting: Vec<Seen> = Vec::new();
    // A removed target's late results (a probe in flight at its removal) are history only:
    // its state ended with it, and an incident opened now would never close.
    let mut ids: Vec<&str> = all.iter().map(|o| o.target).collect();
    ids.dedup();
    let removed: std::collections::HashSet<String> = c
        .query(
            "SELECT id FROM targets WHERE removed_at IS NOT NULL AND id = ANY($1::text[])",
            &[&ids],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut i = 0;
    while i < all.len() {
        let id = all[i].target;
        let end = i + all[i..].iter().take_while(|o| o.target == id).count();
        if removed.contains(id) {
            i = end;
            continue;
        }
        let (mut live, open_id) = state.remove(id).unwrap_or_default();
        let target_rules = rules.get(id).filter(|r| !r.is_empty());
        let mut seen = Vec::new();
        let mut open = open_id.map_or(Open::None, Open::Stored);
        let mut stored_more: Option<(i64, i32, Option<Micros>)> = None;
        let mut newest: Option<&Obs> = None;
        let mut interval_s = None;
        for o in &all[i..end] {
            let check = Check {
                time: from_micros(o.t),
                uuid: o.uuid,
                up: o.up,
                degraded: o.degraded,
            };
            if live.takes(&check).is_err() {
                continue;
            }
            // Seconds between the last two checks, fractions kept (a 2 s interval is seldom
            // exactly 2 s apart); a gap under half a second is a burst, not an interval.
            if let Some(l) = live.last {
                let gap = (o.t - to_micros(l.time)) as f64 / 1e6;
                if (0.5..=86_400.0).contains(&gap) {
                    interval_s = Some(gap);
                }
            }
            for tr in live.apply(Input::Result(check), now) {
                match (tr, open) {
                    (Transition::IncidentOpened { .. }, _) => {
                        new.push(NewIncident {
                            target: id,
                            started: o.t,
                            ended: None,
                            error_kind: o.error_kind,
                            error: o.error,
                            failed: 1,
                        });
                        open = Open::New(new.len() - 1);
                    }
                    (Transition::IncidentFailedAgain { .. }, Open::Stored(sid)) => {
                        stored_more.get_or_insert((sid, 0, None)).1 += 1;
                    }
                    (Transition::IncidentFailedAgain { .. }, Open::New(k)) => new[k].failed += 1,
                    (Transition::IncidentClosed { at, .. }, Open::Stored(sid)) => {
                        stored_more.get_or_insert((sid, 0, None)).2 = Some(to_micros(at));
                        open = Open::None;
                    }
                    (Transition::IncidentClosed { at, .. }, Open::New(k)) => {
                        new[k].ended = Some(to_micros(at));
                        open = Open::None;
                    }
                    _ => {}
                }
            }
            if target_rules.is_some() {
                seen.push((observed(o), open));
            }
            newest = Some(o);
        }
        if let Some(r) = target_rules {
            alerting.push((id, r, seen));
        }
        stored.extend(stored_more);
        if let Some(last) = newest {
            saves.push(Save {
                id,
                last,
                state: live,
                open,
                interval_s,
            });
        }
        i = end;
    }
    if !stored.is_empty() {
        let stmt = c
            .prepare_cached(
                "UPDATE incidents SET failed_checks = incidents.failed_checks + u.more,
                   ended_at = coalesce(u.ended_at, incidents.ended_at)
                 FROM unnest($1::int8[], $2::int4[], $3::timestamptz[]) AS u(id, more, ended_at)
                 WHERE incidents.id = u.id",
            )
            .await?;
        let ids: Vec<i64> = stored.iter().map(|s| s.0).collect();
        let more: Vec<i32> = stored.iter().map(|s| s.1).collect();
        let ended: Vec<Option<OffsetDateTime>> =
            stored.iter().map(|s| s.2.map(from_micros)).collect();
        c.execute(&stmt, &[&ids, &more, &ended]).await?;
    }
    let mut new_open: HashMap<String, i64> = HashMap::new();
    // The ids of this batch's new incidents, by (target, start).
    let mut new_ids: HashMap<(String, OffsetDateTime), i64> = HashMap::new();
    if !new.is_empty() {
        let stmt = c
            .prepare_cached(
                "INSERT INTO incidents (target_id, started_at, ended_at, error_kind, error,
                   failed_checks)
                 SELECT target_id, started_at, ended_at, error_kind, error, failed_checks
                 FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[], $4::text[],
                   $5::text[], $6::int4[]) WITH ORDINALITY
                   AS u(target_id, started_at, ended_at, error_kind, error, failed_checks, n)
                 ORDER BY n
                 RETURNING id, target_id, ended_at IS NULL, started_at",
            )
            .await?;
        let targets: Vec<&str> = new.iter().map(|n| n.target).collect();
        let started: Vec<OffsetDateTime> = new.iter().map(|n| from_micros(n.started)).collect();
        let ended: Vec<Option<OffsetDateTime>> =
            new.iter().map(|n| n.ended.map(from_micros)).collect();
        let kinds: Vec<Option<&str>> = new.iter().map(|n| n.error_kind).collect();
        let errors: Vec<Option<Cow<str>>> = new.iter().map(|n| n.error.map(pg_text)).collect();
        let failed: Vec<i32> = new.iter().map(|n| n.failed).collect();
        for r in c
            .query(
                &stmt,
                &[&targets, &started, &ended, &kinds, &errors, &failed],
            )
            .await?
        {
            if r.get::<_, bool>(2) {
                new_open.insert(r.get(1), r.get(0));
            }
            new_ids.insert((r.get(1), r.get(3)), r.get(0));
        }
    }
    if !saves.is_empty() {
        let stmt = c
            .prepare_cached(
                "UPDATE targets SET last_event_time = u.t, last_up = u.up,
                   last_status_code = u.status_code, last_response_ms = u.response_ms,
                   last_error_kind = u.error_kind, last_error = u.error, recent = u.recent,
                   status = u.status, cert_not_after = coalesce(u.cert, targets.cert_not_after),
                   open_incident = u.open_incident,
                   interval_s = coalesce(u.interval_s, targets.interval_s),
                   last_event_uuid = u.uuid
                 FROM unnest($1::text[], $2::timestamptz[], $3::bool[], $4::int4[], $5::int4[],
                   $6::text[], $7::text[], $8::text[], $9::text[], $10::timestamptz[], $11::int8[],
                   $12::float8[], $13::uuid[])
                   AS u(id, t, up, status_code, response_ms, error_kind, error, recent, status,
                     cert, open_incident, interval_s, uuid)
                 WHERE targets.id = u.id",
            )
            .await?;
        let ids: Vec<&str> = saves.iter().map(|s| s.id).collect();
        let t: Vec<OffsetDateTime> = saves.iter().map(|s| from_micros(s.last.t)).collect();
        let up: Vec<bool> = saves.iter().map(|s| s.last.up).collect();
        // NULL for a check without a status (not HTTP): /metrics has no status to show.
        let code: Vec<Option<i32>> = saves
            .iter()
            .map(|s| {
                s.last
                    .status_code
                    .map(|c| c.clamp(0, i64::from(i32::MAX)) as i32)
            })
            .collect();
        // How long it took, failed or not: readers show it as the response time of a passing
        // check only (`last_up`), /metrics as the probe's duration.
        let ms: Vec<i32> = saves
            .iter()
            .map(|s| s.last.ms.clamp(0.0, f64::from(i32::MAX)) as i32)
            .collect();
        let kinds: Vec<Option<&str>> = saves.iter().map(|s| s.last.error_kind).collect();
        let errors: Vec<Option<Cow<str>>> =
            saves.iter().map(|s| s.last.error.map(pg_text)).collect();
        let recent: Vec<String> = saves.iter().map(|s| s.state.recent.to_string()).collect();
        let status: Vec<&str> = saves.iter().map(|s| s.state.status.as_str()).collect();
        let cert: Vec<Option<OffsetDateTime>> =
            saves.iter().map(|s| s.last.cert.map(from_micros)).collect();
        let open: Vec<Option<i64>> = saves
            .iter()
            .map(|s| match s.open {
                Open::None => None,
                Open::Stored(id) => Some(id),
                Open::New(_) => new_open.get(s.id).copied(),
            })
            .collect();
        let interval: Vec<Option<f64>> = saves.iter().map(|s| s.interval_s).collect();
        let uuids: Vec<Uuid> = saves.iter().map(|s| s.last.uuid).collect();
        c.execute(
            &stmt,
            &[
                &ids, &t, &up, &code, &ms, &kinds, &errors, &recent, &status, &cert, &open,
                &interval, &uuids,
            ],
        )
        .await?;
    }
    if !alerting.is_empty() {
        let incident = |open: Open| match open {
            Open::None => None,
            Open::Stored(id) => Some(id),
            Open::New(k) => new_ids
                .get(&(new[k].target.to_owned(), from_micros(new[k].started)))
                .copied(),
        };
        let batch: Vec<TargetResults> = alerting
            .into_iter()
            .map(|(id, rules, seen)| TargetResults {
                id: id.to_owned(),
                rules: rules.clone(),
                results: seen
                    .into_iter()
                    .map(|(o, open)| (o, incident(open)))
                    .collect(),
            })
            .collect();
        alerts::observe(c, &batch, gate, to_micros(now)).await?;
    }
    Ok(())
}

/// Marks the targets not in `configured` (ids) removed and closes their open incidents with the
/// reason [`END_REASON_REMOVED`]; a removed target configured again is back. Returns how many
/// were removed. Run at the prober's startup with the configuration's targets, so a target
/// deleted from it, or renamed (its id is derived from name and URL), does not stay "unknown"
/// with an incident open forever. History stays. With `alerting`, the removed targets' fired
/// alert rules resolve.
pub async fn remove_unconfigured(
    c: &mut deadpool_postgres::Client,
    configured: &[String],
    alerting: bool,
) -> Result<u64, PgError> {
    let tx = c.transaction().await?;
    // Every row changed below, locked at once in a batch's order (`lock_targets`), so a writer
    // in parallel waits instead of deadlocking.
    let locked = tx
        .query(
            "SELECT id, removed_at IS NULL FROM targets
             WHERE (removed_at IS NULL AND NOT (id = ANY($1::text[])))
               OR (removed_at IS NOT NULL AND id = ANY($1::text[]))
             ORDER BY id COLLATE \"C\" FOR NO KEY UPDATE",
            &[&configured],
        )
        .await?;
    if alerting {
        let gone: Vec<(String, Option<Arc<[Rule]>>)> = locked
            .iter()
            .filter(|r| r.get::<_, bool>(1))
            .map(|r| (r.get(0), None))
            .collect();
        alerts::end(
            &tx,
            &gone,
            crate::state::rules::ResolveReason::Removed,
            crate::store::now_micros(),
        )
        .await?;
    }
    tx.execute(
        "UPDATE incidents SET ended_at = greatest(now(), started_at), end_reason = $2
         WHERE ended_at IS NULL AND target_id IN (
           SELECT id FROM targets WHERE removed_at IS NULL AND NOT (id = ANY($1::text[])))",
        &[&configured, &END_REASON_REMOVED],
    )
    .await?;
    let n = tx
        .execute(
            "UPDATE targets SET removed_at = now(), open_incident = NULL
             WHERE removed_at IS NULL AND NOT (id = ANY($1::text[]))",
            &[&configured],
        )
        .await?;
    tx.execute(
        "UPDATE targets SET removed_at = NULL
         WHERE removed_at IS NOT NULL AND id = ANY($1::text[])",
        &[&configured],
    )
    .await?;
    tx.commit().await?;
    Ok(n)
}

/// Minute rollups are kept this long (the target page reads them for windows up to a day).
pub const MINUTE_RETENTION_DAYS: u32 = 2;

/// Deletes minute rollups older than [`MINUTE_RETENTION_DAYS`] and, with `RETENTION_DAYS`, hour
/// and day rollups, ended incidents and sent (or failed) notifications older than that;
/// returns the rows deleted. Run hourly
/// by the writer, beside the partitions' retention.
pub async fn prune(
    c: &tokio_postgres::Client,
    retention_days: Option<u32>,
) -> Result<u64, PgError> {
    let days = |d: u32| i32::try_from(d).unwrap_or(i32::MAX);
    let mut n = c
        .execute(
            "DELETE FROM rollup_minute WHERE bucket < now() - make_interval(days => $1::int4)",
            &[&days(MINUTE_RETENTION_DAYS)],
        )
        .await?;
    if let Some(d) = retention_days {
        for sql in [
            "DELETE FROM rollup_hour WHERE bucket < now() - make_interval(days => $1::int4)",
            "DELETE FROM rollup_day WHERE bucket < now() - make_interval(days => $1::int4)",
            "DELETE FROM incidents WHERE ended_at < now() - make_interval(days => $1::int4)",
            "DELETE FROM notifications WHERE state <> 'pending'
               AND created_at < now() - make_interval(days => $1::int4)",
        ] {
            n += c.execute(sql, &[&days(d)]).await?;
        }
    }
    Ok(n)
}
