//! The live hub: how a stream's open boards learn that its figures changed, without reading
//! the database per viewer.
//!
//! - The writers tell it after each commit: the click writer per batch (the streams of its
//!   clicks), the conversion writer per batch, the other order paths (Shopify, CSV import,
//!   refunds, reviews) per merchant. [`LiveHub::touch`] costs a map lookup when nobody
//!   watches the stream.
//! - On PostgreSQL every change also sends `NOTIFY tandem_live, '<stream id>'` in its
//!   transaction (`db::live::notify`); each node's [`spawn_listener`] thread `LISTEN`s on its
//!   own connection and touches its hub, so a board on node A sees a click stored by node B.
//! - A stream being watched has one [`Feed`]: a version counter the boards wait on, and the
//!   last board drawn per view (creator, each merchant; per time zone). A change makes the
//!   first board that wakes read the figures and draw them once; every other board of that
//!   view sends the same bytes. So a stream with 1,000 viewers costs one read per view per
//!   change (at most one a second: each board sends at most one event a second).
//! - [`sweep`] checks every connected board's session every [`SWEEP`] in one pass on the
//!   database pool, and ends the boards whose session was revoked (signed out, password
//!   changed, account disabled) or whose viewer lost access.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use actix_web::web::Bytes;
use tokio::sync::watch;

use crate::startup::AppState;

/// How often every connected board's session is checked.
pub const SWEEP: Duration = Duration::from_secs(15);
/// How often the PostgreSQL listener looks for notifications on its connection (reading the
/// socket, not querying), and how often it proves the connection alive with a query.
const LISTEN_POLL: Duration = Duration::from_millis(10);
const LISTEN_PING: Duration = Duration::from_secs(30);

/// What one view of a stream's board looks like at one version: its event id (a digest of
/// what it shows) and the whole server-sent event, ready to write.
#[derive(Debug)]
pub struct Snapshot {
    /// The feed's version it was drawn at (it shows at least every change up to it).
    pub version: u64,
    /// The minute (seconds since 1970) it was drawn in: "live for" and the chart's window
    /// move with the minutes even when nothing is stored.
    pub minute: i64,
    pub id: String,
    pub event: Bytes,
    /// The stream has ended: the board will not change (its event stream closes).
    pub ended: bool,
}

/// A watched stream.
pub struct Feed {
    pub stream_id: i64,
    version: watch::Sender<u64>,
    /// The merchants whose products the stream shows (for touches by merchant).
    merchants: Mutex<Vec<i64>>,
    /// The last snapshot per view; the lock is held while one is drawn, so that boards of the
    /// same view woken together draw it once.
    drawn: tokio::sync::Mutex<HashMap<String, Arc<Snapshot>>>,
}

impl Feed {
    /// A receiver that wakes on every change after this call.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }

    pub fn set_merchants(&self, merchants: Vec<i64>) {
        *self.merchants.lock().unwrap_or_else(|p| p.into_inner()) = merchants;
    }

    fn has_merchant(&self, merchant_id: i64) -> bool {
        self.merchants
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&merchant_id)
    }

    fn bump(&self) {
        self.version.send_modify(|v| *v += 1);
    }

    /// The view's snapshot showing every change so far in this `minute`: the one drawn
    /// already if it is recent enough, else drawn now by `draw` (given the version it is
    /// drawn at).
    pub async fn snapshot<F, Fut, E>(
        &self,
        view: &str,
        minute: i64,
        draw: F,
    ) -> Result<Arc<Snapshot>, E>
    where
        F: FnOnce(u64) -> Fut,
        Fut: std::future::Future<Output = Result<Snapshot, E>>,
    {
        let mut drawn = self.drawn.lock().await;
        // Read under the lock: a change after this is drawn by the next caller.
        let version = *self.version.borrow();
        if let Some(s) = drawn.get(view)
            && s.version >= version
            && s.minute == minute
        {
            return Ok(s.clone());
        }
        let snapshot = Arc::new(draw(version).await?);
        drawn.insert(view.to_owned(), snapshot.clone());
        Ok(snapshot)
    }
}

/// A connected board, for the session sweep.
#[derive(Debug, Clone)]
pub struct Watcher {
    /// The session cookie's token, user and session version.
    pub token: String,
    pub user_id: i64,
    pub session_version: i64,
    pub stream_id: i64,
    /// `None`: the creator's board; else that merchant's.
    pub merchant_id: Option<i64>,
}

struct Watched {
    watcher: Watcher,
    ended: watch::Sender<bool>,
}

/// Ends a board's registration when dropped.
pub struct WatchGuard {
    hub: Arc<LiveHub>,
    id: u64,
    pub ended: watch::Receiver<bool>,
}

impl Drop for WatchGuard {
    fn drop(&mut self) {
        self.hub
            .watchers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
    }
}

/// Every watched stream of this node, and its connected boards.
#[derive(Default)]
pub struct LiveHub {
    feeds: Mutex<HashMap<i64, Weak<Feed>>>,
    watchers: Mutex<HashMap<u64, Watched>>,
    next_watcher: AtomicU64,
    /// Set at shutdown: every board ends.
    closing: watch::Sender<bool>,
}

impl LiveHub {
    pub fn new() -> Arc<LiveHub> {
        Arc::new(LiveHub::default())
    }

    /// The stream's feed, made when its first board connects; it lives while a board holds it.
    pub fn watch(&self, stream_id: i64) -> Arc<Feed> {
        let mut feeds = self.feeds.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(feed) = feeds.get(&stream_id).and_then(Weak::upgrade) {
            return feed;
        }
        feeds.retain(|_, f| f.strong_count() > 0);
        let feed = Arc::new(Feed {
            stream_id,
            version: watch::Sender::new(0),
            merchants: Mutex::new(Vec::new()),
            drawn: tokio::sync::Mutex::new(HashMap::new()),
        });
        feeds.insert(stream_id, Arc::downgrade(&feed));
        feed
    }

    fn live_feeds(&self) -> Vec<Arc<Feed>> {
        self.feeds
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter_map(Weak::upgrade)
            .collect()
    }

    /// The stream's figures changed (a commit that touched them is done).
    pub fn touch(&self, stream_id: i64) {
        let feed = self
            .feeds
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&stream_id)
            .and_then(Weak::upgrade);
        if let Some(feed) = feed {
            feed.bump();
        }
    }

    /// Something of the merchant's changed (an order path that does not say which stream):
    /// every watched stream showing the merchant's products.
    pub fn touch_merchant(&self, merchant_id: i64) {
        for feed in self.live_feeds() {
            if feed.has_merchant(merchant_id) {
                feed.bump();
            }
        }
    }

    /// Every watched stream (after the listener reconnected: notices may have been missed).
    pub fn touch_all(&self) {
        for feed in self.live_feeds() {
            feed.bump();
        }
    }

    /// Registers a connected board for the session sweep.
    pub fn register(self: &Arc<Self>, watcher: Watcher) -> WatchGuard {
        let id = self.next_watcher.fetch_add(1, Ordering::Relaxed);
        let (ended, rx) = watch::channel(false);
        self.watchers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, Watched { watcher, ended });
        WatchGuard {
            hub: self.clone(),
            id,
            ended: rx,
        }
    }

    /// The boards connected now.
    pub fn boards(&self) -> usize {
        self.watchers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    fn watchers(&self) -> Vec<(u64, Watcher)> {
        self.watchers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(id, w)| (*id, w.watcher.clone()))
            .collect()
    }

    fn end(&self, id: u64) {
        if let Some(w) = self
            .watchers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
        {
            w.ended.send_replace(true);
        }
    }

    /// A receiver that turns true when the server stops.
    pub fn closing(&self) -> watch::Receiver<bool> {
        self.closing.subscribe()
    }

    /// Ends every board (server shutdown).
    pub fn close(&self) {
        self.closing.send_replace(true);
    }
}

/// Checks the connected boards' sessions every [`SWEEP`] until `stop`, ending those no longer
/// allowed.
pub async fn sweep(state: Arc<AppState>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(SWEEP) => {}
            _ = stop.changed() => return,
        }
        if let Err(e) = sweep_once(&state).await {
            tracing::warn!(error = %e, "live board session sweep failed");
        }
    }
}

/// One pass of [`sweep`]: every connected board's session and access checked in one job on
/// the database pool; returns how many boards it ended.
pub async fn sweep_once(state: &AppState) -> crate::error::AppResult<usize> {
    let watchers = state.live.watchers();
    if watchers.is_empty() {
        return Ok(0);
    }
    let now = state.now();
    let ended = state
        .db(move |conn| {
            let mut ended = Vec::new();
            for (id, w) in &watchers {
                if !crate::service::live::still_allowed(conn, now, w)? {
                    ended.push(*id);
                }
            }
            Ok(ended)
        })
        .await?;
    for id in &ended {
        state.live.end(*id);
    }
    Ok(ended.len())
}

/// PostgreSQL: listens for `tandem_live` notices on a connection of its own and touches the
/// hub for each, until `stop`; reconnects (touching every watched stream) when the
/// connection breaks.
pub fn spawn_listener(
    url: String,
    hub: Arc<LiveHub>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("live-listener".to_owned())
        .spawn(move || listen(&url, &hub, &stop))
        .expect("the live listener thread starts")
}

fn listen(url: &str, hub: &LiveHub, stop: &AtomicBool) {
    use diesel::{Connection, PgConnection, RunQueryDsl};
    let mut backoff = Duration::from_millis(100);
    while !stop.load(Ordering::Relaxed) {
        let mut conn = match PgConnection::establish(url) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "live listener cannot connect; trying again");
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        if let Err(e) =
            diesel::sql_query(format!("LISTEN {}", crate::db::live::CHANNEL)).execute(&mut conn)
        {
            tracing::warn!(error = %e, "live listener cannot LISTEN; trying again");
            std::thread::sleep(backoff);
            continue;
        }
        backoff = Duration::from_millis(100);
        // Anything may have happened while no one listened.
        hub.touch_all();
        let mut pinged = Instant::now();
        'connected: while !stop.load(Ordering::Relaxed) {
            for notice in conn.notifications_iter() {
                match notice {
                    Ok(n) => match n.payload.parse::<i64>() {
                        Ok(stream) => hub.touch(stream),
                        Err(_) => tracing::debug!(payload = %n.payload, "live notice ignored"),
                    },
                    Err(e) => {
                        tracing::warn!(error = %e, "live listener lost its connection");
                        break 'connected;
                    }
                }
            }
            if pinged.elapsed() >= LISTEN_PING {
                if let Err(e) = diesel::sql_query("SELECT 1").execute(&mut conn) {
                    tracing::warn!(error = %e, "live listener lost its connection");
                    break 'connected;
                }
                pinged = Instant::now();
            }
            std::thread::sleep(LISTEN_POLL);
        }
    }
}
