//! The live board (issue 29): what a stream in progress is selling, minute by minute, for its
//! creator and for each merchant whose products it shows (theirs only). Read from the
//! stream's minute rollup (`db::live`), which counts exactly what the dashboards count:
//! clicks are human clicks, orders are orders by order time, GMV their commission base,
//! commission net of what refunds and rejections took back.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDateTime};

use crate::db::live::{LineProduct, MINUTE_SECS};
use crate::db::models::Stream;
use crate::db::stats::{Counts, StatRow};
use crate::db::{self, DbConn};
use crate::domain::live::{self, Phase, Span};
use crate::error::{AppError, AppResult};
use crate::jobs::live::Watcher;

/// The minutes the chart shows.
pub const CHART_MINUTES: i64 = 60;
/// The minutes the "recent conversion" figure covers.
pub const CONVERSION_MINUTES: i64 = 10;
/// Products listed in each "top" list.
pub const TOP: usize = 5;
/// Orders listed as the latest.
pub const LATEST: i64 = 10;

/// Whose board: the stream's creator sees everything in it; a merchant only its own links'
/// clicks and its own orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum View {
    Creator,
    Merchant(i64),
}

impl View {
    pub fn merchant(&self) -> Option<i64> {
        match self {
            View::Creator => None,
            View::Merchant(m) => Some(*m),
        }
    }
}

/// A stream as its board opens it.
#[derive(Debug, Clone)]
pub struct Opened {
    pub stream: Stream,
    pub view: View,
    /// The creator's public name.
    pub creator: String,
    /// The merchants whose campaigns the stream has links for.
    pub merchants: Vec<i64>,
}

/// The influencer user's stream (else a 404).
pub fn open_for_creator(conn: &mut DbConn, user_id: i64, stream_id: i64) -> AppResult<Opened> {
    let me = super::influencer::profile_of(conn, user_id)?;
    let stream = db::links::find_stream(conn, stream_id)?
        .filter(|s| s.influencer_id == me.id)
        .ok_or(AppError::NotFound)?;
    let merchants = db::live::merchants_of(conn, stream_id)?;
    Ok(Opened {
        stream,
        view: View::Creator,
        creator: me.display_name,
        merchants,
    })
}

/// A stream with a link to one of the merchant user's campaigns (else a 404).
pub fn open_for_merchant(conn: &mut DbConn, user_id: i64, stream_id: i64) -> AppResult<Opened> {
    let (org, _) = super::merchant::org_of(conn, user_id)?;
    let stream = db::links::find_stream(conn, stream_id)?.ok_or(AppError::NotFound)?;
    let merchants = db::live::merchants_of(conn, stream_id)?;
    if !merchants.contains(&org.id) {
        return Err(AppError::NotFound);
    }
    let creator = db::influencers::find(conn, stream.influencer_id)?
        .map(|i| i.display_name)
        .unwrap_or_default();
    Ok(Opened {
        stream,
        view: View::Merchant(org.id),
        creator,
        merchants,
    })
}

/// Whether a connected board may go on: its session live (not signed out, the password
/// unchanged, the account enabled) and its user still allowed to see the board.
pub fn still_allowed(conn: &mut DbConn, now: NaiveDateTime, w: &Watcher) -> AppResult<bool> {
    let Some((_, user)) = super::sessions::resume(conn, now, &w.token)? else {
        return Ok(false);
    };
    if user.id != w.user_id || user.session_version != w.session_version {
        return Ok(false);
    }
    let allowed = match w.merchant_id {
        None => open_for_creator(conn, user.id, w.stream_id),
        Some(_) => open_for_merchant(conn, user.id, w.stream_id),
    };
    match allowed {
        Ok(o) => Ok(o.view.merchant() == w.merchant_id),
        Err(AppError::NotFound | AppError::Forbidden) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The stream's span now.
pub fn span_of(stream: &Stream, now: NaiveDateTime) -> Span {
    live::span(stream.scheduled_at, stream.started_at, stream.ended_at, now)
}

/// The creator marks the stream live now. A stream live by its schedule keeps its scheduled
/// start; one never marked live whose schedule is long past starts now. Refused once it was
/// ended (or was marked live more than a day ago); a no-op while it is live.
pub fn go_live(
    conn: &mut DbConn,
    now: NaiveDateTime,
    user_id: i64,
    stream_id: i64,
) -> AppResult<Stream> {
    let opened = open_for_creator(conn, user_id, stream_id)?;
    let stream = &opened.stream;
    let span = span_of(stream, now);
    if stream.ended_at.is_some() || (stream.started_at.is_some() && span.phase == Phase::Ended) {
        return Err(AppError::Conflict(
            "This stream has ended. Add a new stream for the next one.".to_owned(),
        ));
    }
    if stream.started_at.is_none() {
        let start = match span.phase {
            Phase::Live => span.start.unwrap_or(now),
            Phase::Upcoming | Phase::Ended => now,
        };
        db::live::start(conn, stream_id, start)?;
    }
    db::links::find_stream(conn, stream_id)?.ok_or(AppError::NotFound)
}

/// The creator ends the stream now. Refused when it is not live.
pub fn end_stream(
    conn: &mut DbConn,
    now: NaiveDateTime,
    user_id: i64,
    stream_id: i64,
) -> AppResult<Stream> {
    let opened = open_for_creator(conn, user_id, stream_id)?;
    let span = span_of(&opened.stream, now);
    match (span.phase, span.start) {
        (Phase::Live, Some(start)) => {
            db::live::end(conn, stream_id, start, now)?;
        }
        (Phase::Ended, _) => {
            return Err(AppError::Conflict(
                "This stream has ended already.".to_owned(),
            ));
        }
        _ => {
            return Err(AppError::Conflict(
                "This stream is not live: go live first.".to_owned(),
            ));
        }
    }
    db::links::find_stream(conn, stream_id)?.ok_or(AppError::NotFound)
}

/// Counts summed for a set of rows: clicks and orders in every currency (`all`) and each
/// currency's money.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub all: Counts,
    pub money: BTreeMap<String, Counts>,
}

impl Tally {
    fn add(&mut self, r: &StatRow) {
        self.all.add(&r.counts);
        if !r.dims.currency.is_empty() {
            self.money
                .entry(r.dims.currency.clone())
                .or_default()
                .add(&r.counts);
        }
    }
}

/// A product in a "top" list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Top {
    pub name: String,
    /// Orders (or clicks) it had.
    pub count: i64,
    /// Units ordered (top by orders only).
    pub units: i64,
}

/// One of the latest orders (no buyer data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Latest {
    pub id: i64,
    pub at: NaiveDateTime,
    /// The first line's product, and how many more lines the order has.
    pub product: String,
    pub more_lines: usize,
    pub currency: String,
    pub base_minor: i64,
    /// "coupon JADE10" or "link ab12cd".
    pub via: String,
}

/// The board as of one minute.
#[derive(Debug, Clone)]
pub struct Board {
    pub span: Span,
    /// The first minute it counts (the one the stream started in), seconds since 1970.
    pub start_minute: i64,
    /// The minute shown as "now": the current one while live; the last one (or the replay's)
    /// once ended.
    pub at_minute: i64,
    /// The stream's last minute (the current one while live).
    pub last_minute: i64,
    pub total: Tally,
    pub this_minute: Tally,
    /// The chart's minutes, oldest first: the last [`CHART_MINUTES`] up to `at_minute` (those
    /// before the stream's start empty).
    pub minutes: Vec<(i64, Counts)>,
    /// Orders a click led to per unique click over the last [`CONVERSION_MINUTES`], in basis
    /// points (`None` without unique clicks).
    pub recent_conversion_bps: Option<i64>,
    pub top_by_orders: Vec<Top>,
    pub top_by_clicks: Vec<Top>,
    pub latest: Vec<Latest>,
}

fn instant(secs: i64) -> NaiveDateTime {
    DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .naive_utc()
}

/// The board of an opened stream as of `now`, at the minute `at` (a replay's; seconds since
/// 1970, clamped to the stream) or the latest. `None` while the stream has not started.
pub fn board(
    conn: &mut DbConn,
    opened: &Opened,
    now: NaiveDateTime,
    at: Option<i64>,
) -> AppResult<Option<Board>> {
    let span = span_of(&opened.stream, now);
    let Some(start) = span.start else {
        return Ok(None);
    };
    let start_minute = db::live::minute_of(start);
    let last_minute = match span.end {
        // The minute holding the end's last second.
        Some(end) => db::live::minute_of(end - chrono::TimeDelta::seconds(1)).max(start_minute),
        None => db::live::minute_of(now).max(start_minute),
    };
    let at_minute = at
        .map(|a| a.div_euclid(MINUTE_SECS) * MINUTE_SECS)
        .unwrap_or(last_minute)
        .clamp(start_minute, last_minute);
    let to = at_minute + MINUTE_SECS;
    let merchant = opened.view.merchant();
    let rows = db::live::rows(conn, opened.stream.id, merchant, start_minute, to)?;
    let lines = db::live::order_lines(
        conn,
        opened.stream.id,
        merchant,
        instant(start_minute),
        instant(to),
    )?;
    let latest = db::live::latest_orders(
        conn,
        opened.stream.id,
        merchant,
        instant(start_minute),
        instant(to),
        LATEST,
    )?;
    let targets = db::live::link_targets(conn, opened.stream.id)?;
    Ok(Some(figures(
        span,
        start_minute,
        at_minute,
        last_minute,
        &rows,
        &lines,
        &latest,
        &targets,
    )))
}

/// The board's arithmetic, from what was read (rows of `[start_minute, at_minute]`).
#[allow(clippy::too_many_arguments)]
pub fn figures(
    span: Span,
    start_minute: i64,
    at_minute: i64,
    last_minute: i64,
    rows: &[StatRow],
    lines: &[LineProduct],
    latest: &[db::live::LiveOrder],
    targets: &[db::live::LinkTarget],
) -> Board {
    // A fixed hour on the chart (minutes before the start are empty), so one bar does not
    // fill it in the stream's first minute.
    let chart_from = at_minute - (CHART_MINUTES - 1) * MINUTE_SECS;
    let conversion_from = (at_minute - (CONVERSION_MINUTES - 1) * MINUTE_SECS).max(start_minute);
    let mut total = Tally::default();
    let mut this_minute = Tally::default();
    let mut per_minute: BTreeMap<i64, Counts> = BTreeMap::new();
    let mut recent = Counts::default();
    let mut clicks_by_link: HashMap<i64, i64> = HashMap::new();
    for r in rows {
        if r.bucket < start_minute || r.bucket > at_minute {
            continue;
        }
        total.add(r);
        if r.bucket == at_minute {
            this_minute.add(r);
        }
        if r.bucket >= chart_from {
            per_minute.entry(r.bucket).or_default().add(&r.counts);
        }
        if r.bucket >= conversion_from {
            recent.add(&r.counts);
        }
        if r.dims.link_id != 0 {
            *clicks_by_link.entry(r.dims.link_id).or_default() += r.counts.human_clicks();
        }
    }
    let minutes = (0..)
        .map(|i| chart_from + i * MINUTE_SECS)
        .take_while(|m| *m <= at_minute)
        .map(|m| (m, per_minute.get(&m).copied().unwrap_or_default()))
        .collect();
    // Top by clicks: per product (two links to one product count together), else per link.
    let mut by_product: HashMap<String, i64> = HashMap::new();
    for t in targets {
        if let Some(n) = clicks_by_link.get(&t.link_id).filter(|n| **n > 0) {
            *by_product.entry(t.name.clone()).or_default() += n;
        }
    }
    let mut top_by_clicks: Vec<Top> = by_product
        .into_iter()
        .map(|(name, count)| Top {
            name,
            count,
            units: 0,
        })
        .collect();
    sort_top(&mut top_by_clicks);
    // Top by orders: orders holding the product, and units.
    let mut orders_of: HashMap<String, (std::collections::HashSet<i64>, i64)> = HashMap::new();
    for l in lines {
        let e = orders_of.entry(l.name.clone()).or_default();
        e.0.insert(l.conversion_id);
        e.1 += l.quantity;
    }
    let mut top_by_orders: Vec<Top> = orders_of
        .into_iter()
        .map(|(name, (orders, units))| Top {
            name,
            count: i64::try_from(orders.len()).unwrap_or(i64::MAX),
            units,
        })
        .collect();
    sort_top(&mut top_by_orders);
    let latest = latest
        .iter()
        .map(|o| {
            let mine: Vec<&LineProduct> =
                lines.iter().filter(|l| l.conversion_id == o.id).collect();
            Latest {
                id: o.id,
                at: o.occurred_at,
                product: mine
                    .first()
                    .map_or_else(|| "Order".to_owned(), |l| l.name.clone()),
                more_lines: mine.len().saturating_sub(1),
                currency: o.currency.clone(),
                base_minor: o.base_minor,
                via: match (&o.coupon_code, &o.link_code) {
                    (Some(c), _) => format!("coupon {c}"),
                    (None, Some(l)) => format!("link {l}"),
                    (None, None) => "this stream".to_owned(),
                },
            }
        })
        .collect();
    Board {
        span,
        start_minute,
        at_minute,
        last_minute,
        recent_conversion_bps: super::metrics::ratio(
            recent.click_orders() * 10_000,
            recent.unique_clicks,
        ),
        total,
        this_minute,
        minutes,
        top_by_orders,
        top_by_clicks,
        latest,
    }
}

/// Most first, then by name; the first [`TOP`].
fn sort_top(top: &mut Vec<Top>) {
    top.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
    top.truncate(TOP);
}

/// A stream live now, for the homes' "Live now" card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveNow {
    pub stream_id: i64,
    pub title: String,
    pub creator: String,
    pub since: NaiveDateTime,
}

/// The streams live now of an influencer (`View::Creator` with their id) or showing a
/// merchant's products, the latest started first.
pub fn live_now(
    conn: &mut DbConn,
    now: NaiveDateTime,
    influencer: Option<i64>,
    merchant: Option<i64>,
) -> AppResult<Vec<LiveNow>> {
    use crate::db::schema::{influencers, links, streams};
    use diesel::prelude::*;
    let day_ago = now - chrono::TimeDelta::hours(live::MAX_LIVE_HOURS);
    let mut q = streams::table
        .inner_join(influencers::table.on(influencers::id.eq(streams::influencer_id)))
        .filter(streams::ended_at.is_null())
        .filter(
            streams::started_at.ge(day_ago).or(streams::started_at
                .is_null()
                .and(streams::scheduled_at.ge(day_ago))
                .and(streams::scheduled_at.le(now))),
        )
        .into_boxed();
    if let Some(i) = influencer {
        q = q.filter(streams::influencer_id.eq(i));
    }
    if let Some(m) = merchant {
        q = q.filter(
            streams::id.eq_any(
                links::table
                    .filter(links::merchant_id.eq(m))
                    .filter(links::stream_id.is_not_null())
                    .select(links::stream_id.assume_not_null()),
            ),
        );
    }
    let rows: Vec<(Stream, String)> = q
        .select((Stream::as_select(), influencers::display_name))
        .load(conn)?;
    let mut out: Vec<LiveNow> = rows
        .into_iter()
        .filter_map(|(s, creator)| {
            let span = span_of(&s, now);
            (span.phase == Phase::Live).then(|| LiveNow {
                stream_id: s.id,
                title: s.title,
                creator,
                since: span.start.unwrap_or(now),
            })
        })
        .collect();
    out.sort_by_key(|l| std::cmp::Reverse(l.since));
    Ok(out)
}
