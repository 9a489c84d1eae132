//! Incidents people write on status pages (the state machine's own are
//! [`crate::store::Incident`]): a title, an impact, the components it affects with their
//! status, and updates in Statuspage's sequence (investigating, identified, monitoring,
//! resolved) with Markdown bodies. Both stores keep them ([`StatusBook`]); the status pages
//! (`crate::web::status`) show them, render their Markdown safely and list them in the feeds
//! and the Statuspage-shaped JSON.

use serde::{Deserialize, Serialize};

use crate::store::{Micros, StoreError};

/// Where an incident stands, as Statuspage names it; each update says one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateStatus {
    Investigating,
    Identified,
    Monitoring,
    Resolved,
}

impl UpdateStatus {
    pub const ALL: [UpdateStatus; 4] = [
        UpdateStatus::Investigating,
        UpdateStatus::Identified,
        UpdateStatus::Monitoring,
        UpdateStatus::Resolved,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            UpdateStatus::Investigating => "investigating",
            UpdateStatus::Identified => "identified",
            UpdateStatus::Monitoring => "monitoring",
            UpdateStatus::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|u| u.as_str() == s)
    }

    /// As the page says it.
    pub const fn label(self) -> &'static str {
        match self {
            UpdateStatus::Investigating => "Investigating",
            UpdateStatus::Identified => "Identified",
            UpdateStatus::Monitoring => "Monitoring",
            UpdateStatus::Resolved => "Resolved",
        }
    }
}

/// How bad an incident is, as Statuspage names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Impact {
    None,
    #[default]
    Minor,
    Major,
    Critical,
}

impl Impact {
    pub const ALL: [Impact; 4] = [Impact::None, Impact::Minor, Impact::Major, Impact::Critical];

    pub const fn as_str(self) -> &'static str {
        match self {
            Impact::None => "none",
            Impact::Minor => "minor",
            Impact::Major => "major",
            Impact::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|i| i.as_str() == s)
    }
}

/// A component an incident affects, by its name on the page, and the status the incident
/// gives it while unresolved (`operational`, `degraded_performance`, `partial_outage`,
/// `major_outage`, `under_maintenance`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Affected {
    pub component: String,
    pub status: String,
}

/// One update of an incident. `body` is Markdown as written; pages render it sanitised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentUpdate {
    pub status: UpdateStatus,
    pub body: String,
    /// When it was posted (µs since the epoch).
    pub at: Micros,
    /// Who posted it (the API's or CLI's `author`, the dashboard's user), when known.
    #[serde(default)]
    pub author: Option<String>,
}

/// An incident people wrote on one status page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusIncident {
    pub id: i64,
    /// The page's slug.
    pub page: String,
    pub title: String,
    pub impact: Impact,
    pub components: Vec<Affected>,
    /// Oldest first; never empty.
    pub updates: Vec<IncidentUpdate>,
    pub created_at: Micros,
    pub updated_at: Micros,
    /// Set by the update that says `resolved`.
    pub resolved_at: Option<Micros>,
}

impl StatusIncident {
    /// The latest update's status.
    pub fn status(&self) -> UpdateStatus {
        self.updates
            .last()
            .map_or(UpdateStatus::Investigating, |u| u.status)
    }
}

/// An incident as both stores keep it, in one JSON document beside its page and times: its
/// title, impact, components and updates. An update rewrites it whole, in the transaction
/// that read it.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Doc {
    pub title: String,
    pub impact: Impact,
    #[serde(default)]
    pub components: Vec<Affected>,
    pub updates: Vec<IncidentUpdate>,
}

impl Doc {
    /// The document of an incident opened with `new`, its first update posted `at`.
    pub(crate) fn open(new: NewIncident, at: Micros) -> Doc {
        Doc {
            title: new.title,
            impact: new.impact,
            components: new.components,
            updates: vec![IncidentUpdate {
                status: new.status,
                body: new.body,
                at,
                author: new.author,
            }],
        }
    }

    /// The document of `i`, taken out of it.
    pub(crate) fn take(i: &mut StatusIncident) -> Doc {
        Doc {
            title: std::mem::take(&mut i.title),
            impact: i.impact,
            components: std::mem::take(&mut i.components),
            updates: std::mem::take(&mut i.updates),
        }
    }

    /// Appends `u`, posted `at`; its impact and components, when given, replace the
    /// incident's. Returns the incident's `resolved_at` after it, from `resolved` before it:
    /// an update that says `resolved` keeps the time it was first resolved (or sets `at`),
    /// any other update (a reopening, which the API refuses) clears it, so `resolved_at` is
    /// set exactly when the latest update says `resolved`.
    pub(crate) fn append(
        &mut self,
        u: NewUpdate,
        at: Micros,
        resolved: Option<Micros>,
    ) -> Option<Micros> {
        if let Some(impact) = u.impact {
            self.impact = impact;
        }
        if let Some(components) = u.components {
            self.components = components;
        }
        self.updates.push(IncidentUpdate {
            status: u.status,
            body: u.body,
            at,
            author: u.author,
        });
        (u.status == UpdateStatus::Resolved).then(|| resolved.unwrap_or(at))
    }

    /// The incident of this document.
    pub(crate) fn incident(
        self,
        id: i64,
        page: String,
        created_at: Micros,
        updated_at: Micros,
        resolved_at: Option<Micros>,
    ) -> StatusIncident {
        StatusIncident {
            id,
            page,
            title: self.title,
            impact: self.impact,
            components: self.components,
            updates: self.updates,
            created_at,
            updated_at,
            resolved_at,
        }
    }
}

/// What opening an incident takes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct NewIncident {
    pub page: String,
    pub title: String,
    #[serde(default)]
    pub impact: Impact,
    #[serde(default)]
    pub components: Vec<Affected>,
    /// The first update (default `investigating`).
    #[serde(default = "investigating")]
    pub status: UpdateStatus,
    pub body: String,
    #[serde(default)]
    pub author: Option<String>,
}

fn investigating() -> UpdateStatus {
    UpdateStatus::Investigating
}

/// What an update of an incident takes; `components` and `impact`, when given, replace the
/// incident's.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct NewUpdate {
    pub status: UpdateStatus,
    pub body: String,
    #[serde(default)]
    pub impact: Option<Impact>,
    #[serde(default)]
    pub components: Option<Vec<Affected>>,
    #[serde(default)]
    pub author: Option<String>,
}

/// Where the incidents people write are kept: the SQLite store and PostgreSQL.
#[async_trait::async_trait]
pub trait StatusBook: Send + Sync + 'static {
    /// The page's incidents, newest first: the unresolved ones and those resolved at or after
    /// `resolved_since`, at most `limit`.
    async fn status_incidents(
        &self,
        page: &str,
        resolved_since: Micros,
        limit: u32,
    ) -> Result<Vec<StatusIncident>, StoreError>;
    async fn status_incident(&self, id: i64) -> Result<Option<StatusIncident>, StoreError>;
    /// Opens one, its first update posted `at`.
    async fn open_status_incident(
        &self,
        new: NewIncident,
        at: Micros,
    ) -> Result<StatusIncident, StoreError>;
    /// Adds an update (`None`: no such incident). An update after the one that resolved it
    /// is refused by the caller, not here.
    async fn update_status_incident(
        &self,
        id: i64,
        update: NewUpdate,
        at: Micros,
    ) -> Result<Option<StatusIncident>, StoreError>;
    /// The greatest `updated_at` of any incident, so a page's cache knows when to rebuild.
    async fn status_incidents_changed(&self) -> Result<Micros, StoreError>;
}
