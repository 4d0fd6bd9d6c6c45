//! The dashboards' shared pieces (range picker, charts per local day, sortable tables with
//! their CSV) and the pages built from them: the influencer's performance (on their home)
//! and stream page, the merchant's home and monthly statement, finance's home. Every figure
//! comes from the rollup (`service::metrics`) or the maintained ledger balances.

use std::collections::HashMap;

use actix_session::Session;
use actix_web::{HttpResponse, get, web};
use askama::Template;
use chrono::{Datelike, NaiveDate, TimeDelta};
use chrono_tz::Tz;

use super::charts::{self, Chart};
use super::extract::{FinanceUser, InfluencerUser, MerchantUser};
use super::pages::{self, PageCtx};
use crate::db;
use crate::db::stats::{Scope, StatRow};
use crate::domain::ledger::{AccountKind, Owner};
use crate::domain::money::plain_in;
use crate::domain::validate::csv_cell as csv_text;
use crate::error::{AppError, AppResult};
use crate::service::metrics::{self, By, Col, Line, Range, RangeQuery, Sort};
use crate::startup::AppState;

use super::orders::show;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(influencer_csv)
        .service(stream_page)
        .service(stream_csv)
        .service(merchant_dashboard)
        .service(merchant_csv)
        .service(merchant_statement)
        .service(merchant_statement_csv)
        .service(finance_dashboard_csv)
        .service(finance_dashboard);
}

/// The columns an influencer's tables show.
const INFLUENCER_COLS: [Col; 9] = [
    Col::Name,
    Col::Clicks,
    Col::Unique,
    Col::Orders,
    Col::CouponOrders,
    Col::Conversion,
    Col::Gmv,
    Col::Commission,
    Col::Epc,
];

/// The columns a merchant's tables show.
const MERCHANT_COLS: [Col; 13] = [
    Col::Name,
    Col::Clicks,
    Col::Unique,
    Col::Orders,
    Col::CouponOrders,
    Col::Conversion,
    Col::Gmv,
    Col::Refunds,
    Col::Commission,
    Col::Fee,
    Col::Roi,
    Col::PerMille,
    Col::RefundRate,
];

fn head_label(col: Col) -> &'static str {
    match col {
        Col::Name => "Name",
        Col::Clicks => "Clicks",
        Col::Unique => "Unique",
        Col::Orders => "Orders",
        Col::CouponOrders => "By coupon",
        Col::Conversion => "Conversion",
        Col::Gmv => "GMV",
        Col::Refunds => "Refunded",
        Col::Commission => "Commission",
        Col::Fee => "Fee",
        Col::Epc => "EPC",
        Col::PerMille => "GMV / 1k clicks",
        Col::Roi => "ROI",
        Col::RefundRate => "Refund rate",
    }
}

/// What a column header explains on hover.
fn head_hint(col: Col) -> &'static str {
    match col {
        Col::Name => "",
        Col::Clicks => "Clicks by people (bots left out)",
        Col::Unique => "Clicks by a visitor new to the link: what conversion divides by",
        Col::Orders => "Orders attributed (after a click or by coupon code), by order time",
        Col::CouponOrders => {
            "Of these orders, those by coupon code with no click: not in conversion or EPC"
        }
        Col::Conversion => "Orders after a click ÷ unique clicks",
        Col::Gmv => "Order value (the commissionable base), by order time",
        Col::Refunds => "Refunded, by refund time",
        Col::Commission => "Commission earned less what refunds and rejections took back",
        Col::Fee => "Platform fee less what refunds and rejections took back",
        Col::Epc => "What orders after a click earned, per 100 clicks",
        Col::PerMille => "Order value per 1,000 clicks",
        Col::Roi => "Order value less refunds, per unit of commission and fee",
        Col::RefundRate => "Refunded share of order value",
    }
}

/// A cell as shown.
fn cell(col: Col, l: &Line) -> String {
    let money = |m: i64| show(m, &l.currency);
    match col {
        Col::Name => l.name.clone(),
        Col::Clicks => l.c.human_clicks().to_string(),
        Col::Unique => l.c.unique_clicks.to_string(),
        Col::Orders => l.c.orders.to_string(),
        Col::CouponOrders => l.c.coupon_orders.to_string(),
        Col::Conversion => metrics::percent(l.conversion_bps()),
        Col::Gmv => money(l.c.gmv_minor),
        Col::Refunds => money(l.c.refund_minor),
        Col::Commission => money(l.c.net_commission()),
        Col::Fee => money(l.c.net_fee()),
        Col::Epc => l.epc_minor().map_or_else(|| "–".to_owned(), money),
        Col::PerMille => l
            .gmv_per_mille_minor()
            .map_or_else(|| "–".to_owned(), money),
        Col::Roi => metrics::multiple(l.roi_centi()),
        Col::RefundRate => metrics::percent(l.refund_rate_bps()),
    }
}

/// A cell as exported: plain numbers (money in major units without symbols, ratios as
/// decimals), empty where there is no value.
fn csv_cell(col: Col, l: &Line) -> String {
    let money = |m: i64| plain_in(m, &l.currency);
    let ratio = |v: Option<i64>| {
        v.map_or_else(String::new, |v| {
            format!(
                "{}{}.{:02}",
                if v < 0 { "-" } else { "" },
                v.abs() / 100,
                v.abs() % 100
            )
        })
    };
    match col {
        Col::Conversion => ratio(l.conversion_bps()),
        Col::RefundRate => ratio(l.refund_rate_bps()),
        Col::Roi => ratio(l.roi_centi()),
        Col::Epc => l.epc_minor().map_or_else(String::new, money),
        Col::PerMille => l.gmv_per_mille_minor().map_or_else(String::new, money),
        Col::Gmv => money(l.c.gmv_minor),
        Col::Refunds => money(l.c.refund_minor),
        Col::Commission => money(l.c.net_commission()),
        Col::Fee => money(l.c.net_fee()),
        _ => cell(col, l),
    }
}

fn csv_head(col: Col) -> &'static str {
    match col {
        Col::Name => "name",
        Col::Clicks => "clicks",
        Col::Unique => "unique_clicks",
        Col::Orders => "orders",
        Col::CouponOrders => "coupon_orders",
        Col::Conversion => "conversion_percent",
        Col::Gmv => "gmv",
        Col::Refunds => "refunded",
        Col::Commission => "commission",
        Col::Fee => "fee",
        Col::Epc => "epc",
        Col::PerMille => "gmv_per_1000_clicks",
        Col::Roi => "roi",
        Col::RefundRate => "refund_rate_percent",
    }
}

pub struct Head {
    pub label: &'static str,
    pub hint: &'static str,
    pub href: String,
    /// "ascending" / "descending" on the sorted column (aria-sort).
    pub sorted: Option<&'static str>,
    pub num: bool,
}

pub struct Row {
    pub name: String,
    pub detail: String,
    pub href: Option<String>,
    pub currency: String,
    pub cells: Vec<String>,
    /// Marked (a refund rate far above the merchant's average).
    pub flagged: bool,
}

/// How many lines a table shows (sorted); the CSV has them all.
pub const TABLE_ROWS: usize = 100;

pub struct TableView {
    pub caption: String,
    /// Lines beyond [`TABLE_ROWS`], left to the CSV.
    pub more: usize,
    pub heads: Vec<Head>,
    pub rows: Vec<Row>,
    pub totals: Vec<Row>,
    pub csv: String,
    pub tabs: Vec<(String, &'static str, bool)>,
}

/// The table of `lines` with sortable headers (links that keep the range and the table).
#[allow(clippy::too_many_arguments)]
fn table_view(
    base: &str,
    range: &Range,
    by: By,
    tabs: &[(By, &'static str)],
    cols: &[Col],
    sort: Sort,
    lines: &[Line],
    href: &dyn Fn(&Line) -> Option<String>,
    flagged: &dyn Fn(&Line) -> bool,
) -> TableView {
    let q = range.query();
    let t = by.as_str();
    let heads = cols
        .iter()
        .map(|&col| {
            let active = sort.col == col;
            // A click on the sorted column turns it around; on another, its natural order.
            let desc = if active { !sort.desc } else { col != Col::Name };
            Head {
                label: head_label(col),
                hint: head_hint(col),
                href: format!(
                    "{base}?{q}&table={t}&sort={}&dir={}#performance",
                    col.as_str(),
                    if desc { "desc" } else { "asc" }
                ),
                sorted: active.then_some(if sort.desc { "descending" } else { "ascending" }),
                num: col != Col::Name,
            }
        })
        .collect();
    let row = |l: &Line, link: Option<String>, flag: bool| Row {
        name: l.name.clone(),
        // An influencer's detail is their handle (plain in the CSV).
        detail: if by == By::Influencer && !l.detail.is_empty() {
            format!("@{}", l.detail)
        } else {
            l.detail.clone()
        },
        href: link,
        currency: l.currency.clone(),
        cells: cols[1..].iter().map(|&c| cell(c, l)).collect(),
        flagged: flag,
    };
    // Orders no influencer explains (the campaign and influencer tables' "Not attributed"
    // line) are not in the total of what influencers sold: shown under it, apart.
    let (kept, apart): (Vec<Line>, Vec<Line>) = lines
        .iter()
        .cloned()
        .partition(|l| !(matches!(by, By::Campaign | By::Influencer) && l.id == 0));
    TableView {
        caption: match by {
            By::Campaign => "Per campaign",
            By::Influencer => "Per influencer",
            By::Stream => "Per live stream",
            By::Link => "Per link",
        }
        .to_owned(),
        heads,
        more: kept.len().saturating_sub(TABLE_ROWS),
        rows: kept
            .iter()
            .take(TABLE_ROWS)
            .map(|l| row(l, href(l), flagged(l)))
            .collect(),
        totals: metrics::totals(&kept)
            .iter()
            .map(|l| row(l, None, false))
            .chain(apart.iter().map(|l| {
                let mut r = row(l, None, false);
                r.name = "Not attributed, apart from the total".to_owned();
                r
            }))
            .collect(),
        csv: format!(
            "{base}/{t}.csv?{q}&sort={}&dir={}",
            sort.col.as_str(),
            if sort.desc { "desc" } else { "asc" }
        ),
        tabs: tabs
            .iter()
            .map(|(b, label)| {
                (
                    format!("{base}?{q}&table={}#performance", b.as_str()),
                    *label,
                    *b == by,
                )
            })
            .collect(),
    }
}

/// The lines as CSV: what they are, the currency, then the columns.
fn lines_csv(cols: &[Col], lines: &[Line]) -> AppResult<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut head = vec!["name", "detail", "currency"];
    head.extend(cols[1..].iter().map(|&c| csv_head(c)));
    w.write_record(&head).map_err(anyhow::Error::from)?;
    for l in lines {
        // Names are people's text: kept as text in a spreadsheet.
        let mut rec = vec![csv_text(&l.name), csv_text(&l.detail), l.currency.clone()];
        rec.extend(cols[1..].iter().map(|&c| csv_cell(c, l)));
        w.write_record(&rec).map_err(anyhow::Error::from)?;
    }
    Ok(w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?)
}

/// The range picker's state, with the campaign filter.
pub struct RangeView {
    pub range: Range,
    pub range_action: String,
    /// (days, chosen, link keeping the campaign and table)
    pub presets: Vec<(i64, bool, String)>,
    pub zone: String,
    /// (id, name, chosen)
    pub campaigns: Vec<(i64, String, bool)>,
    /// The table shown, kept when the range changes.
    pub table: String,
}

fn range_view(
    range: Range,
    action: &str,
    tz: Tz,
    campaigns: Vec<(i64, String)>,
    table: By,
) -> RangeView {
    let keep = match range.campaign {
        Some(c) => format!("&campaign={c}"),
        None => String::new(),
    };
    let t = table.as_str();
    RangeView {
        range,
        range_action: action.to_owned(),
        presets: [7, 30, 90]
            .into_iter()
            .map(|d| {
                (
                    d,
                    range.preset == Some(d),
                    format!("{action}?days={d}{keep}&table={t}"),
                )
            })
            .collect(),
        zone: tz.name().to_owned(),
        campaigns: campaigns
            .into_iter()
            .map(|(id, name)| (id, name, range.campaign == Some(id)))
            .collect(),
        table: t.to_owned(),
    }
}

/// The campaigns a reader may filter by: the merchant's, or those the influencer works on.
fn campaign_choices(conn: &mut crate::db::DbConn, scope: Scope) -> AppResult<Vec<(i64, String)>> {
    use crate::db::schema::{campaigns, collaborations};
    use diesel::prelude::*;
    Ok(match scope {
        Scope::Merchant(id) => campaigns::table
            .filter(campaigns::merchant_id.eq(id))
            .order(campaigns::name.asc())
            .select((campaigns::id, campaigns::name))
            .load(conn)?,
        Scope::Influencer(id) => campaigns::table
            .inner_join(collaborations::table.on(collaborations::campaign_id.eq(campaigns::id)))
            .filter(collaborations::influencer_id.eq(id))
            .order(campaigns::name.asc())
            .select((campaigns::id, campaigns::name))
            .distinct()
            .load(conn)?,
        Scope::All => Vec::new(),
    })
}

/// The reader's range, or a 422 naming the field.
fn parse_range(q: &RangeQuery, tz: Tz, now: chrono::NaiveDateTime) -> AppResult<Range> {
    let today = now.and_utc().with_timezone(&tz).date_naive();
    Range::parse(q, today).map_err(AppError::Validation)
}

/// Charts per local day: clicks, orders, and per currency the money figure `money` picks.
fn day_charts(
    rows: &[StatRow],
    range: &Range,
    tz: Tz,
    money_title: &str,
    money: &dyn Fn(&crate::db::stats::Counts) -> i64,
) -> Vec<Chart> {
    let days = metrics::per_day(rows, range, tz);
    let label = |d: NaiveDate| d.format("%-d %b").to_string();
    let count = |v: i64| v.to_string();
    let mut out = vec![
        charts::bars(
            "chart-clicks",
            "Clicks per day",
            "Day",
            "Clicks",
            &days
                .iter()
                .map(|d| (label(d.date), label(d.date), d.all.human_clicks()))
                .collect::<Vec<_>>(),
            &count,
        ),
        charts::bars(
            "chart-orders",
            "Orders per day",
            "Day",
            "Orders",
            &days
                .iter()
                .map(|d| (label(d.date), label(d.date), d.all.orders))
                .collect::<Vec<_>>(),
            &count,
        ),
    ];
    let mut currencies: Vec<&String> = days.iter().flat_map(|d| d.money.keys()).collect();
    currencies.sort();
    currencies.dedup();
    for cur in currencies {
        let cur = cur.clone();
        let points: Vec<(String, String, i64)> = days
            .iter()
            .map(|d| {
                (
                    label(d.date),
                    label(d.date),
                    d.money.get(&cur).map_or(0, money),
                )
            })
            .collect();
        let shown = |v: i64| show(v, &cur);
        out.push(charts::bars(
            &format!("chart-money-{}", cur.to_lowercase()),
            &format!("{money_title} per day ({cur})"),
            "Day",
            money_title,
            &points,
            &shown,
        ));
    }
    out
}

// ---------------------------------------------------------------------------------------
// Influencer

/// The influencer's tables.
const INFLUENCER_TABS: [(By, &str); 3] = [
    (By::Campaign, "Campaigns"),
    (By::Stream, "Streams"),
    (By::Link, "Links"),
];

/// The performance part of the influencer's home: range, charts, one table.
pub struct Performance {
    pub rv: RangeView,
    pub charts: Vec<Chart>,
    pub table: TableView,
}

/// Reads the influencer's performance for their home page.
pub async fn influencer_performance(
    state: &AppState,
    user: &InfluencerUser,
    q: &RangeQuery,
) -> AppResult<Performance> {
    let tz: Tz = user.0.time_zone;
    let range = parse_range(q, tz, state.now())?;
    let by = influencer_table(q)?;
    let sort = Sort::parse(q, Col::Gmv);
    let uid = user.0.id;
    let (rows, lines, campaigns) = state
        .db(move |conn| {
            let me = crate::service::influencer::profile_of(conn, uid)?;
            let scope = Scope::Influencer(me.id);
            let rows = metrics::day_rows(conn, scope, &range, tz)?;
            let keyed = metrics::key_rows(conn, scope, &range, tz, by)?;
            let currencies = metrics::campaign_currencies(conn, &keyed)?;
            let lines = metrics::table(conn, &keyed, by, &currencies, sort)?;
            Ok((rows, lines, campaign_choices(conn, scope)?))
        })
        .await?;
    let base = "/influencer/dashboard";
    Ok(Performance {
        rv: range_view(range, base, tz, campaigns, by),
        charts: day_charts(&rows, &range, tz, "Earnings", &|c| c.net_commission()),
        table: table_view(
            base,
            &range,
            by,
            &INFLUENCER_TABS,
            &INFLUENCER_COLS,
            sort,
            &lines,
            &|l| (by == By::Stream && l.id != 0).then(|| format!("/influencer/streams/{}", l.id)),
            &|_| false,
        ),
    })
}

fn influencer_table(q: &RangeQuery) -> AppResult<By> {
    table_of(q, &INFLUENCER_TABS)
}

fn table_of(q: &RangeQuery, tabs: &[(By, &str)]) -> AppResult<By> {
    match q.table.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(tabs[0].0),
        Some(t) => By::parse(t)
            .filter(|b| tabs.iter().any(|(x, _)| x == b))
            .ok_or_else(|| {
                let mut e = crate::domain::validate::FieldErrors::new();
                let names: Vec<&str> = tabs.iter().map(|(b, _)| b.as_str()).collect();
                e.add("table", format!("Choose one of: {}.", names.join(", ")));
                AppError::Validation(e)
            }),
    }
}

#[get("/influencer/dashboard/{table}.csv")]
async fn influencer_csv(
    state: web::Data<AppState>,
    user: InfluencerUser,
    path: web::Path<String>,
    query: web::Query<RangeQuery>,
) -> AppResult<HttpResponse> {
    let by = By::parse(&path)
        .filter(|b| INFLUENCER_TABS.iter().any(|(x, _)| x == b))
        .ok_or(AppError::NotFound)?;
    let tz: Tz = user.0.time_zone;
    let range = parse_range(&query, tz, state.now())?;
    let sort = Sort::parse(&query, Col::Gmv);
    let uid = user.0.id;
    let lines = state
        .db(move |conn| {
            let me = crate::service::influencer::profile_of(conn, uid)?;
            let rows = metrics::key_rows(conn, Scope::Influencer(me.id), &range, tz, by)?;
            let currencies = metrics::campaign_currencies(conn, &rows)?;
            metrics::table(conn, &rows, by, &currencies, sort)
        })
        .await?;
    Ok(pages::csv_download(
        lines_csv(&INFLUENCER_COLS, &lines)?,
        &format!("tandem-{}-{}-to-{}.csv", by.as_str(), range.from, range.to),
    ))
}

/// A stream of the influencer's (else a 404), its rollup rows since it was set up and its
/// links' lines.
async fn stream_data(
    state: &AppState,
    user: &InfluencerUser,
    id: i64,
    sort: Sort,
) -> AppResult<(crate::db::models::Stream, Vec<StatRow>, Vec<Line>)> {
    let (uid, now) = (user.0.id, state.now());
    state
        .db(move |conn| {
            let me = crate::service::influencer::profile_of(conn, uid)?;
            let stream = crate::db::links::find_stream(conn, id)?
                .filter(|s| s.influencer_id == me.id)
                .ok_or(AppError::NotFound)?;
            let from = crate::db::stats::quarter_of(
                stream
                    .created_at
                    .min(stream.scheduled_at.unwrap_or(stream.created_at)),
            );
            let to = now.and_utc().timestamp() + crate::db::stats::QUARTER_SECS;
            let rows: Vec<StatRow> =
                crate::db::stats::rows(conn, Scope::Influencer(me.id), from, to)?
                    .into_iter()
                    .filter(|r| r.dims.stream_id == id)
                    .collect();
            let currencies = metrics::campaign_currencies(conn, &rows)?;
            let lines = metrics::table(conn, &rows, By::Link, &currencies, sort)?;
            Ok((stream, rows, lines))
        })
        .await
}

#[get("/influencer/streams/{id}/links.csv")]
async fn stream_csv(
    state: web::Data<AppState>,
    user: InfluencerUser,
    path: web::Path<i64>,
    query: web::Query<RangeQuery>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let (_, _, lines) = stream_data(&state, &user, id, Sort::parse(&query, Col::Clicks)).await?;
    Ok(pages::csv_download(
        lines_csv(&INFLUENCER_COLS, &lines)?,
        &format!("tandem-stream-{id}-links.csv"),
    ))
}

/// The hours a stream's chart shows, from the hour it was scheduled (or created) in.
const STREAM_HOURS: usize = 12;

#[derive(Template)]
#[template(path = "influencer/stream.html")]
struct StreamPage {
    ctx: PageCtx,
    id: i64,
    /// The live board's button: "Live board" while live, "Go live…" before, "Replay" after.
    live_label: &'static str,
    title: String,
    platform: String,
    when: String,
    hours: Chart,
    links: TableView,
    totals: Vec<(String, String, String, String)>,
}

/// A stream's own page: its links, clicks by hour during the live stream, orders and
/// earnings (everything since the stream was created). Another influencer's stream is a 404.
#[get("/influencer/streams/{id}")]
async fn stream_page(
    state: web::Data<AppState>,
    session: Session,
    user: InfluencerUser,
    path: web::Path<i64>,
    query: web::Query<RangeQuery>,
) -> AppResult<HttpResponse> {
    let (id, tz, now) = (path.into_inner(), user.0.time_zone, state.now());
    let sort = Sort::parse(&query, Col::Clicks);
    let (stream, rows, lines) = stream_data(&state, &user, id, sort).await?;
    // Clicks by hour: the 12 hours from the hour the stream was scheduled (or created) in;
    // the caption states them and how many clicks came outside them.
    let start = stream.scheduled_at.unwrap_or(stream.created_at);
    let start_hour = start.and_utc().timestamp().div_euclid(3600) * 3600;
    let mut hours = [0i64; STREAM_HOURS];
    let mut all_clicks = 0;
    for r in &rows {
        all_clicks += r.counts.human_clicks();
        let h = (r.bucket - start_hour).div_euclid(3600);
        if let Some(slot) = usize::try_from(h).ok().and_then(|h| hours.get_mut(h)) {
            *slot += r.counts.human_clicks();
        }
    }
    let instant = |h: usize| {
        chrono::DateTime::from_timestamp(start_hour + 3600 * h as i64, 0)
            .unwrap_or_default()
            .naive_utc()
    };
    // Minutes too: an hour starts at :30 in a zone such as Asia/Kolkata.
    let hour_label = |h: usize| {
        instant(h)
            .and_utc()
            .with_timezone(&tz)
            .format("%H:%M")
            .to_string()
    };
    let charted: i64 = hours.iter().sum();
    let (from, to) = (
        pages::fmt_datetime(instant(0), tz),
        pages::fmt_datetime(instant(STREAM_HOURS), tz),
    );
    // One offset at the end when both ends have it ("… 20:00 to … 08:00 UTC+08:00").
    let offset = |t: &str| t.split_once(" UTC").map(|(_, o)| o.to_owned());
    let from = match (offset(&from), offset(&to)) {
        (Some(a), Some(b)) if a == b => from
            .split_once(" UTC")
            .map_or(from.clone(), |(t, _)| t.to_owned()),
        _ => from,
    };
    let hours_range = format!(
        "{STREAM_HOURS} hours from its {}: {from} to {to}",
        if stream.scheduled_at.is_some() {
            "scheduled start"
        } else {
            "set-up"
        }
    );
    let outside = if all_clicks == charted {
        String::new()
    } else {
        format!(
            "{} outside these hours ({} since the stream was set up).",
            pages::count(
                usize::try_from(all_clicks - charted).unwrap_or(0),
                "more click",
                "more clicks"
            ),
            pages::count(usize::try_from(all_clicks).unwrap_or(0), "click", "clicks"),
        )
    };
    let points: Vec<(String, String, i64)> = hours
        .iter()
        .enumerate()
        .map(|(h, &v)| (hour_label(h), hour_label(h), v))
        .collect();
    let range = Range {
        from: start.and_utc().with_timezone(&tz).date_naive(),
        to: now.and_utc().with_timezone(&tz).date_naive(),
        preset: None,
        campaign: None,
    };
    let base = format!("/influencer/streams/{id}");
    let links = table_view(
        &base,
        &range,
        By::Link,
        &[],
        &INFLUENCER_COLS,
        sort,
        &lines,
        &|_| None,
        &|_| false,
    );
    let totals = metrics::totals(&lines)
        .iter()
        .map(|l| {
            (
                l.currency.clone(),
                l.c.orders.to_string(),
                show(l.c.gmv_minor, &l.currency),
                show(l.c.net_commission(), &l.currency),
            )
        })
        .collect();
    let live_label = match crate::service::live::span_of(&stream, now).phase {
        crate::domain::live::Phase::Upcoming => "Open the live board",
        crate::domain::live::Phase::Live => "Live board",
        crate::domain::live::Phase::Ended => "Replay the stream",
    };
    let page = StreamPage {
        ctx: PageCtx::new(&session, Some(&user.0), &stream.title, "links"),
        id,
        live_label,
        title: stream.title.clone(),
        platform: crate::domain::catalog::platform_label(&stream.platform).to_owned(),
        when: pages::fmt_datetime(start, tz),
        hours: charts::bars(
            "chart-hours",
            "Clicks by hour",
            "Hour",
            "Clicks",
            &points,
            &|v| v.to_string(),
        )
        .with_range(hours_range)
        .with_note(&outside),
        links,
        totals,
    };
    pages::ok(&page)
}

// ---------------------------------------------------------------------------------------
// Merchant

const MERCHANT_TABS: [(By, &str); 3] = [
    (By::Influencer, "Influencers"),
    (By::Campaign, "Campaigns"),
    (By::Stream, "Live streams"),
];

/// A refund rate is flagged when it is at least this many times the merchant's average
/// (and the influencer has at least [`OUTLIER_MIN_ORDERS`] orders in the range).
pub const OUTLIER_FACTOR: i64 = 2;
pub const OUTLIER_MIN_ORDERS: i64 = 5;

pub struct Summary {
    pub currency: String,
    pub gmv: String,
    pub orders: i64,
    pub commission: String,
    pub fee: String,
    pub owed: String,
    pub roi: String,
    pub refunded: String,
    /// Clicks by people (bots left out), and bots apart.
    pub clicks: i64,
    pub bots: i64,
    /// Of the orders, those by coupon code with no click.
    pub coupon_orders: i64,
    /// Orders after a click ÷ unique clicks: ("8.06 %", "5 of 62 unique clicks").
    pub conversion: (String, String),
}

#[derive(Template)]
#[template(path = "merchant/dashboard.html")]
struct MerchantDashboard {
    ctx: PageCtx,
    merchant: String,
    rv: RangeView,
    summaries: Vec<Summary>,
    charts: Vec<Chart>,
    table: TableView,
    leaders: Vec<(usize, String, String, String, String)>,
    /// (currency, orders, GMV) of orders no link or coupon explains.
    unattributed: Vec<(String, i64, String)>,
    /// What the merchant owes the platform now (its receivable balance), per currency.
    owed_now: Vec<(String, String)>,
    /// (influencer, refund rate, the merchant's average, orders).
    outliers: Vec<(String, String, String, i64)>,
    month: String,
    live_now: Vec<super::live::LiveNowView>,
}

/// Everything the merchant's home reads, in one database call.
struct MerchantData {
    merchant: String,
    /// What the merchant owes the platform now, per currency: its receivable balance.
    owed_now: Vec<(String, i64)>,
    campaigns: Vec<(i64, String)>,
    rows: Vec<StatRow>,
    lines: Vec<Line>,
    influencers: Vec<Line>,
}

async fn merchant_data(
    state: &AppState,
    user: &MerchantUser,
    range: Range,
    by: By,
    sort: Sort,
) -> AppResult<MerchantData> {
    let (uid, tz) = (user.0.id, user.0.time_zone);
    state
        .db(move |conn| {
            let (merchant, _) = crate::service::merchant::org_of(conn, uid)?;
            let scope = Scope::Merchant(merchant.id);
            let rows = metrics::day_rows(conn, scope, &range, tz)?;
            let keyed = metrics::key_rows(conn, scope, &range, tz, by)?;
            let currencies = metrics::campaign_currencies(conn, &keyed)?;
            let lines = metrics::table(conn, &keyed, by, &currencies, sort)?;
            let influencers = if by == By::Influencer {
                lines.clone()
            } else {
                let keyed = metrics::key_rows(conn, scope, &range, tz, By::Influencer)?;
                metrics::table(
                    conn,
                    &keyed,
                    By::Influencer,
                    &currencies,
                    Sort {
                        col: Col::Gmv,
                        desc: true,
                    },
                )?
            };
            let owed_now = db::ledger::balances(conn, Owner::Merchant(merchant.id))?
                .into_iter()
                .filter(|((kind, _), _)| *kind == AccountKind::Receivable)
                .map(|((kind, currency), raw)| (currency, kind.shown(raw)))
                .collect();
            Ok(MerchantData {
                owed_now,
                campaigns: campaign_choices(conn, scope)?,
                merchant: merchant.name,
                rows,
                lines,
                influencers,
            })
        })
        .await
}

/// Influencers whose refund rate is far above the merchant's average in their currency:
/// (line, the average in basis points).
fn refund_outliers(influencers: &[Line]) -> Vec<(&Line, i64)> {
    let totals = metrics::totals(influencers);
    influencers
        .iter()
        .filter(|l| l.id != 0 && l.c.orders >= OUTLIER_MIN_ORDERS)
        .filter_map(|l| {
            let avg = totals
                .iter()
                .find(|t| t.currency == l.currency)?
                .refund_rate_bps()?;
            let rate = l.refund_rate_bps()?;
            (rate > 0 && rate >= OUTLIER_FACTOR * avg.max(1)).then_some((l, avg))
        })
        .collect()
}

#[get("/merchant/dashboard")]
async fn merchant_dashboard(
    state: web::Data<AppState>,
    session: Session,
    user: MerchantUser,
    query: web::Query<RangeQuery>,
) -> AppResult<HttpResponse> {
    let tz = user.0.time_zone;
    let range = parse_range(&query, tz, state.now())?;
    let by = table_of(&query, &MERCHANT_TABS)?;
    let sort = Sort::parse(&query, Col::Gmv);
    let data = merchant_data(&state, &user, range, by, sort).await?;
    let base = "/merchant/dashboard";
    let outliers = refund_outliers(&data.influencers);
    let flagged: Vec<(i64, String)> = outliers
        .iter()
        .map(|(l, _)| (l.id, l.currency.clone()))
        .collect();
    // What influencers sold: attributed orders only (unattributed ones are shown apart).
    let attributed: Vec<Line> = data
        .influencers
        .iter()
        .filter(|l| l.id != 0)
        .cloned()
        .collect();
    let totals = metrics::totals(&attributed);
    let live_now = super::live::live_now(&state, tz, None, Some(user.0.id)).await?;
    let page = MerchantDashboard {
        live_now,
        owed_now: data
            .owed_now
            .iter()
            .map(|(c, m)| (c.clone(), show(*m, c)))
            .collect(),
        ctx: PageCtx::new(&session, Some(&user.0), "Home", "dashboard"),
        merchant: data.merchant,
        rv: range_view(range, base, tz, data.campaigns, by),
        summaries: totals
            .iter()
            .map(|t| Summary {
                currency: t.currency.clone(),
                gmv: show(t.c.gmv_minor, &t.currency),
                orders: t.c.orders,
                commission: show(t.c.net_commission(), &t.currency),
                fee: show(t.c.net_fee(), &t.currency),
                owed: show(t.cost_minor(), &t.currency),
                roi: metrics::multiple(t.roi_centi()),
                refunded: show(t.c.refund_minor, &t.currency),
                clicks: t.c.human_clicks(),
                bots: t.c.bot_clicks,
                coupon_orders: t.c.coupon_orders,
                conversion: (
                    metrics::percent(t.conversion_bps()),
                    format!(
                        "{} of {}",
                        pages::count(
                            usize::try_from(t.c.click_orders()).unwrap_or(0),
                            "order after a click",
                            "orders after a click"
                        ),
                        pages::count(
                            usize::try_from(t.c.unique_clicks).unwrap_or(0),
                            "unique click",
                            "unique clicks"
                        )
                    ),
                ),
            })
            .collect(),
        charts: day_charts(&data.rows, &range, tz, "GMV", &|c| c.gmv_minor),
        table: table_view(
            base,
            &range,
            by,
            &MERCHANT_TABS,
            &MERCHANT_COLS,
            sort,
            &data.lines,
            &|l| {
                (by == By::Stream && l.id != 0).then(|| format!("/merchant/streams/{}/live", l.id))
            },
            &|l| {
                by == By::Influencer
                    && flagged
                        .iter()
                        .any(|(id, cur)| *id == l.id && *cur == l.currency)
            },
        ),
        leaders: data
            .influencers
            .iter()
            .filter(|l| l.id != 0 && l.c.gmv_minor > 0)
            .take(5)
            .enumerate()
            .map(|(i, l)| {
                (
                    i + 1,
                    l.name.clone(),
                    show(l.c.gmv_minor, &l.currency),
                    l.c.orders.to_string(),
                    metrics::multiple(l.roi_centi()),
                )
            })
            .collect(),
        unattributed: data
            .influencers
            .iter()
            .filter(|l| l.id == 0 && l.c.orders > 0)
            .map(|l| {
                (
                    l.currency.clone(),
                    l.c.orders,
                    show(l.c.gmv_minor, &l.currency),
                )
            })
            .collect(),
        outliers: outliers
            .iter()
            .map(|(l, avg)| {
                (
                    l.name.clone(),
                    metrics::percent(l.refund_rate_bps()),
                    metrics::percent(Some(*avg)),
                    l.c.orders,
                )
            })
            .collect(),
        month: range.to.format("%Y-%m").to_string(),
    };
    pages::ok(&page)
}

#[get("/merchant/dashboard/{table}.csv")]
async fn merchant_csv(
    state: web::Data<AppState>,
    user: MerchantUser,
    path: web::Path<String>,
    query: web::Query<RangeQuery>,
) -> AppResult<HttpResponse> {
    let by = By::parse(&path)
        .filter(|b| MERCHANT_TABS.iter().any(|(x, _)| x == b))
        .ok_or(AppError::NotFound)?;
    let range = parse_range(&query, user.0.time_zone, state.now())?;
    let sort = Sort::parse(&query, Col::Gmv);
    let data = merchant_data(&state, &user, range, by, sort).await?;
    Ok(pages::csv_download(
        lines_csv(&MERCHANT_COLS, &data.lines)?,
        &format!("tandem-{}-{}-to-{}.csv", by.as_str(), range.from, range.to),
    ))
}

/// A month asked as `month=YYYY-MM` (default: the reader's current month).
#[derive(Debug, Default, serde::Deserialize)]
struct MonthQuery {
    month: Option<String>,
}

/// The month's range of local days, or a 422 naming the field.
fn month_range(q: &MonthQuery, tz: Tz, now: chrono::NaiveDateTime) -> AppResult<Range> {
    let today = now.and_utc().with_timezone(&tz).date_naive();
    let first = match q.month.as_deref().map(str::trim).filter(|m| !m.is_empty()) {
        None => today.with_day(1).unwrap_or(today),
        Some(m) => NaiveDate::parse_from_str(&format!("{m}-01"), "%Y-%m-%d").map_err(|_| {
            let mut e = crate::domain::validate::FieldErrors::new();
            e.add("month", "Use a month as YYYY-MM.");
            AppError::Validation(e)
        })?,
    };
    let next = if first.month() == 12 {
        NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)
    }
    .unwrap_or(first);
    Ok(Range {
        from: first,
        to: next - TimeDelta::days(1),
        preset: None,
        campaign: None,
    })
}

/// One line of a statement: what the merchant owes for a campaign's sales through one
/// influencer in one currency.
pub struct StatementLine {
    pub campaign: String,
    pub influencer: String,
    pub currency: String,
    pub orders: i64,
    pub gmv_minor: i64,
    pub commission_minor: i64,
    pub fee_minor: i64,
    pub reversals_minor: i64,
}

impl StatementLine {
    pub fn owed_minor(&self) -> i64 {
        self.commission_minor + self.fee_minor - self.reversals_minor
    }
}

/// The month's statement lines, ordered by currency, campaign and influencer.
async fn statement_lines(
    state: &AppState,
    user: &MerchantUser,
    range: Range,
) -> AppResult<(String, Vec<StatementLine>)> {
    let (uid, tz) = (user.0.id, user.0.time_zone);
    state
        .db(move |conn| {
            let (merchant, _) = crate::service::merchant::org_of(conn, uid)?;
            let rows = metrics::key_rows(
                conn,
                Scope::Merchant(merchant.id),
                &range,
                tz,
                By::Influencer,
            )?;
            let mut grouped: std::collections::BTreeMap<
                (String, i64, i64),
                crate::db::stats::Counts,
            > = Default::default();
            for r in rows.iter().filter(|r| !r.dims.currency.is_empty()) {
                grouped
                    .entry((
                        r.dims.currency.clone(),
                        r.dims.campaign_id,
                        r.dims.influencer_id,
                    ))
                    .or_default()
                    .add(&r.counts);
            }
            let campaign_ids: Vec<i64> = grouped.keys().map(|k| k.1).collect();
            let influencer_ids: Vec<i64> = grouped.keys().map(|k| k.2).collect();
            let campaigns = metrics::names(conn, By::Campaign, &campaign_ids)?;
            let influencers = metrics::names(conn, By::Influencer, &influencer_ids)?;
            let name = |m: &HashMap<i64, (String, String)>, id: i64| {
                m.get(&id)
                    .map_or_else(|| "Not attributed".to_owned(), |n| n.0.clone())
            };
            let mut lines: Vec<StatementLine> = grouped
                .into_iter()
                .filter(|(_, c)| {
                    c.commission_minor != 0
                        || c.fee_minor != 0
                        || c.refund_commission_minor != 0
                        || c.rejected_commission_minor != 0
                        || c.refund_fee_minor != 0
                        || c.rejected_fee_minor != 0
                })
                .map(|((currency, campaign, influencer), c)| StatementLine {
                    campaign: name(&campaigns, campaign),
                    influencer: name(&influencers, influencer),
                    currency,
                    orders: c.orders,
                    gmv_minor: c.gmv_minor,
                    commission_minor: c.commission_minor,
                    fee_minor: c.fee_minor,
                    reversals_minor: c.refund_commission_minor
                        + c.refund_fee_minor
                        + c.rejected_commission_minor
                        + c.rejected_fee_minor,
                })
                .collect();
            lines.sort_by(|a, b| {
                (&a.currency, &a.campaign, &a.influencer).cmp(&(
                    &b.currency,
                    &b.campaign,
                    &b.influencer,
                ))
            });
            Ok((merchant.name, lines))
        })
        .await
}

#[derive(Template)]
#[template(path = "merchant/statement.html")]
struct StatementPage {
    ctx: PageCtx,
    merchant: String,
    month: String,
    month_label: String,
    prev: String,
    next: String,
    zone: String,
    lines: Vec<Vec<String>>,
    totals: Vec<Vec<String>>,
}

#[get("/merchant/statement")]
async fn merchant_statement(
    state: web::Data<AppState>,
    session: Session,
    user: MerchantUser,
    query: web::Query<MonthQuery>,
) -> AppResult<HttpResponse> {
    let tz = user.0.time_zone;
    let range = month_range(&query, tz, state.now())?;
    let (merchant, lines) = statement_lines(&state, &user, range).await?;
    let fmt = |l: &StatementLine| {
        vec![
            l.campaign.clone(),
            l.influencer.clone(),
            l.orders.to_string(),
            show(l.gmv_minor, &l.currency),
            show(l.commission_minor, &l.currency),
            show(l.fee_minor, &l.currency),
            show(-l.reversals_minor, &l.currency),
            show(l.owed_minor(), &l.currency),
        ]
    };
    let mut totals: std::collections::BTreeMap<String, StatementLine> = Default::default();
    for l in &lines {
        let t = totals
            .entry(l.currency.clone())
            .or_insert_with(|| StatementLine {
                campaign: format!("Total {}", l.currency),
                influencer: String::new(),
                currency: l.currency.clone(),
                orders: 0,
                gmv_minor: 0,
                commission_minor: 0,
                fee_minor: 0,
                reversals_minor: 0,
            });
        t.orders += l.orders;
        t.gmv_minor += l.gmv_minor;
        t.commission_minor += l.commission_minor;
        t.fee_minor += l.fee_minor;
        t.reversals_minor += l.reversals_minor;
    }
    let month = range.from.format("%Y-%m").to_string();
    let page = StatementPage {
        ctx: PageCtx::new(&session, Some(&user.0), "Statement", "dashboard"),
        merchant,
        month_label: range.from.format("%B %Y").to_string(),
        prev: (range.from - TimeDelta::days(1))
            .format("%Y-%m")
            .to_string(),
        next: (range.to + TimeDelta::days(1)).format("%Y-%m").to_string(),
        month,
        zone: tz.name().to_owned(),
        lines: lines.iter().map(fmt).collect(),
        totals: totals.values().map(fmt).collect(),
    };
    pages::ok(&page)
}

#[get("/merchant/statement.csv")]
async fn merchant_statement_csv(
    state: web::Data<AppState>,
    user: MerchantUser,
    query: web::Query<MonthQuery>,
) -> AppResult<HttpResponse> {
    let range = month_range(&query, user.0.time_zone, state.now())?;
    let (_, lines) = statement_lines(&state, &user, range).await?;
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "month",
        "currency",
        "campaign",
        "influencer",
        "orders",
        "gmv",
        "commission",
        "fee",
        "reversals",
        "owed",
    ])
    .map_err(anyhow::Error::from)?;
    let month = range.from.format("%Y-%m").to_string();
    for l in &lines {
        let m = |v: i64| plain_in(v, &l.currency);
        w.write_record([
            month.clone(),
            l.currency.clone(),
            csv_text(&l.campaign),
            csv_text(&l.influencer),
            l.orders.to_string(),
            m(l.gmv_minor),
            m(l.commission_minor),
            m(l.fee_minor),
            m(l.reversals_minor),
            m(l.owed_minor()),
        ])
        .map_err(anyhow::Error::from)?;
    }
    let bytes = w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(pages::csv_download(
        bytes,
        &format!("tandem-statement-{month}.csv"),
    ))
}

// ---------------------------------------------------------------------------------------
// Finance

#[derive(Template)]
#[template(path = "finance/dashboard.html")]
struct FinanceDashboard {
    ctx: PageCtx,
    home: crate::service::dashboard::FinanceHome,
    /// (currency, kind label, balance as shown)
    balances: Vec<(String, &'static str, String)>,
    /// (currency, debits, credits, difference, balanced)
    trial: Vec<(String, String, String, String, bool)>,
    exposure: Vec<ExposureRow>,
    aging: Vec<super::billing::AgingView>,
    aging_totals: Vec<(String, Vec<String>)>,
    overdue_invoices: usize,
}

struct ExposureRow {
    currency: String,
    held: String,
    available: String,
    in_payout: String,
    owed_to: String,
    owed_back: String,
    available_net: String,
    receivable: String,
    cash: String,
}

#[get("/finance/dashboard")]
async fn finance_dashboard(
    state: web::Data<AppState>,
    session: Session,
    user: FinanceUser,
) -> AppResult<HttpResponse> {
    let home = state.db(crate::service::dashboard::finance_home).await?;
    let now = state.now();
    let aging = state
        .db(move |conn| crate::service::billing::aging(conn, now))
        .await?;
    let overdue_invoices = aging.overdue_invoices;
    let (aging, aging_totals) = super::billing::aging_views(&aging);
    let balances = home
        .balances
        .iter()
        .map(|b| {
            (
                b.currency.clone(),
                b.kind.label(),
                show(b.shown_minor, &b.currency),
            )
        })
        .collect();
    let trial = home
        .debits_credits
        .iter()
        .map(|(cur, (d, c))| {
            (
                cur.clone(),
                show(*d, cur),
                show(*c, cur),
                show(d - c, cur),
                d == c,
            )
        })
        .collect();
    let exposure = home
        .exposure
        .iter()
        .map(|e| {
            let m = |minor: i64| show(minor, &e.currency);
            ExposureRow {
                currency: e.currency.clone(),
                held: m(e.held_minor),
                available: m(e.available_minor),
                in_payout: m(e.in_payout_minor),
                owed_to: m(e.owed_to_influencers_minor),
                owed_back: m(e.owed_by_influencers_minor),
                available_net: m(e.available_minor - e.owed_by_influencers_minor),
                receivable: m(e.receivable_minor),
                cash: m(e.cash_minor),
            }
        })
        .collect();
    let page = FinanceDashboard {
        ctx: PageCtx::new(&session, Some(&user.0), "Home", "dashboard"),
        home,
        balances,
        trial,
        exposure,
        aging,
        aging_totals,
        overdue_invoices,
    };
    pages::ok(&page)
}

/// Finance's home as a spreadsheet: every figure of its tables (balances per account kind,
/// what is owed and owing with its parts, the trial balance), per currency.
#[get("/finance/dashboard.csv")]
async fn finance_dashboard_csv(
    state: web::Data<AppState>,
    user: FinanceUser,
) -> AppResult<HttpResponse> {
    let _ = user;
    let home = state.db(crate::service::dashboard::finance_home).await?;
    let plain = crate::domain::money::plain_in;
    let mut w = csv::Writer::from_writer(Vec::new());
    let io = |e: csv::Error| AppError::Internal(e.into());
    w.write_record(["section", "currency", "figure", "amount"])
        .map_err(io)?;
    for b in &home.balances {
        w.write_record([
            "balance",
            &b.currency,
            b.kind.label(),
            &plain(b.shown_minor, &b.currency),
        ])
        .map_err(io)?;
    }
    for e in &home.exposure {
        let c = &e.currency;
        for (figure, minor) in [
            ("held (pending)", e.held_minor),
            ("available to pay", e.available_minor),
            ("in payout", e.in_payout_minor),
            ("owed to influencers", e.owed_to_influencers_minor),
            ("owed back by influencers", e.owed_by_influencers_minor),
            ("receivable from merchants", e.receivable_minor),
        ] {
            w.write_record(["owed and owing", c, figure, &plain(minor, c)])
                .map_err(io)?;
        }
    }
    for (c, (d, cr)) in &home.debits_credits {
        for (figure, minor) in [("debits", *d), ("credits", *cr), ("difference", d - cr)] {
            w.write_record(["trial balance", c, figure, &plain(minor, c)])
                .map_err(io)?;
        }
    }
    let bytes = w
        .into_inner()
        .map_err(|e| AppError::Internal(anyhow::anyhow!("csv: {e}")))?;
    Ok(pages::csv_download(bytes, "tandem-finance-balances.csv"))
}
