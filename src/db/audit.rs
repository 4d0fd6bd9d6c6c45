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

/// Filters of the audit log page.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Actions starting with this (e.g. `payout.`).
    pub action_prefix: Option<String>,
    /// Lower-cased text matched against the actor's email and name.
    pub actor: Option<String>,
    /// Lower-cased text matched against the detail.
    pub text: Option<String>,
    pub from: Option<chrono::NaiveDateTime>,
    pub until: Option<chrono::NaiveDateTime>,
}

/// An event with its actor's name and email (none: the system did it).
pub type EventWithActor = (AuditEvent, Option<(String, String)>);

/// Events matching the filter, newest first, with their actor's name and email.
pub fn search(
    conn: &mut DbConn,
    f: &AuditFilter,
    offset: i64,
    limit: i64,
) -> QueryResult<Vec<EventWithActor>> {
    use super::schema::users;
    let mut q = audit_events::table
        .left_join(users::table.on(users::id.nullable().eq(audit_events::actor_user_id)))
        .into_boxed::<super::MultiBackend>();
    if let Some(p) = &f.action_prefix {
        // A prefix from the page's fixed list of areas (no wildcard in it).
        q = q.filter(audit_events::action.like(format!("{p}%")));
    }
    if let Some(a) = &f.actor {
        let pat = super::users::like_pattern(a);
        q = q.filter(
            users::email
                .like(pat.clone())
                .escape('\\')
                .or(
                    diesel::dsl::sql::<diesel::sql_types::Bool>("LOWER(users.display_name) LIKE ")
                        .bind::<diesel::sql_types::Text, _>(pat)
                        .sql(" ESCAPE '\\'"),
                ),
        );
    }
    if let Some(t) = &f.text {
        q = q.filter(
            diesel::dsl::sql::<diesel::sql_types::Bool>("LOWER(audit_events.detail) LIKE ")
                .bind::<diesel::sql_types::Text, _>(super::users::like_pattern(t))
                .sql(" ESCAPE '\\'"),
        );
    }
    if let Some(from) = f.from {
        q = q.filter(audit_events::created_at.ge(from));
    }
    if let Some(until) = f.until {
        q = q.filter(audit_events::created_at.lt(until));
    }
    let rows: Vec<EventWithActor> = q
        .order(audit_events::id.desc())
        .offset(offset)
        .limit(limit)
        .select((
            AuditEvent::as_select(),
            (users::display_name, users::email).nullable(),
        ))
        .load(conn)?;
    Ok(rows)
}
