//! Probers: readers that produce one event per probe of a target. One module per kind of
//! check; [`Probers`] picks the one a target's kind names, so the scheduler knows no protocol.
//! Name resolution, connecting and the TLS handshake are shared (`net`).

mod conditions;
mod conn;
pub mod dns;
mod failure;
pub mod grpc;
pub mod http;
pub mod icmp;
pub mod net;
mod observed;
mod resolver;
pub mod tcp;
mod tls;
mod tls_errors;
pub mod udp;

use std::future::Future;
use std::net::IpAddr;

use hickory_resolver::TokioResolver;

pub use failure::Failure;
pub use http::{HttpProber, Record};
pub use resolver::ResolverError;
pub use tls::{TlsConfigs, TlsSetupError};

use crate::config::{Check, ProbeSettings, Target};
use crate::event::{ErrorKind, ProbeEvent};
use observed::Observed;

/// Something that probes targets: one event per probe, never an error (every failure is
/// described in the event).
pub trait Prober: Send + Sync + 'static {
    fn probe(&self, target: &Target) -> impl Future<Output = ProbeEvent> + Send;
}

impl Prober for HttpProber {
    fn probe(&self, target: &Target) -> impl Future<Output = ProbeEvent> + Send {
        HttpProber::probe(self, target)
    }
}

/// Every kind of check, shared by all targets of a process.
pub struct Probers {
    http: HttpProber,
    resolver: TokioResolver,
    tls: TlsConfigs,
    /// The raw ICMP sockets of every icmp target's probes (when datagram ones are not allowed).
    icmp: icmp::RawSockets,
    location: Option<String>,
}

/// A URL's host with an address written as a name (`tcp://127.0.0.1:5432`: the URL standard
/// parses hosts of schemes it does not know as names) read as the address it is.
fn host_of(url: &url::Url) -> Option<url::Host<&str>> {
    Some(match url.host()? {
        url::Host::Domain(d) => match d.parse::<IpAddr>() {
            Ok(IpAddr::V4(a)) => url::Host::Ipv4(a),
            Ok(IpAddr::V6(a)) => url::Host::Ipv6(a),
            Err(_) => url::Host::Domain(d),
        },
        other => other,
    })
}

impl Probers {
    pub fn new(settings: &ProbeSettings) -> Result<Probers, ResolverError> {
        Ok(Probers {
            http: HttpProber::new(settings)?,
            resolver: resolver::build(&settings.dns_servers)?,
            tls: TlsConfigs::default(),
            icmp: icmp::RawSockets::new(),
            location: settings.location.clone(),
        })
    }

    /// Checks at startup what a target's probes will need (its TLS settings load).
    pub fn check(&self, target: &Target) -> Result<(), TlsSetupError> {
        match &target.check {
            Check::Tcp(c) => self.tls.check(&c.tls_config.verify),
            Check::Grpc(c) => self.tls.check(&c.tls_config.verify),
            _ => self.http.check_tls(target),
        }
    }

    /// The HTTP prober, for what only HTTP has (`uptimer probe`'s response details).
    pub fn http(&self) -> &HttpProber {
        &self.http
    }

    async fn tcp(&self, target: &Target, check: &tcp::TcpCheck) -> ProbeEvent {
        let started = observed::start();
        let mut rec = tcp::TcpRecord::default();
        let outcome = match (host_of(&target.url), target.port) {
            (Some(host), Some(port)) => {
                let run = tcp::probe(
                    &self.resolver,
                    &self.tls,
                    &host,
                    port,
                    check.addr,
                    check,
                    &mut rec,
                );
                match observed::within(target, run).await {
                    Some(r) => r,
                    None => {
                        let mut f = observed::timed_out(target.timeout, rec.phase);
                        if let Some(w) = rec.waiting() {
                            f.message = format!("{}, {w}", f.message);
                        }
                        Err(f)
                    }
                }
            }
            _ => Err(no_address(target)),
        };
        let obs = Observed {
            phases: rec.phases,
            ip: rec.ip,
            connected: rec.connected,
            tcp: Some(rec.tcp),
            tls: rec.tls,
            ..Observed::default()
        };
        observed::event(target, self.location.as_deref(), started, obs, outcome)
    }

    async fn grpc(&self, target: &Target, check: &crate::config::checks::GrpcCheck) -> ProbeEvent {
        let started = observed::start();
        let mut reach = Reach::default();
        let mut rec = grpc::GrpcRecord::default();
        let mut tls = None;
        let outcome = match (host_of(&target.url), target.port) {
            (Some(host), Some(port)) => {
                let run = async {
                    let addrs = net::resolve(&self.resolver, &host, check.addr, &mut reach).await?;
                    let (tcp, _) = net::connect(&addrs, port, &mut reach).await?;
                    let authority = match &host {
                        url::Host::Ipv6(a) => format!("[{a}]:{port}"),
                        h => format!("{h}:{port}"),
                    };
                    if check.tls {
                        let name = check
                            .tls_config
                            .server_name
                            .clone()
                            .unwrap_or_else(|| net::server_name_of(&host));
                        let verify = &check.tls_config.verify;
                        let (stream, details) = net::handshake(
                            &self.tls,
                            verify,
                            net::Alpn::H2,
                            &name,
                            tcp,
                            &mut reach,
                        )
                        .await?;
                        tls = Some(details);
                        grpc::check(stream, &authority, true, &check.service, &mut rec).await
                    } else {
                        grpc::check(tcp, &authority, false, &check.service, &mut rec).await
                    }
                };
                let r = observed::within(target, run).await;
                r.unwrap_or_else(|| Err(reach.timed_out(target, rec.phase)))
            }
            _ => Err(no_address(target)),
        };
        let mut phases = reach.phases;
        phases.ttfb = rec.phases.ttfb;
        let obs = Observed {
            phases,
            ip: reach.ip,
            connected: reach.connected,
            grpc: rec.details,
            tls,
            ..Observed::default()
        };
        observed::event(target, self.location.as_deref(), started, obs, outcome)
    }

    async fn icmp(&self, target: &Target, check: &icmp::IcmpCheck) -> ProbeEvent {
        let started = observed::start();
        let mut reach = Reach::default();
        let mut rec = icmp::IcmpRecord::default();
        let outcome = match host_of(&target.url) {
            Some(host) => {
                let run = async {
                    let addrs = net::resolve(&self.resolver, &host, check.addr, &mut reach).await?;
                    let ip = *addrs
                        .first()
                        .ok_or_else(|| Failure::new(ErrorKind::Internal, "no address to ping"))?;
                    reach.ip = Some(ip);
                    // The probe spaces its requests and waits within the time left.
                    let left = target
                        .timeout
                        .saturating_sub(started.1.elapsed())
                        .max(std::time::Duration::from_millis(1));
                    icmp::probe(&self.icmp, ip, check, left, &mut rec).await
                };
                let r = observed::within(target, run).await;
                r.unwrap_or_else(|| Err(reach.timed_out(target, rec.phase)))
            }
            None => Err(no_address(target)),
        };
        let mut phases = reach.phases;
        phases.ttfb = rec.phases.ttfb;
        let obs = Observed {
            phases,
            ip: reach.ip,
            connected: rec.details.received > 0,
            icmp: Some(rec.details),
            ..Observed::default()
        };
        observed::event(target, self.location.as_deref(), started, obs, outcome)
    }

    async fn dns(&self, target: &Target, check: &dns::DnsCheck) -> ProbeEvent {
        let started = observed::start();
        let mut reach = Reach::default();
        let mut rec = dns::DnsObservation::default();
        let outcome = match (host_of(&target.url), target.port) {
            (Some(host), Some(port)) => {
                let run = async {
                    let addrs = net::resolve(&self.resolver, &host, check.addr, &mut reach).await?;
                    let ip = *addrs.first().ok_or_else(|| {
                        Failure::new(ErrorKind::Internal, "no address of the DNS server")
                    })?;
                    reach.ip = Some(ip);
                    dns::probe(std::net::SocketAddr::new(ip, port), check, &mut rec).await
                };
                let r = observed::within(target, run).await;
                r.unwrap_or_else(|| Err(reach.timed_out(target, rec.phase)))
            }
            _ => Err(no_address(target)),
        };
        let mut phases = reach.phases;
        phases.connect = rec.phases.connect;
        phases.ttfb = rec.phases.ttfb;
        let obs = Observed {
            phases,
            ip: reach.ip,
            connected: rec.details.is_some(),
            dns: rec.details,
            ..Observed::default()
        };
        observed::event(target, self.location.as_deref(), started, obs, outcome)
    }

    async fn udp(&self, target: &Target, check: &udp::UdpCheck) -> ProbeEvent {
        let started = observed::start();
        let mut rec = udp::UdpRecord::default();
        let outcome = match (host_of(&target.url), target.port) {
            (Some(host), Some(port)) => {
                let run = udp::probe(
                    &self.resolver,
                    &host,
                    port,
                    net::AddrPolicy::default(),
                    check,
                    &mut rec,
                );
                let r = observed::within(target, run).await;
                r.unwrap_or_else(|| Err(observed::timed_out(target.timeout, rec.phase)))
            }
            _ => Err(no_address(target)),
        };
        let obs = Observed {
            phases: rec.phases,
            ip: rec.ip,
            connected: rec.connected,
            ..Observed::default()
        };
        observed::event(target, self.location.as_deref(), started, obs, outcome)
    }
}

/// How far the shared steps (resolve, connect, TLS) got, for kinds whose own record starts
/// after them.
#[derive(Default)]
struct Reach {
    phase: &'static str,
    phases: crate::event::Phases,
    ip: Option<IpAddr>,
    connected: bool,
}

impl Reach {
    /// The failure of a probe that ran out of time: during its own phase `own` once it has
    /// one, else during the shared step it was in.
    fn timed_out(&self, target: &Target, own: &'static str) -> Failure {
        let phase = if own.is_empty() { self.phase } else { own };
        observed::timed_out(target.timeout, phase)
    }
}

impl net::Progress for Reach {
    fn enter(&mut self, phase: &'static str) {
        self.phase = phase;
    }

    fn phases(&mut self) -> &mut crate::event::Phases {
        &mut self.phases
    }

    fn reached(&mut self, ip: IpAddr, connected: bool) {
        self.ip = Some(ip);
        self.connected = connected;
    }

    fn certificate_expiry(&mut self, _: Option<time::OffsetDateTime>) {}
}

/// A target whose URL lost its host or port: the configuration refuses these, so it is ours.
fn no_address(target: &Target) -> Failure {
    Failure::new(
        ErrorKind::Internal,
        format!("{} has no host and port to check", target.url),
    )
}

impl Prober for Probers {
    async fn probe(&self, target: &Target) -> ProbeEvent {
        match &target.check {
            Check::Http => self.http.probe(target).await,
            Check::Tcp(c) => self.tcp(target, c).await,
            Check::Udp(c) => self.udp(target, c).await,
            Check::Grpc(c) => self.grpc(target, c).await,
            Check::Icmp(c) => self.icmp(target, c).await,
            Check::Dns(c) => self.dns(target, c).await,
            // Nothing probes a push target: the pushes and their deadlines make its events.
            Check::Push(_) => {
                let started = observed::start();
                observed::event(
                    target,
                    self.location.as_deref(),
                    started,
                    Observed::default(),
                    Err(Failure::new(
                        ErrorKind::Internal,
                        "a push target is not probed: only `uptimer serve` receives its pushes",
                    )),
                )
            }
        }
    }
}
