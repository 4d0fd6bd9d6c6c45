//! The live board (issue 29): `/influencer/streams/{id}/live` for the stream's creator and
//! `/merchant/streams/{id}/live` for each merchant whose products it shows; the board's
//! figures pushed as server-sent events from `…/live/events` (an event at most once a
//! second when something changed, a keep-alive comment every 15 s, `Last-Event-ID` honoured),
//! and, once the stream has ended, its replay minute by minute (`?at=`). Without JavaScript
//! the page refreshes itself every 10 s.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_session::Session;
use actix_web::web::{Bytes, BytesMut};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use askama::Template;
use chrono::{NaiveDateTime, TimeDelta};
use chrono_tz::Tz;
use serde::Deserialize;
use sha2::Digest;

use super::charts::{self, Chart};
use super::extract::{CsrfForm, CurrentUser, Empty, InfluencerUser, MerchantUser};
use super::orders::show;
use super::pages::{self, PageCtx};
use super::session;
use crate::db::stats::Counts;
use crate::domain::live::Phase;
use crate::error::{AppError, AppResult};
use crate::jobs::live::{Feed, Snapshot, Watcher};
use crate::service::live::{self as svc, Board, Opened, View};
use crate::service::metrics;
use crate::startup::AppState;

/// A keep-alive comment this often when nothing else was sent.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// At most one event a second per board.
pub const MIN_GAP: Duration = Duration::from_secs(1);
/// Without scripts, the page reloads itself this often (seconds).
const REFRESH_SECS: u32 = 10;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(creator_board)
        .service(creator_events)
        .service(go_live)
        .service(end_stream)
        .service(merchant_board)
        .service(merchant_events);
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct BoardQuery {
    /// A replay's minute (seconds since 1970).
    at: Option<String>,
    /// "1": the dark background.
    dark: Option<String>,
}

impl BoardQuery {
    fn at(&self) -> AppResult<Option<i64>> {
        match self.at.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(a) => a.parse::<i64>().map(Some).map_err(|_| {
                AppError::BadRequest("“at” is a minute of the stream: use the slider.".to_owned())
            }),
        }
    }

    fn dark(&self) -> bool {
        self.dark.as_deref() == Some("1")
    }
}

struct CardView {
    label: &'static str,
    /// Money: the card is wider on a phone.
    money: bool,
    /// One line per currency for money (one "–" line when there is none).
    values: Vec<String>,
    /// "+3 this minute".
    delta: String,
    /// What is counted apart ("2 bot clicks left out").
    note: String,
}

struct TopView {
    name: String,
    count: String,
}

struct LatestView {
    time: String,
    product: String,
    amount: String,
    via: String,
}

#[derive(Template)]
#[template(path = "live/fragment.html")]
struct Fragment {
    live: bool,
    status: String,
    cards: Vec<CardView>,
    clicks: Chart,
    orders: Chart,
    top_by_orders: Vec<TopView>,
    top_by_clicks: Vec<TopView>,
    latest: Vec<LatestView>,
}

struct Replay {
    min: i64,
    max: i64,
    at: i64,
    label: String,
    back: Option<String>,
    forward: Option<String>,
}

#[derive(Template)]
#[template(path = "live/board.html")]
struct BoardPage {
    ctx: PageCtx,
    title: String,
    platform: String,
    /// What the page is for the reader ("Your live board", "Lumière Beauty's products").
    whose: String,
    /// The board (absent before the stream starts).
    fragment: Option<String>,
    /// Where the events come from (a live stream's board; not a replay).
    events: Option<String>,
    refresh: Option<u32>,
    /// The creator's controls.
    can_start: bool,
    can_end: bool,
    action_base: String,
    upcoming: Option<String>,
    replay: Option<Replay>,
    dark: bool,
    page_url: String,
    stream_page: Option<String>,
}

/// A "Live now" line of a home page.
pub struct LiveNowView {
    pub title: String,
    pub creator: String,
    pub since: String,
    pub href: String,
}

/// The "Live now" lines of a home: the influencer's live streams, or those showing the
/// merchant's products.
pub async fn live_now(
    state: &AppState,
    tz: Tz,
    influencer_user: Option<i64>,
    merchant_user: Option<i64>,
) -> AppResult<Vec<LiveNowView>> {
    let now = state.now();
    let list = state
        .db(move |conn| {
            let influencer = match influencer_user {
                Some(uid) => Some(crate::service::influencer::profile_of(conn, uid)?.id),
                None => None,
            };
            let merchant = match merchant_user {
                Some(uid) => Some(crate::service::merchant::org_of(conn, uid)?.0.id),
                None => None,
            };
            svc::live_now(conn, now, influencer, merchant)
        })
        .await?;
    let who = if merchant_user.is_some() {
        "merchant"
    } else {
        "influencer"
    };
    Ok(list
        .into_iter()
        .map(|l| LiveNowView {
            since: local(l.since, tz, "%H:%M"),
            href: format!("/{who}/streams/{}/live", l.stream_id),
            title: l.title,
            creator: l.creator,
        })
        .collect())
}

/// "2 h 05 min", "42 min".
fn duration(d: TimeDelta) -> String {
    let m = d.num_minutes().max(0);
    if m >= 60 {
        format!("{} h {:02} min", m / 60, m % 60)
    } else {
        format!("{m} min")
    }
}

fn local(at: NaiveDateTime, tz: Tz, fmt: &str) -> String {
    at.and_utc().with_timezone(&tz).format(fmt).to_string()
}

fn instant(secs: i64) -> NaiveDateTime {
    chrono::DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .naive_utc()
}

/// Money per currency (`money` of each), or one "–".
fn money_lines(t: &svc::Tally, of: impl Fn(&Counts) -> i64) -> Vec<String> {
    let lines: Vec<String> = t
        .money
        .iter()
        .map(|(currency, c)| show(of(c), currency))
        .collect();
    if lines.is_empty() {
        vec!["–".to_owned()]
    } else {
        lines
    }
}

fn delta(n: i64) -> String {
    format!("{}{n} this minute", if n >= 0 { "+" } else { "" })
}

fn money_delta(t: &svc::Tally, of: impl Fn(&Counts) -> i64) -> String {
    let parts: Vec<String> = t
        .money
        .iter()
        .filter(|(_, c)| of(c) != 0)
        .map(|(currency, c)| {
            let v = of(c);
            format!(
                "{}{}",
                if v >= 0 { "+" } else { "−" },
                show(v.abs(), currency)
            )
        })
        .collect();
    if parts.is_empty() {
        "+0 this minute".to_owned()
    } else {
        format!("{} this minute", parts.join(", "))
    }
}

/// The board's figures as the fragment the page shows and each event carries.
fn fragment(
    board: &Board,
    view: View,
    tz: Tz,
    now: NaiveDateTime,
    replay: bool,
) -> AppResult<String> {
    let live = board.span.phase == Phase::Live && !replay;
    let start = board.span.start.unwrap_or(now);
    let at = instant(board.at_minute);
    let status = if replay {
        format!("Replay · as of {}", local(at, tz, "%H:%M"))
    } else if live {
        format!(
            "Live · {} · since {}",
            duration(now - start),
            local(start, tz, "%H:%M")
        )
    } else {
        let end = board.span.end.unwrap_or(now);
        let same_day = local(start, tz, "%F") == local(end, tz, "%F");
        let (from, to) = (
            local(start, tz, "%-d %b %H:%M"),
            local(end, tz, if same_day { "%H:%M" } else { "%-d %b %H:%M" }),
        );
        if board.span.scheduled_start {
            // Never marked live: the board covers the day from its scheduled start.
            format!(
                "Never marked live · the {} from its scheduled start, {from} – {to}",
                duration(end - start)
            )
        } else {
            format!("Ended · {} live, {from} – {to}", duration(end - start))
        }
    };
    let (t, m) = (&board.total, &board.this_minute);
    // "This minute" means something while live and in a replay, not on the final board.
    let d = |s: String| if live || replay { s } else { String::new() };
    let cards = vec![
        CardView {
            label: "Clicks",
            money: false,
            values: vec![t.all.human_clicks().to_string()],
            delta: d(delta(m.all.human_clicks())),
            note: if t.all.bot_clicks > 0 {
                format!(
                    "{} left out",
                    pages::count(
                        usize::try_from(t.all.bot_clicks).unwrap_or(0),
                        "bot click",
                        "bot clicks"
                    )
                )
            } else {
                String::new()
            },
        },
        CardView {
            label: "Unique clicks",
            money: false,
            values: vec![t.all.unique_clicks.to_string()],
            delta: d(delta(m.all.unique_clicks)),
            note: String::new(),
        },
        CardView {
            label: "Orders",
            money: false,
            values: vec![t.all.orders.to_string()],
            delta: d(delta(m.all.orders)),
            note: String::new(),
        },
        CardView {
            label: "GMV",
            money: true,
            values: money_lines(t, |c| c.gmv_minor),
            delta: d(money_delta(m, |c| c.gmv_minor)),
            note: String::new(),
        },
        CardView {
            label: match view {
                View::Creator => "Your commission",
                View::Merchant(_) => "Commission",
            },
            money: true,
            values: money_lines(t, Counts::net_commission),
            delta: d(money_delta(m, Counts::net_commission)),
            note: String::new(),
        },
        CardView {
            label: "Conversion, last 10 min",
            money: false,
            // One line: "100.00 %" must not break before its sign.
            values: vec![metrics::percent(board.recent_conversion_bps).replace(' ', "\u{a0}")],
            delta: String::new(),
            note: "orders a click led to, per unique click".to_owned(),
        },
    ];
    let points = |of: &dyn Fn(&Counts) -> i64| -> Vec<(String, String, i64)> {
        board
            .minutes
            .iter()
            .map(|(minute, c)| {
                let label = local(instant(*minute), tz, "%H:%M");
                (label.clone(), label, of(c))
            })
            .collect()
    };
    let range = match (board.minutes.first(), board.minutes.last()) {
        (Some(a), Some(b)) => format!(
            "{}–{}",
            local(instant(a.0), tz, "%H:%M"),
            local(instant(b.0 + 60), tz, "%H:%M")
        ),
        _ => String::new(),
    };
    let clicks = charts::bars(
        "live-clicks",
        "Clicks per minute",
        "Minute",
        "Clicks",
        &points(&Counts::human_clicks),
        &|v| v.to_string(),
    )
    .with_range(range.clone());
    let orders = charts::bars(
        "live-orders",
        "Orders per minute",
        "Minute",
        "Orders",
        &points(&|c: &Counts| c.orders),
        &|v| v.to_string(),
    )
    .with_range(range);
    let top = |list: &[svc::Top], unit: (&str, &str), units: bool| -> Vec<TopView> {
        list.iter()
            .map(|p| TopView {
                name: p.name.clone(),
                count: if units {
                    format!(
                        "{} · {}",
                        pages::count(usize::try_from(p.count).unwrap_or(0), unit.0, unit.1),
                        pages::count(usize::try_from(p.units).unwrap_or(0), "unit", "units")
                    )
                } else {
                    pages::count(usize::try_from(p.count).unwrap_or(0), unit.0, unit.1)
                },
            })
            .collect()
    };
    let latest = board
        .latest
        .iter()
        .map(|o| LatestView {
            time: local(o.at, tz, "%H:%M:%S"),
            product: if o.more_lines > 0 {
                format!("{} and {} more", o.product, o.more_lines)
            } else {
                o.product.clone()
            },
            amount: show(o.base_minor, &o.currency),
            via: o.via.clone(),
        })
        .collect();
    let page = Fragment {
        live,
        status,
        cards,
        clicks,
        orders,
        top_by_orders: top(&board.top_by_orders, ("order", "orders"), true),
        top_by_clicks: top(&board.top_by_clicks, ("click", "clicks"), false),
        latest,
    };
    page.render()
        .map_err(|e| AppError::Internal(anyhow::anyhow!("live board: {e}")))
}

/// The event id of a fragment: a digest of what it shows (the same on every node).
fn event_id(html: &str) -> String {
    hex::encode(&sha2::Sha256::digest(html.as_bytes())[..8])
}

/// One server-sent event (each line of `data` its own `data:` field).
fn sse_event(id: &str, event: &str, data: &str) -> Bytes {
    let mut out = String::with_capacity(data.len() + 64);
    out.push_str("id: ");
    out.push_str(id);
    out.push_str("\nevent: ");
    out.push_str(event);
    out.push('\n');
    for line in data.lines() {
        out.push_str("data: ");
        out.push_str(line);
        out.push('\n');
    }
    out.push('\n');
    Bytes::from(out)
}

/// What the board's page needs besides the figures.
async fn open(
    state: &AppState,
    user: &CurrentUser,
    stream_id: i64,
    merchant: bool,
) -> AppResult<Opened> {
    let uid = user.id;
    state
        .db(move |conn| {
            if merchant {
                svc::open_for_merchant(conn, uid, stream_id)
            } else {
                svc::open_for_creator(conn, uid, stream_id)
            }
        })
        .await
}

async fn board_page(
    state: &AppState,
    session: &Session,
    user: &CurrentUser,
    opened: Opened,
    query: &BoardQuery,
) -> AppResult<HttpResponse> {
    let (tz, now) = (user.time_zone, state.now());
    let at = query.at()?;
    let o = opened.clone();
    let board = state.db(move |conn| svc::board(conn, &o, now, at)).await?;
    let stream = &opened.stream;
    let (base, active) = match opened.view {
        View::Creator => (format!("/influencer/streams/{}/live", stream.id), "links"),
        View::Merchant(_) => (format!("/merchant/streams/{}/live", stream.id), "dashboard"),
    };
    let span = svc::span_of(stream, now);
    let ended = span.phase == Phase::Ended;
    let replay = match (&board, ended) {
        (Some(b), true) => {
            let step = |minutes: i64| {
                let to = (b.at_minute + minutes * 60).clamp(b.start_minute, b.last_minute);
                (to != b.at_minute).then(|| {
                    format!(
                        "{base}?at={to}{}",
                        if query.dark() { "&dark=1" } else { "" }
                    )
                })
            };
            Some(Replay {
                min: b.start_minute,
                max: b.last_minute,
                at: b.at_minute,
                label: local(instant(b.at_minute), tz, "%H:%M"),
                back: step(-10),
                forward: step(10),
            })
        }
        _ => None,
    };
    let fragment = match &board {
        Some(b) => Some(fragment(b, opened.view, tz, now, ended && at.is_some())?),
        None => None,
    };
    let is_live = span.phase == Phase::Live;
    let waiting = span.phase == Phase::Upcoming;
    let creator = opened.view == View::Creator;
    let upcoming = waiting.then(|| match stream.scheduled_at {
        Some(s) => format!(
            "Not live yet: scheduled for {}.{}",
            pages::fmt_datetime(s, tz),
            if creator {
                " Go live when you start streaming: the board counts from then."
            } else {
                " The board fills in as soon as the creator goes live."
            }
        ),
        None => if creator {
            "Not live yet. Go live when you start streaming: the board counts from then."
        } else {
            "Not live yet. The board fills in as soon as the creator goes live."
        }
        .to_owned(),
    });
    let whose = match opened.view {
        View::Creator => "Your live board".to_owned(),
        View::Merchant(_) => format!("{}'s stream · your products only", opened.creator),
    };
    let page = BoardPage {
        ctx: PageCtx::new(
            session,
            Some(user),
            format!("Live: {}", stream.title),
            active,
        ),
        title: stream.title.clone(),
        platform: crate::domain::catalog::platform_label(&stream.platform).to_owned(),
        whose,
        fragment,
        events: (is_live || waiting).then(|| format!("{base}/events")),
        refresh: (is_live || waiting).then_some(REFRESH_SECS),
        can_start: creator && stream.started_at.is_none() && stream.ended_at.is_none(),
        can_end: creator && is_live,
        action_base: format!("/influencer/streams/{}/live", stream.id),
        upcoming,
        replay,
        dark: query.dark(),
        page_url: base.clone(),
        stream_page: creator.then(|| format!("/influencer/streams/{}", stream.id)),
    };
    pages::ok(&page)
}

#[get("/influencer/streams/{id}/live")]
async fn creator_board(
    state: web::Data<AppState>,
    session: Session,
    user: InfluencerUser,
    path: web::Path<i64>,
    query: web::Query<BoardQuery>,
) -> AppResult<HttpResponse> {
    let opened = open(&state, &user.0, path.into_inner(), false).await?;
    board_page(&state, &session, &user.0, opened, &query).await
}

#[get("/merchant/streams/{id}/live")]
async fn merchant_board(
    state: web::Data<AppState>,
    session: Session,
    user: MerchantUser,
    path: web::Path<i64>,
    query: web::Query<BoardQuery>,
) -> AppResult<HttpResponse> {
    let opened = open(&state, &user.0, path.into_inner(), true).await?;
    board_page(&state, &session, &user.0, opened, &query).await
}

#[post("/influencer/streams/{id}/live/start")]
async fn go_live(
    state: web::Data<AppState>,
    session: Session,
    user: InfluencerUser,
    path: web::Path<i64>,
    _form: CsrfForm<Empty>,
) -> AppResult<HttpResponse> {
    let (now, uid, id) = (state.now(), user.0.id, path.into_inner());
    state
        .db(move |conn| svc::go_live(conn, now, uid, id))
        .await?;
    state.live.touch(id);
    session::flash(
        &session,
        "success",
        "You are live: the board counts every click and order from now on.",
    );
    Ok(pages::redirect(&format!("/influencer/streams/{id}/live")))
}

#[post("/influencer/streams/{id}/live/end")]
async fn end_stream(
    state: web::Data<AppState>,
    session: Session,
    user: InfluencerUser,
    path: web::Path<i64>,
    _form: CsrfForm<Empty>,
) -> AppResult<HttpResponse> {
    let (now, uid, id) = (state.now(), user.0.id, path.into_inner());
    state
        .db(move |conn| svc::end_stream(conn, now, uid, id))
        .await?;
    state.live.touch(id);
    session::flash(
        &session,
        "success",
        "Stream ended. Its board stays here as a replay, minute by minute.",
    );
    Ok(pages::redirect(&format!("/influencer/streams/{id}/live")))
}

#[get("/influencer/streams/{id}/live/events")]
async fn creator_events(
    state: web::Data<AppState>,
    req: HttpRequest,
    session: Session,
    user: InfluencerUser,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    let opened = open(&state, &user.0, path.into_inner(), false).await?;
    events(state, &req, &session, user.0, opened).await
}

#[get("/merchant/streams/{id}/live/events")]
async fn merchant_events(
    state: web::Data<AppState>,
    req: HttpRequest,
    session: Session,
    user: MerchantUser,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    let opened = open(&state, &user.0, path.into_inner(), true).await?;
    events(state, &req, &session, user.0, opened).await
}

/// Draws the view's board now, as one event.
async fn draw(
    state: &AppState,
    opened: &Opened,
    tz: Tz,
    version: u64,
    minute: i64,
) -> AppResult<Snapshot> {
    let (o, now) = (opened.clone(), state.now());
    let view = opened.view;
    let board = state
        .db(move |conn| svc::board(conn, &o, now, None))
        .await?;
    let (html, ended) = match &board {
        Some(b) => (
            fragment(b, view, tz, now, false)?,
            b.span.phase == Phase::Ended,
        ),
        None => (String::new(), false),
    };
    let id = event_id(&html);
    Ok(Snapshot {
        version,
        minute,
        event: sse_event(&id, "board", &html),
        id,
        ended,
    })
}

/// Where a board's event stream is.
struct Stream {
    state: web::Data<AppState>,
    opened: Opened,
    tz: Tz,
    view: String,
    feed: Arc<Feed>,
    changes: tokio::sync::watch::Receiver<u64>,
    guard: crate::jobs::live::WatchGuard,
    closing: tokio::sync::watch::Receiver<bool>,
    last_id: Option<String>,
    sent_at: Option<Instant>,
    keep_alive_at: tokio::time::Instant,
    step: Step,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    First,
    Running,
    /// Say why the stream ends, then end it.
    Ending(&'static str),
    Done,
}

impl Stream {
    async fn snapshot(&self) -> Option<Arc<Snapshot>> {
        let minute = crate::db::live::minute_of(self.state.now());
        let result = self
            .feed
            .snapshot(&self.view, minute, |version| {
                draw(&self.state, &self.opened, self.tz, version, minute)
            })
            .await;
        match result {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(error = %e, stream = self.opened.stream.id, "live board not drawn");
                None
            }
        }
    }

    /// The snapshot's event if it differs from the last one sent.
    fn take(&mut self, s: &Snapshot) -> Option<Bytes> {
        if s.ended {
            self.step = Step::Ending("The stream has ended.");
        }
        if self.last_id.as_deref() == Some(s.id.as_str()) {
            return None;
        }
        self.last_id = Some(s.id.clone());
        self.sent_at = Some(Instant::now());
        self.keep_alive_at = tokio::time::Instant::now() + KEEP_ALIVE;
        Some(s.event.clone())
    }

    /// How long until the next minute begins (by the app's clock), and a little more.
    fn until_next_minute(&self) -> Duration {
        let secs = self.state.now().and_utc().timestamp().rem_euclid(60);
        Duration::from_secs(u64::try_from(60 - secs).unwrap_or(60)) + Duration::from_millis(50)
    }
}

async fn next(mut s: Stream) -> Option<(Result<Bytes, std::convert::Infallible>, Stream)> {
    loop {
        match s.step {
            Step::Done => return None,
            Step::Ending(why) => {
                s.step = Step::Done;
                return Some((Ok(sse_event("end", "end", why)), s));
            }
            Step::First => {
                s.step = Step::Running;
                let mut out = BytesMut::from(&b"retry: 3000\n\n"[..]);
                if let Some(snap) = s.snapshot().await
                    && let Some(event) = s.take(&snap)
                {
                    out.extend_from_slice(&event);
                }
                return Some((Ok(out.freeze()), s));
            }
            Step::Running => {
                if let Some(sent) = s.sent_at {
                    let gap = sent.elapsed();
                    if gap < MIN_GAP {
                        tokio::time::sleep(MIN_GAP - gap).await;
                    }
                }
                let minute = s.until_next_minute();
                tokio::select! {
                    // The server stops: the stream just closes, and the browser reconnects.
                    _ = s.closing.changed() => return None,
                    _ = s.guard.ended.changed() => {
                        s.step = Step::Ending("Your session has ended: sign in again to see the board.");
                        continue;
                    }
                    changed = s.changes.changed() => {
                        if changed.is_err() {
                            return None;
                        }
                    }
                    _ = tokio::time::sleep_until(s.keep_alive_at) => {
                        s.keep_alive_at = tokio::time::Instant::now() + KEEP_ALIVE;
                        return Some((Ok(Bytes::from_static(b": keep-alive\n\n")), s));
                    }
                    _ = tokio::time::sleep(minute) => {}
                }
                if let Some(snap) = s.snapshot().await
                    && let Some(event) = s.take(&snap)
                {
                    return Some((Ok(event), s));
                }
            }
        }
    }
}

async fn events(
    state: web::Data<AppState>,
    req: &HttpRequest,
    session: &Session,
    user: CurrentUser,
    opened: Opened,
) -> AppResult<HttpResponse> {
    let Some((_, version, token)) = session::identity(session) else {
        return Err(AppError::LoginRequired {
            next: req.path().to_owned(),
        });
    };
    let feed = state.live.watch(opened.stream.id);
    feed.set_merchants(opened.merchants.clone());
    let guard = state.live.register(Watcher {
        token,
        user_id: user.id,
        session_version: version,
        stream_id: opened.stream.id,
        merchant_id: opened.view.merchant(),
    });
    let last_id = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty() && v.len() <= 64);
    let stream = Stream {
        view: format!("{:?}/{}", opened.view, user.time_zone),
        tz: user.time_zone,
        changes: feed.subscribe(),
        closing: state.live.closing(),
        feed,
        guard,
        opened,
        last_id,
        sent_at: None,
        keep_alive_at: tokio::time::Instant::now() + KEEP_ALIVE,
        step: Step::First,
        state,
    };
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(futures_util::stream::unfold(stream, next)))
}
