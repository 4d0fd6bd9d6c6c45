//! The ledger's tables: accounts (one per owner, kind and currency), journals (one per kind
//! and what it is for: posting twice is impossible, a second different posting an error) and
//! entries (append-only: triggers refuse UPDATE, DELETE and REPLACE on both backends).

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConn;
use super::schema::{entries, journals, ledger_accounts};
use crate::domain::ledger::{
    AccountKind, AccountRow, Books, CommissionFacts, EntryRow, JournalDraft, JournalRow, Owner,
    PayoutFacts, PayoutItemFacts, RefundFacts, StoredEntry,
};
use crate::error::{AppError, AppResult};

/// The account's id, created on first use.
pub fn account_id(
    conn: &mut DbConn,
    owner: Owner,
    kind: AccountKind,
    currency: &str,
) -> QueryResult<i64> {
    let find = |conn: &mut DbConn| {
        on_inner!(conn, |c| ledger_accounts::table
            .filter(ledger_accounts::owner_kind.eq(owner.kind()))
            .filter(ledger_accounts::owner_id.eq(owner.id()))
            .filter(ledger_accounts::kind.eq(kind.as_str()))
            .filter(ledger_accounts::currency.eq(currency))
            .select(ledger_accounts::id)
            .first::<i64>(c)
            .optional())
    };
    if let Some(id) = find(conn)? {
        return Ok(id);
    }
    let values = (
        ledger_accounts::owner_kind.eq(owner.kind()),
        ledger_accounts::owner_id.eq(owner.id()),
        ledger_accounts::kind.eq(kind.as_str()),
        ledger_accounts::currency.eq(currency),
    );
    // Two transactions may open the same account at once: the loser's insert does nothing.
    match conn {
        DbConn::Pg(c) => diesel::insert_into(ledger_accounts::table)
            .values(values)
            .on_conflict_do_nothing()
            .execute(c)?,
        DbConn::Sqlite(c) => diesel::insert_into(ledger_accounts::table)
            .values(values)
            .on_conflict_do_nothing()
            .execute(c)?,
    };
    find(conn)?.ok_or(diesel::result::Error::NotFound)
}

/// Posts a journal for (`ref_kind`, `ref_id`). Returns the new journal's id, or `None` if
/// the same posting was made before (idempotent: same currency, same accounts, same
/// amounts). A journal of this kind already there for the reference with other postings is
/// an error, logged and returned: a second, different posting is never dropped in silence.
pub fn post(
    conn: &mut DbConn,
    draft: &JournalDraft,
    currency: &str,
    ref_kind: &str,
    ref_id: i64,
    now: NaiveDateTime,
) -> AppResult<Option<i64>> {
    debug_assert_eq!(draft.sum(), 0, "journals sum to zero");
    // Looked up first: on SQLite the writer holds the lock, and its trigger refuses an insert
    // whose (kind, ref) is taken; on PostgreSQL a concurrent twin is caught by the conflict.
    if let Some(existing) = find_journal(conn, draft.kind.as_str(), ref_kind, ref_id)? {
        return same_posting(conn, existing, draft, currency, ref_kind, ref_id).map(|()| None);
    }
    let values = (
        journals::kind.eq(draft.kind.as_str()),
        journals::ref_kind.eq(ref_kind),
        journals::ref_id.eq(ref_id),
        journals::currency.eq(currency),
        journals::memo.eq(&draft.memo),
        journals::created_at.eq(now),
    );
    let journal_id: Option<i64> = match conn {
        DbConn::Pg(c) => diesel::insert_into(journals::table)
            .values(values)
            .on_conflict_do_nothing()
            .returning(journals::id)
            .get_result(c)
            .optional()?,
        DbConn::Sqlite(c) => diesel::insert_into(journals::table)
            .values(values)
            .returning(journals::id)
            .get_result(c)
            .optional()?,
    };
    let Some(journal_id) = journal_id else {
        let existing = find_journal(conn, draft.kind.as_str(), ref_kind, ref_id)?
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("conflicting journal vanished")))?;
        return same_posting(conn, existing, draft, currency, ref_kind, ref_id).map(|()| None);
    };
    for p in &draft.postings {
        let account = account_id(conn, p.owner, p.kind, currency)?;
        on_inner!(conn, |c| diesel::insert_into(entries::table)
            .values((
                entries::journal_id.eq(journal_id),
                entries::account_id.eq(account),
                entries::amount_minor.eq(p.amount_minor),
            ))
            .execute(c))?;
    }
    Ok(Some(journal_id))
}

/// The journal of this kind for the reference: (id, currency).
fn find_journal(
    conn: &mut DbConn,
    kind: &str,
    ref_kind: &str,
    ref_id: i64,
) -> QueryResult<Option<(i64, String)>> {
    journals::table
        .filter(journals::kind.eq(kind))
        .filter(journals::ref_kind.eq(ref_kind))
        .filter(journals::ref_id.eq(ref_id))
        .select((journals::id, journals::currency))
        .first(conn)
        .optional()
}

/// Whether the stored journal is the posting `draft` would make; an error if not.
fn same_posting(
    conn: &mut DbConn,
    (journal_id, stored_currency): (i64, String),
    draft: &JournalDraft,
    currency: &str,
    ref_kind: &str,
    ref_id: i64,
) -> AppResult<()> {
    let rows: Vec<(String, i64, String, String, i64)> = entries::table
        .inner_join(ledger_accounts::table)
        .filter(entries::journal_id.eq(journal_id))
        .select((
            ledger_accounts::owner_kind,
            ledger_accounts::owner_id,
            ledger_accounts::kind,
            ledger_accounts::currency,
            entries::amount_minor,
        ))
        .load(conn)?;
    let mut stored: Vec<(String, i64, String, String, i64)> = rows;
    let mut wanted: Vec<(String, i64, String, String, i64)> = draft
        .postings
        .iter()
        .map(|p| {
            (
                p.owner.kind().to_owned(),
                p.owner.id(),
                p.kind.as_str().to_owned(),
                currency.to_owned(),
                p.amount_minor,
            )
        })
        .collect();
    stored.sort();
    wanted.sort();
    if stored_currency == currency && stored == wanted {
        return Ok(());
    }
    let kind = draft.kind.as_str();
    tracing::error!(
        journal_id,
        kind,
        ref_kind,
        ref_id,
        "a different posting for an existing journal was refused"
    );
    Err(AppError::Internal(anyhow::anyhow!(
        "journal {journal_id} ({kind} for {ref_kind} {ref_id}) exists with other postings \
         ({stored_currency} {stored:?}); refused {currency} {wanted:?}"
    )))
}

/// Whether a journal of this kind exists for (`ref_kind`, `ref_id`).
pub fn posted(conn: &mut DbConn, kind: &str, ref_kind: &str, ref_id: i64) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        journals::table
            .filter(journals::kind.eq(kind))
            .filter(journals::ref_kind.eq(ref_kind))
            .filter(journals::ref_id.eq(ref_id)),
    ))
    .get_result(conn)
}

/// An owner's balances as people see them, by (account kind, currency): the maintained
/// balances of its accounts (`ledger_balances`, kept by a trigger as entries are written and
/// proved against the entries by `tandem ledger check`).
pub fn balances(
    conn: &mut DbConn,
    owner: Owner,
) -> QueryResult<BTreeMap<(AccountKind, String), i64>> {
    use super::schema::ledger_balances;
    let rows: Vec<(String, String, i64)> = ledger_balances::table
        .inner_join(ledger_accounts::table)
        .filter(ledger_accounts::owner_kind.eq(owner.kind()))
        .filter(ledger_accounts::owner_id.eq(owner.id()))
        .select((
            ledger_accounts::kind,
            ledger_accounts::currency,
            ledger_balances::balance_minor,
        ))
        .load(conn)?;
    let mut out: BTreeMap<(AccountKind, String), i64> = BTreeMap::new();
    for (kind, currency, amount) in rows {
        if let Some(k) = AccountKind::parse(&kind) {
            *out.entry((k, currency)).or_default() += amount;
        }
    }
    Ok(out
        .into_iter()
        .map(|((k, c), sum)| ((k, c), k.shown(sum)))
        .collect())
}

/// Every account with its maintained balance (`ledger_balances`, kept by a trigger on
/// entries): (owner, kind, currency, raw sum of its entries).
pub fn account_balances(conn: &mut DbConn) -> QueryResult<Vec<(Owner, AccountKind, String, i64)>> {
    use super::schema::ledger_balances;
    let rows: Vec<(String, i64, String, String, i64)> = ledger_balances::table
        .inner_join(ledger_accounts::table)
        .select((
            ledger_accounts::owner_kind,
            ledger_accounts::owner_id,
            ledger_accounts::kind,
            ledger_accounts::currency,
            ledger_balances::balance_minor,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(ok, oid, kind, currency, raw)| {
            Some((
                Owner::from_parts(&ok, oid)?,
                AccountKind::parse(&kind)?,
                currency,
                raw,
            ))
        })
        .collect())
}

/// Every account's kept balance (`ledger_balances`): account id → raw sum its trigger kept.
/// `domain::ledger::balance_drift` compares them with the entries.
pub fn kept_balances(conn: &mut DbConn) -> QueryResult<BTreeMap<i64, i64>> {
    use super::schema::ledger_balances;
    Ok(ledger_balances::table
        .select((ledger_balances::account_id, ledger_balances::balance_minor))
        .load::<(i64, i64)>(conn)?
        .into_iter()
        .collect())
}

/// Every entry with its journal and account, for the invariant check.
pub fn all_entries(conn: &mut DbConn) -> QueryResult<Vec<EntryRow>> {
    let rows: Vec<(i64, String, String, String, i64, String, i64)> = entries::table
        .inner_join(journals::table)
        .inner_join(ledger_accounts::table)
        .order(entries::id.asc())
        .select((
            entries::journal_id,
            journals::kind,
            journals::currency,
            ledger_accounts::owner_kind,
            ledger_accounts::owner_id,
            ledger_accounts::kind,
            entries::amount_minor,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(journal_id, jkind, currency, okind, oid, akind, amount)| {
            Some(EntryRow {
                journal_id,
                journal_kind: jkind,
                currency,
                owner: Owner::from_parts(&okind, oid)?,
                kind: AccountKind::parse(&akind)?,
                amount_minor: amount,
            })
        })
        .collect())
}

/// Everything `tandem ledger check` verifies, read in one transaction by the caller: every
/// account, journal and entry, every commission and every refund with its order.
pub fn books(conn: &mut DbConn) -> QueryResult<Books> {
    use super::schema::{commissions, conversions, refunds};
    let accounts = ledger_accounts::table
        .order(ledger_accounts::id.asc())
        .select((
            ledger_accounts::id,
            ledger_accounts::owner_kind,
            ledger_accounts::owner_id,
            ledger_accounts::kind,
            ledger_accounts::currency,
        ))
        .load::<(i64, String, i64, String, String)>(conn)?
        .into_iter()
        .map(|(id, owner_kind, owner_id, kind, currency)| AccountRow {
            id,
            owner_kind,
            owner_id,
            kind,
            currency,
        })
        .collect();
    let journals = journals::table
        .order(journals::id.asc())
        .select((
            journals::id,
            journals::kind,
            journals::ref_kind,
            journals::ref_id,
            journals::currency,
        ))
        .load::<(i64, String, String, i64, String)>(conn)?
        .into_iter()
        .map(|(id, kind, ref_kind, ref_id, currency)| JournalRow {
            id,
            kind,
            ref_kind,
            ref_id,
            currency,
        })
        .collect();
    let entries = entries::table
        .order(entries::id.asc())
        .select((
            entries::journal_id,
            entries::account_id,
            entries::amount_minor,
        ))
        .load::<(i64, i64, i64)>(conn)?
        .into_iter()
        .map(|(journal_id, account_id, amount_minor)| StoredEntry {
            journal_id,
            account_id,
            amount_minor,
        })
        .collect();
    let commissions = commissions::table
        .order(commissions::id.asc())
        .select((
            commissions::id,
            commissions::conversion_id,
            commissions::merchant_id,
            commissions::influencer_id,
            commissions::currency,
            commissions::amount_minor,
            commissions::fee_minor,
            commissions::state,
        ))
        .load::<(i64, i64, i64, i64, String, i64, i64, String)>(conn)?
        .into_iter()
        .map(
            |(id, conversion_id, merchant_id, influencer_id, currency, amount, fee, state)| {
                CommissionFacts {
                    id,
                    conversion_id,
                    merchant_id,
                    influencer_id,
                    currency,
                    amount_minor: amount,
                    fee_minor: fee,
                    state,
                }
            },
        )
        .collect();
    let refunds = refunds::table
        .inner_join(conversions::table)
        .order(refunds::id.asc())
        .select((
            refunds::id,
            refunds::merchant_id,
            refunds::conversion_id,
            conversions::merchant_id,
            conversions::base_minor,
            refunds::amount_minor,
            refunds::commission_minor,
            refunds::fee_minor,
            refunds::effect,
        ))
        .load::<(i64, i64, i64, i64, i64, i64, i64, i64, String)>(conn)?
        .into_iter()
        .map(
            |(
                id,
                merchant_id,
                conversion_id,
                order_merchant_id,
                base,
                amount,
                take,
                fee,
                effect,
            )| {
                RefundFacts {
                    id,
                    merchant_id,
                    conversion_id,
                    order_merchant_id,
                    order_base_minor: base,
                    amount_minor: amount,
                    commission_minor: take,
                    fee_minor: fee,
                    effect,
                }
            },
        )
        .collect();
    let payout_items = super::payouts::all_items(conn)?
        .into_iter()
        .map(|i| PayoutItemFacts {
            id: i.id,
            payout_id: i.payout_id,
            commission_id: i.commission_id,
            refund_id: i.refund_id,
            amount_minor: i.amount_minor,
            active: i.active,
        })
        .collect();
    let runs: std::collections::HashMap<i64, (String, String)> = {
        use super::schema::payout_runs;
        payout_runs::table
            .select((payout_runs::id, payout_runs::state, payout_runs::currency))
            .load::<(i64, String, String)>(conn)?
            .into_iter()
            .map(|(id, state, currency)| (id, (state, currency)))
            .collect()
    };
    let payouts = super::payouts::all_payouts(conn)?
        .into_iter()
        .map(|p| {
            let (run_state, run_currency) = runs.get(&p.run_id).cloned().unwrap_or_default();
            PayoutFacts {
                id: p.id,
                run_id: p.run_id,
                influencer_id: p.influencer_id,
                currency: p.currency,
                amount_minor: p.amount_minor,
                state: p.state,
                run_state,
                run_currency,
            }
        })
        .collect();
    Ok(Books {
        accounts,
        journals,
        entries,
        commissions,
        refunds,
        payouts,
        payout_items,
    })
}
