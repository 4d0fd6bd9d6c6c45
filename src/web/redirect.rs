//! `GET /l/{code}`: records the click, then answers 302 to the link's stored destination with
//! `tclid` added (DESIGN.md §4 "stream links"). The click is committed before the answer;
//! nothing in the request changes where it redirects. HEAD redirects without counting.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use actix_web::http::{Method, StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};

use super::middleware::with_security_headers;
use super::pages;
use crate::db;
use crate::domain::links::{TclidTemplate, is_bot, plausible_code, referrer_host, salted_hash};
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

/// A user agent's salted hash and whether it is a bot, computed once per agent on each
/// worker thread. An audience's agents repeat (the same app and phone versions), and hashing
/// one and searching it for bot markers (SHA-256 over ~150 bytes, some 25 substring
/// searches) was most of the handler's own work. A small table, one agent per slot (a new
/// agent takes its slot's place), so its memory is bounded and a flood of distinct agents
/// costs only the look.
fn agent(salt: &[u8], ua: &str) -> (String, bool) {
    /// Slots per worker (a power of two) and the longest agent kept (longer ones are
    /// computed each time), so a table holds at most about 130 KB.
    const SLOTS: usize = 256;
    const LONGEST: usize = 512;
    /// The salt the table was filled with, and its slots: (agent, hash, bot).
    type Agents = (Vec<u8>, Vec<Option<(Box<str>, String, bool)>>);
    thread_local! {
        static AGENTS: RefCell<Agents> = const { RefCell::new((Vec::new(), Vec::new())) };
    }
    let compute = || (salted_hash(salt, ua), is_bot(ua));
    if ua.len() > LONGEST {
        return compute();
    }
    // FNV-1a over 8-byte words, its top bits spread by a multiply: a slot in a few cycles
    // per word. (An agent chosen to collide only evicts another: no worse than no table.)
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for word in ua.as_bytes().chunks(8) {
        let mut w = [0_u8; 8];
        w[..word.len()].copy_from_slice(word);
        h = (h ^ u64::from_le_bytes(w)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    let slot = usize::try_from(h.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56).unwrap_or(0) % SLOTS;
    AGENTS.with_borrow_mut(|(filled_with, slots)| {
        if filled_with.as_slice() != salt || slots.len() != SLOTS {
            *filled_with = salt.to_vec();
            *slots = vec![None; SLOTS];
        }
        match &slots[slot] {
            Some((seen, hash, bot)) if **seen == *ua => (hash.clone(), *bot),
            _ => {
                let (hash, bot) = compute();
                slots[slot] = Some((ua.into(), hash.clone(), bot));
                (hash, bot)
            }
        }
    })
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
    let (ua_hash, is_bot) = agent(&state.click_salt, ua);
    let input = ClickInput {
        link_id: link.id,
        stream_id: link.stream_id,
        // The same salted address login attempts count by.
        ip_hash: super::extract::client_address(&req, &state),
        ua_hash,
        referrer_host: referrer,
        is_bot,
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

    #[test]
    fn an_agent_gets_the_same_hash_and_bot_flag_from_the_table_as_computed() {
        let agents = [
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile",
            "Googlebot/2.1 (+http://www.google.com/bot.html)",
            "",
            "curl/8.5.0",
        ];
        let long = format!("Mozilla/5.0 {}", "x".repeat(600));
        for salt in [b"one salt".as_slice(), b"another".as_slice()] {
            // Twice over many agents (more than the table holds): the second pass reads the
            // table where an agent kept its slot, and computes again where it was evicted.
            for _ in 0..2 {
                for ua in agents.iter().copied().chain([long.as_str()]) {
                    assert_eq!(
                        agent(salt, ua),
                        (salted_hash(salt, ua), is_bot(ua)),
                        "{ua:.40}"
                    );
                }
                for i in 0..1000 {
                    let ua = format!("Mozilla/5.0 visitor {i}");
                    assert_eq!(agent(salt, &ua), (salted_hash(salt, &ua), is_bot(&ua)));
                }
            }
        }
        assert_ne!(
            agent(b"one salt", agents[0]).0,
            agent(b"another", agents[0]).0
        );
        assert!(agent(b"s", agents[1]).1 && !agent(b"s", agents[0]).1);
    }
}
