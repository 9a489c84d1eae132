//! Public status pages (`status_pages:`): `/status/<slug>` (HTML, no JavaScript), its widget,
//! RSS and Atom feeds, badges per component and the Statuspage-shaped JSON under
//! `/status/<slug>/api/v2/`. Public even when the dashboard needs credentials (unless the page
//! says `protect: dashboard`): they show components' statuses, never targets' URLs or error
//! texts. Every document is rendered once per change ([`cache`]) and served with an ETag and
//! Last-Modified, so a CDN can sit in front. docs/status-pages.md is the user's page.

mod cache;
mod docs;
mod facts;
mod feeds;
mod history;
pub mod manage;
mod markdown;
pub mod model;
mod notices;
mod pages;
mod view;

use std::path::Path as FsPath;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

pub use cache::StatusCache;
use cache::{Doc, Snapshot};
pub use pages::{PageError, Pages, Served};

use super::AppState;
use crate::config::status_pages::StatusPage;
use crate::store::Micros;

const STYLE: &str = include_str!("status.css");

/// The largest logo, favicon or custom CSS file served.
pub const MAX_ASSET: u64 = 1024 * 1024;

/// The status routes, public (a page that says `protect: dashboard` checks credentials
/// itself).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/status/assets/status.css",
            get(|| async { super::asset("text/css; charset=utf-8", STYLE) }),
        )
        .route(
            "/status/assets/favicon.svg",
            get(|| async { super::asset("image/svg+xml", super::FAVICON) }),
        )
        .route("/status/{slug}", get(page))
        .route("/status/{slug}/widget", get(widget))
        .route("/status/{slug}/feed.rss", get(rss))
        .route("/status/{slug}/feed.atom", get(atom))
        .route("/status/{slug}/badges/{component}", get(badge))
        .route("/status/{slug}/api/v2/{*doc}", get(json))
        .route("/status/{slug}/logo", get(logo))
        .route("/status/{slug}/favicon", get(favicon))
        .route("/status/{slug}/custom.css", get(custom_css))
}

/// What `STATUS_LISTEN` serves: the status routes alone, the first page at `/`.
pub fn public_app(state: AppState) -> Router {
    routes()
        .route("/", get(default_page))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found\n") })
        .layer(axum::middleware::from_fn(super::security_headers))
        .with_state(state)
}

async fn default_page(State(s): State<AppState>, headers: HeaderMap) -> Response {
    match s.status_pages.first() {
        Some(p) => page(State(s.clone()), Path(p.slug.clone()), headers).await,
        None => not_found("(none configured)"),
    }
}

fn not_found(slug: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CACHE_CONTROL, "no-store")],
        format!("no status page {slug}\n"),
    )
        .into_response()
}

/// The page of `slug`, when there is one and the request may read it.
fn page_of(s: &AppState, slug: &str, headers: &HeaderMap) -> Result<Served, Box<Response>> {
    let Some(page) = s.status_pages.lookup(slug) else {
        return Err(Box::new(not_found(slug)));
    };
    if page.protect
        && let Some(auth) = &s.auth
        && !super::authorized(auth, headers)
    {
        return Err(Box::new(super::challenge(auth)));
    }
    Ok(page)
}

/// The page's documents now.
async fn snapshot(s: &AppState, page: &Served) -> Result<Arc<Snapshot>, Response> {
    s.status_cache.get(s, page).await.map_err(|e| {
        tracing::error!(error = %e, page = %page.slug, "status page: the store failed");
        (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CACHE_CONTROL, "no-store")],
            "the status is not available right now\n",
        )
            .into_response()
    })
}

/// The page's policy: its own styles and images only; `frame` lists who may frame it.
fn policy(frame: &[String]) -> HeaderValue {
    let ancestors = if frame.is_empty() {
        "'none'".to_owned()
    } else {
        frame.join(" ")
    };
    HeaderValue::from_str(&format!(
        "default-src 'none'; style-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors {ancestors}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"))
}

/// An HTTP date (`Last-Modified`).
fn http_date(m: Micros) -> String {
    httpdate::fmt_http_date(
        std::time::UNIX_EPOCH + std::time::Duration::from_micros(u64::try_from(m).unwrap_or(0)),
    )
}

/// Whether the client's copy (`etag`) is current: its `If-None-Match`, else its
/// `If-Modified-Since`.
fn not_modified(headers: &HeaderMap, etag: &str, updated_at: Micros) -> bool {
    if let Some(tags) = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
    {
        return tags.split(',').any(|t| t.trim() == etag || t.trim() == "*");
    }
    headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .is_some_and(|since| since.as_secs() >= u64::try_from(updated_at / 1_000_000).unwrap_or(0))
}

/// Whether the request's `Accept-Encoding` takes gzip (`gzip` or `*`, with a q above 0).
fn takes_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or("").trim();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            (name.eq_ignore_ascii_case("gzip") || name == "*") && q > 0.0
        })
}

/// A cached document with its validators and caching headers.
fn send(
    page: &StatusPage,
    headers: &HeaderMap,
    snap: &Snapshot,
    doc: &Doc,
    content_type: &'static str,
    csp: Option<HeaderValue>,
) -> Response {
    let cache = if page.protect {
        "private, no-cache"
    } else {
        "public, max-age=30, stale-while-revalidate=30"
    };
    // The gzipped copy has its own entity tag (a different representation).
    let zipped = doc.gzip.as_ref().filter(|_| takes_gzip(headers));
    let (body, etag) = zipped.map_or((&doc.body, &doc.etag), |(b, t)| (b, t));
    let mut res = if not_modified(headers, etag, snap.updated_at) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = body.clone().into_response();
        let h = r.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        if zipped.is_some() {
            h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        r
    };
    let h = res.headers_mut();
    if doc.gzip.is_some() {
        h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(&http_date(snap.updated_at)) {
        h.insert(header::LAST_MODIFIED, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if content_type.starts_with("application/json") {
        // Statuspage's API is read from other sites' scripts.
        h.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
    }
    if let Some(csp) = csp {
        h.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    res
}

/// The page of `slug`'s documents, `pick`ed.
async fn with_snapshot(
    s: AppState,
    slug: &str,
    headers: &HeaderMap,
    pick: impl FnOnce(&StatusPage, &Snapshot) -> Response,
) -> Response {
    let page = match page_of(&s, slug, headers) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    match snapshot(&s, &page).await {
        Ok(snap) => pick(&page, &snap),
        Err(r) => r,
    }
}

const HTML: &str = "text/html; charset=utf-8";

/// `GET /status/<slug>`.
pub async fn page(
    State(s): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
) -> Response {
    with_snapshot(s, &slug, &headers, |p, snap| {
        send(p, &headers, snap, &snap.html, HTML, Some(policy(&[])))
    })
    .await
}

/// `GET /status/<slug>/widget`: the banner and a link, for an iframe on the page's
/// `embed_origins`.
async fn widget(
    State(s): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
) -> Response {
    with_snapshot(s, &slug, &headers, |p, snap| {
        let csp = policy(&p.embed_origins);
        send(p, &headers, snap, &snap.widget, HTML, Some(csp))
    })
    .await
}

async fn rss(State(s): State<AppState>, Path(slug): Path<String>, headers: HeaderMap) -> Response {
    with_snapshot(s, &slug, &headers, |p, snap| {
        let kind = "application/rss+xml; charset=utf-8";
        send(p, &headers, snap, &snap.rss, kind, None)
    })
    .await
}

async fn atom(State(s): State<AppState>, Path(slug): Path<String>, headers: HeaderMap) -> Response {
    with_snapshot(s, &slug, &headers, |p, snap| {
        let kind = "application/atom+xml; charset=utf-8";
        send(p, &headers, snap, &snap.atom, kind, None)
    })
    .await
}

/// `GET /status/<slug>/badges/<component id>.svg`.
async fn badge(
    State(s): State<AppState>,
    Path((slug, component)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let id = component.strip_suffix(".svg").unwrap_or(&component);
    with_snapshot(s, &slug, &headers, |p, snap| match snap.badges.get(id) {
        Some(doc) => send(p, &headers, snap, doc, "image/svg+xml", None),
        None => (
            StatusCode::NOT_FOUND,
            format!("no component {id} on {slug}\n"),
        )
            .into_response(),
    })
    .await
}

/// `GET /status/<slug>/api/v2/<document>`.
async fn json(
    State(s): State<AppState>,
    Path((slug, doc)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    with_snapshot(s, &slug, &headers, |p, snap| {
        match snap.json.get(doc.as_str()) {
            Some(d) => send(p, &headers, snap, d, "application/json", None),
            None => (
                StatusCode::NOT_FOUND,
                axum::Json(serde_json::json!({ "error": format!("no document api/v2/{doc}") })),
            )
                .into_response(),
        }
    })
    .await
}

/// A file the page names, read once and kept.
async fn file(
    s: &AppState,
    page: &StatusPage,
    path: Option<&FsPath>,
    content_type: Option<&'static str>,
) -> Response {
    let Some(path) = path else {
        return not_found(&page.slug);
    };
    match s.status_cache.file(path).await {
        Ok(bytes) => {
            let kind = content_type.unwrap_or_else(|| image_type(path));
            (
                [
                    (header::CONTENT_TYPE, kind),
                    (header::CACHE_CONTROL, "public, max-age=3600"),
                ],
                bytes,
            )
                .into_response()
        }
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e, page = %page.slug, "status page: a file it names cannot be read");
            (StatusCode::NOT_FOUND, "not found\n").into_response()
        }
    }
}

/// An image's type by its file's extension (`check_files` refused the others).
fn image_type(path: &FsPath) -> &'static str {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("webp") => "image/webp",
        Some("gif") => "image/gif",
        Some("ico") => "image/x-icon",
        _ => "application/octet-stream",
    }
}

async fn logo(State(s): State<AppState>, Path(slug): Path<String>, headers: HeaderMap) -> Response {
    match page_of(&s, &slug, &headers) {
        Ok(p) => file(&s, &p, p.logo.as_deref(), None).await,
        Err(r) => *r,
    }
}

async fn favicon(
    State(s): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
) -> Response {
    match page_of(&s, &slug, &headers) {
        Ok(p) => file(&s, &p, p.favicon.as_deref(), None).await,
        Err(r) => *r,
    }
}

async fn custom_css(
    State(s): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
) -> Response {
    match page_of(&s, &slug, &headers) {
        Ok(p) => {
            file(
                &s,
                &p,
                p.custom_css.as_deref(),
                Some("text/css; charset=utf-8"),
            )
            .await
        }
        Err(r) => *r,
    }
}

/// Checks the files the pages name (logo, favicon, custom CSS): each readable, at most
/// [`MAX_ASSET`], an image by its extension (the CSS aside). `serve` refuses to start
/// otherwise.
pub fn check_files(pages: &[StatusPage]) -> Result<(), String> {
    for p in pages {
        for (what, path, image) in [
            ("logo", &p.logo, true),
            ("favicon", &p.favicon, true),
            ("custom_css", &p.custom_css, false),
        ] {
            let Some(path) = path else { continue };
            let at = format!("status_pages[{}].{what}", p.slug);
            let meta = std::fs::metadata(path)
                .map_err(|e| format!("{at}: cannot read {}: {e}", path.display()))?;
            if !meta.is_file() || meta.len() > MAX_ASSET {
                return Err(format!(
                    "{at}: {} is not a file of at most 1 MiB",
                    path.display()
                ));
            }
            if image && image_type(path) == "application/octet-stream" {
                return Err(format!(
                    "{at}: {} is not a .png, .svg, .jpg, .webp, .gif or .ico file",
                    path.display()
                ));
            }
        }
    }
    Ok(())
}
