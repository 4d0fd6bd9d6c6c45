//! Login attempts, for throttling (issue 19). An attempt is recorded, pending, before its
//! password is checked, in the same transaction that counts the attempts before it; the
//! client's address is stored salted and hashed, as clicks' are.

use chrono::NaiveDateTime;
use diesel::dsl::{max, min};
use diesel::prelude::*;

use super::DbConn;
use super::schema::login_attempts as a;

/// Holds the account's and the address's attempts for the rest of the transaction on
/// PostgreSQL (advisory locks, in that order), so that concurrent attempts are counted one
/// after the other; SQLite's write transaction already excludes every other writer.
pub fn lock(conn: &mut DbConn, email: &str, address: &str) -> QueryResult<()> {
    if let DbConn::Pg(c) = conn {
        for key in [
            format!("login-email:{email}"),
            format!("login-ip:{address}"),
        ] {
            diesel::sql_query("SELECT pg_advisory_xact_lock(hashtext($1))")
                .bind::<diesel::sql_types::Text, _>(key)
                .execute(c)?;
        }
    }
    Ok(())
}

/// Failed and pending attempts since `since`, for one account, one address or the pair
/// (`None`: any), counted from after the scope's last success; with the oldest of them.
pub fn failures(
    conn: &mut DbConn,
    email: Option<&str>,
    address: Option<&str>,
    since: NaiveDateTime,
) -> QueryResult<(i64, Option<NaiveDateTime>)> {
    let scoped = || {
        let mut q = a::table.filter(a::created_at.ge(since)).into_boxed();
        if let Some(e) = email {
            q = q.filter(a::email.eq(e.to_owned()));
        }
        if let Some(ip) = address {
            q = q.filter(a::ip.eq(ip.to_owned()));
        }
        q
    };
    // A success resets an account's count (and a pair's); an address's count is of all the
    // accounts tried from it, successes or not.
    let from = if email.is_some() {
        let last_success: Option<NaiveDateTime> = scoped()
            .filter(a::succeeded.eq(true))
            .select(max(a::created_at))
            .first(conn)?;
        last_success.map_or(since, |s| s.max(since))
    } else {
        since
    };
    let count: i64 = scoped()
        .filter(a::succeeded.eq(false))
        .filter(a::created_at.ge(from))
        .count()
        .get_result(conn)?;
    let oldest: Option<NaiveDateTime> = scoped()
        .filter(a::succeeded.eq(false))
        .filter(a::created_at.ge(from))
        .select(min(a::created_at))
        .first(conn)?;
    Ok((count, oldest))
}

/// Whether the account logged in successfully from this address since `since`.
pub fn known_pair(
    conn: &mut DbConn,
    email: &str,
    address: &str,
    since: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        a::table
            .filter(a::email.eq(email))
            .filter(a::ip.eq(address))
            .filter(a::succeeded.eq(true))
            .filter(a::created_at.ge(since)),
    ))
    .get_result(conn)
}

/// Records a pending attempt (counted as a failure until it is settled); its id.
pub fn record_pending(
    conn: &mut DbConn,
    email: &str,
    address: &str,
    now: NaiveDateTime,
) -> QueryResult<i64> {
    diesel::insert_into(a::table)
        .values((
            a::email.eq(email),
            a::ip.eq(address),
            a::succeeded.eq(false),
            a::pending.eq(true),
            a::created_at.eq(now),
        ))
        .returning(a::id)
        .get_result(conn)
}

/// Settles a pending attempt once its password was checked.
pub fn settle(conn: &mut DbConn, id: i64, succeeded: bool) -> QueryResult<usize> {
    diesel::update(a::table.find(id))
        .set((a::succeeded.eq(succeeded), a::pending.eq(false)))
        .execute(conn)
}

/// Forgets attempts older than `before`.
pub fn delete_before(conn: &mut DbConn, before: NaiveDateTime) -> QueryResult<usize> {
    diesel::delete(a::table.filter(a::created_at.lt(before))).execute(conn)
}
