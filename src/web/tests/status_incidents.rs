//! The incidents people write on status pages, over the fixture's store with a page `main`
//! (components API and Web site): the JSON API (open, update, resolve, 409 after, 400s
//! naming the field, 404s), its refusals (no book, credentials, a listener beyond loopback)
//! and its OpenAPI description.

use serde_json::{Value, json};

use super::*;
use crate::config::status_pages::{Component, Group, StatusPage, Watches};
use crate::store::status::{StatusBook, UpdateStatus};

pub(super) fn main_page() -> StatusPage {
    let component = |name: &str, target: &str| Component {
        name: name.into(),
        watches: Watches::Target(target.into()),
    };
    StatusPage::new(
        "main",
        "Example <Inc>",
        vec![Group {
            name: "Core".into(),
            components: vec![component("API", "good"), component("Web site", "evil")],
        }],
    )
}

/// The fixture with page `main` and the store as its book.
pub(super) async fn writing() -> (Fixture, Arc<dyn StatusBook>) {
    let (dir, store) = fixture_store().await;
    let book: Arc<dyn StatusBook> = Arc::new(store.clone());
    let mut state = AppState::new(Arc::new(store), &WebSettings::default());
    state.status_pages = crate::web::status::Pages::fixed(vec![main_page()]);
    state.status_book = Some(book.clone());
    (Fixture { _dir: dir, state }, book)
}

async fn call(state: &AppState, method: &str, uri: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = Request::builder().method(method).uri(uri);
    let body = match body {
        Some(b) => {
            req = req.header(header::CONTENT_TYPE, "application/json");
            Body::from(b.to_string())
        }
        None => Body::empty(),
    };
    let (status, _, text) = get_with(state, req.body(body).unwrap()).await;
    (
        status.as_u16(),
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

fn opening() -> Value {
    json!({
        "page": "main",
        "title": "Elevated API errors",
        "impact": "major",
        "components": [{"component": "API", "status": "major_outage"}],
        "body": "We are **looking** into it.",
        "author": "ana",
    })
}

fn error_of(v: &Value) -> &str {
    v["error"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn incidents_are_opened_updated_and_resolved_through_the_api_and_refused_after() {
    let (f, book) = writing().await;
    let s = &f.state;
    let (status, made) = call(s, "POST", "/api/v1/status-incidents", Some(opening())).await;
    assert_eq!(status, 201, "{made}");
    let id = made["id"].as_i64().unwrap();
    assert_eq!(made["page"], "main");
    assert_eq!(made["title"], "Elevated API errors");
    assert_eq!(made["status"], "investigating");
    assert_eq!(made["impact"], "major");
    assert_eq!(
        made["components"],
        json!([{"component": "API", "status": "major_outage"}])
    );
    assert_eq!(made["updates"][0]["body"], "We are **looking** into it.");
    assert_eq!(made["updates"][0]["author"], "ana");
    assert_eq!(made["resolved_at"], Value::Null);
    assert!(made["created_at"].as_str().unwrap().ends_with('Z'));

    // The public page shows it (its rendering is the status pages' own).
    let (_, _, doc) = get(s, "/status/main/api/v2/incidents.json").await;
    assert!(doc.contains("Elevated API errors"), "{doc}");

    let uri = format!("/api/v1/status-incidents/{id}/updates");
    let (status, done) = call(
        s,
        "POST",
        &uri,
        Some(json!({"status": "identified", "body": "A bad deploy.",
                    "components": [{"component": "API", "status": "partial_outage"},
                                   {"component": "Web site", "status": "degraded_performance"}]})),
    )
    .await;
    assert_eq!(status, 201, "{done}");
    assert_eq!(done["status"], "identified");
    assert_eq!(done["impact"], "major", "unchanged");
    assert_eq!(done["components"][1]["component"], "Web site");
    assert_eq!(done["updates"].as_array().unwrap().len(), 2);

    let (status, done) = call(
        s,
        "POST",
        &uri,
        Some(json!({"status": "resolved", "body": "Fixed."})),
    )
    .await;
    assert_eq!(status, 201, "{done}");
    assert!(done["resolved_at"].is_string(), "{done}");
    let kept = book.status_incident(id).await.unwrap().unwrap();
    assert_eq!(kept.status(), UpdateStatus::Resolved);
    assert!(kept.resolved_at.is_some());

    // Resolved: nothing more is posted to it.
    let (status, e) = call(
        s,
        "POST",
        &uri,
        Some(json!({"status": "monitoring", "body": "Again?"})),
    )
    .await;
    assert_eq!(status, 409, "{e}");
    assert!(
        error_of(&e).contains(&format!("status incident {id} was resolved at")),
        "{e}"
    );
    assert_eq!(
        book.status_incident(id)
            .await
            .unwrap()
            .unwrap()
            .updates
            .len(),
        3
    );

    let (status, one) = call(s, "GET", &format!("/api/v1/status-incidents/{id}"), None).await;
    assert_eq!((status, &one["status"]), (200, &json!("resolved")));
    let (_, second) = call(s, "POST", "/api/v1/status-incidents", Some(opening())).await;
    let (status, list) = call(s, "GET", "/api/v1/status-incidents?page=main", None).await;
    assert_eq!(status, 200);
    let listed: Vec<&Value> = list["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| &i["id"])
        .collect();
    assert_eq!(listed, [&second["id"], &json!(id)], "newest first");
    let (_, list) = call(
        s,
        "GET",
        "/api/v1/status-incidents?page=main&resolved_since=2999-01-01T00:00:00Z&limit=5",
        None,
    )
    .await;
    assert_eq!(list["incidents"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["incidents"][0]["id"], second["id"]);
}

#[tokio::test]
async fn bad_requests_are_400s_that_name_the_field_and_unknown_ids_404s() {
    let (f, _) = writing().await;
    let s = &f.state;
    let with = |k: &str, v: Value| {
        let mut d = opening();
        d[k] = v;
        d
    };
    for (doc, says) in [
        (
            with("page", json!("nope")),
            "page: no status page \"nope\" (pages: main)",
        ),
        (with("title", json!("")), "title:"),
        (
            with("title", json!("x".repeat(201))),
            "title: at most 200 characters",
        ),
        (
            with("body", json!("x".repeat(20_001))),
            "body: at most 20000 characters",
        ),
        (
            with(
                "components",
                json!([{"component": "Database", "status": "major_outage"}]),
            ),
            "components[0].component: page main has no component \"Database\"",
        ),
        (
            with(
                "components",
                json!([{"component": "API", "status": "on_fire"}]),
            ),
            "components[0].status: one of operational",
        ),
        (with("impact", json!("huge")), "impact: one of"),
        (with("status", json!("done")), "status: one of"),
        (with("colour", json!("red")), "colour: not a field"),
    ] {
        let (status, e) = call(s, "POST", "/api/v1/status-incidents", Some(doc.clone())).await;
        assert_eq!(status, 400, "{doc}: {e}");
        assert!(error_of(&e).starts_with(says), "{doc}: {e}");
    }
    let raw = Request::post("/api/v1/status-incidents")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{not json"))
        .unwrap();
    let (status, _, body) = get_with(s, raw).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("not JSON"), "{body}");
    let form_body = Request::post("/api/v1/status-incidents")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("page=main"))
        .unwrap();
    assert_eq!(
        get_with(s, form_body).await.0,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );

    let (_, made) = call(s, "POST", "/api/v1/status-incidents", Some(opening())).await;
    let uri = format!("/api/v1/status-incidents/{}/updates", made["id"]);
    for (doc, says) in [
        (json!({"body": "b"}), "status: one of investigating"),
        (json!({"status": "identified", "body": "  "}), "body:"),
        (
            json!({"status": "identified", "body": "b",
                   "components": [{"component": "Nope", "status": "operational"}]}),
            "components[0].component: page main has no component \"Nope\"",
        ),
    ] {
        let (status, e) = call(s, "POST", &uri, Some(doc.clone())).await;
        assert_eq!(status, 400, "{doc}: {e}");
        assert!(error_of(&e).starts_with(says), "{doc}: {e}");
    }

    let update = json!({"status": "identified", "body": "b"});
    for uri in [
        "/api/v1/status-incidents/999/updates",
        "/api/v1/status-incidents/x/updates",
    ] {
        let (status, e) = call(s, "POST", uri, Some(update.clone())).await;
        assert_eq!(status, 404, "{uri}: {e}");
        assert!(error_of(&e).starts_with("no status incident"), "{e}");
    }
    assert_eq!(
        call(s, "GET", "/api/v1/status-incidents/999", None).await.0,
        404
    );
    for (uri, says) in [
        (
            "/api/v1/status-incidents",
            "page: a status page's slug (pages: main)",
        ),
        (
            "/api/v1/status-incidents?page=nope",
            "page: no status page \"nope\"",
        ),
        ("/api/v1/status-incidents?page=main&limit=0", "limit:"),
        (
            "/api/v1/status-incidents?page=main&resolved_since=yesterday",
            "resolved_since:",
        ),
    ] {
        let (status, e) = call(s, "GET", uri, None).await;
        assert_eq!(status, 400, "{uri}: {e}");
        assert!(error_of(&e).starts_with(says), "{uri}: {e}");
    }
}

#[tokio::test]
async fn writes_need_a_book_the_dashboard_s_credentials_or_a_loopback_listener() {
    // No book (serve --store PATH): writes 405, lists empty.
    let mut f = fixture().await;
    f.state.status_pages = crate::web::status::Pages::fixed(vec![main_page()]);
    let s = &f.state;
    let (status, e) = call(s, "POST", "/api/v1/status-incidents", Some(opening())).await;
    assert_eq!(status, 405, "{e}");
    assert!(error_of(&e).contains("keeps no status incidents"), "{e}");
    let update = json!({"status": "identified", "body": "b"});
    let uri = "/api/v1/status-incidents/1/updates";
    assert_eq!(call(s, "POST", uri, Some(update.clone())).await.0, 405);
    let (status, list) = call(s, "GET", "/api/v1/status-incidents?page=main", None).await;
    assert_eq!((status, list), (200, json!({"incidents": []})));
    assert_eq!(
        call(s, "GET", "/api/v1/status-incidents/1", None).await.0,
        404
    );

    // Credentials: nothing without them, everything with them.
    let (mut f, book) = writing().await;
    f.state.auth = Some(WebAuth::Token(Secret::new("s3cret")));
    let s = &f.state;
    let (status, _) = call(s, "POST", "/api/v1/status-incidents", Some(opening())).await;
    assert_eq!(status, 401);
    assert_eq!(
        call(s, "GET", "/api/v1/status-incidents?page=main", None)
            .await
            .0,
        401
    );
    assert_eq!(
        get(s, "/status-incidents").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert!(
        book.status_incidents("main", crate::store::MIN_TIME, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let authorized = Request::post("/api/v1/status-incidents")
        .header(header::AUTHORIZATION, "Bearer s3cret")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(opening().to_string()))
        .unwrap();
    assert_eq!(get_with(s, authorized).await.0, StatusCode::CREATED);

    // Basic auth's user is the default author.
    f.state.auth = Some(WebAuth::Basic {
        user: "bo".into(),
        password: Secret::new("pw"),
    });
    let mut doc = opening();
    doc.as_object_mut().unwrap().remove("author");
    let req = Request::post("/api/v1/status-incidents")
        .header(header::AUTHORIZATION, "Basic Ym86cHc=")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(doc.to_string()))
        .unwrap();
    let (status, _, made) = get_with(&f.state, req).await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let made: Value = serde_json::from_str(&made).unwrap();
    assert_eq!(made["updates"][0]["author"], "bo");

    // No credentials and a listener other machines reach: reads only.
    let (mut f, _) = writing().await;
    f.state.listen_loopback = false;
    let s = &f.state;
    let (status, e) = call(s, "POST", "/api/v1/status-incidents", Some(opening())).await;
    assert_eq!(status, 403, "{e}");
    assert!(error_of(&e).contains("WEB_AUTH_TOKEN"), "{e}");
    assert_eq!(call(s, "POST", uri, Some(update)).await.0, 403);
    assert_eq!(
        call(s, "GET", "/api/v1/status-incidents?page=main", None)
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn the_openapi_document_describes_the_status_incidents_api() {
    let doc: Value = serde_json::from_str(crate::web::OPENAPI).unwrap();
    for (path, method, codes) in [
        (
            "/api/v1/status-incidents",
            "get",
            &["200", "400", "401"][..],
        ),
        (
            "/api/v1/status-incidents",
            "post",
            &["201", "400", "401", "403", "405", "415"][..],
        ),
        (
            "/api/v1/status-incidents/{id}",
            "get",
            &["200", "401", "404"][..],
        ),
        (
            "/api/v1/status-incidents/{id}/updates",
            "post",
            &["201", "400", "401", "403", "404", "405", "409", "415"][..],
        ),
    ] {
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} undocumented");
        for code in codes {
            assert!(
                op["responses"][code].is_object(),
                "{method} {path}: no {code}"
            );
        }
    }
    for schema in [
        "StatusIncident",
        "StatusIncidentInput",
        "StatusIncidentUpdateInput",
    ] {
        assert!(doc["components"]["schemas"][schema].is_object(), "{schema}");
    }
    // Its enums are the model's.
    let enum_of = |schema: &str, field: &str| -> Vec<String> {
        doc["components"]["schemas"][schema]["properties"][field]["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("{schema}.{field}"))
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    let statuses: Vec<String> = UpdateStatus::ALL
        .iter()
        .map(|u| u.as_str().into())
        .collect();
    assert_eq!(enum_of("StatusIncident", "status"), statuses);
    assert_eq!(enum_of("StatusIncidentUpdateInput", "status"), statuses);
    let impacts: Vec<String> = crate::store::status::Impact::ALL
        .iter()
        .map(|i| i.as_str().into())
        .collect();
    assert_eq!(enum_of("StatusIncidentInput", "impact"), impacts);
}
