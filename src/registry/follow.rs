//! Keeping a copy of the live set up to date: the stores and the PostgreSQL `targets` table
//! follow the registry through [`Following`], which applies its entries once and then every
//! change in order. A change that could not be applied (a locked file, a database away) is
//! retried with backoff before the next one, so a copy is never ahead of a change it missed.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{Applied, Entry, Registry, Update};

/// A copy of the live set kept elsewhere.
#[async_trait::async_trait]
pub trait Replica: Send + 'static {
    type Error: std::fmt::Display + Send;
    /// What the logs call it.
    fn name(&self) -> &'static str;
    /// Holds `entries`, the whole live set as of following.
    async fn reset(&mut self, entries: &[Arc<Entry>]) -> Result<(), Self::Error>;
    /// Applies `changes`, in order.
    async fn apply(&mut self, changes: &[Applied]) -> Result<(), Self::Error>;
}

/// First and longest wait before a failed change is tried again.
const BACKOFF_MIN: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// A copy following a registry: subscribed at [`new`](Self::new), so no change falls between
/// the entries it starts from and the changes after them.
pub struct Following<R> {
    replica: R,
    entries: Option<Vec<Arc<Entry>>>,
    changes: mpsc::UnboundedReceiver<Update>,
}

impl<R: Replica> Following<R> {
    pub fn new(registry: &Registry, replica: R) -> Self {
        let (entries, changes) = registry.follow();
        Following {
            replica,
            entries: Some(entries),
            changes,
        }
    }

    /// Applies the entries now, once (a caller that wants to stop on a first failure, as
    /// `serve` does with its store).
    pub async fn reset(&mut self) -> Result<(), R::Error> {
        if let Some(entries) = &self.entries {
            self.replica.reset(entries).await?;
            self.entries = None;
        }
        Ok(())
    }

    /// Follows in a task until `stop`: the entries (unless [`reset`](Self::reset) applied them
    /// already), then every change.
    pub fn spawn(mut self, stop: CancellationToken) -> JoinHandle<()> {
        tokio::spawn(async move {
            if let Some(entries) = self.entries.take()
                && !until_done(&mut self.replica, &Work::Reset(entries), &stop).await
            {
                return;
            }
            loop {
                let update = tokio::select! {
                    _ = stop.cancelled() => return,
                    u = self.changes.recv() => match u {
                        Some(u) => u,
                        None => return,
                    },
                };
                if !until_done(&mut self.replica, &Work::Apply(update.changes), &stop).await {
                    return;
                }
                tracing::debug!(
                    replica = self.replica.name(),
                    version = update.version,
                    "targets followed"
                );
            }
        })
    }
}

/// What a replica is asked to do.
enum Work {
    Reset(Vec<Arc<Entry>>),
    Apply(Arc<[Applied]>),
}

/// Does `work` until it succeeds (true) or `stop` (false), logging each failure.
async fn until_done<R: Replica>(replica: &mut R, work: &Work, stop: &CancellationToken) -> bool {
    let mut wait = BACKOFF_MIN;
    loop {
        let result = match work {
            Work::Reset(entries) => replica.reset(entries).await,
            Work::Apply(changes) => replica.apply(changes).await,
        };
        match result {
            Ok(()) => return true,
            Err(e) => tracing::warn!(
                replica = replica.name(),
                error = %e,
                retry_in_ms = wait.as_millis() as u64,
                "following the targets failed"
            ),
        }
        tokio::select! {
            _ = stop.cancelled() => return false,
            _ = tokio::time::sleep(wait) => {}
        }
        wait = (wait * 2).min(BACKOFF_MAX);
    }
}
