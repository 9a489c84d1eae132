//! The incidents page: every target's incidents, newest first, ongoing ones alone on demand.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;

use super::{IncidentRow, REFRESH_S, VERSION, incident_rows, query_string, render};
use crate::store::{IncidentQuery, now_micros};
use crate::web::{AppError, AppState, format};

#[derive(Debug, Default, Deserialize)]
pub struct IncidentParams {
    #[serde(default)]
    pub open: String,
    #[serde(default)]
    pub page: Option<u32>,
}

#[derive(Template)]
#[template(path = "incidents.html")]
struct IncidentsPage {
    base: &'static str,
    version: &'static str,
    nav: &'static str,
    store_kind: &'static str,
    rendered: String,
    refresh: u32,
    filters: Vec<(&'static str, String, bool)>,
    incidents: Vec<IncidentRow>,
    prev: Option<String>,
    next: Option<String>,
    showing: String,
}

pub async fn incidents(
    State(s): State<AppState>,
    Query(p): Query<IncidentParams>,
) -> Result<Response, AppError> {
    let now = now_micros();
    let open_only = matches!(p.open.as_str(), "1" | "true" | "yes");
    let page = p.page.unwrap_or(1).max(1);
    let per = 50;
    let (list, total) = s
        .store
        .incidents(IncidentQuery {
            target: None,
            open_only,
            limit: per,
            offset: (page - 1) * per,
        })
        .await?;
    let href = |page: u32| {
        let pg = page.to_string();
        format!(
            "/incidents{}",
            query_string(&[
                ("open", if open_only { "1" } else { "" }),
                ("page", if page > 1 { &pg } else { "" })
            ])
        )
    };
    let first = u64::from((page - 1) * per);
    let shown_to = first + list.len() as u64;
    let tpl = IncidentsPage {
        base: "",
        version: VERSION,
        nav: "incidents",
        store_kind: s.store.kind(),
        rendered: format::datetime(now),
        refresh: REFRESH_S,
        filters: vec![
            ("All", "/incidents".into(), !open_only),
            ("Ongoing", "/incidents?open=1".into(), open_only),
        ],
        incidents: incident_rows(&list, now),
        prev: (page > 1).then(|| href(page - 1)),
        next: (shown_to < total).then(|| href(page + 1)),
        showing: if total == 0 {
            "0 incidents".into()
        } else {
            format!("{}–{} of {}", first + 1, shown_to, total)
        },
    };
    render(&tpl)
}
