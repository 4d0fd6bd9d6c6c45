//! `GET /l/{code}`: records the click, then answers 302 to the link's stored destination with
//! `tclid` added (DESIGN.md §4 "stream links"). The click is committed before the answer;
//! nothing in the request changes where it redirects. HEAD redirects without counting.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use actix_web::http::{Method, StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};

use super::middleware::with_security_headers;
use super::pages;
use crate::db;
use crate::domain::links::{
    TclidTemplate, is_bot, plausible_code, referrer_host, salted_hash, salted_hash_of,
};
use crate::jobs::clicks::ClickInput;
use crate::startup::AppState;

/// How long a node trusts its cached copy of a link (a link disabled on another node stops
/// redirecting there within this time; on this node at once).
pub const CACHE_TTL: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct CachedLink {
    pub id: i64,
    pub stream_id: Option<i64>,
    pub destination: String,
    /// The destination prepared once for adding `tclid` on each click.
    pub template: Option<TclidTemplate>,
}

/// A cached lookup and when it was made.
type CacheEntry = (Option<Arc<CachedLink>>, Instant);

/// Active links by code, kept in memory; `None` remembers an unknown or disabled code.
#[derive(Default)]
pub struct LinkCache {
    map: RwLock<HashMap<String, CacheEntry>>,
}

impl LinkCache {
    fn get(&self, code: &str) -> Option<Option<Arc<CachedLink>>> {
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        map.get(code)
            .filter(|(_, at)| at.elapsed() < CACHE_TTL)
            .map(|(l, _)| l.clone())
    }

    fn put(&self, code: &str, link: Option<Arc<CachedLink>>) {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        if map.len() > 100_000 {
            map.retain(|_, (_, at)| at.elapsed() < CACHE_TTL);
        }
        map.insert(code.to_owned(), (link, Instant::now()));
    }

    /// Forgets a code (after its link changed on this node).
    pub fn invalidate(&self, code: &str) {
        self.map
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(code);
    }
}

/// `/l/{code}` as a plain prefix, the code cut from the path by hand: a `{code}` pattern
/// would run the router's regex on every click.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::scope("/l").default_service(web::to(follow)));
}

/// A 302 to `location`, never cached. Built directly (this is every click's answer): the
/// location string becomes the header value without a copy.
fn found(location: String) -> HttpResponse {
    match header::HeaderValue::try_from(location) {
        Ok(location) => {
            let mut res = HttpResponse::new(StatusCode::FOUND);
            let headers = res.headers_mut();
            headers.insert(header::LOCATION, location);
            headers.insert(
                header::CACHE_CONTROL,
                header::HeaderValue::from_static("no-store"),
            );
            res
        }
        // Destinations are checked URLs when saved, so this does not happen; if it did, the
        // click is stored but no redirect can be written.
        Err(_) => {
            tracing::error!("a link's destination is not a valid Location header");
            with_security_headers(pages::error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "This link is broken",
                "Its destination cannot be followed; please tell whoever shared it.",
            ))
        }
    }
}

fn not_found() -> HttpResponse {
    with_security_headers(pages::error_page(
        StatusCode::NOT_FOUND,
        "Link not found",
        "This link does not exist or has been switched off by its owner.",
    ))
}

async fn lookup(
    state: &AppState,
    code: &str,
) -> Result<Option<Arc<CachedLink>>, crate::error::AppError> {
    if let Some(hit) = state.link_cache.get(code) {
        return Ok(hit);
    }
    let owned = code.to_owned();
    let link = state
        .db(move |conn| Ok(db::links::find_by_code(conn, &owned)?))
        .await?
        .filter(|l| l.disabled_at.is_none())
        .map(|l| {
            Arc::new(CachedLink {
                id: l.id,
                stream_id: l.stream_id,
                template: TclidTemplate::new(&l.destination),
                destination: l.destination,
            })
        });
    state.link_cache.put(code, link.clone());
    Ok(link)
}

async fn follow(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut res = with_security_headers(pages::error_page(
            StatusCode::METHOD_NOT_ALLOWED,
            "Method not allowed",
            "Links are followed with GET.",
        ));
        res.headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static("GET, HEAD"));
        return res;
    }
    // A trailing slash is tolerated, as everywhere else.
    let code = req
        .path()
        .strip_prefix("/l/")
        .map(|c| c.strip_suffix('/').unwrap_or(c))
        .unwrap_or("");
    if !plausible_code(code) {
        return not_found();
    }
    let link = match lookup(&state, code).await {
        Ok(Some(l)) => l,
        Ok(None) => return not_found(),
        Err(e) => {
            return with_security_headers(actix_web::ResponseError::error_response(&e));
        }
    };
    if req.method() == Method::HEAD {
        return found(link.destination.clone());
    }
    let ua = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let referrer = req
        .headers()
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(referrer_host);
    let input = ClickInput {
        link_id: link.id,
        stream_id: link.stream_id,
        ip_hash: match req.peer_addr() {
            Some(addr) => salted_hash_of(&state.click_salt, addr.ip()),
            None => salted_hash(&state.click_salt, ""),
        },
        ua_hash: salted_hash(&state.click_salt, ua),
        referrer_host: referrer,
        is_bot: is_bot(ua),
    };
    match state.clicks.record(input).await {
        Ok(click_id) => found(
            link.template
                .as_ref()
                .map_or_else(|| link.destination.clone(), |t| t.with(&click_id)),
        ),
        Err(e) => {
            // Never redirect a click that was not stored.
            tracing::error!(error = %e, "click not recorded");
            with_security_headers(pages::error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Try again in a moment",
                "This link is busy right now. Please try again.",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_redirect_carries_its_location_uncached_and_a_bad_location_is_an_error_page() {
        let res = found("https://shop.example/p?tclid=abc".to_owned());
        assert_eq!(res.status(), StatusCode::FOUND);
        assert_eq!(
            res.headers().get(header::LOCATION).unwrap(),
            "https://shop.example/p?tclid=abc"
        );
        assert_eq!(
            res.headers().get(header::CACHE_CONTROL).unwrap(),
            "no-store"
        );

        // A value no header may hold (never saved as a destination): a page, not a panic.
        let res = found("https://shop.example/\r\nSet-Cookie: x=1".to_owned());
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(res.headers().get(header::LOCATION).is_none());
        assert!(res.headers().get(header::SET_COOKIE).is_none());
    }
}
