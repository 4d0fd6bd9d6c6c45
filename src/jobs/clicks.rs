//! The click writer: every redirect hands its click to one writer, which inserts clicks in
//! batches (one transaction per batch: group commit) and answers each request only after its
//! batch is committed. A batch is every click waiting when the writer is free, and every
//! click that arrives while it is written, until it commits (at most `MAX_BATCH`), so a busy
//! writer commits large batches and an idle one answers at once. On shutdown the writer
//! drains what it holds before exiting.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{NaiveDateTime, TimeDelta};
use tokio::sync::oneshot;

use crate::db::models::NewClick;
use crate::db::{self, Pool};
use crate::domain::clock::Clock;
use crate::domain::links::{click_id_for, visitor_key};
use crate::error::{AppError, AppResult};
use crate::jobs::batch;

pub const MAX_BATCH: usize = 512;
/// Clicks waiting for the writer before redirects wait for room (back-pressure).
pub const QUEUE: usize = 16_384;
/// A second click from the same (link, IP, user agent) within this window is a repeat.
pub const REPEAT_WINDOW_MINUTES: i64 = 60;

/// One click, as the redirect saw it.
#[derive(Debug, Clone)]
pub struct ClickInput {
    pub link_id: i64,
    pub stream_id: Option<i64>,
    pub ip_hash: String,
    pub ua_hash: String,
    pub referrer_host: Option<String>,
    pub is_bot: bool,
}

struct Pending {
    input: ClickInput,
    reply: oneshot::Sender<Result<String, String>>,
}

/// The handle redirects use; cheap to clone.
#[derive(Clone)]
pub struct ClickWriter(batch::Sender<Pending>);

pub struct ClickQueue(batch::Queue<Pending>);

pub fn channel() -> (ClickWriter, ClickQueue) {
    let (tx, rx) = batch::channel(QUEUE);
    (ClickWriter(tx), ClickQueue(rx))
}

impl ClickWriter {
    /// Records a click and returns its click id once it is committed.
    pub async fn record(&self, input: ClickInput) -> AppResult<String> {
        let (reply, answer) = oneshot::channel();
        self.0
            .send(Pending { input, reply })
            .await
            .map_err(|_| AppError::Internal(anyhow::anyhow!("the click writer has stopped")))?;
        match answer.await {
            Ok(Ok(id)) => Ok(id),
            Ok(Err(e)) => Err(AppError::Internal(anyhow::anyhow!("click not stored: {e}"))),
            Err(_) => Err(AppError::Internal(anyhow::anyhow!(
                "the click writer stopped before committing"
            ))),
        }
    }

    /// Asks the writer to write what it holds and exit (used at shutdown).
    pub async fn stop(&self) {
        self.0.stop().await;
    }
}

/// Runs the writer on its own thread with its own connection, until told to stop; then it
/// writes what is still queued and exits.
pub fn spawn_writer(
    pool: Pool,
    clock: Arc<dyn Clock>,
    queue: ClickQueue,
) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("click-writer".to_owned())
        .spawn(move || writer(pool, clock, queue))
        .expect("the click writer thread starts")
}

fn writer(pool: Pool, clock: Arc<dyn Clock>, queue: ClickQueue) {
    let mut queue = queue.0;
    let mut conn: Option<db::PooledConn> = None;
    let mut row_ids = db::links::ClickIds::default();
    // Clicks that arrive while a batch is written join it until it commits; those that come
    // during the commit form the next one. (Waiting for more only adds latency: the load is
    // closed-loop, so a batch cannot outgrow the clicks in flight.)
    while let Some(batch) = queue.next_batch(MAX_BATCH) {
        if !batch.is_empty() {
            batch::survive_panic("click", &mut conn, |conn| {
                write_batch(&pool, conn, &mut row_ids, &mut queue, clock.now(), batch)
            });
        }
    }
}

fn write_batch(
    pool: &Pool,
    conn: &mut Option<db::PooledConn>,
    row_ids: &mut db::links::ClickIds,
    queue: &mut batch::Queue<Pending>,
    now: NaiveDateTime,
    mut batch: Vec<Pending>,
) {
    let result = (|| -> AppResult<Vec<String>> {
        if conn.is_none() {
            *conn = Some(writer_connection(pool)?);
        }
        let c = conn
            .as_mut()
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("no connection")))?;
        db::write_tx(c, |c| {
            let mut commit = Commit::default();
            let mut ids = Vec::with_capacity(batch.len());
            loop {
                ids.extend(commit.store(c, row_ids, now, &batch[ids.len()..])?);
                // Clicks that came meanwhile share this commit instead of waiting for it.
                if !queue.take_waiting(&mut batch, MAX_BATCH) {
                    break;
                }
            }
            commit.bump_daily(c, now)?;
            Ok(ids)
        })
    })();
    match result {
        Ok(ids) => {
            for (pending, id) in batch.into_iter().zip(ids) {
                let _ = pending.reply.send(Ok(id));
            }
        }
        Err(e) => {
            // A fresh connection next time, in case this one broke.
            *conn = None;
            tracing::error!(error = %e, clicks = batch.len(), "click batch failed");
            for pending in batch {
                let _ = pending.reply.send(Err(e.to_string()));
            }
        }
    }
}

/// The writer's connection. On SQLite its commits leave WAL checkpoints to the background
/// checkpointer (`jobs::checkpoint`) unless the WAL grows past `WRITER_FRAMES`.
fn writer_connection(pool: &Pool) -> AppResult<db::PooledConn> {
    let mut conn = pool.get()?;
    if let db::DbConn::Sqlite(inner) = &mut *conn {
        use diesel::connection::SimpleConnection;
        inner.batch_execute(&format!(
            "PRAGMA wal_autocheckpoint = {}",
            crate::jobs::checkpoint::WRITER_FRAMES
        ))?;
    }
    Ok(conn)
}

/// The clicks of one commit so far: which visitors have clicked (each looked up in the
/// database once per commit, then marked by their first click here), and per-link counts.
#[derive(Default)]
struct Commit {
    /// (link, IP hash, user-agent hash) -> clicked within the repeat window.
    visitors: HashMap<(i64, String, String), bool>,
    /// link -> (clicks, unique clicks, bot clicks).
    daily: HashMap<i64, (i64, i64, i64)>,
}

impl Commit {
    /// Inserts these clicks with their repeat flags; returns their click ids.
    fn store(
        &mut self,
        conn: &mut db::DbConn,
        click_ids: &mut db::links::ClickIds,
        now: NaiveDateTime,
        pending: &[Pending],
    ) -> AppResult<Vec<String>> {
        let since = now - TimeDelta::minutes(REPEAT_WINDOW_MINUTES);
        let row_ids = click_ids.take(conn, pending.len())?;
        let ids: Vec<String> = row_ids.iter().map(|&id| click_id_for(id)).collect();
        let mut rows = Vec::with_capacity(pending.len());
        for ((p, click_id), &id) in pending.iter().zip(&ids).zip(&row_ids) {
            let c = &p.input;
            let visitor = visitor_key(&c.ip_hash, &c.ua_hash);
            let key = (c.link_id, c.ip_hash.clone(), c.ua_hash.clone());
            let is_repeat = match self.visitors.get_mut(&key) {
                Some(clicked) => std::mem::replace(clicked, true),
                None => {
                    let clicked = db::links::clicked_since(
                        conn, c.link_id, visitor, &c.ip_hash, &c.ua_hash, since,
                    )?;
                    self.visitors.insert(key, true);
                    clicked
                }
            };
            rows.push(NewClick {
                id,
                click_id,
                link_id: c.link_id,
                stream_id: c.stream_id,
                created_at: now,
                ip_hash: &c.ip_hash,
                ua_hash: &c.ua_hash,
                referrer_host: c.referrer_host.as_deref(),
                is_bot: c.is_bot,
                is_repeat,
                visitor_key: visitor,
            });
            let d = self.daily.entry(c.link_id).or_default();
            d.0 += 1;
            if !is_repeat && !c.is_bot {
                d.1 += 1;
            }
            if c.is_bot {
                d.2 += 1;
            }
        }
        db::links::insert_clicks(conn, &rows)?;
        Ok(ids)
    }

    /// Adds this commit's counts to the daily rollups.
    fn bump_daily(&self, conn: &mut db::DbConn, now: NaiveDateTime) -> AppResult<()> {
        let day = now.format("%Y-%m-%d").to_string();
        for (&link, &(n, unique, bots)) in &self.daily {
            db::links::bump_daily(conn, link, &day, n, unique, bots)?;
        }
        Ok(())
    }
}
