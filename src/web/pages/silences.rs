//! The silences page: the silences and one-off maintenance windows under way or to come (each
//! with an Expire or End button), the configured maintenance windows, the last ones over, and
//! a form to add a silence. The form is read by the API's own `silence_from` and posts with an
//! anti-forgery token (`web::csrf`); a form with an error comes back with what was typed.
//! Without alerting in the process (`AppState::acks`) the page says so and offers no form.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{Value, json};

use super::{Frame, message_page, render};
use crate::config::WebAuth;
use crate::state::maintenance::{Schedule, Window};
use crate::store::alerts::gate::{Kind, Matcher, Silence};
use crate::store::{Micros, now_micros};
use crate::web::csrf;
use crate::web::{AppState, format};

/// How many silences and windows over are listed.
const ENDED_SHOWN: usize = 20;
/// The token's action of the add form.
const ADD: &str = "silence-add";

const NO_ALERTING: &str = "This process keeps no alerting: silences are made in the uptimer \
                           serve that writes the store and sends the notifications.";
const NEEDS_AUTH: &str = "Adding and expiring silences from the dashboard needs its \
                          credentials (set WEB_AUTH_TOKEN or WEB_AUTH_BASIC), or a browser on \
                          this machine opening it as http://127.0.0.1:… or http://localhost:….";

/// A silence or one-off window as a row.
struct MadeView {
    id: i64,
    kind: &'static str,
    matchers: String,
    from: String,
    until: String,
    by: String,
    reason: String,
    /// `active`, `pending` or `ended`.
    state: &'static str,
    /// Where its Expire or End button posts, and its token.
    action: String,
    csrf: String,
    button: &'static str,
}

/// A configured maintenance window as a row.
struct WindowView {
    name: String,
    schedule: String,
    duration: String,
    timezone: String,
    covers: String,
    mode: &'static str,
    /// `under way until …`, or empty.
    active: String,
}

/// What the add form shows: what was typed, and what was wrong with it.
#[derive(Default)]
struct AddForm {
    matchers: String,
    duration: String,
    reason: String,
    by: String,
    error: String,
}

#[derive(Template)]
#[template(path = "silences.html")]
struct SilencesPage {
    frame: Frame,
    /// The process keeps alerting (else nothing else is shown).
    alerting: bool,
    /// This browser may post the forms.
    forms: bool,
    note: &'static str,
    current: Vec<MadeView>,
    ended: Vec<MadeView>,
    windows: Vec<WindowView>,
    form: AddForm,
    csrf: String,
}

/// `GET /silences`.
pub async fn silences(State(s): State<AppState>, headers: HeaderMap) -> Response {
    page(&s, &headers, StatusCode::OK, AddForm::default()).await
}

async fn page(s: &AppState, headers: &HeaderMap, status: StatusCode, form: AddForm) -> Response {
    let now = now_micros();
    let mut frame = Frame::new(s, "silences", now);
    // Refreshing in place would lose what is being typed.
    frame.refresh = 0;
    let may = csrf::may_post(s.auth.as_ref(), s.listen_loopback, headers);
    let mut tpl = SilencesPage {
        frame,
        alerting: s.acks.is_some(),
        forms: s.acks.is_some() && may,
        note: if s.acks.is_none() {
            NO_ALERTING
        } else if may {
            ""
        } else {
            NEEDS_AUTH
        },
        current: Vec::new(),
        ended: Vec::new(),
        windows: Vec::new(),
        form,
        csrf: csrf::token(ADD),
    };
    if let Some(acks) = &s.acks {
        let all = match acks.store.silences(now, true).await {
            Ok(all) => all,
            Err(e) => return super::error_page(s, e.into()),
        };
        let (current, mut ended): (Vec<&Silence>, Vec<&Silence>) =
            all.iter().partition(|x| !over(x, now));
        ended.sort_by_key(|x| std::cmp::Reverse(x.ends_at));
        tpl.current = current.into_iter().map(|x| made_view(x, now)).collect();
        tpl.ended = ended
            .into_iter()
            .take(ENDED_SHOWN)
            .map(|x| made_view(x, now))
            .collect();
        tpl.windows = acks
            .live
            .get()
            .maintenance
            .iter()
            .map(|w| window_view(w, now))
            .collect();
    }
    match render(&tpl) {
        Ok(mut r) => {
            *r.status_mut() = status;
            r
        }
        Err(e) => super::error_page(s, e),
    }
}

fn made_view(x: &Silence, now: Micros) -> MadeView {
    let matchers: Vec<String> = x.matchers.iter().map(Matcher::to_string).collect();
    MadeView {
        id: x.id,
        kind: match x.kind {
            Kind::Silence => "silence",
            Kind::Maintenance => "maintenance",
        },
        matchers: if matchers.is_empty() {
            "every target".into()
        } else {
            matchers.join(" ")
        },
        from: format::datetime(x.starts_at),
        until: format::datetime(x.ends_at),
        by: x.created_by.clone().unwrap_or_default(),
        reason: x.reason.clone(),
        state: if x.active(now) {
            "active"
        } else if over(x, now) {
            "ended"
        } else {
            "pending"
        },
        action: format!("/silences/{}/expire", x.id),
        csrf: csrf::token(&expire_action(x.id)),
        button: match x.kind {
            Kind::Silence => "Expire",
            Kind::Maintenance => "End",
        },
    }
}

/// Over at `now`: ended, or expired before it began (it then ends when it would have begun).
fn over(x: &Silence, now: Micros) -> bool {
    x.ends_at <= now || x.ends_at <= x.starts_at
}

fn expire_action(id: i64) -> String {
    format!("silence-expire:{id}")
}

fn window_view(w: &Window, now: Micros) -> WindowView {
    let schedule = match &w.schedule {
        Schedule::Once(t) => format!("once, from {}", format::datetime(t.as_microsecond())),
        Schedule::Weekly { days, start } => {
            let at = start.strftime("%H:%M");
            if days.is_empty() {
                format!("every day at {at}")
            } else {
                let days: Vec<String> = days
                    .iter()
                    .map(|d| format!("{d:?}").chars().take(3).collect())
                    .collect();
                format!("{} at {at}", days.join(", "))
            }
        }
        Schedule::Cron(c) => format!("cron {}", c.pattern),
    };
    let mut covers: Vec<String> = w.targets.iter().map(|t| format!("target={t}")).collect();
    covers.extend(w.tags.iter().map(|t| format!("tag={t}")));
    WindowView {
        name: w.name.clone(),
        schedule,
        duration: format::length(i64::try_from(w.duration.as_micros()).unwrap_or(i64::MAX)),
        timezone: w.timezone.iana_name().unwrap_or("UTC").to_owned(),
        covers: if covers.is_empty() {
            "every target".into()
        } else {
            covers.join(" or ")
        },
        mode: w.mode.as_str(),
        active: w
            .active_until(now)
            .map(|until| format!("under way until {}", format::clock(until, now)))
            .unwrap_or_default(),
    }
}

/// Why a post is not taken: no alerting here, or this browser may not post.
fn refused(s: &AppState, headers: &HeaderMap) -> Option<Response> {
    let missing = s.acks.is_none().then_some(("No alerting", NO_ALERTING));
    super::refused_post(s, headers, missing, NEEDS_AUTH)
}

/// `POST /silences`: adds a silence and shows the page again (303), or the form with its error.
pub async fn add_silence(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(r) = refused(&s, &headers) {
        return r;
    }
    let Some(acks) = s.acks.clone() else {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    };
    let field = |name: &str| {
        url::form_urlencoded::parse(&body)
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    let mut form = AddForm {
        matchers: field("matchers"),
        duration: field("for"),
        reason: field("reason"),
        by: field("by"),
        error: String::new(),
    };
    if let Err(r) = csrf::check(ADD, &field("csrf")) {
        form.error = super::manage::refused_message(r).into();
        return page(&s, &headers, StatusCode::FORBIDDEN, form).await;
    }
    let now = now_micros();
    let by = match &s.auth {
        Some(WebAuth::Basic { user, .. }) => Some(user.clone()),
        _ => None,
    };
    let silence = match crate::web::silences::silence_from(&request(&form), Kind::Silence, by, now)
    {
        Ok(x) => x,
        Err(e) => {
            form.error = e;
            return page(&s, &headers, StatusCode::BAD_REQUEST, form).await;
        }
    };
    match acks.store.add_silence(silence).await {
        Ok(made) => {
            tracing::info!(
                id = made.id,
                by = made.created_by,
                "silence made on the dashboard: {}",
                made.reason
            );
            Redirect::to("/silences").into_response()
        }
        Err(e) => super::error_page(&s, e.into()),
    }
}

/// The form as the API's request: matchers apart at spaces and commas, an empty field absent.
fn request(form: &AddForm) -> Value {
    let matchers: Vec<&str> = form
        .matchers
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|m| !m.is_empty())
        .collect();
    let text = |v: &str| {
        let v = v.trim();
        if v.is_empty() { Value::Null } else { json!(v) }
    };
    json!({
        "matchers": matchers,
        "for": text(&form.duration),
        "reason": form.reason,
        "by": text(&form.by),
    })
}

/// `POST /silences/{id}/expire`: ends a silence or a one-off window now (303 to the page).
pub async fn expire_silence(
    State(s): State<AppState>,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = refused(&s, &headers) {
        return r;
    }
    let Some(acks) = s.acks.clone() else {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    };
    let token = url::form_urlencoded::parse(&body)
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    if let Err(r) = csrf::check(&expire_action(id), &token) {
        return message_page(
            &s,
            StatusCode::FORBIDDEN,
            "Forbidden",
            super::manage::refused_message(r).into(),
        );
    }
    match acks.store.expire_silence(id, None, now_micros()).await {
        Ok(Some(x)) => {
            tracing::info!(id, kind = x.kind.as_str(), "ended on the dashboard");
            Redirect::to("/silences").into_response()
        }
        Ok(None) => message_page(
            &s,
            StatusCode::NOT_FOUND,
            "Not found",
            format!("no silence or maintenance window {id}"),
        ),
        Err(e) => super::error_page(&s, e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forms_matchers_are_apart_at_spaces_and_commas() {
        let form = AddForm {
            matchers: " tag=db, channel=ops\ttarget=a ".into(),
            duration: "2h".into(),
            reason: "r".into(),
            ..AddForm::default()
        };
        assert_eq!(
            request(&form),
            json!({"matchers": ["tag=db", "channel=ops", "target=a"], "for": "2h",
                   "reason": "r", "by": null})
        );
    }
}
