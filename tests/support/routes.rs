//! What each path of a [`TestServer`](super::TestServer) answers: `/ok`, `/status/CODE`,
//! `/slow/MS`, `/slow-body/MS`, `/hang`, `/gate`, redirects (`/redirect-to/URL` to anywhere),
//! `/switch`, huge and endless bodies, bodies under a `Content-Encoding` (`/encoded/…`),
//! cookies, `/echo`, `/body/TEXT` and `/json/TEXT` (as application/json).

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io::Write;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use flate2::write::{DeflateEncoder, GzEncoder, ZlibEncoder};
use http::{Request, Response, StatusCode, header};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::time::Sleep;

use super::server::{RecordedRequest, ServerState};

/// Size of the `/huge` body.
pub const HUGE_BODY_LEN: usize = 2 * 1024 * 1024;
/// Size of each chunk of the `/endless` body.
pub const ENDLESS_CHUNK_LEN: usize = 16 * 1024;

/// What every `/encoded/CODINGS/hello` body decodes to.
pub const ENCODED_TEXT: &str = "hello uptimer, decoded";
/// What every `/encoded/CODINGS/bomb` body decodes to: this many zero bytes, from a few KB
/// (gzip, deflate, zstd) or 14 bytes (br) on the wire.
pub const BOMB_LEN: usize = 10 * 1024 * 1024;

/// Response body used by the test handler.
pub enum TestBody {
    Full(Option<Bytes>),
    Delayed {
        sleep: Pin<Box<Sleep>>,
        data: Option<Bytes>,
    },
    Endless(Bytes),
}

impl Body for TestBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            TestBody::Full(data) => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            TestBody::Delayed { sleep, data } => {
                if data.is_none() {
                    return Poll::Ready(None);
                }
                match sleep.as_mut().poll(cx) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(()) => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
                }
            }
            // Cheap clone of a shared buffer; hyper only polls when it can write, so memory
            // stays bounded.
            TestBody::Endless(chunk) => Poll::Ready(Some(Ok(Frame::data(chunk.clone())))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            TestBody::Full(d) => d.is_none(),
            TestBody::Delayed { data, .. } => data.is_none(),
            TestBody::Endless(_) => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            TestBody::Full(d) => SizeHint::with_exact(d.as_ref().map_or(0, |b| b.len() as u64)),
            TestBody::Delayed { data, .. } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |b| b.len() as u64))
            }
            TestBody::Endless(_) => SizeHint::default(),
        }
    }
}

fn text(status: u16, body: impl Into<Bytes>) -> Response<TestBody> {
    let body: Bytes = body.into();
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain")
        .header(header::CONTENT_LENGTH, body.len())
        .body(TestBody::Full(Some(body)))
        .expect("build response")
}

fn redirect(location: &str) -> Response<TestBody> {
    let mut resp = text(302, "redirect");
    resp.headers_mut()
        .insert(header::LOCATION, location.parse().expect("location header"));
    resp
}

fn huge_body() -> Bytes {
    static HUGE: std::sync::OnceLock<Bytes> = std::sync::OnceLock::new();
    HUGE.get_or_init(|| {
        let tail = b"\nTHE END\n";
        let mut v = vec![b'a'; HUGE_BODY_LEN - tail.len()];
        v.extend_from_slice(tail);
        Bytes::from(v)
    })
    .clone()
}

/// Decode `%XX` escapes (invalid escapes are kept verbatim); `+` is left as is.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = s.get(i + 1..i + 3)
            && hex.bytes().all(|c| c.is_ascii_hexdigit())
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `/encoded/CODINGS/WHAT`: WHAT (`hello`: [`ENCODED_TEXT`]; `bomb`: [`BOMB_LEN`] zero bytes;
/// `bomb-4g`: 4 GiB of zero bytes, `br` only; `garbage`: text that is no encoding at all;
/// `truncated`: `hello` encoded, then cut in half)
/// encoded with each of the comma-separated CODINGS in turn, and `Content-Encoding` naming them
/// in that order (as RFC 9110 lists them). Codings: `gzip`, `x-gzip`, `deflate` (zlib-wrapped,
/// as the RFC says), `deflate-raw` (raw deflate as some servers send it, labelled `deflate`),
/// `zstd`, `br` (first only: brotli bodies are files made by the `brotli` tool, as this crate
/// has no brotli encoder), `identity`, and any other name (`compress`…): labelled, not encoded.
/// `None` for an unknown WHAT or `br` after another coding.
fn encoded(codings: &str, what: &str) -> Option<Bytes> {
    static CACHE: OnceLock<Mutex<HashMap<String, Bytes>>> = OnceLock::new();
    let key = format!("{codings}/{what}");
    let cache = CACHE.get_or_init(Mutex::default);
    if let Some(b) = cache.lock().unwrap().get(&key) {
        return Some(b.clone());
    }
    let (plain, cut) = match what {
        "hello" => (ENCODED_TEXT.as_bytes().to_vec(), false),
        "bomb" => (vec![0u8; BOMB_LEN], false),
        // Only as `br`, a file: 4 GiB could not be held to be encoded here.
        "bomb-4g" if codings == "br" => (Vec::new(), false),
        "truncated" => (ENCODED_TEXT.as_bytes().to_vec(), true),
        "garbage" => return Some(Bytes::from_static(b"this is not encoded at all")),
        _ => return None,
    };
    let level = flate2::Compression::default();
    let mut body = plain;
    for (i, coding) in codings.split(',').enumerate() {
        body = match coding {
            "gzip" | "x-gzip" => {
                deflated(GzEncoder::new(Vec::new(), level), &body, GzEncoder::finish)
            }
            "deflate" => deflated(
                ZlibEncoder::new(Vec::new(), level),
                &body,
                ZlibEncoder::finish,
            ),
            "deflate-raw" => deflated(
                DeflateEncoder::new(Vec::new(), level),
                &body,
                DeflateEncoder::finish,
            ),
            "zstd" => zstd::encode_all(&body[..], 3).expect("zstd"),
            "br" if i == 0 && what == "bomb" => {
                include_bytes!("../fixtures/encoded/bomb.br").to_vec()
            }
            "br" if i == 0 && what == "bomb-4g" => {
                include_bytes!("../fixtures/encoded/bomb-4g.br").to_vec()
            }
            "br" if i == 0 => include_bytes!("../fixtures/encoded/hello.br").to_vec(),
            "br" => return None,
            _ => body,
        };
    }
    if cut {
        body.truncate(body.len() / 2);
    }
    let body = Bytes::from(body);
    cache.lock().unwrap().insert(key, body.clone());
    Some(body)
}

/// `data` through a flate2 encoder.
fn deflated<W: Write>(
    mut encoder: W,
    data: &[u8],
    finish: impl FnOnce(W) -> std::io::Result<Vec<u8>>,
) -> Vec<u8> {
    encoder.write_all(data).expect("encode");
    finish(encoder).expect("finish encoding")
}

fn parse_num<T: std::str::FromStr>(s: &str) -> Option<T> {
    s.parse().ok()
}

pub(super) async fn handle_request(
    req: Request<Incoming>,
    state: Arc<ServerState>,
) -> Result<Response<TestBody>, Infallible> {
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".to_string());
    let authority = req
        .uri()
        .authority()
        .map(|a| a.as_str().to_string())
        .or_else(|| {
            req.headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_string)
        });
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let recorded = RecordedRequest {
        method: req.method().as_str().to_string(),
        path: path_and_query.clone(),
        headers,
        version: format!("{:?}", req.version()),
        authority,
    };
    state.requests.lock().unwrap().push(recorded.clone());

    let path = req.uri().path();
    let segments: Vec<&str> = path.trim_start_matches('/').splitn(2, '/').collect();
    let resp = match segments.as_slice() {
        ["ok"] => text(200, "hello uptimer"),
        ["status", code] => match parse_num::<u16>(code).and_then(|c| StatusCode::from_u16(c).ok())
        {
            Some(code) => text(code.as_u16(), format!("status {}", code.as_u16())),
            None => text(404, "not found"),
        },
        ["slow", ms] => match parse_num::<u64>(ms) {
            Some(ms) => {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                text(200, "slow")
            }
            None => text(404, "not found"),
        },
        ["slow-body", ms] => match parse_num::<u64>(ms) {
            Some(ms) => {
                let body = Bytes::from_static(b"slow body");
                Response::builder()
                    .status(200)
                    .header(header::CONTENT_TYPE, "text/plain")
                    .body(TestBody::Delayed {
                        sleep: Box::pin(tokio::time::sleep(Duration::from_millis(ms))),
                        data: Some(body),
                    })
                    .expect("build response")
            }
            None => text(404, "not found"),
        },
        ["hang"] => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            text(200, "woke up")
        }
        ["gate"] => {
            let mut open = state.gate.subscribe();
            // The sender lives as long as the server: an error cannot happen while it runs.
            let _ = open.wait_for(|open| *open).await;
            text(200, "gate open")
        }
        ["redirect", n] => match parse_num::<u32>(n) {
            Some(0) => text(200, "redirected"),
            Some(n) => redirect(&format!("/redirect/{}", n - 1)),
            None => text(404, "not found"),
        },
        ["redirect-abs", n] => match parse_num::<u32>(n) {
            Some(0) => text(200, "redirected"),
            Some(n) => {
                let scheme = if state.tls { "https" } else { "http" };
                let host = recorded
                    .authority
                    .clone()
                    .unwrap_or_else(|| state.addr.to_string());
                redirect(&format!("{scheme}://{host}/redirect-abs/{}", n - 1))
            }
            None => text(404, "not found"),
        },
        ["redirect-loop"] => redirect("/redirect-loop"),
        // The rest of the path, percent-decoded, is the Location: a redirect into anything.
        ["redirect-to", location] => redirect(&percent_decode(location)),
        ["encoded", rest] => {
            let (codings, what) = rest.split_once('/').unwrap_or((rest, ""));
            match encoded(codings, what) {
                Some(body) => {
                    let label = codings.replace("deflate-raw", "deflate").replace(',', ", ");
                    let mut r = text(200, body);
                    r.headers_mut().insert(
                        header::CONTENT_ENCODING,
                        label.parse().expect("content-encoding"),
                    );
                    r
                }
                None => text(404, "not found"),
            }
        }
        ["switch"] => {
            let code = state.switch.load(Ordering::SeqCst);
            text(code, format!("switch {code}"))
        }
        ["huge"] => text(200, huge_body()),
        ["endless"] => Response::builder()
            .status(200)
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .body(TestBody::Endless(Bytes::from(vec![
                b'x';
                ENDLESS_CHUNK_LEN
            ])))
            .expect("build response"),
        ["set-cookie"] => {
            let mut r = text(200, "cookie set");
            r.headers_mut().insert(
                header::SET_COOKIE,
                http::HeaderValue::from_static("session=abc; Path=/"),
            );
            r
        }
        ["echo"] => {
            let mut body = format!(
                "{} {} {}\n",
                recorded.method, recorded.path, recorded.version
            );
            for (n, v) in &recorded.headers {
                body.push_str(&format!("{n}: {v}\n"));
            }
            text(200, body)
        }
        ["body", t] => text(200, percent_decode(t)),
        ["json", t] => {
            let mut resp = text(200, percent_decode(t));
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
            resp
        }
        _ => text(404, "not found"),
    };
    Ok(resp)
}
