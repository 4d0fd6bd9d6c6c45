//! Merchant billing through the services: invoices for each closed month from the ledger,
//! issued once whoever asks, payments applied oldest first with credit, reversals, credit
//! notes, reminders, and `tandem ledger check` (with its tamper cases) after every step.

use chrono::{Datelike, NaiveDate, TimeDelta};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use tandem::db::{self, DbConn};
use tandem::domain::billing::State;
use tandem::error::AppError;
use tandem::service::billing::{self, PaymentForm};

use crate::ledger_tamper::{behind_the_back, demo_books};

fn breaks(conn: &mut DbConn) -> Vec<String> {
    tandem::service::orders::check_ledger(conn)
        .expect("ledger read")
        .breaks
}

fn clean(conn: &mut DbConn) {
    let b = breaks(conn);
    assert!(b.is_empty(), "{b:#?}");
}

fn finance(conn: &mut DbConn) -> i64 {
    tandem::service::accounts::add_staff_user(
        conn,
        chrono::Utc::now().naive_utc(),
        tandem::domain::account::Role::Finance,
        "billing@finance.test",
        "correct horse battery staple 42",
        "Billing Finance",
    )
    .map(|u| u.id)
    .or_else(|_| db::users::find_by_email(conn, "billing@finance.test").map(|u| u.unwrap().id))
    .unwrap()
}

/// Lumière Beauty (a 10 % platform fee, VAT on it, its invoice partly paid) and its
/// documents.
fn merchant_with_invoices(conn: &mut DbConn) -> (i64, Vec<db::billing::Invoice>) {
    let all = db::billing::all_invoices(conn).unwrap();
    let m = db::merchants::all(conn)
        .unwrap()
        .into_iter()
        .find(|m| m.name == "Lumière Beauty")
        .unwrap()
        .id;
    (m, all.into_iter().filter(|i| i.merchant_id == m).collect())
}

fn pay(
    conn: &mut DbConn,
    now: chrono::NaiveDateTime,
    actor: i64,
    merchant: i64,
    amount: &str,
    reference: &str,
    invoice: &str,
) -> Result<i64, AppError> {
    let form = PaymentForm {
        merchant_id: merchant.to_string(),
        currency: "CNY".into(),
        amount: amount.into(),
        value_date: now.date().format("%Y-%m-%d").to_string(),
        bank_reference: reference.into(),
        payer: "Jade Leaf Tea Co.".into(),
        invoice: invoice.into(),
    };
    let valid =
        billing::validate_payment(conn, &form, now.date())?.map_err(AppError::Validation)?;
    billing::record_payment(conn, now, "http://localhost", actor, &valid, None)
}

#[test]
fn each_closed_month_is_invoiced_once_and_totals_its_journals() {
    let mut b = demo_books();
    let conn = &mut b.conn;
    let now = chrono::Utc::now().naive_utc();
    let before = db::billing::all_invoices(conn).unwrap().len();
    let issued = billing::issue_due(conn, now, "http://localhost", false).unwrap();
    assert!(
        issued.is_empty(),
        "the demo's months are invoiced already: {issued:?}"
    );
    // A month later, the current month closes too: one more document per merchant and
    // currency with journals in it; asking again issues nothing.
    let later = now + TimeDelta::days(40);
    let dry = billing::issue_due(conn, later, "http://localhost", true).unwrap();
    assert_eq!(
        db::billing::all_invoices(conn).unwrap().len(),
        before,
        "a dry run writes nothing"
    );
    let issued = billing::issue_due(conn, later, "http://localhost", false).unwrap();
    assert_eq!(
        dry.iter()
            .map(|i| (&i.number, i.total_minor))
            .collect::<Vec<_>>(),
        issued
            .iter()
            .map(|i| (&i.number, i.total_minor))
            .collect::<Vec<_>>(),
        "the dry run tells what is issued"
    );
    assert!(
        billing::issue_due(conn, later, "http://localhost", false)
            .unwrap()
            .is_empty()
    );
    for i in &issued {
        let inv = db::billing::invoice(conn, i.invoice_id.unwrap())
            .unwrap()
            .unwrap();
        let account = tandem::db::ledger::account_id(
            conn,
            tandem::domain::ledger::Owner::Merchant(inv.merchant_id),
            tandem::domain::ledger::AccountKind::Receivable,
            &inv.currency,
        )
        .unwrap();
        let moved = db::billing::window_receivable(conn, account, inv.period_start, inv.period_end)
            .unwrap();
        assert_eq!(inv.subtotal_minor, moved, "{}", inv.number);
        let lines: i64 = db::billing::lines_of(conn, inv.id)
            .unwrap()
            .iter()
            .map(|l| l.amount_minor)
            .sum();
        assert_eq!(lines, inv.total_minor);
        assert_eq!(inv.year, later.year());
    }
    // Numbers: gapless per series and year.
    let mut seqs: Vec<(String, i32, i64)> = db::billing::all_invoices(conn)
        .unwrap()
        .into_iter()
        .map(|i| (i.prefix, i.year, i.seq))
        .collect();
    seqs.sort();
    for w in seqs.windows(2) {
        if w[0].0 == w[1].0 && w[0].1 == w[1].1 {
            assert_eq!(w[1].2, w[0].2 + 1, "{seqs:?}");
        }
    }
    clean(conn);
}

#[test]
fn payments_go_to_the_oldest_invoices_credit_carries_and_a_bounce_reopens() {
    let mut b = demo_books();
    let conn = &mut b.conn;
    let now = chrono::Utc::now().naive_utc();
    let actor = finance(conn);
    let (m, _) = merchant_with_invoices(conn);
    let today = now.date();
    let s = billing::standing(conn, m, today).unwrap();
    let due: i64 = s.due.get("CNY").copied().unwrap_or(0);
    assert!(due > 0, "the demo merchant owes on its invoices: {s:?}");
    let credit_before = s.credit.get("CNY").copied().unwrap_or(0);

    // More than is due: every open invoice is paid, the rest is credit.
    let over = tandem::domain::money::plain_in(due + 12_34, "CNY");
    let p = pay(conn, now, actor, m, &over, "BANK-REF-1", "").unwrap();
    let s = billing::standing(conn, m, today).unwrap();
    assert_eq!(s.due.get("CNY").copied().unwrap_or(0), 0);
    assert_eq!(
        s.credit.get("CNY").copied().unwrap_or(0),
        credit_before + 12_34
    );
    assert!(
        s.docs
            .iter()
            .filter(|d| !d.invoice.is_credit_note())
            .all(|d| d.state == State::Paid)
    );
    clean(conn);

    // The same bank reference again is refused; nothing is posted twice.
    let again = pay(conn, now, actor, m, "1.00", "BANK-REF-1", "");
    assert!(
        matches!(again, Err(AppError::Conflict(ref t)) if t.contains("recorded once")),
        "{again:?}"
    );
    clean(conn);

    // The transfer bounces: what it paid is open again, with the reason on its journal.
    billing::reverse_payment(
        conn,
        now,
        "http://localhost",
        actor,
        p,
        "returned by the bank",
    )
    .unwrap();
    let s = billing::standing(conn, m, today).unwrap();
    assert_eq!(
        s.due.get("CNY").copied().unwrap_or(0),
        due - credit_before.min(due)
    );
    let twice = billing::reverse_payment(conn, now, "http://localhost", actor, p, "again");
    assert!(matches!(twice, Err(AppError::Conflict(_))), "{twice:?}");
    let empty = billing::reverse_payment(conn, now, "http://localhost", actor, p, "  ");
    assert!(matches!(empty, Err(AppError::Validation(_))), "{empty:?}");
    clean(conn);

    // A short payment naming the newest invoice pays part of it first.
    let s = billing::standing(conn, m, today).unwrap();
    let newest = s
        .docs
        .iter()
        .rev()
        .find(|d| !d.invoice.is_credit_note() && d.open_minor() > 0)
        .expect("an open invoice")
        .clone();
    pay(
        conn,
        now,
        actor,
        m,
        "1.00",
        "BANK-REF-2",
        &newest.invoice.number.to_lowercase(),
    )
    .unwrap();
    let s = billing::standing(conn, m, today).unwrap();
    let d = s
        .docs
        .iter()
        .find(|d| d.invoice.id == newest.invoice.id)
        .unwrap();
    assert_eq!(d.applied_minor, newest.applied_minor + 1_00);
    assert!(matches!(
        d.state,
        State::PartlyPaid | State::OverduePartlyPaid | State::Paid
    ));
    clean(conn);

    // Bad input names its field.
    let bad = pay(
        conn,
        now,
        actor,
        m,
        "1.001",
        "BANK-REF-3",
        "INV-1999-000001",
    );
    match bad {
        Err(AppError::Validation(e)) => {
            let fields: Vec<&str> = e.iter().map(|f| f.field.as_str()).collect();
            assert_eq!(fields, ["amount", "invoice"], "{e:?}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_correction_credits_the_fee_and_the_check_catches_tampering() {
    let mut b = demo_books();
    let conn = &mut b.conn;
    let now = chrono::Utc::now().naive_utc();
    let actor = finance(conn);
    let (_, invoices) = merchant_with_invoices(conn);
    let inv = invoices
        .iter()
        .find(|i| i.kind == "invoice" && i.total_minor > 0)
        .unwrap()
        .clone();
    let too_much = billing::issue_correction(
        conn,
        now,
        "http://localhost",
        actor,
        inv.id,
        "999999",
        "goodwill",
    );
    assert!(
        matches!(too_much, Err(AppError::Validation(_))),
        "{too_much:?}"
    );
    let cn = billing::issue_correction(
        conn,
        now,
        "http://localhost",
        actor,
        inv.id,
        "0.50",
        "late tracking goodwill",
    )
    .unwrap();
    let cn = db::billing::invoice(conn, cn).unwrap().unwrap();
    assert!(
        cn.number.starts_with(&format!("CN-{}-", now.year())),
        "{}",
        cn.number
    );
    assert_eq!(cn.corrects_id, Some(inv.id));
    clean(conn);

    // Issued documents are immutable.
    let refused = conn.batch_execute(&format!(
        "UPDATE invoice_lines SET amount_minor = amount_minor + 1 WHERE invoice_id = {}",
        inv.id
    ));
    assert!(
        refused.is_err(),
        "the database refuses to edit an issued invoice"
    );

    // Behind the database's back, each tamper is caught by the check.
    let tampers = [
        format!("UPDATE invoice_lines SET amount_minor = amount_minor + 1 WHERE invoice_id = {}", inv.id),
        format!("UPDATE invoices SET total_minor = total_minor - 1, subtotal_minor = subtotal_minor - 1 WHERE id = {}", inv.id),
        format!("DELETE FROM invoice_lines WHERE invoice_id = {}; DELETE FROM invoice_allocations WHERE invoice_id = {} OR credit_note_id = {}; DELETE FROM invoices WHERE id = {}", cn.id, cn.id, cn.id, cn.id),
        "UPDATE invoices SET seq = seq + 1, number = 'INV-' || year || '-' || substr('000000' || (seq + 1), -6) WHERE id = (SELECT MAX(id) FROM invoices WHERE prefix = 'INV')".to_owned(),
    ];
    for t in tampers {
        let mut fresh = demo_books();
        let c = &mut fresh.conn;
        let actor = finance(c);
        let (_, invs) = merchant_with_invoices(c);
        let target = invs
            .iter()
            .find(|i| i.kind == "invoice" && i.total_minor > 0)
            .unwrap()
            .id;
        let credit = billing::issue_correction(
            c,
            now,
            "http://localhost",
            actor,
            target,
            "0.50",
            "goodwill",
        )
        .unwrap();
        let t = t
            .replace(&inv.id.to_string(), &target.to_string())
            .replace(&cn.id.to_string(), &credit.to_string());
        clean(c);
        behind_the_back(c, &t);
        assert!(!breaks(c).is_empty(), "the check misses: {t}");
    }
    // A payment whose amount changed behind the back.
    let mut fresh = demo_books();
    let c = &mut fresh.conn;
    let actor = finance(c);
    let (m, _) = merchant_with_invoices(c);
    let p = pay(c, now, actor, m, "10.00", "BANK-REF-T", "").unwrap();
    clean(c);
    behind_the_back(
        c,
        &format!("UPDATE merchant_payments SET amount_minor = 900 WHERE id = {p}"),
    );
    let b = breaks(c);
    assert!(
        b.iter().any(|l| l.contains(&format!("payment {p}"))),
        "{b:#?}"
    );
}

#[test]
fn reminders_go_on_the_due_date_and_a_week_later_once_each() {
    let mut b = demo_books();
    let conn = &mut b.conn;
    let now = chrono::Utc::now().naive_utc();
    let later = now + TimeDelta::days(40);
    billing::issue_due(conn, later, "http://localhost", false).unwrap();
    let newest = db::billing::all_invoices(conn)
        .unwrap()
        .into_iter()
        .filter(|i| i.kind == "invoice" && i.total_minor > 0)
        .max_by_key(|i| i.id)
        .unwrap();
    let due: NaiveDate = newest.due_date();
    let at = |d: NaiveDate| {
        tandem::domain::billing::local_midnight(d, newest.zone()) + TimeDelta::hours(10)
    };
    let reminded = |conn: &mut DbConn| -> Vec<String> {
        db::billing::reminders(conn)
            .unwrap()
            .get(&newest.id)
            .map(|v| v.iter().map(|(k, _)| k.clone()).collect())
            .unwrap_or_default()
    };
    billing::send_reminders(conn, at(due - TimeDelta::days(1)), "http://localhost").unwrap();
    assert!(reminded(conn).is_empty());
    billing::send_reminders(conn, at(due), "http://localhost").unwrap();
    billing::send_reminders(conn, at(due), "http://localhost").unwrap();
    assert_eq!(reminded(conn), ["due"]);
    billing::send_reminders(conn, at(due + TimeDelta::days(7)), "http://localhost").unwrap();
    assert_eq!(reminded(conn), ["due", "overdue"]);
    let subjects: Vec<String> = {
        use tandem::db::schema::outbox_emails as o;
        o::table.select(o::subject).load(conn).unwrap()
    };
    assert_eq!(
        subjects
            .iter()
            .filter(|s| s.contains(&newest.number) && s.contains("due today"))
            .count(),
        1
    );
    assert_eq!(
        subjects
            .iter()
            .filter(|s| s.contains(&newest.number) && s.contains("overdue"))
            .count(),
        1
    );
}

#[test]
fn pay_when_paid_holds_commissions_until_their_invoice_is_paid() {
    let mut b = demo_books();
    let conn = &mut b.conn;
    let now = chrono::Utc::now().naive_utc();
    let actor = finance(conn);
    // Every creator can be paid, so only pay-when-paid decides.
    {
        use tandem::db::schema::influencers;
        let ids: Vec<i64> = influencers::table
            .select(influencers::id)
            .load(conn)
            .unwrap();
        for id in ids {
            tandem::db::influencers::set_payout(conn, id, "bank", "CNY", "{}", now).unwrap();
        }
    }
    let off = tandem::service::payouts::plan_for(conn, now, "CNY", 0, false, None).unwrap();
    let on = tandem::service::payouts::plan_for(conn, now, "CNY", 0, true, None).unwrap();
    assert!(off.waiting.is_empty());
    assert!(
        !on.waiting.is_empty(),
        "Lumière's invoice is only partly paid"
    );
    let lumiere = db::merchants::all(conn)
        .unwrap()
        .into_iter()
        .find(|m| m.name == "Lumière Beauty")
        .unwrap()
        .id;
    let inv = db::billing::invoices_of(conn, lumiere)
        .unwrap()
        .into_iter()
        .next()
        .unwrap();
    let reason = format!(
        "waiting for Lumière Beauty to pay invoice {} (due {})",
        inv.number,
        billing::fmt_due(inv.due_date())
    );
    assert!(
        on.waiting.iter().any(|w| w.reason == reason),
        "{:#?}",
        on.waiting
    );
    // What waits is exactly what the plan without pay-when-paid paid more.
    let waits: i64 = on.waiting.iter().map(|w| w.amount_minor).sum();
    assert_eq!(
        off.total_minor() - on.total_minor()
            + on.left_out.iter().map(|l| l.available_minor).sum::<i64>()
            - off.left_out.iter().map(|l| l.available_minor).sum::<i64>(),
        waits
    );
    // Lumière pays the rest of its invoice: its November commissions are payable.
    let s = billing::standing(conn, lumiere, now.date()).unwrap();
    let open = s
        .docs
        .iter()
        .find(|d| d.invoice.id == inv.id)
        .unwrap()
        .open_minor();
    pay(
        conn,
        now,
        actor,
        lumiere,
        &tandem::domain::money::plain_in(open, "CNY"),
        "LB-REST-1",
        &inv.number,
    )
    .unwrap();
    let after = tandem::service::payouts::plan_for(conn, now, "CNY", 0, true, None).unwrap();
    assert!(
        !after.waiting.iter().any(|w| w.reason == reason),
        "{:#?}",
        after.waiting
    );
    assert!(after.total_minor() > on.total_minor());
    clean(conn);
}

#[test]
fn months_billed_in_one_pass_follow_each_other() {
    let mut b = demo_books();
    let conn = &mut b.conn;
    let now = chrono::Utc::now().naive_utc();
    // An order recorded next month (placed today: reported late), then billing is off until
    // two more months have closed: December and January are invoiced apart in one pass.
    let (merchant, coupon, campaign): (i64, String, i64) = {
        use tandem::db::schema::collaborations as c;
        c::table
            .filter(c::state.eq("active"))
            .filter(c::coupon_code.is_not_null())
            .select((
                c::merchant_id,
                c::coupon_code.assume_not_null(),
                c::campaign_id,
            ))
            .first(conn)
            .unwrap()
    };
    let sku: String = {
        // One of the orders the creator already earned on in this campaign.
        use tandem::db::schema::{conversion_lines as l, conversions as cv};
        l::table
            .inner_join(cv::table)
            .filter(cv::campaign_id.eq(campaign))
            .filter(l::commission_minor.gt(0))
            .select(l::sku)
            .first(conn)
            .unwrap()
    };
    let currency = db::merchants::find(conn, merchant)
        .unwrap()
        .unwrap()
        .default_currency;
    let next_month = tandem::domain::billing::Period::month_of(now.date()).end;
    let recorded = next_month.and_hms_opt(12, 0, 0).unwrap() + TimeDelta::days(3);
    let order = tandem::domain::order::OrderInput {
        order_id: "LATE-REPORTED-1".into(),
        currency: tandem::domain::money::Currency::parse(&currency).unwrap(),
        occurred_at: now,
        click_id: None,
        coupon_code: Some(coupon),
        customer_email: None,
        items: vec![tandem::domain::order::ItemInput {
            sku,
            quantity: 1,
            unit_price_minor: 10_000,
            discount_minor: 0,
        }],
        also_known_as: Vec::new(),
    };
    let stored = tandem::service::orders::record_conversion(
        conn,
        recorded,
        merchant,
        "api",
        "http://localhost",
        &order,
    )
    .unwrap();
    assert!(
        stored.commission.is_some(),
        "the late order earns a commission"
    );
    let later = tandem::domain::billing::Period::month_of(next_month)
        .end
        .and_hms_opt(12, 0, 0)
        .unwrap()
        + TimeDelta::days(2);
    let issued = billing::issue_due(conn, later, "http://localhost", false).unwrap();
    let mine: Vec<db::billing::Invoice> = db::billing::invoices_of(conn, merchant)
        .unwrap()
        .into_iter()
        .filter(|i| i.currency == currency && i.source == "period")
        .collect();
    assert!(mine.len() >= 2, "{issued:?}");
    for w in mine.windows(2) {
        assert_eq!(
            w[1].period_start, w[0].period_end,
            "{} then {}",
            w[0].number, w[1].number
        );
    }
    let last = mine.last().unwrap();
    assert!(
        last.period_label.starts_with("January")
            || last
                .period_label
                .contains(&next_month.format("%B").to_string()),
        "{}",
        last.period_label
    );
    clean(conn);
}
