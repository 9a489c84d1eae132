//! The probers' DNS resolver: the given name servers, else the system's configuration.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::NetError;

/// The resolver cannot be built: a startup error.
#[derive(Debug, thiserror::Error)]
pub enum ResolverError {
    #[error("cannot read the system DNS configuration: {0}")]
    SystemConfig(#[source] NetError),
    #[error("cannot build the DNS resolver: {0}")]
    Build(#[source] NetError),
}

/// Builds the resolver: the given name servers, else the system's configuration.
pub(super) fn build(dns_servers: &[SocketAddr]) -> Result<TokioResolver, ResolverError> {
    let provider = hickory_resolver::net::runtime::TokioRuntimeProvider::default();
    let mut builder = if dns_servers.is_empty() {
        TokioResolver::builder(provider).map_err(ResolverError::SystemConfig)?
    } else {
        let servers = dns_servers
            .iter()
            .map(|a| {
                let mut udp = ConnectionConfig::udp();
                udp.port = a.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = a.port();
                NameServerConfig::new(a.ip(), true, vec![udp, tcp])
            })
            .collect();
        TokioResolver::builder_with_config(ResolverConfig::from_name_servers(servers), provider)
    };
    let opts = builder.options_mut();
    opts.timeout = Duration::from_secs(5);
    opts.attempts = 2;
    opts.cache_size = 4096;
    builder.build().map_err(ResolverError::Build)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_say_which_step_failed() {
        let e = ResolverError::SystemConfig(NetError::from("no /etc/resolv.conf"));
        assert_eq!(
            e.to_string(),
            "cannot read the system DNS configuration: no /etc/resolv.conf"
        );
        assert!(std::error::Error::source(&e).is_some());
        let e = ResolverError::Build(NetError::from("bad options"));
        assert_eq!(e.to_string(), "cannot build the DNS resolver: bad options");
    }

    #[tokio::test]
    async fn given_name_servers_build_without_the_system_configuration() {
        assert!(build(&["127.0.0.1:5353".parse().unwrap()]).is_ok());
    }
}
