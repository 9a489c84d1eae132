//! The overview: status cards, filters, one row per target, pages of [`PER_PAGE`].

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;

use super::{Frame, PER_PAGE, Pager, query_string, render, tag_links, target_href};
use crate::store::{OverviewQuery, RECENT_CHECKS, Sort, Status, now_micros};
use crate::web::charts::recent_strip;
use crate::web::{AppError, AppState, format};

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
                    "status: expected up, down, degraded, flapping, unknown or paused, got {s:?}"
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
        let per_page = self.per_page.map(|n| n.to_string()).unwrap_or_default();
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
                ("per_page", &per_page),
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
    /// A maintenance window or silence holds its notifications back.
    held: Option<super::Held>,
}

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    frame: Frame,
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
    pager: Pager,
    /// The "Add target" link: this process can change targets.
    can_add: bool,
}

pub async fn overview(State(s): State<AppState>, Query(p): Query<OverviewParams>) -> Response {
    let page = overview_page(&s, p).await;
    page.unwrap_or_else(|e| super::error_page(&s, e))
}

async fn overview_page(s: &AppState, p: OverviewParams) -> Result<Response, AppError> {
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
        card("degraded", "Degraded", c.degraded, "degraded"),
        card("flapping", "Flapping", c.flapping, "flapping"),
        card("unknown", "Unknown", c.unknown, "unknown"),
    ];
    // Paused targets are rare: their card shows when there are some, or when it is the filter.
    if c.paused > 0 || p.status == "paused" {
        cards.push(card("paused", "Paused", c.paused, "paused"));
    }
    let gate = super::gate(s, now).await;
    let rows = page
        .targets
        .iter()
        .map(|t| (t, super::target::shown_status(s, &t.id, t.status)))
        .map(|(t, status)| Row {
            status: status.as_str(),
            href: target_href(&t.id),
            name: t.name.clone(),
            url: t.url.clone().unwrap_or_default(),
            error: if status == Status::Down || status == Status::Unknown {
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
            held: super::held(gate.as_ref(), &t.id, &t.name, &t.tags, now),
        })
        .collect::<Vec<_>>();
    let shown = rows.len();
    let tpl = OverviewPage {
        frame: Frame::new(s, "overview", now),
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
        pager: Pager::new(
            q.page + 1,
            q.per_page,
            (shown, page.matching, "target"),
            |n| p.href(n),
            ("← Previous", "Next →"),
        ),
        can_add: s.editor.is_some(),
    };
    render(&tpl)
}
