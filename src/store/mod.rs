//! The store behind the dashboard: what the web pages and the API ask for, behind one trait so
//! the same views run over the embedded SQLite file (`sqlite`) or, read-only, over the PostgreSQL
//! tables `writers.postgres` keeps (`postgres`). Views read rollups (per target per minute, hour
//! and day) and each target's live state, never raw events, except for a target's last events.

pub mod alerts;
pub mod hist;
pub mod postgres;
mod query;
pub mod rollup;
pub mod sqlite;
pub mod status;

use serde::{Serialize, Serializer};
use time::OffsetDateTime;

use crate::event::{
    ConditionResult, DnsDetails, GrpcDetails, IcmpDetails, PushDetails, TcpDetails, TlsDetails,
};

pub use postgres::PostgresStore;
pub use query::{COUNTS_TTL, TAGS_TTL};
pub use sqlite::SqliteStore;

/// Microseconds since the Unix epoch, UTC: how the store keeps every time.
pub type Micros = i64;

pub const SECOND: Micros = 1_000_000;
pub const MINUTE: Micros = 60 * SECOND;
pub const HOUR: Micros = 60 * MINUTE;
pub const DAY: Micros = 24 * HOUR;

/// What a target is, as the target-state machine says (with read-time unknown, see the stores).
pub use crate::state::{RECENT_CHECKS, Status};

pub fn now_micros() -> Micros {
    to_micros(OffsetDateTime::now_utc())
}

pub fn to_micros(t: OffsetDateTime) -> Micros {
    (t.unix_timestamp_nanos() / 1000) as Micros
}

/// The earliest and latest times [`from_micros`] gives: years 1 and 9999, which both the `time`
/// crate and PostgreSQL's `timestamptz` hold.
pub const MIN_TIME: Micros = -62_135_596_800 * SECOND;
pub const MAX_TIME: Micros = 253_402_300_799_999_999;

/// The time of `m`, saturated to [`MIN_TIME`, `MAX_TIME`], so an open bound such as
/// `i64::MAX` ("no end") stays the latest time instead of becoming the epoch.
pub fn from_micros(m: Micros) -> OffsetDateTime {
    let m = m.clamp(MIN_TIME, MAX_TIME);
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(m) * 1000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// RFC 3339, UTC, to the millisecond: the API's time format.
pub fn rfc3339(m: Micros) -> String {
    let t = from_micros(m - m.rem_euclid(1000));
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn ser_time<S: Serializer>(m: &Micros, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339(*m))
}

fn ser_opt_time<S: Serializer>(m: &Option<Micros>, s: S) -> Result<S::Ok, S::Error> {
    match m {
        Some(m) => s.serialize_str(&rfc3339(*m)),
        None => s.serialize_none(),
    }
}

/// The most of an error message a target's live state keeps, in bytes.
pub const MAX_ERROR_BYTES: usize = 2000;

/// An error message cut to [`MAX_ERROR_BYTES`] at a character boundary, as both stores keep it.
pub fn clip_error(e: &str) -> &str {
    &e[..e.floor_char_boundary(MAX_ERROR_BYTES)]
}

/// Why the store could not answer or write.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The PostgreSQL store's connection string or TLS settings cannot be used.
    #[error(transparent)]
    Connect(#[from] crate::postgres::ConnectError),
    /// A packed block or string of the SQLite store cannot be read or written.
    #[error("packed data: {0}")]
    Pack(#[from] sqlite::pack::PackError),
    #[error("{0}")]
    Other(String),
}

impl StoreError {
    /// Trouble that may pass (a locked database, a full disk being cleaned up): worth a retry.
    pub fn is_retriable(&self) -> bool {
        use rusqlite::ErrorCode::*;
        match self {
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => matches!(
                e.code,
                DatabaseBusy | DatabaseLocked | DiskFull | SystemIoFailure | OutOfMemory
            ),
            _ => false,
        }
    }
}

/// Uptime ratios over the last 24 hours, 7 days and 30 days (None: no checks in that window).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct UptimeWindows {
    #[serde(rename = "24h")]
    pub day: Option<f64>,
    #[serde(rename = "7d")]
    pub week: Option<f64>,
    #[serde(rename = "30d")]
    pub month: Option<f64>,
}

/// A target with its live state: one row of the overview.
#[derive(Debug, Clone, Serialize)]
pub struct TargetSummary {
    pub id: String,
    pub name: String,
    pub url: Option<String>,
    pub tags: Vec<String>,
    /// Seconds between checks (fractional), when known.
    pub interval_s: Option<f64>,
    pub status: Status,
    #[serde(serialize_with = "ser_opt_time")]
    pub last_check: Option<Micros>,
    /// The last check's response time; None when it failed (its error is in `last_error`).
    pub last_response_ms: Option<i64>,
    pub last_status_code: Option<i64>,
    pub last_error_kind: Option<String>,
    pub last_error: Option<String>,
    /// The latest checks, oldest first: `u` passed, `d` failed.
    pub recent: String,
    #[serde(serialize_with = "ser_opt_time")]
    pub cert_not_after: Option<Micros>,
    #[serde(serialize_with = "ser_opt_time")]
    pub down_since: Option<Micros>,
    pub uptime: UptimeWindows,
    /// When the target left the configuration (None: configured). A removed target keeps its
    /// history but is hidden from the overview unless asked for (`removed`).
    #[serde(serialize_with = "ser_opt_time")]
    pub removed_at: Option<Micros>,
    /// How long the last check took, failed or not: /metrics' `probe_duration_seconds`, as the
    /// blackbox exporter reports it (not in the API: `last_response_ms` is the figure to show).
    #[serde(skip)]
    pub last_duration_ms: Option<i64>,
}

/// How the overview is sorted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    /// Problems first (down, degraded, flapping, unknown, up, paused), then by name.
    #[default]
    Status,
    Name,
    ResponseTime,
    LastCheck,
}

impl Sort {
    pub const ALL: [Sort; 4] = [
        Sort::Status,
        Sort::Name,
        Sort::ResponseTime,
        Sort::LastCheck,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Sort::Status => "status",
            Sort::Name => "name",
            Sort::ResponseTime => "response",
            Sort::LastCheck => "last",
        }
    }

    pub fn parse(s: &str) -> Option<Sort> {
        Sort::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// Which targets the overview shows.
#[derive(Debug, Clone, Default)]
pub struct OverviewQuery {
    pub status: Option<Status>,
    pub tag: Option<String>,
    /// A substring of the name or URL, case-insensitive.
    pub search: Option<String>,
    /// List the removed targets (see [`TargetSummary::removed_at`]) instead of the configured ones.
    pub removed: bool,
    pub sort: Sort,
    pub desc: bool,
    /// From 0.
    pub page: u32,
    pub per_page: u32,
}

/// How many targets are in each status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StatusCounts {
    pub up: u64,
    pub down: u64,
    pub degraded: u64,
    pub flapping: u64,
    pub unknown: u64,
    pub paused: u64,
    /// Removed targets (not in the six above, nor in `total`).
    pub removed: u64,
}

impl StatusCounts {
    /// Configured targets (removed ones excluded).
    pub fn total(&self) -> u64 {
        self.up + self.down + self.flapping + self.degraded + self.unknown + self.paused
    }

    pub fn add(&mut self, s: Status, n: u64) {
        match s {
            Status::Up => self.up += n,
            Status::Down => self.down += n,
            Status::Flapping => self.flapping += n,
            Status::Degraded => self.degraded += n,
            Status::Unknown => self.unknown += n,
            Status::Paused => self.paused += n,
        }
    }
}

/// One page of the overview.
#[derive(Debug, Clone, Default, Serialize)]
pub struct OverviewPage {
    pub targets: Vec<TargetSummary>,
    /// Targets matching the filters (all pages).
    pub matching: u64,
    /// The targets of the tag and search filters, by status, whatever the status filter (the
    /// status cards are that filter) and whether removed ones are listed.
    pub counts: StatusCounts,
    /// Every tag of a configured target, sorted.
    pub tags: Vec<String>,
}

/// One point of a target's response-time series: the checks in `[t, t + step)`. Response
/// times are those of the successful checks only (a refused connection's 0 ms or a timeout's
/// wait is no response time): None when none of the point's checks succeeded.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SeriesPoint {
    #[serde(serialize_with = "ser_time")]
    pub t: Micros,
    pub checks: u64,
    pub up: u64,
    pub avg_ms: Option<f64>,
    pub min_ms: Option<f64>,
    pub max_ms: Option<f64>,
    /// Within `[min_ms, max_ms]`.
    pub p95_ms: Option<f64>,
    /// Average dns, connect, tls, ttfb and transfer milliseconds of the successful checks.
    pub phases_ms: [f64; 5],
}

/// One stored probe event, as the target page and the API show it.
#[derive(Debug, Clone, Serialize)]
pub struct EventRow {
    pub uuid: String,
    #[serde(serialize_with = "ser_time")]
    pub event_time: Micros,
    pub up: Option<bool>,
    /// The port checked; None for ICMP and push checks.
    pub port: Option<i64>,
    /// The HTTP status (0: no response); None for checks other than HTTP.
    pub status_code: Option<i64>,
    pub response_time_ms: i64,
    pub error_kind: Option<String>,
    pub error: Option<String>,
    /// dns, connect, tls, ttfb, transfer.
    pub phases_ms: [Option<f64>; 5],
    pub ip: Option<String>,
    pub http_version: Option<String>,
    pub location: Option<String>,
    pub body_bytes: Option<i64>,
    pub redirects: Option<i64>,
    /// The target's conditions, in order, with their results (None: the target had none, or
    /// the event was stored before the stores kept them).
    pub conditions: Option<Vec<ConditionResult>>,
    /// Up but meeting one of the target's `degraded_if` conditions (None: it has none).
    pub degraded: Option<bool>,
    /// What a DNS check's server answered.
    pub dns: Option<DnsDetails>,
    /// What an ICMP check's echo requests got back.
    pub icmp: Option<IcmpDetails>,
    /// The TLS session of a TLS, STARTTLS, HTTPS or gRPCS check (None for events stored
    /// before the stores kept it).
    pub tls: Option<TlsDetails>,
    /// A TCP check's dialog.
    pub tcp: Option<TcpDetails>,
    /// A gRPC health check's answer.
    pub grpc: Option<GrpcDetails>,
    /// A push target's push.
    pub push: Option<PushDetails>,
}

/// A stretch of failed checks of one target: from the first failed check after a passing one
/// to the next passing check (open while `ended_at` is None).
#[derive(Debug, Clone, Serialize)]
pub struct Incident {
    pub id: i64,
    pub target_id: String,
    pub target_name: String,
    #[serde(serialize_with = "ser_time")]
    pub started_at: Micros,
    #[serde(serialize_with = "ser_opt_time")]
    pub ended_at: Option<Micros>,
    pub error_kind: Option<String>,
    pub error: Option<String>,
    pub failed_checks: i64,
    /// Why it ended other than by a passing check: `target removed`.
    pub end_reason: Option<String>,
}

impl Incident {
    /// How long it lasted, or has lasted so far.
    pub fn duration(&self, now: Micros) -> Micros {
        self.ended_at.unwrap_or(now).saturating_sub(self.started_at)
    }
}

/// Which incidents to list.
#[derive(Debug, Clone, Default)]
pub struct IncidentQuery {
    pub target: Option<String>,
    pub open_only: bool,
    pub limit: u32,
    pub offset: u32,
}

/// Why an incident of a target that left the configuration was closed.
pub const END_REASON_REMOVED: &str = crate::state::EndReason::Removed.as_str();

/// Whether the live set these settings start from is every target this process's stores
/// hold, so that each stored target not in it may be marked removed: only a prober knows the
/// whole target list, so not when the events come from Kafka, nor when this worker probes one
/// shard of the list (the other shards' targets are not its to remove). A live set that starts
/// empty removes nothing either (see [`crate::registry::follow`]'s replicas).
pub fn sweeps(settings: &crate::config::Settings) -> bool {
    settings.reader == crate::config::ReaderPlugin::HttpProbe && settings.sharding.is_none()
}

/// Checks and passes of one target over a time range.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Uptime {
    #[serde(serialize_with = "ser_time")]
    pub from: Micros,
    #[serde(serialize_with = "ser_time")]
    pub to: Micros,
    pub checks: u64,
    pub up: u64,
    pub ratio: Option<f64>,
}

/// What the dashboard asks of a store.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// `sqlite` or `postgres`, for the footer and /healthz.
    fn kind(&self) -> &'static str;
    /// Answers when the store can be read.
    async fn ping(&self) -> Result<(), StoreError>;
    async fn overview(&self, q: OverviewQuery) -> Result<OverviewPage, StoreError>;
    async fn target(&self, id: &str) -> Result<Option<TargetSummary>, StoreError>;
    /// Every target with its live state (no uptime), for /metrics.
    async fn all_targets(&self) -> Result<Vec<TargetSummary>, StoreError>;
    /// The response-time series over `[from, to)` in points of `step` (minute rollups for
    /// steps under an hour, hour rollups otherwise).
    async fn series(
        &self,
        id: &str,
        from: Micros,
        to: Micros,
        step: Micros,
    ) -> Result<Vec<SeriesPoint>, StoreError>;
    /// Events in `[from, to)`, newest first, at most `limit`; page on with `to` = the last
    /// event's time.
    async fn events(
        &self,
        id: &str,
        from: Micros,
        to: Micros,
        limit: u32,
    ) -> Result<Vec<EventRow>, StoreError>;
    async fn incidents(&self, q: IncidentQuery) -> Result<(Vec<Incident>, u64), StoreError>;
    /// Uptime over `[from, to)` from hour rollups (whole hours; the current one so far).
    async fn uptime(&self, id: &str, from: Micros, to: Micros) -> Result<Uptime, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_and_format_as_rfc3339() {
        let t = time::macros::datetime!(2026-11-25 23:10:48.123456 UTC);
        assert_eq!(from_micros(to_micros(t)), t);
        assert_eq!(rfc3339(to_micros(t)), "2026-11-25T23:10:48.123Z");
    }

    #[test]
    fn only_a_prober_with_the_whole_target_list_removes_targets() {
        use crate::config::{Env, Overrides, Settings};
        let load = |pairs: &[(&str, &str)]| {
            Settings::load(
                None,
                &Env::from_pairs(pairs.iter().copied()),
                &Overrides::default(),
            )
            .unwrap()
        };
        let urls = ("PROBE_URLS", "[http://127.0.0.1:1/a, http://127.0.0.1:1/b]");
        assert!(sweeps(&load(&[urls])));
        assert!(
            !sweeps(&load(&[
                urls,
                ("DISTRIBUTED_WORKERS_ENABLED", "true"),
                ("DISTRIBUTED_WORKERS_TOTAL", "2"),
                ("DISTRIBUTED_WORKERS_INDEX", "0"),
            ])),
            "one shard does not know the others' targets"
        );
    }

    #[test]
    fn open_bounds_saturate_instead_of_becoming_the_epoch() {
        assert_eq!(from_micros(i64::MAX).year(), 9999);
        assert_eq!(from_micros(i64::MIN).year(), 1);
        assert_eq!(to_micros(from_micros(MAX_TIME)), MAX_TIME);
        assert_eq!(to_micros(from_micros(MIN_TIME)), MIN_TIME);
    }

    #[test]
    fn errors_are_clipped_at_a_character_boundary() {
        assert_eq!(clip_error("abc"), "abc");
        let long = format!("a{}", "é".repeat(1000));
        assert_eq!(long.len(), 2001);
        let clipped = clip_error(&long);
        assert_eq!(clipped.len(), 1999, "é 999 would end past 2000 bytes");
        assert!(clipped.ends_with('é'));
    }

    #[test]
    fn names_round_trip() {
        for s in Sort::ALL {
            assert_eq!(Sort::parse(s.as_str()), Some(s));
        }
    }
}
