//! The JSON documents in the shape of Atlassian Statuspage's public API (`/api/v2/…`), so
//! tools that read Statuspage pages read ours: `summary.json`, `status.json`,
//! `components.json`, `incidents.json`, `incidents/unresolved.json`,
//! `scheduled-maintenances.json` (with `…/upcoming.json` and `…/active.json`). Their schemas
//! are in `schemas/statuspage/`.

use serde_json::{Value, json};

use super::facts::Facts;
use super::model::{ComponentStatus, Shown, overall};
use super::notices::{Announcement, Detected};
use crate::store::rfc3339;
use crate::store::status::{StatusIncident, UpdateStatus};

/// How many incidents `incidents.json` lists (Statuspage's number).
const LISTED: usize = 50;

fn page_doc(f: &Facts) -> Value {
    json!({
        "id": f.page.slug,
        "name": f.page.title,
        "url": f.url(""),
        "time_zone": f.page.timezone.iana_name().unwrap_or("UTC"),
        "updated_at": rfc3339(f.updated_at),
    })
}

fn status_doc(f: &Facts) -> Value {
    let (indicator, description) = overall(f.summary.worst);
    json!({ "indicator": indicator, "description": description })
}

fn component_doc(f: &Facts, c: &Shown, group_id: &str, position: usize) -> Value {
    json!({
        "id": c.id, "name": c.name, "status": c.status.as_str(),
        "created_at": rfc3339(f.updated_at), "updated_at": rfc3339(f.updated_at),
        "position": position, "description": null, "showcase": true, "start_date": null,
        "group_id": group_id, "page_id": f.page.slug, "group": false,
        "only_show_if_degraded": false,
    })
}

/// Each group, then its components.
fn components_doc(f: &Facts) -> Vec<Value> {
    let mut out = Vec::new();
    for (g, (name, shown)) in f.summary.groups.iter().enumerate() {
        let group_id = format!("{}-g{g}", f.page.slug);
        let status = shown
            .iter()
            .map(|c| c.status)
            .max()
            .unwrap_or(ComponentStatus::Operational);
        out.push(json!({
            "id": group_id, "name": name, "status": status.as_str(),
            "created_at": rfc3339(f.updated_at), "updated_at": rfc3339(f.updated_at),
            "position": out.len() + 1, "description": null, "showcase": false,
            "start_date": null, "group_id": null, "page_id": f.page.slug, "group": true,
            "only_show_if_degraded": false,
            "components": shown.iter().map(|c| c.id.clone()).collect::<Vec<_>>(),
        }));
        for c in shown {
            out.push(component_doc(f, c, &group_id, out.len() + 1));
        }
    }
    out
}

/// The component documents of the components named.
fn named(f: &Facts, names: &[String]) -> Vec<Value> {
    let mut out = Vec::new();
    for (g, (_, shown)) in f.summary.groups.iter().enumerate() {
        for (i, c) in shown.iter().enumerate() {
            if names.contains(&c.name) {
                out.push(component_doc(f, c, &format!("{}-g{g}", f.page.slug), i + 1));
            }
        }
    }
    out
}

fn update_doc(
    incident: &str,
    n: usize,
    status: &str,
    body: &str,
    at: i64,
    affected: Option<Value>,
) -> Value {
    json!({
        "id": format!("{incident}-u{n}"), "status": status, "body": body,
        "incident_id": incident, "created_at": rfc3339(at), "updated_at": rfc3339(at),
        "display_at": rfc3339(at), "affected_components": affected,
        "deliver_notifications": true, "custom_tweet": null, "tweet_id": null,
    })
}

fn written_doc(f: &Facts, i: &StatusIncident) -> Value {
    let id = format!("p{}", i.id);
    let affected: Vec<Value> = i
        .components
        .iter()
        .map(|a| {
            let code = f
                .summary
                .components()
                .find(|c| c.name == a.component)
                .map_or(String::new(), |c| c.id.clone());
            json!({ "code": code, "name": a.component, "old_status": "operational",
                    "new_status": a.status })
        })
        .collect();
    let updates: Vec<Value> = i
        .updates
        .iter()
        .enumerate()
        .rev()
        .map(|(n, u)| {
            update_doc(
                &id,
                n,
                u.status.as_str(),
                &u.body,
                u.at,
                (n == 0).then(|| json!(affected)),
            )
        })
        .collect();
    let monitoring = i
        .updates
        .iter()
        .find(|u| u.status == UpdateStatus::Monitoring)
        .map(|u| rfc3339(u.at));
    let names: Vec<String> = i.components.iter().map(|a| a.component.clone()).collect();
    json!({
        "id": id, "name": i.title, "status": i.status().as_str(),
        "created_at": rfc3339(i.created_at), "updated_at": rfc3339(i.updated_at),
        "monitoring_at": monitoring, "resolved_at": i.resolved_at.map(rfc3339),
        "impact": i.impact.as_str(), "shortlink": f.url(&format!("#incident-{id}")),
        "started_at": rfc3339(i.created_at), "page_id": f.page.slug,
        "incident_updates": updates, "components": named(f, &names),
    })
}

/// A detected incident's title and first update's words (none of the banner's; a tag
/// component may be only partly down, so neither says how much).
pub fn detected_words(d: &Detected) -> (String, String) {
    let names = d.components.join(", ");
    (
        format!("Issues with {names}"),
        format!("Our monitoring detected that {names} is not responding as it should."),
    )
}

fn detected_doc(f: &Facts, d: &Detected) -> Value {
    let (title, said) = detected_words(d);
    let mut updates = Vec::new();
    if let Some(end) = d.ended_at {
        updates.push(update_doc(
            &d.id,
            1,
            "resolved",
            "Available again.",
            end,
            None,
        ));
    }
    updates.push(update_doc(
        &d.id,
        0,
        "investigating",
        &said,
        d.started_at,
        None,
    ));
    let last = d.ended_at.unwrap_or(d.started_at);
    json!({
        "id": d.id, "name": title,
        "status": if d.ended_at.is_some() { "resolved" } else { "investigating" },
        "created_at": rfc3339(d.started_at), "updated_at": rfc3339(last),
        "monitoring_at": null, "resolved_at": d.ended_at.map(rfc3339), "impact": "major",
        "shortlink": f.url(&format!("#incident-{}", d.id)),
        "started_at": rfc3339(d.started_at), "page_id": f.page.slug,
        "incident_updates": updates, "components": named(f, &d.components),
    })
}

/// The incidents, newest first: those written and, when the page shows them, those detected.
fn incidents_doc(f: &Facts, unresolved_only: bool) -> Vec<Value> {
    let mut all: Vec<(i64, Value)> = f
        .posted
        .iter()
        .filter(|i| !unresolved_only || i.resolved_at.is_none())
        .map(|i| (i.created_at, written_doc(f, i)))
        .collect();
    all.extend(
        f.detected
            .iter()
            .filter(|d| !unresolved_only || d.ended_at.is_none())
            .map(|d| (d.started_at, detected_doc(f, d))),
    );
    all.sort_by_key(|a| std::cmp::Reverse(a.0));
    all.into_iter().take(LISTED).map(|(_, v)| v).collect()
}

fn maintenance_doc(f: &Facts, m: &Announcement) -> Value {
    let status = if m.active(f.now) {
        "in_progress"
    } else {
        "scheduled"
    };
    let body = format!("Maintenance of {}.", m.components.join(", "));
    json!({
        "id": m.id, "name": m.name, "status": status,
        "created_at": rfc3339(m.starts_at), "updated_at": rfc3339(f.updated_at),
        "monitoring_at": null, "resolved_at": null, "impact": "maintenance",
        "shortlink": f.url(&format!("#maintenance-{}", m.id)),
        "started_at": rfc3339(m.starts_at), "page_id": f.page.slug,
        "incident_updates": [update_doc(&m.id, 0, status, &body, m.starts_at, None)],
        "components": named(f, &m.components),
        "scheduled_for": rfc3339(m.starts_at), "scheduled_until": rfc3339(m.ends_at),
    })
}

fn maintenances(f: &Facts, which: Option<bool>) -> Vec<Value> {
    f.maintenance
        .iter()
        .filter(|m| which.is_none_or(|active| m.active(f.now) == active))
        .map(|m| maintenance_doc(f, m))
        .collect()
}

/// Every document of a page, by its path under `/api/v2/`.
pub fn all(f: &Facts) -> Vec<(&'static str, Value)> {
    let page = page_doc(f);
    let status = status_doc(f);
    let components = components_doc(f);
    let unresolved = incidents_doc(f, true);
    vec![
        (
            "summary.json",
            json!({
                "page": page, "status": status, "components": components,
                "incidents": unresolved, "scheduled_maintenances": maintenances(f, None),
            }),
        ),
        ("status.json", json!({ "page": page, "status": status })),
        (
            "components.json",
            json!({ "page": page, "components": components }),
        ),
        (
            "incidents.json",
            json!({ "page": page, "incidents": incidents_doc(f, false) }),
        ),
        (
            "incidents/unresolved.json",
            json!({ "page": page, "incidents": unresolved }),
        ),
        (
            "scheduled-maintenances.json",
            json!({ "page": page, "scheduled_maintenances": maintenances(f, None) }),
        ),
        (
            "scheduled-maintenances/upcoming.json",
            json!({ "page": page, "scheduled_maintenances": maintenances(f, Some(false)) }),
        ),
        (
            "scheduled-maintenances/active.json",
            json!({ "page": page, "scheduled_maintenances": maintenances(f, Some(true)) }),
        ),
    ]
}
