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

/// Which forwarding header gives the client's address (`TANDEM_CLIENT_IP_HEADER`): the one
/// the trusted proxy sets. Only that one is read: a client may send the other kind, and a
/// proxy that does not know it passes it on untouched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ForwardingHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` (nginx, HAProxy, most load balancers).
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client;proto=https, for="[2001:db8::1]:4711"`.
    Forwarded,
}

impl ForwardingHeader {
    pub fn parse(s: &str) -> Result<ForwardingHeader, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "x-forwarded-for" => Ok(ForwardingHeader::XForwardedFor),
            "forwarded" => Ok(ForwardingHeader::Forwarded),
            other => Err(format!(
                "\"{other}\" is neither x-forwarded-for nor forwarded"
            )),
        }
    }

    /// The header's name, as HTTP spells it in lower case.
    pub fn name(self) -> &'static str {
        match self {
            ForwardingHeader::XForwardedFor => "x-forwarded-for",
            ForwardingHeader::Forwarded => "forwarded",
        }
    }
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

/// Splits `s` at each of `seps` outside a quoted string (`"..."`, with `\` escapes), as
/// RFC 7239 lists and parameters are written.
fn split_unquoted<'a>(s: &'a str, seps: &[char]) -> Vec<&'a str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if quoted && c == '\\' {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if !quoted && seps.contains(&c) {
            parts.push(&s[start..i]);
            start = i + c.len_utf8();
        }
    }
    parts.push(&s[start..]);
    parts
}

/// The forwarding chain of the header's lines, joined in order (a proxy may append a line
/// of its own instead of extending the last: HAProxy's `option forwardfor` does), nearest
/// proxy last. `None` for an entry that cannot be read (`unknown`, an obfuscated name, a
/// `Forwarded` element without `for=`). Empty list entries are skipped.
fn chain(header: ForwardingHeader, lines: &[&str]) -> Vec<Option<IpAddr>> {
    let elements = lines
        .iter()
        .flat_map(|line| split_unquoted(line, &[',']))
        .filter(|e| !e.trim().is_empty());
    match header {
        ForwardingHeader::XForwardedFor => elements.map(address).collect(),
        ForwardingHeader::Forwarded => elements
            .map(|element| {
                split_unquoted(element, &[';'])
                    .into_iter()
                    .find_map(|pair| {
                        let (k, v) = pair.split_once('=')?;
                        k.trim().eq_ignore_ascii_case("for").then(|| address(v))
                    })?
            })
            .collect(),
    }
}

/// The client's address: the peer's, unless the peer is a trusted proxy; then, walking the
/// forwarding chain of `lines` (every line of the configured header, in order) from the
/// right, the first address that is not itself a trusted proxy. Whatever a client wrote
/// into the header itself is left of what the proxies added, so it is never reached while
/// a proxy added an address. An entry that cannot be read ends the walk at the proxy that
/// added it.
pub fn client_ip(
    peer: Option<IpAddr>,
    header: ForwardingHeader,
    lines: &[&str],
    trusted: &[Cidr],
) -> Option<IpAddr> {
    let peer = peer?;
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if !is_trusted(peer) {
        return Some(peer);
    }
    let mut client = peer;
    for hop in chain(header, lines).into_iter().rev() {
        match hop {
            Some(ip) => {
                client = ip;
                if !is_trusted(ip) {
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

    const XFF: ForwardingHeader = ForwardingHeader::XForwardedFor;
    const FWD: ForwardingHeader = ForwardingHeader::Forwarded;

    #[test]
    fn forwarded_addresses_are_believed_only_from_trusted_proxies() {
        let trusted = parse_list("10.0.0.0/8").unwrap();
        let peer = Some(ip("10.0.0.5"));
        // From a trusted proxy: the nearest untrusted hop.
        assert_eq!(
            client_ip(peer, XFF, &["203.0.113.9, 10.0.0.7"], &trusted),
            Some(ip("203.0.113.9"))
        );
        // A client that sends its own X-Forwarded-For cannot pick its address: the proxy
        // appends the real one, which is nearer.
        assert_eq!(
            client_ip(peer, XFF, &["1.2.3.4, 198.51.100.2"], &trusted),
            Some(ip("198.51.100.2"))
        );
        assert_eq!(
            client_ip(
                peer,
                FWD,
                &["for=\"[2001:db8::1]:4711\";proto=https"],
                &trusted
            ),
            Some(ip("2001:db8::1"))
        );
        assert_eq!(
            client_ip(
                peer,
                FWD,
                &["for=192.0.2.60;proto=http, for=10.0.0.9"],
                &trusted
            ),
            Some(ip("192.0.2.60"))
        );
        assert_eq!(
            client_ip(peer, XFF, &["garbage"], &trusted),
            Some(ip("10.0.0.5"))
        );
        // From anyone else, or with no proxies trusted: the peer.
        assert_eq!(
            client_ip(Some(ip("198.51.100.7")), XFF, &["1.2.3.4"], &trusted),
            Some(ip("198.51.100.7"))
        );
        assert_eq!(
            client_ip(peer, XFF, &["1.2.3.4"], &[]),
            Some(ip("10.0.0.5"))
        );
        // No header of the kind: the proxy's own address.
        assert_eq!(client_ip(peer, XFF, &[], &trusted), Some(ip("10.0.0.5")));
    }

    #[test]
    fn every_line_of_the_header_counts_in_order() {
        let trusted = parse_list("10.0.0.0/8").unwrap();
        let peer = Some(ip("10.0.0.5"));
        // HAProxy appends its own line after the client's: the client's first line (its
        // pick) is left of the real address, and only the real one is taken.
        assert_eq!(
            client_ip(peer, XFF, &["6.6.6.6", "198.51.100.23"], &trusted),
            Some(ip("198.51.100.23"))
        );
        assert_eq!(
            client_ip(
                peer,
                XFF,
                &["6.6.6.6, 7.7.7.7", "198.51.100.23, 10.0.0.8"],
                &trusted
            ),
            Some(ip("198.51.100.23"))
        );
        // Two proxies, each adding a line; empty entries are nothing.
        assert_eq!(
            client_ip(peer, XFF, &["203.0.113.1,", "", " 10.0.0.9 "], &trusted),
            Some(ip("203.0.113.1"))
        );
        assert_eq!(
            client_ip(
                peer,
                FWD,
                &["for=6.6.6.6", "for=\"198.51.100.23:4711\";by=10.0.0.5"],
                &trusted
            ),
            Some(ip("198.51.100.23"))
        );
    }

    #[test]
    fn only_the_configured_header_is_read() {
        let trusted = parse_list("10.0.0.0/8").unwrap();
        let peer = Some(ip("10.0.0.5"));
        // The proxy sets Forwarded; a client's X-Forwarded-For is not even looked at (the
        // caller passes only the configured header's lines), and Forwarded's forms read.
        for (line, want) in [
            ("for=\"[2001:db8::1]:4711\"", "2001:db8::1"),
            ("For=\"[2001:db8::1]\"", "2001:db8::1"),
            ("for=192.0.2.43", "192.0.2.43"),
            ("for=\"192.0.2.43:80\"", "192.0.2.43"),
            ("proto=https;for=192.0.2.43;by=10.0.0.5", "192.0.2.43"),
            ("for=192.0.2.43;ext=\"a,b;c\"", "192.0.2.43"),
            (
                "for=198.51.100.1, for=\"[2001:db8:cafe::17]:4711\"",
                "2001:db8:cafe::17",
            ),
        ] {
            assert_eq!(
                client_ip(peer, FWD, &[line], &trusted),
                Some(ip(want)),
                "{line}"
            );
        }
        // An element the proxy could not name ends the walk at that proxy.
        assert_eq!(
            client_ip(peer, FWD, &["for=203.0.113.4, for=unknown"], &trusted),
            Some(ip("10.0.0.5"))
        );
        assert_eq!(
            client_ip(peer, FWD, &["for=203.0.113.4, proto=https"], &trusted),
            Some(ip("10.0.0.5"))
        );
        assert_eq!(ForwardingHeader::parse(" Forwarded ").unwrap(), FWD);
        assert_eq!(ForwardingHeader::parse("X-Forwarded-For").unwrap(), XFF);
        assert!(ForwardingHeader::parse("x-real-ip").is_err());
    }
}
