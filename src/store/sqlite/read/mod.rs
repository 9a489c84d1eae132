//! Reading: the queries behind every page and API call. Each reads the targets table (one row
//! per target, with its live state), rollups or incidents, never a scan of raw events: the
//! last-events table reads the newest rows of one target by index. [`targets`] answers the
//! overview and a target's live state, [`history`] its series, events, incidents and uptime.

mod history;
mod targets;

use std::time::Instant;

use super::SqliteStore;
use crate::store::{
    EventRow, Incident, IncidentQuery, Micros, OverviewPage, OverviewQuery, SeriesPoint,
    StatusCounts, Store, StoreError, TargetSummary, Uptime, now_micros,
};

fn ratio(up: Option<i64>, checks: Option<i64>) -> Option<f64> {
    match (up, checks) {
        (Some(u), Some(c)) if c > 0 => Some(u as f64 / c as f64),
        _ => None,
    }
}

/// The counts of the unfiltered overview and the tag list, and when they were read.
#[derive(Debug, Default)]
pub struct MetaCache {
    counts: Option<(Instant, StatusCounts)>,
    tags: Option<(Instant, Vec<String>)>,
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    fn kind(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.read(|c| Ok(c.query_row("SELECT count(*) FROM targets", [], |_| Ok(()))?))
            .await
    }

    async fn overview(&self, q: OverviewQuery) -> Result<OverviewPage, StoreError> {
        // Only the unfiltered counts are reused: a tag or a search counts its own targets.
        let shared_counts = q.tag.is_none() && q.search.is_none();
        let cached = {
            let m = self.0.meta.lock().unwrap_or_else(|p| p.into_inner());
            (
                m.counts
                    .filter(|(at, _)| {
                        shared_counts && at.elapsed() < crate::store::sqlite::COUNTS_TTL
                    })
                    .map(|(_, c)| c),
                m.tags
                    .as_ref()
                    .filter(|(at, _)| at.elapsed() < crate::store::sqlite::TAGS_TTL)
                    .map(|(_, t)| t.clone()),
            )
        };
        let (fresh_counts, fresh_tags) = (cached.0.is_none(), cached.1.is_none());
        let page = self
            .read(move |c| targets::overview(c, &q, now_micros(), cached))
            .await?;
        let mut m = self.0.meta.lock().unwrap_or_else(|p| p.into_inner());
        if fresh_counts && shared_counts {
            m.counts = Some((Instant::now(), page.counts));
        }
        if fresh_tags {
            m.tags = Some((Instant::now(), page.tags.clone()));
        }
        Ok(page)
    }

    async fn target(&self, id: &str) -> Result<Option<TargetSummary>, StoreError> {
        let id = id.to_owned();
        self.read(move |c| targets::target(c, &id, now_micros()))
            .await
    }

    async fn all_targets(&self) -> Result<Vec<TargetSummary>, StoreError> {
        self.read(|c| targets::all_targets(c, now_micros())).await
    }

    async fn series(
        &self,
        id: &str,
        from: Micros,
        to: Micros,
        step: Micros,
    ) -> Result<Vec<SeriesPoint>, StoreError> {
        let id = id.to_owned();
        self.read(move |c| history::series(c, &id, from, to, step))
            .await
    }

    async fn events(
        &self,
        id: &str,
        from: Micros,
        to: Micros,
        limit: u32,
    ) -> Result<Vec<EventRow>, StoreError> {
        let id = id.to_owned();
        self.read(move |c| history::events(c, &id, from, to, limit))
            .await
    }

    async fn incidents(&self, q: IncidentQuery) -> Result<(Vec<Incident>, u64), StoreError> {
        self.read(move |c| history::incidents(c, &q)).await
    }

    async fn uptime(&self, id: &str, from: Micros, to: Micros) -> Result<Uptime, StoreError> {
        let id = id.to_owned();
        self.read(move |c| history::uptime(c, &id, from, to)).await
    }
}
