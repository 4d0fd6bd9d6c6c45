//! The click writer: every redirect hands its click to one writer, which inserts clicks in
//! batches (one transaction per batch: group commit) and answers each request only after its
//! batch is committed. A batch closes after `MAX_BATCH` clicks or `MAX_WAIT`, whichever
//! comes first. On shutdown the writer drains what it holds before exiting.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDateTime, TimeDelta};
use tokio::sync::{mpsc, oneshot, watch};

use crate::db::models::NewClick;
use crate::db::{self, Pool};
use crate::domain::clock::Clock;
use crate::domain::links::new_click_id;
use crate::error::{AppError, AppResult};

pub const MAX_BATCH: usize = 512;
pub const MAX_WAIT: Duration = Duration::from_millis(2);
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
pub struct ClickWriter {
    tx: mpsc::Sender<Pending>,
}

pub struct ClickQueue(mpsc::Receiver<Pending>);

pub fn channel() -> (ClickWriter, ClickQueue) {
    let (tx, rx) = mpsc::channel(QUEUE);
    (ClickWriter { tx }, ClickQueue(rx))
}

impl ClickWriter {
    /// Records a click and returns its click id once it is committed.
    pub async fn record(&self, input: ClickInput) -> AppResult<String> {
        let (reply, answer) = oneshot::channel();
        self.tx
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
}

/// Runs the writer until `stop` is set; then drains the queue and exits.
pub async fn writer(
    pool: Pool,
    clock: Arc<dyn Clock>,
    queue: ClickQueue,
    mut stop: watch::Receiver<bool>,
) {
    let mut rx = queue.0;
    loop {
        let first = tokio::select! {
            msg = rx.recv() => msg,
            _ = stop.changed() => {
                rx.close();
                None
            }
        };
        let Some(first) = first else {
            // Stopping (or every sender gone): write whatever is still queued.
            let mut rest = Vec::new();
            while let Ok(p) = rx.try_recv() {
                rest.push(p);
            }
            if !rest.is_empty() {
                write_batch(&pool, clock.now(), rest).await;
            }
            return;
        };
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + MAX_WAIT;
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(p)) => batch.push(p),
                    _ => break,
                },
            }
        }
        write_batch(&pool, clock.now(), batch).await;
    }
}

async fn write_batch(pool: &Pool, now: NaiveDateTime, batch: Vec<Pending>) {
    let inputs: Vec<ClickInput> = batch.iter().map(|p| p.input.clone()).collect();
    let pool = pool.clone();
    let result = tokio::task::spawn_blocking(move || -> AppResult<Vec<String>> {
        let mut conn = pool.get()?;
        db::write_tx(&mut conn, |conn| store(conn, now, &inputs))
    })
    .await;
    match result {
        Ok(Ok(ids)) => {
            for (p, id) in batch.into_iter().zip(ids) {
                let _ = p.reply.send(Ok(id));
            }
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, clicks = batch.len(), "click batch failed");
            for p in batch {
                let _ = p.reply.send(Err(e.to_string()));
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "click batch task failed");
            for p in batch {
                let _ = p.reply.send(Err("writer task failed".to_owned()));
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
    let mut seen: HashMap<i64, HashSet<(String, String)>> = HashMap::new();
    let links: HashSet<i64> = inputs.iter().map(|c| c.link_id).collect();
    for link in links {
        let ips: Vec<String> = inputs
            .iter()
            .filter(|c| c.link_id == link)
            .map(|c| c.ip_hash.clone())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let mut set = HashSet::new();
        for chunk in ips.chunks(500) {
            set.extend(db::links::recent_visitors(conn, link, since, chunk)?);
        }
        seen.insert(link, set);
    }
    let day = now.format("%Y-%m-%d").to_string();
    let mut daily: HashMap<i64, (i64, i64, i64)> = HashMap::new();
    let mut ids = Vec::with_capacity(inputs.len());
    for c in inputs {
        let key = (c.ip_hash.clone(), c.ua_hash.clone());
        let set = seen.entry(c.link_id).or_default();
        let is_repeat = !set.insert(key);
        let click_id = new_click_id();
        db::links::insert_click(
            conn,
            &NewClick {
                click_id: click_id.clone(),
                link_id: c.link_id,
                stream_id: c.stream_id,
                created_at: now,
                ip_hash: c.ip_hash.clone(),
                ua_hash: c.ua_hash.clone(),
                referrer_host: c.referrer_host.clone(),
                is_bot: c.is_bot,
                is_repeat,
            },
        )?;
        let d = daily.entry(c.link_id).or_default();
        d.0 += 1;
        if !is_repeat && !c.is_bot {
            d.1 += 1;
        }
        if c.is_bot {
            d.2 += 1;
        }
        ids.push(click_id);
    }
    for (link, (n, unique, bots)) in daily {
        db::links::bump_daily(conn, link, &day, n, unique, bots)?;
    }
    Ok(ids)
}
