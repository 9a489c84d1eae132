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

pub async fn targets(
    State(s): State<AppState>,
    Query(p): Query<OverviewParams>,
) -> Result<Json<Value>, AppError> {
    let q = p.to_query()?;
    let page = s.store.overview(q.clone()).await?;
    Ok(Json(json!({
        "targets": page.targets,
        "matching": page.matching,
        "page": q.page + 1,
        "per_page": q.per_page,
        "counts": page.counts,
        "tags": page.tags,
    })))
}

pub async fn target(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    match s.store.target(&id).await? {
        Some(t) => Ok(Json(json!(t))),
        None => Err(AppError::NotFound(format!("no target with id {id:?}"))),
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
    let list: Vec<Value> = list
        .iter()
        .map(|i| {
            let mut v = json!(i);
            v["duration_seconds"] = json!(i.duration(now) / 1_000_000);
            v
        })
        .collect();
    Ok(Json(json!({ "incidents": list, "total": total })))
}
