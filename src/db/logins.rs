//! Login attempts, for throttling.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConn;
use super::models::NewLoginAttempt;
use super::schema::login_attempts;

pub fn record(conn: &mut DbConn, new: &NewLoginAttempt<'_>) -> QueryResult<usize> {
    diesel::insert_into(login_attempts::table)
        .values(new)
        .execute(conn)
}

/// Failures for this account since `since`, not counting those before its last success.
pub fn failures_for_email(
    conn: &mut DbConn,
    email: &str,
    since: NaiveDateTime,
) -> QueryResult<(i64, Option<NaiveDateTime>)> {
    let last_success: Option<NaiveDateTime> = login_attempts::table
        .filter(login_attempts::email.eq(email))
        .filter(login_attempts::succeeded.eq(true))
        .filter(login_attempts::created_at.ge(since))
        .select(diesel::dsl::max(login_attempts::created_at))
        .first(conn)?;
    let from = last_success.map_or(since, |s| s.max(since));
    let failures = login_attempts::table
        .filter(login_attempts::email.eq(email))
        .filter(login_attempts::succeeded.eq(false))
        .filter(login_attempts::created_at.ge(from));
    let count: i64 = failures.count().get_result(conn)?;
    let oldest: Option<NaiveDateTime> = failures
        .select(diesel::dsl::min(login_attempts::created_at))
        .first(conn)?;
    Ok((count, oldest))
}

/// Failures from this IP address since `since`.
pub fn failures_for_ip(
    conn: &mut DbConn,
    ip: &str,
    since: NaiveDateTime,
) -> QueryResult<(i64, Option<NaiveDateTime>)> {
    let failures = login_attempts::table
        .filter(login_attempts::ip.eq(ip))
        .filter(login_attempts::succeeded.eq(false))
        .filter(login_attempts::created_at.ge(since));
    let count: i64 = failures.count().get_result(conn)?;
    let oldest: Option<NaiveDateTime> = failures
        .select(diesel::dsl::min(login_attempts::created_at))
        .first(conn)?;
    Ok((count, oldest))
}
