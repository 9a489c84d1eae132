//! What the benchmark programs share: the probe event they send, as a prober would emit it.

use time::OffsetDateTime;
use uptimer::event::{Event, Phases, ProbeEvent};

/// The `i`-th benchmark event: an up HTTPS probe of one of 1,000 hosts, every field filled.
pub fn event(i: usize, at: OffsetDateTime) -> Event {
    let t = i % 1000;
    let mut e = ProbeEvent::new(at, "https", &format!("host{t}.example"), Some(443));
    e.path = "/health".into();
    e.status_code = Some(200);
    e.response_time_ms = (i % 900) as u64;
    e.url = Some(format!("https://host{t}.example/health"));
    e.target = Some(format!("{t:016x}"));
    e.name = Some(format!("host {t}"));
    e.up = Some(true);
    e.phases_ms = Some(Phases {
        dns: Some(1.25),
        connect: Some(2.5),
        tls: Some(10.1),
        ttfb: Some(30.0),
        transfer: Some(0.5),
    });
    e.ip = Some("127.0.0.1".into());
    e.http_version = Some("HTTP/2".into());
    e.body_bytes = Some(1234);
    e.redirects = Some(0);
    e.into()
}
