//! `/metrics`, `/healthz`, `/readyz` and the embedded assets.

use super::*;

#[tokio::test]
async fn metrics_expose_blackbox_names_with_escaped_labels() {
    let mut f = fixture().await;
    // A process that probes and writes: its own metrics come first.
    let metrics = crate::metrics::Metrics::default();
    let _ = metrics.writer("writers.sqlite");
    f.state.metrics = Arc::new(metrics);
    let (status, headers, body) = get(&f.state, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    assert!(body.contains("# TYPE probe_success gauge"));
    assert!(body.contains(r#"probe_success{target="good",name="Good site","#));
    assert!(
        body.contains(r#"probe_success{target="evil",name="<script>alert(\"x\")</script>"#),
        "{body}"
    );
    assert!(body.contains("probe_duration_seconds{target=\"good\""));
    assert!(body.contains("uptimer_probe_duration_seconds_bucket{phase=\"ttfb\",le=\"+Inf\"}"));
    assert!(body.contains("uptimer_writer_queue_depth"));
    // Every sample line is `name{labels} value` or `name value`.
    for line in body.lines().filter(|l| !l.starts_with('#')) {
        let value = line.rsplit(' ').next().unwrap();
        assert!(value.parse::<f64>().is_ok() || value == "+Inf", "{line}");
    }
}

#[tokio::test]
async fn healthz_answers_and_assets_are_embedded() {
    let f = fixture().await;
    assert_eq!(get(&f.state, "/healthz").await.0, StatusCode::OK);
    let (status, headers, body) = get(&f.state, "/assets/style.css").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    assert!(body.contains("prefers-color-scheme: dark"));
    assert_eq!(get(&f.state, "/assets/app.js").await.0, StatusCode::OK);
    assert_eq!(get(&f.state, "/nope").await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn readyz_needs_the_store_and_every_writer_healthz_only_a_running_pipeline() {
    let mut f = fixture().await;
    let metrics = Arc::new(crate::metrics::Metrics::default());
    f.state.metrics = metrics.clone();
    assert_eq!(get(&f.state, "/readyz").await.0, StatusCode::OK);
    let sqlite = metrics.writer("writers.sqlite");
    let (status, _, body) = get(&f.state, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body, "not ready: writers.sqlite\n");
    assert_eq!(
        get(&f.state, "/healthz").await.0,
        StatusCode::OK,
        "alive all the same"
    );
    sqlite.up.set(true);
    assert_eq!(get(&f.state, "/readyz").await.0, StatusCode::OK);
    metrics.readiness.stop();
    assert_eq!(
        get(&f.state, "/healthz").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
}

#[tokio::test]
async fn metrics_add_blackbox_s_dns_icmp_and_tls_families_from_the_last_event() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&crate::config::StoreSettings::with_path(
        dir.path().join("m.sqlite3"),
    ))
    .unwrap();
    let kind = |target: &str, url: &str, f: &dyn Fn(&mut ProbeEvent)| {
        let mut e = probe(target, target, true, 5);
        if let Event::Probe(p) = &mut e {
            p.url = Some(url.into());
            p.status_code = None;
            f(p);
        }
        e
    };
    let record = crate::event::DnsRecord {
        name: "example.org.".into(),
        ttl: 60,
        class: "IN".into(),
        rtype: "A".into(),
        data: "192.0.2.1".into(),
    };
    store
        .ingest(vec![
            kind("resolver", "dns://127.0.0.1:53", &|p| {
                p.dns = Some(crate::event::DnsDetails {
                    rcode: "NOERROR".into(),
                    answers: vec![record.clone(), record.clone()],
                    authority: vec![record.clone()],
                    additional: vec![],
                    soa_serial: Some(7),
                })
            }),
            kind("gateway", "icmp://127.0.0.1", &|p| {
                p.icmp = Some(crate::event::IcmpDetails {
                    sent: 1,
                    received: 1,
                    loss_percent: 0.0,
                    rtt_min_ms: Some(2.0),
                    rtt_avg_ms: Some(2.0),
                    rtt_max_ms: Some(2.0),
                    reply_ttl: Some(64),
                })
            }),
            kind("mail", "tls://127.0.0.1:465", &|p| {
                p.tls = Some(crate::event::TlsDetails {
                    version: "TLS 1.3".into(),
                    cipher: "TLS_AES_128_GCM_SHA256".into(),
                    chain: vec![],
                    earliest_expiry: None,
                })
            }),
        ])
        .await
        .unwrap();
    let state = AppState::new(Arc::new(store), &WebSettings::default());
    let (status, _, body) = get(&state, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    let line = |prefix: &str| {
        body.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in {body}"))
            .to_owned()
    };
    assert!(
        line("probe_dns_answer_rrs{target=\"resolver\"").ends_with(" 2.0"),
        "{body}"
    );
    assert!(
        line("probe_dns_authority_rrs{target=\"resolver\"").ends_with(" 1.0"),
        "{body}"
    );
    assert!(
        line("probe_dns_serial{target=\"resolver\"").ends_with(" 7.0"),
        "{body}"
    );
    let rtt = line("probe_icmp_duration_seconds{target=\"gateway\"");
    assert!(
        rtt.contains("phase=\"rtt\"") && rtt.ends_with(" 0.002"),
        "{rtt}"
    );
    assert!(
        line("probe_icmp_reply_hop_limit{target=\"gateway\"").ends_with(" 64.0"),
        "{body}"
    );
    let tls = line("probe_tls_version_info{target=\"mail\"");
    assert!(
        tls.contains("version=\"TLS 1.3\"") && tls.ends_with(" 1.0"),
        "{tls}"
    );
}
