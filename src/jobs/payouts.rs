//! The payout scheduler: every 30 seconds, each active schedule whose slot has come gets its
//! run (DESIGN.md §3 "Payouts"). A slot missed while Tandem was down runs once on start;
//! several missed slots of one schedule make one catch-up run. Safe on several nodes: a run
//! is unique per (schedule, fire time). `TANDEM_SCHEDULER=off` turns it off on a node.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::startup::AppState;

pub const EVERY: Duration = Duration::from_secs(30);

pub async fn run(state: Arc<AppState>, mut stop: watch::Receiver<bool>) {
    loop {
        let (now, base) = (state.now(), state.base_url.clone());
        match state
            .db(move |conn| crate::service::payouts::run_due(conn, now, &base))
            .await
        {
            Ok(runs) if runs.is_empty() => {}
            Ok(runs) => {
                for r in &runs {
                    tracing::info!(run = r.id, schedule = r.schedule_id, "payout run planned");
                }
                state.wake_mailer();
            }
            Err(e) => tracing::error!(error = %e, "payout scheduler pass failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(EVERY) => {}
            _ = stop.changed() => return,
        }
    }
}
