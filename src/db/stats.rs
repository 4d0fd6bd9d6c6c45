//! The dashboards' rollup, `stats_quarters` (see its migration): clicks, orders, refunds and
//! rejections summed per 15-minute UTC bucket and per merchant, campaign, influencer, link and
//! stream. Orders, refunds and rejections add to it in the transaction that records them;
//! clicks as `link_daily` is kept (the click commit on PostgreSQL, the rollup job on SQLite,
//! whose readers add the clicks after its mark: [`rows`]).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;
use diesel::upsert::excluded;

use super::DbConn;
use super::schema::stats_quarters as sq;

/// A bucket's length in seconds.
pub const QUARTER_SECS: i64 = 900;

/// The UTC start of the quarter hour holding `at`, in seconds since 1970.
pub fn quarter_of(at: NaiveDateTime) -> i64 {
    at.and_utc().timestamp().div_euclid(QUARTER_SECS) * QUARTER_SECS
}

/// What a row belongs to; 0 where there is none (an unattributed order has no campaign or
/// influencer, a coupon sale no link, a link no stream). Click rows have currency "".
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Dims {
    pub merchant_id: i64,
    pub campaign_id: i64,
    pub influencer_id: i64,
    pub link_id: i64,
    pub stream_id: i64,
    pub currency: String,
}

/// What a row counts (see the migration for each column's meaning).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub clicks: i64,
    pub unique_clicks: i64,
    pub bot_clicks: i64,
    pub orders: i64,
    pub gmv_minor: i64,
    pub commission_minor: i64,
    pub fee_minor: i64,
    pub refunds: i64,
    pub refund_minor: i64,
    pub refund_commission_minor: i64,
    pub refund_fee_minor: i64,
    pub rejected_commission_minor: i64,
    pub rejected_fee_minor: i64,
    /// Orders by coupon code, with no click (of the orders above): a row of an influencer
    /// without a link. [`bump`] counts them from the row's dims.
    pub coupon_orders: i64,
    /// The commission of those orders, net of what refunds and rejections took back.
    pub coupon_commission_minor: i64,
}

impl Counts {
    pub fn add(&mut self, o: &Counts) {
        self.clicks += o.clicks;
        self.unique_clicks += o.unique_clicks;
        self.bot_clicks += o.bot_clicks;
        self.orders += o.orders;
        self.gmv_minor += o.gmv_minor;
        self.commission_minor += o.commission_minor;
        self.fee_minor += o.fee_minor;
        self.refunds += o.refunds;
        self.refund_minor += o.refund_minor;
        self.refund_commission_minor += o.refund_commission_minor;
        self.refund_fee_minor += o.refund_fee_minor;
        self.rejected_commission_minor += o.rejected_commission_minor;
        self.rejected_fee_minor += o.rejected_fee_minor;
        self.coupon_orders += o.coupon_orders;
        self.coupon_commission_minor += o.coupon_commission_minor;
    }

    /// Orders a click led to (orders by coupon code left out): conversion's numerator.
    pub fn click_orders(&self) -> i64 {
        self.orders - self.coupon_orders
    }

    /// Net commission of the orders a click led to: EPC's numerator.
    pub fn click_commission(&self) -> i64 {
        self.net_commission() - self.coupon_commission_minor
    }

    /// Human clicks (bots left out).
    pub fn human_clicks(&self) -> i64 {
        self.clicks - self.bot_clicks
    }

    /// Commission earned net of what refunds and rejections took back.
    pub fn net_commission(&self) -> i64 {
        self.commission_minor - self.refund_commission_minor - self.rejected_commission_minor
    }

    /// Platform fee net of what refunds and rejections took back.
    pub fn net_fee(&self) -> i64 {
        self.fee_minor - self.refund_fee_minor - self.rejected_fee_minor
    }

    /// Order value net of refunds.
    pub fn net_gmv(&self) -> i64 {
        self.gmv_minor - self.refund_minor
    }
}

/// One stored row: what it belongs to, its bucket and its counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatRow {
    pub dims: Dims,
    pub bucket: i64,
    pub counts: Counts,
}

#[derive(Queryable, Selectable, QueryableByName)]
#[diesel(table_name = sq)]
pub(super) struct Raw {
    merchant_id: i64,
    campaign_id: i64,
    influencer_id: i64,
    link_id: i64,
    stream_id: i64,
    currency: String,
    bucket: i64,
    clicks: i64,
    unique_clicks: i64,
    bot_clicks: i64,
    orders: i64,
    gmv_minor: i64,
    commission_minor: i64,
    fee_minor: i64,
    refunds: i64,
    refund_minor: i64,
    refund_commission_minor: i64,
    refund_fee_minor: i64,
    rejected_commission_minor: i64,
    rejected_fee_minor: i64,
    coupon_orders: i64,
    coupon_commission_minor: i64,
}

impl From<Raw> for StatRow {
    fn from(r: Raw) -> StatRow {
        StatRow {
            dims: Dims {
                merchant_id: r.merchant_id,
                campaign_id: r.campaign_id,
                influencer_id: r.influencer_id,
                link_id: r.link_id,
                stream_id: r.stream_id,
                currency: r.currency,
            },
            bucket: r.bucket,
            counts: Counts {
                clicks: r.clicks,
                unique_clicks: r.unique_clicks,
                bot_clicks: r.bot_clicks,
                orders: r.orders,
                gmv_minor: r.gmv_minor,
                commission_minor: r.commission_minor,
                fee_minor: r.fee_minor,
                refunds: r.refunds,
                refund_minor: r.refund_minor,
                refund_commission_minor: r.refund_commission_minor,
                refund_fee_minor: r.refund_fee_minor,
                rejected_commission_minor: r.rejected_commission_minor,
                rejected_fee_minor: r.rejected_fee_minor,
                coupon_orders: r.coupon_orders,
                coupon_commission_minor: r.coupon_commission_minor,
            },
        }
    }
}

/// Adds `c` to the row of (`dims`, `bucket`) of a rollup table with the stats columns
/// (`stats_quarters`, `stream_minutes`), creating it on first use: one upsert, so two
/// writers adding to a new row at once cannot both create it.
macro_rules! bump_into {
    ($table:ident, $conn:expr, $dims:expr, $bucket:expr, $c:expr) => {{
        use $crate::db::schema::$table as sq;
        let (conn, dims, bucket, c): (&mut DbConn, &Dims, i64, &Counts) =
            ($conn, $dims, $bucket, $c);
        // An influencer's row without a link is a coupon sale: its orders and commission are
        // also counted as by coupon.
        let coupon = dims.link_id == 0 && dims.influencer_id != 0;
        let (coupon_orders, coupon_commission) = if coupon {
            (c.orders, c.net_commission())
        } else {
            (0, 0)
        };
        let values = (
            sq::merchant_id.eq(dims.merchant_id),
            sq::campaign_id.eq(dims.campaign_id),
            sq::influencer_id.eq(dims.influencer_id),
            sq::link_id.eq(dims.link_id),
            sq::stream_id.eq(dims.stream_id),
            sq::currency.eq(&dims.currency),
            sq::bucket.eq(bucket),
            (
                sq::clicks.eq(c.clicks),
                sq::unique_clicks.eq(c.unique_clicks),
                sq::bot_clicks.eq(c.bot_clicks),
                sq::orders.eq(c.orders),
                sq::gmv_minor.eq(c.gmv_minor),
                sq::commission_minor.eq(c.commission_minor),
                sq::fee_minor.eq(c.fee_minor),
                sq::refunds.eq(c.refunds),
                sq::refund_minor.eq(c.refund_minor),
                sq::refund_commission_minor.eq(c.refund_commission_minor),
                sq::refund_fee_minor.eq(c.refund_fee_minor),
                sq::rejected_commission_minor.eq(c.rejected_commission_minor),
                sq::rejected_fee_minor.eq(c.rejected_fee_minor),
            ),
            (
                sq::coupon_orders.eq(coupon_orders),
                sq::coupon_commission_minor.eq(coupon_commission),
            ),
        );
        let set = (
            sq::clicks.eq(sq::clicks + excluded(sq::clicks)),
            sq::unique_clicks.eq(sq::unique_clicks + excluded(sq::unique_clicks)),
            sq::bot_clicks.eq(sq::bot_clicks + excluded(sq::bot_clicks)),
            sq::orders.eq(sq::orders + excluded(sq::orders)),
            sq::gmv_minor.eq(sq::gmv_minor + excluded(sq::gmv_minor)),
            sq::commission_minor.eq(sq::commission_minor + excluded(sq::commission_minor)),
            sq::fee_minor.eq(sq::fee_minor + excluded(sq::fee_minor)),
            sq::refunds.eq(sq::refunds + excluded(sq::refunds)),
            sq::refund_minor.eq(sq::refund_minor + excluded(sq::refund_minor)),
            sq::refund_commission_minor
                .eq(sq::refund_commission_minor + excluded(sq::refund_commission_minor)),
            sq::refund_fee_minor.eq(sq::refund_fee_minor + excluded(sq::refund_fee_minor)),
            sq::rejected_commission_minor
                .eq(sq::rejected_commission_minor + excluded(sq::rejected_commission_minor)),
            sq::rejected_fee_minor.eq(sq::rejected_fee_minor + excluded(sq::rejected_fee_minor)),
            sq::coupon_orders.eq(sq::coupon_orders + excluded(sq::coupon_orders)),
            sq::coupon_commission_minor
                .eq(sq::coupon_commission_minor + excluded(sq::coupon_commission_minor)),
        );
        on_inner!(conn, |c| diesel::insert_into(sq::table)
            .values(values)
            .on_conflict((
                sq::merchant_id,
                sq::influencer_id,
                sq::campaign_id,
                sq::link_id,
                sq::stream_id,
                sq::currency,
                sq::bucket,
            ))
            .do_update()
            .set(set)
            .execute(c))?;
        Ok(())
    }};
}

/// Adds `c` to the rollup rows of (`dims`, the time `at`): its quarter hour's, and, for a
/// stream's row, its minute's in `stream_minutes` (the live board), whose watchers on
/// PostgreSQL are told at commit (`db::live::notify`).
pub fn bump_at(conn: &mut DbConn, dims: &Dims, at: NaiveDateTime, c: &Counts) -> QueryResult<()> {
    bump(conn, dims, quarter_of(at), c)?;
    if dims.stream_id != 0 {
        bump_minute(conn, dims, super::live::minute_of(at), c)?;
        super::live::notify(conn, dims.stream_id)?;
    }
    Ok(())
}

/// Adds `c` to the `stats_quarters` row of (`dims`, `bucket`).
pub fn bump(conn: &mut DbConn, dims: &Dims, bucket: i64, c: &Counts) -> QueryResult<()> {
    bump_into!(stats_quarters, conn, dims, bucket, c)
}

/// Adds `c` to the `stream_minutes` row of (`dims`, `minute`) (a stream's: `dims.stream_id`
/// is not 0).
pub fn bump_minute(conn: &mut DbConn, dims: &Dims, minute: i64, c: &Counts) -> QueryResult<()> {
    bump_into!(stream_minutes, conn, dims, minute, c)
}

/// Adds a link's clicks in one bucket (the link's merchant, campaign, influencer and stream
/// are its own).
pub fn bump_clicks(
    conn: &mut DbConn,
    link_id: i64,
    bucket: i64,
    clicks: i64,
    unique: i64,
    bots: i64,
) -> QueryResult<()> {
    use super::schema::links;
    use diesel::sql_types::BigInt;
    if let DbConn::Pg(c) = conn {
        // One statement (this runs in every click commit on PostgreSQL).
        diesel::sql_query(
            "INSERT INTO stats_quarters (merchant_id, campaign_id, influencer_id, link_id, \
             stream_id, currency, bucket, clicks, unique_clicks, bot_clicks) \
             SELECT merchant_id, campaign_id, influencer_id, id, coalesce(stream_id, 0), '', \
             $2, $3, $4, $5 FROM links WHERE id = $1 \
             ON CONFLICT (merchant_id, influencer_id, campaign_id, link_id, stream_id, currency, \
             bucket) DO UPDATE SET clicks = stats_quarters.clicks + excluded.clicks, \
             unique_clicks = stats_quarters.unique_clicks + excluded.unique_clicks, \
             bot_clicks = stats_quarters.bot_clicks + excluded.bot_clicks",
        )
        .bind::<BigInt, _>(link_id)
        .bind::<BigInt, _>(bucket)
        .bind::<BigInt, _>(clicks)
        .bind::<BigInt, _>(unique)
        .bind::<BigInt, _>(bots)
        .execute(c)?;
        return Ok(());
    }
    let (merchant_id, campaign_id, influencer_id, stream_id): (i64, i64, i64, Option<i64>) =
        links::table
            .find(link_id)
            .select((
                links::merchant_id,
                links::campaign_id,
                links::influencer_id,
                links::stream_id,
            ))
            .first(conn)?;
    bump(
        conn,
        &Dims {
            merchant_id,
            campaign_id,
            influencer_id,
            link_id,
            stream_id: stream_id.unwrap_or(0),
            currency: String::new(),
        },
        bucket,
        &Counts {
            clicks,
            unique_clicks: unique,
            bot_clicks: bots,
            ..Counts::default()
        },
    )
}

/// The columns of click rows computed from `clicks` joined with `links` (a click is unique if
/// it is neither a repeat nor a bot, as the click writer counts), grouped by link and bucket.
/// SQLite only; `CROSS JOIN` keeps clicks the outer loop, so a range of click ids is read by
/// its primary key (with statistics the planner would otherwise walk every link's clicks).
pub(super) fn click_rows(width: i64) -> String {
    format!(
        "SELECT l.merchant_id, l.campaign_id, l.influencer_id, \
     l.id AS link_id, coalesce(l.stream_id, 0) AS stream_id, '' AS currency, \
     CAST(strftime('%s', c.created_at) AS INTEGER) / {width} * {width} AS bucket, \
     count(*) AS clicks, \
     sum(CASE WHEN c.is_bot = 0 AND c.is_repeat = 0 THEN 1 ELSE 0 END) AS unique_clicks, \
     sum(CASE WHEN c.is_bot <> 0 THEN 1 ELSE 0 END) AS bot_clicks, \
     0 AS orders, 0 AS gmv_minor, 0 AS commission_minor, 0 AS fee_minor, 0 AS refunds, \
     0 AS refund_minor, 0 AS refund_commission_minor, 0 AS refund_fee_minor, \
     0 AS rejected_commission_minor, 0 AS rejected_fee_minor, 0 AS coupon_orders, \
     0 AS coupon_commission_minor \
     FROM clicks c CROSS JOIN links l ON l.id = c.link_id"
    )
}

/// SQLite: adds the clicks with row ids after `after` up to `through`, counted from their
/// rows (the rollup job, with `link_daily`).
pub fn add_clicks_sqlite(conn: &mut SqliteConnection, after: i64, through: i64) -> QueryResult<()> {
    let click_rows = click_rows(QUARTER_SECS);
    diesel::sql_query(format!(
        "INSERT INTO stats_quarters (merchant_id, campaign_id, influencer_id, link_id, \
         stream_id, currency, bucket, clicks, unique_clicks, bot_clicks) \
         SELECT merchant_id, campaign_id, influencer_id, link_id, stream_id, currency, bucket, \
         clicks, unique_clicks, bot_clicks FROM ({click_rows} \
         WHERE c.id > ?1 AND c.id <= ?2 GROUP BY l.id, bucket) WHERE true \
         ON CONFLICT (merchant_id, influencer_id, campaign_id, link_id, stream_id, currency, \
         bucket) DO UPDATE SET clicks = clicks + excluded.clicks, \
         unique_clicks = unique_clicks + excluded.unique_clicks, \
         bot_clicks = bot_clicks + excluded.bot_clicks"
    ))
    .bind::<diesel::sql_types::BigInt, _>(after)
    .bind::<diesel::sql_types::BigInt, _>(through)
    .execute(conn)?;
    Ok(())
}

/// Whose rows to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Influencer(i64),
    Merchant(i64),
    /// Everyone's (finance; tests).
    All,
}

/// The rows of `scope` with buckets in `[from, to)` (seconds since 1970), with, on SQLite,
/// the clicks the rollup job has not folded in yet (after its mark), read in the same
/// transaction so that every committed click counts once. Rows are not merged: one (dims,
/// bucket) may come twice, once stored and once from the unfolded clicks.
pub fn rows(conn: &mut DbConn, scope: Scope, from: i64, to: i64) -> QueryResult<Vec<StatRow>> {
    conn.transaction::<_, diesel::result::Error, _>(|c| {
        // Built per backend (a boxed query is tied to one).
        let stored: Vec<Raw> = on_inner!(c, |inner| {
            let q = sq::table
                .filter(sq::bucket.ge(from))
                .filter(sq::bucket.lt(to))
                .select(Raw::as_select())
                .into_boxed();
            match scope {
                Scope::Influencer(id) => q.filter(sq::influencer_id.eq(id)),
                Scope::Merchant(id) => q.filter(sq::merchant_id.eq(id)),
                Scope::All => q,
            }
            .load(inner)?
        });
        let mut out: Vec<StatRow> = stored.into_iter().map(StatRow::from).collect();
        if let DbConn::Sqlite(inner) = c {
            let (filter, id) = match scope {
                Scope::Influencer(id) => ("AND l.influencer_id = ?3", id),
                Scope::Merchant(id) => ("AND l.merchant_id = ?3", id),
                Scope::All => ("AND ?3 = ?3", 0),
            };
            // Clicks are stored in time order with their ids, so the unfolded ones are the
            // latest; the bucket bounds are checked on the grouped rows.
            let click_rows = click_rows(QUARTER_SECS);
            let tail: Vec<Raw> = diesel::sql_query(format!(
                "SELECT * FROM ({click_rows} \
                 WHERE c.id > (SELECT through_id FROM click_rollup) {filter} \
                 GROUP BY l.id, bucket) WHERE bucket >= ?1 AND bucket < ?2"
            ))
            .bind::<diesel::sql_types::BigInt, _>(from)
            .bind::<diesel::sql_types::BigInt, _>(to)
            .bind::<diesel::sql_types::BigInt, _>(id)
            .load(inner)?;
            out.extend(tail.into_iter().map(StatRow::from));
        }
        Ok(out)
    })
}

/// The rollup's count columns.
const COUNT_COLUMNS: [&str; 15] = [
    "clicks",
    "unique_clicks",
    "bot_clicks",
    "orders",
    "gmv_minor",
    "commission_minor",
    "fee_minor",
    "refunds",
    "refund_minor",
    "refund_commission_minor",
    "refund_fee_minor",
    "rejected_commission_minor",
    "rejected_fee_minor",
    "coupon_orders",
    "coupon_commission_minor",
];

const DAY_SECS: i64 = 86_400;

/// How [`grouped`] sums rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// Per bucket of `width` seconds (900, 3,600 or 86,400) starting `offset` seconds before
    /// a multiple of `width` since 1970 (a local day of a zone `offset` ahead of UTC), per
    /// currency; each row's `bucket` is its group's UTC start, its dims 0 but the currency.
    Time {
        width: i64,
        offset: i64,
    },
    /// Per campaign, influencer, stream or link (and campaign and currency, which money and
    /// the clicks' currency need); `bucket` 0.
    Campaign,
    Influencer,
    Stream,
    Link,
}

/// The rows of `scope` in `[from, to)` summed by `group` in the database (a dashboard reads a
/// few hundred grouped rows instead of every quarter hour), with, on SQLite, the clicks the
/// rollup job has not folded in yet summed the same way (read in the same transaction). One
/// group may come twice (stored and unfolded); callers add them up.
pub fn grouped(
    conn: &mut DbConn,
    scope: Scope,
    from: i64,
    to: i64,
    group: Group,
    campaign: Option<i64>,
) -> QueryResult<Vec<StatRow>> {
    let (dims, group_by) = match group {
        Group::Time { width, offset } => (
            format!(
                "CAST(0 AS BIGINT) AS merchant_id, CAST(0 AS BIGINT) AS campaign_id, CAST(0 AS BIGINT) AS influencer_id, CAST(0 AS BIGINT) AS link_id, \
                 CAST(0 AS BIGINT) AS stream_id, currency, \
                 CAST(((bucket + {offset}) / {width}) * {width} - {offset} AS BIGINT) AS bucket"
            ),
            format!("currency, ((bucket + {offset}) / {width})"),
        ),
        Group::Campaign => (
            "CAST(0 AS BIGINT) AS merchant_id, campaign_id, CAST(0 AS BIGINT) AS influencer_id, CAST(0 AS BIGINT) AS link_id, CAST(0 AS BIGINT) AS stream_id, \
             currency, CAST(0 AS BIGINT) AS bucket"
                .to_owned(),
            "campaign_id, currency".to_owned(),
        ),
        Group::Influencer => (
            "CAST(0 AS BIGINT) AS merchant_id, campaign_id, influencer_id, CAST(0 AS BIGINT) AS link_id, CAST(0 AS BIGINT) AS stream_id, \
             currency, CAST(0 AS BIGINT) AS bucket"
                .to_owned(),
            "influencer_id, campaign_id, currency".to_owned(),
        ),
        Group::Stream => (
            "CAST(0 AS BIGINT) AS merchant_id, campaign_id, CAST(0 AS BIGINT) AS influencer_id, CAST(0 AS BIGINT) AS link_id, stream_id, \
             currency, CAST(0 AS BIGINT) AS bucket"
                .to_owned(),
            "stream_id, campaign_id, currency".to_owned(),
        ),
        Group::Link => (
            "CAST(0 AS BIGINT) AS merchant_id, campaign_id, CAST(0 AS BIGINT) AS influencer_id, link_id, CAST(0 AS BIGINT) AS stream_id, \
             currency, CAST(0 AS BIGINT) AS bucket"
                .to_owned(),
            "link_id, campaign_id, currency".to_owned(),
        ),
    };
    let sums = COUNT_COLUMNS
        .iter()
        .map(|c| format!("CAST(SUM({c}) AS BIGINT) AS {c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let (filter, id) = match scope {
        Scope::Influencer(id) => ("influencer_id = ?3", id),
        Scope::Merchant(id) => ("merchant_id = ?3", id),
        Scope::All => ("?3 = ?3", 0),
    };
    // One campaign only (an integer, written into the statement).
    let filter = match campaign {
        Some(c) => format!("{filter} AND campaign_id = {c}"),
        None => filter.to_owned(),
    };
    let sql = |source: &str| {
        format!(
            "SELECT {dims}, {sums} FROM {source} \
             WHERE bucket >= ?1 AND bucket < ?2 AND {filter} AND ?4 = ?4 AND ?5 = ?5 \
             GROUP BY {group_by}"
        )
    };
    // A merchant's figures come from the coarser levels (see the migration): its charts from
    // its own quarter hours; its tables from whole UTC days, with the partial days at the
    // range's ends (`?4`, `?5`: the first and last UTC midnight in it) from quarter hours.
    let counts = COUNT_COLUMNS.join(", ");
    let (d1, d2) = (
        from.div_euclid(DAY_SECS) * DAY_SECS + if from % DAY_SECS == 0 { 0 } else { DAY_SECS },
        to.div_euclid(DAY_SECS) * DAY_SECS,
    );
    let source = match (scope, group) {
        (Scope::Merchant(_), Group::Time { .. }) if campaign.is_none() => format!(
            "(SELECT merchant_id, CAST(0 AS BIGINT) AS campaign_id, CAST(0 AS BIGINT) AS influencer_id, CAST(0 AS BIGINT) AS link_id, \
             CAST(0 AS BIGINT) AS stream_id, currency, bucket, {counts} FROM stats_merchant_quarters \
             WHERE {filter} AND bucket >= ?1 AND bucket < ?2) AS m"
        ),
        (Scope::Merchant(_), Group::Campaign | Group::Influencer | Group::Stream) if d1 < d2 => {
            let arm = |table: &str, link: &str, range: &str| {
                format!(
                    "SELECT merchant_id, campaign_id, influencer_id, {link} AS link_id, \
                     stream_id, currency, bucket, {counts} FROM {table} \
                     WHERE {filter} AND {range}"
                )
            };
            format!(
                "({} UNION ALL {} UNION ALL {}) AS u",
                arm("stats_quarters", "link_id", "bucket >= ?1 AND bucket < ?4"),
                arm(
                    "stats_days",
                    "CAST(0 AS BIGINT)",
                    "bucket >= ?4 AND bucket < ?5"
                ),
                arm("stats_quarters", "link_id", "bucket >= ?5 AND bucket < ?2"),
            )
        }
        _ => "stats_quarters".to_owned(),
    };
    use diesel::sql_types::BigInt;
    let stored = sql(&source);
    let rows: Vec<Raw> = match conn {
        // One statement (its click commits keep the rollup themselves: nothing to add).
        DbConn::Pg(inner) => diesel::sql_query(
            stored
                .replace("?1", "$1")
                .replace("?2", "$2")
                .replace("?3", "$3")
                .replace("?4", "$4")
                .replace("?5", "$5"),
        )
        .bind::<BigInt, _>(from)
        .bind::<BigInt, _>(to)
        .bind::<BigInt, _>(id)
        .bind::<BigInt, _>(d1)
        .bind::<BigInt, _>(d2)
        .load(inner)?,
        // The stored rows and the clicks after the rollup job's mark, in one transaction.
        DbConn::Sqlite(inner) => inner.transaction::<_, diesel::result::Error, _>(|inner| {
            let mut rows: Vec<Raw> = diesel::sql_query(stored)
                .bind::<BigInt, _>(from)
                .bind::<BigInt, _>(to)
                .bind::<BigInt, _>(id)
                .bind::<BigInt, _>(d1)
                .bind::<BigInt, _>(d2)
                .load(inner)?;
            let click_rows = click_rows(QUARTER_SECS);
            let tail = sql(&format!(
                "({click_rows} WHERE c.id > (SELECT through_id FROM click_rollup) \
                 GROUP BY l.id, bucket) AS t"
            ));
            rows.extend(
                diesel::sql_query(tail)
                    .bind::<BigInt, _>(from)
                    .bind::<BigInt, _>(to)
                    .bind::<BigInt, _>(id)
                    .bind::<BigInt, _>(d1)
                    .bind::<BigInt, _>(d2)
                    .load::<Raw>(inner)?,
            );
            Ok(rows)
        })?,
    };
    Ok(rows.into_iter().map(StatRow::from).collect())
}
