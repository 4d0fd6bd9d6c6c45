//! The web portal: routes per role, extractors, CSRF, askama pages. No SQL and no business
//! rules here: handlers parse, call a service inside `AppState::db`, and render.

pub mod account;
pub mod accounts;
pub mod auth;
pub mod billing;
pub mod campaigns;
pub mod catalog;
pub mod charts;
pub mod dashboards;
pub mod error_pages;
pub mod extract;
pub mod influencer;
pub mod links;
pub mod live;
pub mod marketplace;
pub mod merchant;
pub mod middleware;
pub mod order_lists;
pub mod orders;
pub mod pages;
pub mod payouts;
pub mod public;
pub mod redirect;
pub mod session;
pub mod statements;

use actix_web::web;

/// Registers every web route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    public::routes(cfg);
    redirect::routes(cfg);
    auth::routes(cfg);
    account::routes(cfg);
    merchant::routes(cfg);
    catalog::routes(cfg);
    campaigns::routes(cfg);
    influencer::routes(cfg);
    marketplace::routes(cfg);
    links::routes(cfg);
    live::routes(cfg);
    accounts::routes(cfg);
    order_lists::routes(cfg);
    orders::routes(cfg);
    payouts::routes(cfg);
    billing::routes(cfg);
    statements::routes(cfg);
    dashboards::routes(cfg);
}

/// Percent-encodes a query value.
pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Only local paths may be redirect targets after login (no open redirect).
pub fn safe_next(next: Option<&str>) -> Option<String> {
    let n = next?;
    // A browser drops tabs and newlines anywhere in a URL, strips control characters and
    // spaces at its ends and reads a backslash as a slash, so "/\t/evil.example" or
    // "/\\evil.example" leave for another origin: any of them refuses the value outright.
    if n.is_empty()
        || n.len() > 2048
        || !n.starts_with('/')
        || n.starts_with("//")
        || n.chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '\\')
    {
        return None;
    }
    // And it must resolve, as a browser resolves it, to this origin.
    let origin = url::Url::parse("https://tandem.invalid/").ok()?;
    let resolved = origin.join(n).ok()?;
    (resolved.origin() == origin.origin()).then(|| n.to_owned())
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_is_local_only() {
        assert_eq!(safe_next(Some("/merchant")).as_deref(), Some("/merchant"));
        assert_eq!(
            safe_next(Some("/merchant/orders?state=pending&q=tea%20cup")).as_deref(),
            Some("/merchant/orders?state=pending&q=tea%20cup")
        );
        assert_eq!(safe_next(None), None);
        // Each leaves for another origin in some browser, or cannot be a header value.
        let refused = [
            "//evil.example",
            "/\\evil.example",
            "\\/evil.example",
            "https://evil.example",
            "http:evil.example",
            "/\t/evil.example",
            "/\t\\evil.example",
            "/\n/evil.example",
            "/\r/evil.example",
            "\t//evil.example",
            " //evil.example",
            "/ /evil.example",
            "/\x0b/evil.example",
            "/\x0c/evil.example",
            "/\x00/evil.example",
            "/\u{7f}/evil.example",
            "/\u{a0}/evil.example",
            "/\u{2028}/evil.example",
            "/\u{3000}/evil.example",
            "/%09/evil.example\t",
            "javascript:alert(1)",
            "evil.example",
            "",
            "///evil.example",
            "/\\/evil.example",
        ];
        for payload in refused {
            assert_eq!(safe_next(Some(payload)), None, "{payload:?}");
        }
        assert!(refused.len() >= 20);
    }
}
