//! The public status pages in a real headless Chromium and through real feed and JSON parsers.
//! `uptimer serve` (the real binary) keeps a page over targets the test harness serves, in each
//! state a page can be in: all operational, a minor outage (a target degraded), a partial
//! outage (one of a tag's two targets down), a major outage (a target down), maintenance (a
//! one-off window over a tag, nothing worse) and an incident people wrote, with three updates.
//! In each: the banner says that state's words and no other banner's; each component shows its
//! status; axe-core, run in the page, finds no serious or critical accessibility issue on the
//! page or its widget; feedparser reads the RSS and Atom feeds cleanly (`bozo == 0`), one entry
//! per incident and maintenance; every Statuspage document parses and agrees with the page.
//!
//! Screenshots, 1200 CSS pixels wide and one 390 wide (a phone's), land in target/e2e/; with
//! UPTIMER_UPDATE_DOCS_IMAGES=1 also in docs/images/, which docs/status-pages.md shows.
//!
//! Needs Chromium and chromedriver, axe-core's `axe.min.js` (UPTIMER_AXE) and a python with
//! feedparser (UPTIMER_FEEDPARSER_PYTHON): scripts/test installs them (under target/tools/,
//! where the test also looks). Without one the test fails, unless
//! UPTIMER_SKIP_BROWSER_TESTS=1 says skipping is fine.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::bin::{Running, serve_any_port};
use support::browser::{Driver, artifacts, chromium_or_skip, tool_or_skip};
use support::net::{get, post_json};
use support::server::{TestServer, http_server};
use support::wait::{PATIENCE, poll};

/// The banners a page can show (docs/status-pages.md): exactly one at a time.
const BANNERS: [&str; 5] = [
    "All Systems Operational",
    "Service Under Maintenance",
    "Minor Service Outage",
    "Partial System Outage",
    "Major System Outage",
];

/// The page's components, in its order.
const COMPONENTS: [&str; 4] = ["API", "Website", "Database", "Search"];

/// How a page is set up, besides every target answering 200.
#[derive(Default)]
struct Setup {
    /// The target of the API component answers 503.
    api_down: bool,
    /// One of the Website tag's two targets answers 503.
    web_b_down: bool,
    /// The Search target's `degraded_if` holds on every check.
    search_degraded: bool,
    /// A one-off maintenance window covers the Database tag from 10 minutes ago for an hour.
    db_maintenance: bool,
}

/// A state of the page and what it shows then.
struct State {
    /// Its screenshot is docs/images/status-<name>.png.
    name: &'static str,
    setup: Setup,
    banner: &'static str,
    /// Statuspage's `status.indicator`.
    indicator: &'static str,
    /// Each of [`COMPONENTS`]' Statuspage status.
    components: [&'static str; 4],
    /// The titles of the incidents listed (all unresolved here).
    incidents: &'static [&'static str],
    /// The names of the maintenance announced.
    maintenance: &'static [&'static str],
}

const OK: &str = "operational";

fn states() -> Vec<State> {
    vec![
        State {
            name: "operational",
            setup: Setup::default(),
            banner: "All Systems Operational",
            indicator: "none",
            components: [OK, OK, OK, OK],
            incidents: &[],
            maintenance: &[],
        },
        State {
            name: "minor",
            setup: Setup {
                search_degraded: true,
                ..Setup::default()
            },
            banner: "Minor Service Outage",
            indicator: "minor",
            components: [OK, OK, OK, "degraded_performance"],
            incidents: &[],
            maintenance: &[],
        },
        State {
            name: "partial",
            setup: Setup {
                web_b_down: true,
                ..Setup::default()
            },
            banner: "Partial System Outage",
            indicator: "major",
            components: [OK, "partial_outage", OK, OK],
            incidents: &["Issues with Website"],
            maintenance: &[],
        },
        State {
            name: "major",
            setup: Setup {
                api_down: true,
                ..Setup::default()
            },
            banner: "Major System Outage",
            indicator: "critical",
            components: ["major_outage", OK, OK, OK],
            incidents: &["Issues with API"],
            maintenance: &[],
        },
        State {
            name: "maintenance",
            setup: Setup {
                db_maintenance: true,
                ..Setup::default()
            },
            banner: "Service Under Maintenance",
            indicator: "maintenance",
            components: [OK, OK, "under_maintenance", OK],
            incidents: &[],
            maintenance: &["Database upgrade"],
        },
    ]
}

/// A Statuspage status as the page labels it.
fn label(status: &str) -> &'static str {
    match status {
        "operational" => "Operational",
        "degraded_performance" => "Degraded performance",
        "partial_outage" => "Partial outage",
        "major_outage" => "Major outage",
        "under_maintenance" => "Under maintenance",
        other => panic!("no status {other}"),
    }
}

/// A time `secs` from now, to the second, as a config file writes it.
fn utc_in(secs: i64) -> String {
    (jiff::Timestamp::now() + jiff::SignedDuration::from_secs(secs))
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// The configuration of a page over five targets of `server`, set up as `setup` says.
fn config(server: &TestServer, setup: &Setup) -> String {
    let url = |id: &str, down: bool| {
        server.url(&if down {
            format!("/status/503?{id}")
        } else {
            format!("/ok?{id}")
        })
    };
    let degraded = if setup.search_degraded {
        ", degraded_if: ['[RESPONSE_TIME] >= 0']"
    } else {
        ""
    };
    let maintenance = if setup.db_maintenance {
        format!(
            "maintenance:\n  - {{name: Database upgrade, start: '{}', end: '{}', tags: [db]}}\n",
            utc_in(-600),
            utc_in(3600)
        )
    } else {
        String::new()
    };
    format!(
        "probe: {{interval: 0.5, timeout: 0.4}}
targets:
  - {{id: api, url: '{api}'}}
  - {{id: web-a, url: '{web_a}', tags: [web]}}
  - {{id: web-b, url: '{web_b}', tags: [web]}}
  - {{id: db, url: '{db}', tags: [db]}}
  - {{id: search, url: '{search}'{degraded}}}
status_pages:
  - slug: main
    title: Example Inc.
    description: Everything our customers use.
    footer: Questions? Write to support@example.com.
    links: [{{title: Support, url: 'https://example.com/support'}}]
    groups:
      - name: Core
        components:
          - {{target: api, name: API}}
          - {{tag: web, name: Website, rule: all}}
      - name: Data
        components:
          - {{tag: db, name: Database}}
          - {{target: search, name: Search}}
{maintenance}",
        api = url("api", setup.api_down),
        web_a = url("web-a", false),
        web_b = url("web-b", setup.web_b_down),
        db = url("db", false),
        search = url("search", false),
    )
}

/// What the test needs besides the binary, or None when a tool is missing and skipping is
/// fine.
struct Tools {
    chromium: PathBuf,
    /// axe-core's `axe.min.js`.
    axe: String,
    /// A python that imports feedparser.
    python: PathBuf,
}

/// `target/tools/<prefix>…/<file>` under the repository, the newest version scripts/test
/// installed (or a path that does not exist).
fn installed(prefix: &str, file: &str) -> PathBuf {
    let tools = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/tools");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&tools)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .map(|e| e.path())
        .collect();
    dirs.sort();
    dirs.pop()
        .unwrap_or(tools.join(format!("{prefix}*")))
        .join(file)
}

fn tools() -> Option<Tools> {
    let chromium = chromium_or_skip()?;
    let axe = tool_or_skip(
        "UPTIMER_AXE",
        &installed("axe-core-", "axe.min.js"),
        "axe-core's axe.min.js, from its npm package",
    )?;
    let python = tool_or_skip(
        "UPTIMER_FEEDPARSER_PYTHON",
        &installed("feedparser-venv", "bin/python"),
        "a python with feedparser (PyPI)",
    )?;
    Some(Tools {
        chromium,
        axe: std::fs::read_to_string(axe).unwrap(),
        python,
    })
}

/// `uptimer serve` keeping the page `main`.
struct Served {
    serve: Running,
    port: u16,
    _dir: tempfile::TempDir,
}

/// An HTTP answer: status, headers (lower-case names), body.
struct Answer {
    status: u16,
    headers: String,
    body: String,
}

impl Served {
    fn start(config: &str) -> Served {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("uptimer.yaml"), config).unwrap();
        let (serve, port) = serve_any_port(dir.path(), "uptimer.yaml");
        Served {
            serve,
            port,
            _dir: dir,
        }
    }

    /// The page's address, `rest` after it.
    fn url(&self, rest: &str) -> String {
        format!("http://127.0.0.1:{}/status/main{rest}", self.port)
    }

    fn get(&self, rest: &str) -> Option<Answer> {
        let raw = get(self.port, &format!("/status/main{rest}"))?;
        let (head, body) = raw.split_once("\r\n\r\n")?;
        Some(Answer {
            status: head.split(' ').nth(1)?.parse().ok()?,
            headers: head.to_ascii_lowercase(),
            body: body.to_owned(),
        })
    }

    /// The Statuspage document `api/v2/<doc>`, checked to be JSON about this page.
    fn json(&self, doc: &str) -> Value {
        let a = self
            .get(&format!("/api/v2/{doc}"))
            .unwrap_or_else(|| panic!("no answer for {doc}"));
        assert_eq!(a.status, 200, "{doc}: {}", a.body);
        assert!(
            a.headers.contains("content-type: application/json"),
            "{doc}: {}",
            a.headers
        );
        let v: Value = serde_json::from_str(&a.body)
            .unwrap_or_else(|e| panic!("{doc} is not JSON: {e}\n{}", a.body));
        assert_eq!(v["page"]["id"], "main", "{doc}: {v}");
        v
    }

    /// Waits until the page shows `state`'s banner and component statuses.
    fn settle(&self, state: &State) {
        let mut last = Value::Null;
        poll(PATIENCE, || {
            last = serde_json::from_str(&self.get("/api/v2/summary.json")?.body).ok()?;
            (last["status"]["indicator"] == state.indicator
                && statuses(&last["components"]) == state.components)
                .then_some(())
        })
        .unwrap_or_else(|| panic!("{}: not shown within {PATIENCE:?}: {last:#}", state.name));
    }
}

/// The statuses of the (non-group) components of a `components` array, in its order.
fn statuses(components: &Value) -> Vec<String> {
    components
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["group"] == false)
        .map(|c| c["status"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// The names of a list of incidents or maintenance.
fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_owned())
        .collect()
}

/// Every Statuspage document of the page parses and agrees with `state`: the incidents'.
fn check_documents(page: &Served, state: &State) -> Value {
    let summary = page.json("summary.json");
    let status = page.json("status.json");
    let components = page.json("components.json");
    let incidents = page.json("incidents.json");
    let unresolved = page.json("incidents/unresolved.json");
    let maintenance = page.json("scheduled-maintenances.json");
    for v in [&summary, &status] {
        assert_eq!(v["status"]["indicator"], state.indicator, "{v}");
        assert_eq!(v["status"]["description"], state.banner, "{v}");
    }
    for v in [&summary, &components] {
        assert_eq!(statuses(&v["components"]), state.components, "{v}");
    }
    // Every incident under way is the state's; a resolved one may precede it (a probe of a
    // loaded machine that timed out while the server started), and is listed too.
    let listed = incidents["incidents"].as_array().unwrap();
    let open: Vec<String> = listed
        .iter()
        .filter(|i| i["status"] != "resolved")
        .map(|i| i["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(open, state.incidents, "{incidents}");
    assert_eq!(
        names(&unresolved["incidents"]),
        state.incidents,
        "{unresolved}"
    );
    assert_eq!(names(&summary["incidents"]), state.incidents, "{summary}");
    let scheduled = &maintenance["scheduled_maintenances"];
    assert_eq!(names(scheduled), state.maintenance, "{maintenance}");
    for m in scheduled.as_array().unwrap() {
        assert_eq!(m["status"], "in_progress", "{m}");
    }
    incidents
}

/// The page in the browser: its banner, and no other, and each component's status.
fn check_page(driver: &Driver, page: &Served, state: &State) {
    driver.open(&page.url(""));
    let html = driver.html();
    for b in BANNERS {
        let n = html.matches(b).count();
        let want = usize::from(b == state.banner);
        assert_eq!(n, want, "{}: {b:?} {n} times:\n{html}", state.name);
    }
    let seen = driver.eval(
        r#"const text = (el, sel) => { const e = el.querySelector(sel); return e && e.textContent.trim(); };
           return {
             banner: text(document, ".status-banner h2"),
             indicator: document.querySelector(".status-banner").className,
             box: (() => {
               const b = getComputedStyle(document.querySelector(".status-banner"));
               const h = getComputedStyle(document.querySelector(".status-banner h2"));
               return [b.marginTop, b.borderTopWidth, b.paddingTop, h.fontSize];
             })(),
             components: [...document.querySelectorAll(".status-group li")]
               .map(li => [text(li, ".status-name"), text(li, ".status-state")]),
             incidents: [...document.querySelectorAll(".status-incidents article h3")]
               .map(h => h.textContent.trim()),
             maintenance: [...document.querySelectorAll(".status-maintenance article h3")]
               .map(h => h.textContent.trim()),
           };"#,
    );
    assert_eq!(seen["banner"], state.banner, "{seen}");
    assert!(
        seen["indicator"]
            .as_str()
            .is_some_and(|c| c.contains(&format!("status-{}", state.indicator))),
        "{seen}"
    );
    // Laid out alike in every state (a page under maintenance once took its panel's box).
    assert_eq!(
        seen["box"],
        serde_json::json!(["16px", "0px", "14px", "20px"]),
        "{}: the banner's margin, border, padding and text size",
        state.name
    );
    let components: Vec<(String, String)> =
        serde_json::from_value(seen["components"].clone()).unwrap();
    let want: Vec<(String, String)> = COMPONENTS
        .iter()
        .zip(state.components)
        .map(|(n, s)| ((*n).to_owned(), label(s).to_owned()))
        .collect();
    assert_eq!(components, want, "{}", state.name);
    assert_eq!(
        seen["incidents"],
        serde_json::json!(state.incidents),
        "{seen}"
    );
    let maintenance: Vec<String> = state
        .maintenance
        .iter()
        .map(|m| format!("{m} In progress"))
        .collect();
    assert_eq!(
        seen["maintenance"],
        serde_json::json!(maintenance),
        "{seen}"
    );
}

/// Runs axe-core in the page: every violation it finds.
const AXE_RUN: &str = r#"const done = arguments[arguments.length - 1];
axe.run(document, { resultTypes: ["violations"] }).then(
  r => done(r.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help, url: v.helpUrl,
    nodes: v.nodes.map(n => ({ target: n.target, html: n.html, why: n.failureSummary })),
  }))),
  e => done({ error: String(e) }));"#;

/// axe-core, injected into `url` through WebDriver (not a `<script>`: the page's CSP allows
/// none), finds no serious or critical issue; every issue it finds is printed.
fn check_accessibility(driver: &Driver, axe: &str, url: &str) {
    driver.open(url);
    let version = driver.eval(&format!(
        "{axe}\n;return window.axe ? window.axe.version : null;"
    ));
    assert!(
        version.is_string(),
        "axe-core did not load in {url}: {version}"
    );
    let found = driver.eval_async(AXE_RUN, Duration::from_secs(60));
    let found = found.as_array().expect("a list of violations");
    for v in found {
        eprintln!(
            "axe {version} on {url}: {} {}: {} ({} elements)",
            v["impact"],
            v["id"],
            v["help"],
            v["nodes"].as_array().map_or(0, Vec::len)
        );
    }
    let serious = found
        .iter()
        .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
        .count();
    assert_eq!(
        serious,
        0,
        "axe-core found serious or critical issues on {url}:\n{}",
        serde_json::to_string_pretty(found).unwrap()
    );
}

/// What feedparser made of a feed.
const FEEDPARSER: &str = r#"
import json, sys, feedparser
out = []
for url in sys.argv[1:]:
    d = feedparser.parse(url)
    out.append({
        "url": url, "status": d.get("status"), "bozo": int(d.bozo),
        "error": repr(d.get("bozo_exception")), "version": d.version,
        "title": d.feed.get("title"),
        "entries": [{
            "title": e.get("title"), "id": e.get("id"), "link": e.get("link"),
            "text": " ".join(c.value for c in e.get("content", [])) or e.get("summary", ""),
        } for e in d.entries],
    })
print(json.dumps(out))
"#;

/// Both feeds, read by feedparser over HTTP: well-formed (`bozo == 0`), of their kind, with
/// one entry per incident and maintenance the JSON lists, by title. Each feed's entries.
fn check_feeds(python: &Path, page: &Served, incidents: &Value, state: &State) -> Vec<Value> {
    let out = Command::new(python)
        .args(["-c", FEEDPARSER])
        .arg(page.url("/feed.rss"))
        .arg(page.url("/feed.atom"))
        .output()
        .expect("the feedparser python runs");
    assert!(
        out.status.success(),
        "feedparser: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let feeds: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let mut want: Vec<String> = names(&incidents["incidents"]);
    want.extend(
        state
            .maintenance
            .iter()
            .map(|m| format!("Maintenance: {m}")),
    );
    want.sort();
    let mut entries = Vec::new();
    for (feed, version) in feeds.iter().zip(["rss20", "atom10"]) {
        assert_eq!(
            (&feed["status"], &feed["bozo"], &feed["version"]),
            (
                &serde_json::json!(200),
                &serde_json::json!(0),
                &serde_json::json!(version)
            ),
            "{}: {feed:#}",
            state.name
        );
        assert_eq!(feed["title"], "Example Inc. status", "{feed}");
        let mut titles: Vec<String> = feed["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["title"].as_str().unwrap_or_default().to_owned())
            .collect();
        titles.sort();
        assert_eq!(titles, want, "{}: {feed:#}", state.name);
        entries.push(feed["entries"].clone());
    }
    entries
}

/// Saves what `driver` shows as `status-<name>.png` in target/e2e/, and in docs/images/ when
/// UPTIMER_UPDATE_DOCS_IMAGES=1.
fn screenshot(driver: &Driver, name: &str) {
    let file = artifacts().join(format!("status-{name}.png"));
    driver.eval("window.scrollTo(0, 0); return null;");
    driver.screenshot(&file);
    eprintln!("screenshot: {}", file.display());
    if std::env::var("UPTIMER_UPDATE_DOCS_IMAGES").is_ok_and(|v| v == "1") {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/images");
        std::fs::create_dir_all(&docs).unwrap();
        std::fs::copy(&file, docs.join(format!("status-{name}.png"))).unwrap();
    }
}

/// Everything a state is checked for; the incidents document and the feeds' entries for a
/// closer look.
fn check_state(
    driver: &Driver,
    tools: &Tools,
    page: &Served,
    state: &State,
) -> (Value, Vec<Value>) {
    let started = Instant::now();
    page.settle(state);
    let settled = started.elapsed();
    let incidents = check_documents(page, state);
    check_page(driver, page, state);
    screenshot(driver, state.name);
    check_accessibility(driver, &tools.axe, &page.url(""));
    check_accessibility(driver, &tools.axe, &page.url("/widget"));
    let entries = check_feeds(&tools.python, page, &incidents, state);
    eprintln!(
        "{}: shown after {settled:?}, checked after {:?}",
        state.name,
        started.elapsed()
    );
    (incidents, entries)
}

/// The page's policy allows no script at all, and the browser holds the page to it: a
/// `<script>` added to it does not run. (So axe-core runs through WebDriver only.)
fn check_scripts_are_refused(driver: &Driver, page: &Served) {
    let a = page.get("").expect("the page answers");
    let csp = a
        .headers
        .lines()
        .find_map(|l| l.strip_prefix("content-security-policy: "))
        .unwrap_or_else(|| panic!("no CSP: {}", a.headers));
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("script-src"),
        "{csp}"
    );
    driver.open(&page.url(""));
    let ran = driver.eval(
        r#"const s = document.createElement("script");
           s.textContent = "window.__inline_ran = true;";
           document.head.append(s);
           return window.__inline_ran === true;"#,
    );
    assert_eq!(ran, false, "an inline script ran despite the page's CSP");
}

/// All operational, minor, partial, major and maintenance: each its own `serve`, started
/// together; the major outage also at a phone's width.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn status_page_in_each_state_shows_its_banner_passes_axe_and_its_feeds_parse() {
    let Some(tools) = tools() else {
        return;
    };
    let started = Instant::now();
    let server = http_server().await;
    let states = states();
    let pages: Vec<Served> = states
        .iter()
        .map(|s| Served::start(&config(&server, &s.setup)))
        .collect();
    let driver = Driver::start_scaled(&tools.chromium, 1200, 900, 1.0);
    check_scripts_are_refused(&driver, &pages[0]);
    for (state, page) in states.iter().zip(&pages) {
        check_state(&driver, &tools, page, state);
    }
    // The dark palette, for a reader whose system prefers it, passes too.
    driver.prefer_dark(true);
    for page in &pages {
        check_accessibility(&driver, &tools.axe, &page.url(""));
        let dark = driver.eval(r#"return matchMedia("(prefers-color-scheme: dark)").matches;"#);
        assert_eq!(dark, true, "the page was checked in the dark palette");
    }
    drop(driver);

    // A phone held upright: nothing wider than the screen.
    let major = states.iter().position(|s| s.name == "major").unwrap();
    let phone = Driver::start_scaled(&tools.chromium, 390, 844, 1.0);
    phone.open(&pages[major].url(""));
    let widths = phone.eval("return [document.documentElement.scrollWidth, window.innerWidth];");
    assert!(
        widths[0].as_f64() <= widths[1].as_f64(),
        "wider than a phone: {widths}"
    );
    screenshot(&phone, "major-phone");
    drop(phone);

    for page in pages {
        let out = page.serve.terminate();
        assert!(out.status.success(), "serve exited with {}", out.status);
    }
    eprintln!("all states checked in {:?}", started.elapsed());
}

/// The incident people write: a title, an impact, the component it affects and three updates
/// (investigating, identified, monitoring), through the JSON API.
const INCIDENT: &str = "Elevated error rates on the API";
const UPDATES: [(&str, &str, &str); 3] = [
    (
        "investigating",
        "Investigating",
        "We are investigating elevated error rates on the API.",
    ),
    (
        "identified",
        "Identified",
        "A faulty deploy was identified; we are rolling it back.",
    ),
    (
        "monitoring",
        "Monitoring",
        "The rollback is done. We are **monitoring** the error rates.",
    ),
];

/// The text of an HTML fragment: its markup taken out.
fn text_of(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

/// Posts `body` to the dashboard's API: the answer's JSON, after a 200 or 201.
fn post(page: &Served, path: &str, body: &Value) -> Value {
    let (status, answer) = post_json(page.port, path, &body.to_string())
        .unwrap_or_else(|| panic!("no answer from POST {path}"));
    assert!(
        status == 200 || status == 201,
        "POST {path} {body}: {status} {answer}"
    );
    serde_json::from_str(&answer).unwrap_or_else(|e| panic!("POST {path}: {e}: {answer}"))
}

/// An incident people posted with three updates, through the status incidents API: the page
/// lists it under active incidents with its updates newest first, its Markdown rendered; the
/// component it names shows the status it gives; the JSON and both feeds carry it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn status_page_shows_an_incident_people_posted_with_three_updates() {
    let Some(tools) = tools() else {
        return;
    };
    let server = http_server().await;
    let page = Served::start(&config(&server, &Setup::default()));
    page.settle(&states()[0]);

    let (first, rest) = UPDATES.split_first().unwrap();
    let opened = post(
        &page,
        "/api/v1/status-incidents",
        &serde_json::json!({
            "page": "main", "title": INCIDENT, "impact": "major",
            "components": [{"component": "API", "status": "partial_outage"}],
            "status": first.0, "body": first.2,
        }),
    );
    let id = match (&opened["id"], &opened["incident"]["id"]) {
        (Value::Number(n), _) | (_, Value::Number(n)) => n.to_string(),
        (Value::String(s), _) | (_, Value::String(s)) => s.clone(),
        _ => panic!("no id in {opened}"),
    };
    for (status, _, body) in rest {
        post(
            &page,
            &format!("/api/v1/status-incidents/{id}/updates"),
            &serde_json::json!({ "status": status, "body": body }),
        );
    }

    let state = State {
        name: "incident",
        setup: Setup::default(),
        banner: "Partial System Outage",
        indicator: "major",
        components: ["partial_outage", OK, OK, OK],
        incidents: &[INCIDENT],
        maintenance: &[],
    };
    let driver = Driver::start_scaled(&tools.chromium, 1200, 900, 1.0);
    let (incidents, feeds) = check_state(&driver, &tools, &page, &state);

    // Its updates, newest first, in the JSON...
    let newest_first: Vec<_> = UPDATES.iter().rev().collect();
    let written = &incidents["incidents"][0];
    assert_eq!(
        (&written["status"], &written["impact"]),
        (
            &serde_json::json!("monitoring"),
            &serde_json::json!("major")
        ),
        "{written}"
    );
    let updates: Vec<(String, String)> = written["incident_updates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["status"].as_str().unwrap().to_owned(),
                u["body"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = newest_first
        .iter()
        .map(|(s, _, b)| ((*s).to_owned(), (*b).to_owned()))
        .collect();
    assert_eq!(updates, want, "{written}");
    // ...on the page, the Markdown rendered...
    driver.open(&page.url(""));
    let shown = driver.eval(
        r#"return [...document.querySelectorAll(".status-incidents .updates li")].map(li => [
             li.querySelector("strong").textContent,
             li.querySelector(".update-body").textContent.trim(),
             li.querySelectorAll(".update-body strong").length]);"#,
    );
    let plain = |b: &str| b.replace("**", "");
    let want: Vec<Value> = newest_first
        .iter()
        .map(|(_, l, b)| serde_json::json!([l, plain(b), usize::from(b.contains("**"))]))
        .collect();
    assert_eq!(shown, Value::Array(want), "the updates on the page");
    // ...and in both feeds' entry.
    for entries in &feeds {
        let text = text_of(entries[0]["text"].as_str().unwrap_or_default());
        for (_, l, b) in UPDATES {
            assert!(
                text.contains(l) && text.contains(&plain(b)),
                "{l} / {b} not in {entries:#}"
            );
        }
    }
    drop(driver);
    let out = page.serve.terminate();
    assert!(out.status.success(), "serve exited with {}", out.status);
}
