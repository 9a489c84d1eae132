//! End to end in a real headless Chromium: `uptimer serve` (the real binary) probes two
//! targets served by the test harness; the overview shows both up; one target's server goes
//! away, the overview shows it down and an incident appears; its page shows the incident; a
//! target whose `degraded_if` holds shows degraded, in amber as the browser computes it;
//! screenshots land in target/e2e/ as artifacts.
//!
//! Needs Chromium (`chromium` from Debian, or UPTIMER_CHROMIUM=/path). scripts/test installs
//! it. Without it the test fails, unless UPTIMER_SKIP_BROWSER_TESTS=1 says skipping is fine.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use support::browser::{Browser, Driver, artifacts, chromium_or_skip};
use support::*;

/// The probe interval of both targets, seconds.
const INTERVAL_S: u64 = 2;

/// The `<tr>` of the overview row whose target is named `name`.
fn row<'a>(dom: &'a str, name: &str) -> &'a str {
    let at = dom
        .find(&format!(">{name}</a>"))
        .unwrap_or_else(|| panic!("no row for {name}:\n{dom}"));
    let start = dom[..at].rfind("<tr").unwrap();
    let end = at + dom[at..].find("</tr>").unwrap();
    &dom[start..end]
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

/// `uptimer serve` with `targets` (the YAML list under `targets:`) probed every
/// [`INTERVAL_S`], on a port of its choice: the process and its base URL once it is healthy.
fn serve(dir: &Path, targets: &str) -> (Running, u16, String) {
    std::fs::write(
        dir.join("uptimer.yaml"),
        format!("probe:\n  interval: {INTERVAL_S}\n  timeout: 1\ntargets:\n{targets}"),
    )
    .unwrap();
    let (serve, port) = serve_any_port(dir, "uptimer.yaml");
    (serve, port, format!("http://127.0.0.1:{port}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dashboard_shows_a_target_going_down_and_its_incident() {
    let Some(bin) = chromium_or_skip() else {
        return;
    };
    let alpha = http_server().await;
    let beta = http_server().await;
    let dir = tempfile::tempdir().unwrap();
    let (serve, port, base) = serve(
        dir.path(),
        &format!(
            "  - name: Alpha service\n    url: {}\n    tags: [prod]\n  - name: Beta service\n    url: {}\n    tags: [prod, api]\n",
            alpha.url("/ok"),
            beta.url("/ok")
        ),
    );

    let browser = Browser::new(bin);
    let artifacts = artifacts();

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
    // The store knows after the next probe...
    wait_for("beta down in the store", PATIENCE, || {
        get_body(port, "/api/v1/targets?status=down").filter(|b| b.contains("Beta service"))
    });
    eprintln!("beta down in the store after {:?}", gone.elapsed());
    // ...and the page shows it.
    let dom = browser.wait_for(
        &format!("{base}/"),
        Duration::from_secs(20),
        "beta down",
        |d| row(d, "Beta service").contains("pill down"),
    );
    eprintln!("beta down on the page after {:?}", gone.elapsed());
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
    let out = serve.terminate();
    assert!(out.status.success(), "serve exited with {}", out.status);
    drop(alpha);
}

/// The channels of a CSS colour as the browser computes it (`rgb(r, g, b)`).
fn rgb(css: &serde_json::Value) -> [u8; 3] {
    let s = css.as_str().unwrap_or_else(|| panic!("no colour: {css}"));
    let inner = s
        .strip_prefix("rgb(")
        .and_then(|s| s.strip_suffix(')'))
        .unwrap_or_else(|| panic!("not rgb(): {s}"));
    let v: Vec<u8> = inner
        .split(',')
        .map(|c| c.trim().parse().unwrap())
        .collect();
    [v[0], v[1], v[2]]
}

/// The hue of a colour, degrees.
fn hue([r, g, b]: [u8; 3]) -> f64 {
    let (r, g, b) = (f64::from(r), f64::from(g), f64::from(b));
    let (max, min) = (r.max(g).max(b), r.min(g).min(b));
    if max == min {
        return 0.0;
    }
    let h = if max == r {
        (g - b) / (max - min)
    } else if max == g {
        2.0 + (b - r) / (max - min)
    } else {
        4.0 + (r - g) / (max - min)
    };
    (h * 60.0).rem_euclid(360.0)
}

/// WCAG contrast ratio of two colours.
fn contrast(a: [u8; 3], b: [u8; 3]) -> f64 {
    let lum = |c: [u8; 3]| {
        let ch = |v: u8| {
            let v = f64::from(v) / 255.0;
            if v <= 0.03928 {
                v / 12.92
            } else {
                ((v + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * ch(c[0]) + 0.7152 * ch(c[1]) + 0.0722 * ch(c[2])
    };
    let (x, y) = (lum(a), lum(b));
    (x.max(y) + 0.05) / (x.min(y) + 0.05)
}

/// A target whose `degraded_if` holds on every check is degraded, in amber, on the overview
/// of a real browser: its pill, its row's mark and the degraded card, as the layout engine
/// computes their colours; the other target stays up and green.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dashboard_shows_a_degraded_target_in_amber() {
    let Some(bin) = chromium_or_skip() else {
        return;
    };
    let quick = http_server().await;
    let slow = http_server().await;
    let dir = tempfile::tempdir().unwrap();
    let (serve, port, base) = serve(
        dir.path(),
        &format!(
            "  - name: Quick service\n    url: {}\n  - name: Slow service\n    url: {}\n    degraded_if: ['[RESPONSE_TIME] >= 0']\n",
            quick.url("/ok"),
            slow.url("/ok")
        ),
    );
    wait_for("slow degraded in the store", PATIENCE, || {
        get_body(port, "/api/v1/targets?status=degraded").filter(|b| b.contains("Slow service"))
    });
    let browser = Browser::new(bin);
    let dom = browser.wait_for(
        &format!("{base}/"),
        Duration::from_secs(20),
        "slow degraded, quick up",
        |d| {
            d.contains(">Slow service</a>")
                && d.contains(">Quick service</a>")
                && row(d, "Slow service").contains("pill degraded")
                && row(d, "Quick service").contains("pill up")
                && d.contains(r#"<span class="num">1</span><span class="lbl">Degraded</span>"#)
        },
    );
    assert!(
        row(&dom, "Slow service").contains(">degraded</span>"),
        "{dom}"
    );
    let shot = artifacts().join("overview-degraded.png");
    browser.screenshot(&format!("{base}/"), &shot, 500);
    eprintln!("screenshot: {}", shot.display());

    // What the layout engine paints, not only the class names.
    let driver = Driver::start(&browser.bin, 1280, 700);
    driver.open(&format!("{base}/"));
    let seen = driver.eval(
        r#"const css = (el, p) => el ? getComputedStyle(el)[p] : null;
           const row = name => [...document.querySelectorAll("table.targets tbody tr")]
             .find(tr => tr.textContent.includes(name));
           const slow = row("Slow service"), quick = row("Quick service");
           const pill = slow && slow.querySelector(".pill");
           const card = document.querySelector(".card.degraded");
           return {
             pill: [css(pill, "color"), css(pill, "backgroundColor")],
             mark: css(slow && slow.querySelector("td"), "boxShadow"),
             card: css(card, "borderTopColor"),
             quick: css(quick && quick.querySelector(".pill"), "color"),
             dark: matchMedia("(prefers-color-scheme: dark)").matches,
           };"#,
    );
    assert_eq!(seen["dark"], false, "the light palette: {seen}");
    let (fg, bg) = (rgb(&seen["pill"][0]), rgb(&seen["pill"][1]));
    let card = rgb(&seen["card"]);
    assert_eq!(
        (fg, bg, card),
        ([133, 77, 14], [253, 230, 138], [245, 158, 11]),
        "{seen}"
    );
    for c in [fg, bg, card] {
        let h = hue(c);
        assert!(
            (30.0..=50.0).contains(&h),
            "amber is a hue of 30-50°, got {h} for {c:?}"
        );
    }
    let ratio = contrast(fg, bg);
    assert!(ratio >= 4.5, "the pill's text passes WCAG AA: {ratio:.2}");
    assert!(
        seen["mark"]
            .as_str()
            .is_some_and(|m| m.contains("rgb(245, 158, 11)")),
        "the row's mark is amber: {seen}"
    );
    let quick_fg = rgb(&seen["quick"]);
    assert!(
        (100.0..=150.0).contains(&hue(quick_fg)),
        "up stays green: {seen}"
    );
    drop(driver);

    let out = serve.terminate();
    assert!(out.status.success(), "serve exited with {}", out.status);
}

/// Every byte but letters and digits as %XX, for a body in a `/json/TEXT` path.
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// `uptimer serve` probes real HTTP endpoints with conditions; each target's page shows its
/// last check's conditions, one line each, in order, ✓ or ✗ with the resolved values, a
/// hostile body's value as text; a target without conditions shows none.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn target_page_shows_the_last_checks_conditions() {
    let Some(bin) = chromium_or_skip() else {
        return;
    };
    let server = http_server().await;
    let json = |body: &str| server.url(&format!("/json/{}", percent_encode(body)));
    let dir = tempfile::tempdir().unwrap();
    let (serve, port, base) = serve(
        dir.path(),
        &format!(
            r#"  - name: Orders API
    url: "{orders}"
    conditions:
      - "[STATUS] == 200"
      - "[BODY].status == UP"
      - "len([BODY].items) == 3"
      - "[RESPONSE_TIME] < 5000"
  - name: Payments API
    url: "{payments}"
    conditions:
      - "[STATUS] == 200"
      - "[RESPONSE_TIME] < 5000"
      - "[BODY] == ok"
  - name: Hostile API
    url: "{hostile}"
    conditions:
      - "[BODY].status == UP"
  - name: Plain site
    url: "{plain}"
"#,
            orders = json(r#"{"status":"UP","items":[1,2,3]}"#),
            payments = server.url("/status/502"),
            hostile = json(r#"{"status":"<img src=x onerror=alert(1)>"}"#),
            plain = server.url("/ok"),
        ),
    );
    // Every target checked, and its id.
    let ids = wait_for("four targets checked", PATIENCE, || {
        let v: serde_json::Value =
            serde_json::from_str(&get_body(port, "/api/v1/targets?sort=name")?).ok()?;
        let targets = v["targets"].as_array()?;
        (targets.len() == 4 && targets.iter().all(|t| t["last_check"].is_string())).then(|| {
            targets
                .iter()
                .map(|t| {
                    let name = t["name"].as_str().unwrap().to_owned();
                    (name, t["id"].as_str().unwrap().to_owned())
                })
                .collect::<std::collections::HashMap<_, _>>()
        })
    });

    let driver = Driver::start(&bin, 1280, 900);
    // Each line as the page lays it out: its text, and whether it is what the browser
    // shows at its centre once scrolled into view.
    let lines = |name: &str| -> Vec<(String, bool)> {
        driver.open(&format!("{base}/targets/{}", ids[name]));
        let seen = driver.eval(
            r#"return [...document.querySelectorAll("ul.conds li")].map(li => {
                 li.scrollIntoView({block: "center"});
                 const b = li.getBoundingClientRect();
                 const at = document.elementFromPoint(b.left + 8, b.top + b.height / 2);
                 return [li.textContent, b.width > 0 && b.height > 0 && li.contains(at)];
               });"#,
        );
        seen.as_array()
            .unwrap()
            .iter()
            .map(|l| (l[0].as_str().unwrap().to_owned(), l[1].as_bool().unwrap()))
            .collect()
    };
    let visible = |l: &[(String, bool)]| -> Vec<String> {
        assert!(l.iter().all(|(_, v)| *v), "not all visible: {l:?}");
        l.iter().map(|(t, _)| t.clone()).collect()
    };
    assert_eq!(
        visible(&lines("Orders API")),
        [
            "✓ [STATUS] == 200",
            "✓ [BODY].status == UP",
            "✓ len([BODY].items) == 3",
            "✓ [RESPONSE_TIME] < 5000",
        ]
    );
    assert_eq!(
        visible(&lines("Payments API")),
        [
            "✗ [STATUS] (502) == 200",
            "✓ [RESPONSE_TIME] < 5000",
            "✗ [BODY] (status 502) == ok",
        ]
    );
    assert_eq!(
        visible(&lines("Hostile API")),
        ["✗ [BODY].status (<img src=x onerror=alert(1)>) == UP"]
    );
    assert_eq!(
        driver.eval(r#"return document.querySelectorAll("ul.conds img").length;"#),
        0,
        "the body's markup is text, not an element"
    );
    assert!(lines("Plain site").is_empty());
    drop(driver);

    let browser = Browser::new(bin);
    let shot = artifacts().join("target-conditions.png");
    browser.screenshot(
        &format!("{base}/targets/{}?window=1h", ids["Payments API"]),
        &shot,
        900,
    );
    eprintln!("screenshot: {}", shot.display());

    let out = serve.terminate();
    assert!(out.status.success(), "serve exited with {}", out.status);
}

/// The rows of a target page's "Last checks" table.
fn checks_on(dom: &str) -> usize {
    dom.find(r#"<table class="events">"#).map_or(0, |at| {
        dom[at..dom[at..].find("</table>").map_or(dom.len(), |e| at + e)]
            .matches("<tr>")
            .count()
            .saturating_sub(1)
    })
}

/// A user adds a target with the dashboard's form in a real browser, without our script's
/// help: a bad URL first (the error shows next to the field, what was typed is kept), then a
/// good one; the new target is probed (its check shows on its page), paused (shown paused,
/// and no longer probed), and deleted after the confirmation page (no longer probed, its page
/// offers nothing to change).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_target_is_added_probed_paused_and_deleted_with_the_dashboards_forms() {
    let Some(bin) = chromium_or_skip() else {
        return;
    };
    let site = http_server().await;
    let dir = tempfile::tempdir().unwrap();
    let (serve, _port, base) = serve(
        dir.path(),
        &format!("  - name: Config site\n    url: {}\n", site.url("/ok")),
    );
    let artifacts = artifacts();
    let driver = Driver::start(&bin, 1200, 1400);
    driver.open(&format!("{base}/"));
    driver.click("a.add");
    assert_eq!(driver.location(), "/targets/new");

    // A URL that is not one: the form comes back with the error next to the URL field.
    driver.type_into("#f-name", "Form site");
    driver.type_into("#f-url", "htp:/nope");
    driver.type_into("#f-tags", "forms, e2e");
    driver.click("button[type=submit]");
    let error = driver.eval(
        r##"const e = document.querySelector("#e-url");
           const url = document.querySelector("#f-url");
           return { error: e && e.textContent, next: e && e.previousElementSibling === url,
                    name: document.querySelector("#f-name").value, url: url.value,
                    invalid: url.getAttribute("aria-invalid") };"##,
    );
    assert!(
        error["error"]
            .as_str()
            .is_some_and(|e| e.contains("htp:/nope")),
        "{error}"
    );
    assert_eq!(
        error["next"], true,
        "the error is next to its field: {error}"
    );
    assert_eq!(
        (&error["name"], &error["url"], &error["invalid"]),
        (
            &serde_json::json!("Form site"),
            &serde_json::json!("htp:/nope"),
            &serde_json::json!("true")
        )
    );
    driver.screenshot(&artifacts.join("form-error.png"));

    // A good URL: the browser lands on the new target's page.
    driver.type_into("#f-url", &site.url("/ok"));
    driver.type_into("#f-interval", "2");
    driver.click("button[type=submit]");
    let page = driver.location();
    assert!(
        page.starts_with("/targets/") && page != "/targets/new",
        "{page}"
    );
    let url = format!("{base}{page}");
    let dom = driver.wait_until(&url, "the new target probed and up", |d| {
        checks_on(d) > 0 && d.contains(r#"<span class="pill up">up</span>"#)
    });
    assert!(dom.contains("Form site") && dom.contains("Added through the dashboard"));
    driver.screenshot(&artifacts.join("form-added.png"));

    // Pause: shown paused, and probed no more.
    driver.click(".manage button[type=submit]");
    let dom = driver.html();
    assert!(
        dom.contains(r#"<span class="pill paused">paused</span>"#),
        "{dom}"
    );
    assert!(dom.contains(">Resume</button>"));
    // A probe in flight when it was paused may still land.
    std::thread::sleep(Duration::from_secs(3));
    driver.open(&url);
    let paused_at = checks_on(&driver.html());
    std::thread::sleep(Duration::from_secs(5));
    driver.open(&url);
    assert_eq!(
        checks_on(&driver.html()),
        paused_at,
        "a paused target is not probed"
    );
    driver.screenshot(&artifacts.join("form-paused.png"));
    driver.open(&format!("{base}/"));
    let overview = driver.html();
    assert!(
        row(&overview, "Form site").contains("pill paused"),
        "{overview}"
    );

    // Delete, after the confirmation page.
    driver.open(&url);
    driver.click(".manage a.danger");
    assert_eq!(driver.location(), format!("{page}/delete"));
    driver.screenshot(&artifacts.join("form-delete.png"));
    driver.click("button[type=submit]");
    assert_eq!(driver.location(), "/");
    driver.open(&url);
    let dom = driver.html();
    assert!(
        !dom.contains(r#"class="manage""#),
        "a deleted target offers no forms: {dom}"
    );
    let config = row(
        &driver.wait_until(&format!("{base}/"), "the configured target", |d| {
            d.contains(">Config site</a>")
        }),
        "Config site",
    )
    .to_owned();
    assert!(!config.contains("pill paused"), "{config}");
    drop(driver);

    let out = serve.terminate();
    assert!(out.status.success(), "serve exited with {}", out.status);
}
