//! The HTML pages: overview, target, incidents, silences, and the forms that add, edit, pause
//! and delete targets. Handlers turn store answers into small view
//! structs of display strings; the templates only lay them out (askama escapes every `{{ }}`
//! except the SVG built and escaped in `charts`).

mod details;
mod incidents;
mod manage;
mod overview;
mod silences;
mod status_incidents;
mod target;
mod target_form;

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use super::{AppError, AppState, format};
use crate::store::alerts::NoticeTarget;
use crate::store::alerts::gate::{Gate, Standing};
use crate::store::{Micros, now_micros};

pub use incidents::incidents;
pub use manage::{
    confirm_delete, create_target, delete_target, edit_target, new_target, pause_target,
    resume_target, update_target,
};
pub use overview::{OverviewParams, overview};
pub use silences::{add_silence, expire_silence, silences};
pub use status_incidents::{open_status_incident, status_incidents, update_status_incident};
pub use target::{shown_status, target};

const VERSION: &str = env!("CARGO_PKG_VERSION");
/// Targets per overview page.
pub const PER_PAGE: u32 = 50;
/// Seconds between in-place refreshes of a page.
const REFRESH_S: u32 = 10;

/// What the frame of every page (`base.html`: header, footer, refresh) shows.
pub(super) struct Frame {
    /// The path the dashboard is served under (empty: the root).
    pub base: &'static str,
    pub version: &'static str,
    /// The header link of the page (empty: none of them).
    pub nav: &'static str,
    pub store_kind: &'static str,
    pub rendered: String,
    /// Seconds between in-place refreshes (0: none).
    pub refresh: u32,
}

impl Frame {
    pub(super) fn new(s: &AppState, nav: &'static str, now: Micros) -> Frame {
        Frame {
            base: "",
            version: VERSION,
            nav,
            store_kind: s.store.kind(),
            rendered: format::datetime(now),
            refresh: REFRESH_S,
        }
    }
}

/// The links to the pages either side of a list's page, and what it shows (`51–100 of 120`).
struct Pager {
    prev: Option<(String, &'static str)>,
    next: Option<(String, &'static str)>,
    showing: String,
}

impl Pager {
    /// Page `page` (from 1) of `per` items with `shown` on it, of `total` `noun`s; `href` is
    /// the link to a page, `labels` those of the previous and next links.
    fn new(
        page: u32,
        per: u32,
        (shown, total, noun): (usize, u64, &str),
        href: impl Fn(u32) -> String,
        labels: (&'static str, &'static str),
    ) -> Pager {
        let first = u64::from(page.saturating_sub(1)) * u64::from(per);
        let shown_to = first + shown as u64;
        Pager {
            prev: (page > 1).then(|| (href(page - 1), labels.0)),
            next: (shown_to < total).then(|| (href(page.saturating_add(1)), labels.1)),
            showing: if total == 0 {
                format!("0 {noun}s")
            } else {
                format!("{}–{} of {}", first + 1, shown_to, total)
            },
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    frame: Frame,
    title: &'static str,
    message: String,
}

/// A page's error as a page of the dashboard (the API answers the same error as JSON), with
/// the same status and words.
fn error_page(s: &AppState, e: AppError) -> Response {
    let (status, message) = e.status_and_message();
    let title = match status {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::BAD_REQUEST => "Bad request",
        _ => "Something went wrong",
    };
    message_page(s, status, title, message)
}

/// Why a form's post is not taken: `missing` (the title and words of a page when what the
/// form writes to is not kept here, 405), or this browser may not post (403, `needs_auth`).
fn refused_post(
    s: &AppState,
    headers: &axum::http::HeaderMap,
    missing: Option<(&'static str, &'static str)>,
    needs_auth: &'static str,
) -> Option<Response> {
    if let Some((title, words)) = missing {
        return Some(message_page(
            s,
            StatusCode::METHOD_NOT_ALLOWED,
            title,
            words.into(),
        ));
    }
    if !super::csrf::may_post(s.auth.as_ref(), s.listen_loopback, headers) {
        return Some(message_page(
            s,
            StatusCode::FORBIDDEN,
            "Forbidden",
            needs_auth.into(),
        ));
    }
    None
}

/// A page of the dashboard that says one thing, with `status`.
fn message_page(
    s: &AppState,
    status: StatusCode,
    title: &'static str,
    message: String,
) -> Response {
    let mut frame = Frame::new(s, "", now_micros());
    frame.refresh = 0;
    match render(&ErrorPage {
        frame,
        title,
        message,
    }) {
        Ok(mut page) => {
            *page.status_mut() = status;
            page
        }
        Err(e) => e.into_response(),
    }
}

pub(super) fn render<T: Template>(t: &T) -> Result<Response, AppError> {
    t.render()
        .map(|html| Html(html).into_response())
        .map_err(|e| AppError::Store(crate::store::StoreError::Other(format!("template: {e}"))))
}

fn query_string(pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if !v.is_empty() {
            s.append_pair(k, v);
        }
    }
    let q = s.finish();
    if q.is_empty() { q } else { format!("?{q}") }
}

fn target_href(id: &str) -> String {
    format!(
        "/targets/{}",
        percent_encoding::utf8_percent_encode(id, percent_encoding::NON_ALPHANUMERIC)
    )
}

fn tag_links(tags: &[String]) -> Vec<(String, String)> {
    tags.iter()
        .map(|t| (t.clone(), format!("/{}", query_string(&[("tag", t)]))))
        .collect()
}

/// An incident as the incidents page and a target's page list it.
struct IncidentRow {
    open: bool,
    href: String,
    target: String,
    started: String,
    ended: String,
    duration: String,
    kind: String,
    error: String,
    checks: i64,
    /// What alerting did: the acknowledgement, then one line per notification.
    alerts: Vec<String>,
}

/// Alerting's lines for an incident: who acknowledged it, and each notification's channel,
/// kind and delivery (with the provider's answer when it was not delivered).
fn alert_lines(a: &crate::store::alerts::IncidentAlerts) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(ack) = &a.acknowledged {
        lines.push(match &ack.by {
            Some(by) => format!("acknowledged by {by}, {}", format::datetime(ack.at)),
            None => format!("acknowledged {}", format::datetime(ack.at)),
        });
    }
    for n in &a.notifications {
        let kind = if n.kind == "reminder" {
            format!("reminder {}", n.seq)
        } else {
            n.kind.clone()
        };
        let state = match (n.state.as_str(), &n.last_error) {
            ("sent", _) => format!(
                "sent {}",
                n.sent_at.map(format::datetime).unwrap_or_default()
            ),
            ("pending", Some(e)) => format!("retrying ({} tries): {e}", n.attempts),
            (s, Some(e)) => format!("{s}: {e}"),
            (s, None) => s.to_owned(),
        };
        lines.push(format!("{}: {kind}, {state}", n.channel));
    }
    lines
}

/// Alerting's lines per incident (none when the process keeps no alerting: read-only, or
/// PostgreSQL).
async fn incidents_alerts(
    s: &crate::web::AppState,
    list: &[crate::store::Incident],
) -> std::collections::HashMap<i64, Vec<String>> {
    let Some(acks) = &s.acks else {
        return Default::default();
    };
    match acks
        .store
        .incident_alerts(list.iter().map(|i| i.id).collect())
        .await
    {
        Ok(map) => map.iter().map(|(id, a)| (*id, alert_lines(a))).collect(),
        Err(e) => {
            tracing::warn!(error = %e, "reading the incidents' notifications failed");
            Default::default()
        }
    }
}

/// What holds targets' notifications back now, read once for a page: `None` when the process
/// keeps no alerting, nothing holds anything, or the store failed (logged: the page goes on).
pub(in crate::web) async fn gate(s: &AppState, now: Micros) -> Option<Gate> {
    let acks = s.acks.as_ref()?;
    let gate = match acks.store.silences(now, false).await {
        Ok(silences) => Gate::new(silences, &acks.live.get()),
        Err(e) => {
            tracing::warn!(error = %e, "reading the silences failed");
            return None;
        }
    };
    (!gate.is_empty()).then_some(gate)
}

/// The mark by a target whose notifications are held back.
struct Held {
    /// `maintenance` or `silenced`.
    class: &'static str,
    text: String,
    /// What holds it.
    title: String,
}

fn held(gate: Option<&Gate>, id: &str, name: &str, tags: &[String], now: Micros) -> Option<Held> {
    let t = NoticeTarget {
        id: id.into(),
        name: name.into(),
        url: String::new(),
        tags: tags.to_vec(),
    };
    Some(match gate?.standing(&t, now)? {
        Standing::Maintenance { until, why } => Held {
            class: "maintenance",
            text: format!("maintenance until {}", format::clock(until, now)),
            title: format!("{why}, until {}", format::datetime(until)),
        },
        Standing::Silenced { until, why } => Held {
            class: "silenced",
            text: "silenced".into(),
            title: format!("{why}, until {}", format::datetime(until)),
        },
    })
}

fn incident_rows(
    list: &[crate::store::Incident],
    alerts: &std::collections::HashMap<i64, Vec<String>>,
    now: Micros,
) -> Vec<IncidentRow> {
    list.iter()
        .map(|i| IncidentRow {
            open: i.ended_at.is_none(),
            href: target_href(&i.target_id),
            target: i.target_name.clone(),
            started: format::datetime(i.started_at),
            ended: match (i.ended_at, &i.end_reason) {
                (None, _) => "ongoing".into(),
                (Some(t), None) => format::datetime(t),
                (Some(t), Some(why)) => format!("{} ({why})", format::datetime(t)),
            },
            duration: format::duration(i.duration(now)),
            kind: i.error_kind.clone().unwrap_or_default(),
            error: i.error.clone().unwrap_or_default(),
            checks: i.failed_checks,
            alerts: alerts.get(&i.id).cloned().unwrap_or_default(),
        })
        .collect()
}
