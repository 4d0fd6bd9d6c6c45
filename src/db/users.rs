//! Queries on `users`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConn;
use super::models::{NewUser, User};
use super::schema::users;

diesel::define_sql_function!(
    /// SQL `lower()`, on both backends.
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text
);

pub fn insert(conn: &mut DbConn, new: &NewUser<'_>) -> QueryResult<User> {
    diesel::insert_into(users::table)
        .values(new)
        .execute(conn)?;
    find_by_email(conn, new.email)?.ok_or(diesel::result::Error::NotFound)
}

pub fn find(conn: &mut DbConn, id: i64) -> QueryResult<Option<User>> {
    users::table
        .find(id)
        .select(User::as_select())
        .first(conn)
        .optional()
}

pub fn find_by_email(conn: &mut DbConn, email: &str) -> QueryResult<Option<User>> {
    users::table
        .filter(users::email.eq(email))
        .select(User::as_select())
        .first(conn)
        .optional()
}

pub fn count(conn: &mut DbConn) -> QueryResult<i64> {
    users::table.count().get_result(conn)
}

pub fn set_password(
    conn: &mut DbConn,
    id: i64,
    password_hash: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    // A new password ends every other session: the session cookie carries the version.
    diesel::update(users::table.find(id))
        .set((
            users::password_hash.eq(password_hash),
            users::session_version.eq(users::session_version + 1),
            users::updated_at.eq(now),
        ))
        .execute(conn)
}

pub fn set_disabled(
    conn: &mut DbConn,
    id: i64,
    disabled_at: Option<NaiveDateTime>,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(users::table.find(id))
        .set((
            users::disabled_at.eq(disabled_at),
            users::session_version.eq(users::session_version + 1),
            users::updated_at.eq(now),
        ))
        .execute(conn)
}

pub fn record_login(conn: &mut DbConn, id: i64, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(users::table.find(id))
        .set(users::last_login_at.eq(Some(now)))
        .execute(conn)
}

pub fn update_account(
    conn: &mut DbConn,
    id: i64,
    display_name: &str,
    time_zone: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(users::table.find(id))
        .set((
            users::display_name.eq(display_name),
            users::time_zone.eq(time_zone),
            users::updated_at.eq(now),
        ))
        .execute(conn)
}

/// Filters for the accounts list.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    pub role: Option<String>,
    /// `Some(true)`: only disabled; `Some(false)`: only active.
    pub disabled: Option<bool>,
    /// Lower-cased search text matched against email and name.
    pub search: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserSort {
    NewestFirst,
    OldestFirst,
    EmailAsc,
    EmailDesc,
    LastLogin,
}

/// `%text%` with LIKE's wildcards escaped (use with `.escape('\\')`).
pub fn like_pattern(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('%');
    for ch in s.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out.push('%');
    out
}

fn filtered<'a>(
    filter: &UserFilter,
) -> users::BoxedQuery<'a, <DbConn as diesel::Connection>::Backend> {
    let mut query = users::table.into_boxed();
    if let Some(role) = &filter.role {
        query = query.filter(users::role.eq(role.clone()));
    }
    match filter.disabled {
        Some(true) => query = query.filter(users::disabled_at.is_not_null()),
        Some(false) => query = query.filter(users::disabled_at.is_null()),
        None => {}
    }
    if let Some(search) = &filter.search {
        let pattern = like_pattern(search);
        query = query.filter(
            users::email
                .like(pattern.clone())
                .escape('\\')
                .or(lower(users::display_name).like(pattern).escape('\\')),
        );
    }
    query
}

pub fn list(
    conn: &mut DbConn,
    filter: &UserFilter,
    sort: UserSort,
    offset: i64,
    limit: i64,
) -> QueryResult<(Vec<User>, i64)> {
    let total: i64 = filtered(filter).count().get_result(conn)?;
    let query = filtered(filter).select(User::as_select());
    let query = match sort {
        UserSort::NewestFirst => query.order((users::created_at.desc(), users::id.desc())),
        UserSort::OldestFirst => query.order((users::created_at.asc(), users::id.asc())),
        UserSort::EmailAsc => query.order(users::email.asc()),
        UserSort::EmailDesc => query.order(users::email.desc()),
        UserSort::LastLogin => query.order((users::last_login_at.desc(), users::id.desc())),
    };
    let rows = query.offset(offset).limit(limit).load(conn)?;
    Ok((rows, total))
}

/// Every user of a role (finance users, to tell them a payout run waits for review).
pub fn with_role(conn: &mut DbConn, role: &str) -> QueryResult<Vec<User>> {
    users::table
        .filter(users::role.eq(role))
        .order(users::id)
        .select(User::as_select())
        .load(conn)
}
