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

/// Whether `ip` is a public unicast address: not loopback, private, link-local (which
/// holds cloud metadata services), carrier-grade NAT, unspecified, broadcast, multicast,
/// documentation, benchmarking or reserved. IPv4 addresses mapped or translated into IPv6
/// are judged as IPv4. Outgoing requests to user-supplied URLs (webhooks) go only to
/// public addresses unless the owner allows otherwise.
///
/// ```
/// use postern_core::net::is_public_address;
/// assert!(is_public_address("93.184.216.34".parse().unwrap()));
/// assert!(!is_public_address("169.254.169.254".parse().unwrap()));
/// assert!(!is_public_address("::ffff:127.0.0.1".parse().unwrap()));
/// assert!(!is_public_address("fd00:ec2::254".parse().unwrap()));
/// ```
pub fn is_public_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(v4.is_unspecified()
                || v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
                || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
                || (a == 198 && (18..20).contains(&b)) // benchmarking
                || a >= 240) // reserved
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_address(IpAddr::V4(v4));
            }
            let s = v6.segments();
            // NAT64 (64:ff9b::/96) carries an IPv4 address in its last 32 bits.
            if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
                let v4 = std::net::Ipv4Addr::new(
                    (s[6] >> 8) as u8,
                    s[6] as u8,
                    (s[7] >> 8) as u8,
                    s[7] as u8,
                );
                return is_public_address(IpAddr::V4(v4));
            }
            !(v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
                || (s[0] == 0x2001 && s[1] == 0xdb8) // documentation
                || s[..6] == [0, 0, 0, 0, 0, 0]) // IPv4-compatible (deprecated)
        }
    }
}

/// Resolves names to public addresses only: a name that resolves to loopback, private or
/// link-local addresses (metadata services) is refused at connect time, so DNS rebinding
/// cannot slip past a check made earlier.
pub(crate) struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| crate::net::is_public_address(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
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
