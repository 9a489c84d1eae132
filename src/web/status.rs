//! Public status pages (`status_pages:`): `/status/<slug>` (HTML, no JavaScript) and the
//! Statuspage-shaped `/status/<slug>/api/v2/status.json` and `summary.json`. Public even when
//! the dashboard needs credentials: they show components' statuses, never targets' URLs or
//! error texts. docs/status-pages.md is the user's page.

use askama::Template;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde_json::{Value, json};

use super::AppState;
use crate::config::status_pages::{StatusPage, Watches};
use crate::store::alerts::NoticeTarget;
use crate::store::alerts::gate::Standing;
use crate::store::{Status, TargetSummary, now_micros, rfc3339};

/// A component's status, as Statuspage names them, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ComponentStatus {
    Operational,
    UnderMaintenance,
    DegradedPerformance,
    PartialOutage,
    MajorOutage,
}

impl ComponentStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            ComponentStatus::Operational => "operational",
            ComponentStatus::UnderMaintenance => "under_maintenance",
            ComponentStatus::DegradedPerformance => "degraded_performance",
            ComponentStatus::PartialOutage => "partial_outage",
            ComponentStatus::MajorOutage => "major_outage",
        }
    }

    /// As the page says it (none of the banner's texts).
    pub const fn label(self) -> &'static str {
        match self {
            ComponentStatus::Operational => "Operational",
            ComponentStatus::UnderMaintenance => "Under maintenance",
            ComponentStatus::DegradedPerformance => "Degraded performance",
            ComponentStatus::PartialOutage => "Partial outage",
            ComponentStatus::MajorOutage => "Major outage",
        }
    }
}

/// The page's overall status: Statuspage's indicator and the banner's text, by the worst
/// component.
pub fn overall(worst: ComponentStatus) -> (&'static str, &'static str) {
    match worst {
        ComponentStatus::Operational => ("none", "All Systems Operational"),
        ComponentStatus::UnderMaintenance => ("maintenance", "Service Under Maintenance"),
        ComponentStatus::DegradedPerformance => ("minor", "Minor Service Outage"),
        ComponentStatus::PartialOutage => ("major", "Partial System Outage"),
        ComponentStatus::MajorOutage => ("critical", "Major System Outage"),
    }
}

/// One target's status on a page: `maintenance` says a maintenance window covers it now.
fn target_status(t: &TargetSummary, maintenance: bool) -> ComponentStatus {
    if maintenance {
        return ComponentStatus::UnderMaintenance;
    }
    match t.status {
        Status::Down => ComponentStatus::MajorOutage,
        Status::Degraded | Status::Flapping => ComponentStatus::DegradedPerformance,
        Status::Up | Status::Unknown | Status::Paused => ComponentStatus::Operational,
    }
}

/// A component's status from its targets' (`down`: how many down make a major outage; `None`:
/// all of them).
fn component_status(of: &[ComponentStatus], down: Option<u32>) -> ComponentStatus {
    if of.is_empty() {
        return ComponentStatus::Operational;
    }
    let failing = of
        .iter()
        .filter(|s| **s == ComponentStatus::MajorOutage)
        .count();
    let needed = down.map_or(of.len(), |k| k as usize).min(of.len());
    if failing > 0 && failing >= needed {
        ComponentStatus::MajorOutage
    } else if failing > 0 {
        ComponentStatus::PartialOutage
    } else if of.contains(&ComponentStatus::DegradedPerformance) {
        ComponentStatus::DegradedPerformance
    } else if of.iter().all(|s| *s == ComponentStatus::UnderMaintenance) {
        ComponentStatus::UnderMaintenance
    } else {
        ComponentStatus::Operational
    }
}

/// A component as shown.
pub struct Shown {
    pub name: String,
    pub status: ComponentStatus,
}

/// A page's groups with their components' statuses, and the worst of them.
pub struct Summary {
    pub groups: Vec<(String, Vec<Shown>)>,
    pub worst: ComponentStatus,
}

/// What a page shows now, from the targets' live states; `maintenance` says which targets a
/// maintenance window covers now.
pub fn summarize(
    page: &StatusPage,
    targets: &[TargetSummary],
    maintenance: &dyn Fn(&TargetSummary) -> bool,
) -> Summary {
    let mut worst = ComponentStatus::Operational;
    let groups = page
        .groups
        .iter()
        .map(|g| {
            let shown = g
                .components
                .iter()
                .map(|c| {
                    let status = match &c.watches {
                        Watches::Target(id) => targets
                            .iter()
                            .find(|t| t.id == *id)
                            .map_or(ComponentStatus::Operational, |t| {
                                target_status(t, maintenance(t))
                            }),
                        Watches::Tag { tag, down } => {
                            let of: Vec<ComponentStatus> = targets
                                .iter()
                                .filter(|t| t.tags.contains(tag) && t.removed_at.is_none())
                                .map(|t| target_status(t, maintenance(t)))
                                .collect();
                            component_status(&of, *down)
                        }
                    };
                    worst = worst.max(status);
                    Shown {
                        name: c.name.clone(),
                        status,
                    }
                })
                .collect();
            (g.name.clone(), shown)
        })
        .collect();
    Summary { groups, worst }
}

/// The page of `slug` and what it shows now; `None` when there is no such page.
async fn current(s: &AppState, slug: &str) -> Result<Option<(StatusPage, Summary)>, Response> {
    let Some(page) = s.status_pages.iter().find(|p| p.slug == slug).cloned() else {
        return Ok(None);
    };
    let targets = s.store.all_targets().await.map_err(|e| {
        tracing::error!(error = %e, page = slug, "status page: the store failed");
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "the status is not available right now",
        )
            .into_response()
    })?;
    let now = now_micros();
    let gate = super::pages::gate(s, now).await;
    let in_maintenance = |t: &TargetSummary| {
        gate.as_ref().is_some_and(|g| {
            let nt = NoticeTarget {
                id: t.id.clone(),
                name: t.name.clone(),
                url: String::new(),
                tags: t.tags.clone(),
            };
            matches!(g.standing(&nt, now), Some(Standing::Maintenance { .. }))
        })
    };
    let summary = summarize(&page, &targets, &in_maintenance);
    Ok(Some((page, summary)))
}

fn not_found(slug: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CACHE_CONTROL, "no-store")],
        format!("no status page {slug}\n"),
    )
        .into_response()
}

struct ShownRow {
    name: String,
    class: &'static str,
    label: &'static str,
}

#[derive(Template)]
#[template(path = "status.html")]
struct PageView {
    slug: String,
    title: String,
    description: String,
    indicator: &'static str,
    banner: &'static str,
    groups: Vec<(String, Vec<ShownRow>)>,
    updated: String,
}

/// `GET /status/<slug>`.
pub async fn page(State(s): State<AppState>, Path(slug): Path<String>) -> Response {
    let (page, summary) = match current(&s, &slug).await {
        Ok(Some(x)) => x,
        Ok(None) => return not_found(&slug),
        Err(r) => return r,
    };
    let (indicator, banner) = overall(summary.worst);
    let view = PageView {
        slug: page.slug,
        title: page.title,
        description: page.description.unwrap_or_default(),
        indicator,
        banner,
        groups: summary
            .groups
            .into_iter()
            .map(|(name, shown)| {
                let rows = shown
                    .into_iter()
                    .map(|c| ShownRow {
                        name: c.name,
                        class: c.status.as_str(),
                        label: c.status.label(),
                    })
                    .collect();
                (name, rows)
            })
            .collect(),
        updated: super::format::datetime(now_micros()),
    };
    match view.render() {
        Ok(html) => ([(header::CACHE_CONTROL, "public, max-age=30")], Html(html)).into_response(),
        Err(e) => {
            tracing::error!("status page: template: {e}");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

fn page_doc(page: &StatusPage) -> Value {
    json!({
        "id": page.slug,
        "name": page.title,
        "url": format!("/status/{}", page.slug),
        "updated_at": rfc3339(now_micros()),
    })
}

fn status_doc(worst: ComponentStatus) -> Value {
    let (indicator, description) = overall(worst);
    json!({ "indicator": indicator, "description": description })
}

/// `GET /status/<slug>/api/v2/status.json`.
pub async fn status_json(State(s): State<AppState>, Path(slug): Path<String>) -> Response {
    match current(&s, &slug).await {
        Ok(Some((page, summary))) => Json(json!({
            "page": page_doc(&page),
            "status": status_doc(summary.worst),
        }))
        .into_response(),
        Ok(None) => not_found(&slug),
        Err(r) => r,
    }
}

/// The page's components as Statuspage lists them: each group, then its components.
fn components_doc(page: &StatusPage, summary: &Summary) -> Vec<Value> {
    let mut components = Vec::new();
    for (g, (name, shown)) in summary.groups.iter().enumerate() {
        let group_id = format!("{}-g{g}", page.slug);
        let ids: Vec<String> = (0..shown.len())
            .map(|c| format!("{group_id}-c{c}"))
            .collect();
        let group_status = shown
            .iter()
            .map(|c| c.status)
            .max()
            .unwrap_or(ComponentStatus::Operational);
        components.push(json!({
            "id": group_id, "name": name, "status": group_status.as_str(), "group": true,
            "group_id": null, "components": ids, "position": components.len() + 1,
        }));
        for (c, comp) in shown.iter().enumerate() {
            components.push(json!({
                "id": ids[c], "name": comp.name, "status": comp.status.as_str(), "group": false,
                "group_id": group_id, "position": components.len() + 1,
            }));
        }
    }
    components
}

/// `GET /status/<slug>/api/v2/summary.json`: the page, its components and the overall
/// status.
pub async fn summary_json(State(s): State<AppState>, Path(slug): Path<String>) -> Response {
    let (page, summary) = match current(&s, &slug).await {
        Ok(Some(x)) => x,
        Ok(None) => return not_found(&slug),
        Err(r) => return r,
    };
    Json(json!({
        "page": page_doc(&page),
        "status": status_doc(summary.worst),
        "components": components_doc(&page, &summary),
        "incidents": [],
        "scheduled_maintenances": [],
    }))
    .into_response()
}

/// `GET /status/<slug>/api/v2/components.json`.
pub async fn components_json(State(s): State<AppState>, Path(slug): Path<String>) -> Response {
    match current(&s, &slug).await {
        Ok(Some((page, summary))) => Json(json!({
            "page": page_doc(&page),
            "components": components_doc(&page, &summary),
        }))
        .into_response(),
        Ok(None) => not_found(&slug),
        Err(r) => r,
    }
}

#[cfg(test)]
mod tests {
    use super::ComponentStatus::*;
    use super::*;

    #[test]
    fn a_tag_component_follows_its_rule_and_the_banner_the_worst() {
        let s = |list: &[ComponentStatus], down| component_status(list, down);
        assert_eq!(
            s(&[MajorOutage, Operational], None),
            PartialOutage,
            "all: one of two"
        );
        assert_eq!(s(&[MajorOutage, MajorOutage], None), MajorOutage);
        assert_eq!(s(&[MajorOutage, Operational], Some(1)), MajorOutage, "any");
        assert_eq!(
            s(&[MajorOutage, Operational, Operational], Some(2)),
            PartialOutage
        );
        assert_eq!(
            s(&[DegradedPerformance, Operational], None),
            DegradedPerformance
        );
        assert_eq!(
            s(&[UnderMaintenance, UnderMaintenance], None),
            UnderMaintenance
        );
        assert_eq!(s(&[UnderMaintenance, Operational], None), Operational);
        assert_eq!(s(&[], None), Operational);
        assert_eq!(overall(Operational), ("none", "All Systems Operational"));
        assert_eq!(
            overall(UnderMaintenance),
            ("maintenance", "Service Under Maintenance")
        );
        assert_eq!(
            overall(DegradedPerformance),
            ("minor", "Minor Service Outage")
        );
        assert_eq!(overall(PartialOutage), ("major", "Partial System Outage"));
        assert_eq!(overall(MajorOutage), ("critical", "Major System Outage"));
        // The labels never say what the banner says.
        let all = [
            Operational,
            UnderMaintenance,
            DegradedPerformance,
            PartialOutage,
            MajorOutage,
        ];
        for c in all {
            for b in all {
                assert!(
                    !c.label().contains(overall(b).1),
                    "{c:?} says {b:?}'s banner"
                );
            }
        }
    }
}
