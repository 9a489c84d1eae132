//! `uptimer healthcheck [ADDR]`: asks `http://ADDR/healthz` and exits 0 when it answers 200,
//! else 1 with one line saying why: a container's HEALTHCHECK in an image without curl.
//! ADDR defaults to `METRICS_LISTEN`; an unspecified address (0.0.0.0, [::]) means this host.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;

use crate::config::{Env, listen_addr};

/// The whole check (connect, ask, read the answer) gives up after this long.
const TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Args)]
pub struct HealthcheckArgs {
    /// The metrics listener to ask, e.g. 127.0.0.1:9090 [default: METRICS_LISTEN].
    #[arg(value_name = "ADDR")]
    pub addr: Option<String>,
}

/// Why the check failed.
#[derive(Debug, thiserror::Error)]
enum Unhealthy {
    #[error("cannot connect: {0}")]
    Connect(std::io::Error),
    #[error("{0}")]
    Http(#[from] hyper::Error),
    #[error("no answer within {}s", TIMEOUT.as_secs())]
    Timeout,
    #[error("answered {status}: {body}")]
    Status {
        status: http::StatusCode,
        body: String,
    },
}

pub fn healthcheck(args: HealthcheckArgs) -> ExitCode {
    let given = match args.addr {
        Some(a) => a,
        None => match Env::load(Path::new("configuration.env"))
            .ok()
            .and_then(|env| env.get("METRICS_LISTEN").map(str::to_owned))
        {
            Some(a) => a,
            None => {
                eprintln!("uptimer: healthcheck: no address: pass ADDR or set METRICS_LISTEN");
                return ExitCode::from(super::EXIT_CONFIG);
            }
        },
    };
    let addr = match target(&given) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("uptimer: healthcheck: ADDR {given:?}: expected {e}");
            return ExitCode::from(super::EXIT_CONFIG);
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("cannot start the async runtime");
    let result = runtime.block_on(async {
        tokio::time::timeout(TIMEOUT, check(addr))
            .await
            .unwrap_or(Err(Unhealthy::Timeout))
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("uptimer: healthcheck http://{addr}/healthz: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The address to connect to: a listen address, with "every interface" meaning this host.
fn target(given: &str) -> Result<SocketAddr, String> {
    let given = given.trim();
    let given = given.strip_prefix("http://").unwrap_or(given);
    let mut addr = listen_addr(given.trim_end_matches('/'))?;
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => addr.set_ip(Ipv4Addr::LOCALHOST.into()),
        IpAddr::V6(ip) if ip.is_unspecified() => addr.set_ip(Ipv6Addr::LOCALHOST.into()),
        _ => {}
    }
    Ok(addr)
}

async fn check(addr: SocketAddr) -> Result<(), Unhealthy> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(Unhealthy::Connect)?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let req = http::Request::get("/healthz")
        .header(http::header::HOST, addr.to_string())
        .body(Empty::<bytes::Bytes>::new())
        .expect("a valid request");
    let res = sender.send_request(req).await?;
    let status = res.status();
    if status == http::StatusCode::OK {
        return Ok(());
    }
    let body = res.into_body().collect().await?.to_bytes();
    let body = String::from_utf8_lossy(&body[..body.len().min(200)])
        .trim()
        .to_owned();
    Err(Unhealthy::Status { status, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses_become_addresses_to_connect_to() {
        assert_eq!(
            target("0.0.0.0:9090").unwrap().to_string(),
            "127.0.0.1:9090"
        );
        assert_eq!(target("[::]:9090").unwrap().to_string(), "[::1]:9090");
        assert_eq!(target(":9090").unwrap().to_string(), "127.0.0.1:9090");
        assert_eq!(
            target("http://10.1.2.3:9090/").unwrap().to_string(),
            "10.1.2.3:9090"
        );
        assert!(target("9090").is_err());
    }
}
