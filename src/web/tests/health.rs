//! `/metrics`, `/healthz`, `/readyz` and the embedded assets.

use super::*;

#[tokio::test]
async fn metrics_expose_blackbox_names_with_escaped_labels() {
    let mut f = fixture().await;
    // A process that probes and writes: its own metrics come first.
    let metrics = crate::metrics::Metrics::default();
    let _ = metrics.writer("writers.sqlite");
    f.state.metrics = Arc::new(metrics);
    let (status, headers, body) = get(&f.state, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    assert!(body.contains("# TYPE probe_success gauge"));
    assert!(body.contains(r#"probe_success{target="good",name="Good site","#));
    assert!(
        body.contains(r#"probe_success{target="evil",name="<script>alert(\"x\")</script>"#),
        "{body}"
    );
    assert!(body.contains("probe_duration_seconds{target=\"good\""));
    assert!(body.contains("uptimer_probe_duration_seconds_bucket{phase=\"ttfb\",le=\"+Inf\"}"));
    assert!(body.contains("uptimer_writer_queue_depth"));
    // Every sample line is `name{labels} value` or `name value`.
    for line in body.lines().filter(|l| !l.starts_with('#')) {
        let value = line.rsplit(' ').next().unwrap();
        assert!(value.parse::<f64>().is_ok() || value == "+Inf", "{line}");
    }
}

#[tokio::test]
async fn healthz_answers_and_assets_are_embedded() {
    let f = fixture().await;
    assert_eq!(get(&f.state, "/healthz").await.0, StatusCode::OK);
    let (status, headers, body) = get(&f.state, "/assets/style.css").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    assert!(body.contains("prefers-color-scheme: dark"));
    assert_eq!(get(&f.state, "/assets/app.js").await.0, StatusCode::OK);
    assert_eq!(get(&f.state, "/nope").await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn readyz_needs_the_store_and_every_writer_healthz_only_a_running_pipeline() {
    let mut f = fixture().await;
    let metrics = Arc::new(crate::metrics::Metrics::default());
    f.state.metrics = metrics.clone();
    assert_eq!(get(&f.state, "/readyz").await.0, StatusCode::OK);
    let sqlite = metrics.writer("writers.sqlite");
    let (status, _, body) = get(&f.state, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body, "not ready: writers.sqlite\n");
    assert_eq!(
        get(&f.state, "/healthz").await.0,
        StatusCode::OK,
        "alive all the same"
    );
    sqlite.up.set(true);
    assert_eq!(get(&f.state, "/readyz").await.0, StatusCode::OK);
    metrics.readiness.stop();
    assert_eq!(
        get(&f.state, "/healthz").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
}
