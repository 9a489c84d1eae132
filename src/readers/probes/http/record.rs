//! [`Record`]: what one probe observed, the event's material and the final response's
//! headers and body for checks on them.

use std::net::IpAddr;

use http::HeaderMap;
use time::OffsetDateTime;

use crate::event::{Phases, TlsDetails};
use crate::readers::probes::net::Progress;

/// What a probe observed: the event is made of it, and what the event does not carry (the
/// final response's headers and body) is here for checks on them. Kept as far as it got when
/// the probe fails or times out midway.
#[derive(Default)]
pub struct Record {
    /// Status of the final response; 0 when none came (a redirect's next hop failed too).
    pub status: u16,
    /// Headers of the final response; empty when none came.
    pub headers: HeaderMap,
    /// The final response's body decoded from its `Content-Encoding`, its first
    /// `max_body_bytes` at most, kept (and decoded) only when something needs it (a regex,
    /// see `keeps_body`): else empty. Up to where reading stopped when `body_complete` is
    /// false.
    pub body: Vec<u8>,
    /// Whether the body was read to its end (not cut short by the connection, the cap or the
    /// timeout) and, when kept, decoded whole. Only then may it be matched.
    pub body_complete: bool,
    /// Bytes of the body, counted up to the cap: decoded when it was kept, else as received;
    /// `None` when no body was read.
    pub body_bytes: Option<u64>,
    /// The TLS session of the last HTTPS hop; `None` over plain HTTP or when the handshake
    /// failed.
    pub tls: Option<TlsDetails>,
    pub(super) phases: Phases,
    /// The phase in progress, named when the probe times out.
    pub(super) phase: &'static str,
    pub(super) ip: Option<IpAddr>,
    pub(super) version: Option<&'static str>,
    pub(super) redirects: u32,
    pub(super) not_after: Option<OffsetDateTime>,
    /// Whether a TCP connection was made (`[CONNECTED]`).
    pub(super) connected: bool,
}

impl Record {
    /// A redirect is followed: what described the hop before describes no more (a failure of
    /// the next hop is reported as a direct one would be). Phases add up; the certificate
    /// stays that of the last TLS hop.
    pub(super) fn next_hop(&mut self) {
        self.status = 0;
        self.headers.clear();
        self.ip = None;
        self.version = None;
        self.redirects += 1;
    }
}

impl Progress for Record {
    fn enter(&mut self, phase: &'static str) {
        self.phase = phase;
    }

    fn phases(&mut self) -> &mut Phases {
        &mut self.phases
    }

    fn reached(&mut self, ip: IpAddr, connected: bool) {
        self.ip = Some(ip);
        // Any hop's connection counts: a redirect's failed next hop does not undo it.
        self.connected |= connected;
    }

    fn certificate_expiry(&mut self, not_after: Option<OffsetDateTime>) {
        self.not_after = not_after;
    }
}

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The body can be a MiB: its length and first bytes say enough.
        let head = &self.body[..self.body.len().min(64)];
        f.debug_struct("Record")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body_len", &self.body.len())
            .field("body_head", &String::from_utf8_lossy(head))
            .field("body_complete", &self.body_complete)
            .field("body_bytes", &self.body_bytes)
            .field("phases", &self.phases)
            .field("ip", &self.ip)
            .field("version", &self.version)
            .field("redirects", &self.redirects)
            .finish_non_exhaustive()
    }
}
