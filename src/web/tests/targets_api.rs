//! The API's writes over real HTTP on 127.0.0.1: round trips with token and basic auth, the
//! refusals (401, 403, 404, 405, 409, 415, 422) and what the list shows of the registry.

use std::net::SocketAddr;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::config::target::{TargetDefaults, TargetSpec};
use crate::config::{Interval, Source, TlsVerify};
use crate::registry::Registry;
use crate::registry::edit::Editor;

fn defaults() -> TargetDefaults {
    TargetDefaults {
        interval: Interval::Every(Duration::from_secs(60)),
        timeout: Duration::from_secs(5),
        tls_verify: TlsVerify::Yes,
    }
}

/// The fixture with a live set holding "good" from the config file, an editor saving under
/// its directory, and `auth`.
pub(super) async fn writable(auth: Option<WebAuth>) -> Fixture {
    let mut f = fixture().await;
    let mut good = TargetSpec {
        id: Some("good".into()),
        name: Some("Good site".into()),
        url: "https://example.org/".into(),
        ..Default::default()
    }
    .build(&defaults())
    .unwrap();
    good.source = Source::File;
    let registry = Registry::new([good]);
    let editor = Editor::open(
        registry,
        defaults(),
        false,
        f._dir.path(),
        std::sync::Arc::new(|_| Ok(())),
    )
    .unwrap();
    f.state.editor = Some(Arc::new(editor));
    f.state.auth = auth;
    f
}

/// The router served on 127.0.0.1, until the test ends.
async fn serve(state: AppState) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app(state)).await });
    addr
}

struct Answer {
    status: u16,
    head: String,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }
}

/// One HTTP/1.0 request with these extra header lines and body; no client library, so that
/// it shares no code with the server or the CLI.
async fn call(addr: SocketAddr, method: &str, path: &str, headers: &[&str], body: &str) -> Answer {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!("{method} {path} HTTP/1.0\r\nHost: {addr}\r\n");
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    Answer {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

const JSON: &str = "Content-Type: application/json";
const TOKEN: &str = "Authorization: Bearer s3cret";

#[tokio::test]
async fn targets_round_trip_through_the_api_with_a_token() {
    let f = writable(Some(WebAuth::Token(Secret::new("s3cret")))).await;
    let registry = f.state.editor.as_ref().unwrap().registry().clone();
    let addr = serve(f.state.clone()).await;
    let body = json!({"name": "api made", "url": "http://ann:hunter2@127.0.0.1:9/x",
                      "interval": "30s", "tags": ["a", "b"],
                      "headers": {"X-Api-Key": "k3y-secret", "Accept": "text/plain"}})
    .to_string();

    // Without credentials, and with wrong ones: 401, nothing made.
    for auth in [None, Some("Authorization: Bearer wrong")] {
        let headers: Vec<&str> = [Some(JSON), auth].into_iter().flatten().collect();
        let a = call(addr, "POST", "/api/v1/targets", &headers, &body).await;
        assert_eq!(a.status, 401, "{}", a.body);
    }
    assert_eq!(registry.len(), 1);

    let made = call(addr, "POST", "/api/v1/targets", &[JSON, TOKEN], &body).await;
    assert_eq!(made.status, 201, "{}", made.body);
    let t = made.json();
    let id = t["id"].as_str().unwrap().to_owned();
    assert_eq!(
        made.header("location"),
        Some(format!("/api/v1/targets/{id}"))
    );
    assert_eq!(t["source"], "api");
    assert_eq!(t["paused"], false);
    assert_eq!(t["kind"], "http");
    assert_eq!(t["interval_s"], 30.0);
    assert_eq!(t["timeout_s"], 5.0);
    assert_eq!(t["tags"], json!(["a", "b"]));
    assert_eq!(t["url"], "http://ann:***@127.0.0.1:9/x");
    assert!(!made.body.contains("k3y-secret"), "{}", made.body);
    assert_eq!(t["config"]["headers"]["Accept"], "text/plain");
    assert_eq!(t["config"]["url"], "http://ann:***@127.0.0.1:9/x");
    assert_eq!(t["config"]["interval"], "30s");
    assert!(!made.body.contains("hunter2"), "{}", made.body);
    assert!(t["version"].as_u64().unwrap() > 0);
    assert_eq!(registry.get(&id).unwrap().target.name, "api made");

    // The Location answers at once, before any probe.
    let got = call(addr, "GET", &format!("/api/v1/targets/{id}"), &[TOKEN], "").await;
    assert_eq!(got.status, 200, "{}", got.body);
    assert_eq!(got.json()["source"], "api");

    let path = format!("/api/v1/targets/{id}");
    let put = call(
        addr,
        "PUT",
        &path,
        &[JSON, TOKEN],
        r#"{"name": "replaced", "url": "http://127.0.0.1:9/y"}"#,
    )
    .await;
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(
        put.json()["tags"],
        json!([]),
        "a PUT replaces the whole object"
    );
    let patched = call(
        addr,
        "PATCH",
        &path,
        &["Content-Type: application/merge-patch+json", TOKEN],
        r#"{"tags": ["c"], "name": null}"#,
    )
    .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    let p = patched.json();
    assert_eq!(p["tags"], json!(["c"]));
    assert_eq!(
        p["url"], "http://127.0.0.1:9/y",
        "a merge patch keeps the rest"
    );
    assert_eq!(registry.get(&id).unwrap().target.tags, ["c"]);

    let paused = call(addr, "POST", &format!("{path}/pause"), &[JSON, TOKEN], "").await;
    assert_eq!(paused.status, 200, "{}", paused.body);
    assert_eq!(paused.json()["paused"], true);
    assert!(registry.get(&id).unwrap().paused);
    let resumed = call(
        addr,
        "POST",
        &format!("{path}/resume"),
        &[JSON, TOKEN],
        "{}",
    )
    .await;
    assert_eq!(resumed.json()["paused"], false);
    assert!(!registry.get(&id).unwrap().paused);

    let gone = call(addr, "DELETE", &path, &[TOKEN], "").await;
    assert_eq!(gone.status, 204, "{}", gone.body);
    assert!(gone.body.is_empty());
    assert!(registry.get(&id).is_none());
    assert_eq!(call(addr, "GET", &path, &[TOKEN], "").await.status, 404);
    assert_eq!(call(addr, "DELETE", &path, &[TOKEN], "").await.status, 404);
}

#[tokio::test]
async fn basic_auth_writes_and_a_wrong_password_is_401() {
    let f = writable(Some(WebAuth::Basic {
        user: "ann".into(),
        password: Secret::new("pw"),
    }))
    .await;
    let addr = serve(f.state.clone()).await;
    let body = r#"{"id": "basic", "url": "http://127.0.0.1:9/"}"#;
    // bob:pw, then ann:pw
    let a = call(
        addr,
        "POST",
        "/api/v1/targets",
        &[JSON, "Authorization: Basic Ym9iOnB3"],
        body,
    )
    .await;
    assert_eq!(a.status, 401);
    let a = call(
        addr,
        "POST",
        "/api/v1/targets",
        &[JSON, "Authorization: Basic YW5uOnB3"],
        body,
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.body);
    assert_eq!(a.json()["id"], "basic");
    let a = call(
        addr,
        "POST",
        "/api/v1/targets/basic/pause",
        &[JSON, "Authorization: Basic YW5uOnB3"],
        "",
    )
    .await;
    assert_eq!(a.json()["paused"], true);
}

#[tokio::test]
async fn without_auth_writes_are_refused_unless_the_listener_is_loopback() {
    let mut f = writable(None).await;
    f.state.listen_loopback = false;
    let addr = serve(f.state.clone()).await;
    let body = r#"{"url": "http://127.0.0.1:9/"}"#;
    let a = call(addr, "POST", "/api/v1/targets", &[JSON], body).await;
    assert_eq!(a.status, 403, "{}", a.body);
    assert!(
        a.json()["error"]
            .as_str()
            .unwrap()
            .contains("WEB_AUTH_TOKEN"),
        "{}",
        a.body
    );
    for (method, path) in [
        ("POST", "/api/v1/targets/good/pause"),
        ("DELETE", "/api/v1/targets/good"),
    ] {
        assert_eq!(
            call(addr, method, path, &[JSON], "").await.status,
            403,
            "{method} {path}"
        );
    }
    assert!(
        !f.state
            .editor
            .as_ref()
            .unwrap()
            .registry()
            .get("good")
            .unwrap()
            .paused
    );
    // Reading stays open.
    assert_eq!(
        call(addr, "GET", "/api/v1/targets", &[], "").await.status,
        200
    );

    // On loopback the same write is taken.
    f.state.listen_loopback = true;
    let addr = serve(f.state.clone()).await;
    assert_eq!(
        call(addr, "POST", "/api/v1/targets", &[JSON], body)
            .await
            .status,
        201
    );
}

#[tokio::test]
async fn bad_writes_get_422_409_404_415_400_and_change_nothing() {
    let f = writable(None).await;
    let registry = f.state.editor.as_ref().unwrap().registry().clone();
    let addr = serve(f.state.clone()).await;
    let post = |body: &'static str| call(addr, "POST", "/api/v1/targets", &[JSON], body);

    let a = post(r#"{"url": "ftp://127.0.0.1/"}"#).await;
    assert_eq!(a.status, 422, "{}", a.body);
    assert_eq!(a.json()["errors"][0]["field"], "url");
    let a = post(r#"{"url": "http://127.0.0.1:9/", "interval": "often"}"#).await;
    assert_eq!(a.status, 422, "{}", a.body);
    assert_eq!(a.json()["errors"][0]["field"], "interval");
    let a = post(r#"{"url": "http://127.0.0.1:9/", "colour": "red"}"#).await;
    assert_eq!(a.status, 422, "{}", a.body);
    assert_eq!(a.json()["errors"][0]["field"], "colour");
    // The cloud metadata service is not a target, whatever the path.
    let a = post(r#"{"url": "http://169.254.169.254/latest/meta-data/iam/"}"#).await;
    assert_eq!(a.status, 422, "{}", a.body);
    let e = &a.json()["errors"][0];
    assert_eq!(e["field"], "url");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("allow_private_targets"),
        "{e}"
    );
    assert_eq!(registry.len(), 1, "nothing was added");

    // An id clash, and targets of the config file: 409 naming the source.
    let a = post(r#"{"id": "good", "url": "http://127.0.0.1:9/"}"#).await;
    assert_eq!(a.status, 409, "{}", a.body);
    for (method, body) in [
        ("PUT", r#"{"url": "http://127.0.0.1:9/"}"#),
        ("PATCH", "{}"),
        ("DELETE", ""),
    ] {
        let a = call(addr, method, "/api/v1/targets/good", &[JSON], body).await;
        assert_eq!(a.status, 409, "{method}: {}", a.body);
        assert_eq!(a.json()["source"], "file", "{method}");
        assert!(
            a.json()["error"].as_str().unwrap().contains("file"),
            "{}",
            a.body
        );
    }
    assert_eq!(
        registry.get("good").unwrap().target.url.as_str(),
        "https://example.org/"
    );
    // A configured target pauses all the same.
    let a = call(addr, "POST", "/api/v1/targets/good/pause", &[JSON], "").await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.json()["source"], "file");

    // Unknown ids.
    for (method, path) in [
        ("PUT", "/api/v1/targets/nope"),
        ("PATCH", "/api/v1/targets/nope"),
        ("DELETE", "/api/v1/targets/nope"),
        ("POST", "/api/v1/targets/nope/pause"),
        ("POST", "/api/v1/targets/nope/resume"),
    ] {
        let a = call(
            addr,
            method,
            path,
            &[JSON],
            r#"{"url": "http://127.0.0.1:9/"}"#,
        )
        .await;
        assert_eq!(a.status, 404, "{method} {path}: {}", a.body);
    }

    // Not declared JSON (what a cross-site form sends): 415, also for a bodiless pause.
    for ct in [
        "Content-Type: application/x-www-form-urlencoded",
        "Content-Type: text/plain",
        "Content-Type: multipart/form-data; boundary=x",
    ] {
        let a = call(
            addr,
            "POST",
            "/api/v1/targets",
            &[ct],
            r#"{"url": "http://127.0.0.1:9/"}"#,
        )
        .await;
        assert_eq!(a.status, 415, "{ct}: {}", a.body);
    }
    assert_eq!(
        call(
            addr,
            "POST",
            "/api/v1/targets",
            &[],
            r#"{"url": "http://127.0.0.1:9/"}"#
        )
        .await
        .status,
        415
    );
    assert_eq!(
        call(addr, "POST", "/api/v1/targets/good/resume", &[], "")
            .await
            .status,
        415
    );
    assert!(
        registry.get("good").unwrap().paused,
        "the refused resume changed nothing"
    );
    // Declared JSON but not JSON.
    let a = post("{not json").await;
    assert_eq!(a.status, 400, "{}", a.body);
    let a = post("[1, 2]").await;
    assert_eq!(a.status, 422, "{}", a.body);
    assert_eq!(registry.len(), 1);
}

#[tokio::test]
async fn a_read_only_server_answers_writes_with_405_and_allow() {
    let f = fixture().await;
    assert!(f.state.editor.is_none());
    let addr = serve(f.state.clone()).await;
    for (method, path, allow) in [
        ("POST", "/api/v1/targets", "GET"),
        ("PUT", "/api/v1/targets/good", "GET"),
        ("PATCH", "/api/v1/targets/good", "GET"),
        ("DELETE", "/api/v1/targets/good", "GET"),
        ("POST", "/api/v1/targets/good/pause", ""),
        ("POST", "/api/v1/targets/good/resume", ""),
    ] {
        let a = call(addr, method, path, &[JSON], "{}").await;
        assert_eq!(a.status, 405, "{method} {path}: {}", a.body);
        assert_eq!(a.header("allow").as_deref(), Some(allow), "{method} {path}");
        assert!(a.json()["error"].as_str().unwrap().contains("read-only"));
    }
}

#[tokio::test]
async fn the_list_shows_source_and_paused_and_filters_on_paused() {
    let f = writable(None).await;
    let editor = f.state.editor.clone().unwrap();
    let addr = serve(f.state.clone()).await;
    let ids = |v: &Value| -> Vec<String> {
        v["targets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let all = call(addr, "GET", "/api/v1/targets?sort=name", &[], "")
        .await
        .json();
    let good = all["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "good")
        .unwrap();
    assert_eq!(good["source"], "file");
    assert_eq!(good["paused"], false);
    assert!(
        good["status"].is_string(),
        "the store's fields stay: {good}"
    );
    let evil = all["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "evil")
        .unwrap();
    assert!(evil["source"].is_null(), "not in the live set: {evil}");

    editor.set_paused("good", true).unwrap();
    let paused = call(addr, "GET", "/api/v1/targets?paused=true", &[], "")
        .await
        .json();
    assert_eq!(ids(&paused), ["good"]);
    assert_eq!(paused["matching"], 1);
    assert_eq!(paused["targets"][0]["paused"], true);
    let running = call(
        addr,
        "GET",
        "/api/v1/targets?paused=false&sort=name&per_page=1&page=2",
        &[],
        "",
    )
    .await
    .json();
    assert_eq!(running["matching"], 2);
    assert_eq!(ids(&running).len(), 1);
    assert!(!ids(&running).contains(&"good".to_owned()));
    assert_eq!(
        call(addr, "GET", "/api/v1/targets?paused=maybe", &[], "")
            .await
            .status,
        400
    );
}

/// Every route but the HTML pages is in the OpenAPI document with each of its methods, and
/// the writes with their refusals.
#[tokio::test]
async fn the_openapi_document_has_every_route_and_method() {
    let doc: Value = serde_json::from_str(OPENAPI).unwrap();
    for (path, methods) in [
        ("/api/v1/targets/{id}/events", &["get"][..]),
        ("/api/v1/targets/{id}/series", &["get"][..]),
        ("/api/v1/targets/{id}/uptime", &["get"][..]),
        ("/api/v1/incidents", &["get"][..]),
        ("/api/v1/openapi.json", &["get"][..]),
        ("/api/v1/push/{token}", &["get", "post"][..]),
        ("/badges/{id}/status.svg", &["get"][..]),
        ("/badges/{id}/uptime.svg", &["get"][..]),
        ("/badges/{id}/response.svg", &["get"][..]),
        ("/healthz", &["get"][..]),
        ("/readyz", &["get"][..]),
        ("/metrics", &["get"][..]),
        ("/api/v1/targets", &["get", "post"][..]),
        (
            "/api/v1/targets/{id}",
            &["get", "put", "patch", "delete"][..],
        ),
        ("/api/v1/targets/{id}/pause", &["post"][..]),
        ("/api/v1/targets/{id}/resume", &["post"][..]),
        ("/api/v1/silences", &["get", "post"][..]),
        ("/api/v1/silences/{id}", &["delete"][..]),
        ("/api/v1/maintenance", &["get", "post"][..]),
        ("/api/v1/maintenance/{id}", &["delete"][..]),
    ] {
        for m in methods {
            let op = &doc["paths"][path][m];
            assert!(op.is_object(), "{m} {path} undocumented");
            let writes = ["/api/v1/targets", "/api/v1/silences", "/api/v1/maintenance"];
            if *m != "get" && writes.iter().any(|w| path.starts_with(w)) {
                for code in ["401", "403", "404", "405"] {
                    if *m == "post" && writes.contains(&path) && code == "404" {
                        continue;
                    }
                    assert!(op["responses"][code].is_object(), "{m} {path}: no {code}");
                }
            }
        }
    }
}
