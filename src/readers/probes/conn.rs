//! The hyper connection shared by the probes that speak HTTP (HTTP(S) and gRPC): driven by
//! the probe's own task.

use std::future::Future;
use std::pin::Pin;

/// The hyper connection of one probe, driven by the probe's own task (no task spawned per
/// probe: that cost a cross-thread wake-up each time) and closed when dropped.
pub(super) struct Conn(Option<Pin<Box<dyn Future<Output = ()> + Send>>>);

impl Conn {
    pub(super) fn new(conn: impl Future + Send + 'static) -> Conn {
        Conn(Some(Box::pin(async move {
            let _ = conn.await;
        })))
    }

    /// Runs `fut` while driving the connection; once the connection has ended (it delivered
    /// everything or failed, which `fut` then reports), `fut` alone.
    pub(super) async fn drive<F: Future>(&mut self, fut: F) -> F::Output {
        let mut fut = std::pin::pin!(fut);
        if let Some(conn) = self.0.as_mut() {
            tokio::select! {
                biased;
                out = &mut fut => return out,
                _ = conn => self.0 = None,
            }
        }
        fut.await
    }
}
