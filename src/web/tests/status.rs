//! Public status pages over the fixture's store (`good` up, `evil` down with a hostile name,
//! `long` down): the banner's exact texts, components by target and tag, JSON in Statuspage's
//! shape, hostile names escaped, no URLs, public behind the dashboard's credentials.

use serde_json::Value;

use super::*;
use crate::config::status_pages::{Component, Group, StatusPage, Watches};
use crate::config::{Secret, WebAuth};
use crate::store::TargetSummary;

fn page(components: Vec<Component>) -> StatusPage {
    StatusPage {
        description: Some("What we run".into()),
        ..StatusPage::new(
            "main",
            "Example <Inc>",
            vec![Group {
                name: "Core".into(),
                components,
            }],
        )
    }
}

fn target(id: &str, name: &str) -> Component {
    Component {
        name: name.into(),
        watches: Watches::Target(id.into()),
    }
}

async fn with(p: StatusPage) -> Fixture {
    let mut f = fixture().await;
    f.state.status_pages = vec![p].into();
    f
}

const BANNERS: [&str; 5] = [
    "All Systems Operational",
    "Minor Service Outage",
    "Partial System Outage",
    "Major System Outage",
    "Service Under Maintenance",
];

/// The one banner text the page says, checking it says it once and no other.
fn banner(body: &str) -> &'static str {
    let said: Vec<&str> = BANNERS
        .iter()
        .copied()
        .filter(|b| body.contains(b))
        .collect();
    assert_eq!(said.len(), 1, "{said:?}\n{body}");
    assert_eq!(body.matches(said[0]).count(), 1, "{body}");
    said[0]
}

#[tokio::test]
async fn every_component_up_is_all_systems_operational_and_a_down_one_a_major_outage() {
    let f = with(page(vec![target("good", "Website")])).await;
    let (status, _, body) = get(&f.state, "/status/main").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(banner(&body), "All Systems Operational");
    assert!(
        body.contains("Example &#60;Inc&#62;") && body.contains("Website"),
        "{body}"
    );
    assert!(!body.contains("<Inc>"), "escaped: {body}");
    assert!(
        !body.contains("example.org") && !body.contains("http://"),
        "no URLs: {body}"
    );

    let f = with(page(vec![
        target("good", "Website"),
        target("evil", HOSTILE),
    ]))
    .await;
    let (_, _, body) = get(&f.state, "/status/main").await;
    assert_eq!(banner(&body), "Major System Outage");
    assert!(!body.contains("<script>"), "escaped: {body}");
    assert!(
        !body.contains("HTTP 500") && !body.contains("500"),
        "no error texts: {body}"
    );
    let (_, _, json) = get(&f.state, "/status/main/api/v2/summary.json").await;
    let doc: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(doc["status"]["indicator"], "critical");
    assert_eq!(doc["status"]["description"], "Major System Outage");
    let statuses: Vec<(&str, &str)> = doc["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        statuses,
        [
            ("Core", "major_outage"),
            ("Website", "operational"),
            (HOSTILE, "major_outage")
        ]
    );
    let (_, _, json) = get(&f.state, "/status/main/api/v2/components.json").await;
    let listed: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(listed["components"], doc["components"]);
    assert_eq!(listed["page"]["id"], "main");
    let (_, _, json) = get(&f.state, "/status/main/api/v2/status.json").await;
    let doc: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(doc["page"]["name"], "Example <Inc>");
    assert_eq!(doc["status"]["indicator"], "critical");
}

#[tokio::test]
async fn a_tag_component_is_a_partial_outage_until_enough_of_its_targets_are_down() {
    // The fixture's targets have no tags: a component of all of them by id stands in.
    let f = with(page(vec![target("good", "Website")])).await;
    let targets = f.state.store.all_targets().await.unwrap();
    let with_tag: Vec<TargetSummary> = targets
        .into_iter()
        .map(|mut t| {
            t.tags = vec!["web".into()];
            t
        })
        .collect();
    let tagged = |down| {
        page(vec![Component {
            name: "Web".into(),
            watches: Watches::Tag {
                tag: "web".into(),
                down,
            },
        }])
    };
    let none = |_: &TargetSummary| false;
    let s = crate::web::status::model::summarize(&tagged(None), &with_tag, &none, &[]);
    assert_eq!(
        s.worst.as_str(),
        "partial_outage",
        "two of three down, rule all"
    );
    let s = crate::web::status::model::summarize(&tagged(Some(2)), &with_tag, &none, &[]);
    assert_eq!(s.worst.as_str(), "major_outage", "two down, rule 2");
    let long = |t: &TargetSummary| t.id == "long" || t.id == "evil";
    let s = crate::web::status::model::summarize(&tagged(None), &with_tag, &long, &[]);
    assert_eq!(
        s.worst.as_str(),
        "operational",
        "the down ones are in maintenance"
    );
}

#[tokio::test]
async fn status_pages_are_public_behind_the_dashboard_s_credentials_and_unknown_ones_are_404() {
    let mut f = with(page(vec![target("good", "Website")])).await;
    f.state.auth = Some(WebAuth::Token(Secret::new("s3cret")));
    let (status, _, _) = get(&f.state, "/").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, headers, _) = get(&f.state, "/status/main").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CACHE_CONTROL]
            .to_str()
            .unwrap()
            .contains("max-age")
    );
    let (status, _, _) = get(&f.state, "/status/main/api/v2/summary.json").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = get(&f.state, "/status/other").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
