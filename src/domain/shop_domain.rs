//! Shop domains and the URLs that may point at them. A product URL (and, later, a link
//! destination) must be http(s) on one of the merchant's domains: the host equals the
//! domain or is a subdomain of it, never merely ends with the same letters.

use url::{Host, Url};

/// Normalises what a merchant types as a domain: `Shop.Example.com`, `https://shop.example.com/`
/// -> `shop.example.com`. IDNs become punycode (so look-alikes are visible as `xn--`).
pub fn parse_domain(input: &str) -> Result<String, String> {
    let s = input.trim().trim_end_matches('/');
    let bad = || "Enter a domain such as shop.example.com.".to_owned();
    if s.is_empty() || s.len() > 253 {
        return Err(bad());
    }
    let with_scheme = if s.contains("://") {
        s.to_owned()
    } else {
        format!("https://{s}")
    };
    let url = Url::parse(&with_scheme).map_err(|_| bad())?;
    if !matches!(url.scheme(), "http" | "https")
        || !url.username().is_empty()
        || url.password().is_some()
        || url.port().is_some()
        || url.path() != "/"
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err(bad());
    }
    match url.host() {
        Some(Host::Domain(d)) if d.contains('.') && !d.ends_with('.') && !d.starts_with('.') => {
            Ok(d.to_ascii_lowercase())
        }
        Some(Host::Ipv4(_) | Host::Ipv6(_)) => {
            Err("Use a domain name, not an IP address.".to_owned())
        }
        _ => Err(bad()),
    }
}

/// True when `host` is `domain` or one of its subdomains.
pub fn host_on_domain(host: &str, domain: &str) -> bool {
    host == domain
        || host
            .strip_suffix(domain)
            .is_some_and(|rest| rest.ends_with('.'))
}

/// Checks that `input` is an absolute http(s) URL whose host is on one of `domains`
/// (already normalised). Returns the URL as stored.
pub fn url_on_domains(input: &str, domains: &[String]) -> Result<String, String> {
    let s = input.trim();
    if s.is_empty() {
        return Err("Enter the product's web address.".to_owned());
    }
    if s.len() > 2000 {
        return Err("That address is too long.".to_owned());
    }
    if s.contains('\\') || s.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("The address contains characters a URL cannot have.".to_owned());
    }
    let lower = s.to_ascii_lowercase();
    if !(lower.starts_with("https://") || lower.starts_with("http://")) {
        return Err("Use a full address starting with https:// or http://.".to_owned());
    }
    let url = Url::parse(s).map_err(|_| "That is not a valid web address.".to_owned())?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("An address with a user name or password is not allowed.".to_owned());
    }
    let Some(Host::Domain(host)) = url.host() else {
        return Err("The address must use your shop's domain name.".to_owned());
    };
    let host = host.to_ascii_lowercase();
    if domains.is_empty() {
        return Err(
            "Add your shop's domain first (Shop domains), then use addresses on it.".to_owned(),
        );
    }
    if domains.iter().any(|d| host_on_domain(&host, d)) {
        Ok(url.to_string())
    } else {
        Err(format!(
            "{host} is not one of your shop domains ({}).",
            domains.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shop() -> Vec<String> {
        vec!["shop.example".to_owned()]
    }

    #[test]
    fn domains_are_normalised() {
        assert_eq!(parse_domain("Shop.Example").unwrap(), "shop.example");
        assert_eq!(
            parse_domain("https://shop.example/").unwrap(),
            "shop.example"
        );
        assert_eq!(
            parse_domain("bücher.example").unwrap(),
            "xn--bcher-kva.example"
        );
        for bad in [
            "",
            "localhost",
            "shop.example/path",
            "1.2.3.4",
            "user@shop.example",
            "shop.example:8080",
            "ftp://shop.example",
            ".example",
        ] {
            assert!(parse_domain(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn urls_must_be_on_the_domains() {
        assert!(url_on_domains("https://shop.example/p/1?x=1", &shop()).is_ok());
        assert!(url_on_domains("https://www.shop.example/p/1", &shop()).is_ok());
        assert!(url_on_domains("HTTP://SHOP.EXAMPLE/", &shop()).is_ok());
        for bad in [
            "javascript:alert(1)",
            "//evil.example",
            "https://shop.example@evil.example/",
            "https:evil.example",
            "https://evil.example\\@shop.example",
            "https://evilshop.example/",
            "https://shop.example.evil.example/",
            "https://shоp.example/",
            "https://127.0.0.1/",
            "data:text/html,hi",
            "https://shop.example /x",
        ] {
            assert!(url_on_domains(bad, &shop()).is_err(), "{bad:?} accepted");
        }
        assert!(url_on_domains("https://shop.example/", &[]).is_err());
    }
}
