//! The dashboard's forms: adding, editing, pausing and deleting targets through the editor,
//! their anti-forgery tokens, field errors, read-only targets and a read-only dashboard.

use std::time::Duration;

use crate::config::{Interval, Source, TargetDefaults, TargetSpec, TlsVerify};
use crate::registry::Registry;
use crate::registry::edit::Editor;

use super::*;

const HOST: &str = "127.0.0.1:8080";

struct Editable {
    f: Fixture,
    registry: Arc<Registry>,
    _data: tempfile::TempDir,
}

/// The fixture's store with an editor over a registry that holds the configured target
/// `good` (the store's "Good site").
async fn editable() -> Editable {
    let f = fixture().await;
    let defaults = TargetDefaults {
        interval: Interval::Every(Duration::from_secs(60)),
        timeout: Duration::from_secs(5),
        tls_verify: TlsVerify::Yes,
    };
    let mut good = TargetSpec {
        id: Some("good".into()),
        name: Some("Good site".into()),
        url: "https://example.org/?q=Good".into(),
        ..Default::default()
    }
    .build(&defaults)
    .unwrap();
    good.source = Source::File;
    let registry = Registry::new([good]);
    let data = tempfile::tempdir().unwrap();
    let editor = Editor::open(
        registry.clone(),
        defaults,
        false,
        data.path(),
        std::sync::Arc::new(|_| Ok(())),
    )
    .unwrap();
    let mut f = f;
    f.state.editor = Some(Arc::new(editor));
    Editable {
        f,
        registry,
        _data: data,
    }
}

fn page(uri: &str) -> Request<Body> {
    Request::get(uri)
        .header(header::HOST, HOST)
        .body(Body::empty())
        .unwrap()
}

pub(super) fn form(uri: &str, pairs: &[(&str, &str)]) -> Request<Body> {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    Request::post(uri)
        .header(header::HOST, HOST)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(s.finish()))
        .unwrap()
}

/// The token of the form that posts to `action` on the page.
pub(super) fn token_for(body: &str, action: &str) -> String {
    let at = body
        .find(&format!(r#"action="{action}""#))
        .unwrap_or_else(|| panic!("no form posting to {action}:\n{body}"));
    let rest = &body[at..];
    let v = rest.find(r#"name="csrf" value=""#).unwrap() + r#"name="csrf" value=""#.len();
    rest[v..v + rest[v..].find('"').unwrap()].to_owned()
}

fn location(headers: &HeaderMap) -> &str {
    headers[header::LOCATION].to_str().unwrap()
}

#[tokio::test]
async fn a_target_is_added_edited_paused_resumed_and_deleted_through_the_forms() {
    let e = editable().await;
    let s = &e.f.state;
    // The overview links to the form.
    let (_, _, body) = get_with(s, page("/")).await;
    assert!(
        body.contains(r#"href="/targets/new">Add target</a>"#),
        "{body}"
    );

    let (status, _, body) = get_with(s, page("/targets/new")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains(r#"data-refresh="0""#),
        "a form page does not refresh itself"
    );
    let csrf = token_for(&body, "/targets");
    let (status, headers, body) = get_with(
        s,
        form(
            "/targets",
            &[
                ("csrf", &csrf),
                ("name", "Orders API"),
                ("url", "http://127.0.0.1:9/health"),
                ("interval", "30s"),
                ("timeout", "2"),
                ("tags", "prod, api"),
                ("expected_status", "200, 3xx"),
                (
                    "advanced",
                    "method: HEAD\nheaders:\n  Authorization: Bearer s3cret\n",
                ),
            ],
        ),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let href = location(&headers).to_owned();
    let id = href.strip_prefix("/targets/").unwrap().to_owned();
    let entry = e.registry.get(&id).expect("added to the live set");
    assert_eq!(entry.target.name, "Orders API");
    assert_eq!(entry.target.tags, ["prod", "api"]);
    assert_eq!(
        entry.target.interval,
        Interval::Every(Duration::from_secs(30))
    );
    assert_eq!(entry.target.timeout, Duration::from_secs(2));
    assert_eq!(entry.target.method.as_str(), "HEAD");
    assert_eq!(entry.target.source, Source::Api);

    // Its page, before any check is stored: where it comes from, and its forms.
    let (status, _, body) = get_with(s, page(&href)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("Orders API") && body.contains("Added through the dashboard"));
    assert!(
        body.contains(&format!(r#"href="{href}/edit">Edit</a>"#)),
        "{body}"
    );
    assert!(body.contains(&format!(r#"href="{href}/delete">Delete</a>"#)));

    // Edit: the form shows the target as given, the secret masked; a change is saved and the
    // secret kept.
    let (status, _, body) = get_with(s, page(&format!("{href}/edit"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains(r#"value="Orders API""#) && body.contains(r#"value="prod, api""#));
    assert!(
        !body.contains("s3cret"),
        "the header's secret is not shown: {body}"
    );
    let csrf = token_for(&body, &format!("{href}/edit"));
    let advanced = {
        let at = body.find("name=\"advanced\"").unwrap();
        let start = at + body[at..].find('>').unwrap() + 1;
        let end = start + body[start..].find("</textarea>").unwrap();
        body[start..end].replace("&#39;", "'")
    };
    let (status, headers, body) = get_with(
        s,
        form(
            &format!("{href}/edit"),
            &[
                ("csrf", &csrf),
                ("name", "Orders API v2"),
                ("url", "http://127.0.0.1:9/health"),
                ("tags", "prod"),
                ("advanced", &advanced),
            ],
        ),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(location(&headers), href);
    let entry = e.registry.get(&id).unwrap();
    assert_eq!(entry.target.name, "Orders API v2");
    assert_eq!(entry.target.tags, ["prod"]);
    assert_eq!(
        entry
            .target
            .headers
            .iter()
            .find(|(k, _)| k == "authorization")
            .map(|(_, v)| v.to_str().unwrap()),
        Some("Bearer s3cret"),
        "the masked secret is kept"
    );

    // Pause, then resume, with the buttons' tokens.
    let (_, _, body) = get_with(s, page(&href)).await;
    let csrf = token_for(&body, &format!("{href}/pause"));
    let (status, headers, _) =
        get_with(s, form(&format!("{href}/pause"), &[("csrf", &csrf)])).await;
    assert_eq!(
        (status, location(&headers)),
        (StatusCode::SEE_OTHER, href.as_str())
    );
    assert!(e.registry.get(&id).unwrap().paused);
    let (_, _, body) = get_with(s, page(&href)).await;
    assert!(
        body.contains(r#"<span class="pill paused">paused</span>"#),
        "{body}"
    );
    assert!(body.contains(">Resume</button>"));
    let csrf = token_for(&body, &format!("{href}/resume"));
    let (status, _, _) = get_with(s, form(&format!("{href}/resume"), &[("csrf", &csrf)])).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(!e.registry.get(&id).unwrap().paused);

    // Delete: a confirmation page, then the overview.
    let (status, _, body) = get_with(s, page(&format!("{href}/delete"))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Delete Orders API v2?"), "{body}");
    assert!(e.registry.get(&id).is_some(), "asking deletes nothing");
    let csrf = token_for(&body, &format!("{href}/delete"));
    let (status, headers, _) =
        get_with(s, form(&format!("{href}/delete"), &[("csrf", &csrf)])).await;
    assert_eq!((status, location(&headers)), (StatusCode::SEE_OTHER, "/"));
    assert!(e.registry.get(&id).is_none());
}

#[tokio::test]
async fn a_form_without_this_dashboards_token_changes_nothing() {
    let e = editable().await;
    let s = &e.f.state;
    let typed = [("name", "Forged"), ("url", "http://127.0.0.1:9/")];
    let (status, _, body) = get_with(s, form("/targets", &typed)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("did not come from this dashboard"), "{body}");
    assert!(body.contains(r#"value="Forged""#), "what was typed is kept");
    assert_eq!(e.registry.len(), 1, "nothing added");

    // A token of another form, or altered, does not do.
    let (_, _, page_body) = get_with(s, page("/targets/good")).await;
    let pause_token = token_for(&page_body, "/targets/good/pause");
    let altered = format!("{pause_token}x");
    let (status, _, _) = get_with(
        s,
        form("/targets", &[("csrf", &pause_token), typed[0], typed[1]]),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = get_with(
        s,
        form("/targets", &[("csrf", &altered), typed[0], typed[1]]),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(e.registry.len(), 1);
    let (status, _, _) = get_with(s, form("/targets/good/resume", &[("csrf", &pause_token)])).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = get_with(s, form("/targets/good/pause", &[])).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(!e.registry.get("good").unwrap().paused);
    // The right one does.
    let (status, _, _) = get_with(s, form("/targets/good/pause", &[("csrf", &pause_token)])).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(e.registry.get("good").unwrap().paused);
}

/// The error shown next to field `name`.
fn field_error<'a>(body: &'a str, name: &str) -> &'a str {
    let marker = format!(r#"<p class="field-error" id="e-{name}">"#);
    let at = body
        .find(&marker)
        .unwrap_or_else(|| panic!("no error next to {name}:\n{body}"))
        + marker.len();
    &body[at..at + body[at..].find("</p>").unwrap()]
}

#[tokio::test]
async fn field_errors_show_next_to_their_fields_with_the_input_kept() {
    let e = editable().await;
    let s = &e.f.state;
    let post = |pairs: Vec<(&'static str, &'static str)>| {
        let s = s.clone();
        async move {
            let (_, _, body) = get_with(&s, page("/targets/new")).await;
            let csrf = token_for(&body, "/targets");
            let mut all = vec![("csrf", csrf.as_str())];
            all.extend(pairs);
            get_with(&s, form("/targets", &all)).await
        }
    };
    let (status, _, body) = post(vec![("name", "Bad <url>"), ("url", "htp:/nope")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(field_error(&body, "url").contains("htp:/nope"), "{body}");
    assert!(body.contains(r#"value="htp:/nope""#) && body.contains(r#"value="Bad &#60;url&#62;""#));
    assert!(body.contains(r#"aria-invalid="true""#));
    assert!(
        !body.contains(r#"id="e-name""#),
        "no error where there is none"
    );

    let (status, _, body) = post(vec![("url", "http://127.0.0.1:9/"), ("interval", "ten")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(field_error(&body, "interval").contains("ten"), "{body}");

    let (_, _, body) = post(vec![("url", "")]).await;
    assert!(field_error(&body, "url").starts_with("required"), "{body}");

    let (_, _, body) = post(vec![
        ("url", "http://127.0.0.1:9/"),
        ("advanced", "method: ["),
    ])
    .await;
    assert!(
        field_error(&body, "advanced").starts_with("not YAML or JSON"),
        "{body}"
    );
    assert!(
        body.contains("method: ["),
        "the advanced text is kept: {body}"
    );

    let (_, _, body) = post(vec![
        ("url", "http://127.0.0.1:9/"),
        ("advanced", "colour: red"),
    ])
    .await;
    assert!(field_error(&body, "advanced").contains("colour"), "{body}");

    // A cloud's metadata service is refused.
    let (status, _, body) = post(vec![("url", "http://169.254.169.254/latest/meta-data/")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(field_error(&body, "url").contains("link-local"), "{body}");

    // An id that is taken.
    let (status, _, body) = post(vec![
        ("url", "http://127.0.0.1:9/"),
        ("advanced", "id: good"),
    ])
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        field_error(&body, "advanced").contains("exists already"),
        "{body}"
    );
    assert_eq!(e.registry.len(), 1, "nothing added");
}

#[tokio::test]
async fn configured_targets_show_their_source_and_can_only_be_paused() {
    let e = editable().await;
    let s = &e.f.state;
    let (status, _, body) = get_with(s, page("/targets/good")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Defined in the config file"), "{body}");
    assert!(!body.contains("/targets/good/edit") && !body.contains("/targets/good/delete"));
    let pause = token_for(&body, "/targets/good/pause");
    for uri in ["/targets/good/edit", "/targets/good/delete"] {
        let (status, _, body) = get_with(s, page(uri)).await;
        assert_eq!(status, StatusCode::CONFLICT, "{uri}");
        assert!(body.contains("Defined in the config file"), "{body}");
        let (status, _, _) = get_with(s, form(uri, &[("csrf", "x"), ("url", "http://a/")])).await;
        assert_eq!(status, StatusCode::CONFLICT, "POST {uri}");
    }
    assert!(e.registry.get("good").is_some());
    // Paused, it shows as paused on the overview, its page and its badge.
    let (status, _, _) = get_with(s, form("/targets/good/pause", &[("csrf", &pause)])).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, _, body) = get_with(s, page("/")).await;
    let at = body.find(">Good site</a>").unwrap();
    let row = &body[body[..at].rfind("<tr").unwrap()..at];
    assert!(row.contains("pill paused"), "{row}");
    let (_, _, body) = get_with(s, page("/targets/good")).await;
    assert!(body.contains(r#"<span class="pill paused">paused</span>"#));
    let (_, _, svg) = get_with(s, page("/badges/good/status.svg")).await;
    assert!(svg.contains("status: paused"), "{svg}");
    // Unknown ids.
    let (status, _, _) = get_with(s, form("/targets/nope/pause", &[("csrf", &pause)])).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "the token is for another target"
    );
    let (status, _, _) = get_with(s, page("/targets/nope/edit")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_read_only_dashboard_shows_no_forms_and_answers_posts_405() {
    let f = fixture().await;
    let s = &f.state;
    let (_, _, body) = get_with(s, page("/")).await;
    assert!(!body.contains("Add target"), "{body}");
    let (_, _, body) = get_with(s, page("/targets/good")).await;
    assert!(
        !body.contains("csrf") && !body.contains("<form method=\"post\""),
        "{body}"
    );
    for uri in [
        "/targets",
        "/targets/good/pause",
        "/targets/good/resume",
        "/targets/good/edit",
        "/targets/good/delete",
    ] {
        let (status, headers, body) = get_with(s, form(uri, &[("url", "http://a/")])).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{uri}");
        assert!(headers.contains_key(header::ALLOW), "{uri}");
        assert!(body.contains("read-only"), "{body}");
    }
    let (status, _, _) = get_with(s, page("/targets/new")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn forms_need_auth_when_configured_and_a_loopback_host_when_not() {
    let mut e = editable().await;
    // No auth: a browser that reached the dashboard by another name gets no forms.
    let foreign = |uri: &str| {
        Request::get(uri)
            .header(header::HOST, "uptimer.example:8080")
            .body(Body::empty())
            .unwrap()
    };
    let (_, _, body) = get_with(&e.f.state, foreign("/targets/good")).await;
    assert!(
        body.contains("needs its credentials") && !body.contains("csrf"),
        "{body}"
    );
    let (status, _, _) = get_with(&e.f.state, foreign("/targets/new")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, _, local) = get_with(&e.f.state, page("/targets/good")).await;
    let pause = token_for(&local, "/targets/good/pause");
    let mut req = form("/targets/good/pause", &[("csrf", &pause)]);
    req.headers_mut()
        .insert(header::HOST, "uptimer.example:8080".parse().unwrap());
    let (status, _, _) = get_with(&e.f.state, req).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(!e.registry.get("good").unwrap().paused);

    // With auth: the credentials are asked for, and then any host will do.
    e.f.state.auth = Some(WebAuth::Token(Secret::new("s3cret")));
    let (status, _, _) =
        get_with(&e.f.state, form("/targets/good/pause", &[("csrf", &pause)])).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let mut req = form("/targets/good/pause", &[("csrf", &pause)]);
    req.headers_mut()
        .insert(header::HOST, "uptimer.example:8080".parse().unwrap());
    req.headers_mut()
        .insert(header::AUTHORIZATION, "Bearer s3cret".parse().unwrap());
    let (status, _, _) = get_with(&e.f.state, req).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(e.registry.get("good").unwrap().paused);
}
