//! The body of a probed response, read as the original tool (Python requests) read it: decoded
//! from its `Content-Encoding` as it streams in, and never more than `max_body_bytes` of it.
//!
//! Each piece received goes through each coding's decoder into a fixed 32 KiB buffer, and the
//! decoded bytes are counted as they come out: a small body that inflates to gigabytes (a "zip
//! bomb") costs at most the cap in memory (plus the coding's window: 32 KiB for gzip and
//! deflate, up to 16 MiB for br, 8 MiB for zstd), and reading stops once the cap is passed.
//!
//! Only a body something needs (a regex) is decoded. Inflating costs more CPU than the rest of
//! the probe for a page of some size (0.26 ms for 100 KB of HTML on one core of the 2-core
//! development machine, as much as a whole HTTPS probe), so a body nothing looks at is only
//! counted as received, as before bodies were decoded (now the compressed bytes, fewer).

use std::fmt;

use brotli_decompressor::{BrotliDecompressStream, BrotliResult, BrotliState, StandardAlloc};
use flate2::{Decompress, FlushDecompress, Status};
use http::{HeaderMap, header};
use zstd::stream::raw::{DParameter, Decoder as ZstdDecoder, InBuffer, Operation, OutBuffer};

/// The `Accept-Encoding` the prober sends, unless a target sets its own: every coding the
/// [`Reader`] decodes (requests sent `gzip, deflate`, and br and zstd when it could decode them).
pub(super) const ACCEPT_ENCODING: &str = "gzip, deflate, br, zstd";

/// Size of each decoder's output buffer: the most it hands on at once.
const CHUNK: usize = 32 * 1024;

/// The largest zstd window accepted, 2^23 = 8 MiB: what RFC 9659 asks of an HTTP decoder. A
/// frame that asks for more is refused (`protocol`) instead of allocated.
const ZSTD_WINDOW_LOG_MAX: u32 = 23;

/// A content coding the [`Reader`] decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Coding {
    Gzip,
    Deflate,
    Br,
    Zstd,
}

impl Coding {
    fn parse(token: &str) -> Option<Coding> {
        let is = |name: &str| token.eq_ignore_ascii_case(name);
        if is("gzip") || is("x-gzip") {
            Some(Coding::Gzip)
        } else if is("deflate") {
            Some(Coding::Deflate)
        } else if is("br") {
            Some(Coding::Br)
        } else if is("zstd") {
            Some(Coding::Zstd)
        } else {
            None
        }
    }

    fn name(self) -> &'static str {
        match self {
            Coding::Gzip => "gzip",
            Coding::Deflate => "deflate",
            Coding::Br => "br",
            Coding::Zstd => "zstd",
        }
    }

    fn decoder(self) -> Result<Box<dyn Decoder>, BodyError> {
        Ok(match self {
            Coding::Gzip => Box::new(Flate::new(self, FlateState::Running(gzip_member()))),
            Coding::Deflate => Box::new(Flate::new(self, FlateState::Sniffing(Vec::new()))),
            Coding::Br => Box::new(Brotli {
                state: Box::new(BrotliState::new(
                    StandardAlloc::default(),
                    StandardAlloc::default(),
                    StandardAlloc::default(),
                )),
                buf: vec![0; CHUNK].into_boxed_slice(),
                fed: false,
                done: false,
            }),
            Coding::Zstd => {
                let failed = |e: std::io::Error| self.undecodable(e.to_string());
                let mut decoder = ZstdDecoder::new().map_err(failed)?;
                decoder
                    .set_parameter(DParameter::WindowLogMax(ZSTD_WINDOW_LOG_MAX))
                    .map_err(failed)?;
                Box::new(Zstd {
                    decoder,
                    buf: vec![0; CHUNK].into_boxed_slice(),
                    fed: false,
                    frame_done: false,
                })
            }
        })
    }

    fn undecodable(self, reason: impl Into<String>) -> BodyError {
        BodyError::Undecodable {
            coding: self.name(),
            reason: reason.into(),
        }
    }

    fn truncated(self) -> BodyError {
        self.undecodable("the body ends before its encoded data does")
    }
}

/// Why a body was not read whole.
#[derive(Debug)]
pub(super) enum BodyError {
    /// More than the cap, received or (`decoded`) once decoded.
    TooLarge { max: u64, decoded: bool },
    /// The body is not in the coding its `Content-Encoding` names, or stops before its end.
    Undecodable {
        coding: &'static str,
        reason: String,
    },
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyError::TooLarge {
                max,
                decoded: false,
            } => write!(f, "body larger than {max} bytes; stopped reading"),
            BodyError::TooLarge { max, decoded: true } => {
                write!(
                    f,
                    "body larger than {max} bytes once decoded; stopped reading"
                )
            }
            BodyError::Undecodable { coding, reason } => {
                write!(f, "cannot decode the {coding} body: {reason}")
            }
        }
    }
}

/// Reads one body: [`Reader::push`] each piece as it arrives, then [`Reader::finish`].
///
/// `Content-Encoding` lists the codings in the order they were applied; they are undone in the
/// reverse order. When it names a coding not decoded here (only a target's own
/// `Accept-Encoding` asks for one), the body is read as received, as requests read it.
pub(super) struct Reader {
    /// One decoder per coding, the last applied first; none for a body read as received.
    decoders: Vec<Box<dyn Decoder>>,
    sink: Sink,
    /// Bytes received, before decoding.
    received: u64,
}

impl Reader {
    /// A reader for a body with these headers: when `keep`, decoding it and keeping its first
    /// `max` decoded bytes; else only counting the bytes received, up to `max` as well.
    pub(super) fn new(headers: &HeaderMap, max: u64, keep: bool) -> Result<Reader, BodyError> {
        let decoders = match codings(headers).filter(|_| keep) {
            Some(codings) => codings
                .into_iter()
                .rev()
                .map(Coding::decoder)
                .collect::<Result<_, _>>()?,
            None => Vec::new(),
        };
        Ok(Reader {
            sink: Sink {
                keep,
                max,
                decoding: !decoders.is_empty(),
                body: Vec::new(),
                count: 0,
            },
            decoders,
            received: 0,
        })
    }

    /// The next piece of the body as received.
    pub(super) fn push(&mut self, data: &[u8]) -> Result<(), BodyError> {
        self.received += data.len() as u64;
        // The received bytes are capped too: gzip headers, brotli metadata or zstd skippable
        // frames could otherwise stream forever without decoding to anything.
        if !self.decoders.is_empty() && self.received > self.sink.max {
            return Err(BodyError::TooLarge {
                max: self.sink.max,
                decoded: false,
            });
        }
        pass(&mut self.decoders, &mut self.sink, data)
    }

    /// The body was received whole: fails unless each coding's data ended too. A body of no
    /// bytes at all (HEAD, 204, 304) is empty whatever its `Content-Encoding` says.
    pub(super) fn finish(&mut self) -> Result<(), BodyError> {
        if self.received == 0 {
            return Ok(());
        }
        finish_all(&mut self.decoders, &mut self.sink)
    }

    /// Bytes of the body after decoding (as received when it was not decoded), counted up to
    /// the cap.
    pub(super) fn body_bytes(&self) -> u64 {
        self.sink.count.min(self.sink.max)
    }

    /// The body's first `max` bytes after decoding, when kept; else empty.
    pub(super) fn into_body(self) -> Vec<u8> {
        self.sink.body
    }
}

/// The codings of `Content-Encoding` in the order applied, `identity` left out; `None` when one
/// of them is not decoded here (the body is then read as received).
fn codings(headers: &HeaderMap) -> Option<Vec<Coding>> {
    let mut codings = Vec::new();
    for value in headers.get_all(header::CONTENT_ENCODING) {
        let Ok(value) = value.to_str() else {
            return None;
        };
        for token in value.split(',').map(str::trim) {
            if token.is_empty() || token.eq_ignore_ascii_case("identity") {
                continue;
            }
            codings.push(Coding::parse(token)?);
        }
    }
    Some(codings)
}

/// Where decoded bytes end: counted, and kept up to the cap when something needs them.
struct Sink {
    keep: bool,
    max: u64,
    /// Whether the bytes counted come out of decoders (for the error's words).
    decoding: bool,
    body: Vec<u8>,
    count: u64,
}

impl Sink {
    fn take(&mut self, data: &[u8]) -> Result<(), BodyError> {
        self.count += data.len() as u64;
        if self.keep {
            let room = usize::try_from(self.max)
                .unwrap_or(usize::MAX)
                .saturating_sub(self.body.len());
            self.body.extend_from_slice(&data[..data.len().min(room)]);
        }
        if self.count > self.max {
            return Err(BodyError::TooLarge {
                max: self.max,
                decoded: self.decoding,
            });
        }
        Ok(())
    }
}

/// `data` through every decoder in turn, into the sink.
fn pass(decoders: &mut [Box<dyn Decoder>], sink: &mut Sink, data: &[u8]) -> Result<(), BodyError> {
    match decoders.split_first_mut() {
        None => sink.take(data),
        Some((first, rest)) => first.feed(data, &mut |out| pass(rest, sink, out)),
    }
}

/// Finishes every decoder in turn, what each hands on going through the ones after it.
fn finish_all(decoders: &mut [Box<dyn Decoder>], sink: &mut Sink) -> Result<(), BodyError> {
    match decoders.split_first_mut() {
        None => Ok(()),
        Some((first, rest)) => {
            first.finish(&mut |out| pass(rest, sink, out))?;
            finish_all(rest, sink)
        }
    }
}

/// Takes each piece a decoder hands on (at most [`CHUNK`] bytes).
type Out<'a> = dyn FnMut(&[u8]) -> Result<(), BodyError> + 'a;

/// One coding's streaming decoder.
trait Decoder: Send {
    /// Decodes `input`, handing the output on as it comes.
    fn feed(&mut self, input: &[u8], out: &mut Out<'_>) -> Result<(), BodyError>;
    /// The input has ended: fails unless the encoded data ended too (or there was none).
    fn finish(&mut self, out: &mut Out<'_>) -> Result<(), BodyError>;
}

/// gzip and deflate, through zlib (zlib-rs).
///
/// gzip: every member, each with its checksum checked; what follows the first member and is
/// not another one is ignored, as urllib3 ignores it. deflate: zlib-wrapped as RFC 9110 says,
/// or raw as some servers send it, told apart by the zlib header (urllib3 tries zlib and falls
/// back to raw when the first bytes are not zlib's); what follows the end is ignored.
struct Flate {
    coding: Coding,
    state: FlateState,
    buf: Box<[u8]>,
    fed: bool,
}

enum FlateState {
    /// deflate, before the two bytes that tell zlib from raw: those received so far.
    Sniffing(Vec<u8>),
    /// Inside the (first) stream.
    Running(Decompress),
    /// gzip, inside a member after the first: an error there ends the body as its end would.
    Later(Decompress),
    /// The stream ended; gzip waits for another member.
    Ended,
    /// gzip, after something that was not another member: the rest is ignored.
    Ignoring,
}

fn gzip_member() -> Decompress {
    // 15: the largest window, zlib's default; the gzip wrapper is zlib's own.
    Decompress::new_gzip(15)
}

/// Whether `b0 b1` open a zlib stream (RFC 1950: deflate, a window of at most 32 KiB, a
/// header checksum that holds), which raw deflate data only rarely does by chance.
fn zlib_header(b0: u8, b1: u8) -> bool {
    b0 & 0x0f == 8 && b0 >> 4 <= 7 && (u16::from(b0) << 8 | u16::from(b1)) % 31 == 0
}

impl Flate {
    fn new(coding: Coding, state: FlateState) -> Flate {
        Flate {
            coding,
            state,
            buf: vec![0; CHUNK].into_boxed_slice(),
            fed: false,
        }
    }

    /// Inflates as much of `input` as the current stream takes; returns what it left.
    fn inflate<'i>(
        &mut self,
        mut input: &'i [u8],
        out: &mut Out<'_>,
    ) -> Result<&'i [u8], BodyError> {
        let Flate {
            coding, state, buf, ..
        } = self;
        let (z, later) = match state {
            FlateState::Running(z) => (z, false),
            FlateState::Later(z) => (z, true),
            _ => return Ok(input),
        };
        loop {
            let (in_before, out_before) = (z.total_in(), z.total_out());
            let status = z.decompress(input, buf, FlushDecompress::None);
            let consumed = (z.total_in() - in_before) as usize;
            let produced = (z.total_out() - out_before) as usize;
            input = &input[consumed..];
            let status = match status {
                Ok(status) => status,
                Err(_) if later => {
                    *state = FlateState::Ignoring;
                    return Ok(&[]);
                }
                Err(e) => {
                    let reason = e.message().unwrap_or("invalid data").to_owned();
                    return Err(coding.undecodable(reason));
                }
            };
            if produced > 0 {
                out(&buf[..produced])?;
            }
            if status == Status::StreamEnd {
                *state = FlateState::Ended;
                return Ok(input);
            }
            if produced == buf.len() {
                continue; // more output may be waiting
            }
            if input.is_empty() {
                return Ok(input);
            }
            if consumed == 0 {
                // zlib returns with room left only once it has taken all it was given.
                return Err(coding.undecodable("the decoder made no progress"));
            }
        }
    }
}

impl Decoder for Flate {
    fn feed(&mut self, mut input: &[u8], out: &mut Out<'_>) -> Result<(), BodyError> {
        self.fed |= !input.is_empty();
        loop {
            match &mut self.state {
                FlateState::Sniffing(head) => {
                    let take = (2 - head.len()).min(input.len());
                    head.extend_from_slice(&input[..take]);
                    input = &input[take..];
                    if head.len() < 2 {
                        return Ok(());
                    }
                    let head = std::mem::take(head);
                    let zlib = zlib_header(head[0], head[1]);
                    self.state = FlateState::Running(Decompress::new(zlib));
                    self.inflate(&head, out)?;
                }
                FlateState::Running(_) | FlateState::Later(_) => {
                    input = self.inflate(input, out)?;
                    if input.is_empty() {
                        return Ok(());
                    }
                }
                FlateState::Ended if self.coding == Coding::Gzip && !input.is_empty() => {
                    self.state = FlateState::Later(gzip_member());
                }
                FlateState::Ended | FlateState::Ignoring => return Ok(()),
            }
        }
    }

    fn finish(&mut self, _out: &mut Out<'_>) -> Result<(), BodyError> {
        match self.state {
            _ if !self.fed => Ok(()),
            FlateState::Sniffing(_) | FlateState::Running(_) => Err(self.coding.truncated()),
            // A later gzip member cut short is ignored as trailing data would be.
            FlateState::Later(_) | FlateState::Ended | FlateState::Ignoring => Ok(()),
        }
    }
}

/// br, through Dropbox's brotli decoder. Its window is at most 16 MiB (large windows are not
/// for HTTP); data after the end is an error, as it was to the original's brotli module.
struct Brotli {
    state: Box<BrotliState<StandardAlloc, StandardAlloc, StandardAlloc>>,
    buf: Box<[u8]>,
    fed: bool,
    done: bool,
}

impl Decoder for Brotli {
    fn feed(&mut self, input: &[u8], out: &mut Out<'_>) -> Result<(), BodyError> {
        self.fed |= !input.is_empty();
        if self.done {
            return match input.is_empty() {
                true => Ok(()),
                false => Err(Coding::Br.undecodable("data after the end of the brotli stream")),
            };
        }
        let (mut available_in, mut input_offset) = (input.len(), 0);
        let mut total_out = 0;
        loop {
            let (mut available_out, mut output_offset) = (self.buf.len(), 0);
            let result = BrotliDecompressStream(
                &mut available_in,
                &mut input_offset,
                input,
                &mut available_out,
                &mut output_offset,
                &mut self.buf,
                &mut total_out,
                &mut self.state,
            );
            if output_offset > 0 {
                out(&self.buf[..output_offset])?;
            }
            match result {
                BrotliResult::NeedsMoreOutput => continue,
                BrotliResult::NeedsMoreInput => return Ok(()),
                BrotliResult::ResultSuccess => {
                    self.done = true;
                    return self.feed(&input[input_offset..], out);
                }
                BrotliResult::ResultFailure => {
                    return Err(Coding::Br.undecodable("invalid brotli data"));
                }
            }
        }
    }

    fn finish(&mut self, _out: &mut Out<'_>) -> Result<(), BodyError> {
        match self.fed && !self.done {
            true => Err(Coding::Br.truncated()),
            false => Ok(()),
        }
    }
}

/// zstd, through the reference library (the one the compact store uses): any number of
/// frames, each window at most [`ZSTD_WINDOW_LOG_MAX`].
struct Zstd {
    decoder: ZstdDecoder<'static>,
    buf: Box<[u8]>,
    fed: bool,
    /// The last frame ended and everything it held was handed on.
    frame_done: bool,
}

impl Decoder for Zstd {
    fn feed(&mut self, input: &[u8], out: &mut Out<'_>) -> Result<(), BodyError> {
        self.fed |= !input.is_empty();
        let len = input.len();
        let mut input = InBuffer::around(input);
        loop {
            let before = input.pos();
            let mut output = OutBuffer::around(&mut self.buf[..]);
            let hint = self
                .decoder
                .run(&mut input, &mut output)
                .map_err(|e| Coding::Zstd.undecodable(e.to_string()))?;
            let produced = output.pos();
            self.frame_done = hint == 0;
            if produced > 0 {
                out(&self.buf[..produced])?;
            }
            if produced == self.buf.len() {
                continue; // more output may be waiting
            }
            if input.pos() == len {
                return Ok(());
            }
            if input.pos() == before && produced == 0 {
                return Err(Coding::Zstd.undecodable("the decoder made no progress"));
            }
        }
    }

    fn finish(&mut self, _out: &mut Out<'_>) -> Result<(), BodyError> {
        match self.fed && !self.frame_done {
            true => Err(Coding::Zstd.truncated()),
            false => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn headers(content_encoding: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_ENCODING, content_encoding.parse().unwrap());
        h
    }

    /// `data` read in pieces of `piece` bytes; the body kept, its count, and how it ended.
    fn read(
        content_encoding: &str,
        data: &[u8],
        piece: usize,
        max: u64,
    ) -> (Vec<u8>, u64, Result<(), BodyError>) {
        let mut r = Reader::new(&headers(content_encoding), max, true).unwrap();
        let result = data
            .chunks(piece.max(1))
            .try_for_each(|c| r.push(c))
            .and_then(|()| r.finish());
        let count = r.body_bytes();
        (r.into_body(), count, result)
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn raw_deflate(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    const TEXT: &[u8] = b"hello uptimer, hello uptimer, hello again";

    #[test]
    fn every_coding_decodes_in_pieces_of_any_size() {
        let cases = [
            ("gzip", gzip(TEXT)),
            ("x-gzip", gzip(TEXT)),
            ("deflate", zlib(TEXT)),
            ("deflate", raw_deflate(TEXT)),
            ("zstd", zstd::encode_all(TEXT, 3).unwrap()),
            ("identity", TEXT.to_vec()),
            ("gzip, zstd", zstd::encode_all(&gzip(TEXT)[..], 1).unwrap()),
            ("GZIP , identity", gzip(TEXT)),
        ];
        for (coding, encoded) in cases {
            for piece in [1, 2, 3, 7, 4096] {
                let (body, count, result) = read(coding, &encoded, piece, 1 << 20);
                assert!(result.is_ok(), "{coding} in {piece}: {result:?}");
                assert_eq!((&body[..], count), (TEXT, TEXT.len() as u64), "{coding}");
            }
        }
    }

    #[test]
    fn gzip_members_are_all_decoded_and_what_follows_them_ignored() {
        let mut two = gzip(b"hello ");
        two.extend(gzip(b"uptimer"));
        let (body, _, result) = read("gzip", &two, 5, 1 << 20);
        assert!(result.is_ok(), "{result:?}");
        assert_eq!(body, b"hello uptimer");
        for trailing in [&b"\0\0\0\0"[..], b"garbage after the member", b"\x1f\x8b"] {
            let mut data = gzip(b"hello");
            data.extend_from_slice(trailing);
            let (body, _, result) = read("gzip", &data, 3, 1 << 20);
            assert!(result.is_ok(), "{trailing:?}: {result:?}");
            assert_eq!(body, b"hello");
        }
    }

    #[test]
    fn a_bad_checksum_or_a_cut_is_undecodable() {
        let mut bad_crc = gzip(TEXT);
        let n = bad_crc.len();
        bad_crc[n - 6] ^= 0xff;
        let cut = gzip(TEXT)[..10].to_vec();
        let zstd_cut = zstd::encode_all(TEXT, 3).unwrap();
        let zstd_cut = &zstd_cut[..zstd_cut.len() - 3];
        for (coding, data) in [
            ("gzip", &bad_crc[..]),
            ("gzip", &cut[..]),
            ("deflate", &zlib(TEXT)[..5]),
            ("deflate", &[0x78][..]),
            ("zstd", zstd_cut),
            ("br", b"\xff\xff\xff\xff not brotli"),
        ] {
            let (_, _, result) = read(coding, data, 4, 1 << 20);
            let e = result.expect_err(coding);
            assert!(
                matches!(e, BodyError::Undecodable { .. }) && e.to_string().contains(coding),
                "{coding}: {e}"
            );
        }
    }

    #[test]
    fn the_cap_counts_decoded_bytes_and_keeps_no_more() {
        let zeros = gzip(&vec![0; 100_000]);
        let (body, count, result) = read("gzip", &zeros, 1000, 4096);
        assert!(
            matches!(
                result,
                Err(BodyError::TooLarge {
                    max: 4096,
                    decoded: true
                })
            ),
            "{result:?}"
        );
        assert_eq!((body.len(), count), (4096, 4096));
        // Exactly at the cap is not past it.
        let (_, count, result) = read("gzip", &gzip(&[7; 4096]), 1000, 4096);
        assert!(result.is_ok() && count == 4096, "{result:?}");
        // Bytes received are capped as well: empty gzip members decode to nothing.
        let empty = gzip(b"");
        let many: Vec<u8> = empty
            .iter()
            .copied()
            .cycle()
            .take(empty.len() * 500)
            .collect();
        let (_, count, result) = read("gzip", &many, 64, 4096);
        assert!(
            matches!(result, Err(BodyError::TooLarge { decoded: false, .. })),
            "{result:?}"
        );
        assert_eq!(count, 0);
    }

    #[test]
    fn an_unknown_coding_leaves_the_body_as_received_and_no_body_is_empty() {
        let (body, count, result) = read("compress", b"as sent", 3, 1 << 20);
        assert!(result.is_ok());
        assert_eq!((&body[..], count), (&b"as sent"[..], 7));
        let (body, _, result) = read("gzip, compress", b"as sent", 3, 1 << 20);
        assert!(result.is_ok());
        assert_eq!(body, b"as sent");
        for coding in ["gzip", "deflate", "br", "zstd"] {
            let (body, count, result) = read(coding, b"", 1, 1 << 20);
            assert!(result.is_ok() && body.is_empty() && count == 0, "{coding}");
        }
    }

    #[test]
    fn a_body_not_kept_is_not_decoded_only_counted_as_received() {
        let encoded = gzip(TEXT);
        let mut r = Reader::new(&headers("gzip"), 1 << 20, false).unwrap();
        r.push(&encoded).unwrap();
        r.finish().unwrap();
        assert_eq!(r.body_bytes(), encoded.len() as u64);
        assert!(r.into_body().is_empty());
        // Nor capped decoded, nor checked.
        let mut r = Reader::new(&headers("gzip"), 100, false).unwrap();
        r.push(&gzip(&[0; 4096])).unwrap();
        r.push(b"not gzip").unwrap();
        r.finish().unwrap();
        let mut r = Reader::new(&headers("gzip"), 100, false).unwrap();
        let e = r.push(&[0; 101]).unwrap_err();
        assert!(
            matches!(e, BodyError::TooLarge { decoded: false, .. }),
            "{e}"
        );
    }

    #[test]
    fn zlib_headers_are_told_from_raw_deflate() {
        assert!(zlib_header(0x78, 0x9c) && zlib_header(0x78, 0x01) && zlib_header(0x78, 0xda));
        assert!(!zlib_header(raw_deflate(TEXT)[0], raw_deflate(TEXT)[1]));
        assert!(!zlib_header(0x1f, 0x8b));
    }
}
