//! What the signed, encrypted session cookie holds: the user id, session version and the
//! server-side session's token (`service::sessions`), the CSRF token and a one-shot flash
//! message.

use actix_session::Session;
use rand::RngCore;

use crate::db::models::User;

const UID: &str = "uid";
const VERSION: &str = "ver";
const SID: &str = "sid";
const CSRF: &str = "csrf";
const FLASH: &str = "flash";

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Flash {
    pub kind: String,
    pub message: String,
}

fn random_token() -> String {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    hex::encode(raw)
}

/// The session's CSRF token, created on first use.
pub fn csrf_token(session: &Session) -> String {
    if let Ok(Some(t)) = session.get::<String>(CSRF) {
        return t;
    }
    let t = random_token();
    let _ = session.insert(CSRF, &t);
    t
}

pub fn expected_csrf(session: &Session) -> Option<String> {
    session.get::<String>(CSRF).ok().flatten()
}

pub fn flash(session: &Session, kind: &str, message: impl Into<String>) {
    let _ = session.insert(
        FLASH,
        Flash {
            kind: kind.to_owned(),
            message: message.into(),
        },
    );
}

pub fn take_flash(session: &Session) -> Option<Flash> {
    session.remove_as::<Flash>(FLASH).and_then(Result::ok)
}

/// Logs the user in: a fresh session (the old cookie's contents are dropped), a new CSRF
/// token, the user's session version and the token of the server-side session just started.
pub fn log_in(session: &Session, user: &User, token: &str) {
    let kept_flash = take_flash(session);
    session.clear();
    session.renew();
    let _ = session.insert(UID, user.id);
    let _ = session.insert(VERSION, user.session_version);
    let _ = session.insert(SID, token);
    let _ = session.insert(CSRF, random_token());
    if let Some(f) = kept_flash {
        let _ = session.insert(FLASH, f);
    }
}

/// Refreshes the version after the user changed their own password (other sessions end,
/// this one stays).
pub fn refresh_version(session: &Session, user: &User) {
    let _ = session.insert(VERSION, user.session_version);
}

/// Ends the login but keeps a (new, empty) session so a flash message can be shown.
pub fn log_out(session: &Session) {
    session.clear();
    session.renew();
}

/// (user id, session version, server-side session token) when logged in.
pub fn identity(session: &Session) -> Option<(i64, i64, String)> {
    let uid = session.get::<i64>(UID).ok().flatten()?;
    let ver = session.get::<i64>(VERSION).ok().flatten()?;
    let sid = session.get::<String>(SID).ok().flatten()?;
    Some((uid, ver, sid))
}

/// The server-side session's token, if the cookie holds one.
pub fn token(session: &Session) -> Option<String> {
    session.get::<String>(SID).ok().flatten()
}
