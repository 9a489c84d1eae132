//! The backlog of a prober source: events waiting for the database in a bounded memory buffer
//! that spills to the disk spool, and the task that drains it, reconnecting with backoff.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::insert::Core;
use super::spool::{Segment, Spool};
use super::{BACKOFF_MAX, BACKOFF_MIN, Health, WRITE_TIMEOUT};
use crate::postgres::{Class, PgError, classify};
use crate::writers::rejects::Rejected;

/// Events waiting for the database (prober source only).
pub(super) struct Backlog {
    pub(super) state: Mutex<BacklogState>,
    pub(super) spool: Spool,
    pub(super) wake: Notify,
    pub(super) max_memory: usize,
    pub(super) max_spool_bytes: u64,
    pub(super) fatal: Mutex<Option<String>>,
}

#[derive(Default)]
pub(super) struct BacklogState {
    pub(super) memory: VecDeque<Value>,
    /// How many of the first `memory` rows the drainer is writing right now.
    pub(super) in_flight: usize,
    /// Batches being written directly (by id), so shutdown can spool them if the database hangs.
    pub(super) writing: HashMap<u64, Arc<Vec<Value>>>,
    pub(super) next_writing: u64,
    pub(super) segments: VecDeque<Segment>,
    pub(super) spool_bytes: u64,
    pub(super) spool_events: u64,
}

impl BacklogState {
    pub(super) fn is_empty(&self) -> bool {
        self.memory.is_empty() && self.segments.is_empty()
    }
}

impl Backlog {
    pub(super) fn is_empty(&self) -> bool {
        self.state.lock().expect("backlog lock").is_empty()
    }

    /// Queues rows for the drainer; spills to disk past the memory bound.
    pub(super) async fn push(self: &Arc<Self>, rows: Vec<Value>, health: &Health) {
        let over = {
            let mut st = self.state.lock().expect("backlog lock");
            st.memory.extend(rows);
            health
                .buffered
                .store(st.memory.len() as u64, Ordering::Relaxed);
            st.memory.len() > self.max_memory
        };
        if over && let Err(e) = self.spill(health).await {
            tracing::error!(error = %e, "cannot spill to disk; events stay in memory");
        }
        self.wake.notify_one();
    }

    /// Moves what is in memory (past the rows being written) to a new spool segment.
    pub(super) async fn spill(self: &Arc<Self>, health: &Health) -> Result<(), String> {
        let rows: Vec<Value> = {
            let mut st = self.state.lock().expect("backlog lock");
            let skip = st.in_flight;
            st.memory.drain(skip..).collect()
        };
        if rows.is_empty() {
            return Ok(());
        }
        let me = self.clone();
        let n = rows.len() as u64;
        let result = tokio::task::spawn_blocking(move || {
            let r = me.spool.write(&rows);
            (r, rows)
        })
        .await
        .map_err(|e| e.to_string())?;
        match result {
            (Ok(seg), _) => {
                let mut st = self.state.lock().expect("backlog lock");
                st.spool_bytes += seg.bytes;
                st.spool_events += n;
                st.segments.push_back(seg);
                health.spooled(st.spool_events, st.spool_bytes);
                health.spilled_total.add(n);
                health
                    .buffered
                    .store(st.memory.len() as u64, Ordering::Relaxed);
                Ok(())
            }
            (Err(e), rows) => {
                // Keep them in memory rather than lose them; say why.
                let mut st = self.state.lock().expect("backlog lock");
                st.memory.extend(rows);
                Err(format!("spool {}: {e}", self.spool.dir().display()))
            }
        }
    }
}

/// Writes the backlog (spool segments oldest first, then memory) whenever there is one,
/// reconnecting with exponential backoff.
pub(super) async fn drain(
    core: Arc<Core>,
    backlog: Arc<Backlog>,
    page: usize,
    stop: CancellationToken,
) {
    let mut backoff = BACKOFF_MIN;
    loop {
        if backlog.is_empty() {
            tokio::select! {
                _ = backlog.wake.notified() => {}
                _ = stop.cancelled() => return,
            }
            continue;
        }
        match drain_step(&core, &backlog, page).await {
            Ok(()) => {
                backoff = BACKOFF_MIN;
                core.health.connected.store(true, Ordering::Relaxed);
            }
            Err(e) if classify(&e) == Class::Fatal => {
                tracing::error!(error = %e, "cannot write the backlog");
                *backlog.fatal.lock().expect("fatal lock") = Some(e.to_string());
                return;
            }
            Err(e) => {
                core.health.connected.store(false, Ordering::Relaxed);
                tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "database unavailable; events wait in the spool");
                // What waits in memory goes to disk, so a crash during the outage loses nothing.
                if let Err(e) = backlog.spill(&core.health).await {
                    tracing::error!(error = %e, "cannot spill to disk; events stay in memory");
                }
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stop.cancelled() => return,
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
}

async fn drain_step(core: &Core, backlog: &Arc<Backlog>, page: usize) -> Result<(), PgError> {
    let segment = backlog
        .state
        .lock()
        .expect("backlog lock")
        .segments
        .front()
        .cloned();
    if let Some(seg) = segment {
        let s = seg.clone();
        let read = tokio::task::spawn_blocking(move || Spool::read(&s))
            .await
            .map_err(|e| PgError::Setup(e.to_string()))?;
        let (rows, bad) = match read {
            Ok(r) => r,
            // Drained by someone else (another process on the same DATA_DIR): nothing to do.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut st = backlog.state.lock().expect("backlog lock");
                st.segments.pop_front();
                st.spool_bytes = st.spool_bytes.saturating_sub(seg.bytes);
                st.spool_events = st.spool_events.saturating_sub(seg.events);
                core.health.spooled(st.spool_events, st.spool_bytes);
                return Ok(());
            }
            Err(e) => {
                return Err(PgError::Setup(format!("spool {}: {e}", seg.path.display())));
            }
        };
        if !bad.is_empty() {
            let rejected = bad
                .into_iter()
                .map(|line| {
                    Rejected::new(
                        "spool",
                        &Value::String(line),
                        "not a JSON line in the spool",
                    )
                })
                .collect();
            core.rejects.keep(rejected).await.map_err(PgError::Setup)?;
        }
        for chunk in rows.chunks(page) {
            tokio::time::timeout(WRITE_TIMEOUT, core.write_rows(chunk))
                .await
                .map_err(|_| PgError::Pool("write timed out".into()))??;
        }
        Spool::remove(&seg)
            .map_err(|e| PgError::Setup(format!("spool {}: {e}", seg.path.display())))?;
        let mut st = backlog.state.lock().expect("backlog lock");
        st.segments.pop_front();
        st.spool_bytes = st.spool_bytes.saturating_sub(seg.bytes);
        st.spool_events = st.spool_events.saturating_sub(seg.events);
        core.health.spooled(st.spool_events, st.spool_bytes);
        return Ok(());
    }
    let chunk: Vec<Value> = {
        let mut st = backlog.state.lock().expect("backlog lock");
        let n = st.memory.len().min(page);
        st.in_flight = n;
        st.memory.iter().take(n).cloned().collect()
    };
    let result = tokio::time::timeout(WRITE_TIMEOUT, core.write_rows(&chunk))
        .await
        .map_err(|_| PgError::Pool("write timed out".into()))
        .and_then(|r| r);
    let mut st = backlog.state.lock().expect("backlog lock");
    if result.is_ok() {
        let n = st.in_flight;
        st.memory.drain(..n);
    }
    st.in_flight = 0;
    core.health
        .buffered
        .store(st.memory.len() as u64, Ordering::Relaxed);
    result
}
