//! A target-day of hour rollups, one numeric column (see `columns`) per field: the hour starts,
//! the three counters, the eight floats in whole microseconds (sum, min and max are whole
//! milliseconds, which the columns notice), then the histograms' non-empty buckets.

use super::PackError;
use super::columns;
use super::frame::{self, Compression, Kind};
use super::varint::{self, Reader};
use crate::store::hist::{BUCKETS, Histogram};
use crate::store::rollup::Agg;
use crate::store::{HOUR, Micros};

/// The most hours one encoding holds (a leap year's): a day has 24, and the limit also bounds
/// what a forged count can make the reader allocate.
pub const MAX_HOURS: usize = 366 * 24;
/// The largest magnitude a quantized float may have (2^53 µs, 285 years).
const MAX_MICROS: f64 = 9_007_199_254_740_992.0;

/// A float in whole microseconds.
fn quantize(ms: f64, field: &'static str) -> Result<i64, PackError> {
    let us = (ms * 1000.0).round();
    if (-MAX_MICROS..=MAX_MICROS).contains(&us) {
        Ok(us as i64)
    } else {
        Err(PackError::Unrepresentable(field))
    }
}

/// The floats of an aggregate, in their column order.
fn floats(a: &Agg) -> [(f64, &'static str); 8] {
    [
        (a.sum_ms, "sum_ms"),
        (a.min_ms, "min_ms"),
        (a.max_ms, "max_ms"),
        (a.sums[0], "sums.dns"),
        (a.sums[1], "sums.connect"),
        (a.sums[2], "sums.tls"),
        (a.sums[3], "sums.ttfb"),
        (a.sums[4], "sums.transfer"),
    ]
}

/// The phase sums' total to the millisecond (µs): what predicts `sum_ms` (µs), itself whole
/// milliseconds when built from events, so the difference is too.
fn phase_sum(q: &[i64; 8]) -> i64 {
    let total = q[3..].iter().fold(500i64, |s, v| s.wrapping_add(*v));
    total.div_euclid(1000).wrapping_mul(1000)
}

/// Count columns of the histograms: a bucket's count by its place in its hour (first,
/// second, third, later), each with its own typical size.
const PLACES: usize = 4;

/// Encodes hour rollups `(hour start, aggregate)` (any order; a target-day's 24 typically).
/// Decoding gives them back sorted by hour start, floats rounded to the microsecond.
///
/// What one field predicts of another is left out: `up` is written as failures
/// (`checks - up`), `timed` as `up - timed` (zero for aggregates built with `Agg::add`),
/// `sum_ms` as its excess over the phase sums (the time between phases), and a histogram's
/// last count as its difference from `timed` less the other counts.
pub fn encode_hours(
    hours: &[(Micros, Agg)],
    compression: Compression,
) -> Result<Vec<u8>, PackError> {
    if hours.len() > MAX_HOURS {
        return Err(PackError::Unrepresentable("more than a year of hours"));
    }
    let mut rows: Vec<&(Micros, Agg)> = hours.iter().collect();
    rows.sort_by_key(|(t, _)| *t);
    let mut out = Vec::with_capacity(16 + rows.len() * 24);
    varint::put(&mut out, rows.len() as u64);
    let column = |out: &mut Vec<u8>, f: &dyn Fn(&Agg) -> i64| {
        columns::put(out, &rows.iter().map(|(_, a)| f(a)).collect::<Vec<_>>());
    };
    // Hour starts in whole hours when they all are (one flag).
    let aligned = rows.iter().all(|(t, _)| t % HOUR == 0);
    let unit = if aligned { HOUR } else { 1 };
    varint::put(&mut out, u64::from(aligned));
    columns::put(
        &mut out,
        &rows.iter().map(|(t, _)| t / unit).collect::<Vec<_>>(),
    );
    column(&mut out, &|a| a.checks);
    column(&mut out, &|a| a.checks.wrapping_sub(a.up));
    column(&mut out, &|a| a.up.wrapping_sub(a.timed));
    let mut floats_us = Vec::with_capacity(rows.len());
    for (_, a) in &rows {
        let mut q = [0i64; 8];
        for (q, (v, field)) in q.iter_mut().zip(floats(a)) {
            *q = quantize(v, field)?;
        }
        floats_us.push(q);
    }
    columns::put(
        &mut out,
        &floats_us
            .iter()
            .map(|q| q[0].wrapping_sub(phase_sum(q)))
            .collect::<Vec<_>>(),
    );
    for c in 1..8 {
        columns::put(
            &mut out,
            &floats_us.iter().map(|q| q[c]).collect::<Vec<_>>(),
        );
    }

    let mut lens = vec![];
    let mut firsts = vec![];
    let mut steps = vec![];
    let mut places: [Vec<i64>; PLACES] = Default::default();
    let mut lasts = vec![];
    for (_, a) in &rows {
        let b = buckets(&a.hist)?;
        lens.push(b.len() as i64);
        let Some((&(first, _), &(_, last))) = b.first().zip(b.last()) else {
            continue;
        };
        firsts.push(i64::from(first));
        steps.extend(b.windows(2).map(|w| i64::from(w[1].0 - w[0].0)));
        let mut others = 0i64;
        for (i, &(_, n)) in b[..b.len() - 1].iter().enumerate() {
            places[i.min(PLACES - 1)].push(n as i64);
            others = others.wrapping_add(n as i64);
        }
        lasts.push((last as i64).wrapping_sub(a.timed.wrapping_sub(others)));
    }
    for c in [&lens, &firsts, &steps]
        .into_iter()
        .chain(&places)
        .chain([&lasts])
    {
        columns::put(&mut out, c);
    }
    frame::seal(Kind::Hours, out, compression)
}

/// A histogram's non-empty buckets (index, count), as `Histogram::encode` lists them.
fn buckets(h: &Histogram) -> Result<Vec<(u8, u64)>, PackError> {
    let sparse = h.encode();
    let mut r = Reader::new(&sparse);
    let mut out = Vec::new();
    while r.remaining() > 0 {
        out.push((r.byte()?, r.varint()?));
    }
    Ok(out)
}

/// The checks and passes of each hour [`encode_hours`] wrote, sorted by start: what uptime
/// needs, read without the floats and histograms.
pub fn decode_hour_counts(bytes: &[u8]) -> Result<Vec<(Micros, i64, i64)>, PackError> {
    let body = frame::open(Kind::Hours, bytes)?;
    let mut r = Reader::new(&body);
    let starts = hour_starts(&mut r)?;
    let checks = columns::read(&mut r, starts.len())?;
    let failed = columns::read(&mut r, starts.len())?;
    Ok(starts
        .into_iter()
        .zip(checks.into_iter().zip(failed))
        .map(|(start, (checks, failed))| (start, checks, checks.wrapping_sub(failed)))
        .collect())
}

/// The hour count and starts that begin an encoding.
fn hour_starts(r: &mut Reader) -> Result<Vec<Micros>, PackError> {
    let m = r.varint()?;
    if m > MAX_HOURS as u64 {
        return Err(PackError::Count {
            count: m,
            room: r.remaining(),
        });
    }
    let unit = match r.varint()? {
        0 => 1,
        1 => HOUR,
        _ => return Err(PackError::Corrupt("hour starts")),
    };
    let starts = columns::read(r, m as usize)?
        .into_iter()
        .map(|t| t.checked_mul(unit))
        .collect::<Option<Vec<_>>>()
        .ok_or(PackError::Corrupt("hour starts"))?;
    if starts.windows(2).any(|w| w[0] > w[1]) {
        return Err(PackError::Corrupt("hours out of order"));
    }
    Ok(starts)
}

/// Decodes what [`encode_hours`] wrote: the hours sorted by start.
pub fn decode_hours(bytes: &[u8]) -> Result<Vec<(Micros, Agg)>, PackError> {
    let body = frame::open(Kind::Hours, bytes)?;
    let mut r = Reader::new(&body);
    let starts = hour_starts(&mut r)?;
    let m = starts.len();
    let checks = columns::read(&mut r, m)?;
    let failed = columns::read(&mut r, m)?;
    let untimed = columns::read(&mut r, m)?;
    let mut floats_us = vec![[0i64; 8]; m];
    for c in 0..8 {
        for (q, v) in floats_us.iter_mut().zip(columns::read(&mut r, m)?) {
            q[c] = v;
        }
    }
    for q in &mut floats_us {
        q[0] = q[0].wrapping_add(phase_sum(q));
        if q.iter().any(|v| v.unsigned_abs() as f64 > MAX_MICROS) {
            return Err(PackError::Corrupt("float out of range"));
        }
    }

    let lens = columns::read(&mut r, m)?;
    if lens.iter().any(|&l| !(0..=BUCKETS as i64).contains(&l)) {
        return Err(PackError::Corrupt("histogram buckets"));
    }
    let nonempty = lens.iter().filter(|&&l| l > 0).count();
    let total = lens.iter().sum::<i64>() as usize;
    let mut firsts = columns::read(&mut r, nonempty)?.into_iter();
    let mut steps = columns::read(&mut r, total - nonempty)?.into_iter();
    let mut places: [std::vec::IntoIter<i64>; PLACES] = Default::default();
    for (p, place) in places.iter_mut().enumerate() {
        let n: i64 = lens
            .iter()
            .map(|&l| match p {
                p if p < PLACES - 1 => i64::from(l - 1 > p as i64),
                _ => (l - PLACES as i64).max(0),
            })
            .sum();
        *place = columns::read(&mut r, n as usize)?.into_iter();
    }
    let mut lasts = columns::read(&mut r, nonempty)?.into_iter();
    r.finish()?;

    let mut out = Vec::with_capacity(m);
    for (i, start) in starts.into_iter().enumerate() {
        let len = lens[i];
        let up = checks[i].wrapping_sub(failed[i]);
        let timed = up.wrapping_sub(untimed[i]);
        let mut sparse = Vec::with_capacity(len as usize * 4);
        let (mut index, mut others) = (0i64, 0i64);
        for b in 0..len {
            let step = if b == 0 { firsts.next() } else { steps.next() };
            index = index.saturating_add(step.unwrap_or(-1));
            let count = if b + 1 < len {
                places[(b as usize).min(PLACES - 1)].next()
            } else {
                lasts
                    .next()
                    .map(|d| d.wrapping_add(timed.wrapping_sub(others)))
            };
            match count.and_then(|c| u64::try_from(c).ok()) {
                Some(c) if (0..BUCKETS as i64).contains(&index) && (b == 0 || step > Some(0)) => {
                    sparse.push(index as u8);
                    varint::put(&mut sparse, c);
                    others = others.wrapping_add(c as i64);
                }
                _ => return Err(PackError::Corrupt("histogram bucket")),
            }
        }
        let f = floats_us[i].map(|us| us as f64 / 1000.0);
        // Every field named: a field added to `Agg` does not compile here until it is kept.
        let agg = Agg {
            checks: checks[i],
            up,
            timed,
            sum_ms: f[0],
            min_ms: f[1],
            max_ms: f[2],
            sums: [f[3], f[4], f[5], f[6], f[7]],
            hist: if len == 0 {
                Histogram::default()
            } else {
                Histogram::decode(&sparse)
            },
        };
        out.push((start, agg));
    }
    Ok(out)
}
