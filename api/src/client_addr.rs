//! The client's address, as sign-in throttling counts it.
//!
//! It is the TCP peer's address (axum's `ConnectInfo`). `X-Forwarded-For` is
//! believed only from a peer listed in `NESTOGY_TRUSTED_PROXIES`: the client
//! is then the right-most address in it that is not itself a trusted proxy
//! (entries further left are whatever the client chose to send). Without a
//! peer address (a router called in process) the client is `0.0.0.0`, one
//! address for all such requests.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::request::Parts;

/// Networks whose `X-Forwarded-For` is believed: addresses or CIDR blocks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<(IpAddr, u8)>);

impl TrustedProxies {
    /// Parses `10.0.0.0/8, 192.0.2.7, fd00::/8` (empty: none).
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut out = Vec::new();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (addr, len) = match item.split_once('/') {
                Some((a, l)) => (a, Some(l)),
                None => (item, None),
            };
            let ip: IpAddr = addr
                .parse()
                .map_err(|_| format!("{item:?} is not an address or CIDR block"))?;
            let ip = canonical(ip);
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let len = match len {
                None => max,
                Some(l) => l
                    .parse::<u8>()
                    .ok()
                    .filter(|l| *l <= max)
                    .ok_or_else(|| format!("{item:?} has a bad prefix length"))?,
            };
            out.push((ip, len));
        }
        Ok(Self(out))
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|(net, len)| match (net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                prefix_eq(n.to_bits().into(), a.to_bits().into(), *len, 32)
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => prefix_eq(n.to_bits(), a.to_bits(), *len, 128),
            _ => false,
        })
    }
}

fn prefix_eq(a: u128, b: u128, len: u8, width: u32) -> bool {
    let len = u32::from(len);
    len == 0 || (a ^ b) >> (width - len) == 0
}

/// IPv4-mapped IPv6 (a dual-stack socket's view of an IPv4 peer) as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The client's address for a request.
pub fn client_addr(parts: &Parts, trusted: &TrustedProxies) -> IpAddr {
    let Some(ConnectInfo(peer)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() else {
        return IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    };
    let mut client = canonical(peer.ip());
    if !trusted.contains(client) {
        return client;
    }
    let forwarded: Vec<&str> = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    for hop in forwarded.iter().rev() {
        let Ok(ip) = hop.parse::<IpAddr>() else {
            break; // a hop we cannot read: the last one we could is the client
        };
        client = canonical(ip);
        if !trusted.contains(client) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;

    fn parts(peer: &str, xff: &[&str]) -> Parts {
        let mut b = Request::builder();
        for h in xff {
            b = b.header("x-forwarded-for", *h);
        }
        let (mut p, ()) = b.body(()).unwrap().into_parts();
        p.extensions
            .insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
        p
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted = TrustedProxies::parse("10.0.0.0/8, 192.0.2.7").unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // Not a trusted peer: its header is ignored.
        assert_eq!(
            client_addr(&parts("198.51.100.1:5000", &["203.0.113.9"]), &trusted),
            ip("198.51.100.1")
        );
        // A trusted proxy: the right-most untrusted hop, whatever the client
        // put on the left.
        assert_eq!(
            client_addr(
                &parts("10.1.2.3:5000", &["1.1.1.1, 203.0.113.9", "10.9.9.9"]),
                &trusted
            ),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_addr(
                &parts("[::ffff:192.0.2.7]:5000", &["2001:db8::1"]),
                &trusted
            ),
            ip("2001:db8::1")
        );
        // A trusted proxy without the header: the proxy itself.
        assert_eq!(
            client_addr(&parts("10.1.2.3:5000", &[]), &trusted),
            ip("10.1.2.3")
        );
        // No trusted proxies configured: the peer.
        assert_eq!(
            client_addr(
                &parts("10.1.2.3:5000", &["203.0.113.9"]),
                &TrustedProxies::default()
            ),
            ip("10.1.2.3")
        );
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
        assert!(TrustedProxies::parse("proxy.local").is_err());
        assert!(
            TrustedProxies::parse("::/0")
                .unwrap()
                .contains(ip("2001:db8::5"))
        );
    }
}
