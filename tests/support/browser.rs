//! A real headless Chromium for the browser tests: [`Browser`] runs it once per page
//! (`--dump-dom`, `--screenshot`), [`Driver`] keeps one window open through chromedriver's
//! WebDriver protocol to ask the layout engine what it shows, type, click and run scripts.
//!
//! Chromium comes from `UPTIMER_CHROMIUM` or `PATH` (scripts/test installs Debian's). Without
//! it, or without a tool a test names ([`tool_or_skip`]), a test fails with what to install,
//! unless UPTIMER_SKIP_BROWSER_TESTS=1 says skipping is fine.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::net::{free_port, listening};
use super::wait::{PATIENCE, poll, wait_for};

/// Chromium: `UPTIMER_CHROMIUM`, else the first of its usual names on `PATH`.
pub fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("UPTIMER_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for name in [
            "chromium",
            "chromium-browser",
            "google-chrome",
            "google-chrome-stable",
        ] {
            let p = dir.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

/// Whether UPTIMER_SKIP_BROWSER_TESTS=1 says a browser test may skip what it lacks.
fn skipping_allowed() -> bool {
    std::env::var("UPTIMER_SKIP_BROWSER_TESTS").is_ok_and(|v| v == "1")
}

/// Chromium, or None when it is missing and UPTIMER_SKIP_BROWSER_TESTS=1 says skipping is fine.
pub fn chromium_or_skip() -> Option<PathBuf> {
    let Some(bin) = chromium() else {
        if skipping_allowed() {
            eprintln!("SKIPPED: chromium not found and UPTIMER_SKIP_BROWSER_TESTS=1");
            return None;
        }
        panic!(
            "chromium not found: install it (apt-get install chromium; scripts/test does), \
             point UPTIMER_CHROMIUM at it, or set UPTIMER_SKIP_BROWSER_TESTS=1 to skip"
        );
    };
    Some(bin)
}

/// A file a browser test needs besides Chromium: the environment variable `var`, else
/// `fallback` (where scripts/test puts it, under the repository) when it exists. None when
/// neither is there and UPTIMER_SKIP_BROWSER_TESTS=1 says skipping is fine; a failure saying
/// `what` it is and how to get it otherwise.
pub fn tool_or_skip(var: &str, fallback: &Path, what: &str) -> Option<PathBuf> {
    let found = match std::env::var_os(var) {
        Some(p) => Some(PathBuf::from(p)),
        None => fallback.is_file().then(|| fallback.to_owned()),
    };
    match found {
        Some(p) if p.is_file() => Some(p),
        Some(p) => panic!("{var}={}: no such file ({what})", p.display()),
        None if skipping_allowed() => {
            eprintln!("SKIPPED: {var} not set ({what}) and UPTIMER_SKIP_BROWSER_TESTS=1");
            None
        }
        None => panic!(
            "{var} not set and {} missing: {what}; scripts/test installs it (or set \
             UPTIMER_SKIP_BROWSER_TESTS=1 to skip)",
            fallback.display()
        ),
    }
}

/// Where screenshots and other artifacts of the browser tests go: target/e2e/.
pub fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("e2e");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Chromium run once per page, with a profile of its own.
pub struct Browser {
    pub bin: PathBuf,
    pub profile: tempfile::TempDir,
}

impl Browser {
    pub fn new(bin: PathBuf) -> Browser {
        Browser {
            bin,
            profile: tempfile::tempdir().unwrap(),
        }
    }

    fn command(&self) -> Command {
        let mut c = Command::new(&self.bin);
        c.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-quic",
            "--no-first-run",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", self.profile.path().display()))
        .stdin(Stdio::null())
        .stderr(Stdio::null());
        c
    }

    /// The DOM after the page loaded and its scripts ran.
    pub fn dom(&self, url: &str) -> String {
        let out = self
            .command()
            .args(["--virtual-time-budget=1000", "--dump-dom", url])
            .output()
            .expect("chromium runs");
        assert!(out.status.success(), "chromium --dump-dom {url} failed");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn screenshot(&self, url: &str, file: &Path, height: u32) {
        let _ = std::fs::remove_file(file);
        let status = self
            .command()
            .arg(format!("--window-size=1280,{height}"))
            .arg(format!("--screenshot={}", file.display()))
            .arg(url)
            .stdout(Stdio::null())
            .status()
            .expect("chromium runs");
        assert!(status.success() && file.is_file(), "no screenshot of {url}");
    }

    /// Polls the page until `ok` holds for its DOM, or panics with the last DOM.
    pub fn wait_for(
        &self,
        url: &str,
        within: Duration,
        what: &str,
        ok: impl Fn(&str) -> bool,
    ) -> String {
        let mut last = String::new();
        poll(within, || {
            last = self.dom(url);
            ok(&last).then(|| last.clone())
        })
        .unwrap_or_else(|| panic!("{what}: not seen within {within:?}:\n{last}"))
    }
}

/// Just enough of the WebDriver protocol (through Debian's chromedriver) to ask a real layout
/// engine where things are: `--dump-dom` shows markup, not what fits on a screen.
pub struct Driver {
    process: Child,
    addr: String,
    session: String,
}

/// One WebDriver call: chromedriver's JSON answer.
pub fn webdriver(
    addr: &str,
    method: &str,
    path: &str,
    body: &serde_json::Value,
) -> serde_json::Value {
    let body = body.to_string();
    let mut s = TcpStream::connect(addr).expect("chromedriver answers");
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    // chromedriver keeps the connection open: read the headers, then Content-Length bytes.
    let mut r = BufReader::new(s);
    let mut len = 0;
    loop {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            len = v.trim().parse().unwrap();
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).unwrap();
    serde_json::from_slice(&body).unwrap_or_else(|e| {
        panic!(
            "chromedriver said {:?}: {e}",
            String::from_utf8_lossy(&body)
        )
    })
}

impl Driver {
    /// Starts chromedriver and a browser window `width` × `height` CSS pixels, two device
    /// pixels each (a phone's screen, or a sharp screenshot).
    pub fn start(chromium: &Path, width: u32, height: u32) -> Driver {
        Driver::start_scaled(chromium, width, height, 2.0)
    }

    /// Like [`Driver::start`], `scale` device pixels to a CSS pixel: a screenshot is
    /// `width * scale` pixels wide.
    pub fn start_scaled(chromium: &Path, width: u32, height: u32, scale: f64) -> Driver {
        let port = free_port();
        let process = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver runs (apt-get install chromium-driver; scripts/test does)");
        let addr = format!("127.0.0.1:{port}");
        wait_for("chromedriver listening", PATIENCE, || {
            listening(port).then_some(())
        });
        let caps = serde_json::json!({"capabilities": {"alwaysMatch": {"goog:chromeOptions": {
            "binary": chromium,
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--hide-scrollbars", format!("--window-size={width},{height}")],
            "mobileEmulation": {"deviceMetrics": {"width": width, "height": height, "pixelRatio": scale}}
        }}}});
        // Owned before the session is asked for, so a failure there still stops chromedriver.
        let mut driver = Driver {
            process,
            addr,
            session: String::new(),
        };
        let answer = webdriver(&driver.addr, "POST", "/session", &caps);
        driver.session = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {answer}"))
            .to_owned();
        driver
    }

    pub fn open(&self, url: &str) {
        let path = format!("/session/{}/url", self.session);
        webdriver(
            &self.addr,
            "POST",
            &path,
            &serde_json::json!({ "url": url }),
        );
    }

    /// Runs `script` in the page (WebDriver's own channel: the page's CSP does not apply).
    pub fn eval(&self, script: &str) -> serde_json::Value {
        let path = format!("/session/{}/execute/sync", self.session);
        let answer = webdriver(
            &self.addr,
            "POST",
            &path,
            &serde_json::json!({ "script": script, "args": [] }),
        );
        answer["value"].clone()
    }

    /// Runs `script` in the page and waits, at most `within`, for it to call its last argument
    /// (WebDriver's callback) with the answer; a failure with the browser's message when the
    /// script throws or runs out of time.
    pub fn eval_async(&self, script: &str, within: Duration) -> serde_json::Value {
        let ms = u64::try_from(within.as_millis()).unwrap_or(u64::MAX);
        webdriver(
            &self.addr,
            "POST",
            &self.session_path("/timeouts"),
            &serde_json::json!({ "script": ms }),
        );
        let answer = webdriver(
            &self.addr,
            "POST",
            &self.session_path("/execute/async"),
            &serde_json::json!({ "script": script, "args": [] }),
        );
        let value = &answer["value"];
        if let Some(error) = value["error"].as_str() {
            panic!("the script failed: {error}: {}", value["message"]);
        }
        value.clone()
    }
}

impl Driver {
    /// Makes pages see `prefers-color-scheme: dark` (or light), as a reader's system says it.
    pub fn prefer_dark(&self, dark: bool) {
        let answer = webdriver(
            &self.addr,
            "POST",
            &self.session_path("/goog/cdp/execute"),
            &serde_json::json!({ "cmd": "Emulation.setEmulatedMedia", "params": {
                "features": [{ "name": "prefers-color-scheme",
                               "value": if dark { "dark" } else { "light" } }]
            }}),
        );
        assert!(answer["value"]["error"].is_null(), "{answer}");
    }
}

/// What WebDriver calls an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Driving a page as a user does: typing into fields and clicking, no script of ours.
impl Driver {
    fn session_path(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    /// The element `css` selects, or a panic with the page.
    pub fn find(&self, css: &str) -> String {
        let answer = webdriver(
            &self.addr,
            "POST",
            &self.session_path("/element"),
            &serde_json::json!({ "using": "css selector", "value": css }),
        );
        answer["value"][ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no {css}: {answer}\n{}", self.html()))
            .to_owned()
    }

    /// Empties the field `css` and types `text` into it, key by key.
    pub fn type_into(&self, css: &str, text: &str) {
        let el = self.find(css);
        let path = self.session_path(&format!("/element/{el}"));
        webdriver(
            &self.addr,
            "POST",
            &format!("{path}/clear"),
            &serde_json::json!({}),
        );
        webdriver(
            &self.addr,
            "POST",
            &format!("{path}/value"),
            &serde_json::json!({ "text": text }),
        );
    }

    /// Clicks `css`, a link or a submit button, and waits until the browser has loaded the
    /// page it leads to (a mark left on the old document is gone).
    pub fn click(&self, css: &str) {
        let el = self.find(css);
        self.eval("window.__before_click = true; return null;");
        let path = self.session_path(&format!("/element/{el}/click"));
        webdriver(&self.addr, "POST", &path, &serde_json::json!({}));
        wait_for("the next page", PATIENCE, || {
            let state = self.eval("return window.__before_click ? null : document.readyState;");
            (state == "complete").then_some(())
        });
    }

    pub fn html(&self) -> String {
        self.eval("return document.documentElement.outerHTML;")
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub fn location(&self) -> String {
        self.eval("return location.pathname;")
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Saves what the window shows as a PNG.
    pub fn screenshot(&self, file: &Path) {
        use base64::Engine as _;
        let answer = webdriver(
            &self.addr,
            "GET",
            &self.session_path("/screenshot"),
            &serde_json::json!({}),
        );
        let png = base64::engine::general_purpose::STANDARD
            .decode(answer["value"].as_str().expect("a screenshot"))
            .expect("base64");
        std::fs::write(file, png).unwrap();
    }

    /// Reloads `url` until `ok` holds for its DOM, or panics with the last one.
    pub fn wait_until(&self, url: &str, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let mut last = String::new();
        poll(PATIENCE, || {
            self.open(url);
            last = self.html();
            ok(&last).then(|| last.clone())
        })
        .unwrap_or_else(|| panic!("{what}: not seen within {PATIENCE:?}:\n{last}"))
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let path = format!("/session/{}", self.session);
            let _ = std::panic::catch_unwind(|| {
                webdriver(&self.addr, "DELETE", &path, &serde_json::json!({}))
            });
        }
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}
