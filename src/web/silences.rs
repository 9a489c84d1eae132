//! Silences and maintenance through the API: `GET|POST /api/v1/silences`,
//! `DELETE /api/v1/silences/{id}` (expires it), and the same under `/api/v1/maintenance` for
//! one-off maintenance windows, whose list also shows the configuration's `maintenance:`.
//! Both hold notifications back the same way (`crate::store::alerts::gate`); a maintenance
//! window covers targets (no `channel=` matcher) and may cover all of them.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::acks::Acks;
use super::targets_api::{declares_json, error};
use crate::config::WebAuth;
use crate::state::maintenance::{Schedule, Window};
use crate::store::alerts::gate::{Field, Kind, Matcher, Silence};
use crate::store::{Micros, SECOND, now_micros, rfc3339};

/// The longest a silence or a window made here lasts.
const LONGEST: Micros = 366 * 86_400 * SECOND;
/// The longest reason kept.
const MAX_REASON: usize = 500;

/// A silence or window as the API shows it.
pub fn represent(s: &Silence, now: Micros) -> Value {
    json!({
        "id": s.id,
        "kind": s.kind.as_str(),
        "matchers": s.matchers.iter().map(Matcher::to_string).collect::<Vec<_>>(),
        "starts_at": rfc3339(s.starts_at),
        "ends_at": rfc3339(s.ends_at),
        "active": s.active(now),
        "created_by": s.created_by,
        "reason": s.reason,
        "created_at": rfc3339(s.created_at),
    })
}

/// A configured maintenance window as the API shows it.
pub fn represent_window(w: &Window, now: Micros) -> Value {
    let schedule = match &w.schedule {
        Schedule::Once(t) => json!({"once": t.to_string()}),
        Schedule::Weekly { days, start } => json!({
            "every": days.iter().map(|d| format!("{d:?}")).collect::<Vec<_>>(),
            "start": start.strftime("%H:%M").to_string(),
        }),
        Schedule::Cron(c) => json!({"cron": c.pattern.to_string()}),
    };
    let until = w.active_until(now);
    json!({
        "name": w.name,
        "source": "config",
        "schedule": schedule,
        "duration_s": w.duration.as_secs(),
        "timezone": w.timezone.iana_name().unwrap_or("UTC"),
        "targets": w.targets,
        "tags": w.tags,
        "mode": w.mode.as_str(),
        "active": until.is_some(),
        "active_until": until.map(rfc3339),
    })
}

/// A time as RFC 3339.
fn instant(v: &Value, field: &str) -> Result<Option<Micros>, String> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => {
            let t = time::OffsetDateTime::parse(
                s.trim(),
                &time::format_description::well_known::Rfc3339,
            )
            .map_err(|_| format!("{field}: expected a time such as 2026-12-05T22:00:00Z"))?;
            Ok(Some(crate::store::to_micros(t)))
        }
        _ => Err(format!(
            "{field}: expected a time such as 2026-12-05T22:00:00Z"
        )),
    }
}

/// Reads a request for a silence (or, with `Kind::Maintenance`, a window): `matchers` (a
/// list of `target=`, `tag=`, `channel=`), `for` (a duration) or `ends_at`, `starts_at`
/// (default now), `reason` and `by`.
pub fn silence_from(
    doc: &Value,
    kind: Kind,
    by_default: Option<String>,
    now: Micros,
) -> Result<Silence, String> {
    let Value::Object(map) = doc else {
        return Err("a JSON object".into());
    };
    let known = ["matchers", "for", "starts_at", "ends_at", "reason", "by"];
    if let Some(k) = map.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(format!("{k}: not a field (expected {})", known.join(", ")));
    }
    let matchers = match &doc["matchers"] {
        Value::Null => Vec::new(),
        Value::Array(list) => list
            .iter()
            .map(|m| match m {
                Value::String(s) => Matcher::parse(s),
                _ => Err("matchers: expected strings such as \"tag=db\"".into()),
            })
            .collect::<Result<Vec<_>, _>>()?,
        _ => return Err("matchers: expected a list such as [\"tag=db\"]".into()),
    };
    match kind {
        Kind::Silence if matchers.is_empty() => {
            return Err(
                "matchers: at least one (target=, tag= or channel=; target=* for every target)"
                    .into(),
            );
        }
        Kind::Maintenance if matchers.iter().any(|m| m.field == Field::Channel) => {
            return Err("matchers: a maintenance window covers targets: target= or tag=".into());
        }
        _ => {}
    }
    let starts_at = instant(&doc["starts_at"], "starts_at")?.unwrap_or(now);
    let ends_at = match (&doc["for"], instant(&doc["ends_at"], "ends_at")?) {
        (Value::Null, None) => return Err("for (a duration such as 2h) or ends_at".into()),
        (Value::Null, Some(end)) => end,
        (_, Some(_)) => return Err("for or ends_at, not both".into()),
        (v, None) => {
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => String::new(),
            };
            let d =
                crate::config::parse::seconds(&text).map_err(|e| format!("for: expected {e}"))?;
            starts_at.saturating_add(i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        }
    };
    if ends_at <= starts_at.max(now) {
        return Err("ends_at: a time after now and after starts_at".into());
    }
    if ends_at - starts_at > LONGEST {
        return Err("at most a year long".into());
    }
    let reason = match &doc["reason"] {
        Value::String(r) if !r.trim().is_empty() => r.trim().chars().take(MAX_REASON).collect(),
        _ => return Err("reason: say why, for whoever wonders where the alerts went".into()),
    };
    let created_by = match &doc["by"] {
        Value::String(b) if !b.trim().is_empty() => Some(b.trim().chars().take(200).collect()),
        Value::String(_) | Value::Null => by_default,
        _ => return Err("by: expected a string".into()),
    };
    Ok(Silence {
        id: 0,
        kind,
        matchers,
        starts_at,
        ends_at,
        created_by,
        reason,
        created_at: now,
    })
}

/// The store to change, or why not.
fn writable(s: &AppState) -> Result<Acks, Box<Response>> {
    let Some(acks) = s.acks.clone() else {
        return Err(Box::new(error(
            StatusCode::METHOD_NOT_ALLOWED,
            "this server keeps no alerting: silences are made where the store is written",
        )));
    };
    if s.writes_unguarded() {
        return Err(Box::new(error(
            StatusCode::FORBIDDEN,
            "set WEB_AUTH_TOKEN or WEB_AUTH_BASIC before silencing through a listener other machines reach",
        )));
    }
    Ok(acks)
}

fn store_failed(e: crate::store::StoreError) -> Response {
    tracing::error!(error = %e, "silences: the store failed");
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "the store failed; see the log",
    )
}

#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    /// Also those over.
    #[serde(default)]
    pub all: Option<String>,
}

async fn list(s: &AppState, kind: Kind, p: ListParams) -> Response {
    let Some(acks) = &s.acks else {
        return error(
            StatusCode::METHOD_NOT_ALLOWED,
            "this server keeps no alerting",
        );
    };
    let now = now_micros();
    let all = matches!(p.all.as_deref(), Some("1" | "true" | "yes"));
    match acks.store.silences(now, all).await {
        Ok(list) => {
            let items: Vec<Value> = list
                .iter()
                .filter(|x| x.kind == kind)
                .map(|x| represent(x, now))
                .collect();
            match kind {
                Kind::Silence => Json(json!({ "silences": items })).into_response(),
                Kind::Maintenance => {
                    let windows: Vec<Value> = acks
                        .live
                        .get()
                        .maintenance
                        .iter()
                        .map(|w| represent_window(w, now))
                        .collect();
                    Json(json!({ "configured": windows, "maintenance": items })).into_response()
                }
            }
        }
        Err(e) => store_failed(e),
    }
}

async fn create(s: &AppState, kind: Kind, headers: &HeaderMap, body: &[u8]) -> Response {
    let acks = match writable(s) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    if !declares_json(headers) {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "a JSON body with Content-Type: application/json",
        );
    }
    let doc: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("not JSON: {e}")),
    };
    let by = match &s.auth {
        Some(WebAuth::Basic { user, .. }) => Some(user.clone()),
        _ => None,
    };
    let now = now_micros();
    let silence = match silence_from(&doc, kind, by, now) {
        Ok(x) => x,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    match acks.store.add_silence(silence).await {
        Ok(made) => {
            tracing::info!(
                id = made.id,
                kind = made.kind.as_str(),
                by = made.created_by,
                "{} made: {}",
                made.kind.as_str(),
                made.reason
            );
            (StatusCode::CREATED, Json(represent(&made, now))).into_response()
        }
        Err(e) => store_failed(e),
    }
}

async fn expire(s: &AppState, kind: Kind, id: i64) -> Response {
    let acks = match writable(s) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    let now = now_micros();
    // Only one of its own kind: a silence is not ended as a maintenance window.
    match acks.store.expire_silence(id, Some(kind), now).await {
        Ok(Some(x)) => Json(represent(&x, now)).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, format!("no {} {id}", kind.as_str())),
        Err(e) => store_failed(e),
    }
}

/// `GET /api/v1/silences` (`?all=true`: also those over).
pub async fn list_silences(State(s): State<AppState>, Query(p): Query<ListParams>) -> Response {
    list(&s, Kind::Silence, p).await
}

/// `POST /api/v1/silences`.
pub async fn create_silence(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    create(&s, Kind::Silence, &headers, &body).await
}

/// `DELETE /api/v1/silences/{id}`: expires it now.
pub async fn expire_silence(State(s): State<AppState>, Path(id): Path<i64>) -> Response {
    expire(&s, Kind::Silence, id).await
}

/// `GET /api/v1/maintenance`: the configured windows and those made here.
pub async fn list_maintenance(State(s): State<AppState>, Query(p): Query<ListParams>) -> Response {
    list(&s, Kind::Maintenance, p).await
}

/// `POST /api/v1/maintenance`: a one-off window (mode suppress).
pub async fn create_maintenance(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    create(&s, Kind::Maintenance, &headers, &body).await
}

/// `DELETE /api/v1/maintenance/{id}`: ends it now.
pub async fn end_maintenance(State(s): State<AppState>, Path(id): Path<i64>) -> Response {
    expire(&s, Kind::Maintenance, id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Micros = 1_800_000_000 * SECOND;

    fn read(doc: Value, kind: Kind) -> Result<Silence, String> {
        silence_from(&doc, kind, Some("basic-user".into()), NOW)
    }

    #[test]
    fn a_request_becomes_a_silence() {
        let s = read(
            json!({"matchers": ["tag=db", "channel=ops"], "for": "2h", "reason": "upgrade"}),
            Kind::Silence,
        )
        .unwrap();
        assert_eq!(s.starts_at, NOW);
        assert_eq!(s.ends_at, NOW + 2 * 3600 * SECOND);
        assert_eq!(s.created_by.as_deref(), Some("basic-user"));
        assert_eq!(s.matchers.len(), 2);
        let by = read(
            json!({"matchers": ["target=*"], "ends_at": "2027-06-01T08:00:00Z", "reason": "r",
                   "by": "ana"}),
            Kind::Silence,
        )
        .unwrap();
        assert_eq!(by.created_by.as_deref(), Some("ana"));
        // A window may cover every target.
        assert!(read(json!({"for": "1h", "reason": "r"}), Kind::Maintenance).is_ok());
    }

    #[test]
    fn bad_requests_say_what_is_wrong() {
        for (doc, kind, says) in [
            (
                json!({"for": "1h", "reason": "r"}),
                Kind::Silence,
                "at least one",
            ),
            (
                json!({"matchers": ["db"], "for": "1h", "reason": "r"}),
                Kind::Silence,
                "FIELD=VALUE",
            ),
            (
                json!({"matchers": ["tag=db"], "reason": "r"}),
                Kind::Silence,
                "for (a duration",
            ),
            (
                json!({"matchers": ["tag=db"], "for": "soon", "reason": "r"}),
                Kind::Silence,
                "for:",
            ),
            (
                json!({"matchers": ["tag=db"], "for": "1h"}),
                Kind::Silence,
                "reason",
            ),
            (
                json!({"matchers": ["tag=db"], "ends_at": "2020-01-01T00:00:00Z", "reason": "r"}),
                Kind::Silence,
                "after now",
            ),
            (
                json!({"matchers": ["tag=db"], "for": "400d", "reason": "r"}),
                Kind::Silence,
                "a year",
            ),
            (
                json!({"matchers": ["channel=ops"], "for": "1h", "reason": "r"}),
                Kind::Maintenance,
                "covers targets",
            ),
            (json!({"matcher": ["tag=db"]}), Kind::Silence, "not a field"),
            (json!([]), Kind::Silence, "object"),
        ] {
            let e = read(doc.clone(), kind).unwrap_err();
            assert!(e.contains(says), "{doc}: {e}");
        }
    }
}
