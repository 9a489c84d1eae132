//! The HTTP prober against real servers on loopback: every case asserts the event's verdict,
//! status, error kind, regex result and phases, and validates the event against its schema.

mod support;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::*;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uptimer::config::{
    EventFormat, Interval, ProbeSettings, Target, TargetDefaults, TargetSpec, TlsVerify,
};
use uptimer::event::{ErrorKind, Event, ProbeEvent, schema};
use uptimer::pipeline::{SchedulerStats, scheduler};
use uptimer::readers::probes::{HttpProber, Record};

fn settings() -> ProbeSettings {
    ProbeSettings::default()
}

fn spec(url: &str) -> TargetSpec {
    TargetSpec {
        url: url.to_owned(),
        ..Default::default()
    }
}

fn target(spec: TargetSpec) -> Target {
    let d = TargetDefaults {
        interval: Interval::Once,
        timeout: Duration::from_secs(5),
        tls_verify: TlsVerify::Yes,
    };
    spec.build(&d).expect("valid target")
}

/// Probes once and checks the event against the embedded schema.
async fn probe_with(settings: &ProbeSettings, t: &Target) -> ProbeEvent {
    let prober = HttpProber::new(settings).expect("prober");
    prober.check_tls(t).expect("tls settings");
    let e = prober.probe(t).await;
    schema::validate_event(&Event::from(e.clone()).to_json())
        .unwrap_or_else(|err| panic!("event does not validate: {err}\n{e:?}"));
    e
}

async fn probe(t: &Target) -> ProbeEvent {
    probe_with(&settings(), t).await
}

fn assert_down(e: &ProbeEvent, kind: ErrorKind) {
    assert_eq!(e.up, Some(false), "{e:?}");
    assert_eq!(e.error_kind, Some(kind), "{e:?}");
    assert!(e.error.as_deref().is_some_and(|m| !m.is_empty()), "{e:?}");
}

fn phases(e: &ProbeEvent) -> uptimer::event::Phases {
    e.phases_ms.expect("phases")
}

#[tokio::test]
async fn http_ok_is_up_with_every_phase_but_dns() {
    let server = http_server().await;
    let e = probe(&target(spec(&server.url("/ok")))).await;
    assert_eq!(e.up, Some(true), "{e:?}");
    assert_eq!(
        (e.status_code.unwrap(), e.error_kind, e.error.as_deref()),
        (200, None, None)
    );
    assert_eq!(
        (e.hostname.as_str(), e.port.unwrap(), e.path.as_str()),
        ("127.0.0.1", server.addr.port(), "/ok")
    );
    assert_eq!((e.regex.as_deref(), e.matches_regex), (None, None));
    let p = phases(&e);
    assert!(p.dns.is_none() && p.tls.is_none(), "{p:?}");
    assert!(
        p.connect.is_some() && p.ttfb.is_some() && p.transfer.is_some(),
        "{p:?}"
    );
    assert_eq!(e.http_version.as_deref(), Some("HTTP/1.1"));
    assert_eq!(e.body_bytes, Some("hello uptimer".len() as u64));
    assert_eq!(e.ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(e.redirects, Some(0));
    assert!(e.response_time_ms < 5000);
    let req = &server.requests()[0];
    assert!(req.header("user-agent").unwrap().starts_with("uptimer/"));
}

#[tokio::test]
async fn times_and_phases_are_whole_microseconds_as_written_and_stored() {
    // The JSON and both stores keep microseconds; an event that carried more would not be
    // the event read back.
    let server = http_server().await;
    for _ in 0..3 {
        let e = probe(&target(spec(&server.url("/ok")))).await;
        assert_eq!(e.envelope.event_time.nanosecond() % 1000, 0, "{e:?}");
        let p = phases(&e);
        for ms in [p.dns, p.connect, p.tls, p.ttfb, p.transfer]
            .into_iter()
            .flatten()
        {
            assert_eq!((ms * 1000.0).round() / 1000.0, ms, "{p:?}");
        }
    }
}

#[tokio::test]
async fn regex_is_matched_on_every_body_including_errors() {
    let server = http_server().await;
    let with_regex = |path: &str, re: &str| {
        target(TargetSpec {
            regex: Some(re.into()),
            ..spec(&server.url(path))
        })
    };

    let e = probe(&with_regex("/ok", "hello")).await;
    assert_eq!(
        (e.up, e.matches_regex, e.regex.as_deref()),
        (Some(true), Some(true), Some("hello"))
    );

    let e = probe(&with_regex("/ok", "^bye")).await;
    assert_down(&e, ErrorKind::RegexMismatch);
    assert_eq!(e.matches_regex, Some(false));

    // A 503 whose body matches: matches_regex is true, the verdict is the status.
    let e = probe(&with_regex("/status/503", "status 503")).await;
    assert_down(&e, ErrorKind::HttpStatus);
    assert_eq!((e.status_code.unwrap(), e.matches_regex), (503, Some(true)));

    // No response at all: false, not true as the original said.
    let closed = closed_port();
    let e = probe(&target(TargetSpec {
        regex: Some("x".into()),
        ..spec(&format!("http://{closed}/"))
    }))
    .await;
    assert_eq!(e.matches_regex, Some(false));
}

#[tokio::test]
async fn unexpected_status_is_http_status_and_expected_status_is_configurable() {
    let server = http_server().await;
    let e = probe(&target(spec(&server.url("/status/500")))).await;
    assert_down(&e, ErrorKind::HttpStatus);
    assert_eq!(e.status_code.unwrap(), 500);
    assert!(e.error.unwrap().contains("500"));
    let e = probe(&target(TargetSpec {
        expected_status: vec!["404".into()],
        ..spec(&server.url("/nope"))
    }))
    .await;
    assert_eq!((e.up, e.status_code.unwrap()), (Some(true), 404));
}

#[tokio::test]
async fn https_valid_negotiates_h2_and_reports_certificate_expiry() {
    let ca = test_ca();
    let server = https_server(&ca, CertKind::Valid).await;
    let t = target(TargetSpec {
        tls_verify: Some(TlsVerify::CaFile(ca.ca_file.clone())),
        ..spec(&server.url("/ok"))
    });
    let e = probe(&t).await;
    assert_eq!(e.up, Some(true), "{e:?}");
    assert_eq!(e.http_version.as_deref(), Some("HTTP/2"));
    let p = phases(&e);
    assert!(
        p.dns.is_some() && p.tls.is_some() && p.ttfb.is_some(),
        "{p:?}"
    );
    let expected = server.cert_not_after.unwrap().unix_timestamp();
    assert_eq!(
        e.tls_cert_not_after.map(|t| t.unix_timestamp()),
        Some(expected)
    );
    assert_eq!(server.requests()[0].version, "HTTP/2.0");
}

#[tokio::test]
async fn https_http1_only_server_is_spoken_to_in_http1() {
    let ca = test_ca();
    let server = https_server_http1_only(&ca).await;
    let t = target(TargetSpec {
        tls_verify: Some(TlsVerify::CaFile(ca.ca_file.clone())),
        ..spec(&server.url("/ok"))
    });
    let e = probe(&t).await;
    assert_eq!(
        (e.up, e.http_version.as_deref()),
        (Some(true), Some("HTTP/1.1")),
        "{e:?}"
    );
}

#[tokio::test]
async fn a_ca_directory_is_accepted() {
    let ca = test_ca();
    let server = https_server(&ca, CertKind::Valid).await;
    let t = target(TargetSpec {
        tls_verify: Some(TlsVerify::CaDir(ca.dir.path().to_owned())),
        ..spec(&server.url("/ok"))
    });
    assert_eq!(probe(&t).await.up, Some(true));
}

/// A rejected certificate is a `tls_certificate` failure that still reports its expiry.
#[tokio::test]
async fn bad_certificates_are_tls_certificate_errors_that_still_report_their_expiry() {
    let ca = test_ca();
    for kind in [
        CertKind::Expired,
        CertKind::WrongHost,
        CertKind::SelfSignedLeaf,
    ] {
        let server = https_server(&ca, kind).await;
        let t = target(TargetSpec {
            tls_verify: Some(TlsVerify::CaFile(ca.ca_file.clone())),
            ..spec(&server.url("/ok"))
        });
        let e = probe(&t).await;
        assert_down(&e, ErrorKind::TlsCertificate);
        assert_eq!(e.status_code.unwrap(), 0);
        assert!(phases(&e).tls.is_some());
        assert_eq!(
            e.tls_cert_not_after.map(|t| t.unix_timestamp()),
            server.cert_not_after.map(|t| t.unix_timestamp()),
            "{kind:?}: {e:?}"
        );
    }
    // The built-in roots do not know the test CA either.
    let server = https_server(&ca, CertKind::Valid).await;
    assert_down(
        &probe(&target(spec(&server.url("/ok")))).await,
        ErrorKind::TlsCertificate,
    );
}

/// What a rejected certificate's error says, in words; never Rust's debug output.
fn assert_in_words(e: &ProbeEvent, expected: &str) {
    let message = e.error.as_deref().unwrap_or_default();
    assert!(
        message.contains(expected),
        "{expected:?} not in {message:?}"
    );
    for debug in [
        "Other(",
        "Error(",
        "Context",
        " {",
        "UnknownIssuer",
        "NotValidForName",
    ] {
        assert!(!message.contains(debug), "debug output in {message:?}");
    }
}

#[tokio::test]
async fn certificate_errors_are_told_in_words() {
    let ca = test_ca();
    let cases = [
        (
            CertKind::Expired,
            "the server's certificate expired on 2020-01-01 00:00:00 UTC (",
        ),
        (
            CertKind::NotYetValid,
            "the server's certificate is not valid before ",
        ),
        (
            CertKind::WrongHost,
            "the server's certificate is for wrong.example, not for localhost",
        ),
        (
            CertKind::SelfSignedLeaf,
            "the server's certificate is self-signed and not trusted",
        ),
        (
            CertKind::CaAsLeaf,
            "the server's certificate is a CA certificate, not a server certificate",
        ),
    ];
    for (kind, expected) in cases {
        let server = https_server(&ca, kind).await;
        let e = probe(&target(TargetSpec {
            tls_verify: Some(TlsVerify::CaFile(ca.ca_file.clone())),
            ..spec(&server.url("/ok"))
        }))
        .await;
        assert_down(&e, ErrorKind::TlsCertificate);
        assert_in_words(&e, expected);
    }
    // The built-in roots do not know the test CA.
    let server = https_server(&ca, CertKind::Valid).await;
    let e = probe(&target(spec(&server.url("/ok")))).await;
    assert_down(&e, ErrorKind::TlsCertificate);
    assert_in_words(
        &e,
        "the server's certificate is not issued by a certificate authority this prober trusts",
    );
}

#[tokio::test]
async fn a_refused_handshake_is_told_in_words() {
    // A server that speaks only a protocol the prober does not offer answers with the
    // `no_application_protocol` alert.
    let ca = test_ca();
    let server = https_server_with(make_leaf(&ca, CertKind::Valid), &[b"h3"], false).await;
    let e = probe(&target(TargetSpec {
        tls_verify: Some(TlsVerify::CaFile(ca.ca_file.clone())),
        ..spec(&server.url("/ok"))
    }))
    .await;
    assert_down(&e, ErrorKind::Tls);
    assert_in_words(
        &e,
        "the server refused the TLS handshake: it speaks none of the protocols offered (h2, http/1.1)",
    );
}

#[tokio::test]
async fn tls_verify_off_accepts_an_expired_certificate_and_still_reports_its_expiry() {
    let ca = test_ca();
    let server = https_server(&ca, CertKind::Expired).await;
    let e = probe(&target(TargetSpec {
        tls_verify: Some(TlsVerify::No),
        ..spec(&server.url("/ok"))
    }))
    .await;
    assert_eq!(e.up, Some(true), "{e:?}");
    let year = e.tls_cert_not_after.unwrap().year();
    assert_eq!(year, 2020);
    // The session is in the event's tls object, its chain leaf first.
    let tls = e.tls.as_ref().expect("an HTTPS event has its tls object");
    assert!(tls.version.starts_with("TLS 1."), "{tls:?}");
    assert!(!tls.cipher.is_empty(), "{tls:?}");
    assert_eq!(tls.chain[0].not_after.year(), 2020);
    assert_eq!(tls.chain[0].sha256.len(), 64);
    assert_eq!(tls.earliest_expiry.map(|t| t.year()), Some(2020));
    // Plain HTTP has none.
    let plain = http_server().await;
    assert_eq!(probe(&target(spec(&plain.url("/ok")))).await.tls, None);
}

#[tokio::test]
async fn plain_http_to_a_tls_port_is_a_protocol_error_and_tls_to_plain_is_tls() {
    let ca = test_ca();
    let tls = https_server(&ca, CertKind::Valid).await;
    let e = probe(&target(spec(&format!("http://{}/ok", tls.addr)))).await;
    assert_eq!(e.up, Some(false));
    let plain = http_server().await;
    let e = probe(&target(spec(&format!("https://{}/ok", plain.addr)))).await;
    assert_down(&e, ErrorKind::Tls);
    assert_in_words(&e, "the server did not answer in TLS (is it plain HTTP?)");
}

#[tokio::test]
async fn slow_responses_time_out_in_the_phase_they_were_in() {
    let server = http_server().await;
    let short = |path: &str| {
        target(TargetSpec {
            timeout: Some(Duration::from_millis(300)),
            ..spec(&server.url(path))
        })
    };
    // The server answers only after 30 s: the probe gives up at its own timeout instead.
    let e = probe(&short("/slow/30000")).await;
    assert_down(&e, ErrorKind::Timeout);
    assert!(e.error.as_deref().unwrap().contains("ttfb"), "{e:?}");
    assert!(
        (300..30_000).contains(&e.response_time_ms),
        "{}",
        e.response_time_ms
    );

    let e = probe(&short("/slow-body/2000")).await;
    assert_down(&e, ErrorKind::Timeout);
    assert_eq!(e.status_code.unwrap(), 200);
    assert!(e.error.as_deref().unwrap().contains("transfer"), "{e:?}");

    let e = probe(&short("/hang")).await;
    assert_down(&e, ErrorKind::Timeout);

    // A slow but timely response is up.
    let e = probe(&target(spec(&server.url("/slow/100")))).await;
    assert_eq!(e.up, Some(true));
    assert!(phases(&e).ttfb.unwrap() >= 90.0, "{e:?}");
}

#[tokio::test]
async fn a_silent_server_times_out() {
    let server = silent_server().await;
    let t = target(TargetSpec {
        timeout: Some(Duration::from_millis(300)),
        ..spec(&format!("http://{}/", server.addr))
    });
    let e = probe(&t).await;
    assert_down(&e, ErrorKind::Timeout);
}

#[tokio::test]
async fn a_reset_connection_is_a_protocol_error() {
    let server = reset_server().await;
    let e = probe(&target(spec(&format!("http://{}/", server.addr)))).await;
    assert_down(&e, ErrorKind::Protocol);
    assert_eq!(e.status_code.unwrap(), 0);
}

#[tokio::test]
async fn a_closed_port_is_connect_refused() {
    let addr = closed_port();
    let e = probe(&target(spec(&format!("http://{addr}/")))).await;
    assert_down(&e, ErrorKind::ConnectRefused);
    assert_eq!(e.ip.as_deref(), Some("127.0.0.1"));
    assert!(phases(&e).connect.is_some());
}

#[tokio::test]
async fn redirects_are_followed_counted_and_limited() {
    let server = http_server().await;
    let e = probe(&target(spec(&server.url("/redirect/3")))).await;
    assert_eq!(
        (e.up, e.status_code.unwrap(), e.redirects),
        (Some(true), 200, Some(3)),
        "{e:?}"
    );
    assert_eq!(e.path, "/redirect/3");
    let e = probe(&target(spec(&server.url("/redirect-abs/2")))).await;
    assert_eq!((e.up, e.redirects), (Some(true), Some(2)), "{e:?}");

    let e = probe(&target(spec(&server.url("/redirect-loop")))).await;
    assert_down(&e, ErrorKind::Protocol);
    assert!(e.error.as_deref().unwrap().contains("too many redirects"));
    assert_eq!(e.redirects, Some(10));

    let no_follow = ProbeSettings {
        max_redirects: 0,
        ..settings()
    };
    let e = probe_with(&no_follow, &target(spec(&server.url("/redirect/3")))).await;
    assert_eq!((e.status_code.unwrap(), e.redirects), (302, Some(0)));
    // Every hop is a fresh connection.
    assert_eq!(server.connections(), 4 + 3 + 11 + 1);
}

#[tokio::test]
async fn a_huge_body_is_capped_and_an_endless_one_does_not_hang() {
    let server = http_server().await;
    let re = |path: &str| {
        target(TargetSpec {
            regex: Some("THE END".into()),
            ..spec(&server.url(path))
        })
    };
    let e = probe(&re("/huge")).await;
    assert_down(&e, ErrorKind::BodyTooLarge);
    assert_eq!(
        (e.status_code.unwrap(), e.body_bytes, e.matches_regex),
        (200, Some(1024 * 1024), Some(false))
    );

    let big = ProbeSettings {
        max_body_bytes: 4 * 1024 * 1024,
        ..settings()
    };
    let e = probe_with(&big, &re("/huge")).await;
    assert_eq!(
        (e.up, e.matches_regex, e.body_bytes),
        (Some(true), Some(true), Some(HUGE_BODY_LEN as u64)),
        "{e:?}"
    );

    // With a timeout far away, only the cap can end this probe.
    let e = probe(&target(TargetSpec {
        timeout: Some(Duration::from_secs(120)),
        ..spec(&server.url("/endless"))
    }))
    .await;
    assert_down(&e, ErrorKind::BodyTooLarge);
    assert_eq!(e.body_bytes, Some(1024 * 1024), "{e:?}");
}

#[tokio::test]
async fn ipv6_loopback_is_probed() {
    let server = http_server_v6().await;
    let e = probe(&target(spec(&server.url("/ok")))).await;
    assert_eq!(
        (e.up, e.hostname.as_str(), e.ip.as_deref()),
        (Some(true), "::1", Some("::1")),
        "{e:?}"
    );
}

#[tokio::test]
async fn names_are_resolved_by_the_configured_dns_server_and_timed() {
    let server = http_server().await;
    let dns = dns_server(&[("app.uptimer.test", IpAddr::from([127, 0, 0, 1]))]).await;
    let s = ProbeSettings {
        dns_servers: vec![dns.addr],
        ..settings()
    };
    let port = server.addr.port();
    let e = probe_with(
        &s,
        &target(spec(&format!("http://app.uptimer.test:{port}/ok"))),
    )
    .await;
    assert_eq!(e.up, Some(true), "{e:?}");
    assert_eq!(e.hostname, "app.uptimer.test");
    assert!(phases(&e).dns.is_some());
    assert!(dns.queries() >= 1);
    assert_eq!(
        server.requests()[0].authority.as_deref(),
        Some(format!("app.uptimer.test:{port}").as_str())
    );

    let e = probe_with(
        &s,
        &target(spec(&format!("http://missing.uptimer.test:{port}/ok"))),
    )
    .await;
    assert_down(&e, ErrorKind::Dns);
    assert!(e.error.as_deref().unwrap().contains("missing.uptimer.test"));
    assert!(phases(&e).connect.is_none());
}

#[tokio::test]
async fn probes_share_no_cookies() {
    let server = http_server().await;
    let prober = HttpProber::new(&settings()).unwrap();
    prober
        .probe(&target(spec(&server.url("/set-cookie"))))
        .await;
    prober.probe(&target(spec(&server.url("/echo")))).await;
    let echo = &server.requests_to("/echo")[0];
    assert!(echo.header("cookie").is_none(), "{echo:?}");
}

#[tokio::test]
async fn method_headers_and_url_credentials_are_sent_and_credentials_masked() {
    let server = http_server().await;
    let url = format!("http://user:s3cret@{}/echo", server.addr);
    let t = target(TargetSpec {
        method: Some("HEAD".into()),
        headers: vec![("X-Probe".into(), "yes".into())],
        ..spec(&url)
    });
    let e = probe(&t).await;
    assert_eq!(e.up, Some(true));
    let req = &server.requests()[0];
    assert_eq!(req.method, "HEAD");
    assert_eq!(req.header("x-probe"), Some("yes"));
    assert_eq!(req.header("authorization"), Some("Basic dXNlcjpzM2NyZXQ="));
    let json = serde_json::to_string(&e).unwrap();
    assert!(!json.contains("s3cret"), "{json}");
    assert!(e.url.unwrap().contains("user:***@"));
}

#[tokio::test]
async fn original_format_events_carry_only_the_original_fields() {
    let server = http_server().await;
    let e = probe(&target(spec(&server.url("/ok")))).await.to_original();
    let v = serde_json::to_value(&e).unwrap();
    assert_eq!(v["schema_version"], "0.2.0");
    assert!(v.get("up").is_none() && v.get("phases_ms").is_none());
    schema::validate_event(&v).unwrap();
}

/// A scheduler probing `targets` (at most 16 at once) into a channel; `stop` ends it.
fn schedule(targets: Vec<Target>) -> (mpsc::Receiver<Event>, CancellationToken, JoinHandle<()>) {
    schedule_counting(targets, Arc::default())
}

/// As `schedule`, counting into `stats`.
fn schedule_counting(
    targets: Vec<Target>,
    stats: Arc<SchedulerStats>,
) -> (mpsc::Receiver<Event>, CancellationToken, JoinHandle<()>) {
    let prober = Arc::new(HttpProber::new(&settings()).unwrap());
    let (tx, rx) = mpsc::channel(1024);
    let stop = CancellationToken::new();
    let task = tokio::spawn(scheduler::run(
        prober,
        scheduler::Feed::fixed(targets),
        16,
        EventFormat::Current,
        tx,
        stop.clone(),
        stats,
    ));
    (rx, stop, task)
}

/// Every probe event still to come from a scheduler, until it has ended.
async fn drain(mut rx: mpsc::Receiver<Event>, task: JoinHandle<()>) -> Vec<ProbeEvent> {
    let mut events = Vec::new();
    tokio::time::timeout(PATIENCE, async {
        while let Some(Event::Probe(e)) = rx.recv().await {
            events.push(*e);
        }
    })
    .await
    .expect("the scheduler's events end");
    tokio::time::timeout(PATIENCE, task)
        .await
        .expect("scheduler ends")
        .unwrap();
    events
}

#[tokio::test]
async fn one_failing_probe_never_stops_the_others() {
    let server = http_server().await;
    let closed = closed_port();
    let targets = vec![
        target(spec(&server.url("/ok"))),
        target(spec(&format!("http://{closed}/"))),
        target(spec(&server.url("/status/500"))),
        target(spec(&server.url("/ok?second"))),
    ];
    let metrics = uptimer::metrics::Metrics::default();
    let stats = Arc::new(SchedulerStats::new(&metrics));
    let (rx, _stop, task) = schedule_counting(targets, stats);
    let events = drain(rx, task).await;
    assert_eq!(events.len(), 4);
    assert_eq!(events.iter().filter(|e| e.up == Some(true)).count(), 2);
    // The prober's own health for /metrics counts every probe, whatever the writer.
    assert_eq!(metrics.probes.verdicts(), (2, 2));
    assert_eq!(metrics.scheduler.started.get(), 4);
}

#[tokio::test]
async fn each_target_keeps_its_own_period_and_a_slow_one_does_not_delay_the_others() {
    let server = http_server().await;
    let every = |path: &str, ms: u64, timeout_ms: u64| {
        target(TargetSpec {
            interval: Some(Interval::Every(Duration::from_millis(ms))),
            timeout: Some(Duration::from_millis(timeout_ms)),
            ..spec(&server.url(path))
        })
    };
    // The gate never opens: that probe stays in flight until its 5 s timeout.
    let targets = vec![every("/ok", 200, 1000), every("/gate", 200, 5000)];
    let started = Instant::now();
    let (mut rx, stop, task) = schedule(targets);
    for n in 0..3 {
        let e = tokio::time::timeout(PATIENCE, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("probe {n} of /ok"))
            .expect("events");
        let Event::Probe(e) = e else { panic!("{e:?}") };
        assert_eq!(
            e.path, "/ok",
            "the held probe ended before /ok was probed 3 times"
        );
    }
    let ran = started.elapsed();
    stop.cancel();
    let rest = drain(rx, task).await;
    // The probe in flight at the stop was finished and delivered, not dropped.
    let held: Vec<_> = rest.iter().filter(|e| e.path == "/gate").collect();
    assert_eq!(held.len(), 1, "{rest:?}");
    assert_down(held[0], ErrorKind::Timeout);
    assert_eq!(server.at_gate(), 1, "one probe of a target at a time");
    // At most one probe of /ok a period: a busy machine makes fewer, never more.
    let fast = 3 + rest.iter().filter(|e| e.path == "/ok").count();
    let most = (ran.as_millis() / 200) as usize + 2;
    assert!(fast <= most, "{fast} probes of /ok in {ran:?}");
}

/// Probes once and hands back, with the event, what the prober kept of the final response.
async fn probe_record(t: &Target) -> (ProbeEvent, Record) {
    let prober = HttpProber::new(&settings()).expect("prober");
    let (e, rec) = prober.probe_record(t).await;
    schema::validate_event(&Event::from(e.clone()).to_json())
        .unwrap_or_else(|err| panic!("event does not validate: {err}\n{e:?}"));
    (e, rec)
}

fn with_regex(url: &str, re: &str) -> Target {
    target(TargetSpec {
        regex: Some(re.into()),
        ..spec(url)
    })
}

const MIB: u64 = 1024 * 1024;

#[tokio::test]
async fn accept_encoding_names_what_is_decoded_unless_the_target_sets_its_own() {
    let server = http_server().await;
    probe(&target(spec(&server.url("/ok")))).await;
    let sent = server.requests()[0].clone();
    assert_eq!(
        sent.header_all("accept-encoding"),
        ["gzip, deflate, br, zstd"]
    );

    let own = |value: &str, path: &str| {
        target(TargetSpec {
            headers: vec![("Accept-Encoding".into(), value.into())],
            regex: Some(format!("^{ENCODED_TEXT}$")),
            ..spec(&server.url(path))
        })
    };
    probe(&own("identity", "/echo")).await;
    let sent = server.requests_to("/echo")[0].clone();
    assert_eq!(sent.header_all("accept-encoding"), ["identity"]);
    // The target's own choice is sent, and what comes back is decoded all the same.
    let e = probe(&own("gzip;q=1.0", "/encoded/gzip/hello")).await;
    assert_eq!((e.up, e.matches_regex), (Some(true), Some(true)), "{e:?}");
    let sent = server.requests_to("/encoded/gzip/hello")[0].clone();
    assert_eq!(sent.header_all("accept-encoding"), ["gzip;q=1.0"]);
}

#[tokio::test]
async fn the_regex_is_matched_on_the_decoded_body_whatever_its_content_encoding() {
    let server = http_server().await;
    let anchored = format!("^{ENCODED_TEXT}$");
    for codings in [
        "gzip",
        "x-gzip",
        "deflate",
        "deflate-raw",
        "br",
        "zstd",
        "identity",
        "gzip,zstd",
        "br,deflate",
    ] {
        let url = server.url(&format!("/encoded/{codings}/hello"));
        let (e, rec) = probe_record(&with_regex(&url, &anchored)).await;
        assert_eq!(
            (e.up, e.matches_regex, e.body_bytes),
            (Some(true), Some(true), Some(ENCODED_TEXT.len() as u64)),
            "{codings}: {e:?}"
        );
        assert_eq!(rec.body, ENCODED_TEXT.as_bytes(), "{codings}");
        assert!(rec.body_complete, "{codings}");
        assert!(
            rec.headers.contains_key("content-encoding"),
            "{codings}: {:?}",
            rec.headers
        );
    }

    // Over HTTP/2 as well.
    let ca = test_ca();
    let tls = https_server(&ca, CertKind::Valid).await;
    let e = probe(&target(TargetSpec {
        tls_verify: Some(TlsVerify::CaFile(ca.ca_file.clone())),
        regex: Some(anchored.clone()),
        ..spec(&tls.url("/encoded/br/hello"))
    }))
    .await;
    assert_eq!(
        (e.up, e.matches_regex, e.http_version.as_deref()),
        (Some(true), Some(true), Some("HTTP/2")),
        "{e:?}"
    );

    // A Content-Encoding over no body at all (HEAD) is no error.
    let e = probe(&target(TargetSpec {
        method: Some("HEAD".into()),
        ..spec(&server.url("/encoded/gzip/hello"))
    }))
    .await;
    assert_eq!((e.up, e.body_bytes), (Some(true), Some(0)), "{e:?}");
}

/// The `Content-Length` the final response had.
fn content_length(rec: &Record) -> u64 {
    rec.headers["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn a_body_nothing_looks_at_is_counted_as_received_and_not_decoded() {
    // Inflating costs CPU that a probe without a regex does not need to spend.
    let server = http_server().await;
    for what in ["hello", "bomb", "garbage"] {
        let url = server.url(&format!("/encoded/gzip/{what}"));
        let (e, rec) = probe_record(&target(spec(&url))).await;
        assert_eq!(e.up, Some(true), "{what}: {e:?}");
        assert_eq!(e.body_bytes, Some(content_length(&rec)), "{what}");
        assert_ne!(e.body_bytes, Some(ENCODED_TEXT.len() as u64), "{what}");
        assert!(rec.body.is_empty() && rec.body_complete, "{what}: {rec:?}");
    }
}

#[tokio::test]
async fn an_unknown_content_encoding_is_read_as_received() {
    // As requests did: a coding it cannot decode is left as it came (the server was not asked
    // for it, unless the target's own Accept-Encoding did).
    let server = http_server().await;
    let url = server.url("/encoded/compress/hello");
    let (e, rec) = probe_record(&with_regex(&url, &format!("^{ENCODED_TEXT}$"))).await;
    assert_eq!((e.up, e.matches_regex), (Some(true), Some(true)), "{e:?}");
    assert_eq!(rec.body, ENCODED_TEXT.as_bytes());
}

#[tokio::test]
async fn a_body_that_inflates_past_the_cap_is_body_too_large_and_never_inflated_whole() {
    let server = http_server().await;
    for codings in ["gzip", "deflate", "deflate-raw", "br", "zstd", "gzip,zstd"] {
        let url = server.url(&format!("/encoded/{codings}/bomb"));
        let (e, rec) = probe_record(&with_regex(&url, "never")).await;
        assert_down(&e, ErrorKind::BodyTooLarge);
        assert_eq!(
            (e.body_bytes, e.matches_regex),
            (Some(MIB), Some(false)),
            "{codings}: {e:?}"
        );
        assert!(e.error.unwrap().contains("once decoded"), "{codings}");
        assert!(!rec.body_complete);
        assert_eq!(rec.body.len() as u64, MIB, "{codings}");
    }
    // 4 GiB of zeros in 3 KB of brotli: inflating it whole would take far longer than the
    // timeout and gigabytes of memory; the prober stops at the cap.
    let started = Instant::now();
    let e = probe(&with_regex(&server.url("/encoded/br/bomb-4g"), "never")).await;
    assert_down(&e, ErrorKind::BodyTooLarge);
    assert_eq!(e.body_bytes, Some(MIB), "{e:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "{e:?}");
}

#[tokio::test]
async fn a_body_that_cannot_be_decoded_is_a_protocol_error_and_never_matches() {
    let server = http_server().await;
    for codings in ["gzip", "deflate", "br", "zstd", "gzip,zstd"] {
        for what in ["garbage", "truncated"] {
            let url = server.url(&format!("/encoded/{codings}/{what}"));
            // A regex anything matches: only a complete body may be matched.
            let (e, rec) = probe_record(&with_regex(&url, "^")).await;
            assert_down(&e, ErrorKind::Protocol);
            assert_eq!(
                (e.status_code.unwrap(), e.matches_regex),
                (200, Some(false)),
                "{codings}/{what}: {e:?}"
            );
            assert!(!rec.body_complete);
            let message = e.error.unwrap();
            let outer = codings.rsplit(',').next().unwrap();
            assert!(
                message.contains(outer),
                "{codings}/{what}: {message:?} names no coding"
            );
        }
    }
}

/// An answer whose body ends before it should: the head, then `body` (a part of it).
fn cut_short(head: &str, body: &str) -> String {
    format!("HTTP/1.1 200 OK\r\n{head}\r\n\r\n{body}")
}

#[tokio::test]
async fn a_body_cut_short_never_matches_the_regex_and_reports_the_transport_error() {
    let cases = [
        // Closed before Content-Length was reached.
        (
            cut_short("content-length: 1000", "hello uptimer"),
            Ending::Close,
        ),
        // Reset mid-body.
        (
            cut_short("content-length: 1000", "hello uptimer"),
            Ending::Reset,
        ),
        // Chunked encoding without its last chunk.
        (
            cut_short("transfer-encoding: chunked", "d\r\nhello uptimer\r\n"),
            Ending::Close,
        ),
        (
            cut_short(
                "transfer-encoding: chunked",
                "d\r\nhello uptimer\r\n5\r\nhel",
            ),
            Ending::Reset,
        ),
    ];
    for (answer, ending) in cases {
        let server = scripted_server(answer.clone(), ending).await;
        let url = format!("http://{}/", server.addr);
        let (e, rec) = probe_record(&with_regex(&url, "hello")).await;
        assert_down(&e, ErrorKind::Protocol);
        assert_eq!(
            (e.status_code.unwrap(), e.matches_regex),
            (200, Some(false)),
            "{answer:?} {ending:?}: {e:?}"
        );
        assert!(!rec.body_complete, "{answer:?}");
        // What did arrive is kept, for whoever wants to look.
        assert!(rec.body.starts_with(b"hello"), "{answer:?}: {rec:?}");
    }
    // The same answers complete are up.
    for answer in [
        cut_short("content-length: 13", "hello uptimer"),
        cut_short(
            "transfer-encoding: chunked",
            "d\r\nhello uptimer\r\n0\r\n\r\n",
        ),
    ] {
        let server = scripted_server(answer.clone(), Ending::Close).await;
        let e = probe(&with_regex(&format!("http://{}/", server.addr), "hello")).await;
        assert_eq!((e.up, e.matches_regex), (Some(true), Some(true)), "{e:?}");
    }
}

/// `/redirect-to/…` on `server`, into `location`.
fn redirect_into(server: &TestServer, location: &str) -> String {
    let encoded: String = location.bytes().map(|b| format!("%{b:02X}")).collect();
    server.url(&format!("/redirect-to/{encoded}"))
}

#[tokio::test]
async fn a_redirect_into_a_failure_reports_that_failure_with_status_0() {
    let server = http_server().await;
    let ca = test_ca();
    let untrusted = https_server(&ca, CertKind::Valid).await;
    let silent = silent_server().await;
    let reset = reset_server().await;
    let dns = dns_server(&[("app.uptimer.test", IpAddr::from([127, 0, 0, 1]))]).await;
    let cases = [
        (
            format!("http://{}/", closed_port()),
            ErrorKind::ConnectRefused,
        ),
        (format!("http://{}/", silent.addr), ErrorKind::Timeout),
        (untrusted.url("/ok"), ErrorKind::TlsCertificate),
        (format!("http://{}/", reset.addr), ErrorKind::Protocol),
        (
            format!("http://missing.uptimer.test:{}/", server.addr.port()),
            ErrorKind::Dns,
        ),
    ];
    let s = ProbeSettings {
        dns_servers: vec![dns.addr],
        ..settings()
    };
    for (location, kind) in cases {
        let t = target(TargetSpec {
            timeout: Some(Duration::from_millis(500)),
            regex: Some("redirect".into()),
            ..spec(&redirect_into(&server, &location))
        });
        let e = probe_with(&s, &t).await;
        assert_down(&e, kind);
        assert_eq!(
            (e.status_code.unwrap(), e.redirects, e.matches_regex),
            (0, Some(1), Some(false)),
            "{location}: {e:?}"
        );
        assert_eq!(e.http_version, None, "{location}: {e:?}");
        if kind == ErrorKind::Dns {
            assert_eq!(e.ip, None, "the address of the hop before: {e:?}");
        }
        // The same failure met directly says the same.
        let direct = probe_with(
            &s,
            &target(TargetSpec {
                timeout: Some(Duration::from_millis(500)),
                ..spec(&location)
            }),
        )
        .await;
        assert_eq!(
            (direct.status_code.unwrap(), direct.error_kind),
            (e.status_code.unwrap(), e.error_kind),
            "{location}"
        );
    }
}

/// A target with conditions (and `degraded_if`), as the config file gives them.
fn with_conditions(url: &str, conditions: &[&str], degraded_if: &[&str]) -> Target {
    target(TargetSpec {
        conditions: conditions.iter().map(|c| (*c).to_owned()).collect(),
        degraded_if: degraded_if.iter().map(|c| (*c).to_owned()).collect(),
        ..spec(url)
    })
}

fn outcomes(e: &ProbeEvent) -> Vec<(String, bool)> {
    e.conditions
        .iter()
        .flatten()
        .map(|r| (r.condition.clone(), r.success))
        .collect()
}

#[tokio::test]
async fn conditions_read_headers_json_body_response_time_and_phases() {
    let server = http_server().await;
    let body = r#"{"status": "UP", "checks": [{"name": "db", "ok": true}]}"#;
    let url = server.url(&format!("/json/{}", body.replace(' ', "%20")));
    let conditions = [
        "[HEADER].content-type == application/json",
        "[BODY].status == UP",
        "[BODY].checks[0].name == db",
        "[RESPONSE_TIME] < 5000",
        "[CONNECT_TIME] < 5000",
        "[TTFB] >= 0",
        "[STATUS] == 200",
        "[CONNECTED] == true",
        "[IP] == 127.0.0.1",
    ];
    let e = probe(&with_conditions(&url, &conditions, &[])).await;
    assert_eq!(e.up, Some(true), "{e:?}");
    assert_eq!(e.error_kind, None, "{e:?}");
    assert_eq!(e.error, None);
    let results = e.conditions.as_ref().expect("conditions in the event");
    assert_eq!(results.len(), conditions.len());
    for (r, c) in results.iter().zip(conditions) {
        assert_eq!(r.condition, c);
        assert!(r.success, "{r:?}");
        assert_eq!(r.resolved, c, "a condition that holds reads as written");
    }
    assert_eq!(e.degraded, None, "no degraded_if: no degraded field");

    // The same route, conditions that do not hold: the first failing one is the error.
    let e = probe(&with_conditions(
        &url,
        &[
            "[STATUS] == 200",
            "[HEADER].content-type == text/html",
            "[BODY].status == DOWN",
        ],
        &[],
    ))
    .await;
    assert_down(&e, ErrorKind::Condition);
    assert_eq!(
        e.error.as_deref(),
        Some("[HEADER].content-type (application/json) == text/html")
    );
    assert_eq!(
        outcomes(&e),
        [
            ("[STATUS] == 200".to_owned(), true),
            ("[HEADER].content-type == text/html".to_owned(), false),
            ("[BODY].status == DOWN".to_owned(), false),
        ]
    );
    assert_eq!(
        e.conditions.as_ref().unwrap()[2].resolved,
        "[BODY].status (UP) == DOWN"
    );
}

#[tokio::test]
async fn a_500_is_up_with_conditions_that_do_not_mention_the_status() {
    let server = http_server().await;
    let url = server.url("/status/500");
    let e = probe(&with_conditions(
        &url,
        &["[RESPONSE_TIME] < 5000", "[BODY] == pat(status*)"],
        &[],
    ))
    .await;
    assert_eq!(e.up, Some(true), "{e:?}");
    assert_eq!(e.status_code.unwrap(), 500);
    // Without conditions, today's verdict: a 500 is down.
    assert_down(&probe(&target(spec(&url))).await, ErrorKind::HttpStatus);
    // A regex keeps its meaning (matches_regex), but no longer decides with conditions.
    let t = target(TargetSpec {
        regex: Some("^nope$".into()),
        conditions: vec!["[STATUS] == 500".into()],
        ..spec(&url)
    });
    let e = probe(&t).await;
    assert_eq!((e.up, e.matches_regex), (Some(true), Some(false)), "{e:?}");
}

#[tokio::test]
async fn a_transport_failure_keeps_its_kind_and_conditions_still_report() {
    let url = format!("http://{}/", closed_port());
    let e = probe(&with_conditions(
        &url,
        &["[CONNECTED] == false", "[STATUS] == 200"],
        &[],
    ))
    .await;
    assert_down(&e, ErrorKind::ConnectRefused);
    assert_eq!(
        outcomes(&e),
        [
            ("[CONNECTED] == false".to_owned(), true),
            ("[STATUS] == 200".to_owned(), false),
        ]
    );
}

#[tokio::test]
async fn degraded_if_marks_an_up_target_degraded_and_only_then() {
    let server = http_server().await;
    let slow = server.url("/slow/150");
    let e = probe(&with_conditions(&slow, &[], &["[RESPONSE_TIME] > 100"])).await;
    assert_eq!((e.up, e.degraded), (Some(true), Some(true)), "{e:?}");
    assert_eq!(
        e.conditions, None,
        "degraded_if alone keeps the default verdict"
    );
    let e = probe(&with_conditions(
        &slow,
        &["[STATUS] == 200"],
        &["[RESPONSE_TIME] > 60000"],
    ))
    .await;
    assert_eq!((e.up, e.degraded), (Some(true), Some(false)), "{e:?}");
    // Down is not degraded.
    let e = probe(&with_conditions(
        &server.url("/status/503"),
        &[],
        &["[RESPONSE_TIME] >= 0"],
    ))
    .await;
    assert_eq!((e.up, e.degraded), (Some(false), Some(false)), "{e:?}");
}

#[tokio::test]
async fn a_pause_maintenance_window_skips_the_rounds_of_the_targets_it_covers() {
    use uptimer::config::alerting::{AlertingNow, LiveAlerting};
    use uptimer::state::maintenance::{Mode, Schedule, Window};
    let server = http_server().await;
    let every = |path: &str, name: &str, tags: &[&str]| {
        target(TargetSpec {
            name: Some(name.into()),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            interval: Some(Interval::Every(Duration::from_millis(100))),
            ..spec(&server.url(path))
        })
    };
    let window = |mode: Mode| Window {
        name: "upgrade".into(),
        schedule: Schedule::Once(jiff::Timestamp::now() - jiff::SignedDuration::from_secs(60)),
        duration: Duration::from_secs(3600),
        timezone: jiff::tz::TimeZone::UTC,
        targets: Vec::new(),
        tags: vec!["db".into()],
        mode,
    };
    // A suppress window next to the pause one changes nothing for the probes.
    let live = LiveAlerting::new(AlertingNow {
        maintenance: Arc::from(vec![window(Mode::Pause), window(Mode::Suppress)]),
        ..AlertingNow::default()
    });
    let metrics = uptimer::metrics::Metrics::default();
    let stats = Arc::new(SchedulerStats::new(&metrics));
    let prober = Arc::new(HttpProber::new(&settings()).unwrap());
    let (tx, mut rx) = mpsc::channel(1024);
    let stop = CancellationToken::new();
    let targets = vec![
        every("/ok?db", "db", &["db"]),
        every("/ok?web", "web", &["web"]),
    ];
    let task = tokio::spawn(scheduler::run(
        prober,
        scheduler::Feed::fixed(targets).pausing_for(live.clone()),
        16,
        EventFormat::Current,
        tx,
        stop.clone(),
        stats,
    ));
    let mut seen = Vec::new();
    while seen.len() < 5 {
        match tokio::time::timeout(PATIENCE, rx.recv()).await {
            Ok(Some(Event::Probe(e))) => seen.push(e.name.clone().unwrap_or_default()),
            other => panic!("probes of web: {other:?}"),
        }
    }
    assert!(seen.iter().all(|n| n == "web"), "{seen:?}");
    assert!(metrics.scheduler.paused_rounds.get() >= 2);
    // Once the window is gone (a reload), the covered target is probed again.
    live.set(Arc::new(AlertingNow::default()));
    let db = tokio::time::timeout(PATIENCE, async {
        loop {
            if let Some(Event::Probe(e)) = rx.recv().await
                && e.name.as_deref() == Some("db")
            {
                break;
            }
        }
    })
    .await;
    assert!(db.is_ok(), "db probed after the window");
    stop.cancel();
    let _ = tokio::time::timeout(PATIENCE, task).await;
}
