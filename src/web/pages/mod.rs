//! The HTML pages: overview, target, incidents. Handlers turn store answers into small view
//! structs of display strings; the templates only lay them out (askama escapes every `{{ }}`
//! except the SVG built and escaped in `charts`).

mod incidents;
mod overview;
mod target;

use askama::Template;
use axum::response::{Html, IntoResponse, Response};

use super::{AppError, format};
use crate::store::Micros;

pub use incidents::incidents;
pub use overview::{OverviewParams, overview};
pub use target::target;

pub(super) const VERSION: &str = env!("CARGO_PKG_VERSION");
/// Targets per overview page.
pub const PER_PAGE: u32 = 50;
/// Seconds between in-place refreshes of a page.
const REFRESH_S: u32 = 10;

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
}

fn incident_rows(list: &[crate::store::Incident], now: Micros) -> Vec<IncidentRow> {
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
        })
        .collect()
}
