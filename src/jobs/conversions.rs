//! The conversion writer: signed postbacks are read, attributed and computed on the database
//! thread pool, then handed to this one writer, which writes every order waiting in one
//! transaction (group commit) and answers each request once that transaction is committed.
//!
//! Why: on SQLite only one transaction writes at a time. With each request writing its own
//! order, the write lock passed from thread to thread (a sleeping thread had to be woken
//! and scheduled each time) and a commit was paid per order. One writer keeps the lock busy
//! and pays one commit per batch.
//!
//! An order whose id is already taken writes nothing and is answered from the stored one.
//! If anything else fails inside a batch, the batch is rolled back and its orders are written
//! again one transaction each, so one bad order never costs another its answer. On shutdown
//! the writer drains what it holds before exiting.

use tokio::sync::{mpsc, oneshot};

use crate::db::{self, Pool};
use crate::error::{AppError, AppResult};
use crate::service::orders::{self as svc, Fail, PendingConversion, Recorded};

/// Orders written in one transaction at most.
pub const MAX_BATCH: usize = 64;
/// Orders waiting for the writer before postbacks wait for room (back-pressure).
pub const QUEUE: usize = 1024;

/// What the writer did with one order: stored it, or found its order id taken.
pub type Written = AppResult<Option<Recorded>>;

struct Job {
    pending: Box<PendingConversion>,
    reply: oneshot::Sender<(Box<PendingConversion>, Written)>,
}

enum Msg {
    Order(Job),
    /// Write what is queued, then exit.
    Stop,
}

/// The handle postbacks use; cheap to clone.
#[derive(Clone)]
pub struct ConversionWriter {
    tx: mpsc::Sender<Msg>,
}

pub struct ConversionQueue(mpsc::Receiver<Msg>);

pub fn channel() -> (ConversionWriter, ConversionQueue) {
    let (tx, rx) = mpsc::channel(QUEUE);
    (ConversionWriter { tx }, ConversionQueue(rx))
}

impl ConversionWriter {
    /// Writes a prepared order; answers once its transaction is committed, with the order
    /// back (for the duplicate check) and what was written.
    pub async fn write(
        &self,
        pending: Box<PendingConversion>,
    ) -> AppResult<(Box<PendingConversion>, Option<Recorded>)> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Msg::Order(Job { pending, reply }))
            .await
            .map_err(|_| {
                AppError::Internal(anyhow::anyhow!("the conversion writer has stopped"))
            })?;
        let (pending, written) = answer.await.map_err(|_| {
            AppError::Internal(anyhow::anyhow!(
                "the conversion writer stopped before committing"
            ))
        })?;
        Ok((pending, written?))
    }

    /// Asks the writer to write what it holds and exit (used at shutdown).
    pub async fn stop(&self) {
        let _ = self.tx.send(Msg::Stop).await;
    }
}

/// Runs the writer on its own thread with its own connection until told to stop; then it
/// writes what is still queued and exits.
pub fn spawn_writer(pool: Pool, queue: ConversionQueue) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("conversion-writer".to_owned())
        .spawn(move || writer(pool, queue))
        .expect("the conversion writer thread starts")
}

fn writer(pool: Pool, queue: ConversionQueue) {
    let mut rx = queue.0;
    let mut conn: Option<db::PooledConn> = None;
    while let Some(msg) = rx.blocking_recv() {
        let mut batch = Vec::new();
        let mut stopping = false;
        let mut push = |m: Msg, batch: &mut Vec<Job>| match m {
            Msg::Order(j) => batch.push(j),
            Msg::Stop => stopping = true,
        };
        push(msg, &mut batch);
        // Take what is waiting now; orders that arrive while this batch is written form the
        // next one (no idle wait: an idle writer answers a lone order at once).
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(m) => push(m, &mut batch),
                Err(_) => break,
            }
        }
        if stopping {
            rx.close();
        }
        if !batch.is_empty() {
            write_batch(&pool, &mut conn, batch);
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
