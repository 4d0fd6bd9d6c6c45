//! The click writer: every redirect hands its click to one writer, which inserts clicks in
//! batches (one transaction per batch: group commit) and answers each request only after its
//! batch is committed. A batch is every click waiting when the writer is free (at most
//! `MAX_BATCH`), so a busy writer commits large batches and an idle one answers at once. On
//! shutdown the writer drains what it holds before exiting.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{NaiveDateTime, TimeDelta};
use tokio::sync::oneshot;

use crate::db::models::NewClick;
use crate::db::{self, Pool};
use crate::domain::clock::Clock;
use crate::domain::links::new_click_id_at;
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
    // Clicks that arrive while a batch is written form the next one. (Waiting for more only
    // adds latency: the load is closed-loop, so a batch cannot outgrow the clicks in flight.)
    while let Some(batch) = queue.next_batch(MAX_BATCH) {
        if !batch.is_empty() {
            batch::survive_panic("click", &mut conn, |conn| {
                write_batch(&pool, conn, clock.now(), batch)
            });
        }
    }
}

fn write_batch(
    pool: &Pool,
    conn: &mut Option<db::PooledConn>,
    now: NaiveDateTime,
    batch: Vec<Pending>,
) {
    let (inputs, replies): (Vec<ClickInput>, Vec<_>) =
        batch.into_iter().map(|p| (p.input, p.reply)).unzip();
    let result = (|| -> AppResult<Vec<String>> {
        if conn.is_none() {
            *conn = Some(pool.get()?);
        }
        let c = conn
            .as_mut()
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("no connection")))?;
        db::write_tx(c, |c| store(c, now, &inputs))
    })();
    match result {
        Ok(ids) => {
            for (reply, id) in replies.into_iter().zip(ids) {
                let _ = reply.send(Ok(id));
            }
        }
        Err(e) => {
            // A fresh connection next time, in case this one broke.
            *conn = None;
            tracing::error!(error = %e, clicks = replies.len(), "click batch failed");
            for reply in replies {
                let _ = reply.send(Err(e.to_string()));
            }
        }
    }
}

/// Inserts the clicks of one batch with their repeat flags, and bumps the daily rollups.
fn store(
    conn: &mut db::DbConn,
    now: NaiveDateTime,
    inputs: &[ClickInput],
) -> AppResult<Vec<String>> {
    let since = now - TimeDelta::minutes(REPEAT_WINDOW_MINUTES);
    // Visitors seen in this batch or, once per distinct visitor, in the database.
    let mut seen: HashSet<(i64, &str, &str)> = HashSet::new();
    let mut checked: HashSet<(i64, &str, &str)> = HashSet::new();
    for c in inputs {
        let key = (c.link_id, c.ip_hash.as_str(), c.ua_hash.as_str());
        if checked.insert(key)
            && db::links::clicked_since(conn, c.link_id, &c.ip_hash, &c.ua_hash, since)?
        {
            seen.insert(key);
        }
    }
    let day = now.format("%Y-%m-%d").to_string();
    let now_ms = u64::try_from(now.and_utc().timestamp_millis()).unwrap_or(0);
    let mut daily: HashMap<i64, (i64, i64, i64)> = HashMap::new();
    let ids: Vec<String> = inputs.iter().map(|_| new_click_id_at(now_ms)).collect();
    let mut rows = Vec::with_capacity(inputs.len());
    for (c, click_id) in inputs.iter().zip(&ids) {
        let is_repeat = !seen.insert((c.link_id, c.ip_hash.as_str(), c.ua_hash.as_str()));
        rows.push(NewClick {
            click_id,
            link_id: c.link_id,
            stream_id: c.stream_id,
            created_at: now,
            ip_hash: &c.ip_hash,
            ua_hash: &c.ua_hash,
            referrer_host: c.referrer_host.as_deref(),
            is_bot: c.is_bot,
            is_repeat,
        });
        let d = daily.entry(c.link_id).or_default();
        d.0 += 1;
        if !is_repeat && !c.is_bot {
            d.1 += 1;
        }
        if c.is_bot {
            d.2 += 1;
        }
    }
    db::links::insert_clicks(conn, &rows)?;
    for (link, (n, unique, bots)) in daily {
        db::links::bump_daily(conn, link, &day, n, unique, bots)?;
    }
    Ok(ids)
}
