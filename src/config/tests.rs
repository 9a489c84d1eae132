use super::*;

pub(super) fn load(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    Settings::load(
        None,
        &Env::from_pairs(pairs.iter().copied()),
        &Overrides::default(),
    )
}

pub(super) fn load_file(ext: &str, text: &str) -> Result<Settings, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("uptimer.{ext}"));
    std::fs::write(&path, text).unwrap();
    Settings::load(Some(&path), &Env::default(), &Overrides::default())
}

#[test]
fn defaults_match_the_original() {
    let s = load(&[]).unwrap();
    assert_eq!(s.reader, ReaderPlugin::HttpProbe);
    assert_eq!(s.writers, vec![WriterPlugin::Stdout]);
    assert_eq!(s.defaults.timeout, Duration::from_secs(10));
    assert_eq!(s.defaults.tls_verify, TlsVerify::Yes);
    assert!(s.targets.is_empty());
}

#[test]
fn one_regex_for_all_urls_or_one_each() {
    let s = load(&[
        ("PROBE_URLS", "[http://a.example, http://b.example]"),
        ("PROBE_REGEXES", "ok"),
    ])
    .unwrap();
    assert!(
        s.targets
            .iter()
            .all(|t| t.regex.as_ref().unwrap().as_str() == "ok")
    );
    let s = load(&[
        ("PROBE_URLS", "[http://a.example, http://b.example]"),
        ("PROBE_REGEXES", "[x, y]"),
    ])
    .unwrap();
    assert_eq!(s.targets[1].regex.as_ref().unwrap().as_str(), "y");
    let e = load(&[
        (
            "PROBE_URLS",
            "[http://a.example, http://b.example, http://c.example]",
        ),
        ("PROBE_REGEXES", "[x, y]"),
    ])
    .unwrap_err();
    assert_eq!(e.setting, "PROBE_REGEXES");
    assert!(e.expected.contains("3 URLs, 2 regexes"), "{e}");
    let e = load(&[("PROBE_URLS", "http://a.example"), ("PROBE_REGEXES", "(")]).unwrap_err();
    assert_eq!(e.setting, "PROBE_REGEXES");
}

#[test]
fn bad_values_name_setting_value_and_expectation() {
    let e = load(&[("PROBE_INTERVAL", "0")]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "PROBE_INTERVAL: expected a positive number of seconds (fractions allowed) or a duration such as 30s or 1m, or -1 to probe once, got \"0\""
    );
    assert_eq!(
        load(&[("PROBE_TIMEOUT", "0")]).unwrap_err().setting,
        "PROBE_TIMEOUT"
    );
    assert_eq!(
        load(&[("PROBE_TLS_VERIFY", "perhaps")])
            .unwrap_err()
            .setting,
        "PROBE_TLS_VERIFY"
    );
    let e = load(&[("PROBE_URLS", "[http://ok.example, ftp://x.example/]")]).unwrap_err();
    assert_eq!(
        (e.setting.as_str(), e.value.as_str()),
        ("PROBE_URLS[1]", "ftp://x.example/")
    );
    assert_eq!(
        load(&[("PROBE_URLS", "http://h:0/")]).unwrap_err().setting,
        "PROBE_URLS[0]"
    );
    assert_eq!(
        load(&[("WRITER_PLUGIN", "writers.nope")])
            .unwrap_err()
            .setting,
        "WRITER_PLUGIN"
    );
    assert_eq!(
        load(&[("LOG_LEVEL", "loud=[")]).unwrap_err().setting,
        "LOG_LEVEL"
    );
    assert_eq!(
        load(&[("EVENT_FORMAT", "v9")]).unwrap_err().setting,
        "EVENT_FORMAT"
    );
}

#[test]
fn fractions_and_once() {
    let s = load(&[("PROBE_INTERVAL", "0.5"), ("PROBE_TIMEOUT", "0.25")]).unwrap();
    assert_eq!(
        s.defaults.interval,
        Interval::Every(Duration::from_millis(500))
    );
    assert_eq!(s.defaults.timeout, Duration::from_millis(250));
    assert_eq!(
        load(&[("PROBE_INTERVAL", "-1")]).unwrap().defaults.interval,
        Interval::Once
    );
}

#[test]
fn queue_plugin_is_accepted_with_a_warning() {
    let s = load(&[("QUEUE_PLUGIN", "queues.memory")]).unwrap();
    assert!(s.warnings[0].contains("QUEUE_PLUGIN"));
}

#[test]
fn sharding_takes_every_total_th_target_from_index() {
    let urls = "[http://t0.example, http://t1.example, http://t2.example, http://t3.example, http://t4.example]";
    let s = load(&[
        ("PROBE_URLS", urls),
        ("DISTRIBUTED_WORKERS_ENABLED", "yes"),
        ("DISTRIBUTED_WORKERS_TOTAL", "2"),
        ("DISTRIBUTED_WORKERS_INDEX", "uptimer2-1"),
    ])
    .unwrap();
    let hosts: Vec<_> = s
        .targets
        .iter()
        .map(|t| t.hostname().into_owned())
        .collect();
    assert_eq!(hosts, ["t1.example", "t3.example"]);
    assert_eq!(s.targets_configured, 5);
    let e = load(&[
        ("PROBE_URLS", urls),
        ("DISTRIBUTED_WORKERS_ENABLED", "1"),
        ("DISTRIBUTED_WORKERS_TOTAL", "2"),
        ("DISTRIBUTED_WORKERS_INDEX", "2"),
    ])
    .unwrap_err();
    assert_eq!(e.setting, "DISTRIBUTED_WORKERS_INDEX");
    let s = load(&[
        ("PROBE_URLS", urls),
        ("DISTRIBUTED_WORKERS_ENABLED", "no"),
        ("DISTRIBUTED_WORKERS_TOTAL", "2"),
    ])
    .unwrap();
    assert_eq!(s.targets.len(), 5);
}

#[test]
fn yaml_and_toml_files_give_per_target_settings() {
    let yaml = r#"
probe:
  interval: 30
  timeout: "2.5"
  location: eu-1
targets:
  - name: api
    url: https://api.example/health
    method: head
    headers: {Authorization: "Bearer t0ken"}
    expected_status: [200, "3xx"]
    regex: ok
    interval: 5
    tls_verify: false
    tags: [prod]
  - url: http://b.example
"#;
    let s = load_file("yaml", yaml).unwrap();
    let t = &s.targets[0];
    assert_eq!((t.name.as_str(), t.method.as_str()), ("api", "HEAD"));
    assert_eq!(
        t.expected_status,
        vec![StatusRange(200, 200), StatusRange(300, 399)]
    );
    assert_eq!(t.interval, Interval::Every(Duration::from_secs(5)));
    assert_eq!(t.timeout, Duration::from_millis(2500));
    assert_eq!(t.tls_verify, TlsVerify::No);
    assert_eq!(
        s.targets[1].interval,
        Interval::Every(Duration::from_secs(30))
    );
    assert_eq!(s.probe.location.as_deref(), Some("eu-1"));

    let toml = r#"
writers = ["writers.dummy"]
[probe]
interval = -1
[[targets]]
url = "http://c.example/"
expected_status = ["2xx"]
"#;
    let s = load_file("toml", toml).unwrap();
    assert_eq!(s.writers, vec![WriterPlugin::Dummy]);
    assert_eq!(s.targets[0].interval, Interval::Once);
}

#[test]
fn unknown_file_keys_are_errors() {
    let e = load_file(
        "yaml",
        "targets:\n  - url: http://a.example\n    intervall: 5\n",
    )
    .unwrap_err();
    assert!(e.expected.contains("intervall"), "{e}");
    let e = load_file("toml", "[probe]\ntimeout_s = 3\n").unwrap_err();
    assert!(e.expected.contains("timeout_s"), "{e}");
}

#[test]
fn environment_overrides_file_defaults_but_not_per_target_values() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.yaml");
    std::fs::write(&path, "probe:\n  timeout: 3\ntargets:\n  - url: http://a.example\n  - url: http://b.example\n    timeout: 1\n").unwrap();
    let env = Env::from_pairs([("PROBE_TIMEOUT", "7")]);
    let s = Settings::load(Some(&path), &env, &Overrides::default()).unwrap();
    assert_eq!(s.targets[0].timeout, Duration::from_secs(7));
    assert_eq!(s.targets[1].timeout, Duration::from_secs(1));
}

#[test]
fn configuration_env_file_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("configuration.env");
    std::fs::write(
        &path,
        "PROBE_URLS='[http://a.example, http://b.example]'\nPROBE_INTERVAL=-1\n",
    )
    .unwrap();
    let env = Env::load(&path).unwrap();
    let s = Settings::load(None, &env, &Overrides::default()).unwrap();
    assert_eq!(s.targets.len(), 2);
    assert_eq!(s.defaults.interval, Interval::Once);
    assert!(Env::load(&dir.path().join("missing.env")).is_ok());
}

#[test]
fn a_broken_configuration_env_names_the_file_and_keeps_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("configuration.env");
    std::fs::write(&path, "PROBE_URLS='http://a.example\n").unwrap();
    let e = Env::load(&path).unwrap_err();
    let shown = e.to_string();
    assert!(
        shown.starts_with(&format!("{}: ", path.display())),
        "{shown}"
    );
    let cause = std::error::Error::source(&e).expect("the dotenv error");
    assert!(shown.ends_with(&cause.to_string()), "{shown}");
}

#[test]
fn the_example_file_documents_every_variable_and_loads() {
    let text = include_str!("../../configuration.env.example");
    for name in super::env::KNOWN {
        assert!(
            text.contains(&format!("{name}=")),
            "{name} is not documented in configuration.env.example"
        );
    }
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("configuration.env.example");
    let env = Env::load(&path).unwrap();
    Settings::load(None, &env, &Overrides::default()).unwrap();
    // bin/*.sh source it with sh: it must be valid shell too.
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(". '{}'", path.display()))
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn the_example_file_copied_to_configuration_env_sets_nothing() {
    // Every line is a comment: copied as the README says, it adds no example targets and
    // overrides nothing a config file or the defaults say.
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("configuration.env.example");
    let set: Vec<String> = dotenvy::from_path_iter(&path)
        .unwrap()
        .map(|item| item.unwrap().0)
        .collect();
    assert!(set.is_empty(), "configuration.env.example sets {set:?}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("uptimer.yaml");
    std::fs::write(
        &file,
        "writers: [writers.dummy]\nprobe: {interval: 30, timeout: 3}\nlog_level: debug\ntargets:\n  - url: http://a.example/\n",
    )
    .unwrap();
    let with = Settings::load(
        Some(&file),
        &Env::load(&path).unwrap(),
        &Overrides::default(),
    )
    .unwrap();
    assert_eq!(with.writers, vec![WriterPlugin::Dummy]);
    assert_eq!(
        with.defaults.interval,
        Interval::Every(Duration::from_secs(30))
    );
    assert_eq!(with.defaults.timeout, Duration::from_secs(3));
    assert_eq!(with.log_level, "debug");
    assert_eq!(with.targets.len(), 1);
}

#[test]
fn an_unknown_log_level_is_an_error_listing_the_levels() {
    for bad in ["infoo", "verbose", "INFOO", "info,loud", "uptimer=loud"] {
        let e = load(&[("LOG_LEVEL", bad)]).unwrap_err();
        assert_eq!(e.setting, "LOG_LEVEL", "{bad}");
        assert!(
            e.expected.contains("error, warn, info, debug, trace"),
            "{e}"
        );
    }
    let e = load_file("yaml", "log_level: verbose\n").unwrap_err();
    assert_eq!(
        (e.setting.as_str(), e.value.as_str()),
        ("log_level", "verbose")
    );
}

#[test]
fn warning_is_an_alias_of_warn_and_filters_stay_accepted() {
    assert_eq!(load(&[("LOG_LEVEL", "warning")]).unwrap().log_level, "warn");
    assert_eq!(load(&[("LOG_LEVEL", "WARNING")]).unwrap().log_level, "warn");
    assert_eq!(
        load(&[("LOG_LEVEL", "uptimer=warning,info")])
            .unwrap()
            .log_level,
        "uptimer=warn,info"
    );
    for ok in [
        "off",
        "trace",
        "info,uptimer=debug",
        "uptimer::pipeline=trace",
    ] {
        assert_eq!(load(&[("LOG_LEVEL", ok)]).unwrap().log_level, ok);
    }
}

#[test]
fn several_urls_in_one_probe_urls_item_are_an_error_saying_how_to_write_a_list() {
    for bad in [
        "http://a.example/ http://b.example/",
        "http://a.example/,http://b.example/",
        "http://a.example/, https://b.example/",
        "[http://a.example/ http://b.example/, http://c.example/]",
    ] {
        let e = load(&[("PROBE_URLS", bad)]).unwrap_err();
        assert_eq!(e.setting, "PROBE_URLS", "{bad}");
        assert!(e.expected.contains("[\"http://a/\", \"http://b/\"]"), "{e}");
    }
    // A bad URL in a list is named by its place, as the file's entries are.
    let e = load(&[("PROBE_URLS", "[http://a.example/, nope]")]).unwrap_err();
    assert_eq!(e.setting, "PROBE_URLS[1]", "{e}");
    // A comma or an encoded space inside one URL is fine.
    let s = load(&[("PROBE_URLS", "http://a.example/x%20y?ids=1,2")]).unwrap();
    assert_eq!(s.targets.len(), 1);
    // The same mistake in a config file or on the command line is an error too.
    let e = load_file(
        "yaml",
        "targets:\n  - url: http://a.example/ http://b.example/\n",
    )
    .unwrap_err();
    assert_eq!(e.setting, "targets[0].url");
}

#[test]
fn duplicate_targets_are_an_error_naming_both() {
    let e = load(&[(
        "PROBE_URLS",
        "[http://a.example/, http://b.example/, http://a.example/]",
    )])
    .unwrap_err();
    assert_eq!(e.setting, "PROBE_URLS[2]");
    assert!(e.expected.contains("PROBE_URLS[0]"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.yaml");
    std::fs::write(
        &file,
        "targets:\n  - url: http://b.example/\n  - url: http://a.example\n",
    )
    .unwrap();
    let env = Env::from_pairs([("PROBE_URLS", "http://a.example/")]);
    let e = Settings::load(Some(&file), &env, &Overrides::default()).unwrap_err();
    assert_eq!(e.setting, "PROBE_URLS[0]");
    assert!(e.expected.contains("targets[1]"), "{e}");
    // Another name makes another target.
    load_file(
        "yaml",
        "targets:\n  - url: http://a.example/\n  - url: http://a.example/\n    name: again\n",
    )
    .unwrap();
}

#[test]
fn a_timeout_not_shorter_than_the_interval_is_a_warning_naming_target_and_values() {
    let s = load(&[
        ("PROBE_URLS", "http://a.example/"),
        ("PROBE_INTERVAL", "5"),
        ("PROBE_TIMEOUT", "5"),
    ])
    .unwrap();
    assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
    let w = &s.warnings[0];
    for part in [
        "PROBE_URLS[0]",
        "http://a.example/",
        "timeout 5s",
        "interval 5s",
    ] {
        assert!(w.contains(part), "{part} not in {w}");
    }
    // The original's defaults, 10 s each, are no news to warn about.
    for ok in [("10", "5"), ("-1", "30"), ("10", "10")] {
        let s = load(&[
            ("PROBE_URLS", "http://a.example/"),
            ("PROBE_INTERVAL", ok.0),
            ("PROBE_TIMEOUT", ok.1),
        ])
        .unwrap();
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    }
    // Many such targets: one line, not one per target.
    let urls: Vec<String> = (0..50).map(|i| format!("http://t{i}.example/")).collect();
    let s = load(&[
        ("PROBE_URLS", &format!("[{}]", urls.join(", "))),
        ("PROBE_INTERVAL", "2"),
        ("PROBE_TIMEOUT", "3"),
    ])
    .unwrap();
    assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
    assert!(s.warnings[0].contains("50 targets"), "{}", s.warnings[0]);
}

#[test]
fn errors_number_targets_as_the_file_does() {
    let e = load_file(
        "yaml",
        "targets:\n  - url: http://a.example/\n  - url: ftp://b.example/\n",
    )
    .unwrap_err();
    assert_eq!(e.setting, "targets[1].url");
    let e = load_file(
        "toml",
        "[[targets]]\nurl = \"http://a.example/\"\nmethod = \"G T\"\n",
    )
    .unwrap_err();
    assert_eq!(e.setting, "targets[0].method");
}

#[test]
fn a_bad_plugin_in_the_file_is_named_as_the_file_names_it() {
    let e = load_file("yaml", "writers: [writers.stdout, writers.nope]\n").unwrap_err();
    assert_eq!(
        (e.setting.as_str(), e.value.as_str()),
        ("writers[1]", "writers.nope")
    );
    assert!(e.expected.contains("writers.sqlite"), "{e}");
    let e = load_file("toml", "reader = \"readers.nope\"\n").unwrap_err();
    assert_eq!(e.setting, "reader");
    let e = load_file("yaml", "event_format: v9\n").unwrap_err();
    assert_eq!(e.setting, "event_format");
    let e = load_file("yaml", "workers: {total: 2, index: uptimer-2}\n").unwrap_err();
    assert_eq!(e.setting, "workers.index");
    assert!(e.expected.contains("workers.total is 2"), "{e}");
}

#[test]
fn syntax_errors_say_yaml_or_toml_with_line_and_column() {
    let e = load_file("yaml", "targets:\n  - url: http://a.example/\n   name: x\n").unwrap_err();
    assert_eq!(e.setting, "--config");
    assert!(
        e.expected.contains("YAML") && e.expected.contains("line 3, column"),
        "{e}"
    );
    let e = load_file("toml", "[probe]\ntimeout = \n").unwrap_err();
    assert!(
        e.expected.contains("TOML") && e.expected.contains("line 2, column"),
        "{e}"
    );
    let e = load_file(
        "yml",
        "targets:\n  - url: http://a.example\n    intervall: 5\n",
    )
    .unwrap_err();
    assert!(
        e.expected.contains("intervall") && e.expected.contains("line 3, column"),
        "{e}"
    );
    let e = load_file(
        "toml",
        "[[targets]]\nurl = \"http://a.example\"\nintervall = 5\n",
    )
    .unwrap_err();
    assert!(
        e.expected.contains("intervall") && e.expected.contains("line 3, column"),
        "{e}"
    );
}

#[test]
fn a_file_in_the_other_format_than_its_name_says_is_reported_as_such() {
    let e = load_file(
        "yaml",
        "writers = [\"writers.dummy\"]\n[probe]\ntimeout = 3\n",
    )
    .unwrap_err();
    assert!(
        e.expected.contains("TOML") && e.expected.contains(".toml"),
        "{e}"
    );
    let e = load_file("toml", "probe:\n  timeout: 3\n").unwrap_err();
    assert!(
        e.expected.contains("YAML") && e.expected.contains(".yaml"),
        "{e}"
    );
    // Without a telling extension either format is read.
    let s = load_file("conf", "writers = [\"writers.dummy\"]\n").unwrap();
    assert_eq!(s.writers, vec![WriterPlugin::Dummy]);
    let s = load_file("conf", "writers: [writers.dummy]\n").unwrap();
    assert_eq!(s.writers, vec![WriterPlugin::Dummy]);
}

#[test]
fn whether_the_writers_were_chosen_is_known() {
    assert!(!load(&[]).unwrap().writers_chosen);
    assert!(
        load(&[("WRITER_PLUGIN", "writers.stdout")])
            .unwrap()
            .writers_chosen
    );
    assert!(
        load_file("yaml", "writers: [writers.stdout]\n")
            .unwrap()
            .writers_chosen
    );
}

#[test]
fn metrics_listen_is_off_by_default_and_read_from_env_or_file() {
    assert_eq!(
        load(&[("PROBE_URLS", "http://x")]).unwrap().metrics_listen,
        None
    );
    let s = load(&[
        ("PROBE_URLS", "http://x"),
        ("METRICS_LISTEN", "0.0.0.0:9090"),
    ])
    .unwrap();
    assert_eq!(s.metrics_listen.unwrap().to_string(), "0.0.0.0:9090");
    let s = load_file(
        "yaml",
        "metrics_listen: \":9091\"\ntargets: [{url: http://x}]\n",
    )
    .unwrap();
    assert_eq!(s.metrics_listen.unwrap().to_string(), "127.0.0.1:9091");
    let e = load(&[("PROBE_URLS", "http://x"), ("METRICS_LISTEN", "9090")]).unwrap_err();
    assert_eq!(e.setting, "METRICS_LISTEN");
    assert!(e.to_string().contains("127.0.0.1:8080"), "{e}");
}

#[test]
fn shutdown_timeout_defaults_to_ten_seconds_and_the_postgres_name_is_an_alias() {
    let s = load(&[("PROBE_URLS", "http://x")]).unwrap();
    assert_eq!(s.shutdown_timeout, Duration::from_secs(10));
    let s = load(&[
        ("PROBE_URLS", "http://x"),
        ("POSTGRES_SHUTDOWN_TIMEOUT", "3"),
    ])
    .unwrap();
    assert_eq!(s.shutdown_timeout, Duration::from_secs(3));
    let s = load(&[
        ("PROBE_URLS", "http://x"),
        ("POSTGRES_SHUTDOWN_TIMEOUT", "3"),
        ("SHUTDOWN_TIMEOUT", "2.5"),
    ])
    .unwrap();
    assert_eq!(s.shutdown_timeout, Duration::from_millis(2500));
    assert_eq!(s.postgres.shutdown_timeout, s.shutdown_timeout);
    let e = load(&[("PROBE_URLS", "http://x"), ("SHUTDOWN_TIMEOUT", "soon")]).unwrap_err();
    assert!(e.to_string().contains("SHUTDOWN_TIMEOUT"), "{e}");
}

#[test]
fn fleet_locations_from_the_file_or_the_environment() {
    assert!(load(&[]).unwrap().fleet.is_none());
    let f = load(&[("FLEET_LOCATIONS", "eu, us,ap")])
        .unwrap()
        .fleet
        .unwrap();
    assert_eq!(f.locations, vec!["eu", "us", "ap"]);
    assert_eq!(f.quorum, crate::state::quorum::Quorum::Majority);
    assert_eq!(f.round_grace, fleet::Grace::Percent(10.0));
    assert_eq!(
        (
            f.targets_topic.as_str(),
            f.verdicts_topic.as_str(),
            f.rechecks_topic.as_str(),
            f.meta_topic.as_str()
        ),
        (
            "uptimer.targets",
            "uptimer.verdicts",
            "uptimer.rechecks",
            "uptimer.meta"
        )
    );
    assert_eq!((f.targets_partitions, f.rechecks_per_second), (24, 20));
    assert_eq!(f.location, None);
    assert_eq!(f.location_ids().len(), 3);
    let f = load(&[("FLEET_LOCATIONS", "[eu, us]")])
        .unwrap()
        .fleet
        .unwrap();
    assert_eq!(f.locations, vec!["eu", "us"]);

    let yaml = "fleet:\n  locations: [eu, us, ap]\n  quorum: 2\n  quorum_by_tag: {critical: all}\n  round_grace: 5s\n  targets_topic: t.targets\n  targets_partitions: 48\n  rechecks_per_second: 0\n  impaired: {rounds: 10, share: 0.3}\nprobe: {location: us}\n";
    let f = load_file("yaml", yaml).unwrap().fleet.unwrap();
    assert_eq!(f.locations, vec!["eu", "us", "ap"]);
    assert_eq!(f.location.as_deref(), Some("us"));
    assert_eq!(f.quorum, crate::state::quorum::Quorum::AtLeast(2));
    assert_eq!(
        f.quorum_by_tag,
        vec![("critical".into(), crate::state::quorum::Quorum::All)]
    );
    assert_eq!(f.round_grace, fleet::Grace::Fixed(Duration::from_secs(5)));
    assert_eq!(
        (f.targets_topic.as_str(), f.targets_partitions),
        ("t.targets", 48)
    );
    assert_eq!(f.rechecks_per_second, 0);
    assert_eq!(
        (f.impaired.rounds, f.impaired.share, f.impaired.factor),
        (10, 0.3, 3.0)
    );
    // TOML says the same.
    let toml = "[fleet]\nlocations = [\"eu\", \"us\"]\nquorum = \"any\"\n";
    let f = load_file("toml", toml).unwrap().fleet.unwrap();
    assert_eq!(f.quorum, crate::state::quorum::Quorum::Any);
    // The environment wins over the file.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("uptimer.yaml");
    std::fs::write(&path, yaml).unwrap();
    let env = Env::from_pairs([
        ("FLEET_LOCATIONS", "us,ap"),
        ("FLEET_QUORUM", "any"),
        ("FLEET_ROUND_GRACE", "20%"),
        ("FLEET_TARGETS_TOPIC", "x.targets"),
        ("LOCATION", "ap"),
    ]);
    let f = Settings::load(Some(&path), &env, &Overrides::default())
        .unwrap()
        .fleet
        .unwrap();
    assert_eq!(f.locations, vec!["us", "ap"]);
    assert_eq!(f.location.as_deref(), Some("ap"));
    assert_eq!(f.quorum, crate::state::quorum::Quorum::Any);
    assert_eq!(f.round_grace, fleet::Grace::Percent(20.0));
    assert_eq!(f.targets_topic, "x.targets");
}

#[test]
fn fleet_locations_are_required_non_empty_and_unique() {
    let e = load(&[("FLEET_QUORUM", "2")]).unwrap_err();
    assert_eq!(e.setting, "FLEET_LOCATIONS");
    assert!(e.expected.contains("set because FLEET_QUORUM is"), "{e}");
    let e = load_file("yaml", "fleet: {quorum: 2}\n").unwrap_err();
    assert_eq!(e.setting, "fleet.locations");
    let e = load(&[("FLEET_LOCATIONS", "eu,us,eu")]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "FLEET_LOCATIONS: expected each location once (\"eu\" is listed twice), got \"eu, us, eu\""
    );
    let e = load_file("yaml", "fleet: {locations: [eu, \"us east\"]}\n").unwrap_err();
    assert_eq!(
        (e.setting.as_str(), e.value.as_str()),
        ("fleet.locations", "us east")
    );
    let e = load_file("yaml", "fleet: {locations: [eu], colour: red}\n").unwrap_err();
    assert!(e.expected.contains("colour"), "{e}");
}

#[test]
fn a_fleet_with_distributed_workers_is_an_error_naming_both() {
    let e = load(&[
        ("FLEET_LOCATIONS", "eu,us"),
        ("DISTRIBUTED_WORKERS_ENABLED", "true"),
        ("DISTRIBUTED_WORKERS_TOTAL", "2"),
        ("DISTRIBUTED_WORKERS_INDEX", "0"),
    ])
    .unwrap_err();
    assert_eq!(e.setting, "DISTRIBUTED_WORKERS_ENABLED");
    assert!(e.expected.contains("FLEET_LOCATIONS"), "{e}");
    let e = load_file(
        "yaml",
        "fleet: {locations: [eu]}\nworkers: {total: 2, index: 1}\n",
    )
    .unwrap_err();
    assert_eq!(e.setting, "workers");
    assert!(e.expected.contains("fleet.locations"), "{e}");
    // Sharding switched off is no conflict.
    assert!(
        load(&[
            ("FLEET_LOCATIONS", "eu,us"),
            ("DISTRIBUTED_WORKERS_ENABLED", "false"),
        ])
        .is_ok()
    );
}

#[test]
fn a_fleet_with_event_format_original_is_an_error() {
    let e = load(&[("FLEET_LOCATIONS", "eu,us"), ("EVENT_FORMAT", "original")]).unwrap_err();
    assert_eq!(
        (e.setting.as_str(), e.value.as_str()),
        ("EVENT_FORMAT", "original")
    );
    assert!(e.expected.starts_with("current, because a fleet"), "{e}");
    let e = load_file("yaml", "fleet: {locations: [eu]}\nevent_format: original\n").unwrap_err();
    assert_eq!(e.setting, "event_format");
}

#[test]
fn a_location_outside_fleet_locations_is_an_error() {
    let e = load(&[("FLEET_LOCATIONS", "eu,us"), ("LOCATION", "ap")]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "LOCATION: expected one of the fleet's locations (eu, us, from FLEET_LOCATIONS), got \"ap\""
    );
    let e = load_file("yaml", "fleet: {locations: [eu]}\nprobe: {location: us}\n").unwrap_err();
    assert_eq!(
        (e.setting.as_str(), e.value.as_str()),
        ("probe.location", "us")
    );
    // Without a fleet, LOCATION is any name, as before.
    assert!(load(&[("LOCATION", "ap")]).unwrap().fleet.is_none());
}

#[test]
fn round_grace_and_quorum_errors_name_the_setting() {
    let e = load(&[("FLEET_LOCATIONS", "eu"), ("FLEET_ROUND_GRACE", "150%")]).unwrap_err();
    assert_eq!(e.setting, "FLEET_ROUND_GRACE");
    assert!(e.expected.contains("10%"), "{e}");
    let e = load_file("yaml", "fleet: {locations: [eu], round_grace: soon}\n").unwrap_err();
    assert_eq!(e.setting, "fleet.round_grace");
    let e = load(&[("FLEET_LOCATIONS", "eu"), ("FLEET_QUORUM", "most")]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "FLEET_QUORUM: expected majority, all, any or a number of locations (1 or more), got \"most\""
    );
    let e = load_file("yaml", "fleet: {locations: [eu], quorum: 0}\n").unwrap_err();
    assert_eq!(
        (e.setting.as_str(), e.value.as_str()),
        ("fleet.quorum", "0")
    );
    let e = load_file(
        "yaml",
        "fleet: {locations: [eu], quorum_by_tag: {db: half}}\n",
    )
    .unwrap_err();
    assert_eq!(e.setting, "fleet.quorum_by_tag.db");
    let e = load(&[("FLEET_LOCATIONS", "eu"), ("FLEET_TARGETS_TOPIC", "a b")]).unwrap_err();
    assert_eq!(e.setting, "FLEET_TARGETS_TOPIC");
    let e = load_file("yaml", "fleet: {locations: [eu], impaired: {share: 20}}\n").unwrap_err();
    assert_eq!(e.setting, "fleet.impaired.share");
}

#[test]
fn a_tags_quorum_applies_unless_the_target_has_one() {
    use crate::state::quorum::Quorum;
    let f = load_file(
        "yaml",
        "fleet: {locations: [eu, us, ap], quorum: any, quorum_by_tag: {db: all, api: 2}}\n",
    )
    .unwrap()
    .fleet
    .unwrap();
    let tags = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(f.quorum_for(None, &tags(&["web"])), Quorum::Any);
    assert_eq!(f.quorum_for(None, &tags(&["db"])), Quorum::All);
    assert_eq!(
        f.quorum_for(Some(Quorum::Majority), &tags(&["db"])),
        Quorum::Majority
    );
    // Two tags with a quorum: the first by tag name.
    assert_eq!(
        f.quorum_for(None, &tags(&["db", "api"])),
        Quorum::AtLeast(2)
    );
}
