//! Background jobs, in-process: the click and conversion writers (group commit), SQLite's WAL
//! checkpoints and daily click rollups, commission maturation and the email outbox
//! dispatcher. Each job calls the same database functions as the services and is safe to run
//! on several app nodes at once.

pub mod batch;
pub mod billing;
pub mod checkpoint;
pub mod clicks;
pub mod conversions;
pub mod live;
pub mod mail;
pub mod maturation;
pub mod payouts;
pub mod rollup;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::startup::AppState;

pub struct Jobs {
    stop: watch::Sender<bool>,
    handles: Vec<JoinHandle<()>>,
    clicks: clicks::ClickWriter,
    conversions: conversions::ConversionWriter,
    writer_threads: Vec<std::thread::JoinHandle<()>>,
    /// Background threads (SQLite's click rollups and WAL checkpoints; PostgreSQL's live
    /// listener), each with its stop flag, in the order they stop.
    sqlite_threads: Vec<(Arc<AtomicBool>, std::thread::JoinHandle<()>)>,
}

/// The queues the writers read, made with `AppState` (which holds their senders).
pub struct Queues {
    pub clicks: clicks::ClickQueue,
    pub conversions: conversions::ConversionQueue,
    /// Where the PostgreSQL live listener connects.
    pub database_url: String,
}

impl Jobs {
    pub fn start(state: Arc<AppState>, queues: Queues) -> Jobs {
        let (stop, stop_rx) = watch::channel(false);
        let mut sqlite_threads = Vec::new();
        if let Some(reports) = state.clicks.rollup_reports() {
            let stop = Arc::new(AtomicBool::new(false));
            let thread = rollup::spawn(state.pool.clone(), reports, stop.clone());
            sqlite_threads.push((stop, thread));
        }
        if state.backend == crate::db::Backend::Sqlite {
            let stop = Arc::new(AtomicBool::new(false));
            let thread = checkpoint::spawn(state.pool.clone(), stop.clone());
            sqlite_threads.push((stop, thread));
        } else {
            // The other nodes' commits reach this node's live boards.
            let stop = Arc::new(AtomicBool::new(false));
            let thread =
                live::spawn_listener(queues.database_url, state.live.clone(), stop.clone());
            sqlite_threads.push((stop, thread));
        }
        let mut writer_threads = vec![clicks::spawn_writer(
            state.pool.clone(),
            state.clock.clone(),
            queues.clicks,
        )];
        writer_threads.extend(conversions::spawn_writers(
            state.pool.clone(),
            state.backend,
            queues.conversions,
        ));
        let (clicks, conversions) = (state.clicks.clone(), state.conversions.clone());
        let mut handles = vec![
            tokio::spawn(maturation::run(state.clone(), stop_rx.clone())),
            tokio::spawn(live::sweep(state.clone(), stop_rx.clone())),
        ];
        if state.scheduler {
            handles.push(tokio::spawn(payouts::run(state.clone(), stop_rx.clone())));
            handles.push(tokio::spawn(billing::run(state.clone(), stop_rx.clone())));
        }
        handles.push(tokio::spawn(mail::dispatcher(state, stop_rx)));
        Jobs {
            stop,
            handles,
            clicks,
            conversions,
            writer_threads,
            sqlite_threads,
        }
    }

    /// Asks every job to stop and waits for them.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        // The writers write what they hold before they exit.
        self.clicks.stop().await;
        self.conversions.stop().await;
        for t in std::mem::take(&mut self.writer_threads) {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
        // After the writers: the rollup folds in their last clicks as it stops.
        for (stop, thread) in std::mem::take(&mut self.sqlite_threads) {
            stop.store(true, Ordering::Relaxed);
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        for h in self.handles {
            let _ = h.await;
        }
    }
}
