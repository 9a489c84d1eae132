//! The HTML pages: overview, target, incidents. Handlers turn store answers into small view
//! structs of display strings; the templates only lay them out (askama escapes every `{{ }}`
//! except the SVG built and escaped in `charts`).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

use super::charts::{history_strip, recent_strip, response_chart};
use super::{AppError, AppState, format};
use crate::store::{
    DAY, HOUR, IncidentQuery, MINUTE, Micros, OverviewQuery, RECENT_CHECKS, Sort, Status,
    now_micros,
};

pub(super) const VERSION: &str = env!("CARGO_PKG_VERSION");
/// Targets per overview page.
pub const PER_PAGE: u32 = 50;
/// Seconds between in-place refreshes of a page.
const REFRESH_S: u32 = 10;

pub(super) fn render<T: Template>(t: &T) -> Result<Response, AppError> {
    t.render()
        .map(|html| Html(html).into_response())
        .map_err(|e| AppError::Store(crate::store::StoreError::Other(format!("template: {e}"))))
}

fn query_string(pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if !v.is_empty() {
            s.append_pair(k, v);
        }
    }
    let q = s.finish();
    if q.is_empty() { q } else { format!("?{q}") }
}

fn target_href(id: &str) -> String {
    format!(
        "/targets/{}",
        percent_encoding::utf8_percent_encode(id, percent_encoding::NON_ALPHANUMERIC)
    )
}

/// The overview's query string.
#[derive(Debug, Default, Deserialize)]
pub struct OverviewParams {
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub tag: String,
    #[serde(default)]
    pub sort: String,
    #[serde(default)]
    pub desc: String,
    #[serde(default)]
    pub page: Option<u32>,
    #[serde(default)]
    pub per_page: Option<u32>,
    /// `1`: list the removed targets (no longer configured) instead of the configured ones.
    #[serde(default)]
    pub removed: String,
}

impl OverviewParams {
    pub fn to_query(&self) -> Result<OverviewQuery, AppError> {
        let status = match self.status.as_str() {
            "" => None,
            s => Some(Status::parse(s).ok_or_else(|| {
                AppError::BadRequest(format!(
                    "status: expected up, down, flapping, unknown or paused, got {s:?}"
                ))
            })?),
        };
        let sort = match self.sort.as_str() {
            "" => Sort::default(),
            s => Sort::parse(s).ok_or_else(|| {
                AppError::BadRequest(format!(
                    "sort: expected status, name, response or last, got {s:?}"
                ))
            })?,
        };
        let removed = match self.removed.as_str() {
            "" | "0" | "false" | "no" => false,
            "1" | "true" | "yes" => true,
            s => {
                return Err(AppError::BadRequest(format!(
                    "removed: expected 1 (list removed targets) or 0, got {s:?}"
                )));
            }
        };
        let trimmed = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        Ok(OverviewQuery {
            status,
            tag: trimmed(&self.tag),
            search: trimmed(&self.q).map(|s| s.chars().take(200).collect()),
            removed,
            sort,
            desc: matches!(self.desc.as_str(), "1" | "true" | "yes"),
            page: self.page.unwrap_or(1).max(1) - 1,
            per_page: self.per_page.unwrap_or(PER_PAGE).clamp(1, 1000),
        })
    }

    fn href(&self, page: u32) -> String {
        let p = page.to_string();
        format!(
            "/{}",
            query_string(&[
                ("q", &self.q),
                ("status", &self.status),
                ("tag", &self.tag),
                ("sort", &self.sort),
                ("desc", &self.desc),
                ("removed", &self.removed),
                ("page", if page > 1 { &p } else { "" }),
            ])
        )
    }
}

struct Card {
    class: &'static str,
    label: &'static str,
    count: u64,
    href: String,
    active: bool,
}

struct Opt {
    value: String,
    label: String,
    selected: bool,
}

struct Row {
    status: &'static str,
    href: String,
    name: String,
    url: String,
    error: String,
    /// An expired or soon-expiring certificate: text and class.
    cert: Option<(String, &'static str)>,
    tags: Vec<(String, String)>,
    strip: String,
    up_day: String,
    up_week: String,
    up_month: String,
    response: String,
    checked_at: String,
    checked_ago: String,
}

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    base: &'static str,
    version: &'static str,
    nav: &'static str,
    store_kind: &'static str,
    rendered: String,
    refresh: u32,
    cards: Vec<Card>,
    q: String,
    status_options: Vec<Opt>,
    tag_options: Vec<Opt>,
    sort_options: Vec<Opt>,
    filtered: bool,
    /// Listing the removed targets instead of the configured ones.
    removed_view: bool,
    /// How many targets were removed from the configuration (of the tag and search filters).
    removed: u64,
    /// Those removed targets, the filters kept.
    removed_href: String,
    rows: Vec<Row>,
    prev: Option<String>,
    next: Option<String>,
    showing: String,
}

fn tag_links(tags: &[String]) -> Vec<(String, String)> {
    tags.iter()
        .map(|t| (t.clone(), format!("/{}", query_string(&[("tag", t)]))))
        .collect()
}

pub async fn overview(
    State(s): State<AppState>,
    Query(p): Query<OverviewParams>,
) -> Result<Response, AppError> {
    let q = p.to_query()?;
    let now = now_micros();
    let page = s.store.overview(q.clone()).await?;
    let card = |class, label, count, status: &str| Card {
        class,
        label,
        count,
        // A card keeps the tag and search filters: its count is of the filtered targets.
        href: format!(
            "/{}",
            query_string(&[("q", &p.q), ("status", status), ("tag", &p.tag)])
        ),
        active: p.status == status,
    };
    let c = page.counts;
    let mut cards = vec![
        card("all", "Targets", c.total(), ""),
        card("up", "Up", c.up, "up"),
        card("down", "Down", c.down, "down"),
        card("flapping", "Flapping", c.flapping, "flapping"),
        card("unknown", "Unknown", c.unknown, "unknown"),
    ];
    // Paused targets are rare: their card shows when there are some, or when it is the filter.
    if c.paused > 0 || p.status == "paused" {
        cards.push(card("paused", "Paused", c.paused, "paused"));
    }
    let rows = page
        .targets
        .iter()
        .map(|t| Row {
            status: t.status.as_str(),
            href: target_href(&t.id),
            name: t.name.clone(),
            url: t.url.clone().unwrap_or_default(),
            error: if t.status == Status::Down || t.status == Status::Unknown {
                t.last_error.clone().unwrap_or_default()
            } else {
                String::new()
            },
            cert: format::cert_mark(t.cert_not_after, now),
            tags: tag_links(&t.tags),
            strip: recent_strip(&t.recent, RECENT_CHECKS),
            up_day: format::percent(t.uptime.day),
            up_week: format::percent(t.uptime.week),
            up_month: format::percent(t.uptime.month),
            response: t
                .last_response_ms
                .map(|v| format::ms(v as f64))
                .unwrap_or_else(|| "–".into()),
            checked_at: t.last_check.map(format::datetime).unwrap_or_default(),
            checked_ago: t
                .last_check
                .map(|m| format::ago(m, now))
                .unwrap_or_else(|| "never".into()),
        })
        .collect::<Vec<_>>();
    let first = u64::from(q.page) * u64::from(q.per_page);
    let shown_to = first + rows.len() as u64;
    let page_no = q.page + 1;
    let tpl = OverviewPage {
        base: "",
        version: VERSION,
        nav: "overview",
        store_kind: s.store.kind(),
        rendered: format::datetime(now),
        refresh: REFRESH_S,
        cards,
        q: p.q.clone(),
        status_options: Status::ALL
            .iter()
            .map(|st| Opt {
                value: st.as_str().into(),
                label: st.as_str().into(),
                selected: q.status == Some(*st),
            })
            .collect(),
        tag_options: page
            .tags
            .iter()
            .map(|t| Opt {
                value: t.clone(),
                label: t.clone(),
                selected: q.tag.as_deref() == Some(t),
            })
            .collect(),
        sort_options: [
            (Sort::Status, "Problems first"),
            (Sort::Name, "Name"),
            (Sort::ResponseTime, "Response time"),
            (Sort::LastCheck, "Last check"),
        ]
        .into_iter()
        .map(|(v, l)| Opt {
            value: v.as_str().into(),
            label: l.into(),
            selected: q.sort == v,
        })
        .collect(),
        filtered: q.status.is_some() || q.tag.is_some() || q.search.is_some() || q.removed,
        removed_view: q.removed,
        removed: c.removed,
        removed_href: format!(
            "/{}",
            query_string(&[("q", &p.q), ("tag", &p.tag), ("removed", "1")])
        ),
        rows,
        prev: (page_no > 1).then(|| p.href(page_no - 1)),
        next: (shown_to < page.matching).then(|| p.href(page_no + 1)),
        showing: if page.matching == 0 {
            "0 targets".into()
        } else {
            format!("{}–{} of {}", first + 1, shown_to, page.matching)
        },
    };
    render(&tpl)
}

/// A chart window: its name, span and the step of its points.
pub const WINDOWS: [(&str, Micros, Micros); 5] = [
    ("1h", HOUR, MINUTE),
    ("6h", 6 * HOUR, 5 * MINUTE),
    ("24h", DAY, 15 * MINUTE),
    ("7d", 7 * DAY, HOUR),
    ("30d", 30 * DAY, 6 * HOUR),
];

/// `[from, to)` and step of a named window ending now (aligned to whole steps).
pub fn window(name: &str, now: Micros) -> Option<(Micros, Micros, Micros)> {
    let (_, span, step) = WINDOWS.iter().find(|w| w.0 == name)?;
    let to = now - now.rem_euclid(*step) + step;
    Some((to - span, to, *step))
}

#[derive(Debug, Default, Deserialize)]
pub struct TargetParams {
    #[serde(default)]
    pub window: String,
}

struct IncidentRow {
    open: bool,
    href: String,
    target: String,
    started: String,
    ended: String,
    duration: String,
    kind: String,
    error: String,
    checks: i64,
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
    base: &'static str,
    version: &'static str,
    nav: &'static str,
    store_kind: &'static str,
    rendered: String,
    refresh: u32,
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
    events: Vec<EventView>,
}

fn incident_rows(list: &[crate::store::Incident], now: Micros) -> Vec<IncidentRow> {
    list.iter()
        .map(|i| IncidentRow {
            open: i.ended_at.is_none(),
            href: target_href(&i.target_id),
            target: i.target_name.clone(),
            started: format::datetime(i.started_at),
            ended: match (i.ended_at, &i.end_reason) {
                (None, _) => "ongoing".into(),
                (Some(t), None) => format::datetime(t),
                (Some(t), Some(why)) => format!("{} ({why})", format::datetime(t)),
            },
            duration: format::duration(i.duration(now)),
            kind: i.error_kind.clone().unwrap_or_default(),
            error: i.error.clone().unwrap_or_default(),
            checks: i.failed_checks,
        })
        .collect()
}

pub async fn target(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(p): Query<TargetParams>,
) -> Result<Response, AppError> {
    let now = now_micros();
    let win = if p.window.is_empty() {
        "24h"
    } else {
        p.window.as_str()
    };
    let (from, to, step) = window(win, now).ok_or_else(|| {
        AppError::BadRequest(format!(
            "window: expected 1h, 6h, 24h, 7d or 30d, got {win:?}"
        ))
    })?;
    let Some(t) = s.store.target(&id).await? else {
        return Err(AppError::NotFound(format!("no target with id {id:?}")));
    };
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
            format!("Average ({win})"),
            avg.map(format::ms).unwrap_or_else(|| "–".into()),
            "",
        ),
        (
            format!("Worst p95 ({win})"),
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
    let tpl = TargetPage {
        base: "",
        version: VERSION,
        nav: "",
        store_kind: s.store.kind(),
        rendered: format::datetime(now),
        refresh: REFRESH_S,
        name: t.name.clone(),
        status: t.status.as_str(),
        url: t.url.clone().unwrap_or_default(),
        tags: tag_links(&t.tags),
        badge_status: badge("status"),
        badge_uptime: badge("uptime"),
        badge_response: badge("response"),
        down_since: t.down_since.map(format::datetime).unwrap_or_default(),
        last_error: t.last_error.clone().unwrap_or_default(),
        stats,
        windows: WINDOWS
            .iter()
            .map(|w| (w.0, format!("{href}?window={}", w.0), w.0 == win))
            .collect(),
        chart: response_chart(&points, from, to, step),
        history: history_strip(&points, from, to, step),
        incidents: incident_rows(&incidents, now),
        events: events
            .iter()
            .map(|e| {
                let f = |v: Option<f64>| v.map(|v| format!("{v:.1}")).unwrap_or_else(|| "–".into());
                EventView {
                    time: format::datetime(e.event_time),
                    result: if e.up.unwrap_or(false) { "up" } else { "down" },
                    code: if e.status_code == 0 {
                        "–".into()
                    } else {
                        e.status_code.to_string()
                    },
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
    };
    render(&tpl)
}

#[derive(Debug, Default, Deserialize)]
pub struct IncidentParams {
    #[serde(default)]
    pub open: String,
    #[serde(default)]
    pub page: Option<u32>,
}

#[derive(Template)]
#[template(path = "incidents.html")]
struct IncidentsPage {
    base: &'static str,
    version: &'static str,
    nav: &'static str,
    store_kind: &'static str,
    rendered: String,
    refresh: u32,
    filters: Vec<(&'static str, String, bool)>,
    incidents: Vec<IncidentRow>,
    prev: Option<String>,
    next: Option<String>,
    showing: String,
}

pub async fn incidents(
    State(s): State<AppState>,
    Query(p): Query<IncidentParams>,
) -> Result<Response, AppError> {
    let now = now_micros();
    let open_only = matches!(p.open.as_str(), "1" | "true" | "yes");
    let page = p.page.unwrap_or(1).max(1);
    let per = 50;
    let (list, total) = s
        .store
        .incidents(IncidentQuery {
            target: None,
            open_only,
            limit: per,
            offset: (page - 1) * per,
        })
        .await?;
    let href = |page: u32| {
        let pg = page.to_string();
        format!(
            "/incidents{}",
            query_string(&[
                ("open", if open_only { "1" } else { "" }),
                ("page", if page > 1 { &pg } else { "" })
            ])
        )
    };
    let first = u64::from((page - 1) * per);
    let shown_to = first + list.len() as u64;
    let tpl = IncidentsPage {
        base: "",
        version: VERSION,
        nav: "incidents",
        store_kind: s.store.kind(),
        rendered: format::datetime(now),
        refresh: REFRESH_S,
        filters: vec![
            ("All", "/incidents".into(), !open_only),
            ("Ongoing", "/incidents?open=1".into(), open_only),
        ],
        incidents: incident_rows(&list, now),
        prev: (page > 1).then(|| href(page - 1)),
        next: (shown_to < total).then(|| href(page + 1)),
        showing: if total == 0 {
            "0 incidents".into()
        } else {
            format!("{}–{} of {}", first + 1, shown_to, total)
        },
    };
    render(&tpl)
}
