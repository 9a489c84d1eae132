//! The HTML pages: overview, target and incidents, hostile strings escaped.

use super::*;

#[tokio::test]
async fn overview_lists_every_target_with_hostile_names_escaped() {
    let f = fixture().await;
    let (status, headers, body) = get(&f.state, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(
        headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("script-src 'self'")
    );
    assert!(body.contains("Good site"));
    assert!(body.contains("&#60;script&#62;alert("), "{body}");
    assert_no_raw_markup(&body);
    assert!(body.contains(r#"<span class="pill down">down</span>"#));
    assert!(body.contains(r#"<span class="num">3</span><span class="lbl">Targets</span>"#));
}

#[tokio::test]
async fn overview_filters_by_status_and_search_and_rejects_bad_values() {
    let f = fixture().await;
    let (_, _, body) = get(&f.state, "/?status=up").await;
    assert!(body.contains("Good site"));
    assert!(!body.contains("xxxxxxxx"));
    let (_, _, body) = get(&f.state, "/?q=good").await;
    assert!(body.contains("1–1 of 1"), "{body}");
    let (status, _, body) = get(&f.state, "/?status=sideways").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body.contains("status: expected up, down, degraded, flapping, unknown or paused"),
        "{body}"
    );
    let (_, _, body) = get(&f.state, &format!("/?q={}", "%3Cscript%3E")).await;
    assert_no_raw_markup(&body);
}

#[tokio::test]
async fn target_page_shows_chart_incident_and_events_escaped() {
    let f = fixture().await;
    let (status, _, body) = get(&f.state, "/targets/evil?window=1h").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains(r#"<svg class="chart""#));
    assert!(body.contains("ph-ttfb"));
    assert!(body.contains("ongoing"));
    assert!(body.contains("http_status"));
    assert!(body.contains("body said &#60;script&#62;"), "{body}");
    assert_no_raw_markup(&body);
    for window in ["6h", "24h", "7d", "30d"] {
        let (status, _, _) = get(&f.state, &format!("/targets/evil?window={window}")).await;
        assert_eq!(status, StatusCode::OK, "{window}");
    }
    let (status, _, _) = get(&f.state, "/targets/evil?window=2y").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // A page's error is a page of the dashboard, with the API's status and words.
    for (uri, want, words) in [
        (
            "/targets/nope",
            StatusCode::NOT_FOUND,
            "no target with id &#34;nope&#34;",
        ),
        ("/targets/evil?window=2y", StatusCode::BAD_REQUEST, "window"),
        (
            "/?status=bogus",
            StatusCode::BAD_REQUEST,
            "status: expected up",
        ),
        ("/incidents?page=x", StatusCode::BAD_REQUEST, ""),
    ] {
        let (status, headers, body) = get(&f.state, uri).await;
        assert_eq!(status, want, "{uri}: {body}");
        if words.is_empty() {
            continue; // the query itself did not parse: axum's own answer
        }
        assert!(
            headers[axum::http::header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html"),
            "{uri}"
        );
        assert!(body.contains(words), "{uri}: {body}");
        assert!(body.contains("Back to the overview"), "{uri}: {body}");
    }
    let (_, headers, _) = get(&f.state, "/api/v1/targets/nope").await;
    assert_eq!(
        headers[axum::http::header::CONTENT_TYPE],
        "application/json"
    );
    let (status, _, body) = get(&f.state, "/targets/long").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains(&"x".repeat(5000)));
}

#[tokio::test]
async fn a_failed_check_shows_a_dash_for_its_time_and_its_error() {
    let f = fixture().await;
    let (_, _, body) = get(&f.state, "/targets/evil").await;
    // Newest first: the failed check (HTTP 500, 42 ms until it failed), then the passing one.
    let failed = body.find(
        r#"<span class="pill down">down</span></td><td class="num">500</td><td class="num">–</td>"#,
    );
    let passed = body.find(
        r#"<span class="pill up">up</span></td><td class="num">200</td><td class="num">42 ms</td>"#,
    );
    assert!(failed.is_some() && passed.is_some(), "{body}");
    assert!(body.contains("http_status: body said"));
    // Its chart: "long" has only a failed check, drawn in the failed colour, not as phases.
    let (_, _, body) = get(&f.state, "/targets/long?window=1h").await;
    assert!(body.contains(r#"<rect class="failed""#), "{body}");
    assert!(!body.contains(r#"<rect class="ph-"#), "{body}");
    assert!(
        body.contains("Last response</span><span class=\"val \">–</span>"),
        "{body}"
    );
}

#[tokio::test]
async fn incidents_page_lists_incidents_across_targets() {
    let f = fixture().await;
    let (status, _, body) = get(&f.state, "/incidents").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("/targets/evil"));
    assert!(body.contains("/targets/long"));
    assert!(body.contains("1–2 of 2"));
    assert_no_raw_markup(&body);
}

#[tokio::test]
async fn pages_link_their_neighbours_and_a_page_past_the_end_answers_empty() {
    let f = fixture().await;
    let (status, _, body) = get(&f.state, "/?per_page=1&page=2").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("2–2 of 3"), "{body}");
    assert!(body.contains(r#"rel="prev">← Previous</a>"#), "{body}");
    assert!(body.contains(r#"rel="next">Next →</a>"#), "{body}");
    // The neighbours keep the page size.
    assert!(body.contains(r#"href="/?per_page=1" rel="prev""#), "{body}");
    assert!(
        body.contains(r#"href="/?page=3&#38;per_page=1" rel="next""#),
        "{body}"
    );
    for uri in ["/incidents?page=4294967295", "/?page=4294967295"] {
        let (status, _, body) = get(&f.state, uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {body}");
        assert!(body.contains(r#"rel="prev">"#), "{uri}: {body}");
        assert!(!body.contains(r#"rel="next">"#), "{uri}: {body}");
    }
}

#[tokio::test]
async fn overview_marks_certificates_that_expired_or_expire_within_14_days() {
    let f = fixture().await;
    let store = SqliteStore::open(&crate::config::StoreSettings::with_path(
        f._dir.path().join("certs.sqlite3"),
    ))
    .unwrap();
    let now = OffsetDateTime::now_utc();
    let with_cert = |target: &str, up: bool, not_after: OffsetDateTime| {
        let mut e = probe(target, target, up, 1);
        if let Event::Probe(p) = &mut e {
            p.tls_cert_not_after = Some(not_after);
        }
        e
    };
    store
        .ingest(vec![
            with_cert("soon", true, now + Duration::from_secs(3 * 86_400 + 600)),
            // An expired certificate fails verification, or passes under tls_verify: false.
            with_cert("expired", false, now - Duration::from_secs(86_400 + 600)),
            with_cert("fine", true, now + Duration::from_secs(60 * 86_400)),
        ])
        .await
        .unwrap();
    let state = AppState::new(Arc::new(store), &WebSettings::default());
    let (_, _, body) = get(&state, "/").await;
    assert!(
        body.contains(r#"<span class="cert warn">certificate expires in 3 d 0 h</span>"#),
        "{body}"
    );
    assert!(body.contains(r#"<span class="cert bad">certificate expired 1 d 0 h ago</span>"#));
    assert_eq!(body.matches(r#"<span class="cert "#).count(), 2, "{body}");
}

#[tokio::test]
async fn removed_targets_are_linked_from_the_overview_and_their_incidents_say_why_they_ended() {
    let f = fixture().await;
    let store = SqliteStore::open(&crate::config::StoreSettings::with_path(
        f._dir.path().join("removed.sqlite3"),
    ))
    .unwrap();
    store
        .ingest(vec![
            probe("kept", "Kept", true, 20),
            probe("gone", "Gone", false, 10),
        ])
        .await
        .unwrap();
    assert_eq!(
        store
            .remove_unconfigured(vec!["kept".into()])
            .await
            .unwrap(),
        1
    );
    let state = AppState::new(Arc::new(store), &WebSettings::default());
    let (_, _, body) = get(&state, "/").await;
    assert!(
        body.contains(r#"<a href="/?removed=1">1 removed target</a>"#),
        "{body}"
    );
    assert!(
        !body.contains(">Gone</a>"),
        "hidden from the overview: {body}"
    );
    // The link keeps the search.
    let (_, _, body) = get(&state, "/?q=go").await;
    assert!(
        body.contains(r#"<a href="/?q=go&#38;removed=1">1 removed target</a>"#),
        "{body}"
    );
    let (_, _, body) = get(&state, "/?removed=1").await;
    assert!(
        body.contains(">Gone</a>") && !body.contains(">Kept</a>"),
        "{body}"
    );
    assert!(body.contains("Back to the configured targets"));
    let (_, _, body) = get(&state, "/incidents").await;
    assert!(body.contains(" UTC (target removed)</td>"), "{body}");
    assert!(!body.contains("ongoing"), "{body}");
}

#[tokio::test]
async fn count_cards_count_and_keep_the_tag_filter() {
    let f = fixture().await;
    let store = SqliteStore::open(&crate::config::StoreSettings::with_path(
        f._dir.path().join("tags.sqlite3"),
    ))
    .unwrap();
    let info = |id: &str, tags: &[&str]| crate::store::sqlite::TargetInfo {
        id: id.into(),
        name: id.into(),
        url: format!("https://example.org/{id}"),
        protocol: "https".into(),
        hostname: "example.org".into(),
        port: Some(443),
        path: format!("/{id}"),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        interval_s: Some(60.0),
    };
    store
        .sync_targets(vec![
            info("p1", &["prod"]),
            info("p2", &["prod"]),
            info("s1", &["staging"]),
        ])
        .await
        .unwrap();
    store
        .ingest(vec![
            probe("p1", "p1", true, 3),
            probe("p2", "p2", false, 2),
            probe("s1", "s1", false, 1),
        ])
        .await
        .unwrap();
    let state = AppState::new(Arc::new(store), &WebSettings::default());
    let (_, _, body) = get(&state, "/?tag=prod").await;
    let card = |class: &str, href: &str, n: u64| {
        format!(r#"<a class="card {class}" href="{href}"><span class="num">{n}</span>"#)
    };
    for want in [
        card("all active", "/?tag=prod", 2),
        card("up", "/?status=up&#38;tag=prod", 1),
        card("down", "/?status=down&#38;tag=prod", 1),
    ] {
        assert!(body.contains(&want), "{want} in {body}");
    }
}

#[tokio::test]
async fn a_target_that_failed_lately_but_passes_now_is_flapping_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&crate::config::StoreSettings::with_path(
        dir.path().join("f.sqlite3"),
    ))
    .unwrap();
    store
        .ingest(vec![
            probe("good", "Good site", true, 8),
            probe("flaps", "Flappy", false, 8),
            probe("flaps", "Flappy", true, 4),
        ])
        .await
        .unwrap();
    let state = AppState::new(Arc::new(store), &WebSettings::default());
    let f = Fixture { _dir: dir, state };
    let (_, _, body) = get(&f.state, "/?status=flapping").await;
    assert!(
        body.contains(r#"<span class="pill flapping">flapping</span>"#),
        "{body}"
    );
    assert!(
        body.contains("Flappy") && !body.contains("Good site"),
        "{body}"
    );
    assert!(
        body.contains(
            r#"<a class="card flapping active" href="/?status=flapping"><span class="num">1</span>"#
        ),
        "{body}"
    );
    assert!(
        !body.contains("card paused"),
        "no paused target, no card: {body}"
    );
    let (_, _, body) = get(&f.state, "/?status=paused").await;
    assert!(body.contains(r#"<a class="card paused active""#), "{body}");
    let (_, _, json) = get(&f.state, "/api/v1/targets/flaps").await;
    assert!(json.contains(r#""status":"flapping""#), "{json}");
    let (_, _, json) = get(&f.state, "/api/v1/targets").await;
    assert!(
        json.contains(r#""flapping":1"#) && json.contains(r#""paused":0"#),
        "{json}"
    );
    let (_, _, badge) = get(&f.state, "/badges/flaps/status.svg").await;
    assert!(badge.contains(">flapping<"), "{badge}");
    assert!(!badge.contains("degraded"), "{badge}");
}

/// Degraded (up, but a `degraded_if` condition holds) is its own state on every page: its
/// card, filter, pill and sort place (after down, before flapping), in amber.
#[tokio::test]
async fn a_degraded_target_is_degraded_and_amber_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&crate::config::StoreSettings::with_path(
        dir.path().join("d.sqlite3"),
    ))
    .unwrap();
    store
        .ingest(vec![
            probe("good", "Good site", true, 8),
            probe("flaps", "Flappy", false, 8),
            probe("flaps", "Flappy", true, 4),
            // Failed lately, but the latest result is degraded: degraded wins over flapping.
            probe("slow", "Slow site", false, 8),
            degraded("slow", "Slow site", 4),
            probe("bad", "Bad site", false, 4),
        ])
        .await
        .unwrap();
    let state = AppState::new(Arc::new(store), &WebSettings::default());
    let (_, _, body) = get(&state, "/?status=degraded").await;
    assert!(
        body.contains(r#"<span class="pill degraded">degraded</span>"#),
        "{body}"
    );
    assert!(
        body.contains("Slow site") && !body.contains("Flappy") && !body.contains("Good site"),
        "{body}"
    );
    assert!(
        body.contains(
            r#"<a class="card degraded active" href="/?status=degraded"><span class="num">1</span>"#
        ),
        "{body}"
    );
    assert!(
        body.contains(r#"<option value="degraded" selected>degraded</option>"#),
        "{body}"
    );
    // Problems first: down, degraded, flapping, up.
    let (_, _, body) = get(&state, "/").await;
    let at = |name: &str| {
        body.find(name)
            .unwrap_or_else(|| panic!("{name} in {body}"))
    };
    assert!(at("Bad site") < at("Slow site"), "{body}");
    assert!(at("Slow site") < at("Flappy"), "{body}");
    assert!(at("Flappy") < at("Good site"), "{body}");
    let (_, _, body) = get(&state, "/targets/slow").await;
    // The target's pill, and its latest check's in the table of checks (the one before failed).
    assert_eq!(
        body.matches(r#"<span class="pill degraded">degraded</span>"#)
            .count(),
        2,
        "{body}"
    );
    assert!(
        body.contains(r#"<span class="pill down">down</span>"#),
        "{body}"
    );
    // The pill and card are amber: the stylesheet gives the class its own amber, dark enough
    // for text on its background.
    let (_, _, css) = get(&state, "/assets/style.css").await;
    for rule in [
        ".pill.degraded { background: var(--degraded-bg); color: var(--degraded-fg); }",
        ".card.degraded { border-top-color: var(--degraded); }",
        "--degraded: #f59e0b;",
        "--degraded-fg: #854d0e;",
        "--degraded-bg: #fde68a;",
    ] {
        assert!(css.contains(rule), "{rule} in the stylesheet");
    }
    // No incident for degraded: the only ones are the failures of flaps, slow and bad.
    let (_, _, json) = get(&state, "/api/v1/targets/slow").await;
    assert!(json.contains(r#""status":"degraded""#), "{json}");
    let (_, _, json) = get(&state, "/api/v1/targets").await;
    assert!(
        json.contains(r#""degraded":1"#) && json.contains(r#""flapping":1"#),
        "{json}"
    );
}

#[tokio::test]
async fn target_page_shows_the_last_checks_conditions_in_order_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&crate::config::StoreSettings::with_path(
        dir.path().join("c.sqlite3"),
    ))
    .unwrap();
    let result = |condition: &str, resolved: &str| crate::event::ConditionResult {
        condition: condition.into(),
        success: condition == resolved,
        resolved: resolved.into(),
    };
    let with = |ago_s: u64, up: bool, conditions: Vec<crate::event::ConditionResult>| {
        let mut e = probe("cond", "Conditioned", up, ago_s);
        if let Event::Probe(p) = &mut e {
            p.conditions = Some(conditions);
            p.degraded = Some(false);
        }
        e
    };
    store
        .ingest(vec![
            with(20, true, vec![result("[STATUS] == 200", "[STATUS] == 200")]),
            // The last check: a hostile body's value in a failing condition.
            with(
                10,
                false,
                vec![
                    result("[STATUS] == 200", "[STATUS] (500) == 200"),
                    result("[RESPONSE_TIME] < 500", "[RESPONSE_TIME] < 500"),
                    result(
                        "[BODY].status == UP",
                        &format!("[BODY].status ({HOSTILE}) == UP"),
                    ),
                ],
            ),
            probe("plain", "Plain", true, 10),
        ])
        .await
        .unwrap();
    let state = AppState::new(Arc::new(store), &WebSettings::default());
    let (status, _, body) = get(&state, "/targets/cond").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_no_raw_markup(&body);
    let lines: Vec<&str> = body
        .split(r#"<li class=""#)
        .skip(1)
        .map(|l| &l[..l.find("</li>").unwrap()])
        .collect();
    assert_eq!(
        lines,
        [
            r#"fail"><span class="mark" role="img" aria-label="fails">✗</span> <code>[STATUS] (500) == 200</code>"#,
            r#"ok"><span class="mark" role="img" aria-label="holds">✓</span> <code>[RESPONSE_TIME] &#60; 500</code>"#,
            r#"fail"><span class="mark" role="img" aria-label="fails">✗</span> <code>[BODY].status (&#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62;&#39; onmouseover=&#39;alert(1)) == UP</code>"#,
        ],
        "{body}"
    );
    assert!(body.contains(r#"<ul class="conds""#), "{body}");
    // A target without conditions shows nothing new.
    let (_, _, plain) = get(&state, "/targets/plain").await;
    assert!(
        !plain.contains("conds") && !plain.contains("Conditions"),
        "{plain}"
    );
}

#[tokio::test]
async fn the_target_page_shows_each_kind_s_details_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&crate::config::StoreSettings::with_path(
        dir.path().join("k.sqlite3"),
    ))
    .unwrap();
    let in_days = |d: i64| time::OffsetDateTime::now_utc() + time::Duration::days(d);
    let record = |data: &str| crate::event::DnsRecord {
        name: "example.org.".into(),
        ttl: 300,
        class: "IN".into(),
        rtype: "TXT".into(),
        data: data.into(),
    };
    let mut dns = probe("dns", "Resolver", true, 10);
    let mut ping = probe("ping", "Gateway", false, 10);
    let mut tls = probe("tls", "Mail", true, 10);
    if let (Event::Probe(d), Event::Probe(p), Event::Probe(t)) = (&mut dns, &mut ping, &mut tls) {
        d.protocol = "dns".into();
        d.dns = Some(crate::event::DnsDetails {
            rcode: "NOERROR".into(),
            answers: vec![record(&format!("\"{HOSTILE}\""))],
            authority: vec![],
            additional: vec![],
            soa_serial: Some(2026120101),
        });
        p.protocol = "icmp".into();
        p.icmp = Some(crate::event::IcmpDetails {
            sent: 3,
            received: 2,
            loss_percent: 100.0 / 3.0,
            rtt_min_ms: Some(0.05),
            rtt_avg_ms: Some(0.07),
            rtt_max_ms: Some(0.1),
            reply_ttl: Some(64),
        });
        t.protocol = "tls".into();
        t.tls = Some(crate::event::TlsDetails {
            version: "TLS 1.3".into(),
            cipher: "TLS_AES_128_GCM_SHA256".into(),
            chain: vec![crate::event::CertificateInfo {
                subject: "CN=mail.example".into(),
                issuer: "CN=Example CA".into(),
                not_after: in_days(10),
                sha256: "ab".repeat(32),
            }],
            earliest_expiry: Some(in_days(10)),
        });
    }
    store.ingest(vec![dns, ping, tls]).await.unwrap();
    let state = AppState::new(Arc::new(store), &WebSettings::default());
    let (status, _, body) = get(&state, "/targets/dns").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_no_raw_markup(&body);
    assert!(body.contains("<h2>DNS answer</h2>"), "{body}");
    assert!(
        body.contains("<dt>Response code</dt><dd>NOERROR</dd>"),
        "{body}"
    );
    assert!(
        body.contains("<dt>SOA serial</dt><dd>2026120101</dd>"),
        "{body}"
    );
    assert!(
        body.contains("<code>example.org.  300  IN  TXT  &#34;&#60;script&#62;"),
        "{body}"
    );
    let (_, _, body) = get(&state, "/targets/ping").await;
    assert!(body.contains("<dt>Replies</dt><dd>2 of 3</dd>"), "{body}");
    assert!(body.contains("<dt>Loss</dt><dd>33.3 %</dd>"), "{body}");
    assert!(
        body.contains("<dt>Round trip avg</dt><dd>0.07 ms</dd>"),
        "{body}"
    );
    let (_, _, body) = get(&state, "/targets/tls").await;
    assert!(body.contains("<dt>Version</dt><dd>TLS 1.3</dd>"), "{body}");
    assert!(
        body.contains("(9 days left)") || body.contains("(10 days left)"),
        "{body}"
    );
    assert!(
        body.contains("<td>CN=mail.example</td><td>CN=Example CA</td>"),
        "{body}"
    );
    // An HTTP target without a TLS session shows no panel of these.
    let (_, _, body) = get(&state, "/targets/dns").await;
    assert!(
        !body.contains("<h2>TLS</h2>") && !body.contains("<h2>Ping</h2>"),
        "{body}"
    );
}
