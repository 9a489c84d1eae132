//! `/api/v1/status-pages`: status pages made, changed and deleted through the API (behind the
//! dashboard's credentials), kept under `DATA_DIR` ([`super::pages`]). A page of the
//! configuration is listed but changes in the configuration only.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::pages::PageError;
use crate::config::status_pages::PageFile;
use crate::config::target::Target;
use crate::web::AppState;

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

/// Every target of the live set, for checking a page's components.
fn targets(s: &AppState) -> Vec<Target> {
    s.editor.as_ref().map_or_else(Vec::new, |e| {
        e.registry()
            .entries()
            .into_iter()
            .map(|e| (*e.target).clone())
            .collect()
    })
}

/// Whether the request may change pages: a process that edits its targets (else 405), with
/// credentials or on loopback (else 403).
fn may_write(s: &AppState) -> Result<(), Box<Response>> {
    if s.editor.is_none() {
        let mut r = error(
            StatusCode::METHOD_NOT_ALLOWED,
            "this server serves a store read-only: status pages change on the uptimer serve that probes",
        );
        r.headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static("GET"));
        return Err(Box::new(r));
    }
    if s.writes_unguarded() {
        return Err(Box::new(error(
            StatusCode::FORBIDDEN,
            "changing status pages needs authentication when the dashboard listens beyond this \
             machine: set WEB_AUTH_TOKEN or WEB_AUTH_BASIC (or listen on 127.0.0.1)",
        )));
    }
    Ok(())
}

fn refused(e: PageError) -> Response {
    match e {
        PageError::Configured(slug) => error(
            StatusCode::CONFLICT,
            format!("{slug} is a page of the configuration file: change it there"),
        ),
        PageError::Exists(slug) => error(
            StatusCode::CONFLICT,
            format!("a page {slug} exists: PUT /api/v1/status-pages/{slug} replaces it"),
        ),
        PageError::Missing(slug) => error(
            StatusCode::NOT_FOUND,
            format!("no status page {slug} made through the API"),
        ),
        PageError::Invalid(why) => error(StatusCode::BAD_REQUEST, why),
        PageError::Save(e) => {
            tracing::error!(error = %e, "saving the status pages failed");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be saved; see the server log",
            )
        }
    }
}

/// A page as written, from a JSON body.
fn body(headers: &HeaderMap, bytes: &[u8]) -> Result<PageFile, Box<Response>> {
    if !crate::web::targets_api::declares_json(headers) {
        return Err(Box::new(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send Content-Type: application/json",
        )));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        Box::new(error(
            StatusCode::BAD_REQUEST,
            format!("not a status page ({e}); see docs/status-pages.md"),
        ))
    })
}

fn listed(s: &AppState) -> Vec<Value> {
    let made = s.status_pages.made();
    s.status_pages
        .get()
        .iter()
        .map(|p| {
            let source = if s.status_pages.configured(&p.slug) {
                "config"
            } else {
                "api"
            };
            let file = made.iter().find(|f| f.slug.trim() == p.slug);
            json!({
                "slug": p.slug, "title": p.title, "source": source,
                "url": format!("{}/status/{}", s.public_url, p.slug),
                "page": file,
            })
        })
        .collect()
}

/// `GET /api/v1/status-pages`.
pub async fn list(State(s): State<AppState>) -> Response {
    Json(json!({ "pages": listed(&s) })).into_response()
}

/// `GET /api/v1/status-pages/{slug}`.
pub async fn one(State(s): State<AppState>, Path(slug): Path<String>) -> Response {
    match listed(&s).into_iter().find(|p| p["slug"] == slug.as_str()) {
        Some(p) => Json(p).into_response(),
        None => error(StatusCode::NOT_FOUND, format!("no status page {slug}")),
    }
}

/// Makes (`slug`: None) or replaces a page from a request's body.
fn put(s: &AppState, slug: Option<&str>, headers: &HeaderMap, bytes: &[u8]) -> Response {
    if let Err(r) = may_write(s) {
        return *r;
    }
    let file = match body(headers, bytes) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    if let Some(slug) = slug
        && file.slug.trim() != slug
    {
        return error(
            StatusCode::BAD_REQUEST,
            format!("the body's slug {} is not the address's {slug}", file.slug),
        );
    }
    match s.status_pages.put(file, slug.is_some(), &targets(s)) {
        Ok(p) => {
            let status = if slug.is_some() {
                StatusCode::OK
            } else {
                StatusCode::CREATED
            };
            (status, Json(json!({ "slug": p.slug, "title": p.title }))).into_response()
        }
        Err(e) => refused(e),
    }
}

/// `POST /api/v1/status-pages`.
pub async fn create(
    State(s): State<AppState>,
    headers: HeaderMap,
    bytes: axum::body::Bytes,
) -> Response {
    put(&s, None, &headers, &bytes)
}

/// `PUT /api/v1/status-pages/{slug}`.
pub async fn replace(
    State(s): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    bytes: axum::body::Bytes,
) -> Response {
    put(&s, Some(&slug), &headers, &bytes)
}

/// `DELETE /api/v1/status-pages/{slug}`.
pub async fn delete(State(s): State<AppState>, Path(slug): Path<String>) -> Response {
    if let Err(r) = may_write(&s) {
        return *r;
    }
    match s.status_pages.delete(&slug, &|| targets(&s)) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => refused(e),
    }
}
