//! Waiting until a condition holds, within a deadline generous enough for a busy machine. A
//! test waits for what it needs to see (a row, a log line, a count) instead of sleeping a
//! guessed time or asserting how long something took, so it neither flakes when the machine
//! is slow nor passes when the behaviour is gone.

use std::time::{Duration, Instant};

/// How long a test waits for something that takes well under a second on an idle machine.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Calls `check` until it returns `Some`, pausing a little between tries (10 ms, growing to
/// 200 ms); `None` once `within` has passed.
pub fn poll<T>(within: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let mut pace = Pace::new(within);
    loop {
        if let Some(v) = check() {
            return Some(v);
        }
        std::thread::sleep(pace.next()?);
    }
}

/// Like [`poll`], but fails the test naming `what` when the time is up.
pub fn wait_for<T>(what: &str, within: Duration, check: impl FnMut() -> Option<T>) -> T {
    poll(within, check).unwrap_or_else(|| panic!("{what}: not within {within:?}"))
}

/// [`poll`] for an async check, sleeping on the runtime's timer.
pub async fn poll_async<T>(
    within: Duration,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> Option<T> {
    let mut pace = Pace::new(within);
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        tokio::time::sleep(pace.next()?).await;
    }
}

/// [`wait_for`] for an async check.
pub async fn wait_for_async<T>(
    what: &str,
    within: Duration,
    check: impl AsyncFnMut() -> Option<T>,
) -> T {
    poll_async(within, check)
        .await
        .unwrap_or_else(|| panic!("{what}: not within {within:?}"))
}

/// Whether the async `check` holds within `within`.
pub async fn eventually(within: Duration, mut check: impl AsyncFnMut() -> bool) -> bool {
    poll_async(within, async || check().await.then_some(()))
        .await
        .is_some()
}

/// Whether the plain `check` (an atomic counter, a flag) holds within `within`, sleeping on
/// the runtime's timer; unlike an async closure, it can run inside a spawned task.
pub async fn holds_within(within: Duration, mut check: impl FnMut() -> bool) -> bool {
    let mut pace = Pace::new(within);
    loop {
        if check() {
            return true;
        }
        let Some(pause) = pace.next() else {
            return false;
        };
        tokio::time::sleep(pause).await;
    }
}

/// The pauses between tries: short at first, then at most 200 ms; bounded by the deadline and
/// by a number of tries (so a paused test clock cannot make it spin forever).
struct Pace {
    deadline: Instant,
    pause: Duration,
    tries_left: u32,
}

impl Pace {
    const FIRST: Duration = Duration::from_millis(10);
    const MAX: Duration = Duration::from_millis(200);

    fn new(within: Duration) -> Pace {
        Pace {
            deadline: Instant::now() + within,
            pause: Self::FIRST,
            tries_left: u32::try_from(within.as_millis() / Self::FIRST.as_millis())
                .unwrap_or(u32::MAX)
                .saturating_add(2),
        }
    }

    /// The pause before the next try; `None` when the time or the tries are used up.
    fn next(&mut self) -> Option<Duration> {
        let left = self.deadline.checked_duration_since(Instant::now())?;
        self.tries_left = self.tries_left.checked_sub(1)?;
        let pause = self.pause.min(left);
        self.pause = (self.pause * 2).min(Self::MAX);
        Some(pause)
    }
}
