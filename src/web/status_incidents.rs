//! The incidents people write on status pages, through the API (with the dashboard's
//! credentials): `GET|POST /api/v1/status-incidents`, `GET /api/v1/status-incidents/{id}` and
//! `POST /api/v1/status-incidents/{id}/updates`. Requests are read here, against the
//! pages served ([`incident_from`], [`update_from`]), for the API and the dashboard's
//! form alike; the store keeps what they say (`crate::store::status`), the status pages show
//! it (`crate::web::status`).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::AppState;
use super::status::model::ComponentStatus;
use super::targets_api::{declares_json, error};
use crate::config::WebAuth;
use crate::config::status_pages::StatusPage;
use crate::store::status::{
    Affected, Impact, NewIncident, NewUpdate, StatusBook, StatusIncident, UpdateStatus,
};
use crate::store::{MIN_TIME, StoreError, now_micros, rfc3339};

/// The longest title, in characters.
pub const MAX_TITLE: usize = 200;
/// The longest update, in characters.
pub const MAX_BODY: usize = 20_000;
/// The longest author's name, in characters.
const MAX_AUTHOR: usize = 200;
/// How many incidents a list holds by default, and at most.
const LIST_DEFAULT: u32 = 50;
const LIST_MAX: u32 = 500;

/// An incident as the API shows it: times in RFC 3339, its current `status`.
pub fn represent(i: &StatusIncident) -> Value {
    json!({
        "id": i.id,
        "page": i.page,
        "title": i.title,
        "status": i.status().as_str(),
        "impact": i.impact.as_str(),
        "components": i.components,
        "updates": i.updates.iter().map(|u| json!({
            "status": u.status.as_str(),
            "body": u.body,
            "at": rfc3339(u.at),
            "author": u.author,
        })).collect::<Vec<_>>(),
        "created_at": rfc3339(i.created_at),
        "updated_at": rfc3339(i.updated_at),
        "resolved_at": i.resolved_at.map(rfc3339),
    })
}

/// The page `slug`, of the configuration or made through the API.
pub fn page_of(s: &AppState, slug: &str) -> Option<StatusPage> {
    s.status_pages.find(slug)
}

/// The pages' slugs, for messages.
fn known(pages: &[StatusPage]) -> String {
    let all: Vec<&str> = pages.iter().map(|p| p.slug.as_str()).collect();
    if all.is_empty() {
        "there is none: status_pages: in the config file, or POST /api/v1/status-pages".into()
    } else {
        format!("pages: {}", all.join(", "))
    }
}

/// The names of a page's components, in order.
pub fn component_names(page: &StatusPage) -> Vec<&str> {
    page.groups
        .iter()
        .flat_map(|g| g.components.iter().map(|c| c.name.as_str()))
        .collect()
}

/// The statuses a component may be given, for messages.
fn component_statuses() -> String {
    let all: Vec<&str> = ComponentStatus::ALL.iter().map(|c| c.as_str()).collect();
    all.join(", ")
}

fn no_unknown_fields(map: &Map<String, Value>, known: &[&str]) -> Result<(), String> {
    match map.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(format!("{k}: not a field (expected {})", known.join(", "))),
        None => Ok(()),
    }
}

/// A string field, trimmed: `None` when absent or null.
fn text<'a>(doc: &'a Value, field: &str) -> Result<Option<&'a str>, String> {
    match &doc[field] {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.trim())),
        _ => Err(format!("{field}: expected a string")),
    }
}

fn title_of(doc: &Value) -> Result<String, String> {
    match text(doc, "title")? {
        None | Some("") => {
            Err("title: the incident's title, such as \"Elevated API errors\"".into())
        }
        Some(t) if t.chars().count() > MAX_TITLE => Err(format!(
            "title: at most {MAX_TITLE} characters (this one has {})",
            t.chars().count()
        )),
        Some(t) if t.chars().any(char::is_control) => {
            Err("title: one line, without control characters".into())
        }
        Some(t) => Ok(t.to_owned()),
    }
}

/// The Markdown as written, but for trailing blanks (leading ones may be Markdown: an
/// indented code block).
fn body_of(doc: &Value) -> Result<String, String> {
    let b = match &doc["body"] {
        Value::Null => "",
        Value::String(b) => b.trim_end(),
        _ => return Err("body: expected a string".into()),
    };
    match b.chars().count() {
        _ if b.trim().is_empty() => Err("body: say what is happening (Markdown)".into()),
        n if n > MAX_BODY => Err(format!(
            "body: at most {MAX_BODY} characters (this one has {n})"
        )),
        _ => Ok(b.to_owned()),
    }
}

/// `author`, or who the dashboard's credentials name.
fn author_of(doc: &Value, default: Option<String>) -> Result<Option<String>, String> {
    Ok(match text(doc, "author")? {
        None | Some("") => default,
        Some(a) if a.chars().count() > MAX_AUTHOR => {
            return Err(format!("author: at most {MAX_AUTHOR} characters"));
        }
        Some(a) => Some(a.to_owned()),
    })
}

fn status_of(doc: &Value) -> Result<Option<UpdateStatus>, String> {
    let all = || {
        let all: Vec<&str> = UpdateStatus::ALL.iter().map(|u| u.as_str()).collect();
        all.join(", ")
    };
    match text(doc, "status").map_err(|_| format!("status: one of {}", all()))? {
        None => Ok(None),
        Some(s) => UpdateStatus::parse(s)
            .map(Some)
            .ok_or_else(|| format!("status: one of {}, not {s:?}", all())),
    }
}

fn impact_of(doc: &Value) -> Result<Option<Impact>, String> {
    let all = || {
        let all: Vec<&str> = Impact::ALL.iter().map(|i| i.as_str()).collect();
        all.join(", ")
    };
    match text(doc, "impact").map_err(|_| format!("impact: one of {}", all()))? {
        None => Ok(None),
        Some(s) => Impact::parse(s)
            .map(Some)
            .ok_or_else(|| format!("impact: one of {}, not {s:?}", all())),
    }
}

/// `components`: `[{"component": NAME, "status": STATUS}]`, each a component of `page` once.
/// `page` is `None` when the incident's page is no longer served.
fn components_of(
    doc: &Value,
    page: Option<&StatusPage>,
    slug: &str,
) -> Result<Option<Vec<Affected>>, String> {
    let list = match &doc["components"] {
        Value::Null => return Ok(None),
        Value::Array(list) => list,
        _ => {
            return Err(
                "components: expected a list such as [{\"component\": \"API\", \"status\": \"major_outage\"}]"
                    .into(),
            );
        }
    };
    let names = page.map(component_names).unwrap_or_default();
    let mut out: Vec<Affected> = Vec::with_capacity(list.len());
    for (n, item) in list.iter().enumerate() {
        let at = format!("components[{n}]");
        let Value::Object(map) = item else {
            return Err(format!(
                "{at}: expected {{\"component\": NAME, \"status\": STATUS}}"
            ));
        };
        no_unknown_fields(map, &["component", "status"]).map_err(|e| format!("{at}.{e}"))?;
        let component = match text(item, "component") {
            Ok(Some(c)) if !c.is_empty() => c,
            _ => return Err(format!("{at}.component: a component's name on page {slug}")),
        };
        if page.is_none() {
            return Err(format!(
                "{at}.component: page {slug} is no longer served, so its components are not known"
            ));
        }
        if !names.contains(&component) {
            return Err(format!(
                "{at}.component: page {slug} has no component {component:?} (it has: {})",
                names.join(", ")
            ));
        }
        if out.iter().any(|a| a.component == component) {
            return Err(format!("{at}.component: {component:?} is listed twice"));
        }
        let status = match text(item, "status") {
            Ok(Some(s)) if ComponentStatus::parse(s).is_some() => s,
            Ok(Some(s)) => {
                return Err(format!(
                    "{at}.status: one of {}, not {s:?}",
                    component_statuses()
                ));
            }
            _ => return Err(format!("{at}.status: one of {}", component_statuses())),
        };
        out.push(Affected {
            component: component.to_owned(),
            status: status.to_owned(),
        });
    }
    Ok(Some(out))
}

/// Reads a request to open an incident: `page` (the slug of a page of `pages`: the
/// configuration's and those made through the API), `title`, `body`, and optionally `impact`
/// (default minor), `status` (default investigating), `components` and `author` (default
/// `author`).
pub fn incident_from(
    doc: &Value,
    pages: &[StatusPage],
    author: Option<String>,
) -> Result<NewIncident, String> {
    let Value::Object(map) = doc else {
        return Err("a JSON object".into());
    };
    no_unknown_fields(
        map,
        &[
            "page",
            "title",
            "impact",
            "components",
            "status",
            "body",
            "author",
        ],
    )?;
    let page = match text(doc, "page")? {
        None | Some("") => return Err(format!("page: a status page's slug ({})", known(pages))),
        Some(slug) => pages
            .iter()
            .find(|p| p.slug == slug)
            .ok_or_else(|| format!("page: no status page {slug:?} ({})", known(pages)))?,
    };
    Ok(NewIncident {
        page: page.slug.clone(),
        title: title_of(doc)?,
        impact: impact_of(doc)?.unwrap_or_default(),
        components: components_of(doc, Some(page), &page.slug)?.unwrap_or_default(),
        status: status_of(doc)?.unwrap_or(UpdateStatus::Investigating),
        body: body_of(doc)?,
        author: author_of(doc, author)?,
    })
}

/// Reads a request to update an incident of page `slug` (`page`: its configuration, `None`
/// when it is no longer served): `status`, `body`, and optionally `impact` and
/// `components` (which replace the incident's) and `author`.
pub fn update_from(
    doc: &Value,
    page: Option<&StatusPage>,
    slug: &str,
    author: Option<String>,
) -> Result<NewUpdate, String> {
    let Value::Object(map) = doc else {
        return Err("a JSON object".into());
    };
    no_unknown_fields(map, &["status", "body", "impact", "components", "author"])?;
    let Some(status) = status_of(doc)? else {
        let all: Vec<&str> = UpdateStatus::ALL.iter().map(|u| u.as_str()).collect();
        return Err(format!("status: one of {}", all.join(", ")));
    };
    Ok(NewUpdate {
        status,
        body: body_of(doc)?,
        impact: impact_of(doc)?,
        components: components_of(doc, page, slug)?,
        author: author_of(doc, author)?,
    })
}

/// Who the dashboard's credentials name (Basic auth's user).
pub fn signed_in(s: &AppState) -> Option<String> {
    match &s.auth {
        Some(WebAuth::Basic { user, .. }) => Some(user.clone()),
        _ => None,
    }
}

/// Why a write was not done.
#[derive(Debug)]
pub enum Refused {
    /// The request says something wrong (400).
    Invalid(String),
    /// No such incident (404).
    Unknown(i64),
    /// It is resolved: nothing more is posted to it (409).
    Resolved {
        id: i64,
        at: i64,
    },
    Store(StoreError),
}

impl From<StoreError> for Refused {
    fn from(e: StoreError) -> Self {
        Refused::Store(e)
    }
}

impl Refused {
    pub fn status(&self) -> StatusCode {
        match self {
            Refused::Invalid(_) => StatusCode::BAD_REQUEST,
            Refused::Unknown(_) => StatusCode::NOT_FOUND,
            Refused::Resolved { .. } => StatusCode::CONFLICT,
            Refused::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// What the user is told (a store's error is logged, not shown).
    pub fn message(&self) -> String {
        match self {
            Refused::Invalid(m) => m.clone(),
            Refused::Unknown(id) => format!("no status incident {id}"),
            Refused::Resolved { id, at } => format!(
                "status incident {id} was resolved at {}: nothing more can be posted to it (open a new one)",
                rfc3339(*at)
            ),
            Refused::Store(e) => {
                tracing::error!(error = %e, "status incidents: the store failed");
                "the store failed; see the log".into()
            }
        }
    }

    fn into_response(self) -> Response {
        error(self.status(), self.message())
    }
}

/// One update at a time per process, so two posted together to an open incident cannot both
/// pass the check that it is not resolved.
static POSTING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Opens an incident as request `doc` says.
pub async fn open(
    s: &AppState,
    book: &dyn StatusBook,
    doc: &Value,
) -> Result<StatusIncident, Refused> {
    let new = incident_from(doc, &s.status_pages.get(), signed_in(s)).map_err(Refused::Invalid)?;
    let made = book.open_status_incident(new, now_micros()).await?;
    tracing::info!(
        id = made.id,
        page = %made.page,
        by = made.updates.first().and_then(|u| u.author.as_deref()),
        "status incident opened: {}",
        made.title
    );
    Ok(made)
}

/// Posts update `doc` to incident `id`, unless it is resolved.
pub async fn post_update(
    s: &AppState,
    book: &dyn StatusBook,
    id: i64,
    doc: &Value,
) -> Result<StatusIncident, Refused> {
    let _turn = POSTING.lock().await;
    let Some(now) = book.status_incident(id).await? else {
        return Err(Refused::Unknown(id));
    };
    if let Some(at) = now.resolved_at {
        return Err(Refused::Resolved { id, at });
    }
    let page = page_of(s, &now.page);
    let update =
        update_from(doc, page.as_ref(), &now.page, signed_in(s)).map_err(Refused::Invalid)?;
    let status = update.status;
    let done = book
        .update_status_incident(id, update, now_micros())
        .await?
        .ok_or(Refused::Unknown(id))?;
    tracing::info!(id, page = %done.page, status = status.as_str(), "status incident updated");
    Ok(done)
}

/// The book to write to, or why not.
fn writable(s: &AppState) -> Result<Arc<dyn StatusBook>, Box<Response>> {
    let Some(book) = s.status_book.clone() else {
        return Err(Box::new(error(
            StatusCode::METHOD_NOT_ALLOWED,
            "this server keeps no status incidents: they are written through the uptimer serve \
             that writes the store (or serve --store postgres://…)",
        )));
    };
    if s.writes_unguarded() {
        return Err(Box::new(error(
            StatusCode::FORBIDDEN,
            "set WEB_AUTH_TOKEN or WEB_AUTH_BASIC before writing status incidents through a listener other machines reach",
        )));
    }
    Ok(book)
}

/// A request's JSON body, or the answer that refuses it.
fn json_body(headers: &HeaderMap, body: &[u8]) -> Result<Value, Box<Response>> {
    if !declares_json(headers) {
        return Err(Box::new(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "a JSON body with Content-Type: application/json",
        )));
    }
    serde_json::from_slice(body)
        .map_err(|e| Box::new(error(StatusCode::BAD_REQUEST, format!("not JSON: {e}"))))
}

fn id_of(raw: &str) -> Result<i64, Box<Response>> {
    raw.parse().map_err(|_| {
        Box::new(error(
            StatusCode::NOT_FOUND,
            format!("no status incident {raw:?} (ids are numbers)"),
        ))
    })
}

#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    pub page: Option<String>,
    /// RFC 3339: the resolved incidents listed are those resolved since (default: all).
    pub resolved_since: Option<String>,
    pub limit: Option<String>,
}

/// `GET /api/v1/status-incidents?page=SLUG[&resolved_since=TIME][&limit=N]`: newest first.
pub async fn list(State(s): State<AppState>, Query(p): Query<ListParams>) -> Response {
    let slug = p.page.as_deref().map(str::trim).unwrap_or_default();
    if slug.is_empty() {
        return error(
            StatusCode::BAD_REQUEST,
            format!(
                "page: a status page's slug ({})",
                known(&s.status_pages.get())
            ),
        );
    }
    if page_of(&s, slug).is_none() {
        return error(
            StatusCode::BAD_REQUEST,
            format!(
                "page: no status page {slug:?} ({})",
                known(&s.status_pages.get())
            ),
        );
    }
    let since = match p.resolved_since.as_deref().map(str::trim) {
        None | Some("") => MIN_TIME,
        Some(t) => {
            match time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339) {
                Ok(t) => crate::store::to_micros(t),
                Err(_) => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "resolved_since: expected a time such as 2026-12-05T22:00:00Z",
                    );
                }
            }
        }
    };
    let limit = match p.limit.as_deref().map(str::trim) {
        None | Some("") => LIST_DEFAULT,
        Some(n) => match n.parse::<u32>() {
            Ok(n) if (1..=LIST_MAX).contains(&n) => n,
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("limit: a number from 1 to {LIST_MAX}"),
                );
            }
        },
    };
    let Some(book) = &s.status_book else {
        return Json(json!({ "incidents": [] })).into_response();
    };
    match book.status_incidents(slug, since, limit).await {
        Ok(list) => Json(json!({ "incidents": list.iter().map(represent).collect::<Vec<_>>() }))
            .into_response(),
        Err(e) => Refused::Store(e).into_response(),
    }
}

/// `GET /api/v1/status-incidents/{id}`.
pub async fn get_one(State(s): State<AppState>, Path(raw): Path<String>) -> Response {
    let id = match id_of(&raw) {
        Ok(id) => id,
        Err(r) => return *r,
    };
    let Some(book) = &s.status_book else {
        return Refused::Unknown(id).into_response();
    };
    match book.status_incident(id).await {
        Ok(Some(i)) => Json(represent(&i)).into_response(),
        Ok(None) => Refused::Unknown(id).into_response(),
        Err(e) => Refused::Store(e).into_response(),
    }
}

/// `POST /api/v1/status-incidents`: opens one (201 with it).
pub async fn create(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let book = match writable(&s) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let doc = match json_body(&headers, &body) {
        Ok(d) => d,
        Err(r) => return *r,
    };
    match open(&s, &*book, &doc).await {
        Ok(made) => (StatusCode::CREATED, Json(represent(&made))).into_response(),
        Err(r) => r.into_response(),
    }
}

/// `POST /api/v1/status-incidents/{id}/updates`: posts an update (201 with the incident);
/// 409 once it is resolved.
pub async fn create_update(
    State(s): State<AppState>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let book = match writable(&s) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let id = match id_of(&raw) {
        Ok(id) => id,
        Err(r) => return *r,
    };
    let doc = match json_body(&headers, &body) {
        Ok(d) => d,
        Err(r) => return *r,
    };
    match post_update(&s, &*book, id, &doc).await {
        Ok(done) => (StatusCode::CREATED, Json(represent(&done))).into_response(),
        Err(r) => r.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::status_pages::{Component, Group, Watches};

    fn pages() -> Vec<StatusPage> {
        let component = |name: &str, target: &str| Component {
            name: name.into(),
            watches: Watches::Target(target.into()),
        };
        vec![StatusPage::new(
            "main",
            "Main",
            vec![Group {
                name: "Core".into(),
                components: vec![component("API", "api"), component("Web site", "web")],
            }],
        )]
    }

    #[test]
    fn a_request_becomes_an_incident_with_its_defaults() {
        let new = incident_from(
            &json!({"page": "main", "title": "  API errors ", "body": "Looking.",
                    "components": [{"component": "API", "status": "major_outage"}]}),
            &pages(),
            Some("ana".into()),
        )
        .unwrap();
        assert_eq!(new.title, "API errors");
        assert_eq!(new.impact, Impact::Minor);
        assert_eq!(new.status, UpdateStatus::Investigating);
        assert_eq!(new.author.as_deref(), Some("ana"));
        assert_eq!(new.components[0].component, "API");
        // Markdown as written, but for trailing blanks.
        let code = incident_from(
            &json!({"page": "main", "title": "t", "body": "    indented code\n\n"}),
            &pages(),
            None,
        )
        .unwrap();
        assert_eq!(code.body, "    indented code");
        let u = update_from(
            &json!({"status": "resolved", "body": "Fixed.", "author": "bo"}),
            pages().first(),
            "main",
            Some("ana".into()),
        )
        .unwrap();
        assert_eq!(u.status, UpdateStatus::Resolved);
        assert_eq!((u.impact, u.components), (None, None), "unchanged");
        assert_eq!(u.author.as_deref(), Some("bo"));
    }

    #[test]
    fn bad_requests_name_the_field() {
        let ok = || json!({"page": "main", "title": "t", "body": "b"});
        let with = |k: &str, v: Value| {
            let mut d = ok();
            d[k] = v;
            d
        };
        for (doc, says) in [
            (
                with("page", json!("other")),
                "page: no status page \"other\" (pages: main)",
            ),
            (with("page", Value::Null), "page: a status page's slug"),
            (with("title", json!(" ")), "title:"),
            (with("title", json!("x".repeat(201))), "title: at most 200"),
            (with("title", json!("two\nlines")), "title: one line"),
            (
                with("body", json!("x".repeat(20_001))),
                "body: at most 20000",
            ),
            (with("body", json!(7)), "body: expected a string"),
            (
                with("impact", json!("huge")),
                "impact: one of none, minor, major, critical",
            ),
            (
                with("status", json!("fixed")),
                "status: one of investigating",
            ),
            (
                with("components", json!("API")),
                "components: expected a list",
            ),
            (
                with(
                    "components",
                    json!([{"component": "DB", "status": "major_outage"}]),
                ),
                "components[0].component: page main has no component \"DB\" (it has: API, Web site)",
            ),
            (
                with(
                    "components",
                    json!([{"component": "API", "status": "down"}]),
                ),
                "components[0].status: one of operational",
            ),
            (
                with(
                    "components",
                    json!([{"component": "API", "status": "major_outage"},
                           {"component": "API", "status": "partial_outage"}]),
                ),
                "components[1].component: \"API\" is listed twice",
            ),
            (
                with(
                    "components",
                    json!([{"component": "API", "status": "major_outage", "x": 1}]),
                ),
                "components[0].x: not a field",
            ),
            (with("titel", json!("t")), "titel: not a field"),
            (json!([]), "a JSON object"),
        ] {
            let e = incident_from(&doc, &pages(), None).unwrap_err();
            assert!(e.starts_with(says), "{doc}: {e}");
        }
        // 20,000 characters, not bytes.
        assert!(incident_from(&with("body", json!("é".repeat(20_000))), &pages(), None).is_ok());
        let e = update_from(&json!({"body": "b"}), None, "gone", None).unwrap_err();
        assert!(e.starts_with("status: one of"), "{e}");
        let e = update_from(
            &json!({"status": "identified", "body": "b",
                    "components": [{"component": "API", "status": "major_outage"}]}),
            None,
            "gone",
            None,
        )
        .unwrap_err();
        assert!(e.contains("page gone is no longer served"), "{e}");
    }
}
