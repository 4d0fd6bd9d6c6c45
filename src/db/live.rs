//! The live board's rollup, `stream_minutes` (see its migration): a stream's clicks, orders,
//! refunds and rejections per UTC minute, with the columns of `stats_quarters`, so the board
//! counts exactly what the dashboards count. Orders, refunds and rejections add to it with
//! their quarter hour (`db::stats::bump_at`); clicks in the click commit on PostgreSQL and
//! by the rollup job on SQLite, whose readers add the clicks after its mark ([`rows`]).
//!
//! Every change to a stream's figures on PostgreSQL also sends `NOTIFY tandem_live` with the
//! stream id ([`notify`]), delivered when its transaction commits, so each app node's live
//! hub (`jobs::live`) learns of commits made by the others.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel::sqlite::SqliteConnection;

use super::DbConn;
use super::stats::{Raw, StatRow, click_rows};

/// A minute in seconds.
pub const MINUTE_SECS: i64 = 60;
/// The channel every node listens on; the payload is the stream id.
pub const CHANNEL: &str = "tandem_live";

/// The UTC start of the minute holding `at`, in seconds since 1970.
pub fn minute_of(at: NaiveDateTime) -> i64 {
    at.and_utc().timestamp().div_euclid(MINUTE_SECS) * MINUTE_SECS
}

/// PostgreSQL: tells every node listening that the stream's figures changed, once the
/// transaction commits (several notices of one stream in one transaction arrive as one).
/// Nothing on SQLite, where the one process's writers tell its hub themselves.
pub fn notify(conn: &mut DbConn, stream_id: i64) -> QueryResult<()> {
    if let DbConn::Pg(c) = conn {
        diesel::sql_query("SELECT pg_notify($1, $2)")
            .bind::<Text, _>(CHANNEL)
            .bind::<Text, _>(stream_id.to_string())
            .execute(c)?;
    }
    Ok(())
}

/// Adds a link's clicks in one minute, if the link belongs to a stream (its merchant,
/// campaign, influencer and stream are its own). The click commit on PostgreSQL; the rollup
/// job's reported clicks on SQLite.
pub fn bump_clicks(
    conn: &mut DbConn,
    link_id: i64,
    minute: i64,
    clicks: i64,
    unique: i64,
    bots: i64,
) -> QueryResult<()> {
    const SQL: &str = "INSERT INTO stream_minutes (stream_id, merchant_id, campaign_id, \
         influencer_id, link_id, currency, bucket, clicks, unique_clicks, bot_clicks) \
         SELECT stream_id, merchant_id, campaign_id, influencer_id, id, '', ?2, ?3, ?4, ?5 \
         FROM links WHERE id = ?1 AND stream_id IS NOT NULL \
         ON CONFLICT (stream_id, bucket, merchant_id, campaign_id, influencer_id, link_id, \
         currency) DO UPDATE SET clicks = stream_minutes.clicks + excluded.clicks, \
         unique_clicks = stream_minutes.unique_clicks + excluded.unique_clicks, \
         bot_clicks = stream_minutes.bot_clicks + excluded.bot_clicks";
    let sql = match conn {
        DbConn::Pg(_) => pg_placeholders(SQL),
        DbConn::Sqlite(_) => SQL.to_owned(),
    };
    on_inner!(conn, |c| diesel::sql_query(&sql)
        .bind::<BigInt, _>(link_id)
        .bind::<BigInt, _>(minute)
        .bind::<BigInt, _>(clicks)
        .bind::<BigInt, _>(unique)
        .bind::<BigInt, _>(bots)
        .execute(c))?;
    Ok(())
}

/// `?N` placeholders as PostgreSQL writes them (`$N`).
fn pg_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(ch) = chars.next() {
        if ch == '?' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(ch);
        }
    }
    out
}

/// SQLite: adds the clicks of streams' links with row ids after `after` up to `through`,
/// counted from their rows (the rollup job, with `link_daily` and `stats_quarters`).
pub fn add_clicks_sqlite(conn: &mut SqliteConnection, after: i64, through: i64) -> QueryResult<()> {
    let click_rows = click_rows(MINUTE_SECS);
    diesel::sql_query(format!(
        "INSERT INTO stream_minutes (stream_id, merchant_id, campaign_id, influencer_id, \
         link_id, currency, bucket, clicks, unique_clicks, bot_clicks) \
         SELECT stream_id, merchant_id, campaign_id, influencer_id, link_id, currency, bucket, \
         clicks, unique_clicks, bot_clicks FROM ({click_rows} \
         WHERE c.id > ?1 AND c.id <= ?2 AND l.stream_id IS NOT NULL GROUP BY l.id, bucket) \
         WHERE true \
         ON CONFLICT (stream_id, bucket, merchant_id, campaign_id, influencer_id, link_id, \
         currency) DO UPDATE SET clicks = clicks + excluded.clicks, \
         unique_clicks = unique_clicks + excluded.unique_clicks, \
         bot_clicks = bot_clicks + excluded.bot_clicks"
    ))
    .bind::<BigInt, _>(after)
    .bind::<BigInt, _>(through)
    .execute(conn)?;
    Ok(())
}

/// The stream's minute rows in `[from, to)` (seconds since 1970), of one merchant's links and
/// orders only when `merchant` is given; on SQLite with the clicks the rollup job has not
/// folded in yet, read in the same transaction (so every committed click counts once). One
/// (dims, minute) may come twice; callers add them up.
pub fn rows(
    conn: &mut DbConn,
    stream_id: i64,
    merchant: Option<i64>,
    from: i64,
    to: i64,
) -> QueryResult<Vec<StatRow>> {
    let merchant = merchant.unwrap_or(0);
    const STORED: &str = "SELECT merchant_id, campaign_id, influencer_id, link_id, stream_id, \
         currency, bucket, clicks, unique_clicks, bot_clicks, orders, gmv_minor, \
         commission_minor, fee_minor, refunds, refund_minor, refund_commission_minor, \
         refund_fee_minor, rejected_commission_minor, rejected_fee_minor, coupon_orders, \
         coupon_commission_minor FROM stream_minutes \
         WHERE stream_id = ?1 AND bucket >= ?2 AND bucket < ?3 AND (?4 = 0 OR merchant_id = ?4)";
    let rows: Vec<Raw> = match conn {
        DbConn::Pg(c) => diesel::sql_query(pg_placeholders(STORED))
            .bind::<BigInt, _>(stream_id)
            .bind::<BigInt, _>(from)
            .bind::<BigInt, _>(to)
            .bind::<BigInt, _>(merchant)
            .load(c)?,
        DbConn::Sqlite(c) => c.transaction::<_, diesel::result::Error, _>(|c| {
            let mut rows: Vec<Raw> = diesel::sql_query(STORED)
                .bind::<BigInt, _>(stream_id)
                .bind::<BigInt, _>(from)
                .bind::<BigInt, _>(to)
                .bind::<BigInt, _>(merchant)
                .load(c)?;
            let click_rows = click_rows(MINUTE_SECS);
            rows.extend(
                diesel::sql_query(format!(
                    "SELECT * FROM ({click_rows} \
                     WHERE c.id > (SELECT through_id FROM click_rollup) AND l.stream_id = ?1 \
                     AND (?4 = 0 OR l.merchant_id = ?4) GROUP BY l.id, bucket) \
                     WHERE bucket >= ?2 AND bucket < ?3"
                ))
                .bind::<BigInt, _>(stream_id)
                .bind::<BigInt, _>(from)
                .bind::<BigInt, _>(to)
                .bind::<BigInt, _>(merchant)
                .load::<Raw>(c)?,
            );
            Ok(rows)
        })?,
    };
    Ok(rows.into_iter().map(StatRow::from).collect())
}

/// One of a stream's orders as the board lists it (no buyer data).
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct LiveOrder {
    pub id: i64,
    pub merchant_id: i64,
    pub occurred_at: NaiveDateTime,
    pub currency: String,
    pub base_minor: i64,
    pub coupon_code: Option<String>,
    pub link_code: Option<String>,
}

/// The stream's latest orders by order time in `[from, to)`, newest first (at most `limit`).
pub fn latest_orders(
    conn: &mut DbConn,
    stream_id: i64,
    merchant: Option<i64>,
    from: NaiveDateTime,
    to: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<LiveOrder>> {
    use super::schema::{conversions as v, links};
    let q = v::table
        .left_join(links::table.on(links::id.nullable().eq(v::link_id)))
        .filter(v::stream_id.eq(stream_id))
        .filter(v::occurred_at.ge(from))
        .filter(v::occurred_at.lt(to))
        .into_boxed();
    let q = match merchant {
        Some(m) => q.filter(v::merchant_id.eq(m)),
        None => q,
    };
    q.order((v::occurred_at.desc(), v::id.desc()))
        .limit(limit)
        .select((
            v::id,
            v::merchant_id,
            v::occurred_at,
            v::currency,
            v::base_minor,
            v::coupon_code,
            links::code.nullable(),
        ))
        .load(conn)
}

/// An order line's product on the board: the merchant's product (if the SKU is one) or the SKU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineProduct {
    pub conversion_id: i64,
    pub product_id: Option<i64>,
    pub name: String,
    pub quantity: i64,
}

#[derive(Queryable)]
struct LineRow(i64, Option<i64>, String, Option<String>, i64);

/// The lines of the stream's orders in `[from, to)` (of one merchant when given), with their
/// products' names.
pub fn order_lines(
    conn: &mut DbConn,
    stream_id: i64,
    merchant: Option<i64>,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> QueryResult<Vec<LineProduct>> {
    use super::schema::{conversion_lines as cl, conversions as v, products};
    let q = cl::table
        .inner_join(v::table.on(v::id.eq(cl::conversion_id)))
        .left_join(products::table.on(products::id.nullable().eq(cl::product_id)))
        .filter(v::stream_id.eq(stream_id))
        .filter(v::occurred_at.ge(from))
        .filter(v::occurred_at.lt(to))
        .into_boxed();
    let q = match merchant {
        Some(m) => q.filter(v::merchant_id.eq(m)),
        None => q,
    };
    let rows: Vec<LineRow> = q
        .order((cl::conversion_id, cl::line_no))
        .select((
            cl::conversion_id,
            cl::product_id,
            cl::sku,
            products::title.nullable(),
            cl::quantity,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(
            |LineRow(conversion_id, product_id, sku, name, quantity)| LineProduct {
                conversion_id,
                product_id,
                name: name.unwrap_or(sku),
                quantity,
            },
        )
        .collect())
}

/// What one of a stream's links leads to, for the board's "top by clicks".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkTarget {
    pub link_id: i64,
    pub merchant_id: i64,
    pub product_id: Option<i64>,
    /// The product's name, or the campaign's when the link goes to a shop page.
    pub name: String,
}

#[derive(Queryable)]
struct TargetRow(i64, i64, Option<i64>, Option<String>, String);

/// The stream's links and what each leads to.
pub fn link_targets(conn: &mut DbConn, stream_id: i64) -> QueryResult<Vec<LinkTarget>> {
    use super::schema::{campaigns, links, products};
    let rows: Vec<TargetRow> = links::table
        .inner_join(campaigns::table.on(campaigns::id.eq(links::campaign_id)))
        .left_join(products::table.on(products::id.nullable().eq(links::product_id)))
        .filter(links::stream_id.eq(stream_id))
        .select((
            links::id,
            links::merchant_id,
            links::product_id,
            products::title.nullable(),
            campaigns::name,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(
            |TargetRow(link_id, merchant_id, product_id, product, campaign)| LinkTarget {
                link_id,
                merchant_id,
                product_id,
                name: product.unwrap_or_else(|| format!("{campaign} (shop)")),
            },
        )
        .collect())
}

/// The merchants whose campaigns the stream has links for.
pub fn merchants_of(conn: &mut DbConn, stream_id: i64) -> QueryResult<Vec<i64>> {
    use super::schema::links;
    links::table
        .filter(links::stream_id.eq(stream_id))
        .select(links::merchant_id)
        .distinct()
        .load(conn)
}

/// Marks the stream live at `at` (if it is neither started nor ended); whether it did.
pub fn start(conn: &mut DbConn, stream_id: i64, at: NaiveDateTime) -> QueryResult<bool> {
    use super::schema::streams;
    Ok(diesel::update(
        streams::table
            .find(stream_id)
            .filter(streams::started_at.is_null())
            .filter(streams::ended_at.is_null()),
    )
    .set(streams::started_at.eq(at))
    .execute(conn)?
        == 1)
}

/// Ends the stream at `at`, starting it then too if it never was (its scheduled start then
/// stands); whether it did (not if it had ended already).
pub fn end(
    conn: &mut DbConn,
    stream_id: i64,
    started_at: NaiveDateTime,
    at: NaiveDateTime,
) -> QueryResult<bool> {
    use super::schema::streams;
    Ok(diesel::update(
        streams::table
            .find(stream_id)
            .filter(streams::ended_at.is_null()),
    )
    .set((streams::started_at.eq(started_at), streams::ended_at.eq(at)))
    .execute(conn)?
        == 1)
}

/// The influencer's streams live at `at` (started, by mark or schedule, and not ended) with
/// a link in the campaign: where a coupon sale of that campaign came from.
pub fn live_with_campaign(
    conn: &mut DbConn,
    influencer_id: i64,
    campaign_id: i64,
    at: NaiveDateTime,
) -> QueryResult<Vec<super::models::Stream>> {
    use super::models::Stream;
    use super::schema::{links, streams};
    streams::table
        .filter(streams::influencer_id.eq(influencer_id))
        .filter(
            streams::id.eq_any(
                links::table
                    .filter(links::campaign_id.eq(campaign_id))
                    .filter(links::stream_id.is_not_null())
                    .select(links::stream_id.assume_not_null()),
            ),
        )
        .filter(
            streams::started_at.le(at).or(streams::started_at
                .is_null()
                .and(streams::scheduled_at.le(at))),
        )
        .filter(streams::ended_at.is_null().or(streams::ended_at.gt(at)))
        .select(Stream::as_select())
        .load(conn)
}
