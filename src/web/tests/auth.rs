//! Credentials: what they protect and what stays open.

use super::*;

#[tokio::test]
async fn auth_protects_pages_and_api_but_not_health_and_metrics() {
    let mut f = fixture().await;
    f.state.auth = Some(WebAuth::Token(Secret::new("s3cret")));
    for uri in [
        "/",
        "/api/v1/targets",
        "/badges/good/status.svg",
        "/api/v1/openapi.json",
    ] {
        let (status, headers, _) = get(&f.state, uri).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri}");
        assert!(
            headers[header::WWW_AUTHENTICATE]
                .to_str()
                .unwrap()
                .starts_with("Basic")
        );
    }
    assert_eq!(get(&f.state, "/healthz").await.0, StatusCode::OK);
    assert_eq!(get(&f.state, "/readyz").await.0, StatusCode::OK);
    assert_eq!(get(&f.state, "/metrics").await.0, StatusCode::OK);
    let bearer = |v: &str| {
        Request::get("/")
            .header(header::AUTHORIZATION, v)
            .body(Body::empty())
            .unwrap()
    };
    assert_eq!(
        get_with(&f.state, bearer("Bearer s3cret")).await.0,
        StatusCode::OK
    );
    assert_eq!(
        get_with(&f.state, bearer("Bearer wrong")).await.0,
        StatusCode::UNAUTHORIZED
    );
    // Browsers: basic auth with any user and the token as password.
    assert_eq!(
        get_with(&f.state, bearer("Basic YW55OnMzY3JldA==")).await.0,
        StatusCode::OK
    );

    f.state.auth = Some(WebAuth::Basic {
        user: "ann".into(),
        password: Secret::new("pw"),
    });
    f.state.open_metrics = false;
    assert_eq!(get(&f.state, "/metrics").await.0, StatusCode::UNAUTHORIZED);
    // ann:pw
    assert_eq!(
        get_with(&f.state, bearer("Basic YW5uOnB3")).await.0,
        StatusCode::OK
    );
    // bob:pw
    assert_eq!(
        get_with(&f.state, bearer("Basic Ym9iOnB3")).await.0,
        StatusCode::UNAUTHORIZED
    );
}
