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
