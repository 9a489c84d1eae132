//! The metrics listener (`METRICS_LISTEN`): `/metrics`, `/healthz` and `/readyz` for a process
//! in any mode (a prober, a Kafka producer or consumer), with no dashboard around them.
//!
//! `/healthz` says the process is alive: 200 unless its pipeline has stopped. `/readyz` says it
//! does its job: 200 when every writer reaches its destination and a consumer has joined its
//! group (a member with no partitions is ready too), else 503 naming what is not ready.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;

use crate::metrics::{CONTENT_TYPE, Metrics};

/// `/healthz`'s answer.
pub fn alive(m: &Metrics) -> Response {
    if m.readiness.is_stopped() {
        (StatusCode::SERVICE_UNAVAILABLE, "pipeline stopped\n").into_response()
    } else {
        (StatusCode::OK, "ok\n").into_response()
    }
}

/// `/readyz`'s answer (without a store to ask).
pub fn ready(m: &Metrics) -> Response {
    if m.readiness.is_stopped() {
        return (StatusCode::SERVICE_UNAVAILABLE, "pipeline stopped\n").into_response();
    }
    let waiting = m.readiness.not_ready();
    if waiting.is_empty() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {}\n", waiting.join(", ")),
        )
            .into_response()
    }
}

async fn exposition(State(m): State<Arc<Metrics>>) -> Response {
    let mut out = String::with_capacity(8192);
    m.encode(&mut out);
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], out).into_response()
}

/// The listener's routes.
pub fn router(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/metrics", get(exposition))
        .route(
            "/healthz",
            get(|State(m): State<Arc<Metrics>>| async move { alive(&m) }),
        )
        .route(
            "/readyz",
            get(|State(m): State<Arc<Metrics>>| async move { ready(&m) }),
        )
        .with_state(metrics)
}

/// Binds `listen` now (a taken port is a startup error) and serves the routes on it in the
/// background for as long as the runtime runs.
pub async fn start(listen: SocketAddr, metrics: Arc<Metrics>) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(listen).await.map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("METRICS_LISTEN: cannot listen on {listen}: {e}"),
        )
    })?;
    let local = listener.local_addr()?;
    tracing::info!(url = %format!("http://{local}/metrics"), "metrics listening");
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router(metrics)).await {
            tracing::error!(error = %e, "metrics listener stopped");
        }
    });
    Ok(local)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    async fn get(m: &Arc<Metrics>, uri: &str) -> (StatusCode, String) {
        let res = router(m.clone())
            .oneshot(axum::http::Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = res.status();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn readyz_waits_for_every_writer_and_healthz_for_a_stopped_pipeline() {
        let m = Arc::new(Metrics::default());
        let pg = m.writer("writers.postgres");
        assert_eq!(get(&m, "/healthz").await.0, StatusCode::OK);
        let (status, body) = get(&m, "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body, "not ready: writers.postgres\n");
        pg.up.set(true);
        assert_eq!(get(&m, "/readyz").await, (StatusCode::OK, "ready\n".into()));
        m.readiness.stop();
        assert_eq!(get(&m, "/healthz").await.0, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(get(&m, "/readyz").await.0, StatusCode::SERVICE_UNAVAILABLE);
        let (status, body) = get(&m, "/metrics").await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            body.contains("uptimer_writer_up{writer=\"writers.postgres\"} 1"),
            "{body}"
        );
    }
}
