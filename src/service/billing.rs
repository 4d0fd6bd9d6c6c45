//! Merchant billing (issue #28): a monthly invoice per merchant and currency from the ledger,
//! payments received applied to the oldest open invoices, credit, reversals of bounced
//! transfers, corrections by credit note, reminders, and what finance and merchants read of
//! it. Every amount moves through the ledger: an invoice's tax (`invoice_tax`), a payment
//! (`merchant_payment`: cash up, receivable down), its reversal (`payment_reversal`) and a
//! credit note (`credit_note`).

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{Datelike, NaiveDate, NaiveDateTime};
use chrono_tz::Tz;

use crate::db::billing::{Invoice, Payment};
use crate::db::{self, DbConn};
use crate::domain::billing::{self as rules, Bucket, Group, Period, Source, State};
use crate::domain::ledger;
use crate::domain::money::{Currency, Money, display_in};
use crate::domain::validate::FieldErrors;
use crate::error::{AppError, AppResult};

use super::audit;

fn zone(name: &str) -> Tz {
    name.parse().unwrap_or(Tz::UTC)
}

/// What a billing pass issued (or, dry, would issue).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    pub invoice_id: Option<i64>,
    pub number: String,
    pub merchant_id: i64,
    pub merchant: String,
    pub currency: String,
    pub period: String,
    pub total_minor: i64,
    pub credit_note: bool,
}

impl Issued {
    pub fn line(&self) -> String {
        format!(
            "{} {} {} {} {}",
            self.number,
            self.merchant,
            self.period,
            self.currency,
            crate::domain::money::plain_in(self.total_minor, &self.currency)
        )
    }
}

/// One window to bill: a merchant's receivable account and the closed period it ends with.
struct Window {
    merchant_id: i64,
    currency: String,
    account_id: i64,
    tz: Tz,
    period: Period,
    start: NaiveDateTime,
    end: NaiveDateTime,
}

/// Issues every invoice due by `now`: per merchant and currency, one per closed billing
/// period (a calendar month in the merchant's zone) holding the receivable journals posted
/// since the last one. A period is invoiced once whoever asks (a unique index per period);
/// with `dry_run`, nothing is written and the numbers are those the invoices would take.
#[tracing::instrument(skip(conn, base_url))]
pub fn issue_due(
    conn: &mut DbConn,
    now: NaiveDateTime,
    base_url: &str,
    dry_run: bool,
) -> AppResult<Vec<Issued>> {
    let accounts = db::billing::receivable_accounts(conn)?;
    let ends = db::billing::period_ends(conn)?;
    let zones = db::billing::merchant_zones(conn)?;
    let names = db::billing::merchant_names(conn)?;
    let settings = db::billing::settings(conn)?;
    let terms = db::billing::all_terms(conn)?;

    // Each account's next window, if its period has closed. Windows are contiguous: one
    // starts where the last invoice ended, so nothing is billed twice or never.
    let mut windows: Vec<Window> = Vec::new();
    // Accounts never invoiced start at their first billed journal: one grouped read when
    // there are many of them, else one indexed read each.
    let never: usize = accounts
        .iter()
        .filter(|(m, c, _)| !ends.contains_key(&(*m, c.clone())))
        .count();
    let firsts = if never > 50 {
        Some(db::billing::first_billed_all(conn)?)
    } else {
        None
    };
    for (merchant_id, currency, account_id) in accounts {
        let tz = zone(zones.get(&merchant_id).map_or("UTC", String::as_str));
        let today = rules::local_date(now, tz);
        let last_end = ends.get(&(merchant_id, currency.clone())).copied();
        let from = match last_end {
            Some(e) => e,
            None => {
                let first = match &firsts {
                    Some(all) => all.get(&account_id).copied(),
                    None => db::billing::first_billed_at(conn, account_id, None)?,
                };
                match first {
                    Some(t) => t,
                    None => continue,
                }
            }
        };
        let first = Period::month_of(rules::local_date(from, tz));
        let start = last_end.unwrap_or_else(|| first.start_at(tz));
        // The latest closed period: everything since the last invoice up to its end. (If
        // several closed while billing was off, they are billed one by one below.)
        for period in rules::closed_periods(first, today) {
            let end = period.end_at(tz);
            if end <= start {
                continue;
            }
            windows.push(Window {
                merchant_id,
                currency: currency.clone(),
                account_id,
                tz,
                period,
                start,
                end,
            });
        }
    }
    // Bill windows in order per account: a window's start is the end of the one billed
    // before it (an empty window issues nothing and the next one covers it too).
    windows.sort_by_key(|w| (w.account_id, w.end));
    let mut out = Vec::new();
    let mut dry_seq: HashMap<(&'static str, i32), i64> = HashMap::new();
    // Where each account's next window starts once one was billed in this pass, and the
    // accounts another node is billing.
    let mut next_start: HashMap<i64, NaiveDateTime> = HashMap::new();
    let mut busy: std::collections::HashSet<i64> = std::collections::HashSet::new();
    // Group windows with the same bounds and currency: one aggregate query each.
    let mut by_bounds: BTreeMap<(NaiveDateTime, NaiveDateTime, String), Vec<usize>> =
        BTreeMap::new();
    for (i, w) in windows.iter().enumerate() {
        by_bounds
            .entry((w.start, w.end, w.currency.clone()))
            .or_default()
            .push(i);
    }
    let mut groups_of: HashMap<usize, Vec<db::billing::GroupRow>> = HashMap::new();
    for ((start, end, currency), idx) in &by_bounds {
        let fee_account = db::billing::platform_account(conn, "fee_revenue", currency)?;
        let ids: Vec<i64> = idx.iter().map(|&i| windows[i].account_id).collect();
        let rows = db::billing::window_groups(conn, &ids, fee_account, *start, *end)?;
        let mut by_account: HashMap<i64, Vec<db::billing::GroupRow>> = HashMap::new();
        for (account, row) in rows {
            by_account.entry(account).or_default().push(row);
        }
        for &i in idx {
            groups_of.insert(
                i,
                by_account
                    .remove(&windows[i].account_id)
                    .unwrap_or_default(),
            );
        }
    }
    for (i, w) in windows.iter().enumerate() {
        if busy.contains(&w.account_id) {
            continue;
        }
        // A window after a billed one starts where that one ended; after an empty one, where
        // that one started (the account's start).
        let start = next_start.get(&w.account_id).copied().unwrap_or(w.start);
        let rows = if start == w.start {
            groups_of.remove(&i).unwrap_or_default()
        } else {
            let fee_account = db::billing::platform_account(conn, "fee_revenue", &w.currency)?;
            db::billing::window_groups(conn, &[w.account_id], fee_account, start, w.end)?
                .into_iter()
                .map(|(_, r)| r)
                .collect()
        };
        if rows.is_empty() {
            continue;
        }
        let merchant = names.get(&w.merchant_id).cloned().unwrap_or_default();
        let terms_days = terms
            .get(&w.merchant_id)
            .copied()
            .unwrap_or(rules::DEFAULT_TERMS_DAYS);
        let groups = named_groups(conn, &rows)?;
        let draft = rules::draft(&groups, settings.tax_rate_bps, &settings.tax_label);
        let credit_note = draft.total_minor < 0;
        let prefix = if credit_note { "CN" } else { "INV" };
        let year = now.year();
        if dry_run {
            let seq = match dry_seq.get(&(prefix, year)) {
                Some(s) => *s + 1,
                None => db::billing::last_seq(conn, prefix, year)? + 1,
            };
            dry_seq.insert((prefix, year), seq);
            out.push(Issued {
                invoice_id: None,
                number: rules::number(prefix, year, seq),
                merchant_id: w.merchant_id,
                merchant,
                currency: w.currency.clone(),
                period: w.period.label(),
                total_minor: draft.total_minor,
                credit_note,
            });
            next_start.insert(w.account_id, w.end);
            continue;
        }
        let new = IssueDoc {
            merchant_id: w.merchant_id,
            merchant: &merchant,
            currency: &w.currency,
            tz: w.tz,
            period_label: w.period.label(),
            start,
            end: w.end,
            terms_days,
            settings: &settings,
            draft: &draft,
        };
        let issued = db::write_tx(conn, |conn| {
            // Whoever asks second finds the period invoiced.
            if db::billing::period_invoiced(conn, w.merchant_id, &w.currency, start)? {
                return Ok::<_, AppError>(None);
            }
            issue_doc(conn, now, base_url, &new).map(Some)
        });
        match issued {
            Ok(Some(doc)) => {
                out.push(doc);
                next_start.insert(w.account_id, w.end);
            }
            Ok(None) => {
                busy.insert(w.account_id);
            }
            Err(AppError::Internal(e))
                if e.downcast_ref::<diesel::result::Error>()
                    .is_some_and(db::is_unique_violation) =>
            {
                tracing::info!(merchant = w.merchant_id, "period invoiced by another node");
                busy.insert(w.account_id);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

fn named_groups(conn: &mut DbConn, rows: &[db::billing::GroupRow]) -> AppResult<Vec<Group>> {
    let campaign_ids: Vec<i64> = rows.iter().map(|r| r.campaign_id).collect();
    let influencer_ids: Vec<i64> = rows.iter().map(|r| r.influencer_id).collect();
    let campaigns = db::billing::campaign_names(conn, &campaign_ids)?;
    let influencers = db::billing::influencer_names(conn, &influencer_ids)?;
    Ok(rows
        .iter()
        .map(|r| Group {
            source: match r.kind.as_str() {
                "accrual" => Source::Accrual,
                "reject" => Source::Rejected,
                _ => Source::Refund,
            },
            campaign_id: r.campaign_id,
            campaign: campaigns
                .get(&r.campaign_id)
                .cloned()
                .unwrap_or_else(|| format!("Campaign #{}", r.campaign_id)),
            influencer_id: r.influencer_id,
            influencer: influencers
                .get(&r.influencer_id)
                .cloned()
                .unwrap_or_else(|| format!("Creator #{}", r.influencer_id)),
            count: r.count,
            receivable_minor: r.receivable_minor,
            fee_minor: r.fee_minor,
        })
        .collect())
}

struct IssueDoc<'a> {
    merchant_id: i64,
    merchant: &'a str,
    currency: &'a str,
    tz: Tz,
    period_label: String,
    start: NaiveDateTime,
    end: NaiveDateTime,
    terms_days: i32,
    settings: &'a db::billing::Settings,
    draft: &'a rules::Draft,
}

fn issue_doc(
    conn: &mut DbConn,
    now: NaiveDateTime,
    base_url: &str,
    d: &IssueDoc<'_>,
) -> AppResult<Issued> {
    let credit_note = d.draft.total_minor < 0;
    let (prefix, kind) = if credit_note {
        ("CN", "credit_note")
    } else {
        ("INV", "invoice")
    };
    let year = now.year();
    let seq = db::billing::next_seq(conn, prefix, year)?;
    let number = rules::number(prefix, year, seq);
    let due_on = rules::due_on(now, d.tz, d.terms_days);
    let id = db::billing::insert_invoice(
        conn,
        &db::billing::NewInvoice {
            number: number.clone(),
            prefix: prefix.to_owned(),
            year,
            seq,
            kind: kind.to_owned(),
            source: "period".to_owned(),
            merchant_id: d.merchant_id,
            currency: d.currency.to_owned(),
            period_label: d.period_label.clone(),
            period_start: d.start,
            period_end: d.end,
            time_zone: d.tz.name().to_owned(),
            issued_at: now,
            due_on: due_on.format("%Y-%m-%d").to_string(),
            terms_days: d.terms_days,
            subtotal_minor: d.draft.subtotal_minor,
            tax_rate_bps: d.settings.tax_rate_bps,
            tax_label: d.settings.tax_label.clone(),
            tax_minor: d.draft.tax_minor,
            total_minor: d.draft.total_minor,
            corrects_id: None,
            reason: String::new(),
            bill_to: d.merchant.to_owned(),
            payee: d.settings.payee.clone(),
            payment_instructions: d.settings.payment_instructions.clone(),
            issued_by: None,
        },
        &d.draft.lines,
    )?;
    if d.draft.tax_minor != 0 {
        db::ledger::post(
            conn,
            &ledger::invoice_tax(
                d.merchant_id,
                d.draft.tax_minor,
                format!("{} on the platform fee of {number}", d.settings.tax_label),
            ),
            d.currency,
            "invoice",
            id,
            now,
        )?;
    }
    apply_open(conn, d.merchant_id, d.currency, now)?;
    audit(
        conn,
        now,
        None,
        if credit_note {
            "credit_note.issued"
        } else {
            "invoice.issued"
        },
        ("invoice", id),
        &format!(
            "{number} for {} ({}): {}",
            d.merchant,
            d.period_label,
            display_in(d.draft.total_minor, d.currency)
        ),
    )?;
    let total = display_in(d.draft.total_minor, d.currency);
    let (subject, lines) = if credit_note {
        (
            format!("Credit note {number}: {} for {}", display_in(-d.draft.total_minor, d.currency), d.period_label),
            vec![
                format!(
                    "Refunds in {} came to more than its commissions: credit note {number} of {} is yours.",
                    d.period_label,
                    display_in(-d.draft.total_minor, d.currency)
                ),
                "It is applied to your open invoices, the oldest first; what is left is credit for the next one.".to_owned(),
            ],
        )
    } else {
        let mut lines = vec![
            format!(
                "Invoice {number} for {}: {total}, due {} (net {} days).",
                d.period_label,
                fmt_due(due_on),
                d.terms_days
            ),
            format!(
                "It holds the commission your creators earned in {}, the platform fee{} and the credits for refunds.",
                d.period_label,
                if d.draft.tax_minor != 0 {
                    format!(" with its {}", d.settings.tax_label)
                } else {
                    String::new()
                }
            ),
        ];
        if !d.settings.payment_instructions.trim().is_empty() {
            lines.push(format!(
                "Pay {} with the reference {number}: {}.",
                if d.settings.payee.trim().is_empty() {
                    "the platform"
                } else {
                    d.settings.payee.trim()
                },
                d.settings
                    .payment_instructions
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        (
            format!("Invoice {number} for {}: {total}", d.period_label),
            lines,
        )
    };
    notify_owner(
        conn,
        now,
        d.merchant_id,
        &subject,
        &lines,
        &format!("{base_url}/merchant/billing/invoices/{id}"),
    )?;
    Ok(Issued {
        invoice_id: Some(id),
        number,
        merchant_id: d.merchant_id,
        merchant: d.merchant.to_owned(),
        currency: d.currency.to_owned(),
        period: d.period_label.clone(),
        total_minor: d.draft.total_minor,
        credit_note,
    })
}

/// "14 Dec 2026".
pub fn fmt_due(d: NaiveDate) -> String {
    d.format("%-d %b %Y").to_string()
}

/// Emails the merchant organisation's owner (billing goes to the owner only).
fn notify_owner(
    conn: &mut DbConn,
    now: NaiveDateTime,
    merchant_id: i64,
    subject: &str,
    lines: &[String],
    url: &str,
) -> AppResult<()> {
    let members = db::merchants::members(conn, merchant_id)?;
    let owner = members
        .iter()
        .find(|(m, u)| m.member_role == "owner" && u.disabled_at.is_none())
        .or_else(|| members.iter().find(|(_, u)| u.disabled_at.is_none()));
    if let Some((_, user)) = owner {
        let email = crate::email::templates::notice(
            &user.display_name,
            subject,
            &super::in_zone_of(user, lines),
            url,
            "Open in Tandem",
        )?;
        super::enqueue_email(conn, now, &user.email, &email)?;
    }
    Ok(())
}

/// A merchant's documents in one currency with what was applied to each.
#[derive(Debug, Clone)]
pub struct Doc {
    pub invoice: Invoice,
    /// Applied to this invoice (payments not reversed, credit notes); for a credit note,
    /// what of it was applied to invoices.
    pub applied_minor: i64,
    pub state: State,
}

impl Doc {
    /// Still to pay (an invoice) or still to apply (a credit note), never negative.
    pub fn open_minor(&self) -> i64 {
        if self.invoice.is_credit_note() {
            (-self.invoice.total_minor - self.applied_minor).max(0)
        } else {
            (self.invoice.total_minor - self.applied_minor).max(0)
        }
    }

    pub fn total(&self) -> String {
        display_in(self.invoice.total_minor, &self.invoice.currency)
    }

    pub fn applied(&self) -> String {
        display_in(self.applied_minor, &self.invoice.currency)
    }

    pub fn open(&self) -> String {
        display_in(self.open_minor(), &self.invoice.currency)
    }

    pub fn due(&self) -> String {
        fmt_due(self.invoice.due_date())
    }

    pub fn issued(&self) -> String {
        fmt_due(rules::local_date(
            self.invoice.issued_at,
            self.invoice.zone(),
        ))
    }

    pub fn state_label(&self) -> &'static str {
        self.state.label()
    }

    pub fn state_class(&self) -> &'static str {
        match self.state {
            State::Paid => "ok",
            State::Overdue | State::OverduePartlyPaid => "bad",
            State::Credit => "muted",
            _ => "warn",
        }
    }
}

/// What a merchant's money stands at, per currency: the documents, what each payment paid,
/// and the credit left.
#[derive(Debug, Clone, Default)]
pub struct Standing {
    pub docs: Vec<Doc>,
    pub payments: Vec<PaymentView>,
    /// Per currency: still to pay on open invoices, and credit (payments and credit notes
    /// not yet applied).
    pub due: BTreeMap<String, i64>,
    pub credit: BTreeMap<String, i64>,
}

#[derive(Debug, Clone)]
pub struct PaymentView {
    pub payment: Payment,
    pub merchant: String,
    pub applied: Vec<(String, i64)>,
    pub unapplied_minor: i64,
    pub reversed: Option<db::billing::Reversal>,
}

impl PaymentView {
    pub fn amount(&self) -> String {
        display_in(self.payment.amount_minor, &self.payment.currency)
    }

    pub fn unapplied(&self) -> String {
        display_in(self.unapplied_minor, &self.payment.currency)
    }

    pub fn applied_to(&self) -> String {
        if self.reversed.is_some() {
            return "nothing: reversed".to_owned();
        }
        let mut parts: Vec<String> = self
            .applied
            .iter()
            .map(|(n, a)| format!("{n} ({})", display_in(*a, &self.payment.currency)))
            .collect();
        if self.unapplied_minor > 0 {
            parts.push(format!("credit {}", self.unapplied()));
        }
        if parts.is_empty() {
            "nothing yet".to_owned()
        } else {
            parts.join(", ")
        }
    }
}

/// Reads a merchant's standing (all currencies), today being `today` in its zone.
pub fn standing(conn: &mut DbConn, merchant_id: i64, today: NaiveDate) -> AppResult<Standing> {
    let invoices = db::billing::invoices_of(conn, merchant_id)?;
    let allocations = db::billing::allocations_of(conn, merchant_id)?;
    let reversals = db::billing::reversals_of(conn, merchant_id)?;
    let payments = db::billing::payments(conn, Some(merchant_id))?;
    let names = db::merchants::find(conn, merchant_id)?
        .map(|m| m.name)
        .unwrap_or_default();
    Ok(standing_of(
        invoices,
        &allocations,
        &reversals,
        payments,
        &names,
        today,
    ))
}

fn standing_of(
    invoices: Vec<Invoice>,
    allocations: &[db::billing::Allocation],
    reversals: &HashMap<i64, db::billing::Reversal>,
    payments: Vec<Payment>,
    merchant: &str,
    today: NaiveDate,
) -> Standing {
    let numbers: HashMap<i64, String> = invoices.iter().map(|i| (i.id, i.number.clone())).collect();
    let mut to_invoice: HashMap<i64, i64> = HashMap::new();
    let mut from_credit: HashMap<i64, i64> = HashMap::new();
    let mut from_payment: HashMap<i64, Vec<(String, i64)>> = HashMap::new();
    for a in allocations {
        let counts = match a.payment_id {
            Some(p) => !reversals.contains_key(&p),
            None => true,
        };
        if !counts {
            continue;
        }
        *to_invoice.entry(a.invoice_id).or_default() += a.amount_minor;
        if let Some(cn) = a.credit_note_id {
            *from_credit.entry(cn).or_default() += a.amount_minor;
        }
        if let Some(p) = a.payment_id {
            from_payment.entry(p).or_default().push((
                numbers.get(&a.invoice_id).cloned().unwrap_or_default(),
                a.amount_minor,
            ));
        }
    }
    let mut s = Standing::default();
    for inv in invoices {
        let applied = if inv.is_credit_note() {
            from_credit.get(&inv.id).copied().unwrap_or(0)
        } else {
            to_invoice.get(&inv.id).copied().unwrap_or(0)
        };
        let state = State::of(inv.total_minor, applied, inv.due_date(), today);
        let doc = Doc {
            invoice: inv,
            applied_minor: applied,
            state,
        };
        let c = doc.invoice.currency.clone();
        if doc.invoice.is_credit_note() {
            *s.credit.entry(c).or_default() += doc.open_minor();
        } else {
            *s.due.entry(c).or_default() += doc.open_minor();
        }
        s.docs.push(doc);
    }
    for p in payments {
        let applied = from_payment.remove(&p.id).unwrap_or_default();
        let reversed = reversals.get(&p.id).cloned();
        let unapplied = if reversed.is_some() {
            0
        } else {
            p.amount_minor - applied.iter().map(|(_, a)| a).sum::<i64>()
        };
        *s.credit.entry(p.currency.clone()).or_default() += unapplied;
        s.payments.push(PaymentView {
            payment: p,
            merchant: merchant.to_owned(),
            applied,
            unapplied_minor: unapplied,
            reversed,
        });
    }
    s
}

/// Applies the merchant's credit (payments and credit notes not yet applied, oldest first)
/// to its open invoices in the currency, the oldest first.
pub fn apply_open(
    conn: &mut DbConn,
    merchant_id: i64,
    currency: &str,
    now: NaiveDateTime,
) -> AppResult<()> {
    // Nothing can pay an invoice without a payment or a credit note.
    if !db::billing::has_credit_sources(conn, merchant_id, currency)? {
        return Ok(());
    }
    let s = standing(conn, merchant_id, rules::local_date(now, Tz::UTC))?;
    let mut open: Vec<(i64, i64)> = s
        .docs
        .iter()
        .filter(|d| !d.invoice.is_credit_note() && d.invoice.currency == currency)
        .map(|d| (d.invoice.id, d.open_minor()))
        .filter(|(_, o)| *o > 0)
        .collect();
    if open.is_empty() {
        return Ok(());
    }
    // Credit notes first (by issue), then payments (by when they were recorded).
    let mut sources: Vec<(Option<i64>, Option<i64>, i64)> = s
        .docs
        .iter()
        .filter(|d| d.invoice.is_credit_note() && d.invoice.currency == currency)
        .map(|d| (None, Some(d.invoice.id), d.open_minor()))
        .collect();
    let mut payments: Vec<&PaymentView> = s
        .payments
        .iter()
        .filter(|p| p.payment.currency == currency && p.unapplied_minor > 0)
        .collect();
    payments.sort_by_key(|p| (p.payment.recorded_at, p.payment.id));
    sources.extend(
        payments
            .into_iter()
            .map(|p| (Some(p.payment.id), None, p.unapplied_minor)),
    );
    for (payment, credit_note, available) in sources {
        if available <= 0 {
            continue;
        }
        let (applied, _) = rules::apply_oldest_first(&open, available);
        for (invoice_id, amount) in applied {
            db::billing::insert_allocation(conn, invoice_id, payment, credit_note, amount, now)?;
            if let Some(o) = open.iter_mut().find(|(id, _)| *id == invoice_id) {
                o.1 -= amount;
            }
        }
        open.retain(|(_, o)| *o > 0);
        if open.is_empty() {
            break;
        }
    }
    Ok(())
}

/// A payment as finance enters it (or a statement row gives it).
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct PaymentForm {
    #[serde(default)]
    pub merchant_id: String,
    #[serde(default)]
    pub currency: String,
    #[serde(default)]
    pub amount: String,
    #[serde(default)]
    pub value_date: String,
    #[serde(default)]
    pub bank_reference: String,
    #[serde(default)]
    pub payer: String,
    #[serde(default)]
    pub invoice: String,
}

pub struct ValidPayment {
    pub merchant_id: i64,
    pub currency: Currency,
    pub amount: Money,
    pub value_date: NaiveDate,
    pub bank_reference: String,
    pub payer: String,
    pub invoice: Option<Invoice>,
}

fn clean(text: &str, field: &str, max: usize, errors: &mut FieldErrors) -> String {
    let t = text.trim();
    if t.chars().count() > max {
        errors.add(field, format!("Keep it to {max} characters."));
    }
    if let Some(c) = crate::domain::validate::hidden_char(t) {
        errors.add(field, crate::domain::validate::hidden_char_message(c));
    } else if crate::domain::validate::has_control(t) {
        errors.add(field, "Remove the control characters (tabs, line breaks).");
    }
    t.to_owned()
}

pub fn validate_payment(
    conn: &mut DbConn,
    form: &PaymentForm,
    today: NaiveDate,
) -> AppResult<Result<ValidPayment, FieldErrors>> {
    let mut errors = FieldErrors::new();
    let merchant = form
        .merchant_id
        .trim()
        .parse::<i64>()
        .ok()
        .map(|id| db::merchants::find(conn, id))
        .transpose()?
        .flatten();
    if merchant.is_none() {
        errors.add("merchant_id", "Choose the merchant who paid.");
    }
    let currency = match Currency::parse(form.currency.trim()) {
        Ok(c) => Some(c),
        Err(_) => {
            errors.add("currency", "Choose the currency the money came in.");
            None
        }
    };
    let amount = currency.and_then(|c| match Money::parse(form.amount.trim(), c) {
        Ok(m) if m.minor() > 0 => Some(m),
        Ok(_) => {
            errors.add("amount", "A payment received is more than zero.");
            None
        }
        Err(e) => {
            errors.add("amount", e.to_string());
            None
        }
    });
    let value_date = match NaiveDate::parse_from_str(form.value_date.trim(), "%Y-%m-%d") {
        Ok(d) if d > today + chrono::TimeDelta::days(1) => {
            errors.add("value_date", "The value date is in the future.");
            None
        }
        Ok(d) => Some(d),
        Err(_) => {
            errors.add("value_date", "Enter the value date as YYYY-MM-DD.");
            None
        }
    };
    let bank_reference = clean(&form.bank_reference, "bank_reference", 140, &mut errors);
    if bank_reference.is_empty() {
        errors.add(
            "bank_reference",
            "Enter the bank's reference of the transfer: it is how a payment is recorded once.",
        );
    }
    let payer = clean(&form.payer, "payer", 140, &mut errors);
    let mut invoice = None;
    if !form.invoice.trim().is_empty() {
        let found = match rules::parse_number(form.invoice.trim()) {
            Some((p, y, s)) => db::billing::invoice_by_number(conn, &rules::number(p, y, s))?,
            None => None,
        };
        match (found, &merchant, currency) {
            (Some(inv), Some(m), Some(c))
                if inv.merchant_id == m.id && inv.currency == c.code() && !inv.is_credit_note() =>
            {
                invoice = Some(inv)
            }
            (Some(inv), Some(m), _) if inv.merchant_id != m.id => errors.add(
                "invoice",
                format!("{} is not an invoice of {}.", inv.number, m.name),
            ),
            (Some(inv), _, _) if inv.is_credit_note() => {
                errors.add("invoice", format!("{} is a credit note.", inv.number))
            }
            (Some(inv), _, Some(c)) if inv.currency != c.code() => errors.add(
                "invoice",
                format!("{} is in {}, not {}.", inv.number, inv.currency, c.code()),
            ),
            (None, _, _) => errors.add(
                "invoice",
                "No such invoice: enter its number as INV-2026-000123, or leave it empty.",
            ),
            _ => {}
        }
    }
    if !errors.is_empty() {
        return Ok(Err(errors));
    }
    let (Some(m), Some(currency), Some(amount), Some(value_date)) =
        (merchant, currency, amount, value_date)
    else {
        return Ok(Err(errors));
    };
    Ok(Ok(ValidPayment {
        merchant_id: m.id,
        currency,
        amount,
        value_date,
        bank_reference,
        payer,
        invoice,
    }))
}

/// Finance records a payment received: one `merchant_payment` journal (cash up, receivable
/// down), applied to the invoice it names, then to the oldest open invoices; what is over is
/// credit. The same bank reference for the same merchant twice is refused.
pub fn record_payment(
    conn: &mut DbConn,
    now: NaiveDateTime,
    base_url: &str,
    actor: i64,
    p: &ValidPayment,
    statement_row_id: Option<i64>,
) -> AppResult<i64> {
    db::write_tx(conn, |conn| {
        record_payment_in(conn, now, base_url, actor, p, statement_row_id)
    })
}

pub(crate) fn record_payment_in(
    conn: &mut DbConn,
    now: NaiveDateTime,
    base_url: &str,
    actor: i64,
    p: &ValidPayment,
    statement_row_id: Option<i64>,
) -> AppResult<i64> {
    let code = p.currency.code();
    if let Some(existing) =
        db::billing::payment_by_reference(conn, p.merchant_id, &p.bank_reference)?
    {
        return Err(AppError::Conflict(format!(
            "A payment with bank reference “{}” was recorded for this merchant on {} ({}): a payment is recorded once.",
            p.bank_reference,
            existing.value_date,
            display_in(existing.amount_minor, &existing.currency)
        )));
    }
    let value_date = p.value_date.format("%Y-%m-%d").to_string();
    let id = match db::billing::insert_payment(
        conn,
        &db::billing::NewPayment {
            merchant_id: p.merchant_id,
            currency: code,
            amount_minor: p.amount.minor(),
            value_date: &value_date,
            bank_reference: &p.bank_reference,
            payer: &p.payer,
            invoice_id: p.invoice.as_ref().map(|i| i.id),
            statement_row_id,
            recorded_by: Some(actor),
            recorded_at: now,
        },
    ) {
        Ok(id) => id,
        Err(e) if db::is_unique_violation(&e) => {
            return Err(AppError::Conflict(format!(
                "A payment with bank reference “{}” was recorded for this merchant: a payment is recorded once.",
                p.bank_reference
            )));
        }
        Err(e) => return Err(e.into()),
    };
    db::ledger::post(
        conn,
        &ledger::merchant_payment(
            p.merchant_id,
            p.amount.minor(),
            format!("Payment received, bank reference {}", p.bank_reference),
        ),
        code,
        "merchant_payment",
        id,
        now,
    )?;
    if let Some(inv) = &p.invoice {
        let s = standing(conn, p.merchant_id, rules::local_date(now, Tz::UTC))?;
        let open = s
            .docs
            .iter()
            .find(|d| d.invoice.id == inv.id)
            .map_or(0, Doc::open_minor);
        let take = open.min(p.amount.minor());
        if take > 0 {
            db::billing::insert_allocation(conn, inv.id, Some(id), None, take, now)?;
        }
    }
    apply_open(conn, p.merchant_id, code, now)?;
    let s = standing(conn, p.merchant_id, rules::local_date(now, Tz::UTC))?;
    let view = s.payments.iter().find(|v| v.payment.id == id);
    let applied = view.map(PaymentView::applied_to).unwrap_or_default();
    audit(
        conn,
        now,
        Some(actor),
        "payment.recorded",
        ("merchant_payment", id),
        &format!(
            "{} from merchant {} (reference {}, value date {value_date}): applied to {applied}",
            p.amount.display(),
            p.merchant_id,
            p.bank_reference
        ),
    )?;
    notify_owner(
        conn,
        now,
        p.merchant_id,
        &format!("Payment received: {}", p.amount.display()),
        &[
            format!(
                "We received {} on {value_date}, bank reference {}.",
                p.amount.display(),
                p.bank_reference
            ),
            format!("It was applied to {applied}."),
        ],
        &format!("{base_url}/merchant/billing"),
    )?;
    Ok(id)
}

/// A bounced transfer: its own journal (cash down, receivable up) with a reason; what the
/// payment paid is open again, and credit left elsewhere is applied to it.
pub fn reverse_payment(
    conn: &mut DbConn,
    now: NaiveDateTime,
    base_url: &str,
    actor: i64,
    payment_id: i64,
    reason: &str,
) -> AppResult<()> {
    let reason = reason.trim();
    if reason.is_empty() {
        let mut e = FieldErrors::new();
        e.add(
            "reason",
            "Say why the payment is reversed (e.g. “transfer returned by the bank”).",
        );
        return Err(AppError::Validation(e));
    }
    if reason.chars().count() > 200 {
        let mut e = FieldErrors::new();
        e.add("reason", "Keep it to 200 characters.");
        return Err(AppError::Validation(e));
    }
    db::write_tx(conn, |conn| {
        let p = db::billing::payment(conn, payment_id)?.ok_or(AppError::NotFound)?;
        if db::billing::reversals(conn)?.contains_key(&p.id) {
            return Err(AppError::Conflict(format!(
                "The payment with reference “{}” was reversed already.",
                p.bank_reference
            )));
        }
        match db::billing::insert_reversal(conn, p.id, reason, Some(actor), now) {
            Ok(_) => {}
            Err(e) if db::is_unique_violation(&e) => {
                return Err(AppError::Conflict(
                    "The payment was reversed already.".to_owned(),
                ));
            }
            Err(e) => return Err(e.into()),
        }
        db::ledger::post(
            conn,
            &ledger::payment_reversal(
                p.merchant_id,
                p.amount_minor,
                format!("Payment {} reversed: {reason}", p.bank_reference),
            ),
            &p.currency,
            "merchant_payment",
            p.id,
            now,
        )?;
        apply_open(conn, p.merchant_id, &p.currency, now)?;
        audit(
            conn,
            now,
            Some(actor),
            "payment.reversed",
            ("merchant_payment", p.id),
            &format!(
                "{} (reference {}) reversed: {reason}",
                display_in(p.amount_minor, &p.currency),
                p.bank_reference
            ),
        )?;
        notify_owner(
            conn,
            now,
            p.merchant_id,
            &format!(
                "Payment {} reversed",
                display_in(p.amount_minor, &p.currency)
            ),
            &[
                format!(
                    "Your transfer of {} (reference {}) was reversed: {reason}.",
                    display_in(p.amount_minor, &p.currency),
                    p.bank_reference
                ),
                "The invoices it paid are open again; please pay them.".to_owned(),
            ],
            &format!("{base_url}/merchant/billing"),
        )?;
        Ok(())
    })
}

/// A correction of an issued invoice: a credit note referencing it that gives back part of
/// its platform fee (with that part's tax). Commissions are the creators' and are corrected
/// by refunds, not here.
pub fn issue_correction(
    conn: &mut DbConn,
    now: NaiveDateTime,
    base_url: &str,
    actor: i64,
    invoice_id: i64,
    fee_amount: &str,
    reason: &str,
) -> AppResult<i64> {
    db::write_tx(conn, |conn| {
        let inv = db::billing::invoice(conn, invoice_id)?.ok_or(AppError::NotFound)?;
        let mut errors = FieldErrors::new();
        if inv.is_credit_note() {
            return Err(AppError::Conflict(format!(
                "{} is a credit note; a correction credits an invoice.",
                inv.number
            )));
        }
        let currency = Currency::parse(&inv.currency)
            .map_err(|e| AppError::Internal(anyhow::anyhow!("{e}")))?;
        let credited = credited_fee(conn, inv.id)?;
        let fee = fee_of(conn, inv.id)?;
        let left = fee - credited;
        let amount = match Money::parse(fee_amount.trim(), currency) {
            Ok(m) if m.minor() <= 0 => {
                errors.add("amount", "Credit more than zero.");
                None
            }
            Ok(m) if m.minor() > left => {
                errors.add(
                    "amount",
                    format!(
                        "At most {}: the platform fee of {} not credited yet.",
                        display_in(left.max(0), &inv.currency),
                        inv.number
                    ),
                );
                None
            }
            Ok(m) => Some(m),
            Err(e) => {
                errors.add("amount", e.to_string());
                None
            }
        };
        let reason = reason.trim();
        if reason.is_empty() {
            errors.add("reason", "Say why the invoice is corrected.");
        } else if reason.chars().count() > 200 {
            errors.add("reason", "Keep it to 200 characters.");
        }
        let Some(amount) = amount.filter(|_| errors.is_empty()) else {
            return Err(AppError::Validation(errors));
        };
        let tax = rules::tax_on(amount.minor(), inv.tax_rate_bps);
        let total = -(amount.minor() + tax);
        let year = now.year();
        let seq = db::billing::next_seq(conn, "CN", year)?;
        let number = rules::number("CN", year, seq);
        let mut lines = vec![rules::Line {
            kind: rules::LineKind::Correction,
            campaign_id: None,
            influencer_id: None,
            description: format!("Platform fee credited on {}: {reason}", inv.number),
            count: 0,
            amount_minor: -amount.minor(),
        }];
        if tax != 0 {
            lines.push(rules::Line {
                kind: rules::LineKind::Tax,
                campaign_id: None,
                influencer_id: None,
                description: format!(
                    "{} at {} on the fee credited",
                    inv.tax_label,
                    crate::domain::rate::show_bps(inv.tax_rate_bps)
                ),
                count: 0,
                amount_minor: -tax,
            });
        }
        let settings = db::billing::settings(conn)?;
        let id = db::billing::insert_invoice(
            conn,
            &db::billing::NewInvoice {
                number: number.clone(),
                prefix: "CN".to_owned(),
                year,
                seq,
                kind: "credit_note".to_owned(),
                source: "correction".to_owned(),
                merchant_id: inv.merchant_id,
                currency: inv.currency.clone(),
                period_label: inv.period_label.clone(),
                period_start: inv.period_start,
                period_end: inv.period_end,
                time_zone: inv.time_zone.clone(),
                issued_at: now,
                due_on: rules::local_date(now, inv.zone())
                    .format("%Y-%m-%d")
                    .to_string(),
                terms_days: 0,
                subtotal_minor: -amount.minor(),
                tax_rate_bps: inv.tax_rate_bps,
                tax_label: inv.tax_label.clone(),
                tax_minor: -tax,
                total_minor: total,
                corrects_id: Some(inv.id),
                reason: reason.to_owned(),
                bill_to: inv.bill_to.clone(),
                payee: settings.payee.clone(),
                payment_instructions: settings.payment_instructions.clone(),
                issued_by: Some(actor),
            },
            &lines,
        )?;
        db::ledger::post(
            conn,
            &ledger::credit_note(
                inv.merchant_id,
                amount.minor(),
                tax,
                format!("{number} corrects {}: {reason}", inv.number),
            ),
            &inv.currency,
            "invoice",
            id,
            now,
        )?;
        // The corrected invoice first, then the oldest open ones.
        let s = standing(conn, inv.merchant_id, rules::local_date(now, Tz::UTC))?;
        let open = s
            .docs
            .iter()
            .find(|d| d.invoice.id == inv.id)
            .map_or(0, Doc::open_minor);
        let take = open.min(-total);
        if take > 0 {
            db::billing::insert_allocation(conn, inv.id, None, Some(id), take, now)?;
        }
        apply_open(conn, inv.merchant_id, &inv.currency, now)?;
        audit(
            conn,
            now,
            Some(actor),
            "credit_note.issued",
            ("invoice", id),
            &format!(
                "{number} corrects {}: {} ({reason})",
                inv.number,
                display_in(total, &inv.currency)
            ),
        )?;
        notify_owner(
            conn,
            now,
            inv.merchant_id,
            &format!("Credit note {number} on invoice {}", inv.number),
            &[
                format!(
                    "{number} credits {} on invoice {}: {reason}.",
                    display_in(-total, &inv.currency),
                    inv.number
                ),
                "It is applied to that invoice first; what is left is credit for the next one."
                    .to_owned(),
            ],
            &format!("{base_url}/merchant/billing/invoices/{id}"),
        )?;
        Ok(id)
    })
}

/// The platform fee an invoice charged, net of what its refunds returned.
fn fee_of(conn: &mut DbConn, invoice_id: i64) -> AppResult<i64> {
    Ok(db::billing::lines_of(conn, invoice_id)?
        .iter()
        .filter(|l| l.kind == "fee" || l.kind == "fee_returned")
        .map(|l| l.amount_minor)
        .sum())
}

/// The fee credited on an invoice by earlier corrections.
fn credited_fee(conn: &mut DbConn, invoice_id: i64) -> AppResult<i64> {
    let mut sum = 0;
    for cn in db::billing::corrections_of(conn, invoice_id)? {
        sum += -cn.subtotal_minor;
    }
    Ok(sum)
}

/// Sends the reminders due by `now`: on an unpaid invoice's due date, and again seven days
/// after, each once, by the merchant's local date.
pub fn send_reminders(conn: &mut DbConn, now: NaiveDateTime, base_url: &str) -> AppResult<usize> {
    let invoices = db::billing::all_invoices(conn)?;
    let merchants: HashSet<i64> = invoices
        .iter()
        .filter(|i| !i.is_credit_note())
        .map(|i| i.merchant_id)
        .collect();
    let sent_before = db::billing::reminders(conn)?;
    let mut sent = 0;
    for m in merchants {
        let tz = zone(&db::billing::merchant_zone(conn, m)?);
        let today = rules::local_date(now, tz);
        let s = standing(conn, m, today)?;
        for d in s.docs.iter().filter(|d| d.state.is_unpaid()) {
            let due = d.invoice.due_date();
            let kinds: Vec<&str> = sent_before
                .get(&d.invoice.id)
                .map(|v| v.iter().map(|(k, _)| k.as_str()).collect())
                .unwrap_or_default();
            let second = due + chrono::TimeDelta::days(rules::SECOND_REMINDER_DAYS);
            let kind = if today >= second && !kinds.contains(&"overdue") {
                "overdue"
            } else if today >= due && !kinds.contains(&"due") && !kinds.contains(&"overdue") {
                "due"
            } else {
                continue;
            };
            let done = db::write_tx(conn, |conn| {
                if !db::billing::mark_reminder(conn, d.invoice.id, kind, now)? {
                    return Ok::<_, AppError>(false);
                }
                if kind == "overdue" {
                    // The due-date reminder is not sent after the overdue one.
                    db::billing::mark_reminder(conn, d.invoice.id, "due", now)?;
                }
                let (subject, first) = if kind == "due" {
                    (
                        format!("Invoice {} is due today: {}", d.invoice.number, d.open()),
                        format!(
                            "Invoice {} for {} is due today, {}: {} is still to pay.",
                            d.invoice.number,
                            d.invoice.period_label,
                            d.due(),
                            d.open()
                        ),
                    )
                } else {
                    (
                        format!("Invoice {} is overdue: {}", d.invoice.number, d.open()),
                        format!(
                            "Invoice {} for {} was due on {}; {} is still to pay.",
                            d.invoice.number,
                            d.invoice.period_label,
                            d.due(),
                            d.open()
                        ),
                    )
                };
                notify_owner(
                    conn,
                    now,
                    m,
                    &subject,
                    &[
                        first,
                        format!(
                            "Please pay with the reference {} so that the payment is matched to it.",
                            d.invoice.number
                        ),
                    ],
                    &format!("{base_url}/merchant/billing/invoices/{}", d.invoice.id),
                )?;
                audit(
                    conn,
                    now,
                    None,
                    "invoice.reminded",
                    ("invoice", d.invoice.id),
                    &format!("{kind} reminder for {}", d.invoice.number),
                )?;
                Ok(true)
            })?;
            if done {
                sent += 1;
            }
        }
    }
    Ok(sent)
}

/// Finance's billing overview: cash per currency, and receivable aging per merchant and
/// currency (unpaid invoice amounts by how far past due), overdue merchants first.
#[derive(Debug, Clone, Default)]
pub struct Aging {
    pub rows: Vec<AgingRow>,
    /// Per currency: the totals of each bucket and of all.
    pub totals: BTreeMap<String, [i64; 6]>,
    /// How many invoices are past their due date and not paid in full.
    pub overdue_invoices: usize,
}

#[derive(Debug, Clone)]
pub struct AgingRow {
    pub merchant_id: i64,
    pub merchant: String,
    pub currency: String,
    /// Current, 1–30, 31–60, 61–90, 90+, and the sum.
    pub buckets: [i64; 6],
    pub credit_minor: i64,
    pub oldest_due: Option<NaiveDate>,
}

impl AgingRow {
    pub fn overdue_minor(&self) -> i64 {
        self.buckets[1..5].iter().sum()
    }

    pub fn cells(&self) -> Vec<String> {
        self.buckets
            .iter()
            .map(|m| display_in(*m, &self.currency))
            .collect()
    }

    pub fn credit(&self) -> String {
        display_in(self.credit_minor, &self.currency)
    }
}

pub fn aging(conn: &mut DbConn, now: NaiveDateTime) -> AppResult<Aging> {
    let invoices = db::billing::all_invoices(conn)?;
    let allocations = db::billing::all_allocations(conn)?;
    let reversals = db::billing::reversals(conn)?;
    let payments = db::billing::payments(conn, None)?;
    let names = db::billing::merchant_names(conn)?;
    let zones = db::billing::merchant_zones(conn)?;
    let mut by_merchant: BTreeMap<i64, (Vec<Invoice>, Vec<Payment>)> = BTreeMap::new();
    for i in invoices {
        by_merchant.entry(i.merchant_id).or_default().0.push(i);
    }
    for p in payments {
        by_merchant.entry(p.merchant_id).or_default().1.push(p);
    }
    let mut out = Aging::default();
    for (m, (invoices, payments)) in by_merchant {
        let tz = zone(zones.get(&m).map_or("UTC", String::as_str));
        let today = rules::local_date(now, tz);
        let ids: HashSet<i64> = invoices.iter().map(|i| i.id).collect();
        let mine: Vec<db::billing::Allocation> = allocations
            .iter()
            .filter(|a| ids.contains(&a.invoice_id))
            .cloned()
            .collect();
        let name = names.get(&m).cloned().unwrap_or_default();
        let s = standing_of(invoices, &mine, &reversals, payments, &name, today);
        let mut rows: BTreeMap<String, AgingRow> = BTreeMap::new();
        for d in &s.docs {
            let row = rows
                .entry(d.invoice.currency.clone())
                .or_insert_with(|| AgingRow {
                    merchant_id: m,
                    merchant: name.clone(),
                    currency: d.invoice.currency.clone(),
                    buckets: [0; 6],
                    credit_minor: 0,
                    oldest_due: None,
                });
            if d.invoice.is_credit_note() || !d.state.is_unpaid() {
                continue;
            }
            let b = Bucket::of(d.invoice.due_date(), today);
            if b != Bucket::Current {
                out.overdue_invoices += 1;
            }
            row.buckets[b.index()] += d.open_minor();
            row.buckets[5] += d.open_minor();
            let due = d.invoice.due_date();
            row.oldest_due = Some(row.oldest_due.map_or(due, |o| o.min(due)));
        }
        for (c, credit) in &s.credit {
            if let Some(r) = rows.get_mut(c) {
                r.credit_minor = *credit;
            } else if *credit > 0 {
                rows.insert(
                    c.clone(),
                    AgingRow {
                        merchant_id: m,
                        merchant: name.clone(),
                        currency: c.clone(),
                        buckets: [0; 6],
                        credit_minor: *credit,
                        oldest_due: None,
                    },
                );
            }
        }
        out.rows.extend(rows.into_values());
    }
    for r in &out.rows {
        let t = out.totals.entry(r.currency.clone()).or_insert([0; 6]);
        for (i, v) in r.buckets.iter().enumerate() {
            t[i] += v;
        }
    }
    // Overdue first (the most overdue the first), then what is due, then the rest by name.
    out.rows.sort_by(|a, b| {
        b.overdue_minor()
            .cmp(&a.overdue_minor())
            .then(b.buckets[5].cmp(&a.buckets[5]))
            .then(a.merchant.cmp(&b.merchant))
    });
    Ok(out)
}

/// For pay-when-paid: per commission, the invoice it waits for when that invoice is not
/// paid in full ("waiting for Jade Leaf Tea Co. to pay invoice INV-2026-000123 (due 14 Dec
/// 2026)"), or that it is not invoiced yet. Commissions whose invoice is paid are absent.
pub fn waiting_for_invoice(
    conn: &mut DbConn,
    now: NaiveDateTime,
    commissions: &[(i64, i64, String)],
) -> AppResult<HashMap<i64, String>> {
    let ids: Vec<i64> = commissions.iter().map(|(id, _, _)| *id).collect();
    let accrued = db::billing::accrued_at(conn, &ids)?;
    let merchants: HashSet<i64> = commissions.iter().map(|(_, m, _)| *m).collect();
    let names = db::billing::merchant_names(conn)?;
    let mut standings: HashMap<i64, Standing> = HashMap::new();
    for m in merchants {
        let tz = zone(&db::billing::merchant_zone(conn, m)?);
        standings.insert(m, standing(conn, m, rules::local_date(now, tz))?);
    }
    let mut out = HashMap::new();
    for (id, merchant, currency) in commissions {
        let Some(at) = accrued.get(id) else {
            continue;
        };
        let name = names.get(merchant).cloned().unwrap_or_default();
        let s = &standings[merchant];
        let doc = s.docs.iter().find(|d| {
            d.invoice.source == "period"
                && &d.invoice.currency == currency
                && d.invoice.period_start <= *at
                && *at < d.invoice.period_end
        });
        match doc {
            Some(d) if d.state.is_unpaid() => {
                out.insert(
                    *id,
                    format!(
                        "waiting for {name} to pay invoice {} (due {})",
                        d.invoice.number,
                        d.due()
                    ),
                );
            }
            Some(_) => {}
            None => {
                out.insert(
                    *id,
                    format!(
                        "waiting for {name} to be invoiced for the month it was earned, then to pay"
                    ),
                );
            }
        }
    }
    Ok(out)
}
