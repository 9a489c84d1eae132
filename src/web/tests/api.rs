//! The JSON API, its OpenAPI document and the page that lists its routes.

use super::*;

#[tokio::test]
async fn api_returns_targets_events_uptime_series_and_incidents() {
    let f = fixture().await;
    let (status, headers, body) = get(&f.state, "/api/v1/targets?sort=name").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["matching"], 3);
    assert_eq!(v["counts"]["down"], 2);
    // '<' sorts before 'G'.
    assert_eq!(v["targets"][0]["name"], HOSTILE);
    assert_eq!(v["targets"][1]["name"], "Good site");
    assert_eq!(v["targets"][1]["uptime"]["24h"], 1.0);

    let (_, _, body) = get(&f.state, "/api/v1/targets/evil/events?limit=1").await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["events"].as_array().unwrap().len(), 1);
    assert_eq!(v["events"][0]["up"], false);
    let next = v["next"].as_str().unwrap().to_owned();
    let (_, _, body) = get(
        &f.state,
        &format!(
            "/api/v1/targets/evil/events?limit=1&to={}",
            next.replace('+', "%2B")
        ),
    )
    .await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["events"][0]["up"], true, "{v}");
    let (status, _, body) = get(&f.state, "/api/v1/targets/evil/events?from=yesterday").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("from: expected an RFC 3339 time"));

    let (_, _, body) = get(&f.state, "/api/v1/targets/evil/uptime?window=24h").await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (v["checks"].as_u64(), v["up"].as_u64(), v["ratio"].as_f64()),
        (Some(2), Some(1), Some(0.5))
    );

    let (_, _, body) = get(&f.state, "/api/v1/targets/good/series?window=1h").await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["points"][0]["checks"], 1);
    assert_eq!(v["points"][0]["phases_ms"][3], 30.0);

    let (_, _, body) = get(&f.state, "/api/v1/incidents?open=true").await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["total"], 2);
    assert!(v["incidents"][0]["duration_seconds"].as_i64().unwrap() >= 0);
    let (status, _, _) = get(&f.state, "/api/v1/targets/nope/events").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_header_api_link_opens_a_human_page_that_links_the_openapi_document() {
    let f = fixture().await;
    let (_, _, overview) = get(&f.state, "/").await;
    assert!(
        overview.contains(r#"<a href="/api" >API</a>"#),
        "{overview}"
    );
    for uri in ["/api", "/api/v1"] {
        let (status, headers, body) = get(&f.state, uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}");
        assert!(
            headers[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        assert!(body.contains(r#"href="/api/v1/openapi.json""#), "{body}");
        assert!(body.contains(r#"<a href="/api/v1/targets"><code>/api/v1/targets</code></a>"#));
        assert!(body.contains("<code>/api/v1/targets/{id}/events</code>"));
        assert!(body.contains("integer (1–1000, default 100)"));
    }
}

#[tokio::test]
async fn openapi_document_describes_every_api_route() {
    let f = fixture().await;
    let (status, _, body) = get(&f.state, "/api/v1/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/api/v1/targets",
        "/api/v1/targets/{id}",
        "/api/v1/targets/{id}/events",
        "/api/v1/targets/{id}/series",
        "/api/v1/targets/{id}/uptime",
        "/api/v1/incidents",
    ] {
        assert!(paths.contains_key(p), "{p} undocumented");
        // The route answers (with a real id where it takes one).
        let (status, _, _) = get(&f.state, &p.replace("{id}", "good")).await;
        assert_eq!(status, StatusCode::OK, "{p}");
    }
    // Every $ref resolves.
    fn refs(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                if let Some(serde_json::Value::String(r)) = m.get("$ref") {
                    out.push(r.clone());
                }
                m.values().for_each(|v| refs(v, out));
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    for r in all {
        let ptr = r.strip_prefix('#').unwrap();
        assert!(doc.pointer(ptr).is_some(), "{r} does not resolve");
    }
}

/// The document's status enum and counts are the machine's statuses, every one of them.
#[tokio::test]
async fn openapi_status_enum_and_counts_are_every_status() {
    let f = fixture().await;
    let (_, _, body) = get(&f.state, "/api/v1/openapi.json").await;
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    let names: Vec<&str> = crate::state::Status::ALL
        .iter()
        .map(|s| s.as_str())
        .collect();
    let documented: Vec<&str> = doc["components"]["schemas"]["Status"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert_eq!(documented, names);
    let description = doc["components"]["schemas"]["Status"]["description"]
        .as_str()
        .unwrap();
    for name in &names {
        assert!(description.contains(&format!("{name}:")), "{description}");
    }
    let counts = &doc["components"]["schemas"]["StatusCounts"];
    let required: Vec<&str> = counts["required"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert_eq!(required, names);
    let (_, _, body) = get(&f.state, "/api/v1/targets").await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    for name in &names {
        assert!(
            counts["properties"][name].is_object(),
            "{name} undocumented"
        );
        assert!(v["counts"][name].is_u64(), "{name} not in the counts: {v}");
    }
}

/// The events route answers as the OpenAPI document says, every field of an event documented:
/// conditions with their results, and degraded, null for an event without them.
#[tokio::test]
async fn events_answer_as_the_openapi_document_describes_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&crate::config::StoreSettings::with_path(
        dir.path().join("o.sqlite3"),
    ))
    .unwrap();
    let mut with = probe("cond", "Conditioned", false, 10);
    let conditions = vec![crate::event::ConditionResult {
        condition: "[STATUS] == 200".into(),
        success: false,
        resolved: "[STATUS] (500) == 200".into(),
    }];
    if let Event::Probe(p) = &mut with {
        p.conditions = Some(conditions.clone());
        p.degraded = Some(true);
    }
    store
        .ingest(vec![probe("cond", "Conditioned", true, 20), with])
        .await
        .unwrap();
    let state = AppState::new(Arc::new(store), &WebSettings::default());
    let (status, _, body) = get(&state, "/api/v1/targets/cond/events").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        answer["events"][0]["conditions"],
        serde_json::json!(conditions)
    );
    assert_eq!(answer["events"][0]["degraded"], true);
    assert!(answer["events"][1]["conditions"].is_null(), "{answer}");
    assert!(answer["events"][1]["degraded"].is_null(), "{answer}");

    let mut doc: serde_json::Value = serde_json::from_str(OPENAPI).unwrap();
    let pointer = "/paths/~1api~1v1~1targets~1{id}~1events/get/responses/200/content/application~1json/schema";
    assert!(doc.pointer(pointer).is_some());
    // The document itself as the schema's root, so its $refs resolve (a URI fragment: the
    // braces percent-encoded).
    let fragment = pointer.replace('{', "%7B").replace('}', "%7D");
    doc["$ref"] = serde_json::json!(format!("#{fragment}"));
    let validator = jsonschema::draft202012::new(&doc).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&answer)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?} in {answer}");
    // Valid, and no field left undocumented.
    let documented: std::collections::BTreeSet<&str> =
        doc["components"]["schemas"]["Event"]["properties"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
    for e in answer["events"].as_array().unwrap() {
        let fields: std::collections::BTreeSet<&str> =
            e.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(fields, documented);
    }
    // A wrong result is refused: the check can fail.
    let mut wrong = answer.clone();
    wrong["events"][0]["conditions"][0]["success"] = serde_json::json!("no");
    assert!(!validator.is_valid(&wrong));
}
