//! Gatus configurations read as they are: the README's example, one warning per key not
//! honoured, and the errors that stay errors.

use std::time::Duration;

use super::checks::Check;
use super::{ConfigError, Env, Interval, Overrides, Settings, TlsVerify};
use crate::event::Kind;

const EXAMPLE: &str = include_str!("../../tests/fixtures/gatus/gatus.yaml");

/// Loads `text` from a file named `gatus.yaml`, with `env` for `${VAR}`.
fn load_with(text: &str, env: &Env) -> Result<(Settings, String), ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gatus.yaml");
    std::fs::write(&path, text).unwrap();
    let s = Settings::load(Some(&path), env, &Overrides::default())?;
    Ok((s, path.display().to_string()))
}

fn load(text: &str) -> Result<(Settings, String), ConfigError> {
    load_with(text, &Env::default())
}

/// The warnings with the file's name taken off.
fn warnings(s: &Settings, file: &str) -> Vec<String> {
    s.warnings
        .iter()
        .map(|w| w.strip_prefix(&format!("{file}: ")).unwrap_or(w).to_owned())
        .collect()
}

fn every(secs: u64) -> Interval {
    Interval::Every(Duration::from_secs(secs))
}

#[test]
fn the_readme_example_is_read_with_its_kinds_tags_intervals_and_conditions() {
    let (s, file) = load(EXAMPLE).unwrap_or_else(|e| panic!("{e}"));
    let got: Vec<_> = s
        .targets
        .iter()
        .map(|t| (t.name.as_str(), t.kind, t.tags.clone(), t.interval))
        .collect();
    assert_eq!(
        got,
        vec![
            ("website", Kind::Https, vec!["core".to_owned()], every(300)),
            (
                "make-sure-header-is-rendered",
                Kind::Https,
                vec!["core".to_owned()],
                every(60)
            ),
            ("redis", Kind::Tcp, vec!["databases".to_owned()], every(30)),
            // No interval: Gatus's 60 s, not uptimer's 10 s.
            ("ping-example", Kind::Icmp, vec![], every(60)),
            (
                "example-dns-query",
                Kind::Dns,
                vec!["dns".to_owned()],
                every(60)
            ),
        ],
        "the disabled endpoint is skipped"
    );
    let conditions: Vec<Vec<&str>> = s
        .targets
        .iter()
        .map(|t| t.conditions.iter().map(|c| c.as_str()).collect())
        .collect();
    assert_eq!(
        conditions[0],
        [
            "[STATUS] == 200",
            "[BODY].status == UP",
            "[RESPONSE_TIME] < 300"
        ]
    );
    assert_eq!(
        conditions[1],
        [
            "[STATUS] == 200",
            "[BODY] == pat(*<h1>Example Domain</h1>*)"
        ]
    );
    assert_eq!(conditions[2], ["[CONNECTED] == true"]);

    let header = &s.targets[1];
    assert_eq!(header.tls_verify, TlsVerify::No, "client.insecure");
    assert_eq!(header.timeout, Duration::from_secs(5), "client.timeout");
    assert_eq!(header.headers.len(), 1);
    assert_eq!(header.headers[0].0.as_str(), "x-env");
    assert_eq!(s.targets[0].tls_verify, TlsVerify::Yes);
    assert_eq!(s.targets[0].timeout, Duration::from_secs(10));

    let dns = &s.targets[4];
    assert_eq!((&*dns.hostname(), dns.port), ("8.8.8.8", Some(53)));
    let Check::Dns(d) = &dns.check else {
        panic!("{:?}", dns.check)
    };
    assert_eq!(
        (d.query_name.as_str(), d.query_type.to_string().as_str()),
        ("example.com", "A")
    );

    assert_eq!(
        warnings(&s, &file),
        [
            "metrics: not supported yet, ignored",
            "storage: not supported yet, ignored",
            "ui: not supported yet, ignored",
            "endpoints[3].ui.hide-hostname: not supported yet, ignored",
        ]
    );
    assert!(
        s.warnings.iter().all(|w| w.starts_with(&file)),
        "{:?}",
        s.warnings
    );
}

#[test]
fn endpoints_and_targets_in_one_file_is_an_error() {
    let e = load(
        "endpoints:\n  - name: a\n    url: http://a.example/\n    conditions: ['[STATUS] == 200']\n\
         targets:\n  - url: http://b.example/\n",
    )
    .unwrap_err();
    assert_eq!(e.setting, "targets");
    assert!(e.expected.contains("not both"), "{e}");
}

#[test]
fn a_bad_condition_is_an_error_naming_the_endpoint_and_condition() {
    let e = load(
        "endpoints:\n  - name: a\n    url: http://a.example/\n    conditions: ['[STATUS] == 200']\n\
         \x20 - name: b\n    url: http://b.example/\n    conditions: ['[STATU] == 200']\n",
    )
    .unwrap_err();
    assert_eq!(e.setting, "endpoints[1].conditions[0]", "{e}");
    assert_eq!(e.value, "[STATU] == 200");
    // Indices are the file's even when an endpoint before is disabled.
    let e = load(
        "endpoints:\n  - name: a\n    enabled: false\n    url: http://a.example/\n\
         \x20 - name: b\n    url: 'gopher://b.example/'\n",
    )
    .unwrap_err();
    assert_eq!(e.setting, "endpoints[1].url", "{e}");
}

#[test]
fn every_key_not_honoured_is_one_warning_and_never_an_error() {
    let (s, file) = load(
        "announcements: [{message: hi}]\nbogus: 1\nweb: {port: 8080}\n\
         endpoints:\n\
         \x20 - name: api\n    url: http://a.example/\n    method: POST\n    body: '{}'\n\
         \x20   graphql: false\n    extra-labels: {env: prod}\n    frobnicate: 3\n\
         \x20   maintenance-windows: [{start: '23:00', duration: 1h}]\n\
         \x20   client: {proxy-url: 'http://proxy:8080', ignore-redirect: true, store-cookies: false}\n\
         \x20   ui: {hide-url: true, badge: {response-time: {thresholds: [1, 2, 3, 4, 5]}}}\n\
         \x20 - name: 2024\n    url: tcp://db.example:5432\n    method: GET\n    headers: {A: 1}\n\
         \x20   body: PING\n\
         \x20 - name: dns-echo\n    url: udp://127.0.0.1:7\n    body: hello\n\
         \x20 - name: ping6\n    url: icmp://[::1]\n    client: {network: ip6}\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        warnings(&s, &file),
        [
            "announcements: not supported yet, ignored",
            "bogus: not a Gatus or uptimer setting, ignored",
            "web: not supported yet, ignored",
            "endpoints[0].extra-labels: not supported yet, ignored",
            "endpoints[0].frobnicate: not a Gatus endpoint key, ignored",
            "endpoints[0].maintenance-windows: not supported yet, ignored",
            "endpoints[0].client.proxy-url: not supported yet, ignored",
            "endpoints[0].client.ignore-redirect: not supported yet, ignored (redirects are \
             followed up to probe.max_redirects; 0 follows none, for every target)",
            "endpoints[0].ui.hide-url: not supported yet, ignored",
            "endpoints[0].ui.badge: not supported yet, ignored",
            "endpoints[0].body: not supported yet, ignored (uptimer sends no request body yet)",
            "endpoints[1].method: only for HTTP endpoints, ignored (as Gatus does)",
            "endpoints[1].headers: only for HTTP endpoints, ignored (as Gatus does)",
            "endpoints[1].body: not supported yet, ignored (write the dialog as \
             tcp.query_response steps in an uptimer file)",
        ]
    );
    assert_eq!(s.targets.len(), 4);
    assert_eq!(s.targets[0].method.as_str(), "POST");
    assert_eq!(
        s.targets[1].name, "2024",
        "a number read as text, as Gatus reads it"
    );
    let Check::Udp(u) = &s.targets[2].check else {
        panic!()
    };
    assert_eq!(u.body, b"hello");
    let Check::Icmp(i) = &s.targets[3].check else {
        panic!()
    };
    assert!(!i.addr.fallback, "{:?}", i.addr);
}

#[test]
fn environment_variables_are_expanded_as_gatus_does() {
    let env = Env::from_pairs([("GATUS_TEST_HOST", "127.0.0.1:8080")]);
    let (s, file) = load_with(
        "endpoints:\n  - name: api\n    url: http://${GATUS_TEST_HOST}/h\n    \
         conditions: ['[BODY] == pat(*$$*)']\n  - name: b$GATUS_TEST_UNSET_X\n    url: http://b.example/\n",
        &env,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.targets[0].url.as_str(), "http://127.0.0.1:8080/h");
    assert_eq!(s.targets[0].conditions[0].as_str(), "[BODY] == pat(*$*)");
    assert_eq!(s.targets[1].name, "b");
    assert_eq!(
        warnings(&s, &file),
        ["$GATUS_TEST_UNSET_X is not set: it is expanded to an empty string, as Gatus does"]
    );
}

#[test]
fn our_own_settings_are_honoured_in_a_gatus_file_and_concurrency_is_gatus_s() {
    let (s, _) = load(
        "writers: [writers.stdout]\nprobe: {location: lab}\nconcurrency: 7\n\
         endpoints:\n  - name: a\n    url: http://a.example/\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.probe.location.as_deref(), Some("lab"));
    assert_eq!(s.probe.concurrency, 7);
    assert!(s.writers_chosen);
    // A type error in our own settings stays an error.
    assert!(load("probe: {concurrency: many}\nendpoints: []\n").is_err());
}

#[test]
fn a_gatus_maintenance_section_is_one_window_and_no_warning() {
    let (s, file) = load(
        "maintenance:\n  start: '23:00'\n  duration: 1h\n  timezone: Europe/Amsterdam\n  \
         every: [Monday, Thursday]\n\
         endpoints:\n  - name: api\n    url: http://a.example/\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(warnings(&s, &file), Vec::<String>::new());
    let windows = s.alerting.live.get().maintenance.clone();
    assert_eq!(windows.len(), 1, "{windows:?}");
    let w = &windows[0];
    assert_eq!(w.duration, Duration::from_secs(3600));
    assert_eq!(w.timezone.iana_name(), Some("Europe/Amsterdam"));
    assert!(w.targets.is_empty() && w.tags.is_empty(), "every endpoint");
    assert_eq!(w.mode, crate::state::maintenance::Mode::Suppress);
}

#[test]
fn files_without_endpoints_keep_unknown_keys_as_errors() {
    let e = super::tests::load_file(
        "yaml",
        "targets:\n  - url: http://a.example/\n    notify: []\n",
    )
    .unwrap_err();
    assert!(e.to_string().contains("notify"), "{e}");
}

#[test]
fn alerting_providers_become_channels_and_endpoint_alerts_rules_with_gatus_defaults() {
    let (s, file) = load(
        "alerting:\n  slack:\n    webhook-url: https://hooks.slack.example/T/B/x\n    \
         default-alert:\n      failure-threshold: 5\n      description: from the default\n  \
         pagerduty: {integration-key: abc}\n  \
         email: {from: up@example.com, host: mail.example.com, port: 587, to: 'a@example.com,b@example.com', password: pw}\n  custom:\n    \
         url: https://hooks.example/in\n    body: '{}'\n\
         endpoints:\n  - name: a\n    url: http://a.example/\n    conditions: ['[STATUS] == 200']\n    \
         alerts:\n      - type: slack\n      - type: pagerduty\n        failure-threshold: 2\n        \
         provider-override: {integration-key: x}\n      - type: custom\n        send-on-resolved: true\n      \
         - type: email\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let kinds: Vec<_> = s
        .alerting
        .channels
        .values()
        .map(|c| (c.name.as_str(), c.kind.name()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("custom", "webhook"),
            ("email", "email"),
            ("pagerduty", "pagerduty"),
            ("slack", "slack")
        ]
    );
    let rules = &s.targets[0].profile.alerts;
    let got: Vec<_> = rules
        .iter()
        .map(|r| {
            (
                r.key.as_str(),
                r.threshold,
                r.send_on_resolved,
                r.description.as_deref(),
            )
        })
        .collect();
    use crate::state::rules::Threshold::Consecutive;
    assert_eq!(
        got,
        [
            // Gatus's default: no resolve to a chat channel; the provider's default-alert.
            ("slack", Consecutive(5), false, Some("from the default")),
            // PagerDuty and the webhook always get the resolve.
            ("pagerduty", Consecutive(2), true, None),
            ("custom", Consecutive(3), true, None),
            // Email follows send-on-resolved, Gatus's default false.
            ("email", Consecutive(3), false, None),
        ]
    );
    let mail = s.alerting.channels["email"].email.as_deref().unwrap();
    assert_eq!((mail.host.as_str(), mail.port), ("mail.example.com", 587));
    assert_eq!(mail.to.len(), 2);
    // Gatus logs in as the sender when no username is given.
    assert_eq!(
        s.alerting.channels["email"].username.as_deref(),
        Some("up@example.com")
    );
    assert_eq!(
        warnings(&s, &file),
        [
            "alerting.custom.body: not supported yet, ignored",
            "endpoints[0].alerts[1].provider-override: not supported yet, ignored",
        ]
    );
}
