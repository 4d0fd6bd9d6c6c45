//! The conversion writer: signed postbacks are read, attributed and computed on the database
//! thread pool, then handed to this one writer, which writes every order waiting in one
//! transaction (group commit) and answers each request once that transaction is committed.
//!
//! Why: on SQLite only one transaction writes at a time. With each request writing its own
//! order, the write lock passed from thread to thread (a sleeping thread had to be woken
//! and scheduled each time) and a commit was paid per order. One writer keeps the lock busy
//! and pays one commit per batch. PostgreSQL writes in parallel and each statement is a
//! round trip, so there several writers take batches from the same queue (two batches with
//! the same order id: the second waits for the first's unique key and finds it taken).
//!
//! An order whose id is already taken writes nothing and is answered from the stored one.
//! If anything else fails inside a batch, the batch is rolled back and its orders are written
//! again one transaction each, so one bad order never costs another its answer. On shutdown
//! the writer drains what it holds before exiting.

use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use crate::db::{self, Backend, Pool};
use crate::error::{AppError, AppResult};
use crate::jobs::batch;
use crate::service::orders::{self as svc, Fail, PendingConversion, Recorded};

/// Orders written in one transaction at most.
pub const MAX_BATCH: usize = 64;
/// Orders waiting for the writer before postbacks wait for room (back-pressure).
pub const QUEUE: usize = 1024;
/// Writers on PostgreSQL (SQLite has one: it writes one transaction at a time).
pub const POSTGRES_WRITERS: usize = 4;

/// What the writer did with one order: stored it, or found its order id taken.
pub type Written = AppResult<Option<Recorded>>;

struct Job {
    pending: Box<PendingConversion>,
    reply: oneshot::Sender<(Box<PendingConversion>, Written)>,
}

/// The handle postbacks use; cheap to clone.
#[derive(Clone)]
pub struct ConversionWriter(batch::Sender<Job>);

pub struct ConversionQueue(batch::Queue<Job>);

pub fn channel() -> (ConversionWriter, ConversionQueue) {
    let (tx, rx) = batch::channel(QUEUE);
    (ConversionWriter(tx), ConversionQueue(rx))
}

impl ConversionWriter {
    /// Writes a prepared order; answers once its transaction is committed, with the order
    /// back (for the duplicate check) and what was written.
    pub async fn write(
        &self,
        pending: Box<PendingConversion>,
    ) -> AppResult<(Box<PendingConversion>, Option<Recorded>)> {
        let (reply, answer) = oneshot::channel();
        self.0.send(Job { pending, reply }).await.map_err(|_| {
            AppError::Internal(anyhow::anyhow!("the conversion writer has stopped"))
        })?;
        let (pending, written) = answer.await.map_err(|_| {
            AppError::Internal(anyhow::anyhow!(
                "the conversion writer stopped before committing"
            ))
        })?;
        Ok((pending, written?))
    }

    /// Asks the writers to write what they hold and exit (used at shutdown).
    pub async fn stop(&self) {
        self.0.stop().await;
    }
}

/// Runs the writers (one on SQLite, `POSTGRES_WRITERS` on PostgreSQL), each on its own thread
/// with its own connection, until told to stop; then they write what is still queued and
/// exit.
pub fn spawn_writers(
    pool: Pool,
    backend: Backend,
    queue: ConversionQueue,
) -> Vec<std::thread::JoinHandle<()>> {
    let writers = match backend {
        Backend::Sqlite => 1,
        Backend::Postgres => POSTGRES_WRITERS,
    };
    let queue = Arc::new(Mutex::new(queue.0));
    (0..writers)
        .map(|n| {
            let (pool, queue) = (pool.clone(), queue.clone());
            std::thread::Builder::new()
                .name(format!("conversion-writer-{n}"))
                .spawn(move || writer(pool, queue))
                .expect("the conversion writer thread starts")
        })
        .collect()
}

fn writer(pool: Pool, queue: Arc<Mutex<batch::Queue<Job>>>) {
    let mut conn: Option<db::PooledConn> = None;
    loop {
        // One writer at a time waits for the next batch; the others write theirs meanwhile.
        // (A writer that panicked cannot leave the queue half-read: take it back.)
        let next = queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .next_batch(MAX_BATCH);
        match next {
            Some(batch) if batch.is_empty() => {}
            Some(batch) => batch::survive_panic("conversion", &mut conn, |conn| {
                write_batch(&pool, conn, batch)
            }),
            None => return,
        }
    }
}

fn write_batch(pool: &Pool, conn: &mut Option<db::PooledConn>, batch: Vec<Job>) {
    let c = match conn {
        Some(c) => c,
        None => match pool.get() {
            Ok(c) => conn.insert(c),
            Err(e) => {
                let e = AppError::from(e);
                tracing::error!(error = %e, orders = batch.len(), "conversion writer has no connection");
                for job in batch {
                    let _ = job.reply.send((job.pending, Err(copy_error(&e))));
                }
                return;
            }
        },
    };
    let together = db::write_tx(c, |c| {
        batch
            .iter()
            .map(|job| svc::store_conversion(c, &job.pending))
            .collect::<Result<Vec<_>, Fail>>()
    });
    let mut broken = false;
    match together {
        Ok(written) => {
            for (job, w) in batch.into_iter().zip(written) {
                let _ = job.reply.send((job.pending, Ok(w)));
            }
        }
        Err(e) if batch.len() == 1 => {
            broken = matches!(e, Fail::App(_));
            if let Some(job) = batch.into_iter().next() {
                let _ = job.reply.send((job.pending, written(e)));
            }
        }
        Err(e) => {
            // Something in the batch failed and the batch was rolled back: each order again
            // in its own transaction, so only the one at fault gets an error.
            let why = match e {
                Fail::Duplicate => "a unique constraint".to_owned(),
                Fail::App(e) => e.to_string(),
            };
            tracing::warn!(error = %why, orders = batch.len(), "conversion batch failed; writing its orders one by one");
            for job in batch {
                let w = db::write_tx(c, |c| svc::store_conversion(c, &job.pending));
                broken |= matches!(w, Err(Fail::App(_)));
                let _ = job.reply.send((job.pending, w.map_or_else(written, Ok)));
            }
        }
    }
    if broken {
        // A fresh connection next time, in case this one broke.
        *conn = None;
    }
}

/// A failed write, as the order's answer: a taken order id is answered from the stored one.
fn written(e: Fail) -> Written {
    match e {
        Fail::Duplicate => Ok(None),
        Fail::App(e) => Err(e),
    }
}

/// The same failure for each order that shared it (errors are not `Clone`).
fn copy_error(e: &AppError) -> AppError {
    AppError::Internal(anyhow::anyhow!("order not stored: {e}"))
}
