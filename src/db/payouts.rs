//! Payout schedules, runs, payouts and what each payout settles.

use chrono::NaiveDateTime;
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::BigInt;

use super::DbConn;
use super::models::{Payout, PayoutExclusion, PayoutItem, PayoutRun, PayoutSchedule};
use super::schema::{
    commissions, conversions, influencers, payout_exclusions, payout_items, payout_runs,
    payout_schedules, payouts, refunds,
};

pub fn schedules(conn: &mut DbConn) -> QueryResult<Vec<PayoutSchedule>> {
    payout_schedules::table
        .order(payout_schedules::name)
        .select(PayoutSchedule::as_select())
        .load(conn)
}

pub fn schedule(conn: &mut DbConn, id: i64) -> QueryResult<Option<PayoutSchedule>> {
    payout_schedules::table
        .find(id)
        .select(PayoutSchedule::as_select())
        .first(conn)
        .optional()
}

pub fn schedule_by_name(conn: &mut DbConn, name: &str) -> QueryResult<Option<PayoutSchedule>> {
    payout_schedules::table
        .filter(payout_schedules::name.eq(name))
        .select(PayoutSchedule::as_select())
        .first(conn)
        .optional()
}

#[allow(clippy::too_many_arguments)]
pub fn insert_schedule(
    conn: &mut DbConn,
    name: &str,
    cron: &str,
    time_zone: &str,
    currency: &str,
    minimum_minor: i64,
    active: bool,
    by: i64,
    now: NaiveDateTime,
) -> QueryResult<i64> {
    diesel::insert_into(payout_schedules::table)
        .values((
            payout_schedules::name.eq(name),
            payout_schedules::cron.eq(cron),
            payout_schedules::time_zone.eq(time_zone),
            payout_schedules::currency.eq(currency),
            payout_schedules::minimum_minor.eq(minimum_minor),
            payout_schedules::active.eq(active),
            payout_schedules::created_at.eq(now),
            payout_schedules::updated_at.eq(now),
            payout_schedules::updated_by.eq(Some(by)),
            // A new schedule starts counting from now: it does not catch up the past.
            payout_schedules::last_fire_at.eq(Some(now)),
        ))
        .returning(payout_schedules::id)
        .get_result(conn)
}

#[allow(clippy::too_many_arguments)]
pub fn update_schedule(
    conn: &mut DbConn,
    id: i64,
    name: &str,
    cron: &str,
    time_zone: &str,
    currency: &str,
    minimum_minor: i64,
    active: bool,
    by: i64,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(payout_schedules::table.find(id))
        .set((
            payout_schedules::name.eq(name),
            payout_schedules::cron.eq(cron),
            payout_schedules::time_zone.eq(time_zone),
            payout_schedules::currency.eq(currency),
            payout_schedules::minimum_minor.eq(minimum_minor),
            payout_schedules::active.eq(active),
            payout_schedules::updated_at.eq(now),
            payout_schedules::updated_by.eq(Some(by)),
        ))
        .execute(conn)
}

pub fn set_pay_when_paid(conn: &mut DbConn, id: i64, on: bool) -> QueryResult<usize> {
    diesel::update(payout_schedules::table.find(id))
        .set(payout_schedules::pay_when_paid.eq(on))
        .execute(conn)
}

/// Moves the schedule's mark forward (never back): the slots up to `fire_at` are done.
pub fn mark_fired(conn: &mut DbConn, id: i64, fire_at: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(
        payout_schedules::table.find(id).filter(
            payout_schedules::last_fire_at
                .is_null()
                .or(payout_schedules::last_fire_at.lt(fire_at)),
        ),
    )
    .set(payout_schedules::last_fire_at.eq(Some(fire_at)))
    .execute(conn)
}

/// Inserts the run for (schedule, fire time); `None` when it exists already (another node,
/// a restart or the command line made it first).
pub fn insert_run(
    conn: &mut DbConn,
    schedule: &PayoutSchedule,
    fire_at: NaiveDateTime,
    started_by: Option<i64>,
    now: NaiveDateTime,
) -> QueryResult<Option<i64>> {
    let values = (
        payout_runs::schedule_id.eq(schedule.id),
        payout_runs::fire_at.eq(fire_at),
        payout_runs::currency.eq(&schedule.currency),
        payout_runs::minimum_minor.eq(schedule.minimum_minor),
        payout_runs::state.eq("draft"),
        payout_runs::started_by.eq(started_by),
        payout_runs::schedule_changed_by.eq(schedule.updated_by),
        payout_runs::created_at.eq(now),
        payout_runs::updated_at.eq(now),
    );
    match conn {
        DbConn::Pg(c) => diesel::insert_into(payout_runs::table)
            .values(values)
            .on_conflict_do_nothing()
            .returning(payout_runs::id)
            .get_result(c)
            .optional(),
        DbConn::Sqlite(c) => diesel::insert_into(payout_runs::table)
            .values(values)
            .on_conflict_do_nothing()
            .returning(payout_runs::id)
            .get_result(c)
            .optional(),
    }
}

pub fn run(conn: &mut DbConn, id: i64) -> QueryResult<Option<PayoutRun>> {
    payout_runs::table
        .find(id)
        .select(PayoutRun::as_select())
        .first(conn)
        .optional()
}

pub fn run_at(
    conn: &mut DbConn,
    schedule_id: i64,
    fire_at: NaiveDateTime,
) -> QueryResult<Option<PayoutRun>> {
    payout_runs::table
        .filter(payout_runs::schedule_id.eq(schedule_id))
        .filter(payout_runs::fire_at.eq(fire_at))
        .select(PayoutRun::as_select())
        .first(conn)
        .optional()
}

pub fn runs(conn: &mut DbConn, limit: i64) -> QueryResult<Vec<(PayoutRun, String)>> {
    runs_in(conn, None, limit)
}

/// The latest runs, newest first, in one state only when `state` is given.
pub fn runs_in(
    conn: &mut DbConn,
    state: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<(PayoutRun, String)>> {
    let mut q = payout_runs::table
        .inner_join(payout_schedules::table)
        .into_boxed();
    if let Some(state) = state {
        q = q.filter(payout_runs::state.eq(state.to_owned()));
    }
    q.order(payout_runs::id.desc())
        .limit(limit)
        .select((PayoutRun::as_select(), payout_schedules::name))
        .load(conn)
}

/// Failed payouts (and payouts the bank returned) of an influencer and currency not followed
/// by a paid one (what finance's home counts as "failed, not paid since"), newest first.
fn failed_not_paid_since_ids(conn: &mut DbConn, states: &[&str]) -> QueryResult<Vec<i64>> {
    let (p, q) = diesel::alias!(payouts as p, payouts as q);
    p.filter(p.field(payouts::state).eq_any(states.to_vec()))
        .filter(diesel::dsl::not(diesel::dsl::exists(
            q.filter(
                q.field(payouts::influencer_id)
                    .eq(p.field(payouts::influencer_id)),
            )
            .filter(q.field(payouts::currency).eq(p.field(payouts::currency)))
            .filter(q.field(payouts::state).eq("paid"))
            .filter(q.field(payouts::id).gt(p.field(payouts::id))),
        )))
        .order(p.field(payouts::id).desc())
        .select(p.field(payouts::id))
        .load(conn)
}

/// Those payouts (failed or returned), with the creator's handle.
pub fn failed_not_paid_since(conn: &mut DbConn) -> QueryResult<Vec<(Payout, String)>> {
    let ids = failed_not_paid_since_ids(conn, &["failed", "returned"])?;
    payouts::table
        .inner_join(influencers::table)
        .filter(payouts::id.eq_any(ids))
        .order(payouts::id.desc())
        .select((Payout::as_select(), influencers::handle))
        .load(conn)
}

/// Moves a run from one state to another (compare-and-set); whether it moved.
pub fn move_run(
    conn: &mut DbConn,
    id: i64,
    from: &[&str],
    to: &str,
    approved_by: Option<i64>,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let q = diesel::update(
        payout_runs::table
            .find(id)
            .filter(payout_runs::state.eq_any(from.to_vec())),
    );
    let n = match approved_by {
        Some(a) => q
            .set((
                payout_runs::state.eq(to),
                payout_runs::approved_by.eq(Some(a)),
                payout_runs::updated_at.eq(now),
            ))
            .execute(conn)?,
        None => q
            .set((payout_runs::state.eq(to), payout_runs::updated_at.eq(now)))
            .execute(conn)?,
    };
    Ok(n == 1)
}

pub fn insert_exclusion(
    conn: &mut DbConn,
    run_id: i64,
    influencer_id: i64,
    currency: &str,
    available_minor: i64,
    reason: &str,
) -> QueryResult<usize> {
    diesel::insert_into(payout_exclusions::table)
        .values((
            payout_exclusions::run_id.eq(run_id),
            payout_exclusions::influencer_id.eq(influencer_id),
            payout_exclusions::currency.eq(currency),
            payout_exclusions::available_minor.eq(available_minor),
            payout_exclusions::reason.eq(reason),
        ))
        .execute(conn)
}

pub fn payouts_of_run(conn: &mut DbConn, run_id: i64) -> QueryResult<Vec<(Payout, String)>> {
    payouts::table
        .inner_join(influencers::table)
        .filter(payouts::run_id.eq(run_id))
        .order(payouts::id)
        .select((Payout::as_select(), influencers::handle))
        .load(conn)
}

pub fn exclusions_of_run(
    conn: &mut DbConn,
    run_id: i64,
) -> QueryResult<Vec<(PayoutExclusion, String)>> {
    payout_exclusions::table
        .inner_join(influencers::table)
        .filter(payout_exclusions::run_id.eq(run_id))
        .order(payout_exclusions::influencer_id)
        .select((PayoutExclusion::as_select(), influencers::handle))
        .load(conn)
}

/// The latest reason an influencer was left out, per currency (their earnings page).
pub fn latest_exclusions(
    conn: &mut DbConn,
    influencer_id: i64,
) -> QueryResult<Vec<(PayoutExclusion, NaiveDateTime)>> {
    let rows: Vec<(PayoutExclusion, NaiveDateTime)> = payout_exclusions::table
        .inner_join(payout_runs::table)
        .filter(payout_exclusions::influencer_id.eq(influencer_id))
        .order(payout_runs::fire_at.desc())
        .select((PayoutExclusion::as_select(), payout_runs::fire_at))
        .limit(50)
        .load(conn)?;
    let mut seen = std::collections::HashSet::new();
    Ok(rows
        .into_iter()
        .filter(|(e, _)| seen.insert(e.currency.clone()))
        .collect())
}

pub fn payout(conn: &mut DbConn, id: i64) -> QueryResult<Option<Payout>> {
    payouts::table
        .find(id)
        .select(Payout::as_select())
        .first(conn)
        .optional()
}

pub fn payouts_of_influencer(conn: &mut DbConn, influencer_id: i64) -> QueryResult<Vec<Payout>> {
    payouts::table
        .filter(payouts::influencer_id.eq(influencer_id))
        .order(payouts::id.desc())
        .select(Payout::as_select())
        .load(conn)
}

pub fn items_of(conn: &mut DbConn, payout_id: i64) -> QueryResult<Vec<PayoutItem>> {
    payout_items::table
        .filter(payout_items::payout_id.eq(payout_id))
        .order(payout_items::id)
        .select(PayoutItem::as_select())
        .load(conn)
}

pub fn all_items(conn: &mut DbConn) -> QueryResult<Vec<PayoutItem>> {
    payout_items::table
        .order(payout_items::id)
        .select(PayoutItem::as_select())
        .load(conn)
}

pub fn all_payouts(conn: &mut DbConn) -> QueryResult<Vec<Payout>> {
    payouts::table
        .order(payouts::id)
        .select(Payout::as_select())
        .load(conn)
}

/// Moves a payout between states (compare-and-set), with its reference or failure reason.
pub fn move_payout(
    conn: &mut DbConn,
    id: i64,
    from: &[&str],
    to: &str,
    reference: Option<&str>,
    failure_reason: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let n = diesel::update(
        payouts::table
            .find(id)
            .filter(payouts::state.eq_any(from.to_vec())),
    )
    .set((
        payouts::state.eq(to),
        payouts::reference.eq(reference),
        payouts::failure_reason.eq(failure_reason),
        payouts::updated_at.eq(now),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Marks a paid payout returned by the bank (compare-and-set: only while it is paid), with
/// why and when; its reference stays (it was paid).
pub fn mark_returned(
    conn: &mut DbConn,
    id: i64,
    reason: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let n = diesel::update(payouts::table.find(id).filter(payouts::state.eq("paid")))
        .set((
            payouts::state.eq("returned"),
            payouts::returned_reason.eq(Some(reason)),
            payouts::returned_at.eq(Some(now)),
            payouts::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

/// Moves every payout of a run in `from` to `to`; how many.
pub fn move_run_payouts(
    conn: &mut DbConn,
    run_id: i64,
    from: &[&str],
    to: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        payouts::table
            .filter(payouts::run_id.eq(run_id))
            .filter(payouts::state.eq_any(from.to_vec())),
    )
    .set((payouts::state.eq(to), payouts::updated_at.eq(now)))
    .execute(conn)
}

/// Each payout of the run pays the destination its creator has now (the run is being
/// written: these are the details it was planned with).
pub fn set_destinations(conn: &mut DbConn, run_id: i64) -> QueryResult<usize> {
    bulk_exec(
        conn,
        "UPDATE payouts SET destination = (SELECT i.payout_details FROM influencers i \
         WHERE i.id = payouts.influencer_id) WHERE run_id = ? AND state = 'draft'",
        &[Bind::Int(run_id)],
    )
}

/// Payouts whose destination is still plain text (copied from unsealed payout details by the
/// payout-controls migration, or planned from them before they were sealed): (payout, text).
pub fn plain_destinations(conn: &mut DbConn) -> QueryResult<Vec<(i64, String)>> {
    // Sealed values start so (`domain::sealed`); plain text is JSON, starting with `{`.
    payouts::table
        .filter(payouts::destination.is_not_null())
        .filter(payouts::destination.not_like("sealed:v1:%"))
        .select((payouts::id, payouts::destination.assume_not_null()))
        .order(payouts::id)
        .load(conn)
}

/// Replaces a payout's plain-text destination by its sealed form (the one change of an
/// approved or settled payout's destination the database lets through: see the migration
/// `seal_payout_destinations`). Only while it still holds `plain`.
pub fn seal_destination(
    conn: &mut DbConn,
    payout_id: i64,
    plain: &str,
    sealed: &str,
) -> QueryResult<usize> {
    diesel::update(
        payouts::table
            .filter(payouts::id.eq(payout_id))
            .filter(payouts::destination.eq(plain)),
    )
    .set(payouts::destination.eq(Some(sealed)))
    .execute(conn)
}

/// The creator changed their payout details: their payouts still awaiting approval pay the
/// new ones (approved payouts keep what was approved); which (payout, run) changed.
pub fn redirect_drafts(
    conn: &mut DbConn,
    influencer_id: i64,
    method: &str,
    destination: &str,
    now: NaiveDateTime,
) -> QueryResult<Vec<(i64, i64)>> {
    let which: Vec<(i64, i64)> = payouts::table
        .filter(payouts::influencer_id.eq(influencer_id))
        .filter(payouts::state.eq("draft"))
        .select((payouts::id, payouts::run_id))
        .load(conn)?;
    diesel::update(
        payouts::table
            .filter(payouts::influencer_id.eq(influencer_id))
            .filter(payouts::state.eq("draft")),
    )
    .set((
        payouts::method.eq(method),
        payouts::destination.eq(Some(destination)),
        payouts::updated_at.eq(now),
    ))
    .execute(conn)?;
    Ok(which)
}

/// An item stops settling anything (its payout failed, was cancelled or was returned).
pub fn release_items(conn: &mut DbConn, payout_id: i64) -> QueryResult<usize> {
    diesel::update(payout_items::table.filter(payout_items::payout_id.eq(payout_id)))
        .set(payout_items::active.eq(false))
        .execute(conn)
}

/// Available commissions in `currency` not settled by an active item: (commission, influencer,
/// what is left of it after refunds).
pub fn available_commissions(
    conn: &mut DbConn,
    currency: &str,
    only: Option<i64>,
) -> QueryResult<Vec<(i64, i64, i64)>> {
    let mut q = commissions::table.into_boxed();
    if let Some(id) = only {
        q = q.filter(commissions::influencer_id.eq(id));
    }
    q.filter(commissions::state.eq("available"))
        .filter(commissions::currency.eq(currency))
        .filter(
            commissions::id.nullable().ne_all(
                payout_items::table
                    .filter(payout_items::active.eq(true))
                    .filter(payout_items::commission_id.is_not_null())
                    .select(payout_items::commission_id),
            ),
        )
        .order(commissions::id)
        .select((
            commissions::id,
            commissions::influencer_id,
            sql::<BigInt>(super::orders::NET_OF_REFUNDS),
        ))
        .load(conn)
}

/// Clawbacks in `currency` not yet offset by an active item: (refund, influencer, amount).
pub fn open_clawbacks(
    conn: &mut DbConn,
    currency: &str,
    only: Option<i64>,
) -> QueryResult<Vec<(i64, i64, i64)>> {
    let mut q = refunds::table
        .inner_join(conversions::table.inner_join(commissions::table))
        .into_boxed();
    if let Some(id) = only {
        q = q.filter(commissions::influencer_id.eq(id));
    }
    q.filter(refunds::effect.eq("clawback"))
        .filter(refunds::commission_minor.gt(0))
        .filter(commissions::currency.eq(currency))
        .filter(
            refunds::id.nullable().ne_all(
                payout_items::table
                    .filter(payout_items::active.eq(true))
                    .filter(payout_items::refund_id.is_not_null())
                    .select(payout_items::refund_id),
            ),
        )
        .order(refunds::id)
        .select((
            refunds::id,
            commissions::influencer_id,
            refunds::commission_minor,
        ))
        .load(conn)
}

/// Commissions frozen for review in `currency`, summed per influencer.
pub fn frozen_totals(
    conn: &mut DbConn,
    currency: &str,
    only: Option<i64>,
) -> QueryResult<Vec<(i64, i64)>> {
    // (Diesel's boxed queries do not group: the one influencer is a range of one.)
    let (from, to) = only.map_or((i64::MIN, i64::MAX), |id| (id, id));
    commissions::table
        .filter(commissions::influencer_id.between(from, to))
        .filter(commissions::state.eq("frozen"))
        .filter(commissions::currency.eq(currency))
        .group_by(commissions::influencer_id)
        .select((
            commissions::influencer_id,
            sql::<BigInt>("CAST(COALESCE(SUM(commissions.amount_minor), 0) AS BIGINT)"),
        ))
        .load(conn)
}

/// Each influencer's payout method (`None`: none chosen).
pub fn methods(conn: &mut DbConn, ids: &[i64]) -> QueryResult<Vec<(i64, Option<String>)>> {
    // In slices: SQLite takes at most 32,766 values a statement.
    let mut out = Vec::with_capacity(ids.len());
    for slice in ids.chunks(10_000) {
        out.extend(
            influencers::table
                .filter(influencers::id.eq_any(slice))
                .select((influencers::id, influencers::payout_method))
                .load::<(i64, Option<String>)>(conn)?,
        );
    }
    Ok(out)
}

/// Handles of these influencers, by id (in slices, for runs of any size).
pub fn handles(
    conn: &mut DbConn,
    ids: &[i64],
) -> QueryResult<std::collections::HashMap<i64, String>> {
    let mut out = std::collections::HashMap::with_capacity(ids.len());
    for slice in ids.chunks(10_000) {
        out.extend(
            influencers::table
                .filter(influencers::id.eq_any(slice))
                .select((influencers::id, influencers::handle))
                .load::<(i64, String)>(conn)?,
        );
    }
    Ok(out)
}

/// What each item of a payout settles, for its statement: (item amount, commission id,
/// refund id, order id, link code, stream title, commission's merchant).
pub type StatementLine = (
    i64,
    Option<i64>,
    Option<i64>,
    String,
    Option<String>,
    Option<String>,
    String,
);

pub fn statement_lines(conn: &mut DbConn, payout_id: i64) -> QueryResult<Vec<StatementLine>> {
    use super::schema::{links, merchants, streams};
    let items = items_of(conn, payout_id)?;
    let mut out = Vec::with_capacity(items.len());
    for it in items {
        let conversion_id: Option<i64> = match (it.commission_id, it.refund_id) {
            (Some(c), _) => commissions::table
                .find(c)
                .select(commissions::conversion_id)
                .first(conn)
                .optional()?,
            (_, Some(r)) => refunds::table
                .find(r)
                .select(refunds::conversion_id)
                .first(conn)
                .optional()?,
            _ => None,
        };
        let Some(conversion_id) = conversion_id else {
            continue;
        };
        let (order_id, link_id, stream_id, merchant): (String, Option<i64>, Option<i64>, String) =
            conversions::table
                .inner_join(merchants::table.on(merchants::id.eq(conversions::merchant_id)))
                .filter(conversions::id.eq(conversion_id))
                .select((
                    conversions::order_id,
                    conversions::link_id,
                    conversions::stream_id,
                    merchants::name,
                ))
                .first(conn)?;
        let code = match link_id {
            Some(l) => links::table
                .find(l)
                .select(links::code)
                .first(conn)
                .optional()?,
            None => None,
        };
        let stream = match stream_id {
            Some(s) => streams::table
                .find(s)
                .select(streams::title)
                .first(conn)
                .optional()?,
            None => None,
        };
        out.push((
            it.amount_minor,
            it.commission_id,
            it.refund_id,
            order_id,
            code,
            stream,
            merchant,
        ));
    }
    Ok(out)
}

/// Whether the influencer has a payout in `currency` from a run slotted after `at` (which
/// makes an older reason for being left out stale).
pub fn paid_after(
    conn: &mut DbConn,
    influencer_id: i64,
    currency: &str,
    at: NaiveDateTime,
) -> QueryResult<bool> {
    let n: i64 = payouts::table
        .inner_join(payout_runs::table)
        .filter(payouts::influencer_id.eq(influencer_id))
        .filter(payouts::currency.eq(currency))
        .filter(payouts::state.ne("cancelled"))
        .filter(payout_runs::fire_at.gt(at))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// The entries of the influencer's pending and available accounts in `currency`, in journal
/// order: (journal id, journal kind, amount).
pub fn balance_entries(
    conn: &mut DbConn,
    influencer_id: i64,
    currency: &str,
) -> QueryResult<Vec<(i64, String, i64)>> {
    use super::schema::{entries, journals, ledger_accounts};
    entries::table
        .inner_join(journals::table)
        .inner_join(ledger_accounts::table)
        .filter(ledger_accounts::owner_kind.eq("influencer"))
        .filter(ledger_accounts::owner_id.eq(influencer_id))
        .filter(ledger_accounts::currency.eq(currency))
        .filter(ledger_accounts::kind.eq_any(["pending", "available"]))
        .order((journals::id, entries::id))
        .select((journals::id, journals::kind, entries::amount_minor))
        .load(conn)
}

/// The journals that gave the money of the influencer's payouts in `currency` back (a
/// failed or cancelled payout, or one the bank returned): (payout id, journal id).
pub fn payout_returns(
    conn: &mut DbConn,
    influencer_id: i64,
    currency: &str,
) -> QueryResult<Vec<(i64, i64)>> {
    use super::schema::journals;
    payouts::table
        .inner_join(payout_items::table)
        .inner_join(
            journals::table.on(journals::ref_id
                .eq(payout_items::id)
                .and(journals::ref_kind.eq("payout_item"))
                .and(journals::kind.eq_any(["payout_fail", "payout_return"]))),
        )
        .filter(payouts::influencer_id.eq(influencer_id))
        .filter(payouts::currency.eq(currency))
        .select((payouts::id, journals::id))
        .load(conn)
}

/// Journals by id: (kind, memo, when).
pub fn journal_notes(
    conn: &mut DbConn,
    ids: &[i64],
) -> QueryResult<std::collections::HashMap<i64, (String, String, NaiveDateTime)>> {
    use super::schema::journals;
    let mut out = std::collections::HashMap::with_capacity(ids.len());
    for slice in ids.chunks(10_000) {
        for (id, kind, memo, at) in journals::table
            .filter(journals::id.eq_any(slice))
            .select((
                journals::id,
                journals::kind,
                journals::memo,
                journals::created_at,
            ))
            .load::<(i64, String, String, NaiveDateTime)>(conn)?
        {
            out.insert(id, (kind, memo, at));
        }
    }
    Ok(out)
}

/// Each of the influencer's payouts in `currency` with the last journal that started it
/// (its place in the ledger), in ledger order.
pub fn payout_markers(
    conn: &mut DbConn,
    influencer_id: i64,
    currency: &str,
) -> QueryResult<Vec<(i64, i64)>> {
    use super::schema::journals;
    let rows: Vec<(i64, i64)> = payouts::table
        .inner_join(payout_items::table)
        .inner_join(
            journals::table.on(journals::ref_id
                .eq(payout_items::id)
                .and(journals::ref_kind.eq("payout_item"))
                .and(journals::kind.eq("payout_start"))),
        )
        .filter(payouts::influencer_id.eq(influencer_id))
        .filter(payouts::currency.eq(currency))
        .group_by(payouts::id)
        .select((
            payouts::id,
            diesel::dsl::max(journals::id).assume_not_null(),
        ))
        .load(conn)?;
    let mut rows = rows;
    rows.sort_by_key(|r| r.1);
    Ok(rows)
}

/// A value bound to a [`bulk_exec`] statement.
#[derive(Debug, Clone)]
pub enum Bind {
    Int(i64),
    Text(String),
    Time(NaiveDateTime),
}

/// Runs one statement written with `?` placeholders (turned into `$1`, `$2`, ... for
/// PostgreSQL); how many rows it changed. For the set-based statements of a payout run.
pub fn bulk_exec(conn: &mut DbConn, sql: &str, binds: &[Bind]) -> QueryResult<usize> {
    use diesel::sql_types::{BigInt, Text, Timestamp};
    match conn {
        DbConn::Pg(c) => {
            let mut n = 0;
            let pg_sql: String = sql
                .split('?')
                .enumerate()
                .map(|(i, part)| {
                    if i == 0 {
                        part.to_owned()
                    } else {
                        n += 1;
                        format!("${n}{part}")
                    }
                })
                .collect();
            let mut q = diesel::sql_query(pg_sql).into_boxed::<diesel::pg::Pg>();
            for b in binds {
                q = match b {
                    Bind::Int(v) => q.bind::<BigInt, _>(*v),
                    Bind::Text(v) => q.bind::<Text, _>(v.clone()),
                    Bind::Time(v) => q.bind::<Timestamp, _>(*v),
                };
            }
            q.execute(c)
        }
        DbConn::Sqlite(c) => {
            let mut q = diesel::sql_query(sql).into_boxed::<diesel::sqlite::Sqlite>();
            for b in binds {
                q = match b {
                    Bind::Int(v) => q.bind::<BigInt, _>(*v),
                    Bind::Text(v) => q.bind::<Text, _>(v.clone()),
                    Bind::Time(v) => q.bind::<Timestamp, _>(*v),
                };
            }
            q.execute(c)
        }
    }
}

/// Inserts a run's payouts, many rows a statement; returns (influencer, payout id).
pub fn insert_payouts(
    conn: &mut DbConn,
    run_id: i64,
    currency: &str,
    rows: &[(i64, i64, String)],
    now: NaiveDateTime,
) -> QueryResult<Vec<(i64, i64)>> {
    for chunk in rows.chunks(500) {
        let values: Vec<_> = chunk
            .iter()
            .map(|(influencer, amount, method)| {
                (
                    payouts::run_id.eq(run_id),
                    payouts::influencer_id.eq(*influencer),
                    payouts::currency.eq(currency),
                    payouts::amount_minor.eq(*amount),
                    payouts::state.eq("draft"),
                    payouts::method.eq(method.as_str()),
                    payouts::created_at.eq(now),
                    payouts::updated_at.eq(now),
                )
            })
            .collect();
        match conn {
            DbConn::Pg(c) => diesel::insert_into(payouts::table)
                .values(&values)
                .execute(c)?,
            DbConn::Sqlite(c) => diesel::insert_into(payouts::table)
                .values(&values)
                .execute(c)?,
        };
    }
    payouts::table
        .filter(payouts::run_id.eq(run_id))
        .select((payouts::influencer_id, payouts::id))
        .load(conn)
}

/// Inserts payout items (payout, commission, clawback's refund, amount), many a statement;
/// the partial unique indexes refuse a commission or clawback that an active item of another
/// payout already settles.
pub fn insert_items(
    conn: &mut DbConn,
    rows: &[(i64, Option<i64>, Option<i64>, i64)],
) -> QueryResult<usize> {
    if let DbConn::Pg(c) = conn {
        // Four arrays a statement: a VALUES list of thousands of parameters is slow for
        // PostgreSQL to parse (4.5 s for 100k items, 2.9 s this way, most of it the
        // foreign-key checks).
        use diesel::sql_types::{Array, BigInt, Nullable};
        let mut n = 0;
        for chunk in rows.chunks(50_000) {
            let (p, c2, r, a) = chunk.iter().fold(
                (Vec::new(), Vec::new(), Vec::new(), Vec::new()),
                |(mut p, mut c2, mut r, mut a), row| {
                    p.push(row.0);
                    c2.push(row.1);
                    r.push(row.2);
                    a.push(row.3);
                    (p, c2, r, a)
                },
            );
            n += diesel::sql_query(
                "INSERT INTO payout_items (payout_id, commission_id, refund_id, amount_minor, active) \
                 SELECT p, c, r, a, TRUE FROM UNNEST($1, $2, $3, $4) AS t(p, c, r, a)",
            )
            .bind::<Array<BigInt>, _>(p)
            .bind::<Array<Nullable<BigInt>>, _>(c2)
            .bind::<Array<Nullable<BigInt>>, _>(r)
            .bind::<Array<BigInt>, _>(a)
            .execute(c)?;
        }
        return Ok(n);
    }
    let mut n = 0;
    for chunk in rows.chunks(1_000) {
        let values: Vec<_> = chunk
            .iter()
            .map(|(payout, commission, refund, amount)| {
                (
                    payout_items::payout_id.eq(*payout),
                    payout_items::commission_id.eq(*commission),
                    payout_items::refund_id.eq(*refund),
                    payout_items::amount_minor.eq(*amount),
                    payout_items::active.eq(true),
                )
            })
            .collect();
        n += match conn {
            DbConn::Pg(c) => diesel::insert_into(payout_items::table)
                .values(&values)
                .execute(c)?,
            DbConn::Sqlite(c) => diesel::insert_into(payout_items::table)
                .values(&values)
                .execute(c)?,
        };
    }
    Ok(n)
}

/// Items of the run whose commission no longer has what the item settles (a refund was
/// recorded between planning and locking): how many.
pub fn stale_items(conn: &mut DbConn, run_id: i64) -> QueryResult<i64> {
    payout_items::table
        .inner_join(payouts::table)
        .inner_join(
            commissions::table.on(commissions::id.nullable().eq(payout_items::commission_id)),
        )
        .filter(payouts::run_id.eq(run_id))
        .filter(sql::<diesel::sql_types::Bool>(&format!(
            "payout_items.amount_minor <> {}",
            super::orders::NET_OF_REFUNDS
        )))
        .count()
        .get_result(conn)
}

/// What waits for finance, counted (their home page).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueCounts {
    pub frozen: i64,
    pub awaiting_approval: i64,
    pub awaiting_export: i64,
    pub unsettled_exports: i64,
    /// Failed payouts of an influencer and currency not followed by a paid one.
    pub failed_payouts: i64,
    /// Payouts the bank returned, not followed by a paid one.
    pub returned_payouts: i64,
}

pub fn queue_counts(conn: &mut DbConn) -> QueryResult<QueueCounts> {
    use super::schema::commissions;
    let runs_in = |conn: &mut DbConn, state: &str| {
        payout_runs::table
            .filter(payout_runs::state.eq(state))
            .count()
            .get_result::<i64>(conn)
    };
    let failed_payouts =
        i64::try_from(failed_not_paid_since_ids(conn, &["failed"])?.len()).unwrap_or(i64::MAX);
    let returned_payouts =
        i64::try_from(failed_not_paid_since_ids(conn, &["returned"])?.len()).unwrap_or(i64::MAX);
    Ok(QueueCounts {
        frozen: commissions::table
            .filter(commissions::state.eq("frozen"))
            .count()
            .get_result(conn)?,
        awaiting_approval: runs_in(conn, "draft")?,
        awaiting_export: runs_in(conn, "approved")?,
        unsettled_exports: runs_in(conn, "exported")?,
        failed_payouts,
        returned_payouts,
    })
}
