//! LEB128 varints, zigzag for signed values, and a reader that turns every short or malformed
//! input into a [`PackError`] instead of a panic.

use super::PackError;

/// Appends `v` as a LEB128 varint (7 bits a byte, low bits first).
pub fn put(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Zigzag: small magnitudes of either sign become small unsigned values.
pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

pub fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Appends a signed value as a zigzag varint.
pub fn put_signed(out: &mut Vec<u8>, v: i64) {
    put(out, zigzag(v));
}

/// Reads bytes front to back; every read checks the length first.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The bytes not read yet, without reading them.
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    pub fn skip(&mut self, n: usize) -> Result<(), PackError> {
        self.bytes(n).map(|_| ())
    }

    pub fn byte(&mut self) -> Result<u8, PackError> {
        let b = *self.buf.get(self.pos).ok_or(PackError::Truncated)?;
        self.pos += 1;
        Ok(b)
    }

    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], PackError> {
        if n > self.remaining() {
            return Err(PackError::Truncated);
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub fn varint(&mut self) -> Result<u64, PackError> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            let bits = u64::from(b & 0x7f);
            if shift == 63 && bits > 1 {
                return Err(PackError::Corrupt("varint over 64 bits"));
            }
            v |= bits << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(PackError::Corrupt("varint over 10 bytes"))
    }

    pub fn signed(&mut self) -> Result<i64, PackError> {
        self.varint().map(unzigzag)
    }

    /// A count of items each at least `min_bytes` long: refused when the rest of the input
    /// could not hold that many, so a corrupt count never drives a huge allocation.
    pub fn count(&mut self, min_bytes: usize) -> Result<usize, PackError> {
        let n = self.varint()?;
        let fits = (self.remaining() / min_bytes.max(1)) as u64;
        if n > fits {
            return Err(PackError::Count {
                count: n,
                room: self.remaining(),
            });
        }
        Ok(n as usize)
    }

    /// Fails unless every byte was read.
    pub fn finish(self) -> Result<(), PackError> {
        if self.remaining() == 0 {
            Ok(())
        } else {
            Err(PackError::Corrupt("trailing bytes"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_at_their_edges() {
        let values = [
            0,
            1,
            127,
            128,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX,
        ];
        let mut out = Vec::new();
        for v in values {
            put(&mut out, v);
        }
        let mut r = Reader::new(&out);
        for v in values {
            assert_eq!(r.varint().unwrap(), v);
        }
        r.finish().unwrap();
        assert_eq!(out[..4], [0, 1, 127, 0x80]);
    }

    #[test]
    fn signed_values_round_trip() {
        let mut out = Vec::new();
        let values = [0, -1, 1, i64::MIN, i64::MAX, -3_600_000_000, 3_600_000_001];
        for v in values {
            put_signed(&mut out, v);
        }
        let mut r = Reader::new(&out);
        for v in values {
            assert_eq!(r.signed().unwrap(), v);
        }
        r.finish().unwrap();
        assert_eq!(zigzag(-1), 1);
    }

    #[test]
    fn malformed_varints_are_errors() {
        assert_eq!(Reader::new(&[0x80]).varint(), Err(PackError::Truncated));
        assert_eq!(Reader::new(&[]).varint(), Err(PackError::Truncated));
        let eleven = [0xff; 11];
        assert!(matches!(
            Reader::new(&eleven).varint(),
            Err(PackError::Corrupt(_))
        ));
        let mut too_big = vec![0xff; 9];
        too_big.push(0x02);
        assert!(matches!(
            Reader::new(&too_big).varint(),
            Err(PackError::Corrupt(_))
        ));
    }

    #[test]
    fn a_count_larger_than_the_input_is_refused() {
        let mut out = Vec::new();
        put(&mut out, 1_000_000_000);
        out.extend([0; 32]);
        assert!(matches!(
            Reader::new(&out).count(16),
            Err(PackError::Count { .. })
        ));
        let mut ok = Vec::new();
        put(&mut ok, 2);
        ok.extend([0; 32]);
        assert_eq!(Reader::new(&ok).count(16).unwrap(), 2);
    }
}
