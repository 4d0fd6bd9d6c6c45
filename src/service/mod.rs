//! Use-cases: one function per thing a user does, each in one transaction. They take a
//! connection and the time (from the `Clock`), call the domain rules and the queries, and
//! never see HTTP.

pub mod accounts;
pub mod admin;
pub mod billing;
pub mod campaigns;
pub mod catalog;
pub mod collaborations;
pub mod dashboard;
pub mod demo;
pub mod influencer;
pub mod links;
pub mod live;
pub mod marketplace;
pub mod merchant;
pub mod metrics;
pub mod order_import;
pub mod orders;
pub mod payouts;
pub mod reports;
pub mod sessions;
pub mod shopify;
pub mod statements;
pub mod team;

use chrono::NaiveDateTime;

use crate::db::models::{NewAuditEvent, NewOutboxEmail};
use crate::db::{self, DbConn};
use crate::email::templates::RenderedEmail;
use crate::error::{AppError, AppResult};

/// Writes an email to the outbox, inside the caller's transaction.
pub fn enqueue_email(
    conn: &mut DbConn,
    now: NaiveDateTime,
    to: &str,
    email: &RenderedEmail,
) -> diesel::QueryResult<usize> {
    db::outbox::enqueue(
        conn,
        &NewOutboxEmail {
            kind: email.kind,
            to_address: to,
            subject: &email.subject,
            text_body: &email.text,
            html_body: &email.html,
            created_at: now,
            attempts: 0,
            next_attempt_at: now,
        },
    )
}

/// Appends to the audit log, inside the caller's transaction.
pub fn audit(
    conn: &mut DbConn,
    now: NaiveDateTime,
    actor_user_id: Option<i64>,
    action: &str,
    subject: (&str, i64),
    detail: &str,
) -> diesel::QueryResult<usize> {
    db::audit::record(
        conn,
        &NewAuditEvent {
            actor_user_id,
            action,
            subject_type: subject.0,
            subject_id: Some(subject.1),
            detail,
            created_at: now,
        },
    )
}

/// An email's lines with their instants ("… UTC") written in the reader's time zone.
pub(crate) fn in_zone_of(user: &crate::db::models::User, lines: &[String]) -> Vec<String> {
    let tz = user.time_zone.parse().unwrap_or(chrono_tz::Tz::UTC);
    lines
        .iter()
        .map(|l| crate::domain::clock::localize(l, tz))
        .collect()
}

/// Emails every member of the merchant organisation.
pub(crate) fn notify_merchant(
    conn: &mut DbConn,
    now: NaiveDateTime,
    merchant_id: i64,
    subject: &str,
    lines: &[String],
    url: &str,
) -> AppResult<()> {
    for (_, user) in db::merchants::members(conn, merchant_id)? {
        if user.disabled_at.is_some() {
            continue;
        }
        let email = crate::email::templates::notice(
            &user.display_name,
            subject,
            &in_zone_of(&user, lines),
            url,
            "Open in Tandem",
        )?;
        enqueue_email(conn, now, &user.email, &email)?;
    }
    Ok(())
}

pub(crate) fn notify_influencer(
    conn: &mut DbConn,
    now: NaiveDateTime,
    influencer_id: i64,
    subject: &str,
    lines: &[String],
    url: &str,
) -> AppResult<()> {
    let influencer = db::influencers::find(conn, influencer_id)?.ok_or(AppError::NotFound)?;
    let user = db::users::find(conn, influencer.user_id)?.ok_or(AppError::NotFound)?;
    if user.disabled_at.is_none() {
        let email = crate::email::templates::notice(
            &user.display_name,
            subject,
            &in_zone_of(&user, lines),
            url,
            "Open in Tandem",
        )?;
        enqueue_email(conn, now, &user.email, &email)?;
    }
    Ok(())
}
