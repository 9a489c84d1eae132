//! Push (heartbeat) targets: nobody probes them; a job calls their push URL at least once per
//! interval plus grace. [`PushBoard`] knows the push targets by token, turns each push into an
//! event at once, and [`PushBoard::watch`] gives a target whose deadline passed a down event
//! (`push_missed`), then one per interval while the pushes stay away.
//!
//! Tokens (generated when the configuration gives none) and each target's last push live in a
//! small file under the data directory ([`file`]), so a restart changes no push URL and
//! computes deadlines from the last push. Time comes from a [`Clock`], so tests run intervals
//! on tokio's paused clock instead of sleeping.

pub mod file;
mod limit;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use crate::config::target::masked_url;
use crate::config::{Check, Interval, Target};
use crate::event::{ErrorKind, Kind, ProbeEvent, PushDetails};
use file::{Contents, Entry, FileError, LastPush};
use limit::Bucket;

pub use limit::{BURST, PER_MINUTE};

/// The most of a pushed `msg` kept, in bytes: longer ones are cut at a character boundary and
/// end with `…`.
pub const MAX_MSG_BYTES: usize = 1024;

/// Events from pushes and missed deadlines waiting for the pipeline; a full buffer makes a
/// push wait (back-pressure), never drops it.
const CHANNEL_CAPACITY: usize = 1024;

/// Where the time comes from: the system's clock, or in tests one that follows tokio's
/// (paused) clock.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> OffsetDateTime + Send + Sync>);

impl Clock {
    /// The system's wall clock.
    pub fn system() -> Clock {
        Clock(Arc::new(OffsetDateTime::now_utc))
    }

    /// A wall clock that reads `start` now and then moves as tokio's clock does: with tokio's
    /// time paused, as fast as the test advances it.
    pub fn following_tokio(start: OffsetDateTime) -> Clock {
        let base = tokio::time::Instant::now();
        Clock(Arc::new(move || start + base.elapsed()))
    }

    /// The time now, to the microsecond (as events are written and stored).
    pub fn now(&self) -> OffsetDateTime {
        let now = (self.0)();
        now.replace_nanosecond(now.nanosecond() / 1000 * 1000)
            .unwrap_or(now)
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clock")
    }
}

/// One push as the job sent it.
#[derive(Debug, Clone, PartialEq)]
pub struct Push {
    /// `status=up` (the default) or `status=down`.
    pub up: bool,
    /// `msg`, cut to [`MAX_MSG_BYTES`], control characters made spaces.
    pub msg: Option<String>,
    /// `ping`: a response time the job measured, in milliseconds.
    pub ping_ms: Option<u64>,
}

impl Push {
    /// The push a query string (`status=down&msg=…&ping=12`) describes. Percent-encoding that
    /// does not decode is kept as written and bytes that are not UTF-8 become U+FFFD: a job's
    /// message is never a reason to lose its push. A bad `status` or `ping` is an error saying
    /// what is expected; other parameters are ignored.
    pub fn from_query(query: &str) -> Result<Push, String> {
        let mut push = Push {
            up: true,
            msg: None,
            ping_ms: None,
        };
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            match k.as_ref() {
                "status" => {
                    push.up = match v.as_ref() {
                        "up" | "" => true,
                        "down" => false,
                        other => {
                            return Err(format!(
                                "status: expected up or down, got {:?}",
                                cut(other, 40)
                            ));
                        }
                    }
                }
                "msg" => push.msg = Some(clean_msg(&v)).filter(|m| !m.is_empty()),
                "ping" => {
                    push.ping_ms = match v.trim().parse::<f64>() {
                        Ok(ms) if ms.is_finite() && (0.0..=86_400_000.0).contains(&ms) => {
                            Some(ms.round() as u64)
                        }
                        _ => {
                            return Err(format!(
                                "ping: expected a response time in milliseconds (0 to 86400000), got {:?}",
                                cut(&v, 40)
                            ));
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(push)
    }
}

/// At most `max` bytes of `s`, cut at a character boundary.
fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A pushed message as kept: control characters (newlines included) become spaces, so that it
/// stays one line wherever it is shown or logged, and it is cut to [`MAX_MSG_BYTES`].
fn clean_msg(raw: &str) -> String {
    let one_line: String = raw
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let one_line = one_line.trim();
    if one_line.len() <= MAX_MSG_BYTES {
        return one_line.to_owned();
    }
    format!("{}…", cut(one_line, MAX_MSG_BYTES - '…'.len_utf8()))
}

/// Why a push was not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// No push target has this token.
    UnknownToken,
    /// The target pushed too often; the next push is allowed after this long.
    TooMany { retry_after: Duration },
    /// The pipeline has stopped (the process is shutting down).
    Stopped,
}

/// Why the board cannot start.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error("targets {0:?} and {1:?} have the same push token")]
    SameToken(String, String),
}

/// One push target, as the board keeps it.
struct Slot {
    target: Target,
    token: String,
    /// How often the job pushes; `None` when the process runs one round only.
    interval: Option<Duration>,
    /// How long after the interval a push still counts as on time.
    grace: Duration,
}

/// What changes with each push.
#[derive(Debug, Clone)]
struct SlotState {
    last: Option<LastPush>,
    /// When the target gets its next `push_missed` event unless a push comes first.
    deadline: Option<OffsetDateTime>,
    bucket: Bucket,
}

/// The push targets of a `serve` process, by token.
pub struct PushBoard {
    slots: Vec<Slot>,
    by_token: HashMap<String, usize>,
    by_id: HashMap<String, usize>,
    state: Mutex<Vec<SlotState>>,
    /// The whole state file, as last written (entries of other targets included).
    contents: Mutex<Contents>,
    file: PathBuf,
    /// One write of the state file at a time, in order.
    writing: tokio::sync::Mutex<()>,
    /// Wakes [`PushBoard::watch`] when a deadline moved.
    moved: Notify,
    clock: Clock,
    location: Option<String>,
    tx: mpsc::Sender<ProbeEvent>,
    /// When the board started: the first deadline of a target never pushed to counts from it.
    started: OffsetDateTime,
}

impl std::fmt::Debug for PushBoard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // No tokens: they are credentials.
        f.debug_struct("PushBoard")
            .field("targets", &self.slots.len())
            .field("file", &self.file)
            .finish()
    }
}

/// A fresh token: 256 random bits (two v4 UUIDs' randomness), base64url.
fn new_token() -> String {
    use base64::Engine as _;
    let mut bytes = [0u8; 32];
    bytes[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl PushBoard {
    /// The board of the push targets among `targets` (the others are ignored), with the
    /// tokens and last pushes kept in `data_dir`; tokens missing there are generated and
    /// saved before this returns. The receiver gets every event the board makes.
    pub fn open(
        targets: &[Target],
        data_dir: &Path,
        clock: Clock,
        location: Option<String>,
    ) -> Result<(Arc<PushBoard>, mpsc::Receiver<ProbeEvent>), PushError> {
        let path = file::path(data_dir);
        let mut contents = file::load(&path)?;
        let now = clock.now();
        let mut generated = false;
        let (mut slots, mut states) = (Vec::new(), Vec::new());
        for t in targets {
            let Check::Push(check) = &t.check else {
                continue;
            };
            let entry = contents.targets.entry(t.id.clone()).or_default();
            let token = match &check.token {
                Some(given) => {
                    // The configured token wins; a generated one is no longer needed.
                    generated |= entry.token.take().is_some();
                    given.clone()
                }
                None => entry
                    .token
                    .get_or_insert_with(|| {
                        generated = true;
                        new_token()
                    })
                    .clone(),
            };
            let interval = match t.interval {
                Interval::Every(d) => Some(d),
                Interval::Once => None,
            };
            let grace = check.grace.or(interval).unwrap_or_default();
            let state = SlotState {
                deadline: interval.map(|iv| first_deadline(entry, now, iv, grace)),
                last: entry.last.clone(),
                bucket: Bucket::default(),
            };
            slots.push(Slot {
                target: t.clone(),
                token,
                interval,
                grace,
            });
            states.push(state);
        }
        let mut by_token = HashMap::new();
        for (i, s) in slots.iter().enumerate() {
            if let Some(j) = by_token.insert(s.token.clone(), i) {
                return Err(PushError::SameToken(
                    slots[j].target.name.clone(),
                    s.target.name.clone(),
                ));
            }
        }
        if generated {
            file::save(&path, &contents)?;
        }
        let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
        let board = PushBoard {
            by_id: slots
                .iter()
                .enumerate()
                .map(|(i, s)| (s.target.id.clone(), i))
                .collect(),
            by_token,
            slots,
            state: Mutex::new(states),
            contents: Mutex::new(contents),
            file: path,
            writing: tokio::sync::Mutex::new(()),
            moved: Notify::new(),
            clock,
            location,
            tx,
            started: now,
        };
        Ok((Arc::new(board), rx))
    }

    /// Whether the board has any target.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Whether a push target has `token`.
    pub fn knows(&self, token: &str) -> bool {
        self.by_token.contains_key(token)
    }

    /// The push token of the target with this id, if it is a push target (for its page).
    pub fn token_of(&self, target_id: &str) -> Option<&str> {
        self.by_id
            .get(target_id)
            .map(|&i| self.slots[i].token.as_str())
    }

    /// Takes a push for the target with `token`: its event goes out at once, its deadline
    /// moves to the push plus interval plus grace, and the push is saved for a restart.
    pub async fn push(&self, token: &str, push: Push) -> Result<(), Refused> {
        let &i = self.by_token.get(token).ok_or(Refused::UnknownToken)?;
        let slot = &self.slots[i];
        let now = self.clock.now();
        let last = LastPush {
            at: now,
            up: push.up,
            msg: push.msg.clone(),
        };
        {
            let mut states = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let st = &mut states[i];
            st.bucket
                .take(now)
                .map_err(|retry_after| Refused::TooMany { retry_after })?;
            st.last = Some(last.clone());
            st.deadline = slot.interval.map(|iv| now + iv + slot.grace);
        }
        self.moved.notify_one();
        let mut ev = self.event(slot, now, push.up, push.msg.clone());
        ev.response_time_ms = push.ping_ms.unwrap_or(0);
        if !push.up {
            // The job's own verdict, as a failing condition is one: `condition`, with its
            // words as the error (see docs/push.md).
            ev.error_kind = Some(ErrorKind::Condition);
            ev.error = Some(
                push.msg
                    .unwrap_or_else(|| "the job pushed status=down".to_owned()),
            );
        }
        self.tx.send(ev).await.map_err(|_| Refused::Stopped)?;
        self.save(&slot.target.id, last).await;
        Ok(())
    }

    /// Remembers `last` as the target's last push in the state file. A failed write is
    /// logged: the push itself was taken, only a restart would forget it.
    async fn save(&self, id: &str, last: LastPush) {
        let _one_at_a_time = self.writing.lock().await;
        let contents = {
            let mut c = self.contents.lock().unwrap_or_else(|e| e.into_inner());
            c.targets.entry(id.to_owned()).or_default().last = Some(last);
            c.clone()
        };
        let path = self.file.clone();
        let written = tokio::task::spawn_blocking(move || file::save(&path, &contents)).await;
        match written {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "push: the last push is not saved"),
            Err(e) => tracing::warn!(error = %e, "push: saving the last push failed"),
        }
    }

    /// Gives each target whose deadline passes a `push_missed` event, then one per interval
    /// while no push comes, until `stop` is cancelled.
    pub async fn watch(self: Arc<Self>, stop: CancellationToken) {
        loop {
            let now = self.clock.now();
            let missed = self.take_missed(now);
            for ev in missed {
                // A full channel must not hold off the stop: the reader of the channel waits
                // for this task to end before it drains.
                tokio::select! {
                    biased;
                    _ = stop.cancelled() => return,
                    sent = self.tx.send(ev) => if sent.is_err() { return },
                }
            }
            let next = {
                let states = self.state.lock().unwrap_or_else(|e| e.into_inner());
                states.iter().filter_map(|s| s.deadline).min()
            };
            // Without deadlines (one round, or no target) only a stop ends the wait.
            let wait = next.map(|d| Duration::try_from(d - now).unwrap_or_default());
            tokio::select! {
                biased;
                _ = stop.cancelled() => return,
                _ = self.moved.notified() => {}
                _ = sleep_for(wait) => {}
            }
        }
    }

    /// The events of the deadlines passed at `now`; each such deadline moves one interval on
    /// (to `now` plus an interval when the process was asleep for longer).
    fn take_missed(&self, now: OffsetDateTime) -> Vec<ProbeEvent> {
        let mut out = Vec::new();
        let mut states = self.state.lock().unwrap_or_else(|e| e.into_inner());
        for (slot, st) in self.slots.iter().zip(states.iter_mut()) {
            let (Some(deadline), Some(iv)) = (st.deadline, slot.interval) else {
                continue;
            };
            if deadline > now {
                continue;
            }
            let next = deadline + iv;
            st.deadline = Some(if next > now { next } else { now + iv });
            let mut ev = self.event(slot, now, false, None);
            ev.error_kind = Some(ErrorKind::PushMissed);
            ev.error = Some(missed_text(st.last.as_ref(), self.started, deadline));
            out.push(ev);
        }
        out
    }

    /// A push target's event with what every event has.
    fn event(&self, slot: &Slot, at: OffsetDateTime, up: bool, msg: Option<String>) -> ProbeEvent {
        let t = &slot.target;
        let mut ev = ProbeEvent::new(at, Kind::Push.as_str(), "", None);
        ev.status_code = None;
        ev.url = Some(masked_url(&t.url));
        ev.target = Some(t.id.clone());
        ev.name = Some(t.name.clone());
        ev.location = self.location.clone();
        ev.up = Some(up);
        ev.push = Some(PushDetails { msg });
        ev
    }
}

/// The first deadline of a target: from its last push when one was saved, else from now; and
/// never sooner than `grace` from now, so that a job whose pushes came while the process was
/// stopped gets the time to push again before it is called missing.
fn first_deadline(
    entry: &Entry,
    now: OffsetDateTime,
    interval: Duration,
    grace: Duration,
) -> OffsetDateTime {
    match &entry.last {
        Some(last) => (last.at + interval + grace).max(now + grace),
        None => now + interval + grace,
    }
}

/// The error text of a missed deadline: when the last push came.
fn missed_text(
    last: Option<&LastPush>,
    started: OffsetDateTime,
    deadline: OffsetDateTime,
) -> String {
    let fmt = |t: OffsetDateTime| t.format(&Rfc3339).unwrap_or_else(|_| t.to_string());
    match last {
        Some(l) => format!(
            "no push since the last one at {} (status {}); it was due by {}",
            fmt(l.at),
            if l.up { "up" } else { "down" },
            fmt(deadline)
        ),
        None => format!(
            "no push received since the start at {}; one was due by {}",
            fmt(started),
            fmt(deadline)
        ),
    }
}

/// Sleeps `wait`, or forever for `None`.
async fn sleep_for(wait: Option<Duration>) {
    match wait {
        Some(w) => tokio::time::sleep(w).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests;
