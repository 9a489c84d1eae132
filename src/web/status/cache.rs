//! Each page's documents, rendered once per change and served from memory: a request costs a
//! map lookup and a copy of a reference-counted buffer, whatever the page's size.
//!
//! The live facts (targets' states, maintenance, written incidents) are checked at most once
//! per [`LIVE`] by whichever request finds them older, while the others are served what is
//! there; when what a page shows changed, every document is rendered again. The 90 days of
//! history are read in the background every [`HISTORY`] (and at once for a page's first
//! request), never per request.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use axum::body::Bytes;

use super::Served;
use super::facts::Facts;
use super::history::{self, History};
use super::model::{Summary, summarize};
use super::{docs, feeds, notices, view};
use crate::config::status_pages::StatusPage;
use crate::store::alerts::NoticeTarget;
use crate::store::alerts::gate::Standing;
use crate::store::status::StatusIncident;
use crate::store::{MINUTE, Micros, SECOND, StoreError, TargetSummary, now_micros};
use crate::web::AppState;

/// How old the live facts may be.
pub const LIVE: Micros = SECOND;
/// How old the history may be.
pub const HISTORY: Micros = 5 * MINUTE;
/// How long written incidents stay listed after they were resolved.
const LISTED_FOR: Micros = history::DAYS as Micros * 24 * 60 * MINUTE;

/// Bodies smaller than this are sent as they are.
const GZIP_FROM: usize = 1024;

/// One rendered document and its entity tag, and gzipped with its own when it is large
/// enough to gain: compressed once per render, never per request.
pub struct Doc {
    pub body: Bytes,
    pub etag: String,
    pub gzip: Option<(Bytes, String)>,
}

impl Doc {
    fn new(body: impl Into<Bytes>) -> Doc {
        let body = body.into();
        let mut h = DefaultHasher::new();
        body.hash(&mut h);
        let tag = h.finish();
        let gzip = (body.len() >= GZIP_FROM)
            .then(|| gzip(&body))
            .flatten()
            .map(|z| (z, format!("\"{tag:016x}-gz\"")));
        Doc {
            etag: format!("\"{tag:016x}\""),
            body,
            gzip,
        }
    }
}

fn gzip(body: &[u8]) -> Option<Bytes> {
    use std::io::Write;
    let mut z = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 8),
        flate2::Compression::default(),
    );
    z.write_all(body).ok()?;
    z.finish().ok().map(Bytes::from)
}

/// A page's documents as of one change.
pub struct Snapshot {
    fingerprint: u64,
    /// When what the page shows last changed (`Last-Modified`).
    pub updated_at: Micros,
    pub html: Doc,
    pub widget: Doc,
    /// By path under `api/v2/`.
    pub json: HashMap<&'static str, Doc>,
    pub rss: Doc,
    pub atom: Doc,
    /// By component id.
    pub badges: HashMap<String, Doc>,
}

/// One page's cache.
struct Slot {
    page: Served,
    snapshot: RwLock<Option<Arc<Snapshot>>>,
    checked: AtomicI64,
    refresh: tokio::sync::Mutex<()>,
    history: RwLock<Arc<History>>,
    reading_history: AtomicBool,
}

impl Slot {
    fn current(&self) -> Option<Arc<Snapshot>> {
        self.snapshot.read().ok().and_then(|s| s.clone())
    }
}

/// Every page's cache.
#[derive(Default)]
pub struct StatusCache {
    slots: Mutex<HashMap<String, Arc<Slot>>>,
    /// The files pages name (logo, favicon, custom CSS), read once.
    files: Mutex<HashMap<PathBuf, Bytes>>,
}

impl StatusCache {
    /// A file a page names, read at its first request (at most [`super::MAX_ASSET`]).
    pub async fn file(&self, path: &Path) -> std::io::Result<Bytes> {
        if let Some(b) = self
            .files
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(path)
        {
            return Ok(b.clone());
        }
        let meta = tokio::fs::metadata(path).await?;
        if meta.len() > super::MAX_ASSET {
            return Err(std::io::Error::other("larger than 1 MiB"));
        }
        let bytes = Bytes::from(tokio::fs::read(path).await?);
        self.files
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(path.to_owned(), bytes.clone());
        Ok(bytes)
    }

    fn slot(&self, page: &Served) -> Arc<Slot> {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let old = match slots.get(&page.slug) {
            Some(s) if s.page.same(page) => return s.clone(),
            old => old,
        };
        // A reload that left the page as it was keeps what was rendered and read; one that
        // changed it starts it afresh.
        let kept = old.filter(|o| *o.page == **page);
        let s = Arc::new(Slot {
            page: page.clone(),
            snapshot: RwLock::new(kept.and_then(|o| o.current())),
            checked: AtomicI64::new(kept.map_or(0, |o| o.checked.load(Ordering::Acquire))),
            refresh: tokio::sync::Mutex::new(()),
            history: RwLock::new(
                kept.and_then(|o| o.history.read().ok().map(|h| h.clone()))
                    .unwrap_or_default(),
            ),
            reading_history: AtomicBool::new(false),
        });
        slots.insert(page.slug.clone(), s.clone());
        s
    }

    /// The page's documents, at most [`LIVE`] old (but while another request renders them).
    pub async fn get(&self, s: &AppState, page: &Served) -> Result<Arc<Snapshot>, StoreError> {
        let slot = self.slot(page);
        let now = now_micros();
        let fresh = |slot: &Slot| now - slot.checked.load(Ordering::Acquire) < LIVE;
        let _guard = match slot.current() {
            Some(snap) if fresh(&slot) => return Ok(snap),
            Some(snap) => match slot.refresh.try_lock() {
                Ok(g) => g,
                Err(_) => return Ok(snap),
            },
            None => {
                let g = slot.refresh.lock().await;
                if let Some(snap) = slot.current() {
                    return Ok(snap);
                }
                g
            }
        };
        refresh(s, &slot, now).await
    }
}

/// Whether a maintenance window covers the target now.
fn in_maintenance(
    gate: Option<&crate::store::alerts::Gate>,
    t: &TargetSummary,
    now: Micros,
) -> bool {
    gate.is_some_and(|g| {
        matches!(
            g.standing(&NoticeTarget::from(t), now),
            Some(Standing::Maintenance { .. })
        )
    })
}

/// The page's targets (every one a component watches).
fn targets_of(summary: &Summary) -> Vec<String> {
    let mut ids: Vec<String> = summary
        .components()
        .flat_map(|c| c.targets.iter().cloned())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Reads the history again in the background; the next request renders with it.
fn read_history_later(s: &AppState, slot: &Arc<Slot>, targets: Vec<String>) {
    if slot.reading_history.swap(true, Ordering::AcqRel) {
        return;
    }
    let (store, slot) = (s.store.clone(), slot.clone());
    tokio::spawn(async move {
        let read = history::read(&*store, &targets, &slot.page.timezone, now_micros()).await;
        match read {
            Ok(h) => {
                if let Ok(mut w) = slot.history.write() {
                    *w = Arc::new(h);
                }
                slot.checked.store(0, Ordering::Release);
            }
            Err(e) => {
                tracing::warn!(error = %e, page = %slot.page.slug, "status page: reading the history failed")
            }
        }
        slot.reading_history.store(false, Ordering::Release);
    });
}

async fn refresh(s: &AppState, slot: &Arc<Slot>, now: Micros) -> Result<Arc<Snapshot>, StoreError> {
    let page = &slot.page;
    let targets = s.store.all_targets().await?;
    let gate = crate::web::pages::gate(s, now).await;
    let posted: Vec<StatusIncident> = match &s.status_book {
        Some(book) => {
            book.status_incidents(&page.slug, now - LISTED_FOR, 100)
                .await?
        }
        None => Vec::new(),
    };
    let summary = summarize(
        page,
        &targets,
        &|t| in_maintenance(gate.as_ref(), t, now),
        &posted,
    );
    let ids = targets_of(&summary);
    let mut h = slot.history.read().map(|h| h.clone()).unwrap_or_default();
    if h.built_at == 0 {
        h = Arc::new(history::read(&*s.store, &ids, &page.timezone, now).await?);
        if let Ok(mut w) = slot.history.write() {
            *w = h.clone();
        }
    } else if now - h.built_at > HISTORY || ids.iter().any(|id| !h.days.contains_key(id)) {
        read_history_later(s, slot, ids);
    }
    let detected = if page.detected_incidents {
        notices::detected(&summary, &targets, &h)
    } else {
        Vec::new()
    };
    let maintenance = notices::announcements(gate.as_ref(), &summary, &targets, now);
    let mut fp = DefaultHasher::new();
    summary.hash(&mut fp);
    for i in &posted {
        (i.id, i.updated_at).hash(&mut fp);
    }
    detected.hash(&mut fp);
    maintenance.hash(&mut fp);
    maintenance.iter().for_each(|m| m.active(now).hash(&mut fp));
    h.built_at.hash(&mut fp);
    let fingerprint = fp.finish();
    if let Some(snap) = slot.current().filter(|x| x.fingerprint == fingerprint) {
        slot.checked.store(now, Ordering::Release);
        return Ok(snap);
    }
    let bars = summary
        .components()
        .map(|c| {
            let written: Vec<Micros> = posted
                .iter()
                .filter(|i| i.components.iter().any(|a| a.component == c.name))
                .map(|i| i.created_at)
                .collect();
            (c.id.clone(), history::bar(&h, &c.targets, &written, now))
        })
        .collect();
    let facts = Facts {
        page: StatusPage::clone(page),
        summary,
        posted,
        detected,
        maintenance,
        bars,
        updated_at: now,
        now,
        base: s.public_url.clone(),
    };
    // Rendering and compressing a large page takes milliseconds: off the request threads.
    let snap = tokio::task::spawn_blocking(move || Arc::new(render(&facts, fingerprint)))
        .await
        .map_err(|e| StoreError::Other(format!("rendering the status page failed: {e}")))?;
    if let Ok(mut w) = slot.snapshot.write() {
        *w = Some(snap.clone());
    }
    slot.checked.store(now, Ordering::Release);
    Ok(snap)
}

fn render(f: &Facts, fingerprint: u64) -> Snapshot {
    let json = docs::all(f)
        .into_iter()
        .map(|(path, v)| (path, Doc::new(v.to_string())))
        .collect();
    let badges = f
        .summary
        .components()
        .map(|c| (c.id.clone(), Doc::new(view::badge(c))))
        .collect();
    Snapshot {
        fingerprint,
        updated_at: f.updated_at,
        html: Doc::new(view::page(f)),
        widget: Doc::new(view::widget(f)),
        json,
        rss: Doc::new(feeds::rss(f)),
        atom: Doc::new(feeds::atom(f)),
        badges,
    }
}
