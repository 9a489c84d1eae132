//! Realistic sample data: the events a real prober writes for a target and the hour rollups
//! the store builds from them (random v4 uuids, a 60 s schedule with microsecond jitter, phases
//! in whole microseconds with noise, occasional failures with their texts, TLS expiry, HTTP/1.1
//! and HTTP/2, IPv4 and IPv6). The codec's size figures come from it, and the store's benchmark
//! history generator can use it so that its sizes are those of real ingest. Deterministic: the
//! same seed gives the same data.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::event::{ErrorKind, Phases, ProbeEvent};
use crate::store::rollup::Agg;
use crate::store::sqlite::write::is_up;
use crate::store::{DAY, HOUR, Micros, SECOND, from_micros};

/// A small deterministic PRNG (xorshift64*).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        // Never zero (xorshift's fixed point), and seeds 1, 2, 3 … far apart.
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u = self.unit().max(f64::MIN_POSITIVE);
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * self.unit()).cos()
    }

    /// `base` with multiplicative (log-normal) noise of spread `sigma`.
    pub fn noisy(&mut self, base: f64, sigma: f64) -> f64 {
        base * (sigma * self.normal()).exp()
    }

    /// A random (version 4) uuid.
    pub fn uuid(&mut self) -> Uuid {
        let bytes = (u128::from(self.next_u64()) << 64 | u128::from(self.next_u64())).to_le_bytes();
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    }
}

/// One target as a prober sees it, with the typical timings of its network path and server.
#[derive(Debug, Clone)]
pub struct SampleTarget {
    pub id: String,
    pub name: String,
    pub url: String,
    pub hostname: String,
    pub port: u16,
    pub path: String,
    pub https: bool,
    pub regex: Option<String>,
    pub location: Option<String>,
    /// The addresses DNS gives (round robin when several).
    pub ips: Vec<String>,
    pub http_version: &'static str,
    pub body_bytes: u64,
    /// Whether the body's size changes from probe to probe (a dynamic page).
    pub dynamic_body: bool,
    pub redirects: u32,
    /// Typical dns, connect (one round trip), tls, ttfb and transfer times, in ms.
    pub phases: [f64; 5],
    /// Chance that a probe fails.
    pub fail_p: f64,
    pub cert_not_after: Option<OffsetDateTime>,
    /// Where in the interval its probes start (the scheduler spreads targets), in µs.
    pub offset: Micros,
}

const LOCATIONS: [&str; 3] = ["eu-1", "us-east", "ap-south"];
const PATHS: [&str; 5] = ["/", "/health", "/api/v1/status", "/login", "/healthz"];

impl SampleTarget {
    /// Target number `i`, its traits drawn from `rng`.
    pub fn new(rng: &mut Rng, i: usize) -> SampleTarget {
        let https = rng.unit() < 0.85;
        let hostname = format!("svc{i}.example{}.com", i % 97);
        let path = PATHS[i % PATHS.len()].to_owned();
        let port = if https { 443 } else { 80 };
        let scheme = if https { "https" } else { "http" };
        let rtt = rng.range(2.0, 120.0);
        let v6 = rng.unit() < 0.25;
        let ips = (0..1 + usize::from(rng.unit() < 0.3) * 2)
            .map(|_| {
                let r = rng.next_u64();
                if v6 {
                    format!("2606:4700:{:x}::{:x}", r as u16, (r >> 16) as u16)
                } else {
                    format!(
                        "{}.{}.{}.{}",
                        13 + r % 200,
                        (r >> 8) as u8,
                        (r >> 16) as u8,
                        (r >> 24) as u8
                    )
                }
            })
            .collect();
        SampleTarget {
            id: format!("{:016x}", rng.next_u64()),
            name: format!("service {i}"),
            url: format!("{scheme}://{hostname}{path}"),
            hostname,
            port,
            path,
            https,
            regex: (rng.unit() < 0.2).then(|| "ok|healthy".to_owned()),
            location: (rng.unit() < 0.7).then(|| LOCATIONS[i % LOCATIONS.len()].to_owned()),
            ips,
            http_version: if https && rng.unit() < 0.6 {
                "HTTP/2"
            } else {
                "HTTP/1.1"
            },
            body_bytes: (rng.range(2.0, 200_000.0_f64.ln()).exp()) as u64,
            dynamic_body: rng.unit() < 0.4,
            redirects: u32::from(rng.unit() < 0.1),
            phases: [
                rng.range(1.0, 30.0),
                rtt,
                if https {
                    2.0 * rtt + rng.range(1.0, 8.0)
                } else {
                    0.0
                },
                rtt + rng.range(5.0, 300.0),
                rng.range(0.05, 5.0),
            ],
            fail_p: match i % 100 {
                0 => 0.05,
                1..=4 => 0.01,
                _ => 0.0005,
            },
            cert_not_after: https.then(|| {
                from_micros(1_790_000_000 * SECOND + (i as i64 % 365) * DAY + DAY - SECOND)
            }),
            offset: (rng.unit() * 60.0 * SECOND as f64) as Micros,
        }
    }

    /// The events of probes due in `[from, to)` every `interval` µs, each started a little
    /// late (timer and scheduling jitter, now and then a long wait for a slot).
    pub fn events(
        &self,
        rng: &mut Rng,
        from: Micros,
        to: Micros,
        interval: Micros,
    ) -> Vec<ProbeEvent> {
        let first = from + (self.offset - from).rem_euclid(interval);
        let mut out = Vec::with_capacity(((to - first) / interval + 1).max(0) as usize);
        let mut due = first;
        while due < to {
            let late = if rng.unit() < 0.01 {
                rng.range(1_000.0, 80_000.0)
            } else {
                rng.range(50.0, 1_500.0)
            };
            out.push(self.probe(rng, due + late as Micros));
            due += interval;
        }
        out
    }

    /// One probe's event, started at `t`.
    pub fn probe(&self, rng: &mut Rng, t: Micros) -> ProbeEvent {
        let mut e = ProbeEvent::new(
            from_micros(t),
            if self.https { "https" } else { "http" },
            &self.hostname,
            Some(self.port),
        );
        e.envelope.uuid = rng.uuid();
        e.path = self.path.clone();
        e.url = Some(self.url.clone());
        e.target = Some(self.id.clone());
        e.name = Some(self.name.clone());
        e.location = self.location.clone();
        e.regex = self.regex.clone();
        e.ip = Some(self.ips[rng.next_u64() as usize % self.ips.len()].clone());
        let [dns, rtt, tls, ttfb, transfer] = self.phases;
        let slow = if rng.unit() < 0.02 {
            rng.range(2.0, 8.0)
        } else {
            1.0
        };
        let mut p = [
            Some(rng.noisy(dns, 0.3)),
            Some(rtt * (1.0 + 0.08 * rng.normal().abs())),
            self.https
                .then(|| tls * (1.0 + 0.08 * rng.normal().abs()) + rng.range(0.2, 2.0)),
            Some(rng.noisy(ttfb, 0.15) * slow),
            Some(rng.noisy(transfer, 0.5)),
        ];
        let failure = (rng.unit() < self.fail_p).then(|| self.failure(rng, &mut p));
        let phases = Phases {
            dns: p[0],
            connect: p[1],
            tls: p[2],
            ttfb: p[3],
            transfer: p[4],
        }
        .rounded();
        let total: f64 = p.iter().flatten().sum::<f64>() + rng.range(0.1, 0.8);
        e.response_time_ms = total.round() as u64;
        e.phases_ms = Some(phases).filter(|p| !p.is_empty());
        e.redirects = Some(self.redirects);
        match failure {
            Some((kind, status, error)) => {
                e.up = Some(false);
                e.error_kind = Some(kind);
                e.error = Some(error);
                e.status_code = Some(status);
                if status == 0 {
                    e.ip = e.ip.filter(|_| kind != ErrorKind::Dns);
                    e.matches_regex = self.regex.as_ref().map(|_| false);
                    return e;
                }
            }
            None => e.up = Some(true),
        }
        e.status_code = e.status_code.filter(|s| *s != 0).or(Some(200));
        e.matches_regex = self.regex.as_ref().map(|_| e.up == Some(true));
        e.http_version = Some(self.http_version.to_owned());
        e.body_bytes = Some(if self.dynamic_body {
            self.body_bytes + rng.next_u64() % 64
        } else {
            self.body_bytes
        });
        e.tls_cert_not_after = self.cert_not_after;
        e
    }

    /// A failure as the prober reports it (kind, status, text), cutting the phases short.
    fn failure(&self, rng: &mut Rng, p: &mut [Option<f64>; 5]) -> (ErrorKind, u16, String) {
        let addr = format!("{}:{}", self.ips[0], self.port);
        match rng.next_u64() % 4 {
            0 => {
                p[3] = None;
                p[4] = None;
                (
                    ErrorKind::Timeout,
                    0,
                    "timed out after 10s during ttfb".to_owned(),
                )
            }
            1 => {
                *p = [p[0], p[1], None, None, None];
                (
                    ErrorKind::ConnectRefused,
                    0,
                    format!("cannot connect to {addr}: Connection refused (os error 111)"),
                )
            }
            2 => {
                *p = [p[0], None, None, None, None];
                (
                    ErrorKind::Dns,
                    0,
                    format!("cannot resolve {}: no record found", self.hostname),
                )
            }
            _ => {
                let status = [500, 502, 503, 504][rng.next_u64() as usize % 4];
                (
                    ErrorKind::HttpStatus,
                    status,
                    format!("unexpected status {status} (expected 200-399)"),
                )
            }
        }
    }
}

/// The rollup of one hour's events, as the store's writer adds them.
pub fn aggregate<'a>(events: impl IntoIterator<Item = &'a ProbeEvent>) -> Agg {
    let mut agg = Agg::default();
    for e in events {
        let p = e.phases_ms.unwrap_or_default();
        agg.add(
            e.response_time_ms as f64,
            is_up(e),
            [p.dns, p.connect, p.tls, p.ttfb, p.transfer],
        );
    }
    agg
}

/// A target-day of hour rollups starting at `day`, from events every `interval` µs.
pub fn day_of_hours(
    target: &SampleTarget,
    rng: &mut Rng,
    day: Micros,
    interval: Micros,
) -> Vec<(Micros, Agg)> {
    (0..24)
        .map(|h| {
            let start = day + h * HOUR;
            (
                start,
                aggregate(&target.events(rng, start, start + HOUR, interval)),
            )
        })
        .collect()
}
