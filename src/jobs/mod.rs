//! Background jobs, in-process: for now the email outbox dispatcher. Each job calls the same
//! database functions as the services and is safe to run on several app nodes at once.

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
    pub fn start(state: Arc<AppState>) -> Jobs {
        let (stop, stop_rx) = watch::channel(false);
        let handles = vec![tokio::spawn(mail::dispatcher(state, stop_rx))];
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
