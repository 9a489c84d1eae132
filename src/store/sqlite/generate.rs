//! Synthetic history for `scripts/bench web`: N targets probed every interval, with hour
//! rollups for the whole history and raw events for the recent days, written the way ingest
//! and the pack job leave them (closed hours packed, the open ones as rows) without going
//! through a month of batches. The events are what a prober sends (random v4 uuids, times
//! with microsecond jitter, phases to the microsecond, now and then a failure), and the
//! rollups are built from them, so sizes match a real store's (a test compares them).

use std::collections::HashMap;
use std::time::Instant;

use rusqlite::params;
use time::macros::datetime;

use super::pack::sample::Rng;
use super::write::{in_tx, is_up, phases};
use super::{WriteConn, raw, rollups};
use crate::event::{ErrorKind, Phases, ProbeEvent};
use crate::state::Status;
use crate::store::rollup::Agg;
use crate::store::{DAY, HOUR, Micros, RECENT_CHECKS, StoreError, from_micros, now_micros};

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub targets: usize,
    /// Days of hour rollups.
    pub days: i64,
    /// Days of raw events (the most recent ones).
    pub raw_days: i64,
    /// Seconds between checks of a target.
    pub interval_s: i64,
}

/// The id the generator gives target `i` (also what the ingest load uses).
pub fn target_id(i: usize) -> String {
    format!("bench-{i:05}")
}

const TAGS: [&str; 6] = ["prod", "staging", "eu", "us", "api", "web"];

fn base_ms(i: usize) -> f64 {
    15.0 + (i % 180) as f64
}

fn latency(rng: &mut Rng, i: usize) -> f64 {
    // Mostly near the base, now and then a slow one.
    let b = base_ms(i);
    let r = rng.unit();
    if r > 0.98 {
        b * (2.0 + 6.0 * rng.unit())
    } else {
        b * (0.8 + 0.4 * rng.unit())
    }
}

/// Failure probability of target `i` (a few flaky ones, most solid).
fn fail_p(i: usize) -> f64 {
    match i % 100 {
        0 => 0.05,
        1..=4 => 0.01,
        _ => 0.0005,
    }
}

/// Milliseconds to the microsecond, as the prober reports phases.
fn us(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}

/// The event a prober sends for target `i` at `t`: HTTPS with every phase, a random uuid.
pub fn event(rng: &mut Rng, i: usize, t: Micros) -> ProbeEvent {
    let host = format!("svc{i:05}.example.net");
    let mut e = ProbeEvent::new(from_micros(t), "https", &host, Some(443));
    e.envelope.uuid = rng.uuid();
    e.path = "/health".into();
    e.target = Some(target_id(i));
    e.name = Some(name(i));
    e.url = Some(format!("https://{host}/health"));
    e.ip = Some(if i.is_multiple_of(4) {
        format!("2001:db8::{:x}", i + 1)
    } else {
        format!("10.{}.{}.{}", i >> 16 & 255, i >> 8 & 255, i & 255)
    });
    let up = rng.unit() >= fail_p(i);
    e.up = Some(up);
    if up {
        let ms = latency(rng, i);
        let dns = us(0.5 + 3.0 * rng.unit());
        let connect = us(ms * (0.08 + 0.04 * rng.unit()));
        let tls = us(ms * (0.18 + 0.04 * rng.unit()));
        let transfer = us(0.2 + rng.unit());
        let ttfb = us((ms - dns - connect - tls - transfer).max(0.1));
        e.status_code = Some(200);
        e.response_time_ms = ms.round() as u64;
        e.phases_ms = Some(Phases {
            dns: Some(dns),
            connect: Some(connect),
            tls: Some(tls),
            ttfb: Some(ttfb),
            transfer: Some(transfer),
        });
        e.http_version = Some(
            if i.is_multiple_of(3) {
                "HTTP/1.1"
            } else {
                "HTTP/2.0"
            }
            .into(),
        );
        e.body_bytes = Some(1200 + (i % 50) as u64);
        e.redirects = Some(0);
        e.tls_cert_not_after =
            Some(datetime!(2027-03-01 12:00 UTC) + time::Duration::days((i % 90) as i64));
    } else {
        e.status_code = Some(503);
        e.response_time_ms = latency(rng, i).round() as u64;
        e.error_kind = Some(ErrorKind::HttpStatus);
        e.error = Some("unexpected status 503 (expected 200-399)".into());
        e.http_version = Some("HTTP/1.1".into());
        e.body_bytes = Some(19);
        e.redirects = Some(0);
    }
    e
}

fn name(i: usize) -> String {
    format!(
        "service {i:05} ({})",
        if i.is_multiple_of(3) {
            "eu-west"
        } else {
            "us-east"
        }
    )
}

/// The events of target `i` in the hour starting at `hour`, one per interval (spread over the
/// interval like the scheduler does, with microsecond jitter), up to `now`.
pub fn hour_events(
    rng: &mut Rng,
    spec: &Spec,
    i: usize,
    hour: Micros,
    now: Micros,
) -> Vec<ProbeEvent> {
    let step = spec.interval_s.max(1) * 1_000_000;
    let offset = (i as i64 * step) / spec.targets.max(1) as i64;
    let mut out = Vec::with_capacity((HOUR / step) as usize + 1);
    let mut t = hour + offset;
    while t < hour + HOUR && t <= now {
        let jitter = (rng.next_u64() % 2_000) as i64;
        out.push(event(rng, i, t + jitter));
        t += step;
    }
    out
}

/// An hour of target `i` without raw events: its aggregate only.
fn hour_agg(rng: &mut Rng, spec: &Spec, i: usize) -> Agg {
    let per_hour = (HOUR / (spec.interval_s.max(1) * 1_000_000)).max(1);
    let mut a = Agg::default();
    for _ in 0..per_hour {
        let e = event(rng, i, 0);
        a.add(e.response_time_ms as f64, is_up(&e), phases(&e));
    }
    a
}

/// Fills the store (schema in place, no targets yet). Returns the rows written.
pub fn generate(w: &mut WriteConn, spec: Spec, progress: &dyn Fn(&str)) -> Result<u64, StoreError> {
    w.conn
        .execute_batch("PRAGMA synchronous=OFF; PRAGMA cache_size=-262144;")?;
    let now = now_micros();
    let mut rng = Rng::new(0x9e37_79b9_7f4a_7c15);
    let started = Instant::now();
    let keys = targets(w, &spec, now, &mut rng)?;
    let mut rows = keys.len() as u64;
    progress(&format!(
        "targets: {} in {:.1?}",
        spec.targets,
        started.elapsed()
    ));

    let first_hour = raw::hour_of(now - spec.days * DAY);
    let raw_from = raw::hour_of(now - spec.raw_days * DAY);
    let limit = raw::pack_limit(now);
    let mut day = rollups::day_of(first_hour);
    while day <= now {
        let written = in_tx(w, |tx, strings| {
            let mut rows = 0u64;
            for (i, key) in keys.iter().enumerate() {
                let mut packed: Vec<(Micros, Agg)> = Vec::new();
                let mut open: HashMap<(i64, Micros), Agg> = HashMap::new();
                let mut hour = day.max(first_hour);
                while hour < day + DAY && hour <= now {
                    let agg = if hour >= raw_from {
                        let events = hour_events(&mut rng, &spec, i, hour, now);
                        let mut a = Agg::default();
                        for e in &events {
                            a.add(e.response_time_ms as f64, is_up(e), phases(e));
                        }
                        if hour < limit {
                            raw::put_block(tx, strings, *key, hour, &events)?;
                        } else {
                            for e in &events {
                                let t = crate::store::to_micros(e.envelope.event_time);
                                raw::insert(tx, strings, *key, e, t)?;
                            }
                        }
                        rows += 1;
                        a
                    } else {
                        hour_agg(&mut rng, &spec, i)
                    };
                    if hour < limit {
                        packed.push((hour, agg));
                    } else {
                        open.insert((*key, hour), agg);
                    }
                    hour += HOUR;
                }
                if !packed.is_empty() {
                    rollups::put_day(tx, *key, day, &packed)?;
                    rows += 1;
                }
                // The hours not closed yet, as ingest leaves them (their day's sums added).
                rollups::add(tx, &open)?;
            }
            Ok(rows)
        })?;
        rows += written;
        progress(&format!(
            "day {} of {}: {rows} rows, {:.1?}",
            (day - rollups::day_of(first_hour)) / DAY + 1,
            spec.days + 1,
            started.elapsed()
        ));
        day += DAY;
    }
    rows += incidents(w, &spec, now, &mut rng)?;
    w.conn
        .execute_batch("PRAGMA synchronous=NORMAL; ANALYZE;")?;
    progress(&format!("done: {rows} rows in {:.1?}", started.elapsed()));
    Ok(rows)
}

/// The targets with their live state; returns their keys, in order.
fn targets(
    w: &mut WriteConn,
    spec: &Spec,
    now: Micros,
    rng: &mut Rng,
) -> Result<Vec<i64>, StoreError> {
    in_tx(w, |tx, _| {
        let mut keys = Vec::with_capacity(spec.targets);
        let mut st = tx.prepare(
            "INSERT INTO targets (id, url, name, protocol, hostname, port, path, tags,
               first_seen, last_seen, interval_s, last_event_time, last_up, last_status_code,
               last_response_ms, last_error_kind, last_error, recent, status, cert_not_after)
             VALUES (?1, ?2, ?3, 'https', ?4, 443, '/health', ?5, ?6, ?7, ?8, ?7, ?9, ?10, ?11,
               ?12, ?13, ?14, ?15, ?16)
             RETURNING key",
        )?;
        for i in 0..spec.targets {
            let host = format!("svc{i:05}.example.net");
            let tags: Vec<&str> = TAGS
                .iter()
                .enumerate()
                .filter(|(k, _)| (i >> k) & 1 == 1 || *k == i % 2)
                .map(|(_, t)| *t)
                .take(3)
                .collect();
            let mut recent = String::with_capacity(RECENT_CHECKS);
            for _ in 0..RECENT_CHECKS {
                recent.push(if rng.unit() < fail_p(i) { 'd' } else { 'u' });
            }
            // One target in 200 is down right now.
            if i % 200 == 7 {
                recent.pop();
                recent.push('d');
            }
            let up = !recent.ends_with('d');
            let last = now - (rng.unit() * spec.interval_s as f64 * 1e6) as Micros;
            keys.push(st.query_row(
                params![
                    target_id(i),
                    format!("https://{host}/health"),
                    name(i),
                    host,
                    serde_json::to_string(&tags).unwrap_or_default(),
                    now - spec.days * DAY,
                    last,
                    spec.interval_s,
                    up,
                    if up { 200 } else { 503 },
                    latency(rng, i) as i64,
                    (!up).then_some("http_status"),
                    (!up).then_some("unexpected status 503 (expected 200-399)"),
                    recent,
                    Status::of_recent(&recent).as_str(),
                    now + (10 + (i % 90) as i64) * DAY,
                ],
                |r| r.get(0),
            )?);
        }
        Ok(keys)
    })
}

/// A few closed incidents for the flaky targets, an open one for those down now.
fn incidents(
    w: &mut WriteConn,
    spec: &Spec,
    now: Micros,
    rng: &mut Rng,
) -> Result<u64, StoreError> {
    let step = spec.interval_s.max(1) * 1_000_000;
    in_tx(w, |tx, _| {
        let mut rows = 0;
        let mut st = tx.prepare(
            "INSERT INTO incidents (target_id, started_at, ended_at, error_kind, error, failed_checks)
             VALUES (?1, ?2, ?3, 'http_status', 'unexpected status 503 (expected 200-399)', ?4)",
        )?;
        for i in 0..spec.targets {
            let n = match i % 100 {
                0 => 6,
                1..=4 => 2,
                _ => 0,
            };
            for _ in 0..n {
                let start = now - (rng.unit() * (spec.days * DAY) as f64) as Micros;
                let checks = 1 + (rng.unit() * 10.0) as i64;
                st.execute(params![target_id(i), start, start + checks * step, checks])?;
                rows += 1;
            }
            if i % 200 == 7 {
                st.execute(params![target_id(i), now - step, None::<i64>, 1])?;
                let id = tx.last_insert_rowid();
                tx.execute(
                    "UPDATE targets SET open_incident = ?2 WHERE id = ?1",
                    params![target_id(i), id],
                )?;
                rows += 1;
            }
        }
        Ok(rows)
    })
}
