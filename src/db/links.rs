//! Queries on streams, links, clicks and their daily rollups.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use subtle::ConstantTimeEq;

use super::DbConn;
use super::models::{ApiToken, Click, Link, LinkDaily, NewClick, NewLink, NewStream, Stream};
use super::schema::{api_tokens, clicks, link_daily, links, streams};

pub fn insert_stream(conn: &mut DbConn, new: &NewStream<'_>) -> QueryResult<i64> {
    diesel::insert_into(streams::table)
        .values(new)
        .returning(streams::id)
        .get_result(conn)
}

pub fn streams_of(conn: &mut DbConn, influencer_id: i64) -> QueryResult<Vec<Stream>> {
    streams::table
        .filter(streams::influencer_id.eq(influencer_id))
        .order(streams::created_at.desc())
        .select(Stream::as_select())
        .load(conn)
}

pub fn insert_link(conn: &mut DbConn, new: &NewLink<'_>) -> QueryResult<i64> {
    diesel::insert_into(links::table)
        .values(new)
        .returning(links::id)
        .get_result(conn)
}

pub fn find_by_code(conn: &mut DbConn, code: &str) -> QueryResult<Option<Link>> {
    links::table
        .filter(links::code.eq(code))
        .select(Link::as_select())
        .first(conn)
        .optional()
}

pub fn find_for_influencer(
    conn: &mut DbConn,
    influencer_id: i64,
    id: i64,
) -> QueryResult<Option<Link>> {
    links::table
        .filter(links::id.eq(id))
        .filter(links::influencer_id.eq(influencer_id))
        .select(Link::as_select())
        .first(conn)
        .optional()
}

pub fn links_of(conn: &mut DbConn, influencer_id: i64) -> QueryResult<Vec<Link>> {
    links::table
        .filter(links::influencer_id.eq(influencer_id))
        .order(links::created_at.desc())
        .select(Link::as_select())
        .load(conn)
}

pub fn set_disabled(conn: &mut DbConn, id: i64, at: Option<NaiveDateTime>) -> QueryResult<usize> {
    diesel::update(links::table.find(id))
        .set(links::disabled_at.eq(at))
        .execute(conn)
}

/// Whether this visitor (salted IP and user-agent hashes, and their `visitor_key`) clicked
/// the link since `since`. Clicks are stored in time order, so the visitor's latest click on
/// the link is the one to compare: the largest row id under its key, which both databases
/// take with one backward seek on `clicks_visitor` (link, visitor key, then row id) — an
/// aggregate they plan the same way whatever their statistics say, where a filtered
/// `ORDER BY ... LIMIT 1` let PostgreSQL scan and sort every click of a frequent visitor.
pub fn clicked_since(
    conn: &mut DbConn,
    link_id: i64,
    key: i64,
    ip_hash: &str,
    ua_hash: &str,
    since: NaiveDateTime,
) -> QueryResult<bool> {
    let latest: Option<i64> = on_inner!(conn, |c| clicks::table
        .filter(clicks::link_id.eq(link_id))
        .filter(clicks::visitor_key.eq(key))
        .select(diesel::dsl::max(clicks::id))
        .get_result(c))?;
    let Some(id) = latest else {
        return Ok(false);
    };
    let row: Option<(String, String, NaiveDateTime)> = on_inner!(conn, |c| clicks::table
        .find(id)
        .select((clicks::ip_hash, clicks::ua_hash, clicks::created_at))
        .first(c)
        .optional())?;
    match row {
        Some((ip, ua, at)) if ip == ip_hash && ua == ua_hash => Ok(at >= since),
        // Another visitor with the same key (about one chance in 2^64): the full check.
        _ => on_inner!(conn, |c| diesel::select(diesel::dsl::exists(
            clicks::table
                .filter(clicks::link_id.eq(link_id))
                .filter(clicks::visitor_key.eq(key))
                .filter(clicks::ip_hash.eq(ip_hash))
                .filter(clicks::ua_hash.eq(ua_hash))
                .filter(clicks::created_at.ge(since)),
        ))
        .get_result(c)),
    }
}

#[derive(QueryableByName)]
struct RowId {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
}

/// Row ids for `n` new clicks, which must be inserted in the caller's transaction (click ids
/// are made from them). SQLite: the next ones after the largest, safe because the caller
/// holds the write lock (`write_tx`) until it commits. PostgreSQL: from the table's identity
/// sequence, one round trip for all.
pub fn next_click_ids(conn: &mut DbConn, n: usize) -> QueryResult<Vec<i64>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let count = i64::try_from(n).unwrap_or(i64::MAX);
    match conn {
        DbConn::Pg(c) => Ok(diesel::sql_query(
            "SELECT nextval(pg_get_serial_sequence('clicks', 'id')) AS id \
             FROM generate_series(1, $1)",
        )
        .bind::<diesel::sql_types::BigInt, _>(count)
        .load::<RowId>(c)?
        .into_iter()
        .map(|r| r.id)
        .collect()),
        DbConn::Sqlite(c) => {
            let first = last_click_id(c)? + 1;
            Ok((first..first + count).collect())
        }
    }
}

/// Row ids for the click writer, which asks for some with every batch. On PostgreSQL they
/// come from the sequence in blocks, one round trip per block instead of one per batch (an
/// id taken but not used is only a gap, as with any rolled-back `nextval`); on SQLite, where
/// asking costs no round trip, each batch asks under its write lock.
#[derive(Debug, Default)]
pub struct ClickIds {
    /// Reserved PostgreSQL ids, the next one last.
    reserved: Vec<i64>,
}

/// How many ids the writer reserves at once on PostgreSQL.
const PG_ID_BLOCK: usize = 512;

impl ClickIds {
    pub fn take(&mut self, conn: &mut DbConn, n: usize) -> QueryResult<Vec<i64>> {
        if let DbConn::Sqlite(_) = conn {
            return next_click_ids(conn, n);
        }
        if self.reserved.len() < n {
            let mut more = next_click_ids(conn, n.max(PG_ID_BLOCK))?;
            more.reverse();
            more.append(&mut self.reserved);
            self.reserved = more;
        }
        let rest = self.reserved.len() - n;
        let mut ids = self.reserved.split_off(rest);
        ids.reverse();
        Ok(ids)
    }
}

/// The row id for one new click (see [`next_click_ids`]).
pub fn next_click_id(conn: &mut DbConn) -> QueryResult<i64> {
    next_click_ids(conn, 1)?
        .pop()
        .ok_or(diesel::result::Error::NotFound)
}

/// Inserts the clicks of one batch (inside the caller's transaction), each with the row id
/// from [`next_click_ids`]. PostgreSQL takes them in one multi-row statement (one round
/// trip), which the multi-backend connection cannot express (DESIGN.md §5), so it runs on
/// the inner connection; SQLite, in-process, is fastest with its one cached single-row
/// statement run per row (measured: 12 % less writer CPU per click than a multi-row
/// statement, which SQLite must compile anew for each batch size).
pub fn insert_clicks(conn: &mut DbConn, rows: &[NewClick<'_>]) -> QueryResult<usize> {
    match conn {
        DbConn::Pg(c) => diesel::insert_into(clicks::table).values(rows).execute(c),
        DbConn::Sqlite(c) => {
            let mut n = 0;
            for row in rows {
                n += diesel::insert_into(clicks::table).values(row).execute(c)?;
            }
            Ok(n)
        }
    }
}

/// Adds to the link's counters for the day, creating the row on first use: one statement
/// (an upsert on `UNIQUE (link_id, day)`), so two writers adding to a new day at once (two
/// nodes on PostgreSQL) cannot both try to create it.
pub fn bump_daily(
    conn: &mut DbConn,
    link_id: i64,
    day: &str,
    clicks_n: i64,
    unique_n: i64,
    bots_n: i64,
) -> QueryResult<()> {
    use diesel::upsert::excluded;
    on_inner!(conn, |c| diesel::insert_into(link_daily::table)
        .values((
            link_daily::link_id.eq(link_id),
            link_daily::day.eq(day),
            link_daily::clicks.eq(clicks_n),
            link_daily::unique_clicks.eq(unique_n),
            link_daily::bot_clicks.eq(bots_n),
        ))
        .on_conflict((link_daily::link_id, link_daily::day))
        .do_update()
        .set((
            link_daily::clicks.eq(link_daily::clicks + excluded(link_daily::clicks)),
            link_daily::unique_clicks
                .eq(link_daily::unique_clicks + excluded(link_daily::unique_clicks)),
            link_daily::bot_clicks.eq(link_daily::bot_clicks + excluded(link_daily::bot_clicks)),
        ))
        .execute(c))?;
    Ok(())
}

/// The latest click's hashes and time under each (link, visitor key), in order (`None`: no
/// click under it), in one query (PostgreSQL: a round trip per visitor would be the click
/// writer's cost when every click is a new visitor; SQLite's writer asks per visitor, in
/// process, `db::click_store`). Each is `max(id)` under the key, an
/// index-only backward scan (see [`clicked_since`]).
pub fn latest_clicks(
    conn: &mut PgConnection,
    visitors: &[(i64, i64)],
) -> QueryResult<Vec<Option<(String, String, NaiveDateTime)>>> {
    #[derive(QueryableByName)]
    struct Latest {
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        ip_hash: Option<String>,
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        ua_hash: Option<String>,
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Timestamp>)]
        created_at: Option<NaiveDateTime>,
    }
    let (links, keys): (Vec<i64>, Vec<i64>) = visitors.iter().copied().unzip();
    let rows: Vec<Latest> = diesel::sql_query(
        "SELECT c.ip_hash, c.ua_hash, c.created_at \
         FROM unnest($1::bigint[], $2::bigint[]) WITH ORDINALITY AS v(link_id, visitor_key, i) \
         LEFT JOIN LATERAL (SELECT max(id) AS id FROM clicks \
           WHERE clicks.link_id = v.link_id AND clicks.visitor_key = v.visitor_key) m ON true \
         LEFT JOIN clicks c ON c.id = m.id \
         ORDER BY v.i",
    )
    .bind::<diesel::sql_types::Array<diesel::sql_types::BigInt>, _>(links)
    .bind::<diesel::sql_types::Array<diesel::sql_types::BigInt>, _>(keys)
    .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| match (r.ip_hash, r.ua_hash, r.created_at) {
            (Some(ip), Some(ua), Some(at)) => Some((ip, ua, at)),
            _ => None,
        })
        .collect())
}

/// The links' clicks per day, latest day first: `link_daily`, plus on SQLite the clicks the
/// background rollup has not folded in yet (after `click_rollup`'s mark; see
/// [`roll_up_clicks`]), both read in one transaction, so every committed click counts once.
pub fn daily_of(conn: &mut DbConn, link_ids: &[i64]) -> QueryResult<Vec<LinkDaily>> {
    let mut days = conn.transaction::<_, diesel::result::Error, _>(|c| {
        let mut days: Vec<LinkDaily> = link_daily::table
            .filter(link_daily::link_id.eq_any(link_ids))
            .select(LinkDaily::as_select())
            .load(c)?;
        let tail: Vec<LinkDaily> = match c {
            DbConn::Sqlite(inner) => {
                let ids = serde_json::to_string(link_ids)
                    .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?;
                diesel::sql_query(format!(
                    "SELECT {DAILY_COLUMNS} FROM clicks \
                     WHERE id > (SELECT through_id FROM click_rollup) \
                     AND link_id IN (SELECT value FROM json_each(?)) \
                     GROUP BY link_id, day"
                ))
                .bind::<diesel::sql_types::Text, _>(ids)
                .load(inner)?
            }
            // Its click commits add to `link_daily` themselves.
            DbConn::Pg(_) => Vec::new(),
        };
        for t in tail {
            match days
                .iter_mut()
                .find(|d| d.link_id == t.link_id && d.day == t.day)
            {
                Some(d) => {
                    d.clicks += t.clicks;
                    d.unique_clicks += t.unique_clicks;
                    d.bot_clicks += t.bot_clicks;
                }
                None => days.push(t),
            }
        }
        Ok(days)
    })?;
    days.sort_by(|a, b| b.day.cmp(&a.day).then(a.link_id.cmp(&b.link_id)));
    Ok(days)
}

/// `link_daily`'s columns computed from clicks, grouped by link and day: a click is unique
/// if it is neither a repeat nor a bot (as the click writer counts on PostgreSQL). The day is
/// the date part of the stored timestamp text.
const DAILY_COLUMNS: &str = "link_id, substr(created_at, 1, 10) AS day, count(*) AS clicks, \
     sum(CASE WHEN is_bot = 0 AND is_repeat = 0 THEN 1 ELSE 0 END) AS unique_clicks, \
     sum(CASE WHEN is_bot <> 0 THEN 1 ELSE 0 END) AS bot_clicks";

/// One committed click transaction, as its writer reports it to the rollup: its row ids
/// (`first..=last`), its day (as the clicks' stored time begins), its quarter hour
/// (`db::stats::quarter_of`) and its counts per link: (link, clicks, unique clicks, bot
/// clicks).
#[derive(Debug, Clone)]
pub struct Committed {
    pub first: i64,
    pub last: i64,
    pub day: String,
    pub quarter: i64,
    /// Its minute (the live board's rollup), and the links clicked that belong to a stream.
    pub minute: i64,
    pub streamed: Vec<i64>,
    pub links: Vec<(i64, i64, i64, i64)>,
}

/// What one [`roll_up_clicks`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RollUp {
    /// Row ids folded in (clicks, as SQLite's ids have no gaps).
    pub rolled: i64,
    /// Row ids still after the mark.
    pub behind: i64,
}

/// SQLite: folds the clicks after `click_rollup`'s mark into `link_daily` and moves the mark
/// past them, in the caller's write transaction (`write_tx`), so a click is in the rollup
/// exactly when it is at or before the mark. Commits reported by `take_reported` (called
/// once the largest row id is read) are added by their counts; clicks no report covers are
/// counted from their rows, at most `row_limit` of them. Under the write lock every click up
/// to the largest id is committed (ids are given in commit order), so the mark never passes
/// a click still to come; a report that does not lie wholly after the mark is dropped (its
/// clicks were or will be counted from their rows). PostgreSQL: nothing (its click commits
/// add to the rollups themselves).
pub fn roll_up_clicks(
    conn: &mut DbConn,
    take_reported: impl FnOnce() -> Vec<Committed>,
    row_limit: i64,
) -> QueryResult<RollUp> {
    let DbConn::Sqlite(inner) = conn else {
        return Ok(RollUp {
            rolled: 0,
            behind: 0,
        });
    };
    let mark = rollup_mark(inner)?;
    let last = last_click_id(inner)?;
    let mut reported = take_reported();
    reported.retain(|r| r.first > mark && r.last <= last);
    reported.sort_unstable_by_key(|r| r.first);
    let mut through = mark;
    let mut from_rows = 0;
    // Adds the clicks after `through`, up to `upto` but within the row limit, from their rows.
    let mut count_rows = |inner: &mut SqliteConnection, through: &mut i64, upto: i64| {
        let upto = upto.min(through.saturating_add(row_limit - from_rows));
        if upto > *through {
            add_clicks_to_daily(inner, *through, upto)?;
            from_rows += upto - *through;
            *through = upto;
        }
        QueryResult::Ok(())
    };
    let mut totals: HashMap<(i64, String, i64), (i64, i64, i64)> = HashMap::new();
    let mut minutes: HashMap<(i64, i64), (i64, i64, i64)> = HashMap::new();
    for r in reported {
        if r.first <= through {
            continue;
        }
        // Clicks no report covers, before this one.
        count_rows(inner, &mut through, r.first - 1)?;
        if through < r.first - 1 {
            break;
        }
        for (link, n, unique, bots) in r.links {
            let t = totals.entry((link, r.day.clone(), r.quarter)).or_default();
            t.0 += n;
            t.1 += unique;
            t.2 += bots;
            if r.streamed.contains(&link) {
                let m = minutes.entry((link, r.minute)).or_default();
                m.0 += n;
                m.1 += unique;
                m.2 += bots;
            }
        }
        through = r.last;
    }
    count_rows(inner, &mut through, last)?;
    if through > mark {
        set_rollup_mark(inner, through)?;
    }
    for ((link, day, quarter), (n, unique, bots)) in totals {
        bump_daily(conn, link, &day, n, unique, bots)?;
        super::stats::bump_clicks(conn, link, quarter, n, unique, bots)?;
    }
    for ((link, minute), (n, unique, bots)) in minutes {
        super::live::bump_clicks(conn, link, minute, n, unique, bots)?;
    }
    Ok(RollUp {
        rolled: through - mark,
        behind: last - through,
    })
}

/// SQLite: the largest click row id folded into `link_daily` (see [`roll_up_clicks`]).
fn rollup_mark(conn: &mut SqliteConnection) -> QueryResult<i64> {
    Ok(
        diesel::sql_query("SELECT through_id AS id FROM click_rollup")
            .get_result::<RowId>(conn)?
            .id,
    )
}

/// SQLite: moves the rollup's mark (in the write transaction that added the clicks up to it).
fn set_rollup_mark(conn: &mut SqliteConnection, through: i64) -> QueryResult<()> {
    diesel::sql_query("UPDATE click_rollup SET through_id = ?1")
        .bind::<diesel::sql_types::BigInt, _>(through)
        .execute(conn)?;
    Ok(())
}

/// SQLite: the largest click row id, 0 if none.
fn last_click_id(conn: &mut SqliteConnection) -> QueryResult<i64> {
    Ok(
        diesel::sql_query("SELECT coalesce(max(id), 0) AS id FROM clicks")
            .get_result::<RowId>(conn)?
            .id,
    )
}

/// SQLite: adds the clicks with row ids after `after` up to `through` to `link_daily` and
/// `stats_quarters`, counted from their rows.
fn add_clicks_to_daily(conn: &mut SqliteConnection, after: i64, through: i64) -> QueryResult<()> {
    diesel::sql_query(format!(
        "INSERT INTO link_daily (link_id, day, clicks, unique_clicks, bot_clicks) \
         SELECT {DAILY_COLUMNS} FROM clicks WHERE id > ?1 AND id <= ?2 \
         GROUP BY link_id, day \
         ON CONFLICT (link_id, day) DO UPDATE SET \
         clicks = clicks + excluded.clicks, \
         unique_clicks = unique_clicks + excluded.unique_clicks, \
         bot_clicks = bot_clicks + excluded.bot_clicks"
    ))
    .bind::<diesel::sql_types::BigInt, _>(after)
    .bind::<diesel::sql_types::BigInt, _>(through)
    .execute(conn)?;
    super::stats::add_clicks_sqlite(conn, after, through)?;
    super::live::add_clicks_sqlite(conn, after, through)
}

pub fn click_count(conn: &mut DbConn, link_id: i64) -> QueryResult<i64> {
    clicks::table
        .filter(clicks::link_id.eq(link_id))
        .count()
        .get_result(conn)
}

/// Every click, oldest first (tests and exports).
pub fn all_clicks(conn: &mut DbConn) -> QueryResult<Vec<Click>> {
    clicks::table
        .order(clicks::id.asc())
        .select(Click::as_select())
        .load(conn)
}

pub fn insert_token(
    conn: &mut DbConn,
    influencer_id: i64,
    name: &str,
    token_hash: &str,
    prefix: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::insert_into(api_tokens::table)
        .values((
            api_tokens::influencer_id.eq(influencer_id),
            api_tokens::name.eq(name),
            api_tokens::token_hash.eq(token_hash),
            api_tokens::prefix.eq(prefix),
            api_tokens::created_at.eq(now),
        ))
        .execute(conn)
}

pub fn tokens_of(conn: &mut DbConn, influencer_id: i64) -> QueryResult<Vec<ApiToken>> {
    api_tokens::table
        .filter(api_tokens::influencer_id.eq(influencer_id))
        .order(api_tokens::created_at.desc())
        .select(ApiToken::as_select())
        .load(conn)
}

/// The live token with this hash.
pub fn token_by_hash(conn: &mut DbConn, token_hash: &str) -> QueryResult<Option<ApiToken>> {
    api_tokens::table
        .filter(api_tokens::token_hash.eq(token_hash))
        .filter(api_tokens::revoked_at.is_null())
        .select(ApiToken::as_select())
        .first(conn)
        .optional()
}

pub fn touch_token(conn: &mut DbConn, id: i64, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(api_tokens::table.find(id))
        .set(api_tokens::last_used_at.eq(Some(now)))
        .execute(conn)
}

pub fn revoke_token(
    conn: &mut DbConn,
    influencer_id: i64,
    id: i64,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        api_tokens::table
            .filter(api_tokens::id.eq(id))
            .filter(api_tokens::influencer_id.eq(influencer_id)),
    )
    .set(api_tokens::revoked_at.eq(Some(now)))
    .execute(conn)
}

/// The click with this click id: a primary-key seek on the row id the click id starts with
/// (see `domain::links::click_id_for`), then the whole id must match (compared in constant
/// time: the random part is what makes a click id valid).
pub fn find_click(conn: &mut DbConn, click_id: &str) -> QueryResult<Option<Click>> {
    let Some(row_id) = crate::domain::links::click_row_id(click_id) else {
        return Ok(None);
    };
    let click: Option<Click> = on_inner!(conn, |c| clicks::table
        .find(row_id)
        .select(Click::as_select())
        .first(c)
        .optional())?;
    Ok(click.filter(|c| bool::from(c.click_id.as_bytes().ct_eq(click_id.as_bytes()))))
}

pub fn find(conn: &mut DbConn, id: i64) -> QueryResult<Option<Link>> {
    on_inner!(conn, |c| links::table
        .find(id)
        .select(Link::as_select())
        .first(c)
        .optional())
}

pub fn find_stream(conn: &mut DbConn, id: i64) -> QueryResult<Option<Stream>> {
    on_inner!(conn, |c| streams::table
        .find(id)
        .select(Stream::as_select())
        .first(c)
        .optional())
}

/// A link's clicks that count (not bots, not repeats), oldest first.
pub fn counted_clicks_of(conn: &mut DbConn, link_id: i64, limit: i64) -> QueryResult<Vec<Click>> {
    clicks::table
        .filter(clicks::link_id.eq(link_id))
        .filter(clicks::is_bot.eq(false))
        .filter(clicks::is_repeat.eq(false))
        .order(clicks::id.asc())
        .limit(limit)
        .select(Click::as_select())
        .load(conn)
}

/// The destinations of the merchant's links that are switched on.
pub fn live_destinations_of_merchant(
    conn: &mut DbConn,
    merchant_id: i64,
) -> QueryResult<Vec<String>> {
    use super::schema::links;
    links::table
        .filter(links::merchant_id.eq(merchant_id))
        .filter(links::disabled_at.is_null())
        .select(links::destination)
        .load(conn)
}
