//! The outbox dispatcher: sends due emails, retries with exponential backoff, gives up after
//! `MAX_ATTEMPTS` and records why.

use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDateTime, TimeDelta};
use tokio::sync::watch;

use crate::db;
use crate::db::models::OutboxEmail;
use crate::startup::AppState;

pub const MAX_ATTEMPTS: i32 = 8;
const BATCH: i64 = 20;
const POLL: Duration = Duration::from_secs(2);
/// While one node sends an email, others leave it alone for this long.
const LEASE_MINUTES: i64 = 5;

/// Delay before attempt `n + 1` after `n` failed attempts: 30 s, 1 min, 2 min ... capped at
/// one hour.
pub fn backoff(attempts: i32) -> TimeDelta {
    let exp = u32::try_from(attempts.clamp(1, 8) - 1).unwrap_or(0);
    TimeDelta::seconds((30_i64 << exp).min(3600))
}

pub async fn dispatcher(state: Arc<AppState>, mut stop: watch::Receiver<bool>) {
    loop {
        if let Err(e) = dispatch_once(&state).await {
            tracing::warn!(error = %e, "email dispatch failed; will retry");
        }
        tokio::select! {
            _ = state.mail_wakeup.notified() => {}
            _ = tokio::time::sleep(POLL) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Claims and sends every due email; returns how many were sent.
pub async fn dispatch_once(state: &AppState) -> anyhow::Result<usize> {
    let mut sent = 0;
    loop {
        let now = state.now();
        let claimed: Vec<OutboxEmail> = state
            .db(move |conn| {
                let due = db::outbox::due(conn, now, BATCH)?;
                let mut claimed = Vec::with_capacity(due.len());
                for email in due {
                    if db::outbox::claim(conn, &email, now + TimeDelta::minutes(LEASE_MINUTES))? {
                        claimed.push(email);
                    }
                }
                Ok(claimed)
            })
            .await?;
        if claimed.is_empty() {
            return Ok(sent);
        }
        for email in claimed {
            let result = state
                .mailer
                .send(
                    &email.to_address,
                    &email.subject,
                    &email.text_body,
                    &email.html_body,
                )
                .await;
            let now = state.now();
            let attempts = email.attempts + 1;
            let id = email.id;
            match result {
                Ok(()) => {
                    state
                        .db(move |conn| Ok(db::outbox::mark_sent(conn, id, now)?))
                        .await?;
                    tracing::info!(email_id = id, kind = %email.kind, "email sent");
                    sent += 1;
                }
                Err(err) => {
                    tracing::warn!(email_id = id, attempts, error = %err, "email not sent");
                    record_failure(state, id, attempts, now, err).await?;
                }
            }
        }
    }
}

async fn record_failure(
    state: &AppState,
    id: i64,
    attempts: i32,
    now: NaiveDateTime,
    err: String,
) -> anyhow::Result<()> {
    state
        .db(move |conn| {
            if attempts >= MAX_ATTEMPTS {
                db::outbox::mark_failed(conn, id, now, &err)?;
            } else {
                db::outbox::mark_retry(conn, id, now + backoff(attempts), &err)?;
            }
            Ok(())
        })
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(backoff(1), TimeDelta::seconds(30));
        assert_eq!(backoff(2), TimeDelta::seconds(60));
        assert_eq!(backoff(3), TimeDelta::seconds(120));
        assert_eq!(backoff(8), TimeDelta::seconds(3600));
        assert_eq!(backoff(50), TimeDelta::seconds(3600));
    }
}
