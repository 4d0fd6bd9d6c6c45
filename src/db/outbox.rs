//! The email outbox: rows written in the same transaction as the change that causes them,
//! sent later by the dispatcher job.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConn;
use super::models::{NewOutboxEmail, OutboxEmail};
use super::schema::outbox_emails;

pub fn enqueue(conn: &mut DbConn, new: &NewOutboxEmail<'_>) -> QueryResult<usize> {
    diesel::insert_into(outbox_emails::table)
        .values(new)
        .execute(conn)
}

/// Emails due now, oldest first.
pub fn due(conn: &mut DbConn, now: NaiveDateTime, limit: i64) -> QueryResult<Vec<OutboxEmail>> {
    outbox_emails::table
        .filter(outbox_emails::sent_at.is_null())
        .filter(outbox_emails::failed_at.is_null())
        .filter(outbox_emails::next_attempt_at.le(now))
        .order(outbox_emails::id.asc())
        .limit(limit)
        .select(OutboxEmail::as_select())
        .load(conn)
}

/// Claims one email for sending with a compare-and-set on `next_attempt_at`, so that two
/// dispatchers (two app nodes) never send the same email: only one update matches.
pub fn claim(
    conn: &mut DbConn,
    email: &OutboxEmail,
    lease_until: NaiveDateTime,
) -> QueryResult<bool> {
    let n = diesel::update(
        outbox_emails::table
            .find(email.id)
            .filter(outbox_emails::sent_at.is_null())
            .filter(outbox_emails::failed_at.is_null())
            .filter(outbox_emails::next_attempt_at.eq(email.next_attempt_at))
            .filter(outbox_emails::attempts.eq(email.attempts)),
    )
    .set((
        outbox_emails::next_attempt_at.eq(lease_until),
        outbox_emails::attempts.eq(email.attempts + 1),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

pub fn mark_sent(conn: &mut DbConn, id: i64, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(outbox_emails::table.find(id))
        .set((
            outbox_emails::sent_at.eq(Some(now)),
            outbox_emails::last_error.eq(None::<String>),
        ))
        .execute(conn)
}

pub fn mark_retry(
    conn: &mut DbConn,
    id: i64,
    next_attempt_at: NaiveDateTime,
    error: &str,
) -> QueryResult<usize> {
    diesel::update(outbox_emails::table.find(id))
        .set((
            outbox_emails::next_attempt_at.eq(next_attempt_at),
            outbox_emails::last_error.eq(Some(error)),
        ))
        .execute(conn)
}

pub fn mark_failed(
    conn: &mut DbConn,
    id: i64,
    now: NaiveDateTime,
    error: &str,
) -> QueryResult<usize> {
    diesel::update(outbox_emails::table.find(id))
        .set((
            outbox_emails::failed_at.eq(Some(now)),
            outbox_emails::last_error.eq(Some(error)),
        ))
        .execute(conn)
}

pub fn all(conn: &mut DbConn) -> QueryResult<Vec<OutboxEmail>> {
    outbox_emails::table
        .order(outbox_emails::id.asc())
        .select(OutboxEmail::as_select())
        .load(conn)
}
