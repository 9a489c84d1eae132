//! The JSON API's writes: `POST /api/v1/targets`, `PUT` / `PATCH` / `DELETE
//! /api/v1/targets/{id}`, `POST /api/v1/targets/{id}/pause` and `/resume`, all made by the
//! registry's [`Editor`], which validates in full before anything changes and saves what the
//! API made under `DATA_DIR`.
//!
//! Who may write: whoever passes the dashboard's credentials (the auth layer runs first). With
//! no credentials configured, writes are refused (403) unless the server listens on loopback
//! only: a public API that adds any URL to probe is an SSRF tool.
//!
//! Cross-site requests: every POST, PUT and PATCH must say `Content-Type: application/json`
//! (or another `…/json` or `…+json` type), even a bodiless pause; anything else is refused
//! with 415. An HTML form can send only `application/x-www-form-urlencoded`,
//! `multipart/form-data` or `text/plain`, and a script on another site cannot send a JSON type
//! (nor a DELETE) without a CORS preflight this server never grants, so a page elsewhere cannot
//! make a logged-in browser (whose basic-auth credentials it would send along) change targets.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::AppState;
use crate::config::target::masked_url;
use crate::config::{Interval, Source};
use crate::registry::Entry;
use crate::registry::edit::{EditError, Editor};

/// Why a write was refused.
#[derive(Debug)]
pub enum ApiError {
    /// The editor's refusal: 422, 404, 409 or 500.
    Edit(EditError),
    /// The server serves a store read-only (`serve --store`): 405 with the methods `Allow`ed.
    ReadOnly { allow: &'static str },
    /// No credentials configured and a listener other machines reach: 403.
    NoAuth,
    /// The body is not declared JSON: 415.
    NotJson,
    /// The body does not parse as JSON: 400.
    BadJson(String),
    /// The edit's task failed (logged): 500.
    Internal,
}

impl From<EditError> for ApiError {
    fn from(e: EditError) -> Self {
        ApiError::Edit(e)
    }
}

pub(super) fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Edit(EditError::Invalid(errors)) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(json!({ "errors": errors })),
            )
                .into_response(),
            ApiError::Edit(e @ EditError::NotFound(_)) => {
                error(StatusCode::NOT_FOUND, e.to_string())
            }
            ApiError::Edit(e @ EditError::Clash(_)) => error(StatusCode::CONFLICT, e.to_string()),
            ApiError::Edit(EditError::ReadOnly { id, defined_in }) => {
                let message = EditError::ReadOnly {
                    id: id.clone(),
                    defined_in,
                }
                .to_string();
                (
                    StatusCode::CONFLICT,
                    Json(json!({ "error": message, "id": id, "source": defined_in })),
                )
                    .into_response()
            }
            ApiError::Edit(EditError::Save(e)) => {
                tracing::error!(error = %e, "api: a change to the targets could not be saved");
                error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the change could not be saved, so nothing changed; see the server log",
                )
            }
            ApiError::ReadOnly { allow } => {
                let mut res = error(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "this server serves a store read-only (serve --store): targets change only \
                     on the uptimer serve that probes them",
                );
                res.headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static(allow));
                res
            }
            ApiError::NoAuth => error(
                StatusCode::FORBIDDEN,
                "changing targets needs authentication when the dashboard listens beyond this \
                 machine: set WEB_AUTH_TOKEN or WEB_AUTH_BASIC (or listen on 127.0.0.1)",
            ),
            ApiError::NotJson => error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "send Content-Type: application/json (application/merge-patch+json for PATCH), \
                 also for a request without a body",
            ),
            ApiError::Internal => error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the server failed to apply the change; see its log",
            ),
            ApiError::BadJson(e) => error(
                StatusCode::BAD_REQUEST,
                format!("the body is not valid JSON: {e}"),
            ),
        }
    }
}

/// A target as the API shows it: what it is, where it came from, whether it is paused, the
/// registry's version of its last change and, for a target the API made, `config`, the
/// object it was given as (its URL's password masked).
pub fn represent(entry: &Entry, config: Option<Value>) -> Value {
    let t = &entry.target;
    let mut v = json!({
        "id": t.id,
        "name": t.name,
        "url": masked_url(&t.url),
        "kind": t.kind.as_str(),
        "interval_s": match t.interval {
            Interval::Once => json!(-1),
            Interval::Every(d) => json!(d.as_secs_f64()),
        },
        "timeout_s": t.timeout.as_secs_f64(),
        "tags": t.tags,
        "source": t.source,
        "paused": entry.paused,
        "version": entry.version,
    });
    if t.source == Source::Api {
        v["config"] = config.map(mask_config).unwrap_or(Value::Null);
    }
    v
}

/// `config` with the password of its `url` and the values of secret-looking headers
/// (`Authorization`, `Cookie`, `X-Api-Key`, …) masked, as everywhere else they are shown.
fn mask_config(mut config: Value) -> Value {
    if let Some(Value::String(raw)) = config.get("url")
        && let Ok(url) = url::Url::parse(raw.trim())
        && url.password().is_some()
    {
        config["url"] = Value::String(masked_url(&url));
    }
    if let Some(Value::Object(headers)) = config.get_mut("headers") {
        for (name, value) in headers.iter_mut() {
            if crate::config::target::is_secret_header(name) {
                *value = Value::String("***".into());
            }
        }
    }
    config
}

/// The editor, when this caller may write: 405 on a read-only server, 403 without
/// credentials configured on a listener beyond loopback.
fn editor(s: &AppState, allow: &'static str) -> Result<Arc<Editor>, ApiError> {
    let editor = s.editor.clone().ok_or(ApiError::ReadOnly { allow })?;
    if s.writes_unguarded() {
        return Err(ApiError::NoAuth);
    }
    Ok(editor)
}

/// Whether the request declares a JSON body (`application/json`, `application/*+json`,
/// parameters such as `charset` allowed).
pub(super) fn declares_json(headers: &HeaderMap) -> bool {
    let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence
        .strip_prefix("application/")
        .is_some_and(|sub| sub == "json" || sub.ends_with("+json"))
}

/// The body as JSON, once it is declared so.
fn json_body(headers: &HeaderMap, body: &Bytes) -> Result<Value, ApiError> {
    if !declares_json(headers) {
        return Err(ApiError::NotJson);
    }
    serde_json::from_slice(body).map_err(|e| ApiError::BadJson(e.to_string()))
}

/// Runs the editor's (blocking: it writes and syncs a file) `change` off the async runtime,
/// and shows the entry it returns.
async fn edit(
    editor: Arc<Editor>,
    change: impl FnOnce(&Editor) -> Result<Arc<Entry>, EditError> + Send + 'static,
) -> Result<Value, ApiError> {
    let shown = tokio::task::spawn_blocking(move || {
        let entry = change(&editor)?;
        let config = editor.body(&entry.target.id);
        Ok::<_, EditError>(represent(&entry, config))
    })
    .await
    .map_err(|e| {
        tracing::error!(error = %e, "api: an edit failed");
        ApiError::Internal
    })??;
    Ok(shown)
}

/// `POST /api/v1/targets`: 201 with the stored target and its `Location`.
pub async fn create(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let editor = editor(&s, "GET")?;
    let body = json_body(&headers, &body)?;
    let shown = edit(editor, move |e| e.create(&body)).await?;
    let location = format!(
        "/api/v1/targets/{}",
        shown["id"].as_str().unwrap_or_default()
    );
    let mut res = (StatusCode::CREATED, Json(shown)).into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    Ok(res)
}

/// `PUT /api/v1/targets/{id}`: replaces an API target with the body.
pub async fn replace(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let editor = editor(&s, "GET")?;
    let body = json_body(&headers, &body)?;
    Ok(Json(edit(editor, move |e| e.replace(&id, &body)).await?))
}

/// `PATCH /api/v1/targets/{id}`: a JSON Merge Patch (RFC 7386) of the object it was given as.
pub async fn patch(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let editor = editor(&s, "GET")?;
    let body = json_body(&headers, &body)?;
    Ok(Json(edit(editor, move |e| e.patch(&id, &body)).await?))
}

/// `DELETE /api/v1/targets/{id}`: 204. (A browser sends a cross-site DELETE only after a CORS
/// preflight, which this server never grants: no content type is asked for.)
pub async fn delete(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let editor = editor(&s, "GET")?;
    edit(editor, move |e| e.delete(&id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/targets/{id}/pause`.
pub async fn pause(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    set_paused(s, id, &headers, true).await
}

/// `POST /api/v1/targets/{id}/resume`.
pub async fn resume(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    set_paused(s, id, &headers, false).await
}

async fn set_paused(
    s: AppState,
    id: String,
    headers: &HeaderMap,
    paused: bool,
) -> Result<Json<Value>, ApiError> {
    let editor = editor(&s, "")?;
    // The body, if any, is ignored; its declared type is the CSRF defence.
    if !declares_json(headers) {
        return Err(ApiError::NotJson);
    }
    Ok(Json(
        edit(editor, move |e| e.set_paused(&id, paused)).await?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_types_are_recognised_with_parameters_and_others_are_not() {
        let with = |ct: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
            declares_json(&h)
        };
        for ct in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/merge-patch+json",
        ] {
            assert!(with(ct), "{ct}");
        }
        for ct in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "text/json",
            "application/jsonp",
        ] {
            assert!(!with(ct), "{ct}");
        }
        assert!(!declares_json(&HeaderMap::new()));
    }

    #[test]
    fn a_configs_url_password_is_masked() {
        let c = mask_config(json!({"url": "https://ann:hunter2@example.org/", "name": "x"}));
        assert_eq!(c["url"], "https://ann:***@example.org/");
        let c = mask_config(json!({"url": "https://example.org/"}));
        assert_eq!(c["url"], "https://example.org/");
    }
}
