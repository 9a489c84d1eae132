//! The push route over the router: outside the dashboard's auth, one 404 for every unknown
//! token, the push URL on a push target's page.

use super::*;
use crate::config::checks::CheckSections;
use crate::config::target::{TargetDefaults, TargetSpec};
use crate::config::{Interval, TlsVerify};
use crate::readers::push::{Clock, PushBoard};

const TOKEN: &str = "web-test-token-0123456789";

/// The fixture's store and a board with one push target, whose first push is stored.
async fn with_board(
    auth: Option<WebAuth>,
) -> (Fixture, String, tokio::sync::mpsc::Receiver<ProbeEvent>) {
    let mut f = fixture().await;
    let target = TargetSpec {
        name: Some("nightly <b>backup</b>".into()),
        url: "push://nightly".into(),
        check: CheckSections {
            token: Some(TOKEN.into()),
            ..Default::default()
        },
        ..Default::default()
    }
    .build(&TargetDefaults {
        interval: Interval::Every(Duration::from_secs(3600)),
        timeout: Duration::from_secs(5),
        tls_verify: TlsVerify::Yes,
    })
    .unwrap();
    let (board, mut rx) = PushBoard::open(
        std::slice::from_ref(&target),
        f._dir.path(),
        Clock::system(),
        None,
    )
    .unwrap();
    f.state.push = Some(board);
    f.state.auth = auth;
    let req = |uri: &str| Request::get(uri).body(Body::empty()).unwrap();
    let (status, _, body) = get_with(
        &f.state,
        req(&format!(
            "/api/v1/push/{TOKEN}?status=down&msg=%3Cscript%3Ealert(1)%3C/script%3E"
        )),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, r#"{"ok":true}"#);
    let ev = rx.try_recv().unwrap();
    let store = SqliteStore::open(&crate::config::StoreSettings::with_path(
        f._dir.path().join("t.sqlite3"),
    ))
    .unwrap();
    store.ingest(vec![Event::from(ev)]).await.unwrap();
    (f, target.id, rx)
}

#[tokio::test]
async fn without_push_targets_every_push_is_the_same_404() {
    let f = fixture().await;
    let (status, headers, body) = get(&f.state, "/api/v1/push/anything-at-all").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    let (f2, _, _rx) = with_board(None).await;
    let (status2, _, body2) = get(&f2.state, "/api/v1/push/anything-at-all").await;
    assert_eq!((status2, body2), (status, body));
}

#[tokio::test]
async fn the_push_route_takes_no_dashboard_credentials_but_the_page_does() {
    let auth = Some(WebAuth::Token(Secret::new("dash-secret".to_owned())));
    let (f, id, _rx) = with_board(auth).await;
    let (status, _, _) = get(&f.state, &format!("/targets/{id}")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = get(&f.state, &format!("/api/v1/push/{TOKEN}")).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_push_targets_page_shows_its_push_url_and_escapes_the_pushed_message() {
    let (f, id, _rx) = with_board(None).await;
    let page = |host: &'static str| {
        Request::get(format!("/targets/{id}"))
            .header("host", host)
            .header("x-forwarded-proto", "https")
            .body(Body::empty())
            .unwrap()
    };
    // The token is a credential: a dashboard without auth shows it on this machine only.
    let (status, _, public) = get_with(&f.state, page("uptime.example.org")).await;
    assert_eq!(status, StatusCode::OK, "{public}");
    assert!(!public.contains(TOKEN), "{public}");
    assert!(
        public.contains("shown only with dashboard auth"),
        "{public}"
    );
    let (status, _, body) = get_with(&f.state, page("127.0.0.1:8080")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body.contains(&format!("https://127.0.0.1:8080/api/v1/push/{TOKEN}")),
        "{body}"
    );
    assert!(body.contains("&#60;script&#62;alert(1)"), "{body}");
    assert!(!body.contains("<script>alert"), "unescaped message");
    // Other targets have no push URL.
    let (_, _, other) = get(&f.state, "/targets/good").await;
    assert!(!other.contains("/api/v1/push/"));
}
