//! The incidents page: every target's incidents, newest first, ongoing ones alone on demand.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;

use super::{Frame, IncidentRow, Pager, incident_rows, query_string, render};
use crate::store::{IncidentQuery, now_micros};
use crate::web::{AppError, AppState};

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
    frame: Frame,
    filters: Vec<(&'static str, String, bool)>,
    incidents: Vec<IncidentRow>,
    pager: Pager,
}

pub async fn incidents(State(s): State<AppState>, Query(p): Query<IncidentParams>) -> Response {
    let page = incidents_page(&s, p).await;
    page.unwrap_or_else(|e| super::error_page(&s, e))
}

async fn incidents_page(s: &AppState, p: IncidentParams) -> Result<Response, AppError> {
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
            offset: (page - 1).saturating_mul(per),
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
    let tpl = IncidentsPage {
        frame: Frame::new(s, "incidents", now),
        filters: vec![
            ("All", "/incidents".into(), !open_only),
            ("Ongoing", "/incidents?open=1".into(), open_only),
        ],
        incidents: incident_rows(&list, &super::incidents_alerts(s, &list).await, now),
        pager: Pager::new(
            page,
            per,
            (list.len(), total, "incident"),
            href,
            ("← Newer", "Older →"),
        ),
    };
    render(&tpl)
}
