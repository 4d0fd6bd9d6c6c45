//! The web portal: routes per role, extractors, CSRF, askama pages. No SQL and no business
//! rules here: handlers parse, call a service inside `AppState::db`, and render.

pub mod account;
pub mod accounts;
pub mod auth;
pub mod campaigns;
pub mod catalog;
pub mod extract;
pub mod influencer;
pub mod links;
pub mod marketplace;
pub mod merchant;
pub mod middleware;
pub mod orders;
pub mod pages;
pub mod public;
pub mod redirect;
pub mod session;

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
    accounts::routes(cfg);
    orders::routes(cfg);
}

/// Percent-encodes a query value.
pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Only local paths may be redirect targets after login (no open redirect).
pub fn safe_next(next: Option<&str>) -> Option<String> {
    let n = next?.trim();
    if n.starts_with('/')
        && !n.starts_with("//")
        && !n.starts_with("/\\")
        && !n.contains(['\r', '\n'])
    {
        Some(n.to_owned())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_is_local_only() {
        assert_eq!(safe_next(Some("/merchant")).as_deref(), Some("/merchant"));
        assert_eq!(safe_next(Some("//evil.example")), None);
        assert_eq!(safe_next(Some("/\\evil.example")), None);
        assert_eq!(safe_next(Some("https://evil.example")), None);
        assert_eq!(safe_next(None), None);
    }
}
