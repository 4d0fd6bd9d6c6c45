//! Sessions kept on the server: the cookie holds a random token, the table its hash. A
//! session is live until it is revoked (logout, "sign out", a password change) or too old.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConn;
use super::schema::sessions;

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = sessions)]
pub struct SessionRow {
    pub id: i64,
    pub user_id: i64,
    pub token_hash: String,
    pub created_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
    pub user_agent: String,
    pub revoked_at: Option<NaiveDateTime>,
}

pub fn insert(
    conn: &mut DbConn,
    user_id: i64,
    token_hash: &str,
    user_agent: &str,
    now: NaiveDateTime,
) -> QueryResult<i64> {
    diesel::insert_into(sessions::table)
        .values((
            sessions::user_id.eq(user_id),
            sessions::token_hash.eq(token_hash),
            sessions::created_at.eq(now),
            sessions::last_seen_at.eq(now),
            sessions::user_agent.eq(user_agent),
        ))
        .returning(sessions::id)
        .get_result(conn)
}

/// The live (not revoked) session with this token hash, and its user (one query: every
/// page request asks).
pub fn find_live_with_user(
    conn: &mut DbConn,
    token_hash: &str,
) -> QueryResult<Option<(SessionRow, super::models::User)>> {
    use super::schema::users;
    on_inner!(conn, |c| sessions::table
        .inner_join(users::table)
        .filter(sessions::token_hash.eq(token_hash))
        .filter(sessions::revoked_at.is_null())
        .select((SessionRow::as_select(), super::models::User::as_select()))
        .first(c)
        .optional())
}

/// The live (not revoked) session with this token hash.
pub fn find_live(conn: &mut DbConn, token_hash: &str) -> QueryResult<Option<SessionRow>> {
    on_inner!(conn, |c| sessions::table
        .filter(sessions::token_hash.eq(token_hash))
        .filter(sessions::revoked_at.is_null())
        .select(SessionRow::as_select())
        .first(c)
        .optional())
}

pub fn touch(conn: &mut DbConn, id: i64, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(sessions::table.find(id))
        .set(sessions::last_seen_at.eq(now))
        .execute(conn)
}

/// The user's live sessions begun since `since`, the latest seen first.
pub fn live_of_user(
    conn: &mut DbConn,
    user_id: i64,
    since: NaiveDateTime,
) -> QueryResult<Vec<SessionRow>> {
    sessions::table
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::created_at.ge(since))
        .order((sessions::last_seen_at.desc(), sessions::id.desc()))
        .select(SessionRow::as_select())
        .load(conn)
}

/// Revokes one of the user's sessions; how many were revoked (0: not theirs, or ended).
pub fn revoke(conn: &mut DbConn, user_id: i64, id: i64, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(
        sessions::table
            .filter(sessions::id.eq(id))
            .filter(sessions::user_id.eq(user_id))
            .filter(sessions::revoked_at.is_null()),
    )
    .set(sessions::revoked_at.eq(now))
    .execute(conn)
}

/// Revokes every live session of the user but `keep`; how many.
pub fn revoke_all_but(
    conn: &mut DbConn,
    user_id: i64,
    keep: Option<i64>,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        sessions::table
            .filter(sessions::user_id.eq(user_id))
            .filter(sessions::revoked_at.is_null())
            .filter(sessions::id.ne(keep.unwrap_or(-1))),
    )
    .set(sessions::revoked_at.eq(now))
    .execute(conn)
}

/// Forgets sessions that ended or began before `before` (they can no longer open anything).
pub fn delete_old(conn: &mut DbConn, before: NaiveDateTime) -> QueryResult<usize> {
    diesel::delete(sessions::table.filter(sessions::created_at.lt(before))).execute(conn)
}
