//! The backlog of a prober source: batches that could not be inserted wait in the disk spool
//! (each fsynced before it is acknowledged), and the task that drains it oldest first,
//! reconnecting with backoff.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::insert::Core;
use super::spool::{Segment, Spool};
use super::{BACKOFF_MAX, BACKOFF_MIN, Health, WRITE_TIMEOUT};
use crate::event::Event;
use crate::postgres::{Class, PgError, classify};
use crate::writers::rejects::Rejected;

/// Batches waiting for the database in the spool (prober source only).
pub(super) struct Backlog {
    pub(super) state: Mutex<BacklogState>,
    pub(super) spool: Spool,
    pub(super) wake: Notify,
    pub(super) max_spool_bytes: u64,
    pub(super) fatal: Mutex<Option<String>>,
}

#[derive(Default)]
pub(super) struct BacklogState {
    pub(super) segments: VecDeque<Segment>,
    pub(super) spool_bytes: u64,
    pub(super) spool_events: u64,
}

impl Backlog {
    pub(super) fn is_empty(&self) -> bool {
        self.state.lock().expect("backlog lock").segments.is_empty()
    }

    pub(super) fn is_full(&self) -> bool {
        self.state.lock().expect("backlog lock").spool_bytes > self.max_spool_bytes
    }

    /// Writes `rows` to a new spool segment, durable (fsynced) when this returns, and wakes the
    /// drainer.
    pub(super) async fn spool(
        self: &Arc<Self>,
        rows: Vec<Event>,
        health: &Health,
    ) -> Result<(), String> {
        if rows.is_empty() {
            return Ok(());
        }
        let me = self.clone();
        let n = rows.len() as u64;
        let seg = tokio::task::spawn_blocking(move || me.spool.write(&rows))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("spool {}: {e}", self.spool.dir().display()))?;
        {
            let mut st = self.state.lock().expect("backlog lock");
            st.spool_bytes += seg.bytes;
            st.spool_events += n;
            st.segments.push_back(seg);
            health.spooled(st.spool_events, st.spool_bytes);
        }
        health.spilled_total.add(n);
        self.wake.notify_one();
        Ok(())
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
    let Some(seg) = segment else {
        return Ok(());
    };
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
        core.rejects
            .keep(rejected)
            .await
            .map_err(|e| PgError::Setup(e.to_string()))?;
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
    Ok(())
}
