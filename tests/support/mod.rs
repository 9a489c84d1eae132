//! The integration tests' harness, once for every test file (`mod support;`):
//!
//! * [`server`], [`routes`], [`tls`], [`dns`]: real servers on loopback that record what they
//!   were asked: plain HTTP and h2c, HTTPS with certificates of every kind ([`CertKind`]),
//!   misbehaving TCP ([`reset_server`], [`silent_server`], [`scripted_server`] for answers that
//!   break HTTP), a tiny DNS server; `/encoded/…` bodies under every `Content-Encoding`;
//!   `/switch` goes down and comes back ([`TestServer::set_switch`]), `/gate` answers when the
//!   test says so ([`TestServer::open_gate`])
//! * [`browser`]: a real headless Chromium, run per page or driven through WebDriver, for
//!   the dashboard's and the status pages' browser tests
//! * [`bin`]: the `uptimer` binary with a clean environment, run to its end ([`output`]) or
//!   kept [`Running`] while the test reads its output, then stopped with SIGTERM
//! * [`net`]: free and closed ports, a plain HTTP GET
//! * [`wait`]: waiting until a condition holds, within a deadline a busy machine meets
//! * [`events`]: events as a prober writes them, for tests that fill a store by hand
//! * [`pg`]: a PostgreSQL database per test, or a private server a test may stop
//! * [`kafka`]: a real Kafka-protocol broker (tansu), optionally behind TLS or SASL
//! * [`provider`]: a fake alert provider that records requests and answers as scripted
//! * [`smtp`]: a real SMTP sink (aiosmtpd) whose stored messages the test reads back
//!
//! Every server and process is stopped when its handle is dropped.
#![allow(dead_code)]

pub mod bin;
pub mod browser;
pub mod dns;
pub mod events;
pub mod kafka;
pub mod net;
pub mod pg;
pub mod provider;
pub mod routes;
pub mod server;
pub mod smtp;
pub mod tls;
pub mod wait;

// Each test file uses a part of the harness.
#[allow(unused_imports)]
pub use {bin::*, dns::*, events::*, net::*, routes::*, server::*, tls::*, wait::*};
