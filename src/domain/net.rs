//! IP addresses and ranges as the app compares them. An IPv4 address that arrives mapped into
//! IPv6 (`::ffff:203.0.113.7`, how a dual-stack `[::]` listener sees every IPv4 peer) is that
//! IPv4 address, wherever it is compared, counted or sent on.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

/// `ip`, with an IPv4-mapped IPv6 address turned back into the IPv4 address it carries.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

/// The caller an address stands for, as limits count it: an IPv4 address, or an IPv6
/// address's /64 (one subscriber's network: whoever holds one can use any of its 2^64
/// addresses). A mapped IPv4 address is the IPv4 address.
pub fn caller_network(ip: IpAddr) -> IpAddr {
    match canonical_ip(ip) {
        IpAddr::V6(v6) => IpAddr::V6(std::net::Ipv6Addr::from(
            u128::from(v6) & !((1u128 << 64) - 1),
        )),
        v4 => v4,
    }
}

/// The network block a caller belongs to, as limits on what a whole block may spend count it:
/// an IPv4 address's /24, or an IPv6 address's /48 (one site's allocation: a tunnel broker
/// hands one out free, and it holds 65 536 /64s, so a /64 alone is no cost to an attacker).
/// A mapped IPv4 address is the IPv4 address.
pub fn caller_block(ip: IpAddr) -> IpAddr {
    match canonical_ip(ip) {
        IpAddr::V6(v6) => IpAddr::V6(std::net::Ipv6Addr::from(
            u128::from(v6) & !((1u128 << 80) - 1),
        )),
        IpAddr::V4(v4) => IpAddr::V4(std::net::Ipv4Addr::from(u32::from(v4) & !0xff)),
    }
}

/// A network (`10.0.0.0/8`, `fd00::/8`) or a single address (a /32 or a /128). Parsed from
/// either form, so lists stored as bare addresses before ranges existed read as before; a
/// range written with host bits (`192.168.1.10/24`) is its network (`192.168.1.0/24`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpRange(IpNet);

/// Why an entry is not an address or a range; carries the entry (cut to 60 characters).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an IP address or a range like 10.0.0.0/8 or fd00::/8")]
pub struct InvalidIpRange(pub String);

impl IpRange {
    pub fn parse(s: &str) -> Result<Self, InvalidIpRange> {
        let s = s.trim();
        let invalid = || InvalidIpRange(s.chars().take(60).collect());
        let net = if s.contains('/') {
            s.parse::<IpNet>().map_err(|_| invalid())?
        } else {
            IpNet::from(s.parse::<IpAddr>().map_err(|_| invalid())?)
        };
        Ok(Self(canonical_net(net).trunc()))
    }

    /// Whether `ip` (mapped or not) is in the range.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.contains(&canonical_ip(ip))
    }
}

/// A range inside `::ffff:0:0/96` is the IPv4 range it maps.
fn canonical_net(net: IpNet) -> IpNet {
    match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
            Some(v4) => ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96)
                .map(IpNet::V4)
                .unwrap_or(net),
            None => net,
        },
        other => other,
    }
}

/// A single address is written bare (as lists were stored before ranges), a range in CIDR.
impl fmt::Display for IpRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.prefix_len() == self.0.max_prefix_len() {
            write!(f, "{}", self.0.addr())
        } else {
            write!(f, "{}", self.0)
        }
    }
}

/// As written by `Display`, the form lists are stored in.
impl serde::Serialize for IpRange {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Whether a visitor at `ip` passes the merchant's allowed IPs: an empty list allows every
/// visitor; a list allows only the addresses it covers (and no visitor of unknown address).
pub fn ip_allowed(ranges: &[IpRange], ip: Option<std::net::IpAddr>) -> bool {
    ranges.is_empty() || ip.is_some_and(|ip| ranges.iter().any(|r| r.contains(ip)))
}

/// Parses a list of addresses and ranges separated by commas, semicolons, spaces or new lines,
/// without repeats. Every entry that is neither is returned, in order, so that all of them can
/// be reported at once.
pub fn parse_ranges(text: &str) -> Result<Vec<IpRange>, Vec<InvalidIpRange>> {
    let mut ranges: Vec<IpRange> = Vec::new();
    let mut invalid = Vec::new();
    for entry in text
        .split([',', ';', ' ', '\n', '\r', '\t'])
        .filter(|e| !e.is_empty())
    {
        match IpRange::parse(entry) {
            Ok(r) if !ranges.contains(&r) => ranges.push(r),
            Ok(_) => {}
            Err(e) => invalid.push(e),
        }
    }
    if invalid.is_empty() {
        Ok(ranges)
    } else {
        Err(invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_bare_address_is_a_single_address_range_written_bare() {
        let r = IpRange::parse("203.0.113.7").unwrap();
        assert!(r.contains(ip("203.0.113.7")));
        assert!(!r.contains(ip("203.0.113.8")));
        assert_eq!(r.to_string(), "203.0.113.7");
        assert_eq!(
            IpRange::parse("2001:db8::1").unwrap().to_string(),
            "2001:db8::1"
        );
        assert_eq!(
            IpRange::parse("203.0.113.7/32").unwrap().to_string(),
            "203.0.113.7"
        );
    }

    #[test]
    fn ranges_of_both_families_contain_their_addresses() {
        let ten = IpRange::parse("10.0.0.0/8").unwrap();
        assert!(ten.contains(ip("10.255.1.2")));
        assert!(!ten.contains(ip("11.0.0.1")));
        let ula = IpRange::parse("fd00::/8").unwrap();
        assert!(ula.contains(ip("fd12:3456::1")));
        assert!(!ula.contains(ip("fe80::1")));
        assert_eq!(ula.to_string(), "fd00::/8");
        // Host bits are dropped: the network is meant.
        assert_eq!(
            IpRange::parse("192.168.1.10/24").unwrap().to_string(),
            "192.168.1.0/24"
        );
    }

    /// A `[::]` listener sees an IPv4 peer as `::ffff:a.b.c.d`: it matches IPv4 entries, and a
    /// mapped entry matches the IPv4 address.
    #[test]
    fn ipv4_mapped_addresses_are_their_ipv4_address() {
        let lo = IpRange::parse("127.0.0.0/8").unwrap();
        assert!(lo.contains(ip("::ffff:127.0.0.1")));
        assert!(
            IpRange::parse("127.0.0.1")
                .unwrap()
                .contains(ip("::ffff:127.0.0.1"))
        );
        let mapped = IpRange::parse("::ffff:10.0.0.0/104").unwrap();
        assert_eq!(mapped.to_string(), "10.0.0.0/8");
        assert!(mapped.contains(ip("10.1.2.3")));
        assert_eq!(
            IpRange::parse("::ffff:1.2.3.4").unwrap().to_string(),
            "1.2.3.4"
        );
        assert_eq!(canonical_ip(ip("::ffff:1.2.3.4")), ip("1.2.3.4"));
        assert_eq!(canonical_ip(ip("2001:db8::1")), ip("2001:db8::1"));
    }

    /// B10: whoever holds an IPv6 /64 holds 2^64 addresses; they count as one.
    #[test]
    fn an_ipv6_network_is_limited_as_one_address() {
        let n = |s: &str| caller_network(s.parse().unwrap()).to_string();
        assert_eq!(n("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::");
        assert_eq!(n("2001:db8:1:2:ffff:1:2:3"), "2001:db8:1:2::");
        assert_ne!(n("2001:db8:1:3::1"), "2001:db8:1:2::");
        assert_eq!(n("::ffff:203.0.113.7"), "203.0.113.7");
        assert_eq!(n("203.0.113.7"), "203.0.113.7");
    }

    /// Issue 31 (1.3): the /64s of one /48, and the addresses of one /24, are one block.
    #[test]
    fn a_block_is_an_ipv6_48_or_an_ipv4_24() {
        let b = |s: &str| caller_block(s.parse().unwrap()).to_string();
        assert_eq!(b("2001:db8:0:c7::1"), "2001:db8::");
        assert_eq!(b("2001:db8:0:ffff:1::"), "2001:db8::");
        assert_eq!(b("2001:db8:1:0::1"), "2001:db8:1::");
        assert_eq!(b("203.0.113.7"), "203.0.113.0");
        assert_eq!(b("::ffff:203.0.113.200"), "203.0.113.0");
        assert_ne!(b("203.0.114.7"), "203.0.113.0");
    }

    #[test]
    fn a_list_reports_every_bad_entry_at_once() {
        let ok = parse_ranges("1.2.3.4, 2001:db8::/32\n10.0.0.0/8;1.2.3.4  fd00::/8").unwrap();
        let shown: Vec<String> = ok.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            ["1.2.3.4", "2001:db8::/32", "10.0.0.0/8", "fd00::/8"]
        );
        assert!(parse_ranges("").unwrap().is_empty());
        let bad =
            parse_ranges("1.2.3.4\n300.1.1.1\nfoo, 10.0.0.0/33 ::1/129 2001:db8::1").unwrap_err();
        let named: Vec<&str> = bad.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(named, ["300.1.1.1", "foo", "10.0.0.0/33", "::1/129"]);
        assert!(parse_ranges("10.0.0.0/").is_err());
        assert!(parse_ranges("/8").is_err());
    }
}
