//! Commission maturation: once a minute, every pending commission whose hold for returns is
//! over becomes available (DESIGN.md §3). Idempotent and safe on several nodes: each
//! commission moves by compare-and-set and its journal is unique. The same loop forgets
//! login attempts older than 30 days and sessions long over.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::startup::AppState;

pub const EVERY: Duration = Duration::from_secs(60);

pub async fn run(state: Arc<AppState>, mut stop: watch::Receiver<bool>) {
    loop {
        let now = state.now();
        match state
            .db(move |conn| crate::service::orders::mature_due(conn, now))
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(commissions = n, "commissions became available"),
            Err(e) => tracing::error!(error = %e, "maturation run failed"),
        }
        if let Err(e) = state
            .db(move |conn| crate::service::accounts::forget_old_attempts(conn, now))
            .await
        {
            tracing::error!(error = %e, "forgetting old login attempts failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(EVERY) => {}
            _ = stop.changed() => return,
        }
    }
}
