//! Sessions on the server (issue 19): the cookie carries a random token and the `sessions`
//! table its hash, so logging out, "sign out" on the account page and a password change end
//! a session at once, for every copy of its cookie.

use chrono::{NaiveDateTime, TimeDelta};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::db::models::User;
use crate::db::sessions::SessionRow;
use crate::db::{self, DbConn};
use crate::error::AppResult;

use super::audit;

/// A session lasts this long after login, then asks to log in again.
pub const SESSION_DAYS: i64 = 14;
/// How often a session's "last seen" is written (not on every request).
const TOUCH_EVERY: TimeDelta = TimeDelta::minutes(5);
/// The longest user agent kept.
const AGENT_CHARS: usize = 300;

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(format!("tandem-session:{token}").as_bytes()))
}

/// Starts a session for the user; returns the token for the cookie.
pub fn start(
    conn: &mut DbConn,
    now: NaiveDateTime,
    user_id: i64,
    user_agent: &str,
) -> AppResult<String> {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    let token = hex::encode(raw);
    let agent: String = user_agent
        .chars()
        .filter(|c| !c.is_control())
        .take(AGENT_CHARS)
        .collect();
    db::sessions::insert(conn, user_id, &token_hash(&token), &agent, now)?;
    Ok(token)
}

/// The live session of this token and its user: not revoked, younger than
/// [`SESSION_DAYS`], its user not disabled. Notes when it was last seen.
pub fn resume(
    conn: &mut DbConn,
    now: NaiveDateTime,
    token: &str,
) -> AppResult<Option<(SessionRow, User)>> {
    let Some((s, user)) = db::sessions::find_live_with_user(conn, &token_hash(token))? else {
        return Ok(None);
    };
    let age = now - s.created_at;
    if age >= TimeDelta::days(SESSION_DAYS) || age < -TimeDelta::minutes(5) {
        return Ok(None);
    }
    if user.disabled_at.is_some() {
        return Ok(None);
    }
    if now - s.last_seen_at >= TOUCH_EVERY {
        db::sessions::touch(conn, s.id, now)?;
    }
    Ok(Some((s, user)))
}

/// Ends the session of this token (logout).
pub fn end(conn: &mut DbConn, now: NaiveDateTime, token: &str) -> AppResult<()> {
    if let Some(s) = db::sessions::find_live(conn, &token_hash(token))? {
        db::sessions::revoke(conn, s.user_id, s.id, now)?;
    }
    Ok(())
}

/// The user's live sessions, the latest seen first.
pub fn list(conn: &mut DbConn, now: NaiveDateTime, user_id: i64) -> AppResult<Vec<SessionRow>> {
    Ok(db::sessions::live_of_user(
        conn,
        user_id,
        now - TimeDelta::days(SESSION_DAYS),
    )?)
}

/// Signs out one of the user's own sessions; `false` if it is not theirs or already ended.
pub fn sign_out(
    conn: &mut DbConn,
    now: NaiveDateTime,
    user_id: i64,
    session_id: i64,
) -> AppResult<bool> {
    db::write_tx(conn, |conn| {
        let n = db::sessions::revoke(conn, user_id, session_id, now)?;
        if n == 1 {
            audit(
                conn,
                now,
                Some(user_id),
                "session.sign_out",
                ("user", user_id),
                &format!("signed out session {session_id}"),
            )?;
        }
        Ok(n == 1)
    })
}

/// Signs out every session of the user but `keep` (the one asking); how many.
pub fn sign_out_others(
    conn: &mut DbConn,
    now: NaiveDateTime,
    user_id: i64,
    keep: Option<i64>,
    why: &str,
) -> AppResult<usize> {
    let n = db::sessions::revoke_all_but(conn, user_id, keep, now)?;
    if n > 0 {
        audit(
            conn,
            now,
            Some(user_id),
            "session.sign_out_others",
            ("user", user_id),
            &format!(
                "{} signed out: {why}",
                crate::domain::words::count(n, "other session", "other sessions")
            ),
        )?;
    }
    Ok(n)
}

/// A user agent in a few words: "Chrome on Android", "Safari on iPhone".
pub fn device_label(agent: &str) -> String {
    let a = agent.to_ascii_lowercase();
    let browser = if a.contains("edg/") {
        "Edge"
    } else if a.contains("opr/") || a.contains("opera") {
        "Opera"
    } else if a.contains("firefox/") {
        "Firefox"
    } else if a.contains("chrome/") || a.contains("chromium/") || a.contains("crios/") {
        "Chrome"
    } else if a.contains("safari/") {
        "Safari"
    } else if a.contains("curl/") {
        "curl"
    } else {
        "A browser"
    };
    let os = if a.contains("iphone") {
        "iPhone"
    } else if a.contains("ipad") {
        "iPad"
    } else if a.contains("android") {
        "Android"
    } else if a.contains("windows") {
        "Windows"
    } else if a.contains("mac os") || a.contains("macintosh") {
        "macOS"
    } else if a.contains("linux") {
        "Linux"
    } else {
        ""
    };
    if os.is_empty() {
        browser.to_owned()
    } else {
        format!("{browser} on {os}")
    }
}

#[cfg(test)]
mod tests {
    use super::device_label;

    #[test]
    fn devices_in_a_few_words() {
        assert_eq!(
            device_label(
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
            ),
            "Safari on iPhone"
        );
        assert_eq!(
            device_label(
                "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36"
            ),
            "Chrome on Android"
        );
        assert_eq!(device_label(""), "A browser");
    }
}
