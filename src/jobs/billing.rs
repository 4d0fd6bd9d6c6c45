//! The billing scheduler: every ten minutes (the first pass a minute after start), issues the invoices of every
//! month that has closed in each merchant's zone and sends the reminders due (on the due
//! date, and seven days after). Safe on several nodes: a period is invoiced once (a unique
//! index), a reminder is sent once (a unique row). `TANDEM_SCHEDULER=off` turns it off on a
//! node, as for payouts.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::startup::AppState;

pub const EVERY: Duration = Duration::from_secs(600);

/// The first pass waits this long: start-up work (migrations, sealing, a demo load) first.
pub const FIRST: Duration = Duration::from_secs(60);

pub async fn run(state: Arc<AppState>, mut stop: watch::Receiver<bool>) {
    tokio::select! {
        _ = tokio::time::sleep(FIRST) => {}
        _ = stop.changed() => return,
    }
    loop {
        let (now, base) = (state.now(), state.base_url.clone());
        match state
            .db(move |conn| {
                let issued = crate::service::billing::issue_due(conn, now, &base, false)?;
                let reminded = crate::service::billing::send_reminders(conn, now, &base)?;
                Ok((issued, reminded))
            })
            .await
        {
            Ok((issued, reminded)) => {
                for i in &issued {
                    tracing::info!(invoice = %i.number, merchant = i.merchant_id, "invoice issued");
                }
                if !issued.is_empty() || reminded > 0 {
                    state.wake_mailer();
                }
            }
            Err(e) => tracing::error!(error = %e, "billing pass failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(EVERY) => {}
            _ = stop.changed() => return,
        }
    }
}
