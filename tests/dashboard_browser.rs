//! End to end in a real headless Chromium: `uptimer serve` (the real binary) probes two
//! targets served by the test harness; the overview shows both up; one target's server goes
//! away, the overview shows it down within an interval and an incident appears; its page
//! shows the incident; screenshots land in target/e2e/ as artifacts.
//!
//! Needs Chromium (`chromium` from Debian, or UPTIMER_CHROMIUM=/path). scripts/test installs
//! it. Without it the test fails, unless UPTIMER_SKIP_BROWSER_TESTS=1 says skipping is fine.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::*;

/// The probe interval of both targets, seconds.
const INTERVAL_S: u64 = 2;

fn chromium() -> Option<PathBuf> {
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

struct Browser {
    bin: PathBuf,
    profile: tempfile::TempDir,
}

impl Browser {
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
    fn dom(&self, url: &str) -> String {
        let out = self
            .command()
            .args(["--virtual-time-budget=1000", "--dump-dom", url])
            .output()
            .expect("chromium runs");
        assert!(out.status.success(), "chromium --dump-dom {url} failed");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screenshot(&self, url: &str, file: &Path, height: u32) {
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
    fn wait_for(
        &self,
        url: &str,
        within: Duration,
        what: &str,
        ok: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + within;
        loop {
            let dom = self.dom(url);
            if ok(&dom) {
                return dom;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: not seen within {within:?}:\n{dom}"
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

/// The `<tr>` of the overview row whose target is named `name`.
fn row<'a>(dom: &'a str, name: &str) -> &'a str {
    let at = dom
        .find(&format!(">{name}</a>"))
        .unwrap_or_else(|| panic!("no row for {name}:\n{dom}"));
    let start = dom[..at].rfind("<tr").unwrap();
    let end = at + dom[at..].find("</tr>").unwrap();
    &dom[start..end]
}

fn http_get(addr: &str, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())
}

/// Just enough of the WebDriver protocol (through Debian's chromedriver) to ask a real layout
/// engine where things are: `--dump-dom` shows markup, not what fits on a screen.
struct Driver {
    process: Child,
    addr: String,
    session: String,
}

fn webdriver(addr: &str, method: &str, path: &str, body: &serde_json::Value) -> serde_json::Value {
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
    /// Starts chromedriver and a browser window `width` × `height` CSS pixels.
    fn start(chromium: &Path, width: u32, height: u32) -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let process = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver runs (apt-get install chromium-driver; scripts/test does)");
        let addr = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(&addr).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen");
            std::thread::sleep(Duration::from_millis(100));
        }
        let caps = serde_json::json!({"capabilities": {"alwaysMatch": {"goog:chromeOptions": {
            "binary": chromium,
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--hide-scrollbars", format!("--window-size={width},{height}")],
            "mobileEmulation": {"deviceMetrics": {"width": width, "height": height, "pixelRatio": 2.0}}
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

    fn open(&self, url: &str) {
        let path = format!("/session/{}/url", self.session);
        webdriver(
            &self.addr,
            "POST",
            &path,
            &serde_json::json!({ "url": url }),
        );
    }

    /// Runs `script` in the page (WebDriver's own channel: the page's CSP does not apply).
    fn eval(&self, script: &str) -> serde_json::Value {
        let path = format!("/session/{}/execute/sync", self.session);
        let answer = webdriver(
            &self.addr,
            "POST",
            &path,
            &serde_json::json!({ "script": script, "args": [] }),
        );
        answer["value"].clone()
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

/// On a phone held upright (320 CSS pixels, the narrowest common width) the overview keeps
/// every row's status, name and response time inside the visible part of the table.
fn assert_overview_fits_a_phone(chromium: &Path, base: &str) {
    let driver = Driver::start(chromium, 320, 640);
    driver.open(&format!("{base}/"));
    let seen = driver.eval(
        r#"const wrap = document.querySelector(".table-wrap").getBoundingClientRect();
           const right = Math.min(wrap.right, window.innerWidth);
           return [...document.querySelectorAll("table.targets tbody tr")].map(tr => {
             const r = sel => { const e = tr.querySelector(sel); if (!e) return null;
               const b = e.getBoundingClientRect(); return [b.left, b.right, b.width]; };
             return { right, status: r(".pill"), name: r(".tname"), response: r("td.resp") };
           });"#,
    );
    let rows = seen.as_array().expect("rows");
    assert!(!rows.is_empty(), "no rows at 320 px: {seen}");
    for row in rows {
        let right = row["right"].as_f64().unwrap();
        for col in ["status", "name", "response"] {
            let b = &row[col];
            let (left, r, w) = (
                b[0].as_f64().unwrap(),
                b[1].as_f64().unwrap(),
                b[2].as_f64().unwrap(),
            );
            assert!(
                w > 0.0 && left >= 0.0 && r <= right + 0.5,
                "{col} not on screen at 320 px: {row}"
            );
        }
    }
}

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dashboard_shows_a_target_going_down_and_its_incident() {
    let Some(bin) = chromium() else {
        if std::env::var("UPTIMER_SKIP_BROWSER_TESTS").is_ok_and(|v| v == "1") {
            eprintln!("SKIPPED: chromium not found and UPTIMER_SKIP_BROWSER_TESTS=1");
            return;
        }
        panic!(
            "chromium not found: install it (apt-get install chromium; scripts/test does), \
             point UPTIMER_CHROMIUM at it, or set UPTIMER_SKIP_BROWSER_TESTS=1 to skip"
        );
    };
    let alpha = http_server().await;
    let beta = http_server().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("uptimer.yaml");
    std::fs::write(
        &config,
        format!(
            "probe:\n  interval: {INTERVAL_S}\n  timeout: 1\ntargets:\n  - name: Alpha service\n    url: {}\n    tags: [prod]\n  - name: Beta service\n    url: {}\n    tags: [prod, api]\n",
            alpha.url("/ok"),
            beta.url("/ok")
        ),
    )
    .unwrap();

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_uptimer"));
    cmd.current_dir(dir.path())
        .args([
            "serve",
            "--config",
            "uptimer.yaml",
            "--listen",
            "127.0.0.1:0",
        ])
        .env("DATA_DIR", dir.path().join("data"))
        .env("LOG_LEVEL", "info")
        .env_remove("WRITER_PLUGIN")
        .env_remove("READER_PLUGIN")
        .env_remove("PROBE_URLS")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = Serve(cmd.spawn().expect("uptimer serve starts"));

    // The address it bound, from its log line; the rest of the log is kept for failures.
    let stderr = child.0.stderr.take().unwrap();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(i) = line.find("http://127.0.0.1:") {
                let port: String = line[i + 17..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                let _ = addr_tx.send(format!("127.0.0.1:{port}"));
            }
            eprintln!("[serve] {line}");
        }
    });
    let addr = addr_rx
        .recv_timeout(Duration::from_secs(20))
        .expect("serve logs its address");
    let base = format!("http://{addr}");
    assert_eq!(http_get(&addr, "/healthz").as_deref(), Some("ok\n"));

    let browser = Browser {
        bin,
        profile: tempfile::tempdir().unwrap(),
    };
    let artifacts = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("e2e");
    std::fs::create_dir_all(&artifacts).unwrap();

    // Both up.
    let dom = browser.wait_for(
        &format!("{base}/"),
        Duration::from_secs(20),
        "both targets up",
        |d| {
            d.contains(">Alpha service</a>")
            && d.contains(">Beta service</a>")
            && row(d, "Alpha service").contains("pill up")
            && row(d, "Beta service").contains("pill up")
            // The counts are refreshed every couple of seconds.
            && d.contains(r#"<span class="num">2</span><span class="lbl">Up</span>"#)
        },
    );
    assert!(dom.contains("Alpha service"));

    // Beta's server goes away: connections are refused from now on.
    drop(beta);
    let gone = Instant::now();
    // The store knows within one interval (plus the probe's 1 s timeout and a little slack)...
    loop {
        let body = http_get(&addr, "/api/v1/targets?status=down").unwrap_or_default();
        if body.contains("Beta service") {
            break;
        }
        assert!(
            gone.elapsed() < Duration::from_secs(INTERVAL_S + 2),
            "beta not down after {:?}: {body}",
            gone.elapsed()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!("beta down in the store after {:?}", gone.elapsed());
    // ...and the page shows it.
    let dom = browser.wait_for(
        &format!("{base}/"),
        Duration::from_secs(20),
        "beta down",
        |d| row(d, "Beta service").contains("pill down"),
    );
    let took = gone.elapsed();
    // Within one interval of the failing probe, plus the time to render it in Chromium.
    assert!(
        took <= Duration::from_secs(INTERVAL_S) + Duration::from_secs(6),
        "down after {took:?}"
    );
    assert!(row(&dom, "Alpha service").contains("pill up"));
    assert!(
        row(&dom, "Beta service").contains("onnect"),
        "the error shows: {}",
        row(&dom, "Beta service")
    );
    browser.screenshot(&format!("{base}/"), &artifacts.join("overview.png"), 700);
    assert_overview_fits_a_phone(&browser.bin, &base);

    // An incident appears on the incidents page.
    let incidents = browser.wait_for(
        &format!("{base}/incidents"),
        Duration::from_secs(10),
        "incident",
        |d| d.contains(">Beta service</a>") && d.contains("ongoing"),
    );
    assert!(!incidents.contains(">Alpha service</a>"));

    // Its page: follow the link from the overview.
    let row_html = row(&dom, "Beta service");
    let href_at = row_html.find("href=\"/targets/").unwrap() + 6;
    let href = &row_html[href_at..href_at + row_html[href_at..].find('"').unwrap()];
    let url = format!("{base}{href}?window=1h");
    let page = browser.wait_for(&url, Duration::from_secs(10), "target page", |d| {
        d.contains("Down since") && d.contains("ongoing")
    });
    assert!(page.contains("<h1>"));
    assert!(page.contains("Beta service"));
    assert!(page.contains(r#"class="chart""#));
    assert!(
        page.contains("connect_refused") || page.contains("connect"),
        "{page}"
    );
    let shot = artifacts.join("target-page.png");
    browser.screenshot(&url, &shot, 1500);
    eprintln!("screenshots: {}", artifacts.display());

    // SIGTERM stops probing and serving; the process exits cleanly.
    let pid = child.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            assert!(status.success(), "serve exited with {status}");
            break;
        }
        assert!(Instant::now() < deadline, "serve did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(alpha);
}
