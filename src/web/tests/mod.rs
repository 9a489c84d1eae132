//! Handler tests: the router over a real SQLite store in a temporary directory, no socket.
//! The fixture and request helpers live here, the tests by topic in the modules below.

mod api;
mod auth;
mod badges;
mod forms;
mod health;
mod pages;
mod push;
mod silences;
mod status;
mod status_incidents;
mod status_incidents_page;
mod targets_api;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use time::OffsetDateTime;
use tower::ServiceExt;

use super::*;
use crate::config::Secret;
use crate::event::{ErrorKind, Event, Phases, ProbeEvent};
use crate::store::SqliteStore;

const HOSTILE: &str = "<script>alert(\"x\")</script>' onmouseover='alert(1)";

fn probe(target: &str, name: &str, up: bool, ago_s: u64) -> Event {
    let t = OffsetDateTime::now_utc() - Duration::from_secs(ago_s);
    let mut e = ProbeEvent::new(t, "https", "example.org", Some(443));
    e.target = Some(target.into());
    e.name = Some(name.into());
    e.url = Some(format!("https://example.org/?q={name}"));
    e.up = Some(up);
    e.response_time_ms = 42;
    e.status_code = Some(if up { 200 } else { 500 });
    if !up {
        e.error_kind = Some(ErrorKind::HttpStatus);
        e.error = Some(format!("body said {HOSTILE}"));
    }
    e.phases_ms = Some(Phases {
        dns: Some(1.0),
        connect: Some(2.0),
        tls: Some(3.0),
        ttfb: Some(30.0),
        transfer: Some(6.0),
    });
    e.into()
}

/// A passing result that met one of its target's `degraded_if` conditions.
fn degraded(target: &str, name: &str, ago_s: u64) -> Event {
    match probe(target, name, true, ago_s) {
        Event::Probe(mut e) => {
            e.degraded = Some(true);
            Event::Probe(e)
        }
        other => other,
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    state: AppState,
}

async fn fixture() -> Fixture {
    let (dir, store) = fixture_store().await;
    let state = AppState::new(Arc::new(store), &WebSettings::default());
    Fixture { _dir: dir, state }
}

/// The fixture's store: targets `good`, `evil` (a hostile name, down) and `long` (a long
/// name, down).
async fn fixture_store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&crate::config::StoreSettings::with_path(
        dir.path().join("t.sqlite3"),
    ))
    .unwrap();
    let long = "x".repeat(5000);
    store
        .ingest(vec![
            probe("good", "Good site", true, 30),
            probe("evil", HOSTILE, true, 20),
            probe("evil", HOSTILE, false, 10),
            probe("long", &long, false, 5),
        ])
        .await
        .unwrap();
    (dir, store)
}

async fn get(state: &AppState, uri: &str) -> (StatusCode, HeaderMap, String) {
    get_with(state, Request::get(uri).body(Body::empty()).unwrap()).await
}

async fn get_with(state: &AppState, req: Request<Body>) -> (StatusCode, HeaderMap, String) {
    let res = app(state.clone()).oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let body = axum::body::to_bytes(res.into_body(), 16 << 20)
        .await
        .unwrap();
    (status, headers, String::from_utf8(body.to_vec()).unwrap())
}

fn assert_no_raw_markup(body: &str) {
    assert!(!body.contains("<script>alert"), "unescaped script tag");
    assert!(
        !body.contains("' onmouseover='"),
        "unescaped quote breaks out of an attribute"
    );
}
