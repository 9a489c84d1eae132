use super::*;
use crate::event::{ErrorKind, ProbeEvent};

/// Every family `/metrics` exported before the move to prometheus-client, with its type:
/// dashboards and alert rules depend on these names.
const EXPORTED_BEFORE: [(&str, &str); 15] = [
    ("uptimer_build_info", "gauge"),
    ("uptimer_probes_started_total", "counter"),
    ("uptimer_scheduler_skipped_rounds_total", "counter"),
    ("uptimer_probes_total", "counter"),
    ("uptimer_probe_errors_total", "counter"),
    ("uptimer_writer_events_total", "counter"),
    ("uptimer_writer_duplicate_events_total", "counter"),
    ("uptimer_writer_batches_total", "counter"),
    ("uptimer_writer_errors_total", "counter"),
    ("uptimer_writer_retries_total", "counter"),
    ("uptimer_events_dropped_total", "counter"),
    ("uptimer_events_spilled_total", "counter"),
    ("uptimer_writer_queue_depth", "gauge"),
    ("uptimer_probe_duration_seconds", "histogram"),
    ("uptimer_writer_batch_seconds", "histogram"),
];

fn types(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_once(' '))
        .map(|(n, t)| (n.to_owned(), t.to_owned()))
        .collect()
}

fn encoded(m: &Metrics) -> String {
    let mut out = String::new();
    m.encode(&mut out);
    out
}

#[test]
fn every_family_exported_before_keeps_its_name_type_and_labels() {
    let m = Metrics::new(Sections::ALL);
    let _ = m.writer("writers.sqlite");
    let out = encoded(&m);
    let found = types(&out);
    for (name, kind) in EXPORTED_BEFORE {
        assert!(
            found.iter().any(|(n, t)| n == name && t == kind),
            "{name} ({kind}) is missing:\n{out}"
        );
    }
    // The labels they had, with every value they had.
    assert!(
        out.contains("uptimer_probes_total{result=\"up\"} 0\n"),
        "{out}"
    );
    assert!(
        out.contains("uptimer_probes_total{result=\"down\"} 0\n"),
        "{out}"
    );
    for k in ErrorKind::ALL {
        let line = format!("uptimer_probe_errors_total{{kind=\"{}\"}} 0\n", k.as_str());
        assert!(out.contains(&line), "{line} missing:\n{out}");
    }
    for p in PHASES {
        let line = format!("uptimer_probe_duration_seconds_count{{phase=\"{p}\"}} 0\n");
        assert!(out.contains(&line), "{line} missing:\n{out}");
    }
    let version = format!(
        "uptimer_build_info{{version=\"{}\"}} 1\n",
        env!("CARGO_PKG_VERSION")
    );
    assert!(out.contains(&version), "{out}");
    assert!(out.contains("uptimer_events_dropped_total 0\n"), "{out}");
    // Help texts end with exactly one period.
    assert!(!out.contains(".."), "{out}");
}

#[test]
fn a_process_leaves_out_what_it_does_not_do() {
    let read_only = encoded(&Metrics::new(Sections::default()));
    let names: Vec<_> = types(&read_only).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["uptimer_build_info"], "{read_only}");
    let consumer = Metrics::new(Sections {
        reading: true,
        consuming: true,
        writing: true,
        probing: false,
        heartbeat: false,
    });
    let _ = consumer.writer("writers.postgres");
    consumer.consumer_lag.report(&[("events", 2, 9)]);
    let out = encoded(&consumer);
    assert!(!out.contains("uptimer_probes_total"), "{out}");
    assert!(!out.contains("uptimer_heartbeat_sent_total"), "{out}");
    // Nothing waits in a writer's memory since batches are acknowledged when durable.
    assert!(!out.contains("uptimer_writer_buffered_events"), "{out}");
    assert!(
        out.contains("uptimer_consumer_lag{topic=\"events\",partition=\"2\"} 9\n"),
        "{out}"
    );
}

#[test]
fn probes_are_counted_with_cumulative_phase_buckets() {
    let m = Metrics::default();
    let mut e = ProbeEvent::new(time::OffsetDateTime::now_utc(), "http", "h", Some(80));
    e.response_time_ms = 20;
    e.error_kind = Some(ErrorKind::Timeout);
    for up in [true, false, false] {
        m.probes.record(&e, up);
    }
    assert_eq!(m.probes.verdicts(), (1, 2));
    let out = encoded(&m);
    assert!(
        out.contains("uptimer_probes_total{result=\"down\"} 2\n"),
        "{out}"
    );
    assert!(
        out.contains("uptimer_probe_errors_total{kind=\"timeout\"} 3\n"),
        "{out}"
    );
    for (le, n) in [("0.01", 0), ("0.025", 3), ("30", 3), ("+Inf", 3)] {
        let line =
            format!("uptimer_probe_duration_seconds_bucket{{phase=\"total\",le=\"{le}\"}} {n}\n");
        assert!(out.contains(&line), "{line} missing:\n{out}");
    }
    assert!(
        out.contains("uptimer_probe_duration_seconds_sum{phase=\"total\"} 0.06\n"),
        "{out}"
    );
}

#[test]
fn writer_handles_share_series_and_their_up_flag_is_readiness() {
    let m = Metrics::default();
    let a = m.writer("writers.postgres");
    let b = m.writer("writers.postgres");
    a.acked.add(3);
    b.acked.add(4);
    assert_eq!(m.readiness.not_ready(), ["writers.postgres"]);
    b.up.set(true);
    assert!(m.readiness.not_ready().is_empty());
    a.failed();
    assert_eq!(m.readiness.not_ready(), ["writers.postgres"]);
    let out = encoded(&m);
    assert!(
        out.contains("uptimer_events_acked_total{writer=\"writers.postgres\"} 7\n"),
        "{out}"
    );
    assert!(
        out.contains("uptimer_writer_up{writer=\"writers.postgres\"} 0\n"),
        "{out}"
    );
    let last_error = out
        .lines()
        .find_map(|l| {
            l.strip_prefix(
                "uptimer_writer_last_error_timestamp_seconds{writer=\"writers.postgres\"} ",
            )
        })
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or_default();
    assert!(last_error > 1.7e9, "{out}");
}

#[test]
fn label_values_are_escaped() {
    let m = Metrics::default();
    m.reader("a\"b\\c\nd").events.inc();
    let out = encoded(&m);
    assert!(
        out.contains("uptimer_reader_events_total{reader=\"a\\\"b\\\\c\\nd\"} 1\n"),
        "{out}"
    );
}

#[test]
fn heartbeat_counters_are_exported_as_totals() {
    let m = Metrics::new(Sections::ALL);
    m.heartbeat.sent.add(3);
    m.heartbeat.failed.inc();
    m.heartbeat.withheld.add(2);
    let out = encoded(&m);
    for line in [
        "uptimer_heartbeat_sent_total 3\n",
        "uptimer_heartbeat_failed_total 1\n",
        "uptimer_heartbeat_withheld_total 2\n",
    ] {
        assert!(out.contains(line), "{line}: {out}");
    }
}
