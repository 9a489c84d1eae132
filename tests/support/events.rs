//! Events as a prober writes them, for tests that fill a store by hand.

use uptimer::event::Phases;

/// The phases of an HTTPS check answered in `ms`: DNS 1, connect 2, TLS 3 and transfer 1 ms,
/// the rest (none under 7 ms: a phase is never negative) waiting for the first byte.
pub fn https_phases(ms: u64) -> Phases {
    Phases {
        dns: Some(1.0),
        connect: Some(2.0),
        tls: Some(3.0),
        ttfb: Some((ms as f64 - 7.0).max(0.0)),
        transfer: Some(1.0),
    }
}
