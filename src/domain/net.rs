//! The client's address behind reverse proxies (issue 19): `X-Forwarded-For` and
//! `Forwarded` are believed only from peers in `TANDEM_TRUSTED_PROXIES`; from anyone else
//! they are ignored, so nobody can pick the address their login failures or clicks count
//! against.

use std::net::IpAddr;

/// An address block such as `10.0.0.0/8` or `::1/128` (a bare address is one address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("\"{s}\" is not an address block like 10.0.0.0/8"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("\"{s}\": the prefix length must be 0 to {max}"))?,
            None => max,
        };
        Ok(Cidr { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        // An IPv4 peer may show as an IPv4-mapped IPv6 address.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// Parses `TANDEM_TRUSTED_PROXIES`: blocks separated by commas or spaces.
pub fn parse_list(s: &str) -> Result<Vec<Cidr>, String> {
    s.split([',', ' '])
        .filter(|p| !p.trim().is_empty())
        .map(Cidr::parse)
        .collect()
}

/// One `for=` address of a `Forwarded` element, or an `X-Forwarded-For` entry.
fn address(raw: &str) -> Option<IpAddr> {
    let v = raw.trim().trim_matches('"');
    if let Some(rest) = v.strip_prefix('[') {
        // "[2001:db8::1]:4711"
        return rest.split(']').next()?.parse().ok();
    }
    v.parse().ok().or_else(|| {
        // "192.0.2.60:4711"
        let (host, _) = v.rsplit_once(':')?;
        host.parse().ok()
    })
}

/// The client's address: the peer's, unless the peer is a trusted proxy; then the nearest
/// address in the forwarding chain (right to left) that is not itself a trusted proxy. An
/// entry that cannot be read ends the walk at the proxy that added it.
pub fn client_ip(
    peer: Option<IpAddr>,
    x_forwarded_for: Option<&str>,
    forwarded: Option<&str>,
    trusted: &[Cidr],
) -> Option<IpAddr> {
    let peer = peer?;
    if trusted.is_empty() || !trusted.iter().any(|c| c.contains(peer)) {
        return Some(peer);
    }
    let chain: Vec<Option<IpAddr>> = match (x_forwarded_for, forwarded) {
        (Some(xff), _) => xff.split(',').map(address).collect(),
        (None, Some(fwd)) => fwd
            .split(',')
            .filter_map(|element| {
                element.split(';').find_map(|pair| {
                    let (k, v) = pair.split_once('=')?;
                    k.trim().eq_ignore_ascii_case("for").then(|| address(v))
                })
            })
            .collect(),
        (None, None) => return Some(peer),
    };
    let mut client = peer;
    for hop in chain.iter().rev() {
        match hop {
            Some(ip) => {
                client = *ip;
                if !trusted.iter().any(|c| c.contains(*ip)) {
                    break;
                }
            }
            None => break,
        }
    }
    Some(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn blocks_parse_and_contain() {
        let list = parse_list("10.0.0.0/8, 127.0.0.1 ::1/128,fd00::/8").unwrap();
        assert_eq!(list.len(), 4);
        assert!(list[0].contains(ip("10.200.3.4")));
        assert!(!list[0].contains(ip("11.0.0.1")));
        assert!(list[1].contains(ip("127.0.0.1")));
        assert!(list[1].contains(ip("::ffff:127.0.0.1")));
        assert!(list[3].contains(ip("fd12::1")));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("proxy.local").is_err());
        assert!(parse_list("").unwrap().is_empty());
    }

    #[test]
    fn forwarded_addresses_are_believed_only_from_trusted_proxies() {
        let trusted = parse_list("10.0.0.0/8").unwrap();
        let peer = Some(ip("10.0.0.5"));
        // From a trusted proxy: the nearest untrusted hop.
        assert_eq!(
            client_ip(peer, Some("203.0.113.9, 10.0.0.7"), None, &trusted),
            Some(ip("203.0.113.9"))
        );
        // A client that sends its own X-Forwarded-For cannot pick its address: the proxy
        // appends the real one, which is nearer.
        assert_eq!(
            client_ip(peer, Some("1.2.3.4, 198.51.100.2"), None, &trusted),
            Some(ip("198.51.100.2"))
        );
        assert_eq!(
            client_ip(
                peer,
                None,
                Some("for=\"[2001:db8::1]:4711\";proto=https"),
                &trusted
            ),
            Some(ip("2001:db8::1"))
        );
        assert_eq!(
            client_ip(
                peer,
                None,
                Some("for=192.0.2.60;proto=http, for=10.0.0.9"),
                &trusted
            ),
            Some(ip("192.0.2.60"))
        );
        assert_eq!(
            client_ip(peer, Some("garbage"), None, &trusted),
            Some(ip("10.0.0.5"))
        );
        // From anyone else, or with no proxies trusted: the peer.
        assert_eq!(
            client_ip(Some(ip("198.51.100.7")), Some("1.2.3.4"), None, &trusted),
            Some(ip("198.51.100.7"))
        );
        assert_eq!(
            client_ip(peer, Some("1.2.3.4"), None, &[]),
            Some(ip("10.0.0.5"))
        );
    }
}
