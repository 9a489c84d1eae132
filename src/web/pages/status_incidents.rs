//! The status incidents page (`/status-incidents`): for each status page, its written incidents
//! (newest first, with their updates) with a form per unresolved one to post an update, and a
//! form to open one. The forms are read by the API's own `incident_from` and `update_from`
//! and post with an anti-forgery token (`web::csrf`); a form with an error comes back with
//! what was typed. Markdown is shown as written: the status pages render it.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{Map, Value, json};

use super::{Frame, message_page, render};
use crate::config::status_pages::StatusPage;
use crate::store::status::{Impact, StatusIncident, UpdateStatus};
use crate::store::{MIN_TIME, now_micros};
use crate::web::status::model::ComponentStatus;
use crate::web::status_incidents::{self as api, Refused};
use crate::web::{AppState, csrf, format};

/// How many incidents of each page are listed.
const SHOWN: u32 = 50;
/// The token's action of the open form.
const OPEN: &str = "status-incident-open";

const NO_BOOK: &str = "This process keeps no status incidents: they are written in the uptimer \
                       serve that writes the store (or serve --store postgres://…).";
const NEEDS_AUTH: &str = "Writing status incidents from the dashboard needs its credentials \
                          (set WEB_AUTH_TOKEN or WEB_AUTH_BASIC), or a browser on this machine \
                          opening it as http://127.0.0.1:… or http://localhost:….";
const NO_PAGES: &str = "No status pages yet: add status_pages: to the config file, or make one \
                        with POST /api/v1/status-pages (docs/status-pages.md).";

/// An option of a select.
struct Choice {
    value: &'static str,
    label: &'static str,
    selected: bool,
}

fn choices<T: Copy + PartialEq>(
    all: &[T],
    value: impl Fn(T) -> &'static str,
    label: impl Fn(T) -> &'static str,
    chosen: &str,
) -> Vec<Choice> {
    all.iter()
        .map(|&x| Choice {
            value: value(x),
            label: label(x),
            selected: value(x) == chosen,
        })
        .collect()
}

fn update_statuses(chosen: &str) -> Vec<Choice> {
    choices(
        &UpdateStatus::ALL,
        UpdateStatus::as_str,
        UpdateStatus::label,
        chosen,
    )
}

fn impacts(chosen: &str) -> Vec<Choice> {
    choices(&Impact::ALL, Impact::as_str, Impact::as_str, chosen)
}

/// A component's select in the open form: not affected (empty) or the status it is given.
struct ComponentChoice {
    name: String,
    field: String,
    id: String,
    options: Vec<Choice>,
}

/// What the open form of a page shows: what was typed, and what was wrong with it.
#[derive(Default, Clone)]
struct OpenForm {
    title: String,
    impact: String,
    status: String,
    body: String,
    author: String,
    /// Component name → the status chosen.
    components: Vec<(String, String)>,
    error: String,
}

/// What an update form shows.
#[derive(Default, Clone)]
struct UpdateForm {
    status: String,
    body: String,
    author: String,
    error: String,
}

struct UpdateView {
    status: &'static str,
    at: String,
    author: String,
    body: String,
}

struct IncidentView {
    id: i64,
    title: String,
    impact: &'static str,
    status: &'static str,
    status_label: &'static str,
    opened: String,
    resolved: String,
    components: String,
    updates: Vec<UpdateView>,
    /// Where its update form posts (unresolved ones only), and its token.
    action: String,
    csrf: String,
    statuses: Vec<Choice>,
    form: UpdateForm,
}

struct PageView {
    slug: String,
    title: String,
    components: Vec<ComponentChoice>,
    impacts: Vec<Choice>,
    statuses: Vec<Choice>,
    form: OpenForm,
    incidents: Vec<IncidentView>,
}

#[derive(Template)]
#[template(path = "status_incidents.html")]
struct StatusIncidentsPage {
    frame: Frame,
    /// This browser may post the forms.
    forms: bool,
    note: &'static str,
    csrf: String,
    pages: Vec<PageView>,
}

/// A form sent back with its error.
enum Typed {
    Nothing,
    Open { slug: String, form: OpenForm },
    Update { id: i64, form: UpdateForm },
}

/// `GET /status-incidents`.
pub async fn status_incidents(State(s): State<AppState>, headers: HeaderMap) -> Response {
    page(&s, &headers, StatusCode::OK, Typed::Nothing).await
}

async fn page(s: &AppState, headers: &HeaderMap, status: StatusCode, typed: Typed) -> Response {
    let now = now_micros();
    let mut frame = Frame::new(s, "status-incidents", now);
    // Refreshing in place would lose what is being typed.
    frame.refresh = 0;
    let may = csrf::may_post(s.auth.as_ref(), s.listen_loopback, headers);
    let served = s.status_pages.get();
    let note = if served.is_empty() {
        NO_PAGES
    } else if s.status_book.is_none() {
        NO_BOOK
    } else if may {
        ""
    } else {
        NEEDS_AUTH
    };
    let mut pages = Vec::new();
    for p in served.iter() {
        let listed = match &s.status_book {
            Some(book) => match book.status_incidents(&p.slug, MIN_TIME, SHOWN).await {
                Ok(l) => l,
                Err(e) => return super::error_page(s, e.into()),
            },
            None => Vec::new(),
        };
        pages.push(page_view(p, listed, &typed, now));
    }
    let tpl = StatusIncidentsPage {
        frame,
        forms: s.status_book.is_some() && may,
        note,
        csrf: csrf::token(OPEN),
        pages,
    };
    match render(&tpl) {
        Ok(mut r) => {
            *r.status_mut() = status;
            r
        }
        Err(e) => super::error_page(s, e),
    }
}

fn page_view(p: &StatusPage, listed: Vec<StatusIncident>, typed: &Typed, now: i64) -> PageView {
    let form = match typed {
        Typed::Open { slug, form } if *slug == p.slug => form.clone(),
        _ => OpenForm {
            impact: Impact::default().as_str().into(),
            status: UpdateStatus::Investigating.as_str().into(),
            ..OpenForm::default()
        },
    };
    let components = api::component_names(p)
        .into_iter()
        .enumerate()
        .map(|(n, name)| {
            let chosen = form
                .components
                .iter()
                .find(|(c, _)| c == name)
                .map_or("", |(_, s)| s.as_str());
            let mut options = vec![Choice {
                value: "",
                label: "not affected",
                selected: chosen.is_empty(),
            }];
            options.extend(choices(
                &ComponentStatus::ALL,
                ComponentStatus::as_str,
                ComponentStatus::label,
                chosen,
            ));
            ComponentChoice {
                name: name.to_owned(),
                field: format!("component:{name}"),
                id: format!("f-{}-c{n}", p.slug),
                options,
            }
        })
        .collect();
    PageView {
        slug: p.slug.clone(),
        title: p.title.clone(),
        components,
        impacts: impacts(&form.impact),
        statuses: update_statuses(&form.status),
        incidents: listed
            .into_iter()
            .map(|i| incident_view(i, typed, now))
            .collect(),
        form,
    }
}

fn incident_view(i: StatusIncident, typed: &Typed, now: i64) -> IncidentView {
    let form = match typed {
        Typed::Update { id, form } if *id == i.id => form.clone(),
        _ => UpdateForm::default(),
    };
    let current = i.status();
    // The next step of Statuspage's sequence, as the form's default.
    let next = match current {
        UpdateStatus::Investigating => UpdateStatus::Identified,
        UpdateStatus::Identified => UpdateStatus::Monitoring,
        UpdateStatus::Monitoring | UpdateStatus::Resolved => UpdateStatus::Resolved,
    };
    let chosen = if form.status.is_empty() {
        next.as_str()
    } else {
        form.status.as_str()
    };
    let components: Vec<String> = i
        .components
        .iter()
        .map(|a| {
            let label = ComponentStatus::parse(&a.status).map_or(a.status.as_str(), |c| c.label());
            format!("{}: {label}", a.component)
        })
        .collect();
    IncidentView {
        id: i.id,
        impact: i.impact.as_str(),
        status: current.as_str(),
        status_label: current.label(),
        opened: format::clock(i.created_at, now),
        resolved: i
            .resolved_at
            .map(|at| format::clock(at, now))
            .unwrap_or_default(),
        components: components.join(", "),
        updates: i
            .updates
            .iter()
            .rev()
            .map(|u| UpdateView {
                status: u.status.label(),
                at: format::clock(u.at, now),
                author: u.author.clone().unwrap_or_default(),
                body: u.body.clone(),
            })
            .collect(),
        action: if i.resolved_at.is_none() {
            format!("/status-incidents/{}/updates", i.id)
        } else {
            String::new()
        },
        csrf: csrf::token(&update_action(i.id)),
        statuses: update_statuses(chosen),
        form,
        title: i.title,
    }
}

fn update_action(id: i64) -> String {
    format!("status-incident-update:{id}")
}

/// Why a post is not taken: nothing to write to here, or this browser may not post.
fn refused(s: &AppState, headers: &HeaderMap) -> Option<Response> {
    let missing = s
        .status_book
        .is_none()
        .then_some(("No status incidents", NO_BOOK));
    super::refused_post(s, headers, missing, NEEDS_AUTH)
}

/// The fields of a posted form, in order.
fn fields(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn field(all: &[(String, String)], name: &str) -> String {
    all.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

/// A form's text as the API's request: absent when empty.
fn optional(v: &str) -> Value {
    let v = v.trim();
    if v.is_empty() { Value::Null } else { json!(v) }
}

/// `POST /status-incidents`: opens an incident and shows the page again (303), or the form
/// with its error.
pub async fn open_status_incident(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = refused(&s, &headers) {
        return r;
    }
    let Some(book) = s.status_book.clone() else {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    };
    let all = fields(&body);
    let slug = field(&all, "page");
    let mut form = OpenForm {
        title: field(&all, "title"),
        impact: field(&all, "impact"),
        status: field(&all, "status"),
        body: field(&all, "body"),
        author: field(&all, "author"),
        components: all
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix("component:")?.to_owned(), v.clone())))
            .filter(|(_, v)| !v.is_empty())
            .collect(),
        error: String::new(),
    };
    if let Err(r) = csrf::check(OPEN, &field(&all, "csrf")) {
        form.error = super::manage::refused_message(r).into();
        return page(
            &s,
            &headers,
            StatusCode::FORBIDDEN,
            Typed::Open { slug, form },
        )
        .await;
    }
    let mut request = Map::new();
    request.insert("page".into(), json!(slug));
    request.insert("title".into(), json!(form.title));
    request.insert("impact".into(), optional(&form.impact));
    request.insert("status".into(), optional(&form.status));
    request.insert("body".into(), json!(form.body));
    request.insert("author".into(), optional(&form.author));
    request.insert(
        "components".into(),
        form.components
            .iter()
            .map(|(c, status)| json!({"component": c, "status": status}))
            .collect(),
    );
    match api::open(&s, &*book, &Value::Object(request)).await {
        Ok(_) => Redirect::to("/status-incidents").into_response(),
        Err(Refused::Invalid(e)) if s.status_pages.find(&slug).is_some() => {
            form.error = e;
            page(
                &s,
                &headers,
                StatusCode::BAD_REQUEST,
                Typed::Open { slug, form },
            )
            .await
        }
        Err(r) => refusal_page(&s, r),
    }
}

/// `POST /status-incidents/{id}/updates`: posts an update and shows the page again (303), or
/// the form with its error.
pub async fn update_status_incident(
    State(s): State<AppState>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = refused(&s, &headers) {
        return r;
    }
    let Some(book) = s.status_book.clone() else {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    };
    let Ok(id) = raw.parse::<i64>() else {
        return refusal_page(&s, Refused::Invalid(format!("no status incident {raw:?}")));
    };
    let all = fields(&body);
    let mut form = UpdateForm {
        status: field(&all, "status"),
        body: field(&all, "body"),
        author: field(&all, "author"),
        error: String::new(),
    };
    if let Err(r) = csrf::check(&update_action(id), &field(&all, "csrf")) {
        form.error = super::manage::refused_message(r).into();
        return page(
            &s,
            &headers,
            StatusCode::FORBIDDEN,
            Typed::Update { id, form },
        )
        .await;
    }
    let request = json!({
        "status": optional(&form.status),
        "body": form.body,
        "author": optional(&form.author),
    });
    match api::post_update(&s, &*book, id, &request).await {
        Ok(_) => Redirect::to("/status-incidents").into_response(),
        Err(Refused::Invalid(e)) => {
            form.error = e;
            page(
                &s,
                &headers,
                StatusCode::BAD_REQUEST,
                Typed::Update { id, form },
            )
            .await
        }
        Err(r) => refusal_page(&s, r),
    }
}

fn refusal_page(s: &AppState, r: Refused) -> Response {
    let status = r.status();
    let title = match status {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::CONFLICT => "Resolved already",
        StatusCode::BAD_REQUEST => "Bad request",
        _ => "Something went wrong",
    };
    message_page(s, status, title, r.message())
}
