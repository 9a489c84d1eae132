//! The JSON API under /api/v1, described by `openapi.json` (served at /api/v1/openapi.json).
//! Times are RFC 3339 strings in UTC; ratios are from 0 to 1.

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::pages::OverviewParams;
use super::window::Window;
use super::{AppError, AppState};
use crate::store::{IncidentQuery, Micros, now_micros, rfc3339, to_micros};

/// `?paused=true|false` of the target list: only paused (or only running) targets.
#[derive(Debug, Default, Deserialize)]
pub struct PausedParam {
    #[serde(default)]
    pub paused: String,
}

impl PausedParam {
    fn wanted(&self) -> Result<Option<bool>, AppError> {
        match self.paused.as_str() {
            "" => Ok(None),
            "1" | "true" | "yes" => Ok(Some(true)),
            "0" | "false" | "no" => Ok(Some(false)),
            s => Err(AppError::BadRequest(format!(
                "paused: expected true (only paused targets) or false, got {s:?}"
            ))),
        }
    }
}

/// The store's summary of a target with what the registry knows of it: `source` (`file`,
/// `env`, `api`; null for a target no longer in the live set) and `paused`.
fn with_registry(s: &AppState, summary: &crate::store::TargetSummary) -> Value {
    let mut v = json!(summary);
    let entry = registry(s).and_then(|r| r.get(&summary.id));
    v["source"] = json!(entry.as_ref().map(|e| e.target.source));
    v["paused"] = json!(is_paused(s, summary));
    v
}

fn registry(s: &AppState) -> Option<&std::sync::Arc<crate::registry::Registry>> {
    s.editor.as_ref().map(|e| e.registry())
}

/// Paused in the live set; without one (`serve --store`), as the store last saw it.
fn is_paused(s: &AppState, summary: &crate::store::TargetSummary) -> bool {
    match registry(s) {
        Some(r) => r.get(&summary.id).is_some_and(|e| e.paused),
        None => summary.status == crate::store::Status::Paused,
    }
}

/// Store pages read at once when the list is filtered by `paused` (the store's maximum).
const SCAN_PAGE: u32 = 1000;

pub async fn targets(
    State(s): State<AppState>,
    Query(p): Query<OverviewParams>,
    Query(paused): Query<PausedParam>,
) -> Result<Json<Value>, AppError> {
    let q = p.to_query()?;
    let mut page = match paused.wanted()? {
        None => s.store.overview(q.clone()).await?,
        // The store knows nothing of pauses: its list, filtered and sorted as asked, is read
        // whole and the page cut from what is left.
        Some(want) => {
            let mut scan = q.clone();
            scan.page = 0;
            scan.per_page = SCAN_PAGE;
            let mut first = s.store.overview(scan.clone()).await?;
            let mut kept = Vec::new();
            let mut batch = std::mem::take(&mut first.targets);
            loop {
                let full = batch.len() >= SCAN_PAGE as usize;
                kept.extend(batch.into_iter().filter(|t| is_paused(&s, t) == want));
                if !full {
                    break;
                }
                scan.page += 1;
                batch = s.store.overview(scan.clone()).await?.targets;
            }
            first.matching = kept.len() as u64;
            let from = (q.page as usize).saturating_mul(q.per_page as usize);
            first.targets = kept
                .into_iter()
                .skip(from)
                .take(q.per_page as usize)
                .collect();
            first
        }
    };
    let targets: Vec<Value> = page.targets.iter().map(|t| with_registry(&s, t)).collect();
    page.targets.clear();
    Ok(Json(json!({
        "targets": targets,
        "matching": page.matching,
        "page": q.page + 1,
        "per_page": q.per_page,
        "counts": page.counts,
        "tags": page.tags,
    })))
}

/// One target: the store's summary with `source` and `paused`, and for a target the API
/// made, `config`; a target of the live set the store has not seen yet (just added, not yet
/// probed) is shown as the registry has it.
pub async fn target(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    let entry = registry(&s).and_then(|r| r.get(&id));
    let config = || s.editor.as_ref().and_then(|e| e.body(&id));
    match (s.store.target(&id).await?, entry) {
        (Some(t), entry) => {
            let mut v = with_registry(&s, &t);
            // Its history stays after a removal: shown, and said to be removed.
            if s.editor.is_some() {
                v["removed"] = Value::Bool(entry.is_none());
            }
            if let Some(e) = entry.filter(|e| e.target.source.is_api()) {
                let mut shown = super::targets_api::represent(&e, config());
                v["config"] = shown["config"].take();
            }
            Ok(Json(v))
        }
        (None, Some(e)) => Ok(Json(super::targets_api::represent(&e, config()))),
        (None, None) => Err(AppError::NotFound(format!("no target with id {id:?}"))),
    }
}

async fn must_exist(s: &AppState, id: &str) -> Result<(), AppError> {
    match s.store.target(id).await? {
        Some(_) => Ok(()),
        None => Err(AppError::NotFound(format!("no target with id {id:?}"))),
    }
}

fn time_param(name: &str, v: &Option<String>) -> Result<Option<Micros>, AppError> {
    v.as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| {
            OffsetDateTime::parse(s, &Rfc3339)
                .map(to_micros)
                .map_err(|_| {
                    AppError::BadRequest(format!(
                        "{name}: expected an RFC 3339 time such as 2026-11-25T23:00:00Z, got {s:?}"
                    ))
                })
        })
        .transpose()
}

#[derive(Debug, Default, Deserialize)]
pub struct EventParams {
    pub from: Option<String>,
    pub to: Option<String>,
    pub limit: Option<u32>,
}

/// Newest first; `next` is the `to` of the following page (absent on the last page).
pub async fn events(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(p): Query<EventParams>,
) -> Result<Json<Value>, AppError> {
    must_exist(&s, &id).await?;
    let from = time_param("from", &p.from)?.unwrap_or(0);
    let to = time_param("to", &p.to)?.unwrap_or(i64::MAX);
    let limit = p.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(AppError::BadRequest(format!(
            "limit: expected 1 to 1000, got {limit}"
        )));
    }
    let events = s.store.events(&id, from, to, limit).await?;
    // A full page may have more after it: the next page ends (exclusive) where this one did, to
    // the microsecond; only events sharing that very microsecond could be skipped.
    let next = events
        .last()
        .filter(|_| events.len() == limit as usize)
        .and_then(|e| {
            crate::store::from_micros(e.event_time)
                .format(&Rfc3339)
                .ok()
        });
    Ok(Json(json!({ "events": events, "next": next })))
}

#[derive(Debug, Default, Deserialize)]
pub struct WindowParams {
    pub window: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
}

pub async fn series(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(p): Query<WindowParams>,
) -> Result<Json<Value>, AppError> {
    must_exist(&s, &id).await?;
    let win = Window::named(p.window.as_deref())?;
    let ((from, to), step) = (win.range(now_micros()), win.step);
    let points = s.store.series(&id, from, to, step).await?;
    Ok(Json(json!({
        "from": rfc3339(from), "to": rfc3339(to), "step_seconds": step / 1_000_000,
        "points": points,
    })))
}

pub async fn uptime(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(p): Query<WindowParams>,
) -> Result<Json<Value>, AppError> {
    must_exist(&s, &id).await?;
    let now = now_micros();
    let (from, to) = match (time_param("from", &p.from)?, time_param("to", &p.to)?) {
        (Some(f), t) => (f, t.unwrap_or(now)),
        (None, Some(_)) => {
            return Err(AppError::BadRequest("to: needs from as well".into()));
        }
        (None, None) => {
            let span = Window::named(p.window.as_deref())?.span;
            (now - span, now)
        }
    };
    if from >= to {
        return Err(AppError::BadRequest("from: must be before to".into()));
    }
    Ok(Json(json!(s.store.uptime(&id, from, to).await?)))
}

#[derive(Debug, Default, Deserialize)]
pub struct IncidentParams {
    pub target: Option<String>,
    pub open: Option<bool>,
    pub limit: Option<u32>,
    pub offset: Option<u32>,
}

pub async fn incidents(
    State(s): State<AppState>,
    Query(p): Query<IncidentParams>,
) -> Result<Json<Value>, AppError> {
    let limit = p.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(AppError::BadRequest(format!(
            "limit: expected 1 to 1000, got {limit}"
        )));
    }
    let now = now_micros();
    let (list, total) = s
        .store
        .incidents(IncidentQuery {
            target: p.target.filter(|t| !t.is_empty()),
            open_only: p.open.unwrap_or(false),
            limit,
            offset: p.offset.unwrap_or(0),
        })
        .await?;
    // What alerting did, where this process keeps it.
    let alerts = match &s.acks {
        Some(a) => {
            a.store
                .incident_alerts(list.iter().map(|i| i.id).collect())
                .await?
        }
        None => Default::default(),
    };
    let list: Vec<Value> = list
        .iter()
        .map(|i| {
            let mut v = json!(i);
            v["duration_seconds"] = json!(i.duration(now) / 1_000_000);
            if s.acks.is_some() {
                let a = alerts.get(&i.id).cloned().unwrap_or_default();
                v["acknowledged"] = match a.acknowledged {
                    Some(ack) => json!({
                        "at": crate::store::rfc3339(ack.at),
                        "by": ack.by,
                        "via": ack.via,
                    }),
                    None => Value::Null,
                };
                v["notifications"] = a
                    .notifications
                    .iter()
                    .map(|n| {
                        json!({
                            "channel": n.channel,
                            "kind": n.kind,
                            "reminder": n.seq,
                            "key": n.key,
                            "state": n.state,
                            "attempts": n.attempts,
                            "created_at": crate::store::rfc3339(n.created_at),
                            "sent_at": n.sent_at.map(crate::store::rfc3339),
                            "answer": n.answer,
                            "last_error": n.last_error,
                        })
                    })
                    .collect();
            }
            v
        })
        .collect();
    Ok(Json(json!({ "incidents": list, "total": total })))
}
