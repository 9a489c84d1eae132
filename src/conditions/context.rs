//! What one probe saw, as the conditions read it. The prober fills it once per probe; the body
//! is borrowed, decoded as text at most once and parsed as JSON at most once, and only when a
//! condition asks for it.

use std::borrow::Cow;
use std::cell::{Cell, OnceCell};

use crate::event::Phases;
use crate::json::Json;

use super::jsonpath::{Found, JsonPath};

/// The values placeholders stand for, filled by a prober with the builder methods.
/// Anything not set is what Gatus has when a probe got no answer: status 0, no IP, not
/// connected, certificate expiration 0, no headers, an empty body, an empty rcode; and no DNS
/// answers, a packet loss of 0.
///
/// ```
/// use uptimer::conditions::{evaluate, Condition, Context};
///
/// let conditions = [Condition::parse("[STATUS] == 200").unwrap()];
/// let body = br#"{"status": "UP"}"#;
/// let ctx = Context::new().status(Some(502)).response_time_ms(87).body(body);
/// assert_eq!(evaluate(&conditions, &ctx)[0].resolved, "[STATUS] (502) == 200");
/// ```
#[derive(Debug, Default)]
pub struct Context<'a> {
    status: Option<u16>,
    ip: Option<String>,
    response_time_ms: u64,
    connected: bool,
    certificate_expiration_ms: Option<i64>,
    phases: Phases,
    headers: Vec<(String, String)>,
    body: &'a [u8],
    dns_rcode: Option<String>,
    dns_answers: Vec<String>,
    packet_loss: Option<f64>,
    /// The body as text (lossy UTF-8), decoded on first use.
    text: OnceCell<Cow<'a, str>>,
    /// The body as JSON, `None` when it is not JSON; parsed on first use.
    json: OnceCell<Option<Json<'a>>>,
    parses: Cell<u32>,
}

impl<'a> Context<'a> {
    /// An empty context: a probe that got no answer.
    pub fn new() -> Context<'a> {
        Context::default()
    }

    /// `[STATUS]`: the HTTP status code; `None` (no response) reads as 0, as in Gatus.
    pub fn status(mut self, status: Option<u16>) -> Self {
        self.status = status;
        self
    }

    /// `[IP]`: the address connected to; none reads as the empty string.
    pub fn ip(mut self, ip: impl Into<String>) -> Self {
        self.ip = Some(ip.into());
        self
    }

    /// `[RESPONSE_TIME]`: the whole probe, in milliseconds.
    pub fn response_time_ms(mut self, ms: u64) -> Self {
        self.response_time_ms = ms;
        self
    }

    /// `[CONNECTED]`: whether a connection was established.
    pub fn connected(mut self, connected: bool) -> Self {
        self.connected = connected;
        self
    }

    /// `[CERTIFICATE_EXPIRATION]`: milliseconds until the leaf certificate expires (negative
    /// once it has); `None` (no TLS) reads as 0, as in Gatus.
    pub fn certificate_expiration_ms(mut self, ms: Option<i64>) -> Self {
        self.certificate_expiration_ms = ms;
        self
    }

    /// `[DNS_TIME]`, `[CONNECT_TIME]`, `[TLS_TIME]`, `[TTFB]`: the probe's phases in fractional
    /// milliseconds, read as whole milliseconds (truncated); a phase that did not happen does
    /// not resolve.
    pub fn phases(mut self, phases: Phases) -> Self {
        self.phases = phases;
        self
    }

    /// Adds a response header for `[HEADER].<name>` (names match in any case; a header sent
    /// several times reads as its values joined by `, `).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// `[BODY]`: the response body, borrowed.
    pub fn body(mut self, body: &'a [u8]) -> Self {
        self.body = body;
        self
    }

    /// `[DNS_RCODE]`: the response code by name as Gatus writes it (`NOERROR`, `NXDOMAIN`: see
    /// [`rcode_name`](super::rcode_name)); none (no response) reads as the empty string.
    pub fn dns_rcode(mut self, name: &str) -> Self {
        self.dns_rcode = Some(name.to_owned());
        self
    }

    /// `[DNS_ANSWERS]`: the data of each record of the answer section, in zone-file
    /// presentation (`93.184.216.34`, `10 mail.example.org.`); none reads as no answers.
    pub fn dns_answers<I, S>(mut self, answers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.dns_answers = answers.into_iter().map(Into::into).collect();
        self
    }

    /// `[PACKET_LOSS]`: the percent of echo requests without a reply, 0 to 100 (a value
    /// outside is clamped); unset, or not a number, reads as 0, as Gatus reads a missing
    /// value.
    pub fn packet_loss(mut self, percent: f64) -> Self {
        self.packet_loss = (!percent.is_nan()).then_some(percent);
        self
    }

    /// How many times the body was parsed as JSON: 0 or 1, however many conditions read it.
    pub fn body_parses(&self) -> u32 {
        self.parses.get()
    }

    pub(super) fn status_value(&self) -> u16 {
        self.status.unwrap_or(0)
    }

    pub(super) fn ip_value(&self) -> &str {
        self.ip.as_deref().unwrap_or("")
    }

    pub(super) fn response_time_value(&self) -> u64 {
        self.response_time_ms
    }

    pub(super) fn connected_value(&self) -> bool {
        self.connected
    }

    pub(super) fn certificate_expiration_value(&self) -> i64 {
        self.certificate_expiration_ms.unwrap_or(0)
    }

    pub(super) fn dns_rcode_value(&self) -> &str {
        self.dns_rcode.as_deref().unwrap_or("")
    }

    pub(super) fn dns_answers_value(&self) -> &[String] {
        &self.dns_answers
    }

    pub(super) fn packet_loss_value(&self) -> f64 {
        self.packet_loss.unwrap_or(0.0)
    }

    pub(super) fn phases_value(&self) -> &Phases {
        &self.phases
    }

    /// The values of the header `name`, joined by `, `; `None` when it was not sent.
    pub(super) fn header_value(&self, name: &str) -> Option<Cow<'_, str>> {
        let mut values = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str());
        let first = values.next()?;
        match values.next() {
            None => Some(Cow::Borrowed(first)),
            Some(second) => {
                let mut joined = format!("{first}, {second}");
                for v in values {
                    joined.push_str(", ");
                    joined.push_str(v);
                }
                Some(Cow::Owned(joined))
            }
        }
    }

    /// `[BODY]`: the body as text without the white space around it (Go's `TrimSpace`).
    pub(super) fn body_text(&self) -> &str {
        self.text
            .get_or_init(|| String::from_utf8_lossy(self.body))
            .trim()
    }

    /// The body parsed as JSON, once; `None` when it is not JSON (or nests deeper than
    /// serde_json's limit of 128).
    fn json(&self) -> Option<&Json<'a>> {
        self.json
            .get_or_init(|| {
                self.parses.set(self.parses.get() + 1);
                match std::str::from_utf8(self.body) {
                    // Strings borrowed from the body.
                    Ok(text) => Json::parse(text),
                    // Invalid UTF-8 reads as U+FFFD, as Go's json.Unmarshal reads it.
                    Err(_) => Json::parse(&go_lossy(self.body)).map(Json::into_owned),
                }
            })
            .as_ref()
    }

    /// Gatus's `jsonpath.Eval(path, body)`: an empty path on a body that does not look like a
    /// JSON array is the raw body; anything else needs the body to be JSON.
    pub(super) fn eval(&self, path: &JsonPath) -> Option<Found<'_>> {
        let b = self.body;
        let looks_like_array = b.first() == Some(&b'[') && b.last() == Some(&b']');
        if path.is_empty() && !looks_like_array {
            return Some(Found::Raw(b));
        }
        path.walk(self.json()?)
    }
}

/// The bytes as text with one U+FFFD for every byte that is not part of valid UTF-8, as Go's
/// `utf8.DecodeRune` reads them one at a time (`String::from_utf8_lossy` gives one for a whole
/// cut-off sequence: `\xE2\x82` is one U+FFFD there, two in Go).
fn go_lossy(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 16);
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for _ in chunk.invalid() {
            out.push(char::REPLACEMENT_CHARACTER);
        }
    }
    out
}
