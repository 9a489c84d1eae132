//! Numeric columns coded close to their entropy. A column's values become small residuals,
//! either around a centre (the median: a phase, a status, a reference) or as steps around a
//! typical step (times that advance by about the interval, a slowly drifting sum), whichever is
//! smaller; the residuals are then Rice-coded bit by bit (a unary quotient and `k` low bits), so
//! a value with 12 bits of noise costs about 13 bits, where a varint costs 16 and zstd's byte
//! statistics cannot tell the columns apart. A column whose residuals are all zero costs its
//! header only; a column of whole thousands (milliseconds in microseconds) is divided first.
//!
//! A column is a header byte (bits 0–4 `k`, bit 5 "thousands", bit 6 "steps", bit 7 "all
//! residuals zero"), the centre (zigzag varint), for steps the first value, then the codes,
//! padded to a byte. An empty column takes no bytes, a column of one value is that value (a
//! zigzag varint): the open hour's single events stay small.

use super::PackError;
use super::varint::{self, Reader};

const MAX_K: u32 = 31;
const THOUSANDS: u8 = 1 << 5;
const STEPS: u8 = 1 << 6;
const ZERO: u8 = 1 << 7;
/// A quotient this large is not written in unary: the escape, a 6-bit length, then the value.
const ESCAPE: u64 = 24;

/// Appends `values` as a column.
pub fn put(out: &mut Vec<u8>, values: &[i64]) {
    match values {
        [] => return,
        [one] => return varint::put_signed(out, *one),
        _ => {}
    }
    let thousands = values.iter().all(|v| v % 1000 == 0);
    let scaled: Vec<i64> = if thousands {
        values.iter().map(|v| v / 1000).collect()
    } else {
        values.to_vec()
    };
    let around = Plan::around(&scaled);
    let steps = Plan::steps(&scaled);
    let plan = if steps.bytes() < around.bytes() {
        steps
    } else {
        around
    };
    plan.write(out, if thousands { THOUSANDS } else { 0 });
}

/// One way of coding a column, with its cost.
struct Plan {
    flags: u8,
    centre: i64,
    first: Option<i64>,
    residuals: Vec<u64>,
    k: u32,
    bits: u64,
}

impl Plan {
    fn around(values: &[i64]) -> Plan {
        let centre = median(values);
        let residuals = values
            .iter()
            .map(|v| varint::zigzag(v.wrapping_sub(centre)))
            .collect();
        Plan::new(0, centre, None, residuals)
    }

    fn steps(values: &[i64]) -> Plan {
        let steps: Vec<i64> = values.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect();
        let centre = if steps.is_empty() { 0 } else { median(&steps) };
        let residuals = steps
            .iter()
            .map(|s| varint::zigzag(s.wrapping_sub(centre)))
            .collect();
        Plan::new(STEPS, centre, Some(values[0]), residuals)
    }

    fn new(flags: u8, centre: i64, first: Option<i64>, residuals: Vec<u64>) -> Plan {
        let (k, bits) = best_k(&residuals);
        Plan {
            flags,
            centre,
            first,
            residuals,
            k,
            bits,
        }
    }

    fn zero(&self) -> bool {
        self.residuals.iter().all(|&z| z == 0)
    }

    fn bytes(&self) -> u64 {
        let mut header = Vec::with_capacity(20);
        varint::put_signed(&mut header, self.centre);
        if let Some(f) = self.first {
            varint::put_signed(&mut header, f);
        }
        let body = if self.zero() {
            0
        } else {
            self.bits.div_ceil(8)
        };
        1 + header.len() as u64 + body
    }

    fn write(&self, out: &mut Vec<u8>, flags: u8) {
        let zero = self.zero();
        out.push(self.k as u8 | self.flags | flags | if zero { ZERO } else { 0 });
        varint::put_signed(out, self.centre);
        if let Some(f) = self.first {
            varint::put_signed(out, f);
        }
        if zero {
            return;
        }
        let mut w = BitWriter::new(out);
        for &z in &self.residuals {
            let q = z >> self.k;
            if q < ESCAPE {
                w.ones(q as u32);
                w.put(0, 1);
                w.put(z, self.k);
            } else {
                let len = 64 - z.leading_zeros();
                w.ones(ESCAPE as u32);
                w.put(u64::from(len - 1), 6);
                w.put(z, len);
            }
        }
        w.finish();
    }
}

fn median(values: &[i64]) -> i64 {
    let mut v = values.to_vec();
    let mid = v.len() / 2;
    *v.select_nth_unstable(mid).1
}

fn code_bits(z: u64, k: u32) -> u64 {
    let q = z >> k;
    if q < ESCAPE {
        q + 1 + u64::from(k)
    } else {
        ESCAPE + 6 + u64::from(64 - z.leading_zeros())
    }
}

/// The Rice parameter that codes `residuals` in the fewest bits, and that number.
fn best_k(residuals: &[u64]) -> (u32, u64) {
    if residuals.is_empty() {
        return (0, 0);
    }
    let mean = residuals.iter().map(|&z| u128::from(z)).sum::<u128>() / residuals.len() as u128;
    let guess = 127 - (mean + 1).leading_zeros();
    let lo = guess.saturating_sub(3).min(MAX_K);
    (lo..=(guess + 3).min(MAX_K))
        .map(|k| (k, residuals.iter().map(|&z| code_bits(z, k)).sum()))
        .min_by_key(|&(_, bits)| bits)
        .unwrap_or((0, 0))
}

/// Reads a column of `n` values.
pub fn read(r: &mut Reader, n: usize) -> Result<Vec<i64>, PackError> {
    match n {
        0 => return Ok(Vec::new()),
        1 => return Ok(vec![r.signed()?]),
        _ => {}
    }
    let header = r.byte()?;
    let k = u32::from(header & 0x1f);
    let centre = r.signed()?;
    let steps = header & STEPS != 0;
    let first = if steps { Some(r.signed()?) } else { None };
    let codes = if steps { n - 1 } else { n };
    let mut residuals = Vec::with_capacity(codes);
    if header & ZERO != 0 {
        residuals.resize(codes, 0);
    } else {
        let mut bits = BitReader::new(r.rest());
        for _ in 0..codes {
            let q = bits.unary()?;
            // k ≤ 31 and q < 24: the shift cannot lose bits.
            let z = if q < ESCAPE {
                q << k | bits.get(k)?
            } else {
                let len = bits.get(6)? as u32 + 1;
                bits.get(len)?
            };
            residuals.push(z);
        }
        r.skip(bits.bytes_used())?;
    }
    let mut values = Vec::with_capacity(n);
    match first {
        Some(mut v) => {
            values.push(v);
            for z in residuals {
                v = v.wrapping_add(centre.wrapping_add(varint::unzigzag(z)));
                values.push(v);
            }
        }
        None => values.extend(
            residuals
                .into_iter()
                .map(|z| centre.wrapping_add(varint::unzigzag(z))),
        ),
    }
    if header & THOUSANDS != 0 {
        for v in &mut values {
            *v = v.wrapping_mul(1000);
        }
    }
    Ok(values)
}

/// Bits, least significant first, appended to a byte vector.
struct BitWriter<'a> {
    out: &'a mut Vec<u8>,
    acc: u64,
    n: u32,
}

impl<'a> BitWriter<'a> {
    fn new(out: &'a mut Vec<u8>) -> Self {
        BitWriter { out, acc: 0, n: 0 }
    }

    /// The low `count` bits of `v` (any count up to 64).
    fn put(&mut self, v: u64, count: u32) {
        let (mut v, mut count) = (v, count);
        while count > 0 {
            let c = count.min(32);
            self.acc |= (v & ((1u64 << c) - 1)) << self.n;
            self.n += c;
            while self.n >= 8 {
                self.out.push(self.acc as u8);
                self.acc >>= 8;
                self.n -= 8;
            }
            v = v.checked_shr(c).unwrap_or(0);
            count -= c;
        }
    }

    fn ones(&mut self, mut count: u32) {
        while count > 0 {
            let c = count.min(32);
            self.put(u64::MAX, c);
            count -= c;
        }
    }

    fn finish(self) {
        if self.n > 0 {
            self.out.push(self.acc as u8);
        }
    }
}

struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> BitReader<'a> {
    fn new(data: &'a [u8]) -> Self {
        BitReader { data, pos: 0 }
    }

    /// The next bits (up to 57 of them are whole) and how many are real.
    fn window(&self) -> (u64, u32) {
        let byte = self.pos / 8;
        let avail = self.data.len().saturating_sub(byte).min(8);
        let mut buf = [0u8; 8];
        buf[..avail].copy_from_slice(&self.data[byte..byte + avail]);
        let shift = (self.pos % 8) as u32;
        let valid = (avail as u32 * 8).saturating_sub(shift);
        (u64::from_le_bytes(buf) >> shift, valid)
    }

    fn get(&mut self, count: u32) -> Result<u64, PackError> {
        if count > 32 {
            let lo = self.get(32)?;
            return Ok(lo | self.get(count - 32)? << 32);
        }
        let (w, valid) = self.window();
        if count > valid {
            return Err(PackError::Truncated);
        }
        self.pos += count as usize;
        Ok(w & ((1u64 << count) - 1))
    }

    /// Ones before the next zero, or [`ESCAPE`] (without a zero) when there are that many.
    fn unary(&mut self) -> Result<u64, PackError> {
        let mut q = 0u64;
        loop {
            let (w, valid) = self.window();
            if valid == 0 {
                return Err(PackError::Truncated);
            }
            let ones = u64::from(w.trailing_ones().min(valid));
            if q + ones >= ESCAPE {
                self.pos += (ESCAPE - q) as usize;
                return Ok(ESCAPE);
            }
            if ones < u64::from(valid) {
                self.pos += ones as usize + 1;
                return Ok(q + ones);
            }
            q += ones;
            self.pos += ones as usize;
        }
    }

    fn bytes_used(&self) -> usize {
        self.pos.div_ceil(8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(values: &[i64]) -> usize {
        let mut out = vec![0xee];
        put(&mut out, values);
        out.push(0xdd);
        let mut r = Reader::new(&out);
        assert_eq!(r.byte().unwrap(), 0xee);
        assert_eq!(read(&mut r, values.len()).unwrap(), values);
        assert_eq!(r.byte().unwrap(), 0xdd, "the column ends where it says");
        r.finish().unwrap();
        out.len() - 2
    }

    #[test]
    fn columns_of_every_shape_round_trip() {
        round_trip(&[]);
        round_trip(&[i64::MIN]);
        round_trip(&[i64::MIN, i64::MAX, 0, -1, 1, i64::MAX, i64::MIN]);
        round_trip(&[5; 100]);
        round_trip(&(0..1000).map(|i| i * i * i).collect::<Vec<_>>());
        round_trip(&[3_000, -17_000, 0, 1 << 62]);
        round_trip(&[1, u32::MAX as i64 * 7, 2, 3]);
    }

    #[test]
    fn a_constant_column_costs_its_header_only() {
        assert_eq!(round_trip(&[200; 3600]), 1 + 2);
        // A steady interval: the first time and the step.
        let times: Vec<i64> = (0..60)
            .map(|i| 1_790_000_000_000_000 + i * 60_000_000)
            .collect();
        assert!(round_trip(&times) <= 1 + 4 + 8, "{}", round_trip(&times));
    }

    #[test]
    fn noise_costs_about_its_entropy() {
        // 60 values uniform over 4,096: 12 bits of entropy each, 90 bytes in all.
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let noisy: Vec<i64> = (0..60)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                50_000 + (x % 4096) as i64
            })
            .collect();
        let bytes = round_trip(&noisy);
        assert!((90..=110).contains(&bytes), "{bytes}");
    }

    #[test]
    fn whole_thousands_are_divided_first() {
        let ms: Vec<i64> = (0..24).map(|i| 3_000_000 + (i % 5) * 7_000).collect();
        let us: Vec<i64> = ms.iter().map(|v| v + 1).collect();
        assert!(round_trip(&ms) < round_trip(&us));
    }

    #[test]
    fn corrupt_columns_are_errors() {
        let mut out = Vec::new();
        put(&mut out, &[1, 900, 3, 70_000, 5]);
        for len in 0..out.len() {
            assert!(read(&mut Reader::new(&out[..len]), 5).is_err(), "{len}");
        }
        // Ones forever: the escape, then a length, then too few bits.
        let ones = [0x1f, 0, 0xff, 0xff, 0xff, 0xff];
        assert!(read(&mut Reader::new(&ones), 2).is_err());
    }
}
