//! Background jobs, in-process: the click writer (group commit) and the email outbox
//! dispatcher. Each job calls the same
//! database functions as the services and is safe to run on several app nodes at once.

pub mod clicks;
pub mod mail;

use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::startup::AppState;

pub struct Jobs {
    stop: watch::Sender<bool>,
    handles: Vec<JoinHandle<()>>,
}

impl Jobs {
    pub fn start(state: Arc<AppState>, clicks: clicks::ClickQueue) -> Jobs {
        let (stop, stop_rx) = watch::channel(false);
        let handles = vec![
            tokio::spawn(clicks::writer(
                state.pool.clone(),
                state.clock.clone(),
                clicks,
                stop_rx.clone(),
            )),
            tokio::spawn(mail::dispatcher(state, stop_rx)),
        ];
        Jobs { stop, handles }
    }

    /// Asks every job to stop and waits for them.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for h in self.handles {
            let _ = h.await;
        }
    }
}
