//! Single-use password reset tokens (only their SHA-256 is stored).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConn;
use super::models::{NewPasswordReset, PasswordReset};
use super::schema::password_resets;

pub fn insert(conn: &mut DbConn, new: &NewPasswordReset<'_>) -> QueryResult<usize> {
    diesel::insert_into(password_resets::table)
        .values(new)
        .execute(conn)
}

pub fn find_by_hash(conn: &mut DbConn, token_hash: &str) -> QueryResult<Option<PasswordReset>> {
    password_resets::table
        .filter(password_resets::token_hash.eq(token_hash))
        .select(PasswordReset::as_select())
        .first(conn)
        .optional()
}

/// Tokens made for the user since `since` (to limit reset emails).
pub fn count_since(conn: &mut DbConn, user_id: i64, since: NaiveDateTime) -> QueryResult<i64> {
    password_resets::table
        .filter(password_resets::user_id.eq(user_id))
        .filter(password_resets::created_at.ge(since))
        .count()
        .get_result(conn)
}

/// Marks the token used. Returns false when it was already used: the conditional update is
/// what makes a token single-use even under concurrent requests.
pub fn mark_used(conn: &mut DbConn, id: i64, now: NaiveDateTime) -> QueryResult<bool> {
    let n = diesel::update(
        password_resets::table
            .find(id)
            .filter(password_resets::used_at.is_null()),
    )
    .set(password_resets::used_at.eq(Some(now)))
    .execute(conn)?;
    Ok(n == 1)
}

/// Ends every other open token of the user (after a successful reset).
pub fn revoke_all_for_user(
    conn: &mut DbConn,
    user_id: i64,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        password_resets::table
            .filter(password_resets::user_id.eq(user_id))
            .filter(password_resets::used_at.is_null()),
    )
    .set(password_resets::used_at.eq(Some(now)))
    .execute(conn)
}
