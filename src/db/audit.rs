//! The audit log: who did what to which object, append-only.

use diesel::prelude::*;

use super::DbConn;
use super::models::{AuditEvent, NewAuditEvent};
use super::schema::audit_events;

pub fn record(conn: &mut DbConn, new: &NewAuditEvent<'_>) -> QueryResult<usize> {
    diesel::insert_into(audit_events::table)
        .values(new)
        .execute(conn)
}

pub fn for_subject(
    conn: &mut DbConn,
    subject_type: &str,
    subject_id: i64,
) -> QueryResult<Vec<AuditEvent>> {
    audit_events::table
        .filter(audit_events::subject_type.eq(subject_type))
        .filter(audit_events::subject_id.eq(subject_id))
        .order(audit_events::id.desc())
        .select(AuditEvent::as_select())
        .load(conn)
}
