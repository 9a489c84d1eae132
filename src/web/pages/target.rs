//! A target's page: its state, stats, response-time chart over a window, incidents and last
//! events.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;

use super::{Frame, IncidentRow, incident_rows, render, tag_links, target_href};
use crate::event::ConditionResult;
use crate::registry::Entry;
use crate::store::{DAY, IncidentQuery, Status, TargetSummary, now_micros};
use crate::web::charts::{history_strip, response_chart};
use crate::web::window::{WINDOWS, Window};
use crate::web::{AppError, AppState, format};

#[derive(Debug, Default, Deserialize)]
pub struct TargetParams {
    #[serde(default)]
    pub window: String,
}

/// One condition of the last check: its result and what it resolved to.
struct ConditionView {
    /// `ok` or `fail`.
    class: &'static str,
    mark: &'static str,
    /// Read out instead of the mark.
    label: &'static str,
    /// Gatus's display: the condition as written when it holds, with the values it was given
    /// when it fails (`[STATUS] (502) == 200`).
    text: String,
}

impl ConditionView {
    fn of(c: &ConditionResult) -> ConditionView {
        let (class, mark, label) = if c.success {
            ("ok", "✓", "holds")
        } else {
            ("fail", "✗", "fails")
        };
        let text = if c.resolved.is_empty() {
            c.condition.clone()
        } else {
            c.resolved.clone()
        };
        ConditionView {
            class,
            mark,
            label,
            text,
        }
    }
}

struct EventView {
    time: String,
    result: &'static str,
    code: String,
    ms: String,
    phases: String,
    ip: String,
    http: String,
    error: String,
}

#[derive(Template)]
#[template(path = "target.html")]
struct TargetPage {
    frame: Frame,
    name: String,
    status: &'static str,
    url: String,
    tags: Vec<(String, String)>,
    badge_status: String,
    badge_uptime: String,
    badge_response: String,
    down_since: String,
    last_error: String,
    stats: Vec<(String, String, &'static str)>,
    windows: Vec<(&'static str, String, bool)>,
    chart: String,
    history: String,
    incidents: Vec<IncidentRow>,
    /// The conditions of the newest check (empty: the target has none).
    conditions: Vec<ConditionView>,
    /// When that check ran.
    conditions_time: String,
    /// What the newest check of a kind beyond HTTP saw (and an HTTPS check's TLS session).
    details: Vec<super::details::DetailsView>,
    events: Vec<EventView>,
    /// A push target's push URL (empty for other targets).
    push_url: String,
    /// Where the target comes from and the forms that change it (None: not in the live set,
    /// such as a removed target).
    actions: Option<super::manage::Actions>,
    /// A maintenance window or silence holds its notifications back.
    held: Option<super::Held>,
}

pub async fn target(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(p): Query<TargetParams>,
    headers: HeaderMap,
) -> Response {
    let push_url = push_url(&s, &id, &headers);
    let live = live_entry(&s, &id);
    let actions = live
        .as_ref()
        .map(|e| super::manage::actions(&s, e, &headers));
    let page = target_page(&s, id, p, push_url, live, actions).await;
    page.unwrap_or_else(|e| super::error_page(&s, e))
}

/// The push URL of a push target, as the browser reached this server (its `Host`, and https
/// behind a proxy that says so); empty for other targets. Its token is a credential: a
/// dashboard without auth shows it only to a browser on this machine (a loopback `Host`), never
/// to whoever reaches a public address.
fn push_url(s: &AppState, id: &str, headers: &HeaderMap) -> String {
    let Some(token) = s.push.as_ref().and_then(|b| b.token_of(id)) else {
        return String::new();
    };
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    if s.auth.is_none() && !header("host").is_some_and(crate::web::csrf::is_loopback_host) {
        return "(shown only with dashboard auth or on this machine; the token is in \
                DATA_DIR/push-targets.json)"
            .into();
    }
    let scheme = match header("x-forwarded-proto") {
        Some(p) if p.eq_ignore_ascii_case("https") => "https",
        _ => "http",
    };
    let path = format!("/api/v1/push/{token}");
    match header("host") {
        Some(host) => format!("{scheme}://{host}{path}"),
        None => path,
    }
}

/// The live set's entry of `id`, when the process keeps one (`serve` probing).
fn live_entry(s: &AppState, id: &str) -> Option<Arc<Entry>> {
    s.editor.as_ref().and_then(|e| e.registry().get(id))
}

/// The status to show of target `id` whose last check said `stored`: paused while the live
/// set says so, whatever its last check said.
pub fn shown_status(s: &AppState, id: &str, stored: Status) -> Status {
    if live_entry(s, id).is_some_and(|e| e.paused) {
        Status::Paused
    } else {
        stored
    }
}

/// What the store says of a target it has no row of yet: one just added, before its first
/// check is stored.
fn not_checked_yet(e: &Entry) -> TargetSummary {
    let t = &e.target;
    TargetSummary {
        id: t.id.clone(),
        name: t.name.clone(),
        url: Some(crate::config::target::masked_url(&t.url)),
        tags: t.tags.clone(),
        interval_s: None,
        status: Status::Unknown,
        last_check: None,
        last_response_ms: None,
        last_status_code: None,
        last_error_kind: None,
        last_error: None,
        recent: String::new(),
        cert_not_after: None,
        down_since: None,
        uptime: Default::default(),
        removed_at: None,
        last_duration_ms: None,
    }
}

async fn target_page(
    s: &AppState,
    id: String,
    p: TargetParams,
    push_url: String,
    live: Option<Arc<Entry>>,
    actions: Option<super::manage::Actions>,
) -> Result<Response, AppError> {
    let now = now_micros();
    let win = Window::named(Some(p.window.as_str()).filter(|w| !w.is_empty()))?;
    let ((from, to), step) = (win.range(now), win.step);
    let t = match (s.store.target(&id).await?, &live) {
        (Some(t), _) => t,
        (None, Some(e)) => not_checked_yet(e),
        (None, None) => return Err(AppError::NotFound(format!("no target with id {id:?}"))),
    };
    let status = shown_status(s, &id, t.status);
    let points = s.store.series(&id, from, to, step).await?;
    let (incidents, _) = s
        .store
        .incidents(IncidentQuery {
            target: Some(id.clone()),
            limit: 20,
            ..Default::default()
        })
        .await?;
    let events = s.store.events(&id, 0, i64::MAX, 50).await?;
    let href = target_href(&id);
    let badge = |kind: &str| format!("/badges/{}/{kind}.svg", &href["/targets/".len()..]);
    let cert = match t.cert_not_after {
        None => ("–".to_owned(), ""),
        Some(c) => {
            let days = (c - now) / DAY;
            let class = if days < 7 {
                "bad"
            } else if days < 21 {
                "warn"
            } else {
                "good"
            };
            (format!("{} ({days} d)", format::date(c)), class)
        }
    };
    let up_class = |r: Option<f64>| match r {
        Some(r) if r >= 0.999 => "good",
        Some(r) if r >= 0.99 => "warn",
        Some(_) => "bad",
        None => "",
    };
    let p95 = {
        points
            .iter()
            .filter_map(|p| p.p95_ms)
            .fold(None::<f64>, |a, v| Some(a.map_or(v, |a| a.max(v))))
    };
    // Over the successful checks, as each point's average.
    let avg = {
        let (sum, n) = points.iter().fold((0.0, 0u64), |(s, n), p| match p.avg_ms {
            Some(a) => (s + a * p.up as f64, n + p.up),
            None => (s, n),
        });
        (n > 0).then(|| sum / n as f64)
    };
    let stats = vec![
        (
            "Uptime 24 h".into(),
            format::percent(t.uptime.day),
            up_class(t.uptime.day),
        ),
        (
            "Uptime 7 d".into(),
            format::percent(t.uptime.week),
            up_class(t.uptime.week),
        ),
        (
            "Uptime 30 d".into(),
            format::percent(t.uptime.month),
            up_class(t.uptime.month),
        ),
        (
            "Last response".into(),
            t.last_response_ms
                .map(|v| format::ms(v as f64))
                .unwrap_or_else(|| "–".into()),
            "",
        ),
        (
            format!("Average ({})", win.name),
            avg.map(format::ms).unwrap_or_else(|| "–".into()),
            "",
        ),
        (
            format!("Worst p95 ({})", win.name),
            p95.map(format::ms).unwrap_or_else(|| "–".into()),
            "",
        ),
        ("Certificate expires".into(), cert.0, cert.1),
        (
            "Last check".into(),
            t.last_check
                .map(|m| format::ago(m, now))
                .unwrap_or_else(|| "never".into()),
            "",
        ),
    ];
    let held = super::held(
        super::gate(s, now).await.as_ref(),
        &t.id,
        &t.name,
        &t.tags,
        now,
    );
    let tpl = TargetPage {
        frame: Frame::new(s, "", now),
        name: t.name.clone(),
        status: status.as_str(),
        url: t.url.clone().unwrap_or_default(),
        tags: tag_links(&t.tags),
        badge_status: badge("status"),
        badge_uptime: badge("uptime"),
        badge_response: badge("response"),
        down_since: t
            .down_since
            .filter(|_| status == Status::Down)
            .map(format::datetime)
            .unwrap_or_default(),
        last_error: t.last_error.clone().unwrap_or_default(),
        stats,
        windows: WINDOWS
            .iter()
            .map(|w| (w.0, format!("{href}?window={}", w.0), w.0 == win.name))
            .collect(),
        chart: response_chart(&points, from, to, step),
        history: history_strip(&points, from, to, step),
        incidents: incident_rows(
            &incidents,
            &super::incidents_alerts(s, &incidents).await,
            now,
        ),
        conditions: events
            .first()
            .and_then(|e| e.conditions.as_deref())
            .unwrap_or_default()
            .iter()
            .map(ConditionView::of)
            .collect(),
        conditions_time: events
            .first()
            .map(|e| format::datetime(e.event_time))
            .unwrap_or_default(),
        details: events
            .first()
            .map(|e| super::details::details(e, crate::store::from_micros(now)))
            .unwrap_or_default(),
        events: events
            .iter()
            .map(|e| {
                let f = |v: Option<f64>| v.map(|v| format!("{v:.1}")).unwrap_or_else(|| "–".into());
                EventView {
                    time: format::datetime(e.event_time),
                    result: match (e.up.unwrap_or(false), e.degraded == Some(true)) {
                        (true, true) => "degraded",
                        (true, false) => "up",
                        (false, _) => "down",
                    },
                    code: e
                        .status_code
                        .filter(|c| *c != 0)
                        .map_or_else(|| "–".into(), |c| c.to_string()),
                    // A failed check has no response time: its error says what happened.
                    ms: if e.up == Some(false) {
                        "–".into()
                    } else {
                        format::ms(e.response_time_ms as f64)
                    },
                    phases: e
                        .phases_ms
                        .iter()
                        .map(|v| f(*v))
                        .collect::<Vec<_>>()
                        .join(" / "),
                    ip: e.ip.clone().unwrap_or_default(),
                    http: e.http_version.clone().unwrap_or_default(),
                    error: match (&e.error_kind, &e.error) {
                        (Some(k), Some(m)) => format!("{k}: {m}"),
                        (Some(k), None) => k.clone(),
                        (None, Some(m)) => m.clone(),
                        (None, None) => String::new(),
                    },
                }
            })
            .collect(),
        push_url,
        actions,
        held,
    };
    render(&tpl)
}
