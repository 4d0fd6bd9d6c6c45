//! Billing's tables: invoices and their lines (immutable once issued: triggers refuse UPDATE
//! and DELETE), the gapless number series, payments received and their reversals, what each
//! payment or credit note paid of which invoice, reminders, statement imports, payment terms
//! and the platform's billing settings.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use super::DbConn;
use super::schema::{
    billing_settings, campaigns, influencers, invoice_allocations, invoice_lines,
    invoice_reminders, invoice_series, invoices, journals, ledger_accounts, merchant_billing,
    merchant_members, merchant_payments, merchants, payment_reversals, statement_imports,
    statement_rows, users,
};

/// Journal kinds whose receivable entries an invoice bills (the period's commissions and
/// what refunds and rejections credited). Payments, their reversals, an invoice's tax and
/// credit notes move the receivable as documents of their own.
pub const BILLED_KINDS: [&str; 4] = ["accrual", "reversal", "clawback", "reject"];

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = invoices)]
pub struct Invoice {
    pub id: i64,
    pub number: String,
    pub prefix: String,
    pub year: i32,
    pub seq: i64,
    pub kind: String,
    pub source: String,
    pub merchant_id: i64,
    pub currency: String,
    pub period_label: String,
    pub period_start: NaiveDateTime,
    pub period_end: NaiveDateTime,
    pub time_zone: String,
    pub issued_at: NaiveDateTime,
    pub due_on: String,
    pub terms_days: i32,
    pub subtotal_minor: i64,
    pub tax_rate_bps: i32,
    pub tax_label: String,
    pub tax_minor: i64,
    pub total_minor: i64,
    pub corrects_id: Option<i64>,
    pub reason: String,
    pub bill_to: String,
    pub payee: String,
    pub payment_instructions: String,
    pub issued_by: Option<i64>,
}

impl Invoice {
    pub fn is_credit_note(&self) -> bool {
        self.kind == "credit_note"
    }

    pub fn due_date(&self) -> chrono::NaiveDate {
        chrono::NaiveDate::parse_from_str(&self.due_on, "%Y-%m-%d").unwrap_or_default()
    }

    pub fn zone(&self) -> chrono_tz::Tz {
        self.time_zone.parse().unwrap_or(chrono_tz::Tz::UTC)
    }
}

#[derive(Debug, Insertable)]
#[diesel(table_name = invoices)]
pub struct NewInvoice {
    pub number: String,
    pub prefix: String,
    pub year: i32,
    pub seq: i64,
    pub kind: String,
    pub source: String,
    pub merchant_id: i64,
    pub currency: String,
    pub period_label: String,
    pub period_start: NaiveDateTime,
    pub period_end: NaiveDateTime,
    pub time_zone: String,
    pub issued_at: NaiveDateTime,
    pub due_on: String,
    pub terms_days: i32,
    pub subtotal_minor: i64,
    pub tax_rate_bps: i32,
    pub tax_label: String,
    pub tax_minor: i64,
    pub total_minor: i64,
    pub corrects_id: Option<i64>,
    pub reason: String,
    pub bill_to: String,
    pub payee: String,
    pub payment_instructions: String,
    pub issued_by: Option<i64>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = invoice_lines)]
pub struct InvoiceLine {
    pub id: i64,
    pub invoice_id: i64,
    pub line_no: i32,
    pub kind: String,
    pub campaign_id: Option<i64>,
    pub influencer_id: Option<i64>,
    pub description: String,
    pub count: i64,
    pub amount_minor: i64,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = invoice_lines)]
pub struct NewInvoiceLine {
    pub invoice_id: i64,
    pub line_no: i32,
    pub kind: String,
    pub campaign_id: Option<i64>,
    pub influencer_id: Option<i64>,
    pub description: String,
    pub count: i64,
    pub amount_minor: i64,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = merchant_payments)]
pub struct Payment {
    pub id: i64,
    pub merchant_id: i64,
    pub currency: String,
    pub amount_minor: i64,
    pub value_date: String,
    pub bank_reference: String,
    pub payer: String,
    pub invoice_id: Option<i64>,
    pub statement_row_id: Option<i64>,
    pub recorded_by: Option<i64>,
    pub recorded_at: NaiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = merchant_payments)]
pub struct NewPayment<'a> {
    pub merchant_id: i64,
    pub currency: &'a str,
    pub amount_minor: i64,
    pub value_date: &'a str,
    pub bank_reference: &'a str,
    pub payer: &'a str,
    pub invoice_id: Option<i64>,
    pub statement_row_id: Option<i64>,
    pub recorded_by: Option<i64>,
    pub recorded_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = payment_reversals)]
pub struct Reversal {
    pub id: i64,
    pub payment_id: i64,
    pub reason: String,
    pub reversed_by: Option<i64>,
    pub reversed_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = invoice_allocations)]
pub struct Allocation {
    pub id: i64,
    pub invoice_id: i64,
    pub payment_id: Option<i64>,
    pub credit_note_id: Option<i64>,
    pub amount_minor: i64,
    pub created_at: NaiveDateTime,
}

/// The platform's billing settings (admin): who is paid and how, and the tax on the fee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub payee: String,
    pub payment_instructions: String,
    pub tax_rate_bps: i32,
    pub tax_label: String,
    pub updated_at: Option<NaiveDateTime>,
}

pub fn settings(conn: &mut DbConn) -> QueryResult<Settings> {
    let row = billing_settings::table
        .find(1i64)
        .select((
            billing_settings::payee,
            billing_settings::payment_instructions,
            billing_settings::tax_rate_bps,
            billing_settings::tax_label,
            billing_settings::updated_at,
        ))
        .first::<(String, String, i32, String, NaiveDateTime)>(conn)
        .optional()?;
    Ok(match row {
        Some((payee, payment_instructions, tax_rate_bps, tax_label, at)) => Settings {
            payee,
            payment_instructions,
            tax_rate_bps,
            tax_label,
            updated_at: Some(at),
        },
        None => Settings {
            payee: String::new(),
            payment_instructions: String::new(),
            tax_rate_bps: 0,
            tax_label: "VAT".to_owned(),
            updated_at: None,
        },
    })
}

pub fn save_settings(
    conn: &mut DbConn,
    s: &Settings,
    by: i64,
    now: NaiveDateTime,
) -> QueryResult<()> {
    let changed = diesel::update(billing_settings::table.find(1i64))
        .set((
            billing_settings::payee.eq(&s.payee),
            billing_settings::payment_instructions.eq(&s.payment_instructions),
            billing_settings::tax_rate_bps.eq(s.tax_rate_bps),
            billing_settings::tax_label.eq(&s.tax_label),
            billing_settings::updated_by.eq(Some(by)),
            billing_settings::updated_at.eq(now),
        ))
        .execute(conn)?;
    if changed == 0 {
        diesel::insert_into(billing_settings::table)
            .values((
                billing_settings::id.eq(1i64),
                billing_settings::payee.eq(&s.payee),
                billing_settings::payment_instructions.eq(&s.payment_instructions),
                billing_settings::tax_rate_bps.eq(s.tax_rate_bps),
                billing_settings::tax_label.eq(&s.tax_label),
                billing_settings::updated_by.eq(Some(by)),
                billing_settings::updated_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// The merchant's payment terms in days (net 14 unless finance set others).
pub fn terms_days(conn: &mut DbConn, merchant_id: i64) -> QueryResult<i32> {
    Ok(merchant_billing::table
        .find(merchant_id)
        .select(merchant_billing::terms_days)
        .first::<i32>(conn)
        .optional()?
        .unwrap_or(crate::domain::billing::DEFAULT_TERMS_DAYS))
}

/// Every merchant's terms that finance set: merchant id → days.
pub fn all_terms(conn: &mut DbConn) -> QueryResult<HashMap<i64, i32>> {
    Ok(merchant_billing::table
        .select((merchant_billing::merchant_id, merchant_billing::terms_days))
        .load::<(i64, i32)>(conn)?
        .into_iter()
        .collect())
}

pub fn set_terms(
    conn: &mut DbConn,
    merchant_id: i64,
    days: i32,
    by: i64,
    now: NaiveDateTime,
) -> QueryResult<()> {
    let changed = diesel::update(merchant_billing::table.find(merchant_id))
        .set((
            merchant_billing::terms_days.eq(days),
            merchant_billing::updated_by.eq(Some(by)),
            merchant_billing::updated_at.eq(now),
        ))
        .execute(conn)?;
    if changed == 0 {
        diesel::insert_into(merchant_billing::table)
            .values((
                merchant_billing::merchant_id.eq(merchant_id),
                merchant_billing::terms_days.eq(days),
                merchant_billing::updated_by.eq(Some(by)),
                merchant_billing::updated_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Each merchant's time zone: its owner's (the first member's when it has no owner).
pub fn merchant_zones(conn: &mut DbConn) -> QueryResult<HashMap<i64, String>> {
    let rows: Vec<(i64, String, String)> = merchant_members::table
        .inner_join(users::table)
        .order((merchant_members::merchant_id, merchant_members::id))
        .select((
            merchant_members::merchant_id,
            merchant_members::member_role,
            users::time_zone,
        ))
        .load(conn)?;
    let mut out: HashMap<i64, String> = HashMap::new();
    for (merchant, role, zone) in rows {
        if role == "owner" {
            out.insert(merchant, zone);
        } else {
            out.entry(merchant).or_insert(zone);
        }
    }
    Ok(out)
}

pub fn merchant_zone(conn: &mut DbConn, merchant_id: i64) -> QueryResult<String> {
    let rows: Vec<(String, String)> = merchant_members::table
        .inner_join(users::table)
        .filter(merchant_members::merchant_id.eq(merchant_id))
        .order(merchant_members::id)
        .select((merchant_members::member_role, users::time_zone))
        .load(conn)?;
    Ok(rows
        .iter()
        .find(|(r, _)| r == "owner")
        .or(rows.first())
        .map(|(_, z)| z.clone())
        .unwrap_or_else(|| "UTC".to_owned()))
}

pub fn merchant_names(conn: &mut DbConn) -> QueryResult<HashMap<i64, String>> {
    Ok(merchants::table
        .select((merchants::id, merchants::name))
        .load::<(i64, String)>(conn)?
        .into_iter()
        .collect())
}

/// The next number of a series and year, in the caller's transaction: the series row steps
/// by one (a trigger refuses anything else), so numbers have no gaps when the transaction
/// that took one commits, and none is used when it rolls back.
pub fn next_seq(conn: &mut DbConn, prefix: &str, year: i32) -> QueryResult<i64> {
    let stepped = diesel::update(
        invoice_series::table
            .filter(invoice_series::prefix.eq(prefix))
            .filter(invoice_series::year.eq(year)),
    )
    .set(invoice_series::last_seq.eq(invoice_series::last_seq + 1))
    .execute(conn)?;
    if stepped == 0 {
        diesel::insert_into(invoice_series::table)
            .values((
                invoice_series::prefix.eq(prefix),
                invoice_series::year.eq(year),
                invoice_series::last_seq.eq(1i64),
            ))
            .execute(conn)?;
    }
    invoice_series::table
        .filter(invoice_series::prefix.eq(prefix))
        .filter(invoice_series::year.eq(year))
        .select(invoice_series::last_seq)
        .first(conn)
}

pub fn insert_invoice(
    conn: &mut DbConn,
    new: &NewInvoice,
    lines: &[crate::domain::billing::Line],
) -> QueryResult<i64> {
    diesel::insert_into(invoices::table)
        .values(new)
        .execute(conn)?;
    let id: i64 = invoices::table
        .filter(invoices::number.eq(&new.number))
        .select(invoices::id)
        .first(conn)?;
    for (i, l) in lines.iter().enumerate() {
        diesel::insert_into(invoice_lines::table)
            .values(&NewInvoiceLine {
                invoice_id: id,
                line_no: i32::try_from(i + 1).unwrap_or(i32::MAX),
                kind: l.kind.as_str().to_owned(),
                campaign_id: l.campaign_id,
                influencer_id: l.influencer_id,
                description: l.description.clone(),
                count: l.count,
                amount_minor: l.amount_minor,
            })
            .execute(conn)?;
    }
    Ok(id)
}

pub fn invoice(conn: &mut DbConn, id: i64) -> QueryResult<Option<Invoice>> {
    invoices::table
        .find(id)
        .select(Invoice::as_select())
        .first(conn)
        .optional()
}

pub fn invoice_by_number(conn: &mut DbConn, number: &str) -> QueryResult<Option<Invoice>> {
    invoices::table
        .filter(invoices::number.eq(number))
        .select(Invoice::as_select())
        .first(conn)
        .optional()
}

pub fn lines_of(conn: &mut DbConn, invoice_id: i64) -> QueryResult<Vec<InvoiceLine>> {
    invoice_lines::table
        .filter(invoice_lines::invoice_id.eq(invoice_id))
        .order(invoice_lines::line_no)
        .select(InvoiceLine::as_select())
        .load(conn)
}

pub fn all_lines(conn: &mut DbConn) -> QueryResult<Vec<InvoiceLine>> {
    invoice_lines::table
        .order(invoice_lines::id)
        .select(InvoiceLine::as_select())
        .load(conn)
}

/// A merchant's documents, oldest first.
pub fn invoices_of(conn: &mut DbConn, merchant_id: i64) -> QueryResult<Vec<Invoice>> {
    invoices::table
        .filter(invoices::merchant_id.eq(merchant_id))
        .order((invoices::issued_at, invoices::id))
        .select(Invoice::as_select())
        .load(conn)
}

pub fn all_invoices(conn: &mut DbConn) -> QueryResult<Vec<Invoice>> {
    invoices::table
        .order((invoices::issued_at, invoices::id))
        .select(Invoice::as_select())
        .load(conn)
}

/// Where the last period document of each (merchant, currency) ends.
pub fn period_ends(conn: &mut DbConn) -> QueryResult<HashMap<(i64, String), NaiveDateTime>> {
    let rows: Vec<(i64, String, NaiveDateTime)> = invoices::table
        .filter(invoices::source.eq("period"))
        .select((
            invoices::merchant_id,
            invoices::currency,
            invoices::period_end,
        ))
        .load(conn)?;
    let mut out: HashMap<(i64, String), NaiveDateTime> = HashMap::new();
    for (m, c, end) in rows {
        let e = out.entry((m, c)).or_insert(end);
        if end > *e {
            *e = end;
        }
    }
    Ok(out)
}

/// Every merchant receivable account: (merchant, currency, account id).
pub fn receivable_accounts(conn: &mut DbConn) -> QueryResult<Vec<(i64, String, i64)>> {
    ledger_accounts::table
        .filter(ledger_accounts::owner_kind.eq("merchant"))
        .filter(ledger_accounts::kind.eq("receivable"))
        .order(ledger_accounts::id)
        .select((
            ledger_accounts::owner_id,
            ledger_accounts::currency,
            ledger_accounts::id,
        ))
        .load(conn)
}

pub fn platform_account(conn: &mut DbConn, kind: &str, currency: &str) -> QueryResult<Option<i64>> {
    ledger_accounts::table
        .filter(ledger_accounts::owner_kind.eq("platform"))
        .filter(ledger_accounts::kind.eq(kind))
        .filter(ledger_accounts::currency.eq(currency))
        .select(ledger_accounts::id)
        .first(conn)
        .optional()
}

/// When the first billed journal on the account at or after `since` was posted.
pub fn first_billed_at(
    conn: &mut DbConn,
    account_id: i64,
    since: Option<NaiveDateTime>,
) -> QueryResult<Option<NaiveDateTime>> {
    use super::schema::entries;
    let mut q = entries::table
        .inner_join(journals::table)
        .filter(entries::account_id.eq(account_id))
        .filter(journals::kind.eq_any(BILLED_KINDS))
        .select(journals::created_at)
        .order(journals::created_at.asc())
        .into_boxed();
    if let Some(since) = since {
        q = q.filter(journals::created_at.ge(since));
    }
    q.first(conn).optional()
}

/// A filter on journals' kind or reference written so that no index serves it: `window_groups`
/// must read the accounts' entries (`entries_account`) and look their journals up, never walk
/// every journal of a kind (`UNIQUE (kind, ref_kind, ref_id)`) ever posted. Without
/// statistics (Tandem runs no `ANALYZE`) SQLite took that walk once the account list had ten
/// ids or more: each chunk of 500 accounts read all the accrual journals, and 10,000
/// merchants' invoicing spent most of its time there (benches/billing.rs). `col || ''` is
/// the same text on both backends but no longer a bare column.
fn not_indexed(condition: &str) -> diesel::expression::SqlLiteral<diesel::sql_types::Bool> {
    let (col, rest) = condition.split_once(' ').unwrap_or((condition, ""));
    sql::<diesel::sql_types::Bool>(&format!("{col} || '' {rest}"))
}

/// One group of a window's billed journals (see `domain::billing::Group`), before names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRow {
    pub kind: String,
    pub campaign_id: i64,
    pub influencer_id: i64,
    pub count: i64,
    pub receivable_minor: i64,
    pub fee_minor: i64,
}

/// The billed journals on the receivable accounts posted in `[start, end)`, grouped by
/// account, kind, campaign and creator: how many, the receivable they moved, and its fee
/// part (from the journal's own fee revenue entry, signed as the receivable moves).
pub fn window_groups(
    conn: &mut DbConn,
    accounts: &[i64],
    fee_account: Option<i64>,
    start: NaiveDateTime,
    end: NaiveDateTime,
) -> QueryResult<Vec<(i64, GroupRow)>> {
    use super::schema::{commissions, entries, refunds};
    let fee = fee_account.unwrap_or(-1);
    let fee_sql = format!(
        "CAST(COALESCE(SUM((SELECT -f.amount_minor FROM entries f \
         WHERE f.journal_id = journals.id AND f.account_id = {fee})), 0) AS BIGINT)"
    );
    let mut out = Vec::new();
    for chunk in accounts.chunks(500) {
        let by_commission: Vec<(i64, String, i64, i64, i64, i64, i64)> = entries::table
            .inner_join(journals::table)
            .inner_join(commissions::table.on(commissions::id.eq(journals::ref_id)))
            .filter(entries::account_id.eq_any(chunk))
            .filter(not_indexed("journals.ref_kind = 'commission'"))
            .filter(not_indexed("journals.kind IN ('accrual', 'reject')"))
            .filter(journals::created_at.ge(start))
            .filter(journals::created_at.lt(end))
            .group_by((
                entries::account_id,
                journals::kind,
                commissions::campaign_id,
                commissions::influencer_id,
            ))
            .select((
                entries::account_id,
                journals::kind,
                commissions::campaign_id,
                commissions::influencer_id,
                sql::<BigInt>("CAST(COUNT(*) AS BIGINT)"),
                sql::<BigInt>("CAST(COALESCE(SUM(entries.amount_minor), 0) AS BIGINT)"),
                sql::<BigInt>(&fee_sql),
            ))
            .load(conn)?;
        let by_refund: Vec<(i64, String, i64, i64, i64, i64, i64)> = entries::table
            .inner_join(journals::table)
            .inner_join(refunds::table.on(refunds::id.eq(journals::ref_id)))
            .inner_join(
                commissions::table.on(commissions::conversion_id.eq(refunds::conversion_id)),
            )
            .filter(entries::account_id.eq_any(chunk))
            .filter(not_indexed("journals.ref_kind = 'refund'"))
            .filter(not_indexed("journals.kind IN ('reversal', 'clawback')"))
            .filter(journals::created_at.ge(start))
            .filter(journals::created_at.lt(end))
            .group_by((
                entries::account_id,
                commissions::campaign_id,
                commissions::influencer_id,
            ))
            .select((
                entries::account_id,
                sql::<Text>("'refund'"),
                commissions::campaign_id,
                commissions::influencer_id,
                sql::<BigInt>("CAST(COUNT(*) AS BIGINT)"),
                sql::<BigInt>("CAST(COALESCE(SUM(entries.amount_minor), 0) AS BIGINT)"),
                sql::<BigInt>(&fee_sql),
            ))
            .load(conn)?;
        out.extend(by_commission.into_iter().chain(by_refund).map(
            |(account, kind, campaign_id, influencer_id, count, receivable_minor, fee_minor)| {
                (
                    account,
                    GroupRow {
                        kind,
                        campaign_id,
                        influencer_id,
                        count,
                        receivable_minor,
                        fee_minor,
                    },
                )
            },
        ));
    }
    Ok(out)
}

/// Whether the period starting at `start` is invoiced for the merchant and currency.
pub fn period_invoiced(
    conn: &mut DbConn,
    merchant_id: i64,
    currency: &str,
    start: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        invoices::table
            .filter(invoices::merchant_id.eq(merchant_id))
            .filter(invoices::currency.eq(currency))
            .filter(invoices::source.eq("period"))
            .filter(invoices::period_start.eq(start)),
    ))
    .get_result(conn)
}

/// The last number given in a series and year (0 when none).
pub fn last_seq(conn: &mut DbConn, prefix: &str, year: i32) -> QueryResult<i64> {
    Ok(invoice_series::table
        .filter(invoice_series::prefix.eq(prefix))
        .filter(invoice_series::year.eq(year))
        .select(invoice_series::last_seq)
        .first::<i64>(conn)
        .optional()?
        .unwrap_or(0))
}

/// The credit notes that correct an invoice.
pub fn corrections_of(conn: &mut DbConn, invoice_id: i64) -> QueryResult<Vec<Invoice>> {
    invoices::table
        .filter(invoices::corrects_id.eq(invoice_id))
        .order(invoices::id)
        .select(Invoice::as_select())
        .load(conn)
}

/// The sum of the receivable entries of billed journals on the account posted in
/// `[start, end)` (what an invoice for that window must total before tax).
pub fn window_receivable(
    conn: &mut DbConn,
    account_id: i64,
    start: NaiveDateTime,
    end: NaiveDateTime,
) -> QueryResult<i64> {
    use super::schema::entries;
    entries::table
        .inner_join(journals::table)
        .filter(entries::account_id.eq(account_id))
        .filter(journals::kind.eq_any(BILLED_KINDS))
        .filter(journals::created_at.ge(start))
        .filter(journals::created_at.lt(end))
        .select(sql::<BigInt>(
            "CAST(COALESCE(SUM(entries.amount_minor), 0) AS BIGINT)",
        ))
        .first(conn)
}

/// The receivable entries of billed journals on every merchant account, by journal time:
/// (account id, created at, amount), for the ledger check.
pub fn billed_entries(conn: &mut DbConn) -> QueryResult<Vec<(i64, NaiveDateTime, i64)>> {
    use super::schema::entries;
    entries::table
        .inner_join(journals::table)
        .inner_join(ledger_accounts::table)
        .filter(ledger_accounts::owner_kind.eq("merchant"))
        .filter(ledger_accounts::kind.eq("receivable"))
        .filter(journals::kind.eq_any(BILLED_KINDS))
        .select((
            entries::account_id,
            journals::created_at,
            entries::amount_minor,
        ))
        .load(conn)
}

pub fn campaign_names(conn: &mut DbConn, ids: &[i64]) -> QueryResult<HashMap<i64, String>> {
    let mut out = HashMap::new();
    for chunk in ids.chunks(500) {
        out.extend(
            campaigns::table
                .filter(campaigns::id.eq_any(chunk))
                .select((campaigns::id, campaigns::name))
                .load::<(i64, String)>(conn)?,
        );
    }
    Ok(out)
}

pub fn influencer_names(conn: &mut DbConn, ids: &[i64]) -> QueryResult<HashMap<i64, String>> {
    let mut out = HashMap::new();
    for chunk in ids.chunks(500) {
        out.extend(
            influencers::table
                .filter(influencers::id.eq_any(chunk))
                .select((influencers::id, influencers::display_name))
                .load::<(i64, String)>(conn)?,
        );
    }
    Ok(out)
}

pub fn insert_payment(conn: &mut DbConn, new: &NewPayment<'_>) -> QueryResult<i64> {
    diesel::insert_into(merchant_payments::table)
        .values(new)
        .execute(conn)?;
    merchant_payments::table
        .filter(merchant_payments::merchant_id.eq(new.merchant_id))
        .filter(merchant_payments::bank_reference.eq(new.bank_reference))
        .select(merchant_payments::id)
        .first(conn)
}

pub fn payment(conn: &mut DbConn, id: i64) -> QueryResult<Option<Payment>> {
    merchant_payments::table
        .find(id)
        .select(Payment::as_select())
        .first(conn)
        .optional()
}

pub fn payment_by_reference(
    conn: &mut DbConn,
    merchant_id: i64,
    reference: &str,
) -> QueryResult<Option<Payment>> {
    merchant_payments::table
        .filter(merchant_payments::merchant_id.eq(merchant_id))
        .filter(merchant_payments::bank_reference.eq(reference))
        .select(Payment::as_select())
        .first(conn)
        .optional()
}

/// Payments, newest first; of one merchant when given.
pub fn payments(conn: &mut DbConn, merchant_id: Option<i64>) -> QueryResult<Vec<Payment>> {
    let mut q = merchant_payments::table
        .order((
            merchant_payments::recorded_at.desc(),
            merchant_payments::id.desc(),
        ))
        .select(Payment::as_select())
        .into_boxed();
    if let Some(m) = merchant_id {
        q = q.filter(merchant_payments::merchant_id.eq(m));
    }
    q.load(conn)
}

pub fn insert_reversal(
    conn: &mut DbConn,
    payment_id: i64,
    reason: &str,
    by: Option<i64>,
    now: NaiveDateTime,
) -> QueryResult<i64> {
    diesel::insert_into(payment_reversals::table)
        .values((
            payment_reversals::payment_id.eq(payment_id),
            payment_reversals::reason.eq(reason),
            payment_reversals::reversed_by.eq(by),
            payment_reversals::reversed_at.eq(now),
        ))
        .execute(conn)?;
    payment_reversals::table
        .filter(payment_reversals::payment_id.eq(payment_id))
        .select(payment_reversals::id)
        .first(conn)
}

/// Every reversal: payment id → reversal.
pub fn reversals(conn: &mut DbConn) -> QueryResult<HashMap<i64, Reversal>> {
    Ok(payment_reversals::table
        .select(Reversal::as_select())
        .load::<Reversal>(conn)?
        .into_iter()
        .map(|r| (r.payment_id, r))
        .collect())
}

pub fn insert_allocation(
    conn: &mut DbConn,
    invoice_id: i64,
    payment_id: Option<i64>,
    credit_note_id: Option<i64>,
    amount_minor: i64,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::insert_into(invoice_allocations::table)
        .values((
            invoice_allocations::invoice_id.eq(invoice_id),
            invoice_allocations::payment_id.eq(payment_id),
            invoice_allocations::credit_note_id.eq(credit_note_id),
            invoice_allocations::amount_minor.eq(amount_minor),
            invoice_allocations::created_at.eq(now),
        ))
        .execute(conn)
}

pub fn all_allocations(conn: &mut DbConn) -> QueryResult<Vec<Allocation>> {
    invoice_allocations::table
        .order(invoice_allocations::id)
        .select(Allocation::as_select())
        .load(conn)
}

/// The applications to or from a merchant's documents and payments.
pub fn allocations_of(conn: &mut DbConn, merchant_id: i64) -> QueryResult<Vec<Allocation>> {
    invoice_allocations::table
        .inner_join(invoices::table.on(invoices::id.eq(invoice_allocations::invoice_id)))
        .filter(invoices::merchant_id.eq(merchant_id))
        .order(invoice_allocations::id)
        .select(Allocation::as_select())
        .load(conn)
}

/// Records that a reminder was sent; false when it had been already.
pub fn mark_reminder(
    conn: &mut DbConn,
    invoice_id: i64,
    kind: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let exists: bool = diesel::select(diesel::dsl::exists(
        invoice_reminders::table
            .filter(invoice_reminders::invoice_id.eq(invoice_id))
            .filter(invoice_reminders::kind.eq(kind)),
    ))
    .get_result(conn)?;
    if exists {
        return Ok(false);
    }
    match diesel::insert_into(invoice_reminders::table)
        .values((
            invoice_reminders::invoice_id.eq(invoice_id),
            invoice_reminders::kind.eq(kind),
            invoice_reminders::sent_at.eq(now),
        ))
        .execute(conn)
    {
        Ok(_) => Ok(true),
        Err(e) if super::is_unique_violation(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Reminders sent: invoice id → [(kind, when)].
pub fn reminders(conn: &mut DbConn) -> QueryResult<HashMap<i64, Vec<(String, NaiveDateTime)>>> {
    let rows: Vec<(i64, String, NaiveDateTime)> = invoice_reminders::table
        .order(invoice_reminders::id)
        .select((
            invoice_reminders::invoice_id,
            invoice_reminders::kind,
            invoice_reminders::sent_at,
        ))
        .load(conn)?;
    let mut out: HashMap<i64, Vec<(String, NaiveDateTime)>> = HashMap::new();
    for (id, kind, at) in rows {
        out.entry(id).or_default().push((kind, at));
    }
    Ok(out)
}

// Bank statement imports.

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = statement_imports)]
pub struct StatementImport {
    pub id: i64,
    pub file_sha256: String,
    pub filename: String,
    pub uploaded_by: Option<i64>,
    pub uploaded_at: NaiveDateTime,
    pub applied_by: Option<i64>,
    pub applied_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = statement_rows)]
pub struct StatementRow {
    pub id: i64,
    pub import_id: i64,
    pub row_no: i32,
    pub value_date: String,
    pub amount_text: String,
    pub amount_minor: Option<i64>,
    pub currency: String,
    pub reference: String,
    pub payer: String,
    pub problem: Option<String>,
    pub matched_invoice_id: Option<i64>,
    pub outcome: Option<String>,
    pub payment_id: Option<i64>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = statement_rows)]
pub struct NewStatementRow<'a> {
    pub import_id: i64,
    pub row_no: i32,
    pub value_date: &'a str,
    pub amount_text: &'a str,
    pub amount_minor: Option<i64>,
    pub currency: &'a str,
    pub reference: &'a str,
    pub payer: &'a str,
    pub problem: Option<&'a str>,
    pub matched_invoice_id: Option<i64>,
}

pub fn import_by_hash(conn: &mut DbConn, sha: &str) -> QueryResult<Option<StatementImport>> {
    statement_imports::table
        .filter(statement_imports::file_sha256.eq(sha))
        .select(StatementImport::as_select())
        .first(conn)
        .optional()
}

pub fn statement_import(conn: &mut DbConn, id: i64) -> QueryResult<Option<StatementImport>> {
    statement_imports::table
        .find(id)
        .select(StatementImport::as_select())
        .first(conn)
        .optional()
}

pub fn imports(conn: &mut DbConn) -> QueryResult<Vec<StatementImport>> {
    statement_imports::table
        .order(statement_imports::id.desc())
        .limit(50)
        .select(StatementImport::as_select())
        .load(conn)
}

pub fn insert_import(
    conn: &mut DbConn,
    sha: &str,
    filename: &str,
    by: i64,
    now: NaiveDateTime,
) -> QueryResult<i64> {
    diesel::insert_into(statement_imports::table)
        .values((
            statement_imports::file_sha256.eq(sha),
            statement_imports::filename.eq(filename),
            statement_imports::uploaded_by.eq(Some(by)),
            statement_imports::uploaded_at.eq(now),
        ))
        .execute(conn)?;
    statement_imports::table
        .filter(statement_imports::file_sha256.eq(sha))
        .select(statement_imports::id)
        .first(conn)
}

pub fn insert_statement_row(conn: &mut DbConn, row: &NewStatementRow<'_>) -> QueryResult<usize> {
    diesel::insert_into(statement_rows::table)
        .values(row)
        .execute(conn)
}

pub fn statement_rows_of(conn: &mut DbConn, import_id: i64) -> QueryResult<Vec<StatementRow>> {
    statement_rows::table
        .filter(statement_rows::import_id.eq(import_id))
        .order(statement_rows::row_no)
        .select(StatementRow::as_select())
        .load(conn)
}

pub fn set_row_outcome(
    conn: &mut DbConn,
    row_id: i64,
    outcome: &str,
    payment_id: Option<i64>,
) -> QueryResult<usize> {
    diesel::update(
        statement_rows::table
            .find(row_id)
            .filter(statement_rows::outcome.is_null()),
    )
    .set((
        statement_rows::outcome.eq(Some(outcome)),
        statement_rows::payment_id.eq(payment_id),
    ))
    .execute(conn)
}

/// Marks the import applied; false when it was already (a second confirmation).
pub fn mark_applied(
    conn: &mut DbConn,
    import_id: i64,
    by: i64,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    Ok(diesel::update(
        statement_imports::table
            .find(import_id)
            .filter(statement_imports::applied_at.is_null()),
    )
    .set((
        statement_imports::applied_by.eq(Some(by)),
        statement_imports::applied_at.eq(Some(now)),
    ))
    .execute(conn)?
        == 1)
}

/// When each commission's accrual was posted: commission id → time.
pub fn accrued_at(conn: &mut DbConn, ids: &[i64]) -> QueryResult<HashMap<i64, NaiveDateTime>> {
    let mut out = HashMap::new();
    for chunk in ids.chunks(500) {
        out.extend(
            journals::table
                .filter(journals::kind.eq("accrual"))
                .filter(journals::ref_kind.eq("commission"))
                .filter(journals::ref_id.eq_any(chunk))
                .select((journals::ref_id, journals::created_at))
                .load::<(i64, NaiveDateTime)>(conn)?,
        );
    }
    Ok(out)
}

/// What `domain::billing::audit` reads besides the ledger's books.
pub fn facts(conn: &mut DbConn) -> QueryResult<crate::domain::billing::BillingFacts> {
    use crate::domain::billing::{AllocationFacts, BillingFacts, DocFacts, PaymentFacts};
    let reversed = reversals(conn)?;
    Ok(BillingFacts {
        docs: all_invoices(conn)?
            .into_iter()
            .map(|i| DocFacts {
                id: i.id,
                number: i.number,
                prefix: i.prefix,
                year: i.year,
                seq: i.seq,
                kind: i.kind,
                source: i.source,
                merchant_id: i.merchant_id,
                currency: i.currency,
                period_start: i.period_start,
                period_end: i.period_end,
                subtotal_minor: i.subtotal_minor,
                tax_minor: i.tax_minor,
                total_minor: i.total_minor,
                corrects_id: i.corrects_id,
            })
            .collect(),
        lines: invoice_lines::table
            .select((invoice_lines::invoice_id, invoice_lines::amount_minor))
            .load(conn)?,
        billed: billed_entries(conn)?,
        payments: payments(conn, None)?
            .into_iter()
            .map(|p| PaymentFacts {
                reversed: reversed.contains_key(&p.id),
                id: p.id,
                merchant_id: p.merchant_id,
                currency: p.currency,
                amount_minor: p.amount_minor,
            })
            .collect(),
        allocations: all_allocations(conn)?
            .into_iter()
            .map(|a| AllocationFacts {
                invoice_id: a.invoice_id,
                payment_id: a.payment_id,
                credit_note_id: a.credit_note_id,
                amount_minor: a.amount_minor,
            })
            .collect(),
    })
}

/// Each commission's merchant: commission id → merchant id.
pub fn commission_merchants(conn: &mut DbConn, ids: &[i64]) -> QueryResult<HashMap<i64, i64>> {
    use super::schema::commissions;
    let mut out = HashMap::new();
    for chunk in ids.chunks(500) {
        out.extend(
            commissions::table
                .filter(commissions::id.eq_any(chunk))
                .select((commissions::id, commissions::merchant_id))
                .load::<(i64, i64)>(conn)?,
        );
    }
    Ok(out)
}

/// When the first billed journal on each merchant receivable account was posted, in one
/// grouped read (for accounts never invoiced).
pub fn first_billed_all(conn: &mut DbConn) -> QueryResult<HashMap<i64, NaiveDateTime>> {
    use super::schema::entries;
    let rows: Vec<(i64, Option<NaiveDateTime>)> = entries::table
        .inner_join(journals::table)
        .inner_join(ledger_accounts::table)
        .filter(ledger_accounts::owner_kind.eq("merchant"))
        .filter(ledger_accounts::kind.eq("receivable"))
        .filter(journals::kind.eq_any(BILLED_KINDS))
        .group_by(entries::account_id)
        .select((entries::account_id, diesel::dsl::min(journals::created_at)))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(a, t)| t.map(|t| (a, t)))
        .collect())
}

/// Whether the merchant has anything that can pay an invoice in the currency: a payment
/// received or a credit note.
pub fn has_credit_sources(
    conn: &mut DbConn,
    merchant_id: i64,
    currency: &str,
) -> QueryResult<bool> {
    let payment: bool = diesel::select(diesel::dsl::exists(
        merchant_payments::table
            .filter(merchant_payments::merchant_id.eq(merchant_id))
            .filter(merchant_payments::currency.eq(currency)),
    ))
    .get_result(conn)?;
    if payment {
        return Ok(true);
    }
    diesel::select(diesel::dsl::exists(
        invoices::table
            .filter(invoices::merchant_id.eq(merchant_id))
            .filter(invoices::currency.eq(currency))
            .filter(invoices::kind.eq("credit_note")),
    ))
    .get_result(conn)
}

/// The reversals of one merchant's payments: payment id → reversal.
pub fn reversals_of(conn: &mut DbConn, merchant_id: i64) -> QueryResult<HashMap<i64, Reversal>> {
    Ok(payment_reversals::table
        .inner_join(merchant_payments::table)
        .filter(merchant_payments::merchant_id.eq(merchant_id))
        .select(Reversal::as_select())
        .load::<Reversal>(conn)?
        .into_iter()
        .map(|r| (r.payment_id, r))
        .collect())
}
