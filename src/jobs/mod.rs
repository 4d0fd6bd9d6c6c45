//! Background jobs, in-process: the click writer (group commit), commission maturation and
//! the email outbox dispatcher. Each job calls the same
//! database functions as the services and is safe to run on several app nodes at once.

pub mod clicks;
pub mod mail;
pub mod maturation;

use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::startup::AppState;

pub struct Jobs {
    stop: watch::Sender<bool>,
    handles: Vec<JoinHandle<()>>,
    clicks: clicks::ClickWriter,
    click_thread: Option<std::thread::JoinHandle<()>>,
}

impl Jobs {
    pub fn start(state: Arc<AppState>, queue: clicks::ClickQueue) -> Jobs {
        let (stop, stop_rx) = watch::channel(false);
        let click_thread = Some(clicks::spawn_writer(
            state.pool.clone(),
            state.clock.clone(),
            queue,
        ));
        let writer = state.clicks.clone();
        let handles = vec![
            tokio::spawn(maturation::run(state.clone(), stop_rx.clone())),
            tokio::spawn(mail::dispatcher(state, stop_rx)),
        ];
        Jobs {
            stop,
            handles,
            clicks: writer,
            click_thread,
        }
    }

    /// Asks every job to stop and waits for them.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        // The click writer writes what it holds before it exits.
        self.clicks.stop().await;
        if let Some(t) = self.click_thread.take() {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
        for h in self.handles {
            let _ = h.await;
        }
    }
}
