//! Client addresses: the peer address the adapters pass in, and `X-Forwarded-For` only
//! when the peer is a configured trusted proxy.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

/// The address of the peer that sent a request, as the adapters see it (a request
/// extension). Without one, the client counts as unknown: all such requests share one
/// per-IP bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// An IP network (`10.0.0.0/8`, `fd00::/8`, or a single address).
///
/// ```
/// use postern_core::net::IpNetwork;
/// let n: IpNetwork = "10.0.0.0/8".parse().unwrap();
/// assert!(n.contains("10.1.2.3".parse().unwrap()));
/// assert!(!n.contains("11.0.0.1".parse().unwrap()));
/// let one: IpNetwork = "::1".parse().unwrap();
/// assert!(one.contains("::1".parse().unwrap()));
/// assert!("10.0.0.0/33".parse::<IpNetwork>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNetwork {
    addr: IpAddr,
    prefix: u8,
}

impl IpNetwork {
    /// Whether `ip` is in the network (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }

    /// `127.0.0.0/8` and `::1/128`.
    pub fn loopback() -> [IpNetwork; 2] {
        [
            IpNetwork {
                addr: IpAddr::from([127, 0, 0, 0]),
                prefix: 8,
            },
            IpNetwork {
                addr: std::net::Ipv6Addr::LOCALHOST.into(),
                prefix: 128,
            },
        ]
    }
}

/// A network that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an IP network: {0}")]
pub struct BadNetwork(pub String);

impl FromStr for IpNetwork {
    type Err = BadNetwork;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadNetwork(s.to_owned());
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let addr = canonical(addr.parse::<IpAddr>().map_err(|_| bad())?);
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.parse::<u8>().map_err(|_| bad())?,
            None => max,
        };
        if prefix > max {
            return Err(bad());
        }
        Ok(IpNetwork { addr, prefix })
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// Whether `peer` (an IPv4-mapped IPv6 address counts as its IPv4 address) is one of the
/// trusted proxies, whose forwarding headers are believed.
pub fn is_trusted_proxy(peer: IpAddr, trusted_proxies: &[IpNetwork]) -> bool {
    let peer = canonical(peer);
    trusted_proxies.iter().any(|n| n.contains(peer))
}

/// The client's address: the peer, unless the peer is a trusted proxy; then the
/// right-most `X-Forwarded-For` entry that is not itself a trusted proxy (entries to its
/// left were written by the client and prove nothing). `None` without a peer address.
///
/// ```
/// use postern_core::net::{client_ip, IpNetwork};
/// let proxies: Vec<IpNetwork> = vec!["10.0.0.0/8".parse().unwrap()];
/// let peer = Some("10.0.0.5".parse().unwrap());
/// let xff = Some("6.6.6.6, 198.51.100.9, 10.0.0.7");
/// assert_eq!(client_ip(peer, xff, &proxies), Some("198.51.100.9".parse().unwrap()));
/// // From an untrusted peer the header is ignored.
/// let peer = Some("192.0.2.1".parse().unwrap());
/// assert_eq!(client_ip(peer, xff, &proxies), peer);
/// ```
pub fn client_ip(
    peer: Option<IpAddr>,
    forwarded_for: Option<&str>,
    trusted_proxies: &[IpNetwork],
) -> Option<IpAddr> {
    let peer = canonical(peer?);
    let trusted = |ip: IpAddr| is_trusted_proxy(ip, trusted_proxies);
    if !trusted(peer) {
        return Some(peer);
    }
    let mut client = peer;
    for entry in forwarded_for.unwrap_or_default().rsplit(',') {
        let Some(ip) = parse_forwarded_entry(entry) else {
            break;
        };
        client = ip;
        if !trusted(ip) {
            break;
        }
    }
    Some(client)
}

fn parse_forwarded_entry(entry: &str) -> Option<IpAddr> {
    let e = entry.trim();
    if let Ok(ip) = e.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    // "1.2.3.4:5678" or "[2001:db8::1]:5678"
    e.parse::<SocketAddr>().ok().map(|s| canonical(s.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_chains() {
        let proxies: Vec<IpNetwork> = vec!["10.0.0.0/8".parse().unwrap(), "::1".parse().unwrap()];
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(client_ip(None, Some("1.1.1.1"), &proxies), None);
        assert_eq!(
            client_ip(Some(ip("10.0.0.1")), None, &proxies),
            Some(ip("10.0.0.1"))
        );
        assert_eq!(
            client_ip(Some(ip("::1")), Some("[2001:db8::1]:443"), &proxies),
            Some(ip("2001:db8::1"))
        );
        assert_eq!(
            client_ip(Some(ip("10.0.0.1")), Some("garbage, 10.0.0.2"), &proxies),
            Some(ip("10.0.0.2")),
            "stops at what cannot be parsed"
        );
        assert_eq!(
            client_ip(Some(ip("::ffff:10.0.0.1")), Some("203.0.113.1"), &proxies),
            Some(ip("203.0.113.1")),
            "mapped addresses count as IPv4"
        );
        let n: IpNetwork = "0.0.0.0/0".parse().unwrap();
        assert!(n.contains(ip("8.8.8.8")));
        assert!(!n.contains(ip("2001:db8::1")));
    }
}
