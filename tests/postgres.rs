//! writers.postgres and `uptimer migrate` against a real PostgreSQL: each test makes its own
//! database (or its own private cluster when it stops the server) and drops it after.

mod support;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::Value;
use time::OffsetDateTime;
use time::macros::datetime;
use tokio_postgres::Client;
use uptimer::config::{DatabaseUrl, PostgresSettings};
use uptimer::event::{
    ConditionResult, DummyEvent, ErrorKind, Event, Phases, ProbeEvent, Verdict, VerdictEvent,
};
use uptimer::postgres::{ConnectOptions, migrate, partitions};
use uptimer::writers::Writer;
use uptimer::writers::postgres::{Options, PostgresWriter, Source};

use support::pg::{self, PrivateCluster, TestDb, migrated};
use support::{PATIENCE, eventually, holds_within};

fn settings(url: &str) -> PostgresSettings {
    PostgresSettings {
        database_url: Some(DatabaseUrl::new(url)),
        ..PostgresSettings::default()
    }
}

/// A probe event with every field set (even `i`) or only the original's (odd `i`).
fn probe(i: usize, at: OffsetDateTime) -> ProbeEvent {
    let mut e = ProbeEvent::new(at, "https", &format!("host{}.example", i % 7), Some(443));
    e.path = format!("/p/{i}");
    e.status_code = Some(200 + (i % 5) as u16);
    e.response_time_ms = (i % 1000) as u64;
    e.regex = i.is_multiple_of(3).then(|| "ok".to_owned());
    e.matches_regex = i.is_multiple_of(3).then_some(i.is_multiple_of(2));
    if i.is_multiple_of(2) {
        e.error = Some(format!("error {i}"));
        e.url = Some(format!("https://host{}.example/p/{i}", i % 7));
        e.target = Some(format!("target{}", i % 7));
        e.name = Some(format!("name {}", i % 7));
        e.location = Some("eu-1".into());
        e.up = Some(i.is_multiple_of(4));
        e.error_kind = Some(ErrorKind::ALL[i % ErrorKind::ALL.len()]);
        e.phases_ms = Some(Phases {
            dns: Some(i as f64 / 8.0),
            connect: Some(1.5),
            tls: None,
            ttfb: Some(2.25),
            transfer: Some(0.125),
        });
        e.ip = Some("192.0.2.1".into());
        e.http_version = Some("HTTP/2".into());
        e.body_bytes = Some(i as u64 * 1000);
        e.redirects = Some((i % 3) as u32);
        e.tls_cert_not_after = Some(datetime!(2027-01-15 23:59:59 UTC));
        // Every other full event has conditions (one of three failing) and degraded_if.
        if i.is_multiple_of(4) {
            e.conditions = Some(conditions(i));
            e.degraded = Some(i.is_multiple_of(8));
        }
        // A fleet's round (0.6.0), and every third one a recheck's.
        e.round = Some(29_955_600 + i as i64);
        e.recheck = i.is_multiple_of(6).then_some(true);
    }
    e
}

/// Two conditions, the second failing for every third `i`, with what a hostile body says.
fn conditions(i: usize) -> Vec<ConditionResult> {
    let fails = i.is_multiple_of(3);
    let body = format!("<b>\"DOWN\" {i}</b> é \\ \u{2028}");
    vec![
        ConditionResult {
            condition: "[STATUS] == 200".into(),
            success: true,
            resolved: "[STATUS] == 200".into(),
        },
        ConditionResult {
            condition: "[BODY].status == UP".into(),
            success: !fails,
            resolved: if fails {
                format!("[BODY].status ({body}) == UP")
            } else {
                "[BODY].status == UP".into()
            },
        },
    ]
}

fn events(n: usize, offset: usize) -> Vec<Event> {
    let now = OffsetDateTime::now_utc();
    (0..n)
        .map(|i| {
            let t = now - time::Duration::milliseconds((i % 100_000) as i64 * 10);
            Event::from(probe(i + offset, t))
        })
        .collect()
}

async fn count(c: &Client, sql: &str) -> i64 {
    c.query_one(sql, &[]).await.unwrap().get(0)
}

/// Each stored probe event's round and recheck, by uuid.
async fn rounds_stored(
    c: &tokio_postgres::Client,
) -> HashMap<uuid::Uuid, (Option<i64>, Option<bool>)> {
    c.query("SELECT uuid, round, recheck FROM probe_events", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2))))
        .collect()
}

/// `events` as one segment of the writer's spool under `data_dir`, as a writer that stopped
/// with them unwritten leaves them: the next writer there drains them first.
fn spool(data_dir: &Path, events: &[Event]) {
    let spool = data_dir.join("spool/postgres");
    std::fs::create_dir_all(&spool).unwrap();
    let lines: String = events
        .iter()
        .map(|e| serde_json::to_string(&e.to_json()).unwrap() + "\n")
        .collect();
    let segment = format!("00000000000000000001-000000-{}.jsonl", events.len());
    std::fs::write(spool.join(segment), lines).unwrap();
}

async fn writer(url: &str, data_dir: &Path, source: Source) -> PostgresWriter {
    let mut s = settings(url);
    s.shutdown_timeout = Duration::from_secs(20);
    PostgresWriter::new(
        &s,
        data_dir,
        Options {
            source,
            ..Options::default()
        },
    )
    .await
    .expect("writer starts")
}

/// The logical schema: tables (not partitions), columns, constraints, indexes, comments,
/// domains, and the daily partitions' names.
async fn schema(c: &Client) -> Vec<String> {
    let queries = [
        "SELECT format('table %s partitioned=%s', c.relname, c.relkind = 'p')
           FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace
            AND c.relkind IN ('r','p') AND NOT c.relispartition",
        "SELECT format('column %s.%s %s notnull=%s default=%s comment=%s', c.relname, a.attname,
                format_type(a.atttypid, a.atttypmod), a.attnotnull,
                pg_get_expr(d.adbin, d.adrelid), col_description(c.oid, a.attnum))
           FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
           LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
          WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r','p')
            AND NOT c.relispartition AND a.attnum > 0 AND NOT a.attisdropped",
        "SELECT format('constraint %s.%s %s', c.relname, k.conname, pg_get_constraintdef(k.oid))
           FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
          WHERE c.relnamespace = 'public'::regnamespace AND NOT c.relispartition",
        "SELECT format('index %s', pg_get_indexdef(i.indexrelid))
           FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
          WHERE c.relnamespace = 'public'::regnamespace AND NOT c.relispartition",
        "SELECT format('domain %s %s %s', t.typname, format_type(t.typbasetype, NULL),
                (SELECT string_agg(pg_get_constraintdef(k.oid), ',') FROM pg_constraint k WHERE k.contypid = t.oid))
           FROM pg_type t WHERE t.typnamespace = 'public'::regnamespace AND t.typtype = 'd'",
        "SELECT format('partition %s', c.relname) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
          WHERE c.relname <> 'probe_events_legacy' AND c.relkind = 'r'",
    ];
    let mut out = Vec::new();
    for q in queries {
        for r in c.query(q, &[]).await.unwrap() {
            out.push(r.get::<_, String>(0));
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn postgres_migrate_up_down_up_on_an_empty_database() {
    let db = TestDb::new().await;
    let mut c = db.client().await;
    let applied = migrate::up(&mut c).await.unwrap();
    assert_eq!(applied.len(), migrate::FILES.len());
    partitions::maintain(&mut c, None).await.unwrap();
    let first = schema(&c).await;
    assert!(
        first
            .iter()
            .any(|l| l == "table probe_events partitioned=t"),
        "{first:#?}"
    );
    assert!(
        first.iter().any(|l| l.starts_with("column targets.tags")),
        "{first:#?}"
    );
    assert!(
        first.iter().any(|l| l == "partition probe_events_default"),
        "{first:#?}"
    );
    assert!(
        first
            .iter()
            .any(|l| l.starts_with("column dummy_events.integer_value numeric")),
        "{first:#?}"
    );
    for want in [
        "table verdicts partitioned=f",
        "constraint verdicts.pk_verdicts PRIMARY KEY (target_id, round)",
        "column verdicts.impaired_locations text[] notnull=t default='{}'::text[] comment=uptimer: from impaired",
        "index CREATE INDEX idx_verdicts_decided ON public.verdicts USING btree (decided_at)",
    ] {
        assert!(first.iter().any(|l| l == want), "{want}: {first:#?}");
    }
    assert!(
        migrate::up(&mut c).await.unwrap().is_empty(),
        "up twice applies nothing"
    );

    for m in migrate::migrations().iter().rev() {
        assert_eq!(migrate::down(&mut c).await.unwrap(), Some(m.file.clone()));
    }
    assert_eq!(migrate::down(&mut c).await.unwrap(), None);
    assert_eq!(
        count(&c, "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r','p') AND relname <> 'schema_migrations'").await,
        0,
        "down removes everything up made"
    );
    assert_eq!(count(&c, "SELECT count(*) FROM schema_migrations").await, 0);

    migrate::up(&mut c).await.unwrap();
    partitions::maintain(&mut c, None).await.unwrap();
    assert_eq!(
        schema(&c).await,
        first,
        "up after down gives the same schema"
    );
}

/// Applies the original's four migrations the way dbmate does.
async fn original_dbmate_up(c: &mut Client) {
    c.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version varchar(128) PRIMARY KEY)",
    )
    .await
    .unwrap();
    for m in migrate::migrations().into_iter().take(4) {
        let tx = c.transaction().await.unwrap();
        tx.batch_execute(&m.up).await.unwrap();
        tx.execute(
            "INSERT INTO schema_migrations (version) VALUES ($1)",
            &[&m.version],
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
}

const ORIGINAL_ROWS: &str = "SELECT md5(string_agg(format('%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s',
        uuid, event_time, schema_title, schema_version, protocol, hostname, port, path, status_code,
        response_time_ms, error, regex, matches_regex), ',' ORDER BY uuid)), count(*)
    FROM probe_events";

#[tokio::test]
async fn postgres_database_of_the_original_is_upgraded_in_place_and_matches_a_fresh_one() {
    let old = TestDb::new().await;
    let mut c = old.client().await;
    original_dbmate_up(&mut c).await;
    // Rows as the original's writer stored them, over the last three days.
    c.batch_execute(
        "INSERT INTO probe_events (uuid, event_time, schema_title, schema_version, protocol, hostname, port, path, status_code, response_time_ms, error, regex, matches_regex)
         SELECT gen_random_uuid(), now() - (i || ' minutes')::interval, 'ProbeEvent', '0.2.0', 'https',
                'host' || (i % 10) || '.example', 443, '/', 200, i % 500, '', CASE WHEN i % 2 = 0 THEN 'ok' END,
                CASE WHEN i % 2 = 0 THEN true END
           FROM generate_series(1, 3000) AS i;
         INSERT INTO dummy_events VALUES (gen_random_uuid(), now(), 'DummyEvent', '0.1.0', 'readers.dummy', 'writers.postgres', 7, 0.5);",
    )
    .await
    .unwrap();
    let before = c.query_one(ORIGINAL_ROWS, &[]).await.unwrap();
    let filenode: i64 = c
        .query_one("SELECT pg_relation_filenode('probe_events')::int8", &[])
        .await
        .unwrap()
        .get(0);

    let applied = migrate::up(&mut c).await.unwrap();
    assert_eq!(applied.len(), migrate::FILES.len() - 4, "{applied:?}");
    partitions::maintain(&mut c, None).await.unwrap();

    let after = c.query_one(ORIGINAL_ROWS, &[]).await.unwrap();
    assert_eq!(after.get::<_, i64>(1), 3000);
    assert_eq!(
        before.get::<_, String>(0),
        after.get::<_, String>(0),
        "every row kept as it was"
    );
    let legacy: i64 = c
        .query_one(
            "SELECT pg_relation_filenode('probe_events_legacy')::int8 FROM pg_inherits
              WHERE inhrelid = 'probe_events_legacy'::regclass AND inhparent = 'probe_events'::regclass",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        legacy, filenode,
        "the original table is attached as a partition, not copied"
    );
    assert_eq!(
        count(
            &c,
            "SELECT count(*) FROM dummy_events WHERE integer_value = 7"
        )
        .await,
        1
    );

    let fresh = TestDb::new().await;
    let f = migrated(&fresh.url).await;
    // The same logical schema; only the daily partitions that the original's table already
    // covers (its rows reach today) are not made.
    let tables = |s: Vec<String>| -> Vec<String> {
        s.into_iter()
            .filter(|l| !l.starts_with("partition "))
            .collect()
    };
    let (upgraded, fresh_schema) = (schema(&c).await, schema(&f).await);
    assert_eq!(tables(upgraded.clone()), tables(fresh_schema.clone()));
    let tomorrow = OffsetDateTime::now_utc().date().next_day().unwrap();
    for l in fresh_schema.iter().filter(|l| l.starts_with("partition ")) {
        let day = l.trim_start_matches("partition probe_events_p");
        if l.ends_with("_default")
            || day >= partitions::partition_name("", tomorrow).trim_start_matches("_p")
        {
            assert!(
                upgraded.contains(l),
                "{l} missing after the upgrade: {upgraded:#?}"
            );
        }
    }

    // And the upgraded database takes new events.
    let dir = tempfile::tempdir().unwrap();
    let mut w = writer(&old.url, dir.path(), Source::Prober).await;
    w.write_and_wait(&events(100, 0)).await.unwrap();
    w.close().await.unwrap();
    assert_eq!(count(&c, "SELECT count(*) FROM probe_events").await, 3100);
    assert_eq!(count(&c, "SELECT count(*) FROM targets").await, 7);
}

/// The migration adding `conditions` and `degraded` (ProbeEvent 0.4.0).
const CONDITIONS_MIGRATION: &str = "20261202000000";

/// Applies the migrations before `version` as dbmate would.
async fn migrate_before(c: &mut Client, version: &str) {
    c.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version varchar(128) PRIMARY KEY)",
    )
    .await
    .unwrap();
    let done = migrate::applied(c).await.unwrap();
    for m in migrate::migrations()
        .into_iter()
        .filter(|m| m.version.as_str() < version && !done.contains(&m.version))
    {
        let tx = c.transaction().await.unwrap();
        tx.batch_execute(&m.up).await.unwrap();
        tx.execute(
            "INSERT INTO schema_migrations (version) VALUES ($1)",
            &[&m.version],
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
}

/// A check of target `t1` `ago` minutes ago, with conditions (one failing) and degraded.
fn conditioned(ago: i64) -> ProbeEvent {
    let at = OffsetDateTime::now_utc() - time::Duration::minutes(ago);
    let mut e = ProbeEvent::new(at, "https", "t1.example", Some(443));
    e.target = Some("t1".into());
    e.up = Some(false);
    e.status_code = Some(200);
    e.error_kind = Some(ErrorKind::Condition);
    e.error = Some(conditions(3)[1].resolved.clone());
    e.conditions = Some(conditions(3));
    e.degraded = Some(false);
    e
}

#[tokio::test]
async fn postgres_an_upgrade_adds_conditions_to_every_partition_and_older_rows_have_none() {
    // A database of the original with a row, migrated up to the schema before conditions,
    // with rows as that version's writer stored them in each kind of partition: the
    // original's table attached (10 days ago), a daily one (today), DEFAULT (60 days ahead).
    let db = TestDb::new().await;
    let mut c = db.client().await;
    original_dbmate_up(&mut c).await;
    c.batch_execute(
        "INSERT INTO probe_events (uuid, event_time, schema_title, schema_version, protocol, hostname, port, path, status_code, response_time_ms)
         VALUES (gen_random_uuid(), now() - interval '3 days', 'ProbeEvent', '0.2.0', 'https', 't1.example', 443, '/', 200, 5)",
    )
    .await
    .unwrap();
    migrate_before(&mut c, CONDITIONS_MIGRATION).await;
    partitions::maintain(&mut c, None).await.unwrap();
    c.batch_execute("INSERT INTO targets (id, first_seen, last_seen) VALUES ('t1', now(), now())")
        .await
        .unwrap();
    let mut before = Vec::new();
    for ago_minutes in [10 * 24 * 60, 10, -60 * 24 * 60] {
        let e = conditioned(ago_minutes);
        c.execute(
            "INSERT INTO probe_events (uuid, event_time, schema_title, schema_version, protocol,
                hostname, port, path, status_code, response_time_ms, up, error_kind, error, target_id)
             VALUES ($1, $2, 'ProbeEvent', '0.3.0', 'https', 't1.example', 443, '/', 200, 5,
                false, 'condition', $3, 't1')",
            &[&e.envelope.uuid, &e.envelope.event_time, &e.error],
        )
        .await
        .unwrap();
        before.push(e.envelope.uuid.to_string());
    }
    let placed: Vec<String> = c
        .query(
            "SELECT tableoid::regclass::text FROM probe_events WHERE target_id = 't1'
              ORDER BY event_time",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(placed[0], "probe_events_legacy");
    assert!(placed[1].starts_with("probe_events_p"), "{placed:?}");
    assert_eq!(placed[2], "probe_events_default");

    let applied = migrate::up(&mut c).await.unwrap();
    assert!(applied[0].starts_with(CONDITIONS_MIGRATION), "{applied:?}");
    let partitions: Vec<String> = c
        .query(
            "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
              WHERE i.inhparent = 'probe_events'::regclass ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(partitions.len() > 3, "{partitions:?}");
    for p in &partitions {
        let types: Vec<String> = c
            .query(
                "SELECT format_type(atttypid, atttypmod) FROM pg_attribute
                  WHERE attrelid = $1::text::regclass AND attname IN ('conditions', 'degraded')
                  ORDER BY attname",
                &[p],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(types, ["jsonb", "boolean"], "{p}");
    }

    // The writer stores them now; the store reads older rows as without conditions.
    let dir = tempfile::tempdir().unwrap();
    let mut w = writer(&db.url, dir.path(), Source::Prober).await;
    let after = conditioned(5);
    w.write_and_wait(&[Event::from(after.clone())])
        .await
        .unwrap();
    w.close().await.unwrap();
    let store = uptimer::store::PostgresStore::open(&db.url, None, 2)
        .await
        .unwrap();
    use uptimer::store::Store;
    let rows = store.events("t1", i64::MIN, i64::MAX, 10).await.unwrap();
    let got: Vec<(String, Option<Vec<ConditionResult>>, Option<bool>)> = rows
        .into_iter()
        .map(|r| (r.uuid, r.conditions, r.degraded))
        .collect();
    assert_eq!(
        got,
        [
            (before[2].clone(), None, None),
            (
                after.envelope.uuid.to_string(),
                after.conditions,
                Some(false)
            ),
            (before[1].clone(), None, None),
            (before[0].clone(), None, None),
        ]
    );
    assert_eq!(
        count(
            &c,
            "SELECT count(*) FROM probe_events WHERE conditions IS NULL"
        )
        .await,
        4,
        "the original's row, and the three written before the migration"
    );
}

#[tokio::test]
async fn postgres_a_nul_character_from_a_body_is_stored_as_a_replacement_character() {
    // PostgreSQL's text and jsonb cannot hold U+0000, and a body's value shows up in the
    // resolved conditions and the error: the event is stored with U+FFFD in its place, from a
    // typed event as from its JSON document in the spool, rather than rejected.
    let mut e = conditioned(1);
    let resolved = "[BODY].status (DO\u{0}WN) == UP".to_owned();
    e.error = Some(resolved.clone());
    e.conditions.as_mut().unwrap()[1].resolved = resolved;
    let shown = "[BODY].status (DO\u{FFFD}WN) == UP";
    let mut from_json = e.clone();
    from_json.envelope.uuid = uuid::Uuid::new_v4();

    let db = TestDb::new().await;
    let c = migrated(&db.url).await;
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool/postgres");
    std::fs::create_dir_all(&spool).unwrap();
    let line = serde_json::to_string(&Event::from(from_json).to_json()).unwrap();
    assert!(line.contains("\\u0000"), "{line}");
    std::fs::write(
        spool.join("00000000000000000001-000000-1.jsonl"),
        line + "\n",
    )
    .unwrap();
    let mut w = writer(&db.url, dir.path(), Source::Prober).await;
    w.write_and_wait(&[Event::from(e)]).await.unwrap();
    w.close().await.unwrap();
    assert_eq!(w.health().rejected.load(Ordering::Relaxed), 0);
    let rows = c
        .query(
            "SELECT error, conditions -> 1 ->> 'resolved' FROM probe_events",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    for r in rows {
        assert_eq!(r.get::<_, String>(0), shown);
        assert_eq!(r.get::<_, String>(1), shown);
    }
    // And in the target's live state and its incident.
    for sql in [
        "SELECT last_error FROM targets",
        "SELECT error FROM incidents",
    ] {
        let got: Vec<String> = c
            .query(sql, &[])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(got, [shown], "{sql}");
    }
}

fn as_json(e: &Event) -> serde_json::Map<String, Value> {
    e.to_json().as_object().unwrap().clone()
}

#[tokio::test]
async fn postgres_writes_100000_events_and_reads_them_back_field_by_field() {
    let db = TestDb::new().await;
    let c = migrated(&db.url).await;
    let dir = tempfile::tempdir().unwrap();
    let mut w = writer(&db.url, dir.path(), Source::Prober).await;
    assert_eq!(w.batching().max_events, 5000);
    assert_eq!(w.batching().max_age, Duration::from_secs(2));
    let all = events(100_000, 0);
    for batch in all.chunks(5000) {
        w.write_and_wait(batch).await.unwrap();
    }
    w.close().await.unwrap();
    let h = w.health();
    assert_eq!(h.written.load(Ordering::Relaxed), 100_000);
    assert_eq!(h.rejected.load(Ordering::Relaxed), 0);

    let rows = c
        .query(
            "SELECT uuid, event_time, schema_title, schema_version, protocol, hostname, port, path,
                    status_code, response_time_ms, error, regex, matches_regex, url, target_id, location,
                    up, error_kind, phases_ms_dns, phases_ms_connect, phases_ms_tls, phases_ms_ttfb,
                    phases_ms_transfer, ip, http_version, body_bytes, redirects, tls_cert_not_after,
                    conditions, degraded, round, recheck
               FROM probe_events",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 100_000);
    let by_uuid: HashMap<uuid::Uuid, &Event> = all.iter().map(|e| (e.envelope().uuid, e)).collect();
    for r in &rows {
        let id: uuid::Uuid = r.get("uuid");
        let Event::Probe(e) = by_uuid[&id] else {
            unreachable!()
        };
        // Stored as the event says it: microseconds.
        let t = e.envelope.event_time;
        assert_eq!(
            r.get::<_, OffsetDateTime>("event_time"),
            t.replace_nanosecond(t.microsecond() * 1000).unwrap()
        );
        assert_eq!(r.get::<_, String>("schema_title"), "ProbeEvent");
        assert_eq!(r.get::<_, String>("schema_version"), ProbeEvent::VERSION);
        assert_eq!(r.get::<_, String>("protocol"), e.protocol);
        assert_eq!(r.get::<_, String>("hostname"), e.hostname);
        assert_eq!(r.get::<_, i32>("port"), e.port.map(i32::from).unwrap());
        assert_eq!(r.get::<_, String>("path"), e.path);
        assert_eq!(
            r.get::<_, i32>("status_code"),
            e.status_code.map(i32::from).unwrap()
        );
        assert_eq!(
            r.get::<_, i32>("response_time_ms") as u64,
            e.response_time_ms
        );
        assert_eq!(r.get::<_, Option<String>>("error"), e.error);
        assert_eq!(r.get::<_, Option<String>>("regex"), e.regex);
        assert_eq!(r.get::<_, Option<bool>>("matches_regex"), e.matches_regex);
        assert_eq!(r.get::<_, Option<String>>("url"), e.url);
        assert_eq!(r.get::<_, Option<String>>("target_id"), e.target);
        assert_eq!(r.get::<_, Option<String>>("location"), e.location);
        assert_eq!(r.get::<_, Option<bool>>("up"), e.up);
        assert_eq!(
            r.get::<_, Option<String>>("error_kind"),
            e.error_kind.map(|k| k.as_str().to_owned())
        );
        let p = e.phases_ms.unwrap_or_default();
        assert_eq!(r.get::<_, Option<f64>>("phases_ms_dns"), p.dns);
        assert_eq!(r.get::<_, Option<f64>>("phases_ms_connect"), p.connect);
        assert_eq!(r.get::<_, Option<f64>>("phases_ms_tls"), p.tls);
        assert_eq!(r.get::<_, Option<f64>>("phases_ms_ttfb"), p.ttfb);
        assert_eq!(r.get::<_, Option<f64>>("phases_ms_transfer"), p.transfer);
        assert_eq!(r.get::<_, Option<String>>("ip"), e.ip);
        assert_eq!(r.get::<_, Option<String>>("http_version"), e.http_version);
        assert_eq!(
            r.get::<_, Option<i64>>("body_bytes"),
            e.body_bytes.map(|b| b as i64)
        );
        assert_eq!(
            r.get::<_, Option<i32>>("redirects"),
            e.redirects.map(|b| b as i32)
        );
        assert_eq!(
            r.get::<_, Option<OffsetDateTime>>("tls_cert_not_after"),
            e.tls_cert_not_after
        );
        assert_eq!(
            r.get::<_, Option<tokio_postgres::types::Json<Vec<ConditionResult>>>>("conditions")
                .map(|j| j.0),
            e.conditions
        );
        assert_eq!(r.get::<_, Option<bool>>("degraded"), e.degraded);
        assert_eq!(r.get::<_, Option<i64>>("round"), e.round);
        assert_eq!(r.get::<_, Option<bool>>("recheck"), e.recheck);
    }
    // Conditions are a JSON array (jsonb), read by their members.
    assert_eq!(
        count(
            &c,
            "SELECT count(*) FROM probe_events
              WHERE jsonb_typeof(conditions) = 'array' AND conditions -> 1 ->> 'success' = 'false'
                AND conditions -> 1 ->> 'resolved' LIKE '[BODY].status (<b>\"DOWN\" %'"
        )
        .await,
        (0..100_000)
            .filter(|i: &usize| i.is_multiple_of(4) && i.is_multiple_of(3))
            .count() as i64
    );
    assert_eq!(
        count(&c, "SELECT count(*) FROM probe_events WHERE degraded").await,
        100_000 / 8
    );
    // Targets were upserted from the events.
    let t = c
        .query_one(
            "SELECT url, name, hostname, port, first_seen <= last_seen FROM targets WHERE id = 'target0'",
            &[],
        )
        .await
        .unwrap();
    assert!(t.get::<_, String>(0).starts_with("https://host0.example/"));
    assert_eq!(t.get::<_, String>(1), "name 0");
    assert_eq!(t.get::<_, i32>(3), 443);
    assert!(t.get::<_, bool>(4));
    // Every row of today landed in a daily partition, none in DEFAULT.
    assert_eq!(
        count(&c, "SELECT count(*) FROM probe_events_default").await,
        0
    );
}

#[tokio::test]
async fn postgres_the_same_batch_written_twice_is_stored_once() {
    let db = TestDb::new().await;
    let c = migrated(&db.url).await;
    let dir = tempfile::tempdir().unwrap();
    let mut w = writer(&db.url, dir.path(), Source::Prober).await;
    let batch = events(2000, 0);
    w.write_and_wait(&batch).await.unwrap();
    w.write_and_wait(&batch).await.unwrap();
    // And duplicates inside one batch.
    let mut doubled = batch[..10].to_vec();
    doubled.extend_from_slice(&batch[..10]);
    w.write_and_wait(&doubled).await.unwrap();
    w.close().await.unwrap();
    assert_eq!(count(&c, "SELECT count(*) FROM probe_events").await, 2000);
    let h = w.health();
    assert_eq!(h.written.load(Ordering::Relaxed), 2000);
    assert_eq!(h.duplicates.load(Ordering::Relaxed), 2020);
}

#[tokio::test]
async fn postgres_a_batch_with_bad_rows_stores_the_others_and_keeps_the_bad_ones() {
    let db = TestDb::new().await;
    let c = migrated(&db.url).await;
    let dir = tempfile::tempdir().unwrap();
    let mut w = writer(&db.url, dir.path(), Source::Prober).await;
    let mut batch = events(1000, 0);
    // Port 0 breaks the ip_port domain: the database refuses the row.
    let Event::Probe(e) = &mut batch[417] else {
        unreachable!()
    };
    e.port = Some(0);
    let bad_db = e.envelope.uuid;
    // A response time the original's integer column cannot hold: refused before sending.
    let Event::Probe(e) = &mut batch[901] else {
        unreachable!()
    };
    e.response_time_ms = 5_000_000_000;
    let bad_range = e.envelope.uuid;
    // A type without a table.
    let mut job = DummyEvent::new("t", "r", 1, 0.0);
    job.envelope.schema_title = "NoSuchEvent".into();
    batch.push(job.into());
    w.write_and_wait(&batch).await.unwrap();
    w.close().await.unwrap();

    assert_eq!(count(&c, "SELECT count(*) FROM probe_events").await, 998);
    assert_eq!(w.health().rejected.load(Ordering::Relaxed), 3);
    let text = std::fs::read_to_string(dir.path().join("rejects/probe_events.jsonl")).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    let reasons: HashMap<String, String> = lines
        .iter()
        .map(|l| {
            (
                l["uuid"].as_str().unwrap().to_owned(),
                l["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        reasons[&bad_db.to_string()].contains("ip_port"),
        "{reasons:?}"
    );
    assert!(
        reasons[&bad_range.to_string()].contains("response_time_ms"),
        "{reasons:?}"
    );
    assert!(
        reasons[&bad_range.to_string()].contains("out of range"),
        "{reasons:?}"
    );
    assert_eq!(
        lines[0]["event"]["schema_title"], "ProbeEvent",
        "the whole event is kept"
    );
    let other = std::fs::read_to_string(dir.path().join("rejects/no_such_events.jsonl")).unwrap();
    assert!(other.contains("uptimer migrate up"), "{other}");
}

#[tokio::test]
async fn postgres_dummy_events_take_every_number_their_schema_allows() {
    let db = TestDb::new().await;
    let c = migrated(&db.url).await;
    let dir = tempfile::tempdir().unwrap();
    let mut w = writer(&db.url, dir.path(), Source::Prober).await;
    let batch: Vec<Event> = [i64::MAX, -1_000_000, 70_000]
        .iter()
        .map(|&v| DummyEvent::new("writers.postgres", "readers.dummy", v, 1e300).into())
        .collect();
    w.write_and_wait(&batch).await.unwrap();
    w.close().await.unwrap();
    assert_eq!(
        count(&c, "SELECT count(*) FROM dummy_events WHERE integer_value IN (9223372036854775807, -1000000, 70000) AND float_value = 1e300").await,
        3
    );
}

/// Every row of the tables the writer fills, as JSON text, in a stable order.
async fn stored(c: &Client) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for table in [
        "probe_events",
        "dummy_events",
        "targets",
        "rollup_minute",
        "rollup_hour",
        "rollup_day",
        "incidents",
        "verdicts",
    ] {
        let rows = c
            .query(
                &format!("SELECT to_jsonb(t)::text FROM {table} t ORDER BY 1"),
                &[],
            )
            .await
            .unwrap();
        out.push((table.to_owned(), rows.iter().map(|r| r.get(0)).collect()));
    }
    out
}

/// The rejects files of a data dir, without the time each row was rejected.
fn rejects(dir: &Path) -> Vec<(String, Vec<Value>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir.join("rejects"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| {
            let rows = std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .map(|l| {
                    let mut v: Value = serde_json::from_str(l).unwrap();
                    v.as_object_mut().unwrap().remove("rejected_at");
                    v
                })
                .collect();
            (f.file_name().unwrap().to_string_lossy().into_owned(), rows)
        })
        .collect()
}

#[tokio::test]
async fn postgres_typed_events_are_stored_exactly_as_their_json_documents_were() {
    // The writer encodes rows straight from typed events; before, from each event's JSON
    // document, which is still how spooled events are written. Both must store the same rows,
    // rollups, targets, incidents and rejects.
    let mut all = events(600, 0);
    for e in events(50, 1000) {
        let Event::Probe(p) = e else { unreachable!() };
        all.push(p.to_original().into());
    }
    let mut odd = probe(2, OffsetDateTime::now_utc());
    odd.phases_ms = Some(Phases {
        dns: Some(f64::NAN),
        tls: Some(f64::INFINITY),
        ..Phases::default()
    });
    odd.response_time_ms = u64::MAX;
    all.push(odd.into());
    for v in [i64::MAX, -1, 70_000] {
        all.push(DummyEvent::new("t", "readers.dummy", v, 0.1).into());
    }
    all.push(DummyEvent::new("t", "readers.dummy", 1, f64::NAN).into());
    let mut unknown = DummyEvent::new("t", "r", 1, 0.0);
    unknown.envelope.schema_title = "NoSuchEvent".into();
    all.push(unknown.into());
    // Verdicts go to `verdicts`: lists as text[] (an empty `impaired` is left out of the
    // document), a name an array literal must quote.
    let mut verdict = VerdictEvent::new("target0", 1, Verdict::Partial, OffsetDateTime::now_utc());
    verdict.up = vec!["eu-1".into(), "a \"b\", {c}".into()];
    verdict.down = vec!["us-1".into()];
    verdict.impaired = vec!["sa-1".into()];
    verdict.locations = Some(3);
    all.push(verdict.into());
    all.push(VerdictEvent::new("target0", 2, Verdict::None, OffsetDateTime::now_utc()).into());

    let typed_db = TestDb::new().await;
    let typed_c = migrated(&typed_db.url).await;
    let typed_dir = tempfile::tempdir().unwrap();
    let mut w = writer(&typed_db.url, typed_dir.path(), Source::Prober).await;
    w.write_and_wait(&all).await.unwrap();
    w.close().await.unwrap();

    let json_db = TestDb::new().await;
    let json_c = migrated(&json_db.url).await;
    let json_dir = tempfile::tempdir().unwrap();
    spool(json_dir.path(), &all);
    let mut w = writer(&json_db.url, json_dir.path(), Source::Prober).await;
    w.close().await.unwrap();
    assert_eq!(w.health().spilled.load(Ordering::Relaxed), 0, "drained");

    let typed = stored(&typed_c).await;
    assert_eq!(typed[0].1.len(), 650, "probe events stored");
    assert_eq!(typed[1].1.len(), 3, "dummy events stored");
    assert_eq!(typed[7].1.len(), 2, "verdicts stored");
    assert!(typed.iter().all(|(_, rows)| !rows.is_empty()), "{typed:?}");
    for ((table, t), (_, j)) in typed.iter().zip(stored(&json_c).await) {
        assert_eq!(t.len(), j.len(), "{table}");
        for (t, j) in t.iter().zip(&j) {
            assert_eq!(t, j, "{table}");
        }
    }
    // EVENT_FORMAT=original leaves them out; the others are stored.
    assert_eq!(
        count(
            &typed_c,
            "SELECT count(*) FROM probe_events WHERE schema_version = '0.2.0'
               AND (conditions IS NOT NULL OR degraded IS NOT NULL)"
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &typed_c,
            "SELECT count(*) FROM probe_events WHERE jsonb_array_length(conditions) = 2"
        )
        .await,
        (0..600).filter(|i: &usize| i.is_multiple_of(4)).count() as i64
    );
    let typed_rejects = rejects(typed_dir.path());
    // no_such_events, dummy_events (NaN) and probe_events (u64::MAX): no verdict.
    assert_eq!(typed_rejects.len(), 3, "{typed_rejects:?}");
    assert_eq!(typed_rejects, rejects(json_dir.path()));
}

/// ProbeEvent 0.6.0's `round` and `recheck` land in the columns of their names (migration
/// 20261215000000), by the generic mapping, from typed events and from spooled documents alike;
/// events without them leave NULL. A verdict in the same batch goes to `verdicts`.
#[tokio::test]
async fn postgres_round_and_recheck_are_stored_in_probe_events() {
    let db = TestDb::new().await;
    let c = migrated(&db.url).await;
    let types: Vec<(String, String)> = c
        .query(
            "SELECT attname::text, format_type(atttypid, atttypmod) FROM pg_attribute
              WHERE attrelid = 'probe_events'::regclass AND attname IN ('round', 'recheck')
                AND NOT attnotnull ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        types,
        [
            ("recheck".to_owned(), "boolean".to_owned()),
            ("round".to_owned(), "bigint".to_owned())
        ]
    );
    let now = OffsetDateTime::now_utc();
    let fleet = |target: &str, round: Option<i64>, recheck: Option<bool>| {
        let mut e = ProbeEvent::new(now, "https", "example.org", Some(443));
        e.target = Some(target.into());
        e.location = Some("eu-1".into());
        e.up = Some(true);
        e.round = round;
        e.recheck = recheck;
        e
    };
    let scheduled = fleet("t1", Some(29_955_600), None);
    let recheck = fleet("t1", Some(29_955_600), Some(true));
    let far = fleet("t2", Some(i64::MIN), Some(false));
    let older = fleet("t3", None, None);
    let mut batch: Vec<Event> = [&scheduled, &recheck, &far, &older]
        .into_iter()
        .map(|e| Event::from(e.clone()))
        .collect();
    // EVENT_FORMAT=original: the same probe without them (its own uuid, to be stored apart).
    let mut original = recheck.to_original();
    original.envelope.uuid = uuid::Uuid::new_v4();
    batch.push(Event::from(original.clone()));
    batch.push(VerdictEvent::new("t1", 29_955_600, Verdict::Up, now).into());
    let dir = tempfile::tempdir().unwrap();
    let mut w = writer(&db.url, dir.path(), Source::Prober).await;
    w.write_and_wait(&batch).await.unwrap();
    w.close().await.unwrap();
    assert_eq!(w.health().written.load(Ordering::Relaxed), 6);
    assert_eq!(w.health().rejected.load(Ordering::Relaxed), 0);
    let stored = rounds_stored(&c).await;
    assert_eq!(stored.len(), 5, "{stored:?}");
    for e in [&scheduled, &recheck, &far, &older] {
        assert_eq!(stored[&e.envelope.uuid], (e.round, e.recheck));
    }
    assert_eq!(stored[&original.envelope.uuid], (None, None));
    assert_eq!(
        count(&c, "SELECT count(*) FROM verdicts WHERE target_id = 't1' AND round = 29955600 AND verdict = 'up'").await,
        1
    );

    // The same documents from the spool (a writer restarted) store the same values.
    let spooled = TestDb::new().await;
    let sc = migrated(&spooled.url).await;
    let sdir = tempfile::tempdir().unwrap();
    spool(sdir.path(), &batch);
    let mut w = writer(&spooled.url, sdir.path(), Source::Prober).await;
    w.close().await.unwrap();
    let again = rounds_stored(&sc).await;
    assert_eq!(again, stored);
}

/// A `verdicts` row: (uuid, target_id, round, verdict, up, down, impaired, locations,
/// interval_ms, response_time_ms, decided_at, schema_version).
type VerdictRow = (
    uuid::Uuid,
    String,
    i64,
    String,
    Vec<String>,
    Vec<String>,
    Vec<String>,
    Option<i32>,
    Option<i64>,
    Option<i64>,
    OffsetDateTime,
    String,
);

async fn verdict_rows(c: &Client) -> Vec<VerdictRow> {
    c.query(
        "SELECT uuid, target_id, round, verdict, up_locations, down_locations,
                impaired_locations, locations, interval_ms, response_time_ms, decided_at,
                schema_version
           FROM verdicts ORDER BY target_id, round",
        &[],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| {
        (
            r.get(0),
            r.get(1),
            r.get(2),
            r.get(3),
            r.get(4),
            r.get(5),
            r.get(6),
            r.get(7),
            r.get(8),
            r.get(9),
            r.get(10),
            r.get(11),
        )
    })
    .collect()
}

/// The row a verdict should be stored as.
fn verdict_row(v: &VerdictEvent) -> VerdictRow {
    (
        v.envelope.uuid,
        v.target.clone(),
        v.round,
        v.verdict.to_string(),
        v.up.clone(),
        v.down.clone(),
        v.impaired.clone(),
        v.locations.map(|n| n as i32),
        v.interval_ms.map(|n| n as i64),
        v.response_time_ms.map(|n| n as i64),
        v.envelope.event_time,
        v.envelope.schema_version.clone(),
    )
}

/// VerdictEvents go into `verdicts` (migration 20261216000000), one row per target and round,
/// each location list a text[] whatever its names hold; the same round written again (a
/// replay, or decided a second time with another outcome) inserts nothing, keeps the first
/// row, and is acknowledged, not rejected.
#[tokio::test]
async fn postgres_verdicts_are_stored_once_per_round_with_their_location_arrays_intact() {
    let db = TestDb::new().await;
    let c = migrated(&db.url).await;
    let at = datetime!(2026-12-15 12:01:13.25 UTC);
    let odd = [
        "eu-west",
        "it's \"quoted\"",
        "a,b",
        "{x}",
        "NULL",
        "back\\slash",
        " spaced ",
        "",
        "é",
    ];
    let mut partial = VerdictEvent::new("t1", 29_955_600, Verdict::Partial, at);
    partial.up = odd.iter().map(|s| s.to_string()).collect();
    partial.down = vec!["ap-south".into()];
    partial.impaired = vec!["sa,east".into(), "o'neil".into()];
    partial.interval_ms = Some(60_000);
    partial.locations = Some(10);
    partial.response_time_ms = Some(64);
    // Empty lists, `impaired` left out of the document, no optional field.
    let none = VerdictEvent::new(
        "t1",
        29_955_601,
        Verdict::None,
        at + Duration::from_secs(60),
    );
    let mut down = VerdictEvent::new("t2", 29_955_600, Verdict::Down, at);
    down.down = vec!["eu-west".into(), "us-east".into()];
    let batch: Vec<Event> = [&partial, &none, &down]
        .into_iter()
        .map(|v| Event::from(v.clone()))
        .collect();

    let dir = tempfile::tempdir().unwrap();
    let mut w = writer(&db.url, dir.path(), Source::Prober).await;
    w.write_and_wait(&batch).await.unwrap();
    let want: Vec<VerdictRow> = [&partial, &none, &down].map(verdict_row).to_vec();
    assert_eq!(verdict_rows(&c).await, want);

    // The same batch again, and t1's round decided again as down by another consumer (the
    // same derived uuid), alone and twice in one batch.
    w.write_and_wait(&batch).await.unwrap();
    let mut again = partial.clone();
    again.verdict = Verdict::Down;
    again.up.clear();
    again.down = vec!["eu-west".into()];
    let again = Event::from(again);
    w.write_and_wait(std::slice::from_ref(&again))
        .await
        .unwrap();
    w.write_and_wait(&[again.clone(), again]).await.unwrap();
    w.close().await.unwrap();
    assert_eq!(verdict_rows(&c).await, want, "the first decision stays");
    let h = w.health();
    assert_eq!(h.written.load(Ordering::Relaxed), 3);
    assert_eq!(h.duplicates.load(Ordering::Relaxed), 6);
    assert_eq!(h.rejected.load(Ordering::Relaxed), 0);
    assert!(!dir.path().join("rejects").exists() || rejects(dir.path()).is_empty());
}

/// A VerdictEvent 0.1.0 as a Kafka consumer receives it (JSON text, decoded and validated by
/// `event::decode`) is stored as the same typed verdict is; the message delivered again is
/// acknowledged and adds nothing.
#[tokio::test]
async fn postgres_a_verdict_decoded_from_kafka_json_is_stored_as_the_typed_one() {
    let text = r#"{"schema_title":"VerdictEvent","schema_version":"0.1.0",
        "uuid":"4c47a98c-b6bb-8834-817f-47c3d0b4ca62","event_time":"2026-12-15T12:01:13.250000+00:00",
        "target":"5f2b7c0e9a1d3b48","round":29955600,"verdict":"partial",
        "up":["eu-west","us \"east\", 1"],"down":["ap-south"],"interval_ms":60000,
        "locations":3,"impaired":["sa-east"],"response_time_ms":64}"#;
    let (decoded, dropped) = uptimer::event::decode(text.as_bytes()).unwrap();
    assert_eq!(dropped, 0);
    let mut typed = VerdictEvent::new(
        "5f2b7c0e9a1d3b48",
        29_955_600,
        Verdict::Partial,
        datetime!(2026-12-15 12:01:13.25 UTC),
    );
    typed.up = vec!["eu-west".into(), "us \"east\", 1".into()];
    typed.down = vec!["ap-south".into()];
    typed.interval_ms = Some(60_000);
    typed.locations = Some(3);
    typed.impaired = vec!["sa-east".into()];
    typed.response_time_ms = Some(64);
    assert_eq!(decoded, Event::from(typed.clone()));

    let mut stored = Vec::new();
    for event in [decoded, Event::from(typed.clone())] {
        let db = TestDb::new().await;
        let c = migrated(&db.url).await;
        let dir = tempfile::tempdir().unwrap();
        let mut w = writer(&db.url, dir.path(), Source::Replayable).await;
        let batch = [event];
        w.write_and_wait(&batch).await.unwrap();
        w.write_and_wait(&batch).await.unwrap();
        w.close().await.unwrap();
        assert_eq!(w.health().written.load(Ordering::Relaxed), 1);
        assert_eq!(w.health().duplicates.load(Ordering::Relaxed), 1);
        assert_eq!(w.health().rejected.load(Ordering::Relaxed), 0);
        assert_eq!(verdict_rows(&c).await, [verdict_row(&typed)]);
        let rows: Vec<String> = c
            .query("SELECT to_jsonb(v)::text FROM verdicts v", &[])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        stored.push(rows);
    }
    assert_eq!(stored[0], stored[1]);
}

#[tokio::test]
async fn postgres_retention_drops_only_expired_partitions() {
    let db = TestDb::new().await;
    let mut c = migrated(&db.url).await;
    let today = OffsetDateTime::now_utc().date();
    partitions::ensure(
        &mut c,
        "probe_events",
        today - time::Duration::days(40),
        today,
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut w = writer(&db.url, dir.path(), Source::Prober).await;
    let now = OffsetDateTime::now_utc();
    let batch: Vec<Event> = [35, 29, 5, 0, -400]
        .iter()
        .enumerate()
        .map(|(i, days)| probe(i, now - time::Duration::days(*days)).into())
        .collect();
    w.write_and_wait(&batch).await.unwrap();
    w.close().await.unwrap();
    assert_eq!(
        count(&c, "SELECT count(*) FROM probe_events_default").await,
        1,
        "the far future goes to DEFAULT"
    );
    // Making that day's partition later moves the row out of DEFAULT.
    let far = (now + time::Duration::days(400)).date();
    let made = partitions::ensure(&mut c, "probe_events", far, far)
        .await
        .unwrap();
    assert_eq!(made, vec![partitions::partition_name("probe_events", far)]);
    assert_eq!(
        count(&c, "SELECT count(*) FROM probe_events_default").await,
        0
    );
    assert_eq!(
        count(&c, &format!("SELECT count(*) FROM {}", made[0])).await,
        1
    );
    let (_, dropped) = partitions::maintain(&mut c, Some(30)).await.unwrap();
    assert!(dropped.len() >= 9, "{dropped:?}");
    let cutoff = today - time::Duration::days(30);
    for d in &dropped {
        let day = time::Date::parse(
            d.trim_start_matches("probe_events_p"),
            time::macros::format_description!("[year][month][day]"),
        )
        .unwrap();
        assert!(day < cutoff, "{d} is not expired");
    }
    assert_eq!(
        count(&c, "SELECT count(*) FROM probe_events").await,
        4,
        "only the 35-day-old row went"
    );
    assert_eq!(
        count(
            &c,
            &format!(
                "SELECT count(*) FROM pg_class WHERE relname = '{}'",
                partitions::partition_name("probe_events", cutoff)
            )
        )
        .await,
        1
    );
}

#[tokio::test]
async fn postgres_two_writers_in_parallel_on_the_same_table() {
    let db = TestDb::new().await;
    let c = migrated(&db.url).await;
    let all = events(30_000, 0);
    let (a, b) = (all[..20_000].to_vec(), all[10_000..].to_vec());
    let mut tasks = Vec::new();
    for part in [a, b] {
        let url = db.url.clone();
        tasks.push(tokio::spawn(async move {
            let dir = tempfile::tempdir().unwrap();
            let mut w = writer(&url, dir.path(), Source::Replayable).await;
            for batch in part.chunks(1000) {
                w.write_and_wait(batch).await.unwrap();
            }
            w.close().await.unwrap();
            w.health().written.load(Ordering::Relaxed)
        }));
    }
    let mut written = 0;
    for t in tasks {
        written += t.await.unwrap();
    }
    assert_eq!(written, 30_000, "each event inserted by exactly one writer");
    assert_eq!(count(&c, "SELECT count(*) FROM probe_events").await, 30_000);
}

#[tokio::test]
async fn postgres_startup_says_what_to_do_when_the_schema_is_not_migrated() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let err = PostgresWriter::new(&settings(&db.url), dir.path(), Options::default())
        .await
        .err()
        .expect("refuses to start");
    assert!(err.to_string().contains("uptimer migrate up"), "{err}");
}

#[tokio::test]
async fn postgres_spooled_events_are_written_after_a_restart() {
    let db = TestDb::new().await;
    let c = migrated(&db.url).await;
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens there: the events wait in the spool.
    let closed = support::free_port();
    let mut s = settings(&format!("postgres://postgres@127.0.0.1:{closed}/x"));
    s.shutdown_timeout = Duration::from_millis(300);
    let mut w = PostgresWriter::new(&s, dir.path(), Options::default())
        .await
        .expect("an unreachable database does not stop a prober");
    let batch = events(3000, 0);
    for b in batch.chunks(1000) {
        w.write_and_wait(b).await.unwrap();
    }
    w.close().await.unwrap();
    assert_eq!(w.health().spilled.load(Ordering::Relaxed), 3000);
    let spooled: Vec<_> = std::fs::read_dir(dir.path().join("spool/postgres"))
        .unwrap()
        .collect();
    assert!(!spooled.is_empty(), "events are on disk after shutdown");

    let mut w = writer(&db.url, dir.path(), Source::Prober).await;
    assert!(
        eventually(Duration::from_secs(20), async || count(
            &c,
            "SELECT count(*) FROM probe_events"
        )
        .await
            == 3000)
        .await,
        "spooled events are written once the database is there"
    );
    w.close().await.unwrap();
    assert_eq!(w.health().spilled.load(Ordering::Relaxed), 0);
    assert_eq!(w.health().written.load(Ordering::Relaxed), 3000);
    assert_eq!(
        std::fs::read_dir(dir.path().join("spool/postgres"))
            .unwrap()
            .count(),
        0,
        "the spool is empty once drained"
    );
}

/// Feeds `n` events in batches while `disturb` runs; returns the events.
async fn run_through(
    w: &mut PostgresWriter,
    n: usize,
    batch: usize,
    disturb: impl std::future::Future<Output = ()> + Send + 'static,
) -> Vec<Event> {
    let all = events(n, 0);
    let disturbance = tokio::spawn(disturb);
    for b in all.chunks(batch) {
        w.write_and_wait(b).await.unwrap();
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    disturbance.await.unwrap();
    w.close().await.unwrap();
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_server_restarts_and_killed_connections_lose_and_duplicate_nothing() {
    let cluster = Arc::new(PrivateCluster::start());
    let db = TestDb::on(&cluster.url()).await;
    let c = migrated(&db.url).await;
    let dir = tempfile::tempdir().unwrap();
    let mut w = writer(&db.url, dir.path(), Source::Prober).await;
    let health = w.health();
    let (url, cl) = (db.url.clone(), cluster.clone());
    let h = health.clone();
    let all = run_through(&mut w, 40_000, 200, async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        // Connections killed under the writer.
        let admin = pg::connect(&url).await;
        let killed: i64 = admin
            .query_one(
                "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                  WHERE pid <> pg_backend_pid() AND datname = current_database()) k",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert!(killed > 0, "the writer had connections");
        drop(admin);
        tokio::time::sleep(Duration::from_millis(500)).await;
        // The server goes away for a while.
        let cl2 = cl.clone();
        tokio::task::spawn_blocking(move || cl2.stop_server())
            .await
            .unwrap();
        // It stays away until the writer has noticed and spooled what it could not write.
        assert!(
            holds_within(PATIENCE, || {
                !h.connected.load(Ordering::Relaxed) && h.spilled.load(Ordering::Relaxed) > 0
            })
            .await,
            "the writer noticed the outage and spooled events: connected={}, spilled={}",
            h.connected.load(Ordering::Relaxed),
            h.spilled.load(Ordering::Relaxed)
        );
        tokio::task::spawn_blocking(move || cl.start_server())
            .await
            .unwrap();
    })
    .await;
    let c = if c.is_closed() {
        pg::connect(&db.url).await
    } else {
        c
    };
    let stored = count(&c, "SELECT count(*) FROM probe_events").await;
    let distinct = count(&c, "SELECT count(DISTINCT uuid) FROM probe_events").await;
    assert_eq!(stored, all.len() as i64, "nothing lost");
    assert_eq!(distinct, stored, "nothing duplicated");
    let want: HashSet<uuid::Uuid> = all.iter().map(|e| e.envelope().uuid).collect();
    let got: HashSet<uuid::Uuid> = c
        .query("SELECT uuid FROM probe_events", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(got, want);
    assert_eq!(health.rejected.load(Ordering::Relaxed), 0);
    drop(db);
    drop(cluster);
}

#[tokio::test]
async fn postgres_event_json_keys_all_have_a_column() {
    // Every field a ProbeEvent can carry is stored somewhere (new fields need a migration).
    let db = TestDb::new().await;
    let c = migrated(&db.url).await;
    let cols: HashSet<String> = c
        .query(
            "SELECT attname::text FROM pg_attribute WHERE attrelid = 'probe_events'::regclass AND attnum > 0 AND NOT attisdropped",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    for (k, v) in as_json(&events(1, 0)[0]) {
        match v {
            Value::Object(o) => {
                for sub in o.keys() {
                    assert!(cols.contains(&format!("{k}_{sub}")), "{k}.{sub}");
                }
            }
            _ if k == "target" => assert!(cols.contains("target_id")),
            _ if k == "name" => {} // a target's property, in targets.name
            _ => assert!(cols.contains(&k), "{k}"),
        }
    }
}

#[test]
fn postgres_migrate_command_applies_and_reports() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(TestDb::new());
    let run = |args: &[&str]| {
        let mut all = vec!["migrate"];
        all.extend(args);
        uptimer(&all, &[("DATABASE_URL", db.url.as_str())])
    };
    let (code, out, _) = run(&["status"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("[ ] 20210115091009_create_dummy_events.sql"),
        "{out}"
    );
    let (code, out, err) = run(&["up"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.contains("applied 20261125230000_partition_probe_events.sql"),
        "{out}"
    );
    let (code, out, _) = run(&["status"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("Pending: 0"), "{out}");
    let (code, out, _) = run(&["down"]);
    assert_eq!(code, Some(0));
    let last = migrate::migrations().last().unwrap().file.clone();
    assert!(out.contains(&format!("rolled back {last}")), "{out}");

    // A bad URL: one line, password masked.
    let (code, _, err) = uptimer(
        &[
            "migrate",
            "status",
            "--database-url",
            "postgres://u:hunter2@127.0.0.1:1/x",
        ],
        &[],
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("u:***@127.0.0.1:1/x"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    drop(db);
}

#[tokio::test]
async fn postgres_sslmode_require_verify_ca_and_verify_full_behave_like_libpq() {
    let ca = support::test_ca();
    let now = OffsetDateTime::now_utc();
    let leaf = ca.issue_leaf(
        &["localhost"],
        now - time::Duration::days(1),
        now + time::Duration::days(30),
    );
    let cluster = PrivateCluster::init(&[
        "ssl = on",
        "ssl_cert_file = 'server.crt'",
        "ssl_key_file = 'server.key'",
    ]);
    cluster.put_file("server.crt", leaf.cert_pem.as_bytes(), 0o644);
    cluster.put_file("server.key", leaf.key_pem.as_bytes(), 0o600);
    cluster.start_server();
    let other_ca = support::test_ca();

    let try_connect = async |host: &str, mode: &str, ca_file: Option<&Path>| {
        let url = DatabaseUrl::new(format!(
            "postgres://postgres@{host}:{}/postgres?sslmode={mode}",
            cluster.port
        ));
        let opts = ConnectOptions::parse(&url, ca_file).unwrap();
        match opts.connect().await {
            Ok(c) => {
                let ssl: bool = c
                    .query_one(
                        "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                        &[],
                    )
                    .await
                    .unwrap()
                    .get(0);
                Ok(ssl)
            }
            Err(e) => Err(e.to_string()),
        }
    };
    let ca_file = Some(ca.ca_file.as_path());
    assert_eq!(try_connect("127.0.0.1", "require", None).await, Ok(true));
    assert_eq!(try_connect("127.0.0.1", "prefer", None).await, Ok(true));
    assert_eq!(try_connect("127.0.0.1", "disable", None).await, Ok(false));
    assert_eq!(
        try_connect("localhost", "verify-full", ca_file).await,
        Ok(true)
    );
    assert_eq!(
        try_connect("127.0.0.1", "verify-ca", ca_file).await,
        Ok(true)
    );
    let e = try_connect("127.0.0.1", "verify-full", ca_file)
        .await
        .unwrap_err();
    assert!(
        e.contains("certificate"),
        "the name 127.0.0.1 is not in the certificate: {e}"
    );
    let e = try_connect("localhost", "verify-full", Some(other_ca.ca_file.as_path()))
        .await
        .unwrap_err();
    assert!(e.contains("UnknownIssuer"), "{e}");
    let e = try_connect("localhost", "verify-ca", Some(other_ca.ca_file.as_path()))
        .await
        .unwrap_err();
    assert!(e.contains("UnknownIssuer"), "{e}");
    // A writer with the wrong CA refuses to start rather than spool forever.
    let mut bad = settings(&format!(
        "postgres://postgres:hunter2@localhost:{}/postgres?sslmode=verify-full",
        cluster.port
    ));
    bad.ssl_ca_file = Some(other_ca.ca_file.clone());
    let dir = tempfile::tempdir().unwrap();
    let err = PostgresWriter::new(&bad, dir.path(), Options::default())
        .await
        .err()
        .expect("a TLS failure at startup is a configuration error");
    let err = err.to_string();
    assert!(
        err.contains("UnknownIssuer") && err.contains("postgres:***@localhost"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
    // require with a CA file verifies the chain, as libpq does with a root certificate.
    assert!(
        try_connect("localhost", "require", Some(other_ca.ca_file.as_path()))
            .await
            .is_err()
    );
}

/// Runs the binary in a directory of its own: (exit code, stdout, stderr).
fn uptimer(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = support::uptimer(dir.path())
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.code(),
        support::stdout(&out),
        support::stderr(&out),
    )
}

#[test]
fn postgres_check_config_masks_the_database_password() {
    let (code, out, err) = uptimer(
        &["check-config"],
        &[
            ("WRITER_PLUGIN", "writers.postgres"),
            (
                "DATABASE_URL",
                "postgres://uptimer:hunter2@db.example/uptimer",
            ),
            ("PROBE_URLS", "https://example.org"),
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains("postgres://uptimer:***@db.example/uptimer"),
        "{out}"
    );
    assert!(
        !out.contains("hunter2") && !err.contains("hunter2"),
        "{out}{err}"
    );
}

#[test]
fn postgres_writer_settings_errors_are_one_line_naming_the_setting() {
    let (code, _, err) = uptimer(
        &["check-config"],
        &[
            ("WRITER_PLUGIN", "writers.postgres"),
            ("PROBE_URLS", "https://example.org"),
        ],
    );
    assert_eq!(code, Some(2));
    assert!(
        err.starts_with("uptimer: DATABASE_URL: expected a libpq URL"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let (code, _, err) = uptimer(
        &["check-config"],
        &[
            ("WRITER_PLUGIN", "writers.postgres"),
            ("DATABASE_URL", "postgres://u:hunter2@h/db?sslmode=maybe"),
        ],
    );
    assert_eq!(code, Some(2));
    assert!(
        err.contains("DATABASE_URL") && err.contains("verify-full"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_concurrent_migrations_apply_each_file_once() {
    let db = TestDb::new().await;
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let url = db.url.clone();
        tasks.push(tokio::spawn(async move {
            let mut c = pg::connect(&url).await;
            migrate::up(&mut c).await.expect("no race")
        }));
    }
    let mut applied = Vec::new();
    for t in tasks {
        applied.extend(t.await.unwrap());
    }
    applied.sort();
    let all: Vec<String> = migrate::FILES
        .iter()
        .map(|(f, _)| (*f).to_owned())
        .collect();
    assert_eq!(
        applied, all,
        "each migration applied by exactly one of them"
    );
    let c = db.client().await;
    assert_eq!(
        count(&c, "SELECT count(*) FROM schema_migrations").await,
        migrate::FILES.len() as i64
    );
}

#[test]
fn postgres_migrate_up_creates_a_missing_database_as_dbmate_does() {
    let name = format!("uptimer_test_{}", uuid::Uuid::new_v4().simple());
    let mut url = url::Url::parse(&pg::server_url()).unwrap();
    url.set_path(&format!("/{name}"));
    let (code, out, err) = uptimer(&["migrate", "up", "--database-url", url.as_str()], &[]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let exists = rt.block_on(async {
        let admin = pg::connect(&pg::server_url()).await;
        let n: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_database WHERE datname = $1",
                &[&name],
            )
            .await
            .unwrap()
            .get(0);
        let _ = admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await;
        n
    });
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains(&format!("created database {name}")), "{out}");
    assert!(
        out.contains("applied 20210115091009_create_dummy_events.sql"),
        "{out}"
    );
    assert_eq!(exists, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_shutdown_with_a_hung_server_spools_what_is_in_flight() {
    let cluster = PrivateCluster::start();
    let db = TestDb::on(&cluster.url()).await;
    drop(migrated(&db.url).await);
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&db.url);
    s.shutdown_timeout = Duration::from_secs(1);
    let mut w = PostgresWriter::new(&s, dir.path(), Options::default())
        .await
        .unwrap();
    w.write_and_wait(&events(100, 0)).await.unwrap();
    // Let that batch land, then hang the server (no connection is closed).
    let h = w.health();
    assert!(
        eventually(Duration::from_secs(10), async || h
            .written
            .load(Ordering::Relaxed)
            == 100)
        .await
    );
    cluster.freeze(true);
    // In flight (being inserted) when shutdown comes: not durable yet. Shutdown gives up on
    // the hung server after its 1 s timeout: without that, it would wait for ever.
    let durable = w.write(events(500, 100)).await.unwrap();
    tokio::time::timeout(PATIENCE, w.close())
        .await
        .expect("close ends while the server hangs")
        .unwrap();
    tokio::time::timeout(PATIENCE, durable)
        .await
        .expect("the hung batch's durability is decided")
        .expect("the hung batch is durable: spooled");
    assert_eq!(
        h.spilled.load(Ordering::Relaxed),
        500,
        "the hung batch is in the spool"
    );
    cluster.freeze(false);
    // Next start writes it.
    let mut w = writer(&db.url, dir.path(), Source::Prober).await;
    let c = pg::connect(&db.url).await;
    assert!(
        eventually(Duration::from_secs(20), async || count(
            &c,
            "SELECT count(*) FROM probe_events"
        )
        .await
            == 600)
        .await
    );
    w.close().await.unwrap();
}

/// The migration making `port` and `status_code` nullable and adding the kind objects
/// (ProbeEvent 0.5.0).
const KINDS_MIGRATION: &str = "20261203000000";

/// A DNS, an ICMP and a TLS check of targets `dns`, `icmp` and `tls`, `ago` minutes ago, as
/// their probers emit them: no status; no port for ICMP; their kind objects (one TXT record
/// with U+0000, which jsonb cannot hold).
fn of_every_kind(ago: i64) -> Vec<ProbeEvent> {
    use uptimer::event::{CertificateInfo, DnsDetails, DnsRecord, IcmpDetails, TlsDetails};
    let at = OffsetDateTime::now_utc() - time::Duration::minutes(ago);
    let at = at
        .replace_nanosecond(at.nanosecond() / 1000 * 1000)
        .unwrap();
    let mut dns = ProbeEvent::new(at, "dns", "127.0.0.1", Some(5353));
    dns.dns = Some(DnsDetails {
        rcode: "NXDOMAIN".into(),
        answers: vec![DnsRecord {
            name: "example.org.".into(),
            ttl: 60,
            class: "IN".into(),
            rtype: "TXT".into(),
            data: "\"a\u{0}b\"".into(),
        }],
        authority: Vec::new(),
        additional: Vec::new(),
        soa_serial: None,
    });
    dns.up = Some(false);
    dns.error_kind = Some(ErrorKind::DnsRcode);
    dns.error = Some("rcode NXDOMAIN is not one of NOERROR".into());
    let mut icmp = ProbeEvent::new(at, "icmp", "::1", None);
    icmp.icmp = Some(IcmpDetails {
        sent: 3,
        received: 2,
        loss_percent: 100.0 / 3.0,
        rtt_min_ms: Some(0.021),
        rtt_avg_ms: Some(0.5),
        rtt_max_ms: Some(1.25),
        reply_ttl: Some(64),
    });
    icmp.up = Some(true);
    let mut tls = ProbeEvent::new(at, "tls", "localhost", Some(8443));
    let not_after = datetime!(2027-01-15 23:59:59 UTC);
    tls.tls = Some(TlsDetails {
        version: "TLS 1.3".into(),
        cipher: "TLS13_AES_256_GCM_SHA384".into(),
        chain: vec![CertificateInfo {
            subject: "CN=localhost".into(),
            issuer: "CN=Test CA".into(),
            not_after,
            sha256: "0123456789abcdef".repeat(4),
        }],
        earliest_expiry: Some(not_after),
    });
    tls.up = Some(true);
    let mut out = vec![dns, icmp, tls];
    for e in &mut out {
        e.status_code = None;
        e.target = Some(e.protocol.clone());
        e.response_time_ms = 2;
    }
    out
}

#[tokio::test]
async fn postgres_an_upgrade_makes_port_and_status_nullable_and_stores_every_kind() {
    // A database migrated up to the schema before the kinds, with a row of that version's
    // writer in each kind of partition: the original's attached table (10 days ago), a daily
    // one (today), DEFAULT (60 days ahead).
    let db = TestDb::new().await;
    let mut c = db.client().await;
    original_dbmate_up(&mut c).await;
    c.batch_execute(
        "INSERT INTO probe_events (uuid, event_time, schema_title, schema_version, protocol, hostname, port, path, status_code, response_time_ms)
         VALUES (gen_random_uuid(), now() - interval '3 days', 'ProbeEvent', '0.2.0', 'https', 't1.example', 443, '/', 200, 5)",
    )
    .await
    .unwrap();
    migrate_before(&mut c, KINDS_MIGRATION).await;
    partitions::maintain(&mut c, None).await.unwrap();
    c.batch_execute("INSERT INTO targets (id, first_seen, last_seen) VALUES ('t1', now(), now())")
        .await
        .unwrap();
    let mut before = Vec::new();
    for ago_minutes in [10 * 24 * 60, 10, -60 * 24 * 60] {
        let e = conditioned(ago_minutes);
        c.execute(
            "INSERT INTO probe_events (uuid, event_time, schema_title, schema_version, protocol,
                hostname, port, path, status_code, response_time_ms, up, target_id, conditions)
             VALUES ($1, $2, 'ProbeEvent', '0.4.0', 'https', 't1.example', 443, '/', 200, 5,
                true, 't1', '[]')",
            &[&e.envelope.uuid, &e.envelope.event_time],
        )
        .await
        .unwrap();
        before.push(e.envelope.uuid.to_string());
    }
    // That schema refuses an event without a port or status.
    let refused = c
        .execute(
            "INSERT INTO probe_events (uuid, event_time, schema_title, schema_version, protocol,
                hostname, port, path, status_code, response_time_ms)
             VALUES (gen_random_uuid(), now(), 'ProbeEvent', '0.5.0', 'icmp', '::1', NULL, '',
                NULL, 1)",
            &[],
        )
        .await;
    assert!(refused.is_err(), "NOT NULL before the migration");

    let applied = migrate::up(&mut c).await.unwrap();
    assert!(applied[0].starts_with(KINDS_MIGRATION), "{applied:?}");
    let partitions: Vec<String> = c
        .query(
            "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
              WHERE i.inhparent = 'probe_events'::regclass ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(partitions.len() > 3, "{partitions:?}");
    assert!(partitions.contains(&"probe_events_legacy".to_owned()));
    for p in partitions.iter().chain([&"probe_events".to_owned()]) {
        let columns: Vec<(String, String, bool)> = c
            .query(
                "SELECT attname::text, format_type(atttypid, atttypmod), attnotnull
                   FROM pg_attribute
                  WHERE attrelid = $1::text::regclass AND NOT attisdropped
                    AND attname IN ('port', 'status_code', 'dns', 'icmp', 'tls', 'tcp', 'grpc', 'push')
                  ORDER BY attnum",
                &[p],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        let want: Vec<(String, String, bool)> = [
            ("port", "ip_port"),
            ("status_code", "integer"),
            ("dns", "jsonb"),
            ("icmp", "jsonb"),
            ("tls", "jsonb"),
            ("tcp", "jsonb"),
            ("grpc", "jsonb"),
            ("push", "jsonb"),
        ]
        .iter()
        .map(|(n, t)| ((*n).to_owned(), (*t).to_owned(), false))
        .collect();
        assert_eq!(columns, want, "{p}");
    }

    // The writer stores events of every kind, from typed events and from the spool; the
    // store reads them back, and older rows without kind objects.
    let typed = of_every_kind(5);
    let spooled = of_every_kind(4);
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool/postgres");
    std::fs::create_dir_all(&spool).unwrap();
    let lines: String = spooled
        .iter()
        .map(|e| serde_json::to_string(&Event::from(e.clone()).to_json()).unwrap() + "\n")
        .collect();
    std::fs::write(spool.join("00000000000000000001-000000-1.jsonl"), lines).unwrap();
    let mut w = writer(&db.url, dir.path(), Source::Prober).await;
    let events: Vec<Event> = typed.iter().cloned().map(Event::from).collect();
    w.write_and_wait(&events).await.unwrap();
    w.close().await.unwrap();
    assert_eq!(w.health().rejected.load(Ordering::Relaxed), 0);
    assert_eq!(
        count(
            &c,
            "SELECT count(*) FROM probe_events WHERE status_code IS NULL"
        )
        .await,
        6
    );
    assert_eq!(
        count(&c, "SELECT count(*) FROM probe_events WHERE port IS NULL").await,
        2,
        "ICMP's"
    );
    assert_eq!(
        count(
            &c,
            "SELECT count(*) FROM probe_events WHERE dns -> 'answers' -> 0 ->> 'data' = '\"a\u{FFFD}b\"'"
        )
        .await,
        2,
        "U+0000 stored as U+FFFD, typed and spooled alike"
    );
    let store = uptimer::store::PostgresStore::open(&db.url, None, 2)
        .await
        .unwrap();
    use uptimer::store::Store;
    for (i, id) in ["dns", "icmp", "tls"].into_iter().enumerate() {
        let rows = store.events(id, i64::MIN, i64::MAX, 10).await.unwrap();
        let got: Vec<Value> = rows
            .iter()
            .map(|r| {
                serde_json::json!([
                    r.uuid,
                    r.port,
                    r.status_code,
                    r.error_kind,
                    r.dns,
                    r.icmp,
                    r.tls
                ])
            })
            .collect();
        let want: Vec<Value> = [&spooled[i], &typed[i]]
            .iter()
            .map(|e| {
                let mut dns = e.dns.clone();
                if let Some(d) = &mut dns {
                    d.answers[0].data = "\"a\u{FFFD}b\"".into();
                }
                serde_json::json!([
                    e.envelope.uuid,
                    e.port,
                    e.status_code,
                    e.error_kind,
                    dns,
                    e.icmp,
                    e.tls
                ])
            })
            .collect();
        assert_eq!(got, want, "{id}");
        // The target's latest status is none, not 0.
        let t = store.target(id).await.unwrap().unwrap();
        assert_eq!(t.last_status_code, None, "{id}");
    }
    let older = store.events("t1", i64::MIN, i64::MAX, 10).await.unwrap();
    assert_eq!(older.len(), 3);
    for r in &older {
        assert!(before.contains(&r.uuid));
        assert_eq!((r.port, r.status_code), (Some(443), Some(200)));
        assert!(r.dns.is_none() && r.icmp.is_none() && r.tls.is_none() && r.push.is_none());
    }

    // Rolled back (the later migrations first): the rows without a port or status go, the
    // others stay.
    let rolled_back = loop {
        let m = migrate::down(&mut c).await.unwrap().unwrap();
        if m.as_str() <= KINDS_MIGRATION || m.starts_with(KINDS_MIGRATION) {
            break m;
        }
    };
    assert!(rolled_back.starts_with(KINDS_MIGRATION), "{rolled_back}");
    assert_eq!(
        count(
            &c,
            "SELECT count(*) FROM probe_events WHERE target_id = 't1'"
        )
        .await,
        3
    );
    assert_eq!(
        count(
            &c,
            "SELECT count(*) FROM probe_events WHERE target_id = 'tls'"
        )
        .await,
        0
    );
    assert!(
        c.execute(
            "INSERT INTO probe_events (uuid, event_time, schema_title, schema_version, protocol,
                hostname, port, path, status_code, response_time_ms)
             VALUES (gen_random_uuid(), now(), 'ProbeEvent', '0.5.0', 'icmp', '::1', NULL, '',
                NULL, 1)",
            &[],
        )
        .await
        .is_err(),
        "NOT NULL again"
    );
}
