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
    f.state.status_pages = crate::web::status::Pages::fixed(vec![p]);
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

/// A document of the page checked against its definition in schemas/statuspage.json.
fn assert_valid(doc: &Value, definition: &str) {
    let mut schema: Value =
        serde_json::from_str(include_str!("../../../schemas/statuspage.json")).unwrap();
    schema["$ref"] = Value::from(format!("#/$defs/{definition}"));
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap();
    let errors: Vec<String> = validator.iter_errors(doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{definition}: {errors:?} in {doc}");
}

#[tokio::test]
async fn every_statuspage_document_validates_against_its_schema() {
    let f = with(page(vec![
        target("good", "Website"),
        target("evil", HOSTILE),
    ]))
    .await;
    for (path, definition) in [
        ("summary.json", "summary"),
        ("status.json", "status"),
        ("components.json", "components"),
        ("incidents.json", "incidents"),
        ("incidents/unresolved.json", "incidents"),
        ("scheduled-maintenances.json", "scheduled_maintenances"),
        (
            "scheduled-maintenances/upcoming.json",
            "scheduled_maintenances",
        ),
        (
            "scheduled-maintenances/active.json",
            "scheduled_maintenances",
        ),
    ] {
        let (status, headers, body) = get(&f.state, &format!("/status/main/api/v2/{path}")).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        assert_eq!(headers[header::CONTENT_TYPE], "application/json");
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        let doc: Value = serde_json::from_str(&body).unwrap();
        assert_valid(&doc, definition);
    }
    // `evil` is down: its detected incident is unresolved, by its component's name.
    let (_, _, body) = get(&f.state, "/status/main/api/v2/incidents/unresolved.json").await;
    let doc: Value = serde_json::from_str(&body).unwrap();
    let incidents = doc["incidents"].as_array().unwrap();
    assert_eq!(incidents.len(), 1, "{doc}");
    assert_eq!(incidents[0]["status"], "investigating");
    assert_eq!(incidents[0]["components"][0]["name"], HOSTILE);
    assert!(!body.contains("HTTP 500"), "no error texts: {body}");
    // A schema that cannot fail is no check: a wrong status is refused.
    let mut wrong = doc.clone();
    wrong["incidents"][0]["status"] = Value::from("down");
    let schema_refuses = std::panic::catch_unwind(|| assert_valid(&wrong, "incidents"));
    assert!(schema_refuses.is_err());
    let (status, _, _) = get(&f.state, "/status/main/api/v2/nope.json").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn documents_carry_validators_and_a_current_copy_gets_304() {
    let f = with(page(vec![target("good", "Website")])).await;
    let (status, headers, body) = get(&f.state, "/status/main").await;
    assert_eq!(status, StatusCode::OK);
    let etag = headers[header::ETAG].to_str().unwrap().to_owned();
    let modified = headers[header::LAST_MODIFIED].to_str().unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.len() > 2, "{etag}");
    assert!(
        headers[header::CACHE_CONTROL]
            .to_str()
            .unwrap()
            .starts_with("public, max-age=30")
    );
    let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(
        csp.contains("frame-ancestors 'none'") && !csp.contains("script-src"),
        "{csp}"
    );
    assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
    // 90 daily bars, each with its tooltip, for the one component.
    assert_eq!(body.matches("<rect").count(), 90, "{body}");
    assert_eq!(body.matches("<title>").count(), 91);
    let req = |name, value: &str| {
        Request::get("/status/main")
            .header(name, value)
            .body(Body::empty())
            .unwrap()
    };
    let (status, h, body) = get_with(&f.state, req(header::IF_NONE_MATCH, &etag)).await;
    assert_eq!((status, body.as_str()), (StatusCode::NOT_MODIFIED, ""));
    assert_eq!(h[header::ETAG].to_str().unwrap(), etag);
    let (status, _, _) = get_with(&f.state, req(header::IF_NONE_MATCH, "\"other\"")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = get_with(&f.state, req(header::IF_MODIFIED_SINCE, &modified)).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    let (status, _, _) = get_with(
        &f.state,
        req(header::IF_MODIFIED_SINCE, "Mon, 01 Jan 2001 00:00:00 GMT"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // The same bytes again while nothing changed: served from the cache, same tag.
    let (_, again, _) = get(&f.state, "/status/main").await;
    assert_eq!(again[header::ETAG].to_str().unwrap(), etag);
}

#[tokio::test]
async fn a_client_that_takes_gzip_gets_the_page_compressed_with_its_own_validator() {
    use std::io::Read;
    let f = with(page(vec![
        target("good", "Website"),
        target("evil", HOSTILE),
    ]))
    .await;
    let (_, plain_h, plain) = get(&f.state, "/status/main").await;
    assert!(plain_h.get(header::CONTENT_ENCODING).is_none());
    assert_eq!(plain_h[header::VARY], "accept-encoding");
    let send = |coding: &str, tag: Option<&str>| {
        let mut r = Request::get("/status/main").header(header::ACCEPT_ENCODING, coding);
        if let Some(t) = tag {
            r = r.header(header::IF_NONE_MATCH, t);
        }
        let app = app(f.state.clone());
        let req = r.body(Body::empty()).unwrap();
        async move {
            let res = app.oneshot(req).await.unwrap();
            let (parts, body) = res.into_parts();
            let bytes = axum::body::to_bytes(body, 16 << 20).await.unwrap();
            (parts.status, parts.headers, bytes)
        }
    };
    let (status, h, zipped) = send("br;q=1.0, gzip;q=0.8", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h[header::CONTENT_ENCODING], "gzip");
    assert_eq!(h[header::VARY], "accept-encoding");
    let mut unzipped = String::new();
    flate2::read::GzDecoder::new(&zipped[..])
        .read_to_string(&mut unzipped)
        .unwrap();
    assert_eq!(unzipped, plain);
    assert!(
        zipped.len() < plain.len() / 2,
        "{} of {}",
        zipped.len(),
        plain.len()
    );
    // Another representation, another tag: a cache never mixes the two up.
    let tag = h[header::ETAG].to_str().unwrap().to_owned();
    assert_ne!(tag, plain_h[header::ETAG].to_str().unwrap());
    let (status, _, body) = send("gzip", Some(&tag)).await;
    assert_eq!((status, body.len()), (StatusCode::NOT_MODIFIED, 0));
    let (status, _, _) = send("identity", Some(&tag)).await;
    assert_eq!(status, StatusCode::OK);
    // Refused by q=0, it is not sent gzipped.
    let (_, h, _) = send("gzip;q=0, identity", None).await;
    assert!(h.get(header::CONTENT_ENCODING).is_none());
    let (_, h, _) = send("*", None).await;
    assert_eq!(h[header::CONTENT_ENCODING], "gzip");
}

#[tokio::test]
async fn the_widget_may_be_framed_by_the_embed_origins_only_and_badges_say_each_status() {
    let mut p = page(vec![target("good", "Website"), target("evil", HOSTILE)]);
    p.embed_origins = vec!["https://example.com".into()];
    let f = with(p).await;
    let (status, headers, body) = get(&f.state, "/status/main/widget").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Major System Outage"), "{body}");
    let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(csp.contains("frame-ancestors https://example.com"), "{csp}");
    assert!(headers.get(header::X_FRAME_OPTIONS).is_none());
    // Without embed origins nobody frames it.
    let f2 = with(page(vec![target("good", "Website")])).await;
    let (_, headers, _) = get(&f2.state, "/status/main/widget").await;
    assert!(
        headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    let (status, headers, svg) = get(&f.state, "/status/main/badges/main-g0-c1.svg").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "image/svg+xml");
    assert!(
        svg.contains("Major outage") && !svg.contains("<script>"),
        "{svg}"
    );
    let (_, _, svg) = get(&f.state, "/status/main/badges/main-g0-c0.svg").await;
    assert!(svg.contains("Operational"), "{svg}");
    let (status, _, _) = get(&f.state, "/status/main/badges/main-g9-c9.svg").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_protected_page_needs_the_dashboard_s_credentials() {
    let mut p = page(vec![target("good", "Website")]);
    p.protect = true;
    let mut f = with(p).await;
    f.state.auth = Some(WebAuth::Token(Secret::new("s3cret")));
    for path in [
        "/status/main",
        "/status/main/api/v2/summary.json",
        "/status/main/feed.atom",
    ] {
        let (status, _, _) = get(&f.state, path).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
    }
    let req = Request::get("/status/main")
        .header(header::AUTHORIZATION, "Bearer s3cret")
        .body(Body::empty())
        .unwrap();
    let (status, headers, _) = get_with(&f.state, req).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CACHE_CONTROL], "private, no-cache");
}

#[tokio::test]
async fn feeds_list_detected_incidents_with_absolute_links_from_the_public_url() {
    let mut f = with(page(vec![target("evil", HOSTILE)])).await;
    f.state.public_url = "https://status.example.com".into();
    let (status, headers, atom) = get(&f.state, "/status/main/feed.atom").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("application/atom+xml")
    );
    assert!(
        atom.contains("https://status.example.com/status/main#incident-t"),
        "{atom}"
    );
    assert!(!atom.contains("<script>"), "escaped: {atom}");
    assert_eq!(atom.matches("<entry>").count(), 1, "{atom}");
    let (_, _, rss) = get(&f.state, "/status/main/feed.rss").await;
    assert!(rss.starts_with("<?xml") && rss.contains("<rss"), "{rss}");
    assert_eq!(rss.matches("<item>").count(), 1, "{rss}");
}

async fn send(
    state: &AppState,
    method: &str,
    uri: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(uri);
    if body.is_some() {
        req = req.header(header::CONTENT_TYPE, "application/json");
    }
    let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
    let (status, _, text) = get_with(state, req.body(body).unwrap()).await;
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn pages_made_through_the_api_are_served_kept_and_checked() {
    let mut f = super::targets_api::writable(None).await;
    let dir = f._dir.path().to_owned();
    let configured = page(vec![target("good", "Website")]);
    let registry = f.state.editor.as_ref().unwrap().registry().clone();
    let targets = move || -> Vec<crate::config::target::Target> {
        registry
            .entries()
            .iter()
            .map(|e| (*e.target).clone())
            .collect()
    };
    let open =
        || crate::web::status::Pages::open(vec![configured.clone()], &dir, &targets).unwrap();
    f.state.status_pages = open();
    let made = serde_json::json!({
        "slug": "api-made", "title": "Made <here>",
        "groups": [{"name": "Core", "components": [{"target": "Good site", "name": "Site"}]}],
    });
    let (status, answer) = send(&f.state, "POST", "/api/v1/status-pages", Some(made.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let (status, _, body) = get(&f.state, "/status/api-made").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains("Made &#60;here&#62;") && body.contains("Site"),
        "{body}"
    );
    // Again: 409; the configured page's slug: 409; a target that is not there: 400 naming it.
    let (status, _) = send(&f.state, "POST", "/api/v1/status-pages", Some(made.clone())).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let mut clash = made.clone();
    clash["slug"] = "main".into();
    let (status, answer) = send(&f.state, "POST", "/api/v1/status-pages", Some(clash)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    let mut bad = made.clone();
    bad["slug"] = "other".into();
    bad["groups"][0]["components"][0]["target"] = "nope".into();
    let (status, answer) = send(&f.state, "POST", "/api/v1/status-pages", Some(bad)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("page.groups[0].components[0].target"),
        "{answer}"
    );
    // Files on the server are the configuration's to name.
    let mut logo = made.clone();
    logo["slug"] = "logo".into();
    logo["logo"] = "/etc/passwd".into();
    let (status, _) = send(&f.state, "POST", "/api/v1/status-pages", Some(logo)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Listed with where each comes from; replaced; kept across a restart.
    let (_, list) = send(&f.state, "GET", "/api/v1/status-pages", None).await;
    let sources: Vec<(&str, &str)> = list["pages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["slug"].as_str().unwrap(), p["source"].as_str().unwrap()))
        .collect();
    assert_eq!(sources, [("main", "config"), ("api-made", "api")]);
    let mut renamed = made.clone();
    renamed["title"] = "Renamed".into();
    let (status, _) = send(
        &f.state,
        "PUT",
        "/api/v1/status-pages/api-made",
        Some(renamed),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    f.state.status_pages = open();
    let (status, _, body) = get(&f.state, "/status/api-made").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Renamed"), "{body}");
    // The configured page cannot be deleted here; the made one can, for good.
    let (status, _) = send(&f.state, "DELETE", "/api/v1/status-pages/main", None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = send(&f.state, "DELETE", "/api/v1/status-pages/api-made", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    f.state.status_pages = open();
    let (status, _, _) = get(&f.state, "/status/api-made").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Read-only (no editor): 405.
    f.state.editor = None;
    let (status, _) = send(&f.state, "POST", "/api/v1/status-pages", Some(made)).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn written_incidents_show_their_updates_with_markdown_made_harmless_everywhere() {
    use crate::store::status::{Affected, NewIncident, NewUpdate, UpdateStatus};
    let (f, book) = super::status_incidents::writing().await;
    let opened = book
        .open_status_incident(
            NewIncident {
                page: "main".into(),
                title: "<img src=x onerror=alert(1)> slow API".into(),
                impact: crate::store::status::Impact::Major,
                components: vec![Affected {
                    component: "API".into(),
                    status: "partial_outage".into(),
                }],
                status: UpdateStatus::Investigating,
                body: "We **look** into it. <script>alert(1)</script> \
                       [details](javascript:alert(1)) [ok](https://example.com/x)"
                    .into(),
                author: None,
            },
            crate::store::now_micros(),
        )
        .await
        .unwrap();
    book.update_status_incident(
        opened.id,
        NewUpdate {
            status: UpdateStatus::Identified,
            body: "Found it.".into(),
            impact: None,
            components: None,
            author: None,
        },
        crate::store::now_micros(),
    )
    .await
    .unwrap();
    let (_, _, page) = get(&f.state, "/status/main").await;
    // The written partial outage of API; `evil` (Web site) is down: the worst wins.
    assert_eq!(banner(&page), "Major System Outage");
    let i = page.find("Active incidents").unwrap();
    let (found, looked) = (
        page[i..].find("Found it").unwrap(),
        page[i..].find("We <strong>look</strong>").unwrap(),
    );
    assert!(found < looked, "newest first: {page}");
    assert!(page.contains(r#"href="https://example.com/x""#), "{page}");
    for (doc, text) in [
        ("page", page),
        ("atom", get(&f.state, "/status/main/feed.atom").await.2),
        ("rss", get(&f.state, "/status/main/feed.rss").await.2),
        ("widget", get(&f.state, "/status/main/widget").await.2),
    ] {
        for bad in ["<script", "javascript:", "<img"] {
            assert!(!text.contains(bad), "{bad} in the {doc}: {text}");
        }
    }
    let (_, _, json) = get(&f.state, "/status/main/api/v2/incidents.json").await;
    let doc: Value = serde_json::from_str(&json).unwrap();
    assert_valid(&doc, "incidents");
    let written = &doc["incidents"][0];
    assert_eq!(written["id"], format!("p{}", opened.id));
    assert_eq!(written["status"], "identified");
    assert_eq!(written["impact"], "major");
    assert_eq!(written["incident_updates"].as_array().unwrap().len(), 2);
    assert_eq!(written["incident_updates"][0]["body"], "Found it.");
    let (_, _, json) = get(&f.state, "/status/main/api/v2/components.json").await;
    assert!(
        json.contains(r#""name":"API","status":"partial_outage""#) || {
            let d: Value = serde_json::from_str(&json).unwrap();
            d["components"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["name"] == "API" && c["status"] == "partial_outage")
        },
        "{json}"
    );
}
