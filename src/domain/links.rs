//! Stream links and clicks: codes, click ids, the `tclid` parameter, bot detection and the
//! salted hashes that stand in for raw IP addresses and user agents.

use base64::Engine;
use rand::{Rng, RngCore};
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

/// A new click id: 128 random bits, URL-safe base64 (22 characters), unguessable.
pub fn new_click_id() -> String {
    let mut raw = [0u8; 16];
    rand::rng().fill_bytes(&mut raw);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

/// The destination with `tclid=<click id>` added; its other query parameters are kept, and a
/// `tclid` already there is replaced.
pub fn with_tclid(destination: &str, click_id: &str) -> String {
    match tclid_base(destination) {
        Some(base) => add_tclid(&base, click_id),
        None => destination.to_owned(),
    }
}

/// The destination parsed once, without any `tclid` of its own: what [`add_tclid`] needs on
/// every click (the redirect caches it).
pub fn tclid_base(destination: &str) -> Option<url::Url> {
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
    Some(u)
}

/// `base` with `tclid=<click id>` appended.
pub fn add_tclid(base: &url::Url, click_id: &str) -> String {
    let mut u = base.clone();
    u.query_pairs_mut().append_pair("tclid", click_id);
    u.to_string()
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

/// A salted SHA-256 of a value (IP address or user agent), hex, truncated to 32 characters.
pub fn salted_hash(salt: &[u8], value: &str) -> String {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(value.as_bytes());
    hex::encode(&h.finalize()[..16])
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
        let a = new_click_id();
        assert_eq!(a.len(), 22);
        assert_ne!(a, new_click_id());
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
        assert_eq!(
            referrer_host("https://www.Douyin.com/video/123?x=1").as_deref(),
            Some("www.douyin.com")
        );
        assert_eq!(referrer_host("garbage"), None);
    }
}
