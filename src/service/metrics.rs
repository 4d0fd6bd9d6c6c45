//! What the dashboards count, read from the rollup (`db::stats`), never from raw clicks or
//! orders: a range of the reader's local days, the figures per local day (charts) and per
//! campaign, influencer, stream or link (tables), with the ratios people compare (conversion,
//! EPC, GMV per 1,000 clicks, ROI), computed exactly.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, TimeZone};
use chrono_tz::Tz;
use diesel::prelude::*;
use rust_decimal::Decimal;

use crate::db::stats::{Counts, Dims, Group, Scope, StatRow};
use crate::db::{self, DbConn};
use crate::domain::money::round_half_away;
use crate::domain::validate::FieldErrors;
use crate::error::AppResult;

/// The longest range a dashboard reads (a year and a day: a leap year's 366).
pub const MAX_DAYS: i64 = 366;
/// The range a dashboard opens with.
pub const DEFAULT_DAYS: i64 = 30;

/// A range of the reader's local days, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// 7, 30 or 90 when picked from the presets (ending today), else `None`.
    pub preset: Option<i64>,
    /// One campaign only (`campaign=<id>`); else every campaign.
    pub campaign: Option<i64>,
}

/// The range as asked in a query string: `days=7|30|90`, or `from` and `to` (YYYY-MM-DD).
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct RangeQuery {
    pub days: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub sort: Option<String>,
    pub dir: Option<String>,
    /// Which table a page shows (`campaigns`, `influencers`, `streams`, `links`).
    pub table: Option<String>,
    /// One campaign's figures only.
    pub campaign: Option<String>,
}

/// A query value, trimmed; `None` when absent or blank.
fn given(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl Range {
    /// The range `q` asks for, ending at most on `today` (the reader's local date); a clear
    /// error naming the field when it cannot be read.
    pub fn parse(q: &RangeQuery, today: NaiveDate) -> Result<Range, FieldErrors> {
        let mut range = Range::parse_days(q, today)?;
        range.campaign = match given(&q.campaign) {
            None => None,
            Some(c) => match c.parse::<i64>() {
                Ok(id) if id > 0 => Some(id),
                _ => {
                    let mut errors = FieldErrors::new();
                    errors.add("campaign", "Choose a campaign from the list.");
                    return Err(errors);
                }
            },
        };
        Ok(range)
    }

    fn parse_days(q: &RangeQuery, today: NaiveDate) -> Result<Range, FieldErrors> {
        let mut errors = FieldErrors::new();
        if given(&q.from).is_some() || given(&q.to).is_some() {
            let date = |field: &str, v: Option<&str>, errors: &mut FieldErrors| match v {
                None => {
                    errors.add(field, "Give both dates of a custom range.");
                    None
                }
                Some(v) => NaiveDate::parse_from_str(v, "%Y-%m-%d").ok().or_else(|| {
                    errors.add(field, "Use a date as YYYY-MM-DD.");
                    None
                }),
            };
            let from = date("from", given(&q.from), &mut errors);
            let to = date("to", given(&q.to), &mut errors);
            if let (Some(from), Some(to)) = (from, to) {
                if from > to {
                    errors.add("from", "The range starts after it ends.");
                } else if (to - from).num_days() + 1 > MAX_DAYS {
                    errors.add("to", format!("A range is at most {MAX_DAYS} days."));
                } else {
                    return Ok(Range {
                        from,
                        to,
                        preset: None,
                        campaign: None,
                    });
                }
            }
            return Err(errors);
        }
        let days = match given(&q.days) {
            None => DEFAULT_DAYS,
            Some(d) => match d.parse::<i64>() {
                Ok(n @ (7 | 30 | 90)) => n,
                _ => {
                    errors.add("days", "Choose 7, 30 or 90 days, or give a custom range.");
                    return Err(errors);
                }
            },
        };
        Ok(Range {
            from: today - TimeDelta::days(days - 1),
            to: today,
            preset: Some(days),
            campaign: None,
        })
    }

    /// How many days it spans.
    pub fn days(&self) -> i64 {
        (self.to - self.from).num_days() + 1
    }

    /// Its UTC bounds, `[start, end)` in seconds since 1970: the local midnights that begin
    /// `from` and the day after `to`.
    pub fn bounds(&self, tz: Tz) -> (i64, i64) {
        (
            local_midnight(self.from, tz),
            local_midnight(self.to + TimeDelta::days(1), tz),
        )
    }

    /// Every day in it, in order.
    pub fn dates(&self) -> Vec<NaiveDate> {
        (0..self.days())
            .map(|d| self.from + TimeDelta::days(d))
            .collect()
    }

    /// The query string that asks for it again (links keep the range and the campaign).
    pub fn query(&self) -> String {
        let days = match self.preset {
            Some(d) => format!("days={d}"),
            None => format!("from={}&to={}", self.from, self.to),
        };
        match self.campaign {
            Some(c) => format!("{days}&campaign={c}"),
            None => days,
        }
    }

    /// "7 Nov – 6 Dec 2026".
    pub fn label(&self) -> String {
        if self.from.year() == self.to.year() {
            format!(
                "{} – {}",
                self.from.format("%-d %b"),
                self.to.format("%-d %b %Y")
            )
        } else {
            format!(
                "{} – {}",
                self.from.format("%-d %b %Y"),
                self.to.format("%-d %b %Y")
            )
        }
    }
}

/// The UTC instant (seconds) at which the local `date` begins in `tz` (on a day whose
/// midnight a clock change skips, the first instant that exists).
pub fn local_midnight(date: NaiveDate, tz: Tz) -> i64 {
    let midnight = date.and_hms_opt(0, 0, 0).unwrap_or_default();
    (0..=4)
        .find_map(|h| {
            tz.from_local_datetime(&(midnight + TimeDelta::minutes(30 * h)))
                .earliest()
        })
        .map_or_else(|| midnight.and_utc().timestamp(), |t| t.timestamp())
}

/// The local date of a bucket (every zone's offset is whole quarter hours, so the whole
/// bucket is in it).
pub fn local_date(bucket: i64, tz: Tz) -> NaiveDate {
    DateTime::from_timestamp(bucket, 0)
        .unwrap_or_default()
        .with_timezone(&tz)
        .date_naive()
}

/// One local day's figures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Day {
    pub date: NaiveDate,
    /// Clicks and orders in every currency (clicks have none).
    pub all: Counts,
    /// Per currency: what its orders, refunds and rejections add.
    pub money: BTreeMap<String, Counts>,
}

/// Every day of the range (empty days included), from rows read for its bounds.
pub fn per_day(rows: &[StatRow], range: &Range, tz: Tz) -> Vec<Day> {
    let mut days: Vec<Day> = range
        .dates()
        .into_iter()
        .map(|date| Day {
            date,
            ..Day::default()
        })
        .collect();
    for r in rows {
        let i = (local_date(r.bucket, tz) - range.from).num_days();
        let Some(day) = usize::try_from(i).ok().and_then(|i| days.get_mut(i)) else {
            continue;
        };
        day.all.add(&r.counts);
        if !r.dims.currency.is_empty() {
            day.money
                .entry(r.dims.currency.clone())
                .or_default()
                .add(&r.counts);
        }
    }
    days
}

/// How to sum a range's rows into groups that each fall in one local day: whole local days
/// when the zone's offset does not change in the range (one row per day and currency), else
/// whole hours when every offset is whole hours, else quarter hours.
pub fn time_group(range: &Range, tz: Tz) -> Group {
    use chrono::Offset;
    let offsets: Vec<i64> = (0..=range.days())
        .map(|d| {
            let at = local_midnight(range.from + TimeDelta::days(d), tz);
            DateTime::from_timestamp(at, 0).map_or(0, |t| {
                i64::from(
                    tz.offset_from_utc_datetime(&t.naive_utc())
                        .fix()
                        .local_minus_utc(),
                )
            })
        })
        .collect();
    if offsets.windows(2).all(|w| w[0] == w[1]) {
        Group::Time {
            width: 86_400,
            offset: offsets[0],
        }
    } else if offsets.iter().all(|o| o % 3_600 == 0) {
        Group::Time {
            width: 3_600,
            offset: 0,
        }
    } else {
        Group::Time {
            width: db::stats::QUARTER_SECS,
            offset: 0,
        }
    }
}

/// The range's rows summed per local day (or per hour or quarter hour within one, see
/// [`time_group`]) and currency, for [`per_day`].
pub fn day_rows(conn: &mut DbConn, scope: Scope, range: &Range, tz: Tz) -> AppResult<Vec<StatRow>> {
    let (from, to) = range.bounds(tz);
    Ok(db::stats::grouped(
        conn,
        scope,
        from,
        to,
        time_group(range, tz),
        range.campaign,
    )?)
}

/// The range's rows summed per what `by` groups (and campaign and currency), for [`table`].
pub fn key_rows(
    conn: &mut DbConn,
    scope: Scope,
    range: &Range,
    tz: Tz,
    by: By,
) -> AppResult<Vec<StatRow>> {
    let (from, to) = range.bounds(tz);
    let group = match by {
        By::Campaign => Group::Campaign,
        By::Influencer => Group::Influencer,
        By::Stream => Group::Stream,
        By::Link => Group::Link,
    };
    Ok(db::stats::grouped(
        conn,
        scope,
        from,
        to,
        group,
        range.campaign,
    )?)
}

/// What a table groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    Campaign,
    Influencer,
    Stream,
    Link,
}

impl By {
    pub fn parse(s: &str) -> Option<By> {
        match s {
            "campaigns" => Some(By::Campaign),
            "influencers" => Some(By::Influencer),
            "streams" => Some(By::Stream),
            "links" => Some(By::Link),
            _ => None,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            By::Campaign => "campaigns",
            By::Influencer => "influencers",
            By::Stream => "streams",
            By::Link => "links",
        }
    }

    fn key(&self, d: &Dims) -> i64 {
        match self {
            By::Campaign => d.campaign_id,
            By::Influencer => d.influencer_id,
            By::Stream => d.stream_id,
            By::Link => d.link_id,
        }
    }
}

/// One table line: a campaign (influencer, stream, link) in one currency. Clicks count in
/// the currency of the campaign they came through, so each line has exactly one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub id: i64,
    pub name: String,
    /// What else names it (a stream's platform, a link's code and campaign).
    pub detail: String,
    pub currency: String,
    pub c: Counts,
}

impl Line {
    /// Orders a click led to per unique click, in basis points (`None` without unique
    /// clicks); orders by coupon code are not click conversions.
    pub fn conversion_bps(&self) -> Option<i64> {
        ratio(self.c.click_orders() * 10_000, self.c.unique_clicks)
    }

    /// What the orders a click led to earned, per 100 human clicks, in minor units (net
    /// commission; orders by coupon code left out).
    pub fn epc_minor(&self) -> Option<i64> {
        ratio(self.c.click_commission() * 100, self.c.human_clicks())
    }

    /// Order value per 1,000 human clicks, in minor units.
    pub fn gmv_per_mille_minor(&self) -> Option<i64> {
        ratio(self.c.gmv_minor * 1_000, self.c.human_clicks())
    }

    /// What the merchant owes for the line: net commission and net fee.
    pub fn cost_minor(&self) -> i64 {
        self.c.net_commission() + self.c.net_fee()
    }

    /// Refunded share of the order value, in basis points.
    pub fn refund_rate_bps(&self) -> Option<i64> {
        ratio(self.c.refund_minor * 10_000, self.c.gmv_minor)
    }

    /// Return on what the merchant pays: net order value / (net commission + net fee), in
    /// hundredths (`None` when it pays nothing).
    pub fn roi_centi(&self) -> Option<i64> {
        ratio(self.c.net_gmv() * 100, self.cost_minor())
    }
}

/// `num / den` rounded half away from zero; `None` when `den` is not positive.
pub fn ratio(num: i64, den: i64) -> Option<i64> {
    if den <= 0 {
        return None;
    }
    let r = round_half_away(Decimal::from(num) / Decimal::from(den), 0);
    i64::try_from(r.mantissa() / 10i128.pow(r.scale())).ok()
}

/// Basis points as a percentage with two decimals ("3.25 %").
pub fn percent(bps: Option<i64>) -> String {
    match bps {
        None => "–".to_owned(),
        Some(b) => format!(
            "{}{}.{:02} %",
            if b < 0 { "-" } else { "" },
            b.abs() / 100,
            b.abs() % 100
        ),
    }
}

/// Hundredths as a multiple ("4.27×").
pub fn multiple(centi: Option<i64>) -> String {
    match centi {
        None => "–".to_owned(),
        Some(c) => format!(
            "{}{}.{:02}×",
            if c < 0 { "-" } else { "" },
            c.abs() / 100,
            c.abs() % 100
        ),
    }
}

/// Groups rows into lines by `by`, each in the currency of its campaign (`currency_of`; an
/// order row keeps its own), sorted by `sort`. Lines of nothing (no clicks, orders or
/// refunds) are left out.
pub fn lines(
    rows: &[StatRow],
    by: By,
    currency_of: &HashMap<i64, String>,
    names: &HashMap<i64, (String, String)>,
) -> Vec<Line> {
    let mut grouped: BTreeMap<(i64, String), Counts> = BTreeMap::new();
    for r in rows {
        let currency = if r.dims.currency.is_empty() {
            currency_of
                .get(&r.dims.campaign_id)
                .cloned()
                .unwrap_or_default()
        } else {
            r.dims.currency.clone()
        };
        grouped
            .entry((by.key(&r.dims), currency))
            .or_default()
            .add(&r.counts);
    }
    grouped
        .into_iter()
        .filter(|(_, c)| *c != Counts::default())
        .map(|((id, currency), c)| {
            let (name, detail) = names.get(&id).cloned().unwrap_or_else(|| {
                if id == 0 {
                    (none_name(by).to_owned(), String::new())
                } else {
                    (format!("#{id}"), String::new())
                }
            });
            Line {
                id,
                name,
                detail,
                currency,
                c,
            }
        })
        .collect()
}

/// What a line of id 0 is.
fn none_name(by: By) -> &'static str {
    match by {
        By::Campaign | By::Influencer => "Not attributed",
        By::Stream => "No stream",
        By::Link => "No link (coupon code)",
    }
}

/// A table column people sort by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Col {
    Name,
    Clicks,
    Unique,
    Orders,
    CouponOrders,
    Conversion,
    Gmv,
    Refunds,
    Commission,
    Fee,
    Epc,
    PerMille,
    Roi,
    RefundRate,
}

impl Col {
    pub const ALL: [Col; 14] = [
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
        Col::Epc,
        Col::PerMille,
        Col::Roi,
        Col::RefundRate,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Col::Name => "name",
            Col::Clicks => "clicks",
            Col::Unique => "unique",
            Col::Orders => "orders",
            Col::CouponOrders => "coupon_orders",
            Col::Conversion => "conversion",
            Col::Gmv => "gmv",
            Col::Refunds => "refunds",
            Col::Commission => "commission",
            Col::Fee => "fee",
            Col::Epc => "epc",
            Col::PerMille => "per_mille",
            Col::Roi => "roi",
            Col::RefundRate => "refund_rate",
        }
    }

    pub fn parse(s: &str) -> Option<Col> {
        Col::ALL.into_iter().find(|c| c.as_str() == s)
    }

    fn value(&self, l: &Line) -> Option<i64> {
        match self {
            Col::Name => None,
            Col::Clicks => Some(l.c.human_clicks()),
            Col::Unique => Some(l.c.unique_clicks),
            Col::Orders => Some(l.c.orders),
            Col::CouponOrders => Some(l.c.coupon_orders),
            Col::Conversion => l.conversion_bps(),
            Col::Gmv => Some(l.c.gmv_minor),
            Col::Refunds => Some(l.c.refund_minor),
            Col::Commission => Some(l.c.net_commission()),
            Col::Fee => Some(l.c.net_fee()),
            Col::Epc => l.epc_minor(),
            Col::PerMille => l.gmv_per_mille_minor(),
            Col::Roi => l.roi_centi(),
            Col::RefundRate => l.refund_rate_bps(),
        }
    }
}

/// How a table is sorted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort {
    pub col: Col,
    pub desc: bool,
}

impl Sort {
    /// From the query (`sort`, `dir`); unknown values fall back to `default`.
    pub fn parse(q: &RangeQuery, default: Col) -> Sort {
        let col = q.sort.as_deref().and_then(Col::parse).unwrap_or(default);
        let desc = match q.dir.as_deref() {
            Some("asc") => false,
            Some("desc") => true,
            _ => col != Col::Name,
        };
        Sort { col, desc }
    }

    /// Sorts lines: by the column (lines without a value last), then by currency and name.
    pub fn apply(&self, lines: &mut [Line]) {
        lines.sort_by(|a, b| {
            let primary = if self.col == Col::Name {
                a.name.to_lowercase().cmp(&b.name.to_lowercase())
            } else {
                match (self.col.value(a), self.col.value(b)) {
                    (Some(x), Some(y)) => x.cmp(&y),
                    (Some(_), None) => std::cmp::Ordering::Greater,
                    (None, Some(_)) => std::cmp::Ordering::Less,
                    (None, None) => std::cmp::Ordering::Equal,
                }
            };
            let primary = if self.desc {
                primary.reverse()
            } else {
                primary
            };
            primary
                .then_with(|| a.currency.cmp(&b.currency))
                .then_with(|| a.name.cmp(&b.name))
                .then_with(|| a.id.cmp(&b.id))
        });
    }
}

/// Names of what the lines are, by id: (name, detail).
pub fn names(conn: &mut DbConn, by: By, ids: &[i64]) -> AppResult<HashMap<i64, (String, String)>> {
    use crate::db::schema::{campaigns, influencers, links, streams};
    let ids: Vec<i64> = ids.iter().copied().filter(|&i| i != 0).collect();
    let out = match by {
        By::Campaign => campaigns::table
            .filter(campaigns::id.eq_any(&ids))
            .select((campaigns::id, campaigns::name, campaigns::currency))
            .load::<(i64, String, String)>(conn)?
            .into_iter()
            .map(|(id, name, _)| (id, (name, String::new())))
            .collect(),
        By::Influencer => influencers::table
            .filter(influencers::id.eq_any(&ids))
            .select((
                influencers::id,
                influencers::display_name,
                influencers::handle,
            ))
            .load::<(i64, String, String)>(conn)?
            .into_iter()
            .map(|(id, name, handle)| (id, (name, handle)))
            .collect(),
        By::Stream => streams::table
            .filter(streams::id.eq_any(&ids))
            .select((streams::id, streams::title, streams::platform))
            .load::<(i64, String, String)>(conn)?
            .into_iter()
            .map(|(id, title, platform)| (id, (title, platform)))
            .collect(),
        By::Link => links::table
            .inner_join(campaigns::table.on(campaigns::id.eq(links::campaign_id)))
            .filter(links::id.eq_any(&ids))
            .select((links::id, links::label, links::code, campaigns::name))
            .load::<(i64, String, String, String)>(conn)?
            .into_iter()
            .map(|(id, label, code, campaign)| (id, (label, format!("{code} · {campaign}"))))
            .collect(),
    };
    Ok(out)
}

/// Each campaign's currency, for the campaigns the rows name.
pub fn campaign_currencies(conn: &mut DbConn, rows: &[StatRow]) -> AppResult<HashMap<i64, String>> {
    use crate::db::schema::campaigns;
    let mut ids: Vec<i64> = rows.iter().map(|r| r.dims.campaign_id).collect();
    ids.sort_unstable();
    ids.dedup();
    Ok(campaigns::table
        .filter(campaigns::id.eq_any(&ids))
        .select((campaigns::id, campaigns::currency))
        .load::<(i64, String)>(conn)?
        .into_iter()
        .collect())
}

/// A table of the rows grouped by `by`, named and sorted.
pub fn table(
    conn: &mut DbConn,
    rows: &[StatRow],
    by: By,
    currencies: &HashMap<i64, String>,
    sort: Sort,
) -> AppResult<Vec<Line>> {
    let mut ids: Vec<i64> = rows.iter().map(|r| by.key(&r.dims)).collect();
    ids.sort_unstable();
    ids.dedup();
    let names = names(conn, by, &ids)?;
    let mut out = lines(rows, by, currencies, &names);
    sort.apply(&mut out);
    Ok(out)
}

/// Totals per currency of a table's lines (clicks counted in their campaign's currency).
pub fn totals(lines: &[Line]) -> Vec<Line> {
    let mut by_currency: BTreeMap<String, Counts> = BTreeMap::new();
    for l in lines {
        by_currency.entry(l.currency.clone()).or_default().add(&l.c);
    }
    by_currency
        .into_iter()
        .map(|(currency, c)| Line {
            id: 0,
            name: "Total".to_owned(),
            detail: String::new(),
            currency,
            c,
        })
        .collect()
}
