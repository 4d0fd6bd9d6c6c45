//! Billing pages: the merchant's Billing page and its invoices (a document that prints on
//! A4, and its lines as CSV); finance's billing overview (cash, receivable aging, payments
//! received, terms) with payments, reversals and credit notes; the admin's payment
//! instructions and tax rate.

use actix_session::Session;
use actix_web::{HttpResponse, get, post, web};
use askama::Template;
use serde::Deserialize;

use super::extract::{AdminUser, CsrfForm, Empty, FinanceUser, MerchantUser};
use super::pages::{self, PageCtx, SelectOption};
use super::payouts::acting_finance;
use super::session;
use crate::db;
use crate::db::billing::InvoiceLine;
use crate::domain::billing as rules;
use crate::domain::money::{Currency, display_in};
use crate::domain::validate::FieldErrors;
use crate::error::{AppError, AppResult};
use crate::service::billing::{self as svc, Doc, PaymentForm, PaymentView, Standing};
use crate::startup::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(merchant_billing)
        .service(merchant_invoice)
        .service(merchant_invoice_csv)
        .service(finance_billing)
        .service(finance_invoice)
        .service(finance_invoice_csv)
        .service(record_payment)
        .service(reverse_payment)
        .service(credit_note)
        .service(set_terms)
        .service(issue_now)
        .service(admin_settings)
        .service(save_admin_settings);
}

/// Money per currency, as "¥1,234.50 · $12.00" (or "nothing" when every one is zero).
fn per_currency(m: &std::collections::BTreeMap<String, i64>) -> String {
    let parts: Vec<String> = m
        .iter()
        .filter(|(_, v)| **v != 0)
        .map(|(c, v)| display_in(*v, c))
        .collect();
    if parts.is_empty() {
        "nothing".to_owned()
    } else {
        parts.join(" · ")
    }
}

pub struct DocRow {
    pub id: i64,
    pub number: String,
    pub kind: &'static str,
    pub period: String,
    pub issued: String,
    pub due: String,
    pub total: String,
    pub applied: String,
    pub open: String,
    pub state: &'static str,
    pub badge: &'static str,
    pub open_minor: i64,
    pub reminders: String,
}

fn doc_row(
    d: &Doc,
    reminders: &std::collections::HashMap<i64, Vec<(String, chrono::NaiveDateTime)>>,
    tz: chrono_tz::Tz,
) -> DocRow {
    let badge = match d.state_class() {
        "ok" => "badge-ok",
        "bad" => "badge-danger",
        "muted" => "badge-muted",
        _ => "badge-warn",
    };
    let reminders = reminders
        .get(&d.invoice.id)
        .map(|v| {
            v.iter()
                .map(|(k, at)| {
                    format!(
                        "{} reminder sent {}",
                        if k == "due" { "Due-date" } else { "Overdue" },
                        svc::fmt_due(rules::local_date(*at, tz))
                    )
                })
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default();
    DocRow {
        id: d.invoice.id,
        number: d.invoice.number.clone(),
        kind: if d.invoice.is_credit_note() {
            "Credit note"
        } else {
            "Invoice"
        },
        period: d.invoice.period_label.clone(),
        issued: d.issued(),
        due: if d.invoice.is_credit_note() {
            "—".to_owned()
        } else {
            d.due()
        },
        total: d.total(),
        applied: d.applied(),
        open: d.open(),
        state: d.state_label(),
        badge,
        open_minor: d.open_minor(),
        reminders,
    }
}

pub struct PaymentRow {
    pub id: i64,
    pub merchant: String,
    pub value_date: String,
    pub reference: String,
    pub payer: String,
    pub amount: String,
    pub applied_to: String,
    pub reversed: Option<String>,
}

fn payment_row(p: &PaymentView) -> PaymentRow {
    PaymentRow {
        id: p.payment.id,
        merchant: p.merchant.clone(),
        value_date: p.payment.value_date.clone(),
        reference: p.payment.bank_reference.clone(),
        payer: p.payment.payer.clone(),
        amount: p.amount(),
        applied_to: p.applied_to(),
        reversed: p.reversed.as_ref().map(|r| r.reason.clone()),
    }
}

#[derive(Template)]
#[template(path = "merchant/billing.html")]
struct MerchantBillingPage {
    ctx: PageCtx,
    merchant: String,
    due: String,
    credit: String,
    overdue: bool,
    docs: Vec<DocRow>,
    payments: Vec<PaymentRow>,
    terms_days: i32,
    payee: String,
    instructions: Vec<String>,
    receivable: String,
    not_invoiced: String,
}

#[get("/merchant/billing")]
async fn merchant_billing(
    state: web::Data<AppState>,
    session: Session,
    user: MerchantUser,
) -> AppResult<HttpResponse> {
    let (uid, tz, now) = (user.0.id, user.0.time_zone, state.now());
    let (merchant, standing, reminders, terms, settings, receivable) = state
        .db(move |conn| {
            let (m, _) = crate::service::merchant::org_of(conn, uid)?;
            let mtz: chrono_tz::Tz = db::billing::merchant_zone(conn, m.id)?
                .parse()
                .unwrap_or(chrono_tz::Tz::UTC);
            let s = svc::standing(conn, m.id, rules::local_date(now, mtz))?;
            let terms = db::billing::terms_days(conn, m.id)?;
            let balances =
                db::ledger::balances(conn, crate::domain::ledger::Owner::Merchant(m.id))?;
            let receivable: std::collections::BTreeMap<String, i64> = balances
                .into_iter()
                .filter(|((k, _), _)| *k == crate::domain::ledger::AccountKind::Receivable)
                .map(|((_, c), v)| (c, v))
                .collect();
            Ok((
                m,
                s,
                db::billing::reminders(conn)?,
                terms,
                db::billing::settings(conn)?,
                receivable,
            ))
        })
        .await?;
    // What the ledger says is owed, beyond the open invoices: this month's commissions, not
    // invoiced yet (less credit).
    let mut not_invoiced = receivable.clone();
    for (c, v) in &standing.due {
        *not_invoiced.entry(c.clone()).or_default() -= v;
    }
    for (c, v) in &standing.credit {
        *not_invoiced.entry(c.clone()).or_default() += v;
    }
    let Standing {
        docs,
        payments,
        due,
        credit,
    } = standing;
    let overdue = docs.iter().any(|d| {
        matches!(
            d.state,
            rules::State::Overdue | rules::State::OverduePartlyPaid
        )
    });
    let mut rows: Vec<DocRow> = docs.iter().map(|d| doc_row(d, &reminders, tz)).collect();
    rows.reverse();
    pages::ok(&MerchantBillingPage {
        ctx: PageCtx::new(&session, Some(&user.0), "Billing", "billing"),
        merchant: merchant.name,
        due: per_currency(&due),
        credit: per_currency(&credit),
        overdue,
        docs: rows,
        payments: payments.iter().map(payment_row).collect(),
        terms_days: terms,
        payee: settings.payee,
        instructions: settings
            .payment_instructions
            .lines()
            .map(str::to_owned)
            .filter(|l| !l.trim().is_empty())
            .collect(),
        receivable: per_currency(&receivable),
        not_invoiced: per_currency(&not_invoiced),
    })
}

pub struct LineRow {
    pub description: String,
    pub amount: String,
    pub negative: bool,
    pub tax: bool,
}

pub struct AppliedRow {
    pub what: String,
    pub when: String,
    pub amount: String,
    pub counts: bool,
}

#[derive(Template)]
#[template(path = "billing/invoice.html")]
struct InvoicePage {
    ctx: PageCtx,
    doc: Doc,
    lines: Vec<LineRow>,
    subtotal: String,
    tax: String,
    total: String,
    instructions: Vec<String>,
    period_dates: String,
    applied: Vec<AppliedRow>,
    corrects: Option<(i64, String)>,
    corrections: Vec<(i64, String)>,
    back: &'static str,
    base: &'static str,
    can_credit: bool,
    credit_errors: FieldErrors,
    credit_amount: String,
    credit_reason: String,
    fee_left: String,
}

struct InvoiceData {
    doc: Doc,
    lines: Vec<InvoiceLine>,
    allocations: Vec<(
        db::billing::Allocation,
        Option<db::billing::Payment>,
        bool,
        Option<String>,
    )>,
    corrects: Option<(i64, String)>,
    corrections: Vec<(i64, String)>,
}

fn load_invoice(
    conn: &mut db::DbConn,
    now: chrono::NaiveDateTime,
    id: i64,
) -> AppResult<InvoiceData> {
    let inv = db::billing::invoice(conn, id)?.ok_or(AppError::NotFound)?;
    let s = svc::standing(conn, inv.merchant_id, rules::local_date(now, inv.zone()))?;
    let doc = s
        .docs
        .into_iter()
        .find(|d| d.invoice.id == id)
        .ok_or(AppError::NotFound)?;
    let reversals = db::billing::reversals(conn)?;
    let mut allocations = Vec::new();
    for a in db::billing::allocations_of(conn, inv.merchant_id)? {
        if a.invoice_id != id && a.credit_note_id != Some(id) {
            continue;
        }
        let payment = match a.payment_id {
            Some(p) => db::billing::payment(conn, p)?,
            None => None,
        };
        let counts = a.payment_id.is_none_or(|p| !reversals.contains_key(&p));
        let other = if a.credit_note_id == Some(id) {
            db::billing::invoice(conn, a.invoice_id)?.map(|i| i.number)
        } else {
            match a.credit_note_id {
                Some(cn) => db::billing::invoice(conn, cn)?.map(|i| i.number),
                None => None,
            }
        };
        allocations.push((a, payment, counts, other));
    }
    let corrects = match doc.invoice.corrects_id {
        Some(c) => db::billing::invoice(conn, c)?.map(|i| (i.id, i.number)),
        None => None,
    };
    let corrections = db::billing::corrections_of(conn, id)?
        .into_iter()
        .map(|i| (i.id, i.number))
        .collect();
    Ok(InvoiceData {
        lines: db::billing::lines_of(conn, id)?,
        doc,
        allocations,
        corrects,
        corrections,
    })
}

struct CreditRetry {
    errors: FieldErrors,
    amount: String,
    reason: String,
}

fn invoice_page(
    ctx: PageCtx,
    data: InvoiceData,
    tz: chrono_tz::Tz,
    finance: bool,
    retry: Option<CreditRetry>,
) -> InvoicePage {
    let cur = data.doc.invoice.currency.clone();
    let inv = &data.doc.invoice;
    let itz = inv.zone();
    let period_dates = if inv.source == "period" {
        let last_day = rules::local_date(inv.period_end, itz) - chrono::TimeDelta::days(1);
        let first = rules::Period::month_of(last_day).start;
        format!("{} to {}", svc::fmt_due(first), svc::fmt_due(last_day))
    } else {
        String::new()
    };
    let fee: i64 = data
        .lines
        .iter()
        .filter(|l| l.kind == "fee" || l.kind == "fee_returned")
        .map(|l| l.amount_minor)
        .sum();
    let applied = data
        .allocations
        .iter()
        .map(|(a, p, counts, other)| AppliedRow {
            what: match (p, other) {
                (Some(p), _) => format!("Payment {} ({})", p.bank_reference, p.payer),
                (None, Some(n)) if a.credit_note_id == Some(inv.id) => format!("Applied to {n}"),
                (None, Some(n)) => format!("Credit note {n}"),
                _ => "Credit".to_owned(),
            },
            when: svc::fmt_due(rules::local_date(a.created_at, tz)),
            amount: display_in(a.amount_minor, &cur),
            counts: *counts,
        })
        .collect();
    let retry = retry.unwrap_or(CreditRetry {
        errors: FieldErrors::new(),
        amount: String::new(),
        reason: String::new(),
    });
    InvoicePage {
        lines: data
            .lines
            .iter()
            .map(|l| LineRow {
                description: l.description.clone(),
                amount: display_in(l.amount_minor, &cur),
                negative: l.amount_minor < 0,
                tax: l.kind == "tax",
            })
            .collect(),
        subtotal: display_in(inv.subtotal_minor, &cur),
        tax: display_in(inv.tax_minor, &cur),
        total: display_in(inv.total_minor, &cur),
        instructions: inv
            .payment_instructions
            .lines()
            .map(str::to_owned)
            .filter(|l| !l.trim().is_empty())
            .collect(),
        period_dates,
        applied,
        corrects: data.corrects,
        corrections: data.corrections,
        back: if finance {
            "/finance/billing"
        } else {
            "/merchant/billing"
        },
        base: if finance {
            "/finance/billing"
        } else {
            "/merchant/billing"
        },
        can_credit: finance && !inv.is_credit_note() && fee > 0,
        fee_left: display_in(fee, &cur),
        credit_errors: retry.errors,
        credit_amount: retry.amount,
        credit_reason: retry.reason,
        ctx,
        doc: data.doc,
    }
}

#[get("/merchant/billing/invoices/{id}")]
async fn merchant_invoice(
    state: web::Data<AppState>,
    session: Session,
    user: MerchantUser,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    let (uid, id, now) = (user.0.id, path.into_inner(), state.now());
    let data = state
        .db(move |conn| {
            let (m, _) = crate::service::merchant::org_of(conn, uid)?;
            let data = load_invoice(conn, now, id)?;
            // Another merchant's invoice is a 404.
            if data.doc.invoice.merchant_id != m.id {
                return Err(AppError::NotFound);
            }
            Ok(data)
        })
        .await?;
    let title = data.doc.invoice.number.clone();
    pages::ok(&invoice_page(
        PageCtx::new(&session, Some(&user.0), title, "billing"),
        data,
        user.0.time_zone,
        false,
        None,
    ))
}

fn lines_csv(data: &InvoiceData) -> AppResult<Vec<u8>> {
    let inv = &data.doc.invoice;
    let mut w = csv::Writer::from_writer(Vec::new());
    let io = |e: csv::Error| AppError::Internal(anyhow::anyhow!("csv: {e}"));
    w.write_record([
        "document",
        "line",
        "kind",
        "campaign_id",
        "influencer_id",
        "description",
        "count",
        "amount",
        "currency",
    ])
    .map_err(io)?;
    for l in &data.lines {
        w.write_record([
            inv.number.clone(),
            l.line_no.to_string(),
            l.kind.clone(),
            l.campaign_id.map(|c| c.to_string()).unwrap_or_default(),
            l.influencer_id.map(|c| c.to_string()).unwrap_or_default(),
            l.description.clone(),
            l.count.to_string(),
            crate::domain::money::plain_in(l.amount_minor, &inv.currency),
            inv.currency.clone(),
        ])
        .map_err(io)?;
    }
    w.write_record([
        inv.number.clone(),
        String::new(),
        "total".to_owned(),
        String::new(),
        String::new(),
        format!("Total {}", inv.period_label),
        String::new(),
        crate::domain::money::plain_in(inv.total_minor, &inv.currency),
        inv.currency.clone(),
    ])
    .map_err(io)?;
    w.into_inner()
        .map_err(|e| AppError::Internal(anyhow::anyhow!("csv: {e}")))
}

#[get("/merchant/billing/invoices/{id}/lines.csv")]
async fn merchant_invoice_csv(
    state: web::Data<AppState>,
    user: MerchantUser,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    let (uid, id, now) = (user.0.id, path.into_inner(), state.now());
    let (bytes, number) = state
        .db(move |conn| {
            let (m, _) = crate::service::merchant::org_of(conn, uid)?;
            let data = load_invoice(conn, now, id)?;
            if data.doc.invoice.merchant_id != m.id {
                return Err(AppError::NotFound);
            }
            Ok((lines_csv(&data)?, data.doc.invoice.number.clone()))
        })
        .await?;
    Ok(pages::csv_download(bytes, &format!("{number}.csv")))
}

pub struct AgingView {
    pub merchant_id: i64,
    pub merchant: String,
    pub currency: String,
    pub cells: Vec<String>,
    /// Which buckets hold money.
    pub late: Vec<bool>,
    pub credit: String,
    pub overdue: bool,
}

/// Aging rows and per-currency totals as shown (finance's home and Billing page).
pub fn aging_views(aging: &svc::Aging) -> (Vec<AgingView>, Vec<(String, Vec<String>)>) {
    (
        aging
            .rows
            .iter()
            .map(|r| AgingView {
                merchant_id: r.merchant_id,
                merchant: r.merchant.clone(),
                currency: r.currency.clone(),
                cells: r.cells(),
                late: r.buckets.iter().map(|b| *b != 0).collect(),
                credit: r.credit(),
                overdue: r.overdue_minor() > 0,
            })
            .collect(),
        aging
            .totals
            .iter()
            .map(|(c, t)| (c.clone(), t.iter().map(|v| display_in(*v, c)).collect()))
            .collect(),
    )
}

pub struct TermsRow {
    pub merchant_id: i64,
    pub merchant: String,
    pub terms: i32,
}

#[derive(Template)]
#[template(path = "finance/billing.html")]
struct FinanceBillingPage {
    ctx: PageCtx,
    /// The merchant the page is narrowed to (`?merchant=ID`).
    only: Option<String>,
    cash: Vec<(String, String)>,
    aging: Vec<AgingView>,
    aging_totals: Vec<(String, Vec<String>)>,
    payments: Vec<PaymentRow>,
    merchants: Vec<SelectOption>,
    currencies: Vec<SelectOption>,
    form: PaymentForm,
    errors: FieldErrors,
    terms: Vec<TermsRow>,
    can_act: bool,
    /// Documents a billing pass would issue now (counted on installs of up to 500 merchants;
    /// beyond, the page does not run a dry pass on every view).
    due_now: Option<usize>,
    docs: Vec<(String, DocRow)>,
}

async fn finance_page(
    state: &AppState,
    session: &Session,
    user: &FinanceUser,
    form: PaymentForm,
    errors: FieldErrors,
    only: Option<i64>,
) -> AppResult<FinanceBillingPage> {
    let now = state.now();
    let (aging, payments, merchants, cash, terms, due_now, docs) = state
        .db(move |conn| {
            let aging = svc::aging(conn, now)?;
            let names = db::billing::merchant_names(conn)?;
            let mut payments = Vec::new();
            let mut docs = Vec::new();
            let reminders = db::billing::reminders(conn)?;
            let mut ids: Vec<i64> = names.keys().copied().collect();
            ids.sort_unstable();
            for m in &ids {
                let s = svc::standing(conn, *m, rules::local_date(now, chrono_tz::Tz::UTC))?;
                payments.extend(s.payments.iter().map(payment_row));
                for d in s.docs.iter().filter(|d| d.open_minor() > 0) {
                    docs.push((
                        names.get(m).cloned().unwrap_or_default(),
                        doc_row(d, &reminders, chrono_tz::Tz::UTC),
                    ));
                }
            }
            payments.sort_by_key(|p| std::cmp::Reverse(p.id));
            payments.truncate(50);
            let cash: Vec<(String, String)> =
                db::ledger::balances(conn, crate::domain::ledger::Owner::Platform)?
                    .into_iter()
                    .filter(|((k, _), _)| *k == crate::domain::ledger::AccountKind::Cash)
                    .map(|((_, c), v)| (c.clone(), display_in(v, &c)))
                    .collect();
            let set = db::billing::all_terms(conn)?;
            let mut terms: Vec<TermsRow> = names
                .iter()
                .map(|(id, name)| TermsRow {
                    merchant_id: *id,
                    merchant: name.clone(),
                    terms: set.get(id).copied().unwrap_or(rules::DEFAULT_TERMS_DAYS),
                })
                .collect();
            terms.sort_by(|a, b| a.merchant.cmp(&b.merchant));
            let due_now = if names.len() <= 500 {
                Some(svc::issue_due(conn, now, "", true)?.len())
            } else {
                None
            };
            Ok((aging, payments, names, cash, terms, due_now, docs))
        })
        .await?;
    let mut merchant_opts: Vec<SelectOption> = merchants
        .iter()
        .map(|(id, name)| SelectOption {
            value: id.to_string(),
            label: name.clone(),
            selected: form.merchant_id == id.to_string(),
        })
        .collect();
    merchant_opts.sort_by(|a, b| a.label.cmp(&b.label));
    merchant_opts.insert(
        0,
        SelectOption {
            value: String::new(),
            label: "Choose the merchant".to_owned(),
            selected: form.merchant_id.is_empty(),
        },
    );
    let currencies = Currency::all()
        .iter()
        .map(|c| SelectOption {
            value: c.code().to_owned(),
            label: format!("{} ({})", c.code(), c.name()),
            selected: form.currency == c.code() || (form.currency.is_empty() && c.code() == "CNY"),
        })
        .collect();
    let (views, totals) = aging_views(&aging);
    let only_name = only.and_then(|m| merchants.get(&m).cloned());
    let (mut docs, mut payments, mut views) = (docs, payments, views);
    if let Some(m) = only {
        let name = only_name.clone().unwrap_or_default();
        docs.retain(|(n, _)| *n == name);
        payments.retain(|p| p.merchant == name);
        views.retain(|v| v.merchant_id == m);
    }
    Ok(FinanceBillingPage {
        ctx: PageCtx::new(session, Some(&user.0), "Billing", "billing"),
        only: only_name,
        cash,
        aging: views,
        aging_totals: totals,
        payments,
        merchants: merchant_opts,
        currencies,
        form,
        errors,
        terms,
        can_act: acting_finance(state, user).is_ok(),
        due_now,
        docs,
    })
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct BillingQuery {
    merchant: String,
}

#[get("/finance/billing")]
async fn finance_billing(
    state: web::Data<AppState>,
    session: Session,
    user: FinanceUser,
    query: web::Query<BillingQuery>,
) -> AppResult<HttpResponse> {
    let q = query.into_inner();
    let only = if q.merchant.trim().is_empty() {
        None
    } else {
        match q.merchant.trim().parse::<i64>() {
            Ok(id) => Some(id),
            Err(_) => {
                let mut e = FieldErrors::new();
                e.add(
                    "merchant",
                    "A merchant is given by its number (?merchant=3).",
                );
                return Err(AppError::Validation(e));
            }
        }
    };
    let form = PaymentForm {
        value_date: state.now().date().format("%Y-%m-%d").to_string(),
        merchant_id: only.map(|m| m.to_string()).unwrap_or_default(),
        ..Default::default()
    };
    let page = finance_page(&state, &session, &user, form, FieldErrors::new(), only).await?;
    pages::ok(&page)
}

#[post("/finance/billing/payments")]
async fn record_payment(
    state: web::Data<AppState>,
    session: Session,
    user: FinanceUser,
    form: CsrfForm<PaymentForm>,
) -> AppResult<HttpResponse> {
    acting_finance(&state, &user)?;
    let form = form.0;
    let (now, base, uid, f) = (state.now(), state.base_url.clone(), user.0.id, form.clone());
    let outcome = state
        .db(move |conn| {
            let today = rules::local_date(now, chrono_tz::Tz::UTC);
            match svc::validate_payment(conn, &f, today)? {
                Ok(valid) => {
                    let id = svc::record_payment(conn, now, &base, uid, &valid, None)?;
                    let s = svc::standing(conn, valid.merchant_id, today)?;
                    let applied = s
                        .payments
                        .iter()
                        .find(|p| p.payment.id == id)
                        .map(PaymentView::applied_to)
                        .unwrap_or_default();
                    Ok(Ok((valid.amount.display(), applied)))
                }
                Err(e) => Ok(Err(e)),
            }
        })
        .await;
    let errors = match outcome {
        Ok(Ok((amount, applied))) => {
            state.wake_mailer();
            session::flash(
                &session,
                "success",
                format!("Payment of {amount} recorded: applied to {applied}."),
            );
            return Ok(pages::redirect("/finance/billing"));
        }
        Ok(Err(errors)) => errors,
        Err(AppError::Conflict(msg)) => {
            let mut e = FieldErrors::new();
            e.add("bank_reference", msg);
            e
        }
        Err(e) => return Err(e),
    };
    let page = finance_page(&state, &session, &user, form, errors, None).await?;
    pages::invalid(&page)
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct ReasonForm {
    reason: String,
}

#[post("/finance/billing/payments/{id}/reverse")]
async fn reverse_payment(
    state: web::Data<AppState>,
    session: Session,
    user: FinanceUser,
    path: web::Path<i64>,
    form: CsrfForm<ReasonForm>,
) -> AppResult<HttpResponse> {
    acting_finance(&state, &user)?;
    let (now, base, uid, id, reason) = (
        state.now(),
        state.base_url.clone(),
        user.0.id,
        path.into_inner(),
        form.0.reason,
    );
    match state
        .db(move |conn| svc::reverse_payment(conn, now, &base, uid, id, &reason))
        .await
    {
        Ok(()) => {
            state.wake_mailer();
            session::flash(
                &session,
                "success",
                "Payment reversed: the invoices it paid are open again and the merchant is told.",
            );
        }
        Err(AppError::Validation(e)) => {
            let msg = e
                .iter()
                .map(|f| f.message.clone())
                .collect::<Vec<_>>()
                .join(" ");
            session::flash(&session, "error", format!("Not reversed: {msg}"));
        }
        Err(AppError::Conflict(msg)) => session::flash(&session, "error", msg),
        Err(e) => return Err(e),
    }
    Ok(pages::redirect("/finance/billing#payments"))
}

#[get("/finance/billing/invoices/{id}")]
async fn finance_invoice(
    state: web::Data<AppState>,
    session: Session,
    user: FinanceUser,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    let (id, now) = (path.into_inner(), state.now());
    let data = state.db(move |conn| load_invoice(conn, now, id)).await?;
    let title = data.doc.invoice.number.clone();
    pages::ok(&invoice_page(
        PageCtx::new(&session, Some(&user.0), title, "billing"),
        data,
        user.0.time_zone,
        true,
        None,
    ))
}

#[get("/finance/billing/invoices/{id}/lines.csv")]
async fn finance_invoice_csv(
    state: web::Data<AppState>,
    _user: FinanceUser,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    let (id, now) = (path.into_inner(), state.now());
    let (bytes, number) = state
        .db(move |conn| {
            let data = load_invoice(conn, now, id)?;
            Ok((lines_csv(&data)?, data.doc.invoice.number.clone()))
        })
        .await?;
    Ok(pages::csv_download(bytes, &format!("{number}.csv")))
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct CreditForm {
    amount: String,
    reason: String,
}

#[post("/finance/billing/invoices/{id}/credit")]
async fn credit_note(
    state: web::Data<AppState>,
    session: Session,
    user: FinanceUser,
    path: web::Path<i64>,
    form: CsrfForm<CreditForm>,
) -> AppResult<HttpResponse> {
    acting_finance(&state, &user)?;
    let (now, base, uid, id) = (
        state.now(),
        state.base_url.clone(),
        user.0.id,
        path.into_inner(),
    );
    let f = form.0;
    let (amount, reason) = (f.amount.clone(), f.reason.clone());
    match state
        .db(move |conn| svc::issue_correction(conn, now, &base, uid, id, &amount, &reason))
        .await
    {
        Ok(cn) => {
            state.wake_mailer();
            session::flash(
                &session,
                "success",
                "Credit note issued and emailed to the merchant's owner.",
            );
            Ok(pages::redirect(&format!("/finance/billing/invoices/{cn}")))
        }
        Err(AppError::Validation(errors)) => {
            let data = state.db(move |conn| load_invoice(conn, now, id)).await?;
            let title = data.doc.invoice.number.clone();
            pages::invalid(&invoice_page(
                PageCtx::new(&session, Some(&user.0), title, "billing"),
                data,
                user.0.time_zone,
                true,
                Some(CreditRetry {
                    errors,
                    amount: f.amount,
                    reason: f.reason,
                }),
            ))
        }
        Err(e) => Err(e),
    }
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct TermsForm {
    merchant_id: String,
    terms_days: String,
}

#[post("/finance/billing/terms")]
async fn set_terms(
    state: web::Data<AppState>,
    session: Session,
    user: FinanceUser,
    form: CsrfForm<TermsForm>,
) -> AppResult<HttpResponse> {
    let f = form.0;
    let Ok(merchant_id) = f.merchant_id.trim().parse::<i64>() else {
        return Err(AppError::BadRequest("Choose a merchant.".to_owned()));
    };
    let days = match f.terms_days.trim().parse::<i32>() {
        Ok(d) if (0..=rules::MAX_TERMS_DAYS).contains(&d) => d,
        _ => {
            session::flash(
                &session,
                "error",
                format!(
                    "Payment terms are a whole number of days from 0 to {}; nothing changed.",
                    rules::MAX_TERMS_DAYS
                ),
            );
            return Ok(pages::redirect("/finance/billing#terms"));
        }
    };
    let (now, uid) = (state.now(), user.0.id);
    let name = state
        .db(move |conn| {
            let m = db::merchants::find(conn, merchant_id)?.ok_or(AppError::NotFound)?;
            db::write_tx(conn, |conn| {
                db::billing::set_terms(conn, merchant_id, days, uid, now)?;
                crate::service::audit(
                    conn,
                    now,
                    Some(uid),
                    "billing.terms",
                    ("merchant", merchant_id),
                    &format!("payment terms of {} set to net {days} days", m.name),
                )?;
                Ok::<_, AppError>(())
            })?;
            Ok(m.name)
        })
        .await?;
    session::flash(
        &session,
        "success",
        format!(
            "{name} now pays net {days} days; invoices issued from now on are due {days} days after issue."
        ),
    );
    Ok(pages::redirect("/finance/billing#terms"))
}

#[post("/finance/billing/issue")]
async fn issue_now(
    state: web::Data<AppState>,
    session: Session,
    user: FinanceUser,
    _form: CsrfForm<Empty>,
) -> AppResult<HttpResponse> {
    acting_finance(&state, &user)?;
    let (now, base) = (state.now(), state.base_url.clone());
    let issued = state
        .db(move |conn| svc::issue_due(conn, now, &base, false))
        .await?;
    state.wake_mailer();
    let msg = if issued.is_empty() {
        "Nothing to invoice: every closed month is invoiced.".to_owned()
    } else {
        format!(
            "Issued {}: {}.",
            pages::count(issued.len(), "document", "documents"),
            issued
                .iter()
                .map(|i| format!("{} ({})", i.number, i.merchant))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    session::flash(&session, "success", msg);
    Ok(pages::redirect("/finance/billing"))
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
struct SettingsForm {
    payee: String,
    payment_instructions: String,
    tax_rate: String,
    tax_label: String,
}

#[derive(Template)]
#[template(path = "admin/billing.html")]
struct AdminBillingPage {
    ctx: PageCtx,
    form: SettingsForm,
    errors: FieldErrors,
    updated: String,
}

#[get("/admin/billing")]
async fn admin_settings(
    state: web::Data<AppState>,
    session: Session,
    user: AdminUser,
) -> AppResult<HttpResponse> {
    let s = state.db(|conn| Ok(db::billing::settings(conn)?)).await?;
    pages::ok(&AdminBillingPage {
        ctx: PageCtx::new(&session, Some(&user.0), "Billing settings", "billing"),
        updated: s
            .updated_at
            .map(|t| pages::fmt_datetime(t, user.0.time_zone))
            .unwrap_or_default(),
        form: SettingsForm {
            payee: s.payee,
            payment_instructions: s.payment_instructions,
            tax_rate: crate::domain::rate::RateBps::saturating(s.tax_rate_bps).form_value(),
            tax_label: s.tax_label,
        },
        errors: FieldErrors::new(),
    })
}

#[post("/admin/billing")]
async fn save_admin_settings(
    state: web::Data<AppState>,
    session: Session,
    user: AdminUser,
    form: CsrfForm<SettingsForm>,
) -> AppResult<HttpResponse> {
    let f = form.0;
    let mut errors = FieldErrors::new();
    let payee = f.payee.trim().to_owned();
    if payee.is_empty() {
        errors.add(
            "payee",
            "Enter the name merchants pay (it is printed on every invoice).",
        );
    } else if payee.chars().count() > 140 {
        errors.add("payee", "Keep it to 140 characters.");
    }
    let instructions = f.payment_instructions.trim().replace("\r\n", "\n");
    if instructions.is_empty() {
        errors.add(
            "payment_instructions",
            "Enter how merchants pay: bank, account name and number, SWIFT/IBAN.",
        );
    } else if instructions.chars().count() > 1000 || instructions.lines().count() > 12 {
        errors.add(
            "payment_instructions",
            "Keep it to 12 lines and 1,000 characters.",
        );
    }
    let rate = if f.tax_rate.trim().is_empty() {
        Some(0)
    } else {
        match crate::domain::rate::RateBps::parse_percent(&f.tax_rate) {
            Ok(r) => Some(r.bps()),
            Err(e) => {
                errors.add("tax_rate", e);
                None
            }
        }
    };
    let label = f.tax_label.trim().to_owned();
    if label.is_empty() || label.chars().count() > 30 {
        errors.add(
            "tax_label",
            "Name the tax in up to 30 characters (e.g. VAT, GST).",
        );
    }
    for (field, text) in [("payee", &payee), ("tax_label", &label)] {
        if crate::domain::validate::has_control(text) {
            errors.add(field, "Remove the control or invisible characters.");
        }
    }
    let Some(rate) = rate.filter(|_| errors.is_empty()) else {
        return pages::invalid(&AdminBillingPage {
            ctx: PageCtx::new(&session, Some(&user.0), "Billing settings", "billing"),
            form: f,
            errors,
            updated: String::new(),
        });
    };
    let (now, uid) = (state.now(), user.0.id);
    state
        .db(move |conn| {
            db::write_tx(conn, |conn| {
                db::billing::save_settings(
                    conn,
                    &db::billing::Settings {
                        payee: payee.clone(),
                        payment_instructions: instructions.clone(),
                        tax_rate_bps: rate,
                        tax_label: label.clone(),
                        updated_at: None,
                    },
                    uid,
                    now,
                )?;
                crate::service::audit(
                    conn,
                    now,
                    Some(uid),
                    "billing.settings",
                    ("platform", 0),
                    &format!(
                        "payee {payee}; {label} {}",
                        crate::domain::rate::show_bps(rate)
                    ),
                )?;
                Ok::<_, AppError>(())
            })
        })
        .await?;
    session::flash(
        &session,
        "success",
        "Billing settings saved: invoices issued from now on carry them (issued ones keep theirs).",
    );
    Ok(pages::redirect("/admin/billing"))
}
