//! Reading: the queries behind every page and API call. Each reads the targets table (one row
//! per target, with its live state), rollups or incidents, never a scan of raw events: the
//! last-events table and charts under an hour's step read one target's packed raw events. [`targets`] answers the
//! overview and a target's live state, [`history`] its series, events, incidents and uptime.

mod history;
mod targets;

use super::SqliteStore;
use crate::store::query::SeriesSource;
use crate::store::{
    EventRow, Incident, IncidentQuery, Micros, OverviewPage, OverviewQuery, SeriesPoint, Store,
    StoreError, TargetSummary, Uptime, now_micros,
};

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
        self.0
            .cache
            .page(q, |q, reuse| {
                self.read(move |c| targets::overview(c, &q, now_micros(), reuse))
            })
            .await
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
        let src = SeriesSource::new(from, to, step);
        self.read(move |c| history::series(c, &id, &src)).await
    }

    async fn events(
        &self,
        id: &str,
        from: Micros,
        to: Micros,
        limit: u32,
    ) -> Result<Vec<EventRow>, StoreError> {
        let id = id.to_owned();
        let strings = self.strings();
        self.read(move |c| history::events(c, &strings, &id, from, to, limit))
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
