//! The pages served: those of `status_pages:` and those made through the API, which are kept
//! in `DATA_DIR/status-pages.json` (like the targets the API makes) and checked against the
//! targets again whenever the pages change or a reload changes the configuration.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use serde::{Deserialize, Serialize};

use crate::config::status_pages::{PageFile, StatusPage, page_of};
use crate::config::target::Target;
use crate::json_file::JsonFileError;

/// The file under `DATA_DIR`.
pub const FILE_NAME: &str = "status-pages.json";

#[derive(Debug, Default, Serialize, Deserialize)]
struct Saved {
    version: u32,
    pages: Vec<PageFile>,
}

/// Why a page made through the API was refused.
#[derive(Debug)]
pub enum PageError {
    /// A page of the configuration has the slug: it changes there only.
    Configured(String),
    Exists(String),
    Missing(String),
    Invalid(String),
    Save(JsonFileError),
}

/// One page of the served set.
#[derive(Clone)]
pub struct Served {
    all: Arc<[StatusPage]>,
    at: usize,
}

impl Served {
    /// Whether both are the same page of the same served set (no reload between them).
    pub fn same(&self, other: &Served) -> bool {
        Arc::ptr_eq(&self.all, &other.all) && self.at == other.at
    }
}

impl std::ops::Deref for Served {
    type Target = StatusPage;
    fn deref(&self) -> &StatusPage {
        &self.all[self.at]
    }
}

/// The live set of pages.
pub struct Pages {
    served: RwLock<Arc<[StatusPage]>>,
    config: RwLock<Vec<StatusPage>>,
    /// As written through the API, in the order made.
    api: Mutex<Vec<PageFile>>,
    file: Option<PathBuf>,
}

impl Pages {
    /// These pages only, none kept on disk (tests, and `serve --store`).
    pub fn fixed(pages: Vec<StatusPage>) -> Arc<Pages> {
        Arc::new(Pages {
            served: RwLock::new(pages.clone().into()),
            config: RwLock::new(pages),
            api: Mutex::default(),
            file: None,
        })
    }

    /// The configured pages and those the API made before (from `data_dir`), checked against
    /// `targets`.
    pub fn open(
        config: Vec<StatusPage>,
        data_dir: &Path,
        targets: &dyn Fn() -> Vec<Target>,
    ) -> Result<Arc<Pages>, JsonFileError> {
        let file = data_dir.join(FILE_NAME);
        let saved: Saved = crate::json_file::load(
            &file,
            "a status pages file uptimer wrote; move it away to start afresh (the pages the API made are then lost)",
        )?;
        let pages = Pages {
            served: RwLock::new(Arc::from([])),
            config: RwLock::new(config),
            api: Mutex::new(saved.pages),
            file: Some(file),
        };
        pages.rebuild(targets, true);
        Ok(Arc::new(pages))
    }

    /// Every page served now.
    pub fn get(&self) -> Arc<[StatusPage]> {
        self.served
            .read()
            .map(|p| p.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    pub fn find(&self, slug: &str) -> Option<StatusPage> {
        self.lookup(slug).map(|p| StatusPage::clone(&p))
    }

    /// The page of `slug` as served now, borrowed from the served set (a request's lookup
    /// copies no page).
    pub fn lookup(&self, slug: &str) -> Option<Served> {
        let all = self.get();
        let at = all.iter().position(|p| p.slug == slug)?;
        Some(Served { all, at })
    }

    /// The first page (what `STATUS_LISTEN` serves at `/`).
    pub fn first(&self) -> Option<Served> {
        let all = self.get();
        (!all.is_empty()).then_some(Served { all, at: 0 })
    }

    /// Whether `slug` is a page of the configuration.
    pub fn configured(&self, slug: &str) -> bool {
        self.config
            .read()
            .map(|c| c.iter().any(|p| p.slug == slug))
            .unwrap_or(false)
    }

    /// The pages the API made, as written.
    pub fn made(&self) -> Vec<PageFile> {
        self.api.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// A reload's pages and targets.
    pub fn reconfigure(&self, config: Vec<StatusPage>, targets: &dyn Fn() -> Vec<Target>) {
        if let Ok(mut c) = self.config.write() {
            *c = config;
        }
        self.rebuild(targets, true);
    }

    /// The served set again: the configuration's pages, then each page made through the API
    /// that is still valid (`warn`: log those that are not). `targets` is called only when
    /// the API made pages.
    fn rebuild(&self, targets: &dyn Fn() -> Vec<Target>, warn: bool) {
        let mut served = self.config.read().map(|c| c.clone()).unwrap_or_default();
        let made = self.made();
        let targets = if made.is_empty() {
            Vec::new()
        } else {
            targets()
        };
        for (i, f) in made.iter().enumerate() {
            match page_of(f, &format!("{FILE_NAME}: pages[{i}]"), &targets) {
                Ok(p) if !served.iter().any(|s| s.slug == p.slug) => served.push(p),
                Ok(p) if warn => tracing::warn!(
                    page = %p.slug,
                    "a status page made through the API has the slug of a configured one: not served"
                ),
                Err(e) if warn => {
                    tracing::warn!(error = %e, "a status page made through the API is not served")
                }
                _ => {}
            }
        }
        if let Ok(mut s) = self.served.write()
            && **s != *served
        {
            // An unchanged set stays the same set, so the cache knows its pages at a glance.
            *s = served.into();
        }
    }

    /// Creates (`replace`: false) or replaces the page `file` describes, saved before served.
    pub fn put(
        &self,
        file: PageFile,
        replace: bool,
        targets: &[Target],
    ) -> Result<StatusPage, PageError> {
        if file.logo.is_some() || file.favicon.is_some() || file.custom_css.is_some() {
            return Err(PageError::Invalid(
                "logo, favicon and custom_css name files on the server: set them in the \
                 configuration file only"
                    .into(),
            ));
        }
        let page =
            page_of(&file, "page", targets).map_err(|e| PageError::Invalid(e.to_string()))?;
        if self.configured(&page.slug) {
            return Err(PageError::Configured(page.slug));
        }
        let mut api = self.api.lock().unwrap_or_else(|e| e.into_inner());
        let at = api.iter().position(|f| f.slug.trim() == page.slug);
        let mut next = api.clone();
        match (at, replace) {
            (Some(_), false) => return Err(PageError::Exists(page.slug)),
            (None, true) => return Err(PageError::Missing(page.slug)),
            (Some(i), true) => next[i] = file,
            (None, false) => next.push(file),
        }
        self.save(&next)?;
        *api = next;
        drop(api);
        self.rebuild(&|| targets.to_vec(), false);
        Ok(page)
    }

    /// Deletes a page the API made.
    pub fn delete(&self, slug: &str, targets: &dyn Fn() -> Vec<Target>) -> Result<(), PageError> {
        if self.configured(slug) {
            return Err(PageError::Configured(slug.to_owned()));
        }
        let mut api = self.api.lock().unwrap_or_else(|e| e.into_inner());
        let Some(i) = api.iter().position(|f| f.slug.trim() == slug) else {
            return Err(PageError::Missing(slug.to_owned()));
        };
        let mut next = api.clone();
        next.remove(i);
        self.save(&next)?;
        *api = next;
        drop(api);
        self.rebuild(targets, false);
        Ok(())
    }

    fn save(&self, pages: &[PageFile]) -> Result<(), PageError> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        let saved = Saved {
            version: 1,
            pages: pages.to_vec(),
        };
        crate::json_file::save(file, &saved).map_err(PageError::Save)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reload_that_changes_no_page_keeps_the_served_set_and_one_that_does_makes_a_new_one() {
        let page = |title: &str| StatusPage::new("main", title, Vec::new());
        let pages = Pages::fixed(vec![page("One")]);
        let before = pages.lookup("main").unwrap();
        pages.reconfigure(vec![page("One")], &Vec::new);
        assert!(pages.lookup("main").unwrap().same(&before));
        pages.reconfigure(vec![page("Two")], &Vec::new);
        let after = pages.lookup("main").unwrap();
        assert!(!after.same(&before));
        assert_eq!(after.title, "Two");
        assert!(pages.lookup("other").is_none());
        assert_eq!(pages.first().unwrap().title, "Two");
    }
}
