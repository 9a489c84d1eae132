//! A target-day of hour rollups, one numeric column (see `columns`) per field: the hour starts,
//! the three counters, the eight floats in whole microseconds (sum, min and max are whole
//! milliseconds, which the columns notice), then the histograms' non-empty buckets.

use super::PackError;
use super::columns;
use super::frame::{self, Compression, Kind};
use super::varint::{self, Reader};
use crate::store::Micros;
use crate::store::hist::{BUCKETS, Histogram};
use crate::store::rollup::Agg;

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

/// Encodes hour rollups `(hour start, aggregate)` (any order; a target-day's 24 typically).
/// Decoding gives them back sorted by hour start, floats rounded to the microsecond.
pub fn encode_hours(
    hours: &[(Micros, Agg)],
    compression: Compression,
) -> Result<Vec<u8>, PackError> {
    if hours.len() > MAX_HOURS {
        return Err(PackError::Unrepresentable("more than a year of hours"));
    }
    let mut rows: Vec<&(Micros, Agg)> = hours.iter().collect();
    rows.sort_by_key(|(t, _)| *t);
    let mut out = Vec::with_capacity(16 + rows.len() * 32);
    varint::put(&mut out, rows.len() as u64);
    let column = |out: &mut Vec<u8>, f: &dyn Fn(&(Micros, Agg)) -> i64| {
        columns::put(out, &rows.iter().map(|r| f(r)).collect::<Vec<_>>());
    };
    column(&mut out, &|(t, _)| *t);
    column(&mut out, &|(_, a)| a.checks);
    column(&mut out, &|(_, a)| a.up);
    column(&mut out, &|(_, a)| a.timed);
    for c in 0..8 {
        let values = rows
            .iter()
            .map(|(_, a)| {
                let (v, field) = floats(a)[c];
                quantize(v, field)
            })
            .collect::<Result<Vec<_>, _>>()?;
        columns::put(&mut out, &values);
    }
    // Histograms: per hour its bucket count and first bucket, then every hour's steps between
    // buckets and counts, each as one column.
    let sparse: Vec<Vec<(u8, u64)>> = rows
        .iter()
        .map(|(_, a)| buckets(&a.hist))
        .collect::<Result<_, _>>()?;
    let (mut lens, mut firsts, mut steps, mut counts) = (vec![], vec![], vec![], vec![]);
    for b in &sparse {
        lens.push(b.len() as i64);
        firsts.extend(b.first().map(|&(i, _)| i64::from(i)));
        steps.extend(b.windows(2).map(|w| i64::from(w[1].0 - w[0].0)));
        counts.extend(b.iter().map(|&(_, n)| n as i64));
    }
    for c in [lens, firsts, steps, counts] {
        columns::put(&mut out, &c);
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

/// Decodes what [`encode_hours`] wrote: the hours sorted by start.
pub fn decode_hours(bytes: &[u8]) -> Result<Vec<(Micros, Agg)>, PackError> {
    let body = frame::open(Kind::Hours, bytes)?;
    let mut r = Reader::new(&body);
    let m = r.varint()?;
    if m > MAX_HOURS as u64 {
        return Err(PackError::Count {
            count: m,
            room: r.remaining(),
        });
    }
    let m = m as usize;
    let starts = columns::read(&mut r, m)?;
    if starts.windows(2).any(|w| w[0] > w[1]) {
        return Err(PackError::Corrupt("hours out of order"));
    }
    let counters = [
        columns::read(&mut r, m)?,
        columns::read(&mut r, m)?,
        columns::read(&mut r, m)?,
    ];
    let mut floats: [Vec<f64>; 8] = Default::default();
    for column in &mut floats {
        for us in columns::read(&mut r, m)? {
            if us.unsigned_abs() as f64 > MAX_MICROS {
                return Err(PackError::Corrupt("float out of range"));
            }
            column.push(us as f64 / 1000.0);
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
    let mut counts = columns::read(&mut r, total)?.into_iter();
    r.finish()?;

    let mut out = Vec::with_capacity(m);
    for (i, (start, len)) in starts.into_iter().zip(lens).enumerate() {
        let mut sparse = Vec::with_capacity(len as usize * 4);
        let mut index = 0i64;
        for b in 0..len {
            let step = if b == 0 { firsts.next() } else { steps.next() };
            index = index.saturating_add(step.unwrap_or(-1));
            let count = counts.next().and_then(|c| u64::try_from(c).ok());
            match count {
                Some(c) if (0..BUCKETS as i64).contains(&index) && (b == 0 || step > Some(0)) => {
                    sparse.push(index as u8);
                    varint::put(&mut sparse, c);
                }
                _ => return Err(PackError::Corrupt("histogram bucket")),
            }
        }
        let f = |c: usize| floats[c][i];
        // Every field named: a field added to `Agg` does not compile here until it is kept.
        let agg = Agg {
            checks: counters[0][i],
            up: counters[1][i],
            timed: counters[2][i],
            sum_ms: f(0),
            min_ms: f(1),
            max_ms: f(2),
            sums: [f(3), f(4), f(5), f(6), f(7)],
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
