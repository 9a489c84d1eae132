//! Synthetic history for `scripts/bench web`: N targets probed every minute, with hour rollups
//! for the whole history and minute rollups and raw events for the recent days, written
//! straight into the store's tables (the way the writer would have left them) so a month of
//! 10,000 targets takes minutes, not a month.

use std::time::Instant;

use rusqlite::{Connection, params};

use crate::state::Status;
use crate::store::hist::Histogram;
use crate::store::{DAY, HOUR, MINUTE, Micros, RECENT_CHECKS, StoreError, now_micros};

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub targets: usize,
    /// Days of hour rollups.
    pub days: i64,
    /// Days of minute rollups and raw events (the most recent ones).
    pub raw_days: i64,
    /// Seconds between checks of a target.
    pub interval_s: i64,
}

/// A tiny deterministic PRNG (xorshift64*): the same spec gives the same data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
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

/// Fills the store at `conn` (schema already in place). Returns rows written.
pub fn generate(
    conn: &mut Connection,
    spec: Spec,
    progress: &dyn Fn(&str),
) -> Result<u64, StoreError> {
    conn.execute_batch("PRAGMA synchronous=OFF; PRAGMA cache_size=-262144;")?;
    let now = now_micros();
    let step = spec.interval_s.max(1) * 1_000_000;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut rows = 0u64;
    let started = Instant::now();

    // Targets with their live state.
    {
        let tx = conn.transaction()?;
        {
            let mut st = tx.prepare(
                "INSERT OR REPLACE INTO targets (id, url, name, protocol, hostname, port, path, tags,
                   first_seen, last_seen, interval_s, last_event_time, last_up, last_status_code,
                   last_response_ms, last_error_kind, last_error, recent, status, cert_not_after)
                 VALUES (?1, ?2, ?3, 'https', ?4, 443, '/health', ?5, ?6, ?7, ?8, ?7, ?9, ?10, ?11,
                   ?12, ?13, ?14, ?15, ?16)",
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
                st.execute(params![
                    target_id(i),
                    format!("https://{host}/health"),
                    format!(
                        "service {i:05} ({})",
                        if i % 3 == 0 { "eu-west" } else { "us-east" }
                    ),
                    host,
                    serde_json::to_string(&tags).unwrap_or_default(),
                    now - spec.days * DAY,
                    last,
                    spec.interval_s,
                    up,
                    if up { 200 } else { 503 },
                    latency(&mut rng, i) as i64,
                    (!up).then_some("http_status"),
                    (!up).then_some("unexpected status 503 (expected 200-399)"),
                    recent,
                    Status::of_recent(&recent).as_str(),
                    now + (10 + (i % 90) as i64) * DAY,
                ])?;
                rows += 1;
            }
        }
        tx.commit()?;
    }
    progress(&format!(
        "targets: {} in {:.1?}",
        spec.targets,
        started.elapsed()
    ));

    let per_hour = (HOUR / step).max(1);
    let rollup = |table: &str| {
        format!(
            "INSERT OR REPLACE INTO {table} (target_id, bucket, checks, up, sum_ms, min_ms, max_ms,
               sum_dns_ms, sum_connect_ms, sum_tls_ms, sum_ttfb_ms, sum_transfer_ms, hist)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
        )
    };
    // Hour and day rollups for the whole history, a day at a time.
    let first_hour = (now - spec.days * DAY) - (now - spec.days * DAY).rem_euclid(HOUR);
    let first_day = first_hour - first_hour.rem_euclid(DAY);
    let mut hours = 0;
    let mut day = first_day;
    while day <= now {
        let tx = conn.transaction()?;
        {
            let mut hour_st = tx.prepare_cached(&rollup("rollup_hour"))?;
            let mut day_st = tx.prepare_cached(&rollup("rollup_day"))?;
            for i in 0..spec.targets {
                let id = target_id(i);
                let mut d_hist = Histogram::new();
                let (mut d_n, mut d_sum, mut d_min, mut d_max, mut d_up) =
                    (0i64, 0.0, f64::MAX, 0.0f64, 0);
                let mut bucket = day.max(first_hour);
                while bucket < day + DAY && bucket <= now {
                    let mut hist = Histogram::new();
                    let (mut sum, mut min, mut max, mut up) = (0.0, f64::MAX, 0.0f64, 0);
                    for _ in 0..per_hour {
                        let ms = latency(&mut rng, i).round();
                        hist.record(ms);
                        sum += ms;
                        min = min.min(ms);
                        max = max.max(ms);
                        up += i64::from(rng.unit() >= fail_p(i));
                    }
                    let n = per_hour as f64;
                    hour_st.execute(params![
                        id,
                        bucket,
                        per_hour,
                        up,
                        sum,
                        min,
                        max,
                        n,
                        sum * 0.1,
                        sum * 0.2,
                        sum * 0.6,
                        sum * 0.1 - n,
                        hist.encode()
                    ])?;
                    d_hist.merge(&hist);
                    d_n += per_hour;
                    d_sum += sum;
                    d_min = d_min.min(min);
                    d_max = d_max.max(max);
                    d_up += up;
                    rows += 1;
                    if i == 0 {
                        hours += 1;
                    }
                    bucket += HOUR;
                }
                if d_n > 0 {
                    let n = d_n as f64;
                    day_st.execute(params![
                        id,
                        day,
                        d_n,
                        d_up,
                        d_sum,
                        d_min,
                        d_max,
                        n,
                        d_sum * 0.1,
                        d_sum * 0.2,
                        d_sum * 0.6,
                        d_sum * 0.1 - n,
                        d_hist.encode()
                    ])?;
                    rows += 1;
                }
            }
        }
        tx.commit()?;
        day += DAY;
    }
    progress(&format!(
        "hour and day rollups: {hours} hours x {} targets, {:.1?}",
        spec.targets,
        started.elapsed()
    ));

    // Minute rollups and raw events for the recent days, one check per interval per target.
    let raw_from = now - spec.raw_days * DAY;
    let slots = (now - raw_from) / step;
    let mut uuid_seq: u128 = (now as u128) << 64;
    let slots_per_tx = (200_000 / spec.targets.max(1)).max(1) as i64;
    let mut slot = 0;
    while slot < slots {
        let tx = conn.transaction()?;
        {
            let mut ev = tx.prepare_cached(
                "INSERT INTO probe_events (uuid, event_time, schema_title, schema_version, protocol,
                   hostname, port, path, status_code, response_time_ms, error, target_id, url, up,
                   error_kind, phases_ms_dns, phases_ms_connect, phases_ms_tls, phases_ms_ttfb,
                   phases_ms_transfer, ip, http_version, body_bytes, redirects)
                 VALUES (?1, ?2, 'ProbeEvent', '0.3.0', 'https', ?3, 443, '/health', ?4, ?5, ?6, ?7,
                   ?8, ?9, ?10, 1.0, ?11, ?12, ?13, ?14, '10.0.0.1', 'HTTP/2', 1256, 0)",
            )?;
            let mut mr = tx.prepare_cached(&rollup("rollup_minute"))?;
            for s in slot..(slot + slots_per_tx).min(slots) {
                let base = raw_from + s * step;
                for i in 0..spec.targets {
                    // Spread over the interval like the scheduler does.
                    let t = base + (i as i64 * step) / spec.targets as i64;
                    let ms = latency(&mut rng, i).round();
                    let up = rng.unit() >= fail_p(i);
                    uuid_seq += 1;
                    let id = target_id(i);
                    ev.execute(params![
                        uuid::Uuid::from_u128(uuid_seq).to_string(),
                        t,
                        format!("svc{i:05}.example.net"),
                        if up { 200 } else { 503 },
                        ms as i64,
                        (!up).then_some("unexpected status 503 (expected 200-399)"),
                        id,
                        format!("https://svc{i:05}.example.net/health"),
                        up,
                        (!up).then_some("http_status"),
                        ms * 0.1,
                        ms * 0.2,
                        ms * 0.6,
                        ms * 0.1 - 1.0,
                    ])?;
                    let mut hist = Histogram::new();
                    hist.record(ms);
                    mr.execute(params![
                        id,
                        t - t.rem_euclid(MINUTE),
                        1,
                        up,
                        ms,
                        ms,
                        ms,
                        1.0,
                        ms * 0.1,
                        ms * 0.2,
                        ms * 0.6,
                        ms * 0.1 - 1.0,
                        hist.encode()
                    ])?;
                    rows += 2;
                }
            }
        }
        tx.commit()?;
        slot += slots_per_tx;
        if slot % (slots_per_tx * 50) < slots_per_tx {
            progress(&format!(
                "raw events and minute rollups: {:.0}% ({rows} rows, {:.1?})",
                100.0 * slot.min(slots) as f64 / slots as f64,
                started.elapsed()
            ));
        }
    }

    // Incidents: a few closed ones for the flaky targets, an open one for those down now.
    let tx = conn.transaction()?;
    {
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
    }
    tx.commit()?;
    conn.execute_batch("PRAGMA synchronous=NORMAL; ANALYZE;")?;
    progress(&format!("done: {rows} rows in {:.1?}", started.elapsed()));
    Ok(rows)
}
