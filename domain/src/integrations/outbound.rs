//! Where outbound calls a tenant can aim (webhook endpoints) may go: one
//! check for every such call, pure and table-tested.
//!
//! An address is public when it is globally reachable unicast. IPv6 forms
//! that carry an IPv4 address (IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible
//! `::a.b.c.d`, IPv4-translated `::ffff:0:a.b.c.d`, 6to4 `2002::/16`, Teredo
//! `2001::/32` and NAT64 `64:ff9b::/96`) are judged by the IPv4 address they
//! reach; anything else outside global unicast `2000::/3` is refused.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Whether `ip` may be connected to on a tenant's behalf.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0 // "this network", 0.0.0.0 included
        || a == 10 // private
        || a == 127 // loopback
        || (a == 100 && (b & 0xc0) == 64) // shared address space (CGNAT), 100.100.100.200 metadata
        || (a == 169 && b == 254) // link-local, 169.254.169.254 metadata
        || (a == 172 && (b & 0xf0) == 16) // private
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments, 192.0.0.192 metadata
        || (a == 192 && b == 0 && c == 2) // TEST-NET-1
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
        || (a == 192 && b == 168) // private
        || (a == 198 && (b & 0xfe) == 18) // benchmarking
        || (a == 198 && b == 51 && c == 100) // TEST-NET-2
        || (a == 203 && b == 0 && c == 113) // TEST-NET-3
        || a >= 224) // multicast, reserved, broadcast
}

/// The IPv4 address an IPv6 address reaches, for the forms that embed one.
pub fn embedded_ipv4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        // IPv4-mapped ::ffff:a.b.c.d
        [0, 0, 0, 0, 0, 0xffff, _, _] => Some(low),
        // IPv4-translated ::ffff:0:a.b.c.d (SIIT)
        [0, 0, 0, 0, 0xffff, 0, _, _] => Some(low),
        // IPv4-compatible ::a.b.c.d (deprecated; :: and ::1 included)
        [0, 0, 0, 0, 0, 0, _, _] => Some(low),
        // NAT64 well-known prefix 64:ff9b::/96
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(low),
        // 6to4 2002:AABB:CCDD::/48
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::new(
            (hi >> 8) as u8,
            hi as u8,
            (lo >> 8) as u8,
            lo as u8,
        )),
        // Teredo 2001:0::/32: the client's address is the last 32 bits, inverted
        [0x2001, 0, ..] => Some(Ipv4Addr::from(!u32::from(low))),
        _ => None,
    }
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    if s == [0; 8] || s == [0, 0, 0, 0, 0, 0, 0, 1] {
        return false; // unspecified, loopback
    }
    if let Some(v4) = embedded_ipv4(ip) {
        return is_public_v4(v4);
    }
    (s[0] & 0xe000) == 0x2000 // global unicast 2000::/3; outside it: fc00::/7 unique local (fd00:ec2::254 metadata), fe80::/10 link-local, fec0::/10 site-local, ff00::/8 multicast, 64:ff9b:1::/48 local NAT64, 100::/64 discard, 5f00::/16 SRv6
        && !(s[0] == 0x2001 && s[1] < 0x0200) // 2001::/23 IETF protocol assignments (Teredo handled above)
        && !(s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        && !(s[0] == 0x3fff && s[1] < 0x1000) // documentation 3fff::/20
}

/// The IPv4 address a WHATWG URL parser (reqwest's, browsers') reads from a
/// host that ends in a number: `127.1`, `0x7f.0.0.1`, `2130706433`, `017700000001`.
/// `None` when the host is a name; `Some(None)` when it ends in a number but
/// is no valid address (URL parsers refuse it).
pub fn whatwg_ipv4(host: &str) -> Option<Option<Ipv4Addr>> {
    let mut parts: Vec<&str> = host.split('.').collect();
    if parts.len() > 1 && parts.last() == Some(&"") {
        parts.pop();
    }
    let last = parts.last()?;
    if last.is_empty() || !(last.bytes().all(|b| b.is_ascii_digit()) || number(last).is_some()) {
        return None;
    }
    if parts.len() > 4 {
        return Some(None);
    }
    let mut nums = Vec::with_capacity(parts.len());
    for p in &parts {
        match number(p) {
            Some(n) => nums.push(n),
            None => return Some(None),
        }
    }
    let (last, init) = nums.split_last()?;
    if init.iter().any(|n| *n > 255) || *last >= 256u64.pow(5 - nums.len() as u32) {
        return Some(None);
    }
    let mut v = *last;
    for (i, n) in init.iter().enumerate() {
        v += n << (8 * (3 - i));
    }
    Some(Some(Ipv4Addr::from(v as u32)))
}

/// One part of a WHATWG IPv4 host: decimal, `0x` hex or `0` octal.
fn number(p: &str) -> Option<u64> {
    if p.is_empty() {
        return None;
    }
    let (digits, radix) = if let Some(h) = p.strip_prefix("0x").or_else(|| p.strip_prefix("0X")) {
        (h, 16)
    } else if p.len() > 1 && p.starts_with('0') {
        (&p[1..], 8)
    } else {
        (p, 10)
    };
    if digits.is_empty() {
        return Some(0);
    }
    if digits.len() > 16 {
        return Some(u64::MAX);
    }
    u64::from_str_radix(digits, radix).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_that_reaches_inside_is_refused() {
        for s in [
            // the forms
            "::127.0.0.1",
            "2002:7f00:1::1",
            // IPv4
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "100.64.0.1",
            "100.100.100.200",
            "100.127.255.255",
            "127.0.0.1",
            "127.255.255.254",
            "169.254.169.254",
            "169.254.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.192",
            "192.0.0.170",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            // IPv6 proper
            "::",
            "::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "fc00::1",
            "fd00::1",
            "fd00:ec2::254",
            "ff02::1",
            "ff0e::1",
            "100::1",
            "2001:db8::1",
            "3fff::1",
            "5f00::1",
            "64:ff9b:1::a00:1",
            "2001:2::1",
            "2001:10::1",
            // IPv4-mapped, -compatible and -translated
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:0.0.0.0",
            "::10.0.0.1",
            "::169.254.169.254",
            "::ffff:0:127.0.0.1",
            "::ffff:0:192.168.0.1",
            // NAT64
            "64:ff9b::127.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            // 6to4
            "2002:7f00:1::",
            "2002:a00:1::1",
            "2002:a9fe:a9fe::1",
            "2002:c0a8:101::1",
            "2002::1",
            // Teredo: client 127.0.0.1 inverted is 80ff:fffe; 10.0.0.1 is f5ff:fffe
            "2001:0:4136:e378:8000:63bf:80ff:fffe",
            "2001::f5ff:fffe",
            "2001:0:4136:e378:8000:63bf:5601:5656",
        ] {
            let ip: IpAddr = s.parse().expect(s);
            assert!(!is_public(ip), "{s} must not be public");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for s in [
            "93.184.216.34",
            "8.8.8.8",
            "1.1.1.1",
            "100.63.255.255",
            "100.128.0.1",
            "172.15.255.255",
            "172.32.0.1",
            "192.0.1.1",
            "198.17.255.255",
            "223.255.255.255",
            "2606:4700:4700::1111",
            "2a00:1450:4001:80b::200e",
            "::ffff:93.184.216.34",
            "64:ff9b::808:808",
            "2002:5db8:d822::1",
            // Teredo whose client is 93.184.216.34 (inverted a247:27dd)
            "2001:0:4136:e378:8000:63bf:a247:27dd",
        ] {
            let ip: IpAddr = s.parse().expect(s);
            assert!(is_public(ip), "{s} must be public");
        }
    }

    #[test]
    fn embedded_ipv4_is_unwrapped() {
        let v6 = |s: &str| s.parse::<Ipv6Addr>().unwrap();
        let v4 = |s: &str| Some(s.parse::<Ipv4Addr>().unwrap());
        assert_eq!(embedded_ipv4(v6("::ffff:1.2.3.4")), v4("1.2.3.4"));
        assert_eq!(embedded_ipv4(v6("::1.2.3.4")), v4("1.2.3.4"));
        assert_eq!(embedded_ipv4(v6("2002:7f00:1::1")), v4("127.0.0.1"));
        assert_eq!(embedded_ipv4(v6("64:ff9b::102:304")), v4("1.2.3.4"));
        assert_eq!(
            embedded_ipv4(v6("2001:0:4136:e378:8000:63bf:80ff:fffe")),
            v4("127.0.0.1")
        );
        assert_eq!(embedded_ipv4(v6("2606:4700::1")), None);
    }

    #[test]
    fn hosts_ending_in_a_number_read_as_url_parsers_read_them() {
        let ip = |s: &str| Some(Some(s.parse::<Ipv4Addr>().unwrap()));
        assert_eq!(whatwg_ipv4("127.1"), ip("127.0.0.1"));
        assert_eq!(whatwg_ipv4("0x7f.0.0.1"), ip("127.0.0.1"));
        assert_eq!(whatwg_ipv4("0x7f.1."), ip("127.0.0.1"));
        assert_eq!(whatwg_ipv4("2130706433"), ip("127.0.0.1"));
        assert_eq!(whatwg_ipv4("017700000001"), ip("127.0.0.1"));
        assert_eq!(whatwg_ipv4("0251.0376.0251.0376"), ip("169.254.169.254"));
        assert_eq!(whatwg_ipv4("10.0.0.1"), ip("10.0.0.1"));
        assert_eq!(whatwg_ipv4("1.2.3.4.5"), Some(None));
        assert_eq!(whatwg_ipv4("256.1.1.1"), Some(None));
        assert_eq!(whatwg_ipv4("hooks.example.com"), None);
        assert_eq!(whatwg_ipv4("1.example.com"), None);
        assert_eq!(whatwg_ipv4("example.0x"), Some(None));
    }
}
