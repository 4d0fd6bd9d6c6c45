//! Stream links and clicks: codes, click ids, the `tclid` parameter, bot detection and the
//! salted hashes that stand in for raw IP addresses and user agents.

use rand::Rng;
use sha2::{Digest, Sha256};

const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
pub const CODE_LEN: usize = 10;

/// A new random link code: 10 URL-safe characters (about 58 bits).
pub fn new_code() -> String {
    let mut rng = rand::rng();
    (0..CODE_LEN)
        .map(|_| char::from(CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())]))
        .collect()
}

/// Whether a path segment can be a link code at all (cheap check before any lookup).
pub fn plausible_code(s: &str) -> bool {
    (8..=32).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Digits and lower-case letters: the same order in every collation, byte order included.
const CLICK_ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
/// A click id: the click's row id in 10 base-36 digits, then 16 random characters.
pub const CLICK_ID_LEN: usize = 26;
/// Row ids that fit the 10 base-36 digits of a click id (36^10).
const CLICK_ROW_LIMIT: i64 = 3_656_158_440_062_976;

/// The click id for the click stored as row `row_id`: the row id in 10 base-36 digits, then
/// 16 random base-36 characters (about 82 bits, unguessable). The row id in front makes a
/// lookup by click id a primary-key seek, so clicks need no index of their own on it: one
/// B-tree less to grow on the hottest insert. The random part is what makes an id valid.
pub fn click_id_for(row_id: i64) -> String {
    let mut out = vec![b'0'; CLICK_ID_LEN];
    // Beyond 36^10 rows (never reached) the id would name another row, whose random part
    // would not match: such a click could not be found, never mistaken for another.
    let mut n = u64::try_from(row_id.rem_euclid(CLICK_ROW_LIMIT)).unwrap_or(0);
    for slot in out[..10].iter_mut().rev() {
        *slot = CLICK_ALPHABET[usize::try_from(n % 36).unwrap_or(0)];
        n /= 36;
    }
    // Eight characters from each of two random 64-bit numbers: 36^8 < 2^42, so their
    // remainders are uniform to within 2^-22 (and 64-bit division is cheap, 128-bit is not).
    let mut rng = rand::rng();
    for half in out[10..].chunks_mut(8) {
        let mut r: u64 = rng.random();
        for slot in half {
            *slot = CLICK_ALPHABET[usize::try_from(r % 36).unwrap_or(0)];
            r /= 36;
        }
    }
    String::from_utf8(out).unwrap_or_default()
}

/// The row id a click id names, if it can be a click id at all. (Only a stored click with
/// this exact id is a click: the caller compares the whole id.)
pub fn click_row_id(click_id: &str) -> Option<i64> {
    if !plausible_click_id(click_id) {
        return None;
    }
    click_id[..10].bytes().try_fold(0_i64, |n, b| {
        let digit = CLICK_ALPHABET.iter().position(|&a| a == b)?;
        Some(n * 36 + i64::try_from(digit).ok()?)
    })
}

/// Whether a `tclid` value can be a click id at all (cheap check before any lookup).
pub fn plausible_click_id(s: &str) -> bool {
    s.len() == CLICK_ID_LEN && s.bytes().all(|b| CLICK_ALPHABET.contains(&b))
}

/// The destination with `tclid=<click id>` added; its other query parameters are kept, and a
/// `tclid` already there is replaced.
pub fn with_tclid(destination: &str, click_id: &str) -> String {
    match TclidTemplate::new(destination) {
        Some(t) => t.with(click_id),
        None => destination.to_owned(),
    }
}

/// A destination prepared once for many clicks: the text before the `tclid` value (the URL
/// without any `tclid` of its own, then `?tclid=` or `&tclid=`) and the text after it (the
/// fragment, if any). The redirect caches it, so a click only joins three strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TclidTemplate {
    head: String,
    tail: String,
}

impl TclidTemplate {
    /// `None` when the destination is not a URL (it is then used as stored).
    pub fn new(destination: &str) -> Option<TclidTemplate> {
        let mut u = url::Url::parse(destination).ok()?;
        let kept: Vec<(String, String)> = u
            .query_pairs()
            .filter(|(k, _)| k != "tclid")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if kept.is_empty() {
            u.set_query(None);
        } else {
            let mut q = u.query_pairs_mut();
            q.clear();
            for (k, v) in &kept {
                q.append_pair(k, v);
            }
        }
        let tail = u.fragment().map(|f| format!("#{f}")).unwrap_or_default();
        u.set_fragment(None);
        let sep = if u.query().is_some() { '&' } else { '?' };
        Some(TclidTemplate {
            head: format!("{u}{sep}tclid="),
            tail,
        })
    }

    /// The destination with this click id.
    pub fn with(&self, click_id: &str) -> String {
        let mut out = String::with_capacity(self.head.len() + click_id.len() + self.tail.len());
        out.push_str(&self.head);
        // Click ids are letters and digits, which need no encoding.
        if click_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            out.push_str(click_id);
        } else {
            out.extend(url::form_urlencoded::byte_serialize(click_id.as_bytes()));
        }
        out.push_str(&self.tail);
        out
    }
}

/// Known automated agents (crawlers, link previewers, HTTP libraries); an empty agent counts
/// as a bot too.
pub fn is_bot(user_agent: &str) -> bool {
    let ua = user_agent.to_ascii_lowercase();
    if ua.trim().is_empty() {
        return true;
    }
    const MARKERS: &[&str] = &[
        "bot",
        "crawler",
        "spider",
        "slurp",
        "curl/",
        "wget/",
        "python-requests",
        "python-urllib",
        "go-http-client",
        "java/",
        "okhttp",
        "headlesschrome",
        "phantomjs",
        "facebookexternalhit",
        "whatsapp",
        "telegram",
        "slackbot",
        "discordbot",
        "preview",
        "httpclient",
        "libwww",
        "scrapy",
        "axios/",
        "node-fetch",
        "wrk",
    ];
    MARKERS.iter().any(|m| ua.contains(m))
}

/// A visitor's key on a link: 64 bits of the salted IP and user-agent hashes (FNV-1a), which
/// the repeat check seeks in a small index instead of both long hashes. Two visitors may
/// share a key (about one chance in 2^64 per pair); the check then compares the hashes.
pub fn visitor_key(ip_hash: &str, ua_hash: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in ip_hash.bytes().chain([0]).chain(ua_hash.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    i64::from_ne_bytes(h.to_ne_bytes())
}

/// A salted SHA-256 of a value (IP address or user agent), hex, truncated to 32 characters.
pub fn salted_hash(salt: &[u8], value: &str) -> String {
    salted_hash_of(salt, value)
}

/// [`salted_hash`] of a value's text, hashed as it is written out (no string made for it;
/// for the client's IP address on every click).
pub fn salted_hash_of(salt: &[u8], value: impl std::fmt::Display) -> String {
    struct Feed(Sha256);
    impl std::fmt::Write for Feed {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            self.0.update(s.as_bytes());
            Ok(())
        }
    }
    let mut feed = Feed(Sha256::new());
    feed.0.update(salt);
    // Writing into a hash cannot fail.
    let _ = std::fmt::Write::write_fmt(&mut feed, format_args!("{value}"));
    let digest = feed.0.finalize();
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(32);
    for &b in &digest[..16] {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 15)]));
    }
    out
}

/// The host of a Referer header, lower-cased; nothing else of it is kept.
pub fn referrer_host(header: &str) -> Option<String> {
    url::Url::parse(header.trim())
        .ok()?
        .host_str()
        .map(|h| h.to_ascii_lowercase())
        .filter(|h| h.len() <= 253)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_ids() {
        let c = new_code();
        assert_eq!(c.len(), CODE_LEN);
        assert!(plausible_code(&c));
        assert!(!plausible_code("short"));
        assert!(!plausible_code("../../etc/passwd"));
        let a = click_id_for(42);
        assert_eq!(a.len(), CLICK_ID_LEN);
        assert!(plausible_click_id(&a));
        assert!(!plausible_click_id("0123456789ABCDEFGHIJKLMNOP"));
        assert_ne!(a, click_id_for(42), "the random part differs");
        assert_eq!(&a[..10], "0000000016");
        assert_eq!(&click_id_for(35)[..10], "000000000z");
        // The row id comes back out of the id, for any row id that fits.
        for row in [1, 35, 36, 1_000_000, 987_654_321_012, CLICK_ROW_LIMIT - 1] {
            assert_eq!(click_row_id(&click_id_for(row)), Some(row), "row {row}");
        }
        assert_eq!(click_row_id("short"), None);
        // Visitor keys: the same pair gives the same key; the order of the two matters.
        assert_eq!(visitor_key("ab", "cd"), visitor_key("ab", "cd"));
        assert_ne!(visitor_key("ab", "cd"), visitor_key("cd", "ab"));
        assert_ne!(visitor_key("abc", "d"), visitor_key("ab", "cd"));
        assert_eq!(click_row_id("0123456789ABCDEFGHIJKLMNOP"), None);
    }

    #[test]
    fn tclid_is_added_and_query_kept() {
        assert_eq!(
            with_tclid("https://shop.example/p/1", "abc"),
            "https://shop.example/p/1?tclid=abc"
        );
        assert_eq!(
            with_tclid("https://shop.example/p/1?color=red&size=m", "abc"),
            "https://shop.example/p/1?color=red&size=m&tclid=abc"
        );
        assert_eq!(
            with_tclid("https://shop.example/p/1?tclid=forged&x=1", "abc"),
            "https://shop.example/p/1?x=1&tclid=abc"
        );
        assert_eq!(
            with_tclid("https://shop.example/p/1#reviews", "abc"),
            "https://shop.example/p/1?tclid=abc#reviews"
        );
        assert_eq!(
            with_tclid("https://shop.example/p/1?tclid=old#f", "abc"),
            "https://shop.example/p/1?tclid=abc#f"
        );
        assert_eq!(
            with_tclid("https://shop.example/p/1?", "abc"),
            "https://shop.example/p/1?tclid=abc"
        );
        let t = TclidTemplate::new("https://shop.example/p/1?color=red#top").unwrap();
        assert_eq!(
            t.with("x y"),
            "https://shop.example/p/1?color=red&tclid=x+y#top"
        );
        assert_eq!(TclidTemplate::new("not a url"), None);
    }

    #[test]
    fn bots() {
        assert!(is_bot("Googlebot/2.1 (+http://www.google.com/bot.html)"));
        assert!(is_bot("curl/8.5.0"));
        assert!(is_bot(""));
        assert!(is_bot("facebookexternalhit/1.1"));
        assert!(!is_bot(
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 aweme_28.0"
        ));
    }

    #[test]
    fn hashes_and_referrers() {
        assert_eq!(salted_hash(b"s", "1.2.3.4"), salted_hash(b"s", "1.2.3.4"));
        assert_ne!(salted_hash(b"s", "1.2.3.4"), salted_hash(b"t", "1.2.3.4"));
        assert_eq!(salted_hash(b"s", "x").len(), 32);
        // The same as hex of the first half of SHA-256(salt + value), whatever is hashed.
        let mut h = Sha256::new();
        h.update(b"s1.2.3.4");
        assert_eq!(
            salted_hash(b"s", "1.2.3.4"),
            hex::encode(&h.finalize()[..16])
        );
        let ip: std::net::IpAddr = "1.2.3.4".parse().expect("an address");
        assert_eq!(salted_hash_of(b"s", ip), salted_hash(b"s", "1.2.3.4"));
        let v6: std::net::IpAddr = "2001:db8::1".parse().expect("an address");
        assert_eq!(salted_hash_of(b"s", v6), salted_hash(b"s", "2001:db8::1"));
        assert_eq!(
            referrer_host("https://www.Douyin.com/video/123?x=1").as_deref(),
            Some("www.douyin.com")
        );
        assert_eq!(referrer_host("garbage"), None);
    }
}
