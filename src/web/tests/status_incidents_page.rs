//! The `/status-incidents` page: its incidents per status page, and the forms that open one
//! and post updates (anti-forgery tokens, a browser that may post, errors with what was
//! typed, no form for a resolved incident).

use super::forms::{form, token_for};
use super::status_incidents::{main_page, writing};
use super::*;
use crate::store::status::UpdateStatus;

const HOST: &str = "127.0.0.1:8080";

fn page(uri: &str, host: &str) -> Request<Body> {
    Request::get(uri)
        .header(header::HOST, host)
        .body(Body::empty())
        .unwrap()
}

#[tokio::test]
async fn the_page_opens_and_updates_incidents_through_its_forms() {
    let (f, book) = writing().await;
    let s = &f.state;
    let listed = || async {
        book.status_incidents("main", crate::store::MIN_TIME, 10)
            .await
            .unwrap()
    };
    let (status, _, body) = get_with(s, page("/status-incidents", HOST)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains(r#"href="/status-incidents" aria-current="page">Status incidents</a>"#),
        "{body}"
    );
    assert!(body.contains("Example &#60;Inc&#62;"), "{body}");
    assert!(body.contains(r#"name="component:API""#), "{body}");
    assert!(
        body.contains(r#"data-refresh="0""#),
        "a form page keeps what is typed"
    );

    let fields = [
        ("page", "main"),
        ("title", HOSTILE),
        ("impact", "critical"),
        ("status", "identified"),
        ("component:API", "major_outage"),
        ("component:Web site", ""),
        ("body", "Line one\n\n**two**"),
    ];
    // Without the token nothing is opened.
    assert_eq!(
        get_with(s, form("/status-incidents", &fields)).await.0,
        StatusCode::FORBIDDEN
    );
    assert!(listed().await.is_empty());
    let csrf = token_for(&body, "/status-incidents");
    let mut with_token = fields.to_vec();
    with_token.push(("csrf", &csrf));
    // Nor from a browser that reached the dashboard by another name, without credentials.
    let mut remote = form("/status-incidents", &with_token);
    remote
        .headers_mut()
        .insert(header::HOST, "uptimer.example".parse().unwrap());
    assert_eq!(get_with(s, remote).await.0, StatusCode::FORBIDDEN);
    assert!(listed().await.is_empty());

    // A mistake comes back with what was typed and what is wrong.
    let mut bad = with_token.clone();
    bad.retain(|(k, _)| *k != "title");
    bad.push(("title", ""));
    let (status, _, back) = get_with(s, form("/status-incidents", &bad)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(back.contains("title: the incident"), "{back}");
    assert!(back.contains("Line one"), "{back}");
    assert!(
        back.contains(r#"<option value="major_outage" selected>"#),
        "{back}"
    );
    assert!(listed().await.is_empty());

    let (status, headers, _) = get_with(s, form("/status-incidents", &with_token)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/status-incidents");
    let made = listed().await;
    assert_eq!(made.len(), 1);
    let i = &made[0];
    assert_eq!(i.title, HOSTILE);
    assert_eq!(i.status(), UpdateStatus::Identified);
    assert_eq!(i.impact, crate::store::status::Impact::Critical);
    assert_eq!(i.components.len(), 1, "not affected: left out");
    assert_eq!(i.components[0].status, "major_outage");

    let (_, _, body) = get_with(s, page("/status-incidents", HOST)).await;
    assert_no_raw_markup(&body);
    assert!(body.contains("API: Major outage"), "{body}");
    let action = format!("/status-incidents/{}/updates", i.id);
    let token = token_for(&body, &action);
    // A token is for its own form only.
    let update = [("status", "resolved"), ("body", "Fixed.")];
    let mut wrong = update.to_vec();
    wrong.push(("csrf", &csrf));
    assert_eq!(
        get_with(s, form(&action, &wrong)).await.0,
        StatusCode::FORBIDDEN
    );
    let mut empty = vec![("status", "monitoring"), ("body", " ")];
    empty.push(("csrf", &token));
    let (status, _, back) = get_with(s, form(&action, &empty)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(back.contains("body: say what is happening"), "{back}");
    let mut right = update.to_vec();
    right.push(("csrf", &token));
    let (status, _, _) = get_with(s, form(&action, &right)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(listed().await[0].status(), UpdateStatus::Resolved);

    // Resolved: no form for it, and a post to it says so.
    let (_, _, body) = get_with(s, page("/status-incidents", HOST)).await;
    assert!(!body.contains(&format!(r#"action="{action}""#)), "{body}");
    assert!(body.contains("Fixed."), "{body}");
    let (status, _, said) = get_with(s, form(&action, &right)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(said.contains("was resolved at"), "{said}");
}

#[tokio::test]
async fn the_page_without_a_book_or_from_afar_offers_no_forms() {
    let mut f = fixture().await;
    f.state.status_pages = crate::web::status::Pages::fixed(vec![main_page()]);
    let (status, _, body) = get_with(&f.state, page("/status-incidents", HOST)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("keeps no status incidents"), "{body}");
    assert!(!body.contains("<form"), "{body}");
    let (status, _, _) = get_with(&f.state, form("/status-incidents", &[("csrf", "x")])).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);

    let (f, _) = writing().await;
    let (_, _, body) = get_with(&f.state, page("/status-incidents", "uptimer.example")).await;
    assert!(body.contains("needs its credentials"), "{body}");
    assert!(!body.contains("<form"), "{body}");

    let f = fixture().await;
    let (_, _, body) = get_with(&f.state, page("/status-incidents", HOST)).await;
    assert!(body.contains("No status pages yet"), "{body}");
}
