//! Conversions (orders), their lines, commissions with their history, and refunds.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConn;
use super::models::{
    CommissionEvent, CommissionRow, Conversion, ConversionLine, NewCommission, NewConversion,
    NewRefund, Refund, RefundLine,
};
use super::schema::{
    commission_events, commissions, conversion_lines, conversions, order_ids, refund_lines, refunds,
};
use crate::domain::order::order_alias;

/// Inserts the conversion and returns its id, or `None` if the merchant's order id is
/// already taken (the insert does nothing, and the transaction stays usable).
pub fn insert_conversion(conn: &mut DbConn, new: &NewConversion<'_>) -> QueryResult<Option<i64>> {
    on_inner!(conn, |c| diesel::insert_into(conversions::table)
        .values(new)
        .on_conflict((conversions::merchant_id, conversions::order_id))
        .do_nothing()
        .returning(conversions::id)
        .get_result(c)
        .optional())
}

/// Inserts the lines and sets each one's new id.
pub fn insert_lines(conn: &mut DbConn, lines: &mut [ConversionLine]) -> QueryResult<()> {
    for l in lines {
        l.id = on_inner!(conn, |c| diesel::insert_into(conversion_lines::table)
            .values(&*l)
            .returning(conversion_lines::id)
            .get_result(c))?;
    }
    Ok(())
}

/// The merchant's order known by `order_id`: by any of the ids it was reported under
/// (matched as [`order_alias`] normalises them), else by its own id exactly.
pub fn find_conversion(
    conn: &mut DbConn,
    merchant_id: i64,
    order_id: &str,
) -> QueryResult<Option<Conversion>> {
    if let Some(found) = find_by_aliases(conn, merchant_id, &[order_alias(order_id)])? {
        return Ok(Some(found));
    }
    on_inner!(conn, |c| conversions::table
        .filter(conversions::merchant_id.eq(merchant_id))
        .filter(conversions::order_id.eq(order_id))
        .select(Conversion::as_select())
        .first(c)
        .optional())
}

/// The merchant's order known by any of these (normalised) ids.
pub fn find_by_aliases(
    conn: &mut DbConn,
    merchant_id: i64,
    aliases: &[String],
) -> QueryResult<Option<Conversion>> {
    on_inner!(conn, |c| conversions::table
        .inner_join(order_ids::table)
        .filter(order_ids::merchant_id.eq(merchant_id))
        .filter(order_ids::alias.eq_any(aliases))
        .order(conversions::id.asc())
        .select(Conversion::as_select())
        .first(c)
        .optional())
}

/// Records every id the order is known by; how many were free (fewer than given: another
/// order took one meanwhile, and the caller must not keep this one).
pub fn insert_aliases(
    conn: &mut DbConn,
    merchant_id: i64,
    conversion_id: i64,
    aliases: &[String],
) -> QueryResult<usize> {
    let mut n = 0;
    for a in aliases {
        let values = (
            order_ids::merchant_id.eq(merchant_id),
            order_ids::conversion_id.eq(conversion_id),
            order_ids::alias.eq(a),
        );
        n += on_inner!(conn, |c| diesel::insert_into(order_ids::table)
            .values(values)
            .on_conflict_do_nothing()
            .execute(c))?;
    }
    Ok(n)
}

/// Every id the order is known by.
pub fn aliases_of(conn: &mut DbConn, conversion_id: i64) -> QueryResult<Vec<String>> {
    order_ids::table
        .filter(order_ids::conversion_id.eq(conversion_id))
        .order(order_ids::id.asc())
        .select(order_ids::alias)
        .load(conn)
}

pub fn conversion(conn: &mut DbConn, id: i64) -> QueryResult<Option<Conversion>> {
    conversions::table
        .find(id)
        .select(Conversion::as_select())
        .first(conn)
        .optional()
}

pub fn lines_of(conn: &mut DbConn, conversion_id: i64) -> QueryResult<Vec<ConversionLine>> {
    conversion_lines::table
        .filter(conversion_lines::conversion_id.eq(conversion_id))
        .order(conversion_lines::line_no.asc())
        .select(ConversionLine::as_select())
        .load(conn)
}

/// A merchant's conversions, newest first, optionally only (un)attributed ones.
pub fn conversions_of(
    conn: &mut DbConn,
    merchant_id: i64,
    attributed: Option<bool>,
    limit: i64,
) -> QueryResult<Vec<Conversion>> {
    let mut q = conversions::table
        .filter(conversions::merchant_id.eq(merchant_id))
        .into_boxed();
    match attributed {
        Some(true) => q = q.filter(conversions::signal.ne("none")),
        Some(false) => q = q.filter(conversions::signal.eq("none")),
        None => {}
    }
    q.order((conversions::occurred_at.desc(), conversions::id.desc()))
        .limit(limit)
        .select(Conversion::as_select())
        .load(conn)
}

pub fn insert_commission(conn: &mut DbConn, new: &NewCommission<'_>) -> QueryResult<i64> {
    on_inner!(conn, |c| diesel::insert_into(commissions::table)
        .values(new)
        .returning(commissions::id)
        .get_result(c))
}

pub fn commission(conn: &mut DbConn, id: i64) -> QueryResult<Option<CommissionRow>> {
    commissions::table
        .find(id)
        .select(CommissionRow::as_select())
        .first(conn)
        .optional()
}

pub fn commission_of_conversion(
    conn: &mut DbConn,
    conversion_id: i64,
) -> QueryResult<Option<CommissionRow>> {
    commissions::table
        .filter(commissions::conversion_id.eq(conversion_id))
        .select(CommissionRow::as_select())
        .first(conn)
        .optional()
}

pub fn commissions_of_influencer(
    conn: &mut DbConn,
    influencer_id: i64,
) -> QueryResult<Vec<CommissionRow>> {
    commissions::table
        .filter(commissions::influencer_id.eq(influencer_id))
        .order((commissions::created_at.desc(), commissions::id.desc()))
        .select(CommissionRow::as_select())
        .load(conn)
}

pub fn commissions_of_merchant(
    conn: &mut DbConn,
    merchant_id: i64,
) -> QueryResult<Vec<CommissionRow>> {
    commissions::table
        .filter(commissions::merchant_id.eq(merchant_id))
        .order((commissions::created_at.desc(), commissions::id.desc()))
        .select(CommissionRow::as_select())
        .load(conn)
}

pub fn commissions_in_state(conn: &mut DbConn, state: &str) -> QueryResult<Vec<CommissionRow>> {
    commissions::table
        .filter(commissions::state.eq(state))
        .order(commissions::id.asc())
        .select(CommissionRow::as_select())
        .load(conn)
}

/// Pending commissions whose hold is over, oldest first.
pub fn due_for_maturation(
    conn: &mut DbConn,
    now: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<CommissionRow>> {
    commissions::table
        .filter(commissions::state.eq("pending"))
        .filter(commissions::available_at.le(now))
        .order(commissions::id.asc())
        .limit(limit)
        .select(CommissionRow::as_select())
        .load(conn)
}

/// Moves a commission from one state to another if it is still in `from` (compare and set),
/// and records the move. Returns whether it moved.
#[allow(clippy::too_many_arguments)]
pub fn move_commission(
    conn: &mut DbConn,
    id: i64,
    from: &str,
    to: &str,
    frozen_reason: Option<&str>,
    actor_user_id: Option<i64>,
    note: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let moved = diesel::update(
        commissions::table
            .filter(commissions::id.eq(id))
            .filter(commissions::state.eq(from)),
    )
    .set((
        commissions::state.eq(to),
        commissions::frozen_reason.eq(frozen_reason),
        commissions::updated_at.eq(now),
    ))
    .execute(conn)?;
    if moved == 1 {
        insert_event(conn, id, Some(from), to, actor_user_id, note, now)?;
    }
    Ok(moved == 1)
}

pub fn insert_event(
    conn: &mut DbConn,
    commission_id: i64,
    from: Option<&str>,
    to: &str,
    actor_user_id: Option<i64>,
    note: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    on_inner!(conn, |c| diesel::insert_into(commission_events::table)
        .values((
            commission_events::commission_id.eq(commission_id),
            commission_events::from_state.eq(from),
            commission_events::to_state.eq(to),
            commission_events::actor_user_id.eq(actor_user_id),
            commission_events::note.eq(note),
            commission_events::created_at.eq(now),
        ))
        .execute(c))?;
    Ok(())
}

pub fn events_of(conn: &mut DbConn, commission_id: i64) -> QueryResult<Vec<CommissionEvent>> {
    commission_events::table
        .filter(commission_events::commission_id.eq(commission_id))
        .order(commission_events::id.asc())
        .select(CommissionEvent::as_select())
        .load(conn)
}

pub fn insert_refund(conn: &mut DbConn, new: &NewRefund<'_>) -> QueryResult<i64> {
    diesel::insert_into(refunds::table)
        .values(new)
        .returning(refunds::id)
        .get_result(conn)
}

pub fn insert_refund_lines(conn: &mut DbConn, lines: &[RefundLine]) -> QueryResult<()> {
    for l in lines {
        diesel::insert_into(refund_lines::table)
            .values(l)
            .execute(conn)?;
    }
    Ok(())
}

pub fn find_refund(
    conn: &mut DbConn,
    merchant_id: i64,
    refund_id: &str,
) -> QueryResult<Option<Refund>> {
    refunds::table
        .filter(refunds::merchant_id.eq(merchant_id))
        .filter(refunds::refund_id.eq(refund_id))
        .select(Refund::as_select())
        .first(conn)
        .optional()
}

pub fn refunds_of(conn: &mut DbConn, conversion_id: i64) -> QueryResult<Vec<Refund>> {
    refunds::table
        .filter(refunds::conversion_id.eq(conversion_id))
        .order(refunds::id.asc())
        .select(Refund::as_select())
        .load(conn)
}

/// Every refund line of a conversion's refunds.
pub fn refund_lines_of(conn: &mut DbConn, conversion_id: i64) -> QueryResult<Vec<RefundLine>> {
    refund_lines::table
        .inner_join(refunds::table)
        .filter(refunds::conversion_id.eq(conversion_id))
        .order(refund_lines::id.asc())
        .select(RefundLine::as_select())
        .load(conn)
}

/// The merchant's postback secrets that are still valid at `now`, newest first.
pub fn valid_secrets(
    conn: &mut DbConn,
    merchant_id: i64,
    now: NaiveDateTime,
) -> QueryResult<Vec<super::models::PostbackSecret>> {
    use super::schema::postback_secrets as ps;
    on_inner!(conn, |c| ps::table
        .filter(ps::merchant_id.eq(merchant_id))
        .filter(ps::expires_at.is_null().or(ps::expires_at.gt(now)))
        .order(ps::id.desc())
        .select(super::models::PostbackSecret::as_select())
        .load(c))
}

/// Adds a new secret; the one that was current stays valid until `grace_until`, any older
/// one stops now. At most two are valid at once.
/// `made_by`: who made it (`None`: the command line).
#[allow(clippy::too_many_arguments)]
pub fn rotate_secret(
    conn: &mut DbConn,
    merchant_id: i64,
    secret: &str,
    prefix: &str,
    made_by: Option<i64>,
    now: NaiveDateTime,
    grace_until: NaiveDateTime,
) -> QueryResult<()> {
    use super::schema::postback_secrets as ps;
    let valid = valid_secrets(conn, merchant_id, now)?;
    for (n, s) in valid.iter().enumerate() {
        let until = if n == 0 { grace_until } else { now };
        let until = s.expires_at.map_or(until, |e| e.min(until));
        diesel::update(ps::table.find(s.id))
            .set(ps::expires_at.eq(Some(until)))
            .execute(conn)?;
    }
    diesel::insert_into(ps::table)
        .values((
            ps::merchant_id.eq(merchant_id),
            ps::secret.eq(secret),
            ps::prefix.eq(prefix),
            ps::created_at.eq(now),
            ps::expires_at.eq(None::<NaiveDateTime>),
            ps::created_by.eq(made_by),
        ))
        .execute(conn)?;
    Ok(())
}

/// Ends every secret but the newest at once (after the merchant switched its systems over).
pub fn retire_old_secrets(
    conn: &mut DbConn,
    merchant_id: i64,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    use super::schema::postback_secrets as ps;
    let valid = valid_secrets(conn, merchant_id, now)?;
    let mut n = 0;
    for s in valid.iter().skip(1) {
        n += diesel::update(ps::table.find(s.id))
            .set(ps::expires_at.eq(Some(now)))
            .execute(conn)?;
    }
    Ok(n)
}

/// What became of one Shopify delivery, as stored and shown on the Integration page.
#[derive(Debug, Clone, Queryable)]
pub struct ShopifyDelivery {
    pub webhook_id: String,
    pub topic: String,
    pub received_at: NaiveDateTime,
    /// recorded, duplicate, conflict, rejected or ignored.
    pub outcome: String,
    pub detail: String,
    /// The order or refund it was about ("order 5550001 (#1001)").
    pub subject: String,
}

/// Notes a Shopify delivery and what became of it; `false` if it was noted before (the
/// unique id repeats).
pub fn note_shopify_webhook(
    conn: &mut DbConn,
    merchant_id: i64,
    d: &ShopifyDelivery,
) -> QueryResult<bool> {
    use super::schema::shopify_webhooks as w;
    let values = (
        w::merchant_id.eq(merchant_id),
        w::webhook_id.eq(&d.webhook_id),
        w::topic.eq(&d.topic),
        w::received_at.eq(d.received_at),
        w::outcome.eq(&d.outcome),
        w::detail.eq(&d.detail),
        w::subject.eq(&d.subject),
    );
    let n = match conn {
        DbConn::Pg(c) => diesel::insert_into(w::table)
            .values(values)
            .on_conflict_do_nothing()
            .execute(c)?,
        DbConn::Sqlite(c) => diesel::insert_into(w::table)
            .values(values)
            .on_conflict_do_nothing()
            .execute(c)?,
    };
    Ok(n == 1)
}

/// The merchant's latest Shopify deliveries, newest first.
pub fn recent_shopify_deliveries(
    conn: &mut DbConn,
    merchant_id: i64,
    limit: i64,
) -> QueryResult<Vec<ShopifyDelivery>> {
    use super::schema::shopify_webhooks as w;
    w::table
        .filter(w::merchant_id.eq(merchant_id))
        .order((w::received_at.desc(), w::id.desc()))
        .limit(limit)
        .select((
            w::webhook_id,
            w::topic,
            w::received_at,
            w::outcome,
            w::detail,
            w::subject,
        ))
        .load(conn)
}

pub fn shopify_secret(conn: &mut DbConn, merchant_id: i64) -> QueryResult<Option<String>> {
    use super::schema::merchants;
    Ok(merchants::table
        .find(merchant_id)
        .select(merchants::shopify_webhook_secret)
        .first::<Option<String>>(conn)
        .optional()?
        .flatten())
}

/// Saves (`None`: removes) the Shopify webhook secret, with who saved it (`None`: not a
/// user) and when.
pub fn set_shopify_secret(
    conn: &mut DbConn,
    merchant_id: i64,
    secret: Option<&str>,
    by: Option<i64>,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    use super::schema::merchants;
    let (by, at) = match secret {
        Some(_) => (by, Some(now)),
        None => (None, None),
    };
    diesel::update(merchants::table.find(merchant_id))
        .set((
            merchants::shopify_webhook_secret.eq(secret),
            merchants::shopify_secret_set_by.eq(by),
            merchants::shopify_secret_set_at.eq(at),
        ))
        .execute(conn)
}

/// Who saved the Shopify webhook secret and when (both `None`: before this was kept);
/// `None` when no secret is set.
pub fn shopify_secret_maker(
    conn: &mut DbConn,
    merchant_id: i64,
) -> QueryResult<Option<(Option<i64>, Option<NaiveDateTime>)>> {
    use super::schema::merchants;
    let row: Option<(Option<String>, Option<i64>, Option<NaiveDateTime>)> = merchants::table
        .find(merchant_id)
        .select((
            merchants::shopify_webhook_secret,
            merchants::shopify_secret_set_by,
            merchants::shopify_secret_set_at,
        ))
        .first(conn)
        .optional()?;
    Ok(row.and_then(|(secret, by, at)| secret.map(|_| (by, at))))
}

/// The conversion's commission, locked until the transaction ends on PostgreSQL (`FOR
/// UPDATE`: a refund and the maturation job, or two refunds, then see each other's writes);
/// SQLite's write transaction already excludes every other writer.
pub fn commission_for_update(
    conn: &mut DbConn,
    conversion_id: i64,
) -> QueryResult<Option<CommissionRow>> {
    match conn {
        DbConn::Pg(c) => commissions::table
            .filter(commissions::conversion_id.eq(conversion_id))
            .for_update()
            .select(CommissionRow::as_select())
            .first(c)
            .optional(),
        DbConn::Sqlite(_) => commission_of_conversion(conn, conversion_id),
    }
}

/// Locks the conversion row until the transaction ends on PostgreSQL, so that refunds of one
/// order are checked one after the other (see [`commission_for_update`]).
pub fn lock_conversion(conn: &mut DbConn, conversion_id: i64) -> QueryResult<()> {
    if let DbConn::Pg(c) = conn {
        conversions::table
            .find(conversion_id)
            .for_update()
            .select(conversions::id)
            .first::<i64>(c)?;
    }
    Ok(())
}

/// Whether this Shopify delivery was handled before.
pub fn shopify_webhook_seen(
    conn: &mut DbConn,
    merchant_id: i64,
    webhook_id: &str,
) -> QueryResult<bool> {
    use super::schema::shopify_webhooks as w;
    diesel::select(diesel::dsl::exists(
        w::table
            .filter(w::merchant_id.eq(merchant_id))
            .filter(w::webhook_id.eq(webhook_id)),
    ))
    .get_result(conn)
}

/// SQL for what a commission (`commissions` in the query) itself still carries: its amount
/// less the refunds that reversed part of it before it was paid. A refund recorded while the
/// commission was in a payout or paid is a clawback: the ledger takes it from the available
/// balance at once and a payout offsets it as its own item, so it is never taken from the
/// commission too (were that payout then cancelled or failed, the commission comes back
/// whole and the clawback is still open: counted here as well, the refund would be taken
/// back twice). This is what `tandem ledger check` replays as the commission's amount left.
pub const NET_OF_REFUNDS: &str = "commissions.amount_minor - CAST(COALESCE((SELECT SUM(r.commission_minor) FROM refunds r WHERE r.conversion_id = commissions.conversion_id AND r.effect = 'reversal'), 0) AS BIGINT)";

/// A commission not paid yet, as the influencer's home groups it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenCommission {
    pub currency: String,
    pub state: String,
    /// What is left of it after refunds.
    pub net_minor: i64,
    pub available_at: NaiveDateTime,
    pub frozen_reason: Option<String>,
    pub order_id: String,
    pub campaign: String,
    pub hold_days: i32,
    /// The live payout settling it, with that payout's state.
    pub payout: Option<(i64, String)>,
}

/// The influencer's commissions that are held, frozen, available or in a payout, with the
/// order, the campaign and (in a payout) which payout; oldest first.
pub fn open_commissions(conn: &mut DbConn, influencer_id: i64) -> QueryResult<Vec<OpenCommission>> {
    use super::schema::{campaigns, payout_items, payouts};
    use diesel::dsl::sql;
    use diesel::sql_types::BigInt;
    type Row = (
        i64,
        String,
        String,
        i64,
        NaiveDateTime,
        Option<String>,
        String,
        i64,
    );
    let rows: Vec<Row> = commissions::table
        .inner_join(conversions::table)
        .filter(commissions::influencer_id.eq(influencer_id))
        .filter(commissions::state.eq_any(["pending", "frozen", "available", "in_payout"]))
        .order(commissions::id)
        .select((
            commissions::id,
            commissions::currency,
            commissions::state,
            sql::<BigInt>(NET_OF_REFUNDS),
            commissions::available_at,
            commissions::frozen_reason,
            conversions::order_id,
            commissions::campaign_id,
        ))
        .load(conn)?;
    let mut campaign_ids: Vec<i64> = rows.iter().map(|r| r.7).collect();
    campaign_ids.sort_unstable();
    campaign_ids.dedup();
    let names: std::collections::HashMap<i64, (String, i32)> = campaigns::table
        .filter(campaigns::id.eq_any(&campaign_ids))
        .select((campaigns::id, campaigns::name, campaigns::hold_days))
        .load::<(i64, String, i32)>(conn)?
        .into_iter()
        .map(|(id, name, days)| (id, (name, days)))
        .collect();
    let in_payout: Vec<i64> = rows
        .iter()
        .filter(|r| r.2 == "in_payout")
        .map(|r| r.0)
        .collect();
    let mut payout_of: std::collections::HashMap<i64, (i64, String)> = Default::default();
    for slice in in_payout.chunks(10_000) {
        for (commission, payout, state) in payout_items::table
            .inner_join(payouts::table)
            .filter(payout_items::active.eq(true))
            .filter(payout_items::commission_id.eq_any(slice.iter().map(|c| Some(*c))))
            .select((
                payout_items::commission_id.assume_not_null(),
                payouts::id,
                payouts::state,
            ))
            .load::<(i64, i64, String)>(conn)?
        {
            payout_of.insert(commission, (payout, state));
        }
    }
    Ok(rows
        .into_iter()
        .map(
            |(id, currency, state, net, available_at, frozen_reason, order_id, campaign_id)| {
                let (campaign, hold_days) = names.get(&campaign_id).cloned().unwrap_or_default();
                OpenCommission {
                    currency,
                    state,
                    net_minor: net,
                    available_at,
                    frozen_reason,
                    order_id,
                    campaign,
                    hold_days,
                    payout: payout_of.remove(&id),
                }
            },
        )
        .collect())
}

/// Clawbacks of the influencer in `currency` no payout has offset yet: (refund id, order
/// id, what it took back).
pub fn open_clawbacks_of(
    conn: &mut DbConn,
    influencer_id: i64,
    currency: &str,
) -> QueryResult<Vec<(String, String, i64)>> {
    let ids: Vec<i64> = super::payouts::open_clawbacks(conn, currency, Some(influencer_id))?
        .into_iter()
        .map(|(id, _, _)| id)
        .collect();
    refunds::table
        .inner_join(conversions::table)
        .filter(refunds::id.eq_any(ids))
        .order(refunds::id)
        .select((
            refunds::refund_id,
            conversions::order_id,
            refunds::commission_minor,
        ))
        .load(conn)
}
