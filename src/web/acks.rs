//! Acknowledging incidents: `POST /api/v1/incidents/{id}/ack` (with the dashboard's
//! credentials), and the signed links notifications carry (`/ack/{id}/{signature}`, public: the
//! signature is the credential), whose GET shows a confirmation page and whose POST
//! acknowledges, so that a chat unfurler or a mail scanner that follows the link acknowledges
//! nothing.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde_json::{Value, json};

use super::AppState;
use super::targets_api::{declares_json, error};
use crate::alerting::links::Links;
use crate::config::WebAuth;
use crate::store::alerts::Acked;
use crate::store::alerts::AlertStore;
use crate::store::rfc3339;

/// What acknowledging needs: the store that keeps the alert rules, and the links' key.
#[derive(Clone)]
pub struct Acks {
    pub store: std::sync::Arc<dyn AlertStore>,
    pub links: Option<Links>,
    /// The alerting in use: its configured maintenance windows.
    pub live: crate::config::alerting::LiveAlerting,
}

/// The answer to an acknowledgement, as JSON.
fn answer(id: i64, done: Result<Acked, crate::store::StoreError>) -> Response {
    match done {
        Ok(Acked::Now { at, target_id }) => Json(json!({
            "incident": id, "target": target_id, "acknowledged_at": rfc3339(at), "already": false
        }))
        .into_response(),
        Ok(Acked::Before { at, target_id }) => Json(json!({
            "incident": id, "target": target_id, "acknowledged_at": rfc3339(at), "already": true
        }))
        .into_response(),
        Ok(Acked::Resolved) => error(
            StatusCode::CONFLICT,
            format!("incident {id} is resolved already"),
        ),
        Ok(Acked::Unknown) => error(StatusCode::NOT_FOUND, format!("no incident {id}")),
        Err(e) => {
            tracing::error!(error = %e, incident = id, "acknowledging failed");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the store failed; see the log",
            )
        }
    }
}

/// `POST /api/v1/incidents/{id}/ack` with a JSON body (`{}` or `{"by": "NAME"}`; the Basic
/// user by default).
pub async fn api_ack(
    State(s): State<AppState>,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(acks) = s.acks.clone() else {
        return error(
            StatusCode::METHOD_NOT_ALLOWED,
            "this server does not write its store: acknowledge where it is written",
        );
    };
    if s.writes_unguarded() {
        return error(
            StatusCode::FORBIDDEN,
            "set WEB_AUTH_TOKEN or WEB_AUTH_BASIC before acknowledging through a listener other machines reach",
        );
    }
    if !declares_json(&headers) {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "a JSON body: {} or {\"by\": \"NAME\"} with Content-Type: application/json",
        );
    }
    let doc: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => return error(StatusCode::BAD_REQUEST, format!("not JSON: {e}")),
        }
    };
    let by = match doc.get("by") {
        Some(Value::String(b)) if !b.trim().is_empty() => {
            Some(b.trim().chars().take(200).collect())
        }
        Some(Value::String(_)) | Some(Value::Null) | None => match &s.auth {
            Some(WebAuth::Basic { user, .. }) => Some(user.clone()),
            _ => None,
        },
        Some(_) => return error(StatusCode::BAD_REQUEST, "by: expected a string"),
    };
    answer(id, acks.store.ack_incident(id, by, "api").await)
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · uptimer</title><link rel=\"stylesheet\" href=\"/assets/style.css\">\
         </head><body><main class=\"ack\"><h1>{title}</h1>{body}</main></body></html>"
    );
    (status, [(header::CACHE_CONTROL, "no-store")], Html(html)).into_response()
}

/// Checks a link; the store when it is good.
fn checked(s: &AppState, id: i64, signature: &str) -> Option<std::sync::Arc<dyn AlertStore>> {
    let a = s.acks.as_ref()?;
    let links = a.links.as_ref()?;
    links.key.verify(id, signature).then(|| a.store.clone())
}

fn invalid_link() -> Response {
    page(
        StatusCode::FORBIDDEN,
        "Link not valid",
        "<p>This acknowledgement link is not valid here (wrong or changed key, or links are off: set WEB_PUBLIC_URL).</p>",
    )
}

/// `GET /ack/{id}/{signature}`: the confirmation page.
pub async fn link_page(
    State(s): State<AppState>,
    Path((id, signature)): Path<(i64, String)>,
) -> Response {
    let Some(store) = checked(&s, id, &signature) else {
        return invalid_link();
    };
    let about = match store.incident_brief(id).await {
        Ok(Some((target, started, ended))) => format!(
            "<p>{name} has been failing since {since}{over}.</p>",
            name = crate::html::escape(&target.name),
            since = rfc3339(started),
            over = ended.map_or(String::new(), |e| format!(
                " (it recovered at {})",
                rfc3339(e)
            )),
        ),
        Ok(None) => return page(StatusCode::NOT_FOUND, "No such incident", ""),
        Err(e) => {
            tracing::warn!(error = %e, incident = id, "reading the incident failed");
            String::new()
        }
    };
    page(
        StatusCode::OK,
        &format!("Acknowledge incident {id}?"),
        &format!(
            "{about}<p>Acknowledging stops its reminders until it resolves, and tells PagerDuty and \
             Opsgenie.</p><form method=\"post\" action=\"/ack/{id}/{signature}\">\
             <label>Your name (optional) <input name=\"by\" maxlength=\"200\"></label> \
             <button type=\"submit\">Acknowledge</button></form>"
        ),
    )
}

/// `POST /ack/{id}/{signature}`: acknowledges (a form's `by` names who).
pub async fn link_ack(
    State(s): State<AppState>,
    Path((id, signature)): Path<(i64, String)>,
    body: Bytes,
) -> Response {
    let Some(store) = checked(&s, id, &signature) else {
        return invalid_link();
    };
    let by = url::form_urlencoded::parse(&body)
        .find(|(k, _)| k == "by")
        .map(|(_, v)| v.trim().chars().take(200).collect::<String>())
        .filter(|v| !v.is_empty());
    match store.ack_incident(id, by, "link").await {
        Ok(Acked::Now { .. }) => page(
            StatusCode::OK,
            &format!("Incident {id} acknowledged"),
            "<p>Its reminders stop until it resolves.</p>",
        ),
        Ok(Acked::Before { at, .. }) => page(
            StatusCode::OK,
            &format!("Incident {id} acknowledged"),
            &format!("<p>It was acknowledged already, at {}.</p>", rfc3339(at)),
        ),
        Ok(Acked::Resolved) => page(
            StatusCode::CONFLICT,
            &format!("Incident {id} is resolved"),
            "<p>There is nothing left to acknowledge.</p>",
        ),
        Ok(Acked::Unknown) => page(StatusCode::NOT_FOUND, "No such incident", ""),
        Err(e) => {
            tracing::error!(error = %e, incident = id, "acknowledging failed");
            page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Not acknowledged",
                "<p>The store failed; see the log.</p>",
            )
        }
    }
}
