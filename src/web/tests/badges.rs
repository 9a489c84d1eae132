//! SVG badges.

use super::*;

#[tokio::test]
async fn badges_are_svg_with_escaped_labels() {
    let f = fixture().await;
    let (status, headers, body) = get(&f.state, "/badges/good/status.svg").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "image/svg+xml");
    assert!(body.contains(">up</text>"));
    let (_, _, body) = get(&f.state, "/badges/evil/uptime.svg?window=7d").await;
    assert!(body.contains("50.0%"), "{body}");
    let (_, _, body) = get(&f.state, "/badges/good/response.svg?label=%3Cb%3E").await;
    assert!(
        body.contains("&lt;b&gt;") && body.contains("42 ms"),
        "{body}"
    );
}

#[tokio::test]
async fn badges_for_an_unknown_id_are_grey_unknown_svgs_not_json_404s() {
    let f = fixture().await;
    for kind in ["status", "uptime", "response"] {
        let (status, headers, body) = get(&f.state, &format!("/badges/nope/{kind}.svg")).await;
        assert_eq!(status, StatusCode::OK, "{kind}");
        assert_eq!(headers[header::CONTENT_TYPE], "image/svg+xml", "{kind}");
        assert!(
            body.starts_with("<svg") && body.contains(">unknown</text>"),
            "{kind}: {body}"
        );
        assert!(body.contains("#6b7280"), "grey: {body}");
    }
    // A bad window is still the caller's mistake, said as such.
    let (status, _, _) = get(&f.state, "/badges/nope/uptime.svg?window=2y").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn status_badges_have_a_colour_per_status_and_degraded_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&crate::config::StoreSettings::with_path(
        dir.path().join("b.sqlite3"),
    ))
    .unwrap();
    store
        .ingest(vec![
            probe("up", "up", true, 8),
            probe("down", "down", false, 8),
            probe("flaps", "flaps", false, 8),
            probe("flaps", "flaps", true, 4),
            degraded("slow", "slow", 4),
        ])
        .await
        .unwrap();
    let state = AppState::new(Arc::new(store), &WebSettings::default());
    for (id, want) in [
        ("up", "up"),
        ("down", "down"),
        ("flaps", "flapping"),
        ("slow", "degraded"),
    ] {
        let (_, _, body) = get(&state, &format!("/badges/{id}/status.svg")).await;
        assert!(body.contains(&format!(">{want}</text>")), "{body}");
    }
    // The value's rectangle.
    let value_fill = |body: &str| body.contains(r##"height="20" fill="#b45309"/>"##);
    let (_, _, slow) = get(&state, "/badges/slow/status.svg").await;
    assert!(value_fill(&slow), "degraded is dark amber: {slow}");
    let (_, _, flaps) = get(&state, "/badges/flaps/status.svg").await;
    assert!(!value_fill(&flaps), "flapping keeps its own amber: {flaps}");
    assert!(flaps.contains(r##"fill="#d97706"/>"##), "{flaps}");
}
