//! SVG badges, shields-style, for READMEs and wikis: status, uptime over a window, response
//! time. Text widths are estimated (no font metrics on the server); labels are escaped.

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::window::Window;
use super::{AppError, AppState, esc, format};
use crate::store::{Status, TargetSummary, now_micros};

const GREEN: &str = "#16a34a";
const RED: &str = "#dc2626";
const AMBER: &str = "#d97706";
/// Degraded's own amber, darker than flapping's so the two tell apart; white text on it has a
/// contrast of 5:1.
const DARK_AMBER: &str = "#b45309";
const GREY: &str = "#6b7280";

fn text_width(s: &str) -> usize {
    s.chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                7
            } else {
                8
            }
        })
        .sum::<usize>()
        + 12
}

/// A two-part badge: grey label, coloured value.
pub fn badge(label: &str, value: &str, color: &str) -> String {
    let (lw, vw) = (text_width(label), text_width(value));
    let w = lw + vw;
    let (label, value) = (esc(label), esc(value));
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="20" role="img" aria-label="{label}: {value}"><title>{label}: {value}</title><clipPath id="r"><rect width="{w}" height="20" rx="3" fill="#fff"/></clipPath><g clip-path="url(#r)"><rect width="{lw}" height="20" fill="#555"/><rect x="{lw}" width="{vw}" height="20" fill="{color}"/></g><g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11"><text x="{lx}" y="14">{label}</text><text x="{vx}" y="14">{value}</text></g></svg>"##,
        lx = lw / 2,
        vx = lw + vw / 2,
    )
}

fn svg(body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "no-cache, max-age=0"),
        ],
        body,
    )
        .into_response()
}

#[derive(Debug, Default, Deserialize)]
pub struct BadgeParams {
    pub label: Option<String>,
    pub window: Option<String>,
}

/// The target, or the badge to answer instead: an embedded badge must never show as a broken
/// image, so an id that is not (or no longer) known answers a grey "unknown" SVG, not a 404.
async fn find(
    s: &AppState,
    id: &str,
    label: &str,
) -> Result<Result<TargetSummary, Response>, AppError> {
    Ok(s.store
        .target(id)
        .await?
        .ok_or_else(|| svg(badge(label, "unknown", GREY))))
}

fn label(p: &BadgeParams, default: &str) -> String {
    p.label
        .as_deref()
        .filter(|l| !l.is_empty())
        .unwrap_or(default)
        .chars()
        .take(40)
        .collect()
}

pub async fn status(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(p): Query<BadgeParams>,
) -> Result<Response, AppError> {
    let label = label(&p, "status");
    let t = match find(&s, &id, &label).await? {
        Ok(t) => t,
        Err(unknown) => return Ok(unknown),
    };
    let status = super::pages::shown_status(&s, &id, t.status);
    let color = match status {
        Status::Up => GREEN,
        Status::Down => RED,
        Status::Flapping => AMBER,
        Status::Degraded => DARK_AMBER,
        Status::Unknown | Status::Paused => GREY,
    };
    Ok(svg(badge(&label, status.as_str(), color)))
}

pub async fn uptime(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(p): Query<BadgeParams>,
) -> Result<Response, AppError> {
    let Window { name, span, .. } = Window::named(p.window.as_deref())?;
    let label = label(&p, &format!("uptime {name}"));
    if let Err(unknown) = find(&s, &id, &label).await? {
        return Ok(unknown);
    }
    let now = now_micros();
    let u = s.store.uptime(&id, now - span, now).await?;
    let color = match u.ratio {
        None => GREY,
        Some(r) if r >= 0.999 => GREEN,
        Some(r) if r >= 0.99 => AMBER,
        Some(_) => RED,
    };
    Ok(svg(badge(&label, &format::percent(u.ratio), color)))
}

pub async fn response(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(p): Query<BadgeParams>,
) -> Result<Response, AppError> {
    let label = label(&p, "response");
    let t = match find(&s, &id, &label).await? {
        Ok(t) => t,
        Err(unknown) => return Ok(unknown),
    };
    let (value, color) = match t.last_response_ms {
        None => ("–".to_owned(), GREY),
        Some(ms) => (
            format::ms(ms as f64),
            if ms < 500 {
                GREEN
            } else if ms < 2000 {
                AMBER
            } else {
                RED
            },
        ),
    };
    Ok(svg(badge(&label, &value, color)))
}
