//! `GET|POST /api/v1/push/{token}?status=up|down&msg=…&ping=<ms>`: a push target's job says it
//! ran. Outside the dashboard's authentication (the token is the credential), rate-limited per
//! token; the answer is JSON, errors as `{"error": …}` like the rest of the API. The token is
//! never logged: the request line is not logged here, and errors do not repeat it.

use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::readers::push::{Push, Refused};

/// One answer for every token that is not a push target's (whether the process has push
/// targets at all included), so that it tells nothing about which tokens exist.
const UNKNOWN: &str = "no push target has this token";

fn error(status: StatusCode, msg: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": msg }))).into_response()
}

pub async fn push(
    State(s): State<AppState>,
    Path(token): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(board) = &s.push else {
        return error(StatusCode::NOT_FOUND, UNKNOWN);
    };
    if !board.knows(&token) {
        return error(StatusCode::NOT_FOUND, UNKNOWN);
    }
    let push = match Push::from_query(query.as_deref().unwrap_or_default()) {
        Ok(p) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e),
    };
    match board.push(&token, push).await {
        Ok(()) => axum::Json(serde_json::json!({ "ok": true })).into_response(),
        Err(Refused::UnknownToken) => error(StatusCode::NOT_FOUND, UNKNOWN),
        Err(Refused::TooMany { retry_after }) => {
            let secs = retry_after.as_secs_f64().ceil().max(1.0) as u64;
            let mut r = error(
                StatusCode::TOO_MANY_REQUESTS,
                &format!(
                    "too many pushes for this target (at most {} a minute); retry in {secs} s",
                    crate::readers::push::PER_MINUTE
                ),
            );
            r.headers_mut().insert(
                header::RETRY_AFTER,
                secs.to_string().parse().expect("digits"),
            );
            r
        }
        Err(Refused::Stopped) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is shutting down; push again later",
        ),
    }
}
