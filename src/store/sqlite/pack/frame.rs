//! The frame around every encoding: one header byte (what it holds, the format version, whether
//! zstd compressed the rest), then either the body itself or its length and a zstd frame
//! (without zstd's 4 magic bytes, which would be the same in every block). A compressed body is
//! kept only when it is smaller: tiny bodies do not gain from zstd's own headers.

use std::borrow::Cow;
use std::cell::RefCell;

use super::PackError;
use super::varint::{self, Reader};

/// The format version this code writes and reads.
pub const VERSION: u8 = 1;
const COMPRESSED: u8 = 0x80;
/// zstd's frame magic number, as it starts every frame.
const MAGIC: [u8; 4] = 0xFD2F_B528_u32.to_le_bytes();
/// The largest body a frame may claim, and how many times its compressed size: a legitimate
/// block holds 16 random bytes per event, so it never compresses 1,000 times, while a forged
/// length could otherwise make the reader allocate gigabytes.
const MAX_BODY: u64 = 64 << 20;
const MAX_RATIO: u64 = 1024;

/// What an encoding holds (the header byte's bits 4–6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Events = 1,
    Hours = 2,
}

/// Whether to try zstd: the open hour's single events are kept plain (fast to write, too small
/// to gain); closed blocks and days use [`Compression::DEFAULT`], kept only when smaller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Zstd(i32),
}

impl Compression {
    /// zstd at [`DEFAULT_LEVEL`].
    pub const DEFAULT: Compression = Compression::Zstd(DEFAULT_LEVEL);
}

/// zstd level for closed blocks and days: after the columns' coding, levels 1 to 19 differ by
/// under 0.5 % in size (`examples/pack_sizes.rs`) and level 3 costs a tenth of 19's time.
pub const DEFAULT_LEVEL: i32 = 3;

fn header(kind: Kind) -> u8 {
    (kind as u8) << 4 | VERSION
}

/// Frames `body`.
pub fn seal(kind: Kind, body: Vec<u8>, compression: Compression) -> Result<Vec<u8>, PackError> {
    if let Compression::Zstd(level) = compression {
        let z = compress(&body, level)?;
        let mut len = Vec::with_capacity(4);
        varint::put(&mut len, body.len() as u64);
        if let Some(frame) = z.strip_prefix(&MAGIC[..])
            && 1 + len.len() + frame.len() < 1 + body.len()
        {
            let mut out = Vec::with_capacity(1 + len.len() + frame.len());
            out.push(header(kind) | COMPRESSED);
            out.extend_from_slice(&len);
            out.extend_from_slice(frame);
            return Ok(out);
        }
    }
    let mut out = Vec::with_capacity(1 + body.len());
    out.push(header(kind));
    out.extend_from_slice(&body);
    Ok(out)
}

thread_local! {
    // One zstd context per thread and direction, kept: making one allocates and clears some
    // hundred kilobytes, which cost more than a block's own work (a page reads dozens).
    static COMPRESSOR: RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> =
        const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { RefCell::new(None) };
}

fn compress(body: &[u8], level: i32) -> Result<Vec<u8>, PackError> {
    COMPRESSOR.with_borrow_mut(|kept| {
        let c = match kept {
            Some((l, c)) if *l == level => c,
            _ => {
                use zstd::zstd_safe::CParameter;
                let mut c = zstd::bulk::Compressor::new(level).map_err(zstd_error)?;
                // The length is ours to keep (in a varint); the frame need not repeat it.
                c.set_parameter(CParameter::ContentSizeFlag(false))
                    .map_err(zstd_error)?;
                &mut kept.insert((level, c)).1
            }
        };
        c.compress(body).map_err(zstd_error)
    })
}

fn decompress(frame: &[u8], len: usize) -> Result<Vec<u8>, PackError> {
    DECOMPRESSOR.with_borrow_mut(|kept| {
        let d = match kept {
            Some(d) => d,
            None => kept.insert(zstd::bulk::Decompressor::new().map_err(zstd_error)?),
        };
        d.decompress(frame, len).map_err(zstd_error)
    })
}

fn zstd_error(e: std::io::Error) -> PackError {
    PackError::Zstd(e.to_string())
}

/// The body of a framed encoding of `kind`.
pub fn open(kind: Kind, bytes: &[u8]) -> Result<Cow<'_, [u8]>, PackError> {
    let (&h, rest) = bytes.split_first().ok_or(PackError::Truncated)?;
    if h & !COMPRESSED != header(kind) {
        return Err(PackError::Format(h));
    }
    if h & COMPRESSED == 0 {
        return Ok(Cow::Borrowed(rest));
    }
    let mut r = Reader::new(rest);
    let len = r.varint()?;
    let frame = r.bytes(r.remaining())?;
    if len > MAX_BODY || len > (frame.len() as u64).saturating_mul(MAX_RATIO) {
        return Err(PackError::Count {
            count: len,
            room: frame.len(),
        });
    }
    let mut z = Vec::with_capacity(MAGIC.len() + frame.len());
    z.extend_from_slice(&MAGIC);
    z.extend_from_slice(frame);
    let body = decompress(&z, len as usize)?;
    if body.len() as u64 != len {
        return Err(PackError::Corrupt("compressed body shorter than stated"));
    }
    Ok(Cow::Owned(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repetitive() -> Vec<u8> {
        b"HTTP/1.1 200 OK ".repeat(64)
    }

    #[test]
    fn a_compressible_body_is_compressed_and_opens_again() {
        let body = repetitive();
        let sealed = seal(Kind::Events, body.clone(), Compression::Zstd(3)).unwrap();
        assert_eq!(sealed[0], 0x80 | 0x10 | VERSION);
        assert!(sealed.len() < body.len() / 10, "{}", sealed.len());
        assert_eq!(open(Kind::Events, &sealed).unwrap(), body);
    }

    #[test]
    fn a_body_that_does_not_shrink_is_kept_plain() {
        let body = vec![7u8, 1, 2];
        let sealed = seal(Kind::Hours, body.clone(), Compression::Zstd(19)).unwrap();
        assert_eq!(sealed, [0x20 | VERSION, 7, 1, 2]);
        assert_eq!(open(Kind::Hours, &sealed).unwrap(), body);
        let plain = seal(Kind::Hours, repetitive(), Compression::None).unwrap();
        assert_eq!(plain.len(), 1 + repetitive().len());
    }

    #[test]
    fn another_kind_or_version_is_refused() {
        let sealed = seal(Kind::Events, vec![1], Compression::None).unwrap();
        assert_eq!(open(Kind::Hours, &sealed), Err(PackError::Format(0x11)));
        assert_eq!(open(Kind::Events, &[0x12, 1]), Err(PackError::Format(0x12)));
        assert_eq!(open(Kind::Events, &[]), Err(PackError::Truncated));
    }

    #[test]
    fn a_forged_length_allocates_nothing_large() {
        let mut bytes = vec![0x80 | 0x10 | VERSION];
        varint::put(&mut bytes, 1 << 40);
        bytes.extend([0; 8]);
        assert!(matches!(
            open(Kind::Events, &bytes),
            Err(PackError::Count { .. })
        ));
        let mut sealed = seal(Kind::Events, repetitive(), Compression::Zstd(3)).unwrap();
        sealed[1] = sealed[1].wrapping_add(1);
        assert!(open(Kind::Events, &sealed).is_err(), "a length one off");
    }
}
