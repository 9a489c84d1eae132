//! Everything a page's documents are made of, gathered once per change: the HTML page, the
//! widget, the JSON, the feeds and the badges are all rendered from one [`Facts`].

use std::collections::HashMap;

use crate::config::status_pages::StatusPage;
use crate::store::Micros;
use crate::store::status::StatusIncident;

use super::history::Day;
use super::model::Summary;
use super::notices::{Announcement, Detected};

pub struct Facts {
    pub page: StatusPage,
    pub summary: Summary,
    /// Incidents people wrote: unresolved, and resolved within the 90 days; newest first.
    pub posted: Vec<StatusIncident>,
    /// Incidents the monitor detected (empty when the page hides them); newest first.
    pub detected: Vec<Detected>,
    pub maintenance: Vec<Announcement>,
    /// Each component's 90 daily bars, by component id.
    pub bars: HashMap<String, Vec<Day>>,
    /// When what the page shows last changed.
    pub updated_at: Micros,
    pub now: Micros,
    /// `WEB_PUBLIC_URL` without its trailing `/`, or empty (links are then relative).
    pub base: String,
}

impl Facts {
    /// The page's address with `rest` after it (`#…`, `/feed.atom`): absolute when
    /// `WEB_PUBLIC_URL` is set.
    pub fn url(&self, rest: &str) -> String {
        format!("{}/status/{}{rest}", self.base, self.page.slug)
    }
}
