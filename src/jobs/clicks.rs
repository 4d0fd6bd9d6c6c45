//! The click writer: every redirect's click is written in a batch (one transaction per batch:
//! group commit), and each request is answered only after its batch is committed. On
//! shutdown the writer drains what it holds before exiting.
//!
//! An HTTP worker gathers the clicks it takes in one round of its event loop (every request
//! it read before it runs out of ready ones), then hands them over as one batch. On SQLite,
//! if no other thread of this process is writing at that moment (the process's writer turn,
//! `db::try_writer_turn`, is free), the worker writes that batch itself on its own
//! connection: a commit there is a local write of a few pages, and handing each round to
//! another thread and back cost more than the write (two thread wake-ups per round; measured
//! on a 2-core VM, one worker, alternating runs: 26-34k -> 32-39k redirects/s, CPU per click
//! 33-40 -> 27-32 µs). Otherwise — the turn is taken (another worker, a
//! postback batch), another process holds SQLite's lock, anything fails, or the database is
//! PostgreSQL, where a write is network round trips that must not stall the event loop —
//! the round goes to the writer thread, which waits for its turn and writes every round
//! waiting, and every round that arrives while it writes, in one transaction (at most
//! `MAX_BATCH` clicks). Either way one transaction writes clicks at a time.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{NaiveDateTime, TimeDelta};
use tokio::sync::oneshot;

use crate::db::click_store::{ClickConn, SqliteClicks, Visitor};
use crate::db::links::Committed;
use crate::db::models::{BatchTime, NewClick};
use crate::db::{self, Backend, Pool};
use crate::domain::clock::Clock;
use crate::domain::links::{click_id_for, visitor_key};
use crate::error::{AppError, AppResult};
use crate::jobs::batch;
use crate::jobs::checkpoint::WRITER_FRAMES;
use crate::jobs::live::LiveHub;
use crate::jobs::rollup::Reports;

pub const MAX_BATCH: usize = 512;
/// Rounds of clicks waiting for the writer thread before workers wait for room
/// (back-pressure).
pub const QUEUE: usize = 4096;
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
    tx: batch::Sender<Pending>,
    /// Tells this writer's clicks apart in a worker thread's outbox.
    id: u64,
    /// SQLite: what a worker needs to write its rounds itself.
    local: Option<Arc<LocalWrites>>,
}

/// The database URL (each worker opens its own connection to it), the clock, and where
/// commits report their clicks for the daily rollups (`jobs::rollup`).
struct LocalWrites {
    url: String,
    clock: Arc<dyn Clock>,
    reports: Arc<Reports>,
    live: Arc<LiveHub>,
}

/// The writer thread's end: the queue, the database URL (on SQLite it opens its own
/// connection), and on SQLite where commits report their clicks for the daily rollups.
pub struct ClickQueue {
    queue: batch::Queue<Pending>,
    url: String,
    reports: Option<Arc<Reports>>,
    live: Arc<LiveHub>,
}

/// The writer's handle and queue. On SQLite (`database_url`) workers also write rounds
/// themselves when they can (see the module notes). Each commit tells `live` which streams'
/// clicks it stored.
pub fn channel(
    database_url: &str,
    clock: Arc<dyn Clock>,
    live: Arc<LiveHub>,
) -> (ClickWriter, ClickQueue) {
    static NEXT_ID: AtomicU64 = AtomicU64::new(0);
    let (tx, rx) = batch::channel(QUEUE);
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let local = (Backend::of_url(database_url) == Backend::Sqlite).then(|| {
        Arc::new(LocalWrites {
            url: database_url.to_owned(),
            clock,
            reports: Arc::new(Reports::default()),
            live: live.clone(),
        })
    });
    let queue = ClickQueue {
        queue: rx,
        url: database_url.to_owned(),
        reports: local.as_ref().map(|l| l.reports.clone()),
        live,
    };
    (ClickWriter { tx, id, local }, queue)
}

/// One writer's clicks on one worker thread: the current round's, and the worker's own
/// connection once it has written a round.
struct Outbox {
    writer: u64,
    clicks: Vec<Pending>,
    conn: Option<ClickConn>,
}

thread_local! {
    /// This HTTP worker thread's outboxes (one per writer: one in a running server).
    static OUTBOX: RefCell<Vec<Outbox>> = const { RefCell::new(Vec::new()) };
}

fn with_outbox<T>(writer: u64, f: impl FnOnce(&mut Outbox) -> T) -> T {
    OUTBOX.with_borrow_mut(|outboxes| {
        let i = match outboxes.iter().position(|o| o.writer == writer) {
            Some(i) => i,
            None => {
                outboxes.push(Outbox {
                    writer,
                    clicks: Vec::new(),
                    conn: None,
                });
                outboxes.len() - 1
            }
        };
        f(&mut outboxes[i])
    })
}

impl ClickWriter {
    /// Records a click and returns its click id once it is committed. Runs on an HTTP
    /// worker (a tokio `LocalSet`, as every actix handler does).
    pub async fn record(&self, input: ClickInput) -> AppResult<String> {
        let (reply, answer) = oneshot::channel();
        let opens_round = with_outbox(self.id, |o| {
            o.clicks.push(Pending { input, reply });
            o.clicks.len() == 1
        });
        if opens_round {
            // A task of its own, so a request dropped meanwhile (its client went away)
            // cannot strand the others' clicks.
            tokio::task::spawn_local(self.clone().hand_over());
        }
        match answer.await {
            Ok(Ok(id)) => Ok(id),
            Ok(Err(e)) => Err(AppError::Internal(anyhow::anyhow!("click not stored: {e}"))),
            Err(_) => Err(AppError::Internal(anyhow::anyhow!(
                "the click writer stopped before committing"
            ))),
        }
    }

    /// Once the other requests of this round have added their clicks, writes them here or
    /// hands them to the writer thread. The task yields (it runs again after every task
    /// already woken and the next look for ready sockets) until a pass brings no more clicks
    /// or the batch is full. If the writer has stopped, the clicks are dropped and their
    /// requests get an error.
    async fn hand_over(self) {
        let mut seen = 0;
        loop {
            tokio::task::yield_now().await;
            let n = with_outbox(self.id, |o| o.clicks.len());
            if n == seen || n >= MAX_BATCH {
                break;
            }
            seen = n;
        }
        let clicks = match &self.local {
            Some(local) => with_outbox(self.id, |o| {
                let clicks = std::mem::take(&mut o.clicks);
                let mut left = local.write_here(&mut o.conn, clicks);
                if left.is_empty() {
                    // The next round fills the emptied vector: growing a new one each round
                    // (reallocations, and glibc merging its free lists for the larger ones)
                    // was ~1 % of the worker's time.
                    std::mem::swap(&mut o.clicks, &mut left);
                }
                left
            }),
            None => with_outbox(self.id, |o| std::mem::take(&mut o.clicks)),
        };
        if !clicks.is_empty() && self.tx.send_all(clicks).await.is_err() {
            tracing::error!("the click writer has stopped; clicks not stored");
        }
    }

    /// On SQLite, where this writer's commits report their clicks for the background daily
    /// rollup (`jobs::rollup`, which the server starts with it).
    pub fn rollup_reports(&self) -> Option<Arc<Reports>> {
        self.local.as_ref().map(|l| l.reports.clone())
    }

    /// Asks the writer to write what it holds and exit (used at shutdown).
    pub async fn stop(&self) {
        self.tx.stop().await;
    }
}

impl LocalWrites {
    /// Writes a round on this worker's connection if this process's writer turn is free and
    /// SQLite's lock can be taken at once, answering its requests; otherwise (or if anything
    /// fails, in which case nothing was written) returns the clicks for the writer thread.
    /// Once they are answered, returns the emptied vector.
    fn write_here(&self, conn: &mut Option<ClickConn>, clicks: Vec<Pending>) -> Vec<Pending> {
        if clicks.is_empty() {
            return clicks;
        }
        let Some(_turn) = db::try_writer_turn() else {
            return clicks;
        };
        let mut clicks = clicks;
        let mut handed_back = false;
        batch::survive_panic("click", conn, |conn| {
            match self.try_write(conn, &mut clicks) {
                Ok(ids) => answer(clicks.drain(..), Ok(ids)),
                Err(e) => {
                    // Mostly SQLite's lock held by another process: the writer thread waits.
                    tracing::debug!(error = %e, "clicks handed to the writer thread");
                    if conn.as_mut().is_some_and(ClickConn::is_broken) {
                        *conn = None;
                    }
                    handed_back = true;
                }
            }
        });
        if !handed_back {
            // Answered; or lost to a panic (dropped here, their requests get an error), as on
            // the writer thread. The emptied vector keeps its room for the next round.
            clicks.clear();
        }
        clicks
    }

    fn try_write(
        &self,
        conn: &mut Option<ClickConn>,
        batch: &mut Vec<Pending>,
    ) -> AppResult<Vec<String>> {
        let c = match conn {
            Some(c) => c,
            // Never waits for another process's lock on the event loop.
            None => conn.insert(ClickConn::Sqlite(SqliteClicks::open(
                &self.url,
                Some(0),
                WRITER_FRAMES,
            )?)),
        };
        write_clicks(
            c,
            self.clock.now(),
            batch,
            |_| false,
            Some(&self.reports),
            &self.live,
        )
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
    let ClickQueue {
        mut queue,
        url,
        reports,
        live,
    } = queue;
    let mut conn: Option<ClickConn> = None;
    // Clicks that arrive while a batch is written join it until it commits; those that come
    // during the commit form the next one. (Waiting for more only adds latency: the load is
    // closed-loop, so a batch cannot outgrow the clicks in flight.)
    while let Some(mut batch) = queue.next_batch(MAX_BATCH) {
        if batch.is_empty() {
            continue;
        }
        batch::survive_panic("click", &mut conn, |conn| {
            let result = (|| {
                let c = match conn {
                    Some(c) => c,
                    None => conn.insert(writer_connection(&pool, &url)?),
                };
                write_clicks(
                    c,
                    clock.now(),
                    &mut batch,
                    |batch| queue.take_waiting(batch, MAX_BATCH),
                    reports.as_deref(),
                    &live,
                )
            })();
            if result.is_err() {
                // A fresh connection next time, in case this one broke.
                *conn = None;
            }
            answer(batch.drain(..), result);
        });
    }
}

/// Writes `batch` in one transaction, with the clicks `more` adds to it while it is written
/// (late joiners, until `more` finds none); returns the click ids, in order. On an error
/// nothing was written. The daily rollups: on PostgreSQL the transaction adds to them; on
/// SQLite, once it has committed, it reports its clicks to `reports` for the rollup job.
/// Once committed, the live hub hears of the streams whose clicks it stored.
fn write_clicks(
    conn: &mut ClickConn,
    now: NaiveDateTime,
    batch: &mut Vec<Pending>,
    mut more: impl FnMut(&mut Vec<Pending>) -> bool,
    reports: Option<&Reports>,
    live: &LiveHub,
) -> AppResult<Vec<String>> {
    let (ids, commit) = conn.write(|c| {
        let mut commit = Commit::default();
        let mut ids = Vec::with_capacity(batch.len());
        loop {
            ids.extend(commit.store(c, now, &batch[ids.len()..])?);
            if !more(batch) {
                break;
            }
        }
        if let Some(pg) = c.pg() {
            commit.bump_daily(pg, now)?;
        }
        Ok((ids, commit))
    })?;
    for &stream in &commit.streams {
        live.touch(stream);
    }
    if let Some(reports) = reports
        && let Some(committed) = commit.committed(now)
    {
        reports.add(committed);
    }
    Ok(ids)
}

/// Answers each request of a batch: its click id, or the error (never a redirect for a click
/// that was not stored).
fn answer(batch: impl ExactSizeIterator<Item = Pending>, result: AppResult<Vec<String>>) {
    match result {
        Ok(ids) => {
            for (pending, id) in batch.zip(ids) {
                let _ = pending.reply.send(Ok(id));
            }
        }
        Err(e) => {
            tracing::error!(error = %e, clicks = batch.len(), "click batch failed");
            for pending in batch {
                let _ = pending.reply.send(Err(e.to_string()));
            }
        }
    }
}

/// The writer thread's connection: on SQLite one of its own, whose commits leave WAL
/// checkpoints to the background checkpointer (`jobs::checkpoint`) unless the WAL grows past
/// `WRITER_FRAMES`; on PostgreSQL one from the pool.
fn writer_connection(pool: &Pool, url: &str) -> AppResult<ClickConn> {
    Ok(match Backend::of_url(url) {
        Backend::Sqlite => ClickConn::Sqlite(SqliteClicks::open(url, None, WRITER_FRAMES)?),
        Backend::Postgres => ClickConn::Pg {
            conn: pool.get()?,
            ids: db::links::ClickIds::default(),
        },
    })
}

/// A visitor seen in this commit: IP hash, user-agent hash, clicked within the window (before
/// this commit's first click of theirs, then since).
type SeenVisitor = (String, String, bool);

/// The clicks of one commit so far: which visitors have clicked (each looked up in the
/// database once per commit, then marked by their first click here), per-link counts for
/// the daily rollups, and the row ids written.
#[derive(Default)]
struct Commit {
    /// (link, visitor key) -> the visitors under that key (more than one only if their keys
    /// collide): their IP and user-agent hashes, and whether they clicked within the repeat
    /// window.
    visitors: HashMap<(i64, i64), Vec<SeenVisitor>>,
    /// link -> (clicks, unique clicks, bot clicks).
    daily: HashMap<i64, (i64, i64, i64)>,
    /// The first and last row ids written (consecutive on SQLite).
    rows: Option<(i64, i64)>,
    /// The streams of the links clicked (few: a small vector).
    streams: Vec<i64>,
    /// The links clicked that belong to a stream.
    streamed: Vec<i64>,
}

impl Commit {
    /// Inserts these clicks with their repeat flags; returns their click ids.
    fn store(
        &mut self,
        conn: &mut ClickConn,
        now: NaiveDateTime,
        pending: &[Pending],
    ) -> AppResult<Vec<String>> {
        let since = BatchTime::new(now - TimeDelta::minutes(REPEAT_WINDOW_MINUTES));
        let created_at = BatchTime::new(now);
        let row_ids = conn.next_ids(pending.len())?;
        let ids: Vec<String> = row_ids.iter().map(|&id| click_id_for(id)).collect();
        let keys: Vec<i64> = pending
            .iter()
            .map(|p| visitor_key(&p.input.ip_hash, &p.input.ua_hash))
            .collect();
        // The visitors this commit has not seen yet, looked up together (one round trip on
        // PostgreSQL). Looked up by key, so the hashes are copied only for a visitor's first
        // click here.
        let mut lookups = Vec::new();
        for (p, &key) in pending.iter().zip(&keys) {
            let c = &p.input;
            let seen = self.visitors.entry((c.link_id, key)).or_default();
            if !seen
                .iter()
                .any(|(ip, ua, _)| *ip == c.ip_hash && *ua == c.ua_hash)
            {
                seen.push((c.ip_hash.clone(), c.ua_hash.clone(), false));
                lookups.push(Visitor {
                    link_id: c.link_id,
                    key,
                    ip_hash: &c.ip_hash,
                    ua_hash: &c.ua_hash,
                });
            }
        }
        let clicked = conn.recent_visitors(&lookups, &since)?;
        for (v, clicked) in lookups.iter().zip(clicked) {
            if let Some(seen) = self.visitors.get_mut(&(v.link_id, v.key))
                && let Some(entry) = seen
                    .iter_mut()
                    .find(|(ip, ua, _)| ip == v.ip_hash && ua == v.ua_hash)
            {
                entry.2 = clicked;
            }
        }
        let mut rows = Vec::with_capacity(pending.len());
        for (((p, click_id), &id), &visitor) in pending.iter().zip(&ids).zip(&row_ids).zip(&keys) {
            let c = &p.input;
            // Each visitor's first click here takes what the lookup found; later ones are
            // repeats of it.
            let is_repeat = self
                .visitors
                .get_mut(&(c.link_id, visitor))
                .and_then(|seen| {
                    seen.iter_mut()
                        .find(|(ip, ua, _)| *ip == c.ip_hash && *ua == c.ua_hash)
                })
                .is_some_and(|(_, _, clicked)| std::mem::replace(clicked, true));
            rows.push(NewClick {
                id,
                click_id,
                link_id: c.link_id,
                stream_id: c.stream_id,
                created_at: &created_at,
                ip_hash: &c.ip_hash,
                ua_hash: &c.ua_hash,
                referrer_host: c.referrer_host.as_deref(),
                is_bot: c.is_bot,
                is_repeat,
                visitor_key: visitor,
            });
            if let Some(stream) = c.stream_id {
                if !self.streams.contains(&stream) {
                    self.streams.push(stream);
                }
                if !self.streamed.contains(&c.link_id) {
                    self.streamed.push(c.link_id);
                }
            }
            let d = self.daily.entry(c.link_id).or_default();
            d.0 += 1;
            if !is_repeat && !c.is_bot {
                d.1 += 1;
            }
            if c.is_bot {
                d.2 += 1;
            }
        }
        if let (Some(&first), Some(&last)) = (row_ids.first(), row_ids.last()) {
            self.rows = Some(match self.rows {
                Some((from, _)) => (from, last),
                None => (first, last),
            });
        }
        conn.insert(&rows)?;
        Ok(ids)
    }

    /// Adds this commit's counts to the rollups, `link_daily`, `stats_quarters` and, for
    /// streams' links, `stream_minutes`, and tells the other nodes which streams changed
    /// (PostgreSQL).
    fn bump_daily(&self, conn: &mut db::DbConn, now: NaiveDateTime) -> AppResult<()> {
        let day = now.format("%Y-%m-%d").to_string();
        let quarter = db::stats::quarter_of(now);
        let minute = db::live::minute_of(now);
        for (&link, &(n, unique, bots)) in &self.daily {
            db::links::bump_daily(conn, link, &day, n, unique, bots)?;
            db::stats::bump_clicks(conn, link, quarter, n, unique, bots)?;
            if self.streamed.contains(&link) {
                db::live::bump_clicks(conn, link, minute, n, unique, bots)?;
            }
        }
        for &stream in &self.streams {
            db::live::notify(conn, stream)?;
        }
        Ok(())
    }

    /// What the rollup job needs of this commit once it is committed (SQLite); `None` if it
    /// wrote nothing.
    fn committed(self, now: NaiveDateTime) -> Option<Committed> {
        let (first, last) = self.rows?;
        Some(Committed {
            first,
            last,
            day: now.format("%Y-%m-%d").to_string(),
            quarter: db::stats::quarter_of(now),
            minute: db::live::minute_of(now),
            streamed: self.streamed,
            links: self
                .daily
                .into_iter()
                .map(|(link, (n, unique, bots))| (link, n, unique, bots))
                .collect(),
        })
    }
}
