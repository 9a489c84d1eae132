//! What a page announces besides its components: the incidents the monitor detected (by
//! component, never by URL or error text) and maintenance, under way or ahead.

use crate::store::alerts::{Gate, NoticeTarget, gate::Kind};
use crate::store::{Micros, TargetSummary};

use super::history::History;
use super::model::Summary;

/// How far ahead maintenance is announced.
pub const AHEAD: Micros = 7 * 24 * 3_600 * 1_000_000;

/// An incident the monitor detected, as a page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Detected {
    /// `d<incident id>`, or `t<target>-<since>` for one under way.
    pub id: String,
    /// The components of the targets it was detected on.
    pub components: Vec<String>,
    pub started_at: Micros,
    pub ended_at: Option<Micros>,
}

/// The components of `summary` watching `target`.
fn components_of(summary: &Summary, target: &str) -> Vec<String> {
    let mut out: Vec<String> = summary
        .components()
        .filter(|c| c.targets.iter().any(|t| t == target))
        .map(|c| c.name.clone())
        .collect();
    out.dedup();
    out
}

/// The detected incidents: those under way from the targets' live states (the history is
/// minutes old), the past ones from the history, newest first.
pub fn detected(summary: &Summary, targets: &[TargetSummary], h: &History) -> Vec<Detected> {
    let mut out: Vec<Detected> = Vec::new();
    for t in targets {
        let (Some(since), crate::store::Status::Down) = (t.down_since, t.status) else {
            continue;
        };
        let components = components_of(summary, &t.id);
        if !components.is_empty() {
            out.push(Detected {
                id: format!("t{}-{since}", t.id),
                components,
                started_at: since,
                ended_at: None,
            });
        }
    }
    for i in &h.incidents {
        let Some(ended) = i.ended_at else { continue };
        let components = components_of(summary, &i.target_id);
        if !components.is_empty() {
            out.push(Detected {
                id: format!("d{}", i.id),
                components,
                started_at: i.started_at,
                ended_at: Some(ended),
            });
        }
    }
    out.sort_by(|a, b| b.started_at.cmp(&a.started_at).then(a.id.cmp(&b.id)));
    out
}

/// Maintenance a page announces.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Announcement {
    pub id: String,
    pub name: String,
    pub starts_at: Micros,
    pub ends_at: Micros,
    pub components: Vec<String>,
}

impl Announcement {
    pub fn active(&self, now: Micros) -> bool {
        self.starts_at <= now && now < self.ends_at
    }
}

/// The maintenance under way or starting within [`AHEAD`] that covers one of the page's
/// components, soonest first: the configured windows' next occurrence and the one-off windows
/// made through the API.
pub fn announcements(
    gate: Option<&Gate>,
    summary: &Summary,
    targets: &[TargetSummary],
    now: Micros,
) -> Vec<Announcement> {
    let Some(gate) = gate else {
        return Vec::new();
    };
    let on_page: Vec<&TargetSummary> = targets
        .iter()
        .filter(|t| summary.components().any(|c| c.targets.contains(&t.id)))
        .collect();
    let components = |covers: &dyn Fn(&TargetSummary) -> bool| -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for t in on_page.iter().filter(|t| covers(t)) {
            for n in components_of(summary, &t.id) {
                if !names.contains(&n) {
                    names.push(n);
                }
            }
        }
        names
    };
    let mut out = Vec::new();
    for (i, w) in gate.windows.iter().enumerate() {
        let d = i64::try_from(w.duration.as_micros()).unwrap_or(i64::MAX);
        let (starts_at, ends_at) = match w.active_until(now) {
            Some(end) => (end.saturating_sub(d), end),
            None => match w.next_start(now) {
                Some(s) if s - now <= AHEAD => (s, s.saturating_add(d)),
                _ => continue,
            },
        };
        let names = components(&|t| w.covers(&t.id, &t.name, &t.tags));
        if !names.is_empty() {
            out.push(Announcement {
                id: format!("w{i}-{starts_at}"),
                name: w.name.clone(),
                starts_at,
                ends_at,
                components: names,
            });
        }
    }
    for s in gate.silences.iter().filter(|s| s.kind == Kind::Maintenance) {
        if s.ends_at <= now || s.starts_at - now > AHEAD {
            continue;
        }
        let names = components(&|t| s.covers_target(&NoticeTarget::from(t), s.starts_at.max(now)));
        if !names.is_empty() {
            out.push(Announcement {
                id: format!("m{}", s.id),
                name: s.reason.clone(),
                starts_at: s.starts_at,
                ends_at: s.ends_at,
                components: names,
            });
        }
    }
    out.sort_by_key(|a| (a.starts_at, a.id.clone()));
    out
}
