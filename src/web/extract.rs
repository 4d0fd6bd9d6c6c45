//! Extractors: who is calling (and in which role), and CSRF-checked forms. Authorization
//! lives here, in one place: a handler that takes `MerchantUser` can only run for a merchant.

use std::future::{Ready, ready};

use actix_session::{Session, SessionExt};
use actix_web::dev::Payload;
use actix_web::web::Bytes;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use chrono_tz::Tz;
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;

use super::session;
use crate::domain::account::Role;
use crate::error::AppError;
use crate::startup::AppState;

/// A form with no fields but its CSRF token (a button that acts).
#[derive(Debug, serde::Deserialize, Default)]
pub struct Empty {}

/// The logged-in user, loaded from the database on every request (so a disabled account or
/// a changed password ends old sessions at once).
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub time_zone: Tz,
    /// The server-side session this request belongs to.
    pub session_id: i64,
}

fn state_of(req: &HttpRequest) -> Result<web::Data<AppState>, AppError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("application state missing")))
}

fn next_of(req: &HttpRequest) -> String {
    if req.method() == actix_web::http::Method::GET {
        req.uri()
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| req.path().to_owned())
    } else {
        req.path().to_owned()
    }
}

async fn load_current(req: HttpRequest) -> Result<Option<CurrentUser>, AppError> {
    if let Some(u) = req.extensions().get::<CurrentUser>() {
        return Ok(Some(u.clone()));
    }
    let session = req.get_session();
    let Some((uid, version, sid)) = session::identity(&session) else {
        return Ok(None);
    };
    let state = state_of(&req)?;
    let now = state.now();
    // The session must be live on the server (not logged out, signed out or too old), its
    // user the cookie's, enabled, and with the same password as when it began.
    let live = state
        .db(move |conn| crate::service::sessions::resume(conn, now, &sid))
        .await?;
    let (session_id, user) = match live {
        Some((s, u)) if u.id == uid && u.session_version == version => (s.id, u),
        _ => {
            session::log_out(&session);
            return Ok(None);
        }
    };
    let Some(role) = Role::parse(&user.role) else {
        return Err(AppError::Internal(anyhow::anyhow!(
            "user {} has an unknown role",
            user.id
        )));
    };
    let current = CurrentUser {
        id: user.id,
        email: user.email,
        name: user.display_name,
        role,
        time_zone: user.time_zone.parse().unwrap_or(Tz::UTC),
        session_id,
    };
    req.extensions_mut().insert(current.clone());
    Ok(Some(current))
}

impl FromRequest for CurrentUser {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let next = next_of(&req);
            load_current(req)
                .await?
                .ok_or(AppError::LoginRequired { next })
        })
    }
}

/// The user when logged in, `None` otherwise (public pages).
#[derive(Debug, Clone)]
pub struct MaybeUser(pub Option<CurrentUser>);

impl FromRequest for MaybeUser {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { Ok(MaybeUser(load_current(req).await?)) })
    }
}

macro_rules! role_extractor {
    ($(#[$doc:meta])* $name:ident, $($role:pat_param)|+) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name(pub CurrentUser);

        impl FromRequest for $name {
            type Error = AppError;
            type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

            fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
                let user = CurrentUser::from_request(req, payload);
                Box::pin(async move {
                    let user = user.await?;
                    match user.role {
                        $($role)|+ => Ok($name(user)),
                        #[allow(unreachable_patterns)]
                        _ => Err(AppError::Forbidden),
                    }
                })
            }
        }
    };
}

role_extractor!(
    /// A member of a merchant organisation.
    MerchantUser, Role::Merchant);
role_extractor!(
    /// An influencer.
    InfluencerUser, Role::Influencer);
role_extractor!(
    /// Finance staff (admins may do everything finance does).
    FinanceUser, Role::Finance | Role::Admin);
role_extractor!(
    /// An administrator.
    AdminUser, Role::Admin);

/// A url-encoded form whose `csrf_token` field matched the session's token. Any other POST
/// body is refused with 403 before the handler runs.
#[derive(Debug)]
pub struct CsrfForm<T>(pub T);

#[derive(serde::Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf_token: String,
}

fn check_csrf(session: &Session, sent: &str) -> Result<(), AppError> {
    match session::expected_csrf(session) {
        Some(expected)
            if !sent.is_empty() && bool::from(expected.as_bytes().ct_eq(sent.as_bytes())) =>
        {
            Ok(())
        }
        _ => Err(AppError::Csrf),
    }
}

/// The first field of a url-encoded body whose value, percent-decoded, is not UTF-8.
fn non_utf8_field(body: &[u8]) -> Option<String> {
    fn decode(part: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(part.len());
        let mut i = 0;
        while i < part.len() {
            match part[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < part.len() => {
                    match std::str::from_utf8(&part[i + 1..i + 3])
                        .ok()
                        .and_then(|h| u8::from_str_radix(h, 16).ok())
                    {
                        Some(b) => {
                            out.push(b);
                            i += 2;
                        }
                        None => out.push(b'%'),
                    }
                }
                b => out.push(b),
            }
            i += 1;
        }
        out
    }
    body.split(|b| *b == b'&').find_map(|pair| {
        let mut kv = pair.splitn(2, |b| *b == b'=');
        let name = decode(kv.next().unwrap_or_default());
        let value = decode(kv.next().unwrap_or_default());
        (std::str::from_utf8(&value).is_err() || std::str::from_utf8(&name).is_err())
            .then(|| String::from_utf8_lossy(&name).into_owned())
    })
}

impl<T: DeserializeOwned + 'static> FromRequest for CsrfForm<T> {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let session = req.get_session();
        let body = Bytes::from_request(req, payload);
        Box::pin(async move {
            let body = body.await.map_err(|_| {
                AppError::BadRequest(
                    "The form could not be read (too large or cut off).".to_owned(),
                )
            })?;
            let field: CsrfField = serde_html_form::from_bytes(&body).unwrap_or(CsrfField {
                csrf_token: String::new(),
            });
            check_csrf(&session, &field.csrf_token)?;
            // Text that is not UTF-8 is refused, never read with replacement characters (a
            // bank reference with a Latin-1 letter would be stored altered).
            if let Some(name) = non_utf8_field(&body) {
                let mut errors = crate::domain::validate::FieldErrors::new();
                errors.add(
                    &name,
                    "This text is not UTF-8 (an encoding error): save the file as UTF-8 and send it again.",
                );
                return Err(AppError::Validation(errors));
            }
            // No text field takes control, text-direction or invisible characters (passwords aside:
            // refusing them could lock someone out of the one they have; and a login's
            // `next`, which is checked on its own and falls back to the role's home).
            for (name, value) in url::form_urlencoded::parse(&body) {
                if matches!(
                    name.as_ref(),
                    "password" | "current" | "current_password" | "confirm" | "next"
                ) {
                    continue;
                }
                if let Some(c) = crate::domain::validate::hidden_char(&value) {
                    let mut errors = crate::domain::validate::FieldErrors::new();
                    errors.add(&name, crate::domain::validate::hidden_char_message(c));
                    return Err(AppError::Validation(errors));
                }
            }
            let value: T = serde_html_form::from_bytes(&body)
                .map_err(|e| AppError::BadRequest(format!("The form could not be read: {e}.")))?;
            Ok(CsrfForm(value))
        })
    }
}

/// The client's address (behind a trusted reverse proxy, the one it forwarded; see
/// `domain::net`), salted and hashed as clicks' are: what login attempts are counted by.
/// The raw address is never stored.
#[derive(Debug, Clone)]
pub struct ClientAddress(pub String);

/// The client's IP address: the peer's, or from a trusted proxy the one it forwarded in the
/// configured header (every line of it, in order).
pub fn client_ip(
    req: &HttpRequest,
    trusted: &[crate::domain::net::Cidr],
    header: crate::domain::net::ForwardingHeader,
) -> Option<std::net::IpAddr> {
    let peer = req.peer_addr().map(|a| a.ip());
    if trusted.is_empty() {
        return peer;
    }
    // A line that is not text cannot be read: it ends the walk where it stands.
    let lines: Vec<&str> = req
        .headers()
        .get_all(header.name())
        .map(|v| v.to_str().unwrap_or("?"))
        .collect();
    crate::domain::net::client_ip(peer, header, &lines, trusted)
}

/// The request's client address, salted and hashed (see [`ClientAddress`]).
pub fn client_address(req: &HttpRequest, state: &AppState) -> String {
    match client_ip(req, &state.trusted_proxies, state.client_ip_header) {
        Some(ip) => crate::domain::links::salted_hash_of(&state.click_salt, ip),
        None => crate::domain::links::salted_hash(&state.click_salt, ""),
    }
}

impl FromRequest for ClientAddress {
    type Error = AppError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(state_of(req).map(|state| ClientAddress(client_address(req, &state))))
    }
}
